/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-handshake.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <string.h>

#include "cpns-error.h"

static const guint64 default_suites[] = {
  CPNS_ALG_CHACHA20_POLY1305, CPNS_ALG_A128GCM, CPNS_ALG_A256GCM,
};
static const guint64 default_modes[] = { CPNS_MODE_PSK_X25519, CPNS_MODE_PSK };
static const guint64 bootstrap_modes[] = { CPNS_MODE_PSK_X25519 };

struct _CpnsHandshake {
  CpnsHandshakeState state;
  CpnsRole           role;
  CpnsPurpose        purpose;
  CpnsReplayMode     replay_mode;
  char               self_id[CPNS_ID_MAX + 1];
  char               peer_id[CPNS_ID_MAX + 1];  /* empty: any (responder) */
  CpnsUintList       suites, modes;
  CpnsPsk            psk;
  gboolean           have_psk;
  CpnsPskLookupFunc  lookup;
  gpointer           lookup_data;
  CpnsRandomFunc     random;
  gpointer           random_data;

  guint64            txid, suite, mode;
  guint8             nonce_i[CPNS_NONCE_LEN], nonce_r[CPNS_NONCE_LEN];
  guint8             eph_priv[CPNS_X25519_LEN], eph_pub[CPNS_X25519_LEN];
  gboolean           have_eph;
  guint8             peer_share[CPNS_X25519_LEN];
  CpnsHmacKey        hs_key;            /* keyed with the handshake secret */
  wc_Sha256          transcript;
  gboolean           transcript_ready;
  CpnsHandshakeSecrets secrets;
  gboolean           keep_secrets;
  CpnsSession       *session;
};

const char *
cpns_mode_name (guint64 mode)
{
  switch (mode)
    {
    case CPNS_MODE_PSK: return "psk";
    case CPNS_MODE_PSK_X25519: return "psk+x25519";
    default: return "unknown";
    }
}

static gboolean
list_contains (const CpnsUintList *l, guint64 v)
{
  for (guint i = 0; i < l->n; i++)
    if (l->v[i] == v)
      return TRUE;
  return FALSE;
}

static gboolean
copy_list (CpnsUintList *dst, const guint64 *src, guint n, const guint64 *def,
           guint n_def, const char *what, gboolean (*valid) (guint64), GError **error)
{
  if (src == NULL)
    {
      src = def;
      n = n_def;
    }
  if (n == 0 || n > CPNS_LIST_MAX)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "%s: between 1 and %d entries needed", what, CPNS_LIST_MAX);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    if (!valid (src[i]))
      {
        g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED,
                     "%s: %" G_GUINT64_FORMAT " is not supported", what, src[i]);
        return FALSE;
      }
  dst->n = n;
  memcpy (dst->v, src, n * sizeof (guint64));
  return TRUE;
}

static gboolean
mode_is_valid (guint64 mode)
{
  return mode == CPNS_MODE_PSK || mode == CPNS_MODE_PSK_X25519;
}

static gboolean
id_is_valid (const char *id)
{
  return id != NULL && cpns_entity_id_is_valid (id, strlen (id));
}

static gboolean
check_psk (const CpnsPsk *psk, CpnsRole role, GError **error)
{
  if (psk->key_len < CPNS_PSK_MIN || psk->key_len > CPNS_PSK_MAX ||
      psk->kid_len == 0 || psk->kid_len > CPNS_KID_MAX)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "pre-shared key must be %d-%d bytes with a 1-%d byte key ID",
                   CPNS_PSK_MIN, CPNS_PSK_MAX, CPNS_KID_MAX);
      return FALSE;
    }
  if (psk->role != role)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_ROLE,
                   "this key is configured for the %s role, not the %s role",
                   psk->role == CPNS_ROLE_INITIATOR ? "initiator" : "responder",
                   role == CPNS_ROLE_INITIATOR ? "initiator" : "responder");
      return FALSE;
    }
  return TRUE;
}

