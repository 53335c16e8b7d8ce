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

/* ---- the reply parser, apart from the socket (tests and fuzzing) ---- */

typedef enum {
  GW_NEIGHBOUR_DUMP_ADDRESSES,   /* RTM_GETADDR: is the address one of ours? */
  GW_NEIGHBOUR_DUMP_NEIGHBOURS,  /* RTM_GETNEIGH: the address's neighbour entry */
  GW_NEIGHBOUR_DUMP_BRIDGE,      /* RTM_GETNEIGH, AF_BRIDGE: the port with a MAC */
} GwNeighbourDump;

/* One question of gw_neighbour_lookup() to the kernel, and its answer. */
typedef struct {
  GwNeighbourDump dump;
  guint32   seq;           /* the dump request's sequence number */
  guint32   port;          /* our netlink port ID: answers to others are skipped */
  /* ADDRESSES, NEIGHBOURS: the address looked up */
  guint8    family;        /* AF_INET or AF_INET6 */
  guint8    address[16];
  gsize     address_len;
  guint32   scope_id;      /* NEIGHBOURS: only entries on this interface; 0: any */
  /* BRIDGE: the bridge, and the link-layer address to find behind one of its
   * ports; NEIGHBOURS: the neighbour's, once found (when at most 32 bytes) */
  int       bridge;
  guint8    lladdr[32];
  gsize     lladdr_len;
  /* The answer */
  gboolean  found;
  int       ifindex;       /* NEIGHBOURS: the neighbour's interface; BRIDGE: the port */
  char     *mac;           /* NEIGHBOURS: its link-layer address as text, "" for none;
                            * free with g_free() */
} GwNeighbourQuery;

typedef enum {
  GW_NEIGHBOUR_REPLY_MORE,    /* the dump goes on in the next buffer */
  GW_NEIGHBOUR_REPLY_DONE,    /* complete: NLMSG_DONE, or @query found its answer */
  GW_NEIGHBOUR_REPLY_FAILED,  /* the kernel answered NLMSG_ERROR: @error set */
} GwNeighbourReply;

/* One buffer of the kernel's answer to the dump of @query, as recv() returned
 * it (@buf aligned as g_malloc() aligns); gw_neighbour_lookup() reads every
 * buffer with this. */
GwNeighbourReply gw_neighbour_parse_reply (GwNeighbourQuery *query, const guint8 *buf,
                                           gsize len, GError **error);

G_END_DECLS
