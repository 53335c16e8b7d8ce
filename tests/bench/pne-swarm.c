/* SPDX-License-Identifier: GPL-3.0-or-later */

/* pne-swarm: many PNEs in one process, for load tests and benchmarks of a
 * PN GW.  Each PNE is a PneMachine with a keystore of its own (one state
 * directory per PNE under --state-dir) and a TCP connection of its own;
 * one poll() loop drives them all, without a thread per PNE.  They take
 * path 7.4.1 (a PNE with UI: the tool types the credentials), so the
 * gateway's user must own them or the server must let them enrol.
 *
 *   pne-swarm --gateway ADDR --count N (--user U --password-file F | --users-file F)
 *             [--prefix ID] [--state-dir DIR] [--stay] [--json] [...]
 *
 * All PNEs connect at once (--max-pending limits that); a refused or reset
 * connection, a link the gateway closed and an `unavailable` are retried
 * with backoff, up to --retries times.  Failures are reported per PNE with
 * the reason; the exit status is 2 when any PNE failed.  With --stay the
 * sessions stay open and idle after {"event":"all-ready",...} until
 * SIGTERM or SIGINT.
 *
 * Latency mode (--latency): after provisioning, --senders PNEs send DATA
 * (content type 0, --size bytes, encrypted) at --rate messages/s in total
 * (0: as fast as the answers come, one in flight per PNE) for --seconds,
 * to the server through the gateway and to the gateway (its echo), and
 * print the round trips.  With --direct URL --ca FILE the same PNEs (their
 * EUKeys from --state-dir, or a Key Request of their own) talk to the
 * server straight over HTTPS with libcurl, without a gateway: the
 * reference that the gateway's added latency is measured against
 * (build-aux/bench-pan.py).
 *
 * Exit status: 0 all fine, 1 usage or local error, 2 a PNE failed. */

#define _GNU_SOURCE 1   /* ppoll() */

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "cpns-error.h"
#include "cpns-frame.h"
#include "cpns-handshake.h"
#include "cpns-key-client.h"
#include "cpns-password.h"
#include "cpns-session.h"
#include "pne-machine.h"

enum { EXIT_OK = 0, EXIT_LOCAL = 1, EXIT_PNE_FAILED = 2 };

#define NS_PER_S  G_GINT64_CONSTANT (1000000000)
#define NS_PER_MS G_GINT64_CONSTANT (1000000)
#define RECV_CHUNK 16384

/* ---- options ---- */

static struct {
  int       count;
  char     *gateway;
  char     *user;
  char     *password_file;
  char     *users_file;
  char     *prefix;
  char     *state_dir;
  gboolean  keep_state;
  gboolean  stay;
  gboolean  json;
  int       timeout;        /* seconds for the whole provisioning */
  int       step_timeout;   /* seconds without progress before a retry */
  double    connect_timeout;  /* seconds to connect and hear the gateway */
  int       retries;
  int       max_pending;
  gboolean  latency;
  char     *to;
  int       senders;
  double    rate;
  double    seconds;
  double    warmup;
  int       size;
  char     *direct;
  char     *ca;
  gboolean  quiet;
  gboolean  verbose;
} opt = {
  .count = 1, .timeout = 900, .step_timeout = 60, .connect_timeout = 10, .retries = 10,
  .senders = 16,
  .rate = 1000, .seconds = 5, .warmup = 1, .size = 64,
};

typedef struct {
  char       *user;
  CpnsSecret *password;
} Cred;

static GPtrArray *creds;   /* Cred */

static volatile sig_atomic_t stop_signal;

static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* ---- output ---- */

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

/* One JSON object per line: j_begin, j_* fields, j_end. */
static GString *
j_begin (const char *event)
{
  GString *s = g_string_new ("{\"event\":");

  json_escape (s, event);
  return s;
}

static void
j_str (GString *s, const char *key, const char *value)
{
  g_string_append_printf (s, ",\"%s\":", key);
  if (value == NULL)
    g_string_append (s, "null");
  else
    json_escape (s, value);
}

static void
j_int (GString *s, const char *key, gint64 value)
{
  g_string_append_printf (s, ",\"%s\":%" G_GINT64_FORMAT, key, value);
}

static void
j_num (GString *s, const char *key, double value)
{
  if (isfinite (value))
    g_string_append_printf (s, ",\"%s\":%.3f", key, value);
  else
    g_string_append_printf (s, ",\"%s\":null", key);
}

static void
j_end (GString *s)
{
  g_string_append_c (s, '}');
  printf ("%s\n", s->str);
  fflush (stdout);
  g_string_free (s, TRUE);
}

