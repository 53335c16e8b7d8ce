/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "ctl.h"

#include <string.h>

/* Joins the system bus and makes the gateway proxy; on failure says why
 * and returns the exit status. */
int
ctl_connect (Ctl *ctl)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) all = NULL;
  g_auto(GStrv) cached = NULL;
  g_autofree char *owner = NULL;

  ctl->bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (ctl->bus == NULL)
    {
      g_printerr ("pngwctl: cannot connect to the system bus: %s\n", error->message);
      return CTL_EXIT_NOT_RUNNING;
    }
  /* A lost bus is reported where it matters, not by a SIGTERM. */
  g_dbus_connection_set_exit_on_close (ctl->bus, FALSE);
  /* Without G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START: bus activation may start
   * pngwd where it is set up. */
  ctl->gateway = pngw_gateway1_proxy_new_sync (ctl->bus, G_DBUS_PROXY_FLAGS_NONE,
                                               CTL_BUS_NAME, CTL_GATEWAY_PATH, NULL, &error);
  if (ctl->gateway == NULL)
    return ctl_report (NULL, error);
  owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (ctl->gateway));
  if (owner == NULL)
    {
      g_printerr ("pngwctl: pngwd is not running (nothing owns " CTL_BUS_NAME
                  " on the system bus)\n");
      return CTL_EXIT_NOT_RUNNING;
    }
  /* The proxy swallows a failed GetAll; ask again to learn why. */
  cached = g_dbus_proxy_get_cached_property_names (G_DBUS_PROXY (ctl->gateway));
  if (cached == NULL)
    {
      all = g_dbus_connection_call_sync (ctl->bus, CTL_BUS_NAME, CTL_GATEWAY_PATH,
                                         "org.freedesktop.DBus.Properties", "GetAll",
                                         g_variant_new ("(s)", "org.cpns.Gateway1"),
                                         G_VARIANT_TYPE ("(a{sv})"),
                                         G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, &error);
      if (all == NULL)
        return ctl_report ("cannot read the gateway's properties", error);
    }
  return CTL_EXIT_OK;
}

/* The PNE objects, from the ObjectManager at the gateway's path. */
int
ctl_connect_objects (Ctl *ctl)
{
  g_autoptr(GError) error = NULL;

  ctl->objects = pngw_object_manager_client_new_sync (
    ctl->bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START, CTL_BUS_NAME,
    CTL_GATEWAY_PATH, NULL, &error);
  if (ctl->objects == NULL)
    return ctl_report ("cannot list the PNEs", error);
  return CTL_EXIT_OK;
}

static int
compare_pnes (gconstpointer a, gconstpointer b)
{
  g_autofree char *id_a = ctl_entity_id ((GDBusProxy *) a);
  g_autofree char *id_b = ctl_entity_id ((GDBusProxy *) b);
  int order = strcmp (id_a, id_b);

  if (order != 0)
    return order;
  return strcmp (g_dbus_proxy_get_object_path ((GDBusProxy *) a),
                 g_dbus_proxy_get_object_path ((GDBusProxy *) b));
}

/* The org.cpns.PNE1 proxies (owned by the list), sorted by ID. */
GList *
ctl_list_pnes (Ctl *ctl)
{
  GList *objects = g_dbus_object_manager_get_objects (ctl->objects);
  GList *pnes = NULL;

  for (GList *l = objects; l != NULL; l = l->next)
    {
      GDBusInterface *pne = g_dbus_object_get_interface (l->data, CTL_PNE_INTERFACE);

      if (pne != NULL)
        pnes = g_list_prepend (pnes, pne);
    }
  g_list_free_full (objects, g_object_unref);
  return g_list_sort (pnes, compare_pnes);
}

/* @id is the EntityId; an object path is taken as well. */
GDBusProxy *
ctl_find_pne (Ctl *ctl, const char *id, GError **error)
{
  GList *pnes = ctl_list_pnes (ctl);
  GDBusProxy *found = NULL;

  for (GList *l = pnes; l != NULL && found == NULL; l = l->next)
    {
      g_autofree char *pne_id = ctl_entity_id (l->data);

      if (strcmp (pne_id, id) == 0 ||
          strcmp (g_dbus_proxy_get_object_path (l->data), id) == 0)
        found = g_object_ref (l->data);
    }
  g_list_free_full (pnes, g_object_unref);
  if (found == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                 "pngwd knows no PNE '%s' (see 'pngwctl pne list')", id);
  return found;
}

void
ctl_clear (Ctl *ctl)
{
  g_clear_object (&ctl->objects);
  g_clear_object (&ctl->gateway);
  g_clear_object (&ctl->bus);
}
