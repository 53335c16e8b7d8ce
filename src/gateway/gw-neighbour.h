/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Who is at the other end of an IP link: the MAC address and interface of
 * an IPv4 or IPv6 neighbour, from the kernel's neighbour table over
 * rtnetlink (a plain NETLINK_ROUTE socket, no libnl), or "local" when the
 * address is one of our own.  Synchronous but bounded: the kernel answers
 * a dump at once, and every receive times out after GW_NEIGHBOUR_TIMEOUT_MS. */

#include <gio/gio.h>

G_BEGIN_DECLS

#define GW_NEIGHBOUR_TIMEOUT_MS 1000

typedef enum {
  GW_NEIGHBOUR_ABSENT,  /* no usable entry (none, INCOMPLETE or FAILED) */
  GW_NEIGHBOUR_FOUND,   /* a neighbour on @ifindex */
  GW_NEIGHBOUR_LOCAL,   /* loopback, or an address of one of our interfaces */
} GwNeighbourKind;

typedef struct {
  GwNeighbourKind kind;
  char           *address;  /* the address looked up, IPv4-mapped unmapped */
  char           *mac;      /* FOUND: "02:00:00:00:01:00" (lower case); NULL for an
                             * entry without a link-layer address (NOARP) */
  int             ifindex;  /* FOUND: the interface; else 0 */
  char           *ifname;   /* FOUND: its name, NULL if it vanished meanwhile */
  /* FOUND on a bridge (br-lan with wlan0 and eth1 enslaved, as on OpenWrt):
   * the port behind which the bridge's forwarding database has @mac, the
   * interface the peer really sits on; else 0 and NULL. */
  int             port_ifindex;
  char           *port;
} GwNeighbour;

void         gw_neighbour_free   (GwNeighbour *neighbour);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GwNeighbour, gw_neighbour_free)

/* Looks up @address (an IPv4-mapped IPv6 address, as a dual-stack socket
 * reports IPv4 peers, is looked up as IPv4).  @scope_id, when not 0, is
 * the interface a link-local IPv6 address belongs to (from its
 * GInetSocketAddress).  NULL and @error only when the kernel could not be
 * asked; an unknown address is a GW_NEIGHBOUR_ABSENT answer. */
GwNeighbour *gw_neighbour_lookup (GInetAddress *address, guint32 scope_id,
                                  GError **error);

/* ::ffff:a.b.c.d as a.b.c.d; any other address as itself (a new ref). */
GInetAddress *gw_inet_address_unmap (GInetAddress *address);

G_END_DECLS
