/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Thin wrappers over wolfCrypt: the only file besides cpns-srp.c and
 * cpns-x25519 code that calls it directly for primitives. */

#include <glib.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

G_BEGIN_DECLS

#define CPNS_HASH_LEN    32
#define CPNS_NONCE_LEN   32
#define CPNS_X25519_LEN  32
#define CPNS_AEAD_IV_LEN 12
#define CPNS_AEAD_TAG_LEN 16
#define CPNS_AEAD_KEY_MAX 32
#define CPNS_HMAC_TAG_LEN 32

/* Record algorithms: the COSE algorithm identifiers (RFC 9053). */
typedef enum {
  CPNS_ALG_A128GCM = 1,
  CPNS_ALG_A256GCM = 3,
  CPNS_ALG_HMAC256 = 5,
  CPNS_ALG_CHACHA20_POLY1305 = 24,
} CpnsAlg;

void     cpns_wipe           (void *data, gsize len);
gboolean cpns_ct_equal       (const guint8 *a, const guint8 *b, gsize len);
gboolean cpns_random         (guint8 *out, gsize len, GError **error);

gboolean cpns_sha256         (const guint8 *data, gsize len, guint8 out[CPNS_HASH_LEN],
                              GError **error);
gboolean cpns_hmac_sha256    (const guint8 *key, gsize key_len,
                              const guint8 *data, gsize len,
                              guint8 out[CPNS_HASH_LEN], GError **error);
gboolean cpns_hkdf_extract   (const guint8 *salt, gsize salt_len,
                              const guint8 *ikm, gsize ikm_len,
                              guint8 out[CPNS_HASH_LEN], GError **error);
gboolean cpns_hkdf_expand    (const guint8 *prk, gsize prk_len,
                              const guint8 *info, gsize info_len,
                              guint8 *out, gsize out_len, GError **error);
/* An HMAC-SHA256 key with its inner and outer hash states computed once
 * (RFC 2104, section 4): every further MAC under it costs two compression
 * functions fewer.  Handshakes and MAC-only records use keys several times.
 * The key itself is kept too (when it fits in 32 bytes), for holders that
 * keep it long and would rather not keep the states (288 bytes). */
typedef struct {
  wc_Sha256 inner, outer;
  guint8    secret[CPNS_HASH_LEN];  /* zero-padded; valid if secret_kept */
  gboolean  secret_kept;
} CpnsHmacKey;

gboolean cpns_hmac_key_init  (CpnsHmacKey *key, const guint8 *secret, gsize len,
                              GError **error);
void     cpns_hmac_key_clear (CpnsHmacKey *key);
/* Copies the key, zero-padded to 32 bytes, to @out: cpns_hmac_key_init()
 * with these 32 bytes gives the same key, as HMAC pads keys with zeros.
 * FALSE (and nothing written) for a key longer than 32 bytes that was not
 * hashed down to 32 (33 to 64 bytes). */
gboolean cpns_hmac_key_get_secret (const CpnsHmacKey *key, guint8 out[CPNS_HASH_LEN]);
/* HMAC over the concatenation of up to three parts (NULL parts skipped). */
gboolean cpns_hmac_key_mac   (const CpnsHmacKey *key,
                              const guint8 *a, gsize a_len,
                              const guint8 *b, gsize b_len,
                              const guint8 *c, gsize c_len,
                              guint8 out[CPNS_HASH_LEN], GError **error);
gboolean cpns_hkdf_expand_key (const CpnsHmacKey *prk, const guint8 *info, gsize info_len,
                               guint8 *out, gsize out_len, GError **error);
gboolean cpns_expand_label_key (const CpnsHmacKey *secret, const char *label,
                                const guint8 *context, gsize context_len,
                                guint8 *out, gsize out_len, GError **error);

/* HKDF-Expand-Label with our own prefix "cpns1 " (docs/protocol.md). */
gboolean cpns_expand_label   (const guint8 secret[CPNS_HASH_LEN], const char *label,
                              const guint8 *context, gsize context_len,
                              guint8 *out, gsize out_len, GError **error);
gboolean cpns_pbkdf2_sha256  (const guint8 *password, gsize password_len,
                              const guint8 *salt, gsize salt_len, guint iterations,
                              guint8 *out, gsize out_len, GError **error);

/* X25519 (RFC 7748): @priv is clamped in place. */
gboolean cpns_x25519_public  (guint8 priv[CPNS_X25519_LEN], guint8 pub[CPNS_X25519_LEN],
                              GError **error);
gboolean cpns_x25519_shared  (const guint8 priv[CPNS_X25519_LEN],
                              const guint8 pub[CPNS_X25519_LEN],
                              const guint8 peer_pub[CPNS_X25519_LEN],
                              guint8 shared[CPNS_X25519_LEN], GError **error);

/* AEAD under one key.  AES-GCM keeps its key schedule (over 1 KiB);
 * ChaCha20-Poly1305 keeps only the 32-byte key, which wolfCrypt takes on
 * every call. */
typedef struct _CpnsAead CpnsAead;

gboolean  cpns_alg_is_aead   (guint64 alg);
gsize     cpns_alg_key_len   (guint64 alg);  /* 0 for unknown */
const char *cpns_alg_name    (guint64 alg);

CpnsAead *cpns_aead_new      (CpnsAlg alg, const guint8 *key, gsize key_len,
                              GError **error);
void      cpns_aead_free     (CpnsAead *aead);
/* Output is ciphertext followed by the 16-byte tag; @out may equal @in. */
gboolean  cpns_aead_seal     (CpnsAead *aead, const guint8 iv[CPNS_AEAD_IV_LEN],
                              const guint8 *aad, gsize aad_len,
                              const guint8 *in, gsize in_len, guint8 *out,
                              GError **error);
/* @in holds ciphertext and tag; writes in_len - 16 bytes to @out. */
gboolean  cpns_aead_open     (CpnsAead *aead, const guint8 iv[CPNS_AEAD_IV_LEN],
                              const guint8 *aad, gsize aad_len,
                              const guint8 *in, gsize in_len, guint8 *out,
                              GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpnsAead, cpns_aead_free)

/* A byte buffer that is wiped when freed. */
typedef struct {
  guint8 *data;
  gsize   len;
} CpnsSecret;

CpnsSecret *cpns_secret_new  (const guint8 *data, gsize len);
CpnsSecret *cpns_secret_new0 (gsize len);
void        cpns_secret_free (CpnsSecret *secret);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpnsSecret, cpns_secret_free)

G_END_DECLS
