/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target for stream deframing.
 *
 * Input: a sequence of chunks, each a control byte followed by its data.
 * The low 7 bits of the control byte are the chunk size (cut at the end of
 * the input); bit 7 set skips draining after this push, so that the
 * two-frame buffer limit is reachable.  The deframer (max frame
 * FUZZ_MAX_FRAME) must return exactly the frames of the pushed stream, in
 * order, and never buffer more than two maximum-size frames. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz-common.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define BUFFER_LIMIT (2 * (FUZZ_MAX_FRAME + CPNS_FRAME_HEADER_LEN))

static void
fail (const char *what)
{
  fprintf (stderr, "fuzz-frame: %s\n", what);
  abort ();
}

static guint32
read_length (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_glib_fatal ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(CpnsDeframer) d = cpns_deframer_new (FUZZ_MAX_FRAME);
  /* Everything pushed so far, to check the frames against. */
  g_autoptr(GByteArray) stream = g_byte_array_new ();
  gsize consumed = 0;  /* stream bytes returned as frames */
  gboolean broken = FALSE;
  gsize pos = 0;

  while (pos < size)
    {
      guint8 control = data[pos++];
      gsize n = MIN ((gsize) (control & 0x7f), size - pos);
      gboolean drain = !(control & 0x80);
      g_autoptr(GError) error = NULL;
      const guint8 *frame;
      gsize len;

      if (!cpns_deframer_push (d, data + pos, n, &error))
        {
          if (error == NULL)
            fail ("push failed without an error");
          /* A broken stream stays broken and yields no more frames. */
          broken = TRUE;
          g_clear_error (&error);
          if (cpns_deframer_push (d, data + pos, n, &error) ||
              !g_error_matches (error, CPNS_ERROR, CPNS_ERROR_STATE))
            fail ("broken deframer accepted more data");
          if (cpns_deframer_next (d, &len) != NULL)
            fail ("broken deframer returned a frame");
          break;
        }
      g_byte_array_append (stream, data + pos, n);
      pos += n;

      if (cpns_deframer_buffered (d) > BUFFER_LIMIT ||
          cpns_deframer_buffered (d) != stream->len - consumed)
        fail ("buffered byte count is wrong or above the limit");
      if (!drain)
        continue;

      while ((frame = cpns_deframer_next (d, &len)) != NULL)
        {
          if (len < 1 || len > FUZZ_MAX_FRAME)
            fail ("frame length outside 1..max");
          if (consumed + CPNS_FRAME_HEADER_LEN + len > stream->len ||
              read_length (stream->data + consumed) != len ||
              memcmp (frame, stream->data + consumed + CPNS_FRAME_HEADER_LEN, len) != 0)
            fail ("frame does not match the stream");
          consumed += CPNS_FRAME_HEADER_LEN + len;
        }
      /* Drained: at most one incomplete frame is left. */
      if (cpns_deframer_buffered (d) != stream->len - consumed ||
          cpns_deframer_buffered (d) >= CPNS_FRAME_HEADER_LEN + FUZZ_MAX_FRAME)
        fail ("drained deframer holds more than a partial frame");
    }

  /* A stream that never broke has only valid headers in what is left. */
  if (!broken && stream->len - consumed >= CPNS_FRAME_HEADER_LEN)
    {
      guint32 len = read_length (stream->data + consumed);
      if (len < 1 || len > FUZZ_MAX_FRAME)
        fail ("deframer accepted a bad length");
    }
  return 0;
}
