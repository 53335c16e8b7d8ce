/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the parts of pngwctl share: exit statuses, the connection to pngwd,
 * error reporting and output formatting. */

#include <gio/gio.h>

#include "pngw-dbus-generated.h"

G_BEGIN_DECLS

#define CTL_BUS_NAME      "org.cpns.Gateway1"
#define CTL_GATEWAY_PATH  "/org/cpns/Gateway1"
#define CTL_PNE_INTERFACE "org.cpns.PNE1"

/* Enrolment and provisioning may wait for an unreachable server. */
#define CTL_LONG_TIMEOUT_MS (10 * 60 * 1000)

/* The documented exit statuses (--help, pngwctl(1)). */
typedef enum {
  CTL_EXIT_OK = 0,
  CTL_EXIT_FAILED = 1,        /* pngwd reported a failure, or a local one */
  CTL_EXIT_USAGE = 2,
  CTL_EXIT_NOT_RUNNING = 3,   /* pngwd is not on the bus, or no bus */
  CTL_EXIT_DENIED = 4,
  CTL_EXIT_CANCELED = 5,
} CtlExit;

typedef struct {
  gboolean            json;
  const char         *user;           /* --user */
  const char         *password_file;  /* --password-file */
  GDBusConnection    *bus;
  PngwGateway1       *gateway;        /* proxy for CTL_GATEWAY_PATH */
  GDBusObjectManager *objects;        /* the PNE objects, once asked for */
} Ctl;

/* ctl-connect.c: the bus, the gateway proxy and the PNE objects.  The
 * functions returning int print what went wrong and return the exit
 * status. */
int          ctl_connect          (Ctl *ctl);
int          ctl_connect_objects  (Ctl *ctl);
GList       *ctl_list_pnes        (Ctl *ctl);
GDBusProxy  *ctl_find_pne         (Ctl *ctl, const char *id, GError **error);
void         ctl_clear            (Ctl *ctl);

/* ctl-error.c */
int          ctl_error_status     (const GError *error);
char        *ctl_error_message    (const GError *error);
int          ctl_report           (const char *context, const GError *error);
int          ctl_usage_error      (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* ctl-output.c: JSON with D-Bus property names, and text that is safe to
 * show on a terminal. */
void         ctl_json_string      (GString *out, const char *s);
void         ctl_json_value       (GString *out, GVariant *value);
void         ctl_json_properties  (GString *out, GDBusProxy *proxy,
                                   GDBusInterfaceInfo *info);
void         ctl_json_dict        (GString *out, GVariant *dict);
void         ctl_json_pne         (GString *out, GDBusProxy *pne);
void         ctl_text_string      (GString *out, const char *s, gboolean quote);
void         ctl_text_value       (GString *out, GVariant *value, gboolean quote);
void         ctl_print_properties (GDBusProxy *proxy, GDBusInterfaceInfo *info,
                                   gboolean with_path);
char        *ctl_entity_id        (GDBusProxy *proxy);
void         ctl_print_line       (GString *line);

/* ctl-agent.c: calls @method of @proxy while a terminal agent answers
 * pngwd's requests for credentials; Ctrl+C cancels. */
gboolean     ctl_call_with_agent  (Ctl *ctl, GDBusProxy *proxy, const char *method,
                                   GError **error);
/* Calls Provision on @pne (which returns once pngwd accepted it) and
 * answers as an agent until the PNE's State tells the outcome: TRUE for
 * ready; FALSE with LastError for needs-credentials, failed or
 * disconnected. */
gboolean     ctl_provision_with_agent (Ctl *ctl, GDBusProxy *pne, GError **error);
int          ctl_run_agent        (Ctl *ctl);

/* ctl-monitor.c */
int          ctl_monitor          (Ctl *ctl);

G_END_DECLS