CpnsHandshake *
cpns_handshake_new (const CpnsHandshakeConfig *cfg, GError **error)
{
  g_autoptr(CpnsHandshake) hs = g_new0 (CpnsHandshake, 1);

  if (cfg->role != CPNS_ROLE_INITIATOR && cfg->role != CPNS_ROLE_RESPONDER)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT, "invalid role %d",
                   cfg->role);
      return NULL;
    }
  if (cfg->purpose != CPNS_PURPOSE_SERVER && cfg->purpose != CPNS_PURPOSE_LOCAL &&
      cfg->purpose != CPNS_PURPOSE_BOOTSTRAP)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "invalid purpose %d", cfg->purpose);
      return NULL;
    }
  if (!id_is_valid (cfg->self_id) ||
      (cfg->peer_id != NULL && !id_is_valid (cfg->peer_id)) ||
      (cfg->peer_id == NULL && cfg->role == CPNS_ROLE_INITIATOR))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "handshake needs valid Entity IDs (own ID '%s', peer ID '%s')",
                   cfg->self_id ? cfg->self_id : "", cfg->peer_id ? cfg->peer_id : "");
      return NULL;
    }
  if (cfg->peer_id != NULL && strcmp (cfg->peer_id, cfg->self_id) == 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "peer ID '%s' is our own ID", cfg->peer_id);
      return NULL;
    }
  if (cfg->psk == NULL && (cfg->role == CPNS_ROLE_INITIATOR || cfg->lookup == NULL))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "handshake needs a pre-shared key or a key lookup");
      return NULL;
    }
  if (cfg->psk != NULL)
    {
      if (!check_psk (cfg->psk, cfg->role, error))
        return NULL;
      hs->psk = *cfg->psk;
      hs->have_psk = TRUE;
    }
  if (!copy_list (&hs->suites, cfg->suites, cfg->n_suites, default_suites,
                  G_N_ELEMENTS (default_suites), "suites", cpns_alg_is_aead, error) ||
      !copy_list (&hs->modes, cfg->modes, cfg->n_modes,
                  cfg->purpose == CPNS_PURPOSE_BOOTSTRAP ? bootstrap_modes : default_modes,
                  cfg->purpose == CPNS_PURPOSE_BOOTSTRAP ? G_N_ELEMENTS (bootstrap_modes)
                                                         : G_N_ELEMENTS (default_modes),
                  "modes", mode_is_valid, error))
    return NULL;
  /* The bootstrap key is public: only the key exchange keeps it secret. */
  if (cfg->purpose == CPNS_PURPOSE_BOOTSTRAP && list_contains (&hs->modes, CPNS_MODE_PSK))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "the bootstrap purpose needs mode psk+x25519 only");
      return NULL;
    }

  hs->role = cfg->role;
  hs->purpose = cfg->purpose;
  hs->replay_mode = cfg->replay_mode;
  g_strlcpy (hs->self_id, cfg->self_id, sizeof hs->self_id);
  if (cfg->peer_id != NULL)
    g_strlcpy (hs->peer_id, cfg->peer_id, sizeof hs->peer_id);
  hs->lookup = cfg->lookup;
  hs->lookup_data = cfg->lookup_data;
  hs->random = cfg->random;
  hs->random_data = cfg->random_data;
  hs->txid = cfg->txid;
  hs->state = CPNS_HANDSHAKE_START;
  return g_steal_pointer (&hs);
}

static void
wipe_secrets (CpnsHandshake *hs)
{
  cpns_wipe (&hs->psk, sizeof hs->psk);
  cpns_wipe (hs->eph_priv, sizeof hs->eph_priv);
  cpns_hmac_key_clear (&hs->hs_key);
  if (!hs->keep_secrets)
    cpns_wipe (&hs->secrets, sizeof hs->secrets);
  if (hs->transcript_ready)
    {
      wc_Sha256Free (&hs->transcript);
      cpns_wipe (&hs->transcript, sizeof hs->transcript);
      hs->transcript_ready = FALSE;
    }
}

void
cpns_handshake_free (CpnsHandshake *hs)
{
  if (hs == NULL)
    return;
  hs->keep_secrets = FALSE;
  wipe_secrets (hs);
  cpns_session_free (hs->session);
  cpns_wipe (hs, sizeof *hs);
  g_free (hs);
}

