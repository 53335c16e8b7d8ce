/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* An established secure session: per-direction keys, sequence numbers and
 * replay protection, and the COSE record format (docs/protocol.md,
 * "Records"). */

#include <glib.h>

#include "cpns-crypto.h"
#include "cpns-message.h"

G_BEGIN_DECLS

/* Upper bound of what a record adds to its body. */
#define CPNS_RECORD_OVERHEAD 256
#define CPNS_MAX_RECORD      (CPNS_MAX_BODY + CPNS_RECORD_OVERHEAD)
/* Re-handshake long before AEAD limits: about 10^9 records per direction. */
#define CPNS_RECORD_LIMIT_DEFAULT (G_GUINT64_CONSTANT (1) << 30)
#define CPNS_REPLAY_WINDOW_SIZE 64

typedef enum {
  CPNS_REPLAY_STREAM,  /* ordered links: each record must be the next one */
  CPNS_REPLAY_WINDOW,  /* request/response links: sliding window */
} CpnsReplayMode;

typedef struct {
  guint8 aead_key[CPNS_AEAD_KEY_MAX];
  guint8 iv[CPNS_AEAD_IV_LEN];
  guint8 mac_key[CPNS_HMAC_TAG_LEN];
} CpnsDirectionKeys;

typedef struct _CpnsSession CpnsSession;

CpnsSession *cpns_session_new (const char *self_id, const char *peer_id,
                               const guint8 session_id[CPNS_SESSION_ID_LEN],
                               CpnsAlg suite, const CpnsDirectionKeys *send,
                               const CpnsDirectionKeys *recv, CpnsReplayMode mode,
                               GError **error);
void         cpns_session_free (CpnsSession *session);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpnsSession, cpns_session_free)

/* For the handshake: MAC-only records are rarer than encrypted ones, so
 * their keys are derived from the handshake secret on first use
 * (docs/protocol.md 5.2) instead of during every handshake.  Replaces the
 * MAC keys given to cpns_session_new().  The session keeps the 32-byte
 * secret (cpns_hmac_key_get_secret()), not the prepared key. */
void          cpns_session_defer_mac_keys (CpnsSession *session,
                                           const CpnsHmacKey *handshake_secret,
                                           const guint8 th_app[CPNS_HASH_LEN],
                                           gboolean initiator);
/* Expand-Label(hs, "i2r mac" / "r2i mac", THa, 32) */
gboolean      cpns_session_derive_mac_key (const CpnsHmacKey *handshake_secret,
                                           const guint8 th_app[CPNS_HASH_LEN],
                                           gboolean initiator_to_responder,
                                           guint8 out[CPNS_HMAC_TAG_LEN], GError **error);

const char   *cpns_session_get_self_id    (CpnsSession *session);
const char   *cpns_session_get_peer_id    (CpnsSession *session);
const guint8 *cpns_session_get_id         (CpnsSession *session);
CpnsAlg       cpns_session_get_suite      (CpnsSession *session);
guint64       cpns_session_get_send_seq   (CpnsSession *session);

/* @expires_at is g_get_monotonic_time() based; 0 means no expiry. */
void     cpns_session_set_limits  (CpnsSession *session, guint64 max_records,
                                   gint64 expires_at);
gboolean cpns_session_needs_rekey (CpnsSession *session);

/* Protects an encoded body.  Returns the record length, 0 on error. */
gsize    cpns_session_seal (CpnsSession *session, guint64 type, guint64 txid,
                            gboolean encrypt, const guint8 *body, gsize body_len,
                            guint8 *out, gsize out_cap, GError **error);
gsize    cpns_session_seal_message (CpnsSession *session, guint64 type, guint64 txid,
                                    gboolean encrypt, const CpnsBody *body,
                                    guint8 *out, gsize out_cap, GError **error);

/* Checks policy, IDs, window and tag, in that order, then accepts the
 * sequence number and returns the body bytes in @plain. */
gboolean cpns_session_open (CpnsSession *session, const guint8 *record, gsize len,
                            CpnsHeader *hdr, guint8 *plain, gsize plain_cap,
                            gsize *plain_len, GError **error);
/* As above, then decodes the body; @body points into @plain. */
gboolean cpns_session_open_message (CpnsSession *session, const guint8 *record,
                                    gsize len, CpnsHeader *hdr, CpnsBody *body,
                                    guint8 *plain, gsize plain_cap, GError **error);

/* Reads the protected header without keys, as a relay does for routing.
 * Nothing read here is authenticated until the endpoint opens the record. */
gboolean cpns_record_peek (const guint8 *record, gsize len, CpnsHeader *hdr,
                           GError **error);

G_END_DECLS
