/* SPDX-License-Identifier: GPL-3.0-or-later */

/* GwBackoff: growth, cap, jitter bounds, reset and determinism, with the
 * random source pinned to its extremes or to a seeded GRand. */

#include "gw-backoff.h"

static guint32
random_zero (gpointer user_data G_GNUC_UNUSED)
{
  return 0;
}

static guint32
random_max (gpointer user_data G_GNUC_UNUSED)
{
  return G_MAXUINT32;
}

static guint32
random_grand (gpointer user_data)
{
  return g_rand_int (user_data);
}

static void
test_no_jitter (void)
{
  static const guint expected[] = { 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000 };
  GwBackoff b;

  gw_backoff_init (&b, 1000, 60000, GW_BACKOFF_JITTER_NONE, NULL, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_assert_cmpuint (gw_backoff_next (&b), ==, expected[i]);
      g_assert_cmpuint (gw_backoff_get_failures (&b), ==, i + 1);
    }
}

/* A long outage neither overflows the shift nor leaves the cap. */
static void
test_cap (void)
{
  GwBackoff b;

  gw_backoff_init (&b, 1000, 60000, GW_BACKOFF_JITTER_NONE, NULL, NULL);
  for (guint i = 0; i < 200; i++)
    g_assert_cmpuint (gw_backoff_next (&b), <=, 60000);
  g_assert_cmpuint (gw_backoff_next (&b), ==, 60000);

  gw_backoff_init (&b, 1000, 60000, GW_BACKOFF_JITTER_FULL, random_max, NULL);
  for (guint i = 0; i < 200; i++)
    g_assert_cmpuint (gw_backoff_next (&b), <=, 60000);
  g_assert_cmpuint (gw_backoff_next (&b), ==, 60000);

  gw_backoff_init (&b, 1000, 60000, GW_BACKOFF_JITTER_DECORRELATED, random_max, NULL);
  for (guint i = 0; i < 200; i++)
    g_assert_cmpuint (gw_backoff_next (&b), <=, 60000);
  g_assert_cmpuint (gw_backoff_next (&b), ==, 60000);

  /* Extreme bounds: the whole guint range. */
  gw_backoff_init (&b, G_MAXUINT / 2, G_MAXUINT, GW_BACKOFF_JITTER_DECORRELATED,
                   random_max, NULL);
  g_assert_cmpuint (gw_backoff_next (&b), ==, G_MAXUINT);
  g_assert_cmpuint (gw_backoff_next (&b), ==, G_MAXUINT);

  /* Bounds are repaired rather than trusted. */
  gw_backoff_init (&b, 0, 0, GW_BACKOFF_JITTER_FULL, random_max, NULL);
  g_assert_cmpuint (gw_backoff_next (&b), ==, 1);
  gw_backoff_init (&b, 5000, 10, GW_BACKOFF_JITTER_FULL, random_max, NULL);
  g_assert_cmpuint (gw_backoff_next (&b), ==, 5000);
}

/* The random source pinned low and high gives exactly the ends of the
 * documented intervals. */
static void
test_jitter_extremes (void)
{
  GwBackoff lo, hi;

  gw_backoff_init (&lo, 1000, 60000, GW_BACKOFF_JITTER_FULL, random_zero, NULL);
  gw_backoff_init (&hi, 1000, 60000, GW_BACKOFF_JITTER_FULL, random_max, NULL);
  for (guint n = 1; n <= 8; n++)
    {
      g_assert_cmpuint (gw_backoff_next (&lo), ==, 1000);
      g_assert_cmpuint (gw_backoff_next (&hi), ==, MIN (1000u << n, 60000u));
    }

  gw_backoff_init (&lo, 1000, 60000, GW_BACKOFF_JITTER_DECORRELATED, random_zero, NULL);
  gw_backoff_init (&hi, 1000, 60000, GW_BACKOFF_JITTER_DECORRELATED, random_max, NULL);
  {
    static const guint expected_hi[] = { 3000, 9000, 27000, 60000, 60000 };
    for (guint i = 0; i < G_N_ELEMENTS (expected_hi); i++)
      {
        g_assert_cmpuint (gw_backoff_next (&lo), ==, 1000);
        g_assert_cmpuint (gw_backoff_next (&hi), ==, expected_hi[i]);
      }
  }
}