CpnsHandshakeState cpns_handshake_get_state (CpnsHandshake *hs) { return hs->state; }
const char *cpns_handshake_get_peer_id (CpnsHandshake *hs) { return hs->peer_id; }
guint64 cpns_handshake_get_suite (CpnsHandshake *hs) { return hs->suite; }
CpnsMode cpns_handshake_get_mode (CpnsHandshake *hs) { return hs->mode; }
guint64 cpns_handshake_get_txid (CpnsHandshake *hs) { return hs->txid; }
void cpns_handshake_keep_secrets (CpnsHandshake *hs) { hs->keep_secrets = TRUE; }

const CpnsHandshakeSecrets *
cpns_handshake_get_secrets (CpnsHandshake *hs)
{
  return hs->state == CPNS_HANDSHAKE_DONE && hs->keep_secrets ? &hs->secrets : NULL;
}

CpnsSession *
cpns_handshake_take_session (CpnsHandshake *hs)
{
  if (hs->state != CPNS_HANDSHAKE_DONE)
    return NULL;
  return g_steal_pointer (&hs->session);
}

static gboolean
fail (CpnsHandshake *hs)
{
  hs->state = CPNS_HANDSHAKE_FAILED;
  hs->keep_secrets = FALSE;
  wipe_secrets (hs);
  g_clear_pointer (&hs->session, cpns_session_free);
  return FALSE;
}

static gboolean
get_random (CpnsHandshake *hs, guint8 *out, gsize len, GError **error)
{
  if (hs->random != NULL)
    return hs->random (out, len, hs->random_data, error);
  return cpns_random (out, len, error);
}

static const char *
initiator_id (CpnsHandshake *hs)
{
  return hs->role == CPNS_ROLE_INITIATOR ? hs->self_id : hs->peer_id;
}

static const char *
responder_id (CpnsHandshake *hs)
{
  return hs->role == CPNS_ROLE_RESPONDER ? hs->self_id : hs->peer_id;
}

static gsize
put_lp (guint8 *buf, const void *data, gsize len)
{
  buf[0] = len;
  memcpy (buf + 1, data, len);
  return 1 + len;
}

/* hs_psk = Expand-Label(PSK, "psk", purpose || lp(ID_I) || lp(ID_R) || lp(kid), 32)
 * The PSK is at least 32 uniformly random bytes, so it serves as the HKDF
 * pseudorandom key directly (RFC 5869, section 3.3). */
static gboolean
derive_hs_psk (CpnsHandshake *hs, GError **error)
{
  guint8 ctx[1 + 2 * (1 + CPNS_ID_MAX) + 1 + CPNS_KID_MAX];
  CpnsHmacKey prk;
  gsize n = 0;
  gboolean ok;

  ctx[n++] = hs->purpose;
  n += put_lp (ctx + n, initiator_id (hs), strlen (initiator_id (hs)));
  n += put_lp (ctx + n, responder_id (hs), strlen (responder_id (hs)));
  n += put_lp (ctx + n, hs->psk.kid, hs->psk.kid_len);
  ok = cpns_hmac_key_init (&prk, hs->psk.key, hs->psk.key_len, error) &&
       cpns_expand_label_key (&prk, "psk", ctx, n, hs->secrets.hs_psk, CPNS_HASH_LEN,
                              error);
  cpns_hmac_key_clear (&prk);
  /* The raw PSK is not needed any more. */
  cpns_wipe (&hs->psk.key, sizeof hs->psk.key);
  return ok;
}

/* T0 = lp("initiator") || lp(ID_I) || lp("responder") || lp(ID_R) */
static gboolean
transcript_begin (CpnsHandshake *hs, GError **error)
{
  guint8 t0[2 * (1 + 9) + 2 * (1 + CPNS_ID_MAX)];
  gsize n = 0;

  n += put_lp (t0 + n, "initiator", 9);
  n += put_lp (t0 + n, initiator_id (hs), strlen (initiator_id (hs)));
  n += put_lp (t0 + n, "responder", 9);
  n += put_lp (t0 + n, responder_id (hs), strlen (responder_id (hs)));
  if (wc_InitSha256 (&hs->transcript) != 0 ||
      wc_Sha256Update (&hs->transcript, t0, n) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_FAILED, "transcript hash failed");
      return FALSE;
    }
  hs->transcript_ready = TRUE;
  return TRUE;
}

