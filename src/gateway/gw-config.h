/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* pngwd's configuration: /etc/pngw/pngwd.conf (GKeyFile) over defaults
 * compiled in.  Every bad value is an error naming file, group, key and
 * value. */

#include <glib.h>

G_BEGIN_DECLS

#define GW_CONFIG_DEFAULT_PATH "/etc/pngw/pngwd.conf"
#define GW_CONFIG_DEFAULT_PAN_LISTEN "[::]:7474"
/* pngwd.service's RuntimeDirectory=: hostapd must be able to reach it. */
#define GW_CONFIG_DEFAULT_CONTROL_DIRECTORY "/run/pngw"

typedef enum {
  GW_CREDENTIAL_ENROLL,         /* the user enrols the gateway with User ID/password */
  GW_CREDENTIAL_PRECONFIGURED,  /* an operator-provisioned EUKey file */
} GwCredentialMode;

typedef enum {
  GW_BT_SECURITY_LOW = 1,
  GW_BT_SECURITY_MEDIUM = 2,
  GW_BT_SECURITY_HIGH = 3,
  GW_BT_SECURITY_FIPS = 4,
} GwBtSecurity;

typedef struct {
  char            *path;              /* file it came from, or NULL */
  /* [gateway] */
  char            *entity_id;
  char            *state_dir;
  char            *kek_file;
  GwCredentialMode credential;
  char            *credential_file;
  /* [server] */
  char            *server_url;
  char            *server_ca;         /* NULL: the system's CAs */
  char            *server_id;
  gboolean         allow_insecure_http;
  guint            connect_timeout;   /* seconds */
  guint            request_timeout;
  guint            retry_min;
  guint            retry_max;
  guint            session_lifetime;
  /* [pan] */
  gboolean         wired_is_secure;
  char           **wifi_secure_akms;
  char           **wifi_secure_ciphers;
  GwBtSecurity     bluetooth_min_security;
  char           **pan_listen;        /* "ADDR:PORT" / "[IPV6]:PORT"; empty: no TCP listener */
  guint            pan_max_links;     /* concurrent PAN links */
  guint            pan_idle_timeout;  /* seconds without a frame before a link closes */
  guint            pan_handshake_timeout; /* seconds a PNE may take per provisioning step */
  char           **pan_hostapd_control;        /* control socket paths; basename = interface */
  char           **pan_wpa_supplicant_control; /* control socket paths; basename = interface */
  char            *pan_control_directory;      /* our end of those control sockets */
} GwConfig;

GwConfig   *gw_config_new_default       (void);
/* Reads @path over the defaults; a missing file is an error unless
 * @missing_ok. */
GwConfig   *gw_config_load              (const char *path, gboolean missing_ok,
                                         GError **error);
void        gw_config_free              (GwConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GwConfig, gw_config_free)

const char *gw_credential_mode_to_string (GwCredentialMode mode);
char       *gw_config_keystore_path      (const GwConfig *config);

G_END_DECLS
