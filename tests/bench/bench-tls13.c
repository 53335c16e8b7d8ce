/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Reference measurement: wolfSSL's TLS 1.3 external-PSK handshake.
 *
 * Client and server run in one thread over two in-memory byte queues and are
 * stepped alternately (non-blocking style) until both have finished. Every
 * handshake uses fresh WOLFSSL objects from two CTXs created once per run, as
 * a real server would.
 */
/* clock_gettime() is POSIX; only strict ISO modes hide it. */
#if defined(__STRICT_ANSI__) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfio.h>

#include "bench-tls13.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CIPHER_SUITE      "TLS13-CHACHA20-POLY1305-SHA256"
#define CIPHER_SUITE_ID   0x1303
#define PSK_IDENTITY      "pngw-bench"
#define PSK_LEN           32

/* PSK handshake flights are well under 1 KiB; this leaves ample headroom. */
#define QUEUE_CAP         (32 * 1024)
#define TAP_CAP           4096
/* Each step either makes progress or waits for the peer; a PSK handshake
 * needs about three rounds, so this only catches a stuck state machine. */
#define MAX_ROUNDS        64

/* TLS wire constants used by the one-off negotiation check. */
#define TLS_CT_HANDSHAKE      22
#define TLS_HS_CLIENT_HELLO   1
#define TLS_HS_SERVER_HELLO   2
#define TLS_EXT_PRE_SHARED_KEY    41
#define TLS_EXT_SUPPORTED_VERSIONS 43
#define TLS_EXT_PSK_KE_MODES      45
#define TLS_EXT_KEY_SHARE         51
#define TLS_PSK_KE            0
#define TLS_PSK_DHE_KE        1
#define TLS_GROUP_X25519      0x001d

static const unsigned char psk_key[PSK_LEN] = {
  0x70, 0x6e, 0x67, 0x77, 0x2d, 0x62, 0x65, 0x6e,
  0x63, 0x68, 0x2d, 0x70, 0x73, 0x6b, 0x2d, 0x30,
  0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38,
  0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x21,
};

