/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-dbus-pne.h"

#include <string.h>

#include "gw-dbus.h"
#include "pngw-dbus-generated.h"

#define PNE_INTERFACE "org.cpns.PNE1"
#define PNE_SUBTREE_PATH GW_DBUS_PATH "/pne"
#define PREFIX_LEN (sizeof GW_DBUS_PNE_PATH_PREFIX - 1)

/* org.freedesktop.DBus.ObjectManager as GDBusObjectManagerServer
 * introspects it. */
static const GDBusArgInfo objects_arg = {
  -1, (char *) "object_paths_interfaces_and_properties", (char *) "a{oa{sa{sv}}}", NULL
};
static const GDBusArgInfo *const get_objects_out[] = { &objects_arg, NULL };
static const GDBusMethodInfo get_objects_method = {
  -1, (char *) "GetManagedObjects", NULL, (GDBusArgInfo **) get_objects_out, NULL
};
static const GDBusMethodInfo *const manager_methods[] = { &get_objects_method, NULL };
static const GDBusArgInfo path_arg = { -1, (char *) "object_path", (char *) "o", NULL };
static const GDBusArgInfo interfaces_properties_arg = {
  -1, (char *) "interfaces_and_properties", (char *) "a{sa{sv}}", NULL
};
static const GDBusArgInfo interfaces_arg = { -1, (char *) "interfaces", (char *) "as", NULL };
static const GDBusArgInfo *const added_args[] = { &path_arg, &interfaces_properties_arg, NULL };
static const GDBusArgInfo *const removed_args[] = { &path_arg, &interfaces_arg, NULL };
static const GDBusSignalInfo added_signal = {
  -1, (char *) "InterfacesAdded", (GDBusArgInfo **) added_args, NULL
};
static const GDBusSignalInfo removed_signal = {
  -1, (char *) "InterfacesRemoved", (GDBusArgInfo **) removed_args, NULL
};
static const GDBusSignalInfo *const manager_signals[] = { &added_signal, &removed_signal, NULL };
static const GDBusInterfaceInfo manager_interface = {
  -1, (char *) "org.freedesktop.DBus.ObjectManager", (GDBusMethodInfo **) manager_methods,
  (GDBusSignalInfo **) manager_signals, NULL, NULL
};

/* ---- properties: read from the GwPne when asked ---- */

typedef const char *(*GetFunc) (GwPne *pne);

static const char *get_transport (GwPne *pne)
{ return gw_transport_to_string (gw_pne_get_transport (pne)); }
static const char *get_link_security (GwPne *pne)
{ return gw_verdict_to_string (gw_pne_get_verdict (pne)); }
static const char *get_eukey_path (GwPne *pne)
{ return gw_pne_path_to_string (gw_pne_get_path (pne)); }
static const char *get_state (GwPne *pne)
{ return gw_pne_state_to_string (gw_pne_get_state (pne)); }

static const struct {
  const char *name;
  GetFunc     get;
} getters[] = {
  { "EntityId", gw_pne_get_entity_id },
  { "Name", gw_pne_get_name },
  { "Transport", get_transport },
  { "Address", gw_pne_get_address },
  { "LinkSecurity", get_link_security },
  { "LinkSecurityReason", gw_pne_get_verdict_reason },
  { "EukeyPath", get_eukey_path },
  { "State", get_state },
  { "LastError", gw_pne_get_last_error },
};

/* The XML's properties, in its order, and how to read each. */
static GDBusPropertyInfo **prop_info;
static GetFunc prop_get[G_N_ELEMENTS (getters)];
static guint n_props;

static void
props_init (void)
{
  static gsize done;

  if (!g_once_init_enter (&done))
    return;
  prop_info = pngw_pne1_interface_info ()->properties;
  for (n_props = 0; prop_info[n_props] != NULL; n_props++)
    {
      guint i = 0;

      while (i < G_N_ELEMENTS (getters) && strcmp (getters[i].name, prop_info[n_props]->name) != 0)
        i++;
      /* The XML and this table are built together: a test catches this. */
      if (i == G_N_ELEMENTS (getters) || strcmp (prop_info[n_props]->signature, "s") != 0)
        g_error ("no string getter for org.cpns.PNE1.%s", prop_info[n_props]->name);
      prop_get[n_props] = getters[i].get;
    }
  g_once_init_leave (&done, 1);
}

