/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The hostapd control-socket client against a fake hostapd bound to a real
 * UNIX datagram socket in this process. */

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "gw-error.h"
#include "gw-hostapd.h"
#include "gw-link-verdict.h"

typedef struct {
  GSocket  *socket;
  GSource  *source;
  gboolean  silent;    /* never answer */
  gboolean  event_first;
} FakeHostapd;

static gboolean
fake_answer (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  FakeHostapd *h = user_data;
  g_autoptr(GSocketAddress) from = NULL;
  char buf[256];
  gssize n = g_socket_receive_from (socket, &from, buf, sizeof buf - 1, NULL, NULL);
  const char *reply;

  if (n <= 0 || h->silent)
    return G_SOURCE_CONTINUE;
  buf[n] = '\0';
  if (h->event_first)
    g_socket_send_to (socket, from, "<3>CTRL-EVENT-SOMETHING", 23, NULL, NULL);
  if (g_str_equal (buf, "STA 02:00:00:00:01:00"))
    reply = "02:00:00:00:01:00\nflags=[AUTH][ASSOC][AUTHORIZED]\n"
            "AKMSuiteSelector=00-0f-ac-2\ndot11RSNAStatsSelectedPairwiseCipher=00-0f-ac-4\n";
  else
    reply = "FAIL\n";
  g_socket_send_to (socket, from, reply, strlen (reply), NULL, NULL);
  return G_SOURCE_CONTINUE;
}

static void
fake_start (FakeHostapd *h, const char *path)
{
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new (path);

  h->socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM,
                            G_SOCKET_PROTOCOL_DEFAULT, NULL);
  g_assert_true (g_socket_bind (h->socket, addr, TRUE, NULL));
  h->source = g_socket_create_source (h->socket, G_IO_IN, NULL);
  g_source_set_callback (h->source, (GSourceFunc) (void (*) (void)) fake_answer, h, NULL);
  g_source_attach (h->source, NULL);
}

static void
fake_stop (FakeHostapd *h)
{
  g_source_destroy (h->source);
  g_source_unref (h->source);
  g_object_unref (h->socket);
}

static void
on_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;
  *out = g_object_ref (result);
}

static char *
ask (const char *ctrl, const char *dir, const char *command, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  gw_hostapd_request_async (ctrl, dir, command, NULL, on_done, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return gw_hostapd_request_finish (result, error);
}

static void
test_sta (void)
{
  g_autofree char *dir = g_dir_make_tmp ("pngw-hostapd-XXXXXX", NULL);
  g_autofree char *ctrl = g_build_filename (dir, "wlan0", NULL);
  FakeHostapd h = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = NULL, *fail = NULL, *akm = NULL, *cipher = NULL;

  fake_start (&h, ctrl);
  h.event_first = TRUE;   /* an unsolicited event must not be taken as the answer */
  reply = ask (ctrl, dir, "STA 02:00:00:00:01:00", &error);
  g_assert_no_error (error);
  g_assert_true (gw_link_facts_from_hostapd_sta (reply, &akm, &cipher));
  g_assert_cmpstr (akm, ==, "WPA-PSK");
  g_assert_cmpstr (cipher, ==, "CCMP");
  fail = ask (ctrl, dir, "STA 02:00:00:00:09:99", &error);
  g_assert_cmpstr (fail, ==, "FAIL\n");

  /* No answer: a clear error after the timeout, not a hang. */
  h.silent = TRUE;
  g_assert_null (ask (ctrl, dir, "STA 02:00:00:00:01:00", &error));
  g_assert_error (error, GW_ERROR, GW_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "did not answer"));
  g_clear_error (&error);
  fake_stop (&h);
  g_unlink (ctrl);

  /* No hostapd at all. */
  g_assert_null (ask (ctrl, dir, "STA 02:00:00:00:01:00", &error));
  g_assert_error (error, GW_ERROR, GW_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, ctrl));
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/hostapd/sta", test_sta);
  return g_test_run ();
}