/* Many draws from a real generator stay in bounds and actually spread. */
static void
test_jitter_bounds (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (12345);
  GwBackoff b;

  for (guint round = 0; round < 200; round++)
    {
      guint prev = 0;

      gw_backoff_init (&b, 1000, 60000, GW_BACKOFF_JITTER_FULL, random_grand, rand);
      for (guint n = 1; n <= 10; n++)
        {
          guint d = gw_backoff_next (&b);
          g_assert_cmpuint (d, >=, 1000);
          g_assert_cmpuint (d, <=, MIN (1000u << n, 60000u));
        }

      gw_backoff_init (&b, 1000, 60000, GW_BACKOFF_JITTER_DECORRELATED, random_grand, rand);
      for (guint n = 1; n <= 10; n++)
        {
          guint d = gw_backoff_next (&b);
          g_assert_cmpuint (d, >=, 1000);
          g_assert_cmpuint (d, <=, MIN (MAX (prev, 1000u) * 3, 60000u));
          prev = d;
        }
    }

  /* The first full-jitter delay covers [1 s, 2 s] rather than one value:
   * gateways cut off together must not return together. */
  {
    guint lowest = G_MAXUINT, highest = 0;

    for (guint i = 0; i < 1000; i++)
      {
        guint d;

        gw_backoff_init (&b, 1000, 60000, GW_BACKOFF_JITTER_FULL, random_grand, rand);
        d = gw_backoff_next (&b);
        lowest = MIN (lowest, d);
        highest = MAX (highest, d);
      }
    g_assert_cmpuint (lowest, <, 1100);
    g_assert_cmpuint (highest, >, 1900);
  }
}

static void
test_reset (void)
{
  GwBackoff b;

  gw_backoff_init (&b, 1000, 60000, GW_BACKOFF_JITTER_NONE, NULL, NULL);
  for (guint i = 0; i < 5; i++)
    gw_backoff_next (&b);
  g_assert_cmpuint (gw_backoff_get_failures (&b), ==, 5);
  gw_backoff_reset (&b);
  g_assert_cmpuint (gw_backoff_get_failures (&b), ==, 0);
  g_assert_cmpuint (gw_backoff_next (&b), ==, 1000);

  gw_backoff_init (&b, 1000, 60000, GW_BACKOFF_JITTER_DECORRELATED, random_max, NULL);
  for (guint i = 0; i < 5; i++)
    gw_backoff_next (&b);
  gw_backoff_reset (&b);
  g_assert_cmpuint (gw_backoff_next (&b), ==, 3000);
}

/* The same seed gives the same schedule; another seed a different one. */
static void
test_determinism (void)
{
  for (GwBackoffJitter j = GW_BACKOFF_JITTER_FULL; j <= GW_BACKOFF_JITTER_DECORRELATED; j++)
    {
      g_autoptr(GRand) r1 = g_rand_new_with_seed (42);
      g_autoptr(GRand) r2 = g_rand_new_with_seed (42);
      g_autoptr(GRand) r3 = g_rand_new_with_seed (43);
      GwBackoff a, b, c;
      gboolean differs = FALSE;

      gw_backoff_init (&a, 1000, 60000, j, random_grand, r1);
      gw_backoff_init (&b, 1000, 60000, j, random_grand, r2);
      gw_backoff_init (&c, 1000, 60000, j, random_grand, r3);
      for (guint i = 0; i < 20; i++)
        {
          guint da = gw_backoff_next (&a);

          g_assert_cmpuint (da, ==, gw_backoff_next (&b));
          if (da != gw_backoff_next (&c))
            differs = TRUE;
        }
      g_assert_true (differs);
    }
}

/* Without an injected source the default one is used, within bounds. */
static void
test_default_random (void)
{
  GwBackoff b;

  gw_backoff_init (&b, 10, 100, GW_BACKOFF_JITTER_FULL, NULL, NULL);
  for (guint i = 0; i < 100; i++)
    {
      guint d = gw_backoff_next (&b);
      g_assert_cmpuint (d, >=, 10);
      g_assert_cmpuint (d, <=, 100);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/backoff/no-jitter", test_no_jitter);
  g_test_add_func ("/backoff/cap", test_cap);
  g_test_add_func ("/backoff/jitter-extremes", test_jitter_extremes);
  g_test_add_func ("/backoff/jitter-bounds", test_jitter_bounds);
  g_test_add_func ("/backoff/reset", test_reset);
  g_test_add_func ("/backoff/determinism", test_determinism);
  g_test_add_func ("/backoff/default-random", test_default_random);
  return g_test_run ();
}
