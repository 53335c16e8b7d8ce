/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-password.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static gboolean
check_length (gsize len, const char *where, GError **error)
{
  if (len == 0 || len > CPNS_PASSWORD_MAX)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s: a password is 1-%d bytes", where, CPNS_PASSWORD_MAX);
      return FALSE;
    }
  return TRUE;
}

CpnsSecret *
cpns_password_from_file (const char *path, GError **error)
{
  char *contents = NULL;
  gsize len = 0, line;
  CpnsSecret *password = NULL;

  if (!g_file_get_contents (path, &contents, &len, error))
    return NULL;
  line = strcspn (contents, "\n");
  if (line > 0 && contents[line - 1] == '\r')
    line--;
  if (memchr (contents, '\0', line) != NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "%s: the password holds a NUL byte", path);
  else if (check_length (line, path, error))
    password = cpns_secret_new ((const guint8 *) contents, line);
  cpns_wipe (contents, len);
  g_free (contents);
  return password;
}

/* One line from @fd with echo off; NULL on end of input or error. */
static CpnsSecret *
read_line (int fd, const char *prompt, GError **error)
{
  g_autoptr(CpnsSecret) buf = cpns_secret_new0 (CPNS_PASSWORD_MAX + 1);
  struct termios old, quiet;
  gsize len = 0;
  gboolean ok = TRUE, done = FALSE;

  if (tcgetattr (fd, &old) != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                   "cannot set up the terminal: %s", g_strerror (errno));
      return NULL;
    }
  quiet = old;
  quiet.c_lflag &= ~(tcflag_t) ECHO;
  quiet.c_lflag |= ECHONL;
  /* Echo off (dropping typeahead) before the prompt shows: what is typed
   * after it must not be flushed. */
  if (tcsetattr (fd, TCSAFLUSH, &quiet) != 0 || write (fd, prompt, strlen (prompt)) < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                   "cannot set up the terminal: %s", g_strerror (errno));
      return NULL;
    }
  while (!done)
    {
      char c;
      gssize n = read (fd, &c, 1);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0 || c == '\n' || c == '\r')
        {
          ok = n > 0;
          done = TRUE;
        }
      else if (len <= CPNS_PASSWORD_MAX)
        buf->data[len++] = (guint8) c;
    }
  tcsetattr (fd, TCSANOW, &old);
  if (!ok)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "no password was entered");
      return NULL;
    }
  if (!check_length (len, "terminal", error))
    return NULL;
  return cpns_secret_new (buf->data, len);
}

CpnsSecret *
cpns_password_from_terminal (const char *prompt, gboolean confirm, GError **error)
{
  g_autoptr(CpnsSecret) first = NULL;
  g_autoptr(CpnsSecret) second = NULL;
  int fd = open ("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

  if (fd < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "no terminal to ask for the password on; use --password-file");
      return NULL;
    }
  first = read_line (fd, prompt, error);
  if (first != NULL && confirm)
    {
      second = read_line (fd, "Again: ", error);
      if (second != NULL &&
          (first->len != second->len ||
           !cpns_ct_equal (first->data, second->data, first->len)))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "the passwords do not match");
          g_clear_pointer (&first, cpns_secret_free);
        }
      else if (second == NULL)
        g_clear_pointer (&first, cpns_secret_free);
    }
  close (fd);
  return g_steal_pointer (&first);
}
