/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* A manufacturer's manifest of PNEs and their Temporary Keys, one PNE a
 * line:
 *
 *   ENTITY-ID TK-KID-HEX TK-HEX     # comment
 *
 * Fields are separated by blanks; '#' starts a comment; blank lines are
 * ignored.  Errors name the file and line (G_IO_ERROR_INVALID_DATA, or
 * G_IO_ERROR_EXISTS for a PNE listed twice). */

#include <gio/gio.h>

#include "cpns-crypto.h"
#include "cpns-message.h"

G_BEGIN_DECLS

typedef struct {
  char       *entity_id;
  guint8      kid[CPNS_KID_MAX];
  gsize       kid_len;
  CpnsSecret *tk;
  guint       line;
} SrvManifestEntry;

void srv_manifest_entry_free (SrvManifestEntry *entry);

/* Array of SrvManifestEntry; @name names the text in errors. */
GPtrArray *srv_manifest_parse (const char *text, gsize len, const char *name,
                               GError **error);
GPtrArray *srv_manifest_load  (const char *path, GError **error);

G_END_DECLS
