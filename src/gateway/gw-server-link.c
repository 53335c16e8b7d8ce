/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-server-link.h"

#include <string.h>

#include "cpns-error.h"
#include "cpns-key-client.h"
#include "gw-backoff.h"
#include "gw-error.h"

#define POLL_TIMEOUT_MS (40 * 1000)   /* the server holds a poll about 25 s */

/* A session shared by the link and the requests sent in it: an answer is
 * opened in the session its request went out in, even if the link has
 * moved on to a new one meanwhile. */
typedef struct {
  gint         refs;
  CpnsSession *session;
} SessionRef;

static SessionRef *
session_ref_new (CpnsSession *session)
{
  SessionRef *r = g_new0 (SessionRef, 1);

  r->refs = 1;
  r->session = session;
  return r;
}

static SessionRef *
session_ref (SessionRef *r)
{
  r->refs++;
  return r;
}

static void
session_unref (SessionRef *r)
{
  if (r == NULL || --r->refs > 0)
    return;
  cpns_session_free (r->session);
  g_free (r);
}

struct _GwServerLink {
  GObject        parent_instance;

  GwUpstream    *upstream;
  char          *self_id;
  char          *server_id;
  guint          session_lifetime;  /* seconds */
  GwBackoff      backoff;

  CpnsPsk        psk;
  gboolean       have_psk;
  GwLinkState    state;
  gboolean       reachable;
  char          *last_error;
  guint          sessions;

  guint          generation;        /* bumped whenever the session is dropped */
  GCancellable  *cancellable;       /* this generation's handshake and poll */
  CpnsHandshake *handshake;
  SessionRef    *session;
  guint64        next_txid;
  guint          retry_source;
  guint          rekey_source;
  gboolean       polling;
  GQueue         waiting;           /* requests waiting for a session or a slot */
  guint          in_flight;         /* records posted, not answered yet */
};

enum {
  PROP_0,
  PROP_STATE,
  PROP_REACHABLE,
  PROP_LAST_ERROR,
  N_PROPS
};
static GParamSpec *props[N_PROPS];

enum {
  SIGNAL_MESSAGE,
  SIGNAL_RELAY,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GwServerLink, gw_server_link, G_TYPE_OBJECT)

static void connect_now (GwServerLink *self);
static void send_request (GwServerLink *self, GTask *task);
static void send_waiting (GwServerLink *self);

/* Requests ride on parallel connections and may arrive in any order; the
 * server's replay window is 64 records (docs/protocol.md 6.4), so fewer
 * than that may be under way at once or the oldest would be refused as
 * too old.  The long poll takes one more. */
#define MAX_IN_FLIGHT 48
static void start_poll (GwServerLink *self);

const char *
gw_link_state_to_string (GwLinkState state)
{
  switch (state)
    {
    case GW_LINK_IDLE: return "idle";
    case GW_LINK_CONNECTING: return "connecting";
    case GW_LINK_CONNECTED: return "connected";
    case GW_LINK_WAITING: return "waiting";
    }
  return "unknown";
}

/* ---- state ---- */

static void
set_state (GwServerLink *self, GwLinkState state)
{
  if (self->state == state)
    return;
  g_debug ("server link: %s -> %s", gw_link_state_to_string (self->state),
           gw_link_state_to_string (state));
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
}

static void
set_reachable (GwServerLink *self, gboolean reachable)
{
  if (self->reachable == reachable)
    return;
  self->reachable = reachable;
  g_message ("CPNS Server %s", reachable ? "reachable" : "unreachable");
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_REACHABLE]);
}

static void
set_last_error (GwServerLink *self, const char *message)
{
  if (g_strcmp0 (self->last_error, message) == 0)
    return;
  g_free (self->last_error);
  self->last_error = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LAST_ERROR]);
}

