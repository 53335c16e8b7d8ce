/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Every attack the design names, each shown to fail with the right error
 * (docs/protocol.md sections 5 and 6). */

#include <string.h>

#include "cpns-error.h"
#include "cpns-handshake.h"
#include "cpns-test-util.h"
#include "cpns-wrap.h"

typedef TestPair Pair;

static void
pair_init (Pair *p)
{
  test_pair_init (p, CPNS_PURPOSE_SERVER);
}

static void
sessions (Pair *p, CpnsSession **is, CpnsSession **rs)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (test_handshake_run (&p->icfg, &p->rcfg, is, rs, NULL, &error));
  g_assert_no_error (error);
}

/* Re-encodes a plain message after @edit changed it (keeping its MAC). */
static gsize
reencode (const guint8 *in, gsize len, void (*edit) (CpnsPlainMessage *),
          guint8 *out, gsize cap)
{
  CpnsPlainMessage msg;
  g_autoptr(GError) error = NULL;
  gsize n;

  g_assert_true (cpns_plain_decode (in, len, &msg, &error));
  edit (&msg);
  n = cpns_plain_encode (&msg.hdr, &msg.body, msg.mac.len ? msg.mac.data : NULL,
                         msg.mac.len, out, cap, &error);
  g_assert_no_error (error);
  return n;
}

/* ---- handshake ---- */

static void
test_reflection (void)
{
  Pair p;
  g_autoptr(CpnsHandshake) ini = NULL;
  g_autoptr(CpnsHandshake) res = NULL;
  g_autoptr(GError) error = NULL;
  guint8 m1[512], m2[512], m3[512], forged[512];
  gsize l1, l2, l3, n;
  CpnsPlainMessage msg2, msg3;
  CpnsCborWriter w;

  pair_init (&p);
  ini = cpns_handshake_new (&p.icfg, NULL);
  res = cpns_handshake_new (&p.rcfg, NULL);
  g_assert_true (cpns_handshake_start (ini, m1, sizeof m1, &l1, NULL));
  g_assert_true (cpns_handshake_receive (res, m1, l1, m2, sizeof m2, &l2, NULL));
  g_assert_true (cpns_handshake_receive (ini, m2, l2, m3, sizeof m3, &l3, NULL));

  /* HS_FINISH carrying the responder's own confirmation instead of MAC_I. */
  g_assert_true (cpns_plain_decode (m2, l2, &msg2, NULL));
  g_assert_true (cpns_plain_decode (m3, l3, &msg3, NULL));
  cpns_cbor_writer_init (&w, forged, sizeof forged);
  cpns_cbor_put_array (&w, 3);
  cpns_cbor_put_raw (&w, msg3.signed_part.data, msg3.signed_part.len);
  cpns_cbor_put_bytes (&w, msg2.mac.data, msg2.mac.len);
  g_assert_false (cpns_handshake_receive (res, forged, w.len, NULL, 0, &n, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC);
  g_assert_cmpint (cpns_handshake_get_state (res), ==, CPNS_HANDSHAKE_FAILED);
  g_assert_null (cpns_handshake_take_session (res));
  g_clear_error (&error);

  /* A failed handshake accepts nothing more, not even the genuine M3. */
  g_assert_false (cpns_handshake_receive (res, m3, l3, NULL, 0, &n, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_STATE);
}

static void
test_reflected_init (void)
{
  Pair p;
  g_autoptr(CpnsHandshake) ini = NULL;
  g_autoptr(CpnsHandshake) as_responder = NULL;
  g_autoptr(GError) error = NULL;
  guint8 m1[512], out[512];
  gsize l1, n;

  pair_init (&p);
  ini = cpns_handshake_new (&p.icfg, NULL);
  g_assert_true (cpns_handshake_start (ini, m1, sizeof m1, &l1, NULL));
  /* M1 bounced back to the initiator. */
  g_assert_false (cpns_handshake_receive (ini, m1, l1, out, sizeof out, &n, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_STATE);
  g_clear_error (&error);

  /* The gateway's key cannot be used to answer as a responder. */
  p.icfg.role = CPNS_ROLE_RESPONDER;
  as_responder = cpns_handshake_new (&p.icfg, &error);
  g_assert_null (as_responder);
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_ROLE);
}

static void
test_own_id (void)
{
  Pair p;
  g_autoptr(CpnsHandshake) hs = NULL;
  g_autoptr(CpnsHandshake) res = NULL;
  g_autoptr(GError) error = NULL;
  guint8 m1[512], out[512];
  gsize l1, n;

  pair_init (&p);
  p.icfg.peer_id = "gw-1";
  hs = cpns_handshake_new (&p.icfg, &error);
  g_assert_null (hs);
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID);
  g_clear_error (&error);

  /* An initiator claiming to be the server itself. */
  pair_init (&p);
  p.icfg.self_id = "server";
  p.icfg.peer_id = "gw-9";
  p.rcfg.peer_id = NULL;
  hs = cpns_handshake_new (&p.icfg, NULL);
  res = cpns_handshake_new (&p.rcfg, NULL);
  /* Address it to the server by editing M1's destination. */
  g_assert_true (cpns_handshake_start (hs, m1, sizeof m1, &l1, NULL));
  {
    CpnsPlainMessage msg;
    guint8 edited[512];
    gsize le;
    g_assert_true (cpns_plain_decode (m1, l1, &msg, NULL));
    g_strlcpy (msg.hdr.dst, "server", sizeof msg.hdr.dst);
    le = cpns_plain_encode (&msg.hdr, &msg.body, NULL, 0, edited, sizeof edited, NULL);
    g_assert_false (cpns_handshake_receive (res, edited, le, out, sizeof out, &n, &error));
  }
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID);
}

