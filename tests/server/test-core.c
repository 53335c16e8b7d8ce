/* SPDX-License-Identifier: GPL-3.0-or-later */

/* SrvCore without HTTP: the entity side is libcpns (CpnsKeyClient,
 * CpnsHandshake, CpnsSession) calling srv_core_handle() directly.  Covers
 * enrolment, decoy challenges, rate limiting, sessions, authorization, the
 * queue API behind long polls, delivery to PNEs through their gateway's
 * polls, the reserved ID @pan, and the error-to-status table. */

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "cpns-error.h"
#include "cpns-handshake.h"
#include "cpns-key-client.h"
#include "cpns-srp.h"
#include "cpns-wrap.h"
#include "srv-core.h"

#define PEER "192.0.2.1"

typedef struct {
  char       *dir;
  char       *path;
  SrvStore   *store;
  SrvConfig  *config;
  CpnsSecret *secret;
  SrvCore    *core;
} Fixture;

static void
add_user (Fixture *f, const char *user, const char *password)
{
  guint8 salt[CPNS_SRP_SALT_LEN], verifier[CPNS_SRP_PUBLIC_LEN];
  gsize verifier_len;

  g_assert_true (cpns_random (salt, sizeof salt, NULL));
  g_assert_true (cpns_srp_make_verifier (user, (const guint8 *) password, strlen (password),
                                         salt, sizeof salt, 1000, verifier, &verifier_len,
                                         NULL));
  g_assert_true (srv_store_add_user (f->store, user, salt, sizeof salt, 1000, verifier,
                                     verifier_len, NULL));
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  static const guint8 tk[16] = { 0x7e, 0x7e };
  SrvNewPne pnes[] = {
    { "pne-1", (const guint8 *) "\x01", 1, tk, sizeof tk },
    { "pne-2", (const guint8 *) "\x02", 1, tk, sizeof tk },
  };

  f->dir = g_dir_make_tmp ("test-core-XXXXXX", NULL);
  f->path = g_build_filename (f->dir, "cpns.db", NULL);
  f->store = srv_store_open (f->path, NULL);
  g_assert_nonnull (f->store);
  add_user (f, "alice", "alice-pw");
  add_user (f, "bob", "bob-pw");
  g_assert_true (srv_store_import_pnes (f->store, pnes, 2, NULL, NULL));
  f->config = srv_config_new ();
  f->config->poll_timeout = 1;
  f->config->default_iterations = 1000;
  f->config->user_failures = 3;
  f->config->address_failures = 100;
  f->secret = cpns_secret_new0 (32);
  f->core = srv_core_new (f->store, f->config, f->secret);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->core);
  g_clear_object (&f->store);
  srv_config_free (f->config);
  cpns_secret_free (f->secret);
  static const char *const suffixes[] = { "", "-wal", "-shm" };

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *p = g_strconcat (f->path, suffixes[i], NULL);
      g_unlink (p);
    }
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

/* ---- the entity side ---- */

typedef struct {
  guint8 key[32];
  guint8 kid[CPNS_KID_MAX];
  gsize  kid_len;
} Enrolled;

static SrvReply *
call (Fixture *f, SrvEndpoint endpoint, const guint8 *data, gsize len)
{
  SrvReply *reply = srv_core_handle (f->core, endpoint, PEER, data, len, NULL, NULL, NULL);

  g_assert_nonnull (reply);
  return reply;
}

static CpnsPlainMessage
plain_of (const SrvReply *reply)
{
  CpnsPlainMessage msg;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (reply->body);
  g_assert_true (cpns_plain_decode (g_bytes_get_data (reply->body, NULL),
                                    g_bytes_get_size (reply->body), &msg, &error));
  g_assert_no_error (error);
  return msg;
}

static guint
error_code_of (const SrvReply *reply)
{
  CpnsPlainMessage msg = plain_of (reply);

  g_assert_cmpuint (msg.hdr.type, ==, CPNS_MSG_ERROR);
  return msg.body.error.code;
}

/* Runs a Key Request; returns the KEY_DELIVERY status, or -1 when the
 * challenge was refused (then *@refusal is that reply). */
static int
enrol (Fixture *f, const char *self, const char *subject, const char *user,
       const char *password, Enrolled *out, SrvReply **refusal)
{
  g_autoptr(CpnsKeyClient) kc = NULL;
  g_autoptr(SrvReply) r1 = NULL;
  g_autoptr(SrvReply) r2 = NULL;
  g_autoptr(GError) error = NULL;
  guint8 buf[2048];
  gsize len;
  CpnsPlainMessage msg;
  int status;

  kc = cpns_key_client_new (self, "cpns-server", subject, user, (const guint8 *) password,
                            strlen (password), &error);
  g_assert_no_error (error);
  len = cpns_key_client_request (kc, buf, sizeof buf, &error);
  r1 = call (f, SRV_ENDPOINT_KEY, buf, len);
  if (r1->status != 200)
    {
      if (refusal != NULL)
        *refusal = g_steal_pointer (&r1);
      return -1;
    }
  len = cpns_key_client_answer (kc, g_bytes_get_data (r1->body, NULL),
                                g_bytes_get_size (r1->body), buf, sizeof buf, &error);
  g_assert_no_error (error);
  r2 = call (f, SRV_ENDPOINT_KEY, buf, len);
  g_assert_cmpuint (r2->status, ==, 200);
  msg = plain_of (r2);
  g_assert_cmpuint (msg.hdr.type, ==, CPNS_MSG_KEY_DELIVERY);
  status = (int) msg.body.key_delivery.status;
  /* Keys 2-4 exactly when the status is 0. */
  g_assert_cmpint (!!(msg.body.present & (1u << 4)), ==, status == 0);
  if (status == 0)
    {
      const CpnsSecret *key;
      const guint8 *kid;

      g_assert_true (cpns_key_client_accept (kc, g_bytes_get_data (r2->body, NULL),
                                             g_bytes_get_size (r2->body), &error));
      g_assert_no_error (error);
      key = cpns_key_client_get_key (kc);
      kid = cpns_key_client_get_kid (kc, &out->kid_len);
      g_assert_cmpuint (key->len, ==, 32);
      memcpy (out->key, key->data, 32);
      memcpy (out->kid, kid, out->kid_len);
    }
  return status;
}

