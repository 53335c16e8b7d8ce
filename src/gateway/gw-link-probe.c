/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "gw-link-probe.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "gw-hostapd.h"
#include "gw-neighbour.h"

typedef enum {
  ASK_STA,          /* hostapd: STA <mac> */
  ASK_GET_CONFIG,   /* hostapd: GET_CONFIG, for a station without RSN facts */
  ASK_STATUS,       /* wpa_supplicant: STATUS */
} Question;

typedef struct {
  GwConfig     policy;      /* only the policy fields of the configuration */
  char        *local_dir;
  char        *ctrl_path;
  char        *address;     /* the peer's, for reasons */
  Question     question;
  GwLinkProbe *probe;
} Probe;

void
gw_link_probe_free (GwLinkProbe *probe)
{
  if (probe == NULL)
    return;
  g_free (probe->reason);
  g_free (probe->mac);
  g_free (probe->interface);
  g_free (probe);
}

static void
probe_state_free (Probe *p)
{
  g_strfreev (p->policy.wifi_secure_akms);
  g_strfreev (p->policy.wifi_secure_ciphers);
  g_free (p->local_dir);
  g_free (p->ctrl_path);
  g_free (p->address);
  gw_link_probe_free (p->probe);
  g_free (p);
}

static void
complete (GTask *task)
{
  Probe *p = g_task_get_task_data (task);

  g_debug ("link of %s: %s %s: %s", p->address, gw_transport_to_string (p->probe->transport),
           gw_verdict_to_string (p->probe->verdict), p->probe->reason);
  g_task_return_pointer (task, g_steal_pointer (&p->probe),
                         (GDestroyNotify) gw_link_probe_free);
  g_object_unref (task);
}

/* Ends with facts: gw_link_verdict() decides, @what says whose facts. */
static void
complete_with_facts (GTask *task, const GwLinkFacts *facts, const char *what)
{
  Probe *p = g_task_get_task_data (task);
  g_autofree char *reason = NULL;

  p->probe->transport = facts->transport;
  p->probe->verdict = gw_link_verdict (facts, &p->policy, &reason);
  p->probe->reason = g_strdup_printf ("%s: %s", what, reason);
  complete (task);
}

static void
complete_unknown (GTask *task, GwTransport transport, const char *fmt, ...)
  G_GNUC_PRINTF (3, 4);

static void
complete_unknown (GTask *task, GwTransport transport, const char *fmt, ...)
{
  Probe *p = g_task_get_task_data (task);
  va_list ap;

  va_start (ap, fmt);
  p->probe->transport = transport;
  p->probe->verdict = GW_VERDICT_UNKNOWN;
  p->probe->reason = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  complete (task);
}

static char *
station_name (Probe *p)
{
  return g_strdup_printf ("Wi-Fi station %s on %s", p->probe->mac, p->probe->interface);
}

static char *
own_station_name (Probe *p)
{
  return g_strdup_printf ("Wi-Fi peer %s on %s, where this gateway is a station",
                          p->probe->mac, p->probe->interface);
}

static void ask (GTask *task, Question question, const char *command);

static void
on_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Probe *p = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = gw_hostapd_request_finish (result, &error);
  g_autofree char *who = p->question == ASK_STATUS ? own_station_name (p) : station_name (p);
  g_autofree char *akm = NULL, *cipher = NULL;
  GwLinkFacts facts = { GW_TRANSPORT_WIFI };

  /* Cancelled is the one way to fail. */
  if (g_task_return_error_if_cancelled (task))
    {
      g_object_unref (task);
      return;
    }
  if (reply == NULL)
    {
      complete_unknown (task, GW_TRANSPORT_WIFI, "%s: no facts from %s: %s", who,
                        p->question == ASK_STATUS ? "wpa_supplicant" : "hostapd",
                        error->message);
      return;
    }

  switch (p->question)
    {
    case ASK_STA:
      if (!gw_link_facts_from_hostapd_sta (reply, &akm, &cipher))
        {
          complete_unknown (task, GW_TRANSPORT_WIFI,
                            "%s: hostapd (%s) knows no such station", who, p->ctrl_path);
          return;
        }
      if (akm == NULL)
        {
          /* No RSN facts: an open BSS, or facts hostapd did not give. */
          ask (task, ASK_GET_CONFIG, "GET_CONFIG");
          return;
        }
      break;
    case ASK_GET_CONFIG:
      if (!gw_hostapd_config_is_open (reply))
        {
          complete_unknown (task, GW_TRANSPORT_WIFI,
                            "%s: hostapd (%s) reports no key management for the station",
                            who, p->ctrl_path);
          return;
        }
      akm = g_strdup ("NONE");
      break;
    case ASK_STATUS:
      if (!gw_link_facts_from_wpa_supplicant_status (reply, &akm, &cipher))
        {
          complete_unknown (task, GW_TRANSPORT_WIFI,
                            "%s: wpa_supplicant (%s) is not connected", who,
                            p->ctrl_path);
          return;
        }
      break;
    }
  facts.key_management = akm;
  facts.pairwise_cipher = cipher;
  complete_with_facts (task, &facts, who);
}

