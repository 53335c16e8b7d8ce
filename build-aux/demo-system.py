#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The end-to-end demo on the embedded defaults: a real cpns-server on a
throwaway SQLite database and HTTPS with a CA made on the spot, a demo user,
a real pngwd that enrols itself and opens its secure session, and three
simulated PNEs (real cpns-pne processes, each in its own network namespace
behind a veth link whose Wi-Fi security a fake hostapd reports), one per
EUKey path, exchanging protected messages with the gateway and the server;
every step told in words.  Usage: demo-system.py BUILDDIR"""

import os
import re
import shutil
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from harness import TestCA, Server, Gateway, PrivateBus, free_port  # noqa: E402
from pan import NetNs, FakeHostapd, can_use_netns  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402

USER = "demo@example.org"
PASSWORD = "correct horse battery staple"
TK_KID = "746b2d73656e736f72"          # "tk-sensor"
TK = "5a" * 32


def show_pne(argv, who):
    """Runs a cpns-pne and tells what its JSON lines say."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    for line in r.stdout.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        kind = ev.get("event")
        if kind == "path":
            names = {0: "keys already in place", 1: "7.4.1, PNE with UI",
                     2: "7.4.2, credentials installed over a secure link",
                     3: "7.4.3, EUKey delivered under its Temporary Key"}
            say(f"   {who} | gateway {ev.get('gateway')} chose path {ev.get('path')}: "
                f"{names.get(ev.get('path'), '?')}")
        elif kind == "key-stored":
            say(f"   {who} | stored its {ev.get('kind')} (key ID {ev.get('kid')}) for "
                f"{ev.get('peer')}")
        elif kind == "provisioned":
            say(f"   {who} | provisioned; secure session with the gateway is up")
        elif kind == "server-session":
            say(f"   {who} | end-to-end secure session with {ev.get('server')} through "
                "the gateway (the gateway cannot read it)")
        elif kind in ("echo", "queued"):
            via = "queued by the server and delivered through the gateway's long poll" \
                if kind == "queued" else "echoed"
            say(f"   {who} | protected DATA {via} by {ev.get('from')}: "
                f"{'ok' if ev.get('ok') else 'MISMATCH'}")
        elif kind in ("error", "refused"):
            say(f"   {who} | {kind}: {ev.get('message') or ev.get('reason')}")
    if r.returncode != 0:
        say(f"   {who} | exited with {r.returncode}: {r.stderr.strip()}")
        raise SystemExit(f"{who} failed")


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


