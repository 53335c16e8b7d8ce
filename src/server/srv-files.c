/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-files.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static gboolean
set_errno_error (GError **error, int err, const char *what, const char *path)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err), "%s %s: %s", what,
               path, g_strerror (err));
  return FALSE;
}

gboolean
srv_files_ensure_private_dir (const char *dir, GError **error)
{
  struct stat st;

  if (stat (dir, &st) == 0)
    {
      if (!S_ISDIR (st.st_mode))
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR, "%s is not a directory",
                       dir);
          return FALSE;
        }
      if (st.st_mode & 0077)
        g_message ("directory %s is open to group or others; 0700 keeps the key "
                   "database private", dir);
      return TRUE;
    }
  if (errno != ENOENT)
    return set_errno_error (error, errno, "cannot inspect", dir);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    return set_errno_error (error, errno, "cannot create directory", dir);
  /* g_mkdir_with_parents() is subject to the umask; 0700 is what we want. */
  if (chmod (dir, 0700) != 0)
    return set_errno_error (error, errno, "cannot set the mode of", dir);
  return TRUE;
}

static gboolean
check_private (int fd, const char *path, GError **error)
{
  struct stat st;

  if (fstat (fd, &st) != 0)
    return set_errno_error (error, errno, "cannot inspect", path);
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s is not a regular file",
                   path);
      return FALSE;
    }
  if (st.st_mode & 0077)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                   "%s holds secrets but group or others may access it (mode %04o); "
                   "chmod 0600 it", path, (unsigned) (st.st_mode & 07777));
      return FALSE;
    }
  return TRUE;
}

gboolean
srv_files_ensure_private_file (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  gboolean ok;

  if (fd < 0)
    return set_errno_error (error, errno, "cannot open", path);
  ok = check_private (fd, path, error);
  close (fd);
  return ok;
}

static CpnsSecret *
read_secret (const char *path, gsize len, GError **error)
{
  g_autoptr(CpnsSecret) secret = cpns_secret_new0 (len);
  int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  gssize n;

  if (fd < 0)
    {
      set_errno_error (error, errno, "cannot open", path);
      return NULL;
    }
  if (!check_private (fd, path, error))
    {
      close (fd);
      return NULL;
    }
  /* One byte more than expected tells a longer file from a right one. */
  {
    guint8 extra;
    n = read (fd, secret->data, len);
    if (n == (gssize) len && read (fd, &extra, 1) != 0)
      n = -2;
  }
  close (fd);
  if (n != (gssize) len)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s must hold exactly %" G_GSIZE_FORMAT " bytes", path, len);
      return NULL;
    }
  return g_steal_pointer (&secret);
}

/* Written to a temporary name and linked into place, so a reader never sees
 * a partial secret and two processes starting at once agree on one. */
static gboolean
create_secret (const char *path, gsize len, GError **error)
{
  g_autofree char *tmp = g_strdup_printf ("%s.tmp%d", path, (int) getpid ());
  g_autoptr(CpnsSecret) secret = cpns_secret_new0 (len);
  int fd;
  gboolean ok;

  if (!cpns_random (secret->data, len, error))
    return FALSE;
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return set_errno_error (error, errno, "cannot create", tmp);
  ok = fchmod (fd, 0600) == 0 && write (fd, secret->data, len) == (gssize) len &&
       fsync (fd) == 0;
  if (!ok)
    set_errno_error (error, errno, "cannot write", tmp);
  close (fd);
  if (ok && link (tmp, path) != 0 && errno != EEXIST)
    ok = set_errno_error (error, errno, "cannot create", path);
  g_unlink (tmp);
  return ok;
}

CpnsSecret *
srv_files_load_secret (const char *path, gsize len, GError **error)
{
  if (g_file_test (path, G_FILE_TEST_EXISTS) || g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    return read_secret (path, len, error);
  if (!create_secret (path, len, error))
    return NULL;
  g_message ("created the server secret %s", path);
  return read_secret (path, len, error);
}
