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

typedef gboolean (*EachMessage) (struct nlmsghdr *h, gpointer user_data);

static gboolean
netlink_error (GError **error, const char *what, int err)
{
  g_set_error (error, GW_ERROR, GW_ERROR_FAILED, "asking the kernel for %s: %s", what,
               g_strerror (err));
  return FALSE;
}

/* Sends a dump request of @type for @family and hands every answer to
 * @each until NLMSG_DONE, or until @each returns FALSE (then the rest is
 * not read: the socket is closed anyway). */
static gboolean
netlink_dump (guint16 type, guint8 family, const char *what, EachMessage each,
              gpointer user_data, GError **error)
{
  struct {
    struct nlmsghdr h;
    union {
      struct ndmsg     nd;
      struct ifaddrmsg ifa;
    };
  } req = { 0 };
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  struct sockaddr_nl local = { .nl_family = AF_NETLINK };
  socklen_t local_len = sizeof local;
  struct timeval tv = { GW_NEIGHBOUR_TIMEOUT_MS / 1000,
                        (GW_NEIGHBOUR_TIMEOUT_MS % 1000) * 1000 };
  gint64 deadline = g_get_monotonic_time () + GW_NEIGHBOUR_TIMEOUT_MS * 1000;
  g_autofree guint8 *buf = g_malloc (RECV_BUFFER);
  static guint32 seq_counter;
  guint32 seq = ++seq_counter;
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

  req.h.nlmsg_type = type;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = seq;
  if (type == RTM_GETNEIGH)
    {
      req.h.nlmsg_len = NLMSG_LENGTH (sizeof (struct ndmsg));
      req.nd.ndm_family = family;
    }
  else
    {
      req.h.nlmsg_len = NLMSG_LENGTH (sizeof (struct ifaddrmsg));
      req.ifa.ifa_family = family;
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
      int remaining = n;
      for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK (h, remaining);
           h = NLMSG_NEXT (h, remaining))
        {
          if (h->nlmsg_seq != seq || h->nlmsg_pid != local.nl_pid)
            continue;
          if (h->nlmsg_type == NLMSG_DONE)
            {
              ok = done = TRUE;
              break;
            }
          if (h->nlmsg_type == NLMSG_ERROR)
            {
              struct nlmsgerr *e = NLMSG_DATA (h);
              netlink_error (error, what,
                             h->nlmsg_len >= NLMSG_LENGTH (sizeof *e) ? -e->error : EPROTO);
              done = TRUE;
              break;
            }
          if (!each (h, user_data))
            {
              ok = done = TRUE;
              break;
            }
        }
    }
  close (fd);
  return ok;
}

/* ---- our own addresses ---- */

typedef struct {
  guint8   family;
  guint8   bytes[16];
  gsize    len;
  gboolean found;
} AddrQuery;

static gboolean
each_address (struct nlmsghdr *h, gpointer user_data)
{
  AddrQuery *q = user_data;
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
        RTA_PAYLOAD (a) == q->len && memcmp (RTA_DATA (a), q->bytes, q->len) == 0)
      {
        q->found = TRUE;
        return FALSE;
      }
  return TRUE;
}

/* ---- the neighbour table ---- */

typedef struct {
  guint8    family;
  guint8    bytes[16];
  gsize     len;
  guint32   scope_id;
  gboolean  found;
  int       ifindex;
  GString  *mac;
  guint8    lladdr[32];
  gsize     lladdr_len;
} NeighQuery;

static gboolean
each_neighbour (struct nlmsghdr *h, gpointer user_data)
{
  NeighQuery *q = user_data;
  struct ndmsg *nd = NLMSG_DATA (h);
  const guint8 *lladdr = NULL;
  gsize lladdr_len = 0;
  gboolean match = FALSE;
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
        match = RTA_PAYLOAD (a) == q->len && memcmp (RTA_DATA (a), q->bytes, q->len) == 0;
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
  if (lladdr_len <= sizeof q->lladdr)
    {
      memcpy (q->lladdr, lladdr, lladdr_len);
      q->lladdr_len = lladdr_len;
    }
  for (gsize i = 0; i < lladdr_len; i++)
    g_string_append_printf (q->mac, i == 0 ? "%02x" : ":%02x", lladdr[i]);
  return FALSE;
}

