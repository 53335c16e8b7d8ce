/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The world of fuzz-pne-machine, shared with make-corpus so that the seeds
 * it writes are exactly the messages the target's machine expects: a
 * PneMachine, a fake PN GW and a fake CPNS Server made of libcpns parts
 * (after tests/pne/test-pne-machine.c, but lenient: what they do not
 * understand they ignore instead of asserting).
 *
 * Determinism.  The machine draws its transaction IDs, the Key Request
 * client its transaction ID and the keystore its IVs from cpns_random();
 * the binaries that include this header link with -Wl,--wrap=cpns_random
 * and get __wrap_cpns_random() below, which draws from a splitmix64
 * stream: the machine's own while it runs, the fake world's while that
 * runs (fpw_world_* switch), so replaying a message the world once made
 * consumes the same randomness as having the world make it.  Outside a
 * world (fpw_rng NULL) it is the real cpns_random().  Only the SRP
 * client's secret (wolfSSL's RNG) stays random: what follows a
 * KEY_CHALLENGE cannot be a fixed seed, only a command.
 *
 * Input of fuzz-pne-machine: byte 0 selects the scenario (FPW_SCENARIO_*,
 * low three bits) and its variant bits; then a sequence of items, each a
 * 16-bit big-endian word: below FPW_COMMAND_BASE it is the length of the
 * frame that follows (cut at the end of the input) which the machine
 * receives; from FPW_COMMAND_BASE up, its low byte (modulo FPW_CMD_COUNT)
 * is a command to the world. */

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "cpns-error.h"
#include "cpns-handshake.h"
#include "cpns-keystore.h"
#include "cpns-message.h"
#include "cpns-session.h"
#include "cpns-srp.h"
#include "cpns-wrap.h"
#include "fuzz-common.h"
#include "pne-machine.h"

G_BEGIN_DECLS

#define FPW_PNE       "pne-1"
#define FPW_GW        "gw-1"
#define FPW_SERVER    PNE_DEFAULT_SERVER_ID
#define FPW_USER      "alice"
#define FPW_PASSWORD  "s3cret"
#define FPW_TK_KID    "tk-1"
#define FPW_EU_KID    "eu-1"
#define FPW_LOCAL_KID "lk-1"
/* The fake server's SRP verifier uses the minimum iteration count; a
 * fuzzed KEY_CHALLENGE asking for more than FPW_MAX_ITERATIONS is not
 * delivered (PBKDF2 at up to 10^7 iterations would only time out), nor
 * are more than FPW_MAX_SRP challenges per input. */
#define FPW_ITERATIONS     CPNS_SRP_MIN_ITERATIONS
#define FPW_MAX_ITERATIONS (2 * CPNS_SRP_MIN_ITERATIONS)
#define FPW_MAX_SRP        3
#define FPW_MAX_STEPS      32   /* FPW_CMD_RUN: deliveries at most */

typedef enum {
  FPW_SCENARIO_ANNOUNCED = 0,       /* no keys; the PN GW picks path (bits 6-7) */
  FPW_SCENARIO_TK = 1,              /* a Temporary Key; the PN GW picks path (bits 6-7) */
  FPW_SCENARIO_LOCAL_INSTALL = 2,   /* an EUKey: LOCAL_KEY_INSTALL pending */
  FPW_SCENARIO_PATH0 = 3,           /* EUKey and LocalEUKey: PATH_SELECT 0 pending */
  FPW_SCENARIO_NEED_CREDS = 4,      /* PATH_SELECT 1 received (UI) */
  FPW_SCENARIO_KEY_REQUEST = 5,     /* ... and credentials given, KEY_REQUEST out */
  FPW_SCENARIO_BOOTSTRAP = 6,       /* PATH_SELECT 2 received, HS_INIT out */
  FPW_SCENARIO_READY = 7,           /* a local session with the PN GW */
} FpwScenario;

#define FPW_SCENARIO_MASK 0x07
#define FPW_HAS_UI        0x08   /* the PNE has a UI */
#define FPW_KNOWS_GW      0x10   /* the PNE is configured with the PN GW's ID */
/* Scenario READY: also a session with the server; KEY_REQUEST: a wrong
 * password; others: the keystore also holds a Temporary Key. */
#define FPW_EXTRA         0x20
/* Scenarios ANNOUNCED and TK: bits 6-7 are the path the PN GW picks.
 * BOOTSTRAP: the bootstrap session carries DATA, not CREDENTIAL_INSTALL
 * (bit 6).  Others: the PN GW has lost the LocalEUKey (bit 6), or wraps the
 * next one under the wrong key (bit 7). */
#define FPW_PATH_SHIFT    6
#define FPW_FORGOT_LOCAL  0x40
#define FPW_BAD_WRAP      0x80
#define FPW_BOOT_DATA     0x40

