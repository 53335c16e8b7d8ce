/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The questions of fuzz-neighbour, shared with make-corpus so that its
 * seeds carry the sequence number, port and addresses the target asks
 * for.  Byte 0 of an input: */

#include <glib.h>
#include <string.h>
#include <sys/socket.h>

#include "gw-neighbour.h"

G_BEGIN_DECLS

#define FUZZ_NEIGH_DUMP_MASK 0x03  /* 0 addresses, 1 neighbours, 2 bridge, 3 neighbours */
#define FUZZ_NEIGH_IPV6      0x04  /* the address looked up is IPv6 */
#define FUZZ_NEIGH_SCOPE     0x08  /* neighbours: only on FUZZ_NEIGH_IFINDEX */

#define FUZZ_NEIGH_SEQ       0x51a7
#define FUZZ_NEIGH_PORT      0x2f3e
#define FUZZ_NEIGH_IFINDEX   3     /* the neighbour's interface */
#define FUZZ_NEIGH_BRIDGE    5
#define FUZZ_NEIGH_PORT_IF   7     /* the bridge port behind which the MAC is */

static const guint8 fuzz_neigh_v4[4] = { 192, 0, 2, 7 };
static const guint8 fuzz_neigh_v6[16] = {
  0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07,
};
static const guint8 fuzz_neigh_mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, 0x03 };

static inline void
fuzz_neighbour_query (GwNeighbourQuery *q, guint8 selector)
{
  guint dump = selector & FUZZ_NEIGH_DUMP_MASK;
  gboolean v6 = (selector & FUZZ_NEIGH_IPV6) != 0;

  memset (q, 0, sizeof *q);
  q->dump = dump == 0 ? GW_NEIGHBOUR_DUMP_ADDRESSES
          : dump == 2 ? GW_NEIGHBOUR_DUMP_BRIDGE : GW_NEIGHBOUR_DUMP_NEIGHBOURS;
  q->seq = FUZZ_NEIGH_SEQ;
  q->port = FUZZ_NEIGH_PORT;
  q->family = v6 ? AF_INET6 : AF_INET;
  q->address_len = v6 ? sizeof fuzz_neigh_v6 : sizeof fuzz_neigh_v4;
  memcpy (q->address, v6 ? fuzz_neigh_v6 : fuzz_neigh_v4, q->address_len);
  if (q->dump == GW_NEIGHBOUR_DUMP_NEIGHBOURS && (selector & FUZZ_NEIGH_SCOPE))
    q->scope_id = FUZZ_NEIGH_IFINDEX;
  if (q->dump == GW_NEIGHBOUR_DUMP_BRIDGE)
    {
      q->bridge = FUZZ_NEIGH_BRIDGE;
      q->lladdr_len = sizeof fuzz_neigh_mac;
      memcpy (q->lladdr, fuzz_neigh_mac, sizeof fuzz_neigh_mac);
    }
}

G_END_DECLS
