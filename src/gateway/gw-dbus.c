/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-dbus.h"

#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "gw-agent-manager.h"
#include "gw-dbus-pne.h"
#include "gw-error.h"
#include "gw-pne-manager.h"
#include "pngw-dbus-generated.h"

#define PNGW_GROUP "pngw"

struct _GwDbus {
  GObject                   parent_instance;
  GwDaemon                 *daemon;
  guint                     owner_id;
  GDBusConnection          *connection;
  PngwGateway1             *gateway;
  GwAgentManager           *agents;
  gboolean                  enrolling;
  GCancellable             *cancellable;

  /* The PNEs; NULL when the daemon has no PAN. */
  GwPneManager             *pnes;
  /* Their objects and the ObjectManager; NULL while off the bus. */
  GwDbusPnes               *pne_objects;
  /* Entity ID -> unique name of the caller of its latest accepted Provision:
   * its agents are asked first for that PNE's credentials. */
  GHashTable               *provision_callers;
  GwCredentialSource        credential_source;
  gboolean                  source_installed;
};

enum {
  SIGNAL_NAME_LOST,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GwDbus, gw_dbus, G_TYPE_OBJECT)

const char *
gw_error_to_dbus_name (const GError *error)
{
  if (error->domain == GW_ERROR)
    switch ((GwError) error->code)
      {
      case GW_ERROR_NOT_ENROLLED: return "org.cpns.Error.NotEnrolled";
      case GW_ERROR_AUTHENTICATION_FAILED: return "org.cpns.Error.AuthenticationFailed";
      case GW_ERROR_SERVER_UNREACHABLE: return "org.cpns.Error.ServerUnreachable";
      case GW_ERROR_SERVER_REFUSED: return "org.cpns.Error.ServerRefused";
      case GW_ERROR_BUSY: return "org.cpns.Error.Busy";
      case GW_ERROR_CANCELLED: return "org.cpns.Error.Canceled";
      case GW_ERROR_NO_AGENT: return "org.cpns.Error.NoAgent";
      case GW_ERROR_INVALID_ARGUMENTS: return "org.cpns.Error.InvalidArguments";
      case GW_ERROR_PERMISSION_DENIED: return "org.cpns.Error.PermissionDenied";
      case GW_ERROR_NOT_FOUND: return "org.cpns.Error.NotFound";
      case GW_ERROR_ALREADY_EXISTS: return "org.cpns.Error.AlreadyExists";
      default: break;
      }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return "org.cpns.Error.Canceled";
  return "org.cpns.Error.Failed";
}

static void
return_error (GDBusMethodInvocation *invocation, const GError *error)
{
  g_dbus_method_invocation_return_dbus_error (invocation, gw_error_to_dbus_name (error),
                                              error->message);
}

/* ---- properties ---- */

static void
sync_properties (GwDbus *self)
{
  GwServerLink *link = gw_daemon_get_link (self->daemon);
  const GwConfig *config = gw_daemon_get_config (self->daemon);
  const char *error = gw_daemon_get_last_error (self->daemon);

  if (self->gateway == NULL)
    return;
  if (error == NULL && gw_daemon_get_state (self->daemon) == GW_STATE_ENROLLED)
    error = gw_server_link_get_last_error (link);
  pngw_gateway1_set_entity_id (self->gateway, config->entity_id);
  pngw_gateway1_set_state (self->gateway, gw_state_to_string (gw_daemon_get_state (self->daemon)));
  pngw_gateway1_set_user_id (self->gateway, gw_daemon_get_user_id (self->daemon) ?: "");
  pngw_gateway1_set_server_url (self->gateway, config->server_url);
  pngw_gateway1_set_server_reachable (self->gateway, gw_server_link_get_reachable (link));
  pngw_gateway1_set_session_state (self->gateway,
                                   gw_link_state_to_string (gw_server_link_get_state (link)));
  pngw_gateway1_set_credential_mode (self->gateway,
                                     gw_credential_mode_to_string (config->credential));
  pngw_gateway1_set_last_error (self->gateway, error ?: "");
}

static void
on_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  sync_properties (user_data);
}

/* ---- callers ---- */

