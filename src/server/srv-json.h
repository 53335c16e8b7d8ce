/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Just enough JSON writing for cpns-admin --json and the test client. */

#include <glib.h>

G_BEGIN_DECLS

/* Appends @text as a JSON string, or null when @text is NULL. */
void srv_json_string (GString *out, const char *text);

G_END_DECLS
