#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Authorization from the session's Entity ID and User ID (protocol.md
11.1): Temporary Keys, LocalEUKeys, claiming and releasing PNEs."""

from servertest import ServerTestCase, main

TK1 = "000102030405060708090a0b0c0d0e0f"


class Authorization(ServerTestCase):
    manifest = (f"pne-1 a1 {TK1}\n"
                "pne-2 a2 101112131415161718191a1b1c1d1e1f\n"
                "pne-3 a3 202122232425262728292a2b2c2d2e2f\n")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gw_a = cls.state("gw-a")
        cls.gw_b = cls.state("gw-b")
        for gw, user, state in (("gw-a", "alice", cls.gw_a), ("gw-b", "bob", cls.gw_b)):
            r = cls.server.client(gw, f"enroll={user},{cls.passwords[user]}", state=state)
            assert r[0]["ok"], r

    def as_gw(self, gw, *steps):
        state = self.gw_a if gw == "gw-a" else self.gw_b
        return self.server.client(gw, "handshake", *steps, state=state)[1:]

    def owner(self, pne):
        return self.server.sql("SELECT owner_user FROM entities WHERE entity_id = ?",
                               pne)[0][0]

    def test_tk_and_claims(self):
        a, = self.as_gw("gw-a", "tk=pne-1")
        self.assertEqual((a["http"], a["type"]), (200, "TK_DELIVERY"))
        self.assertTrue(a["encrypted"])
        self.assertEqual((a["kid"], a["tk"]), ("a1", TK1))
        self.assertEqual(self.owner("pne-1"), "alice")
        # Bob's gateway gets neither the TK, nor a LocalEUKey, nor the PNE's
        # EUKey, and cannot release it.
        tk, lk, rel = self.as_gw("gw-b", "tk=pne-1", "localkey=pne-1", "release=pne-1")
        for r in (tk, lk, rel):
            self.assertEqual(r["http"], 403, r)
            self.assertEqual(r["error"], "forbidden")
        self.assertEqual(self.enrol("gw-b", "bob", subject="pne-1")["status"], 3)
        # Unknown PNEs and gateways look just like foreign PNEs.
        u, g = self.as_gw("gw-a", "tk=pne-none", "tk=gw-b")
        self.assertEqual((u["http"], g["http"]), (403, 403))
        self.assertEqual(self.owner("pne-1"), "alice")

    def test_local_key(self):
        before, = self.as_gw("gw-a", "localkey=pne-2")
        self.assertEqual(before["http"], 400)
        self.assertEqual(before["error"], "state")
        # Path 7.4.3: the gateway obtains the PNE's EUKey, then a LocalEUKey
        # whose copy for the PNE opens with that EUKey.
        r = self.enrol("gw-a", "alice", subject="pne-2", state=self.gw_a)
        self.assertTrue(r["ok"], r)
        lk, = self.as_gw("gw-a", "localkey=pne-2")
        self.assertEqual((lk["http"], lk["type"]), (200, "LOCAL_KEY_DELIVERY"))
        self.assertTrue(lk["encrypted"])
        self.assertEqual(lk["key_len"], 32)
        self.assertEqual(lk["pne_unwrap"], "ok")
        self.assertEqual(self.server.sql(
            "SELECT lower(hex(kid)), length(key) FROM local_keys WHERE pne_id = 'pne-2' "
            "AND gw_id = 'gw-a'"), [(lk["kid"], 32)])
        other, = self.as_gw("gw-b", "localkey=pne-2")
        self.assertEqual(other["http"], 403)

    def test_release(self):
        self.assertEqual(self.as_gw("gw-a", "tk=pne-3")[0]["http"], 200)
        self.assertTrue(self.enrol("gw-a", "alice", subject="pne-3",
                                   state=self.gw_a)["ok"])
        self.assertEqual(self.as_gw("gw-b", "release=pne-3")[0]["http"], 403)
        rel, = self.as_gw("gw-a", "release=pne-3")
        self.assertEqual((rel["http"], rel["type"], rel["acked"]),
                         (200, "ACK", "PNE_RELEASE"))
        self.assertEqual(self.server.sql(
            "SELECT owner_user, eukey FROM entities WHERE entity_id = 'pne-3'"),
            [(None, None)])
        # The PNE's own key is gone with it ...
        hs = self.server.client("pne-3", "handshake", state=self.gw_a)[0]
        self.assertEqual(hs["http"], 401)
        # ... and the next user may claim it; only once.
        self.assertEqual(self.as_gw("gw-b", "tk=pne-3")[0]["http"], 200)
        self.assertEqual(self.owner("pne-3"), "bob")
        self.assertEqual(self.as_gw("gw-a", "tk=pne-3")[0]["http"], 403)
        self.assertEqual(self.as_gw("gw-a", "release=pne-3")[0]["http"], 403)


if __name__ == "__main__":
    main()
