/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-session.h"

#include <string.h>

#include "cpns-error.h"

#define COSE_TAG_ENCRYPT0 16
#define COSE_TAG_MAC0     17
#define COSE_HDR_ALG      1
/* Private-use header label carrying the CPNS common parameters. */
#define COSE_HDR_CPNS     (-65537)
#define PROTECTED_MAX     200
#define MID_MAX           (2 * (2 + 1 + CPNS_ID_MAX) + 2 + CPNS_SESSION_ID_LEN + 1)

/* Everything of a protected header before the message type:
 * {1: alg, -65537: {1: 1, 2: ...  with alg written in between. */
static const guint8 prot_after_alg[] = { 0x3a, 0x00, 0x01, 0x00, 0x00, 0xa8, 0x01, 0x01, 0x02 };

typedef struct {
  CpnsAead    *aead;
  CpnsHmacKey *mac;             /* prepared on the first MAC-only record */
  guint8       iv[CPNS_AEAD_IV_LEN];
} Direction;

typedef enum {
  MAC_KEYS,         /* mac.keys holds both keys */
  MAC_DEFERRED,     /* mac.deferred holds what they are derived from */
  MAC_UNAVAILABLE,  /* their derivation failed */
} MacState;

/* A gateway holds thousands of idle sessions, so this is kept small: no
 * key is held twice, AEAD contexts are sized to the suite, HMAC states are
 * made only for MAC-only records, and the IDs and header templates are
 * sized to the IDs. */
struct _CpnsSession {
  guint64        send_seq;
  guint64        recv_next;     /* stream: next expected */
  guint64        recv_max;      /* window: highest accepted */
  guint64        recv_bitmap;   /* window: bit i = recv_max - i seen */
  guint64        max_records;
  gint64         expires_at;
  Direction      send, recv;
  CpnsAlg        suite;
  CpnsReplayMode mode;
  guint8         id[CPNS_SESSION_ID_LEN];
  /* Keys of MAC-only records (docs/protocol.md 5.2), or, until the first
   * such record, the handshake secret and THa they are derived from. */
  union {
    struct {
      guint8 send[CPNS_HMAC_TAG_LEN], recv[CPNS_HMAC_TAG_LEN];
    } keys;
    struct {
      guint8 hs[CPNS_HASH_LEN], th_app[CPNS_HASH_LEN];
    } deferred;
  } mac;
  guint8         mac_state;     /* MacState */
  guint8         initiator;     /* for deferred MAC keys */
  guint8         recv_any;
  guint8         self_len, peer_len, send_mid_len, recv_mid_len;
  /* Self ID and NUL, peer ID and NUL, then the constant middle of our
   * protected headers, "04 src 05 dst 06 sid 07", for sending and for
   * receiving: written with memcpy, recognised with memcmp. */
  char           tail[];
};

G_STATIC_ASSERT (CPNS_ID_MAX <= G_MAXUINT8 && MID_MAX <= G_MAXUINT8);

static inline const char *
peer_id_of (const CpnsSession *s)
{
  return s->tail + s->self_len + 1;
}

static inline const guint8 *
send_mid (const CpnsSession *s)
{
  return (const guint8 *) s->tail + s->self_len + 1 + s->peer_len + 1;
}

static inline const guint8 *
recv_mid (const CpnsSession *s)
{
  return send_mid (s) + s->send_mid_len;
}

static gsize
tail_len (const CpnsSession *s)
{
  return s->self_len + 1 + s->peer_len + 1 + s->send_mid_len + s->recv_mid_len;
}

static gsize
write_mid (guint8 buf[MID_MAX], const char *src, gsize src_len, const char *dst,
           gsize dst_len, const guint8 *sid)
{
  CpnsCborWriter w;

  cpns_cbor_writer_init (&w, buf, MID_MAX);
  cpns_cbor_put_uint (&w, 4);
  cpns_cbor_put_text (&w, src, src_len);
  cpns_cbor_put_uint (&w, 5);
  cpns_cbor_put_text (&w, dst, dst_len);
  cpns_cbor_put_uint (&w, 6);
  cpns_cbor_put_bytes (&w, sid, CPNS_SESSION_ID_LEN);
  cpns_cbor_put_uint (&w, 7);
  g_assert (!w.overflow);
  return w.len;
}

