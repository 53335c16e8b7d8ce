/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Produces the protocol test vectors of docs/protocol.md from the code, and
 * serves the independent Python check (tests/python/check_protocol.py):
 *
 *   cpns-vectors doc                       the vector section of protocol.md
 *   cpns-vectors live MODE SUITE           a fresh random handshake, same format
 *   cpns-vectors open SUITE KEY IV MACKEY SELF PEER SID RECORD
 *                                          opens a record made elsewhere and
 *                                          prints its header and body
 *   cpns-vectors wrap-seal KIND SECRET ID_A ID_B USER KID KEY
 *   cpns-vectors wrap-open KIND SECRET ID_A ID_B USER KID WRAPPED
 *                                          key wraps (docs/protocol.md 8.2),
 *                                          all byte strings in hex
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpns-error.h"
#include "cpns-handshake.h"
#include "cpns-test-util.h"
#include "cpns-wrap.h"

static void
put_hex (const char *name, const guint8 *data, gsize len)
{
  g_autofree char *hex = test_hex_encode (data, len);
  printf ("%-22s = %s\n", name, hex);
}

static void
put_text (const char *name, const char *text)
{
  printf ("%-22s = \"%s\"\n", name, text);
}

static void
put_uint (const char *name, guint64 v)
{
  printf ("%-22s = %" G_GUINT64_FORMAT "\n", name, v);
}

static void
put_list (const char *name, const guint64 *v, guint n)
{
  printf ("%-22s = ", name);
  for (guint i = 0; i < n; i++)
    printf ("%s%" G_GUINT64_FORMAT, i ? "," : "", v[i]);
  printf ("\n");
}

static void
die (const char *what, GError *error)
{
  fprintf (stderr, "cpns-vectors: %s: %s\n", what, error ? error->message : "failed");
  exit (1);
}

