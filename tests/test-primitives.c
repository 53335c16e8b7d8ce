/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Known-answer tests for every cryptographic primitive the protocol uses,
 * through our wrappers in cpns-crypto.h where they exist (SRP-6a goes to
 * wolfCrypt directly).
 *
 * Every expected value below is copied from the published text named next
 * to it, in the document's own grouping; the hex decoder ignores white
 * space. Nothing here was produced by running the code under test.
 */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/sha.h>
#include <wolfssl/wolfcrypt/srp.h>

#include <string.h>

#include "cpns-crypto.h"
#include "cpns-error.h"

/* ---- helpers ---- */

/* Asserts that @call, which reports into the local `error`, succeeded;
 * checking the error first puts its message in the failure report. */
#define check_ok(call) \
  G_STMT_START { \
    gboolean check_ok_ = (call); \
    g_assert_no_error (error); \
    g_assert_true (check_ok_); \
  } G_STMT_END

/* Decodes @hex (white space allowed anywhere) into a new buffer. */
static guint8 *
unhex (const char *hex, gsize *len)
{
  GByteArray *bytes = g_byte_array_new ();
  int high = -1;

  for (const char *p = hex; *p != '\0'; p++)
    {
      int value;

      if (g_ascii_isspace (*p))
        continue;
      value = g_ascii_xdigit_value (*p);
      g_assert_cmpint (value, >=, 0);
      if (high < 0)
        high = value;
      else
        {
          guint8 byte = (guint8) (high << 4 | value);

          g_byte_array_append (bytes, &byte, 1);
          high = -1;
        }
    }
  g_assert_cmpint (high, ==, -1);
  *len = bytes->len;
  return g_byte_array_free (bytes, FALSE);
}

/* Decodes @hex, which must be exactly @len bytes, into @out. */
static void
unhex_into (const char *hex, guint8 *out, gsize len)
{
  gsize n;
  g_autofree guint8 *bytes = unhex (hex, &n);

  g_assert_cmpuint (n, ==, len);
  memcpy (out, bytes, len);
}

static gboolean
all_zero (const guint8 *data, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (data[i] != 0)
      return FALSE;
  return TRUE;
}

/* ---- SHA-256: FIPS 180-2, appendix B.1 and B.2 ---- */

