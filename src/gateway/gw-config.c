/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-config.h"

#include <gio/gio.h>
#include <string.h>

#include "cpns-message.h"
#include "gw-error.h"

#define DEFAULT_STATE_DIR "/var/lib/pngw"
#define DEFAULT_SERVER_URL "https://localhost:8443/cpns/v1"
#define DEFAULT_SERVER_ID "cpns-server"

static const char *const default_akms[] = {
  "SAE", "FT-SAE", "WPA-PSK-SHA256", "WPA-PSK", "FT-PSK", "WPA-EAP", "WPA-EAP-SHA256", NULL,
};
static const char *const default_ciphers[] = {
  "CCMP", "CCMP-256", "GCMP", "GCMP-256", NULL,
};

const char *
gw_credential_mode_to_string (GwCredentialMode mode)
{
  return mode == GW_CREDENTIAL_PRECONFIGURED ? "preconfigured" : "enroll";
}

/* gw-<first 12 hex digits of the machine ID>, else gw-<host name>. */
static char *
default_entity_id (void)
{
  g_autofree char *machine_id = NULL;
  GString *id = g_string_new ("gw-");

  if (g_file_get_contents ("/etc/machine-id", &machine_id, NULL, NULL) &&
      strlen (g_strstrip (machine_id)) >= 12)
    g_string_append_len (id, machine_id, 12);
  else
    for (const char *p = g_get_host_name (); *p != '\0' && id->len < CPNS_ID_MAX; p++)
      g_string_append_c (id, g_ascii_isalnum (*p) || *p == '-' || *p == '.' ? *p : '-');
  return g_string_free (id, FALSE);
}

GwConfig *
gw_config_new_default (void)
{
  GwConfig *c = g_new0 (GwConfig, 1);

  c->entity_id = default_entity_id ();
  c->state_dir = g_strdup (DEFAULT_STATE_DIR);
  c->credential = GW_CREDENTIAL_ENROLL;
  c->server_url = g_strdup (DEFAULT_SERVER_URL);
  c->server_id = g_strdup (DEFAULT_SERVER_ID);
  c->connect_timeout = 10;
  c->request_timeout = 30;
  c->retry_min = 1;
  c->retry_max = 60;
  c->session_lifetime = 3600;
  c->wifi_secure_akms = g_strdupv ((char **) default_akms);
  c->wifi_secure_ciphers = g_strdupv ((char **) default_ciphers);
  c->bluetooth_min_security = GW_BT_SECURITY_MEDIUM;
  c->pan_listen = g_new0 (char *, 2);
  c->pan_listen[0] = g_strdup (GW_CONFIG_DEFAULT_PAN_LISTEN);
  c->pan_max_links = 4096;
  c->pan_idle_timeout = 300;
  c->pan_handshake_timeout = 30;
  c->pan_hostapd_control = g_new0 (char *, 1);
  c->pan_wpa_supplicant_control = g_new0 (char *, 1);
  c->pan_control_directory = g_strdup (GW_CONFIG_DEFAULT_CONTROL_DIRECTORY);
  return c;
}

void
gw_config_free (GwConfig *c)
{
  if (c == NULL)
    return;
  g_free (c->path);
  g_free (c->entity_id);
  g_free (c->state_dir);
  g_free (c->kek_file);
  g_free (c->credential_file);
  g_free (c->server_url);
  g_free (c->server_ca);
  g_free (c->server_id);
  g_strfreev (c->wifi_secure_akms);
  g_strfreev (c->wifi_secure_ciphers);
  g_strfreev (c->pan_listen);
  g_strfreev (c->pan_hostapd_control);
  g_strfreev (c->pan_wpa_supplicant_control);
  g_free (c->pan_control_directory);
  g_free (c);
}

char *
gw_config_keystore_path (const GwConfig *c)
{
  return g_build_filename (c->state_dir, "keystore", NULL);
}

/* ---- loading ---- */

typedef struct {
  GKeyFile   *kf;
  const char *path;
} Loader;

