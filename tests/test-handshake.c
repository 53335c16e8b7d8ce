/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define HAVE_MALLINFO2 1
#endif

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

/* MAC keys derived on first use (deferred) equal the ones of 5.2 given to
 * the session directly, replace the keys a session had, prepared states
 * included, and a handshake secret the session cannot keep in 32 bytes is
 * used at once. */
static void
test_deferred_mac_keys (void)
{
  static const gsize hs_lengths[] = { 32, 48 };

  for (gsize i = 0; i < G_N_ELEMENTS (hs_lengths); i++)
    {
      static const guint8 body[] = { 0xa2, 0x01, 0x00, 0x02, 0x41, 'x' };
      g_autoptr(CpnsSession) a = NULL;
      g_autoptr(CpnsSession) b = NULL;
      g_autoptr(GError) error = NULL;
      CpnsDirectionKeys a2b, b2a;
      CpnsHmacKey hs_key;
      guint8 hs[48], th_app[CPNS_HASH_LEN], sid[CPNS_SESSION_ID_LEN] = { 9 };
      guint8 rec[512];

      memset (hs, 0x42, sizeof hs);
      memset (th_app, 0x17, sizeof th_app);
      g_assert_true (cpns_hmac_key_init (&hs_key, hs, hs_lengths[i], &error));
      memset (&a2b, 1, sizeof a2b);
      memset (&b2a, 2, sizeof b2a);
      a = cpns_session_new ("a", "b", sid, CPNS_ALG_CHACHA20_POLY1305, &a2b, &b2a,
                            CPNS_REPLAY_WINDOW, &error);
      g_assert_no_error (error);
      /* A MAC-only record under the first keys prepares their state. */
      g_assert_cmpuint (cpns_session_seal (a, CPNS_MSG_DATA, 1, FALSE, body, sizeof body,
                                           rec, sizeof rec, &error), >, 0);
      cpns_session_defer_mac_keys (a, &hs_key, th_app, TRUE);

      g_assert_true (cpns_session_derive_mac_key (&hs_key, th_app, TRUE, a2b.mac_key,
                                                  &error));
      g_assert_true (cpns_session_derive_mac_key (&hs_key, th_app, FALSE, b2a.mac_key,
                                                  &error));
      b = cpns_session_new ("b", "a", sid, CPNS_ALG_CHACHA20_POLY1305, &b2a, &a2b,
                            CPNS_REPLAY_WINDOW, &error);
      g_assert_no_error (error);
      cpns_hmac_key_clear (&hs_key);
      exchange (a, b, FALSE);
      exchange (b, a, FALSE);
      exchange (a, b, TRUE);
      exchange (b, a, FALSE);
      exchange (a, b, FALSE);
    }
}

/* A gateway holds thousands of idle sessions: heap per established session
 * (malloc's own overhead included), as malloc counts it.  ASan replaces
 * malloc, so there the figure means nothing. */
#if defined(__SANITIZE_ADDRESS__)
#undef HAVE_MALLINFO2
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#undef HAVE_MALLINFO2
#endif
#endif

#ifdef HAVE_MALLINFO2
static gsize
heap_in_use (void)
{
  struct mallinfo2 mi = mallinfo2 ();

  return mi.uordblks + mi.hblkhd;
}

static gsize
bytes_per_session (guint64 suite, const char *self_id, const char *peer_id)
{
  enum { PAIRS = 500 };
  static const guint64 modes[] = { CPNS_MODE_PSK };
  CpnsSession **sessions = g_new0 (CpnsSession *, 2 * PAIRS);
  Fixture f;
  gsize before, after;
  g_autoptr(GError) error = NULL;

  fixture_init (&f, CPNS_PURPOSE_LOCAL);
  f.icfg.suites = &suite;
  f.icfg.n_suites = 1;
  f.icfg.modes = modes;
  f.icfg.n_modes = 1;
  f.icfg.self_id = f.rcfg.peer_id = self_id;
  f.icfg.peer_id = f.rcfg.self_id = peer_id;
  /* First use allocates the DRBG and other process-wide state. */
  g_assert_true (test_handshake_run (&f.icfg, &f.rcfg, &sessions[0], &sessions[1], NULL,
                                     &error));
  cpns_session_free (sessions[0]);
  cpns_session_free (sessions[1]);
  before = heap_in_use ();
  for (guint i = 0; i < PAIRS; i++)
    g_assert_true (test_handshake_run (&f.icfg, &f.rcfg, &sessions[2 * i],
                                       &sessions[2 * i + 1], NULL, &error));
  after = heap_in_use ();
  g_assert_no_error (error);
  for (guint i = 0; i < 2 * PAIRS; i++)
    cpns_session_free (sessions[i]);
  g_free (sessions);
  return after > before ? (after - before) / (2 * PAIRS) : 0;
}
#endif

static void
test_session_memory (void)
{
#ifdef HAVE_MALLINFO2
  static const char long_a[] =
    "pne-0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab";
  static const char long_b[] =
    "gw-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abc";
  gsize chacha = bytes_per_session (CPNS_ALG_CHACHA20_POLY1305, "pne-1", "gw-1");
  gsize chacha_long = bytes_per_session (CPNS_ALG_CHACHA20_POLY1305, long_a, long_b);
  gsize gcm = bytes_per_session (CPNS_ALG_A128GCM, "pne-1", "gw-1");

  G_STATIC_ASSERT (sizeof long_a - 1 == CPNS_ID_MAX && sizeof long_b - 1 == CPNS_ID_MAX);
  g_test_message ("heap per idle session (1,000 sessions, mallinfo2): "
                  "ChaCha20-Poly1305 %" G_GSIZE_FORMAT " B (%" G_GSIZE_FORMAT
                  " B with 64-byte IDs), AES-128-GCM %" G_GSIZE_FORMAT " B",
                  chacha, chacha_long, gcm);
  if (chacha == 0)
    {
      g_test_skip ("malloc does not report its usage here");
      return;
    }
  g_assert_cmpuint (chacha, <=, 1024);
  g_assert_cmpuint (chacha_long, <=, 1024);
#else
  g_test_skip ("needs glibc's mallinfo2() and its own malloc");
#endif
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/handshake/modes-and-suites", test_modes_and_suites);
  g_test_add_func ("/handshake/default-prefers-x25519", test_default_prefers_x25519);
  g_test_add_func ("/handshake/lookup", test_lookup);
  g_test_add_func ("/handshake/deterministic", test_deterministic);
  g_test_add_func ("/handshake/deferred-mac-keys", test_deferred_mac_keys);
  g_test_add_func ("/handshake/session-memory", test_session_memory);
  return g_test_run ();
}
