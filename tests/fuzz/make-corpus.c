/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Writes the seed corpora of the fuzz targets:
 *
 *   make-corpus [OUTDIR]   (default: tests/fuzz/corpus)
 *
 * creates OUTDIR/fuzz-{message,record,frame,handshake,pne-machine,
 * link-facts,neighbour}/ with valid inputs, each prefixed with the selector
 * byte its target expects.  Handshake replies and records are made with
 * the fixed keys and randomness of fuzz-common.h, so they verify in the
 * targets and lead the fuzzer past the MAC and tag checks; the PNE
 * machine's seeds are recorded from the same world as fuzz-pne-machine
 * runs (fuzz-pne-world.h).  The output is deterministic (after an SRP
 * exchange, whose client secret is random, a PNE seed goes on with
 * commands, not messages). */

#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>

#include "cpns-crypto.h"
#include "fuzz-common.h"
#include "fuzz-neighbour.h"
#include "fuzz-pne-world.h"

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

/* ---- fuzz-pne-machine ---- */

static CpnsKeystore *pne_keystore;

static void
put_item (GByteArray *out, guint word, const guint8 *data, gsize len)
{
  guint8 head[2] = { word >> 8, word & 0xff };

  g_byte_array_append (out, head, 2);
  if (len > 0)
    g_byte_array_append (out, data, len);
}

static void
seed_receive (FpwWorld *w, const guint8 *msg, gsize len)
{
  pne_machine_receive (w->m, msg, len, NULL);
  fpw_collect (w);
}

/* A frame of the seed, handled as fuzz-pne-machine handles one. */
static void
put_raw (FpwWorld *w, GByteArray *out, GBytes *msg, const char *seed)
{
  gsize len;
  const guint8 *data;

  if (msg == NULL)
    die (seed, NULL);
  data = g_bytes_get_data (msg, &len);
  put_item (out, len, data, len);
  fpw_world_consume (w, data, len);
  seed_receive (w, data, len);
  g_bytes_unref (msg);
}

/* From the server, in the Key Request's transaction: a KEY_CHALLENGE with
 * a fixed B, or a KEY_DELIVERY that refuses. */
static GBytes *
key_message (FpwWorld *w, gboolean challenge)
{
  CpnsBody body = { 0 };
  guint8 b[32];

  fpw_fixed (b, sizeof b, 0x11);
  if (challenge)
    {
      body.present = 0x1e;
      body.key_challenge.group = CPNS_SRP_GROUP_3072;
      body.key_challenge.salt = CPNS_BYTES (fpw_verifier.salt, sizeof fpw_verifier.salt);
      body.key_challenge.iterations = FPW_ITERATIONS;
      body.key_challenge.server_public = CPNS_BYTES (b, sizeof b);
      return fpw_plain (FPW_SERVER, FPW_PNE, CPNS_MSG_KEY_CHALLENGE, w->key_txid, &body);
    }
  body.present = 0x2;
  body.key_delivery.status = CPNS_KEY_STATUS_REFUSED;
  return fpw_plain (FPW_SERVER, FPW_PNE, CPNS_MSG_KEY_DELIVERY, w->key_txid, &body);
}

/* Keys that open but are not 32 bytes: W an EUKey under the Temporary
 * Key, L a LocalEUKey under the EUKey. */