CpnsSession *
cpns_session_new (const char *self_id, const char *peer_id,
                  const guint8 session_id[CPNS_SESSION_ID_LEN], CpnsAlg suite,
                  const CpnsDirectionKeys *send, const CpnsDirectionKeys *recv,
                  CpnsReplayMode mode, GError **error)
{
  g_autoptr(CpnsSession) s = NULL;
  gsize key_len = cpns_alg_key_len (suite);
  /* IDs are cut at CPNS_ID_MAX bytes, as they always were. */
  gsize self_len = strnlen (self_id, CPNS_ID_MAX);
  gsize peer_len = strnlen (peer_id, CPNS_ID_MAX);
  guint8 smid[MID_MAX], rmid[MID_MAX];
  gsize smid_len, rmid_len;
  char *p;

  if (!cpns_alg_is_aead (suite))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED,
                   "suite %u is not an AEAD algorithm", suite);
      return NULL;
    }
  smid_len = write_mid (smid, self_id, self_len, peer_id, peer_len, session_id);
  rmid_len = write_mid (rmid, peer_id, peer_len, self_id, self_len, session_id);
  s = g_malloc0 (sizeof *s + self_len + 1 + peer_len + 1 + smid_len + rmid_len);
  s->self_len = self_len;
  s->peer_len = peer_len;
  s->send_mid_len = smid_len;
  s->recv_mid_len = rmid_len;
  p = s->tail;
  memcpy (p, self_id, self_len);
  p += self_len + 1;
  memcpy (p, peer_id, peer_len);
  p += peer_len + 1;
  memcpy (p, smid, smid_len);
  memcpy (p + smid_len, rmid, rmid_len);

  memcpy (s->id, session_id, CPNS_SESSION_ID_LEN);
  s->suite = suite;
  s->mode = mode;
  s->max_records = CPNS_RECORD_LIMIT_DEFAULT;
  memcpy (s->send.iv, send->iv, CPNS_AEAD_IV_LEN);
  memcpy (s->recv.iv, recv->iv, CPNS_AEAD_IV_LEN);
  memcpy (s->mac.keys.send, send->mac_key, CPNS_HMAC_TAG_LEN);
  memcpy (s->mac.keys.recv, recv->mac_key, CPNS_HMAC_TAG_LEN);
  s->mac_state = MAC_KEYS;
  s->send.aead = cpns_aead_new (suite, send->aead_key, key_len, error);
  if (s->send.aead == NULL)
    return NULL;
  s->recv.aead = cpns_aead_new (suite, recv->aead_key, key_len, error);
  if (s->recv.aead == NULL)
    return NULL;
  return g_steal_pointer (&s);
}

static void
drop_prepared_mac (Direction *dir)
{
  if (dir->mac == NULL)
    return;
  cpns_hmac_key_clear (dir->mac);
  g_clear_pointer (&dir->mac, g_free);
}

void
cpns_session_free (CpnsSession *s)
{
  if (s == NULL)
    return;
  cpns_aead_free (s->send.aead);
  cpns_aead_free (s->recv.aead);
  drop_prepared_mac (&s->send);
  drop_prepared_mac (&s->recv);
  cpns_wipe (s, sizeof *s + tail_len (s));
  g_free (s);
}

const char *cpns_session_get_self_id (CpnsSession *s) { return s->tail; }
const char *cpns_session_get_peer_id (CpnsSession *s) { return peer_id_of (s); }
const guint8 *cpns_session_get_id (CpnsSession *s) { return s->id; }
CpnsAlg cpns_session_get_suite (CpnsSession *s) { return s->suite; }
guint64 cpns_session_get_send_seq (CpnsSession *s) { return s->send_seq; }

void
cpns_session_set_limits (CpnsSession *s, guint64 max_records, gint64 expires_at)
{
  s->max_records = max_records;
  s->expires_at = expires_at;
}

gboolean
cpns_session_needs_rekey (CpnsSession *s)
{
  if (s->expires_at != 0 && g_get_monotonic_time () >= s->expires_at)
    return TRUE;
  return s->send_seq >= s->max_records - s->max_records / 4 ||
         s->recv_next >= s->max_records - s->max_records / 4 ||
         s->recv_max >= s->max_records - s->max_records / 4;
}

