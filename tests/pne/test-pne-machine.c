/* SPDX-License-Identifier: GPL-3.0-or-later */

/* PneMachine against a PN GW and a CPNS Server made in this file from
 * libcpns parts (handshake responders, key wraps, the SRP server side):
 * every path of section 12, the LocalEUKey corner cases, and bad input in
 * every state. */

#include <glib/gstdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpns-error.h"
#include "cpns-frame.h"
#include "cpns-handshake.h"
#include "cpns-keystore.h"
#include "cpns-session.h"
#include "cpns-srp.h"
#include "cpns-wrap.h"
#include "cpns-test-util.h"
#include "pne-link.h"
#include "pne-machine.h"

#define PNE "pne-1"
#define GW "gw-1"
#define SERVER "cpns-server"
#define USER "alice"
#define PASSWORD "s3cret"
#define ITERATIONS 1000   /* the minimum: keeps the test fast */
#define TK_KID "tk-1"
#define EU_KID "eu-1"
#define LOCAL_KID "lk-1"

typedef struct {
  /* What the fake PN GW does */
  guint64        path;            /* for a PNE without keys */
  gboolean       forgot_local;    /* purpose-2 HS_INIT gets not-found */
  gboolean       bad_local_wrap;  /* LOCAL_KEY_INSTALL under another EUKey */
  const char    *installed_password;  /* path 2 */
  gboolean       boot_sends_data; /* path 2: DATA in place of CREDENTIAL_INSTALL */
  gboolean       has_local;
  guint8         local[32];
  CpnsHandshake *gw_hs;
  CpnsSession   *gw_session;
  CpnsSession   *boot_session;
  guint          errors_from_pne;
  guint64        last_error_code;
  guint          announces;
  CpnsPneAnnounce last_announce;  /* fields valid only for the flags below */
  gboolean       announced_eukey, announced_local, announced_tk, announced_ui;
  char           announce_dst[CPNS_ID_MAX + 1];

  /* The fake server */
  guint8         salt[CPNS_SRP_SALT_LEN];
  guint8         verifier[CPNS_SRP_PUBLIC_LEN];
  gsize          verifier_len;
  CpnsSrpServer *srp;
  gboolean       has_eukey;
  guint8         eukey[32];
  guint8         tk[16];
  CpnsHandshake *srv_hs;
  CpnsSession   *srv_session;
  GQueue         queued;          /* records for the PN GW's long poll */

  /* The PNE */
  char          *dir;
  CpnsKeystore  *ks;
  PneMachine    *m;
  GQueue         to_pne;          /* GBytes */
  GPtrArray     *events;
  GError        *error;           /* first receive error */
} World;

/* ---- plumbing ---- */

static GBytes *
plain (const char *src, const char *dst, guint64 type, guint64 txid, const CpnsBody *body)
{
  CpnsHeader hdr = { .version = CPNS_VERSION, .type = type, .txid = txid };
  guint8 buf[2048];
  gsize len;

  g_assert_true (cpns_header_set_ids (&hdr, src, dst, NULL));
  len = cpns_plain_encode (&hdr, body, NULL, 0, buf, sizeof buf, NULL);
  g_assert_cmpuint (len, >, 0);
  return g_bytes_new (buf, len);
}

static GBytes *
error_msg (const char *src, const char *dst, guint64 txid, guint code, const char *reason)
{
  CpnsBody body = { .present = 0x6 };

  body.error.code = code;
  body.error.reason = CPNS_STR (reason);
  return plain (src, dst, CPNS_MSG_ERROR, txid, &body);
}

static GBytes *
seal (CpnsSession *s, guint64 type, gboolean encrypt, const CpnsBody *body)
{
  g_autofree guint8 *buf = g_malloc (CPNS_MAX_RECORD);
  gsize len = cpns_session_seal_message (s, type, 7, encrypt, body, buf, CPNS_MAX_RECORD,
                                         NULL);
  g_assert_cmpuint (len, >, 0);
  return g_bytes_new (buf, len);
}

static void
to_pne (World *w, GBytes *msg)
{
  g_queue_push_tail (&w->to_pne, msg);
}

static CpnsHandshake *
responder (const char *self, CpnsPurpose purpose, const CpnsPsk *psk, CpnsReplayMode mode)
{
  CpnsHandshakeConfig cfg = {
    .role = CPNS_ROLE_RESPONDER, .purpose = purpose, .self_id = self, .peer_id = PNE,
    .psk = psk, .replay_mode = mode,
  };
  CpnsHandshake *hs = cpns_handshake_new (&cfg, NULL);

  g_assert_nonnull (hs);
  return hs;
}

static void
psk_from (CpnsPsk *psk, const guint8 *key, const char *kid)
{
  memset (psk, 0, sizeof *psk);
  memcpy (psk->key, key, 32);
  psk->key_len = 32;
  psk->kid_len = strlen (kid);
  memcpy (psk->kid, kid, psk->kid_len);
  psk->role = CPNS_ROLE_RESPONDER;
}

/* ---- the fake server ---- */

static void
server_receive (World *w, const guint8 *in, gsize len)
{
  CpnsPlainMessage msg;
  CpnsBody body = { 0 };
  guint8 b[CPNS_SRP_PUBLIC_LEN], m2[32], wrapped[CPNS_WRAPPED_KEY_MAX], out[512];
  gsize b_len, out_len;

  if (in[0] == 0xd0 || in[0] == 0xd1)
    {
      CpnsHeader hdr;
      guint8 plainbuf[CPNS_MAX_BODY];
      CpnsBody in_body, echo = { .present = 0x6 };

      g_assert_nonnull (w->srv_session);
      g_assert_true (cpns_session_open_message (w->srv_session, in, len, &hdr, &in_body,
                                                plainbuf, sizeof plainbuf, NULL));
      g_assert_cmpuint (hdr.type, ==, CPNS_MSG_DATA);
      echo.data = in_body.data;
      if (in_body.data.content_type == 0)
        to_pne (w, seal (w->srv_session, CPNS_MSG_DATA, TRUE, &echo));
      else
        {
          CpnsBody ack = { .present = 0x2 };
          ack.ack.type = CPNS_MSG_DATA;
          to_pne (w, seal (w->srv_session, CPNS_MSG_ACK, TRUE, &ack));
          g_queue_push_tail (&w->queued, seal (w->srv_session, CPNS_MSG_DATA, TRUE, &echo));
        }
      return;
    }
  g_assert_true (cpns_plain_decode (in, len, &msg, NULL));
  g_assert_cmpstr (msg.hdr.src, ==, PNE);
  switch (msg.hdr.type)
    {
    case CPNS_MSG_KEY_REQUEST:
      {
        g_autofree char *user = g_strndup ((const char *) msg.body.key_request.user_id.data,
                                           msg.body.key_request.user_id.len);
        g_assert_cmpstr (user, ==, USER);
        g_clear_pointer (&w->srp, cpns_srp_server_free);
        w->srp = cpns_srp_server_new (user, w->salt, sizeof w->salt, w->verifier,
                                      w->verifier_len, NULL);
        g_assert_true (cpns_srp_server_challenge (w->srp, b, &b_len, NULL));
        body.present = 0x1e;
        body.key_challenge.group = CPNS_SRP_GROUP_3072;
        body.key_challenge.salt = CPNS_BYTES (w->salt, sizeof w->salt);
        body.key_challenge.iterations = ITERATIONS;
        body.key_challenge.server_public = CPNS_BYTES (b, b_len);
        to_pne (w, plain (SERVER, PNE, CPNS_MSG_KEY_CHALLENGE, msg.hdr.txid, &body));
        return;
      }
    case CPNS_MSG_KEY_PROOF:
      {
        const CpnsKeyProof *p = &msg.body.key_proof;
        body.present = 0x2;
        body.key_delivery.status = CPNS_KEY_STATUS_AUTH_FAILED;
        if (cpns_srp_server_verify (w->srp, p->client_public.data, p->client_public.len,
                                    p->client_proof.data, p->client_proof.len, m2, NULL))
          {
            gsize k_len, w_len;
            const guint8 *k = cpns_srp_server_get_key (w->srp, &k_len);
            CpnsWrapBinding binding = { SERVER, PNE, USER, (const guint8 *) EU_KID, 4 };

            cpns_random (w->eukey, sizeof w->eukey, NULL);
            w->has_eukey = TRUE;
            w_len = cpns_wrap_seal (CPNS_WRAP_EUKEY_SRP, k, k_len, &binding, w->eukey, 32,
                                    wrapped, sizeof wrapped, NULL);
            body.present = 0x1e;
            body.key_delivery.status = 0;
            body.key_delivery.server_proof = CPNS_BYTES (m2, sizeof m2);
            body.key_delivery.kid = CPNS_BYTES (EU_KID, 4);
            body.key_delivery.wrapped_key = CPNS_BYTES (wrapped, w_len);
          }
        g_clear_pointer (&w->srp, cpns_srp_server_free);
        to_pne (w, plain (SERVER, PNE, CPNS_MSG_KEY_DELIVERY, msg.hdr.txid, &body));
        return;
      }
    case CPNS_MSG_HS_INIT:
      {
        CpnsPsk psk;
        g_assert_true (w->has_eukey);
        psk_from (&psk, w->eukey, EU_KID);
        g_clear_pointer (&w->srv_hs, cpns_handshake_free);
        w->srv_hs = responder (SERVER, CPNS_PURPOSE_SERVER, &psk, CPNS_REPLAY_WINDOW);
        g_assert_true (cpns_handshake_receive (w->srv_hs, in, len, out, sizeof out,
                                               &out_len, NULL));
        to_pne (w, g_bytes_new (out, out_len));
        return;
      }
    case CPNS_MSG_HS_FINISH:
      g_assert_true (cpns_handshake_receive (w->srv_hs, in, len, out, sizeof out, &out_len,
                                             NULL));
      g_clear_pointer (&w->srv_session, cpns_session_free);
      w->srv_session = cpns_handshake_take_session (w->srv_hs);
      g_clear_pointer (&w->srv_hs, cpns_handshake_free);
      return;  /* 204: nothing relayed */
    default:
      g_assert_not_reached ();
    }
}

