/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The server's SQLite database: users (salt, PBKDF2 count and SRP
 * verifier, never a password), entities with their owner and EUKey,
 * Temporary Keys from manifests, and LocalEUKeys.  WAL mode lets cpns-admin
 * change it while the server runs.  Every change that touches more than one
 * row runs in one transaction, and the ownership rules of docs/protocol.md
 * 11.1 are checked inside the transaction that acts on them, so two
 * requests can never both claim one PNE. */

#include <glib-object.h>

#include "cpns-crypto.h"

G_BEGIN_DECLS

#define SRV_STORE_ERROR (srv_store_error_quark ())

typedef enum {
  SRV_STORE_ERROR_FAILED,     /* SQLite or file system failure */
  SRV_STORE_ERROR_NOT_FOUND,  /* no such user or entity (or not of the kind asked) */
  SRV_STORE_ERROR_EXISTS,     /* the user or entity exists already */
  SRV_STORE_ERROR_FORBIDDEN,  /* the entity belongs to another user */
  SRV_STORE_ERROR_CONFLICT,   /* the entity is not in the state asked for */
  SRV_STORE_ERROR_CORRUPT,    /* the file is not a database, or a damaged one */
  SRV_STORE_ERROR_VERSION,    /* the schema is newer than this program */
} SrvStoreError;

GQuark srv_store_error_quark (void);

/* Schema version this program writes (PRAGMA user_version). */
#define SRV_STORE_SCHEMA_VERSION 2

typedef enum {
  SRV_ENTITY_GATEWAY = 1,  /* enrolled itself: a PN GW, or a PNE with UI not yet paired */
  SRV_ENTITY_PNE = 2,      /* imported from a manifest, with a Temporary Key, or
                            * paired by a LocalEUKey with a PN GW */
} SrvEntityKind;

const char *srv_entity_kind_to_string (SrvEntityKind kind);

typedef struct {
  char   *user_id;
  GBytes *salt;
  guint   iterations;
  GBytes *verifier;
  gint64  created;      /* seconds since the epoch */
  guint   n_entities;   /* entities the user owns */
} SrvUser;

void srv_user_free (SrvUser *user);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SrvUser, srv_user_free)

typedef struct {
  char         *entity_id;
  SrvEntityKind kind;
  char         *owner;          /* NULL: unclaimed */
  CpnsSecret   *eukey;          /* NULL: none */
  GBytes       *eukey_kid;      /* NULL: none */
  gint64        eukey_created;
  gint64        revoked;        /* when its keys were revoked; 0: never */
  gint64        created;
  GBytes       *tk_kid;         /* NULL: no Temporary Key */
  guint         n_local_keys;   /* LocalEUKeys it shares, as PNE or as PN GW */
} SrvEntity;

void srv_entity_free (SrvEntity *entity);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SrvEntity, srv_entity_free)

/* One PNE of a manifest. */
typedef struct {
  const char   *entity_id;
  const guint8 *kid;
  gsize         kid_len;
  const guint8 *tk;
  gsize         tk_len;
} SrvNewPne;

#define SRV_TYPE_STORE (srv_store_get_type ())
G_DECLARE_FINAL_TYPE (SrvStore, srv_store, SRV, STORE, GObject)

/* Opens (creating it, 0600 in a 0700 directory, when missing) and migrates
 * the database at @path to SRV_STORE_SCHEMA_VERSION. */
SrvStore   *srv_store_open         (const char *path, GError **error);
/* As above, but migrates only up to @version: tests build older schemas. */
SrvStore   *srv_store_open_version (const char *path, guint version, GError **error);
guint       srv_store_get_version  (SrvStore *store);
const char *srv_store_get_path     (SrvStore *store);

/* ---- users ---- */

gboolean   srv_store_add_user          (SrvStore *store, const char *user_id,
                                        const guint8 *salt, gsize salt_len,
                                        guint iterations, const guint8 *verifier,
                                        gsize verifier_len, GError **error);
gboolean   srv_store_set_user_verifier (SrvStore *store, const char *user_id,
                                        const guint8 *salt, gsize salt_len,
                                        guint iterations, const guint8 *verifier,
                                        gsize verifier_len, GError **error);
/* Deletes the user and the keys of every entity it owned (which become
 * unclaimed and revoked). */
gboolean   srv_store_delete_user       (SrvStore *store, const char *user_id,
                                        GError **error);
SrvUser   *srv_store_get_user          (SrvStore *store, const char *user_id,
                                        GError **error);
/* Array of SrvUser, sorted by User ID. */
GPtrArray *srv_store_list_users        (SrvStore *store, GError **error);

/* ---- entities ---- */

SrvEntity *srv_store_get_entity    (SrvStore *store, const char *entity_id,
                                    GError **error);
/* Array of SrvEntity (without their keys), sorted by Entity ID. */
GPtrArray *srv_store_list_entities (SrvStore *store, GError **error);
/* All or nothing: on failure nothing is imported and *@failed is the index
 * of the entry that failed. */
gboolean   srv_store_import_pnes   (SrvStore *store, const SrvNewPne *pnes, guint n_pnes,
                                    guint *failed, GError **error);
/* Deletes the entity's EUKey and LocalEUKeys and marks it revoked. */
gboolean   srv_store_revoke_entity (SrvStore *store, const char *entity_id,
                                    GError **error);

/* Enrolment (protocol.md 8.1, 11.1), in one transaction: fails with
 * FORBIDDEN when another user owns @entity_id and, with @must_be_pne,
 * NOT_FOUND unless it is a known PNE; creates an unknown entity as a
 * gateway; then makes @user_id its owner and replaces its EUKey. */
gboolean    srv_store_set_eukey     (SrvStore *store, const char *entity_id,
                                     const char *user_id, gboolean must_be_pne,
                                     const guint8 *kid, gsize kid_len,
                                     const guint8 *key, gsize key_len, GError **error);
/* TK_REQUEST: the PNE must have a Temporary Key (NOT_FOUND) and be
 * unclaimed or @user_id's (FORBIDDEN); an unclaimed one is claimed. */
CpnsSecret *srv_store_claim_tk      (SrvStore *store, const char *pne_id,
                                     const char *user_id, GBytes **kid, GError **error);
/* LOCAL_KEY_REQUEST: the same ownership rule, and the PNE must hold an
 * EUKey (CONFLICT); stores the LocalEUKey for (@pne_id, @gw_id), replacing
 * an older one, and returns the PNE's EUKey to wrap it under.  An entity
 * that enrolled itself (kind gateway: a PNE with UI) becomes a PNE. */
CpnsSecret *srv_store_set_local_key (SrvStore *store, const char *pne_id,
                                     const char *gw_id, const char *user_id,
                                     const guint8 *kid, gsize kid_len,
                                     const guint8 *key, gsize key_len, GError **error);
/* The PN GW of @pne_id's most recent LocalEUKey: NULL without an error
 * when it has none. */
char       *srv_store_get_pne_gateway (SrvStore *store, const char *pne_id,
                                       GError **error);
/* PNE_RELEASE: only @user_id, the owner, may (FORBIDDEN otherwise); the
 * entity becomes unclaimed and loses its EUKey and LocalEUKeys. */
gboolean    srv_store_release       (SrvStore *store, const char *entity_id,
                                     const char *user_id, GError **error);

G_END_DECLS