static void
make_nonce (const guint8 iv[CPNS_AEAD_IV_LEN], guint64 seq,
            guint8 nonce[CPNS_AEAD_IV_LEN])
{
  memcpy (nonce, iv, CPNS_AEAD_IV_LEN);
  for (int i = 0; i < 8; i++)
    nonce[CPNS_AEAD_IV_LEN - 1 - i] ^= (seq >> (8 * i)) & 0xff;
}

/* The same bytes as cpns_header_write() would give inside {1: alg,
 * -65537: header}, from the session's cached middle part. */
static gsize
write_protected (CpnsSession *s, guint8 *buf, guint64 alg, guint64 type, guint64 txid,
                 gboolean encrypted)
{
  CpnsCborWriter w;

  cpns_cbor_writer_init (&w, buf, PROTECTED_MAX);
  cpns_cbor_put_map (&w, 2);
  cpns_cbor_put_uint (&w, COSE_HDR_ALG);
  cpns_cbor_put_uint (&w, alg);
  cpns_cbor_put_raw (&w, prot_after_alg, sizeof prot_after_alg);
  cpns_cbor_put_uint (&w, type);
  cpns_cbor_put_uint (&w, 3);
  cpns_cbor_put_uint (&w, txid);
  cpns_cbor_put_raw (&w, send_mid (s), s->send_mid_len);
  cpns_cbor_put_uint (&w, s->send_seq);
  cpns_cbor_put_uint (&w, 8);
  cpns_cbor_put_bool (&w, encrypted);
  g_assert (!w.overflow);  /* bounded by ID and integer sizes */
  return w.len;
}

/* Recognises a protected header in exactly the form we write for this
 * session's receive direction; anything else goes through the general
 * parser, which accepts every valid encoding. */
static gboolean
read_protected_fast (CpnsSession *s, const guint8 *prot, gsize len, guint64 *alg,
                     CpnsHeader *hdr)
{
  CpnsCborReader r;
  guint64 key;
  CpnsCborItem item;

  cpns_cbor_reader_init (&r, prot, len);
  if (len < 2 || prot[0] != 0xa2 || prot[1] != COSE_HDR_ALG)
    return FALSE;
  r.pos = 2;
  if (!cpns_cbor_read_uint (&r, alg, "", NULL) ||
      len - r.pos < sizeof prot_after_alg ||
      memcmp (prot + r.pos, prot_after_alg, sizeof prot_after_alg) != 0)
    return FALSE;
  r.pos += sizeof prot_after_alg;
  if (!cpns_cbor_read_uint (&r, &hdr->type, "", NULL) ||
      cpns_msg_type_carry (hdr->type) == 0 ||
      !cpns_cbor_read_uint (&r, &key, "", NULL) || key != 3 ||
      !cpns_cbor_read_uint (&r, &hdr->txid, "", NULL) ||
      len - r.pos < s->recv_mid_len ||
      memcmp (prot + r.pos, recv_mid (s), s->recv_mid_len) != 0)
    return FALSE;
  r.pos += s->recv_mid_len;
  if (!cpns_cbor_read_uint (&r, &hdr->seq, "", NULL) ||
      !cpns_cbor_read_uint (&r, &key, "", NULL) || key != 8 ||
      !cpns_cbor_read (&r, &item, "", NULL) || item.type != CPNS_CBOR_BOOL ||
      r.pos != len)
    return FALSE;
  hdr->version = CPNS_VERSION;
  hdr->encrypted = item.boolean;
  hdr->in_record = TRUE;
  memset (hdr->src, 0, sizeof hdr->src);
  memcpy (hdr->src, peer_id_of (s), s->peer_len);
  memset (hdr->dst, 0, sizeof hdr->dst);
  memcpy (hdr->dst, s->tail, s->self_len);
  memcpy (hdr->session_id, s->id, CPNS_SESSION_ID_LEN);
  return TRUE;
}

/* Enc_structure (RFC 9052, 5.3) with empty external AAD. */
static gsize
write_enc_structure (guint8 *buf, gsize cap, const guint8 *prot, gsize prot_len)
{
  CpnsCborWriter w;

  cpns_cbor_writer_init (&w, buf, cap);
  cpns_cbor_put_array (&w, 3);
  cpns_cbor_put_text (&w, "Encrypt0", 8);
  cpns_cbor_put_bytes (&w, prot, prot_len);
  cpns_cbor_put_bytes (&w, NULL, 0);
  g_assert (!w.overflow);
  return w.len;
}