static void
test_sha256 (void)
{
  static const struct {
    const char *message;
    const char *digest;
  } vectors[] = {
    { "abc",
      "ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad" },
    /* The 448-bit message. */
    { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61 d20638b8 e5c02693 0c3e6039 a33ce459 64ff2167 f6ecedd4 19db06c1" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autoptr(GError) error = NULL;
      guint8 digest[CPNS_HASH_LEN];
      gsize expected_len;
      g_autofree guint8 *expected = unhex (vectors[i].digest, &expected_len);

      check_ok (cpns_sha256 ((const guint8 *) vectors[i].message,
                             strlen (vectors[i].message), digest, &error));
      g_assert_cmpmem (digest, sizeof digest, expected, expected_len);
    }
}

/* ---- HMAC-SHA256: RFC 4231, section 4 ---- */

static void
test_hmac_sha256 (void)
{
  /* Test case 5 is left out: it checks truncation, which we never use. */
  static const struct {
    const char *name;
    const char *key;
    const char *data;
    const char *mac;
  } vectors[] = {
    { "4.2 test case 1",
      "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
      "0b0b0b0b",
      "4869205468657265",
      "b0344c61d8db38535ca8afceaf0bf12b"
      "881dc200c9833da726e9376c2e32cff7" },
    { "4.3 test case 2",
      "4a656665",
      "7768617420646f2079612077616e7420"
      "666f72206e6f7468696e673f",
      "5bdcc146bf60754e6a042426089575c7"
      "5a003f089d2739839dec58b964ec3843" },
    { "4.4 test case 3",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaa",
      "dddddddddddddddddddddddddddddddd"
      "dddddddddddddddddddddddddddddddd"
      "dddddddddddddddddddddddddddddddd"
      "dddd",
      "773ea91e36800e46854db8ebd09181a7"
      "2959098b3ef8c122d9635514ced565fe" },
    { "4.5 test case 4",
      "0102030405060708090a0b0c0d0e0f10"
      "111213141516171819",
      "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
      "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
      "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
      "cdcd",
      "82558a389a443c0ea4cc819899f2083a"
      "85f0faa3e578f8077a2e3ff46729665b" },
    { "4.7 test case 6",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaa",
      "54657374205573696e67204c61726765"
      "72205468616e20426c6f636b2d53697a"
      "65204b6579202d2048617368204b6579"
      "204669727374",
      "60e431591ee0b67f0d8a26aacbf5b77f"
      "8e0bc6213728c5140546040f0ee37f54" },
    { "4.8 test case 7",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaa",
      "54686973206973206120746573742075"
      "73696e672061206c6172676572207468"
      "616e20626c6f636b2d73697a65206b65"
      "7920616e642061206c61726765722074"
      "68616e20626c6f636b2d73697a652064"
      "6174612e20546865206b6579206e6565"
      "647320746f2062652068617368656420"
      "6265666f7265206265696e6720757365"
      "642062792074686520484d414320616c"
      "676f726974686d2e",
      "9b09ffa71b942fcb27635fbcd5b0e944"
      "bfdc63644f0713938a7f51535c3a35e2" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autoptr(GError) error = NULL;
      guint8 mac[CPNS_HMAC_TAG_LEN];
      gsize key_len, data_len, expected_len;
      g_autofree guint8 *key = unhex (vectors[i].key, &key_len);
      g_autofree guint8 *data = unhex (vectors[i].data, &data_len);
      g_autofree guint8 *expected = unhex (vectors[i].mac, &expected_len);

      g_test_message ("RFC 4231 %s", vectors[i].name);
      check_ok (cpns_hmac_sha256 (key, key_len, data, data_len, mac, &error));
      g_assert_cmpmem (mac, sizeof mac, expected, expected_len);
    }
}

/* A prepared key gives back its key, zero-padded to 32 bytes, for holders
 * that keep 32 bytes instead of the states: the same key to HMAC. */
static void
test_hmac_key_secret (void)
{
  static const gsize lengths[] = { 0, 4, 20, 31, 32, 33, 48, 64, 65, 131 };
  static const guint8 data[] = "what do ya want for nothing?";

  for (gsize i = 0; i < G_N_ELEMENTS (lengths); i++)
    {
      g_autoptr(GError) error = NULL;
      guint8 key[131], secret[CPNS_HASH_LEN], mac[CPNS_HASH_LEN], again[CPNS_HASH_LEN];
      CpnsHmacKey k, k2;
      gboolean kept;

      for (gsize j = 0; j < sizeof key; j++)
        key[j] = 0xa0 + j;
      memset (secret, 0x55, sizeof secret);
      check_ok (cpns_hmac_key_init (&k, key, lengths[i], &error));
      kept = cpns_hmac_key_get_secret (&k, secret);
      g_assert_cmpint (kept, ==, lengths[i] <= 32 || lengths[i] > 64);
      if (!kept)
        {
          for (gsize j = 0; j < sizeof secret; j++)
            g_assert_cmpuint (secret[j], ==, 0x55);
          cpns_hmac_key_clear (&k);
          continue;
        }
      check_ok (cpns_hmac_sha256 (key, lengths[i], data, sizeof data - 1, mac, &error));
      check_ok (cpns_hmac_key_init (&k2, secret, sizeof secret, &error));
      check_ok (cpns_hmac_key_mac (&k2, data, sizeof data - 1, NULL, 0, NULL, 0, again,
                                   &error));
      g_assert_cmpmem (again, sizeof again, mac, sizeof mac);
      cpns_hmac_key_clear (&k);
      cpns_hmac_key_clear (&k2);
    }
}

/* ---- HKDF-SHA256: RFC 5869, appendix A.1 to A.3 ---- */

static void
test_hkdf_sha256 (void)
{
  static const struct {
    const char *name;
    const char *ikm;
    const char *salt;  /* "" means not provided */
    const char *info;
    gsize l;
    const char *prk;
    const char *okm;
  } vectors[] = {
    { "A.1 test case 1",
      "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
      "000102030405060708090a0b0c",
      "f0f1f2f3f4f5f6f7f8f9",
      42,
      "077709362c2e32df0ddc3f0dc47bba63"
      "90b6c73bb50f9c3122ec844ad7c2b3e5",
      "3cb25f25faacd57a90434f64d0362f2a"
      "2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
      "34007208d5b887185865" },
    { "A.2 test case 2",
      "000102030405060708090a0b0c0d0e0f"
      "101112131415161718191a1b1c1d1e1f"
      "202122232425262728292a2b2c2d2e2f"
      "303132333435363738393a3b3c3d3e3f"
      "404142434445464748494a4b4c4d4e4f",
      "606162636465666768696a6b6c6d6e6f"
      "707172737475767778797a7b7c7d7e7f"
      "808182838485868788898a8b8c8d8e8f"
      "909192939495969798999a9b9c9d9e9f"
      "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
      "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
      "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
      "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
      "e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
      "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
      82,
      "06a6b88c5853361a06104c9ceb35b45c"
      "ef760014904671014a193f40c15fc244",
      "b11e398dc80327a1c8e7f78c596a4934"
      "4f012eda2d4efad8a050cc4c19afa97c"
      "59045a99cac7827271cb41c65e590e09"
      "da3275600c2f09b8367793a9aca3db71"
      "cc30c58179ec3e87c14c01d5c1f3434f"
      "1d87" },
    { "A.3 test case 3 (no salt, no info)",
      "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
      "",
      "",
      42,
      "19ef24a32c717b167f33a91d6f648bdf"
      "96596776afdb6377ac434c1c293ccb04",
      "8da4e775a563c18f715f802a063c5a31"
      "b8a11f5c5ee1879ec3454e5f3c738d2d"
      "9d201395faa4b61a96c8" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autoptr(GError) error = NULL;
      guint8 prk[CPNS_HASH_LEN];
      gsize ikm_len, salt_len, info_len, prk_len, okm_len;
      g_autofree guint8 *ikm = unhex (vectors[i].ikm, &ikm_len);
      g_autofree guint8 *salt = unhex (vectors[i].salt, &salt_len);
      g_autofree guint8 *info = unhex (vectors[i].info, &info_len);
      g_autofree guint8 *expected_prk = unhex (vectors[i].prk, &prk_len);
      g_autofree guint8 *expected_okm = unhex (vectors[i].okm, &okm_len);
      g_autofree guint8 *okm = g_malloc (vectors[i].l);

      g_test_message ("RFC 5869 %s", vectors[i].name);
      g_assert_cmpuint (okm_len, ==, vectors[i].l);

      check_ok (cpns_hkdf_extract (salt_len > 0 ? salt : NULL, salt_len,
                                   ikm, ikm_len, prk, &error));
      g_assert_cmpmem (prk, sizeof prk, expected_prk, prk_len);

      check_ok (cpns_hkdf_expand (prk, sizeof prk, info_len > 0 ? info : NULL,
                                  info_len, okm, vectors[i].l, &error));
      g_assert_cmpmem (okm, vectors[i].l, expected_okm, okm_len);
    }
}

/* ---- AEAD helpers ---- */

typedef struct {
  const char *name;
  CpnsAlg     alg;
  const char *key;
  const char *iv;
  const char *aad;
  const char *plaintext;
  const char *ciphertext;
  const char *tag;
} AeadVector;

/* Seals the plaintext and compares with ciphertext || tag, then opens that
 * and compares with the plaintext; both in place and out of place. */
static void
check_aead_vector (const AeadVector *v)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsAead) aead = NULL;
  guint8 iv[CPNS_AEAD_IV_LEN];
  gsize key_len, aad_len, pt_len, ct_len, tag_len;
  g_autofree guint8 *key = unhex (v->key, &key_len);
  g_autofree guint8 *aad = unhex (v->aad, &aad_len);
  g_autofree guint8 *pt = unhex (v->plaintext, &pt_len);
  g_autofree guint8 *ct = unhex (v->ciphertext, &ct_len);
  g_autofree guint8 *tag = unhex (v->tag, &tag_len);
  g_autofree guint8 *sealed = NULL;
  g_autofree guint8 *opened = NULL;
  g_autofree guint8 *buf = NULL;

  g_test_message ("%s", v->name);
  unhex_into (v->iv, iv, sizeof iv);
  g_assert_cmpuint (ct_len, ==, pt_len);
  g_assert_cmpuint (tag_len, ==, CPNS_AEAD_TAG_LEN);

  aead = cpns_aead_new (v->alg, key, key_len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (aead);

  sealed = g_malloc (pt_len + CPNS_AEAD_TAG_LEN);
  check_ok (cpns_aead_seal (aead, iv, aad, aad_len, pt, pt_len, sealed, &error));
  g_assert_cmpmem (sealed, pt_len, ct, ct_len);
  g_assert_cmpmem (sealed + pt_len, CPNS_AEAD_TAG_LEN, tag, tag_len);

  opened = g_malloc (pt_len + 1);
  check_ok (cpns_aead_open (aead, iv, aad, aad_len, sealed,
                            pt_len + CPNS_AEAD_TAG_LEN, opened, &error));
  g_assert_cmpmem (opened, pt_len, pt, pt_len);

  /* In place, as the header allows (@out may equal @in). */
  buf = g_malloc (pt_len + CPNS_AEAD_TAG_LEN);
  memcpy (buf, pt, pt_len);
  check_ok (cpns_aead_seal (aead, iv, aad, aad_len, buf, pt_len, buf, &error));
  g_assert_cmpmem (buf, pt_len + CPNS_AEAD_TAG_LEN, sealed, pt_len + CPNS_AEAD_TAG_LEN);
  check_ok (cpns_aead_open (aead, iv, aad, aad_len, buf, pt_len + CPNS_AEAD_TAG_LEN,
                            buf, &error));
  g_assert_cmpmem (buf, pt_len, pt, pt_len);
}

/* Flips bit @bit of ciphertext || tag (or of the AAD if @in_aad) and checks
 * that cpns_aead_open fails with CPNS_ERROR_BAD_MAC and wipes the output
 * buffer (filled with a non-zero pattern beforehand). */
static void
check_aead_tamper (const AeadVector *v, gboolean in_aad, gsize bit)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsAead) aead = NULL;
  guint8 iv[CPNS_AEAD_IV_LEN];
  gsize key_len, aad_len, ct_len, tag_len;
  g_autofree guint8 *key = unhex (v->key, &key_len);
  g_autofree guint8 *aad = unhex (v->aad, &aad_len);
  g_autofree guint8 *ct = unhex (v->ciphertext, &ct_len);
  g_autofree guint8 *tag = unhex (v->tag, &tag_len);
  g_autofree guint8 *sealed = g_malloc (ct_len + tag_len);
  g_autofree guint8 *out = g_malloc (ct_len);

  unhex_into (v->iv, iv, sizeof iv);
  memcpy (sealed, ct, ct_len);
  memcpy (sealed + ct_len, tag, tag_len);
  if (in_aad)
    {
      g_assert_cmpuint (bit / 8, <, aad_len);
      aad[bit / 8] ^= 1u << (bit % 8);
    }
  else
    {
      g_assert_cmpuint (bit / 8, <, ct_len + tag_len);
      sealed[bit / 8] ^= 1u << (bit % 8);
    }

  aead = cpns_aead_new (v->alg, key, key_len, &error);
  g_assert_no_error (error);

  memset (out, 0xa5, ct_len);
  g_assert_false (cpns_aead_open (aead, iv, aad, aad_len, sealed, ct_len + tag_len, out,
                                  &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_BAD_MAC);
  g_assert_true (all_zero (out, ct_len));
}

/* ---- ChaCha20-Poly1305: RFC 8439, section 2.8.2 and appendix A.5 ---- */

/* Section 2.8.2. The nonce is the 32-bit fixed-common part 07 00 00 00
 * followed by the 64-bit IV 40 41 42 43 44 45 46 47. */
static const AeadVector chacha_2_8_2 = {
  "RFC 8439 section 2.8.2",
  CPNS_ALG_CHACHA20_POLY1305,
  "80 81 82 83 84 85 86 87 88 89 8a 8b 8c 8d 8e 8f"
  "90 91 92 93 94 95 96 97 98 99 9a 9b 9c 9d 9e 9f",
  "07 00 00 00" "40 41 42 43 44 45 46 47",
  "50 51 52 53 c0 c1 c2 c3 c4 c5 c6 c7",
  /* "Ladies and Gentlemen of the class of '99: If I could offer you only
   * one tip for the future, sunscreen would be it." */
  "4c 61 64 69 65 73 20 61 6e 64 20 47 65 6e 74 6c"
  "65 6d 65 6e 20 6f 66 20 74 68 65 20 63 6c 61 73"
  "73 20 6f 66 20 27 39 39 3a 20 49 66 20 49 20 63"
  "6f 75 6c 64 20 6f 66 66 65 72 20 79 6f 75 20 6f"
  "6e 6c 79 20 6f 6e 65 20 74 69 70 20 66 6f 72 20"
  "74 68 65 20 66 75 74 75 72 65 2c 20 73 75 6e 73"
  "63 72 65 65 6e 20 77 6f 75 6c 64 20 62 65 20 69"
  "74 2e",
  "d3 1a 8d 34 64 8e 60 db 7b 86 af bc 53 ef 7e c2"
  "a4 ad ed 51 29 6e 08 fe a9 e2 b5 a7 36 ee 62 d6"
  "3d be a4 5e 8c a9 67 12 82 fa fb 69 da 92 72 8b"
  "1a 71 de 0a 9e 06 0b 29 05 d6 a5 b6 7e cd 3b 36"
  "92 dd bd 7f 2d 77 8b 8c 98 03 ae e3 28 09 1b 58"
  "fa b3 24 e4 fa d6 75 94 55 85 80 8b 48 31 d7 bc"
  "3f f4 de f0 8e 4b 7a 9d e5 76 d2 65 86 ce c6 4b"
  "61 16",
  "1a e1 0b 59 4f 09 e2 6a 7e 90 2e cb d0 60 06 91",
};

/* Appendix A.5, the decryption example. */
static const AeadVector chacha_a_5 = {
  "RFC 8439 appendix A.5",
  CPNS_ALG_CHACHA20_POLY1305,
  "1c 92 40 a5 eb 55 d3 8a f3 33 88 86 04 f6 b5 f0"
  "47 39 17 c1 40 2b 80 09 9d ca 5c bc 20 70 75 c0",
  "00 00 00 00 01 02 03 04 05 06 07 08",
  "f3 33 88 86 00 00 00 00 00 00 4e 91",
  /* "Internet-Drafts are draft documents valid for a maximum of six months
   * and may be updated, replaced, or obsoleted by other documents at any
   * time. It is inappropriate to use Internet-Drafts as reference material
   * or to cite them other than as /<U+201C>work in progress./<U+201D>",
   * the quotes in UTF-8. */
  "49 6e 74 65 72 6e 65 74 2d 44 72 61 66 74 73 20"
  "61 72 65 20 64 72 61 66 74 20 64 6f 63 75 6d 65"
  "6e 74 73 20 76 61 6c 69 64 20 66 6f 72 20 61 20"
  "6d 61 78 69 6d 75 6d 20 6f 66 20 73 69 78 20 6d"
  "6f 6e 74 68 73 20 61 6e 64 20 6d 61 79 20 62 65"
  "20 75 70 64 61 74 65 64 2c 20 72 65 70 6c 61 63"
  "65 64 2c 20 6f 72 20 6f 62 73 6f 6c 65 74 65 64"
  "20 62 79 20 6f 74 68 65 72 20 64 6f 63 75 6d 65"
  "6e 74 73 20 61 74 20 61 6e 79 20 74 69 6d 65 2e"
  "20 49 74 20 69 73 20 69 6e 61 70 70 72 6f 70 72"
  "69 61 74 65 20 74 6f 20 75 73 65 20 49 6e 74 65"
  "72 6e 65 74 2d 44 72 61 66 74 73 20 61 73 20 72"
  "65 66 65 72 65 6e 63 65 20 6d 61 74 65 72 69 61"
  "6c 20 6f 72 20 74 6f 20 63 69 74 65 20 74 68 65"
  "6d 20 6f 74 68 65 72 20 74 68 61 6e 20 61 73 20"
  "2f e2 80 9c 77 6f 72 6b 20 69 6e 20 70 72 6f 67"
  "72 65 73 73 2e 2f e2 80 9d",
  "64 a0 86 15 75 86 1a f4 60 f0 62 c7 9b e6 43 bd"
  "5e 80 5c fd 34 5c f3 89 f1 08 67 0a c7 6c 8c b2"
  "4c 6c fc 18 75 5d 43 ee a0 9e e9 4e 38 2d 26 b0"
  "bd b7 b7 3c 32 1b 01 00 d4 f0 3b 7f 35 58 94 cf"
  "33 2f 83 0e 71 0b 97 ce 98 c8 a8 4a bd 0b 94 81"
  "14 ad 17 6e 00 8d 33 bd 60 f9 82 b1 ff 37 c8 55"
  "97 97 a0 6e f4 f0 ef 61 c1 86 32 4e 2b 35 06 38"
  "36 06 90 7b 6a 7c 02 b0 f9 f6 15 7b 53 c8 67 e4"
  "b9 16 6c 76 7b 80 4d 46 a5 9b 52 16 cd e7 a4 e9"
  "90 40 c5 a4 04 33 22 5e e2 82 a1 b0 a0 6c 52 3e"
  "af 45 34 d7 f8 3f a1 15 5b 00 47 71 8c bc 54 6a"
  "0d 07 2b 04 b3 56 4e ea 1b 42 22 73 f5 48 27 1a"
  "0b b2 31 60 53 fa 76 99 19 55 eb d6 31 59 43 4e"
  "ce bb 4e 46 6d ae 5a 10 73 a6 72 76 27 09 7a 10"
  "49 e6 17 d9 1d 36 10 94 fa 68 f0 ff 77 98 71 30"
  "30 5b ea ba 2e da 04 df 99 7b 71 4d 6c 6f 2c 29"
  "a6 ad 5c b4 02 2b 02 70 9b",
  "ee ad 9d 67 89 0c bb 22 39 23 36 fe a1 85 1f 38",
};

static void
test_chacha20_poly1305 (void)
{
  static const char ladies[] =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one "
    "tip for the future, sunscreen would be it.";
  gsize pt_len;
  g_autofree guint8 *pt = unhex (chacha_2_8_2.plaintext, &pt_len);

  /* The hex above is the RFC's; make sure it is the sentence it claims. */
  g_assert_cmpmem (pt, pt_len, ladies, sizeof ladies - 1);

  check_aead_vector (&chacha_2_8_2);
  check_aead_vector (&chacha_a_5);

  /* One flipped bit anywhere must be caught, and nothing released. */
  check_aead_tamper (&chacha_2_8_2, FALSE, 0);              /* first ciphertext bit */
  check_aead_tamper (&chacha_2_8_2, FALSE, 113 * 8 + 7);    /* last ciphertext bit */
  check_aead_tamper (&chacha_2_8_2, FALSE, (114 + 15) * 8); /* in the tag */
  check_aead_tamper (&chacha_2_8_2, TRUE, 0);               /* first AAD bit */
  check_aead_tamper (&chacha_2_8_2, TRUE, 11 * 8 + 7);      /* last AAD bit */
  check_aead_tamper (&chacha_a_5, FALSE, 100 * 8 + 3);
  check_aead_tamper (&chacha_a_5, TRUE, 5 * 8 + 1);
}

static void
test_aead_errors (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsAead) aead = NULL;
  guint8 key[32] = { 0 };
  guint8 iv[CPNS_AEAD_IV_LEN] = { 0 };
  guint8 in[CPNS_AEAD_TAG_LEN - 1] = { 0 };
  guint8 out[1];

  /* Wrong key length for the algorithm, and a non-AEAD algorithm. */
  g_assert_null (cpns_aead_new (CPNS_ALG_A128GCM, key, 32, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  g_assert_null (cpns_aead_new (CPNS_ALG_CHACHA20_POLY1305, key, 16, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  g_assert_null (cpns_aead_new (CPNS_ALG_HMAC256, key, 32, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED);
  g_clear_error (&error);

  /* Input shorter than a tag. */
  aead = cpns_aead_new (CPNS_ALG_CHACHA20_POLY1305, key, sizeof key, &error);
  g_assert_no_error (error);
  g_assert_false (cpns_aead_open (aead, iv, NULL, 0, in, sizeof in, out, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED);
}

/* ---- AES-GCM: McGrew & Viega, "The Galois/Counter Mode of Operation
 * (GCM)", appendix B, test cases 4 and 16 ---- */

/* Test case 4: AES-128, 96-bit IV, 20 bytes of AAD, 60-byte plaintext. */
static const AeadVector gcm_case_4 = {
  "GCM spec test case 4 (AES-128)",
  CPNS_ALG_A128GCM,
  "feffe9928665731c6d6a8f9467308308",
  "cafebabefacedbaddecaf888",
  "feedfacedeadbeeffeedfacedeadbeef"
  "abaddad2",
  "d9313225f88406e5a55909c5aff5269a"
  "86a7a9531534f7da2e4c303d8a318a72"
  "1c3c0c95956809532fcf0e2449a6b525"
  "b16aedf5aa0de657ba637b39",
  "42831ec2217774244b7221b784d0d49c"
  "e3aa212f2c02a4e035c17e2329aca12e"
  "21d514b25466931c7d8f6a5aac84aa05"
  "1ba30b396a0aac973d58e091",
  "5bc94fbc3221a5db94fae95ae7121a47",
};

/* Test case 16: the same with AES-256. */
static const AeadVector gcm_case_16 = {
  "GCM spec test case 16 (AES-256)",
  CPNS_ALG_A256GCM,
  "feffe9928665731c6d6a8f9467308308"
  "feffe9928665731c6d6a8f9467308308",
  "cafebabefacedbaddecaf888",
  "feedfacedeadbeeffeedfacedeadbeef"
  "abaddad2",
  "d9313225f88406e5a55909c5aff5269a"
  "86a7a9531534f7da2e4c303d8a318a72"
  "1c3c0c95956809532fcf0e2449a6b525"
  "b16aedf5aa0de657ba637b39",
  "522dc1f099567d07f47f37a32a84427d"
  "643a8cdcbfe5c0c97598a2bd2555d1aa"
  "8cb08e48590dbb3da7b08b1056828838"
  "c5f61e6393ba7a0abcc9f662",
  "76fc6ece0f4e1768cddf8853bb2d551b",
};

static void
test_aes_gcm (void)
{
  check_aead_vector (&gcm_case_4);
  check_aead_vector (&gcm_case_16);

  check_aead_tamper (&gcm_case_4, FALSE, 0);
  check_aead_tamper (&gcm_case_4, FALSE, (60 + 15) * 8 + 7);
  check_aead_tamper (&gcm_case_4, TRUE, 19 * 8);
  check_aead_tamper (&gcm_case_16, FALSE, 59 * 8 + 7);
  check_aead_tamper (&gcm_case_16, TRUE, 0);
}

/* ---- PBKDF2-HMAC-SHA256: RFC 7914, section 11 ---- */

static void
test_pbkdf2_sha256 (void)
{
  static const struct {
    const char *password;
    const char *salt;
    guint iterations;
    const char *dk;
  } vectors[] = {
    { "passwd", "salt", 1,
      "55 ac 04 6e 56 e3 08 9f ec 16 91 c2 25 44 b6 05"
      "f9 41 85 21 6d de 04 65 e6 8b 9d 57 c2 0d ac bc"
      "49 ca 9c cc f1 79 b6 45 99 16 64 b3 9d 77 ef 31"
      "7c 71 b8 45 b1 e3 0b d5 09 11 20 41 d3 a1 97 83" },
    { "Password", "NaCl", 80000,
      "4d dc d8 f6 0b 98 be 21 83 0c ee 5e f2 27 01 f9"
      "64 1a 44 18 d0 4c 04 14 ae ff 08 87 6b 34 ab 56"
      "a1 d4 25 a1 22 58 33 54 9a db 84 1b 51 c9 b3 17"
      "6a 27 2b de bb a1 d0 78 47 8f 62 b3 97 f3 3c 8d" },
  };
  g_autoptr(GError) error = NULL;
  guint8 dk[64];

  for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      gsize expected_len;
      g_autofree guint8 *expected = unhex (vectors[i].dk, &expected_len);

      g_test_message ("RFC 7914 P=\"%s\", S=\"%s\", c=%u, dkLen=64",
                      vectors[i].password, vectors[i].salt, vectors[i].iterations);
      g_assert_cmpuint (expected_len, ==, sizeof dk);
      check_ok (cpns_pbkdf2_sha256 ((const guint8 *) vectors[i].password,
                                    strlen (vectors[i].password),
                                    (const guint8 *) vectors[i].salt,
                                    strlen (vectors[i].salt),
                                    vectors[i].iterations, dk, sizeof dk, &error));
      g_assert_cmpmem (dk, sizeof dk, expected, expected_len);
    }

  /* Zero iterations is refused rather than passed to wolfCrypt. */
  g_assert_false (cpns_pbkdf2_sha256 ((const guint8 *) "p", 1, (const guint8 *) "s", 1,
                                      0, dk, sizeof dk, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT);
}

/* ---- X25519: RFC 7748, sections 5.2 and 6.1 ---- */

/* X25519(@scalar, @u) through our API: cpns_x25519_shared wants our own
 * public key as well, so compute it from a copy of the scalar (which
 * cpns_x25519_public clamps in place, as X25519 itself would). */
static gboolean
x25519 (const guint8 scalar[CPNS_X25519_LEN], const guint8 u[CPNS_X25519_LEN],
        guint8 out[CPNS_X25519_LEN], GError **error)
{
  guint8 priv[CPNS_X25519_LEN];
  guint8 pub[CPNS_X25519_LEN];
  gboolean ok;

  memcpy (priv, scalar, sizeof priv);
  ok = cpns_x25519_public (priv, pub, error) &&
       cpns_x25519_shared (priv, pub, u, out, error);
  cpns_wipe (priv, sizeof priv);
  return ok;
}

static void
test_x25519_dh (void)
{
  /* Section 6.1. */
  static const char alice_priv_hex[] =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
  static const char alice_pub_hex[] =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
  static const char bob_priv_hex[] =
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
  static const char bob_pub_hex[] =
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
  static const char shared_hex[] =
    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  g_autoptr(GError) error = NULL;
  guint8 alice_priv[CPNS_X25519_LEN], alice_pub[CPNS_X25519_LEN];
  guint8 bob_priv[CPNS_X25519_LEN], bob_pub[CPNS_X25519_LEN];
  guint8 expected[CPNS_X25519_LEN], original[CPNS_X25519_LEN];
  guint8 shared_a[CPNS_X25519_LEN], shared_b[CPNS_X25519_LEN];

  unhex_into (alice_priv_hex, alice_priv, sizeof alice_priv);
  unhex_into (bob_priv_hex, bob_priv, sizeof bob_priv);

  /* Public keys; the private keys come back clamped (RFC 7748, 5):
   * only the three low bits of byte 0 and the top two of byte 31 change. */
  memcpy (original, alice_priv, sizeof original);
  check_ok (cpns_x25519_public (alice_priv, alice_pub, &error));
  unhex_into (alice_pub_hex, expected, sizeof expected);
  g_assert_cmpmem (alice_pub, sizeof alice_pub, expected, sizeof expected);
  g_assert_cmpuint (alice_priv[0], ==, original[0] & 248);
  g_assert_cmpuint (alice_priv[31], ==, (original[31] & 127) | 64);
  g_assert_cmpmem (alice_priv + 1, 30, original + 1, 30);

  memcpy (original, bob_priv, sizeof original);
  check_ok (cpns_x25519_public (bob_priv, bob_pub, &error));
  unhex_into (bob_pub_hex, expected, sizeof expected);
  g_assert_cmpmem (bob_pub, sizeof bob_pub, expected, sizeof expected);
  g_assert_cmpuint (bob_priv[0], ==, original[0] & 248);
  g_assert_cmpuint (bob_priv[31], ==, (original[31] & 127) | 64);
  g_assert_cmpmem (bob_priv + 1, 30, original + 1, 30);

  /* Clamping is idempotent: a second call leaves key and result alone. */
  memcpy (original, alice_priv, sizeof original);
  check_ok (cpns_x25519_public (alice_priv, expected, &error));
  g_assert_cmpmem (alice_priv, sizeof alice_priv, original, sizeof original);
  g_assert_cmpmem (expected, sizeof expected, alice_pub, sizeof alice_pub);

  /* The shared secret, both ways round. */
  unhex_into (shared_hex, expected, sizeof expected);
  check_ok (cpns_x25519_shared (alice_priv, alice_pub, bob_pub, shared_a, &error));
  g_assert_cmpmem (shared_a, sizeof shared_a, expected, sizeof expected);
  check_ok (cpns_x25519_shared (bob_priv, bob_pub, alice_pub, shared_b, &error));
  g_assert_cmpmem (shared_b, sizeof shared_b, expected, sizeof expected);
}

static void
test_x25519_function (void)
{
  /* Section 5.2, the two single-call vectors. Both scalars are given
   * unclamped; the second u-coordinate has its top bit set, which X25519
   * "MUST mask" (section 5). */
  static const struct {
    const char *scalar;
    const char *u;
    const char *out;
  } vectors[] = {
    { "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
      "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
      "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552" },
    { "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
      "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
      "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957" },
  };
  /* Section 5.2, the iterated test: k = u = 9, then k, u = X25519(k, u), k. */
  static const char after_1_hex[] =
    "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079";
  static const char after_1000_hex[] =
    "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51";
  g_autoptr(GError) error = NULL;
  guint8 k[CPNS_X25519_LEN] = { 9 }, u[CPNS_X25519_LEN] = { 9 };
  guint8 out[CPNS_X25519_LEN], expected[CPNS_X25519_LEN];

  for (gsize i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      guint8 scalar[CPNS_X25519_LEN], point[CPNS_X25519_LEN];

      g_test_message ("RFC 7748 5.2 vector %" G_GSIZE_FORMAT, i + 1);
      unhex_into (vectors[i].scalar, scalar, sizeof scalar);
      unhex_into (vectors[i].u, point, sizeof point);
      unhex_into (vectors[i].out, expected, sizeof expected);

      /* Vector 2 has bit 255 of u set: RFC 7748 section 5 says to ignore it. */
      check_ok (x25519 (scalar, point, out, &error));
      g_assert_cmpmem (out, sizeof out, expected, sizeof expected);
    }

  for (guint i = 1; i <= 1000; i++)
    {
      check_ok (x25519 (k, u, out, &error));
      memcpy (u, k, sizeof u);
      memcpy (k, out, sizeof k);
      if (i == 1)
        {
          unhex_into (after_1_hex, expected, sizeof expected);
          g_assert_cmpmem (k, sizeof k, expected, sizeof expected);
        }
    }
  unhex_into (after_1000_hex, expected, sizeof expected);
  g_assert_cmpmem (k, sizeof k, expected, sizeof expected);
}

static void
test_x25519_low_order (void)
{
  /* Section 6.1: a peer key of small order gives the all-zero secret,
   * which must be refused. u = 0 (the all-zero key) and u = 1 (a point of
   * order 4) are such keys. */
  g_autoptr(GError) error = NULL;
  guint8 priv[CPNS_X25519_LEN], pub[CPNS_X25519_LEN];
  guint8 zero[CPNS_X25519_LEN] = { 0 };
  guint8 one[CPNS_X25519_LEN] = { 1 };
  guint8 shared[CPNS_X25519_LEN];

  unhex_into ("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
              priv, sizeof priv);
  check_ok (cpns_x25519_public (priv, pub, &error));

  g_assert_false (cpns_x25519_shared (priv, pub, zero, shared, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED);
  g_clear_error (&error);

  g_assert_false (cpns_x25519_shared (priv, pub, one, shared, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_MALFORMED);
}

/* ---- SRP-6a: RFC 5054, appendix B (SHA-1, the 1024-bit group of
 * appendix A), through wolfCrypt's SRP API ---- */

static const char srp_n_hex[] =
  "EEAF0AB9 ADB38DD6 9C33F80A FA8FC5E8 60726187 75FF3C0B 9EA2314C"
  "9C256576 D674DF74 96EA81D3 383B4813 D692C6E0 E0D5D8E2 50B98BE4"
  "8E495C1D 6089DAD1 5DC7D7B4 6154D6B6 CE8EF4AD 69B15D49 82559B29"
  "7BCF1885 C529F566 660E57EC 68EDBC3C 05726CC0 2FD4CBF4 976EAA9A"
  "FD5138FE 8376435B 9FC61D2F C0EB06E3";
static const char srp_salt_hex[] = "BEB25379 D1A8581E B5A72767 3A2441EE";
static const char srp_k_hex[] = "7556AA04 5AEF2CDD 07ABAF0F 665C3E81 8913186F";
static const char srp_v_hex[] =
  "7E273DE8 696FFC4F 4E337D05 B4B375BE B0DDE156 9E8FA00A 9886D812"
  "9BADA1F1 822223CA 1A605B53 0E379BA4 729FDC59 F105B478 7E5186F5"
  "C671085A 1447B52A 48CF1970 B4FB6F84 00BBF4CE BFBB1681 52E08AB5"
  "EA53D15C 1AFF87B2 B9DA6E04 E058AD51 CC72BFC9 033B564E 26480D78"
  "E955A5E2 9E7AB245 DB2BE315 E2099AFB";
static const char srp_a_hex[] =
  "60975527 035CF2AD 1989806F 0407210B C81EDC04 E2762A56 AFD529DD"
  "DA2D4393";
static const char srp_b_hex[] =
  "E487CB59 D31AC550 471E81F0 0F6928E0 1DDA08E9 74A004F4 9E61F5D1"
  "05284D20";
static const char srp_A_hex[] =
  "61D5E490 F6F1B795 47B0704C 436F523D D0E560F0 C64115BB 72557EC4"
  "4352E890 3211C046 92272D8B 2D1A5358 A2CF1B6E 0BFCF99F 921530EC"
  "8E393561 79EAE45E 42BA92AE ACED8251 71E1E8B9 AF6D9C03 E1327F44"
  "BE087EF0 6530E69F 66615261 EEF54073 CA11CF58 58F0EDFD FE15EFEA"
  "B349EF5D 76988A36 72FAC47B 0769447B";
static const char srp_B_hex[] =
  "BD0C6151 2C692C0C B6D041FA 01BB152D 4916A1E7 7AF46AE1 05393011"
  "BAF38964 DC46A067 0DD125B9 5A981652 236F99D9 B681CBF8 7837EC99"
  "6C6DA044 53728610 D0C6DDB5 8B318885 D7D82C7F 8DEB75CE 7BD4FBAA"
  "37089E6F 9C6059F3 88838E7A 00030B33 1EB76840 910440B1 B27AAEAE"
  "EB4012B7 D7665238 A8E3FB00 4B117B58";
/* The premaster secret. */
static const char srp_S_hex[] =
  "B0DC82BA BCF30674 AE450C02 87745E79 90A3381F 63B387AA F271A10D"
  "233861E3 59B48220 F7C4693C 9AE12B0A 6F67809F 0876E2D0 13800D6C"
  "41BB59B6 D5979B5C 00A172B4 A2A5903A 0BDCAF8A 709585EB 2AFAFA8F"
  "3499B200 210DCC1F 10EB3394 3CD67FC8 8A2F39A4 BE5BEC4E C0A3212D"
  "C346D7E4 74B29EDE 8A469FFE CA686E5A";

#define SRP_USER     "alice"
#define SRP_PASSWORD "password123"
#define SRP_N_LEN    128

static void
srp_setup (Srp *srp, SrpSide side)
{
  static const byte g[] = { 2 };
  gsize n_len, salt_len;
  g_autofree guint8 *n = unhex (srp_n_hex, &n_len);
  g_autofree guint8 *salt = unhex (srp_salt_hex, &salt_len);

  g_assert_cmpuint (n_len, ==, SRP_N_LEN);
  g_assert_cmpint (wc_SrpInit (srp, SRP_TYPE_SHA, side), ==, 0);
  g_assert_cmpint (wc_SrpSetUsername (srp, (const byte *) SRP_USER,
                                      strlen (SRP_USER)), ==, 0);
  g_assert_cmpint (wc_SrpSetParams (srp, n, n_len, g, sizeof g, salt, salt_len), ==, 0);
}

/* Runs the client as far as its public value, with @password. */
static void
srp_client_start (Srp *client, const char *password, guint8 *verifier,
                  word32 *verifier_len, guint8 A[SRP_N_LEN])
{
  gsize a_len;
  g_autofree guint8 *a = unhex (srp_a_hex, &a_len);
  word32 A_len = SRP_N_LEN;

  srp_setup (client, SRP_CLIENT_SIDE);
  g_assert_cmpint (wc_SrpSetPassword (client, (const byte *) password,
                                      strlen (password)), ==, 0);
  g_assert_cmpint (wc_SrpGetVerifier (client, verifier, verifier_len), ==, 0);
  g_assert_cmpint (wc_SrpSetPrivate (client, a, a_len), ==, 0);
  g_assert_cmpint (wc_SrpGetPublic (client, A, &A_len), ==, 0);
  g_assert_cmpuint (A_len, ==, SRP_N_LEN);
}

/* Runs the server as far as its public value, for verifier @v. */
static void
srp_server_start (Srp *server, const guint8 *v, gsize v_len, guint8 B[SRP_N_LEN])
{
  gsize b_len;
  g_autofree guint8 *b = unhex (srp_b_hex, &b_len);
  word32 B_len = SRP_N_LEN;

  srp_setup (server, SRP_SERVER_SIDE);
  g_assert_cmpint (wc_SrpSetVerifier (server, v, v_len), ==, 0);
  g_assert_cmpint (wc_SrpSetPrivate (server, b, b_len), ==, 0);
  g_assert_cmpint (wc_SrpGetPublic (server, B, &B_len), ==, 0);
  g_assert_cmpuint (B_len, ==, SRP_N_LEN);
}

static void
test_srp6a (void)
{
  Srp client, server;
  guint8 v[SRP_N_LEN], A[SRP_N_LEN], B[SRP_N_LEN];
  word32 v_len = sizeof v;
  guint8 client_proof[WC_SHA_DIGEST_SIZE], server_proof[WC_SHA_DIGEST_SIZE];
  word32 proof_len;
  guint8 block[SRP_N_LEN + 4];
  guint8 expected_key[2 * WC_SHA_DIGEST_SIZE];
  gsize len, S_len;
  g_autofree guint8 *expected_v = unhex (srp_v_hex, &len);
  g_autofree guint8 *expected_A = unhex (srp_A_hex, &len);
  g_autofree guint8 *expected_B = unhex (srp_B_hex, &len);
  g_autofree guint8 *expected_k = unhex (srp_k_hex, &len);
  g_autofree guint8 *S = unhex (srp_S_hex, &S_len);

  g_test_message ("SRP_MODULUS_MIN_BITS is %d; the RFC 5054 group has 1024",
                  SRP_MODULUS_MIN_BITS);

  /* Client: x from salt, I and P; v = g^x; A = g^a. */
  srp_client_start (&client, SRP_PASSWORD, v, &v_len, A);
  g_assert_cmpmem (client.k, WC_SHA_DIGEST_SIZE, expected_k, WC_SHA_DIGEST_SIZE);
  g_assert_cmpmem (v, v_len, expected_v, SRP_N_LEN);
  g_assert_cmpmem (A, sizeof A, expected_A, SRP_N_LEN);

  /* Server: B = k*v + g^b, from the stored verifier. */
  srp_server_start (&server, v, v_len, B);
  g_assert_cmpmem (server.k, WC_SHA_DIGEST_SIZE, expected_k, WC_SHA_DIGEST_SIZE);
  g_assert_cmpmem (B, sizeof B, expected_B, SRP_N_LEN);

  /* Both sides derive the same session key... */
  g_assert_cmpint (wc_SrpComputeKey (&client, A, sizeof A, B, sizeof B), ==, 0);
  g_assert_cmpint (wc_SrpComputeKey (&server, A, sizeof A, B, sizeof B), ==, 0);
  g_assert_cmpmem (client.key, client.keySz, server.key, server.keySz);

  /* ...which is wolfCrypt's K = SHA1(S | 00000000) | SHA1(S | 00000001) of
   * the RFC's premaster secret S (wolfCrypt does not expose S itself). */
  g_assert_cmpuint (S_len, ==, SRP_N_LEN);
  for (guint32 i = 0; i < 2; i++)
    {
      memcpy (block, S, S_len);
      block[S_len] = i >> 24;
      block[S_len + 1] = i >> 16;
      block[S_len + 2] = i >> 8;
      block[S_len + 3] = i;
      g_assert_cmpint (wc_ShaHash (block, sizeof block,
                                   expected_key + i * WC_SHA_DIGEST_SIZE), ==, 0);
    }
  g_assert_cmpmem (client.key, client.keySz, expected_key, sizeof expected_key);

  /* The client proves first; the server answers only if that verifies. */
  proof_len = sizeof client_proof;
  g_assert_cmpint (wc_SrpGetProof (&client, client_proof, &proof_len), ==, 0);
  g_assert_cmpuint (proof_len, ==, WC_SHA_DIGEST_SIZE);
  g_assert_cmpint (wc_SrpVerifyPeersProof (&server, client_proof, proof_len), ==, 0);
  proof_len = sizeof server_proof;
  g_assert_cmpint (wc_SrpGetProof (&server, server_proof, &proof_len), ==, 0);
  g_assert_cmpuint (proof_len, ==, WC_SHA_DIGEST_SIZE);
  g_assert_cmpint (wc_SrpVerifyPeersProof (&client, server_proof, proof_len), ==, 0);

  wc_SrpTerm (&client);
  wc_SrpTerm (&server);
}

static void
test_srp6a_wrong_password (void)
{
  Srp client, server;
  guint8 v[SRP_N_LEN], v_wrong[SRP_N_LEN], A[SRP_N_LEN], B[SRP_N_LEN];
  word32 v_len = sizeof v, v_wrong_len = sizeof v_wrong;
  guint8 proof[WC_SHA_DIGEST_SIZE];
  word32 proof_len = sizeof proof;

  /* The server holds the verifier for the right password... */
  srp_client_start (&client, SRP_PASSWORD, v, &v_len, A);
  wc_SrpTerm (&client);
  srp_server_start (&server, v, v_len, B);

  /* ...and the client types a wrong one. */
  srp_client_start (&client, "password124", v_wrong, &v_wrong_len, A);
  g_assert_false (v_wrong_len == v_len && memcmp (v_wrong, v, v_len) == 0);

  g_assert_cmpint (wc_SrpComputeKey (&client, A, sizeof A, B, sizeof B), ==, 0);
  g_assert_cmpint (wc_SrpComputeKey (&server, A, sizeof A, B, sizeof B), ==, 0);
  g_assert_false (client.keySz == server.keySz &&
                  memcmp (client.key, server.key, client.keySz) == 0);

  g_assert_cmpint (wc_SrpGetProof (&client, proof, &proof_len), ==, 0);
  g_assert_cmpint (wc_SrpVerifyPeersProof (&server, proof, proof_len), ==, SRP_VERIFY_E);

  wc_SrpTerm (&client);
  wc_SrpTerm (&server);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/primitives/sha256", test_sha256);
  g_test_add_func ("/primitives/hmac-sha256", test_hmac_sha256);
  g_test_add_func ("/primitives/hmac-key-secret", test_hmac_key_secret);
  g_test_add_func ("/primitives/hkdf-sha256", test_hkdf_sha256);
  g_test_add_func ("/primitives/chacha20-poly1305", test_chacha20_poly1305);
  g_test_add_func ("/primitives/aes-gcm", test_aes_gcm);
  g_test_add_func ("/primitives/aead-errors", test_aead_errors);
  g_test_add_func ("/primitives/pbkdf2-sha256", test_pbkdf2_sha256);
  g_test_add_func ("/primitives/x25519/dh", test_x25519_dh);
  g_test_add_func ("/primitives/x25519/function", test_x25519_function);
  g_test_add_func ("/primitives/x25519/low-order", test_x25519_low_order);
  g_test_add_func ("/primitives/srp6a", test_srp6a);
  g_test_add_func ("/primitives/srp6a/wrong-password", test_srp6a_wrong_password);

  return g_test_run ();
}
