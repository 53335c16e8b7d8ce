/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-pne-link.h"

#include <string.h>

#include "cpns-error.h"
#include "cpns-handshake.h"
#include "cpns-message.h"
#include "cpns-session.h"
#include "gw-error.h"
#include "gw-pne-manager.h"
#include "gw-pne-manager-private.h"
#include "gw-tk-delivery.h"

/* The most messages of one PNE waiting to be relayed: a PNE that sends
 * faster than the server answers is broken or hostile. */
#define RELAY_QUEUE_MAX 16

typedef enum {
  STEP_ANNOUNCE,        /* waiting for PNE_ANNOUNCE */
  STEP_DECIDING,        /* the gateway works: server requests, agents */
  STEP_OWN_KEY_REQUEST, /* paths 1/2: the PNE's Key Request is relayed */
  STEP_BOOTSTRAP,       /* path 2: the bootstrap handshake */
  STEP_LOCAL_HANDSHAKE, /* the PNE <-> gateway handshake */
  STEP_READY,           /* session up */
  STEP_CLOSED,
} Step;

typedef struct {
  guint8 eukey[CPNS_KID_MAX], local[CPNS_KID_MAX];
  gsize  eukey_len, local_len;
} Kids;

struct _GwPneLink {
  GObject        parent_instance;
  GwPneManager  *manager;
  GwPanLink     *link;
  GwPne         *pne;           /* once announced */
  char          *pne_id;
  const char    *self_id;       /* the gateway's */
  const char    *server_id;
  Step           step;
  GCancellable  *cancellable;   /* the gateway's own work for this PNE; made on
                                 * demand, dropped when the PNE is ready and
                                 * nothing is in flight (idle PNEs are many) */
  guint          step_timer;

  /* From the latest announcement, until the PNE is ready. */
  gboolean       has_ui, has_tk;
  Kids          *kids;

  /* The link's verdict, measured when the link came up. */
  gboolean       probed;
  gboolean       announce_pending;

  /* Credentials from an agent (paths 2 and 3), wiped after use. */
  gboolean       asking;
  GCancellable  *asking_cancellable;  /* the agent request in flight */
  char          *user_id;
  CpnsSecret    *password;

  CpnsHandshake *handshake;
  CpnsSession   *bootstrap;     /* path 2, until CREDENTIAL_INSTALL is sent */
  CpnsSession   *session;       /* PNE <-> gateway */
  GBytes        *wrapped_local_key;  /* for the PNE, while the key is saved */

  GQueue         relay;         /* GBytes waiting to go to the server */
  gboolean       relaying;
};

G_DEFINE_TYPE (GwPneLink, gw_pne_link, G_TYPE_OBJECT)

static void decide (GwPneLink *self);

/* Records are opened one at a time on the main thread: one buffer for all
 * links instead of 64 KiB each. */
static guint8 scratch[CPNS_MAX_MESSAGE];

GwPanLink *gw_pne_link_get_pan_link (GwPneLink *self) { return self->link; }
GwPne *gw_pne_link_get_pne (GwPneLink *self) { return self->pne; }

static GCancellable *
work_cancellable (GwPneLink *self)
{
  if (self->cancellable == NULL)
    self->cancellable = g_cancellable_new ();
  return self->cancellable;
}

static const char *
peer_name (GwPneLink *self)
{
  return self->pne_id != NULL ? self->pne_id : gw_pan_link_get_address (self->link);
}

static void
wipe_credentials (GwPneLink *self)
{
  g_clear_pointer (&self->password, cpns_secret_free);
  g_clear_pointer (&self->user_id, g_free);
}

/* ---- sending ---- */

static gboolean
send_bytes (GwPneLink *self, const guint8 *data, gsize len)
{
  g_autoptr(GBytes) frame = g_bytes_new (data, len);
  g_autoptr(GError) error = NULL;

  if (gw_pan_link_send (self->link, frame, &error))
    return TRUE;
  gw_pne_link_close (self, error->message);
  return FALSE;
}

static gboolean
send_plain (GwPneLink *self, guint64 type, guint64 txid, const CpnsBody *body)
{
  CpnsHeader hdr = { .version = CPNS_VERSION, .type = type, .txid = txid };
  g_autoptr(GError) error = NULL;
  gsize len;

  if (!cpns_header_set_ids (&hdr, self->self_id,
                            self->pne_id != NULL ? self->pne_id : CPNS_PAN_GATEWAY_ID,
                            &error) ||
      (len = cpns_plain_encode (&hdr, body, NULL, 0, scratch, sizeof scratch, &error)) == 0)
    {
      g_warning ("cannot write %s for %s: %s", cpns_msg_type_name (type), peer_name (self),
                 error->message);
      gw_pne_link_close (self, "internal error");
      return FALSE;
    }
  /* Key-bearing messages leave no copy behind. */
  gboolean ok = send_bytes (self, scratch, len);
  cpns_wipe (scratch, len);
  return ok;
}

static void
send_error (GwPneLink *self, guint64 txid, guint64 code, const char *reason)
{
  CpnsBody body = { .present = 1u << 1 | 1u << 2 };
  gsize n = strlen (reason);

  /* The wire limit is 256 bytes; cut at a character boundary. */
  if (n > 256)
    n = g_utf8_find_prev_char (reason, reason + 257) - reason;
  body.error.code = code;
  body.error.reason = CPNS_BYTES (reason, n);
  send_plain (self, CPNS_MSG_ERROR, txid, &body);
}

