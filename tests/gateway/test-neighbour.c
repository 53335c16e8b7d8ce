/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The neighbour lookup against the real kernel: veth pairs whose far end
 * lives in a network namespace of its own, neighbours learnt by real ARP
 * and neighbour discovery or added as permanent entries, IPv4, IPv6,
 * IPv4-mapped IPv6, our own addresses, absent ones and a bridge port. */

#define _GNU_SOURCE   /* unshare() in veth-pair.h */
#include <gio/gio.h>
#include <net/if.h>
#include <string.h>

#include "gw-neighbour.h"
#include "veth-pair.h"

static VethNs ns;
static char *skip_reason;
static char *near, *far, *near2, *far2, *bridge;
static char *v4_near, *v4_far, *v4_perm, *v4_incomplete, *v4_absent;
static char *v6_near, *v6_far, *v6_perm, *v6_incomplete, *v6_absent;
static char *bridge_peer;
static gboolean have_bridge;

#define PERM_MAC_4 "02:00:5e:10:00:01"
#define PERM_MAC_6 "02:00:5e:10:00:02"
#define BRIDGED_MAC "02:00:5e:10:00:03"

static GwNeighbour *
lookup (const char *text, GError **error)
{
  g_autoptr(GInetAddress) a = g_inet_address_new_from_string (text);

  g_assert_nonnull (a);
  return gw_neighbour_lookup (a, 0, error);
}

static GwNeighbour *
lookup_ok (const char *text)
{
  g_autoptr(GError) error = NULL;
  GwNeighbour *n = lookup (text, &error);

  g_assert_no_error (error);
  g_assert_nonnull (n);
  g_test_message ("%s: kind %d, %s on %s (%d), port %s", text, n->kind, n->mac, n->ifname,
                  n->ifindex, n->port);
  return n;
}

static gboolean
skip (void)
{
  if (skip_reason != NULL)
    g_test_skip (skip_reason);
  return skip_reason != NULL;
}

static void
test_permanent (void)
{
  g_autoptr(GwNeighbour) a = NULL, b = NULL, c = NULL;
  g_autofree char *mapped = NULL;

  if (skip ())
    return;
  a = lookup_ok (v4_perm);
  g_assert_cmpint (a->kind, ==, GW_NEIGHBOUR_FOUND);
  g_assert_cmpstr (a->mac, ==, PERM_MAC_4);
  g_assert_cmpstr (a->ifname, ==, near);
  g_assert_cmpint (a->ifindex, ==, if_nametoindex (near));
  g_assert_cmpstr (a->address, ==, v4_perm);
  g_assert_null (a->port);

  b = lookup_ok (v6_perm);
  g_assert_cmpint (b->kind, ==, GW_NEIGHBOUR_FOUND);
  g_assert_cmpstr (b->mac, ==, PERM_MAC_6);
  g_assert_cmpstr (b->ifname, ==, near);

  /* What a dual-stack listener reports for an IPv4 peer. */
  mapped = g_strdup_printf ("::ffff:%s", v4_perm);
  c = lookup_ok (mapped);
  g_assert_cmpint (c->kind, ==, GW_NEIGHBOUR_FOUND);
  g_assert_cmpstr (c->mac, ==, PERM_MAC_4);
  g_assert_cmpstr (c->address, ==, v4_perm);
}

/* Sends one UDP datagram to @ip, making the kernel resolve it, then waits
 * for the entry. */
static GwNeighbour *
resolve (const char *ip)
{
  g_autoptr(GInetAddress) a = g_inet_address_new_from_string (ip);
  g_autoptr(GSocketAddress) to = g_inet_socket_address_new (a, 9);
  g_autoptr(GSocket) s = g_socket_new (g_inet_address_get_family (a),
                                       G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, NULL);
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  g_assert_nonnull (s);
  while (g_get_monotonic_time () < deadline)
    {
      g_autoptr(GwNeighbour) n = NULL;
      g_socket_send_to (s, to, "x", 1, NULL, NULL);
      n = lookup_ok (ip);
      if (n->kind == GW_NEIGHBOUR_FOUND)
        return g_steal_pointer (&n);
      g_usleep (100000);
    }
  g_error ("%s was not resolved within 5 s", ip);
}

