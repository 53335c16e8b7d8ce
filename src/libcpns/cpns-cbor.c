/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-cbor.h"

#include <cbor.h>
#include <string.h>

#include "cpns-error.h"

void
cpns_cbor_writer_init (CpnsCborWriter *w, guint8 *buf, gsize cap)
{
  w->buf = buf;
  w->cap = cap;
  w->len = 0;
  w->overflow = FALSE;
}

gboolean
cpns_cbor_writer_check (const CpnsCborWriter *w, GError **error)
{
  if (w->overflow)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE,
                   "encoded message does not fit in %" G_GSIZE_FORMAT " bytes",
                   w->cap);
      return FALSE;
    }
  return TRUE;
}

gsize
cpns_cbor_head_size (guint64 value)
{
  if (value < 24)
    return 1;
  if (value <= G_MAXUINT8)
    return 2;
  if (value <= G_MAXUINT16)
    return 3;
  if (value <= G_MAXUINT32)
    return 5;
  return 9;
}

/* All heads go through here: libcbor writes the shortest form. */
static void
put_head (CpnsCborWriter *w, size_t (*encode) (uint64_t, unsigned char *, size_t),
          guint64 value)
{
  size_t n;

  if (w->overflow)
    return;
  n = encode (value, w->buf + w->len, w->cap - w->len);
  if (n == 0)
    w->overflow = TRUE;
  else
    w->len += n;
}

static size_t
encode_bytes_head (uint64_t len, unsigned char *buf, size_t cap)
{
  return cbor_encode_bytestring_start (len, buf, cap);
}

static size_t
encode_text_head (uint64_t len, unsigned char *buf, size_t cap)
{
  return cbor_encode_string_start (len, buf, cap);
}

static size_t
encode_array_head (uint64_t len, unsigned char *buf, size_t cap)
{
  return cbor_encode_array_start (len, buf, cap);
}

static size_t
encode_map_head (uint64_t len, unsigned char *buf, size_t cap)
{
  return cbor_encode_map_start (len, buf, cap);
}

void
cpns_cbor_put_uint (CpnsCborWriter *w, guint64 value)
{
  put_head (w, cbor_encode_uint, value);
}

void
cpns_cbor_put_int (CpnsCborWriter *w, gint64 value)
{
  if (value >= 0)
    put_head (w, cbor_encode_uint, (guint64) value);
  else
    put_head (w, cbor_encode_negint, (guint64) (-1 - value));
}

guint8 *
cpns_cbor_reserve (CpnsCborWriter *w, gsize len)
{
  guint8 *p;

  if (w->overflow || w->cap - w->len < len)
    {
      w->overflow = TRUE;
      return NULL;
    }
  p = w->buf + w->len;
  w->len += len;
  return p;
}

void
cpns_cbor_put_raw (CpnsCborWriter *w, const guint8 *data, gsize len)
{
  guint8 *p = cpns_cbor_reserve (w, len);

  if (p != NULL && len > 0)
    memcpy (p, data, len);
}

void
cpns_cbor_put_bytes (CpnsCborWriter *w, const guint8 *data, gsize len)
{
  put_head (w, encode_bytes_head, len);
  cpns_cbor_put_raw (w, data, len);
}

void
cpns_cbor_put_bytes_head (CpnsCborWriter *w, gsize len)
{
  put_head (w, encode_bytes_head, len);
}

void
cpns_cbor_put_text (CpnsCborWriter *w, const char *text, gsize len)
{
  put_head (w, encode_text_head, len);
  cpns_cbor_put_raw (w, (const guint8 *) text, len);
}

void
cpns_cbor_put_array (CpnsCborWriter *w, gsize count)
{
  put_head (w, encode_array_head, count);
}

void
cpns_cbor_put_map (CpnsCborWriter *w, gsize count)
{
  put_head (w, encode_map_head, count);
}

void
cpns_cbor_put_tag (CpnsCborWriter *w, guint64 tag)
{
  put_head (w, cbor_encode_tag, tag);
}