static guint64
wire_code (const GError *error)
{
  if (error->domain == CPNS_ERROR)
    return error->code;
  if (g_error_matches (error, GW_ERROR, GW_ERROR_SERVER_UNREACHABLE) ||
      error->domain == GW_UPSTREAM_ERROR)
    return CPNS_ERROR_UNAVAILABLE;
  if (g_error_matches (error, GW_ERROR, GW_ERROR_NOT_ENROLLED))
    return CPNS_ERROR_UNAVAILABLE;
  return CPNS_ERROR_FAILED;
}

/* Tells the PNE why, records it on the PNE object and closes the link: a
 * stream link cannot resynchronise after a refused message. */
static void
fail (GwPneLink *self, guint64 txid, const GError *error)
{
  if (self->step == STEP_CLOSED)
    return;
  g_message ("PNE %s: %s", peer_name (self), error->message);
  send_error (self, txid, wire_code (error), error->message);
  if (self->pne != NULL)
    gw_pne_set_state (self->pne, GW_PNE_FAILED, error->message);
  gw_pne_link_close (self, error->message);
}

static void fail_with (GwPneLink *self, guint64 txid, guint64 code, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

static void
fail_with (GwPneLink *self, guint64 txid, guint64 code, const char *fmt, ...)
{
  va_list ap;
  g_autoptr(GError) error = NULL;

  va_start (ap, fmt);
  error = g_error_new_valist (CPNS_ERROR, code, fmt, ap);
  va_end (ap);
  fail (self, txid, error);
}

/* ---- step timer: how long the gateway waits for the PNE ---- */

static gboolean
step_timeout_cb (gpointer user_data)
{
  GwPneLink *self = user_data;

  self->step_timer = 0;
  fail_with (self, 0, CPNS_ERROR_STATE, "no progress from the PNE within %u s",
             gw_pne_manager_get_config (self->manager)->pan_handshake_timeout);
  return G_SOURCE_REMOVE;
}

static void
set_step (GwPneLink *self, Step step)
{
  self->step = step;
  g_clear_handle_id (&self->step_timer, g_source_remove);
  if (step == STEP_ANNOUNCE || step == STEP_BOOTSTRAP || step == STEP_LOCAL_HANDSHAKE)
    self->step_timer = g_timeout_add_seconds (
      gw_pne_manager_get_config (self->manager)->pan_handshake_timeout,
      step_timeout_cb, self);
}

/* ---- relaying PNE <-> server ---- */

static void relay_next (GwPneLink *self);

typedef struct {
  GwPneLink *self;
  guint64    txid;
} RelayCall;

/* The outcome of a PNE's own Key Request is plain (only the key inside is
 * wrapped): people see why a PNE did not get its EUKey. */
static void
note_key_delivery (GwPneLink *self, GBytes *reply)
{
  CpnsPlainMessage msg;
  gsize len;
  const guint8 *data = g_bytes_get_data (reply, &len);
  g_autofree char *text = NULL;

  if (self->pne == NULL || !cpns_plain_decode (data, len, &msg, NULL))
    return;
  if (msg.hdr.type == CPNS_MSG_KEY_DELIVERY && msg.body.key_delivery.status != 0)
    text = g_strdup_printf ("the CPNS Server refused the PNE's Key Request (status %s)",
                            msg.body.key_delivery.status == CPNS_KEY_STATUS_AUTH_FAILED
                              ? "authentication failed"
                              : msg.body.key_delivery.status == CPNS_KEY_STATUS_RATE_LIMITED
                                  ? "rate limited" : "refused");
  else if (msg.hdr.type == CPNS_MSG_ERROR)
    text = g_strdup_printf ("the CPNS Server answered the PNE with %s: %.*s",
                            cpns_error_code_to_string (msg.body.error.code),
                            (int) msg.body.error.reason.len,
                            (const char *) msg.body.error.reason.data);
  if (text != NULL)
    {
      g_message ("PNE %s: %s", self->pne_id, text);
      gw_pne_set_state (self->pne, gw_pne_get_state (self->pne), text);
    }
}

static void
on_relayed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RelayCall *call = user_data;
  g_autoptr(GwPneLink) self = call->self;
  guint64 txid = call->txid;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) reply = NULL;
  guint status = 0;

  g_free (call);
  reply = gw_upstream_post_finish (NULL, result, &status, &error);
  self->relaying = FALSE;
  if (self->step == STEP_CLOSED)
    return;
  if (reply == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("the server cannot be reached: %s",
                                                 error->message);
      /* Not the PNE's fault: it may try again. */
      send_error (self, txid, CPNS_ERROR_UNAVAILABLE, reason);
    }
  else if (g_bytes_get_size (reply) > 0)
    {
      note_key_delivery (self, reply);
      if (!send_bytes (self, g_bytes_get_data (reply, NULL), g_bytes_get_size (reply)))
        return;
    }
  relay_next (self);
}

static void
relay_next (GwPneLink *self)
{
  g_autoptr(GBytes) message = NULL;
  const char *path = "/record";
  RelayCall *call;
  CpnsHeader hdr;
  gsize len;
  const guint8 *data;

  if (self->relaying || self->step == STEP_CLOSED ||
      (message = g_queue_pop_head (&self->relay)) == NULL)
    return;
  /* Decoded once already, before it was queued. */
  data = g_bytes_get_data (message, &len);
  if (data[0] == 0xd0 || data[0] == 0xd1)
    cpns_record_peek (data, len, &hdr, NULL);
  else
    {
      CpnsPlainMessage msg;
      cpns_plain_decode (data, len, &msg, NULL);
      hdr = msg.hdr;
      path = hdr.type == CPNS_MSG_HS_INIT || hdr.type == CPNS_MSG_HS_FINISH ? "/handshake"
                                                                             : "/key";
    }
  call = g_new0 (RelayCall, 1);
  call->self = g_object_ref (self);
  call->txid = hdr.txid;
  self->relaying = TRUE;
  gw_upstream_post_async (gw_pne_manager_get_upstream (self->manager), path, message, 0,
                          work_cancellable (self), on_relayed, call);
}

