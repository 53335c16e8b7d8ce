/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The protocol engine of the CPNS Server, with no transport in it: one
 * request body in for an endpoint, one SrvReply out (now, or later for a
 * long poll).  The HTTP adapter (srv-http.c) only moves bytes; tests drive
 * this directly as well. */

#include <glib-object.h>

#include "cpns-crypto.h"
#include "cpns-message.h"
#include "srv-config.h"
#include "srv-enrolment.h"
#include "srv-mailbox.h"
#include "srv-reply.h"
#include "srv-sessions.h"
#include "srv-store.h"

G_BEGIN_DECLS

typedef enum {
  SRV_ENDPOINT_KEY,        /* KEY_REQUEST, KEY_PROOF */
  SRV_ENDPOINT_HANDSHAKE,  /* HS_INIT, HS_FINISH */
  SRV_ENDPOINT_RECORD,     /* records in a session */
  SRV_ENDPOINT_POLL,       /* a POLL record: the next queued message */
} SrvEndpoint;

/* The endpoint named by the last part of a request path ("key", ...). */
gboolean srv_endpoint_from_name (const char *name, SrvEndpoint *endpoint);

/* Takes @reply. */
typedef void (*SrvReplyFunc) (SrvReply *reply, gpointer user_data);

#define SRV_TYPE_CORE (srv_core_get_type ())
G_DECLARE_FINAL_TYPE (SrvCore, srv_core, SRV, CORE, GObject)

SrvCore  *srv_core_new    (SrvStore *store, const SrvConfig *config,
                           const CpnsSecret *server_secret);
/* Handles one request from @peer (the client's address, for rate limits).
 * Returns the reply, or NULL when the request waits (a POLL with nothing
 * queued): then @later is called once with the reply, unless
 * srv_core_cancel() is called with *@wait_id first. */
SrvReply *srv_core_handle (SrvCore *core, SrvEndpoint endpoint, const char *peer,
                           const guint8 *data, gsize len, SrvReplyFunc later,
                           gpointer later_data, guint *wait_id);
/* The client of a waiting request went away. */
void      srv_core_cancel (SrvCore *core, guint wait_id);

/* Queues a message for @entity_id: it answers the entity's next (or
 * current) POLL, sealed in the session that POLL came in; or, for a PNE
 * with a live session, the next POLL of the PN GW of its current
 * LocalEUKey, sealed in the PNE's newest session (protocol.md 12.1). */
gboolean  srv_core_post   (SrvCore *core, const char *entity_id, guint64 type,
                           const CpnsBody *body, gboolean encrypt, GError **error);

/* Drops expired sessions, exchanges and failures (also done every few
 * seconds from the main loop). */
void      srv_core_expire   (SrvCore *core);
/* Answers every waiting request with 503; call before stopping. */
void      srv_core_shutdown (SrvCore *core);

const char  *srv_core_get_entity_id (SrvCore *core);
SrvSessions *srv_core_get_sessions  (SrvCore *core);
SrvMailbox  *srv_core_get_mailbox   (SrvCore *core);

G_END_DECLS