static gboolean
uid_is_permitted (uid_t uid)
{
  struct group *grp;
  struct passwd *pw;
  gid_t groups[256];
  int n = G_N_ELEMENTS (groups);

  if (uid == 0 || uid == getuid ())
    return TRUE;
  grp = getgrnam (PNGW_GROUP);
  pw = getpwuid (uid);
  if (grp == NULL || pw == NULL)
    return FALSE;
  if (getgrouplist (pw->pw_name, pw->pw_gid, groups, &n) < 0)
    return FALSE;
  for (int i = 0; i < n; i++)
    if (groups[i] == grp->gr_gid)
      return TRUE;
  return FALSE;
}

typedef void (*PermittedFunc) (GwDbus *self, GDBusMethodInvocation *invocation,
                               gpointer data);

typedef struct {
  GwDbus                *self;
  GDBusMethodInvocation *invocation;
  PermittedFunc          func;
  gpointer               data;       /* func frees it... */
  GDestroyNotify         data_free;  /* ...or this, when func is not called */
} Check;

static void
on_caller_uid (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Check *c = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
                                                             result, &error);
  guint32 uid;

  if (reply == NULL)
    g_dbus_method_invocation_return_dbus_error (c->invocation,
                                                "org.cpns.Error.PermissionDenied",
                                                "cannot tell who is calling");
  else
    {
      g_variant_get (reply, "(u)", &uid);
      if (uid_is_permitted (uid))
        c->func (c->self, c->invocation, g_steal_pointer (&c->data));
      else
        {
          g_message ("refused %s from uid %u: not root nor in group " PNGW_GROUP,
                     g_dbus_method_invocation_get_method_name (c->invocation), uid);
          g_dbus_method_invocation_return_dbus_error (
            c->invocation, "org.cpns.Error.PermissionDenied",
            "only root and members of the group " PNGW_GROUP " may do this");
        }
    }
  if (c->data != NULL && c->data_free != NULL)
    c->data_free (c->data);
  g_object_unref (c->invocation);
  g_object_unref (c->self);
  g_free (c);
}

/* The bus policy already limits who may call; the daemon checks again,
 * from the caller's UID, before anything that changes state. */
static void
when_permitted (GwDbus *self, GDBusMethodInvocation *invocation, PermittedFunc func,
                gpointer data, GDestroyNotify data_free)
{
  Check *c = g_new0 (Check, 1);

  c->self = g_object_ref (self);
  c->invocation = g_object_ref (invocation);
  c->func = func;
  c->data = data;
  c->data_free = data_free;
  g_dbus_connection_call (self->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser",
                          g_variant_new ("(s)",
                                         g_dbus_method_invocation_get_sender (invocation)),
                          G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                          on_caller_uid, c);
}

/* ---- Enroll ---- */

typedef struct {
  GwDbus                *self;
  GDBusMethodInvocation *invocation;
} Call;

static Call *
call_new (GwDbus *self, GDBusMethodInvocation *invocation)
{
  Call *c = g_new0 (Call, 1);

  c->self = g_object_ref (self);
  c->invocation = g_object_ref (invocation);
  return c;
}

static void
call_free (Call *c)
{
  g_object_unref (c->self);
  g_object_unref (c->invocation);
  g_free (c);
}

static void
enroll_done (Call *c, const GError *error)
{
  GwDbus *self = c->self;

  self->enrolling = FALSE;
  /* Clients see the new State before the signal that announces it. */
  sync_properties (self);
  if (self->gateway != NULL)
    g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self->gateway));
  if (self->gateway != NULL)
    pngw_gateway1_emit_enrollment_finished (self->gateway, error == NULL,
                                            error != NULL ? error->message :
                                            "the gateway is enrolled");
  if (error != NULL)
    return_error (c->invocation, error);
  else
    pngw_gateway1_complete_enroll (self->gateway, c->invocation);
  call_free (c);
}

static void
on_enrolled (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  gw_daemon_enroll_finish (GW_DAEMON (source), result, &error);
  enroll_done (user_data, error);
}

static void
on_credentials (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *c = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user_id = NULL;
  g_autoptr(CpnsSecret) password = NULL;

  if (!gw_agent_manager_request_finish (GW_AGENT_MANAGER (source), result, &user_id,
                                        &password, &error))
    {
      enroll_done (c, error);
      return;
    }
  gw_daemon_enroll_async (c->self->daemon, user_id, password->data, password->len,
                          c->self->cancellable, on_enrolled, c);
}

