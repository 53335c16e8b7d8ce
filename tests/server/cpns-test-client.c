/* SPDX-License-Identifier: GPL-3.0-or-later */

/* cpns-test-client: an entity talking to a CPNS Server over HTTPS with
 * libcurl, every protocol message made by libcpns.  The tests script it; it
 * is also a handy probe of a running server.
 *
 *   cpns-test-client --url URL [--ca FILE] --id ENTITY [--server-id ID]
 *                    [--state FILE] [--dump] STEP...
 *
 * Each step prints one JSON object on a line of its own:
 *
 *   enroll=USER,PASSWORD-FILE[,SUBJECT]  Key Request; keeps the EUKey of
 *                                        SUBJECT (default: ourselves)
 *   challenge=USER[,SUBJECT]             KEY_REQUEST only: the challenge's shape
 *   as=ENTITY                            act as ENTITY from here on (keys and
 *                                        sessions are kept per entity)
 *   handshake[=SLOT]                     new session with our EUKey (slot "main")
 *   use=SLOT                             send later records in that session
 *   tk=PNE                               TK_REQUEST
 *   localkey=PNE                         LOCAL_KEY_REQUEST; opens the PNE's
 *                                        wrap when we hold the PNE's EUKey
 *   release=PNE                          PNE_RELEASE
 *   echo=TEXT[,mac]                      DATA content type 0 (encrypted
 *                                        unless "mac")
 *   queue=TEXT                           DATA content type 1: comes back on /poll
 *   poll                                 POLL on /poll
 *   poll-wake=TEXT,DELAY-MS              POLL, and DELAY-MS later, from a
 *                                        second connection, queue=TEXT
 *   replay                               sends the last record again
 *   seal=TEXT                            seals an encrypted DATA record (echo)
 *                                        and prints it without sending it
 *   sleep=MS
 *
 * An answer addressed to another entity (a PNE's record handed to its
 * gateway's poll, protocol.md 12.1) is opened in that entity's current
 * session, if this run holds one: "dst" and "opened_by" name it.
 *
 * With --dump each object also holds "request", the hex of the last
 * request body.  The exit status is 0 when every step ran (whatever the
 * server answered), 1 on a local failure, 2 on a usage error. */

#include <curl/curl.h>
#include <glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cpns-error.h"
#include "cpns-handshake.h"
#include "cpns-key-client.h"
#include "cpns-session.h"
#include "cpns-wrap.h"
#include "srv-hex.h"
#include "srv-json.h"
#include "cpns-password.h"

typedef struct {
  CpnsSecret *key;
  guint8      kid[CPNS_KID_MAX];
  gsize       kid_len;
} Key;

static void
key_free (Key *k)
{
  cpns_secret_free (k->key);
  g_free (k);
}

typedef struct {
  const char *url;
  const char *ca;
  char       *self_id;     /* as=ENTITY changes it */
  const char *server_id;
  const char *state_path;
  gboolean    dump;
  CURL       *curl;
  GHashTable *keys;        /* entity ID -> Key */
  GHashTable *sessions;    /* "entity/slot" -> CpnsSession */
  GHashTable *current;     /* entity ID -> its current slot */
  guint64     txid;
  GByteArray *last_record;
  GByteArray *last_request;
} Client;

typedef struct {
  long        status;
  GByteArray *body;
  guint       retry_after;
} Response;

static void
response_clear (Response *r)
{
  g_clear_pointer (&r->body, g_byte_array_unref);
  r->status = 0;
  r->retry_after = 0;
}

/* ---- HTTP ---- */

static size_t
on_body (char *data, size_t size, size_t n, void *user_data)
{
  g_byte_array_append (user_data, (const guint8 *) data, size * n);
  return size * n;
}

static size_t
on_header (char *data, size_t size, size_t n, void *user_data)
{
  Response *r = user_data;
  gsize len = size * n;

  if (len > 12 && g_ascii_strncasecmp (data, "Retry-After:", 12) == 0)
    r->retry_after = (guint) g_ascii_strtoull (data + 12, NULL, 10);
  return len;
}

static CURL *
new_handle (Client *c)
{
  CURL *curl = curl_easy_init ();

  if (c->ca != NULL)
    curl_easy_setopt (curl, CURLOPT_CAINFO, c->ca);
  curl_easy_setopt (curl, CURLOPT_TIMEOUT, 60L);
  if (g_getenv ("CPNS_TEST_CLIENT_VERBOSE") != NULL)
    curl_easy_setopt (curl, CURLOPT_VERBOSE, 1L);
  return curl;
}

