/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Load on one cpns-server through the gateway's own client code (GwUpstream,
 * GwEnrollment, GwServerLink): enrolments per second, with the PBKDF2 cost
 * shown apart, and protected requests per second.  build-aux/bench-server.py
 * starts the server and its users and runs this.
 *
 *   cpns-server-bench --url URL --ca FILE --user USER --password-file FILE
 *                     --iterations N [--enrollments N] [--requests N]
 *                     [--concurrency N] [--payload BYTES] [--prefix NAME]
 */

#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpns-crypto.h"
#include "cpns-keystore.h"
#include "cpns-message.h"
#include "gw-config.h"
#include "gw-enrollment.h"
#include "gw-server-link.h"
#include "gw-upstream.h"

typedef struct {
  GMainLoop    *loop;
  GwUpstream   *upstream;
  GwConfig     *config;
  const char   *user;
  CpnsSecret   *password;
  const char   *prefix;
  guint         total, started, done, failed, concurrency;
  GArray       *latencies;   /* microseconds */
  GwServerLink *link;
  GBytes       *body;
  gint64        t0;
  CpnsKeyEntry *entry;
} Bench;

static void next_enrollment (Bench *b);
static void next_request (Bench *b);

static int
cmp_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

static double
percentile (GArray *a, double p)
{
  if (a->len == 0)
    return 0;
  g_array_sort (a, cmp_gint64);
  return g_array_index (a, gint64, MIN (a->len - 1, (guint) (p * a->len))) / 1000.0;
}

/* ---- enrolments ---- */

typedef struct {
  Bench        *b;
  GwEnrollment *enrollment;
  gint64        start;
} Job;

static void
on_enrolled (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Job *job = user_data;
  Bench *b = job->b;
  g_autoptr(GError) error = NULL;
  g_autoptr(CpnsKeyEntry) entry = gw_enrollment_run_finish (job->enrollment, result, &error);
  gint64 us = g_get_monotonic_time () - job->start;

  g_array_append_val (b->latencies, us);
  if (entry == NULL)
    {
      b->failed++;
      if (b->failed <= 3)
        g_printerr ("enrolment failed: %s\n", error->message);
    }
  g_object_unref (job->enrollment);
  g_free (job);
  b->done++;
  if (b->done == b->total)
    g_main_loop_quit (b->loop);
  else
    next_enrollment (b);
}

static void
next_enrollment (Bench *b)
{
  Job *job;
  g_autofree char *id = NULL;

  if (b->started == b->total)
    return;
  job = g_new0 (Job, 1);
  job->b = b;
  id = g_strdup_printf ("%s-%u", b->prefix, b->started++);
  g_free (b->config->entity_id);
  b->config->entity_id = g_strdup (id);
  job->enrollment = gw_enrollment_new (b->upstream, b->config, NULL, b->user,
                                       b->password->data, b->password->len);
  job->start = g_get_monotonic_time ();
  gw_enrollment_run_async (job->enrollment, NULL, on_enrolled, job);
}

/* ---- protected requests ---- */

typedef struct {
  Bench  *b;
  gint64  start;
} Req;

static void
on_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Req *req = user_data;
  Bench *b = req->b;
  g_autoptr(GError) error = NULL;
  guint64 type = 0;
  g_autoptr(GBytes) reply = gw_server_link_request_finish (GW_SERVER_LINK (source), result,
                                                           &type, &error);
  gint64 us = g_get_monotonic_time () - req->start;

  g_array_append_val (b->latencies, us);
  if (reply == NULL || type != CPNS_MSG_DATA)
    {
      b->failed++;
      if (b->failed <= 3)
        g_printerr ("request failed: %s\n", error ? error->message : "no DATA echo");
    }
  g_free (req);
  b->done++;
  if (b->done == b->total)
    g_main_loop_quit (b->loop);
  else
    next_request (b);
}

static void
next_request (Bench *b)
{
  Req *req;

  if (b->started == b->total)
    return;
  b->started++;
  req = g_new0 (Req, 1);
  req->b = b;
  req->start = g_get_monotonic_time ();
  gw_server_link_request_async (b->link, CPNS_MSG_DATA, b->body, TRUE, NULL, on_reply, req);
}

static void
on_link_state (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  Bench *b = user_data;

  if (gw_server_link_get_state (b->link) == GW_LINK_CONNECTED && b->started == 0)
    {
      b->t0 = g_get_monotonic_time ();
      for (guint i = 0; i < b->concurrency; i++)
        next_request (b);
    }
}

static void
on_single_enrolment (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Bench *b = user_data;
  g_autoptr(GError) error = NULL;

  b->entry = gw_enrollment_run_finish (GW_ENROLLMENT (source), result, &error);
  if (b->entry == NULL)
    g_printerr ("cpns-server-bench: enrolment failed: %s\n", error->message);
  g_main_loop_quit (b->loop);
}

static void
reset (Bench *b, guint total)
{
  b->total = total;
  b->started = b->done = b->failed = 0;
  g_array_set_size (b->latencies, 0);
}

