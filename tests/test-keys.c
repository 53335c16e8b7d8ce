/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Key management: SRP-6a enrolment with the EUKey wrap, the other two key
 * wraps, and the keystore file. */

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cpns-error.h"
#include "cpns-key-client.h"
#include "cpns-keystore.h"
#include "cpns-srp.h"
#include "cpns-wrap.h"

#define ITERATIONS 1000  /* the minimum: keeps the test fast */

typedef struct {
  guint8 salt[CPNS_SRP_SALT_LEN];
  guint8 verifier[CPNS_SRP_PUBLIC_LEN];
  gsize  verifier_len;
} Account;

static void
account_init (Account *a, const char *user, const char *password)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (cpns_random (a->salt, sizeof a->salt, NULL));
  g_assert_true (cpns_srp_make_verifier (user, (const guint8 *) password,
                                         strlen (password), a->salt, sizeof a->salt,
                                         ITERATIONS, a->verifier, &a->verifier_len,
                                         &error));
  g_assert_no_error (error);
}

/* One Key Request exchange; returns whether the server accepted the proof. */
static gboolean
enrol (const Account *a, const char *user, const char *password,
       CpnsSrpClient **client_out, CpnsSrpServer **server_out, GError **error)
{
  g_autoptr(CpnsSrpServer) server = cpns_srp_server_new (user, a->salt, sizeof a->salt,
                                                         a->verifier, a->verifier_len,
                                                         NULL);
  g_autoptr(CpnsSrpClient) client = cpns_srp_client_new (user, (const guint8 *) password,
                                                         strlen (password), NULL);
  guint8 b[CPNS_SRP_PUBLIC_LEN], A[CPNS_SRP_PUBLIC_LEN];
  guint8 m1[CPNS_SRP_PROOF_LEN], m2[CPNS_SRP_PROOF_LEN];
  gsize b_len, a_len;

  g_assert_true (cpns_srp_server_challenge (server, b, &b_len, NULL));
  g_assert_true (cpns_srp_client_respond (client, CPNS_SRP_GROUP_3072, a->salt,
                                          sizeof a->salt, ITERATIONS, b, b_len, A,
                                          &a_len, m1, NULL));
  if (!cpns_srp_server_verify (server, A, a_len, m1, sizeof m1, m2, error))
    return FALSE;
  if (!cpns_srp_client_verify (client, m2, sizeof m2, error))
    return FALSE;
  *client_out = g_steal_pointer (&client);
  *server_out = g_steal_pointer (&server);
  return TRUE;
}

static void
test_srp_enrolment (void)
{
  Account a;
  g_autoptr(CpnsSrpClient) client = NULL;
  g_autoptr(CpnsSrpServer) server = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsSecret) eukey = NULL;
  const guint8 *kc, *ks;
  gsize kc_len, ks_len, wlen;
  guint8 key[32], wrapped[CPNS_WRAPPED_KEY_MAX];
  CpnsWrapBinding binding = { "cpns-server", "gw-1", "alice", (const guint8 *) "k1", 2 };

  account_init (&a, "alice", "correct horse");
  g_assert_true (enrol (&a, "alice", "correct horse", &client, &server, &error));
  g_assert_no_error (error);
  kc = cpns_srp_client_get_key (client, &kc_len);
  ks = cpns_srp_server_get_key (server, &ks_len);
  g_assert_cmpmem (kc, kc_len, ks, ks_len);
  g_assert_cmpuint (kc_len, ==, 64);

  /* The server wraps a fresh EUKey under the SRP key; the client opens it. */
  g_assert_true (cpns_random (key, sizeof key, NULL));
  wlen = cpns_wrap_seal (CPNS_WRAP_EUKEY_SRP, ks, ks_len, &binding, key, sizeof key,
                         wrapped, sizeof wrapped, &error);
  g_assert_no_error (error);
  eukey = cpns_wrap_open (CPNS_WRAP_EUKEY_SRP, kc, kc_len, &binding, wrapped, wlen,
                          &error);
  g_assert_no_error (error);
  g_assert_cmpmem (eukey->data, eukey->len, key, sizeof key);
}

