/* SPDX-License-Identifier: GPL-3.0-or-later */

/* GwUpstream against an in-process libsoup HTTPS server on 127.0.0.1, in the
 * same thread and main context: any blocking call in the client would hang
 * the test.  Certificates are made at run time with the openssl command. */

#include <errno.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gw-upstream.h"

#define PREFIX "/cpns/v1"

/* ---- certificates ---- */

static char *cert_dir;

static const char openssl_cnf[] =
  "[req]\n"
  "distinguished_name = dn\n"
  "prompt = no\n"
  "[dn]\n"
  "CN = unused\n"
  "[ca_ext]\n"
  "basicConstraints = critical,CA:TRUE\n"
  "keyUsage = critical,keyCertSign,cRLSign\n"
  "subjectKeyIdentifier = hash\n"
  "[server_ext]\n"
  "basicConstraints = critical,CA:FALSE\n"
  "keyUsage = critical,digitalSignature\n"
  "extendedKeyUsage = serverAuth\n"
  "subjectAltName = IP:127.0.0.1,DNS:localhost\n"
  "subjectKeyIdentifier = hash\n"
  "authorityKeyIdentifier = keyid\n"
  "[wrong_name_ext]\n"
  "basicConstraints = critical,CA:FALSE\n"
  "keyUsage = critical,digitalSignature\n"
  "extendedKeyUsage = serverAuth\n"
  "subjectAltName = DNS:wrong.example\n"
  "subjectKeyIdentifier = hash\n"
  "authorityKeyIdentifier = keyid\n";

static char *
cert_path (const char *name)
{
  return g_build_filename (cert_dir, name, NULL);
}

static void
run_openssl (const char *const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  g_ptr_array_add (argv, (gpointer) "openssl");
  for (; *args != NULL; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_sync (cert_dir, (char **) argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL,
                     NULL, &out, &err, &status, &error) ||
      !g_spawn_check_wait_status (status, &error))
    g_error ("openssl %s failed: %s\n%s", (char *) argv->pdata[1], error->message, err);
}

static void
make_ca (const char *name, const char *cn)
{
  g_autofree char *key = g_strconcat (name, ".key", NULL);
  g_autofree char *pem = g_strconcat (name, ".pem", NULL);
  g_autofree char *subj = g_strconcat ("/CN=", cn, NULL);
  const char *const args[] = {
    "req", "-x509", "-config", "openssl.cnf", "-extensions", "ca_ext",
    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", key, "-out", pem, "-days", "2", "-subj", subj, NULL
  };

  run_openssl (args);
}

static void
make_leaf (const char *name, const char *ca, const char *extensions, const char *serial)
{
  g_autofree char *key = g_strconcat (name, ".key", NULL);
  g_autofree char *csr = g_strconcat (name, ".csr", NULL);
  g_autofree char *pem = g_strconcat (name, ".pem", NULL);
  g_autofree char *ca_key = g_strconcat (ca, ".key", NULL);
  g_autofree char *ca_pem = g_strconcat (ca, ".pem", NULL);
  const char *const req_args[] = {
    "req", "-new", "-config", "openssl.cnf", "-newkey", "ec",
    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
    "-out", csr, "-subj", "/CN=pngw test server", NULL
  };
  const char *const sign_args[] = {
    "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
    "-set_serial", serial, "-days", "2", "-extfile", "openssl.cnf",
    "-extensions", extensions, "-out", pem, NULL
  };

  run_openssl (req_args);
  run_openssl (sign_args);
}

static void
make_certificates (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cnf = NULL;

  cert_dir = g_dir_make_tmp ("pngw-test-upstream-XXXXXX", &error);
  g_assert_no_error (error);
  cnf = cert_path ("openssl.cnf");
  g_assert_true (g_file_set_contents (cnf, openssl_cnf, -1, &error));
  make_ca ("ca", "pngw test CA");
  make_ca ("other-ca", "pngw other CA");
  make_leaf ("server", "ca", "server_ext", "2");
  make_leaf ("wrong-name", "ca", "wrong_name_ext", "3");
  g_clear_pointer (&cnf, g_free);
  cnf = cert_path ("empty.pem");
  g_assert_true (g_file_set_contents (cnf, "not a certificate\n", -1, &error));
}

static void
remove_certificates (void)
{
  g_autoptr(GDir) dir = g_dir_open (cert_dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = cert_path (name);
      g_unlink (path);
    }
  g_rmdir (cert_dir);
  g_clear_pointer (&cert_dir, g_free);
}

/* ---- the test server ---- */

typedef struct _TestServer TestServer;

typedef struct {
  TestServer        *ts;
  SoupServerMessage *msg;
  guint              source;
} Delayed;

