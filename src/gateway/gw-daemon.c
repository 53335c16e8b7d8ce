/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-daemon.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "cpns-error.h"
#include "cpns-keystore.h"
#include "gw-enrollment.h"
#include "gw-error.h"
#include "gw-pne-manager.h"
#include "gw-tcp-listener.h"
#include "gw-upstream.h"


struct _GwDaemon {
  GObject       parent_instance;

  GwConfig     *config;
  CpnsKeystore *keystore;
  GwUpstream   *upstream;
  GwServerLink *link;
  GwState       state;
  char         *last_error;
  GwEnrollment *enrollment;
  GwPneManager *pnes;
  GwTcpListener *listener;
};

enum {
  PROP_0,
  PROP_STATE,
  PROP_LAST_ERROR,
  N_PROPS
};
static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE (GwDaemon, gw_daemon, G_TYPE_OBJECT)

const char *
gw_state_to_string (GwState state)
{
  switch (state)
    {
    case GW_STATE_UNENROLLED: return "unenrolled";
    case GW_STATE_ENROLLING: return "enrolling";
    case GW_STATE_ENROLLED: return "enrolled";
    case GW_STATE_FAILED: return "failed";
    }
  return "unknown";
}

static void
set_state (GwDaemon *self, GwState state, const char *error_message)
{
  if (g_strcmp0 (self->last_error, error_message) != 0)
    {
      g_free (self->last_error);
      self->last_error = g_strdup (error_message);
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LAST_ERROR]);
    }
  if (self->state == state)
    return;
  self->state = state;
  if (self->pnes != NULL)
    gw_pne_manager_set_enrolled (self->pnes, state == GW_STATE_ENROLLED);
  if (error_message != NULL)
    g_message ("state: %s (%s)", gw_state_to_string (state), error_message);
  else
    g_message ("state: %s", gw_state_to_string (state));
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
}

GwState gw_daemon_get_state (GwDaemon *self) { return self->state; }
const char *gw_daemon_get_last_error (GwDaemon *self) { return self->last_error; }
const GwConfig *gw_daemon_get_config (GwDaemon *self) { return self->config; }
GwServerLink *gw_daemon_get_link (GwDaemon *self) { return self->link; }
GwPneManager *gw_daemon_get_pne_manager (GwDaemon *self) { return self->pnes; }

static void
on_pan_link (GwTcpListener *listener, GwPanLink *link, gpointer user_data)
{
  GwDaemon *self = user_data;

  gw_pne_manager_add_link (self->pnes, link);
}

/* PNEs on Wi-Fi or wired IP: [pan] listen. */
static gboolean
start_pan (GwDaemon *self, GError **error)
{
  const GwConfig *c = self->config;

  self->pnes = gw_pne_manager_new (c, self->keystore, self->upstream, self->link);
  gw_pne_manager_set_enrolled (self->pnes, self->state == GW_STATE_ENROLLED);
  if (c->pan_listen == NULL || c->pan_listen[0] == NULL)
    return TRUE;
  self->listener = gw_tcp_listener_new (c->pan_max_links, c->pan_idle_timeout);
  for (guint i = 0; c->pan_listen[i] != NULL; i++)
    {
      guint16 port = 0;
      if (!gw_tcp_listener_add (self->listener, c->pan_listen[i], &port, error))
        {
          g_prefix_error (error, "[pan] listen: ");
          return FALSE;
        }
      g_message ("listening for PNEs on %s (port %u)", c->pan_listen[i], port);
    }
  g_signal_connect (self->listener, "link", G_CALLBACK (on_pan_link), self);
  gw_tcp_listener_start (self->listener);
  return TRUE;
}

static void
use_key (GwDaemon *self, const CpnsKeyEntry *entry)
{
  CpnsPsk psk;

  cpns_key_entry_to_psk (entry, &psk);
  gw_server_link_set_psk (self->link, &psk);
  cpns_wipe (&psk, sizeof psk);
}

/* ---- pre-configured credential ---- */

