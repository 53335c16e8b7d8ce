/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-pan-link.h"

#include "cpns-crypto.h"
#include "cpns-frame.h"
#include "gw-error.h"

#define READ_CHUNK 4096

struct _GwPanLink {
  GObject       parent_instance;
  GIOStream    *stream;
  GwTransport   transport;
  char         *address;
  GwVerdict     verdict;
  char         *verdict_reason;
  GSocketAddress *remote;
  guint         idle_timeout_s;
  guint         idle_source;
  CpnsDeframer *deframer;
  GCancellable *cancellable;
  GSource      *read_source;   /* pollable streams */
  gboolean      draining;      /* closed, still writing what was queued */
  guint         drain_source;
  guint8       *async_buf;     /* the others, while a read runs */
  GQueue        out;             /* GBytes, header and frame interleaved */
  gsize         queued;
  gboolean      writing;
  gboolean      closed;
  char         *close_reason;
};

enum {
  SIGNAL_FRAME,
  SIGNAL_CLOSED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GwPanLink, gw_pan_link, G_TYPE_OBJECT)

static void read_more (GwPanLink *self);
static void write_more (GwPanLink *self);

/* Frames already queued (an ERROR telling the peer why) still go out,
 * for a short while: then the stream is closed for good. */
#define DRAIN_TIMEOUT_MS 2000

static void
finish_close (GwPanLink *self)
{
  self->draining = FALSE;
  g_clear_handle_id (&self->drain_source, g_source_remove);
  g_cancellable_cancel (self->cancellable);
  g_queue_clear_full (&self->out, (GDestroyNotify) g_bytes_unref);
  self->queued = 0;
  g_io_stream_close_async (self->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
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
  g_clear_handle_id (&self->idle_source, g_source_remove);
  if (g_queue_is_empty (&self->out))
    finish_close (self);
  else
    {
      self->draining = TRUE;
      self->drain_source = g_timeout_add_full (G_PRIORITY_DEFAULT, DRAIN_TIMEOUT_MS,
                                               drain_timeout_cb, g_object_ref (self),
                                               g_object_unref);
    }
  g_message ("%s link %s closed: %s", gw_transport_to_string (self->transport),
             self->address, reason);
  g_signal_emit (self, signals[SIGNAL_CLOSED], 0, reason);
}

static gboolean
idle_cb (gpointer user_data)
{
  GwPanLink *self = user_data;
  g_autofree char *reason = g_strdup_printf ("silent for %u s", self->idle_timeout_s);

  self->idle_source = 0;
  gw_pan_link_close (self, reason);
  return G_SOURCE_REMOVE;
}

static void
restart_idle (GwPanLink *self)
{
  g_clear_handle_id (&self->idle_source, g_source_remove);
  if (self->idle_timeout_s > 0 && !self->closed)
    self->idle_source = g_timeout_add_seconds (self->idle_timeout_s, idle_cb, self);
}

/* Handles @n bytes read into @data (n == 0: end of stream, n < 0: @error). */
static void
took (GwPanLink *self, const guint8 *data, gssize n, const GError *error)
{
  g_autoptr(GError) local = NULL;
  const guint8 *frame;
  gsize len;

  if (n < 0)
    {
      g_autofree char *reason = g_strdup_printf ("read failed: %s", error->message);
      gw_pan_link_close (self, reason);
      return;
    }
  if (n == 0)
    {
      gw_pan_link_close (self, "the peer closed the link");
      return;
    }
  if (!cpns_deframer_push (self->deframer, data, n, &local))
    {
      g_autofree char *reason = g_strdup_printf ("broken framing: %s", local->message);
      gw_pan_link_close (self, reason);
      return;
    }
  restart_idle (self);
  while (!self->closed && (frame = cpns_deframer_next (self->deframer, &len)) != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (frame, len);
      g_signal_emit (self, signals[SIGNAL_FRAME], 0, bytes);
    }
}

/* Links are read on the main thread one at a time, so they share one read
 * buffer: an idle link holds no buffer at all (thousands of PNEs). */
static guint8 read_buf[READ_CHUNK];

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
  took (self, read_buf, n, error);
  cpns_wipe (read_buf, n > 0 ? (gsize) n : 0);
  keep = !self->closed;
  g_object_unref (self);
  return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Streams that cannot be polled (none of ours today) read asynchronously
 * into a buffer of their own for the time of the read. */
static void
on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GwPanLink) self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (!self->closed)
    took (self, self->async_buf, n, error);
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
  {
    GBytes *done = g_queue_pop_head (&self->out);
    self->queued -= g_bytes_get_size (done);
    g_bytes_unref (done);
  }
  if (self->draining && g_queue_is_empty (&self->out))
    finish_close (self);
  else
    write_more (self);
}