struct _TestServer {
  SoupServer *server;
  char       *base;       /* https://127.0.0.1:PORT/cpns/v1 */
  GHashTable *ports;      /* client ports seen: one per connection */
  guint       requests;
  GPtrArray  *delayed;    /* Delayed, paused until their timeout */
};

static void
respond (SoupServerMessage *msg, guint status, const char *type, const void *data, gsize len)
{
  soup_server_message_set_status (msg, status, NULL);
  if (len > 0)
    soup_server_message_set_response (msg, type, SOUP_MEMORY_COPY, data, len);
}

static void
respond_echo (SoupServerMessage *msg)
{
  g_autoptr(GBytes) body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  gsize len;
  const void *data = g_bytes_get_data (body, &len);

  respond (msg, SOUP_STATUS_OK, GW_UPSTREAM_MEDIA_TYPE, data, len);
}

static void
delayed_free (Delayed *d)
{
  if (d->source != 0)
    g_source_remove (d->source);
  g_object_unref (d->msg);
  g_free (d);
}

static void
delayed_answer (Delayed *d)
{
  respond_echo (d->msg);
  soup_server_message_unpause (d->msg);
  g_ptr_array_remove_fast (d->ts->delayed, d);
}

static gboolean
on_delay_over (gpointer user_data)
{
  Delayed *d = user_data;

  d->source = 0;
  delayed_answer (d);
  return G_SOURCE_REMOVE;
}

/* Answers every held or delayed request now. */
static void
test_server_release (TestServer *ts)
{
  while (ts->delayed->len > 0)
    {
      Delayed *d = g_ptr_array_index (ts->delayed, 0);

      g_clear_handle_id (&d->source, g_source_remove);
      delayed_answer (d);
    }
}

static void
handle (SoupServer *server G_GNUC_UNUSED, SoupServerMessage *msg, const char *path,
        GHashTable *query G_GNUC_UNUSED, gpointer user_data)
{
  TestServer *ts = user_data;
  SoupMessageHeaders *req_headers = soup_server_message_get_request_headers (msg);
  GInetSocketAddress *peer = G_INET_SOCKET_ADDRESS (soup_server_message_get_remote_address (msg));
  const char *type = soup_message_headers_get_content_type (req_headers, NULL);
  const char *what;

  ts->requests++;
  g_hash_table_add (ts->ports, GUINT_TO_POINTER (g_inet_socket_address_get_port (peer)));

  if (strcmp (soup_server_message_get_method (msg), "POST") != 0)
    {
      respond (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL, NULL, 0);
      return;
    }
  if (g_strcmp0 (type, GW_UPSTREAM_MEDIA_TYPE) != 0)
    {
      respond (msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, NULL, NULL, 0);
      return;
    }
  if (!g_str_has_prefix (path, PREFIX "/"))
    {
      respond (msg, SOUP_STATUS_NOT_FOUND, NULL, NULL, 0);
      return;
    }
  what = path + strlen (PREFIX "/");

  if (strcmp (what, "echo") == 0)
    respond_echo (msg);
  else if (strcmp (what, "close") == 0)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Connection", "close");
      respond_echo (msg);
    }
  else if (g_str_has_prefix (what, "status/"))
    {
      guint status = atoi (what + strlen ("status/"));

      if (status == 429)
        soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                      "Retry-After", "7");
      if (status == SOUP_STATUS_NO_CONTENT)
        respond (msg, status, NULL, NULL, 0);
      else
        respond (msg, status, GW_UPSTREAM_MEDIA_TYPE, "\xa0", 1);
    }
  else if (strcmp (what, "html") == 0)
    {
      static const char page[] = "<html><body>Bad Gateway</body></html>";
      respond (msg, SOUP_STATUS_BAD_GATEWAY, "text/html", page, strlen (page));
    }
  else if (g_str_has_prefix (what, "delay/") || strcmp (what, "hold") == 0)
    {
      Delayed *d = g_new0 (Delayed, 1);

      d->ts = ts;
      d->msg = g_object_ref (msg);
      /* Held ones wait for test_server_release(). */
      if (what[0] == 'd')
        d->source = g_timeout_add (atoi (what + strlen ("delay/")), on_delay_over, d);
      g_ptr_array_add (ts->delayed, d);
      soup_server_message_pause (msg);
    }
  else if (g_str_has_prefix (what, "big/") || g_str_has_prefix (what, "chunked/"))
    {
      gboolean chunked = what[0] == 'c';
      gsize size = atoi (strchr (what, '/') + 1);
      g_autofree char *data = g_malloc (size);
      SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
      SoupMessageBody *body = soup_server_message_get_response_body (msg);

      memset (data, 'x', size);
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_message_headers_set_content_type (headers, GW_UPSTREAM_MEDIA_TYPE, NULL);
      if (chunked)
        soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
      for (gsize off = 0; off < size; off += 4096)
        soup_message_body_append (body, SOUP_MEMORY_COPY, data + off, MIN (4096, size - off));
      soup_message_body_complete (body);
    }
  else
    respond (msg, SOUP_STATUS_NOT_FOUND, NULL, NULL, 0);
}