static CpnsSession *
handshake (Fixture *f, const char *self, const Enrolled *e, SrvReply **refusal)
{
  CpnsPsk psk = { .key_len = 32, .kid_len = e->kid_len, .role = CPNS_ROLE_INITIATOR };
  CpnsHandshakeConfig config = {
    .role = CPNS_ROLE_INITIATOR, .purpose = CPNS_PURPOSE_SERVER, .self_id = self,
    .peer_id = "cpns-server", .psk = &psk, .replay_mode = CPNS_REPLAY_WINDOW,
  };
  g_autoptr(CpnsHandshake) hs = NULL;
  g_autoptr(SrvReply) r1 = NULL;
  g_autoptr(SrvReply) r2 = NULL;
  g_autoptr(GError) error = NULL;
  guint8 buf[CPNS_HANDSHAKE_MAX];
  gsize len;

  memcpy (psk.key, e->key, 32);
  memcpy (psk.kid, e->kid, e->kid_len);
  hs = cpns_handshake_new (&config, &error);
  g_assert_true (cpns_handshake_start (hs, buf, sizeof buf, &len, &error));
  r1 = call (f, SRV_ENDPOINT_HANDSHAKE, buf, len);
  if (r1->status != 200)
    {
      *refusal = g_steal_pointer (&r1);
      return NULL;
    }
  g_assert_true (cpns_handshake_receive (hs, g_bytes_get_data (r1->body, NULL),
                                         g_bytes_get_size (r1->body), buf, sizeof buf, &len,
                                         &error));
  g_assert_no_error (error);
  r2 = call (f, SRV_ENDPOINT_HANDSHAKE, buf, len);
  g_assert_cmpuint (r2->status, ==, 204);
  g_assert_null (r2->body);
  return cpns_handshake_take_session (hs);
}

static CpnsSession *
enrol_and_connect (Fixture *f, const char *self, const char *user, const char *password,
                   Enrolled *e)
{
  SrvReply *refusal = NULL;
  CpnsSession *s;

  g_assert_cmpint (enrol (f, self, NULL, user, password, e, NULL), ==, 0);
  s = handshake (f, self, e, &refusal);
  g_assert_null (refusal);
  return s;
}

static gsize
seal (CpnsSession *s, guint64 type, const CpnsBody *body, gboolean encrypt, guint8 *out)
{
  g_autoptr(GError) error = NULL;
  static guint64 txid = 100;
  gsize len = cpns_session_seal_message (s, type, ++txid, encrypt, body, out,
                                         CPNS_MAX_RECORD, &error);

  g_assert_no_error (error);
  return len;
}

/* Sends one record; returns the reply, opened into @hdr/@answer when 200. */
static SrvReply *
request (Fixture *f, CpnsSession *s, guint64 type, const CpnsBody *body,
         CpnsHeader *hdr, CpnsBody *answer, guint8 *plain)
{
  g_autofree guint8 *rec = g_malloc (CPNS_MAX_RECORD);
  gsize len = seal (s, type, body, FALSE, rec);
  SrvReply *reply = call (f, SRV_ENDPOINT_RECORD, rec, len);

  if (reply->status == 200)
    {
      g_autoptr(GError) error = NULL;
      g_assert_true (cpns_session_open_message (s, g_bytes_get_data (reply->body, NULL),
                                                g_bytes_get_size (reply->body), hdr, answer,
                                                plain, CPNS_MAX_BODY, &error));
      g_assert_no_error (error);
    }
  return reply;
}

static SrvReply *
pne_request (Fixture *f, CpnsSession *s, guint64 type, const char *pne, CpnsHeader *hdr,
             CpnsBody *answer, guint8 *plain)
{
  CpnsBody body = { .present = 1u << 1 };

  body.pne_ref.pne = CPNS_STR (pne);
  return request (f, s, type, &body, hdr, answer, plain);
}

/* ---- tests ---- */

static void
test_enrol (Fixture *f, gconstpointer data)
{
  Enrolled e;
  g_autoptr(SrvEntity) entity = NULL;

  g_assert_cmpint (enrol (f, "gw-a", NULL, "alice", "wrong", &e, NULL), ==,
                   CPNS_KEY_STATUS_AUTH_FAILED);
  g_assert_null (srv_store_get_entity (f->store, "gw-a", NULL));
  g_assert_cmpint (enrol (f, "gw-a", NULL, "alice", "alice-pw", &e, NULL), ==, 0);
  entity = srv_store_get_entity (f->store, "gw-a", NULL);
  g_assert_cmpstr (entity->owner, ==, "alice");
  g_assert_cmpmem (entity->eukey->data, entity->eukey->len, e.key, 32);
  g_assert_cmpmem (g_bytes_get_data (entity->eukey_kid, NULL),
                   g_bytes_get_size (entity->eukey_kid), e.kid, e.kid_len);
  /* Another user cannot take the entity over, even with a right password. */
  g_assert_cmpint (enrol (f, "gw-a", NULL, "bob", "bob-pw", &e, NULL), ==,
                   CPNS_KEY_STATUS_REFUSED);
  /* A subject must be a known PNE. */
  g_assert_cmpint (enrol (f, "gw-a", "gw-zz", "alice", "alice-pw", &e, NULL), ==,
                   CPNS_KEY_STATUS_REFUSED);
  g_assert_cmpint (enrol (f, "gw-a", "pne-1", "alice", "alice-pw", &e, NULL), ==, 0);
}

