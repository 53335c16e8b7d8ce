/* SPDX-License-Identifier: GPL-3.0-or-later */

/* SrvConfig: defaults, the file, the command line, and errors that name
 * the file, the group, the key and the bad value. */

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "srv-config.h"

static char *
write_config (const char *text)
{
  g_autoptr(GError) error = NULL;
  char *path = NULL;
  int fd = g_file_open_tmp ("test-config-XXXXXX.conf", &path, &error);

  g_assert_no_error (error);
  close (fd);
  g_assert_true (g_file_set_contents (path, text, -1, &error));
  return path;
}

static void
assert_same (const SrvConfig *a, const SrvConfig *b)
{
  g_assert_true (g_strv_equal ((const char *const *) a->listen,
                               (const char *const *) b->listen));
  g_assert_cmpstr (a->certificate, ==, b->certificate);
  g_assert_cmpstr (a->private_key, ==, b->private_key);
  g_assert_cmpint (a->insecure_http, ==, b->insecure_http);
  g_assert_cmpstr (a->entity_id, ==, b->entity_id);
  g_assert_cmpstr (a->base_path, ==, b->base_path);
  g_assert_cmpstr (a->database, ==, b->database);
  g_assert_cmpuint (a->session_lifetime, ==, b->session_lifetime);
  g_assert_cmpuint (a->poll_timeout, ==, b->poll_timeout);
  g_assert_cmpuint (a->max_sessions, ==, b->max_sessions);
  g_assert_cmpuint (a->default_iterations, ==, b->default_iterations);
  g_assert_cmpuint (a->user_failures, ==, b->user_failures);
  g_assert_cmpuint (a->address_failures, ==, b->address_failures);
  g_assert_cmpuint (a->failure_window, ==, b->failure_window);
}