static TestServer *
test_server_new (const char *cert_name)
{
  TestServer *ts = g_new0 (TestServer, 1);
  g_autoptr(GError) error = NULL;
  SoupServerListenOptions options = SOUP_SERVER_LISTEN_IPV4_ONLY;
  GSList *uris;

  if (cert_name != NULL)
    {
      g_autofree char *name = g_strconcat (cert_name, ".pem", NULL);
      g_autofree char *key_name = g_strconcat (cert_name, ".key", NULL);
      g_autofree char *pem = cert_path (name);
      g_autofree char *key = cert_path (key_name);
      g_autoptr(GTlsCertificate) cert = g_tls_certificate_new_from_files (pem, key, &error);

      g_assert_no_error (error);
      ts->server = soup_server_new ("tls-certificate", cert, NULL);
      options |= SOUP_SERVER_LISTEN_HTTPS;
    }
  else
    ts->server = soup_server_new (NULL, NULL);
  ts->ports = g_hash_table_new (NULL, NULL);
  ts->delayed = g_ptr_array_new_with_free_func ((GDestroyNotify) delayed_free);
  soup_server_add_handler (ts->server, NULL, handle, ts, NULL);
  g_assert_true (soup_server_listen_local (ts->server, 0, options, &error));
  g_assert_no_error (error);

  uris = soup_server_get_uris (ts->server);
  g_assert_nonnull (uris);
  ts->base = g_strdup_printf ("%s://127.0.0.1:%d" PREFIX,
                              cert_name != NULL ? "https" : "http",
                              g_uri_get_port (uris->data));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return ts;
}

static void
test_server_free (TestServer *ts)
{
  gint64 until = g_get_monotonic_time () + 20 * 1000;

  g_ptr_array_unref (ts->delayed);
  soup_server_disconnect (ts->server);
  g_object_unref (ts->server);
  /* libsoup finishes closing connections from the main loop. */
  while (g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, FALSE);
  g_hash_table_unref (ts->ports);
  g_free (ts->base);
  g_free (ts);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestServer, test_server_free)

/* ---- the client side ---- */

typedef struct {
  gboolean done;
  GBytes  *body;
  guint    status;
  guint    retry_after;
  GError  *error;
  gint64   started;
  gint64   elapsed_ms;
} Result;

static void
result_clear (Result *r)
{
  g_clear_pointer (&r->body, g_bytes_unref);
  g_clear_error (&r->error);
  memset (r, 0, sizeof *r);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Result, result_clear)

static void
on_posted (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Result *r = user_data;

  /* Requests hold no reference on the upstream. */
  g_assert_null (source);
  g_assert_false (r->done);
  r->body = gw_upstream_post_finish_full (NULL, res, &r->status, &r->retry_after, &r->error);
  g_assert_true ((r->body == NULL) != (r->error == NULL));
  r->elapsed_ms = (g_get_monotonic_time () - r->started) / 1000;
  r->done = TRUE;
}

static void
start (GwUpstream *up, const char *path, GBytes *body, guint timeout_ms,
       GCancellable *cancellable, Result *r)
{
  g_autoptr(GBytes) empty = NULL;

  memset (r, 0, sizeof *r);
  r->started = g_get_monotonic_time ();
  if (body == NULL)
    body = empty = g_bytes_new (NULL, 0);
  gw_upstream_post_async (up, path, body, timeout_ms, cancellable, on_posted, r);
}

static void
wait_for (Result *r)
{
  while (!r->done)
    g_main_context_iteration (NULL, TRUE);
}

static void
post (GwUpstream *up, const char *path, GBytes *body, Result *r)
{
  start (up, path, body, 0, NULL, r);
  wait_for (r);
}

static GBytes *
random_bytes (gsize len)
{
  guint8 *data = g_malloc (len);

  for (gsize i = 0; i < len; i++)
    data[i] = g_random_int ();
  return g_bytes_new_take (data, len);
}

static GwUpstream *
upstream_for (TestServer *ts, const char *ca)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *ca_file = ca != NULL ? cert_path (ca) : NULL;
  GwUpstream *up = gw_upstream_new (ts->base, ca_file, &error);

  g_assert_no_error (error);
  g_assert_nonnull (up);
  return up;
}