/* Names and errors come from devices; a D-Bus string must be UTF-8. */
static const char *
prop_value (GwPne *pne, guint i, char **valid)
{
  const char *value = prop_get[i] (pne);

  *valid = NULL;
  if (value == NULL)
    return "";
  if (!g_utf8_validate (value, -1, NULL))
    value = *valid = g_utf8_make_valid (value, -1);
  return value;
}

/* What a client was last sent, kept as a 64-bit FNV-1a hash instead of a
 * copy.  Values from fixed sets (State...) hash apart, which a test checks;
 * a name that a device crafted to collide could only hide its own change. */
static guint64
value_tag (const char *value)
{
  guint64 hash = 0xcbf29ce484222325u;

  for (const guchar *p = (const guchar *) value; *p != '\0'; p++)
    hash = (hash ^ *p) * 0x100000001b3u;
  return hash;
}

GVariant *
gw_dbus_pne_get_properties (GwPne *pne)
{
  GVariantBuilder builder;

  props_init ();
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; i < n_props; i++)
    {
      g_autofree char *valid = NULL;

      g_variant_builder_add (&builder, "{sv}", prop_info[i]->name,
                             g_variant_new_string (prop_value (pne, i, &valid)));
    }
  return g_variant_builder_end (&builder);
}

/* ---- the table ---- */

typedef struct {
  GwPne   *pne;
  gboolean pending;      /* changed since the last PropertiesChanged */
  guint64  sent[];       /* value_tag() of what clients have, per property */
} Entry;

struct _GwDbusPnes {
  GObject              parent_instance;
  GDBusConnection     *connection;
  guint                manager_id;
  guint                subtree_id;    /* registered while there are PNEs */
  GHashTable          *entries;       /* Entity ID (the GwPne's string) -> Entry */
  GPtrArray           *pending;       /* GwPne with changes to send, or NULL */
  GSource             *idle;
  GMainContext        *context;
  GwDbusPneMethodFunc  method;
  gpointer             method_data;
};

G_DEFINE_TYPE (GwDbusPnes, gw_dbus_pnes, G_TYPE_OBJECT)

static void send_changes (GwDbusPnes *self, Entry *entry);

static Entry *
lookup (GwDbusPnes *self, GwPne *pne)
{
  Entry *entry = g_hash_table_lookup (self->entries, gw_pne_get_entity_id (pne));

  return entry != NULL && entry->pne == pne ? entry : NULL;
}

/* @node is one element of a path below PNE_SUBTREE_PATH; only the spelling
 * that gw_dbus_pne_object_path() gives names a PNE. */
static Entry *
lookup_node (GwDbusPnes *self, const char *node)
{
  g_autoptr(GString) id = g_string_new (NULL);
  g_autofree char *path = NULL;
  Entry *entry;

  if (node == NULL)
    return NULL;
  for (const char *p = node; *p != '\0' && strcmp (node, "_") != 0; p++)
    {
      if (*p != '_')
        g_string_append_c (id, *p);
      else if (g_ascii_isxdigit (p[1]) && g_ascii_isxdigit (p[2]))
        {
          g_string_append_c (id, (char) (g_ascii_xdigit_value (p[1]) * 16 +
                                         g_ascii_xdigit_value (p[2])));
          p += 2;
        }
      else
        return NULL;
    }
  entry = g_hash_table_lookup (self->entries, id->str);
  if (entry == NULL)
    return NULL;
  path = gw_dbus_pne_object_path (id->str);
  return strcmp (path + PREFIX_LEN, node) == 0 ? entry : NULL;
}

