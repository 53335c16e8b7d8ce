/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The link security verdict as a table: facts and policy in, verdict out. */

#include "gw-link-verdict.h"

#include <glib/gstdio.h>
#include <string.h>

#include "gw-error.h"

typedef struct {
  const char *name;
  GwLinkFacts facts;
  gboolean    wired_is_secure;
  GwBtSecurity bt_min;
  GwVerdict   expected;
} Row;

static const Row rows[] = {
  { "WPA3-SAE + CCMP", { GW_TRANSPORT_WIFI, "SAE", "CCMP" }, FALSE, 0, GW_VERDICT_SECURE },
  { "WPA2-PSK + CCMP", { GW_TRANSPORT_WIFI, "WPA-PSK", "CCMP" }, FALSE, 0,
    GW_VERDICT_SECURE },
  { "FT-SAE + GCMP-256", { GW_TRANSPORT_WIFI, "FT-SAE", "GCMP-256" }, FALSE, 0,
    GW_VERDICT_SECURE },
  { "WPA-PSK + TKIP", { GW_TRANSPORT_WIFI, "WPA-PSK", "TKIP" }, FALSE, 0,
    GW_VERDICT_INSECURE },
  { "open", { GW_TRANSPORT_WIFI, "NONE", NULL }, FALSE, 0, GW_VERDICT_INSECURE },
  { "OWE", { GW_TRANSPORT_WIFI, "OWE", "CCMP" }, FALSE, 0, GW_VERDICT_INSECURE },
  { "unknown AKM", { GW_TRANSPORT_WIFI, NULL, "CCMP" }, FALSE, 0, GW_VERDICT_UNKNOWN },
  { "AKM not in policy", { GW_TRANSPORT_WIFI, "WPA-EAP-SUITE-B", "GCMP-256" }, FALSE, 0,
    GW_VERDICT_INSECURE },
  { "SAE, cipher unknown", { GW_TRANSPORT_WIFI, "SAE", NULL }, FALSE, 0,
    GW_VERDICT_UNKNOWN },
  { "wired, untrusted", { GW_TRANSPORT_WIRED }, FALSE, 0, GW_VERDICT_INSECURE },
  { "wired, trusted", { GW_TRANSPORT_WIRED }, TRUE, 0, GW_VERDICT_SECURE },
  { "BT medium, bonded", { GW_TRANSPORT_BLUETOOTH, .bt_security_level = 2,
    .bt_paired = TRUE, .bt_bonded = TRUE }, FALSE, GW_BT_SECURITY_MEDIUM,
    GW_VERDICT_SECURE },
  { "BT low", { GW_TRANSPORT_BLUETOOTH, .bt_security_level = 1, .bt_paired = TRUE,
    .bt_bonded = TRUE }, FALSE, GW_BT_SECURITY_MEDIUM, GW_VERDICT_INSECURE },
  { "BT medium under a high policy", { GW_TRANSPORT_BLUETOOTH, .bt_security_level = 2,
    .bt_paired = TRUE, .bt_bonded = TRUE }, FALSE, GW_BT_SECURITY_HIGH,
    GW_VERDICT_INSECURE },
  { "BT high, not bonded", { GW_TRANSPORT_BLUETOOTH, .bt_security_level = 3,
    .bt_paired = TRUE, .bt_bonded = FALSE }, FALSE, GW_BT_SECURITY_MEDIUM,
    GW_VERDICT_INSECURE },
  { "BT level unknown", { GW_TRANSPORT_BLUETOOTH, .bt_paired = TRUE, .bt_bonded = TRUE },
    FALSE, GW_BT_SECURITY_MEDIUM, GW_VERDICT_UNKNOWN },
};

static void
test_table (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      g_autoptr(GwConfig) policy = gw_config_new_default ();
      g_autofree char *reason = NULL;
      GwVerdict v;

      policy->wired_is_secure = rows[i].wired_is_secure;
      if (rows[i].bt_min != 0)
        policy->bluetooth_min_security = rows[i].bt_min;
      v = gw_link_verdict (&rows[i].facts, policy, &reason);
      g_test_message ("%s: %s (%s)", rows[i].name, gw_verdict_to_string (v), reason);
      if (v != rows[i].expected)
        g_error ("%s: expected %s, got %s (%s)", rows[i].name,
                 gw_verdict_to_string (rows[i].expected), gw_verdict_to_string (v), reason);
      g_assert_nonnull (reason);
      g_assert_cmpstr (reason, !=, "");
    }
}

