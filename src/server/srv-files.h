/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Files that hold secrets (the database, the server secret): 0600 in a
 * 0700 directory, created so whatever the umask, and refused when others
 * may read them.  Errors are G_FILE_ERROR and name the path. */

#include <glib.h>

#include "cpns-crypto.h"

G_BEGIN_DECLS

/* Creates @dir and its parents with mode 0700 when missing.  An existing
 * directory is left alone (it may be shared, like /tmp), with a message
 * when others may enter it. */
gboolean    srv_files_ensure_private_dir  (const char *dir, GError **error);
/* Creates an empty @path with mode 0600 when missing; fails when it exists
 * and is not a regular file or group or others may access it. */
gboolean    srv_files_ensure_private_file (const char *path, GError **error);
/* Reads the @len random bytes of @path, or creates it atomically with
 * fresh random bytes (mode 0600) on first use. */
CpnsSecret *srv_files_load_secret         (const char *path, gsize len, GError **error);

G_END_DECLS
