/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-store.h"

#include <sqlite3.h>
#include <string.h>

#include "srv-files.h"

G_DEFINE_QUARK (srv-store-error-quark, srv_store_error)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

/* How long a writer waits for another (cpns-admin, or a second server
 * process) before it gives up. */
#define BUSY_TIMEOUT_MS 5000

/* Migration steps: migrations[i] takes the schema from version i to i + 1.
 * Each runs in its own transaction together with the version bump.  Never
 * edit a step once released: append a new one. */
static const char *const migrations[] = {
  /* 0 -> 1: the tables. */
  "CREATE TABLE users ("
  "  user_id    TEXT PRIMARY KEY NOT NULL,"
  "  salt       BLOB NOT NULL,"
  "  iterations INTEGER NOT NULL,"
  "  verifier   BLOB NOT NULL,"
  "  created    INTEGER NOT NULL);"
  "CREATE TABLE entities ("
  "  entity_id     TEXT PRIMARY KEY NOT NULL,"
  "  kind          TEXT NOT NULL CHECK (kind IN ('gateway', 'pne')),"
  "  owner_user    TEXT REFERENCES users (user_id) ON DELETE SET NULL,"
  "  eukey         BLOB,"
  "  eukey_kid     BLOB,"
  "  eukey_created INTEGER,"
  "  revoked       INTEGER NOT NULL DEFAULT 0,"
  "  created       INTEGER NOT NULL,"
  "  CHECK ((eukey IS NULL) = (eukey_kid IS NULL)));"
  "CREATE TABLE temporary_keys ("
  "  pne_id TEXT PRIMARY KEY NOT NULL"
  "         REFERENCES entities (entity_id) ON DELETE CASCADE,"
  "  kid    BLOB NOT NULL,"
  "  tk     BLOB NOT NULL);"
  "CREATE TABLE local_keys ("
  "  pne_id  TEXT NOT NULL REFERENCES entities (entity_id) ON DELETE CASCADE,"
  "  gw_id   TEXT NOT NULL REFERENCES entities (entity_id) ON DELETE CASCADE,"
  "  kid     BLOB NOT NULL,"
  "  key     BLOB NOT NULL,"
  "  created INTEGER NOT NULL,"
  "  PRIMARY KEY (pne_id, gw_id));",
  /* 1 -> 2: deleting a user sets owner_user to NULL and revoking an entity
   * deletes its LocalEUKeys as PN GW; both searched the whole table. */
  "CREATE INDEX entities_by_owner ON entities (owner_user);"
  "CREATE INDEX local_keys_by_gw ON local_keys (gw_id);",
};

G_STATIC_ASSERT (G_N_ELEMENTS (migrations) == SRV_STORE_SCHEMA_VERSION);

struct _SrvStore {
  GObject  parent_instance;
  char    *path;
  sqlite3 *db;
  guint    version;
};

G_DEFINE_TYPE (SrvStore, srv_store, G_TYPE_OBJECT)

static void
srv_store_finalize (GObject *object)
{
  SrvStore *s = SRV_STORE (object);

  if (s->db != NULL)
    sqlite3_close_v2 (s->db);
  g_free (s->path);
  G_OBJECT_CLASS (srv_store_parent_class)->finalize (object);
}

static void
srv_store_class_init (SrvStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = srv_store_finalize;
}

static void
srv_store_init (SrvStore *s)
{
}

const char *
srv_entity_kind_to_string (SrvEntityKind kind)
{
  return kind == SRV_ENTITY_PNE ? "pne" : "gateway";
}

void
srv_user_free (SrvUser *user)
{
  if (user == NULL)
    return;
  g_free (user->user_id);
  g_clear_pointer (&user->salt, g_bytes_unref);
  g_clear_pointer (&user->verifier, g_bytes_unref);
  g_free (user);
}

void
srv_entity_free (SrvEntity *entity)
{
  if (entity == NULL)
    return;
  g_free (entity->entity_id);
  g_free (entity->owner);
  cpns_secret_free (entity->eukey);
  g_clear_pointer (&entity->eukey_kid, g_bytes_unref);
  g_clear_pointer (&entity->tk_kid, g_bytes_unref);
  g_free (entity);
}

/* ---- SQLite plumbing ---- */

static gboolean
sql_error (SrvStore *s, int rc, const char *what, GError **error)
{
  int code = SRV_STORE_ERROR_FAILED;

  if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
    code = SRV_STORE_ERROR_CORRUPT;
  g_set_error (error, SRV_STORE_ERROR, code, "%s: %s: %s", s->path, what,
               s->db != NULL ? sqlite3_errmsg (s->db) : sqlite3_errstr (rc));
  return FALSE;
}