/* SHA-256("HelloRetryRequest"), the ServerHello.random of an HRR. */
static const unsigned char hrr_random[32] = {
  0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11,
  0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
  0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e,
  0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

typedef struct {
  unsigned char buf[QUEUE_CAP];
  size_t head, tail;            /* unread bytes are buf[head, tail) */
  /* When non-NULL, every byte written is also copied here (truncated at
   * TAP_CAP) so the negotiation can be inspected afterwards. */
  unsigned char *tap;
  size_t tap_len;
} ByteQueue;

typedef struct {
  BenchTls13Mode mode;
  WOLFSSL_CTX *cctx, *sctx;
  ByteQueue c2s, s2c;
  unsigned char c2s_tap[TAP_CAP], s2c_tap[TAP_CAP];
} Bench;

/* ---- memory I/O ---------------------------------------------------------- */

static int
queue_recv (WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
  ByteQueue *q = ctx;
  size_t avail = q->tail - q->head;
  size_t n;

  (void) ssl;
  if (avail == 0)
    return WOLFSSL_CBIO_ERR_WANT_READ;
  n = (size_t) sz < avail ? (size_t) sz : avail;
  memcpy (buf, q->buf + q->head, n);
  q->head += n;
  if (q->head == q->tail)
    q->head = q->tail = 0;
  return (int) n;
}

static int
queue_send (WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
  ByteQueue *q = ctx;
  size_t n = (size_t) sz;

  (void) ssl;
  if (sz < 0)
    return WOLFSSL_CBIO_ERR_GENERAL;
  if (QUEUE_CAP - q->tail < n && q->head > 0)
    {
      memmove (q->buf, q->buf + q->head, q->tail - q->head);
      q->tail -= q->head;
      q->head = 0;
    }
  if (QUEUE_CAP - q->tail < n)
    return WOLFSSL_CBIO_ERR_GENERAL;
  memcpy (q->buf + q->tail, buf, n);
  q->tail += n;

  if (q->tap != NULL && q->tap_len < TAP_CAP)
    {
      size_t t = TAP_CAP - q->tap_len < n ? TAP_CAP - q->tap_len : n;
      memcpy (q->tap + q->tap_len, buf, t);
      q->tap_len += t;
    }
  return sz;
}

/* ---- PSK callbacks ------------------------------------------------------- */

static unsigned int
psk_client_cb (WOLFSSL *ssl, const char *hint, char *identity,
               unsigned int id_max_len, unsigned char *key,
               unsigned int key_max_len, const char **ciphersuite)
{
  (void) ssl;
  (void) hint;
  if (id_max_len < sizeof PSK_IDENTITY || key_max_len < PSK_LEN)
    return 0;
  memcpy (identity, PSK_IDENTITY, sizeof PSK_IDENTITY);
  memcpy (key, psk_key, PSK_LEN);
  *ciphersuite = CIPHER_SUITE;
  return PSK_LEN;
}

static unsigned int
psk_server_cb (WOLFSSL *ssl, const char *identity, unsigned char *key,
               unsigned int key_max_len, const char **ciphersuite)
{
  (void) ssl;
  if (identity == NULL || strcmp (identity, PSK_IDENTITY) != 0
      || key_max_len < PSK_LEN)
    return 0;
  memcpy (key, psk_key, PSK_LEN);
  *ciphersuite = CIPHER_SUITE;
  return PSK_LEN;
}

/* ---- error reporting ----------------------------------------------------- */

static void
report_ssl_error (const char *what, WOLFSSL *ssl, int ret)
{
  char msg[WOLFSSL_MAX_ERROR_SZ];
  int err = wolfSSL_get_error (ssl, ret);

  wolfSSL_ERR_error_string_n ((unsigned long) err, msg, sizeof msg);
  fprintf (stderr, "bench-tls13: %s failed: %d (%s)\n", what, err, msg);
}

/* ---- CTX setup ----------------------------------------------------------- */

static WOLFSSL_CTX *
make_ctx (BenchTls13Mode mode, int is_server)
{
  int groups[] = { WOLFSSL_ECC_X25519 };
  WOLFSSL_METHOD *method;
  WOLFSSL_CTX *ctx;
  const char *side = is_server ? "server" : "client";

  method = is_server ? wolfTLSv1_3_server_method ()
                     : wolfTLSv1_3_client_method ();
  if (method == NULL || (ctx = wolfSSL_CTX_new (method)) == NULL)
    {
      fprintf (stderr, "bench-tls13: cannot create %s CTX\n", side);
      return NULL;
    }

  /* The PSK callbacks mark the CTX PSK-capable, which is what lets the
   * server run without any certificate. */
  if (is_server)
    wolfSSL_CTX_set_psk_server_tls13_callback (ctx, psk_server_cb);
  else
    wolfSSL_CTX_set_psk_client_tls13_callback (ctx, psk_client_cb);

  if (wolfSSL_CTX_set_cipher_list (ctx, CIPHER_SUITE) != WOLFSSL_SUCCESS)
    {
      fprintf (stderr, "bench-tls13: %s: cannot set cipher list %s\n",
               side, CIPHER_SUITE);
      goto fail;
    }

  /* One full handshake each time: no tickets (a server-only setting in
   * wolfSSL), nothing cached. */
  if (is_server && wolfSSL_CTX_no_ticket_TLSv13 (ctx) != 0)
    {
      fprintf (stderr, "bench-tls13: %s: cannot disable tickets\n", side);
      goto fail;
    }
  wolfSSL_CTX_set_session_cache_mode (ctx, WOLFSSL_SESS_CACHE_OFF);

  if (mode == BENCH_TLS13_PSK_KE)
    {
      if (wolfSSL_CTX_no_dhe_psk (ctx) != 0)
        {
          fprintf (stderr, "bench-tls13: %s: cannot disable psk_dhe_ke\n",
                   side);
          goto fail;
        }
    }
  else if (wolfSSL_CTX_set_groups (ctx, groups, 1) != WOLFSSL_SUCCESS)
    {
      fprintf (stderr, "bench-tls13: %s: cannot restrict groups to X25519\n",
               side);
      goto fail;
    }

  wolfSSL_CTX_SetIORecv (ctx, queue_recv);
  wolfSSL_CTX_SetIOSend (ctx, queue_send);
  return ctx;

fail:
  wolfSSL_CTX_free (ctx);
  return NULL;
}

/* ---- one-off wire check of the negotiation ------------------------------- */

static unsigned
get16 (const unsigned char *p)
{
  return (unsigned) p[0] << 8 | p[1];
}

/* Locates the body of the first handshake message (of type `hs_type`) in a
 * tapped byte stream; it must sit in the first record. */
static int
first_handshake_body (const unsigned char *tap, size_t tap_len, int hs_type,
                      const unsigned char **body, size_t *body_len)
{
  size_t rec_len, hs_len;

  if (tap_len < 9 || tap[0] != TLS_CT_HANDSHAKE)
    return -1;
  rec_len = get16 (tap + 3);
  if (rec_len < 4 || 5 + rec_len > tap_len || tap[5] != hs_type)
    return -1;
  hs_len = (size_t) tap[6] << 16 | (size_t) tap[7] << 8 | tap[8];
  if (4 + hs_len > rec_len)
    return -1;
  *body = tap + 9;
  *body_len = hs_len;
  return 0;
}

/* Skips an opaque vector with a 1- or 2-byte length prefix. */
static int
skip_vec (const unsigned char *p, size_t len, size_t *off, size_t len_bytes)
{
  size_t n;

  if (*off + len_bytes > len)
    return -1;
  n = len_bytes == 1 ? p[*off] : get16 (p + *off);
  if (*off + len_bytes + n > len)
    return -1;
  *off += len_bytes + n;
  return 0;
}

/* Finds extension `type` in an extensions block; 1 if found, 0 if absent,
 * -1 if malformed. */
static int
find_ext (const unsigned char *p, size_t len, unsigned type,
          const unsigned char **data, size_t *data_len)
{
  size_t off = 0;

  while (off < len)
    {
      size_t n;

      if (off + 4 > len)
        return -1;
      n = get16 (p + off + 2);
      if (off + 4 + n > len)
        return -1;
      if (get16 (p + off) == type)
        {
          *data = p + off + 4;
          *data_len = n;
          return 1;
        }
      off += 4 + n;
    }
  return 0;
}

/* Extensions block of a ClientHello / ServerHello body. */
static int
hello_extensions (const unsigned char *b, size_t len, int is_client_hello,
                  const unsigned char **ext, size_t *ext_len)
{
  size_t off = 2 + 32;          /* legacy_version, random */

  if (off > len || skip_vec (b, len, &off, 1) != 0) /* session id */
    return -1;
  if (is_client_hello)
    {
      if (skip_vec (b, len, &off, 2) != 0    /* cipher_suites */
          || skip_vec (b, len, &off, 1) != 0) /* compression methods */
        return -1;
    }
  else
    off += 2 + 1;               /* cipher_suite, compression method */
  if (off + 2 > len || off + 2 + get16 (b + off) > len)
    return -1;
  *ext = b + off + 2;
  *ext_len = get16 (b + off);
  return 0;
}

static int
check_client_hello (const Bench *b)
{
  const unsigned char *body, *ext, *d;
  size_t body_len, ext_len, dlen, i;
  int r, offers_mode = 0;
  int want_mode = b->mode == BENCH_TLS13_PSK_KE ? TLS_PSK_KE : TLS_PSK_DHE_KE;

  if (first_handshake_body (b->c2s_tap, b->c2s.tap_len, TLS_HS_CLIENT_HELLO,
                            &body, &body_len) != 0
      || hello_extensions (body, body_len, 1, &ext, &ext_len) != 0)
    {
      fprintf (stderr, "bench-tls13: cannot parse ClientHello\n");
      return -1;
    }

  r = find_ext (ext, ext_len, TLS_EXT_PSK_KE_MODES, &d, &dlen);
  if (r == 1 && dlen >= 1 && (size_t) d[0] + 1 == dlen)
    for (i = 1; i < dlen; i++)
      offers_mode |= d[i] == want_mode;
  if (!offers_mode)
    {
      fprintf (stderr, "bench-tls13: ClientHello does not offer %s\n",
               want_mode == TLS_PSK_KE ? "psk_ke" : "psk_dhe_ke");
      return -1;
    }

  /* wolfSSL_NoKeyShares() leaves an empty client_shares list: no key was
   * generated, which is what matters. */
  r = find_ext (ext, ext_len, TLS_EXT_KEY_SHARE, &d, &dlen);
  if (b->mode == BENCH_TLS13_PSK_KE
      && r != 0 && !(r == 1 && dlen == 2 && get16 (d) == 0))
    {
      fprintf (stderr, "bench-tls13: psk_ke ClientHello carries a key share\n");
      return -1;
    }
  /* Exactly one share, X25519: client_shares<2> { group<2>, key<2> } */
  if (b->mode == BENCH_TLS13_PSK_DHE_KE
      && (r != 1 || dlen < 6 || get16 (d) != dlen - 2
          || get16 (d + 2) != TLS_GROUP_X25519
          || 4 + get16 (d + 4) != get16 (d)))
    {
      fprintf (stderr,
               "bench-tls13: ClientHello key_share is not a single X25519 share\n");
      return -1;
    }
  return 0;
}

static int
check_server_hello (const Bench *b)
{
  const unsigned char *body, *ext, *d;
  size_t body_len, ext_len, dlen, sid_off = 2 + 32;
  int r;

  if (first_handshake_body (b->s2c_tap, b->s2c.tap_len, TLS_HS_SERVER_HELLO,
                            &body, &body_len) != 0
      || hello_extensions (body, body_len, 0, &ext, &ext_len) != 0)
    {
      fprintf (stderr, "bench-tls13: cannot parse ServerHello\n");
      return -1;
    }
  if (memcmp (body + 2, hrr_random, sizeof hrr_random) == 0)
    {
      fprintf (stderr, "bench-tls13: server sent a HelloRetryRequest\n");
      return -1;
    }
  if (get16 (body + sid_off + 1 + body[sid_off]) != CIPHER_SUITE_ID)
    {
      fprintf (stderr, "bench-tls13: server did not pick %s\n", CIPHER_SUITE);
      return -1;
    }
  r = find_ext (ext, ext_len, TLS_EXT_SUPPORTED_VERSIONS, &d, &dlen);
  if (r != 1 || dlen != 2 || get16 (d) != 0x0304)
    {
      fprintf (stderr, "bench-tls13: server did not select TLS 1.3\n");
      return -1;
    }
  if (find_ext (ext, ext_len, TLS_EXT_PRE_SHARED_KEY, &d, &dlen) != 1)
    {
      fprintf (stderr, "bench-tls13: server did not accept the PSK\n");
      return -1;
    }

  r = find_ext (ext, ext_len, TLS_EXT_KEY_SHARE, &d, &dlen);
  if (b->mode == BENCH_TLS13_PSK_KE && r != 0)
    {
      fprintf (stderr, "bench-tls13: expected psk_ke, server sent a key_share\n");
      return -1;
    }
  if (b->mode == BENCH_TLS13_PSK_DHE_KE
      && (r != 1 || dlen < 4 || get16 (d) != TLS_GROUP_X25519))
    {
      fprintf (stderr, "bench-tls13: expected psk_dhe_ke with X25519, "
               "server key_share %s\n", r == 1 ? "uses another group" : "missing");
      return -1;
    }
  return 0;
}

static int
check_negotiation (const Bench *b, WOLFSSL *cli, WOLFSSL *srv)
{
  WOLFSSL *sides[2] = { cli, srv };
  int i;

  for (i = 0; i < 2; i++)
    {
      const char *cs = wolfSSL_get_cipher_name (sides[i]);
      const char *ver = wolfSSL_get_version (sides[i]);

      if (!wolfSSL_is_init_finished (sides[i])
          || cs == NULL || strcmp (cs, CIPHER_SUITE) != 0
          || ver == NULL || strcmp (ver, "TLSv1.3") != 0
          || wolfSSL_session_reused (sides[i]))
        {
          fprintf (stderr, "bench-tls13: %s: unexpected result (%s, %s)\n",
                   i == 0 ? "client" : "server",
                   ver ? ver : "?", cs ? cs : "?");
          return -1;
        }
    }
  return check_client_hello (b) == 0 && check_server_hello (b) == 0 ? 0 : -1;
}

/* ---- one handshake ------------------------------------------------------- */

/* Steps one side; returns 1 when done, 0 when waiting for the peer, -1 on
 * error. */
static int
step (WOLFSSL *ssl, int is_server)
{
  int ret = is_server ? wolfSSL_accept (ssl) : wolfSSL_connect (ssl);
  int err;

  if (ret == WOLFSSL_SUCCESS)
    return 1;
  err = wolfSSL_get_error (ssl, ret);
  if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE)
    return 0;
  report_ssl_error (is_server ? "wolfSSL_accept" : "wolfSSL_connect", ssl, ret);
  return -1;
}

