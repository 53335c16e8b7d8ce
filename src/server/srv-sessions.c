/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-sessions.h"

#include <string.h>

#include "cpns-error.h"
#include "cpns-handshake.h"

#define MAX_PENDING 10000

/* A handshake between HS_INIT and HS_FINISH, under (source, transaction).
 * The PSK lookup notes who owns the key, for the session to come. */
typedef struct {
  SrvStore      *store;
  CpnsHandshake *hs;
  char          *user_id;
  GBytes        *kid;
  gint64         expires;
} Pending;

static void
pending_free (Pending *p)
{
  cpns_handshake_free (p->hs);
  g_free (p->user_id);
  g_clear_pointer (&p->kid, g_bytes_unref);
  g_free (p);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Pending, pending_free)

static void
session_free (SrvSession *s)
{
  cpns_session_free (s->session);
  g_free (s->entity_id);
  g_free (s->user_id);
  g_clear_pointer (&s->kid, g_bytes_unref);
  g_free (s);
}

struct _SrvSessions {
  GObject      parent_instance;
  SrvStore    *store;
  char        *self_id;
  gint64       lifetime;       /* microseconds */
  guint        max_sessions;
  SrvClockFunc clock;
  gpointer     clock_data;
  GHashTable  *pending;        /* "src\ntxid" -> Pending */
  GHashTable  *sessions;       /* session ID (in the SrvSession) -> SrvSession */
  GHashTable  *by_entity;      /* entity ID -> GPtrArray of SrvSession, oldest first */
};

enum {
  SIGNAL_SESSION_ENDED,
  SIGNAL_SESSION_ESTABLISHED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (SrvSessions, srv_sessions, G_TYPE_OBJECT)

static guint    id_hash  (gconstpointer id);
static gboolean id_equal (gconstpointer a, gconstpointer b);

static void
srv_sessions_finalize (GObject *object)
{
  SrvSessions *t = SRV_SESSIONS (object);

  g_hash_table_unref (t->pending);
  g_hash_table_unref (t->by_entity);
  g_hash_table_unref (t->sessions);
  g_clear_object (&t->store);
  g_free (t->self_id);
  G_OBJECT_CLASS (srv_sessions_parent_class)->finalize (object);
}

static void
srv_sessions_class_init (SrvSessionsClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = srv_sessions_finalize;
  signals[SIGNAL_SESSION_ENDED] =
    g_signal_new ("session-ended", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_POINTER);
  signals[SIGNAL_SESSION_ESTABLISHED] =
    g_signal_new ("session-established", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
srv_sessions_init (SrvSessions *t)
{
  t->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) pending_free);
  t->sessions = g_hash_table_new_full (id_hash, id_equal, NULL,
                                       (GDestroyNotify) session_free);
  t->by_entity = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) g_ptr_array_unref);
}

static gint64
monotonic_clock (gpointer user_data)
{
  return g_get_monotonic_time ();
}

SrvSessions *
srv_sessions_new (SrvStore *store, const char *self_id, guint lifetime_seconds,
                  guint max_sessions, SrvClockFunc clock, gpointer clock_data)
{
  SrvSessions *t = g_object_new (SRV_TYPE_SESSIONS, NULL);

  t->store = g_object_ref (store);
  t->self_id = g_strdup (self_id);
  t->lifetime = (gint64) lifetime_seconds * G_USEC_PER_SEC;
  t->max_sessions = MAX (max_sessions, 1);
  t->clock = clock != NULL ? clock : monotonic_clock;
  t->clock_data = clock_data;
  return t;
}

guint
srv_sessions_get_count (SrvSessions *t)
{
  return g_hash_table_size (t->sessions);
}

guint
srv_sessions_get_pending (SrvSessions *t)
{
  return g_hash_table_size (t->pending);
}

/* Session IDs are the first bytes of a hash: any of them will do. */
static guint
id_hash (gconstpointer id)
{
  guint h;

  memcpy (&h, id, sizeof h);
  return h;
}