static gboolean
bad_value (Loader *l, const char *group, const char *key, const char *value,
           const char *expected, GError **error)
{
  g_set_error (error, GW_ERROR, GW_ERROR_CONFIG,
               "%s: [%s] %s = '%s' is not valid: expected %s", l->path, group, key,
               value, expected);
  return FALSE;
}

/* Fetches @key as a trimmed string; *value stays untouched when absent. */
static gboolean
get_string (Loader *l, const char *group, const char *key, char **value, GError **error)
{
  g_autoptr(GError) local = NULL;
  char *v = g_key_file_get_string (l->kf, group, key, &local);

  if (v == NULL)
    {
      if (g_error_matches (local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND) ||
          g_error_matches (local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND))
        return TRUE;
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG, "%s: [%s] %s: %s", l->path, group,
                   key, local->message);
      return FALSE;
    }
  g_free (*value);
  *value = g_strstrip (v);
  return TRUE;
}

static gboolean
get_path (Loader *l, const char *group, const char *key, char **value, gboolean empty_ok,
          GError **error)
{
  g_autofree char *v = NULL;

  if (!get_string (l, group, key, &v, error))
    return FALSE;
  if (v == NULL)
    return TRUE;
  if (*v == '\0' && empty_ok)
    {
      g_clear_pointer (value, g_free);
      return TRUE;
    }
  if (!g_path_is_absolute (v))
    return bad_value (l, group, key, v, "an absolute path", error);
  g_free (*value);
  *value = g_steal_pointer (&v);
  return TRUE;
}

static gboolean
get_uint (Loader *l, const char *group, const char *key, guint min, guint max,
          guint *value, GError **error)
{
  g_autofree char *v = NULL;
  g_autofree char *expected = NULL;
  guint64 n;

  if (!get_string (l, group, key, &v, error))
    return FALSE;
  if (v == NULL)
    return TRUE;
  expected = g_strdup_printf ("a whole number from %u to %u", min, max);
  if (!g_ascii_string_to_unsigned (v, 10, min, max, &n, NULL))
    return bad_value (l, group, key, v, expected, error);
  *value = n;
  return TRUE;
}

static gboolean
get_bool (Loader *l, const char *group, const char *key, gboolean *value, GError **error)
{
  g_autofree char *v = NULL;

  if (!get_string (l, group, key, &v, error))
    return FALSE;
  if (v == NULL)
    return TRUE;
  if (g_strcmp0 (v, "true") == 0)
    *value = TRUE;
  else if (g_strcmp0 (v, "false") == 0)
    *value = FALSE;
  else
    return bad_value (l, group, key, v, "true or false", error);
  return TRUE;
}

static gboolean
get_entity_id (Loader *l, const char *group, const char *key, char **value,
               GError **error)
{
  g_autofree char *v = NULL;

  if (!get_string (l, group, key, &v, error))
    return FALSE;
  if (v == NULL)
    return TRUE;
  if (!cpns_entity_id_is_valid (v, strlen (v)))
    return bad_value (l, group, key, v,
                      "an Entity ID of 1-64 characters from A-Z a-z 0-9 . _ - : @", error);
  g_free (*value);
  *value = g_steal_pointer (&v);
  return TRUE;
}

static gboolean
get_list (Loader *l, const char *group, const char *key, char ***value, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_auto(GStrv) v = g_key_file_get_string_list (l->kf, group, key, NULL, &local);

  if (v == NULL)
    {
      if (g_error_matches (local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND) ||
          g_error_matches (local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND))
        return TRUE;
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG, "%s: [%s] %s: %s", l->path, group,
                   key, local->message);
      return FALSE;
    }
  for (char **p = v; *p != NULL; p++)
    {
      g_strstrip (*p);
      for (const char *q = *p; *q != '\0'; q++)
        if (!g_ascii_isalnum (*q) && *q != '-' && *q != '_')
          return bad_value (l, group, key, *p, "names of letters, digits, - and _",
                            error);
    }
  g_strfreev (*value);
  *value = g_steal_pointer (&v);
  return TRUE;
}

