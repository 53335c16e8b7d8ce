/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The link probe end to end on real parts: neighbours in the kernel's table
 * on veth interfaces named like the control sockets of a fake hostapd (two
 * of them: an RSN BSS and the open BSS of an OWE transition pair) and of a
 * fake wpa_supplicant, real UNIX datagram sockets, and a wired interface. */

#define _GNU_SOURCE   /* unshare() in veth-pair.h */
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>

#include "gw-link-probe.h"
#include "veth-pair.h"

typedef struct {
  GSocket    *socket;
  GSource    *source;
  GHashTable *replies;   /* command -> reply; anything else: FAIL */
  gboolean    silent;
  guint       requests;
} FakeCtrl;

static VethNs ns;
static char *skip_reason;
static char *dir;
static char *ap_if, *open_if, *sta_if, *wired_if, *dead_if;
static char *ap_ctrl, *open_ctrl, *sta_ctrl, *dead_ctrl;
static FakeCtrl ap, open_bss, supplicant;

#define MAC_SAE    "02:00:5e:20:00:01"
#define MAC_OWE    "02:00:5e:20:00:02"
#define MAC_TKIP   "02:00:5e:20:00:03"
#define MAC_GHOST  "02:00:5e:20:00:04"   /* a neighbour hostapd does not know */
#define MAC_OPEN   "02:00:5e:20:00:05"
#define MAC_AP     "02:00:5e:20:00:06"   /* the AP we are a station of */
#define MAC_WIRED  "02:00:5e:20:00:07"
#define MAC_DEAD   "02:00:5e:20:00:08"

static gboolean
fake_answer (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  FakeCtrl *f = user_data;
  g_autoptr(GSocketAddress) from = NULL;
  char buf[256];
  gssize n = g_socket_receive_from (socket, &from, buf, sizeof buf - 1, NULL, NULL);
  const char *reply;

  if (n <= 0)
    return G_SOURCE_CONTINUE;
  buf[n] = '\0';
  f->requests++;
  if (f->silent)
    return G_SOURCE_CONTINUE;
  reply = g_hash_table_lookup (f->replies, buf);
  if (reply == NULL)
    reply = "FAIL\n";
  g_socket_send_to (socket, from, reply, strlen (reply), NULL, NULL);
  return G_SOURCE_CONTINUE;
}

static void
fake_start (FakeCtrl *f, const char *path)
{
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new (path);

  f->replies = g_hash_table_new (g_str_hash, g_str_equal);
  f->socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM,
                            G_SOCKET_PROTOCOL_DEFAULT, NULL);
  g_assert_true (g_socket_bind (f->socket, addr, TRUE, NULL));
  f->source = g_socket_create_source (f->socket, G_IO_IN, NULL);
  g_source_set_callback (f->source, (GSourceFunc) (void (*) (void)) fake_answer, f, NULL);
  g_source_attach (f->source, NULL);
}

static void
fake_stop (FakeCtrl *f, const char *path)
{
  if (f->socket == NULL)
    return;
  g_source_destroy (f->source);
  g_source_unref (f->source);
  g_object_unref (f->socket);
  g_hash_table_unref (f->replies);
  g_unlink (path);
}

static void
on_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;
  *out = g_object_ref (result);
}