static void
relay (GwPneLink *self, GBytes *frame, const CpnsHeader *hdr, gboolean plain)
{
  gboolean key_exchange = plain && (hdr->type == CPNS_MSG_KEY_REQUEST ||
                                    hdr->type == CPNS_MSG_KEY_PROOF);
  gboolean allowed = self->step == STEP_READY ||
                     (key_exchange && self->step == STEP_OWN_KEY_REQUEST);

  if (!allowed || (plain && !key_exchange && hdr->type != CPNS_MSG_HS_INIT &&
                   hdr->type != CPNS_MSG_HS_FINISH))
    {
      fail_with (self, hdr->txid, CPNS_ERROR_STATE,
                 "%s %s for the server is not relayed %s", plain ? "plain" : "record",
                 cpns_msg_type_name (hdr->type),
                 self->step == STEP_READY ? "as a plain message"
                                          : "before the PNE's session with the gateway");
      return;
    }
  if (!plain && hdr->type == CPNS_MSG_POLL)
    {
      /* A held poll would hold one of the few connections to the server;
       * what the server has for a PNE comes through our own poll. */
      send_error (self, hdr->txid, CPNS_ERROR_POLICY,
                  "POLL is not relayed: records the server has for a PNE come through "
                  "the gateway's own long poll");
      return;
    }
  if (g_queue_get_length (&self->relay) >= RELAY_QUEUE_MAX)
    {
      fail_with (self, hdr->txid, CPNS_ERROR_TOO_LARGE,
                 "more than %d messages waiting for the server", RELAY_QUEUE_MAX);
      return;
    }
  g_queue_push_tail (&self->relay, g_bytes_ref (frame));
  relay_next (self);
}

void
gw_pne_link_deliver (GwPneLink *self, GBytes *record)
{
  g_autoptr(GError) error = NULL;

  if (self->step != STEP_READY)
    {
      g_message ("PNE %s is not ready; dropped a record the server had for it",
                 peer_name (self));
      return;
    }
  if (!gw_pan_link_send (self->link, record, &error))
    gw_pne_link_close (self, error->message);
}

/* ---- the LocalEUKey ---- */

static gboolean
lookup_local_key (const char *peer_id, const guint8 *kid, gsize kid_len, CpnsPsk *psk,
                  gpointer user_data, GError **error)
{
  GwPneLink *self = user_data;
  g_autofree char *name = gw_pne_local_key_name (peer_id);
  const CpnsKeyEntry *e = cpns_keystore_lookup (
    gw_pne_manager_get_keystore (self->manager), name);

  if (e == NULL || e->kid_len != kid_len || memcmp (e->kid, kid, kid_len) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND,
                   "this gateway holds no LocalEUKey with that key ID for '%s'", peer_id);
      return FALSE;
    }
  cpns_key_entry_to_psk (e, psk);
  return TRUE;
}

static gboolean
holds_local_key (GwPneLink *self)
{
  CpnsPsk psk;
  gboolean found = self->kids->local_len > 0 &&
                   lookup_local_key (self->pne_id, self->kids->local, self->kids->local_len,
                                     &psk, self, NULL);

  cpns_wipe (&psk, sizeof psk);
  return found;
}

static void
start_local_handshake (GwPneLink *self)
{
  set_step (self, STEP_LOCAL_HANDSHAKE);
  gw_pne_set_state (self->pne, GW_PNE_PROVISIONING, NULL);
}

static void on_local_key_stored (GObject *source, GAsyncResult *result, gpointer user_data);

static void
on_local_key (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GwPneLink) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) reply = NULL;
  g_autoptr(CpnsKeyEntry) entry = NULL;
  guint64 type = 0;
  CpnsBody body;
  const guint8 *data;
  gsize len;

  reply = gw_server_link_request_finish (GW_SERVER_LINK (source), result, &type, &error);
  if (self->step == STEP_CLOSED)
    return;
  if (reply == NULL)
    {
      g_prefix_error (&error, "no LocalEUKey from the server: ");
      fail (self, 0, error);
      return;
    }
  data = g_bytes_get_data (reply, &len);
  if (type != CPNS_MSG_LOCAL_KEY_DELIVERY || !cpns_body_decode (data, len, type, &body, &error) ||
      body.local_key_delivery.pne.len != strlen (self->pne_id) ||
      memcmp (body.local_key_delivery.pne.data, self->pne_id, strlen (self->pne_id)) != 0)
    {
      fail_with (self, 0, CPNS_ERROR_MALFORMED,
                 "the server answered LOCAL_KEY_REQUEST with %s for another PNE or in "
                 "another form", cpns_msg_type_name (type));
      return;
    }
  entry = g_new0 (CpnsKeyEntry, 1);
  entry->name = gw_pne_local_key_name (self->pne_id);
  entry->kind = CPNS_KEY_LOCAL_EUKEY;
  entry->self_id = g_strdup (self->self_id);
  entry->peer_id = g_strdup (self->pne_id);
  entry->user_id = g_strdup (gw_pne_manager_get_user_id (self->manager));
  memcpy (entry->kid, body.local_key_delivery.kid.data, body.local_key_delivery.kid.len);
  entry->kid_len = body.local_key_delivery.kid.len;
  entry->key = cpns_secret_new (body.local_key_delivery.local_key.data,
                                body.local_key_delivery.local_key.len);
  entry->role = CPNS_ROLE_RESPONDER;
  entry->created = g_get_real_time () / G_USEC_PER_SEC;
  /* The key is on disk before the PNE can use it: a crash in between
   * leaves a key the PNE does not have, which a new announce replaces. */
  memcpy (self->kids->local, entry->kid, entry->kid_len);
  self->kids->local_len = entry->kid_len;
  g_clear_pointer (&self->wrapped_local_key, g_bytes_unref);
  self->wrapped_local_key = g_bytes_new (body.local_key_delivery.wrapped_for_pne.data,
                                         body.local_key_delivery.wrapped_for_pne.len);
  gw_pne_manager_store_key_async (self->manager, entry, on_local_key_stored,
                                  g_object_ref (self));
}

