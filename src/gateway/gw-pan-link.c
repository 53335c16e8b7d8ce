/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-pan-link.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cpns-crypto.h"
#include "cpns-frame.h"
#include "gw-error.h"
#include "gw-pan-poller.h"

#define READ_CHUNK (16 * 1024)
/* The most read from one link per dispatch, so that a PNE that sends
 * without pause does not hold up the others ready at the same time. */
#define READ_BUDGET (64 * 1024)
/* Frames (two iovecs each: header, body) handed to one writev(). */
#define WRITE_FRAMES 8

/* A link reads and writes either
 *  - its descriptor, taken over from the stream at start (sockets, and
 *    GUnixInputStream/GUnixOutputStream pairs on one descriptor as BlueZ
 *    hands them over), through the one epoll set of GwPanPoller; or
 *  - the GIOStream itself, for anything else (a pollable source or
 *    asynchronous reads, asynchronous writes).
 * Either way its idle deadline is the poller's, not a timer of its own. */
struct _GwPanLink {
  GObject       parent_instance;
  GwPanWatch    watch;         /* fd >= 0 once the descriptor is taken over */
  GIOStream    *stream;        /* until then, or for good */
  GwTransport   transport;
  char         *address;
  GwVerdict     verdict;
  char         *verdict_reason;  /* NULL: not measured yet */
  GSocketAddress *remote;
  guint         idle_timeout_s;
  CpnsDeframer *deframer;      /* only while a frame is partly received */
  gboolean      started;
  gboolean      is_socket;     /* the descriptor: send() rather than writev() */
  gboolean      closed;
  gboolean      draining;      /* closed, still writing what was queued */
  guint         drain_source;
  int           write_errno;   /* a failed write, reported from the poller */
  GQueue        out;           /* GBytes frames; the head may be partly written */
  gsize         out_off;       /* of the head's header and body, written */
  gsize         queued;        /* bytes in out not written yet, headers included */
  char         *close_reason;
  const GwPanLinkConsumer *consumer;
  gpointer      consumer_data;
  GwPanLinkClosedFunc closed_func;
  gpointer      closed_data;

  /* Streams without a descriptor. */
  GCancellable *cancellable;
  GSource      *read_source;   /* pollable streams */
  guint8       *async_buf;     /* the others, while a read runs */
  gboolean      writing;
  guint8        out_header[CPNS_FRAME_HEADER_LEN];
};

G_DEFINE_TYPE (GwPanLink, gw_pan_link, G_TYPE_OBJECT)

static void read_more (GwPanLink *self);
static void stream_write_more (GwPanLink *self);

/* Links are read on the main thread one at a time, so they share one read
 * buffer: an idle link holds no buffer at all (thousands of PNEs). */
static guint8 read_buf[READ_CHUNK];

/* Frames already queued (an ERROR telling the peer why) still go out,
 * for a short while: then the stream is closed for good. */
#define DRAIN_TIMEOUT_MS 2000

static gboolean
has_fd (GwPanLink *self)
{
  return self->watch.fd >= 0;
}

static void
clear_out (GwPanLink *self)
{
  g_queue_clear_full (&self->out, (GDestroyNotify) g_bytes_unref);
  self->out_off = 0;
  self->queued = 0;
}

/* @n bytes of the queue went out. */
static void
consume (GwPanLink *self, gsize n)
{
  self->queued -= n;
  while (n > 0)
    {
      GBytes *head = g_queue_peek_head (&self->out);
      gsize left = CPNS_FRAME_HEADER_LEN + g_bytes_get_size (head) - self->out_off;

      if (n < left)
        {
          self->out_off += n;
          return;
        }
      n -= left;
      self->out_off = 0;
      g_bytes_unref (g_queue_pop_head (&self->out));
    }
}