static GwLinkProbe *
probe_full (const char *ip, const GwConfig *config, GCancellable *cancellable,
            GError **error)
{
  g_autoptr(GInetAddress) a = g_inet_address_new_from_string (ip);
  g_autoptr(GSocketAddress) peer = g_inet_socket_address_new (a, 40000);
  g_autoptr(GAsyncResult) result = NULL;
  GwLinkProbe *p;

  gw_link_probe_async (peer, config, cancellable, on_done, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  p = gw_link_probe_finish (result, error);
  if (p != NULL)
    g_test_message ("%s: %s %s, %s on %s: %s", ip, gw_transport_to_string (p->transport),
                    gw_verdict_to_string (p->verdict), p->mac, p->interface, p->reason);
  return p;
}

static GwConfig *
config_new (void)
{
  GwConfig *c = gw_config_new_default ();

  g_strfreev (c->pan_hostapd_control);
  c->pan_hostapd_control = g_new0 (char *, 4);
  c->pan_hostapd_control[0] = g_strdup (ap_ctrl);
  c->pan_hostapd_control[1] = g_strdup (open_ctrl);
  c->pan_hostapd_control[2] = g_strdup (dead_ctrl);
  c->pan_hostapd_control[3] = NULL;
  g_strfreev (c->pan_wpa_supplicant_control);
  c->pan_wpa_supplicant_control = g_new0 (char *, 2);
  c->pan_wpa_supplicant_control[0] = g_strdup (sta_ctrl);
  g_free (c->pan_control_directory);
  c->pan_control_directory = g_build_filename (dir, "ours", NULL);   /* made on demand */
  return c;
}

static GwLinkProbe *
probe (const char *ip)
{
  g_autoptr(GwConfig) config = config_new ();
  g_autoptr(GError) error = NULL;
  GwLinkProbe *p = probe_full (ip, config, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (p);
  g_assert_nonnull (p->reason);
  return p;
}

static gboolean
skip (void)
{
  if (skip_reason != NULL)
    g_test_skip (skip_reason);
  return skip_reason != NULL;
}

static void
assert_contains (const char *text, const char *part)
{
  if (strstr (text, part) == NULL)
    g_error ("'%s' does not contain '%s'", text, part);
}

static void
test_access_point (void)
{
  g_autoptr(GwLinkProbe) sae = NULL, mapped = NULL, owe = NULL, tkip = NULL, ghost = NULL;

  if (skip ())
    return;
  sae = probe ("10.1.0.1");
  g_assert_cmpint (sae->transport, ==, GW_TRANSPORT_WIFI);
  g_assert_cmpint (sae->verdict, ==, GW_VERDICT_SECURE);
  g_assert_cmpstr (sae->mac, ==, MAC_SAE);
  g_assert_cmpstr (sae->interface, ==, ap_if);
  assert_contains (sae->reason, "Wi-Fi station " MAC_SAE " on ");
  assert_contains (sae->reason, "SAE with CCMP");

  /* A dual-stack listener reports IPv4 peers so. */
  mapped = probe ("::ffff:10.1.0.1");
  g_assert_cmpint (mapped->verdict, ==, GW_VERDICT_SECURE);
  g_assert_cmpstr (mapped->mac, ==, MAC_SAE);

  owe = probe ("10.1.0.2");
  g_assert_cmpint (owe->transport, ==, GW_TRANSPORT_WIFI);
  g_assert_cmpint (owe->verdict, ==, GW_VERDICT_INSECURE);
  assert_contains (owe->reason, "OWE");

  tkip = probe ("fd00:1::3");
  g_assert_cmpint (tkip->verdict, ==, GW_VERDICT_INSECURE);
  g_assert_cmpstr (tkip->mac, ==, MAC_TKIP);
  assert_contains (tkip->reason, "TKIP");

  ghost = probe ("10.1.0.4");
  g_assert_cmpint (ghost->transport, ==, GW_TRANSPORT_WIFI);
  g_assert_cmpint (ghost->verdict, ==, GW_VERDICT_UNKNOWN);
  g_assert_cmpstr (ghost->mac, ==, MAC_GHOST);
  assert_contains (ghost->reason, "knows no such station");
}

static void
test_open_bss (void)
{
  g_autoptr(GwLinkProbe) p = NULL;
  guint before = open_bss.requests;

  if (skip ())
    return;
  /* The open half of an OWE transition pair: STA has no RSN facts, and
   * GET_CONFIG shows a BSS without WPA. */
  p = probe ("10.4.0.5");
  g_assert_cmpint (p->transport, ==, GW_TRANSPORT_WIFI);
  g_assert_cmpint (p->verdict, ==, GW_VERDICT_INSECURE);
  g_assert_cmpstr (p->interface, ==, open_if);
  assert_contains (p->reason, "open network");
  g_assert_cmpuint (open_bss.requests - before, ==, 2);
}

static void
test_station (void)
{
  g_autoptr(GwLinkProbe) sae = NULL, open = NULL, busy = NULL;

  if (skip ())
    return;
  g_hash_table_insert (supplicant.replies, "STATUS",
                       "bssid=" MAC_AP "\nfreq=5180\nssid=home\nid=0\nmode=station\n"
                       "pairwise_cipher=CCMP\ngroup_cipher=CCMP\nkey_mgmt=SAE\n"
                       "wpa_state=COMPLETED\nip_address=10.2.0.2\n");
  sae = probe ("10.2.0.1");
  g_assert_cmpint (sae->transport, ==, GW_TRANSPORT_WIFI);
  g_assert_cmpint (sae->verdict, ==, GW_VERDICT_SECURE);
  g_assert_cmpstr (sae->mac, ==, MAC_AP);
  g_assert_cmpstr (sae->interface, ==, sta_if);
  assert_contains (sae->reason, "this gateway is a station");
  assert_contains (sae->reason, "SAE with CCMP");

  g_hash_table_insert (supplicant.replies, "STATUS",
                       "bssid=" MAC_AP "\nssid=cafe\npairwise_cipher=NONE\n"
                       "group_cipher=NONE\nkey_mgmt=NONE\nwpa_state=COMPLETED\n");
  open = probe ("10.2.0.1");
  g_assert_cmpint (open->verdict, ==, GW_VERDICT_INSECURE);
  assert_contains (open->reason, "open network");

  g_hash_table_insert (supplicant.replies, "STATUS",
                       "bssid=" MAC_AP "\nkey_mgmt=WPA2-PSK\nwpa_state=4WAY_HANDSHAKE\n");
  busy = probe ("10.2.0.1");
  g_assert_cmpint (busy->verdict, ==, GW_VERDICT_UNKNOWN);
  assert_contains (busy->reason, "not connected");
}

static void
test_wired (void)
{
  g_autoptr(GwLinkProbe) untrusted = NULL, trusted = NULL;
  g_autoptr(GwConfig) config = config_new ();
  g_autoptr(GError) error = NULL;

  if (skip ())
    return;
  untrusted = probe ("10.3.0.1");
  g_assert_cmpint (untrusted->transport, ==, GW_TRANSPORT_WIRED);
  g_assert_cmpint (untrusted->verdict, ==, GW_VERDICT_INSECURE);
  g_assert_cmpstr (untrusted->mac, ==, MAC_WIRED);
  g_assert_cmpstr (untrusted->interface, ==, wired_if);
  assert_contains (untrusted->reason, "wired peer 10.3.0.1 " MAC_WIRED " on ");

  config->wired_is_secure = TRUE;
  trusted = probe_full ("10.3.0.1", config, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (trusted->verdict, ==, GW_VERDICT_SECURE);
}

static void
test_local (void)
{
  const char *locals[] = { "127.0.0.1", "::1", "::ffff:127.0.0.1", "10.9.0.1" };
  g_autoptr(GwConfig) config = config_new ();

  if (skip ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (locals); i++)
    {
      g_autoptr(GwLinkProbe) p = probe (locals[i]);
      g_autoptr(GwLinkProbe) trusted = NULL;

      g_assert_cmpint (p->transport, ==, GW_TRANSPORT_WIRED);
      g_assert_cmpint (p->verdict, ==, GW_VERDICT_INSECURE);
      g_assert_null (p->mac);
      g_assert_null (p->interface);
      assert_contains (p->reason, "local peer");
      config->wired_is_secure = TRUE;
      trusted = probe_full (locals[i], config, NULL, NULL);
      g_assert_cmpint (trusted->verdict, ==, GW_VERDICT_SECURE);
      config->wired_is_secure = FALSE;
    }
}

static void
test_unknown (void)
{
  g_autoptr(GwLinkProbe) absent = NULL, dead = NULL, silent = NULL;

  if (skip ())
    return;
  absent = probe ("10.7.7.7");
  g_assert_cmpint (absent->verdict, ==, GW_VERDICT_UNKNOWN);
  g_assert_null (absent->mac);
  assert_contains (absent->reason, "not a neighbour");

  /* A hostapd-control socket nobody listens on. */
  dead = probe ("10.5.0.8");
  g_assert_cmpint (dead->transport, ==, GW_TRANSPORT_WIFI);
  g_assert_cmpint (dead->verdict, ==, GW_VERDICT_UNKNOWN);
  g_assert_cmpstr (dead->interface, ==, dead_if);
  assert_contains (dead->reason, dead_ctrl);

  /* One that never answers: unknown after the timeout, not a hang. */
  ap.silent = TRUE;
  silent = probe ("10.1.0.1");
  ap.silent = FALSE;
  g_assert_cmpint (silent->verdict, ==, GW_VERDICT_UNKNOWN);
  assert_contains (silent->reason, "did not answer");
}

static gboolean
cancel_soon (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_cancel (void)
{
  g_autoptr(GwConfig) config = config_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GwLinkProbe) p = NULL;
  gint64 start = g_get_monotonic_time ();

  if (skip ())
    return;
  ap.silent = TRUE;
  g_timeout_add (100, cancel_soon, cancellable);
  p = probe_full ("10.1.0.1", config, cancellable, &error);
  ap.silent = FALSE;
  g_assert_null (p);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 1500 * 1000);
}

static void
neigh (const char *ip, const char *mac, const char *dev)
{
  veth_ip ("neigh", "add", ip, "lladdr", mac, "dev", dev, "nud", "permanent");
}

static void
setup (void)
{
  guint p = getpid ();
  const char *const faces[] = { "w", "o", "s", "e", "d" };
  char **names[] = { &ap_if, &open_if, &sta_if, &wired_if, &dead_if };

  dir = g_dir_make_tmp ("pngw-probe-XXXXXX", NULL);
  g_assert_nonnull (dir);
  for (guint i = 0; i < G_N_ELEMENTS (faces); i++)
    *names[i] = g_strdup_printf ("pgn%u%s", p, faces[i]);
  ap_ctrl = g_build_filename (dir, ap_if, NULL);
  open_ctrl = g_build_filename (dir, open_if, NULL);
  sta_ctrl = g_build_filename (dir, sta_if, NULL);
  dead_ctrl = g_build_filename (dir, dead_if, NULL);
  if (skip_reason == NULL)
    skip_reason = veth_ns_start (&ns);
  for (guint i = 0; i < G_N_ELEMENTS (faces) && skip_reason == NULL; i++)
    {
      g_autofree char *far = g_strdup_printf ("peer%u", i);
      skip_reason = veth_add (&ns, *names[i], far);
    }
  if (skip_reason != NULL)
    return;

  veth_ip ("addr", "add", "10.9.0.1/32", "dev", wired_if);
  neigh ("10.1.0.1", MAC_SAE, ap_if);
  neigh ("10.1.0.2", MAC_OWE, ap_if);
  veth_ip ("-6", "neigh", "add", "fd00:1::3", "lladdr", MAC_TKIP, "dev", ap_if, "nud",
           "permanent");
  neigh ("10.1.0.4", MAC_GHOST, ap_if);
  neigh ("10.4.0.5", MAC_OPEN, open_if);
  neigh ("10.2.0.1", MAC_AP, sta_if);
  neigh ("10.3.0.1", MAC_WIRED, wired_if);
  neigh ("10.5.0.8", MAC_DEAD, dead_if);

  fake_start (&ap, ap_ctrl);
  g_hash_table_insert (ap.replies, "STA " MAC_SAE,
                       MAC_SAE "\nflags=[AUTH][ASSOC][AUTHORIZED]\naid=1\n"
                       "AKMSuiteSelector=00-0f-ac-8\n"
                       "dot11RSNAStatsSelectedPairwiseCipher=00-0f-ac-4\n");
  g_hash_table_insert (ap.replies, "STA " MAC_OWE,
                       MAC_OWE "\nflags=[AUTH][ASSOC][AUTHORIZED]\n"
                       "AKMSuiteSelector=00-0f-ac-18\n"
                       "dot11RSNAStatsSelectedPairwiseCipher=00-0f-ac-4\n");
  g_hash_table_insert (ap.replies, "STA " MAC_TKIP,
                       MAC_TKIP "\nflags=[AUTH][ASSOC][AUTHORIZED]\n"
                       "AKMSuiteSelector=00-0f-ac-2\n"
                       "dot11RSNAStatsSelectedPairwiseCipher=00-0f-ac-2\n");
  g_hash_table_insert (ap.replies, "GET_CONFIG",
                       "bssid=02:00:5e:20:01:00\nssid=home\nwps_state=disabled\nwpa=2\n"
                       "key_mgmt=SAE WPA-PSK OWE\ngroup_cipher=CCMP\n"
                       "rsn_pairwise_cipher=CCMP TKIP\n");
  fake_start (&open_bss, open_ctrl);
  g_hash_table_insert (open_bss.replies, "STA " MAC_OPEN,
                       MAC_OPEN "\nflags=[AUTH][ASSOC][AUTHORIZED]\naid=1\n");
  g_hash_table_insert (open_bss.replies, "GET_CONFIG",
                       "bssid=02:00:5e:20:02:00\nssid=cafe\nwps_state=disabled\n");
  fake_start (&supplicant, sta_ctrl);
}

int
main (int argc, char **argv)
{
  const char *nears[6] = { NULL };
  g_autofree char *ours = NULL;
  int status;

  /* Before anything else: no thread may exist yet. */
  skip_reason = veth_isolate ();
  g_test_init (&argc, &argv, NULL);
  setup ();
  g_test_add_func ("/link-probe/access-point", test_access_point);
  g_test_add_func ("/link-probe/open-bss", test_open_bss);
  g_test_add_func ("/link-probe/station", test_station);
  g_test_add_func ("/link-probe/wired", test_wired);
  g_test_add_func ("/link-probe/local", test_local);
  g_test_add_func ("/link-probe/unknown", test_unknown);
  g_test_add_func ("/link-probe/cancel", test_cancel);
  status = g_test_run ();

  fake_stop (&ap, ap_ctrl);
  fake_stop (&open_bss, open_ctrl);
  fake_stop (&supplicant, sta_ctrl);
  nears[0] = ap_if;
  nears[1] = open_if;
  nears[2] = sta_if;
  nears[3] = wired_if;
  nears[4] = dead_if;
  veth_ns_stop (&ns, nears);
  ours = g_build_filename (dir, "ours", NULL);
  g_rmdir (ours);
  g_rmdir (dir);
  return status;
}
