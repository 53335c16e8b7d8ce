#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Independent check of the CPNS wire protocol (docs/protocol.md).

This script shares no code with the C implementation in src/libcpns. It is
written from the normative text of docs/protocol.md (sections 2-6) and uses
only the Python standard library, python3-cryptography (HKDF-Expand, AEADs,
X25519) and python3-cbor2 (decoding only; encoding is done by the small
deterministic encoder below, which is itself tested against RFC 8949
appendix A and against cbor2's encoder). Run it with Debian's
/usr/bin/python3, which has both packages.

    check_protocol.py [all [DOC [CPNS_VECTORS]]]
    check_protocol.py vectors [DOC]
    check_protocol.py live [CPNS_VECTORS]
    check_protocol.py interop [CPNS_VECTORS]

vectors   recomputes every "### Vector: NAME" block of DOC (section 13) from
          its inputs: the handshake messages byte for byte, the key schedule,
          and the two records, which are opened and re-sealed here.
live      does the same with fresh random handshakes made by
          `CPNS_VECTORS live MODE SUITE` for every mode and suite.
interop   seals records here and has `CPNS_VECTORS open` accept them, then
          checks that it rejects tampered variants with the right error; and
          key wraps (section 8.2) made by either side open on the other, while
          a wrap moved to another entity or kind is refused.

DOC defaults to docs/protocol.md and CPNS_VECTORS to
build/tests/cpns-vectors, both relative to the source tree holding this
file. One line is printed per check; the exit status is 0 only if every
check passed.
"""

import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import sys

try:
    import cbor2
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey, X25519PublicKey)
    from cryptography.hazmat.primitives.ciphers.aead import (
        AESGCM, ChaCha20Poly1305)
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
except ImportError as e:
    sys.exit(f"check_protocol.py: {e}; run it with /usr/bin/python3 with "
             "python3-cryptography and python3-cbor2 installed")

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEFAULT_DOC = os.path.join(SRCDIR, "docs", "protocol.md")
DEFAULT_TOOL = os.path.join(SRCDIR, "build", "tests", "cpns-vectors")

# Section 4.1: message types.
HS_INIT, HS_RESP, HS_FINISH = 1, 2, 3
TK_DELIVERY = 21
DATA = 48

# Section 4.1: types allowed in a record, mapped to "must encrypt".
RECORD_TYPES = {
    4: False, 16: False, 17: False, 18: False, 19: True, 20: False,
    21: True, 22: False, 23: True, 24: True, 32: False, 33: False,
    34: True, 48: False,
}

# Section 6.1: suites and their AEAD key length; 5 is the MAC-only alg.
SUITE_KEY_LEN = {24: 32, 1: 16, 3: 32}
ALG_HMAC = 5

# Section 6.2: COSE tags and the private header label.
TAG_ENCRYPT0, TAG_MAC0 = 16, 17
LABEL_HEADER = -65537

# Section 2: size limits.
MAX_HANDSHAKE = 512
MAX_RECORD = 65792

ENTITY_ID = re.compile(r"[A-Za-z0-9._\-:@]{1,64}\Z")
ENTITY_ID_CHARS = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789._-:@")
U64 = 1 << 64

# cpns-vectors seals its two records with these transaction IDs, which the
# vector blocks do not print; a block may override them with
# record_i2r_txid / record_r2i_txid.
TOOL_RECORD_TXIDS = (0x2001, 0x2002)


class ProtocolError(Exception):
    """A violation of the spec, with the section 10 error name it maps to."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


# --------------------------------------------------------------------------
# Reporting


class Report:
    """Counts checks and prints one line for each."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, where, what, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"PASS {where}: {what}")
        else:
            self.failed += 1
            print(f"FAIL {where}: {what}: {detail}")
        sys.stdout.flush()
        return ok

    def equal(self, where, what, ours, theirs):
        """ours is what this script computed, theirs what the vector or
        the C code gave."""
        return self.check(where, what, ours == theirs,
                          f"computed here {show(ours)}, but the C side "
                          f"gave {show(theirs)}")

    def attempt(self, where, what, func):
        """Runs func; an exception is a failed check, not a crash."""
        try:
            result = func()
        except (ProtocolError, ValueError, TypeError, KeyError,
                IndexError, InvalidTag) as e:
            self.check(where, what, False, f"{type(e).__name__}: {e}")
            return None
        self.check(where, what, True)
        return result


def show(value):
    if isinstance(value, (bytes, bytearray)):
        return value.hex() if value else "(empty)"
    return repr(value)


# --------------------------------------------------------------------------
# CBOR (section 2)


class Raw(bytes):
    """An item that is already encoded, spliced in verbatim. Only used to
    craft deliberately malformed records for the interop checks."""


def _head(major, value):
    # Preferred serialization: the shortest argument that holds the value.
    if value < 24:
        return bytes([major << 5 | value])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | info]) + value.to_bytes(size, "big")
    raise ValueError(f"CBOR argument too large: {value}")


def encode(item):
    """Encodes item in preferred serialization with definite lengths.

    Maps keep their insertion order, so callers decide the key order; only
    the items section 2 allows are accepted, so re-encoding a decoded item
    also rejects floats, undefined and other simple values."""
    if isinstance(item, Raw):
        return bytes(item)
    if isinstance(item, bool):
        return b"\xf5" if item else b"\xf4"
    if item is None:
        return b"\xf6"
    if isinstance(item, int):
        if item >= 0:
            return _head(0, item)
        return _head(1, -1 - item)
    if isinstance(item, (bytes, bytearray)):
        return _head(2, len(item)) + bytes(item)
    if isinstance(item, str):
        data = item.encode("utf-8")
        return _head(3, len(data)) + data
    if isinstance(item, (list, tuple)):
        return _head(4, len(item)) + b"".join(encode(x) for x in item)
    if isinstance(item, dict):
        return _head(5, len(item)) + b"".join(
            encode(k) + encode(v) for k, v in item.items())
    if isinstance(item, cbor2.CBORTag):
        return _head(6, item.tag) + encode(item.value)
    raise TypeError(f"item not allowed by section 2: {item!r}")


def decode_strict(data, what):
    """Decodes one CBOR item and enforces the encoding rules of section 2.

    cbor2 is lenient (it accepts long-form integers, indefinite lengths,
    duplicate keys and trailing bytes), so the item is re-encoded in
    preferred serialization with the same key order: any of those defects
    makes the bytes differ."""
    try:
        item = cbor2.loads(data)
    except Exception as e:  # cbor2 raises several unrelated types
        raise ProtocolError("malformed", f"{what}: not CBOR: {e}") from e
    try:
        again = encode(item)
    except (TypeError, ValueError) as e:
        raise ProtocolError("malformed", f"{what}: {e}") from e
    if again != data:
        if data.startswith(again):
            raise ProtocolError(
                "malformed", f"{what}: {len(data) - len(again)} bytes after "
                "the top-level item")
        raise ProtocolError(
            "malformed", f"{what}: not in preferred serialization, "
            f"indefinite length or duplicate key (re-encodes as "
            f"{again.hex()})")
    return item


def check_encoder(rep):
    """Tests encode() against RFC 8949 appendix A and cbor2's encoder."""
    where = "cbor"
    rfc = [
        (0, "00"), (23, "17"), (24, "1818"), (100, "1864"),
        (1000, "1903e8"), (1000000, "1a000f4240"),
        (1000000000000, "1b000000e8d4a51000"),
        (18446744073709551615, "1bffffffffffffffff"), (-1, "20"),
        (-100, "3863"), (-1000, "3903e7"), (False, "f4"), (True, "f5"),
        (None, "f6"), (b"", "40"), (b"\x01\x02\x03\x04", "4401020304"),
        ("", "60"), ("IETF", "6449455446"), ("\u00fc", "62c3bc"),
        ([], "80"), ([1, [2, 3], [4, 5]], "8301820203820405"),
        ({}, "a0"), ({1: 2, 3: 4}, "a201020304"),
        (cbor2.CBORTag(1, 1363896240), "c11a514b67b0"),
    ]
    bad = [(x, h, encode(x).hex()) for x, h in rfc if encode(x).hex() != h]
    rep.check(where, "encoder matches RFC 8949 appendix A", not bad,
              f"mismatches (item, expected, got): {bad}")
    # cbor2 is only used to decode, but its encoder must agree with ours on
    # the boundaries of every argument size, or one of the two is wrong.
    samples = [23, 24, 255, 256, 65535, 65536, (1 << 32) - 1, 1 << 32,
               U64 - 1, -24, -25, -256, -257, -65537, b"x" * 23, b"x" * 24,
               "y" * 255, "y" * 256, {1: 1, LABEL_HEADER: {8: True}},
               cbor2.CBORTag(16, [b"", {}, b"\0" * 300])]
    bad = [x for x in samples if cbor2.dumps(x) != encode(x)]
    rep.check(where, "cbor2 encoder produces preferred serialization", not bad,
              f"differs for {bad!r}")
    # And the strict decoder must really reject what section 2 forbids.
    forbidden = {
        "long-form integer": "1801", "indefinite array": "9f01ff",
        "duplicate key": "a201010102", "trailing byte": "0100",
        "float": "f93c00", "undefined": "f7", "simple value 16": "f0",
        "invalid UTF-8": "62c328",
    }
    accepted = []
    for name, hexdata in forbidden.items():
        try:
            decode_strict(bytes.fromhex(hexdata), name)
            accepted.append(name)
        except ProtocolError:
            pass
    rep.check(where, "strict decoder rejects what section 2 forbids",
              not accepted, f"accepted {accepted}")


# --------------------------------------------------------------------------
# Schema checks (sections 3 and 4.2)


def is_uint(v, limit=U64):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < limit


def need(cond, code, message):
    if not cond:
        raise ProtocolError(code, message)


def check_header(hdr, record, what):
    """Section 3: the header map of a plain message or a record."""
    need(isinstance(hdr, dict), "malformed", f"{what}: header is not a map")
    keys = {1, 2, 3, 4, 5, 8} | ({6, 7} if record else set())
    need(set(hdr) == keys, "malformed",
         f"{what}: header keys {sorted(hdr, key=str)}, expected "
         f"{sorted(keys)}")
    need(is_uint(hdr[1]) and hdr[1] == 1, "unsupported",
         f"{what}: version {hdr[1]!r}")
    need(is_uint(hdr[2]), "malformed", f"{what}: type {hdr[2]!r}")
    need(is_uint(hdr[3]), "malformed", f"{what}: txid {hdr[3]!r}")
    for k in (4, 5):
        need(isinstance(hdr[k], str) and ENTITY_ID.match(hdr[k]),
             "malformed", f"{what}: key {k} {hdr[k]!r} is not an Entity ID")
    need(isinstance(hdr[8], bool), "malformed",
         f"{what}: Encrypted {hdr[8]!r}")
    if record:
        need(isinstance(hdr[6], bytes) and len(hdr[6]) == 8, "malformed",
             f"{what}: session ID {show(hdr[6])}")
        need(is_uint(hdr[7]), "malformed", f"{what}: seq {hdr[7]!r}")


# Section 4.2 bodies that this script meets, as key -> (kind, lo, hi,
# optional); lo/hi bound the length of strings and lists, or the value of a
# uint.
BODY_SCHEMAS = {
    HS_INIT: {1: ("uints", 1, 8, False), 2: ("uints", 1, 8, False),
              3: ("bstr", 1, 32, False), 4: ("bstr", 32, 32, False),
              5: ("bstr", 32, 32, True), 6: ("uint", 0, U64 - 1, False)},
    HS_RESP: {1: ("uint", 0, U64 - 1, False), 2: ("uint", 0, U64 - 1, False),
              3: ("bstr", 32, 32, False), 4: ("bstr", 32, 32, True)},
    HS_FINISH: {},
    TK_DELIVERY: {1: ("tstr", 1, 64, False), 2: ("bstr", 1, 32, False),
                  3: ("bstr", 16, 64, False)},
    DATA: {1: ("uint", 0, (1 << 32) - 1, False),
           2: ("bstr", 0, 65536, False)},
}


def check_body(mtype, body, what):
    schema = BODY_SCHEMAS[mtype]
    need(isinstance(body, dict), "malformed", f"{what}: body is not a map")
    extra = set(body) - set(schema)
    need(not extra, "malformed", f"{what}: unknown body keys {extra}")
    for key, (kind, lo, hi, optional) in schema.items():
        if key not in body:
            need(optional, "malformed", f"{what}: body key {key} missing")
            continue
        v = body[key]
        if kind == "uint":
            ok = is_uint(v) and lo <= v <= hi
        elif kind == "uints":
            ok = (isinstance(v, list) and lo <= len(v) <= hi
                  and all(is_uint(x) for x in v))
        elif kind == "bstr":
            ok = isinstance(v, bytes) and lo <= len(v) <= hi
        else:
            ok = isinstance(v, str) and lo <= len(v.encode()) <= hi
        need(ok, "malformed", f"{what}: body key {key} = {show(v)} is not "
             f"{kind} {lo}..{hi}")


def check_plain_message(data, mtype, txid, src, dst, what):
    """Sections 4.1 and 5: a handshake message [hdr, body] or
    [hdr, body, mac]; returns (body, mac or None)."""
    need(len(data) <= MAX_HANDSHAKE, "too-large", f"{what}: {len(data)} bytes")
    msg = decode_strict(data, what)
    length = 2 if mtype == HS_INIT else 3
    need(isinstance(msg, list) and len(msg) == length, "malformed",
         f"{what}: not an array of {length}")
    hdr = msg[0]
    check_header(hdr, False, what)
    need(hdr[2] == mtype, "malformed",
         f"{what}: type {hdr[2]}, expected {mtype}")
    need(hdr[3] == txid, "wrong-id",
         f"{what}: txid {hdr[3]}, expected {txid}")
    need(hdr[4] == src, "wrong-id",
         f"{what}: src {hdr[4]!r}, expected {src!r}")
    need(hdr[5] == dst, "wrong-id",
         f"{what}: dst {hdr[5]!r}, expected {dst!r}")
    need(hdr[8] is False, "malformed", f"{what}: Encrypted is not false")
    check_body(mtype, msg[1], what)
    mac = None
    if length == 3:
        mac = msg[2]
        need(isinstance(mac, bytes) and len(mac) == 32, "malformed",
             f"{what}: MAC is not a 32-byte bstr")
    return msg[1], mac


# --------------------------------------------------------------------------
# Key schedule (section 5.2)


def lp(x):
    if len(x) > 255:
        raise ValueError("lp() of more than 255 bytes")
    return bytes([len(x)]) + x


def extract(salt, ikm):
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def expand_label(secret, label, ctx, length):
    info = length.to_bytes(2, "big") + lp(b"cpns1 " + label) + lp(ctx)
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


def sha256(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def traffic_keys(hs, th_app, suite):
    """Section 5.2: one key block for both directions, MAC keys apart."""
    nk = SUITE_KEY_LEN[suite]
    block = expand_label(hs, b"traffic", th_app, 2 * nk + 24)
    return {
        "i2r": {"key": block[:nk], "iv": block[2 * nk:2 * nk + 12],
                "mac_key": expand_label(hs, b"i2r mac", th_app, 32)},
        "r2i": {"key": block[nk:2 * nk], "iv": block[2 * nk + 12:],
                "mac_key": expand_label(hs, b"r2i mac", th_app, 32)},
    }


def x25519_public(private):
    # The library clamps the scalar as RFC 7748 asks (section 5.2).
    return X25519PrivateKey.from_private_bytes(private).public_key(
    ).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def x25519(private, public):
    return X25519PrivateKey.from_private_bytes(private).exchange(
        X25519PublicKey.from_public_bytes(public))


def plain_header(mtype, txid, src, dst):
    return {1: 1, 2: mtype, 3: txid, 4: src, 5: dst, 8: False}


# --------------------------------------------------------------------------
# Records (section 6)


class Session:
    """One receive or send direction of a session, as a record sees it."""

    def __init__(self, suite, key, iv, mac_key, session_id, self_id, peer_id):
        self.suite = suite
        self.key = key
        self.iv = iv
        self.mac_key = mac_key
        self.session_id = session_id
        self.self_id = self_id
        self.peer_id = peer_id


def aead_for(alg, key):
    if alg == 24:
        return ChaCha20Poly1305(key)
    if alg in (1, 3):
        need(len(key) == SUITE_KEY_LEN[alg], "failed",
             f"AES-GCM alg {alg} with a {len(key)}-byte key")
        return AESGCM(key)
    raise ProtocolError("unsupported", f"no AEAD for alg {alg}")


def record_nonce(iv, seq):
    # Section 6.2: iv XOR the sequence number as a 96-bit big-endian integer.
    return bytes(a ^ b for a, b in zip(iv, seq.to_bytes(12, "big")))


def enc_structure(protected):
    return encode(["Encrypt0", protected, b""])


def mac_structure(protected, payload):
    return encode(["MAC0", protected, b"", payload])


def record_header(mtype, txid, src, dst, session_id, seq, encrypted):
    return {1: 1, 2: mtype, 3: txid, 4: src, 5: dst, 6: session_id, 7: seq,
            8: encrypted}


def seal_record(structure, alg, key, iv, mac_key, header, seq, body):
    """Builds a COSE_Encrypt0 or COSE_Mac0 record exactly as section 6.2
    says. header is used as given (it may hold wrong or Raw values), and
    seq is passed separately so that a tampered header still gets a valid
    nonce."""
    # Keys in bytewise order of their encoding (RFC 8949 4.2.1), as the C
    # side writes them: 1 (0x01) before -65537 (0x3a...), not numeric order.
    protected = encode({1: alg, LABEL_HEADER: header})
    if structure == TAG_ENCRYPT0:
        ct = aead_for(alg, key).encrypt(record_nonce(iv, seq), body,
                                        enc_structure(protected))
        return encode(cbor2.CBORTag(TAG_ENCRYPT0, [protected, {}, ct]))
    tag = hmac.new(mac_key, mac_structure(protected, body),
                   hashlib.sha256).digest()
    return encode(cbor2.CBORTag(TAG_MAC0, [protected, {}, body, tag]))


def open_record(sess, data, what):
    """Receives a record in the order of section 6.3 (without replay state)
    and returns (cose tag, header, body)."""
    need(len(data) <= MAX_RECORD, "too-large", f"{what}: {len(data)} bytes")
    item = decode_strict(data, what)
    need(isinstance(item, cbor2.CBORTag)
         and item.tag in (TAG_ENCRYPT0, TAG_MAC0), "malformed",
         f"{what}: not tag 16 or 17")
    parts = item.value
    length = 3 if item.tag == TAG_ENCRYPT0 else 4
    need(isinstance(parts, list) and len(parts) == length, "malformed",
         f"{what}: COSE array is not of {length}")
    protected, unprotected = parts[0], parts[1]
    need(isinstance(protected, bytes), "malformed",
         f"{what}: protected is not a bstr")
    need(unprotected == {} and isinstance(unprotected, dict), "malformed",
         f"{what}: unprotected map is not empty: {unprotected!r}")
    ph = decode_strict(protected, what + " protected header")
    need(isinstance(ph, dict) and set(ph) == {1, LABEL_HEADER}, "malformed",
         f"{what}: protected map keys are not {{1, -65537}}")
    alg, hdr = ph[1], ph[LABEL_HEADER]
    need(is_uint(alg), "malformed", f"{what}: alg {alg!r}")
    check_header(hdr, True, what)

    # Policy (section 4.1), before any ID or tag.
    encrypted = item.tag == TAG_ENCRYPT0
    need(hdr[2] in RECORD_TYPES, "policy",
         f"{what}: type {hdr[2]} not allowed in a record")
    need(encrypted or not RECORD_TYPES[hdr[2]], "policy",
         f"{what}: type {hdr[2]} must be encrypted")
    need(hdr[8] is encrypted, "policy",
         f"{what}: Encrypted {hdr[8]} in tag {item.tag}")
    need(alg == (sess.suite if encrypted else ALG_HMAC), "downgrade",
         f"{what}: alg {alg} on a suite-{sess.suite} session")

    need(hdr[6] == sess.session_id, "wrong-id",
         f"{what}: session ID {show(hdr[6])}")
    need(hdr[4] == sess.peer_id, "wrong-id", f"{what}: src {hdr[4]!r}")
    need(hdr[5] == sess.self_id, "wrong-id", f"{what}: dst {hdr[5]!r}")

    if encrypted:
        ct = parts[2]
        need(isinstance(ct, bytes) and len(ct) >= 16, "malformed",
             f"{what}: ciphertext")
        try:
            body = aead_for(alg, sess.key).decrypt(
                record_nonce(sess.iv, hdr[7]), ct, enc_structure(protected))
        except InvalidTag:
            raise ProtocolError("bad-mac", f"{what}: AEAD tag") from None
    else:
        body, tag = parts[2], parts[3]
        need(isinstance(body, bytes) and isinstance(tag, bytes)
             and len(tag) == 32, "malformed", f"{what}: payload or tag")
        want = hmac.new(sess.mac_key, mac_structure(protected, body),
                        hashlib.sha256).digest()
        need(hmac.compare_digest(want, tag), "bad-mac", f"{what}: MAC tag")
    if hdr[2] in BODY_SCHEMAS:
        check_body(hdr[2], decode_strict(body, what + " body"),
                   what + " body")
    return item.tag, hdr, body


# --------------------------------------------------------------------------
# Vector blocks (section 13)


INT_FIELDS = {"purpose", "txid", "chosen_suite", "chosen_mode",
              "record_i2r_txid", "record_r2i_txid"}
LIST_FIELDS = {"offered_suites", "offered_modes"}


def parse_vectors(text):
    """Returns [(name, {field: value})] for every "### Vector:" block.

    Whether an unquoted value is decimal or hex cannot be told from the
    value (a nonce may be all digits), so it is decided by the field name:
    the integer and list fields are decimal, everything else is hex."""
    vectors = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"### Vector: (\S+)\s*$", lines[i])
        i += 1
        if not m:
            continue
        while i < len(lines) and lines[i].strip() != "```text":
            if lines[i].startswith("#"):
                raise ValueError(f"vector {m[1]}: no ```text block")
            i += 1
        i += 1
        fields = {}
        while i < len(lines) and lines[i].strip() != "```":
            line = lines[i].strip()
            i += 1
            if not line:
                continue
            name, sep, value = line.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or not name:
                raise ValueError(f"vector {m[1]}: bad line {line!r}")
            if name in fields:
                raise ValueError(f"vector {m[1]}: {name} given twice")
            if len(value) >= 2 and value[0] == value[-1] == '"':
                fields[name] = value[1:-1]
            elif name in INT_FIELDS:
                fields[name] = int(value, 10)
            elif name in LIST_FIELDS:
                fields[name] = [int(x, 10) for x in value.split(",")]
            else:
                try:
                    fields[name] = bytes.fromhex(value)
                except ValueError:
                    raise ValueError(f"vector {m[1]}: {name} is not hex: "
                                     f"{value!r}") from None
        if i >= len(lines):
            raise ValueError(f"vector {m[1]}: unterminated block")
        vectors.append((m[1], fields))
    return vectors


REQUIRED = ["purpose", "initiator_id", "responder_id", "psk", "kid",
            "offered_suites", "offered_modes", "chosen_suite", "chosen_mode",
            "txid", "initiator_nonce", "responder_nonce", "m1", "m2", "m3",
            "hs_psk", "handshake_secret", "th2", "th_app", "th3", "i2r_key",
            "i2r_iv", "i2r_mac_key", "r2i_key", "r2i_iv", "r2i_mac_key",
            "session_id", "record_body", "record_i2r_encrypted",
            "record_r2i_mac"]
REQUIRED_X25519 = ["initiator_private", "initiator_share",
                   "responder_private", "responder_share"]


def verify_vector(rep, where, v):
    """Recomputes one vector block from its inputs; returns True if every
    check passed."""
    failed_before = rep.failed
    mode1 = v.get("chosen_mode") == 1
    missing = [k for k in REQUIRED + (REQUIRED_X25519 if mode1 else [])
               if k not in v]
    if not rep.check(where, "block has all fields", not missing,
                     f"missing {', '.join(missing)}"):
        return False
    id_i, id_r = v["initiator_id"], v["responder_id"]
    bid_i, bid_r = id_i.encode(), id_r.encode()
    purpose, txid, kid = v["purpose"], v["txid"], v["kid"]
    suite, mode = v["chosen_suite"], v["chosen_mode"]
    suites, modes = v["offered_suites"], v["offered_modes"]
    n_i, n_r = v["initiator_nonce"], v["responder_nonce"]

    # Section 5.1 negotiation, as far as one vector shows it.
    rep.check(where, "chosen suite is a section 6.1 suite and was offered",
              suite in SUITE_KEY_LEN and suite in suites,
              f"suite {suite}, offered {suites}")
    rep.check(where, "chosen mode is 0 or 1 and was offered",
              mode in (0, 1) and mode in modes,
              f"mode {mode}, offered {modes}")
    rep.check(where, "M1 transaction ID is nonzero", txid != 0, "txid 0")
    rep.check(where, "N_R differs from N_I (reflection)", n_r != n_i,
              show(n_r))
    if suite not in SUITE_KEY_LEN or mode not in (0, 1):
        return False

    # X25519 shares and the shared secret.
    dh = bytes(32)
    share_i = share_r = None
    if mode1:
        share_i, share_r = v["initiator_share"], v["responder_share"]
        rep.equal(where, "initiator_share = X25519(initiator_private, 9)",
                  x25519_public(v["initiator_private"]), share_i)
        rep.equal(where, "responder_share = X25519(responder_private, 9)",
                  x25519_public(v["responder_private"]), share_r)
        rep.check(where, "e_R differs from e_I (reflection)",
                  share_r != share_i, show(share_r))
        dh = rep.attempt(where, "X25519 result is not all zero",
                         lambda: x25519(v["initiator_private"], share_r))
        if dh is None:
            return False
        rep.check(where, "both sides compute the same X25519 secret",
                  dh == x25519(v["responder_private"], share_i),
                  "X25519(priv_I, e_R) != X25519(priv_R, e_I)")

    # The handshake messages, encoded here from sections 3-5 with the keys
    # in ascending order (the order the C side uses; the spec leaves it
    # free, and byte-exact comparison needs one).
    body1 = {1: suites, 2: modes, 3: kid, 4: n_i}
    if 1 in modes:
        if share_i is None:
            rep.check(where, "initiator_share given when mode 1 is offered",
                      False, "missing")
            return False
        body1[5] = share_i
    body1[6] = purpose
    m1 = encode([plain_header(HS_INIT, txid, id_i, id_r), body1])
    rep.equal(where, "m1 re-encoded from the inputs", m1, v["m1"])
    rep.attempt(where, "m1 structure (sections 2-5)",
                lambda: check_m1(v["m1"], txid, id_i, id_r))

    body2 = {1: suite, 2: mode, 3: n_r}
    if mode1:
        body2[4] = share_r
    m2s = encode(plain_header(HS_RESP, txid, id_r, id_i)) + encode(body2)
    m3s = encode(plain_header(HS_FINISH, txid, id_i, id_r)) + encode({})
    got = rep.attempt(where, "m2 structure (sections 2-5)",
                      lambda: check_m2(v["m2"], txid, id_i, id_r, mode))
    got_mac_r = got if got is not None else v["m2"][-32:]
    got = rep.attempt(where, "m3 structure (sections 2-5)",
                      lambda: check_plain_message(v["m3"], HS_FINISH, txid,
                                                  id_i, id_r, "m3")[1])
    got_mac_i = got if got is not None else v["m3"][-32:]

    # Key schedule, exactly as section 5.2 writes it. The transcript is
    # hashed over the messages as sent (the vector's bytes), so that an
    # encoding difference shows up once above rather than everywhere.
    hs_psk = expand_label(v["psk"], b"psk",
                          bytes([purpose]) + lp(bid_i) + lp(bid_r) + lp(kid),
                          32)
    rep.equal(where, "hs_psk", hs_psk, v["hs_psk"])
    hs = extract(hs_psk, dh)
    rep.equal(where, "handshake_secret", hs, v["handshake_secret"])
    t0 = lp(b"initiator") + lp(bid_i) + lp(b"responder") + lp(bid_r)
    sent_m1 = v["m1"]
    sent_m2s = rep.attempt(where, "m2 is [hdr, body, bstr(32)]",
                           lambda: strip_mac(v["m2"]))
    sent_m3s = rep.attempt(where, "m3 is [hdr, body, bstr(32)]",
                           lambda: strip_mac(v["m3"]))
    if sent_m2s is None or sent_m3s is None:
        return False
    rep.equal(where, "M2s (bytes between array head and MAC_R)", m2s,
              sent_m2s)
    rep.equal(where, "M3s (bytes between array head and MAC_I)", m3s,
              sent_m3s)
    th2 = sha256(t0, sent_m1, sent_m2s)
    rep.equal(where, "th2", th2, v["th2"])
    mac_r = expand_label(hs, b"r finished", th2, 32)
    rep.equal(where, "MAC_R = last 32 bytes of m2", mac_r, got_mac_r)
    th_app = sha256(t0, sent_m1, sent_m2s, mac_r)
    rep.equal(where, "th_app", th_app, v["th_app"])
    th3 = sha256(t0, sent_m1, sent_m2s, mac_r, sent_m3s)
    rep.equal(where, "th3", th3, v["th3"])
    mac_i = expand_label(hs, b"i finished", th3, 32)
    rep.equal(where, "MAC_I = last 32 bytes of m3", mac_i, got_mac_i)
    rep.equal(where, "m2 re-encoded from the inputs",
              b"\x83" + m2s + encode(mac_r), v["m2"])
    rep.equal(where, "m3 re-encoded from the inputs",
              b"\x83" + m3s + encode(mac_i), v["m3"])

    keys = traffic_keys(hs, th_app, suite)
    keys_agree = True
    for d, dk in keys.items():
        for k, value in dk.items():
            keys_agree &= rep.equal(where, f"{d}_{k}", value, v[f"{d}_{k}"])
    session_id = th_app[:8]
    keys_agree &= rep.equal(where, "session_id = first 8 bytes of th_app",
                            session_id, v["session_id"])

    # The two records: i2r encrypted, r2i MAC-only, both seq 0.
    body = v["record_body"]
    rep.attempt(where, "record_body is a DATA body",
                lambda: check_body(DATA, decode_strict(body, "record_body"),
                                   "record_body"))
    # The records are opened with the keys derived here, which ties them to
    # the inputs. If the key schedule disagreed above, they are also opened
    # with the block's own keys, to tell whether the record layer is right
    # on its own.
    key_sets = [("", keys, session_id)]
    if not keys_agree:
        key_sets.append((" [with the block's keys]", {
            d: {k: v[f"{d}_{k}"] for k in ("key", "iv", "mac_key")}
            for d in ("i2r", "r2i")}, v["session_id"]))
    for note, key_set, sid in key_sets:
        for d, field, tag, src, dst, txid_default in (
                ("i2r", "record_i2r_encrypted", TAG_ENCRYPT0, id_i, id_r,
                 TOOL_RECORD_TXIDS[0]),
                ("r2i", "record_r2i_mac", TAG_MAC0, id_r, id_i,
                 TOOL_RECORD_TXIDS[1])):
            dk = key_set[d]
            rtxid = v.get(f"record_{d}_txid", txid_default)
            sess = Session(suite, dk["key"], dk["iv"], dk["mac_key"], sid,
                           dst, src)
            verify_record(rep, where + note, field, sess, v[field], tag,
                          DATA, rtxid, 0, body)
    return rep.failed == failed_before


def check_m1(data, txid, src, dst):
    body, _ = check_plain_message(data, HS_INIT, txid, src, dst, "m1")
    need((5 in body) == (1 in body[2]), "malformed",
         "m1: key share present iff mode 1 offered")


def check_m2(data, txid, id_i, id_r, mode):
    body, mac = check_plain_message(data, HS_RESP, txid, id_r, id_i, "m2")
    need((4 in body) == (mode == 1), "malformed",
         "m2: key share present iff mode 1")
    need(body[2] == mode, "malformed", f"m2: mode {body[2]}")
    return mac


def strip_mac(message):
    # [hdr, body, mac] with a 1-byte array head and a 34-byte encoded MAC.
    if message[:1] != b"\x83" or message[-34:-32] != b"\x58\x20":
        raise ValueError("not [hdr, body, bstr(32)]")
    return message[1:-34]


def verify_record(rep, where, field, sess, data, tag, mtype, txid, seq,
                  body):
    what = f"{field} (COSE tag {tag})"
    opened = rep.attempt(where, f"{what} opens: structure, policy, IDs, "
                         + ("AEAD with nonce iv^seq and AAD Enc_structure"
                            if tag == TAG_ENCRYPT0 else
                            "HMAC over MAC_structure"),
                         lambda: open_record(sess, data, field))
    if opened is None:
        return
    got_tag, hdr, got_body = opened
    rep.equal(where, f"{field} COSE tag", tag, got_tag)
    expect = {2: mtype, 3: txid, 4: sess.peer_id, 5: sess.self_id,
              6: sess.session_id, 7: seq, 8: tag == TAG_ENCRYPT0}
    actual = {k: hdr[k] for k in expect}
    rep.equal(where, f"{field} header (type, txid, src, dst, sid, seq, "
              "Encrypted)", expect, actual)
    rep.equal(where, f"{field} body = record_body", body, got_body)
    header = record_header(mtype, txid, sess.peer_id, sess.self_id,
                           sess.session_id, seq, tag == TAG_ENCRYPT0)
    alg = sess.suite if tag == TAG_ENCRYPT0 else ALG_HMAC
    again = seal_record(tag, alg, sess.key, sess.iv, sess.mac_key, header,
                        seq, body)
    rep.equal(where, f"{field} re-sealed here byte for byte", again, data)


# --------------------------------------------------------------------------
# Commands


def cmd_vectors(rep, doc):
    where = f"vectors {doc}"
    try:
        with open(doc, encoding="utf-8") as f:
            vectors = parse_vectors(f.read())
    except (OSError, ValueError) as e:
        rep.check(where, "vector blocks parse", False, str(e))
        return
    rep.check(where, "has vector blocks", bool(vectors),
              "no '### Vector:' block found")
    for name, fields in vectors:
        verify_vector(rep, f"vector {name}", fields)


def run_tool(tool, *args):
    argv = [tool, *map(str, args)]
    try:
        return subprocess.run(argv, capture_output=True, text=True,
                              check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        # Reported as a failed run, so that one bad call fails its check
        # instead of ending the whole run.
        return subprocess.CompletedProcess(argv, 127, "", str(e))


def cmd_live(rep, tool):
    for mode in (0, 1):
        for suite in (24, 1, 3):
            where = f"live mode {mode} suite {suite}"
            proc = run_tool(tool, "live", mode, suite)
            if not rep.check(where, "cpns-vectors live ran",
                             proc.returncode == 0,
                             f"exit {proc.returncode}: "
                             f"{proc.stderr.strip()}"):
                continue
            try:
                vectors = parse_vectors(proc.stdout)
            except ValueError as e:
                rep.check(where, "output parses", False, str(e))
                continue
            if not rep.check(where, "printed one vector block",
                             len(vectors) == 1, f"{len(vectors)} blocks"):
                continue
            name, fields = vectors[0]
            where = f"{where} ({name})"
            rep.equal(where, "chosen suite is the one asked for", suite,
                      fields.get("chosen_suite"))
            rep.equal(where, "chosen mode is the one asked for", mode,
                      fields.get("chosen_mode"))
            verify_vector(rep, where, fields)


def random_entity_id():
    n = secrets.randbelow(64) + 1
    return "".join(secrets.choice(ENTITY_ID_CHARS) for _ in range(n))


def other_entity_id(entity_id):
    # Same length, last character changed: still a valid Entity ID, so that
    # only the mismatch can be the reason for a rejection.
    last = "a" if entity_id[-1] != "a" else "b"
    return entity_id[:-1] + last


def c_open(tool, sess, record):
    """Has the C code open a record; returns its JSON answer and exit code."""
    proc = run_tool(tool, "open", sess.suite, sess.key.hex(), sess.iv.hex(),
                    sess.mac_key.hex(), sess.self_id, sess.peer_id,
                    sess.session_id.hex(), record.hex())
    try:
        answer = json.loads(proc.stdout)
    except ValueError:
        # The error message is printed unescaped; the code is enough.
        m = re.search(r'"code": "([a-z-]+)"', proc.stdout)
        answer = ({"ok": False, "code": m[1]} if m else
                  {"ok": None, "raw": proc.stdout + proc.stderr})
    return answer, proc.returncode


def expect_accept(rep, where, what, tool, sess, record, tag, mtype, txid,
                  seq, body):
    # Our own receiver must agree first, or the record is not a fair test.
    rep.attempt(where, f"{what}: opens here", lambda: open_record(
        sess, record, what))
    answer, rc = c_open(tool, sess, record)
    expect = {"ok": True, "type": mtype, "txid": txid, "seq": seq,
              "encrypted": tag == TAG_ENCRYPT0, "src": sess.peer_id,
              "dst": sess.self_id, "body": body.hex()}
    rep.check(where, f"{what}: C side accepts it with this header and body",
              rc == 0 and answer == expect,
              f"exit {rc}, answer {answer}, expected {expect}")


def expect_reject(rep, where, what, tool, sess, record, code):
    answer, rc = c_open(tool, sess, record)
    rep.check(where, f"{what}: C side rejects it with {code}",
              rc == 1 and answer.get("ok") is False
              and answer.get("code") == code,
              f"exit {rc}, answer {answer}")
    # Our reading of the spec must give the same code, or the expectation
    # itself is wrong.
    try:
        open_record(sess, record, what)
        mine = "accepted"
    except ProtocolError as e:
        mine = e.code
    rep.check(where, f"{what}: rejected here with {code}", mine == code,
              f"this script's reading of the spec gives {mine}")


def cmd_interop(rep, tool):
    for suite in (24, 1, 3):
        where = f"interop suite {suite}"
        receiver, sender = random_entity_id(), random_entity_id()
        while sender == receiver:
            sender = random_entity_id()
        sess = Session(suite, secrets.token_bytes(SUITE_KEY_LEN[suite]),
                       secrets.token_bytes(12), secrets.token_bytes(32),
                       secrets.token_bytes(8), receiver, sender)
        txid = secrets.randbelow((1 << 32) - 1) + 1
        # Nonzero sequence numbers so that iv XOR seq is really exercised.
        seq_e = secrets.randbelow((1 << 30) - 1) + 1
        seq_m = secrets.randbelow((1 << 30) - 1) + 1
        body = encode({1: secrets.randbelow(1 << 32),
                       2: secrets.token_bytes(secrets.randbelow(200))})

        def seal(tag, header_changes=None, alg=None, key=sess.key,
                 seq=None, mtype=DATA, payload=body, src=sender,
                 sid=sess.session_id):
            # A record from sender to receiver, optionally with a header
            # value replaced, removed (None) or added.
            seq = seq if seq is not None else (
                seq_e if tag == TAG_ENCRYPT0 else seq_m)
            header = record_header(mtype, txid, src, receiver, sid, seq,
                                   tag == TAG_ENCRYPT0)
            for k, val in (header_changes or {}).items():
                if val is None:
                    del header[k]
                else:
                    header[k] = val
            if alg is None:
                alg = suite if tag == TAG_ENCRYPT0 else ALG_HMAC
            return seal_record(tag, alg, key, sess.iv, sess.mac_key, header,
                               seq, payload)

        enc = seal(TAG_ENCRYPT0)
        mac = seal(TAG_MAC0)
        expect_accept(rep, where, "COSE_Encrypt0 DATA", tool, sess, enc,
                      TAG_ENCRYPT0, DATA, txid, seq_e, body)
        expect_accept(rep, where, "COSE_Mac0 DATA", tool, sess, mac,
                      TAG_MAC0, DATA, txid, seq_m, body)
        tk_body = encode({1: random_entity_id(), 2: b"kid-tk",
                          3: secrets.token_bytes(32)})
        expect_accept(rep, where, "COSE_Encrypt0 TK_DELIVERY", tool, sess,
                      seal(TAG_ENCRYPT0, mtype=TK_DELIVERY, payload=tk_body),
                      TAG_ENCRYPT0, TK_DELIVERY, txid, seq_e, tk_body)

        # Tampered variants, each otherwise valid (tags recomputed over the
        # tampered bytes) so that only the named defect can be the reason.
        flipped = bytearray(enc)
        flipped[-17] ^= 0x01  # last ciphertext byte, just before the tag
        bad_tag = bytearray(mac)
        bad_tag[-1] ^= 0x80
        cases = [
            ("ciphertext bit flipped", bytes(flipped), "bad-mac"),
            ("Mac0 tag bit flipped", bytes(bad_tag), "bad-mac"),
            ("Encrypt0 with Encrypted false in the protected header",
             seal(TAG_ENCRYPT0, {8: False}), "policy"),
            ("Mac0 with Encrypted true",
             seal(TAG_MAC0, {8: True}), "policy"),
            ("TK_DELIVERY as COSE_Mac0",
             seal(TAG_MAC0, mtype=TK_DELIVERY, payload=tk_body), "policy"),
            ("HS_INIT inside a record", seal(TAG_MAC0, mtype=HS_INIT),
             "policy"),
            ("wrong session ID (Encrypt0)",
             seal(TAG_ENCRYPT0, sid=bytes(a ^ 1 for a in sess.session_id)),
             "wrong-id"),
            ("wrong session ID (Mac0)",
             seal(TAG_MAC0, sid=bytes(a ^ 1 for a in sess.session_id)),
             "wrong-id"),
            ("wrong src", seal(TAG_ENCRYPT0, src=other_entity_id(sender)),
             "wrong-id"),
            ("src is the receiver itself", seal(TAG_MAC0, src=receiver),
             "wrong-id"),
            ("wrong dst", seal(TAG_MAC0, {5: other_entity_id(receiver)}),
             "wrong-id"),
            ("trailing byte", enc + b"\x00", "malformed"),
            ("version encoded as 0x18 0x01 (not shortest)",
             seal(TAG_ENCRYPT0, {1: Raw(b"\x18\x01")}), "malformed"),
            ("seq encoded in 8 bytes (not shortest)",
             seal(TAG_MAC0, {7: Raw(b"\x1b" + seq_m.to_bytes(8, "big"))}),
             "malformed"),
            ("unknown header key 9", seal(TAG_ENCRYPT0, {9: 0}), "malformed"),
            ("header without seq", seal(TAG_MAC0, {7: None}), "malformed"),
            ("non-empty unprotected map",
             encode(cbor2.CBORTag(TAG_ENCRYPT0, [
                 cbor2.loads(enc).value[0], {4: b"k"},
                 cbor2.loads(enc).value[2]])), "malformed"),
            ("indefinite-length COSE array",
             b"\xd0\x9f" + enc[2:] + b"\xff", "malformed"),
        ]
        if suite == 24:
            cases.append(("alg 1 record on a suite-24 session",
                          seal(TAG_ENCRYPT0, alg=1, key=sess.key[:16]),
                          "downgrade"))
        # Section 6.3 fixes the order of the checks: policy before IDs
        # before the tag.
        bad_sid = bytes(8)
        cases += [
            ("TK_DELIVERY as Mac0 with wrong session ID and bad tag",
             seal(TAG_MAC0, mtype=TK_DELIVERY, payload=tk_body,
                  sid=bad_sid)[:-1] + b"\x00", "policy"),
            ("wrong session ID and bad tag",
             seal(TAG_MAC0, sid=bad_sid)[:-1] + b"\x00", "wrong-id"),
        ]
        for what, record, code in cases:
            expect_reject(rep, where, what, tool, sess, record, code)


def ensure_tool(rep, tool):
    ok = os.access(tool, os.X_OK)
    rep.check("setup", f"{tool} is executable", ok,
              "build it first: ninja -C build")
    return ok


# Section 8.2: key wraps.
WRAP_LABELS = {1: b"wrap eukey srp", 2: b"wrap localeukey", 3: b"wrap eukey tk"}


def wrap_key(kind, secret, id_a, id_b, user, kid):
    ctx = lp(id_a) + lp(id_b) + lp(user) + lp(kid)
    prk = extract(bytes(32), secret)
    return expand_label(prk, WRAP_LABELS[kind], sha256(ctx), 32), ctx


def wrap_seal(kind, secret, id_a, id_b, user, kid, key):
    k, ctx = wrap_key(kind, secret, id_a, id_b, user, kid)
    nonce = secrets.token_bytes(12)
    return nonce + ChaCha20Poly1305(k).encrypt(nonce, key, ctx)


def wrap_open(kind, secret, id_a, id_b, user, kid, wrapped):
    k, ctx = wrap_key(kind, secret, id_a, id_b, user, kid)
    return ChaCha20Poly1305(k).decrypt(wrapped[:12], wrapped[12:], ctx)


def cmd_wraps(rep, tool):
    """Wraps made by the C code open here and the other way round; a wrap
    moved to another entity pair, user or kind is refused by the C side."""
    for kind in (1, 2, 3):
        where = f"wrap kind {kind}"
        secret = secrets.token_bytes(64 if kind == 1 else 32)
        key = secrets.token_bytes(32)
        ida, idb = random_entity_id(), random_entity_id()
        user = "alice@example.org" if kind != 2 else ""
        kid = secrets.token_bytes(16)
        args = [str(kind), secret.hex(), ida, idb, user, kid.hex()]
        out = run_tool(tool, "wrap-seal", *args, key.hex())
        made_by_c = bytes.fromhex(out.stdout.strip())
        rep.attempt(where, "C wrap opens here",
                    lambda: rep.equal(where, "key from the C wrap",
                                      wrap_open(kind, secret, ida.encode(), idb.encode(),
                                                user.encode(), kid, made_by_c), key))
        ours = wrap_seal(kind, secret, ida.encode(), idb.encode(), user.encode(), kid, key)
        res = json.loads(run_tool(tool, "wrap-open", *args, ours.hex()).stdout)
        rep.check(where, "our wrap opens in C", res.get("ok") is True and
                  res.get("key") == key.hex(), str(res))
        for what, bad in (("another B entity", [str(kind), secret.hex(), ida,
                                                other_entity_id(idb), user, kid.hex()]),
                          ("another kind", [str(kind % 3 + 1)] + args[1:])):
            res = json.loads(run_tool(tool, "wrap-open", *bad, ours.hex()).stdout)
            rep.check(where, f"C refuses the wrap for {what}",
                      res.get("ok") is False and res.get("code") == "bad-mac", str(res))


def main(argv):
    rep = Report()
    command = argv[1] if len(argv) > 1 else "all"
    args = argv[2:]
    usage = ("usage: check_protocol.py [all [DOC [CPNS_VECTORS]] | "
             "vectors [DOC] | live [CPNS_VECTORS] | interop [CPNS_VECTORS]]")
    if command not in ("all", "vectors", "live", "interop") or \
            len(args) > (2 if command == "all" else 1):
        print(usage, file=sys.stderr)
        return 2
    doc = args[0] if command in ("all", "vectors") and args else DEFAULT_DOC
    if command == "all":
        tool = args[1] if len(args) > 1 else DEFAULT_TOOL
    else:
        tool = args[0] if args else DEFAULT_TOOL

    check_encoder(rep)
    if command in ("all", "vectors"):
        cmd_vectors(rep, doc)
    if command in ("all", "live", "interop") and ensure_tool(rep, tool):
        if command in ("all", "live"):
            cmd_live(rep, tool)
        if command in ("all", "interop"):
            cmd_interop(rep, tool)
            cmd_wraps(rep, tool)
    print(f"{rep.passed} passed, {rep.failed} failed")
    return 0 if rep.failed == 0 and rep.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
