/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the gateway knows about one PNE: who it is, how it is connected,
 * which EUKey path it took and where provisioning stands.  One object per
 * known PNE, whether connected now or not; the D-Bus edge shows each as an
 * org.cpns.PNE1 object, and every change is a GObject notify. */

#include <glib-object.h>

#include "gw-link-verdict.h"

G_BEGIN_DECLS

typedef enum {
  GW_PNE_DISCONNECTED,       /* known (holds a LocalEUKey) but no link now */
  GW_PNE_CONNECTED,          /* link up, announced, path being chosen */
  GW_PNE_NEEDS_CREDENTIALS,  /* waiting for an agent: Provision() asks again */
  GW_PNE_PROVISIONING,       /* an EUKey path or the LocalEUKey step runs */
  GW_PNE_READY,              /* the PNE <-> gateway session is up */
  GW_PNE_FAILED,             /* see last-error; the link was closed */
} GwPneState;

typedef enum {
  GW_PNE_PATH_NONE,            /* not decided yet */
  GW_PNE_PATH_EXISTING,        /* the PNE already held an EUKey */
  GW_PNE_PATH_PNE_UI,          /* 7.4.1 */
  GW_PNE_PATH_INSTALL_CREDS,   /* 7.4.2 */
  GW_PNE_PATH_TEMPORARY_KEY,   /* 7.4.3 */
} GwPnePath;

#define GW_TYPE_PNE (gw_pne_get_type ())
G_DECLARE_FINAL_TYPE (GwPne, gw_pne, GW, PNE, GObject)

GwPne       *gw_pne_new (const char *entity_id);

const char  *gw_pne_get_entity_id      (GwPne *self);
const char  *gw_pne_get_name           (GwPne *self);   /* "" until announced */
GwTransport  gw_pne_get_transport      (GwPne *self);
const char  *gw_pne_get_address        (GwPne *self);   /* "" when unknown */
GwVerdict    gw_pne_get_verdict        (GwPne *self);
const char  *gw_pne_get_verdict_reason (GwPne *self);
GwPnePath    gw_pne_get_path           (GwPne *self);
GwPneState   gw_pne_get_state          (GwPne *self);
const char  *gw_pne_get_last_error     (GwPne *self);   /* "" when none */
gboolean     gw_pne_get_has_ui         (GwPne *self);
gboolean     gw_pne_get_has_tk         (GwPne *self);

void gw_pne_set_announcement (GwPne *self, const char *name, gboolean has_ui,
                              gboolean has_tk);
void gw_pne_set_link         (GwPne *self, GwTransport transport, const char *address,
                              GwVerdict verdict, const char *verdict_reason);
void gw_pne_set_path         (GwPne *self, GwPnePath path);
/* @last_error NULL keeps the previous one; "" clears it. */
void gw_pne_set_state        (GwPne *self, GwPneState state, const char *last_error);

/* The one observer of every change a "notify" reports (the D-Bus objects):
 * a signal connection per PNE would cost some 260 bytes of heap, and a
 * gateway knows thousands.  NULL removes it. */
typedef void (*GwPneChangedFunc) (GwPne *pne, gpointer user_data);
void gw_pne_set_changed_func (GwPne *self, GwPneChangedFunc func, gpointer user_data);

const char *gw_pne_state_to_string (GwPneState state);
const char *gw_pne_path_to_string  (GwPnePath path);

G_END_DECLS
