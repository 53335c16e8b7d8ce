/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-tcp-listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "gw-error.h"

#if defined(SOMAXCONN) && SOMAXCONN > 4096
#define LISTEN_BACKLOG_MAX SOMAXCONN
#else
#define LISTEN_BACKLOG_MAX 4096
#endif

struct _GwTcpListener {
  GObject         parent_instance;
  GSocketService *service;
  guint           max_links;
  guint           idle_timeout_s;
  GPtrArray      *links;   /* GwPanLink */
};

enum {
  SIGNAL_LINK,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GwTcpListener, gw_tcp_listener, G_TYPE_OBJECT)

static void
on_link_closed (GwPanLink *link, gpointer user_data)
{
  GwTcpListener *self = user_data;

  gw_pan_link_set_closed_func (link, NULL, NULL);
  g_ptr_array_remove_fast (self->links, link);
}

static char *
peer_address (GSocketAddress *remote)
{
  if (remote == NULL || !G_IS_INET_SOCKET_ADDRESS (remote))
    return g_strdup ("unknown");
  return g_inet_address_to_string (
    g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *connection, GObject *source,
             gpointer user_data)
{
  GwTcpListener *self = user_data;
  g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address (connection,
                                                                             NULL);
  g_autofree char *address = peer_address (remote);
  g_autoptr(GwPanLink) link = NULL;

  if (self->links->len >= self->max_links)
    {
      g_message ("refused a link from %s: already %u links", address, self->links->len);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }
  /* Requests are small and interactive: do not wait to fill segments. */
  g_socket_set_option (g_socket_connection_get_socket (connection), IPPROTO_TCP,
                       TCP_NODELAY, 1, NULL);
  link = gw_pan_link_new (G_IO_STREAM (connection), GW_TRANSPORT_WIFI, address,
                          self->idle_timeout_s);
  gw_pan_link_set_remote (link, remote);
  g_ptr_array_add (self->links, g_object_ref (link));
  gw_pan_link_set_closed_func (link, on_link_closed, self);
  g_message ("link from %s (%u open)", address, self->links->len);
  g_signal_emit (self, signals[SIGNAL_LINK], 0, link);
  gw_pan_link_start (link);
  return TRUE;
}

gboolean
gw_tcp_listener_add (GwTcpListener *self, const char *address, guint16 *port,
                     GError **error)
{
  g_autoptr(GSocketConnectable) parsed = NULL;
  g_autoptr(GSocketAddressEnumerator) e = NULL;
  g_autoptr(GSocketAddress) addr = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) local = NULL;

  parsed = g_network_address_parse (address, 0, &local);
  /* A missing port parses as 0: only an explicit ":0" asks for any port. */
  if (parsed == NULL ||
      (g_network_address_get_port (G_NETWORK_ADDRESS (parsed)) == 0 &&
       !g_str_has_suffix (address, ":0")))
    {
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG,
                   "'%s' is not ADDRESS:PORT or [IPV6-ADDRESS]:PORT", address);
      return FALSE;
    }
  e = g_socket_connectable_enumerate (parsed);
  addr = g_socket_address_enumerator_next (e, NULL, &local);
  if (addr == NULL)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG, "'%s' is not a numeric address",
                   address);
      return FALSE;
    }
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), addr,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                      &bound, &local))
    {
      g_set_error (error, GW_ERROR, GW_ERROR_CONFIG, "cannot listen on %s: %s", address,
                   local->message);
      return FALSE;
    }
  if (port != NULL)
    *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  return TRUE;
}

void
gw_tcp_listener_start (GwTcpListener *self)
{
  g_socket_service_start (self->service);
}

void
gw_tcp_listener_stop (GwTcpListener *self)
{
  g_socket_service_stop (self->service);
  g_socket_listener_close (G_SOCKET_LISTENER (self->service));
  while (self->links->len > 0)
    gw_pan_link_close (self->links->pdata[self->links->len - 1], "the gateway is stopping");
}

guint
gw_tcp_listener_get_links (GwTcpListener *self)
{
  return self->links->len;
}

GwTcpListener *
gw_tcp_listener_new (guint max_links, guint idle_timeout_s)
{
  GwTcpListener *self = g_object_new (GW_TYPE_TCP_LISTENER, NULL);

  self->max_links = max_links;
  self->idle_timeout_s = idle_timeout_s;
  /* GLib's default of 10 drops connections when PNEs come in a burst (a
   * room powering up): as many as may be open, within what the kernel
   * takes (it caps this at net.core.somaxconn).  Set before any socket is
   * added, as it only applies to those added afterwards. */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (self->service),
                                 CLAMP (max_links, 1, LISTEN_BACKLOG_MAX));
  return self;
}

static void
gw_tcp_listener_dispose (GObject *object)
{
  GwTcpListener *self = GW_TCP_LISTENER (object);

  if (self->service != NULL)
    gw_tcp_listener_stop (self);
  g_clear_object (&self->service);
  g_clear_pointer (&self->links, g_ptr_array_unref);
  G_OBJECT_CLASS (gw_tcp_listener_parent_class)->dispose (object);
}

static void
gw_tcp_listener_class_init (GwTcpListenerClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = gw_tcp_listener_dispose;
  /* A new link (GwPanLink), before it starts reading. */
  signals[SIGNAL_LINK] = g_signal_new ("link", G_TYPE_FROM_CLASS (klass),
                                       G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                       G_TYPE_NONE, 1, GW_TYPE_PAN_LINK);
}

static void
gw_tcp_listener_init (GwTcpListener *self)
{
  self->service = g_socket_service_new ();
  self->links = g_ptr_array_new_with_free_func (g_object_unref);
  g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);
}
