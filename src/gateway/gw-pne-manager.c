/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-pne-manager.h"

#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cpns-error.h"
#include "gw-enrollment.h"
#include "gw-error.h"
#include "gw-link-probe.h"
#include "gw-pne-link.h"
#include "gw-pne-manager-private.h"

/* PNEs that left without a LocalEUKey stay listed (with the reason they
 * failed) until this many newer ones did the same: anyone on the PAN can
 * announce any Entity ID, so they must not pile up. */
#define GONE_UNKEYED_MAX 64
/* After a burst of PNEs (a power cut ends, a thousand devices reconnect)
 * glibc keeps the freed heap of the handshakes and relays, and after they
 * leave, that of their links; once links have come and gone quietly this
 * long it is given back to the system. */
#define TRIM_AFTER_S 3

struct _GwPneManager {
  GObject             parent_instance;
  const GwConfig     *config;
  CpnsKeystore       *keystore;
  GwUpstream         *upstream;
  GwServerLink       *server_link;
  gboolean            enrolled;
  gboolean            have_source;
  GwCredentialSource  source;
  GHashTable         *pnes;    /* Entity ID -> GwPne */
  GHashTable         *active;  /* Entity ID -> GwPneLink (borrowed from links) */
  GPtrArray          *links;   /* GwPneLink, owned */
  GQueue              gone;    /* Entity IDs of unkeyed, unconnected PNEs, oldest first */
  gulong              relay_handler;
  guint               trim_source;
  GPtrArray          *stores;       /* PendingStore, set but not saved yet */
  guint               store_source;
  gint64              last_save;    /* monotonic */
};

typedef struct {
  GTask        *task;
  char         *name;
  CpnsKeyEntry *replaced;   /* what the name held before, or NULL */
} PendingStore;

static void
pending_store_free (PendingStore *p)
{
  g_clear_object (&p->task);
  g_free (p->name);
  g_clear_pointer (&p->replaced, cpns_key_entry_free);
  g_free (p);
}

enum {
  SIGNAL_PNE_ADDED,
  SIGNAL_PNE_REMOVED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GwPneManager, gw_pne_manager, G_TYPE_OBJECT)

static void forget_gone (GwPneManager *self, const char *entity_id);

const GwConfig *gw_pne_manager_get_config (GwPneManager *self) { return self->config; }
GwUpstream *gw_pne_manager_get_upstream (GwPneManager *self) { return self->upstream; }
GwServerLink *gw_pne_manager_get_server_link (GwPneManager *self) { return self->server_link; }
CpnsKeystore *gw_pne_manager_get_keystore (GwPneManager *self) { return self->keystore; }
gboolean gw_pne_manager_get_enrolled (GwPneManager *self) { return self->enrolled; }
guint gw_pne_manager_get_links (GwPneManager *self) { return self->links->len; }

const GwCredentialSource *
gw_pne_manager_get_credential_source (GwPneManager *self)
{
  return self->have_source ? &self->source : NULL;
}

void
gw_pne_manager_set_credential_source (GwPneManager *self, const GwCredentialSource *source)
{
  self->have_source = source != NULL;
  if (source != NULL)
    self->source = *source;
}

void
gw_pne_manager_set_enrolled (GwPneManager *self, gboolean enrolled)
{
  self->enrolled = enrolled;
}

char *
gw_pne_local_key_name (const char *pne_id)
{
  return g_strconcat (GW_LOCAL_KEY_PREFIX, pne_id, NULL);
}

const char *
gw_pne_manager_get_user_id (GwPneManager *self)
{
  const CpnsKeyEntry *e = cpns_keystore_lookup (self->keystore, GW_EUKEY_ENTRY);

  return e != NULL ? e->user_id : NULL;
}