/* Lets connections closed by either side settle, so nothing is pending
 * when a test ends. */
static void
settle (void)
{
  gint64 until = g_get_monotonic_time () + 20 * 1000;

  while (g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, FALSE);
}

/* ---- tests ---- */

static void
test_echo (void)
{
  g_autoptr(TestServer) ts = test_server_new ("server");
  g_autoptr(GwUpstream) up = upstream_for (ts, "ca.pem");
  g_autoptr(GBytes) body = random_bytes (1000);
  g_auto(Result) r = { 0 };

  post (up, "/echo", body, &r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_true (g_bytes_equal (r.body, body));
  g_assert_cmpuint (ts->requests, ==, 1);
  result_clear (&r);

  /* An empty request and the largest allowed one. */
  post (up, "/echo", NULL, &r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 200);
  g_assert_cmpuint (g_bytes_get_size (r.body), ==, 0);
  result_clear (&r);
  {
    g_autoptr(GBytes) max = random_bytes (GW_UPSTREAM_MAX_BODY);

    post (up, "/echo", max, &r);
    g_assert_no_error (r.error);
    g_assert_true (g_bytes_equal (r.body, max));
  }
  result_clear (&r);

  /* A base URL with a trailing slash gives the same URLs. */
  {
    g_autofree char *base = g_strconcat (ts->base, "/", NULL);
    g_autofree char *ca = cert_path ("ca.pem");
    g_autoptr(GError) error = NULL;
    g_autoptr(GwUpstream) up2 = gw_upstream_new (base, ca, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (gw_upstream_get_base_url (up2), ==, ts->base);
    post (up2, "/echo", body, &r);
    g_assert_no_error (r.error);
    g_assert_true (g_bytes_equal (r.body, body));
  }
  settle ();
}

/* Below the listen backlog of GSocketListener (10): beyond it the kernel
 * drops SYNs and the client retries a second later. */
#define N_CONCURRENT 8

static guint
count_done (const Result *r, guint n, gboolean held)
{
  guint done = 0;

  for (guint i = 0; i < n; i++)
    if ((i % 4 == 0) == held && r[i].done)
      done++;
  return done;
}

static void
test_concurrent (void)
{
  g_autoptr(TestServer) ts = test_server_new ("server");
  g_autoptr(GwUpstream) up = upstream_for (ts, "ca.pem");
  GBytes *bodies[N_CONCURRENT];
  Result r[N_CONCURRENT];
  guint n_held = (N_CONCURRENT + 3) / 4;
  gint64 t0 = g_get_monotonic_time ();

  /* Every fourth one is held by the server: the others must not queue
   * behind it. */
  for (guint i = 0; i < N_CONCURRENT; i++)
    {
      bodies[i] = random_bytes (100 + i);
      start (up, i % 4 == 0 ? "/hold" : "/echo", bodies[i], 0, NULL, &r[i]);
    }
  while (count_done (r, N_CONCURRENT, FALSE) < N_CONCURRENT - n_held)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (count_done (r, N_CONCURRENT, TRUE), ==, 0);
  while (ts->requests < N_CONCURRENT)
    g_main_context_iteration (NULL, TRUE);
  test_server_release (ts);

  for (guint i = 0; i < N_CONCURRENT; i++)
    {
      wait_for (&r[i]);
      g_assert_no_error (r[i].error);
      g_assert_cmpuint (r[i].status, ==, 200);
      g_assert_true (g_bytes_equal (r[i].body, bodies[i]));
      result_clear (&r[i]);
      g_bytes_unref (bodies[i]);
    }
  g_assert_cmpuint (ts->requests, ==, N_CONCURRENT);
  g_test_message ("%d concurrent requests in %" G_GINT64_FORMAT " ms over %u connections",
                  N_CONCURRENT, (g_get_monotonic_time () - t0) / 1000,
                  g_hash_table_size (ts->ports));
  settle ();
}

static void
test_status (void)
{
  g_autoptr(TestServer) ts = test_server_new ("server");
  g_autoptr(GwUpstream) up = upstream_for (ts, "ca.pem");
  g_auto(Result) r = { 0 };

  /* An error status with a CPNS body is a success at this layer. */
  post (up, "/status/409", NULL, &r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 409);
  g_assert_cmpmem (g_bytes_get_data (r.body, NULL), g_bytes_get_size (r.body), "\xa0", 1);
  g_assert_cmpuint (r.retry_after, ==, 0);
  result_clear (&r);

  post (up, "/status/204", NULL, &r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 204);
  g_assert_cmpuint (g_bytes_get_size (r.body), ==, 0);
  result_clear (&r);

  post (up, "/status/429", NULL, &r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 429);
  g_assert_cmpuint (r.retry_after, ==, 7);
  result_clear (&r);

  post (up, "/no-such-path", NULL, &r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 404);
  g_assert_cmpuint (g_bytes_get_size (r.body), ==, 0);
  result_clear (&r);

  /* A body that is not CPNS (a proxy's error page) is an HTTP error that
   * still reports the status. */
  post (up, "/html", NULL, &r);
  g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_HTTP);
  g_assert_cmpuint (r.status, ==, 502);
  g_assert_nonnull (strstr (r.error->message, "text/html"));
  g_assert_nonnull (strstr (r.error->message, ts->base));
  g_test_message ("%s", r.error->message);
  settle ();
}

/* A port bound but not listening refuses connections, and nobody else can
 * take it meanwhile. */
static void
test_refused (void)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t sa_len = sizeof sa;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_autofree char *url = NULL;
  g_autofree char *ca = cert_path ("ca.pem");
  g_autoptr(GError) error = NULL;
  g_autoptr(GwUpstream) up = NULL;
  g_auto(Result) r = { 0 };

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &sa, &sa_len), ==, 0);
  url = g_strdup_printf ("https://127.0.0.1:%u" PREFIX, ntohs (sa.sin_port));
  up = gw_upstream_new (url, ca, &error);
  g_assert_no_error (error);

  post (up, "/key", NULL, &r);
  g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_UNREACHABLE);
  g_assert_cmpuint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.error->message, url));
  g_assert_cmpint (r.elapsed_ms, <, 1000);
  g_test_message ("refused in %" G_GINT64_FORMAT " ms: %s", r.elapsed_ms, r.error->message);
  close (fd);
}

