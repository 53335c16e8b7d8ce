/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef G_LOG_DOMAIN
#define G_LOG_DOMAIN "pngwd"
#endif

#include "gw-upstream.h"

#include <curl/curl.h>
#include <glib-unix.h>
#include <string.h>

/* How it fits together: libcurl tells us through socket_cb which sockets to
 * watch for what, and through timer_cb when it next wants to be woken; both
 * only adjust GSources.  When a source fires, drive() hands the event to
 * curl_multi_socket_action() and then drain() collects finished transfers.
 * Tasks are completed only after libcurl has returned, so a callback that
 * starts a new request, cancels one or drops the GwUpstream never runs
 * inside libcurl. */

typedef struct {
  GwUpstream  *self;
  int          fd;
  GIOCondition condition;
  GSource     *source;
} Watch;

/* What a finished request reports besides its body or error. */
typedef struct {
  guint status;
  guint retry_after;
} Reply;

typedef struct {
  GwUpstream *self;          /* not a reference: requests never outlive dispose */
  GList       link;          /* in self->waiting, then in self->requests */
  gboolean    started;       /* handed to libcurl */
  guint       timeout_ms;
  gint64      queued_at;     /* monotonic: the wait counts against the timeout */
  GTask      *task;
  CURL       *easy;
  char       *url;
  GBytes     *body;          /* libcurl reads from it without copying */
  GByteArray *response;
  gboolean    too_large;
  GSource    *cancel_source;
  GBytes     *result;        /* the outcome, set before delivery */
  GError     *error;
  char        errbuf[CURL_ERROR_SIZE];
} Request;

struct _GwUpstream {
  GObject            parent_instance;
  char              *base_url;       /* without a trailing '/' */
  char              *ca_file;        /* absolute, or NULL for the system store */
  gboolean           insecure_url;   /* base URL is http:// */
  gboolean           allow_insecure;
  guint              connect_ms;
  guint              total_ms;
  GMainContext      *context;
  CURLM             *multi;          /* NULL once disposed */
  CURLSH            *share;          /* TLS sessions, for quick reconnects */
  struct curl_slist *headers;
  GSource           *timer;
  GHashTable        *watches;        /* fd -> Watch */
  GQueue             requests;       /* Request, in flight in libcurl */
  GQueue             waiting;        /* Request, for a place among GW_UPSTREAM_MAX_ACTIVE */
  GSource           *wait_timer;     /* the earliest deadline among them */
  gint64             wait_deadline;  /* of wait_timer */
};

G_DEFINE_TYPE (GwUpstream, gw_upstream, G_TYPE_OBJECT)

G_DEFINE_QUARK (gw-upstream-error-quark, gw_upstream_error)

/* ---- requests ---- */

static void start_waiting (GwUpstream *self);

static void
request_free (Request *req)
{
  g_assert (req->easy == NULL && req->cancel_source == NULL && req->task == NULL);
  g_free (req->url);
  g_bytes_unref (req->body);
  if (req->response != NULL)
    g_byte_array_unref (req->response);
  if (req->result != NULL)
    g_bytes_unref (req->result);
  g_clear_error (&req->error);
  g_free (req);
}

/* Takes @req out of libcurl and out of the in-flight list; only delivery
 * remains. */
static void
request_detach (GwUpstream *self, Request *req)
{
  g_queue_unlink (req->started ? &self->requests : &self->waiting, &req->link);
  if (req->cancel_source != NULL)
    {
      g_source_destroy (req->cancel_source);
      g_clear_pointer (&req->cancel_source, g_source_unref);
    }
  if (self->multi != NULL && req->easy != NULL)
    curl_multi_remove_handle (self->multi, req->easy);
  g_clear_pointer (&req->easy, curl_easy_cleanup);
}

/* Completes the task, which may run the caller's callback at once, and
 * frees @req. */
static void
request_deliver (Request *req)
{
  g_autoptr(GTask) task = g_steal_pointer (&req->task);
  GBytes *result = g_steal_pointer (&req->result);
  GError *error = g_steal_pointer (&req->error);

  request_free (req);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, result, (GDestroyNotify) g_bytes_unref);
}