static gboolean
transcript_add (CpnsHandshake *hs, const guint8 *data, gsize len, GError **error)
{
  if (wc_Sha256Update (&hs->transcript, data, len) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_FAILED, "transcript hash failed");
      return FALSE;
    }
  return TRUE;
}

static gboolean
transcript_hash (CpnsHandshake *hs, guint8 out[CPNS_HASH_LEN], GError **error)
{
  wc_Sha256 copy;
  int ret;

  ret = wc_Sha256Copy (&hs->transcript, &copy);
  if (ret == 0)
    ret = wc_Sha256Final (&copy, out);
  wc_Sha256Free (&copy);
  if (ret != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_FAILED, "transcript hash failed");
      return FALSE;
    }
  return TRUE;
}

/* hs = Extract(salt = hs_psk, IKM = X25519 shared secret or 32 zero bytes) */
static gboolean
derive_handshake_secret (CpnsHandshake *hs, GError **error)
{
  guint8 dh[CPNS_X25519_LEN] = { 0 };
  gboolean ok = TRUE;

  if (hs->mode == CPNS_MODE_PSK_X25519)
    ok = cpns_x25519_shared (hs->eph_priv, hs->eph_pub, hs->peer_share, dh, error);
  cpns_wipe (hs->eph_priv, sizeof hs->eph_priv);
  if (ok)
    ok = cpns_hkdf_extract (hs->secrets.hs_psk, CPNS_HASH_LEN, dh, sizeof dh,
                            hs->secrets.handshake_secret, error) &&
         cpns_hmac_key_init (&hs->hs_key, hs->secrets.handshake_secret, CPNS_HASH_LEN,
                             error);
  cpns_wipe (dh, sizeof dh);
  return ok;
}

/* After HS_RESP with its MAC is in the transcript: one key block for both
 * directions, i2r key | r2i key | i2r IV | r2i IV.  MAC keys are derived
 * when first needed, or now when the caller keeps the secrets. */
static gboolean
derive_session (CpnsHandshake *hs, GError **error)
{
  CpnsHandshakeSecrets *sec = &hs->secrets;
  gsize nk = cpns_alg_key_len (hs->suite);
  guint8 block[2 * (CPNS_AEAD_KEY_MAX + CPNS_AEAD_IV_LEN)];
  gsize len = 2 * (nk + CPNS_AEAD_IV_LEN);
  gboolean initiator = hs->role == CPNS_ROLE_INITIATOR;

  if (!transcript_hash (hs, sec->th_app, error) ||
      !cpns_expand_label_key (&hs->hs_key, "traffic", sec->th_app, CPNS_HASH_LEN,
                              block, len, error))
    return FALSE;
  memcpy (sec->i2r.aead_key, block, nk);
  memcpy (sec->r2i.aead_key, block + nk, nk);
  memcpy (sec->i2r.iv, block + 2 * nk, CPNS_AEAD_IV_LEN);
  memcpy (sec->r2i.iv, block + 2 * nk + CPNS_AEAD_IV_LEN, CPNS_AEAD_IV_LEN);
  cpns_wipe (block, sizeof block);
  memcpy (sec->session_id, sec->th_app, CPNS_SESSION_ID_LEN);
  if (hs->keep_secrets &&
      (!cpns_session_derive_mac_key (&hs->hs_key, sec->th_app, TRUE, sec->i2r.mac_key,
                                     error) ||
       !cpns_session_derive_mac_key (&hs->hs_key, sec->th_app, FALSE, sec->r2i.mac_key,
                                     error)))
    return FALSE;

  hs->session = cpns_session_new (hs->self_id, hs->peer_id, sec->session_id, hs->suite,
                                  initiator ? &sec->i2r : &sec->r2i,
                                  initiator ? &sec->r2i : &sec->i2r,
                                  hs->replay_mode, error);
  if (hs->session == NULL)
    return FALSE;
  cpns_session_defer_mac_keys (hs->session, &hs->hs_key, sec->th_app, initiator);
  return TRUE;
}