static void
say (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static void
say (const char *fmt, ...)
{
  va_list ap;

  if (opt.json || opt.quiet)
    return;
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

/* ---- latency bookkeeping, shared by the gateway and the direct modes ---- */

/* First member of a through-the-gateway PNE and of a direct client. */
typedef struct Sender Sender;
struct Sender {
  gboolean  busy;        /* one message in flight */
  guint     backlog;     /* messages due but not sent yet */
  gint64    sent_at;
  gboolean  measured;    /* sent inside the measurement window */
  gboolean  (*send) (Sender *s, GError **error);
};

typedef struct {
  const char *mode;       /* "through" or "direct" */
  const char *to;         /* "server" or "gateway" */
  Sender    **senders;
  guint       n_senders;
  guint8     *payload;
  double      rate;       /* 0: saturation */
  gint64      t0, measure_from, end;
  guint64     seq;
  GArray     *samples;    /* gint64 ns */
  guint64     sent, received, errors, wrong;
  gint64      max_lateness;
  char       *first_error;
} Load;

static Load *load;   /* the one running, if any */

static void
load_error (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static void
load_error (const char *fmt, ...)
{
  va_list ap;

  if (load == NULL)
    return;
  load->errors++;
  if (load->first_error == NULL)
    {
      va_start (ap, fmt);
      load->first_error = g_strdup_vprintf (fmt, ap);
      va_end (ap);
    }
}

static void
sender_send (Sender *s, gint64 now)
{
  g_autoptr(GError) error = NULL;

  s->busy = TRUE;
  s->measured = now >= load->measure_from && now < load->end;
  s->sent_at = now_ns ();
  if (s->measured)
    load->sent++;
  if (!s->send (s, &error))
    {
      s->busy = FALSE;
      load_error ("%s", error->message);
    }
}

/* An answer (or a failure: @ok FALSE) for the message in flight. */
static void
sender_done (Sender *s, gboolean ok, gboolean same)
{
  gint64 rtt = now_ns () - s->sent_at;

  if (!s->busy || load == NULL)
    return;
  s->busy = FALSE;
  if (!ok)
    return;
  if (!same)
    load->wrong++;
  if (s->measured)
    {
      load->received++;
      g_array_append_val (load->samples, rtt);
    }
}

/* Queues what is due and sends what can go; returns when the next message
 * is due (or -1: nothing scheduled any more). */
static gint64
load_tick (gint64 now)
{
  gint64 next = -1;

  if (now < load->end)
    {
      if (load->rate > 0)
        {
          for (;;)
            {
              gint64 due = load->t0 + (gint64) ((double) load->seq * NS_PER_S / load->rate);
              if (due > now || due >= load->end)
                {
                  next = due < load->end ? due : -1;
                  break;
                }
              load->senders[load->seq % load->n_senders]->backlog++;
              load->seq++;
            }
        }
      for (guint i = 0; i < load->n_senders; i++)
        {
          Sender *s = load->senders[i];
          if (s->busy)
            continue;
          if (load->rate <= 0)
            sender_send (s, now);
          else if (s->backlog > 0)
            {
              s->backlog--;
              sender_send (s, now);
            }
        }
    }
  return next;
}

static gboolean
load_in_flight (void)
{
  for (guint i = 0; i < load->n_senders; i++)
    if (load->senders[i]->busy)
      return TRUE;
  return FALSE;
}

static int
cmp_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

static double
pct_us (GArray *a, double p)
{
  guint i;

  if (a->len == 0)
    return NAN;
  i = p <= 0 ? 0 : (guint) ceil (p * a->len) - 1;
  return g_array_index (a, gint64, MIN (i, a->len - 1)) / 1000.0;
}

static Load *
load_new (const char *mode, const char *to, Sender **senders, guint n)
{
  Load *l = g_new0 (Load, 1);

  l->mode = mode;
  l->to = to;
  l->senders = senders;
  l->n_senders = n;
  l->rate = opt.rate;
  l->payload = g_malloc (opt.size > 0 ? opt.size : 1);
  for (int i = 0; i < opt.size; i++)
    l->payload[i] = (guint8) (i * 7 + 1);
  l->samples = g_array_new (FALSE, FALSE, sizeof (gint64));
  for (guint i = 0; i < n; i++)
    {
      senders[i]->busy = FALSE;
      senders[i]->backlog = 0;
    }
  l->t0 = now_ns ();
  l->measure_from = l->t0 + (gint64) (opt.warmup * NS_PER_S);
  l->end = l->measure_from + (gint64) (opt.seconds * NS_PER_S);
  return l;
}

static void
load_report (Load *l)
{
  double secs = (double) (l->end - l->measure_from) / NS_PER_S;
  double mean = 0;

  g_array_sort (l->samples, cmp_gint64);
  for (guint i = 0; i < l->samples->len; i++)
    mean += g_array_index (l->samples, gint64, i);
  mean = l->samples->len > 0 ? mean / l->samples->len / 1000.0 : NAN;
  if (opt.json)
    {
      GString *s = j_begin ("latency");
      j_str (s, "mode", l->mode);
      j_str (s, "to", l->to);
      j_num (s, "rate", l->rate);
      j_int (s, "senders", l->n_senders);
      j_int (s, "size", opt.size);
      j_num (s, "seconds", secs);
      j_int (s, "sent", l->sent);
      j_int (s, "received", l->received);
      j_int (s, "errors", l->errors);
      j_int (s, "wrong", l->wrong);
      j_num (s, "msgs_per_s", l->received / secs);
      j_num (s, "p50_us", pct_us (l->samples, 0.50));
      j_num (s, "p90_us", pct_us (l->samples, 0.90));
      j_num (s, "p99_us", pct_us (l->samples, 0.99));
      j_num (s, "mean_us", mean);
      j_num (s, "min_us", pct_us (l->samples, 0));
      j_num (s, "max_us", pct_us (l->samples, 1));
      j_str (s, "first_error", l->first_error);
      j_end (s);
    }
  else
    {
      g_autofree char *target = l->rate > 0 ? g_strdup_printf ("%.0f msgs/s", l->rate)
                                            : g_strdup ("saturation");
      say ("%s to the %s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " answered in %.1f s "
           "= %.0f msgs/s (target %s), %u senders, %d B; round trip p50 %.0f us, p99 %.0f us, "
           "mean %.0f us, max %.0f us; %" G_GUINT64_FORMAT " errors%s%s",
           l->mode, l->to, l->received, l->sent, secs, l->received / secs, target,
           l->n_senders, opt.size, pct_us (l->samples, 0.5), pct_us (l->samples, 0.99), mean,
           pct_us (l->samples, 1), l->errors, l->first_error ? ": " : "",
           l->first_error ? l->first_error : "");
    }
}

static void
load_free (Load *l)
{
  g_array_unref (l->samples);
  g_free (l->payload);
  g_free (l->first_error);
  g_free (l);
}

/* ---- the PNEs of the swarm ---- */

typedef enum {
  P_WAITING,      /* to connect at retry_at */
  P_CONNECTING,
  P_RUNNING,      /* connected, being provisioned */
  P_READY,
  P_FAILED,
} Phase;

typedef struct {
  Sender        snd;           /* first: latency mode */
  guint         index;
  char          id[CPNS_ID_MAX + 1];
  CpnsKeystore *ks;
  PneMachine   *m;
  int           fd;
  CpnsDeframer *deframer;
  GByteArray   *out;
  gsize         out_off;
  Phase         phase;
  gint64        retry_at;
  gint64        progress_at;
  gint64        connect_at;
  gboolean      heard;         /* the gateway has sent something on this link */
  gint64        t_ready;
  guint         attempts;      /* connections tried */
  guint64       path;
  guint         refused_code;
  char         *refused;       /* the latest refusal, to name the reason */
  char         *error;
  const Cred   *cred;
  gboolean      server_ready;
  const char   *dst;           /* latency: the DATA destination */
} Pne;

static struct {
  Pne            **pnes;
  guint            n;
  struct addrinfo *addr;
  gint64           t0;
  guint            ready, failed, lost, retries, pending;
  gboolean         all_ready_said;
  char            *state_dir;
  gboolean         remove_state;
  guint8           rbuf[RECV_CHUNK];
  GArray          *pollfds;
  GPtrArray       *polled;
} sw;

static void pump (Pne *p);

static void
close_link (Pne *p)
{
  if (p->fd >= 0)
    close (p->fd);
  p->fd = -1;
  g_clear_pointer (&p->m, pne_machine_free);
  g_clear_pointer (&p->deframer, cpns_deframer_free);
  if (p->out != NULL)
    g_byte_array_set_size (p->out, 0);
  p->out_off = 0;
  p->server_ready = FALSE;
}

/* Errors a new connection may well not meet again. */
static gboolean
transient (guint code)
{
  switch (code)
    {
    case CPNS_ERROR_AUTH_FAILED:
    case CPNS_ERROR_FORBIDDEN:
    case CPNS_ERROR_POLICY:
    case CPNS_ERROR_INVALID_ARGUMENT:
    case CPNS_ERROR_IO:
    case CPNS_ERROR_CORRUPT:
      return FALSE;
    default:
      return TRUE;
    }
}

static void
report_failure (Pne *p, guint code)
{
  if (opt.json)
    {
      GString *s = j_begin ("failed");
      j_str (s, "pne", p->id);
      j_int (s, "attempts", p->attempts);
      j_str (s, "error", code != 0 ? cpns_error_code_to_string (code) : NULL);
      j_str (s, "reason", p->error);
      j_end (s);
    }
  else
    fprintf (stderr, "pne-swarm: PNE %s failed after %u attempt(s): %s\n", p->id,
             p->attempts, p->error);
}

/* The link of @p ended: @code is a CPNS error code (0: a link or local
 * failure).  Before READY it is tried again while that may help. */
static void
pne_failed (Pne *p, guint code, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static void
pne_failed (Pne *p, guint code, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *why = NULL;

  va_start (ap, fmt);
  why = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  /* What the gateway or the server said is the better reason. */
  if (p->refused != NULL && code == 0)
    {
      code = p->refused_code;
      g_free (p->error);
      p->error = g_strdup_printf ("%s; before that: %s", why, p->refused);
    }
  else
    {
      g_free (p->error);
      p->error = g_steal_pointer (&why);
    }
  g_clear_pointer (&p->refused, g_free);
  if (p->snd.busy)
    {
      load_error ("%s: %s", p->id, p->error);
      sender_done (&p->snd, FALSE, FALSE);
    }
  close_link (p);
  if (p->phase == P_READY)
    {
      /* A session that was up and went away: counted, not retried. */
      sw.ready--;
      sw.lost++;
      p->phase = P_FAILED;
      if (opt.json)
        {
          GString *s = j_begin ("lost");
          j_str (s, "pne", p->id);
          j_str (s, "reason", p->error);
          j_end (s);
        }
      else
        fprintf (stderr, "pne-swarm: PNE %s lost its link: %s\n", p->id, p->error);
      return;
    }
  if (p->phase != P_WAITING)
    sw.pending--;
  if (transient (code) && (int) p->attempts <= opt.retries && !stop_signal)
    {
      /* 100 ms, doubling up to 5 s, with jitter so that the retries of a
       * crowd do not arrive together again. */
      gint64 backoff = MIN (100 * NS_PER_MS << MIN (p->attempts - 1, 6u), 5 * NS_PER_S);
      backoff = backoff / 2 + (gint64) (g_random_double () * backoff);
      p->phase = P_WAITING;
      p->retry_at = now_ns () + backoff;
      sw.retries++;
      if (opt.verbose && opt.json)
        {
          GString *s = j_begin ("retry");
          j_str (s, "pne", p->id);
          j_int (s, "attempts", p->attempts);
          j_num (s, "at", (double) (now_ns () - sw.t0) / NS_PER_S);
          j_str (s, "reason", p->error);
          j_end (s);
        }
      else if (opt.verbose)
        fprintf (stderr, "pne-swarm: PNE %s tries again: %s\n", p->id, p->error);
      return;
    }
  p->phase = P_FAILED;
  sw.failed++;
  report_failure (p, code);
}

static void
start_connect (Pne *p)
{
  int fd = socket (sw.addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;

  p->attempts++;
  sw.pending++;
  p->phase = P_CONNECTING;
  p->progress_at = p->connect_at = now_ns ();
  p->heard = FALSE;
  if (fd < 0)
    {
      int err = errno;
      pne_failed (p, 0, "socket: %s", g_strerror (err));
      return;
    }
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  p->fd = fd;
  if (connect (fd, sw.addr->ai_addr, sw.addr->ai_addrlen) != 0 && errno != EINPROGRESS)
    {
      int err = errno;
      pne_failed (p, 0, "connect: %s", g_strerror (err));
    }
}

static void
on_connected (Pne *p)
{
  g_autoptr(GError) error = NULL;
  PneConfig cfg = { .entity_id = p->id, .has_ui = TRUE };
  int err = 0;
  socklen_t len = sizeof err;

  if (getsockopt (p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    err = errno;
  if (err != 0)
    {
      pne_failed (p, 0, "connect: %s", g_strerror (err));
      return;
    }
  p->phase = P_RUNNING;
  p->progress_at = now_ns ();
  p->m = pne_machine_new (&cfg, p->ks, &error);
  if (p->m == NULL || !pne_machine_start (p->m, &error))
    {
      pne_failed (p, CPNS_ERROR_INVALID_ARGUMENT, "%s", error->message);
      return;
    }
  p->deframer = cpns_deframer_new (CPNS_MAX_RECORD);
  pump (p);
}

/* Writes what is queued, as far as the socket takes it. */
static void
flush (Pne *p)
{
  while (p->fd >= 0 && p->out_off < p->out->len)
    {
      ssize_t n = send (p->fd, p->out->data + p->out_off, p->out->len - p->out_off,
                        MSG_NOSIGNAL);
      if (n < 0)
        {
          int err = errno;
          if (err == EINTR)
            continue;
          if (err == EAGAIN)
            return;
          pne_failed (p, 0, "writing to the PN GW: %s", g_strerror (err));
          return;
        }
      p->out_off += n;
    }
  if (p->fd >= 0)
    {
      g_byte_array_set_size (p->out, 0);
      p->out_off = 0;
    }
}

static void
on_ready (Pne *p, guint64 path)
{
  p->phase = P_READY;
  p->path = path;
  p->t_ready = now_ns ();
  sw.ready++;
  sw.pending--;
  g_clear_pointer (&p->refused, g_free);
}

static void
handle_event (Pne *p, PneEvent *ev)
{
  g_autoptr(GError) error = NULL;

  p->progress_at = now_ns ();
  switch (ev->type)
    {
    case PNE_EVENT_NEED_CREDENTIALS:
      if (ev->retry)
        {
          pne_failed (p, CPNS_ERROR_AUTH_FAILED,
                      "the server refused the password of user '%s'", p->cred->user);
          return;
        }
      if (!pne_machine_set_credentials (p->m, p->cred->user, p->cred->password->data,
                                        p->cred->password->len, &error))
        pne_failed (p, CPNS_ERROR_INVALID_ARGUMENT, "%s", error->message);
      break;
    case PNE_EVENT_READY:
      on_ready (p, ev->path);
      break;
    case PNE_EVENT_REFUSED:
      g_free (p->refused);
      p->refused = g_strdup_printf ("%s refused: %s (%s)", ev->from,
                                    ev->reason != NULL ? ev->reason : "",
                                    cpns_error_code_to_string (ev->code));
      p->refused_code = ev->code;
      /* Once ready, a refusal answers the message in flight. */
      if (p->phase == P_READY && p->snd.busy)
        {
          load_error ("%s: %s", p->id, p->refused);
          sender_done (&p->snd, FALSE, FALSE);
        }
      break;
    case PNE_EVENT_SERVER_READY:
      p->server_ready = TRUE;
      break;
    case PNE_EVENT_SERVER_LOST:
      p->server_ready = FALSE;
      if (p->snd.busy)
        {
          load_error ("%s: the server dropped the session: %s", p->id,
                      ev->reason != NULL ? ev->reason : "");
          sender_done (&p->snd, FALSE, FALSE);
        }
      break;
    case PNE_EVENT_DATA:
      if (load != NULL && p->dst != NULL && strcmp (ev->from, p->dst) == 0)
        {
          gsize len;
          const guint8 *data = g_bytes_get_data (ev->data, &len);
          sender_done (&p->snd, TRUE, len == (gsize) opt.size &&
                       (len == 0 || memcmp (data, load->payload, len) == 0));
        }
      break;
    case PNE_EVENT_PATH_SELECTED:
    case PNE_EVENT_KEY_STORED:
    case PNE_EVENT_KEY_FORGOTTEN:
    case PNE_EVENT_ACK:
      break;
    }
}

/* Runs the machine's events and sends its output until it is quiet. */
static void
pump (Pne *p)
{
  for (;;)
    {
      gboolean busy = FALSE;
      PneEvent *ev;
      GBytes *msg;

      while (p->m != NULL && (msg = pne_machine_next_output (p->m)) != NULL)
        {
          gsize len;
          const guint8 *data = g_bytes_get_data (msg, &len);
          guint8 header[CPNS_FRAME_HEADER_LEN];

          cpns_frame_header (header, len);
          g_byte_array_append (p->out, header, sizeof header);
          g_byte_array_append (p->out, data, len);
          g_bytes_unref (msg);
          busy = TRUE;
        }
      if (busy)
        flush (p);
      while (p->m != NULL && (ev = pne_machine_next_event (p->m)) != NULL)
        {
          handle_event (p, ev);
          pne_event_free (ev);
          busy = TRUE;
        }
      if (p->m == NULL)
        return;
      if (pne_machine_get_state (p->m) == PNE_STATE_FAILED)
        {
          pne_failed (p, 0, "the PNE cannot go on");
          return;
        }
      if (!busy)
        return;
    }
}

static void
on_readable (Pne *p)
{
  for (int round = 0; round < 4 && p->fd >= 0; round++)
    {
      g_autoptr(GError) error = NULL;
      const guint8 *frame;
      gsize len;
      ssize_t n = recv (p->fd, sw.rbuf, sizeof sw.rbuf, 0);

      if (n < 0)
        {
          int err = errno;
          if (err == EINTR)
            continue;
          if (err == EAGAIN)
            return;
          pne_failed (p, 0, "reading from the PN GW: %s", g_strerror (err));
          return;
        }
      if (n == 0)
        {
          pne_failed (p, 0, "the PN GW closed the link");
          return;
        }
      p->heard = TRUE;
      if (!cpns_deframer_push (p->deframer, sw.rbuf, n, &error))
        {
          pne_failed (p, CPNS_ERROR_MALFORMED, "framing from the PN GW: %s", error->message);
          return;
        }
      while (p->m != NULL && (frame = cpns_deframer_next (p->deframer, &len)) != NULL)
        {
          if (!pne_machine_receive (p->m, frame, len, &error))
            {
              guint code = error->domain == CPNS_ERROR ? error->code : 0;
              /* Events raised on the way (a refusal) name the reason. */
              pump (p);
              if (p->m != NULL)
                pne_failed (p, code, "%s", error->message);
              return;
            }
          pump (p);
        }
      if ((size_t) n < sizeof sw.rbuf)
        return;
    }
}

/* One poll() over every link, and what it found; returns at @deadline
 * (ns, monotonic) at the latest. */
static void
io_wait (gint64 deadline, const sigset_t *unblocked)
{
  gint64 now = now_ns ();
  gint64 wait = MAX (0, deadline - now);
  struct timespec ts = { wait / NS_PER_S, wait % NS_PER_S };
  int n;

  g_array_set_size (sw.pollfds, 0);
  g_ptr_array_set_size (sw.polled, 0);
  for (guint i = 0; i < sw.n; i++)
    {
      Pne *p = sw.pnes[i];
      struct pollfd pfd = { .fd = p->fd };

      if (p->fd < 0)
        continue;
      if (p->phase == P_CONNECTING)
        pfd.events = POLLOUT;
      else
        pfd.events = POLLIN | (p->out_off < p->out->len ? POLLOUT : 0);
      g_array_append_val (sw.pollfds, pfd);
      g_ptr_array_add (sw.polled, p);
    }
  n = ppoll ((struct pollfd *) sw.pollfds->data, sw.pollfds->len, &ts, unblocked);
  if (n <= 0)
    return;
  for (guint i = 0; i < sw.pollfds->len; i++)
    {
      struct pollfd *pfd = &g_array_index (sw.pollfds, struct pollfd, i);
      Pne *p = sw.polled->pdata[i];

      if (pfd->revents == 0 || p->fd != pfd->fd)
        continue;
      if (p->phase == P_CONNECTING)
        {
          on_connected (p);
          continue;
        }
      if (pfd->revents & POLLOUT)
        flush (p);
      if (p->fd >= 0 && (pfd->revents & (POLLIN | POLLHUP | POLLERR)))
        on_readable (p);
    }
}

/* Starts what is due, times out what is stuck; returns the next deadline. */
static gint64
housekeeping (gint64 now)
{
  gint64 next = now + NS_PER_S;
  gint64 step = (gint64) opt.step_timeout * NS_PER_S;
  gint64 connect = (gint64) (opt.connect_timeout * NS_PER_S);

  for (guint i = 0; i < sw.n; i++)
    {
      Pne *p = sw.pnes[i];

      switch (p->phase)
        {
        case P_WAITING:
          if (p->retry_at <= now &&
              (opt.max_pending <= 0 || sw.pending < (guint) opt.max_pending))
            start_connect (p);
          else
            next = MIN (next, MAX (p->retry_at, now + NS_PER_MS));
          break;
        case P_CONNECTING:
        case P_RUNNING:
          /* A connection the gateway has not taken up yet (its listen
           * queue overflowed, the SYN or the ACK was dropped) is better
           * opened anew than waited for through TCP's own backoff. */
          if (!p->heard && now - p->connect_at >= connect)
            pne_failed (p, 0, "%s within %.1f s", p->phase == P_CONNECTING
                        ? "not connected" : "no answer from the PN GW to the announcement",
                        opt.connect_timeout);
          else if (now - p->progress_at >= step)
            pne_failed (p, 0, "no progress within %d s (%s)", opt.step_timeout,
                        p->m != NULL ? pne_state_name (pne_machine_get_state (p->m))
                                     : "connecting");
          else
            next = MIN (next, p->heard ? p->progress_at + step : p->connect_at + connect);
          break;
        case P_READY:
        case P_FAILED:
          break;
        }
    }
  return next;
}

static void
say_all_ready (void)
{
  double secs = (double) (now_ns () - sw.t0) / NS_PER_S;

  sw.all_ready_said = TRUE;
  if (opt.json)
    {
      GString *s = j_begin ("all-ready");
      j_int (s, "count", sw.ready);
      j_num (s, "seconds", secs);
      j_end (s);
    }
  else
    say ("all %u PNEs ready in %.2f s", sw.ready, secs);
}

static void
say_summary (void)
{
  g_autoptr(GArray) times = g_array_new (FALSE, FALSE, sizeof (gint64));
  guint paths[4] = { 0 };
  double secs = (double) (now_ns () - sw.t0) / NS_PER_S;

  for (guint i = 0; i < sw.n; i++)
    {
      Pne *p = sw.pnes[i];
      if (p->phase == P_READY || p->t_ready > 0)
        {
          gint64 t = p->t_ready - sw.t0;
          g_array_append_val (times, t);
          paths[MIN (p->path, 3)]++;
        }
    }
  g_array_sort (times, cmp_gint64);
  if (opt.json)
    {
      GString *s = j_begin ("summary");
      j_int (s, "count", sw.n);
      j_int (s, "ready", sw.ready);
      j_int (s, "failed", sw.failed);
      j_int (s, "lost", sw.lost);
      j_int (s, "retries", sw.retries);
      j_num (s, "seconds", secs);
      j_num (s, "ready_p50_s", pct_us (times, 0.5) / 1e6);
      j_num (s, "ready_max_s", pct_us (times, 1) / 1e6);
      g_string_append_printf (s, ",\"paths\":{\"0\":%u,\"1\":%u}", paths[0], paths[1]);
      j_end (s);
    }
  else
    {
      g_autofree char *when = times->len == 0 ? g_strdup ("") :
        g_strdup_printf ("; half ready after %.2f s, the last after %.2f s",
                         pct_us (times, 0.5) / 1e6, pct_us (times, 1) / 1e6);
      say ("%u PNEs: %u ready (path 1: %u, existing keys: %u), %u failed, %u lost, "
           "%u retries%s", sw.n, sw.ready, paths[1], paths[0], sw.failed, sw.lost,
           sw.retries, when);
    }
}

static gboolean
through_send (Sender *s, GError **error)
{
  Pne *p = (Pne *) s;

  if (p->m == NULL ||
      !pne_machine_send_data (p->m, p->dst, 0, load->payload, opt.size, TRUE, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, CPNS_ERROR, CPNS_ERROR_STATE, "%s has no link", p->id);
      return FALSE;
    }
  pump (p);
  return TRUE;
}

/* ---- setup ---- */

static gboolean
bad_address (const char *address, GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "'%s' is not HOST:PORT or [IPv6]:PORT", address);
  return FALSE;
}

static gboolean
parse_address (const char *address, GError **error)
{
  g_autofree char *host = NULL;
  g_autofree char *port = NULL;
  const char *colon;
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
  int rc;

  if (address[0] == '[')
    {
      const char *end = strchr (address, ']');
      if (end == NULL || end[1] != ':')
        return bad_address (address, error);
      host = g_strndup (address + 1, end - address - 1);
      port = g_strdup (end + 2);
    }
  else
    {
      colon = strrchr (address, ':');
      if (colon == NULL || colon == address)
        return bad_address (address, error);
      host = g_strndup (address, colon - address);
      port = g_strdup (colon + 1);
    }
  rc = getaddrinfo (host, port, &hints, &sw.addr);
  if (rc != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND, "cannot resolve '%s': %s",
                   address, gai_strerror (rc));
      return FALSE;
    }
  return TRUE;
}

static gboolean
load_creds (GError **error)
{
  creds = g_ptr_array_new ();
  if (opt.users_file != NULL)
    {
      g_autofree char *text = NULL;
      g_auto(GStrv) lines = NULL;

      if (!g_file_get_contents (opt.users_file, &text, NULL, error))
        return FALSE;
      lines = g_strsplit (text, "\n", -1);
      cpns_wipe (text, strlen (text));
      for (guint i = 0; lines[i] != NULL; i++)
        {
          char *line = g_strstrip (lines[i]);
          char *sep = strpbrk (line, " \t");
          Cred *c;

          if (line[0] != '\0' && line[0] != '#' && sep != NULL)
            {
              *sep = '\0';
              sep = g_strchug (sep + 1);
              c = g_new0 (Cred, 1);
              c->user = g_strdup (line);
              c->password = cpns_secret_new ((const guint8 *) sep, strlen (sep));
              g_ptr_array_add (creds, c);
            }
          cpns_wipe (lines[i], strlen (lines[i]));
        }
      if (creds->len == 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "%s has no 'USER PASSWORD' line", opt.users_file);
          return FALSE;
        }
      return TRUE;
    }
  if (opt.user != NULL)
    {
      Cred *c = g_new0 (Cred, 1);
      c->user = g_strdup (opt.user);
      c->password = cpns_password_from_file (opt.password_file, error);
      if (c->password == NULL)
        {
          g_free (c->user);
          g_free (c);
          return FALSE;
        }
      g_ptr_array_add (creds, c);
    }
  return TRUE;
}

static void
raise_fd_limit (guint needed)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
    return;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < needed + 32)
    fprintf (stderr, "pne-swarm: warning: %u PNEs need about %u file descriptors, the "
             "limit is %lu\n", needed, needed + 32, (unsigned long) rl.rlim_cur);
}

static char *
pne_id (guint i)
{
  return g_strdup_printf ("%s-%u", opt.prefix, i);
}

static gboolean
open_pnes (guint n, GError **error)
{
  sw.pnes = g_new0 (Pne *, n);
  sw.n = n;
  for (guint i = 0; i < n; i++)
    {
      Pne *p = g_new0 (Pne, 1);
      g_autofree char *id = pne_id (i);
      g_autofree char *dir = g_build_filename (sw.state_dir, id, NULL);
      g_autofree char *ks = g_build_filename (dir, "keystore", NULL);
      g_autofree char *kek = g_build_filename (dir, "kek", NULL);

      sw.pnes[i] = p;
      p->index = i;
      p->fd = -1;
      p->out = g_byte_array_new ();
      p->snd.send = through_send;
      if (!cpns_entity_id_is_valid (id, strlen (id)))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "'%s' is not a valid Entity ID (--prefix)", id);
          return FALSE;
        }
      g_strlcpy (p->id, id, sizeof p->id);
      p->ks = cpns_keystore_open (ks, kek, TRUE, error);
      if (p->ks == NULL)
        {
          g_prefix_error (error, "PNE %s: ", id);
          return FALSE;
        }
      p->cred = creds->len > 0 ? creds->pdata[i % creds->len] : NULL;
    }
  return TRUE;
}

