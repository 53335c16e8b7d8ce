# SPDX-License-Identifier: GPL-3.0-or-later
"""Real parts for the integration tests.

A test CA and server certificate made at test time, the real cpns-server on
loopback HTTPS with a throwaway SQLite database, real pngwd processes, and
an independent reader of the keystore format (docs/protocol.md section 9).
Binaries come from the environment: CPNS_SERVER, CPNS_ADMIN, PNGWD.
"""

import datetime
import hashlib
import hmac
import ipaddress
import os
import re
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.x509.oid import NameOID

SERVER_ID = "cpns-server"


def binary(name):
    path = os.environ.get(name)
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(f"set {name} to the built program")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=20.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class TestCA:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""

    def __init__(self, directory):
        self.dir = directory
        now = datetime.datetime.now(datetime.timezone.utc)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pngw test CA")])
        self.ca_cert = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
            .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(self.ca_key, hashes.SHA256()))
        self.ca_file = os.path.join(directory, "ca.pem")
        self.cert_file = os.path.join(directory, "server.pem")
        self.key_file = os.path.join(directory, "server.key")
        with open(self.ca_file, "wb") as f:
            f.write(self.ca_cert.public_bytes(serialization.Encoding.PEM))
        with open(self.cert_file, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(self.key_file, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        os.chmod(self.key_file, 0o600)


class Process:
    """A child whose stderr/stdout go to a log file we can wait on."""

    def __init__(self, argv, log_path, env=None):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)

    def text(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def wait_for(self, pattern, timeout=20.0, count=1):
        regex = re.compile(pattern)

        def found():
            matches = regex.findall(self.text())
            if len(matches) >= count:
                return matches[count - 1]
            if self.proc.poll() is not None:
                raise AssertionError(f"process exited ({self.proc.returncode}) before "
                                     f"'{pattern}':\n{self.text()[-3000:]}")
            return None
        return wait_until(found, timeout, what=f"'{pattern}' in {self.log_path}")

    def running(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill9(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.log.close()


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


class PrivateBus:
    """A dbus-daemon of our own, standing in for the system bus: every
    program started after start() finds it through DBUS_SYSTEM_BUS_ADDRESS."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "bus")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.socket = os.path.join(self.dir, "socket")
        self.conf = os.path.join(self.dir, "bus.conf")
        with open(self.conf, "w") as f:
            f.write(BUS_CONFIG.format(socket=self.socket))
        self.proc = None
        self.address = None

    def start(self):
        self.proc = subprocess.Popen(["dbus-daemon", "--config-file", self.conf,
                                      "--nofork", "--print-address"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.address = self.proc.stdout.readline().strip()
        os.chmod(self.socket, 0o777)
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        return self

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()


class Server:
    """The real cpns-server with its own database."""

    def __init__(self, workdir, ca, port=None):
        self.dir = os.path.join(workdir, "server")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.ca = ca
        self.port = port or free_port()
        self.db = os.path.join(self.dir, "cpns.db")
        self.process = None
        self.starts = 0

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}/cpns/v1"

    def start(self, wait=True):
        self.starts += 1
        self.process = Process(
            [binary("CPNS_SERVER"), "--listen", f"127.0.0.1:{self.port}",
             "--database", self.db, "--certificate", self.ca.cert_file,
             "--private-key", self.ca.key_file, "--entity-id", SERVER_ID],
            os.path.join(self.dir, f"server-{self.starts}.log"))
        if wait:
            self.process.wait_for(r"listening on https://")
        return self

    def stop(self):
        if self.process:
            self.process.stop()

    def admin(self, *args, password=None, check=True):
        argv = [binary("CPNS_ADMIN"), "--database", self.db]
        pw_file = None
        if password is not None:
            fd, pw_file = tempfile.mkstemp(dir=self.dir)
            with os.fdopen(fd, "w") as f:
                f.write(password + "\n")
        try:
            extra = ["--password-file", pw_file] if pw_file else []
            result = subprocess.run(argv + list(args) + extra, capture_output=True,
                                    text=True, timeout=60)
        finally:
            if pw_file:
                os.unlink(pw_file)
        if check and result.returncode != 0:
            raise AssertionError(f"cpns-admin {' '.join(args)} failed: {result.stderr}")
        return result

    def add_user(self, user, password, iterations=1000):
        self.admin("user", "add", user, "--iterations", str(iterations), password=password)

    def query(self, sql, *params):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def eukey(self, entity_id):
        rows = self.query("SELECT eukey, eukey_kid, owner_user FROM entities "
                          "WHERE entity_id = ?", entity_id)
        return rows[0] if rows else None


class Gateway:
    """A real pngwd with its own state directory and configuration."""

    def __init__(self, workdir, server, entity_id="gw-0001", extra_config=""):
        self.dir = os.path.join(workdir, entity_id)
        self.state = os.path.join(self.dir, "state")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.entity_id = entity_id
        self.server = server
        self.config = os.path.join(self.dir, "pngwd.conf")
        self.extra_config = extra_config
        self.process = None
        self.starts = 0
        self.write_config()

    def write_config(self, retry_max=2):
        with open(self.config, "w") as f:
            f.write(f"""[gateway]
entity-id = {self.entity_id}
state-directory = {self.state}

[server]
url = {self.server.url}
ca-file = {self.server.ca.ca_file}
entity-id = {SERVER_ID}
retry-min = 1
retry-max = {retry_max}
connect-timeout = 5
request-timeout = 10
{self.extra_config}
""")
            # Tests run in parallel: no fixed PAN port unless a test asks.
            if "[pan]" not in self.extra_config:
                f.write("\n[pan]\nlisten = 127.0.0.1:0\n")

    def start(self, enroll=None, password=None):
        self.starts += 1
        argv = [binary("PNGWD"), "--config", self.config]
        if enroll:
            pw = os.path.join(self.dir, "password")
            with open(pw, "w") as f:
                f.write(password + "\n")
            os.chmod(pw, 0o600)
            argv += ["--enroll", enroll, "--password-file", pw]
        env = dict(os.environ, G_MESSAGES_DEBUG="")
        self.process = Process(argv, os.path.join(self.dir, f"pngwd-{self.starts}.log"),
                               env=env)
        return self

    def stop(self):
        return self.process.stop() if self.process else None

    def keystore(self):
        return read_keystore(os.path.join(self.state, "keystore"),
                             os.path.join(self.state, "kek"))


def _expand_label(secret, label, context, length):
    info = (length.to_bytes(2, "big") + bytes([len(b"cpns1 " + label)]) + b"cpns1 "
            + label + bytes([len(context)]) + context)
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(secret, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def read_keystore(path, kek_path):
    """Decrypts a keystore file as docs/protocol.md section 9 says, sharing
    no code with libcpns; returns {name: entry map}. Raises on corruption."""
    store = read_keystore_map(path, kek_path)
    return {e[1]: e for e in store[3]}


def read_keystore_map(path, kek_path):
    """The whole decrypted keystore map: 1 format, 2 generation (one more
    per save), 3 entries."""
    with open(kek_path, "rb") as f:
        kek = f.read()
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"CPNSKS01":
        raise ValueError("bad keystore magic")
    prk = hmac.new(bytes(32), kek, hashlib.sha256).digest()
    fkey = _expand_label(prk, b"keystore", b"", 32)
    plain = ChaCha20Poly1305(fkey).decrypt(data[8:20], data[20:], b"CPNSKS01")
    store = cbor2.loads(plain)
    if store.get(1) != 1:
        raise ValueError("unknown keystore format")
    return store