static gboolean
on_idle (gpointer user_data)
{
  GwDbusPnes *self = user_data;
  /* Not kept: a burst of changes would leave it at its size. */
  g_autoptr(GPtrArray) pending = g_steal_pointer (&self->pending);

  g_clear_pointer (&self->idle, g_source_unref);
  for (guint i = 0; i < pending->len; i++)
    {
      /* A PNE flushed, removed or replaced since is skipped. */
      Entry *entry = lookup (self, pending->pdata[i]);

      if (entry != NULL && entry->pending)
        send_changes (self, entry);
    }
  return G_SOURCE_REMOVE;
}

static void
pne_changed (GwPne *pne, gpointer user_data)
{
  GwDbusPnes *self = user_data;
  Entry *entry = lookup (self, pne);

  if (entry == NULL || entry->pending)
    return;
  entry->pending = TRUE;
  if (self->pending == NULL)
    self->pending = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (self->pending, g_object_ref (pne));
  if (self->idle != NULL)
    return;
  /* The priority of gdbus-codegen's skeletons. */
  self->idle = g_idle_source_new ();
  g_source_set_priority (self->idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (self->idle, on_idle, self, NULL);
  g_source_set_static_name (self->idle, "[pngwd] PNE PropertiesChanged");
  g_source_attach (self->idle, self->context);
}

/* ---- signals ---- */

static void
send_changes (GwDbusPnes *self, Entry *entry)
{
  GVariantBuilder builder;
  g_autofree char *path = gw_dbus_pne_object_path (gw_pne_get_entity_id (entry->pne));
  guint changes = 0;

  entry->pending = FALSE;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; i < n_props; i++)
    {
      g_autofree char *valid = NULL;
      const char *value = prop_value (entry->pne, i, &valid);
      guint64 tag = value_tag (value);

      /* Changed and changed back: nothing to say. */
      if (tag == entry->sent[i])
        continue;
      entry->sent[i] = tag;
      g_variant_builder_add (&builder, "{sv}", prop_info[i]->name, g_variant_new_string (value));
      changes++;
    }
  if (changes == 0)
    {
      g_variant_builder_clear (&builder);
      return;
    }
  g_dbus_connection_emit_signal (self->connection, NULL, path,
                                 "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                 g_variant_new ("(sa{sv}@as)", PNE_INTERFACE, &builder,
                                                g_variant_new_strv (NULL, 0)),
                                 NULL);
}

static GVariant *
interfaces_of (GwPne *pne)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sa{sv}}"));
  g_variant_builder_add (&builder, "{s@a{sv}}", PNE_INTERFACE, gw_dbus_pne_get_properties (pne));
  return g_variant_builder_end (&builder);
}

/* ---- the PNE objects (the subtree) ---- */

static void
pne_method_call (GDBusConnection *connection, const char *sender, const char *object_path,
                 const char *interface_name, const char *method_name, GVariant *parameters,
                 GDBusMethodInvocation *invocation, gpointer user_data)
{
  GwDbusPnes *self = user_data;
  Entry *entry = lookup_node (self, object_path + PREFIX_LEN);

  /* Gone between the dispatch and this call. */
  if (entry == NULL)
    g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR,
                                           G_DBUS_ERROR_UNKNOWN_METHOD,
                                           "Object does not exist at path “%s”", object_path);
  else
    self->method (invocation, gw_pne_get_entity_id (entry->pne), self->method_data);
}

static GVariant *
pne_get_property (GDBusConnection *connection, const char *sender, const char *object_path,
                  const char *interface_name, const char *property_name, GError **error,
                  gpointer user_data)
{
  Entry *entry = lookup_node (user_data, object_path + PREFIX_LEN);
  g_autofree char *valid = NULL;

  for (guint i = 0; entry != NULL && i < n_props; i++)
    if (strcmp (prop_info[i]->name, property_name) == 0)
      return g_variant_new_string (prop_value (entry->pne, i, &valid));
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
               "Object does not exist at path “%s”", object_path);
  return NULL;
}

static const GDBusInterfaceVTable pne_vtable = {
  .method_call = pne_method_call,
  .get_property = pne_get_property,
};