static size_t
on_data (char *data, size_t size, size_t nmemb, void *user_data)
{
  Request *req = user_data;
  gsize n = size * nmemb;

  /* Bounded as it arrives: a chunked or unannounced body never makes us
   * buffer more than the limit. */
  if (n > GW_UPSTREAM_MAX_BODY - req->response->len)
    {
      req->too_large = TRUE;
      return 0;
    }
  g_byte_array_append (req->response, (const guint8 *) data, n);
  return n;
}

static gboolean
is_cpns_media_type (const char *content_type)
{
  gsize n = strlen (GW_UPSTREAM_MEDIA_TYPE);

  return content_type != NULL &&
         g_ascii_strncasecmp (content_type, GW_UPSTREAM_MEDIA_TYPE, n) == 0 &&
         (content_type[n] == '\0' || content_type[n] == ';' ||
          content_type[n] == ' ' || content_type[n] == '\t');
}

static GwUpstreamError
error_code_for (CURLcode code, gboolean too_large)
{
  switch (code)
    {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
    case CURLE_PROXY:
      return GW_UPSTREAM_ERROR_UNREACHABLE;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
      return GW_UPSTREAM_ERROR_TLS;
    case CURLE_FILESIZE_EXCEEDED:
      return GW_UPSTREAM_ERROR_TOO_LARGE;
    case CURLE_WRITE_ERROR:
      return too_large ? GW_UPSTREAM_ERROR_TOO_LARGE : GW_UPSTREAM_ERROR_FAILED;
    case CURLE_WEIRD_SERVER_REPLY:
      return GW_UPSTREAM_ERROR_HTTP;
    default:
      return GW_UPSTREAM_ERROR_FAILED;
    }
}