static GBytes *
short_key (FpwWorld *w, char what)
{
  guint8 key[16], wrapped[CPNS_WRAPPED_KEY_MAX];
  CpnsWrapBinding eu = { FPW_GW, FPW_PNE, FPW_USER, (const guint8 *) FPW_EU_KID, 4 };
  CpnsWrapBinding local = { FPW_GW, FPW_PNE, "", (const guint8 *) FPW_LOCAL_KID, 4 };
  CpnsBody body = { 0 };
  gsize len;

  fpw_fixed (key, sizeof key, 0x99);
  if (what == 'L')
    {
      len = cpns_wrap_seal (CPNS_WRAP_LOCAL_EUKEY, w->eukey, 32, &local, key, sizeof key,
                            wrapped, sizeof wrapped, NULL);
      body.present = 0x6;
      body.local_key_install.kid = CPNS_BYTES (FPW_LOCAL_KID, 4);
      body.local_key_install.wrapped_key = CPNS_BYTES (wrapped, len);
      return len > 0 ? fpw_plain (FPW_GW, FPW_PNE, CPNS_MSG_LOCAL_KEY_INSTALL, 3, &body)
                     : NULL;
    }
  len = cpns_wrap_seal (CPNS_WRAP_EUKEY_TK, w->tk, sizeof w->tk, &eu, key, sizeof key,
                        wrapped, sizeof wrapped, NULL);
  body.present = 0x1e;
  body.eukey_tk_delivery.kid = CPNS_BYTES (FPW_EU_KID, 4);
  body.eukey_tk_delivery.tk_kid = CPNS_BYTES (FPW_TK_KID, 4);
  body.eukey_tk_delivery.wrapped_key = CPNS_BYTES (wrapped, len);
  body.eukey_tk_delivery.user_id = CPNS_STR (FPW_USER);
  return len > 0 ? fpw_plain (FPW_GW, FPW_PNE, CPNS_MSG_EUKEY_TK_DELIVERY, 9, &body)
                 : NULL;
}

/* A record or plain message that the world makes up on the spot: from the
 * PN GW in its session DATA (G), DATA with a MAC only (M), ACK (A), ERROR
 * (E), CREDENTIAL_INSTALL (U); from the server in its session DATA (S),
 * ERROR (T); plain ERRORs from the PN GW (e: not-found, u: unavailable)
 * and the server (f); K k W L Q: see key_message, short_key, and a
 * PATH_SELECT 1 that names the PNE as the server. */
static GBytes *
made_up (FpwWorld *w, char what, const char *seed)
{
  CpnsBody data = { .present = 0x6 }, ack = { .present = 0x2 }, err = { .present = 0x6 };
  CpnsBody creds = { .present = 0x6 };
  CpnsSession *gw, *srv;
  GBytes *msg = NULL;

  data.data.content_type = 0;
  data.data.data = CPNS_STR ("hello");
  ack.ack.type = CPNS_MSG_DATA;
  err.error.code = CPNS_ERROR_POLICY;
  err.error.reason = CPNS_STR ("not now");
  creds.credential_install.user_id = CPNS_STR (FPW_USER);
  creds.credential_install.password = CPNS_STR (FPW_PASSWORD);
  fpw_world_pump (w);   /* the sessions as the machine's last words left them */
  gw = w->gw_session;
  srv = w->srv_session;
  if ((strchr ("GMAEU", what) != NULL && gw == NULL) ||
      (strchr ("ST", what) != NULL && srv == NULL))
    die (seed, NULL);
  fpw_rng = &w->world_rng;
  switch (what)
    {
    case 'G': msg = fpw_seal (gw, CPNS_MSG_DATA, TRUE, &data); break;
    case 'M': msg = fpw_seal (gw, CPNS_MSG_DATA, FALSE, &data); break;
    case 'A': msg = fpw_seal (gw, CPNS_MSG_ACK, TRUE, &ack); break;
    case 'E': msg = fpw_seal (gw, CPNS_MSG_ERROR, TRUE, &err); break;
    case 'U': msg = fpw_seal (gw, CPNS_MSG_CREDENTIAL_INSTALL, TRUE, &creds); break;
    case 'S': msg = fpw_seal (srv, CPNS_MSG_DATA, TRUE, &data); break;
    case 'T': msg = fpw_seal (srv, CPNS_MSG_ERROR, TRUE, &err); break;
    case 'e':
      msg = fpw_error_msg (FPW_GW, FPW_PNE, 5, CPNS_ERROR_NOT_FOUND, "no such session");
      break;
    case 'u':
      msg = fpw_error_msg (FPW_GW, FPW_PNE, 5, CPNS_ERROR_UNAVAILABLE, "server down");
      break;
    case 'f':
      msg = fpw_error_msg (FPW_SERVER, FPW_PNE, 5, CPNS_ERROR_NOT_FOUND, "unknown session");
      break;
    case 'K':
    case 'k':
      msg = key_message (w, what == 'K');
      break;
    case 'W':
    case 'L':
      msg = short_key (w, what);
      break;
    case 'Q':
      {
        CpnsBody ps = { .present = 0x6 };

        ps.path_select.path = CPNS_PATH_PNE_UI;
        ps.path_select.server_id = CPNS_STR (FPW_PNE);
        msg = fpw_plain (FPW_GW, FPW_PNE, CPNS_MSG_PATH_SELECT, 1, &ps);
        break;
      }
    default:
      g_assert_not_reached ();
    }
  fpw_rng = &w->pne_rng;
  return msg;
}

