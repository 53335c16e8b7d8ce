/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-config.h"

#include <stdlib.h>
#include <string.h>

#include "cpns-message.h"
#include "cpns-srp.h"

typedef enum {
  VALUE_PATH,       /* non-empty text */
  VALUE_OPT_PATH,   /* text, empty for none */
  VALUE_BOOL,
  VALUE_UINT,
  VALUE_ENTITY_ID,
  VALUE_BASE_PATH,
  VALUE_LISTEN,     /* list of ADDR:PORT */
} ValueType;

typedef struct {
  const char *group;
  const char *key;
  ValueType   type;
  gsize       offset;
  guint       min, max;
} KeySpec;

#define FIELD(f) G_STRUCT_OFFSET (SrvConfig, f)

static const KeySpec keys[] = {
  { "server", "listen", VALUE_LISTEN, FIELD (listen), 0, 0 },
  { "server", "certificate", VALUE_OPT_PATH, FIELD (certificate), 0, 0 },
  { "server", "private-key", VALUE_OPT_PATH, FIELD (private_key), 0, 0 },
  { "server", "insecure-http", VALUE_BOOL, FIELD (insecure_http), 0, 0 },
  { "server", "entity-id", VALUE_ENTITY_ID, FIELD (entity_id), 0, 0 },
  { "server", "base-path", VALUE_BASE_PATH, FIELD (base_path), 0, 0 },
  { "server", "database", VALUE_PATH, FIELD (database), 0, 0 },
  { "sessions", "session-lifetime", VALUE_UINT, FIELD (session_lifetime), 1, 7 * 86400 },
  { "sessions", "poll-timeout", VALUE_UINT, FIELD (poll_timeout), 1, 600 },
  { "sessions", "max-sessions", VALUE_UINT, FIELD (max_sessions), 1, 10000000 },
  { "enrolment", "default-iterations", VALUE_UINT, FIELD (default_iterations),
    CPNS_SRP_MIN_ITERATIONS, CPNS_SRP_MAX_ITERATIONS },
  { "enrolment", "user-failures", VALUE_UINT, FIELD (user_failures), 1, 1000 },
  { "enrolment", "address-failures", VALUE_UINT, FIELD (address_failures), 1, 100000 },
  { "enrolment", "failure-window", VALUE_UINT, FIELD (failure_window), 1, 86400 },
};

SrvConfig *
srv_config_new (void)
{
  SrvConfig *c = g_new0 (SrvConfig, 1);
  static const char *const listen[] = { "0.0.0.0:8443", "[::]:8443", NULL };

  c->listen = g_strdupv ((char **) listen);
  c->certificate = g_strdup ("/etc/cpns/server.crt");
  c->private_key = g_strdup ("/etc/cpns/server.key");
  c->insecure_http = FALSE;
  c->entity_id = g_strdup ("cpns-server");
  c->base_path = g_strdup ("/cpns/v1");
  c->database = g_strdup ("/var/lib/cpns-server/cpns.db");
  c->session_lifetime = 3600;
  c->poll_timeout = 25;
  c->max_sessions = 100000;
  c->default_iterations = CPNS_SRP_DEFAULT_ITERATIONS;
  c->user_failures = 5;
  c->address_failures = 20;
  c->failure_window = 300;
  return c;
}

void
srv_config_free (SrvConfig *c)
{
  if (c == NULL)
    return;
  g_strfreev (c->listen);
  g_free (c->certificate);
  g_free (c->private_key);
  g_free (c->entity_id);
  g_free (c->base_path);
  g_free (c->database);
  g_free (c);
}

