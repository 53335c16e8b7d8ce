/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The three-message secure-session handshake as a pure state machine:
 * bytes in, bytes out, no I/O (docs/protocol.md, "Handshake"). */

#include <glib.h>

#include "cpns-session.h"

G_BEGIN_DECLS

#define CPNS_HANDSHAKE_MAX 512   /* largest handshake message */
#define CPNS_PSK_MIN 32   /* uniformly random: used as the HKDF PRK */
#define CPNS_PSK_MAX 64

typedef enum {
  CPNS_ROLE_INITIATOR = 1,
  CPNS_ROLE_RESPONDER = 2,
} CpnsRole;

typedef enum {
  CPNS_PURPOSE_SERVER = 1,  /* entity <-> CPNS Server, PSK = EUKey */
  CPNS_PURPOSE_LOCAL = 2,   /* PNE <-> PN GW, PSK = LocalEUKey */
  CPNS_PURPOSE_BOOTSTRAP = 3, /* PNE <-> PN GW before any key: path 7.4.2 */
} CpnsPurpose;

typedef enum {
  CPNS_MODE_PSK = 0,
  CPNS_MODE_PSK_X25519 = 1,
} CpnsMode;

typedef struct {
  guint8   key[CPNS_PSK_MAX];
  gsize    key_len;
  guint8   kid[CPNS_KID_MAX];
  gsize    kid_len;
  CpnsRole role;  /* the only role we may take with this key */
} CpnsPsk;

/* Responder side: finds the PSK a peer names in HS_INIT.  Fails with
 * CPNS_ERROR_NOT_FOUND when there is none. */
typedef gboolean (*CpnsPskLookupFunc) (const char *peer_id, const guint8 *kid,
                                       gsize kid_len, CpnsPsk *psk,
                                       gpointer user_data, GError **error);
/* Source of nonces and ephemeral keys; tests inject a deterministic one. */
typedef gboolean (*CpnsRandomFunc) (guint8 *out, gsize len, gpointer user_data,
                                    GError **error);

typedef struct {
  CpnsRole          role;
  CpnsPurpose       purpose;
  const char       *self_id;
  const char       *peer_id;     /* responder: NULL accepts any peer lookup knows */
  const CpnsPsk    *psk;         /* initiator, or responder without lookup */
  CpnsPskLookupFunc lookup;
  gpointer          lookup_data;
  const guint64    *suites;      /* preference order; NULL: ChaCha20, A128, A256 */
  guint             n_suites;
  const guint64    *modes;       /* acceptable modes in preference order;
                                    NULL: PSK+X25519, then PSK */
  guint             n_modes;
  CpnsReplayMode    replay_mode;
  guint64           txid;        /* initiator; 0 picks a random one */
  CpnsRandomFunc    random;
  gpointer          random_data;
} CpnsHandshakeConfig;

typedef enum {
  CPNS_HANDSHAKE_START,
  CPNS_HANDSHAKE_WAIT_RESP,    /* initiator sent HS_INIT */
  CPNS_HANDSHAKE_WAIT_FINISH,  /* responder sent HS_RESP */
  CPNS_HANDSHAKE_DONE,
  CPNS_HANDSHAKE_FAILED,
} CpnsHandshakeState;

typedef struct _CpnsHandshake CpnsHandshake;

CpnsHandshake     *cpns_handshake_new   (const CpnsHandshakeConfig *config,
                                         GError **error);
void               cpns_handshake_free  (CpnsHandshake *hs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpnsHandshake, cpns_handshake_free)

/* Initiator: writes HS_INIT. */
gboolean cpns_handshake_start   (CpnsHandshake *hs, guint8 *out, gsize cap,
                                 gsize *out_len, GError **error);
/* Feeds one received handshake message; writes the reply (if any) to @out
 * and sets *out_len (0 when there is nothing to send). */
gboolean cpns_handshake_receive (CpnsHandshake *hs, const guint8 *in, gsize in_len,
                                 guint8 *out, gsize cap, gsize *out_len,
                                 GError **error);

CpnsHandshakeState cpns_handshake_get_state   (CpnsHandshake *hs);
const char        *cpns_handshake_get_peer_id (CpnsHandshake *hs);
guint64            cpns_handshake_get_suite   (CpnsHandshake *hs);
CpnsMode           cpns_handshake_get_mode    (CpnsHandshake *hs);
guint64            cpns_handshake_get_txid    (CpnsHandshake *hs);
/* Once DONE: the established session (caller owns it). */
CpnsSession       *cpns_handshake_take_session (CpnsHandshake *hs);

/* For test vectors and the independent checker: derived values of a
 * finished handshake (NULL before DONE). */
typedef struct {
  guint8 hs_psk[CPNS_HASH_LEN];
  guint8 handshake_secret[CPNS_HASH_LEN];
  guint8 th2[CPNS_HASH_LEN];
  guint8 th_app[CPNS_HASH_LEN];
  guint8 th3[CPNS_HASH_LEN];
  CpnsDirectionKeys i2r, r2i;
  guint8 session_id[CPNS_SESSION_ID_LEN];
} CpnsHandshakeSecrets;
const CpnsHandshakeSecrets *cpns_handshake_get_secrets (CpnsHandshake *hs);
void cpns_handshake_keep_secrets (CpnsHandshake *hs);

const char *cpns_mode_name (guint64 mode);

/* The public key of the bootstrap purpose (docs/protocol.md 13.4): 32 zero
 * bytes named "bootstrap".  Only psk+x25519 is allowed with it, so the
 * session is secret from a passive observer of the link; who is at the
 * other end rests on the link's own security. */
#define CPNS_BOOTSTRAP_KID "bootstrap"
void cpns_bootstrap_psk (CpnsPsk *psk, CpnsRole role);

G_END_DECLS