/* Runs @script in the world of @selector and writes what it fed the
 * machine: r the world's next message as a frame; d p x c C w g s R the
 * commands DELIVER, PUMP, DROP, CONNECT, CREDENTIALS, WRONG_CREDS, DATA_GW,
 * DATA_SERVER, RUN; other letters a made-up message (made_up). */
static void
pne_seed (const char *name, guint8 selector, const char *script)
{
  static const char commands[] = "dpxcCwgsR";
  static const FpwCommand command_of[] = {
    FPW_CMD_DELIVER, FPW_CMD_PUMP, FPW_CMD_DROP, FPW_CMD_CONNECT, FPW_CMD_CREDENTIALS,
    FPW_CMD_WRONG_CREDS, FPW_CMD_DATA_GW, FPW_CMD_DATA_SERVER, FPW_CMD_RUN,
  };
  g_autoptr(GByteArray) out = g_byte_array_new ();
  FpwWorld w;

  fpw_world_init (&w, selector, pne_keystore);
  for (const char *p = script; *p != '\0'; p++)
    {
      const char *c = strchr (commands, *p);

      if (g_getenv ("MAKE_CORPUS_DEBUG") != NULL)
        fprintf (stderr, "%s: '%c' in state %s\n", name, *p,
                 pne_state_name (pne_machine_get_state (w.m)));

      if (*p == 'r')
        {
          fpw_world_pump (&w);
          put_raw (&w, out, fpw_world_next (&w), name);
        }
      else if (c != NULL)
        {
          FpwCommand cmd = command_of[c - commands];
          put_item (out, FPW_COMMAND_BASE | cmd, NULL, 0);
          fpw_command (&w, cmd, seed_receive);
        }
      else
        put_raw (&w, out, made_up (&w, *p, name), name);
    }
  if (g_getenv ("MAKE_CORPUS_DEBUG") != NULL)
    fprintf (stderr, "%s: ends in state %s\n", name,
             pne_state_name (pne_machine_get_state (w.m)));
  write_seed ("fuzz-pne-machine", name, selector, out->data, out->len);
  fpw_world_clear (&w);
}

