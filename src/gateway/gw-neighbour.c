/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-neighbour.h"

#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "gw-error.h"

#define RECV_BUFFER 32768
/* The states in which the kernel vouches for the link-layer address. */
#define USABLE_STATES (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | \
                       NUD_PERMANENT | NUD_NOARP)

void
gw_neighbour_free (GwNeighbour *n)
{
  if (n == NULL)
    return;
  g_free (n->address);
  g_free (n->mac);
  g_free (n->ifname);
  g_free (n->port);
  g_free (n);
}

GInetAddress *
gw_inet_address_unmap (GInetAddress *address)
{
  static const guint8 prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
  const guint8 *bytes = g_inet_address_to_bytes (address);

  if (g_inet_address_get_family (address) == G_SOCKET_FAMILY_IPV6 &&
      memcmp (bytes, prefix, sizeof prefix) == 0)
    return g_inet_address_new_from_bytes (bytes + 12, G_SOCKET_FAMILY_IPV4);
  return g_object_ref (address);
}

/* ---- rtnetlink ---- */

static const char *
dump_what (GwNeighbourDump dump)
{
  switch (dump)
    {
    case GW_NEIGHBOUR_DUMP_ADDRESSES:
      return "its addresses";
    case GW_NEIGHBOUR_DUMP_NEIGHBOURS:
      return "its neighbour table";
    case GW_NEIGHBOUR_DUMP_BRIDGE:
    default:
      return "the bridge forwarding database";
    }
}

static gboolean
netlink_error (GError **error, const char *what, int err)
{
  g_set_error (error, GW_ERROR, GW_ERROR_FAILED, "asking the kernel for %s: %s", what,
               g_strerror (err));
  return FALSE;
}

/* Sends the dump request of @q and reads the answer with
 * gw_neighbour_parse_reply() until it is complete. */
static gboolean
netlink_dump (GwNeighbourQuery *q, GError **error)
{
  struct {
    struct nlmsghdr h;
    union {
      struct ndmsg     nd;
      struct ifaddrmsg ifa;
    };
  } req = { 0 };
  const char *what = dump_what (q->dump);
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  struct sockaddr_nl local = { .nl_family = AF_NETLINK };
  socklen_t local_len = sizeof local;
  struct timeval tv = { GW_NEIGHBOUR_TIMEOUT_MS / 1000,
                        (GW_NEIGHBOUR_TIMEOUT_MS % 1000) * 1000 };
  gint64 deadline = g_get_monotonic_time () + GW_NEIGHBOUR_TIMEOUT_MS * 1000;
  g_autofree guint8 *buf = g_malloc (RECV_BUFFER);
  static guint32 seq_counter;
  gboolean ok = FALSE, done = FALSE;
  int fd, err;

  fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0)
    return netlink_error (error, what, errno);
  if (setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
      bind (fd, (struct sockaddr *) &local, sizeof local) < 0 ||
      getsockname (fd, (struct sockaddr *) &local, &local_len) < 0)
    {
      err = errno;
      close (fd);
      return netlink_error (error, what, err);
    }
  q->seq = ++seq_counter;
  q->port = local.nl_pid;

  req.h.nlmsg_type = q->dump == GW_NEIGHBOUR_DUMP_ADDRESSES ? RTM_GETADDR : RTM_GETNEIGH;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = q->seq;
  if (q->dump == GW_NEIGHBOUR_DUMP_ADDRESSES)
    {
      req.h.nlmsg_len = NLMSG_LENGTH (sizeof (struct ifaddrmsg));
      req.ifa.ifa_family = q->family;
    }
  else
    {
      req.h.nlmsg_len = NLMSG_LENGTH (sizeof (struct ndmsg));
      req.nd.ndm_family = q->dump == GW_NEIGHBOUR_DUMP_BRIDGE ? AF_BRIDGE : q->family;
    }
  if (sendto (fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *) &kernel, sizeof kernel) < 0)
    {
      err = errno;
      close (fd);
      return netlink_error (error, what, err);
    }

  while (!done)
    {
      struct sockaddr_nl from;
      socklen_t from_len = sizeof from;
      ssize_t n;

      if (g_get_monotonic_time () > deadline)
        {
          g_set_error (error, GW_ERROR, GW_ERROR_FAILED,
                       "asking the kernel for %s: no complete answer within %d ms", what,
                       GW_NEIGHBOUR_TIMEOUT_MS);
          break;
        }
      n = recvfrom (fd, buf, RECV_BUFFER, 0, (struct sockaddr *) &from, &from_len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          err = errno;
          if (err == EAGAIN || err == EWOULDBLOCK)
            g_set_error (error, GW_ERROR, GW_ERROR_FAILED,
                         "asking the kernel for %s: no answer within %d ms", what,
                         GW_NEIGHBOUR_TIMEOUT_MS);
          else
            netlink_error (error, what, err);
          break;
        }
      /* Only the kernel's answers to this request count. */
      if (from.nl_pid != 0)
        continue;
      switch (gw_neighbour_parse_reply (q, buf, n, error))
        {
        case GW_NEIGHBOUR_REPLY_MORE:
          break;
        case GW_NEIGHBOUR_REPLY_DONE:
          ok = done = TRUE;
          break;
        case GW_NEIGHBOUR_REPLY_FAILED:
          done = TRUE;
          break;
        }
    }
  close (fd);
  return ok;
}