static gboolean
post (Client *c, CURL *curl, const char *endpoint, const guint8 *data, gsize len,
      Response *r, GError **error)
{
  g_autofree char *url = g_strdup_printf ("%s/%s", c->url, endpoint);
  struct curl_slist *headers = NULL;
  CURLcode rc;

  /* The second connection of poll-wake runs in a thread: only the main
   * one keeps its request for --dump. */
  if (curl == c->curl)
    {
      g_byte_array_set_size (c->last_request, 0);
      g_byte_array_append (c->last_request, data, len);
    }
  response_clear (r);
  r->body = g_byte_array_new ();
  headers = curl_slist_append (headers, "Content-Type: application/cpns+cbor");
  headers = curl_slist_append (headers, "Expect:");
  curl_easy_setopt (curl, CURLOPT_URL, url);
  curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt (curl, CURLOPT_POSTFIELDS, data);
  curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long) len);
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, r->body);
  curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (curl, CURLOPT_HEADERDATA, r);
  rc = curl_easy_perform (curl);
  curl_slist_free_all (headers);
  if (rc != CURLE_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "POST %s: %s", url,
                   curl_easy_strerror (rc));
      return FALSE;
    }
  curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &r->status);
  return TRUE;
}

/* ---- output ---- */

static GString *
begin (const char *step)
{
  GString *out = g_string_new ("{\"step\": ");

  srv_json_string (out, step);
  return out;
}

static void
add_str (GString *out, const char *key, const char *value)
{
  g_string_append (out, ", ");
  srv_json_string (out, key);
  g_string_append (out, ": ");
  srv_json_string (out, value);
}

static void
add_hex (GString *out, const char *key, const guint8 *data, gsize len)
{
  g_autofree char *hex = srv_hex_encode (data, len);

  add_str (out, key, hex);
}

static void
add_int (GString *out, const char *key, gint64 value)
{
  g_string_append_printf (out, ", \"%s\": %" G_GINT64_FORMAT, key, value);
}

static void
add_bool (GString *out, const char *key, gboolean value)
{
  g_string_append_printf (out, ", \"%s\": %s", key, value ? "true" : "false");
}

static void
finish (Client *c, GString *out)
{
  if (c->dump)
    add_hex (out, "request", c->last_request->data, c->last_request->len);
  g_string_append (out, "}");
  printf ("%s\n", out->str);
  fflush (stdout);
  g_string_free (out, TRUE);
}

/* The HTTP status, and the code of a plain ERROR body if there is one. */
static void
add_response (GString *out, const Response *r)
{
  CpnsPlainMessage msg;

  add_int (out, "http", r->status);
  if (r->retry_after != 0)
    add_int (out, "retry_after", r->retry_after);
  if (r->body != NULL && r->body->len > 0 &&
      cpns_plain_decode (r->body->data, r->body->len, &msg, NULL) &&
      msg.hdr.type == CPNS_MSG_ERROR)
    {
      g_autofree char *reason = g_strndup ((const char *) msg.body.error.reason.data,
                                           msg.body.error.reason.len);
      add_str (out, "error", cpns_error_code_to_string (msg.body.error.code));
      add_str (out, "reason", reason);
      add_str (out, "error_dst", msg.hdr.dst);
    }
}

static void
add_gerror (GString *out, const GError *error)
{
  add_bool (out, "ok", FALSE);
  if (error->domain == CPNS_ERROR)
    add_str (out, "error", cpns_error_code_to_string (error->code));
  else
    add_str (out, "error", "local");
  add_str (out, "message", error->message);
}

/* ---- state ---- */

static gboolean
save_state (Client *c, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  GHashTableIter iter;
  gpointer name, value;

  if (c->state_path == NULL)
    return TRUE;
  g_hash_table_iter_init (&iter, c->keys);
  while (g_hash_table_iter_next (&iter, &name, &value))
    {
      Key *k = value;
      g_autofree char *key_hex = srv_hex_encode (k->key->data, k->key->len);
      g_autofree char *kid_hex = srv_hex_encode (k->kid, k->kid_len);
      g_key_file_set_string (kf, name, "key", key_hex);
      g_key_file_set_string (kf, name, "kid", kid_hex);
    }
  return g_key_file_save_to_file (kf, c->state_path, error);
}

