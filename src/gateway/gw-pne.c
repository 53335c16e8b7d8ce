/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-pne.h"

struct _GwPne {
  GObject     parent_instance;
  char       *entity_id;
  char       *name;
  GwTransport transport;
  char       *address;
  GwVerdict   verdict;
  char       *verdict_reason;
  GwPnePath   path;
  GwPneState  state;
  char       *last_error;
  gboolean    has_ui, has_tk;
  GwPneChangedFunc changed_func;
  gpointer    changed_data;
};

enum {
  PROP_0,
  PROP_NAME,
  PROP_TRANSPORT,
  PROP_ADDRESS,
  PROP_VERDICT,
  PROP_PATH,
  PROP_STATE,
  PROP_LAST_ERROR,
  N_PROPS
};
static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE (GwPne, gw_pne, G_TYPE_OBJECT)

/* Most PNEs never have a last error and many have no name: an empty text
 * is not allocated (thousands of PNEs). */
static char *
dup_text (const char *value)
{
  return value == NULL || *value == '\0' ? (char *) "" : g_strdup (value);
}

static void
free_text (char *text)
{
  if (*text != '\0')
    g_free (text);
}

const char *
gw_pne_state_to_string (GwPneState state)
{
  switch (state)
    {
    case GW_PNE_DISCONNECTED: return "disconnected";
    case GW_PNE_CONNECTED: return "connected";
    case GW_PNE_NEEDS_CREDENTIALS: return "needs-credentials";
    case GW_PNE_PROVISIONING: return "provisioning";
    case GW_PNE_READY: return "ready";
    case GW_PNE_FAILED: return "failed";
    }
  return "unknown";
}

const char *
gw_pne_path_to_string (GwPnePath path)
{
  switch (path)
    {
    case GW_PNE_PATH_NONE: return "";
    case GW_PNE_PATH_EXISTING: return "existing";
    case GW_PNE_PATH_PNE_UI: return "pne-ui";
    case GW_PNE_PATH_INSTALL_CREDS: return "install-credentials";
    case GW_PNE_PATH_TEMPORARY_KEY: return "temporary-key";
    }
  return "";
}

GwPne *
gw_pne_new (const char *entity_id)
{
  GwPne *self = g_object_new (GW_TYPE_PNE, NULL);

  self->entity_id = g_strdup (entity_id);
  return self;
}

const char *gw_pne_get_entity_id (GwPne *self) { return self->entity_id; }
const char *gw_pne_get_name (GwPne *self) { return self->name; }
GwTransport gw_pne_get_transport (GwPne *self) { return self->transport; }
const char *gw_pne_get_address (GwPne *self) { return self->address; }
GwVerdict gw_pne_get_verdict (GwPne *self) { return self->verdict; }
const char *gw_pne_get_verdict_reason (GwPne *self) { return self->verdict_reason; }
GwPnePath gw_pne_get_path (GwPne *self) { return self->path; }
GwPneState gw_pne_get_state (GwPne *self) { return self->state; }
const char *gw_pne_get_last_error (GwPne *self) { return self->last_error; }
gboolean gw_pne_get_has_ui (GwPne *self) { return self->has_ui; }
gboolean gw_pne_get_has_tk (GwPne *self) { return self->has_tk; }

/* Replaces *@field and notifies only on a change: D-Bus clients see one
 * PropertiesChanged per real change. */
static void
set_string (GwPne *self, char **field, const char *value, guint prop)
{
  if (g_strcmp0 (*field, value) == 0)
    return;
  free_text (*field);
  *field = dup_text (value);
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

void
gw_pne_set_announcement (GwPne *self, const char *name, gboolean has_ui, gboolean has_tk)
{
  self->has_ui = has_ui;
  self->has_tk = has_tk;
  set_string (self, &self->name, name, PROP_NAME);
}

void
gw_pne_set_link (GwPne *self, GwTransport transport, const char *address,
                 GwVerdict verdict, const char *verdict_reason)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (self->transport != transport)
    {
      self->transport = transport;
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_TRANSPORT]);
    }
  set_string (self, &self->address, address, PROP_ADDRESS);
  if (self->verdict != verdict || g_strcmp0 (self->verdict_reason, verdict_reason) != 0)
    {
      self->verdict = verdict;
      free_text (self->verdict_reason);
      self->verdict_reason = dup_text (verdict_reason);
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_VERDICT]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

void
gw_pne_set_path (GwPne *self, GwPnePath path)
{
  if (self->path == path)
    return;
  self->path = path;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_PATH]);
}

void
gw_pne_set_state (GwPne *self, GwPneState state, const char *last_error)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (last_error != NULL)
    set_string (self, &self->last_error, last_error, PROP_LAST_ERROR);
  if (self->state != state)
    {
      self->state = state;
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

void
gw_pne_set_changed_func (GwPne *self, GwPneChangedFunc func, gpointer user_data)
{
  self->changed_func = func;
  self->changed_data = user_data;
}

/* Also makes GObject emit notify without a handler connected. */
static void
gw_pne_notify (GObject *object, GParamSpec *pspec)
{
  GwPne *self = GW_PNE (object);

  if (self->changed_func != NULL)
    self->changed_func (self, self->changed_data);
}

static void
gw_pne_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GwPne *self = GW_PNE (object);

  switch (prop_id)
    {
    case PROP_NAME: g_value_set_string (value, self->name); break;
    case PROP_TRANSPORT: g_value_set_uint (value, self->transport); break;
    case PROP_ADDRESS: g_value_set_string (value, self->address); break;
    case PROP_VERDICT: g_value_set_uint (value, self->verdict); break;
    case PROP_PATH: g_value_set_uint (value, self->path); break;
    case PROP_STATE: g_value_set_uint (value, self->state); break;
    case PROP_LAST_ERROR: g_value_set_string (value, self->last_error); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
gw_pne_finalize (GObject *object)
{
  GwPne *self = GW_PNE (object);

  g_free (self->entity_id);
  free_text (self->name);
  free_text (self->address);
  free_text (self->verdict_reason);
  free_text (self->last_error);
  G_OBJECT_CLASS (gw_pne_parent_class)->finalize (object);
}

static void
gw_pne_class_init (GwPneClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->get_property = gw_pne_get_property;
  object_class->notify = gw_pne_notify;
  object_class->finalize = gw_pne_finalize;
  props[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, "", ro);
  props[PROP_TRANSPORT] = g_param_spec_uint ("transport", NULL, NULL, 0, G_MAXUINT, 0, ro);
  props[PROP_ADDRESS] = g_param_spec_string ("address", NULL, NULL, "", ro);
  /* Also notified when only the reason changes. */
  props[PROP_VERDICT] = g_param_spec_uint ("verdict", NULL, NULL, 0, G_MAXUINT, 0, ro);
  props[PROP_PATH] = g_param_spec_uint ("path", NULL, NULL, 0, G_MAXUINT, 0, ro);
  props[PROP_STATE] = g_param_spec_uint ("state", NULL, NULL, 0, G_MAXUINT, 0, ro);
  props[PROP_LAST_ERROR] = g_param_spec_string ("last-error", NULL, NULL, "", ro);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
gw_pne_init (GwPne *self)
{
  self->name = self->address = self->verdict_reason = self->last_error = (char *) "";
  self->transport = GW_TRANSPORT_WIRED;
  self->verdict = GW_VERDICT_UNKNOWN;
  self->state = GW_PNE_DISCONNECTED;
}
