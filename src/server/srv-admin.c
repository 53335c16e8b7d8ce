/* SPDX-License-Identifier: GPL-3.0-or-later */

/* cpns-admin: users, manifests and entities in the CPNS Server's database.
 * WAL mode lets it work while the server runs; the server notices revoked
 * and replaced keys at the next request of the session concerned. */

#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cpns-message.h"
#include "cpns-srp.h"
#include "srv-config.h"
#include "srv-hex.h"
#include "srv-json.h"
#include "srv-manifest.h"
#include "cpns-password.h"
#include "srv-store.h"

/* Exit statuses, as documented in cpns-admin(8). */
enum {
  EXIT_OK = 0,
  EXIT_ERROR = 1,
  EXIT_USAGE = 2,
};

/* Which of the command options a command takes. */
enum {
  TAKES_PASSWORD_FILE = 1 << 0,
  TAKES_ITERATIONS = 1 << 1,
  TAKES_PROVISIONING = 1 << 2,   /* --user and --output */
};

typedef struct {
  char     *database;
  gboolean  json;
  char     *password_file;
  int       iterations;   /* 0: not given */
  char     *user;
  char     *output;
  SrvStore *store;
} Admin;

typedef int (*CommandFunc) (Admin *admin, char **args);

static int
usage_error (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static int
usage_error (const char *fmt, ...)
{
  g_autofree char *text = NULL;
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_printerr ("cpns-admin: %s\nTry 'cpns-admin --help'.\n", text);
  return EXIT_USAGE;
}

static int
failed (const GError *error)
{
  g_printerr ("cpns-admin: %s\n", error->message);
  return EXIT_ERROR;
}

static char *
format_time (gint64 seconds)
{
  g_autoptr(GDateTime) t = NULL;

  if (seconds <= 0)
    return g_strdup ("-");
  t = g_date_time_new_from_unix_utc (seconds);
  return t != NULL ? g_date_time_format (t, "%Y-%m-%dT%H:%M:%SZ") : g_strdup ("-");
}

static char *
bytes_hex (GBytes *bytes)
{
  gsize len;
  const guint8 *data;

  if (bytes == NULL)
    return NULL;
  data = g_bytes_get_data (bytes, &len);
  return srv_hex_encode (data, len);
}

static gboolean
open_store (Admin *a, GError **error)
{
  a->store = srv_store_open (a->database, error);
  return a->store != NULL;
}

static gboolean
check_user_id (const char *user_id, GError **error)
{
  gsize len = strlen (user_id);

  if (len == 0 || len > CPNS_USER_ID_MAX || !g_utf8_validate (user_id, len, NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "'%s' is not a User ID (1-%d bytes of UTF-8)", user_id,
                   CPNS_USER_ID_MAX);
      return FALSE;
    }
  return TRUE;
}

static CpnsSecret *
get_password (Admin *a, const char *user_id, gboolean confirm, GError **error)
{
  g_autofree char *prompt = NULL;

  if (a->password_file != NULL)
    return cpns_password_from_file (a->password_file, error);
  prompt = g_strdup_printf ("New password for %s: ", user_id);
  return cpns_password_from_terminal (prompt, confirm, error);
}

/* Stores a fresh salt and the verifier of @password for @user_id. */
static gboolean
set_verifier (Admin *a, const char *user_id, const CpnsSecret *password, guint iterations,
              gboolean add, GError **error)
{
  guint8 salt[CPNS_SRP_SALT_LEN], verifier[CPNS_SRP_PUBLIC_LEN];
  gsize verifier_len;

  if (!cpns_random (salt, sizeof salt, error) ||
      !cpns_srp_make_verifier (user_id, password->data, password->len, salt, sizeof salt,
                               iterations, verifier, &verifier_len, error))
    return FALSE;
  if (add)
    return srv_store_add_user (a->store, user_id, salt, sizeof salt, iterations, verifier,
                               verifier_len, error);
  return srv_store_set_user_verifier (a->store, user_id, salt, sizeof salt, iterations,
                                      verifier, verifier_len, error);
}

static void
print_result (Admin *a, const char *key, const char *value, const char *text)
{
  if (a->json)
    {
      g_autoptr(GString) out = g_string_new ("{");
      srv_json_string (out, key);
      g_string_append (out, ": ");
      srv_json_string (out, value);
      g_string_append (out, "}");
      printf ("%s\n", out->str);
    }
  else
    printf ("%s\n", text);
}

static int
cmd_user_add (Admin *a, char **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsSecret) password = NULL;
  g_autoptr(SrvUser) existing = NULL;
  g_autofree char *text = NULL;
  guint iterations = a->iterations != 0 ? (guint) a->iterations
                                        : CPNS_SRP_DEFAULT_ITERATIONS;

  if (!check_user_id (args[0], &error) || !open_store (a, &error))
    return failed (error);
  /* Say so before asking for a password. */
  existing = srv_store_get_user (a->store, args[0], NULL);
  if (existing != NULL)
    {
      g_set_error (&error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS,
                   "user '%s' exists already", args[0]);
      return failed (error);
    }
  password = get_password (a, args[0], TRUE, &error);
  if (password == NULL || !set_verifier (a, args[0], password, iterations, TRUE, &error))
    return failed (error);
  text = g_strdup_printf ("added user %s (PBKDF2 iterations %u)", args[0], iterations);
  print_result (a, "added", args[0], text);
  return EXIT_OK;
}