static gboolean
id_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, CPNS_SESSION_ID_LEN) == 0;
}

SrvSession *
srv_sessions_lookup (SrvSessions *t, const guint8 id[CPNS_SESSION_ID_LEN])
{
  SrvSession *s = g_hash_table_lookup (t->sessions, id);

  if (s != NULL && s->expires <= t->clock (t->clock_data))
    {
      srv_sessions_end (t, id);
      return NULL;
    }
  return s;
}

SrvSession *
srv_sessions_get_newest (SrvSessions *t, const char *entity_id)
{
  GPtrArray *list = g_hash_table_lookup (t->by_entity, entity_id);
  gint64 now = t->clock (t->clock_data);

  for (guint i = list != NULL ? list->len : 0; i > 0; i--)
    {
      SrvSession *s = g_ptr_array_index (list, i - 1);
      if (s->expires > now)
        return s;
    }
  return NULL;
}

/* Unlinks @s from the entity index and frees it. */
static void
remove_session (SrvSessions *t, SrvSession *s)
{
  g_autofree char *entity_id = g_strdup (s->entity_id);
  GPtrArray *list = g_hash_table_lookup (t->by_entity, s->entity_id);
  guint8 id[CPNS_SESSION_ID_LEN];

  memcpy (id, s->id, sizeof id);
  if (list != NULL)
    {
      g_ptr_array_remove (list, s);
      if (list->len == 0)
        g_hash_table_remove (t->by_entity, s->entity_id);
    }
  g_hash_table_remove (t->sessions, id);
  g_signal_emit (t, signals[SIGNAL_SESSION_ENDED], 0, entity_id, id);
}

void
srv_sessions_end (SrvSessions *t, const guint8 id[CPNS_SESSION_ID_LEN])
{
  SrvSession *s = g_hash_table_lookup (t->sessions, id);

  if (s != NULL)
    remove_session (t, s);
}

guint
srv_sessions_end_entity (SrvSessions *t, const char *entity_id_in)
{
  /* The caller's string may belong to one of the sessions ended here. */
  g_autofree char *entity_id = g_strdup (entity_id_in);
  GPtrArray *list;
  guint n = 0;

  /* The entity's list goes away with its last session. */
  while ((list = g_hash_table_lookup (t->by_entity, entity_id)) != NULL)
    {
      remove_session (t, g_ptr_array_index (list, 0));
      n++;
    }
  if (n > 0)
    g_debug ("ended %u session(s) of '%s'", n, entity_id);
  return n;
}

void
srv_sessions_expire (SrvSessions *t)
{
  GHashTableIter iter;
  gpointer value;
  gint64 now = t->clock (t->clock_data);
  g_autoptr(GPtrArray) expired = g_ptr_array_new ();

  g_hash_table_iter_init (&iter, t->pending);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((Pending *) value)->expires <= now)
      g_hash_table_iter_remove (&iter);
  g_hash_table_iter_init (&iter, t->sessions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((SrvSession *) value)->expires <= now)
      g_ptr_array_add (expired, value);
  for (guint i = 0; i < expired->len; i++)
    remove_session (t, g_ptr_array_index (expired, i));
}

/* CpnsPskLookupFunc: the entity's current EUKey.  Unknown, revoked and
 * released entities all get the same answer. */