static void
init_header (CpnsHandshake *hs, CpnsHeader *hdr, CpnsMsgType type)
{
  memset (hdr, 0, sizeof *hdr);
  hdr->version = CPNS_VERSION;
  hdr->type = type;
  hdr->txid = hs->txid;
  g_strlcpy (hdr->src, hs->self_id, sizeof hdr->src);
  g_strlcpy (hdr->dst, hs->peer_id, sizeof hdr->dst);
}

/* Writes [header, body, mac] where mac = Expand-Label(hs, label, TH, 32) and
 * TH covers everything so far plus this message's header and body. */
static gsize
write_confirmed (CpnsHandshake *hs, CpnsMsgType type, const CpnsBody *body,
                 const char *label, guint8 th[CPNS_HASH_LEN], guint8 *out, gsize cap,
                 GError **error)
{
  CpnsHeader hdr;
  CpnsCborWriter w;
  guint8 mac[CPNS_HASH_LEN];
  gsize signed_start;

  init_header (hs, &hdr, type);
  cpns_cbor_writer_init (&w, out, cap);
  cpns_cbor_put_array (&w, 3);
  signed_start = w.len;
  cpns_header_write (&w, &hdr);
  if (!cpns_body_write (&w, type, body, error))
    return 0;
  if (!transcript_add (hs, out + signed_start, w.len - signed_start, error) ||
      !transcript_hash (hs, th, error) ||
      !cpns_expand_label_key (&hs->hs_key, label, th, CPNS_HASH_LEN, mac, sizeof mac,
                              error) ||
      !transcript_add (hs, mac, sizeof mac, error))
    return 0;
  cpns_cbor_put_bytes (&w, mac, sizeof mac);
  if (!cpns_cbor_writer_check (&w, error))
    return 0;
  return w.len;
}

static gboolean
verify_confirmed (CpnsHandshake *hs, const CpnsPlainMessage *msg, const char *label,
                  guint8 th[CPNS_HASH_LEN], GError **error)
{
  guint8 mac[CPNS_HASH_LEN];
  gboolean ok;

  if (msg->mac.len != CPNS_HASH_LEN)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s carries no confirmation MAC", cpns_msg_type_name (msg->hdr.type));
      return FALSE;
    }
  if (!transcript_add (hs, msg->signed_part.data, msg->signed_part.len, error) ||
      !transcript_hash (hs, th, error) ||
      !cpns_expand_label_key (&hs->hs_key, label, th, CPNS_HASH_LEN, mac, sizeof mac,
                              error))
    return FALSE;
  ok = cpns_ct_equal (mac, msg->mac.data, CPNS_HASH_LEN);
  cpns_wipe (mac, sizeof mac);
  if (!ok)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC,
                   "%s confirmation MAC does not verify (wrong key, or the "
                   "handshake was tampered with)", cpns_msg_type_name (msg->hdr.type));
      return FALSE;
    }
  return transcript_add (hs, msg->mac.data, msg->mac.len, error);
}

static gboolean
make_ephemeral (CpnsHandshake *hs, GError **error)
{
  if (!get_random (hs, hs->eph_priv, sizeof hs->eph_priv, error) ||
      !cpns_x25519_public (hs->eph_priv, hs->eph_pub, error))
    return FALSE;
  hs->have_eph = TRUE;
  return TRUE;
}

