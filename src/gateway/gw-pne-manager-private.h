/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What GwPneLink needs from its GwPneManager: the shared services and the
 * registry.  Not for anyone else. */

#include "gw-pne-link.h"
#include "gw-pne-manager.h"

G_BEGIN_DECLS

const GwConfig *gw_pne_manager_get_config      (GwPneManager *self);
GwUpstream     *gw_pne_manager_get_upstream    (GwPneManager *self);
GwServerLink   *gw_pne_manager_get_server_link (GwPneManager *self);
CpnsKeystore   *gw_pne_manager_get_keystore    (GwPneManager *self);
const char     *gw_pne_manager_get_user_id     (GwPneManager *self);
gboolean        gw_pne_manager_get_enrolled    (GwPneManager *self);
const GwCredentialSource *gw_pne_manager_get_credential_source (GwPneManager *self);

/* The keystore name of @pne_id's LocalEUKey. */
char           *gw_pne_local_key_name          (const char *pne_id);

/* Sets and saves @entry (atomically, with the rest of the keystore). */
gboolean        gw_pne_manager_store_key       (GwPneManager *self, const CpnsKeyEntry *entry,
                                                GError **error);
/* Binds @pne_id to @link: fails with wrong-id when it is the gateway's or
 * the server's ID or is connected on another link.  Returns the PNE
 * (borrowed). */
GwPne          *gw_pne_manager_claim           (GwPneManager *self, GwPneLink *link,
                                                const char *pne_id, GError **error);
/* Measures the link's security verdict; FALSE when there is nothing to
 * measure (the link keeps the verdict it came with). */
gboolean        gw_pne_manager_probe_async     (GwPneManager *self, GwPanLink *link,
                                                GCancellable *cancellable,
                                                GAsyncReadyCallback callback,
                                                gpointer user_data);
/* @link closed (once, from gw_pne_link_close()): the manager drops it. */
void            gw_pne_manager_link_closed     (GwPneManager *self, GwPneLink *link,
                                                const char *reason);
void            gw_pne_manager_probe_finish    (GwPneManager *self, GwPanLink *link,
                                                GAsyncResult *result);

G_END_DECLS
