/* SPDX-License-Identifier: GPL-3.0-or-later */

/* cpns-pne: a PNE a person or a test can run.  "init" is the factory step
 * (keystore, key-encryption key, Temporary Key), "run" connects to a PN GW,
 * gets provisioned by whichever path the gateway chooses and exchanges test
 * data, "status" tells what the keystore holds.  See cpns-pne(1). */

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cpns-error.h"
#include "cpns-password.h"
#include "pne-link.h"

enum {
  EXIT_OK = 0,
  EXIT_USAGE = 1,
  EXIT_REFUSED = 2,
  EXIT_UNREACHABLE = 3,
  EXIT_LOCAL = 4,
};

/* ---- output ---- */

typedef struct {
  gboolean json;
  GString *line;
  gboolean first;
} Out;

static void
json_escape (GString *s, const char *text)
{
  g_string_append_c (s, '"');
  for (const char *p = text; *p != '\0'; p++)
    {
      guchar c = *p;
      if (c == '"' || c == '\\')
        g_string_append_printf (s, "\\%c", c);
      else if (c < 0x20)
        g_string_append_printf (s, "\\u%04x", c);
      else
        g_string_append_c (s, c);
    }
  g_string_append_c (s, '"');
}

static void
j_begin (Out *o, const char *event)
{
  o->line = g_string_new ("{\"event\":");
  json_escape (o->line, event);
  o->first = FALSE;
}

static void
j_key (Out *o, const char *key)
{
  g_string_append_c (o->line, ',');
  json_escape (o->line, key);
  g_string_append_c (o->line, ':');
}

static void
j_str (Out *o, const char *key, const char *value)
{
  j_key (o, key);
  if (value == NULL)
    g_string_append (o->line, "null");
  else
    json_escape (o->line, value);
}

static void
j_int (Out *o, const char *key, gint64 value)
{
  j_key (o, key);
  g_string_append_printf (o->line, "%" G_GINT64_FORMAT, value);
}

static void
j_bool (Out *o, const char *key, gboolean value)
{
  j_key (o, key);
  g_string_append (o->line, value ? "true" : "false");
}

static void
j_end (Out *o)
{
  g_string_append_c (o->line, '}');
  printf ("%s\n", o->line->str);
  fflush (stdout);
  g_string_free (g_steal_pointer (&o->line), TRUE);
}

static void
say (Out *o, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
say (Out *o, const char *fmt, ...)
{
  va_list ap;

  if (o->json)
    return;
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

static char *
hex (const guint8 *data, gsize len)
{
  GString *s = g_string_sized_new (len * 2);

  for (gsize i = 0; i < len; i++)
    g_string_append_printf (s, "%02x", data[i]);
  return g_string_free (s, FALSE);
}

static GBytes *
unhex (const char *text, const char *what, GError **error)
{
  gsize n = strlen (text);
  g_autofree guint8 *buf = NULL;

  if (n == 0 || n % 2 != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "%s must be an even number of hex digits", what);
      return NULL;
    }
  buf = g_malloc (n / 2);
  for (gsize i = 0; i < n / 2; i++)
    {
      int hi = g_ascii_xdigit_value (text[2 * i]);
      int lo = g_ascii_xdigit_value (text[2 * i + 1]);
      if (hi < 0 || lo < 0)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                       "%s is not hexadecimal", what);
          cpns_wipe (buf, n / 2);
          return NULL;
        }
      buf[i] = hi << 4 | lo;
    }
  return g_bytes_new_take (g_steal_pointer (&buf), n / 2);
}

static const char *
kind_name (CpnsKeyKind kind)
{
  switch (kind)
    {
    case CPNS_KEY_EUKEY: return "eukey";
    case CPNS_KEY_LOCAL_EUKEY: return "local-eukey";
    case CPNS_KEY_TEMPORARY: return "tk";
    }
  return "?";
}

/* ---- exit codes ---- */

static int
exit_code_for (const GError *error, gboolean refused)
{
  if (error->domain == G_IO_ERROR)
    return error->code == G_IO_ERROR_INVALID_ARGUMENT ? EXIT_USAGE : EXIT_UNREACHABLE;
  if (error->domain == CPNS_ERROR && error->code == CPNS_ERROR_UNAVAILABLE)
    return EXIT_UNREACHABLE;
  if (refused && error->domain == CPNS_ERROR)
    return EXIT_REFUSED;
  return EXIT_LOCAL;
}