/* A ';'-separated list, trimmed, without empty entries; *value stays
 * untouched when absent, and an empty value is an empty list. */
static gboolean
get_raw_list (Loader *l, const char *group, const char *key, char ***value,
              GError **error)
{
  g_autoptr(GError) local = NULL;
  g_auto(GStrv) v = g_key_file_get_string_list (l->kf, group, key, NULL, &local);
  GPtrArray *out;

  if (v == NULL)
    {
      if (g_error_matches (local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND) ||
          g_error_matches (local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND))
        return TRUE;
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG, "%s: [%s] %s: %s", l->path, group,
                   key, local->message);
      return FALSE;
    }
  out = g_ptr_array_new ();
  for (char **p = v; *p != NULL; p++)
    if (*g_strstrip (*p) != '\0')
      g_ptr_array_add (out, g_strdup (*p));
  g_ptr_array_add (out, NULL);
  g_strfreev (*value);
  *value = (char **) g_ptr_array_free (out, FALSE);
  return TRUE;
}

/* "ADDR:PORT" or "[IPV6]:PORT" with a numeric address and an explicit port
 * (":0" picks a free one), as gw_tcp_listener_add() takes them. */
static gboolean
get_listen (Loader *l, const char *group, const char *key, char ***value, GError **error)
{
  if (!get_raw_list (l, group, key, value, error))
    return FALSE;
  for (char **p = *value; *p != NULL; p++)
    {
      g_autoptr(GSocketConnectable) parsed = g_network_address_parse (*p, 0, NULL);
      g_autoptr(GInetAddress) ip = NULL;

      if (parsed != NULL)
        {
          const char *host = g_network_address_get_hostname (G_NETWORK_ADDRESS (parsed));
          ip = g_inet_address_new_from_string (host);
        }
      if (parsed == NULL || ip == NULL ||
          (g_network_address_get_port (G_NETWORK_ADDRESS (parsed)) == 0 &&
           !g_str_has_suffix (*p, ":0")))
        return bad_value (l, group, key, *p,
                          "numeric ADDRESS:PORT or [IPV6-ADDRESS]:PORT entries", error);
    }
  return TRUE;
}

#define IFNAME_MAX 15           /* IFNAMSIZ - 1 */
#define SUN_PATH_MAX 107        /* sizeof sockaddr_un.sun_path - 1 */
/* Room left in sun_path for gw_hostapd_request_async()'s own file name. */
#define CONTROL_DIRECTORY_MAX (SUN_PATH_MAX - 40)

/* Absolute paths of control sockets named after their interface. */
static gboolean
get_control_paths (Loader *l, const char *group, const char *key, char ***value,
                   GError **error)
{
  if (!get_raw_list (l, group, key, value, error))
    return FALSE;
  for (char **p = *value; *p != NULL; p++)
    {
      g_autofree char *base = g_path_get_basename (*p);
      gboolean ok = g_path_is_absolute (*p) && !g_str_has_suffix (*p, "/") &&
                    strlen (*p) <= SUN_PATH_MAX && strlen (base) <= IFNAME_MAX;

      for (const char *q = base; ok && *q != '\0'; q++)
        ok = g_ascii_isgraph (*q) && *q != ':';
      if (!ok)
        return bad_value (l, group, key, *p,
                          "absolute paths of control sockets named after their network "
                          "interface (e.g. /run/hostapd/wlan0)", error);
    }
  return TRUE;
}

/* One interface is either an access point or a station, and has one
 * control socket. */
