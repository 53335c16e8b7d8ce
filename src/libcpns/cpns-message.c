/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-message.h"

#include <stddef.h>

#include "cpns-error.h"

/* ---- message types and their policy ---- */

typedef struct {
  guint64     type;
  const char *name;
  CpnsCarry   carry;
} MsgTypeInfo;

static const MsgTypeInfo msg_types[] = {
  { CPNS_MSG_HS_INIT, "HS_INIT", CPNS_CARRY_PLAIN },
  { CPNS_MSG_HS_RESP, "HS_RESP", CPNS_CARRY_PLAIN },
  { CPNS_MSG_HS_FINISH, "HS_FINISH", CPNS_CARRY_PLAIN },
  { CPNS_MSG_ERROR, "ERROR", CPNS_CARRY_PLAIN | CPNS_CARRY_RECORD },
  { CPNS_MSG_ACK, "ACK", CPNS_CARRY_RECORD },
  { CPNS_MSG_KEY_REQUEST, "KEY_REQUEST", CPNS_CARRY_PLAIN | CPNS_CARRY_RECORD },
  { CPNS_MSG_KEY_CHALLENGE, "KEY_CHALLENGE", CPNS_CARRY_PLAIN | CPNS_CARRY_RECORD },
  { CPNS_MSG_KEY_PROOF, "KEY_PROOF", CPNS_CARRY_PLAIN | CPNS_CARRY_RECORD },
  { CPNS_MSG_KEY_DELIVERY, "KEY_DELIVERY",
    CPNS_CARRY_PLAIN | CPNS_CARRY_RECORD | CPNS_CARRY_MUST_ENCRYPT },
  { CPNS_MSG_TK_REQUEST, "TK_REQUEST", CPNS_CARRY_RECORD },
  { CPNS_MSG_TK_DELIVERY, "TK_DELIVERY", CPNS_CARRY_RECORD | CPNS_CARRY_MUST_ENCRYPT },
  { CPNS_MSG_LOCAL_KEY_REQUEST, "LOCAL_KEY_REQUEST", CPNS_CARRY_RECORD },
  { CPNS_MSG_LOCAL_KEY_DELIVERY, "LOCAL_KEY_DELIVERY",
    CPNS_CARRY_RECORD | CPNS_CARRY_MUST_ENCRYPT },
  { CPNS_MSG_EUKEY_TK_DELIVERY, "EUKEY_TK_DELIVERY",
    CPNS_CARRY_PLAIN | CPNS_CARRY_RECORD | CPNS_CARRY_MUST_ENCRYPT },
  { CPNS_MSG_PNE_RELEASE, "PNE_RELEASE", CPNS_CARRY_RECORD },
  { CPNS_MSG_PNE_ANNOUNCE, "PNE_ANNOUNCE", CPNS_CARRY_PLAIN | CPNS_CARRY_RECORD },
  { CPNS_MSG_PATH_SELECT, "PATH_SELECT", CPNS_CARRY_PLAIN | CPNS_CARRY_RECORD },
  { CPNS_MSG_CREDENTIAL_INSTALL, "CREDENTIAL_INSTALL",
    CPNS_CARRY_RECORD | CPNS_CARRY_MUST_ENCRYPT },
  { CPNS_MSG_LOCAL_KEY_INSTALL, "LOCAL_KEY_INSTALL",
    CPNS_CARRY_PLAIN | CPNS_CARRY_RECORD | CPNS_CARRY_MUST_ENCRYPT },
  { CPNS_MSG_DATA, "DATA", CPNS_CARRY_RECORD },
  { CPNS_MSG_POLL, "POLL", CPNS_CARRY_RECORD },
};

/* Indexed by type: looked up for every record. */
static const MsgTypeInfo *
msg_type_info (guint64 type)
{
  static const MsgTypeInfo *by_type[CPNS_MSG_TYPE_MAX];
  static gsize ready;

  if (g_once_init_enter (&ready))
    {
      for (gsize i = 0; i < G_N_ELEMENTS (msg_types); i++)
        by_type[msg_types[i].type] = &msg_types[i];
      g_once_init_leave (&ready, 1);
    }
  return type < G_N_ELEMENTS (by_type) ? by_type[type] : NULL;
}