gboolean
cpns_handshake_start (CpnsHandshake *hs, guint8 *out, gsize cap, gsize *out_len,
                      GError **error)
{
  CpnsHeader hdr;
  CpnsBody body = { 0 };
  CpnsHsInit *init = &body.hs_init;
  gsize len;

  if (hs->role != CPNS_ROLE_INITIATOR || hs->state != CPNS_HANDSHAKE_START)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "only an initiator that has not started can send HS_INIT");
      return FALSE;
    }
  if (hs->txid == 0)
    {
      guint8 r[4];
      if (!get_random (hs, r, sizeof r, error))
        return fail (hs);
      hs->txid = ((guint32) r[0] << 24 | r[1] << 16 | r[2] << 8 | r[3]) | 1;
    }
  if (!get_random (hs, hs->nonce_i, sizeof hs->nonce_i, error))
    return fail (hs);
  if (list_contains (&hs->modes, CPNS_MODE_PSK_X25519) && !make_ephemeral (hs, error))
    return fail (hs);
  if (!derive_hs_psk (hs, error) || !transcript_begin (hs, error))
    return fail (hs);

  init_header (hs, &hdr, CPNS_MSG_HS_INIT);
  init->suites = hs->suites;
  init->modes = hs->modes;
  init->kid = CPNS_BYTES (hs->psk.kid, hs->psk.kid_len);
  init->nonce = CPNS_BYTES (hs->nonce_i, CPNS_NONCE_LEN);
  init->purpose = hs->purpose;
  body.present = 1u << 1 | 1u << 2 | 1u << 3 | 1u << 4 | 1u << 6;
  if (hs->have_eph)
    {
      init->key_share = CPNS_BYTES (hs->eph_pub, CPNS_X25519_LEN);
      body.present |= 1u << 5;
    }
  len = cpns_plain_encode (&hdr, &body, NULL, 0, out, cap, error);
  if (len == 0 || !transcript_add (hs, out, len, error))
    return fail (hs);
  *out_len = len;
  hs->state = CPNS_HANDSHAKE_WAIT_RESP;
  return TRUE;
}

static gboolean
check_ids (CpnsHandshake *hs, const CpnsHeader *hdr, GError **error)
{
  if (strcmp (hdr->src, hs->self_id) == 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "%s claims to come from our own ID '%s'",
                   cpns_msg_type_name (hdr->type), hdr->src);
      return FALSE;
    }
  if (strcmp (hdr->dst, hs->self_id) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "%s is addressed to '%s', not to us ('%s')",
                   cpns_msg_type_name (hdr->type), hdr->dst, hs->self_id);
      return FALSE;
    }
  if (hs->peer_id[0] != '\0' && strcmp (hdr->src, hs->peer_id) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "%s comes from '%s', expected '%s'",
                   cpns_msg_type_name (hdr->type), hdr->src, hs->peer_id);
      return FALSE;
    }
  if (hs->state != CPNS_HANDSHAKE_START && hdr->txid != hs->txid)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "%s belongs to transaction %" G_GUINT64_FORMAT ", not %"
                   G_GUINT64_FORMAT, cpns_msg_type_name (hdr->type), hdr->txid, hs->txid);
      return FALSE;
    }
  return TRUE;
}

static gboolean
expect_type (const CpnsPlainMessage *msg, CpnsMsgType type, GError **error)
{
  if (msg->hdr.type != type)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE, "expected %s, got %s",
                   cpns_msg_type_name (type), cpns_msg_type_name (msg->hdr.type));
      return FALSE;
    }
  return TRUE;
}