static gboolean
hex_value (GKeyFile *kf, const char *path, const char *key, gsize min, gsize max,
           CpnsSecret **out, GError **error)
{
  g_autofree char *hex = g_key_file_get_string (kf, "credential", key, NULL);
  gsize len = hex != NULL ? strlen (g_strstrip (hex)) : 0;
  g_autoptr(CpnsSecret) value = NULL;

  if (hex == NULL || len % 2 != 0 || len / 2 < min || len / 2 > max)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG,
                   "%s: [credential] %s must be %" G_GSIZE_FORMAT "-%" G_GSIZE_FORMAT
                   " bytes in hexadecimal", path, key, min, max);
      if (hex != NULL)
        cpns_wipe (hex, strlen (hex));
      return FALSE;
    }
  value = cpns_secret_new0 (len / 2);
  for (gsize i = 0; i < len / 2; i++)
    {
      int hi = g_ascii_xdigit_value (hex[2 * i]), lo = g_ascii_xdigit_value (hex[2 * i + 1]);
      if (hi < 0 || lo < 0)
        {
          cpns_wipe (hex, len);
          g_set_error (error, GW_ERROR, GW_ERROR_CONFIG,
                       "%s: [credential] %s is not hexadecimal", path, key);
          return FALSE;
        }
      value->data[i] = hi << 4 | lo;
    }
  cpns_wipe (hex, len);
  *out = g_steal_pointer (&value);
  return TRUE;
}

/* An operator-provisioned EUKey: a GKeyFile readable only by its owner,
 *   [credential]  key-id = HEX   key = HEX   user-id = TEXT (optional) */
static CpnsKeyEntry *
load_credential (GwDaemon *self, GError **error)
{
  const char *path = self->config->credential_file;
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(CpnsKeyEntry) entry = g_new0 (CpnsKeyEntry, 1);
  g_autoptr(CpnsSecret) kid = NULL;
  g_autofree char *entity = NULL;
  g_autofree char *data = NULL;
  gsize len = 0;
  struct stat st;

  if (stat (path, &st) != 0)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG, "credential file %s: %s", path,
                   g_strerror (errno));
      return NULL;
    }
  if ((st.st_mode & 0077) != 0)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG,
                   "credential file %s may be read by others (mode %04o); it must be 0600",
                   path, st.st_mode & 07777);
      return NULL;
    }
  if (!g_file_get_contents (path, &data, &len, error) ||
      !g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, error))
    {
      if (data != NULL)
        cpns_wipe (data, len);
      g_prefix_error (error, "credential file %s: ", path);
      return NULL;
    }
  cpns_wipe (data, len);
  entity = g_key_file_get_string (kf, "credential", "entity-id", NULL);
  if (entity != NULL && g_strcmp0 (g_strstrip (entity), self->config->entity_id) != 0)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG,
                   "credential file %s is for '%s', but this gateway is '%s'", path,
                   entity, self->config->entity_id);
      return NULL;
    }
  if (!hex_value (kf, path, "key-id", 1, CPNS_KID_MAX, &kid, error) ||
      !hex_value (kf, path, "key", CPNS_PSK_MIN, CPNS_PSK_MAX, &entry->key, error))
    return NULL;
  entry->name = g_strdup (GW_EUKEY_ENTRY);
  entry->kind = CPNS_KEY_EUKEY;
  entry->self_id = g_strdup (self->config->entity_id);
  entry->peer_id = g_strdup (self->config->server_id);
  entry->user_id = g_key_file_get_string (kf, "credential", "user-id", NULL);
  memcpy (entry->kid, kid->data, kid->len);
  entry->kid_len = kid->len;
  entry->role = CPNS_ROLE_INITIATOR;
  entry->created = st.st_mtime;
  return g_steal_pointer (&entry);
}

static gboolean
same_key (const CpnsKeyEntry *a, const CpnsKeyEntry *b)
{
  return a != NULL && b != NULL && a->kid_len == b->kid_len &&
         memcmp (a->kid, b->kid, a->kid_len) == 0 && a->key->len == b->key->len &&
         cpns_ct_equal (a->key->data, b->key->data, a->key->len) &&
         g_strcmp0 (a->self_id, b->self_id) == 0 && g_strcmp0 (a->peer_id, b->peer_id) == 0;
}

/* ---- lifecycle ---- */

static char *
kek_path (const GwConfig *config)
{
  const char *creds = g_getenv ("CREDENTIALS_DIRECTORY");

  if (config->kek_file != NULL)
    return g_strdup (config->kek_file);
  /* systemd's LoadCredential= keeps the key-encryption key out of the
   * state directory. */
  if (creds != NULL)
    {
      g_autofree char *p = g_build_filename (creds, "pngw-kek", NULL);
      if (g_file_test (p, G_FILE_TEST_EXISTS))
        return g_steal_pointer (&p);
    }
  return g_build_filename (config->state_dir, "kek", NULL);
}

