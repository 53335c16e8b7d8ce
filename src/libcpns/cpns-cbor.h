/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Allocation-free CBOR: writing with libcbor's encoder, and strict,
 * schema-driven reading.  The reader accepts only what our protocol uses:
 * definite lengths, preferred (shortest) heads, and the major types 0-7
 * without floats, undefined or other simple values. */

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  guint8  *buf;
  gsize    cap;
  gsize    len;
  gboolean overflow;
} CpnsCborWriter;

void     cpns_cbor_writer_init  (CpnsCborWriter *w, guint8 *buf, gsize cap);
gboolean cpns_cbor_writer_check (const CpnsCborWriter *w, GError **error);
void     cpns_cbor_put_uint     (CpnsCborWriter *w, guint64 value);
void     cpns_cbor_put_int      (CpnsCborWriter *w, gint64 value);
void     cpns_cbor_put_bytes    (CpnsCborWriter *w, const guint8 *data, gsize len);
/* Only the head of a byte string; the caller writes the bytes after it. */
void     cpns_cbor_put_bytes_head (CpnsCborWriter *w, gsize len);
void     cpns_cbor_put_text     (CpnsCborWriter *w, const char *text, gsize len);
void     cpns_cbor_put_array    (CpnsCborWriter *w, gsize count);
void     cpns_cbor_put_map      (CpnsCborWriter *w, gsize count);
void     cpns_cbor_put_tag      (CpnsCborWriter *w, guint64 tag);
void     cpns_cbor_put_bool     (CpnsCborWriter *w, gboolean value);
void     cpns_cbor_put_raw      (CpnsCborWriter *w, const guint8 *data, gsize len);
/* Reserves @len bytes and returns where to write them (NULL on overflow). */
guint8  *cpns_cbor_reserve      (CpnsCborWriter *w, gsize len);
gsize    cpns_cbor_head_size    (guint64 value);

typedef enum {
  CPNS_CBOR_UINT,
  CPNS_CBOR_NEGINT,
  CPNS_CBOR_BYTES,
  CPNS_CBOR_TEXT,
  CPNS_CBOR_ARRAY,
  CPNS_CBOR_MAP,
  CPNS_CBOR_TAG,
  CPNS_CBOR_BOOL,
  CPNS_CBOR_NULL,
} CpnsCborType;

typedef struct {
  CpnsCborType  type;
  guint64       value;   /* uint; -1-value for negint; count; tag number */
  const guint8 *data;    /* bytes and text */
  gsize         len;
  gboolean      boolean;
} CpnsCborItem;

typedef struct {
  const guint8 *data;
  gsize         len;
  gsize         pos;
} CpnsCborReader;

void        cpns_cbor_reader_init (CpnsCborReader *r, const guint8 *data, gsize len);
const char *cpns_cbor_type_name   (CpnsCborType type);

/* Each reader function names @what in its error so that a person can tell
 * which field of which message was wrong. */
gboolean cpns_cbor_read       (CpnsCborReader *r, CpnsCborItem *item,
                               const char *what, GError **error);
gboolean cpns_cbor_read_uint  (CpnsCborReader *r, guint64 *value,
                               const char *what, GError **error);
gboolean cpns_cbor_read_int   (CpnsCborReader *r, gint64 *value,
                               const char *what, GError **error);
gboolean cpns_cbor_read_bytes (CpnsCborReader *r, const guint8 **data, gsize *len,
                               const char *what, GError **error);
gboolean cpns_cbor_read_text  (CpnsCborReader *r, const char **text, gsize *len,
                               const char *what, GError **error);
gboolean cpns_cbor_read_array (CpnsCborReader *r, gsize *count,
                               const char *what, GError **error);
gboolean cpns_cbor_read_map   (CpnsCborReader *r, gsize *count,
                               const char *what, GError **error);
gboolean cpns_cbor_read_tag   (CpnsCborReader *r, guint64 *tag,
                               const char *what, GError **error);
gboolean cpns_cbor_read_bool  (CpnsCborReader *r, gboolean *value,
                               const char *what, GError **error);
/* Fails with CPNS_ERROR_MALFORMED if bytes are left after the last item. */
gboolean cpns_cbor_reader_end (const CpnsCborReader *r, const char *what,
                               GError **error);

G_END_DECLS
