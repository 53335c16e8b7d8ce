/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-requests.h"

#include <string.h>

#include "cpns-error.h"
#include "cpns-wrap.h"
#include "srv-hex.h"

#define LOCAL_KEY_LEN 32
#define LOCAL_KID_LEN 16

void
srv_answer_clear (SrvAnswer *answer)
{
  g_clear_pointer (&answer->body, cpns_secret_free);
  g_clear_pointer (&answer->end_sessions_of, g_free);
  answer->type = 0;
}

static gboolean
encode_answer (guint64 type, gboolean encrypt, const CpnsBody *body, SrvAnswer *answer,
               GError **error)
{
  g_autoptr(CpnsSecret) buf = cpns_secret_new0 (CPNS_MAX_BODY);
  gsize len = cpns_body_encode (type, body, buf->data, buf->len, error);

  if (len == 0)
    return FALSE;
  answer->type = type;
  answer->encrypt = encrypt;
  answer->body = cpns_secret_new (buf->data, len);
  return TRUE;
}

/* A store failure that is not about authorization is ours: logged in
 * full, sent as an internal failure. */
static gboolean
store_failure (const char *what, const GError *local, GError **error)
{
  g_warning ("%s: %s", what, local->message);
  g_set_error (error, CPNS_ERROR, CPNS_ERROR_FAILED, "internal server error");
  return FALSE;
}

static gboolean
is_refusal (const GError *local)
{
  return g_error_matches (local, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND) ||
         g_error_matches (local, SRV_STORE_ERROR, SRV_STORE_ERROR_FORBIDDEN);
}

/* The PNE named in the body, as a valid Entity ID. */
static gboolean
pne_id (const CpnsBody *body, char out[CPNS_ID_MAX + 1], GError **error)
{
  CpnsBytes b = body->pne_ref.pne;

  if (!cpns_entity_id_is_valid ((const char *) b.data, b.len))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "the PNE must be named by a valid Entity ID");
      return FALSE;
    }
  memcpy (out, b.data, b.len);
  out[b.len] = '\0';
  return TRUE;
}

static gboolean
tk_request (const SrvRequestContext *ctx, const char *entity_id, const char *user_id,
            const CpnsBody *req, SrvAnswer *answer, GError **error)
{
  char pne[CPNS_ID_MAX + 1];
  g_autoptr(GError) local = NULL;
  g_autoptr(GBytes) kid = NULL;
  g_autoptr(CpnsSecret) tk = NULL;
  CpnsBody body = { .present = 1u << 1 | 1u << 2 | 1u << 3 };

  if (!pne_id (req, pne, error))
    return FALSE;
  tk = srv_store_claim_tk (ctx->store, pne, user_id, &kid, &local);
  if (tk == NULL && is_refusal (local))
    {
      /* Unknown and foreign PNEs look alike: no probing for PNEs. */
      g_message ("'%s' (user '%s') refused the TK of '%s': %s", entity_id, user_id, pne,
                 local->message);
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_FORBIDDEN,
                   "no Temporary Key of '%s' for this user", pne);
      return FALSE;
    }
  if (tk == NULL)
    return store_failure ("TK_REQUEST", local, error);
  g_message ("'%s' (user '%s') fetched the TK of '%s'", entity_id, user_id, pne);
  body.tk_delivery.pne = CPNS_STR (pne);
  body.tk_delivery.kid = CPNS_BYTES (g_bytes_get_data (kid, NULL), g_bytes_get_size (kid));
  body.tk_delivery.tk = CPNS_BYTES (tk->data, tk->len);
  return encode_answer (CPNS_MSG_TK_DELIVERY, TRUE, &body, answer, error);
}

static gboolean
local_key_request (const SrvRequestContext *ctx, const char *entity_id,
                   const char *user_id, const CpnsBody *req, SrvAnswer *answer,
                   GError **error)
{
  char pne[CPNS_ID_MAX + 1];
  g_autoptr(GError) local = NULL;
  g_autoptr(CpnsSecret) pne_eukey = NULL;
  g_autofree char *kid_hex = NULL;
  guint8 key[LOCAL_KEY_LEN], kid[LOCAL_KID_LEN], wrapped[CPNS_WRAPPED_KEY_MAX];
  CpnsWrapBinding binding = { entity_id, pne, "", kid, sizeof kid };
  CpnsBody body = { .present = 1u << 1 | 1u << 2 | 1u << 3 | 1u << 4 };
  gsize w_len;
  gboolean ok;

  if (!pne_id (req, pne, error))
    return FALSE;
  if (strcmp (pne, entity_id) == 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "a LocalEUKey pairs a PNE with another entity, not with itself");
      return FALSE;
    }
  if (!cpns_random (key, sizeof key, error) || !cpns_random (kid, sizeof kid, error))
    return FALSE;
  pne_eukey = srv_store_set_local_key (ctx->store, pne, entity_id, user_id, kid,
                                       sizeof kid, key, sizeof key, &local);
  if (pne_eukey == NULL)
    {
      cpns_wipe (key, sizeof key);
      if (is_refusal (local))
        {
          g_message ("'%s' (user '%s') refused a LocalEUKey for '%s': %s", entity_id,
                     user_id, pne, local->message);
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_FORBIDDEN,
                       "no LocalEUKey for '%s' for this user", pne);
          return FALSE;
        }
      if (g_error_matches (local, SRV_STORE_ERROR, SRV_STORE_ERROR_CONFLICT))
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                       "'%s' holds no EUKey yet: enrol it first", pne);
          return FALSE;
        }
      return store_failure ("LOCAL_KEY_REQUEST", local, error);
    }
  w_len = cpns_wrap_seal (CPNS_WRAP_LOCAL_EUKEY, pne_eukey->data, pne_eukey->len,
                          &binding, key, sizeof key, wrapped, sizeof wrapped, error);
  if (w_len == 0)
    {
      cpns_wipe (key, sizeof key);
      return FALSE;
    }
  kid_hex = srv_hex_encode (kid, sizeof kid);
  g_message ("'%s' (user '%s') got LocalEUKey %s for '%s'", entity_id, user_id, kid_hex,
             pne);
  /* Messages waiting for the PNE now go to this gateway's polls. */
  srv_mailbox_reroute (ctx->mailbox, pne);
  body.local_key_delivery.pne = CPNS_STR (pne);
  body.local_key_delivery.kid = CPNS_BYTES (kid, sizeof kid);
  body.local_key_delivery.local_key = CPNS_BYTES (key, sizeof key);
  body.local_key_delivery.wrapped_for_pne = CPNS_BYTES (wrapped, w_len);
  ok = encode_answer (CPNS_MSG_LOCAL_KEY_DELIVERY, TRUE, &body, answer, error);
  cpns_wipe (key, sizeof key);
  return ok;
}