/* One save for every key set since the last; each caller hears. */
static void
flush_stores (GwPneManager *self)
{
  g_autoptr(GPtrArray) stores = g_steal_pointer (&self->stores);
  g_autoptr(GError) error = NULL;

  g_clear_handle_id (&self->store_source, g_source_remove);
  if (stores == NULL)
    return;
  self->last_save = g_get_monotonic_time ();
  if (cpns_keystore_save (self->keystore, &error))
    {
      g_debug ("saved %u LocalEUKeys at once", stores->len);
      for (guint i = 0; i < stores->len; i++)
        {
          PendingStore *p = stores->pdata[i];
          g_task_return_boolean (p->task, TRUE);
        }
      return;
    }
  g_warning ("cannot save the keystore with %u new LocalEUKeys: %s", stores->len,
             error->message);
  /* Nothing half-done stays in memory either: newest first, so that an
   * entry replaced twice comes back as it was before both. */
  for (guint i = stores->len; i-- > 0;)
    {
      PendingStore *p = stores->pdata[i];

      if (p->replaced == NULL || !cpns_keystore_set (self->keystore, p->replaced, NULL))
        cpns_keystore_remove (self->keystore, p->name);
    }
  for (guint i = 0; i < stores->len; i++)
    {
      PendingStore *p = stores->pdata[i];

      g_task_return_new_error (p->task, error->domain, error->code,
                               "cannot keep the LocalEUKey '%s': %s", p->name,
                               error->message);
    }
}

static gboolean
store_cb (gpointer user_data)
{
  GwPneManager *self = user_data;

  self->store_source = 0;
  flush_stores (self);
  return G_SOURCE_REMOVE;
}

void
gw_pne_manager_store_key_async (GwPneManager *self, const CpnsKeyEntry *entry,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, callback, user_data);
  g_autoptr(GError) error = NULL;
  const CpnsKeyEntry *old = cpns_keystore_lookup (self->keystore, entry->name);
  g_autoptr(CpnsKeyEntry) replaced = old != NULL ? cpns_key_entry_copy (old) : NULL;
  PendingStore *p;
  gint64 wait_ms;

  g_task_set_source_tag (task, gw_pne_manager_store_key_async);
  if (!cpns_keystore_set (self->keystore, entry, &error))
    {
      g_task_return_new_error (task, error->domain, error->code,
                               "cannot keep the LocalEUKey of '%s': %s", entry->peer_id,
                               error->message);
      return;
    }
  p = g_new0 (PendingStore, 1);
  p->task = g_steal_pointer (&task);
  p->name = g_strdup (entry->name);
  p->replaced = g_steal_pointer (&replaced);
  if (self->stores == NULL)
    self->stores = g_ptr_array_new_with_free_func ((GDestroyNotify) pending_store_free);
  g_ptr_array_add (self->stores, p);
  if (self->store_source != 0)
    return;
  wait_ms = GW_PNE_STORE_WINDOW_MS - (g_get_monotonic_time () - self->last_save) / 1000;
  self->store_source = g_timeout_add (CLAMP (wait_ms, 0, GW_PNE_STORE_WINDOW_MS), store_cb,
                                      self);
}

gboolean
gw_pne_manager_store_key_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static GwPne *
add_pne (GwPneManager *self, const char *entity_id)
{
  GwPne *pne = g_hash_table_lookup (self->pnes, entity_id);

  if (pne != NULL)
    return pne;
  pne = gw_pne_new (entity_id);
  g_hash_table_insert (self->pnes, (char *) gw_pne_get_entity_id (pne), pne);
  g_signal_emit (self, signals[SIGNAL_PNE_ADDED], 0, pne);
  return pne;
}

GwPne *
gw_pne_manager_claim (GwPneManager *self, GwPneLink *link, const char *pne_id,
                      GError **error)
{
  GwPneLink *other;
  GwPne *pne;

  if (strcmp (pne_id, self->config->entity_id) == 0 ||
      strcmp (pne_id, self->config->server_id) == 0 ||
      strcmp (pne_id, CPNS_PAN_GATEWAY_ID) == 0)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "a PNE cannot have the Entity ID '%s'", pne_id);
      return NULL;
    }
  other = g_hash_table_lookup (self->active, pne_id);
  if (other != NULL && other != link)
    {
      g_set_error (error, CPNS_ERROR, CPNS_ERROR_WRONG_ID,
                   "Entity ID '%s' is already connected on another link (%s)", pne_id,
                   gw_pan_link_get_address (gw_pne_link_get_pan_link (other)));
      return NULL;
    }
  pne = add_pne (self, pne_id);
  /* The link holds the PNE, and with it the key, while it is active. */
  g_hash_table_replace (self->active, (char *) gw_pne_get_entity_id (pne), link);
  forget_gone (self, pne_id);
  return pne;
}