void
cpns_cbor_put_bool (CpnsCborWriter *w, gboolean value)
{
  size_t n;

  if (w->overflow)
    return;
  n = cbor_encode_bool (value ? true : false, w->buf + w->len, w->cap - w->len);
  if (n == 0)
    w->overflow = TRUE;
  else
    w->len += n;
}

/* ---- reading ---- */

typedef enum {
  DECODED_NONE,
  DECODED_OK,
  DECODED_INDEFINITE,
  DECODED_FORBIDDEN,  /* float, undefined, break */
} DecodedStatus;

typedef struct {
  DecodedStatus status;
  CpnsCborItem  item;
} DecodeContext;

#define CTX(p) ((DecodeContext *) (p))

static void
set_uint (void *ctx, guint64 v)
{
  CTX (ctx)->status = DECODED_OK;
  CTX (ctx)->item.type = CPNS_CBOR_UINT;
  CTX (ctx)->item.value = v;
}
static void cb_uint8 (void *c, uint8_t v) { set_uint (c, v); }
static void cb_uint16 (void *c, uint16_t v) { set_uint (c, v); }
static void cb_uint32 (void *c, uint32_t v) { set_uint (c, v); }
static void cb_uint64 (void *c, uint64_t v) { set_uint (c, v); }

static void
set_negint (void *ctx, guint64 v)
{
  CTX (ctx)->status = DECODED_OK;
  CTX (ctx)->item.type = CPNS_CBOR_NEGINT;
  CTX (ctx)->item.value = v;
}
static void cb_negint8 (void *c, uint8_t v) { set_negint (c, v); }
static void cb_negint16 (void *c, uint16_t v) { set_negint (c, v); }
static void cb_negint32 (void *c, uint32_t v) { set_negint (c, v); }
static void cb_negint64 (void *c, uint64_t v) { set_negint (c, v); }

static void
set_string (void *ctx, CpnsCborType type, cbor_data data, size_t len)
{
  CTX (ctx)->status = DECODED_OK;
  CTX (ctx)->item.type = type;
  CTX (ctx)->item.data = data;
  CTX (ctx)->item.len = len;
  CTX (ctx)->item.value = len;
}
static void cb_bytes (void *c, cbor_data d, size_t l) { set_string (c, CPNS_CBOR_BYTES, d, l); }
static void cb_text (void *c, cbor_data d, size_t l) { set_string (c, CPNS_CBOR_TEXT, d, l); }

static void
set_count (void *ctx, CpnsCborType type, guint64 count)
{
  CTX (ctx)->status = DECODED_OK;
  CTX (ctx)->item.type = type;
  CTX (ctx)->item.value = count;
}
static void cb_array (void *c, size_t n) { set_count (c, CPNS_CBOR_ARRAY, n); }
static void cb_map (void *c, size_t n) { set_count (c, CPNS_CBOR_MAP, n); }
static void cb_tag (void *c, uint64_t t) { set_count (c, CPNS_CBOR_TAG, t); }

static void
cb_bool (void *ctx, bool v)
{
  CTX (ctx)->status = DECODED_OK;
  CTX (ctx)->item.type = CPNS_CBOR_BOOL;
  CTX (ctx)->item.boolean = v;
}

static void
cb_null (void *ctx)
{
  CTX (ctx)->status = DECODED_OK;
  CTX (ctx)->item.type = CPNS_CBOR_NULL;
}

static void cb_indefinite (void *ctx) { CTX (ctx)->status = DECODED_INDEFINITE; }
static void cb_forbidden (void *ctx) { CTX (ctx)->status = DECODED_FORBIDDEN; }
static void cb_float (void *ctx, float v) { CTX (ctx)->status = DECODED_FORBIDDEN; }
static void cb_double (void *ctx, double v) { CTX (ctx)->status = DECODED_FORBIDDEN; }

