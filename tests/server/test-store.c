/* SPDX-License-Identifier: GPL-3.0-or-later */

/* SrvStore: schema migrations (from nothing, from the previous version,
 * refusing a newer one), file modes, transactions that fail as a whole, and
 * the ownership rules enforced inside them. */

#include <glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "srv-store.h"

typedef struct {
  char *dir;
  char *path;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = g_dir_make_tmp ("test-store-XXXXXX", NULL);
  g_assert_nonnull (f->dir);
  /* A directory that does not exist yet: the store creates it 0700. */
  f->path = g_build_filename (f->dir, "state", "cpns.db", NULL);
}

static void
remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir == NULL)
    {
      g_unlink (path);
      return;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      remove_tree (child);
    }
  g_dir_close (dir);
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->path);
}

static const guint8 salt[16] = { 1, 2, 3 };
static const guint8 verifier[384] = { 0, 5 };
static const guint8 kid1[16] = { 0xa1 };
static const guint8 kid2[16] = { 0xa2 };
static const guint8 key1[32] = { 0x11 };
static const guint8 key2[32] = { 0x22 };
static const guint8 tk[16] = { 0x7e };

static void
add_user (SrvStore *s, const char *user)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (srv_store_add_user (s, user, salt, sizeof salt, 1000, verifier,
                                     sizeof verifier, &error));
  g_assert_no_error (error);
}

static void
import (SrvStore *s, const char *pne)
{
  g_autoptr(GError) error = NULL;
  SrvNewPne p = { pne, kid1, 2, tk, sizeof tk };

  g_assert_true (srv_store_import_pnes (s, &p, 1, NULL, &error));
  g_assert_no_error (error);
}

/* Runs @sql on the file behind the store's back. */
static void
raw_sql (const char *path, const char *sql)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
}

static gint64
raw_count (const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  gint64 n;

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  n = sqlite3_column_int64 (st, 0);
  sqlite3_finalize (st);
  sqlite3_close (db);
  return n;
}

static void
test_fresh (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) s = srv_store_open (f->path, &error);
  g_autofree char *dir = g_path_get_dirname (f->path);
  struct stat st;

  g_assert_no_error (error);
  g_assert_cmpuint (srv_store_get_version (s), ==, SRV_STORE_SCHEMA_VERSION);
  g_assert_cmpint (g_stat (dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_cmpint (g_stat (f->path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (raw_count (f->path, "PRAGMA user_version"), ==, SRV_STORE_SCHEMA_VERSION);
  g_assert_cmpint (raw_count (f->path, "SELECT count(*) FROM sqlite_master WHERE "
                              "name IN ('users', 'entities', 'temporary_keys', "
                              "'local_keys', 'entities_by_owner', 'local_keys_by_gw')"),
                   ==, 6);
  {
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
    sqlite3_prepare_v2 (db, "PRAGMA journal_mode", -1, &q, NULL);
    g_assert_cmpint (sqlite3_step (q), ==, SQLITE_ROW);
    g_assert_cmpstr ((const char *) sqlite3_column_text (q, 0), ==, "wal");
    sqlite3_finalize (q);
    sqlite3_close (db);
  }
  /* Opening again changes nothing. */
  g_clear_object (&s);
  s = srv_store_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (srv_store_get_version (s), ==, SRV_STORE_SCHEMA_VERSION);
}

static void
test_migrate_previous (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) s = srv_store_open_version (f->path, SRV_STORE_SCHEMA_VERSION - 1,
                                                  &error);
  g_autoptr(SrvUser) user = NULL;
  g_autoptr(SrvEntity) pne = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (srv_store_get_version (s), ==, SRV_STORE_SCHEMA_VERSION - 1);
  g_assert_cmpint (raw_count (f->path, "SELECT count(*) FROM sqlite_master WHERE "
                              "name = 'entities_by_owner'"), ==, 0);
  add_user (s, "alice");
  import (s, "pne-1");
  g_clear_object (&s);

  s = srv_store_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (srv_store_get_version (s), ==, SRV_STORE_SCHEMA_VERSION);
  g_assert_cmpint (raw_count (f->path, "SELECT count(*) FROM sqlite_master WHERE "
                              "name = 'entities_by_owner'"), ==, 1);
  user = srv_store_get_user (s, "alice", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (user->iterations, ==, 1000);
  pne = srv_store_get_entity (s, "pne-1", &error);
  g_assert_no_error (error);
  g_assert_cmpint (pne->kind, ==, SRV_ENTITY_PNE);
  g_assert_nonnull (pne->tk_kid);
}

static void
test_refuse_newer (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) s = srv_store_open (f->path, &error);

  g_assert_no_error (error);
  g_clear_object (&s);
  raw_sql (f->path, "PRAGMA user_version = 99");
  s = srv_store_open (f->path, &error);
  g_assert_null (s);
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_VERSION);
  g_assert_nonnull (strstr (error->message, f->path));
  g_assert_nonnull (strstr (error->message, "99"));
  /* Untouched. */
  g_assert_cmpint (raw_count (f->path, "PRAGMA user_version"), ==, 99);
}

static void
test_refuse_bad_files (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) s = NULL;
  g_autofree char *dir = g_path_get_dirname (f->path);

  g_assert_cmpint (g_mkdir (dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (f->path, "this is not a database at all, no, no, "
                                      "not even close to one", -1, NULL));
  g_assert_cmpint (g_chmod (f->path, 0600), ==, 0);
  s = srv_store_open (f->path, &error);
  g_assert_null (s);
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_CORRUPT);
  g_clear_error (&error);

  g_unlink (f->path);
  s = srv_store_open (f->path, &error);
  g_assert_no_error (error);
  g_clear_object (&s);
  g_assert_cmpint (g_chmod (f->path, 0644), ==, 0);
  s = srv_store_open (f->path, &error);
  g_assert_null (s);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM);
  g_assert_nonnull (strstr (error->message, f->path));
}

