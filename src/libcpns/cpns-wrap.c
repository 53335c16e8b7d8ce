/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-wrap.h"

#include <string.h>

#include "cpns-error.h"
#include "cpns-message.h"

static const char *
wrap_label (CpnsWrapKind kind)
{
  switch (kind)
    {
    case CPNS_WRAP_EUKEY_SRP: return "wrap eukey srp";
    case CPNS_WRAP_LOCAL_EUKEY: return "wrap localeukey";
    case CPNS_WRAP_EUKEY_TK: return "wrap eukey tk";
    }
  return NULL;
}

/* ctx = lp(ID_A) || lp(ID_B) || lp(User ID) || lp(kid): both the HKDF
 * context and the AEAD's additional data. */
static gsize
binding_context (const CpnsWrapBinding *b, guint8 *ctx, GError **error)
{
  const char *user = b->user_id != NULL ? b->user_id : "";
  gsize la = b->id_a ? strlen (b->id_a) : 0;
  gsize lb = b->id_b ? strlen (b->id_b) : 0;
  gsize lu = strlen (user);
  gsize n = 0;

  if (!cpns_entity_id_is_valid (b->id_a ? b->id_a : "", la) ||
      !cpns_entity_id_is_valid (b->id_b ? b->id_b : "", lb) ||
      lu > CPNS_USER_ID_MAX || b->kid_len == 0 || b->kid_len > CPNS_KID_MAX)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "key wrap needs two valid Entity IDs, a User ID of at most %d "
                   "bytes and a 1-%d byte key ID", CPNS_USER_ID_MAX, CPNS_KID_MAX);
      return 0;
    }
  ctx[n++] = la;
  memcpy (ctx + n, b->id_a, la);
  n += la;
  ctx[n++] = lb;
  memcpy (ctx + n, b->id_b, lb);
  n += lb;
  ctx[n++] = lu;
  memcpy (ctx + n, user, lu);
  n += lu;
  ctx[n++] = b->kid_len;
  memcpy (ctx + n, b->kid, b->kid_len);
  n += b->kid_len;
  return n;
}

#define CTX_MAX (4 + 2 * CPNS_ID_MAX + CPNS_USER_ID_MAX + CPNS_KID_MAX)

/* The context may exceed 255 bytes, so it enters Expand-Label hashed. */
static CpnsAead *
wrap_aead (CpnsWrapKind kind, const guint8 *secret, gsize secret_len,
           const guint8 *ctx, gsize ctx_len, GError **error)
{
  guint8 prk[CPNS_HASH_LEN], ctx_hash[CPNS_HASH_LEN], key[32];
  const char *label = wrap_label (kind);
  CpnsAead *aead = NULL;

  if (label == NULL)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "unknown key wrap kind %d", kind);
      return NULL;
    }
  if (secret_len < 16)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "wrapping secret of %" G_GSIZE_FORMAT " bytes is too short",
                   secret_len);
      return NULL;
    }
  if (cpns_hkdf_extract (NULL, 0, secret, secret_len, prk, error) &&
      cpns_sha256 (ctx, ctx_len, ctx_hash, error) &&
      cpns_expand_label (prk, label, ctx_hash, sizeof ctx_hash, key, sizeof key, error))
    aead = cpns_aead_new (CPNS_ALG_CHACHA20_POLY1305, key, sizeof key, error);
  cpns_wipe (prk, sizeof prk);
  cpns_wipe (key, sizeof key);
  return aead;
}

gsize
cpns_wrap_seal (CpnsWrapKind kind, const guint8 *secret, gsize secret_len,
                const CpnsWrapBinding *binding, const guint8 *key, gsize key_len,
                guint8 *out, gsize out_cap, GError **error)
{
  g_autoptr(CpnsAead) aead = NULL;
  guint8 ctx[CTX_MAX];
  gsize ctx_len;

  if (key_len == 0 || key_len > 64 || out_cap < key_len + CPNS_WRAP_OVERHEAD)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "key of %" G_GSIZE_FORMAT " bytes cannot be wrapped here", key_len);
      return 0;
    }
  ctx_len = binding_context (binding, ctx, error);
  if (ctx_len == 0)
    return 0;
  aead = wrap_aead (kind, secret, secret_len, ctx, ctx_len, error);
  if (aead == NULL ||
      !cpns_random (out, CPNS_AEAD_IV_LEN, error) ||
      !cpns_aead_seal (aead, out, ctx, ctx_len, key, key_len, out + CPNS_AEAD_IV_LEN,
                       error))
    return 0;
  return key_len + CPNS_WRAP_OVERHEAD;
}

CpnsSecret *
cpns_wrap_open (CpnsWrapKind kind, const guint8 *secret, gsize secret_len,
                const CpnsWrapBinding *binding, const guint8 *wrapped, gsize wrapped_len,
                GError **error)
{
  g_autoptr(CpnsAead) aead = NULL;
  g_autoptr(CpnsSecret) key = NULL;
  guint8 ctx[CTX_MAX];
  gsize ctx_len;

  if (wrapped_len <= CPNS_WRAP_OVERHEAD || wrapped_len > CPNS_WRAPPED_KEY_MAX)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "wrapped key of %" G_GSIZE_FORMAT " bytes has an impossible size",
                   wrapped_len);
      return NULL;
    }
  ctx_len = binding_context (binding, ctx, error);
  if (ctx_len == 0)
    return NULL;
  aead = wrap_aead (kind, secret, secret_len, ctx, ctx_len, error);
  if (aead == NULL)
    return NULL;
  key = cpns_secret_new0 (wrapped_len - CPNS_WRAP_OVERHEAD);
  if (!cpns_aead_open (aead, wrapped, ctx, ctx_len, wrapped + CPNS_AEAD_IV_LEN,
                       wrapped_len - CPNS_AEAD_IV_LEN, key->data, error))
    {
      g_prefix_error (error, "key unwrap: ");
      return NULL;
    }
  return g_steal_pointer (&key);
}
