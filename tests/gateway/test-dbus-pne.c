/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The org.cpns.PNE1 objects of gw-dbus (GwDbusPnes): object paths as
 * docs/dbus-api.md specifies them, the mapping of GwPne to the D-Bus
 * properties, and, on a private dbus-daemon (GTestDBus), what a client sees:
 * objects appearing and going through the ObjectManager, every change of a
 * real GwPne through PropertiesChanged, Get/GetAll/Set, introspection, the
 * methods, and what the objects cost in heap. */

#include <gio/gio.h>
#include <malloc.h>
#include <string.h>

#include "gw-dbus.h"
#include "gw-dbus-pne.h"
#include "gw-pne.h"
#include "pngw-dbus-generated.h"

#define TIMEOUT_S 5
#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"

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

static const char *
lookup_string (GVariant *dict, const char *name)
{
  const char *value = NULL;

  if (!g_variant_lookup (dict, name, "&s", &value))
    return NULL;
  return value;
}

/* @pne's property @name as clients get it. */
static const char *
prop (GwPne *pne, const char *name)
{
  g_autoptr(GVariant) all = g_variant_ref_sink (gw_dbus_pne_get_properties (pne));
  const char *value = lookup_string (all, name);

  g_assert_nonnull (value);
  /* Kept alive for the caller's assertion. */
  return g_intern_string (value);
}

/* Every property of the XML, each once, in its order. */
static void
test_all_properties (void)
{
  g_autoptr(GwPne) pne = gw_pne_new ("watch-01");
  g_autoptr(GVariant) all = g_variant_ref_sink (gw_dbus_pne_get_properties (pne));
  GDBusPropertyInfo **info = pngw_pne1_interface_info ()->properties;
  GVariantIter iter;
  const char *name;
  guint i = 0;

  g_variant_iter_init (&iter, all);
  while (g_variant_iter_next (&iter, "{&sv}", &name, NULL))
    {
      g_assert_nonnull (info[i]);
      g_assert_cmpstr (name, ==, info[i]->name);
      i++;
    }
  g_assert_null (info[i]);
}

static void
test_properties (void)
{
  g_autoptr(GwPne) pne = gw_pne_new ("watch-01");
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

  /* A PNE nothing is known of yet. */
  g_assert_cmpstr (prop (pne, "EntityId"), ==, "watch-01");
  g_assert_cmpstr (prop (pne, "Name"), ==, "");
  g_assert_cmpstr (prop (pne, "Transport"), ==, "wired");
  g_assert_cmpstr (prop (pne, "Address"), ==, "");
  g_assert_cmpstr (prop (pne, "LinkSecurity"), ==, "unknown");
  g_assert_cmpstr (prop (pne, "LinkSecurityReason"), ==, "");
  g_assert_cmpstr (prop (pne, "EukeyPath"), ==, "");
  g_assert_cmpstr (prop (pne, "State"), ==, "disconnected");
  g_assert_cmpstr (prop (pne, "LastError"), ==, "");

  gw_pne_set_announcement (pne, "Alice's watch", TRUE, FALSE);
  g_assert_cmpstr (prop (pne, "Name"), ==, "Alice's watch");

  gw_pne_set_link (pne, GW_TRANSPORT_WIFI, "192.0.2.7", GW_VERDICT_SECURE,
                   "WPA3-SAE with CCMP");
  g_assert_cmpstr (prop (pne, "Transport"), ==, "wifi");
  g_assert_cmpstr (prop (pne, "Address"), ==, "192.0.2.7");
  g_assert_cmpstr (prop (pne, "LinkSecurity"), ==, "secure");
  g_assert_cmpstr (prop (pne, "LinkSecurityReason"), ==, "WPA3-SAE with CCMP");
  gw_pne_set_link (pne, GW_TRANSPORT_BLUETOOTH, "00:11:22:33:44:55", GW_VERDICT_INSECURE,
                   "not paired");
  g_assert_cmpstr (prop (pne, "Transport"), ==, "bluetooth");
  g_assert_cmpstr (prop (pne, "Address"), ==, "00:11:22:33:44:55");
  g_assert_cmpstr (prop (pne, "LinkSecurity"), ==, "insecure");
  g_assert_cmpstr (prop (pne, "LinkSecurityReason"), ==, "not paired");
  gw_pne_set_link (pne, GW_TRANSPORT_WIRED, "2001:db8::7", GW_VERDICT_UNKNOWN, "");
  g_assert_cmpstr (prop (pne, "Transport"), ==, "wired");
  g_assert_cmpstr (prop (pne, "LinkSecurity"), ==, "unknown");
  g_assert_cmpstr (prop (pne, "LinkSecurityReason"), ==, "");

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      gw_pne_set_path (pne, paths[i].path);
      g_assert_cmpstr (prop (pne, "EukeyPath"), ==, paths[i].name);
    }
  for (guint i = 0; i < G_N_ELEMENTS (states); i++)
    {
      gw_pne_set_state (pne, states[i].state, NULL);
      g_assert_cmpstr (prop (pne, "State"), ==, states[i].name);
    }
  gw_pne_set_state (pne, GW_PNE_FAILED, "the server refused: not your PNE");
  g_assert_cmpstr (prop (pne, "State"), ==, "failed");
  g_assert_cmpstr (prop (pne, "LastError"), ==, "the server refused: not your PNE");
  gw_pne_set_state (pne, GW_PNE_CONNECTED, NULL);
  g_assert_cmpstr (prop (pne, "LastError"), ==, "the server refused: not your PNE");
  gw_pne_set_state (pne, GW_PNE_CONNECTED, "");
  g_assert_cmpstr (prop (pne, "LastError"), ==, "");
}

