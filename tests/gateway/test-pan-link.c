/* SPDX-License-Identifier: GPL-3.0-or-later */

/* GwPanLink over real TCP on loopback: frames both ways in odd chunks,
 * broken or oversized framing, silence, the peer leaving, a peer that does
 * not read (then does: nothing lost, nothing reordered), what is queued at
 * close going out within its time; hundreds of links in the one epoll set
 * of GwPanPoller, closing each other while their events are pending, and
 * expiring in one sweep; a Unix descriptor pair (as BlueZ hands links
 * over) and a stream without a descriptor. */

#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cpns-frame.h"
#include "gw-error.h"
#include "gw-pan-link.h"
#include "gw-pan-poller.h"

typedef struct {
  GSocketListener   *listener;
  GSocketConnection *server_side;
  GSocketConnection *client;
  GIOStream         *wrapped;   /* the server side, without its descriptor */
  GwPanLink         *link;
  GPtrArray         *frames;
  char              *closed;
} Fixture;

static void
on_frame (GwPanLink *link, GBytes *frame, gpointer user_data)
{
  Fixture *f = user_data;
  g_ptr_array_add (f->frames, g_bytes_ref (frame));
}

static void
on_closed (GwPanLink *link, const char *reason, gpointer user_data)
{
  Fixture *f = user_data;
  g_free (f->closed);
  f->closed = g_strdup (reason);
}

static const GwPanLinkConsumer consumer = { on_frame, on_closed };

static void
on_accept (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *f = user_data;
  f->server_side = g_socket_listener_accept_finish (G_SOCKET_LISTENER (source), result,
                                                    NULL, NULL);
}

static void
attach (Fixture *f, GIOStream *stream, guint idle_timeout)
{
  f->link = gw_pan_link_new (stream, GW_TRANSPORT_WIFI, "127.0.0.1", idle_timeout);
  gw_pan_link_set_consumer (f->link, &consumer, f);
  gw_pan_link_start (f->link);
}

/* @wrap: the link gets the server side's streams in a GSimpleIOStream,
 * which has no descriptor to take over. */
static void
setup_full (Fixture *f, guint idle_timeout, gboolean wrap)
{
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;

  memset (f, 0, sizeof *f);
  f->frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  f->listener = g_socket_listener_new ();
  g_assert_true (g_socket_listener_add_address (f->listener, any, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &bound,
                                                &error));
  g_socket_listener_accept_async (f->listener, NULL, on_accept, f);
  f->client = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (bound), NULL, &error);
  g_assert_no_error (error);
  while (f->server_side == NULL)
    g_main_context_iteration (NULL, TRUE);
  if (wrap)
    f->wrapped = g_simple_io_stream_new (
      g_io_stream_get_input_stream (G_IO_STREAM (f->server_side)),
      g_io_stream_get_output_stream (G_IO_STREAM (f->server_side)));
  attach (f, wrap ? f->wrapped : G_IO_STREAM (f->server_side), idle_timeout);
}

static void
setup (Fixture *f, guint idle_timeout)
{
  setup_full (f, idle_timeout, FALSE);
}

static void
teardown (Fixture *f)
{
  /* A pending read keeps the link alive after our reference goes: it must
   * not call back into this fixture, which lives on the stack. */
  g_signal_handlers_disconnect_by_data (f->link, f);
  gw_pan_link_close (f->link, "test finished");
  g_clear_object (&f->link);
  g_clear_object (&f->wrapped);
  g_clear_object (&f->server_side);
  g_clear_object (&f->client);
  g_clear_object (&f->listener);
  g_ptr_array_unref (f->frames);
  g_free (f->closed);
}

static void
client_write (Fixture *f, const void *data, gsize len)
{
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (f->client));
  g_assert_true (g_output_stream_write_all (out, data, len, NULL, NULL, NULL));
}

static void
wait_for (gboolean *cond_or_null, Fixture *f, guint frames)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while ((cond_or_null != NULL ? !*cond_or_null : f->frames->len < frames && !f->closed) &&
         g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
}