static void
test_policy_lists (void)
{
  g_autoptr(GwConfig) policy = gw_config_new_default ();
  GwLinkFacts psk = { GW_TRANSPORT_WIFI, "WPA-PSK", "CCMP" };

  /* An operator who accepts only WPA3. */
  g_strfreev (policy->wifi_secure_akms);
  policy->wifi_secure_akms = g_strsplit ("SAE;FT-SAE", ";", -1);
  g_assert_cmpint (gw_link_verdict (&psk, policy, NULL), ==, GW_VERDICT_INSECURE);
  psk.key_management = "sae";   /* names compare without case */
  g_assert_cmpint (gw_link_verdict (&psk, policy, NULL), ==, GW_VERDICT_SECURE);
}

static void
test_selectors (void)
{
  g_assert_cmpstr (gw_akm_from_selector ("00-0f-ac-8"), ==, "SAE");
  g_assert_cmpstr (gw_akm_from_selector ("000fac-2"), ==, "WPA-PSK");
  g_assert_cmpstr (gw_akm_from_selector ("00-0F-AC-18"), ==, "OWE");
  g_assert_null (gw_akm_from_selector ("00-50-f2-2"));   /* WPA1 OUI */
  g_assert_null (gw_akm_from_selector ("00-0f-ac-77"));
  g_assert_null (gw_akm_from_selector ("garbage"));
  g_assert_null (gw_akm_from_selector (""));
  g_assert_cmpstr (gw_cipher_from_selector ("00-0f-ac-4"), ==, "CCMP");
  g_assert_cmpstr (gw_cipher_from_selector ("00-0f-ac-2"), ==, "TKIP");
  g_assert_null (gw_cipher_from_selector ("00-0f-ac-"));
}

static void
test_hostapd_sta (void)
{
  static const char reply[] =
    "02:00:00:00:01:00\n"
    "flags=[AUTH][ASSOC][AUTHORIZED]\n"
    "aid=1\n"
    "AKMSuiteSelector=00-0f-ac-8\n"
    "dot11RSNAStatsSelectedPairwiseCipher=00-0f-ac-4\n"
    "connected_time=12\n";
  g_autofree char *akm = NULL, *cipher = NULL;
  g_autofree char *akm2 = NULL, *cipher2 = NULL;

  g_assert_true (gw_link_facts_from_hostapd_sta (reply, &akm, &cipher));
  g_assert_cmpstr (akm, ==, "SAE");
  g_assert_cmpstr (cipher, ==, "CCMP");
  g_assert_false (gw_link_facts_from_hostapd_sta ("FAIL\n", &akm2, &cipher2));
  g_assert_null (akm2);
  /* A station without RSN information: unknown, hence not secure. */
  g_assert_true (gw_link_facts_from_hostapd_sta ("02:00:00:00:01:00\naid=1\n", &akm2,
                                                 &cipher2));
  g_assert_null (akm2);
  g_assert_null (cipher2);

  /* GET_CONFIG tells an open BSS from one whose station lacks RSN facts. */
  g_assert_true (gw_hostapd_config_is_open ("bssid=02:00:00:00:03:00\nssid=cafe\n"
                                            "wps_state=disabled\n"));
  g_assert_false (gw_hostapd_config_is_open ("bssid=02:00:00:00:03:00\nssid=home\n"
                                             "wpa=2\nkey_mgmt=SAE\ngroup_cipher=CCMP\n"
                                             "rsn_pairwise_cipher=CCMP\n"));
  g_assert_false (gw_hostapd_config_is_open ("FAIL\n"));
  g_assert_false (gw_hostapd_config_is_open (""));
}