static int
report (Out *o, const GError *error, int code)
{
  fprintf (stderr, "cpns-pne: %s\n", error->message);
  if (o->json)
    {
      j_begin (o, "error");
      j_int (o, "exit", code);
      if (error->domain == CPNS_ERROR)
        j_str (o, "error", cpns_error_code_to_string (error->code));
      j_str (o, "message", error->message);
      j_end (o);
    }
  return code;
}

static int
usage_error (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static int
usage_error (const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  fprintf (stderr, "cpns-pne: %s (see cpns-pne --help)\n", msg);
  return EXIT_USAGE;
}

static CpnsKeystore *
open_keystore (const char *state_dir, gboolean create, GError **error)
{
  g_autofree char *path = g_build_filename (state_dir, "keystore", NULL);
  g_autofree char *kek = g_build_filename (state_dir, "kek", NULL);

  if (!create && !g_file_test (kek, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND,
                   "'%s' is not a PNE state directory (no kek); run 'cpns-pne init'",
                   state_dir);
      return NULL;
    }
  return cpns_keystore_open (path, kek, create, error);
}

/* Entries of another Entity ID mean the wrong state directory. */
static gboolean
check_owner (CpnsKeystore *ks, const char *entity_id, GError **error)
{
  g_auto(GStrv) names = cpns_keystore_list (ks);

  for (guint i = 0; names[i] != NULL; i++)
    {
      const CpnsKeyEntry *e = cpns_keystore_lookup (ks, names[i]);
      if (strcmp (e->self_id, entity_id) != 0)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                       "this state directory belongs to '%s', not '%s'", e->self_id,
                       entity_id);
          return FALSE;
        }
    }
  return TRUE;
}

/* ---- init ---- */