/* Responder: HS_INIT in, HS_RESP out. */
static gboolean
receive_init (CpnsHandshake *hs, const guint8 *in, gsize in_len,
              const CpnsPlainMessage *msg, guint8 *out, gsize cap, gsize *out_len,
              GError **error)
{
  const CpnsHsInit *init = &msg->body.hs_init;
  CpnsBody body = { 0 };
  CpnsHsResp *resp = &body.hs_resp;
  guint8 th2[CPNS_HASH_LEN];
  gboolean found = FALSE;
  gsize len;

  if (!expect_type (msg, CPNS_MSG_HS_INIT, error) || !check_ids (hs, &msg->hdr, error))
    return FALSE;
  if (msg->mac.len != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED, "HS_INIT carries a MAC");
      return FALSE;
    }
  if (init->purpose != hs->purpose)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_ROLE,
                   "HS_INIT asks for purpose %" G_GUINT64_FORMAT ", this endpoint "
                   "serves purpose %d", init->purpose, hs->purpose);
      return FALSE;
    }
  g_strlcpy (hs->peer_id, msg->hdr.src, sizeof hs->peer_id);
  hs->txid = msg->hdr.txid;

  if (hs->lookup != NULL)
    {
      CpnsPsk psk = { 0 };
      gboolean ok = hs->lookup (hs->peer_id, init->kid.data, init->kid.len, &psk,
                                hs->lookup_data, error) &&
                    check_psk (&psk, CPNS_ROLE_RESPONDER, error);
      hs->psk = psk;
      cpns_wipe (&psk, sizeof psk);
      if (!ok)
        return FALSE;
    }
  if (hs->psk.kid_len != init->kid.len ||
      memcmp (hs->psk.kid, init->kid.data, init->kid.len) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND,
                   "no pre-shared key with the requested key ID for '%s'", hs->peer_id);
      return FALSE;
    }

  /* Our preference, among what the peer offers. */
  for (guint i = 0; i < hs->suites.n && !found; i++)
    if (list_contains (&init->suites, hs->suites.v[i]))
      {
        hs->suite = hs->suites.v[i];
        found = TRUE;
      }
  if (!found)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_DOWNGRADE,
                   "peer offers no suite this endpoint accepts");
      return FALSE;
    }
  found = FALSE;
  for (guint i = 0; i < hs->modes.n && !found; i++)
    if (list_contains (&init->modes, hs->modes.v[i]))
      {
        hs->mode = hs->modes.v[i];
        found = TRUE;
      }
  if (!found)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_DOWNGRADE,
                   "peer offers no key exchange mode this endpoint accepts");
      return FALSE;
    }
  if ((init->key_share.len != 0) != list_contains (&init->modes, CPNS_MODE_PSK_X25519))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "HS_INIT must carry a key share exactly when it offers psk+x25519");
      return FALSE;
    }

  memcpy (hs->nonce_i, init->nonce.data, CPNS_NONCE_LEN);
  if (!get_random (hs, hs->nonce_r, sizeof hs->nonce_r, error))
    return FALSE;
  if (cpns_ct_equal (hs->nonce_i, hs->nonce_r, CPNS_NONCE_LEN))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_REFLECTION,
                   "initiator nonce equals ours");
      return FALSE;
    }
  if (hs->mode == CPNS_MODE_PSK_X25519)
    {
      memcpy (hs->peer_share, init->key_share.data, CPNS_X25519_LEN);
      if (!make_ephemeral (hs, error))
        return FALSE;
      if (cpns_ct_equal (hs->peer_share, hs->eph_pub, CPNS_X25519_LEN))
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_REFLECTION,
                       "initiator key share equals ours");
          return FALSE;
        }
    }

  if (!derive_hs_psk (hs, error) || !transcript_begin (hs, error) ||
      !transcript_add (hs, in, in_len, error) || !derive_handshake_secret (hs, error))
    return FALSE;

  resp->suite = hs->suite;
  resp->mode = hs->mode;
  resp->nonce = CPNS_BYTES (hs->nonce_r, CPNS_NONCE_LEN);
  body.present = 1u << 1 | 1u << 2 | 1u << 3;
  if (hs->mode == CPNS_MODE_PSK_X25519)
    {
      resp->key_share = CPNS_BYTES (hs->eph_pub, CPNS_X25519_LEN);
      body.present |= 1u << 4;
    }
  len = write_confirmed (hs, CPNS_MSG_HS_RESP, &body, "r finished", th2, out, cap, error);
  if (len == 0)
    return FALSE;
  memcpy (hs->secrets.th2, th2, CPNS_HASH_LEN);
  /* Keys exist from here on, but nothing is protected with them before
   * HS_FINISH verifies. */
  if (!derive_session (hs, error))
    return FALSE;
  *out_len = len;
  hs->state = CPNS_HANDSHAKE_WAIT_FINISH;
  return TRUE;
}