const char *
cpns_msg_type_name (guint64 type)
{
  const MsgTypeInfo *info = msg_type_info (type);
  return info != NULL ? info->name : "unknown";
}

CpnsCarry
cpns_msg_type_carry (guint64 type)
{
  const MsgTypeInfo *info = msg_type_info (type);
  return info != NULL ? info->carry : 0;
}

/* ---- Entity IDs ---- */

gboolean
cpns_entity_id_is_valid (const char *id, gsize len)
{
  if (len == 0 || len > CPNS_ID_MAX)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      char c = id[i];
      if (!g_ascii_isalnum (c) && c != '.' && c != '_' && c != '-' &&
          c != ':' && c != '@')
        return FALSE;
    }
  return TRUE;
}

gboolean
cpns_header_set_ids (CpnsHeader *hdr, const char *src, const char *dst,
                     GError **error)
{
  if (!cpns_entity_id_is_valid (src, strlen (src)) ||
      !cpns_entity_id_is_valid (dst, strlen (dst)))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "invalid Entity ID '%s' or '%s' (1-%d characters of "
                   "A-Z a-z 0-9 . _ - : @)", src, dst, CPNS_ID_MAX);
      return FALSE;
    }
  g_strlcpy (hdr->src, src, sizeof hdr->src);
  g_strlcpy (hdr->dst, dst, sizeof hdr->dst);
  return TRUE;
}

/* ---- header map ---- */

enum {
  HDR_VERSION = 1,
  HDR_TYPE = 2,
  HDR_TXID = 3,
  HDR_SRC = 4,
  HDR_DST = 5,
  HDR_SESSION = 6,
  HDR_SEQ = 7,
  HDR_ENCRYPTED = 8,
};

void
cpns_header_write (CpnsCborWriter *w, const CpnsHeader *hdr)
{
  cpns_cbor_put_map (w, hdr->in_record ? 8 : 6);
  cpns_cbor_put_uint (w, HDR_VERSION);
  cpns_cbor_put_uint (w, hdr->version);
  cpns_cbor_put_uint (w, HDR_TYPE);
  cpns_cbor_put_uint (w, hdr->type);
  cpns_cbor_put_uint (w, HDR_TXID);
  cpns_cbor_put_uint (w, hdr->txid);
  cpns_cbor_put_uint (w, HDR_SRC);
  cpns_cbor_put_text (w, hdr->src, strlen (hdr->src));
  cpns_cbor_put_uint (w, HDR_DST);
  cpns_cbor_put_text (w, hdr->dst, strlen (hdr->dst));
  if (hdr->in_record)
    {
      cpns_cbor_put_uint (w, HDR_SESSION);
      cpns_cbor_put_bytes (w, hdr->session_id, CPNS_SESSION_ID_LEN);
      cpns_cbor_put_uint (w, HDR_SEQ);
      cpns_cbor_put_uint (w, hdr->seq);
    }
  cpns_cbor_put_uint (w, HDR_ENCRYPTED);
  cpns_cbor_put_bool (w, hdr->encrypted);
}

static gboolean
read_id (CpnsCborReader *r, char *out, const char *what, GError **error)
{
  const char *text;
  gsize len;

  if (!cpns_cbor_read_text (r, &text, &len, what, error))
    return FALSE;
  if (!cpns_entity_id_is_valid (text, len))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: not a valid Entity ID (1-%d characters of "
                   "A-Z a-z 0-9 . _ - : @)", what, CPNS_ID_MAX);
      return FALSE;
    }
  memcpy (out, text, len);
  out[len] = '\0';
  return TRUE;
}