static int
cmd_init (int argc, char **argv)
{
  g_autofree char *state_dir = NULL;
  g_autofree char *entity_id = NULL;
  g_autofree char *tk_kid = NULL;
  g_autofree char *tk_hex = NULL;
  g_autofree char *tk_file = NULL;
  g_autofree char *server_id = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "state-dir", 'd', 0, G_OPTION_ARG_FILENAME, &state_dir,
      "State directory (created 0700)", "DIR" },
    { "entity-id", 'e', 0, G_OPTION_ARG_STRING, &entity_id, "The PNE's Entity ID", "ID" },
    { "tk-kid", 0, 0, G_OPTION_ARG_STRING, &tk_kid, "Key ID of the Temporary Key", "HEX" },
    { "tk", 0, 0, G_OPTION_ARG_STRING, &tk_hex,
      "Temporary Key (16-64 bytes; visible to other users: prefer --tk-file)", "HEX" },
    { "tk-file", 0, 0, G_OPTION_ARG_FILENAME, &tk_file,
      "Read the Temporary Key as hex from the first line of FILE", "FILE" },
    { "server-id", 0, 0, G_OPTION_ARG_STRING, &server_id,
      "CPNS Server the TK is registered with (default cpns-server)", "ID" },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &json, "Print the result as JSON", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- the factory step of a PNE");
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsKeystore) ks = NULL;
  g_autoptr(GBytes) kid = NULL;
  g_autoptr(CpnsSecret) tk = NULL;
  Out out = { 0 };

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return usage_error ("%s", error->message);
  out.json = json;
  if (argc > 1)
    return usage_error ("unexpected argument '%s'", argv[1]);
  if (state_dir == NULL || entity_id == NULL)
    return usage_error ("init needs --state-dir and --entity-id");
  if (!cpns_entity_id_is_valid (entity_id, strlen (entity_id)))
    return usage_error ("'%s' is not a valid Entity ID", entity_id);
  if (server_id == NULL)
    server_id = g_strdup (PNE_DEFAULT_SERVER_ID);
  if (!cpns_entity_id_is_valid (server_id, strlen (server_id)))
    return usage_error ("'%s' is not a valid Entity ID", server_id);
  if (tk_hex != NULL && tk_file != NULL)
    return usage_error ("--tk and --tk-file exclude each other");
  if ((tk_hex != NULL || tk_file != NULL) != (tk_kid != NULL))
    return usage_error ("a Temporary Key needs --tk-kid, and --tk-kid a key");
  if (tk_kid != NULL)
    {
      g_autoptr(GBytes) key = NULL;
      gsize len;
      const guint8 *data;

      kid = unhex (tk_kid, "--tk-kid", &error);
      if (kid == NULL)
        return usage_error ("%s", error->message);
      if (g_bytes_get_size (kid) > CPNS_KID_MAX)
        return usage_error ("--tk-kid is 1-%d bytes", CPNS_KID_MAX);
      if (tk_file != NULL)
        {
          g_autoptr(CpnsSecret) line = cpns_password_from_file (tk_file, &error);
          g_autofree char *text = NULL;
          if (line == NULL)
            return report (&out, error, EXIT_LOCAL);
          text = g_strstrip (g_strndup ((const char *) line->data, line->len));
          key = unhex (text, "the Temporary Key in --tk-file", &error);
          cpns_wipe (text, strlen (text));
        }
      else
        {
          key = unhex (tk_hex, "--tk", &error);
          cpns_wipe (tk_hex, strlen (tk_hex));
        }
      if (key == NULL)
        return usage_error ("%s", error->message);
      data = g_bytes_get_data (key, &len);
      tk = cpns_secret_new (data, len);
      cpns_wipe ((guint8 *) data, len);
      if (len < 16 || len > 64)
        return usage_error ("a Temporary Key is 16-64 bytes, not %" G_GSIZE_FORMAT, len);
    }

  ks = open_keystore (state_dir, TRUE, &error);
  if (ks == NULL || !check_owner (ks, entity_id, &error))
    return report (&out, error, EXIT_LOCAL);
  if (tk != NULL)
    {
      const CpnsKeyEntry *old = cpns_keystore_lookup (ks, PNE_ENTRY_TK);
      CpnsKeyEntry e = {
        .name = (char *) PNE_ENTRY_TK, .kind = CPNS_KEY_TEMPORARY, .self_id = entity_id,
        .peer_id = server_id, .key = tk, .role = CPNS_ROLE_INITIATOR,
        .created = g_get_real_time () / G_USEC_PER_SEC,
      };

      /* A TK is burnt in once: a second, different one is a mistake. */
      if (old != NULL && (old->key->len != tk->len ||
                          !cpns_ct_equal (old->key->data, tk->data, tk->len) ||
                          old->kid_len != g_bytes_get_size (kid) ||
                          memcmp (old->kid, g_bytes_get_data (kid, NULL), old->kid_len)))
        {
          g_set_error (&error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                       "'%s' already holds another Temporary Key", state_dir);
          return report (&out, error, EXIT_LOCAL);
        }
      e.kid_len = g_bytes_get_size (kid);
      memcpy (e.kid, g_bytes_get_data (kid, NULL), e.kid_len);
      if (!cpns_keystore_set (ks, &e, &error))
        return report (&out, error, EXIT_LOCAL);
    }
  if (!cpns_keystore_save (ks, &error))
    return report (&out, error, EXIT_LOCAL);
  if (out.json)
    {
      j_begin (&out, "initialised");
      j_str (&out, "entity", entity_id);
      j_bool (&out, "tk", tk != NULL);
      if (kid != NULL)
        {
          g_autofree char *h = hex (g_bytes_get_data (kid, NULL), g_bytes_get_size (kid));
          j_str (&out, "tk_kid", h);
        }
      j_end (&out);
    }
  else
    say (&out, "%s: PNE %s initialised%s", state_dir, entity_id,
         tk != NULL ? " with a Temporary Key" : " without a Temporary Key");
  return EXIT_OK;
}

/* ---- status ---- */

