/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Manifest parsing: the format of cpns-admin(8), and errors that name the
 * line. */

#include <gio/gio.h>
#include <string.h>

#include "srv-manifest.h"

static void
test_good (void)
{
  static const char text[] =
    "# made by ACME, batch 7\n"
    "\n"
    "pne-watch-1 01 000102030405060708090a0b0c0d0e0f\n"
    "   pne-watch-2\t\tA1B2   00112233445566778899AABBCCDDEEFF0011223344556677  # spare\n"
    "pne:3@acme.example 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20 "
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000\r\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) entries = srv_manifest_parse (text, sizeof text - 1, "m", &error);
  SrvManifestEntry *e;

  g_assert_no_error (error);
  g_assert_cmpuint (entries->len, ==, 3);
  e = entries->pdata[0];
  g_assert_cmpstr (e->entity_id, ==, "pne-watch-1");
  g_assert_cmpuint (e->line, ==, 3);
  g_assert_cmpuint (e->kid_len, ==, 1);
  g_assert_cmpuint (e->tk->len, ==, 16);
  g_assert_cmpuint (e->tk->data[15], ==, 0x0f);
  e = entries->pdata[1];
  g_assert_cmpstr (e->entity_id, ==, "pne-watch-2");
  g_assert_cmpuint (e->kid[0], ==, 0xa1);
  g_assert_cmpuint (e->tk->len, ==, 24);
  e = entries->pdata[2];
  g_assert_cmpuint (e->kid_len, ==, 32);
  g_assert_cmpuint (e->tk->len, ==, 64);
}

static void
test_errors (void)
{
  static const struct {
    const char *text;
    const char *expect;
  } cases[] = {
    { "pne-1 01 000102030405060708090a0b0c0d0e0f\nbad!id 01 000102030405060708090a0b0c0d0e0f\n",
      "m:2: 'bad!id' is not an Entity ID" },
    { "# c\npne-1 01\n", "m:2: expected ENTITY-ID TK-KID-HEX TK-HEX, found 2 fields" },
    { "pne-1 01 0001020304050607 extra\n", "m:1: expected" },
    { "pne-1 0g 000102030405060708090a0b0c0d0e0f\n", "m:1: the TK key ID of 'pne-1'" },
    { "pne-1 012 000102030405060708090a0b0c0d0e0f\n", "m:1: the TK key ID" },
    { "\n\npne-1 01 0001020304050607\n", "m:3: the Temporary Key of 'pne-1' must be 16-64" },
    { "pne-1 01 000102030405060708090a0b0c0d0e0z\n", "m:1: the Temporary Key" },
    { "pne-1 01 000102030405060708090a0b0c0d0e0f\n#\npne-1 02 000102030405060708090a0b0c0d0e0f\n",
      "m:3: 'pne-1' is listed already on line 1" },
    { "# nothing\n\n", "m: no PNE listed" },
    /* Reserved for "the PN GW at the other end of the link". */
    { "pne-1 01 000102030405060708090a0b0c0d0e0f\n@pan 02 000102030405060708090a0b0c0d0e0f\n",
      "m:2: '@pan' is a reserved ID" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) entries = srv_manifest_parse (cases[i].text,
                                                         strlen (cases[i].text), "m",
                                                         &error);
      g_assert_null (entries);
      g_assert_nonnull (error);
      if (strstr (error->message, cases[i].expect) == NULL)
        g_error ("case %u: '%s' lacks '%s'", i, error->message, cases[i].expect);
      /* Keys never appear in messages. */
      g_assert_null (strstr (error->message, "000102030405"));
    }
}

static void
test_nul (void)
{
  static const char text[] = "pne-1 01 000102030405060708090a0b0c0d0e0f\npne-2\0 01 00\n";
  g_autoptr(GError) error = NULL;

  g_assert_null (srv_manifest_parse (text, sizeof text - 1, "m", &error));
  g_assert_nonnull (strstr (error->message, "m:2:"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/manifest/good", test_good);
  g_test_add_func ("/manifest/errors", test_errors);
  g_test_add_func ("/manifest/nul", test_nul);
  return g_test_run ();
}