/* Forgets the session and everything running for it. */
static void
drop_session (GwServerLink *self)
{
  self->generation++;
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  g_clear_pointer (&self->handshake, cpns_handshake_free);
  g_clear_pointer (&self->session, session_unref);
  g_clear_handle_id (&self->retry_source, g_source_remove);
  g_clear_handle_id (&self->rekey_source, g_source_remove);
  self->polling = FALSE;
}

static void
fail_waiting (GwServerLink *self, GError *error)
{
  GTask *task;

  while ((task = g_queue_pop_head (&self->waiting)) != NULL)
    {
      g_task_return_error (task, g_error_copy (error));
      g_object_unref (task);
    }
}

static gboolean
retry_cb (gpointer user_data)
{
  GwServerLink *self = user_data;

  self->retry_source = 0;
  connect_now (self);
  return G_SOURCE_REMOVE;
}

/* Something went wrong with the session or its setup: back off, retry. */
static void
schedule_retry (GwServerLink *self, const GError *error)
{
  guint delay = gw_backoff_next (&self->backoff);

  drop_session (self);
  if (g_error_matches (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_UNREACHABLE) ||
      g_error_matches (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_TLS))
    set_reachable (self, FALSE);
  set_last_error (self, error->message);
  g_message ("session with %s not available (%s); next attempt in %.1f s",
             self->server_id, error->message, delay / 1000.0);
  set_state (self, GW_LINK_WAITING);
  self->retry_source = g_timeout_add (delay, retry_cb, self);
  /* Requests should not hang while the server is away: their callers
   * decide whether to try again. */
  {
    g_autoptr(GError) unavailable = g_error_new (GW_ERROR, GW_ERROR_SERVER_UNREACHABLE,
                                                 "no session with %s: %s",
                                                 self->server_id, error->message);
    fail_waiting (self, unavailable);
  }
}

/* An HTTP answer that is not the expected one: the server's ERROR, if it
 * sent one, says why. */
static void
reply_error (GBytes *reply, guint status, const char *what, GError **error)
{
  gsize len = 0;
  const guint8 *data = reply != NULL ? g_bytes_get_data (reply, &len) : NULL;
  g_autoptr(GError) cpns = NULL;

  if (data != NULL && cpns_error_from_message (data, len, &cpns))
    g_set_error (error, GW_ERROR, GW_ERROR_SERVER_REFUSED, "%s: HTTP %u: %s", what,
                 status, cpns->message);
  else
    g_set_error (error, GW_ERROR, GW_ERROR_SERVER_REFUSED,
                 "%s: unexpected HTTP status %u", what, status);
}

/* ---- handshake ---- */

typedef struct {
  GwServerLink *self;
  guint         generation;
} Pending;

static Pending *
pending_new (GwServerLink *self)
{
  Pending *p = g_new0 (Pending, 1);

  p->self = g_object_ref (self);
  p->generation = self->generation;
  return p;
}

static void
pending_free (Pending *p)
{
  g_object_unref (p->self);
  g_free (p);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Pending, pending_free)

static gboolean
rekey_cb (gpointer user_data)
{
  GwServerLink *self = user_data;

  self->rekey_source = 0;
  g_message ("session with %s reached its lifetime; renewing it", self->server_id);
  drop_session (self);
  connect_now (self);
  return G_SOURCE_REMOVE;
}

static void
connected (GwServerLink *self)
{
  self->session = session_ref_new (cpns_handshake_take_session (self->handshake));
  g_clear_pointer (&self->handshake, cpns_handshake_free);
  self->sessions++;
  gw_backoff_reset (&self->backoff);
  set_reachable (self, TRUE);
  set_last_error (self, NULL);
  set_state (self, GW_LINK_CONNECTED);
  g_message ("secure session %u with %s established", self->sessions, self->server_id);
  /* Renew a little before the server would expire it. */
  self->rekey_source = g_timeout_add_seconds (self->session_lifetime * 9 / 10, rekey_cb,
                                              self);
  send_waiting (self);
  start_poll (self);
}