static int
cmd_status (int argc, char **argv)
{
  g_autofree char *state_dir = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "state-dir", 'd', 0, G_OPTION_ARG_FILENAME, &state_dir, "State directory", "DIR" },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &json, "Print the result as JSON", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- what the PNE's keystore holds");
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsKeystore) ks = NULL;
  g_auto(GStrv) names = NULL;
  Out out = { 0 };
  GString *s;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return usage_error ("%s", error->message);
  out.json = json;
  if (argc > 1)
    return usage_error ("unexpected argument '%s'", argv[1]);
  if (state_dir == NULL)
    return usage_error ("status needs --state-dir");
  ks = open_keystore (state_dir, FALSE, &error);
  if (ks == NULL)
    return report (&out, error, EXIT_LOCAL);
  names = cpns_keystore_list (ks);
  s = g_string_new ("{\"keys\":[");
  if (!json)
    printf ("%-24s %-12s %-16s %-20s %-16s %s\n", "NAME", "KIND", "ENTITY", "PEER", "USER",
            "KID");
  for (guint i = 0; names[i] != NULL; i++)
    {
      const CpnsKeyEntry *e = cpns_keystore_lookup (ks, names[i]);
      g_autofree char *kid = hex (e->kid, e->kid_len);

      if (!json)
        {
          printf ("%-24s %-12s %-16s %-20s %-16s %s\n", e->name, kind_name (e->kind),
                  e->self_id, e->peer_id, e->user_id != NULL ? e->user_id : "-", kid);
          continue;
        }
      if (i > 0)
        g_string_append_c (s, ',');
      g_string_append (s, "{\"name\":");
      json_escape (s, e->name);
      g_string_append (s, ",\"kind\":");
      json_escape (s, kind_name (e->kind));
      g_string_append (s, ",\"entity\":");
      json_escape (s, e->self_id);
      g_string_append (s, ",\"peer\":");
      json_escape (s, e->peer_id);
      g_string_append (s, ",\"user\":");
      if (e->user_id != NULL)
        json_escape (s, e->user_id);
      else
        g_string_append (s, "null");
      g_string_append (s, ",\"kid\":");
      json_escape (s, kid);
      g_string_append_printf (s, ",\"created\":%" G_GINT64_FORMAT "}", e->created);
    }
  g_string_append (s, "]}");
  if (json)
    printf ("%s\n", s->str);
  g_string_free (s, TRUE);
  return EXIT_OK;
}

/* ---- run ---- */

typedef struct {
  Out          out;
  PneLink     *link;
  PneMachine  *machine;
  char        *user;
  char        *password_file;
  gboolean     ui;
  gboolean     refused;     /* the PN GW or the server said no */
  int          timeout_ms;
} Run;

static volatile sig_atomic_t stop_signal;

static void
on_signal (int sig)
{
  stop_signal = sig;
}

static char *
ask_user_id (GError **error)
{
  int fd = open ("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  GString *s = g_string_new (NULL);
  const char prompt[] = "User ID: ";
  char c;

  if (fd < 0)
    {
      int err = errno;
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "--ui needs a terminal: %s", g_strerror (err));
      g_string_free (s, TRUE);
      return NULL;
    }
  if (write (fd, prompt, sizeof prompt - 1) < 0)
    {
      /* The answer is what matters; a lost prompt is not fatal. */
    }
  while (read (fd, &c, 1) == 1 && c != '\n' && s->len <= CPNS_USER_ID_MAX)
    if (c != '\r')
      g_string_append_c (s, c);
  close (fd);
  return g_string_free (s, FALSE);
}

static gboolean
credentials (gboolean retry, char **user_id, CpnsSecret **password, gpointer user_data,
             GError **error)
{
  Run *r = user_data;

  if (r->password_file != NULL)
    {
      /* A script gives one password: asking again would only repeat it. */
      if (retry)
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_AUTH_FAILED,
                       "the server did not accept User ID '%s' with the password in '%s'",
                       r->user, r->password_file);
          return FALSE;
        }
      *password = cpns_password_from_file (r->password_file, error);
      if (*password == NULL)
        return FALSE;
      *user_id = g_strdup (r->user);
      return TRUE;
    }
  if (retry)
    fprintf (stderr, "The server did not accept this User ID and password; try again.\n");
  *user_id = r->user != NULL && !retry ? g_strdup (r->user) : ask_user_id (error);
  if (*user_id == NULL)
    return FALSE;
  *password = cpns_password_from_terminal ("Password: ", FALSE, error);
  return *password != NULL;
}