gboolean
cpns_header_read (CpnsCborReader *r, CpnsHeader *hdr, gboolean in_record,
                  GError **error)
{
  guint32 seen = 0;
  guint32 required;
  gsize count;

  memset (hdr, 0, sizeof *hdr);
  hdr->in_record = in_record;
  required = (1u << HDR_VERSION) | (1u << HDR_TYPE) | (1u << HDR_TXID) |
             (1u << HDR_SRC) | (1u << HDR_DST) | (1u << HDR_ENCRYPTED);
  if (in_record)
    required |= (1u << HDR_SESSION) | (1u << HDR_SEQ);

  if (!cpns_cbor_read_map (r, &count, "header", error))
    return FALSE;
  if (count > 8)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "header: %" G_GSIZE_FORMAT " entries, at most 8 allowed", count);
      return FALSE;
    }
  for (gsize i = 0; i < count; i++)
    {
      guint64 key;
      gboolean ok;

      if (!cpns_cbor_read_uint (r, &key, "header key", error))
        return FALSE;
      if (key > 31 || !(required & (1u << key)))
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                       "header: unknown key %" G_GUINT64_FORMAT "%s", key,
                       (key == HDR_SESSION || key == HDR_SEQ) ?
                       " (session ID and sequence number belong in records only)" : "");
          return FALSE;
        }
      if (seen & (1u << key))
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                       "header: duplicate key %" G_GUINT64_FORMAT, key);
          return FALSE;
        }
      seen |= 1u << key;

      switch (key)
        {
        case HDR_VERSION:
          ok = cpns_cbor_read_uint (r, &hdr->version, "header version", error);
          if (ok && hdr->version != CPNS_VERSION)
            {
              g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED,
                           "header: protocol version %" G_GUINT64_FORMAT
                           " is not supported (this implementation speaks %d)",
                           hdr->version, CPNS_VERSION);
              return FALSE;
            }
          break;
        case HDR_TYPE:
          ok = cpns_cbor_read_uint (r, &hdr->type, "header message type", error);
          if (ok && cpns_msg_type_carry (hdr->type) == 0)
            {
              g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED,
                           "header: unknown message type %" G_GUINT64_FORMAT,
                           hdr->type);
              return FALSE;
            }
          break;
        case HDR_TXID:
          ok = cpns_cbor_read_uint (r, &hdr->txid, "header transaction ID", error);
          break;
        case HDR_SRC:
          ok = read_id (r, hdr->src, "header source ID", error);
          break;
        case HDR_DST:
          ok = read_id (r, hdr->dst, "header destination ID", error);
          break;
        case HDR_SESSION:
          {
            const guint8 *sid;
            gsize len;
            ok = cpns_cbor_read_bytes (r, &sid, &len, "header session ID", error);
            if (ok && len != CPNS_SESSION_ID_LEN)
              {
                g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                             "header session ID: %" G_GSIZE_FORMAT
                             " bytes, must be %d", len, CPNS_SESSION_ID_LEN);
                return FALSE;
              }
            if (ok)
              memcpy (hdr->session_id, sid, CPNS_SESSION_ID_LEN);
          }
          break;
        case HDR_SEQ:
          ok = cpns_cbor_read_uint (r, &hdr->seq, "header sequence number", error);
          break;
        case HDR_ENCRYPTED:
          ok = cpns_cbor_read_bool (r, &hdr->encrypted, "header Encrypted flag", error);
          break;
        default:
          g_assert_not_reached ();
        }
      if (!ok)
        return FALSE;
    }
  if (seen != required)
    {
      guint32 missing = required & ~seen;
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "header: required key %d is missing", g_bit_nth_lsf (missing, -1));
      return FALSE;
    }
  return TRUE;
}

/* ---- bodies: one schema table per message type ---- */

typedef enum {
  FIELD_UINT,
  FIELD_BOOL,
  FIELD_BYTES,
  FIELD_TEXT,
  FIELD_ID,
  FIELD_UINT_LIST,
} FieldKind;

typedef struct {
  guint8      key;
  const char *name;
  FieldKind   kind;
  gboolean    required;
  gsize       min, max;   /* length bounds, or value bounds for FIELD_UINT */
  gsize       offset;     /* in CpnsBody */
} FieldSpec;

#define F(k, n, kind, req, min, max, member) \
  { k, n, kind, req, min, max, offsetof (CpnsBody, member) }

