/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The org.cpns.PNE1 objects at /org/cpns/Gateway1/pne/<id>, and the
 * org.freedesktop.DBus.ObjectManager at /org/cpns/Gateway1 that lists them,
 * without an object per PNE: one subtree answers for every GwPne added and
 * reads its properties from it when asked, so that a PNE costs the D-Bus
 * side a table entry.  Names, types and introspection come from the
 * generated pngw_pne1_interface_info() (data/org.cpns.Gateway1.xml).
 * PropertiesChanged follows each GwPne's notify: the changes of one
 * main-loop iteration in one signal, holding only values that differ from
 * what clients were last sent.  Changes come through the PNE's one
 * changed function (gw_pne_set_changed_func()), not a handler per PNE. */

#include <gio/gio.h>

#include "gw-pne.h"

G_BEGIN_DECLS

/* Provision or Forget (g_dbus_method_invocation_get_method_name()) was
 * called on @entity_id's object; the function answers @invocation, now or
 * later.  Arguments are checked against the XML before. */
typedef void (*GwDbusPneMethodFunc) (GDBusMethodInvocation *invocation,
                                     const char *entity_id, gpointer user_data);

#define GW_TYPE_DBUS_PNES (gw_dbus_pnes_get_type ())
G_DECLARE_FINAL_TYPE (GwDbusPnes, gw_dbus_pnes, GW, DBUS_PNES, GObject)

/* Registers the ObjectManager on @connection (an empty list until PNEs are
 * added); unregisters all on dispose. */
GwDbusPnes *gw_dbus_pnes_new    (GDBusConnection *connection, GwDbusPneMethodFunc method,
                                 gpointer user_data);
/* Shows @pne (InterfacesAdded), replacing another GwPne of the same Entity
 * ID. */
void        gw_dbus_pnes_add    (GwDbusPnes *self, GwPne *pne);
/* Drops @pne's object (InterfacesRemoved); its unsent changes are dropped. */
void        gw_dbus_pnes_remove (GwDbusPnes *self, GwPne *pne);
/* Sends @entity_id's pending PropertiesChanged now (before a reply that
 * clients should see after it). */
void        gw_dbus_pnes_flush  (GwDbusPnes *self, const char *entity_id);

/* @pne's org.cpns.PNE1 properties as clients get them (a{sv}). */
GVariant   *gw_dbus_pne_get_properties (GwPne *pne);

G_END_DECLS
