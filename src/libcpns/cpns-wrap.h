/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Key wraps (docs/protocol.md, "Key wraps"): a key sealed with
 * ChaCha20-Poly1305 under a key derived from a secret by a label of its own
 * and bound to two Entity IDs, a User ID and a key ID. */

#include <glib.h>

#include "cpns-crypto.h"

G_BEGIN_DECLS

typedef enum {
  CPNS_WRAP_EUKEY_SRP = 1,   /* EUKey under the SRP session key */
  CPNS_WRAP_LOCAL_EUKEY = 2, /* LocalEUKey under the PNE's EUKey */
  CPNS_WRAP_EUKEY_TK = 3,    /* PNE's EUKey under its Temporary Key */
} CpnsWrapKind;

#define CPNS_WRAP_OVERHEAD (CPNS_AEAD_IV_LEN + CPNS_AEAD_TAG_LEN)
#define CPNS_WRAPPED_KEY_MAX (CPNS_WRAP_OVERHEAD + 64)

typedef struct {
  const char   *id_a;     /* sender side: the server, or the PN GW */
  const char   *id_b;     /* the entity that unwraps */
  const char   *user_id;  /* "" when the wrap is not bound to a user */
  const guint8 *kid;
  gsize         kid_len;
} CpnsWrapBinding;

/* Writes nonce || ciphertext || tag; returns its length or 0. */
gsize       cpns_wrap_seal (CpnsWrapKind kind, const guint8 *secret, gsize secret_len,
                            const CpnsWrapBinding *binding,
                            const guint8 *key, gsize key_len,
                            guint8 *out, gsize out_cap, GError **error);
CpnsSecret *cpns_wrap_open (CpnsWrapKind kind, const guint8 *secret, gsize secret_len,
                            const CpnsWrapBinding *binding,
                            const guint8 *wrapped, gsize wrapped_len, GError **error);

G_END_DECLS
