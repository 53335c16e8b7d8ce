/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-http.h"

#include <libsoup/soup.h>
#include <string.h>

#include "cpns-error.h"
#include "cpns-message.h"

/* The request body as it arrives, capped: libsoup's own accumulation is
 * off, so a client cannot make us hold more than one maximal message. */
typedef struct {
  GByteArray *data;
  gboolean    overflow;
} Body;

static void
body_free (Body *b)
{
  /* A body may be a record with a key request inside: nothing secret is
   * readable in it without the session keys, but wipe it all the same. */
  cpns_wipe (b->data->data, b->data->len);
  g_byte_array_unref (b->data);
  g_free (b);
}

#define BODY_KEY "srv-http-body"

struct _SrvHttp {
  GObject     parent_instance;
  SrvCore    *core;
  SoupServer *server;
  char       *base_path;
  char      **listen;
  gboolean    insecure;
  GHashTable *waiting;    /* Waiting, the paused long polls */
};

G_DEFINE_TYPE (SrvHttp, srv_http, G_TYPE_OBJECT)

/* A paused request whose reply comes later from the core. */
typedef struct {
  SrvHttp           *http;
  SoupServerMessage *msg;
  guint              wait_id;
  gulong             finished_id;
  gulong             disconnected_id;
} Waiting;

static void
waiting_free (Waiting *w)
{
  if (w->finished_id != 0)
    g_signal_handler_disconnect (w->msg, w->finished_id);
  if (w->disconnected_id != 0)
    g_signal_handler_disconnect (w->msg, w->disconnected_id);
  g_object_unref (w->msg);
  g_free (w);
}

static void
srv_http_dispose (GObject *object)
{
  SrvHttp *http = SRV_HTTP (object);

  srv_http_stop (http);
  g_clear_object (&http->server);
  g_clear_object (&http->core);
  G_OBJECT_CLASS (srv_http_parent_class)->dispose (object);
}

static void
srv_http_finalize (GObject *object)
{
  SrvHttp *http = SRV_HTTP (object);

  g_hash_table_unref (http->waiting);
  g_free (http->base_path);
  g_strfreev (http->listen);
  G_OBJECT_CLASS (srv_http_parent_class)->finalize (object);
}

static void
srv_http_class_init (SrvHttpClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = srv_http_dispose;
  G_OBJECT_CLASS (klass)->finalize = srv_http_finalize;
}

static void
srv_http_init (SrvHttp *http)
{
  http->waiting = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                         (GDestroyNotify) waiting_free);
}

static void
apply_reply (SoupServerMessage *msg, const SrvReply *reply)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_server_message_set_status (msg, reply->status, NULL);
  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  if (reply->retry_after != 0)
    {
      char value[16];
      g_snprintf (value, sizeof value, "%u", reply->retry_after);
      soup_message_headers_replace (headers, "Retry-After", value);
    }
  if (reply->body != NULL)
    {
      gsize len;
      const char *data = g_bytes_get_data (reply->body, &len);
      soup_server_message_set_response (msg, SRV_MEDIA_TYPE, SOUP_MEMORY_COPY, data, len);
    }
  else
    /* libsoup (3.2) drops Content-Length from a 204 and then judges the
     * response ended by EOF, so it closes the connection after it.  Said
     * out loud, a client does not reuse the connection; unsaid, a client
     * sending its next request at once (a gateway polling again) races the
     * close and writes into a dead socket. */
    soup_message_headers_replace (headers, "Connection", "close");
}

/* Refuses a request by its HTTP form, before its body is looked at. */
static void
refuse (SrvHttp *http, SoupServerMessage *msg, guint status, guint code,
        const char *reason)
{
  g_autoptr(SrvReply) reply = srv_reply_error (status, srv_core_get_entity_id (http->core),
                                               NULL, 0, code, reason);

  g_debug ("%s %s from %s: %u (%s)", soup_server_message_get_method (msg),
           g_uri_get_path (soup_server_message_get_uri (msg)),
           soup_server_message_get_remote_host (msg), status, reason);
  apply_reply (msg, reply);
}

static gboolean
endpoint_for_path (SrvHttp *http, const char *path, SrvEndpoint *endpoint)
{
  gsize base_len = strlen (http->base_path);

  return strncmp (path, http->base_path, base_len) == 0 && path[base_len] == '/' &&
         srv_endpoint_from_name (path + base_len + 1, endpoint);
}

static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
  Body *b = g_object_get_data (G_OBJECT (msg), BODY_KEY);
  gsize len;
  const guint8 *bytes = g_bytes_get_data (chunk, &len);

  if (b == NULL || b->overflow)
    return;
  if (b->data->len + len > CPNS_MAX_MESSAGE)
    {
      b->overflow = TRUE;
      return;
    }
  g_byte_array_append (b->data, bytes, len);
}

/* Runs once the headers are read: what can be refused from them is, before
 * any body arrives. */
static void
early_handler (SoupServer *server, SoupServerMessage *msg, const char *path,
               GHashTable *query, gpointer data)
{
  SrvHttp *http = data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *type;
  SrvEndpoint endpoint;
  Body *b;

  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  if (strcmp (soup_server_message_get_method (msg), SOUP_METHOD_POST) != 0)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Allow", "POST");
      refuse (http, msg, 405, CPNS_ERROR_UNSUPPORTED, "only POST is served");
      return;
    }
  if (!endpoint_for_path (http, path, &endpoint))
    {
      refuse (http, msg, 404, CPNS_ERROR_NOT_FOUND, "no such endpoint");
      return;
    }
  type = soup_message_headers_get_content_type (headers, NULL);
  if (type == NULL || g_ascii_strcasecmp (type, SRV_MEDIA_TYPE) != 0)
    {
      refuse (http, msg, 415, CPNS_ERROR_UNSUPPORTED,
              "the body must be " SRV_MEDIA_TYPE);
      return;
    }
  if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      soup_message_headers_get_content_length (headers) > CPNS_MAX_MESSAGE)
    {
      /* Closing spares us reading what we would throw away. */
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Connection", "close");
      refuse (http, msg, 413, CPNS_ERROR_TOO_LARGE, "the body is too large");
      return;
    }
  b = g_new0 (Body, 1);
  b->data = g_byte_array_new ();
  g_object_set_data_full (G_OBJECT (msg), BODY_KEY, b, (GDestroyNotify) body_free);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), NULL);
}