static void
test_untrusted (void)
{
  g_autoptr(TestServer) ts = test_server_new ("server");
  g_autoptr(TestServer) wrong = test_server_new ("wrong-name");
  g_auto(Result) r = { 0 };

  /* A certificate from another CA. */
  {
    g_autoptr(GwUpstream) up = upstream_for (ts, "other-ca.pem");

    post (up, "/echo", NULL, &r);
    g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_TLS);
    g_assert_nonnull (strstr (r.error->message, ts->base));
    g_test_message ("%s", r.error->message);
    result_clear (&r);
  }
  /* The system store does not know our CA either. */
  {
    g_autoptr(GwUpstream) up = upstream_for (ts, NULL);

    post (up, "/echo", NULL, &r);
    g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_TLS);
    result_clear (&r);
  }
  /* Our CA, but a certificate for another name. */
  {
    g_autoptr(GwUpstream) up = upstream_for (wrong, "ca.pem");

    post (up, "/echo", NULL, &r);
    g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_TLS);
    g_test_message ("%s", r.error->message);
    result_clear (&r);
  }
  g_assert_cmpuint (ts->requests, ==, 0);
  g_assert_cmpuint (wrong->requests, ==, 0);
  settle ();
}

static void
test_timeout (void)
{
  g_autoptr(TestServer) ts = test_server_new ("server");
  g_autoptr(GwUpstream) up = upstream_for (ts, "ca.pem");
  g_auto(Result) r = { 0 };

  /* The default total timeout... */
  gw_upstream_set_timeouts (up, 0, 300);
  post (up, "/delay/5000", NULL, &r);
  g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_UNREACHABLE);
  g_assert_nonnull (strstr (r.error->message, "timed out"));
  g_assert_cmpint (r.elapsed_ms, >=, 290);
  g_assert_cmpint (r.elapsed_ms, <, 2000);
  g_test_message ("timed out in %" G_GINT64_FORMAT " ms: %s", r.elapsed_ms, r.error->message);
  result_clear (&r);

  /* ...and one request's own, longer for a long poll... */
  start (up, "/delay/500", NULL, 3000, NULL, &r);
  wait_for (&r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 200);
  result_clear (&r);

  /* ...or shorter. */
  gw_upstream_set_timeouts (up, 0, 30000);
  start (up, "/delay/5000", NULL, 200, NULL, &r);
  wait_for (&r);
  g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_UNREACHABLE);
  g_assert_cmpint (r.elapsed_ms, <, 2000);
  settle ();
}

