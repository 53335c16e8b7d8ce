/* SPDX-License-Identifier: GPL-3.0-or-later */

/* GwTcpListener on loopback, IPv4 and IPv6: links appear, the cap on
 * concurrent links holds, a closed link frees its place, bad addresses are
 * refused with the address named, and a burst of connections made while
 * the gateway is busy waits in the listen queue instead of being dropped. */

#include <gio/gio.h>
#include <string.h>

#include "gw-error.h"
#include "gw-tcp-listener.h"

static void
on_link (GwTcpListener *listener, GwPanLink *link, gpointer user_data)
{
  g_ptr_array_add (user_data, g_object_ref (link));
}

static GSocketConnection *
connect_to (const char *host, guint16 port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  GSocketConnection *c = g_socket_client_connect_to_host (client, host, port, NULL, &error);

  g_assert_no_error (error);
  return c;
}

static void
spin (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE);
}

static gboolean
peer_closed (GSocketConnection *c)
{
  GSocket *s = g_socket_connection_get_socket (c);
  char b;

  g_socket_set_blocking (s, FALSE);
  return g_socket_receive (s, &b, 1, NULL, NULL) == 0;
}

static void
test_cap (void)
{
  g_autoptr(GwTcpListener) l = gw_tcp_listener_new (2, 0);
  g_autoptr(GPtrArray) links = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) a = NULL, b = NULL, c = NULL, d = NULL;
  guint16 port = 0;

  g_assert_true (gw_tcp_listener_add (l, "127.0.0.1:0", &port, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (port, >, 0);
  g_signal_connect (l, "link", G_CALLBACK (on_link), links);
  gw_tcp_listener_start (l);

  a = connect_to ("127.0.0.1", port);
  b = connect_to ("127.0.0.1", port);
  spin (200);
  g_assert_cmpuint (links->len, ==, 2);
  c = connect_to ("127.0.0.1", port);
  spin (200);
  g_assert_cmpuint (links->len, ==, 2);
  g_assert_cmpuint (gw_tcp_listener_get_links (l), ==, 2);
  g_assert_true (peer_closed (c));
  g_assert_cmpstr (gw_pan_link_get_address (links->pdata[0]), ==, "127.0.0.1");

  /* One leaves: its place is free again. */
  g_io_stream_close (G_IO_STREAM (a), NULL, NULL);
  spin (200);
  g_assert_cmpuint (gw_tcp_listener_get_links (l), ==, 1);
  d = connect_to ("127.0.0.1", port);
  spin (200);
  g_assert_cmpuint (links->len, ==, 3);
  g_assert_false (peer_closed (d));
  gw_tcp_listener_stop (l);
  spin (100);
  g_assert_cmpuint (gw_tcp_listener_get_links (l), ==, 0);
}

static void
test_ipv6 (void)
{
  g_autoptr(GwTcpListener) l = gw_tcp_listener_new (4, 0);
  g_autoptr(GPtrArray) links = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) a = NULL;
  guint16 port = 0;

  if (!gw_tcp_listener_add (l, "[::1]:0", &port, &error))
    {
      g_test_skip (error->message);
      return;
    }
  g_signal_connect (l, "link", G_CALLBACK (on_link), links);
  gw_tcp_listener_start (l);
  a = connect_to ("::1", port);
  spin (200);
  g_assert_cmpuint (links->len, ==, 1);
  g_assert_cmpstr (gw_pan_link_get_address (links->pdata[0]), ==, "::1");
  gw_tcp_listener_stop (l);
}

static void
test_bad_addresses (void)
{
  g_autoptr(GwTcpListener) l = gw_tcp_listener_new (4, 0);
  const char *bad[] = { "nonsense", "127.0.0.1", "127.0.0.1:99999", "[::1", NULL };

  for (const char **p = bad; *p != NULL; p++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (gw_tcp_listener_add (l, *p, NULL, &error));
      g_assert_error (error, GW_ERROR, GW_ERROR_CONFIG);
      g_assert_nonnull (strstr (error->message, *p));
    }
}

static void
test_burst (void)
{
  g_autoptr(GwTcpListener) l = gw_tcp_listener_new (1000, 0);
  g_autoptr(GPtrArray) links = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) to = NULL;
  g_autoptr(GError) error = NULL;
  guint16 port = 0;
  const guint n = 200;
  gint64 deadline;

  g_assert_true (gw_tcp_listener_add (l, "127.0.0.1:0", &port, &error));
  g_signal_connect (l, "link", G_CALLBACK (on_link), links);
  gw_tcp_listener_start (l);
  to = g_inet_socket_address_new (lo, port);
  /* The main loop does not run while they connect: all wait in the listen
   * queue (GLib's default of 10 would drop SYNs, and the PNEs would only
   * try again a second later). */
  for (guint i = 0; i < n; i++)
    {
      GSocket *s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, &error);

      g_assert_no_error (error);
      g_socket_set_blocking (s, FALSE);
      if (!g_socket_connect (s, to, NULL, &error))
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PENDING);
          g_clear_error (&error);
        }
      g_ptr_array_add (sockets, s);
    }
  /* Well within the first SYN retransmission (1 s). */
  deadline = g_get_monotonic_time () + G_USEC_PER_SEC / 2;
  while (links->len < n && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (links->len, ==, n);
  g_assert_cmpuint (gw_tcp_listener_get_links (l), ==, n);
  gw_tcp_listener_stop (l);
  g_assert_cmpuint (gw_tcp_listener_get_links (l), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tcp-listener/cap", test_cap);
  g_test_add_func ("/tcp-listener/ipv6", test_ipv6);
  g_test_add_func ("/tcp-listener/bad-addresses", test_bad_addresses);
  g_test_add_func ("/tcp-listener/burst", test_burst);
  return g_test_run ();
}
