/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-core.h"

#include <string.h>

#include "cpns-error.h"
#include "cpns-session.h"
#include "srv-requests.h"

#define EXPIRE_INTERVAL_S 10
#define MAX_QUEUED_PER_ENTITY 64
/* Routed messages a poll tries before it gives up with 204: each failed
 * try moves a PNE off this gateway, so this only bounds the work. */
#define MAX_ROUTED_TRIES 8

struct _SrvCore {
  GObject       parent_instance;
  SrvStore     *store;
  char         *self_id;
  guint         poll_timeout_ms;
  SrvEnrolment *enrolment;
  SrvSessions  *sessions;
  SrvMailbox   *mailbox;
  guint         expire_timer;
  /* Decrypted bodies and sealed records pass through these, one request at
   * a time; the plaintext is wiped after each request. */
  guint8       *plain;
  guint8       *record;
};

G_DEFINE_TYPE (SrvCore, srv_core, G_TYPE_OBJECT)

gboolean
srv_endpoint_from_name (const char *name, SrvEndpoint *endpoint)
{
  static const struct {
    const char *name;
    SrvEndpoint endpoint;
  } names[] = {
    { "key", SRV_ENDPOINT_KEY },
    { "handshake", SRV_ENDPOINT_HANDSHAKE },
    { "record", SRV_ENDPOINT_RECORD },
    { "poll", SRV_ENDPOINT_POLL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (strcmp (name, names[i].name) == 0)
      {
        *endpoint = names[i].endpoint;
        return TRUE;
      }
  return FALSE;
}

static void
srv_core_dispose (GObject *object)
{
  SrvCore *core = SRV_CORE (object);

  g_clear_handle_id (&core->expire_timer, g_source_remove);
  if (core->sessions != NULL)
    g_signal_handlers_disconnect_by_data (core->sessions, core);
  if (core->enrolment != NULL)
    g_signal_handlers_disconnect_by_data (core->enrolment, core);
  g_clear_object (&core->mailbox);
  g_clear_object (&core->enrolment);
  g_clear_object (&core->sessions);
  g_clear_object (&core->store);
  G_OBJECT_CLASS (srv_core_parent_class)->dispose (object);
}

static void
srv_core_finalize (GObject *object)
{
  SrvCore *core = SRV_CORE (object);

  cpns_wipe (core->plain, CPNS_MAX_BODY);
  g_free (core->plain);
  g_free (core->record);
  g_free (core->self_id);
  G_OBJECT_CLASS (srv_core_parent_class)->finalize (object);
}

static void
srv_core_class_init (SrvCoreClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = srv_core_dispose;
  G_OBJECT_CLASS (klass)->finalize = srv_core_finalize;
}

static void
srv_core_init (SrvCore *core)
{
  core->plain = g_malloc0 (CPNS_MAX_BODY);
  core->record = g_malloc0 (CPNS_MAX_RECORD);
}

/* A new EUKey makes the sessions under the old one worthless. */
static void
on_eukey_replaced (SrvEnrolment *enrolment, const char *entity_id, gpointer data)
{
  SrvCore *core = data;

  srv_sessions_end_entity (core->sessions, entity_id);
}

/* Polls that came in an ended session cannot be answered in it; and a PNE
 * without a live session has nothing its gateway could be handed. */
static void
on_session_ended (SrvSessions *sessions, const char *entity_id, const guint8 *session_id,
                  gpointer data)
{
  SrvCore *core = data;

  srv_mailbox_end_session (core->mailbox, entity_id, session_id);
  srv_mailbox_reroute (core->mailbox, entity_id);
}

/* A PNE with messages waiting can now be reached through its gateway. */
static void
on_session_established (SrvSessions *sessions, const char *entity_id, gpointer data)
{
  SrvCore *core = data;

  srv_mailbox_reroute (core->mailbox, entity_id);
}

/* SrvMailboxRouteFunc (protocol.md 12.1): the PN GW of the entity's current
 * LocalEUKey, while the entity has a live session to seal its records in. */
static char *
route_for (const char *entity_id, gpointer data)
{
  SrvCore *core = data;
  g_autoptr(GError) error = NULL;
  char *gateway;

  if (srv_sessions_get_newest (core->sessions, entity_id) == NULL)
    return NULL;
  gateway = srv_store_get_pne_gateway (core->store, entity_id, &error);
  if (error != NULL)
    g_warning ("messages for '%s': %s", entity_id, error->message);
  return gateway;
}

static gboolean
on_expire_timer (gpointer data)
{
  srv_core_expire (data);
  return G_SOURCE_CONTINUE;
}

SrvCore *
srv_core_new (SrvStore *store, const SrvConfig *config, const CpnsSecret *server_secret)
{
  SrvCore *core = g_object_new (SRV_TYPE_CORE, NULL);
  SrvEnrolmentConfig ec = {
    .self_id = config->entity_id,
    .default_iterations = config->default_iterations,
    .user_failures = config->user_failures,
    .address_failures = config->address_failures,
    .failure_window = config->failure_window,
  };

  core->store = g_object_ref (store);
  core->self_id = g_strdup (config->entity_id);
  core->poll_timeout_ms = config->poll_timeout * 1000;
  core->enrolment = srv_enrolment_new (store, server_secret, &ec);
  core->sessions = srv_sessions_new (store, config->entity_id, config->session_lifetime,
                                     config->max_sessions, NULL, NULL);
  core->mailbox = srv_mailbox_new (MAX_QUEUED_PER_ENTITY);
  srv_mailbox_set_router (core->mailbox, route_for, core);
  g_signal_connect (core->enrolment, "eukey-replaced", G_CALLBACK (on_eukey_replaced),
                    core);
  g_signal_connect (core->sessions, "session-ended", G_CALLBACK (on_session_ended), core);
  g_signal_connect (core->sessions, "session-established",
                    G_CALLBACK (on_session_established), core);
  core->expire_timer = g_timeout_add_seconds (EXPIRE_INTERVAL_S, on_expire_timer, core);
  return core;
}

const char *
srv_core_get_entity_id (SrvCore *core)
{
  return core->self_id;
}

SrvSessions *
srv_core_get_sessions (SrvCore *core)
{
  return core->sessions;
}

SrvMailbox *
srv_core_get_mailbox (SrvCore *core)
{
  return core->mailbox;
}

void
srv_core_expire (SrvCore *core)
{
  srv_sessions_expire (core->sessions);
  srv_enrolment_expire (core->enrolment);
}

void
srv_core_shutdown (SrvCore *core)
{
  srv_mailbox_shutdown (core->mailbox);
}

static SrvReply *
error_reply (SrvCore *core, const CpnsHeader *hdr, guint code, const char *reason)
{
  return srv_reply_error (0, core->self_id, hdr != NULL ? hdr->src : NULL,
                          hdr != NULL ? hdr->txid : 0, code, reason);
}

/* Is the key the session was made with still the entity's?  cpns-admin may
 * have revoked it, or another server process replaced it. */
static gboolean
session_key_current (SrvCore *core, SrvSession *s, GError **error)
{
  g_autoptr(SrvEntity) e = NULL;
  g_autoptr(GError) local = NULL;

  e = srv_store_get_entity (core->store, s->entity_id, &local);
  if (e == NULL && !g_error_matches (local, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND))
    {
      g_warning ("session of '%s': %s", s->entity_id, local->message);
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_FAILED, "internal server error");
      return FALSE;
    }
  if (e == NULL || e->eukey_kid == NULL || !g_bytes_equal (e->eukey_kid, s->kid) ||
      g_strcmp0 (e->owner, s->user_id) != 0)
    {
      g_message ("'%s' lost the key of its session (replaced, released or revoked)",
                 s->entity_id);
      srv_sessions_end_entity (core->sessions, s->entity_id);
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND,
                   "the key of this session was replaced or revoked; enrol again");
      return FALSE;
    }
  return TRUE;
}

