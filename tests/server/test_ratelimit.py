#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Failed key proofs are rate-limited per User ID and per client address:
KEY_REQUESTs then get HTTP 429 with an ERROR rate-limited and Retry-After."""

from servertest import ServerTestCase, main


class RateLimit(ServerTestCase):
    config = ("user-failures=3\n"
              "address-failures=7\n"
              "failure-window=120\n")

    def assert_limited(self, result):
        self.assertFalse(result["ok"])
        self.assertEqual(result["phase"], "challenge")
        self.assertEqual(result["http"], 429)
        self.assertEqual(result["error"], "rate-limited")
        self.assertGreaterEqual(result["retry_after"], 1)
        self.assertLessEqual(result["retry_after"], 120)

    def test_limits(self):
        bad = self.write("bad.pw", "wrong\n")
        # Per user: three failures for alice, then even the right password
        # cannot start an exchange.
        for _ in range(3):
            self.assertEqual(self.enrol("gw-a", "alice", bad)["status"], 1)
        self.assert_limited(self.enrol("gw-a", "alice"))
        self.assertEqual(self.server.sql("SELECT count(*) FROM entities"), [(0,)])
        # Bob, from the same address, is not held up by alice's failures...
        self.assertEqual(self.enrol("gw-b", "bob", bad)["status"], 1)
        self.assertTrue(self.enrol("gw-b", "bob")["ok"])
        # ...and a success resets bob's own count.
        for _ in range(2):
            self.assertEqual(self.enrol("gw-b", "bob", bad)["status"], 1)
        # Unknown users count too, per name and per address: 3 + 1 + 2 + 1 = 7
        # failures from this address now block everyone from it.
        self.assertEqual(self.enrol("gw-c", "nobody", bad)["status"], 1)
        self.assert_limited(self.enrol("gw-b", "bob"))
        self.assert_limited(self.enrol("gw-c", "somebody-else", bad))
        log = self.server.read_log()
        self.assertIn("too many failed attempts", log)
        self.assertNotIn("wrong", log)


if __name__ == "__main__":
    main()