static gboolean
psk_lookup (const char *peer_id, const guint8 *kid, gsize kid_len, CpnsPsk *psk,
            gpointer user_data, GError **error)
{
  Pending *p = user_data;
  g_autoptr(SrvEntity) e = NULL;
  g_autoptr(GError) local = NULL;
  const guint8 *stored_kid;
  gsize stored_kid_len;

  e = srv_store_get_entity (p->store, peer_id, &local);
  if (e == NULL && !g_error_matches (local, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND))
    {
      g_warning ("handshake from '%s': %s", peer_id, local->message);
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_FAILED, "key lookup failed");
      return FALSE;
    }
  stored_kid = e != NULL && e->eukey_kid != NULL ?
               g_bytes_get_data (e->eukey_kid, &stored_kid_len) : NULL;
  if (e == NULL || e->eukey == NULL || e->owner == NULL || stored_kid == NULL ||
      stored_kid_len != kid_len || memcmp (stored_kid, kid, kid_len) != 0 ||
      e->eukey->len < CPNS_PSK_MIN || e->eukey->len > CPNS_PSK_MAX ||
      kid_len > CPNS_KID_MAX)
    {
      g_debug ("handshake from '%s': %s", peer_id,
               e == NULL ? "unknown entity" :
               e->eukey == NULL ? "no EUKey (never enrolled, released or revoked)" :
               "another key ID");
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND,
                   "no EUKey with this key ID for '%s'; enrol it (again)", peer_id);
      return FALSE;
    }
  memcpy (psk->key, e->eukey->data, e->eukey->len);
  psk->key_len = e->eukey->len;
  memcpy (psk->kid, kid, kid_len);
  psk->kid_len = kid_len;
  psk->role = CPNS_ROLE_RESPONDER;
  g_free (p->user_id);
  p->user_id = g_strdup (e->owner);
  g_clear_pointer (&p->kid, g_bytes_unref);
  p->kid = g_bytes_ref (e->eukey_kid);
  return TRUE;
}

static char *
pending_key (const CpnsHeader *hdr)
{
  return g_strdup_printf ("%s\n%" G_GUINT64_FORMAT, hdr->src, hdr->txid);
}

static SrvReply *
error_reply (SrvSessions *t, const CpnsHeader *hdr, guint code, const char *reason)
{
  return srv_reply_error (0, t->self_id, hdr->src, hdr->txid, code, reason);
}

static SrvReply *
hs_init (SrvSessions *t, const CpnsHeader *hdr, const guint8 *data, gsize len)
{
  g_autoptr(Pending) p = g_new0 (Pending, 1);
  g_autoptr(GError) error = NULL;
  CpnsHandshakeConfig config = {
    .role = CPNS_ROLE_RESPONDER,
    .purpose = CPNS_PURPOSE_SERVER,
    .self_id = t->self_id,
    .lookup = psk_lookup,
    .lookup_data = p,
    .replay_mode = CPNS_REPLAY_WINDOW,
  };
  guint8 out[CPNS_HANDSHAKE_MAX];
  gsize out_len;

  if (g_hash_table_size (t->pending) >= MAX_PENDING)
    srv_sessions_expire (t);
  if (g_hash_table_size (t->pending) >= MAX_PENDING)
    {
      g_warning ("%d handshakes pending: refusing more", MAX_PENDING);
      return error_reply (t, hdr, CPNS_ERROR_UNAVAILABLE,
                          "too many handshakes in progress; try again later");
    }
  p->store = t->store;
  p->hs = cpns_handshake_new (&config, &error);
  if (p->hs == NULL ||
      !cpns_handshake_receive (p->hs, data, len, out, sizeof out, &out_len, &error))
    {
      if (p->hs == NULL)
        g_warning ("cannot start a handshake: %s", error->message);
      else
        g_debug ("HS_INIT from '%s' refused: %s", hdr->src, error->message);
      return srv_reply_from_error (t->self_id, hdr->src, hdr->txid, error);
    }
  p->expires = t->clock (t->clock_data) + SRV_HANDSHAKE_TIMEOUT_S * G_USEC_PER_SEC;
  /* A repeated HS_INIT in one transaction starts over. */
  g_hash_table_replace (t->pending, pending_key (hdr), g_steal_pointer (&p));
  return srv_reply_new (200, g_bytes_new (out, out_len));
}