/* ---- verdicts ---- */

gboolean
gw_pne_manager_probe_async (GwPneManager *self, GwPanLink *link, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  GSocketAddress *remote = gw_pan_link_get_remote (link);

  if (remote == NULL)
    return FALSE;
  gw_link_probe_async (remote, self->config, cancellable, callback, user_data);
  return TRUE;
}

void
gw_pne_manager_probe_finish (GwPneManager *self, GwPanLink *link, GAsyncResult *result)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GwLinkProbe) probe = gw_link_probe_finish (result, &error);

  /* Measured once per link: the address objects need not stay with every
   * idle PNE. */
  gw_pan_link_set_remote (link, NULL);
  if (probe == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("not measured: %s", error->message);
      gw_pan_link_set_verdict (link, GW_VERDICT_UNKNOWN, reason);
      return;
    }
  gw_pan_link_set_transport (link, probe->transport);
  gw_pan_link_set_verdict (link, probe->verdict, probe->reason);
  g_message ("%s link %s: %s (%s)", gw_transport_to_string (probe->transport),
             gw_pan_link_get_address (link), gw_verdict_to_string (probe->verdict),
             probe->reason);
}

/* ---- links ---- */

static gboolean
holds_local_key (GwPneManager *self, const char *entity_id)
{
  g_autofree char *name = gw_pne_local_key_name (entity_id);

  return cpns_keystore_lookup (self->keystore, name) != NULL;
}

static void
drop_pne (GwPneManager *self, const char *entity_id)
{
  GwPne *found = g_hash_table_lookup (self->pnes, entity_id);
  g_autoptr(GwPne) pne = NULL;

  if (found == NULL)
    return;
  pne = g_object_ref (found);
  g_hash_table_remove (self->pnes, entity_id);
  g_signal_emit (self, signals[SIGNAL_PNE_REMOVED], 0, pne);
}

static void
forget_gone (GwPneManager *self, const char *entity_id)
{
  GList *l = g_queue_find_custom (&self->gone, entity_id, (GCompareFunc) strcmp);

  if (l != NULL)
    {
      g_free (l->data);
      g_queue_delete_link (&self->gone, l);
    }
}

static void
note_gone (GwPneManager *self, const char *entity_id)
{
  forget_gone (self, entity_id);
  g_queue_push_tail (&self->gone, g_strdup (entity_id));
  while (g_queue_get_length (&self->gone) > GONE_UNKEYED_MAX)
    {
      g_autofree char *oldest = g_queue_pop_head (&self->gone);
      drop_pne (self, oldest);
    }
}

static gboolean trim_cb (gpointer user_data);

static void
trim_later (GwPneManager *self)
{
  g_clear_handle_id (&self->trim_source, g_source_remove);
  self->trim_source = g_timeout_add_seconds (TRIM_AFTER_S, trim_cb, self);
}

void
gw_pne_manager_link_closed (GwPneManager *self, GwPneLink *link, const char *reason)
{
  GwPne *pne = gw_pne_link_get_pne (link);

  if (pne != NULL &&
      g_hash_table_lookup (self->active, gw_pne_get_entity_id (pne)) == link)
    {
      GwPneState state = gw_pne_get_state (pne);
      g_autofree char *why = NULL;

      g_hash_table_remove (self->active, gw_pne_get_entity_id (pne));
      /* Half-done provisioning leaves nothing behind but this note: keys
       * are only stored once complete, and the PNE starts over. */
      if (state == GW_PNE_CONNECTED || state == GW_PNE_NEEDS_CREDENTIALS ||
          state == GW_PNE_PROVISIONING)
        why = g_strdup_printf ("the link closed during provisioning: %s", reason);
      if (state != GW_PNE_FAILED)
        gw_pne_set_state (pne, GW_PNE_DISCONNECTED, why);
      if (!holds_local_key (self, gw_pne_get_entity_id (pne)))
        note_gone (self, gw_pne_get_entity_id (pne));
    }
  g_ptr_array_remove_fast (self->links, link);
  trim_later (self);
}