static void
on_signal (int sig)
{
  stop_signal = sig;
}

/* ---- running through the gateway ---- */

static int
run_swarm (void)
{
  sigset_t block, unblocked;
  struct sigaction sa = { .sa_handler = on_signal };
  gint64 deadline;
  int status = EXIT_OK;

  /* Signals arrive only inside ppoll(): no race with the flag. */
  sigemptyset (&block);
  sigaddset (&block, SIGTERM);
  sigaddset (&block, SIGINT);
  sigprocmask (SIG_BLOCK, &block, &unblocked);
  sigdelset (&unblocked, SIGTERM);
  sigdelset (&unblocked, SIGINT);
  sigemptyset (&sa.sa_mask);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);

  sw.pollfds = g_array_new (FALSE, FALSE, sizeof (struct pollfd));
  sw.polled = g_ptr_array_new ();
  sw.t0 = now_ns ();
  deadline = sw.t0 + (gint64) opt.timeout * NS_PER_S;
  for (guint i = 0; i < sw.n; i++)
    {
      sw.pnes[i]->phase = P_WAITING;
      sw.pnes[i]->retry_at = sw.t0;
    }
  say ("%u PNEs connecting to %s", sw.n, opt.gateway);

  /* Provisioning. */
  while (!stop_signal && sw.ready + sw.failed + sw.lost < sw.n)
    {
      gint64 now = now_ns ();
      gint64 next;

      if (now >= deadline)
        {
          for (guint i = 0; i < sw.n; i++)
            if (sw.pnes[i]->phase != P_READY && sw.pnes[i]->phase != P_FAILED)
              {
                Pne *p = sw.pnes[i];
                p->attempts = MAX (p->attempts, (guint) opt.retries + 1);
                pne_failed (p, CPNS_ERROR_INVALID_ARGUMENT,
                            "not ready within --timeout %d s (%s)", opt.timeout,
                            p->error != NULL ? p->error : "no error seen");
              }
          break;
        }
      next = MIN (housekeeping (now), deadline);
      io_wait (next, &unblocked);
    }
  if (sw.ready == sw.n)
    say_all_ready ();
  say_summary ();
  if (sw.ready < sw.n)
    status = EXIT_PNE_FAILED;

  if (opt.latency && status == EXIT_OK && !stop_signal)
    {
      guint k = MIN ((guint) opt.senders, sw.n);
      g_autofree Sender **senders = g_new0 (Sender *, k);
      const char *targets[2];
      guint n_targets = 0;

      if (g_strcmp0 (opt.to, "gateway") != 0)
        targets[n_targets++] = "server";
      if (g_strcmp0 (opt.to, "server") != 0)
        targets[n_targets++] = "gateway";
      for (guint i = 0; i < k; i++)
        senders[i] = &sw.pnes[i]->snd;
      for (guint t = 0; t < n_targets && !stop_signal; t++)
        {
          gboolean to_server = strcmp (targets[t], "server") == 0;

          /* The server sessions, through the gateway. */
          if (to_server)
            {
              gint64 limit = now_ns () + 30 * NS_PER_S;
              guint up = 0;

              for (guint i = 0; i < k; i++)
                {
                  g_autoptr(GError) error = NULL;
                  Pne *p = sw.pnes[i];
                  if (p->m != NULL && !p->server_ready &&
                      !pne_machine_connect_server (p->m, &error))
                    fprintf (stderr, "pne-swarm: %s: %s\n", p->id, error->message);
                  else if (p->m != NULL)
                    pump (p);
                }
              while (!stop_signal && now_ns () < limit)
                {
                  up = 0;
                  for (guint i = 0; i < k; i++)
                    up += sw.pnes[i]->server_ready;
                  if (up == k)
                    break;
                  io_wait (MIN (limit, now_ns () + 100 * NS_PER_MS), &unblocked);
                }
              if (up < k)
                {
                  fprintf (stderr, "pne-swarm: only %u of %u server sessions came up\n",
                           up, k);
                  status = EXIT_PNE_FAILED;
                  break;
                }
            }
          for (guint i = 0; i < k; i++)
            {
              Pne *p = sw.pnes[i];
              p->dst = to_server ? pne_machine_get_server_id (p->m)
                                 : pne_machine_get_gateway_id (p->m);
            }
          load = load_new ("through", targets[t], senders, k);
          while (!stop_signal)
            {
              gint64 now = now_ns ();
              gint64 next = load_tick (now);

              if (now >= load->end && (!load_in_flight () || now >= load->end + 5 * NS_PER_S))
                break;
              if (next < 0)
                next = now + 100 * NS_PER_MS;
              if (now >= load->end)
                next = MIN (next, load->end + 5 * NS_PER_S);
              io_wait (next, &unblocked);
            }
          load_report (load);
          if (load->received == 0 || load->wrong > 0)
            status = EXIT_PNE_FAILED;
          g_clear_pointer (&load, load_free);
        }
    }

  if (opt.stay && status == EXIT_OK)
    {
      if (opt.json)
        {
          GString *s = j_begin ("staying");
          j_int (s, "pid", getpid ());
          j_end (s);
        }
      while (!stop_signal)
        io_wait (now_ns () + 10 * NS_PER_S, &unblocked);
      if (sw.lost > 0)
        {
          say_summary ();
          status = EXIT_PNE_FAILED;
        }
    }
  if (stop_signal && status == EXIT_OK && sw.ready < sw.n)
    status = EXIT_PNE_FAILED;
  for (guint i = 0; i < sw.n; i++)
    close_link (sw.pnes[i]);
  return status;
}

