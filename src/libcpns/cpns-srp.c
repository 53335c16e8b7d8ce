/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-srp.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/srp.h>
#include <string.h>

#include "cpns-error.h"
#include "cpns-message.h"

/* RFC 5054 appendix A, 3072-bit group (the RFC 3526 group 15 prime), g = 5. */
static const guint8 group_n[CPNS_SRP_PUBLIC_LEN] = {
#include "cpns-srp-group.inc"
};
static const guint8 group_g[] = { 5 };

static gboolean
srp_check (int ret, const char *what, GError **error)
{
  if (ret == 0)
    return TRUE;
  if (ret == SRP_VERIFY_E)
    g_set_error (error, CPNS_ERROR, CPNS_ERROR_AUTH_FAILED,
                 "%s: proof does not verify", what);
  else if (ret == SRP_BAD_KEY_E)
    g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                 "%s: peer's public value is invalid", what);
  else
    g_set_error (error, CPNS_ERROR, CPNS_ERROR_FAILED, "%s failed: %s (%d)", what,
                 wc_GetErrorString (ret), ret);
  return FALSE;
}

/* RFC 5054 2.5.4/2.5.3: abort on a public value that is 0 mod N. */
static gboolean
check_public (const guint8 *value, gsize len, const char *what, GError **error)
{
  guint8 padded[CPNS_SRP_PUBLIC_LEN] = { 0 };
  guint8 acc = 0;

  if (len == 0 || len > CPNS_SRP_PUBLIC_LEN)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: %" G_GSIZE_FORMAT " bytes, must be 1-%d", what, len,
                   CPNS_SRP_PUBLIC_LEN);
      return FALSE;
    }
  memcpy (padded + CPNS_SRP_PUBLIC_LEN - len, value, len);
  for (gsize i = 0; i < sizeof padded; i++)
    acc |= padded[i];
  if (acc == 0 || memcmp (padded, group_n, sizeof padded) >= 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: not in the range 1..N-1", what);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_user (const char *user_id, GError **error)
{
  gsize len = user_id != NULL ? strlen (user_id) : 0;

  if (len == 0 || len > CPNS_USER_ID_MAX || !g_utf8_validate (user_id, len, NULL))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "User ID must be 1-%d bytes of UTF-8", CPNS_USER_ID_MAX);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_salt_iterations (gsize salt_len, guint64 iterations, GError **error)
{
  if (salt_len < 16 || salt_len > 64)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "salt of %" G_GSIZE_FORMAT " bytes (must be 16-64)", salt_len);
      return FALSE;
    }
  /* A low count would make an offline guess cheap if a verifier leaked. */
  if (iterations < CPNS_SRP_MIN_ITERATIONS || iterations > CPNS_SRP_MAX_ITERATIONS)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_POLICY,
                   "PBKDF2 iteration count %" G_GUINT64_FORMAT " outside %d-%d",
                   iterations, CPNS_SRP_MIN_ITERATIONS, CPNS_SRP_MAX_ITERATIONS);
      return FALSE;
    }
  return TRUE;
}

static gboolean
srp_setup (Srp *srp, SrpSide side, const char *user_id, const guint8 *salt,
           gsize salt_len, GError **error)
{
  if (!srp_check (wc_SrpInit (srp, SRP_TYPE_SHA256, side), "SRP setup", error))
    return FALSE;
  return srp_check (wc_SrpSetUsername (srp, (const byte *) user_id, strlen (user_id)),
                    "SRP user name", error) &&
         srp_check (wc_SrpSetParams (srp, group_n, sizeof group_n, group_g,
                                     sizeof group_g, salt, salt_len),
                    "SRP parameters", error);
}

static gboolean
stretch (const guint8 *password, gsize password_len, const guint8 *salt, gsize salt_len,
         guint iterations, guint8 out[32], GError **error)
{
  return cpns_pbkdf2_sha256 (password, password_len, salt, salt_len, iterations, out,
                             32, error);
}