/* ---- the fake PN GW ---- */

static void
gw_on_announce (World *w, const CpnsPlainMessage *msg)
{
  const CpnsPneAnnounce *a = &msg->body.pne_announce;
  CpnsBody body = { 0 };

  w->announces++;
  g_strlcpy (w->announce_dst, msg->hdr.dst, sizeof w->announce_dst);
  w->announced_eukey = (msg->body.present & 1u << 5) != 0;
  w->announced_local = (msg->body.present & 1u << 6) != 0;
  w->announced_tk = a->has_tk;
  w->announced_ui = a->has_ui;
  if (w->announced_local && w->has_local && a->local_kid.len == 4 &&
      memcmp (a->local_kid.data, LOCAL_KID, 4) == 0)
    {
      body.present = 0x2;
      body.path_select.path = 0;
      to_pne (w, plain (GW, PNE, CPNS_MSG_PATH_SELECT, msg->hdr.txid, &body));
      return;
    }
  if (w->announced_eukey)
    {
      guint8 wrapped[CPNS_WRAPPED_KEY_MAX], other[32];
      CpnsWrapBinding binding = { GW, PNE, "", (const guint8 *) LOCAL_KID, 4 };
      gsize len;

      cpns_random (w->local, sizeof w->local, NULL);
      cpns_random (other, sizeof other, NULL);
      len = cpns_wrap_seal (CPNS_WRAP_LOCAL_EUKEY, w->bad_local_wrap ? other : w->eukey,
                            32, &binding, w->local, 32, wrapped, sizeof wrapped, NULL);
      w->has_local = TRUE;
      body.present = 0x6;
      body.local_key_install.kid = CPNS_BYTES (LOCAL_KID, 4);
      body.local_key_install.wrapped_key = CPNS_BYTES (wrapped, len);
      to_pne (w, plain (GW, PNE, CPNS_MSG_LOCAL_KEY_INSTALL, msg->hdr.txid, &body));
      return;
    }
  body.present = 0x2;
  body.path_select.path = w->path;
  if (w->path == 1 || w->path == 2)
    {
      body.present |= 0x4;
      body.path_select.server_id = CPNS_STR (SERVER);
    }
  to_pne (w, plain (GW, PNE, CPNS_MSG_PATH_SELECT, msg->hdr.txid, &body));
  if (w->path == 3)
    {
      guint8 wrapped[CPNS_WRAPPED_KEY_MAX];
      CpnsWrapBinding binding = { GW, PNE, USER, (const guint8 *) EU_KID, 4 };
      gsize len;

      cpns_random (w->eukey, sizeof w->eukey, NULL);
      w->has_eukey = TRUE;
      len = cpns_wrap_seal (CPNS_WRAP_EUKEY_TK, w->tk, sizeof w->tk, &binding, w->eukey,
                            32, wrapped, sizeof wrapped, NULL);
      body = (CpnsBody) { .present = 0x1e };
      body.eukey_tk_delivery.kid = CPNS_BYTES (EU_KID, 4);
      body.eukey_tk_delivery.tk_kid = CPNS_BYTES (TK_KID, 4);
      body.eukey_tk_delivery.wrapped_key = CPNS_BYTES (wrapped, len);
      body.eukey_tk_delivery.user_id = CPNS_STR (USER);
      to_pne (w, plain (GW, PNE, CPNS_MSG_EUKEY_TK_DELIVERY, 9, &body));
    }
}

