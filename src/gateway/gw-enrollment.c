/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-enrollment.h"

#include <string.h>

#include "cpns-error.h"
#include "cpns-key-client.h"
#include "gw-backoff.h"
#include "gw-error.h"

struct _GwEnrollment {
  GObject        parent_instance;

  GwUpstream    *upstream;
  char          *self_id;
  char          *server_id;
  char          *subject;
  char          *user_id;
  CpnsSecret    *password;
  GwBackoff      backoff;
  CpnsKeyClient *client;
  GTask         *task;
  guint          retry_source;
  gulong         cancelled_id;
};

enum {
  SIGNAL_RETRYING,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GwEnrollment, gw_enrollment, G_TYPE_OBJECT)

static void attempt (GwEnrollment *self);

static void
finish (GwEnrollment *self, CpnsKeyEntry *entry, GError *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->task);

  g_clear_pointer (&self->client, cpns_key_client_free);
  g_clear_pointer (&self->password, cpns_secret_free);
  g_clear_handle_id (&self->retry_source, g_source_remove);
  if (self->cancelled_id != 0)
    g_cancellable_disconnect (g_task_get_cancellable (task), self->cancelled_id);
  self->cancelled_id = 0;
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, entry, (GDestroyNotify) cpns_key_entry_free);
}

static gboolean
retry_cb (gpointer user_data)
{
  GwEnrollment *self = user_data;

  self->retry_source = 0;
  attempt (self);
  return G_SOURCE_REMOVE;
}

/* Transport trouble is retried; an answer from the server is final. */
static void
failed (GwEnrollment *self, GError *error)
{
  if (g_error_matches (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_UNREACHABLE))
    {
      guint delay = gw_backoff_next (&self->backoff);
      g_autofree char *why = g_strdup_printf ("CPNS Server unreachable (%s); trying "
                                              "again in %.1f s", error->message,
                                              delay / 1000.0);
      g_message ("enrolment: %s", why);
      g_signal_emit (self, signals[SIGNAL_RETRYING], 0, why);
      g_error_free (error);
      g_clear_pointer (&self->client, cpns_key_client_free);
      self->retry_source = g_timeout_add (delay, retry_cb, self);
      return;
    }
  if (error->domain == GW_UPSTREAM_ERROR)
    {
      GError *mapped = g_error_new (GW_ERROR, GW_ERROR_SERVER_UNREACHABLE, "%s",
                                    error->message);
      g_error_free (error);
      error = mapped;
    }
  else if (g_error_matches (error, CPNS_ERROR, CPNS_ERROR_AUTH_FAILED))
    {
      GError *mapped = g_error_new (GW_ERROR, GW_ERROR_AUTHENTICATION_FAILED, "%s",
                                    error->message);
      g_error_free (error);
      error = mapped;
    }
  finish (self, NULL, error);
}

static GBytes *
reply_bytes (GwEnrollment *self, GAsyncResult *result, GError **error)
{
  guint status = 0;
  GBytes *reply = gw_upstream_post_finish (self->upstream, result, &status, error);

  if (reply == NULL && error != NULL && *error != NULL)
    return NULL;
  if (reply == NULL)
    reply = g_bytes_new (NULL, 0);
  /* A refusal carries a plain ERROR that the key client turns into the
   * right error; any other non-200 without one is reported here. */
  if (status != 200 && !cpns_error_from_message (g_bytes_get_data (reply, NULL),
                                                 g_bytes_get_size (reply), NULL))
    {
      g_set_error (error, GW_ERROR, GW_ERROR_SERVER_REFUSED,
                   "Key Request: unexpected HTTP status %u", status);
      g_bytes_unref (reply);
      return NULL;
    }
  return reply;
}

static void
on_delivery (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GwEnrollment) self = user_data;
  GError *error = NULL;
  g_autoptr(GBytes) reply = reply_bytes (self, result, &error);
  CpnsKeyEntry *entry;
  const CpnsSecret *key;
  const guint8 *kid;
  gsize kid_len;

  if (self->task == NULL)
    return;
  if (reply == NULL ||
      !cpns_key_client_accept (self->client, g_bytes_get_data (reply, NULL),
                               g_bytes_get_size (reply), &error))
    {
      failed (self, error);
      return;
    }
  key = cpns_key_client_get_key (self->client);
  kid = cpns_key_client_get_kid (self->client, &kid_len);
  entry = g_new0 (CpnsKeyEntry, 1);
  entry->name = self->subject != NULL ? g_strdup_printf ("eukey:%s", self->subject)
                                      : g_strdup (GW_EUKEY_ENTRY);
  entry->kind = CPNS_KEY_EUKEY;
  entry->self_id = g_strdup (self->subject != NULL ? self->subject : self->self_id);
  entry->peer_id = g_strdup (self->server_id);
  entry->user_id = g_strdup (self->user_id);
  memcpy (entry->kid, kid, kid_len);
  entry->kid_len = kid_len;
  entry->key = cpns_secret_new (key->data, key->len);
  entry->role = CPNS_ROLE_INITIATOR;
  entry->created = g_get_real_time () / G_USEC_PER_SEC;
  finish (self, entry, NULL);
}

