/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "ctl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* What a person reads for each property; others show their D-Bus name. */
static const struct {
  const char *name;
  const char *label;
} labels[] = {
  { "EntityId", "Entity ID" },
  { "UserId", "User ID" },
  { "ServerUrl", "Server URL" },
  { "ServerReachable", "Server reachable" },
  { "SessionState", "Session" },
  { "CredentialMode", "Credential mode" },
  { "LastError", "Last error" },
  { "LinkSecurity", "Link security" },
  { "EukeyPath", "EUKey path" },
};

static const char *
label_of (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (labels); i++)
    if (strcmp (labels[i].name, name) == 0)
      return labels[i].label;
  return name;
}

void
ctl_json_string (GString *out, const char *s)
{
  g_autofree char *valid = NULL;

  /* D-Bus strings are UTF-8 already; local ones (file names) may not be. */
  if (!g_utf8_validate (s, -1, NULL))
    s = valid = g_utf8_make_valid (s, -1);
  g_string_append_c (out, '"');
  for (const char *p = s; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      switch (c)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        default:
          if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\u%04x", c);
          else
            g_string_append_c (out, (char) c);
        }
    }
  g_string_append_c (out, '"');
}

void
ctl_json_value (GString *out, GVariant *value)
{
  g_autofree char *other = NULL;

  if (value == NULL)
    {
      g_string_append (out, "null");
      return;
    }
  switch (g_variant_classify (value))
    {
    case G_VARIANT_CLASS_STRING:
    case G_VARIANT_CLASS_OBJECT_PATH:
    case G_VARIANT_CLASS_SIGNATURE:
      ctl_json_string (out, g_variant_get_string (value, NULL));
      break;
    case G_VARIANT_CLASS_BOOLEAN:
      g_string_append (out, g_variant_get_boolean (value) ? "true" : "false");
      break;
    case G_VARIANT_CLASS_BYTE:
      g_string_append_printf (out, "%u", g_variant_get_byte (value));
      break;
    case G_VARIANT_CLASS_INT16:
      g_string_append_printf (out, "%d", g_variant_get_int16 (value));
      break;
    case G_VARIANT_CLASS_UINT16:
      g_string_append_printf (out, "%u", g_variant_get_uint16 (value));
      break;
    case G_VARIANT_CLASS_INT32:
      g_string_append_printf (out, "%d", g_variant_get_int32 (value));
      break;
    case G_VARIANT_CLASS_UINT32:
      g_string_append_printf (out, "%u", g_variant_get_uint32 (value));
      break;
    case G_VARIANT_CLASS_INT64:
      g_string_append_printf (out, "%" G_GINT64_FORMAT, g_variant_get_int64 (value));
      break;
    case G_VARIANT_CLASS_UINT64:
      g_string_append_printf (out, "%" G_GUINT64_FORMAT, g_variant_get_uint64 (value));
      break;
    case G_VARIANT_CLASS_DOUBLE:
      /* JSON has no NaN or infinities. */
      if (isfinite (g_variant_get_double (value)))
        g_string_append_printf (out, "%.17g", g_variant_get_double (value));
      else
        g_string_append (out, "null");
      break;
    default:
      /* Not in the API today: keep it readable rather than guess a shape. */
      other = g_variant_print (value, FALSE);
      ctl_json_string (out, other);
    }
}

static void
append_cached (GString *out, GDBusProxy *proxy, GDBusInterfaceInfo *info, gboolean first)
{
  for (guint i = 0; info->properties[i] != NULL; i++)
    {
      const char *name = info->properties[i]->name;
      g_autoptr(GVariant) value = g_dbus_proxy_get_cached_property (proxy, name);

      if (!first)
        g_string_append_c (out, ',');
      first = FALSE;
      ctl_json_string (out, name);
      g_string_append_c (out, ':');
      ctl_json_value (out, value);
    }
}

/* {"Name": value, ...} in the order of the introspection XML; a property
 * pngwd did not give is null. */
void
ctl_json_properties (GString *out, GDBusProxy *proxy, GDBusInterfaceInfo *info)
{
  g_string_append_c (out, '{');
  append_cached (out, proxy, info, TRUE);
  g_string_append_c (out, '}');
}

