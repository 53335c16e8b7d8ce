/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Lower-case hexadecimal, as keys and key IDs appear in manifests, in the
 * admin tool's output and in logs of key IDs (never of keys). */

#include <glib.h>

G_BEGIN_DECLS

char    *srv_hex_encode (const guint8 *data, gsize len);
/* Decodes @len characters of @text; FALSE on an odd length or a character
 * that is not a hex digit.  @out holds at least @len / 2 bytes. */
gboolean srv_hex_decode (const char *text, gsize len, guint8 *out);

G_END_DECLS