static void
test_decoy (Fixture *f, gconstpointer data)
{
  guint8 buf[2048];
  gsize len;
  CpnsPlainMessage real, decoy, decoy2;
  g_autoptr(SrvReply) r_real = NULL;
  g_autoptr(SrvReply) r_decoy = NULL;
  g_autoptr(SrvReply) r_decoy2 = NULL;
  const char *users[] = { "alice", "mallory", "mallory" };
  SrvReply **replies[] = { &r_real, &r_decoy, &r_decoy2 };
  Enrolled e;

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(CpnsKeyClient) kc = cpns_key_client_new ("gw-a", "cpns-server", NULL,
                                                         users[i], (const guint8 *) "x", 1,
                                                         NULL);
      len = cpns_key_client_request (kc, buf, sizeof buf, NULL);
      *replies[i] = call (f, SRV_ENDPOINT_KEY, buf, len);
      g_assert_cmpuint ((*replies[i])->status, ==, 200);
    }
  real = plain_of (r_real);
  decoy = plain_of (r_decoy);
  decoy2 = plain_of (r_decoy2);
  g_assert_cmpuint (decoy.hdr.type, ==, CPNS_MSG_KEY_CHALLENGE);
  g_assert_cmpuint (decoy.body.present, ==, real.body.present);
  g_assert_cmpuint (decoy.body.key_challenge.group, ==, real.body.key_challenge.group);
  g_assert_cmpuint (decoy.body.key_challenge.iterations, ==,
                    real.body.key_challenge.iterations);
  g_assert_cmpuint (decoy.body.key_challenge.salt.len, ==, real.body.key_challenge.salt.len);
  /* The same name gets the same salt, a fresh B each time. */
  g_assert_cmpmem (decoy.body.key_challenge.salt.data, 16,
                   decoy2.body.key_challenge.salt.data, 16);
  g_assert_true (memcmp (decoy.body.key_challenge.server_public.data,
                         decoy2.body.key_challenge.server_public.data, 64) != 0);
  /* Whatever the password, the proof fails. */
  g_assert_cmpint (enrol (f, "gw-m", NULL, "mallory", "x", &e, NULL), ==,
                   CPNS_KEY_STATUS_AUTH_FAILED);
}

static void
test_key_proof_state (Fixture *f, gconstpointer data)
{
  g_autoptr(CpnsKeyClient) kc = NULL;
  g_autoptr(SrvReply) r = NULL;
  g_autoptr(SrvReply) again = NULL;
  g_autoptr(SrvReply) stray = NULL;
  guint8 buf[2048], proof[2048];
  gsize len, proof_len;

  kc = cpns_key_client_new ("gw-a", "cpns-server", NULL, "alice",
                            (const guint8 *) "alice-pw", 8, NULL);
  len = cpns_key_client_request (kc, buf, sizeof buf, NULL);
  r = call (f, SRV_ENDPOINT_KEY, buf, len);
  proof_len = cpns_key_client_answer (kc, g_bytes_get_data (r->body, NULL),
                                      g_bytes_get_size (r->body), proof, sizeof proof, NULL);
  g_clear_pointer (&r, srv_reply_free);
  r = call (f, SRV_ENDPOINT_KEY, proof, proof_len);
  g_assert_cmpuint (r->status, ==, 200);
  /* One proof per challenge. */
  again = call (f, SRV_ENDPOINT_KEY, proof, proof_len);
  g_assert_cmpuint (again->status, ==, 400);
  g_assert_cmpuint (error_code_of (again), ==, CPNS_ERROR_STATE);
  /* A KEY_REQUEST sent to /handshake is refused there. */
  stray = call (f, SRV_ENDPOINT_HANDSHAKE, buf, len);
  g_assert_cmpuint (stray->status, ==, 400);
  g_clear_pointer (&stray, srv_reply_free);
  /* Nobody enrols under the server's own name. */
  g_clear_pointer (&kc, cpns_key_client_free);
  kc = cpns_key_client_new ("cpns-server", "cpns-server", NULL, "alice",
                            (const guint8 *) "alice-pw", 8, NULL);
  len = cpns_key_client_request (kc, buf, sizeof buf, NULL);
  stray = call (f, SRV_ENDPOINT_KEY, buf, len);
  g_assert_cmpuint (stray->status, ==, 400);
  g_assert_cmpuint (error_code_of (stray), ==, CPNS_ERROR_WRONG_ID);
}

static void
test_rate_limit (Fixture *f, gconstpointer data)
{
  Enrolled e;
  g_autoptr(SrvReply) refusal = NULL;

  for (int i = 0; i < 3; i++)
    g_assert_cmpint (enrol (f, "gw-a", NULL, "alice", "wrong", &e, NULL), ==,
                     CPNS_KEY_STATUS_AUTH_FAILED);
  g_assert_cmpint (enrol (f, "gw-a", NULL, "alice", "alice-pw", &e, &refusal), ==, -1);
  g_assert_cmpuint (refusal->status, ==, 429);
  g_assert_cmpuint (refusal->retry_after, >, 0);
  g_assert_cmpuint (refusal->retry_after, <=, f->config->failure_window);
  g_assert_cmpuint (error_code_of (refusal), ==, CPNS_ERROR_RATE_LIMITED);
  /* Another user is not held up. */
  g_assert_cmpint (enrol (f, "gw-b", NULL, "bob", "bob-pw", &e, NULL), ==, 0);
}

