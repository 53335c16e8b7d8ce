/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target for the PNE state machine (src/pne/pne-machine.c).
 *
 * Input: byte 0 picks a scenario and its variant (fuzz-pne-world.h): a
 * fresh machine that has announced itself, or one driven by a valid
 * exchange with a fake PN GW and server up to PATH_SELECT 1 received,
 * the Key Request sent, the bootstrap handshake started, LOCAL_KEY_INSTALL
 * pending, or a local session (and a server session) up.  Then 16-bit
 * big-endian words: a frame length and the frame, which the machine
 * receives as from the PN GW, or a command (>= FPW_COMMAND_BASE) that lets
 * the fake world answer validly, or calls the machine's other entry
 * points, so the fuzzer can go on from any state it reaches.
 *
 * After every receive: an error exactly when refused; a refused message
 * leaves the state alone or fails the machine; the keystore's content and
 * generation change only with a KEY_STORED or KEY_FORGOTTEN event; every
 * message the machine sends decodes and comes from the PNE.  The keystore
 * lives in a private temporary directory for the whole process and is
 * reset in memory for every input (it is written only with key events). */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz-pne-world.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define MAX_COMMANDS 48   /* per input: keeps every input well under a second */

static CpnsKeystore *keystore;
static char *keystore_dir;
static gboolean verbose;   /* FUZZ_PNE_VERBOSE: every step on stderr, for triage */

static void
fail (const char *what, const char *detail)
{
  fprintf (stderr, "fuzz-pne-machine: %s%s%s\n", what, detail != NULL ? ": " : "",
           detail != NULL ? detail : "");
  abort ();
}

/* Everything the machine may not change without telling. */
static char *
fingerprint (void)
{
  g_auto(GStrv) names = cpns_keystore_list (keystore);
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "gen=%" G_GUINT64_FORMAT, cpns_keystore_get_generation (keystore));
  for (guint i = 0; names[i] != NULL; i++)
    {
      const CpnsKeyEntry *e = cpns_keystore_lookup (keystore, names[i]);

      g_string_append_printf (s, "|%s:%d:%s:%s:%s:%d:", e->name, e->kind, e->self_id,
                              e->peer_id, e->user_id != NULL ? e->user_id : "-", e->role);
      for (gsize j = 0; j < e->kid_len; j++)
        g_string_append_printf (s, "%02x", e->kid[j]);
      g_string_append_c (s, ':');
      for (gsize j = 0; j < e->key->len; j++)
        g_string_append_printf (s, "%02x", e->key->data[j]);
    }
  return g_string_free (s, FALSE);
}

static void
check_output (const guint8 *data, gsize len)
{
  CpnsHeader hdr;
  CpnsPlainMessage msg;

  if (len == 0)
    fail ("the machine sent an empty message", NULL);
  if (data[0] == 0xd0 || data[0] == 0xd1)
    {
      if (!cpns_record_peek (data, len, &hdr, NULL))
        fail ("the machine sent an invalid record", NULL);
    }
  else if (cpns_plain_decode (data, len, &msg, NULL))
    hdr = msg.hdr;
  else
    fail ("the machine sent an invalid plain message", NULL);
  if (strcmp (hdr.src, FPW_PNE) != 0)
    fail ("the machine sent a message from someone else", hdr.src);
}

static void
check_event (const PneEvent *ev)
{
  if (strcmp (pne_event_type_name (ev->type), "?") == 0)
    fail ("unknown event type", NULL);
  if (memchr (ev->from, '\0', sizeof ev->from) == NULL)
    fail ("event source not terminated", NULL);
  if (ev->kid_len > CPNS_KID_MAX)
    fail ("event key ID too long", NULL);
  if (ev->type == PNE_EVENT_DATA && ev->data == NULL)
    fail ("DATA event without data", NULL);
}

