/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-backoff.h"

static guint32
default_random (gpointer user_data G_GNUC_UNUSED)
{
  return g_random_int ();
}

void
gw_backoff_init (GwBackoff *backoff, guint min_ms, guint max_ms, GwBackoffJitter jitter,
                 GwBackoffRandomFunc random, gpointer random_data)
{
  g_return_if_fail (backoff != NULL);
  g_return_if_fail (jitter >= GW_BACKOFF_JITTER_NONE &&
                    jitter <= GW_BACKOFF_JITTER_DECORRELATED);

  backoff->min_ms = MAX (min_ms, 1);
  backoff->max_ms = MAX (max_ms, backoff->min_ms);
  backoff->jitter = jitter;
  backoff->random = random != NULL ? random : default_random;
  backoff->random_data = random != NULL ? random_data : NULL;
  gw_backoff_reset (backoff);
}

void
gw_backoff_reset (GwBackoff *backoff)
{
  g_return_if_fail (backoff != NULL);

  backoff->failures = 0;
  backoff->last_ms = 0;
}

guint
gw_backoff_get_failures (const GwBackoff *backoff)
{
  g_return_val_if_fail (backoff != NULL, 0);

  return backoff->failures;
}

/* min * 2^shift, capped at max; 64-bit so that neither the shift nor the
 * product can overflow however long the outage lasts. */
static guint
scaled (const GwBackoff *backoff, guint shift)
{
  guint64 v = (guint64) backoff->min_ms << MIN (shift, 32);

  return (guint) MIN (v, (guint64) backoff->max_ms);
}

/* Uniform in [lo, hi] from 32 random bits, by multiplication rather than
 * modulo so that no value is favoured by more than one part in 2^32. */
static guint
uniform (const GwBackoff *backoff, guint lo, guint hi)
{
  guint64 span = (guint64) hi - lo + 1;
  guint32 r = backoff->random (backoff->random_data);

  return lo + (guint) (((guint64) r * span) >> 32);
}

guint
gw_backoff_next (GwBackoff *backoff)
{
  guint delay;

  g_return_val_if_fail (backoff != NULL && backoff->random != NULL, 0);

  if (backoff->failures < G_MAXUINT)
    backoff->failures++;

  switch (backoff->jitter)
    {
    case GW_BACKOFF_JITTER_FULL:
      delay = uniform (backoff, backoff->min_ms, scaled (backoff, backoff->failures));
      break;
    case GW_BACKOFF_JITTER_DECORRELATED:
      {
        guint64 prev = MAX (backoff->last_ms, backoff->min_ms);
        guint hi = (guint) MIN (prev * 3, (guint64) backoff->max_ms);

        delay = uniform (backoff, backoff->min_ms, hi);
      }
      break;
    case GW_BACKOFF_JITTER_NONE:
    default:
      delay = scaled (backoff, backoff->failures - 1);
      break;
    }

  backoff->last_ms = delay;
  return delay;
}
