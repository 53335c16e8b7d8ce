/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-mailbox.h"

#include <string.h>

#include "cpns-error.h"

typedef struct {
  guint              id;
  char              *entity_id;
  guint8             session_id[CPNS_SESSION_ID_LEN];
  guint              timer;
  SrvMailboxWakeFunc func;
  gpointer           user_data;
  GDestroyNotify     destroy;
} Waiter;

/* Invariant: a box with messages has no poll that could take them waiting,
 * neither its own nor its gateway's (every change that could hand one over
 * ends in dispatch()). */
typedef struct {
  char    *entity_id;
  GQueue   messages;   /* SrvQueued, oldest first */
  GQueue   waiters;    /* Waiter, oldest first */
  /* Known only while messages are queued: asked again each time. */
  gboolean routed;
  char    *via;        /* the gateway whose polls take them too, or NULL */
  GList    turn;       /* link in the turns of @via (data: this box) */
  gboolean has_turn;
} Box;

struct _SrvMailbox {
  GObject             parent_instance;
  guint               max_per_entity;
  guint               next_id;
  guint64             next_seq;
  SrvMailboxRouteFunc router;
  gpointer            router_data;
  GHashTable         *boxes;     /* entity ID -> Box */
  GHashTable         *waiters;   /* GUINT_TO_POINTER (id) -> Waiter (owned by its Box) */
  GHashTable         *turns;     /* gateway ID -> GQueue of Box (links in the boxes) */
};

G_DEFINE_TYPE (SrvMailbox, srv_mailbox, G_TYPE_OBJECT)

void
srv_queued_free (SrvQueued *q)
{
  if (q == NULL)
    return;
  cpns_secret_free (q->body);
  g_free (q->entity_id);
  g_free (q);
}

static void
waiter_free (Waiter *w)
{
  if (w->timer != 0)
    g_source_remove (w->timer);
  if (w->destroy != NULL)
    w->destroy (w->user_data);
  g_free (w->entity_id);
  g_free (w);
}

static void
box_free (Box *box)
{
  g_queue_clear_full (&box->messages, (GDestroyNotify) srv_queued_free);
  g_queue_clear_full (&box->waiters, (GDestroyNotify) waiter_free);
  g_free (box->via);
  g_free (box->entity_id);
  g_free (box);
}

static void
srv_mailbox_dispose (GObject *object)
{
  SrvMailbox *mb = SRV_MAILBOX (object);

  /* Waiters that were never woken are dropped without a call: whoever
   * owns the mailbox shuts it down first if it wants them answered.  The
   * turns only link boxes: they go first. */
  g_hash_table_remove_all (mb->turns);
  g_hash_table_remove_all (mb->waiters);
  g_hash_table_remove_all (mb->boxes);
  G_OBJECT_CLASS (srv_mailbox_parent_class)->dispose (object);
}

static void
srv_mailbox_finalize (GObject *object)
{
  SrvMailbox *mb = SRV_MAILBOX (object);

  g_hash_table_unref (mb->turns);
  g_hash_table_unref (mb->waiters);
  g_hash_table_unref (mb->boxes);
  G_OBJECT_CLASS (srv_mailbox_parent_class)->finalize (object);
}

static void
srv_mailbox_class_init (SrvMailboxClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = srv_mailbox_dispose;
  G_OBJECT_CLASS (klass)->finalize = srv_mailbox_finalize;
}

static void
srv_mailbox_init (SrvMailbox *mb)
{
  mb->boxes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify) box_free);
  mb->waiters = g_hash_table_new (g_direct_hash, g_direct_equal);
  /* GQueues made by g_new0 and freed by g_free, not g_queue_free: the
   * links belong to the boxes. */
  mb->turns = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

SrvMailbox *
srv_mailbox_new (guint max_per_entity)
{
  SrvMailbox *mb = g_object_new (SRV_TYPE_MAILBOX, NULL);

  mb->max_per_entity = MAX (max_per_entity, 1);
  return mb;
}