gboolean
cpns_srp_make_verifier (const char *user_id, const guint8 *password, gsize password_len,
                        const guint8 *salt, gsize salt_len, guint iterations,
                        guint8 *verifier, gsize *verifier_len, GError **error)
{
  guint8 stretched[32];
  word32 len = CPNS_SRP_PUBLIC_LEN;
  Srp srp;
  gboolean ok;

  if (!check_user (user_id, error) || !check_salt_iterations (salt_len, iterations, error))
    return FALSE;
  if (!stretch (password, password_len, salt, salt_len, iterations, stretched, error))
    return FALSE;
  ok = srp_setup (&srp, SRP_CLIENT_SIDE, user_id, salt, salt_len, error) &&
       srp_check (wc_SrpSetPassword (&srp, stretched, sizeof stretched), "SRP password",
                  error) &&
       srp_check (wc_SrpGetVerifier (&srp, verifier, &len), "SRP verifier", error);
  wc_SrpTerm (&srp);
  cpns_wipe (stretched, sizeof stretched);
  if (ok)
    *verifier_len = len;
  return ok;
}

/* ---- client ---- */

struct _CpnsSrpClient {
  char       *user_id;
  CpnsSecret *password;
  Srp         srp;
  gboolean    srp_ready;
  gboolean    responded, verified;
};

CpnsSrpClient *
cpns_srp_client_new (const char *user_id, const guint8 *password, gsize password_len,
                     GError **error)
{
  CpnsSrpClient *c;

  if (!check_user (user_id, error))
    return NULL;
  if (password_len == 0 || password_len > 256)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "password must be 1-256 bytes");
      return NULL;
    }
  c = g_new0 (CpnsSrpClient, 1);
  c->user_id = g_strdup (user_id);
  c->password = cpns_secret_new (password, password_len);
  return c;
}

void
cpns_srp_client_free (CpnsSrpClient *c)
{
  if (c == NULL)
    return;
  if (c->srp_ready)
    wc_SrpTerm (&c->srp);
  cpns_secret_free (c->password);
  g_free (c->user_id);
  cpns_wipe (c, sizeof *c);
  g_free (c);
}

gboolean
cpns_srp_client_respond (CpnsSrpClient *c, guint64 group, const guint8 *salt,
                         gsize salt_len, guint64 iterations, const guint8 *server_public,
                         gsize server_public_len,
                         guint8 client_public[CPNS_SRP_PUBLIC_LEN],
                         gsize *client_public_len, guint8 proof[CPNS_SRP_PROOF_LEN],
                         GError **error)
{
  guint8 stretched[32];
  word32 a_len = CPNS_SRP_PUBLIC_LEN, proof_len = CPNS_SRP_PROOF_LEN;
  gboolean ok;

  if (c->responded)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "SRP client already answered a challenge");
      return FALSE;
    }
  if (group != CPNS_SRP_GROUP_3072)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED,
                   "SRP group %" G_GUINT64_FORMAT " is not supported", group);
      return FALSE;
    }
  if (!check_salt_iterations (salt_len, iterations, error) ||
      !check_public (server_public, server_public_len, "server public value B", error))
    return FALSE;
  c->responded = TRUE;

  ok = stretch (c->password->data, c->password->len, salt, salt_len, iterations,
                stretched, error);
  g_clear_pointer (&c->password, cpns_secret_free);
  if (!ok)
    return FALSE;
  ok = srp_setup (&c->srp, SRP_CLIENT_SIDE, c->user_id, salt, salt_len, error);
  c->srp_ready = TRUE;
  ok = ok &&
       srp_check (wc_SrpSetPassword (&c->srp, stretched, sizeof stretched),
                  "SRP password", error) &&
       srp_check (wc_SrpGetPublic (&c->srp, client_public, &a_len), "SRP public value",
                  error) &&
       srp_check (wc_SrpComputeKey (&c->srp, client_public, a_len,
                                    (byte *) server_public, server_public_len),
                  "SRP key agreement", error) &&
       srp_check (wc_SrpGetProof (&c->srp, proof, &proof_len), "SRP client proof", error);
  cpns_wipe (stretched, sizeof stretched);
  if (ok)
    *client_public_len = a_len;
  return ok;
}