static gboolean
trim_cb (gpointer user_data)
{
  GwPneManager *self = user_data;

  self->trim_source = 0;
#ifdef __GLIBC__
  malloc_trim (0);
#endif
  return G_SOURCE_REMOVE;
}

void
gw_pne_manager_add_link (GwPneManager *self, GwPanLink *pan_link)
{
  GwPneLink *link = gw_pne_link_new (self, pan_link);

  g_ptr_array_add (self->links, link);
  trim_later (self);
  gw_pne_link_start (link);
}

static void
on_relay (GwServerLink *server_link, const char *pne_id, GBytes *record, gpointer user_data)
{
  GwPneManager *self = user_data;
  GwPneLink *link = g_hash_table_lookup (self->active, pne_id);

  if (link == NULL)
    {
      g_message ("PNE %s is not connected; dropped a record the server had for it", pne_id);
      return;
    }
  gw_pne_link_deliver (link, record);
}

/* ---- registry ---- */

static gint
compare_pnes (gconstpointer a, gconstpointer b)
{
  return strcmp (gw_pne_get_entity_id (*(GwPne **) a), gw_pne_get_entity_id (*(GwPne **) b));
}

GPtrArray *
gw_pne_manager_list_pnes (GwPneManager *self)
{
  GPtrArray *out = g_ptr_array_new ();
  GHashTableIter it;
  gpointer value;

  g_hash_table_iter_init (&it, self->pnes);
  while (g_hash_table_iter_next (&it, NULL, &value))
    g_ptr_array_add (out, value);
  g_ptr_array_sort (out, compare_pnes);
  return out;
}

GwPne *
gw_pne_manager_lookup (GwPneManager *self, const char *entity_id)
{
  return g_hash_table_lookup (self->pnes, entity_id);
}

gboolean
gw_pne_manager_provision (GwPneManager *self, const char *entity_id, GError **error)
{
  GwPneLink *link = g_hash_table_lookup (self->active, entity_id);

  if (link == NULL)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_NOT_FOUND, "PNE '%s' is not connected",
                   entity_id);
      return FALSE;
    }
  return gw_pne_link_provision (link, error);
}

void
gw_pne_manager_credentials_available (GwPneManager *self)
{
  GHashTableIter it;
  gpointer value;
  g_autoptr(GPtrArray) waiting = g_ptr_array_new_with_free_func (g_object_unref);

  g_hash_table_iter_init (&it, self->active);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      GwPne *pne = gw_pne_link_get_pne (value);
      if (pne != NULL && gw_pne_get_state (pne) == GW_PNE_NEEDS_CREDENTIALS)
        g_ptr_array_add (waiting, g_object_ref (value));
    }
  for (guint i = 0; i < waiting->len; i++)
    gw_pne_link_credentials_available (g_ptr_array_index (waiting, i));
}