static gboolean
load_state (Client *c, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_auto(GStrv) groups = NULL;

  if (c->state_path == NULL || !g_file_test (c->state_path, G_FILE_TEST_EXISTS))
    return TRUE;
  if (!g_key_file_load_from_file (kf, c->state_path, G_KEY_FILE_NONE, error))
    return FALSE;
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_autofree char *key_hex = g_key_file_get_string (kf, groups[i], "key", NULL);
      g_autofree char *kid_hex = g_key_file_get_string (kf, groups[i], "kid", NULL);
      Key *k;

      if (key_hex == NULL || kid_hex == NULL || strlen (kid_hex) > 2 * CPNS_KID_MAX)
        continue;
      k = g_new0 (Key, 1);
      k->key = cpns_secret_new0 (strlen (key_hex) / 2);
      srv_hex_decode (key_hex, strlen (key_hex), k->key->data);
      k->kid_len = strlen (kid_hex) / 2;
      srv_hex_decode (kid_hex, strlen (kid_hex), k->kid);
      g_hash_table_replace (c->keys, g_strdup (groups[i]), k);
    }
  return TRUE;
}

/* ---- sessions ---- */

static char *
session_key (const char *entity, const char *slot)
{
  return g_strdup_printf ("%s/%s", entity, slot);
}

/* The current session of @entity, or NULL. */
static CpnsSession *
session_of (Client *c, const char *entity)
{
  const char *slot = g_hash_table_lookup (c->current, entity);
  g_autofree char *key = slot != NULL ? session_key (entity, slot) : NULL;

  return key != NULL ? g_hash_table_lookup (c->sessions, key) : NULL;
}

