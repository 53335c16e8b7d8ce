/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target for the rtnetlink reply parser of the neighbour lookup
 * (gw_neighbour_parse_reply() in src/gateway/gw-neighbour.c, which
 * gw_neighbour_lookup() reads every buffer from the kernel with).
 *
 * Input: byte 0 picks the question (FUZZ_NEIGH_* below): which dump, IPv4
 * or IPv6, with or without a scope; then buffers as recv() would return
 * them, each a 16-bit big-endian length and its bytes (cut at the end of
 * the input), parsed in turn until the parser says the answer is complete
 * or failed.  Each buffer is copied to memory of exactly its size, aligned
 * as the real receive buffer is.
 *
 * Checked: an error exactly when FAILED; an answer found only with DONE;
 * a neighbour found has a MAC address in lower-case "xx:xx" form of its
 * link-layer address (empty for none); a bridge port found is not the
 * bridge. */

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gw-neighbour.h"
#include "fuzz-neighbour.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fail (const char *what, const char *detail)
{
  fprintf (stderr, "fuzz-neighbour: %s%s%s\n", what, detail != NULL ? ": " : "",
           detail != NULL ? detail : "");
  abort ();
}

static void
check_mac (const GwNeighbourQuery *q)
{
  gsize len;

  if (q->mac == NULL)
    fail ("neighbour found without a MAC string", NULL);
  len = strlen (q->mac);
  if (len == 0)
    return;
  if (len % 3 != 2)
    fail ("MAC string of odd length", q->mac);
  for (gsize i = 0; i < len; i++)
    if (i % 3 == 2 ? q->mac[i] != ':'
                   : !(g_ascii_isdigit (q->mac[i]) || (q->mac[i] >= 'a' && q->mac[i] <= 'f')))
      fail ("MAC string not in xx:xx form", q->mac);
  if (q->lladdr_len != 0 && len != 3 * q->lladdr_len - 1)
    fail ("MAC string does not match the link-layer address", q->mac);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GwNeighbourQuery q;
  GwNeighbourReply reply = GW_NEIGHBOUR_REPLY_MORE;
  gsize pos = 1;

  if (size < 1)
    return 0;
  fuzz_neighbour_query (&q, data[0]);
  while (pos < size && reply == GW_NEIGHBOUR_REPLY_MORE)
    {
      g_autoptr(GError) error = NULL;
      g_autofree guint8 *buf = NULL;
      gsize len;

      if (size - pos < 2)
        break;
      len = MIN ((gsize) data[pos] << 8 | data[pos + 1], size - pos - 2);
      pos += 2;
      /* g_malloc aligns as the lookup's own buffer; never NULL for len 0. */
      buf = g_malloc (MAX (len, 1));
      memcpy (buf, data + pos, len);
      pos += len;
      reply = gw_neighbour_parse_reply (&q, buf, len, &error);
      if ((reply == GW_NEIGHBOUR_REPLY_FAILED) != (error != NULL))
        fail ("error without failure or failure without error", NULL);
      if (q.found && reply != GW_NEIGHBOUR_REPLY_DONE)
        fail ("answer found but the dump goes on", NULL);
    }
  if (q.found && q.dump == GW_NEIGHBOUR_DUMP_NEIGHBOURS)
    check_mac (&q);
  if (!q.found && q.mac != NULL)
    fail ("MAC string without a neighbour", q.mac);
  if (q.found && q.dump == GW_NEIGHBOUR_DUMP_BRIDGE && q.ifindex == q.bridge)
    fail ("the bridge is its own port", NULL);
  g_free (q.mac);
  return 0;
}
