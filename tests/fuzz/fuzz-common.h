/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Fixed keys, IDs and randomness shared by the fuzz targets and by
 * make-corpus: the seeds only exercise the deep paths (tags and MACs that
 * verify) if both sides build exactly the same sessions and handshakes. */

#include <glib.h>
#include <string.h>

#include "cpns-error.h"
#include "cpns-frame.h"
#include "cpns-handshake.h"
#include "cpns-message.h"
#include "cpns-session.h"

G_BEGIN_DECLS

#define FUZZ_INITIATOR_ID "gw-0001"
#define FUZZ_RESPONDER_ID "cpns-server"
#define FUZZ_TXID         4097
#define FUZZ_KID          "kid-01"
#define FUZZ_MAX_FRAME    300

/* fuzz-handshake: first byte selects the scenario (low two bits), whether
 * the peers prefer plain PSK mode (bit 2) and whether the responder finds
 * its key with a lookup function instead of a fixed PSK (bit 3). */
enum {
  FUZZ_HS_RECV_INIT = 0,    /* responder receives the input as HS_INIT */
  FUZZ_HS_RECV_RESP = 1,    /* initiator receives the input as HS_RESP */
  FUZZ_HS_RECV_FINISH = 2,  /* responder after a valid HS_INIT gets HS_FINISH */
};
#define FUZZ_HS_PREFER_PSK 0x04
#define FUZZ_HS_LOOKUP     0x08
/* Key ID the lookup maps to an initiator-only key (a role error). */
#define FUZZ_KID_WRONG_ROLE "kid-initiator"

/* fuzz-record: (first byte & 0x7f) % 3 picks the session suite; bit 7
 * makes the session first open a record with sequence number
 * FUZZ_HISTORY_SEQ, so the input meets a replay window in use. */
#define FUZZ_RECORD_HISTORY 0x80
#define FUZZ_HISTORY_SEQ    100
static const CpnsAlg fuzz_suites[] = {
  CPNS_ALG_CHACHA20_POLY1305, CPNS_ALG_A128GCM, CPNS_ALG_A256GCM,
};

/* fuzz-message: first byte % 17 picks the body type. */
static const guint64 fuzz_msg_types[] = {
  CPNS_MSG_HS_INIT, CPNS_MSG_HS_RESP, CPNS_MSG_HS_FINISH, CPNS_MSG_ERROR,
  CPNS_MSG_KEY_REQUEST, CPNS_MSG_KEY_CHALLENGE, CPNS_MSG_KEY_PROOF,
  CPNS_MSG_KEY_DELIVERY, CPNS_MSG_TK_REQUEST, CPNS_MSG_TK_DELIVERY,
  CPNS_MSG_LOCAL_KEY_REQUEST, CPNS_MSG_LOCAL_KEY_DELIVERY,
  CPNS_MSG_EUKEY_TK_DELIVERY, CPNS_MSG_PNE_ANNOUNCE, CPNS_MSG_PATH_SELECT,
  CPNS_MSG_CREDENTIAL_INSTALL, CPNS_MSG_DATA,
};

static const guint8 fuzz_session_id[CPNS_SESSION_ID_LEN] = {
  0x6b, 0x8b, 0xba, 0xb1, 0x04, 0x8f, 0x42, 0x14,
};

/* Deterministic randomness (splitmix64), so that every run of an input
 * takes the same path. */
typedef struct {
  guint64 state;
} FuzzRandom;

static inline void
fuzz_random_init (FuzzRandom *r, guint64 seed)
{
  r->state = seed;
}

static inline gboolean
fuzz_random_func (guint8 *out, gsize len, gpointer user_data, GError **error)
{
  FuzzRandom *r = user_data;

  for (gsize i = 0; i < len; i += 8)
    {
      guint64 z = (r->state += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));

      z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
      z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
      z ^= z >> 31;
      for (gsize j = 0; j < 8 && i + j < len; j++)
        out[i + j] = z >> (8 * j);
    }
  return TRUE;
}

static inline void
fuzz_psk_init (CpnsPsk *psk, CpnsRole role)
{
  memset (psk, 0, sizeof *psk);
  for (gsize i = 0; i < 32; i++)
    psk->key[i] = 0xa0 ^ i;
  psk->key_len = 32;
  psk->kid_len = strlen (FUZZ_KID);
  memcpy (psk->kid, FUZZ_KID, psk->kid_len);
  psk->role = role;
}

/* Responder key lookup: knows FUZZ_KID for FUZZ_INITIATOR_ID, and a key
 * with the wrong role under FUZZ_KID_WRONG_ROLE. */
static inline gboolean
fuzz_psk_lookup (const char *peer_id, const guint8 *kid, gsize kid_len, CpnsPsk *psk,
                 gpointer user_data, GError **error)
{
  gboolean known = kid_len == strlen (FUZZ_KID) && memcmp (kid, FUZZ_KID, kid_len) == 0;
  gboolean wrong_role = kid_len == strlen (FUZZ_KID_WRONG_ROLE) &&
                        memcmp (kid, FUZZ_KID_WRONG_ROLE, kid_len) == 0;

  if (strcmp (peer_id, FUZZ_INITIATOR_ID) != 0 || !(known || wrong_role))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_NOT_FOUND, "no key for '%s'", peer_id);
      return FALSE;
    }
  fuzz_psk_init (psk, wrong_role ? CPNS_ROLE_INITIATOR : CPNS_ROLE_RESPONDER);
  if (wrong_role)
    {
      psk->kid_len = kid_len;
      memcpy (psk->kid, kid, kid_len);
    }
  return TRUE;
}