static void
on_finish_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Pending) p = user_data;
  GwServerLink *self = p->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) reply = NULL;
  guint status = 0;

  reply = gw_upstream_post_finish (GW_UPSTREAM (source), result, &status, &error);
  if (p->generation != self->generation)
    return;
  if (reply == NULL && error != NULL)
    {
      schedule_retry (self, error);
      return;
    }
  if (status != 204)
    {
      reply_error (reply, status, "handshake confirmation", &error);
      schedule_retry (self, error);
      return;
    }
  connected (self);
}

static void
on_init_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Pending) p = user_data;
  GwServerLink *self = p->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) reply = NULL;
  g_autoptr(GBytes) m3 = NULL;
  guint8 out[CPNS_HANDSHAKE_MAX];
  gsize out_len;
  guint status = 0;
  gsize len;
  const guint8 *data;

  reply = gw_upstream_post_finish (GW_UPSTREAM (source), result, &status, &error);
  if (p->generation != self->generation)
    return;
  if (reply == NULL && error != NULL)
    {
      schedule_retry (self, error);
      return;
    }
  set_reachable (self, TRUE);
  if (status != 200)
    {
      reply_error (reply, status, "handshake", &error);
      schedule_retry (self, error);
      return;
    }
  data = g_bytes_get_data (reply, &len);
  if (!cpns_handshake_receive (self->handshake, data, len, out, sizeof out, &out_len,
                               &error))
    {
      g_prefix_error (&error, "handshake with %s: ", self->server_id);
      schedule_retry (self, error);
      return;
    }
  m3 = g_bytes_new (out, out_len);
  gw_upstream_post_async (self->upstream, "/handshake", m3, 0, self->cancellable,
                          on_finish_reply, pending_new (self));
}

static void
connect_now (GwServerLink *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) m1 = NULL;
  CpnsHandshakeConfig cfg = {
    .role = CPNS_ROLE_INITIATOR, .purpose = CPNS_PURPOSE_SERVER,
    .self_id = self->self_id, .peer_id = self->server_id, .psk = &self->psk,
    .replay_mode = CPNS_REPLAY_WINDOW,
  };
  guint8 out[CPNS_HANDSHAKE_MAX];
  gsize out_len;

  if (!self->have_psk)
    return;
  drop_session (self);
  set_state (self, GW_LINK_CONNECTING);
  self->handshake = cpns_handshake_new (&cfg, &error);
  if (self->handshake == NULL ||
      !cpns_handshake_start (self->handshake, out, sizeof out, &out_len, &error))
    {
      /* Our own key or configuration is unusable: retrying will not help
       * until it changes, but keep the cadence rather than spin. */
      schedule_retry (self, error);
      return;
    }
  m1 = g_bytes_new (out, out_len);
  gw_upstream_post_async (self->upstream, "/handshake", m1, 0, self->cancellable,
                          on_init_reply, pending_new (self));
}

/* ---- requests ---- */

typedef struct {
  guint64     type;
  GBytes     *body;
  gboolean    encrypt;
  gboolean    retried;
  guint       generation;
  guint64     reply_type;
  SessionRef *session;   /* the one the request went out in */
} Request;

static void
send_waiting (GwServerLink *self)
{
  GTask *task;

  while (self->state == GW_LINK_CONNECTED && self->in_flight < MAX_IN_FLIGHT &&
         (task = g_queue_pop_head (&self->waiting)) != NULL)
    {
      send_request (self, task);
      g_object_unref (task);
    }
}

static void
request_free (Request *r)
{
  g_bytes_unref (r->body);
  session_unref (r->session);
  g_free (r);
}

static guint64
next_txid (GwServerLink *self)
{
  return ++self->next_txid;
}