/* One handshake and two records, printed as "name = value" lines. */
static void
emit_vector (const char *name, CpnsPurpose purpose, guint64 mode, guint64 suite,
             const char *seed_i, const char *seed_r)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsHandshake) ini = NULL;
  g_autoptr(CpnsHandshake) res = NULL;
  g_autoptr(CpnsSession) is = NULL;
  g_autoptr(CpnsSession) rs = NULL;
  const CpnsHandshakeSecrets *sec;
  TestRandom ri, rr, replay;
  CpnsPsk ipsk, rpsk;
  TestTranscript t;
  guint64 suites_offered[] = { CPNS_ALG_CHACHA20_POLY1305, CPNS_ALG_A128GCM,
                               CPNS_ALG_A256GCM };
  guint64 modes_offered[] = { mode };
  guint64 responder_suites[] = { suite };
  const char *id_i = purpose == CPNS_PURPOSE_SERVER ? "gw-0001" : "pne-watch-7";
  const char *id_r = purpose == CPNS_PURPOSE_SERVER ? "cpns-server" : "gw-0001";
  CpnsHandshakeConfig icfg, rcfg;
  guint8 nonce[32], priv[32], pub[32];
  guint8 body[64], rec[512];
  gsize body_len, rec_len, n;
  gsize key_len = cpns_alg_key_len (suite);
  CpnsBody data = { 0 };

  if (purpose == CPNS_PURPOSE_BOOTSTRAP)
    {
      cpns_bootstrap_psk (&ipsk, CPNS_ROLE_INITIATOR);
      cpns_bootstrap_psk (&rpsk, CPNS_ROLE_RESPONDER);
    }
  else
    {
      test_psk_init (&ipsk, name, "kid-01", CPNS_ROLE_INITIATOR);
      test_psk_init (&rpsk, name, "kid-01", CPNS_ROLE_RESPONDER);
    }
  test_random_init (&ri, seed_i);
  test_random_init (&rr, seed_r);
  icfg = (CpnsHandshakeConfig) {
    .role = CPNS_ROLE_INITIATOR, .purpose = purpose, .self_id = id_i, .peer_id = id_r,
    .psk = &ipsk, .suites = suites_offered, .n_suites = 3,
    .modes = modes_offered, .n_modes = 1, .txid = 0x1001,
    .random = test_random_func, .random_data = &ri,
  };
  rcfg = (CpnsHandshakeConfig) {
    .role = CPNS_ROLE_RESPONDER, .purpose = purpose, .self_id = id_r, .peer_id = id_i,
    .psk = &rpsk, .suites = responder_suites, .n_suites = 1,
    .random = test_random_func, .random_data = &rr,
  };

  ini = cpns_handshake_new (&icfg, &error);
  res = ini ? cpns_handshake_new (&rcfg, &error) : NULL;
  if (res == NULL)
    die (name, error);
  cpns_handshake_keep_secrets (ini);
  if (!cpns_handshake_start (ini, t.m1, sizeof t.m1, &t.m1_len, &error) ||
      !cpns_handshake_receive (res, t.m1, t.m1_len, t.m2, sizeof t.m2, &t.m2_len, &error) ||
      !cpns_handshake_receive (ini, t.m2, t.m2_len, t.m3, sizeof t.m3, &t.m3_len, &error) ||
      !cpns_handshake_receive (res, t.m3, t.m3_len, NULL, 0, &n, &error))
    die (name, error);
  sec = cpns_handshake_get_secrets (ini);
  is = cpns_handshake_take_session (ini);
  rs = cpns_handshake_take_session (res);

  printf ("### Vector: %s\n\n```text\n", name);
  put_uint ("purpose", purpose);
  put_text ("initiator_id", id_i);
  put_text ("responder_id", id_r);
  put_hex ("psk", ipsk.key, ipsk.key_len);
  put_hex ("kid", ipsk.kid, ipsk.kid_len);
  put_list ("offered_suites", suites_offered, 3);
  put_list ("offered_modes", modes_offered, 1);
  put_uint ("chosen_suite", suite);
  put_uint ("chosen_mode", mode);
  put_uint ("txid", 0x1001);

  /* Replay the random streams to show what each side drew. */
  test_random_init (&replay, seed_i);
  test_random_func (nonce, 32, &replay, NULL);
  put_hex ("initiator_nonce", nonce, 32);
  if (mode == CPNS_MODE_PSK_X25519)
    {
      test_random_func (priv, 32, &replay, NULL);
      put_hex ("initiator_private", priv, 32);
      cpns_x25519_public (priv, pub, NULL);
      put_hex ("initiator_share", pub, 32);
    }
  test_random_init (&replay, seed_r);
  test_random_func (nonce, 32, &replay, NULL);
  put_hex ("responder_nonce", nonce, 32);
  if (mode == CPNS_MODE_PSK_X25519)
    {
      test_random_func (priv, 32, &replay, NULL);
      put_hex ("responder_private", priv, 32);
      cpns_x25519_public (priv, pub, NULL);
      put_hex ("responder_share", pub, 32);
    }

  put_hex ("m1", t.m1, t.m1_len);
  put_hex ("m2", t.m2, t.m2_len);
  put_hex ("m3", t.m3, t.m3_len);
  put_hex ("hs_psk", sec->hs_psk, 32);
  put_hex ("handshake_secret", sec->handshake_secret, 32);
  put_hex ("th2", sec->th2, 32);
  put_hex ("th_app", sec->th_app, 32);
  put_hex ("th3", sec->th3, 32);
  put_hex ("i2r_key", sec->i2r.aead_key, key_len);
  put_hex ("i2r_iv", sec->i2r.iv, 12);
  put_hex ("i2r_mac_key", sec->i2r.mac_key, 32);
  put_hex ("r2i_key", sec->r2i.aead_key, key_len);
  put_hex ("r2i_iv", sec->r2i.iv, 12);
  put_hex ("r2i_mac_key", sec->r2i.mac_key, 32);
  put_hex ("session_id", sec->session_id, 8);

  data.present = 1u << 1 | 1u << 2;
  data.data.content_type = 0;
  data.data.data = CPNS_STR ("hello, peer");
  body_len = cpns_body_encode (CPNS_MSG_DATA, &data, body, sizeof body, &error);
  if (body_len == 0)
    die (name, error);
  put_hex ("record_body", body, body_len);
  put_uint ("record_i2r_txid", 0x2001);
  put_uint ("record_r2i_txid", 0x2002);
  rec_len = cpns_session_seal (is, CPNS_MSG_DATA, 0x2001, TRUE, body, body_len, rec,
                               sizeof rec, &error);
  if (rec_len == 0)
    die (name, error);
  put_hex ("record_i2r_encrypted", rec, rec_len);
  rec_len = cpns_session_seal (rs, CPNS_MSG_DATA, 0x2002, FALSE, body, body_len, rec,
                               sizeof rec, &error);
  if (rec_len == 0)
    die (name, error);
  put_hex ("record_r2i_mac", rec, rec_len);
  printf ("```\n\n");
}

