# SPDX-License-Identifier: GPL-3.0-or-later
"""Real parts for the PAN tests: PNEs in their own network namespaces,
each behind a veth pair whose gateway-side end is named like a Wi-Fi
interface, a fake hostapd control socket per such interface (answering
STA and GET_CONFIG the way hostapd does), and the real cpns-pne.

Everything here needs root (ip netns); tests skip without it."""

import os
import shutil
import socket
import subprocess
import threading

# 802.11 suite selectors as hostapd prints them.
AKM = {"SAE": "00-0f-ac-8", "WPA-PSK": "00-0f-ac-2", "OWE": "00-0f-ac-18",
       "WPA-PSK-SHA256": "00-0f-ac-6"}
CIPHER = {"CCMP": "00-0f-ac-4", "TKIP": "00-0f-ac-2", "GCMP-256": "00-0f-ac-9"}


def can_use_netns():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"pngw-probe-{os.getpid()}"
    ok = subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ok


def ip(*args, ns=None, check=True):
    argv = ["ip"] + (["-n", ns] if ns else []) + list(args)
    result = subprocess.run(argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result


class NetNs:
    """A namespace "pngw-<pid>-<n>" joined to the root namespace by a veth
    pair: gateway side IFNAME with 10.77.<n>.1/24 and fd77:<n>::1/64, PNE
    side with .2 and ::2."""

    def __init__(self, index, ifname=None):
        tag = os.getpid() % 10000
        self.index = index
        self.name = f"pngw-{tag}-{index}"
        self.ifname = ifname or f"pw{tag}n{index}"
        self.peer_if = "eth0"
        self.gw_v4 = f"10.77.{index}.1"
        self.pne_v4 = f"10.77.{index}.2"
        self.gw_v6 = f"fd77:{index:x}::1"
        self.pne_v6 = f"fd77:{index:x}::2"
        self.pne_mac = f"02:77:00:00:{index // 256:02x}:{index % 256:02x}"

    def create(self):
        self.destroy()
        ip("netns", "add", self.name)
        tmp = f"pt{os.getpid() % 10000}x{self.index}"
        ip("link", "add", self.ifname, "type", "veth", "peer", "name", tmp)
        ip("link", "set", tmp, "netns", self.name)
        ip("link", "set", tmp, "name", self.peer_if, ns=self.name)
        ip("link", "set", self.peer_if, "address", self.pne_mac, ns=self.name)
        ip("addr", "add", f"{self.gw_v4}/24", "dev", self.ifname)
        ip("addr", "add", f"{self.gw_v6}/64", "dev", self.ifname, "nodad")
        ip("link", "set", self.ifname, "up")
        ip("addr", "add", f"{self.pne_v4}/24", "dev", self.peer_if, ns=self.name)
        ip("addr", "add", f"{self.pne_v6}/64", "dev", self.peer_if, "nodad", ns=self.name)
        ip("link", "set", self.peer_if, "up", ns=self.name)
        ip("link", "set", "lo", "up", ns=self.name)
        # The neighbour entries the gateway measures, without waiting for ARP/ND.
        ip("neigh", "replace", self.pne_v4, "lladdr", self.pne_mac, "dev", self.ifname,
           "nud", "permanent")
        ip("neigh", "replace", self.pne_v6, "lladdr", self.pne_mac, "dev", self.ifname,
           "nud", "permanent")
        return self

    def destroy(self):
        ip("link", "del", self.ifname, check=False)
        ip("netns", "del", self.name, check=False)

    def argv(self, argv):
        """Runs @argv inside the namespace."""
        return ["ip", "netns", "exec", self.name] + list(argv)


class FakeHostapd:
    """A hostapd control socket at @path (its basename is the interface)
    that knows @stations: {mac: (akm name or None, cipher name or None)}.
    A station with no AKM is in an open BSS (GET_CONFIG says so)."""

    def __init__(self, path, stations, open_bss=False):
        self.path = path
        self.stations = {m.lower(): v for m, v in stations.items()}
        self.open_bss = open_bss
        self.requests = []
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.running = True
        self.thread.start()

    def _answer(self, command):
        if command.startswith("STA "):
            mac = command[4:].strip().lower()
            if mac not in self.stations:
                return "FAIL\n"
            akm, cipher = self.stations[mac]
            lines = [mac, "flags=[AUTH][ASSOC][AUTHORIZED]"]
            if akm:
                lines.append(f"AKMSuiteSelector={AKM[akm]}")
            if cipher:
                lines.append(f"dot11RSNAStatsSelectedPairwiseCipher={CIPHER[cipher]}")
            return "\n".join(lines) + "\n"
        if command == "GET_CONFIG":
            if self.open_bss:
                return "bssid=02:00:00:00:01:00\nssid=pan\nkey_mgmt=NONE\n"
            return ("bssid=02:00:00:00:01:00\nssid=pan\nwpa=2\nkey_mgmt=SAE\n"
                    "group_cipher=CCMP\nrsn_pairwise_cipher=CCMP\n")
        if command == "PING":
            return "PONG\n"
        return "UNKNOWN COMMAND\n"

    def _serve(self):
        while self.running:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            command = data.decode(errors="replace")
            self.requests.append(command)
            try:
                self.sock.sendto(self._answer(command).encode(), addr)
            except OSError:
                pass

    def stop(self):
        self.running = False
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
