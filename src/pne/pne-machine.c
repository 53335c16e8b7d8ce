/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "pne-machine.h"

#include <string.h>

#include "cpns-error.h"
#include "cpns-key-client.h"
#include "cpns-session.h"
#include "cpns-wrap.h"

struct _PneMachine {
  PneState       state;
  char           self_id[CPNS_ID_MAX + 1];
  char           name[CPNS_ID_MAX + 1];
  gboolean       has_ui;
  char           gateway_id[CPNS_ID_MAX + 1];   /* "" until learnt */
  char           server_id[CPNS_ID_MAX + 1];
  char           config_server_id[CPNS_ID_MAX + 1];
  CpnsRandomFunc random;
  gpointer       random_data;
  CpnsKeystore  *keystore;

  guint64        path;           /* how the EUKey came in this run */
  gboolean       path_taken;
  /* Paths 1 and 2 */
  CpnsKeyClient *key_client;
  gboolean       key_answered;   /* KEY_PROOF sent, waiting for KEY_DELIVERY */
  char          *user_id;
  /* Handshakes and sessions */
  CpnsHandshake *handshake;      /* bootstrap or local */
  CpnsSession   *bootstrap;
  CpnsSession   *local;
  CpnsHandshake *server_handshake;
  CpnsSession   *server;
  guint64        server_hs_txid;
  guint64        next_txid;

  GQueue         outputs;        /* GBytes */
  GQueue         events;         /* PneEvent */
};

/* ---- names ---- */

const char *
pne_state_name (PneState state)
{
  static const char *const names[] = {
    "new", "announced", "need-credentials", "key-request", "bootstrap",
    "wait-credentials", "wait-eukey", "local-handshake", "ready", "failed",
  };
  return state < G_N_ELEMENTS (names) ? names[state] : "?";
}

const char *
pne_event_type_name (PneEventType type)
{
  static const char *const names[] = {
    "path-selected", "need-credentials", "key-stored", "key-forgotten", "ready",
    "server-ready", "server-lost", "data", "ack", "refused",
  };
  return type < G_N_ELEMENTS (names) ? names[type] : "?";
}

void
pne_event_free (PneEvent *event)
{
  if (event == NULL)
    return;
  g_free (event->reason);
  g_clear_pointer (&event->data, g_bytes_unref);
  g_free (event);
}

/* ---- helpers ---- */

static PneEvent *
push_event (PneMachine *m, PneEventType type, const char *from)
{
  PneEvent *ev = g_new0 (PneEvent, 1);

  ev->type = type;
  g_strlcpy (ev->from, from != NULL ? from : "", sizeof ev->from);
  g_queue_push_tail (&m->events, ev);
  return ev;
}

static void
push_output (PneMachine *m, const guint8 *data, gsize len)
{
  g_queue_push_tail (&m->outputs, g_bytes_new (data, len));
}

static gboolean
fail (PneMachine *m)
{
  m->state = PNE_STATE_FAILED;
  g_clear_pointer (&m->key_client, cpns_key_client_free);
  g_clear_pointer (&m->handshake, cpns_handshake_free);
  g_clear_pointer (&m->bootstrap, cpns_session_free);
  g_clear_pointer (&m->server_handshake, cpns_handshake_free);
  return FALSE;
}

static guint64
take_txid (PneMachine *m)
{
  return m->next_txid++;
}

static char *
local_entry_name (const char *gateway_id)
{
  return g_strconcat (PNE_ENTRY_LOCAL_PREFIX, gateway_id, NULL);
}

/* Our entries only: a keystore may be shared with tools that keep more. */
static const CpnsKeyEntry *
lookup (PneMachine *m, const char *name, CpnsKeyKind kind)
{
  const CpnsKeyEntry *e = cpns_keystore_lookup (m->keystore, name);

  if (e == NULL || e->kind != kind || strcmp (e->self_id, m->self_id) != 0)
    return NULL;
  return e;
}

/* The LocalEUKey we would use with @gateway_id (or, while the PN GW is
 * unknown, the newest one we hold: announcing its kid costs nothing, since
 * a PN GW without that key just installs a new one). */
static const CpnsKeyEntry *
lookup_local (PneMachine *m, const char *gateway_id)
{
  g_auto(GStrv) names = NULL;
  const CpnsKeyEntry *best = NULL;

  if (gateway_id[0] != '\0')
    {
      g_autofree char *name = local_entry_name (gateway_id);
      const CpnsKeyEntry *e = lookup (m, name, CPNS_KEY_LOCAL_EUKEY);
      return e != NULL && strcmp (e->peer_id, gateway_id) == 0 ? e : NULL;
    }
  names = cpns_keystore_list (m->keystore);
  for (guint i = 0; names[i] != NULL; i++)
    {
      const CpnsKeyEntry *e;
      if (!g_str_has_prefix (names[i], PNE_ENTRY_LOCAL_PREFIX))
        continue;
      e = lookup (m, names[i], CPNS_KEY_LOCAL_EUKEY);
      if (e != NULL && (best == NULL || e->created > best->created))
        best = e;
    }
  return best;
}

/* Sets @entry (or removes @remove_name) and saves; on failure the store in
 * memory is put back as it was, so a key is either kept for good or not at
 * all. */
