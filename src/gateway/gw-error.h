/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define GW_ERROR (gw_error_quark ())

/* Errors of the daemon itself; the D-Bus edge maps them to org.cpns.Error.*. */
typedef enum {
  GW_ERROR_FAILED,
  GW_ERROR_CONFIG,              /* a configuration value is wrong */
  GW_ERROR_NOT_ENROLLED,
  GW_ERROR_AUTHENTICATION_FAILED,
  GW_ERROR_SERVER_UNREACHABLE,
  GW_ERROR_SERVER_REFUSED,      /* the server answered with an error */
  GW_ERROR_BUSY,                /* an enrollment is already running */
  GW_ERROR_CANCELLED,
  GW_ERROR_KEYSTORE,
  GW_ERROR_NO_AGENT,
  GW_ERROR_INVALID_ARGUMENTS,
  GW_ERROR_PERMISSION_DENIED,
  GW_ERROR_NOT_FOUND,
  GW_ERROR_ALREADY_EXISTS,
} GwError;

GQuark gw_error_quark (void);

G_END_DECLS
