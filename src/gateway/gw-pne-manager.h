/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The PNEs behind the gateway: every known PNE (GwPne), the PAN links they
 * are connected on (one GwPneLink each), routing of what the server queues
 * for them, and the LocalEUKeys in the gateway's keystore.  It knows nothing
 * of sockets or D-Bus: links come in as GwPanLink streams and credentials
 * come from a GwCredentialSource that the D-Bus edge provides. */

#include <gio/gio.h>

#include "cpns-crypto.h"
#include "cpns-keystore.h"
#include "gw-config.h"
#include "gw-pan-link.h"
#include "gw-pne.h"
#include "gw-server-link.h"
#include "gw-upstream.h"

G_BEGIN_DECLS

/* Where User ID and password for a PNE come from (the agents).  @pne_id
 * names the PNE, @reason is a sentence for the person. */
typedef struct {
  void     (*request_async)  (gpointer source, const char *pne_id, const char *reason,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);
  gboolean (*request_finish) (gpointer source, GAsyncResult *result, char **user_id,
                              CpnsSecret **password, GError **error);
  gpointer source;
} GwCredentialSource;

#define GW_TYPE_PNE_MANAGER (gw_pne_manager_get_type ())
G_DECLARE_FINAL_TYPE (GwPneManager, gw_pne_manager, GW, PNE_MANAGER, GObject)

/* @keystore is the gateway's (shared with GwDaemon, which outlives us). */
GwPneManager *gw_pne_manager_new  (const GwConfig *config, CpnsKeystore *keystore,
                                   GwUpstream *upstream, GwServerLink *server_link);

/* Takes a new link (from the TCP listener or Bluetooth); the manager owns it
 * from now on. */
void          gw_pne_manager_add_link (GwPneManager *self, GwPanLink *link);

/* NULL: no agent available (PNEs that need credentials wait). */
void          gw_pne_manager_set_credential_source (GwPneManager *self,
                                                    const GwCredentialSource *source);
/* Whether the gateway itself can serve PNEs (enrolled); set by GwDaemon. */
void          gw_pne_manager_set_enrolled (GwPneManager *self, gboolean enrolled);

/* Known PNEs, sorted by Entity ID (transfer container). */
GPtrArray    *gw_pne_manager_list_pnes (GwPneManager *self);
GwPne        *gw_pne_manager_lookup    (GwPneManager *self, const char *entity_id);
guint         gw_pne_manager_get_links (GwPneManager *self);

/* Asks for credentials again for a PNE in state needs-credentials (a
 * failed attempt closes the PNE's link: the PNE retries by connecting
 * again).  GW_ERROR_NOT_FOUND for an unknown or unconnected PNE,
 * GW_ERROR_BUSY when it is not waiting for credentials. */
gboolean      gw_pne_manager_provision (GwPneManager *self, const char *entity_id,
                                        GError **error);
/* An agent appeared: PNEs waiting for credentials are asked now. */
void          gw_pne_manager_credentials_available (GwPneManager *self);
/* Closes its link, deletes its LocalEUKey and drops the PNE. */
gboolean      gw_pne_manager_forget    (GwPneManager *self, const char *entity_id,
                                        GError **error);

/* Closes every link (the daemon is stopping). */
void          gw_pne_manager_stop      (GwPneManager *self);

/* Signals: "pne-added" (GwPne *) and "pne-removed" (GwPne *). */

G_END_DECLS
