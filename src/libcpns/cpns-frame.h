/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Stream framing for PAN links: each record is preceded by its length as a
 * 4-byte big-endian integer (docs/protocol.md, "Stream framing"). */

#include <glib.h>

G_BEGIN_DECLS

#define CPNS_FRAME_HEADER_LEN 4

typedef struct _CpnsDeframer CpnsDeframer;

/* Frames are 1..@max_frame bytes; a stream that announces anything else is
 * broken for good, since it cannot be resynchronised. */
CpnsDeframer *cpns_deframer_new      (gsize max_frame);
void          cpns_deframer_free     (CpnsDeframer *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpnsDeframer, cpns_deframer_free)

gboolean      cpns_deframer_push     (CpnsDeframer *d, const guint8 *data, gsize len,
                                      GError **error);
/* Next complete frame, valid until the next push or next call; NULL if none.
 * Callers drain frames after each push: at most two maximum-size frames are
 * buffered. */
const guint8 *cpns_deframer_next     (CpnsDeframer *d, gsize *len);
gsize         cpns_deframer_buffered (CpnsDeframer *d);

void          cpns_frame_header      (guint8 out[CPNS_FRAME_HEADER_LEN], gsize len);

G_END_DECLS