static void
print_event (Run *r, const PneEvent *ev)
{
  Out *o = &r->out;
  g_autofree char *kid = hex (ev->kid, ev->kid_len);

  switch (ev->type)
    {
    case PNE_EVENT_PATH_SELECTED:
      if (o->json)
        {
          j_begin (o, "path");
          j_int (o, "path", ev->path);
          j_str (o, "gateway", ev->from);
          j_end (o);
        }
      say (o, "PN GW %s chose path %" G_GUINT64_FORMAT, ev->from, ev->path);
      break;
    case PNE_EVENT_NEED_CREDENTIALS:
      if (o->json)
        {
          j_begin (o, "credentials");
          j_bool (o, "retry", ev->retry);
          j_end (o);
        }
      break;
    case PNE_EVENT_KEY_STORED:
    case PNE_EVENT_KEY_FORGOTTEN:
      if (o->json)
        {
          j_begin (o, ev->type == PNE_EVENT_KEY_STORED ? "key-stored" : "key-forgotten");
          j_str (o, "kind", kind_name (ev->kind));
          j_str (o, "peer", ev->from);
          j_str (o, "kid", kid);
          j_end (o);
        }
      say (o, "%s %s (peer %s, kid %s)", kind_name (ev->kind),
           ev->type == PNE_EVENT_KEY_STORED ? "stored" : "forgotten", ev->from, kid);
      break;
    case PNE_EVENT_READY:
      if (o->json)
        {
          j_begin (o, "provisioned");
          j_int (o, "path", ev->path);
          j_str (o, "gateway", ev->from);
          j_end (o);
        }
      say (o, "provisioned (path %" G_GUINT64_FORMAT "): secure session with PN GW %s",
           ev->path, ev->from);
      break;
    case PNE_EVENT_SERVER_READY:
      if (o->json)
        {
          j_begin (o, "server-session");
          j_str (o, "server", ev->from);
          j_end (o);
        }
      say (o, "secure session with server %s through the PN GW", ev->from);
      break;
    case PNE_EVENT_SERVER_LOST:
    case PNE_EVENT_REFUSED:
      if (ev->type == PNE_EVENT_REFUSED)
        r->refused = TRUE;
      if (o->json)
        {
          j_begin (o, ev->type == PNE_EVENT_REFUSED ? "refused" : "server-lost");
          j_str (o, "from", ev->from);
          j_int (o, "code", ev->code);
          j_str (o, "error", cpns_error_code_to_string (ev->code));
          j_str (o, "reason", ev->reason);
          j_end (o);
        }
      else
        fprintf (stderr, "cpns-pne: %s %s: %s (%s)\n", ev->from,
                 ev->type == PNE_EVENT_REFUSED ? "refused" : "dropped the session",
                 ev->reason != NULL ? ev->reason : "",
                 cpns_error_code_to_string (ev->code));
      break;
    case PNE_EVENT_DATA:
      if (o->json)
        {
          j_begin (o, "data");
          j_str (o, "from", ev->from);
          j_int (o, "content_type", ev->content_type);
          j_int (o, "size", g_bytes_get_size (ev->data));
          j_end (o);
        }
      say (o, "DATA from %s: content type %" G_GUINT64_FORMAT ", %" G_GSIZE_FORMAT " bytes",
           ev->from, ev->content_type, g_bytes_get_size (ev->data));
      break;
    case PNE_EVENT_ACK:
      if (o->json)
        {
          j_begin (o, "ack");
          j_str (o, "from", ev->from);
          j_int (o, "type", ev->acked_type);
          j_end (o);
        }
      say (o, "ACK from %s", ev->from);
      break;
    }
}

static void
on_event (const PneEvent *ev, gpointer user_data)
{
  print_event (user_data, ev);
}

/* Waits for an event that @match accepts; events on the way are printed,
 * and a refusal or a lost server session ends the wait with an error. */
typedef gboolean (*MatchFunc) (const PneEvent *ev, gpointer data);