static void
on_local_key_stored (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GwPneLink) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) wrapped = g_steal_pointer (&self->wrapped_local_key);
  CpnsBody install = { .present = 1u << 1 | 1u << 2 };

  if (!gw_pne_manager_store_key_finish (result, &error))
    {
      if (self->step != STEP_CLOSED)
        fail (self, 0, error);
      return;
    }
  if (self->step == STEP_CLOSED)
    return;
  install.local_key_install.kid.data = self->kids->local;
  install.local_key_install.kid.len = self->kids->local_len;
  install.local_key_install.wrapped_key.data = g_bytes_get_data (wrapped, NULL);
  install.local_key_install.wrapped_key.len = g_bytes_get_size (wrapped);
  if (!send_plain (self, CPNS_MSG_LOCAL_KEY_INSTALL, 0, &install))
    return;
  start_local_handshake (self);
}

static void
request_local_key (GwPneLink *self)
{
  CpnsBody body = { .present = 1u << 1 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) encoded = NULL;
  gsize len;

  body.pne_ref.pne = CPNS_STR (self->pne_id);
  len = cpns_body_encode (CPNS_MSG_LOCAL_KEY_REQUEST, &body, scratch, sizeof scratch, &error);
  if (len == 0)
    {
      fail (self, 0, error);
      return;
    }
  encoded = g_bytes_new (scratch, len);
  set_step (self, STEP_DECIDING);
  gw_pne_set_state (self->pne, GW_PNE_PROVISIONING, NULL);
  gw_server_link_request_async (gw_pne_manager_get_server_link (self->manager),
                                CPNS_MSG_LOCAL_KEY_REQUEST, encoded, TRUE,
                                work_cancellable (self), on_local_key, g_object_ref (self));
}

/* ---- credentials (paths 2 and 3) ---- */

static void continue_with_credentials (GwPneLink *self);

typedef struct {
  GwPneLink    *self;
  GCancellable *cancellable;
} AskCall;

static void
on_credentials (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AskCall *call = user_data;
  g_autoptr(GwPneLink) self = call->self;
  g_autoptr(GCancellable) cancellable = call->cancellable;
  const GwCredentialSource *src = gw_pne_manager_get_credential_source (self->manager);
  g_autoptr(GError) error = NULL;
  g_autofree char *user_id = NULL;
  g_autoptr(CpnsSecret) password = NULL;

  g_free (call);
  if (src == NULL)
    error = g_error_new (GW_ERROR, GW_ERROR_NO_AGENT, "the agents went away");
  else
    src->request_finish (src->source, result, &user_id, &password, &error);
  /* A request replaced by a newer one (Provision while asking) is over. */
  if (cancellable != self->asking_cancellable || self->step == STEP_CLOSED)
    return;
  self->asking = FALSE;
  g_clear_object (&self->asking_cancellable);
  wipe_credentials (self);
  self->user_id = g_steal_pointer (&user_id);
  self->password = g_steal_pointer (&password);
  if (error != NULL)
    {
      g_autofree char *msg = g_strdup_printf ("no credentials for this PNE: %s; "
                                              "call Provision to ask again", error->message);
      g_message ("PNE %s: %s", self->pne_id, msg);
      gw_pne_set_state (self->pne, GW_PNE_NEEDS_CREDENTIALS, msg);
      return;
    }
  gw_pne_set_state (self->pne, GW_PNE_PROVISIONING, "");
  continue_with_credentials (self);
}

static void
ask_credentials (GwPneLink *self)
{
  const GwCredentialSource *src = gw_pne_manager_get_credential_source (self->manager);
  g_autofree char *reason = NULL;
  AskCall *call;

  if (self->asking)
    {
      /* Asked again (Provision): the new request, with the caller's own
       * agents first, replaces the one in flight. */
      g_cancellable_cancel (self->asking_cancellable);
      g_clear_object (&self->asking_cancellable);
      self->asking = FALSE;
    }
  if (src == NULL)
    {
      gw_pne_set_state (self->pne, GW_PNE_NEEDS_CREDENTIALS,
                        "no agent is registered to give the owner's User ID and password "
                        "for this PNE; register one and call Provision");
      return;
    }
  reason = g_strdup_printf (
    "PNE '%s' (%s, %s link) has no user interface: to join it, give its owner's "
    "User ID and password%s", gw_pne_get_name (self->pne), self->pne_id,
    gw_verdict_to_string (gw_pne_get_verdict (self->pne)),
    gw_pne_get_path (self->pne) == GW_PNE_PATH_INSTALL_CREDS
      ? "; they are installed into the PNE over the secure link"
      : "; the gateway requests the PNE's key with them");
  self->asking = TRUE;
  self->asking_cancellable = g_cancellable_new ();
  call = g_new0 (AskCall, 1);
  call->self = g_object_ref (self);
  call->cancellable = g_object_ref (self->asking_cancellable);
  gw_pne_set_state (self->pne, GW_PNE_NEEDS_CREDENTIALS, NULL);
  src->request_async (src->source, self->pne_id, reason, self->asking_cancellable,
                      on_credentials, call);
}