static void
enroll_permitted (GwDbus *self, GDBusMethodInvocation *invocation, gpointer data)
{
  const GwConfig *config = gw_daemon_get_config (self->daemon);
  g_autofree char *reason = NULL;

  if (config->credential == GW_CREDENTIAL_PRECONFIGURED)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, "org.cpns.Error.Failed",
                                                  "this gateway uses a pre-configured "
                                                  "credential; it is not enrolled by a user");
      return;
    }
  if (self->enrolling)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, "org.cpns.Error.Busy",
                                                  "an enrolment is already running");
      return;
    }
  self->enrolling = TRUE;
  reason = g_strdup_printf ("Enrol gateway %s with the CPNS Server %s", config->entity_id,
                            config->server_url);
  gw_agent_manager_request_async (self->agents, GW_DBUS_PATH, reason,
                                  g_dbus_method_invocation_get_sender (invocation),
                                  self->cancellable, on_credentials,
                                  call_new (self, invocation));
}

static gboolean
handle_enroll (PngwGateway1 *gateway, GDBusMethodInvocation *invocation, gpointer user_data)
{
  when_permitted (user_data, invocation, enroll_permitted, NULL, NULL);
  return TRUE;
}

/* ---- Forget ---- */

static void
on_forgotten (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *c = user_data;
  g_autoptr(GError) error = NULL;

  if (!gw_daemon_forget_finish (GW_DAEMON (source), result, &error))
    return_error (c->invocation, error);
  else
    pngw_gateway1_complete_forget (c->self->gateway, c->invocation);
  call_free (c);
}

static void
forget_permitted (GwDbus *self, GDBusMethodInvocation *invocation, gpointer data)
{
  gw_daemon_forget_async (self->daemon, self->cancellable, on_forgotten,
                          call_new (self, invocation));
}

static gboolean
handle_forget (PngwGateway1 *gateway, GDBusMethodInvocation *invocation, gpointer user_data)
{
  when_permitted (user_data, invocation, forget_permitted, NULL, NULL);
  return TRUE;
}

/* ---- PNE objects ---- */

char *
gw_dbus_pne_object_path (const char *entity_id)
{
  GString *path = g_string_new (GW_DBUS_PNE_PATH_PREFIX);

  /* An empty element is not a valid path; sd_bus_path_encode() says "_". */
  if (*entity_id == '\0')
    g_string_append_c (path, '_');
  for (const guchar *p = (const guchar *) entity_id; *p != '\0'; p++)
    if (g_ascii_isalnum (*p))
      g_string_append_c (path, (char) *p);
    else
      g_string_append_printf (path, "_%02x", *p);
  return g_string_free (path, FALSE);
}