static PneEvent *
wait_for (Run *r, MatchFunc match, gpointer data, const char *what, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) r->timeout_ms * 1000;

  for (;;)
    {
      int left = (int) MAX (0, (deadline - g_get_monotonic_time ()) / 1000);
      g_autoptr(GError) local = NULL;
      g_autoptr(PneEvent) ev = pne_link_wait_event (r->link, left, &local);

      if (ev == NULL)
        {
          if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                         "timed out waiting for %s", what);
          else
            g_propagate_error (error, g_steal_pointer (&local));
          return NULL;
        }
      if (match (ev, data))
        return g_steal_pointer (&ev);
      print_event (r, ev);
      if (ev->type == PNE_EVENT_REFUSED || ev->type == PNE_EVENT_SERVER_LOST)
        {
          r->refused = TRUE;
          g_set_error (error, CPNS_ERROR, ev->code, "%s refused while waiting for %s: %s",
                       ev->from, what, ev->reason != NULL ? ev->reason : "");
          return NULL;
        }
    }
}

typedef struct {
  PneEventType type;
  const char  *from;
  guint64      content_type;
} Want;

static gboolean
match_want (const PneEvent *ev, gpointer data)
{
  const Want *w = data;

  return ev->type == w->type && strcmp (ev->from, w->from) == 0 &&
         (ev->type != PNE_EVENT_DATA || ev->content_type == w->content_type);
}

static gboolean
match_ack_or_data (const PneEvent *ev, gpointer data)
{
  const Want *w = data;
  Want ack = { PNE_EVENT_ACK, w->from, 0 };

  return match_want (ev, data) || match_want (ev, &ack);
}

static gboolean
echo_ok (const PneEvent *ev, const char *text)
{
  return g_bytes_get_size (ev->data) == strlen (text) &&
         memcmp (g_bytes_get_data (ev->data, NULL), text, strlen (text)) == 0;
}

static void
print_echo (Run *r, const char *event, const char *from, guint64 ct, gboolean ok, guint n)
{
  if (r->out.json)
    {
      j_begin (&r->out, event);
      j_str (&r->out, "from", from);
      j_bool (&r->out, "ok", ok);
      j_int (&r->out, "content_type", ct);
      j_int (&r->out, "n", n);
      j_end (&r->out);
    }
  say (&r->out, "%s %u from %s: %s", event, n, from, ok ? "ok" : "DIFFERENT");
}

/* DATA to @dst and its echo back (content type 0), or ACK now and the echo
 * later through the PN GW's long poll (content type 1). */
static gboolean
exchange (Run *r, const char *dst, guint32 ct, const char *text, gboolean encrypt, guint n,
          GError **error)
{
  Want want = { PNE_EVENT_DATA, dst, ct };
  g_autoptr(PneEvent) ev = NULL;
  gboolean ok;

  if (!pne_machine_send_data (r->machine, dst, ct, (const guint8 *) text, strlen (text),
                              encrypt, error))
    return FALSE;
  if (ct == 1)
    {
      /* The ACK answers our request; the echo comes through the gateway's
       * long poll: either may arrive first. */
      gboolean acked = FALSE;
      while (ev == NULL || !acked)
        {
          g_autoptr(PneEvent) e = wait_for (r, match_ack_or_data, &want,
                                            acked ? "the queued echo" : "the server's ACK",
                                            error);
          if (e == NULL)
            return FALSE;
          if (e->type == PNE_EVENT_ACK)
            {
              acked = TRUE;
              print_event (r, e);
            }
          else if (ev == NULL)
            ev = g_steal_pointer (&e);
          else
            print_event (r, e);
        }
    }
  else
    ev = wait_for (r, match_want, &want, "the echo", error);
  if (ev == NULL)
    return FALSE;
  ok = echo_ok (ev, text);
  print_echo (r, ct == 1 ? "queued" : "echo", ev->from, ct, ok, n);
  if (!ok)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_FAILED, "%s echoed other data", dst);
      return FALSE;
    }
  return TRUE;
}

static gboolean
connect_server (Run *r, GError **error)
{
  const char *server = pne_machine_get_server_id (r->machine);
  Want want = { PNE_EVENT_SERVER_READY, server, 0 };
  g_autoptr(PneEvent) ev = NULL;

  if (pne_machine_has_server_session (r->machine))
    return TRUE;
  if (!pne_machine_connect_server (r->machine, error))
    return FALSE;
  ev = wait_for (r, match_want, &want, "the server session", error);
  if (ev == NULL)
    return FALSE;
  print_event (r, ev);
  return TRUE;
}

