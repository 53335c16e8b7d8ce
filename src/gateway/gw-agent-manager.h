/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The agents (org.cpns.Agent1) that ask people for User ID and password:
 * registration, a default agent with fallback to the others in the order
 * they registered, a timeout per request, Cancel when the answer is no
 * longer needed, and agents that vanish from the bus mid-request. */

#include <gio/gio.h>

#include "cpns-crypto.h"

G_BEGIN_DECLS

#define GW_AGENT_TIMEOUT_MS (120 * 1000)

#define GW_TYPE_AGENT_MANAGER (gw_agent_manager_get_type ())
G_DECLARE_FINAL_TYPE (GwAgentManager, gw_agent_manager, GW, AGENT_MANAGER, GObject)

GwAgentManager *gw_agent_manager_new        (GDBusConnection *connection);
gboolean        gw_agent_manager_register   (GwAgentManager *self, const char *sender,
                                             const char *path, GError **error);
gboolean        gw_agent_manager_unregister (GwAgentManager *self, const char *sender,
                                             const char *path, GError **error);
guint           gw_agent_manager_get_count  (GwAgentManager *self);
/* Sends Release to every agent (the daemon is stopping). */
void            gw_agent_manager_release_all (GwAgentManager *self);

/* Agents of @preferred_sender (the caller that asked for the action, or
 * NULL) are asked first, then the default and the others in order. */
void        gw_agent_manager_request_async  (GwAgentManager *self, const char *target,
                                             const char *reason,
                                             const char *preferred_sender,
                                             GCancellable *cancellable,
                                             GAsyncReadyCallback callback,
                                             gpointer user_data);
/* The password is returned in @password; the caller wipes it. */
gboolean    gw_agent_manager_request_finish (GwAgentManager *self, GAsyncResult *result,
                                             char **user_id, CpnsSecret **password,
                                             GError **error);

G_END_DECLS