static int
cmd_open (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsSession) s = NULL;
  g_autoptr(GBytes) key = NULL, iv = NULL, mac = NULL, sid = NULL, rec = NULL;
  CpnsDirectionKeys keys = { 0 };
  CpnsHeader hdr;
  guint8 plain[CPNS_MAX_BODY];
  gsize plain_len;
  guint64 suite;
  g_autofree char *body_hex = NULL;

  if (argc != 10)
    {
      fprintf (stderr, "usage: cpns-vectors open SUITE KEY IV MACKEY SELF PEER SID RECORD\n");
      return 2;
    }
  suite = g_ascii_strtoull (argv[2], NULL, 10);
  key = test_hex_decode (argv[3]);
  iv = test_hex_decode (argv[4]);
  mac = test_hex_decode (argv[5]);
  sid = test_hex_decode (argv[8]);
  rec = test_hex_decode (argv[9]);
  if (g_bytes_get_size (key) > sizeof keys.aead_key || g_bytes_get_size (iv) != 12 ||
      g_bytes_get_size (mac) != 32 || g_bytes_get_size (sid) != CPNS_SESSION_ID_LEN)
    {
      fprintf (stderr, "cpns-vectors: bad key, IV, MAC key or session ID length\n");
      return 2;
    }
  memcpy (keys.aead_key, g_bytes_get_data (key, NULL), g_bytes_get_size (key));
  memcpy (keys.iv, g_bytes_get_data (iv, NULL), 12);
  memcpy (keys.mac_key, g_bytes_get_data (mac, NULL), 32);
  /* Only the receive direction matters here. */
  s = cpns_session_new (argv[6], argv[7], g_bytes_get_data (sid, NULL), suite, &keys,
                        &keys, CPNS_REPLAY_WINDOW, &error);
  if (s == NULL ||
      !cpns_session_open (s, g_bytes_get_data (rec, NULL), g_bytes_get_size (rec), &hdr,
                          plain, sizeof plain, &plain_len, &error))
    {
      printf ("{\"ok\": false, \"code\": \"%s\", \"message\": \"%s\"}\n",
              cpns_error_code_to_string (error->code), error->message);
      return 1;
    }
  body_hex = test_hex_encode (plain, plain_len);
  printf ("{\"ok\": true, \"type\": %" G_GUINT64_FORMAT ", \"txid\": %" G_GUINT64_FORMAT
          ", \"seq\": %" G_GUINT64_FORMAT ", \"encrypted\": %s, \"src\": \"%s\", "
          "\"dst\": \"%s\", \"body\": \"%s\"}\n", hdr.type, hdr.txid, hdr.seq,
          hdr.encrypted ? "true" : "false", hdr.src, hdr.dst, body_hex);
  return 0;
}