static void
write_more (GwPanLink *self)
{
  GBytes *next;

  if (self->writing || (self->closed && !self->draining) ||
      (next = g_queue_peek_head (&self->out)) == NULL)
    return;
  self->writing = TRUE;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (self->stream),
                                   g_bytes_get_data (next, NULL), g_bytes_get_size (next),
                                   G_PRIORITY_DEFAULT, self->cancellable, on_written,
                                   g_object_ref (self));
}

gboolean
gw_pan_link_send (GwPanLink *self, GBytes *frame, GError **error)
{
  gsize len = g_bytes_get_size (frame);
  guint8 header[CPNS_FRAME_HEADER_LEN];

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
  if (self->queued + len + sizeof header > GW_PAN_LINK_MAX_QUEUED)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_BUSY,
                   "link %s does not read fast enough (%" G_GSIZE_FORMAT " bytes queued)",
                   self->address, self->queued);
      return FALSE;
    }
  cpns_frame_header (header, len);
  g_queue_push_tail (&self->out, g_bytes_new (header, sizeof header));
  g_queue_push_tail (&self->out, g_bytes_ref (frame));
  self->queued += len + sizeof header;
  write_more (self);
  return TRUE;
}

void
gw_pan_link_start (GwPanLink *self)
{
  restart_idle (self);
  read_more (self);
}

GwTransport gw_pan_link_get_transport (GwPanLink *self) { return self->transport; }
const char *gw_pan_link_get_address (GwPanLink *self) { return self->address; }
gboolean gw_pan_link_is_closed (GwPanLink *self) { return self->closed; }
const char *gw_pan_link_get_close_reason (GwPanLink *self) { return self->close_reason; }
GwVerdict gw_pan_link_get_verdict (GwPanLink *self) { return self->verdict; }
const char *gw_pan_link_get_verdict_reason (GwPanLink *self) { return self->verdict_reason; }
GSocketAddress *gw_pan_link_get_remote (GwPanLink *self) { return self->remote; }

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
  self->verdict_reason = g_strdup ("not measured yet");
  self->idle_timeout_s = idle_timeout_s;
  return self;
}

static void
gw_pan_link_dispose (GObject *object)
{
  GwPanLink *self = GW_PAN_LINK (object);

  g_clear_handle_id (&self->idle_source, g_source_remove);
  g_clear_handle_id (&self->drain_source, g_source_remove);
  if (self->read_source != NULL)
    {
      g_source_destroy (self->read_source);
      g_clear_pointer (&self->read_source, g_source_unref);
    }
  g_queue_clear_full (&self->out, (GDestroyNotify) g_bytes_unref);
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
  /* One complete frame from the peer. */
  signals[SIGNAL_FRAME] = g_signal_new ("frame", G_TYPE_FROM_CLASS (klass),
                                        G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                        G_TYPE_NONE, 1, G_TYPE_BYTES);
  /* The link is gone: (reason). */
  signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass),
                                         G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                         G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
gw_pan_link_init (GwPanLink *self)
{
  self->deframer = cpns_deframer_new (GW_PAN_LINK_MAX_FRAME);
  self->cancellable = g_cancellable_new ();
  self->verdict = GW_VERDICT_UNKNOWN;
  g_queue_init (&self->out);
}