static gboolean
check_control_interfaces (Loader *l, GwConfig *c, GError **error)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                      NULL);
  char **lists[] = { c->pan_hostapd_control, c->pan_wpa_supplicant_control };
  const char *keys[] = { "hostapd-control", "wpa-supplicant-control" };

  for (guint i = 0; i < G_N_ELEMENTS (lists); i++)
    for (char **p = lists[i]; *p != NULL; p++)
      {
        char *base = g_path_get_basename (*p);
        if (g_hash_table_contains (seen, base))
          {
            g_set_error (error, GW_ERROR, GW_ERROR_CONFIG,
                         "%s: [pan] %s = '%s' is not valid: interface %s already has a "
                         "control socket", l->path, keys[i], *p, base);
            g_free (base);
            return FALSE;
          }
        g_hash_table_add (seen, base);
      }
  return TRUE;
}

static const char *const known_keys[] = {
  "gateway/entity-id", "gateway/state-directory", "gateway/kek-file",
  "gateway/credential", "gateway/credential-file",
  "server/url", "server/ca-file", "server/entity-id", "server/allow-insecure-http",
  "server/connect-timeout", "server/request-timeout", "server/retry-min",
  "server/retry-max", "server/session-lifetime",
  "pan/wired-is-secure", "pan/wifi-secure-key-management", "pan/wifi-secure-ciphers",
  "pan/bluetooth-min-security", "pan/listen", "pan/max-links", "pan/idle-timeout",
  "pan/handshake-timeout", "pan/hostapd-control", "pan/wpa-supplicant-control",
  "pan/control-directory",
  NULL,
};

/* Misspelt keys would otherwise be ignored without a word. */
static gboolean
check_known (Loader *l, GError **error)
{
  g_auto(GStrv) groups = g_key_file_get_groups (l->kf, NULL);

  for (char **g = groups; *g != NULL; g++)
    {
      g_auto(GStrv) keys = g_key_file_get_keys (l->kf, *g, NULL, NULL);
      for (char **k = keys; k != NULL && *k != NULL; k++)
        {
          g_autofree char *name = g_strdup_printf ("%s/%s", *g, *k);
          if (!g_strv_contains (known_keys, name))
            {
              g_set_error (error, GW_ERROR, GW_ERROR_CONFIG,
                           "%s: unknown key '%s' in group [%s]", l->path, *k, *g);
              return FALSE;
            }
        }
    }
  return TRUE;
}

static gboolean
check_url (Loader *l, GwConfig *c, GError **error)
{
  g_autoptr(GUri) uri = g_uri_parse (c->server_url, G_URI_FLAGS_NONE, NULL);
  const char *scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;

  if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
    return bad_value (l, "server", "url", c->server_url, "an absolute https:// URL", error);
  if (g_strcmp0 (scheme, "https") != 0 &&
      !(g_strcmp0 (scheme, "http") == 0 && c->allow_insecure_http))
    return bad_value (l, "server", "url", c->server_url,
                      "an https:// URL (http:// only with allow-insecure-http = true)",
                      error);
  return TRUE;
}

