/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The terminal agent: exports org.cpns.Agent1, registers it with pngwd and
 * answers RequestCredentials from --user and --password-file or by asking
 * on the terminal.  The terminal is read from the main loop, so that a
 * Cancel or Release from pngwd can withdraw a prompt while it shows. */

#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define LINE_MAX_BYTES 1024

typedef struct {
  GDBusMethodInvocation *invocation;   /* completed exactly once */
  char                  *target;
  char                  *reason;
} Request;

typedef enum {
  ASKING_NOTHING,
  ASKING_USER,
  ASKING_PASSWORD,
} Asking;

typedef struct {
  Ctl            *ctl;
  PngwAgent1     *skeleton;
  char           *path;
  GMainLoop      *loop;
  GQueue          requests;      /* Request*; the head is being answered */
  gboolean        registered;
  gboolean        released;
  GError         *local_error;   /* why this agent could not answer */
  int             status;        /* ctl_run_agent's result */

  /* The prompt for the head request. */
  Asking          asking;
  int             tty;
  struct termios  saved;
  gboolean        echo_off;
  guint           tty_watch;
  char           *user_id;
  char            line[LINE_MAX_BYTES];   /* wiped after each line */
  gsize           line_len;

  /* ctl_call_with_agent */
  GCancellable   *cancellable;
  GError         *call_error;

  /* ctl_provision_with_agent: Provision returns once accepted; the
   * outcome shows in the PNE's State and LastError. */
  GDBusProxy     *pne;
  gboolean        call_pending;
  gboolean        done;
  GError         *outcome;       /* with done: why provisioning did not end well */
} Agent;

static void start_request (Agent *agent);
static void end_provision (Agent *agent, GError *outcome);

static void
tty_write (Agent *agent, const char *text)
{
  gsize len = strlen (text);

  while (len > 0)
    {
      gssize n = write (agent->tty, text, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      text += n;
      len -= (gsize) n;
    }
}

static void
wipe_line (Agent *agent)
{
  explicit_bzero (agent->line, sizeof agent->line);
  agent->line_len = 0;
}

static void
set_local_error (Agent *agent, GError *error)
{
  g_clear_error (&agent->local_error);
  agent->local_error = error;
  /* Other agents may still answer pngwd; this one cannot. */
  if (agent->pne != NULL)
    end_provision (agent, g_error_copy (error));
}

/* Puts the terminal back as it was and closes it; @note, if any, tells the
 * person why the prompt went away. */
static void
close_prompt (Agent *agent, const char *note)
{
  if (agent->tty < 0)
    return;
  g_clear_handle_id (&agent->tty_watch, g_source_remove);
  if (agent->echo_off)
    tcsetattr (agent->tty, TCSANOW, &agent->saved);
  agent->echo_off = FALSE;
  if (note != NULL)
    {
      /* The prompt line is unfinished: start a fresh one. */
      tty_write (agent, "\n");
      tty_write (agent, note);
      tty_write (agent, "\n");
    }
  close (agent->tty);
  agent->tty = -1;
  agent->asking = ASKING_NOTHING;
  wipe_line (agent);
  g_clear_pointer (&agent->user_id, g_free);
}

static void
request_free (Request *request)
{
  g_free (request->target);
  g_free (request->reason);
  g_free (request);
}

/* Ends the head request with a D-Bus error and moves on to the next. */
static void
fail_head (Agent *agent, const char *error_name, const char *message)
{
  Request *request = g_queue_pop_head (&agent->requests);

  close_prompt (agent, NULL);
  g_dbus_method_invocation_return_dbus_error (request->invocation, error_name, message);
  request_free (request);
  start_request (agent);
}

static void
answer_head (Agent *agent, const char *user_id, char *password)
{
  Request *request = g_queue_pop_head (&agent->requests);

  /* GDBus copies the password into the reply; those copies are out of
   * reach, ours are wiped here. */
  pngw_agent1_complete_request_credentials (agent->skeleton, request->invocation, user_id,
                                            password);
  explicit_bzero (password, strlen (password));
  close_prompt (agent, NULL);
  request_free (request);
  start_request (agent);
}

/* The first line of @path, without its line ending; wipe it after use. */
static char *
read_password_file (const char *path, GError **error)
{
  g_autofree char *contents = NULL;
  gsize len = 0, line;
  char *password = NULL;

  if (!g_file_get_contents (path, &contents, &len, error))
    return NULL;
  line = strcspn (contents, "\n");
  if (line > 0 && contents[line - 1] == '\r')
    line--;
  if (memchr (contents, '\0', line) != NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "%s: the password holds a NUL byte", path);
  else if (line == 0)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "%s: the first line (the password) is empty", path);
  else if (!g_utf8_validate (contents, (gssize) line, NULL))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "%s: the password is not valid UTF-8", path);
  else
    password = g_strndup (contents, line);
  explicit_bzero (contents, len);
  return password;
}

