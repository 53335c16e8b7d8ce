/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Delays between retries of a failing upstream: exponential growth from a
 * minimum to a maximum, randomised so that many gateways cut off by the same
 * outage do not all come back in the same second.  A plain value type with
 * no I/O and an injected random source, so tests can pin every delay. */

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  /* failure n waits min * 2^(n-1): min, 2 min, 4 min, ... up to max */
  GW_BACKOFF_JITTER_NONE,
  /* failure n waits uniformly in [min, min * 2^n], capped at max */
  GW_BACKOFF_JITTER_FULL,
  /* uniformly in [min, 3 * the previous delay] (min at first), capped at max */
  GW_BACKOFF_JITTER_DECORRELATED,
} GwBackoffJitter;

/* Returns 32 uniformly distributed random bits. */
typedef guint32 (*GwBackoffRandomFunc) (gpointer user_data);

typedef struct {
  guint               min_ms;
  guint               max_ms;
  GwBackoffJitter     jitter;
  GwBackoffRandomFunc random;       /* NULL: g_random_int() */
  gpointer            random_data;
  guint               failures;     /* since the last reset */
  guint               last_ms;      /* the previous delay, 0 after a reset */
} GwBackoff;

/* @min_ms is raised to 1 and @max_ms to @min_ms if they are smaller. */
void  gw_backoff_init   (GwBackoff          *backoff,
                         guint               min_ms,
                         guint               max_ms,
                         GwBackoffJitter     jitter,
                         GwBackoffRandomFunc random,
                         gpointer            random_data);
/* Counts a failure and returns how long to wait before the next attempt,
 * always within [min_ms, max_ms]. */
guint gw_backoff_next   (GwBackoff          *backoff);
/* After a success: the next failure waits min_ms again. */
void  gw_backoff_reset  (GwBackoff          *backoff);
guint gw_backoff_get_failures (const GwBackoff *backoff);

G_END_DECLS