/* A PNE is its properties plus "ObjectPath". */
void
ctl_json_pne (GString *out, GDBusProxy *pne)
{
  g_string_append (out, "{\"ObjectPath\":");
  ctl_json_string (out, g_dbus_proxy_get_object_path (pne));
  append_cached (out, pne, pngw_pne1_interface_info (), FALSE);
  g_string_append_c (out, '}');
}

void
ctl_json_dict (GString *out, GVariant *dict)
{
  GVariantIter iter;
  const char *name;
  GVariant *value;
  gboolean first = TRUE;

  g_string_append_c (out, '{');
  g_variant_iter_init (&iter, dict);
  while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
    {
      if (!first)
        g_string_append_c (out, ',');
      first = FALSE;
      ctl_json_string (out, name);
      g_string_append_c (out, ':');
      ctl_json_value (out, value);
      g_variant_unref (value);
    }
  g_string_append_c (out, '}');
}

/* Control characters (C0, DEL and C1) are shown escaped: names and errors
 * come from devices and servers, and must not drive the terminal. */
void
ctl_text_string (GString *out, const char *s, gboolean quote)
{
  g_autofree char *valid = NULL;
  gboolean quoted = quote && (*s == '\0' || strpbrk (s, " \t\"'=\\") != NULL);

  if (!g_utf8_validate (s, -1, NULL))
    s = valid = g_utf8_make_valid (s, -1);
  if (quoted)
    g_string_append_c (out, '"');
  for (const char *p = s; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c == '\n')
        g_string_append (out, "\\n");
      else if (c == '\t')
        g_string_append (out, "\\t");
      else if (g_unichar_iscntrl (c))
        g_string_append_printf (out, "\\x%02x", c);
      else
        {
          if (quoted && (c == '"' || c == '\\'))
            g_string_append_c (out, '\\');
          g_string_append_unichar (out, c);
        }
    }
  if (quoted)
    g_string_append_c (out, '"');
}

void
ctl_text_value (GString *out, GVariant *value, gboolean quote)
{
  g_autofree char *printed = NULL;

  if (value == NULL)
    g_string_append (out, "(unknown)");
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
    g_string_append (out, g_variant_get_boolean (value) ? "yes" : "no");
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ||
           g_variant_is_of_type (value, G_VARIANT_TYPE_OBJECT_PATH))
    {
      const char *s = g_variant_get_string (value, NULL);

      if (*s == '\0' && !quote)
        g_string_append (out, "(none)");
      else
        ctl_text_string (out, s, quote);
    }
  else
    {
      printed = g_variant_print (value, FALSE);
      ctl_text_string (out, printed, quote);
    }
}

/* Starts a "Label:  " row, values aligned after the widest label. */
static void
begin_row (GString *line, const char *label, int width)
{
  g_string_printf (line, "%s:%*s", label, width - (int) strlen (label) + 1, "");
}

/* One row per property; @with_path adds the object path. */
void
ctl_print_properties (GDBusProxy *proxy, GDBusInterfaceInfo *info, gboolean with_path)
{
  const char *path_label = "Object path";
  g_autoptr(GString) line = g_string_new (NULL);
  int width = with_path ? (int) strlen (path_label) : 0;

  for (guint i = 0; info->properties[i] != NULL; i++)
    width = MAX (width, (int) strlen (label_of (info->properties[i]->name)));
  for (guint i = 0; info->properties[i] != NULL; i++)
    {
      const char *name = info->properties[i]->name;
      g_autoptr(GVariant) value = g_dbus_proxy_get_cached_property (proxy, name);

      begin_row (line, label_of (name), width);
      ctl_text_value (line, value, FALSE);
      ctl_print_line (line);
    }
  if (with_path)
    {
      begin_row (line, path_label, width);
      g_string_append (line, g_dbus_proxy_get_object_path (proxy));
      ctl_print_line (line);
    }
}

/* The EntityId, or the last part of the path while pngwd has not said. */
char *
ctl_entity_id (GDBusProxy *proxy)
{
  g_autoptr(GVariant) id = g_dbus_proxy_get_cached_property (proxy, "EntityId");

  if (id != NULL && g_variant_is_of_type (id, G_VARIANT_TYPE_STRING))
    return g_variant_dup_string (id, NULL);
  return g_path_get_basename (g_dbus_proxy_get_object_path (proxy));
}

void
ctl_print_line (GString *line)
{
  g_string_append_c (line, '\n');
  fwrite (line->str, 1, line->len, stdout);
  /* Someone may be reading line by line from a pipe (monitor). */
  fflush (stdout);
}
