#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The end-to-end demo on the embedded defaults: a real cpns-server on a
throwaway SQLite database and HTTPS with a CA made on the spot, a demo user,
and a real pngwd that enrols itself and opens its secure session; every step
told in words.  Usage: demo-system.py BUILDDIR"""

import os
import re
import shutil
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from harness import TestCA, Server, Gateway, PrivateBus  # noqa: E402
import subprocess  # noqa: E402


def say(text):
    print(text, flush=True)


def step(title):
    say(f"\n== {title}")


def follow(process, pattern, shown, timeout=30):
    """Waits for @pattern and shows the daemon's log lines seen so far."""
    process.wait_for(pattern, timeout=timeout)
    lines = process.text().splitlines()
    for line in lines[shown:]:
        if not line.strip():
            continue
        m = re.search(r"(?:Message|WARNING|DEBUG)[^:]*: [0-9:.]+: (.*)", line)
        say(f"   pngwd | {m.group(1) if m else line}")
    return len(lines)


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    os.environ.setdefault("CPNS_SERVER", os.path.join(build, "src/server/cpns-server"))
    os.environ.setdefault("CPNS_ADMIN", os.path.join(build, "src/server/cpns-admin"))
    os.environ.setdefault("PNGWD", os.path.join(build, "src/gateway/pngwd"))
    pngwctl = os.environ.get("PNGWCTL", os.path.join(build, "src/ctl/pngwctl"))
    work = tempfile.mkdtemp(prefix="pngw-demo-")
    server = gw = bus = None
    try:
        say("pngw demo: a PN Gateway enrols with a CPNS Server and keeps a secure "
            "session with it.\nEverything runs for real on this machine: HTTPS on "
            "127.0.0.1, SQLite, two daemons.")

        step("1. An operator sets up the CPNS Server")
        ca = TestCA(work)
        say(f"   made a throwaway CA and a server certificate for 127.0.0.1 in {work}")
        server = Server(work, ca).start()
        say(f"   cpns-server listens on {server.url}, database {server.db}")
        server.add_user("demo@example.org", "correct horse battery staple",
                        iterations=100000)
        say("   cpns-admin created user demo@example.org: the server keeps a salt, "
            "the PBKDF2 count\n   (100000) and an SRP verifier, never the password:")
        for line in server.admin("user", "list").stdout.splitlines():
            say(f"   admin | {line}")

        step("2. pngwd starts and offers its D-Bus API")
        bus = PrivateBus(work).start()
        say(f"   a private dbus-daemon stands in for the system bus ({bus.address})")
        gw = Gateway(work, server, "gw-demo-0001")
        gw.start()
        shown = follow(gw.process, r"D-Bus API ready", 0)

        step("3. The user enrols the gateway with pngwctl, which acts as the agent\n"
             "   that pngwd asks for User ID and password; with its new EUKey the\n"
             "   gateway opens a secure session")
        pw = os.path.join(work, "password")
        with open(pw, "w") as f:
            f.write("correct horse battery staple\n")
        os.chmod(pw, 0o600)
        say("   $ pngwctl enroll --user demo@example.org --password-file FILE")
        r = subprocess.run([pngwctl, "enroll", "--user", "demo@example.org",
                            "--password-file", pw], capture_output=True, text=True,
                           timeout=120)
        for line in (r.stdout + r.stderr).splitlines():
            say(f"   pngwctl | {line}")
        if r.returncode != 0:
            raise SystemExit("pngwctl enroll failed")
        shown = follow(gw.process, r"secure session 1 with", shown)
        say("   $ pngwctl status")
        for line in subprocess.run([pngwctl, "status"], capture_output=True, text=True,
                                   timeout=30).stdout.splitlines():
            say(f"   pngwctl | {line}")

        step("4. Both sides now hold the same key")
        key, kid, owner = server.eukey(gw.entity_id)
        entry = gw.keystore()["eukey"]
        say(f"   server database: entity {gw.entity_id}, owner {owner}, key ID "
            f"{kid.hex()}")
        say(f"   gateway keystore ({gw.state}/keystore, encrypted, 0600): entry "
            f"'eukey', key ID {entry[5].hex()}")
        say("   the two EUKeys are " + ("identical" if entry[6] == key else "DIFFERENT")
            + " (32 bytes; not printed)")

        step("5. The server restarts; the gateway notices and reconnects by itself")
        server.stop()
        say("   cpns-server stopped")
        shown = follow(gw.process, r"unreachable|not available", shown)
        time.sleep(1)
        server.start()
        say("   cpns-server started again (sessions are not kept across restarts)")
        shown = follow(gw.process, r"secure session 2 with", shown)

        step("6. A wrong password gets a Key Delivery without EUKey")
        with open(pw, "w") as f:
            f.write("wrong password\n")
        say("   $ pngwctl enroll --user demo@example.org --password-file FILE   "
            "(wrong password)")
        r = subprocess.run([pngwctl, "enroll", "--user", "demo@example.org",
                            "--password-file", pw], capture_output=True, text=True,
                           timeout=120)
        for line in (r.stdout + r.stderr).splitlines():
            say(f"   pngwctl | {line}")
        say(f"   pngwctl exited with {r.returncode}; the gateway keeps its current key")

        say("\nDone: enrolment through pngwctl and D-Bus, over HTTPS with SRP-6a, keys on "
            "both sides,\na secure session re-established after a server restart, and "
            "a wrong password refused.")
        return 0
    finally:
        if gw:
            gw.stop()
        if server:
            server.stop()
        if bus:
            bus.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