static gboolean
commit (PneMachine *m, const CpnsKeyEntry *entry, const char *remove_name, GError **error)
{
  const char *name = entry != NULL ? entry->name : remove_name;
  const CpnsKeyEntry *old = cpns_keystore_lookup (m->keystore, name);
  g_autoptr(CpnsKeyEntry) saved = old != NULL ? cpns_key_entry_copy (old) : NULL;

  if (entry != NULL)
    {
      if (!cpns_keystore_set (m->keystore, entry, error))
        return FALSE;
    }
  else if (!cpns_keystore_remove (m->keystore, remove_name))
    return TRUE;
  if (cpns_keystore_save (m->keystore, error))
    return TRUE;
  if (saved != NULL)
    cpns_keystore_set (m->keystore, saved, NULL);
  else
    cpns_keystore_remove (m->keystore, name);
  g_prefix_error (error, "cannot keep the key: ");
  return FALSE;
}

static CpnsKeyEntry *
new_entry (PneMachine *m, const char *name, CpnsKeyKind kind, const char *peer,
           const char *user_id, const guint8 *kid, gsize kid_len, const CpnsSecret *key)
{
  CpnsKeyEntry *e = g_new0 (CpnsKeyEntry, 1);

  e->name = g_strdup (name);
  e->kind = kind;
  e->self_id = g_strdup (m->self_id);
  e->peer_id = g_strdup (peer);
  e->user_id = g_strdup (user_id);
  memcpy (e->kid, kid, kid_len);
  e->kid_len = kid_len;
  e->key = cpns_secret_new (key->data, key->len);
  e->role = CPNS_ROLE_INITIATOR;
  /* Microseconds would not fit the format; ties are broken by name. */
  e->created = g_get_real_time () / G_USEC_PER_SEC;
  return e;
}

static void
key_event (PneMachine *m, PneEventType type, const CpnsKeyEntry *e)
{
  PneEvent *ev = push_event (m, type, e->peer_id);

  ev->kind = e->kind;
  memcpy (ev->kid, e->kid, e->kid_len);
  ev->kid_len = e->kid_len;
}

static gboolean
forget (PneMachine *m, const char *name, GError **error)
{
  const CpnsKeyEntry *e = cpns_keystore_lookup (m->keystore, name);
  g_autoptr(CpnsKeyEntry) copy = e != NULL ? cpns_key_entry_copy (e) : NULL;

  if (copy == NULL)
    return TRUE;
  if (!commit (m, NULL, name, error))
    return FALSE;
  key_event (m, PNE_EVENT_KEY_FORGOTTEN, copy);
  return TRUE;
}

static gboolean
send_plain (PneMachine *m, const char *dst, guint64 type, guint64 txid,
            const CpnsBody *body, GError **error)
{
  CpnsHeader hdr = { .version = CPNS_VERSION, .type = type, .txid = txid };
  guint8 buf[1024];
  gsize len;

  if (!cpns_header_set_ids (&hdr, m->self_id, dst, error))
    return FALSE;
  len = cpns_plain_encode (&hdr, body, NULL, 0, buf, sizeof buf, error);
  if (len == 0)
    return FALSE;
  push_output (m, buf, len);
  return TRUE;
}

static const char *
gateway_or_pan (PneMachine *m)
{
  return m->gateway_id[0] != '\0' ? m->gateway_id : CPNS_PAN_GATEWAY_ID;
}

static gboolean
announce (PneMachine *m, GError **error)
{
  CpnsBody body = { .present = 1u << 1 | 1u << 2 | 1u << 3 };
  CpnsPneAnnounce *a = &body.pne_announce;
  const CpnsKeyEntry *tk = lookup (m, PNE_ENTRY_TK, CPNS_KEY_TEMPORARY);
  const CpnsKeyEntry *eukey = lookup (m, PNE_ENTRY_EUKEY, CPNS_KEY_EUKEY);
  const CpnsKeyEntry *local = lookup_local (m, m->gateway_id);

  a->name = CPNS_STR (m->name);
  a->has_ui = m->has_ui;
  a->has_tk = tk != NULL;
  if (tk != NULL)
    {
      a->tk_kid = CPNS_BYTES (tk->kid, tk->kid_len);
      body.present |= 1u << 4;
    }
  if (eukey != NULL)
    {
      a->eukey_kid = CPNS_BYTES (eukey->kid, eukey->kid_len);
      body.present |= 1u << 5;
    }
  if (local != NULL)
    {
      a->local_kid = CPNS_BYTES (local->kid, local->kid_len);
      body.present |= 1u << 6;
    }
  if (!send_plain (m, gateway_or_pan (m), CPNS_MSG_PNE_ANNOUNCE, take_txid (m), &body,
                   error))
    return FALSE;
  m->state = PNE_STATE_ANNOUNCED;
  return TRUE;
}

/* ---- construction ---- */

static gboolean
copy_id (char *dst, const char *id, const char *what, GError **error)
{
  if (id == NULL || !cpns_entity_id_is_valid (id, strlen (id)))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "%s '%s' is not a valid Entity ID (1-64 of A-Z a-z 0-9 . _ - : @)",
                   what, id != NULL ? id : "");
      return FALSE;
    }
  g_strlcpy (dst, id, CPNS_ID_MAX + 1);
  return TRUE;
}

