/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The message codec: round trips for every type, and strict rejection of
 * everything section 2 of docs/protocol.md forbids, each with an error that
 * names what was wrong. */

#define _GNU_SOURCE
#include <string.h>

#include "cpns-error.h"
#include "cpns-message.h"
#include "cpns-test-util.h"

static CpnsHeader
header (guint64 type)
{
  CpnsHeader hdr = { .version = 1, .type = type, .txid = 77 };

  g_assert_true (cpns_header_set_ids (&hdr, "gw-1", "server", NULL));
  return hdr;
}

static void
test_round_trip (void)
{
  static const guint8 b32[32] = { 1 };
  CpnsBody bodies[20] = { 0 };
  guint64 types[20];
  guint n = 0;

#define ADD(t, bits) (types[n] = (t), bodies[n].present = (bits), &bodies[n++])
  {
    CpnsBody *b = ADD (CPNS_MSG_ERROR, 0x6);
    b->error.code = CPNS_ERROR_BAD_MAC;
    b->error.reason = CPNS_STR ("tag does not verify");
  }
  {
    CpnsBody *b = ADD (CPNS_MSG_KEY_REQUEST, 0x6);
    b->key_request.user_id = CPNS_STR ("alice@example.org");
    b->key_request.subject = CPNS_STR ("pne-1");
  }
  {
    CpnsBody *b = ADD (CPNS_MSG_KEY_CHALLENGE, 0x1e);
    b->key_challenge.group = 1;
    b->key_challenge.salt = CPNS_BYTES (b32, 16);
    b->key_challenge.iterations = 100000;
    b->key_challenge.server_public = CPNS_BYTES (b32, 32);
  }
  {
    CpnsBody *b = ADD (CPNS_MSG_KEY_DELIVERY, 0x2);
    b->key_delivery.status = CPNS_KEY_STATUS_AUTH_FAILED;
  }
  {
    CpnsBody *b = ADD (CPNS_MSG_PNE_ANNOUNCE, 0xe);
    b->pne_announce.name = CPNS_STR ("Kitchen sensor ✓");
    b->pne_announce.has_ui = FALSE;
    b->pne_announce.has_tk = TRUE;
  }
  {
    CpnsBody *b = ADD (CPNS_MSG_PATH_SELECT, 0x2);
    b->path_select.path = CPNS_PATH_TEMPORARY_KEY;
  }
  {
    CpnsBody *b = ADD (CPNS_MSG_PATH_SELECT, 0x6);
    b->path_select.path = CPNS_PATH_INSTALL_CREDS;
    b->path_select.server_id = CPNS_STR ("cpns-server");
  }
  {
    CpnsBody *b = ADD (CPNS_MSG_PNE_ANNOUNCE, 0x7e);
    b->pne_announce.name = CPNS_STR ("watch");
    b->pne_announce.has_ui = TRUE;
    b->pne_announce.has_tk = TRUE;
    b->pne_announce.tk_kid = CPNS_BYTES (b32, 4);
    b->pne_announce.eukey_kid = CPNS_BYTES (b32, 16);
    b->pne_announce.local_kid = CPNS_BYTES (b32, 16);
  }
  {
    CpnsBody *b = ADD (CPNS_MSG_LOCAL_KEY_INSTALL, 0x6);
    b->local_key_install.kid = CPNS_BYTES (b32, 16);
    b->local_key_install.wrapped_key = CPNS_BYTES (b32, 32);
  }
  {
    CpnsBody *b = ADD (CPNS_MSG_EUKEY_TK_DELIVERY, 0x1e);
    b->eukey_tk_delivery.kid = CPNS_BYTES (b32, 8);
    b->eukey_tk_delivery.tk_kid = CPNS_BYTES (b32, 8);
    b->eukey_tk_delivery.wrapped_key = CPNS_BYTES (b32, 32);
    b->eukey_tk_delivery.user_id = CPNS_STR ("bob");
  }
#undef ADD

  for (guint i = 0; i < n; i++)
    {
      CpnsHeader hdr = header (types[i]);
      CpnsPlainMessage msg;
      guint8 buf[1024], again[1024];
      gsize len, len2;
      g_autoptr(GError) error = NULL;

      len = cpns_plain_encode (&hdr, &bodies[i], NULL, 0, buf, sizeof buf, &error);
      g_assert_no_error (error);
      g_assert_true (cpns_plain_decode (buf, len, &msg, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (msg.hdr.type, ==, types[i]);
      g_assert_cmpuint (msg.hdr.txid, ==, 77);
      g_assert_cmpstr (msg.hdr.src, ==, "gw-1");
      g_assert_cmpstr (msg.hdr.dst, ==, "server");
      g_assert_cmpuint (msg.body.present, ==, bodies[i].present);
      len2 = cpns_plain_encode (&msg.hdr, &msg.body, NULL, 0, again, sizeof again, &error);
      g_assert_cmpmem (buf, len, again, len2);
    }
}

/* Builds [header, body] with a hand-written body map. */
typedef void (*BodyWriter) (CpnsCborWriter *w);

static gsize
build (guint64 type, BodyWriter body, guint8 *buf, gsize cap)
{
  CpnsHeader hdr = header (type);
  CpnsCborWriter w;

  cpns_cbor_writer_init (&w, buf, cap);
  cpns_cbor_put_array (&w, 2);
  cpns_header_write (&w, &hdr);
  body (&w);
  g_assert_false (w.overflow);
  return w.len;
}

static void
expect_rejected (const guint8 *buf, gsize len, int code, const char *fragment)
{
  CpnsPlainMessage msg;
  g_autoptr(GError) error = NULL;

  g_assert_false (cpns_plain_decode (buf, len, &msg, &error));
  g_assert_error (error, CPNS_ERROR, code);
  if (strstr (error->message, fragment) == NULL)
    g_error ("error '%s' does not mention '%s'", error->message, fragment);
}

static void body_ok (CpnsCborWriter *w)
{
  cpns_cbor_put_map (w, 1);
  cpns_cbor_put_uint (w, 1);
  cpns_cbor_put_uint (w, 2);
}
static void body_duplicate (CpnsCborWriter *w)
{
  cpns_cbor_put_map (w, 2);
  cpns_cbor_put_uint (w, 1);
  cpns_cbor_put_uint (w, 2);
  cpns_cbor_put_uint (w, 1);
  cpns_cbor_put_uint (w, 3);
}
static void body_unknown_key (CpnsCborWriter *w)
{
  cpns_cbor_put_map (w, 2);
  cpns_cbor_put_uint (w, 1);
  cpns_cbor_put_uint (w, 2);
  cpns_cbor_put_uint (w, 9);
  cpns_cbor_put_uint (w, 3);
}
static void body_wrong_type (CpnsCborWriter *w)
{
  cpns_cbor_put_map (w, 1);
  cpns_cbor_put_uint (w, 1);
  cpns_cbor_put_text (w, "two", 3);
}
static void body_missing (CpnsCborWriter *w)
{
  cpns_cbor_put_map (w, 0);
}
static void body_out_of_range (CpnsCborWriter *w)
{
  cpns_cbor_put_map (w, 1);
  cpns_cbor_put_uint (w, 1);
  cpns_cbor_put_uint (w, 7);
}
static void body_bad_utf8 (CpnsCborWriter *w)
{
  cpns_cbor_put_map (w, 1);
  cpns_cbor_put_uint (w, 1);
  cpns_cbor_put_text (w, "\xff\xfe", 2);
}
static void body_bad_id (CpnsCborWriter *w)
{
  cpns_cbor_put_map (w, 1);
  cpns_cbor_put_uint (w, 1);
  cpns_cbor_put_text (w, "pne 1", 5);
}
static void body_long_list (CpnsCborWriter *w)
{
  cpns_cbor_put_map (w, 1);
  cpns_cbor_put_uint (w, 1);
  cpns_cbor_put_array (w, 9);
  for (int i = 0; i < 9; i++)
    cpns_cbor_put_uint (w, 24);
}

static void
test_strict_bodies (void)
{
  guint8 buf[512];
  gsize len;

  len = build (CPNS_MSG_PATH_SELECT, body_ok, buf, sizeof buf);
  {
    CpnsPlainMessage msg;
    g_assert_true (cpns_plain_decode (buf, len, &msg, NULL));
  }
  len = build (CPNS_MSG_PATH_SELECT, body_duplicate, buf, sizeof buf);
  expect_rejected (buf, len, CPNS_ERROR_MALFORMED, "duplicate key 1");
  len = build (CPNS_MSG_PATH_SELECT, body_unknown_key, buf, sizeof buf);
  expect_rejected (buf, len, CPNS_ERROR_MALFORMED, "unknown key 9");
  len = build (CPNS_MSG_PATH_SELECT, body_wrong_type, buf, sizeof buf);
  expect_rejected (buf, len, CPNS_ERROR_MALFORMED, "PATH_SELECT path: expected unsigned integer");
  len = build (CPNS_MSG_PATH_SELECT, body_missing, buf, sizeof buf);
  expect_rejected (buf, len, CPNS_ERROR_MALFORMED, "required key 1 (path) is missing");
  len = build (CPNS_MSG_PATH_SELECT, body_out_of_range, buf, sizeof buf);
  expect_rejected (buf, len, CPNS_ERROR_MALFORMED, "value 7 outside 0..3");
  len = build (CPNS_MSG_KEY_REQUEST, body_bad_utf8, buf, sizeof buf);
  expect_rejected (buf, len, CPNS_ERROR_MALFORMED, "UTF-8");
  len = build (CPNS_MSG_TK_REQUEST, body_bad_id, buf, sizeof buf);
  expect_rejected (buf, len, CPNS_ERROR_POLICY, "not allowed outside a session record");
  len = build (CPNS_MSG_HS_INIT, body_long_list, buf, sizeof buf);
  expect_rejected (buf, len, CPNS_ERROR_MALFORMED, "at most 8");
  {
    CpnsBody body;
    g_autoptr(GError) error = NULL;
    CpnsCborWriter w;

    cpns_cbor_writer_init (&w, buf, sizeof buf);
    body_bad_id (&w);
    g_assert_false (cpns_body_decode (buf, w.len, CPNS_MSG_TK_REQUEST, &body, &error));
    g_assert_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED);
    g_assert_nonnull (strstr (error->message, "not a valid Entity ID"));
  }
}

static void
test_strict_encoding (void)
{
  guint8 buf[512];
  gsize len;

  len = build (CPNS_MSG_PATH_SELECT, body_ok, buf, sizeof buf);

  /* Trailing byte. */
  buf[len] = 0x00;
  expect_rejected (buf, len + 1, CPNS_ERROR_MALFORMED, "trailing");

  /* Every truncation. */
  for (gsize cut = 0; cut < len; cut++)
    expect_rejected (buf, cut, CPNS_ERROR_MALFORMED, "");

  /* Non-shortest integer: txid 77 as 0x18 0x4d is fine, as 0x19 0x00 0x4d
   * is not. */
  {
    static const guint8 txid77[] = { 0x03, 0x18, 0x4d };
    guint8 longer[520];
    guint8 *p = memmem (buf, len, txid77, sizeof txid77);
    gsize off;

    g_assert_nonnull (p);
    off = p - buf;
    memcpy (longer, buf, off + 1);
    longer[off + 1] = 0x19;
    longer[off + 2] = 0x00;
    longer[off + 3] = 0x4d;
    memcpy (longer + off + 4, buf + off + 3, len - off - 3);
    expect_rejected (longer, len + 1, CPNS_ERROR_MALFORMED, "shortest form");
  }

  /* Indefinite-length map as the body. */
  {
    static const guint8 indefinite[] = { 0xbf, 0x01, 0x02, 0xff };
    gsize hdr_end = len - 3;  /* body_ok is a1 01 02 */
    guint8 b2[520];
    memcpy (b2, buf, hdr_end);
    memcpy (b2 + hdr_end, indefinite, sizeof indefinite);
    expect_rejected (b2, hdr_end + sizeof indefinite, CPNS_ERROR_MALFORMED, "indefinite");
  }

  /* A float where an integer belongs. */
  {
    static const guint8 floaty[] = { 0xa1, 0x01, 0xf9, 0x3c, 0x00 };
    gsize hdr_end = len - 3;
    guint8 b2[520];
    memcpy (b2, buf, hdr_end);
    memcpy (b2 + hdr_end, floaty, sizeof floaty);
    expect_rejected (b2, hdr_end + sizeof floaty, CPNS_ERROR_MALFORMED, "floats");
  }

  /* Oversized. */
  {
    g_autofree guint8 *big = g_malloc0 (CPNS_MAX_MESSAGE + 1);
    expect_rejected (big, CPNS_MAX_MESSAGE + 1, CPNS_ERROR_TOO_LARGE, "exceeds");
  }

  /* Not an array at all. */
  expect_rejected ((const guint8 *) "\xa0", 1, CPNS_ERROR_MALFORMED,
                   "expected array, got map");
}

static void
test_strict_header (void)
{
  CpnsHeader hdr = header (CPNS_MSG_PATH_SELECT);
  guint8 buf[512];
  CpnsCborWriter w;

  /* Unsupported version. */
  hdr.version = 2;
  cpns_cbor_writer_init (&w, buf, sizeof buf);
  cpns_cbor_put_array (&w, 2);
  cpns_header_write (&w, &hdr);
  body_ok (&w);
  expect_rejected (buf, w.len, CPNS_ERROR_UNSUPPORTED, "version 2");

  /* Unknown message type. */
  hdr = header (CPNS_MSG_PATH_SELECT);
  hdr.type = 99;
  cpns_cbor_writer_init (&w, buf, sizeof buf);
  cpns_cbor_put_array (&w, 2);
  cpns_header_write (&w, &hdr);
  body_ok (&w);
  expect_rejected (buf, w.len, CPNS_ERROR_UNSUPPORTED, "unknown message type 99");

  /* Record-only fields in a plain message. */
  hdr = header (CPNS_MSG_PATH_SELECT);
  hdr.in_record = TRUE;
  cpns_cbor_writer_init (&w, buf, sizeof buf);
  cpns_cbor_put_array (&w, 2);
  cpns_header_write (&w, &hdr);
  body_ok (&w);
  expect_rejected (buf, w.len, CPNS_ERROR_MALFORMED, "records only");

  /* A plain message claiming to be encrypted. */
  hdr = header (CPNS_MSG_PATH_SELECT);
  hdr.encrypted = TRUE;
  cpns_cbor_writer_init (&w, buf, sizeof buf);
  cpns_cbor_put_array (&w, 2);
  cpns_header_write (&w, &hdr);
  body_ok (&w);
  expect_rejected (buf, w.len, CPNS_ERROR_POLICY, "claims to be encrypted");

  /* Invalid Entity IDs are refused when set. */
  {
    g_autoptr(GError) error = NULL;
    g_assert_false (cpns_header_set_ids (&hdr, "", "server", &error));
    g_assert_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT);
  }
}