static void
wait_closed (Fixture *f)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (f->closed == NULL && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (f->closed);
}

static void
test_frames_both_ways (void)
{
  Fixture f;
  guint8 stream[64];
  gsize n = 0;
  g_autoptr(GBytes) reply = g_bytes_new_static ("pong", 4);
  g_autoptr(GError) error = NULL;
  guint8 got[8];
  GInputStream *in;

  setup (&f, 0);
  cpns_frame_header (stream, 4);
  memcpy (stream + 4, "ping", 4);
  cpns_frame_header (stream + 8, 1);
  stream[12] = 'x';
  n = 13;
  /* Byte by byte, as a slow radio link might deliver it. */
  for (gsize i = 0; i < n; i++)
    {
      client_write (&f, stream + i, 1);
      g_main_context_iteration (NULL, FALSE);
    }
  wait_for (NULL, &f, 2);
  g_assert_cmpuint (f.frames->len, ==, 2);
  g_assert_cmpmem (g_bytes_get_data (f.frames->pdata[0], NULL), 4, "ping", 4);
  g_assert_cmpmem (g_bytes_get_data (f.frames->pdata[1], NULL), 1, "x", 1);

  g_assert_true (gw_pan_link_send (f.link, reply, &error));
  in = g_io_stream_get_input_stream (G_IO_STREAM (f.client));
  for (int i = 0; i < 100; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_true (g_input_stream_read_all (in, got, 8, &n, NULL, NULL));
  g_assert_cmpmem (got, 8, "\0\0\0\4pong", 8);
  g_assert_null (f.closed);
  teardown (&f);
}

static void
test_bad_framing (void)
{
  static const guint8 zero[] = { 0, 0, 0, 0 };
  static const guint8 huge[] = { 0x7f, 0, 0, 0 };
  Fixture f;

  setup (&f, 0);
  client_write (&f, zero, sizeof zero);
  wait_closed (&f);
  g_assert_nonnull (strstr (f.closed, "broken framing"));
  g_assert_true (gw_pan_link_is_closed (f.link));
  teardown (&f);

  setup (&f, 0);
  client_write (&f, huge, sizeof huge);
  wait_closed (&f);
  g_assert_nonnull (strstr (f.closed, "broken framing"));
  teardown (&f);
}

static void
test_silence_and_leaving (void)
{
  Fixture f;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = g_bytes_new_static ("x", 1);

  setup (&f, 1);
  wait_closed (&f);
  g_assert_nonnull (strstr (f.closed, "silent"));
  g_assert_false (gw_pan_link_send (f.link, frame, &error));
  teardown (&f);

  setup (&f, 0);
  g_io_stream_close (G_IO_STREAM (f.client), NULL, NULL);
  wait_closed (&f);
  g_assert_cmpstr (f.closed, ==, "the peer closed the link");
  teardown (&f);
}

static void
spin (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (500);
}

/* What the client receives until @want bytes or the end of the stream,
 * with the main loop running meanwhile (the link writes from it). */
static GByteArray *
client_read (Fixture *f, gsize want, gboolean *eof)
{
  GSocket *s = g_socket_connection_get_socket (f->client);
  GByteArray *got = g_byte_array_new ();
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  g_autofree guint8 *buf = g_malloc (256 * 1024);

  *eof = FALSE;
  g_socket_set_blocking (s, FALSE);
  while (got->len < want && g_get_monotonic_time () < deadline)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive (s, (char *) buf, 256 * 1024, NULL, &error);

      if (n > 0)
        g_byte_array_append (got, buf, n);
      else if (n == 0 || !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          *eof = TRUE;
          break;
        }
      else if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (500);
    }
  return got;
}

#define BIG 60000

/* Sends distinct BIG-byte frames (the first byte numbers them) until the
 * link refuses: the kernel's buffers are full, then ours. */