#define FPW_COMMAND_BASE 0xff00
typedef enum {
  FPW_CMD_DELIVER,      /* the world reads the PNE's output, then delivers one reply */
  FPW_CMD_PUMP,         /* the world reads the PNE's output */
  FPW_CMD_DROP,         /* the world's next reply is lost */
  FPW_CMD_CONNECT,      /* pne_machine_connect_server() */
  FPW_CMD_CREDENTIALS,  /* pne_machine_set_credentials() with the right password */
  FPW_CMD_WRONG_CREDS,  /* ... with a wrong one */
  FPW_CMD_DATA_GW,      /* pne_machine_send_data() to the PN GW */
  FPW_CMD_DATA_SERVER,  /* ... to the server (content type 1: ACK, echo later) */
  FPW_CMD_RUN,          /* deliver until the world is quiet */
  FPW_CMD_COUNT
} FpwCommand;

/* ---- randomness ---- */

static FuzzRandom *fpw_rng;

gboolean __real_cpns_random (guint8 *out, gsize len, GError **error);
gboolean __wrap_cpns_random (guint8 *out, gsize len, GError **error);

gboolean
__wrap_cpns_random (guint8 *out, gsize len, GError **error)
{
  if (fpw_rng == NULL)
    return __real_cpns_random (out, len, error);
  return fuzz_random_func (out, len, fpw_rng, error);
}

/* ---- the world ---- */

typedef struct {
  guint8         selector;
  /* The fake PN GW */
  guint64        path;
  gboolean       forgot_local, bad_local_wrap;
  gboolean       boot_sends_data;
  gboolean       has_local;
  guint8         local[32];
  CpnsHandshake *gw_hs;
  CpnsSession   *gw_session;
  CpnsSession   *boot_session;
  /* The fake server */
  CpnsSrpServer *srp;
  gboolean       has_eukey;
  guint8         eukey[32];
  guint8         tk[16];
  CpnsHandshake *srv_hs;
  CpnsSession   *srv_session;
  GQueue         queued;          /* records for the PN GW's long poll */
  guint          srp_ops;
  guint64        key_txid;        /* of the last KEY_REQUEST */
  /* Between them */
  GQueue         to_pne;          /* GBytes */
  GQueue         from_pne;        /* GBytes the world has not read yet */
  FuzzRandom     pne_rng, world_rng;
  /* The PNE */
  CpnsKeystore  *ks;
  PneMachine    *m;
  gboolean       key_event;       /* a KEY_STORED or KEY_FORGOTTEN since cleared */
  guint          events;
  /* What fpw_collect() shows the machine's outputs and events to */
  void         (*check_output) (const guint8 *data, gsize len);
  void         (*check_event)  (const PneEvent *ev);
} FpwWorld;

/* How commands hand the world's messages to the machine. */
typedef void (*FpwReceive) (FpwWorld *w, const guint8 *msg, gsize len);

/* The server's SRP record for FPW_USER, made once per process. */
typedef struct {
  guint8 salt[CPNS_SRP_SALT_LEN];
  guint8 verifier[CPNS_SRP_PUBLIC_LEN];
  gsize  verifier_len;
} FpwVerifier;

static FpwVerifier fpw_verifier;

static void
fpw_init_verifier (void)
{
  for (gsize i = 0; i < sizeof fpw_verifier.salt; i++)
    fpw_verifier.salt[i] = 0x21 + i;
  if (!cpns_srp_make_verifier (FPW_USER, (const guint8 *) FPW_PASSWORD,
                               strlen (FPW_PASSWORD), fpw_verifier.salt,
                               sizeof fpw_verifier.salt, FPW_ITERATIONS,
                               fpw_verifier.verifier, &fpw_verifier.verifier_len, NULL))
    g_error ("fuzz-pne-world: cannot make the SRP verifier");
}

static void
fpw_fixed (guint8 *out, gsize len, guint8 base)
{
  for (gsize i = 0; i < len; i++)
    out[i] = base + i;
}

static GBytes *
fpw_plain (const char *src, const char *dst, guint64 type, guint64 txid,
           const CpnsBody *body)
{
  CpnsHeader hdr = { .version = CPNS_VERSION, .type = type, .txid = txid };
  guint8 buf[2048];
  gsize len;

  if (!cpns_header_set_ids (&hdr, src, dst, NULL))
    return NULL;
  len = cpns_plain_encode (&hdr, body, NULL, 0, buf, sizeof buf, NULL);
  return len > 0 ? g_bytes_new (buf, len) : NULL;
}

static GBytes *
fpw_error_msg (const char *src, const char *dst, guint64 txid, guint code,
               const char *reason)
{
  CpnsBody body = { .present = 0x6 };

  body.error.code = code;
  body.error.reason = CPNS_STR (reason);
  return fpw_plain (src, dst, CPNS_MSG_ERROR, txid, &body);
}

static GBytes *
fpw_seal (CpnsSession *s, guint64 type, gboolean encrypt, const CpnsBody *body)
{
  g_autofree guint8 *buf = g_malloc (CPNS_MAX_RECORD);
  gsize len = cpns_session_seal_message (s, type, 7, encrypt, body, buf, CPNS_MAX_RECORD,
                                         NULL);

  return len > 0 ? g_bytes_new (buf, len) : NULL;
}