static const FieldSpec hs_init_fields[] = {
  F (1, "suites", FIELD_UINT_LIST, TRUE, 1, CPNS_LIST_MAX, hs_init.suites),
  F (2, "modes", FIELD_UINT_LIST, TRUE, 1, CPNS_LIST_MAX, hs_init.modes),
  F (3, "key ID", FIELD_BYTES, TRUE, 1, CPNS_KID_MAX, hs_init.kid),
  F (4, "initiator nonce", FIELD_BYTES, TRUE, 32, 32, hs_init.nonce),
  F (5, "initiator key share", FIELD_BYTES, FALSE, 32, 32, hs_init.key_share),
  F (6, "purpose", FIELD_UINT, TRUE, 1, 255, hs_init.purpose),
  { 0 }
};
static const FieldSpec hs_resp_fields[] = {
  F (1, "suite", FIELD_UINT, TRUE, 0, G_MAXUINT16, hs_resp.suite),
  F (2, "mode", FIELD_UINT, TRUE, 0, 255, hs_resp.mode),
  F (3, "responder nonce", FIELD_BYTES, TRUE, 32, 32, hs_resp.nonce),
  F (4, "responder key share", FIELD_BYTES, FALSE, 32, 32, hs_resp.key_share),
  { 0 }
};
static const FieldSpec empty_fields[] = { { 0 } };
static const FieldSpec error_fields[] = {
  F (1, "code", FIELD_UINT, TRUE, 1, G_MAXUINT16, error.code),
  F (2, "reason", FIELD_TEXT, TRUE, 0, 256, error.reason),
  { 0 }
};
static const FieldSpec ack_fields[] = {
  F (1, "acknowledged type", FIELD_UINT, TRUE, 1, CPNS_MSG_TYPE_MAX - 1, ack.type),
  { 0 }
};
static const FieldSpec key_request_fields[] = {
  F (1, "user ID", FIELD_TEXT, TRUE, 1, CPNS_USER_ID_MAX, key_request.user_id),
  F (2, "subject entity", FIELD_ID, FALSE, 1, CPNS_ID_MAX, key_request.subject),
  { 0 }
};
static const FieldSpec key_challenge_fields[] = {
  F (1, "group", FIELD_UINT, TRUE, 1, 255, key_challenge.group),
  F (2, "salt", FIELD_BYTES, TRUE, 16, 64, key_challenge.salt),
  F (3, "iterations", FIELD_UINT, TRUE, 1, 100000000, key_challenge.iterations),
  F (4, "server public value", FIELD_BYTES, TRUE, 1, 512, key_challenge.server_public),
  { 0 }
};
static const FieldSpec key_proof_fields[] = {
  F (1, "client public value", FIELD_BYTES, TRUE, 1, 512, key_proof.client_public),
  F (2, "client proof", FIELD_BYTES, TRUE, 32, 32, key_proof.client_proof),
  { 0 }
};
static const FieldSpec key_delivery_fields[] = {
  F (1, "status", FIELD_UINT, TRUE, 0, 255, key_delivery.status),
  F (2, "server proof", FIELD_BYTES, FALSE, 32, 32, key_delivery.server_proof),
  F (3, "key ID", FIELD_BYTES, FALSE, 1, CPNS_KID_MAX, key_delivery.kid),
  F (4, "wrapped key", FIELD_BYTES, FALSE, 1, 256, key_delivery.wrapped_key),
  { 0 }
};
static const FieldSpec pne_ref_fields[] = {
  F (1, "PNE ID", FIELD_ID, TRUE, 1, CPNS_ID_MAX, pne_ref.pne),
  { 0 }
};
static const FieldSpec tk_delivery_fields[] = {
  F (1, "PNE ID", FIELD_ID, TRUE, 1, CPNS_ID_MAX, tk_delivery.pne),
  F (2, "key ID", FIELD_BYTES, TRUE, 1, CPNS_KID_MAX, tk_delivery.kid),
  F (3, "temporary key", FIELD_BYTES, TRUE, 16, 64, tk_delivery.tk),
  { 0 }
};
static const FieldSpec local_key_delivery_fields[] = {
  F (1, "PNE ID", FIELD_ID, TRUE, 1, CPNS_ID_MAX, local_key_delivery.pne),
  F (2, "key ID", FIELD_BYTES, TRUE, 1, CPNS_KID_MAX, local_key_delivery.kid),
  F (3, "LocalEUKey", FIELD_BYTES, TRUE, 32, 32, local_key_delivery.local_key),
  F (4, "LocalEUKey wrapped for the PNE", FIELD_BYTES, TRUE, 1, 256,
     local_key_delivery.wrapped_for_pne),
  { 0 }
};
static const FieldSpec eukey_tk_delivery_fields[] = {
  F (1, "key ID", FIELD_BYTES, TRUE, 1, CPNS_KID_MAX, eukey_tk_delivery.kid),
  F (2, "temporary key ID", FIELD_BYTES, TRUE, 1, CPNS_KID_MAX, eukey_tk_delivery.tk_kid),
  F (3, "wrapped EUKey", FIELD_BYTES, TRUE, 1, 256, eukey_tk_delivery.wrapped_key),
  F (4, "user ID", FIELD_TEXT, TRUE, 1, CPNS_USER_ID_MAX, eukey_tk_delivery.user_id),
  { 0 }
};
static const FieldSpec pne_announce_fields[] = {
  F (1, "name", FIELD_TEXT, TRUE, 1, 64, pne_announce.name),
  F (2, "has UI", FIELD_BOOL, TRUE, 0, 0, pne_announce.has_ui),
  F (3, "has temporary key", FIELD_BOOL, TRUE, 0, 0, pne_announce.has_tk),
  F (4, "temporary key ID", FIELD_BYTES, FALSE, 1, CPNS_KID_MAX, pne_announce.tk_kid),
  F (5, "EUKey ID", FIELD_BYTES, FALSE, 1, CPNS_KID_MAX, pne_announce.eukey_kid),
  F (6, "LocalEUKey ID", FIELD_BYTES, FALSE, 1, CPNS_KID_MAX, pne_announce.local_kid),
  { 0 }
};
static const FieldSpec path_select_fields[] = {
  F (1, "path", FIELD_UINT, TRUE, CPNS_PATH_SESSION, CPNS_PATH_TEMPORARY_KEY,
     path_select.path),
  F (2, "server ID", FIELD_ID, FALSE, 1, CPNS_ID_MAX, path_select.server_id),
  { 0 }
};
static const FieldSpec local_key_install_fields[] = {
  F (1, "key ID", FIELD_BYTES, TRUE, 1, CPNS_KID_MAX, local_key_install.kid),
  F (2, "wrapped LocalEUKey", FIELD_BYTES, TRUE, 1, 256, local_key_install.wrapped_key),
  { 0 }
};
static const FieldSpec credential_install_fields[] = {
  F (1, "user ID", FIELD_TEXT, TRUE, 1, CPNS_USER_ID_MAX, credential_install.user_id),
  F (2, "password", FIELD_BYTES, TRUE, 1, 256, credential_install.password),
  { 0 }
};
static const FieldSpec data_fields[] = {
  F (1, "content type", FIELD_UINT, TRUE, 0, G_MAXUINT32, data.content_type),
  F (2, "data", FIELD_BYTES, TRUE, 0, CPNS_MAX_BODY - 64, data.data),
  { 0 }
};