/* The far end's MAC address, as its namespace sees it. */
static char *
far_mac (void)
{
  g_autofree char *cmd = g_strdup_printf ("nsenter -t %d -n ip -brief link show dev %s",
                                          (int) ns.holder, far);
  g_autofree char *out = NULL;
  g_auto(GStrv) fields = NULL;

  g_assert_true (g_spawn_command_line_sync (cmd, &out, NULL, NULL, NULL));
  fields = g_strsplit_set (g_strstrip (out), " \t", -1);
  for (char **p = fields; *p != NULL; p++)
    if (strlen (*p) == 17 && (*p)[2] == ':')
      return g_ascii_strdown (*p, -1);
  g_error ("no MAC address for %s in '%s'", far, out);
}

static void
test_learnt (void)
{
  g_autoptr(GwNeighbour) a = NULL, b = NULL;
  g_autofree char *mac = NULL;

  if (skip ())
    return;
  mac = far_mac ();
  a = resolve (v4_far);
  g_assert_cmpstr (a->mac, ==, mac);
  g_assert_cmpstr (a->ifname, ==, near);
  b = resolve (v6_far);
  g_assert_cmpstr (b->mac, ==, mac);
  g_assert_cmpstr (b->ifname, ==, near);
}

static void
test_local (void)
{
  const char *locals[] = { "127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", NULL,
                           NULL, NULL };
  g_autofree char *mapped = NULL;

  if (skip ())
    return;
  mapped = g_strdup_printf ("::ffff:%s", v4_near);
  locals[4] = v4_near;
  locals[5] = v6_near;
  locals[6] = mapped;
  for (guint i = 0; i < G_N_ELEMENTS (locals); i++)
    {
      g_autoptr(GwNeighbour) n = lookup_ok (locals[i]);
      g_assert_cmpint (n->kind, ==, GW_NEIGHBOUR_LOCAL);
      g_assert_null (n->mac);
      g_assert_null (n->ifname);
    }
}

static void
test_absent (void)
{
  const char *absent[] = { NULL, NULL, NULL, NULL, "192.0.2.77", "2001:db8::77" };

  if (skip ())
    return;
  /* INCOMPLETE entries vouch for no address. */
  absent[0] = v4_incomplete;
  absent[1] = v6_incomplete;
  absent[2] = v4_absent;
  absent[3] = v6_absent;
  for (guint i = 0; i < G_N_ELEMENTS (absent); i++)
    {
      g_autoptr(GwNeighbour) n = lookup_ok (absent[i]);
      g_assert_cmpint (n->kind, ==, GW_NEIGHBOUR_ABSENT);
      g_assert_null (n->mac);
      g_assert_null (n->ifname);
    }
}