static void
fpw_to_pne (FpwWorld *w, GBytes *msg)
{
  if (msg != NULL)
    g_queue_push_tail (&w->to_pne, msg);
}

static CpnsHandshake *
fpw_responder (FpwWorld *w, const char *self, CpnsPurpose purpose, const CpnsPsk *psk,
               CpnsReplayMode mode)
{
  CpnsHandshakeConfig cfg = {
    .role = CPNS_ROLE_RESPONDER, .purpose = purpose, .self_id = self,
    .peer_id = FPW_PNE, .psk = psk, .replay_mode = mode,
    .random = fuzz_random_func, .random_data = &w->world_rng,
  };

  return cpns_handshake_new (&cfg, NULL);
}

static void
fpw_psk (CpnsPsk *psk, const guint8 *key, const char *kid)
{
  memset (psk, 0, sizeof *psk);
  memcpy (psk->key, key, 32);
  psk->key_len = 32;
  psk->kid_len = strlen (kid);
  memcpy (psk->kid, kid, psk->kid_len);
  psk->role = CPNS_ROLE_RESPONDER;
}

/* HS_INIT in, HS_RESP to the PNE; the handshake in *@hs. */
static void
fpw_respond (FpwWorld *w, CpnsHandshake **hs, const char *self, CpnsPurpose purpose,
             const CpnsPsk *psk, CpnsReplayMode mode, const guint8 *in, gsize len)
{
  guint8 out[CPNS_HANDSHAKE_MAX];
  gsize out_len = 0;

  g_clear_pointer (hs, cpns_handshake_free);
  *hs = fpw_responder (w, self, purpose, psk, mode);
  if (*hs != NULL &&
      cpns_handshake_receive (*hs, in, len, out, sizeof out, &out_len, NULL) &&
      out_len > 0)
    fpw_to_pne (w, g_bytes_new (out, out_len));
}

/* HS_FINISH in: the session, or NULL. */
static CpnsSession *
fpw_finish (CpnsHandshake **hs, const guint8 *in, gsize len)
{
  guint8 out[CPNS_HANDSHAKE_MAX];
  gsize out_len;
  CpnsSession *s = NULL;

  if (*hs != NULL && cpns_handshake_receive (*hs, in, len, out, sizeof out, &out_len, NULL))
    s = cpns_handshake_take_session (*hs);
  g_clear_pointer (hs, cpns_handshake_free);
  return s;
}