static void
test_encoder_refuses_invalid (void)
{
  CpnsHeader hdr = header (CPNS_MSG_KEY_CHALLENGE);
  CpnsBody body = { .present = 0x1e };
  guint8 buf[64];
  g_autoptr(GError) error = NULL;

  body.key_challenge.group = 1;
  body.key_challenge.salt = CPNS_STR ("short");
  body.key_challenge.iterations = 1000;
  body.key_challenge.server_public = CPNS_STR ("B");
  g_assert_cmpuint (cpns_plain_encode (&hdr, &body, NULL, 0, buf, sizeof buf, &error),
                    ==, 0);
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED);
  g_clear_error (&error);

  body.key_challenge.salt = CPNS_STR ("sixteen bytes!!!");
  body.present = 0x0e;
  g_assert_cmpuint (cpns_plain_encode (&hdr, &body, NULL, 0, buf, sizeof buf, &error),
                    ==, 0);
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* KEY_DELIVERY carries its key exactly when the status is 0. */
  {
    CpnsHeader kd_hdr = header (CPNS_MSG_KEY_DELIVERY);
    CpnsBody kd = { .present = 0x2 | 0x10 };
    g_clear_error (&error);
    kd.key_delivery.status = CPNS_KEY_STATUS_AUTH_FAILED;
    kd.key_delivery.wrapped_key = CPNS_STR ("stray");
    g_assert_cmpuint (cpns_plain_encode (&kd_hdr, &kd, NULL, 0, buf, sizeof buf, &error),
                      ==, 0);
    g_assert_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED);
    g_clear_error (&error);
    kd.present = 0x2;
    kd.key_delivery.status = CPNS_KEY_STATUS_OK;
    g_assert_cmpuint (cpns_plain_encode (&kd_hdr, &kd, NULL, 0, buf, sizeof buf, &error),
                      ==, 0);
    g_assert_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED);
    g_clear_error (&error);
  }

  /* Does not fit. */
  body.present = 0x1e;
  g_assert_cmpuint (cpns_plain_encode (&hdr, &body, NULL, 0, buf, 20, &error), ==, 0);
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/message/round-trip", test_round_trip);
  g_test_add_func ("/message/strict-bodies", test_strict_bodies);
  g_test_add_func ("/message/strict-encoding", test_strict_encoding);
  g_test_add_func ("/message/strict-header", test_strict_header);
  g_test_add_func ("/message/encoder-refuses-invalid", test_encoder_refuses_invalid);
  return g_test_run ();
}