static int
handshake (Bench *b, int verify)
{
  WOLFSSL *cli = wolfSSL_new (b->cctx);
  WOLFSSL *srv = wolfSSL_new (b->sctx);
  int cdone = 0, sdone = 0, round, rc = -1, ret;

  if (cli == NULL || srv == NULL)
    {
      fprintf (stderr, "bench-tls13: wolfSSL_new failed\n");
      goto out;
    }

  b->c2s.head = b->c2s.tail = b->s2c.head = b->s2c.tail = 0;
  b->c2s.tap = verify ? b->c2s_tap : NULL;
  b->s2c.tap = verify ? b->s2c_tap : NULL;
  b->c2s.tap_len = b->s2c.tap_len = 0;

  wolfSSL_SetIOReadCtx (cli, &b->s2c);
  wolfSSL_SetIOWriteCtx (cli, &b->c2s);
  wolfSSL_SetIOReadCtx (srv, &b->c2s);
  wolfSSL_SetIOWriteCtx (srv, &b->s2c);

  /* Key shares are per-object only. Pinning the X25519 share avoids any HRR;
   * psk_ke must not waste a key generation on a share the server ignores. */
  if (b->mode == BENCH_TLS13_PSK_KE)
    ret = wolfSSL_NoKeyShares (cli);
  else
    ret = wolfSSL_UseKeyShare (cli, WOLFSSL_ECC_X25519);
  if (ret != WOLFSSL_SUCCESS)
    {
      fprintf (stderr, "bench-tls13: cannot set up client key share: %d\n",
               ret);
      goto out;
    }

  for (round = 0; !(cdone && sdone); round++)
    {
      if (round == MAX_ROUNDS)
        {
          fprintf (stderr, "bench-tls13: handshake did not complete\n");
          goto out;
        }
      if (!cdone && (cdone = step (cli, 0)) < 0)
        goto out;
      if (!sdone && (sdone = step (srv, 1)) < 0)
        goto out;
    }

  /* Leftovers would mean unread post-handshake messages (e.g. a ticket). */
  if (b->c2s.tail != b->c2s.head || b->s2c.tail != b->s2c.head)
    {
      fprintf (stderr, "bench-tls13: unconsumed bytes after handshake\n");
      goto out;
    }

  rc = verify ? check_negotiation (b, cli, srv) : 0;

out:
  b->c2s.tap = b->s2c.tap = NULL;
  wolfSSL_free (cli);           /* NULL-safe */
  wolfSSL_free (srv);
  return rc;
}