/* A device may announce any bytes; D-Bus strings must be UTF-8. */
static void
test_invalid_utf8 (void)
{
  g_autoptr(GwPne) pne = gw_pne_new ("sensor-1");

  gw_pne_set_announcement (pne, "bad \xff\xfe name", FALSE, FALSE);
  g_assert_true (g_utf8_validate (prop (pne, "Name"), -1, NULL));
  g_assert_true (g_str_has_prefix (prop (pne, "Name"), "bad "));
  g_assert_true (g_str_has_suffix (prop (pne, "Name"), " name"));
}

/* ---- on a private bus ---- */

typedef struct {
  GTestDBus          *bus;
  GDBusConnection    *service;   /* plays pngwd */
  GDBusConnection    *client;
  GwDbusPnes         *pnes;
  GDBusObjectManager *objects;   /* the client's view */
  GPtrArray          *events;    /* "added PATH", "removed PATH" */
  GPtrArray          *changes;   /* GVariant a{sv} of each PropertiesChanged */
  GPtrArray          *calls;     /* "METHOD ENTITY-ID" */
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

static void
on_method (GDBusMethodInvocation *invocation, const char *entity_id, gpointer user_data)
{
  Fixture *f = user_data;

  g_ptr_array_add (f->calls, g_strdup_printf (
                     "%s %s", g_dbus_method_invocation_get_method_name (invocation),
                     entity_id));
  g_dbus_method_invocation_return_value (invocation, NULL);
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
  f->calls = g_ptr_array_new_with_free_func (g_free);
  f->pnes = gw_dbus_pnes_new (f->service, on_method, f);
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
  if (f->objects != NULL)
    g_signal_handlers_disconnect_by_data (f->objects, f);
  g_clear_object (&f->objects);
  g_clear_object (&f->pnes);
  g_dbus_connection_close_sync (f->client, NULL, NULL);
  g_dbus_connection_close_sync (f->service, NULL, NULL);
  g_clear_object (&f->client);
  g_clear_object (&f->service);
  g_test_dbus_down (f->bus);
  g_clear_object (&f->bus);
  g_ptr_array_unref (f->events);
  g_ptr_array_unref (f->changes);
  g_ptr_array_unref (f->calls);
}

static void
on_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GVariant **reply = user_data;
  g_autoptr(GError) error = NULL;

  *reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (*reply == NULL)
    *reply = g_variant_ref_sink (g_variant_new_string (error->message));
}

