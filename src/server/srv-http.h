/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The HTTP binding (protocol.md 11) on libsoup 3: HTTPS with the
 * configured certificate (plain HTTP only with insecure-http), POST only,
 * application/cpns+cbor only, bodies up to CPNS_MAX_MESSAGE.  It moves
 * bytes between HTTP and SrvCore and decides nothing else. */

#include <glib-object.h>

#include "srv-config.h"
#include "srv-core.h"

G_BEGIN_DECLS

#define SRV_TYPE_HTTP (srv_http_get_type ())
G_DECLARE_FINAL_TYPE (SrvHttp, srv_http, SRV, HTTP, GObject)

/* Loads the certificate and key named by @config (unless insecure-http). */
SrvHttp *srv_http_new    (SrvCore *core, const SrvConfig *config, GError **error);
/* Listens on every configured address. */
gboolean srv_http_listen (SrvHttp *http, GError **error);
/* "https://ADDR:PORT" for each listening socket, with the real port. */
GStrv    srv_http_get_urls (SrvHttp *http);
void     srv_http_stop   (SrvHttp *http);

G_END_DECLS