static void
fpw_server_receive (FpwWorld *w, const guint8 *in, gsize len)
{
  CpnsPlainMessage msg;
  CpnsBody body = { 0 };
  guint8 b[CPNS_SRP_PUBLIC_LEN], m2[32], wrapped[CPNS_WRAPPED_KEY_MAX];
  gsize b_len;

  if (in[0] == 0xd0 || in[0] == 0xd1)
    {
      CpnsHeader hdr;
      g_autofree guint8 *plainbuf = g_malloc (CPNS_MAX_BODY);
      CpnsBody in_body, echo = { .present = 0x6 };
      CpnsBody ack = { .present = 0x2 };

      if (w->srv_session == NULL ||
          !cpns_session_open_message (w->srv_session, in, len, &hdr, &in_body, plainbuf,
                                      CPNS_MAX_BODY, NULL) ||
          hdr.type != CPNS_MSG_DATA)
        return;
      echo.data = in_body.data;
      if (in_body.data.content_type == 0)
        {
          fpw_to_pne (w, fpw_seal (w->srv_session, CPNS_MSG_DATA, TRUE, &echo));
          return;
        }
      ack.ack.type = CPNS_MSG_DATA;
      fpw_to_pne (w, fpw_seal (w->srv_session, CPNS_MSG_ACK, TRUE, &ack));
      /* The echo comes with the PN GW's next long poll: after the ACK. */
      g_queue_push_tail (&w->queued, fpw_seal (w->srv_session, CPNS_MSG_DATA, TRUE, &echo));
      return;
    }
  if (!cpns_plain_decode (in, len, &msg, NULL) || strcmp (msg.hdr.src, FPW_PNE) != 0)
    return;
  switch (msg.hdr.type)
    {
    case CPNS_MSG_KEY_REQUEST:
      {
        g_autofree char *user = g_strndup ((const char *) msg.body.key_request.user_id.data,
                                           msg.body.key_request.user_id.len);

        g_clear_pointer (&w->srp, cpns_srp_server_free);
        w->key_txid = msg.hdr.txid;
        if (w->srp_ops >= FPW_MAX_SRP)
          return;
        w->srp_ops++;
        w->srp = cpns_srp_server_new (user, fpw_verifier.salt, sizeof fpw_verifier.salt,
                                      fpw_verifier.verifier, fpw_verifier.verifier_len,
                                      NULL);
        if (w->srp == NULL || !cpns_srp_server_challenge (w->srp, b, &b_len, NULL))
          return;
        body.present = 0x1e;
        body.key_challenge.group = CPNS_SRP_GROUP_3072;
        body.key_challenge.salt = CPNS_BYTES (fpw_verifier.salt, sizeof fpw_verifier.salt);
        body.key_challenge.iterations = FPW_ITERATIONS;
        body.key_challenge.server_public = CPNS_BYTES (b, b_len);
        fpw_to_pne (w, fpw_plain (FPW_SERVER, FPW_PNE, CPNS_MSG_KEY_CHALLENGE,
                                  msg.hdr.txid, &body));
        return;
      }
    case CPNS_MSG_KEY_PROOF:
      {
        const CpnsKeyProof *p = &msg.body.key_proof;

        if (w->srp == NULL)
          return;
        body.present = 0x2;
        body.key_delivery.status = CPNS_KEY_STATUS_AUTH_FAILED;
        if (cpns_srp_server_verify (w->srp, p->client_public.data, p->client_public.len,
                                    p->client_proof.data, p->client_proof.len, m2, NULL))
          {
            gsize k_len, w_len;
            const guint8 *k = cpns_srp_server_get_key (w->srp, &k_len);
            CpnsWrapBinding binding = { FPW_SERVER, FPW_PNE, FPW_USER,
                                        (const guint8 *) FPW_EU_KID, 4 };

            fuzz_random_func (w->eukey, sizeof w->eukey, &w->world_rng, NULL);
            w->has_eukey = TRUE;
            w_len = cpns_wrap_seal (CPNS_WRAP_EUKEY_SRP, k, k_len, &binding, w->eukey, 32,
                                    wrapped, sizeof wrapped, NULL);
            body.present = 0x1e;
            body.key_delivery.status = 0;
            body.key_delivery.server_proof = CPNS_BYTES (m2, sizeof m2);
            body.key_delivery.kid = CPNS_BYTES (FPW_EU_KID, 4);
            body.key_delivery.wrapped_key = CPNS_BYTES (wrapped, w_len);
          }
        g_clear_pointer (&w->srp, cpns_srp_server_free);
        fpw_to_pne (w, fpw_plain (FPW_SERVER, FPW_PNE, CPNS_MSG_KEY_DELIVERY, msg.hdr.txid,
                                  &body));
        return;
      }
    case CPNS_MSG_HS_INIT:
      {
        CpnsPsk psk;

        if (!w->has_eukey)
          {
            fpw_to_pne (w, fpw_error_msg (FPW_SERVER, FPW_PNE, msg.hdr.txid,
                                          CPNS_ERROR_NOT_FOUND, "no such EUKey"));
            return;
          }
        fpw_psk (&psk, w->eukey, FPW_EU_KID);
        fpw_respond (w, &w->srv_hs, FPW_SERVER, CPNS_PURPOSE_SERVER, &psk,
                     CPNS_REPLAY_WINDOW, in, len);
        return;
      }
    case CPNS_MSG_HS_FINISH:
      g_clear_pointer (&w->srv_session, cpns_session_free);
      w->srv_session = fpw_finish (&w->srv_hs, in, len);
      return;  /* 204: nothing relayed */
    default:
      return;
    }
}

static void
fpw_gw_on_announce (FpwWorld *w, const CpnsPlainMessage *msg)
{
  const CpnsPneAnnounce *a = &msg->body.pne_announce;
  gboolean announced_eukey = (msg->body.present & 1u << 5) != 0;
  gboolean announced_local = (msg->body.present & 1u << 6) != 0;
  CpnsBody body = { 0 };

  if (announced_local && w->has_local && a->local_kid.len == 4 &&
      memcmp (a->local_kid.data, FPW_LOCAL_KID, 4) == 0)
    {
      body.present = 0x2;
      body.path_select.path = CPNS_PATH_SESSION;
      fpw_to_pne (w, fpw_plain (FPW_GW, FPW_PNE, CPNS_MSG_PATH_SELECT, msg->hdr.txid,
                                &body));
      return;
    }
  if (announced_eukey)
    {
      guint8 wrapped[CPNS_WRAPPED_KEY_MAX], other[32];
      CpnsWrapBinding binding = { FPW_GW, FPW_PNE, "", (const guint8 *) FPW_LOCAL_KID, 4 };
      gsize len;

      fuzz_random_func (w->local, sizeof w->local, &w->world_rng, NULL);
      fuzz_random_func (other, sizeof other, &w->world_rng, NULL);
      len = cpns_wrap_seal (CPNS_WRAP_LOCAL_EUKEY, w->bad_local_wrap ? other : w->eukey,
                            32, &binding, w->local, 32, wrapped, sizeof wrapped, NULL);
      if (len == 0)
        return;
      w->has_local = TRUE;
      body.present = 0x6;
      body.local_key_install.kid = CPNS_BYTES (FPW_LOCAL_KID, 4);
      body.local_key_install.wrapped_key = CPNS_BYTES (wrapped, len);
      fpw_to_pne (w, fpw_plain (FPW_GW, FPW_PNE, CPNS_MSG_LOCAL_KEY_INSTALL, msg->hdr.txid,
                                &body));
      return;
    }
  body.present = 0x2;
  body.path_select.path = w->path;
  if (w->path == CPNS_PATH_PNE_UI || w->path == CPNS_PATH_INSTALL_CREDS)
    {
      body.present |= 0x4;
      body.path_select.server_id = CPNS_STR (FPW_SERVER);
    }
  fpw_to_pne (w, fpw_plain (FPW_GW, FPW_PNE, CPNS_MSG_PATH_SELECT, msg->hdr.txid, &body));
  if (w->path == CPNS_PATH_TEMPORARY_KEY)
    {
      guint8 wrapped[CPNS_WRAPPED_KEY_MAX];
      CpnsWrapBinding binding = { FPW_GW, FPW_PNE, FPW_USER, (const guint8 *) FPW_EU_KID,
                                  4 };
      gsize len;

      fuzz_random_func (w->eukey, sizeof w->eukey, &w->world_rng, NULL);
      w->has_eukey = TRUE;
      len = cpns_wrap_seal (CPNS_WRAP_EUKEY_TK, w->tk, sizeof w->tk, &binding, w->eukey,
                            32, wrapped, sizeof wrapped, NULL);
      body = (CpnsBody) { .present = 0x1e };
      body.eukey_tk_delivery.kid = CPNS_BYTES (FPW_EU_KID, 4);
      body.eukey_tk_delivery.tk_kid = CPNS_BYTES (FPW_TK_KID, 4);
      body.eukey_tk_delivery.wrapped_key = CPNS_BYTES (wrapped, len);
      body.eukey_tk_delivery.user_id = CPNS_STR (FPW_USER);
      fpw_to_pne (w, fpw_plain (FPW_GW, FPW_PNE, CPNS_MSG_EUKEY_TK_DELIVERY, 9, &body));
    }
}