/* Reads the outcome of a transfer libcurl reports done, then detaches it. */
static void
request_conclude (GwUpstream *self, Request *req, CURLcode code)
{
  Reply *reply = g_task_get_task_data (req->task);
  long status = 0, connects = 0;
  curl_off_t retry_after = 0, micros = 0;
  char *content_type = NULL;

  curl_easy_getinfo (req->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo (req->easy, CURLINFO_RETRY_AFTER, &retry_after);
  curl_easy_getinfo (req->easy, CURLINFO_CONTENT_TYPE, &content_type);
  curl_easy_getinfo (req->easy, CURLINFO_NUM_CONNECTS, &connects);
  curl_easy_getinfo (req->easy, CURLINFO_TOTAL_TIME_T, &micros);
  reply->status = (guint) CLAMP (status, 0, 999);
  reply->retry_after = (guint) CLAMP (retry_after, 0, G_MAXUINT);

  if (code == CURLE_OK && req->response->len > 0 && !is_cpns_media_type (content_type))
    {
      g_set_error (&req->error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_HTTP,
                   "POST %s: HTTP %u with a body of type '%s', not a CPNS message",
                   req->url, reply->status,
                   content_type != NULL ? content_type : "(none)");
    }
  else if (code == CURLE_OK)
    {
      req->result = g_byte_array_free_to_bytes (g_steal_pointer (&req->response));
    }
  else
    {
      const char *why = req->errbuf[0] != '\0' ? req->errbuf : curl_easy_strerror (code);

      g_strchomp (req->errbuf);
      if (code == CURLE_WRITE_ERROR && req->too_large)
        why = "response body above " G_STRINGIFY (GW_UPSTREAM_MAX_BODY) " bytes";
      else if (code == CURLE_FILESIZE_EXCEEDED)
        why = "response body announced above " G_STRINGIFY (GW_UPSTREAM_MAX_BODY) " bytes";
      g_set_error (&req->error, GW_UPSTREAM_ERROR, error_code_for (code, req->too_large),
                   "POST %s: %s", req->url, why);
    }

  if (req->error == NULL)
    g_debug ("POST %s: HTTP %u, %u bytes, %s connection, %" G_GINT64_FORMAT " ms",
             req->url, reply->status, (guint) g_bytes_get_size (req->result),
             connects > 0 ? "new" : "reused", (gint64) micros / 1000);
  else
    g_debug ("%s (after %" G_GINT64_FORMAT " ms)", req->error->message,
             (gint64) micros / 1000);

  request_detach (self, req);
}

/* Moves every finished transfer from libcurl into @done. */
static void
drain (GwUpstream *self, GQueue *done)
{
  CURLMsg *msg;
  int left;

  while ((msg = curl_multi_info_read (self->multi, &left)) != NULL)
    {
      /* @msg dies with its handle: copy what we need first. */
      CURL *easy = msg->easy_handle;
      CURLcode code = msg->data.result;
      char *priv = NULL;
      Request *req;

      if (msg->msg != CURLMSG_DONE)
        continue;
      curl_easy_getinfo (easy, CURLINFO_PRIVATE, &priv);
      req = (Request *) priv;
      request_conclude (self, req, code);
      g_queue_push_tail_link (done, &req->link);
    }
}

/* Hands an event to libcurl, then delivers what finished. */
static void
drive (GwUpstream *self, curl_socket_t fd, int events)
{
  GQueue done = G_QUEUE_INIT;
  GList *link;
  int running = 0;
  CURLMcode rc;

  if (self->multi == NULL)
    return;
  rc = curl_multi_socket_action (self->multi, fd, events, &running);
  if (rc != CURLM_OK)
    g_debug ("curl_multi_socket_action: %s", curl_multi_strerror (rc));
  drain (self, &done);
  while ((link = g_queue_pop_head_link (&done)) != NULL)
    request_deliver (link->data);
  start_waiting (self);
}

static gboolean
on_cancelled (GCancellable *cancellable G_GNUC_UNUSED, gpointer user_data)
{
  Request *req = user_data;
  g_autoptr(GwUpstream) self = g_object_ref (req->self);

  g_set_error (&req->error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_CANCELLED,
               "POST %s: cancelled", req->url);
  g_debug ("%s", req->error->message);
  request_detach (self, req);
  request_deliver (req);
  start_waiting (self);
  return G_SOURCE_REMOVE;
}

/* ---- libcurl's socket and timer callbacks ---- */

static gboolean
on_socket_ready (int fd, GIOCondition condition, gpointer user_data)
{
  Watch *watch = user_data;
  /* A callback may drop the last reference; keep self until we return. */
  g_autoptr(GwUpstream) self = g_object_ref (watch->self);
  int events = 0;

  if (condition & (G_IO_IN | G_IO_HUP))
    events |= CURL_CSELECT_IN;
  if (condition & G_IO_OUT)
    events |= CURL_CSELECT_OUT;
  if (condition & (G_IO_ERR | G_IO_NVAL))
    events |= CURL_CSELECT_ERR;
  /* A closed descriptor would report NVAL on every iteration: stop
   * watching it rather than spin. */
  if (condition & G_IO_NVAL)
    g_hash_table_remove (self->watches, GINT_TO_POINTER (fd));
  /* @watch may be freed from here on. */
  drive (self, fd, events);
  return G_SOURCE_CONTINUE;
}

static void
watch_free (Watch *watch)
{
  g_source_destroy (watch->source);
  g_source_unref (watch->source);
  g_free (watch);
}

static int
socket_cb (CURL *easy G_GNUC_UNUSED, curl_socket_t fd, int what, void *user_data,
           void *socket_data G_GNUC_UNUSED)
{
  GwUpstream *self = user_data;
  Watch *watch;
  GIOCondition condition = G_IO_ERR | G_IO_HUP;

  if (what == CURL_POLL_REMOVE)
    {
      g_hash_table_remove (self->watches, GINT_TO_POINTER (fd));
      return 0;
    }
  if (what & CURL_POLL_IN)
    condition |= G_IO_IN;
  if (what & CURL_POLL_OUT)
    condition |= G_IO_OUT;

  watch = g_hash_table_lookup (self->watches, GINT_TO_POINTER (fd));
  if (watch != NULL && watch->condition == condition)
    return 0;
  if (watch == NULL)
    {
      watch = g_new0 (Watch, 1);
      watch->self = self;
      watch->fd = fd;
      g_hash_table_insert (self->watches, GINT_TO_POINTER (fd), watch);
    }
  else
    {
      /* A GUnixFDSource watches a fixed condition: replace it. */
      g_source_destroy (watch->source);
      g_source_unref (watch->source);
    }
  watch->condition = condition;
  watch->source = g_unix_fd_source_new (fd, condition);
  g_source_set_callback (watch->source, G_SOURCE_FUNC (on_socket_ready), watch, NULL);
  g_source_set_static_name (watch->source, "GwUpstream socket");
  g_source_attach (watch->source, self->context);
  return 0;
}

static gboolean
on_timer (gpointer user_data)
{
  g_autoptr(GwUpstream) self = g_object_ref (user_data);

  /* This source ends when we return; timer_cb may install the next one. */
  g_clear_pointer (&self->timer, g_source_unref);
  drive (self, CURL_SOCKET_TIMEOUT, 0);
  return G_SOURCE_REMOVE;
}

static void
clear_timer (GwUpstream *self)
{
  if (self->timer == NULL)
    return;
  g_source_destroy (self->timer);
  g_clear_pointer (&self->timer, g_source_unref);
}

static int
timer_cb (CURLM *multi G_GNUC_UNUSED, long timeout_ms, void *user_data)
{
  GwUpstream *self = user_data;

  clear_timer (self);
  if (timeout_ms < 0)
    return 0;
  /* Even a 0 ms timeout goes through the main loop: libcurl must not be
   * re-entered from its own callback. */
  self->timer = g_timeout_source_new ((guint) MIN (timeout_ms, (long) G_MAXINT));
  g_source_set_callback (self->timer, on_timer, self, NULL);
  g_source_set_static_name (self->timer, "GwUpstream timer");
  g_source_attach (self->timer, self->context);
  return 0;
}

/* ---- object ---- */

static void
gw_upstream_dispose (GObject *object)
{
  GwUpstream *self = GW_UPSTREAM (object);
  GQueue done = G_QUEUE_INIT;
  GList *link;

  while (!g_queue_is_empty (&self->requests) || !g_queue_is_empty (&self->waiting))
    {
      Request *req = g_queue_peek_head (!g_queue_is_empty (&self->requests) ? &self->requests
                                                                            : &self->waiting);

      g_set_error (&req->error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_CANCELLED,
                   "POST %s: cancelled, the upstream client is going away", req->url);
      request_detach (self, req);
      g_queue_push_tail_link (&done, &req->link);
    }
  /* libcurl may still call socket_cb and timer_cb while cleaning up, so the
   * watches and the timer go last. */
  g_clear_pointer (&self->multi, curl_multi_cleanup);
  g_clear_pointer (&self->share, curl_share_cleanup);
  g_clear_pointer (&self->headers, curl_slist_free_all);
  clear_timer (self);
  if (self->wait_timer != NULL)
    {
      g_source_destroy (self->wait_timer);
      g_clear_pointer (&self->wait_timer, g_source_unref);
    }
  if (self->watches != NULL)
    g_hash_table_remove_all (self->watches);

  /* Callbacks run last, on an object that no longer does anything. */
  while ((link = g_queue_pop_head_link (&done)) != NULL)
    request_deliver (link->data);

  G_OBJECT_CLASS (gw_upstream_parent_class)->dispose (object);
}

static void
gw_upstream_finalize (GObject *object)
{
  GwUpstream *self = GW_UPSTREAM (object);

  g_free (self->base_url);
  g_free (self->ca_file);
  g_hash_table_unref (self->watches);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (gw_upstream_parent_class)->finalize (object);
}

static void
gw_upstream_class_init (GwUpstreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  CURLcode rc;

  object_class->dispose = gw_upstream_dispose;
  object_class->finalize = gw_upstream_finalize;

  /* Once per process, before any handle exists. */
  rc = curl_global_init (CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK)
    g_warning ("curl_global_init: %s", curl_easy_strerror (rc));
}

static void
gw_upstream_init (GwUpstream *self)
{
  self->connect_ms = GW_UPSTREAM_DEFAULT_CONNECT_TIMEOUT_MS;
  self->total_ms = GW_UPSTREAM_DEFAULT_TOTAL_TIMEOUT_MS;
  self->context = g_main_context_ref_thread_default ();
  self->watches = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) watch_free);
  g_queue_init (&self->requests);
  g_queue_init (&self->waiting);
}