/* Path 2: both the bootstrap session and the credentials are needed. */
static void
install_credentials (GwPneLink *self)
{
  CpnsBody body = { .present = 1u << 1 | 1u << 2 };
  g_autoptr(GError) error = NULL;
  gsize len;

  if (self->bootstrap == NULL || self->password == NULL)
    return;
  body.credential_install.user_id = CPNS_STR (self->user_id);
  body.credential_install.password = CPNS_BYTES (self->password->data, self->password->len);
  len = cpns_session_seal_message (self->bootstrap, CPNS_MSG_CREDENTIAL_INSTALL, 0, TRUE,
                                   &body, scratch, sizeof scratch, &error);
  g_clear_pointer (&self->bootstrap, cpns_session_free);
  wipe_credentials (self);
  if (len == 0)
    {
      fail (self, 0, error);
      return;
    }
  if (!send_bytes (self, scratch, len))
    return;
  set_step (self, STEP_OWN_KEY_REQUEST);
}

/* ---- path 3 ---- */

static void
on_tk_delivery (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GwPneLink) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree GwTkDelivery *d = gw_tk_delivery_run_finish (result, &error);
  CpnsBody out = { .present = 1u << 1 | 1u << 2 | 1u << 3 | 1u << 4 };

  if (self->step != STEP_CLOSED && d == NULL &&
      g_error_matches (error, CPNS_ERROR, CPNS_ERROR_AUTH_FAILED))
    {
      /* Wrong password: the person may try again (Provision). */
      gw_pne_set_state (self->pne, GW_PNE_NEEDS_CREDENTIALS, error->message);
      set_step (self, STEP_DECIDING);
    }
  else if (self->step != STEP_CLOSED && d == NULL)
    fail (self, 0, error);
  else if (self->step != STEP_CLOSED)
    {
      out.eukey_tk_delivery.kid = CPNS_BYTES (d->kid, d->kid_len);
      out.eukey_tk_delivery.tk_kid = CPNS_BYTES (d->tk_kid, d->tk_kid_len);
      out.eukey_tk_delivery.wrapped_key = CPNS_BYTES (d->wrapped, d->wrapped_len);
      out.eukey_tk_delivery.user_id = CPNS_STR (self->user_id);
      if (send_plain (self, CPNS_MSG_EUKEY_TK_DELIVERY, 0, &out))
        {
          /* The PNE announces itself again with its new EUKey. */
          gw_pne_set_state (self->pne, GW_PNE_PROVISIONING, "");
          set_step (self, STEP_ANNOUNCE);
        }
    }
  if (d != NULL)
    cpns_wipe (d, sizeof *d);
  wipe_credentials (self);
}

static void
request_pne_eukey (GwPneLink *self)
{
  gw_tk_delivery_run_async (gw_pne_manager_get_upstream (self->manager),
                            gw_pne_manager_get_server_link (self->manager), self->self_id,
                            self->server_id, self->pne_id, self->user_id, self->password,
                            work_cancellable (self), on_tk_delivery, g_object_ref (self));
  /* The key request keeps a stretched copy; ours goes now. */
  g_clear_pointer (&self->password, cpns_secret_free);
}

static void
continue_with_credentials (GwPneLink *self)
{
  if (gw_pne_get_path (self->pne) == GW_PNE_PATH_INSTALL_CREDS)
    install_credentials (self);
  else if (gw_pne_get_path (self->pne) == GW_PNE_PATH_TEMPORARY_KEY)
    request_pne_eukey (self);
}

/* ---- the choice (docs/protocol.md 12.2) ---- */

static void
select_path (GwPneLink *self, CpnsPath path)
{
  CpnsBody body = { .present = 1u << 1 };

  body.path_select.path = path;
  if (path == CPNS_PATH_PNE_UI || path == CPNS_PATH_INSTALL_CREDS)
    {
      body.present |= 1u << 2;
      body.path_select.server_id = CPNS_STR (self->server_id);
    }
  send_plain (self, CPNS_MSG_PATH_SELECT, 0, &body);
}