static const FieldSpec *
body_schema (guint64 type)
{
  switch ((CpnsMsgType) type)
    {
    case CPNS_MSG_HS_INIT: return hs_init_fields;
    case CPNS_MSG_HS_RESP: return hs_resp_fields;
    case CPNS_MSG_HS_FINISH: return empty_fields;
    case CPNS_MSG_ERROR: return error_fields;
    case CPNS_MSG_ACK: return ack_fields;
    case CPNS_MSG_KEY_REQUEST: return key_request_fields;
    case CPNS_MSG_KEY_CHALLENGE: return key_challenge_fields;
    case CPNS_MSG_KEY_PROOF: return key_proof_fields;
    case CPNS_MSG_KEY_DELIVERY: return key_delivery_fields;
    case CPNS_MSG_TK_REQUEST: return pne_ref_fields;
    case CPNS_MSG_TK_DELIVERY: return tk_delivery_fields;
    case CPNS_MSG_LOCAL_KEY_REQUEST: return pne_ref_fields;
    case CPNS_MSG_LOCAL_KEY_DELIVERY: return local_key_delivery_fields;
    case CPNS_MSG_EUKEY_TK_DELIVERY: return eukey_tk_delivery_fields;
    case CPNS_MSG_PNE_RELEASE: return pne_ref_fields;
    case CPNS_MSG_PNE_ANNOUNCE: return pne_announce_fields;
    case CPNS_MSG_PATH_SELECT: return path_select_fields;
    case CPNS_MSG_CREDENTIAL_INSTALL: return credential_install_fields;
    case CPNS_MSG_LOCAL_KEY_INSTALL: return local_key_install_fields;
    case CPNS_MSG_DATA: return data_fields;
    case CPNS_MSG_POLL: return empty_fields;
    }
  return NULL;
}