static gboolean
parse_base_url (const char *base_url, char **url_out, gboolean *insecure, GError **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *scheme;
  gsize len;

  for (const char *p = base_url; *p != '\0'; p++)
    if ((guchar) *p <= ' ' || (guchar) *p >= 0x7f)
      {
        g_set_error (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED,
                     "server URL '%s' contains a space, control or non-ASCII character",
                     base_url);
        return FALSE;
      }
  uri = g_uri_parse (base_url, G_URI_FLAGS_ENCODED, &local_error);
  if (uri == NULL)
    {
      g_set_error (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED,
                   "server URL '%s' is invalid: %s", base_url, local_error->message);
      return FALSE;
    }
  scheme = g_uri_get_scheme (uri);
  if (g_ascii_strcasecmp (scheme, "https") != 0 && g_ascii_strcasecmp (scheme, "http") != 0)
    {
      g_set_error (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED,
                   "server URL '%s' must start with https://", base_url);
      return FALSE;
    }
  if (g_uri_get_host (uri) == NULL || g_uri_get_host (uri)[0] == '\0')
    {
      g_set_error (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED,
                   "server URL '%s' has no host", base_url);
      return FALSE;
    }
  /* Credentials would end up in logs and error messages; a query or a
   * fragment would swallow the paths appended to the base. */
  if (g_uri_get_userinfo (uri) != NULL || g_uri_get_query (uri) != NULL ||
      g_uri_get_fragment (uri) != NULL)
    {
      g_set_error (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED,
                   "server URL '%s' must not contain user information, a query or "
                   "a fragment", base_url);
      return FALSE;
    }
  *insecure = g_ascii_strcasecmp (scheme, "http") == 0;
  len = strlen (base_url);
  while (len > 0 && base_url[len - 1] == '/')
    len--;
  *url_out = g_strndup (base_url, len);
  return TRUE;
}

