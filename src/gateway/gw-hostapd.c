/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-hostapd.h"

#include <gio/gunixsocketaddress.h>
#include <string.h>
#include <unistd.h>

#include "gw-error.h"

#define REPLY_MAX 4096

typedef struct {
  GSocket *socket;
  char    *local_path;
  char    *ctrl_path;
  GSource *source;
  guint    timeout;
} Request;

static void
request_free (Request *r)
{
  if (r->local_path != NULL)
    unlink (r->local_path);
  g_free (r->local_path);
  g_free (r->ctrl_path);
  g_clear_object (&r->socket);
  g_free (r);
}

/* Exactly once: stops the socket source and the timer, then completes. */
static void
finish (GTask *task, char *reply, GError *error)
{
  Request *r = g_task_get_task_data (task);

  if (r->source != NULL)
    {
      g_source_destroy (r->source);
      g_clear_pointer (&r->source, g_source_unref);
    }
  g_clear_handle_id (&r->timeout, g_source_remove);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, reply, g_free);
  g_object_unref (task);
}

static gboolean
on_timeout (gpointer user_data)
{
  GTask *task = user_data;
  Request *r = g_task_get_task_data (task);

  r->timeout = 0;
  finish (task, NULL, g_error_new (GW_ERROR, GW_ERROR_FAILED,
                                   "control socket %s did not answer within %d ms",
                                   r->ctrl_path, GW_HOSTAPD_TIMEOUT_MS));
  return G_SOURCE_REMOVE;
}

static gboolean
on_readable (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  GTask *task = user_data;
  GError *error = NULL;
  char buf[REPLY_MAX + 1];
  gssize n;

  if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task), &error))
    {
      finish (task, NULL, error);
      return G_SOURCE_REMOVE;
    }
  n = g_socket_receive (socket, buf, REPLY_MAX, NULL, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    {
      g_error_free (error);
      return G_SOURCE_CONTINUE;
    }
  if (n < 0)
    {
      Request *r = g_task_get_task_data (task);
      GError *e = g_error_new (GW_ERROR, GW_ERROR_FAILED,
                               "reading the answer of control socket %s: %s", r->ctrl_path,
                               error->message);
      g_error_free (error);
      finish (task, NULL, e);
      return G_SOURCE_REMOVE;
    }
  /* Unsolicited event messages start with '<'; an answer does not. */
  if (n > 0 && buf[0] == '<')
    return G_SOURCE_CONTINUE;
  finish (task, g_strndup (buf, n), NULL);
  return G_SOURCE_REMOVE;
}

void
gw_hostapd_request_async (const char *ctrl_path, const char *local_dir, const char *command,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  Request *r = g_new0 (Request, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  static guint counter;

  g_task_set_source_tag (task, gw_hostapd_request_async);
  g_task_set_task_data (task, r, (GDestroyNotify) request_free);
  r->socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM,
                            G_SOCKET_PROTOCOL_DEFAULT, &error);
  if (r->socket == NULL)
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_FAILED, "%s", error->message);
      g_object_unref (task);
      return;
    }
  g_socket_set_blocking (r->socket, FALSE);
  r->ctrl_path = g_strdup (ctrl_path);
  r->local_path = g_strdup_printf ("%s/hostapd-ctrl-%d-%u", local_dir, (int) getpid (),
                                   counter++);
  unlink (r->local_path);
  local = g_unix_socket_address_new (r->local_path);
  remote = g_unix_socket_address_new (ctrl_path);
  if (!g_socket_bind (r->socket, local, FALSE, &error) ||
      g_socket_send_to (r->socket, remote, command, strlen (command), NULL, &error) < 0)
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_FAILED,
                               "control socket %s: %s", ctrl_path, error->message);
      g_object_unref (task);
      return;
    }
  r->source = g_socket_create_source (r->socket, G_IO_IN, cancellable);
  g_source_set_callback (r->source, (GSourceFunc) (void (*) (void)) on_readable, task, NULL);
  g_source_attach (r->source, g_main_context_get_thread_default ());
  r->timeout = g_timeout_add (GW_HOSTAPD_TIMEOUT_MS, on_timeout, task);
}

char *
gw_hostapd_request_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}