static void
test_defaults (void)
{
  g_autoptr(SrvConfig) c = srv_config_new ();
  g_autoptr(GError) error = NULL;

  g_assert_cmpstr (c->entity_id, ==, "cpns-server");
  g_assert_cmpuint (c->session_lifetime, ==, 3600);
  g_assert_false (c->insecure_http);
  g_assert_true (srv_config_check (c, &error));
  /* A missing default file is no error; a named one is. */
  g_assert_true (srv_config_load_file (c, "/nonexistent/cpns-server.conf", FALSE, &error));
  g_assert_false (srv_config_load_file (c, "/nonexistent/cpns-server.conf", TRUE, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_nonnull (strstr (error->message, "/nonexistent/cpns-server.conf"));
}

/* data/cpns-server.conf documents the defaults: commented out it changes
 * nothing, and uncommented it says the same as the code. */
static void
test_shipped_file (void)
{
  g_autofree char *shipped = g_test_build_filename (G_TEST_DIST, "..", "..", "data",
                                                    "cpns-server.conf", NULL);
  g_autofree char *text = NULL;
  g_autoptr(GString) uncommented = g_string_new (NULL);
  g_autoptr(GRegex) key_line = g_regex_new ("^#([a-z-]+=)", G_REGEX_MULTILINE, 0, NULL);
  g_autofree char *path = NULL;
  g_autoptr(SrvConfig) defaults = srv_config_new ();
  g_autoptr(SrvConfig) c = srv_config_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *replaced = NULL;

  g_assert_true (srv_config_load_file (c, shipped, TRUE, &error));
  g_assert_no_error (error);
  assert_same (c, defaults);

  g_assert_true (g_file_get_contents (shipped, &text, NULL, NULL));
  replaced = g_regex_replace (key_line, text, -1, 0, "\\1", 0, NULL);
  g_assert_cmpstr (replaced, !=, text);
  path = write_config (replaced);
  g_assert_true (srv_config_load_file (c, path, TRUE, &error));
  g_assert_no_error (error);
  assert_same (c, defaults);
  g_unlink (path);
}

static void
test_file_values (void)
{
  g_autofree char *path = write_config (
    "[server]\n"
    "listen=127.0.0.1:0;[::1]:8443\n"
    "entity-id=srv-9\n"
    "base-path=/cpns/v1/\n"
    "insecure-http=yes\n"
    "database=/tmp/x.db\n"
    "[sessions]\n"
    "session-lifetime=30\n"
    "[enrolment]\n"
    "default-iterations=1000\n");
  g_autoptr(SrvConfig) c = srv_config_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (srv_config_load_file (c, path, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (c->listen), ==, 2);
  g_assert_cmpstr (c->listen[1], ==, "[::1]:8443");
  g_assert_cmpstr (c->entity_id, ==, "srv-9");
  g_assert_cmpstr (c->base_path, ==, "/cpns/v1");
  g_assert_true (c->insecure_http);
  g_assert_cmpuint (c->session_lifetime, ==, 30);
  g_assert_cmpuint (c->default_iterations, ==, 1000);
  g_unlink (path);
}

typedef struct {
  const char *text;
  const char *expect[4];   /* substrings of the message */
} BadCase;

static void
test_file_errors (void)
{
  static const BadCase cases[] = {
    { "[sessions]\nsession-lifetime=soon\n", { "[sessions] session-lifetime", "'soon'", "1 to" } },
    { "[sessions]\nsession-lifetime=0\n", { "[sessions] session-lifetime", "'0'" } },
    { "[server]\ninsecure-http=maybe\n", { "[server] insecure-http", "'maybe'", "true or false" } },
    { "[server]\nlisten=localhost:80\n", { "[server] listen", "'localhost:80'", "numeric" } },
    { "[server]\nlisten=127.0.0.1:99999\n", { "[server] listen", "'127.0.0.1:99999'", "port" } },
    { "[server]\nlisten=::1:80\n", { "[server] listen", "'::1:80'" } },
    { "[server]\nentity-id=bad id!\n", { "[server] entity-id", "'bad id!'", "Entity ID" } },
    { "[server]\nentity-id=@pan\n", { "[server] entity-id", "'@pan'", "reserved" } },
    { "[server]\nbase-path=cpns\n", { "[server] base-path", "'cpns'" } },
    { "[server]\ndatabase=\n", { "[server] database", "''" } },
    { "[server]\nlisten-on=1.2.3.4:5\n", { "[server] listen-on", "unknown key" } },
    { "[serve]\nlisten=1.2.3.4:5\n", { "unknown group [serve]" } },
    { "[enrolment]\ndefault-iterations=10\n", { "[enrolment] default-iterations", "'10'", "1000" } },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = write_config (cases[i].text);
      g_autoptr(SrvConfig) c = srv_config_new ();
      g_autoptr(GError) error = NULL;

      g_test_message ("case %u: %s", i, cases[i].text);
      g_assert_false (srv_config_load_file (c, path, TRUE, &error));
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, path));
      for (guint k = 0; k < G_N_ELEMENTS (cases[i].expect) && cases[i].expect[k]; k++)
        if (strstr (error->message, cases[i].expect[k]) == NULL)
          g_error ("'%s' lacks '%s'", error->message, cases[i].expect[k]);
      g_unlink (path);
    }
}

static void
test_command_line (void)
{
  g_autoptr(SrvConfig) c = srv_config_new ();
  g_autoptr(GError) error = NULL;
  const char *listen[] = { "[::1]:0", "127.0.0.1:0", NULL };
  const char *bad[] = { "127.0.0.1", NULL };

  g_assert_true (srv_config_set (c, "sessions", "session-lifetime", "5",
                                 "--session-lifetime", &error));
  g_assert_cmpuint (c->session_lifetime, ==, 5);
  g_assert_false (srv_config_set (c, "sessions", "session-lifetime", "-5",
                                  "--session-lifetime", &error));
  g_assert_nonnull (strstr (error->message, "--session-lifetime: bad value '-5'"));
  g_clear_error (&error);
  g_assert_true (srv_config_set_listen (c, listen, "--listen", &error));
  g_assert_cmpstr (c->listen[0], ==, "[::1]:0");
  g_assert_false (srv_config_set_listen (c, bad, "--listen", &error));
  g_assert_nonnull (strstr (error->message, "--listen: bad value '127.0.0.1'"));
  g_clear_error (&error);

  g_assert_true (srv_config_set (c, "server", "certificate", "", "--certificate", &error));
  g_assert_false (srv_config_check (c, &error));
  g_assert_nonnull (strstr (error->message, "insecure-http"));
  g_clear_error (&error);
  c->insecure_http = TRUE;
  g_assert_true (srv_config_check (c, &error));
}

static void
test_parse_listen (void)
{
  static const struct {
    const char *text;
    const char *address;
    guint16     port;
  } good[] = {
    { "127.0.0.1:8443", "127.0.0.1", 8443 },
    { "0.0.0.0:0", "0.0.0.0", 0 },
    { "[::]:443", "::", 443 },
    { "[fe80::1]:65535", "fe80::1", 65535 },
  };
  static const char *const bad[] = {
    "", ":80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:65536", "[::1]",
    "[::1]80", "::1:80", "[127.0.0.1]:80", "host.example:80", "1.2.3:80",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocketAddress) a = srv_config_parse_listen (good[i].text, &error);
      g_autofree char *s = NULL;

      g_assert_no_error (error);
      s = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (a)));
      g_assert_cmpstr (s, ==, good[i].address);
      g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (a)), ==,
                        good[i].port);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocketAddress) a = srv_config_parse_listen (bad[i], &error);

      if (a != NULL)
        g_error ("'%s' was accepted", bad[i]);
      g_assert_nonnull (error);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/shipped-file", test_shipped_file);
  g_test_add_func ("/config/file-values", test_file_values);
  g_test_add_func ("/config/file-errors", test_file_errors);
  g_test_add_func ("/config/command-line", test_command_line);
  g_test_add_func ("/config/parse-listen", test_parse_listen);
  return g_test_run ();
}