PneMachine *
pne_machine_new (const PneConfig *config, CpnsKeystore *keystore, GError **error)
{
  g_autoptr(PneMachine) m = g_new0 (PneMachine, 1);
  const char *name = config->name != NULL ? config->name : config->entity_id;
  guint8 r[4];

  g_queue_init (&m->outputs);
  g_queue_init (&m->events);
  if (!copy_id (m->self_id, config->entity_id, "PNE Entity ID", error) ||
      !copy_id (m->config_server_id, config->server_id != NULL ? config->server_id
                                                              : PNE_DEFAULT_SERVER_ID,
                "server Entity ID", error))
    return NULL;
  if (strcmp (m->self_id, CPNS_PAN_GATEWAY_ID) == 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "'%s' is reserved for the PN GW of a link", CPNS_PAN_GATEWAY_ID);
      return NULL;
    }
  if (config->gateway_id != NULL &&
      !copy_id (m->gateway_id, config->gateway_id, "PN GW Entity ID", error))
    return NULL;
  if (name == NULL || name[0] == '\0' || strlen (name) > 64 ||
      !g_utf8_validate (name, -1, NULL))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "the PNE's name must be 1-64 bytes of UTF-8");
      return NULL;
    }
  if (keystore == NULL)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT, "no keystore");
      return NULL;
    }
  g_strlcpy (m->name, name, sizeof m->name);
  g_strlcpy (m->server_id, m->config_server_id, sizeof m->server_id);
  m->has_ui = config->has_ui;
  m->random = config->random;
  m->random_data = config->random_data;
  m->keystore = keystore;
  if (!cpns_random (r, sizeof r, error))
    return NULL;
  /* Transaction IDs only need to differ between concurrent exchanges. */
  m->next_txid = (((guint32) r[0] << 16 | r[1] << 8 | r[2]) & 0xffffff) + 1;
  return g_steal_pointer (&m);
}

void
pne_machine_free (PneMachine *m)
{
  if (m == NULL)
    return;
  cpns_key_client_free (m->key_client);
  cpns_handshake_free (m->handshake);
  cpns_session_free (m->bootstrap);
  cpns_session_free (m->local);
  cpns_handshake_free (m->server_handshake);
  cpns_session_free (m->server);
  g_free (m->user_id);
  g_queue_clear_full (&m->outputs, (GDestroyNotify) g_bytes_unref);
  g_queue_clear_full (&m->events, (GDestroyNotify) pne_event_free);
  cpns_wipe (m, sizeof *m);
  g_free (m);
}

gboolean
pne_machine_start (PneMachine *m, GError **error)
{
  if (m->state != PNE_STATE_NEW)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE, "the PNE has already started");
      return FALSE;
    }
  return announce (m, error);
}

GBytes *
pne_machine_next_output (PneMachine *m)
{
  return g_queue_pop_head (&m->outputs);
}

PneEvent *
pne_machine_next_event (PneMachine *m)
{
  return g_queue_pop_head (&m->events);
}

PneState
pne_machine_get_state (PneMachine *m)
{
  return m->state;
}

const char *
pne_machine_get_gateway_id (PneMachine *m)
{
  return m->gateway_id[0] != '\0' && m->state != PNE_STATE_NEW ? m->gateway_id : NULL;
}

const char *
pne_machine_get_server_id (PneMachine *m)
{
  const CpnsKeyEntry *eukey = lookup (m, PNE_ENTRY_EUKEY, CPNS_KEY_EUKEY);

  return eukey != NULL ? eukey->peer_id : m->server_id;
}

const char *
pne_machine_get_entity_id (PneMachine *m)
{
  return m->self_id;
}

gboolean
pne_machine_has_server_session (PneMachine *m)
{
  return m->server != NULL;
}

gboolean
pne_machine_server_pending (PneMachine *m)
{
  return m->server != NULL || m->server_handshake != NULL;
}

/* ---- handshakes ---- */

static gboolean
start_handshake (PneMachine *m, CpnsPurpose purpose, const char *peer, const CpnsPsk *psk,
                 CpnsReplayMode replay, CpnsHandshake **out, GError **error)
{
  CpnsHandshakeConfig cfg = {
    .role = CPNS_ROLE_INITIATOR,
    .purpose = purpose,
    .self_id = m->self_id,
    .peer_id = peer,
    .psk = psk,
    .replay_mode = replay,
    .txid = take_txid (m),
    .random = m->random,
    .random_data = m->random_data,
  };
  g_autoptr(CpnsHandshake) hs = cpns_handshake_new (&cfg, error);
  guint8 buf[CPNS_HANDSHAKE_MAX];
  gsize len;

  if (hs == NULL || !cpns_handshake_start (hs, buf, sizeof buf, &len, error))
    return FALSE;
  push_output (m, buf, len);
  *out = g_steal_pointer (&hs);
  return TRUE;
}

static gboolean
start_local_handshake (PneMachine *m, GError **error)
{
  const CpnsKeyEntry *e = lookup_local (m, m->gateway_id);
  CpnsPsk psk;
  gboolean ok;

  if (e == NULL)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND,
                   "PN GW '%s' chose path 0, but this PNE holds no LocalEUKey for it",
                   m->gateway_id);
      return FALSE;
    }
  cpns_key_entry_to_psk (e, &psk);
  ok = start_handshake (m, CPNS_PURPOSE_LOCAL, m->gateway_id, &psk, CPNS_REPLAY_STREAM,
                        &m->handshake, error);
  cpns_wipe (&psk, sizeof psk);
  if (ok)
    m->state = PNE_STATE_LOCAL_HANDSHAKE;
  return ok;
}

/* Checks what the handshake would reject anyway, so that a stray message
 * leaves the running handshake alone instead of failing it. */
static gboolean
check_reply (CpnsHandshake *hs, const CpnsPlainMessage *msg, const char *peer,
             GError **error)
{
  if (msg->hdr.type != CPNS_MSG_HS_RESP)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "expected HS_RESP from '%s', got %s", peer,
                   cpns_msg_type_name (msg->hdr.type));
      return FALSE;
    }
  if (strcmp (msg->hdr.src, peer) != 0 ||
      msg->hdr.txid != cpns_handshake_get_txid (hs))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "HS_RESP from '%s' in transaction %" G_GUINT64_FORMAT
                   " does not answer our HS_INIT to '%s'", msg->hdr.src, msg->hdr.txid,
                   peer);
      return FALSE;
    }
  return TRUE;
}

