/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The gateway's secure session with the CPNS Server: handshake with the
 * EUKey over the upstream, protected requests, a long-poll for messages the
 * server queues for us, and re-establishment by itself after expiry, server
 * restarts or while the server is unreachable (exponential backoff with
 * jitter). */

#include <gio/gio.h>

#include "cpns-handshake.h"
#include "gw-config.h"
#include "gw-upstream.h"

G_BEGIN_DECLS

typedef enum {
  GW_LINK_IDLE,        /* no key */
  GW_LINK_CONNECTING,  /* handshake running */
  GW_LINK_CONNECTED,
  GW_LINK_WAITING,     /* backing off before the next attempt */
} GwLinkState;

#define GW_TYPE_SERVER_LINK (gw_server_link_get_type ())
G_DECLARE_FINAL_TYPE (GwServerLink, gw_server_link, GW, SERVER_LINK, GObject)

GwServerLink *gw_server_link_new          (GwUpstream *upstream, const GwConfig *config);
/* Starts (or restarts) the link with this key; NULL stops it. */
void          gw_server_link_set_psk      (GwServerLink *self, const CpnsPsk *psk);
GwLinkState   gw_server_link_get_state    (GwServerLink *self);
gboolean      gw_server_link_get_reachable (GwServerLink *self);
const char   *gw_server_link_get_last_error (GwServerLink *self);
/* How many sessions have been established so far (tests, status). */
guint         gw_server_link_get_sessions (GwServerLink *self);

/* Sends @body (an encoded body of @type) in a record and returns the body
 * of the server's answer (NULL for none) and its type.  Waits for the link
 * when it is connecting; fails at once when it has no key. */
void          gw_server_link_request_async  (GwServerLink *self, guint64 type,
                                             GBytes *body, gboolean encrypt,
                                             GCancellable *cancellable,
                                             GAsyncReadyCallback callback,
                                             gpointer user_data);
GBytes       *gw_server_link_request_finish (GwServerLink *self, GAsyncResult *result,
                                             guint64 *type, GError **error);

const char   *gw_link_state_to_string (GwLinkState state);

G_END_DECLS
