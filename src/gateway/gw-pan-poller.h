/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* One GSource for all PAN links: their descriptors sit in one epoll set
 * whose own descriptor is the only thing the main context polls, and one
 * deadline closes the links that stayed silent too long.  With thousands of
 * idle PNEs, a pass of the main loop then costs the same as with none: the
 * context no longer checks a source (and a poll() entry) per link, and an
 * idle link holds no GSource, GCancellable or timer of its own.
 *
 * A watch lives inside its owner (a GObject), which the poller does not
 * keep alive: the owner removes its watch before it goes.  While a
 * callback of one watch runs, the owners of the others made ready by the
 * same epoll_wait() are held, so a callback may close or drop any link. */

#include <gio/gio.h>
#include <sys/epoll.h>

G_BEGIN_DECLS

typedef struct _GwPanPoller GwPanPoller;
typedef struct _GwPanWatch GwPanWatch;

/* @events: the EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP bits that are set. */
typedef void (*GwPanReadyFunc)   (GwPanWatch *watch, guint32 events);
/* Silent for at least idle_us: the watch stays until its owner removes it. */
typedef void (*GwPanExpiredFunc) (GwPanWatch *watch);

struct _GwPanWatch {
  /* Set by the owner before gw_pan_poller_add(). */
  GObject          *owner;
  GwPanReadyFunc    ready;
  GwPanExpiredFunc  expired;
  int               fd;          /* -1: only the idle deadline is watched */
  gint64            idle_us;     /* 0: never expires */
  gint64            last_active; /* monotonic; see gw_pan_watch_touch() */

  /* The poller's. */
  guint32           events;
  guint             slot;        /* 1 + index in the poller's list; 0: not added */
};

/* The poller of the thread-default main context at the first call. */
GwPanPoller *gw_pan_poller_get_default (void);

/* Watches @events (EPOLLIN, EPOLLOUT; level-triggered) on watch->fd, and
 * the idle deadline from now on.  Fails when epoll refuses the descriptor
 * (a regular file, or one already added). */
gboolean     gw_pan_poller_add        (GwPanPoller *self, GwPanWatch *watch,
                                       guint32 events, GError **error);
/* Changes the events watched; errors and hang-ups are always reported. */
void         gw_pan_poller_set_events (GwPanPoller *self, GwPanWatch *watch,
                                       guint32 events);
/* Before the descriptor is closed; nothing is called back for @watch
 * afterwards, not even for events already collected.  Harmless if it was
 * not added. */
void         gw_pan_poller_remove     (GwPanPoller *self, GwPanWatch *watch);
/* Watches added and not removed (for tests). */
guint        gw_pan_poller_get_n_watches (GwPanPoller *self);

static inline gboolean
gw_pan_watch_is_added (const GwPanWatch *watch)
{
  return watch->slot != 0;
}

/* Activity: the idle deadline starts again. */
static inline void
gw_pan_watch_touch (GwPanWatch *watch)
{
  watch->last_active = g_get_monotonic_time ();
}

G_END_DECLS
