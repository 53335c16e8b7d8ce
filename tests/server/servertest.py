# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared pieces of the cpns-server integration tests.

Every test script is run as

    /usr/bin/python3 test_X.py CPNS-SERVER CPNS-ADMIN CPNS-TEST-CLIENT [unittest args]

and starts the real cpns-server as a subprocess on 127.0.0.1 with real TLS:
a throwaway CA and server certificate are made with the openssl command at
test time, and the database is a throwaway SQLite file.  Protocol messages
come from our C code (cpns-test-client, which links libcpns); Python only
checks results and sends deliberately broken HTTP.
"""

import http.client
import json
import os
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

MEDIA_TYPE = "application/cpns+cbor"
BASE_PATH = "/cpns/v1"


class Binaries:
    server = None
    admin = None
    client = None


def main():
    """Takes the three binaries off the command line, then runs unittest."""
    if len(sys.argv) < 4:
        sys.exit(f"usage: {sys.argv[0]} CPNS-SERVER CPNS-ADMIN CPNS-TEST-CLIENT")
    Binaries.server, Binaries.admin, Binaries.client = map(os.path.abspath,
                                                            sys.argv[1:4])
    del sys.argv[1:4]
    unittest.main(verbosity=2)


def run(args, check=True, **kwargs):
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120,
                          **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


class Pki:
    """A CA and a server certificate for 127.0.0.1, made now."""

    def __init__(self, directory):
        self.dir = directory
        self.ca = os.path.join(directory, "ca.pem")
        self.cert = os.path.join(directory, "server.pem")
        self.key = os.path.join(directory, "server.key")
        ca_key = os.path.join(directory, "ca.key")
        csr = os.path.join(directory, "server.csr")
        ext = os.path.join(directory, "server.ext")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        run(["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", self.ca,
             "-days", "2", "-subj", "/CN=cpns test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        run(["openssl", "req", *ec, "-keyout", self.key, "-out", csr,
             "-subj", "/CN=localhost"])
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n")
        run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key,
             "-CAcreateserial", "-out", self.cert, "-days", "2", "-extfile", ext])


class Server:
    """One cpns-server process with its own database and configuration."""

    def __init__(self, directory, pki, config="", args=(), name="server"):
        self.dir = os.path.join(directory, name)
        os.makedirs(self.dir, exist_ok=True)
        self.pki = pki
        self.db = os.path.join(self.dir, "state", "cpns.db")
        self.conf = os.path.join(self.dir, "cpns-server.conf")
        self.log_path = os.path.join(self.dir, "server.log")
        with open(self.conf, "w") as f:
            f.write("[server]\n"
                    "listen=127.0.0.1:0\n"
                    f"certificate={pki.cert}\n"
                    f"private-key={pki.key}\n"
                    f"database={self.db}\n"
                    f"base-path={BASE_PATH}\n"
                    "[sessions]\n"
                    "poll-timeout=2\n"
                    "[enrolment]\n"
                    "default-iterations=1000\n")
            f.write(config)
        self.args = list(args)
        self.proc = None
        self.url = None
        self.urls = []

    def start(self, expect_listening=True):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [Binaries.server, "--config", self.conf, *self.args],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
            env=dict(os.environ, G_MESSAGES_DEBUG="all"))
        if not expect_listening:
            return self
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"cpns-server exited {self.proc.wait()}:\n"
                                     + self.read_log())
            if line.startswith("listening on "):
                self.urls.append(line.split()[2])
                # All listeners are printed together, then stdout is flushed.
                if len(self.urls) == self.args.count("--listen") or \
                        "--listen" not in self.args:
                    break
        self.url = self.urls[0] + BASE_PATH
        return self

    def stop(self):
        """SIGTERM, and the exit status (0 after a clean shutdown)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        self.proc = None
        return status

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def sql(self, query, *params):
        with sqlite3.connect(self.db) as db:
            return db.execute(query, params).fetchall()

    def admin(self, *args, check=True, **kwargs):
        return run([Binaries.admin, "--config", self.conf, *args], check=check,
                   **kwargs)

    def client(self, entity, *steps, state=None, dump=False, check=True):
        """Runs cpns-test-client; returns the JSON objects it printed."""
        args = [Binaries.client, "--url", self.url, "--ca", self.pki.ca,
                "--id", entity]
        if state:
            args += ["--state", state]
        if dump:
            args.append("--dump")
        proc = run(args + list(steps), check=check)
        return [json.loads(line) for line in proc.stdout.splitlines() if line]

    def client_async(self, entity, *steps, state=None):
        args = [Binaries.client, "--url", self.url, "--ca", self.pki.ca,
                "--id", entity]
        if state:
            args += ["--state", state]
        return subprocess.Popen(args + list(steps), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def post(self, path, body, content_type=MEDIA_TYPE, method="POST",
             headers=None, chunked=False):
        """A raw HTTPS request; returns (status, headers, body)."""
        context = ssl.create_default_context(cafile=self.pki.ca)
        host, port = self.urls[0].split("//")[1].rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), context=context,
                                           timeout=30)
        all_headers = dict(headers or {})
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        try:
            if chunked:
                conn.request(method, path, body=body, headers=all_headers,
                             encode_chunked=True)
            else:
                conn.request(method, path, body=body, headers=all_headers)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()


class ServerTestCase(unittest.TestCase):
    """One server for the whole class, stopped (and checked to stop
    cleanly) at the end."""

    config = ""
    args = ()
    users = {"alice": "alice-pw", "bob": "bob-pw"}
    manifest = ""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cpns-server-test-")
        cls.pki = Pki(cls.tmp)
        cls.server = Server(cls.tmp, cls.pki, cls.config, cls.args)
        cls.passwords = {}
        for user, password in cls.users.items():
            cls.passwords[user] = cls.write(f"{user}.pw", password + "\n")
            cls.server.admin("user", "add", user, "--password-file",
                             cls.passwords[user], "--iterations", "1000")
        if cls.manifest:
            cls.server.admin("manifest", "import", cls.write("manifest", cls.manifest))
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        log = cls.server.read_log()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if status != 0:
            raise AssertionError(f"cpns-server exited {status}:\n{log}")

    @classmethod
    def write(cls, name, text, mode=0o600):
        path = os.path.join(cls.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    @classmethod
    def state(cls, name):
        return os.path.join(cls.tmp, name + ".state")

    def enrol(self, entity, user, password_file=None, subject=None, state=None):
        arg = f"enroll={user},{password_file or self.passwords[user]}"
        if subject:
            arg += "," + subject
        return self.server.client(entity, arg, state=state)[0]