static gboolean
pne_release (const SrvRequestContext *ctx, const char *entity_id, const char *user_id,
             const CpnsBody *req, SrvAnswer *answer, GError **error)
{
  char pne[CPNS_ID_MAX + 1];
  g_autoptr(GError) local = NULL;
  CpnsBody body = { .present = 1u << 1 };

  if (!pne_id (req, pne, error))
    return FALSE;
  if (!srv_store_release (ctx->store, pne, user_id, &local))
    {
      if (!is_refusal (local))
        return store_failure ("PNE_RELEASE", local, error);
      g_message ("'%s' (user '%s') may not release '%s': %s", entity_id, user_id, pne,
                 local->message);
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_FORBIDDEN,
                   "only the owner may release '%s'", pne);
      return FALSE;
    }
  g_message ("'%s' (user '%s') released '%s'", entity_id, user_id, pne);
  /* Its LocalEUKeys are gone: the PNEs it was the gateway of are not
   * reached through it any more. */
  srv_mailbox_reroute_via (ctx->mailbox, pne);
  body.ack.type = CPNS_MSG_PNE_RELEASE;
  if (!encode_answer (CPNS_MSG_ACK, FALSE, &body, answer, error))
    return FALSE;
  /* Only after the ACK is sealed: a gateway may release itself. */
  answer->end_sessions_of = g_strdup (pne);
  return TRUE;
}

static gboolean
data (const SrvRequestContext *ctx, const char *entity_id, const CpnsHeader *hdr,
      const CpnsBody *req, SrvAnswer *answer, GError **error)
{
  CpnsBody body = { .present = 1u << 1 };
  g_autoptr(CpnsSecret) encoded = NULL;
  gsize len;

  switch (req->data.content_type)
    {
    case SRV_DATA_ECHO:
      return encode_answer (CPNS_MSG_DATA, hdr->encrypted, req, answer, error);
    case SRV_DATA_ECHO_QUEUED:
      encoded = cpns_secret_new0 (CPNS_MAX_BODY);
      len = cpns_body_encode (CPNS_MSG_DATA, req, encoded->data, encoded->len, error);
      if (len == 0 ||
          !srv_mailbox_post (ctx->mailbox, entity_id, CPNS_MSG_DATA, hdr->encrypted,
                             encoded->data, len, error))
        return FALSE;
      body.ack.type = CPNS_MSG_DATA;
      return encode_answer (CPNS_MSG_ACK, hdr->encrypted, &body, answer, error);
    default:
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED,
                   "DATA of content type %" G_GUINT64_FORMAT " is not served here",
                   req->data.content_type);
      return FALSE;
    }
}

gboolean
srv_requests_answer (const SrvRequestContext *ctx, const char *entity_id,
                     const char *user_id, const CpnsHeader *hdr, const CpnsBody *body,
                     SrvAnswer *answer, GError **error)
{
  memset (answer, 0, sizeof *answer);
  switch (hdr->type)
    {
    case CPNS_MSG_TK_REQUEST:
      return tk_request (ctx, entity_id, user_id, body, answer, error);
    case CPNS_MSG_LOCAL_KEY_REQUEST:
      return local_key_request (ctx, entity_id, user_id, body, answer, error);
    case CPNS_MSG_PNE_RELEASE:
      return pne_release (ctx, entity_id, user_id, body, answer, error);
    case CPNS_MSG_DATA:
      return data (ctx, entity_id, hdr, body, answer, error);
    case CPNS_MSG_ACK:
      return TRUE;
    case CPNS_MSG_ERROR:
      {
        /* The reason is the entity's text: escaped, it cannot forge log lines. */
        g_autofree char *reason = g_strndup ((const char *) body->error.reason.data,
                                             body->error.reason.len);
        g_autofree char *escaped = g_strescape (reason, NULL);
        g_message ("'%s' reports error %" G_GUINT64_FORMAT " (%s): %s", entity_id,
                   body->error.code, cpns_error_code_to_string (body->error.code),
                   escaped);
      }
      return TRUE;
    case CPNS_MSG_POLL:
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE, "POLL belongs on /poll");
      return FALSE;
    default:
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED,
                   "the server does not take %s in a session",
                   cpns_msg_type_name (hdr->type));
      return FALSE;
    }
}
