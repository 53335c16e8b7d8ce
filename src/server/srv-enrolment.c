/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-enrolment.h"

#include <string.h>

#include "cpns-error.h"
#include "cpns-message.h"
#include "cpns-srp.h"
#include "cpns-wrap.h"
#include "srv-decoy.h"
#include "srv-hex.h"

#define DEFAULT_MAX_PENDING 10000
#define EUKEY_LEN 32
#define EUKEY_KID_LEN 16

/* One Key Request waiting for its Key Proof, under (source, transaction). */
typedef struct {
  CpnsSrpServer *srp;
  char          *user_id;
  char          *entity_id;   /* the entity the EUKey is for */
  gboolean       has_subject; /* path 7.4.3: a PN GW asks for a PNE's key */
  gboolean       known;       /* FALSE: a decoy for an unknown user */
  gint64         expires;
} Exchange;

static void
exchange_free (Exchange *x)
{
  cpns_srp_server_free (x->srp);
  g_free (x->user_id);
  g_free (x->entity_id);
  g_free (x);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Exchange, exchange_free)

struct _SrvEnrolment {
  GObject         parent_instance;
  SrvStore       *store;
  CpnsSecret     *server_secret;
  char           *self_id;
  guint           default_iterations;
  guint           max_pending;
  SrvClockFunc    clock;
  gpointer        clock_data;
  SrvRateLimiter *by_user;
  SrvRateLimiter *by_address;
  GHashTable     *pending;    /* "src\ntxid" -> Exchange */
};

enum {
  SIGNAL_EUKEY_REPLACED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (SrvEnrolment, srv_enrolment, G_TYPE_OBJECT)

static void
srv_enrolment_finalize (GObject *object)
{
  SrvEnrolment *e = SRV_ENROLMENT (object);

  g_hash_table_unref (e->pending);
  g_clear_object (&e->by_user);
  g_clear_object (&e->by_address);
  g_clear_object (&e->store);
  cpns_secret_free (e->server_secret);
  g_free (e->self_id);
  G_OBJECT_CLASS (srv_enrolment_parent_class)->finalize (object);
}

static void
srv_enrolment_class_init (SrvEnrolmentClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = srv_enrolment_finalize;
  signals[SIGNAL_EUKEY_REPLACED] =
    g_signal_new ("eukey-replaced", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
srv_enrolment_init (SrvEnrolment *e)
{
  e->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) exchange_free);
}

static gint64
monotonic_clock (gpointer user_data)
{
  return g_get_monotonic_time ();
}

SrvEnrolment *
srv_enrolment_new (SrvStore *store, const CpnsSecret *server_secret,
                   const SrvEnrolmentConfig *config)
{
  SrvEnrolment *e = g_object_new (SRV_TYPE_ENROLMENT, NULL);

  e->store = g_object_ref (store);
  e->server_secret = cpns_secret_new (server_secret->data, server_secret->len);
  e->self_id = g_strdup (config->self_id);
  e->default_iterations = config->default_iterations;
  e->max_pending = config->max_pending != 0 ? config->max_pending : DEFAULT_MAX_PENDING;
  e->clock = config->clock != NULL ? config->clock : monotonic_clock;
  e->clock_data = config->clock_data;
  e->by_user = srv_rate_limiter_new (config->user_failures, config->failure_window,
                                     config->clock, config->clock_data);
  e->by_address = srv_rate_limiter_new (config->address_failures, config->failure_window,
                                        config->clock, config->clock_data);
  return e;
}

guint
srv_enrolment_get_pending (SrvEnrolment *e)
{
  return g_hash_table_size (e->pending);
}

void
srv_enrolment_expire (SrvEnrolment *e)
{
  GHashTableIter iter;
  gpointer value;
  gint64 now = e->clock (e->clock_data);

  g_hash_table_iter_init (&iter, e->pending);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((Exchange *) value)->expires <= now)
      g_hash_table_iter_remove (&iter);
  srv_rate_limiter_expire (e->by_user);
  srv_rate_limiter_expire (e->by_address);
}

static char *
exchange_key (const CpnsHeader *hdr)
{
  return g_strdup_printf ("%s\n%" G_GUINT64_FORMAT, hdr->src, hdr->txid);
}

static SrvReply *
error_reply (SrvEnrolment *e, const CpnsHeader *hdr, guint code, const char *reason)
{
  return srv_reply_error (0, e->self_id, hdr != NULL ? hdr->src : NULL,
                          hdr != NULL ? hdr->txid : 0, code, reason);
}

static SrvReply *
internal_error (SrvEnrolment *e, const CpnsHeader *hdr, const GError *error)
{
  g_warning ("key request from '%s': %s", hdr->src, error->message);
  return error_reply (e, hdr, CPNS_ERROR_FAILED, "internal server error");
}

