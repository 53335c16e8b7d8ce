/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Secure sessions with entities (protocol.md 5, 11): the /handshake
 * endpoint, with the server as responder and the entity's EUKey as PSK,
 * and the table of established sessions, each with the Entity ID and the
 * owning User ID every later request is authorized from. */

#include <glib-object.h>

#include "cpns-session.h"
#include "srv-rate-limiter.h"
#include "srv-reply.h"
#include "srv-store.h"

G_BEGIN_DECLS

/* Pending handshakes (HS_INIT to HS_FINISH) live this long. */
#define SRV_HANDSHAKE_TIMEOUT_S 60
/* An entity with more sessions loses its oldest: a bound per entity, so one
 * entity cannot fill the table. */
#define SRV_SESSIONS_PER_ENTITY 16

typedef struct {
  CpnsSession *session;
  guint8       id[CPNS_SESSION_ID_LEN];
  char        *entity_id;
  char        *user_id;
  GBytes      *kid;        /* the EUKey it was made with */
  gint64       created;    /* monotonic microseconds */
  gint64       expires;
} SrvSession;

#define SRV_TYPE_SESSIONS (srv_sessions_get_type ())
G_DECLARE_FINAL_TYPE (SrvSessions, srv_sessions, SRV, SESSIONS, GObject)

/* Signal "session-ended" (const char *entity_id, const guint8 *session_id):
 * a session ended (replaced key, release, revocation or expiry).
 * Signal "session-established" (const char *entity_id): a new session is
 * in the table. */
SrvSessions *srv_sessions_new       (SrvStore *store, const char *self_id,
                                     guint lifetime_seconds, guint max_sessions,
                                     SrvClockFunc clock, gpointer clock_data);
/* One request to /handshake. */
SrvReply    *srv_sessions_handshake (SrvSessions *sessions, const guint8 *data, gsize len);

/* The live session @id, or NULL; owned by the table. */
SrvSession  *srv_sessions_lookup    (SrvSessions *sessions,
                                     const guint8 id[CPNS_SESSION_ID_LEN]);
/* The newest live session of @entity_id, or NULL; owned by the table.
 * Ends nothing (an expired one is skipped), so it is safe anywhere. */
SrvSession  *srv_sessions_get_newest (SrvSessions *sessions, const char *entity_id);
void         srv_sessions_end       (SrvSessions *sessions,
                                     const guint8 id[CPNS_SESSION_ID_LEN]);
/* Ends every session of @entity_id; returns how many. */
guint        srv_sessions_end_entity (SrvSessions *sessions, const char *entity_id);
/* Drops expired sessions and pending handshakes; called periodically. */
void         srv_sessions_expire    (SrvSessions *sessions);
guint        srv_sessions_get_count (SrvSessions *sessions);
guint        srv_sessions_get_pending (SrvSessions *sessions);

G_END_DECLS