static const struct cbor_callbacks callbacks = {
  .uint8 = cb_uint8, .uint16 = cb_uint16, .uint32 = cb_uint32, .uint64 = cb_uint64,
  .negint8 = cb_negint8, .negint16 = cb_negint16, .negint32 = cb_negint32,
  .negint64 = cb_negint64,
  .byte_string_start = cb_indefinite, .byte_string = cb_bytes,
  .string = cb_text, .string_start = cb_indefinite,
  .indef_array_start = cb_indefinite, .array_start = cb_array,
  .indef_map_start = cb_indefinite, .map_start = cb_map,
  .tag = cb_tag,
  .float2 = cb_float, .float4 = cb_float, .float8 = cb_double,
  .undefined = cb_forbidden, .null = cb_null, .boolean = cb_bool,
  .indef_break = cb_forbidden,
};

void
cpns_cbor_reader_init (CpnsCborReader *r, const guint8 *data, gsize len)
{
  r->data = data;
  r->len = len;
  r->pos = 0;
}

const char *
cpns_cbor_type_name (CpnsCborType type)
{
  switch (type)
    {
    case CPNS_CBOR_UINT: return "unsigned integer";
    case CPNS_CBOR_NEGINT: return "negative integer";
    case CPNS_CBOR_BYTES: return "byte string";
    case CPNS_CBOR_TEXT: return "text string";
    case CPNS_CBOR_ARRAY: return "array";
    case CPNS_CBOR_MAP: return "map";
    case CPNS_CBOR_TAG: return "tag";
    case CPNS_CBOR_BOOL: return "boolean";
    case CPNS_CBOR_NULL: return "null";
    }
  return "unknown";
}

gboolean
cpns_cbor_read (CpnsCborReader *r, CpnsCborItem *item, const char *what,
                GError **error)
{
  DecodeContext ctx = { DECODED_NONE, };
  struct cbor_decoder_result res;
  gsize head;

  if (r->pos >= r->len)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: input ends where an item was expected", what);
      return FALSE;
    }
  /* libcbor 0.8 refuses one-byte tag heads 0xc6-0xd7 as "unassigned", but
   * COSE needs them (0xd0 is COSE_Encrypt0, 0xd1 COSE_Mac0). */
  if (r->data[r->pos] >= 0xc0 && r->data[r->pos] <= 0xd7)
    {
      item->type = CPNS_CBOR_TAG;
      item->value = r->data[r->pos] & 0x1f;
      item->data = NULL;
      item->len = 0;
      r->pos++;
      return TRUE;
    }
  res = cbor_stream_decode (r->data + r->pos, r->len - r->pos, &callbacks, &ctx);
  if (res.status == CBOR_DECODER_NEDATA)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: truncated (%" G_GSIZE_FORMAT " more bytes needed)",
                   what, (gsize) res.required);
      return FALSE;
    }
  if (res.status != CBOR_DECODER_FINISHED || ctx.status == DECODED_NONE)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: not valid CBOR (byte 0x%02x at offset %" G_GSIZE_FORMAT ")",
                   what, r->data[r->pos], r->pos);
      return FALSE;
    }
  if (ctx.status == DECODED_INDEFINITE)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: indefinite-length items are not allowed", what);
      return FALSE;
    }
  if (ctx.status == DECODED_FORBIDDEN)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: floats, undefined and break are not allowed", what);
      return FALSE;
    }

  /* Preferred serialization only: one encoding per value keeps transcripts
   * and signatures unambiguous. */
  head = res.read;
  if (ctx.item.type == CPNS_CBOR_BYTES || ctx.item.type == CPNS_CBOR_TEXT)
    head -= ctx.item.len;
  if (ctx.item.type != CPNS_CBOR_BOOL && ctx.item.type != CPNS_CBOR_NULL &&
      head != cpns_cbor_head_size (ctx.item.value))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: integer or length not in its shortest form", what);
      return FALSE;
    }
  if (ctx.item.type == CPNS_CBOR_TEXT &&
      !g_utf8_validate_len ((const char *) ctx.item.data, ctx.item.len, NULL))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: text string is not valid UTF-8", what);
      return FALSE;
    }

  r->pos += res.read;
  *item = ctx.item;
  return TRUE;
}

