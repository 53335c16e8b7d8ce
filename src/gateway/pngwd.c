/* SPDX-License-Identifier: GPL-3.0-or-later */

/* pngwd: the PN Gateway daemon.  Until the D-Bus API and agents arrive,
 * enrolment can be started from the command line. */

#include <gio/gio.h>
#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cpns-crypto.h"
#include "cpns-password.h"
#include "gw-daemon.h"
#include "gw-dbus.h"
#include "gw-error.h"

typedef struct {
  GMainLoop *loop;
  int        status;
} Main;

static gboolean
on_signal (gpointer user_data)
{
  Main *m = user_data;

  g_message ("shutting down");
  g_main_loop_quit (m->loop);
  return G_SOURCE_CONTINUE;
}

/* The first line of @path, or asked on the terminal without echo. */
static CpnsSecret *
read_password (const char *path, GError **error)
{
  if (path != NULL)
    return cpns_password_from_file (path, error);
  return cpns_password_from_terminal ("Password: ", FALSE, error);
}

static void
on_name_lost (GwDbus *dbus, gpointer user_data)
{
  Main *m = user_data;

  g_printerr ("pngwd: another pngwd owns %s on the bus\n", GW_DBUS_NAME);
  m->status = 1;
  g_main_loop_quit (m->loop);
}

static void
on_enrolled (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!gw_daemon_enroll_finish (GW_DAEMON (source), result, &error))
    g_warning ("enrolment failed: %s", error->message);
}

int
main (int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  g_autofree char *enroll_user = NULL;
  g_autofree char *password_file = NULL;
  gboolean version = FALSE;
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      "Configuration file (default " GW_CONFIG_DEFAULT_PATH ")", "FILE" },
    { "enroll", 0, 0, G_OPTION_ARG_STRING, &enroll_user,
      "Enrol the gateway for this User ID once started", "USER" },
    { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file,
      "Read the password for --enroll from the first line of FILE", "FILE" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- PN Gateway daemon");
  g_autoptr(GError) error = NULL;
  g_autoptr(GwConfig) config = NULL;
  g_autoptr(GwDaemon) daemon = NULL;
  g_autoptr(GwDbus) dbus = NULL;
  g_autoptr(CpnsSecret) password = NULL;
  Main m = { 0 };

  setlocale (LC_ALL, "");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("pngwd: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("pngwd %s\n", PNGW_VERSION);
      return 0;
    }
  if (argc > 1)
    {
      g_printerr ("pngwd: unexpected argument '%s'\n", argv[1]);
      return 2;
    }
  if (password_file != NULL && enroll_user == NULL)
    {
      g_printerr ("pngwd: --password-file needs --enroll\n");
      return 2;
    }

  config = gw_config_load (config_path != NULL ? config_path : GW_CONFIG_DEFAULT_PATH,
                           config_path == NULL, &error);
  if (config == NULL)
    {
      g_printerr ("pngwd: %s\n", error->message);
      return 1;
    }
  if (enroll_user != NULL)
    {
      password = read_password (password_file, &error);
      if (password == NULL)
        {
          g_printerr ("pngwd: %s\n", error->message);
          return 1;
        }
    }

  daemon = gw_daemon_new (g_steal_pointer (&config), &error);
  if (daemon == NULL || !gw_daemon_start (daemon, &error))
    {
      g_printerr ("pngwd: %s\n", error->message);
      return 1;
    }
  if (enroll_user != NULL)
    {
      gw_daemon_enroll_async (daemon, enroll_user, password->data, password->len, NULL,
                              on_enrolled, NULL);
      g_clear_pointer (&password, cpns_secret_free);
    }

  m.loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, on_signal, &m);
  g_unix_signal_add (SIGINT, on_signal, &m);
  dbus = gw_dbus_new (daemon);
  g_signal_connect (dbus, "name-lost", G_CALLBACK (on_name_lost), &m);
  gw_dbus_start (dbus, G_BUS_TYPE_SYSTEM);
  g_main_loop_run (m.loop);

  gw_dbus_stop (dbus);
  gw_daemon_stop (daemon);
  g_clear_object (&daemon);
  g_main_loop_unref (m.loop);
  return m.status;
}