static void
pne_machine_seeds (void)
{
  const guint8 path0 = 0 << FPW_PATH_SHIFT, path1 = 1 << FPW_PATH_SHIFT;
  const guint8 path2 = 2 << FPW_PATH_SHIFT, path3 = 3 << FPW_PATH_SHIFT;
  g_autofree char *dir = NULL;

  pne_keystore = fpw_keystore_open (&dir);
  fpw_init_verifier ();

  pne_seed ("announced-path3", FPW_SCENARIO_TK | path3, "rrrrGA");
  pne_seed ("announced-path3-known-gw", FPW_SCENARIO_TK | path3 | FPW_KNOWS_GW, "rrrr");
  pne_seed ("announced-path3-no-tk", FPW_SCENARIO_ANNOUNCED | path3, "r");
  pne_seed ("announced-path0-no-key", FPW_SCENARIO_ANNOUNCED | path0, "r");
  pne_seed ("announced-path1-no-ui", FPW_SCENARIO_ANNOUNCED | path1, "r");
  pne_seed ("announced-path1-ui", FPW_SCENARIO_ANNOUNCED | path1 | FPW_HAS_UI, "rCddR");
  pne_seed ("announced-path2", FPW_SCENARIO_ANNOUNCED | path2, "rrrR");
  pne_seed ("announced-path2-tk", FPW_SCENARIO_ANNOUNCED | path2 | FPW_EXTRA, "rr");
  pne_seed ("local-install", FPW_SCENARIO_LOCAL_INSTALL, "rrGMAE");
  pne_seed ("local-install-known-gw", FPW_SCENARIO_LOCAL_INSTALL | FPW_KNOWS_GW, "rr");
  pne_seed ("local-install-bad-wrap", FPW_SCENARIO_LOCAL_INSTALL | FPW_BAD_WRAP, "r");
  pne_seed ("path0", FPW_SCENARIO_PATH0, "rrG");
  pne_seed ("path0-forgotten", FPW_SCENARIO_PATH0 | FPW_FORGOT_LOCAL, "rrrrG");
  pne_seed ("need-credentials", FPW_SCENARIO_NEED_CREDS, "CddR");
  pne_seed ("need-credentials-retry", FPW_SCENARIO_NEED_CREDS, "wddCddR");
  pne_seed ("key-request", FPW_SCENARIO_KEY_REQUEST, "ddR");
  pne_seed ("key-request-wrong", FPW_SCENARIO_KEY_REQUEST | FPW_EXTRA, "dd");
  pne_seed ("bootstrap", FPW_SCENARIO_BOOTSTRAP, "rrR");
  pne_seed ("bootstrap-known-gw", FPW_SCENARIO_BOOTSTRAP | FPW_KNOWS_GW, "r");
  pne_seed ("ready", FPW_SCENARIO_READY, "GMAEUeu");
  pne_seed ("ready-data", FPW_SCENARIO_READY, "gdgdcdd");
  pne_seed ("ready-connect", FPW_SCENARIO_READY | FPW_KNOWS_GW, "cru");
  pne_seed ("ready-server", FPW_SCENARIO_READY | FPW_EXTRA, "SGTf");
  pne_seed ("ready-server-data", FPW_SCENARIO_READY | FPW_EXTRA, "sddd");
  pne_seed ("ready-forgotten", FPW_SCENARIO_READY | FPW_FORGOT_LOCAL, "G");
  /* Authentic messages that are still wrong. */
  pne_seed ("key-challenge-fixed", FPW_SCENARIO_KEY_REQUEST, "Kk");
  pne_seed ("key-delivery-early", FPW_SCENARIO_KEY_REQUEST, "k");
  pne_seed ("eukey-short", FPW_SCENARIO_TK | path3, "rW");
  pne_seed ("local-key-short", FPW_SCENARIO_LOCAL_INSTALL, "L");
  pne_seed ("path1-names-pne", FPW_SCENARIO_ANNOUNCED | FPW_HAS_UI, "Q");
  pne_seed ("bootstrap-data", FPW_SCENARIO_BOOTSTRAP | FPW_BOOT_DATA, "rr");

  cpns_keystore_free (pne_keystore);
  fpw_remove_dir (dir);
}

/* ---- fuzz-neighbour ---- */

static void
nl_attr (GByteArray *m, guint16 type, const void *data, gsize len)
{
  struct rtattr a = { .rta_len = RTA_LENGTH (len), .rta_type = type };
  static const guint8 pad[RTA_ALIGNTO] = { 0 };

  g_byte_array_append (m, (const guint8 *) &a, sizeof a);
  g_byte_array_append (m, data, len);
  g_byte_array_append (m, pad, RTA_ALIGN (len) - len);
}

/* Starts a message: header (length fixed by nl_end) and @fixed. */
static GByteArray *
nl_begin (guint16 type, guint32 seq, const void *fixed, gsize fixed_len)
{
  GByteArray *m = g_byte_array_new ();
  struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_flags = NLM_F_MULTI, .nlmsg_seq = seq,
                        .nlmsg_pid = FUZZ_NEIGH_PORT };
  static const guint8 pad[NLMSG_ALIGNTO] = { 0 };

  g_byte_array_append (m, (const guint8 *) &h, sizeof h);
  g_byte_array_append (m, fixed, fixed_len);
  g_byte_array_append (m, pad, NLMSG_ALIGN (fixed_len) - fixed_len);
  return m;
}

