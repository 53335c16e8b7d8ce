/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-reply.h"

#include <string.h>

#include "cpns-error.h"
#include "cpns-message.h"

#define REASON_MAX 256

SrvReply *
srv_reply_new (guint status, GBytes *body)
{
  SrvReply *r = g_new0 (SrvReply, 1);

  r->status = status;
  r->body = body;
  return r;
}

void
srv_reply_free (SrvReply *r)
{
  if (r == NULL)
    return;
  g_clear_pointer (&r->body, g_bytes_unref);
  g_free (r);
}

SrvReply *
srv_reply_plain (const char *self_id, const char *dst, guint64 type, guint64 txid,
                 const CpnsBody *body, GError **error)
{
  CpnsHeader hdr = { .version = CPNS_VERSION, .type = type, .txid = txid };
  g_autofree guint8 *buf = g_malloc (CPNS_MAX_MESSAGE);
  gsize len;

  if (!cpns_header_set_ids (&hdr, self_id, dst, error))
    return NULL;
  len = cpns_plain_encode (&hdr, body, NULL, 0, buf, CPNS_MAX_MESSAGE, error);
  if (len == 0)
    return NULL;
  return srv_reply_new (200, g_bytes_new (buf, len));
}

guint
srv_reply_status_for_code (guint code)
{
  switch ((CpnsError) code)
    {
    case CPNS_ERROR_MALFORMED:
    case CPNS_ERROR_UNSUPPORTED:
    case CPNS_ERROR_POLICY:
    case CPNS_ERROR_WRONG_ID:
    case CPNS_ERROR_STATE:
    case CPNS_ERROR_DOWNGRADE:
    case CPNS_ERROR_REFLECTION:
    case CPNS_ERROR_ROLE:
    case CPNS_ERROR_INVALID_ARGUMENT:
      return 400;
    /* Not in the table of protocol.md 11: a session past its limits is as
     * good as an expired one (the entity runs a new handshake), and a failed
     * user authentication is an authentication failure. */
    case CPNS_ERROR_BAD_MAC:
    case CPNS_ERROR_NOT_FOUND:
    case CPNS_ERROR_REKEY_NEEDED:
    case CPNS_ERROR_AUTH_FAILED:
      return 401;
    case CPNS_ERROR_FORBIDDEN:
      return 403;
    case CPNS_ERROR_REPLAY:
    case CPNS_ERROR_TOO_OLD:
      return 409;
    case CPNS_ERROR_TOO_LARGE:
      return 413;
    case CPNS_ERROR_RATE_LIMITED:
      return 429;
    case CPNS_ERROR_UNAVAILABLE:
      return 503;
    case CPNS_ERROR_FAILED:
    case CPNS_ERROR_IO:
    case CPNS_ERROR_CORRUPT:
    default:
      return 500;
    }
}

/* The wire allows 256 bytes of reason: cut at a character boundary. */
static gsize
reason_length (const char *reason)
{
  gsize len = strlen (reason);
  const char *end;

  if (len <= REASON_MAX)
    return len;
  end = g_utf8_find_prev_char (reason, reason + REASON_MAX + 1);
  return end != NULL ? (gsize) (end - reason) : 0;
}

SrvReply *
srv_reply_error (guint status, const char *self_id, const char *dst, guint64 txid,
                 guint code, const char *reason)
{
  CpnsHeader hdr = { .version = CPNS_VERSION, .type = CPNS_MSG_ERROR, .txid = txid };
  CpnsBody body = { .present = 1u << 1 | 1u << 2 };
  g_autoptr(GError) error = NULL;
  guint8 buf[1024];
  gsize len;

  if (status == 0)
    status = srv_reply_status_for_code (code);
  if (dst == NULL || !cpns_header_set_ids (&hdr, self_id, dst, NULL))
    cpns_header_set_ids (&hdr, self_id, "unknown", NULL);
  body.error.code = code;
  body.error.reason = CPNS_BYTES (reason, reason_length (reason));
  len = cpns_plain_encode (&hdr, &body, NULL, 0, buf, sizeof buf, &error);
  if (len == 0)
    {
      /* Only a bug gets here; the status still tells the client. */
      g_warning ("cannot encode an ERROR message: %s", error->message);
      return srv_reply_new (status, NULL);
    }
  return srv_reply_new (status, g_bytes_new (buf, len));
}

SrvReply *
srv_reply_from_error (const char *self_id, const char *dst, guint64 txid,
                      const GError *error)
{
  if (error->domain == CPNS_ERROR && error->code != CPNS_ERROR_FAILED &&
      error->code != CPNS_ERROR_IO && error->code != CPNS_ERROR_CORRUPT)
    return srv_reply_error (0, self_id, dst, txid, error->code, error->message);
  return srv_reply_error (0, self_id, dst, txid, CPNS_ERROR_FAILED,
                          "internal server error");
}
