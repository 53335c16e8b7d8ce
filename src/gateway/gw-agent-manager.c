/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-agent-manager.h"

#include <string.h>

#include "gw-error.h"

typedef struct {
  char  *sender;   /* unique bus name */
  char  *path;
  guint  watch;
} Agent;

struct _GwAgentManager {
  GObject          parent_instance;
  GDBusConnection *connection;
  GList           *agents;    /* Agent*, registration order: the first is default */
};

G_DEFINE_TYPE (GwAgentManager, gw_agent_manager, G_TYPE_OBJECT)

static void
agent_free (Agent *a)
{
  if (a->watch != 0)
    g_bus_unwatch_name (a->watch);
  g_free (a->sender);
  g_free (a->path);
  g_free (a);
}

static GList *
find (GwAgentManager *self, const char *sender, const char *path)
{
  for (GList *l = self->agents; l != NULL; l = l->next)
    {
      Agent *a = l->data;
      if (g_strcmp0 (a->sender, sender) == 0 &&
          (path == NULL || g_strcmp0 (a->path, path) == 0))
        return l;
    }
  return NULL;
}

static void
on_vanished (GDBusConnection *connection, const char *name, gpointer user_data)
{
  GwAgentManager *self = user_data;
  GList *l;

  /* All agents of that connection go. */
  while ((l = find (self, name, NULL)) != NULL)
    {
      Agent *a = l->data;
      g_message ("agent %s %s left the bus", a->sender, a->path);
      self->agents = g_list_delete_link (self->agents, l);
      agent_free (a);
    }
}

gboolean
gw_agent_manager_register (GwAgentManager *self, const char *sender, const char *path,
                           GError **error)
{
  Agent *a;

  if (!g_variant_is_object_path (path))
    {
      g_set_error (error, GW_ERROR, GW_ERROR_INVALID_ARGUMENTS,
                   "'%s' is not an object path", path);
      return FALSE;
    }
  if (find (self, sender, path) != NULL)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_ALREADY_EXISTS,
                   "agent %s is already registered", path);
      return FALSE;
    }
  a = g_new0 (Agent, 1);
  a->sender = g_strdup (sender);
  a->path = g_strdup (path);
  a->watch = g_bus_watch_name_on_connection (self->connection, sender,
                                             G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
                                             on_vanished, self, NULL);
  self->agents = g_list_append (self->agents, a);
  g_message ("agent %s %s registered%s", sender, path,
             self->agents->data == a ? " (default)" : "");
  return TRUE;
}

gboolean
gw_agent_manager_unregister (GwAgentManager *self, const char *sender, const char *path,
                             GError **error)
{
  GList *l = find (self, sender, path);

  if (l == NULL)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_NOT_FOUND,
                   "no agent %s is registered by this connection", path);
      return FALSE;
    }
  g_dbus_connection_call (self->connection, sender, path, "org.cpns.Agent1", "Release",
                          NULL, NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, 1000, NULL, NULL,
                          NULL);
  agent_free (l->data);
  self->agents = g_list_delete_link (self->agents, l);
  g_message ("agent %s %s unregistered", sender, path);
  return TRUE;
}

guint
gw_agent_manager_get_count (GwAgentManager *self)
{
  return g_list_length (self->agents);
}

void
gw_agent_manager_release_all (GwAgentManager *self)
{
  for (GList *l = self->agents; l != NULL; l = l->next)
    {
      Agent *a = l->data;
      g_dbus_connection_call (self->connection, a->sender, a->path, "org.cpns.Agent1",
                              "Release", NULL, NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, 1000,
                              NULL, NULL, NULL);
    }
  g_list_free_full (g_steal_pointer (&self->agents), (GDestroyNotify) agent_free);
}

/* ---- requests ---- */

typedef struct {
  char   *target;
  char   *reason;
  char   *preferred;
  GList  *tried;        /* "sender path" strings already asked */
  char   *asking_sender;
  char   *asking_path;
  gulong  cancelled_id;
  char   *user_id;
  CpnsSecret *password;
} Request;

static void
request_free (Request *r)
{
  g_free (r->target);
  g_free (r->reason);
  g_free (r->preferred);
  g_list_free_full (r->tried, g_free);
  g_free (r->asking_sender);
  g_free (r->asking_path);
  g_free (r->user_id);
  cpns_secret_free (r->password);
  g_free (r);
}

static void ask_next (GTask *task);

static void
send_cancel (GwAgentManager *self, Request *r)
{
  if (r->asking_sender == NULL)
    return;
  g_dbus_connection_call (self->connection, r->asking_sender, r->asking_path,
                          "org.cpns.Agent1", "Cancel", g_variant_new ("(o)", r->target),
                          NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, 1000, NULL, NULL, NULL);
}

