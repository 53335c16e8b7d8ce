/* SPDX-License-Identifier: GPL-3.0-or-later */

/* GwPanLink over real TCP on loopback: frames both ways in odd chunks,
 * broken or oversized framing, silence, the peer leaving, and a peer that
 * does not read. */

#include <gio/gio.h>
#include <string.h>

#include "cpns-frame.h"
#include "gw-error.h"
#include "gw-pan-link.h"

typedef struct {
  GSocketListener   *listener;
  GSocketConnection *server_side;
  GSocketConnection *client;
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

static void
on_accept (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *f = user_data;
  f->server_side = g_socket_listener_accept_finish (G_SOCKET_LISTENER (source), result,
                                                    NULL, NULL);
}

static void
setup (Fixture *f, guint idle_timeout)
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
  f->link = gw_pan_link_new (G_IO_STREAM (f->server_side), GW_TRANSPORT_WIFI, "127.0.0.1",
                             idle_timeout);
  g_signal_connect (f->link, "frame", G_CALLBACK (on_frame), f);
  g_signal_connect (f->link, "closed", G_CALLBACK (on_closed), f);
  gw_pan_link_start (f->link);
}

static void
teardown (Fixture *f)
{
  /* A pending read keeps the link alive after our reference goes: it must
   * not call back into this fixture, which lives on the stack. */
  g_signal_handlers_disconnect_by_data (f->link, f);
  gw_pan_link_close (f->link, "test finished");
  g_clear_object (&f->link);
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
test_peer_not_reading (void)
{
  Fixture f;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *data = g_malloc0 (60000);
  g_autoptr(GBytes) frame = g_bytes_new (data, 60000);
  guint sent = 0;

  setup (&f, 0);
  /* Fill the kernel's buffers and then ours; the link refuses, not grows. */
  while (sent < 2000 && gw_pan_link_send (f.link, frame, &error))
    {
      sent++;
      for (int i = 0; i < 4; i++)
        g_main_context_iteration (NULL, FALSE);
    }
  g_assert_error (error, GW_ERROR, GW_ERROR_BUSY);
  g_assert_null (f.closed);
  teardown (&f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pan-link/frames-both-ways", test_frames_both_ways);
  g_test_add_func ("/pan-link/bad-framing", test_bad_framing);
  g_test_add_func ("/pan-link/silence-and-leaving", test_silence_and_leaving);
  g_test_add_func ("/pan-link/peer-not-reading", test_peer_not_reading);
  return g_test_run ();
}