/* Calls the service from the client while the main loop runs "pngwd";
 * returns the reply, or the error's text as a string. */
static GVariant *
call (Fixture *f, const char *path, const char *interface, const char *method,
      GVariant *parameters)
{
  GVariant *reply = NULL;

  g_dbus_connection_call (f->client, g_dbus_connection_get_unique_name (f->service), path,
                          interface, method, parameters, NULL, G_DBUS_CALL_FLAGS_NONE, -1,
                          NULL, on_reply, &reply);
  while (reply == NULL)
    g_main_context_iteration (NULL, TRUE);
  return reply;
}

static char *
call_printed (Fixture *f, const char *path, const char *interface, const char *method,
              GVariant *parameters)
{
  g_autoptr(GVariant) reply = call (f, path, interface, method, parameters);

  return g_variant_print (reply, FALSE);
}

static void
test_bus (Fixture *f, gconstpointer data)
{
  g_autoptr(GwPne) watch = gw_pne_new ("watch-01");
  g_autoptr(GwPne) sensor = gw_pne_new ("sensor_7");
  g_autoptr(GDBusInterface) proxy = NULL;
  g_autofree char *printed = NULL;
  const char *watch_path = "/org/cpns/Gateway1/pne/watch_2d01";
  GVariant *changed;

  gw_pne_set_announcement (watch, "Watch", FALSE, TRUE);
  gw_pne_set_state (watch, GW_PNE_CONNECTED, NULL);

  /* Appears with its properties (InterfacesAdded). */
  gw_dbus_pnes_add (f->pnes, watch);
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
  g_assert_cmpuint (g_variant_n_children (changed), ==, 5);
  g_assert_cmpstr (lookup_string (changed, "Transport"), ==, "wifi");
  g_assert_cmpstr (lookup_string (changed, "Address"), ==, "192.0.2.7");
  g_assert_cmpstr (lookup_string (changed, "LinkSecurity"), ==, "insecure");
  g_assert_cmpstr (lookup_string (changed, "LinkSecurityReason"), ==,
                   "WPA2-PSK is not accepted by the policy");
  g_assert_cmpstr (lookup_string (changed, "EukeyPath"), ==, "temporary-key");

  /* Each step of provisioning is seen, with LastError. */
  gw_pne_set_state (watch, GW_PNE_NEEDS_CREDENTIALS,
                    "no agent is registered to ask for User ID and password");
  wait_for (&f->changes->len, 2);
  changed = f->changes->pdata[1];
  g_assert_cmpuint (g_variant_n_children (changed), ==, 2);
  g_assert_cmpstr (lookup_string (changed, "State"), ==, "needs-credentials");
  g_assert_cmpstr (lookup_string (changed, "LastError"), ==,
                   "no agent is registered to ask for User ID and password");
  gw_pne_set_state (watch, GW_PNE_PROVISIONING, "");
  wait_for (&f->changes->len, 3);
  gw_pne_set_state (watch, GW_PNE_READY, NULL);
  wait_for (&f->changes->len, 4);
  g_assert_cmpstr (lookup_string (f->changes->pdata[2], "State"), ==, "provisioning");
  g_assert_cmpstr (lookup_string (f->changes->pdata[2], "LastError"), ==, "");
  g_assert_cmpstr (lookup_string (f->changes->pdata[3], "State"), ==, "ready");
  g_assert_cmpstr (pngw_pne1_get_state (PNGW_PNE1 (proxy)), ==, "ready");

  /* Get agrees with the cache; GetAll is the whole mapping; Set refused. */
  printed = call_printed (f, watch_path, PROPERTIES_IFACE, "Get",
                          g_variant_new ("(ss)", "org.cpns.PNE1", "State"));
  g_assert_cmpstr (printed, ==, "(<'ready'>,)");
  g_clear_pointer (&printed, g_free);
  {
    g_autoptr(GVariant) all = call (f, watch_path, PROPERTIES_IFACE, "GetAll",
                                    g_variant_new ("(s)", "org.cpns.PNE1"));
    g_autoptr(GVariant) dict = g_variant_get_child_value (all, 0);
    g_autoptr(GVariant) expected = g_variant_ref_sink (gw_dbus_pne_get_properties (watch));

    g_assert_true (g_variant_equal (dict, expected));
  }
  printed = call_printed (f, watch_path, PROPERTIES_IFACE, "Set",
                          g_variant_new ("(ssv)", "org.cpns.PNE1", "State",
                                         g_variant_new_string ("failed")));
  g_assert_nonnull (strstr (printed, "org.freedesktop.DBus.Error.InvalidArgs"));
  g_assert_nonnull (strstr (printed, "not writable"));
  g_clear_pointer (&printed, g_free);
  g_assert_cmpstr (gw_pne_state_to_string (gw_pne_get_state (watch)), ==, "ready");

  /* Setting what is already there sends nothing; nor does a change undone
   * in the same iteration; a verdict's reason alone is only the reason. */
  gw_pne_set_state (watch, GW_PNE_READY, NULL);
  gw_pne_set_announcement (watch, "Watch", FALSE, TRUE);
  gw_pne_set_state (watch, GW_PNE_FAILED, "oops");
  gw_pne_set_state (watch, GW_PNE_READY, "");
  gw_pne_set_announcement (watch, "Renamed", FALSE, TRUE);
  gw_pne_set_announcement (watch, "Watch", FALSE, TRUE);
  settle ();
  g_assert_cmpuint (f->changes->len, ==, 4);
  gw_pne_set_link (watch, GW_TRANSPORT_WIFI, "192.0.2.7", GW_VERDICT_INSECURE, "weak");
  wait_for (&f->changes->len, 5);
  changed = f->changes->pdata[4];
  g_assert_cmpuint (g_variant_n_children (changed), ==, 1);
  g_assert_cmpstr (lookup_string (changed, "LinkSecurityReason"), ==, "weak");

  /* A second PNE, then both go (InterfacesRemoved). */
  gw_dbus_pnes_add (f->pnes, sensor);
  wait_for (&f->events->len, 2);
  g_assert_cmpstr (f->events->pdata[1], ==, "added /org/cpns/Gateway1/pne/sensor_5f7");
  gw_dbus_pnes_remove (f->pnes, watch);
  wait_for (&f->events->len, 3);
  g_assert_cmpstr (f->events->pdata[2], ==, "removed /org/cpns/Gateway1/pne/watch_2d01");

  /* A flushed change is out before the PNE goes; one not flushed goes with
   * it. */
  gw_pne_set_state (sensor, GW_PNE_CONNECTED, NULL);
  gw_dbus_pnes_flush (f->pnes, "sensor_7");
  gw_pne_set_state (sensor, GW_PNE_READY, NULL);
  gw_dbus_pnes_remove (f->pnes, sensor);
  wait_for (&f->events->len, 4);
  g_assert_cmpstr (f->events->pdata[3], ==, "removed /org/cpns/Gateway1/pne/sensor_5f7");
  settle ();
  g_assert_cmpuint (f->changes->len, ==, 6);
  g_assert_cmpstr (lookup_string (f->changes->pdata[5], "State"), ==, "connected");

  /* A removed PNE's changes go nowhere. */
  gw_pne_set_state (watch, GW_PNE_DISCONNECTED, NULL);
  settle ();
  g_assert_cmpuint (f->changes->len, ==, 6);
  g_assert_cmpuint (g_list_length (g_dbus_object_manager_get_objects (f->objects)), ==, 0);
}