static CpnsSession *
current_session (Client *c, GError **error)
{
  CpnsSession *s = session_of (c, c->self_id);

  if (s == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no session: run handshake");
  return s;
}

/* ---- steps ---- */

static gboolean
step_challenge (Client *c, char **args, GError **error)
{
  GString *out = begin ("challenge");
  g_autoptr(CpnsKeyClient) kc = NULL;
  guint8 buf[2048];
  gsize len;
  Response r = { 0 };
  CpnsPlainMessage msg;

  kc = cpns_key_client_new (c->self_id, c->server_id, args[1], args[0],
                            (const guint8 *) "x", 1, error);
  if (kc == NULL || (len = cpns_key_client_request (kc, buf, sizeof buf, error)) == 0 ||
      !post (c, c->curl, "key", buf, len, &r, error))
    {
      g_string_free (out, TRUE);
      return FALSE;
    }
  add_response (out, &r);
  if (r.status == 200 && cpns_plain_decode (r.body->data, r.body->len, &msg, NULL) &&
      msg.hdr.type == CPNS_MSG_KEY_CHALLENGE)
    {
      const CpnsKeyChallenge *ch = &msg.body.key_challenge;
      add_int (out, "group", ch->group);
      add_hex (out, "salt", ch->salt.data, ch->salt.len);
      add_int (out, "iterations", ch->iterations);
      add_int (out, "b_len", ch->server_public.len);
      add_int (out, "body_len", r.body->len);
    }
  finish (c, out);
  response_clear (&r);
  return TRUE;
}

static gboolean
step_enroll (Client *c, char **args, GError **error)
{
  GString *out = begin ("enroll");
  g_autoptr(CpnsKeyClient) kc = NULL;
  g_autoptr(CpnsSecret) password = NULL;
  g_autoptr(GError) local = NULL;
  const char *entity = args[2] != NULL ? args[2] : c->self_id;
  guint8 buf[2048];
  gsize len;
  Response r = { 0 };
  CpnsPlainMessage msg;

  password = cpns_password_from_file (args[1], error);
  if (password == NULL)
    {
      g_string_free (out, TRUE);
      return FALSE;
    }
  add_str (out, "entity", entity);
  kc = cpns_key_client_new (c->self_id, c->server_id, args[2], args[0], password->data,
                            password->len, error);
  if (kc == NULL || (len = cpns_key_client_request (kc, buf, sizeof buf, error)) == 0 ||
      !post (c, c->curl, "key", buf, len, &r, error))
    {
      g_string_free (out, TRUE);
      return FALSE;
    }
  if (r.status != 200)
    {
      add_bool (out, "ok", FALSE);
      add_str (out, "phase", "challenge");
      add_response (out, &r);
      finish (c, out);
      response_clear (&r);
      return TRUE;
    }
  len = cpns_key_client_answer (kc, r.body->data, r.body->len, buf, sizeof buf, &local);
  if (len == 0)
    {
      add_gerror (out, local);
      add_str (out, "phase", "challenge");
      finish (c, out);
      response_clear (&r);
      return TRUE;
    }
  if (!post (c, c->curl, "key", buf, len, &r, error))
    {
      g_string_free (out, TRUE);
      return FALSE;
    }
  add_response (out, &r);
  add_str (out, "phase", "delivery");
  /* What the server sent, before the key client judges it. */
  if (r.status == 200 && cpns_plain_decode (r.body->data, r.body->len, &msg, NULL) &&
      msg.hdr.type == CPNS_MSG_KEY_DELIVERY)
    {
      add_int (out, "status", msg.body.key_delivery.status);
      add_bool (out, "has_key", (msg.body.present & (1u << 4)) != 0);
      add_bool (out, "has_proof", (msg.body.present & (1u << 2)) != 0);
    }
  if (!cpns_key_client_accept (kc, r.body->data, r.body->len, &local))
    add_gerror (out, local);
  else
    {
      Key *k = g_new0 (Key, 1);
      const guint8 *kid = cpns_key_client_get_kid (kc, &k->kid_len);
      const CpnsSecret *key = cpns_key_client_get_key (kc);

      memcpy (k->kid, kid, k->kid_len);
      k->key = cpns_secret_new (key->data, key->len);
      g_hash_table_replace (c->keys, g_strdup (entity), k);
      add_bool (out, "ok", TRUE);
      add_hex (out, "kid", k->kid, k->kid_len);
      add_int (out, "key_len", k->key->len);
      if (!save_state (c, error))
        {
          g_string_free (out, TRUE);
          response_clear (&r);
          return FALSE;
        }
    }
  finish (c, out);
  response_clear (&r);
  return TRUE;
}

static gboolean
step_handshake (Client *c, const char *slot, GError **error)
{
  GString *out = begin ("handshake");
  Key *k = g_hash_table_lookup (c->keys, c->self_id);
  g_autoptr(CpnsHandshake) hs = NULL;
  g_autoptr(GError) local = NULL;
  CpnsPsk psk = { .role = CPNS_ROLE_INITIATOR };
  CpnsHandshakeConfig config = {
    .role = CPNS_ROLE_INITIATOR, .purpose = CPNS_PURPOSE_SERVER,
    .self_id = c->self_id, .peer_id = c->server_id, .psk = &psk,
    .replay_mode = CPNS_REPLAY_WINDOW,
  };
  guint8 buf[CPNS_HANDSHAKE_MAX];
  gsize len;
  Response r = { 0 };

  add_str (out, "slot", slot);
  if (k == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no EUKey of '%s' to use",
                   c->self_id);
      g_string_free (out, TRUE);
      return FALSE;
    }
  memcpy (psk.key, k->key->data, k->key->len);
  psk.key_len = k->key->len;
  memcpy (psk.kid, k->kid, k->kid_len);
  psk.kid_len = k->kid_len;
  hs = cpns_handshake_new (&config, error);
  cpns_wipe (&psk, sizeof psk);
  if (hs == NULL || !cpns_handshake_start (hs, buf, sizeof buf, &len, error) ||
      !post (c, c->curl, "handshake", buf, len, &r, error))
    {
      g_string_free (out, TRUE);
      return FALSE;
    }
  if (r.status != 200)
    {
      add_bool (out, "ok", FALSE);
      add_response (out, &r);
      finish (c, out);
      response_clear (&r);
      return TRUE;
    }
  if (!cpns_handshake_receive (hs, r.body->data, r.body->len, buf, sizeof buf, &len,
                               &local))
    {
      add_gerror (out, local);
      finish (c, out);
      response_clear (&r);
      return TRUE;
    }
  if (!post (c, c->curl, "handshake", buf, len, &r, error))
    {
      g_string_free (out, TRUE);
      return FALSE;
    }
  add_response (out, &r);
  add_bool (out, "ok", r.status == 204);
  if (r.status == 204)
    {
      CpnsSession *s = cpns_handshake_take_session (hs);
      add_hex (out, "session", cpns_session_get_id (s), CPNS_SESSION_ID_LEN);
      add_str (out, "suite", cpns_alg_name (cpns_handshake_get_suite (hs)));
      g_hash_table_replace (c->sessions, session_key (c->self_id, slot), s);
      g_hash_table_replace (c->current, g_strdup (c->self_id), g_strdup (slot));
    }
  finish (c, out);
  response_clear (&r);
  return TRUE;
}