/* Checked once here so that a wrong path shows at start-up rather than as a
 * TLS failure on every request; made absolute because libcurl opens it on
 * demand, possibly after the daemon changed directory. */
static gboolean
check_ca_file (const char *ca_file, char **path_out, GError **error)
{
  g_autofree char *path = g_canonicalize_filename (ca_file, NULL);
  g_autofree char *pem = NULL;
  g_autoptr(GError) local_error = NULL;

  if (!g_file_get_contents (path, &pem, NULL, &local_error))
    {
      g_set_error (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED,
                   "cannot read the server CA file: %s", local_error->message);
      return FALSE;
    }
  if (strstr (pem, "-----BEGIN CERTIFICATE-----") == NULL)
    {
      g_set_error (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED,
                   "server CA file '%s' holds no PEM certificate", path);
      return FALSE;
    }
  *path_out = g_steal_pointer (&path);
  return TRUE;
}

GwUpstream *
gw_upstream_new (const char *base_url, const char *ca_file, GError **error)
{
  g_autoptr(GwUpstream) self = NULL;
  g_autofree char *url = NULL;
  g_autofree char *ca = NULL;
  gboolean insecure = FALSE;
  static const char *const headers[] = {
    "Content-Type: " GW_UPSTREAM_MEDIA_TYPE,
    "Accept: " GW_UPSTREAM_MEDIA_TYPE,
    "Expect:",   /* no 100-continue round trip for our small bodies */
  };

  g_return_val_if_fail (base_url != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!parse_base_url (base_url, &url, &insecure, error))
    return NULL;
  if (ca_file != NULL && !check_ca_file (ca_file, &ca, error))
    return NULL;

  self = g_object_new (GW_TYPE_UPSTREAM, NULL);
  self->base_url = g_steal_pointer (&url);
  self->ca_file = g_steal_pointer (&ca);
  self->insecure_url = insecure;

  for (gsize i = 0; i < G_N_ELEMENTS (headers); i++)
    {
      struct curl_slist *l = curl_slist_append (self->headers, headers[i]);

      if (l == NULL)
        {
          g_set_error (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED,
                       "cannot build the request headers");
          return NULL;
        }
      self->headers = l;
    }

  self->share = curl_share_init ();
  self->multi = curl_multi_init ();
  if (self->share == NULL || self->multi == NULL ||
      curl_share_setopt (self->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
      curl_multi_setopt (self->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
      curl_multi_setopt (self->multi, CURLMOPT_SOCKETDATA, self) != CURLM_OK ||
      curl_multi_setopt (self->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
      curl_multi_setopt (self->multi, CURLMOPT_TIMERDATA, self) != CURLM_OK ||
      /* A burst of PNEs must not open a TLS connection each: requests
       * beyond these wait for a free connection. */
      curl_multi_setopt (self->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                         (long) GW_UPSTREAM_MAX_CONNECTIONS) != CURLM_OK ||
      curl_multi_setopt (self->multi, CURLMOPT_MAXCONNECTS,
                         (long) GW_UPSTREAM_MAX_CONNECTIONS) != CURLM_OK)
    {
      g_set_error (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED,
                   "cannot set up libcurl");
      return NULL;
    }

  g_debug ("upstream %s, trusting %s", self->base_url,
           self->ca_file != NULL ? self->ca_file : "the system CA store");
  return g_steal_pointer (&self);
}

const char *
gw_upstream_get_base_url (GwUpstream *self)
{
  g_return_val_if_fail (GW_IS_UPSTREAM (self), NULL);

  return self->base_url;
}

void
gw_upstream_set_allow_insecure (GwUpstream *self, gboolean allow)
{
  g_return_if_fail (GW_IS_UPSTREAM (self));

  self->allow_insecure = !!allow;
}

void
gw_upstream_set_timeouts (GwUpstream *self, guint connect_ms, guint total_ms)
{
  g_return_if_fail (GW_IS_UPSTREAM (self));

  if (connect_ms > 0)
    self->connect_ms = connect_ms;
  if (total_ms > 0)
    self->total_ms = total_ms;
}

/* A configured easy handle for @req, or FALSE if libcurl refused an option
 * (out of memory, or a libcurl built without TLS). */
static gboolean
request_setup (GwUpstream *self, Request *req, guint timeout_ms)
{
  CURL *e = req->easy;
  gsize len = 0;
  const void *data = g_bytes_get_data (req->body, &len);
  gboolean ok = TRUE;

  ok &= curl_easy_setopt (e, CURLOPT_PRIVATE, req) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_ERRORBUFFER, req->errbuf) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_URL, req->url) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
  ok &= curl_easy_setopt (e, CURLOPT_PROTOCOLS_STR,
                          self->allow_insecure ? "http,https" : "https") == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_REDIR_PROTOCOLS_STR, "https") == CURLE_OK;
#else
  ok &= curl_easy_setopt (e, CURLOPT_PROTOCOLS,
                          self->allow_insecure ? (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS)
                                               : (long) CURLPROTO_HTTPS) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_REDIR_PROTOCOLS, (long) CURLPROTO_HTTPS) == CURLE_OK;
