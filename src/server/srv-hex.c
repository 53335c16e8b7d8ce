/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-hex.h"

char *
srv_hex_encode (const guint8 *data, gsize len)
{
  static const char digits[] = "0123456789abcdef";
  char *out = g_malloc (len * 2 + 1);

  for (gsize i = 0; i < len; i++)
    {
      out[2 * i] = digits[data[i] >> 4];
      out[2 * i + 1] = digits[data[i] & 0xf];
    }
  out[len * 2] = '\0';
  return out;
}

gboolean
srv_hex_decode (const char *text, gsize len, guint8 *out)
{
  if (len % 2 != 0)
    return FALSE;
  for (gsize i = 0; i < len; i += 2)
    {
      int hi = g_ascii_xdigit_value (text[i]);
      int lo = g_ascii_xdigit_value (text[i + 1]);

      if (hi < 0 || lo < 0)
        return FALSE;
      out[i / 2] = (guint8) (hi << 4 | lo);
    }
  return TRUE;
}