/* Keeps the link and its sessions open until SIGTERM or SIGINT. */
static gboolean
stay (Run *r, GError **error)
{
  struct sigaction sa = { .sa_handler = on_signal };

  sigemptyset (&sa.sa_mask);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  if (r->out.json)
    {
      j_begin (&r->out, "staying");
      j_int (&r->out, "pid", getpid ());
      j_end (&r->out);
    }
  say (&r->out, "staying connected (pid %d) until SIGTERM or SIGINT", (int) getpid ());
  while (!stop_signal)
    {
      g_autoptr(GError) local = NULL;
      g_autoptr(PneEvent) ev = pne_link_wait_event (r->link, 1000, &local);

      if (ev != NULL)
        print_event (r, ev);
      else if (!g_error_matches (local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        {
          /* The link polls on through EINTR; the 1 s timeout is where the
           * signal is noticed. */
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
    }
  return TRUE;
}

static int
cmd_run (int argc, char **argv)
{
  g_autofree char *state_dir = NULL;
  g_autofree char *entity_id = NULL;
  g_autofree char *name = NULL;
  g_autofree char *gateway = NULL;
  g_autofree char *gateway_id = NULL;
  g_autofree char *server_id = NULL;
  g_autofree char *send_gw = NULL;
  g_autofree char *send_server = NULL;
  g_autofree char *queued = NULL;
  gboolean mac_only = FALSE, stay_open = FALSE, json = FALSE;
  int count = 1, timeout = 30;
  Run r = { 0 };
  const GOptionEntry entries[] = {
    { "state-dir", 'd', 0, G_OPTION_ARG_FILENAME, &state_dir, "State directory", "DIR" },
    { "entity-id", 'e', 0, G_OPTION_ARG_STRING, &entity_id, "The PNE's Entity ID", "ID" },
    { "name", 'n', 0, G_OPTION_ARG_STRING, &name,
      "Name announced to the PN GW (default: the Entity ID)", "NAME" },
    { "gateway", 'g', 0, G_OPTION_ARG_STRING, &gateway,
      "PN GW to connect to: HOST:PORT, IPv4:PORT or [IPv6]:PORT", "ADDRESS" },
    { "gateway-id", 0, 0, G_OPTION_ARG_STRING, &gateway_id,
      "The PN GW's Entity ID, when known (default: announce to @pan)", "ID" },
    { "ui", 0, 0, G_OPTION_ARG_NONE, &r.ui,
      "Announce a UI and ask for User ID and password on the terminal", NULL },
    { "user", 'u', 0, G_OPTION_ARG_STRING, &r.user, "User ID (announces a UI)", "USER" },
    { "password-file", 'p', 0, G_OPTION_ARG_FILENAME, &r.password_file,
      "Read the password from the first line of FILE", "FILE" },
    { "server-id", 0, 0, G_OPTION_ARG_STRING, &server_id,
      "CPNS Server of a Temporary-Key delivery (default cpns-server)", "ID" },
    { "send-gw", 0, 0, G_OPTION_ARG_STRING, &send_gw,
      "Send TEXT to the PN GW (content type 0) and expect its echo", "TEXT" },
    { "send-server", 0, 0, G_OPTION_ARG_STRING, &send_server,
      "Send TEXT to the server (content type 0) and expect its echo", "TEXT" },
    { "queued", 0, 0, G_OPTION_ARG_STRING, &queued,
      "Send TEXT to the server (content type 1): ACK now, echo later", "TEXT" },
    { "count", 'c', 0, G_OPTION_ARG_INT, &count, "Repeat each exchange N times", "N" },
    { "mac-only", 0, 0, G_OPTION_ARG_NONE, &mac_only,
      "Send DATA as MAC-only records instead of encrypted ones", NULL },
    { "stay", 0, 0, G_OPTION_ARG_NONE, &stay_open,
      "Keep the link open until SIGTERM or SIGINT", NULL },
    { "timeout", 't', 0, G_OPTION_ARG_INT, &timeout,
      "Seconds to wait for each step (default 30)", "S" },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &json, "One JSON object per line", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- run a PNE against a PN GW");
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsKeystore) ks = NULL;
  g_autoptr(PneMachine) machine = NULL;
  g_autoptr(PneLink) link = NULL;
  PneConfig cfg = { 0 };
  int fd, code;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return usage_error ("%s", error->message);
  r.out.json = json;
  if (argc > 1)
    return usage_error ("unexpected argument '%s'", argv[1]);
  if (state_dir == NULL || entity_id == NULL || gateway == NULL)
    return usage_error ("run needs --state-dir, --entity-id and --gateway");
  if ((r.user != NULL) != (r.password_file != NULL) && !r.ui)
    return usage_error ("--user and --password-file go together (or use --ui)");
  if (r.password_file != NULL && r.ui)
    return usage_error ("--ui asks on the terminal; it excludes --password-file");
  if (count < 1 || timeout < 1 || timeout > 86400)
    return usage_error ("--count must be at least 1 and --timeout 1-86400 seconds");
  r.timeout_ms = timeout * 1000;

  ks = open_keystore (state_dir, TRUE, &error);
  if (ks == NULL || !check_owner (ks, entity_id, &error))
    return report (&r.out, error, EXIT_LOCAL);
  cfg.entity_id = entity_id;
  cfg.name = name;
  cfg.has_ui = r.ui || r.user != NULL;
  cfg.gateway_id = gateway_id;
  cfg.server_id = server_id;
  machine = pne_machine_new (&cfg, ks, &error);
  if (machine == NULL)
    return usage_error ("%s", error->message);
  r.machine = machine;

  fd = pne_link_connect (gateway, r.timeout_ms, &error);
  if (fd < 0)
    return report (&r.out, error, exit_code_for (error, FALSE));
  link = pne_link_new (fd, machine);
  r.link = link;
  if (!pne_link_run_until_ready (link, cfg.has_ui ? credentials : NULL, on_event, &r,
                                 r.timeout_ms, &error))
    return report (&r.out, error, exit_code_for (error, r.refused));

  for (int i = 1; i <= count; i++)
    {
      const char *gw = pne_machine_get_gateway_id (machine);
      const char *server = pne_machine_get_server_id (machine);

      if ((send_gw != NULL &&
           !exchange (&r, gw, 0, send_gw, !mac_only, i, &error)) ||
          ((send_server != NULL || queued != NULL) && !connect_server (&r, &error)) ||
          (send_server != NULL &&
           !exchange (&r, server, 0, send_server, !mac_only, i, &error)) ||
          (queued != NULL && !exchange (&r, server, 1, queued, !mac_only, i, &error)))
        {
          code = exit_code_for (error, r.refused);
          return report (&r.out, error, code);
        }
    }
  if (stay_open && !stay (&r, &error))
    return report (&r.out, error, exit_code_for (error, r.refused));
  return EXIT_OK;
}

/* ---- main ---- */

static void
print_help (FILE *f)
{
  fprintf (f,
           "Usage:\n"
           "  cpns-pne init --state-dir DIR --entity-id ID [--tk-kid HEX (--tk HEX | --tk-file F)]\n"
           "  cpns-pne run --state-dir DIR --entity-id ID --gateway HOST:PORT [OPTION...]\n"
           "  cpns-pne status --state-dir DIR [--json]\n"
           "  cpns-pne COMMAND --help\n"
           "\n"
           "A PNE (personal network element) of the Converged Personal Network Service.\n"
           "Exit status: 0 ok, 1 usage, 2 refused by the PN GW or the server,\n"
           "3 unreachable or timed out, 4 local or protocol error.  See cpns-pne(1).\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  /* A link the PN GW closed is an error to report, not a reason to die. */
  signal (SIGPIPE, SIG_IGN);
  if (argc < 2)
    {
      print_help (stderr);
      return EXIT_USAGE;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      print_help (stdout);
      return EXIT_OK;
    }
  if (strcmp (argv[1], "--version") == 0)
    {
      printf ("cpns-pne %s\n", PNGW_VERSION);
      return EXIT_OK;
    }
  if (strcmp (argv[1], "init") == 0)
    return cmd_init (argc - 1, argv + 1);
  if (strcmp (argv[1], "run") == 0)
    return cmd_run (argc - 1, argv + 1);
  if (strcmp (argv[1], "status") == 0)
    return cmd_status (argc - 1, argv + 1);
  return usage_error ("unknown command '%s'", argv[1]);
}
