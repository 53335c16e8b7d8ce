/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-key-client.h"

#include <string.h>

#include "cpns-error.h"
#include "cpns-srp.h"
#include "cpns-wrap.h"

typedef enum {
  STATE_NEW,
  STATE_REQUESTED,
  STATE_ANSWERED,
  STATE_DONE,
  STATE_FAILED,
} State;

struct _CpnsKeyClient {
  State          state;
  char           self_id[CPNS_ID_MAX + 1];
  char           server_id[CPNS_ID_MAX + 1];
  char           subject[CPNS_ID_MAX + 1];   /* the entity the key is for */
  gboolean       has_subject;
  char          *user_id;
  guint64        txid;
  CpnsSrpClient *srp;
  CpnsSecret    *key;
  guint8         kid[CPNS_KID_MAX];
  gsize          kid_len;
};

CpnsKeyClient *
cpns_key_client_new (const char *self_id, const char *server_id, const char *subject,
                     const char *user_id, const guint8 *password, gsize password_len,
                     GError **error)
{
  g_autoptr(CpnsKeyClient) c = g_new0 (CpnsKeyClient, 1);
  guint8 r[4];

  if (!cpns_entity_id_is_valid (self_id, strlen (self_id)) ||
      !cpns_entity_id_is_valid (server_id, strlen (server_id)) ||
      (subject != NULL && !cpns_entity_id_is_valid (subject, strlen (subject))))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "Key Request needs valid Entity IDs");
      return NULL;
    }
  c->srp = cpns_srp_client_new (user_id, password, password_len, error);
  if (c->srp == NULL)
    return NULL;
  g_strlcpy (c->self_id, self_id, sizeof c->self_id);
  g_strlcpy (c->server_id, server_id, sizeof c->server_id);
  g_strlcpy (c->subject, subject != NULL ? subject : self_id, sizeof c->subject);
  c->has_subject = subject != NULL;
  c->user_id = g_strdup (user_id);
  if (!cpns_random (r, sizeof r, error))
    return NULL;
  c->txid = ((guint32) r[0] << 24 | r[1] << 16 | r[2] << 8 | r[3]) | 1;
  return g_steal_pointer (&c);
}

void
cpns_key_client_free (CpnsKeyClient *c)
{
  if (c == NULL)
    return;
  cpns_srp_client_free (c->srp);
  cpns_secret_free (c->key);
  g_free (c->user_id);
  cpns_wipe (c, sizeof *c);
  g_free (c);
}

guint64
cpns_key_client_get_txid (CpnsKeyClient *c)
{
  return c->txid;
}

static CpnsHeader
header (CpnsKeyClient *c, CpnsMsgType type)
{
  CpnsHeader hdr = { .version = CPNS_VERSION, .type = type, .txid = c->txid };

  g_strlcpy (hdr.src, c->self_id, sizeof hdr.src);
  g_strlcpy (hdr.dst, c->server_id, sizeof hdr.dst);
  return hdr;
}

static gboolean
fail (CpnsKeyClient *c)
{
  c->state = STATE_FAILED;
  g_clear_pointer (&c->srp, cpns_srp_client_free);
  return FALSE;
}

gsize
cpns_key_client_request (CpnsKeyClient *c, guint8 *out, gsize cap, GError **error)
{
  CpnsHeader hdr = header (c, CPNS_MSG_KEY_REQUEST);
  CpnsBody body = { .present = 1u << 1 };
  gsize len;

  if (c->state != STATE_NEW)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE, "Key Request already sent");
      return 0;
    }
  body.key_request.user_id = CPNS_STR (c->user_id);
  if (c->has_subject)
    {
      body.key_request.subject = CPNS_STR (c->subject);
      body.present |= 1u << 2;
    }
  len = cpns_plain_encode (&hdr, &body, NULL, 0, out, cap, error);
  if (len == 0)
    return fail (c);
  c->state = STATE_REQUESTED;
  return len;
}

gboolean
cpns_error_from_message (const guint8 *in, gsize in_len, GError **error)
{
  CpnsPlainMessage msg;
  const CpnsErrorBody *e;

  if (!cpns_plain_decode (in, in_len, &msg, NULL) || msg.hdr.type != CPNS_MSG_ERROR)
    return FALSE;
  e = &msg.body.error;
  g_set_error (error, CPNS_ERROR, e->code, "%s refused the request: %.*s (%s)",
               msg.hdr.src, (int) e->reason.len, e->reason.data,
               cpns_error_code_to_string (e->code));
  return TRUE;
}

/* Decodes a reply that must be @type from the server to us in our
 * transaction; a plain ERROR becomes the GError it carries. */