static gboolean
cancel_soon (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static gpointer
cancel_from_thread (gpointer user_data)
{
  g_usleep (50 * 1000);
  g_cancellable_cancel (user_data);
  return NULL;
}

static void
test_cancel (void)
{
  g_autoptr(TestServer) ts = test_server_new ("server");
  g_autoptr(GwUpstream) up = upstream_for (ts, "ca.pem");
  g_auto(Result) r = { 0 };

  /* Mid-request, from the main loop. */
  {
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();

    start (up, "/delay/5000", NULL, 0, cancellable, &r);
    g_timeout_add (100, cancel_soon, cancellable);
    wait_for (&r);
    g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_CANCELLED);
    g_assert_cmpint (r.elapsed_ms, <, 1000);
    g_test_message ("cancelled after %" G_GINT64_FORMAT " ms", r.elapsed_ms);
    result_clear (&r);
  }
  /* From another thread: still completed in the main context. */
  {
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    GThread *thread;

    start (up, "/delay/5000", NULL, 0, cancellable, &r);
    thread = g_thread_new ("cancel", cancel_from_thread, cancellable);
    wait_for (&r);
    g_thread_join (thread);
    g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_CANCELLED);
    g_assert_cmpint (r.elapsed_ms, <, 1000);
    result_clear (&r);
  }
  /* Already cancelled: nothing is sent, and the callback still comes from
   * the main loop, not from within post_async. */
  {
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    guint before = ts->requests;

    g_cancellable_cancel (cancellable);
    start (up, "/echo", NULL, 0, cancellable, &r);
    g_assert_false (r.done);
    wait_for (&r);
    g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_CANCELLED);
    result_clear (&r);
    settle ();
    g_assert_cmpuint (ts->requests, ==, before);
  }
  /* A cancellable that is never used changes nothing. */
  {
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();

    start (up, "/echo", NULL, 0, cancellable, &r);
    wait_for (&r);
    g_assert_no_error (r.error);
    g_assert_cmpuint (r.status, ==, 200);
    result_clear (&r);
    /* Cancelling after completion is harmless. */
    g_cancellable_cancel (cancellable);
    settle ();
  }
  settle ();
}

/* Beyond GW_UPSTREAM_MAX_ACTIVE, requests wait in the upstream's own queue:
 * one cancelled there or out of time there never reaches the server, and
 * the others go in order once places free up. */
static void
test_waiting (void)
{
  g_autoptr(TestServer) ts = test_server_new ("server");
  g_autoptr(GwUpstream) up = upstream_for (ts, "ca.pem");
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GBytes) body = random_bytes (64);
  Result held[GW_UPSTREAM_MAX_ACTIVE];
  g_auto(Result) cancelled = { 0 };
  g_auto(Result) late = { 0 };
  g_auto(Result) queued = { 0 };

  for (guint i = 0; i < GW_UPSTREAM_MAX_ACTIVE; i++)
    start (up, "/hold", NULL, 0, NULL, &held[i]);
  start (up, "/echo", body, 0, cancellable, &cancelled);
  start (up, "/echo", body, 300, NULL, &late);
  start (up, "/echo", body, 0, NULL, &queued);
  /* The server holds as many as there are connections; libcurl has the
   * others of the first batch waiting for one. */
  while (ts->requests < GW_UPSTREAM_MAX_CONNECTIONS)
    g_main_context_iteration (NULL, TRUE);

  g_cancellable_cancel (cancellable);
  wait_for (&cancelled);
  g_assert_error (cancelled.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_CANCELLED);
  wait_for (&late);
  g_assert_error (late.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_UNREACHABLE);
  g_assert_nonnull (strstr (late.error->message, "waiting for a connection"));
  g_test_message ("%s", late.error->message);
  g_assert_false (queued.done);
  g_assert_cmpuint (ts->requests, ==, GW_UPSTREAM_MAX_CONNECTIONS);

  while (ts->requests < GW_UPSTREAM_MAX_ACTIVE)
    {
      test_server_release (ts);
      g_main_context_iteration (NULL, TRUE);
    }
  test_server_release (ts);
  wait_for (&queued);
  g_assert_no_error (queued.error);
  g_assert_true (g_bytes_equal (queued.body, body));
  for (guint i = 0; i < GW_UPSTREAM_MAX_ACTIVE; i++)
    {
      wait_for (&held[i]);
      g_assert_no_error (held[i].error);
      g_assert_cmpuint (held[i].status, ==, 200);
      result_clear (&held[i]);
    }
  /* The cancelled and the late one never went out. */
  g_assert_cmpuint (ts->requests, ==, GW_UPSTREAM_MAX_ACTIVE + 1);
  settle ();
}

