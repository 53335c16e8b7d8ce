/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The entity side of a Key Request (docs/protocol.md 8.1) as a pure state
 * machine: it writes KEY_REQUEST, answers KEY_CHALLENGE with KEY_PROOF and
 * opens the EUKey of KEY_DELIVERY.  A PN GW uses it for itself and, on path
 * 7.4.3, for a PNE; a PNE with UI uses it for itself. */

#include <glib.h>

#include "cpns-crypto.h"
#include "cpns-message.h"

G_BEGIN_DECLS

typedef struct _CpnsKeyClient CpnsKeyClient;

/* @subject is the entity the EUKey is for when it is not @self_id (path
 * 7.4.3), else NULL.  The password is copied and wiped once stretched. */
CpnsKeyClient *cpns_key_client_new    (const char *self_id, const char *server_id,
                                       const char *subject, const char *user_id,
                                       const guint8 *password, gsize password_len,
                                       GError **error);
void           cpns_key_client_free   (CpnsKeyClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpnsKeyClient, cpns_key_client_free)

guint64        cpns_key_client_get_txid (CpnsKeyClient *client);

/* Writes KEY_REQUEST; returns its length or 0. */
gsize          cpns_key_client_request (CpnsKeyClient *client, guint8 *out, gsize cap,
                                        GError **error);
/* KEY_CHALLENGE (or a plain ERROR) in, KEY_PROOF out. */
gsize          cpns_key_client_answer  (CpnsKeyClient *client, const guint8 *in,
                                        gsize in_len, guint8 *out, gsize cap,
                                        GError **error);
/* KEY_DELIVERY (or a plain ERROR) in.  Fails with CPNS_ERROR_AUTH_FAILED
 * when the server refused the password, CPNS_ERROR_RATE_LIMITED,
 * CPNS_ERROR_FORBIDDEN when the entity belongs to another user, and
 * CPNS_ERROR_BAD_MAC when the server's proof or the wrap is wrong. */
gboolean       cpns_key_client_accept  (CpnsKeyClient *client, const guint8 *in,
                                        gsize in_len, GError **error);

/* After a successful accept: */
const CpnsSecret *cpns_key_client_get_key (CpnsKeyClient *client);
const guint8     *cpns_key_client_get_kid (CpnsKeyClient *client, gsize *len);

/* A plain ERROR message as a GError (code and reason from the wire);
 * FALSE if @in is not an ERROR message. */
gboolean       cpns_error_from_message (const guint8 *in, gsize in_len, GError **error);

G_END_DECLS
