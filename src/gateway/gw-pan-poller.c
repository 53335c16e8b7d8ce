/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-pan-poller.h"

#include <errno.h>
#include <glib-unix.h>
#include <unistd.h>

#include "gw-error.h"

/* Ready descriptors taken per dispatch.  Level-triggered epoll puts a
 * descriptor it reported back at the end of its ready list, so with more
 * ready links than this the next dispatch takes the others first. */
#define MAX_EVENTS 64

/* Silent links are looked for at most this often: one pass over all
 * watches instead of a timer per link. */
#define SWEEP_MIN_INTERVAL_US (G_USEC_PER_SEC / 4)

struct _GwPanPoller {
  GSource    source;
  gpointer   tag;       /* the epoll descriptor in the main context */
  int        epfd;
  GPtrArray *watches;   /* GwPanWatch, slot - 1 is the index */
};

static void
arm_sweep (GwPanPoller *self, gint64 deadline)
{
  gint64 current = g_source_get_ready_time (&self->source);

  if (current == -1 || deadline < current)
    g_source_set_ready_time (&self->source, deadline);
}

static void
sweep (GwPanPoller *self)
{
  gint64 now = g_get_monotonic_time ();
  gint64 next = G_MAXINT64;
  g_autoptr(GPtrArray) expired = NULL;

  for (guint i = 0; i < self->watches->len; i++)
    {
      GwPanWatch *w = self->watches->pdata[i];
      gint64 deadline;

      if (w->idle_us <= 0 || w->expired == NULL)
        continue;
      deadline = w->last_active + w->idle_us;
      if (deadline > now)
        next = MIN (next, deadline);
      else
        {
          if (expired == NULL)
            expired = g_ptr_array_new ();
          g_object_ref (w->owner);
          g_ptr_array_add (expired, w);
        }
    }
  g_source_set_ready_time (&self->source, next == G_MAXINT64 ? -1 :
                           MAX (next, now + SWEEP_MIN_INTERVAL_US));
  for (guint i = 0; expired != NULL && i < expired->len; i++)
    {
      GwPanWatch *w = expired->pdata[i];
      GObject *owner = w->owner;

      /* An earlier callback may have removed it. */
      if (gw_pan_watch_is_added (w))
        w->expired (w);
      g_object_unref (owner);
    }
}

static void
take_events (GwPanPoller *self)
{
  struct epoll_event events[MAX_EVENTS];
  int n;

  do
    n = epoll_wait (self->epfd, events, MAX_EVENTS, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return;
  /* Every watch reported is still added now; the callbacks below may
   * remove (and drop) any of them, so their owners are held until the
   * last one ran. */
  for (int i = 0; i < n; i++)
    g_object_ref (((GwPanWatch *) events[i].data.ptr)->owner);
  for (int i = 0; i < n; i++)
    {
      GwPanWatch *w = events[i].data.ptr;

      if (gw_pan_watch_is_added (w))
        w->ready (w, events[i].events);
    }
  for (int i = 0; i < n; i++)
    g_object_unref (((GwPanWatch *) events[i].data.ptr)->owner);
}

static gboolean
poller_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  GwPanPoller *self = (GwPanPoller *) source;
  gint64 ready_time = g_source_get_ready_time (source);

  if (g_source_query_unix_fd (source, self->tag) & G_IO_IN)
    take_events (self);
  if (ready_time != -1 && g_source_get_time (source) >= ready_time)
    sweep (self);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs poller_funcs = {
  .dispatch = poller_dispatch,
};

GwPanPoller *
gw_pan_poller_get_default (void)
{
  static GwPanPoller *poller;

  if (poller == NULL)
    {
      GwPanPoller *self = (GwPanPoller *) g_source_new (&poller_funcs, sizeof *self);
      int epfd = epoll_create1 (EPOLL_CLOEXEC);

      if (epfd < 0)
        g_error ("epoll_create1: %s", g_strerror (errno));
      self->epfd = epfd;
      self->watches = g_ptr_array_new ();
      self->tag = g_source_add_unix_fd (&self->source, epfd, G_IO_IN);
      g_source_set_priority (&self->source, G_PRIORITY_DEFAULT);
      g_source_set_static_name (&self->source, "PAN links");
      g_source_attach (&self->source, g_main_context_get_thread_default ());
      poller = self;
    }
  return poller;
}

gboolean
gw_pan_poller_add (GwPanPoller *self, GwPanWatch *watch, guint32 events, GError **error)
{
  g_return_val_if_fail (watch->slot == 0, FALSE);
  g_return_val_if_fail (watch->owner != NULL, FALSE);

  if (watch->fd >= 0)
    {
      struct epoll_event ev = { .events = events, .data.ptr = watch };

      if (epoll_ctl (self->epfd, EPOLL_CTL_ADD, watch->fd, &ev) < 0)
        {
          int saved = errno;
          g_set_error (error, GW_ERROR, GW_ERROR_FAILED,
                       "cannot watch descriptor %d: %s", watch->fd, g_strerror (saved));
          return FALSE;
        }
    }
  watch->events = events;
  g_ptr_array_add (self->watches, watch);
  watch->slot = self->watches->len;
  gw_pan_watch_touch (watch);
  if (watch->idle_us > 0)
    arm_sweep (self, watch->last_active + watch->idle_us);
  return TRUE;
}

void
gw_pan_poller_set_events (GwPanPoller *self, GwPanWatch *watch, guint32 events)
{
  struct epoll_event ev = { .events = events, .data.ptr = watch };

  if (watch->slot == 0 || watch->fd < 0 || watch->events == events)
    return;
  if (epoll_ctl (self->epfd, EPOLL_CTL_MOD, watch->fd, &ev) < 0)
    g_warning ("cannot change the events of descriptor %d: %s", watch->fd,
               g_strerror (errno));
  else
    watch->events = events;
}

void
gw_pan_poller_remove (GwPanPoller *self, GwPanWatch *watch)
{
  guint index;

  if (watch->slot == 0)
    return;
  if (watch->fd >= 0)
    epoll_ctl (self->epfd, EPOLL_CTL_DEL, watch->fd, NULL);
  /* The last watch takes the place of this one. */
  index = watch->slot - 1;
  g_ptr_array_remove_index_fast (self->watches, index);
  if (index < self->watches->len)
    ((GwPanWatch *) self->watches->pdata[index])->slot = index + 1;
  watch->slot = 0;
  watch->events = 0;
}

guint
gw_pan_poller_get_n_watches (GwPanPoller *self)
{
  return self->watches->len;
}