void
srv_mailbox_set_router (SrvMailbox *mb, SrvMailboxRouteFunc func, gpointer user_data)
{
  mb->router = func;
  mb->router_data = user_data;
}

static Box *
get_box (SrvMailbox *mb, const char *entity_id, gboolean create)
{
  Box *box = g_hash_table_lookup (mb->boxes, entity_id);

  if (box == NULL && create)
    {
      box = g_new0 (Box, 1);
      box->entity_id = g_strdup (entity_id);
      box->turn.data = box;
      g_hash_table_insert (mb->boxes, g_strdup (entity_id), box);
    }
  return box;
}

static void
drop_box_if_empty (SrvMailbox *mb, const char *entity_id)
{
  Box *box = get_box (mb, entity_id, FALSE);

  if (box != NULL && box->messages.length == 0 && box->waiters.length == 0)
    {
      g_assert (!box->has_turn);
      g_hash_table_remove (mb->boxes, entity_id);
    }
}

/* ---- routes and turns ---- */

static void
drop_turn (SrvMailbox *mb, Box *box)
{
  GQueue *turns;

  if (!box->has_turn)
    return;
  turns = g_hash_table_lookup (mb->turns, box->via);
  g_queue_unlink (turns, &box->turn);
  box->has_turn = FALSE;
  if (turns->length == 0)
    g_hash_table_remove (mb->turns, box->via);
}

/* At the end of the turns of its gateway, if it has one and messages. */
static void
take_turn (SrvMailbox *mb, Box *box)
{
  GQueue *turns;

  if (box->has_turn || box->via == NULL || box->messages.length == 0)
    return;
  turns = g_hash_table_lookup (mb->turns, box->via);
  if (turns == NULL)
    {
      turns = g_new0 (GQueue, 1);
      g_hash_table_insert (mb->turns, g_strdup (box->via), turns);
    }
  g_queue_push_tail_link (turns, &box->turn);
  box->has_turn = TRUE;
}

static void
forget_route (SrvMailbox *mb, Box *box)
{
  drop_turn (mb, box);
  g_clear_pointer (&box->via, g_free);
  box->routed = FALSE;
}

/* Asks the router once the box has messages; the answer holds until the
 * queue is empty again or the route is asked for anew. */
static void
route (SrvMailbox *mb, Box *box)
{
  if (box->routed || box->messages.length == 0)
    return;
  box->via = mb->router != NULL ? mb->router (box->entity_id, mb->router_data) : NULL;
  if (g_strcmp0 (box->via, box->entity_id) == 0)
    g_clear_pointer (&box->via, g_free);
  box->routed = TRUE;
  take_turn (mb, box);
}

/* The head message of @box is gone: its turn moves to the end, or ends
 * with its queue. */
static void
after_take (SrvMailbox *mb, Box *box)
{
  drop_turn (mb, box);
  if (box->messages.length > 0)
    take_turn (mb, box);
  else
    forget_route (mb, box);
}

/* Unlinks @w and calls it; the callback may post or wait again. */
static void
wake (SrvMailbox *mb, Waiter *w, SrvWake why, SrvQueued *queued)
{
  Box *box = get_box (mb, w->entity_id, FALSE);
  g_autofree char *entity_id = g_strdup (w->entity_id);

  g_hash_table_remove (mb->waiters, GUINT_TO_POINTER (w->id));
  if (box != NULL)
    g_queue_remove (&box->waiters, w);
  w->func (why, queued, w->user_data);
  waiter_free (w);
  drop_box_if_empty (mb, entity_id);
}

/* Hands the messages of @entity_id_in to waiting polls, its own first,
 * then its gateway's, until either runs out. */
