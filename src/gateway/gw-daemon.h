/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The gateway as a whole: configuration, keystore, upstream, enrolment and
 * the session with the server.  Transports for people (command line, later
 * D-Bus) drive it through this API. */

#include <gio/gio.h>

#include "gw-config.h"
#include "gw-pne-manager.h"
#include "gw-server-link.h"

G_BEGIN_DECLS

typedef enum {
  GW_STATE_UNENROLLED,
  GW_STATE_ENROLLING,
  GW_STATE_ENROLLED,
  GW_STATE_FAILED,
} GwState;

#define GW_TYPE_DAEMON (gw_daemon_get_type ())
G_DECLARE_FINAL_TYPE (GwDaemon, gw_daemon, GW, DAEMON, GObject)

/* Takes ownership of @config. */
GwDaemon     *gw_daemon_new            (GwConfig *config, GError **error);
/* Opens the keystore, imports a pre-configured credential, and starts the
 * session with the server if the gateway has a key. */
gboolean      gw_daemon_start          (GwDaemon *self, GError **error);
void          gw_daemon_stop           (GwDaemon *self);

void          gw_daemon_enroll_async   (GwDaemon *self, const char *user_id,
                                        const guint8 *password, gsize password_len,
                                        GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
gboolean      gw_daemon_enroll_finish  (GwDaemon *self, GAsyncResult *result,
                                        GError **error);

/* Tells the server to release this gateway, then deletes its key. */
void          gw_daemon_forget_async   (GwDaemon *self, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
gboolean      gw_daemon_forget_finish  (GwDaemon *self, GAsyncResult *result,
                                        GError **error);

GwState       gw_daemon_get_state      (GwDaemon *self);
/* The User ID that owns the gateway's EUKey, or NULL. */
const char   *gw_daemon_get_user_id    (GwDaemon *self);
const char   *gw_daemon_get_last_error (GwDaemon *self);
const GwConfig *gw_daemon_get_config   (GwDaemon *self);
GwServerLink *gw_daemon_get_link       (GwDaemon *self);
/* The PNEs behind the gateway; NULL before gw_daemon_start(). */
GwPneManager *gw_daemon_get_pne_manager (GwDaemon *self);
const char   *gw_state_to_string       (GwState state);

G_END_DECLS
