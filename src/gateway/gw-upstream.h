/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The gateway's HTTPS client for the CPNS Server (docs/protocol.md, section
 * 11): POSTs one CPNS message and hands back the status and body.  libcurl's
 * multi interface runs every transfer from the GLib main context that was
 * thread-default when the object was made, so nothing ever blocks and no
 * thread is started per request; connections are kept alive and reused. */

#include <gio/gio.h>

G_BEGIN_DECLS

#define GW_UPSTREAM_ERROR (gw_upstream_error_quark ())

typedef enum {
  GW_UPSTREAM_ERROR_UNREACHABLE,  /* DNS, refused, reset, timed out */
  GW_UPSTREAM_ERROR_TLS,          /* untrusted certificate, wrong name, handshake,
                                   * or plain http:// while that is not allowed */
  GW_UPSTREAM_ERROR_HTTP,         /* a response whose body is not a CPNS message */
  GW_UPSTREAM_ERROR_TOO_LARGE,    /* a body above GW_UPSTREAM_MAX_BODY */
  GW_UPSTREAM_ERROR_CANCELLED,    /* cancelled, or the GwUpstream was disposed */
  GW_UPSTREAM_ERROR_FAILED,       /* a bad URL or CA file, or any other failure */
} GwUpstreamError;

/* Request and response bodies above this are refused: the protocol's limit
 * is 66 048 bytes, so this leaves room without letting a server make us
 * buffer without bound. */
#define GW_UPSTREAM_MAX_BODY 70000

#define GW_UPSTREAM_MEDIA_TYPE "application/cpns+cbor"

/* Connections to the server at most, kept for reuse at most.  The gateway's
 * long poll holds one; PNEs' messages are relayed one at a time each. */
#define GW_UPSTREAM_MAX_CONNECTIONS 16
/* Requests handed to libcurl at once; later ones wait their turn, in order,
 * and the wait counts against their timeout.  A transfer costs libcurl
 * some kilobytes of buffers even while it waits for a connection: a burst
 * of a thousand PNEs would otherwise grow the heap by megabytes and leave
 * it fragmented under their long-lived state. */
#define GW_UPSTREAM_MAX_ACTIVE (2 * GW_UPSTREAM_MAX_CONNECTIONS)
#define GW_UPSTREAM_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define GW_UPSTREAM_DEFAULT_TOTAL_TIMEOUT_MS   30000

#define GW_TYPE_UPSTREAM (gw_upstream_get_type ())
G_DECLARE_FINAL_TYPE (GwUpstream, gw_upstream, GW, UPSTREAM, GObject)

GQuark      gw_upstream_error_quark (void);

/* @base_url is the server's base URL, e.g. https://cpns.example.net/cpns/v1
 * (http:// is accepted here but refused per request unless allowed).
 * @ca_file is a PEM file of the CAs to trust instead of the system store;
 * NULL trusts the system store.  Fails with GW_UPSTREAM_ERROR_FAILED for a
 * URL that is not http(s), has no host, or carries user information, a
 * query or a fragment, and for an unreadable CA file. */
GwUpstream *gw_upstream_new                (const char  *base_url,
                                            const char  *ca_file,
                                            GError     **error);
const char *gw_upstream_get_base_url       (GwUpstream  *self);
/* For debugging only: lets requests go over plain http://. */
void        gw_upstream_set_allow_insecure (GwUpstream  *self,
                                            gboolean     allow);
/* 0 leaves a value unchanged.  Applies to requests started afterwards. */
void        gw_upstream_set_timeouts       (GwUpstream  *self,
                                            guint        connect_ms,
                                            guint        total_ms);

/* POSTs @body (at most GW_UPSTREAM_MAX_BODY bytes) to base URL + @path
 * (which starts with '/') as application/cpns+cbor.  @timeout_ms bounds the
 * whole request, 0 meaning the default total timeout; long polls pass more
 * than the server's wait.  Call from the GwUpstream's main context.
 *
 * A request holds no reference on @self: disposing of the GwUpstream
 * completes every request in flight with GW_UPSTREAM_ERROR_CANCELLED, and
 * the callback's source object is always NULL. */
void        gw_upstream_post_async         (GwUpstream          *self,
                                            const char          *path,
                                            GBytes              *body,
                                            guint                timeout_ms,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
/* Any HTTP status that arrived is a success here, returned in @http_status
 * with the body (possibly empty), as long as the body is empty or labelled
 * application/cpns+cbor: the caller reads status and CPNS message.  A body
 * of another type (a proxy's error page) fails with GW_UPSTREAM_ERROR_HTTP,
 * and an oversized one with GW_UPSTREAM_ERROR_TOO_LARGE; both still set
 * @http_status, which is 0 when no response arrived.  @self may be NULL
 * (the object may be gone by the time the callback runs). */
GBytes     *gw_upstream_post_finish        (GwUpstream          *self,
                                            GAsyncResult        *result,
                                            guint               *http_status,
                                            GError             **error);
/* The same, also returning the Retry-After header of a 429 or 503 in
 * seconds (an HTTP date is converted), or 0 when there was none. */
GBytes     *gw_upstream_post_finish_full   (GwUpstream          *self,
                                            GAsyncResult        *result,
                                            guint               *http_status,
                                            guint               *retry_after_s,
                                            GError             **error);

G_END_DECLS
