/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Counts failed attempts per key (a User ID, an address) in a sliding
 * window and says when a key has had enough.  Pure: the clock is injected,
 * so tests can move time. */

#include <glib-object.h>

G_BEGIN_DECLS

/* Monotonic microseconds. */
typedef gint64 (*SrvClockFunc) (gpointer user_data);

#define SRV_TYPE_RATE_LIMITER (srv_rate_limiter_get_type ())
G_DECLARE_FINAL_TYPE (SrvRateLimiter, srv_rate_limiter, SRV, RATE_LIMITER, GObject)

/* @max_failures within @window_seconds block a key until the oldest of
 * them leaves the window.  @clock NULL: g_get_monotonic_time(). */
SrvRateLimiter *srv_rate_limiter_new    (guint max_failures, guint window_seconds,
                                         SrvClockFunc clock, gpointer clock_data);
/* Bounds memory: beyond @max_keys keys the one idle longest is forgotten. */
void            srv_rate_limiter_set_max_keys (SrvRateLimiter *rl, guint max_keys);

/* TRUE when @key may try; FALSE with *@retry_after (whole seconds, at
 * least 1) when it must wait. */
gboolean        srv_rate_limiter_allow  (SrvRateLimiter *rl, const char *key,
                                         guint *retry_after);
void            srv_rate_limiter_fail   (SrvRateLimiter *rl, const char *key);
/* After a success: the key starts afresh. */
void            srv_rate_limiter_reset  (SrvRateLimiter *rl, const char *key);
/* Forgets failures that left the window; called periodically. */
void            srv_rate_limiter_expire (SrvRateLimiter *rl);
guint           srv_rate_limiter_get_size (SrvRateLimiter *rl);

G_END_DECLS