def write_manifest(work):
    path = os.path.join(work, "manifest.txt")
    with open(path, "w") as f:
        f.write(f"# manufacturer's manifest\npne-sensor {TK_KID} {TK}\n")
    return path


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    os.environ.setdefault("CPNS_SERVER", os.path.join(build, "src/server/cpns-server"))
    os.environ.setdefault("CPNS_ADMIN", os.path.join(build, "src/server/cpns-admin"))
    os.environ.setdefault("PNGWD", os.path.join(build, "src/gateway/pngwd"))
    pngwctl = os.environ.get("PNGWCTL", os.path.join(build, "src/ctl/pngwctl"))
    work = tempfile.mkdtemp(prefix="pngw-demo-")
    server = gw = bus = agent = None
    spaces, hostapds = [], []
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
        pan = can_use_netns()
        ctrl = os.path.join(work, "ctrl")
        os.makedirs(ctrl, mode=0o700)
        port = free_port()
        if pan:
            spaces = [NetNs(1).create(), NetNs(2).create(), NetNs(3).create()]
            secure, open_bss = spaces[1], spaces[2]
            hostapds = [FakeHostapd(os.path.join(ctrl, secure.ifname),
                                    {secure.pne_mac: ("SAE", "CCMP")}),
                        FakeHostapd(os.path.join(ctrl, open_bss.ifname),
                                    {open_bss.pne_mac: (None, None)}, open_bss=True)]
            extra = (f"[pan]\nlisten = [::]:{port}\nhostapd-control = "
                     f"{hostapds[0].path};{hostapds[1].path}\n"
                     f"control-directory = {ctrl}/gw\n")
        else:
            extra = f"[pan]\nlisten = 127.0.0.1:{port}\n"
        gw = Gateway(work, server, "gw-demo-0001", extra_config=extra)
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

        step("5. Three PNEs join over Wi-Fi, one per EUKey path")
        if not pan:
            say("   (skipped: network namespaces need root and iproute2)")
        else:
            pne = os.environ.get("CPNS_PNE", os.path.join(build, "src/pne/cpns-pne"))
            say("   each PNE runs in its own network namespace, linked to the gateway by "
                "a veth pair;\n   a fake hostapd tells pngwd how each Wi-Fi station is "
                "secured (the gateway is the AP)")
            say(f"   watch   at {spaces[0].pne_v4}: has a UI            (link without "
                "hostapd: wired, not trusted)")
            say(f"   speaker at {spaces[1].pne_v4}: no UI               (WPA3-SAE with "
                "CCMP: secure)")
            say(f"   sensor  at {spaces[2].pne_v4}: no UI, factory TK   (open Wi-Fi: "
                "not secure)")
            server.admin("manifest", "import", write_manifest(work))
            say("   the manufacturer's manifest with the sensor's Temporary Key is imported")
            say("   $ pngwctl agent --user demo@example.org --password-file FILE &   "
                "(answers for the PNEs without UI)")
            agent = subprocess.Popen([pngwctl, "agent", "--user", USER,
                                      "--password-file", pw],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            gateway = f"{{}}:{port}"
            for i, (ident, name, extra_args) in enumerate([
                    ("pne-watch", "watch", ["--user", USER, "--password-file", pw]),
                    ("pne-speaker", "speaker", []),
                    ("pne-sensor", "sensor", [])]):
                ns = spaces[i]
                state = os.path.join(work, ident)
                init = ["init", "--state-dir", state, "--entity-id", ident]
                if ident == "pne-sensor":
                    init += ["--tk-kid", TK_KID, "--tk", TK]
                subprocess.run(ns.argv([pne] + init), check=True, capture_output=True)
                show_pne(ns.argv([pne, "run", "--state-dir", state, "--entity-id", ident,
                                  "--name", name, "--gateway",
                                  gateway.format(ns.gw_v4), "--send-gw", "hello gateway",
                                  "--send-server", "hello server", "--queued",
                                  "hello later", "--json"] + extra_args), f"{name:7}")
            say("   $ pngwctl pne list")
            for line in subprocess.run([pngwctl, "pne", "list"], capture_output=True,
                                       text=True, timeout=30).stdout.splitlines():
                say(f"   pngwctl | {line}")
            shown = follow(gw.process, r"PNE pne-sensor .*ready", shown)
            say("   the gateway's keystore holds a LocalEUKey per PNE and never the PNEs' "
                "EUKeys or TKs:")
            say("   " + ", ".join(sorted(gw.keystore())))
            say("   a PNE reconnecting later goes straight to its session (path 0):")
            ns = spaces[0]
            show_pne(ns.argv([pne, "run", "--state-dir", os.path.join(work, "pne-watch"),
                              "--entity-id", "pne-watch", "--name", "watch", "--gateway",
                              gateway.format(ns.gw_v4), "--send-gw", "again", "--json"]),
                     "watch  ")

        step("6. The server restarts; the gateway notices and reconnects by itself")
        server.stop()
        say("   cpns-server stopped")
        shown = follow(gw.process, r"unreachable|not available", shown)
        time.sleep(1)
        server.start()
        say("   cpns-server started again (sessions are not kept across restarts)")
        shown = follow(gw.process, r"secure session 2 with", shown)

        step("7. A wrong password gets a Key Delivery without EUKey")
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
            "both sides,\nthree PNEs provisioned by the three EUKey paths and talking to "
            "the gateway and the server,\na secure session re-established after a server "
            "restart, and a wrong password refused.")
        return 0
    finally:
        if agent:
            agent.terminate()
            agent.wait()
        for h in hostapds:
            h.stop()
        for ns in spaces:
            ns.destroy()
        if gw:
            gw.stop()
        if server:
            server.stop()
        if bus:
            bus.stop()
        if not os.environ.get("PNGW_KEEP_TEST_DIR"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            say(f"(kept {work})")


if __name__ == "__main__":
    sys.exit(main())
