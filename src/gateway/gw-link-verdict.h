/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The verdict on a PAN link's security: a pure function from measured facts
 * (what hostapd or wpa_supplicant report for a Wi-Fi station, the security
 * level and pairing of a Bluetooth link, or a wired link) and the [pan]
 * policy of the configuration.  The EUKey path of a PNE depends on it. */

#include <glib.h>

#include "gw-config.h"

G_BEGIN_DECLS

typedef enum {
  GW_TRANSPORT_WIFI,
  GW_TRANSPORT_WIRED,
  GW_TRANSPORT_BLUETOOTH,
} GwTransport;

typedef enum {
  GW_VERDICT_UNKNOWN,    /* not enough facts: treated as not secure */
  GW_VERDICT_INSECURE,
  GW_VERDICT_SECURE,
} GwVerdict;

typedef struct {
  GwTransport  transport;
  /* Wi-Fi: the station's negotiated AKM and pairwise cipher, by the names
   * hostapd uses (SAE, WPA-PSK, OWE, ...; CCMP, TKIP, ...); NULL when not
   * known. */
  const char  *key_management;
  const char  *pairwise_cipher;
  /* Bluetooth: BT_SECURITY_* level of the socket (0 unknown), and Device1's
   * Paired and Bonded. */
  guint        bt_security_level;
  gboolean     bt_paired;
  gboolean     bt_bonded;
} GwLinkFacts;

/* @reason, when not NULL, receives a sentence a person understands. */
GwVerdict   gw_link_verdict            (const GwLinkFacts *facts, const GwConfig *policy,
                                        char **reason);
const char *gw_verdict_to_string       (GwVerdict verdict);
const char *gw_transport_to_string     (GwTransport transport);

/* IEEE 802.11 suite selectors ("00-0f-ac-8" or "000fac-8", as hostapd's
 * STA command prints them) to the names of the policy; NULL if unknown. */
const char *gw_akm_from_selector       (const char *selector);
const char *gw_cipher_from_selector    (const char *selector);

/* Facts from the text of hostapd's "STA <mac>" reply (key=value lines). */
gboolean    gw_link_facts_from_hostapd_sta (const char *reply, char **key_management,
                                            char **pairwise_cipher);

/* From hostapd's "GET_CONFIG" reply: TRUE if the BSS runs without WPA at
 * all (no wpa= line), i.e. an open network; its stations then have no AKM
 * in their STA reply. */
gboolean    gw_hostapd_config_is_open  (const char *reply);

/* wpa_supplicant's names in its STATUS reply (key_mgmt=WPA2-PSK,
 * pairwise_cipher=CCMP, ...) to the names of the policy; NULL if unknown.
 * WPA version 1 maps to WPA1-PSK / WPA1-EAP, which no default policy lists. */
const char *gw_akm_from_wpa_supplicant    (const char *key_mgmt);
const char *gw_cipher_from_wpa_supplicant (const char *pairwise_cipher);

/* Facts from the text of wpa_supplicant's "STATUS" reply: FALSE unless
 * wpa_state=COMPLETED (not associated, or still negotiating keys). */
gboolean    gw_link_facts_from_wpa_supplicant_status (const char *reply,
                                                      char **key_management,
                                                      char **pairwise_cipher);

G_END_DECLS
