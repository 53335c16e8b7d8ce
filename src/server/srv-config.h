/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* cpns-server's settings: compiled-in defaults, overridden by the
 * configuration file (GKeyFile), overridden by the command line.  Every bad
 * value is reported with the file, group, key (or option) and the value. */

#include <gio/gio.h>

G_BEGIN_DECLS

#define SRV_CONFIG_DEFAULT_PATH "/etc/cpns/cpns-server.conf"

typedef struct {
  /* [server] */
  char   **listen;             /* "ADDR:PORT", NULL-terminated */
  char    *certificate;
  char    *private_key;
  gboolean insecure_http;
  char    *entity_id;
  char    *base_path;          /* "" or "/a/b": prefix of the endpoint paths */
  char    *database;
  /* [sessions] */
  guint    session_lifetime;   /* seconds */
  guint    poll_timeout;       /* seconds a POLL waits for a message */
  guint    max_sessions;
  /* [enrolment] */
  guint    default_iterations; /* PBKDF2 count of the fake challenges */
  guint    user_failures;      /* failed proofs per User ID ... */
  guint    address_failures;   /* ... and per address ... */
  guint    failure_window;     /* ... within this many seconds */
} SrvConfig;

SrvConfig *srv_config_new  (void);   /* the compiled-in defaults */
void       srv_config_free (SrvConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SrvConfig, srv_config_free)

/* Reads @path over the current values.  A missing file is an error only
 * with @must_exist. */
gboolean   srv_config_load_file (SrvConfig *config, const char *path, gboolean must_exist,
                                 GError **error);
/* Sets one value from text, as the file would: used for the command line.
 * On error, @error says what is wrong with @value; @source names where it
 * came from (for example "--session-lifetime"). */
gboolean   srv_config_set       (SrvConfig *config, const char *group, const char *key,
                                 const char *value, const char *source, GError **error);
gboolean   srv_config_set_listen (SrvConfig *config, const char *const *listen,
                                  const char *source, GError **error);
/* Checks what only the whole configuration can tell (a certificate is
 * needed unless insecure-http is set). */
gboolean   srv_config_check     (SrvConfig *config, GError **error);

/* "ADDR:PORT", "[IPV6]:PORT" -> socket address; only numeric addresses. */
GSocketAddress *srv_config_parse_listen (const char *text, GError **error);

G_END_DECLS
