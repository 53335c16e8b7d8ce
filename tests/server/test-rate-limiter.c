/* SPDX-License-Identifier: GPL-3.0-or-later */

/* SrvRateLimiter with a clock the test moves. */

#include <glib.h>

#include "srv-rate-limiter.h"

static gint64 fake_now;

static gint64
fake_clock (gpointer data)
{
  return fake_now;
}

static void
advance (double seconds)
{
  fake_now += (gint64) (seconds * G_USEC_PER_SEC);
}

static void
test_blocks_after_max (void)
{
  g_autoptr(SrvRateLimiter) rl = srv_rate_limiter_new (3, 60, fake_clock, NULL);
  guint wait = 0;

  fake_now = 1000 * G_USEC_PER_SEC;
  for (int i = 0; i < 3; i++)
    {
      g_assert_true (srv_rate_limiter_allow (rl, "alice", &wait));
      srv_rate_limiter_fail (rl, "alice");
      advance (10);
    }
  /* Failures at 0, 10, 20 s; now 30 s: the first leaves at 60 s. */
  g_assert_false (srv_rate_limiter_allow (rl, "alice", &wait));
  g_assert_cmpuint (wait, ==, 30);
  /* Others are not affected. */
  g_assert_true (srv_rate_limiter_allow (rl, "bob", NULL));
  advance (29.5);
  g_assert_false (srv_rate_limiter_allow (rl, "alice", &wait));
  g_assert_cmpuint (wait, ==, 1);   /* rounded up, never 0 */
  advance (0.5);
  g_assert_true (srv_rate_limiter_allow (rl, "alice", &wait));
  /* One more failure blocks again until the second one leaves (70 s). */
  srv_rate_limiter_fail (rl, "alice");
  g_assert_false (srv_rate_limiter_allow (rl, "alice", &wait));
  g_assert_cmpuint (wait, ==, 10);
}

static void
test_sliding_window (void)
{
  g_autoptr(SrvRateLimiter) rl = srv_rate_limiter_new (2, 10, fake_clock, NULL);

  fake_now = 0;
  srv_rate_limiter_fail (rl, "k");
  advance (11);
  srv_rate_limiter_fail (rl, "k");
  /* The first failure left the window before the second came. */
  g_assert_true (srv_rate_limiter_allow (rl, "k", NULL));
  srv_rate_limiter_fail (rl, "k");
  g_assert_false (srv_rate_limiter_allow (rl, "k", NULL));
}

static void
test_reset_and_expire (void)
{
  g_autoptr(SrvRateLimiter) rl = srv_rate_limiter_new (1, 10, fake_clock, NULL);

  fake_now = 0;
  srv_rate_limiter_fail (rl, "a");
  srv_rate_limiter_fail (rl, "b");
  g_assert_false (srv_rate_limiter_allow (rl, "a", NULL));
  srv_rate_limiter_reset (rl, "a");
  g_assert_true (srv_rate_limiter_allow (rl, "a", NULL));
  g_assert_cmpuint (srv_rate_limiter_get_size (rl), ==, 1);
  advance (10);
  srv_rate_limiter_expire (rl);
  g_assert_cmpuint (srv_rate_limiter_get_size (rl), ==, 0);
}

static void
test_bounded (void)
{
  g_autoptr(SrvRateLimiter) rl = srv_rate_limiter_new (1, 100, fake_clock, NULL);

  fake_now = 0;
  srv_rate_limiter_set_max_keys (rl, 3);
  srv_rate_limiter_fail (rl, "old");
  advance (1);
  srv_rate_limiter_fail (rl, "b");
  srv_rate_limiter_fail (rl, "c");
  srv_rate_limiter_fail (rl, "d");
  g_assert_cmpuint (srv_rate_limiter_get_size (rl), ==, 3);
  /* The key idle longest went. */
  g_assert_true (srv_rate_limiter_allow (rl, "old", NULL));
  g_assert_false (srv_rate_limiter_allow (rl, "d", NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rate-limiter/blocks-after-max", test_blocks_after_max);
  g_test_add_func ("/rate-limiter/sliding-window", test_sliding_window);
  g_test_add_func ("/rate-limiter/reset-and-expire", test_reset_and_expire);
  g_test_add_func ("/rate-limiter/bounded", test_bounded);
  return g_test_run ();
}