static void
answer_from_file (Agent *agent, const char *user_id)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *password = read_password_file (agent->ctl->password_file, &error);

  if (password == NULL)
    {
      g_autofree char *message = g_strdup_printf ("cannot read the password: %s",
                                                  error->message);

      /* Failed rather than Canceled: pngwd may ask another agent. */
      fail_head (agent, "org.cpns.Error.Failed", message);
      set_local_error (agent, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, message));
      return;
    }
  answer_head (agent, user_id, password);
}

static void
prompt (Agent *agent, Asking asking)
{
  struct termios quiet;

  agent->asking = asking;
  wipe_line (agent);
  if (asking == ASKING_PASSWORD && !agent->echo_off &&
      tcgetattr (agent->tty, &agent->saved) == 0)
    {
      quiet = agent->saved;
      quiet.c_lflag &= ~(tcflag_t) ECHO;
      quiet.c_lflag |= ECHONL;
      /* Echo off (dropping typeahead) before the prompt shows. */
      agent->echo_off = tcsetattr (agent->tty, TCSAFLUSH, &quiet) == 0;
    }
  tty_write (agent, asking == ASKING_USER ? "User ID: " : "Password: ");
}

/* A whole line was typed: the User ID or the password. */
static void
take_line (Agent *agent)
{
  g_autofree char *user_id = NULL;
  gsize len = strcspn (agent->line, "\r\n");

  agent->line[len] = '\0';
  if (len == 0 || !g_utf8_validate (agent->line, (gssize) len, NULL))
    {
      tty_write (agent, len == 0 ? "An empty answer is not taken (Ctrl+D declines).\n" :
                 "That is not valid UTF-8.\n");
      prompt (agent, agent->asking);
    }
  else if (agent->asking == ASKING_USER && agent->ctl->password_file != NULL)
    {
      user_id = g_strdup (agent->line);
      answer_from_file (agent, user_id);
    }
  else if (agent->asking == ASKING_USER)
    {
      agent->user_id = g_strdup (agent->line);
      prompt (agent, ASKING_PASSWORD);
    }
  else
    {
      /* Closing the prompt frees agent->user_id and wipes the line. */
      user_id = g_steal_pointer (&agent->user_id);
      answer_head (agent, user_id, agent->line);
    }
}

static gboolean
on_tty (int fd, GIOCondition condition, gpointer user_data)
{
  Agent *agent = user_data;
  guint watch = agent->tty_watch;
  gssize n;

  n = read (fd, agent->line + agent->line_len, sizeof agent->line - 1 - agent->line_len);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    {
      /* Ctrl+D, or the terminal is gone: the person declines. */
      tty_write (agent, "\n");
      fail_head (agent, "org.cpns.Error.Canceled", "the person declined to answer");
      end_provision (agent, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                 "declined"));
    }
  else
    {
      agent->line_len += (gsize) n;
      agent->line[agent->line_len] = '\0';
      if (memchr (agent->line, '\n', agent->line_len) != NULL)
        take_line (agent);
      else if (agent->line_len == sizeof agent->line - 1)
        {
          /* Drop the rest of the line too, not just what fitted. */
          tcflush (agent->tty, TCIFLUSH);
          tty_write (agent, "\nThat is too long.\n");
          prompt (agent, agent->asking);
        }
    }
  /* The prompt may be over, and the next request have its own watch. */
  return agent->tty_watch == watch ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Answers the head request, if any and not answered yet. */