static GBytes *
seal (GwServerLink *self, guint64 type, GBytes *body, gboolean encrypt, GError **error)
{
  gsize body_len, len;
  const guint8 *data = g_bytes_get_data (body, &body_len);
  guint8 *out = g_malloc (body_len + CPNS_RECORD_OVERHEAD);

  len = cpns_session_seal (self->session->session, type, next_txid (self), encrypt, data,
                           body_len, out, body_len + CPNS_RECORD_OVERHEAD, error);
  if (len == 0)
    {
      g_free (out);
      return NULL;
    }
  return g_bytes_new_take (out, len);
}

/* Opens a record answer in @session. */
static GBytes *
open_reply (SessionRef *session, GBytes *reply, guint64 *type, GError **error)
{
  gsize len, plain_len;
  const guint8 *data = g_bytes_get_data (reply, &len);
  g_autofree guint8 *plain = g_malloc (MAX (len, 1));
  CpnsHeader hdr;

  if (!cpns_session_open (session->session, data, len, &hdr, plain, len, &plain_len,
                          error))
    return NULL;
  *type = hdr.type;
  return g_bytes_new_take (g_steal_pointer (&plain), plain_len);
}

static void
on_record_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GwServerLink *self = g_task_get_source_object (task);
  Request *r = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) reply = NULL;
  GBytes *body;
  guint status = 0;

  reply = gw_upstream_post_finish (GW_UPSTREAM (source), result, &status, &error);
  self->in_flight--;
  send_waiting (self);
  if (reply == NULL && error != NULL)
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_SERVER_UNREACHABLE,
                               "%s", error->message);
      if (r->generation == self->generation)
        schedule_retry (self, error);
      return;
    }
  if (status == 401 && !r->retried)
    {
      /* The server no longer knows the session (restart, expiry): one new
       * handshake, then the request once more. */
      r->retried = TRUE;
      g_clear_pointer (&r->session, session_unref);
      if (r->generation != self->generation && self->state == GW_LINK_CONNECTED)
        {
          /* A newer session is already up: use it. */
          send_request (self, task);
          return;
        }
      g_queue_push_tail (&self->waiting, g_object_ref (task));
      if (r->generation == self->generation)
        connect_now (self);
      return;
    }
  if (status == 204)
    {
      r->reply_type = 0;
      g_task_return_pointer (task, NULL, NULL);
      return;
    }
  if (status != 200)
    {
      reply_error (reply, status, cpns_msg_type_name (r->type), &error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  body = open_reply (r->session, reply, &r->reply_type, &error);
  if (body == NULL)
    {
      g_prefix_error (&error, "answer to %s: ", cpns_msg_type_name (r->type));
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (r->reply_type == CPNS_MSG_ERROR)
    {
      CpnsBody e;
      if (cpns_body_decode (g_bytes_get_data (body, NULL), g_bytes_get_size (body),
                            CPNS_MSG_ERROR, &e, NULL))
        g_task_return_new_error (task, GW_ERROR, GW_ERROR_SERVER_REFUSED,
                                 "%s refused: %.*s", cpns_msg_type_name (r->type),
                                 (int) e.error.reason.len, e.error.reason.data);
      else
        g_task_return_new_error (task, GW_ERROR, GW_ERROR_SERVER_REFUSED,
                                 "%s refused", cpns_msg_type_name (r->type));
      g_bytes_unref (body);
      return;
    }
  g_task_return_pointer (task, body, (GDestroyNotify) g_bytes_unref);
}

static void
send_request (GwServerLink *self, GTask *task)
{
  Request *r = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) record = NULL;

  if (self->in_flight >= MAX_IN_FLIGHT)
    {
      g_queue_push_tail (&self->waiting, g_object_ref (task));
      return;
    }
  record = seal (self, r->type, r->body, r->encrypt, &error);
  if (record == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  r->generation = self->generation;
  g_clear_pointer (&r->session, session_unref);
  r->session = session_ref (self->session);
  self->in_flight++;
  gw_upstream_post_async (self->upstream, "/record", record, 0,
                          g_task_get_cancellable (task), on_record_reply,
                          g_object_ref (task));
}

void
gw_server_link_request_async (GwServerLink *self, guint64 type, GBytes *body,
                              gboolean encrypt, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  Request *r = g_new0 (Request, 1);

  g_task_set_source_tag (task, gw_server_link_request_async);
  r->type = type;
  r->body = g_bytes_ref (body);
  r->encrypt = encrypt;
  g_task_set_task_data (task, r, (GDestroyNotify) request_free);

  if (!self->have_psk)
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_NOT_ENROLLED,
                               "the gateway has no EUKey yet: enrol it first");
      return;
    }
  if (self->state != GW_LINK_CONNECTED)
    {
      g_queue_push_tail (&self->waiting, g_steal_pointer (&task));
      return;
    }
  send_request (self, task);
}

