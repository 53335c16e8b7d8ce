/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "ctl.h"

#include <stdarg.h>
#include <string.h>

/* How a known error is worded: pngwd's messages are written for people,
 * the bus's are not. */
typedef enum {
  WORDING_DETAIL,    /* pngwd's message; the text only when it is empty */
  WORDING_PREFIX,    /* "text: message" */
  WORDING_REPLACE,   /* the text alone */
} Wording;

/* The D-Bus errors a person may meet, and the exit status of each. */
static const struct {
  const char *name;
  CtlExit     status;
  Wording     wording;
  const char *text;
} known_errors[] = {
  { "org.cpns.Error.AuthenticationFailed", CTL_EXIT_FAILED, WORDING_DETAIL,
    "the User ID or password was not accepted" },
  { "org.cpns.Error.ServerUnreachable", CTL_EXIT_FAILED, WORDING_PREFIX,
    "the CPNS Server cannot be reached" },
  { "org.cpns.Error.ServerRefused", CTL_EXIT_FAILED, WORDING_PREFIX,
    "the CPNS Server refused" },
  { "org.cpns.Error.NotEnrolled", CTL_EXIT_FAILED, WORDING_DETAIL,
    "the gateway is not enrolled" },
  { "org.cpns.Error.Busy", CTL_EXIT_FAILED, WORDING_DETAIL,
    "pngwd is busy with the same operation" },
  { "org.cpns.Error.NoAgent", CTL_EXIT_FAILED, WORDING_DETAIL,
    "no agent gave User ID and password" },
  { "org.cpns.Error.InvalidArguments", CTL_EXIT_FAILED, WORDING_DETAIL, "invalid arguments" },
  { "org.cpns.Error.NotFound", CTL_EXIT_FAILED, WORDING_DETAIL, "not found" },
  { "org.cpns.Error.AlreadyExists", CTL_EXIT_FAILED, WORDING_DETAIL, "already exists" },
  { "org.cpns.Error.Failed", CTL_EXIT_FAILED, WORDING_DETAIL, "failed" },
  { "org.cpns.Error.PermissionDenied", CTL_EXIT_DENIED, WORDING_PREFIX, "permission denied" },
  { "org.cpns.Error.Canceled", CTL_EXIT_CANCELED, WORDING_DETAIL, "canceled" },
  { "org.freedesktop.DBus.Error.AccessDenied", CTL_EXIT_DENIED, WORDING_REPLACE,
    "permission denied by the system bus policy (only root and members of the "
    "group pngw may do this)" },
  { "org.freedesktop.DBus.Error.AuthFailed", CTL_EXIT_DENIED, WORDING_PREFIX,
    "permission denied" },
  { "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", CTL_EXIT_DENIED,
    WORDING_PREFIX, "permission denied" },
  { "org.freedesktop.DBus.Error.ServiceUnknown", CTL_EXIT_NOT_RUNNING, WORDING_REPLACE,
    "pngwd is not running (nothing owns " CTL_BUS_NAME " on the system bus)" },
  { "org.freedesktop.DBus.Error.NameHasNoOwner", CTL_EXIT_NOT_RUNNING, WORDING_REPLACE,
    "pngwd is not running (nothing owns " CTL_BUS_NAME " on the system bus)" },
  { "org.freedesktop.DBus.Error.NoReply", CTL_EXIT_NOT_RUNNING, WORDING_PREFIX,
    "pngwd did not answer; it may have stopped" },
  { "org.freedesktop.DBus.Error.UnknownMethod", CTL_EXIT_FAILED, WORDING_PREFIX,
    "this pngwd does not offer that (another version?)" },
};

static int
find_known (const GError *error)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);

  if (name == NULL)
    return -1;
  for (guint i = 0; i < G_N_ELEMENTS (known_errors); i++)
    if (strcmp (name, known_errors[i].name) == 0)
      return (int) i;
  return -1;
}

int
ctl_error_status (const GError *error)
{
  int i = find_known (error);

  if (i >= 0)
    return known_errors[i].status;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return CTL_EXIT_CANCELED;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
    return CTL_EXIT_DENIED;
  /* The bus connection went away under a call. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    return CTL_EXIT_NOT_RUNNING;
  if (error->domain == G_DBUS_ERROR &&
      (error->code == G_DBUS_ERROR_SERVICE_UNKNOWN ||
       error->code == G_DBUS_ERROR_NAME_HAS_NO_OWNER))
    return CTL_EXIT_NOT_RUNNING;
  if (error->domain == G_DBUS_ERROR &&
      (error->code == G_DBUS_ERROR_ACCESS_DENIED || error->code == G_DBUS_ERROR_AUTH_FAILED))
    return CTL_EXIT_DENIED;
  return CTL_EXIT_FAILED;
}

char *
ctl_error_message (const GError *error)
{
  g_autoptr(GError) copy = g_error_copy (error);
  int i = find_known (error);

  g_dbus_error_strip_remote_error (copy);
  if (i < 0)
    return g_strdup (copy->message);
  if (known_errors[i].wording == WORDING_REPLACE || *copy->message == '\0')
    return g_strdup (known_errors[i].text);
  if (known_errors[i].wording == WORDING_PREFIX)
    return g_strdup_printf ("%s: %s", known_errors[i].text, copy->message);
  return g_strdup (copy->message);
}

int
ctl_report (const char *context, const GError *error)
{
  g_autofree char *message = ctl_error_message (error);

  if (context != NULL)
    g_printerr ("pngwctl: %s: %s\n", context, message);
  else
    g_printerr ("pngwctl: %s\n", message);
  return ctl_error_status (error);
}

int
ctl_usage_error (const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("pngwctl: %s\nTry 'pngwctl --help'.\n", message);
  return CTL_EXIT_USAGE;
}
