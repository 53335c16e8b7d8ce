/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-cbor.h"

#include <cbor/encoding.h>
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

/* Heads are decoded here rather than with libcbor's streaming decoder:
 * records are opened on the hot path, and a callback per item cost more
 * than the AEAD on small records.  The rules are those of docs/protocol.md
 * section 2. */

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

static gboolean
malformed (GError **error, const char *what, const char *problem, const CpnsCborReader *r)
{
  g_set_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED, "%s: %s (offset %" G_GSIZE_FORMAT ")",
               what, problem, r->pos);
  return FALSE;
}

gboolean
cpns_cbor_read (CpnsCborReader *r, CpnsCborItem *item, const char *what,
                GError **error)
{
  static const CpnsCborType major_types[] = {
    CPNS_CBOR_UINT, CPNS_CBOR_NEGINT, CPNS_CBOR_BYTES, CPNS_CBOR_TEXT,
    CPNS_CBOR_ARRAY, CPNS_CBOR_MAP, CPNS_CBOR_TAG,
  };
  const guint8 *p = r->data + r->pos;
  gsize avail = r->len - r->pos;
  guint8 major, info;
  guint64 value;
  gsize head;

  if (avail == 0)
    return malformed (error, what, "input ends where an item was expected", r);
  major = p[0] >> 5;
  info = p[0] & 0x1f;

  if (major == 7)
    {
      item->data = NULL;
      item->len = 0;
      item->value = 0;
      if (info == 20 || info == 21)
        {
          item->type = CPNS_CBOR_BOOL;
          item->boolean = info == 21;
        }
      else if (info == 22)
        item->type = CPNS_CBOR_NULL;
      else if (info == 31)
        return malformed (error, what, "indefinite-length items are not allowed", r);
      else
        return malformed (error, what, "floats, undefined and other simple values "
                          "are not allowed", r);
      r->pos++;
      return TRUE;
    }

  if (info < 24)
    {
      value = info;
      head = 1;
    }
  else if (info <= 27)
    {
      head = 1 + (1u << (info - 24));
      if (avail < head)
        return malformed (error, what, "truncated", r);
      value = 0;
      for (gsize i = 1; i < head; i++)
        value = value << 8 | p[i];
      /* Preferred serialization only: one encoding per value keeps
       * transcripts and MACs unambiguous. */
      if (cpns_cbor_head_size (value) != head)
        return malformed (error, what, "integer or length not in its shortest form", r);
    }
  else if (info == 31)
    return malformed (error, what, "indefinite-length items are not allowed", r);
  else
    return malformed (error, what, "reserved additional information", r);

  item->type = major_types[major];
  item->value = value;
  item->data = NULL;
  item->len = 0;
  if (major == 2 || major == 3)
    {
      if (value > avail - head)
        return malformed (error, what, "truncated", r);
      item->data = p + head;
      item->len = value;
      if (major == 3 && !g_utf8_validate_len ((const char *) item->data, item->len, NULL))
        return malformed (error, what, "text string is not valid UTF-8", r);
      head += value;
    }
  r->pos += head;
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