static void
nl_end (GByteArray *buffer, GByteArray *m)
{
  ((struct nlmsghdr *) m->data)->nlmsg_len = m->len;
  g_byte_array_append (buffer, m->data, m->len);
  g_byte_array_unref (m);
}

static void
nl_address (GByteArray *buffer, guint8 family, const guint8 *addr, gsize len)
{
  struct ifaddrmsg ifa = { .ifa_family = family, .ifa_prefixlen = len * 8,
                           .ifa_index = 2 };
  GByteArray *m = nl_begin (RTM_NEWADDR, FUZZ_NEIGH_SEQ, &ifa, sizeof ifa);

  nl_attr (m, IFA_ADDRESS, addr, len);
  nl_attr (m, IFA_LOCAL, addr, len);
  nl_end (buffer, m);
}

static void
nl_neighbour (GByteArray *buffer, guint8 family, int ifindex, guint16 state,
              const guint8 *addr, gsize addr_len, const guint8 *mac, gsize mac_len,
              int master)
{
  struct ndmsg nd = { .ndm_family = family, .ndm_ifindex = ifindex, .ndm_state = state };
  GByteArray *m = nl_begin (RTM_NEWNEIGH, FUZZ_NEIGH_SEQ, &nd, sizeof nd);

  if (addr != NULL)
    nl_attr (m, NDA_DST, addr, addr_len);
  if (mac != NULL)
    nl_attr (m, NDA_LLADDR, mac, mac_len);
  if (master != 0)
    {
      guint32 v = master;
      nl_attr (m, NDA_MASTER, &v, sizeof v);
    }
  nl_end (buffer, m);
}

static void
nl_done (GByteArray *buffer, guint32 seq)
{
  int zero = 0;

  nl_end (buffer, nl_begin (NLMSG_DONE, seq, &zero, sizeof zero));
}

static void
nl_error (GByteArray *buffer, int err, gboolean truncated)
{
  struct nlmsgerr e = { .error = -err };

  nl_end (buffer, nl_begin (NLMSG_ERROR, FUZZ_NEIGH_SEQ, &e,
                            truncated ? sizeof e.error : sizeof e));
}

/* Writes @selector and the buffers (each a 16-bit length and its bytes). */
static void
neighbour_seed (const char *name, guint8 selector, GByteArray **buffers, guint n)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();

  for (guint i = 0; i < n; i++)
    {
      put_item (out, buffers[i]->len, buffers[i]->data, buffers[i]->len);
      g_byte_array_unref (buffers[i]);
    }
  write_seed ("fuzz-neighbour", name, selector, out->data, out->len);
}