static void
on_later (SrvReply *reply, gpointer data)
{
  Waiting *w = data;
  SoupServerMessage *msg = w->msg;

  apply_reply (msg, reply);
  srv_reply_free (reply);
  soup_server_message_unpause (msg);
  w->wait_id = 0;
  g_hash_table_remove (w->http->waiting, msg);
}

/* The client went away while its poll waited. */
static void
on_gone (SoupServerMessage *msg, gpointer data)
{
  Waiting *w = data;

  if (w->wait_id != 0)
    srv_core_cancel (w->http->core, w->wait_id);
  g_hash_table_remove (w->http->waiting, msg);
}

static void
handler (SoupServer *server, SoupServerMessage *msg, const char *path,
         GHashTable *query, gpointer data)
{
  SrvHttp *http = data;
  Body *b = g_object_get_data (G_OBJECT (msg), BODY_KEY);
  g_autoptr(SrvReply) reply = NULL;
  SrvEndpoint endpoint;
  Waiting *w;
  guint wait_id;

  if (b == NULL || !endpoint_for_path (http, path, &endpoint))
    {
      refuse (http, msg, 500, CPNS_ERROR_FAILED, "request not prepared");
      return;
    }
  if (b->overflow)
    {
      refuse (http, msg, 413, CPNS_ERROR_TOO_LARGE, "the body is too large");
      return;
    }
  w = g_new0 (Waiting, 1);
  w->http = http;
  w->msg = g_object_ref (msg);
  reply = srv_core_handle (http->core, endpoint, soup_server_message_get_remote_host (msg),
                           b->data->data, b->data->len, on_later, w, &wait_id);
  if (reply != NULL)
    {
      waiting_free (w);
      apply_reply (msg, reply);
      return;
    }
  w->wait_id = wait_id;
  w->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (on_gone), w);
  if (g_signal_lookup ("disconnected", SOUP_TYPE_SERVER_MESSAGE) != 0)
    w->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (on_gone), w);
  g_hash_table_insert (http->waiting, msg, w);
  soup_server_message_pause (msg);
}

SrvHttp *
srv_http_new (SrvCore *core, const SrvConfig *config, GError **error)
{
  g_autoptr(SrvHttp) http = g_object_new (SRV_TYPE_HTTP, NULL);
  g_autoptr(GTlsCertificate) cert = NULL;

  http->core = g_object_ref (core);
  http->base_path = g_strdup (config->base_path);
  http->listen = g_strdupv (config->listen);
  http->insecure = config->insecure_http;
  if (!http->insecure)
    {
      if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "no TLS support in GIO: install glib-networking");
          return NULL;
        }
      cert = g_tls_certificate_new_from_files (config->certificate, config->private_key,
                                               error);
      if (cert == NULL)
        {
          g_prefix_error (error, "cannot load the certificate %s with the key %s: ",
                          config->certificate, config->private_key);
          return NULL;
        }
    }
  http->server = soup_server_new ("server-header", "cpns-server",
                                  "tls-certificate", cert, NULL);
  soup_server_add_early_handler (http->server, NULL, early_handler, http, NULL);
  soup_server_add_handler (http->server, NULL, handler, http, NULL);
  return g_steal_pointer (&http);
}

gboolean
srv_http_listen (SrvHttp *http, GError **error)
{
  SoupServerListenOptions options = http->insecure ? 0 : SOUP_SERVER_LISTEN_HTTPS;

  for (guint i = 0; http->listen[i] != NULL; i++)
    {
      g_autoptr(GSocketAddress) address = srv_config_parse_listen (http->listen[i], error);

      if (address == NULL || !soup_server_listen (http->server, address, options, error))
        {
          g_prefix_error (error, "cannot listen on %s: ", http->listen[i]);
          return FALSE;
        }
    }
  return TRUE;
}

GStrv
srv_http_get_urls (SrvHttp *http)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  GSList *uris = soup_server_get_uris (http->server);

  for (GSList *l = uris; l != NULL; l = l->next)
    {
      GUri *uri = l->data;
      const char *host = g_uri_get_host (uri);
      g_autofree char *url = NULL;

      url = g_strdup_printf (strchr (host, ':') != NULL ? "%s://[%s]:%d" : "%s://%s:%d",
                             g_uri_get_scheme (uri), host, g_uri_get_port (uri));
      g_strv_builder_add (builder, url);
    }
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return g_strv_builder_end (builder);
}

void
srv_http_stop (SrvHttp *http)
{
  GHashTableIter iter;
  gpointer value;

  /* Normally empty: srv_core_shutdown() has answered every poll. */
  g_hash_table_iter_init (&iter, http->waiting);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Waiting *w = value;
      if (w->wait_id != 0 && http->core != NULL)
        srv_core_cancel (http->core, w->wait_id);
      w->wait_id = 0;
    }
  g_hash_table_remove_all (http->waiting);
  if (http->server != NULL)
    soup_server_disconnect (http->server);
}
