/* SPDX-License-Identifier: GPL-3.0-or-later */

/* pngwctl monitor: one line per event (property changes of the gateway
 * and its PNEs, PNEs added and removed, EnrollmentFinished, pngwd started
 * and stopped) until SIGINT or SIGTERM. */

#include "ctl.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>

typedef struct {
  Ctl       *ctl;
  GMainLoop *loop;
  int        status;
  char      *owner;    /* pngwd's unique name, as last reported */
} Monitor;

/* Text: "WHO: "; JSON: {"event":..,"path":..,"interface":..,"id":.. */
static GString *
begin_event (Monitor *m, const char *event, GDBusProxy *proxy)
{
  GString *line = g_string_new (NULL);
  gboolean is_gateway = proxy == G_DBUS_PROXY (m->ctl->gateway);
  g_autofree char *id = NULL;

  if (proxy != NULL)
    id = ctl_entity_id (proxy);
  if (m->ctl->json)
    {
      g_string_append (line, "{\"event\":");
      ctl_json_string (line, event);
      if (proxy != NULL)
        {
          g_string_append (line, ",\"path\":");
          ctl_json_string (line, g_dbus_proxy_get_object_path (proxy));
          g_string_append (line, ",\"interface\":");
          ctl_json_string (line, g_dbus_proxy_get_interface_name (proxy));
          g_string_append (line, ",\"id\":");
          ctl_json_string (line, id);
        }
    }
  else if (proxy == NULL || g_str_has_prefix (event, "daemon-"))
    g_string_append (line, "pngwd:");
  else if (is_gateway)
    g_string_append (line, "gateway:");
  else
    {
      g_string_append (line, "pne ");
      ctl_text_string (line, id, TRUE);
      g_string_append_c (line, ':');
    }
  return line;
}

static void
end_event (GString *line, gboolean json)
{
  if (json)
    g_string_append_c (line, '}');
  ctl_print_line (line);
  g_string_free (line, TRUE);
}

static void
append_text_pair (GString *line, const char *name, GVariant *value)
{
  g_string_append_printf (line, " %s=", name);
  ctl_text_value (line, value, TRUE);
}

/* All cached properties: ,"properties":{..} or " Name=value ...". */
static void
append_all (Monitor *m, GString *line, GDBusProxy *proxy)
{
  GDBusInterfaceInfo *info = g_dbus_proxy_get_interface_info (proxy);

  if (m->ctl->json)
    {
      g_string_append (line, ",\"properties\":");
      ctl_json_properties (line, proxy, info);
      return;
    }
  for (guint i = 0; info->properties[i] != NULL; i++)
    {
      g_autoptr(GVariant) value = g_dbus_proxy_get_cached_property (proxy,
                                                                    info->properties[i]->name);
      append_text_pair (line, info->properties[i]->name, value);
    }
}

static void
print_changed (Monitor *m, GDBusProxy *proxy, GVariant *changed, const char *const *invalidated)
{
  GString *line = begin_event (m, "changed", proxy);
  GVariantIter iter;
  const char *name;
  GVariant *value;

  if (m->ctl->json)
    {
      g_string_append (line, ",\"properties\":");
      ctl_json_dict (line, changed);
      g_string_append (line, ",\"invalidated\":[");
      for (guint i = 0; invalidated != NULL && invalidated[i] != NULL; i++)
        {
          if (i > 0)
            g_string_append_c (line, ',');
          ctl_json_string (line, invalidated[i]);
        }
      g_string_append_c (line, ']');
    }
  else
    {
      g_variant_iter_init (&iter, changed);
      while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
        {
          append_text_pair (line, name, value);
          g_variant_unref (value);
        }
      for (guint i = 0; invalidated != NULL && invalidated[i] != NULL; i++)
        g_string_append_printf (line, " %s=(invalidated)", invalidated[i]);
    }
  end_event (line, m->ctl->json);
}

static void
on_gateway_changed (GDBusProxy *proxy, GVariant *changed, GStrv invalidated,
                    gpointer user_data)
{
  Monitor *m = user_data;
  g_autofree char *owner = g_dbus_proxy_get_name_owner (proxy);

  /* The proxy clears its cache when pngwd stops and may reload it when
   * another starts: "daemon-stopped" and "daemon-started" say that. */
  if (owner != NULL && g_strcmp0 (owner, m->owner) == 0)
    print_changed (m, proxy, changed, (const char *const *) invalidated);
}

static void
on_pne_changed (GDBusObjectManagerClient *manager, GDBusObjectProxy *object,
                GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer user_data)
{
  if (g_strcmp0 (g_dbus_proxy_get_interface_name (proxy), CTL_PNE_INTERFACE) == 0)
    print_changed (user_data, proxy, changed, (const char *const *) invalidated);
}

