/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-crypto.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/curve25519.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/pwdbased.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <string.h>

#include "cpns-error.h"

static gboolean
wc_check (int ret, const char *what, GError **error)
{
  if (ret == 0)
    return TRUE;
  g_set_error (error, CPNS_ERROR, CPNS_ERROR_FAILED, "%s failed: %s (%d)", what,
               wc_GetErrorString (ret), ret);
  return FALSE;
}

void
cpns_wipe (void *data, gsize len)
{
  if (data != NULL && len > 0)
    explicit_bzero (data, len);
}

gboolean
cpns_ct_equal (const guint8 *a, const guint8 *b, gsize len)
{
  volatile guint8 diff = 0;

  for (gsize i = 0; i < len; i++)
    diff |= a[i] ^ b[i];
  return diff == 0;
}

/* One DRBG for the process, seeded from the OS by wolfCrypt.  Its output
 * is drawn in blocks: each Hash_DRBG call costs several SHA-256
 * compressions whatever its size, and handshakes need many small values.
 * Bytes are wiped from the pool as they are handed out. */
#define POOL_SIZE 1024

static WC_RNG rng;
static gboolean rng_ready;
static guint8 pool[POOL_SIZE];
static gsize pool_left;
G_LOCK_DEFINE_STATIC (rng);

gboolean
cpns_random (guint8 *out, gsize len, GError **error)
{
  int ret = 0;

  G_LOCK (rng);
  if (!rng_ready)
    {
      ret = wc_InitRng (&rng);
      rng_ready = ret == 0;
    }
  if (ret == 0 && len > POOL_SIZE / 4)
    ret = wc_RNG_GenerateBlock (&rng, out, len);
  else if (ret == 0)
    {
      if (pool_left < len)
        {
          ret = wc_RNG_GenerateBlock (&rng, pool, POOL_SIZE);
          pool_left = ret == 0 ? POOL_SIZE : 0;
        }
      if (ret == 0)
        {
          guint8 *from = pool + POOL_SIZE - pool_left;
          memcpy (out, from, len);
          cpns_wipe (from, len);
          pool_left -= len;
        }
    }
  G_UNLOCK (rng);
  return wc_check (ret, "random number generation", error);
}

gboolean
cpns_sha256 (const guint8 *data, gsize len, guint8 out[CPNS_HASH_LEN], GError **error)
{
  return wc_check (wc_Sha256Hash (data, len, out), "SHA-256", error);
}

#define SHA256_BLOCK 64

gboolean
cpns_hmac_key_init (CpnsHmacKey *key, const guint8 *secret, gsize len, GError **error)
{
  guint8 pad[SHA256_BLOCK], hashed[CPNS_HASH_LEN];
  int ret;

  /* Keys longer than a block are hashed first (RFC 2104). */
  if (len > SHA256_BLOCK)
    {
      if (!cpns_sha256 (secret, len, hashed, error))
        return FALSE;
      secret = hashed;
      len = sizeof hashed;
    }
  key->secret_kept = len <= sizeof key->secret;
  memset (key->secret, 0, sizeof key->secret);
  if (key->secret_kept && len > 0)
    memcpy (key->secret, secret, len);
  memset (pad, 0x36, sizeof pad);
  for (gsize i = 0; i < len; i++)
    pad[i] ^= secret[i];
  ret = wc_InitSha256 (&key->inner);
  if (ret == 0)
    ret = wc_Sha256Update (&key->inner, pad, sizeof pad);
  for (gsize i = 0; i < sizeof pad; i++)
    pad[i] ^= 0x36 ^ 0x5c;
  if (ret == 0)
    ret = wc_InitSha256 (&key->outer);
  if (ret == 0)
    ret = wc_Sha256Update (&key->outer, pad, sizeof pad);
  cpns_wipe (pad, sizeof pad);
  cpns_wipe (hashed, sizeof hashed);
  return wc_check (ret, "HMAC-SHA256 key setup", error);
}

