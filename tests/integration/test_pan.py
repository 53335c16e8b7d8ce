#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""PNEs on the PAN, end to end with real parts (issue 5): the real
cpns-server over HTTPS, the real pngwd with a [pan] section, a private
dbus-daemon with an agent written here, and the real cpns-pne run inside
network namespaces joined to the gateway by veth pairs.  The gateway-side
interfaces decide the verdict: one behind a fake hostapd reporting SAE/CCMP
(secure), one behind a fake hostapd of an open BSS (insecure), one with no
hostapd at all (wired; wired-is-secure is false by default).

Every test checks all three sides: the server's database, the gateway
(keystore and org.cpns.PNE1 on D-Bus) and the PNE's keystore, each read
independently (harness.read_keystore, SQLite).  Needs root for `ip netns`;
skipped otherwise.  Needs CPNS_SERVER, CPNS_ADMIN, PNGWD, CPNS_PNE and
DBUS_INTERFACE_XML."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import cbor2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pan  # noqa: E402
from harness import (TestCA, Server, Gateway, PrivateBus, binary, free_port,  # noqa: E402
                     read_keystore, wait_until)

from gi.repository import Gio, GLib  # noqa: E402

NAME = "org.cpns.Gateway1"
PATH = "/org/cpns/Gateway1"
IFACE = "org.cpns.Gateway1"
PNE_IFACE = "org.cpns.PNE1"

ALICE_PW = "alice's correct horse"
BOB_PW = "bob's battery staple"

# Keystore entry fields (docs/protocol.md section 9).
NAME_, KIND, OWN, PEER, KID, KEY, ROLE, CREATED, USER = range(1, 10)
EUKEY, LOCAL_EUKEY, TK = 1, 2, 3

SESSION = r"secure session \d+ with cpns-server established"


def pne_path(entity_id):
    """docs/dbus-api.md, PNE object paths."""
    return "/org/cpns/Gateway1/pne/" + ("".join(
        chr(b) if chr(b).isascii() and chr(b).isalnum() else "_%02x" % b
        for b in entity_id.encode()) or "_")


def bus_connection(address):
    return Gio.DBusConnection.new_for_address_sync(
        address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
        Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)


class ThreadAgent:
    """An org.cpns.Agent1 on its own connection, served by its own thread
    and main context, so that it answers while the test waits on cpns-pne.
    It answers with self.answer after self.delay seconds (a timer, so that
    a Cancel can come in meanwhile)."""

    def __init__(self, address, user, password, path="/test/pan/agent"):
        self.address = address
        self.path = path
        self.answer = (user, password)
        self.delay = 0.0
        self.requests = []      # (target, reason)
        self.cancels = []       # target
        self.answered = []      # target
        self._ready = threading.Event()
        self._error = None
        self.loop = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self._ready.wait(20) or self._error is not None:
            raise RuntimeError(f"agent did not start: {self._error}")

    def _run(self):
        self.ctx = GLib.MainContext.new()
        self.ctx.push_thread_default()
        try:
            self.conn = bus_connection(self.address)
            with open(os.environ["DBUS_INTERFACE_XML"]) as f:
                info = Gio.DBusNodeInfo.new_for_xml(f.read())
            self.conn.register_object(self.path, info.lookup_interface("org.cpns.Agent1"),
                                      self._on_call, None, None)
            self.conn.call_sync(NAME, PATH, IFACE, "RegisterAgent",
                                GLib.Variant("(o)", (self.path,)), None,
                                Gio.DBusCallFlags.NONE, 10000, None)
            self.loop = GLib.MainLoop.new(self.ctx, False)
        except GLib.Error as e:
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self.loop.run()
        self.conn.close_sync(None)
        self.ctx.pop_thread_default()

    def _on_call(self, conn, sender, path, iface, method, params, invocation):
        if method == "RequestCredentials":
            target, reason = params.unpack()
            self.requests.append((target, reason))
            answer = self.answer

            def reply(*_):
                if answer is None:      # the person declines
                    invocation.return_dbus_error("org.cpns.Error.Canceled", "declined")
                    return False
                self.answered.append(target)
                invocation.return_value(GLib.Variant("(ss)", answer))
                return False
            if self.delay > 0:
                src = GLib.timeout_source_new(int(self.delay * 1000))
                src.set_callback(reply)
                src.attach(self.ctx)
            else:
                reply()
        elif method == "Cancel":
            self.cancels.append(params.unpack()[0])
            invocation.return_value(None)
        else:
            invocation.return_value(None)

    def targets(self):
        return [t for t, _ in self.requests]

    def stop(self):
        if self.loop is not None:
            self.loop.quit()
            self.thread.join(10)


class PanTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not pan.can_use_netns():
            raise unittest.SkipTest("needs root and `ip netns` (network namespaces with "
                                    "veth pairs) to put PNEs on their own links")
        cls.cleanups = []
        try:
            cls._set_up()
        except BaseException:
            cls._tear_down()
            raise

    @classmethod
    def _set_up(cls):
        cls.started = time.monotonic()
        cls.pne_program = binary("CPNS_PNE")
        # Short: the control directory holds sockets (at most 67 bytes).
        cls.work = tempfile.mkdtemp(prefix="pngw-pan-")
        os.chmod(cls.work, 0o755)
        cls.bus = PrivateBus(cls.work).start()
        cls.cleanups.append(cls.bus.stop)
        cls.address = cls.bus.address
        cls.ca = TestCA(cls.work)
        cls.server = Server(cls.work, cls.ca).start()
        cls.cleanups.append(cls.server.stop)
        cls.server.add_user("alice", ALICE_PW, iterations=1000)
        cls.server.add_user("bob", BOB_PW, iterations=1000)

        secure, open_, wired = pan.free_indices(3)
        cls.secure_ns = pan.NetNs(secure)
        cls.open_ns = pan.NetNs(open_)
        cls.wired_ns = pan.NetNs(wired)
        for ns in (cls.secure_ns, cls.open_ns, cls.wired_ns):
            cls.cleanups.append(ns.destroy)
            ns.create()
        hostapd_dir = os.path.join(cls.work, "hostapd")
        os.makedirs(hostapd_dir)
        cls.hostapd_secure = pan.FakeHostapd(
            os.path.join(hostapd_dir, cls.secure_ns.ifname),
            {cls.secure_ns.pne_mac: ("SAE", "CCMP")})
        cls.cleanups.append(cls.hostapd_secure.stop)
        cls.hostapd_open = pan.FakeHostapd(
            os.path.join(hostapd_dir, cls.open_ns.ifname),
            {cls.open_ns.pne_mac: (None, None)}, open_bss=True)
        cls.cleanups.append(cls.hostapd_open.stop)
        cls.hostapd_paths = [cls.hostapd_secure.path, cls.hostapd_open.path]

        cls.gw, cls.port = cls.start_gateway("gw-alice", "alice", ALICE_PW)
        cls.conn = bus_connection(cls.address)
        cls.agent = ThreadAgent(cls.address, "alice", ALICE_PW)
        cls.cleanups.append(cls.agent.stop)

    @classmethod
    def start_gateway(cls, entity_id, user, password):
        port = free_port()
        ctl = os.path.join(cls.work, f"ctl-{entity_id}")
        extra = (f"\n[pan]\nlisten = [::]:{port}\n"
                 f"hostapd-control = {';'.join(cls.hostapd_paths)}\n"
                 f"control-directory = {ctl}\nhandshake-timeout = 5\n")
        gw = Gateway(cls.work, cls.server, entity_id, extra_config=extra)
        gw.start(enroll=user, password=password)
        cls.cleanups.append(gw.stop)
        gw.process.wait_for(r"D-Bus API ready")
        gw.process.wait_for(r"listening for PNEs on")
        gw.process.wait_for(SESSION)
        return gw, port

    @classmethod
    def _tear_down(cls):
        for fn in reversed(cls.cleanups):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - clean up the rest anyway
                print(f"cleanup: {e}", file=sys.stderr)
        if getattr(cls, "work", None):
            if os.environ.get("PNGW_KEEP_TEST_DIR"):
                print(f"kept {cls.work}", file=sys.stderr)
            else:
                shutil.rmtree(cls.work, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        print(f"integration-pan: {time.monotonic() - cls.started:.1f} s", file=sys.stderr)
        cls._tear_down()

    def setUp(self):
        self.agent.answer = ("alice", ALICE_PW)
        self.agent.delay = 0.0
        for seen in (self.agent.requests, self.agent.cancels, self.agent.answered):
            seen.clear()
        self.processes = []

    def tearDown(self):
        for p in self.processes:
            p.stop(signal.SIGKILL)

    # ---- helpers ----

    def gw_addr(self, ns, port=None, v6=False):
        port = port or self.port
        return f"[{ns.gw_v6}]:{port}" if v6 else f"{ns.gw_v4}:{port}"

    def new_pne(self, entity_id, ns, tk_kid=None, tk=None, state_name=None):
        pne = pan.Pne(self.pne_program,
                      os.path.join(self.work, "pne", state_name or entity_id), entity_id, ns)
        os.makedirs(os.path.dirname(pne.state), exist_ok=True)
        pne.init(tk_kid, tk)
        return pne

    def password_file(self, password=ALICE_PW):
        fd, path = tempfile.mkstemp(dir=self.work)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        return path

    def start(self, pne, *args, addr=None):
        p = pne.start(addr or self.gw_addr(pne.ns), *args)
        self.processes.append(p)
        return p

    def props(self, entity_id, conn=None):
        try:
            v = (conn or self.conn).call_sync(
                NAME, pne_path(entity_id), "org.freedesktop.DBus.Properties", "GetAll",
                GLib.Variant("(s)", (PNE_IFACE,)), None, Gio.DBusCallFlags.NONE, 5000, None)
        except GLib.Error:
            return None
        return v.unpack()[0]

    def wait_state(self, entity_id, states, conn=None, timeout=20):
        if isinstance(states, str):
            states = (states,)
        last = {}

        def check():
            last["props"] = self.props(entity_id, conn)
            return last["props"] is not None and last["props"]["State"] in states
        try:
            wait_until(check, timeout, what=f"PNE {entity_id} in {states}")
        except AssertionError:
            raise AssertionError(f"PNE {entity_id} not in {states}: {last.get('props')}")
        return last["props"]

    def pne_keystore(self, pne):
        return read_keystore(os.path.join(pne.state, "keystore"),
                             os.path.join(pne.state, "kek"))

    def db_entity(self, entity_id):
        rows = self.server.query("SELECT kind, owner_user, eukey, eukey_kid FROM entities "
                                 "WHERE entity_id = ?", entity_id)
        return rows[0] if rows else None

    def db_local(self, pne_id, gw_id):
        rows = self.server.query("SELECT kid, key FROM local_keys WHERE pne_id = ? AND "
                                 "gw_id = ?", pne_id, gw_id)
        return rows[0] if rows else None

    def gateway_links(self, port=None):
        """TCP links the gateway still holds open on its PAN port."""
        port = port or self.port
        out = subprocess.run(["ss", "-Htn", "state", "established", "state", "close-wait",
                              f"( sport = :{port} )"], capture_output=True, text=True,
                             check=True).stdout
        return [line for line in out.splitlines() if line.strip()]

    def assert_provisioned(self, pne, gw=None, user="alice"):
        """The three sides agree: server DB, gateway keystore, PNE keystore.
        Returns (EUKey, kid, LocalEUKey, local kid) as the server has them."""
        gw = gw or self.gw
        entity = self.db_entity(pne.entity_id)
        self.assertIsNotNone(entity, "the server has no row for the PNE")
        kind, owner, eukey, eukey_kid = entity
        self.assertEqual(kind, "pne")
        self.assertEqual(owner, user)
        self.assertIsNotNone(eukey, "the server holds no EUKey for the PNE")
        local = self.db_local(pne.entity_id, gw.entity_id)
        self.assertIsNotNone(local, "the server has no LocalEUKey for (PNE, gateway)")
        local_kid, local_key = local

        gks = gw.keystore()
        entry = gks.get(f"local:{pne.entity_id}")
        self.assertIsNotNone(entry, f"gateway keystore: {sorted(gks)}")
        self.assertEqual(entry[KIND], LOCAL_EUKEY)
        self.assertEqual(entry[OWN], gw.entity_id)
        self.assertEqual(entry[PEER], pne.entity_id)
        self.assertEqual(entry[KID], local_kid)
        self.assertEqual(entry[KEY], local_key, "gateway and server LocalEUKeys differ")

        pks = self.pne_keystore(pne)
        self.assertEqual(pks["eukey"][KIND], EUKEY)
        self.assertEqual(pks["eukey"][OWN], pne.entity_id)
        self.assertEqual(pks["eukey"][PEER], "cpns-server")
        self.assertEqual(pks["eukey"][KID], eukey_kid)
        self.assertEqual(pks["eukey"][KEY], eukey, "PNE and server EUKeys differ")
        plocal = pks[f"local:{gw.entity_id}"]
        self.assertEqual(plocal[KIND], LOCAL_EUKEY)
        self.assertEqual(plocal[OWN], pne.entity_id)
        self.assertEqual(plocal[PEER], gw.entity_id)
        self.assertEqual(plocal[KID], local_kid)
        self.assertEqual(plocal[KEY], local_key, "PNE and server LocalEUKeys differ")
        # cpns-pne's own listing names the same entries.
        names = {k["name"] for k in pne.status()["keys"]}
        self.assertLessEqual({"eukey", f"local:{gw.entity_id}"}, names)
        return eukey, eukey_kid, local_key, local_kid

    def assert_nothing_stored(self, entity_id, gw=None):
        gw = gw or self.gw
        self.assertIsNone(self.db_entity(entity_id), "the server stored an entity")
        self.assertEqual(self.server.query("SELECT * FROM local_keys WHERE pne_id = ?",
                                           entity_id), [])
        self.assertNotIn(f"local:{entity_id}", gw.keystore())

    def assert_refused(self, run, code, text):
        """cpns-pne failed because the PN GW or the server said no: exit
        status 2 and the reason printed."""
        self.assertEqual(run.returncode, 2, run)
        error = run.first("error")
        self.assertIsNotNone(error, run)
        self.assertEqual(error["error"], code, run)
        self.assertIn(text, error["message"])
        self.assertIn(text, run.stderr)

    def assert_queued(self, run, text, count):
        """--queued: an ACK from the server and the echo, @count times.  The
        echo comes through the gateway's long poll and the ACK as the answer
        to the relayed request: either may come first."""
        self.assertEqual(run.returncode, 0, run)
        self.assertEqual([a["from"] for a in run.of("ack")], ["cpns-server"] * count, run)
        self.assertEqual([(q["from"], q["ok"], q["content_type"], q["n"])
                          for q in run.of("queued")],
                         [("cpns-server", True, 1, n) for n in range(1, count + 1)], run)

    def provision_staying(self, pne, *args, addr=None):
        """Runs @pne with --stay until it is provisioned and the gateway
        says ready; returns (process, PNE1 properties)."""
        p = self.start(pne, *args, "--stay", addr=addr)
        p.wait_event("staying")
        props = self.wait_state(pne.entity_id, "ready")
        return p, props

    # ---- 1: path 7.4.1 ----

    def test_1_pne_with_ui(self):
        ns = self.wired_ns
        pne = self.new_pne("ui-watch-1", ns)
        pw = self.password_file()
        p, props = self.provision_staying(pne, "--user", "alice", "--password-file", pw,
                                          "--name", "Alice's watch", "--send-gw", "hello")
        self.assertEqual(props["EukeyPath"], "pne-ui")
        self.assertEqual(props["Transport"], "wired")
        self.assertEqual(props["LinkSecurity"], "insecure")
        self.assertIn("wired", props["LinkSecurityReason"])
        self.assertEqual(props["Address"], ns.pne_v4)
        self.assertEqual(props["Name"], "Alice's watch")
        self.assertEqual(props["EntityId"], "ui-watch-1")
        self.assertEqual(props["LastError"], "")
        run = p.stop()
        self.assertEqual(run.returncode, 0, run)
        self.assertEqual(run.first("path")["path"], 1)
        self.assertEqual(run.first("path")["gateway"], "gw-alice")
        self.assertEqual(run.first("provisioned")["path"], 1)
        self.assertTrue(run.first("echo")["ok"], run)
        self.assertEqual(self.agent.targets(), [], "path 1 needs no agent")
        _, _, local_key, local_kid = self.assert_provisioned(pne)
        self.assertEqual(self.wait_state(pne.entity_id, "disconnected")["LastError"], "")

        # Keys in place: path 0, the same LocalEUKey; data with both peers.
        run = pne.run(self.gw_addr(ns), "--user", "alice", "--password-file", pw,
                      "--send-gw", "to gw", "--send-server", "to server", "--count", "2")
        self.assertEqual(run.returncode, 0, run)
        self.assertEqual(run.first("path")["path"], 0)
        self.assertEqual(run.first("provisioned")["path"], 0)
        self.assertEqual(run.of("key-stored"), [], "path 0 stores no key")
        echoes = run.of("echo")
        self.assertEqual(sorted((e["from"], e["n"], e["ok"]) for e in echoes),
                         [("cpns-server", 1, True), ("cpns-server", 2, True),
                          ("gw-alice", 1, True), ("gw-alice", 2, True)], run)
        self.assertEqual(run.first("server-session")["server"], "cpns-server")
        # The server's ACK at once, the echo later through the gateway's poll.
        run = pne.run(self.gw_addr(ns), "--queued", "later", "--count", "2", timeout=5)
        self.assertEqual(run.first("provisioned")["path"], 0)
        self.assert_queued(run, "later", 2)
        self.assertEqual(self.db_local(pne.entity_id, "gw-alice"), (local_kid, local_key))
        self.assertEqual(self.gw.keystore()[f"local:{pne.entity_id}"][KID], local_kid)
        self.assertNotIn(ALICE_PW, self.gw.process.text())

    def test_1b_forgotten_by_the_gateway(self):
        """Forget drops the LocalEUKey; the PNE comes back with its EUKey and
        gets a new LocalEUKey (EukeyPath existing) without the password."""
        ns = self.wired_ns
        pne = self.new_pne("ui-watch-1b", ns)
        pw = self.password_file()
        run = pne.run(self.gw_addr(ns), "--user", "alice", "--password-file", pw)
        self.assertEqual(run.returncode, 0, run)
        eukey, eukey_kid, old_key, old_kid = self.assert_provisioned(pne)
        self.conn.call_sync(NAME, pne_path("ui-watch-1b"), PNE_IFACE, "Forget", None, None,
                            Gio.DBusCallFlags.NONE, 10000, None)
        self.assertIsNone(self.props("ui-watch-1b"))
        self.assertNotIn("local:ui-watch-1b", self.gw.keystore())
        os.unlink(pw)       # no password this time
        p, props = self.provision_staying(pne, "--send-gw", "back")
        self.assertEqual(props["EukeyPath"], "existing")
        run = p.stop()
        self.assertEqual(run.returncode, 0, run)
        self.assertEqual(run.of("path"), [], "no EUKey path runs")
        self.assertEqual([(k["kind"], k["peer"]) for k in run.of("key-stored")],
                         [("local-eukey", "gw-alice")])
        new = self.assert_provisioned(pne)
        self.assertEqual(new[:2], (eukey, eukey_kid), "the EUKey stays")
        self.assertNotEqual(new[3], old_kid, "a new LocalEUKey")
        self.assertNotEqual(new[2], old_key)

    def test_1c_keystore_cannot_be_saved(self):
        """A LocalEUKey the gateway cannot save is refused, and nothing of it
        stays in memory for a later save to write."""
        ns = self.wired_ns
        pw = self.password_file()
        path = os.path.join(self.gw.state, "keystore")
        os.rename(path, path + ".aside")
        os.mkdir(path)      # rename() onto a directory fails, even for root
        try:
            pne = self.new_pne("ui-watch-1c", ns)
            run = pne.run(self.gw_addr(ns), "--user", "alice", "--password-file", pw)
            self.assertNotEqual(run.returncode, 0, run)
            props = self.wait_state("ui-watch-1c", "failed")
            self.assertIn("cannot keep the LocalEUKey", props["LastError"])
        finally:
            os.rmdir(path)
            os.rename(path + ".aside", path)
        # The next key saved writes the keystore without the refused one.
        other = self.new_pne("ui-watch-1c2", ns)
        run = other.run(self.gw_addr(ns), "--user", "alice", "--password-file", pw)
        self.assertEqual(run.returncode, 0, run)
        keys = self.gw.keystore()
        self.assertIn("local:ui-watch-1c2", keys)
        self.assertNotIn("local:ui-watch-1c", keys)

    # ---- 2: path 7.4.2 ----

    def test_2_install_credentials_on_secure_link(self):
        ns = self.secure_ns
        pne = self.new_pne("sensor-2", ns)
        before = len(self.hostapd_secure.requests)
        p, props = self.provision_staying(pne, "--send-gw", "hi")
        self.assertEqual(props["EukeyPath"], "install-credentials")
        self.assertEqual(props["LinkSecurity"], "secure")
        self.assertEqual(props["Transport"], "wifi")
        self.assertEqual(props["Address"], ns.pne_v4)
        self.assertIn(ns.ifname, props["LinkSecurityReason"])
        self.assertIn(f"STA {ns.pne_mac}", self.hostapd_secure.requests[before:])
        self.assertEqual(self.agent.targets(), [pne_path("sensor-2")])
        self.assertIn("installed into the PNE", self.agent.requests[0][1])
        run = p.stop()
        self.assertEqual(run.returncode, 0, run)
        self.assertEqual(run.first("path")["path"], 2)
        self.assertEqual(run.first("provisioned")["path"], 2)
        self.assertTrue(run.first("echo")["ok"])
        self.assert_provisioned(pne)
        self.assertNotIn(ALICE_PW, self.gw.process.text())

    # ---- 3: path 7.4.3 ----

    def import_tk_pne(self, entity_id, ns, tk_kid, tk):
        manifest = os.path.join(self.work, f"manifest-{entity_id}")
        with open(manifest, "w") as f:
            f.write(f"# test batch\n{entity_id}  {tk_kid}  {tk}\n")
        self.server.admin("manifest", "import", manifest)
        return self.new_pne(entity_id, ns, tk_kid=tk_kid, tk=tk)

    def test_3_temporary_key_on_insecure_link(self):
        ns = self.open_ns
        tk = os.urandom(32).hex()
        pne = self.import_tk_pne("speaker-3", ns, "746b2d33", tk)
        self.assertEqual(self.db_entity("speaker-3")[:2], ("pne", None))
        p, props = self.provision_staying(pne, "--send-gw", "hi")
        self.assertEqual(props["EukeyPath"], "temporary-key")
        self.assertEqual(props["LinkSecurity"], "insecure")
        self.assertEqual(props["Transport"], "wifi")
        self.assertIn("open", props["LinkSecurityReason"])
        self.assertEqual(self.agent.targets(), [pne_path("speaker-3")])
        self.assertIn("requests the PNE's key", self.agent.requests[0][1])
        run = p.stop()
        self.assertEqual(run.returncode, 0, run)
        self.assertEqual(run.first("path")["path"], 3)
        self.assertEqual(run.first("provisioned")["path"], 3)
        eukey, _, _, _ = self.assert_provisioned(pne)
        self.assertEqual(self.pne_keystore(pne)["tk"][KEY], bytes.fromhex(tk))
        self.assertEqual(self.pne_keystore(pne)["eukey"][USER], "alice")
        # The gateway erased the TK and the PNE's EUKey: only its own EUKey
        # and LocalEUKeys are kept.
        gks = self.gw.keystore()
        for name, entry in gks.items():
            self.assertTrue(name == "eukey" or name.startswith("local:"), name)
            self.assertNotEqual(entry[KIND], TK)
            self.assertNotIn(entry[KEY], (eukey, bytes.fromhex(tk)), name)
        self.assertEqual(gks["eukey"][OWN], "gw-alice")

    # ---- 4: no path ----

    def test_4_no_path_fits(self):
        for ns in (self.wired_ns, self.open_ns):
            entity_id = f"dumb-4-{ns.index}"
            pne = self.new_pne(entity_id, ns)
            run = pne.run(self.gw_addr(ns))
            self.assert_refused(run, "policy", "no EUKey path fits")
            props = self.wait_state(entity_id, "failed")
            self.assertIn("no EUKey path fits", props["LastError"])
            self.assertEqual(props["LinkSecurity"], "insecure")
            self.assert_nothing_stored(entity_id)
            self.assertNotIn(pne_path(entity_id), self.agent.targets())
            self.assertNotIn("eukey", self.pne_keystore(pne))

    def test_4x_refusal_exit_status(self):
        """cpns-pne(1): exit status 2 when "refused by the PN GW or the CPNS
        Server (for example ... a policy that fits no path ...)", and a
        "refused" JSON event."""
        pne = self.new_pne("dumb-4x", self.wired_ns)
        run = pne.run(self.gw_addr(self.wired_ns))
        self.assertEqual(run.first("error")["error"], "policy", run)
        self.assertIsNotNone(run.first("refused"), run)
        self.assertEqual(run.first("refused")["error"], "policy")
        self.assertEqual(run.returncode, 2, run)

    # ---- 5: disconnects ----

    def test_5a_close_after_path_select(self):
        ns = self.secure_ns
        self.agent.delay = 1.5
        raw = pan.RawLink(ns, ns.gw_v4, self.port)
        raw.announce("thermo-5a")           # no UI, secure link: path 2
        reply = raw.receive()
        self.assertEqual(reply[0][2], pan.RawLink.PATH_SELECT, reply)
        self.assertEqual(reply[0][4], "gw-alice")
        self.assertEqual(reply[0][5], "thermo-5a")
        self.assertEqual(reply[1][1], 2)
        wait_until(lambda: pne_path("thermo-5a") in self.agent.targets(), what="agent asked")
        raw.close()
        self.wait_state("thermo-5a", "disconnected")
        wait_until(lambda: not self.gateway_links(), what="the link to go")
        # The gateway no longer waits for the agent.
        wait_until(lambda: pne_path("thermo-5a") in self.agent.cancels, timeout=5,
                   what="Cancel to the agent")
        self.assertNotIn("local:thermo-5a", self.gw.keystore())
        self.assertIsNone(self.db_entity("thermo-5a"))
        # The same Entity ID provisions fine afterwards.
        self.agent.delay = 0
        pne = self.new_pne("thermo-5a", ns)
        run = pne.run(self.gw_addr(ns))
        self.assertEqual(run.returncode, 0, run)
        self.assertEqual(run.first("provisioned")["path"], 2)
        self.assert_provisioned(pne)

    def test_5b_close_mid_handshake(self):
        ns = self.wired_ns
        pne = self.new_pne("lamp-5b", ns)
        pw = self.password_file()
        run = pne.run(self.gw_addr(ns), "--user", "alice", "--password-file", pw)
        self.assertEqual(run.returncode, 0, run)
        _, _, local_key, local_kid = self.assert_provisioned(pne)

        # Announce the LocalEUKey, start the handshake and leave after HS_RESP.
        raw = pan.RawLink(ns, ns.gw_v4, self.port)
        raw.announce("lamp-5b", has_ui=True, local_kid=local_kid)
        reply = raw.receive()
        self.assertEqual((reply[0][2], reply[1][1]), (pan.RawLink.PATH_SELECT, 0), reply)
        self.assertEqual(self.props("lamp-5b")["State"], "provisioning")
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
        from cryptography.hazmat.primitives import serialization
        share = X25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        raw.send_plain(pan.RawLink.HS_INIT, "lamp-5b", "gw-alice",
                       {1: [24], 2: [1], 3: local_kid, 4: os.urandom(32), 5: share, 6: 2})
        reply = raw.receive()
        self.assertEqual(reply[0][2], pan.RawLink.HS_RESP, reply)
        raw.close()
        self.wait_state("lamp-5b", "disconnected")
        wait_until(lambda: not self.gateway_links(), what="the link to go")

        # HS_INIT that does not decode: ERROR, link closed, State failed.
        raw = pan.RawLink(ns, ns.gw_v4, self.port)
        raw.announce("lamp-5b", has_ui=True, local_kid=local_kid)
        self.assertEqual(raw.receive()[1][1], 0)
        raw.send_plain(pan.RawLink.HS_INIT, "lamp-5b", "gw-alice",
                       {1: [24], 2: [1], 3: local_kid, 4: b"short", 6: 2})
        reply = raw.receive()
        self.assertEqual(reply[0][2], pan.RawLink.ERROR, reply)
        self.assertTrue(raw.closed_by_peer(), "the gateway kept the link")
        raw.close()
        props = self.wait_state("lamp-5b", "failed")
        self.assertNotEqual(props["LastError"], "")
        wait_until(lambda: not self.gateway_links(), what="the link to go")

        # Nothing was lost: the real PNE takes path 0 with the same key.
        run = pne.run(self.gw_addr(ns), "--send-gw", "still here")
        self.assertEqual(run.returncode, 0, run)
        self.assertEqual(run.first("provisioned")["path"], 0)
        self.assertTrue(run.first("echo")["ok"])
        self.assertEqual(self.db_local("lamp-5b", "gw-alice"), (local_kid, local_key))

    def test_5c_kill9_during_path_3(self):
        ns = self.open_ns
        tk = os.urandom(16).hex()
        pne = self.import_tk_pne("tag-5c", ns, "0c", tk)
        self.agent.delay = 1.0
        p = self.start(pne)
        wait_until(lambda: pne_path("tag-5c") in self.agent.targets(), what="agent asked")
        self.assertEqual(self.props("tag-5c")["State"], "needs-credentials")
        p.stop(signal.SIGKILL)
        self.assertEqual(p.proc.returncode, -signal.SIGKILL)
        self.wait_state("tag-5c", "disconnected")
        wait_until(lambda: not self.gateway_links(), what="the link to go")
        wait_until(lambda: pne_path("tag-5c") in self.agent.cancels, timeout=5,
                   what="Cancel to the agent")
        time.sleep(1.2)      # the held answer arrives, and is dropped
        self.assertNotIn("local:tag-5c", self.gw.keystore())
        self.assertEqual(self.db_entity("tag-5c")[:3], ("pne", None, None))
        self.agent.delay = 0
        run = pne.run(self.gw_addr(ns))
        self.assertEqual(run.returncode, 0, run)
        self.assertEqual(run.first("provisioned")["path"], 3)
        self.assert_provisioned(pne)

    # ---- 6: an Entity ID that is connected already ----

    def test_6_same_entity_id_twice(self):
        pw = self.password_file()
        a = self.new_pne("twin-6", self.wired_ns)
        pa, props = self.provision_staying(a, "--user", "alice", "--password-file", pw)
        b = self.new_pne("twin-6", self.secure_ns, state_name="twin-6-b")
        run = b.run(self.gw_addr(self.secure_ns), "--user", "alice", "--password-file", pw)
        self.assert_refused(run, "wrong-id", "already connected")
        self.assertNotIn("eukey", self.pne_keystore(b))
        after = self.props("twin-6")
        self.assertEqual(after["State"], "ready")
        self.assertEqual(after["Address"], self.wired_ns.pne_v4)
        self.assertEqual(after["LastError"], "")
        self.assertTrue(pa.running())
        wait_until(lambda: len(self.gateway_links()) == 1, what="only A's link")
        run = pa.stop()
        self.assertEqual(run.returncode, 0, run)
        self.assertEqual(self.wait_state("twin-6", "disconnected")["LastError"], "")

    # ---- 7: another user's gateway ----

    def test_7_other_users_gateway(self):
        ns = self.open_ns
        tk = os.urandom(24).hex()
        pne = self.import_tk_pne("cam-7", ns, "7777", tk)
        run = pne.run(self.gw_addr(ns))
        self.assertEqual(run.returncode, 0, run)
        eukey, eukey_kid, _, _ = self.assert_provisioned(pne)

        # Bob's gateway, on a bus of its own (one org.cpns.Gateway1 per bus).
        bus2 = PrivateBus(os.path.join(self.work, "bob"))
        bus2.start()
        self.addCleanup(lambda: (bus2.stop(), bus2.proc.stdout.close()))
        try:
            gw_bob, port_bob = self.start_gateway("gw-bob", "bob", BOB_PW)
        finally:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        self.addCleanup(gw_bob.stop)
        agent_bob = ThreadAgent(bus2.address, "bob", BOB_PW)
        self.addCleanup(agent_bob.stop)
        conn_bob = bus_connection(bus2.address)

        # Factory reset: a new state directory with the same TK.
        shutil.rmtree(pne.state)
        pne.init("7777", tk)
        run = pne.run(self.gw_addr(ns, port_bob))
        self.assertEqual(run.first("path")["path"], 3)
        self.assert_refused(run, "forbidden", "the server refused to give 'cam-7' an EUKey")
        self.assertEqual(agent_bob.targets(), [pne_path("cam-7")])
        props = self.wait_state("cam-7", "failed", conn=conn_bob)
        self.assertIn("refused", props["LastError"])
        self.assertEqual(props["EukeyPath"], "temporary-key")
        # Still alice's, with the same EUKey; bob's gateway got nothing.
        self.assertEqual(self.db_entity("cam-7"), ("pne", "alice", eukey, eukey_kid))
        self.assertIsNone(self.db_local("cam-7", "gw-bob"))
        self.assertNotIn("local:cam-7", gw_bob.keystore())
        self.assertNotIn("eukey", self.pne_keystore(pne))

    # ---- 8: malformed frames ----

    def test_8_malformed_frames(self):
        pw = self.password_file()
        good = self.new_pne("steady-8", self.wired_ns)
        pgood, _ = self.provision_staying(good, "--user", "alice", "--password-file", pw)
        ns = self.secure_ns
        log = self.gw.process

        def assert_dropped(raw, pattern, expect_error=None):
            if expect_error is not None:
                reply = raw.receive()
                self.assertIsNotNone(reply, "no ERROR before the close")
                self.assertEqual(reply[0][2], pan.RawLink.ERROR, reply)
                self.assertEqual(reply[1][1], expect_error, reply)
            self.assertTrue(raw.closed_by_peer(), "the gateway kept the link")
            raw.close()
            log.wait_for(pattern)
            wait_until(lambda: len(self.gateway_links()) == 1, what="only the good link")
            props = self.props("steady-8")
            self.assertEqual(props["State"], "ready")
            self.assertTrue(pgood.running())

        # (a) a frame that is not CBOR at all
        raw = pan.RawLink(ns, ns.gw_v4, self.port)
        raw.send_frame(b"\xff\xfe garbage \x00")
        assert_dropped(raw, rf"link {ns.pne_v4} closed: undecodable message", 2)
        # (b) lengths the stream cannot carry
        raw = pan.RawLink(ns, ns.gw_v4, self.port)
        raw.send_frame(b"", length=0)
        assert_dropped(raw, rf"link {ns.pne_v4} closed: broken framing")
        raw = pan.RawLink(ns, ns.gw_v4, self.port)
        raw.send_frame(b"\x82", length=66049)      # one above a plain message's limit
        assert_dropped(raw, rf"link {ns.pne_v4} closed: broken framing: .*66049")
        self.assertEqual(len(re.findall(rf"link {ns.pne_v4} closed: broken framing",
                                        log.text())), 2)
        # (c) a valid announce, then a record from another source
        raw = pan.RawLink(ns, ns.gw_v4, self.port)
        raw.announce("intruder-8", has_ui=True)
        self.assertEqual(raw.receive()[0][2], pan.RawLink.PATH_SELECT)
        hdr = {1: 1, 2: 48, 3: 7, 4: "steady-8", 5: "gw-alice", 6: bytes(8), 7: 0, 8: False}
        protected = cbor2.dumps({1: 5, -65537: hdr})
        raw.send_frame(cbor2.dumps(cbor2.CBORTag(17, [protected, {}, b"\xa0", bytes(32)])))
        assert_dropped(raw, r"PNE intruder-8: a message from 'steady-8' on the link of PNE "
                       r"'intruder-8'", 5)
        self.assertEqual(self.wait_state("intruder-8", "failed")["State"], "failed")
        run = pgood.stop()
        self.assertEqual(run.returncode, 0, run)

    # ---- 9: IPv6 ----

    def test_8b_unkeyed_pnes_do_not_pile_up(self):
        """Anyone on the PAN can announce any Entity ID: PNEs that leave
        without a LocalEUKey stay listed (with why they failed) only until
        64 newer ones did the same."""
        ns = self.wired_ns
        ids = [f"flood-{i:03d}" for i in range(80)]
        for entity_id in ids:
            raw = pan.RawLink(ns, ns.gw_v4, self.port)
            raw.announce(entity_id)          # no UI, no TK, wired: no path fits
            reply = raw.receive()
            self.assertEqual(reply[0][2], 4, reply)   # ERROR
            raw.close()
        wait_until(lambda: self.props(ids[-1]) is not None and
                   self.props(ids[-1])["State"] == "failed", what="the last one failed")
        listed = [i for i in ids if self.props(i) is not None]
        self.assertLessEqual(len(listed), 64, listed)
        self.assertEqual(listed, ids[-len(listed):])
        self.assertIn("no EUKey path fits", self.props(ids[-1])["LastError"])

    def test_10_pngwctl(self):
        """pngwctl against the real daemon: a PNE whose owner declined at
        first waits in needs-credentials; `pngwctl pne provision` answers as
        the agent and follows it to ready; `pne list`/`pne show --json` carry
        the D-Bus property names; `pne forget` drops it."""
        pngwctl = binary("PNGWCTL")
        ns = self.secure_ns
        self.agent.answer = None
        pne = self.new_pne("lamp-10", ns)
        p = pne.start(self.gw_addr(ns), "--stay", timeout=60)
        self.processes.append(p)
        props = self.wait_state("lamp-10", "needs-credentials")
        self.assertIn("declined", props["LastError"])
        self.assertEqual(props["EukeyPath"], "install-credentials")
        r = subprocess.run([pngwctl, "pne", "provision", "lamp-10", "--user", "alice",
                            "--password-file", self.password_file()],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r)
        self.wait_state("lamp-10", "ready")
        r = subprocess.run([pngwctl, "--json", "pne", "list"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r)
        listed = json.loads(r.stdout)
        entry = [e for e in listed if e["EntityId"] == "lamp-10"]
        self.assertEqual(len(entry), 1, listed)
        r = subprocess.run([pngwctl, "--json", "pne", "show", "lamp-10"],
                           capture_output=True, text=True, timeout=30)
        shown = json.loads(r.stdout)
        for key, value in (("State", "ready"), ("LinkSecurity", "secure"),
                           ("EukeyPath", "install-credentials"), ("Name", "lamp-10"),
                           ("Transport", "wifi"), ("Address", ns.pne_v4)):
            self.assertEqual(shown[key], value, shown)
        self.assertIn("SAE", shown["LinkSecurityReason"])
        r = subprocess.run([pngwctl, "pne", "show", "nobody-here"], capture_output=True,
                           text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nobody-here", r.stderr)
        r = subprocess.run([pngwctl, "pne", "forget", "lamp-10"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r)
        self.assertIsNone(self.props("lamp-10"))
        self.assertNotIn("local:lamp-10", self.gw.keystore())
        # Forget closed the PNE's link.
        p.proc.wait(30)
        self.assertIn("closed", p.result().stderr + p.result().stdout)

    def test_9_ipv6(self):
        ns = self.secure_ns
        pne = self.new_pne("clock-9", ns)
        before = len(self.hostapd_secure.requests)
        p, props = self.provision_staying(pne, "--send-gw", "over v6",
                                          addr=self.gw_addr(ns, v6=True))
        self.assertEqual(props["Address"], ns.pne_v6)
        self.assertEqual(props["LinkSecurity"], "secure")
        self.assertEqual(props["EukeyPath"], "install-credentials")
        self.assertIn(f"STA {ns.pne_mac}", self.hostapd_secure.requests[before:])
        run = p.stop()
        self.assertEqual(run.returncode, 0, run)
        self.assertEqual(run.first("provisioned")["path"], 2)
        self.assert_provisioned(pne)
        self.assertIn(f"link {ns.pne_v6}", self.gw.process.text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