#define FIELD_PTR(body, spec, T) ((T *) ((guint8 *) (body) + (spec)->offset))

/* One check for both directions, so we never send what a peer must reject. */
static gboolean
check_field (const FieldSpec *f, const CpnsBody *body, guint64 type, GError **error)
{
  const char *tname = cpns_msg_type_name (type);

  switch (f->kind)
    {
    case FIELD_UINT:
      {
        guint64 v = *FIELD_PTR (body, f, const guint64);
        if (v < f->min || v > f->max)
          {
            g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                         "%s %s: value %" G_GUINT64_FORMAT " outside %"
                         G_GSIZE_FORMAT "..%" G_GSIZE_FORMAT,
                         tname, f->name, v, f->min, f->max);
            return FALSE;
          }
      }
      break;
    case FIELD_BOOL:
      break;
    case FIELD_BYTES:
    case FIELD_TEXT:
    case FIELD_ID:
      {
        const CpnsBytes *b = FIELD_PTR (body, f, const CpnsBytes);
        if (b->len < f->min || b->len > f->max)
          {
            g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                         "%s %s: %" G_GSIZE_FORMAT " bytes, must be %"
                         G_GSIZE_FORMAT "..%" G_GSIZE_FORMAT,
                         tname, f->name, b->len, f->min, f->max);
            return FALSE;
          }
        if (f->kind == FIELD_ID &&
            !cpns_entity_id_is_valid ((const char *) b->data, b->len))
          {
            g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                         "%s %s: not a valid Entity ID", tname, f->name);
            return FALSE;
          }
        if (f->kind == FIELD_TEXT &&
            !g_utf8_validate_len ((const char *) b->data, b->len, NULL))
          {
            g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                         "%s %s: not valid UTF-8", tname, f->name);
            return FALSE;
          }
      }
      break;
    case FIELD_UINT_LIST:
      {
        const CpnsUintList *l = FIELD_PTR (body, f, const CpnsUintList);
        if (l->n < f->min || l->n > f->max)
          {
            g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                         "%s %s: %u entries, must be %" G_GSIZE_FORMAT "..%"
                         G_GSIZE_FORMAT, tname, f->name, l->n, f->min, f->max);
            return FALSE;
          }
      }
      break;
    }
  return TRUE;
}

/* Rules that tie fields together, beyond what one field's schema says. */
static gboolean
check_body_rules (guint64 type, const CpnsBody *body, GError **error)
{
  if (type == CPNS_MSG_KEY_DELIVERY)
    {
      guint32 key_fields = body->present & (1u << 2 | 1u << 3 | 1u << 4);
      gboolean ok = body->key_delivery.status == CPNS_KEY_STATUS_OK;

      if (ok ? key_fields != (1u << 2 | 1u << 3 | 1u << 4) : key_fields != 0)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                       "KEY_DELIVERY: server proof, key ID and wrapped key must be "
                       "present exactly when the status is 0 (status %" G_GUINT64_FORMAT
                       ")", body->key_delivery.status);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
cpns_body_write (CpnsCborWriter *w, guint64 type, const CpnsBody *body,
                 GError **error)
{
  const FieldSpec *schema = body_schema (type);
  gsize count = 0;

  if (schema == NULL)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED,
                   "unknown message type %" G_GUINT64_FORMAT, type);
      return FALSE;
    }
  for (const FieldSpec *f = schema; f->name != NULL; f++)
    {
      if (!(body->present & (1u << f->key)))
        {
          if (f->required)
            {
              g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                           "%s: required field %s is missing",
                           cpns_msg_type_name (type), f->name);
              return FALSE;
            }
          continue;
        }
      if (!check_field (f, body, type, error))
        return FALSE;
      count++;
    }
  if (!check_body_rules (type, body, error))
    return FALSE;

  cpns_cbor_put_map (w, count);
  for (const FieldSpec *f = schema; f->name != NULL; f++)
    {
      if (!(body->present & (1u << f->key)))
        continue;
      cpns_cbor_put_uint (w, f->key);
      switch (f->kind)
        {
        case FIELD_UINT:
          cpns_cbor_put_uint (w, *FIELD_PTR (body, f, const guint64));
          break;
        case FIELD_BOOL:
          cpns_cbor_put_bool (w, *FIELD_PTR (body, f, const gboolean));
          break;
        case FIELD_BYTES:
          {
            const CpnsBytes *b = FIELD_PTR (body, f, const CpnsBytes);
            cpns_cbor_put_bytes (w, b->data, b->len);
          }
          break;
        case FIELD_TEXT:
        case FIELD_ID:
          {
            const CpnsBytes *b = FIELD_PTR (body, f, const CpnsBytes);
            cpns_cbor_put_text (w, (const char *) b->data, b->len);
          }
          break;
        case FIELD_UINT_LIST:
          {
            const CpnsUintList *l = FIELD_PTR (body, f, const CpnsUintList);
            cpns_cbor_put_array (w, l->n);
            for (guint i = 0; i < l->n; i++)
              cpns_cbor_put_uint (w, l->v[i]);
          }
          break;
        }
    }
  return cpns_cbor_writer_check (w, error);
}

