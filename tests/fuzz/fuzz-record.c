/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target for session records: COSE parsing, policy, ID and
 * window checks, tag verification and body decoding.
 *
 * Input: (byte 0 & 0x7f) % 3 picks the session suite (ChaCha20/Poly1305,
 * A128GCM, A256GCM); with bit 7 (FUZZ_RECORD_HISTORY) the session first
 * opens a valid record with sequence number FUZZ_HISTORY_SEQ, so that the
 * input meets a replay window in use.  The rest is one record from
 * FUZZ_INITIATOR_ID to FUZZ_RESPONDER_ID.  Sessions are made afresh for
 * every input, with fixed keys (fuzz-common.h), so that a run depends on
 * its input alone; make-corpus seals seeds with the same keys so that they
 * really open. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz-common.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Per suite, the record that FUZZ_RECORD_HISTORY opens first.  Sealed
 * once: the bytes are the same on every run. */
static guint8 history[G_N_ELEMENTS (fuzz_suites)][256];
static gsize history_len[G_N_ELEMENTS (fuzz_suites)];

static void
fail (const char *what)
{
  fprintf (stderr, "fuzz-record: %s\n", what);
  abort ();
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  CpnsBody body = { .present = 1u << 1 | 1u << 2 };

  fuzz_glib_fatal ();
  body.data.data = CPNS_STR ("earlier");
  for (guint i = 0; i < G_N_ELEMENTS (fuzz_suites); i++)
    {
      history_len[i] = fuzz_seal_at (fuzz_suites[i], FUZZ_HISTORY_SEQ, CPNS_MSG_DATA,
                                     TRUE, &body, history[i], sizeof history[i], NULL);
      g_assert (history_len[i] > 0);
    }
  return 0;
}

/* A fresh session for one input, with the history record opened when
 * asked for. */
static CpnsSession *
make_session (guint suite_index, gboolean with_history, guint8 *plain)
{
  CpnsSession *s = fuzz_record_session (fuzz_suites[suite_index], FALSE);
  CpnsHeader hdr;
  gsize len;

  if (with_history &&
      !cpns_session_open (s, history[suite_index], history_len[suite_index], &hdr,
                          plain, CPNS_MAX_BODY, &len, NULL))
    fail ("history record does not open");
  return s;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  guint suite_index;
  gboolean with_history;
  CpnsHeader hdr, hdr2, peeked;
  CpnsBody body;
  gsize plain_len = 0;
  gboolean opened, peek_ok;
  g_autofree guint8 *plain = NULL;
  g_autoptr(CpnsSession) session = NULL;
  g_autoptr(CpnsSession) session2 = NULL;
  g_autoptr(GError) error = NULL;

  if (size < 1)
    return 0;
  suite_index = (data[0] & 0x7f) % G_N_ELEMENTS (fuzz_suites);
  with_history = (data[0] & FUZZ_RECORD_HISTORY) != 0;
  data++;
  size--;

  /* Exactly CPNS_MAX_BODY, as the API promises to be enough: ASan flags any
   * write past it. */
  plain = g_malloc (CPNS_MAX_BODY);
  session = make_session (suite_index, with_history, plain);
  peek_ok = cpns_record_peek (data, size, &peeked, NULL);
  opened = cpns_session_open (session, data, size, &hdr, plain, CPNS_MAX_BODY,
                              &plain_len, &error);
  if (opened)
    {
      CpnsCarry carry = cpns_msg_type_carry (hdr.type);

      /* What opened must have passed every check on the way. */
      if (!peek_ok || !fuzz_header_equal (&peeked, &hdr))
        fail ("record opens but peeking at it disagrees");
      if (plain_len > CPNS_MAX_BODY || !(carry & CPNS_CARRY_RECORD) ||
          ((carry & CPNS_CARRY_MUST_ENCRYPT) && !hdr.encrypted) ||
          strcmp (hdr.src, FUZZ_INITIATOR_ID) != 0 ||
          strcmp (hdr.dst, FUZZ_RESPONDER_ID) != 0 ||
          memcmp (hdr.session_id, fuzz_session_id, CPNS_SESSION_ID_LEN) != 0)
        fail ("opened record breaks policy");

      /* The same record again is a replay. */
      if (cpns_session_open (session, data, size, &hdr2, plain, CPNS_MAX_BODY,
                             &plain_len, &error) ||
          !g_error_matches (error, CPNS_ERROR, CPNS_ERROR_REPLAY))
        fail ("replayed record was not rejected as a replay");
    }
  g_clear_error (&error);

  /* Full receive path on a fresh session: same verdict on the record, then
   * the body decoder on authenticated plaintext. */
  session2 = make_session (suite_index, with_history, plain);
  if (cpns_session_open_message (session2, data, size, &hdr2, &body, plain,
                                 CPNS_MAX_BODY, &error))
    {
      if (!opened)
        fail ("record opens as a message but not as a record");
    }
  else if (opened && !g_error_matches (error, CPNS_ERROR, CPNS_ERROR_MALFORMED))
    fail ("record opened once but not the second time");
  return 0;
}