static int
cmd_user_passwd (Admin *a, char **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsSecret) password = NULL;
  g_autoptr(SrvUser) user = NULL;
  g_autofree char *text = NULL;
  guint iterations;

  if (!check_user_id (args[0], &error) || !open_store (a, &error))
    return failed (error);
  user = srv_store_get_user (a->store, args[0], &error);
  if (user == NULL)
    return failed (error);
  iterations = a->iterations != 0 ? (guint) a->iterations : user->iterations;
  password = get_password (a, args[0], TRUE, &error);
  if (password == NULL || !set_verifier (a, args[0], password, iterations, FALSE, &error))
    return failed (error);
  text = g_strdup_printf ("changed the password of %s", args[0]);
  print_result (a, "changed", args[0], text);
  return EXIT_OK;
}

static int
cmd_user_delete (Admin *a, char **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvUser) user = NULL;
  g_autofree char *text = NULL;

  if (!open_store (a, &error))
    return failed (error);
  user = srv_store_get_user (a->store, args[0], &error);
  if (user == NULL || !srv_store_delete_user (a->store, args[0], &error))
    return failed (error);
  text = g_strdup_printf ("deleted user %s; the keys of its %u entit%s are revoked",
                          args[0], user->n_entities, user->n_entities == 1 ? "y" : "ies");
  print_result (a, "deleted", args[0], text);
  return EXIT_OK;
}

static int
cmd_user_list (Admin *a, char **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) users = NULL;
  g_autoptr(GString) out = g_string_new (NULL);

  if (!open_store (a, &error) || (users = srv_store_list_users (a->store, &error)) == NULL)
    return failed (error);
  if (!a->json)
    g_string_append_printf (out, "%-32s %10s %8s  %s\n", "USER", "ITERATIONS", "ENTITIES",
                            "CREATED");
  else
    g_string_append (out, "[");
  for (guint i = 0; i < users->len; i++)
    {
      SrvUser *u = g_ptr_array_index (users, i);
      g_autofree char *created = format_time (u->created);

      if (a->json)
        {
          g_string_append (out, i == 0 ? "\n  {\"user\": " : ",\n  {\"user\": ");
          srv_json_string (out, u->user_id);
          g_string_append_printf (out, ", \"iterations\": %u, \"entities\": %u, "
                                  "\"created\": %" G_GINT64_FORMAT "}", u->iterations,
                                  u->n_entities, u->created);
        }
      else
        g_string_append_printf (out, "%-32s %10u %8u  %s\n", u->user_id, u->iterations,
                                u->n_entities, created);
    }
  if (a->json)
    g_string_append (out, users->len > 0 ? "\n]\n" : "]\n");
  fputs (out->str, stdout);
  return EXIT_OK;
}