/* ---- straight to the server over HTTPS (the reference) ---- */

typedef struct {
  Sender       snd;       /* first */
  char         id[CPNS_ID_MAX + 1];
  CpnsKeystore *ks;
  CpnsSession *session;
  CURL        *easy;
  GByteArray  *reply;
  guint8      *request;
  gsize        request_len;
  guint64      txid;
} Direct;

static struct {
  CURLM             *multi;
  struct curl_slist *headers;
  char              *record_url;
} dx;

static size_t
on_body (char *data, size_t size, size_t n, void *user_data)
{
  g_byte_array_append (user_data, (const guint8 *) data, size * n);
  return size * n;
}

static void
setup_easy (Direct *d, const char *endpoint, const guint8 *body, gsize len)
{
  g_autofree char *url = g_strdup_printf ("%s/%s", opt.direct, endpoint);

  g_byte_array_set_size (d->reply, 0);
  curl_easy_setopt (d->easy, CURLOPT_URL, url);
  curl_easy_setopt (d->easy, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt (d->easy, CURLOPT_POSTFIELDSIZE, (long) len);
}

/* One blocking POST for the setup steps; the reply is in d->reply. */
static gboolean
post (Direct *d, const char *endpoint, const guint8 *body, gsize len, long *status,
      GError **error)
{
  CURLcode rc;

  setup_easy (d, endpoint, body, len);
  rc = curl_easy_perform (d->easy);
  if (rc != CURLE_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "POST %s/%s: %s", opt.direct,
                   endpoint, curl_easy_strerror (rc));
      return FALSE;
    }
  curl_easy_getinfo (d->easy, CURLINFO_RESPONSE_CODE, status);
  return TRUE;
}

