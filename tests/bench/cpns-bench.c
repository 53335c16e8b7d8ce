/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Side-by-side benchmark: our handshake and records against wolfSSL's own
 * TLS 1.3 PSK handshake and raw wolfCrypt AEAD/HMAC calls, measured in the
 * same run and printed as ratios (HACKING.md, "Benchmarks").
 *
 *   cpns-bench [--seconds S] [--only psk|x25519|records]
 *
 * --only runs just one of our measurements, for profiling, e.g.
 *   valgrind --tool=callgrind --toggle-collect=one_handshake cpns-bench --only psk
 */

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench-tls13.h"
#include "cpns-crypto.h"
#include "cpns-handshake.h"
#include "cpns-test-util.h"

static double seconds = 1.0;
static const char *only;

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Each comparison is measured in ROUNDS alternating slices and the best
 * slice of each side is kept, so that a burst of load on a shared machine
 * does not land on one side of a ratio only. */
#define ROUNDS 5

/* Runs @fn repeatedly for about @secs; returns calls per second. */
static double
rate_for (gboolean (*fn) (gpointer), gpointer data, double secs)
{
  double start = now (), elapsed;
  guint64 n = 0;

  do
    {
      for (int i = 0; i < 16; i++)
        if (!fn (data))
          {
            fprintf (stderr, "cpns-bench: benchmark step failed\n");
            exit (1);
          }
      n += 16;
      elapsed = now () - start;
    }
  while (elapsed < secs);
  return n / elapsed;
}

static double
rate (gboolean (*fn) (gpointer), gpointer data)
{
  return rate_for (fn, data, seconds);
}

/* Best-of-ROUNDS rates of two functions measured alternately. */
static void
compare (gboolean (*a) (gpointer), gpointer a_data, double *a_rate,
         gboolean (*b) (gpointer), gpointer b_data, double *b_rate)
{
  *a_rate = *b_rate = 0;
  for (int i = 0; i < ROUNDS; i++)
    {
      *a_rate = MAX (*a_rate, rate_for (a, a_data, seconds / ROUNDS));
      *b_rate = MAX (*b_rate, rate_for (b, b_data, seconds / ROUNDS));
    }
}

/* ---- handshakes ---- */

typedef struct {
  CpnsPsk             ipsk, rpsk;
  CpnsHandshakeConfig icfg, rcfg;
  guint64             mode;
} HandshakeBench;

static gboolean
one_handshake (gpointer data)
{
  HandshakeBench *b = data;
  g_autoptr(CpnsSession) is = NULL;
  g_autoptr(CpnsSession) rs = NULL;
  g_autoptr(GError) error = NULL;

  if (!test_handshake_run (&b->icfg, &b->rcfg, &is, &rs, NULL, &error))
    {
      fprintf (stderr, "cpns-bench: handshake: %s\n", error->message);
      return FALSE;
    }
  return TRUE;
}

static void
handshake_bench_init (HandshakeBench *hb, guint64 mode)
{
  HandshakeBench b = { 0 };

  b.mode = mode;
  test_psk_init (&b.ipsk, "bench", "kid", CPNS_ROLE_INITIATOR);
  test_psk_init (&b.rpsk, "bench", "kid", CPNS_ROLE_RESPONDER);
  b.icfg = (CpnsHandshakeConfig) {
    .role = CPNS_ROLE_INITIATOR, .purpose = CPNS_PURPOSE_SERVER, .self_id = "gw-1",
    .peer_id = "server", .psk = &b.ipsk, .modes = &b.mode, .n_modes = 1,
  };
  b.rcfg = (CpnsHandshakeConfig) {
    .role = CPNS_ROLE_RESPONDER, .purpose = CPNS_PURPOSE_SERVER, .self_id = "server",
    .peer_id = "gw-1", .psk = &b.rpsk,
  };
  *hb = b;
  /* The configs point into the struct: re-aim them at the copy. */
  hb->icfg.psk = &hb->ipsk;
  hb->icfg.modes = &hb->mode;
  hb->rcfg.psk = &hb->rpsk;
}

static double
handshake_rate (guint64 mode)
{
  HandshakeBench b;

  handshake_bench_init (&b, mode);
  return rate (one_handshake, &b);
}

/* wolfSSL's side runs its own timed loop; best of ROUNDS slices, taken
 * alternately with ours. */
static void
compare_handshakes (guint64 mode, BenchTls13Mode tls_mode, double *ours, double *tls)
{
  HandshakeBench b;

  handshake_bench_init (&b, mode);
  *ours = *tls = 0;
  for (int i = 0; i < ROUNDS; i++)
    {
      double t = bench_tls13_handshakes_per_sec (tls_mode, seconds / ROUNDS);
      if (t < 0)
        exit (1);
      *ours = MAX (*ours, rate_for (one_handshake, &b, seconds / ROUNDS));
      *tls = MAX (*tls, t);
    }
}

