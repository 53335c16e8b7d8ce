/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The org.cpns.PNE1 objects of gw-dbus: object paths as docs/dbus-api.md
 * specifies them, the mapping of GwPne to the D-Bus properties, and, on a
 * private dbus-daemon (GTestDBus), that a client sees the objects appear
 * and go through the ObjectManager and follows every change of a real
 * GwPne through PropertiesChanged. */

#include <gio/gio.h>
#include <string.h>

#include "gw-dbus.h"
#include "gw-pne.h"
#include "pngw-dbus-generated.h"

#define TIMEOUT_S 5

/* ---- object paths ---- */

static void
test_object_path (void)
{
  /* The table of docs/dbus-api.md, and what it implies. */
  static const struct {
    const char *id;
    const char *path;
  } cases[] = {
    { "watch-01", "/org/cpns/Gateway1/pne/watch_2d01" },
    { "speaker.kitchen", "/org/cpns/Gateway1/pne/speaker_2ekitchen" },
    { "sensor_7", "/org/cpns/Gateway1/pne/sensor_5f7" },
    { "pne@alice:3", "/org/cpns/Gateway1/pne/pne_40alice_3a3" },
    { "caf\xc3\xa9", "/org/cpns/Gateway1/pne/caf_c3_a9" },
    { "AZaz09", "/org/cpns/Gateway1/pne/AZaz09" },
    { "a/b c", "/org/cpns/Gateway1/pne/a_2fb_20c" },
    { "\x7f\x01", "/org/cpns/Gateway1/pne/_7f_01" },
    { "", "/org/cpns/Gateway1/pne/_" },
  };
  g_autofree char *dash = gw_dbus_pne_object_path ("a-b");
  g_autofree char *underscore = gw_dbus_pne_object_path ("a_2db");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = gw_dbus_pne_object_path (cases[i].id);

      g_assert_cmpstr (path, ==, cases[i].path);
      g_assert_true (g_variant_is_object_path (path));
    }
  /* Why the underscore is escaped too. */
  g_assert_cmpstr (dash, !=, underscore);
}

/* ---- the property mapping, without a bus ---- */

static PngwPNE1 *
pne1_of (GDBusObjectSkeleton *object)
{
  PngwPNE1 *iface = pngw_object_get_pne1 (PNGW_OBJECT (object));

  g_assert_nonnull (iface);
  g_object_unref (iface);   /* the object keeps it */
  return iface;
}