static guint
fill_until_busy (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *data = g_malloc0 (BIG);
  guint sent = 0;

  while (sent < 2000)
    {
      g_autoptr(GBytes) frame = NULL;

      data[0] = sent;
      data[BIG - 1] = sent;
      frame = g_bytes_new (data, BIG);
      if (!gw_pan_link_send (f->link, frame, &error))
        break;
      sent++;
      for (int i = 0; i < 4; i++)
        g_main_context_iteration (NULL, FALSE);
    }
  g_assert_error (error, GW_ERROR, GW_ERROR_BUSY);
  return sent;
}

static void
assert_frames (GByteArray *got, guint count)
{
  g_assert_cmpuint (got->len, ==, (gsize) count * (CPNS_FRAME_HEADER_LEN + BIG));
  for (guint i = 0; i < count; i++)
    {
      const guint8 *p = got->data + (gsize) i * (CPNS_FRAME_HEADER_LEN + BIG);

      g_assert_cmpmem (p, 4, "\0\0\xea\x60", 4);
      g_assert_cmpuint (p[4], ==, i & 0xff);
      g_assert_cmpuint (p[4 + BIG - 1], ==, i & 0xff);
    }
}

static void
test_peer_not_reading (void)
{
  Fixture f;
  guint sent;
  gboolean eof;
  g_autoptr(GByteArray) got = NULL;

  setup (&f, 0);
  /* Fill the kernel's buffers and then ours; the link refuses, not grows. */
  sent = fill_until_busy (&f);
  g_assert_null (f.closed);
  /* The peer reads at last: everything, in order, nothing twice. */
  got = client_read (&f, (gsize) sent * (CPNS_FRAME_HEADER_LEN + BIG), &eof);
  assert_frames (got, sent);
  g_assert_false (eof);
  g_assert_null (f.closed);
  teardown (&f);
}

static void
test_drain_on_close (void)
{
  Fixture f;
  guint sent;
  gboolean eof;
  g_autoptr(GByteArray) got = NULL;
  g_autoptr(GByteArray) partial = NULL;

  /* What was queued when the link closed still goes out, then the end. */
  setup (&f, 0);
  sent = fill_until_busy (&f);
  gw_pan_link_close (f.link, "the test says goodbye");
  g_assert_cmpstr (f.closed, ==, "the test says goodbye");
  g_assert_true (gw_pan_link_is_closed (f.link));
  got = client_read (&f, G_MAXSIZE, &eof);
  g_assert_true (eof);
  assert_frames (got, sent);
  teardown (&f);

  /* A peer that does not read gets no more than two seconds. */
  setup (&f, 0);
  sent = fill_until_busy (&f);
  gw_pan_link_close (f.link, "the test says goodbye");
  spin (2500);
  partial = client_read (&f, G_MAXSIZE, &eof);
  g_assert_true (eof);
  g_assert_cmpuint (partial->len, <, (gsize) sent * (CPNS_FRAME_HEADER_LEN + BIG));
  teardown (&f);
}

/* ---- many links in one epoll set ---- */

#define N_LINKS 200

typedef struct {
  GwPanLink *links[N_LINKS];     /* NULL once dropped */
  GSocketConnection *clients[N_LINKS];
  gboolean   delivered[N_LINKS];
  guint      late_frames;        /* frames from a closed link: none */
  guint      closed, silent;
} Many;

static void
on_many_frame (GwPanLink *link, GBytes *frame, gpointer user_data)
{
  Many *m = user_data;
  guint i = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (link), "index"));

  if (gw_pan_link_is_closed (link))
    m->late_frames++;
  m->delivered[i] = TRUE;
  /* An even link closes and drops its odd neighbour, whose frame is
   * likely pending in the same batch of ready descriptors. */
  if (i % 2 == 0 && m->links[i + 1] != NULL)
    {
      GwPanLink *next = g_steal_pointer (&m->links[i + 1]);

      gw_pan_link_close (next, "closed by its neighbour");
      g_object_unref (next);
    }
}

static void
on_many_closed (GwPanLink *link, const char *reason, gpointer user_data)
{
  Many *m = user_data;

  m->closed++;
  if (g_str_has_prefix (reason, "silent for 1 s"))
    m->silent++;
}