/* The properties whose values come from a fixed set. */
static void set_state (GwPne *pne, guint v) { gw_pne_set_state (pne, v, NULL); }
static void set_path (GwPne *pne, guint v) { gw_pne_set_path (pne, v); }
static void set_transport (GwPne *pne, guint v)
{ gw_pne_set_link (pne, v, "", gw_pne_get_verdict (pne), ""); }
static void set_verdict (GwPne *pne, guint v)
{ gw_pne_set_link (pne, gw_pne_get_transport (pne), "", v, ""); }
static const char *state_string (guint v) { return gw_pne_state_to_string (v); }
static const char *path_string (guint v) { return gw_pne_path_to_string (v); }
static const char *transport_string (guint v) { return gw_transport_to_string (v); }
static const char *verdict_string (guint v) { return gw_verdict_to_string (v); }

static const struct {
  const char  *name;
  guint        n;
  void       (*set) (GwPne *pne, guint value);
  const char *(*to_string) (guint value);
} value_sets[] = {
  { "State", GW_PNE_FAILED + 1, set_state, state_string },
  { "EukeyPath", GW_PNE_PATH_TEMPORARY_KEY + 1, set_path, path_string },
  { "Transport", GW_TRANSPORT_BLUETOOTH + 1, set_transport, transport_string },
  { "LinkSecurity", GW_VERDICT_SECURE + 1, set_verdict, verdict_string },
};

