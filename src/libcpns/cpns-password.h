/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Passwords for the programs: from the terminal without echo, or from the
 * first line of a file; never from the command line, where every user of
 * the machine could read them. */

#include <gio/gio.h>

#include "cpns-crypto.h"

G_BEGIN_DECLS

#define CPNS_PASSWORD_MAX 256   /* what SRP clients accept */

/* The first line of @path, its line ending stripped. */
CpnsSecret *cpns_password_from_file     (const char *path, GError **error);
/* Asks on the controlling terminal; with @confirm asks twice and insists
 * that both answers agree. */
CpnsSecret *cpns_password_from_terminal (const char *prompt, gboolean confirm,
                                        GError **error);

G_END_DECLS