static gboolean
all_delivered_or_dropped (Many *m)
{
  for (guint i = 0; i < N_LINKS; i++)
    if (m->links[i] != NULL && !m->delivered[i])
      return FALSE;
  return TRUE;
}

static const GwPanLinkConsumer many_consumer = { on_many_frame, on_many_closed };

static void
test_many_links (void)
{
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSocketClient) connector = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  GwPanPoller *poller = gw_pan_poller_get_default ();
  guint base = gw_pan_poller_get_n_watches (poller);
  Many m = { 0 };
  guint8 hello[9];
  gint64 deadline;

  g_assert_true (g_socket_listener_add_address (listener, any, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &bound,
                                                &error));
  for (guint i = 0; i < N_LINKS; i++)
    {
      g_autoptr(GSocketConnection) server_side = NULL;

      m.clients[i] = g_socket_client_connect (connector, G_SOCKET_CONNECTABLE (bound), NULL,
                                              &error);
      g_assert_no_error (error);
      server_side = g_socket_listener_accept (listener, NULL, NULL, &error);
      g_assert_no_error (error);
      m.links[i] = gw_pan_link_new (G_IO_STREAM (server_side), GW_TRANSPORT_WIFI,
                                    "127.0.0.1", 1);
      g_object_set_data (G_OBJECT (m.links[i]), "index", GUINT_TO_POINTER (i));
      gw_pan_link_set_consumer (m.links[i], &many_consumer, &m);
      gw_pan_link_start (m.links[i]);
      /* The link has the connection to itself now. */
      g_assert_true (g_io_stream_is_closed (G_IO_STREAM (server_side)));
    }
  g_assert_cmpuint (gw_pan_poller_get_n_watches (poller), ==, base + N_LINKS);

  /* Every peer speaks at once: one dispatch sees many ready links. */
  cpns_frame_header (hello, 5);
  memcpy (hello + 4, "hello", 5);
  for (guint i = 0; i < N_LINKS; i++)
    g_assert_true (g_output_stream_write_all (
      g_io_stream_get_output_stream (G_IO_STREAM (m.clients[i])), hello, sizeof hello,
      NULL, NULL, NULL));
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (!all_delivered_or_dropped (&m) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (all_delivered_or_dropped (&m));
  g_assert_cmpuint (m.late_frames, ==, 0);
  for (guint i = 0; i < N_LINKS; i++)
    g_assert_true (i % 2 == 0 ? m.links[i] != NULL && m.delivered[i] : m.links[i] == NULL);
  g_assert_cmpuint (m.closed, ==, N_LINKS / 2);
  g_assert_cmpuint (gw_pan_poller_get_n_watches (poller), ==, base + N_LINKS / 2);

  /* The others fall silent: one sweep closes them, no timer of their own. */
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (m.closed < N_LINKS && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (m.silent, ==, N_LINKS / 2);
  g_assert_cmpuint (gw_pan_poller_get_n_watches (poller), ==, base);
  for (guint i = 0; i < N_LINKS; i++)
    {
      GSocket *s = g_socket_connection_get_socket (m.clients[i]);
      g_autoptr(GError) hung_up = NULL;
      char b;

      /* Every peer was hung up on (reset, when its frame was not read). */
      g_socket_set_blocking (s, TRUE);
      g_socket_set_timeout (s, 5);
      if (g_socket_receive (s, &b, 1, NULL, &hung_up) != 0)
        g_assert_error (hung_up, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
      if (m.links[i] != NULL)
        {
          g_signal_handlers_disconnect_by_data (m.links[i], &m);
          g_object_unref (m.links[i]);
        }
      g_object_unref (m.clients[i]);
    }
}

/* ---- links that are not TCP connections ---- */

static void
exchange (Fixture *f, int peer)
{
  guint8 in[9], out[9];
  g_autoptr(GBytes) reply = g_bytes_new_static ("pong", 4);
  g_autoptr(GError) error = NULL;

  cpns_frame_header (in, 5);
  memcpy (in + 4, "hello", 5);
  g_assert_cmpint (write (peer, in, sizeof in), ==, sizeof in);
  wait_for (NULL, f, 1);
  g_assert_cmpuint (f->frames->len, ==, 1);
  g_assert_cmpmem (g_bytes_get_data (f->frames->pdata[0], NULL), 5, "hello", 5);
  g_assert_true (gw_pan_link_send (f->link, reply, &error));
  spin (50);
  g_assert_cmpint (read (peer, out, 8), ==, 8);
  g_assert_cmpmem (out, 8, "\0\0\0\4pong", 8);
}

static void
test_unix_descriptor (void)
{
  GwPanPoller *poller = gw_pan_poller_get_default ();
  guint base = gw_pan_poller_get_n_watches (poller);
  g_autoptr(GIOStream) stream = NULL;
  Fixture f = { 0 };
  int sv[2];

  /* One socket for both ways, as a Bluetooth link comes from BlueZ (here
   * through two descriptors). */
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
  stream = g_simple_io_stream_new (g_unix_input_stream_new (sv[0], TRUE),
                                   g_unix_output_stream_new (dup (sv[0]), TRUE));
  /* g_simple_io_stream_new() took references of its own. */
  g_object_unref (g_io_stream_get_input_stream (stream));
  g_object_unref (g_io_stream_get_output_stream (stream));
  f.frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  attach (&f, stream, 0);
  g_assert_true (g_io_stream_is_closed (stream));
  g_assert_cmpuint (gw_pan_poller_get_n_watches (poller), ==, base + 1);
  exchange (&f, sv[1]);
  close (sv[1]);
  wait_closed (&f);
  g_assert_cmpstr (f.closed, ==, "the peer closed the link");
  g_assert_cmpuint (gw_pan_poller_get_n_watches (poller), ==, base);
  teardown (&f);
}

static void
test_without_descriptor (void)
{
  GwPanPoller *poller = gw_pan_poller_get_default ();
  guint base = gw_pan_poller_get_n_watches (poller);
  Fixture f;
  GSocket *client;

  /* The stream is read as a stream; its silence is still the poller's. */
  setup_full (&f, 1, TRUE);
  g_assert_false (g_io_stream_is_closed (f.wrapped));
  g_assert_cmpuint (gw_pan_poller_get_n_watches (poller), ==, base + 1);
  client = g_socket_connection_get_socket (f.client);
  exchange (&f, g_socket_get_fd (client));
  g_io_stream_close (G_IO_STREAM (f.client), NULL, NULL);
  wait_closed (&f);
  g_assert_cmpstr (f.closed, ==, "the peer closed the link");
  g_assert_cmpuint (gw_pan_poller_get_n_watches (poller), ==, base);
  teardown (&f);

  setup_full (&f, 1, TRUE);
  wait_closed (&f);
  g_assert_cmpstr (f.closed, ==, "silent for 1 s");
  g_assert_cmpuint (gw_pan_poller_get_n_watches (poller), ==, base);
  teardown (&f);
}

int
main (int argc, char **argv)
{
  /* GSlice recycles freed objects out of the sanitizers' sight, and reads
   * its setting before main(): once more with malloc, so that build-asan
   * catches a link used after it was freed (many-links). */
  if (g_getenv ("G_SLICE") == NULL)
    {
      g_setenv ("G_SLICE", "always-malloc", TRUE);
      execv ("/proc/self/exe", argv);
    }
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pan-link/frames-both-ways", test_frames_both_ways);
  g_test_add_func ("/pan-link/bad-framing", test_bad_framing);
  g_test_add_func ("/pan-link/silence-and-leaving", test_silence_and_leaving);
  g_test_add_func ("/pan-link/peer-not-reading", test_peer_not_reading);
  g_test_add_func ("/pan-link/drain-on-close", test_drain_on_close);
  g_test_add_func ("/pan-link/many-links", test_many_links);
  g_test_add_func ("/pan-link/unix-descriptor", test_unix_descriptor);
  g_test_add_func ("/pan-link/without-descriptor", test_without_descriptor);
  return g_test_run ();
}
