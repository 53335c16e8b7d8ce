/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Path 7.4.3 on the gateway's side (docs/protocol.md 12.5): with the
 * owner's User ID and password, the PNE's EUKey from the server (a Key
 * Request on the PNE's behalf), its Temporary Key (TK_REQUEST in the
 * gateway's own session), and that EUKey wrapped under the TK for the PNE.
 * Both keys are wiped before the result is handed back: only the wrap
 * leaves. */

#include <gio/gio.h>

#include "cpns-crypto.h"
#include "cpns-message.h"
#include "cpns-wrap.h"
#include "gw-server-link.h"
#include "gw-upstream.h"

G_BEGIN_DECLS

/* What EUKEY_TK_DELIVERY carries. */
typedef struct {
  guint8 kid[CPNS_KID_MAX];
  gsize  kid_len;
  guint8 tk_kid[CPNS_KID_MAX];
  gsize  tk_kid_len;
  guint8 wrapped[CPNS_WRAPPED_KEY_MAX];
  gsize  wrapped_len;
} GwTkDelivery;

/* The password is copied (and the copy wiped once stretched). */
void          gw_tk_delivery_run_async  (GwUpstream *upstream, GwServerLink *server_link,
                                         const char *gw_id, const char *server_id,
                                         const char *pne_id, const char *user_id,
                                         const CpnsSecret *password,
                                         GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data);
/* CPNS_ERROR_AUTH_FAILED when the server refused the password, as
 * cpns_key_client_accept() says; other CPNS_ERROR codes or GW_ERROR from
 * the server link. */
GwTkDelivery *gw_tk_delivery_run_finish (GAsyncResult *result, GError **error);

G_END_DECLS
