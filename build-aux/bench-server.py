#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Server benchmark: starts a real cpns-server (HTTPS on loopback, fresh
SQLite database), creates two users whose PBKDF2 counts differ, and runs
cpns-server-bench for each, so the cost of password stretching shows apart
from the rest of enrolment.  Usage: bench-server.py BUILDDIR [bench options]"""

import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from harness import TestCA, Server  # noqa: E402


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    extra = sys.argv[2:]
    os.environ.setdefault("CPNS_SERVER", os.path.join(build, "src/server/cpns-server"))
    os.environ.setdefault("CPNS_ADMIN", os.path.join(build, "src/server/cpns-admin"))
    bench = os.path.join(build, "tests/bench/cpns-server-bench")
    work = tempfile.mkdtemp(prefix="pngw-bench-")
    server = None
    status = 0
    try:
        ca = TestCA(work)
        server = Server(work, ca).start()
        pw = os.path.join(work, "password")
        with open(pw, "w") as f:
            f.write("benchmark password\n")
        print(f"cpns-server at {server.url} (database {server.db})\n", flush=True)
        for user, iterations in (("bench-1k", 1000), ("bench-100k", 100000)):
            server.add_user(user, "benchmark password", iterations=iterations)
            print(f"-- user {user}: PBKDF2 x {iterations}", flush=True)
            result = subprocess.run(
                [bench, "--url", server.url, "--ca", ca.ca_file, "--user", user,
                 "--password-file", pw, "--iterations", str(iterations),
                 "--prefix", user] + extra)
            status = status or result.returncode
            print(flush=True)
    finally:
        if server:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