static void
finish_close (GwPanLink *self)
{
  g_object_ref (self);
  self->draining = FALSE;
  g_clear_handle_id (&self->drain_source, g_source_remove);
  if (gw_pan_watch_is_added (&self->watch))
    gw_pan_poller_remove (gw_pan_poller_get_default (), &self->watch);
  clear_out (self);
  if (has_fd (self))
    {
      close (self->watch.fd);
      self->watch.fd = -1;
    }
  if (self->stream != NULL)
    {
      if (self->cancellable != NULL)
        g_cancellable_cancel (self->cancellable);
      g_io_stream_close_async (self->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
    }
  g_object_unref (self);
}

static gboolean
drain_timeout_cb (gpointer user_data)
{
  GwPanLink *self = user_data;

  self->drain_source = 0;
  finish_close (self);
  return G_SOURCE_REMOVE;
}

void
gw_pan_link_close (GwPanLink *self, const char *reason)
{
  if (self->closed)
    return;
  self->closed = TRUE;
  self->close_reason = g_strdup (reason);
  if (self->read_source != NULL)
    {
      g_source_destroy (self->read_source);
      g_clear_pointer (&self->read_source, g_source_unref);
    }
  /* A partial frame may hold key material: wiped now. */
  g_clear_pointer (&self->deframer, cpns_deframer_free);
  if (g_queue_is_empty (&self->out) || self->write_errno != 0)
    finish_close (self);
  else
    {
      self->draining = TRUE;
      if (has_fd (self))
        {
          /* Only writable matters now; silence no longer does. */
          self->watch.idle_us = 0;
          gw_pan_poller_set_events (gw_pan_poller_get_default (), &self->watch, EPOLLOUT);
        }
      else if (gw_pan_watch_is_added (&self->watch))
        gw_pan_poller_remove (gw_pan_poller_get_default (), &self->watch);
      self->drain_source = g_timeout_add_full (G_PRIORITY_DEFAULT, DRAIN_TIMEOUT_MS,
                                               drain_timeout_cb, g_object_ref (self),
                                               g_object_unref);
    }
  g_message ("%s link %s closed: %s", gw_transport_to_string (self->transport),
             self->address, reason);
  g_object_ref (self);
  if (self->closed_func != NULL)
    self->closed_func (self, self->closed_data);
  if (self->consumer != NULL && self->consumer->closed != NULL)
    self->consumer->closed (self, self->close_reason, self->consumer_data);
  g_object_unref (self);
}

static void
on_expired (GwPanWatch *watch)
{
  GwPanLink *self = (GwPanLink *) watch->owner;
  g_autofree char *reason = g_strdup_printf ("silent for %u s", self->idle_timeout_s);

  gw_pan_link_close (self, reason);
}

static void
read_failed (GwPanLink *self, const char *message)
{
  g_autofree char *reason = g_strdup_printf ("read failed: %s", message);

  gw_pan_link_close (self, reason);
}

/* Handles @n bytes read into @data (n == 0: end of stream). */
static void
took (GwPanLink *self, const guint8 *data, gsize n)
{
  g_autoptr(GError) local = NULL;
  const guint8 *frame;
  gsize len;

  if (n == 0)
    {
      gw_pan_link_close (self, "the peer closed the link");
      return;
    }
  if (self->deframer == NULL)
    self->deframer = cpns_deframer_new (GW_PAN_LINK_MAX_FRAME);
  if (!cpns_deframer_push (self->deframer, data, n, &local))
    {
      g_autofree char *reason = g_strdup_printf ("broken framing: %s", local->message);
      gw_pan_link_close (self, reason);
      return;
    }
  gw_pan_watch_touch (&self->watch);
  g_object_ref (self);
  while (!self->closed && (frame = cpns_deframer_next (self->deframer, &len)) != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (frame, len);

      if (self->consumer != NULL && self->consumer->frame != NULL)
        self->consumer->frame (self, bytes, self->consumer_data);
    }
  /* Between frames a link holds no buffer (idle PNEs are many). */
  if (self->deframer != NULL && cpns_deframer_buffered (self->deframer) == 0)
    g_clear_pointer (&self->deframer, cpns_deframer_free);
  g_object_unref (self);
}

/* ---- links with a descriptor ---- */

/* Up to READ_BUDGET bytes; errors worded as GLib words them, so that
 * reasons read the same for every kind of link. */
static void
fd_read (GwPanLink *self)
{
  gsize budget = READ_BUDGET;

  while (!self->closed && budget > 0)
    {
      gsize want = MIN (sizeof read_buf, budget);
      gssize n = read (self->watch.fd, read_buf, want);

      if (n < 0)
        {
          int saved = errno;
          g_autofree char *message = NULL;

          if (saved == EINTR)
            continue;
          if (saved == EAGAIN || saved == EWOULDBLOCK)
            return;
          message = g_strdup_printf (self->is_socket ? "Error receiving data: %s"
                                                     : "Error reading from file descriptor: %s",
                                     g_strerror (saved));
          read_failed (self, message);
          return;
        }
      took (self, read_buf, n);
      cpns_wipe (read_buf, n);
      /* Short: nothing more for now (level-triggered: we are called again). */
      if ((gsize) n < want)
        return;
      budget -= n;
    }
}

static gssize
fd_write (GwPanLink *self, const struct iovec *iov, int n_iov)
{
  if (self->is_socket)
    {
      struct msghdr msg = { .msg_iov = (struct iovec *) iov, .msg_iovlen = n_iov };
      return sendmsg (self->watch.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  return writev (self->watch.fd, iov, n_iov);
}

/* Writes what the kernel takes; a failure is kept in write_errno for the
 * poller to report, never closes the link from inside a send. */
static void
fd_write_queued (GwPanLink *self)
{
  while (!g_queue_is_empty (&self->out) && self->write_errno == 0)
    {
      struct iovec iov[2 * WRITE_FRAMES];
      guint8 headers[WRITE_FRAMES][CPNS_FRAME_HEADER_LEN];
      gsize off = self->out_off;
      int n_iov = 0, n_frames = 0;
      gssize n;

      for (GList *l = self->out.head; l != NULL && n_frames < WRITE_FRAMES; l = l->next)
        {
          gsize len;
          const guint8 *data = g_bytes_get_data (l->data, &len);

          if (off < CPNS_FRAME_HEADER_LEN)
            {
              cpns_frame_header (headers[n_frames], len);
              iov[n_iov++] = (struct iovec) { headers[n_frames] + off,
                                              CPNS_FRAME_HEADER_LEN - off };
              iov[n_iov++] = (struct iovec) { (void *) data, len };
            }
          else
            iov[n_iov++] = (struct iovec) { (void *) (data + off - CPNS_FRAME_HEADER_LEN),
                                            len - (off - CPNS_FRAME_HEADER_LEN) };
          off = 0;
          n_frames++;
        }
      n = fd_write (self, iov, n_iov);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            self->write_errno = errno;
          return;
        }
      consume (self, n);
    }
}

static guint32
wanted_events (GwPanLink *self)
{
  return (self->closed ? 0 : EPOLLIN) |
         (!g_queue_is_empty (&self->out) || self->write_errno != 0 ? EPOLLOUT : 0);
}

static void
fd_writable (GwPanLink *self)
{
  fd_write_queued (self);
  if (self->write_errno != 0)
    {
      if (self->draining)
        finish_close (self);
      else if (!self->closed)
        {
          g_autofree char *reason = g_strdup_printf (
            self->is_socket ? "write failed: Error sending data: %s"
                            : "write failed: Error writing to file descriptor: %s",
            g_strerror (self->write_errno));
          gw_pan_link_close (self, reason);
        }
      return;
    }
  if (self->draining && g_queue_is_empty (&self->out))
    {
      finish_close (self);
      return;
    }
  if (!self->closed || self->draining)
    gw_pan_poller_set_events (gw_pan_poller_get_default (), &self->watch,
                              wanted_events (self));
}

static void
on_ready (GwPanWatch *watch, guint32 events)
{
  GwPanLink *self = (GwPanLink *) watch->owner;

  /* Reading first: a peer that sent its last words and left is told
   * apart from a write that fails because it left. */
  if (!self->closed && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
    fd_read (self);
  if (has_fd (self) && (!self->closed || self->draining) &&
      (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) &&
      (!g_queue_is_empty (&self->out) || self->write_errno != 0))
    fd_writable (self);
}

/* Also duplicates of one socket (the two ends of a pipe share an inode,
 * but a pipe goes one way only). */
static gboolean
same_file (int a, int b)
{
  struct stat sa, sb;

  return a == b || (fstat (a, &sa) == 0 && fstat (b, &sb) == 0 && S_ISSOCK (sa.st_mode) &&
                    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
}

/* The descriptor the stream reads and writes, when both ways go through
 * one (or duplicates of one); -1 otherwise. */
static int
stream_fd (GIOStream *stream)
{
  GInputStream *in;
  GOutputStream *out;

  /* A wrapper's data goes through its base stream, not its socket. */
  if (G_IS_SOCKET_CONNECTION (stream))
    return G_IS_TCP_WRAPPER_CONNECTION (stream) ? -1 :
           g_socket_get_fd (g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream)));
  in = g_io_stream_get_input_stream (stream);
  out = g_io_stream_get_output_stream (stream);
  if (G_IS_UNIX_INPUT_STREAM (in) && G_IS_UNIX_OUTPUT_STREAM (out) &&
      same_file (g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (in)),
                 g_unix_output_stream_get_fd (G_UNIX_OUTPUT_STREAM (out))))
    return g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (in));
  return -1;
}

