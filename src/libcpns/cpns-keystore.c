/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-keystore.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpns-cbor.h"
#include "cpns-error.h"
#include "cpns-message.h"

#define MAGIC "CPNSKS01"
#define MAGIC_LEN 8
#define FORMAT_VERSION 1
#define MAX_FILE (1024 * 1024)
#define MAX_ENTRIES 4096

struct _CpnsKeystore {
  char       *path;
  guint8      kek[CPNS_KEK_LEN];
  GHashTable *entries;   /* name -> CpnsKeyEntry */
  guint64     generation;
};

/* ---- entries ---- */

CpnsKeyEntry *
cpns_key_entry_copy (const CpnsKeyEntry *e)
{
  CpnsKeyEntry *c = g_new0 (CpnsKeyEntry, 1);

  *c = *e;
  c->name = g_strdup (e->name);
  c->self_id = g_strdup (e->self_id);
  c->peer_id = g_strdup (e->peer_id);
  c->user_id = g_strdup (e->user_id);
  c->key = cpns_secret_new (e->key->data, e->key->len);
  return c;
}

void
cpns_key_entry_free (CpnsKeyEntry *e)
{
  if (e == NULL)
    return;
  g_free (e->name);
  g_free (e->self_id);
  g_free (e->peer_id);
  g_free (e->user_id);
  cpns_secret_free (e->key);
  cpns_wipe (e, sizeof *e);
  g_free (e);
}

void
cpns_key_entry_to_psk (const CpnsKeyEntry *e, CpnsPsk *psk)
{
  memset (psk, 0, sizeof *psk);
  psk->key_len = MIN (e->key->len, sizeof psk->key);
  memcpy (psk->key, e->key->data, psk->key_len);
  psk->kid_len = e->kid_len;
  memcpy (psk->kid, e->kid, e->kid_len);
  psk->role = e->role;
}

static gboolean
entry_is_valid (const CpnsKeyEntry *e, GError **error)
{
  if (e->name == NULL || e->name[0] == '\0' || strlen (e->name) > 128 ||
      !g_utf8_validate (e->name, -1, NULL))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "key entry needs a name of 1-128 bytes of UTF-8");
      return FALSE;
    }
  if (e->kind < CPNS_KEY_EUKEY || e->kind > CPNS_KEY_TEMPORARY ||
      e->self_id == NULL || !cpns_entity_id_is_valid (e->self_id, strlen (e->self_id)) ||
      e->peer_id == NULL || !cpns_entity_id_is_valid (e->peer_id, strlen (e->peer_id)) ||
      (e->user_id != NULL && strlen (e->user_id) > CPNS_USER_ID_MAX) ||
      e->kid_len == 0 || e->kid_len > CPNS_KID_MAX ||
      e->key == NULL || e->key->len < 16 || e->key->len > 64 ||
      (e->role != CPNS_ROLE_INITIATOR && e->role != CPNS_ROLE_RESPONDER))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                   "key entry '%s' has an invalid kind, ID, key ID, key or role",
                   e->name);
      return FALSE;
    }
  return TRUE;
}

/* ---- file helpers ---- */

static gboolean
io_error (GError **error, int err, const char *what, const char *path)
{
  g_set_error (error, CPNS_ERROR, CPNS_ERROR_IO, "%s '%s': %s", what, path,
               g_strerror (err));
  return FALSE;
}

static gboolean
check_private_dir (const char *dir, GError **error)
{
  struct stat st;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    return io_error (error, errno, "cannot create directory", dir);
  if (stat (dir, &st) != 0)
    return io_error (error, errno, "cannot examine directory", dir);
  if ((st.st_mode & 0077) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_IO,
                   "directory '%s' is accessible by others (mode %04o); "
                   "it must be 0700", dir, st.st_mode & 07777);
      return FALSE;
    }
  return TRUE;
}