static void
decide (GwPneLink *self)
{
  GwVerdict verdict = gw_pne_get_verdict (self->pne);

  if (!self->probed)
    {
      self->announce_pending = TRUE;
      set_step (self, STEP_DECIDING);
      return;
    }
  self->announce_pending = FALSE;
  if (!gw_pne_manager_get_enrolled (self->manager))
    {
      fail_with (self, 0, CPNS_ERROR_UNAVAILABLE,
                 "this gateway is not enrolled with a CPNS Server yet");
      return;
    }
  if (holds_local_key (self))
    {
      if (gw_pne_get_path (self->pne) == GW_PNE_PATH_NONE)
        gw_pne_set_path (self->pne, GW_PNE_PATH_EXISTING);
      select_path (self, CPNS_PATH_SESSION);
      if (self->step != STEP_CLOSED)
        start_local_handshake (self);
      return;
    }
  if (self->kids->eukey_len > 0)
    {
      if (gw_pne_get_path (self->pne) == GW_PNE_PATH_NONE)
        gw_pne_set_path (self->pne, GW_PNE_PATH_EXISTING);
      request_local_key (self);
      return;
    }
  gw_pne_set_state (self->pne, GW_PNE_PROVISIONING, "");
  if (self->has_ui)
    {
      gw_pne_set_path (self->pne, GW_PNE_PATH_PNE_UI);
      select_path (self, CPNS_PATH_PNE_UI);
      set_step (self, STEP_OWN_KEY_REQUEST);
    }
  else if (verdict == GW_VERDICT_SECURE)
    {
      gw_pne_set_path (self->pne, GW_PNE_PATH_INSTALL_CREDS);
      select_path (self, CPNS_PATH_INSTALL_CREDS);
      set_step (self, STEP_BOOTSTRAP);
      ask_credentials (self);
    }
  else if (self->has_tk)
    {
      gw_pne_set_path (self->pne, GW_PNE_PATH_TEMPORARY_KEY);
      select_path (self, CPNS_PATH_TEMPORARY_KEY);
      set_step (self, STEP_DECIDING);
      ask_credentials (self);
    }
  else
    fail_with (self, 0, CPNS_ERROR_POLICY,
               "no EUKey path fits: the PNE has no user interface, the %s link is not "
               "secure (%s) and the PNE has no Temporary Key",
               gw_transport_to_string (gw_pne_get_transport (self->pne)),
               gw_pne_get_verdict_reason (self->pne));
}

gboolean
gw_pne_link_provision (GwPneLink *self, GError **error)
{
  if (self->pne == NULL || self->step == STEP_CLOSED)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_NOT_FOUND, "the PNE is not connected");
      return FALSE;
    }
  if (gw_pne_get_state (self->pne) != GW_PNE_NEEDS_CREDENTIALS)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_BUSY, "PNE '%s' is %s, not waiting for "
                   "credentials", self->pne_id,
                   gw_pne_state_to_string (gw_pne_get_state (self->pne)));
      return FALSE;
    }
  ask_credentials (self);
  return TRUE;
}

void
gw_pne_link_credentials_available (GwPneLink *self)
{
  if (self->pne != NULL && self->step != STEP_CLOSED && !self->asking &&
      gw_pne_get_state (self->pne) == GW_PNE_NEEDS_CREDENTIALS)
    ask_credentials (self);
}

/* ---- messages from the PNE ---- */

static void
on_announce (GwPneLink *self, const CpnsPlainMessage *msg)
{
  const CpnsPneAnnounce *a = &msg->body.pne_announce;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_strndup ((const char *) a->name.data, a->name.len);

  if (self->pne == NULL)
    {
      if (strcmp (msg->hdr.dst, self->self_id) != 0 &&
          strcmp (msg->hdr.dst, CPNS_PAN_GATEWAY_ID) != 0)
        {
          fail_with (self, msg->hdr.txid, CPNS_ERROR_WRONG_ID,
                     "PNE_ANNOUNCE is for '%s', this gateway is '%s'", msg->hdr.dst,
                     self->self_id);
          return;
        }
      self->pne_id = g_strdup (msg->hdr.src);
      self->pne = gw_pne_manager_claim (self->manager, self, self->pne_id, &error);
      if (self->pne == NULL)
        {
          fail (self, msg->hdr.txid, error);
          return;
        }
      g_object_ref (self->pne);
      gw_pne_set_link (self->pne, gw_pan_link_get_transport (self->link),
                       gw_pan_link_get_address (self->link),
                       gw_pan_link_get_verdict (self->link),
                       gw_pan_link_get_verdict_reason (self->link));
    }
  self->has_ui = a->has_ui;
  self->has_tk = a->has_tk;
  if (self->kids == NULL)
    self->kids = g_new0 (Kids, 1);
  self->kids->eukey_len = a->eukey_kid.len;
  if (a->eukey_kid.len > 0)
    memcpy (self->kids->eukey, a->eukey_kid.data, a->eukey_kid.len);
  self->kids->local_len = a->local_kid.len;
  if (a->local_kid.len > 0)
    memcpy (self->kids->local, a->local_kid.data, a->local_kid.len);
  gw_pne_set_announcement (self->pne, name, a->has_ui, a->has_tk);
  gw_pne_set_state (self->pne, GW_PNE_CONNECTED, NULL);
  g_debug ("PNE %s announced '%s' (UI %d, TK %d, EUKey %d, LocalEUKey %d)", self->pne_id,
           name, a->has_ui, a->has_tk, a->eukey_kid.len > 0, a->local_kid.len > 0);
  decide (self);
}