/* Keeps a duplicate of the stream's descriptor and lets the stream go: an
 * idle link is then an integer in the epoll set, without the GSocket,
 * connection and stream objects around it. */
static gboolean
take_over_fd (GwPanLink *self)
{
  g_autoptr(GError) error = NULL;
  int fd = stream_fd (self->stream);
  struct stat st;
  int flags;

  if (fd < 0)
    return FALSE;
  fd = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  if (fd < 0)
    {
      g_warning ("link %s: cannot duplicate its descriptor: %s", self->address,
                 g_strerror (errno));
      return FALSE;
    }
  flags = fcntl (fd, F_GETFL);
  if (flags < 0 || (!(flags & O_NONBLOCK) && fcntl (fd, F_SETFL, flags | O_NONBLOCK) < 0))
    {
      g_warning ("link %s: cannot make its descriptor non-blocking: %s", self->address,
                 g_strerror (errno));
      close (fd);
      return FALSE;
    }
  self->is_socket = fstat (fd, &st) == 0 && S_ISSOCK (st.st_mode);
  self->watch.fd = fd;
  if (!gw_pan_poller_add (gw_pan_poller_get_default (), &self->watch,
                          wanted_events (self), &error))
    {
      g_warning ("link %s: %s", self->address, error->message);
      self->watch.fd = -1;
      close (fd);
      return FALSE;
    }
  /* The duplicate keeps the connection open. */
  g_io_stream_close (self->stream, NULL, NULL);
  g_clear_object (&self->stream);
  return TRUE;
}

