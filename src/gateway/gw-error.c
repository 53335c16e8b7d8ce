/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-error.h"

G_DEFINE_QUARK (gw-error-quark, gw_error)