static void
test_properties (void)
{
  g_autoptr(GwPne) pne = gw_pne_new ("watch-01");
  g_autoptr(GDBusObjectSkeleton) object = gw_dbus_pne_object_new (pne);
  PngwPNE1 *iface = pne1_of (object);
  static const struct {
    GwPneState  state;
    const char *name;
  } states[] = {
    { GW_PNE_CONNECTED, "connected" },
    { GW_PNE_NEEDS_CREDENTIALS, "needs-credentials" },
    { GW_PNE_PROVISIONING, "provisioning" },
    { GW_PNE_READY, "ready" },
    { GW_PNE_FAILED, "failed" },
    { GW_PNE_DISCONNECTED, "disconnected" },
  };
  static const struct {
    GwPnePath   path;
    const char *name;
  } paths[] = {
    { GW_PNE_PATH_EXISTING, "existing" },
    { GW_PNE_PATH_PNE_UI, "pne-ui" },
    { GW_PNE_PATH_INSTALL_CREDS, "install-credentials" },
    { GW_PNE_PATH_TEMPORARY_KEY, "temporary-key" },
    { GW_PNE_PATH_NONE, "" },
  };

  g_assert_cmpstr (g_dbus_object_get_object_path (G_DBUS_OBJECT (object)), ==,
                   "/org/cpns/Gateway1/pne/watch_2d01");
  /* A PNE nothing is known of yet. */
  g_assert_cmpstr (pngw_pne1_get_entity_id (iface), ==, "watch-01");
  g_assert_cmpstr (pngw_pne1_get_name (iface), ==, "");
  g_assert_cmpstr (pngw_pne1_get_transport (iface), ==, "wired");
  g_assert_cmpstr (pngw_pne1_get_address (iface), ==, "");
  g_assert_cmpstr (pngw_pne1_get_link_security (iface), ==, "unknown");
  g_assert_cmpstr (pngw_pne1_get_link_security_reason (iface), ==, "");
  g_assert_cmpstr (pngw_pne1_get_eukey_path (iface), ==, "");
  g_assert_cmpstr (pngw_pne1_get_state (iface), ==, "disconnected");
  g_assert_cmpstr (pngw_pne1_get_last_error (iface), ==, "");

  gw_pne_set_announcement (pne, "Alice's watch", TRUE, FALSE);
  g_assert_cmpstr (pngw_pne1_get_name (iface), ==, "Alice's watch");

  gw_pne_set_link (pne, GW_TRANSPORT_WIFI, "192.0.2.7", GW_VERDICT_SECURE,
                   "WPA3-SAE with CCMP");
  g_assert_cmpstr (pngw_pne1_get_transport (iface), ==, "wifi");
  g_assert_cmpstr (pngw_pne1_get_address (iface), ==, "192.0.2.7");
  g_assert_cmpstr (pngw_pne1_get_link_security (iface), ==, "secure");
  g_assert_cmpstr (pngw_pne1_get_link_security_reason (iface), ==, "WPA3-SAE with CCMP");
  gw_pne_set_link (pne, GW_TRANSPORT_BLUETOOTH, "00:11:22:33:44:55", GW_VERDICT_INSECURE,
                   "not paired");
  g_assert_cmpstr (pngw_pne1_get_transport (iface), ==, "bluetooth");
  g_assert_cmpstr (pngw_pne1_get_address (iface), ==, "00:11:22:33:44:55");
  g_assert_cmpstr (pngw_pne1_get_link_security (iface), ==, "insecure");
  g_assert_cmpstr (pngw_pne1_get_link_security_reason (iface), ==, "not paired");
  gw_pne_set_link (pne, GW_TRANSPORT_WIRED, "2001:db8::7", GW_VERDICT_UNKNOWN, "");
  g_assert_cmpstr (pngw_pne1_get_transport (iface), ==, "wired");
  g_assert_cmpstr (pngw_pne1_get_link_security (iface), ==, "unknown");
  g_assert_cmpstr (pngw_pne1_get_link_security_reason (iface), ==, "");

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      gw_pne_set_path (pne, paths[i].path);
      g_assert_cmpstr (pngw_pne1_get_eukey_path (iface), ==, paths[i].name);
    }
  for (guint i = 0; i < G_N_ELEMENTS (states); i++)
    {
      gw_pne_set_state (pne, states[i].state, NULL);
      g_assert_cmpstr (pngw_pne1_get_state (iface), ==, states[i].name);
    }
  gw_pne_set_state (pne, GW_PNE_FAILED, "the server refused: not your PNE");
  g_assert_cmpstr (pngw_pne1_get_state (iface), ==, "failed");
  g_assert_cmpstr (pngw_pne1_get_last_error (iface), ==, "the server refused: not your PNE");
  gw_pne_set_state (pne, GW_PNE_CONNECTED, NULL);
  g_assert_cmpstr (pngw_pne1_get_last_error (iface), ==, "the server refused: not your PNE");
  gw_pne_set_state (pne, GW_PNE_CONNECTED, "");
  g_assert_cmpstr (pngw_pne1_get_last_error (iface), ==, "");
}

