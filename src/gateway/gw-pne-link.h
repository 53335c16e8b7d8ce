/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* One PNE on one PAN link, the gateway side of docs/protocol.md section 12:
 * the announcement, the choice of the EUKey path from it and the link's
 * security verdict, the path itself, the LocalEUKey and the PNE <-> gateway
 * session, and routing by destination (gateway-local messages handled here,
 * PNE <-> server messages relayed unchanged, one at a time). */

#include <gio/gio.h>

#include "gw-pan-link.h"
#include "gw-pne.h"

G_BEGIN_DECLS

typedef struct _GwPneManager GwPneManager;

#define GW_TYPE_PNE_LINK (gw_pne_link_get_type ())
G_DECLARE_FINAL_TYPE (GwPneLink, gw_pne_link, GW, PNE_LINK, GObject)

/* @manager is not referenced: it owns the GwPneLink. */
GwPneLink  *gw_pne_link_new         (GwPneManager *manager, GwPanLink *link);
void        gw_pne_link_start       (GwPneLink *self);
GwPanLink  *gw_pne_link_get_pan_link (GwPneLink *self);
/* NULL until the PNE announced itself. */
GwPne      *gw_pne_link_get_pne     (GwPneLink *self);
/* A record the server queued for this PNE (from the gateway's long poll). */
void        gw_pne_link_deliver     (GwPneLink *self, GBytes *record);
/* Asks for credentials again (state needs-credentials), replacing a
 * request still in flight. */
gboolean    gw_pne_link_provision   (GwPneLink *self, GError **error);
/* An agent appeared: asks, unless a request is in flight already. */
void        gw_pne_link_credentials_available (GwPneLink *self);
/* Closes the PAN link too; the manager hears of it once
 * (gw_pne_manager_link_closed). */
void        gw_pne_link_close       (GwPneLink *self, const char *reason);

G_END_DECLS
