/* SPDX-License-Identifier: GPL-3.0-or-later */

/* pngwctl: the command-line client and terminal agent of pngwd's D-Bus
 * API (data/org.cpns.Gateway1.xml). */

#include "ctl.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef int (*CommandFunc) (Ctl *ctl, char **args);

enum {
  TAKES_JSON = 1 << 0,
  TAKES_CREDENTIALS = 1 << 1,   /* --user, --password-file */
};

static int
cmd_status (Ctl *ctl, char **args)
{
  g_autoptr(GString) out = g_string_new (NULL);

  if (!ctl->json)
    {
      ctl_print_properties (G_DBUS_PROXY (ctl->gateway), pngw_gateway1_interface_info (),
                            FALSE);
      return CTL_EXIT_OK;
    }
  ctl_json_properties (out, G_DBUS_PROXY (ctl->gateway), pngw_gateway1_interface_info ());
  ctl_print_line (out);
  return CTL_EXIT_OK;
}

typedef struct {
  gboolean  seen;
  char     *message;
} Outcome;

static void
on_enrollment_finished (PngwGateway1 *gateway, gboolean success, const char *message,
                        gpointer user_data)
{
  Outcome *outcome = user_data;

  outcome->seen = TRUE;
  g_free (outcome->message);
  outcome->message = g_strdup (message);
}

/* Prints @text for a person on stdout. */
static void
say (const char *text)
{
  g_autoptr(GString) line = g_string_new (NULL);

  ctl_text_string (line, text, FALSE);
  ctl_print_line (line);
}

static int
cmd_enroll (Ctl *ctl, char **args)
{
  g_autoptr(GError) error = NULL;
  Outcome outcome = { FALSE, NULL };
  g_autofree char *message = NULL;
  gulong handler;
  gboolean ok;

  /* pngwd sends EnrollmentFinished before its reply: the message is here
   * by the time the call returns. */
  handler = g_signal_connect (ctl->gateway, "enrollment-finished",
                              G_CALLBACK (on_enrollment_finished), &outcome);
  ok = ctl_call_with_agent (ctl, G_DBUS_PROXY (ctl->gateway), "Enroll", &error);
  g_signal_handler_disconnect (ctl->gateway, handler);
  message = outcome.message;
  if (!ok)
    return ctl_report ("enrolment failed", error);
  say (outcome.seen && *message != '\0' ? message : "the gateway is enrolled");
  return CTL_EXIT_OK;
}

static int
cmd_forget (Ctl *ctl, char **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  reply = g_dbus_proxy_call_sync (G_DBUS_PROXY (ctl->gateway), "Forget", NULL,
                                  G_DBUS_CALL_FLAGS_NONE, CTL_LONG_TIMEOUT_MS, NULL, &error);
  if (reply == NULL)
    return ctl_report ("cannot forget the gateway's key", error);
  say ("the gateway's key is forgotten");
  return CTL_EXIT_OK;
}

static int
cmd_agent (Ctl *ctl, char **args)
{
  return ctl_run_agent (ctl);
}

static int
cmd_monitor (Ctl *ctl, char **args)
{
  return ctl_monitor (ctl);
}

/* Pads @cell (already escaped) to @width characters. */
static void
append_cell (GString *line, const char *cell, guint width, gboolean last)
{
  guint len = (guint) g_utf8_strlen (cell, -1);

  g_string_append (line, cell);
  if (!last)
    for (guint i = len; i < width + 2; i++)
      g_string_append_c (line, ' ');
}

static const char *const table_columns[][2] = {
  { "EntityId", "ID" },
  { "Name", "NAME" },
  { "Transport", "TRANSPORT" },
  { "Address", "ADDRESS" },
  { "LinkSecurity", "LINK" },
  { "State", "STATE" },
};
#define N_COLUMNS G_N_ELEMENTS (table_columns)

static void
print_table (GList *pnes)
{
  guint n_rows = g_list_length (pnes) + 1;
  g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) line = g_string_new (NULL);
  guint widths[N_COLUMNS] = { 0 };

  for (guint c = 0; c < N_COLUMNS; c++)
    g_ptr_array_add (cells, g_strdup (table_columns[c][1]));
  for (GList *l = pnes; l != NULL; l = l->next)
    for (guint c = 0; c < N_COLUMNS; c++)
      {
        g_autoptr(GVariant) value = g_dbus_proxy_get_cached_property (l->data,
                                                                      table_columns[c][0]);
        GString *cell = g_string_new (NULL);

        if (value != NULL && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) &&
            *g_variant_get_string (value, NULL) == '\0')
          g_string_append_c (cell, '-');
        else
          ctl_text_value (cell, value, FALSE);
        g_ptr_array_add (cells, g_string_free (cell, FALSE));
      }
  for (guint i = 0; i < cells->len; i++)
    widths[i % N_COLUMNS] = MAX (widths[i % N_COLUMNS],
                                 (guint) g_utf8_strlen (cells->pdata[i], -1));
  for (guint r = 0; r < n_rows; r++)
    {
      g_string_truncate (line, 0);
      for (guint c = 0; c < N_COLUMNS; c++)
        append_cell (line, cells->pdata[r * N_COLUMNS + c], widths[c], c + 1 == N_COLUMNS);
      ctl_print_line (line);
    }
}