static void
test_srp_wrong_password (void)
{
  Account a;
  CpnsSrpClient *client = NULL;
  CpnsSrpServer *server = NULL;
  g_autoptr(GError) error = NULL;

  account_init (&a, "alice", "correct horse");
  g_assert_false (enrol (&a, "alice", "wrong horse", &client, &server, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_AUTH_FAILED);
  g_clear_error (&error);
  /* User name is part of x: the right password under another name fails. */
  g_assert_false (enrol (&a, "mallory", "correct horse", &client, &server, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_AUTH_FAILED);
}

static void
test_srp_bad_values (void)
{
  Account a;
  g_autoptr(GError) error = NULL;
  guint8 zero[CPNS_SRP_PUBLIC_LEN] = { 0 }, A[CPNS_SRP_PUBLIC_LEN], m1[32], m2[32];
  guint8 b[CPNS_SRP_PUBLIC_LEN];
  gsize a_len, b_len;

  account_init (&a, "alice", "pw");
  {
    g_autoptr(CpnsSrpClient) c = cpns_srp_client_new ("alice", (const guint8 *) "pw", 2,
                                                      NULL);
    /* B = 0 would let anyone compute the key. */
    g_assert_false (cpns_srp_client_respond (c, 1, a.salt, sizeof a.salt, ITERATIONS,
                                             zero, sizeof zero, A, &a_len, m1, &error));
    g_assert_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED);
    g_clear_error (&error);
  }
  {
    g_autoptr(CpnsSrpClient) c = cpns_srp_client_new ("alice", (const guint8 *) "pw", 2,
                                                      NULL);
    /* A server asking for a trivially cheap stretch is refused. */
    g_assert_false (cpns_srp_client_respond (c, 1, a.salt, sizeof a.salt, 10, a.verifier,
                                             a.verifier_len, A, &a_len, m1, &error));
    g_assert_error (error, CPNS_ERROR, CPNS_ERROR_POLICY);
    g_clear_error (&error);
  }
  {
    g_autoptr(CpnsSrpClient) c = cpns_srp_client_new ("alice", (const guint8 *) "pw", 2,
                                                      NULL);
    g_assert_false (cpns_srp_client_respond (c, 7, a.salt, sizeof a.salt, ITERATIONS,
                                             a.verifier, a.verifier_len, A, &a_len, m1,
                                             &error));
    g_assert_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED);
    g_clear_error (&error);
  }
  {
    g_autoptr(CpnsSrpServer) s = cpns_srp_server_new ("alice", a.salt, sizeof a.salt,
                                                      a.verifier, a.verifier_len, NULL);
    g_assert_true (cpns_srp_server_challenge (s, b, &b_len, NULL));
    /* A = 0 likewise. */
    g_assert_false (cpns_srp_server_verify (s, zero, sizeof zero, m1, sizeof m1, m2,
                                            &error));
    g_assert_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED);
    g_clear_error (&error);
    /* One attempt per challenge. */
    g_assert_false (cpns_srp_server_verify (s, b, b_len, m1, sizeof m1, m2, &error));
    g_assert_error (error, CPNS_ERROR, CPNS_ERROR_STATE);
  }
}

static void
test_wraps (void)
{
  static const CpnsWrapKind kinds[] = {
    CPNS_WRAP_EUKEY_SRP, CPNS_WRAP_LOCAL_EUKEY, CPNS_WRAP_EUKEY_TK,
  };
  guint8 secret[32], key[32], wrapped[CPNS_WRAPPED_KEY_MAX];
  CpnsWrapBinding b = { "gw-1", "pne-1", "alice", (const guint8 *) "kid", 3 };

  cpns_random (secret, sizeof secret, NULL);
  cpns_random (key, sizeof key, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(CpnsSecret) out = NULL;
      gsize len = cpns_wrap_seal (kinds[i], secret, sizeof secret, &b, key, sizeof key,
                                  wrapped, sizeof wrapped, &error);

      g_assert_no_error (error);
      g_assert_cmpuint (len, ==, sizeof key + CPNS_WRAP_OVERHEAD);
      out = cpns_wrap_open (kinds[i], secret, sizeof secret, &b, wrapped, len, &error);
      g_assert_no_error (error);
      g_assert_cmpmem (out->data, out->len, key, sizeof key);

      /* Another user, and a flipped bit. */
      {
        CpnsWrapBinding other = b;
        other.user_id = "bob";
        g_assert_null (cpns_wrap_open (kinds[i], secret, sizeof secret, &other, wrapped,
                                       len, &error));
        g_assert_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC);
        g_clear_error (&error);
      }
      wrapped[len - 1] ^= 1;
      g_assert_null (cpns_wrap_open (kinds[i], secret, sizeof secret, &b, wrapped, len,
                                     &error));
      g_assert_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC);
      g_clear_error (&error);
      g_assert_null (cpns_wrap_open (kinds[i], secret, sizeof secret, &b, wrapped, 20,
                                     &error));
      g_assert_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED);
    }
}