static gboolean
exec (SrvStore *s, const char *sql, const char *what, GError **error)
{
  int rc = sqlite3_exec (s->db, sql, NULL, NULL, NULL);

  return rc == SQLITE_OK || sql_error (s, rc, what, error);
}

static sqlite3_stmt *
prepare (SrvStore *s, const char *sql, const char *what, GError **error)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2 (s->db, sql, -1, &st, NULL);

  if (rc != SQLITE_OK)
    {
      sql_error (s, rc, what, error);
      return NULL;
    }
  return st;
}

#define STEP_FAILED(rc) ((rc) != SQLITE_ROW && (rc) != SQLITE_DONE)

/* SQLITE_ROW or SQLITE_DONE, or another code with @error set. */
static int
step (SrvStore *s, sqlite3_stmt *st, const char *what, GError **error)
{
  int rc = sqlite3_step (st);

  if (STEP_FAILED (rc))
    sql_error (s, rc, what, error);
  return rc;
}

static gboolean
run (SrvStore *s, sqlite3_stmt *st, const char *what, GError **error)
{
  int rc = step (s, st, what, error);

  return !STEP_FAILED (rc);
}

/* Keys are bound without a copy: the statement lives shorter than they do,
 * and each copy would be one more to wipe. */
static void
bind_blob (sqlite3_stmt *st, int i, const guint8 *data, gsize len)
{
  sqlite3_bind_blob (st, i, data, (int) len, SQLITE_STATIC);
}

static void
bind_text (sqlite3_stmt *st, int i, const char *text)
{
  if (text == NULL)
    sqlite3_bind_null (st, i);
  else
    sqlite3_bind_text (st, i, text, -1, SQLITE_STATIC);
}

static char *
column_text (sqlite3_stmt *st, int col)
{
  if (sqlite3_column_type (st, col) == SQLITE_NULL)
    return NULL;
  return g_strdup ((const char *) sqlite3_column_text (st, col));
}

static GBytes *
column_bytes (sqlite3_stmt *st, int col)
{
  if (sqlite3_column_type (st, col) == SQLITE_NULL)
    return NULL;
  return g_bytes_new (sqlite3_column_blob (st, col), sqlite3_column_bytes (st, col));
}

static CpnsSecret *
column_secret (sqlite3_stmt *st, int col)
{
  if (sqlite3_column_type (st, col) == SQLITE_NULL)
    return NULL;
  return cpns_secret_new (sqlite3_column_blob (st, col), sqlite3_column_bytes (st, col));
}

static gint64
now (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

/* SQLite's own failures say which user or entity they concerned (the
 * other errors name it already).  Returns FALSE. */
static gboolean
about (GError **error, const char *kind, const char *name)
{
  if (error != NULL && *error != NULL && (*error)->domain == SRV_STORE_ERROR &&
      ((*error)->code == SRV_STORE_ERROR_FAILED || (*error)->code == SRV_STORE_ERROR_CORRUPT))
    g_prefix_error (error, "%s '%s': ", kind, name);
  return FALSE;
}

typedef gboolean (*TransactionFunc) (SrvStore *s, gpointer data, GError **error);

/* BEGIN IMMEDIATE takes the write lock up front: a transaction that reads
 * and then writes cannot fail half-way because another writer came first. */
static gboolean
transaction (SrvStore *s, TransactionFunc func, gpointer data, GError **error)
{
  if (!exec (s, "BEGIN IMMEDIATE", "cannot start a transaction", error))
    return FALSE;
  if (!func (s, data, error) || !exec (s, "COMMIT", "cannot commit", error))
    {
      sqlite3_exec (s->db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }
  return TRUE;
}

/* ---- opening and migrations ---- */

static gboolean
read_version (SrvStore *s, guint *version, GError **error)
{
  g_autoptr(sqlite3_stmt) st = prepare (s, "PRAGMA user_version",
                                        "cannot read the schema version", error);

  if (st == NULL ||
      step (s, st, "cannot read the schema version", error) != SQLITE_ROW)
    return FALSE;
  *version = (guint) sqlite3_column_int (st, 0);
  return TRUE;
}

typedef struct {
  guint    target;
  guint    version;  /* after the step */
  gboolean applied;
} MigrateStep;

static gboolean
migrate_one (SrvStore *s, gpointer data, GError **error)
{
  MigrateStep *m = data;
  g_autofree char *bump = NULL;
  g_autofree char *what = NULL;
  guint version;

  /* Read inside the transaction: another process may have migrated. */
  m->applied = FALSE;
  if (!read_version (s, &version, error))
    return FALSE;
  if (version > SRV_STORE_SCHEMA_VERSION)
    {
      g_set_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_VERSION,
                   "%s has schema version %u, newer than the %d this program "
                   "knows; use a newer cpns-server", s->path, version,
                   SRV_STORE_SCHEMA_VERSION);
      return FALSE;
    }
  m->version = version;
  if (version >= m->target)
    return TRUE;
  what = g_strdup_printf ("cannot migrate the schema from version %u to %u", version,
                          version + 1);
  bump = g_strdup_printf ("PRAGMA user_version = %u", version + 1);
  if (!exec (s, migrations[version], what, error) || !exec (s, bump, what, error))
    return FALSE;
  m->version = version + 1;
  m->applied = TRUE;
  return TRUE;
}

static gboolean
migrate (SrvStore *s, guint target, GError **error)
{
  MigrateStep m = { .target = target };

  do
    {
      if (!transaction (s, migrate_one, &m, error))
        return FALSE;
      if (m.applied)
        g_debug ("%s: schema now at version %u", s->path, m.version);
    }
  while (m.applied && m.version < target);
  s->version = m.version;
  return TRUE;
}

/* The PRAGMA answers the mode in force: a database on a file system
 * without shared memory stays in another mode. */
static gboolean
set_wal (SrvStore *s, GError **error)
{
  g_autoptr(sqlite3_stmt) st = prepare (s, "PRAGMA journal_mode = WAL",
                                        "cannot select the WAL journal", error);
  const char *mode;

  if (st == NULL || step (s, st, "cannot select the WAL journal", error) != SQLITE_ROW)
    return FALSE;
  mode = (const char *) sqlite3_column_text (st, 0);
  if (g_ascii_strcasecmp (mode, "wal") != 0)
    {
      g_set_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_FAILED,
                   "%s: SQLite refused the WAL journal (mode is '%s')", s->path, mode);
      return FALSE;
    }
  return TRUE;
}