/* Text fields of the body are not NUL-terminated and may hold a NUL: such
 * a name would mean one thing to SQLite and another to us. */
static char *
text_field (CpnsBytes b)
{
  if (memchr (b.data, '\0', b.len) != NULL)
    return NULL;
  return g_strndup ((const char *) b.data, b.len);
}

/* NULL when both limiters let @user_id from @peer try. */
static SrvReply *
check_rate (SrvEnrolment *e, const CpnsHeader *hdr, const char *user_id,
            const char *peer)
{
  guint wait_user = 0, wait_address = 0;
  gboolean user_ok = srv_rate_limiter_allow (e->by_user, user_id, &wait_user);
  gboolean address_ok = srv_rate_limiter_allow (e->by_address, peer, &wait_address);
  SrvReply *reply;

  if (user_ok && address_ok)
    return NULL;
  g_message ("key request for user '%s' from %s refused: too many failed attempts "
             "(%s)", user_id, peer, user_ok ? "address" : "user");
  reply = error_reply (e, hdr, CPNS_ERROR_RATE_LIMITED,
                       "too many failed attempts; try again later");
  reply->retry_after = MAX (wait_user, wait_address);
  return reply;
}

/* The user's SRP parameters, or the decoy ones of an unknown user. */
static CpnsSrpServer *
make_srp (SrvEnrolment *e, const char *user_id, guint8 salt[CPNS_SRP_SALT_LEN],
          guint *iterations, gboolean *known, GError **error)
{
  g_autoptr(SrvUser) user = NULL;
  g_autoptr(GError) local = NULL;
  guint8 verifier[CPNS_SRP_PUBLIC_LEN];
  CpnsSrpServer *srp;

  user = srv_store_get_user (e->store, user_id, &local);
  if (user != NULL && g_bytes_get_size (user->salt) == CPNS_SRP_SALT_LEN)
    {
      *known = TRUE;
      *iterations = user->iterations;
      memcpy (salt, g_bytes_get_data (user->salt, NULL), CPNS_SRP_SALT_LEN);
      return cpns_srp_server_new (user_id, salt, CPNS_SRP_SALT_LEN,
                                  g_bytes_get_data (user->verifier, NULL),
                                  g_bytes_get_size (user->verifier), error);
    }
  if (user != NULL)
    {
      g_set_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_CORRUPT,
                   "user '%s' has a salt of %" G_GSIZE_FORMAT " bytes", user_id,
                   g_bytes_get_size (user->salt));
      return NULL;
    }
  if (!g_error_matches (local, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  *known = FALSE;
  *iterations = e->default_iterations;
  if (!srv_decoy_derive (e->server_secret, user_id, salt, verifier, error))
    return NULL;
  srp = cpns_srp_server_new (user_id, salt, CPNS_SRP_SALT_LEN, verifier,
                             sizeof verifier, error);
  cpns_wipe (verifier, sizeof verifier);
  return srp;
}

static SrvReply *
key_request (SrvEnrolment *e, const char *peer, const CpnsPlainMessage *msg)
{
  const CpnsKeyRequest *req = &msg->body.key_request;
  g_autoptr(Exchange) x = g_new0 (Exchange, 1);
  g_autoptr(GError) error = NULL;
  g_autofree char *subject = NULL;
  guint8 salt[CPNS_SRP_SALT_LEN], b[CPNS_SRP_PUBLIC_LEN];
  gsize b_len;
  guint iterations;
  CpnsBody body = { .present = 1u << 1 | 1u << 2 | 1u << 3 | 1u << 4 };
  SrvReply *reply;

  x->user_id = text_field (req->user_id);
  if (x->user_id == NULL)
    return error_reply (e, &msg->hdr, CPNS_ERROR_MALFORMED, "the User ID holds a NUL");
  if (msg->body.present & (1u << 2))
    {
      if (!cpns_entity_id_is_valid ((const char *) req->subject.data, req->subject.len))
        return error_reply (e, &msg->hdr, CPNS_ERROR_MALFORMED,
                            "the subject is not a valid Entity ID");
      subject = g_strndup ((const char *) req->subject.data, req->subject.len);
    }
  /* protocol.md 12.1: "the PN GW at the other end of a PAN link". */
  if (strcmp (msg->hdr.src, CPNS_PAN_GATEWAY_ID) == 0)
    return error_reply (e, &msg->hdr, CPNS_ERROR_INVALID_ARGUMENT,
                        "the source '" CPNS_PAN_GATEWAY_ID "' is a reserved ID and names "
                        "no entity");
  if (g_strcmp0 (subject, CPNS_PAN_GATEWAY_ID) == 0)
    return error_reply (e, &msg->hdr, CPNS_ERROR_INVALID_ARGUMENT,
                        "the subject '" CPNS_PAN_GATEWAY_ID "' is a reserved ID and names "
                        "no entity");
  x->has_subject = subject != NULL && strcmp (subject, msg->hdr.src) != 0;
  x->entity_id = g_strdup (x->has_subject ? subject : msg->hdr.src);

  reply = check_rate (e, &msg->hdr, x->user_id, peer);
  if (reply != NULL)
    return reply;
  if (g_hash_table_size (e->pending) >= e->max_pending)
    srv_enrolment_expire (e);
  if (g_hash_table_size (e->pending) >= e->max_pending)
    {
      g_warning ("%u key exchanges pending: refusing more", e->max_pending);
      return error_reply (e, &msg->hdr, CPNS_ERROR_UNAVAILABLE,
                          "too many key requests in progress; try again later");
    }

  x->srp = make_srp (e, x->user_id, salt, &iterations, &x->known, &error);
  if (x->srp == NULL)
    {
      /* An invalid User ID is the client's mistake, anything else ours. */
      if (g_error_matches (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT))
        return error_reply (e, &msg->hdr, CPNS_ERROR_MALFORMED, error->message);
      return internal_error (e, &msg->hdr, error);
    }
  if (!cpns_srp_server_challenge (x->srp, b, &b_len, &error))
    return internal_error (e, &msg->hdr, error);

  body.key_challenge.group = CPNS_SRP_GROUP_3072;
  body.key_challenge.salt = CPNS_BYTES (salt, sizeof salt);
  body.key_challenge.iterations = iterations;
  body.key_challenge.server_public = CPNS_BYTES (b, b_len);
  reply = srv_reply_plain (e->self_id, msg->hdr.src, CPNS_MSG_KEY_CHALLENGE,
                           msg->hdr.txid, &body, &error);
  if (reply == NULL)
    return internal_error (e, &msg->hdr, error);

  g_debug ("key request from '%s' (%s) for user '%s', entity '%s'", msg->hdr.src, peer,
           x->user_id, x->entity_id);
  x->expires = e->clock (e->clock_data) + SRV_EXCHANGE_TIMEOUT_S * G_USEC_PER_SEC;
  /* A repeated request in one transaction replaces the older one. */
  g_hash_table_replace (e->pending, exchange_key (&msg->hdr), g_steal_pointer (&x));
  return reply;
}

static SrvReply *
delivery (SrvEnrolment *e, const CpnsHeader *hdr, CpnsKeyStatus status)
{
  CpnsBody body = { .present = 1u << 1 };
  g_autoptr(GError) error = NULL;
  SrvReply *reply;

  body.key_delivery.status = status;
  reply = srv_reply_plain (e->self_id, hdr->src, CPNS_MSG_KEY_DELIVERY, hdr->txid, &body,
                           &error);
  return reply != NULL ? reply : internal_error (e, hdr, error);
}

/* The proof verified: a new EUKey for x->entity_id, stored (replacing the
 * old one) and delivered wrapped under the SRP session key. */
static SrvReply *
deliver_key (SrvEnrolment *e, const CpnsHeader *hdr, Exchange *x,
             const guint8 server_proof[CPNS_SRP_PROOF_LEN])
{
  g_autoptr(GError) error = NULL;
  g_autofree char *kid_hex = NULL;
  guint8 eukey[EUKEY_LEN], kid[EUKEY_KID_LEN], wrapped[CPNS_WRAPPED_KEY_MAX];
  CpnsWrapBinding binding = { e->self_id, x->entity_id, x->user_id, kid, sizeof kid };
  CpnsBody body = { .present = 1u << 1 | 1u << 2 | 1u << 3 | 1u << 4 };
  const guint8 *k;
  gsize k_len, w_len = 0;
  gboolean stored;
  SrvReply *reply;

  k = cpns_srp_server_get_key (x->srp, &k_len);
  if (!cpns_random (eukey, sizeof eukey, &error) ||
      !cpns_random (kid, sizeof kid, &error) ||
      (w_len = cpns_wrap_seal (CPNS_WRAP_EUKEY_SRP, k, k_len, &binding, eukey,
                               sizeof eukey, wrapped, sizeof wrapped, &error)) == 0)
    {
      cpns_wipe (eukey, sizeof eukey);
      return internal_error (e, hdr, error);
    }
  stored = srv_store_set_eukey (e->store, x->entity_id, x->user_id, x->has_subject, kid,
                                sizeof kid, eukey, sizeof eukey, &error);
  cpns_wipe (eukey, sizeof eukey);
  if (!stored)
    {
      if (g_error_matches (error, SRV_STORE_ERROR, SRV_STORE_ERROR_FORBIDDEN) ||
          g_error_matches (error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND))
        {
          g_message ("user '%s' may not enrol '%s': %s", x->user_id, x->entity_id,
                     error->message);
          return delivery (e, hdr, CPNS_KEY_STATUS_REFUSED);
        }
      return internal_error (e, hdr, error);
    }

  kid_hex = srv_hex_encode (kid, sizeof kid);
  g_message ("user '%s' enrolled '%s' (EUKey %s)", x->user_id, x->entity_id, kid_hex);
  g_signal_emit (e, signals[SIGNAL_EUKEY_REPLACED], 0, x->entity_id);

  body.key_delivery.status = CPNS_KEY_STATUS_OK;
  body.key_delivery.server_proof = CPNS_BYTES (server_proof, CPNS_SRP_PROOF_LEN);
  body.key_delivery.kid = CPNS_BYTES (kid, sizeof kid);
  body.key_delivery.wrapped_key = CPNS_BYTES (wrapped, w_len);
  reply = srv_reply_plain (e->self_id, hdr->src, CPNS_MSG_KEY_DELIVERY, hdr->txid, &body,
                           &error);
  return reply != NULL ? reply : internal_error (e, hdr, error);
}

static SrvReply *
key_proof (SrvEnrolment *e, const char *peer, const CpnsPlainMessage *msg)
{
  const CpnsKeyProof *proof = &msg->body.key_proof;
  g_autofree char *key = exchange_key (&msg->hdr);
  g_autofree char *stored_key = NULL;
  g_autoptr(Exchange) x = NULL;
  g_autoptr(GError) error = NULL;
  guint8 m2[CPNS_SRP_PROOF_LEN];
  gboolean verified;
  SrvReply *reply;

  /* One proof per challenge, whatever its outcome. */
  if (!g_hash_table_steal_extended (e->pending, key, (gpointer *) &stored_key,
                                    (gpointer *) &x) ||
      x->expires <= e->clock (e->clock_data))
    return error_reply (e, &msg->hdr, CPNS_ERROR_STATE,
                        "no Key Request of this source and transaction is pending "
                        "(it may have expired)");

  /* Proofs of challenges handed out before the limit was reached. */
  reply = check_rate (e, &msg->hdr, x->user_id, peer);
  if (reply != NULL)
    {
      srv_reply_free (reply);
      return delivery (e, &msg->hdr, CPNS_KEY_STATUS_RATE_LIMITED);
    }

  verified = cpns_srp_server_verify (x->srp, proof->client_public.data,
                                     proof->client_public.len, proof->client_proof.data,
                                     proof->client_proof.len, m2, &error);
  if (!verified && !g_error_matches (error, CPNS_ERROR, CPNS_ERROR_AUTH_FAILED) &&
      !g_error_matches (error, CPNS_ERROR, CPNS_ERROR_MALFORMED))
    return internal_error (e, &msg->hdr, error);
  if (!verified || !x->known)
    {
      srv_rate_limiter_fail (e->by_user, x->user_id);
      srv_rate_limiter_fail (e->by_address, peer);
      g_message ("failed key proof for user '%s' from '%s' (%s)", x->user_id,
                 msg->hdr.src, peer);
      return delivery (e, &msg->hdr, CPNS_KEY_STATUS_AUTH_FAILED);
    }
  srv_rate_limiter_reset (e->by_user, x->user_id);
  return deliver_key (e, &msg->hdr, x, m2);
}

SrvReply *
srv_enrolment_handle (SrvEnrolment *e, const char *peer, const guint8 *data, gsize len)
{
  CpnsPlainMessage msg;
  g_autoptr(GError) error = NULL;

  if (!cpns_plain_decode (data, len, &msg, &error))
    return srv_reply_from_error (e->self_id, NULL, 0, error);
  if (strcmp (msg.hdr.dst, e->self_id) != 0)
    return error_reply (e, &msg.hdr, CPNS_ERROR_WRONG_ID,
                        "message is not addressed to this server");
  /* No entity may take the server's own name, not even for its key. */
  if (strcmp (msg.hdr.src, e->self_id) == 0)
    return error_reply (e, &msg.hdr, CPNS_ERROR_WRONG_ID,
                        "message claims to come from this server");
  switch (msg.hdr.type)
    {
    case CPNS_MSG_KEY_REQUEST:
      return key_request (e, peer, &msg);
    case CPNS_MSG_KEY_PROOF:
      return key_proof (e, peer, &msg);
    default:
      return error_reply (e, &msg.hdr, CPNS_ERROR_STATE,
                          "this endpoint takes KEY_REQUEST and KEY_PROOF only");
    }
}
