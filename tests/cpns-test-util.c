/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-test-util.h"

#include <string.h>

#include "cpns-crypto.h"

void
test_random_init (TestRandom *r, const char *seed)
{
  memset (r, 0, sizeof *r);
  cpns_sha256 ((const guint8 *) seed, strlen (seed), r->seed, NULL);
}

gboolean
test_random_func (guint8 *out, gsize len, gpointer user_data, GError **error)
{
  TestRandom *r = user_data;

  while (len > 0)
    {
      guint8 in[40], block[32];
      gsize n = MIN (len, sizeof block);

      memcpy (in, r->seed, 32);
      for (int i = 0; i < 8; i++)
        in[32 + i] = r->counter >> (56 - 8 * i);
      r->counter++;
      if (!cpns_sha256 (in, sizeof in, block, error))
        return FALSE;
      memcpy (out, block, n);
      out += n;
      len -= n;
    }
  return TRUE;
}

void
test_psk_init (CpnsPsk *psk, const char *key_seed, const char *kid, CpnsRole role)
{
  memset (psk, 0, sizeof *psk);
  cpns_sha256 ((const guint8 *) key_seed, strlen (key_seed), psk->key, NULL);
  psk->key_len = 32;
  psk->kid_len = MIN (strlen (kid), sizeof psk->kid);
  memcpy (psk->kid, kid, psk->kid_len);
  psk->role = role;
}

void
test_pair_init (TestPair *p, CpnsPurpose purpose)
{
  memset (p, 0, sizeof *p);
  test_psk_init (&p->ipsk, "psk-1", "kid-1", CPNS_ROLE_INITIATOR);
  test_psk_init (&p->rpsk, "psk-1", "kid-1", CPNS_ROLE_RESPONDER);
  p->icfg = (CpnsHandshakeConfig) {
    .role = CPNS_ROLE_INITIATOR, .purpose = purpose, .self_id = "gw-1",
    .peer_id = "server", .psk = &p->ipsk, .replay_mode = CPNS_REPLAY_WINDOW,
  };
  p->rcfg = (CpnsHandshakeConfig) {
    .role = CPNS_ROLE_RESPONDER, .purpose = purpose, .self_id = "server",
    .peer_id = "gw-1", .psk = &p->rpsk, .replay_mode = CPNS_REPLAY_WINDOW,
  };
}

gboolean
test_handshake_run (const CpnsHandshakeConfig *icfg, const CpnsHandshakeConfig *rcfg,
                    CpnsSession **isession, CpnsSession **rsession,
                    TestTranscript *t, GError **error)
{
  g_autoptr(CpnsHandshake) ini = cpns_handshake_new (icfg, error);
  g_autoptr(CpnsHandshake) res = NULL;
  TestTranscript local;
  gsize n;

  if (t == NULL)
    t = &local;
  if (ini == NULL)
    return FALSE;
  res = cpns_handshake_new (rcfg, error);
  if (res == NULL)
    return FALSE;
  if (!cpns_handshake_start (ini, t->m1, sizeof t->m1, &t->m1_len, error) ||
      !cpns_handshake_receive (res, t->m1, t->m1_len, t->m2, sizeof t->m2, &t->m2_len,
                               error) ||
      !cpns_handshake_receive (ini, t->m2, t->m2_len, t->m3, sizeof t->m3, &t->m3_len,
                               error) ||
      !cpns_handshake_receive (res, t->m3, t->m3_len, NULL, 0, &n, error))
    return FALSE;
  g_assert_cmpint (cpns_handshake_get_state (ini), ==, CPNS_HANDSHAKE_DONE);
  g_assert_cmpint (cpns_handshake_get_state (res), ==, CPNS_HANDSHAKE_DONE);
  if (isession != NULL)
    *isession = cpns_handshake_take_session (ini);
  if (rsession != NULL)
    *rsession = cpns_handshake_take_session (res);
  return TRUE;
}

GBytes *
test_hex_decode (const char *hex)
{
  gsize len = strlen (hex);
  guint8 *out = g_malloc (len / 2 + 1);
  gsize n = 0;

  for (gsize i = 0; i + 1 < len + 1 && hex[i] != '\0';)
    {
      int hi, lo;
      if (g_ascii_isspace (hex[i]))
        {
          i++;
          continue;
        }
      hi = g_ascii_xdigit_value (hex[i]);
      lo = g_ascii_xdigit_value (hex[i + 1]);
      g_assert (hi >= 0 && lo >= 0);
      out[n++] = hi << 4 | lo;
      i += 2;
    }
  return g_bytes_new_take (out, n);
}

char *
test_hex_encode (const guint8 *data, gsize len)
{
  static const char digits[] = "0123456789abcdef";
  char *out = g_malloc (2 * len + 1);

  for (gsize i = 0; i < len; i++)
    {
      out[2 * i] = digits[data[i] >> 4];
      out[2 * i + 1] = digits[data[i] & 15];
    }
  out[2 * len] = '\0';
  return out;
}