gboolean
cpns_session_derive_mac_key (const CpnsHmacKey *hs_key, const guint8 th_app[CPNS_HASH_LEN],
                             gboolean i2r, guint8 out[CPNS_HMAC_TAG_LEN], GError **error)
{
  return cpns_expand_label_key (hs_key, i2r ? "i2r mac" : "r2i mac", th_app,
                                CPNS_HASH_LEN, out, CPNS_HMAC_TAG_LEN, error);
}

void
cpns_session_defer_mac_keys (CpnsSession *s, const CpnsHmacKey *hs_key,
                             const guint8 th_app[CPNS_HASH_LEN], gboolean initiator)
{
  guint8 send_key[CPNS_HMAC_TAG_LEN], recv_key[CPNS_HMAC_TAG_LEN];

  /* The keys given so far are replaced, prepared states included. */
  drop_prepared_mac (&s->send);
  drop_prepared_mac (&s->recv);
  cpns_wipe (&s->mac, sizeof s->mac);
  s->initiator = initiator;
  /* 32 bytes instead of the prepared key's two hash states (288). */
  if (cpns_hmac_key_get_secret (hs_key, s->mac.deferred.hs))
    {
      memcpy (s->mac.deferred.th_app, th_app, CPNS_HASH_LEN);
      s->mac_state = MAC_DEFERRED;
      return;
    }
  /* A secret of 33 to 64 bytes, which no handshake makes: derive now. */
  s->mac_state = MAC_UNAVAILABLE;
  if (cpns_session_derive_mac_key (hs_key, th_app, initiator, send_key, NULL) &&
      cpns_session_derive_mac_key (hs_key, th_app, !initiator, recv_key, NULL))
    {
      memcpy (s->mac.keys.send, send_key, sizeof send_key);
      memcpy (s->mac.keys.recv, recv_key, sizeof recv_key);
      s->mac_state = MAC_KEYS;
    }
  cpns_wipe (send_key, sizeof send_key);
  cpns_wipe (recv_key, sizeof recv_key);
}

/* Both directions' MAC keys at once: they share the prepared secret. */
static gboolean
derive_deferred_mac_keys (CpnsSession *s, GError **error)
{
  CpnsHmacKey hs_key;
  guint8 send_key[CPNS_HMAC_TAG_LEN], recv_key[CPNS_HMAC_TAG_LEN];
  gboolean ok;

  ok = cpns_hmac_key_init (&hs_key, s->mac.deferred.hs, CPNS_HASH_LEN, error) &&
       cpns_session_derive_mac_key (&hs_key, s->mac.deferred.th_app, s->initiator,
                                    send_key, error) &&
       cpns_session_derive_mac_key (&hs_key, s->mac.deferred.th_app, !s->initiator,
                                    recv_key, error);
  if (ok)
    {
      /* The keys take the place of the secret (a union). */
      cpns_wipe (&s->mac, sizeof s->mac);
      memcpy (s->mac.keys.send, send_key, sizeof send_key);
      memcpy (s->mac.keys.recv, recv_key, sizeof recv_key);
      s->mac_state = MAC_KEYS;
    }
  cpns_hmac_key_clear (&hs_key);
  cpns_wipe (send_key, sizeof send_key);
  cpns_wipe (recv_key, sizeof recv_key);
  return ok;
}

/* HMAC over MAC_structure (RFC 9052, 6.3) with empty external AAD. */
static gboolean
mac0_tag (CpnsSession *s, Direction *dir, const guint8 *prot, gsize prot_len,
          const guint8 *payload, gsize payload_len, guint8 tag[CPNS_HMAC_TAG_LEN],
          GError **error)
{
  guint8 head[PROTECTED_MAX + 32];
  CpnsCborWriter w;

  if (dir->mac == NULL)
    {
      g_autofree CpnsHmacKey *mac = NULL;

      if (s->mac_state == MAC_DEFERRED && !derive_deferred_mac_keys (s, error))
        return FALSE;
      if (s->mac_state != MAC_KEYS)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_FAILED,
                       "the session's MAC keys could not be derived");
          return FALSE;
        }
      /* Sessions that use MAC-only records at all tend to use them often. */
      mac = g_new (CpnsHmacKey, 1);
      if (!cpns_hmac_key_init (mac, dir == &s->send ? s->mac.keys.send : s->mac.keys.recv,
                               CPNS_HMAC_TAG_LEN, error))
        {
          cpns_hmac_key_clear (mac);
          return FALSE;
        }
      dir->mac = g_steal_pointer (&mac);
    }
  cpns_cbor_writer_init (&w, head, sizeof head);
  cpns_cbor_put_array (&w, 4);
  cpns_cbor_put_text (&w, "MAC0", 4);
  cpns_cbor_put_bytes (&w, prot, prot_len);
  cpns_cbor_put_bytes (&w, NULL, 0);
  cpns_cbor_put_bytes_head (&w, payload_len);  /* the payload follows */
  g_assert (!w.overflow);
  return cpns_hmac_key_mac (dir->mac, head, w.len, payload, payload_len, NULL, 0, tag,
                            error);
}