gboolean
gw_pne_manager_forget (GwPneManager *self, const char *entity_id, GError **error)
{
  g_autofree char *name = gw_pne_local_key_name (entity_id);
  GwPneLink *link;

  if (g_hash_table_lookup (self->pnes, entity_id) == NULL)
    {
      g_set_error (error, GW_ERROR, GW_ERROR_NOT_FOUND, "no PNE '%s' is known", entity_id);
      return FALSE;
    }
  if (cpns_keystore_remove (self->keystore, name) && !cpns_keystore_save (self->keystore, error))
    {
      g_prefix_error (error, "cannot forget the LocalEUKey of '%s': ", entity_id);
      return FALSE;
    }
  /* A key of this PNE still waiting to be saved went with it (its link
   * closes below, so the PNE never gets it); if that save fails, the
   * rollback must not bring back the entry the key had replaced. */
  for (guint i = 0; self->stores != NULL && i < self->stores->len; i++)
    {
      PendingStore *p = self->stores->pdata[i];

      if (strcmp (p->name, name) == 0)
        g_clear_pointer (&p->replaced, cpns_key_entry_free);
    }
  link = g_hash_table_lookup (self->active, entity_id);
  if (link != NULL)
    gw_pne_link_close (link, "the PNE was forgotten");
  forget_gone (self, entity_id);
  drop_pne (self, entity_id);
  g_message ("forgot PNE %s", entity_id);
  return TRUE;
}

void
gw_pne_manager_stop (GwPneManager *self)
{
  while (self->links->len > 0)
    gw_pne_link_close (g_ptr_array_index (self->links, self->links->len - 1),
                       "the gateway is stopping");
}

GwPneManager *
gw_pne_manager_new (const GwConfig *config, CpnsKeystore *keystore, GwUpstream *upstream,
                    GwServerLink *server_link)
{
  GwPneManager *self = g_object_new (GW_TYPE_PNE_MANAGER, NULL);
  g_auto(GStrv) names = cpns_keystore_list (keystore);

  self->config = config;
  self->keystore = keystore;
  self->upstream = g_object_ref (upstream);
  self->server_link = g_object_ref (server_link);
  self->relay_handler = g_signal_connect (server_link, "relay", G_CALLBACK (on_relay), self);
  /* PNEs that hold a LocalEUKey with us are known before they connect. */
  for (guint i = 0; names[i] != NULL; i++)
    {
      const CpnsKeyEntry *e = cpns_keystore_lookup (keystore, names[i]);
      if (e->kind == CPNS_KEY_LOCAL_EUKEY && g_str_has_prefix (names[i], GW_LOCAL_KEY_PREFIX))
        add_pne (self, e->peer_id);
    }
  return self;
}

static void
gw_pne_manager_dispose (GObject *object)
{
  GwPneManager *self = GW_PNE_MANAGER (object);

  if (self->links != NULL)
    gw_pne_manager_stop (self);
  /* Keys already set are saved, not dropped: it is what a save of the
   * keystore for any other reason would do with them. */
  flush_stores (self);
  g_clear_handle_id (&self->trim_source, g_source_remove);
  if (self->server_link != NULL)
    g_clear_signal_handler (&self->relay_handler, self->server_link);
  g_clear_object (&self->server_link);
  g_clear_object (&self->upstream);
  G_OBJECT_CLASS (gw_pne_manager_parent_class)->dispose (object);
}

static void
gw_pne_manager_finalize (GObject *object)
{
  GwPneManager *self = GW_PNE_MANAGER (object);

  g_ptr_array_unref (self->links);
  g_queue_clear_full (&self->gone, g_free);
  g_hash_table_unref (self->active);
  g_hash_table_unref (self->pnes);
  G_OBJECT_CLASS (gw_pne_manager_parent_class)->finalize (object);
}

static void
gw_pne_manager_class_init (GwPneManagerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gw_pne_manager_dispose;
  object_class->finalize = gw_pne_manager_finalize;
  signals[SIGNAL_PNE_ADDED] = g_signal_new ("pne-added", G_TYPE_FROM_CLASS (klass),
                                            G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                            G_TYPE_NONE, 1, GW_TYPE_PNE);
  signals[SIGNAL_PNE_REMOVED] = g_signal_new ("pne-removed", G_TYPE_FROM_CLASS (klass),
                                              G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                              G_TYPE_NONE, 1, GW_TYPE_PNE);
}

static void
gw_pne_manager_init (GwPneManager *self)
{
  /* Keyed by the PNEs' own Entity IDs. */
  self->pnes = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
  self->active = g_hash_table_new (g_str_hash, g_str_equal);
  self->links = g_ptr_array_new_with_free_func (g_object_unref);
  g_queue_init (&self->gone);
}