static void
on_handshake (GwPneLink *self, GBytes *frame, const CpnsPlainMessage *msg)
{
  g_autoptr(GError) error = NULL;
  guint8 out[CPNS_HANDSHAKE_MAX];
  gsize out_len = 0;
  const guint8 *data;
  gsize len;

  if (msg->hdr.type == CPNS_MSG_HS_INIT)
    {
      CpnsPsk psk;
      CpnsPurpose purpose = self->step == STEP_BOOTSTRAP ? CPNS_PURPOSE_BOOTSTRAP
                                                          : CPNS_PURPOSE_LOCAL;
      CpnsHandshakeConfig cfg = {
        .role = CPNS_ROLE_RESPONDER, .purpose = purpose, .self_id = self->self_id,
        .peer_id = self->pne_id, .replay_mode = CPNS_REPLAY_STREAM,
      };

      if (purpose == CPNS_PURPOSE_BOOTSTRAP)
        {
          cpns_bootstrap_psk (&psk, CPNS_ROLE_RESPONDER);
          cfg.psk = &psk;
        }
      else
        {
          cfg.lookup = lookup_local_key;
          cfg.lookup_data = self;
        }
      g_clear_pointer (&self->handshake, cpns_handshake_free);
      self->handshake = cpns_handshake_new (&cfg, &error);
      cpns_wipe (&psk, sizeof psk);
      if (self->handshake == NULL)
        {
          fail (self, msg->hdr.txid, error);
          return;
        }
    }
  else if (self->handshake == NULL)
    {
      fail_with (self, msg->hdr.txid, CPNS_ERROR_STATE, "HS_FINISH without HS_INIT");
      return;
    }
  data = g_bytes_get_data (frame, &len);
  if (!cpns_handshake_receive (self->handshake, data, len, out, sizeof out, &out_len,
                               &error))
    {
      g_clear_pointer (&self->handshake, cpns_handshake_free);
      if (g_error_matches (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND))
        {
          /* A LocalEUKey we no longer hold: the PNE forgets it and
           * announces itself again (docs/protocol.md 12.5). */
          send_error (self, msg->hdr.txid, CPNS_ERROR_NOT_FOUND, error->message);
          self->kids->local_len = 0;
          set_step (self, STEP_ANNOUNCE);
          return;
        }
      fail (self, msg->hdr.txid, error);
      return;
    }
  if (out_len > 0 && !send_bytes (self, out, out_len))
    return;
  if (cpns_handshake_get_state (self->handshake) != CPNS_HANDSHAKE_DONE)
    return;
  if (self->step == STEP_BOOTSTRAP)
    {
      self->bootstrap = cpns_handshake_take_session (self->handshake);
      g_clear_pointer (&self->handshake, cpns_handshake_free);
      set_step (self, STEP_DECIDING);
      install_credentials (self);
      return;
    }
  self->session = cpns_handshake_take_session (self->handshake);
  g_clear_pointer (&self->handshake, cpns_handshake_free);
  set_step (self, STEP_READY);
  g_clear_pointer (&self->kids, g_free);
  /* Every request of the provisioning has come back; a relay may not. */
  if (!self->relaying)
    g_clear_object (&self->cancellable);
  gw_pne_set_state (self->pne, GW_PNE_READY, "");
  g_message ("PNE %s ('%s') is ready: session with suite %s", self->pne_id,
             gw_pne_get_name (self->pne),
             cpns_alg_name (cpns_session_get_suite (self->session)));
}

static void
on_local_record (GwPneLink *self, GBytes *frame)
{
  g_autoptr(GError) error = NULL;
  CpnsHeader hdr;
  CpnsBody body;
  gsize len, out_len;
  const guint8 *data = g_bytes_get_data (frame, &len);
  static guint8 plain[CPNS_MAX_BODY];

  if (self->session == NULL)
    {
      fail_with (self, 0, CPNS_ERROR_STATE, "a record before the PNE's session is up");
      return;
    }
  if (!cpns_session_open_message (self->session, data, len, &hdr, &body, plain,
                                  sizeof plain, &error))
    {
      fail (self, 0, error);
      return;
    }
  if (hdr.type == CPNS_MSG_DATA && body.data.content_type == 0)
    {
      out_len = cpns_session_seal_message (self->session, CPNS_MSG_DATA, hdr.txid,
                                           hdr.encrypted, &body, scratch, sizeof scratch,
                                           &error);
      cpns_wipe (plain, body.data.data.len + 16);
      if (out_len == 0)
        fail (self, hdr.txid, error);
      else
        send_bytes (self, scratch, out_len);
      return;
    }
  send_error (self, hdr.txid, CPNS_ERROR_UNSUPPORTED,
              "the gateway handles only DATA with content type 0 itself");
}

static void
on_frame (GwPanLink *link, GBytes *frame, gpointer user_data)
{
  GwPneLink *self = user_data;
  g_autoptr(GError) error = NULL;
  gsize len;
  const guint8 *data = g_bytes_get_data (frame, &len);
  gboolean record = len > 0 && (data[0] == 0xd0 || data[0] == 0xd1);
  CpnsPlainMessage msg;
  CpnsHeader *hdr = &msg.hdr;

  if (self->step == STEP_CLOSED)
    return;
  if (record ? !cpns_record_peek (data, len, hdr, &error)
             : !cpns_plain_decode (data, len, &msg, &error))
    {
      g_prefix_error (&error, "undecodable %s: ", record ? "record" : "message");
      fail (self, 0, error);
      return;
    }
  if (self->pne == NULL)
    {
      if (record || hdr->type != CPNS_MSG_PNE_ANNOUNCE)
        fail_with (self, hdr->txid, CPNS_ERROR_STATE,
                   "the first message on a PAN link must be PNE_ANNOUNCE, not %s",
                   cpns_msg_type_name (hdr->type));
      else
        on_announce (self, &msg);
      return;
    }
  if (strcmp (hdr->src, self->pne_id) != 0)
    {
      fail_with (self, hdr->txid, CPNS_ERROR_WRONG_ID,
                 "a message from '%s' on the link of PNE '%s'", hdr->src, self->pne_id);
      return;
    }
  if (strcmp (hdr->dst, self->server_id) == 0)
    {
      relay (self, frame, hdr, !record);
      return;
    }
  if (strcmp (hdr->dst, self->self_id) != 0)
    {
      fail_with (self, hdr->txid, CPNS_ERROR_WRONG_ID,
                 "nothing is reachable as '%s' through this gateway", hdr->dst);
      return;
    }
  if (record)
    {
      if (self->step != STEP_READY)
        fail_with (self, hdr->txid, CPNS_ERROR_STATE, "a record before the session is up");
      else
        on_local_record (self, frame);
      return;
    }
  switch (hdr->type)
    {
    case CPNS_MSG_PNE_ANNOUNCE:
      if (self->step == STEP_ANNOUNCE || self->step == STEP_OWN_KEY_REQUEST)
        {
          on_announce (self, &msg);
          return;
        }
      break;
    case CPNS_MSG_HS_INIT:
    case CPNS_MSG_HS_FINISH:
      if (self->step == STEP_LOCAL_HANDSHAKE ||
          (self->step == STEP_BOOTSTRAP && self->bootstrap == NULL))
        {
          on_handshake (self, frame, &msg);
          return;
        }
      break;
    case CPNS_MSG_ERROR:
      {
        g_autofree char *reason = g_strndup ((const char *) msg.body.error.reason.data,
                                             msg.body.error.reason.len);
        g_autofree char *text = g_strdup_printf ("the PNE gave up: %s (%s)", reason,
                                                 cpns_error_code_to_string (msg.body.error.code));
        g_message ("PNE %s: %s", self->pne_id, text);
        gw_pne_set_state (self->pne, GW_PNE_FAILED, text);
        gw_pne_link_close (self, text);
        return;
      }
    default:
      break;
    }
  fail_with (self, hdr->txid, CPNS_ERROR_STATE, "%s is not expected now",
             cpns_msg_type_name (hdr->type));
}