static gboolean
read_private_file (const char *path, guint8 **data, gsize *len, GError **error)
{
  struct stat st;
  int fd;
  gsize done = 0;

  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return io_error (error, errno, "cannot open", path);
  if (fstat (fd, &st) != 0)
    {
      int err = errno;
      close (fd);
      return io_error (error, err, "cannot examine", path);
    }
  if (!S_ISREG (st.st_mode) || (st.st_mode & 0077) != 0 || st.st_size > MAX_FILE)
    {
      close (fd);
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_IO,
                   "'%s' must be a regular file of at most %d bytes readable only "
                   "by its owner (mode %04o)", path, MAX_FILE, st.st_mode & 07777);
      return FALSE;
    }
  *data = g_malloc (MAX (st.st_size, 1));
  while (done < (gsize) st.st_size)
    {
      ssize_t n = read (fd, *data + done, st.st_size - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int err = n < 0 ? errno : EIO;
          close (fd);
          cpns_wipe (*data, st.st_size);
          g_clear_pointer (data, g_free);
          return io_error (error, err, "cannot read", path);
        }
      done += n;
    }
  close (fd);
  *len = done;
  return TRUE;
}

static gboolean
write_all (int fd, const guint8 *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= n;
    }
  return TRUE;
}

static gboolean
fsync_dir (const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int ret;

  if (fd < 0)
    return io_error (error, errno, "cannot open directory", dir);
  ret = fsync (fd);
  close (fd);
  if (ret != 0)
    return io_error (error, errno, "cannot sync directory", dir);
  return TRUE;
}

/* temp file, write, fsync, rename, fsync of the directory */
static gboolean
write_atomically (const char *path, const guint8 *data, gsize len, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".tmp-XXXXXX", NULL);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0600);

  if (fd < 0)
    return io_error (error, errno, "cannot create temporary file for", path);
  if (!write_all (fd, data, len) || fsync (fd) != 0)
    {
      int err = errno;
      close (fd);
      unlink (tmp);
      return io_error (error, err, "cannot write", tmp);
    }
  if (close (fd) != 0)
    {
      int err = errno;
      unlink (tmp);
      return io_error (error, err, "cannot close", tmp);
    }
  if (rename (tmp, path) != 0)
    {
      int err = errno;
      unlink (tmp);
      return io_error (error, err, "cannot replace", path);
    }
  return fsync_dir (path, error);
}

static gboolean
load_kek (const char *kek_path, gboolean create, guint8 kek[CPNS_KEK_LEN],
          GError **error)
{
  g_autofree guint8 *data = NULL;
  gsize len = 0;

  if (create && !g_file_test (kek_path, G_FILE_TEST_EXISTS))
    {
      g_autofree char *dir = g_path_get_dirname (kek_path);
      gboolean ok;

      if (!check_private_dir (dir, error) || !cpns_random (kek, CPNS_KEK_LEN, error))
        return FALSE;
      ok = write_atomically (kek_path, kek, CPNS_KEK_LEN, error);
      if (!ok)
        cpns_wipe (kek, CPNS_KEK_LEN);
      return ok;
    }
  if (!read_private_file (kek_path, &data, &len, error))
    return FALSE;
  if (len != CPNS_KEK_LEN)
    {
      cpns_wipe (data, len);
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_CORRUPT,
                   "key-encryption key '%s' has %" G_GSIZE_FORMAT " bytes, must be %d",
                   kek_path, len, CPNS_KEK_LEN);
      return FALSE;
    }
  memcpy (kek, data, CPNS_KEK_LEN);
  cpns_wipe (data, len);
  return TRUE;
}

static CpnsAead *
file_aead (CpnsKeystore *ks, GError **error)
{
  guint8 prk[CPNS_HASH_LEN], key[32];
  CpnsAead *aead = NULL;

  if (cpns_hkdf_extract (NULL, 0, ks->kek, CPNS_KEK_LEN, prk, error) &&
      cpns_expand_label (prk, "keystore", NULL, 0, key, sizeof key, error))
    aead = cpns_aead_new (CPNS_ALG_CHACHA20_POLY1305, key, sizeof key, error);
  cpns_wipe (prk, sizeof prk);
  cpns_wipe (key, sizeof key);
  return aead;
}

/* ---- encoding of the plaintext ---- */

enum {
  E_NAME = 1, E_KIND, E_SELF, E_PEER, E_KID, E_KEY, E_ROLE, E_CREATED, E_USER,
};

static void
put_str (CpnsCborWriter *w, const char *s)
{
  cpns_cbor_put_text (w, s, strlen (s));
}

static gsize
text_len (const char *text)
{
  return text != NULL ? strlen (text) : 0;
}