static char **
subtree_enumerate (GDBusConnection *connection, const char *sender, const char *object_path,
                   gpointer user_data)
{
  GwDbusPnes *self = user_data;
  GPtrArray *nodes = g_ptr_array_new ();
  GHashTableIter iter;
  const char *id;

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, (gpointer *) &id, NULL))
    {
      g_autofree char *path = gw_dbus_pne_object_path (id);

      g_ptr_array_add (nodes, g_strdup (path + PREFIX_LEN));
    }
  g_ptr_array_add (nodes, NULL);
  return (char **) g_ptr_array_free (nodes, FALSE);
}

static GDBusInterfaceInfo **
subtree_introspect (GDBusConnection *connection, const char *sender, const char *object_path,
                    const char *node, gpointer user_data)
{
  GDBusInterfaceInfo **interfaces;

  if (lookup_node (user_data, node) == NULL)
    return NULL;
  interfaces = g_new0 (GDBusInterfaceInfo *, 2);
  interfaces[0] = g_dbus_interface_info_ref (pngw_pne1_interface_info ());
  return interfaces;
}

static const GDBusInterfaceVTable *
subtree_dispatch (GDBusConnection *connection, const char *sender, const char *object_path,
                  const char *interface_name, const char *node, gpointer *out_user_data,
                  gpointer user_data)
{
  if (strcmp (interface_name, PNE_INTERFACE) != 0 || lookup_node (user_data, node) == NULL)
    return NULL;
  *out_user_data = user_data;
  return &pne_vtable;
}

static const GDBusSubtreeVTable subtree_vtable = {
  .enumerate = subtree_enumerate,
  .introspect = subtree_introspect,
  .dispatch = subtree_dispatch,
};

/* ---- the ObjectManager ---- */

static void
manager_method_call (GDBusConnection *connection, const char *sender, const char *object_path,
                     const char *interface_name, const char *method_name,
                     GVariant *parameters, GDBusMethodInvocation *invocation,
                     gpointer user_data)
{
  GwDbusPnes *self = user_data;
  GVariantBuilder builder;
  GHashTableIter iter;
  Entry *entry;

  /* GDBus checked the name against the introspection: GetManagedObjects. */
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{oa{sa{sv}}}"));
  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &entry))
    {
      g_autofree char *path = gw_dbus_pne_object_path (gw_pne_get_entity_id (entry->pne));

      g_variant_builder_add (&builder, "{o@a{sa{sv}}}", path, interfaces_of (entry->pne));
    }
  g_dbus_method_invocation_return_value (invocation,
                                         g_variant_new ("(a{oa{sa{sv}}})", &builder));
}

static const GDBusInterfaceVTable manager_vtable = {
  .method_call = manager_method_call,
};

/* ---- API ---- */

static void
entry_free (Entry *entry)
{
  gw_pne_set_changed_func (entry->pne, NULL, NULL);
  g_object_unref (entry->pne);
  g_free (entry);
}

void
gw_dbus_pnes_add (GwDbusPnes *self, GwPne *pne)
{
  const char *id = gw_pne_get_entity_id (pne);
  g_autofree char *path = gw_dbus_pne_object_path (id);
  Entry *entry = g_hash_table_lookup (self->entries, id);
  g_autoptr(GError) error = NULL;

  if (entry != NULL && entry->pne == pne)
    return;
  if (entry != NULL)
    gw_dbus_pnes_remove (self, entry->pne);
  entry = g_malloc0 (sizeof (Entry) + n_props * sizeof (guint64));
  entry->pne = g_object_ref (pne);
  for (guint i = 0; i < n_props; i++)
    {
      g_autofree char *valid = NULL;

      entry->sent[i] = value_tag (prop_value (pne, i, &valid));
    }
  g_hash_table_insert (self->entries, (char *) id, entry);
  gw_pne_set_changed_func (pne, pne_changed, self);
  if (self->subtree_id == 0)
    self->subtree_id = g_dbus_connection_register_subtree (
      self->connection, PNE_SUBTREE_PATH, &subtree_vtable,
      G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES, self, NULL, &error);
  if (self->subtree_id == 0)
    g_warning ("cannot export %s: %s", PNE_SUBTREE_PATH, error->message);
  g_dbus_connection_emit_signal (self->connection, NULL, GW_DBUS_PATH,
                                 "org.freedesktop.DBus.ObjectManager", "InterfacesAdded",
                                 g_variant_new ("(o@a{sa{sv}})", path, interfaces_of (pne)),
                                 NULL);
}