static void
test_too_large (void)
{
  g_autoptr(TestServer) ts = test_server_new ("server");
  g_autoptr(GwUpstream) up = upstream_for (ts, "ca.pem");
  g_auto(Result) r = { 0 };
  g_autofree char *at_limit = g_strdup_printf ("/big/%d", GW_UPSTREAM_MAX_BODY);
  g_autofree char *above = g_strdup_printf ("/big/%d", GW_UPSTREAM_MAX_BODY + 1);
  g_autofree char *chunked_at_limit = g_strdup_printf ("/chunked/%d", GW_UPSTREAM_MAX_BODY);

  post (up, at_limit, NULL, &r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (g_bytes_get_size (r.body), ==, GW_UPSTREAM_MAX_BODY);
  result_clear (&r);

  post (up, chunked_at_limit, NULL, &r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (g_bytes_get_size (r.body), ==, GW_UPSTREAM_MAX_BODY);
  result_clear (&r);

  /* Announced by Content-Length: refused before the body is read. */
  post (up, above, NULL, &r);
  g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_TOO_LARGE);
  g_assert_cmpuint (r.status, ==, 200);
  g_test_message ("%s", r.error->message);
  result_clear (&r);

  /* Unannounced (chunked): cut off as it arrives. */
  post (up, "/chunked/1000000", NULL, &r);
  g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_TOO_LARGE);
  g_test_message ("%s", r.error->message);
  result_clear (&r);

  /* A request body above the limit is not sent at all. */
  {
    g_autoptr(GBytes) big = random_bytes (GW_UPSTREAM_MAX_BODY + 1);
    guint before = ts->requests;

    post (up, "/echo", big, &r);
    g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_TOO_LARGE);
    g_assert_cmpuint (ts->requests, ==, before);
    result_clear (&r);
  }

  /* The client is still fine afterwards. */
  post (up, "/echo", NULL, &r);
  g_assert_no_error (r.error);
  settle ();
}

static void
on_posted_drop_upstream (GObject *source G_GNUC_UNUSED, GAsyncResult *res, gpointer user_data)
{
  GwUpstream **up = user_data;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;

  body = gw_upstream_post_finish (*up, res, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (up);
}

static void
test_dispose_in_flight (void)
{
  g_autoptr(TestServer) ts = test_server_new ("server");
  Result r[3];

  /* Dropped by its owner while requests wait on the server. */
  {
    GwUpstream *up = upstream_for (ts, "ca.pem");

    for (guint i = 0; i < G_N_ELEMENTS (r); i++)
      start (up, "/delay/5000", NULL, 0, NULL, &r[i]);
    /* Let them reach the server. */
    while (ts->requests < G_N_ELEMENTS (r))
      g_main_context_iteration (NULL, TRUE);
    g_object_unref (up);
    for (guint i = 0; i < G_N_ELEMENTS (r); i++)
      {
        wait_for (&r[i]);
        g_assert_error (r[i].error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_CANCELLED);
        g_assert_cmpint (r[i].elapsed_ms, <, 1000);
        result_clear (&r[i]);
      }
  }
  /* Dropped from the callback of one request while another is in flight,
   * that is from inside the client's own event handling. */
  {
    GwUpstream *up = upstream_for (ts, "ca.pem");
    GwUpstream *owner = up;

    start (up, "/delay/5000", NULL, 0, NULL, &r[0]);
    gw_upstream_post_async (up, "/echo", r[1].body = g_bytes_new ("x", 1), 0, NULL,
                            on_posted_drop_upstream, &owner);
    g_clear_pointer (&r[1].body, g_bytes_unref);
    wait_for (&r[0]);
    g_assert_null (owner);
    g_assert_error (r[0].error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_CANCELLED);
    result_clear (&r[0]);
  }
  /* Disposed explicitly, then used: requests fail at once. */
  {
    GwUpstream *up = upstream_for (ts, "ca.pem");

    start (up, "/delay/5000", NULL, 0, NULL, &r[0]);
    g_object_run_dispose (G_OBJECT (up));
    wait_for (&r[0]);
    g_assert_error (r[0].error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_CANCELLED);
    result_clear (&r[0]);
    post (up, "/echo", NULL, &r[0]);
    g_assert_error (r[0].error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_CANCELLED);
    result_clear (&r[0]);
    g_object_unref (up);
  }
  settle ();
}

static void
test_insecure (void)
{
  g_autoptr(TestServer) ts = test_server_new (NULL);
  g_autoptr(GwUpstream) up = upstream_for (ts, NULL);
  g_auto(Result) r = { 0 };

  g_assert_true (g_str_has_prefix (ts->base, "http://"));
  post (up, "/echo", NULL, &r);
  g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_TLS);
  g_assert_cmpuint (ts->requests, ==, 0);
  g_test_message ("%s", r.error->message);
  result_clear (&r);

  gw_upstream_set_allow_insecure (up, TRUE);
  post (up, "/echo", NULL, &r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.status, ==, 200);
  result_clear (&r);

  gw_upstream_set_allow_insecure (up, FALSE);
  post (up, "/echo", NULL, &r);
  g_assert_error (r.error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_TLS);
  g_assert_cmpuint (ts->requests, ==, 1);
  settle ();
}