static gboolean
direct_enrol (Direct *d, const Cred *cred, GError **error)
{
  g_autoptr(CpnsKeyClient) kc = NULL;
  guint8 buf[1024];
  gsize len;
  long status = 0;
  CpnsKeyEntry e = { 0 };
  g_autoptr(CpnsSecret) key = NULL;
  const guint8 *kid;

  if (cred == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "%s holds no EUKey and no --user was given to request one", d->id);
      return FALSE;
    }
  kc = cpns_key_client_new (d->id, PNE_DEFAULT_SERVER_ID, NULL, cred->user,
                            cred->password->data, cred->password->len, error);
  if (kc == NULL || (len = cpns_key_client_request (kc, buf, sizeof buf, error)) == 0 ||
      !post (d, "key", buf, len, &status, error) ||
      (len = cpns_key_client_answer (kc, d->reply->data, d->reply->len, buf, sizeof buf,
                                     error)) == 0 ||
      !post (d, "key", buf, len, &status, error) ||
      !cpns_key_client_accept (kc, d->reply->data, d->reply->len, error))
    return FALSE;
  key = cpns_secret_new (cpns_key_client_get_key (kc)->data,
                         cpns_key_client_get_key (kc)->len);
  kid = cpns_key_client_get_kid (kc, &e.kid_len);
  memcpy (e.kid, kid, e.kid_len);
  e.name = (char *) PNE_ENTRY_EUKEY;
  e.kind = CPNS_KEY_EUKEY;
  e.self_id = d->id;
  e.peer_id = (char *) PNE_DEFAULT_SERVER_ID;
  e.user_id = cred->user;
  e.key = key;
  e.role = CPNS_ROLE_INITIATOR;
  e.created = g_get_real_time () / G_USEC_PER_SEC;
  return cpns_keystore_set (d->ks, &e, error) && cpns_keystore_save (d->ks, error);
}

