/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Facts about a Wi-Fi station from hostapd's control interface (a UNIX
 * datagram socket, e.g. /run/hostapd/wlan0): "STA <mac>" gives the
 * negotiated AKM and pairwise cipher.  And the station's MAC address from
 * the IPv4 neighbour table, for a PNE known by its IP address. */

#include <gio/gio.h>

G_BEGIN_DECLS

#define GW_HOSTAPD_TIMEOUT_MS 2000

/* Sends @command to the control socket @ctrl_path and returns the reply
 * text.  Our end is bound below @local_dir (hostapd answers to the
 * sender's address), which must be writable and not shared with others. */
void     gw_hostapd_request_async  (const char *ctrl_path, const char *local_dir,
                                    const char *command, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
char    *gw_hostapd_request_finish (GAsyncResult *result, GError **error);

/* The MAC address for @ip in the text of /proc/net/arp (complete entries
 * only), lower case, or NULL. */
char    *gw_neighbour_mac_from_arp (const char *arp_table, const char *ip);

G_END_DECLS