static int
cmd_manifest_import (Admin *a, char **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  g_autofree SrvNewPne *pnes = NULL;
  g_autofree char *text = NULL;
  guint failed_at = 0;

  entries = srv_manifest_load (args[0], &error);
  if (entries == NULL || !open_store (a, &error))
    return failed (error);
  pnes = g_new0 (SrvNewPne, entries->len);
  for (guint i = 0; i < entries->len; i++)
    {
      SrvManifestEntry *e = g_ptr_array_index (entries, i);
      pnes[i] = (SrvNewPne) {
        e->entity_id, e->kid, e->kid_len, e->tk->data, e->tk->len,
      };
    }
  if (!srv_store_import_pnes (a->store, pnes, entries->len, &failed_at, &error))
    {
      SrvManifestEntry *e = failed_at < entries->len ?
                            g_ptr_array_index (entries, failed_at) : NULL;
      if (e != NULL)
        g_prefix_error (&error, "%s:%u: ", args[0], e->line);
      g_prefix_error (&error, "nothing imported: ");
      return failed (error);
    }
  text = g_strdup_printf ("imported %u PNE%s from %s", entries->len,
                          entries->len == 1 ? "" : "s", args[0]);
  if (a->json)
    printf ("{\"imported\": %u}\n", entries->len);
  else
    printf ("%s\n", text);
  return EXIT_OK;
}

static const char *
entity_state (const SrvEntity *e)
{
  if (e->eukey_kid != NULL)
    return "enrolled";
  if (e->revoked != 0)
    return "revoked";
  if (e->owner == NULL)
    return "unclaimed";
  return "claimed";
}

static int
cmd_entity_list (Admin *a, char **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GString) out = g_string_new (NULL);

  if (!open_store (a, &error) ||
      (list = srv_store_list_entities (a->store, &error)) == NULL)
    return failed (error);
  if (!a->json)
    g_string_append_printf (out, "%-24s %-8s %-20s %-10s %-32s %-3s %6s\n", "ENTITY",
                            "KIND", "OWNER", "STATE", "EUKEY-ID", "TK", "LOCAL");
  else
    g_string_append (out, "[");
  for (guint i = 0; i < list->len; i++)
    {
      SrvEntity *e = g_ptr_array_index (list, i);
      g_autofree char *kid = bytes_hex (e->eukey_kid);
      g_autofree char *tk_kid = bytes_hex (e->tk_kid);

      if (a->json)
        {
          g_string_append (out, i == 0 ? "\n  {\"entity\": " : ",\n  {\"entity\": ");
          srv_json_string (out, e->entity_id);
          g_string_append (out, ", \"kind\": ");
          srv_json_string (out, srv_entity_kind_to_string (e->kind));
          g_string_append (out, ", \"owner\": ");
          srv_json_string (out, e->owner);
          g_string_append (out, ", \"state\": ");
          srv_json_string (out, entity_state (e));
          g_string_append (out, ", \"eukey_kid\": ");
          srv_json_string (out, kid);
          g_string_append (out, ", \"tk_kid\": ");
          srv_json_string (out, tk_kid);
          g_string_append_printf (out, ", \"local_keys\": %u, \"eukey_created\": %"
                                  G_GINT64_FORMAT ", \"revoked\": %" G_GINT64_FORMAT
                                  ", \"created\": %" G_GINT64_FORMAT "}", e->n_local_keys,
                                  e->eukey_created, e->revoked, e->created);
        }
      else
        g_string_append_printf (out, "%-24s %-8s %-20s %-10s %-32s %-3s %6u\n",
                                e->entity_id, srv_entity_kind_to_string (e->kind),
                                e->owner != NULL ? e->owner : "-", entity_state (e),
                                kid != NULL ? kid : "-", tk_kid != NULL ? "yes" : "no",
                                e->n_local_keys);
    }
  if (a->json)
    g_string_append (out, list->len > 0 ? "\n]\n" : "]\n");
  fputs (out->str, stdout);
  return EXIT_OK;
}

