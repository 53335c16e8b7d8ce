/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "pne-link.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include "cpns-error.h"
#include "cpns-frame.h"
#include "cpns-session.h"

struct _PneLink {
  int           fd;
  PneMachine   *machine;
  CpnsDeframer *deframer;
};

/* ---- deadlines ---- */

static gint64
deadline_from (int timeout_ms)
{
  return timeout_ms < 0 ? -1 : g_get_monotonic_time () + (gint64) timeout_ms * 1000;
}

/* Milliseconds left for poll(); 0 once the deadline passed. */
static int
remaining (gint64 deadline)
{
  gint64 left;

  if (deadline < 0)
    return -1;
  left = (deadline - g_get_monotonic_time () + 999) / 1000;
  return left <= 0 ? 0 : (int) MIN (left, G_MAXINT);
}

static gboolean
wait_fd (int fd, short events, gint64 deadline, const char *what, GError **error)
{
  struct pollfd p = { .fd = fd, .events = events };

  for (;;)
    {
      int n = poll (&p, 1, remaining (deadline));
      if (n > 0)
        return TRUE;
      if (n == 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "timed out %s the PN GW", what);
          return FALSE;
        }
      if (errno != EINTR)
        {
          int err = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                       "poll on the PN GW link: %s", g_strerror (err));
          return FALSE;
        }
    }
}

/* ---- connecting ---- */

static gboolean
bad_address (const char *address, GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "'%s' is not HOST:PORT, [IPv6]:PORT or IPv4:PORT", address);
  return FALSE;
}

static gboolean
split_address (const char *address, char **host, char **port, GError **error)
{
  const char *colon;

  if (address[0] == '[')
    {
      const char *end = strchr (address, ']');
      if (end == NULL || end == address + 1 || end[1] != ':' || end[2] == '\0')
        return bad_address (address, error);
      *host = g_strndup (address + 1, end - address - 1);
      *port = g_strdup (end + 2);
      return TRUE;
    }
  colon = strchr (address, ':');
  /* A bare IPv6 address would be ambiguous: it needs its brackets. */
  if (colon == NULL || colon == address || colon[1] == '\0' || strchr (colon + 1, ':'))
    return bad_address (address, error);
  *host = g_strndup (address, colon - address);
  *port = g_strdup (colon + 1);
  return TRUE;
}

/* A non-blocking connect bounded by the deadline; the fd is blocking again
 * afterwards. */
static int
connect_one (const struct addrinfo *ai, gint64 deadline, GError **error)
{
  int fd = socket (ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                   ai->ai_protocol);
  int err = 0;
  socklen_t len = sizeof err;

  if (fd < 0)
    {
      err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "socket: %s",
                   g_strerror (err));
      return -1;
    }
  if (connect (fd, ai->ai_addr, ai->ai_addrlen) != 0)
    {
      if (errno != EINPROGRESS)
        err = errno;
      else if (!wait_fd (fd, POLLOUT, deadline, "connecting to", error))
        {
          close (fd);
          return -1;
        }
      else if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    }
  if (err != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "%s",
                   g_strerror (err));
      close (fd);
      return -1;
    }
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

int
pne_link_connect (const char *address, int timeout_ms, GError **error)
{
  g_autofree char *host = NULL;
  g_autofree char *port = NULL;
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
  struct addrinfo *res = NULL;
  g_autoptr(GError) last = NULL;
  gint64 deadline = deadline_from (timeout_ms);
  int rc, fd = -1;

  if (!split_address (address, &host, &port, error))
    return -1;
  rc = getaddrinfo (host, port, &hints, &res);
  if (rc != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND,
                   "cannot resolve PN GW address '%s': %s", address, gai_strerror (rc));
      return -1;
    }
  for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
    {
      g_clear_error (&last);
      fd = connect_one (ai, deadline, &last);
    }
  freeaddrinfo (res);
  if (fd < 0)
    {
      g_set_error (error, last->domain, last->code, "cannot connect to PN GW at %s: %s",
                   address, last->message);
      return -1;
    }
  return fd;
}

/* ---- the link ---- */

PneLink *
pne_link_new (int fd, PneMachine *machine)
{
  PneLink *link = g_new0 (PneLink, 1);

  link->fd = fd;
  link->machine = machine;
  link->deframer = cpns_deframer_new (CPNS_MAX_MESSAGE);
  return link;
}

void
pne_link_free (PneLink *link)
{
  if (link == NULL)
    return;
  if (link->fd >= 0)
    close (link->fd);
  cpns_deframer_free (link->deframer);
  g_free (link);
}

int
pne_link_get_fd (PneLink *link)
{
  return link->fd;
}