gboolean
gw_daemon_start (GwDaemon *self, GError **error)
{
  g_autofree char *path = gw_config_keystore_path (self->config);
  g_autofree char *kek = kek_path (self->config);
  g_autoptr(GError) local = NULL;
  const CpnsKeyEntry *entry;

  self->keystore = cpns_keystore_open (path, kek, TRUE, &local);
  if (self->keystore == NULL)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_KEYSTORE, "%s", local->message);
      return FALSE;
    }
  if (self->config->credential == GW_CREDENTIAL_PRECONFIGURED)
    {
      g_autoptr(CpnsKeyEntry) cred = load_credential (self, error);
      if (cred == NULL)
        return FALSE;
      if (!same_key (cred, cpns_keystore_lookup (self->keystore, GW_EUKEY_ENTRY)))
        {
          if (!cpns_keystore_set (self->keystore, cred, &local) ||
              !cpns_keystore_save (self->keystore, &local))
            {
              g_set_error (error, GW_ERROR, GW_ERROR_KEYSTORE, "%s", local->message);
              return FALSE;
            }
          g_message ("pre-configured credential imported from %s",
                     self->config->credential_file);
        }
    }
  entry = cpns_keystore_lookup (self->keystore, GW_EUKEY_ENTRY);
  g_message ("gateway %s, server %s at %s, credential: %s", self->config->entity_id,
             self->config->server_id, self->config->server_url,
             gw_credential_mode_to_string (self->config->credential));
  if (entry != NULL)
    {
      set_state (self, GW_STATE_ENROLLED, NULL);
      use_key (self, entry);
    }
  else
    set_state (self, GW_STATE_UNENROLLED, NULL);
  return start_pan (self, error);
}

void
gw_daemon_stop (GwDaemon *self)
{
  if (self->listener != NULL)
    gw_tcp_listener_stop (self->listener);
  if (self->pnes != NULL)
    gw_pne_manager_stop (self->pnes);
  g_clear_object (&self->enrollment);
  gw_server_link_set_psk (self->link, NULL);
}

/* ---- enrolment ---- */

static void
on_enrolled (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GwDaemon *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsKeyEntry) entry = NULL;

  entry = gw_enrollment_run_finish (GW_ENROLLMENT (source), result, &error);
  if (self->enrollment == GW_ENROLLMENT (source))
    g_clear_object (&self->enrollment);
  if (entry == NULL)
    {
      /* A failed attempt leaves an existing key alone. */
      set_state (self, cpns_keystore_lookup (self->keystore, GW_EUKEY_ENTRY) != NULL ?
                 GW_STATE_ENROLLED : GW_STATE_FAILED, error->message);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* Written atomically: a crash leaves the old keystore or the new one. */
  if (!cpns_keystore_set (self->keystore, entry, &error) ||
      !cpns_keystore_save (self->keystore, &error))
    {
      set_state (self, GW_STATE_FAILED, error->message);
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_KEYSTORE, "%s", error->message);
      return;
    }
  g_message ("enrolled as %s for user %s", entry->self_id, entry->user_id);
  set_state (self, GW_STATE_ENROLLED, NULL);
  use_key (self, entry);
  g_task_return_boolean (task, TRUE);
}

static void
on_enrollment_retrying (GwEnrollment *enrollment, const char *why, gpointer user_data)
{
  set_state (user_data, GW_STATE_ENROLLING, why);
}

void
gw_daemon_enroll_async (GwDaemon *self, const char *user_id, const guint8 *password,
                        gsize password_len, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, gw_daemon_enroll_async);
  if (self->keystore == NULL)
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_FAILED, "the gateway is not started");
      return;
    }
  if (self->config->credential == GW_CREDENTIAL_PRECONFIGURED)
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_FAILED,
                               "this gateway uses a pre-configured credential; "
                               "it is not enrolled by a user");
      return;
    }
  if (self->enrollment != NULL)
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_BUSY,
                               "an enrolment is already running");
      return;
    }
  set_state (self, GW_STATE_ENROLLING, NULL);
  self->enrollment = gw_enrollment_new (self->upstream, self->config, NULL, user_id,
                                        password, password_len);
  g_signal_connect (self->enrollment, "retrying", G_CALLBACK (on_enrollment_retrying), self);
  gw_enrollment_run_async (self->enrollment, cancellable, on_enrolled,
                           g_steal_pointer (&task));
}