/* ---- links without one ---- */

static gboolean
on_readable (GObject *stream, gpointer user_data)
{
  GwPanLink *self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;
  gboolean keep;

  g_object_ref (self);
  n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (stream), read_buf,
                                                sizeof read_buf, self->cancellable, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    {
      g_object_unref (self);
      return G_SOURCE_CONTINUE;
    }
  if (n < 0)
    read_failed (self, error->message);
  else
    {
      took (self, read_buf, n);
      cpns_wipe (read_buf, n);
    }
  keep = !self->closed;
  g_object_unref (self);
  return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Streams that cannot be polled read asynchronously into a buffer of their
 * own for the time of the read. */
static void
on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GwPanLink) self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (!self->closed)
    {
      if (n < 0)
        read_failed (self, error->message);
      else
        took (self, self->async_buf, n);
    }
  if (n > 0)
    cpns_wipe (self->async_buf, n);
  g_clear_pointer (&self->async_buf, g_free);
  read_more (self);
}

static void
read_more (GwPanLink *self)
{
  GInputStream *in = g_io_stream_get_input_stream (self->stream);

  if (self->closed)
    return;
  if (G_IS_POLLABLE_INPUT_STREAM (in) &&
      g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (in)))
    {
      self->read_source = g_pollable_input_stream_create_source (
        G_POLLABLE_INPUT_STREAM (in), self->cancellable);
      g_source_set_callback (self->read_source, (GSourceFunc) (void (*) (void)) on_readable,
                             self, NULL);
      g_source_attach (self->read_source, g_main_context_get_thread_default ());
      return;
    }
  self->async_buf = g_malloc (READ_CHUNK);
  g_input_stream_read_async (in, self->async_buf, READ_CHUNK, G_PRIORITY_DEFAULT,
                             self->cancellable, on_read, g_object_ref (self));
}

