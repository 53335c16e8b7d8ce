/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Writes the seed corpora of the fuzz targets:
 *
 *   make-corpus [OUTDIR]   (default: tests/fuzz/corpus)
 *
 * creates OUTDIR/fuzz-{message,record,frame,handshake}/ with valid inputs,
 * each prefixed with the selector byte its target expects.  Handshake
 * replies and records are made with the fixed keys and randomness of
 * fuzz-common.h, so they verify in the targets and lead the fuzzer past
 * the MAC and tag checks.  The output is deterministic. */

#include <stdio.h>
#include <stdlib.h>

#include "cpns-crypto.h"
#include "fuzz-common.h"

static const char *outdir;

G_GNUC_NORETURN static void
die (const char *what, GError *error)
{
  fprintf (stderr, "make-corpus: %s: %s\n", what, error ? error->message : "failed");
  exit (1);
}

static void
write_seed (const char *target, const char *name, guint8 selector,
            const guint8 *data, gsize len)
{
  g_autofree char *dir = g_build_filename (outdir, target, NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree guint8 *buf = g_malloc (len + 1);
  g_autoptr(GError) error = NULL;

  buf[0] = selector;
  memcpy (buf + 1, data, len);
  if (g_mkdir_with_parents (dir, 0755) != 0)
    die (dir, NULL);
  if (!g_file_set_contents (path, (const char *) buf, len + 1, &error))
    die (path, error);
}

static guint8
type_index (guint64 type)
{
  for (guint i = 0; i < G_N_ELEMENTS (fuzz_msg_types); i++)
    if (fuzz_msg_types[i] == type)
      return i;
  g_assert_not_reached ();
}

/* ---- fuzz-handshake, and handshake messages for fuzz-message ---- */

typedef struct {
  guint8 m1[CPNS_HANDSHAKE_MAX], m2[CPNS_HANDSHAKE_MAX], m3[CPNS_HANDSHAKE_MAX];
  gsize  m1_len, m2_len, m3_len;
} HandshakeMsgs;

/* Runs the fixed handshake of fuzz-handshake variant @flags and writes its
 * three messages, each with the selector of the scenario that receives it. */
static void
handshake_seeds (guint8 flags, const char *variant, HandshakeMsgs *msgs)
{
  FuzzHandshakeSetup is, rs;
  g_autoptr(CpnsHandshake) ini = NULL;
  g_autoptr(CpnsHandshake) res = NULL;
  g_autoptr(GError) error = NULL;
  gsize n;
  g_autofree char *init_name = g_strdup_printf ("hs-init-%s", variant);
  g_autofree char *resp_name = g_strdup_printf ("hs-resp-%s", variant);
  g_autofree char *finish_name = g_strdup_printf ("hs-finish-%s", variant);

  /* The same setups as in fuzz-handshake, so the replies verify there. */
  fuzz_handshake_setup (&is, CPNS_ROLE_INITIATOR, flags);
  fuzz_handshake_setup (&rs, CPNS_ROLE_RESPONDER, flags);
  ini = cpns_handshake_new (&is.cfg, &error);
  if (ini == NULL)
    die ("initiator", error);
  res = cpns_handshake_new (&rs.cfg, &error);
  if (res == NULL)
    die ("responder", error);
  if (!cpns_handshake_start (ini, msgs->m1, sizeof msgs->m1, &msgs->m1_len, &error) ||
      !cpns_handshake_receive (res, msgs->m1, msgs->m1_len, msgs->m2, sizeof msgs->m2,
                               &msgs->m2_len, &error) ||
      !cpns_handshake_receive (ini, msgs->m2, msgs->m2_len, msgs->m3, sizeof msgs->m3,
                               &msgs->m3_len, &error) ||
      !cpns_handshake_receive (res, msgs->m3, msgs->m3_len, NULL, 0, &n, &error))
    die ("handshake", error);

  write_seed ("fuzz-handshake", init_name, FUZZ_HS_RECV_INIT | flags,
              msgs->m1, msgs->m1_len);
  /* The initiator has no lookup: that HS_RESP would be a duplicate. */
  if (!(flags & FUZZ_HS_LOOKUP))
    write_seed ("fuzz-handshake", resp_name, FUZZ_HS_RECV_RESP | flags,
                msgs->m2, msgs->m2_len);
  write_seed ("fuzz-handshake", finish_name, FUZZ_HS_RECV_FINISH | flags,
              msgs->m3, msgs->m3_len);
}

/* Writes the plain message @hdr, @body (and @mac, if any) as a seed. */
static void
write_plain (const char *target, const char *name, guint8 selector,
             const CpnsHeader *hdr, const CpnsBody *body, const guint8 *mac)
{
  guint8 buf[CPNS_HANDSHAKE_MAX];
  gsize len;
  g_autoptr(GError) error = NULL;

  len = cpns_plain_encode (hdr, body, mac, mac ? 32 : 0, buf, sizeof buf, &error);
  if (len == 0)
    die (name, error);
  write_seed (target, name, selector, buf, len);
}

/* Messages that fail the checks before the MAC: reflections of our own
 * nonce or key share, and a key ID whose key has the wrong role. */
static void
handshake_attack_seeds (const HandshakeMsgs *msgs)
{
  static const guint8 zero_mac[32];
  CpnsPlainMessage m1, m2;
  CpnsBody body;
  guint8 r_nonce[32], r_priv[32], r_pub[32];
  FuzzRandom r;
  FuzzHandshakeSetup is;
  g_autoptr(CpnsHandshake) ini = NULL;
  guint8 buf[CPNS_HANDSHAKE_MAX];
  gsize len;
  g_autoptr(GError) error = NULL;

  if (!cpns_plain_decode (msgs->m1, msgs->m1_len, &m1, &error) ||
      !cpns_plain_decode (msgs->m2, msgs->m2_len, &m2, &error))
    die ("decoding the handshake", error);

  /* The responder's first draws: its nonce, then its X25519 key. */
  fuzz_random_init (&r, 0x2222);
  fuzz_random_func (r_nonce, sizeof r_nonce, &r, NULL);
  fuzz_random_func (r_priv, sizeof r_priv, &r, NULL);
  if (!cpns_x25519_public (r_priv, r_pub, &error))
    die ("x25519", error);

  body = m1.body;
  body.hs_init.nonce = CPNS_BYTES (r_nonce, 32);
  write_plain ("fuzz-handshake", "hs-init-reflected-nonce", FUZZ_HS_RECV_INIT, &m1.hdr,
               &body, NULL);
  body = m1.body;
  body.hs_init.key_share = CPNS_BYTES (r_pub, 32);
  write_plain ("fuzz-handshake", "hs-init-reflected-share", FUZZ_HS_RECV_INIT, &m1.hdr,
               &body, NULL);

  body = m2.body;
  body.hs_resp.nonce = m1.body.hs_init.nonce;
  write_plain ("fuzz-handshake", "hs-resp-reflected-nonce", FUZZ_HS_RECV_RESP, &m2.hdr,
               &body, zero_mac);
  body = m2.body;
  body.hs_resp.key_share = m1.body.hs_init.key_share;
  write_plain ("fuzz-handshake", "hs-resp-reflected-share", FUZZ_HS_RECV_RESP, &m2.hdr,
               &body, zero_mac);

  /* An initiator naming the key that the lookup holds for the other role. */
  fuzz_handshake_setup (&is, CPNS_ROLE_INITIATOR, 0);
  is.psk.kid_len = strlen (FUZZ_KID_WRONG_ROLE);
  memcpy (is.psk.kid, FUZZ_KID_WRONG_ROLE, is.psk.kid_len);
  ini = cpns_handshake_new (&is.cfg, &error);
  if (ini == NULL || !cpns_handshake_start (ini, buf, sizeof buf, &len, &error))
    die ("initiator", error);
  write_seed ("fuzz-handshake", "hs-init-lookup-wrong-role",
              FUZZ_HS_RECV_INIT | FUZZ_HS_LOOKUP, buf, len);
}

static void
all_handshake_seeds (void)
{
  HandshakeMsgs msgs, msgs_psk, msgs_lookup;

  handshake_seeds (0, "x25519", &msgs);
  handshake_seeds (FUZZ_HS_PREFER_PSK, "psk", &msgs_psk);
  handshake_seeds (FUZZ_HS_LOOKUP, "lookup", &msgs_lookup);
  handshake_attack_seeds (&msgs);

  write_seed ("fuzz-message", "plain-hs-init", type_index (CPNS_MSG_HS_INIT),
              msgs.m1, msgs.m1_len);
  write_seed ("fuzz-message", "plain-hs-resp", type_index (CPNS_MSG_HS_RESP),
              msgs.m2, msgs.m2_len);
  write_seed ("fuzz-message", "plain-hs-finish", type_index (CPNS_MSG_HS_FINISH),
              msgs.m3, msgs.m3_len);
}

/* ---- bodies shared by fuzz-message and fuzz-record ---- */

static const guint8 blob[64] = {
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
  0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
  0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26,
  0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33,
  0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
};

#define P(k) (1u << (k))

static CpnsBody
make_body (guint64 type)
{
  CpnsBody b = { 0 };

  switch (type)
    {
    case CPNS_MSG_ERROR:
      b.error.code = 6;
      b.error.reason = CPNS_STR ("record tag does not verify");
      b.present = P (1) | P (2);
      break;
    case CPNS_MSG_KEY_REQUEST:
      b.key_request.user_id = CPNS_STR ("alice@example.org");
      b.key_request.subject = CPNS_STR ("pne-42");
      b.present = P (1) | P (2);
      break;
    case CPNS_MSG_KEY_CHALLENGE:
      b.key_challenge.group = 1;
      b.key_challenge.salt = CPNS_BYTES (blob, 16);
      b.key_challenge.iterations = 100000;
      b.key_challenge.server_public = CPNS_BYTES (blob, 64);
      b.present = P (1) | P (2) | P (3) | P (4);
      break;
    case CPNS_MSG_KEY_PROOF:
      b.key_proof.client_public = CPNS_BYTES (blob, 48);
      b.key_proof.client_proof = CPNS_BYTES (blob + 8, 32);
      b.present = P (1) | P (2);
      break;
    case CPNS_MSG_KEY_DELIVERY:
      b.key_delivery.status = CPNS_KEY_STATUS_OK;
      b.key_delivery.server_proof = CPNS_BYTES (blob, 32);
      b.key_delivery.kid = CPNS_STR (FUZZ_KID);
      b.key_delivery.wrapped_key = CPNS_BYTES (blob, 60);
      b.present = P (1) | P (2) | P (3) | P (4);
      break;
    case CPNS_MSG_TK_REQUEST:
    case CPNS_MSG_LOCAL_KEY_REQUEST:
      b.pne_ref.pne = CPNS_STR ("pne-42");
      b.present = P (1);
      break;
    case CPNS_MSG_TK_DELIVERY:
      b.tk_delivery.pne = CPNS_STR ("pne-42");
      b.tk_delivery.kid = CPNS_STR ("tk-1");
      b.tk_delivery.tk = CPNS_BYTES (blob, 32);
      b.present = P (1) | P (2) | P (3);
      break;
    case CPNS_MSG_LOCAL_KEY_DELIVERY:
      b.local_key_delivery.pne = CPNS_STR ("pne-42");
      b.local_key_delivery.kid = CPNS_STR ("lk-1");
      b.local_key_delivery.local_key = CPNS_BYTES (blob, 32);
      b.local_key_delivery.wrapped_for_pne = CPNS_BYTES (blob, 60);
      b.present = P (1) | P (2) | P (3) | P (4);
      break;
    case CPNS_MSG_EUKEY_TK_DELIVERY:
      b.eukey_tk_delivery.kid = CPNS_STR (FUZZ_KID);
      b.eukey_tk_delivery.tk_kid = CPNS_STR ("tk-1");
      b.eukey_tk_delivery.wrapped_key = CPNS_BYTES (blob, 60);
      b.eukey_tk_delivery.user_id = CPNS_STR ("alice@example.org");
      b.present = P (1) | P (2) | P (3) | P (4);
      break;
    case CPNS_MSG_PNE_ANNOUNCE:
      b.pne_announce.name = CPNS_STR ("Kitchen sensor");
      b.pne_announce.has_ui = FALSE;
      b.pne_announce.has_tk = TRUE;
      b.pne_announce.tk_kid = CPNS_STR ("tk-1");
      b.present = P (1) | P (2) | P (3) | P (4);
      break;
    case CPNS_MSG_PATH_SELECT:
      b.path_select.path = CPNS_PATH_TEMPORARY_KEY;
      b.present = P (1);
      break;
    case CPNS_MSG_CREDENTIAL_INSTALL:
      b.credential_install.user_id = CPNS_STR ("alice@example.org");
      b.credential_install.password = CPNS_STR ("correct horse");
      b.present = P (1) | P (2);
      break;
    case CPNS_MSG_DATA:
      b.data.content_type = 0;
      b.data.data = CPNS_STR ("hello, peer");
      b.present = P (1) | P (2);
      break;
    default:
      g_assert_not_reached ();
    }
  return b;
}

/* ---- fuzz-message ---- */

static void
plain_seed (guint64 type, const char *name)
{
  CpnsHeader hdr = { .version = CPNS_VERSION, .type = type, .txid = 77 };
  CpnsBody body = make_body (type);
  guint8 buf[1024];
  gsize len;
  g_autoptr(GError) error = NULL;

  if (!cpns_header_set_ids (&hdr, FUZZ_INITIATOR_ID, FUZZ_RESPONDER_ID, &error))
    die (name, error);
  len = cpns_plain_encode (&hdr, &body, NULL, 0, buf, sizeof buf, &error);
  if (len == 0)
    die (name, error);
  write_seed ("fuzz-message", name, type_index (type), buf, len);
}

static void
body_seed (guint64 type, const char *name)
{
  CpnsBody body = make_body (type);
  guint8 buf[1024];
  gsize len;
  g_autoptr(GError) error = NULL;

  len = cpns_body_encode (type, &body, buf, sizeof buf, &error);
  if (len == 0)
    die (name, error);
  write_seed ("fuzz-message", name, type_index (type), buf, len);
}

static void
message_seeds (void)
{
  plain_seed (CPNS_MSG_ERROR, "plain-error");
  plain_seed (CPNS_MSG_KEY_CHALLENGE, "plain-key-challenge");
  plain_seed (CPNS_MSG_KEY_DELIVERY, "plain-key-delivery");
  plain_seed (CPNS_MSG_EUKEY_TK_DELIVERY, "plain-eukey-tk-delivery");
  plain_seed (CPNS_MSG_PNE_ANNOUNCE, "plain-pne-announce");
  body_seed (CPNS_MSG_KEY_REQUEST, "body-key-request");
  body_seed (CPNS_MSG_KEY_PROOF, "body-key-proof");
  body_seed (CPNS_MSG_LOCAL_KEY_DELIVERY, "body-local-key-delivery");
  body_seed (CPNS_MSG_CREDENTIAL_INSTALL, "body-credential-install");
  body_seed (CPNS_MSG_DATA, "body-data");
}

/* ---- fuzz-record ---- */

static void
record_seed (guint8 selector, guint64 seq, guint64 type, gboolean encrypt,
             const char *name, gboolean also_for_peek)
{
  guint suite_index = (selector & 0x7f) % G_N_ELEMENTS (fuzz_suites);
  CpnsBody body = make_body (type);
  guint8 rec[1024];
  gsize len;
  g_autoptr(GError) error = NULL;

  len = fuzz_seal_at (fuzz_suites[suite_index], seq, type, encrypt, &body, rec,
                      sizeof rec, &error);
  if (len == 0)
    die (name, error);
  write_seed ("fuzz-record", name, selector, rec, len);
  /* fuzz-message peeks at records too. */
  if (also_for_peek)
    write_seed ("fuzz-message", name, type_index (type), rec, len);
}

/* A record that fails before its tag is checked, so it need not verify:
 * written by hand, with @content_len zero bytes as ciphertext or payload. */
static void
crafted_record_seed (const char *name, guint64 type, gboolean encrypted, guint64 seq,
                     gsize content_len)
{
  static const guint8 zeros[64];
  CpnsHeader hdr = {
    .version = CPNS_VERSION, .type = type, .txid = 99, .in_record = TRUE,
    .seq = seq, .encrypted = encrypted,
  };
  guint8 prot[256], rec[512];
  CpnsCborWriter w;
  gsize prot_len;

  g_assert (content_len <= sizeof zeros);
  g_strlcpy (hdr.src, FUZZ_INITIATOR_ID, sizeof hdr.src);
  g_strlcpy (hdr.dst, FUZZ_RESPONDER_ID, sizeof hdr.dst);
  memcpy (hdr.session_id, fuzz_session_id, CPNS_SESSION_ID_LEN);

  /* protected = {1: alg, -65537: header} */
  cpns_cbor_writer_init (&w, prot, sizeof prot);
  cpns_cbor_put_map (&w, 2);
  cpns_cbor_put_uint (&w, 1);
  cpns_cbor_put_uint (&w, encrypted ? fuzz_suites[0] : CPNS_ALG_HMAC256);
  cpns_cbor_put_int (&w, -65537);
  cpns_header_write (&w, &hdr);
  g_assert (!w.overflow);
  prot_len = w.len;

  cpns_cbor_writer_init (&w, rec, sizeof rec);
  cpns_cbor_put_tag (&w, encrypted ? 16 : 17);
  cpns_cbor_put_array (&w, encrypted ? 3 : 4);
  cpns_cbor_put_bytes (&w, prot, prot_len);
  cpns_cbor_put_map (&w, 0);
  cpns_cbor_put_bytes (&w, zeros, content_len);
  if (!encrypted)
    cpns_cbor_put_bytes (&w, zeros, 32);
  g_assert (!w.overflow);
  write_seed ("fuzz-record", name, 0, rec, w.len);
}

static void
record_seeds (void)
{
  const guint8 h = FUZZ_RECORD_HISTORY;

  record_seed (0, 0, CPNS_MSG_DATA, TRUE, "record-chacha20-data", TRUE);
  record_seed (0, 0, CPNS_MSG_DATA, FALSE, "record-mac-data", TRUE);
  record_seed (0, 0, CPNS_MSG_TK_DELIVERY, TRUE, "record-chacha20-tk-delivery", FALSE);
  record_seed (1, 0, CPNS_MSG_KEY_DELIVERY, TRUE, "record-a128gcm-key-delivery", FALSE);
  record_seed (1, 0, CPNS_MSG_PNE_ANNOUNCE, FALSE, "record-mac-pne-announce", FALSE);
  record_seed (2, 0, CPNS_MSG_CREDENTIAL_INSTALL, TRUE,
               "record-a256gcm-credential-install", FALSE);
  record_seed (2, 0, CPNS_MSG_PATH_SELECT, FALSE, "record-mac-path-select", FALSE);
  /* Against a window whose newest record is FUZZ_HISTORY_SEQ: inside it,
   * just ahead of it, and far ahead. */
  record_seed (h | 0, FUZZ_HISTORY_SEQ - 40, CPNS_MSG_DATA, TRUE,
               "record-window-older", FALSE);
  record_seed (h | 1, FUZZ_HISTORY_SEQ + 30, CPNS_MSG_ERROR, FALSE,
               "record-window-newer", FALSE);
  record_seed (h | 2, FUZZ_HISTORY_SEQ + 100, CPNS_MSG_DATA, TRUE,
               "record-window-far", FALSE);

  crafted_record_seed ("record-bad-mac-only-key-delivery", CPNS_MSG_KEY_DELIVERY,
                       FALSE, 0, 8);
  crafted_record_seed ("record-bad-seq-beyond-limit", CPNS_MSG_DATA, TRUE,
                       G_GUINT64_CONSTANT (1) << 40, 24);
  crafted_record_seed ("record-bad-short-ciphertext", CPNS_MSG_DATA, TRUE, 0, 8);
}

/* ---- fuzz-frame ---- */

/* Frames @lens[] (contents from blob) and cuts the stream into chunks of the
 * sizes in @chunks[], cycling; @no_drain marks every other chunk. */
static void
frame_seed (const char *name, const gsize *lens, guint n_lens, const guint8 *chunks,
            guint n_chunks, gboolean no_drain)
{
  g_autoptr(GByteArray) stream = g_byte_array_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  gsize pos = 0;

  for (guint i = 0; i < n_lens; i++)
    {
      guint8 head[CPNS_FRAME_HEADER_LEN];

      cpns_frame_header (head, lens[i]);
      g_byte_array_append (stream, head, sizeof head);
      for (gsize j = 0; j < lens[i]; j++)
        {
          guint8 c = blob[(i + j) % sizeof blob];
          g_byte_array_append (stream, &c, 1);
        }
    }
  for (guint i = 0; pos < stream->len; i++)
    {
      gsize n = MIN (chunks[i % n_chunks] & 0x7f, stream->len - pos);
      guint8 control = n | (no_drain && i % 2 ? 0x80 : 0);

      g_byte_array_append (out, &control, 1);
      g_byte_array_append (out, stream->data + pos, n);
      pos += n;
    }
  /* The target reads its first byte as a control byte too. */
  write_seed ("fuzz-frame", name, out->data[0], out->data + 1, out->len - 1);
}

static void
frame_seeds (void)
{
  static const gsize small[] = { 1, 5, 20, 2, 64 };
  static const gsize big[] = { FUZZ_MAX_FRAME, 100, FUZZ_MAX_FRAME, 1 };
  static const gsize bad_zero[] = { 10, 0, 10 };
  static const gsize bad_large[] = { 10, FUZZ_MAX_FRAME + 1 };
  static const guint8 chunks_a[] = { 3, 1, 127, 9, 0, 40 };
  static const guint8 chunks_b[] = { 127 };
  static const guint8 chunks_c[] = { 2, 7 };

  frame_seed ("frames-small", small, G_N_ELEMENTS (small), chunks_a,
              G_N_ELEMENTS (chunks_a), FALSE);
  frame_seed ("frames-max", big, G_N_ELEMENTS (big), chunks_b, G_N_ELEMENTS (chunks_b),
              FALSE);
  frame_seed ("frames-max-undrained", big, G_N_ELEMENTS (big), chunks_b,
              G_N_ELEMENTS (chunks_b), TRUE);
  frame_seed ("frames-zero-length", bad_zero, G_N_ELEMENTS (bad_zero), chunks_c,
              G_N_ELEMENTS (chunks_c), FALSE);
  frame_seed ("frames-too-large", bad_large, G_N_ELEMENTS (bad_large), chunks_a,
              G_N_ELEMENTS (chunks_a), FALSE);
}

int
main (int argc, char **argv)
{
  outdir = argc > 1 ? argv[1] : "tests/fuzz/corpus";
  all_handshake_seeds ();
  message_seeds ();
  record_seeds ();
  frame_seeds ();
  printf ("seeds written to %s\n", outdir);
  return 0;
}
