/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* One keystore file per daemon: AEAD-encrypted under a key-encryption key
 * kept in a separate file (or a systemd credential), 0600 in a 0700
 * directory, replaced atomically on every save (docs/protocol.md,
 * "Keystore"). */

#include <glib.h>

#include "cpns-crypto.h"
#include "cpns-handshake.h"

G_BEGIN_DECLS

#define CPNS_KEK_LEN 32

typedef enum {
  CPNS_KEY_EUKEY = 1,
  CPNS_KEY_LOCAL_EUKEY = 2,
  CPNS_KEY_TEMPORARY = 3,
} CpnsKeyKind;

typedef struct {
  char       *name;       /* unique within the store */
  CpnsKeyKind kind;
  char       *self_id;
  char       *peer_id;
  char       *user_id;    /* may be NULL */
  guint8      kid[CPNS_KID_MAX];
  gsize       kid_len;
  CpnsSecret *key;
  CpnsRole    role;       /* the handshake role we take with this key */
  gint64      created;    /* seconds since the epoch */
} CpnsKeyEntry;

CpnsKeyEntry *cpns_key_entry_copy (const CpnsKeyEntry *entry);
void          cpns_key_entry_free (CpnsKeyEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpnsKeyEntry, cpns_key_entry_free)
/* A handshake PSK from an entry. */
void          cpns_key_entry_to_psk (const CpnsKeyEntry *entry, CpnsPsk *psk);

typedef struct _CpnsKeystore CpnsKeystore;

/* Opens @path (which need not exist yet).  The key-encryption key is read
 * from @kek_path; with @create_kek a missing one is generated. */
CpnsKeystore       *cpns_keystore_open   (const char *path, const char *kek_path,
                                          gboolean create_kek, GError **error);
void                cpns_keystore_free   (CpnsKeystore *ks);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpnsKeystore, cpns_keystore_free)

const CpnsKeyEntry *cpns_keystore_lookup (CpnsKeystore *ks, const char *name);
/* Names of all entries, sorted; free with g_strfreev(). */
char              **cpns_keystore_list   (CpnsKeystore *ks);
/* Changes only the in-memory store; cpns_keystore_save() commits. */
gboolean            cpns_keystore_set    (CpnsKeystore *ks, const CpnsKeyEntry *entry,
                                          GError **error);
gboolean            cpns_keystore_remove (CpnsKeystore *ks, const char *name);
gboolean            cpns_keystore_save   (CpnsKeystore *ks, GError **error);
guint64             cpns_keystore_get_generation (CpnsKeystore *ks);

G_END_DECLS