static gboolean
read_field (CpnsCborReader *r, const FieldSpec *f, CpnsBody *body,
            const char *tname, GError **error)
{
  static const CpnsCborType expected[] = {
    [FIELD_UINT] = CPNS_CBOR_UINT,
    [FIELD_BOOL] = CPNS_CBOR_BOOL,
    [FIELD_BYTES] = CPNS_CBOR_BYTES,
    [FIELD_TEXT] = CPNS_CBOR_TEXT,
    [FIELD_ID] = CPNS_CBOR_TEXT,
    [FIELD_UINT_LIST] = CPNS_CBOR_ARRAY,
  };
  CpnsCborItem item;

  if (!cpns_cbor_read (r, &item, f->name, error))
    return FALSE;
  if (item.type != expected[f->kind])
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s %s: expected %s, got %s", tname, f->name,
                   cpns_cbor_type_name (expected[f->kind]),
                   cpns_cbor_type_name (item.type));
      return FALSE;
    }

  switch (f->kind)
    {
    case FIELD_UINT:
      *FIELD_PTR (body, f, guint64) = item.value;
      break;
    case FIELD_BOOL:
      *FIELD_PTR (body, f, gboolean) = item.boolean;
      break;
    case FIELD_BYTES:
    case FIELD_TEXT:
    case FIELD_ID:
      *FIELD_PTR (body, f, CpnsBytes) = CPNS_BYTES (item.data, item.len);
      break;
    case FIELD_UINT_LIST:
      {
        CpnsUintList *l = FIELD_PTR (body, f, CpnsUintList);
        if (item.value > CPNS_LIST_MAX)
          {
            g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                         "%s %s: %" G_GUINT64_FORMAT " entries, at most %d",
                         tname, f->name, item.value, CPNS_LIST_MAX);
            return FALSE;
          }
        l->n = item.value;
        for (guint j = 0; j < l->n; j++)
          if (!cpns_cbor_read_uint (r, &l->v[j], f->name, error))
            return FALSE;
      }
      break;
    }
  return TRUE;
}

gboolean
cpns_body_read (CpnsCborReader *r, guint64 type, CpnsBody *body, GError **error)
{
  const FieldSpec *schema = body_schema (type);
  const char *tname = cpns_msg_type_name (type);
  gsize count;

  memset (body, 0, sizeof *body);
  if (schema == NULL)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED,
                   "unknown message type %" G_GUINT64_FORMAT, type);
      return FALSE;
    }
  if (!cpns_cbor_read_map (r, &count, tname, error))
    return FALSE;
  if (count > 16)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: %" G_GSIZE_FORMAT " entries is more than any body has",
                   tname, count);
      return FALSE;
    }

  for (gsize i = 0; i < count; i++)
    {
      const FieldSpec *f = NULL;
      guint64 key;

      if (!cpns_cbor_read_uint (r, &key, tname, error))
        return FALSE;
      for (const FieldSpec *s = schema; s->name != NULL; s++)
        if (s->key == key)
          f = s;
      if (f == NULL)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                       "%s: unknown key %" G_GUINT64_FORMAT, tname, key);
          return FALSE;
        }
      if (body->present & (1u << key))
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                       "%s: duplicate key %" G_GUINT64_FORMAT " (%s)", tname, key,
                       f->name);
          return FALSE;
        }
      body->present |= 1u << key;

      if (!read_field (r, f, body, tname, error) ||
          !check_field (f, body, type, error))
        return FALSE;
    }

  for (const FieldSpec *f = schema; f->name != NULL; f++)
    if (f->required && !(body->present & (1u << f->key)))
      {
        g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                     "%s: required key %u (%s) is missing", tname, f->key, f->name);
        return FALSE;
      }
  return check_body_rules (type, body, error);
}