gsize
cpns_session_seal (CpnsSession *s, guint64 type, guint64 txid, gboolean encrypt,
                   const guint8 *body, gsize body_len, guint8 *out, gsize out_cap,
                   GError **error)
{
  CpnsCarry carry = cpns_msg_type_carry (type);
  guint8 prot[PROTECTED_MAX];
  gsize prot_len;
  CpnsCborWriter w;

  if (!(carry & CPNS_CARRY_RECORD))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_POLICY,
                   "%s may not be sent in a session record", cpns_msg_type_name (type));
      return 0;
    }
  if ((carry & CPNS_CARRY_MUST_ENCRYPT) && !encrypt)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_POLICY,
                   "%s must be encrypted", cpns_msg_type_name (type));
      return 0;
    }
  if (body_len > CPNS_MAX_BODY)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE,
                   "body of %" G_GSIZE_FORMAT " bytes exceeds the limit of %d",
                   body_len, CPNS_MAX_BODY);
      return 0;
    }
  if (s->send_seq >= s->max_records ||
      (s->expires_at != 0 && g_get_monotonic_time () >= s->expires_at))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_REKEY_NEEDED,
                   "session with %s has reached its record limit or lifetime",
                   peer_id_of (s));
      return 0;
    }

  prot_len = write_protected (s, prot, encrypt ? s->suite : CPNS_ALG_HMAC256, type, txid,
                              encrypt);

  cpns_cbor_writer_init (&w, out, out_cap);
  cpns_cbor_put_tag (&w, encrypt ? COSE_TAG_ENCRYPT0 : COSE_TAG_MAC0);
  cpns_cbor_put_array (&w, encrypt ? 3 : 4);
  cpns_cbor_put_bytes (&w, prot, prot_len);
  cpns_cbor_put_map (&w, 0);

  if (encrypt)
    {
      guint8 aad[PROTECTED_MAX + 16];
      guint8 nonce[CPNS_AEAD_IV_LEN];
      gsize aad_len = write_enc_structure (aad, sizeof aad, prot, prot_len);
      guint8 *ct;

      cpns_cbor_put_bytes_head (&w, body_len + CPNS_AEAD_TAG_LEN);
      ct = cpns_cbor_reserve (&w, body_len + CPNS_AEAD_TAG_LEN);
      if (!cpns_cbor_writer_check (&w, error))
        return 0;
      make_nonce (s->send.iv, s->send_seq, nonce);
      if (!cpns_aead_seal (s->send.aead, nonce, aad, aad_len, body, body_len, ct, error))
        return 0;
    }
  else
    {
      guint8 *tag;

      cpns_cbor_put_bytes (&w, body, body_len);
      cpns_cbor_put_bytes_head (&w, CPNS_HMAC_TAG_LEN);
      tag = cpns_cbor_reserve (&w, CPNS_HMAC_TAG_LEN);
      if (!cpns_cbor_writer_check (&w, error))
        return 0;
      if (!mac0_tag (s, &s->send, prot, prot_len, body, body_len, tag, error))
        return 0;
    }

  s->send_seq++;
  return w.len;
}