/* Opens an answer that came in @s: in @s, or in the current session of the
 * entity it is addressed to when that is not us. */
static gboolean
open_answer (Client *c, CpnsSession *s, const guint8 *data, gsize len, GString *out,
             CpnsHeader *hdr, CpnsBody *answer, guint8 *plain, GError **error)
{
  CpnsHeader peek;

  if (cpns_record_peek (data, len, &peek, NULL) && strcmp (peek.dst, c->self_id) != 0)
    {
      add_str (out, "dst", peek.dst);
      s = session_of (c, peek.dst);
      if (s == NULL)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                       "an answer for '%s', of whom this run has no session", peek.dst);
          return FALSE;
        }
      add_str (out, "opened_by", peek.dst);
    }
  return cpns_session_open_message (s, data, len, hdr, answer, plain, CPNS_MAX_BODY, error);
}

/* Seals @body, posts it to @endpoint and opens the answer.  FALSE only on
 * local failures; the outcome goes to @out. */
static gboolean
exchange (Client *c, CURL *curl, const char *endpoint, guint64 type, gboolean encrypt,
          const CpnsBody *body, GString *out, CpnsHeader *hdr, CpnsBody *answer,
          guint8 *plain, GError **error)
{
  CpnsSession *s = current_session (c, error);
  g_autofree guint8 *rec = g_malloc (CPNS_MAX_RECORD);
  g_autoptr(GError) local = NULL;
  gsize len;
  Response r = { 0 };

  hdr->type = 0;
  if (s == NULL)
    return FALSE;
  len = cpns_session_seal_message (s, type, ++c->txid, encrypt, body, rec, CPNS_MAX_RECORD,
                                   error);
  if (len == 0 || !post (c, curl, endpoint, rec, len, &r, error))
    return FALSE;
  g_byte_array_set_size (c->last_record, 0);
  g_byte_array_append (c->last_record, rec, len);
  add_response (out, &r);
  if (r.status == 200)
    {
      if (!open_answer (c, s, r.body->data, r.body->len, out, hdr, answer, plain, &local))
        add_gerror (out, local);
      else
        {
          add_str (out, "type", cpns_msg_type_name (hdr->type));
          add_bool (out, "encrypted", hdr->encrypted);
          add_bool (out, "txid_matches", hdr->txid == c->txid);
        }
    }
  add_bool (out, "ok", r.status == 200 || r.status == 204);
  response_clear (&r);
  return TRUE;
}

static gboolean
step_pne_request (Client *c, const char *step, guint64 type, const char *pne,
                  GError **error)
{
  GString *out = begin (step);
  g_autofree guint8 *plain = g_malloc (CPNS_MAX_BODY);
  CpnsBody body = { .present = 1u << 1 }, answer;
  CpnsHeader hdr;

  body.pne_ref.pne = CPNS_STR (pne);
  add_str (out, "pne", pne);
  if (!exchange (c, c->curl, "record", type, FALSE, &body, out, &hdr, &answer, plain, error))
    {
      g_string_free (out, TRUE);
      return FALSE;
    }
  if (hdr.type == CPNS_MSG_TK_DELIVERY)
    {
      add_hex (out, "kid", answer.tk_delivery.kid.data, answer.tk_delivery.kid.len);
      add_hex (out, "tk", answer.tk_delivery.tk.data, answer.tk_delivery.tk.len);
    }
  else if (hdr.type == CPNS_MSG_LOCAL_KEY_DELIVERY)
    {
      const CpnsLocalKeyDelivery *d = &answer.local_key_delivery;
      Key *pk = g_hash_table_lookup (c->keys, pne);

      add_hex (out, "kid", d->kid.data, d->kid.len);
      add_int (out, "key_len", d->local_key.len);
      if (pk == NULL)
        add_str (out, "pne_unwrap", "no-key");
      else
        {
          /* What the PNE will do with its copy. */
          CpnsWrapBinding binding = { c->self_id, pne, "", d->kid.data, d->kid.len };
          g_autoptr(CpnsSecret) k = cpns_wrap_open (CPNS_WRAP_LOCAL_EUKEY, pk->key->data,
                                                    pk->key->len, &binding,
                                                    d->wrapped_for_pne.data,
                                                    d->wrapped_for_pne.len, NULL);
          add_str (out, "pne_unwrap",
                   k == NULL ? "fail" :
                   k->len == d->local_key.len &&
                   memcmp (k->data, d->local_key.data, k->len) == 0 ? "ok" : "mismatch");
        }
    }
  else if (hdr.type == CPNS_MSG_ACK)
    add_str (out, "acked", cpns_msg_type_name (answer.ack.type));
  finish (c, out);
  return TRUE;
}