static void
on_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GwPanLink) self = user_data;
  g_autoptr(GError) error = NULL;
  gsize written = 0;

  self->writing = FALSE;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, &written,
                                         &error))
    {
      if (self->draining)
        finish_close (self);
      else if (!self->closed)
        {
          g_autofree char *reason = g_strdup_printf ("write failed: %s", error->message);
          gw_pan_link_close (self, reason);
        }
      return;
    }
  if (self->closed && !self->draining)
    return;
  consume (self, written);
  if (self->draining && g_queue_is_empty (&self->out))
    finish_close (self);
  else
    stream_write_more (self);
}

static void
stream_write_more (GwPanLink *self)
{
  GBytes *next;
  gsize len;
  const guint8 *data;

  /* Before start the descriptor may yet be taken over: nothing written. */
  if (!self->started || self->writing || self->stream == NULL ||
      (self->closed && !self->draining) ||
      (next = g_queue_peek_head (&self->out)) == NULL)
    return;
  self->writing = TRUE;
  data = g_bytes_get_data (next, &len);
  if (self->out_off < CPNS_FRAME_HEADER_LEN)
    {
      cpns_frame_header (self->out_header, len);
      data = self->out_header + self->out_off;
      len = CPNS_FRAME_HEADER_LEN - self->out_off;
    }
  else
    {
      data += self->out_off - CPNS_FRAME_HEADER_LEN;
      len -= self->out_off - CPNS_FRAME_HEADER_LEN;
    }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (self->stream), data, len,
                                   G_PRIORITY_DEFAULT, self->cancellable, on_written,
                                   g_object_ref (self));
}

/* ---- both ---- */

gboolean
gw_pan_link_send (GwPanLink *self, GBytes *frame, GError **error)
{
  gsize len = g_bytes_get_size (frame);
  gsize total = len + CPNS_FRAME_HEADER_LEN;
  gsize done = 0;

  if (self->closed)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_FAILED, "link %s is closed", self->address);
      return FALSE;
    }
  if (len == 0 || len > GW_PAN_LINK_MAX_FRAME)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_INVALID_ARGUMENTS,
                   "a frame of %" G_GSIZE_FORMAT " bytes cannot be sent", len);
      return FALSE;
    }
  /* A peer that does not read must not make us buffer without bound. */
  if (self->queued + total > GW_PAN_LINK_MAX_QUEUED)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_BUSY,
                   "link %s does not read fast enough (%" G_GSIZE_FORMAT " bytes queued)",
                   self->address, self->queued);
      return FALSE;
    }
  /* Nothing waiting: straight to the kernel, usually all of it. */
  if (has_fd (self) && g_queue_is_empty (&self->out) && self->write_errno == 0)
    {
      guint8 header[CPNS_FRAME_HEADER_LEN];
      struct iovec iov[2] = {
        { header, sizeof header },
        { (void *) g_bytes_get_data (frame, NULL), len },
      };
      gssize n;

      cpns_frame_header (header, len);
      do
        n = fd_write (self, iov, 2);
      while (n < 0 && errno == EINTR);
      if (n == (gssize) total)
        return TRUE;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        self->write_errno = errno;
      done = n > 0 ? n : 0;
    }
  g_queue_push_tail (&self->out, g_bytes_ref (frame));
  if (g_queue_get_length (&self->out) == 1)
    self->out_off = done;
  self->queued += total - done;
  if (has_fd (self))
    /* The rest, or the error, when the poller says writable. */
    gw_pan_poller_set_events (gw_pan_poller_get_default (), &self->watch,
                              wanted_events (self));
  else
    stream_write_more (self);
  return TRUE;
}

