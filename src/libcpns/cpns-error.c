/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "cpns-error.h"

G_DEFINE_QUARK (cpns-error-quark, cpns_error)

const char *
cpns_error_code_to_string (guint code)
{
  switch ((CpnsError) code)
    {
    case CPNS_ERROR_FAILED: return "failed";
    case CPNS_ERROR_MALFORMED: return "malformed";
    case CPNS_ERROR_TOO_LARGE: return "too-large";
    case CPNS_ERROR_UNSUPPORTED: return "unsupported";
    case CPNS_ERROR_WRONG_ID: return "wrong-id";
    case CPNS_ERROR_BAD_MAC: return "bad-mac";
    case CPNS_ERROR_REPLAY: return "replay";
    case CPNS_ERROR_TOO_OLD: return "too-old";
    case CPNS_ERROR_POLICY: return "policy";
    case CPNS_ERROR_STATE: return "state";
    case CPNS_ERROR_REFLECTION: return "reflection";
    case CPNS_ERROR_DOWNGRADE: return "downgrade";
    case CPNS_ERROR_ROLE: return "role";
    case CPNS_ERROR_REKEY_NEEDED: return "rekey-needed";
    case CPNS_ERROR_AUTH_FAILED: return "auth-failed";
    case CPNS_ERROR_IO: return "io";
    case CPNS_ERROR_CORRUPT: return "corrupt";
    case CPNS_ERROR_NOT_FOUND: return "not-found";
    case CPNS_ERROR_INVALID_ARGUMENT: return "invalid-argument";
    case CPNS_ERROR_FORBIDDEN: return "forbidden";
    case CPNS_ERROR_RATE_LIMITED: return "rate-limited";
    case CPNS_ERROR_UNAVAILABLE: return "unavailable";
    }
  return "unknown";
}