static int
cmd_pne_list (Ctl *ctl, char **args)
{
  g_autoptr(GString) out = g_string_new (NULL);
  int status = ctl_connect_objects (ctl);
  GList *pnes;

  if (status != CTL_EXIT_OK)
    return status;
  pnes = ctl_list_pnes (ctl);
  if (ctl->json)
    {
      g_string_append_c (out, '[');
      for (GList *l = pnes; l != NULL; l = l->next)
        {
          if (l != pnes)
            g_string_append_c (out, ',');
          ctl_json_pne (out, l->data);
        }
      g_string_append_c (out, ']');
      ctl_print_line (out);
    }
  else if (pnes == NULL)
    say ("pngwd knows no PNE");
  else
    print_table (pnes);
  g_list_free_full (pnes, g_object_unref);
  return CTL_EXIT_OK;
}

static int
cmd_pne_show (Ctl *ctl, char **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusProxy) pne = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  int status = ctl_connect_objects (ctl);

  if (status != CTL_EXIT_OK)
    return status;
  pne = ctl_find_pne (ctl, args[0], &error);
  if (pne == NULL)
    return ctl_report (NULL, error);
  if (!ctl->json)
    {
      ctl_print_properties (pne, pngw_pne1_interface_info (), TRUE);
      return CTL_EXIT_OK;
    }
  ctl_json_pne (out, pne);
  ctl_print_line (out);
  return CTL_EXIT_OK;
}

static int
cmd_pne_provision (Ctl *ctl, char **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusProxy) pne = NULL;
  g_autofree char *text = NULL;
  int status = ctl_connect_objects (ctl);

  if (status != CTL_EXIT_OK)
    return status;
  pne = ctl_find_pne (ctl, args[0], &error);
  if (pne == NULL)
    return ctl_report (NULL, error);
  if (!ctl_provision_with_agent (ctl, pne, &error))
    {
      text = g_strdup_printf ("provisioning PNE %s failed", args[0]);
      return ctl_report (text, error);
    }
  text = g_strdup_printf ("PNE %s is provisioned and ready", args[0]);
  say (text);
  return CTL_EXIT_OK;
}

static int
cmd_pne_forget (Ctl *ctl, char **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusProxy) pne = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *text = NULL;
  int status = ctl_connect_objects (ctl);

  if (status != CTL_EXIT_OK)
    return status;
  pne = ctl_find_pne (ctl, args[0], &error);
  if (pne == NULL)
    return ctl_report (NULL, error);
  reply = g_dbus_proxy_call_sync (pne, "Forget", NULL, G_DBUS_CALL_FLAGS_NONE,
                                  CTL_LONG_TIMEOUT_MS, NULL, &error);
  if (reply == NULL)
    {
      text = g_strdup_printf ("cannot forget PNE %s", args[0]);
      return ctl_report (text, error);
    }
  text = g_strdup_printf ("PNE %s is forgotten", args[0]);
  say (text);
  return CTL_EXIT_OK;
}

/* For bash completion: the PNE IDs, one a line, raw. */
static int
cmd_complete_pne (Ctl *ctl, char **args)
{
  int status = ctl_connect_objects (ctl);
  GList *pnes;

  if (status != CTL_EXIT_OK)
    return status;
  pnes = ctl_list_pnes (ctl);
  for (GList *l = pnes; l != NULL; l = l->next)
    {
      g_autofree char *id = ctl_entity_id (l->data);

      /* An ID that would break the one-a-line output is not offered. */
      if (strpbrk (id, "\n\r") == NULL)
        g_print ("%s\n", id);
    }
  g_list_free_full (pnes, g_object_unref);
  return CTL_EXIT_OK;
}

static const struct {
  const char *name;
  const char *verb;     /* NULL: a command of one word */
  const char *arg;      /* NULL: takes no argument */
  guint       options;
  CommandFunc func;
} commands[] = {
  { "status", NULL, NULL, TAKES_JSON, cmd_status },
  { "enroll", NULL, NULL, TAKES_CREDENTIALS, cmd_enroll },
  { "forget", NULL, NULL, 0, cmd_forget },
  { "agent", NULL, NULL, TAKES_CREDENTIALS, cmd_agent },
  { "monitor", NULL, NULL, TAKES_JSON, cmd_monitor },
  { "pne", "list", NULL, TAKES_JSON, cmd_pne_list },
  { "pne", "show", "ID", TAKES_JSON, cmd_pne_show },
  { "pne", "provision", "ID", TAKES_CREDENTIALS, cmd_pne_provision },
  { "pne", "forget", "ID", 0, cmd_pne_forget },
  { "__complete-pne", NULL, NULL, 0, cmd_complete_pne },   /* not in --help */
};