void
gw_pan_link_start (GwPanLink *self)
{
  if (self->started || self->closed)
    return;
  self->started = TRUE;
  self->watch.idle_us = (gint64) self->idle_timeout_s * G_USEC_PER_SEC;
  if (take_over_fd (self))
    return;
  /* Only the idle deadline is the poller's. */
  gw_pan_poller_add (gw_pan_poller_get_default (), &self->watch, 0, NULL);
  self->cancellable = g_cancellable_new ();
  read_more (self);
  stream_write_more (self);
}

GwTransport gw_pan_link_get_transport (GwPanLink *self) { return self->transport; }
const char *gw_pan_link_get_address (GwPanLink *self) { return self->address; }
gboolean gw_pan_link_is_closed (GwPanLink *self) { return self->closed; }
const char *gw_pan_link_get_close_reason (GwPanLink *self) { return self->close_reason; }
GwVerdict gw_pan_link_get_verdict (GwPanLink *self) { return self->verdict; }
GSocketAddress *gw_pan_link_get_remote (GwPanLink *self) { return self->remote; }

const char *
gw_pan_link_get_verdict_reason (GwPanLink *self)
{
  return self->verdict_reason != NULL ? self->verdict_reason : "not measured yet";
}

void
gw_pan_link_set_consumer (GwPanLink *self, const GwPanLinkConsumer *consumer,
                          gpointer user_data)
{
  self->consumer = consumer;
  self->consumer_data = user_data;
}

void
gw_pan_link_set_closed_func (GwPanLink *self, GwPanLinkClosedFunc func, gpointer user_data)
{
  self->closed_func = func;
  self->closed_data = user_data;
}

void
gw_pan_link_set_remote (GwPanLink *self, GSocketAddress *remote)
{
  g_set_object (&self->remote, remote);
}

void
gw_pan_link_set_transport (GwPanLink *self, GwTransport transport)
{
  self->transport = transport;
}

void
gw_pan_link_set_verdict (GwPanLink *self, GwVerdict verdict, const char *reason)
{
  self->verdict = verdict;
  g_free (self->verdict_reason);
  self->verdict_reason = g_strdup (reason);
}

GwPanLink *
gw_pan_link_new (GIOStream *stream, GwTransport transport, const char *address,
                 guint idle_timeout_s)
{
  GwPanLink *self = g_object_new (GW_TYPE_PAN_LINK, NULL);

  self->stream = g_object_ref (stream);
  self->transport = transport;
  self->address = g_strdup (address);
  self->idle_timeout_s = idle_timeout_s;
  return self;
}

static void
gw_pan_link_dispose (GObject *object)
{
  GwPanLink *self = GW_PAN_LINK (object);

  g_clear_handle_id (&self->drain_source, g_source_remove);
  if (gw_pan_watch_is_added (&self->watch))
    gw_pan_poller_remove (gw_pan_poller_get_default (), &self->watch);
  if (self->read_source != NULL)
    {
      g_source_destroy (self->read_source);
      g_clear_pointer (&self->read_source, g_source_unref);
    }
  clear_out (self);
  if (has_fd (self))
    {
      close (self->watch.fd);
      self->watch.fd = -1;
    }
  if (self->stream != NULL && (!self->closed || self->draining))
    g_io_stream_close (self->stream, NULL, NULL);
  g_clear_object (&self->stream);
  g_clear_object (&self->remote);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (gw_pan_link_parent_class)->dispose (object);
}

static void
gw_pan_link_finalize (GObject *object)
{
  GwPanLink *self = GW_PAN_LINK (object);

  cpns_deframer_free (self->deframer);
  g_free (self->address);
  g_free (self->verdict_reason);
  g_free (self->close_reason);
  G_OBJECT_CLASS (gw_pan_link_parent_class)->finalize (object);
}

static void
gw_pan_link_class_init (GwPanLinkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gw_pan_link_dispose;
  object_class->finalize = gw_pan_link_finalize;
}

static void
gw_pan_link_init (GwPanLink *self)
{
  self->watch.owner = G_OBJECT (self);
  self->watch.ready = on_ready;
  self->watch.expired = on_expired;
  self->watch.fd = -1;
  self->verdict = GW_VERDICT_UNKNOWN;
  g_queue_init (&self->out);
}