/* Initiator: HS_RESP in, HS_FINISH out. */
static gboolean
receive_resp (CpnsHandshake *hs, const CpnsPlainMessage *msg, guint8 *out, gsize cap,
              gsize *out_len, GError **error)
{
  const CpnsHsResp *resp = &msg->body.hs_resp;
  CpnsBody body = { 0 };
  gsize len;

  if (!expect_type (msg, CPNS_MSG_HS_RESP, error) || !check_ids (hs, &msg->hdr, error))
    return FALSE;
  if (!list_contains (&hs->suites, resp->suite))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_DOWNGRADE,
                   "responder chose suite %" G_GUINT64_FORMAT " which we did not offer",
                   resp->suite);
      return FALSE;
    }
  if (!list_contains (&hs->modes, resp->mode))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_DOWNGRADE,
                   "responder chose mode %s which we did not offer",
                   cpns_mode_name (resp->mode));
      return FALSE;
    }
  hs->suite = resp->suite;
  hs->mode = resp->mode;
  if (cpns_ct_equal (resp->nonce.data, hs->nonce_i, CPNS_NONCE_LEN))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_REFLECTION,
                   "responder nonce echoes ours");
      return FALSE;
    }
  memcpy (hs->nonce_r, resp->nonce.data, CPNS_NONCE_LEN);
  if ((resp->key_share.len != 0) != (hs->mode == CPNS_MODE_PSK_X25519))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "HS_RESP must carry a key share exactly in psk+x25519 mode");
      return FALSE;
    }
  if (hs->mode == CPNS_MODE_PSK_X25519)
    {
      if (cpns_ct_equal (resp->key_share.data, hs->eph_pub, CPNS_X25519_LEN))
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_REFLECTION,
                       "responder key share echoes ours");
          return FALSE;
        }
      memcpy (hs->peer_share, resp->key_share.data, CPNS_X25519_LEN);
    }
  if (!derive_handshake_secret (hs, error) ||
      !verify_confirmed (hs, msg, "r finished", hs->secrets.th2, error) ||
      !derive_session (hs, error))
    return FALSE;

  len = write_confirmed (hs, CPNS_MSG_HS_FINISH, &body, "i finished", hs->secrets.th3,
                         out, cap, error);
  if (len == 0)
    return FALSE;
  *out_len = len;
  return TRUE;
}

gboolean
cpns_handshake_receive (CpnsHandshake *hs, const guint8 *in, gsize in_len, guint8 *out,
                        gsize cap, gsize *out_len, GError **error)
{
  CpnsPlainMessage msg;
  CpnsHandshakeState prev;
  gboolean ok;

  *out_len = 0;
  if (hs->state == CPNS_HANDSHAKE_DONE || hs->state == CPNS_HANDSHAKE_FAILED ||
      (hs->role == CPNS_ROLE_INITIATOR && hs->state == CPNS_HANDSHAKE_START))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "handshake is not expecting a message (%s)",
                   hs->state == CPNS_HANDSHAKE_FAILED ? "it failed" :
                   hs->state == CPNS_HANDSHAKE_DONE ? "it is complete" : "not started");
      return FALSE;
    }
  if (in_len > CPNS_HANDSHAKE_MAX)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE,
                   "handshake message of %" G_GSIZE_FORMAT " bytes exceeds %d",
                   in_len, CPNS_HANDSHAKE_MAX);
      return fail (hs);
    }
  if (!cpns_plain_decode (in, in_len, &msg, error))
    return fail (hs);

  prev = hs->state;
  switch (prev)
    {
    case CPNS_HANDSHAKE_START:
      ok = receive_init (hs, in, in_len, &msg, out, cap, out_len, error);
      break;
    case CPNS_HANDSHAKE_WAIT_RESP:
      ok = receive_resp (hs, &msg, out, cap, out_len, error);
      break;
    case CPNS_HANDSHAKE_WAIT_FINISH:
      ok = expect_type (&msg, CPNS_MSG_HS_FINISH, error) &&
           check_ids (hs, &msg.hdr, error) &&
           verify_confirmed (hs, &msg, "i finished", hs->secrets.th3, error);
      break;
    default:
      g_assert_not_reached ();
    }
  if (!ok)
    {
      *out_len = 0;
      return fail (hs);
    }
  /* Initiator after HS_RESP, responder after HS_FINISH. */
  if (prev == CPNS_HANDSHAKE_WAIT_RESP || prev == CPNS_HANDSHAKE_WAIT_FINISH)
    {
      hs->state = CPNS_HANDSHAKE_DONE;
      wipe_secrets (hs);
    }
  return TRUE;
}

void
cpns_bootstrap_psk (CpnsPsk *psk, CpnsRole role)
{
  memset (psk, 0, sizeof *psk);
  psk->key_len = CPNS_PSK_MIN;
  psk->kid_len = strlen (CPNS_BOOTSTRAP_KID);
  memcpy (psk->kid, CPNS_BOOTSTRAP_KID, psk->kid_len);
  psk->role = role;
}