static void
test_wrong_psk (void)
{
  Pair p;
  g_autoptr(GError) error = NULL;

  pair_init (&p);
  test_psk_init (&p.rpsk, "another key", "kid-1", CPNS_ROLE_RESPONDER);
  g_assert_false (test_handshake_run (&p.icfg, &p.rcfg, NULL, NULL, NULL, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC);
}

static void
strip_strong_offers (CpnsPlainMessage *m)
{
  m->body.hs_init.suites.n = 1;
  m->body.hs_init.suites.v[0] = CPNS_ALG_A128GCM;
  m->body.hs_init.modes.n = 1;
  m->body.hs_init.modes.v[0] = CPNS_MODE_PSK;
  m->body.present &= ~(1u << 5);
}

static void
choose_weaker_suite (CpnsPlainMessage *m)
{
  m->body.hs_resp.suite = CPNS_ALG_A128GCM;
}

static void
test_downgrade (void)
{
  Pair p;
  g_autoptr(CpnsHandshake) ini = NULL;
  g_autoptr(CpnsHandshake) res = NULL;
  g_autoptr(GError) error = NULL;
  guint8 m1[512], m1x[512], m2[512], m2x[512], m3[512];
  gsize l1, l1x, l2, l2x, l3;
  static const guint64 only_x25519[] = { CPNS_MODE_PSK_X25519 };
  static const guint64 only_psk[] = { CPNS_MODE_PSK };
  static const guint64 only_chacha[] = { CPNS_ALG_CHACHA20_POLY1305 };

  /* A man in the middle strips the strong options from M1: the responder
   * agrees to the weaker ones, but the initiator sees its real offer in the
   * transcript and the confirmation fails. */
  pair_init (&p);
  ini = cpns_handshake_new (&p.icfg, NULL);
  res = cpns_handshake_new (&p.rcfg, NULL);
  g_assert_true (cpns_handshake_start (ini, m1, sizeof m1, &l1, NULL));
  l1x = reencode (m1, l1, strip_strong_offers, m1x, sizeof m1x);
  g_assert_true (cpns_handshake_receive (res, m1x, l1x, m2, sizeof m2, &l2, &error));
  g_assert_cmpint (cpns_handshake_get_mode (res), ==, CPNS_MODE_PSK);
  g_assert_false (cpns_handshake_receive (ini, m2, l2, m3, sizeof m3, &l3, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC);
  g_clear_error (&error);
  g_clear_pointer (&ini, cpns_handshake_free);
  g_clear_pointer (&res, cpns_handshake_free);

  /* ... or rewrites the responder's choice. */
  ini = cpns_handshake_new (&p.icfg, NULL);
  res = cpns_handshake_new (&p.rcfg, NULL);
  g_assert_true (cpns_handshake_start (ini, m1, sizeof m1, &l1, NULL));
  g_assert_true (cpns_handshake_receive (res, m1, l1, m2, sizeof m2, &l2, NULL));
  l2x = reencode (m2, l2, choose_weaker_suite, m2x, sizeof m2x);
  g_assert_false (cpns_handshake_receive (ini, m2x, l2x, m3, sizeof m3, &l3, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC);
  g_clear_error (&error);
  g_clear_pointer (&ini, cpns_handshake_free);
  g_clear_pointer (&res, cpns_handshake_free);

  /* A choice outside the offer is refused outright. */
  p.icfg.suites = only_chacha;
  p.icfg.n_suites = 1;
  ini = cpns_handshake_new (&p.icfg, NULL);
  res = cpns_handshake_new (&p.rcfg, NULL);
  g_assert_true (cpns_handshake_start (ini, m1, sizeof m1, &l1, NULL));
  g_assert_true (cpns_handshake_receive (res, m1, l1, m2, sizeof m2, &l2, NULL));
  l2x = reencode (m2, l2, choose_weaker_suite, m2x, sizeof m2x);
  g_assert_false (cpns_handshake_receive (ini, m2x, l2x, m3, sizeof m3, &l3, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_DOWNGRADE);
  g_clear_error (&error);

  /* A responder that requires forward secrecy refuses a PSK-only offer. */
  pair_init (&p);
  p.icfg.modes = only_psk;
  p.icfg.n_modes = 1;
  p.rcfg.modes = only_x25519;
  p.rcfg.n_modes = 1;
  g_assert_false (test_handshake_run (&p.icfg, &p.rcfg, NULL, NULL, NULL, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_DOWNGRADE);
}

/* The bootstrap key is public, so nothing but the key exchange protects
 * the credentials that follow: a PSK-only bootstrap must never happen. */
static void
test_bootstrap_downgrade (void)
{
  TestPair p;
  g_autoptr(CpnsHandshake) ini = NULL;
  g_autoptr(CpnsHandshake) res = NULL;
  g_autoptr(GError) error = NULL;
  guint8 m1[512], m1x[512], m2[512];
  gsize l1, l1x, l2;
  static const guint64 only_psk[] = { CPNS_MODE_PSK };

  test_pair_init (&p, CPNS_PURPOSE_BOOTSTRAP);
  cpns_bootstrap_psk (&p.ipsk, CPNS_ROLE_INITIATOR);
  cpns_bootstrap_psk (&p.rpsk, CPNS_ROLE_RESPONDER);
  /* The honest run works... */
  g_assert_true (test_handshake_run (&p.icfg, &p.rcfg, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  /* ...an endpoint cannot even be configured for PSK only... */
  p.icfg.modes = only_psk;
  p.icfg.n_modes = 1;
  g_assert_null (cpns_handshake_new (&p.icfg, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  p.icfg.modes = NULL;
  p.icfg.n_modes = 0;
  /* ...and a man in the middle who strips the key share from M1 is refused
   * by the responder before it answers. */
  ini = cpns_handshake_new (&p.icfg, NULL);
  res = cpns_handshake_new (&p.rcfg, NULL);
  g_assert_true (cpns_handshake_start (ini, m1, sizeof m1, &l1, NULL));
  l1x = reencode (m1, l1, strip_strong_offers, m1x, sizeof m1x);
  g_assert_false (cpns_handshake_receive (res, m1x, l1x, m2, sizeof m2, &l2, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_DOWNGRADE);
}

static gboolean
echo_random (guint8 *out, gsize len, gpointer user_data, GError **error)
{
  memset (out, 0x42, len);
  return TRUE;
}

static const guint8 *m1_nonce;

static void
echo_initiator_nonce (CpnsPlainMessage *m)
{
  m->body.hs_resp.nonce = CPNS_BYTES (m1_nonce, CPNS_NONCE_LEN);
}

static void
test_echoed_nonce (void)
{
  Pair p;
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsHandshake) ini = NULL;
  g_autoptr(CpnsHandshake) res = NULL;
  guint8 m1[512], m2[512], m2x[512], m3[512];
  gsize l1, l2, l2x, l3;
  CpnsPlainMessage msg1;

  /* HS_RESP echoing the initiator's nonce. */
  pair_init (&p);
  ini = cpns_handshake_new (&p.icfg, NULL);
  res = cpns_handshake_new (&p.rcfg, NULL);
  g_assert_true (cpns_handshake_start (ini, m1, sizeof m1, &l1, NULL));
  g_assert_true (cpns_handshake_receive (res, m1, l1, m2, sizeof m2, &l2, NULL));
  g_assert_true (cpns_plain_decode (m1, l1, &msg1, NULL));
  m1_nonce = msg1.body.hs_init.nonce.data;
  l2x = reencode (m2, l2, echo_initiator_nonce, m2x, sizeof m2x);
  g_assert_false (cpns_handshake_receive (ini, m2x, l2x, m3, sizeof m3, &l3, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_REFLECTION);
  g_clear_error (&error);

  /* Both sides drawing the same bytes looks exactly like an echo. */
  pair_init (&p);
  p.icfg.random = p.rcfg.random = echo_random;
  p.icfg.txid = 5;
  g_assert_false (test_handshake_run (&p.icfg, &p.rcfg, NULL, NULL, NULL, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_REFLECTION);
}

static void
test_wrong_purpose (void)
{
  Pair p;
  g_autoptr(GError) error = NULL;

  pair_init (&p);
  p.icfg.purpose = CPNS_PURPOSE_LOCAL;
  g_assert_false (test_handshake_run (&p.icfg, &p.rcfg, NULL, NULL, NULL, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_ROLE);
}

static void
test_truncated_handshake (void)
{
  Pair p;
  g_autoptr(GError) error = NULL;
  guint8 big[CPNS_HANDSHAKE_MAX + 1] = { 0x82 };
  TestTranscript t;

  pair_init (&p);
  g_assert_true (test_handshake_run (&p.icfg, &p.rcfg, NULL, NULL, &t, NULL));
  for (gsize cut = 0; cut < t.m1_len; cut++)
    {
      g_autoptr(CpnsHandshake) res = cpns_handshake_new (&p.rcfg, NULL);
      guint8 out[512];
      gsize n;
      g_assert_false (cpns_handshake_receive (res, t.m1, cut, out, sizeof out, &n, &error));
      g_assert_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED);
      g_assert_cmpuint (n, ==, 0);
      g_clear_error (&error);
    }
  {
    g_autoptr(CpnsHandshake) res = cpns_handshake_new (&p.rcfg, NULL);
    guint8 out[512];
    gsize n;
    g_assert_false (cpns_handshake_receive (res, big, sizeof big, out, sizeof out, &n,
                                            &error));
    g_assert_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE);
  }
}

/* ---- records ---- */

static gsize
seal (CpnsSession *s, guint64 type, gboolean encrypt, guint8 *out, gsize cap)
{
  static const guint8 data_body[] = { 0xa2, 0x01, 0x00, 0x02, 0x42, 'h', 'i' };
  static const guint8 error_body[] = { 0xa2, 0x01, 0x01, 0x02, 0x60 };
  g_autoptr(GError) error = NULL;
  gsize n;

  if (type == CPNS_MSG_ERROR)
    n = cpns_session_seal (s, type, 1, encrypt, error_body, sizeof error_body, out, cap,
                           &error);
  else
    n = cpns_session_seal (s, type, 1, encrypt, data_body, sizeof data_body, out, cap,
                           &error);
  g_assert_no_error (error);
  return n;
}

static gboolean
open_record (CpnsSession *s, const guint8 *rec, gsize len, GError **error)
{
  guint8 plain[1024];
  gsize plain_len;
  CpnsHeader hdr;

  return cpns_session_open (s, rec, len, &hdr, plain, sizeof plain, &plain_len, error);
}

static void
test_replay (void)
{
  Pair p;
  g_autoptr(CpnsSession) is = NULL;
  g_autoptr(CpnsSession) rs = NULL;
  g_autoptr(GError) error = NULL;
  guint8 rec[512];
  gsize len;

  pair_init (&p);
  sessions (&p, &is, &rs);
  len = seal (is, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  g_assert_true (open_record (rs, rec, len, &error));
  g_assert_false (open_record (rs, rec, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_REPLAY);
}

static void
test_window (void)
{
  Pair p;
  g_autoptr(CpnsSession) is = NULL;
  g_autoptr(CpnsSession) rs = NULL;
  g_autoptr(GError) error = NULL;
  guint8 old[512], mid[512], rec[512];
  gsize old_len, mid_len, len;

  pair_init (&p);
  sessions (&p, &is, &rs);
  old_len = seal (is, CPNS_MSG_DATA, TRUE, old, sizeof old);      /* seq 0 */
  for (int i = 1; i < 10; i++)
    seal (is, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  mid_len = seal (is, CPNS_MSG_DATA, TRUE, mid, sizeof mid);      /* seq 10 */
  for (int i = 11; i < 70; i++)
    seal (is, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  len = seal (is, CPNS_MSG_DATA, TRUE, rec, sizeof rec);          /* seq 70 */
  g_assert_true (open_record (rs, rec, len, &error));
  /* 10 is inside the 64-record window, out of order but fresh. */
  g_assert_true (open_record (rs, mid, mid_len, &error));
  g_assert_no_error (error);
  g_assert_false (open_record (rs, mid, mid_len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_REPLAY);
  g_clear_error (&error);
  g_assert_false (open_record (rs, old, old_len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_TOO_OLD);
}

static void
test_stream_order (void)
{
  Pair p;
  g_autoptr(CpnsSession) is = NULL;
  g_autoptr(CpnsSession) rs = NULL;
  g_autoptr(GError) error = NULL;
  guint8 r0[512], r1[512];
  gsize l0, l1;

  pair_init (&p);
  p.icfg.replay_mode = p.rcfg.replay_mode = CPNS_REPLAY_STREAM;
  sessions (&p, &is, &rs);
  l0 = seal (is, CPNS_MSG_DATA, TRUE, r0, sizeof r0);
  l1 = seal (is, CPNS_MSG_DATA, TRUE, r1, sizeof r1);
  /* A dropped record is noticed on an ordered link. */
  g_assert_false (open_record (rs, r1, l1, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_STATE);
  g_clear_error (&error);
  g_assert_true (open_record (rs, r0, l0, NULL));
  g_assert_true (open_record (rs, r1, l1, NULL));
  g_assert_false (open_record (rs, r0, l0, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_REPLAY);
}

static guint8 *
find (guint8 *hay, gsize len, const guint8 *needle, gsize nlen)
{
  for (gsize i = 0; i + nlen <= len; i++)
    if (memcmp (hay + i, needle, nlen) == 0)
      return hay + i;
  return NULL;
}

static void
test_flipped_encrypted_flag (void)
{
  static const guint8 flag_true[] = { 0x08, 0xf5, 0xa0 };   /* 8: true, then {} */
  static const guint8 flag_false[] = { 0x08, 0xf4, 0xa0 };
  Pair p;
  g_autoptr(CpnsSession) is = NULL;
  g_autoptr(CpnsSession) rs = NULL;
  g_autoptr(GError) error = NULL;
  guint8 rec[512];
  gsize len;
  guint8 *flag;

  pair_init (&p);
  sessions (&p, &is, &rs);
  len = seal (is, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  flag = find (rec, len, flag_true, sizeof flag_true);
  g_assert_nonnull (flag);
  flag[1] = 0xf4;
  g_assert_false (open_record (rs, rec, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_POLICY);
  g_clear_error (&error);

  len = seal (is, CPNS_MSG_DATA, FALSE, rec, sizeof rec);
  flag = find (rec, len, flag_false, sizeof flag_false);
  g_assert_nonnull (flag);
  flag[1] = 0xf5;
  g_assert_false (open_record (rs, rec, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_POLICY);
}

static void
test_stripped_encryption (void)
{
  static const guint8 type_error[] = { 0x02, 0x04, 0x03 };
  Pair p;
  g_autoptr(CpnsSession) is = NULL;
  g_autoptr(CpnsSession) rs = NULL;
  g_autoptr(GError) error = NULL;
  guint8 rec[512];
  gsize len;
  guint8 *type;

  pair_init (&p);
  sessions (&p, &is, &rs);
  /* Our own sender refuses. */
  g_assert_cmpuint (cpns_session_seal (is, CPNS_MSG_TK_DELIVERY, 1, FALSE,
                                       (const guint8 *) "\xa0", 1, rec, sizeof rec,
                                       &error), ==, 0);
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_POLICY);
  g_clear_error (&error);

  /* A MAC-only record relabelled as TK_DELIVERY is refused before its tag
   * is even looked at. */
  len = seal (is, CPNS_MSG_ERROR, FALSE, rec, sizeof rec);
  type = find (rec, len, type_error, sizeof type_error);
  g_assert_nonnull (type);
  type[1] = CPNS_MSG_TK_DELIVERY;
  g_assert_false (open_record (rs, rec, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_POLICY);
  g_clear_error (&error);

  /* Handshake types never travel in records. */
  len = seal (is, CPNS_MSG_ERROR, TRUE, rec, sizeof rec);
  type = find (rec, len, type_error, sizeof type_error);
  type[1] = CPNS_MSG_HS_FINISH;
  g_assert_false (open_record (rs, rec, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_POLICY);
}

static void
test_spliced (void)
{
  Pair p;
  g_autoptr(CpnsSession) is1 = NULL, rs1 = NULL, is2 = NULL, rs2 = NULL;
  g_autoptr(GError) error = NULL;
  guint8 rec[512];
  gsize len;
  guint8 *sid;

  pair_init (&p);
  sessions (&p, &is1, &rs1);
  sessions (&p, &is2, &rs2);
  len = seal (is2, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  g_assert_false (open_record (rs1, rec, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID);
  g_clear_error (&error);

  /* Same record with session 1's ID written in: the tag catches it. */
  sid = find (rec, len, cpns_session_get_id (is2), CPNS_SESSION_ID_LEN);
  g_assert_nonnull (sid);
  memcpy (sid, cpns_session_get_id (is1), CPNS_SESSION_ID_LEN);
  g_assert_false (open_record (rs1, rec, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC);
  g_clear_error (&error);

  /* And the untouched session still works. */
  len = seal (is1, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  g_assert_true (open_record (rs1, rec, len, &error));
  g_assert_no_error (error);
}

static void
test_wrong_ids (void)
{
  Pair p;
  g_autoptr(CpnsSession) is = NULL;
  g_autoptr(CpnsSession) rs = NULL;
  g_autoptr(GError) error = NULL;
  guint8 rec[512];
  gsize len;
  guint8 *src;

  pair_init (&p);
  sessions (&p, &is, &rs);
  len = seal (is, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  src = find (rec, len, (const guint8 *) "gw-1", 4);
  g_assert_nonnull (src);
  src[3] = '2';   /* "gw-2" */
  g_assert_false (open_record (rs, rec, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID);
  g_clear_error (&error);

  /* A record addressed elsewhere. */
  len = seal (is, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  src = find (rec, len, (const guint8 *) "server", 6);
  src[0] = 'x';
  g_assert_false (open_record (rs, rec, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID);
  g_clear_error (&error);

  /* A record the responder sent, reflected back to it. */
  len = seal (rs, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  g_assert_false (open_record (rs, rec, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID);
}

static void
test_record_alg_downgrade (void)
{
  static const guint64 aes[] = { CPNS_ALG_A128GCM };
  Pair p;
  g_autoptr(CpnsSession) is = NULL, rs = NULL, ia = NULL, ra = NULL;
  g_autoptr(GError) error = NULL;
  guint8 rec[512];
  gsize len;

  pair_init (&p);
  sessions (&p, &is, &rs);
  p.icfg.suites = aes;
  p.icfg.n_suites = 1;
  sessions (&p, &ia, &ra);
  len = seal (ia, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  g_assert_false (open_record (rs, rec, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_DOWNGRADE);
}

static void
test_truncated_and_oversized_record (void)
{
  Pair p;
  g_autoptr(CpnsSession) is = NULL;
  g_autoptr(CpnsSession) rs = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *big = g_malloc0 (CPNS_MAX_RECORD + 1);
  guint8 rec[512], ok[512];
  gsize len, ok_len;

  pair_init (&p);
  sessions (&p, &is, &rs);
  len = seal (is, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  ok_len = seal (is, CPNS_MSG_DATA, FALSE, ok, sizeof ok);
  for (gsize cut = 0; cut < len; cut++)
    {
      g_assert_false (open_record (rs, rec, cut, &error));
      g_assert_nonnull (error);
      g_assert_true (error->code == CPNS_ERROR_MALFORMED || error->code == CPNS_ERROR_BAD_MAC);
      g_clear_error (&error);
    }
  g_assert_false (open_record (rs, big, CPNS_MAX_RECORD + 1, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE);
  g_clear_error (&error);
  g_assert_cmpuint (cpns_session_seal (is, CPNS_MSG_DATA, 1, TRUE, big, CPNS_MAX_BODY + 1,
                                       big, CPNS_MAX_RECORD + 1, &error), ==, 0);
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE);
  g_clear_error (&error);

  /* None of that disturbed the session: the intact records still open. */
  g_assert_true (open_record (rs, rec, len, &error));
  g_assert_true (open_record (rs, ok, ok_len, &error));
  g_assert_no_error (error);
}

static void
test_rekey_limit (void)
{
  Pair p;
  g_autoptr(CpnsSession) is = NULL;
  g_autoptr(CpnsSession) rs = NULL;
  g_autoptr(GError) error = NULL;
  guint8 rec[512];

  pair_init (&p);
  sessions (&p, &is, &rs);
  cpns_session_set_limits (is, 8, 0);
  for (int i = 0; i < 6; i++)
    seal (is, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  g_assert_true (cpns_session_needs_rekey (is));
  seal (is, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  seal (is, CPNS_MSG_DATA, TRUE, rec, sizeof rec);
  g_assert_cmpuint (cpns_session_seal (is, CPNS_MSG_DATA, 1, TRUE, rec, 4, rec,
                                       sizeof rec, &error), ==, 0);
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_REKEY_NEEDED);
}

/* ---- key wraps ---- */

static void
test_wrap_moved (void)
{
  static const guint8 secret[32] = { 1, 2, 3 };
  static const guint8 key[32] = { 9, 9, 9 };
  CpnsWrapBinding b = { "gw-1", "pne-1", "", (const guint8 *) "kid", 3 };
  CpnsWrapBinding moved = b;
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsSecret) out = NULL;
  guint8 wrapped[CPNS_WRAPPED_KEY_MAX];
  gsize len;

  len = cpns_wrap_seal (CPNS_WRAP_LOCAL_EUKEY, secret, sizeof secret, &b, key,
                        sizeof key, wrapped, sizeof wrapped, &error);
  g_assert_no_error (error);
  out = cpns_wrap_open (CPNS_WRAP_LOCAL_EUKEY, secret, sizeof secret, &b, wrapped, len,
                        &error);
  g_assert_no_error (error);
  g_assert_cmpmem (out->data, out->len, key, sizeof key);

  moved.id_b = "pne-2";
  g_assert_null (cpns_wrap_open (CPNS_WRAP_LOCAL_EUKEY, secret, sizeof secret, &moved,
                                 wrapped, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC);
  g_clear_error (&error);
  moved = b;
  moved.id_a = "gw-2";
  g_assert_null (cpns_wrap_open (CPNS_WRAP_LOCAL_EUKEY, secret, sizeof secret, &moved,
                                 wrapped, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC);
  g_clear_error (&error);
  moved = b;
  moved.kid = (const guint8 *) "kie";
  g_assert_null (cpns_wrap_open (CPNS_WRAP_LOCAL_EUKEY, secret, sizeof secret, &moved,
                                 wrapped, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC);
  g_clear_error (&error);
  /* Same bytes presented as another kind of wrap. */
  g_assert_null (cpns_wrap_open (CPNS_WRAP_EUKEY_TK, secret, sizeof secret, &b,
                                 wrapped, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/attacks/handshake/reflection", test_reflection);
  g_test_add_func ("/attacks/handshake/reflected-init", test_reflected_init);
  g_test_add_func ("/attacks/handshake/own-id", test_own_id);
  g_test_add_func ("/attacks/handshake/wrong-psk", test_wrong_psk);
  g_test_add_func ("/attacks/handshake/downgrade", test_downgrade);
  g_test_add_func ("/attacks/handshake/bootstrap-downgrade", test_bootstrap_downgrade);
  g_test_add_func ("/attacks/handshake/echoed-nonce", test_echoed_nonce);
  g_test_add_func ("/attacks/handshake/wrong-purpose", test_wrong_purpose);
  g_test_add_func ("/attacks/handshake/truncated-oversized", test_truncated_handshake);
  g_test_add_func ("/attacks/record/replay", test_replay);
  g_test_add_func ("/attacks/record/window", test_window);
  g_test_add_func ("/attacks/record/stream-order", test_stream_order);
  g_test_add_func ("/attacks/record/flipped-encrypted-flag", test_flipped_encrypted_flag);
  g_test_add_func ("/attacks/record/stripped-encryption", test_stripped_encryption);
  g_test_add_func ("/attacks/record/spliced", test_spliced);
  g_test_add_func ("/attacks/record/wrong-ids", test_wrong_ids);
  g_test_add_func ("/attacks/record/alg-downgrade", test_record_alg_downgrade);
  g_test_add_func ("/attacks/record/truncated-oversized", test_truncated_and_oversized_record);
  g_test_add_func ("/attacks/record/rekey-limit", test_rekey_limit);
  g_test_add_func ("/attacks/wrap/moved", test_wrap_moved);
  return g_test_run ();
}