static void
dispatch (SrvMailbox *mb, const char *entity_id_in)
{
  /* The box (and the caller's string) may go away in a callback. */
  g_autofree char *entity_id = g_strdup (entity_id_in);

  for (;;)
    {
      Box *box = get_box (mb, entity_id, FALSE);
      Box *gateway;
      Waiter *w = NULL;
      SrvQueued *q;

      if (box == NULL || box->messages.length == 0)
        break;
      if (box->waiters.length > 0)
        w = g_queue_peek_head (&box->waiters);
      else if (box->via != NULL && (gateway = get_box (mb, box->via, FALSE)) != NULL &&
               gateway->waiters.length > 0)
        w = g_queue_peek_head (&gateway->waiters);
      if (w == NULL)
        break;
      q = g_queue_pop_head (&box->messages);
      after_take (mb, box);
      drop_box_if_empty (mb, entity_id);
      wake (mb, w, SRV_WAKE_MESSAGE, q);
    }
}

/* ---- the API ---- */

gboolean
srv_mailbox_post (SrvMailbox *mb, const char *entity_id, guint64 type, gboolean encrypt,
                  const guint8 *body, gsize len, GError **error)
{
  Box *box = get_box (mb, entity_id, TRUE);
  SrvQueued *q;

  /* By the invariant, a full queue has no poll waiting for it. */
  if (box->messages.length >= mb->max_per_entity)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNAVAILABLE,
                   "the queue for '%s' is full (%u messages)", entity_id,
                   mb->max_per_entity);
      drop_box_if_empty (mb, entity_id);
      return FALSE;
    }
  q = g_new0 (SrvQueued, 1);
  q->entity_id = g_strdup (entity_id);
  q->seq = ++mb->next_seq;
  q->type = type;
  q->encrypt = encrypt;
  q->body = cpns_secret_new (body, len);
  g_queue_push_tail (&box->messages, q);
  route (mb, box);
  dispatch (mb, entity_id);
  return TRUE;
}

void
srv_mailbox_requeue (SrvMailbox *mb, SrvQueued *queued)
{
  Box *box = get_box (mb, queued->entity_id, TRUE);
  g_autofree char *entity_id = g_strdup (queued->entity_id);

  g_queue_push_head (&box->messages, queued);
  forget_route (mb, box);
  route (mb, box);
  dispatch (mb, entity_id);
}

SrvQueued *
srv_mailbox_take (SrvMailbox *mb, const char *entity_id_in)
{
  g_autofree char *entity_id = g_strdup (entity_id_in);
  Box *own = get_box (mb, entity_id, FALSE);
  GQueue *turns = g_hash_table_lookup (mb->turns, entity_id);
  Box *other = turns != NULL ? g_queue_peek_head (turns) : NULL;
  SrvQueued *own_head = own != NULL ? g_queue_peek_head (&own->messages) : NULL;
  SrvQueued *other_head = other != NULL ? g_queue_peek_head (&other->messages) : NULL;
  g_autofree char *from_id = NULL;
  Box *from;
  SrvQueued *q;

  if (own_head == NULL && other_head == NULL)
    return NULL;
  from = own_head != NULL && (other_head == NULL || own_head->seq < other_head->seq) ?
         own : other;
  q = g_queue_pop_head (&from->messages);
  from_id = g_strdup (from->entity_id);
  after_take (mb, from);
  drop_box_if_empty (mb, from_id);
  return q;
}

void
srv_mailbox_reroute (SrvMailbox *mb, const char *entity_id_in)
{
  g_autofree char *entity_id = g_strdup (entity_id_in);
  Box *box = get_box (mb, entity_id, FALSE);

  if (box == NULL || box->messages.length == 0)
    return;
  forget_route (mb, box);
  route (mb, box);
  dispatch (mb, entity_id);
}

void
srv_mailbox_reroute_via (SrvMailbox *mb, const char *gateway_id)
{
  GQueue *turns = g_hash_table_lookup (mb->turns, gateway_id);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);

  if (turns == NULL)
    return;
  for (GList *l = turns->head; l != NULL; l = l->next)
    g_ptr_array_add (ids, g_strdup (((Box *) l->data)->entity_id));
  for (guint i = 0; i < ids->len; i++)
    srv_mailbox_reroute (mb, g_ptr_array_index (ids, i));
}

guint
srv_mailbox_get_queued (SrvMailbox *mb, const char *entity_id)
{
  Box *box = get_box (mb, entity_id, FALSE);

  return box != NULL ? box->messages.length : 0;
}

