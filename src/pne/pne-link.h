/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* A small blocking driver for a PneMachine over a connected stream socket
 * (TCP, RFCOMM, a socketpair): section 7 framing, poll() timeouts, nothing
 * else.  Device makers with their own event loop drive the machine
 * themselves and leave this file out.
 *
 * Link failures are G_IO_ERROR errors (G_IO_ERROR_TIMED_OUT,
 * G_IO_ERROR_CONNECTION_CLOSED, G_IO_ERROR_BROKEN_PIPE, ...); protocol
 * failures are the machine's CPNS_ERROR errors. */

#include <gio/gio.h>

#include "pne-machine.h"

G_BEGIN_DECLS

typedef struct _PneLink PneLink;

/* Connects to "host:port", "[v6addr]:port" or "v4addr:port"; returns the
 * connected fd or -1. */
int       pne_link_connect (const char *address, int timeout_ms, GError **error);

/* Takes @fd (closed by pne_link_free()); borrows @machine. */
PneLink  *pne_link_new   (int fd, PneMachine *machine);
void      pne_link_free  (PneLink *link);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PneLink, pne_link_free)

/* Sends everything the machine has queued. */
gboolean  pne_link_flush (PneLink *link, int timeout_ms, GError **error);

/* The next event of the machine: flushes its output and reads frames from
 * the link until it raises one.  @timeout_ms < 0 waits for ever. */
PneEvent *pne_link_wait_event (PneLink *link, int timeout_ms, GError **error);

/* Asked for User ID and password when the machine needs them (path 1);
 * returns FALSE with @error set to give up.  @retry is TRUE after the
 * server refused the previous ones. */
typedef gboolean (*PneCredentialsFunc) (gboolean retry, char **user_id,
                                        CpnsSecret **password, gpointer user_data,
                                        GError **error);
/* Sees every event on the way (may be NULL). */
typedef void     (*PneEventFunc)       (const PneEvent *event, gpointer user_data);

/* Starts the machine if it is new, and runs it until the PNE <-> PN GW
 * session is up. */
gboolean  pne_link_run_until_ready (PneLink *link, PneCredentialsFunc credentials,
                                    PneEventFunc on_event, gpointer user_data,
                                    int timeout_ms, GError **error);

int       pne_link_get_fd (PneLink *link);

G_END_DECLS