/* At least the encoded size: a head of at most 9 bytes per item besides
 * the texts and bytes themselves.  A gateway saves its keystore once per
 * PNE, so the buffer is sized to the entries rather than to the largest
 * entry possible times their number (1 MB for a thousand PNEs). */
static gsize
encoded_bound (CpnsKeystore *ks)
{
  GHashTableIter iter;
  gpointer value;
  gsize bound = 64;

  g_hash_table_iter_init (&iter, ks->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      const CpnsKeyEntry *e = value;

      bound += 19 * 9 + text_len (e->name) + text_len (e->self_id) + text_len (e->peer_id) +
               text_len (e->user_id) + e->kid_len + e->key->len;
    }
  return bound;
}

static gsize
encode_entries (CpnsKeystore *ks, guint8 *buf, gsize cap)
{
  g_auto(GStrv) names = cpns_keystore_list (ks);
  CpnsCborWriter w;

  cpns_cbor_writer_init (&w, buf, cap);
  cpns_cbor_put_map (&w, 3);
  cpns_cbor_put_uint (&w, 1);
  cpns_cbor_put_uint (&w, FORMAT_VERSION);
  cpns_cbor_put_uint (&w, 2);
  cpns_cbor_put_uint (&w, ks->generation);
  cpns_cbor_put_uint (&w, 3);
  cpns_cbor_put_array (&w, g_strv_length (names));
  for (char **n = names; *n != NULL; n++)
    {
      const CpnsKeyEntry *e = g_hash_table_lookup (ks->entries, *n);
      cpns_cbor_put_map (&w, e->user_id != NULL ? 9 : 8);
      cpns_cbor_put_uint (&w, E_NAME);
      put_str (&w, e->name);
      cpns_cbor_put_uint (&w, E_KIND);
      cpns_cbor_put_uint (&w, e->kind);
      cpns_cbor_put_uint (&w, E_SELF);
      put_str (&w, e->self_id);
      cpns_cbor_put_uint (&w, E_PEER);
      put_str (&w, e->peer_id);
      cpns_cbor_put_uint (&w, E_KID);
      cpns_cbor_put_bytes (&w, e->kid, e->kid_len);
      cpns_cbor_put_uint (&w, E_KEY);
      cpns_cbor_put_bytes (&w, e->key->data, e->key->len);
      cpns_cbor_put_uint (&w, E_ROLE);
      cpns_cbor_put_uint (&w, e->role);
      cpns_cbor_put_uint (&w, E_CREATED);
      cpns_cbor_put_uint (&w, MAX (e->created, 0));
      if (e->user_id != NULL)
        {
          cpns_cbor_put_uint (&w, E_USER);
          put_str (&w, e->user_id);
        }
    }
  return w.overflow ? 0 : w.len;
}

static gboolean
read_entry (CpnsCborReader *r, CpnsKeyEntry *e, GError **error)
{
  gsize count;
  guint32 seen = 0;

  if (!cpns_cbor_read_map (r, &count, "keystore entry", error))
    return FALSE;
  for (gsize i = 0; i < count; i++)
    {
      guint64 key, v;
      const char *text;
      const guint8 *bytes;
      gsize len;
      gboolean ok;

      if (!cpns_cbor_read_uint (r, &key, "keystore entry key", error))
        return FALSE;
      if (key < E_NAME || key > E_USER || (seen & (1u << key)))
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_CORRUPT,
                       "keystore entry: unknown or repeated field %" G_GUINT64_FORMAT, key);
          return FALSE;
        }
      seen |= 1u << key;
      switch (key)
        {
        case E_NAME: case E_SELF: case E_PEER: case E_USER:
          ok = cpns_cbor_read_text (r, &text, &len, "keystore entry", error);
          if (ok)
            {
              char *s = g_strndup (text, len);
              if (key == E_NAME) e->name = s;
              else if (key == E_SELF) e->self_id = s;
              else if (key == E_PEER) e->peer_id = s;
              else e->user_id = s;
            }
          break;
        case E_KID:
          ok = cpns_cbor_read_bytes (r, &bytes, &len, "keystore key ID", error);
          if (ok && (len == 0 || len > CPNS_KID_MAX))
            {
              g_set_error (error, CPNS_ERROR, CPNS_ERROR_CORRUPT,
                           "keystore entry: bad key ID length");
              ok = FALSE;
            }
          if (ok)
            {
              memcpy (e->kid, bytes, len);
              e->kid_len = len;
            }
          break;
        case E_KEY:
          ok = cpns_cbor_read_bytes (r, &bytes, &len, "keystore key", error);
          if (ok)
            e->key = cpns_secret_new (bytes, len);
          break;
        default:
          ok = cpns_cbor_read_uint (r, &v, "keystore entry", error);
          if (key == E_KIND) e->kind = v > 255 ? 0 : v;
          else if (key == E_ROLE) e->role = v > 255 ? 0 : v;
          else e->created = v > G_MAXINT64 ? 0 : (gint64) v;
          break;
        }
      if (!ok)
        return FALSE;
    }
  return entry_is_valid (e, error);
}

