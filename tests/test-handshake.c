/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "cpns-error.h"
#include "cpns-handshake.h"
#include "cpns-test-util.h"

typedef TestPair Fixture;

static void
fixture_init (Fixture *f, CpnsPurpose purpose)
{
  test_pair_init (f, purpose);
}

static void
exchange (CpnsSession *a, CpnsSession *b, gboolean encrypt)
{
  static const guint8 body[] = { 0xa2, 0x01, 0x00, 0x02, 0x43, 'h', 'e', 'y' };
  guint8 rec[512], plain[512];
  gsize len, plain_len;
  CpnsHeader hdr;
  g_autoptr(GError) error = NULL;

  len = cpns_session_seal (a, CPNS_MSG_DATA, 7, encrypt, body, sizeof body, rec,
                           sizeof rec, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (len, >, 0);
  cpns_session_open (b, rec, len, &hdr, plain, sizeof plain, &plain_len, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (plain, plain_len, body, sizeof body);
  g_assert_cmpuint (hdr.type, ==, CPNS_MSG_DATA);
  g_assert_cmpuint (hdr.txid, ==, 7);
  g_assert_cmpint (hdr.encrypted, ==, encrypt);
  g_assert_cmpstr (hdr.src, ==, cpns_session_get_self_id (a));
  g_assert_cmpstr (hdr.dst, ==, cpns_session_get_self_id (b));
}

static void
test_modes_and_suites (void)
{
  static const guint64 suites[] = {
    CPNS_ALG_CHACHA20_POLY1305, CPNS_ALG_A128GCM, CPNS_ALG_A256GCM,
  };
  static const guint64 modes[] = { CPNS_MODE_PSK, CPNS_MODE_PSK_X25519 };

  for (guint s = 0; s < G_N_ELEMENTS (suites); s++)
    for (guint m = 0; m < G_N_ELEMENTS (modes); m++)
      for (CpnsPurpose p = CPNS_PURPOSE_SERVER; p <= CPNS_PURPOSE_LOCAL; p++)
        {
          Fixture f;
          g_autoptr(CpnsSession) is = NULL;
          g_autoptr(CpnsSession) rs = NULL;
          g_autoptr(GError) error = NULL;

          fixture_init (&f, p);
          f.icfg.suites = &suites[s];
          f.icfg.n_suites = 1;
          f.icfg.modes = &modes[m];
          f.icfg.n_modes = 1;
          g_assert_true (test_handshake_run (&f.icfg, &f.rcfg, &is, &rs, NULL, &error));
          g_assert_no_error (error);
          g_assert_cmpint (cpns_session_get_suite (is), ==, suites[s]);
          g_assert_cmpmem (cpns_session_get_id (is), CPNS_SESSION_ID_LEN,
                           cpns_session_get_id (rs), CPNS_SESSION_ID_LEN);
          exchange (is, rs, TRUE);
          exchange (rs, is, TRUE);
          exchange (is, rs, FALSE);
          exchange (rs, is, FALSE);
        }
}

static void
test_default_prefers_x25519 (void)
{
  Fixture f;
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsHandshake) ini = NULL;
  g_autoptr(CpnsHandshake) res = NULL;
  guint8 m1[512], m2[512], m3[512];
  gsize l1, l2, l3;

  fixture_init (&f, CPNS_PURPOSE_SERVER);
  ini = cpns_handshake_new (&f.icfg, &error);
  res = cpns_handshake_new (&f.rcfg, &error);
  g_assert_no_error (error);
  g_assert_true (cpns_handshake_start (ini, m1, sizeof m1, &l1, &error));
  g_assert_true (cpns_handshake_receive (res, m1, l1, m2, sizeof m2, &l2, &error));
  g_assert_cmpint (cpns_handshake_get_state (res), ==, CPNS_HANDSHAKE_WAIT_FINISH);
  /* The responder holds no session before HS_FINISH verifies. */
  g_assert_null (cpns_handshake_take_session (res));
  g_assert_true (cpns_handshake_receive (ini, m2, l2, m3, sizeof m3, &l3, &error));
  g_assert_true (cpns_handshake_receive (res, m3, l3, NULL, 0, &l2, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cpns_handshake_get_mode (ini), ==, CPNS_MODE_PSK_X25519);
  g_assert_cmpint (cpns_handshake_get_suite (res), ==, CPNS_ALG_CHACHA20_POLY1305);
}

static gboolean
lookup_psk (const char *peer_id, const guint8 *kid, gsize kid_len, CpnsPsk *psk,
            gpointer user_data, GError **error)
{
  if (g_strcmp0 (peer_id, "gw-1") != 0 || kid_len != 5 || memcmp (kid, "kid-1", 5) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND, "no key for %s", peer_id);
      return FALSE;
    }
  test_psk_init (psk, "psk-1", "kid-1", CPNS_ROLE_RESPONDER);
  return TRUE;
}

static void
test_lookup (void)
{
  Fixture f;
  g_autoptr(GError) error = NULL;

  fixture_init (&f, CPNS_PURPOSE_SERVER);
  f.rcfg.peer_id = NULL;
  f.rcfg.psk = NULL;
  f.rcfg.lookup = lookup_psk;
  g_assert_true (test_handshake_run (&f.icfg, &f.rcfg, NULL, NULL, NULL, &error));
  g_assert_no_error (error);

  f.icfg.self_id = "gw-2";
  g_assert_false (test_handshake_run (&f.icfg, &f.rcfg, NULL, NULL, NULL, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND);
}

static void
test_deterministic (void)
{
  TestTranscript t1, t2;
  TestRandom r1, r2;
  Fixture f;
  g_autoptr(GError) error = NULL;

  fixture_init (&f, CPNS_PURPOSE_SERVER);
  f.icfg.random = f.rcfg.random = test_random_func;
  test_random_init (&r1, "x");
  f.icfg.random_data = f.rcfg.random_data = &r1;
  g_assert_true (test_handshake_run (&f.icfg, &f.rcfg, NULL, NULL, &t1, &error));
  test_random_init (&r2, "x");
  f.icfg.random_data = f.rcfg.random_data = &r2;
  g_assert_true (test_handshake_run (&f.icfg, &f.rcfg, NULL, NULL, &t2, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (t1.m1, t1.m1_len, t2.m1, t2.m1_len);
  g_assert_cmpmem (t1.m2, t1.m2_len, t2.m2, t2.m2_len);
  g_assert_cmpmem (t1.m3, t1.m3_len, t2.m3, t2.m3_len);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/handshake/modes-and-suites", test_modes_and_suites);
  g_test_add_func ("/handshake/default-prefers-x25519", test_default_prefers_x25519);
  g_test_add_func ("/handshake/lookup", test_lookup);
  g_test_add_func ("/handshake/deterministic", test_deterministic);
  return g_test_run ();
}