static void
fpw_gw_hs_init (FpwWorld *w, const CpnsPlainMessage *msg, const guint8 *in, gsize len)
{
  CpnsPsk psk;

  if (msg->body.hs_init.purpose == CPNS_PURPOSE_BOOTSTRAP)
    cpns_bootstrap_psk (&psk, CPNS_ROLE_RESPONDER);
  else if (msg->body.hs_init.purpose == CPNS_PURPOSE_LOCAL)
    {
      if (w->forgot_local || !w->has_local)
        {
          w->forgot_local = FALSE;
          w->has_local = FALSE;
          fpw_to_pne (w, fpw_error_msg (FPW_GW, FPW_PNE, msg->hdr.txid,
                                        CPNS_ERROR_NOT_FOUND, "no such LocalEUKey"));
          return;
        }
      fpw_psk (&psk, w->local, FPW_LOCAL_KID);
    }
  else
    return;
  fpw_respond (w, &w->gw_hs, FPW_GW, msg->body.hs_init.purpose, &psk, CPNS_REPLAY_STREAM,
               in, len);
}

static void
fpw_gw_hs_finish (FpwWorld *w, const guint8 *in, gsize len)
{
  g_autoptr(CpnsSession) s = fpw_finish (&w->gw_hs, in, len);
  CpnsBody body = { .present = 0x6 };

  if (s == NULL)
    return;
  if (w->path == CPNS_PATH_INSTALL_CREDS && w->boot_session == NULL && !w->has_eukey)
    {
      w->boot_session = g_steal_pointer (&s);
      if (w->boot_sends_data)
        {
          body.data.content_type = 0;
          body.data.data = CPNS_STR ("x");
          fpw_to_pne (w, fpw_seal (w->boot_session, CPNS_MSG_DATA, TRUE, &body));
          return;
        }
      body.credential_install.user_id = CPNS_STR (FPW_USER);
      body.credential_install.password = CPNS_STR (FPW_PASSWORD);
      fpw_to_pne (w, fpw_seal (w->boot_session, CPNS_MSG_CREDENTIAL_INSTALL, TRUE, &body));
      return;
    }
  g_clear_pointer (&w->gw_session, cpns_session_free);
  w->gw_session = g_steal_pointer (&s);
}

/* One message from the PNE to the PN GW (or through it to the server). */
static void
fpw_gw_receive (FpwWorld *w, const guint8 *in, gsize len)
{
  CpnsPlainMessage msg;

  if (len == 0)
    return;
  if (in[0] == 0xd0 || in[0] == 0xd1)
    {
      CpnsHeader hdr;
      g_autofree guint8 *plainbuf = NULL;
      CpnsBody body;

      if (!cpns_record_peek (in, len, &hdr, NULL))
        return;
      if (strcmp (hdr.dst, FPW_SERVER) == 0)
        {
          fpw_server_receive (w, in, len);
          return;
        }
      plainbuf = g_malloc (CPNS_MAX_BODY);
      if (w->gw_session == NULL || strcmp (hdr.dst, FPW_GW) != 0 ||
          !cpns_session_open_message (w->gw_session, in, len, &hdr, &body, plainbuf,
                                      CPNS_MAX_BODY, NULL) ||
          hdr.type != CPNS_MSG_DATA)
        return;
      fpw_to_pne (w, fpw_seal (w->gw_session, CPNS_MSG_DATA, hdr.encrypted, &body));
      return;
    }
  if (!cpns_plain_decode (in, len, &msg, NULL) || strcmp (msg.hdr.src, FPW_PNE) != 0)
    return;
  if (strcmp (msg.hdr.dst, FPW_SERVER) == 0)
    {
      fpw_server_receive (w, in, len);
      return;
    }
  if (strcmp (msg.hdr.dst, FPW_GW) != 0 && strcmp (msg.hdr.dst, CPNS_PAN_GATEWAY_ID) != 0)
    return;
  switch (msg.hdr.type)
    {
    case CPNS_MSG_PNE_ANNOUNCE:
      fpw_gw_on_announce (w, &msg);
      return;
    case CPNS_MSG_HS_INIT:
      fpw_gw_hs_init (w, &msg, in, len);
      return;
    case CPNS_MSG_HS_FINISH:
      fpw_gw_hs_finish (w, in, len);
      return;
    default:
      return;
    }
}