/* ---- a bridge's forwarding database ---- */

typedef struct {
  int      bridge;
  guint8   mac[32];
  gsize    mac_len;
  int      port;
} FdbQuery;

static gboolean
each_fdb_entry (struct nlmsghdr *h, gpointer user_data)
{
  FdbQuery *q = user_data;
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
        mac_matches = RTA_PAYLOAD (a) == q->mac_len &&
                      memcmp (RTA_DATA (a), q->mac, q->mac_len) == 0;
      else if (a->rta_type == NDA_MASTER && RTA_PAYLOAD (a) == sizeof (guint32))
        on_bridge = *(guint32 *) RTA_DATA (a) == (guint32) q->bridge;
    }
  if (!mac_matches || !on_bridge)
    return TRUE;
  q->port = nd->ndm_ifindex;
  return FALSE;
}

GwNeighbour *
gw_neighbour_lookup (GInetAddress *address, guint32 scope_id, GError **error)
{
  g_autoptr(GInetAddress) addr = gw_inet_address_unmap (address);
  g_autoptr(GwNeighbour) n = g_new0 (GwNeighbour, 1);
  gboolean ipv4 = g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV4;
  AddrQuery aq = { .family = ipv4 ? AF_INET : AF_INET6 };
  NeighQuery nq = { .family = aq.family };
  FdbQuery fq = { 0 };
  char name[IF_NAMESIZE];

  n->address = g_inet_address_to_string (addr);
  aq.len = nq.len = g_inet_address_get_native_size (addr);
  memcpy (aq.bytes, g_inet_address_to_bytes (addr), aq.len);
  memcpy (nq.bytes, aq.bytes, nq.len);
  /* A scope only means something for a link-local address. */
  nq.scope_id = g_inet_address_get_is_link_local (addr) ? scope_id : 0;

  if (g_inet_address_get_is_loopback (addr))
    {
      n->kind = GW_NEIGHBOUR_LOCAL;
      return g_steal_pointer (&n);
    }
  if (!netlink_dump (RTM_GETADDR, aq.family, "its addresses", each_address, &aq, error))
    return NULL;
  if (aq.found)
    {
      n->kind = GW_NEIGHBOUR_LOCAL;
      return g_steal_pointer (&n);
    }

  nq.mac = g_string_new (NULL);
  if (!netlink_dump (RTM_GETNEIGH, nq.family, "its neighbour table", each_neighbour, &nq,
                     error))
    {
      g_string_free (nq.mac, TRUE);
      return NULL;
    }
  if (!nq.found)
    {
      n->kind = GW_NEIGHBOUR_ABSENT;
      g_string_free (nq.mac, TRUE);
      return g_steal_pointer (&n);
    }
  n->kind = GW_NEIGHBOUR_FOUND;
  n->ifindex = nq.ifindex;
  /* A NOARP entry (a point-to-point link) may have no link-layer address. */
  if (nq.mac->len > 0)
    n->mac = g_string_free (nq.mac, FALSE);
  else
    g_string_free (nq.mac, TRUE);
  if (if_indextoname (nq.ifindex, name) != NULL)
    n->ifname = g_strdup (name);
  if (n->mac == NULL)
    return g_steal_pointer (&n);

  /* Behind a bridge, the port tells Wi-Fi from wired.  No answer there is
   * no port, not a failed lookup: the neighbour itself is known. */
  fq.bridge = nq.ifindex;
  fq.mac_len = nq.lladdr_len;
  memcpy (fq.mac, nq.lladdr, nq.lladdr_len);
  if (netlink_dump (RTM_GETNEIGH, AF_BRIDGE, "the bridge forwarding database",
                    each_fdb_entry, &fq, NULL) &&
      fq.port != 0)
    {
      n->port_ifindex = fq.port;
      if (if_indextoname (fq.port, name) != NULL)
        n->port = g_strdup (name);
    }
  return g_steal_pointer (&n);
}
