/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "cpns-error.h"
#include "cpns-frame.h"

static gsize
frame (guint8 *out, const char *payload)
{
  gsize len = strlen (payload);

  cpns_frame_header (out, len);
  memcpy (out + CPNS_FRAME_HEADER_LEN, payload, len);
  return CPNS_FRAME_HEADER_LEN + len;
}

static void
test_byte_by_byte (void)
{
  g_autoptr(CpnsDeframer) d = cpns_deframer_new (100);
  const char *payloads[] = { "first", "x", "the third frame" };
  guint8 stream[256];
  gsize len = 0;
  guint got = 0;

  for (guint i = 0; i < G_N_ELEMENTS (payloads); i++)
    len += frame (stream + len, payloads[i]);
  for (gsize i = 0; i < len; i++)
    {
      const guint8 *f;
      gsize flen;

      g_autoptr(GError) error = NULL;
      cpns_deframer_push (d, stream + i, 1, &error);
      g_assert_no_error (error);
      while ((f = cpns_deframer_next (d, &flen)) != NULL)
        {
          g_assert_cmpmem (f, flen, payloads[got], strlen (payloads[got]));
          got++;
        }
    }
  g_assert_cmpuint (got, ==, 3);
  g_assert_cmpuint (cpns_deframer_buffered (d), ==, 0);
}

static void
test_many_in_one_push (void)
{
  g_autoptr(CpnsDeframer) d = cpns_deframer_new (100);
  guint8 stream[64];
  gsize len = 0, flen;
  guint got = 0;

  len += frame (stream + len, "a");
  len += frame (stream + len, "bb");
  len += frame (stream + len, "ccc");
  g_assert_true (cpns_deframer_push (d, stream, len - 2, NULL));
  while (cpns_deframer_next (d, &flen) != NULL)
    got++;
  g_assert_cmpuint (got, ==, 2);
  g_assert_true (cpns_deframer_push (d, stream + len - 2, 2, NULL));
  g_assert_nonnull (cpns_deframer_next (d, &flen));
  g_assert_cmpuint (flen, ==, 3);
}

static void
test_bad_lengths (void)
{
  static const guint8 zero[] = { 0, 0, 0, 0 };
  static const guint8 huge[] = { 0, 0, 0, 101 };
  g_autoptr(CpnsDeframer) d1 = cpns_deframer_new (100);
  g_autoptr(CpnsDeframer) d2 = cpns_deframer_new (100);
  g_autoptr(GError) error = NULL;
  gsize flen;

  g_assert_false (cpns_deframer_push (d1, zero, sizeof zero, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED);
  g_clear_error (&error);
  /* Broken for good: a stream cannot be resynchronised. */
  g_assert_false (cpns_deframer_push (d1, (const guint8 *) "\0\0\0\1x", 5, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_STATE);
  g_assert_null (cpns_deframer_next (d1, &flen));
  g_clear_error (&error);

  /* An oversized header is refused before its body arrives. */
  g_assert_false (cpns_deframer_push (d2, huge, sizeof huge, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE);
}

static void
test_bounded_buffer (void)
{
  g_autoptr(CpnsDeframer) d = cpns_deframer_new (100);
  g_autoptr(GError) error = NULL;
  guint8 stream[1024];
  gsize len = 0;

  /* A peer that keeps sending while nobody reads is cut off. */
  while (len + 104 < sizeof stream)
    {
      char payload[101];
      memset (payload, 'p', 100);
      payload[100] = '\0';
      len += frame (stream + len, payload);
    }
  g_assert_false (cpns_deframer_push (d, stream, len, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/frame/byte-by-byte", test_byte_by_byte);
  g_test_add_func ("/frame/many-in-one-push", test_many_in_one_push);
  g_test_add_func ("/frame/bad-lengths", test_bad_lengths);
  g_test_add_func ("/frame/bounded-buffer", test_bounded_buffer);
  return g_test_run ();
}