guint
srv_mailbox_get_routed (SrvMailbox *mb, const char *gateway_id)
{
  GQueue *turns = g_hash_table_lookup (mb->turns, gateway_id);

  return turns != NULL ? turns->length : 0;
}

guint
srv_mailbox_get_waiting (SrvMailbox *mb)
{
  return g_hash_table_size (mb->waiters);
}

typedef struct {
  SrvMailbox *mb;
  guint       id;
} TimerData;

static gboolean
on_timeout (gpointer data)
{
  TimerData *td = data;
  Waiter *w = g_hash_table_lookup (td->mb->waiters, GUINT_TO_POINTER (td->id));

  if (w != NULL)
    {
      w->timer = 0;   /* this source is ending */
      wake (td->mb, w, SRV_WAKE_TIMEOUT, NULL);
    }
  return G_SOURCE_REMOVE;
}

guint
srv_mailbox_wait (SrvMailbox *mb, const char *entity_id,
                  const guint8 session_id[CPNS_SESSION_ID_LEN], guint timeout_ms,
                  SrvMailboxWakeFunc func, gpointer user_data, GDestroyNotify destroy)
{
  Box *box = get_box (mb, entity_id, TRUE);
  Waiter *w = g_new0 (Waiter, 1);
  TimerData *td = g_new0 (TimerData, 1);

  /* 0 is never an ID, even after wrapping. */
  if (++mb->next_id == 0)
    ++mb->next_id;
  w->id = mb->next_id;
  w->entity_id = g_strdup (entity_id);
  memcpy (w->session_id, session_id, CPNS_SESSION_ID_LEN);
  w->func = func;
  w->user_data = user_data;
  w->destroy = destroy;
  td->mb = mb;
  td->id = w->id;
  w->timer = g_timeout_add_full (G_PRIORITY_DEFAULT, timeout_ms, on_timeout, td, g_free);
  g_queue_push_tail (&box->waiters, w);
  g_hash_table_insert (mb->waiters, GUINT_TO_POINTER (w->id), w);
  return w->id;
}

void
srv_mailbox_cancel (SrvMailbox *mb, guint wait_id)
{
  Waiter *w = g_hash_table_lookup (mb->waiters, GUINT_TO_POINTER (wait_id));
  g_autofree char *entity_id = NULL;
  Box *box;

  if (w == NULL)
    return;
  entity_id = g_strdup (w->entity_id);
  box = get_box (mb, entity_id, FALSE);
  g_hash_table_remove (mb->waiters, GUINT_TO_POINTER (wait_id));
  if (box != NULL)
    g_queue_remove (&box->waiters, w);
  waiter_free (w);
  drop_box_if_empty (mb, entity_id);
}

void
srv_mailbox_end_session (SrvMailbox *mb, const char *entity_id,
                         const guint8 session_id[CPNS_SESSION_ID_LEN])
{
  Box *box = get_box (mb, entity_id, FALSE);
  g_autoptr(GPtrArray) ended = g_ptr_array_new ();

  if (box == NULL)
    return;
  for (GList *l = box->waiters.head; l != NULL; l = l->next)
    {
      Waiter *w = l->data;
      if (memcmp (w->session_id, session_id, CPNS_SESSION_ID_LEN) == 0)
        g_ptr_array_add (ended, GUINT_TO_POINTER (w->id));
    }
  /* By ID: each callback may change the queues. */
  for (guint i = 0; i < ended->len; i++)
    {
      Waiter *w = g_hash_table_lookup (mb->waiters, g_ptr_array_index (ended, i));
      if (w != NULL)
        wake (mb, w, SRV_WAKE_ENDED, NULL);
    }
}

void
srv_mailbox_shutdown (SrvMailbox *mb)
{
  g_autoptr(GList) ids = g_hash_table_get_keys (mb->waiters);

  for (GList *l = ids; l != NULL; l = l->next)
    {
      Waiter *w = g_hash_table_lookup (mb->waiters, l->data);
      if (w != NULL)
        wake (mb, w, SRV_WAKE_SHUTDOWN, NULL);
    }
}