static gboolean
decode_reply (CpnsKeyClient *c, const guint8 *in, gsize in_len, CpnsMsgType type,
              CpnsPlainMessage *msg, GError **error)
{
  if (cpns_error_from_message (in, in_len, error))
    return FALSE;
  if (!cpns_plain_decode (in, in_len, msg, error))
    return FALSE;
  if (msg->hdr.type != type)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE, "expected %s, got %s",
                   cpns_msg_type_name (type), cpns_msg_type_name (msg->hdr.type));
      return FALSE;
    }
  if (strcmp (msg->hdr.src, c->server_id) != 0 || strcmp (msg->hdr.dst, c->self_id) != 0 ||
      msg->hdr.txid != c->txid)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "%s from '%s' to '%s' in transaction %" G_GUINT64_FORMAT
                   " is not the answer to our Key Request", cpns_msg_type_name (type),
                   msg->hdr.src, msg->hdr.dst, msg->hdr.txid);
      return FALSE;
    }
  return TRUE;
}

gsize
cpns_key_client_answer (CpnsKeyClient *c, const guint8 *in, gsize in_len, guint8 *out,
                        gsize cap, GError **error)
{
  CpnsPlainMessage msg;
  CpnsHeader hdr = header (c, CPNS_MSG_KEY_PROOF);
  CpnsBody body = { .present = 1u << 1 | 1u << 2 };
  guint8 a[CPNS_SRP_PUBLIC_LEN], m1[CPNS_SRP_PROOF_LEN];
  gsize a_len, len;
  const CpnsKeyChallenge *ch;

  if (c->state != STATE_REQUESTED)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE, "no Key Request is waiting");
      return 0;
    }
  if (!decode_reply (c, in, in_len, CPNS_MSG_KEY_CHALLENGE, &msg, error))
    return fail (c);
  ch = &msg.body.key_challenge;
  if (!cpns_srp_client_respond (c->srp, ch->group, ch->salt.data, ch->salt.len,
                                ch->iterations, ch->server_public.data,
                                ch->server_public.len, a, &a_len, m1, error))
    return fail (c);
  body.key_proof.client_public = CPNS_BYTES (a, a_len);
  body.key_proof.client_proof = CPNS_BYTES (m1, sizeof m1);
  len = cpns_plain_encode (&hdr, &body, NULL, 0, out, cap, error);
  if (len == 0)
    return fail (c);
  c->state = STATE_ANSWERED;
  return len;
}

gboolean
cpns_key_client_accept (CpnsKeyClient *c, const guint8 *in, gsize in_len, GError **error)
{
  CpnsPlainMessage msg;
  const CpnsKeyDelivery *kd;
  const guint8 *k;
  gsize k_len;
  CpnsWrapBinding binding;

  if (c->state != STATE_ANSWERED)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE, "no Key Proof is waiting");
      return FALSE;
    }
  if (!decode_reply (c, in, in_len, CPNS_MSG_KEY_DELIVERY, &msg, error))
    return fail (c);
  kd = &msg.body.key_delivery;
  switch (kd->status)
    {
    case CPNS_KEY_STATUS_OK:
      break;
    case CPNS_KEY_STATUS_AUTH_FAILED:
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_AUTH_FAILED,
                   "the server did not accept User ID '%s' with this password",
                   c->user_id);
      return fail (c);
    case CPNS_KEY_STATUS_RATE_LIMITED:
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_RATE_LIMITED,
                   "too many failed attempts for '%s'; try again later", c->user_id);
      return fail (c);
    default:
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_FORBIDDEN,
                   "the server refused to give '%s' an EUKey for user '%s' "
                   "(status %" G_GUINT64_FORMAT ")", c->subject, c->user_id, kd->status);
      return fail (c);
    }
  if (kd->server_proof.len == 0 || kd->kid.len == 0 || kd->wrapped_key.len == 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "KEY_DELIVERY with status 0 lacks its proof, key ID or key");
      return fail (c);
    }
  /* The server must prove it knows the verifier before we trust its key. */
  if (!cpns_srp_client_verify (c->srp, kd->server_proof.data, kd->server_proof.len, error))
    {
      if (g_error_matches (*error, CPNS_ERROR, CPNS_ERROR_AUTH_FAILED))
        (*error)->code = CPNS_ERROR_BAD_MAC;
      g_prefix_error (error, "server is not who it claims: ");
      return fail (c);
    }
  k = cpns_srp_client_get_key (c->srp, &k_len);
  binding = (CpnsWrapBinding) {
    c->server_id, c->subject, c->user_id, kd->kid.data, kd->kid.len,
  };
  c->key = cpns_wrap_open (CPNS_WRAP_EUKEY_SRP, k, k_len, &binding, kd->wrapped_key.data,
                           kd->wrapped_key.len, error);
  if (c->key == NULL)
    return fail (c);
  memcpy (c->kid, kd->kid.data, kd->kid.len);
  c->kid_len = kd->kid.len;
  g_clear_pointer (&c->srp, cpns_srp_client_free);
  c->state = STATE_DONE;
  return TRUE;
}

const CpnsSecret *
cpns_key_client_get_key (CpnsKeyClient *c)
{
  return c->state == STATE_DONE ? c->key : NULL;
}

const guint8 *
cpns_key_client_get_kid (CpnsKeyClient *c, gsize *len)
{
  if (c->state != STATE_DONE)
    return NULL;
  *len = c->kid_len;
  return c->kid;
}