static void
print_pne (Monitor *m, GDBusObject *object, const char *event)
{
  g_autoptr(GDBusInterface) pne = g_dbus_object_get_interface (object, CTL_PNE_INTERFACE);
  GString *line;

  if (pne == NULL)
    return;
  line = begin_event (m, event, G_DBUS_PROXY (pne));
  if (g_str_equal (event, "added"))
    {
      if (!m->ctl->json)
        g_string_append (line, " added");
      append_all (m, line, G_DBUS_PROXY (pne));
    }
  else if (!m->ctl->json)
    g_string_append (line, " removed");
  end_event (line, m->ctl->json);
}

static void
on_object_added (GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
  print_pne (user_data, object, "added");
}

static void
on_object_removed (GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
  print_pne (user_data, object, "removed");
}

static void
on_enrollment_finished (PngwGateway1 *gateway, gboolean success, const char *message,
                        gpointer user_data)
{
  Monitor *m = user_data;
  GString *line = begin_event (m, "enrollment-finished", G_DBUS_PROXY (gateway));
  g_autoptr(GVariant) ok = g_variant_ref_sink (g_variant_new_boolean (success));
  g_autoptr(GVariant) text = g_variant_ref_sink (g_variant_new_string (message));

  if (m->ctl->json)
    {
      g_string_append (line, ",\"success\":");
      ctl_json_value (line, ok);
      g_string_append (line, ",\"message\":");
      ctl_json_value (line, text);
    }
  else
    {
      g_string_append (line, " EnrollmentFinished");
      append_text_pair (line, "success", ok);
      append_text_pair (line, "message", text);
    }
  end_event (line, m->ctl->json);
}

static void
on_name_owner (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  Monitor *m = user_data;
  GDBusProxy *gateway = G_DBUS_PROXY (object);
  g_autofree char *owner = g_dbus_proxy_get_name_owner (gateway);
  GString *line;

  if (g_strcmp0 (owner, m->owner) == 0)
    return;
  g_free (m->owner);
  m->owner = g_steal_pointer (&owner);
  if (m->owner == NULL)
    {
      line = begin_event (m, "daemon-stopped", NULL);
      if (!m->ctl->json)
        g_string_append (line, " stopped");
    }
  else
    {
      /* A new pngwd: its properties came with it. */
      line = begin_event (m, "daemon-started", gateway);
      if (!m->ctl->json)
        g_string_append (line, " started");
      append_all (m, line, gateway);
    }
  end_event (line, m->ctl->json);
}

static gboolean
on_signal (gpointer user_data)
{
  Monitor *m = user_data;

  g_main_loop_quit (m->loop);
  return G_SOURCE_CONTINUE;
}

static void
on_closed (GDBusConnection *bus, gboolean remote_peer_vanished, GError *error,
           gpointer user_data)
{
  Monitor *m = user_data;

  g_printerr ("pngwctl: the connection to the system bus was lost\n");
  m->status = CTL_EXIT_NOT_RUNNING;
  g_main_loop_quit (m->loop);
}

int
ctl_monitor (Ctl *ctl)
{
  Monitor m = { ctl, g_main_loop_new (NULL, FALSE), CTL_EXIT_OK,
                g_dbus_proxy_get_name_owner (G_DBUS_PROXY (ctl->gateway)) };
  int status = ctl_connect_objects (ctl);
  guint sigint, sigterm;
  GString *line;

  if (status != CTL_EXIT_OK)
    {
      g_main_loop_unref (m.loop);
      g_free (m.owner);
      return status;
    }
  g_signal_connect (ctl->gateway, "g-properties-changed", G_CALLBACK (on_gateway_changed), &m);
  g_signal_connect (ctl->gateway, "enrollment-finished",
                    G_CALLBACK (on_enrollment_finished), &m);
  g_signal_connect (ctl->gateway, "notify::g-name-owner", G_CALLBACK (on_name_owner), &m);
  g_signal_connect (ctl->objects, "interface-proxy-properties-changed",
                    G_CALLBACK (on_pne_changed), &m);
  g_signal_connect (ctl->objects, "object-added", G_CALLBACK (on_object_added), &m);
  g_signal_connect (ctl->objects, "object-removed", G_CALLBACK (on_object_removed), &m);
  g_signal_connect (ctl->bus, "closed", G_CALLBACK (on_closed), &m);
  sigint = g_unix_signal_add (SIGINT, on_signal, &m);
  sigterm = g_unix_signal_add (SIGTERM, on_signal, &m);

  /* Everything from here on is seen: a reader may start what it watches. */
  if (ctl->json)
    {
      line = begin_event (&m, "ready", NULL);
      end_event (line, TRUE);
    }
  else
    g_printerr ("Monitoring pngwd (Ctrl+C stops).\n");
  g_main_loop_run (m.loop);

  g_source_remove (sigterm);
  g_source_remove (sigint);
  g_signal_handlers_disconnect_by_data (ctl->bus, &m);
  g_signal_handlers_disconnect_by_data (ctl->objects, &m);
  g_signal_handlers_disconnect_by_data (ctl->gateway, &m);
  g_main_loop_unref (m.loop);
  g_free (m.owner);
  return m.status;
}