static gboolean
direct_handshake (Direct *d, GError **error)
{
  const CpnsKeyEntry *e = cpns_keystore_lookup (d->ks, PNE_ENTRY_EUKEY);
  CpnsPsk psk;
  CpnsHandshakeConfig cfg = {
    .role = CPNS_ROLE_INITIATOR, .purpose = CPNS_PURPOSE_SERVER, .self_id = d->id,
    .peer_id = e->peer_id, .psk = &psk, .replay_mode = CPNS_REPLAY_WINDOW,
  };
  g_autoptr(CpnsHandshake) hs = NULL;
  guint8 buf[CPNS_HANDSHAKE_MAX];
  gsize len;
  long status = 0;

  cpns_key_entry_to_psk (e, &psk);
  hs = cpns_handshake_new (&cfg, error);
  cpns_wipe (&psk, sizeof psk);
  if (hs == NULL || !cpns_handshake_start (hs, buf, sizeof buf, &len, error) ||
      !post (d, "handshake", buf, len, &status, error))
    return FALSE;
  if (status != 200)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "HS_INIT answered HTTP %ld", status);
      return FALSE;
    }
  if (!cpns_handshake_receive (hs, d->reply->data, d->reply->len, buf, sizeof buf, &len,
                               error) ||
      !post (d, "handshake", buf, len, &status, error))
    return FALSE;
  if (status != 204)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "HS_FINISH answered HTTP %ld",
                   status);
      return FALSE;
    }
  d->session = cpns_handshake_take_session (hs);
  d->txid = g_random_int ();
  return TRUE;
}