/* ---- the entity side of a Key Request, against a server made of parts ---- */

typedef struct {
  Account        account;
  CpnsSrpServer *srp;
  guint8         eukey[32];
} TestServer;

static gsize
server_reply (TestServer *ts, const guint8 *in, gsize len, guint8 *out, gsize cap,
              guint64 status_override)
{
  CpnsPlainMessage msg;
  CpnsHeader hdr = { .version = 1 };
  CpnsBody body = { 0 };
  guint8 b[CPNS_SRP_PUBLIC_LEN], m2[32], wrapped[CPNS_WRAPPED_KEY_MAX];
  gsize b_len;

  g_assert_true (cpns_plain_decode (in, len, &msg, NULL));
  hdr.txid = msg.hdr.txid;
  g_strlcpy (hdr.src, "cpns-server", sizeof hdr.src);
  g_strlcpy (hdr.dst, msg.hdr.src, sizeof hdr.dst);
  if (msg.hdr.type == CPNS_MSG_KEY_REQUEST)
    {
      g_autofree char *user = g_strndup ((const char *) msg.body.key_request.user_id.data,
                                         msg.body.key_request.user_id.len);
      ts->srp = cpns_srp_server_new (user, ts->account.salt, sizeof ts->account.salt,
                                     ts->account.verifier, ts->account.verifier_len, NULL);
      g_assert_true (cpns_srp_server_challenge (ts->srp, b, &b_len, NULL));
      hdr.type = CPNS_MSG_KEY_CHALLENGE;
      body.present = 0x1e;
      body.key_challenge.group = 1;
      body.key_challenge.salt = CPNS_BYTES (ts->account.salt, sizeof ts->account.salt);
      body.key_challenge.iterations = ITERATIONS;
      body.key_challenge.server_public = CPNS_BYTES (b, b_len);
    }
  else
    {
      const CpnsKeyProof *p = &msg.body.key_proof;
      hdr.type = CPNS_MSG_KEY_DELIVERY;
      body.present = 0x2;
      body.key_delivery.status = CPNS_KEY_STATUS_AUTH_FAILED;
      if (cpns_srp_server_verify (ts->srp, p->client_public.data, p->client_public.len,
                                  p->client_proof.data, p->client_proof.len, m2, NULL))
        {
          const guint8 *k;
          gsize k_len, w_len;
          CpnsWrapBinding binding = { "cpns-server", "gw-1", "alice",
                                      (const guint8 *) "kid-9", 5 };
          k = cpns_srp_server_get_key (ts->srp, &k_len);
          w_len = cpns_wrap_seal (CPNS_WRAP_EUKEY_SRP, k, k_len, &binding, ts->eukey, 32,
                                  wrapped, sizeof wrapped, NULL);
          body.present = 0x1e;
          body.key_delivery.status = status_override;
          body.key_delivery.server_proof = CPNS_BYTES (m2, sizeof m2);
          body.key_delivery.kid = CPNS_BYTES ("kid-9", 5);
          body.key_delivery.wrapped_key = CPNS_BYTES (wrapped, w_len);
          if (status_override != 0)
            body.present = 0x2;
        }
      g_clear_pointer (&ts->srp, cpns_srp_server_free);
    }
  return cpns_plain_encode (&hdr, &body, NULL, 0, out, cap, NULL);
}