static gboolean
step_data (Client *c, const char *step, guint64 content_type, const char *text,
           gboolean encrypt, GError **error)
{
  GString *out = begin (step);
  g_autofree guint8 *plain = g_malloc (CPNS_MAX_BODY);
  CpnsBody body = { .present = 1u << 1 | 1u << 2 }, answer;
  CpnsHeader hdr;

  body.data.content_type = content_type;
  body.data.data = CPNS_STR (text);
  if (!exchange (c, c->curl, "record", CPNS_MSG_DATA, encrypt, &body, out, &hdr, &answer,
                 plain, error))
    {
      g_string_free (out, TRUE);
      return FALSE;
    }
  if (hdr.type == CPNS_MSG_DATA)
    {
      g_autofree char *echo = g_strndup ((const char *) answer.data.data.data,
                                         answer.data.data.len);
      add_str (out, "data", echo);
    }
  else if (hdr.type == CPNS_MSG_ACK)
    add_str (out, "acked", cpns_msg_type_name (answer.ack.type));
  finish (c, out);
  return TRUE;
}

static void
add_poll_answer (GString *out, const CpnsHeader *hdr, const CpnsBody *answer)
{
  if (hdr->type == CPNS_MSG_DATA)
    {
      g_autofree char *data = g_strndup ((const char *) answer->data.data.data,
                                         answer->data.data.len);
      add_str (out, "data", data);
      add_int (out, "content_type", answer->data.content_type);
    }
}

static gboolean
step_poll (Client *c, GError **error)
{
  GString *out = begin ("poll");
  g_autofree guint8 *plain = g_malloc (CPNS_MAX_BODY);
  CpnsBody body = { 0 }, answer;
  CpnsHeader hdr;
  gint64 start = g_get_monotonic_time ();

  if (!exchange (c, c->curl, "poll", CPNS_MSG_POLL, FALSE, &body, out, &hdr, &answer, plain,
                 error))
    {
      g_string_free (out, TRUE);
      return FALSE;
    }
  add_poll_answer (out, &hdr, &answer);
  add_int (out, "waited_ms", (g_get_monotonic_time () - start) / 1000);
  finish (c, out);
  return TRUE;
}

/* The POLL runs in a thread with its own connection; the records are
 * sealed before and opened after, so the session is never used by two
 * threads at once. */
typedef struct {
  Client     *c;
  CURL       *curl;
  const char *endpoint;
  guint8     *rec;
  gsize       len;
  Response    r;
  gboolean    ok;
  GError     *error;
} Sender;

static gpointer
send_thread (gpointer data)
{
  Sender *s = data;

  s->ok = post (s->c, s->curl, s->endpoint, s->rec, s->len, &s->r, &s->error);
  return NULL;
}