/* Values from one fixed set differ on the wire from each other (they are
 * compared by a hash): every change from one to another is sent. */
static void
test_every_value_sent (Fixture *f, gconstpointer data)
{
  g_autoptr(GwPne) pne = gw_pne_new ("tag-9");
  guint n = 0;

  gw_dbus_pnes_add (f->pnes, pne);
  for (guint s = 0; s < G_N_ELEMENTS (value_sets); s++)
    for (guint a = 0; a < value_sets[s].n; a++)
      for (guint b = 0; b < value_sets[s].n; b++)
        {
          if (a == b)
            continue;
          /* From a (a change of its own when needed) to b. */
          if (strcmp (prop (pne, value_sets[s].name), value_sets[s].to_string (a)) != 0)
            {
              value_sets[s].set (pne, a);
              wait_for (&f->changes->len, ++n);
            }
          value_sets[s].set (pne, b);
          wait_for (&f->changes->len, ++n);
          g_assert_cmpstr (lookup_string (f->changes->pdata[n - 1], value_sets[s].name), ==,
                           value_sets[s].to_string (b));
        }
}

static void
test_introspection (Fixture *f, gconstpointer data)
{
  g_autoptr(GwPne) watch = gw_pne_new ("watch-01");
  g_autoptr(GwPne) nameless = gw_pne_new ("");
  g_autofree char *gateway = NULL;
  g_autofree char *pnes = NULL;
  g_autofree char *object = NULL;
  g_autofree char *printed = NULL;

  /* No "pne" node while there are no PNEs. */
  gateway = call_printed (f, GW_DBUS_PATH, "org.freedesktop.DBus.Introspectable",
                          "Introspect", NULL);
  g_assert_nonnull (strstr (gateway, "org.freedesktop.DBus.ObjectManager"));
  g_assert_null (strstr (gateway, "<node name=\"pne\"/>"));
  g_clear_pointer (&gateway, g_free);

  gw_dbus_pnes_add (f->pnes, watch);
  gw_dbus_pnes_add (f->pnes, nameless);
  gateway = call_printed (f, GW_DBUS_PATH, "org.freedesktop.DBus.Introspectable",
                          "Introspect", NULL);
  g_assert_nonnull (strstr (gateway, "<node name=\"pne\"/>"));
  pnes = call_printed (f, GW_DBUS_PATH "/pne", "org.freedesktop.DBus.Introspectable",
                       "Introspect", NULL);
  g_assert_nonnull (strstr (pnes, "<node name=\"watch_2d01\"/>"));
  g_assert_nonnull (strstr (pnes, "<node name=\"_\"/>"));
  object = call_printed (f, GW_DBUS_PATH "/pne/watch_2d01",
                         "org.freedesktop.DBus.Introspectable", "Introspect", NULL);
  g_assert_nonnull (strstr (object, "<interface name=\"org.cpns.PNE1\">"));
  g_assert_nonnull (strstr (object, "<property type=\"s\" name=\"LastError\" access=\"read\"/>"));
  g_assert_nonnull (strstr (object, "<method name=\"Provision\"/>"));
  g_assert_nonnull (strstr (object, "<interface name=\"org.freedesktop.DBus.Properties\">"));

  /* The empty Entity ID's object. */
  printed = call_printed (f, GW_DBUS_PATH "/pne/_", PROPERTIES_IFACE, "Get",
                          g_variant_new ("(ss)", "org.cpns.PNE1", "EntityId"));
  g_assert_cmpstr (printed, ==, "(<''>,)");
  g_clear_pointer (&printed, g_free);

  /* Only the one spelling of a path names the PNE; nothing else exists. */
  static const char *const strangers[] = {
    GW_DBUS_PATH "/pne/watch_2D01", GW_DBUS_PATH "/pne/_77atch_2d01",
    GW_DBUS_PATH "/pne/watch_2d01_", GW_DBUS_PATH "/pne/nope", GW_DBUS_PATH "/pne",
    GW_DBUS_PATH "/pne/watch_2d01/x",
  };
  for (guint i = 0; i < G_N_ELEMENTS (strangers); i++)
    {
      printed = call_printed (f, strangers[i], PROPERTIES_IFACE, "GetAll",
                              g_variant_new ("(s)", "org.cpns.PNE1"));
      g_assert_nonnull (strstr (printed, "org.freedesktop.DBus.Error.UnknownMethod"));
      g_clear_pointer (&printed, g_free);
    }

  gw_dbus_pnes_remove (f->pnes, watch);
  gw_dbus_pnes_remove (f->pnes, nameless);
  g_clear_pointer (&gateway, g_free);
  gateway = call_printed (f, GW_DBUS_PATH, "org.freedesktop.DBus.Introspectable",
                          "Introspect", NULL);
  g_assert_null (strstr (gateway, "<node name=\"pne\"/>"));
}

