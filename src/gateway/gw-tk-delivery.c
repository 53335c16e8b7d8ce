/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-tk-delivery.h"

#include <string.h>

#include "cpns-error.h"
#include "cpns-key-client.h"

/* KEY_REQUEST, KEY_PROOF (with a 384-byte SRP value) and TK_REQUEST are
 * far below this. */
#define KEY_MESSAGE_MAX 2048

typedef struct {
  GwUpstream    *upstream;
  GwServerLink  *server_link;
  char          *gw_id, *pne_id, *user_id;
  CpnsKeyClient *client;
  gboolean       proof_sent;
} Run;

static void
run_free (Run *run)
{
  g_object_unref (run->upstream);
  g_object_unref (run->server_link);
  g_free (run->gw_id);
  g_free (run->pne_id);
  g_free (run->user_id);
  cpns_key_client_free (run->client);
  g_free (run);
}

static void on_tk (GObject *source, GAsyncResult *result, gpointer user_data);

static void
post_key_message (GTask *task, const guint8 *data, gsize len);

static void
on_key_exchange (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Run *run = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) reply = NULL, encoded = NULL;
  guint8 out[KEY_MESSAGE_MAX];
  CpnsBody body = { .present = 1u << 1 };
  const guint8 *data;
  gsize len, n;
  guint status = 0;

  reply = gw_upstream_post_finish (NULL, result, &status, &error);
  if (reply == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  data = g_bytes_get_data (reply, &len);
  if (!run->proof_sent)
    {
      n = cpns_key_client_answer (run->client, data, len, out, sizeof out, &error);
      if (n == 0)
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      run->proof_sent = TRUE;
      post_key_message (task, out, n);
      return;
    }
  if (!cpns_key_client_accept (run->client, data, len, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  body.pne_ref.pne = CPNS_STR (run->pne_id);
  n = cpns_body_encode (CPNS_MSG_TK_REQUEST, &body, out, sizeof out, &error);
  if (n == 0)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  encoded = g_bytes_new (out, n);
  gw_server_link_request_async (run->server_link, CPNS_MSG_TK_REQUEST, encoded, TRUE,
                                g_task_get_cancellable (task), on_tk,
                                g_steal_pointer (&task));
}

static void
post_key_message (GTask *task, const guint8 *data, gsize len)
{
  Run *run = g_task_get_task_data (task);
  g_autoptr(GBytes) message = g_bytes_new (data, len);

  gw_upstream_post_async (run->upstream, "/key", message, 0, g_task_get_cancellable (task),
                          on_key_exchange, g_object_ref (task));
}

static void
on_tk (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  Run *run = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) reply = NULL;
  g_autofree GwTkDelivery *out = NULL;
  const CpnsSecret *eukey = cpns_key_client_get_key (run->client);
  const guint8 *kid;
  gsize kid_len, len;
  guint64 type = 0;
  CpnsBody body;
  guint8 *owned;

  reply = gw_server_link_request_finish (GW_SERVER_LINK (source), result, &type, &error);
  if (reply == NULL)
    {
      g_prefix_error (&error, "no Temporary Key from the server: ");
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* Our own copy, so that the TK can be wiped. */
  owned = g_bytes_unref_to_data (g_steal_pointer (&reply), &len);
  kid = cpns_key_client_get_kid (run->client, &kid_len);
  out = g_new0 (GwTkDelivery, 1);
  if (type != CPNS_MSG_TK_DELIVERY)
    g_set_error (&error, CPNS_ERROR, CPNS_ERROR_MALFORMED,
                 "the server answered TK_REQUEST with %s", cpns_msg_type_name (type));
  else if (cpns_body_decode (owned, len, type, &body, &error))
    {
      CpnsWrapBinding binding = { run->gw_id, run->pne_id, run->user_id, kid, kid_len };

      out->wrapped_len = cpns_wrap_seal (CPNS_WRAP_EUKEY_TK, body.tk_delivery.tk.data,
                                         body.tk_delivery.tk.len, &binding, eukey->data,
                                         eukey->len, out->wrapped, sizeof out->wrapped,
                                         &error);
      memcpy (out->kid, kid, kid_len);
      out->kid_len = kid_len;
      memcpy (out->tk_kid, body.tk_delivery.kid.data, body.tk_delivery.kid.len);
      out->tk_kid_len = body.tk_delivery.kid.len;
    }
  cpns_wipe (owned, len);
  g_free (owned);
  /* The PNE's EUKey goes with the key client, now. */
  g_clear_pointer (&run->client, cpns_key_client_free);
  if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, g_steal_pointer (&out), g_free);
}

void
gw_tk_delivery_run_async (GwUpstream *upstream, GwServerLink *server_link, const char *gw_id,
                          const char *server_id, const char *pne_id, const char *user_id,
                          const CpnsSecret *password, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autoptr(GError) error = NULL;
  Run *run = g_new0 (Run, 1);
  guint8 out[KEY_MESSAGE_MAX];
  gsize len;

  g_task_set_source_tag (task, gw_tk_delivery_run_async);
  run->upstream = g_object_ref (upstream);
  run->server_link = g_object_ref (server_link);
  run->gw_id = g_strdup (gw_id);
  run->pne_id = g_strdup (pne_id);
  run->user_id = g_strdup (user_id);
  g_task_set_task_data (task, run, (GDestroyNotify) run_free);
  run->client = cpns_key_client_new (gw_id, server_id, pne_id, user_id, password->data,
                                     password->len, &error);
  if (run->client == NULL ||
      (len = cpns_key_client_request (run->client, out, sizeof out, &error)) == 0)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  post_key_message (task, out, len);
}

GwTkDelivery *
gw_tk_delivery_run_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}
