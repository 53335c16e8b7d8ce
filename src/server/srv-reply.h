/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the protocol engine answers to one request, independent of HTTP
 * plumbing: a status, an optional body, an optional Retry-After; and the
 * mapping from error codes to HTTP statuses of docs/protocol.md 11. */

#include <glib.h>

#include "cpns-message.h"

G_BEGIN_DECLS

#define SRV_MEDIA_TYPE "application/cpns+cbor"

typedef struct {
  guint   status;       /* HTTP status */
  GBytes *body;         /* NULL: no body */
  guint   retry_after;  /* seconds for a Retry-After header; 0: none */
} SrvReply;

/* Takes @body (may be NULL). */
SrvReply *srv_reply_new  (guint status, GBytes *body);
void      srv_reply_free (SrvReply *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SrvReply, srv_reply_free)

/* 200 with a plain message from @self_id to @dst; NULL if it cannot be
 * encoded. */
SrvReply *srv_reply_plain (const char *self_id, const char *dst, guint64 type,
                           guint64 txid, const CpnsBody *body, GError **error);

/* The HTTP status for a CPNS error code (protocol.md 11). */
guint     srv_reply_status_for_code (guint code);

/* A failed request: a plain ERROR from @self_id to @dst (NULL: the request
 * could not be read; "unknown") in transaction @txid, with the status of
 * @code, or @status when it is not 0. */
SrvReply *srv_reply_error (guint status, const char *self_id, const char *dst,
                           guint64 txid, guint code, const char *reason);
/* As above from a GError: CPNS_ERROR codes travel as they are; any other
 * error is an internal failure whose details stay in the log. */
SrvReply *srv_reply_from_error (const char *self_id, const char *dst, guint64 txid,
                                const GError *error);

G_END_DECLS
