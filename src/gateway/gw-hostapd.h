/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Requests to the control interface of hostapd or wpa_supplicant (a UNIX
 * datagram socket, e.g. /run/hostapd/wlan0): hostapd's "STA <mac>" gives a
 * station's negotiated AKM and pairwise cipher, wpa_supplicant's "STATUS"
 * those of our own link.  gw-link-probe puts them together. */

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

G_END_DECLS
