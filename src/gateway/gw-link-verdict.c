/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-link-verdict.h"

#include <string.h>

const char *
gw_verdict_to_string (GwVerdict verdict)
{
  switch (verdict)
    {
    case GW_VERDICT_SECURE: return "secure";
    case GW_VERDICT_INSECURE: return "insecure";
    case GW_VERDICT_UNKNOWN: return "unknown";
    }
  return "unknown";
}

const char *
gw_transport_to_string (GwTransport transport)
{
  switch (transport)
    {
    case GW_TRANSPORT_WIFI: return "wifi";
    case GW_TRANSPORT_WIRED: return "wired";
    case GW_TRANSPORT_BLUETOOTH: return "bluetooth";
    }
  return "unknown";
}

static GwVerdict
verdict (GwVerdict v, char **reason, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static GwVerdict
verdict (GwVerdict v, char **reason, const char *fmt, ...)
{
  va_list ap;

  if (reason != NULL)
    {
      va_start (ap, fmt);
      *reason = g_strdup_vprintf (fmt, ap);
      va_end (ap);
    }
  return v;
}

static gboolean
listed (char **list, const char *name)
{
  for (char **p = list; p != NULL && *p != NULL; p++)
    if (g_ascii_strcasecmp (*p, name) == 0)
      return TRUE;
  return FALSE;
}

static const char *const bt_levels[] = { "unknown", "low", "medium", "high", "fips" };

static GwVerdict
wifi_verdict (const GwLinkFacts *f, const GwConfig *policy, char **reason)
{
  if (f->key_management == NULL)
    return verdict (GW_VERDICT_UNKNOWN, reason,
                    "the station's key management is not known");
  if (g_ascii_strcasecmp (f->key_management, "NONE") == 0)
    return verdict (GW_VERDICT_INSECURE, reason, "open network: nothing is encrypted");
  /* OWE encrypts but authenticates no one: anyone can be the other end. */
  if (g_ascii_strcasecmp (f->key_management, "OWE") == 0)
    return verdict (GW_VERDICT_INSECURE, reason,
                    "OWE encrypts without authentication");
  if (!listed (policy->wifi_secure_akms, f->key_management))
    return verdict (GW_VERDICT_INSECURE, reason,
                    "key management %s is not in wifi-secure-key-management",
                    f->key_management);
  if (f->pairwise_cipher == NULL)
    return verdict (GW_VERDICT_UNKNOWN, reason, "the pairwise cipher is not known");
  if (!listed (policy->wifi_secure_ciphers, f->pairwise_cipher))
    return verdict (GW_VERDICT_INSECURE, reason,
                    "pairwise cipher %s is not in wifi-secure-ciphers",
                    f->pairwise_cipher);
  return verdict (GW_VERDICT_SECURE, reason, "%s with %s", f->key_management,
                  f->pairwise_cipher);
}

static GwVerdict
bluetooth_verdict (const GwLinkFacts *f, const GwConfig *policy, char **reason)
{
  guint level = f->bt_security_level;

  if (level == 0 || level >= G_N_ELEMENTS (bt_levels))
    return verdict (GW_VERDICT_UNKNOWN, reason, "the link's security level is not known");
  if (!f->bt_paired || !f->bt_bonded)
    return verdict (GW_VERDICT_INSECURE, reason, "the device is not %s",
                    !f->bt_paired ? "paired" : "bonded");
  if (level < (guint) policy->bluetooth_min_security)
    return verdict (GW_VERDICT_INSECURE, reason,
                    "security level %s is below bluetooth-min-security %s",
                    bt_levels[level], bt_levels[policy->bluetooth_min_security]);
  return verdict (GW_VERDICT_SECURE, reason, "paired, bonded, security level %s",
                  bt_levels[level]);
}

GwVerdict
gw_link_verdict (const GwLinkFacts *facts, const GwConfig *policy, char **reason)
{
  switch (facts->transport)
    {
    case GW_TRANSPORT_WIRED:
      return policy->wired_is_secure ?
             verdict (GW_VERDICT_SECURE, reason, "wired links are trusted by policy") :
             verdict (GW_VERDICT_INSECURE, reason, "wired links are not trusted by policy");
    case GW_TRANSPORT_WIFI:
      return wifi_verdict (facts, policy, reason);
    case GW_TRANSPORT_BLUETOOTH:
      return bluetooth_verdict (facts, policy, reason);
    }
  return verdict (GW_VERDICT_UNKNOWN, reason, "unknown transport");
}

/* ---- 802.11 suite selectors ---- */

typedef struct {
  guint       type;
  const char *name;
} Suite;

static const Suite akms[] = {
  { 1, "WPA-EAP" }, { 2, "WPA-PSK" }, { 3, "FT-EAP" }, { 4, "FT-PSK" },
  { 5, "WPA-EAP-SHA256" }, { 6, "WPA-PSK-SHA256" }, { 8, "SAE" }, { 9, "FT-SAE" },
  { 11, "WPA-EAP-SUITE-B" }, { 12, "WPA-EAP-SUITE-B-192" }, { 18, "OWE" },
  { 24, "SAE-EXT-KEY" },
};

static const Suite ciphers[] = {
  { 1, "WEP40" }, { 2, "TKIP" }, { 4, "CCMP" }, { 5, "WEP104" }, { 8, "GCMP" },
  { 9, "GCMP-256" }, { 10, "CCMP-256" },
};

/* "00-0f-ac-8" or "000fac-8": the IEEE 802.11 OUI and a suite type. */
static gboolean
parse_selector (const char *selector, guint *type)
{
  char oui[16];
  const char *dash = selector != NULL ? strrchr (selector, '-') : NULL;
  gsize n = 0;
  guint64 value;

  if (dash == NULL)
    return FALSE;
  for (const char *p = selector; p < dash && n < sizeof oui - 1; p++)
    if (*p != '-')
      oui[n++] = g_ascii_tolower (*p);
  oui[n] = '\0';
  if (strcmp (oui, "000fac") != 0 ||
      !g_ascii_string_to_unsigned (dash + 1, 10, 0, 255, &value, NULL))
    return FALSE;
  *type = value;
  return TRUE;
}

static const char *
suite_name (const Suite *table, gsize n, const char *selector)
{
  guint type;

  if (!parse_selector (selector, &type))
    return NULL;
  for (gsize i = 0; i < n; i++)
    if (table[i].type == type)
      return table[i].name;
  return NULL;
}

const char *
gw_akm_from_selector (const char *selector)
{
  return suite_name (akms, G_N_ELEMENTS (akms), selector);
}

const char *
gw_cipher_from_selector (const char *selector)
{
  return suite_name (ciphers, G_N_ELEMENTS (ciphers), selector);
}

gboolean
gw_link_facts_from_hostapd_sta (const char *reply, char **key_management,
                                char **pairwise_cipher)
{
  g_auto(GStrv) lines = g_strsplit (reply, "\n", -1);
  const char *akm = NULL, *cipher = NULL;

  *key_management = NULL;
  *pairwise_cipher = NULL;
  /* The first line is the station's address; "FAIL" means no such one. */
  if (lines[0] == NULL || g_str_has_prefix (lines[0], "FAIL"))
    return FALSE;
  for (char **l = lines; *l != NULL; l++)
    {
      char *eq = strchr (*l, '=');
      if (eq == NULL)
        continue;
      *eq = '\0';
      if (strcmp (*l, "AKMSuiteSelector") == 0)
        akm = gw_akm_from_selector (g_strstrip (eq + 1));
      else if (strcmp (*l, "dot11RSNAStatsSelectedPairwiseCipher") == 0)
        cipher = gw_cipher_from_selector (g_strstrip (eq + 1));
    }
  /* Missing or unknown selectors stay unknown, and unknown is not secure. */
  *key_management = g_strdup (akm);
  *pairwise_cipher = g_strdup (cipher);
  return TRUE;
}

gboolean
gw_hostapd_config_is_open (const char *reply)
{
  g_auto(GStrv) lines = g_strsplit (reply, "\n", -1);
  gboolean bss = FALSE;

  for (char **l = lines; *l != NULL; l++)
    {
      if (g_str_has_prefix (*l, "bssid="))
        bss = TRUE;
      else if (g_str_has_prefix (*l, "wpa=") || g_str_has_prefix (*l, "key_mgmt="))
        return FALSE;
    }
  /* Anything but a real answer ("FAIL", nothing) proves nothing. */
  return bss;
}

/* ---- wpa_supplicant's names ---- */

typedef struct {
  const char *supplicant;   /* wpa_key_mgmt_txt() / wpa_cipher_txt() */
  const char *policy;
} Name;

static const Name supplicant_akms[] = {
  { "NONE", "NONE" },
  /* Dynamic WEP: no WPA at all. */
  { "IEEE 802.1X (no WPA)", "IEEE8021X" },
  { "WPA2/IEEE 802.1X/EAP", "WPA-EAP" },
  { "WPA/IEEE 802.1X/EAP", "WPA1-EAP" },
  { "WPA2-PSK", "WPA-PSK" },
  { "WPA-PSK", "WPA1-PSK" },
  { "WPA-NONE", "WPA-NONE" },
  { "FT-EAP", "FT-EAP" },
  { "FT-EAP-SHA384", "FT-EAP-SHA384" },
  { "FT-PSK", "FT-PSK" },
  { "WPA2-EAP-SHA256", "WPA-EAP-SHA256" },
  { "WPA2-PSK-SHA256", "WPA-PSK-SHA256" },
  { "WPS", "WPS" },
  { "SAE", "SAE" },
  { "SAE-EXT-KEY", "SAE-EXT-KEY" },
  { "FT-SAE", "FT-SAE" },
  { "FT-SAE-EXT-KEY", "FT-SAE-EXT-KEY" },
  { "OSEN", "OSEN" },
  { "WPA2-EAP-SUITE-B", "WPA-EAP-SUITE-B" },
  { "WPA2-EAP-SUITE-B-192", "WPA-EAP-SUITE-B-192" },
  { "FILS-SHA256", "FILS-SHA256" },
  { "FILS-SHA384", "FILS-SHA384" },
  { "FT-FILS-SHA256", "FT-FILS-SHA256" },
  { "FT-FILS-SHA384", "FT-FILS-SHA384" },
  { "OWE", "OWE" },
  { "DPP", "DPP" },
  { "PASN", "PASN" },
};

static const Name supplicant_ciphers[] = {
  { "NONE", "NONE" }, { "WEP-40", "WEP40" }, { "WEP-104", "WEP104" },
  { "TKIP", "TKIP" }, { "CCMP", "CCMP" }, { "GCMP", "GCMP" },
  { "GCMP-256", "GCMP-256" }, { "CCMP-256", "CCMP-256" },
};

static const char *
policy_name (const Name *table, gsize n, const char *name)
{
  for (gsize i = 0; name != NULL && i < n; i++)
    if (strcmp (table[i].supplicant, name) == 0)
      return table[i].policy;
  return NULL;
}

const char *
gw_akm_from_wpa_supplicant (const char *key_mgmt)
{
  return policy_name (supplicant_akms, G_N_ELEMENTS (supplicant_akms), key_mgmt);
}

const char *
gw_cipher_from_wpa_supplicant (const char *pairwise_cipher)
{
  return policy_name (supplicant_ciphers, G_N_ELEMENTS (supplicant_ciphers),
                      pairwise_cipher);
}

gboolean
gw_link_facts_from_wpa_supplicant_status (const char *reply, char **key_management,
                                          char **pairwise_cipher)
{
  g_auto(GStrv) lines = g_strsplit (reply, "\n", -1);
  const char *akm = NULL, *cipher = NULL;
  gboolean completed = FALSE;

  *key_management = NULL;
  *pairwise_cipher = NULL;
  for (char **l = lines; *l != NULL; l++)
    {
      char *eq = strchr (*l, '=');
      if (eq == NULL)
        continue;
      *eq = '\0';
      g_strchomp (eq + 1);
      if (strcmp (*l, "wpa_state") == 0)
        completed = strcmp (eq + 1, "COMPLETED") == 0;
      else if (strcmp (*l, "key_mgmt") == 0)
        akm = gw_akm_from_wpa_supplicant (eq + 1);
      else if (strcmp (*l, "pairwise_cipher") == 0)
        cipher = gw_cipher_from_wpa_supplicant (eq + 1);
    }
  if (!completed)
    return FALSE;
  *key_management = g_strdup (akm);
  *pairwise_cipher = g_strdup (cipher);
  return TRUE;
}
