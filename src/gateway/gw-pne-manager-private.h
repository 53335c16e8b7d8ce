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

/* Sets @entry and saves it (atomically, with the rest of the keystore)
 * together with the other keys stored at about the same time: a burst of
 * PNEs would otherwise rewrite and fsync the whole keystore once per PNE
 * (O(n^2) bytes, the main loop blocked on each fsync).  The first key after
 * a quiet while goes out in the next main-loop pass; later ones within
 * GW_PNE_STORE_WINDOW_MS of a save wait for the next.  The callback runs
 * once the key is on disk, or with an error: then nothing of it stays,
 * an entry it replaced is back. */
#define GW_PNE_STORE_WINDOW_MS 50
void            gw_pne_manager_store_key_async (GwPneManager *self, const CpnsKeyEntry *entry,
                                                GAsyncReadyCallback callback,
                                                gpointer user_data);
gboolean        gw_pne_manager_store_key_finish (GAsyncResult *result, GError **error);
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