static const char description[] =
  "Commands:\n"
  "  status [--json]              Show the gateway's state\n"
  "  enroll [--user USER] [--password-file FILE]\n"
  "                               Enrol the gateway, answering pngwd's request\n"
  "                               for User ID and password\n"
  "  forget                       Drop the gateway's key, at the server and here\n"
  "  agent [--user USER] [--password-file FILE]\n"
  "                               Answer pngwd's requests for credentials until\n"
  "                               interrupted\n"
  "  pne list [--json]            List the PNEs pngwd knows\n"
  "  pne show ID [--json]         Show one PNE (ID: its EntityId)\n"
  "  pne provision ID [--user USER] [--password-file FILE]\n"
  "                               Give pngwd the credentials a PNE waits for\n"
  "                               (State needs-credentials) and follow it to ready\n"
  "  pne forget ID                Close the PNE's link and drop its LocalEUKey\n"
  "  monitor [--json]             Print changes and events until interrupted\n"
  "\n"
  "Passwords are read from the terminal without echo, or from the first line of\n"
  "--password-file; never from the command line.\n"
  "\n"
  "Exit status:\n"
  "  0  success\n"
  "  1  failure, reported by pngwd (e.g. a wrong password) or found here\n"
  "  2  usage error\n"
  "  3  pngwd is not running, or the system bus cannot be reached\n"
  "  4  permission denied\n"
  "  5  canceled\n"
  "\n"
  "See pngwctl(1).";

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("COMMAND [ARGUMENT]");
  g_autoptr(GError) error = NULL;
  g_autofree char *user = NULL;
  g_autofree char *password_file = NULL;
  gboolean json = FALSE;
  gboolean version = FALSE;
  const GOptionEntry entries[] = {
    { "json", 'j', 0, G_OPTION_ARG_NONE, &json, "Print JSON (status, pne list/show, monitor)",
      NULL },
    { "user", 'u', 0, G_OPTION_ARG_STRING, &user, "Answer credential requests with this "
      "User ID instead of asking", "USER" },
    { "password-file", 'p', 0, G_OPTION_ARG_FILENAME, &password_file,
      "Read the password from the first line of FILE instead of the terminal", "FILE" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
    { NULL }
  };
  Ctl ctl = { 0 };
  int status;

  setlocale (LC_ALL, "");
  g_option_context_set_summary (context, "Control pngwd, the PN Gateway daemon, over D-Bus, "
                                "and answer its requests for credentials.");
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return ctl_usage_error ("%s", error->message);
  if (version)
    {
      g_print ("pngwctl " PNGW_VERSION "\n");
      return CTL_EXIT_OK;
    }
  if (argc < 2)
    return ctl_usage_error ("a command is needed");
  if (user != NULL && (*user == '\0' || !g_utf8_validate (user, -1, NULL)))
    return ctl_usage_error ("--user needs a User ID in UTF-8");

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      guint words = commands[i].verb != NULL ? 2 : 1;
      guint n_args = commands[i].arg != NULL ? 1 : 0;
      g_autofree char *name = NULL;

      if (strcmp (argv[1], commands[i].name) != 0 ||
          (words == 2 && (argc < 3 || strcmp (argv[2], commands[i].verb) != 0)))
        continue;
      name = words == 2 ? g_strdup_printf ("%s %s", argv[1], argv[2]) : g_strdup (argv[1]);
      if ((guint) argc - 1 - words != n_args)
        return ctl_usage_error ("%s takes %s", name, n_args != 0 ? commands[i].arg :
                                "no argument");
      if (json && !(commands[i].options & TAKES_JSON))
        return ctl_usage_error ("--json does not apply to %s", name);
      if ((user != NULL || password_file != NULL) &&
          !(commands[i].options & TAKES_CREDENTIALS))
        return ctl_usage_error ("--user and --password-file do not apply to %s", name);
      /* Better now than after pngwd has started asking. */
      if (password_file != NULL && access (password_file, R_OK) != 0)
        {
          g_printerr ("pngwctl: cannot read %s: %s\n", password_file, g_strerror (errno));
          return CTL_EXIT_FAILED;
        }
      ctl.json = json;
      ctl.user = user;
      ctl.password_file = password_file;
      status = ctl_connect (&ctl);
      if (status == CTL_EXIT_OK)
        status = commands[i].func (&ctl, argv + 1 + words);
      ctl_clear (&ctl);
      return status;
    }
  if (strcmp (argv[1], "pne") == 0)
    return ctl_usage_error ("pne needs one of: list, show, provision, forget");
  return ctl_usage_error ("unknown command '%s'", argv[1]);
}
