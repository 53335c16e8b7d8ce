#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Long polls on /poll: 204 after the wait, a queued message at once, a
waiting poll woken by a message from another connection; and sessions that
expire after --session-lifetime."""

import time

from servertest import ServerTestCase, main


class Poll(ServerTestCase):
    args = ("--session-lifetime", "3")

    def test_poll(self):
        pw = self.passwords["alice"]
        r = self.server.client("gw-poll", f"enroll=alice,{pw}", "handshake", "poll",
                               "queue=first", "queue=second", "poll", "poll",
                               "poll-wake=woken,700")
        enrol, hs, empty, q1, q2, p1, p2, wake = r
        # Nothing queued: the request is held for poll-timeout (2 s).
        self.assertEqual(empty["http"], 204)
        self.assertGreaterEqual(empty["waited_ms"], 1800)
        self.assertEqual((q1["type"], q1["acked"]), ("ACK", "DATA"))
        # Queued messages come back in order, at once, in the session.
        self.assertEqual((p1["http"], p1["type"], p1["data"]), (200, "DATA", "first"))
        self.assertEqual(p2["data"], "second")
        self.assertTrue(p1["txid_matches"])
        self.assertLess(p1["waited_ms"], 1000)
        # A waiting poll is answered as soon as a message is queued.
        self.assertEqual(wake["queue_http"], 200)
        self.assertEqual(wake["http"], 200)
        self.assertEqual(wake["data"], "woken")
        self.assertTrue(wake["txid_matches"])
        self.assertGreaterEqual(wake["waited_ms"], 650)
        self.assertLess(wake["waited_ms"], 1900)

    def test_client_gone_while_polling(self):
        state = self.state("gone")
        self.assertTrue(self.enrol("gw-gone", "alice", state=state)["ok"])
        proc = self.server.client_async("gw-gone", "handshake", "poll", state=state)
        time.sleep(0.7)
        proc.kill()
        proc.communicate()
        # Past the poll timeout the server answers a closed connection;
        # it goes on serving.
        time.sleep(2.5)
        r = self.server.client("gw-gone", "handshake", "echo=still", "queue=q", "poll",
                               state=state)
        self.assertEqual(r[1]["data"], "still")
        self.assertEqual(r[3]["data"], "q")

    def test_session_expiry(self):
        pw = self.passwords["bob"]
        r = self.server.client("gw-exp", f"enroll=bob,{pw}", "handshake", "echo=a",
                               "sleep=3300", "echo=b", "handshake", "echo=c")
        self.assertEqual(r[2]["data"], "a")
        self.assertEqual(r[3]["http"], 401)
        self.assertEqual(r[3]["error"], "not-found")
        self.assertTrue(r[4]["ok"])
        self.assertEqual(r[5]["data"], "c")


if __name__ == "__main__":
    main()