static void
on_challenge (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GwEnrollment) self = user_data;
  GError *error = NULL;
  g_autoptr(GBytes) reply = reply_bytes (self, result, &error);
  g_autoptr(GBytes) proof = NULL;
  guint8 out[2048];
  gsize len;

  if (self->task == NULL)
    return;
  if (reply == NULL)
    {
      failed (self, error);
      return;
    }
  len = cpns_key_client_answer (self->client, g_bytes_get_data (reply, NULL),
                                g_bytes_get_size (reply), out, sizeof out, &error);
  if (len == 0)
    {
      failed (self, error);
      return;
    }
  proof = g_bytes_new (out, len);
  gw_upstream_post_async (self->upstream, "/key", proof, 0,
                          g_task_get_cancellable (self->task), on_delivery,
                          g_object_ref (self));
}

static void
attempt (GwEnrollment *self)
{
  GError *error = NULL;
  g_autoptr(GBytes) request = NULL;
  guint8 out[512];
  gsize len;

  /* A fresh client each time: the password is only consumed by a
   * challenge that arrived. */
  self->client = cpns_key_client_new (self->self_id, self->server_id, self->subject,
                                      self->user_id, self->password->data,
                                      self->password->len, &error);
  if (self->client == NULL)
    {
      failed (self, error);
      return;
    }
  len = cpns_key_client_request (self->client, out, sizeof out, &error);
  if (len == 0)
    {
      failed (self, error);
      return;
    }
  request = g_bytes_new (out, len);
  gw_upstream_post_async (self->upstream, "/key", request, 0,
                          g_task_get_cancellable (self->task), on_challenge,
                          g_object_ref (self));
}

/* Also while waiting to retry, when no request would notice. */
static gboolean
cancelled_idle (gpointer user_data)
{
  g_autoptr(GwEnrollment) self = user_data;

  if (self->task != NULL)
    finish (self, NULL, g_error_new (GW_ERROR, GW_ERROR_CANCELLED, "enrolment cancelled"));
  return G_SOURCE_REMOVE;
}

static void
on_cancelled (GCancellable *cancellable, gpointer user_data)
{
  g_idle_add (cancelled_idle, g_object_ref (user_data));
}

void
gw_enrollment_run_async (GwEnrollment *self, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (self->task == NULL && self->password != NULL);

  self->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (self->task, gw_enrollment_run_async);
  if (cancellable != NULL)
    self->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (on_cancelled),
                                                self, NULL);
  attempt (self);
}

CpnsKeyEntry *
gw_enrollment_run_finish (GwEnrollment *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

GwEnrollment *
gw_enrollment_new (GwUpstream *upstream, const GwConfig *config, const char *subject,
                   const char *user_id, const guint8 *password, gsize password_len)
{
  GwEnrollment *self = g_object_new (GW_TYPE_ENROLLMENT, NULL);

  self->upstream = g_object_ref (upstream);
  self->self_id = g_strdup (config->entity_id);
  self->server_id = g_strdup (config->server_id);
  self->subject = g_strdup (subject);
  self->user_id = g_strdup (user_id);
  self->password = cpns_secret_new (password, password_len);
  gw_backoff_init (&self->backoff, config->retry_min * 1000, config->retry_max * 1000,
                   GW_BACKOFF_JITTER_FULL, NULL, NULL);
  return self;
}

static void
gw_enrollment_dispose (GObject *object)
{
  GwEnrollment *self = GW_ENROLLMENT (object);

  if (self->task != NULL)
    finish (self, NULL, g_error_new (GW_ERROR, GW_ERROR_CANCELLED,
                                     "enrolment cancelled"));
  g_clear_object (&self->upstream);
  G_OBJECT_CLASS (gw_enrollment_parent_class)->dispose (object);
}

static void
gw_enrollment_finalize (GObject *object)
{
  GwEnrollment *self = GW_ENROLLMENT (object);

  g_clear_pointer (&self->password, cpns_secret_free);
  g_clear_pointer (&self->client, cpns_key_client_free);
  g_free (self->self_id);
  g_free (self->server_id);
  g_free (self->subject);
  g_free (self->user_id);
  G_OBJECT_CLASS (gw_enrollment_parent_class)->finalize (object);
}

static void
gw_enrollment_class_init (GwEnrollmentClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = gw_enrollment_dispose;
  G_OBJECT_CLASS (klass)->finalize = gw_enrollment_finalize;
  /* Transport trouble that will be retried: (a message for a person). */
  signals[SIGNAL_RETRYING] = g_signal_new ("retrying", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                           G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
gw_enrollment_init (GwEnrollment *self)
{
}