gboolean
cpns_body_decode (const guint8 *data, gsize len, guint64 type, CpnsBody *body,
                  GError **error)
{
  CpnsCborReader r;

  cpns_cbor_reader_init (&r, data, len);
  return cpns_body_read (&r, type, body, error) &&
         cpns_cbor_reader_end (&r, cpns_msg_type_name (type), error);
}

gsize
cpns_body_encode (guint64 type, const CpnsBody *body, guint8 *buf, gsize cap,
                  GError **error)
{
  CpnsCborWriter w;

  cpns_cbor_writer_init (&w, buf, cap);
  if (!cpns_body_write (&w, type, body, error))
    return 0;
  return w.len;
}

/* ---- plain messages ---- */

gsize
cpns_plain_encode (const CpnsHeader *hdr, const CpnsBody *body,
                   const guint8 *mac, gsize mac_len, guint8 *buf, gsize cap,
                   GError **error)
{
  CpnsCborWriter w;

  if (!(cpns_msg_type_carry (hdr->type) & CPNS_CARRY_PLAIN))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_POLICY,
                   "%s may only travel inside a session record",
                   cpns_msg_type_name (hdr->type));
      return 0;
    }
  cpns_cbor_writer_init (&w, buf, cap);
  cpns_cbor_put_array (&w, mac != NULL ? 3 : 2);
  cpns_header_write (&w, hdr);
  if (!cpns_body_write (&w, hdr->type, body, error))
    return 0;
  if (mac != NULL)
    cpns_cbor_put_bytes (&w, mac, mac_len);
  if (!cpns_cbor_writer_check (&w, error))
    return 0;
  return w.len;
}

gboolean
cpns_plain_decode (const guint8 *data, gsize len, CpnsPlainMessage *msg,
                   GError **error)
{
  CpnsCborReader r;
  gsize count, start;

  memset (msg, 0, sizeof *msg);
  if (len > CPNS_MAX_MESSAGE)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE,
                   "message of %" G_GSIZE_FORMAT " bytes exceeds the limit of %d",
                   len, CPNS_MAX_MESSAGE);
      return FALSE;
    }
  cpns_cbor_reader_init (&r, data, len);
  if (!cpns_cbor_read_array (&r, &count, "message", error))
    return FALSE;
  if (count != 2 && count != 3)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "message: array of %" G_GSIZE_FORMAT " items, must be 2 or 3",
                   count);
      return FALSE;
    }
  start = r.pos;
  if (!cpns_header_read (&r, &msg->hdr, FALSE, error))
    return FALSE;
  if (msg->hdr.encrypted)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_POLICY,
                   "plain %s claims to be encrypted",
                   cpns_msg_type_name (msg->hdr.type));
      return FALSE;
    }
  if (!(cpns_msg_type_carry (msg->hdr.type) & CPNS_CARRY_PLAIN))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_POLICY,
                   "%s is not allowed outside a session record",
                   cpns_msg_type_name (msg->hdr.type));
      return FALSE;
    }
  if (!cpns_body_read (&r, msg->hdr.type, &msg->body, error))
    return FALSE;
  msg->signed_part = CPNS_BYTES (data + start, r.pos - start);
  if (count == 3)
    {
      const guint8 *mac;
      gsize mac_len;
      if (!cpns_cbor_read_bytes (&r, &mac, &mac_len, "message MAC", error))
        return FALSE;
      if (mac_len != 32)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                       "message MAC: %" G_GSIZE_FORMAT " bytes, must be 32", mac_len);
          return FALSE;
        }
      msg->mac = CPNS_BYTES (mac, mac_len);
    }
  return cpns_cbor_reader_end (&r, "message", error);
}