#endif
  ok &= curl_easy_setopt (e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_USERAGENT, "pngwd") == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_HTTPHEADER, self->headers) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_POST, 1L) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_POSTFIELDS, data != NULL ? data : "") == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_WRITEDATA, req) == CURLE_OK;
  /* Bodies are small (a few hundred bytes, at most GW_UPSTREAM_MAX_BODY):
   * libcurl's defaults of 16 KiB to receive and 64 KiB to send, per
   * transfer, were most of the heap a burst of PNEs grew. */
  ok &= curl_easy_setopt (e, CURLOPT_BUFFERSIZE, 4096L) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x073e00
  ok &= curl_easy_setopt (e, CURLOPT_UPLOAD_BUFFERSIZE, 16384L) == CURLE_OK;
#endif
  ok &= curl_easy_setopt (e, CURLOPT_MAXFILESIZE_LARGE,
                          (curl_off_t) GW_UPSTREAM_MAX_BODY) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_CONNECTTIMEOUT_MS, (long) self->connect_ms) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_TIMEOUT_MS,
                          (long) (timeout_ms > 0 ? timeout_ms : self->total_ms)) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
  ok &= curl_easy_setopt (e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
  if (self->ca_file != NULL)
    {
      /* Only the configured CAs: libcurl's built-in CA directory would
       * otherwise add the whole system store. */
      ok &= curl_easy_setopt (e, CURLOPT_CAINFO, self->ca_file) == CURLE_OK;
      ok &= curl_easy_setopt (e, CURLOPT_CAPATH, NULL) == CURLE_OK;
    }
  ok &= curl_easy_setopt (e, CURLOPT_SHARE, self->share) == CURLE_OK;
  /* With HTTP/2 a second request waits to share the first one's connection
   * instead of opening its own. */
  ok &= curl_easy_setopt (e, CURLOPT_PIPEWAIT, 1L) == CURLE_OK;
  return ok;
}