GwConfig *
gw_config_load (const char *path, gboolean missing_ok, GError **error)
{
  g_autoptr(GwConfig) c = gw_config_new_default ();
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) local = NULL;
  g_autofree char *credential = NULL;
  g_autofree char *bt = NULL;
  Loader l = { kf, path };

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local))
    {
      if (missing_ok && g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&c);
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG, "cannot read configuration %s: %s",
                   path, local->message);
      return NULL;
    }
  c->path = g_strdup (path);

  if (!check_known (&l, error) ||
      !get_entity_id (&l, "gateway", "entity-id", &c->entity_id, error) ||
      !get_path (&l, "gateway", "state-directory", &c->state_dir, FALSE, error) ||
      !get_path (&l, "gateway", "kek-file", &c->kek_file, TRUE, error) ||
      !get_string (&l, "gateway", "credential", &credential, error) ||
      !get_path (&l, "gateway", "credential-file", &c->credential_file, TRUE, error) ||
      !get_string (&l, "server", "url", &c->server_url, error) ||
      !get_path (&l, "server", "ca-file", &c->server_ca, TRUE, error) ||
      !get_entity_id (&l, "server", "entity-id", &c->server_id, error) ||
      !get_bool (&l, "server", "allow-insecure-http", &c->allow_insecure_http, error) ||
      !get_uint (&l, "server", "connect-timeout", 1, 300, &c->connect_timeout, error) ||
      !get_uint (&l, "server", "request-timeout", 1, 3600, &c->request_timeout, error) ||
      !get_uint (&l, "server", "retry-min", 1, 3600, &c->retry_min, error) ||
      !get_uint (&l, "server", "retry-max", 1, 86400, &c->retry_max, error) ||
      !get_uint (&l, "server", "session-lifetime", 60, 7 * 86400, &c->session_lifetime,
                 error) ||
      !get_bool (&l, "pan", "wired-is-secure", &c->wired_is_secure, error) ||
      !get_list (&l, "pan", "wifi-secure-key-management", &c->wifi_secure_akms, error) ||
      !get_list (&l, "pan", "wifi-secure-ciphers", &c->wifi_secure_ciphers, error) ||
      !get_string (&l, "pan", "bluetooth-min-security", &bt, error) ||
      !get_listen (&l, "pan", "listen", &c->pan_listen, error) ||
      !get_uint (&l, "pan", "max-links", 1, 65535, &c->pan_max_links, error) ||
      !get_uint (&l, "pan", "idle-timeout", 1, 86400, &c->pan_idle_timeout, error) ||
      !get_uint (&l, "pan", "handshake-timeout", 1, 3600, &c->pan_handshake_timeout,
                 error) ||
      !get_control_paths (&l, "pan", "hostapd-control", &c->pan_hostapd_control, error) ||
      !get_control_paths (&l, "pan", "wpa-supplicant-control",
                          &c->pan_wpa_supplicant_control, error) ||
      !get_path (&l, "pan", "control-directory", &c->pan_control_directory, FALSE, error) ||
      !check_control_interfaces (&l, c, error))
    return NULL;
  if (strlen (c->pan_control_directory) > CONTROL_DIRECTORY_MAX)
    {
      g_autofree char *expected =
        g_strdup_printf ("an absolute path of at most %d bytes (a UNIX socket's name is "
                         "bound below it)", CONTROL_DIRECTORY_MAX);
      bad_value (&l, "pan", "control-directory", c->pan_control_directory, expected,
                 error);
      return NULL;
    }

  if (credential != NULL)
    {
      if (g_strcmp0 (credential, "enroll") == 0)
        c->credential = GW_CREDENTIAL_ENROLL;
      else if (g_strcmp0 (credential, "preconfigured") == 0)
        c->credential = GW_CREDENTIAL_PRECONFIGURED;
      else
        {
          bad_value (&l, "gateway", "credential", credential, "enroll or preconfigured",
                     error);
          return NULL;
        }
    }
  if (c->credential == GW_CREDENTIAL_PRECONFIGURED && c->credential_file == NULL)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG,
                   "%s: [gateway] credential = preconfigured needs credential-file", path);
      return NULL;
    }
  if (bt != NULL)
    {
      static const char *const levels[] = { "low", "medium", "high", "fips", NULL };
      guint i;
      for (i = 0; levels[i] != NULL && g_strcmp0 (levels[i], bt) != 0; i++)
        ;
      if (levels[i] == NULL)
        {
          bad_value (&l, "pan", "bluetooth-min-security", bt, "low, medium, high or fips",
                     error);
          return NULL;
        }
      c->bluetooth_min_security = GW_BT_SECURITY_LOW + i;
    }
  if (c->retry_min > c->retry_max)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG,
                   "%s: [server] retry-min (%u) is larger than retry-max (%u)", path,
                   c->retry_min, c->retry_max);
      return NULL;
    }
  if (!check_url (&l, c, error))
    return NULL;
  if (g_strcmp0 (c->entity_id, c->server_id) == 0)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG,
                   "%s: [gateway] entity-id and [server] entity-id are both '%s'", path,
                   c->entity_id);
      return NULL;
    }
  return g_steal_pointer (&c);
}
