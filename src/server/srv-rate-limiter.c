/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-rate-limiter.h"

#include <string.h>

#define DEFAULT_MAX_KEYS 100000

/* The times of a key's recent failures, oldest first, at most
 * max_failures of them: older ones cannot matter any more. */
typedef struct {
  guint  n;
  gint64 times[];
} Failures;

struct _SrvRateLimiter {
  GObject      parent_instance;
  guint        max_failures;
  gint64       window;     /* microseconds */
  guint        max_keys;
  SrvClockFunc clock;
  gpointer     clock_data;
  GHashTable  *keys;       /* char * -> Failures * */
};

G_DEFINE_TYPE (SrvRateLimiter, srv_rate_limiter, G_TYPE_OBJECT)

static void
srv_rate_limiter_finalize (GObject *object)
{
  SrvRateLimiter *rl = SRV_RATE_LIMITER (object);

  g_hash_table_unref (rl->keys);
  G_OBJECT_CLASS (srv_rate_limiter_parent_class)->finalize (object);
}

static void
srv_rate_limiter_class_init (SrvRateLimiterClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = srv_rate_limiter_finalize;
}

static void
srv_rate_limiter_init (SrvRateLimiter *rl)
{
  rl->keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  rl->max_keys = DEFAULT_MAX_KEYS;
}

static gint64
monotonic_clock (gpointer user_data)
{
  return g_get_monotonic_time ();
}

SrvRateLimiter *
srv_rate_limiter_new (guint max_failures, guint window_seconds, SrvClockFunc clock,
                      gpointer clock_data)
{
  SrvRateLimiter *rl = g_object_new (SRV_TYPE_RATE_LIMITER, NULL);

  rl->max_failures = MAX (max_failures, 1);
  rl->window = (gint64) window_seconds * G_USEC_PER_SEC;
  rl->clock = clock != NULL ? clock : monotonic_clock;
  rl->clock_data = clock_data;
  return rl;
}

void
srv_rate_limiter_set_max_keys (SrvRateLimiter *rl, guint max_keys)
{
  rl->max_keys = MAX (max_keys, 1);
}

/* Drops the failures that left the window; TRUE when none are left. */
static gboolean
prune (SrvRateLimiter *rl, Failures *f, gint64 now)
{
  guint keep = 0;

  while (keep < f->n && now - f->times[keep] >= rl->window)
    keep++;
  if (keep > 0)
    {
      memmove (f->times, f->times + keep, (f->n - keep) * sizeof f->times[0]);
      f->n -= keep;
    }
  return f->n == 0;
}

gboolean
srv_rate_limiter_allow (SrvRateLimiter *rl, const char *key, guint *retry_after)
{
  Failures *f = g_hash_table_lookup (rl->keys, key);
  gint64 now = rl->clock (rl->clock_data);
  gint64 wait;

  if (f == NULL)
    return TRUE;
  if (prune (rl, f, now))
    {
      g_hash_table_remove (rl->keys, key);
      return TRUE;
    }
  if (f->n < rl->max_failures)
    return TRUE;
  wait = f->times[0] + rl->window - now;
  if (retry_after != NULL)
    *retry_after = (guint) MAX ((wait + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC, 1);
  return FALSE;
}

static void
evict_idlest (SrvRateLimiter *rl)
{
  GHashTableIter iter;
  gpointer key, value;
  gpointer idlest = NULL;
  gint64 oldest = G_MAXINT64;

  g_hash_table_iter_init (&iter, rl->keys);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Failures *f = value;
      if (f->times[f->n - 1] < oldest)
        {
          oldest = f->times[f->n - 1];
          idlest = key;
        }
    }
  if (idlest != NULL)
    g_hash_table_remove (rl->keys, idlest);
}

void
srv_rate_limiter_fail (SrvRateLimiter *rl, const char *key)
{
  Failures *f = g_hash_table_lookup (rl->keys, key);
  gint64 now = rl->clock (rl->clock_data);

  if (f == NULL)
    {
      if (g_hash_table_size (rl->keys) >= rl->max_keys)
        {
          srv_rate_limiter_expire (rl);
          if (g_hash_table_size (rl->keys) >= rl->max_keys)
            evict_idlest (rl);
        }
      f = g_malloc0 (sizeof *f + rl->max_failures * sizeof f->times[0]);
      g_hash_table_insert (rl->keys, g_strdup (key), f);
    }
  prune (rl, f, now);
  if (f->n == rl->max_failures)
    {
      memmove (f->times, f->times + 1, (f->n - 1) * sizeof f->times[0]);
      f->n--;
    }
  f->times[f->n++] = now;
}

void
srv_rate_limiter_reset (SrvRateLimiter *rl, const char *key)
{
  g_hash_table_remove (rl->keys, key);
}

void
srv_rate_limiter_expire (SrvRateLimiter *rl)
{
  GHashTableIter iter;
  gpointer value;
  gint64 now = rl->clock (rl->clock_data);

  g_hash_table_iter_init (&iter, rl->keys);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (prune (rl, value, now))
      g_hash_table_iter_remove (&iter);
}

guint
srv_rate_limiter_get_size (SrvRateLimiter *rl)
{
  return g_hash_table_size (rl->keys);
}