/* ---- our own addresses ---- */

static gboolean
each_address (struct nlmsghdr *h, GwNeighbourQuery *q)
{
  struct ifaddrmsg *ifa = NLMSG_DATA (h);
  int len;

  if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH (sizeof *ifa) ||
      ifa->ifa_family != q->family)
    return TRUE;
  len = IFA_PAYLOAD (h);
  /* IFA_LOCAL is our address; on a point-to-point link IFA_ADDRESS is the
   * peer's, and we never are our own peer, so checking both is harmless. */
  for (struct rtattr *a = IFA_RTA (ifa); RTA_OK (a, len); a = RTA_NEXT (a, len))
    if ((a->rta_type == IFA_LOCAL || a->rta_type == IFA_ADDRESS) &&
        RTA_PAYLOAD (a) == q->address_len &&
        memcmp (RTA_DATA (a), q->address, q->address_len) == 0)
      {
        q->found = TRUE;
        return FALSE;
      }
  return TRUE;
}

/* ---- the neighbour table ---- */

static gboolean
each_neighbour (struct nlmsghdr *h, GwNeighbourQuery *q)
{
  struct ndmsg *nd = NLMSG_DATA (h);
  const guint8 *lladdr = NULL;
  gsize lladdr_len = 0;
  gboolean match = FALSE;
  GString *mac;
  int len;

  if (h->nlmsg_type != RTM_NEWNEIGH || h->nlmsg_len < NLMSG_LENGTH (sizeof *nd) ||
      nd->ndm_family != q->family || !(nd->ndm_state & USABLE_STATES) ||
      (q->scope_id != 0 && (guint32) nd->ndm_ifindex != q->scope_id))
    return TRUE;
  len = h->nlmsg_len - NLMSG_LENGTH (sizeof *nd);
  for (struct rtattr *a = (struct rtattr *) ((char *) nd + NLMSG_ALIGN (sizeof *nd));
       RTA_OK (a, len); a = RTA_NEXT (a, len))
    {
      if (a->rta_type == NDA_DST)
        match = RTA_PAYLOAD (a) == q->address_len &&
                memcmp (RTA_DATA (a), q->address, q->address_len) == 0;
      else if (a->rta_type == NDA_LLADDR)
        {
          lladdr = RTA_DATA (a);
          lladdr_len = RTA_PAYLOAD (a);
        }
    }
  if (!match)
    return TRUE;
  q->found = TRUE;
  q->ifindex = nd->ndm_ifindex;
  /* A NOARP neighbour (point-to-point links) has no link-layer address. */
  if (lladdr_len > 0 && lladdr_len <= sizeof q->lladdr)
    {
      memcpy (q->lladdr, lladdr, lladdr_len);
      q->lladdr_len = lladdr_len;
    }
  mac = g_string_new (NULL);
  for (gsize i = 0; i < lladdr_len; i++)
    g_string_append_printf (mac, i == 0 ? "%02x" : ":%02x", lladdr[i]);
  g_free (q->mac);
  q->mac = g_string_free (mac, FALSE);
  return FALSE;
}

/* ---- a bridge's forwarding database ---- */

static gboolean
each_fdb_entry (struct nlmsghdr *h, GwNeighbourQuery *q)
{
  struct ndmsg *nd = NLMSG_DATA (h);
  gboolean mac_matches = FALSE, on_bridge = FALSE;
  int len;

  if (h->nlmsg_type != RTM_NEWNEIGH || h->nlmsg_len < NLMSG_LENGTH (sizeof *nd) ||
      nd->ndm_family != AF_BRIDGE || nd->ndm_ifindex == q->bridge)
    return TRUE;
  len = h->nlmsg_len - NLMSG_LENGTH (sizeof *nd);
  for (struct rtattr *a = (struct rtattr *) ((char *) nd + NLMSG_ALIGN (sizeof *nd));
       RTA_OK (a, len); a = RTA_NEXT (a, len))
    {
      if (a->rta_type == NDA_LLADDR)
        mac_matches = RTA_PAYLOAD (a) == q->lladdr_len &&
                      memcmp (RTA_DATA (a), q->lladdr, q->lladdr_len) == 0;
      else if (a->rta_type == NDA_MASTER && RTA_PAYLOAD (a) == sizeof (guint32))
        on_bridge = *(guint32 *) RTA_DATA (a) == (guint32) q->bridge;
    }
  if (!mac_matches || !on_bridge)
    return TRUE;
  q->found = TRUE;
  q->ifindex = nd->ndm_ifindex;
  return FALSE;
}