/* The same work per message as a PneMachine does (a CPNS_MAX_RECORD buffer
 * to seal into, a CPNS_MAX_BODY one to open into), so that the client side
 * costs the same in both modes. */
static gboolean
direct_send (Sender *s, GError **error)
{
  Direct *d = (Direct *) s;
  CpnsBody body = { .present = 1u << 1 | 1u << 2 };
  g_autofree guint8 *buf = g_malloc (CPNS_MAX_RECORD);
  gsize len;

  body.data.content_type = 0;
  body.data.data = CPNS_BYTES (load->payload, opt.size);
  len = cpns_session_seal_message (d->session, CPNS_MSG_DATA, ++d->txid, TRUE, &body, buf,
                                   CPNS_MAX_RECORD, error);
  if (len == 0)
    return FALSE;
  g_free (d->request);
  d->request = g_memdup2 (buf, len);
  d->request_len = len;
  g_byte_array_set_size (d->reply, 0);
  curl_easy_setopt (d->easy, CURLOPT_URL, dx.record_url);
  curl_easy_setopt (d->easy, CURLOPT_POSTFIELDS, d->request);
  curl_easy_setopt (d->easy, CURLOPT_POSTFIELDSIZE, (long) len);
  if (curl_multi_add_handle (dx.multi, d->easy) != CURLM_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "curl_multi_add_handle failed");
      return FALSE;
    }
  {
    int running;
    curl_multi_perform (dx.multi, &running);
  }
  return TRUE;
}

static void
direct_done (Direct *d, CURLcode rc)
{
  g_autoptr(CpnsSecret) plain = cpns_secret_new0 (CPNS_MAX_BODY);
  g_autoptr(GError) error = NULL;
  CpnsHeader hdr;
  CpnsBody body;
  long status = 0;

  curl_multi_remove_handle (dx.multi, d->easy);
  curl_easy_getinfo (d->easy, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK || status != 200)
    {
      load_error ("%s: %s (HTTP %ld)", d->id, curl_easy_strerror (rc), status);
      sender_done (&d->snd, FALSE, FALSE);
      return;
    }
  if (!cpns_session_open_message (d->session, d->reply->data, d->reply->len, &hdr, &body,
                                  plain->data, plain->len, &error) ||
      hdr.type != CPNS_MSG_DATA)
    {
      load_error ("%s: %s", d->id, error != NULL ? error->message : "not DATA");
      sender_done (&d->snd, FALSE, FALSE);
      return;
    }
  sender_done (&d->snd, TRUE, body.data.data.len == (gsize) opt.size &&
               memcmp (body.data.data.data, load->payload, opt.size) == 0);
}

static int
run_direct (void)
{
  guint k = MAX (1, (guint) opt.senders);
  g_autofree Direct **ds = g_new0 (Direct *, k);
  g_autofree Sender **senders = g_new0 (Sender *, k);
  int status = EXIT_OK;

  curl_global_init (CURL_GLOBAL_DEFAULT);
  dx.multi = curl_multi_init ();
  dx.headers = curl_slist_append (NULL, "Content-Type: application/cpns+cbor");
  dx.headers = curl_slist_append (dx.headers, "Accept: application/cpns+cbor");
  dx.headers = curl_slist_append (dx.headers, "Expect:");
  dx.record_url = g_strdup_printf ("%s/record", opt.direct);
  for (guint i = 0; i < k; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *id = pne_id (i);
      g_autofree char *dir = g_build_filename (sw.state_dir, id, NULL);
      g_autofree char *ks = g_build_filename (dir, "keystore", NULL);
      g_autofree char *kek = g_build_filename (dir, "kek", NULL);
      Direct *d = g_new0 (Direct, 1);

      ds[i] = d;
      senders[i] = &d->snd;
      d->snd.send = direct_send;
      g_strlcpy (d->id, id, sizeof d->id);
      d->reply = g_byte_array_new ();
      d->easy = curl_easy_init ();
      curl_easy_setopt (d->easy, CURLOPT_PRIVATE, d);
      curl_easy_setopt (d->easy, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt (d->easy, CURLOPT_HTTPHEADER, dx.headers);
      curl_easy_setopt (d->easy, CURLOPT_WRITEFUNCTION, on_body);
      curl_easy_setopt (d->easy, CURLOPT_WRITEDATA, d->reply);
      curl_easy_setopt (d->easy, CURLOPT_TIMEOUT, 30L);
      curl_easy_setopt (d->easy, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
      if (opt.ca != NULL)
        {
          curl_easy_setopt (d->easy, CURLOPT_CAINFO, opt.ca);
          curl_easy_setopt (d->easy, CURLOPT_CAPATH, NULL);
        }
      d->ks = cpns_keystore_open (ks, kek, TRUE, &error);
      if (d->ks == NULL ||
          (cpns_keystore_lookup (d->ks, PNE_ENTRY_EUKEY) == NULL &&
           !direct_enrol (d, creds->len > 0 ? creds->pdata[i % creds->len] : NULL, &error)) ||
          !direct_handshake (d, &error))
        {
          fprintf (stderr, "pne-swarm: %s: %s\n", id, error->message);
          if (opt.json)
            {
              GString *s = j_begin ("failed");
              j_str (s, "pne", id);
              j_str (s, "reason", error->message);
              j_end (s);
            }
          status = EXIT_PNE_FAILED;
          break;
        }
    }
  if (status == EXIT_OK)
    {
      say ("%u PNEs with a session straight to the server at %s", k, opt.direct);
      load = load_new ("direct", "server", senders, k);
      for (;;)
        {
          gint64 now = now_ns ();
          gint64 next = load_tick (now);
          int running, queued;
          CURLMsg *msg;
          int wait_ms;
          long curl_ms = -1;

          if (now >= load->end && (!load_in_flight () || now >= load->end + 5 * NS_PER_S))
            break;
          if (next < 0)
            next = now + 100 * NS_PER_MS;
          wait_ms = (int) MAX (0, (next - now + NS_PER_MS - 1) / NS_PER_MS);
          /* libcurl may want to be called back sooner than our schedule. */
          if (curl_multi_timeout (dx.multi, &curl_ms) == CURLM_OK && curl_ms >= 0)
            wait_ms = MIN (wait_ms, (int) curl_ms);
          curl_multi_poll (dx.multi, NULL, 0, wait_ms, NULL);
          curl_multi_perform (dx.multi, &running);
          while ((msg = curl_multi_info_read (dx.multi, &queued)) != NULL)
            {
              Direct *d = NULL;
              if (msg->msg != CURLMSG_DONE)
                continue;
              curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **) &d);
              direct_done (d, msg->data.result);
            }
        }
      load_report (load);
      if (load->received == 0 || load->wrong > 0)
        status = EXIT_PNE_FAILED;
      g_clear_pointer (&load, load_free);
    }
  for (guint i = 0; i < k; i++)
    {
      Direct *d = ds[i];
      if (d == NULL)
        continue;
      curl_multi_remove_handle (dx.multi, d->easy);
      curl_easy_cleanup (d->easy);
      g_clear_pointer (&d->session, cpns_session_free);
      g_clear_pointer (&d->ks, cpns_keystore_free);
      g_byte_array_unref (d->reply);
      g_free (d->request);
      g_free (d);
    }
  curl_multi_cleanup (dx.multi);
  curl_slist_free_all (dx.headers);
  g_free (dx.record_url);
  return status;
}