/* Opens @data in its session.  On success *@session is the session (owned
 * by the table) and @body points into core->plain, which the caller wipes
 * (*@plain_len bytes) when done. */
static SrvReply *
open_record (SrvCore *core, const guint8 *data, gsize len, SrvSession **session,
             CpnsHeader *hdr, CpnsBody *body, gsize *plain_len)
{
  g_autoptr(GError) error = NULL;
  SrvSession *s;

  *plain_len = 0;
  if (len > CPNS_MAX_RECORD)
    return error_reply (core, NULL, CPNS_ERROR_TOO_LARGE, "record too large");
  if (!cpns_record_peek (data, len, hdr, &error))
    return srv_reply_from_error (core->self_id, NULL, 0, error);
  s = srv_sessions_lookup (core->sessions, hdr->session_id);
  if (s == NULL)
    return error_reply (core, hdr, CPNS_ERROR_NOT_FOUND,
                        "unknown or expired session; run a new handshake");
  if (!session_key_current (core, s, &error))
    return srv_reply_from_error (core->self_id, hdr->src, hdr->txid, error);
  if (!cpns_session_open (s->session, data, len, hdr, core->plain, CPNS_MAX_BODY,
                          plain_len, &error) ||
      !cpns_body_decode (core->plain, *plain_len, hdr->type, body, &error))
    {
      g_debug ("record from '%s' refused: %s", hdr->src, error->message);
      return srv_reply_from_error (core->self_id, hdr->src, hdr->txid, error);
    }
  *session = s;
  return NULL;
}