/* The world reads everything the PNE said, with its own randomness. */
static void
fpw_world_pump (FpwWorld *w)
{
  GBytes *out;

  fpw_rng = &w->world_rng;
  while ((out = g_queue_pop_head (&w->from_pne)) != NULL)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (out, &len);

      fpw_gw_receive (w, data, len);
      g_bytes_unref (out);
    }
  fpw_rng = &w->pne_rng;
}

/* The next message for the PNE, or NULL; the PN GW's long poll brings the
 * server's late records once the rest is out. */
static GBytes *
fpw_world_next (FpwWorld *w)
{
  GBytes *msg = g_queue_pop_head (&w->to_pne);

  return msg != NULL ? msg : g_queue_pop_head (&w->queued);
}

/* A frame of the input arrives: the world first reads what the machine
 * said (as it would have before answering), and if the frame is the very
 * message it would send next, it counts as sent.  So a seed made of the
 * world's messages keeps the world in step, and commands after it go on
 * from there. */
static void
fpw_world_consume (FpwWorld *w, const guint8 *msg, gsize len)
{
  GQueue *q;
  GBytes *next;

  fpw_world_pump (w);
  q = !g_queue_is_empty (&w->to_pne) ? &w->to_pne : &w->queued;
  next = g_queue_peek_head (q);
  if (next != NULL && g_bytes_get_size (next) == len &&
      memcmp (g_bytes_get_data (next, NULL), msg, len) == 0)
    g_bytes_unref (g_queue_pop_head (q));
}

/* Moves the machine's outputs to the world (unread) and shows each to
 * w->check_output; moves its events away, noting key events. */
static void
fpw_collect (FpwWorld *w)
{
  GBytes *out;
  PneEvent *ev;

  while ((out = pne_machine_next_output (w->m)) != NULL)
    {
      if (w->check_output != NULL)
        w->check_output (g_bytes_get_data (out, NULL), g_bytes_get_size (out));
      g_queue_push_tail (&w->from_pne, out);
    }
  while ((ev = pne_machine_next_event (w->m)) != NULL)
    {
      if (w->check_event != NULL)
        w->check_event (ev);
      if (ev->type == PNE_EVENT_KEY_STORED || ev->type == PNE_EVENT_KEY_FORGOTTEN)
        w->key_event = TRUE;
      w->events++;
      pne_event_free (ev);
    }
}

/* The keystore starts every input from the same entries (in memory only:
 * nothing reads the file back). */
static void
fpw_keystore_entry (FpwWorld *w, const char *name, CpnsKeyKind kind, const char *peer,
                    const char *user, const char *kid, const guint8 *key, gsize key_len)
{
  CpnsKeyEntry e = {
    .name = (char *) name, .kind = kind, .self_id = (char *) FPW_PNE,
    .peer_id = (char *) peer, .user_id = (char *) user, .kid_len = strlen (kid),
    .role = CPNS_ROLE_INITIATOR, .created = 1,
  };

  memcpy (e.kid, kid, e.kid_len);
  e.key = cpns_secret_new (key, key_len);
  if (!cpns_keystore_set (w->ks, &e, NULL))
    g_error ("fuzz-pne-world: cannot set keystore entry %s", name);
  cpns_secret_free (e.key);
}