void
gw_upstream_post_async (GwUpstream *self, const char *path, GBytes *body, guint timeout_ms,
                        GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *url = NULL;
  Request *req;
  gsize len;

  g_return_if_fail (GW_IS_UPSTREAM (self));
  g_return_if_fail (path != NULL && path[0] == '/');
  g_return_if_fail (body != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  /* No source object: a request must not keep the GwUpstream alive. */
  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, gw_upstream_post_async);
  /* Our own CANCELLED error, and a result that arrived stays a result. */
  g_task_set_check_cancellable (task, FALSE);
  g_task_set_task_data (task, g_new0 (Reply, 1), g_free);
  url = g_strconcat (self->base_url, path, NULL);
  len = g_bytes_get_size (body);

  if (self->multi == NULL)
    {
      g_task_return_new_error (task, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_CANCELLED,
                               "POST %s: the upstream client is gone", url);
      return;
    }
  if (len > GW_UPSTREAM_MAX_BODY)
    {
      g_task_return_new_error (task, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_TOO_LARGE,
                               "POST %s: request body of %" G_GSIZE_FORMAT
                               " bytes is above the limit of %d", url, len,
                               GW_UPSTREAM_MAX_BODY);
      return;
    }
  if (self->insecure_url && !self->allow_insecure)
    {
      g_task_return_new_error (task, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_TLS,
                               "POST %s: refusing plain HTTP; the server URL must be "
                               "https:// unless insecure mode is enabled for debugging",
                               url);
      return;
    }
  if (g_cancellable_is_cancelled (cancellable))
    {
      g_task_return_new_error (task, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_CANCELLED,
                               "POST %s: cancelled", url);
      return;
    }

  req = g_new0 (Request, 1);
  req->self = self;
  req->link.data = req;
  req->url = g_steal_pointer (&url);
  req->body = g_bytes_ref (body);
  req->timeout_ms = timeout_ms > 0 ? timeout_ms : self->total_ms;
  req->queued_at = g_get_monotonic_time ();
  req->task = g_steal_pointer (&task);

  /* Cancellation arrives through the main context even if another thread
   * cancels, so libcurl is only ever called from here. */
  if (cancellable != NULL)
    {
      req->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (req->cancel_source, G_SOURCE_FUNC (on_cancelled), req, NULL);
      g_source_set_static_name (req->cancel_source, "GwUpstream cancel");
      g_source_attach (req->cancel_source, self->context);
    }

  g_debug ("POST %s: %" G_GSIZE_FORMAT " bytes", req->url, len);
  g_queue_push_tail_link (&self->waiting, &req->link);
  start_waiting (self);
}

static void
set_timed_out_waiting (Request *req)
{
  g_set_error (&req->error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_UNREACHABLE,
               "POST %s: timed out after %u ms waiting for a connection", req->url,
               req->timeout_ms);
}

static gint64
waiting_deadline (const Request *req)
{
  return req->queued_at + (gint64) req->timeout_ms * 1000;
}

static gboolean on_wait_timer (gpointer user_data);