static void
test_records (Fixture *f, gconstpointer data)
{
  Enrolled ea, eb, ep;
  g_autoptr(CpnsSession) sa = enrol_and_connect (f, "gw-a", "alice", "alice-pw", &ea);
  g_autoptr(CpnsSession) sb = enrol_and_connect (f, "gw-b", "bob", "bob-pw", &eb);
  g_autofree guint8 *plain = g_malloc (CPNS_MAX_BODY);
  CpnsBody body = { .present = 1u << 1 | 1u << 2 }, answer;
  CpnsHeader hdr;
  SrvReply *r;

  /* Echo. */
  body.data.content_type = 0;
  body.data.data = CPNS_STR ("ping");
  r = request (f, sa, CPNS_MSG_DATA, &body, &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 200);
  g_assert_cmpuint (hdr.type, ==, CPNS_MSG_DATA);
  g_assert_cmpmem (answer.data.data.data, answer.data.data.len, "ping", 4);
  srv_reply_free (r);

  /* TK: alice claims pne-1; bob is refused it, and a LocalEUKey for it. */
  r = pne_request (f, sa, CPNS_MSG_TK_REQUEST, "pne-1", &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 200);
  g_assert_cmpuint (hdr.type, ==, CPNS_MSG_TK_DELIVERY);
  g_assert_true (hdr.encrypted);
  srv_reply_free (r);
  r = pne_request (f, sb, CPNS_MSG_TK_REQUEST, "pne-1", &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 403);
  g_assert_cmpuint (error_code_of (r), ==, CPNS_ERROR_FORBIDDEN);
  srv_reply_free (r);
  r = pne_request (f, sa, CPNS_MSG_TK_REQUEST, "pne-unknown", &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 403);
  srv_reply_free (r);

  /* LocalEUKey: needs the PNE's EUKey first. */
  r = pne_request (f, sa, CPNS_MSG_LOCAL_KEY_REQUEST, "pne-1", &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 400);
  g_assert_cmpuint (error_code_of (r), ==, CPNS_ERROR_STATE);
  srv_reply_free (r);
  g_assert_cmpint (enrol (f, "gw-a", "pne-1", "alice", "alice-pw", &ep, NULL), ==, 0);
  r = pne_request (f, sa, CPNS_MSG_LOCAL_KEY_REQUEST, "pne-1", &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 200);
  g_assert_cmpuint (hdr.type, ==, CPNS_MSG_LOCAL_KEY_DELIVERY);
  {
    const CpnsLocalKeyDelivery *d = &answer.local_key_delivery;
    CpnsWrapBinding b = { "gw-a", "pne-1", "", d->kid.data, d->kid.len };
    g_autoptr(CpnsSecret) k = cpns_wrap_open (CPNS_WRAP_LOCAL_EUKEY, ep.key, 32, &b,
                                              d->wrapped_for_pne.data,
                                              d->wrapped_for_pne.len, NULL);
    g_assert_nonnull (k);
    g_assert_cmpmem (k->data, k->len, d->local_key.data, d->local_key.len);
  }
  srv_reply_free (r);
  r = pne_request (f, sb, CPNS_MSG_LOCAL_KEY_REQUEST, "pne-1", &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 403);
  srv_reply_free (r);

  /* Release: only the owner. */
  r = pne_request (f, sb, CPNS_MSG_PNE_RELEASE, "pne-1", &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 403);
  srv_reply_free (r);
  r = pne_request (f, sa, CPNS_MSG_PNE_RELEASE, "pne-1", &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 200);
  g_assert_cmpuint (hdr.type, ==, CPNS_MSG_ACK);
  g_assert_cmpuint (answer.ack.type, ==, CPNS_MSG_PNE_RELEASE);
  srv_reply_free (r);
  r = pne_request (f, sb, CPNS_MSG_TK_REQUEST, "pne-1", &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 200);
  srv_reply_free (r);
}

static void
test_record_errors (Fixture *f, gconstpointer data)
{
  Enrolled ea;
  g_autoptr(CpnsSession) sa = enrol_and_connect (f, "gw-a", "alice", "alice-pw", &ea);
  g_autofree guint8 *rec = g_malloc (CPNS_MAX_RECORD);
  CpnsBody body = { .present = 1u << 1 | 1u << 2 };
  g_autoptr(SrvReply) r = NULL;
  gsize len;

  body.data.data = CPNS_STR ("x");
  len = seal (sa, CPNS_MSG_DATA, &body, TRUE, rec);
  r = call (f, SRV_ENDPOINT_RECORD, rec, len);
  g_assert_cmpuint (r->status, ==, 200);
  g_clear_pointer (&r, srv_reply_free);
  r = call (f, SRV_ENDPOINT_RECORD, rec, len);
  g_assert_cmpuint (r->status, ==, 409);
  g_assert_cmpuint (error_code_of (r), ==, CPNS_ERROR_REPLAY);
  g_clear_pointer (&r, srv_reply_free);
  /* A bit flipped in the ciphertext. */
  len = seal (sa, CPNS_MSG_DATA, &body, TRUE, rec);
  rec[len - 3] ^= 1;
  r = call (f, SRV_ENDPOINT_RECORD, rec, len);
  g_assert_cmpuint (r->status, ==, 401);
  g_assert_cmpuint (error_code_of (r), ==, CPNS_ERROR_BAD_MAC);
  g_clear_pointer (&r, srv_reply_free);
  /* A POLL belongs on /poll, DATA not on /poll. */
  {
    CpnsBody empty = { 0 };
    len = seal (sa, CPNS_MSG_POLL, &empty, FALSE, rec);
    r = call (f, SRV_ENDPOINT_RECORD, rec, len);
    g_assert_cmpuint (r->status, ==, 400);
    g_clear_pointer (&r, srv_reply_free);
  }
  len = seal (sa, CPNS_MSG_DATA, &body, TRUE, rec);
  r = call (f, SRV_ENDPOINT_POLL, rec, len);
  g_assert_cmpuint (r->status, ==, 400);
  g_clear_pointer (&r, srv_reply_free);
  /* Unknown session. */
  srv_sessions_end (srv_core_get_sessions (f->core), cpns_session_get_id (sa));
  len = seal (sa, CPNS_MSG_DATA, &body, TRUE, rec);
  r = call (f, SRV_ENDPOINT_RECORD, rec, len);
  g_assert_cmpuint (r->status, ==, 401);
  g_assert_cmpuint (error_code_of (r), ==, CPNS_ERROR_NOT_FOUND);
}