gsize
cpns_session_seal_message (CpnsSession *s, guint64 type, guint64 txid,
                           gboolean encrypt, const CpnsBody *body, guint8 *out,
                           gsize out_cap, GError **error)
{
  /* One encoding buffer per thread, not per session: a gateway holds
   * thousands of sessions. */
  static GPrivate scratch_key = G_PRIVATE_INIT (g_free);
  guint8 *scratch = g_private_get (&scratch_key);
  gsize len;
  gsize ret;

  if (scratch == NULL)
    {
      scratch = g_malloc (CPNS_MAX_BODY);
      g_private_set (&scratch_key, scratch);
    }
  len = cpns_body_encode (type, body, scratch, CPNS_MAX_BODY, error);
  if (len == 0)
    return 0;
  ret = cpns_session_seal (s, type, txid, encrypt, scratch, len, out, out_cap, error);
  cpns_wipe (scratch, len);
  return ret;
}

/* The outer COSE structure, without keys. */
typedef struct _RecordParts RecordParts;
static gboolean check_consistency (const RecordParts *parts, const CpnsHeader *hdr,
                                   GError **error);
struct _RecordParts {
  guint64       cose_tag;
  guint64       alg;
  CpnsBytes     prot;
  CpnsBytes     content;  /* ciphertext+tag, or MAC0 payload */
  CpnsBytes     mac;      /* MAC0 tag */
};

static gboolean
parse_record (CpnsSession *s, const guint8 *record, gsize len, RecordParts *parts,
              CpnsHeader *hdr, GError **error)
{
  CpnsCborReader r, pr;
  gsize count, nprot, nunprot;
  gint64 label;

  memset (parts, 0, sizeof *parts);
  if (len > CPNS_MAX_RECORD)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE,
                   "record of %" G_GSIZE_FORMAT " bytes exceeds the limit of %d",
                   len, CPNS_MAX_RECORD);
      return FALSE;
    }
  cpns_cbor_reader_init (&r, record, len);
  if (!cpns_cbor_read_tag (&r, &parts->cose_tag, "record", error))
    return FALSE;
  if (parts->cose_tag != COSE_TAG_ENCRYPT0 && parts->cose_tag != COSE_TAG_MAC0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "record: CBOR tag %" G_GUINT64_FORMAT
                   " is neither COSE_Encrypt0 (16) nor COSE_Mac0 (17)", parts->cose_tag);
      return FALSE;
    }
  if (!cpns_cbor_read_array (&r, &count, "record", error))
    return FALSE;
  if (count != (parts->cose_tag == COSE_TAG_ENCRYPT0 ? 3u : 4u))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "record: %s with %" G_GSIZE_FORMAT " items",
                   parts->cose_tag == COSE_TAG_ENCRYPT0 ? "COSE_Encrypt0" : "COSE_Mac0",
                   count);
      return FALSE;
    }
  if (!cpns_cbor_read_bytes (&r, &parts->prot.data, &parts->prot.len,
                             "record protected header", error))
    return FALSE;
  if (!cpns_cbor_read_map (&r, &nunprot, "record unprotected header", error))
    return FALSE;
  if (nunprot != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "record: the unprotected header must be empty");
      return FALSE;
    }
  if (!cpns_cbor_read_bytes (&r, &parts->content.data, &parts->content.len,
                             parts->cose_tag == COSE_TAG_ENCRYPT0 ?
                             "record ciphertext" : "record payload", error))
    return FALSE;
  if (parts->cose_tag == COSE_TAG_MAC0)
    {
      if (!cpns_cbor_read_bytes (&r, &parts->mac.data, &parts->mac.len,
                                 "record tag", error))
        return FALSE;
      if (parts->mac.len != CPNS_HMAC_TAG_LEN)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                       "record tag: %" G_GSIZE_FORMAT " bytes, must be %d",
                       parts->mac.len, CPNS_HMAC_TAG_LEN);
          return FALSE;
        }
    }
  if (!cpns_cbor_reader_end (&r, "record", error))
    return FALSE;

  /* Protected header: exactly {1: alg, -65537: common parameters}. */
  if (s != NULL && read_protected_fast (s, parts->prot.data, parts->prot.len, &parts->alg,
                                        hdr))
    return check_consistency (parts, hdr, error);
  memset (hdr, 0, sizeof *hdr);
  cpns_cbor_reader_init (&pr, parts->prot.data, parts->prot.len);
  if (!cpns_cbor_read_map (&pr, &nprot, "protected header", error))
    return FALSE;
  if (nprot != 2)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "protected header: %" G_GSIZE_FORMAT " entries, must be 2", nprot);
      return FALSE;
    }
  if (!cpns_cbor_read_int (&pr, &label, "protected header label", error))
    return FALSE;
  if (label != COSE_HDR_ALG)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "protected header: label %" G_GINT64_FORMAT
                   " where alg (1) belongs", label);
      return FALSE;
    }
  if (!cpns_cbor_read_uint (&pr, &parts->alg, "protected header alg", error))
    return FALSE;
  if (!cpns_cbor_read_int (&pr, &label, "protected header label", error))
    return FALSE;
  if (label != COSE_HDR_CPNS)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "protected header: label %" G_GINT64_FORMAT
                   " where the CPNS parameters (-65537) belong", label);
      return FALSE;
    }
  if (!cpns_header_read (&pr, hdr, TRUE, error))
    return FALSE;
  if (!cpns_cbor_reader_end (&pr, "protected header", error))
    return FALSE;
  return check_consistency (parts, hdr, error);
}