/* ---- main ---- */

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);
        if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
          remove_tree (child);
        else
          g_unlink (child);
      }
  g_rmdir (path);
}

int
main (int argc, char **argv)
{
  const GOptionEntry entries[] = {
    { "gateway", 'g', 0, G_OPTION_ARG_STRING, &opt.gateway,
      "PN GW to connect to: HOST:PORT or [IPv6]:PORT", "ADDR" },
    { "count", 'n', 0, G_OPTION_ARG_INT, &opt.count, "PNEs in the swarm (default 1)", "N" },
    { "user", 'u', 0, G_OPTION_ARG_STRING, &opt.user, "User ID for every PNE", "USER" },
    { "password-file", 'p', 0, G_OPTION_ARG_FILENAME, &opt.password_file,
      "Password of --user, first line of FILE", "FILE" },
    { "users-file", 0, 0, G_OPTION_ARG_FILENAME, &opt.users_file,
      "Lines 'USER PASSWORD'; PNE i takes line i modulo their number", "FILE" },
    { "prefix", 0, 0, G_OPTION_ARG_STRING, &opt.prefix,
      "Entity IDs are PREFIX-0, PREFIX-1, ... (default swarm)", "ID" },
    { "state-dir", 'd', 0, G_OPTION_ARG_FILENAME, &opt.state_dir,
      "One state directory per PNE under DIR, kept (default: a temporary one, removed "
      "at exit)", "DIR" },
    { "stay", 0, 0, G_OPTION_ARG_NONE, &opt.stay,
      "Keep the sessions open and idle until SIGTERM or SIGINT", NULL },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &opt.json, "One JSON object per line", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &opt.quiet, "Only failures and figures", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt.verbose, "Say why each retry happens", NULL },
    { "timeout", 't', 0, G_OPTION_ARG_INT, &opt.timeout,
      "Seconds for the whole swarm to get ready (default 900)", "S" },
    { "step-timeout", 0, 0, G_OPTION_ARG_INT, &opt.step_timeout,
      "Seconds without progress before a PNE tries again (default 60)", "S" },
    { "connect-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &opt.connect_timeout,
      "Seconds to connect and hear from the PN GW before trying again (default 10)", "S" },
    { "retries", 0, 0, G_OPTION_ARG_INT, &opt.retries,
      "Tries after the first for each PNE (default 10)", "N" },
    { "max-pending", 0, 0, G_OPTION_ARG_INT, &opt.max_pending,
      "PNEs connecting or provisioning at once (default 0: all)", "N" },
    { "latency", 0, 0, G_OPTION_ARG_NONE, &opt.latency,
      "After provisioning, measure DATA round trips", NULL },
    { "to", 0, 0, G_OPTION_ARG_STRING, &opt.to,
      "Latency to the server, the gateway or both (default both)", "WHO" },
    { "senders", 'k', 0, G_OPTION_ARG_INT, &opt.senders,
      "PNEs that send (default 16)", "K" },
    { "rate", 'r', 0, G_OPTION_ARG_DOUBLE, &opt.rate,
      "Messages per second in total (default 1000; 0: saturation)", "R" },
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &opt.seconds,
      "Seconds measured (default 5)", "T" },
    { "warmup", 0, 0, G_OPTION_ARG_DOUBLE, &opt.warmup,
      "Seconds sent but not measured first (default 1)", "S" },
    { "size", 0, 0, G_OPTION_ARG_INT, &opt.size, "DATA bytes (default 64)", "BYTES" },
    { "direct", 0, 0, G_OPTION_ARG_STRING, &opt.direct,
      "No gateway: the PNEs talk to the server at URL over HTTPS", "URL" },
    { "ca", 0, 0, G_OPTION_ARG_FILENAME, &opt.ca, "CA of the server (--direct)", "FILE" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- a swarm of PNEs on one PN GW");
  g_autoptr(GError) error = NULL;
  int status;

  setlocale (LC_ALL, "");
  signal (SIGPIPE, SIG_IGN);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "pne-swarm: %s\n", error->message);
      return EXIT_LOCAL;
    }
  if (opt.prefix == NULL)
    opt.prefix = g_strdup ("swarm");
  if (argc > 1 || opt.count < 1 || opt.count > 1000000 || opt.size < 0 ||
      opt.size > 60000 || opt.senders < 1 || opt.rate < 0 || opt.seconds <= 0 ||
      opt.warmup < 0 || opt.timeout < 1 || opt.step_timeout < 1 || opt.retries < 0 ||
      opt.connect_timeout <= 0 ||
      (opt.to != NULL && strcmp (opt.to, "server") != 0 && strcmp (opt.to, "gateway") != 0 &&
       strcmp (opt.to, "both") != 0))
    {
      fprintf (stderr, "pne-swarm: bad arguments (see --help)\n");
      return EXIT_LOCAL;
    }
  if ((opt.gateway == NULL) == (opt.direct == NULL))
    {
      fprintf (stderr, "pne-swarm: give --gateway ADDR, or --direct URL for the reference\n");
      return EXIT_LOCAL;
    }
  if (opt.user != NULL && opt.password_file == NULL)
    {
      fprintf (stderr, "pne-swarm: --user needs --password-file\n");
      return EXIT_LOCAL;
    }
  if (opt.gateway != NULL && opt.user == NULL && opt.users_file == NULL)
    {
      fprintf (stderr, "pne-swarm: the PNEs need --user and --password-file, or "
               "--users-file\n");
      return EXIT_LOCAL;
    }
  if (!load_creds (&error))
    {
      fprintf (stderr, "pne-swarm: %s\n", error->message);
      return EXIT_LOCAL;
    }
  if (opt.state_dir != NULL)
    sw.state_dir = g_strdup (opt.state_dir);
  else
    {
      sw.state_dir = g_dir_make_tmp ("pne-swarm-XXXXXX", &error);
      sw.remove_state = TRUE;
      if (sw.state_dir == NULL)
        {
          fprintf (stderr, "pne-swarm: %s\n", error->message);
          return EXIT_LOCAL;
        }
    }

  if (opt.direct != NULL)
    status = run_direct ();
  else
    {
      raise_fd_limit (opt.count);
      if (!parse_address (opt.gateway, &error) || !open_pnes (opt.count, &error))
        {
          fprintf (stderr, "pne-swarm: %s\n", error->message);
          status = EXIT_LOCAL;
        }
      else
        status = run_swarm ();
      for (guint i = 0; i < sw.n; i++)
        if (sw.pnes[i] != NULL)
          {
            Pne *p = sw.pnes[i];
            close_link (p);
            g_clear_pointer (&p->ks, cpns_keystore_free);
            g_byte_array_unref (p->out);
            g_free (p->refused);
            g_free (p->error);
            g_free (p);
          }
      g_free (sw.pnes);
      if (sw.addr != NULL)
        freeaddrinfo (sw.addr);
      if (sw.pollfds != NULL)
        g_array_unref (sw.pollfds);
      if (sw.polled != NULL)
        g_ptr_array_unref (sw.polled);
    }
  if (sw.remove_state)
    remove_tree (sw.state_dir);
  g_free (sw.state_dir);
  for (guint i = 0; i < creds->len; i++)
    {
      Cred *c = creds->pdata[i];
      g_free (c->user);
      cpns_secret_free (c->password);
      g_free (c);
    }
  g_ptr_array_unref (creds);
  return status;
}