/* ---- one buffer of a dump's answer ---- */

GwNeighbourReply
gw_neighbour_parse_reply (GwNeighbourQuery *q, const guint8 *buf, gsize len,
                          GError **error)
{
  int remaining = MIN (len, (gsize) G_MAXINT);

  for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK (h, remaining);
       h = NLMSG_NEXT (h, remaining))
    {
      gboolean more;

      /* Only the kernel's answers to this request count. */
      if (h->nlmsg_seq != q->seq || h->nlmsg_pid != q->port)
        continue;
      if (h->nlmsg_type == NLMSG_DONE)
        return GW_NEIGHBOUR_REPLY_DONE;
      if (h->nlmsg_type == NLMSG_ERROR)
        {
          struct nlmsgerr *e = NLMSG_DATA (h);
          netlink_error (error, dump_what (q->dump),
                         h->nlmsg_len >= NLMSG_LENGTH (sizeof *e) ? -e->error : EPROTO);
          return GW_NEIGHBOUR_REPLY_FAILED;
        }
      switch (q->dump)
        {
        case GW_NEIGHBOUR_DUMP_ADDRESSES:
          more = each_address (h, q);
          break;
        case GW_NEIGHBOUR_DUMP_NEIGHBOURS:
          more = each_neighbour (h, q);
          break;
        case GW_NEIGHBOUR_DUMP_BRIDGE:
        default:
          more = each_fdb_entry (h, q);
          break;
        }
      /* Found: the rest is not read (the socket is closed anyway). */
      if (!more)
        return GW_NEIGHBOUR_REPLY_DONE;
    }
  return GW_NEIGHBOUR_REPLY_MORE;
}

GwNeighbour *
gw_neighbour_lookup (GInetAddress *address, guint32 scope_id, GError **error)
{
  g_autoptr(GInetAddress) addr = gw_inet_address_unmap (address);
  g_autoptr(GwNeighbour) n = g_new0 (GwNeighbour, 1);
  gboolean ipv4 = g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV4;
  GwNeighbourQuery aq = { .dump = GW_NEIGHBOUR_DUMP_ADDRESSES,
                          .family = ipv4 ? AF_INET : AF_INET6 };
  GwNeighbourQuery nq = { .dump = GW_NEIGHBOUR_DUMP_NEIGHBOURS, .family = aq.family };
  GwNeighbourQuery fq = { .dump = GW_NEIGHBOUR_DUMP_BRIDGE };
  char name[IF_NAMESIZE];

  n->address = g_inet_address_to_string (addr);
  aq.address_len = nq.address_len = g_inet_address_get_native_size (addr);
  memcpy (aq.address, g_inet_address_to_bytes (addr), aq.address_len);
  memcpy (nq.address, aq.address, nq.address_len);
  /* A scope only means something for a link-local address. */
  nq.scope_id = g_inet_address_get_is_link_local (addr) ? scope_id : 0;

  if (g_inet_address_get_is_loopback (addr))
    {
      n->kind = GW_NEIGHBOUR_LOCAL;
      return g_steal_pointer (&n);
    }
  if (!netlink_dump (&aq, error))
    return NULL;
  if (aq.found)
    {
      n->kind = GW_NEIGHBOUR_LOCAL;
      return g_steal_pointer (&n);
    }

  if (!netlink_dump (&nq, error))
    {
      g_free (nq.mac);
      return NULL;
    }
  if (!nq.found)
    {
      n->kind = GW_NEIGHBOUR_ABSENT;
      g_free (nq.mac);
      return g_steal_pointer (&n);
    }
  n->kind = GW_NEIGHBOUR_FOUND;
  n->ifindex = nq.ifindex;
  /* A NOARP entry (a point-to-point link) may have no link-layer address. */
  if (nq.mac != NULL && nq.mac[0] != '\0')
    n->mac = g_steal_pointer (&nq.mac);
  else
    g_clear_pointer (&nq.mac, g_free);
  if (if_indextoname (nq.ifindex, name) != NULL)
    n->ifname = g_strdup (name);
  if (n->mac == NULL)
    return g_steal_pointer (&n);

  /* Behind a bridge, the port tells Wi-Fi from wired.  No answer there is
   * no port, not a failed lookup: the neighbour itself is known. */
  fq.bridge = nq.ifindex;
  fq.lladdr_len = nq.lladdr_len;
  memcpy (fq.lladdr, nq.lladdr, nq.lladdr_len);
  if (netlink_dump (&fq, NULL) && fq.found && fq.ifindex != 0)
    {
      n->port_ifindex = fq.ifindex;
      if (if_indextoname (fq.ifindex, name) != NULL)
        n->port = g_strdup (name);
    }
  return g_steal_pointer (&n);
}