/* A device may announce any bytes; D-Bus strings must be UTF-8. */
static void
test_invalid_utf8 (void)
{
  g_autoptr(GwPne) pne = gw_pne_new ("sensor-1");
  g_autoptr(GDBusObjectSkeleton) object = gw_dbus_pne_object_new (pne);
  PngwPNE1 *iface = pne1_of (object);

  gw_pne_set_announcement (pne, "bad \xff\xfe name", FALSE, FALSE);
  g_assert_true (g_utf8_validate (pngw_pne1_get_name (iface), -1, NULL));
  g_assert_true (g_str_has_prefix (pngw_pne1_get_name (iface), "bad "));
  g_assert_true (g_str_has_suffix (pngw_pne1_get_name (iface), " name"));
}

/* The skeleton may go before the GwPne: its changes then reach nothing. */
static void
test_object_outlived (void)
{
  g_autoptr(GwPne) pne = gw_pne_new ("sensor-2");
  GDBusObjectSkeleton *object = gw_dbus_pne_object_new (pne);
  GWeakRef iface_ref;

  g_weak_ref_init (&iface_ref, pne1_of (object));
  g_object_unref (object);
  g_assert_null (g_weak_ref_get (&iface_ref));
  g_weak_ref_clear (&iface_ref);
  gw_pne_set_state (pne, GW_PNE_READY, "");
  gw_pne_set_announcement (pne, "still here", FALSE, FALSE);
}

/* ---- on a private bus ---- */

typedef struct {
  GTestDBus                *bus;
  GDBusConnection          *service;   /* plays pngwd */
  GDBusConnection          *client;
  GDBusObjectManagerServer *server;
  GDBusObjectManager       *objects;   /* the client's view */
  GPtrArray                *events;    /* "added PATH", "removed PATH" */
  GPtrArray                *changes;   /* GVariant a{sv} of each PropertiesChanged */
} Fixture;