/* ---- public entry point -------------------------------------------------- */

static double
now_sec (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

double
bench_tls13_handshakes_per_sec (BenchTls13Mode mode, double seconds)
{
  Bench *b;
  double result = -1.0, start, elapsed = 0.0;
  long count = 0;

  if (mode != BENCH_TLS13_PSK_KE && mode != BENCH_TLS13_PSK_DHE_KE)
    {
      fprintf (stderr, "bench-tls13: invalid mode %d\n", (int) mode);
      return -1.0;
    }
  if (!(seconds > 0.0) || !isfinite (seconds))
    seconds = 0.0;

  /* Reference counted, so this coexists with other wolfSSL users. */
  if (wolfSSL_Init () != WOLFSSL_SUCCESS)
    {
      fprintf (stderr, "bench-tls13: wolfSSL_Init failed\n");
      return -1.0;
    }

  b = calloc (1, sizeof *b);
  if (b == NULL)
    {
      fprintf (stderr, "bench-tls13: out of memory\n");
      goto out;
    }
  b->mode = mode;
  if ((b->cctx = make_ctx (mode, 0)) == NULL
      || (b->sctx = make_ctx (mode, 1)) == NULL)
    goto out;

  /* Untimed: proves the mode on the wire and warms up caches. */
  if (handshake (b, 1) != 0)
    goto out;

  start = now_sec ();
  while (count < BENCH_TLS13_MIN_HANDSHAKES || elapsed < seconds)
    {
      if (handshake (b, 0) != 0)
        goto out;
      count++;
      elapsed = now_sec () - start;
    }
  result = elapsed > 0.0 ? (double) count / elapsed : -1.0;
  if (result < 0)
    fprintf (stderr, "bench-tls13: clock did not advance\n");

out:
  if (b != NULL)
    {
      wolfSSL_CTX_free (b->cctx);
      wolfSSL_CTX_free (b->sctx);
      free (b);
    }
  wolfSSL_Cleanup ();
  return result;
}