/* HS_RESP in, HS_FINISH out; the session on success. */
static CpnsSession *
finish_handshake (PneMachine *m, CpnsHandshake *hs, const guint8 *in, gsize len,
                  GError **error)
{
  guint8 buf[CPNS_HANDSHAKE_MAX];
  gsize out_len;

  if (!cpns_handshake_receive (hs, in, len, buf, sizeof buf, &out_len, error))
    return NULL;
  if (cpns_handshake_get_state (hs) != CPNS_HANDSHAKE_DONE || out_len == 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE, "handshake did not complete");
      return NULL;
    }
  push_output (m, buf, out_len);
  return cpns_handshake_take_session (hs);
}

/* ---- Key Request (paths 1 and 2) ---- */

static gboolean
start_key_request (PneMachine *m, const char *user_id, const guint8 *password,
                   gsize password_len, GError **error)
{
  g_autoptr(CpnsKeyClient) c = NULL;
  guint8 buf[1024];
  gsize len;

  if (user_id == NULL || user_id[0] == '\0' || strlen (user_id) > CPNS_USER_ID_MAX ||
      !g_utf8_validate (user_id, -1, NULL))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "a User ID is 1-%d bytes of UTF-8", CPNS_USER_ID_MAX);
      return FALSE;
    }
  if (password == NULL || password_len == 0 || password_len > 256)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "a password is 1-256 bytes");
      return FALSE;
    }
  c = cpns_key_client_new (m->self_id, m->server_id, NULL, user_id, password,
                           password_len, error);
  if (c == NULL)
    return FALSE;
  len = cpns_key_client_request (c, buf, sizeof buf, error);
  if (len == 0)
    return FALSE;
  push_output (m, buf, len);
  g_clear_pointer (&m->key_client, cpns_key_client_free);
  m->key_client = g_steal_pointer (&c);
  m->key_answered = FALSE;
  g_free (m->user_id);
  m->user_id = g_strdup (user_id);
  m->state = PNE_STATE_KEY_REQUEST;
  return TRUE;
}

gboolean
pne_machine_set_credentials (PneMachine *m, const char *user_id, const guint8 *password,
                             gsize password_len, GError **error)
{
  if (m->state != PNE_STATE_NEED_CREDENTIALS)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "the PNE is not waiting for credentials (state %s)",
                   pne_state_name (m->state));
      return FALSE;
    }
  return start_key_request (m, user_id, password, password_len, error);
}

static gboolean
store_eukey (PneMachine *m, const CpnsSecret *key, const guint8 *kid, gsize kid_len,
             const char *user_id, GError **error)
{
  g_autoptr(CpnsKeyEntry) e = new_entry (m, PNE_ENTRY_EUKEY, CPNS_KEY_EUKEY, m->server_id,
                                         user_id, kid, kid_len, key);

  if (!commit (m, e, NULL, error))
    return FALSE;
  key_event (m, PNE_EVENT_KEY_STORED, e);
  return TRUE;
}

static void
refused (PneMachine *m, const char *from, guint code, const char *reason)
{
  PneEvent *ev = push_event (m, PNE_EVENT_REFUSED, from);

  ev->code = code;
  ev->reason = g_strdup (reason);
}

/* KEY_DELIVERY's refusal as an event, so a caller can tell a server's "no"
 * from a local failure. */
static void
key_refused (PneMachine *m, const GError *e)
{
  if (e->domain == CPNS_ERROR &&
      (e->code == CPNS_ERROR_AUTH_FAILED || e->code == CPNS_ERROR_RATE_LIMITED ||
       e->code == CPNS_ERROR_FORBIDDEN))
    refused (m, m->server_id, e->code, e->message);
}

static gboolean
on_key_message (PneMachine *m, const CpnsPlainMessage *msg, const guint8 *in, gsize len,
                GError **error)
{
  guint64 expected = m->key_answered ? CPNS_MSG_KEY_DELIVERY : CPNS_MSG_KEY_CHALLENGE;
  g_autoptr(GError) local = NULL;
  guint8 buf[1024];
  gsize out_len;

  if (msg->hdr.type != expected)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "expected %s from '%s', got %s", cpns_msg_type_name (expected),
                   m->server_id, cpns_msg_type_name (msg->hdr.type));
      return FALSE;
    }
  if (strcmp (msg->hdr.src, m->server_id) != 0 ||
      msg->hdr.txid != cpns_key_client_get_txid (m->key_client))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "%s from '%s' in transaction %" G_GUINT64_FORMAT
                   " is not the answer to our Key Request to '%s'",
                   cpns_msg_type_name (msg->hdr.type), msg->hdr.src, msg->hdr.txid,
                   m->server_id);
      return FALSE;
    }
  if (!m->key_answered)
    {
      out_len = cpns_key_client_answer (m->key_client, in, len, buf, sizeof buf, error);
      if (out_len == 0)
        return fail (m);
      push_output (m, buf, out_len);
      m->key_answered = TRUE;
      return TRUE;
    }
  if (!cpns_key_client_accept (m->key_client, in, len, &local))
    {
      g_clear_pointer (&m->key_client, cpns_key_client_free);
      key_refused (m, local);
      /* A person can type the password again; an installed one stays wrong. */
      if (m->path == CPNS_PATH_PNE_UI && m->has_ui &&
          g_error_matches (local, CPNS_ERROR, CPNS_ERROR_AUTH_FAILED))
        {
          m->state = PNE_STATE_NEED_CREDENTIALS;
          push_event (m, PNE_EVENT_NEED_CREDENTIALS, m->server_id)->retry = TRUE;
          return TRUE;
        }
      g_propagate_error (error, g_steal_pointer (&local));
      return fail (m);
    }
  {
    const CpnsSecret *key = cpns_key_client_get_key (m->key_client);
    gsize kid_len;
    const guint8 *kid = cpns_key_client_get_kid (m->key_client, &kid_len);
    gboolean ok = store_eukey (m, key, kid, kid_len, m->user_id, error);

    /* The key client holds the last copy of the key and of the password's
     * derivatives: gone either way. */
    g_clear_pointer (&m->key_client, cpns_key_client_free);
    if (!ok)
      return fail (m);
  }
  return announce (m, error) || fail (m);
}