void
gw_dbus_pnes_remove (GwDbusPnes *self, GwPne *pne)
{
  static const char *const interfaces[] = { PNE_INTERFACE, NULL };
  g_autoptr(GwPne) held = NULL;
  g_autofree char *path = NULL;

  if (lookup (self, pne) == NULL)
    return;
  /* The entry may hold the last reference, and the key is the PNE's. */
  held = g_object_ref (pne);
  path = gw_dbus_pne_object_path (gw_pne_get_entity_id (pne));
  g_hash_table_remove (self->entries, gw_pne_get_entity_id (pne));
  /* Without PNEs, introspection shows no "pne" node, as before any came. */
  if (g_hash_table_size (self->entries) == 0 && self->subtree_id != 0)
    {
      g_dbus_connection_unregister_subtree (self->connection, self->subtree_id);
      self->subtree_id = 0;
    }
  g_dbus_connection_emit_signal (self->connection, NULL, GW_DBUS_PATH,
                                 "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                                 g_variant_new ("(o^as)", path, interfaces), NULL);
}

void
gw_dbus_pnes_flush (GwDbusPnes *self, const char *entity_id)
{
  Entry *entry = g_hash_table_lookup (self->entries, entity_id);

  if (entry != NULL && entry->pending)
    send_changes (self, entry);
}

GwDbusPnes *
gw_dbus_pnes_new (GDBusConnection *connection, GwDbusPneMethodFunc method, gpointer user_data)
{
  GwDbusPnes *self = g_object_new (GW_TYPE_DBUS_PNES, NULL);
  g_autoptr(GError) error = NULL;

  self->connection = g_object_ref (connection);
  self->method = method;
  self->method_data = user_data;
  self->manager_id = g_dbus_connection_register_object (
    connection, GW_DBUS_PATH, (GDBusInterfaceInfo *) &manager_interface, &manager_vtable, self,
    NULL, &error);
  if (self->manager_id == 0)
    g_warning ("cannot export the ObjectManager at %s: %s", GW_DBUS_PATH, error->message);
  return self;
}

static void
gw_dbus_pnes_dispose (GObject *object)
{
  GwDbusPnes *self = GW_DBUS_PNES (object);

  if (self->connection != NULL)
    {
      if (self->subtree_id != 0)
        g_dbus_connection_unregister_subtree (self->connection, self->subtree_id);
      if (self->manager_id != 0)
        g_dbus_connection_unregister_object (self->connection, self->manager_id);
      self->subtree_id = self->manager_id = 0;
    }
  g_hash_table_remove_all (self->entries);
  if (self->idle != NULL)
    g_source_destroy (self->idle);
  g_clear_pointer (&self->idle, g_source_unref);
  g_clear_pointer (&self->pending, g_ptr_array_unref);
  g_clear_object (&self->connection);
  G_OBJECT_CLASS (gw_dbus_pnes_parent_class)->dispose (object);
}

static void
gw_dbus_pnes_finalize (GObject *object)
{
  GwDbusPnes *self = GW_DBUS_PNES (object);

  g_hash_table_unref (self->entries);
  g_main_context_unref (self->context);
  G_OBJECT_CLASS (gw_dbus_pnes_parent_class)->finalize (object);
}

static void
gw_dbus_pnes_class_init (GwDbusPnesClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = gw_dbus_pnes_dispose;
  G_OBJECT_CLASS (klass)->finalize = gw_dbus_pnes_finalize;
  props_init ();
}

static void
gw_dbus_pnes_init (GwDbusPnes *self)
{
  self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) entry_free);
  self->context = g_main_context_ref_thread_default ();
}
