/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Real interfaces for the neighbour and link-probe tests: veth pairs whose
 * near end is in the test's own network namespace (the test process leaves
 * the root namespace first thing) and whose far end sits in another one,
 * held only by a child process that dies with the test (PR_SET_PDEATHSIG).
 * Namespaces vanish with the last process in them, so even a failed
 * assertion leaves nothing behind: no interface, address, route or
 * neighbour entry of the machine is touched.  Names carry the pid all the
 * same, to be recognisable. */

/* The includer defines _GNU_SOURCE first, for unshare(). */
#include <glib.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <errno.h>
#include <unistd.h>

typedef struct {
  GPid  holder;       /* `unshare --net sleep`: keeps the namespace alive */
  char *netns;        /* /proc/<holder>/ns/net */
} VethNs;

static void
veth_holder_setup (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* Runs argv (NULL-terminated), FALSE with its stderr in @why on failure. */
static gboolean
veth_run (char **why, const char *first, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;
  va_list ap;

  g_ptr_array_add (argv, (gpointer) first);
  va_start (ap, first);
  for (const char *a = va_arg (ap, const char *); a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (argv, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_SEARCH_PATH |
                     G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err, &status, &error) ||
      !g_spawn_check_wait_status (status, NULL))
    {
      g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
      if (why != NULL)
        *why = g_strdup_printf ("%s: %s", cmd,
                                error != NULL ? error->message : g_strstrip (err));
      return FALSE;
    }
  return TRUE;
}

/* Call first in main(), before any thread exists (a network namespace
 * belongs to a thread, and threads inherit it when they are made): moves
 * the test into a network namespace of its own.  NULL, or why not. */
static char *
veth_isolate (void)
{
  char *why = NULL;

  if (geteuid () != 0)
    return g_strdup ("needs root for network namespaces and veth");
  for (guint i = 0; i < 3; i++)
    {
      const char *tools[] = { "ip", "unshare", "nsenter" };
      g_autofree char *found = g_find_program_in_path (tools[i]);
      if (found == NULL)
        return g_strdup_printf ("needs %s", tools[i]);
    }
  if (unshare (CLONE_NEWNET) != 0)
    return g_strdup_printf ("unshare(CLONE_NEWNET): %s", g_strerror (errno));
  if (!veth_run (&why, "ip", "link", "set", "lo", "up", NULL))
    return why;
  return NULL;
}

/* The other namespace.  NULL, or why not. */
static char *
veth_ns_start (VethNs *ns)
{
  const char *argv[] = { "unshare", "--net", "sleep", "600", NULL };
  g_autofree char *ours = g_file_read_link ("/proc/self/ns/net", NULL);
  g_autoptr(GError) error = NULL;

  if (!g_spawn_async (NULL, (char **) argv, NULL,
                      G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                      G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                      veth_holder_setup, NULL, &ns->holder, &error))
    return g_strdup_printf ("cannot start unshare: %s", error->message);
  ns->netns = g_strdup_printf ("/proc/%d/ns/net", (int) ns->holder);
  /* unshare(2) then exec: wait until the child's namespace is its own. */
  for (guint i = 0; i < 500; i++)
    {
      g_autofree char *theirs = g_file_read_link (ns->netns, NULL);
      if (theirs != NULL && g_strcmp0 (theirs, ours) != 0)
        {
          g_autofree char *pid = g_strdup_printf ("%d", (int) ns->holder);
          g_autofree char *why = NULL;
          /* The loopback of the namespace, to see that it works at all. */
          if (!veth_run (&why, "nsenter", "-t", pid, "-n", "ip", "link", "set", "lo", "up",
                         NULL))
            return g_steal_pointer (&why);
          return NULL;
        }
      g_usleep (10000);
    }
  return g_strdup ("unshare --net did not make a namespace");
}

/* A pair @near (here) and @far (in the namespace), both up.  NULL, or why not. */
static char *
veth_add (VethNs *ns, const char *near, const char *far)
{
  g_autofree char *pid = g_strdup_printf ("%d", (int) ns->holder);
  char *why = NULL;

  if (!veth_run (&why, "ip", "link", "add", near, "type", "veth", "peer", "name", far,
                 "netns", pid, NULL) ||
      !veth_run (&why, "ip", "link", "set", near, "up", NULL) ||
      !veth_run (&why, "nsenter", "-t", pid, "-n", "ip", "link", "set", far, "up", NULL))
    return why;
  return NULL;
}

/* `ip ARGS` inside the namespace; asserts success. */
#define veth_ns_ip(ns, ...) \
  G_STMT_START { \
    g_autofree char *pid_ = g_strdup_printf ("%d", (int) (ns)->holder); \
    g_autofree char *why_ = NULL; \
    if (!veth_run (&why_, "nsenter", "-t", pid_, "-n", "ip", __VA_ARGS__, NULL)) \
      g_error ("%s", why_); \
  } G_STMT_END

/* `ip ARGS` here; asserts success. */
#define veth_ip(...) \
  G_STMT_START { \
    g_autofree char *why_ = NULL; \
    if (!veth_run (&why_, "ip", __VA_ARGS__, NULL)) \
      g_error ("%s", why_); \
  } G_STMT_END

/* Deleting near ends also deletes their far ends; killing the holder
 * frees the namespace (and anything left in it). */
static void
veth_ns_stop (VethNs *ns, const char *const *nears)
{
  for (const char *const *n = nears; n != NULL && *n != NULL; n++)
    veth_run (NULL, "ip", "link", "del", *n, NULL);
  if (ns->holder > 0)
    {
      kill (ns->holder, SIGKILL);
      waitpid (ns->holder, NULL, 0);
      g_spawn_close_pid (ns->holder);
      ns->holder = 0;
    }
  g_clear_pointer (&ns->netns, g_free);
}