static void
provision_permitted (GwDbus *self, GDBusMethodInvocation *invocation, gpointer data)
{
  g_autofree char *id = data;
  g_autoptr(GError) error = NULL;
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  g_autofree char *previous = NULL;

  if (self->pnes == NULL)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, "org.cpns.Error.NotFound",
                                                  "this gateway serves no PNE");
      return;
    }
  /* Set before the call: the manager may ask for credentials at once. */
  previous = g_strdup (g_hash_table_lookup (self->provision_callers, id));
  g_hash_table_replace (self->provision_callers, g_strdup (id), g_strdup (sender));
  if (!gw_pne_manager_provision (self->pnes, id, &error))
    {
      if (previous != NULL)
        g_hash_table_replace (self->provision_callers, g_strdup (id),
                              g_steal_pointer (&previous));
      else
        g_hash_table_remove (self->provision_callers, id);
      return_error (invocation, error);
      return;
    }
  /* The caller sees the State the request led to before the reply. */
  if (self->pne_objects != NULL)
    gw_dbus_pnes_flush (self->pne_objects, id);
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
forget_pne_permitted (GwDbus *self, GDBusMethodInvocation *invocation, gpointer data)
{
  g_autofree char *id = data;
  g_autoptr(GError) error = NULL;

  if (self->pnes == NULL)
    g_dbus_method_invocation_return_dbus_error (invocation, "org.cpns.Error.NotFound",
                                                "this gateway serves no PNE");
  else if (!gw_pne_manager_forget (self->pnes, id, &error))
    return_error (invocation, error);
  else
    g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
on_pne_method (GDBusMethodInvocation *invocation, const char *entity_id, gpointer user_data)
{
  const char *method = g_dbus_method_invocation_get_method_name (invocation);

  /* The XML has no other methods: GDBus refused the rest. */
  when_permitted (user_data, invocation,
                  strcmp (method, "Provision") == 0 ? provision_permitted :
                  forget_pne_permitted, g_strdup (entity_id), g_free);
}

static void
on_pne_added (GwPneManager *manager, GwPne *pne, gpointer user_data)
{
  GwDbus *self = user_data;

  /* Nothing per PNE while there is no bus to show them on: they are
   * added when the bus comes. */
  if (self->pne_objects != NULL)
    gw_dbus_pnes_add (self->pne_objects, pne);
}

static void
on_pne_removed (GwPneManager *manager, GwPne *pne, gpointer user_data)
{
  GwDbus *self = user_data;

  if (self->pne_objects != NULL)
    gw_dbus_pnes_remove (self->pne_objects, pne);
  g_hash_table_remove (self->provision_callers, gw_pne_get_entity_id (pne));
}

/* ---- the PNE manager's credential source: the agents ---- */

typedef struct {
  char       *user_id;
  CpnsSecret *password;
} Credentials;

static void
credentials_free (Credentials *c)
{
  g_free (c->user_id);
  cpns_secret_free (c->password);
  g_free (c);
}

static void
on_pne_credentials (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  Credentials *c = g_new0 (Credentials, 1);

  /* GW_ERROR_NO_AGENT (none registered, or none answered),
   * GW_ERROR_CANCELLED (the person declined) and the others go to the
   * manager as they are. */
  if (!gw_agent_manager_request_finish (GW_AGENT_MANAGER (source), result, &c->user_id,
                                        &c->password, &error))
    {
      credentials_free (c);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_pointer (task, c, (GDestroyNotify) credentials_free);
}

static void
source_request_async (gpointer source, const char *pne_id, const char *reason,
                      GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer user_data)
{
  GwDbus *self = source;
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_autofree char *target = gw_dbus_pne_object_path (pne_id);

  g_task_set_source_tag (task, source_request_async);
  if (self->agents == NULL)
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_NO_AGENT,
                               "no agent can be asked: pngwd is not on the bus");
      g_object_unref (task);
      return;
    }
  gw_agent_manager_request_async (self->agents, target, reason,
                                  g_hash_table_lookup (self->provision_callers, pne_id),
                                  cancellable, on_pne_credentials, task);
}

static gboolean
source_request_finish (gpointer source, GAsyncResult *result, char **user_id,
                       CpnsSecret **password, GError **error)
{
  Credentials *c = g_task_propagate_pointer (G_TASK (result), error);

  if (c == NULL)
    return FALSE;
  *user_id = g_steal_pointer (&c->user_id);
  *password = g_steal_pointer (&c->password);
  credentials_free (c);
  return TRUE;
}

static void
set_credential_source (GwDbus *self, gboolean installed)
{
  if (self->pnes == NULL || self->source_installed == installed)
    return;
  self->source_installed = installed;
  gw_pne_manager_set_credential_source (self->pnes, installed ? &self->credential_source :
                                        NULL);
}

/* ---- agents ---- */

static void
register_permitted (GwDbus *self, GDBusMethodInvocation *invocation, gpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = data;

  if (!gw_agent_manager_register (self->agents,
                                  g_dbus_method_invocation_get_sender (invocation), path,
                                  &error))
    return_error (invocation, error);
  else
    {
      pngw_gateway1_complete_register_agent (self->gateway, invocation);
      /* PNEs that waited for an agent are asked now. */
      if (self->pnes != NULL)
        gw_pne_manager_credentials_available (self->pnes);
    }
}

static gboolean
handle_register_agent (PngwGateway1 *gateway, GDBusMethodInvocation *invocation,
                       const char *path, gpointer user_data)
{
  when_permitted (user_data, invocation, register_permitted, g_strdup (path), g_free);
  return TRUE;
}

static gboolean
handle_unregister_agent (PngwGateway1 *gateway, GDBusMethodInvocation *invocation,
                         const char *path, gpointer user_data)
{
  GwDbus *self = user_data;
  g_autoptr(GError) error = NULL;

  /* Only the connection that registered an agent can unregister it. */
  if (!gw_agent_manager_unregister (self->agents,
                                    g_dbus_method_invocation_get_sender (invocation), path,
                                    &error))
    return_error (invocation, error);
  else
    pngw_gateway1_complete_unregister_agent (gateway, invocation);
  return TRUE;
}

/* ---- bus ---- */