/* The Encrypted flag, the COSE structure and the algorithm must agree. */
static gboolean
check_consistency (const RecordParts *parts, const CpnsHeader *hdr, GError **error)
{
  if (hdr->encrypted != (parts->cose_tag == COSE_TAG_ENCRYPT0))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_POLICY,
                   "Encrypted flag is %s but the record is a %s",
                   hdr->encrypted ? "true" : "false",
                   parts->cose_tag == COSE_TAG_ENCRYPT0 ? "COSE_Encrypt0" : "COSE_Mac0");
      return FALSE;
    }
  if (hdr->encrypted ? !cpns_alg_is_aead (parts->alg) : parts->alg != CPNS_ALG_HMAC256)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED,
                   "algorithm %" G_GUINT64_FORMAT " is not valid for a %s record",
                   parts->alg, hdr->encrypted ? "COSE_Encrypt0" : "COSE_Mac0");
      return FALSE;
    }
  return TRUE;
}

gboolean
cpns_record_peek (const guint8 *record, gsize len, CpnsHeader *hdr, GError **error)
{
  RecordParts parts;

  return parse_record (NULL, record, len, &parts, hdr, error);
}

static gboolean
check_window (CpnsSession *s, guint64 seq, GError **error)
{
  if (seq >= s->max_records)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_REKEY_NEEDED,
                   "sequence number %" G_GUINT64_FORMAT " is beyond the record limit",
                   seq);
      return FALSE;
    }
  if (s->mode == CPNS_REPLAY_STREAM)
    {
      if (seq < s->recv_next)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_REPLAY,
                       "record %" G_GUINT64_FORMAT " was already received", seq);
          return FALSE;
        }
      if (seq > s->recv_next)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                       "record %" G_GUINT64_FORMAT " arrived where %" G_GUINT64_FORMAT
                       " was expected on an ordered link", seq, s->recv_next);
          return FALSE;
        }
      return TRUE;
    }
  if (!s->recv_any || seq > s->recv_max)
    return TRUE;
  if (s->recv_max - seq >= CPNS_REPLAY_WINDOW_SIZE)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_TOO_OLD,
                   "record %" G_GUINT64_FORMAT " is older than the replay window "
                   "(newest %" G_GUINT64_FORMAT ")", seq, s->recv_max);
      return FALSE;
    }
  if (s->recv_bitmap & (G_GUINT64_CONSTANT (1) << (s->recv_max - seq)))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_REPLAY,
                   "record %" G_GUINT64_FORMAT " was already received", seq);
      return FALSE;
    }
  return TRUE;
}

static void
accept_seq (CpnsSession *s, guint64 seq)
{
  if (s->mode == CPNS_REPLAY_STREAM)
    {
      s->recv_next = seq + 1;
      return;
    }
  if (!s->recv_any)
    {
      s->recv_any = TRUE;
      s->recv_max = seq;
      s->recv_bitmap = 1;
    }
  else if (seq > s->recv_max)
    {
      guint64 shift = seq - s->recv_max;
      s->recv_bitmap = shift >= 64 ? 1 : (s->recv_bitmap << shift) | 1;
      s->recv_max = seq;
    }
  else
    s->recv_bitmap |= G_GUINT64_CONSTANT (1) << (s->recv_max - seq);
}