/* A KEY_CHALLENGE the PNE would answer, beyond what one input may cost. */
static gboolean
too_costly (FpwWorld *w, const guint8 *msg, gsize len)
{
  CpnsPlainMessage plain;

  if (pne_machine_get_state (w->m) != PNE_STATE_KEY_REQUEST || len == 0 ||
      msg[0] == 0xd0 || msg[0] == 0xd1 || !cpns_plain_decode (msg, len, &plain, NULL) ||
      plain.hdr.type != CPNS_MSG_KEY_CHALLENGE)
    return FALSE;
  if (plain.body.key_challenge.iterations > FPW_MAX_ITERATIONS || w->srp_ops >= FPW_MAX_SRP)
    return TRUE;
  w->srp_ops++;
  return FALSE;
}

/* @raw: a frame of the input (not a message of the fake world). */
static void
receive (FpwWorld *w, const guint8 *msg, gsize len, gboolean raw)
{
  g_autoptr(GError) error = NULL;
  /* A copy of exactly @len bytes, so that reading past it is caught. */
  g_autofree guint8 *copy = g_memdup2 (msg, len);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  PneState state = pne_machine_get_state (w->m), state_after;
  gboolean ok;

  if (raw)
    {
      fpw_world_consume (w, msg, len);
      if (too_costly (w, msg, len))
        return;
    }
  before = fingerprint ();
  w->key_event = FALSE;
  ok = pne_machine_receive (w->m, copy != NULL ? copy : msg, len, &error);
  fpw_collect (w);
  state_after = pne_machine_get_state (w->m);
  if (verbose)
    fprintf (stderr, "%s frame of %zu bytes: %s -> %s%s%s\n", raw ? "input" : "world",
             (size_t) len, pne_state_name (state), pne_state_name (state_after),
             ok ? "" : ", refused: ", ok ? "" : error->message);
  if (ok && error != NULL)
    fail ("accepted with an error", error->message);
  if (!ok && (error == NULL || error->message == NULL))
    fail ("refused without an error", NULL);
  if (!ok && state_after != state && state_after != PNE_STATE_FAILED)
    fail ("a refused message moved the machine to another state",
          pne_state_name (state_after));
  after = fingerprint ();
  if (!w->key_event && strcmp (before, after) != 0)
    fail (ok ? "the keystore changed without a key event"
             : "a refused message changed the keystore without a key event",
          error != NULL ? error->message : NULL);
}

static void
receive_world (FpwWorld *w, const guint8 *msg, gsize len)
{
  receive (w, msg, len, FALSE);
}

static void
cleanup (void)
{
  cpns_keystore_free (keystore);
  if (keystore_dir != NULL)
    fpw_remove_dir (keystore_dir);
  g_free (keystore_dir);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_glib_fatal ();
  verbose = g_getenv ("FUZZ_PNE_VERBOSE") != NULL;
  keystore = fpw_keystore_open (&keystore_dir);
  fpw_init_verifier ();
  atexit (cleanup);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FpwWorld w;
  gsize pos = 1;
  guint commands = 0;

  if (size < 1)
    return 0;
  fpw_world_init (&w, data[0], keystore);
  w.check_output = check_output;
  w.check_event = check_event;
  while (pos < size)
    {
      guint word;
      gsize len;

      if (size - pos < 2)
        {
          receive (&w, data + pos, size - pos, TRUE);
          break;
        }
      word = (guint) data[pos] << 8 | data[pos + 1];
      pos += 2;
      if (word >= FPW_COMMAND_BASE)
        {
          if (commands++ < MAX_COMMANDS)
            fpw_command (&w, (word & 0xff) % FPW_CMD_COUNT, receive_world);
          continue;
        }
      len = MIN (word, size - pos);
      receive (&w, data + pos, len, TRUE);
      pos += len;
    }
  if (verbose)
    fprintf (stderr, "scenario %u ends in state %s\n", data[0] & FPW_SCENARIO_MASK,
             pne_state_name (pne_machine_get_state (w.m)));
  fpw_world_clear (&w);
  return 0;
}