/* @type/@body sealed in @s as the answer to transaction @txid.  A session
 * past its limits is ended (and @s freed): NOT_FOUND. */
static GBytes *
seal_record (SrvCore *core, SrvSession *s, guint64 type, guint64 txid, gboolean encrypt,
             const CpnsSecret *body, GError **error)
{
  g_autoptr(GError) local = NULL;
  gsize len;

  /* Must-encrypt types are sealed encrypted whatever the request was. */
  if (cpns_msg_type_carry (type) & CPNS_CARRY_MUST_ENCRYPT)
    encrypt = TRUE;
  len = cpns_session_seal (s->session, type, txid, encrypt, body->data, body->len,
                           core->record, CPNS_MAX_RECORD, &local);
  if (len > 0)
    return g_bytes_new (core->record, len);
  if (g_error_matches (local, CPNS_ERROR, CPNS_ERROR_REKEY_NEEDED))
    {
      srv_sessions_end (core->sessions, s->id);
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND,
                   "the session has ended; run a new handshake");
      return NULL;
    }
  g_warning ("cannot seal %s for '%s': %s", cpns_msg_type_name (type), s->entity_id,
             local->message);
  g_set_error (error, CPNS_ERROR, CPNS_ERROR_FAILED, "internal server error");
  return NULL;
}

/* 200 with @type/@body sealed in @s, answering transaction @txid. */
static SrvReply *
seal_reply (SrvCore *core, SrvSession *s, guint64 type, guint64 txid, gboolean encrypt,
            const CpnsSecret *body)
{
  g_autoptr(GError) error = NULL;
  /* Sealing may end the session, and free @s. */
  g_autofree char *entity_id = g_strdup (s->entity_id);
  GBytes *record = seal_record (core, s, type, txid, encrypt, body, &error);

  if (record == NULL)
    return srv_reply_from_error (core->self_id, entity_id, txid, error);
  return srv_reply_new (200, record);
}

static SrvReply *
handle_record (SrvCore *core, const guint8 *data, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *entity_id = NULL;
  g_autofree char *user_id = NULL;
  guint8 session_id[CPNS_SESSION_ID_LEN];
  SrvRequestContext ctx = { core->store, core->sessions, core->mailbox, core->self_id };
  SrvAnswer answer = { 0 };
  SrvSession *s = NULL;
  CpnsHeader hdr;
  CpnsBody body;
  gsize plain_len;
  SrvReply *reply;
  gboolean ok;

  reply = open_record (core, data, len, &s, &hdr, &body, &plain_len);
  if (reply != NULL)
    return reply;
  /* The request may end its own session (a PNE releasing itself): keep
   * what is needed after it by value. */
  entity_id = g_strdup (s->entity_id);
  user_id = g_strdup (s->user_id);
  memcpy (session_id, s->id, sizeof session_id);
  ok = srv_requests_answer (&ctx, entity_id, user_id, &hdr, &body, &answer, &error);
  cpns_wipe (core->plain, plain_len);
  if (!ok)
    return srv_reply_from_error (core->self_id, hdr.src, hdr.txid, error);
  s = srv_sessions_lookup (core->sessions, session_id);
  if (answer.type == 0 || s == NULL)
    reply = srv_reply_new (204, NULL);
  else
    reply = seal_reply (core, s, answer.type, hdr.txid, answer.encrypt || hdr.encrypted,
                        answer.body);
  if (answer.end_sessions_of != NULL)
    srv_sessions_end_entity (core->sessions, answer.end_sessions_of);
  srv_answer_clear (&answer);
  return reply;
}