SrvStore *
srv_store_open_version (const char *path, guint version, GError **error)
{
  g_autoptr(SrvStore) s = g_object_new (SRV_TYPE_STORE, NULL);
  g_autofree char *dir = g_path_get_dirname (path);
  int rc;

  g_return_val_if_fail (version <= SRV_STORE_SCHEMA_VERSION, NULL);
  s->path = g_strdup (path);
  if (!srv_files_ensure_private_dir (dir, error) ||
      !srv_files_ensure_private_file (path, error))
    return NULL;
  rc = sqlite3_open_v2 (path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
  if (rc != SQLITE_OK)
    {
      sql_error (s, rc, "cannot open the database", error);
      return NULL;
    }
  sqlite3_extended_result_codes (s->db, 1);
  sqlite3_busy_timeout (s->db, BUSY_TIMEOUT_MS);
  /* secure_delete overwrites deleted keys in the file instead of leaving
   * them in free pages. */
  if (!exec (s, "PRAGMA foreign_keys = ON", "cannot enable foreign keys", error) ||
      !exec (s, "PRAGMA secure_delete = ON", "cannot enable secure delete", error) ||
      !set_wal (s, error) ||
      !exec (s, "PRAGMA synchronous = NORMAL", "cannot set synchronous mode", error) ||
      !migrate (s, version, error))
    return NULL;
  return g_steal_pointer (&s);
}

SrvStore *
srv_store_open (const char *path, GError **error)
{
  return srv_store_open_version (path, SRV_STORE_SCHEMA_VERSION, error);
}

guint
srv_store_get_version (SrvStore *s)
{
  return s->version;
}

const char *
srv_store_get_path (SrvStore *s)
{
  return s->path;
}

/* ---- users ---- */

typedef struct {
  const char   *user_id;
  const guint8 *salt;
  gsize         salt_len;
  guint         iterations;
  const guint8 *verifier;
  gsize         verifier_len;
} UserArgs;

static gboolean
user_exists (SrvStore *s, const char *user_id, gboolean *exists, GError **error)
{
  g_autoptr(sqlite3_stmt) st = prepare (s, "SELECT 1 FROM users WHERE user_id = ?",
                                        "cannot look up a user", error);
  int rc;

  if (st == NULL)
    return FALSE;
  bind_text (st, 1, user_id);
  rc = step (s, st, "cannot look up a user", error);
  if (STEP_FAILED (rc))
    return FALSE;
  *exists = rc == SQLITE_ROW;
  return TRUE;
}

static gboolean
add_user_tx (SrvStore *s, gpointer data, GError **error)
{
  UserArgs *a = data;
  g_autoptr(sqlite3_stmt) st = NULL;
  gboolean exists;

  if (!user_exists (s, a->user_id, &exists, error))
    return FALSE;
  if (exists)
    {
      g_set_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS,
                   "user '%s' exists already", a->user_id);
      return FALSE;
    }
  st = prepare (s, "INSERT INTO users (user_id, salt, iterations, verifier, created) "
                "VALUES (?, ?, ?, ?, ?)", "cannot add a user", error);
  if (st == NULL)
    return FALSE;
  bind_text (st, 1, a->user_id);
  bind_blob (st, 2, a->salt, a->salt_len);
  sqlite3_bind_int64 (st, 3, a->iterations);
  bind_blob (st, 4, a->verifier, a->verifier_len);
  sqlite3_bind_int64 (st, 5, now ());
  return run (s, st, "cannot add a user", error);
}