/* One timer for all waiting requests, at the earliest deadline. */
static void
schedule_wait_timer (GwUpstream *self)
{
  gint64 earliest = G_MAXINT64;

  for (GList *l = self->waiting.head; l != NULL; l = l->next)
    earliest = MIN (earliest, waiting_deadline (l->data));
  /* Under load this runs per finished transfer: keep a timer that is right. */
  if (self->wait_timer != NULL && self->wait_deadline == earliest)
    return;
  if (self->wait_timer != NULL)
    {
      g_source_destroy (self->wait_timer);
      g_clear_pointer (&self->wait_timer, g_source_unref);
    }
  if (earliest == G_MAXINT64)
    return;
  self->wait_deadline = earliest;
  self->wait_timer = g_timeout_source_new (
    (guint) CLAMP ((earliest - g_get_monotonic_time ()) / 1000 + 1, 0, G_MAXINT));
  g_source_set_callback (self->wait_timer, on_wait_timer, self, NULL);
  g_source_set_static_name (self->wait_timer, "GwUpstream waiting");
  g_source_attach (self->wait_timer, self->context);
}

static gboolean
on_wait_timer (gpointer user_data)
{
  g_autoptr(GwUpstream) self = g_object_ref (user_data);
  GQueue expired = G_QUEUE_INIT;
  gint64 now = g_get_monotonic_time ();
  GList *l, *next;

  g_clear_pointer (&self->wait_timer, g_source_unref);
  for (l = self->waiting.head; l != NULL; l = next)
    {
      Request *req = l->data;

      next = l->next;
      if (waiting_deadline (req) > now)
        continue;
      set_timed_out_waiting (req);
      request_detach (self, req);
      g_queue_push_tail_link (&expired, &req->link);
    }
  schedule_wait_timer (self);
  while ((l = g_queue_pop_head_link (&expired)) != NULL)
    request_deliver (l->data);
  return G_SOURCE_REMOVE;
}

/* Hands @req to libcurl; FALSE with req->error set when it cannot go. */
static gboolean
request_start (GwUpstream *self, Request *req)
{
  gint64 waited_ms = (g_get_monotonic_time () - req->queued_at) / 1000;
  CURLMcode rc;

  g_queue_unlink (&self->waiting, &req->link);
  g_queue_push_tail_link (&self->requests, &req->link);
  req->started = TRUE;
  if (waited_ms >= req->timeout_ms)
    {
      set_timed_out_waiting (req);
      return FALSE;
    }
  req->response = g_byte_array_new ();
  req->easy = curl_easy_init ();
  if (req->easy == NULL || !request_setup (self, req, req->timeout_ms - (guint) waited_ms))
    {
      g_set_error (&req->error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED,
                   "POST %s: cannot set up a libcurl transfer", req->url);
      return FALSE;
    }
  rc = curl_multi_add_handle (self->multi, req->easy);
  if (rc != CURLM_OK)
    {
      g_set_error (&req->error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED,
                   "POST %s: %s", req->url, curl_multi_strerror (rc));
      return FALSE;
    }
  return TRUE;
}

/* Fills the places among GW_UPSTREAM_MAX_ACTIVE in order; requests that cannot start
 * are delivered afterwards, as their callbacks may post again. */
static void
start_waiting (GwUpstream *self)
{
  GQueue failed = G_QUEUE_INIT;
  GList *link;

  while (self->multi != NULL && g_queue_get_length (&self->requests) < GW_UPSTREAM_MAX_ACTIVE &&
         !g_queue_is_empty (&self->waiting))
    {
      Request *req = g_queue_peek_head (&self->waiting);

      if (!request_start (self, req))
        {
          request_detach (self, req);
          g_queue_push_tail_link (&failed, &req->link);
        }
    }
  schedule_wait_timer (self);
  while ((link = g_queue_pop_head_link (&failed)) != NULL)
    request_deliver (link->data);
}

GBytes *
gw_upstream_post_finish_full (GwUpstream *self, GAsyncResult *result, guint *http_status,
                              guint *retry_after_s, GError **error)
{
  Reply *reply;

  g_return_val_if_fail (self == NULL || GW_IS_UPSTREAM (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == gw_upstream_post_async,
                        NULL);

  reply = g_task_get_task_data (G_TASK (result));
  if (http_status != NULL)
    *http_status = reply->status;
  if (retry_after_s != NULL)
    *retry_after_s = reply->retry_after;
  return g_task_propagate_pointer (G_TASK (result), error);
}

GBytes *
gw_upstream_post_finish (GwUpstream *self, GAsyncResult *result, guint *http_status,
                         GError **error)
{
  return gw_upstream_post_finish_full (self, result, http_status, NULL, error);
}