static void
test_wpa_supplicant_names (void)
{
  static const struct {
    const char *key_mgmt, *cipher;    /* as wpa_supplicant's STATUS says them */
    const char *akm, *policy_cipher;  /* the policy's names */
    GwVerdict   expected;             /* under the default policy */
  } cases[] = {
    { "SAE", "CCMP", "SAE", "CCMP", GW_VERDICT_SECURE },
    { "FT-SAE", "GCMP-256", "FT-SAE", "GCMP-256", GW_VERDICT_SECURE },
    { "WPA2-PSK", "CCMP", "WPA-PSK", "CCMP", GW_VERDICT_SECURE },
    { "WPA2-PSK-SHA256", "CCMP-256", "WPA-PSK-SHA256", "CCMP-256", GW_VERDICT_SECURE },
    { "WPA2/IEEE 802.1X/EAP", "CCMP", "WPA-EAP", "CCMP", GW_VERDICT_SECURE },
    { "WPA2-EAP-SHA256", "GCMP", "WPA-EAP-SHA256", "GCMP", GW_VERDICT_SECURE },
    { "FT-PSK", "CCMP", "FT-PSK", "CCMP", GW_VERDICT_SECURE },
    { "WPA2-PSK", "TKIP", "WPA-PSK", "TKIP", GW_VERDICT_INSECURE },
    { "WPA-PSK", "TKIP", "WPA1-PSK", "TKIP", GW_VERDICT_INSECURE },
    { "WPA-PSK", "CCMP", "WPA1-PSK", "CCMP", GW_VERDICT_INSECURE },
    { "WPA/IEEE 802.1X/EAP", "CCMP", "WPA1-EAP", "CCMP", GW_VERDICT_INSECURE },
    { "IEEE 802.1X (no WPA)", "WEP-104", "IEEE8021X", "WEP104", GW_VERDICT_INSECURE },
    { "NONE", "NONE", "NONE", "NONE", GW_VERDICT_INSECURE },
    { "OWE", "CCMP", "OWE", "CCMP", GW_VERDICT_INSECURE },
    { "WPA-NONE", "CCMP", "WPA-NONE", "CCMP", GW_VERDICT_INSECURE },
    { "WPS", "NONE", "WPS", "NONE", GW_VERDICT_INSECURE },
    { "WPA2-EAP-SUITE-B-192", "GCMP-256", "WPA-EAP-SUITE-B-192", "GCMP-256",
      GW_VERDICT_INSECURE },
    { "UNKNOWN", "CCMP", NULL, "CCMP", GW_VERDICT_UNKNOWN },
    { "SAE", "UNKNOWN", "SAE", NULL, GW_VERDICT_UNKNOWN },
    { "sae", "ccmp", NULL, NULL, GW_VERDICT_UNKNOWN },  /* its names are exact */
  };
  g_autoptr(GwConfig) policy = gw_config_new_default ();

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      GwLinkFacts facts = { GW_TRANSPORT_WIFI, gw_akm_from_wpa_supplicant (cases[i].key_mgmt),
                            gw_cipher_from_wpa_supplicant (cases[i].cipher) };
      g_autofree char *reason = NULL;
      GwVerdict v = gw_link_verdict (&facts, policy, &reason);

      g_test_message ("%s/%s: %s (%s)", cases[i].key_mgmt, cases[i].cipher,
                      gw_verdict_to_string (v), reason);
      g_assert_cmpstr (facts.key_management, ==, cases[i].akm);
      g_assert_cmpstr (facts.pairwise_cipher, ==, cases[i].policy_cipher);
      g_assert_cmpint (v, ==, cases[i].expected);
    }
  g_assert_null (gw_akm_from_wpa_supplicant (NULL));
  g_assert_null (gw_cipher_from_wpa_supplicant (""));
}