gboolean
srv_store_add_user (SrvStore *s, const char *user_id, const guint8 *salt,
                    gsize salt_len, guint iterations, const guint8 *verifier,
                    gsize verifier_len, GError **error)
{
  UserArgs a = { user_id, salt, salt_len, iterations, verifier, verifier_len };

  return transaction (s, add_user_tx, &a, error) || about (error, "user", user_id);
}

static gboolean
no_such_user (SrvStore *s, const char *user_id, GError **error)
{
  g_set_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND, "no user '%s'",
               user_id);
  return FALSE;
}

gboolean
srv_store_set_user_verifier (SrvStore *s, const char *user_id, const guint8 *salt,
                             gsize salt_len, guint iterations, const guint8 *verifier,
                             gsize verifier_len, GError **error)
{
  g_autoptr(sqlite3_stmt) st = prepare (s, "UPDATE users SET salt = ?, iterations = ?, "
                                        "verifier = ? WHERE user_id = ?",
                                        "cannot change a password", error);

  if (st == NULL)
    return about (error, "user", user_id);
  bind_blob (st, 1, salt, salt_len);
  sqlite3_bind_int64 (st, 2, iterations);
  bind_blob (st, 3, verifier, verifier_len);
  bind_text (st, 4, user_id);
  if (!run (s, st, "cannot change a password", error))
    return about (error, "user", user_id);
  if (sqlite3_changes (s->db) == 0)
    return no_such_user (s, user_id, error);
  return TRUE;
}

static gboolean
delete_user_tx (SrvStore *s, gpointer data, GError **error)
{
  const char *user_id = data;
  static const char *const sql[] = {
    "DELETE FROM local_keys WHERE pne_id IN "
    "(SELECT entity_id FROM entities WHERE owner_user = ?1) OR gw_id IN "
    "(SELECT entity_id FROM entities WHERE owner_user = ?1)",
    "UPDATE entities SET eukey = NULL, eukey_kid = NULL, eukey_created = NULL, "
    "revoked = ?2 WHERE owner_user = ?1",
    "DELETE FROM users WHERE user_id = ?1",
  };
  gboolean exists;

  if (!user_exists (s, user_id, &exists, error))
    return FALSE;
  if (!exists)
    return no_such_user (s, user_id, error);
  for (guint i = 0; i < G_N_ELEMENTS (sql); i++)
    {
      g_autoptr(sqlite3_stmt) st = prepare (s, sql[i], "cannot delete a user", error);

      if (st == NULL)
        return FALSE;
      bind_text (st, 1, user_id);
      if (sqlite3_bind_parameter_count (st) >= 2)
        sqlite3_bind_int64 (st, 2, now ());
      if (!run (s, st, "cannot delete a user", error))
        return FALSE;
    }
  return TRUE;
}

gboolean
srv_store_delete_user (SrvStore *s, const char *user_id, GError **error)
{
  return transaction (s, delete_user_tx, (gpointer) user_id, error) ||
         about (error, "user", user_id);
}

#define USER_COLUMNS \
  "SELECT u.user_id, u.salt, u.iterations, u.verifier, u.created, " \
  "(SELECT count(*) FROM entities e WHERE e.owner_user = u.user_id) FROM users u "

static SrvUser *
user_from_row (sqlite3_stmt *st)
{
  SrvUser *u = g_new0 (SrvUser, 1);

  u->user_id = column_text (st, 0);
  u->salt = column_bytes (st, 1);
  u->iterations = (guint) sqlite3_column_int64 (st, 2);
  u->verifier = column_bytes (st, 3);
  u->created = sqlite3_column_int64 (st, 4);
  u->n_entities = (guint) sqlite3_column_int (st, 5);
  return u;
}

static gboolean
user_is_sane (SrvStore *s, const SrvUser *u, GError **error)
{
  if (u->salt == NULL || u->verifier == NULL || u->iterations == 0)
    {
      g_set_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_CORRUPT,
                   "%s: user '%s' has no usable verifier", s->path, u->user_id);
      return FALSE;
    }
  return TRUE;
}

