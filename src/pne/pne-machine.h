/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The PNE side of the PAN binding (docs/protocol.md, section 12) as a
 * sans-I/O state machine: the caller feeds it the messages that arrive from
 * the PN GW (one frame each, without the length prefix), sends the messages
 * it queues, and reacts to the events it raises.  It never blocks, sleeps
 * or touches a socket, so any transport and any main loop can drive it;
 * pne-link.h is one small blocking driver.
 *
 * Keys live in a CpnsKeystore the caller opens and keeps alive.  The
 * machine reads and writes these entries (all with self ID = the PNE):
 *
 *   "tk"            CPNS_KEY_TEMPORARY  peer = the CPNS Server
 *   "eukey"         CPNS_KEY_EUKEY      peer = the CPNS Server, user = owner
 *   "local:<gw>"    CPNS_KEY_LOCAL_EUKEY peer = that PN GW
 *
 * Every change is saved before the machine goes on; a change that cannot be
 * saved is undone in memory too, so the store never holds half a step. */

#include <glib.h>

#include "cpns-handshake.h"
#include "cpns-keystore.h"

G_BEGIN_DECLS

#define PNE_ENTRY_TK            "tk"
#define PNE_ENTRY_EUKEY         "eukey"
#define PNE_ENTRY_LOCAL_PREFIX  "local:"
#define PNE_DEFAULT_SERVER_ID   "cpns-server"

typedef struct {
  const char    *entity_id;   /* the PNE's own Entity ID */
  const char    *name;        /* PNE_ANNOUNCE name (1-64 bytes); NULL: entity_id */
  gboolean       has_ui;      /* can ask a person for User ID and password */
  const char    *gateway_id;  /* NULL: announce to "@pan" and learn the ID */
  const char    *server_id;   /* the server of path 3; NULL: "cpns-server" */
  CpnsRandomFunc random;      /* handshake nonces and keys; NULL: system RNG */
  gpointer       random_data;
} PneConfig;

typedef enum {
  PNE_STATE_NEW,
  PNE_STATE_ANNOUNCED,         /* waiting for PATH_SELECT or LOCAL_KEY_INSTALL */
  PNE_STATE_NEED_CREDENTIALS,  /* path 1: waiting for pne_machine_set_credentials() */
  PNE_STATE_KEY_REQUEST,       /* paths 1 and 2: SRP Key Request through the PN GW */
  PNE_STATE_BOOTSTRAP,         /* path 2: purpose-3 handshake running */
  PNE_STATE_WAIT_CREDENTIALS,  /* path 2: waiting for CREDENTIAL_INSTALL */
  PNE_STATE_WAIT_EUKEY,        /* path 3: waiting for EUKEY_TK_DELIVERY */
  PNE_STATE_LOCAL_HANDSHAKE,   /* purpose-2 handshake with the PN GW running */
  PNE_STATE_READY,             /* PNE <-> PN GW session up */
  PNE_STATE_FAILED,
} PneState;

typedef enum {
  PNE_EVENT_PATH_SELECTED,     /* path */
  PNE_EVENT_NEED_CREDENTIALS,  /* retry: TRUE after a refused password */
  PNE_EVENT_KEY_STORED,        /* kind, kid, from (the key's peer) */
  PNE_EVENT_KEY_FORGOTTEN,     /* kind, from (the key's peer) */
  PNE_EVENT_READY,             /* from = the PN GW; path = how the EUKey came
                                  in this run (0 when it was in place) */
  PNE_EVENT_SERVER_READY,      /* from = the server */
  PNE_EVENT_SERVER_LOST,       /* from = the server; code, reason */
  PNE_EVENT_DATA,              /* from, content_type, data */
  PNE_EVENT_ACK,               /* from, acked_type */
  PNE_EVENT_REFUSED,           /* from, code, reason: an ERROR, or a Key
                                  Delivery without EUKey */
} PneEventType;

typedef struct {
  PneEventType type;
  char         from[CPNS_ID_MAX + 1];
  guint64      path;
  gboolean     retry;
  CpnsKeyKind  kind;
  guint8       kid[CPNS_KID_MAX];
  gsize        kid_len;
  guint64      content_type;
  guint64      acked_type;
  guint64      code;          /* CpnsError */
  char        *reason;
  GBytes      *data;
} PneEvent;

void        pne_event_free      (PneEvent *event);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PneEvent, pne_event_free)
const char *pne_event_type_name (PneEventType type);
const char *pne_state_name      (PneState state);

typedef struct _PneMachine PneMachine;

/* @keystore is borrowed and must outlive the machine. */
PneMachine *pne_machine_new   (const PneConfig *config, CpnsKeystore *keystore,
                               GError **error);
void        pne_machine_free  (PneMachine *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PneMachine, pne_machine_free)

/* Queues the first PNE_ANNOUNCE. */
gboolean    pne_machine_start   (PneMachine *m, GError **error);

/* One message from the PN GW (a plain message or a record).  On FALSE the
 * error names what was wrong; the machine is either unchanged (the input
 * was ignored: decoding, addressing or state errors) or FAILED (a running
 * exchange cannot continue).  A refusal by the PN GW or the server raises
 * PNE_EVENT_REFUSED first. */
gboolean    pne_machine_receive (PneMachine *m, const guint8 *msg, gsize len,
                                 GError **error);

/* Next message to send to the PN GW (unframed), or NULL. */
GBytes     *pne_machine_next_output (PneMachine *m);
/* Next event, or NULL; free with pne_event_free(). */
PneEvent   *pne_machine_next_event  (PneMachine *m);

/* In PNE_STATE_NEED_CREDENTIALS: starts the Key Request.  The password is
 * copied, and every copy is wiped once it has been stretched. */
gboolean    pne_machine_set_credentials (PneMachine *m, const char *user_id,
                                         const guint8 *password, gsize password_len,
                                         GError **error);

/* In PNE_STATE_READY: a purpose-1 handshake with the server through the PN
 * GW, with the EUKey.  The server answers HS_FINISH without a body, which
 * the PN GW does not relay, so the session counts as up once HS_FINISH is
 * queued (PNE_EVENT_SERVER_READY); an ERROR from the server later drops it
 * again (PNE_EVENT_SERVER_LOST). */
gboolean    pne_machine_connect_server (PneMachine *m, GError **error);

/* DATA to @dst (the PN GW or the server) in the session with it. */
gboolean    pne_machine_send_data (PneMachine *m, const char *dst, guint32 content_type,
                                   const guint8 *data, gsize len, gboolean encrypt,
                                   GError **error);

PneState    pne_machine_get_state      (PneMachine *m);
/* NULL until the PN GW has answered. */
const char *pne_machine_get_gateway_id (PneMachine *m);
const char *pne_machine_get_server_id  (PneMachine *m);
const char *pne_machine_get_entity_id  (PneMachine *m);
gboolean    pne_machine_has_server_session (PneMachine *m);
/* TRUE while a server handshake or session exists. */
gboolean    pne_machine_server_pending (PneMachine *m);

G_END_DECLS
