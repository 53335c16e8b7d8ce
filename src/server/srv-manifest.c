/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "srv-manifest.h"

#include <string.h>

#include "srv-hex.h"

#define TK_MIN 16
#define TK_MAX 64

void
srv_manifest_entry_free (SrvManifestEntry *e)
{
  if (e == NULL)
    return;
  g_free (e->entity_id);
  cpns_secret_free (e->tk);
  g_free (e);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SrvManifestEntry, srv_manifest_entry_free)

static gboolean
line_error (GError **error, const char *name, guint line, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

static gboolean
line_error (GError **error, const char *name, guint line, const char *fmt, ...)
{
  g_autofree char *what = NULL;
  va_list ap;

  va_start (ap, fmt);
  what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s:%u: %s", name, line, what);
  return FALSE;
}

/* @fields holds the line's three fields. */
static SrvManifestEntry *
parse_entry (char **fields, const char *name, guint line, GError **error)
{
  g_autoptr(SrvManifestEntry) e = g_new0 (SrvManifestEntry, 1);
  gsize id_len = strlen (fields[0]);
  gsize kid_hex = strlen (fields[1]), tk_hex = strlen (fields[2]);

  e->line = line;
  if (!cpns_entity_id_is_valid (fields[0], id_len))
    {
      line_error (error, name, line, "'%s' is not an Entity ID (1-%d characters of "
                  "A-Z a-z 0-9 . _ - : @)", fields[0], CPNS_ID_MAX);
      return NULL;
    }
  if (strcmp (fields[0], CPNS_PAN_GATEWAY_ID) == 0)
    {
      line_error (error, name, line, "'%s' is a reserved ID (protocol.md 12.1) and cannot "
                  "name a PNE", fields[0]);
      return NULL;
    }
  e->entity_id = g_strdup (fields[0]);
  if (kid_hex == 0 || kid_hex > 2 * CPNS_KID_MAX ||
      !srv_hex_decode (fields[1], kid_hex, e->kid))
    {
      line_error (error, name, line, "the TK key ID of '%s' must be 1-%d bytes in hex",
                  fields[0], CPNS_KID_MAX);
      return NULL;
    }
  e->kid_len = kid_hex / 2;
  e->tk = cpns_secret_new0 (tk_hex / 2);
  if (tk_hex < 2 * TK_MIN || tk_hex > 2 * TK_MAX ||
      !srv_hex_decode (fields[2], tk_hex, e->tk->data))
    {
      /* Not the value: it is a key. */
      line_error (error, name, line, "the Temporary Key of '%s' must be %d-%d bytes in hex",
                  fields[0], TK_MIN, TK_MAX);
      return NULL;
    }
  return g_steal_pointer (&e);
}

GPtrArray *
srv_manifest_parse (const char *text, gsize len, const char *name, GError **error)
{
  g_autoptr(GPtrArray) entries =
    g_ptr_array_new_with_free_func ((GDestroyNotify) srv_manifest_entry_free);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *copy = g_strndup (text, len);
  g_auto(GStrv) lines = NULL;
  gboolean ok = TRUE;

  if (strlen (copy) != len)
    {
      guint line = 1;
      for (const char *p = copy; *p != '\0'; p++)
        line += *p == '\n';
      cpns_wipe (copy, len);
      line_error (error, name, line, "the line holds a NUL byte");
      return NULL;
    }
  lines = g_strsplit (copy, "\n", -1);
  for (guint i = 0; ok && lines[i] != NULL; i++)
    {
      char *hash = strchr (lines[i], '#');
      g_auto(GStrv) fields = NULL;
      guint n = 0;
      SrvManifestEntry *e;
      gpointer other;

      if (hash != NULL)
        *hash = '\0';
      g_strdelimit (lines[i], "\t\r\v\f", ' ');
      fields = g_strsplit (g_strstrip (lines[i]), " ", -1);
      /* Runs of blanks leave empty fields: squeeze them out. */
      for (guint k = 0; fields[k] != NULL; k++)
        if (fields[k][0] != '\0')
          fields[n++] = fields[k];
        else
          g_free (fields[k]);
      fields[n] = NULL;
      if (n == 0)
        continue;
      if (n != 3)
        {
          ok = line_error (error, name, i + 1, "expected ENTITY-ID TK-KID-HEX TK-HEX, "
                           "found %u field%s", n, n == 1 ? "" : "s");
          break;
        }
      e = parse_entry (fields, name, i + 1, error);
      cpns_wipe (fields[2], strlen (fields[2]));
      if (e == NULL)
        {
          ok = FALSE;
          break;
        }
      if (g_hash_table_lookup_extended (seen, e->entity_id, NULL, &other))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                       "%s:%u: '%s' is listed already on line %u", name, i + 1,
                       e->entity_id, GPOINTER_TO_UINT (other));
          srv_manifest_entry_free (e);
          ok = FALSE;
          break;
        }
      g_hash_table_insert (seen, e->entity_id, GUINT_TO_POINTER (i + 1));
      g_ptr_array_add (entries, e);
    }
  /* The text may hold keys. */
  for (guint i = 0; lines != NULL && lines[i] != NULL; i++)
    cpns_wipe (lines[i], strlen (lines[i]));
  cpns_wipe (copy, len);
  if (!ok)
    return NULL;
  if (entries->len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: no PNE listed", name);
      return NULL;
    }
  return g_steal_pointer (&entries);
}

GPtrArray *
srv_manifest_load (const char *path, GError **error)
{
  char *text = NULL;
  gsize len = 0;
  GPtrArray *entries;

  if (!g_file_get_contents (path, &text, &len, error))
    return NULL;
  entries = srv_manifest_parse (text, len, path, error);
  cpns_wipe (text, len);
  g_free (text);
  return entries;
}