static void
test_reenrol_ends_sessions (Fixture *f, gconstpointer data)
{
  Enrolled ea, ea2;
  g_autoptr(CpnsSession) old = enrol_and_connect (f, "gw-a", "alice", "alice-pw", &ea);
  g_autoptr(CpnsSession) fresh = NULL;
  g_autoptr(SrvReply) refusal = NULL;
  g_autofree guint8 *plain = g_malloc (CPNS_MAX_BODY);
  CpnsBody body = { .present = 1u << 1 | 1u << 2 }, answer;
  CpnsHeader hdr;
  SrvReply *r;

  body.data.data = CPNS_STR ("x");
  g_assert_cmpint (enrol (f, "gw-a", NULL, "alice", "alice-pw", &ea2, NULL), ==, 0);
  r = request (f, old, CPNS_MSG_DATA, &body, &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 401);
  srv_reply_free (r);
  /* The old key no longer opens a session; the new one does. */
  g_assert_null (handshake (f, "gw-a", &ea, &refusal));
  g_assert_cmpuint (refusal->status, ==, 401);
  fresh = handshake (f, "gw-a", &ea2, &refusal);
  g_assert_nonnull (fresh);
  r = request (f, fresh, CPNS_MSG_DATA, &body, &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 200);
  srv_reply_free (r);
  /* Revoked behind the server's back (as cpns-admin does): noticed at the
   * next request. */
  g_assert_true (srv_store_revoke_entity (f->store, "gw-a", NULL));
  r = request (f, fresh, CPNS_MSG_DATA, &body, &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 401);
  srv_reply_free (r);
}

/* ---- long poll ---- */

typedef struct {
  SrvReply *reply;
  int       calls;
} Later;

static void
on_later (SrvReply *reply, gpointer data)
{
  Later *l = data;

  l->calls++;
  srv_reply_free (l->reply);
  l->reply = reply;
}

static SrvReply *
send_poll (Fixture *f, CpnsSession *s, Later *later, guint *wait_id)
{
  g_autofree guint8 *rec = g_malloc (CPNS_MAX_RECORD);
  CpnsBody empty = { 0 };
  gsize len = seal (s, CPNS_MSG_POLL, &empty, FALSE, rec);

  return srv_core_handle (f->core, SRV_ENDPOINT_POLL, PEER, rec, len, on_later, later,
                          wait_id);
}

static void
assert_data (CpnsSession *s, const SrvReply *r, const char *text)
{
  g_autofree guint8 *plain = g_malloc (CPNS_MAX_BODY);
  CpnsHeader hdr;
  CpnsBody body;

  g_assert_cmpuint (r->status, ==, 200);
  g_assert_true (cpns_session_open_message (s, g_bytes_get_data (r->body, NULL),
                                            g_bytes_get_size (r->body), &hdr, &body, plain,
                                            CPNS_MAX_BODY, NULL));
  g_assert_cmpuint (hdr.type, ==, CPNS_MSG_DATA);
  g_assert_cmpmem (body.data.data.data, body.data.data.len, text, strlen (text));
}

static void
post_data (Fixture *f, const char *entity, const char *text)
{
  CpnsBody body = { .present = 1u << 1 | 1u << 2 };
  g_autoptr(GError) error = NULL;

  body.data.content_type = 7;
  body.data.data = CPNS_STR (text);
  g_assert_true (srv_core_post (f->core, entity, CPNS_MSG_DATA, &body, TRUE, &error));
  g_assert_no_error (error);
}

static void
test_poll (Fixture *f, gconstpointer data)
{
  Enrolled ea;
  g_autoptr(CpnsSession) s = enrol_and_connect (f, "gw-a", "alice", "alice-pw", &ea);
  Later later = { 0 };
  SrvReply *r;
  guint wait_id = 0;
  gint64 start;

  /* Queued first: answered at once. */
  post_data (f, "gw-a", "one");
  r = send_poll (f, s, &later, &wait_id);
  g_assert_nonnull (r);
  assert_data (s, r, "one");
  srv_reply_free (r);

  /* Waiting first: answered when the message is posted. */
  r = send_poll (f, s, &later, &wait_id);
  g_assert_null (r);
  g_assert_cmpuint (wait_id, !=, 0);
  g_assert_cmpint (later.calls, ==, 0);
  post_data (f, "gw-a", "two");
  g_assert_cmpint (later.calls, ==, 1);
  assert_data (s, later.reply, "two");
  g_assert_cmpuint (srv_mailbox_get_queued (srv_core_get_mailbox (f->core), "gw-a"), ==, 0);

  /* Nothing comes: 204 after the poll timeout. */
  start = g_get_monotonic_time ();
  r = send_poll (f, s, &later, &wait_id);
  g_assert_null (r);
  while (later.calls < 2)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (later.reply->status, ==, 204);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 900 * 1000);

  /* The client went away: no call, and the message stays queued. */
  r = send_poll (f, s, &later, &wait_id);
  g_assert_null (r);
  srv_core_cancel (f->core, wait_id);
  post_data (f, "gw-a", "three");
  g_assert_cmpint (later.calls, ==, 2);
  g_assert_cmpuint (srv_mailbox_get_queued (srv_core_get_mailbox (f->core), "gw-a"), ==, 1);
  r = send_poll (f, s, &later, &wait_id);
  assert_data (s, r, "three");
  srv_reply_free (r);

  /* The session ends while waiting: 401. */
  r = send_poll (f, s, &later, &wait_id);
  g_assert_null (r);
  srv_store_revoke_entity (f->store, "gw-a", NULL);
  srv_sessions_end_entity (srv_core_get_sessions (f->core), "gw-a");
  g_assert_cmpint (later.calls, ==, 3);
  g_assert_cmpuint (later.reply->status, ==, 401);
  srv_reply_free (later.reply);
}