void
cpns_hmac_key_clear (CpnsHmacKey *key)
{
  cpns_wipe (key, sizeof *key);
}

gboolean
cpns_hmac_key_get_secret (const CpnsHmacKey *key, guint8 out[CPNS_HASH_LEN])
{
  if (!key->secret_kept)
    return FALSE;
  memcpy (out, key->secret, CPNS_HASH_LEN);
  return TRUE;
}

gboolean
cpns_hmac_key_mac (const CpnsHmacKey *key, const guint8 *a, gsize a_len,
                   const guint8 *b, gsize b_len, const guint8 *c, gsize c_len,
                   guint8 out[CPNS_HASH_LEN], GError **error)
{
  wc_Sha256 h;
  guint8 inner[CPNS_HASH_LEN];
  int ret;

  ret = wc_Sha256Copy ((wc_Sha256 *) &key->inner, &h);
  if (ret == 0 && a_len > 0)
    ret = wc_Sha256Update (&h, a, a_len);
  if (ret == 0 && b_len > 0)
    ret = wc_Sha256Update (&h, b, b_len);
  if (ret == 0 && c_len > 0)
    ret = wc_Sha256Update (&h, c, c_len);
  if (ret == 0)
    ret = wc_Sha256Final (&h, inner);
  if (ret == 0)
    ret = wc_Sha256Copy ((wc_Sha256 *) &key->outer, &h);
  if (ret == 0)
    ret = wc_Sha256Update (&h, inner, sizeof inner);
  if (ret == 0)
    ret = wc_Sha256Final (&h, out);
  cpns_wipe (&h, sizeof h);
  cpns_wipe (inner, sizeof inner);
  return wc_check (ret, "HMAC-SHA256", error);
}

gboolean
cpns_hmac_sha256 (const guint8 *key, gsize key_len, const guint8 *data, gsize len,
                  guint8 out[CPNS_HASH_LEN], GError **error)
{
  CpnsHmacKey k;
  gboolean ok;

  ok = cpns_hmac_key_init (&k, key, key_len, error) &&
       cpns_hmac_key_mac (&k, data, len, NULL, 0, NULL, 0, out, error);
  cpns_hmac_key_clear (&k);
  return ok;
}

/* Extract with the all-zero salt is the most common: its key is made once. */
static CpnsHmacKey zero_salt_key;

gboolean
cpns_hkdf_extract (const guint8 *salt, gsize salt_len, const guint8 *ikm, gsize ikm_len,
                   guint8 out[CPNS_HASH_LEN], GError **error)
{
  static gsize zero_salt_ready;

  if (salt == NULL || salt_len == 0)
    {
      if (g_once_init_enter (&zero_salt_ready))
        {
          static const guint8 zeros[CPNS_HASH_LEN];
          gboolean ok = cpns_hmac_key_init (&zero_salt_key, zeros, sizeof zeros, NULL);
          g_assert (ok);
          g_once_init_leave (&zero_salt_ready, 1);
        }
      return cpns_hmac_key_mac (&zero_salt_key, ikm, ikm_len, NULL, 0, NULL, 0, out,
                                error);
    }
  return cpns_hmac_sha256 (salt, salt_len, ikm, ikm_len, out, error);
}

gboolean
cpns_hkdf_expand_key (const CpnsHmacKey *prk, const guint8 *info, gsize info_len,
                      guint8 *out, gsize out_len, GError **error)
{
  guint8 t[CPNS_HASH_LEN];
  gsize t_len = 0, done = 0;
  guint8 counter = 1;

  if (out_len > 255 * CPNS_HASH_LEN)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "HKDF-Expand output of %" G_GSIZE_FORMAT " bytes is too long", out_len);
      return FALSE;
    }
  /* T(i) = HMAC(PRK, T(i-1) || info || i) */
  while (done < out_len)
    {
      gsize n = MIN (out_len - done, CPNS_HASH_LEN);

      if (!cpns_hmac_key_mac (prk, t, t_len, info, info_len, &counter, 1, t, error))
        {
          cpns_wipe (t, sizeof t);
          return FALSE;
        }
      memcpy (out + done, t, n);
      done += n;
      t_len = CPNS_HASH_LEN;
      counter++;
    }
  cpns_wipe (t, sizeof t);
  return TRUE;
}

