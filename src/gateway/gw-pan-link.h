/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* One PAN link to a PNE: a byte stream carrying length-prefixed frames
 * (docs/protocol.md section 7) plus the facts about its peer (transport,
 * address, security verdict).  TCP over Wi-Fi or wired, and RFCOMM/L2CAP
 * from BlueZ, all arrive as a GIOStream and look the same from here up.
 * Buffers are bounded both ways; a link that breaks its framing, sends too
 * much or stays silent too long is closed with a reason. */

#include <gio/gio.h>

#include "gw-link-verdict.h"

G_BEGIN_DECLS

#define GW_PAN_LINK_MAX_FRAME   (64 * 1024 + 512)
#define GW_PAN_LINK_MAX_QUEUED  (4 * GW_PAN_LINK_MAX_FRAME)

#define GW_TYPE_PAN_LINK (gw_pan_link_get_type ())
G_DECLARE_FINAL_TYPE (GwPanLink, gw_pan_link, GW, PAN_LINK, GObject)

GwPanLink   *gw_pan_link_new          (GIOStream *stream, GwTransport transport,
                                       const char *address, guint idle_timeout_s);

/* Plain callbacks rather than signals: a signal connection costs more
 * heap than the rest of an idle link, and a gateway holds thousands.
 * The consumer (the PNE link above) gets the frames and the close; the
 * transport that accepted the link (to count and stop its links) only the
 * close, first.  Either may drop its reference to the link in a callback.
 * Whoever goes away before the link sets its callbacks back to NULL. */
typedef struct {
  /* One complete frame from the peer. */
  void (*frame)  (GwPanLink *link, GBytes *frame, gpointer user_data);
  /* Emitted once: the link is gone. */
  void (*closed) (GwPanLink *link, const char *reason, gpointer user_data);
} GwPanLinkConsumer;

typedef void (*GwPanLinkClosedFunc) (GwPanLink *link, gpointer user_data);

void         gw_pan_link_set_consumer (GwPanLink *self, const GwPanLinkConsumer *consumer,
                                       gpointer user_data);
void         gw_pan_link_set_closed_func (GwPanLink *self, GwPanLinkClosedFunc func,
                                          gpointer user_data);
/* Reading starts.  A stream over one descriptor (a GSocketConnection, or
 * GUnixInputStream and GUnixOutputStream on one socket) is closed here: the
 * link keeps a duplicate of the descriptor in GwPanPoller's epoll set.
 * Other streams are read and written as streams. */
void         gw_pan_link_start        (GwPanLink *self);
/* Queues one frame; fails when the peer does not read fast enough. */
gboolean     gw_pan_link_send         (GwPanLink *self, GBytes *frame, GError **error);
void         gw_pan_link_close        (GwPanLink *self, const char *reason);

GwTransport  gw_pan_link_get_transport (GwPanLink *self);
const char  *gw_pan_link_get_address   (GwPanLink *self);
gboolean     gw_pan_link_is_closed     (GwPanLink *self);
const char  *gw_pan_link_get_close_reason (GwPanLink *self);
void         gw_pan_link_set_verdict   (GwPanLink *self, GwVerdict verdict,
                                        const char *reason);
GwVerdict    gw_pan_link_get_verdict   (GwPanLink *self);
const char  *gw_pan_link_get_verdict_reason (GwPanLink *self);
/* The peer's socket address where the transport has one (TCP), for
 * measuring the verdict; NULL otherwise. */
void            gw_pan_link_set_remote (GwPanLink *self, GSocketAddress *remote);
GSocketAddress *gw_pan_link_get_remote (GwPanLink *self);
/* The measured transport (a TCP peer may be on Wi-Fi or wired). */
void            gw_pan_link_set_transport (GwPanLink *self, GwTransport transport);

G_END_DECLS