static gboolean
write_all (PneLink *link, const guint8 *data, gsize len, gint64 deadline, GError **error)
{
  while (len > 0)
    {
      ssize_t n;

      if (!wait_fd (link->fd, POLLOUT, deadline, "writing to", error))
        return FALSE;
      /* MSG_NOSIGNAL: a closed link is an error here, not a SIGPIPE. */
      n = send (link->fd, data, len, MSG_NOSIGNAL);
      if (n < 0 && errno == ENOTSOCK)
        n = write (link->fd, data, len);
      if (n < 0)
        {
          int err = errno;
          if (err == EINTR || err == EAGAIN)
            continue;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                       "writing to the PN GW: %s", g_strerror (err));
          return FALSE;
        }
      data += n;
      len -= n;
    }
  return TRUE;
}

static gboolean
flush_until (PneLink *link, gint64 deadline, GError **error)
{
  GBytes *out;

  while ((out = pne_machine_next_output (link->machine)) != NULL)
    {
      g_autoptr(GBytes) msg = out;
      guint8 header[CPNS_FRAME_HEADER_LEN];
      gsize len;
      const guint8 *data = g_bytes_get_data (msg, &len);

      cpns_frame_header (header, len);
      if (!write_all (link, header, sizeof header, deadline, error) ||
          !write_all (link, data, len, deadline, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
pne_link_flush (PneLink *link, int timeout_ms, GError **error)
{
  return flush_until (link, deadline_from (timeout_ms), error);
}

/* Reads once from the link and feeds every complete frame to the machine. */
static gboolean
read_some (PneLink *link, gint64 deadline, GError **error)
{
  guint8 buf[16384];
  const guint8 *frame;
  gsize len;
  ssize_t n;

  if (!wait_fd (link->fd, POLLIN, deadline, "waiting for", error))
    return FALSE;
  n = recv (link->fd, buf, sizeof buf, 0);
  if (n < 0 && errno == ENOTSOCK)
    n = read (link->fd, buf, sizeof buf);
  if (n < 0)
    {
      int err = errno;
      if (err == EINTR || err == EAGAIN)
        return TRUE;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "reading from the PN GW: %s", g_strerror (err));
      return FALSE;
    }
  if (n == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                   "the PN GW closed the link");
      return FALSE;
    }
  if (!cpns_deframer_push (link->deframer, buf, n, error))
    return FALSE;
  while ((frame = cpns_deframer_next (link->deframer, &len)) != NULL)
    {
      if (!pne_machine_receive (link->machine, frame, len, error))
        return FALSE;
    }
  return TRUE;
}

static PneEvent *
wait_event_until (PneLink *link, gint64 deadline, GError **error)
{
  for (;;)
    {
      PneEvent *ev;

      if (!flush_until (link, deadline, error))
        return NULL;
      ev = pne_machine_next_event (link->machine);
      if (ev != NULL)
        return ev;
      if (!read_some (link, deadline, error))
        return NULL;
    }
}

PneEvent *
pne_link_wait_event (PneLink *link, int timeout_ms, GError **error)
{
  return wait_event_until (link, deadline_from (timeout_ms), error);
}

gboolean
pne_link_run_until_ready (PneLink *link, PneCredentialsFunc credentials,
                          PneEventFunc on_event, gpointer user_data, int timeout_ms,
                          GError **error)
{
  gint64 deadline = deadline_from (timeout_ms);

  if (pne_machine_get_state (link->machine) == PNE_STATE_NEW &&
      !pne_machine_start (link->machine, error))
    return FALSE;
  for (;;)
    {
      g_autoptr(PneEvent) ev = wait_event_until (link, deadline, error);

      if (ev == NULL)
        {
          /* A refusal is reported in the same step that fails the machine:
           * the caller learns why before it learns that it failed. */
          PneEvent *pending;
          while ((pending = pne_machine_next_event (link->machine)) != NULL)
            {
              if (on_event != NULL)
                on_event (pending, user_data);
              pne_event_free (pending);
            }
          return FALSE;
        }
      if (on_event != NULL)
        on_event (ev, user_data);
      if (ev->type == PNE_EVENT_READY)
        return flush_until (link, deadline, error);
      if (ev->type == PNE_EVENT_NEED_CREDENTIALS)
        {
          g_autofree char *user_id = NULL;
          g_autoptr(CpnsSecret) password = NULL;

          if (credentials == NULL)
            {
              g_set_error (error, CPNS_ERROR, CPNS_ERROR_INVALID_ARGUMENT,
                           "the PN GW asks for User ID and password, and none are at hand");
              return FALSE;
            }
          if (!credentials (ev->retry, &user_id, &password, user_data, error) ||
              !pne_machine_set_credentials (link->machine, user_id, password->data,
                                            password->len, error))
            return FALSE;
        }
    }
}