static void
start_request (Agent *agent)
{
  Request *request = g_queue_peek_head (&agent->requests);
  const Ctl *ctl = agent->ctl;
  g_autoptr(GString) text = NULL;

  if (request == NULL || agent->tty >= 0)
    return;
  if (ctl->user != NULL && ctl->password_file != NULL)
    {
      answer_from_file (agent, ctl->user);
      return;
    }
  agent->tty = open ("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (agent->tty < 0)
    {
      const char *message = "no terminal to ask for User ID and password on; "
                            "use --user and --password-file";

      fail_head (agent, "org.cpns.Error.Failed", message);
      set_local_error (agent, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, message));
      return;
    }
  text = g_string_new ("\npngwd asks for credentials");
  if (*request->reason != '\0')
    {
      g_string_append (text, ": ");
      ctl_text_string (text, request->reason, FALSE);
    }
  g_string_append (text, "\n");
  tty_write (agent, text->str);
  if (ctl->user != NULL)
    {
      g_string_printf (text, "User ID: %s\n", ctl->user);
      tty_write (agent, text->str);
      agent->user_id = g_strdup (ctl->user);
      prompt (agent, ASKING_PASSWORD);
    }
  else
    prompt (agent, ASKING_USER);
  agent->tty_watch = g_unix_fd_add (agent->tty, G_IO_IN | G_IO_HUP | G_IO_ERR, on_tty, agent);
}

/* Only pngwd itself may ask: another process on the bus could otherwise
 * pose as it and collect a password. */
static gboolean
from_pngwd (Agent *agent, GDBusMethodInvocation *invocation)
{
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (agent->ctl->gateway));

  if (owner != NULL && g_strcmp0 (sender, owner) == 0)
    return TRUE;
  g_dbus_method_invocation_return_dbus_error (invocation, "org.cpns.Error.PermissionDenied",
                                              "only pngwd may call this agent");
  return FALSE;
}

static gboolean
handle_request_credentials (PngwAgent1 *skeleton, GDBusMethodInvocation *invocation,
                            const char *target, const char *reason, gpointer user_data)
{
  Agent *agent = user_data;
  Request *request;

  if (!from_pngwd (agent, invocation))
    return TRUE;
  request = g_new0 (Request, 1);
  request->invocation = invocation;
  request->target = g_strdup (target);
  request->reason = g_strdup (reason);
  g_queue_push_tail (&agent->requests, request);
  start_request (agent);
  return TRUE;
}

/* Withdraws the requests for @target (all when NULL). */
static void
withdraw (Agent *agent, const char *target, const char *note)
{
  GList *l = agent->requests.head;

  while (l != NULL)
    {
      GList *next = l->next;
      Request *request = l->data;

      if (target == NULL || strcmp (request->target, target) == 0)
        {
          if (l == agent->requests.head)
            close_prompt (agent, note);
          g_dbus_method_invocation_return_dbus_error (request->invocation,
                                                      "org.cpns.Error.Canceled",
                                                      "the request was withdrawn");
          g_queue_delete_link (&agent->requests, l);
          request_free (request);
        }
      l = next;
    }
  start_request (agent);
}

static gboolean
handle_cancel (PngwAgent1 *skeleton, GDBusMethodInvocation *invocation, const char *target,
               gpointer user_data)
{
  Agent *agent = user_data;

  if (!from_pngwd (agent, invocation))
    return TRUE;
  withdraw (agent, target, "pngwd no longer needs this answer.");
  pngw_agent1_complete_cancel (skeleton, invocation);
  if (agent->pne != NULL &&
      g_strcmp0 (target, g_dbus_proxy_get_object_path (agent->pne)) == 0)
    end_provision (agent, g_error_new_literal (
                     G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                     "pngwd stopped waiting for this agent's answer; another agent may "
                     "still give it (see 'pngwctl pne show')"));
  return TRUE;
}