static void
fpw_keystore_reset (FpwWorld *w, FpwScenario scenario)
{
  g_auto(GStrv) names = cpns_keystore_list (w->ks);
  gboolean tk = scenario == FPW_SCENARIO_TK || (w->selector & FPW_EXTRA);
  gboolean eukey = scenario == FPW_SCENARIO_LOCAL_INSTALL ||
                   scenario == FPW_SCENARIO_PATH0 || scenario == FPW_SCENARIO_READY;
  gboolean local = scenario == FPW_SCENARIO_PATH0 || scenario == FPW_SCENARIO_READY;

  for (guint i = 0; names[i] != NULL; i++)
    cpns_keystore_remove (w->ks, names[i]);
  if (tk && scenario != FPW_SCENARIO_READY && scenario != FPW_SCENARIO_KEY_REQUEST)
    fpw_keystore_entry (w, PNE_ENTRY_TK, CPNS_KEY_TEMPORARY, FPW_SERVER, NULL, FPW_TK_KID,
                        w->tk, sizeof w->tk);
  if (eukey)
    {
      w->has_eukey = TRUE;
      fpw_keystore_entry (w, PNE_ENTRY_EUKEY, CPNS_KEY_EUKEY, FPW_SERVER, FPW_USER,
                          FPW_EU_KID, w->eukey, sizeof w->eukey);
    }
  if (local)
    {
      w->has_local = TRUE;
      fpw_keystore_entry (w, PNE_ENTRY_LOCAL_PREFIX FPW_GW, CPNS_KEY_LOCAL_EUKEY, FPW_GW,
                          NULL, FPW_LOCAL_KID, w->local, sizeof w->local);
    }
}

/* Delivers the world's messages until the PNE reaches @state (or quiet). */
static gboolean
fpw_run_until (FpwWorld *w, PneState state)
{
  for (guint i = 0; i < FPW_MAX_STEPS && pne_machine_get_state (w->m) != state; i++)
    {
      g_autoptr(GBytes) msg = NULL;

      fpw_world_pump (w);
      msg = fpw_world_next (w);
      if (msg == NULL ||
          !pne_machine_receive (w->m, g_bytes_get_data (msg, NULL), g_bytes_get_size (msg),
                                NULL))
        break;
      fpw_collect (w);
    }
  fpw_collect (w);
  return pne_machine_get_state (w->m) == state;
}

/* Sets up the world of @selector over @ks and drives the machine to its
 * scenario.  What the world has answered by then and the scenario did not
 * deliver waits in its queue (fpw_world_next); what the machine said last
 * may still be unread (fpw_world_pump). */
static void
fpw_world_init (FpwWorld *w, guint8 selector, CpnsKeystore *ks)
{
  FpwScenario scenario = selector & FPW_SCENARIO_MASK;
  PneConfig cfg = {
    .entity_id = FPW_PNE, .name = "fuzzed watch",
    .has_ui = (selector & FPW_HAS_UI) != 0,
    .gateway_id = (selector & FPW_KNOWS_GW) ? FPW_GW : NULL,
    .random = fuzz_random_func,
  };
  gboolean ok = TRUE;

  memset (w, 0, sizeof *w);
  w->selector = selector;
  w->ks = ks;
  g_queue_init (&w->to_pne);
  g_queue_init (&w->from_pne);
  g_queue_init (&w->queued);
  fuzz_random_init (&w->pne_rng, 0x9e11);
  fuzz_random_init (&w->world_rng, 0x3c0d);
  fpw_fixed (w->tk, sizeof w->tk, 0x30);
  fpw_fixed (w->eukey, sizeof w->eukey, 0x50);
  fpw_fixed (w->local, sizeof w->local, 0x70);
  w->forgot_local = (selector & FPW_FORGOT_LOCAL) != 0;
  w->bad_local_wrap = (selector & FPW_BAD_WRAP) != 0;
  switch (scenario)
    {
    case FPW_SCENARIO_ANNOUNCED:
    case FPW_SCENARIO_TK:
      w->path = selector >> FPW_PATH_SHIFT;
      w->forgot_local = w->bad_local_wrap = FALSE;
      break;
    case FPW_SCENARIO_NEED_CREDS:
    case FPW_SCENARIO_KEY_REQUEST:
      w->path = CPNS_PATH_PNE_UI;
      cfg.has_ui = TRUE;
      break;
    case FPW_SCENARIO_BOOTSTRAP:
      w->path = CPNS_PATH_INSTALL_CREDS;
      w->boot_sends_data = (selector & FPW_BOOT_DATA) != 0;
      w->forgot_local = w->bad_local_wrap = FALSE;
      break;
    default:
      w->path = CPNS_PATH_TEMPORARY_KEY;
      break;
    }
  fpw_keystore_reset (w, scenario);

  fpw_rng = &w->pne_rng;
  cfg.random_data = &w->pne_rng;
  w->m = pne_machine_new (&cfg, ks, NULL);
  if (w->m == NULL || !pne_machine_start (w->m, NULL))
    g_error ("fuzz-pne-world: cannot start the PNE");
  fpw_collect (w);
  fpw_world_pump (w);

  switch (scenario)
    {
    case FPW_SCENARIO_NEED_CREDS:
      ok = fpw_run_until (w, PNE_STATE_NEED_CREDENTIALS);
      break;
    case FPW_SCENARIO_KEY_REQUEST:
      {
        const char *pw = (selector & FPW_EXTRA) ? "wrong" : FPW_PASSWORD;

        ok = fpw_run_until (w, PNE_STATE_NEED_CREDENTIALS) &&
             pne_machine_set_credentials (w->m, FPW_USER, (const guint8 *) pw, strlen (pw),
                                          NULL);
        fpw_collect (w);
        break;
      }
    case FPW_SCENARIO_BOOTSTRAP:
      ok = fpw_run_until (w, PNE_STATE_BOOTSTRAP);
      break;
    case FPW_SCENARIO_READY:
      ok = fpw_run_until (w, PNE_STATE_READY);
      fpw_world_pump (w);   /* HS_FINISH: the PN GW's session */
      if (ok && (selector & FPW_EXTRA))
        {
          ok = pne_machine_connect_server (w->m, NULL);
          fpw_collect (w);
          for (guint i = 0; ok && i < FPW_MAX_STEPS && !pne_machine_has_server_session (w->m);
               i++)
            {
              g_autoptr(GBytes) msg = NULL;

              fpw_world_pump (w);
              msg = fpw_world_next (w);
              ok = msg != NULL &&
                   pne_machine_receive (w->m, g_bytes_get_data (msg, NULL),
                                        g_bytes_get_size (msg), NULL);
              fpw_collect (w);
            }
          fpw_world_pump (w);   /* HS_FINISH: the server's session */
        }
      break;
    default:
      break;
    }
  /* The PN GW's bad choices (forgot_local, bad_local_wrap) may stop these
   * early; that is a scenario too. */
  (void) ok;
  w->key_event = FALSE;
}