SrvUser *
srv_store_get_user (SrvStore *s, const char *user_id, GError **error)
{
  g_autoptr(sqlite3_stmt) st = prepare (s, USER_COLUMNS "WHERE u.user_id = ?",
                                        "cannot look up a user", error);
  g_autoptr(SrvUser) u = NULL;
  int rc;

  if (st == NULL)
    {
      about (error, "user", user_id);
      return NULL;
    }
  bind_text (st, 1, user_id);
  rc = step (s, st, "cannot look up a user", error);
  if (STEP_FAILED (rc))
    {
      about (error, "user", user_id);
      return NULL;
    }
  if (rc == SQLITE_DONE)
    {
      no_such_user (s, user_id, error);
      return NULL;
    }
  u = user_from_row (st);
  if (!user_is_sane (s, u, error))
    return NULL;
  return g_steal_pointer (&u);
}

GPtrArray *
srv_store_list_users (SrvStore *s, GError **error)
{
  g_autoptr(sqlite3_stmt) st = prepare (s, USER_COLUMNS "ORDER BY u.user_id",
                                        "cannot list users", error);
  g_autoptr(GPtrArray) users =
    g_ptr_array_new_with_free_func ((GDestroyNotify) srv_user_free);
  int rc;

  if (st == NULL)
    return NULL;
  while ((rc = step (s, st, "cannot list users", error)) == SQLITE_ROW)
    g_ptr_array_add (users, user_from_row (st));
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&users);
}

/* ---- entities ---- */

#define ENTITY_COLUMNS \
  "SELECT e.entity_id, e.kind, e.owner_user, e.eukey, e.eukey_kid, e.eukey_created, " \
  "e.revoked, e.created, t.kid, " \
  "(SELECT count(*) FROM local_keys l WHERE l.pne_id = e.entity_id " \
  " OR l.gw_id = e.entity_id) " \
  "FROM entities e LEFT JOIN temporary_keys t ON t.pne_id = e.entity_id "

static SrvEntity *
entity_from_row (sqlite3_stmt *st, gboolean with_key)
{
  SrvEntity *e = g_new0 (SrvEntity, 1);
  const char *kind = (const char *) sqlite3_column_text (st, 1);

  e->entity_id = column_text (st, 0);
  e->kind = g_strcmp0 (kind, "pne") == 0 ? SRV_ENTITY_PNE : SRV_ENTITY_GATEWAY;
  e->owner = column_text (st, 2);
  if (with_key)
    e->eukey = column_secret (st, 3);
  e->eukey_kid = column_bytes (st, 4);
  e->eukey_created = sqlite3_column_int64 (st, 5);
  e->revoked = sqlite3_column_int64 (st, 6);
  e->created = sqlite3_column_int64 (st, 7);
  e->tk_kid = column_bytes (st, 8);
  e->n_local_keys = (guint) sqlite3_column_int (st, 9);
  return e;
}

static gboolean
no_such_entity (const char *entity_id, GError **error)
{
  g_set_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND, "no entity '%s'",
               entity_id);
  return FALSE;
}

/* NULL without an error when there is no such entity. */
static SrvEntity *
find_entity (SrvStore *s, const char *entity_id, GError **error)
{
  g_autoptr(sqlite3_stmt) st = prepare (s, ENTITY_COLUMNS "WHERE e.entity_id = ?",
                                        "cannot look up an entity", error);
  int rc;

  if (st == NULL)
    return NULL;
  bind_text (st, 1, entity_id);
  rc = step (s, st, "cannot look up an entity", error);
  if (rc != SQLITE_ROW)
    return NULL;
  return entity_from_row (st, TRUE);
}

SrvEntity *
srv_store_get_entity (SrvStore *s, const char *entity_id, GError **error)
{
  GError *local = NULL;
  SrvEntity *e = find_entity (s, entity_id, &local);

  if (e == NULL && local == NULL)
    no_such_entity (entity_id, &local);
  if (local != NULL)
    {
      g_propagate_error (error, local);
      about (error, "entity", entity_id);
    }
  return e;
}

GPtrArray *
srv_store_list_entities (SrvStore *s, GError **error)
{
  g_autoptr(sqlite3_stmt) st = prepare (s, ENTITY_COLUMNS "ORDER BY e.entity_id",
                                        "cannot list entities", error);
  g_autoptr(GPtrArray) list =
    g_ptr_array_new_with_free_func ((GDestroyNotify) srv_entity_free);
  int rc;

  if (st == NULL)
    return NULL;
  while ((rc = step (s, st, "cannot list entities", error)) == SQLITE_ROW)
    g_ptr_array_add (list, entity_from_row (st, FALSE));
  if (rc != SQLITE_DONE)
    return NULL;
  return g_steal_pointer (&list);
}

typedef struct {
  const SrvNewPne *pnes;
  guint            n;
  guint            failed;
} ImportArgs;