gboolean
cpns_session_open (CpnsSession *s, const guint8 *record, gsize len, CpnsHeader *hdr,
                   guint8 *plain, gsize plain_cap, gsize *plain_len, GError **error)
{
  RecordParts parts;
  CpnsCarry carry;
  gsize out_len;

  if (!parse_record (s, record, len, &parts, hdr, error))
    return FALSE;

  /* Policy first. */
  carry = cpns_msg_type_carry (hdr->type);
  if (!(carry & CPNS_CARRY_RECORD))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_POLICY,
                   "%s may not arrive in a session record",
                   cpns_msg_type_name (hdr->type));
      return FALSE;
    }
  if ((carry & CPNS_CARRY_MUST_ENCRYPT) && !hdr->encrypted)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_POLICY,
                   "%s arrived without encryption but must be encrypted",
                   cpns_msg_type_name (hdr->type));
      return FALSE;
    }
  if (hdr->encrypted && parts.alg != s->suite)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_DOWNGRADE,
                   "record uses %s but the session negotiated %s",
                   cpns_alg_name (parts.alg), cpns_alg_name (s->suite));
      return FALSE;
    }
  if (memcmp (hdr->session_id, s->id, CPNS_SESSION_ID_LEN) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "record belongs to another session");
      return FALSE;
    }
  if (strcmp (hdr->src, peer_id_of (s)) != 0 || strcmp (hdr->dst, s->tail) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "record from '%s' to '%s' does not belong to the session "
                   "from '%s' to '%s'", hdr->src, hdr->dst, peer_id_of (s), s->tail);
      return FALSE;
    }

  /* Then lifetime and window, then the tag. */
  if (s->expires_at != 0 && g_get_monotonic_time () >= s->expires_at)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_REKEY_NEEDED,
                   "session with %s has reached its lifetime", peer_id_of (s));
      return FALSE;
    }
  if (!check_window (s, hdr->seq, error))
    return FALSE;

  if (hdr->encrypted)
    {
      guint8 aad[PROTECTED_MAX + 16];
      guint8 nonce[CPNS_AEAD_IV_LEN];
      gsize aad_len;

      if (parts.prot.len > PROTECTED_MAX)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE,
                       "protected header of %" G_GSIZE_FORMAT " bytes is too large",
                       parts.prot.len);
          return FALSE;
        }
      if (parts.content.len < CPNS_AEAD_TAG_LEN ||
          parts.content.len - CPNS_AEAD_TAG_LEN > plain_cap)
        {
          g_set_error (error, CPNS_ERROR, parts.content.len < CPNS_AEAD_TAG_LEN ?
                       CPNS_ERROR_MALFORMED : CPNS_ERROR_TOO_LARGE,
                       "ciphertext of %" G_GSIZE_FORMAT " bytes does not fit",
                       parts.content.len);
          return FALSE;
        }
      aad_len = write_enc_structure (aad, sizeof aad, parts.prot.data, parts.prot.len);
      make_nonce (s->recv.iv, hdr->seq, nonce);
      if (!cpns_aead_open (s->recv.aead, nonce, aad, aad_len, parts.content.data,
                           parts.content.len, plain, error))
        return FALSE;
      out_len = parts.content.len - CPNS_AEAD_TAG_LEN;
    }
  else
    {
      guint8 tag[CPNS_HMAC_TAG_LEN];

      if (parts.prot.len > PROTECTED_MAX || parts.content.len > plain_cap)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE,
                       "MAC-only record does not fit");
          return FALSE;
        }
      if (!mac0_tag (s, &s->recv, parts.prot.data, parts.prot.len, parts.content.data,
                     parts.content.len, tag, error))
        return FALSE;
      if (!cpns_ct_equal (tag, parts.mac.data, CPNS_HMAC_TAG_LEN))
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC,
                       "HMAC-SHA256 tag of the record does not verify");
          return FALSE;
        }
      memcpy (plain, parts.content.data, parts.content.len);
      out_len = parts.content.len;
    }

  accept_seq (s, hdr->seq);
  *plain_len = out_len;
  return TRUE;
}

gboolean
cpns_session_open_message (CpnsSession *s, const guint8 *record, gsize len,
                           CpnsHeader *hdr, CpnsBody *body, guint8 *plain,
                           gsize plain_cap, GError **error)
{
  gsize plain_len;

  if (!cpns_session_open (s, record, len, hdr, plain, plain_cap, &plain_len, error))
    return FALSE;
  return cpns_body_decode (plain, plain_len, hdr->type, body, error);
}
