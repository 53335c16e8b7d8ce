#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""pngwd enrolling itself with the real cpns-server over HTTPS (issue 3).

Run with CPNS_SERVER, CPNS_ADMIN and PNGWD set to the built programs.
"""

import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TestCA, Server, Gateway, binary, read_keystore  # noqa: E402

ENROLLED = r"state: enrolled"
# Logged when an enrolment completes; "state: enrolled" is also logged at
# start-up by a gateway that already has a key.
ENROLMENT_DONE = r"enrolled as \S+ for user"
SESSION = r"secure session (\d+) with cpns-server established"


class EnrollmentTest(unittest.TestCase):

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="pngw-it-")
        self.ca = TestCA(self.work)
        self.server = Server(self.work, self.ca)
        self.gateways = []

    def tearDown(self):
        for gw in self.gateways:
            gw.stop()
        self.server.stop()
        if os.environ.get("PNGW_KEEP_TEST_DIR"):
            print(f"kept {self.work}", file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def gateway(self, entity_id="gw-0001"):
        gw = Gateway(self.work, self.server, entity_id)
        self.gateways.append(gw)
        return gw

    def assert_keys_match(self, gw, user):
        row = self.server.eukey(gw.entity_id)
        self.assertIsNotNone(row, "the server has no entity row")
        key, kid, owner = row
        self.assertEqual(owner, user)
        entry = gw.keystore()["eukey"]
        self.assertEqual(entry[6], key, "gateway and server hold different EUKeys")
        self.assertEqual(entry[5], kid)
        self.assertEqual(entry[3], gw.entity_id)
        self.assertEqual(entry[4], "cpns-server")
        self.assertEqual(entry[9], user)
        return key

    def test_enrolment(self):
        self.server.start()
        self.server.add_user("alice", "correct horse")
        gw = self.gateway().start(enroll="alice", password="correct horse")
        gw.process.wait_for(ENROLLED)
        gw.process.wait_for(SESSION)
        self.assert_keys_match(gw, "alice")
        # The password never reaches the log.
        self.assertNotIn("correct horse", gw.process.text())
        # Restart: the key is read back from the keystore, no enrolment.
        self.assertEqual(gw.stop(), 0, "pngwd did not exit cleanly on SIGTERM")
        gw.start()
        gw.process.wait_for(SESSION)
        self.assertIn("state: enrolled", gw.process.text())

    def test_wrong_password_then_retry(self):
        self.server.start()
        self.server.add_user("alice", "correct horse")
        gw = self.gateway().start(enroll="alice", password="wrong horse")
        failed = gw.process.wait_for(r"state: failed \((.*)\)")
        self.assertIn("did not accept", failed)
        self.assertFalse(os.path.exists(os.path.join(gw.state, "keystore")) and
                         "eukey" in gw.keystore(), "a failed enrolment stored a key")
        self.assertIsNone(self.server.eukey(gw.entity_id))
        gw.stop()
        gw.start(enroll="alice", password="correct horse")
        gw.process.wait_for(ENROLMENT_DONE)
        self.assert_keys_match(gw, "alice")

    def test_unknown_user_looks_the_same(self):
        self.server.start()
        self.server.add_user("alice", "correct horse")
        known = self.gateway("gw-known").start(enroll="alice", password="nope")
        unknown = self.gateway("gw-unknown").start(enroll="mallory", password="nope")
        a = known.process.wait_for(r"state: failed \((.*)\)")
        b = unknown.process.wait_for(r"state: failed \((.*)\)")
        self.assertEqual(a.replace("alice", "USER"), b.replace("mallory", "USER"))

    def test_server_down_at_start(self):
        gw = self.gateway().start(enroll="alice", password="correct horse")
        gw.process.wait_for(r"unreachable")
        self.server.start()
        self.server.add_user("alice", "correct horse")
        gw.process.wait_for(ENROLLED, timeout=30)
        gw.process.wait_for(SESSION)
        self.assert_keys_match(gw, "alice")

    def test_server_restart(self):
        self.server.start()
        self.server.add_user("alice", "correct horse")
        gw = self.gateway().start(enroll="alice", password="correct horse")
        gw.process.wait_for(SESSION)
        self.server.stop()
        gw.process.wait_for(r"unreachable|not available")
        self.server.start()
        self.assertEqual(gw.process.wait_for(SESSION, count=2, timeout=30), "2")

    def test_reenrolment_killed_at_random_points(self):
        """SIGKILL during enrolment, many times: the keystore is always the
        old one or the new one, never corrupt."""
        self.server.start()
        self.server.add_user("alice", "correct horse")
        gw = self.gateway().start(enroll="alice", password="correct horse")
        gw.process.wait_for(ENROLLED)
        gw.stop()
        rng = random.Random(int(os.environ.get("PNGW_TEST_SEED", "1")))
        outcomes = {"old": 0, "new": 0}
        for _ in range(int(os.environ.get("PNGW_KILL_ROUNDS", "25"))):
            old = gw.keystore()["eukey"][6]
            gw.start(enroll="alice", password="correct horse")
            # PBKDF2 (1000 rounds) and SRP take a few tens of ms: kill anywhere
            # from before the first request to after the save.
            try:
                gw.process.proc.wait(timeout=rng.uniform(0.0, 0.4))
            except subprocess.TimeoutExpired:
                pass
            gw.process.kill9()
            store = read_keystore(os.path.join(gw.state, "keystore"),
                                  os.path.join(gw.state, "kek"))
            now = store["eukey"][6]
            server_key = self.server.eukey(gw.entity_id)[0]
            if now == old:
                outcomes["old"] += 1
            else:
                self.assertEqual(now, server_key,
                                 "keystore holds a key the server never issued")
                outcomes["new"] += 1
            leftovers = [n for n in os.listdir(gw.state)
                         if n not in ("keystore", "kek") and
                         not n.startswith("keystore.tmp-")]
            self.assertEqual(leftovers, [])
        print(f"kill -9 outcomes: {outcomes}", file=sys.stderr)
        # The gateway still works with whatever it kept, after re-enrolling.
        gw.start(enroll="alice", password="correct horse")
        gw.process.wait_for(ENROLMENT_DONE)
        gw.process.wait_for(SESSION)
        self.assert_keys_match(gw, "alice")

    def test_preconfigured_credential(self):
        """An operator-provisioned EUKey: no enrolment, straight to a session."""
        self.server.start()
        self.server.add_user("operator", "pw")
        gw = self.gateway("gw-pre")
        cred = os.path.join(gw.dir, "credential")
        self.server.admin("entity", "provision", "gw-pre", "--user", "operator",
                          "--output", cred)
        self.assertEqual(os.stat(cred).st_mode & 0o077, 0)
        with open(gw.config) as f:
            text = f.read()
        text = text.replace("[gateway]\n", "[gateway]\ncredential = preconfigured\n"
                            f"credential-file = {cred}\n", 1)
        with open(gw.config, "w") as f:
            f.write(text)
        gw.start()
        gw.process.wait_for(SESSION)
        self.assertIn("pre-configured credential imported", gw.process.text())
        self.assert_keys_match(gw, "operator")
        # A second start does not import it again.
        gw.stop()
        gw.start()
        gw.process.wait_for(SESSION)
        self.assertNotIn("imported", gw.process.text())

    def test_bad_configuration(self):
        gw = self.gateway()
        with open(gw.config, "a") as f:
            f.write("\n[pan]\nbluetooth-min-security = extreme\n")
        result = subprocess.run([binary("PNGWD"), "--config", gw.config],
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 1)
        self.assertIn("bluetooth-min-security", result.stderr)
        self.assertIn("extreme", result.stderr)
        with open(gw.config, "w") as f:
            f.write("[server]\nurl = http://plain.example/cpns\n")
        result = subprocess.run([binary("PNGWD"), "--config", gw.config],
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 1)
        self.assertIn("https://", result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