static gboolean
decode_entries (CpnsKeystore *ks, const guint8 *data, gsize len, GError **error)
{
  CpnsCborReader r;
  gsize count, n;
  guint64 key, version, generation;

  cpns_cbor_reader_init (&r, data, len);
  if (!cpns_cbor_read_map (&r, &count, "keystore", error) || count != 3 ||
      !cpns_cbor_read_uint (&r, &key, "keystore", error) || key != 1 ||
      !cpns_cbor_read_uint (&r, &version, "keystore version", error) ||
      !cpns_cbor_read_uint (&r, &key, "keystore", error) || key != 2 ||
      !cpns_cbor_read_uint (&r, &generation, "keystore generation", error) ||
      !cpns_cbor_read_uint (&r, &key, "keystore", error) || key != 3 ||
      !cpns_cbor_read_array (&r, &n, "keystore entries", error))
    {
      g_clear_error (error);
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_CORRUPT,
                   "keystore '%s' has an invalid layout", ks->path);
      return FALSE;
    }
  if (version != FORMAT_VERSION || n > MAX_ENTRIES)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_UNSUPPORTED,
                   "keystore '%s' has format version %" G_GUINT64_FORMAT
                   " or too many entries", ks->path, version);
      return FALSE;
    }
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(CpnsKeyEntry) e = g_new0 (CpnsKeyEntry, 1);
      if (!read_entry (&r, e, error))
        {
          g_prefix_error (error, "keystore '%s': ", ks->path);
          return FALSE;
        }
      if (g_hash_table_contains (ks->entries, e->name))
        {
          g_set_error (error, CPNS_ERROR, CPNS_ERROR_CORRUPT,
                       "keystore '%s': entry '%s' appears twice", ks->path, e->name);
          return FALSE;
        }
      g_hash_table_insert (ks->entries, e->name, e);
      e = NULL;
    }
  ks->generation = generation;
  return cpns_cbor_reader_end (&r, "keystore", error);
}

/* A kill at the wrong moment can leave a temporary file of ours behind:
 * the real file is still intact, so the leftover only needs removing. */
static void
remove_leftovers (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *prefix = g_strconcat (base, ".tmp-", NULL);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, prefix) && strlen (name) == strlen (prefix) + 6)
      {
        g_autofree char *leftover = g_build_filename (dir, name, NULL);
        if (unlink (leftover) == 0)
          g_debug ("removed unfinished keystore write %s", leftover);
      }
}

/* ---- public API ---- */