gboolean
cpns_hkdf_expand (const guint8 *prk, gsize prk_len, const guint8 *info, gsize info_len,
                  guint8 *out, gsize out_len, GError **error)
{
  CpnsHmacKey k;
  gboolean ok;

  ok = cpns_hmac_key_init (&k, prk, prk_len, error) &&
       cpns_hkdf_expand_key (&k, info, info_len, out, out_len, error);
  cpns_hmac_key_clear (&k);
  return ok;
}

#define LABEL_PREFIX "cpns1 "

gboolean
cpns_expand_label_key (const CpnsHmacKey *secret, const char *label,
                       const guint8 *context, gsize context_len, guint8 *out,
                       gsize out_len, GError **error)
{
  guint8 info[2 + 1 + 255 + 1 + 255];
  gsize label_len = strlen (label);
  gsize n = 0;

  g_return_val_if_fail (sizeof LABEL_PREFIX - 1 + label_len <= 255, FALSE);
  g_return_val_if_fail (context_len <= 255 && out_len <= G_MAXUINT16, FALSE);

  info[n++] = out_len >> 8;
  info[n++] = out_len & 0xff;
  info[n++] = sizeof LABEL_PREFIX - 1 + label_len;
  memcpy (info + n, LABEL_PREFIX, sizeof LABEL_PREFIX - 1);
  n += sizeof LABEL_PREFIX - 1;
  memcpy (info + n, label, label_len);
  n += label_len;
  info[n++] = context_len;
  if (context_len > 0)
    memcpy (info + n, context, context_len);
  n += context_len;
  return cpns_hkdf_expand_key (secret, info, n, out, out_len, error);
}

gboolean
cpns_expand_label (const guint8 secret[CPNS_HASH_LEN], const char *label,
                   const guint8 *context, gsize context_len, guint8 *out,
                   gsize out_len, GError **error)
{
  CpnsHmacKey k;
  gboolean ok;

  ok = cpns_hmac_key_init (&k, secret, CPNS_HASH_LEN, error) &&
       cpns_expand_label_key (&k, label, context, context_len, out, out_len, error);
  cpns_hmac_key_clear (&k);
  return ok;
}

gboolean
cpns_pbkdf2_sha256 (const guint8 *password, gsize password_len, const guint8 *salt,
                    gsize salt_len, guint iterations, guint8 *out, gsize out_len,
                    GError **error)
{
  if (iterations == 0 || iterations > G_MAXINT)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "PBKDF2 iteration count %u is out of range", iterations);
      return FALSE;
    }
  return wc_check (wc_PBKDF2 (out, password, password_len, salt, salt_len,
                              iterations, out_len, WC_SHA256),
                   "PBKDF2-HMAC-SHA256", error);
}

gboolean
cpns_x25519_public (guint8 priv[CPNS_X25519_LEN], guint8 pub[CPNS_X25519_LEN],
                    GError **error)
{
  priv[0] &= 248;
  priv[31] &= 127;
  priv[31] |= 64;
  return wc_check (wc_curve25519_make_pub (CPNS_X25519_LEN, pub, CPNS_X25519_LEN, priv),
                   "X25519 public key", error);
}