static void
test_bad_config (void)
{
  static const char *const bad_urls[] = {
    "", "not a url", "cpns.example.net", "ftp://cpns.example.net/",
    "https://", "https:///cpns", "https://user:pw@cpns.example.net/cpns/v1",
    "https://cpns.example.net/cpns/v1?x=1", "https://cpns.example.net/cpns/v1#top",
    "https://cpns.example.net/cp ns", "https://cpns.example.net/\n",
  };
  g_autofree char *ca = cert_path ("ca.pem");
  g_autofree char *missing = cert_path ("missing.pem");
  g_autofree char *empty = cert_path ("empty.pem");

  for (gsize i = 0; i < G_N_ELEMENTS (bad_urls); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GwUpstream) up = gw_upstream_new (bad_urls[i], ca, &error);

      g_assert_null (up);
      g_assert_error (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED);
    }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GwUpstream) up = gw_upstream_new ("https://cpns.example.net/cpns/v1", missing,
                                                &error);

    g_assert_null (up);
    g_assert_error (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED);
    g_test_message ("%s", error->message);
  }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GwUpstream) up = gw_upstream_new ("https://cpns.example.net/cpns/v1", empty,
                                                &error);

    g_assert_null (up);
    g_assert_error (error, GW_UPSTREAM_ERROR, GW_UPSTREAM_ERROR_FAILED);
  }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GwUpstream) up = gw_upstream_new ("HTTPS://[::1]:8443", NULL, &error);

    g_assert_no_error (error);
    g_assert_nonnull (up);
  }
}

/* Sequential requests share one kept-alive connection. */
static void
test_reuse (void)
{
  g_autoptr(TestServer) ts = test_server_new ("server");
  g_autoptr(GwUpstream) up = upstream_for (ts, "ca.pem");
  g_auto(Result) r = { 0 };

  for (guint i = 0; i < 10; i++)
    {
      post (up, "/echo", NULL, &r);
      g_assert_no_error (r.error);
      result_clear (&r);
    }
  g_assert_cmpuint (ts->requests, ==, 10);
  g_assert_cmpuint (g_hash_table_size (ts->ports), ==, 1);

  /* A connection the server closes is replaced transparently. */
  post (up, "/close", NULL, &r);
  g_assert_no_error (r.error);
  result_clear (&r);
  post (up, "/echo", NULL, &r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (g_hash_table_size (ts->ports), ==, 2);
  settle ();
}

/* The TLS tests need the openssl command and a GIO TLS backend
 * (glib-networking); without them they are skipped, not failed. */
static const char *skip_reason;

static void
run_test (gconstpointer data)
{
  void (*test) (void) = (void (*) (void)) data;

  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  test ();
}

static void
add_test (const char *path, void (*test) (void))
{
  g_test_add_data_func (path, (gconstpointer) test, run_test);
}

int
main (int argc, char **argv)
{
  g_autofree char *openssl = NULL;
  int ret;

  /* libcurl honours proxy variables; the test talks to 127.0.0.1 only. */
  g_unsetenv ("http_proxy");
  g_unsetenv ("https_proxy");
  g_unsetenv ("HTTPS_PROXY");
  g_unsetenv ("all_proxy");
  g_unsetenv ("ALL_PROXY");

  g_test_init (&argc, &argv, NULL);
  openssl = g_find_program_in_path ("openssl");
  if (openssl == NULL)
    skip_reason = "the openssl command is not installed";
  else if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    skip_reason = "no GIO TLS backend (glib-networking) is installed";
  else
    make_certificates ();

  add_test ("/upstream/echo", test_echo);
  add_test ("/upstream/concurrent", test_concurrent);
  add_test ("/upstream/status", test_status);
  add_test ("/upstream/refused", test_refused);
  add_test ("/upstream/untrusted", test_untrusted);
  add_test ("/upstream/timeout", test_timeout);
  add_test ("/upstream/cancel", test_cancel);
  add_test ("/upstream/waiting", test_waiting);
  add_test ("/upstream/too-large", test_too_large);
  add_test ("/upstream/dispose-in-flight", test_dispose_in_flight);
  add_test ("/upstream/insecure", test_insecure);
  add_test ("/upstream/bad-config", test_bad_config);
  add_test ("/upstream/reuse", test_reuse);
  ret = g_test_run ();
  if (cert_dir != NULL)
    remove_certificates ();
  return ret;
}