static gboolean
step_poll_wake (Client *c, char **args, GError **error)
{
  GString *out = begin ("poll-wake");
  CpnsSession *s = current_session (c, error);
  g_autofree guint8 *poll_rec = g_malloc (CPNS_MAX_RECORD);
  g_autofree guint8 *data_rec = g_malloc (CPNS_MAX_RECORD);
  g_autofree guint8 *plain = g_malloc (CPNS_MAX_BODY);
  CpnsBody poll = { 0 }, data = { .present = 1u << 1 | 1u << 2 }, answer;
  guint64 poll_txid, data_txid;
  gsize poll_len, data_len;
  Sender sender = { 0 };
  GThread *thread;
  Response r = { 0 };
  CpnsHeader hdr;
  gint64 start;
  guint delay = args[1] != NULL ? (guint) g_ascii_strtoull (args[1], NULL, 10) : 500;

  if (s == NULL)
    {
      g_string_free (out, TRUE);
      return FALSE;
    }
  data.data.content_type = 1;
  data.data.data = CPNS_STR (args[0]);
  poll_txid = ++c->txid;
  data_txid = ++c->txid;
  poll_len = cpns_session_seal_message (s, CPNS_MSG_POLL, poll_txid, FALSE, &poll, poll_rec,
                                        CPNS_MAX_RECORD, error);
  data_len = poll_len == 0 ? 0 :
             cpns_session_seal_message (s, CPNS_MSG_DATA, data_txid, TRUE, &data, data_rec,
                                        CPNS_MAX_RECORD, error);
  if (data_len == 0)
    {
      g_string_free (out, TRUE);
      return FALSE;
    }
  sender = (Sender) { c, new_handle (c), "poll", poll_rec, poll_len };
  start = g_get_monotonic_time ();
  thread = g_thread_new ("poll", send_thread, &sender);
  g_usleep (delay * 1000);
  if (!post (c, c->curl, "record", data_rec, data_len, &r, error))
    {
      g_thread_join (thread);
      curl_easy_cleanup (sender.curl);
      response_clear (&sender.r);
      g_string_free (out, TRUE);
      return FALSE;
    }
  add_int (out, "queue_http", r.status);
  if (r.status == 200 &&
      cpns_session_open_message (s, r.body->data, r.body->len, &hdr, &answer, plain,
                                 CPNS_MAX_BODY, NULL))
    add_str (out, "queue_answer", cpns_msg_type_name (hdr.type));
  response_clear (&r);
  g_thread_join (thread);
  curl_easy_cleanup (sender.curl);
  add_int (out, "waited_ms", (g_get_monotonic_time () - start) / 1000);
  if (!sender.ok)
    {
      g_propagate_error (error, sender.error);
      g_string_free (out, TRUE);
      return FALSE;
    }
  add_response (out, &sender.r);
  if (sender.r.status == 200)
    {
      g_autoptr(GError) local = NULL;

      if (!open_answer (c, s, sender.r.body->data, sender.r.body->len, out, &hdr, &answer,
                        plain, &local))
        add_gerror (out, local);
      else
        {
          add_str (out, "type", cpns_msg_type_name (hdr.type));
          add_bool (out, "txid_matches", hdr.txid == poll_txid);
          add_poll_answer (out, &hdr, &answer);
        }
    }
  response_clear (&sender.r);
  finish (c, out);
  return TRUE;
}

static gboolean
step_replay (Client *c, GError **error)
{
  GString *out = begin ("replay");
  g_autoptr(GByteArray) rec = g_byte_array_new ();
  Response r = { 0 };

  if (c->last_record->len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no record to replay");
      g_string_free (out, TRUE);
      return FALSE;
    }
  g_byte_array_append (rec, c->last_record->data, c->last_record->len);
  if (!post (c, c->curl, "record", rec->data, rec->len, &r, error))
    {
      g_string_free (out, TRUE);
      return FALSE;
    }
  add_response (out, &r);
  finish (c, out);
  response_clear (&r);
  return TRUE;
}

static gboolean
step_seal (Client *c, const char *text, GError **error)
{
  GString *out = begin ("seal");
  CpnsSession *s = current_session (c, error);
  g_autofree guint8 *rec = g_malloc (CPNS_MAX_RECORD);
  CpnsBody body = { .present = 1u << 1 | 1u << 2 };
  gsize len;

  body.data.data = CPNS_STR (text);
  len = s == NULL ? 0 :
        cpns_session_seal_message (s, CPNS_MSG_DATA, ++c->txid, TRUE, &body, rec,
                                   CPNS_MAX_RECORD, error);
  if (len == 0)
    {
      g_string_free (out, TRUE);
      return FALSE;
    }
  add_hex (out, "record", rec, len);
  finish (c, out);
  return TRUE;
}

