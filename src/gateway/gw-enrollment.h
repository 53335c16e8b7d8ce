/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* One enrolment of an entity with User ID and password: the Key Request
 * exchange (CpnsKeyClient) over the upstream, tried again with backoff while
 * the server is unreachable.  The result is a keystore entry; storing it is
 * the caller's business. */

#include <gio/gio.h>

#include "cpns-keystore.h"
#include "gw-config.h"
#include "gw-upstream.h"

G_BEGIN_DECLS

/* Names of the gateway's keystore entries: its own EUKey, and one
 * LocalEUKey per PNE ("local:" + the PNE's Entity ID). */
#define GW_EUKEY_ENTRY        "eukey"
#define GW_LOCAL_KEY_PREFIX   "local:"

#define GW_TYPE_ENROLLMENT (gw_enrollment_get_type ())
G_DECLARE_FINAL_TYPE (GwEnrollment, gw_enrollment, GW, ENROLLMENT, GObject)

/* @subject: the entity the EUKey is for when it is not this gateway (path
 * 7.4.3), else NULL.  The password is copied and wiped when done. */
GwEnrollment *gw_enrollment_new        (GwUpstream *upstream, const GwConfig *config,
                                        const char *subject, const char *user_id,
                                        const guint8 *password, gsize password_len);
void          gw_enrollment_run_async  (GwEnrollment *self, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
/* The new key as a keystore entry named "eukey" (or "eukey:SUBJECT"). */
CpnsKeyEntry *gw_enrollment_run_finish (GwEnrollment *self, GAsyncResult *result,
                                        GError **error);

G_END_DECLS
