/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Shared helpers for the libcpns tests, the vector generator and the
 * benchmark: deterministic randomness and in-memory handshakes. */

#include <glib.h>

#include "cpns-handshake.h"

G_BEGIN_DECLS

/* Deterministic byte stream: SHA-256(seed || counter) blocks. */
typedef struct {
  guint8  seed[32];
  guint64 counter;
} TestRandom;

void     test_random_init (TestRandom *r, const char *seed);
gboolean test_random_func (guint8 *out, gsize len, gpointer user_data, GError **error);

void     test_psk_init (CpnsPsk *psk, const char *key_seed, const char *kid, CpnsRole role);

/* An initiator "gw-1" and a responder "server" sharing one PSK, with the
 * window replay mode; tests change fields before use. */
typedef struct {
  CpnsPsk             ipsk, rpsk;
  CpnsHandshakeConfig icfg, rcfg;
} TestPair;

void     test_pair_init (TestPair *pair, CpnsPurpose purpose);

typedef struct {
  guint8 m1[CPNS_HANDSHAKE_MAX], m2[CPNS_HANDSHAKE_MAX], m3[CPNS_HANDSHAKE_MAX];
  gsize  m1_len, m2_len, m3_len;
} TestTranscript;

/* Runs a complete handshake in memory; returns FALSE with @error set at the
 * first failure.  On success both sessions are returned. */
gboolean test_handshake_run (const CpnsHandshakeConfig *initiator,
                             const CpnsHandshakeConfig *responder,
                             CpnsSession **initiator_session,
                             CpnsSession **responder_session,
                             TestTranscript *transcript, GError **error);

GBytes  *test_hex_decode (const char *hex);
char    *test_hex_encode (const guint8 *data, gsize len);

G_END_DECLS
