/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* CPNS messages: the common parameters (CpnsHeader) and one body per message
 * type.  Decoding is zero-copy: byte and text fields point into the input,
 * which the caller keeps alive while it uses the decoded message. */

#include <glib.h>
#include <string.h>

#include "cpns-cbor.h"

G_BEGIN_DECLS

#define CPNS_VERSION            1
#define CPNS_ID_MAX             64    /* bytes of an Entity ID */
#define CPNS_USER_ID_MAX        128
#define CPNS_SESSION_ID_LEN     8
#define CPNS_KID_MAX            32
#define CPNS_MAX_BODY           65536 /* largest encoded body */
#define CPNS_MSG_TYPE_MAX       64    /* message types are below this */
#define CPNS_MAX_MESSAGE        (CPNS_MAX_BODY + 512)

typedef enum {
  CPNS_MSG_HS_INIT = 1,
  CPNS_MSG_HS_RESP = 2,
  CPNS_MSG_HS_FINISH = 3,
  CPNS_MSG_ERROR = 4,
  CPNS_MSG_ACK = 5,
  CPNS_MSG_KEY_REQUEST = 16,
  CPNS_MSG_KEY_CHALLENGE = 17,
  CPNS_MSG_KEY_PROOF = 18,
  CPNS_MSG_KEY_DELIVERY = 19,
  CPNS_MSG_TK_REQUEST = 20,
  CPNS_MSG_TK_DELIVERY = 21,
  CPNS_MSG_LOCAL_KEY_REQUEST = 22,
  CPNS_MSG_LOCAL_KEY_DELIVERY = 23,
  CPNS_MSG_EUKEY_TK_DELIVERY = 24,
  CPNS_MSG_PNE_RELEASE = 25,
  CPNS_MSG_PNE_ANNOUNCE = 32,
  CPNS_MSG_PATH_SELECT = 33,
  CPNS_MSG_CREDENTIAL_INSTALL = 34,
  CPNS_MSG_LOCAL_KEY_INSTALL = 35,
  CPNS_MSG_DATA = 48,
  CPNS_MSG_POLL = 49,
} CpnsMsgType;

/* Where a message type may travel (docs/protocol.md, "Message policy"). */
typedef enum {
  CPNS_CARRY_PLAIN = 1 << 0,         /* outside a session */
  CPNS_CARRY_RECORD = 1 << 1,        /* inside a session record */
  CPNS_CARRY_MUST_ENCRYPT = 1 << 2,  /* in a record, only COSE_Encrypt0 */
} CpnsCarry;

typedef struct {
  const guint8 *data;
  gsize         len;
} CpnsBytes;

typedef struct {
  guint64   version;
  guint64   type;
  guint64   txid;
  char      src[CPNS_ID_MAX + 1];
  char      dst[CPNS_ID_MAX + 1];
  /* Records only: */
  gboolean  in_record;
  guint8    session_id[CPNS_SESSION_ID_LEN];
  guint64   seq;
  gboolean  encrypted;
} CpnsHeader;

#define CPNS_LIST_MAX 8
typedef struct {
  guint   n;
  guint64 v[CPNS_LIST_MAX];
} CpnsUintList;

typedef struct {
  CpnsUintList suites, modes;
  CpnsBytes    kid, nonce, key_share;
  guint64      purpose;
} CpnsHsInit;

typedef struct {
  guint64   suite, mode;
  CpnsBytes nonce, key_share;
} CpnsHsResp;

typedef struct {
  guint64   code;
  CpnsBytes reason;
} CpnsErrorBody;

typedef struct {
  guint64 type;   /* the message type acknowledged */
} CpnsAck;

typedef struct {
  CpnsBytes user_id, subject;
} CpnsKeyRequest;

typedef struct {
  guint64   group;
  CpnsBytes salt;
  guint64   iterations;
  CpnsBytes server_public;
} CpnsKeyChallenge;

typedef struct {
  CpnsBytes client_public, client_proof;
} CpnsKeyProof;

typedef enum {
  CPNS_KEY_STATUS_OK = 0,
  CPNS_KEY_STATUS_AUTH_FAILED = 1,
  CPNS_KEY_STATUS_RATE_LIMITED = 2,
  CPNS_KEY_STATUS_REFUSED = 3,
} CpnsKeyStatus;

typedef struct {
  guint64   status;
  CpnsBytes server_proof, kid, wrapped_key;
} CpnsKeyDelivery;

typedef struct {
  CpnsBytes pne;
} CpnsPneRef;

typedef struct {
  CpnsBytes pne, kid, tk;
} CpnsTkDelivery;

typedef struct {
  CpnsBytes pne, kid, local_key, wrapped_for_pne;
} CpnsLocalKeyDelivery;

