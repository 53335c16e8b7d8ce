/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-frame.h"

#include <string.h>

#include "cpns-error.h"

struct _CpnsDeframer {
  gsize       max_frame;
  GByteArray *buf;
  gsize       start;      /* consumed bytes at the front of buf */
  gboolean    broken;
};

CpnsDeframer *
cpns_deframer_new (gsize max_frame)
{
  CpnsDeframer *d = g_new0 (CpnsDeframer, 1);

  g_return_val_if_fail (max_frame > 0 && max_frame <= G_MAXUINT32, NULL);
  d->max_frame = max_frame;
  d->buf = g_byte_array_new ();
  return d;
}

void
cpns_deframer_free (CpnsDeframer *d)
{
  if (d == NULL)
    return;
  /* Frames may carry key material in plain messages. */
  if (d->buf->len > 0)
    explicit_bzero (d->buf->data, d->buf->len);
  g_byte_array_unref (d->buf);
  g_free (d);
}

void
cpns_frame_header (guint8 out[CPNS_FRAME_HEADER_LEN], gsize len)
{
  out[0] = len >> 24;
  out[1] = len >> 16;
  out[2] = len >> 8;
  out[3] = len;
}

static guint32
read_length (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

gsize
cpns_deframer_buffered (CpnsDeframer *d)
{
  return d->buf->len - d->start;
}

/* Validates every frame header now visible, so a bad length is reported as
 * soon as its four bytes arrive rather than when the body would. */
static gboolean
check_headers (CpnsDeframer *d, GError **error)
{
  gsize pos = d->start;

  while (pos + CPNS_FRAME_HEADER_LEN <= d->buf->len)
    {
      guint32 len = read_length (d->buf->data + pos);

      if (len == 0 || len > d->max_frame)
        {
          d->broken = TRUE;
          g_set_error (error, CPNS_ERROR, len == 0 ? CPNS_ERROR_MALFORMED :
                       CPNS_ERROR_TOO_LARGE,
                       "stream frame announces %u bytes (allowed: 1-%" G_GSIZE_FORMAT ")",
                       len, d->max_frame);
          return FALSE;
        }
      pos += CPNS_FRAME_HEADER_LEN + len;
    }
  return TRUE;
}

gboolean
cpns_deframer_push (CpnsDeframer *d, const guint8 *data, gsize len, GError **error)
{
  if (d->broken)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE,
                   "stream framing was already broken; the link must be closed");
      return FALSE;
    }
  if (cpns_deframer_buffered (d) + len > 2 * (d->max_frame + CPNS_FRAME_HEADER_LEN))
    {
      d->broken = TRUE;
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE,
                   "peer sent more than two maximum-size frames without them being read");
      return FALSE;
    }
  /* Compact lazily: only when the consumed prefix dominates. */
  if (d->start > 0 && d->start >= d->buf->len / 2)
    {
      explicit_bzero (d->buf->data, d->start);
      g_byte_array_remove_range (d->buf, 0, d->start);
      d->start = 0;
    }
  g_byte_array_append (d->buf, data, len);
  return check_headers (d, error);
}

const guint8 *
cpns_deframer_next (CpnsDeframer *d, gsize *len)
{
  const guint8 *frame;
  guint32 frame_len;

  if (d->broken || cpns_deframer_buffered (d) < CPNS_FRAME_HEADER_LEN)
    return NULL;
  frame_len = read_length (d->buf->data + d->start);
  if (cpns_deframer_buffered (d) < CPNS_FRAME_HEADER_LEN + frame_len)
    return NULL;
  frame = d->buf->data + d->start + CPNS_FRAME_HEADER_LEN;
  d->start += CPNS_FRAME_HEADER_LEN + frame_len;
  *len = frame_len;
  return frame;
}