static gboolean
import_one (SrvStore *s, sqlite3_stmt *ins_entity, sqlite3_stmt *ins_tk,
            const SrvNewPne *p, gint64 created, GError **error)
{
  g_autoptr(SrvEntity) existing = NULL;
  GError *local = NULL;

  existing = find_entity (s, p->entity_id, &local);
  if (local != NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  if (existing != NULL)
    {
      g_set_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS,
                   "entity '%s' exists already", p->entity_id);
      return FALSE;
    }
  sqlite3_reset (ins_entity);
  bind_text (ins_entity, 1, p->entity_id);
  sqlite3_bind_int64 (ins_entity, 2, created);
  sqlite3_reset (ins_tk);
  bind_text (ins_tk, 1, p->entity_id);
  bind_blob (ins_tk, 2, p->kid, p->kid_len);
  bind_blob (ins_tk, 3, p->tk, p->tk_len);
  return run (s, ins_entity, "cannot import a PNE", error) &&
         run (s, ins_tk, "cannot import a Temporary Key", error);
}

static gboolean
import_tx (SrvStore *s, gpointer data, GError **error)
{
  ImportArgs *a = data;
  g_autoptr(sqlite3_stmt) ins_entity = NULL;
  g_autoptr(sqlite3_stmt) ins_tk = NULL;
  gint64 created = now ();

  ins_entity = prepare (s, "INSERT INTO entities (entity_id, kind, created) "
                        "VALUES (?, 'pne', ?)", "cannot import a PNE", error);
  ins_tk = ins_entity == NULL ? NULL :
           prepare (s, "INSERT INTO temporary_keys (pne_id, kid, tk) VALUES (?, ?, ?)",
                    "cannot import a Temporary Key", error);
  if (ins_tk == NULL)
    return FALSE;
  for (a->failed = 0; a->failed < a->n; a->failed++)
    if (!import_one (s, ins_entity, ins_tk, &a->pnes[a->failed], created, error))
      return FALSE;
  return TRUE;
}

gboolean
srv_store_import_pnes (SrvStore *s, const SrvNewPne *pnes, guint n_pnes, guint *failed,
                       GError **error)
{
  ImportArgs a = { pnes, n_pnes, 0 };
  gboolean ok = transaction (s, import_tx, &a, error);

  if (!ok && failed != NULL)
    *failed = a.failed;
  return ok;
}

/* Deletes the EUKey and LocalEUKeys of @entity_id; with @revoked nonzero it
 * is recorded as revoked then, and with @unclaim it loses its owner. */
static gboolean
drop_keys (SrvStore *s, const char *entity_id, gint64 revoked, gboolean unclaim,
           GError **error)
{
  g_autoptr(sqlite3_stmt) del = prepare (s, "DELETE FROM local_keys WHERE pne_id = ?1 "
                                         "OR gw_id = ?1", "cannot delete keys", error);
  g_autoptr(sqlite3_stmt) upd = NULL;

  if (del == NULL)
    return FALSE;
  bind_text (del, 1, entity_id);
  if (!run (s, del, "cannot delete LocalEUKeys", error))
    return FALSE;
  upd = prepare (s, unclaim ?
                 "UPDATE entities SET eukey = NULL, eukey_kid = NULL, "
                 "eukey_created = NULL, owner_user = NULL WHERE entity_id = ?1" :
                 "UPDATE entities SET eukey = NULL, eukey_kid = NULL, "
                 "eukey_created = NULL, revoked = ?2 WHERE entity_id = ?1",
                 "cannot delete an EUKey", error);
  if (upd == NULL)
    return FALSE;
  bind_text (upd, 1, entity_id);
  if (!unclaim)
    sqlite3_bind_int64 (upd, 2, revoked);
  return run (s, upd, "cannot delete an EUKey", error);
}

static gboolean
revoke_tx (SrvStore *s, gpointer data, GError **error)
{
  const char *entity_id = data;
  g_autoptr(SrvEntity) e = NULL;
  GError *local = NULL;

  e = find_entity (s, entity_id, &local);
  if (local != NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  if (e == NULL)
    return no_such_entity (entity_id, error);
  return drop_keys (s, entity_id, now (), FALSE, error);
}

gboolean
srv_store_revoke_entity (SrvStore *s, const char *entity_id, GError **error)
{
  return transaction (s, revoke_tx, (gpointer) entity_id, error) ||
         about (error, "entity", entity_id);
}

/* The ownership rule of protocol.md 11.1: unclaimed or @user_id's. */
static gboolean
check_owner (const SrvEntity *e, const char *user_id, GError **error)
{
  if (e->owner != NULL && strcmp (e->owner, user_id) != 0)
    {
      g_set_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_FORBIDDEN,
                   "entity '%s' belongs to another user than '%s'", e->entity_id,
                   user_id);
      return FALSE;
    }
  return TRUE;
}