static void
add_session (SrvSessions *t, SrvSession *s)
{
  GPtrArray *list = g_hash_table_lookup (t->by_entity, s->entity_id);
  SrvSession *old;

  if (list != NULL && list->len >= SRV_SESSIONS_PER_ENTITY)
    {
      g_debug ("'%s' has %u sessions: ending its oldest", s->entity_id, list->len);
      remove_session (t, g_ptr_array_index (list, 0));
      list = g_hash_table_lookup (t->by_entity, s->entity_id);
    }
  /* Session IDs are 64 bits of a transcript hash: a collision is an
   * attack or a bug, and the older session must not be reachable. */
  old = g_hash_table_lookup (t->sessions, s->id);
  if (old != NULL)
    remove_session (t, old);
  if (list == NULL)
    {
      list = g_ptr_array_new ();
      g_hash_table_insert (t->by_entity, g_strdup (s->entity_id), list);
    }
  g_ptr_array_add (list, s);
  g_hash_table_insert (t->sessions, &s->id, s);
}

static SrvReply *
hs_finish (SrvSessions *t, const CpnsHeader *hdr, const guint8 *data, gsize len)
{
  g_autofree char *key = pending_key (hdr);
  g_autofree char *stored_key = NULL;
  g_autoptr(Pending) p = NULL;
  g_autoptr(GError) error = NULL;
  SrvSession *s;
  gsize out_len;
  gint64 now = t->clock (t->clock_data);

  if (!g_hash_table_steal_extended (t->pending, key, (gpointer *) &stored_key,
                                    (gpointer *) &p) || p->expires <= now)
    return error_reply (t, hdr, CPNS_ERROR_STATE,
                        "no handshake of this source and transaction is pending "
                        "(it may have expired)");
  if (!cpns_handshake_receive (p->hs, data, len, NULL, 0, &out_len, &error))
    {
      g_message ("handshake with '%s' failed: %s", hdr->src, error->message);
      return srv_reply_from_error (t->self_id, hdr->src, hdr->txid, error);
    }
  if (g_hash_table_size (t->sessions) >= t->max_sessions)
    srv_sessions_expire (t);
  if (g_hash_table_size (t->sessions) >= t->max_sessions)
    {
      g_warning ("%u sessions: refusing more", t->max_sessions);
      return error_reply (t, hdr, CPNS_ERROR_UNAVAILABLE,
                          "too many sessions; try again later");
    }

  s = g_new0 (SrvSession, 1);
  s->session = cpns_handshake_take_session (p->hs);
  memcpy (s->id, cpns_session_get_id (s->session), CPNS_SESSION_ID_LEN);
  s->entity_id = g_strdup (hdr->src);
  s->user_id = g_steal_pointer (&p->user_id);
  s->kid = g_steal_pointer (&p->kid);
  s->created = now;
  s->expires = now + t->lifetime;
  /* The session refuses to seal past its lifetime as well; that check uses
   * the real monotonic clock. */
  cpns_session_set_limits (s->session, CPNS_RECORD_LIMIT_DEFAULT,
                           g_get_monotonic_time () + t->lifetime);
  add_session (t, s);
  g_message ("session with '%s' (user '%s') established", s->entity_id, s->user_id);
  g_signal_emit (t, signals[SIGNAL_SESSION_ESTABLISHED], 0, hdr->src);
  return srv_reply_new (204, NULL);
}

SrvReply *
srv_sessions_handshake (SrvSessions *t, const guint8 *data, gsize len)
{
  CpnsPlainMessage msg;
  g_autoptr(GError) error = NULL;

  if (len > CPNS_HANDSHAKE_MAX)
    return srv_reply_error (0, t->self_id, NULL, 0, CPNS_ERROR_TOO_LARGE,
                            "a handshake message is at most 512 bytes");
  if (!cpns_plain_decode (data, len, &msg, &error))
    return srv_reply_from_error (t->self_id, NULL, 0, error);
  switch (msg.hdr.type)
    {
    case CPNS_MSG_HS_INIT:
      return hs_init (t, &msg.hdr, data, len);
    case CPNS_MSG_HS_FINISH:
      return hs_finish (t, &msg.hdr, data, len);
    default:
      return error_reply (t, &msg.hdr, CPNS_ERROR_STATE,
                          "this endpoint takes HS_INIT and HS_FINISH only");
    }
}