static void
ask (GTask *task, Question question, const char *command)
{
  Probe *p = g_task_get_task_data (task);

  p->question = question;
  /* Where our end is bound; in pngwd.service it exists already. */
  if (g_mkdir_with_parents (p->local_dir, 0700) != 0)
    g_debug ("cannot create %s: %s", p->local_dir, g_strerror (errno));
  gw_hostapd_request_async (p->ctrl_path, p->local_dir, command,
                            g_task_get_cancellable (task), on_answer, task);
}

/* The control socket in @paths named after @ifname, or NULL. */
static const char *
control_for (char **paths, const char *ifname)
{
  for (char **c = paths; ifname != NULL && c != NULL && *c != NULL; c++)
    {
      const char *base = strrchr (*c, '/');
      if (g_strcmp0 (base != NULL ? base + 1 : *c, ifname) == 0)
        return *c;
    }
  return NULL;
}

void
gw_link_probe_async (GSocketAddress *peer, const GwConfig *config,
                     GCancellable *cancellable, GAsyncReadyCallback callback,
                     gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  Probe *p = g_new0 (Probe, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GwNeighbour) n = NULL;
  GInetAddress *ip;
  const char *ctrl;
  g_autofree char *wired = NULL;
  g_autofree char *command = NULL;
  GwLinkFacts facts = { GW_TRANSPORT_WIRED };

  g_task_set_source_tag (task, gw_link_probe_async);
  g_task_set_task_data (task, p, (GDestroyNotify) probe_state_free);
  p->policy.wired_is_secure = config->wired_is_secure;
  p->policy.wifi_secure_akms = g_strdupv (config->wifi_secure_akms);
  p->policy.wifi_secure_ciphers = g_strdupv (config->wifi_secure_ciphers);
  p->policy.bluetooth_min_security = config->bluetooth_min_security;
  p->local_dir = g_strdup (config->pan_control_directory);
  p->probe = g_new0 (GwLinkProbe, 1);

  if (!G_IS_INET_SOCKET_ADDRESS (peer))
    {
      p->address = g_strdup ("the peer");
      complete_unknown (task, GW_TRANSPORT_WIRED,
                        "the peer has no IP address: its link cannot be measured");
      return;
    }
  ip = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (peer));
  n = gw_neighbour_lookup (ip, g_inet_address_get_family (ip) == G_SOCKET_FAMILY_IPV6 ?
                           g_inet_socket_address_get_scope_id (G_INET_SOCKET_ADDRESS (peer)) :
                           0, &error);
  p->address = n != NULL ? g_strdup (n->address) : g_inet_address_to_string (ip);
  if (n == NULL)
    {
      complete_unknown (task, GW_TRANSPORT_WIRED, "peer %s: %s", p->address, error->message);
      return;
    }
  switch (n->kind)
    {
    case GW_NEIGHBOUR_LOCAL:
      wired = g_strdup_printf ("local peer %s (an address of this gateway)", p->address);
      complete_with_facts (task, &facts, wired);
      return;
    case GW_NEIGHBOUR_ABSENT:
      complete_unknown (task, GW_TRANSPORT_WIRED,
                        "peer %s is not a neighbour on any of this gateway's links "
                        "(routed, or not resolved): its link cannot be measured",
                        p->address);
      return;
    case GW_NEIGHBOUR_FOUND:
      break;
    }

  p->probe->mac = g_strdup (n->mac);
  /* Behind a bridge the port is where the peer really is. */
  p->probe->interface = g_strdup (n->port != NULL ? n->port : n->ifname);
  if ((ctrl = control_for (config->pan_hostapd_control, p->probe->interface)) != NULL)
    {
      p->ctrl_path = g_strdup (ctrl);
      if (p->probe->mac == NULL)
        {
          complete_unknown (task, GW_TRANSPORT_WIFI,
                            "peer %s on %s has no link-layer address to ask hostapd about",
                            p->address, p->probe->interface);
          return;
        }
      command = g_strdup_printf ("STA %s", p->probe->mac);
      ask (task, ASK_STA, command);
      return;
    }
  if ((ctrl = control_for (config->pan_wpa_supplicant_control, p->probe->interface)) != NULL)
    {
      p->ctrl_path = g_strdup (ctrl);
      ask (task, ASK_STATUS, "STATUS");
      return;
    }
  if (p->probe->interface == NULL)
    {
      complete_unknown (task, GW_TRANSPORT_WIRED,
                        "peer %s: its interface (index %d) vanished", p->address,
                        n->ifindex);
      return;
    }
  wired = g_strdup_printf ("wired peer %s%s%s on %s%s%s", p->address,
                           p->probe->mac != NULL ? " " : "",
                           p->probe->mac != NULL ? p->probe->mac : "", p->probe->interface,
                           n->port != NULL ? " via " : "", n->port != NULL ? n->ifname : "");
  complete_with_facts (task, &facts, wired);
}

GwLinkProbe *
gw_link_probe_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