/* The floor of psk+x25519: two key generations and two key agreements. */
static gboolean
four_x25519 (gpointer data)
{
  guint8 a[32] = { 1 }, b[32] = { 2 }, pa[32], pb[32], s1[32], s2[32];

  return cpns_x25519_public (a, pa, NULL) && cpns_x25519_public (b, pb, NULL) &&
         cpns_x25519_shared (a, pa, pb, s1, NULL) &&
         cpns_x25519_shared (b, pb, pa, s2, NULL);
}

/* ---- records ---- */

typedef struct {
  CpnsSession *tx, *rx;
  guint8      *body, *rec, *plain;
  gsize        size;
  gboolean     encrypt;
  guint8       key[32], iv[12], tag[32];
  Aes          aes;
  guint64      alg;
} RecordBench;

static gboolean
record_round (gpointer data)
{
  RecordBench *b = data;
  CpnsHeader hdr;
  gsize len, plain_len;

  len = cpns_session_seal (b->tx, CPNS_MSG_DATA, 1, b->encrypt, b->body, b->size, b->rec,
                           b->size + CPNS_RECORD_OVERHEAD, NULL);
  return len > 0 &&
         cpns_session_open (b->rx, b->rec, len, &hdr, b->plain, b->size, &plain_len,
                            NULL);
}

/* The same work with nothing of ours around it. */
static gboolean
raw_round (gpointer data)
{
  RecordBench *b = data;

  if (!b->encrypt)
    {
      Hmac h;
      guint8 t2[32];
      int r = wc_HmacSetKey (&h, WC_SHA256, b->key, 32) ||
              wc_HmacUpdate (&h, b->body, b->size) || wc_HmacFinal (&h, b->tag) ||
              wc_HmacSetKey (&h, WC_SHA256, b->key, 32) ||
              wc_HmacUpdate (&h, b->body, b->size) || wc_HmacFinal (&h, t2);
      return r == 0 && memcmp (b->tag, t2, 32) == 0;
    }
  if (b->alg == CPNS_ALG_CHACHA20_POLY1305)
    return wc_ChaCha20Poly1305_Encrypt (b->key, b->iv, NULL, 0, b->body, b->size, b->rec,
                                        b->tag) == 0 &&
           wc_ChaCha20Poly1305_Decrypt (b->key, b->iv, NULL, 0, b->rec, b->size, b->tag,
                                        b->plain) == 0;
  return wc_AesGcmEncrypt (&b->aes, b->rec, b->body, b->size, b->iv, 12, b->tag, 16,
                           NULL, 0) == 0 &&
         wc_AesGcmDecrypt (&b->aes, b->plain, b->rec, b->size, b->iv, 12, b->tag, 16,
                           NULL, 0) == 0;
}

static void
record_bench (guint64 alg, gboolean encrypt, gsize size, double *ours, double *raw)
{
  guint64 suites[] = { alg };
  HandshakeBench hb = { 0 };
  RecordBench b = { 0 };
  g_autoptr(GError) error = NULL;

  hb.mode = CPNS_MODE_PSK;
  test_psk_init (&hb.ipsk, "bench", "kid", CPNS_ROLE_INITIATOR);
  test_psk_init (&hb.rpsk, "bench", "kid", CPNS_ROLE_RESPONDER);
  hb.icfg = (CpnsHandshakeConfig) {
    .role = CPNS_ROLE_INITIATOR, .purpose = CPNS_PURPOSE_LOCAL, .self_id = "pne-1",
    .peer_id = "gw-1", .psk = &hb.ipsk, .suites = suites, .n_suites = 1,
    .replay_mode = CPNS_REPLAY_STREAM,
  };
  hb.rcfg = (CpnsHandshakeConfig) {
    .role = CPNS_ROLE_RESPONDER, .purpose = CPNS_PURPOSE_LOCAL, .self_id = "gw-1",
    .peer_id = "pne-1", .psk = &hb.rpsk, .replay_mode = CPNS_REPLAY_STREAM,
  };
  if (!test_handshake_run (&hb.icfg, &hb.rcfg, &b.tx, &b.rx, NULL, &error))
    {
      fprintf (stderr, "cpns-bench: %s\n", error->message);
      exit (1);
    }
  cpns_session_set_limits (b.tx, G_MAXUINT64, 0);
  cpns_session_set_limits (b.rx, G_MAXUINT64, 0);
  b.size = size;
  b.encrypt = encrypt;
  b.alg = alg;
  b.body = g_malloc (size);
  b.rec = g_malloc (size + CPNS_RECORD_OVERHEAD);
  b.plain = g_malloc (size + CPNS_RECORD_OVERHEAD);
  memset (b.body, 0xab, size);
  memset (b.key, 7, sizeof b.key);
  memset (b.iv, 9, sizeof b.iv);
  wc_AesInit (&b.aes, NULL, INVALID_DEVID);
  wc_AesGcmSetKey (&b.aes, b.key, cpns_alg_key_len (alg));

  compare (record_round, &b, ours, raw_round, &b, raw);
  *ours *= size;
  *raw *= size;

  wc_AesFree (&b.aes);
  cpns_session_free (b.tx);
  cpns_session_free (b.rx);
  g_free (b.body);
  g_free (b.rec);
  g_free (b.plain);
}