static gboolean
handle_release (PngwAgent1 *skeleton, GDBusMethodInvocation *invocation, gpointer user_data)
{
  Agent *agent = user_data;

  if (!from_pngwd (agent, invocation))
    return TRUE;
  agent->released = TRUE;
  withdraw (agent, NULL, "pngwd released this agent.");
  pngw_agent1_complete_release (skeleton, invocation);
  if (agent->pne != NULL)
    end_provision (agent, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                               "pngwd released this agent; it is stopping"));
  /* A standing agent has nothing left to do; a call waits for its reply. */
  if (agent->cancellable == NULL)
    g_main_loop_quit (agent->loop);
  return TRUE;
}

static void
agent_init (Agent *agent, Ctl *ctl)
{
  memset (agent, 0, sizeof *agent);
  agent->ctl = ctl;
  agent->tty = -1;
  agent->status = CTL_EXIT_OK;
  agent->loop = g_main_loop_new (NULL, FALSE);
  agent->path = g_strdup_printf ("/org/cpns/pngwctl/agent%d", (int) getpid ());
  g_queue_init (&agent->requests);
}

static gboolean
agent_register (Agent *agent, GError **error)
{
  agent->skeleton = pngw_agent1_skeleton_new ();
  g_signal_connect (agent->skeleton, "handle-request-credentials",
                    G_CALLBACK (handle_request_credentials), agent);
  g_signal_connect (agent->skeleton, "handle-cancel", G_CALLBACK (handle_cancel), agent);
  g_signal_connect (agent->skeleton, "handle-release", G_CALLBACK (handle_release), agent);
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (agent->skeleton),
                                         agent->ctl->bus, agent->path, error))
    return FALSE;
  /* Not prefixed: the error's D-Bus name decides the exit status. */
  if (!pngw_gateway1_call_register_agent_sync (agent->ctl->gateway, agent->path, NULL, error))
    return FALSE;
  agent->registered = TRUE;
  return TRUE;
}

static void
agent_clear (Agent *agent)
{
  withdraw (agent, NULL, NULL);
  if (agent->skeleton != NULL)
    {
      /* pngwd forgets a released agent, or one whose bus connection ends. */
      if (agent->registered && !agent->released &&
          !g_dbus_connection_is_closed (agent->ctl->bus))
        pngw_gateway1_call_unregister_agent_sync (agent->ctl->gateway, agent->path, NULL,
                                                  NULL);
      g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (agent->skeleton));
      g_clear_object (&agent->skeleton);
    }
  g_clear_error (&agent->local_error);
  g_clear_error (&agent->call_error);
  g_clear_error (&agent->outcome);
  g_clear_object (&agent->cancellable);
  g_clear_pointer (&agent->loop, g_main_loop_unref);
  g_clear_pointer (&agent->path, g_free);
}

static gboolean
on_interrupt (gpointer user_data)
{
  Agent *agent = user_data;
  gboolean asking = !g_queue_is_empty (&agent->requests);

  withdraw (agent, NULL, asking ? "Canceled." : NULL);
  if (agent->pne != NULL)
    {
      end_provision (agent, g_error_new_literal (
                       G_IO_ERROR, G_IO_ERROR_CANCELLED,
                       asking ? "canceled" :
                       "canceled; pngwd may still finish provisioning "
                       "(see 'pngwctl pne show' or 'pngwctl monitor')"));
      /* A call still out is called off; its reply ends the loop. */
      if (agent->call_pending)
        g_cancellable_cancel (agent->cancellable);
    }
  else if (agent->cancellable != NULL)
    {
      /* Without a question pending pngwd is at work, and goes on. */
      set_local_error (agent, g_error_new_literal (
                         G_IO_ERROR, G_IO_ERROR_CANCELLED,
                         asking ? "canceled" :
                         "canceled; pngwd may still finish what it started "
                         "(see 'pngwctl status' or 'pngwctl monitor')"));
      /* The reply (an error now) ends the loop. */
      g_cancellable_cancel (agent->cancellable);
    }
  else
    g_main_loop_quit (agent->loop);
  return G_SOURCE_CONTINUE;
}