static void
neighbour_seeds (void)
{
  static const guint8 other4[4] = { 10, 0, 0, 1 };
  static const guint8 other6[16] = { 0xfe, 0x80, [15] = 1 };
  static const guint8 other_mac[6] = { 0x02, 0, 0, 0, 0, 9 };
  static const guint8 long_lladdr[40] = { 1, 2, 3 };
  GByteArray *b[3];

  /* Our own addresses */
  b[0] = g_byte_array_new ();
  nl_address (b[0], AF_INET, other4, 4);
  nl_address (b[0], AF_INET, fuzz_neigh_v4, 4);
  neighbour_seed ("address-v4-ours", 0, b, 1);
  b[0] = g_byte_array_new ();
  nl_address (b[0], AF_INET6, other6, 16);
  b[1] = g_byte_array_new ();
  nl_address (b[1], AF_INET6, fuzz_neigh_v6, 16);
  neighbour_seed ("address-v6-ours", FUZZ_NEIGH_IPV6, b, 2);
  b[0] = g_byte_array_new ();
  nl_address (b[0], AF_INET, other4, 4);
  nl_address (b[0], AF_INET6, fuzz_neigh_v6, 16);
  nl_done (b[0], FUZZ_NEIGH_SEQ + 1);   /* someone else's */
  nl_done (b[0], FUZZ_NEIGH_SEQ);
  neighbour_seed ("address-v4-not-ours", 0, b, 1);

  /* The neighbour table */
  b[0] = g_byte_array_new ();
  nl_neighbour (b[0], AF_INET, 2, NUD_REACHABLE, other4, 4, other_mac, 6, 0);
  nl_neighbour (b[0], AF_INET, FUZZ_NEIGH_IFINDEX, NUD_INCOMPLETE, fuzz_neigh_v4, 4, NULL,
                0, 0);
  nl_neighbour (b[0], AF_INET, FUZZ_NEIGH_IFINDEX, NUD_REACHABLE, fuzz_neigh_v4, 4,
                fuzz_neigh_mac, 6, 0);
  neighbour_seed ("neighbour-v4", 1, b, 1);
  b[0] = g_byte_array_new ();
  nl_neighbour (b[0], AF_INET6, 2, NUD_STALE, fuzz_neigh_v6, 16, other_mac, 6, 0);
  b[1] = g_byte_array_new ();
  nl_neighbour (b[1], AF_INET6, FUZZ_NEIGH_IFINDEX, NUD_STALE, fuzz_neigh_v6, 16,
                fuzz_neigh_mac, 6, 0);
  neighbour_seed ("neighbour-v6-scoped", 1 | FUZZ_NEIGH_IPV6 | FUZZ_NEIGH_SCOPE, b, 2);
  b[0] = g_byte_array_new ();
  nl_neighbour (b[0], AF_INET, FUZZ_NEIGH_IFINDEX, NUD_PERMANENT, fuzz_neigh_v4, 4,
                long_lladdr, sizeof long_lladdr, 0);
  neighbour_seed ("neighbour-long-lladdr", 3, b, 1);
  b[0] = g_byte_array_new ();
  nl_neighbour (b[0], AF_INET, FUZZ_NEIGH_IFINDEX, NUD_FAILED, fuzz_neigh_v4, 4,
                fuzz_neigh_mac, 6, 0);
  nl_done (b[0], FUZZ_NEIGH_SEQ);
  neighbour_seed ("neighbour-failed-entry", 1, b, 1);
  b[0] = g_byte_array_new ();
  nl_error (b[0], EPERM, FALSE);
  neighbour_seed ("neighbour-error", 1, b, 1);
  b[0] = g_byte_array_new ();
  nl_error (b[0], EPERM, TRUE);
  neighbour_seed ("neighbour-error-truncated", 1, b, 1);
  b[0] = g_byte_array_new ();
  nl_error (b[0], ENOBUFS, FALSE);
  neighbour_seed ("address-error", 0, b, 1);

  /* A bridge's forwarding database */
  b[0] = g_byte_array_new ();
  nl_neighbour (b[0], AF_BRIDGE, FUZZ_NEIGH_BRIDGE, NUD_PERMANENT, NULL, 0,
                fuzz_neigh_mac, 6, FUZZ_NEIGH_BRIDGE);
  nl_neighbour (b[0], AF_BRIDGE, 6, NUD_REACHABLE, NULL, 0, other_mac, 6,
                FUZZ_NEIGH_BRIDGE);
  nl_neighbour (b[0], AF_BRIDGE, FUZZ_NEIGH_PORT_IF, NUD_REACHABLE, NULL, 0,
                fuzz_neigh_mac, 6, FUZZ_NEIGH_BRIDGE);
  neighbour_seed ("bridge-port", 2, b, 1);
  b[0] = g_byte_array_new ();
  nl_neighbour (b[0], AF_BRIDGE, FUZZ_NEIGH_PORT_IF, NUD_REACHABLE, NULL, 0,
                fuzz_neigh_mac, 6, 9);
  nl_done (b[0], FUZZ_NEIGH_SEQ);
  neighbour_seed ("bridge-other-master", 2, b, 1);
}

