/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* SRP-6a user authentication (RFC 5054, SHA-256, 3072-bit group) with the
 * password first stretched by PBKDF2-HMAC-SHA256 (docs/protocol.md, "User
 * authentication").  The server keeps only salt, iteration count and
 * verifier. */

#include <glib.h>

#include "cpns-crypto.h"

G_BEGIN_DECLS

#define CPNS_SRP_GROUP_3072     1
#define CPNS_SRP_PUBLIC_LEN     384    /* bytes of N */
#define CPNS_SRP_PROOF_LEN      32
#define CPNS_SRP_SALT_LEN       16
#define CPNS_SRP_MIN_ITERATIONS 1000
#define CPNS_SRP_MAX_ITERATIONS 10000000
#define CPNS_SRP_DEFAULT_ITERATIONS 100000

/* v for (user, password, salt, iterations); @verifier holds
 * CPNS_SRP_PUBLIC_LEN bytes, @verifier_len is set to its length. */
gboolean cpns_srp_make_verifier (const char *user_id, const guint8 *password,
                                 gsize password_len, const guint8 *salt, gsize salt_len,
                                 guint iterations, guint8 *verifier, gsize *verifier_len,
                                 GError **error);

typedef struct _CpnsSrpClient CpnsSrpClient;

CpnsSrpClient *cpns_srp_client_new     (const char *user_id, const guint8 *password,
                                        gsize password_len, GError **error);
void           cpns_srp_client_free    (CpnsSrpClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpnsSrpClient, cpns_srp_client_free)
/* KEY_CHALLENGE in: computes A and the client proof.  The password is wiped
 * from memory as soon as it is stretched. */
gboolean       cpns_srp_client_respond (CpnsSrpClient *client, guint64 group,
                                        const guint8 *salt, gsize salt_len,
                                        guint64 iterations,
                                        const guint8 *server_public, gsize server_public_len,
                                        guint8 client_public[CPNS_SRP_PUBLIC_LEN],
                                        gsize *client_public_len,
                                        guint8 proof[CPNS_SRP_PROOF_LEN], GError **error);
/* Fails with CPNS_ERROR_AUTH_FAILED when the server's proof is wrong. */
gboolean       cpns_srp_client_verify  (CpnsSrpClient *client,
                                        const guint8 *server_proof, gsize len,
                                        GError **error);
/* Shared session key K, once verified. */
const guint8  *cpns_srp_client_get_key (CpnsSrpClient *client, gsize *len);

typedef struct _CpnsSrpServer CpnsSrpServer;

CpnsSrpServer *cpns_srp_server_new       (const char *user_id, const guint8 *salt,
                                          gsize salt_len, const guint8 *verifier,
                                          gsize verifier_len, GError **error);
void           cpns_srp_server_free      (CpnsSrpServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpnsSrpServer, cpns_srp_server_free)
gboolean       cpns_srp_server_challenge (CpnsSrpServer *server,
                                          guint8 server_public[CPNS_SRP_PUBLIC_LEN],
                                          gsize *server_public_len, GError **error);
/* Fails with CPNS_ERROR_AUTH_FAILED when the client's proof is wrong. */
gboolean       cpns_srp_server_verify    (CpnsSrpServer *server,
                                          const guint8 *client_public, gsize client_public_len,
                                          const guint8 *client_proof, gsize client_proof_len,
                                          guint8 server_proof[CPNS_SRP_PROOF_LEN],
                                          GError **error);
const guint8  *cpns_srp_server_get_key   (CpnsSrpServer *server, gsize *len);

G_END_DECLS
