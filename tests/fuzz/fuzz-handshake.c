/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target for the handshake state machine.
 *
 * Input: byte 0 selects the scenario (low two bits) and the variant
 * (FUZZ_HS_PREFER_PSK: peers prefer plain PSK mode; FUZZ_HS_LOOKUP: the
 * responder finds its key by lookup; see fuzz-common.h); the rest is the
 * message received:
 *   0: a responder receives it as HS_INIT;
 *   1: an initiator that sent HS_INIT receives it as HS_RESP;
 *   2: a responder that answered a valid HS_INIT receives it as HS_FINISH.
 * Keys, IDs, transaction ID and randomness are fixed, so HS_INIT is the
 * same in every run and make-corpus can produce replies that verify. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz-common.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fail (const char *what)
{
  fprintf (stderr, "fuzz-handshake: %s\n", what);
  abort ();
}

/* Checks the state machine's promises after one receive. */
static void
check_after (CpnsHandshake *hs, gboolean ok, gsize out_len, GError *error,
             CpnsHandshakeState expected, gboolean expect_reply)
{
  g_autoptr(GError) again_error = NULL;
  guint8 out[CPNS_HANDSHAKE_MAX];
  gsize again_len = 1;

  if (!ok)
    {
      if (error == NULL || cpns_handshake_get_state (hs) != CPNS_HANDSHAKE_FAILED ||
          out_len != 0 || cpns_handshake_take_session (hs) != NULL)
        fail ("failed receive left the handshake usable");
      /* A failed handshake takes nothing more. */
      if (cpns_handshake_receive (hs, NULL, 0, out, sizeof out, &again_len,
                                  &again_error) ||
          !g_error_matches (again_error, CPNS_ERROR, CPNS_ERROR_STATE) ||
          again_len != 0)
        fail ("failed handshake accepted another message");
      return;
    }
  if (error != NULL || cpns_handshake_get_state (hs) != expected ||
      (expect_reply ? out_len == 0 || out_len > CPNS_HANDSHAKE_MAX : out_len != 0))
    fail ("successful receive in the wrong state or with the wrong reply");
  if (expected == CPNS_HANDSHAKE_DONE)
    {
      g_autoptr(CpnsSession) session = cpns_handshake_take_session (hs);

      if (session == NULL || cpns_handshake_take_session (hs) != NULL)
        fail ("finished handshake did not hand over exactly one session");
      if (cpns_session_get_suite (session) != cpns_handshake_get_suite (hs) ||
          cpns_handshake_get_txid (hs) != FUZZ_TXID)
        fail ("session does not match the negotiation");
    }
}

static void
recv_init (guint8 flags, const guint8 *in, gsize in_len)
{
  FuzzHandshakeSetup rs;
  g_autoptr(CpnsHandshake) res = NULL;
  g_autoptr(GError) error = NULL;
  guint8 out[CPNS_HANDSHAKE_MAX];
  gsize out_len = 0;
  gboolean ok;

  fuzz_handshake_setup (&rs, CPNS_ROLE_RESPONDER, flags);
  res = cpns_handshake_new (&rs.cfg, NULL);
  g_assert (res != NULL);
  ok = cpns_handshake_receive (res, in, in_len, out, sizeof out, &out_len, &error);
  check_after (res, ok, out_len, error, CPNS_HANDSHAKE_WAIT_FINISH, TRUE);
  if (ok)
    {
      /* Whatever it accepted, the responder's reply must be a valid plain
       * HS_RESP with a MAC. */
      CpnsPlainMessage msg;
      if (!cpns_plain_decode (out, out_len, &msg, NULL) ||
          msg.hdr.type != CPNS_MSG_HS_RESP || msg.mac.len != 32)
        fail ("responder sent an invalid HS_RESP");
    }
}

static void
recv_resp (guint8 flags, const guint8 *in, gsize in_len)
{
  FuzzHandshakeSetup is;
  g_autoptr(CpnsHandshake) ini = NULL;
  g_autoptr(GError) error = NULL;
  guint8 m1[CPNS_HANDSHAKE_MAX], out[CPNS_HANDSHAKE_MAX];
  gsize m1_len, out_len = 0;
  gboolean ok;

  fuzz_handshake_setup (&is, CPNS_ROLE_INITIATOR, flags);
  ini = cpns_handshake_new (&is.cfg, NULL);
  g_assert (ini != NULL);
  if (!cpns_handshake_start (ini, m1, sizeof m1, &m1_len, NULL))
    fail ("initiator cannot start");
  ok = cpns_handshake_receive (ini, in, in_len, out, sizeof out, &out_len, &error);
  check_after (ini, ok, out_len, error, CPNS_HANDSHAKE_DONE, TRUE);
}

static void
recv_finish (guint8 flags, const guint8 *in, gsize in_len)
{
  FuzzHandshakeSetup is, rs;
  g_autoptr(CpnsHandshake) ini = NULL;
  g_autoptr(CpnsHandshake) res = NULL;
  g_autoptr(GError) error = NULL;
  guint8 m1[CPNS_HANDSHAKE_MAX], m2[CPNS_HANDSHAKE_MAX], out[CPNS_HANDSHAKE_MAX];
  gsize m1_len, m2_len, out_len = 0;
  gboolean ok;

  /* HS_INIT is deterministic; building it here rather than caching it
   * keeps every input independent of the ones before. */
  fuzz_handshake_setup (&is, CPNS_ROLE_INITIATOR, flags);
  fuzz_handshake_setup (&rs, CPNS_ROLE_RESPONDER, flags);
  ini = cpns_handshake_new (&is.cfg, NULL);
  res = cpns_handshake_new (&rs.cfg, NULL);
  g_assert (ini != NULL && res != NULL);
  if (!cpns_handshake_start (ini, m1, sizeof m1, &m1_len, NULL) ||
      !cpns_handshake_receive (res, m1, m1_len, m2, sizeof m2, &m2_len, NULL))
    fail ("fixed HS_INIT was not accepted");
  ok = cpns_handshake_receive (res, in, in_len, out, sizeof out, &out_len, &error);
  check_after (res, ok, out_len, error, CPNS_HANDSHAKE_DONE, FALSE);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_glib_fatal ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  guint8 flags;

  if (size < 1)
    return 0;
  flags = data[0] & (FUZZ_HS_PREFER_PSK | FUZZ_HS_LOOKUP);
  switch (data[0] & 3)
    {
    case FUZZ_HS_RECV_INIT:
      recv_init (flags, data + 1, size - 1);
      break;
    case FUZZ_HS_RECV_RESP:
      recv_resp (flags, data + 1, size - 1);
      break;
    default:  /* 2 and 3 */
      recv_finish (flags, data + 1, size - 1);
      break;
    }
  return 0;
}