static gboolean
run_step (Client *c, const char *step, GError **error)
{
  const char *eq = strchr (step, '=');
  g_autofree char *name = eq != NULL ? g_strndup (step, eq - step) : g_strdup (step);
  g_auto(GStrv) args = eq != NULL ? g_strsplit (eq + 1, ",", 3) : g_new0 (char *, 1);
  guint n = g_strv_length (args);

  if (strcmp (name, "enroll") == 0 && n >= 2)
    return step_enroll (c, args, error);
  if (strcmp (name, "challenge") == 0 && n >= 1)
    return step_challenge (c, args, error);
  if (strcmp (name, "handshake") == 0)
    return step_handshake (c, n >= 1 ? args[0] : "main", error);
  if (strcmp (name, "use") == 0 && n == 1)
    {
      g_hash_table_replace (c->current, g_strdup (c->self_id), g_strdup (args[0]));
      return TRUE;
    }
  if (strcmp (name, "as") == 0 && n == 1)
    {
      if (!cpns_entity_id_is_valid (args[0], strlen (args[0])))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "'%s' is not an Entity ID", args[0]);
          return FALSE;
        }
      g_free (c->self_id);
      c->self_id = g_strdup (args[0]);
      return TRUE;
    }
  if (strcmp (name, "tk") == 0 && n == 1)
    return step_pne_request (c, name, CPNS_MSG_TK_REQUEST, args[0], error);
  if (strcmp (name, "localkey") == 0 && n == 1)
    return step_pne_request (c, name, CPNS_MSG_LOCAL_KEY_REQUEST, args[0], error);
  if (strcmp (name, "release") == 0 && n == 1)
    return step_pne_request (c, name, CPNS_MSG_PNE_RELEASE, args[0], error);
  if (strcmp (name, "echo") == 0 && n >= 1)
    return step_data (c, name, 0, args[0], n < 2 || strcmp (args[1], "mac") != 0, error);
  if (strcmp (name, "queue") == 0 && n == 1)
    return step_data (c, name, 1, args[0], TRUE, error);
  if (strcmp (name, "poll") == 0)
    return step_poll (c, error);
  if (strcmp (name, "poll-wake") == 0 && n >= 1)
    return step_poll_wake (c, args, error);
  if (strcmp (name, "replay") == 0)
    return step_replay (c, error);
  if (strcmp (name, "seal") == 0 && n == 1)
    return step_seal (c, args[0], error);
  if (strcmp (name, "sleep") == 0 && n == 1)
    {
      g_usleep (g_ascii_strtoull (args[0], NULL, 10) * 1000);
      return TRUE;
    }
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "unknown step '%s'", step);
  return FALSE;
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GOptionContext) context = g_option_context_new ("STEP...");
  g_autofree char *url = NULL;
  g_autofree char *ca = NULL;
  g_autofree char *self_id = NULL;
  g_autofree char *server_id = NULL;
  g_autofree char *state = NULL;
  gboolean dump = FALSE;
  const GOptionEntry entries[] = {
    { "url", 0, 0, G_OPTION_ARG_STRING, &url, "Server base URL", "URL" },
    { "ca", 0, 0, G_OPTION_ARG_FILENAME, &ca, "CA certificate to check the server", "FILE" },
    { "id", 0, 0, G_OPTION_ARG_STRING, &self_id, "Our Entity ID", "ID" },
    { "server-id", 0, 0, G_OPTION_ARG_STRING, &server_id, "The server's Entity ID", "ID" },
    { "state", 0, 0, G_OPTION_ARG_FILENAME, &state, "Keys kept between runs", "FILE" },
    { "dump", 0, 0, G_OPTION_ARG_NONE, &dump, "Show request bodies in hex", NULL },
    { NULL }
  };
  Client c = { 0 };
  int status = 0;

  setlocale (LC_ALL, "");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || url == NULL ||
      self_id == NULL)
    {
      g_printerr ("cpns-test-client: %s\n", error != NULL ? error->message :
                  "--url and --id are needed");
      return 2;
    }
  curl_global_init (CURL_GLOBAL_DEFAULT);
  c.url = url;
  c.ca = ca;
  c.self_id = g_steal_pointer (&self_id);
  c.server_id = server_id != NULL ? server_id : "cpns-server";
  c.state_path = state;
  c.dump = dump;
  c.curl = new_handle (&c);
  c.keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) key_free);
  c.sessions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) cpns_session_free);
  c.current = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  c.last_record = g_byte_array_new ();
  c.last_request = g_byte_array_new ();
  c.txid = (guint64) g_random_int () << 8;
  if (!load_state (&c, &error))
    status = 1;
  for (int i = 1; status == 0 && i < argc; i++)
    if (!run_step (&c, argv[i], &error))
      status = 1;
  if (status != 0)
    g_printerr ("cpns-test-client: %s\n", error->message);
  curl_easy_cleanup (c.curl);
  g_hash_table_unref (c.keys);
  g_hash_table_unref (c.sessions);
  g_hash_table_unref (c.current);
  g_byte_array_unref (c.last_record);
  g_byte_array_unref (c.last_request);
  g_free (c.self_id);
  curl_global_cleanup ();
  return status;
}