/* ---- plain messages from the PN GW ---- */

static gboolean
on_path_select (PneMachine *m, const CpnsPlainMessage *msg, GError **error)
{
  const CpnsPathSelect *ps = &msg->body.path_select;
  char server_id[CPNS_ID_MAX + 1] = "";

  if (ps->path == CPNS_PATH_PNE_UI || ps->path == CPNS_PATH_INSTALL_CREDS)
    {
      if (ps->server_id.len == 0 ||
          !cpns_entity_id_is_valid ((const char *) ps->server_id.data, ps->server_id.len))
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                       "PATH_SELECT %" G_GUINT64_FORMAT " lacks a valid server ID",
                       ps->path);
          return FALSE;
        }
      memcpy (server_id, ps->server_id.data, ps->server_id.len);
      server_id[ps->server_id.len] = '\0';
      if (strcmp (server_id, m->self_id) == 0 || strcmp (server_id, msg->hdr.src) == 0)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                       "PATH_SELECT names '%s' as the server", server_id);
          return FALSE;
        }
    }
  switch (ps->path)
    {
    case CPNS_PATH_SESSION:
      if (lookup_local (m, msg->hdr.src) == NULL)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND,
                       "PN GW '%s' chose path 0, but this PNE holds no LocalEUKey for it",
                       msg->hdr.src);
          return FALSE;
        }
      break;
    case CPNS_PATH_PNE_UI:
      if (!m->has_ui)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_POLICY,
                       "PN GW chose path 1, but this PNE has no UI");
          return FALSE;
        }
      break;
    case CPNS_PATH_INSTALL_CREDS:
      break;
    case CPNS_PATH_TEMPORARY_KEY:
      if (lookup (m, PNE_ENTRY_TK, CPNS_KEY_TEMPORARY) == NULL)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_POLICY,
                       "PN GW chose path 3, but this PNE has no Temporary Key");
          return FALSE;
        }
      break;
    default:
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED,
                   "PATH_SELECT names unknown path %" G_GUINT64_FORMAT, ps->path);
      return FALSE;
    }
  if (ps->path != CPNS_PATH_SESSION && lookup (m, PNE_ENTRY_EUKEY, CPNS_KEY_EUKEY) != NULL)
    {
      /* We announced an EUKey; choosing a path to a new one is the PN GW's
       * mistake, and following it would replace a working key. */
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "PN GW chose path %" G_GUINT64_FORMAT " although this PNE holds an "
                   "EUKey", ps->path);
      return FALSE;
    }

  /* Accepted: from here on the PN GW is known. */
  g_strlcpy (m->gateway_id, msg->hdr.src, sizeof m->gateway_id);
  push_event (m, PNE_EVENT_PATH_SELECTED, m->gateway_id)->path = ps->path;
  if (ps->path != CPNS_PATH_SESSION)
    {
      m->path = ps->path;
      m->path_taken = TRUE;
    }
  switch (ps->path)
    {
    case CPNS_PATH_SESSION:
      return start_local_handshake (m, error) || fail (m);
    case CPNS_PATH_PNE_UI:
      g_strlcpy (m->server_id, server_id, sizeof m->server_id);
      m->state = PNE_STATE_NEED_CREDENTIALS;
      push_event (m, PNE_EVENT_NEED_CREDENTIALS, m->server_id);
      return TRUE;
    case CPNS_PATH_INSTALL_CREDS:
      {
        CpnsPsk psk;
        gboolean ok;

        g_strlcpy (m->server_id, server_id, sizeof m->server_id);
        cpns_bootstrap_psk (&psk, CPNS_ROLE_INITIATOR);
        ok = start_handshake (m, CPNS_PURPOSE_BOOTSTRAP, m->gateway_id, &psk,
                              CPNS_REPLAY_STREAM, &m->handshake, error);
        if (!ok)
          return fail (m);
        m->state = PNE_STATE_BOOTSTRAP;
        return TRUE;
      }
    default:
      g_strlcpy (m->server_id, m->config_server_id, sizeof m->server_id);
      m->state = PNE_STATE_WAIT_EUKEY;
      return TRUE;
    }
}

static gboolean
on_eukey_tk_delivery (PneMachine *m, const CpnsPlainMessage *msg, GError **error)
{
  const CpnsEukeyTkDelivery *d = &msg->body.eukey_tk_delivery;
  const CpnsKeyEntry *tk = lookup (m, PNE_ENTRY_TK, CPNS_KEY_TEMPORARY);
  g_autofree char *user_id = g_strndup ((const char *) d->user_id.data, d->user_id.len);
  g_autoptr(CpnsSecret) eukey = NULL;
  CpnsWrapBinding binding;

  if (tk == NULL || d->tk_kid.len != tk->kid_len ||
      memcmp (d->tk_kid.data, tk->kid, tk->kid_len) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND,
                   "EUKEY_TK_DELIVERY names a Temporary Key this PNE does not hold");
      return fail (m);
    }
  if (d->user_id.len == 0 || strlen (user_id) != d->user_id.len)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "EUKEY_TK_DELIVERY carries an empty or invalid User ID");
      return fail (m);
    }
  binding = (CpnsWrapBinding) { m->gateway_id, m->self_id, user_id, d->kid.data,
                                d->kid.len };
  eukey = cpns_wrap_open (CPNS_WRAP_EUKEY_TK, tk->key->data, tk->key->len, &binding,
                          d->wrapped_key.data, d->wrapped_key.len, error);
  if (eukey == NULL)
    {
      g_prefix_error (error, "EUKey from PN GW '%s' does not open with our Temporary "
                      "Key: ", m->gateway_id);
      return fail (m);
    }
  if (eukey->len != 32)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "EUKey from PN GW '%s' has %" G_GSIZE_FORMAT " bytes, not 32",
                   m->gateway_id, eukey->len);
      return fail (m);
    }
  if (!store_eukey (m, eukey, d->kid.data, d->kid.len, user_id, error))
    return fail (m);
  return announce (m, error) || fail (m);
}