static void
test_methods (Fixture *f, gconstpointer data)
{
  g_autoptr(GwPne) watch = gw_pne_new ("watch-01");
  g_autofree char *printed = NULL;
  const char *path = "/org/cpns/Gateway1/pne/watch_2d01";

  gw_dbus_pnes_add (f->pnes, watch);
  printed = call_printed (f, path, "org.cpns.PNE1", "Provision", NULL);
  g_assert_cmpstr (printed, ==, "()");
  g_clear_pointer (&printed, g_free);
  printed = call_printed (f, path, "org.cpns.PNE1", "Forget", NULL);
  g_assert_cmpstr (printed, ==, "()");
  g_clear_pointer (&printed, g_free);
  g_assert_cmpuint (f->calls->len, ==, 2);
  g_assert_cmpstr (f->calls->pdata[0], ==, "Provision watch-01");
  g_assert_cmpstr (f->calls->pdata[1], ==, "Forget watch-01");

  /* Checked against the XML before they reach the method function. */
  printed = call_printed (f, path, "org.cpns.PNE1", "Provision", g_variant_new ("(i)", 1));
  g_assert_nonnull (strstr (printed, "org.freedesktop.DBus.Error.InvalidArgs"));
  g_clear_pointer (&printed, g_free);
  printed = call_printed (f, path, "org.cpns.PNE1", "Nope", NULL);
  g_assert_nonnull (strstr (printed, "org.freedesktop.DBus.Error.UnknownMethod"));
  g_clear_pointer (&printed, g_free);
  gw_dbus_pnes_remove (f->pnes, watch);
  printed = call_printed (f, path, "org.cpns.PNE1", "Provision", NULL);
  g_assert_nonnull (strstr (printed, "org.freedesktop.DBus.Error.UnknownMethod"));
  g_assert_cmpuint (f->calls->len, ==, 2);
}

/* A GwPne replaced by another of the same Entity ID (forgotten, then met
 * again) is a new object; the old one's changes are not shown. */
