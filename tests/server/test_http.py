#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTP hygiene of cpns-server: methods, media type, paths, body limits,
garbage, truncated, tampered and replayed bodies (each a clear 4xx with an
ERROR body, after which the server still serves), plain HTTP only on
request, configuration errors and the command line."""

import os
import secrets
import signal
import socket
import subprocess

import cbor2

from servertest import BASE_PATH, MEDIA_TYPE, Binaries, Server, ServerTestCase, main

MAX_MESSAGE = 65536 + 512

# Error codes of protocol.md section 10.
MALFORMED, TOO_LARGE, UNSUPPORTED, BAD_MAC, REPLAY, STATE, NOT_FOUND = 2, 3, 4, 6, 7, 10, 18


def error_of(body):
    """(code, destination) of a plain ERROR message."""
    header, fields = cbor2.loads(body)[:2]
    assert header[2] == 4, header
    assert header[4] == "cpns-server", header
    return fields[1], header[5]


class Hygiene(ServerTestCase):

    def assert_error(self, response, status, code, dst="unknown"):
        got_status, headers, body = response
        self.assertEqual(got_status, status, body)
        self.assertEqual(headers.get("Content-Type"), MEDIA_TYPE)
        self.assertEqual(error_of(body), (code, dst))

    def assert_still_serving(self):
        r = self.server.client("gw-alive", f"enroll=alice,{self.passwords['alice']}",
                               "handshake", "echo=still here")
        self.assertEqual(r[2]["data"], "still here")

    def test_method(self):
        for method in ("GET", "PUT", "DELETE", "HEAD"):
            status, headers, body = self.server.post(BASE_PATH + "/key", None,
                                                     method=method)
            self.assertEqual(status, 405, method)
            self.assertEqual(headers.get("Allow"), "POST")
            if method != "HEAD":
                self.assertEqual(error_of(body), (UNSUPPORTED, "unknown"))

    def test_media_type(self):
        body = secrets.token_bytes(40)
        self.assert_error(self.server.post(BASE_PATH + "/key", body, "text/plain"),
                          415, UNSUPPORTED)
        self.assert_error(self.server.post(BASE_PATH + "/key", body, None),
                          415, UNSUPPORTED)
        # Parameters do not change the media type.
        self.assert_error(self.server.post(BASE_PATH + "/key", body,
                                           MEDIA_TYPE + "; charset=binary"),
                          400, MALFORMED)

    def test_paths(self):
        for path in ("/key", BASE_PATH, BASE_PATH + "/", BASE_PATH + "/nope",
                     BASE_PATH + "/key/more", BASE_PATH + "x/key", "/"):
            self.assert_error(self.server.post(path, b"\xa0"), 404, NOT_FOUND)

    def test_too_large(self):
        for path in ("/key", "/handshake", "/record", "/poll"):
            big = secrets.token_bytes(MAX_MESSAGE + 1)
            self.assert_error(self.server.post(BASE_PATH + path, big), 413, TOO_LARGE)
            # Without a Content-Length the body is cut off as it arrives.
            chunks = (secrets.token_bytes(8192) for _ in range(12))
            self.assert_error(self.server.post(BASE_PATH + path, chunks, chunked=True),
                              413, TOO_LARGE)
        # At the limit it is read (and found to be garbage); a record has a
        # lower limit of its own.
        self.assert_error(self.server.post(BASE_PATH + "/key",
                                           secrets.token_bytes(MAX_MESSAGE)),
                          400, MALFORMED)
        self.assert_error(self.server.post(BASE_PATH + "/record",
                                           secrets.token_bytes(MAX_MESSAGE)),
                          413, TOO_LARGE)
        self.assert_still_serving()

    def test_garbage(self):
        for path in ("/key", "/handshake", "/record", "/poll"):
            for body in (b"", b"\x00", b"\xff" * 10, secrets.token_bytes(300),
                         cbor2.dumps([{1: 1}, {}]), cbor2.dumps({"a": 1})):
                status, _, reply = self.server.post(BASE_PATH + path, body)
                self.assertEqual(status, 400, (path, body))
                self.assertIn(error_of(reply)[0], (MALFORMED, UNSUPPORTED))
        self.assert_still_serving()

    def test_truncated(self):
        request = bytes.fromhex(self.server.client("gw-t", "challenge=alice",
                                                   dump=True)[0]["request"])
        for n in range(len(request)):
            self.assert_error(self.server.post(BASE_PATH + "/key", request[:n]), 400,
                              MALFORMED)
        r = self.server.client("gw-t", f"enroll=alice,{self.passwords['alice']}",
                               "handshake", "echo=x", dump=True)
        hs_finish = bytes.fromhex(r[1]["request"])
        record = bytes.fromhex(r[2]["request"])
        for n in range(0, len(record), 7):
            self.assert_error(self.server.post(BASE_PATH + "/record", record[:n]), 400,
                              MALFORMED)
        for n in range(0, len(hs_finish), 5):
            self.assert_error(self.server.post(BASE_PATH + "/handshake", hs_finish[:n]),
                              400, MALFORMED)
        self.assert_still_serving()

    def test_tampered_and_replayed(self):
        r = self.server.client("gw-r", f"enroll=alice,{self.passwords['alice']}",
                               "handshake", "echo=x", "seal=y", dump=True)
        hs_finish = bytes.fromhex(r[1]["request"])
        session = bytes.fromhex(r[1]["session"])
        record = bytes.fromhex(r[2]["request"])
        unsent = bytes.fromhex(r[3]["record"])
        self.assertEqual(r[2]["data"], "x")
        # Replayed: the sequence number was seen.
        self.assert_error(self.server.post(BASE_PATH + "/record", record), 409, REPLAY,
                          "gw-r")
        # A late HS_FINISH finds no handshake waiting.
        self.assert_error(self.server.post(BASE_PATH + "/handshake", hs_finish), 400,
                          STATE, "gw-r")
        # A flipped bit in the tag of a fresh record, which does not use up
        # its sequence number: the genuine one still goes through.
        bad = unsent[:-1] + bytes([unsent[-1] ^ 1])
        self.assert_error(self.server.post(BASE_PATH + "/record", bad), 401, BAD_MAC,
                          "gw-r")
        self.assertEqual(self.server.post(BASE_PATH + "/record", unsent)[0], 200)
        bad = record[:-1] + bytes([record[-1] ^ 1])
        self.assert_error(self.server.post(BASE_PATH + "/record", bad), 409, REPLAY,
                          "gw-r")
        # Another session ID: no such session.
        self.assertIn(session, record)
        other = record.replace(session, bytes(8))
        self.assert_error(self.server.post(BASE_PATH + "/record", other), 401, NOT_FOUND,
                          "gw-r")
        # A record where a handshake message belongs, and the reverse.
        status, _, body = self.server.post(BASE_PATH + "/handshake", record)
        self.assertEqual(status, 400)
        status, _, body = self.server.post(BASE_PATH + "/record", hs_finish)
        self.assertEqual(status, 400)
        self.assert_still_serving()

    def test_headers(self):
        r = self.server.post(BASE_PATH + "/key", b"\x00")
        self.assertEqual(r[1].get("Cache-Control"), "no-store")
        self.assertEqual(r[1].get("Server"), "cpns-server")


class CommandLine(ServerTestCase):
    """Servers started with particular options, each stopped again."""

    users = {"alice": "alice-pw"}

    def run_server(self, *args):
        return subprocess.run([Binaries.server, *args], capture_output=True, text=True,
                              timeout=30)

    def test_insecure_http(self):
        server = Server(self.tmp, self.pki, args=("--insecure-http",), name="plain")
        server.start()
        try:
            self.assertTrue(server.urls[0].startswith("http://127.0.0.1:"))
            pw = self.write("plain.pw", "plain-pw\n")
            server.admin("user", "add", "carol", "--password-file", pw,
                         "--iterations", "1000")
            args = [Binaries.client, "--url", server.url, "--id", "gw-plain",
                    f"enroll=carol,{pw}", "handshake", "echo=in the clear"]
            out = subprocess.run(args, capture_output=True, text=True, timeout=60)
            self.assertIn('"data": "in the clear"', out.stdout, out.stderr)
        finally:
            self.assertEqual(server.stop(), 0)
        log = server.read_log()
        self.assertIn("INSECURE", log)
        self.assertIn("WARNING", log)

    def test_https_is_default(self):
        self.assertTrue(self.server.urls[0].startswith("https://127.0.0.1:"))
        # Plain HTTP to the HTTPS port gets no CPNS answer.
        host, port = self.server.urls[0].split("//")[1].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"POST /cpns/v1/key HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            try:
                reply = s.recv(4096)
            except (ConnectionResetError, TimeoutError):
                reply = b""
        self.assertNotIn(MEDIA_TYPE.encode(), reply)

    def test_config_errors(self):
        bad = self.write("bad.conf", "[sessions]\nsession-lifetime=soon\n")
        r = self.run_server("--config", bad)
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"{bad}: [sessions] session-lifetime: bad value 'soon'", r.stderr)
        r = self.run_server("--config", os.path.join(self.tmp, "missing.conf"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing.conf", r.stderr)
        good = self.write("empty.conf", "")
        r = self.run_server("--config", good, "--listen", "localhost:8443")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--listen: bad value 'localhost:8443'", r.stderr)
        r = self.run_server("--config", good, "--session-lifetime", "0")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--session-lifetime: bad value '0'", r.stderr)
        r = self.run_server("--config", good, "--no-such-option")
        self.assertEqual(r.returncode, 2)
        db = os.path.join(self.tmp, "cl", "cpns.db")
        r = self.run_server("--config", good, "--listen", "127.0.0.1:0", "--database", db,
                            "--certificate", os.path.join(self.tmp, "none.pem"),
                            "--private-key", self.pki.key)
        self.assertEqual(r.returncode, 1)
        self.assertIn("none.pem", r.stderr)

    def test_listen_twice_and_sigint(self):
        args = ["--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"]
        if socket.has_ipv6:
            try:
                with socket.socket(socket.AF_INET6) as s:
                    s.bind(("::1", 0))
                args[3] = "[::1]:0"
            except OSError:
                pass
        server = Server(self.tmp, self.pki, args=args, name="two")
        server.start()
        self.assertEqual(len(server.urls), 2)
        for url in server.urls:
            self.assertRegex(url, r"^https://(127\.0\.0\.1|\[::1\]):[1-9][0-9]*$")
        server.proc.send_signal(signal.SIGINT)
        self.assertEqual(server.stop(), 0)
        self.assertIn("stopped", server.read_log())

    def test_database_modes(self):
        state = os.path.dirname(self.server.db)
        self.assertEqual(os.stat(state).st_mode & 0o777, 0o700)
        self.assertEqual(os.stat(self.server.db).st_mode & 0o777, 0o600)
        secret = self.server.db + ".secret"
        self.assertEqual(os.stat(secret).st_mode & 0o777, 0o600)
        self.assertEqual(os.path.getsize(secret), 32)


if __name__ == "__main__":
    main()