static gboolean
run_key_client (TestServer *ts, const char *password, guint64 status, CpnsKeyClient **out,
                GError **error)
{
  g_autoptr(CpnsKeyClient) c = cpns_key_client_new ("gw-1", "cpns-server", NULL, "alice",
                                                    (const guint8 *) password,
                                                    strlen (password), error);
  guint8 a[2048], b[2048];
  gsize la, lb;

  la = cpns_key_client_request (c, a, sizeof a, error);
  lb = server_reply (ts, a, la, b, sizeof b, status);
  la = cpns_key_client_answer (c, b, lb, a, sizeof a, error);
  if (la == 0)
    return FALSE;
  lb = server_reply (ts, a, la, b, sizeof b, status);
  if (!cpns_key_client_accept (c, b, lb, error))
    return FALSE;
  *out = g_steal_pointer (&c);
  return TRUE;
}

static void
test_key_client (void)
{
  TestServer ts = { 0 };
  g_autoptr(CpnsKeyClient) c = NULL;
  g_autoptr(GError) error = NULL;
  const guint8 *kid;
  gsize kid_len;

  account_init (&ts.account, "alice", "s3cret");
  cpns_random (ts.eukey, sizeof ts.eukey, NULL);
  g_assert_true (run_key_client (&ts, "s3cret", 0, &c, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (cpns_key_client_get_key (c)->data, 32, ts.eukey, 32);
  kid = cpns_key_client_get_kid (c, &kid_len);
  g_assert_cmpmem (kid, kid_len, "kid-9", 5);
  g_clear_pointer (&c, cpns_key_client_free);

  /* A Key Delivery without EUKey. */
  g_assert_false (run_key_client (&ts, "wrong", 0, &c, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_AUTH_FAILED);
  g_clear_error (&error);
  g_assert_false (run_key_client (&ts, "s3cret", CPNS_KEY_STATUS_REFUSED, &c, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_FORBIDDEN);
  g_clear_error (&error);

  /* A plain ERROR in place of the challenge. */
  {
    g_autoptr(CpnsKeyClient) c2 = cpns_key_client_new ("gw-1", "cpns-server", NULL, "alice",
                                                       (const guint8 *) "x", 1, NULL);
    CpnsHeader hdr = { .version = 1, .type = CPNS_MSG_ERROR };
    CpnsBody body = { .present = 0x6 };
    guint8 a[512], b[512];
    gsize lb;

    cpns_key_client_request (c2, a, sizeof a, NULL);
    cpns_header_set_ids (&hdr, "cpns-server", "gw-1", NULL);
    body.error.code = CPNS_ERROR_RATE_LIMITED;
    body.error.reason = CPNS_STR ("slow down");
    lb = cpns_plain_encode (&hdr, &body, NULL, 0, b, sizeof b, NULL);
    g_assert_cmpuint (cpns_key_client_answer (c2, b, lb, a, sizeof a, &error), ==, 0);
    g_assert_error (error, CPNS_ERROR, CPNS_ERROR_RATE_LIMITED);
    g_assert_nonnull (strstr (error->message, "slow down"));
  }
}

/* ---- keystore ---- */

static CpnsKeyEntry *
make_entry (const char *name, guint8 fill)
{
  CpnsKeyEntry *e = g_new0 (CpnsKeyEntry, 1);
  guint8 key[32];

  memset (key, fill, sizeof key);
  e->name = g_strdup (name);
  e->kind = CPNS_KEY_EUKEY;
  e->self_id = g_strdup ("gw-1");
  e->peer_id = g_strdup ("cpns-server");
  e->user_id = g_strdup ("alice");
  e->kid_len = 4;
  memcpy (e->kid, "kid1", 4);
  e->key = cpns_secret_new (key, sizeof key);
  e->role = CPNS_ROLE_INITIATOR;
  e->created = 1700000000;
  return e;
}

/* Entries at every field's largest: the save sizes its buffer from the
 * entries, so it must still fit them all, and read back the same.
 * Then at the other end: the fewest bytes. */
static void
test_keystore_sizes (void)
{
  g_autofree char *dir = g_dir_make_tmp ("cpns-ks-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "state", "keys", NULL);
  g_autofree char *kek = g_build_filename (dir, "kek", NULL);
  g_autoptr(GError) error = NULL;
  const guint n = 300;

  {
    g_autoptr(CpnsKeystore) ks = cpns_keystore_open (path, kek, TRUE, &error);

    g_assert_no_error (error);
    for (guint i = 0; i < n; i++)
      {
        g_autoptr(CpnsKeyEntry) e = make_entry ("x", i);
        guint8 key[64];
        g_autofree char *name = g_strdup_printf ("%0128u", i);

        g_free (e->name);
        e->name = g_steal_pointer (&name);
        g_free (e->self_id);
        e->self_id = g_strnfill (CPNS_ID_MAX, 'g');
        g_free (e->peer_id);
        e->peer_id = g_strnfill (CPNS_ID_MAX, 'p');
        g_free (e->user_id);
        e->user_id = i % 2 == 0 ? g_strnfill (CPNS_USER_ID_MAX, 'u') : NULL;
        e->kid_len = CPNS_KID_MAX;
        memset (e->kid, i, CPNS_KID_MAX);
        memset (key, i, sizeof key);
        cpns_secret_free (e->key);
        e->key = cpns_secret_new (key, sizeof key);
        e->created = G_MAXINT64;
        g_assert_true (cpns_keystore_set (ks, e, &error));
      }
    g_assert_true (cpns_keystore_save (ks, &error));
    g_assert_no_error (error);
  }
  {
    g_autoptr(CpnsKeystore) ks = cpns_keystore_open (path, kek, FALSE, &error);
    g_auto(GStrv) names = NULL;
    const CpnsKeyEntry *got;

    g_assert_no_error (error);
    names = cpns_keystore_list (ks);
    g_assert_cmpuint (g_strv_length (names), ==, n);
    got = cpns_keystore_lookup (ks, names[n - 1]);
    g_assert_cmpuint (strlen (got->peer_id), ==, CPNS_ID_MAX);
    g_assert_cmpuint (got->key->len, ==, 64);
    g_assert_cmpuint (got->kid_len, ==, CPNS_KID_MAX);
    for (guint i = 0; i < n; i++)
      g_assert_true (cpns_keystore_remove (ks, names[i]));
    /* Empty. */
    g_assert_true (cpns_keystore_save (ks, &error));
    g_assert_no_error (error);
  }
  {
    g_autoptr(CpnsKeystore) ks = cpns_keystore_open (path, kek, FALSE, &error);
    g_auto(GStrv) names = NULL;

    g_assert_no_error (error);
    names = cpns_keystore_list (ks);
    g_assert_cmpuint (g_strv_length (names), ==, 0);
  }
  g_unlink (path);
  g_unlink (kek);
  {
    g_autofree char *state = g_path_get_dirname (path);
    g_rmdir (state);
  }
  g_rmdir (dir);
}

static void
test_keystore (void)
{
  g_autofree char *dir = g_dir_make_tmp ("cpns-ks-XXXXXX", NULL);
  g_autofree char *state = g_build_filename (dir, "state", NULL);
  g_autofree char *path = g_build_filename (state, "keys", NULL);
  g_autofree char *kek = g_build_filename (dir, "kek", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsKeyEntry) e1 = make_entry ("eukey", 0x11);
  g_autoptr(CpnsKeyEntry) e2 = make_entry ("local:pne-1", 0x22);
  struct stat st;

  {
    g_autoptr(CpnsKeystore) ks = cpns_keystore_open (path, kek, TRUE, &error);
    g_assert_no_error (error);
    g_assert_null (cpns_keystore_lookup (ks, "eukey"));
    g_assert_true (cpns_keystore_set (ks, e1, &error));
    g_assert_true (cpns_keystore_set (ks, e2, &error));
    g_assert_true (cpns_keystore_save (ks, &error));
    g_assert_no_error (error);
  }
  g_assert_cmpint (stat (state, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (stat (kek, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  {
    g_autoptr(CpnsKeystore) ks = cpns_keystore_open (path, kek, FALSE, &error);
    g_auto(GStrv) names = NULL;
    const CpnsKeyEntry *got;

    g_assert_no_error (error);
    names = cpns_keystore_list (ks);
    g_assert_cmpuint (g_strv_length (names), ==, 2);
    g_assert_cmpstr (names[0], ==, "eukey");
    got = cpns_keystore_lookup (ks, "local:pne-1");
    g_assert_nonnull (got);
    g_assert_cmpmem (got->key->data, got->key->len, e2->key->data, e2->key->len);
    g_assert_cmpstr (got->user_id, ==, "alice");
    g_assert_cmpint (got->role, ==, CPNS_ROLE_INITIATOR);
    g_assert_cmpint (got->created, ==, 1700000000);
    g_assert_cmpuint (cpns_keystore_get_generation (ks), ==, 1);
    g_assert_true (cpns_keystore_remove (ks, "eukey"));
    g_assert_true (cpns_keystore_save (ks, &error));
  }

  /* Wrong KEK: refused as corrupt, not misread. */
  {
    g_autofree char *kek2 = g_build_filename (dir, "kek2", NULL);
    g_autoptr(CpnsKeystore) ks = NULL;
    guint8 other[CPNS_KEK_LEN] = { 1 };
    g_assert_true (g_file_set_contents_full (kek2, (const char *) other, sizeof other,
                                             G_FILE_SET_CONTENTS_NONE, 0600, NULL));
    ks = cpns_keystore_open (path, kek2, FALSE, &error);
    g_assert_null (ks);
    g_assert_error (error, CPNS_ERROR, CPNS_ERROR_CORRUPT);
    g_clear_error (&error);
    g_unlink (kek2);
  }

  /* Every flipped byte is detected. */
  {
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true (g_file_get_contents (path, &data, &len, NULL));
    for (gsize i = 0; i < len; i++)
      {
        g_autoptr(CpnsKeystore) ks = NULL;
        data[i] ^= 0x40;
        g_assert_true (g_file_set_contents_full (path, data, len,
                                                 G_FILE_SET_CONTENTS_NONE, 0600, NULL));
        ks = cpns_keystore_open (path, kek, FALSE, &error);
        g_assert_null (ks);
        g_assert_error (error, CPNS_ERROR, CPNS_ERROR_CORRUPT);
        g_clear_error (&error);
        data[i] ^= 0x40;
      }
    g_assert_true (g_file_set_contents_full (path, data, len, G_FILE_SET_CONTENTS_NONE,
                                             0600, NULL));
  }

  /* Files and directories others can read are refused. */
  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  g_assert_null (cpns_keystore_open (path, kek, FALSE, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_IO);
  g_clear_error (&error);
  g_assert_cmpint (g_chmod (path, 0600), ==, 0);
  g_assert_cmpint (g_chmod (state, 0755), ==, 0);
  g_assert_null (cpns_keystore_open (path, kek, FALSE, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_IO);
  g_clear_error (&error);
  g_assert_cmpint (g_chmod (state, 0700), ==, 0);

  /* Invalid entries are refused and change nothing. */
  {
    g_autoptr(CpnsKeystore) ks = cpns_keystore_open (path, kek, FALSE, &error);
    g_autoptr(CpnsKeyEntry) bad = make_entry ("bad", 0x33);
    bad->peer_id[0] = ' ';
    g_assert_false (cpns_keystore_set (ks, bad, &error));
    g_assert_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT);
    g_assert_null (cpns_keystore_lookup (ks, "bad"));
  }

  /* A write interrupted by a crash leaves a temporary file; the next open
   * removes it and reads the intact keystore. */
  {
    g_autofree char *leftover = g_strconcat (path, ".tmp-AbC123", NULL);
    g_autoptr(CpnsKeystore) ks = NULL;
    g_clear_error (&error);
    g_assert_true (g_file_set_contents_full (leftover, "partial", 7,
                                             G_FILE_SET_CONTENTS_NONE, 0600, NULL));
    ks = cpns_keystore_open (path, kek, FALSE, &error);
    g_assert_no_error (error);
    g_assert_nonnull (cpns_keystore_lookup (ks, "local:pne-1"));
    g_assert_false (g_file_test (leftover, G_FILE_TEST_EXISTS));
  }

  /* No temporary files are left behind. */
  {
    g_autoptr(GDir) d = g_dir_open (state, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name (d)) != NULL)
      g_assert_cmpstr (name, ==, "keys");
  }
  g_unlink (path);
  g_unlink (kek);
  g_rmdir (state);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/keys/srp/enrolment", test_srp_enrolment);
  g_test_add_func ("/keys/srp/wrong-password", test_srp_wrong_password);
  g_test_add_func ("/keys/srp/bad-values", test_srp_bad_values);
  g_test_add_func ("/keys/wraps", test_wraps);
  g_test_add_func ("/keys/key-client", test_key_client);
  g_test_add_func ("/keys/keystore", test_keystore);
  g_test_add_func ("/keys/keystore-sizes", test_keystore_sizes);
  return g_test_run ();
}