GBytes *
gw_server_link_request_finish (GwServerLink *self, GAsyncResult *result, guint64 *type,
                               GError **error)
{
  GTask *task = G_TASK (result);
  Request *r = g_task_get_task_data (task);
  GBytes *body = g_task_propagate_pointer (task, error);

  if (type != NULL)
    *type = r->reply_type;
  return body;
}

/* ---- long-poll ---- */

/* The server hands our poll the records it has for the PNEs we serve,
 * sealed in each PNE's own session (docs/protocol.md 12.1): we can only
 * read where they go. */
static gboolean
for_a_pne (GwServerLink *self, GBytes *reply, CpnsHeader *hdr)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (reply, &len);

  return cpns_record_peek (data, len, hdr, NULL) &&
         strcmp (hdr->src, self->server_id) == 0 &&
         strcmp (hdr->dst, self->self_id) != 0;
}

static void
on_poll_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Pending) p = user_data;
  GwServerLink *self = p->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) reply = NULL;
  g_autoptr(GBytes) body = NULL;
  guint status = 0;
  guint64 type = 0;
  CpnsHeader hdr;

  reply = gw_upstream_post_finish (GW_UPSTREAM (source), result, &status, &error);
  if (p->generation != self->generation)
    return;
  self->polling = FALSE;
  if (reply == NULL && error != NULL)
    {
      schedule_retry (self, error);
      return;
    }
  if (status == 401)
    {
      g_message ("%s no longer knows our session; establishing a new one",
                 self->server_id);
      connect_now (self);
      return;
    }
  if (status == 200 && for_a_pne (self, reply, &hdr))
    g_signal_emit (self, signals[SIGNAL_RELAY], 0, hdr.dst, reply);
  else if (status == 200)
    {
      body = open_reply (self->session, reply, &type, &error);
      if (body == NULL)
        g_warning ("message from %s dropped: %s", self->server_id, error->message);
      else
        g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, type, body);
    }
  else if (status != 204)
    {
      reply_error (reply, status, "poll", &error);
      schedule_retry (self, error);
      return;
    }
  start_poll (self);
}

static void
start_poll (GwServerLink *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) empty = g_bytes_new_static ("\xa0", 1);
  g_autoptr(GBytes) record = NULL;

  if (self->polling || self->state != GW_LINK_CONNECTED)
    return;
  record = seal (self, CPNS_MSG_POLL, empty, TRUE, &error);
  if (record == NULL)
    {
      schedule_retry (self, error);
      return;
    }
  self->polling = TRUE;
  gw_upstream_post_async (self->upstream, "/poll", record, POLL_TIMEOUT_MS,
                          self->cancellable, on_poll_reply, pending_new (self));
}

/* ---- object ---- */

void
gw_server_link_set_psk (GwServerLink *self, const CpnsPsk *psk)
{
  g_autoptr(GError) error = NULL;

  drop_session (self);
  cpns_wipe (&self->psk, sizeof self->psk);
  self->have_psk = psk != NULL;
  gw_backoff_reset (&self->backoff);
  if (psk == NULL)
    {
      g_set_error (&error, GW_ERROR, GW_ERROR_NOT_ENROLLED, "the gateway's key was removed");
      fail_waiting (self, error);
      set_state (self, GW_LINK_IDLE);
      return;
    }
  self->psk = *psk;
  connect_now (self);
}