int
main (int argc, char **argv)
{
  g_autofree char *url = NULL, *ca = NULL, *user = NULL, *password_file = NULL;
  g_autofree char *prefix = NULL;
  int enrollments = 20, requests = 2000, concurrency = 8, payload = 64, iterations = 0;
  GOptionEntry entries[] = {
    { "url", 0, 0, G_OPTION_ARG_STRING, &url, "Server base URL", "URL" },
    { "ca", 0, 0, G_OPTION_ARG_FILENAME, &ca, "CA of the server certificate", "FILE" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &user, "User ID", "USER" },
    { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file, "Password", "FILE" },
    { "iterations", 0, 0, G_OPTION_ARG_INT, &iterations, "The user's PBKDF2 count", "N" },
    { "enrollments", 0, 0, G_OPTION_ARG_INT, &enrollments, "Enrolments to run", "N" },
    { "requests", 0, 0, G_OPTION_ARG_INT, &requests, "Protected requests", "N" },
    { "concurrency", 0, 0, G_OPTION_ARG_INT, &concurrency, "In flight at once", "N" },
    { "payload", 0, 0, G_OPTION_ARG_INT, &payload, "DATA bytes per request", "BYTES" },
    { "prefix", 0, 0, G_OPTION_ARG_STRING, &prefix, "Entity ID prefix", "NAME" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- load one cpns-server");
  g_autoptr(GError) error = NULL;
  g_autofree char *pw = NULL;
  g_autofree guint8 *data = NULL;
  guint8 body[70000];
  gsize body_len;
  Bench b = { 0 };
  double secs, pbkdf2_ms;
  gint64 t;
  guint8 stretched[32];
  CpnsBody echo = { .present = 0x6 };

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || url == NULL || user == NULL ||
      password_file == NULL || iterations <= 0 || concurrency <= 0 || payload < 0 ||
      payload > 60000)
    {
      g_printerr ("cpns-server-bench: %s\n", error ? error->message :
                  "--url, --user, --password-file and --iterations are needed");
      return 2;
    }
  if (!g_file_get_contents (password_file, &pw, NULL, &error))
    {
      g_printerr ("cpns-server-bench: %s\n", error->message);
      return 1;
    }
  g_strchomp (pw);

  b.loop = g_main_loop_new (NULL, FALSE);
  b.latencies = g_array_new (FALSE, FALSE, sizeof (gint64));
  b.config = gw_config_new_default ();
  g_free (b.config->server_url);
  b.config->server_url = g_strdup (url);
  b.config->retry_min = 1;
  b.config->retry_max = 1;
  b.upstream = gw_upstream_new (url, ca, &error);
  if (b.upstream == NULL)
    {
      g_printerr ("cpns-server-bench: %s\n", error->message);
      return 1;
    }
  b.user = user;
  b.password = cpns_secret_new ((const guint8 *) pw, strlen (pw));
  b.prefix = prefix != NULL ? prefix : "bench-gw";
  b.concurrency = concurrency;

  /* The client's PBKDF2 alone, at the user's count. */
  t = g_get_monotonic_time ();
  for (int i = 0; i < 5; i++)
    cpns_pbkdf2_sha256 ((const guint8 *) pw, strlen (pw), (const guint8 *) "0123456789abcdef",
                        16, iterations, stretched, sizeof stretched, NULL);
  pbkdf2_ms = (g_get_monotonic_time () - t) / 5000.0;

  reset (&b, enrollments);
  t = g_get_monotonic_time ();
  for (int i = 0; i < concurrency; i++)
    next_enrollment (&b);
  g_main_loop_run (b.loop);
  secs = (g_get_monotonic_time () - t) / 1e6;
  printf ("enrolments: %d in %.2f s = %.1f/s with %d in flight (%u failed); "
          "latency p50 %.1f ms, p99 %.1f ms\n", enrollments, secs, enrollments / secs,
          concurrency, b.failed, percentile (b.latencies, 0.5),
          percentile (b.latencies, 0.99));
  printf ("  PBKDF2-HMAC-SHA256 x %d on the client: %.1f ms per enrolment, "
          "%.0f%% of this run's time (one client thread)\n", iterations, pbkdf2_ms,
          100.0 * pbkdf2_ms * enrollments / 1000.0 / secs);
  if (b.failed > 0)
    return 1;

  /* Protected requests over one session. */
  data = g_malloc0 (MAX (payload, 1));
  echo.data.content_type = 0;
  echo.data.data = CPNS_BYTES (data, payload);
  body_len = cpns_body_encode (CPNS_MSG_DATA, &echo, body, sizeof body, &error);
  b.body = g_bytes_new (body, body_len);
  {
    g_autoptr(GwEnrollment) e = NULL;
    CpnsPsk psk;

    g_free (b.config->entity_id);
    b.config->entity_id = g_strdup_printf ("%s-requests", b.prefix);
    e = gw_enrollment_new (b.upstream, b.config, NULL, user, b.password->data,
                           b.password->len);
    gw_enrollment_run_async (e, NULL, on_single_enrolment, &b);
    g_main_loop_run (b.loop);
    if (b.entry == NULL)
      return 1;
    cpns_key_entry_to_psk (b.entry, &psk);
    b.link = gw_server_link_new (b.upstream, b.config);
    reset (&b, requests);
    g_signal_connect (b.link, "notify::state", G_CALLBACK (on_link_state), &b);
    gw_server_link_set_psk (b.link, &psk);
    cpns_wipe (&psk, sizeof psk);
    g_main_loop_run (b.loop);
    secs = (g_get_monotonic_time () - b.t0) / 1e6;
    printf ("protected requests (DATA echo, %d B, encrypted): %d in %.2f s = %.0f/s with "
            "%d in flight (%u failed); latency p50 %.2f ms, p99 %.2f ms\n", payload,
            requests, secs, requests / secs, concurrency, b.failed,
            percentile (b.latencies, 0.5), percentile (b.latencies, 0.99));
    g_clear_object (&b.link);
  }
  return b.failed > 0 ? 1 : 0;
}