static void
test_wpa_supplicant_status (void)
{
  static const char completed[] =
    "bssid=02:00:00:00:03:00\n"
    "freq=2412\n"
    "ssid=home\n"
    "id=0\n"
    "mode=station\n"
    "pairwise_cipher=CCMP\n"
    "group_cipher=TKIP\n"
    "key_mgmt=SAE\n"
    "wpa_state=COMPLETED\n"
    "ip_address=192.168.1.20\n"
    "address=02:00:00:00:04:00\n";
  static const char owe_transition[] =
    "bssid=02:00:00:00:03:01\nssid=cafe\npairwise_cipher=NONE\ngroup_cipher=NONE\n"
    "key_mgmt=NONE\nwpa_state=COMPLETED\n";
  static const char handshaking[] =
    "bssid=02:00:00:00:03:00\npairwise_cipher=CCMP\nkey_mgmt=WPA2-PSK\n"
    "wpa_state=4WAY_HANDSHAKE\n";
  g_autofree char *akm = NULL, *cipher = NULL;
  g_autofree char *akm2 = NULL, *cipher2 = NULL;
  g_autofree char *akm3 = NULL, *cipher3 = NULL;

  g_assert_true (gw_link_facts_from_wpa_supplicant_status (completed, &akm, &cipher));
  g_assert_cmpstr (akm, ==, "SAE");
  g_assert_cmpstr (cipher, ==, "CCMP");   /* the pairwise one, not group_cipher */
  g_assert_true (gw_link_facts_from_wpa_supplicant_status (owe_transition, &akm2,
                                                           &cipher2));
  g_assert_cmpstr (akm2, ==, "NONE");
  g_assert_cmpstr (cipher2, ==, "NONE");
  g_assert_false (gw_link_facts_from_wpa_supplicant_status (handshaking, &akm3, &cipher3));
  g_assert_null (akm3);
  g_assert_false (gw_link_facts_from_wpa_supplicant_status ("wpa_state=DISCONNECTED\n",
                                                            &akm3, &cipher3));
  g_assert_false (gw_link_facts_from_wpa_supplicant_status ("FAIL\n", &akm3, &cipher3));
  g_assert_false (gw_link_facts_from_wpa_supplicant_status ("", &akm3, &cipher3));
  g_assert_null (cipher3);
}

/* ---- the [pan] keys of the configuration ---- */

static GwConfig *
load_text (const char *text, GError **error)
{
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("pngwd-XXXXXX.conf", &path, NULL);
  GwConfig *c;

  g_assert_cmpint (fd, >=, 0);
  g_close (fd, NULL);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  c = gw_config_load (path, FALSE, error);
  g_unlink (path);
  return c;
}

static void
test_pan_defaults (void)
{
  g_autoptr(GwConfig) c = gw_config_new_default ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GwConfig) loaded = load_text ("[pan]\nwired-is-secure = true\n", &error);

  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (c->pan_listen), ==, 1);
  g_assert_cmpstr (c->pan_listen[0], ==, "[::]:7474");
  g_assert_cmpuint (c->pan_max_links, ==, 4096);
  g_assert_cmpuint (c->pan_idle_timeout, ==, 300);
  g_assert_cmpuint (c->pan_handshake_timeout, ==, 30);
  g_assert_nonnull (c->pan_hostapd_control);
  g_assert_null (c->pan_hostapd_control[0]);
  g_assert_nonnull (c->pan_wpa_supplicant_control);
  g_assert_null (c->pan_wpa_supplicant_control[0]);
  g_assert_cmpstr (c->pan_control_directory, ==, "/run/pngw");
  g_assert_cmpstr (loaded->pan_listen[0], ==, "[::]:7474");
  g_assert_true (loaded->wired_is_secure);
}

