# SPDX-License-Identifier: GPL-3.0-or-later
"""Real parts for the PAN tests: PNEs in their own network namespaces,
each behind a veth pair whose gateway-side end is named like a Wi-Fi
interface, a fake hostapd control socket per such interface (answering
STA and GET_CONFIG the way hostapd does), and the real cpns-pne.

Everything here needs root (ip netns); tests skip without it."""

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import cbor2

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
            # hostapd prints wpa= and key_mgmt= only for a BSS with WPA/RSN.
            if self.open_bss:
                return "bssid=02:00:00:00:01:00\nssid=pan\n"
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


def used_indices():
    """The <n> of every 10.77.<n>.0/24 the root namespace already has (other
    runs, or leftovers of a killed one): a new NetNs must not reuse them."""
    out = ip("-o", "-4", "addr", "show").stdout
    used = {int(n) for n in re.findall(r"\b10\.77\.(\d+)\.", out)}
    names = ip("netns", "list", check=False).stdout
    tag = os.getpid() % 10000
    used |= {int(n) for n in re.findall(rf"\bpngw-{tag}-(\d+)\b", names)}
    return used


def free_indices(count):
    """@count indices in 1..254 that no address or namespace uses now,
    starting at a place that depends on our PID so that concurrent runs
    tend to stay apart."""
    used = used_indices()
    start = 10 + (os.getpid() * 7) % 200
    out = []
    for i in range(254):
        n = 1 + (start + i) % 254
        if n not in used:
            out.append(n)
            if len(out) == count:
                return out
    raise RuntimeError("no free 10.77.<n>.0/24 left")


_CLONE_NEWNET = 0x40000000


def socket_in_netns(ns_name, family=socket.AF_INET):
    """A TCP socket created inside network namespace @ns_name: a socket keeps
    the namespace it was made in, so only a short-lived thread switches."""
    box = {}

    def work():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{ns_name}", os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {ns_name}: {os.strerror(err)}")
            finally:
                os.close(fd)
            box["socket"] = socket.socket(family, socket.SOCK_STREAM)
        except Exception as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    t = threading.Thread(target=work)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["socket"]


class PneRun:
    """The outcome of one `cpns-pne run --json`: exit status, the JSON
    events in order, and standard error."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.events = []
        for line in stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def of(self, name):
        return [e for e in self.events if e.get("event") == name]

    def first(self, name):
        found = self.of(name)
        return found[0] if found else None

    def __str__(self):
        return (f"cpns-pne exited {self.returncode}\nstdout:\n{self.stdout}\n"
                f"stderr:\n{self.stderr}")


class Pne:
    """One PNE: the real cpns-pne with its own state directory, run inside
    the network namespace @ns (a NetNs)."""

    def __init__(self, program, state_dir, entity_id, ns):
        self.program = program
        self.state = state_dir
        self.entity_id = entity_id
        self.ns = ns

    def init(self, tk_kid=None, tk=None):
        argv = [self.program, "init", "--state-dir", self.state, "--entity-id",
                self.entity_id, "--json"]
        if tk_kid is not None:
            argv += ["--tk-kid", tk_kid, "--tk", tk]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"cpns-pne init: {r.stderr}")
        return json.loads(r.stdout.splitlines()[-1])

    def argv(self, gateway, *args, timeout=15):
        return self.ns.argv([self.program, "run", "--state-dir", self.state,
                             "--entity-id", self.entity_id, "--gateway", gateway,
                             "--json", "--timeout", str(timeout), *args])

    def run(self, gateway, *args, timeout=15):
        r = subprocess.run(self.argv(gateway, *args, timeout=timeout), capture_output=True,
                           text=True, timeout=timeout * 6 + 30)
        return PneRun(r.returncode, r.stdout, r.stderr)

    def start(self, gateway, *args, timeout=15):
        """In the background: a PneProcess."""
        return PneProcess(self.argv(gateway, *args, timeout=timeout),
                          os.path.join(os.path.dirname(self.state.rstrip("/")),
                                       f"{os.path.basename(self.state)}-run"))

    def status(self):
        r = subprocess.run([self.program, "status", "--state-dir", self.state, "--json"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"cpns-pne status: {r.stderr}")
        return json.loads(r.stdout)


class PneProcess:
    """A cpns-pne run in the background (for --stay, or to kill it): its
    JSON events are read from a file as they come."""

    def __init__(self, argv, log_prefix):
        n = 0
        while os.path.exists(f"{log_prefix}-{n}.out"):
            n += 1
        self.out_path = f"{log_prefix}-{n}.out"
        self.err_path = f"{log_prefix}-{n}.err"
        self._out = open(self.out_path, "w")
        self._err = open(self.err_path, "w")
        # `ip netns exec` execs the program: the PID is cpns-pne's own.
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL)

    def result(self):
        with open(self.out_path) as f:
            out = f.read()
        with open(self.err_path) as f:
            err = f.read()
        return PneRun(self.proc.returncode, out, err)

    def wait_event(self, name, timeout=20.0):
        """The first event called @name; fails when the process exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.proc.poll() is not None
            found = self.result().first(name)
            if found:
                return found
            if exited:
                raise AssertionError(f"cpns-pne exited before '{name}': {self.result()}")
            time.sleep(0.05)
        raise AssertionError(f"no '{name}' from cpns-pne in {timeout} s: {self.result()}")

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends @sig, waits, and returns the PneRun."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        self._err.close()
        return self.result()


class RawLink:
    """A PNE written by hand on a TCP socket (made inside a namespace): the
    framing of docs/protocol.md section 7 and plain messages of section 4
    with cbor2, to send what cpns-pne never would."""

    PNE_ANNOUNCE, PATH_SELECT, HS_INIT, HS_RESP, ERROR = 32, 33, 1, 2, 4

    def __init__(self, ns, address, port, family=socket.AF_INET):
        self.sock = socket_in_netns(ns.name, family)
        self.sock.settimeout(10)
        self.sock.connect((address, port))
        self.local = self.sock.getsockname()
        self.txid = 0

    def send_frame(self, payload, length=None):
        n = len(payload) if length is None else length
        self.sock.sendall(n.to_bytes(4, "big") + payload)

    @staticmethod
    def header(msg_type, txid, src, dst):
        return {1: 1, 2: msg_type, 3: txid, 4: src, 5: dst, 8: False}

    def send_plain(self, msg_type, src, dst, body, txid=None):
        if txid is None:
            self.txid += 1
            txid = self.txid
        self.send_frame(cbor2.dumps([self.header(msg_type, txid, src, dst), body]))

    def announce(self, entity_id, has_ui=False, has_tk=False, dst="@pan", name=None,
                 tk_kid=None, eukey_kid=None, local_kid=None):
        body = {1: name or entity_id, 2: has_ui, 3: has_tk}
        for key, value in ((4, tk_kid), (5, eukey_kid), (6, local_kid)):
            if value is not None:
                body[key] = value
        self.send_plain(self.PNE_ANNOUNCE, entity_id, dst, body)

    def _read_exactly(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def receive(self):
        """The next frame, decoded (a plain message as [header, body, ...] or
        a tagged record), or None at the end of the stream."""
        head = self._read_exactly(4)
        if head is None:
            return None
        frame = self._read_exactly(int.from_bytes(head, "big"))
        if frame is None:
            return None
        return cbor2.loads(frame)

    def closed_by_peer(self, timeout=10):
        """True once the gateway closed the link (everything it sent before
        is read and dropped); False when it is still open after @timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()