static void
on_bus_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  GwDbus *self = user_data;
  g_autoptr(GError) error = NULL;

  self->connection = g_object_ref (connection);
  self->agents = gw_agent_manager_new (connection);
  self->gateway = pngw_gateway1_skeleton_new ();
  g_signal_connect (self->gateway, "handle-enroll", G_CALLBACK (handle_enroll), self);
  g_signal_connect (self->gateway, "handle-forget", G_CALLBACK (handle_forget), self);
  g_signal_connect (self->gateway, "handle-register-agent",
                    G_CALLBACK (handle_register_agent), self);
  g_signal_connect (self->gateway, "handle-unregister-agent",
                    G_CALLBACK (handle_unregister_agent), self);
  sync_properties (self);
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->gateway),
                                         connection, GW_DBUS_PATH, &error))
    g_warning ("cannot export %s: %s", GW_DBUS_PATH, error->message);
  /* The ObjectManager lists the PNEs; it is there also without a PAN. */
  self->pne_objects = gw_dbus_pnes_new (connection, on_pne_method, self);
  if (self->pnes != NULL)
    {
      g_autoptr(GPtrArray) known = gw_pne_manager_list_pnes (self->pnes);
      for (guint i = 0; i < known->len; i++)
        on_pne_added (self->pnes, known->pdata[i], self);
    }
  set_credential_source (self, TRUE);
}

static void
on_name_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  g_message ("D-Bus API ready as %s", name);
}

static void
on_name_lost (GDBusConnection *connection, const char *name, gpointer user_data)
{
  GwDbus *self = user_data;

  if (connection == NULL || g_dbus_connection_is_closed (connection))
    {
      g_message ("no D-Bus bus to join; running without the D-Bus API");
      return;
    }
  g_warning ("the name %s is owned by another process", name);
  g_signal_emit (self, signals[SIGNAL_NAME_LOST], 0);
}

void
gw_dbus_start (GwDbus *self, GBusType bus_type)
{
  g_return_if_fail (self->owner_id == 0);
  self->owner_id = g_bus_own_name (bus_type, GW_DBUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE,
                                   on_bus_acquired, on_name_acquired, on_name_lost, self,
                                   NULL);
}

void
gw_dbus_stop (GwDbus *self)
{
  g_cancellable_cancel (self->cancellable);
  set_credential_source (self, FALSE);
  if (self->agents != NULL)
    gw_agent_manager_release_all (self->agents);
  if (self->gateway != NULL)
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->gateway));
  g_clear_handle_id (&self->owner_id, g_bus_unown_name);
  if (self->connection != NULL)
    g_dbus_connection_flush_sync (self->connection, NULL, NULL);
}

GwDbus *
gw_dbus_new (GwDaemon *daemon)
{
  GwDbus *self = g_object_new (GW_TYPE_DBUS, NULL);

  GwPneManager *pnes = gw_daemon_get_pne_manager (daemon);

  self->daemon = g_object_ref (daemon);
  g_signal_connect_object (daemon, "notify", G_CALLBACK (on_notify), self, 0);
  g_signal_connect_object (gw_daemon_get_link (daemon), "notify", G_CALLBACK (on_notify),
                           self, 0);
  if (pnes == NULL)
    return self;
  self->pnes = g_object_ref (pnes);
  g_signal_connect_object (pnes, "pne-added", G_CALLBACK (on_pne_added), self, 0);
  g_signal_connect_object (pnes, "pne-removed", G_CALLBACK (on_pne_removed), self, 0);
  return self;
}

static void
gw_dbus_dispose (GObject *object)
{
  GwDbus *self = GW_DBUS (object);

  g_clear_handle_id (&self->owner_id, g_bus_unown_name);
  set_credential_source (self, FALSE);
  g_clear_object (&self->pnes);
  g_clear_object (&self->pne_objects);
  g_clear_pointer (&self->provision_callers, g_hash_table_unref);
  g_clear_object (&self->gateway);
  g_clear_object (&self->agents);
  g_clear_object (&self->connection);
  g_clear_object (&self->daemon);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (gw_dbus_parent_class)->dispose (object);
}

static void
gw_dbus_class_init (GwDbusClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = gw_dbus_dispose;
  signals[SIGNAL_NAME_LOST] = g_signal_new ("name-lost", G_TYPE_FROM_CLASS (klass),
                                            G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                            G_TYPE_NONE, 0);
}

static void
gw_dbus_init (GwDbus *self)
{
  self->cancellable = g_cancellable_new ();
  self->provision_callers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->credential_source.request_async = source_request_async;
  self->credential_source.request_finish = source_request_finish;
  self->credential_source.source = self;
}