static void
test_pan_keys (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GwConfig) c = load_text (
    "[pan]\n"
    "listen = 0.0.0.0:7474; [::1]:7475 ;127.0.0.1:0;\n"
    "max-links = 10\n"
    "idle-timeout = 86400\n"
    "handshake-timeout = 5\n"
    "hostapd-control = /run/hostapd/wlan0;/run/hostapd/wlan1\n"
    "wpa-supplicant-control = /run/wpa_supplicant/wlp2s0\n"
    "control-directory = /run/pngw-test\n", &error);
  g_autoptr(GwConfig) none = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (c->pan_listen), ==, 3);
  g_assert_cmpstr (c->pan_listen[0], ==, "0.0.0.0:7474");
  g_assert_cmpstr (c->pan_listen[1], ==, "[::1]:7475");
  g_assert_cmpstr (c->pan_listen[2], ==, "127.0.0.1:0");
  g_assert_cmpuint (c->pan_max_links, ==, 10);
  g_assert_cmpuint (c->pan_idle_timeout, ==, 86400);
  g_assert_cmpuint (c->pan_handshake_timeout, ==, 5);
  g_assert_cmpuint (g_strv_length (c->pan_hostapd_control), ==, 2);
  g_assert_cmpstr (c->pan_hostapd_control[1], ==, "/run/hostapd/wlan1");
  g_assert_cmpuint (g_strv_length (c->pan_wpa_supplicant_control), ==, 1);
  g_assert_cmpstr (c->pan_wpa_supplicant_control[0], ==, "/run/wpa_supplicant/wlp2s0");
  g_assert_cmpstr (c->pan_control_directory, ==, "/run/pngw-test");

  /* An empty listen means no TCP listener at all. */
  none = load_text ("[pan]\nlisten =\n", &error);
  g_assert_no_error (error);
  g_assert_nonnull (none->pan_listen);
  g_assert_cmpuint (g_strv_length (none->pan_listen), ==, 0);
}

static void
test_pan_bad (void)
{
  static const struct {
    const char *text;
    const char *named;   /* the error must contain this */
  } bad[] = {
    { "listen = 0.0.0.0:7474;localhost:7474", "'localhost:7474'" },
    { "listen = 0.0.0.0", "'0.0.0.0'" },
    { "listen = ::1:7474", "'::1:7474'" },
    { "listen = 10.0.0.300:7474", "'10.0.0.300:7474'" },
    { "listen = 10.0.0.1:70000", "'10.0.0.1:70000'" },
    { "max-links = 0", "max-links" },
    { "max-links = 65536", "'65536'" },
    { "idle-timeout = 0", "idle-timeout" },
    { "idle-timeout = 86401", "'86401'" },
    { "handshake-timeout = 3601", "handshake-timeout" },
    { "handshake-timeout = ten", "'ten'" },
    { "hostapd-control = wlan0", "'wlan0'" },
    { "hostapd-control = /run/hostapd/", "'/run/hostapd/'" },
    { "hostapd-control = /run/hostapd/a-very-long-interface", "a-very-long-interface" },
    { "wpa-supplicant-control = /run/wpa_supplicant/wl an0", "'/run/wpa_supplicant/wl an0'" },
    { "hostapd-control = /run/hostapd/wlan0\nwpa-supplicant-control = /run/wpa/wlan0",
      "interface wlan0 already" },
    { "control-directory = run/pngw", "'run/pngw'" },
    { "control-directory =", "control-directory" },
    { "control-directory = /tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaa", "control-directory" },
    { "listen-address = 0.0.0.0:1", "listen-address" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *text = g_strdup_printf ("[pan]\n%s\n", bad[i].text);
      g_autoptr(GError) error = NULL;
      g_autoptr(GwConfig) c = load_text (text, &error);

      g_test_message ("%s -> %s", bad[i].text, error != NULL ? error->message : "(loaded)");
      g_assert_null (c);
      g_assert_error (error, GW_ERROR, GW_ERROR_CONFIG);
      g_assert_nonnull (strstr (error->message, "[pan]"));
      if (strstr (error->message, bad[i].named) == NULL)
        g_error ("'%s': the error '%s' does not name %s", bad[i].text, error->message,
                 bad[i].named);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/link-verdict/table", test_table);
  g_test_add_func ("/link-verdict/policy-lists", test_policy_lists);
  g_test_add_func ("/link-verdict/selectors", test_selectors);
  g_test_add_func ("/link-verdict/hostapd-sta", test_hostapd_sta);
  g_test_add_func ("/link-verdict/wpa-supplicant-names", test_wpa_supplicant_names);
  g_test_add_func ("/link-verdict/wpa-supplicant-status", test_wpa_supplicant_status);
  g_test_add_func ("/config/pan-defaults", test_pan_defaults);
  g_test_add_func ("/config/pan-keys", test_pan_keys);
  g_test_add_func ("/config/pan-bad", test_pan_bad);
  return g_test_run ();
}
