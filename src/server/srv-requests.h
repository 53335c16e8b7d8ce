/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Requests inside a session (the /record endpoint), each authorized from
 * the session's Entity ID and owning User ID (protocol.md 11.1):
 * TK_REQUEST, LOCAL_KEY_REQUEST, PNE_RELEASE, DATA (content type 0 is
 * echoed, 1 is echoed through the entity's poll queue, which for a PNE is
 * also its gateway's), ACK and ERROR. */

#include <glib.h>

#include "cpns-crypto.h"
#include "cpns-message.h"
#include "srv-mailbox.h"
#include "srv-sessions.h"
#include "srv-store.h"

G_BEGIN_DECLS

/* DATA content types the server itself serves, for tests and benchmarks. */
#define SRV_DATA_ECHO        0   /* answered with the same DATA */
#define SRV_DATA_ECHO_QUEUED 1   /* answered with ACK; the DATA comes back on /poll */

typedef struct {
  SrvStore    *store;
  SrvSessions *sessions;
  SrvMailbox  *mailbox;
  const char  *self_id;
} SrvRequestContext;

typedef struct {
  guint64     type;     /* message type of the answer; 0: none (HTTP 204) */
  gboolean    encrypt;
  CpnsSecret *body;     /* encoded body; it may carry keys */
  char       *end_sessions_of;  /* entity whose sessions end once answered */
} SrvAnswer;

void     srv_answer_clear (SrvAnswer *answer);

/* Answers @hdr/@body, which arrived from @entity_id (owned by @user_id).
 * Fails with a CPNS_ERROR whose code goes on the wire. */
gboolean srv_requests_answer (const SrvRequestContext *ctx, const char *entity_id,
                              const char *user_id, const CpnsHeader *hdr,
                              const CpnsBody *body, SrvAnswer *answer, GError **error);

G_END_DECLS