gboolean
gw_daemon_enroll_finish (GwDaemon *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- forgetting ---- */

static void
on_released (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GwDaemon *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) reply = NULL;
  guint64 type = 0;

  reply = gw_server_link_request_finish (GW_SERVER_LINK (source), result, &type, &error);
  if (error != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (type != CPNS_MSG_ACK)
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_SERVER_REFUSED,
                               "the server did not acknowledge the release");
      return;
    }
  gw_server_link_set_psk (self->link, NULL);
  cpns_keystore_remove (self->keystore, GW_EUKEY_ENTRY);
  if (!cpns_keystore_save (self->keystore, &error))
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_KEYSTORE, "%s", error->message);
      return;
    }
  g_message ("released by the server; the gateway's key is deleted");
  set_state (self, GW_STATE_UNENROLLED, NULL);
  g_task_return_boolean (task, TRUE);
}

void
gw_daemon_forget_async (GwDaemon *self, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  CpnsBody body = { .present = 1u << 1 };
  guint8 buf[128];
  gsize len;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  g_task_set_source_tag (task, gw_daemon_forget_async);
  if (self->keystore == NULL || cpns_keystore_lookup (self->keystore, GW_EUKEY_ENTRY) == NULL)
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_NOT_ENROLLED,
                               "the gateway has no key to forget");
      return;
    }
  if (self->enrollment != NULL)
    {
      g_task_return_new_error (task, GW_ERROR, GW_ERROR_BUSY,
                               "an enrolment is running");
      return;
    }
  body.pne_ref.pne = CPNS_STR (self->config->entity_id);
  len = cpns_body_encode (CPNS_MSG_PNE_RELEASE, &body, buf, sizeof buf, &error);
  if (len == 0)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  bytes = g_bytes_new (buf, len);
  gw_server_link_request_async (self->link, CPNS_MSG_PNE_RELEASE, bytes, TRUE, cancellable,
                                on_released, g_steal_pointer (&task));
}

gboolean
gw_daemon_forget_finish (GwDaemon *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

const char *
gw_daemon_get_user_id (GwDaemon *self)
{
  const CpnsKeyEntry *e = self->keystore != NULL ?
                          cpns_keystore_lookup (self->keystore, GW_EUKEY_ENTRY) : NULL;

  return e != NULL ? e->user_id : NULL;
}

/* ---- object ---- */

GwDaemon *
gw_daemon_new (GwConfig *config, GError **error)
{
  g_autoptr(GwDaemon) self = g_object_new (GW_TYPE_DAEMON, NULL);
  g_autoptr(GError) local = NULL;

  self->config = config;
  self->upstream = gw_upstream_new (config->server_url, config->server_ca, &local);
  if (self->upstream == NULL)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG, "%s", local->message);
      return NULL;
    }
  gw_upstream_set_allow_insecure (self->upstream, config->allow_insecure_http);
  gw_upstream_set_timeouts (self->upstream, config->connect_timeout * 1000,
                            config->request_timeout * 1000);
  self->link = gw_server_link_new (self->upstream, config);
  return g_steal_pointer (&self);
}

static void
gw_daemon_dispose (GObject *object)
{
  GwDaemon *self = GW_DAEMON (object);

  g_clear_object (&self->enrollment);
  g_clear_object (&self->listener);
  g_clear_object (&self->pnes);
  g_clear_object (&self->link);
  g_clear_object (&self->upstream);
  G_OBJECT_CLASS (gw_daemon_parent_class)->dispose (object);
}

static void
gw_daemon_finalize (GObject *object)
{
  GwDaemon *self = GW_DAEMON (object);

  g_clear_pointer (&self->keystore, cpns_keystore_free);
  g_clear_pointer (&self->config, gw_config_free);
  g_free (self->last_error);
  G_OBJECT_CLASS (gw_daemon_parent_class)->finalize (object);
}

static void
gw_daemon_get_property (GObject *object, guint prop_id, GValue *value,
                        GParamSpec *pspec)
{
  GwDaemon *self = GW_DAEMON (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_uint (value, self->state);
      break;
    case PROP_LAST_ERROR:
      g_value_set_string (value, self->last_error);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
gw_daemon_class_init (GwDaemonClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gw_daemon_dispose;
  object_class->finalize = gw_daemon_finalize;
  object_class->get_property = gw_daemon_get_property;
  props[PROP_STATE] = g_param_spec_uint ("state", NULL, NULL, GW_STATE_UNENROLLED,
                                         GW_STATE_FAILED, GW_STATE_UNENROLLED,
                                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_LAST_ERROR] = g_param_spec_string ("last-error", NULL, NULL, NULL,
                                                G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
gw_daemon_init (GwDaemon *self)
{
  self->state = GW_STATE_UNENROLLED;
}