/* The world reads what the machine said, then its next reply goes in. */
static void
fpw_deliver (FpwWorld *w, FpwReceive receive)
{
  g_autoptr(GBytes) msg = NULL;

  fpw_world_pump (w);
  msg = fpw_world_next (w);
  if (msg != NULL)
    receive (w, g_bytes_get_data (msg, NULL), g_bytes_get_size (msg));
}

static void
fpw_command (FpwWorld *w, FpwCommand cmd, FpwReceive receive)
{
  static const guint8 ping[] = "ping";
  GBytes *dropped;

  switch (cmd)
    {
    case FPW_CMD_DELIVER:
      fpw_deliver (w, receive);
      break;
    case FPW_CMD_PUMP:
      fpw_world_pump (w);
      break;
    case FPW_CMD_DROP:
      dropped = fpw_world_next (w);
      g_clear_pointer (&dropped, g_bytes_unref);
      break;
    case FPW_CMD_CONNECT:
      pne_machine_connect_server (w->m, NULL);
      break;
    case FPW_CMD_CREDENTIALS:
      pne_machine_set_credentials (w->m, FPW_USER, (const guint8 *) FPW_PASSWORD,
                                   strlen (FPW_PASSWORD), NULL);
      break;
    case FPW_CMD_WRONG_CREDS:
      pne_machine_set_credentials (w->m, FPW_USER, (const guint8 *) "wrong", 5, NULL);
      break;
    case FPW_CMD_DATA_GW:
      pne_machine_send_data (w->m, FPW_GW, 0, ping, 4, TRUE, NULL);
      break;
    case FPW_CMD_DATA_SERVER:
      pne_machine_send_data (w->m, pne_machine_get_server_id (w->m), 1, ping, 4, TRUE,
                             NULL);
      break;
    case FPW_CMD_RUN:
      for (guint i = 0; i < FPW_MAX_STEPS; i++)
        {
          fpw_world_pump (w);
          if (g_queue_is_empty (&w->to_pne) && g_queue_is_empty (&w->queued))
            break;
          fpw_deliver (w, receive);
        }
      break;
    default:
      break;
    }
  fpw_collect (w);
}

static void
fpw_world_clear (FpwWorld *w)
{
  pne_machine_free (w->m);
  cpns_session_free (w->gw_session);
  cpns_session_free (w->boot_session);
  cpns_session_free (w->srv_session);
  cpns_handshake_free (w->gw_hs);
  cpns_handshake_free (w->srv_hs);
  cpns_srp_server_free (w->srp);
  g_queue_clear_full (&w->to_pne, (GDestroyNotify) g_bytes_unref);
  g_queue_clear_full (&w->from_pne, (GDestroyNotify) g_bytes_unref);
  g_queue_clear_full (&w->queued, (GDestroyNotify) g_bytes_unref);
  fpw_rng = NULL;
}

/* A keystore in a fresh private directory, for the whole process. */
static CpnsKeystore *
fpw_keystore_open (char **dir_out)
{
  g_autofree char *dir = g_dir_make_tmp ("fuzz-pne-XXXXXX", NULL);
  g_autofree char *path = NULL;
  g_autofree char *kek = NULL;
  CpnsKeystore *ks;

  if (dir == NULL || g_chmod (dir, 0700) != 0)
    g_error ("fuzz-pne-world: cannot make a temporary directory");
  path = g_build_filename (dir, "keystore", NULL);
  kek = g_build_filename (dir, "kek", NULL);
  ks = cpns_keystore_open (path, kek, TRUE, NULL);
  if (ks == NULL)
    g_error ("fuzz-pne-world: cannot open a keystore in %s", dir);
  *dir_out = g_steal_pointer (&dir);
  return ks;
}

static void
fpw_remove_dir (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      g_unlink (p);
    }
  g_rmdir (dir);
}

G_END_DECLS