GSocketAddress *
srv_config_parse_listen (const char *text, GError **error)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) address = NULL;
  const char *colon, *port_text;
  guint64 port;

  if (text[0] == '[')
    {
      const char *close = strchr (text, ']');
      if (close == NULL || close[1] != ':')
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "an IPv6 address is written [ADDRESS]:PORT");
          return NULL;
        }
      host = g_strndup (text + 1, close - text - 1);
      port_text = close + 2;
    }
  else
    {
      colon = strrchr (text, ':');
      if (colon == NULL || memchr (text, ':', colon - text) != NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "expected ADDRESS:PORT, or [IPV6-ADDRESS]:PORT");
          return NULL;
        }
      host = g_strndup (text, colon - text);
      port_text = colon + 1;
    }
  address = g_inet_address_new_from_string (host);
  if (address == NULL ||
      (text[0] == '[') != (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "'%s' is not a numeric IPv4 address or a bracketed IPv6 address",
                   host);
      return NULL;
    }
  if (!g_ascii_string_to_unsigned (port_text, 10, 0, 65535, &port, NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "port '%s' is not a number from 0 to 65535", port_text);
      return NULL;
    }
  return g_inet_socket_address_new (address, (guint16) port);
}

static gboolean
parse_bool (const char *value, gboolean *out)
{
  static const char *const yes[] = { "true", "yes", "1", NULL };
  static const char *const no[] = { "false", "no", "0", NULL };

  for (guint i = 0; yes[i] != NULL; i++)
    if (g_ascii_strcasecmp (value, yes[i]) == 0)
      {
        *out = TRUE;
        return TRUE;
      }
  for (guint i = 0; no[i] != NULL; i++)
    if (g_ascii_strcasecmp (value, no[i]) == 0)
      {
        *out = FALSE;
        return TRUE;
      }
  return FALSE;
}

/* Parses @value for @spec into @c; on failure a reason in *@reason. */
static gboolean
parse_value (SrvConfig *c, const KeySpec *spec, const char *value, char **reason)
{
  gpointer field = G_STRUCT_MEMBER_P (c, spec->offset);
  guint64 number;
  gsize len = strlen (value);

  switch (spec->type)
    {
    case VALUE_PATH:
    case VALUE_OPT_PATH:
      if (spec->type == VALUE_PATH && len == 0)
        {
          *reason = g_strdup ("a path is needed");
          return FALSE;
        }
      g_free (*(char **) field);
      *(char **) field = g_strdup (value);
      return TRUE;
    case VALUE_BOOL:
      if (!parse_bool (value, (gboolean *) field))
        {
          *reason = g_strdup ("expected true or false");
          return FALSE;
        }
      return TRUE;
    case VALUE_UINT:
      if (!g_ascii_string_to_unsigned (value, 10, spec->min, spec->max, &number, NULL))
        {
          *reason = g_strdup_printf ("expected a whole number from %u to %u", spec->min,
                                     spec->max);
          return FALSE;
        }
      *(guint *) field = (guint) number;
      return TRUE;
    case VALUE_ENTITY_ID:
      if (!cpns_entity_id_is_valid (value, len))
        {
          *reason = g_strdup_printf ("an Entity ID is 1-%d characters of "
                                     "A-Z a-z 0-9 . _ - : @", CPNS_ID_MAX);
          return FALSE;
        }
      if (strcmp (value, CPNS_PAN_GATEWAY_ID) == 0)
        {
          *reason = g_strdup ("'" CPNS_PAN_GATEWAY_ID "' is a reserved ID (protocol.md "
                              "12.1) and names no entity");
          return FALSE;
        }
      g_free (*(char **) field);
      *(char **) field = g_strdup (value);
      return TRUE;
    case VALUE_BASE_PATH:
      if (len > 0 && (value[0] != '/' || strstr (value, "//") != NULL ||
                      strpbrk (value, "?#% ") != NULL))
        {
          *reason = g_strdup ("expected an absolute URL path such as /cpns/v1, "
                              "or nothing");
          return FALSE;
        }
      g_free (*(char **) field);
      /* "/cpns/v1/" and "/cpns/v1" name the same endpoints; "/" is the root. */
      *(char **) field = g_strndup (value, len > 0 && value[len - 1] == '/' ? len - 1
                                                                             : len);
      return TRUE;
    case VALUE_LISTEN:
    default:
      g_assert_not_reached ();
    }
}

static const KeySpec *
find_key (const char *group, const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    if (strcmp (keys[i].group, group) == 0 && strcmp (keys[i].key, key) == 0)
      return &keys[i];
  return NULL;
}