static void
on_name_owner (GObject *proxy, GParamSpec *pspec, gpointer user_data)
{
  Agent *agent = user_data;
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));

  if (owner == NULL && agent->pne != NULL)
    end_provision (agent, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                               "pngwd stopped"));
  /* A call learns this from its NoReply error; a standing agent here. */
  else if (owner == NULL && agent->cancellable == NULL)
    {
      g_printerr ("pngwctl: pngwd stopped\n");
      agent->released = TRUE;
      agent->status = CTL_EXIT_NOT_RUNNING;
      g_main_loop_quit (agent->loop);
    }
}

static void
on_closed (GDBusConnection *bus, gboolean remote_peer_vanished, GError *error,
           gpointer user_data)
{
  Agent *agent = user_data;

  if (agent->pne != NULL)
    {
      end_provision (agent, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                                 "the connection to the system bus was lost"));
      return;
    }
  /* A call learns this from its error; an agent may have stopped already. */
  if (agent->cancellable != NULL || !g_main_loop_is_running (agent->loop))
    return;
  g_printerr ("pngwctl: the connection to the system bus was lost\n");
  agent->status = CTL_EXIT_NOT_RUNNING;
  g_main_loop_quit (agent->loop);
}

static void
run_loop (Agent *agent)
{
  guint sigint = g_unix_signal_add (SIGINT, on_interrupt, agent);
  guint sigterm = g_unix_signal_add (SIGTERM, on_interrupt, agent);
  gulong owner_id = g_signal_connect (agent->ctl->gateway, "notify::g-name-owner",
                                      G_CALLBACK (on_name_owner), agent);
  gulong closed_id = g_signal_connect (agent->ctl->bus, "closed", G_CALLBACK (on_closed),
                                       agent);

  g_main_loop_run (agent->loop);
  g_signal_handler_disconnect (agent->ctl->bus, closed_id);
  g_signal_handler_disconnect (agent->ctl->gateway, owner_id);
  g_source_remove (sigterm);
  g_source_remove (sigint);
}

static void
on_call_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Agent *agent = user_data;
  GVariant *reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result,
                                              &agent->call_error);

  /* The methods called here return nothing. */
  g_clear_pointer (&reply, g_variant_unref);
  g_main_loop_quit (agent->loop);
}

gboolean
ctl_call_with_agent (Ctl *ctl, GDBusProxy *proxy, const char *method, GError **error)
{
  Agent agent;
  gboolean ok;

  agent_init (&agent, ctl);
  if (!agent_register (&agent, error))
    {
      agent_clear (&agent);
      return FALSE;
    }
  agent.cancellable = g_cancellable_new ();
  g_dbus_proxy_call (proxy, method, NULL, G_DBUS_CALL_FLAGS_NONE, CTL_LONG_TIMEOUT_MS,
                     agent.cancellable, on_call_done, &agent);
  /* Only the call's reply ends the loop (Ctrl+C cancels the call), so
   * that its callback never outlives @agent. */
  run_loop (&agent);
  ok = agent.call_error == NULL;
  if (!ok)
    {
      /* What went wrong here says more than pngwd's "no agent answered". */
      if (agent.local_error != NULL)
        g_propagate_error (error, g_steal_pointer (&agent.local_error));
      else
        g_propagate_error (error, g_steal_pointer (&agent.call_error));
    }
  agent_clear (&agent);
  return ok;
}

/* ---- pne provision ---- */

/* The first outcome counts.  The loop ends here unless the Provision call
 * is still out: its reply ends it then (so that its callback never
 * outlives @agent). */
static void
end_provision (Agent *agent, GError *outcome)
{
  if (agent->pne == NULL || agent->done)
    {
      g_clear_error (&outcome);
      return;
    }
  agent->done = TRUE;
  agent->outcome = outcome;
  if (!agent->call_pending)
    g_main_loop_quit (agent->loop);
}

static char *
cached_string (GDBusProxy *proxy, const char *name)
{
  g_autoptr(GVariant) value = g_dbus_proxy_get_cached_property (proxy, name);

  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    return g_strdup ("");
  return g_variant_dup_string (value, NULL);
}

static GError *
pne_failure (Agent *agent, const char *what)
{
  g_autofree char *last_error = cached_string (agent->pne, "LastError");

  return g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "%s", *last_error != '\0' ?
                      last_error : what);
}