/* ---- fuzz-link-facts ---- */

static void
text_seed (const char *name, const char *text)
{
  write_seed ("fuzz-link-facts", name, text[0], (const guint8 *) text + 1,
              strlen (text) - 1);
}

static void
link_facts_seeds (void)
{
  text_seed ("hostapd-sta-sae",
             "02:00:00:00:01:00\nflags=[AUTH][ASSOC][AUTHORIZED][WMM][MFP]\n"
             "aid=1\ncapability=0x11\nlisten_interval=5\nsupported_rates=82 84 8b 96\n"
             "timeout_next=NULLFUNC POLL\ndot11RSNAStatsSTAAddress=02:00:00:00:01:00\n"
             "dot11RSNAStatsVersion=1\n"
             "dot11RSNAStatsSelectedPairwiseCipher=00-0f-ac-4\n"
             "dot11RSNAStatsTKIPLocalMICFailures=0\n"
             "dot11RSNAStatsTKIPRemoteMICFailures=0\nwpa=2\n"
             "AKMSuiteSelector=00-0f-ac-8\nhostapd_WPA_AUTH_STATE=1\n"
             "connected_time=12\n");
  text_seed ("hostapd-sta-psk-tkip",
             "02:00:00:00:01:01\nflags=[AUTH][ASSOC][AUTHORIZED]\n"
             "dot11RSNAStatsSelectedPairwiseCipher=000fac-2\n"
             "AKMSuiteSelector=000fac-2\n");
  text_seed ("hostapd-sta-open", "02:00:00:00:01:02\nflags=[AUTH][ASSOC][AUTHORIZED]\n"
             "aid=3\n");
  text_seed ("hostapd-sta-fail", "FAIL\n");
  text_seed ("hostapd-get-config-wpa",
             "bssid=02:00:00:00:00:00\nssid=pan\nwps_state=disabled\nwpa=2\n"
             "key_mgmt=SAE\ngroup_cipher=CCMP\nrsn_pairwise_cipher=CCMP\n");
  text_seed ("hostapd-get-config-open", "bssid=02:00:00:00:00:00\nssid=pan-open\n"
             "wps_state=disabled\n");
  text_seed ("wpa-supplicant-status",
             "bssid=02:00:00:00:00:00\nfreq=2412\nssid=pan\nid=0\nmode=station\n"
             "wifi_generation=4\npairwise_cipher=CCMP\ngroup_cipher=CCMP\n"
             "key_mgmt=WPA2-PSK\nwpa_state=COMPLETED\nip_address=192.0.2.10\n"
             "address=02:00:00:00:02:00\nuuid=0\n");
  text_seed ("wpa-supplicant-status-sae",
             "wpa_state=COMPLETED\nkey_mgmt=SAE\npairwise_cipher=GCMP-256\r\n"
             "sae_group=19\n");
  text_seed ("wpa-supplicant-status-open",
             "bssid=02:00:00:00:00:00\nssid=pan-open\npairwise_cipher=NONE\n"
             "group_cipher=NONE\nkey_mgmt=NONE\nwpa_state=COMPLETED\n");
  text_seed ("hostapd-sta-owe",
             "02:00:00:00:01:03\ndot11RSNAStatsSelectedPairwiseCipher=00-0F-AC-4\n"
             "AKMSuiteSelector=00-0F-AC-18\n");
  text_seed ("wpa-supplicant-status-scanning",
             "wpa_state=SCANNING\nkey_mgmt=WPA/IEEE 802.1X/EAP\npairwise_cipher=TKIP\n");
}

int
main (int argc, char **argv)
{
  outdir = argc > 1 ? argv[1] : "tests/fuzz/corpus";
  all_handshake_seeds ();
  message_seeds ();
  record_seeds ();
  frame_seeds ();
  pne_machine_seeds ();
  neighbour_seeds ();
  link_facts_seeds ();
  printf ("seeds written to %s\n", outdir);
  return 0;
}