static gboolean
claim (SrvStore *s, const SrvEntity *e, const char *user_id, GError **error)
{
  g_autoptr(sqlite3_stmt) st = NULL;

  if (e->owner != NULL)
    return TRUE;
  st = prepare (s, "UPDATE entities SET owner_user = ? WHERE entity_id = ? "
                "AND owner_user IS NULL", "cannot claim an entity", error);
  if (st == NULL)
    return FALSE;
  bind_text (st, 1, user_id);
  bind_text (st, 2, e->entity_id);
  if (!run (s, st, "cannot claim an entity", error))
    return FALSE;
  g_message ("entity '%s' claimed by user '%s'", e->entity_id, user_id);
  return TRUE;
}

/* The entity, inside a transaction; NULL with NOT_FOUND when missing. */
static SrvEntity *
entity_tx (SrvStore *s, const char *entity_id, GError **error)
{
  GError *local = NULL;
  SrvEntity *e = find_entity (s, entity_id, &local);

  if (local != NULL)
    g_propagate_error (error, local);
  else if (e == NULL)
    no_such_entity (entity_id, error);
  return e;
}

typedef struct {
  const char   *entity_id;
  const char   *user_id;
  gboolean      must_be_pne;
  const char   *gw_id;
  const guint8 *kid;
  gsize         kid_len;
  const guint8 *key;
  gsize         key_len;
  /* out */
  CpnsSecret   *secret;
  GBytes       *secret_kid;
} KeyArgs;

static gboolean
set_eukey_tx (SrvStore *s, gpointer data, GError **error)
{
  KeyArgs *a = data;
  g_autoptr(SrvEntity) e = NULL;
  g_autoptr(sqlite3_stmt) st = NULL;
  GError *local = NULL;

  e = find_entity (s, a->entity_id, &local);
  if (local != NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  if (a->must_be_pne && (e == NULL || e->kind != SRV_ENTITY_PNE))
    {
      g_set_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND,
                   "'%s' is not a known PNE", a->entity_id);
      return FALSE;
    }
  if (e != NULL && !check_owner (e, a->user_id, error))
    return FALSE;
  if (e == NULL)
    {
      st = prepare (s, "INSERT INTO entities (entity_id, kind, created) "
                    "VALUES (?, 'gateway', ?)", "cannot add an entity", error);
      if (st == NULL)
        return FALSE;
      bind_text (st, 1, a->entity_id);
      sqlite3_bind_int64 (st, 2, now ());
      if (!run (s, st, "cannot add an entity", error))
        return FALSE;
      g_clear_pointer (&st, sqlite3_finalize);
    }
  st = prepare (s, "UPDATE entities SET owner_user = ?, eukey = ?, eukey_kid = ?, "
                "eukey_created = ?, revoked = 0 WHERE entity_id = ?",
                "cannot store an EUKey", error);
  if (st == NULL)
    return FALSE;
  bind_text (st, 1, a->user_id);
  bind_blob (st, 2, a->key, a->key_len);
  bind_blob (st, 3, a->kid, a->kid_len);
  sqlite3_bind_int64 (st, 4, now ());
  bind_text (st, 5, a->entity_id);
  return run (s, st, "cannot store an EUKey", error);
}

gboolean
srv_store_set_eukey (SrvStore *s, const char *entity_id, const char *user_id,
                     gboolean must_be_pne, const guint8 *kid, gsize kid_len,
                     const guint8 *key, gsize key_len, GError **error)
{
  KeyArgs a = {
    .entity_id = entity_id, .user_id = user_id, .must_be_pne = must_be_pne,
    .kid = kid, .kid_len = kid_len, .key = key, .key_len = key_len,
  };

  return transaction (s, set_eukey_tx, &a, error) || about (error, "entity", entity_id);
}

static gboolean
claim_tk_tx (SrvStore *s, gpointer data, GError **error)
{
  KeyArgs *a = data;
  g_autoptr(SrvEntity) e = entity_tx (s, a->entity_id, error);
  g_autoptr(sqlite3_stmt) st = NULL;

  if (e == NULL)
    return FALSE;
  if (e->kind != SRV_ENTITY_PNE || e->tk_kid == NULL)
    {
      g_set_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND,
                   "'%s' is not a PNE with a Temporary Key", a->entity_id);
      return FALSE;
    }
  if (!check_owner (e, a->user_id, error) || !claim (s, e, a->user_id, error))
    return FALSE;
  st = prepare (s, "SELECT kid, tk FROM temporary_keys WHERE pne_id = ?",
                "cannot read a Temporary Key", error);
  if (st == NULL)
    return FALSE;
  bind_text (st, 1, a->entity_id);
  if (step (s, st, "cannot read a Temporary Key", error) != SQLITE_ROW)
    return FALSE;
  a->secret_kid = column_bytes (st, 0);
  a->secret = column_secret (st, 1);
  return TRUE;
}