static void
on_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GwAgentManager *self = g_task_get_source_object (task);
  Request *r = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *remote = NULL;
  const char *user_id, *password;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (g_task_return_error_if_cancelled (task))
    {
      send_cancel (self, r);
      return;
    }
  if (reply == NULL)
    {
      remote = g_dbus_error_get_remote_error (error);
      if (g_strcmp0 (remote, "org.cpns.Error.Canceled") == 0)
        {
          g_task_return_new_error (task, GW_ERROR, GW_ERROR_CANCELLED,
                                   "the person declined to give credentials");
          return;
        }
      /* Timed out, vanished or broken: the next agent may do better. */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        send_cancel (self, r);
      g_message ("agent %s %s did not answer: %s", r->asking_sender, r->asking_path,
                 error->message);
      ask_next (g_steal_pointer (&task));
      return;
    }
  g_variant_get (reply, "(&s&s)", &user_id, &password);
  if (*user_id == '\0' || *password == '\0')
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_INVALID_ARGUMENTS,
                               "the agent returned an empty User ID or password");
      return;
    }
  r->user_id = g_strdup (user_id);
  r->password = cpns_secret_new ((const guint8 *) password, strlen (password));
  /* The reply's copy goes with the variant; wipe it before it is freed. */
  cpns_wipe ((char *) password, strlen (password));
  g_task_return_boolean (task, TRUE);
}

static gboolean
tried (Request *r, Agent *a)
{
  g_autofree char *key = g_strdup_printf ("%s %s", a->sender, a->path);

  return g_list_find_custom (r->tried, key, (GCompareFunc) g_strcmp0) != NULL;
}

/* The caller's own agents first, then the default and the others. */
static Agent *
next_agent (GwAgentManager *self, Request *r)
{
  for (GList *l = self->agents; l != NULL && r->preferred != NULL; l = l->next)
    {
      Agent *a = l->data;
      if (g_strcmp0 (a->sender, r->preferred) == 0 && !tried (r, a))
        return a;
    }
  for (GList *l = self->agents; l != NULL; l = l->next)
    if (!tried (r, l->data))
      return l->data;
  return NULL;
}

static void
ask_next (GTask *task)
{
  GwAgentManager *self = g_task_get_source_object (task);
  Request *r = g_task_get_task_data (task);
  Agent *a = next_agent (self, r);

  if (a == NULL)
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_NO_AGENT,
                               r->tried == NULL ?
                               "no agent is registered to ask for User ID and password" :
                               "no registered agent gave User ID and password");
      g_object_unref (task);
      return;
    }
  r->tried = g_list_prepend (r->tried, g_strdup_printf ("%s %s", a->sender, a->path));
  g_free (r->asking_sender);
  g_free (r->asking_path);
  r->asking_sender = g_strdup (a->sender);
  r->asking_path = g_strdup (a->path);
  g_dbus_connection_call (self->connection, a->sender, a->path, "org.cpns.Agent1",
                          "RequestCredentials", g_variant_new ("(os)", r->target, r->reason),
                          G_VARIANT_TYPE ("(ss)"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
                          GW_AGENT_TIMEOUT_MS, g_task_get_cancellable (task), on_reply, task);
}

void
gw_agent_manager_request_async (GwAgentManager *self, const char *target,
                                const char *reason, const char *preferred_sender,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  Request *r = g_new0 (Request, 1);

  g_task_set_source_tag (task, gw_agent_manager_request_async);
  r->target = g_strdup (target);
  r->reason = g_strdup (reason);
  r->preferred = g_strdup (preferred_sender);
  g_task_set_task_data (task, r, (GDestroyNotify) request_free);
  ask_next (task);
}

gboolean
gw_agent_manager_request_finish (GwAgentManager *self, GAsyncResult *result,
                                 char **user_id, CpnsSecret **password, GError **error)
{
  Request *r = g_task_get_task_data (G_TASK (result));

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  *user_id = g_steal_pointer (&r->user_id);
  *password = g_steal_pointer (&r->password);
  return TRUE;
}

GwAgentManager *
gw_agent_manager_new (GDBusConnection *connection)
{
  GwAgentManager *self = g_object_new (GW_TYPE_AGENT_MANAGER, NULL);

  self->connection = g_object_ref (connection);
  return self;
}

static void
gw_agent_manager_dispose (GObject *object)
{
  GwAgentManager *self = GW_AGENT_MANAGER (object);

  g_list_free_full (g_steal_pointer (&self->agents), (GDestroyNotify) agent_free);
  g_clear_object (&self->connection);
  G_OBJECT_CLASS (gw_agent_manager_parent_class)->dispose (object);
}

static void
gw_agent_manager_class_init (GwAgentManagerClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = gw_agent_manager_dispose;
}

static void
gw_agent_manager_init (GwAgentManager *self)
{
}
