/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* PNEs on Wi-Fi or wired IP reach the gateway over TCP: listening on the
 * configured addresses (IPv4 and IPv6), each accepted connection becomes a
 * GwPanLink, up to a cap on concurrent links beyond which new connections
 * are closed at once. */

#include <gio/gio.h>

#include "gw-pan-link.h"

G_BEGIN_DECLS

#define GW_TYPE_TCP_LISTENER (gw_tcp_listener_get_type ())
G_DECLARE_FINAL_TYPE (GwTcpListener, gw_tcp_listener, GW, TCP_LISTENER, GObject)

GwTcpListener *gw_tcp_listener_new      (guint max_links, guint idle_timeout_s);
/* "ADDR:PORT" or "[IPV6]:PORT"; port 0 picks one, returned in @port. */
gboolean       gw_tcp_listener_add      (GwTcpListener *self, const char *address,
                                         guint16 *port, GError **error);
void           gw_tcp_listener_start    (GwTcpListener *self);
void           gw_tcp_listener_stop     (GwTcpListener *self);
guint          gw_tcp_listener_get_links (GwTcpListener *self);

G_END_DECLS
