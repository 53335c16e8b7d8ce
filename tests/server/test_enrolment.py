#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Key Request / Key Delivery end to end (protocol.md 8.1, 11): success,
wrong password, unknown users (decoy challenges), retries, re-enrolment,
ownership, and keys revoked while the server runs."""

import json
import time

from servertest import ServerTestCase, main


class Enrolment(ServerTestCase):
    users = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
    manifest = ("pne-1 01 000102030405060708090a0b0c0d0e0f\n"
                "pne-2 02 101112131415161718191a1b1c1d1e1f\n")

    def test_success_stores_key(self):
        r = self.enrol("gw-ok", "alice")
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["status"], 0)
        self.assertTrue(r["has_key"])
        self.assertEqual(r["key_len"], 32)
        rows = self.server.sql("SELECT kind, owner_user, hex(eukey_kid), length(eukey), "
                               "eukey_created FROM entities WHERE entity_id = ?", "gw-ok")
        self.assertEqual(len(rows), 1)
        kind, owner, kid, key_len, created = rows[0]
        self.assertEqual((kind, owner, kid.lower(), key_len),
                         ("gateway", "alice", r["kid"], 32))
        self.assertLess(abs(created - time.time()), 60)

    def test_wrong_password(self):
        bad = self.write("bad.pw", "not-the-password\n")
        r = self.enrol("gw-bad", "alice", bad)
        self.assertFalse(r["ok"])
        self.assertEqual(r["http"], 200)
        self.assertEqual(r["status"], 1)
        self.assertFalse(r["has_key"])
        self.assertFalse(r["has_proof"])
        self.assertEqual(r["error"], "auth-failed")
        self.assertEqual(self.server.sql(
            "SELECT count(*) FROM entities WHERE entity_id = 'gw-bad'"), [(0,)])

    def test_unknown_user_looks_the_same(self):
        real = self.server.client("gw-x", "challenge=alice")[0]
        decoy1, decoy2 = self.server.client("gw-x", "challenge=nobody@example.org",
                                            "challenge=nobody@example.org")
        other = self.server.client("gw-x", "challenge=someone-else")[0]
        for c in (real, decoy1, decoy2, other):
            self.assertEqual(c["http"], 200)
            self.assertEqual(c["group"], 1)
            self.assertEqual(len(c["salt"]), 32)
            self.assertEqual(c["iterations"], real["iterations"])
            self.assertGreaterEqual(c["b_len"], 380)
            self.assertLessEqual(c["b_len"], 384)
            self.assertLessEqual(abs(c["body_len"] - real["body_len"]), 4)
            self.assertEqual(set(c), set(real))
        # The same unknown name always gets the same salt, others another.
        self.assertEqual(decoy1["salt"], decoy2["salt"])
        self.assertNotEqual(decoy1["salt"], other["salt"])
        # And the proof fails just like a wrong password.
        r = self.enrol("gw-x", "nobody@example.org", self.passwords["alice"])
        wrong = self.enrol("gw-x", "alice", self.write("w.pw", "wrong\n"))
        for key in ("ok", "http", "status", "has_key", "has_proof", "error"):
            self.assertEqual(r[key], wrong[key], key)

    def test_retry_after_failure(self):
        bad = self.write("bad2.pw", "nope\n")
        results = self.server.client(
            "gw-retry", f"enroll=bob,{bad}", f"enroll=bob,{self.passwords['bob']}",
            "handshake", "echo=after-retry")
        self.assertEqual(results[0]["status"], 1)
        self.assertTrue(results[1]["ok"], results[1])
        self.assertTrue(results[2]["ok"], results[2])
        self.assertEqual(results[3]["data"], "after-retry")

    def test_password_file_crlf(self):
        crlf = self.write("crlf.pw", "carol-pw\r\nsecond line ignored\n")
        self.assertTrue(self.enrol("gw-crlf", "carol", crlf)["ok"])

    def test_reenrolment_replaces_key_and_ends_sessions(self):
        pw = self.passwords["alice"]
        r = self.server.client("gw-re", f"enroll=alice,{pw}", "handshake", "echo=one",
                               f"enroll=alice,{pw}", "echo=stale", "handshake",
                               "echo=fresh")
        first, hs1, echo1, second, stale, hs2, fresh = r
        self.assertTrue(first["ok"] and second["ok"])
        self.assertNotEqual(first["kid"], second["kid"])
        self.assertEqual(echo1["data"], "one")
        self.assertEqual(stale["http"], 401)
        self.assertEqual(stale["error"], "not-found")
        self.assertTrue(hs2["ok"])
        self.assertNotEqual(hs1["session"], hs2["session"])
        self.assertEqual(fresh["data"], "fresh")
        kid = self.server.sql("SELECT lower(hex(eukey_kid)) FROM entities "
                              "WHERE entity_id = 'gw-re'")[0][0]
        self.assertEqual(kid, second["kid"])

    def test_entity_of_another_user(self):
        self.assertTrue(self.enrol("gw-alices", "alice")["ok"])
        r = self.enrol("gw-alices", "bob")
        self.assertEqual(r["status"], 3)
        self.assertFalse(r["has_key"])
        self.assertEqual(r["error"], "forbidden")
        self.assertEqual(self.server.sql("SELECT owner_user FROM entities WHERE "
                                         "entity_id = 'gw-alices'"), [("alice",)])

    def test_subject(self):
        state = self.state("subject")
        r = self.enrol("gw-subj", "alice", subject="pne-1", state=state)
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["entity"], "pne-1")
        self.assertEqual(self.server.sql("SELECT owner_user, lower(hex(eukey_kid)) FROM "
                                         "entities WHERE entity_id = 'pne-1'"),
                         [("alice", r["kid"])])
        # The PNE itself can now open a session with that key.
        hs = self.server.client("pne-1", "handshake", "echo=from-pne", state=state)
        self.assertTrue(hs[0]["ok"])
        self.assertEqual(hs[1]["data"], "from-pne")
        # Another user cannot take the PNE, nor make a gateway a "PNE".
        self.assertEqual(self.enrol("gw-b", "bob", subject="pne-1")["status"], 3)
        self.assertTrue(self.enrol("gw-other", "bob")["ok"])
        self.assertEqual(self.enrol("gw-b", "bob", subject="gw-other")["status"], 3)

    def test_revoked_while_running(self):
        pw = self.passwords["alice"]
        proc = self.server.client_async("gw-rev", f"enroll=alice,{pw}", "handshake",
                                        "echo=before", "sleep=1500", "echo=after")
        time.sleep(0.8)
        self.server.admin("entity", "revoke", "gw-rev")
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        results = [json.loads(line) for line in out.splitlines()]
        self.assertEqual(results[2]["data"], "before")
        self.assertEqual(results[3]["http"], 401)
        self.assertEqual(results[3]["error"], "not-found")
        # No session can be opened with the revoked key.
        state = self.state("rev")
        self.assertTrue(self.enrol("gw-rev2", "alice", state=state)["ok"])
        self.server.admin("entity", "revoke", "gw-rev2")
        hs = self.server.client("gw-rev2", "handshake", state=state)[0]
        self.assertEqual(hs["http"], 401)
        self.assertEqual(hs["error"], "not-found")
        listing = self.server.admin("--json", "entity", "list").stdout
        entity = [e for e in json.loads(listing) if e["entity"] == "gw-rev2"]
        self.assertEqual(entity[0]["state"], "revoked")

    def test_user_deleted_while_running(self):
        dave = self.write("dave.pw", "dave-pw\n")
        self.server.admin("user", "add", "dave", "--password-file", dave,
                          "--iterations", "1000")
        proc = self.server.client_async("gw-dave", f"enroll=dave,{dave}", "handshake",
                                        "echo=before", "sleep=1500", "echo=after")
        time.sleep(0.8)
        self.server.admin("user", "delete", "dave")
        out, err = proc.communicate(timeout=60)
        results = [json.loads(line) for line in out.splitlines()]
        self.assertEqual(results[2]["data"], "before")
        self.assertEqual(results[3]["http"], 401)
        self.assertEqual(self.server.sql("SELECT owner_user, eukey FROM entities WHERE "
                                         "entity_id = 'gw-dave'"), [(None, None)])


if __name__ == "__main__":
    main()