static gboolean
on_local_key_install (PneMachine *m, const CpnsPlainMessage *msg, GError **error)
{
  const CpnsLocalKeyInstall *li = &msg->body.local_key_install;
  const CpnsKeyEntry *eukey = lookup (m, PNE_ENTRY_EUKEY, CPNS_KEY_EUKEY);
  const char *gw = msg->hdr.src;
  g_autoptr(CpnsSecret) key = NULL;
  g_autoptr(CpnsKeyEntry) entry = NULL;
  g_autoptr(GError) local = NULL;
  g_autofree char *name = NULL;
  CpnsWrapBinding binding = { gw, m->self_id, "", li->kid.data, li->kid.len };

  if (eukey == NULL)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "LOCAL_KEY_INSTALL from '%s', but this PNE holds no EUKey", gw);
      return FALSE;
    }
  key = cpns_wrap_open (CPNS_WRAP_LOCAL_EUKEY, eukey->key->data, eukey->key->len,
                        &binding, li->wrapped_key.data, li->wrapped_key.len, &local);
  if (key != NULL && key->len != 32)
    {
      g_clear_pointer (&key, cpns_secret_free);
      g_set_error (&local, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "the LocalEUKey is not 32 bytes");
    }
  if (key == NULL)
    {
      CpnsBody body = { .present = 1u << 1 | 1u << 2 };

      /* The server has issued another EUKey since ours (section 12.5): this
       * one is useless, and announcing it again would loop. */
      g_strlcpy (m->gateway_id, gw, sizeof m->gateway_id);
      body.error.code = CPNS_ERROR_BAD_MAC;
      body.error.reason = CPNS_STR ("LocalEUKey does not open with this PNE's EUKey");
      send_plain (m, gw, CPNS_MSG_ERROR, msg->hdr.txid, &body, NULL);
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC,
                   "LocalEUKey from PN GW '%s' does not open with our EUKey (%s); "
                   "EUKey forgotten", gw, local->message);
      {
        g_autoptr(GError) forget_error = NULL;
        if (!forget (m, PNE_ENTRY_EUKEY, &forget_error))
          g_prefix_error (error, "%s; ", forget_error->message);
      }
      return fail (m);
    }
  g_strlcpy (m->gateway_id, gw, sizeof m->gateway_id);
  name = local_entry_name (gw);
  entry = new_entry (m, name, CPNS_KEY_LOCAL_EUKEY, gw, NULL, li->kid.data, li->kid.len,
                     key);
  if (!commit (m, entry, NULL, error))
    return fail (m);
  key_event (m, PNE_EVENT_KEY_STORED, entry);
  return start_local_handshake (m, error) || fail (m);
}

/* A plain ERROR addressed to us. */
static gboolean
on_error (PneMachine *m, const CpnsPlainMessage *msg, const guint8 *in, gsize len,
          GError **error)
{
  const CpnsErrorBody *e = &msg->body.error;
  g_autofree char *reason = g_strndup ((const char *) e->reason.data, e->reason.len);
  gboolean from_gateway = m->gateway_id[0] == '\0' ||
                          strcmp (msg->hdr.src, m->gateway_id) == 0;

  refused (m, msg->hdr.src, e->code, reason);
  if (m->state == PNE_STATE_LOCAL_HANDSHAKE && from_gateway &&
      e->code == CPNS_ERROR_NOT_FOUND)
    {
      g_autofree char *name = local_entry_name (m->gateway_id);

      /* The PN GW lost our LocalEUKey: start over with the EUKey. */
      g_clear_pointer (&m->handshake, cpns_handshake_free);
      if (!forget (m, name, error))
        return fail (m);
      return announce (m, error) || fail (m);
    }
  if (m->state == PNE_STATE_READY)
    {
      /* The link stays usable: a refused record or an unreachable server is
       * the caller's to judge.  The server session is gone, though, when
       * the server refused it. */
      /* One relayed message at a time: while our HS_INIT to the server is
       * out, an `unavailable` from the PN GW answers it. */
      if ((!from_gateway && pne_machine_server_pending (m)) ||
          (from_gateway && m->server_handshake != NULL &&
           e->code == CPNS_ERROR_UNAVAILABLE))
        {
          PneEvent *ev = push_event (m, PNE_EVENT_SERVER_LOST,
                                     pne_machine_get_server_id (m));
          ev->code = e->code;
          ev->reason = g_strdup (reason);
          g_clear_pointer (&m->server_handshake, cpns_handshake_free);
          g_clear_pointer (&m->server, cpns_session_free);
        }
      return TRUE;
    }
  cpns_error_from_message (in, len, error);
  return fail (m);
}