/* A message for another entity (a PNE) that the poll of @gateway_id took:
 * sealed in the PNE's newest live session (source: the server,
 * destination: the PNE), as long as the PNE's current LocalEUKey still
 * pairs it with @gateway_id and its key is still current.  Otherwise NULL,
 * and the message goes back to the PNE's queue, routed anew. */
static SrvReply *
deliver_routed (SrvCore *core, const char *gateway_id, guint64 txid, SrvQueued *queued)
{
  g_autoptr(SrvQueued) q = queued;
  g_autoptr(GError) error = NULL;
  g_autofree char *via = NULL;
  SrvSession *s = srv_sessions_get_newest (core->sessions, q->entity_id);
  GBytes *record = NULL;

  /* Checking the key may end the PNE's sessions. */
  if (s != NULL && !session_key_current (core, s, &error))
    s = NULL;
  if (s != NULL)
    via = srv_store_get_pne_gateway (core->store, q->entity_id, &error);
  if (s != NULL && g_strcmp0 (via, gateway_id) == 0)
    record = seal_record (core, s, q->type, txid, q->encrypt, q->body, &error);
  if (record != NULL)
    {
      g_debug ("%s for '%s' handed to the poll of '%s'", cpns_msg_type_name (q->type),
               q->entity_id, gateway_id);
      return srv_reply_new (200, record);
    }
  g_debug ("%s for '%s' not for the poll of '%s' after all%s%s",
           cpns_msg_type_name (q->type), q->entity_id, gateway_id,
           error != NULL ? ": " : "", error != NULL ? error->message : "");
  srv_mailbox_requeue (core->mailbox, g_steal_pointer (&q));
  return NULL;
}

/* A POLL that waits for a message. */
typedef struct {
  SrvCore     *core;
  guint8       session_id[CPNS_SESSION_ID_LEN];
  char        *entity_id;
  guint64      txid;
  SrvReplyFunc later;
  gpointer     later_data;
} Poll;

static void
poll_free (Poll *p)
{
  g_free (p->entity_id);
  g_free (p);
}

static SrvReply *
deliver (SrvCore *core, SrvSession *s, guint64 txid, SrvQueued *q)
{
  return seal_reply (core, s, q->type, txid, q->encrypt, q->body);
}

static void
on_poll_wake (SrvWake why, SrvQueued *queued, gpointer data)
{
  Poll *p = data;
  SrvCore *core = p->core;
  g_autoptr(SrvQueued) q = queued;
  SrvReply *reply = NULL;
  SrvSession *s;

  switch (why)
    {
    case SRV_WAKE_MESSAGE:
      s = srv_sessions_lookup (core->sessions, p->session_id);
      if (s != NULL && strcmp (q->entity_id, p->entity_id) == 0)
        {
          reply = deliver (core, s, p->txid, q);
          break;
        }
      if (s != NULL)
        {
          /* Not deliverable after all: an empty answer, and the gateway
           * polls again. */
          reply = deliver_routed (core, p->entity_id, p->txid, g_steal_pointer (&q));
          if (reply == NULL)
            reply = srv_reply_new (204, NULL);
          break;
        }
      /* Keep it, in order, for the next poll, in a next session. */
      srv_mailbox_requeue (core->mailbox, g_steal_pointer (&q));
      G_GNUC_FALLTHROUGH;
    case SRV_WAKE_ENDED:
      reply = srv_reply_error (0, core->self_id, p->entity_id, p->txid,
                               CPNS_ERROR_NOT_FOUND,
                               "the session has ended; run a new handshake");
      break;
    case SRV_WAKE_TIMEOUT:
      reply = srv_reply_new (204, NULL);
      break;
    case SRV_WAKE_SHUTDOWN:
    default:
      reply = srv_reply_error (0, core->self_id, p->entity_id, p->txid,
                               CPNS_ERROR_UNAVAILABLE, "the server is stopping");
      break;
    }
  p->later (reply, p->later_data);
}