static int
cmd_entity_revoke (Admin *a, char **args)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  if (!open_store (a, &error) || !srv_store_revoke_entity (a->store, args[0], &error))
    return failed (error);
  text = g_strdup_printf ("revoked the keys of %s; its sessions end at their next request",
                          args[0]);
  print_result (a, "revoked", args[0], text);
  return EXIT_OK;
}

/* An operator-provisioned EUKey: stored for @ENTITY and @user, and written
 * as the gateway's credential file (pngwd.conf credential = preconfigured). */
static int
cmd_entity_provision (Admin *a, char **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *kid_hex = NULL;
  g_autofree char *key_hex = NULL;
  g_autofree char *data = NULL;
  g_autofree char *text = NULL;
  guint8 key[32], kid[16];
  gsize len = 0;
  gboolean ok;

  if (a->user == NULL || a->output == NULL)
    return usage_error ("entity provision needs --user USER and --output FILE");
  if (!cpns_entity_id_is_valid (args[0], strlen (args[0])))
    return usage_error ("'%s' is not an Entity ID", args[0]);
  if (strcmp (args[0], CPNS_PAN_GATEWAY_ID) == 0)
    return usage_error ("'%s' is a reserved ID and names no entity", args[0]);
  if (!cpns_random (key, sizeof key, &error) || !cpns_random (kid, sizeof kid, &error) ||
      !open_store (a, &error) ||
      !srv_store_set_eukey (a->store, args[0], a->user, FALSE, kid, sizeof kid, key,
                            sizeof key, &error))
    {
      cpns_wipe (key, sizeof key);
      return failed (error);
    }
  kid_hex = srv_hex_encode (kid, sizeof kid);
  key_hex = srv_hex_encode (key, sizeof key);
  cpns_wipe (key, sizeof key);
  g_key_file_set_string (kf, "credential", "entity-id", args[0]);
  g_key_file_set_string (kf, "credential", "user-id", a->user);
  g_key_file_set_string (kf, "credential", "key-id", kid_hex);
  g_key_file_set_string (kf, "credential", "key", key_hex);
  data = g_key_file_to_data (kf, &len, NULL);
  ok = g_file_set_contents_full (a->output, data, len, G_FILE_SET_CONTENTS_CONSISTENT,
                                 0600, &error);
  cpns_wipe (data, len);
  cpns_wipe (key_hex, strlen (key_hex));
  if (!ok)
    return failed (error);
  text = g_strdup_printf ("provisioned %s for %s; credential written to %s (mode 0600)",
                          args[0], a->user, a->output);
  print_result (a, "provisioned", args[0], text);
  return EXIT_OK;
}

static const struct {
  const char *group;
  const char *verb;
  const char *arg;      /* NULL: takes no argument */
  guint       options;
  CommandFunc func;
} commands[] = {
  { "user", "add", "USER", TAKES_PASSWORD_FILE | TAKES_ITERATIONS, cmd_user_add },
  { "user", "passwd", "USER", TAKES_PASSWORD_FILE | TAKES_ITERATIONS, cmd_user_passwd },
  { "user", "delete", "USER", 0, cmd_user_delete },
  { "user", "list", NULL, 0, cmd_user_list },
  { "manifest", "import", "FILE", 0, cmd_manifest_import },
  { "entity", "list", NULL, 0, cmd_entity_list },
  { "entity", "revoke", "ENTITY", 0, cmd_entity_revoke },
  { "entity", "provision", "ENTITY", TAKES_PROVISIONING, cmd_entity_provision },
};

