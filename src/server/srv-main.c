/* SPDX-License-Identifier: GPL-3.0-or-later */

/* cpns-server: the reference CPNS Server.  Reads its configuration, opens
 * the database and the server secret, and serves the HTTP binding until
 * SIGTERM or SIGINT. */

#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "srv-config.h"
#include "srv-core.h"
#include "srv-decoy.h"
#include "srv-files.h"
#include "srv-http.h"
#include "srv-store.h"

/* Exit statuses, as documented in cpns-server(8). */
enum {
  EXIT_OK = 0,
  EXIT_FAILURE_RUNTIME = 1,  /* database, certificate, sockets */
  EXIT_USAGE = 2,            /* command line or configuration */
};

static gboolean
on_signal (gpointer data)
{
  GMainLoop *loop = data;

  g_message ("stopping on a signal");
  g_main_loop_quit (loop);
  return G_SOURCE_CONTINUE;
}

/* The command line over the configuration file. */
static gboolean
load_config (int *argc, char ***argv, SrvConfig *config, GError **error)
{
  g_autofree char *config_path = NULL;
  g_auto(GStrv) listen = NULL;
  g_autofree char *database = NULL;
  g_autofree char *certificate = NULL;
  g_autofree char *private_key = NULL;
  g_autofree char *entity_id = NULL;
  g_autofree char *lifetime = NULL;
  gboolean insecure = FALSE;
  gboolean version = FALSE;
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      "Configuration file (default " SRV_CONFIG_DEFAULT_PATH ")", "FILE" },
    { "listen", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &listen,
      "Listen on ADDR:PORT or [IPV6-ADDR]:PORT (may repeat; port 0 picks one)",
      "ADDR:PORT" },
    { "database", 'd', 0, G_OPTION_ARG_FILENAME, &database, "SQLite database", "PATH" },
    { "certificate", 0, 0, G_OPTION_ARG_FILENAME, &certificate,
      "TLS certificate chain (PEM)", "FILE" },
    { "private-key", 0, 0, G_OPTION_ARG_FILENAME, &private_key,
      "TLS private key (PEM)", "FILE" },
    { "entity-id", 0, 0, G_OPTION_ARG_STRING, &entity_id,
      "The server's Entity ID (default cpns-server)", "ID" },
    { "insecure-http", 0, 0, G_OPTION_ARG_NONE, &insecure,
      "Serve plain HTTP without TLS (debugging only)", NULL },
    { "session-lifetime", 0, 0, G_OPTION_ARG_STRING, &lifetime,
      "Seconds a secure session lasts (default 3600)", "SECONDS" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);

  g_option_context_set_summary (context, "The reference CPNS Server: user "
                                "authentication, EUKey delivery and secure sessions "
                                "over HTTPS.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  if (version)
    {
      printf ("cpns-server %s\n", PACKAGE_VERSION);
      exit (EXIT_OK);
    }
  if (*argc > 1)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "unexpected argument '%s'", (*argv)[1]);
      return FALSE;
    }
  if (!srv_config_load_file (config, config_path != NULL ? config_path :
                             SRV_CONFIG_DEFAULT_PATH, config_path != NULL, error))
    return FALSE;
  if ((listen != NULL &&
       !srv_config_set_listen (config, (const char *const *) listen, "--listen", error)) ||
      (database != NULL &&
       !srv_config_set (config, "server", "database", database, "--database", error)) ||
      (certificate != NULL &&
       !srv_config_set (config, "server", "certificate", certificate, "--certificate",
                        error)) ||
      (private_key != NULL &&
       !srv_config_set (config, "server", "private-key", private_key, "--private-key",
                        error)) ||
      (entity_id != NULL &&
       !srv_config_set (config, "server", "entity-id", entity_id, "--entity-id", error)) ||
      (lifetime != NULL &&
       !srv_config_set (config, "sessions", "session-lifetime", lifetime,
                        "--session-lifetime", error)))
    return FALSE;
  if (insecure)
    config->insecure_http = TRUE;
  return srv_config_check (config, error);
}

static int
serve (SrvConfig *config)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) store = NULL;
  g_autoptr(CpnsSecret) secret = NULL;
  g_autoptr(SrvCore) core = NULL;
  g_autoptr(SrvHttp) http = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autofree char *secret_path = g_strconcat (config->database, ".secret", NULL);
  g_auto(GStrv) urls = NULL;

  store = srv_store_open (config->database, &error);
  secret = store != NULL ? srv_files_load_secret (secret_path, SRV_DECOY_SECRET_LEN, &error)
                         : NULL;
  if (secret == NULL)
    {
      g_printerr ("cpns-server: %s\n", error->message);
      return EXIT_FAILURE_RUNTIME;
    }
  core = srv_core_new (store, config, secret);
  http = srv_http_new (core, config, &error);
  if (http == NULL || !srv_http_listen (http, &error))
    {
      g_printerr ("cpns-server: %s\n", error->message);
      return EXIT_FAILURE_RUNTIME;
    }
  if (config->insecure_http)
    g_warning ("INSECURE: serving plain HTTP without TLS. Passwords stay safe (SRP), "
               "but anyone on the path sees and may alter the traffic. For debugging "
               "only; never in production.");
  g_message ("entity '%s', database %s (schema %u), sessions last %u s%s%s",
             config->entity_id, config->database, srv_store_get_version (store),
             config->session_lifetime,
             config->base_path[0] != '\0' ? ", endpoints under " : "", config->base_path);

  g_unix_signal_add (SIGTERM, on_signal, loop);
  g_unix_signal_add (SIGINT, on_signal, loop);
  /* The tests and the service manager wait for these lines. */
  urls = srv_http_get_urls (http);
  for (guint i = 0; urls[i] != NULL; i++)
    printf ("listening on %s\n", urls[i]);
  fflush (stdout);

  g_main_loop_run (loop);

  srv_core_shutdown (core);
  srv_http_stop (http);
  g_message ("stopped");
  return EXIT_OK;
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvConfig) config = srv_config_new ();

  setlocale (LC_ALL, "");
  /* Everything we create holds or guards keys. */
  umask (077);
  if (!load_config (&argc, &argv, config, &error))
    {
      g_printerr ("cpns-server: %s\n", error->message);
      return EXIT_USAGE;
    }
  return serve (config);
}
