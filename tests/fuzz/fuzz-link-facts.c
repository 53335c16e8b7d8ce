/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target for the parsers of what hostapd and wpa_supplicant say
 * about a Wi-Fi link (src/gateway/gw-link-verdict.c): the text of
 * hostapd's "STA <mac>" and "GET_CONFIG" replies and of wpa_supplicant's
 * "STATUS" reply, and the suite selectors and names in them.
 *
 * Input: the reply text (cut at its first NUL, as the control socket
 * client hands it over), given to every parser; then the facts found go
 * through the verdict under the default policy.  Checked: a parser that
 * finds nothing leaves both outputs NULL; every name it returns is one the
 * name mappers return for some input (a policy name, never a piece of the
 * reply); the verdict is one of the three with a reason. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw-config.h"
#include "gw-link-verdict.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static GwConfig *policy;
static GHashTable *akm_names, *cipher_names;   /* every name a mapper returns */

static void
fail (const char *what, const char *detail)
{
  fprintf (stderr, "fuzz-link-facts: %s%s%s\n", what, detail != NULL ? ": " : "",
           detail != NULL ? detail : "");
  abort ();
}

/* Collects the policy names of all selectors 00-0f-ac-0..255 and of the
 * wpa_supplicant names the parsers know, to check outputs against. */
static void
collect_names (void)
{
  static const char *const supplicant_akms[] = {
    "NONE", "IEEE 802.1X (no WPA)", "WPA2/IEEE 802.1X/EAP", "WPA/IEEE 802.1X/EAP",
    "WPA2-PSK", "WPA-PSK", "WPA-NONE", "FT-EAP", "FT-EAP-SHA384", "FT-PSK",
    "WPA2-EAP-SHA256", "WPA2-PSK-SHA256", "WPS", "SAE", "SAE-EXT-KEY", "FT-SAE",
    "FT-SAE-EXT-KEY", "OSEN", "WPA2-EAP-SUITE-B", "WPA2-EAP-SUITE-B-192", "FILS-SHA256",
    "FILS-SHA384", "FT-FILS-SHA256", "FT-FILS-SHA384", "OWE", "DPP", "PASN",
  };
  static const char *const supplicant_ciphers[] = {
    "NONE", "WEP-40", "WEP-104", "TKIP", "CCMP", "GCMP", "GCMP-256", "CCMP-256",
  };

  akm_names = g_hash_table_new (g_str_hash, g_str_equal);
  cipher_names = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint t = 0; t < 256; t++)
    {
      char sel[32];
      const char *name;

      g_snprintf (sel, sizeof sel, "00-0f-ac-%u", t);
      if ((name = gw_akm_from_selector (sel)) != NULL)
        g_hash_table_add (akm_names, (gpointer) name);
      if ((name = gw_cipher_from_selector (sel)) != NULL)
        g_hash_table_add (cipher_names, (gpointer) name);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (supplicant_akms); i++)
    {
      const char *name = gw_akm_from_wpa_supplicant (supplicant_akms[i]);
      if (name == NULL)
        fail ("wpa_supplicant AKM not known", supplicant_akms[i]);
      g_hash_table_add (akm_names, (gpointer) name);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (supplicant_ciphers); i++)
    {
      const char *name = gw_cipher_from_wpa_supplicant (supplicant_ciphers[i]);
      if (name == NULL)
        fail ("wpa_supplicant cipher not known", supplicant_ciphers[i]);
      g_hash_table_add (cipher_names, (gpointer) name);
    }
}

static void
check_facts (const char *parser, gboolean ok, char *akm, char *cipher)
{
  if (!ok && (akm != NULL || cipher != NULL))
    fail ("a parser that found nothing returned names", parser);
  if (akm != NULL && !g_hash_table_contains (akm_names, akm))
    fail ("a parser returned an AKM no mapper knows", akm);
  if (cipher != NULL && !g_hash_table_contains (cipher_names, cipher))
    fail ("a parser returned a cipher no mapper knows", cipher);
  if (ok)
    {
      GwLinkFacts facts = {
        .transport = GW_TRANSPORT_WIFI, .key_management = akm, .pairwise_cipher = cipher,
      };
      g_autofree char *reason = NULL;
      GwVerdict v = gw_link_verdict (&facts, policy, &reason);

      if (v != GW_VERDICT_UNKNOWN && v != GW_VERDICT_INSECURE && v != GW_VERDICT_SECURE)
        fail ("verdict out of range", parser);
      if (reason == NULL || reason[0] == '\0' || gw_verdict_to_string (v) == NULL)
        fail ("verdict without a reason", parser);
      /* Unknown is never secure. */
      if (v == GW_VERDICT_SECURE && (akm == NULL || cipher == NULL))
        fail ("secure verdict on unknown facts", parser);
    }
  g_free (akm);
  g_free (cipher);
}

/* The single-value mappers on each line's value, and on the whole text. */
static void
map_values (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", 64);

  for (char **l = lines; *l != NULL; l++)
    {
      const char *eq = strchr (*l, '=');
      const char *v = eq != NULL ? eq + 1 : *l;
      const char *names[4] = {
        gw_akm_from_selector (v), gw_cipher_from_selector (v),
        gw_akm_from_wpa_supplicant (v), gw_cipher_from_wpa_supplicant (v),
      };

      if ((names[0] != NULL && !g_hash_table_contains (akm_names, names[0])) ||
          (names[2] != NULL && !g_hash_table_contains (akm_names, names[2])) ||
          (names[1] != NULL && !g_hash_table_contains (cipher_names, names[1])) ||
          (names[3] != NULL && !g_hash_table_contains (cipher_names, names[3])))
        fail ("a mapper returned an unknown name", v);
    }
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  policy = gw_config_new_default ();
  collect_names ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* Exactly the text and its NUL, so that reading past it is caught. */
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autofree char *exact = g_memdup2 (text, strlen (text) + 1);
  char *akm = NULL, *cipher = NULL;
  gboolean ok;

  ok = gw_link_facts_from_hostapd_sta (exact, &akm, &cipher);
  check_facts ("hostapd STA", ok, akm, cipher);
  ok = gw_link_facts_from_wpa_supplicant_status (exact, &akm, &cipher);
  check_facts ("wpa_supplicant STATUS", ok, akm, cipher);
  /* Open only when hostapd described a BSS (a line bssid=) and no line
   * speaks of WPA (wpa=, key_mgmt=). */
  if (gw_hostapd_config_is_open (exact))
    {
      g_auto(GStrv) lines = g_strsplit (exact, "\n", -1);
      gboolean bss = FALSE, wpa = FALSE;

      for (char **l = lines; *l != NULL; l++)
        {
          bss |= g_str_has_prefix (*l, "bssid=");
          wpa |= g_str_has_prefix (*l, "wpa=") || g_str_has_prefix (*l, "key_mgmt=");
        }
      if (!bss || wpa)
        fail ("GET_CONFIG reply judged open", NULL);
    }
  map_values (exact);
  return 0;
}