CpnsKeystore *
cpns_keystore_open (const char *path, const char *kek_path, gboolean create_kek,
                    GError **error)
{
  g_autoptr(CpnsKeystore) ks = g_new0 (CpnsKeystore, 1);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree guint8 *data = NULL;
  g_autoptr(CpnsAead) aead = NULL;
  g_autoptr(CpnsSecret) plain = NULL;
  gsize len = 0;

  ks->path = g_strdup (path);
  ks->entries = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify) cpns_key_entry_free);
  if (!check_private_dir (dir, error) ||
      !load_kek (kek_path, create_kek, ks->kek, error))
    return NULL;
  remove_leftovers (path);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return g_steal_pointer (&ks);

  if (!read_private_file (path, &data, &len, error))
    return NULL;
  if (len < MAGIC_LEN + CPNS_AEAD_IV_LEN + CPNS_AEAD_TAG_LEN ||
      memcmp (data, MAGIC, MAGIC_LEN) != 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_CORRUPT,
                   "'%s' is not a keystore (bad magic or too short)", path);
      return NULL;
    }
  aead = file_aead (ks, error);
  if (aead == NULL)
    return NULL;
  plain = cpns_secret_new0 (len - MAGIC_LEN - CPNS_AEAD_IV_LEN - CPNS_AEAD_TAG_LEN);
  if (!cpns_aead_open (aead, data + MAGIC_LEN, data, MAGIC_LEN,
                       data + MAGIC_LEN + CPNS_AEAD_IV_LEN,
                       len - MAGIC_LEN - CPNS_AEAD_IV_LEN, plain->data, error))
    {
      g_clear_error (error);
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_CORRUPT,
                   "keystore '%s' fails its integrity check (corrupted, or the "
                   "key-encryption key is not the one it was written with)", path);
      return NULL;
    }
  if (!decode_entries (ks, plain->data, plain->len, error))
    return NULL;
  return g_steal_pointer (&ks);
}

void
cpns_keystore_free (CpnsKeystore *ks)
{
  if (ks == NULL)
    return;
  g_clear_pointer (&ks->entries, g_hash_table_unref);
  g_free (ks->path);
  cpns_wipe (ks->kek, sizeof ks->kek);
  g_free (ks);
}

const CpnsKeyEntry *
cpns_keystore_lookup (CpnsKeystore *ks, const char *name)
{
  return g_hash_table_lookup (ks->entries, name);
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

char **
cpns_keystore_list (CpnsKeystore *ks)
{
  guint n;
  char **names = (char **) g_hash_table_get_keys_as_array (ks->entries, &n);
  char **copy = g_new0 (char *, n + 1);

  qsort (names, n, sizeof (char *), compare_names);
  for (guint i = 0; i < n; i++)
    copy[i] = g_strdup (names[i]);
  g_free (names);
  return copy;
}

gboolean
cpns_keystore_set (CpnsKeystore *ks, const CpnsKeyEntry *entry, GError **error)
{
  CpnsKeyEntry *copy;

  if (!entry_is_valid (entry, error))
    return FALSE;
  if (g_hash_table_size (ks->entries) >= MAX_ENTRIES &&
      !g_hash_table_contains (ks->entries, entry->name))
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_TOO_LARGE,
                   "keystore holds the maximum of %d entries", MAX_ENTRIES);
      return FALSE;
    }
  copy = cpns_key_entry_copy (entry);
  g_hash_table_replace (ks->entries, copy->name, copy);
  return TRUE;
}

gboolean
cpns_keystore_remove (CpnsKeystore *ks, const char *name)
{
  return g_hash_table_remove (ks->entries, name);
}

guint64
cpns_keystore_get_generation (CpnsKeystore *ks)
{
  return ks->generation;
}

gboolean
cpns_keystore_save (CpnsKeystore *ks, GError **error)
{
  g_autoptr(CpnsAead) aead = NULL;
  g_autoptr(CpnsSecret) plain = cpns_secret_new0 (encoded_bound (ks));
  g_autoptr(CpnsSecret) file = NULL;
  gsize plain_len;
  gboolean ok;

  ks->generation++;
  plain_len = encode_entries (ks, plain->data, plain->len);
  if (plain_len == 0)
    {
      ks->generation--;
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_FAILED, "keystore encoding overflow");
      return FALSE;
    }
  aead = file_aead (ks, error);
  file = cpns_secret_new0 (MAGIC_LEN + CPNS_AEAD_IV_LEN + plain_len + CPNS_AEAD_TAG_LEN);
  memcpy (file->data, MAGIC, MAGIC_LEN);
  ok = aead != NULL &&
       cpns_random (file->data + MAGIC_LEN, CPNS_AEAD_IV_LEN, error) &&
       cpns_aead_seal (aead, file->data + MAGIC_LEN, file->data, MAGIC_LEN,
                       plain->data, plain_len, file->data + MAGIC_LEN + CPNS_AEAD_IV_LEN,
                       error) &&
       write_atomically (ks->path, file->data, file->len, error);
  if (!ok)
    ks->generation--;
  return ok;
}
