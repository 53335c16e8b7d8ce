/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define CPNS_ERROR (cpns_error_quark ())

/* The numeric values are also the wire error codes of the ERROR message
 * (docs/protocol.md, "Error codes"): keep them stable. */
typedef enum {
  CPNS_ERROR_FAILED = 1,        /* internal failure (crypto library, RNG) */
  CPNS_ERROR_MALFORMED = 2,     /* bytes do not decode as the expected item */
  CPNS_ERROR_TOO_LARGE = 3,     /* above a size, depth or count limit */
  CPNS_ERROR_UNSUPPORTED = 4,   /* unknown version, message type, suite, mode */
  CPNS_ERROR_WRONG_ID = 5,      /* source/destination/session ID mismatch */
  CPNS_ERROR_BAD_MAC = 6,       /* tag, MAC or proof does not verify */
  CPNS_ERROR_REPLAY = 7,        /* sequence number already seen */
  CPNS_ERROR_TOO_OLD = 8,       /* sequence number left of the window */
  CPNS_ERROR_POLICY = 9,        /* must-encrypt or plain-message policy */
  CPNS_ERROR_STATE = 10,        /* message or call not valid in this state */
  CPNS_ERROR_REFLECTION = 11,   /* our own nonce, key share or ID echoed */
  CPNS_ERROR_DOWNGRADE = 12,    /* peer chose less than policy allows */
  CPNS_ERROR_ROLE = 13,         /* key not configured for this role */
  CPNS_ERROR_REKEY_NEEDED = 14, /* record limit or lifetime reached */
  CPNS_ERROR_AUTH_FAILED = 15,  /* user authentication failed */
  CPNS_ERROR_IO = 16,           /* file system error (keystore) */
  CPNS_ERROR_CORRUPT = 17,      /* stored data fails its integrity check */
  CPNS_ERROR_NOT_FOUND = 18,    /* no such key, entry or user */
  CPNS_ERROR_INVALID_ARGUMENT = 19,
  CPNS_ERROR_FORBIDDEN = 20,    /* authenticated, but not authorized */
  CPNS_ERROR_RATE_LIMITED = 21, /* too many failed attempts; try later */
  CPNS_ERROR_UNAVAILABLE = 22,  /* server unreachable, busy or stopping */
} CpnsError;

GQuark      cpns_error_quark (void);
const char *cpns_error_code_to_string (guint code);

G_END_DECLS