typedef struct {
  CpnsBytes kid, tk_kid, wrapped_key, user_id;
} CpnsEukeyTkDelivery;

typedef struct {
  CpnsBytes name;
  gboolean  has_ui, has_tk;
  CpnsBytes tk_kid;
  CpnsBytes eukey_kid;   /* present when the PNE holds an EUKey */
  CpnsBytes local_kid;   /* present when it holds a LocalEUKey */
} CpnsPneAnnounce;

/* Destination of a PNE_ANNOUNCE whose sender does not know the PN GW's
 * Entity ID: "the gateway at the other end of this link".  No entity may
 * have this ID. */
#define CPNS_PAN_GATEWAY_ID "@pan"

typedef enum {
  CPNS_PATH_SESSION = 0,       /* keys in place: run the PNE <-> PN GW handshake */
  CPNS_PATH_PNE_UI = 1,        /* 7.4.1 */
  CPNS_PATH_INSTALL_CREDS = 2, /* 7.4.2 */
  CPNS_PATH_TEMPORARY_KEY = 3, /* 7.4.3 */
} CpnsPath;

typedef struct {
  guint64   path;
  CpnsBytes server_id;  /* paths 1 and 2: where the PNE sends its KEY_REQUEST */
} CpnsPathSelect;
typedef struct {
  CpnsBytes kid, wrapped_key;
} CpnsLocalKeyInstall;

typedef struct {
  CpnsBytes user_id, password;
} CpnsCredentialInstall;

typedef struct {
  guint64   content_type;
  CpnsBytes data;
} CpnsData;

typedef struct {
  guint32 present;  /* bit k set when body key k is present */
  union {
    CpnsHsInit            hs_init;
    CpnsHsResp            hs_resp;
    CpnsErrorBody         error;
    CpnsAck               ack;
    CpnsKeyRequest        key_request;
    CpnsKeyChallenge      key_challenge;
    CpnsKeyProof          key_proof;
    CpnsKeyDelivery       key_delivery;
    CpnsPneRef            pne_ref;  /* TK_REQUEST, LOCAL_KEY_REQUEST, PNE_RELEASE */
    CpnsTkDelivery        tk_delivery;
    CpnsLocalKeyDelivery  local_key_delivery;
    CpnsEukeyTkDelivery   eukey_tk_delivery;
    CpnsPneAnnounce       pne_announce;
    CpnsPathSelect        path_select;
    CpnsCredentialInstall credential_install;
    CpnsLocalKeyInstall   local_key_install;
    CpnsData              data;
  };
} CpnsBody;

const char *cpns_msg_type_name  (guint64 type);
CpnsCarry   cpns_msg_type_carry (guint64 type);  /* 0 for unknown types */

gboolean cpns_entity_id_is_valid (const char *id, gsize len);
gboolean cpns_header_set_ids     (CpnsHeader *hdr, const char *src, const char *dst,
                                  GError **error);

/* Header map: shared by plain messages and the protected header of records. */
void     cpns_header_write (CpnsCborWriter *w, const CpnsHeader *hdr);
gboolean cpns_header_read  (CpnsCborReader *r, CpnsHeader *hdr, gboolean in_record,
                            GError **error);

/* Body map of @type.  Encoding checks the same rules as decoding so that we
 * never send what a peer must reject. */
gboolean cpns_body_write (CpnsCborWriter *w, guint64 type, const CpnsBody *body,
                          GError **error);
gboolean cpns_body_read  (CpnsCborReader *r, guint64 type, CpnsBody *body,
                          GError **error);
gboolean cpns_body_decode (const guint8 *data, gsize len, guint64 type,
                           CpnsBody *body, GError **error);
/* Encodes into @buf; returns the length or 0 with @error set. */
gsize    cpns_body_encode (guint64 type, const CpnsBody *body, guint8 *buf, gsize cap,
                           GError **error);

/* Plain message: [header, body] or, for handshake confirmations,
 * [header, body, mac]. */
typedef struct {
  CpnsHeader hdr;
  CpnsBody   body;
  CpnsBytes  mac;          /* empty when absent */
  CpnsBytes  signed_part;  /* encoded header and body, as on the wire */
} CpnsPlainMessage;

gsize    cpns_plain_encode (const CpnsHeader *hdr, const CpnsBody *body,
                            const guint8 *mac, gsize mac_len,
                            guint8 *buf, gsize cap, GError **error);
gboolean cpns_plain_decode (const guint8 *data, gsize len, CpnsPlainMessage *msg,
                            GError **error);

#define CPNS_BYTES(d, l) ((CpnsBytes) { (const guint8 *) (d), (l) })
#define CPNS_STR(s) CPNS_BYTES ((s), strlen (s))

G_END_DECLS
