/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Key Request / Key Delivery (protocol.md 8.1, 11): the /key endpoint.
 * KEY_REQUEST gets an SRP challenge (a decoy one for unknown users),
 * KEY_PROOF a KEY_DELIVERY with a fresh EUKey wrapped under the SRP key, or
 * without one when the proof fails.  Failed proofs are rate-limited per User
 * ID and per client address. */

#include <glib-object.h>

#include "cpns-crypto.h"
#include "srv-rate-limiter.h"
#include "srv-reply.h"
#include "srv-store.h"

G_BEGIN_DECLS

/* Pending exchanges (KEY_REQUEST to KEY_PROOF) live this long. */
#define SRV_EXCHANGE_TIMEOUT_S 60

typedef struct {
  const char  *self_id;
  guint        default_iterations;  /* of decoy challenges */
  guint        user_failures;
  guint        address_failures;
  guint        failure_window;      /* seconds */
  guint        max_pending;         /* 0: a default */
  SrvClockFunc clock;               /* NULL: g_get_monotonic_time() */
  gpointer     clock_data;
} SrvEnrolmentConfig;

#define SRV_TYPE_ENROLMENT (srv_enrolment_get_type ())
G_DECLARE_FINAL_TYPE (SrvEnrolment, srv_enrolment, SRV, ENROLMENT, GObject)

/* Signal "eukey-replaced" (const char *entity_id): a new EUKey was stored;
 * the entity's sessions under the old one must end. */
SrvEnrolment *srv_enrolment_new    (SrvStore *store, const CpnsSecret *server_secret,
                                    const SrvEnrolmentConfig *config);
/* One request to /key from @peer (the client's address). */
SrvReply     *srv_enrolment_handle (SrvEnrolment *enrolment, const char *peer,
                                    const guint8 *data, gsize len);
/* Forgets expired exchanges and failures; called periodically. */
void          srv_enrolment_expire (SrvEnrolment *enrolment);
guint         srv_enrolment_get_pending (SrvEnrolment *enrolment);

G_END_DECLS