static void
test_poll_shutdown (Fixture *f, gconstpointer data)
{
  Enrolled ea;
  g_autoptr(CpnsSession) s = enrol_and_connect (f, "gw-a", "alice", "alice-pw", &ea);
  Later later = { 0 };
  guint wait_id;

  g_assert_null (send_poll (f, s, &later, &wait_id));
  srv_core_shutdown (f->core);
  g_assert_cmpint (later.calls, ==, 1);
  g_assert_cmpuint (later.reply->status, ==, 503);
  g_assert_cmpuint (error_code_of (later.reply), ==, CPNS_ERROR_UNAVAILABLE);
  srv_reply_free (later.reply);
}


/* ---- delivery to PNEs through their gateway's poll (protocol.md 12.1) ---- */

/* A POLL answered at once: a message, or 204. */
static SrvReply *
poll_now (Fixture *f, CpnsSession *s)
{
  g_autofree guint8 *rec = g_malloc (CPNS_MAX_RECORD);
  CpnsBody empty = { 0 };
  gsize len = seal (s, CPNS_MSG_POLL, &empty, FALSE, rec);

  return call (f, SRV_ENDPOINT_POLL, rec, len);
}

/* @r holds DATA @text sealed in @s from the server to @dst. */
static void
assert_data_for (CpnsSession *s, const SrvReply *r, const char *dst, const char *text)
{
  g_autofree guint8 *plain = g_malloc (CPNS_MAX_BODY);
  g_autoptr(GError) error = NULL;
  CpnsHeader hdr;
  CpnsBody body;

  g_assert_nonnull (r);
  g_assert_cmpuint (r->status, ==, 200);
  /* What a gateway sees without the key. */
  g_assert_true (cpns_record_peek (g_bytes_get_data (r->body, NULL),
                                   g_bytes_get_size (r->body), &hdr, &error));
  g_assert_cmpstr (hdr.src, ==, "cpns-server");
  g_assert_cmpstr (hdr.dst, ==, dst);
  g_assert_cmpmem (hdr.session_id, CPNS_SESSION_ID_LEN, cpns_session_get_id (s),
                   CPNS_SESSION_ID_LEN);
  g_assert_true (cpns_session_open_message (s, g_bytes_get_data (r->body, NULL),
                                            g_bytes_get_size (r->body), &hdr, &body, plain,
                                            CPNS_MAX_BODY, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (hdr.type, ==, CPNS_MSG_DATA);
  g_assert_cmpmem (body.data.data.data, body.data.data.len, text, strlen (text));
}

static void
assert_empty (SrvReply *r)
{
  g_assert_nonnull (r);
  g_assert_cmpuint (r->status, ==, 204);
  srv_reply_free (r);
}

static void
local_key (Fixture *f, CpnsSession *gw, const char *pne)
{
  g_autofree guint8 *plain = g_malloc (CPNS_MAX_BODY);
  CpnsBody answer;
  CpnsHeader hdr;
  SrvReply *r = pne_request (f, gw, CPNS_MSG_LOCAL_KEY_REQUEST, pne, &hdr, &answer, plain);

  g_assert_cmpuint (r->status, ==, 200);
  g_assert_cmpuint (hdr.type, ==, CPNS_MSG_LOCAL_KEY_DELIVERY);
  srv_reply_free (r);
}

static SrvEntityKind
kind_of (Fixture *f, const char *entity)
{
  g_autoptr(SrvEntity) e = srv_store_get_entity (f->store, entity, NULL);

  g_assert_nonnull (e);
  return e->kind;
}

static void
test_pne_delivery (Fixture *f, gconstpointer data)
{
  Enrolled eg, ep, ec, eb;
  g_autoptr(CpnsSession) sg = enrol_and_connect (f, "gw-a", "alice", "alice-pw", &eg);
  g_autoptr(CpnsSession) sc = enrol_and_connect (f, "gw-c", "alice", "alice-pw", &ec);
  g_autoptr(CpnsSession) sb = enrol_and_connect (f, "gw-b", "bob", "bob-pw", &eb);
  g_autoptr(CpnsSession) sp = NULL;
  g_autoptr(SrvReply) refusal = NULL;
  g_autofree guint8 *plain = g_malloc (CPNS_MAX_BODY);
  SrvMailbox *mb = srv_core_get_mailbox (f->core);
  CpnsBody body = { .present = 1u << 1 | 1u << 2 }, answer;
  CpnsHeader hdr;
  Later later = { 0 };
  guint wait_id;
  SrvReply *r;

  /* A PNE with UI enrols itself, and looks like a gateway until paired. */
  g_assert_cmpint (enrol (f, "pne-ui", NULL, "alice", "alice-pw", &ep, NULL), ==, 0);
  g_assert_cmpint (kind_of (f, "pne-ui"), ==, SRV_ENTITY_GATEWAY);
  local_key (f, sg, "pne-ui");
  g_assert_cmpint (kind_of (f, "pne-ui"), ==, SRV_ENTITY_PNE);
  g_assert_cmpint (kind_of (f, "gw-a"), ==, SRV_ENTITY_GATEWAY);

  /* No session of the PNE: the message waits. */
  post_data (f, "pne-ui", "early");
  assert_empty (poll_now (f, sg));
  g_assert_cmpuint (srv_mailbox_get_queued (mb, "pne-ui"), ==, 1);
  g_assert_cmpuint (srv_mailbox_get_routed (mb, "gw-a"), ==, 0);

  /* The PNE's handshake wakes the gateway's waiting poll with it, sealed
   * in the PNE's session, which the gateway's session cannot open. */
  g_assert_null (send_poll (f, sg, &later, &wait_id));
  sp = handshake (f, "pne-ui", &ep, &refusal);
  g_assert_nonnull (sp);
  g_assert_cmpint (later.calls, ==, 1);
  g_assert_false (cpns_session_open_message (sg, g_bytes_get_data (later.reply->body, NULL),
                                             g_bytes_get_size (later.reply->body), &hdr,
                                             &answer, plain, CPNS_MAX_BODY, NULL));
  assert_data_for (sp, later.reply, "pne-ui", "early");
  g_assert_cmpuint (srv_mailbox_get_queued (mb, "pne-ui"), ==, 0);

  /* The queued echo (DATA content type 1) of the PNE comes back through
   * the gateway. */
  body.data.content_type = 1;
  body.data.data = CPNS_STR ("echo");
  r = request (f, sp, CPNS_MSG_DATA, &body, &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 200);
  g_assert_cmpuint (hdr.type, ==, CPNS_MSG_ACK);
  srv_reply_free (r);
  /* Neither an unpaired gateway of the same user nor another user's. */
  assert_empty (poll_now (f, sc));
  assert_empty (poll_now (f, sb));
  r = poll_now (f, sg);
  assert_data_for (sp, r, "pne-ui", "echo");
  srv_reply_free (r);

  /* The PNE's own poll still takes its messages. */
  post_data (f, "pne-ui", "own");
  r = poll_now (f, sp);
  assert_data_for (sp, r, "pne-ui", "own");
  srv_reply_free (r);

  /* The gateway's own messages and its PNE's, oldest first. */
  post_data (f, "gw-a", "g1");
  post_data (f, "pne-ui", "p1");
  post_data (f, "gw-a", "g2");
  post_data (f, "pne-ui", "p2");
  r = poll_now (f, sg);
  assert_data_for (sg, r, "gw-a", "g1");
  srv_reply_free (r);
  r = poll_now (f, sg);
  assert_data_for (sp, r, "pne-ui", "p1");
  srv_reply_free (r);
  r = poll_now (f, sg);
  assert_data_for (sg, r, "gw-a", "g2");
  srv_reply_free (r);

  /* Re-paired: what waits moves with the PNE, and so do new messages. */
  local_key (f, sc, "pne-ui");
  assert_empty (poll_now (f, sg));
  r = poll_now (f, sc);
  assert_data_for (sp, r, "pne-ui", "p2");
  srv_reply_free (r);
  post_data (f, "pne-ui", "moved");
  assert_empty (poll_now (f, sg));
  r = poll_now (f, sc);
  assert_data_for (sp, r, "pne-ui", "moved");
  srv_reply_free (r);

  /* A LocalEUKey issued while the gateway waits wakes it. */
  post_data (f, "pne-ui", "back");
  g_assert_null (send_poll (f, sg, &later, &wait_id));
  local_key (f, sg, "pne-ui");
  g_assert_cmpint (later.calls, ==, 2);
  assert_data_for (sp, later.reply, "pne-ui", "back");

  /* The PNE's session ends: messages wait again. */
  srv_sessions_end_entity (srv_core_get_sessions (f->core), "pne-ui");
  post_data (f, "pne-ui", "wait");
  assert_empty (poll_now (f, sg));
  g_assert_cmpuint (srv_mailbox_get_queued (mb, "pne-ui"), ==, 1);
  g_clear_pointer (&sp, cpns_session_free);
  g_clear_pointer (&refusal, srv_reply_free);
  sp = handshake (f, "pne-ui", &ep, &refusal);
  g_assert_nonnull (sp);
  r = poll_now (f, sg);
  assert_data_for (sp, r, "pne-ui", "wait");
  srv_reply_free (r);

  /* Revoked behind the server's back (cpns-admin): noticed at delivery,
   * the message stays queued and the gateway gets nothing. */
  post_data (f, "pne-ui", "revoked");
  g_assert_true (srv_store_revoke_entity (f->store, "pne-ui", NULL));
  assert_empty (poll_now (f, sg));
  g_assert_cmpuint (srv_mailbox_get_queued (mb, "pne-ui"), ==, 1);
  g_assert_cmpuint (srv_mailbox_get_routed (mb, "gw-a"), ==, 0);
  srv_reply_free (later.reply);
}

static void
test_pne_delivery_limits (Fixture *f, gconstpointer data)
{
  Enrolled eg, ep;
  g_autoptr(CpnsSession) sg = enrol_and_connect (f, "gw-a", "alice", "alice-pw", &eg);
  g_autoptr(CpnsSession) sp = enrol_and_connect (f, "pne-ui", "alice", "alice-pw", &ep);
  g_autofree guint8 *plain = g_malloc (CPNS_MAX_BODY);
  CpnsBody body = { .present = 1u << 1 | 1u << 2 }, answer;
  g_autoptr(GError) error = NULL;
  SrvMailbox *mb = srv_core_get_mailbox (f->core);
  CpnsHeader hdr;
  Later later = { 0 };
  guint wait_id;
  SrvReply *r;

  local_key (f, sg, "pne-ui");
  /* The PNE's queue has its own cap, wherever it is delivered. */
  body.data.data = CPNS_STR ("x");
  for (guint i = 0; i < 64; i++)
    g_assert_true (srv_core_post (f->core, "pne-ui", CPNS_MSG_DATA, &body, TRUE, NULL));
  g_assert_false (srv_core_post (f->core, "pne-ui", CPNS_MSG_DATA, &body, TRUE, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_UNAVAILABLE);
  g_assert_cmpuint (srv_mailbox_get_routed (mb, "gw-a"), ==, 1);
  for (guint i = 0; i < 64; i++)
    {
      r = poll_now (f, sg);
      assert_data_for (sp, r, "pne-ui", "x");
      srv_reply_free (r);
    }
  assert_empty (poll_now (f, sg));
  g_assert_cmpuint (srv_mailbox_get_routed (mb, "gw-a"), ==, 0);

  /* The gateway releases itself: its LocalEUKeys go, and with them the
   * route (its sessions end with the ACK). */
  post_data (f, "pne-ui", "orphan");
  g_assert_cmpuint (srv_mailbox_get_routed (mb, "gw-a"), ==, 1);
  r = pne_request (f, sg, CPNS_MSG_PNE_RELEASE, "gw-a", &hdr, &answer, plain);
  g_assert_cmpuint (r->status, ==, 200);
  srv_reply_free (r);
  g_assert_cmpuint (srv_mailbox_get_routed (mb, "gw-a"), ==, 0);
  g_assert_cmpuint (srv_mailbox_get_queued (mb, "pne-ui"), ==, 1);

  /* Shutdown answers a gateway's waiting poll; queued messages stay. */
  g_clear_pointer (&sg, cpns_session_free);
  sg = enrol_and_connect (f, "gw-a", "alice", "alice-pw", &eg);
  g_assert_null (send_poll (f, sg, &later, &wait_id));
  srv_core_shutdown (f->core);
  g_assert_cmpint (later.calls, ==, 1);
  g_assert_cmpuint (later.reply->status, ==, 503);
  srv_reply_free (later.reply);
}

static void
test_reserved_pan_id (Fixture *f, gconstpointer data)
{
  Enrolled e;
  SrvReply *refusal = NULL;
  CpnsPlainMessage msg;

  g_assert_cmpint (enrol (f, CPNS_PAN_GATEWAY_ID, NULL, "alice", "alice-pw", &e, &refusal),
                   ==, -1);
  g_assert_cmpuint (refusal->status, ==, 400);
  msg = plain_of (refusal);
  g_assert_cmpuint (msg.body.error.code, ==, CPNS_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (g_strstr_len ((const char *) msg.body.error.reason.data,
                                  msg.body.error.reason.len, "source '@pan'"));
  g_clear_pointer (&refusal, srv_reply_free);
  g_assert_cmpint (enrol (f, "gw-a", CPNS_PAN_GATEWAY_ID, "alice", "alice-pw", &e,
                          &refusal), ==, -1);
  g_assert_cmpuint (refusal->status, ==, 400);
  msg = plain_of (refusal);
  g_assert_cmpuint (msg.body.error.code, ==, CPNS_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (g_strstr_len ((const char *) msg.body.error.reason.data,
                                  msg.body.error.reason.len, "subject '@pan'"));
  g_clear_pointer (&refusal, srv_reply_free);
  g_assert_null (srv_store_get_entity (f->store, CPNS_PAN_GATEWAY_ID, NULL));
}

static void
test_status_table (void)
{
  static const struct {
    guint code;
    guint status;
  } table[] = {
    { CPNS_ERROR_MALFORMED, 400 }, { CPNS_ERROR_UNSUPPORTED, 400 },
    { CPNS_ERROR_POLICY, 400 }, { CPNS_ERROR_WRONG_ID, 400 }, { CPNS_ERROR_STATE, 400 },
    { CPNS_ERROR_DOWNGRADE, 400 }, { CPNS_ERROR_REFLECTION, 400 },
    { CPNS_ERROR_ROLE, 400 }, { CPNS_ERROR_INVALID_ARGUMENT, 400 },
    { CPNS_ERROR_BAD_MAC, 401 }, { CPNS_ERROR_NOT_FOUND, 401 },
    { CPNS_ERROR_FORBIDDEN, 403 }, { CPNS_ERROR_REPLAY, 409 }, { CPNS_ERROR_TOO_OLD, 409 },
    { CPNS_ERROR_TOO_LARGE, 413 }, { CPNS_ERROR_RATE_LIMITED, 429 },
    { CPNS_ERROR_FAILED, 500 }, { CPNS_ERROR_UNAVAILABLE, 503 },
  };
  g_autoptr(SrvReply) r = NULL;
  CpnsPlainMessage msg;
  char long_reason[400];

  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    g_assert_cmpuint (srv_reply_status_for_code (table[i].code), ==, table[i].status);
  /* Reasons are cut to what the wire allows. */
  memset (long_reason, 'a', sizeof long_reason - 1);
  long_reason[sizeof long_reason - 1] = '\0';
  r = srv_reply_error (0, "cpns-server", NULL, 0, CPNS_ERROR_MALFORMED, long_reason);
  g_assert_cmpuint (r->status, ==, 400);
  msg = plain_of (r);
  g_assert_cmpstr (msg.hdr.dst, ==, "unknown");
  g_assert_cmpuint (msg.body.error.reason.len, ==, 256);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func) \
  g_test_add ("/core/" name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("enrol", test_enrol);
  ADD ("decoy", test_decoy);
  ADD ("key-proof-state", test_key_proof_state);
  ADD ("rate-limit", test_rate_limit);
  ADD ("records", test_records);
  ADD ("record-errors", test_record_errors);
  ADD ("reenrol-ends-sessions", test_reenrol_ends_sessions);
  ADD ("poll", test_poll);
  ADD ("poll-shutdown", test_poll_shutdown);
  ADD ("pne-delivery", test_pne_delivery);
  ADD ("pne-delivery-limits", test_pne_delivery_limits);
  ADD ("reserved-pan-id", test_reserved_pan_id);
  g_test_add_func ("/core/status-table", test_status_table);
  return g_test_run ();
}