static void
test_users (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) s = srv_store_open (f->path, &error);
  g_autoptr(SrvUser) u = NULL;
  g_autoptr(GPtrArray) list = NULL;
  guint8 salt2[16] = { 9 };

  add_user (s, "bob");
  add_user (s, "alice");
  g_assert_false (srv_store_add_user (s, "alice", salt, sizeof salt, 1000, verifier,
                                      sizeof verifier, &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_assert_nonnull (strstr (error->message, "alice"));
  g_clear_error (&error);

  g_assert_true (srv_store_set_user_verifier (s, "alice", salt2, sizeof salt2, 2000,
                                              verifier, sizeof verifier, &error));
  u = srv_store_get_user (s, "alice", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (u->iterations, ==, 2000);
  g_assert_cmpmem (g_bytes_get_data (u->salt, NULL), 16, salt2, 16);
  g_assert_false (srv_store_set_user_verifier (s, "carol", salt2, sizeof salt2, 2000,
                                               verifier, sizeof verifier, &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "carol"));
  g_clear_error (&error);

  list = srv_store_list_users (s, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 2);
  g_assert_cmpstr (((SrvUser *) list->pdata[0])->user_id, ==, "alice");
  g_assert_cmpstr (((SrvUser *) list->pdata[1])->user_id, ==, "bob");

  g_assert_null (srv_store_get_user (s, "carol", &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (srv_store_delete_user (s, "carol", &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
}

static void
test_enrolment_rules (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) s = srv_store_open (f->path, &error);
  g_autoptr(SrvEntity) e = NULL;

  add_user (s, "alice");
  add_user (s, "bob");
  import (s, "pne-1");

  /* An unknown entity enrols as a gateway of its user. */
  g_assert_true (srv_store_set_eukey (s, "gw-a", "alice", FALSE, kid1, sizeof kid1, key1,
                                      sizeof key1, &error));
  g_assert_no_error (error);
  e = srv_store_get_entity (s, "gw-a", &error);
  g_assert_cmpint (e->kind, ==, SRV_ENTITY_GATEWAY);
  g_assert_cmpstr (e->owner, ==, "alice");
  g_assert_cmpmem (e->eukey->data, e->eukey->len, key1, sizeof key1);
  g_clear_pointer (&e, srv_entity_free);

  /* Re-enrolment replaces the key; another user may not take it over. */
  g_assert_true (srv_store_set_eukey (s, "gw-a", "alice", FALSE, kid2, sizeof kid2, key2,
                                      sizeof key2, &error));
  e = srv_store_get_entity (s, "gw-a", &error);
  g_assert_cmpmem (g_bytes_get_data (e->eukey_kid, NULL), 16, kid2, 16);
  g_assert_cmpmem (e->eukey->data, e->eukey->len, key2, sizeof key2);
  g_clear_pointer (&e, srv_entity_free);
  g_assert_false (srv_store_set_eukey (s, "gw-a", "bob", FALSE, kid1, sizeof kid1, key1,
                                       sizeof key1, &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_FORBIDDEN);
  g_assert_nonnull (strstr (error->message, "gw-a"));
  g_clear_error (&error);
  e = srv_store_get_entity (s, "gw-a", &error);
  g_assert_cmpmem (e->eukey->data, e->eukey->len, key2, sizeof key2);
  g_clear_pointer (&e, srv_entity_free);

  /* A subject must be a known PNE. */
  g_assert_false (srv_store_set_eukey (s, "gw-a", "alice", TRUE, kid1, sizeof kid1, key1,
                                       sizeof key1, &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (srv_store_set_eukey (s, "pne-x", "alice", TRUE, kid1, sizeof kid1, key1,
                                       sizeof key1, &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (srv_store_get_entity (s, "pne-x", &error));
  g_clear_error (&error);
  g_assert_true (srv_store_set_eukey (s, "pne-1", "alice", TRUE, kid1, sizeof kid1, key1,
                                      sizeof key1, &error));
  e = srv_store_get_entity (s, "pne-1", &error);
  g_assert_cmpint (e->kind, ==, SRV_ENTITY_PNE);
  g_assert_cmpstr (e->owner, ==, "alice");
}

static void
test_pne_rules (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) s = srv_store_open (f->path, &error);
  g_autoptr(SrvEntity) e = NULL;
  g_autoptr(GBytes) got_kid = NULL;
  g_autoptr(CpnsSecret) secret = NULL;

  add_user (s, "alice");
  add_user (s, "bob");
  import (s, "pne-1");
  import (s, "pne-2");
  g_assert_true (srv_store_set_eukey (s, "gw-a", "alice", FALSE, kid1, 16, key1, 32, NULL));
  g_assert_true (srv_store_set_eukey (s, "gw-b", "bob", FALSE, kid1, 16, key1, 32, NULL));

  /* TK: the first user claims; the other is refused; gateways have none. */
  secret = srv_store_claim_tk (s, "pne-1", "alice", &got_kid, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (secret->data, secret->len, tk, sizeof tk);
  g_assert_cmpmem (g_bytes_get_data (got_kid, NULL), g_bytes_get_size (got_kid), kid1, 2);
  g_clear_pointer (&secret, cpns_secret_free);
  g_clear_pointer (&got_kid, g_bytes_unref);
  g_assert_null (srv_store_claim_tk (s, "pne-1", "bob", &got_kid, &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_FORBIDDEN);
  g_clear_error (&error);
  g_assert_null (srv_store_claim_tk (s, "gw-a", "alice", &got_kid, &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (srv_store_claim_tk (s, "nope", "alice", &got_kid, &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* LocalEUKey: the PNE needs an EUKey, and the same owner. */
  g_assert_null (srv_store_set_local_key (s, "pne-1", "gw-a", "alice", kid2, 16, key2, 32,
                                          &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_CONFLICT);
  g_clear_error (&error);
  g_assert_true (srv_store_set_eukey (s, "pne-1", "alice", TRUE, kid1, 16, key1, 32, NULL));
  secret = srv_store_set_local_key (s, "pne-1", "gw-a", "alice", kid2, 16, key2, 32, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (secret->data, secret->len, key1, 32);
  g_clear_pointer (&secret, cpns_secret_free);
  g_assert_null (srv_store_set_local_key (s, "pne-1", "gw-b", "bob", kid2, 16, key2, 32,
                                          &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_FORBIDDEN);
  g_clear_error (&error);
  e = srv_store_get_entity (s, "pne-1", NULL);
  g_assert_cmpuint (e->n_local_keys, ==, 1);
  g_clear_pointer (&e, srv_entity_free);

  /* Release: owner only; the PNE keeps its TK and loses the rest. */
  g_assert_false (srv_store_release (s, "pne-1", "bob", &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_FORBIDDEN);
  g_clear_error (&error);
  g_assert_false (srv_store_release (s, "pne-2", "alice", &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_FORBIDDEN);
  g_clear_error (&error);
  g_assert_true (srv_store_release (s, "pne-1", "alice", &error));
  e = srv_store_get_entity (s, "pne-1", NULL);
  g_assert_null (e->owner);
  g_assert_null (e->eukey);
  g_assert_nonnull (e->tk_kid);
  g_assert_cmpuint (e->n_local_keys, ==, 0);
  g_clear_pointer (&e, srv_entity_free);
  secret = srv_store_claim_tk (s, "pne-1", "bob", &got_kid, &error);
  g_assert_no_error (error);
}

static void
test_import_all_or_nothing (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) s = srv_store_open (f->path, &error);
  g_autoptr(GPtrArray) list = NULL;
  SrvNewPne pnes[] = {
    { "pne-a", kid1, 1, tk, sizeof tk },
    { "pne-b", kid1, 1, tk, sizeof tk },
    { "pne-old", kid1, 1, tk, sizeof tk },
    { "pne-c", kid1, 1, tk, sizeof tk },
  };
  guint failed = 99;

  import (s, "pne-old");
  g_assert_false (srv_store_import_pnes (s, pnes, G_N_ELEMENTS (pnes), &failed, &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS);
  g_assert_nonnull (strstr (error->message, "pne-old"));
  g_assert_cmpuint (failed, ==, 2);
  list = srv_store_list_entities (s, NULL);
  g_assert_cmpuint (list->len, ==, 1);
  g_assert_cmpint (raw_count (f->path, "SELECT count(*) FROM temporary_keys"), ==, 1);
}

static void
test_delete_user_revokes (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) s = srv_store_open (f->path, &error);
  g_autoptr(SrvEntity) e = NULL;
  g_autoptr(CpnsSecret) secret = NULL;

  add_user (s, "alice");
  add_user (s, "bob");
  import (s, "pne-1");
  g_assert_true (srv_store_set_eukey (s, "gw-a", "alice", FALSE, kid1, 16, key1, 32, NULL));
  g_assert_true (srv_store_set_eukey (s, "gw-b", "bob", FALSE, kid1, 16, key1, 32, NULL));
  g_assert_true (srv_store_set_eukey (s, "pne-1", "alice", TRUE, kid1, 16, key1, 32, NULL));
  secret = srv_store_set_local_key (s, "pne-1", "gw-a", "alice", kid2, 16, key2, 32, NULL);
  g_assert_nonnull (secret);

  g_assert_true (srv_store_delete_user (s, "alice", &error));
  g_assert_no_error (error);
  e = srv_store_get_entity (s, "gw-a", NULL);
  g_assert_null (e->owner);
  g_assert_null (e->eukey);
  g_assert_cmpint (e->revoked, >, 0);
  g_clear_pointer (&e, srv_entity_free);
  e = srv_store_get_entity (s, "pne-1", NULL);
  g_assert_null (e->owner);
  g_assert_null (e->eukey);
  g_assert_nonnull (e->tk_kid);
  g_clear_pointer (&e, srv_entity_free);
  g_assert_cmpint (raw_count (f->path, "SELECT count(*) FROM local_keys"), ==, 0);
  e = srv_store_get_entity (s, "gw-b", NULL);
  g_assert_cmpstr (e->owner, ==, "bob");
  g_assert_nonnull (e->eukey);
}

static void
test_revoke (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) s = srv_store_open (f->path, &error);
  g_autoptr(SrvEntity) e = NULL;

  add_user (s, "alice");
  g_assert_true (srv_store_set_eukey (s, "gw-a", "alice", FALSE, kid1, 16, key1, 32, NULL));
  g_assert_true (srv_store_revoke_entity (s, "gw-a", &error));
  e = srv_store_get_entity (s, "gw-a", NULL);
  g_assert_null (e->eukey);
  g_assert_null (e->eukey_kid);
  g_assert_cmpint (e->revoked, >, 0);
  g_assert_cmpstr (e->owner, ==, "alice");
  g_clear_pointer (&e, srv_entity_free);
  g_assert_false (srv_store_revoke_entity (s, "gw-z", &error));
  g_assert_error (error, SRV_STORE_ERROR, SRV_STORE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "gw-z"));
  g_clear_error (&error);
  /* Enrolling again clears the mark. */
  g_assert_true (srv_store_set_eukey (s, "gw-a", "alice", FALSE, kid2, 16, key2, 32, NULL));
  e = srv_store_get_entity (s, "gw-a", NULL);
  g_assert_cmpint (e->revoked, ==, 0);
}

/* Two handles on one file, as cpns-admin and cpns-server have. */
static void
test_two_writers (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) server = srv_store_open (f->path, &error);
  g_autoptr(SrvStore) admin = srv_store_open (f->path, &error);
  g_autoptr(SrvUser) u = NULL;
  g_autoptr(SrvEntity) e = NULL;

  g_assert_no_error (error);
  add_user (admin, "alice");
  u = srv_store_get_user (server, "alice", &error);
  g_assert_no_error (error);
  g_assert_true (srv_store_set_eukey (server, "gw-a", "alice", FALSE, kid1, 16, key1, 32,
                                      &error));
  g_assert_true (srv_store_revoke_entity (admin, "gw-a", &error));
  e = srv_store_get_entity (server, "gw-a", &error);
  g_assert_null (e->eukey);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func) \
  g_test_add ("/store/" name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("fresh", test_fresh);
  ADD ("migrate-previous", test_migrate_previous);
  ADD ("refuse-newer", test_refuse_newer);
  ADD ("refuse-bad-files", test_refuse_bad_files);
  ADD ("users", test_users);
  ADD ("enrolment-rules", test_enrolment_rules);
  ADD ("pne-rules", test_pne_rules);
  ADD ("import-all-or-nothing", test_import_all_or_nothing);
  ADD ("delete-user-revokes", test_delete_user_revokes);
  ADD ("revoke", test_revoke);
  ADD ("two-writers", test_two_writers);
  return g_test_run ();
}