/* State: needs-credentials (being asked) -> provisioning -> ready; or
 * back to needs-credentials (no credentials, or refused), failed or
 * disconnected with LastError saying why. */
static void
on_pne_changed (GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer user_data)
{
  Agent *agent = user_data;
  const char *state = NULL;
  const char *last_error = NULL;
  g_autofree char *cached_state = cached_string (proxy, "State");

  g_variant_lookup (changed, "State", "&s", &state);
  g_variant_lookup (changed, "LastError", "&s", &last_error);
  if (g_strcmp0 (state, "ready") == 0)
    end_provision (agent, NULL);
  else if (g_strcmp0 (state, "failed") == 0)
    end_provision (agent, pne_failure (agent, "provisioning failed"));
  else if (g_strcmp0 (state, "disconnected") == 0)
    end_provision (agent, pne_failure (agent, "the PNE's link went down"));
  else if (g_strcmp0 (state, "needs-credentials") == 0 ||
           (state == NULL && last_error != NULL && *last_error != '\0' &&
            strcmp (cached_state, "needs-credentials") == 0))
    end_provision (agent, pne_failure (agent, "pngwd got no User ID and password"));
}

static void
on_object_removed (GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
  Agent *agent = user_data;

  if (g_strcmp0 (g_dbus_object_get_object_path (object),
                 g_dbus_proxy_get_object_path (agent->pne)) == 0)
    end_provision (agent, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                                               "the PNE went away (forgotten?)"));
}

static void
on_provision_accepted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Agent *agent = user_data;
  GVariant *reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result,
                                              &agent->call_error);

  g_clear_pointer (&reply, g_variant_unref);
  agent->call_pending = FALSE;
  if (agent->call_error != NULL || agent->done)
    g_main_loop_quit (agent->loop);
}

gboolean
ctl_provision_with_agent (Ctl *ctl, GDBusProxy *pne, GError **error)
{
  Agent agent;
  gulong changed_id, removed_id;
  gboolean ok;

  agent_init (&agent, ctl);
  if (!agent_register (&agent, error))
    {
      agent_clear (&agent);
      return FALSE;
    }
  agent.cancellable = g_cancellable_new ();
  agent.pne = pne;
  agent.call_pending = TRUE;
  changed_id = g_signal_connect (pne, "g-properties-changed", G_CALLBACK (on_pne_changed),
                                 &agent);
  removed_id = g_signal_connect (ctl->objects, "object-removed",
                                 G_CALLBACK (on_object_removed), &agent);
  /* pngwd asks this connection's agent first. */
  g_dbus_proxy_call (pne, "Provision", NULL, G_DBUS_CALL_FLAGS_NONE, CTL_LONG_TIMEOUT_MS,
                     agent.cancellable, on_provision_accepted, &agent);
  run_loop (&agent);
  g_signal_handler_disconnect (ctl->objects, removed_id);
  g_signal_handler_disconnect (pne, changed_id);
  ok = agent.call_error == NULL && agent.outcome == NULL && agent.done;
  if (agent.call_error != NULL)
    {
      /* What went wrong here says more than pngwd's own error. */
      if (agent.outcome != NULL)
        g_propagate_error (error, g_steal_pointer (&agent.outcome));
      else
        g_propagate_error (error, g_steal_pointer (&agent.call_error));
    }
  else if (agent.outcome != NULL)
    g_propagate_error (error, g_steal_pointer (&agent.outcome));
  if (!ok && error != NULL && *error == NULL)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "provisioning did not end");
  agent.pne = NULL;
  agent_clear (&agent);
  return ok;
}

int
ctl_run_agent (Ctl *ctl)
{
  g_autoptr(GError) error = NULL;
  Agent agent;
  int status;

  agent_init (&agent, ctl);
  if (!agent_register (&agent, &error))
    {
      agent_clear (&agent);
      return ctl_report (NULL, error);
    }
  g_printerr ("Agent %s registered; waiting for pngwd to ask (Ctrl+C stops).\n", agent.path);
  run_loop (&agent);
  if (agent.released && agent.status == CTL_EXIT_OK)
    g_printerr ("pngwd released the agent.\n");
  status = agent.status;
  agent_clear (&agent);
  return status;
}