GwLinkState gw_server_link_get_state (GwServerLink *self) { return self->state; }
gboolean gw_server_link_get_reachable (GwServerLink *self) { return self->reachable; }
const char *gw_server_link_get_last_error (GwServerLink *self) { return self->last_error; }
guint gw_server_link_get_sessions (GwServerLink *self) { return self->sessions; }

GwServerLink *
gw_server_link_new (GwUpstream *upstream, const GwConfig *config)
{
  GwServerLink *self = g_object_new (GW_TYPE_SERVER_LINK, NULL);
  guint8 r[4];

  self->upstream = g_object_ref (upstream);
  self->self_id = g_strdup (config->entity_id);
  self->server_id = g_strdup (config->server_id);
  self->session_lifetime = config->session_lifetime;
  gw_backoff_init (&self->backoff, config->retry_min * 1000, config->retry_max * 1000,
                   GW_BACKOFF_JITTER_FULL, NULL, NULL);
  cpns_random (r, sizeof r, NULL);
  self->next_txid = (guint64) ((guint32) r[0] << 24 | r[1] << 16 | r[2] << 8 | r[3]) << 16;
  return self;
}

static void
gw_server_link_dispose (GObject *object)
{
  GwServerLink *self = GW_SERVER_LINK (object);
  g_autoptr(GError) error = NULL;

  drop_session (self);
  g_set_error (&error, GW_ERROR, GW_ERROR_CANCELLED, "the gateway is shutting down");
  fail_waiting (self, error);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->upstream);
  G_OBJECT_CLASS (gw_server_link_parent_class)->dispose (object);
}

static void
gw_server_link_finalize (GObject *object)
{
  GwServerLink *self = GW_SERVER_LINK (object);

  cpns_wipe (&self->psk, sizeof self->psk);
  g_free (self->self_id);
  g_free (self->server_id);
  g_free (self->last_error);
  G_OBJECT_CLASS (gw_server_link_parent_class)->finalize (object);
}

static void
gw_server_link_get_property (GObject *object, guint prop_id, GValue *value,
                             GParamSpec *pspec)
{
  GwServerLink *self = GW_SERVER_LINK (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_uint (value, self->state);
      break;
    case PROP_REACHABLE:
      g_value_set_boolean (value, self->reachable);
      break;
    case PROP_LAST_ERROR:
      g_value_set_string (value, self->last_error);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
gw_server_link_class_init (GwServerLinkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gw_server_link_dispose;
  object_class->finalize = gw_server_link_finalize;
  object_class->get_property = gw_server_link_get_property;

  props[PROP_STATE] = g_param_spec_uint ("state", NULL, NULL, GW_LINK_IDLE,
                                         GW_LINK_WAITING, GW_LINK_IDLE,
                                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_REACHABLE] = g_param_spec_boolean ("reachable", NULL, NULL, FALSE,
                                                G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_LAST_ERROR] = g_param_spec_string ("last-error", NULL, NULL, NULL,
                                                G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);

  /* A message the server queued for us: (message type, body). */
  signals[SIGNAL_MESSAGE] = g_signal_new ("message", G_TYPE_FROM_CLASS (klass),
                                          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                          G_TYPE_NONE, 2, G_TYPE_UINT64, G_TYPE_BYTES);
  /* A record the server queued for a PNE behind us: (PNE ID, record). */
  signals[SIGNAL_RELAY] = g_signal_new ("relay", G_TYPE_FROM_CLASS (klass),
                                        G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                        G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BYTES);
}

static void
gw_server_link_init (GwServerLink *self)
{
  self->cancellable = g_cancellable_new ();
  g_queue_init (&self->waiting);
}