static void
test_replaced (Fixture *f, gconstpointer data)
{
  g_autoptr(GwPne) first = gw_pne_new ("watch-01");
  g_autoptr(GwPne) second = gw_pne_new ("watch-01");

  gw_dbus_pnes_add (f->pnes, first);
  gw_dbus_pnes_add (f->pnes, first);
  gw_pne_set_state (second, GW_PNE_READY, NULL);
  gw_dbus_pnes_add (f->pnes, second);
  wait_for (&f->events->len, 3);
  g_assert_cmpstr (f->events->pdata[1], ==, "removed /org/cpns/Gateway1/pne/watch_2d01");
  g_assert_cmpstr (f->events->pdata[2], ==, "added /org/cpns/Gateway1/pne/watch_2d01");
  gw_pne_set_state (first, GW_PNE_FAILED, "old");
  gw_dbus_pnes_remove (f->pnes, first);
  settle ();
  g_assert_cmpuint (f->events->len, ==, 3);
  g_assert_cmpuint (f->changes->len, ==, 0);
}

/* What an idle PNE's object costs in heap (the target: at most 300 bytes;
 * a GDBusObjectSkeleton with a PngwPNE1Skeleton was about 4 KB).  Counted
 * in a subprocess with G_SLICE=always-malloc: GSlice keeps what it freed
 * (the signals' messages) out of malloc's sight. */
static void
test_heap_per_pne (void)
{
  const guint n = 2000;
  Fixture fixture = { NULL }, *f = &fixture;
  g_autoptr(GPtrArray) pnes = NULL;
  struct mallinfo2 before, after;
  double per_pne;

  if (!g_test_subprocess ())
    {
      g_setenv ("G_SLICE", "always-malloc", TRUE);
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  fixture_set_up (f, NULL);
  /* The client's proxies are in this process too: not counted. */
  g_signal_handlers_disconnect_by_data (f->objects, f);
  g_clear_object (&f->objects);
  pnes = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < n + 16; i++)
    {
      g_autofree char *id = g_strdup_printf ("watch-%05u", i);
      g_autofree char *name = g_strdup_printf ("Alice's watch %u", i);
      GwPne *pne = gw_pne_new (id);

      gw_pne_set_announcement (pne, name, TRUE, FALSE);
      gw_pne_set_link (pne, GW_TRANSPORT_WIFI, "192.0.2.7", GW_VERDICT_SECURE,
                       "WPA3-SAE with CCMP");
      gw_pne_set_state (pne, GW_PNE_READY, NULL);
      g_ptr_array_add (pnes, pne);
    }
  /* The first few make what is made once. */
  for (guint i = n; i < n + 16; i++)
    gw_dbus_pnes_add (f->pnes, pnes->pdata[i]);
  settle ();
  g_dbus_connection_flush_sync (f->service, NULL, NULL);
  before = mallinfo2 ();
  for (guint i = 0; i < n; i++)
    gw_dbus_pnes_add (f->pnes, pnes->pdata[i]);
  /* The InterfacesAdded messages are out and gone. */
  settle ();
  g_dbus_connection_flush_sync (f->service, NULL, NULL);
  after = mallinfo2 ();
  per_pne = ((double) after.uordblks - (double) before.uordblks) / n;
  g_printerr ("heap per PNE object: %.0f bytes\n", per_pne);
  g_assert_cmpfloat (per_pne, <=, 300);
  g_clear_pointer (&pnes, g_ptr_array_unref);
  fixture_tear_down (f, NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dbus-pne/object-path", test_object_path);
  g_test_add_func ("/dbus-pne/all-properties", test_all_properties);
  g_test_add_func ("/dbus-pne/properties", test_properties);
  g_test_add_func ("/dbus-pne/invalid-utf8", test_invalid_utf8);
  g_test_add ("/dbus-pne/bus", Fixture, NULL, fixture_set_up, test_bus, fixture_tear_down);
  g_test_add ("/dbus-pne/every-value-sent", Fixture, NULL, fixture_set_up,
              test_every_value_sent, fixture_tear_down);
  g_test_add ("/dbus-pne/introspection", Fixture, NULL, fixture_set_up, test_introspection,
              fixture_tear_down);
  g_test_add ("/dbus-pne/methods", Fixture, NULL, fixture_set_up, test_methods,
              fixture_tear_down);
  g_test_add ("/dbus-pne/replaced", Fixture, NULL, fixture_set_up, test_replaced,
              fixture_tear_down);
  g_test_add_func ("/dbus-pne/heap-per-pne", test_heap_per_pne);
  return g_test_run ();
}