static gboolean
bad_value (const char *source, const char *value, const char *reason, GError **error)
{
  g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
               "%s: bad value '%s': %s", source, value, reason);
  return FALSE;
}

gboolean
srv_config_set (SrvConfig *c, const char *group, const char *key, const char *value,
                const char *source, GError **error)
{
  const KeySpec *spec = find_key (group, key);
  g_autofree char *reason = NULL;

  g_return_val_if_fail (spec != NULL && spec->type != VALUE_LISTEN, FALSE);
  if (!parse_value (c, spec, value, &reason))
    return bad_value (source, value, reason, error);
  return TRUE;
}

gboolean
srv_config_set_listen (SrvConfig *c, const char *const *listen, const char *source,
                       GError **error)
{
  if (listen == NULL || listen[0] == NULL)
    return bad_value (source, "", "at least one ADDRESS:PORT is needed", error);
  for (guint i = 0; listen[i] != NULL; i++)
    {
      g_autoptr(GSocketAddress) address = NULL;
      g_autoptr(GError) local = NULL;

      address = srv_config_parse_listen (listen[i], &local);
      if (address == NULL)
        return bad_value (source, listen[i], local->message, error);
    }
  g_strfreev (c->listen);
  c->listen = g_strdupv ((char **) listen);
  return TRUE;
}

static gboolean
load_key (SrvConfig *c, GKeyFile *kf, const char *path, const char *group,
          const char *key, GError **error)
{
  const KeySpec *spec = find_key (group, key);
  g_autofree char *source = g_strdup_printf ("%s: [%s] %s", path, group, key);
  g_autoptr(GError) local = NULL;

  if (spec == NULL)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                   "%s: unknown key", source);
      return FALSE;
    }
  if (spec->type == VALUE_LISTEN)
    {
      g_auto(GStrv) list = g_key_file_get_string_list (kf, group, key, NULL, &local);
      if (list == NULL)
        {
          g_autofree char *raw = g_key_file_get_value (kf, group, key, NULL);
          return bad_value (source, raw != NULL ? raw : "", local->message, error);
        }
      return srv_config_set_listen (c, (const char *const *) list, source, error);
    }
  else
    {
      g_autofree char *value = g_key_file_get_string (kf, group, key, &local);
      g_autofree char *reason = NULL;

      if (value == NULL)
        {
          g_autofree char *raw = g_key_file_get_value (kf, group, key, NULL);
          return bad_value (source, raw != NULL ? raw : "", local->message, error);
        }
      g_strstrip (value);
      if (!parse_value (c, spec, value, &reason))
        return bad_value (source, value, reason, error);
      return TRUE;
    }
}

gboolean
srv_config_load_file (SrvConfig *c, const char *path, gboolean must_exist,
                      GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) local = NULL;
  g_auto(GStrv) groups = NULL;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local))
    {
      if (!must_exist && g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_set_error (error, local->domain, local->code, "%s: %s", path, local->message);
      return FALSE;
    }
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_auto(GStrv) names = g_key_file_get_keys (kf, groups[i], NULL, NULL);
      gboolean known = FALSE;

      for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
        known = known || strcmp (keys[k].group, groups[i]) == 0;
      if (!known)
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                       "%s: unknown group [%s] (known: [server], [sessions], "
                       "[enrolment])", path, groups[i]);
          return FALSE;
        }
      for (guint k = 0; names != NULL && names[k] != NULL; k++)
        if (!load_key (c, kf, path, groups[i], names[k], error))
          return FALSE;
    }
  return TRUE;
}

gboolean
srv_config_check (SrvConfig *c, GError **error)
{
  if (!c->insecure_http &&
      (c->certificate == NULL || c->certificate[0] == '\0' ||
       c->private_key == NULL || c->private_key[0] == '\0'))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "[server] certificate and private-key are needed for HTTPS "
                   "(plain HTTP only with insecure-http=true, for debugging)");
      return FALSE;
    }
  return TRUE;
}