static void
gw_receive (World *w, GBytes *frame)
{
  gsize len;
  const guint8 *in = g_bytes_get_data (frame, &len);
  CpnsPlainMessage msg;
  guint8 out[512];
  gsize out_len;

  if (in[0] == 0xd0 || in[0] == 0xd1)
    {
      CpnsHeader hdr;
      guint8 plainbuf[CPNS_MAX_BODY];
      CpnsBody body;

      g_assert_true (cpns_record_peek (in, len, &hdr, NULL));
      if (strcmp (hdr.dst, SERVER) == 0)
        {
          server_receive (w, in, len);
          return;
        }
      g_assert_cmpstr (hdr.dst, ==, GW);
      g_assert_true (cpns_session_open_message (w->gw_session, in, len, &hdr, &body,
                                                plainbuf, sizeof plainbuf, NULL));
      g_assert_cmpuint (hdr.type, ==, CPNS_MSG_DATA);
      g_assert_cmpuint (body.data.content_type, ==, 0);
      to_pne (w, seal (w->gw_session, CPNS_MSG_DATA, hdr.encrypted, &body));
      return;
    }
  g_assert_true (cpns_plain_decode (in, len, &msg, NULL));
  g_assert_cmpstr (msg.hdr.src, ==, PNE);
  if (strcmp (msg.hdr.dst, SERVER) == 0)
    {
      server_receive (w, in, len);
      return;
    }
  g_assert_true (strcmp (msg.hdr.dst, GW) == 0 ||
                 (msg.hdr.type == CPNS_MSG_PNE_ANNOUNCE &&
                  strcmp (msg.hdr.dst, CPNS_PAN_GATEWAY_ID) == 0));
  switch (msg.hdr.type)
    {
    case CPNS_MSG_PNE_ANNOUNCE:
      gw_on_announce (w, &msg);
      return;
    case CPNS_MSG_ERROR:
      w->errors_from_pne++;
      w->last_error_code = msg.body.error.code;
      return;
    case CPNS_MSG_HS_INIT:
      {
        CpnsPsk psk;

        g_clear_pointer (&w->gw_hs, cpns_handshake_free);
        if (msg.body.hs_init.purpose == CPNS_PURPOSE_BOOTSTRAP)
          {
            cpns_bootstrap_psk (&psk, CPNS_ROLE_RESPONDER);
          }
        else
          {
            g_assert_cmpuint (msg.body.hs_init.purpose, ==, CPNS_PURPOSE_LOCAL);
            if (w->forgot_local)
              {
                w->forgot_local = FALSE;
                w->has_local = FALSE;
                to_pne (w, error_msg (GW, PNE, msg.hdr.txid, CPNS_ERROR_NOT_FOUND,
                                      "no such LocalEUKey"));
                return;
              }
            psk_from (&psk, w->local, LOCAL_KID);
          }
        w->gw_hs = responder (GW, msg.body.hs_init.purpose, &psk, CPNS_REPLAY_STREAM);
        g_assert_true (cpns_handshake_receive (w->gw_hs, in, len, out, sizeof out,
                                               &out_len, NULL));
        to_pne (w, g_bytes_new (out, out_len));
        return;
      }
    case CPNS_MSG_HS_FINISH:
      {
        g_autoptr(CpnsSession) s = NULL;
        gboolean bootstrap;

        g_assert_true (cpns_handshake_receive (w->gw_hs, in, len, out, sizeof out,
                                               &out_len, NULL));
        s = cpns_handshake_take_session (w->gw_hs);
        g_clear_pointer (&w->gw_hs, cpns_handshake_free);
        bootstrap = w->path == 2 && w->boot_session == NULL && !w->has_eukey;
        if (bootstrap)
          {
            CpnsBody body = { .present = 0x6 };

            w->boot_session = g_steal_pointer (&s);
            if (w->boot_sends_data)
              {
                body.data.content_type = 0;
                body.data.data = CPNS_STR ("x");
                to_pne (w, seal (w->boot_session, CPNS_MSG_DATA, TRUE, &body));
                return;
              }
            body.credential_install.user_id = CPNS_STR (USER);
            body.credential_install.password = CPNS_STR (w->installed_password);
            to_pne (w, seal (w->boot_session, CPNS_MSG_CREDENTIAL_INSTALL, TRUE, &body));
            return;
          }
        g_clear_pointer (&w->gw_session, cpns_session_free);
        w->gw_session = g_steal_pointer (&s);
        return;
      }
    default:
      g_assert_not_reached ();
    }
}

/* ---- driving ---- */

static void
world_init (World *w, gboolean with_tk)
{
  g_autofree char *path = NULL;
  g_autofree char *kek = NULL;

  memset (w, 0, sizeof *w);
  g_queue_init (&w->to_pne);
  g_queue_init (&w->queued);
  w->events = g_ptr_array_new_with_free_func ((GDestroyNotify) pne_event_free);
  w->installed_password = PASSWORD;
  w->dir = g_dir_make_tmp ("pne-test-XXXXXX", NULL);
  g_assert_nonnull (w->dir);
  g_assert_cmpint (g_chmod (w->dir, 0700), ==, 0);
  path = g_build_filename (w->dir, "keystore", NULL);
  kek = g_build_filename (w->dir, "kek", NULL);
  w->ks = cpns_keystore_open (path, kek, TRUE, NULL);
  g_assert_nonnull (w->ks);
  g_assert_true (cpns_random (w->salt, sizeof w->salt, NULL));
  g_assert_true (cpns_srp_make_verifier (USER, (const guint8 *) PASSWORD,
                                         strlen (PASSWORD), w->salt, sizeof w->salt,
                                         ITERATIONS, w->verifier, &w->verifier_len, NULL));
  cpns_random (w->tk, sizeof w->tk, NULL);
  if (with_tk)
    {
      CpnsKeyEntry e = {
        .name = (char *) PNE_ENTRY_TK, .kind = CPNS_KEY_TEMPORARY, .self_id = (char *) PNE,
        .peer_id = (char *) SERVER, .kid_len = 4, .role = CPNS_ROLE_INITIATOR,
        .created = 1,
      };
      memcpy (e.kid, TK_KID, 4);
      e.key = cpns_secret_new (w->tk, sizeof w->tk);
      g_assert_true (cpns_keystore_set (w->ks, &e, NULL));
      g_assert_true (cpns_keystore_save (w->ks, NULL));
      cpns_secret_free (e.key);
    }
}

/* A new PNE run on the same keystore (the PN GW forgets its sessions). */
static void
world_new_machine (World *w, gboolean has_ui)
{
  PneConfig cfg = { .entity_id = PNE, .name = "test watch", .has_ui = has_ui };

  g_clear_pointer (&w->m, pne_machine_free);
  g_clear_pointer (&w->gw_session, cpns_session_free);
  g_clear_pointer (&w->boot_session, cpns_session_free);
  g_clear_pointer (&w->gw_hs, cpns_handshake_free);
  g_clear_pointer (&w->srv_session, cpns_session_free);
  g_queue_clear_full (&w->to_pne, (GDestroyNotify) g_bytes_unref);
  g_ptr_array_set_size (w->events, 0);
  g_clear_error (&w->error);
  w->m = pne_machine_new (&cfg, w->ks, NULL);
  g_assert_nonnull (w->m);
}

static void
world_clear (World *w)
{
  g_autoptr(GDir) d = g_dir_open (w->dir, 0, NULL);
  const char *name;

  pne_machine_free (w->m);
  cpns_session_free (w->gw_session);
  cpns_session_free (w->boot_session);
  cpns_session_free (w->srv_session);
  cpns_handshake_free (w->gw_hs);
  cpns_handshake_free (w->srv_hs);
  cpns_srp_server_free (w->srp);
  cpns_keystore_free (w->ks);
  g_queue_clear_full (&w->to_pne, (GDestroyNotify) g_bytes_unref);
  g_queue_clear_full (&w->queued, (GDestroyNotify) g_bytes_unref);
  g_ptr_array_unref (w->events);
  g_clear_error (&w->error);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (w->dir, name, NULL);
      g_unlink (p);
    }
  g_rmdir (w->dir);
  g_free (w->dir);
}

static void
collect_events (World *w)
{
  PneEvent *ev;

  while ((ev = pne_machine_next_event (w->m)) != NULL)
    g_ptr_array_add (w->events, ev);
}

/* One step: the PNE's next message to the PN GW, else the next message to
 * the PNE.  FALSE when both sides are quiet or the PNE refused input. */
static gboolean
step (World *w)
{
  GBytes *out = pne_machine_next_output (w->m);

  if (out != NULL)
    {
      gw_receive (w, out);
      g_bytes_unref (out);
      return TRUE;
    }
  out = g_queue_pop_head (&w->to_pne);
  if (out == NULL)
    return FALSE;
  if (!pne_machine_receive (w->m, g_bytes_get_data (out, NULL), g_bytes_get_size (out),
                            w->error == NULL ? &w->error : NULL))
    {
      g_bytes_unref (out);
      collect_events (w);
      /* What the PNE still says on its way out (an ERROR) reaches the PN GW. */
      while ((out = pne_machine_next_output (w->m)) != NULL)
        {
          gw_receive (w, out);
          g_bytes_unref (out);
        }
      return FALSE;
    }
  g_bytes_unref (out);
  collect_events (w);
  return TRUE;
}

static void
run (World *w)
{
  while (step (w))
    ;
}

static void
run_until (World *w, PneState state)
{
  while (pne_machine_get_state (w->m) != state && step (w))
    ;
  g_assert_no_error (w->error);
  g_assert_cmpstr (pne_state_name (pne_machine_get_state (w->m)), ==,
                   pne_state_name (state));
}