gboolean
cpns_x25519_shared (const guint8 priv[CPNS_X25519_LEN],
                    const guint8 pub[CPNS_X25519_LEN],
                    const guint8 peer_pub[CPNS_X25519_LEN],
                    guint8 shared[CPNS_X25519_LEN], GError **error)
{
  curve25519_key our_key, peer_key;
  guint8 peer[CPNS_X25519_LEN];
  word32 out_len = CPNS_X25519_LEN;
  guint8 acc = 0;
  int ret;

  /* RFC 7748 section 5: the top bit of a received u-coordinate is ignored;
   * wolfCrypt would refuse it instead. */
  memcpy (peer, peer_pub, sizeof peer);
  peer[31] &= 0x7f;
  ret = wc_curve25519_init (&our_key);
  if (ret == 0)
    ret = wc_curve25519_init (&peer_key);
  if (ret == 0)
    ret = wc_curve25519_import_private_raw_ex (priv, CPNS_X25519_LEN, pub,
                                               CPNS_X25519_LEN, &our_key,
                                               EC25519_LITTLE_ENDIAN);
  if (ret == 0)
    ret = wc_curve25519_import_public_ex (peer, CPNS_X25519_LEN, &peer_key,
                                          EC25519_LITTLE_ENDIAN);
  if (ret == 0)
    ret = wc_curve25519_shared_secret_ex (&our_key, &peer_key, shared, &out_len,
                                          EC25519_LITTLE_ENDIAN);
  wc_curve25519_free (&our_key);
  wc_curve25519_free (&peer_key);
  if (!wc_check (ret, "X25519 key agreement", error))
    return FALSE;

  /* A low-order peer key gives the all-zero secret (RFC 7748, 6.1). */
  for (gsize i = 0; i < CPNS_X25519_LEN; i++)
    acc |= shared[i];
  if (acc == 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "peer key share is a low-order point");
      return FALSE;
    }
  return TRUE;
}

/* ---- AEAD ---- */

/* Each suite allocates only what it uses: a session holds two of these for
 * as long as it lives, and a gateway thousands of sessions. */
struct _CpnsAead {
  CpnsAlg alg;
};

typedef struct {
  CpnsAead base;
  guint8   key[32];  /* wolfCrypt's one-shot calls take the key every time */
} ChachaAead;

typedef struct {
  CpnsAead base;
  Aes      aes;      /* the key schedule */
} GcmAead;

gboolean
cpns_alg_is_aead (guint64 alg)
{
  return alg == CPNS_ALG_CHACHA20_POLY1305 || alg == CPNS_ALG_A128GCM ||
         alg == CPNS_ALG_A256GCM;
}

gsize
cpns_alg_key_len (guint64 alg)
{
  switch (alg)
    {
    case CPNS_ALG_A128GCM: return 16;
    case CPNS_ALG_A256GCM: return 32;
    case CPNS_ALG_CHACHA20_POLY1305: return 32;
    case CPNS_ALG_HMAC256: return 32;
    default: return 0;
    }
}

const char *
cpns_alg_name (guint64 alg)
{
  switch (alg)
    {
    case CPNS_ALG_A128GCM: return "AES-128-GCM";
    case CPNS_ALG_A256GCM: return "AES-256-GCM";
    case CPNS_ALG_CHACHA20_POLY1305: return "ChaCha20-Poly1305";
    case CPNS_ALG_HMAC256: return "HMAC-SHA256";
    default: return "unknown";
    }
}

static gsize
aead_size (CpnsAlg alg)
{
  return alg == CPNS_ALG_CHACHA20_POLY1305 ? sizeof (ChachaAead) : sizeof (GcmAead);
}

CpnsAead *
cpns_aead_new (CpnsAlg alg, const guint8 *key, gsize key_len, GError **error)
{
  g_autoptr(CpnsAead) aead = NULL;

  if (!cpns_alg_is_aead (alg) || cpns_alg_key_len (alg) != key_len)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED,
                   "unsupported AEAD algorithm %u or key length %" G_GSIZE_FORMAT,
                   alg, key_len);
      return NULL;
    }
  if (alg == CPNS_ALG_CHACHA20_POLY1305)
    {
      ChachaAead *c = g_malloc0 (sizeof *c);

      c->base.alg = alg;
      memcpy (c->key, key, sizeof c->key);
      return &c->base;
    }
  else
    {
      GcmAead *g = g_malloc0 (sizeof *g);

      g->base.alg = alg;
      aead = &g->base;
      if (!wc_check (wc_AesInit (&g->aes, NULL, INVALID_DEVID), "AES init", error) ||
          !wc_check (wc_AesGcmSetKey (&g->aes, key, key_len), "AES-GCM key setup",
                     error))
        return NULL;
      return g_steal_pointer (&aead);
    }
}

