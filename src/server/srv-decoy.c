/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-decoy.h"

#include <string.h>

gboolean
srv_decoy_derive (const CpnsSecret *server_secret, const char *user_id,
                  guint8 salt[CPNS_SRP_SALT_LEN], guint8 verifier[CPNS_SRP_PUBLIC_LEN],
                  GError **error)
{
  static const char salt_label[] = "cpns-server decoy salt";
  static const char verifier_label[] = "cpns-server decoy verifier";
  guint8 prk[CPNS_HASH_LEN];
  gboolean ok;

  ok = cpns_hkdf_extract (server_secret->data, server_secret->len,
                          (const guint8 *) user_id, strlen (user_id), prk, error) &&
       cpns_hkdf_expand (prk, sizeof prk, (const guint8 *) salt_label,
                         sizeof salt_label - 1, salt, CPNS_SRP_SALT_LEN, error) &&
       cpns_hkdf_expand (prk, sizeof prk, (const guint8 *) verifier_label,
                         sizeof verifier_label - 1, verifier, CPNS_SRP_PUBLIC_LEN, error);
  cpns_wipe (prk, sizeof prk);
  /* Within 1..N-1 (N begins with 0xff), as a real verifier is; only B,
   * uniform either way, goes on the wire. */
  verifier[0] &= 0x7f;
  verifier[CPNS_SRP_PUBLIC_LEN - 1] |= 1;
  return ok;
}
