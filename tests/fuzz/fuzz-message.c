/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target for the keyless message decoders: plain messages, record
 * headers (as a relay peeks at them) and bodies of every type.
 *
 * Input: byte 0 picks the body type for cpns_body_decode (index into
 * fuzz_msg_types); the rest is the message.  Decoded plain messages and
 * bodies must survive a re-encoding unchanged (abort() otherwise). */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz-common.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fail (const char *what)
{
  fprintf (stderr, "fuzz-message: %s\n", what);
  abort ();
}

/* What the decoder accepted must also satisfy the encoder's checks. */
static void
check_header (const CpnsHeader *hdr, gboolean in_record)
{
  if (hdr->version != CPNS_VERSION || cpns_msg_type_carry (hdr->type) == 0 ||
      hdr->in_record != in_record ||
      !cpns_entity_id_is_valid (hdr->src, strlen (hdr->src)) ||
      !cpns_entity_id_is_valid (hdr->dst, strlen (hdr->dst)))
    fail ("decoded header breaks its own rules");
}

static void
check_plain (const guint8 *data, gsize size)
{
  CpnsPlainMessage msg, again;
  g_autofree guint8 *buf = NULL;
  g_autofree guint8 *buf2 = NULL;
  gsize len, len2;
  g_autoptr(GError) error = NULL;

  if (!cpns_plain_decode (data, size, &msg, &error))
    return;
  check_header (&msg.hdr, FALSE);
  if (msg.hdr.encrypted || !(cpns_msg_type_carry (msg.hdr.type) & CPNS_CARRY_PLAIN))
    fail ("plain message accepted against policy");
  if (msg.signed_part.data < data ||
      msg.signed_part.data + msg.signed_part.len > data + size ||
      (msg.mac.len != 0 && msg.mac.len != 32))
    fail ("signed part or MAC outside the input");

  /* Round trip: the canonical re-encoding of an accepted message decodes to
   * the same header, and, since the decoder only accepts shortest forms and
   * no trailing bytes, has the same length as the input (keys may be
   * reordered). */
  buf = g_malloc (CPNS_MAX_MESSAGE);
  len = cpns_plain_encode (&msg.hdr, &msg.body, msg.mac.len ? msg.mac.data : NULL,
                           msg.mac.len, buf, CPNS_MAX_MESSAGE, &error);
  if (len == 0)
    {
      fprintf (stderr, "re-encoding failed: %s\n", error->message);
      fail ("accepted plain message cannot be re-encoded");
    }
  if (len != size)
    fail ("re-encoding changed the message length");
  if (!cpns_plain_decode (buf, len, &again, &error))
    {
      fprintf (stderr, "decoding the re-encoding failed: %s\n", error->message);
      fail ("re-encoded plain message does not decode");
    }
  if (!fuzz_header_equal (&msg.hdr, &again.hdr))
    fail ("header changed in the round trip");
  if (again.body.present != msg.body.present || again.mac.len != msg.mac.len ||
      (msg.mac.len != 0 && memcmp (again.mac.data, msg.mac.data, msg.mac.len) != 0))
    fail ("body fields or MAC changed in the round trip");

  /* Encoding is a function of the decoded value: a second round is
   * byte-identical. */
  buf2 = g_malloc (CPNS_MAX_MESSAGE);
  len2 = cpns_plain_encode (&again.hdr, &again.body,
                            again.mac.len ? again.mac.data : NULL, again.mac.len,
                            buf2, CPNS_MAX_MESSAGE, &error);
  if (len2 != len || memcmp (buf, buf2, len) != 0)
    fail ("re-encoding is not stable");
}

static void
check_peek (const guint8 *data, gsize size)
{
  CpnsHeader hdr;
  g_autoptr(GError) error = NULL;

  if (!cpns_record_peek (data, size, &hdr, &error))
    return;
  check_header (&hdr, TRUE);
}

static void
check_body (guint64 type, const guint8 *data, gsize size)
{
  CpnsBody body, again;
  g_autofree guint8 *buf = NULL;
  g_autofree guint8 *buf2 = NULL;
  gsize len, len2;
  g_autoptr(GError) error = NULL;

  if (!cpns_body_decode (data, size, type, &body, &error))
    return;
  buf = g_malloc (CPNS_MAX_BODY);
  len = cpns_body_encode (type, &body, buf, CPNS_MAX_BODY, &error);
  if (len == 0)
    {
      fprintf (stderr, "re-encoding failed: %s\n", error->message);
      fail ("accepted body cannot be re-encoded");
    }
  if (len != size)
    fail ("re-encoding changed the body length");
  if (!cpns_body_decode (buf, len, type, &again, &error))
    {
      fprintf (stderr, "decoding the re-encoding failed: %s\n", error->message);
      fail ("re-encoded body does not decode");
    }
  if (again.present != body.present)
    fail ("body fields changed in the round trip");
  buf2 = g_malloc (CPNS_MAX_BODY);
  len2 = cpns_body_encode (type, &again, buf2, CPNS_MAX_BODY, &error);
  if (len2 != len || memcmp (buf, buf2, len) != 0)
    fail ("body re-encoding is not stable");
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
  guint64 type;

  if (size < 1)
    return 0;
  type = fuzz_msg_types[data[0] % G_N_ELEMENTS (fuzz_msg_types)];
  /* libFuzzer's buffer ends exactly at data + size, so ASan sees any
   * over-read. */
  data++;
  size--;
  check_plain (data, size);
  check_peek (data, size);
  check_body (type, data, size);
  return 0;
}