/* ---- the link ---- */

static void
on_probed (GwPneLink *self)
{
  self->probed = TRUE;
  if (self->pne != NULL)
    gw_pne_set_link (self->pne, gw_pan_link_get_transport (self->link),
                     gw_pan_link_get_address (self->link),
                     gw_pan_link_get_verdict (self->link),
                     gw_pan_link_get_verdict_reason (self->link));
  if (self->announce_pending && self->step != STEP_CLOSED)
    decide (self);
}

static void
on_probe_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GwPneLink) self = user_data;

  gw_pne_manager_probe_finish (self->manager, self->link, result);
  if (self->step != STEP_CLOSED)
    on_probed (self);
}

static void
on_closed (GwPanLink *link, const char *reason, gpointer user_data)
{
  gw_pne_link_close (GW_PNE_LINK (user_data), reason);
}

static const GwPanLinkConsumer pan_link_consumer = { on_frame, on_closed };

void
gw_pne_link_close (GwPneLink *self, const char *reason)
{
  if (self->step == STEP_CLOSED)
    return;
  g_object_ref (self);
  self->step = STEP_CLOSED;
  g_clear_handle_id (&self->step_timer, g_source_remove);
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  if (self->asking_cancellable != NULL)
    g_cancellable_cancel (self->asking_cancellable);
  wipe_credentials (self);
  g_clear_pointer (&self->handshake, cpns_handshake_free);
  g_clear_pointer (&self->bootstrap, cpns_session_free);
  g_clear_pointer (&self->session, cpns_session_free);
  g_queue_clear_full (&self->relay, (GDestroyNotify) g_bytes_unref);
  gw_pan_link_close (self->link, reason);
  gw_pan_link_set_consumer (self->link, NULL, NULL);
  gw_pne_manager_link_closed (self->manager, self, reason);
  g_object_unref (self);
}

void
gw_pne_link_start (GwPneLink *self)
{
  set_step (self, STEP_ANNOUNCE);
  if (!gw_pne_manager_probe_async (self->manager, self->link, work_cancellable (self),
                                   on_probe_done, g_object_ref (self)))
    {
      g_object_unref (self);
      on_probed (self);
    }
}

GwPneLink *
gw_pne_link_new (GwPneManager *manager, GwPanLink *link)
{
  GwPneLink *self = g_object_new (GW_TYPE_PNE_LINK, NULL);

  self->manager = manager;
  self->link = g_object_ref (link);
  self->self_id = gw_pne_manager_get_config (manager)->entity_id;
  self->server_id = gw_pne_manager_get_config (manager)->server_id;
  gw_pan_link_set_consumer (link, &pan_link_consumer, self);
  return self;
}

static void
gw_pne_link_dispose (GObject *object)
{
  GwPneLink *self = GW_PNE_LINK (object);

  if (self->step != STEP_CLOSED && self->link != NULL)
    gw_pne_link_close (self, "the gateway is stopping");
  g_clear_object (&self->pne);
  if (self->link != NULL)
    gw_pan_link_set_consumer (self->link, NULL, NULL);
  g_clear_object (&self->link);
  G_OBJECT_CLASS (gw_pne_link_parent_class)->dispose (object);
}

static void
gw_pne_link_finalize (GObject *object)
{
  GwPneLink *self = GW_PNE_LINK (object);

  wipe_credentials (self);
  g_clear_pointer (&self->handshake, cpns_handshake_free);
  g_clear_pointer (&self->bootstrap, cpns_session_free);
  g_clear_pointer (&self->session, cpns_session_free);
  g_queue_clear_full (&self->relay, (GDestroyNotify) g_bytes_unref);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->asking_cancellable);
  g_free (self->kids);
  g_clear_pointer (&self->wrapped_local_key, g_bytes_unref);
  g_free (self->pne_id);
  G_OBJECT_CLASS (gw_pne_link_parent_class)->finalize (object);
}

static void
gw_pne_link_class_init (GwPneLinkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gw_pne_link_dispose;
  object_class->finalize = gw_pne_link_finalize;
}

static void
gw_pne_link_init (GwPneLink *self)
{
  g_queue_init (&self->relay);
}