static gboolean
check_addressing (PneMachine *m, const CpnsHeader *hdr, GError **error)
{
  if (strcmp (hdr->dst, m->self_id) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "%s is addressed to '%s', not to this PNE ('%s')",
                   cpns_msg_type_name (hdr->type), hdr->dst, m->self_id);
      return FALSE;
    }
  if (strcmp (hdr->src, m->self_id) == 0 || strcmp (hdr->src, CPNS_PAN_GATEWAY_ID) == 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "%s claims to come from '%s'", cpns_msg_type_name (hdr->type),
                   hdr->src);
      return FALSE;
    }
  /* Besides the PN GW, only the server it relays for may speak to us. */
  if (m->gateway_id[0] != '\0' && strcmp (hdr->src, m->gateway_id) != 0 &&
      strcmp (hdr->src, pne_machine_get_server_id (m)) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "%s comes from '%s', which is neither the PN GW '%s' nor the "
                   "server '%s'", cpns_msg_type_name (hdr->type), hdr->src,
                   m->gateway_id, pne_machine_get_server_id (m));
      return FALSE;
    }
  return TRUE;
}

static gboolean
unexpected (PneMachine *m, const CpnsHeader *hdr, GError **error)
{
  g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
               "%s from '%s' is not expected in state %s",
               cpns_msg_type_name (hdr->type), hdr->src, pne_state_name (m->state));
  return FALSE;
}

static gboolean
receive_plain (PneMachine *m, const guint8 *in, gsize len, GError **error)
{
  CpnsPlainMessage msg;
  gboolean from_gateway, from_server;

  if (!cpns_plain_decode (in, len, &msg, error))
    {
      g_prefix_error (error, "message from the PN GW: ");
      return FALSE;
    }
  if (!check_addressing (m, &msg.hdr, error))
    return FALSE;
  from_gateway = m->gateway_id[0] == '\0' || strcmp (msg.hdr.src, m->gateway_id) == 0;
  from_server = !from_gateway;

  if (msg.hdr.type == CPNS_MSG_ERROR)
    {
      if (from_server && m->state != PNE_STATE_KEY_REQUEST && m->state != PNE_STATE_READY)
        return unexpected (m, &msg.hdr, error);
      return on_error (m, &msg, in, len, error);
    }

  switch (m->state)
    {
    case PNE_STATE_ANNOUNCED:
      if (from_server)
        break;
      if (msg.hdr.type == CPNS_MSG_PATH_SELECT)
        return on_path_select (m, &msg, error);
      if (msg.hdr.type == CPNS_MSG_LOCAL_KEY_INSTALL)
        return on_local_key_install (m, &msg, error);
      break;
    case PNE_STATE_KEY_REQUEST:
      if (from_server)
        return on_key_message (m, &msg, in, len, error);
      break;
    case PNE_STATE_BOOTSTRAP:
    case PNE_STATE_LOCAL_HANDSHAKE:
      if (from_server)
        break;
      if (!check_reply (m->handshake, &msg, m->gateway_id, error))
        return FALSE;
      {
        g_autoptr(CpnsSession) s = finish_handshake (m, m->handshake, in, len, error);

        g_clear_pointer (&m->handshake, cpns_handshake_free);
        if (s == NULL)
          {
            g_prefix_error (error, "handshake with PN GW '%s': ", m->gateway_id);
            return fail (m);
          }
        if (m->state == PNE_STATE_BOOTSTRAP)
          {
            m->bootstrap = g_steal_pointer (&s);
            m->state = PNE_STATE_WAIT_CREDENTIALS;
            return TRUE;
          }
        g_clear_pointer (&m->local, cpns_session_free);
        m->local = g_steal_pointer (&s);
        m->state = PNE_STATE_READY;
        push_event (m, PNE_EVENT_READY, m->gateway_id)->path =
          m->path_taken ? m->path : CPNS_PATH_SESSION;
        return TRUE;
      }
    case PNE_STATE_WAIT_EUKEY:
      if (from_gateway && msg.hdr.type == CPNS_MSG_EUKEY_TK_DELIVERY)
        return on_eukey_tk_delivery (m, &msg, error);
      break;
    case PNE_STATE_READY:
      if (from_server && m->server_handshake != NULL)
        {
          const char *server = pne_machine_get_server_id (m);
          g_autoptr(CpnsSession) s = NULL;

          if (!check_reply (m->server_handshake, &msg, server, error))
            return FALSE;
          s = finish_handshake (m, m->server_handshake, in, len, error);
          g_clear_pointer (&m->server_handshake, cpns_handshake_free);
          if (s == NULL)
            {
              /* Only the server session is lost; the local one stays. */
              PneEvent *ev = push_event (m, PNE_EVENT_SERVER_LOST, server);
              ev->code = (*error)->domain == CPNS_ERROR ? (guint) (*error)->code
                                                        : CPNS_ERROR_FAILED;
              ev->reason = g_strdup ((*error)->message);
              g_prefix_error (error, "handshake with server '%s': ", server);
              return FALSE;
            }
          m->server = g_steal_pointer (&s);
          push_event (m, PNE_EVENT_SERVER_READY, server);
          return TRUE;
        }
      break;
    default:
      break;
    }
  return unexpected (m, &msg.hdr, error);
}

/* ---- records ---- */

static gboolean
on_credentials (PneMachine *m, const CpnsBody *body, GError **error)
{
  const CpnsCredentialInstall *ci = &body->credential_install;
  g_autofree char *user_id = g_strndup ((const char *) ci->user_id.data, ci->user_id.len);
  g_autoptr(CpnsSecret) password = cpns_secret_new (ci->password.data, ci->password.len);

  /* The bootstrap session carries exactly this one record. */
  g_clear_pointer (&m->bootstrap, cpns_session_free);
  if (strlen (user_id) != ci->user_id.len)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "CREDENTIAL_INSTALL carries an invalid User ID");
      return fail (m);
    }
  if (!start_key_request (m, user_id, password->data, password->len, error))
    return fail (m);
  return TRUE;
}

