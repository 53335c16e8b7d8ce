/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The measured security verdict for a PNE that reached us over TCP.  Its
 * address leads to a neighbour (MAC address and interface, from the
 * kernel); the interface says where the facts come from:
 *
 *   - one of our own addresses (loopback, local): wired, and the reason
 *     says local;
 *   - an interface with a [pan] hostapd-control socket (we are the access
 *     point): hostapd's "STA <mac>" (and "GET_CONFIG" for an open BSS);
 *   - one with a [pan] wpa-supplicant-control socket (we are a station
 *     ourselves): wpa_supplicant's "STATUS";
 *   - any other: wired.
 *
 * Then gw_link_verdict() under the [pan] policy.  Behind a bridge the
 * bridge port is the interface.  Whatever cannot be measured (no
 * neighbour, a control socket that does not answer, a station hostapd
 * does not know) is GW_VERDICT_UNKNOWN with a reason, never an error: a
 * PNE can still take an insecure path. */

#include <gio/gio.h>

#include "gw-config.h"
#include "gw-link-verdict.h"

G_BEGIN_DECLS

typedef struct {
  GwTransport  transport;
  GwVerdict    verdict;
  char        *reason;     /* a sentence a person understands */
  char        *mac;        /* the peer's link-layer address, or NULL */
  char        *interface;  /* the interface it is on, or NULL */
} GwLinkProbe;

void          gw_link_probe_free   (GwLinkProbe *probe);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GwLinkProbe, gw_link_probe_free)

/* @peer: a GInetSocketAddress (what g_socket_connection_get_remote_address()
 * gives).  What is needed of @config is copied at once. */
void          gw_link_probe_async  (GSocketAddress *peer, const GwConfig *config,
                                    GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
/* Fails only when cancelled. */
GwLinkProbe  *gw_link_probe_finish (GAsyncResult *result, GError **error);

G_END_DECLS