/* Everything a handshake config points to lives here. */
typedef struct {
  CpnsPsk             psk;
  FuzzRandom          random;
  guint64             modes[2];
  CpnsHandshakeConfig cfg;
} FuzzHandshakeSetup;

static inline void
fuzz_handshake_setup (FuzzHandshakeSetup *s, CpnsRole role, guint8 flags)
{
  gboolean prefer_psk = (flags & FUZZ_HS_PREFER_PSK) != 0;
  gboolean ini = role == CPNS_ROLE_INITIATOR;

  memset (s, 0, sizeof *s);
  fuzz_psk_init (&s->psk, role);
  /* Distinct streams so the responder nonce never equals the initiator's. */
  fuzz_random_init (&s->random, ini ? 0x1111 : 0x2222);
  s->cfg = (CpnsHandshakeConfig) {
    .role = role,
    .purpose = CPNS_PURPOSE_SERVER,
    .self_id = ini ? FUZZ_INITIATOR_ID : FUZZ_RESPONDER_ID,
    /* The responder accepts any peer, which keeps more code reachable. */
    .peer_id = ini ? FUZZ_RESPONDER_ID : NULL,
    .psk = &s->psk,
    .replay_mode = CPNS_REPLAY_WINDOW,
    .txid = ini ? FUZZ_TXID : 0,
    .random = fuzz_random_func,
    .random_data = &s->random,
  };
  if (prefer_psk)
    {
      /* Initiator offers plain PSK only; responder prefers it. */
      s->modes[0] = CPNS_MODE_PSK;
      s->modes[1] = CPNS_MODE_PSK_X25519;
      s->cfg.modes = s->modes;
      s->cfg.n_modes = ini ? 1 : 2;
    }
  if (!ini && (flags & FUZZ_HS_LOOKUP))
    {
      s->cfg.psk = NULL;
      s->cfg.lookup = fuzz_psk_lookup;
    }
}

/* fuzz-record's session is the responder side of an established session;
 * make-corpus seals with the mirrored one. */
static inline void
fuzz_direction_keys (CpnsDirectionKeys *k, guint8 tweak)
{
  for (gsize i = 0; i < sizeof k->aead_key; i++)
    k->aead_key[i] = tweak ^ (0x10 + i);
  for (gsize i = 0; i < sizeof k->iv; i++)
    k->iv[i] = tweak ^ (0x40 + i);
  for (gsize i = 0; i < sizeof k->mac_key; i++)
    k->mac_key[i] = tweak ^ (0x80 + i);
}

static inline CpnsSession *
fuzz_record_session (CpnsAlg suite, gboolean mirrored)
{
  CpnsDirectionKeys i2r, r2i;
  CpnsSession *s;

  fuzz_direction_keys (&i2r, 0x00);
  fuzz_direction_keys (&r2i, 0x5a);
  if (mirrored)
    s = cpns_session_new (FUZZ_INITIATOR_ID, FUZZ_RESPONDER_ID, fuzz_session_id, suite,
                          &i2r, &r2i, CPNS_REPLAY_WINDOW, NULL);
  else
    s = cpns_session_new (FUZZ_RESPONDER_ID, FUZZ_INITIATOR_ID, fuzz_session_id, suite,
                          &r2i, &i2r, CPNS_REPLAY_WINDOW, NULL);
  g_assert (s != NULL);
  return s;
}

static inline gboolean
fuzz_header_equal (const CpnsHeader *a, const CpnsHeader *b)
{
  return a->version == b->version && a->type == b->type && a->txid == b->txid &&
         strcmp (a->src, b->src) == 0 && strcmp (a->dst, b->dst) == 0 &&
         a->in_record == b->in_record &&
         memcmp (a->session_id, b->session_id, CPNS_SESSION_ID_LEN) == 0 &&
         a->seq == b->seq && a->encrypted == b->encrypted;
}

/* Seals @body as the record with sequence number @seq from
 * FUZZ_INITIATOR_ID to FUZZ_RESPONDER_ID (sealing dummies before it).
 * Returns the record length, 0 on error. */
static inline gsize
fuzz_seal_at (CpnsAlg suite, guint64 seq, guint64 type, gboolean encrypt,
              const CpnsBody *body, guint8 *out, gsize cap, GError **error)
{
  static const guint8 dummy[] = { 0xa2, 0x01, 0x00, 0x02, 0x40 };  /* DATA */
  CpnsSession *peer = fuzz_record_session (suite, TRUE);
  gsize len = 0;

  for (guint64 i = 0; i < seq; i++)
    if (cpns_session_seal (peer, CPNS_MSG_DATA, 1, TRUE, dummy, sizeof dummy, out, cap,
                           error) == 0)
      goto out;
  len = cpns_session_seal_message (peer, type, 99, encrypt, body, out, cap, error);
out:
  cpns_session_free (peer);
  return len;
}

/* Make GLib criticals (g_return_if_fail) and warnings crash, so the
 * fuzzer reports them. */
static inline void
fuzz_glib_fatal (void)
{
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
}

G_END_DECLS