static gboolean
receive_record (PneMachine *m, const guint8 *in, gsize len, GError **error)
{
  CpnsHeader hdr;
  CpnsBody body;
  CpnsSession *session = NULL;
  g_autoptr(CpnsSecret) plain = NULL;
  const char *server = pne_machine_get_server_id (m);
  gboolean ok = TRUE;

  if (!cpns_record_peek (in, len, &hdr, error))
    {
      g_prefix_error (error, "record from the PN GW: ");
      return FALSE;
    }
  if (!check_addressing (m, &hdr, error))
    return FALSE;
  if (m->state == PNE_STATE_WAIT_CREDENTIALS && strcmp (hdr.src, m->gateway_id) == 0)
    session = m->bootstrap;
  else if (m->state == PNE_STATE_READY && strcmp (hdr.src, m->gateway_id) == 0)
    session = m->local;
  else if (m->state == PNE_STATE_READY && strcmp (hdr.src, server) == 0)
    session = m->server;
  if (session == NULL)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "%s record from '%s' but no session with it (state %s)",
                   cpns_msg_type_name (hdr.type), hdr.src, pne_state_name (m->state));
      return FALSE;
    }
  plain = cpns_secret_new0 (CPNS_MAX_BODY);
  if (!cpns_session_open_message (session, in, len, &hdr, &body, plain->data, plain->len,
                                  error))
    {
      g_prefix_error (error, "record from '%s': ", hdr.src);
      return FALSE;
    }
  if (session == m->bootstrap)
    {
      if (hdr.type != CPNS_MSG_CREDENTIAL_INSTALL)
        return unexpected (m, &hdr, error) || fail (m);
      return on_credentials (m, &body, error);
    }
  switch (hdr.type)
    {
    case CPNS_MSG_DATA:
      {
        PneEvent *ev = push_event (m, PNE_EVENT_DATA, hdr.src);
        ev->content_type = body.data.content_type;
        ev->data = g_bytes_new (body.data.data.data, body.data.data.len);
        break;
      }
    case CPNS_MSG_ACK:
      push_event (m, PNE_EVENT_ACK, hdr.src)->acked_type = body.ack.type;
      break;
    case CPNS_MSG_ERROR:
      {
        g_autofree char *reason = g_strndup ((const char *) body.error.reason.data,
                                             body.error.reason.len);
        refused (m, hdr.src, body.error.code, reason);
        break;
      }
    default:
      ok = unexpected (m, &hdr, error);
      break;
    }
  return ok;
}

gboolean
pne_machine_receive (PneMachine *m, const guint8 *in, gsize len, GError **error)
{
  if (m->state == PNE_STATE_NEW || m->state == PNE_STATE_FAILED)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "the PNE takes no messages in state %s", pne_state_name (m->state));
      return FALSE;
    }
  if (in == NULL || len == 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED, "empty message from the PN GW");
      return FALSE;
    }
  /* Section 12: a record is a tagged COSE structure, a plain message an
   * array. */
  if (in[0] == 0xd0 || in[0] == 0xd1)
    return receive_record (m, in, len, error);
  return receive_plain (m, in, len, error);
}

/* ---- after the local session ---- */

gboolean
pne_machine_connect_server (PneMachine *m, GError **error)
{
  const CpnsKeyEntry *eukey = lookup (m, PNE_ENTRY_EUKEY, CPNS_KEY_EUKEY);
  CpnsPsk psk;
  gboolean ok;

  if (m->state != PNE_STATE_READY)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "the server is reached through the PN GW session, which is not up "
                   "(state %s)", pne_state_name (m->state));
      return FALSE;
    }
  if (m->server_handshake != NULL)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "a handshake with the server is already running");
      return FALSE;
    }
  if (eukey == NULL)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND, "this PNE holds no EUKey");
      return FALSE;
    }
  cpns_key_entry_to_psk (eukey, &psk);
  ok = start_handshake (m, CPNS_PURPOSE_SERVER, eukey->peer_id, &psk, CPNS_REPLAY_WINDOW,
                        &m->server_handshake, error);
  cpns_wipe (&psk, sizeof psk);
  if (ok)
    g_clear_pointer (&m->server, cpns_session_free);
  return ok;
}

gboolean
pne_machine_send_data (PneMachine *m, const char *dst, guint32 content_type,
                       const guint8 *data, gsize len, gboolean encrypt, GError **error)
{
  CpnsSession *session = NULL;
  CpnsBody body = { .present = 1u << 1 | 1u << 2 };
  g_autofree guint8 *buf = NULL;
  gsize out_len;

  if (m->state == PNE_STATE_READY && dst != NULL)
    {
      if (strcmp (dst, m->gateway_id) == 0)
        session = m->local;
      else if (strcmp (dst, pne_machine_get_server_id (m)) == 0)
        session = m->server;
    }
  if (session == NULL)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "no session with '%s' to send DATA in (state %s)",
                   dst != NULL ? dst : "", pne_state_name (m->state));
      return FALSE;
    }
  body.data.content_type = content_type;
  body.data.data = CPNS_BYTES (data, len);
  buf = g_malloc (CPNS_MAX_RECORD);
  out_len = cpns_session_seal_message (session, CPNS_MSG_DATA, take_txid (m), encrypt,
                                       &body, buf, CPNS_MAX_RECORD, error);
  if (out_len == 0)
    return FALSE;
  push_output (m, buf, out_len);
  return TRUE;
}
