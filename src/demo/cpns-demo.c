/* SPDX-License-Identifier: GPL-3.0-or-later */

/* cpns-demo: the protocol core end to end, in one process, told step by
 * step: a user enrols a gateway (SRP-6a Key Request, EUKey delivered
 * wrapped), both sides keep the key in their keystores, open a secure
 * session with it, exchange encrypted and MAC-only messages, and turn away
 * a replayed record.  Later work replaces the in-memory "wire" with HTTPS
 * and PAN links. */

#include <glib.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cpns-error.h"
#include "cpns-handshake.h"
#include "cpns-keystore.h"
#include "cpns-srp.h"
#include "cpns-wrap.h"

#define SERVER_ID "cpns-server"
#define GATEWAY_ID "gw-0001"
#define USER_ID "alice@example.org"
#define PASSWORD "correct horse battery staple"

static void
say (const char *who, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
say (const char *who, const char *fmt, ...)
{
  g_autofree char *text = NULL;
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  printf ("  %-8s %s\n", who, text);
}

static void
step (const char *title)
{
  printf ("\n== %s\n", title);
}

static void
wire (const char *what, gsize len)
{
  printf ("  %-8s --- %s, %" G_GSIZE_FORMAT " bytes on the wire --->\n", "", what, len);
}

static char *
hex (const guint8 *data, gsize len)
{
  GString *s = g_string_new (NULL);

  for (gsize i = 0; i < len; i++)
    g_string_append_printf (s, "%02x", data[i]);
  return g_string_free (s, FALSE);
}

static void
die (GError *error)
{
  fprintf (stderr, "cpns-demo: %s\n", error->message);
  exit (1);
}

/* A plain protocol message, encoded as it would travel. */
static gsize
plain (const char *src, const char *dst, guint64 type, const CpnsBody *body, guint8 *buf,
       gsize cap)
{
  CpnsHeader hdr = { .version = CPNS_VERSION, .type = type, .txid = 1 };
  g_autoptr(GError) error = NULL;
  gsize len;

  cpns_header_set_ids (&hdr, src, dst, NULL);
  len = cpns_plain_encode (&hdr, body, NULL, 0, buf, cap, &error);
  if (len == 0)
    die (error);
  return len;
}

static void
decode (const guint8 *buf, gsize len, CpnsPlainMessage *msg)
{
  g_autoptr(GError) error = NULL;

  if (!cpns_plain_decode (buf, len, msg, &error))
    die (error);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("cpns-demo-XXXXXX", NULL);
  guint8 salt[CPNS_SRP_SALT_LEN], verifier[CPNS_SRP_PUBLIC_LEN];
  gsize verifier_len;
  guint8 buf[2048], buf2[2048];
  gsize len;
  CpnsPlainMessage msg;
  g_autoptr(CpnsSrpServer) srp_server = NULL;
  g_autoptr(CpnsSrpClient) srp_client = NULL;
  guint8 eukey[32], kid[8];
  guint iterations = 20000;

  setlocale (LC_ALL, "");
  printf ("CPNS protocol demo: a PN Gateway enrols with the CPNS Server and talks to it\n"
          "securely.  Everything below really runs; only the network is simulated.\n");

  /* ------------------------------------------------------------------ */
  step ("1. The operator creates a user account");
  cpns_random (salt, sizeof salt, NULL);
  if (!cpns_srp_make_verifier (USER_ID, (const guint8 *) PASSWORD, strlen (PASSWORD), salt,
                               sizeof salt, iterations, verifier, &verifier_len, &error))
    die (error);
  say ("server", "stores for %s only a salt, the PBKDF2 count (%u) and an SRP", USER_ID,
       iterations);
  say ("", "verifier (%" G_GSIZE_FORMAT " bytes) - never the password", verifier_len);

  /* ------------------------------------------------------------------ */
  step ("2. Enrolment: the user types User ID and password into the gateway");
  {
    CpnsBody body = { .present = 0x2 };
    body.key_request.user_id = CPNS_STR (USER_ID);
    len = plain (GATEWAY_ID, SERVER_ID, CPNS_MSG_KEY_REQUEST, &body, buf, sizeof buf);
    say ("gateway", "sends KEY_REQUEST for user %s", USER_ID);
    wire ("KEY_REQUEST", len);
  }
  {
    guint8 b[CPNS_SRP_PUBLIC_LEN];
    gsize b_len = 0;
    CpnsBody body = { .present = 0x1e };

    decode (buf, len, &msg);
    srp_server = cpns_srp_server_new (USER_ID, salt, sizeof salt, verifier, verifier_len,
                                      &error);
    if (srp_server == NULL || !cpns_srp_server_challenge (srp_server, b, &b_len, &error))
      die (error);
    body.key_challenge.group = CPNS_SRP_GROUP_3072;
    body.key_challenge.salt = CPNS_BYTES (salt, sizeof salt);
    body.key_challenge.iterations = iterations;
    body.key_challenge.server_public = CPNS_BYTES (b, b_len);
    len = plain (SERVER_ID, GATEWAY_ID, CPNS_MSG_KEY_CHALLENGE, &body, buf, sizeof buf);
    say ("server", "answers with salt and its SRP public value B (3072-bit group)");
    wire ("KEY_CHALLENGE", len);
  }
  {
    guint8 a[CPNS_SRP_PUBLIC_LEN], m1[CPNS_SRP_PROOF_LEN];
    gsize a_len = 0;
    CpnsBody body = { .present = 0x6 };
    const CpnsKeyChallenge *ch;

    decode (buf, len, &msg);
    ch = &msg.body.key_challenge;
    srp_client = cpns_srp_client_new (USER_ID, (const guint8 *) PASSWORD, strlen (PASSWORD),
                                      &error);
    if (srp_client == NULL ||
        !cpns_srp_client_respond (srp_client, ch->group, ch->salt.data, ch->salt.len,
                                  ch->iterations, ch->server_public.data,
                                  ch->server_public.len, a, &a_len, m1, &error))
      die (error);
    say ("gateway", "stretches the password (PBKDF2-HMAC-SHA256), computes A and the proof M1;");
    say ("", "the password itself is wiped and never leaves the gateway");
    body.key_proof.client_public = CPNS_BYTES (a, a_len);
    body.key_proof.client_proof = CPNS_BYTES (m1, sizeof m1);
    len = plain (GATEWAY_ID, SERVER_ID, CPNS_MSG_KEY_PROOF, &body, buf, sizeof buf);
    wire ("KEY_PROOF", len);
  }
  {
    guint8 m2[CPNS_SRP_PROOF_LEN], wrapped[CPNS_WRAPPED_KEY_MAX];
    const guint8 *k;
    gsize k_len, w_len;
    CpnsBody body = { .present = 0x1e };
    CpnsWrapBinding binding = { SERVER_ID, GATEWAY_ID, USER_ID, kid, sizeof kid };

    decode (buf, len, &msg);
    if (!cpns_srp_server_verify (srp_server, msg.body.key_proof.client_public.data,
                                 msg.body.key_proof.client_public.len,
                                 msg.body.key_proof.client_proof.data,
                                 msg.body.key_proof.client_proof.len, m2, &error))
      die (error);
    say ("server", "proof is right: %s is authenticated", USER_ID);
    cpns_random (eukey, sizeof eukey, NULL);
    cpns_random (kid, sizeof kid, NULL);
    k = cpns_srp_server_get_key (srp_server, &k_len);
    w_len = cpns_wrap_seal (CPNS_WRAP_EUKEY_SRP, k, k_len, &binding, eukey, sizeof eukey,
                            wrapped, sizeof wrapped, &error);
    if (w_len == 0)
      die (error);
    say ("server", "creates an EUKey (32 random bytes), stores it with %s and %s,",
         GATEWAY_ID, USER_ID);
    say ("", "and wraps it under a key derived from the SRP session key");
    body.key_delivery.status = CPNS_KEY_STATUS_OK;
    body.key_delivery.server_proof = CPNS_BYTES (m2, sizeof m2);
    body.key_delivery.kid = CPNS_BYTES (kid, sizeof kid);
    body.key_delivery.wrapped_key = CPNS_BYTES (wrapped, w_len);
    len = plain (SERVER_ID, GATEWAY_ID, CPNS_MSG_KEY_DELIVERY, &body, buf, sizeof buf);
    wire ("KEY_DELIVERY", len);
  }
  {
    g_autoptr(CpnsSecret) got = NULL;
    const guint8 *k;
    gsize k_len;
    const CpnsKeyDelivery *kd;
    CpnsWrapBinding binding = { SERVER_ID, GATEWAY_ID, USER_ID, kid, sizeof kid };

    decode (buf, len, &msg);
    kd = &msg.body.key_delivery;
    if (!cpns_srp_client_verify (srp_client, kd->server_proof.data, kd->server_proof.len,
                                 &error))
      die (error);
    say ("gateway", "checks the server's proof M2: this really is the server");
    k = cpns_srp_client_get_key (srp_client, &k_len);
    got = cpns_wrap_open (CPNS_WRAP_EUKEY_SRP, k, k_len, &binding, kd->wrapped_key.data,
                          kd->wrapped_key.len, &error);
    if (got == NULL)
      die (error);
    say ("gateway", "unwraps its EUKey: %s", memcmp (got->data, eukey, 32) == 0 ?
         "identical to the server's copy" : "MISMATCH");
  }

  /* ------------------------------------------------------------------ */
  step ("3. Both sides keep the key in an encrypted keystore");
  {
    const char *names[] = { "gateway", "server" };
    for (int i = 0; i < 2; i++)
      {
        g_autofree char *state = g_build_filename (dir, names[i], NULL);
        g_autofree char *path = g_build_filename (state, "keystore", NULL);
        g_autofree char *kek = g_build_filename (state, "kek", NULL);
        g_autoptr(CpnsKeystore) ks = cpns_keystore_open (path, kek, TRUE, &error);
        CpnsKeyEntry e = {
          .name = (char *) "eukey", .kind = CPNS_KEY_EUKEY,
          .self_id = (char *) (i == 0 ? GATEWAY_ID : SERVER_ID),
          .peer_id = (char *) (i == 0 ? SERVER_ID : GATEWAY_ID),
          .user_id = (char *) USER_ID, .kid_len = sizeof kid,
          .role = i == 0 ? CPNS_ROLE_INITIATOR : CPNS_ROLE_RESPONDER,
          .created = g_get_real_time () / G_USEC_PER_SEC,
        };
        g_autoptr(CpnsSecret) key = cpns_secret_new (eukey, sizeof eukey);

        memcpy (e.kid, kid, sizeof kid);
        e.key = key;
        if (ks == NULL || !cpns_keystore_set (ks, &e, &error) ||
            !cpns_keystore_save (ks, &error))
          die (error);
        say (names[i], "saved %s (0600 in a 0700 directory, ChaCha20-Poly1305 under a",
             path + strlen (dir) + 1);
        say ("", "separate key-encryption key, replaced atomically)");
      }
  }

  /* ------------------------------------------------------------------ */
  step ("4. Secure session: three-message handshake with the EUKey as PSK");
  {
    g_autoptr(CpnsHandshake) gw = NULL;
    g_autoptr(CpnsHandshake) srv = NULL;
    g_autoptr(CpnsSession) gs = NULL;
    g_autoptr(CpnsSession) ss = NULL;
    CpnsPsk gpsk = { .key_len = 32, .kid_len = sizeof kid, .role = CPNS_ROLE_INITIATOR };
    CpnsPsk spsk = { .key_len = 32, .kid_len = sizeof kid, .role = CPNS_ROLE_RESPONDER };
    CpnsHandshakeConfig gcfg = {
      .role = CPNS_ROLE_INITIATOR, .purpose = CPNS_PURPOSE_SERVER, .self_id = GATEWAY_ID,
      .peer_id = SERVER_ID, .psk = &gpsk, .replay_mode = CPNS_REPLAY_WINDOW,
    };
    CpnsHandshakeConfig scfg = {
      .role = CPNS_ROLE_RESPONDER, .purpose = CPNS_PURPOSE_SERVER, .self_id = SERVER_ID,
      .peer_id = GATEWAY_ID, .psk = &spsk, .replay_mode = CPNS_REPLAY_WINDOW,
    };
    guint8 rec[512], first[512], plainbuf[512];
    gsize rec_len, first_len, plain_len, n;
    CpnsHeader hdr;
    CpnsBody body = { .present = 0x6 };
    g_autofree char *sid = NULL;

    memcpy (gpsk.key, eukey, 32);
    memcpy (gpsk.kid, kid, sizeof kid);
    memcpy (spsk.key, eukey, 32);
    memcpy (spsk.kid, kid, sizeof kid);
    gw = cpns_handshake_new (&gcfg, &error);
    srv = gw ? cpns_handshake_new (&scfg, &error) : NULL;
    if (srv == NULL || !cpns_handshake_start (gw, buf, sizeof buf, &len, &error))
      die (error);
    say ("gateway", "HS_INIT: offers ChaCha20-Poly1305, AES-128-GCM, AES-256-GCM;");
    say ("", "psk+x25519 or psk; nonce and an ephemeral X25519 key");
    wire ("HS_INIT", len);
    if (!cpns_handshake_receive (srv, buf, len, buf2, sizeof buf2, &n, &error))
      die (error);
    say ("server", "HS_RESP: picks %s with %s, confirms with MAC_R",
         cpns_alg_name (cpns_handshake_get_suite (srv)),
         cpns_mode_name (cpns_handshake_get_mode (srv)));
    say ("", "(it sends nothing protected until the gateway's confirmation checks out)");
    wire ("HS_RESP", n);
    if (!cpns_handshake_receive (gw, buf2, n, buf, sizeof buf, &len, &error))
      die (error);
    say ("gateway", "verifies MAC_R, answers HS_FINISH with MAC_I");
    wire ("HS_FINISH", len);
    if (!cpns_handshake_receive (srv, buf, len, NULL, 0, &n, &error))
      die (error);
    gs = cpns_handshake_take_session (gw);
    ss = cpns_handshake_take_session (srv);
    sid = hex (cpns_session_get_id (gs), CPNS_SESSION_ID_LEN);
    say ("server", "verifies MAC_I: session %s is up, fresh keys in each direction", sid);

    step ("5. Protected messages; encryption is chosen message by message");
    body.data.content_type = 1;
    body.data.data = CPNS_STR ("temperature=21.5C");
    first_len = cpns_session_seal_message (gs, CPNS_MSG_DATA, 2, TRUE, &body, first,
                                           sizeof first, &error);
    if (first_len == 0)
      die (error);
    say ("gateway", "DATA \"temperature=21.5C\" as COSE_Encrypt0 (Encrypted = true)");
    wire ("record", first_len);
    if (!cpns_session_open_message (ss, first, first_len, &hdr, &msg.body, plainbuf,
                                    sizeof plainbuf, &error))
      die (error);
    say ("server", "opens record #%" G_GUINT64_FORMAT " from %s: \"%.*s\"", hdr.seq,
         hdr.src, (int) msg.body.data.data.len, msg.body.data.data.data);

    body.data.data = CPNS_STR ("ack");
    rec_len = cpns_session_seal_message (ss, CPNS_MSG_DATA, 2, FALSE, &body, rec,
                                         sizeof rec, &error);
    if (rec_len == 0)
      die (error);
    say ("server", "replies \"ack\" as COSE_Mac0 (readable, but authenticated)");
    wire ("record", rec_len);
    if (!cpns_session_open (gs, rec, rec_len, &hdr, plainbuf, sizeof plainbuf, &plain_len,
                            &error))
      die (error);
    say ("gateway", "checks the HMAC-SHA256 tag of record #%" G_GUINT64_FORMAT ": genuine",
         hdr.seq);

    {
      CpnsBody tk = { .present = 0xe };
      tk.tk_delivery.pne = CPNS_STR ("pne-1");
      tk.tk_delivery.kid = CPNS_BYTES (kid, sizeof kid);
      tk.tk_delivery.tk = CPNS_BYTES (eukey, 16);
      if (cpns_session_seal_message (ss, CPNS_MSG_TK_DELIVERY, 3, FALSE, &tk, rec,
                                     sizeof rec, &error) == 0)
        say ("server", "refuses to send a TK_DELIVERY unencrypted: %s", error->message);
      g_clear_error (&error);
    }

    step ("6. An attacker replays the gateway's first record");
    if (cpns_session_open (ss, first, first_len, &hdr, plainbuf, sizeof plainbuf,
                           &plain_len, &error))
      {
        fprintf (stderr, "cpns-demo: the replay was accepted\n");
        return 1;
      }
    say ("server", "rejects it: %s", error->message);
    g_clear_error (&error);

    body.data.data = CPNS_STR ("temperature=22.0C");
    first_len = cpns_session_seal_message (gs, CPNS_MSG_DATA, 4, TRUE, &body, first,
                                           sizeof first, &error);
    first[first_len - 20] ^= 1;
    if (cpns_session_open (ss, first, first_len, &hdr, plainbuf, sizeof plainbuf,
                           &plain_len, &error))
      {
        fprintf (stderr, "cpns-demo: the tampered record was accepted\n");
        return 1;
      }
    say ("server", "and a fresh record with one bit flipped in transit: %s", error->message);
    g_clear_error (&error);
  }

  /* Clean up the throwaway state. */
  {
    const char *names[] = { "gateway", "server" };
    for (int i = 0; i < 2; i++)
      {
        g_autofree char *state = g_build_filename (dir, names[i], NULL);
        g_autofree char *p1 = g_build_filename (state, "keystore", NULL);
        g_autofree char *p2 = g_build_filename (state, "kek", NULL);
        g_unlink (p1);
        g_unlink (p2);
        g_rmdir (state);
      }
    g_rmdir (dir);
  }
  cpns_wipe (eukey, sizeof eukey);
  printf ("\nDone: enrolment, keystores, handshake, encrypted and MAC-only messages, "
          "and a replay refused.\n");
  return 0;
}
