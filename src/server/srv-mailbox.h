/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Messages the server has for an entity, and the long polls (POLL on
 * /poll) waiting for them.  A posted message goes to the oldest waiting
 * poll of the entity at once, or is queued for the next one. */

#include <glib-object.h>

#include "cpns-crypto.h"
#include "cpns-message.h"

G_BEGIN_DECLS

typedef struct {
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

#define SRV_TYPE_MAILBOX (srv_mailbox_get_type ())
G_DECLARE_FINAL_TYPE (SrvMailbox, srv_mailbox, SRV, MAILBOX, GObject)

SrvMailbox *srv_mailbox_new         (guint max_per_entity);
/* Fails with CPNS_ERROR_UNAVAILABLE when the entity's queue is full. */
gboolean    srv_mailbox_post        (SrvMailbox *mailbox, const char *entity_id,
                                     guint64 type, gboolean encrypt,
                                     const guint8 *body, gsize len, GError **error);
/* The oldest queued message for @entity_id, or NULL. */
SrvQueued  *srv_mailbox_take        (SrvMailbox *mailbox, const char *entity_id);
guint       srv_mailbox_get_queued  (SrvMailbox *mailbox, const char *entity_id);

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
