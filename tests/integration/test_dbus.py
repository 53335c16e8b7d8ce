#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""pngwd's D-Bus API on a private dbus-daemon, with the real cpns-server and
agents written here in Python (Gio): properties and signals while enrolling,
agents that answer, decline, answer wrongly or vanish, no agent at all, and
a caller that is not permitted.  Needs CPNS_SERVER, CPNS_ADMIN, PNGWD and
DBUS_INTERFACE_XML."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TestCA, Server, Gateway, PrivateBus, wait_until  # noqa: E402

from gi.repository import Gio, GLib  # noqa: E402

NAME = "org.cpns.Gateway1"
PATH = "/org/cpns/Gateway1"
IFACE = "org.cpns.Gateway1"



class Agent:
    """An org.cpns.Agent1 on its own bus connection; @behaviour decides the
    answer: ("answer", user, password), ("cancel",), ("vanish",),
    ("hold",)."""

    def __init__(self, address, behaviour, path="/test/agent"):
        self.behaviour = behaviour
        self.path = path
        self.requests = []
        self.cancels = []
        self.released = False
        self.conn = Gio.DBusConnection.new_for_address_sync(
            address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        with open(os.environ["DBUS_INTERFACE_XML"]) as f:
            info = Gio.DBusNodeInfo.new_for_xml(f.read())
        iface = info.lookup_interface("org.cpns.Agent1")
        self.reg = self.conn.register_object(self.path, iface, self.on_call, None, None)
        self.pending = None

    def on_call(self, conn, sender, path, iface, method, params, invocation):
        if method == "RequestCredentials":
            self.requests.append(params.unpack())
            kind = self.behaviour[0]
            if kind == "answer":
                invocation.return_value(GLib.Variant("(ss)", self.behaviour[1:]))
            elif kind == "cancel":
                invocation.return_dbus_error("org.cpns.Error.Canceled", "declined")
            elif kind == "vanish":
                self.pending = invocation
                GLib.idle_add(self.conn.close_sync, None)
            else:
                self.pending = invocation
        elif method == "Cancel":
            self.cancels.append(params.unpack())
            invocation.return_value(None)
        elif method == "Release":
            self.released = True
            invocation.return_value(None)

    def register(self, gateway_conn=None):
        call(self.conn, "RegisterAgent", GLib.Variant("(o)", (self.path,)))


def call(conn, method, params=None, timeout=60000):
    return conn.call_sync(NAME, PATH, IFACE, method, params, None,
                          Gio.DBusCallFlags.NONE, timeout, None)


def call_async_result(conn, method, timeout=60000):
    """Calls in the background while the main context runs agents."""
    box = {}
    loop = GLib.MainLoop()

    def done(source, result):
        try:
            box["value"] = source.call_finish(result)
        except GLib.Error as e:
            box["error"] = e
        loop.quit()
    conn.call(NAME, PATH, IFACE, method, None, None, Gio.DBusCallFlags.NONE, timeout,
              None, done)
    GLib.timeout_add_seconds(90, loop.quit)
    loop.run()
    return box


def remote_error(err):
    return Gio.DBusError.get_remote_error(err)


class DBusTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="pngw-dbus-")
        os.chmod(cls.work, 0o755)
        cls.bus = PrivateBus(cls.work).start()
        cls.address = cls.bus.address

    @classmethod
    def tearDownClass(cls):
        cls.bus.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="t-", dir=self.work)
        self.ca = TestCA(self.dir)
        self.server = Server(self.dir, self.ca).start()
        self.server.add_user("alice", "correct horse")
        self.gw = Gateway(self.dir, self.server, "gw-dbus")
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        self.gw.start()
        self.gw.process.wait_for(r"D-Bus API ready")
        self.conn = Gio.DBusConnection.new_for_address_sync(
            self.address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.agents = []

    def tearDown(self):
        for a in self.agents:
            if not a.conn.is_closed():
                a.conn.close_sync(None)
        self.gw.stop()
        self.server.stop()

    def agent(self, behaviour, path="/test/agent"):
        a = Agent(self.address, behaviour, path)
        self.agents.append(a)
        a.register()
        return a

    def prop(self, name):
        v = self.conn.call_sync(NAME, PATH, "org.freedesktop.DBus.Properties", "Get",
                                GLib.Variant("(ss)", (IFACE, name)), None,
                                Gio.DBusCallFlags.NONE, 5000, None)
        return v.unpack()[0]

    def test_properties(self):
        self.assertEqual(self.prop("EntityId"), "gw-dbus")
        self.assertEqual(self.prop("State"), "unenrolled")
        self.assertEqual(self.prop("CredentialMode"), "enroll")
        self.assertEqual(self.prop("ServerUrl"), self.server.url)
        self.assertEqual(self.prop("UserId"), "")
        self.assertEqual(self.prop("SessionState"), "idle")

    def test_enroll_without_agent(self):
        r = call_async_result(self.conn, "Enroll")
        self.assertEqual(remote_error(r["error"]), "org.cpns.Error.NoAgent")

    def test_enroll_with_agent_and_signals(self):
        changes, finished = [], []
        self.conn.signal_subscribe(NAME, "org.freedesktop.DBus.Properties",
                                   "PropertiesChanged", PATH, None,
                                   Gio.DBusSignalFlags.NONE,
                                   lambda *a: changes.append(a[5].unpack()[1]))
        self.conn.signal_subscribe(NAME, IFACE, "EnrollmentFinished", PATH, None,
                                   Gio.DBusSignalFlags.NONE,
                                   lambda *a: finished.append(a[5].unpack()))
        agent = self.agent(("answer", "alice", "correct horse"))
        r = call_async_result(self.conn, "Enroll")
        self.assertNotIn("error", r)
        self.assertEqual(agent.requests[0][0], PATH)
        self.assertIn("gw-dbus", agent.requests[0][1])
        self.assertEqual(self.prop("State"), "enrolled")
        self.assertEqual(self.prop("UserId"), "alice")
        ctx = GLib.MainContext.default()
        wait_until(lambda: ctx.iteration(False) or finished, what="EnrollmentFinished")
        self.assertEqual(finished[0][0], True)
        states = [c["State"] for c in changes if "State" in c]
        self.assertEqual(states[:2], ["enrolling", "enrolled"])
        # The session follows, seen as a property change.
        wait_until(lambda: ctx.iteration(False) or
                   self.prop("SessionState") == "connected", what="session")
        self.assertTrue(self.prop("ServerReachable"))

    def test_wrong_password_then_decline(self):
        self.agent(("answer", "alice", "wrong"))
        r = call_async_result(self.conn, "Enroll")
        self.assertEqual(remote_error(r["error"]), "org.cpns.Error.AuthenticationFailed")
        self.assertEqual(self.prop("State"), "failed")
        self.assertIn("did not accept", self.prop("LastError"))
        self.agents[0].behaviour = ("cancel",)
        r = call_async_result(self.conn, "Enroll")
        self.assertEqual(remote_error(r["error"]), "org.cpns.Error.Canceled")

    def test_agent_vanishes_then_fallback(self):
        first = self.agent(("vanish",), "/test/first")
        second = self.agent(("answer", "alice", "correct horse"), "/test/second")
        r = call_async_result(self.conn, "Enroll")
        self.assertNotIn("error", r, r.get("error"))
        self.assertEqual(len(first.requests), 1)
        self.assertEqual(len(second.requests), 1)
        self.assertEqual(self.prop("State"), "enrolled")

    def test_only_agent_vanishes(self):
        self.agent(("vanish",))
        r = call_async_result(self.conn, "Enroll")
        self.assertEqual(remote_error(r["error"]), "org.cpns.Error.NoAgent")

    def test_register_twice_and_unregister_unknown(self):
        a = self.agent(("hold",))
        with self.assertRaises(GLib.Error) as e:
            a.register()
        self.assertEqual(remote_error(e.exception), "org.cpns.Error.AlreadyExists")
        with self.assertRaises(GLib.Error) as e:
            call(self.conn, "UnregisterAgent", GLib.Variant("(o)", ("/nope",)))
        self.assertEqual(remote_error(e.exception), "org.cpns.Error.NotFound")
        call(a.conn, "UnregisterAgent", GLib.Variant("(o)", (a.path,)))

    def test_wrong_argument_types(self):
        # The generated skeleton checks signatures against the XML.
        with self.assertRaises(GLib.Error) as e:
            call(self.conn, "RegisterAgent", GLib.Variant("(s)", ("/not/an/o",)))
        self.assertEqual(remote_error(e.exception), "org.freedesktop.DBus.Error.InvalidArgs")
        with self.assertRaises(GLib.Error) as e:
            call(self.conn, "Enroll", GLib.Variant("(s)", ("extra",)))
        self.assertEqual(remote_error(e.exception), "org.freedesktop.DBus.Error.InvalidArgs")
        with self.assertRaises(GLib.Error) as e:
            call(self.conn, "NoSuchMethod")
        self.assertEqual(remote_error(e.exception),
                         "org.freedesktop.DBus.Error.UnknownMethod")
        # Properties are read-only.
        with self.assertRaises(GLib.Error):
            self.conn.call_sync(NAME, PATH, "org.freedesktop.DBus.Properties", "Set",
                                GLib.Variant("(ssv)", (IFACE, "State",
                                                       GLib.Variant("s", "enrolled"))),
                                None, Gio.DBusCallFlags.NONE, 5000, None)
        self.assertEqual(self.prop("State"), "unenrolled")

    def test_forget(self):
        with self.assertRaises(GLib.Error) as e:
            call(self.conn, "Forget")
        self.assertEqual(remote_error(e.exception), "org.cpns.Error.NotEnrolled")
        self.agent(("answer", "alice", "correct horse"))
        self.assertNotIn("error", call_async_result(self.conn, "Enroll"))
        self.assertIsNotNone(self.server.eukey("gw-dbus")[0])
        r = call_async_result(self.conn, "Forget")
        self.assertNotIn("error", r, r.get("error"))
        self.assertEqual(self.prop("State"), "unenrolled")
        self.assertIsNone(self.server.eukey("gw-dbus")[0])
        self.assertNotIn("eukey", self.gw.keystore())

    def pngwctl(self, *args):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        return subprocess.run([os.environ["PNGWCTL"], *args], capture_output=True,
                              text=True, env=env, timeout=120)

    def test_pngwctl(self):
        r = self.pngwctl("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        status = json.loads(r.stdout)
        self.assertEqual(status["EntityId"], "gw-dbus")
        self.assertEqual(status["State"], "unenrolled")
        pw = os.path.join(self.dir, "pw")
        with open(pw, "w") as f:
            f.write("correct horse\n")
        r = self.pngwctl("enroll", "--user", "alice", "--password-file", pw)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        status = json.loads(self.pngwctl("status", "--json").stdout)
        self.assertEqual(status["State"], "enrolled")
        self.assertEqual(status["UserId"], "alice")
        # A wrong password: exit 1, the reason, and the key left alone.
        with open(pw, "w") as f:
            f.write("wrong horse\n")
        r = self.pngwctl("enroll", "--user", "alice", "--password-file", pw)
        self.assertEqual(r.returncode, 1)
        self.assertIn("did not accept", r.stdout + r.stderr)
        self.assertEqual(json.loads(self.pngwctl("status", "--json").stdout)["State"],
                         "enrolled")
        self.assertEqual(json.loads(self.pngwctl("pne", "list", "--json").stdout), [])
        self.assertEqual(self.pngwctl("frobnicate").returncode, 2)
        self.gw.stop()
        self.assertEqual(self.pngwctl("status").returncode, 3)

    def test_not_permitted(self):
        script = ("from gi.repository import Gio, GLib\n"
                  "c = Gio.DBusConnection.new_for_address_sync('%s', "
                  "Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | "
                  "Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)\n"
                  "try:\n"
                  "    c.call_sync('%s', '%s', '%s', 'Enroll', None, None, 0, 10000, None)\n"
                  "except GLib.Error as e:\n"
                  "    print(Gio.DBusError.get_remote_error(e))\n"
                  % (self.address, NAME, PATH, IFACE))
        result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                                 "--clear-groups", "/usr/bin/python3", "-c", script],
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0 and "Operation not permitted" in result.stderr:
            self.skipTest("cannot switch to a second UID here")
        self.assertEqual(result.stdout.strip(), "org.cpns.Error.PermissionDenied",
                         result.stderr)
        # Reading properties stays open to everyone.
        self.assertEqual(self.prop("State"), "unenrolled")


if __name__ == "__main__":
    unittest.main(verbosity=2)