static const char description[] =
  "Commands:\n"
  "  user add USER [--password-file FILE] [--iterations N]\n"
  "  user passwd USER [--password-file FILE] [--iterations N]\n"
  "  user delete USER\n"
  "  user list\n"
  "  manifest import FILE\n"
  "  entity list\n"
  "  entity revoke ENTITY\n"
  "  entity provision ENTITY --user USER --output FILE\n"
  "\n"
  "Passwords are read from the terminal without echo (twice), or from the first\n"
  "line of --password-file; never from the command line.\n"
  "Exit status: 0 success, 1 failure, 2 usage error.  See cpns-admin(8).";

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvConfig) config = srv_config_new ();
  g_autoptr(GOptionContext) context = g_option_context_new ("COMMAND [ARGUMENT]");
  g_autofree char *config_path = NULL;
  g_autofree char *database = NULL;
  g_autofree char *password_file = NULL;
  g_autofree char *user = NULL;
  g_autofree char *output = NULL;
  Admin admin = { 0 };
  gboolean json = FALSE;
  int iterations = 0;
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      "cpns-server configuration to take the database from (default "
      SRV_CONFIG_DEFAULT_PATH ")", "FILE" },
    { "database", 'd', 0, G_OPTION_ARG_FILENAME, &database, "SQLite database", "PATH" },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &json, "Print results as JSON", NULL },
    { "password-file", 'p', 0, G_OPTION_ARG_FILENAME, &password_file,
      "Read the password from the first line of FILE", "FILE" },
    { "iterations", 'i', 0, G_OPTION_ARG_INT, &iterations,
      "PBKDF2 iteration count (default 100000; passwd keeps the old one)", "N" },
    { "user", 'u', 0, G_OPTION_ARG_STRING, &user,
      "Owner of a provisioned entity", "USER" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
      "Where entity provision writes the gateway's credential file", "FILE" },
    { NULL }
  };
  int status;

  setlocale (LC_ALL, "");
  umask (077);
  g_option_context_set_summary (context, "Manage the users, PNE manifests and entities "
                                "of a CPNS Server.");
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error ("%s", error->message);
  if (!srv_config_load_file (config, config_path != NULL ? config_path :
                             SRV_CONFIG_DEFAULT_PATH, config_path != NULL, &error))
    return failed (error);
  if (argc < 3)
    return usage_error ("a command is needed");

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      guint n_args = commands[i].arg != NULL ? 1 : 0;

      if (strcmp (argv[1], commands[i].group) != 0 ||
          strcmp (argv[2], commands[i].verb) != 0)
        continue;
      if ((guint) argc - 3 != n_args)
        return usage_error ("%s %s takes %s", commands[i].group, commands[i].verb,
                            n_args != 0 ? commands[i].arg : "no argument");
      if (password_file != NULL && !(commands[i].options & TAKES_PASSWORD_FILE))
        return usage_error ("--password-file does not apply to %s %s", argv[1], argv[2]);
      if (iterations != 0 && !(commands[i].options & TAKES_ITERATIONS))
        return usage_error ("--iterations does not apply to %s %s", argv[1], argv[2]);
      if ((user != NULL || output != NULL) && !(commands[i].options & TAKES_PROVISIONING))
        return usage_error ("--user and --output apply only to entity provision");
      if (iterations != 0 &&
          (iterations < CPNS_SRP_MIN_ITERATIONS || iterations > CPNS_SRP_MAX_ITERATIONS))
        return usage_error ("--iterations must be from %d to %d", CPNS_SRP_MIN_ITERATIONS,
                            CPNS_SRP_MAX_ITERATIONS);
      admin.database = database != NULL ? database : config->database;
      admin.json = json;
      admin.password_file = password_file;
      admin.iterations = iterations;
      admin.user = user;
      admin.output = output;
      status = commands[i].func (&admin, argv + 3);
      g_clear_object (&admin.store);
      return status;
    }
  return usage_error ("unknown command '%s %s'", argv[1], argv[2]);
}