static gboolean
on_timeout (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until *@counter reaches @n. */
static void
wait_for (guint *counter, guint n)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (TIMEOUT_S, on_timeout, &timed_out);

  while (*counter < n && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  g_assert_cmpuint (*counter, >=, n);
}

/* Lets whatever is queued arrive (for checking that nothing else does). */
static void
settle (void)
{
  gboolean done = FALSE;

  g_timeout_add (200, on_timeout, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static void
on_object_added (GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
  Fixture *f = user_data;

  g_ptr_array_add (f->events, g_strconcat ("added ", g_dbus_object_get_object_path (object),
                                           NULL));
}

static void
on_object_removed (GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
  Fixture *f = user_data;

  g_ptr_array_add (f->events, g_strconcat ("removed ",
                                           g_dbus_object_get_object_path (object), NULL));
}

static void
on_properties_changed (GDBusObjectManagerClient *manager, GDBusObjectProxy *object,
                       GDBusProxy *proxy, GVariant *changed, GStrv invalidated,
                       gpointer user_data)
{
  Fixture *f = user_data;

  g_assert_cmpstr (g_dbus_proxy_get_interface_name (proxy), ==, "org.cpns.PNE1");
  g_assert_true (invalidated == NULL || invalidated[0] == NULL);
  g_ptr_array_add (f->changes, g_variant_ref (changed));
}

static GDBusConnection *
connect_to (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *connection = g_dbus_connection_new_for_address_sync (
    g_test_dbus_get_bus_address (f->bus),
    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
    G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);

  g_assert_no_error (error);
  return connection;
}

static void
on_client_made (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *f = user_data;
  g_autoptr(GError) error = NULL;

  f->objects = pngw_object_manager_client_new_finish (result, &error);
  g_assert_no_error (error);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  gboolean timed_out = FALSE;
  guint timeout;

  f->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (f->bus);
  f->service = connect_to (f);
  f->client = connect_to (f);
  f->server = g_dbus_object_manager_server_new (GW_DBUS_PATH);
  g_dbus_object_manager_server_set_connection (f->server, f->service);
  /* Not _sync: "pngwd" answers GetManagedObjects from this main loop. */
  pngw_object_manager_client_new (f->client, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                  g_dbus_connection_get_unique_name (f->service),
                                  GW_DBUS_PATH, NULL, on_client_made, f);
  timeout = g_timeout_add_seconds (TIMEOUT_S, on_timeout, &timed_out);
  while (f->objects == NULL && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (f->objects);
  g_source_remove (timeout);
  f->events = g_ptr_array_new_with_free_func (g_free);
  f->changes = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  g_signal_connect (f->objects, "object-added", G_CALLBACK (on_object_added), f);
  g_signal_connect (f->objects, "object-removed", G_CALLBACK (on_object_removed), f);
  g_signal_connect (f->objects, "interface-proxy-properties-changed",
                    G_CALLBACK (on_properties_changed), f);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_signal_handlers_disconnect_by_data (f->objects, f);
  g_clear_object (&f->objects);
  g_clear_object (&f->server);
  g_dbus_connection_close_sync (f->client, NULL, NULL);
  g_dbus_connection_close_sync (f->service, NULL, NULL);
  g_clear_object (&f->client);
  g_clear_object (&f->service);
  g_test_dbus_down (f->bus);
  g_clear_object (&f->bus);
  g_ptr_array_unref (f->events);
  g_ptr_array_unref (f->changes);
}

static const char *
changed_string (GVariant *changed, const char *name)
{
  const char *value = NULL;

  if (!g_variant_lookup (changed, name, "&s", &value))
    return NULL;
  return value;
}

static void
on_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GVariant **reply = user_data;
  g_autoptr(GError) error = NULL;

  *reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  g_assert_no_error (error);
}

static void
test_bus (Fixture *f, gconstpointer data)
{
  g_autoptr(GwPne) watch = gw_pne_new ("watch-01");
  g_autoptr(GwPne) sensor = gw_pne_new ("sensor_7");
  g_autoptr(GDBusObjectSkeleton) watch_object = gw_dbus_pne_object_new (watch);
  g_autoptr(GDBusObjectSkeleton) sensor_object = gw_dbus_pne_object_new (sensor);
  g_autoptr(GDBusInterface) proxy = NULL;
  g_autoptr(GVariant) state = NULL;
  g_autofree char *printed = NULL;
  const char *watch_path = "/org/cpns/Gateway1/pne/watch_2d01";
  GVariant *changed;

  gw_pne_set_announcement (watch, "Watch", FALSE, TRUE);
  gw_pne_set_state (watch, GW_PNE_CONNECTED, NULL);

  /* Appears with its properties (InterfacesAdded). */
  g_dbus_object_manager_server_export (f->server, watch_object);
  wait_for (&f->events->len, 1);
  g_assert_cmpstr (f->events->pdata[0], ==, "added /org/cpns/Gateway1/pne/watch_2d01");
  proxy = g_dbus_object_manager_get_interface (f->objects, watch_path, "org.cpns.PNE1");
  g_assert_nonnull (proxy);
  g_assert_cmpstr (pngw_pne1_get_entity_id (PNGW_PNE1 (proxy)), ==, "watch-01");
  g_assert_cmpstr (pngw_pne1_get_name (PNGW_PNE1 (proxy)), ==, "Watch");
  g_assert_cmpstr (pngw_pne1_get_state (PNGW_PNE1 (proxy)), ==, "connected");
  g_assert_cmpstr (pngw_pne1_get_link_security_reason (PNGW_PNE1 (proxy)), ==, "");

  /* One PropertiesChanged for the changes of one main-loop iteration, with
   * what changed only. */
  gw_pne_set_link (watch, GW_TRANSPORT_WIFI, "192.0.2.7", GW_VERDICT_INSECURE,
                   "WPA2-PSK is not accepted by the policy");
  gw_pne_set_path (watch, GW_PNE_PATH_TEMPORARY_KEY);
  wait_for (&f->changes->len, 1);
  changed = f->changes->pdata[0];
  g_assert_cmpstr (changed_string (changed, "Transport"), ==, "wifi");
  g_assert_cmpstr (changed_string (changed, "Address"), ==, "192.0.2.7");
  g_assert_cmpstr (changed_string (changed, "LinkSecurity"), ==, "insecure");
  g_assert_cmpstr (changed_string (changed, "LinkSecurityReason"), ==,
                   "WPA2-PSK is not accepted by the policy");
  g_assert_cmpstr (changed_string (changed, "EukeyPath"), ==, "temporary-key");
  g_assert_null (changed_string (changed, "State"));
  g_assert_null (changed_string (changed, "EntityId"));

  /* Each step of provisioning is seen, with LastError. */
  gw_pne_set_state (watch, GW_PNE_NEEDS_CREDENTIALS,
                    "no agent is registered to ask for User ID and password");
  wait_for (&f->changes->len, 2);
  changed = f->changes->pdata[1];
  g_assert_cmpstr (changed_string (changed, "State"), ==, "needs-credentials");
  g_assert_cmpstr (changed_string (changed, "LastError"), ==,
                   "no agent is registered to ask for User ID and password");
  gw_pne_set_state (watch, GW_PNE_PROVISIONING, "");
  wait_for (&f->changes->len, 3);
  gw_pne_set_state (watch, GW_PNE_READY, NULL);
  wait_for (&f->changes->len, 4);
  g_assert_cmpstr (changed_string (f->changes->pdata[2], "State"), ==, "provisioning");
  g_assert_cmpstr (changed_string (f->changes->pdata[2], "LastError"), ==, "");
  g_assert_cmpstr (changed_string (f->changes->pdata[3], "State"), ==, "ready");
  g_assert_cmpstr (pngw_pne1_get_state (PNGW_PNE1 (proxy)), ==, "ready");
  /* Get agrees with the cache. */
  g_dbus_connection_call (f->client, g_dbus_connection_get_unique_name (f->service),
                          watch_path, "org.freedesktop.DBus.Properties", "Get",
                          g_variant_new ("(ss)", "org.cpns.PNE1", "State"),
                          G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                          on_reply, &state);
  while (state == NULL)
    g_main_context_iteration (NULL, TRUE);
  printed = g_variant_print (state, FALSE);
  g_assert_cmpstr (printed, ==, "(<'ready'>,)");

  /* Setting what is already there sends nothing. */
  gw_pne_set_state (watch, GW_PNE_READY, NULL);
  gw_pne_set_announcement (watch, "Watch", FALSE, TRUE);
  settle ();
  g_assert_cmpuint (f->changes->len, ==, 4);

  /* A second PNE, then both go (InterfacesRemoved). */
  g_dbus_object_manager_server_export (f->server, sensor_object);
  wait_for (&f->events->len, 2);
  g_assert_cmpstr (f->events->pdata[1], ==, "added /org/cpns/Gateway1/pne/sensor_5f7");
  g_assert_true (g_dbus_object_manager_server_unexport (f->server, watch_path));
  wait_for (&f->events->len, 3);
  g_assert_cmpstr (f->events->pdata[2], ==, "removed /org/cpns/Gateway1/pne/watch_2d01");
  g_assert_true (g_dbus_object_manager_server_unexport (
                   f->server, "/org/cpns/Gateway1/pne/sensor_5f7"));
  wait_for (&f->events->len, 4);
  g_assert_cmpstr (f->events->pdata[3], ==, "removed /org/cpns/Gateway1/pne/sensor_5f7");

  /* An unexported PNE's changes go nowhere. */
  gw_pne_set_state (watch, GW_PNE_DISCONNECTED, NULL);
  settle ();
  g_assert_cmpuint (f->changes->len, ==, 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dbus-pne/object-path", test_object_path);
  g_test_add_func ("/dbus-pne/properties", test_properties);
  g_test_add_func ("/dbus-pne/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/dbus-pne/object-outlived", test_object_outlived);
  g_test_add ("/dbus-pne/bus", Fixture, NULL, fixture_set_up, test_bus, fixture_tear_down);
  return g_test_run ();
}
