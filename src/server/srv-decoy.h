/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Decoy SRP parameters for User IDs the server does not know, so that a
 * KEY_CHALLENGE tells nobody whether a user exists (protocol.md 8.1): salt
 * and verifier are derived from the server secret and the User ID, so the
 * same name always gets the same salt, and since the verifier is no g^x
 * anyone knows x for, no proof can ever succeed. */

#include <glib.h>

#include "cpns-crypto.h"
#include "cpns-srp.h"

G_BEGIN_DECLS

#define SRV_DECOY_SECRET_LEN 32

gboolean srv_decoy_derive (const CpnsSecret *server_secret, const char *user_id,
                           guint8 salt[CPNS_SRP_SALT_LEN],
                           guint8 verifier[CPNS_SRP_PUBLIC_LEN], GError **error);

G_END_DECLS
