#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""cpns-admin: users, manifests and entities, exit statuses, and passwords
only from a file or a terminal.  Runs against a database of its own, with
no server (test_enrolment.py covers the admin tool next to a running one)."""

import fcntl
import json
import os
import select
import shutil
import sqlite3
import subprocess
import tempfile
import termios
import unittest

from servertest import Binaries, main

TK = "000102030405060708090a0b0c0d0e0f"


class Admin(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cpns-admin-test-")
        self.db = os.path.join(self.tmp, "state", "cpns.db")
        self.conf = self.file("cpns-server.conf", "")
        self.pw = self.file("pw", "correct horse\n")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def file(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def admin(self, *args, status=0):
        # A new session: no controlling terminal to ask a password on.
        proc = subprocess.run([Binaries.admin, "--config", self.conf, "--database",
                               self.db, *args], capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL,
                              start_new_session=True)
        self.assertEqual(proc.returncode, status, proc.stdout + proc.stderr)
        return proc

    def sql(self, query):
        with sqlite3.connect(self.db) as db:
            return db.execute(query).fetchall()

    def test_users(self):
        out = self.admin("user", "add", "alice", "--password-file", self.pw,
                         "--iterations", "1000").stdout
        self.assertIn("added user alice", out)
        self.admin("user", "add", "bob@example.org", "--password-file", self.pw)
        users = json.loads(self.admin("--json", "user", "list").stdout)
        self.assertEqual([(u["user"], u["iterations"], u["entities"]) for u in users],
                         [("alice", 1000, 0), ("bob@example.org", 100000, 0)])
        text = self.admin("user", "list").stdout
        self.assertIn("alice", text)
        self.assertIn("100000", text)
        # Only salt, count and verifier are stored; never the password.
        salt, verifier = self.sql("SELECT salt, verifier FROM users "
                                  "WHERE user_id = 'alice'")[0]
        self.assertEqual(len(salt), 16)
        self.assertGreater(len(verifier), 300)
        with open(self.db, "rb") as f:
            self.assertNotIn(b"correct horse", f.read())

        err = self.admin("user", "add", "alice", "--password-file", self.pw,
                         status=1).stderr
        self.assertIn("user 'alice' exists already", err)

        self.admin("user", "passwd", "alice", "--password-file",
                   self.file("pw2", "battery staple\n"))
        salt2, verifier2, iterations = self.sql("SELECT salt, verifier, iterations "
                                                "FROM users WHERE user_id = 'alice'")[0]
        self.assertNotEqual(salt, salt2)
        self.assertNotEqual(verifier, verifier2)
        self.assertEqual(iterations, 1000)
        self.admin("user", "passwd", "alice", "--password-file", self.pw,
                   "--iterations", "2000")
        self.assertEqual(self.sql("SELECT iterations FROM users WHERE user_id = 'alice'"),
                         [(2000,)])
        self.assertIn("no user 'carol'",
                      self.admin("user", "passwd", "carol", "--password-file", self.pw,
                                 status=1).stderr)

        deleted = json.loads(self.admin("--json", "user", "delete", "alice").stdout)
        self.assertEqual(deleted, {"deleted": "alice"})
        self.admin("user", "delete", "alice", status=1)
        users = json.loads(self.admin("--json", "user", "list").stdout)
        self.assertEqual([u["user"] for u in users], ["bob@example.org"])

    def test_passwords(self):
        # No terminal and no file: refused, with the way out named.
        err = self.admin("user", "add", "alice", status=1).stderr
        self.assertIn("--password-file", err)
        # There is no option to give a password on the command line.
        self.admin("user", "add", "alice", "--password", "x", status=2)
        self.admin("user", "add", "alice", "--password-file", self.file("empty", "\n"),
                   status=1)
        self.admin("user", "add", "alice", "--password-file",
                   self.file("long", "x" * 257 + "\n"), status=1)
        self.admin("user", "add", "alice", "--password-file",
                   os.path.join(self.tmp, "missing"), status=1)
        self.assertEqual(self.sql("SELECT count(*) FROM users"), [(0,)])

    def on_terminal(self, *args, answers):
        """Runs cpns-admin with a pseudo-terminal as its controlling
        terminal, answering each prompt; returns (status, what it showed)."""
        master, slave = os.openpty()
        proc = subprocess.Popen(
            [Binaries.admin, "--config", self.conf, "--database", self.db, *args],
            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        shown = b""

        def read_some():
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                proc.kill()
                raise AssertionError(f"cpns-admin hangs on the terminal: {shown!r}")
            try:
                return os.read(master, 1024)
            except OSError:   # EIO: the child is gone
                return b""

        mark = 0
        for answer in answers:
            # A prompt after the previous answer: typed earlier, the answer
            # would be flushed when echo is turned off.
            while b": " not in shown[mark:]:
                chunk = read_some()
                if not chunk:
                    break
                shown += chunk
            os.write(master, answer.encode() + b"\n")
            mark = len(shown)
        while chunk := read_some():
            shown += chunk
        status = proc.wait(timeout=60)
        os.close(master)
        return status, shown.decode(errors="replace")

    def test_terminal_password(self):
        status, shown = self.on_terminal("user", "add", "alice", "--iterations", "1000",
                                         answers=["tty secret", "tty secret"])
        self.assertEqual(status, 0, shown)
        self.assertIn("New password for alice: ", shown)
        self.assertIn("Again: ", shown)
        self.assertIn("added user alice", shown)
        self.assertNotIn("tty secret", shown)
        status, shown = self.on_terminal("user", "passwd", "alice",
                                         answers=["one thing", "another"])
        self.assertEqual(status, 1, shown)
        self.assertIn("do not match", shown)
        self.assertNotIn("one thing", shown)

    def test_usage(self):
        for args in ([], ["user"], ["user", "frobnicate", "x"], ["user", "add"],
                     ["user", "add", "a", "b"], ["user", "list", "extra"],
                     ["entity", "list", "--iterations", "5000"],
                     ["user", "delete", "a", "--password-file", "x"],
                     ["user", "add", "a", "--iterations", "10"],
                     ["--bogus", "user", "list"]):
            proc = self.admin(*args, status=2)
            self.assertIn("cpns-admin:", proc.stderr)
        self.assertIn("manifest import FILE", self.admin("--help").stdout)
        self.admin("user", "add", "x" * 129, "--password-file", self.pw, status=1)

    def test_manifest(self):
        good = self.file("m1", "# batch 1\n\n"
                         f"pne-1 01 {TK}\n"
                         f"pne-2\t02\t{TK}  # spare\n"
                         f"pne-3 03 {TK}{TK}\n")
        out = self.admin("manifest", "import", good).stdout
        self.assertIn("imported 3 PNEs", out)
        entities = json.loads(self.admin("--json", "entity", "list").stdout)
        self.assertEqual([(e["entity"], e["kind"], e["owner"], e["state"], e["tk_kid"])
                          for e in entities],
                         [("pne-1", "pne", None, "unclaimed", "01"),
                          ("pne-2", "pne", None, "unclaimed", "02"),
                          ("pne-3", "pne", None, "unclaimed", "03")])
        self.assertEqual(self.sql("SELECT hex(tk) FROM temporary_keys "
                                  "WHERE pne_id = 'pne-3'"), [((TK + TK).upper(),)])

        # A bad line: nothing of the file is imported, the line is named.
        bad = self.file("m2", f"pne-4 04 {TK}\npne-5 05 {TK}\npne-6 06 nothex\n")
        err = self.admin("manifest", "import", bad, status=1).stderr
        self.assertIn(f"{bad}:3:", err)
        self.assertNotIn(TK, err)
        # An entity that exists already: all or nothing in the database too.
        dup = self.file("m3", f"pne-7 07 {TK}\npne-8 08 {TK}\npne-2 02 {TK}\n")
        err = self.admin("manifest", "import", dup, status=1).stderr
        self.assertIn("nothing imported", err)
        self.assertIn(f"{dup}:3:", err)
        self.assertIn("pne-2", err)
        self.assertEqual(self.sql("SELECT count(*) FROM entities"), [(3,)])
        self.assertEqual(self.sql("SELECT count(*) FROM temporary_keys"), [(3,)])
        self.assertEqual(json.loads(self.admin("--json", "manifest", "import",
                                               self.file("m4", f"pne-9 09 {TK}\n")).stdout),
                         {"imported": 1})

    def test_entities(self):
        self.admin("manifest", "import", self.file("m", f"pne-1 01 {TK}\n"))
        self.admin("user", "add", "alice", "--password-file", self.pw,
                   "--iterations", "1000")
        # An enrolled gateway and PNE, as the server would store them.
        with sqlite3.connect(self.db) as db:
            db.execute("INSERT INTO entities (entity_id, kind, owner_user, eukey, "
                       "eukey_kid, eukey_created, created) VALUES ('gw-1', 'gateway', "
                       "'alice', zeroblob(32), x'aa', 1, 1)")
            db.execute("UPDATE entities SET owner_user = 'alice', eukey = zeroblob(32), "
                       "eukey_kid = x'bb' WHERE entity_id = 'pne-1'")
            db.execute("INSERT INTO local_keys VALUES ('pne-1', 'gw-1', x'cc', "
                       "zeroblob(32), 1)")
        listing = json.loads(self.admin("--json", "entity", "list").stdout)
        self.assertEqual([(e["entity"], e["state"], e["eukey_kid"], e["local_keys"])
                          for e in listing],
                         [("gw-1", "enrolled", "aa", 1), ("pne-1", "enrolled", "bb", 1)])
        text = self.admin("entity", "list").stdout
        self.assertIn("gw-1", text)
        self.assertIn("enrolled", text)

        self.assertIn("revoked", self.admin("entity", "revoke", "gw-1").stdout)
        self.assertIn("no entity 'gw-9'",
                      self.admin("entity", "revoke", "gw-9", status=1).stderr)
        listing = json.loads(self.admin("--json", "entity", "list").stdout)
        self.assertEqual([(e["entity"], e["state"], e["eukey_kid"], e["local_keys"])
                          for e in listing],
                         [("gw-1", "revoked", None, 0), ("pne-1", "enrolled", "bb", 0)])
        # Deleting the user revokes what it owned.
        self.admin("user", "delete", "alice")
        listing = json.loads(self.admin("--json", "entity", "list").stdout)
        self.assertEqual([(e["entity"], e["owner"], e["state"]) for e in listing],
                         [("gw-1", None, "revoked"), ("pne-1", None, "revoked")])

    def test_files(self):
        self.admin("user", "list")
        self.assertEqual(os.stat(os.path.dirname(self.db)).st_mode & 0o777, 0o700)
        self.assertEqual(os.stat(self.db).st_mode & 0o777, 0o600)
        self.assertEqual(self.sql("PRAGMA journal_mode"), [("wal",)])
        # The database from the server's configuration file.
        other = os.path.join(self.tmp, "other", "x.db")
        conf = self.file("other.conf", f"[server]\ndatabase={other}\n")
        proc = subprocess.run([Binaries.admin, "--config", conf, "user", "list"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(os.path.exists(other))
        # A newer schema is refused, not damaged.
        with sqlite3.connect(self.db) as db:
            db.execute("PRAGMA user_version = 42")
        err = self.admin("user", "list", status=1).stderr
        self.assertIn("schema version 42", err)
        os.chmod(self.db, 0o644)
        self.admin("user", "list", status=1)


if __name__ == "__main__":
    main()