int
main (int argc, char **argv)
{
  static const gsize sizes[] = { 64, 1024, 16384 };
  static const struct { guint64 alg; gboolean encrypt; const char *name; } kinds[] = {
    { CPNS_ALG_CHACHA20_POLY1305, TRUE, "ChaCha20-Poly1305" },
    { CPNS_ALG_A128GCM, TRUE, "AES-128-GCM" },
    { CPNS_ALG_A256GCM, TRUE, "AES-256-GCM" },
    { CPNS_ALG_CHACHA20_POLY1305, FALSE, "HMAC-SHA256 (MAC-only)" },
  };
  double psk, dhe, tls_psk, tls_dhe, floor, dhe_beside_floor;

  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--seconds") == 0 && i + 1 < argc)
        seconds = g_ascii_strtod (argv[++i], NULL);
      else if (strcmp (argv[i], "--only") == 0 && i + 1 < argc)
        only = argv[++i];
      else
        {
          fprintf (stderr, "usage: cpns-bench [--seconds S] [--only psk|x25519|records]\n");
          return 2;
        }
    }
  if (seconds <= 0)
    seconds = 1.0;
  if (only != NULL)
    {
      if (strcmp (only, "psk") == 0)
        printf ("CPNS psk handshakes/s: %.0f\n", handshake_rate (CPNS_MODE_PSK));
      else if (strcmp (only, "x25519") == 0)
        printf ("CPNS psk+x25519 handshakes/s: %.0f\n",
                handshake_rate (CPNS_MODE_PSK_X25519));
      else
        {
          double ours, raw;
          record_bench (CPNS_ALG_CHACHA20_POLY1305, TRUE, 64, &ours, &raw);
          printf ("ChaCha20-Poly1305 64 B: %.0f%% of raw\n", 100 * ours / raw);
        }
      return 0;
    }

  printf ("pngw benchmark: each pair measured in %d alternating slices of %.2f s,\n"
          "best slice kept (figures from this run only)\n\n", ROUNDS, seconds / ROUNDS);
  printf ("Handshakes per second (both sides, in memory)\n");
  compare_handshakes (CPNS_MODE_PSK, BENCH_TLS13_PSK_KE, &psk, &tls_psk);
  {
    HandshakeBench b;
    handshake_bench_init (&b, CPNS_MODE_PSK_X25519);
    compare (one_handshake, &b, &dhe_beside_floor, four_x25519, NULL, &floor);
  }
  compare_handshakes (CPNS_MODE_PSK_X25519, BENCH_TLS13_PSK_DHE_KE, &dhe, &tls_dhe);
  printf ("  %-34s %10.0f\n", "CPNS psk", psk);
  printf ("  %-34s %10.0f\n", "wolfSSL TLS 1.3 psk_ke", tls_psk);
  printf ("  %-34s %10.2fx   (target >= 5x)\n", "ratio", psk / tls_psk);
  printf ("  %-34s %10.0f\n", "CPNS psk+x25519", dhe);
  printf ("  %-34s %10.0f\n", "wolfSSL TLS 1.3 psk_dhe_ke (X25519)", tls_dhe);
  printf ("  %-34s %10.2fx   (target >= 1.5x)\n", "ratio", dhe / tls_dhe);
  printf ("  %-34s %10.0f\n", "floor: 4 X25519 operations", floor);
  printf ("  %-34s %9.0f%%   (measured beside it: %.0f/s)\n", "CPNS psk+x25519 / floor",
          100 * dhe_beside_floor / floor, dhe_beside_floor);

  printf ("\nRecords: protect+open throughput, MB/s (ours / raw wolfCrypt)\n");
  printf ("  %-24s %8s %10s %10s %8s\n", "algorithm", "size", "CPNS", "raw", "ratio");
  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
      {
        double ours, raw;
        record_bench (kinds[k].alg, kinds[k].encrypt, sizes[s], &ours, &raw);
        printf ("  %-24s %8" G_GSIZE_FORMAT " %10.1f %10.1f %7.0f%%\n", kinds[k].name,
                sizes[s], ours / 1e6, raw / 1e6, 100 * ours / raw);
      }
  printf ("\nTargets: records >= 90%% of raw at 16384 B and >= 60%% at 64 B.\n");
  return 0;
}