static gboolean
read_typed (CpnsCborReader *r, CpnsCborType type, CpnsCborItem *item,
            const char *what, GError **error)
{
  if (!cpns_cbor_read (r, item, what, error))
    return FALSE;
  if (item->type != type)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: expected %s, got %s", what, cpns_cbor_type_name (type),
                   cpns_cbor_type_name (item->type));
      return FALSE;
    }
  return TRUE;
}

gboolean
cpns_cbor_read_uint (CpnsCborReader *r, guint64 *value, const char *what,
                     GError **error)
{
  CpnsCborItem item;

  if (!read_typed (r, CPNS_CBOR_UINT, &item, what, error))
    return FALSE;
  *value = item.value;
  return TRUE;
}

gboolean
cpns_cbor_read_int (CpnsCborReader *r, gint64 *value, const char *what,
                    GError **error)
{
  CpnsCborItem item;

  if (!cpns_cbor_read (r, &item, what, error))
    return FALSE;
  if ((item.type != CPNS_CBOR_UINT && item.type != CPNS_CBOR_NEGINT) ||
      item.value > G_MAXINT64)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: expected an integer in 64-bit range, got %s", what,
                   cpns_cbor_type_name (item.type));
      return FALSE;
    }
  *value = item.type == CPNS_CBOR_UINT ? (gint64) item.value : -1 - (gint64) item.value;
  return TRUE;
}

gboolean
cpns_cbor_read_bytes (CpnsCborReader *r, const guint8 **data, gsize *len,
                      const char *what, GError **error)
{
  CpnsCborItem item;

  if (!read_typed (r, CPNS_CBOR_BYTES, &item, what, error))
    return FALSE;
  *data = item.data;
  *len = item.len;
  return TRUE;
}

gboolean
cpns_cbor_read_text (CpnsCborReader *r, const char **text, gsize *len,
                     const char *what, GError **error)
{
  CpnsCborItem item;

  if (!read_typed (r, CPNS_CBOR_TEXT, &item, what, error))
    return FALSE;
  *text = (const char *) item.data;
  *len = item.len;
  return TRUE;
}

gboolean
cpns_cbor_read_array (CpnsCborReader *r, gsize *count, const char *what,
                      GError **error)
{
  CpnsCborItem item;

  if (!read_typed (r, CPNS_CBOR_ARRAY, &item, what, error))
    return FALSE;
  *count = item.value;
  return TRUE;
}

gboolean
cpns_cbor_read_map (CpnsCborReader *r, gsize *count, const char *what,
                    GError **error)
{
  CpnsCborItem item;

  if (!read_typed (r, CPNS_CBOR_MAP, &item, what, error))
    return FALSE;
  *count = item.value;
  return TRUE;
}

gboolean
cpns_cbor_read_tag (CpnsCborReader *r, guint64 *tag, const char *what,
                    GError **error)
{
  CpnsCborItem item;

  if (!read_typed (r, CPNS_CBOR_TAG, &item, what, error))
    return FALSE;
  *tag = item.value;
  return TRUE;
}

gboolean
cpns_cbor_read_bool (CpnsCborReader *r, gboolean *value, const char *what,
                     GError **error)
{
  CpnsCborItem item;

  if (!read_typed (r, CPNS_CBOR_BOOL, &item, what, error))
    return FALSE;
  *value = item.boolean;
  return TRUE;
}

gboolean
cpns_cbor_reader_end (const CpnsCborReader *r, const char *what, GError **error)
{
  if (r->pos != r->len)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                   "%s: %" G_GSIZE_FORMAT " trailing bytes after the last item",
                   what, r->len - r->pos);
      return FALSE;
    }
  return TRUE;
}