static const PneEvent *
find_event (World *w, PneEventType type, guint nth)
{
  for (guint i = 0; i < w->events->len; i++)
    {
      const PneEvent *ev = w->events->pdata[i];
      if (ev->type == type && nth-- == 0)
        return ev;
    }
  return NULL;
}

static void
start (World *w)
{
  g_assert_true (pne_machine_start (w->m, NULL));
}

static void
assert_entry (World *w, const char *name, CpnsKeyKind kind, const char *peer,
              const char *user, const guint8 *key)
{
  const CpnsKeyEntry *e = cpns_keystore_lookup (w->ks, name);

  g_assert_nonnull (e);
  g_assert_cmpint (e->kind, ==, kind);
  g_assert_cmpstr (e->self_id, ==, PNE);
  g_assert_cmpstr (e->peer_id, ==, peer);
  g_assert_cmpstr (e->user_id, ==, user);
  g_assert_cmpint (e->role, ==, CPNS_ROLE_INITIATOR);
  if (key != NULL)
    g_assert_cmpmem (e->key->data, e->key->len, key, 32);
}

/* Reopens the keystore from disk: what was kept must have been saved. */
static void
reopen_keystore (World *w)
{
  g_autofree char *path = g_build_filename (w->dir, "keystore", NULL);
  g_autofree char *kek = g_build_filename (w->dir, "kek", NULL);

  g_clear_pointer (&w->m, pne_machine_free);
  cpns_keystore_free (w->ks);
  w->ks = cpns_keystore_open (path, kek, FALSE, NULL);
  g_assert_nonnull (w->ks);
}

static void
assert_ready (World *w, guint64 path)
{
  const PneEvent *ev;

  run_until (w, PNE_STATE_READY);
  run (w);   /* HS_FINISH to the PN GW */
  g_assert_no_error (w->error);
  ev = find_event (w, PNE_EVENT_READY, 0);
  g_assert_nonnull (ev);
  g_assert_cmpstr (ev->from, ==, GW);
  g_assert_cmpuint (ev->path, ==, path);
  g_assert_cmpstr (pne_machine_get_gateway_id (w->m), ==, GW);
  g_assert_nonnull (w->gw_session);
}

/* ---- the paths ---- */

static void
test_path3_then_path0 (void)
{
  World w;

  world_init (&w, TRUE);
  w.path = 3;
  world_new_machine (&w, FALSE);
  start (&w);
  step (&w);
  g_assert_cmpstr (w.announce_dst, ==, CPNS_PAN_GATEWAY_ID);
  g_assert_true (w.announced_tk);
  g_assert_false (w.announced_ui);
  g_assert_false (w.announced_eukey);
  assert_ready (&w, 3);
  g_assert_cmpuint (w.announces, ==, 2);
  g_assert_cmpstr (w.announce_dst, ==, GW);
  g_assert_true (w.announced_eukey);
  g_assert_cmpuint (find_event (&w, PNE_EVENT_PATH_SELECTED, 0)->path, ==, 3);
  g_assert_cmpint (find_event (&w, PNE_EVENT_KEY_STORED, 0)->kind, ==, CPNS_KEY_EUKEY);
  g_assert_cmpint (find_event (&w, PNE_EVENT_KEY_STORED, 1)->kind, ==,
                   CPNS_KEY_LOCAL_EUKEY);

  reopen_keystore (&w);
  assert_entry (&w, PNE_ENTRY_EUKEY, CPNS_KEY_EUKEY, SERVER, USER, w.eukey);
  assert_entry (&w, "local:" GW, CPNS_KEY_LOCAL_EUKEY, GW, NULL, w.local);
  g_assert_nonnull (cpns_keystore_lookup (w.ks, PNE_ENTRY_TK));

  /* Next time the keys are in place: path 0. */
  world_new_machine (&w, FALSE);
  start (&w);
  assert_ready (&w, 0);
  g_assert_true (w.announced_local);
  g_assert_null (find_event (&w, PNE_EVENT_KEY_STORED, 0));
  world_clear (&w);
}

static void
provision_path3 (World *w)
{
  world_init (w, TRUE);
  w->path = 3;
  world_new_machine (w, FALSE);
  start (w);
  assert_ready (w, 3);
}

static void
test_local_not_found (void)
{
  World w;
  guint8 old_local[32];

  provision_path3 (&w);
  memcpy (old_local, w.local, 32);
  w.forgot_local = TRUE;
  world_new_machine (&w, FALSE);
  start (&w);
  assert_ready (&w, 0);
  /* The PNE forgot the old LocalEUKey, announced its EUKey and got a new one. */
  g_assert_nonnull (find_event (&w, PNE_EVENT_KEY_FORGOTTEN, 0));
  g_assert_cmpint (find_event (&w, PNE_EVENT_KEY_FORGOTTEN, 0)->kind, ==,
                   CPNS_KEY_LOCAL_EUKEY);
  g_assert_cmpuint (find_event (&w, PNE_EVENT_REFUSED, 0)->code, ==, CPNS_ERROR_NOT_FOUND);
  g_assert_cmpmem (w.local, 32, cpns_keystore_lookup (w.ks, "local:" GW)->key->data, 32);
  g_assert_true (memcmp (old_local, w.local, 32) != 0);
  world_clear (&w);
}

static void
test_bad_local_wrap (void)
{
  World w;

  provision_path3 (&w);
  /* The PN GW forgets its LocalEUKey, and the server has issued the PNE
   * another EUKey meanwhile. */
  w.has_local = FALSE;
  w.bad_local_wrap = TRUE;
  world_new_machine (&w, FALSE);
  start (&w);
  run (&w);
  g_assert_error (w.error, CPNS_ERROR, CPNS_ERROR_BAD_MAC);
  g_assert_cmpint (pne_machine_get_state (w.m), ==, PNE_STATE_FAILED);
  g_assert_cmpuint (w.errors_from_pne, ==, 1);
  g_assert_cmpuint (w.last_error_code, ==, CPNS_ERROR_BAD_MAC);
  reopen_keystore (&w);
  g_assert_null (cpns_keystore_lookup (w.ks, PNE_ENTRY_EUKEY));
  /* The old LocalEUKey stays: it is for a PN GW, not bound to the EUKey. */
  g_assert_nonnull (cpns_keystore_lookup (w.ks, PNE_ENTRY_TK));
  world_clear (&w);
}