static int
cmd_wrap (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) secret = NULL, kid = NULL, data = NULL;
  CpnsWrapBinding binding;
  guint64 kind;

  if (argc != 9)
    {
      fprintf (stderr, "usage: cpns-vectors %s KIND SECRET ID_A ID_B USER KID DATA\n",
               argv[1]);
      return 2;
    }
  kind = g_ascii_strtoull (argv[2], NULL, 10);
  secret = test_hex_decode (argv[3]);
  kid = test_hex_decode (argv[7]);
  data = test_hex_decode (argv[8]);
  binding = (CpnsWrapBinding) { argv[4], argv[5], argv[6],
                                g_bytes_get_data (kid, NULL), g_bytes_get_size (kid) };
  if (strcmp (argv[1], "wrap-seal") == 0)
    {
      guint8 out[CPNS_WRAPPED_KEY_MAX];
      gsize len = cpns_wrap_seal (kind, g_bytes_get_data (secret, NULL),
                                  g_bytes_get_size (secret), &binding,
                                  g_bytes_get_data (data, NULL), g_bytes_get_size (data),
                                  out, sizeof out, &error);
      g_autofree char *hex = NULL;
      if (len == 0)
        die ("wrap-seal", error);
      hex = test_hex_encode (out, len);
      printf ("%s\n", hex);
      return 0;
    }
  {
    g_autoptr(CpnsSecret) key = cpns_wrap_open (kind, g_bytes_get_data (secret, NULL),
                                                g_bytes_get_size (secret), &binding,
                                                g_bytes_get_data (data, NULL),
                                                g_bytes_get_size (data), &error);
    g_autofree char *hex = NULL;
    if (key == NULL)
      {
        printf ("{\"ok\": false, \"code\": \"%s\"}\n",
                cpns_error_code_to_string (error->code));
        return 1;
      }
    hex = test_hex_encode (key->data, key->len);
    printf ("{\"ok\": true, \"key\": \"%s\"}\n", hex);
    return 0;
  }
}

int
main (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "doc") == 0)
    {
      emit_vector ("server-psk-chacha20", CPNS_PURPOSE_SERVER, CPNS_MODE_PSK,
                   CPNS_ALG_CHACHA20_POLY1305, "vector-1-i", "vector-1-r");
      emit_vector ("server-x25519-chacha20", CPNS_PURPOSE_SERVER, CPNS_MODE_PSK_X25519,
                   CPNS_ALG_CHACHA20_POLY1305, "vector-2-i", "vector-2-r");
      emit_vector ("local-x25519-aes128gcm", CPNS_PURPOSE_LOCAL, CPNS_MODE_PSK_X25519,
                   CPNS_ALG_A128GCM, "vector-3-i", "vector-3-r");
      emit_vector ("local-psk-aes256gcm", CPNS_PURPOSE_LOCAL, CPNS_MODE_PSK,
                   CPNS_ALG_A256GCM, "vector-4-i", "vector-4-r");
      emit_vector ("bootstrap-x25519-chacha20", CPNS_PURPOSE_BOOTSTRAP,
                   CPNS_MODE_PSK_X25519, CPNS_ALG_CHACHA20_POLY1305, "vector-5-i",
                   "vector-5-r");
      return 0;
    }
  if (argc == 4 && strcmp (argv[1], "live") == 0)
    {
      guint8 seed[16];
      g_autofree char *si = NULL, *sr = NULL;

      cpns_random (seed, sizeof seed, NULL);
      si = g_strdup_printf ("live-i-%02x%02x%02x%02x", seed[0], seed[1], seed[2], seed[3]);
      sr = g_strdup_printf ("live-r-%02x%02x%02x%02x", seed[4], seed[5], seed[6], seed[7]);
      emit_vector (si, CPNS_PURPOSE_SERVER, g_ascii_strtoull (argv[2], NULL, 10),
                   g_ascii_strtoull (argv[3], NULL, 10), si, sr);
      return 0;
    }
  if (argc >= 2 && strcmp (argv[1], "open") == 0)
    return cmd_open (argc, argv);
  if (argc >= 2 && (strcmp (argv[1], "wrap-seal") == 0 || strcmp (argv[1], "wrap-open") == 0))
    return cmd_wrap (argc, argv);
  fprintf (stderr, "usage: cpns-vectors doc | live MODE SUITE | open ...\n");
  return 2;
}
