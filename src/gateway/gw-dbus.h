/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The D-Bus edge of pngwd: org.cpns.Gateway1 at /org/cpns/Gateway1 (with
 * an ObjectManager for the PNE objects below it), one org.cpns.PNE1 object
 * per GwPne (served by gw-dbus-pne), agents (also the credential source of
 * the PNE manager), caller checks, and GwError mapped to org.cpns.Error.*.
 * A thin adapter: the logic is in GwDaemon, GwPneManager and
 * GwAgentManager. */

#include <gio/gio.h>

#include "gw-daemon.h"

G_BEGIN_DECLS

#define GW_DBUS_NAME "org.cpns.Gateway1"
#define GW_DBUS_PATH "/org/cpns/Gateway1"
#define GW_DBUS_PNE_PATH_PREFIX GW_DBUS_PATH "/pne/"

#define GW_TYPE_DBUS (gw_dbus_get_type ())
G_DECLARE_FINAL_TYPE (GwDbus, gw_dbus, GW, DBUS, GObject)

GwDbus     *gw_dbus_new   (GwDaemon *daemon);
/* Owns the name on @bus_type.  Without a bus the daemon runs on without
 * its API; a name owned by someone else is reported through "name-lost". */
void        gw_dbus_start (GwDbus *self, GBusType bus_type);
void        gw_dbus_stop  (GwDbus *self);

const char *gw_error_to_dbus_name (const GError *error);

/* /org/cpns/Gateway1/pne/ and @entity_id with every byte but A-Z, a-z and
 * 0-9 written as _xx (docs/dbus-api.md, "PNE object paths"). */
char       *gw_dbus_pne_object_path (const char *entity_id);

G_END_DECLS