static void
test_path1 (void)
{
  World w;
  const PneEvent *ev;
  g_autoptr(GError) error = NULL;

  world_init (&w, FALSE);
  w.path = 1;
  world_new_machine (&w, TRUE);
  start (&w);
  run_until (&w, PNE_STATE_NEED_CREDENTIALS);
  g_assert_true (w.announced_ui);
  ev = find_event (&w, PNE_EVENT_NEED_CREDENTIALS, 0);
  g_assert_nonnull (ev);
  g_assert_false (ev->retry);

  /* Wrong password: the server says no, the person may try again. */
  g_assert_true (pne_machine_set_credentials (w.m, USER, (const guint8 *) "wrong", 5,
                                              &error));
  g_assert_no_error (error);
  run_until (&w, PNE_STATE_NEED_CREDENTIALS);
  ev = find_event (&w, PNE_EVENT_NEED_CREDENTIALS, 1);
  g_assert_nonnull (ev);
  g_assert_true (ev->retry);
  ev = find_event (&w, PNE_EVENT_REFUSED, 0);
  g_assert_cmpuint (ev->code, ==, CPNS_ERROR_AUTH_FAILED);
  g_assert_cmpstr (ev->from, ==, SERVER);
  g_assert_null (cpns_keystore_lookup (w.ks, PNE_ENTRY_EUKEY));

  /* Bad arguments change nothing. */
  g_assert_false (pne_machine_set_credentials (w.m, "", (const guint8 *) "x", 1, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (pne_machine_set_credentials (w.m, USER, (const guint8 *) "", 0, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpint (pne_machine_get_state (w.m), ==, PNE_STATE_NEED_CREDENTIALS);

  g_assert_true (pne_machine_set_credentials (w.m, USER, (const guint8 *) PASSWORD,
                                              strlen (PASSWORD), &error));
  assert_ready (&w, 1);
  g_assert_false (pne_machine_set_credentials (w.m, USER, (const guint8 *) PASSWORD,
                                               strlen (PASSWORD), &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_STATE);
  reopen_keystore (&w);
  assert_entry (&w, PNE_ENTRY_EUKEY, CPNS_KEY_EUKEY, SERVER, USER, w.eukey);
  assert_entry (&w, "local:" GW, CPNS_KEY_LOCAL_EUKEY, GW, NULL, w.local);
  world_clear (&w);
}

static void
test_path2 (void)
{
  World w;

  world_init (&w, FALSE);
  w.path = 2;
  world_new_machine (&w, FALSE);
  start (&w);
  assert_ready (&w, 2);
  g_assert_null (find_event (&w, PNE_EVENT_NEED_CREDENTIALS, 0));
  reopen_keystore (&w);
  assert_entry (&w, PNE_ENTRY_EUKEY, CPNS_KEY_EUKEY, SERVER, USER, w.eukey);
  world_clear (&w);

  /* An installed password that is wrong is final. */
  world_init (&w, FALSE);
  w.path = 2;
  w.installed_password = "wrong";
  world_new_machine (&w, FALSE);
  start (&w);
  run (&w);
  g_assert_error (w.error, CPNS_ERROR, CPNS_ERROR_AUTH_FAILED);
  g_assert_cmpint (pne_machine_get_state (w.m), ==, PNE_STATE_FAILED);
  g_assert_cmpuint (find_event (&w, PNE_EVENT_REFUSED, 0)->code, ==,
                    CPNS_ERROR_AUTH_FAILED);
  g_assert_null (cpns_keystore_lookup (w.ks, PNE_ENTRY_EUKEY));
  world_clear (&w);
}

static void
test_refused_announce (void)
{
  World w;
  g_autoptr(GBytes) err = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) out = NULL;
  const PneEvent *ev;

  world_init (&w, FALSE);
  world_new_machine (&w, FALSE);
  start (&w);
  out = pne_machine_next_output (w.m);
  g_assert_nonnull (out);
  err = error_msg (GW, PNE, 1, CPNS_ERROR_POLICY, "no path fits: no UI, no TK");
  g_assert_false (pne_machine_receive (w.m, g_bytes_get_data (err, NULL),
                                       g_bytes_get_size (err), &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_POLICY);
  g_assert_nonnull (strstr (error->message, "no path fits"));
  collect_events (&w);
  ev = find_event (&w, PNE_EVENT_REFUSED, 0);
  g_assert_nonnull (ev);
  g_assert_cmpstr (ev->from, ==, GW);
  g_assert_cmpint (pne_machine_get_state (w.m), ==, PNE_STATE_FAILED);
  world_clear (&w);
}

/* ---- data ---- */

static void
test_data (void)
{
  World w;
  g_autoptr(GError) error = NULL;
  const PneEvent *ev;
  GBytes *queued;

  provision_path3 (&w);
  g_ptr_array_set_size (w.events, 0);

  g_assert_true (pne_machine_send_data (w.m, GW, 0, (const guint8 *) "ping", 4, TRUE,
                                        &error));
  g_assert_true (pne_machine_send_data (w.m, GW, 0, (const guint8 *) "mac", 3, FALSE,
                                        &error));
  run (&w);
  g_assert_no_error (w.error);
  ev = find_event (&w, PNE_EVENT_DATA, 0);
  g_assert_cmpstr (ev->from, ==, GW);
  g_assert_cmpmem (g_bytes_get_data (ev->data, NULL), g_bytes_get_size (ev->data),
                   "ping", 4);
  ev = find_event (&w, PNE_EVENT_DATA, 1);
  g_assert_cmpmem (g_bytes_get_data (ev->data, NULL), g_bytes_get_size (ev->data),
                   "mac", 3);

  /* The server needs its own session first. */
  g_assert_false (pne_machine_send_data (w.m, SERVER, 0, (const guint8 *) "x", 1, TRUE,
                                         &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_STATE);
  g_clear_error (&error);
  g_assert_false (pne_machine_send_data (w.m, "someone", 0, (const guint8 *) "x", 1, TRUE,
                                         &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_STATE);
  g_clear_error (&error);

  g_assert_true (pne_machine_connect_server (w.m, &error));
  g_assert_no_error (error);
  run (&w);
  g_assert_no_error (w.error);
  g_assert_true (pne_machine_has_server_session (w.m));
  g_assert_nonnull (find_event (&w, PNE_EVENT_SERVER_READY, 0));
  g_assert_nonnull (w.srv_session);

  g_assert_true (pne_machine_send_data (w.m, SERVER, 0, (const guint8 *) "hello", 5, TRUE,
                                        &error));
  run (&w);
  g_assert_no_error (w.error);
  ev = find_event (&w, PNE_EVENT_DATA, 2);
  g_assert_cmpstr (ev->from, ==, SERVER);
  g_assert_cmpmem (g_bytes_get_data (ev->data, NULL), g_bytes_get_size (ev->data),
                   "hello", 5);

  /* Content type 1: ACK now, the echo later through the long poll. */
  g_assert_true (pne_machine_send_data (w.m, SERVER, 1, (const guint8 *) "later", 5, TRUE,
                                        &error));
  run (&w);
  ev = find_event (&w, PNE_EVENT_ACK, 0);
  g_assert_cmpstr (ev->from, ==, SERVER);
  g_assert_cmpuint (ev->acked_type, ==, CPNS_MSG_DATA);
  g_assert_null (find_event (&w, PNE_EVENT_DATA, 3));
  queued = g_queue_pop_head (&w.queued);
  g_assert_nonnull (queued);
  to_pne (&w, queued);
  run (&w);
  g_assert_no_error (w.error);
  ev = find_event (&w, PNE_EVENT_DATA, 3);
  g_assert_cmpstr (ev->from, ==, SERVER);
  g_assert_cmpuint (ev->content_type, ==, 1);
  g_assert_cmpmem (g_bytes_get_data (ev->data, NULL), g_bytes_get_size (ev->data),
                   "later", 5);

  /* The server drops the session: the local one stays. */
  to_pne (&w, error_msg (SERVER, PNE, 5, CPNS_ERROR_NOT_FOUND, "unknown session"));
  run (&w);
  g_assert_no_error (w.error);
  g_assert_nonnull (find_event (&w, PNE_EVENT_SERVER_LOST, 0));
  g_assert_false (pne_machine_has_server_session (w.m));
  g_assert_cmpint (pne_machine_get_state (w.m), ==, PNE_STATE_READY);
  world_clear (&w);
}

/* ---- bad input in every state ---- */

typedef struct {
  guint64    generation;
  char     **names;
  PneState   state;
} Snapshot;

static void
snapshot (World *w, Snapshot *s)
{
  s->generation = cpns_keystore_get_generation (w->ks);
  s->names = cpns_keystore_list (w->ks);
  s->state = pne_machine_get_state (w->m);
}

/* Feeds @msg; it must be refused with @code and change nothing. */
static void
assert_refused (World *w, GBytes *msg, gint code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) owned = msg;
  g_auto(GStrv) names = NULL;
  Snapshot s;

  snapshot (w, &s);
  g_assert_false (pne_machine_receive (w->m, g_bytes_get_data (msg, NULL),
                                       g_bytes_get_size (msg), &error));
  g_assert_nonnull (error);
  if (code != 0)
    g_assert_error (error, CPNS_ERROR, code);
  g_assert_nonnull (error->message);
  g_assert_cmpint (pne_machine_get_state (w->m), ==, s.state);
  g_assert_cmpuint (cpns_keystore_get_generation (w->ks), ==, s.generation);
  names = cpns_keystore_list (w->ks);
  g_assert_cmpstrv (names, s.names);
  g_assert_null (pne_machine_next_output (w->m));
  collect_events (w);
  g_assert_null (find_event (w, PNE_EVENT_KEY_STORED, G_MAXUINT - 1));
  g_strfreev (s.names);
}

/* Inputs that no state accepts. */
static void
assert_garbage_refused (World *w)
{
  static const guint8 junk[] = { 0x82, 0xa1, 0x01 };
  static const guint8 not_cbor[] = { 0xff, 0x00, 0x13 };
  static const guint8 bad_record[] = { 0xd0, 0x83, 0x40, 0xa0, 0x40 };
  CpnsBody announce = { .present = 0xe };

  announce.pne_announce.name = CPNS_STR ("x");
  assert_refused (w, g_bytes_new (junk, sizeof junk), CPNS_ERROR_MALFORMED);
  assert_refused (w, g_bytes_new (not_cbor, sizeof not_cbor), 0);
  assert_refused (w, g_bytes_new (bad_record, sizeof bad_record), 0);
  /* Addressed to someone else, from ourselves, from @pan, from a stranger. */
  assert_refused (w, error_msg (GW, "pne-2", 1, CPNS_ERROR_POLICY, "x"),
                  CPNS_ERROR_WRONG_ID);
  assert_refused (w, error_msg (PNE, PNE, 1, CPNS_ERROR_POLICY, "x"), CPNS_ERROR_WRONG_ID);
  assert_refused (w, error_msg (CPNS_PAN_GATEWAY_ID, PNE, 1, CPNS_ERROR_POLICY, "x"),
                  CPNS_ERROR_WRONG_ID);
  if (pne_machine_get_gateway_id (w->m) != NULL)
    {
      assert_refused (w, error_msg ("gw-2", PNE, 1, CPNS_ERROR_POLICY, "x"),
                      CPNS_ERROR_WRONG_ID);
      /* A message type the PN GW never sends to a PNE. */
      assert_refused (w, plain (GW, PNE, CPNS_MSG_PNE_ANNOUNCE, 1, &announce),
                      CPNS_ERROR_STATE);
    }
}

static GBytes *
path_select (const char *src, guint64 path)
{
  CpnsBody body = { .present = 0x6 };

  body.path_select.path = path;
  body.path_select.server_id = CPNS_STR (SERVER);
  return plain (src, PNE, CPNS_MSG_PATH_SELECT, 1, &body);
}

static GBytes *
key_challenge (const char *src, guint64 txid)
{
  CpnsBody body = { .present = 0x1e };
  guint8 b[16] = { 1 };

  body.key_challenge.group = 1;
  body.key_challenge.salt = CPNS_BYTES (b, 16);
  body.key_challenge.iterations = ITERATIONS;
  body.key_challenge.server_public = CPNS_BYTES (b, 16);
  return plain (src, PNE, CPNS_MSG_KEY_CHALLENGE, txid, &body);
}

static GBytes *
fake_hs_resp (const char *src, guint64 txid)
{
  CpnsBody body = { .present = 0xe };
  guint8 n[32] = { 7 };

  body.hs_resp.suite = 24;
  body.hs_resp.mode = 0;
  body.hs_resp.nonce = CPNS_BYTES (n, 32);
  return plain (src, PNE, CPNS_MSG_HS_RESP, txid, &body);
}

static void
test_bad_input (void)
{
  World w;
  CpnsBody data = { .present = 0x6 };
  g_autoptr(GError) error = NULL;

  data.data.data = CPNS_BYTES ("x", 1);

  /* NEW: nothing is accepted before the announce. */
  world_init (&w, TRUE);
  w.path = 1;
  world_new_machine (&w, FALSE);
  assert_refused (&w, path_select (GW, 3), CPNS_ERROR_STATE);
  g_assert_false (pne_machine_connect_server (w.m, &error));
  g_assert_error (error, CPNS_ERROR, CPNS_ERROR_STATE);
  g_clear_error (&error);

  /* ANNOUNCED */
  start (&w);
  step (&w);   /* the announce out; this test plays the PN GW by hand */
  g_queue_clear_full (&w.to_pne, (GDestroyNotify) g_bytes_unref);
  g_assert_cmpint (pne_machine_get_state (w.m), ==, PNE_STATE_ANNOUNCED);
  assert_garbage_refused (&w);
  /* No UI: path 1 is refused; path 0 without a key too. */
  assert_refused (&w, path_select (GW, 1), CPNS_ERROR_POLICY);
  assert_refused (&w, path_select (GW, 0), CPNS_ERROR_NOT_FOUND);
  assert_refused (&w, key_challenge (SERVER, 1), CPNS_ERROR_STATE);
  /* Path 1 and 2 need a server ID that is neither us nor the PN GW. */
  {
    CpnsBody body = { .present = 0x2 };
    body.path_select.path = 2;
    assert_refused (&w, plain (GW, PNE, CPNS_MSG_PATH_SELECT, 1, &body),
                    CPNS_ERROR_MALFORMED);
    body.present = 0x6;
    body.path_select.server_id = CPNS_STR (GW);
    assert_refused (&w, plain (GW, PNE, CPNS_MSG_PATH_SELECT, 1, &body),
                    CPNS_ERROR_WRONG_ID);
  }
  /* LOCAL_KEY_INSTALL without an EUKey to open it with. */
  {
    CpnsBody body = { .present = 0x6 };
    guint8 junk[40] = { 0 };
    body.local_key_install.kid = CPNS_BYTES ("k", 1);
    body.local_key_install.wrapped_key = CPNS_BYTES (junk, sizeof junk);
    assert_refused (&w, plain (GW, PNE, CPNS_MSG_LOCAL_KEY_INSTALL, 1, &body),
                    CPNS_ERROR_STATE);
  }
  g_assert_null (pne_machine_get_gateway_id (w.m));

  /* WAIT_EUKEY: path 3. */
  w.path = 3;
  to_pne (&w, path_select (GW, 3));
  step (&w);
  g_assert_cmpint (pne_machine_get_state (w.m), ==, PNE_STATE_WAIT_EUKEY);
  assert_garbage_refused (&w);
  assert_refused (&w, path_select (GW, 3), CPNS_ERROR_STATE);
  assert_refused (&w, fake_hs_resp (GW, 1), CPNS_ERROR_STATE);
  world_clear (&w);

  /* NEED_CREDENTIALS and KEY_REQUEST: path 1. */
  world_init (&w, FALSE);
  w.path = 1;
  world_new_machine (&w, TRUE);
  start (&w);
  run_until (&w, PNE_STATE_NEED_CREDENTIALS);
  assert_garbage_refused (&w);
  assert_refused (&w, key_challenge (SERVER, 1), CPNS_ERROR_STATE);
  g_assert_true (pne_machine_set_credentials (w.m, USER, (const guint8 *) PASSWORD,
                                              strlen (PASSWORD), NULL));
  g_assert_cmpint (pne_machine_get_state (w.m), ==, PNE_STATE_KEY_REQUEST);
  step (&w);   /* KEY_REQUEST out; the challenge waits in the queue */
  assert_garbage_refused (&w);
  /* A challenge from a stranger, from the PN GW, in another transaction. */
  assert_refused (&w, key_challenge ("evil-server", 1), CPNS_ERROR_WRONG_ID);
  assert_refused (&w, key_challenge (GW, 1), CPNS_ERROR_STATE);
  assert_refused (&w, key_challenge (SERVER, 424242), CPNS_ERROR_WRONG_ID);
  assert_refused (&w, plain (SERVER, PNE, CPNS_MSG_KEY_DELIVERY, 1,
                             &(CpnsBody) { .present = 0x2, .key_delivery.status = 1 }),
                  CPNS_ERROR_STATE);
  assert_refused (&w, fake_hs_resp (SERVER, 1), CPNS_ERROR_STATE);
  assert_ready (&w, 1);

  /* READY */
  assert_garbage_refused (&w);
  assert_refused (&w, path_select (GW, 0), CPNS_ERROR_STATE);
  assert_refused (&w, key_challenge (SERVER, 1), CPNS_ERROR_STATE);
  /* A record from the server before any session with it. */
  {
    g_autoptr(GBytes) rec = seal (w.gw_session, CPNS_MSG_DATA, TRUE, &data);
    GBytes *copy = g_bytes_new (g_bytes_get_data (rec, NULL), g_bytes_get_size (rec));
    g_autoptr(GError) e = NULL;
    guint8 *bytes;
    gsize len;

    /* A replayed record from the PN GW is refused and changes nothing. */
    g_assert_true (pne_machine_receive (w.m, g_bytes_get_data (rec, NULL),
                                        g_bytes_get_size (rec), &e));
    g_assert_no_error (e);
    collect_events (&w);
    assert_refused (&w, copy, CPNS_ERROR_REPLAY);
    /* A flipped byte in the tag. */
    g_bytes_unref (rec);
    rec = seal (w.gw_session, CPNS_MSG_DATA, TRUE, &data);
    bytes = g_bytes_unref_to_data (g_steal_pointer (&rec), &len);
    bytes[len - 1] ^= 1;
    assert_refused (&w, g_bytes_new_take (bytes, len), CPNS_ERROR_BAD_MAC);
  }
  /* Records from the server before any session with it. */
  {
    g_autoptr(CpnsSession) fake = NULL;
    g_autoptr(CpnsSession) fake_peer = NULL;
    TestPair pair;

    test_pair_init (&pair, CPNS_PURPOSE_SERVER);
    pair.icfg.self_id = PNE;
    pair.icfg.peer_id = SERVER;
    pair.rcfg.self_id = SERVER;
    pair.rcfg.peer_id = PNE;
    g_assert_true (test_handshake_run (&pair.icfg, &pair.rcfg, &fake_peer, &fake, NULL,
                                       NULL));
    assert_refused (&w, seal (fake, CPNS_MSG_DATA, TRUE, &data), CPNS_ERROR_STATE);
  }
  g_assert_cmpint (pne_machine_get_state (w.m), ==, PNE_STATE_READY);
  world_clear (&w);
}

/* The states in which a handshake runs or a bootstrap session waits. */
static void
test_bad_input_handshakes (void)
{
  World w;
  guint tries = 0;

  world_init (&w, FALSE);
  w.path = 2;
  world_new_machine (&w, FALSE);
  start (&w);
  run_until (&w, PNE_STATE_BOOTSTRAP);
  step (&w);   /* HS_INIT out */
  assert_garbage_refused (&w);
  assert_refused (&w, fake_hs_resp (GW, 424242), CPNS_ERROR_WRONG_ID);
  assert_refused (&w, fake_hs_resp (SERVER, 1), CPNS_ERROR_STATE);
  assert_refused (&w, path_select (GW, 2), CPNS_ERROR_STATE);
  run_until (&w, PNE_STATE_WAIT_CREDENTIALS);
  step (&w);   /* HS_FINISH out */
  assert_garbage_refused (&w);
  assert_refused (&w, fake_hs_resp (GW, 1), CPNS_ERROR_STATE);
  assert_refused (&w, path_select (GW, 2), CPNS_ERROR_STATE);
  run_until (&w, PNE_STATE_KEY_REQUEST);
  /* Through the Key Request to the LocalEUKey's handshake. */
  while (pne_machine_get_state (w.m) != PNE_STATE_LOCAL_HANDSHAKE && tries++ < 20)
    step (&w);
  g_assert_cmpint (pne_machine_get_state (w.m), ==, PNE_STATE_LOCAL_HANDSHAKE);
  step (&w);   /* HS_INIT out */
  assert_garbage_refused (&w);
  assert_refused (&w, fake_hs_resp (GW, 424242), CPNS_ERROR_WRONG_ID);
  assert_refused (&w, fake_hs_resp (SERVER, 1), CPNS_ERROR_STATE);
  assert_refused (&w, path_select (GW, 0), CPNS_ERROR_STATE);
  assert_ready (&w, 2);
  world_clear (&w);

  /* A bootstrap session that carries anything but CREDENTIAL_INSTALL. */
  world_init (&w, FALSE);
  w.path = 2;
  world_new_machine (&w, FALSE);
  w.boot_sends_data = TRUE;
  start (&w);
  run (&w);
  g_assert_error (w.error, CPNS_ERROR, CPNS_ERROR_STATE);
  g_assert_cmpint (pne_machine_get_state (w.m), ==, PNE_STATE_FAILED);
  g_assert_null (cpns_keystore_lookup (w.ks, PNE_ENTRY_EUKEY));
  world_clear (&w);
}

/* ---- the blocking driver over a real socket ---- */

typedef struct {
  World *w;
  int    fd;
} GwThread;

static gboolean
write_frame (int fd, GBytes *msg)
{
  guint8 hdr[CPNS_FRAME_HEADER_LEN];
  gsize len;
  const guint8 *data = g_bytes_get_data (msg, &len);

  cpns_frame_header (hdr, len);
  return write (fd, hdr, sizeof hdr) == sizeof hdr && write (fd, data, len) == (ssize_t) len;
}

/* The fake PN GW at the other end of a socketpair, until the PNE hangs up. */
static gpointer
gw_thread (gpointer data)
{
  GwThread *t = data;
  g_autoptr(CpnsDeframer) d = cpns_deframer_new (CPNS_MAX_RECORD);
  guint8 buf[4096];
  ssize_t n;

  while ((n = read (t->fd, buf, sizeof buf)) > 0)
    {
      const guint8 *frame;
      gsize len;
      GBytes *out;

      g_assert_true (cpns_deframer_push (d, buf, n, NULL));
      while ((frame = cpns_deframer_next (d, &len)) != NULL)
        {
          g_autoptr(GBytes) msg = g_bytes_new (frame, len);
          gw_receive (t->w, msg);
        }
      while ((out = g_queue_pop_head (&t->w->to_pne)) != NULL)
        {
          g_assert_true (write_frame (t->fd, out));
          g_bytes_unref (out);
        }
      /* The long poll returns at once with what the server queued. */
      while ((out = g_queue_pop_head (&t->w->queued)) != NULL)
        {
          g_assert_true (write_frame (t->fd, out));
          g_bytes_unref (out);
        }
    }
  close (t->fd);
  return NULL;
}

static gboolean
give_credentials (gboolean retry, char **user_id, CpnsSecret **password,
                  gpointer user_data, GError **error)
{
  guint *asked = user_data;
  const char *pw = retry ? PASSWORD : "wrong";

  (*asked)++;
  *user_id = g_strdup (USER);
  *password = cpns_secret_new ((const guint8 *) pw, strlen (pw));
  return TRUE;
}

static void
test_link (void)
{
  World w;
  int sv[2];
  GwThread t;
  GThread *thread;
  g_autoptr(GError) error = NULL;
  guint asked = 0;

  world_init (&w, FALSE);
  w.path = 1;
  world_new_machine (&w, TRUE);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
  t = (GwThread) { &w, sv[1] };
  thread = g_thread_new ("fake-gw", gw_thread, &t);
  {
    g_autoptr(PneLink) link = pne_link_new (sv[0], w.m);
    g_autoptr(PneEvent) ev = NULL;

    g_assert_true (pne_link_run_until_ready (link, give_credentials, NULL, &asked, 10000,
                                             &error));
    g_assert_no_error (error);
    g_assert_cmpuint (asked, ==, 2);
    g_assert_true (pne_machine_send_data (w.m, GW, 0, (const guint8 *) "hi", 2, TRUE,
                                          &error));
    ev = pne_link_wait_event (link, 10000, &error);
    g_assert_no_error (error);
    g_assert_cmpint (ev->type, ==, PNE_EVENT_DATA);
    g_assert_cmpmem (g_bytes_get_data (ev->data, NULL), g_bytes_get_size (ev->data),
                     "hi", 2);
    g_clear_pointer (&ev, pne_event_free);
    g_assert_true (pne_machine_connect_server (w.m, &error));
    ev = pne_link_wait_event (link, 10000, &error);
    g_assert_no_error (error);
    g_assert_cmpint (ev->type, ==, PNE_EVENT_SERVER_READY);
    g_clear_pointer (&ev, pne_event_free);
    g_assert_true (pne_machine_send_data (w.m, SERVER, 0, (const guint8 *) "yo", 2, FALSE,
                                          &error));
    ev = pne_link_wait_event (link, 10000, &error);
    g_assert_no_error (error);
    g_assert_cmpint (ev->type, ==, PNE_EVENT_DATA);
    g_assert_cmpstr (ev->from, ==, SERVER);
    g_clear_pointer (&ev, pne_event_free);

    /* Nothing more comes: a timeout, as a G_IO_ERROR. */
    g_assert_null (pne_link_wait_event (link, 50, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  }
  g_thread_join (thread);
  world_clear (&w);

  /* A peer that hangs up. */
  world_init (&w, FALSE);
  world_new_machine (&w, FALSE);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
  close (sv[1]);
  {
    g_autoptr(PneLink) link = pne_link_new (sv[0], w.m);
    g_clear_error (&error);
    g_assert_false (pne_link_run_until_ready (link, NULL, NULL, NULL, 1000, &error));
    g_assert_nonnull (error);
    g_assert_true (error->domain == G_IO_ERROR);
  }
  world_clear (&w);
}

static void
test_link_connect (void)
{
  g_autoptr(GError) error = NULL;
  const char *bad[] = { "nohost", ":1", "host:", "::1:80", "[::1]", "[]:1", "[::1]80" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_cmpint (pne_link_connect (bad[i], 100, &error), ==, -1);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
    }
}

/* ---- the program ---- */

static int
listen_loopback (guint16 *port)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof sa;

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  g_assert_cmpint (listen (fd, 1), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &sa, &len), ==, 0);
  *port = ntohs (sa.sin_port);
  return fd;
}

static gpointer
accept_thread (gpointer data)
{
  GwThread *t = data;
  int lfd = t->fd;

  t->fd = accept (lfd, NULL, NULL);
  close (lfd);
  g_assert_cmpint (t->fd, >=, 0);
  return gw_thread (t);
}

static int
spawn (char **argv, char **out)
{
  g_autoptr(GError) error = NULL;
  int status;

  g_assert_true (g_spawn_sync (NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, NULL,
                               &status, &error));
  g_assert_no_error (error);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
test_program (void)
{
  const char *exe = g_getenv ("CPNS_PNE");
  World w;
  guint16 port;
  GwThread t;
  GThread *thread;
  g_autofree char *state = NULL;
  g_autofree char *tk = NULL;
  g_autofree char *gateway = NULL;
  g_autofree char *out = NULL;

  if (exe == NULL)
    {
      g_test_skip ("CPNS_PNE is not set");
      return;
    }
  world_init (&w, FALSE);
  w.path = 3;
  state = g_build_filename (w.dir, "pne", NULL);
  tk = test_hex_encode (w.tk, sizeof w.tk);
  {
    char *argv[] = { (char *) exe, "init", "--state-dir", state, "--entity-id", PNE,
                     "--tk-kid", "746b2d31", "--tk", tk, "--json", NULL };
    g_assert_cmpint (spawn (argv, &out), ==, 0);
    g_assert_cmpstr (out, ==, "{\"event\":\"initialised\",\"entity\":\"pne-1\","
                     "\"tk\":true,\"tk_kid\":\"746b2d31\"}\n");
    g_clear_pointer (&out, g_free);
  }
  t.w = &w;
  t.fd = listen_loopback (&port);
  gateway = g_strdup_printf ("127.0.0.1:%u", port);
  thread = g_thread_new ("fake-gw", accept_thread, &t);
  {
    char *argv[] = { (char *) exe, "run", "--state-dir", state, "--entity-id", PNE,
                     "--gateway", gateway, "--send-gw", "ping", "--send-server", "pong",
                     "--queued", "later", "--count", "2", "--timeout", "10", "--json",
                     NULL };
    g_assert_cmpint (spawn (argv, &out), ==, 0);
  }
  g_thread_join (thread);
  g_test_message ("%s", out);
  g_assert_nonnull (strstr (out, "{\"event\":\"path\",\"path\":3,\"gateway\":\"gw-1\"}\n"));
  g_assert_nonnull (strstr (out, "{\"event\":\"provisioned\",\"path\":3,\"gateway\":\"gw-1\"}\n"));
  g_assert_nonnull (strstr (out, "{\"event\":\"server-session\",\"server\":\"cpns-server\"}\n"));
  g_assert_nonnull (strstr (out, "{\"event\":\"echo\",\"from\":\"gw-1\",\"ok\":true,"
                            "\"content_type\":0,\"n\":2}\n"));
  g_assert_nonnull (strstr (out, "{\"event\":\"echo\",\"from\":\"cpns-server\",\"ok\":true,"
                            "\"content_type\":0,\"n\":2}\n"));
  g_assert_nonnull (strstr (out, "{\"event\":\"queued\",\"from\":\"cpns-server\",\"ok\":true,"
                            "\"content_type\":1,\"n\":2}\n"));
  g_clear_pointer (&out, g_free);
  {
    char *argv[] = { (char *) exe, "status", "--state-dir", state, "--json", NULL };
    g_assert_cmpint (spawn (argv, &out), ==, 0);
    g_assert_nonnull (strstr (out, "\"name\":\"eukey\",\"kind\":\"eukey\""));
    g_assert_nonnull (strstr (out, "\"name\":\"local:gw-1\",\"kind\":\"local-eukey\""));
    g_assert_null (strstr (out, tk));
    g_clear_pointer (&out, g_free);
  }
  {
    /* Nobody listening: exit 3. */
    char *argv[] = { (char *) exe, "run", "--state-dir", state, "--entity-id", PNE,
                     "--gateway", gateway, "--timeout", "2", NULL };
    g_assert_cmpint (spawn (argv, &out), ==, 3);
    g_clear_pointer (&out, g_free);
  }
  {
    char *argv[] = { (char *) exe, "run", "--state-dir", state, NULL };
    g_assert_cmpint (spawn (argv, &out), ==, 1);
    g_clear_pointer (&out, g_free);
  }
  world_clear (&w);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pne/path3-then-path0", test_path3_then_path0);
  g_test_add_func ("/pne/path1", test_path1);
  g_test_add_func ("/pne/path2", test_path2);
  g_test_add_func ("/pne/local-not-found", test_local_not_found);
  g_test_add_func ("/pne/bad-local-wrap", test_bad_local_wrap);
  g_test_add_func ("/pne/refused-announce", test_refused_announce);
  g_test_add_func ("/pne/data", test_data);
  g_test_add_func ("/pne/bad-input", test_bad_input);
  g_test_add_func ("/pne/bad-input-handshakes", test_bad_input_handshakes);
  g_test_add_func ("/pne/link", test_link);
  g_test_add_func ("/pne/link-connect", test_link_connect);
  g_test_add_func ("/pne/program", test_program);
  return g_test_run ();
}
