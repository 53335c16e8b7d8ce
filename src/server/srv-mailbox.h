/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Messages the server has for an entity, and the long polls (POLL on
 * /poll) waiting for them.  A posted message goes to the oldest waiting
 * poll of the entity at once, or is queued for the next one.
 *
 * A message may also be routed (protocol.md 12.1): a router, asked when an
 * entity's queue stops being empty and again on srv_mailbox_reroute(),
 * names a gateway whose polls take the entity's messages too (for a PNE:
 * the PN GW of its current LocalEUKey, while the PNE has a live session).
 * Each gateway keeps a queue of the entities routed to it that have
 * messages, so a poll never looks at entities with nothing queued.  A
 * gateway's poll takes the older of the heads of its own queue and of the
 * entity whose turn it is; routed entities take turns. */

#include <glib-object.h>

#include "cpns-crypto.h"
#include "cpns-message.h"

G_BEGIN_DECLS

typedef struct {
  char       *entity_id;  /* whom it is for (not always the poller) */
  guint64     seq;        /* order of posting, oldest first */
  guint64     type;
  gboolean    encrypt;
  CpnsSecret *body;     /* the encoded body: it may carry keys */
} SrvQueued;

void srv_queued_free (SrvQueued *queued);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SrvQueued, srv_queued_free)

typedef enum {
  SRV_WAKE_MESSAGE,   /* a message came (passed to the callback) */
  SRV_WAKE_TIMEOUT,   /* nothing came in time */
  SRV_WAKE_ENDED,     /* the session the poll arrived in ended */
  SRV_WAKE_SHUTDOWN,  /* the server is stopping */
} SrvWake;

/* @queued (transfer full) is NULL unless @why is SRV_WAKE_MESSAGE. */
typedef void (*SrvMailboxWakeFunc) (SrvWake why, SrvQueued *queued, gpointer user_data);

/* Returns (transfer full) the gateway whose polls may take @entity_id's
 * messages now, or NULL.  It must not call into the mailbox. */
typedef char *(*SrvMailboxRouteFunc) (const char *entity_id, gpointer user_data);

#define SRV_TYPE_MAILBOX (srv_mailbox_get_type ())
G_DECLARE_FINAL_TYPE (SrvMailbox, srv_mailbox, SRV, MAILBOX, GObject)

SrvMailbox *srv_mailbox_new         (guint max_per_entity);
void        srv_mailbox_set_router  (SrvMailbox *mailbox, SrvMailboxRouteFunc func,
                                     gpointer user_data);
/* Fails with CPNS_ERROR_UNAVAILABLE when the entity's queue is full. */
gboolean    srv_mailbox_post        (SrvMailbox *mailbox, const char *entity_id,
                                     guint64 type, gboolean encrypt,
                                     const guint8 *body, gsize len, GError **error);
/* Puts @queued (transfer full) back at the head of its entity's queue,
 * whatever the cap, asks the router anew and hands it on as a post would. */
void        srv_mailbox_requeue     (SrvMailbox *mailbox, SrvQueued *queued);
/* The next message for a poll of @entity_id: its own or one routed to it
 * (see queued->entity_id); NULL when there is none. */
SrvQueued  *srv_mailbox_take        (SrvMailbox *mailbox, const char *entity_id);
/* Asks the router again for @entity_id (if it has messages queued) and
 * hands them to a waiting poll of the new gateway. */
void        srv_mailbox_reroute     (SrvMailbox *mailbox, const char *entity_id);
/* The same for every entity routed to @gateway_id. */
void        srv_mailbox_reroute_via (SrvMailbox *mailbox, const char *gateway_id);
/* Messages queued for @entity_id itself. */
guint       srv_mailbox_get_queued  (SrvMailbox *mailbox, const char *entity_id);
/* Entities with messages routed to @gateway_id. */
guint       srv_mailbox_get_routed  (SrvMailbox *mailbox, const char *gateway_id);

/* Waits up to @timeout_ms for a message; returns an ID for
 * srv_mailbox_cancel().  @func is called exactly once unless cancelled;
 * @destroy frees @user_data either way. */
guint       srv_mailbox_wait        (SrvMailbox *mailbox, const char *entity_id,
                                     const guint8 session_id[CPNS_SESSION_ID_LEN],
                                     guint timeout_ms, SrvMailboxWakeFunc func,
                                     gpointer user_data, GDestroyNotify destroy);
/* Forgets a waiter without calling it (its client went away). */
void        srv_mailbox_cancel      (SrvMailbox *mailbox, guint wait_id);
/* Wakes the waiters that came in session @session_id with SRV_WAKE_ENDED. */
void        srv_mailbox_end_session (SrvMailbox *mailbox, const char *entity_id,
                                     const guint8 session_id[CPNS_SESSION_ID_LEN]);
/* Wakes every waiter with SRV_WAKE_SHUTDOWN. */
void        srv_mailbox_shutdown    (SrvMailbox *mailbox);
guint       srv_mailbox_get_waiting (SrvMailbox *mailbox);

G_END_DECLS