void
cpns_aead_free (CpnsAead *aead)
{
  gsize size;

  if (aead == NULL)
    return;
  size = aead_size (aead->alg);
  if (aead->alg != CPNS_ALG_CHACHA20_POLY1305)
    wc_AesFree (&((GcmAead *) aead)->aes);
  cpns_wipe (aead, size);
  g_free (aead);
}

gboolean
cpns_aead_seal (CpnsAead *aead, const guint8 iv[CPNS_AEAD_IV_LEN], const guint8 *aad,
                gsize aad_len, const guint8 *in, gsize in_len, guint8 *out,
                GError **error)
{
  int ret;

  if (aead->alg == CPNS_ALG_CHACHA20_POLY1305)
    ret = wc_ChaCha20Poly1305_Encrypt (((ChachaAead *) aead)->key, iv, aad, aad_len, in,
                                       in_len, out, out + in_len);
  else
    ret = wc_AesGcmEncrypt (&((GcmAead *) aead)->aes, out, in, in_len, iv,
                            CPNS_AEAD_IV_LEN, out + in_len, CPNS_AEAD_TAG_LEN, aad,
                            aad_len);
  return wc_check (ret, "AEAD encryption", error);
}

gboolean
cpns_aead_open (CpnsAead *aead, const guint8 iv[CPNS_AEAD_IV_LEN], const guint8 *aad,
                gsize aad_len, const guint8 *in, gsize in_len, guint8 *out,
                GError **error)
{
  gsize pt_len;
  int ret;

  if (in_len < CPNS_AEAD_TAG_LEN)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "ciphertext of %" G_GSIZE_FORMAT " bytes is shorter than its tag",
                   in_len);
      return FALSE;
    }
  pt_len = in_len - CPNS_AEAD_TAG_LEN;
  if (aead->alg == CPNS_ALG_CHACHA20_POLY1305)
    ret = wc_ChaCha20Poly1305_Decrypt (((ChachaAead *) aead)->key, iv, aad, aad_len, in,
                                       pt_len, in + pt_len, out);
  else
    ret = wc_AesGcmDecrypt (&((GcmAead *) aead)->aes, out, in, pt_len, iv,
                            CPNS_AEAD_IV_LEN, in + pt_len, CPNS_AEAD_TAG_LEN, aad,
                            aad_len);
  if (ret == MAC_CMP_FAILED_E || ret == AES_GCM_AUTH_E)
    {
      cpns_wipe (out, pt_len);
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC,
                   "%s authentication tag does not verify", cpns_alg_name (aead->alg));
      return FALSE;
    }
  return wc_check (ret, "AEAD decryption", error);
}

/* ---- secrets ---- */

CpnsSecret *
cpns_secret_new0 (gsize len)
{
  CpnsSecret *secret = g_new0 (CpnsSecret, 1);

  secret->data = g_malloc0 (MAX (len, 1));
  secret->len = len;
  return secret;
}

CpnsSecret *
cpns_secret_new (const guint8 *data, gsize len)
{
  CpnsSecret *secret = cpns_secret_new0 (len);

  if (len > 0)
    memcpy (secret->data, data, len);
  return secret;
}

void
cpns_secret_free (CpnsSecret *secret)
{
  if (secret == NULL)
    return;
  cpns_wipe (secret->data, secret->len);
  g_free (secret->data);
  g_free (secret);
}