gboolean
cpns_srp_client_verify (CpnsSrpClient *c, const guint8 *server_proof, gsize len,
                        GError **error)
{
  if (!c->responded || !c->srp_ready || c->verified)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "SRP client is not waiting for a server proof");
      return FALSE;
    }
  if (len != CPNS_SRP_PROOF_LEN)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "server proof of %" G_GSIZE_FORMAT " bytes", len);
      return FALSE;
    }
  if (!srp_check (wc_SrpVerifyPeersProof (&c->srp, (byte *) server_proof, len),
                  "server proof", error))
    return FALSE;
  c->verified = TRUE;
  return TRUE;
}

const guint8 *
cpns_srp_client_get_key (CpnsSrpClient *c, gsize *len)
{
  if (!c->verified)
    return NULL;
  *len = c->srp.keySz;
  return c->srp.key;
}

/* ---- server ---- */

struct _CpnsSrpServer {
  Srp      srp;
  guint8   server_public[CPNS_SRP_PUBLIC_LEN];
  gsize    server_public_len;
  gboolean challenged, done, verified;
};

CpnsSrpServer *
cpns_srp_server_new (const char *user_id, const guint8 *salt, gsize salt_len,
                     const guint8 *verifier, gsize verifier_len, GError **error)
{
  CpnsSrpServer *s;

  if (!check_user (user_id, error) ||
      !check_salt_iterations (salt_len, CPNS_SRP_MIN_ITERATIONS, error) ||
      !check_public (verifier, verifier_len, "verifier", error))
    return NULL;
  s = g_new0 (CpnsSrpServer, 1);
  if (!srp_setup (&s->srp, SRP_SERVER_SIDE, user_id, salt, salt_len, error) ||
      !srp_check (wc_SrpSetVerifier (&s->srp, verifier, verifier_len), "SRP verifier",
                  error))
    {
      cpns_srp_server_free (s);
      return NULL;
    }
  return s;
}

void
cpns_srp_server_free (CpnsSrpServer *s)
{
  if (s == NULL)
    return;
  wc_SrpTerm (&s->srp);
  cpns_wipe (s, sizeof *s);
  g_free (s);
}

gboolean
cpns_srp_server_challenge (CpnsSrpServer *s, guint8 server_public[CPNS_SRP_PUBLIC_LEN],
                           gsize *server_public_len, GError **error)
{
  word32 len = CPNS_SRP_PUBLIC_LEN;

  if (s->challenged)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE, "SRP challenge already made");
      return FALSE;
    }
  if (!srp_check (wc_SrpGetPublic (&s->srp, s->server_public, &len),
                  "SRP public value", error))
    return FALSE;
  s->challenged = TRUE;
  s->server_public_len = len;
  memcpy (server_public, s->server_public, len);
  *server_public_len = len;
  return TRUE;
}

gboolean
cpns_srp_server_verify (CpnsSrpServer *s, const guint8 *client_public,
                        gsize client_public_len, const guint8 *client_proof,
                        gsize client_proof_len, guint8 server_proof[CPNS_SRP_PROOF_LEN],
                        GError **error)
{
  word32 proof_len = CPNS_SRP_PROOF_LEN;

  if (!s->challenged || s->done)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "SRP server is not waiting for a client proof");
      return FALSE;
    }
  /* One attempt per challenge, whatever the outcome. */
  s->done = TRUE;
  if (!check_public (client_public, client_public_len, "client public value A", error))
    return FALSE;
  if (client_proof_len != CPNS_SRP_PROOF_LEN)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "client proof of %" G_GSIZE_FORMAT " bytes", client_proof_len);
      return FALSE;
    }
  if (!srp_check (wc_SrpComputeKey (&s->srp, (byte *) client_public, client_public_len,
                                    s->server_public, s->server_public_len),
                  "SRP key agreement", error) ||
      !srp_check (wc_SrpVerifyPeersProof (&s->srp, (byte *) client_proof,
                                          client_proof_len),
                  "client proof", error) ||
      !srp_check (wc_SrpGetProof (&s->srp, server_proof, &proof_len),
                  "SRP server proof", error))
    return FALSE;
  s->verified = TRUE;
  return TRUE;
}

const guint8 *
cpns_srp_server_get_key (CpnsSrpServer *s, gsize *len)
{
  if (!s->verified)
    return NULL;
  *len = s->srp.keySz;
  return s->srp.key;
}