static SrvReply *
handle_poll (SrvCore *core, const guint8 *data, gsize len, SrvReplyFunc later,
             gpointer later_data, guint *wait_id)
{
  g_autofree char *entity_id = NULL;
  guint8 session_id[CPNS_SESSION_ID_LEN];
  SrvSession *s = NULL;
  CpnsHeader hdr;
  CpnsBody body;
  gsize plain_len;
  SrvReply *reply;
  Poll *p;

  reply = open_record (core, data, len, &s, &hdr, &body, &plain_len);
  if (reply != NULL)
    return reply;
  cpns_wipe (core->plain, plain_len);
  if (hdr.type != CPNS_MSG_POLL)
    return error_reply (core, &hdr, CPNS_ERROR_STATE, "/poll takes POLL only");
  /* Handing messages on may end sessions: keep ours by value. */
  entity_id = g_strdup (s->entity_id);
  memcpy (session_id, s->id, sizeof session_id);
  for (guint tries = 0; tries < MAX_ROUTED_TRIES; tries++)
    {
      SrvQueued *q = srv_mailbox_take (core->mailbox, entity_id);

      if (q == NULL)
        break;
      if (strcmp (q->entity_id, entity_id) != 0)
        {
          reply = deliver_routed (core, entity_id, hdr.txid, q);
          if (reply != NULL)
            return reply;
          continue;
        }
      s = srv_sessions_lookup (core->sessions, session_id);
      if (s == NULL)
        {
          srv_mailbox_requeue (core->mailbox, q);
          return error_reply (core, &hdr, CPNS_ERROR_NOT_FOUND,
                              "the session has ended; run a new handshake");
        }
      reply = deliver (core, s, hdr.txid, q);
      srv_queued_free (q);
      return reply;
    }
  s = srv_sessions_lookup (core->sessions, session_id);
  if (s == NULL)
    return error_reply (core, &hdr, CPNS_ERROR_NOT_FOUND,
                        "the session has ended; run a new handshake");
  /* Out of tries with messages still routed here: answer now, the next
   * poll takes them. */
  if (later == NULL || srv_mailbox_get_routed (core->mailbox, entity_id) > 0 ||
      srv_mailbox_get_queued (core->mailbox, entity_id) > 0)
    return srv_reply_new (204, NULL);

  p = g_new0 (Poll, 1);
  p->core = core;
  memcpy (p->session_id, session_id, CPNS_SESSION_ID_LEN);
  p->entity_id = g_strdup (entity_id);
  p->txid = hdr.txid;
  p->later = later;
  p->later_data = later_data;
  *wait_id = srv_mailbox_wait (core->mailbox, entity_id, session_id, core->poll_timeout_ms,
                               on_poll_wake, p, (GDestroyNotify) poll_free);
  return NULL;
}

SrvReply *
srv_core_handle (SrvCore *core, SrvEndpoint endpoint, const char *peer,
                 const guint8 *data, gsize len, SrvReplyFunc later, gpointer later_data,
                 guint *wait_id)
{
  if (wait_id != NULL)
    *wait_id = 0;
  if (len > CPNS_MAX_MESSAGE)
    return error_reply (core, NULL, CPNS_ERROR_TOO_LARGE, "request body too large");
  switch (endpoint)
    {
    case SRV_ENDPOINT_KEY:
      return srv_enrolment_handle (core->enrolment, peer, data, len);
    case SRV_ENDPOINT_HANDSHAKE:
      return srv_sessions_handshake (core->sessions, data, len);
    case SRV_ENDPOINT_RECORD:
      return handle_record (core, data, len);
    case SRV_ENDPOINT_POLL:
    default:
      return handle_poll (core, data, len, later, later_data, wait_id);
    }
}

void
srv_core_cancel (SrvCore *core, guint wait_id)
{
  srv_mailbox_cancel (core->mailbox, wait_id);
}

gboolean
srv_core_post (SrvCore *core, const char *entity_id, guint64 type, const CpnsBody *body,
               gboolean encrypt, GError **error)
{
  g_autoptr(CpnsSecret) buf = cpns_secret_new0 (CPNS_MAX_BODY);
  gsize len;

  if (!(cpns_msg_type_carry (type) & CPNS_CARRY_RECORD))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_POLICY,
                   "%s cannot be sent in a session", cpns_msg_type_name (type));
      return FALSE;
    }
  len = cpns_body_encode (type, body, buf->data, buf->len, error);
  if (len == 0)
    return FALSE;
  return srv_mailbox_post (core->mailbox, entity_id, type, encrypt, buf->data, len, error);
}