static void
test_scope (void)
{
  g_autoptr(GInetAddress) a = NULL;
  g_autoptr(GwNeighbour) here = NULL, elsewhere = NULL;
  g_autoptr(GError) error = NULL;

  if (skip ())
    return;
  /* A link-local address means something only on its own link. */
  veth_ip ("neigh", "replace", "fe80::77", "lladdr", PERM_MAC_6, "dev", near, "nud",
           "permanent");
  a = g_inet_address_new_from_string ("fe80::77");
  here = gw_neighbour_lookup (a, if_nametoindex (near), &error);
  g_assert_no_error (error);
  g_assert_cmpint (here->kind, ==, GW_NEIGHBOUR_FOUND);
  g_assert_cmpstr (here->ifname, ==, near);
  elsewhere = gw_neighbour_lookup (a, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (elsewhere->kind, ==, GW_NEIGHBOUR_ABSENT);
}

static void
test_bridge_port (void)
{
  g_autoptr(GwNeighbour) n = NULL;

  if (skip ())
    return;
  if (!have_bridge)
    {
      g_test_skip ("no bridge here (ip link add type bridge, or the bridge tool, failed)");
      return;
    }
  n = lookup_ok (bridge_peer);
  g_assert_cmpint (n->kind, ==, GW_NEIGHBOUR_FOUND);
  g_assert_cmpstr (n->mac, ==, BRIDGED_MAC);
  g_assert_cmpstr (n->ifname, ==, bridge);
  g_assert_cmpstr (n->port, ==, near2);
  g_assert_cmpint (n->port_ifindex, ==, if_nametoindex (near2));
}

static void
setup (void)
{
  guint p = getpid ();
  g_autofree char *why = NULL;
  g_autofree char *prefix = g_strdup_printf ("fd70:6e67:%x:%x", (p >> 16) & 0xffff,
                                             p & 0xffff);
  g_autofree char *v4_near_32 = NULL, *v4_far_32 = NULL;
  g_autofree char *v6_near_64 = NULL, *v6_far_64 = NULL;

  near = g_strdup_printf ("pgn%ua", p);
  far = g_strdup_printf ("pgn%ub", p);
  near2 = g_strdup_printf ("pgn%uc", p);
  far2 = g_strdup_printf ("pgn%ud", p);
  bridge = g_strdup_printf ("pgn%ur", p);
  /* Addresses from the pid, so that parallel runs do not meet. */
  v4_near = g_strdup_printf ("100.%u.%u.%u", 64 + ((p >> 16) & 63), (p >> 8) & 255, p & 255);
  v4_far = g_strdup_printf ("10.%u.%u.%u", (p >> 16) & 255, (p >> 8) & 255, p & 255);
  v4_perm = g_strdup_printf ("198.%u.%u.%u", 18 + ((p >> 16) & 1), (p >> 8) & 255, p & 255);
  v4_incomplete = g_strdup_printf ("172.%u.%u.%u", 16 + ((p >> 16) & 15), (p >> 8) & 255,
                                   p & 255);
  v4_absent = g_strdup_printf ("192.0.2.%u", p & 255);
  v6_near = g_strdup_printf ("%s::1", prefix);
  v6_far = g_strdup_printf ("%s::2", prefix);
  v6_perm = g_strdup_printf ("%s::3", prefix);
  v6_incomplete = g_strdup_printf ("%s::4", prefix);
  v6_absent = g_strdup_printf ("%s::5", prefix);
  bridge_peer = g_strdup_printf ("%s::6", prefix);

  if (skip_reason == NULL)
    skip_reason = veth_ns_start (&ns);
  if (skip_reason == NULL)
    skip_reason = veth_add (&ns, near, far);
  if (skip_reason != NULL)
    return;
  v4_near_32 = g_strdup_printf ("%s/32", v4_near);
  v4_far_32 = g_strdup_printf ("%s/32", v4_far);
  v6_near_64 = g_strdup_printf ("%s/64", v6_near);
  v6_far_64 = g_strdup_printf ("%s/64", v6_far);
  veth_ip ("addr", "add", v4_near_32, "dev", near);
  veth_ip ("route", "add", v4_far_32, "dev", near);
  veth_ip ("-6", "addr", "add", v6_near_64, "dev", near, "nodad");
  veth_ns_ip (&ns, "addr", "add", v4_far_32, "dev", far);
  veth_ns_ip (&ns, "route", "add", v4_near_32, "dev", far);
  veth_ns_ip (&ns, "-6", "addr", "add", v6_far_64, "dev", far, "nodad");
  veth_ip ("neigh", "add", v4_perm, "lladdr", PERM_MAC_4, "dev", near, "nud", "permanent");
  veth_ip ("neigh", "add", v6_perm, "lladdr", PERM_MAC_6, "dev", near, "nud", "permanent");
  veth_ip ("neigh", "add", v4_incomplete, "dev", near, "nud", "incomplete");
  veth_ip ("neigh", "add", v6_incomplete, "dev", near, "nud", "incomplete");

  /* A bridge with a port: the neighbour is on the bridge, its MAC behind
   * the port in the forwarding database. */
  have_bridge = veth_add (&ns, near2, far2) == NULL &&
                veth_run (&why, "ip", "link", "add", bridge, "type", "bridge", NULL) &&
                veth_run (&why, "ip", "link", "set", near2, "master", bridge, NULL) &&
                veth_run (&why, "ip", "link", "set", bridge, "up", NULL) &&
                veth_run (&why, "bridge", "fdb", "add", BRIDGED_MAC, "dev", near2, "master",
                          "static", NULL) &&
                veth_run (&why, "ip", "neigh", "add", bridge_peer, "lladdr", BRIDGED_MAC,
                          "dev", bridge, "nud", "permanent", NULL);
  if (!have_bridge)
    g_test_message ("no bridge: %s", why);
}

int
main (int argc, char **argv)
{
  const char *nears[] = { NULL, NULL, NULL, NULL };
  int status;

  /* Before anything else: no thread may exist yet. */
  skip_reason = veth_isolate ();
  g_test_init (&argc, &argv, NULL);
  setup ();
  g_test_add_func ("/neighbour/permanent", test_permanent);
  g_test_add_func ("/neighbour/learnt", test_learnt);
  g_test_add_func ("/neighbour/local", test_local);
  g_test_add_func ("/neighbour/absent", test_absent);
  g_test_add_func ("/neighbour/link-local-scope", test_scope);
  g_test_add_func ("/neighbour/bridge-port", test_bridge_port);
  status = g_test_run ();
  nears[0] = near;
  nears[1] = near2;
  nears[2] = bridge;
  veth_ns_stop (&ns, nears);
  return status;
}
