#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Records for a PNE through its gateway's long poll (protocol.md 12.1),
over real HTTPS: one cpns-test-client run plays both the PN GW and the PNE
(step as=ENTITY), so it can open what the gateway's poll got with the PNE's
own session.  Also: an entity paired as a PNE is a PNE, and the reserved
ID @pan."""

import json
import os
import subprocess

from servertest import Binaries, ServerTestCase, main

TK = "000102030405060708090a0b0c0d0e0f"


def steps(results, name):
    """The printed objects of the steps called @name, in order."""
    return [r for r in results if r["step"] == name]


class PneDelivery(ServerTestCase):

    def enrol_steps(self, *entities, user="alice"):
        out = []
        for entity in entities:
            out += [f"as={entity}", f"enroll={user},{self.passwords[user]}"]
        return out

    def test_gateway_poll_gets_pne_echo(self):
        r = self.server.client(
            "gw-1", *self.enrol_steps("gw-1", "pne-1"),
            "as=gw-1", "handshake", "localkey=pne-1",
            "as=pne-1", "handshake", "queue=hello",
            "as=gw-1", "poll", "poll")
        self.assertTrue(all(e["ok"] for e in steps(r, "enroll")))
        self.assertEqual(steps(r, "localkey")[0]["pne_unwrap"], "ok")
        queued = steps(r, "queue")[0]
        self.assertEqual((queued["http"], queued["type"], queued["acked"]),
                         (200, "ACK", "DATA"))
        got, empty = steps(r, "poll")
        # Sealed in the PNE's session, addressed to it: the gateway's run
        # opens it only because it holds the PNE's session too.
        self.assertEqual((got["http"], got["type"], got["data"], got["content_type"]),
                         (200, "DATA", "hello", 1))
        self.assertEqual((got["dst"], got["opened_by"]), ("pne-1", "pne-1"))
        self.assertLess(got["waited_ms"], 1000)
        self.assertEqual(empty["http"], 204)
        # Paired as a PNE: it is one now, the gateway stays a gateway.
        self.assertEqual(self.server.sql("SELECT entity_id, kind FROM entities WHERE "
                                         "entity_id IN ('gw-1', 'pne-1') ORDER BY 1"),
                         [("gw-1", "gateway"), ("pne-1", "pne")])
        listing = json.loads(self.server.admin("--json", "entity", "list").stdout)
        kinds = {e["entity"]: e["kind"] for e in listing}
        self.assertEqual((kinds["gw-1"], kinds["pne-1"]), ("gateway", "pne"))
        text = self.server.admin("entity", "list").stdout
        self.assertRegex(text, r"(?m)^pne-1 +pne ")

    def test_pne_own_poll_still_works(self):
        r = self.server.client(
            "gw-2", *self.enrol_steps("gw-2", "pne-2"),
            "as=gw-2", "handshake", "localkey=pne-2",
            "as=pne-2", "handshake", "queue=mine", "poll")
        got = steps(r, "poll")[0]
        self.assertEqual((got["http"], got["data"]), (200, "mine"))
        self.assertNotIn("dst", got)

    def test_waits_without_session(self):
        pw = self.passwords["alice"]
        r = self.server.client(
            "gw-3", *self.enrol_steps("gw-3", "pne-3"),
            "as=gw-3", "handshake", "localkey=pne-3",
            "as=pne-3", "handshake", "queue=kept",
            # A new EUKey ends the PNE's sessions; the message stays.
            f"enroll=alice,{pw}",
            "as=gw-3", "poll",
            "as=pne-3", "handshake",
            "as=gw-3", "poll")
        waiting, got = steps(r, "poll")
        self.assertEqual(waiting["http"], 204)
        self.assertGreaterEqual(waiting["waited_ms"], 1800)
        self.assertEqual((got["http"], got["data"], got["dst"]), (200, "kept", "pne-3"))

    def test_repairing_moves_delivery(self):
        r = self.server.client(
            "gw-4a", *self.enrol_steps("gw-4a", "gw-4b", "pne-4"),
            *self.enrol_steps("gw-4x", user="bob"),
            "as=gw-4x", "handshake",
            "as=gw-4b", "handshake",
            "as=gw-4a", "handshake", "localkey=pne-4",
            "as=pne-4", "handshake", "queue=one", "queue=two",
            "as=gw-4b", "poll",           # not paired: nothing
            "as=gw-4a", "poll",           # one
            "as=gw-4b", "localkey=pne-4",
            "as=gw-4a", "poll",           # re-paired away: nothing
            "as=gw-4b", "poll",           # two moved with the PNE
            "as=pne-4", "queue=three",
            "as=gw-4x", "poll",           # another user's gateway: never
            "as=gw-4b", "poll")           # three
        polls = steps(r, "poll")
        self.assertEqual([(p["http"], p.get("data"), p.get("dst")) for p in polls],
                         [(204, None, None), (200, "one", "pne-4"), (204, None, None),
                          (200, "two", "pne-4"), (204, None, None),
                          (200, "three", "pne-4")])

    def test_pan_is_reserved(self):
        r = self.server.client("@pan", f"enroll=alice,{self.passwords['alice']}")[0]
        self.assertEqual((r["ok"], r["phase"], r["http"], r["error"]),
                         (False, "challenge", 400, "invalid-argument"))
        self.assertIn("'@pan'", r["reason"])
        r = self.enrol("gw-5", "alice", subject="@pan")
        self.assertEqual((r["ok"], r["http"], r["error"]), (False, 400, "invalid-argument"))
        self.assertIn("subject '@pan'", r["reason"])
        self.assertEqual(self.server.sql("SELECT count(*) FROM entities "
                                         "WHERE entity_id = '@pan'"), [(0,)])
        # In a manifest: the line is named, nothing imported.
        manifest = self.write("pan-manifest", f"pne-5 05 {TK}\n@pan 06 {TK}\n")
        proc = self.server.admin("manifest", "import", manifest, check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(f"{manifest}:2:", proc.stderr)
        self.assertIn("'@pan' is a reserved ID", proc.stderr)
        self.assertEqual(self.server.sql("SELECT count(*) FROM entities "
                                         "WHERE entity_id = 'pne-5'"), [(0,)])
        # Nor can the operator provision it.
        proc = self.server.admin("entity", "provision", "@pan", "--user", "alice",
                                 "--output", os.path.join(self.tmp, "pan.cred"),
                                 check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("'@pan' is a reserved ID", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "pan.cred")))
        # As the server's own Entity ID.
        conf = self.write("pan.conf", "[server]\nentity-id=@pan\n")
        proc = subprocess.run([Binaries.server, "--config", conf], capture_output=True,
                              text=True, timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("entity-id", proc.stderr)
        self.assertIn("'@pan'", proc.stderr)


if __name__ == "__main__":
    main()