CpnsSecret *
srv_store_claim_tk (SrvStore *s, const char *pne_id, const char *user_id, GBytes **kid,
                    GError **error)
{
  KeyArgs a = { .entity_id = pne_id, .user_id = user_id };

  if (!transaction (s, claim_tk_tx, &a, error))
    {
      about (error, "PNE", pne_id);
      cpns_secret_free (a.secret);
      g_clear_pointer (&a.secret_kid, g_bytes_unref);
      return NULL;
    }
  *kid = a.secret_kid;
  return a.secret;
}

static gboolean
set_local_key_tx (SrvStore *s, gpointer data, GError **error)
{
  KeyArgs *a = data;
  g_autoptr(SrvEntity) e = entity_tx (s, a->entity_id, error);
  g_autoptr(sqlite3_stmt) st = NULL;

  if (e == NULL || !check_owner (e, a->user_id, error))
    return FALSE;
  if (e->eukey == NULL)
    {
      g_set_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_CONFLICT,
                   "PNE '%s' holds no EUKey yet", a->entity_id);
      return FALSE;
    }
  if (!claim (s, e, a->user_id, error))
    return FALSE;
  /* A PNE with UI enrolled itself and looked like a gateway until now. */
  if (e->kind != SRV_ENTITY_PNE && strcmp (a->entity_id, a->gw_id) != 0)
    {
      st = prepare (s, "UPDATE entities SET kind = 'pne' WHERE entity_id = ?",
                    "cannot mark an entity as a PNE", error);
      if (st == NULL)
        return FALSE;
      bind_text (st, 1, a->entity_id);
      if (!run (s, st, "cannot mark an entity as a PNE", error))
        return FALSE;
      g_clear_pointer (&st, sqlite3_finalize);
      g_message ("entity '%s' is a PNE: paired with '%s'", a->entity_id, a->gw_id);
    }
  st = prepare (s, "INSERT OR REPLACE INTO local_keys (pne_id, gw_id, kid, key, created) "
                "VALUES (?, ?, ?, ?, ?)", "cannot store a LocalEUKey", error);
  if (st == NULL)
    return FALSE;
  bind_text (st, 1, a->entity_id);
  bind_text (st, 2, a->gw_id);
  bind_blob (st, 3, a->kid, a->kid_len);
  bind_blob (st, 4, a->key, a->key_len);
  sqlite3_bind_int64 (st, 5, now ());
  if (!run (s, st, "cannot store a LocalEUKey", error))
    return FALSE;
  a->secret = g_steal_pointer (&e->eukey);
  return TRUE;
}

CpnsSecret *
srv_store_set_local_key (SrvStore *s, const char *pne_id, const char *gw_id,
                         const char *user_id, const guint8 *kid, gsize kid_len,
                         const guint8 *key, gsize key_len, GError **error)
{
  KeyArgs a = {
    .entity_id = pne_id, .gw_id = gw_id, .user_id = user_id,
    .kid = kid, .kid_len = kid_len, .key = key, .key_len = key_len,
  };

  if (!transaction (s, set_local_key_tx, &a, error))
    {
      about (error, "PNE", pne_id);
      cpns_secret_free (a.secret);
      return NULL;
    }
  return a.secret;
}

char *
srv_store_get_pne_gateway (SrvStore *s, const char *pne_id, GError **error)
{
  /* INSERT OR REPLACE makes a new row: the rowid breaks ties of one second. */
  g_autoptr(sqlite3_stmt) st = prepare (s, "SELECT gw_id FROM local_keys WHERE pne_id = ? "
                                        "ORDER BY created DESC, rowid DESC LIMIT 1",
                                        "cannot look up a LocalEUKey", error);
  int rc;

  if (st == NULL)
    return NULL;
  bind_text (st, 1, pne_id);
  rc = step (s, st, "cannot look up a LocalEUKey", error);
  return rc == SQLITE_ROW ? column_text (st, 0) : NULL;
}

static gboolean
release_tx (SrvStore *s, gpointer data, GError **error)
{
  KeyArgs *a = data;
  g_autoptr(SrvEntity) e = entity_tx (s, a->entity_id, error);

  if (e == NULL)
    return FALSE;
  if (g_strcmp0 (e->owner, a->user_id) != 0)
    {
      g_set_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_FORBIDDEN,
                   "entity '%s' is not owned by '%s'", a->entity_id, a->user_id);
      return FALSE;
    }
  return drop_keys (s, a->entity_id, 0, TRUE, error);
}

gboolean
srv_store_release (SrvStore *s, const char *entity_id, const char *user_id,
                   GError **error)
{
  KeyArgs a = { .entity_id = entity_id, .user_id = user_id };

  return transaction (s, release_tx, &a, error) || about (error, "entity", entity_id);
}
