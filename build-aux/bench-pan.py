#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""PN GW benchmark: what pngwd adds between PNEs and the CPNS Server.

    build-aux/run bench                            (after the other benchmarks)
    /usr/bin/python3 build-aux/bench-pan.py build-release [--seconds 5]
        [--rate 1000] [--senders 16] [--rounds 3] [--count 1000] [--size 64]

One run starts a real cpns-server (HTTPS on loopback, fresh database), a
user, and a real pngwd enrolled with --enroll whose PAN listener is on
loopback TCP, on a private D-Bus system bus (so it exports an object per
PNE, as in production) with the environment of systemd/pngwd.service;
tests/bench/pne-swarm plays the PNEs (path 7.4.1, one
keystore and one TCP connection each, one process).  Then:

 1. latency at a fixed rate (--rate messages/s in total over --senders
    PNEs, DATA content type 0 of --size bytes, encrypted, echoed):
      direct   the same PNEs straight to the server over HTTPS (libcurl,
               their own sessions with their EUKeys): the reference;
      through  PNE -> TCP -> pngwd -> HTTPS -> server and back;
      gateway  PNE -> pngwd's own echo;
    in --rounds alternating slices of --seconds each; every statistic is the
    best of its slices (load on a shared machine hits both sides alike).
    The latency the gateway adds is through minus direct.
 2. saturation: as many messages as the answers allow, one in flight per
    PNE (pngwd relays one message of a PNE at a time), 4 x --senders PNEs.
 3. memory, measured first on the fresh pngwd: its VmRSS and RssAnon
    before and with --count idle PNE sessions that all connected at once and
    were provisioned, and after they left; the latency of 1. is measured
    again while those sessions are open.

Targets printed beside the figures: at most 4 KiB per idle session; p99
added latency below 1 ms at 1,000 messages/s on loopback.  Nothing is
asserted: figures and ratios only.  PNGW_KEEP_BENCH_DIR=1 keeps the
logs."""

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from harness import TestCA, Server, Gateway, PrivateBus, free_port  # noqa: E402

USER, PASSWORD = "bench-owner", "bench password"
SESSION = r"secure session (\d+) with cpns-server established"
TARGET_KIB = 4.0
TARGET_P99_ADDED_US = 1000.0


def unit_environment():
    """The Environment= lines of systemd/pngwd.service: pngwd is measured as
    it runs in production."""
    env = {}
    with open(os.path.join(SRC, "systemd", "pngwd.service")) as f:
        for line in f:
            if line.startswith("Environment="):
                key, _, value = line.strip()[len("Environment="):].partition("=")
                env[key] = value
    return env


def memory(pid):
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                values[key] = int(rest.split()[0])
    return values


class Swarm:
    """A pne-swarm child and its JSON lines."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def wait_for(self, events, timeout=900):
        deadline = time.monotonic() + timeout
        while True:
            try:
                obj = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    return None
                continue
            if obj is None:
                return None
            self.seen.append(obj)
            if obj["event"] in events:
                return obj

    def finish(self, timeout=120):
        """Reads to the end; the exit status and every object seen."""
        self.wait_for(set(), timeout)
        code = self.proc.wait(timeout=timeout)
        self.proc.stdout.close()
        return code, self.seen

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.finish()


class Bench:

    def __init__(self, args):
        self.args = args
        build = os.path.abspath(args.builddir)
        os.environ.setdefault("CPNS_SERVER", os.path.join(build, "src/server/cpns-server"))
        os.environ.setdefault("CPNS_ADMIN", os.path.join(build, "src/server/cpns-admin"))
        os.environ.setdefault("PNGWD", os.path.join(build, "src/gateway/pngwd"))
        self.swarm_bin = os.path.join(build, "tests/bench/pne-swarm")
        self.work = tempfile.mkdtemp(prefix="pngw-bench-pan-")
        self.pw = os.path.join(self.work, "password")
        with open(self.pw, "w") as f:
            f.write(PASSWORD + "\n")
        self.server = None
        self.gateway = None
        self.bus = None
        self.port = free_port()

    # ---- parts ----

    def start(self):
        # On a bus, as in production: pngwd then exports an object per PNE,
        # and that is part of what an idle session costs.
        self.bus = PrivateBus(self.work).start()
        self.ca = TestCA(self.work)
        self.server = Server(self.work, self.ca).start()
        self.server.add_user(USER, PASSWORD, iterations=1000)
        self.gateway = Gateway(self.work, self.server, extra_config=f"""
[pan]
listen = 127.0.0.1:{self.port}
max-links = {max(2000, self.args.count + 200)}
idle-timeout = 3600
""")
        saved = dict(os.environ)
        os.environ.update(unit_environment())
        try:
            self.gateway.start(enroll=USER, password=PASSWORD)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.gateway.process.wait_for(SESSION, timeout=30)
        self.gateway.process.wait_for(r"listening for PNEs")

    def stop(self):
        if self.gateway:
            self.gateway.stop()
        if self.server:
            self.server.stop()
        if self.bus:
            self.bus.stop()
        if os.environ.get("PNGW_KEEP_BENCH_DIR"):
            print(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def gw_memory(self):
        return memory(self.gateway.process.proc.pid)

    def swarm_argv(self, *extra):
        return [self.swarm_bin, "--json", "--user", USER, "--password-file", self.pw,
                "--size", str(self.args.size)] + list(extra)

    def latency(self, mode, rate, senders, prefix="lat"):
        """One slice: a list of 'latency' objects (one per destination)."""
        common = ["--prefix", prefix, "--state-dir", os.path.join(self.work, "pnes"),
                  "--latency", "--rate", str(rate), "--senders", str(senders),
                  "--seconds", str(self.args.seconds), "--warmup", "1"]
        if mode == "direct":
            argv = self.swarm_argv("--direct", self.server.url, "--ca", self.ca.ca_file,
                                   *common)
        else:
            argv = self.swarm_argv("--gateway", f"127.0.0.1:{self.port}", "--count",
                                   str(senders), *common)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        out = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        if result.returncode != 0:
            print(f"  ({mode} slice failed, exit {result.returncode}: "
                  f"{result.stderr.strip()[-300:]})", flush=True)
        return [o for o in out if o["event"] == "latency"]

    # ---- the three parts ----

    def run_latency(self, label):
        a = self.args
        best = {}
        for r in range(a.rounds):
            for mode in ("direct", "through"):
                for obj in self.latency(mode, a.rate, a.senders):
                    key = "gateway" if obj["to"] == "gateway" else mode
                    b = best.setdefault(key, {"msgs_per_s": 0})
                    for stat in ("p50_us", "p99_us", "mean_us"):
                        if obj[stat] is not None:
                            b[stat] = min(b.get(stat, float("inf")), obj[stat])
                    b["msgs_per_s"] = max(b["msgs_per_s"], obj["msgs_per_s"])
                    b["errors"] = b.get("errors", 0) + obj["errors"]
        print(f"latency {label}: {a.rate:g} msgs/s over {a.senders} PNEs, {a.size} B DATA, "
              f"best of {a.rounds} slices of {a.seconds:g} s")
        print(f"  {'':28} {'p50':>9} {'p99':>9} {'mean':>9} {'msgs/s':>8}")
        names = {"direct": "direct PNE -> server", "through": "PNE -> pngwd -> server",
                 "gateway": "PNE -> pngwd echo"}
        for key in ("direct", "through", "gateway"):
            b = best.get(key)
            if b is None or "p50_us" not in b:
                print(f"  {names[key]:28} (no figures)")
                continue
            print(f"  {names[key]:28} {b['p50_us']:7.0f}us {b['p99_us']:7.0f}us "
                  f"{b['mean_us']:7.0f}us {b['msgs_per_s']:8.0f}"
                  + (f"  ({b['errors']} errors)" if b["errors"] else ""))
        d, t = best.get("direct"), best.get("through")
        if d and t and "p50_us" in d and "p50_us" in t:
            add50 = t["p50_us"] - d["p50_us"]
            add99 = t["p99_us"] - d["p99_us"]
            print(f"  added by pngwd: p50 {add50:+.0f} us ({t['p50_us'] / d['p50_us']:.2f}x "
                  f"direct), p99 {add99:+.0f} us ({t['p99_us'] / d['p99_us']:.2f}x); "
                  f"target p99 added < {TARGET_P99_ADDED_US:.0f} us: "
                  f"{'met' if add99 < TARGET_P99_ADDED_US else 'NOT met'}")
        print(flush=True)
        return best

    def run_saturation(self):
        a = self.args
        k = 4 * a.senders
        print(f"saturation: one message in flight per PNE, {k} PNEs, {a.size} B DATA, "
              f"best of {a.rounds} slices of {a.seconds:g} s")
        best = {}
        for r in range(a.rounds):
            for mode in ("direct", "through"):
                for obj in self.latency(mode, 0, k, prefix="sat"):
                    key = "gateway" if obj["to"] == "gateway" else mode
                    b = best.setdefault(key, {"msgs_per_s": 0, "p50_us": float("inf")})
                    b["msgs_per_s"] = max(b["msgs_per_s"], obj["msgs_per_s"])
                    if obj["p50_us"] is not None:
                        b["p50_us"] = min(b["p50_us"], obj["p50_us"])
        names = {"direct": "direct PNE -> server", "through": "PNE -> pngwd -> server",
                 "gateway": "PNE -> pngwd echo"}
        for key in ("direct", "through", "gateway"):
            b = best.get(key)
            if b:
                print(f"  {names[key]:28} {b['msgs_per_s']:8.0f} msgs/s  (p50 round trip "
                      f"{b['p50_us']:.0f} us)")
        if "direct" in best and "through" in best and best["direct"]["msgs_per_s"]:
            print(f"  through pngwd / direct: "
                  f"{best['through']['msgs_per_s'] / best['direct']['msgs_per_s']:.2f}")
        print(flush=True)

    def run_memory(self):
        """On the fresh gateway: RSS before, with the idle sessions, and after
        they left; the latency with them open in between."""
        a = self.args
        n = a.count
        print(f"memory: {n} PNEs connecting at once to a fresh pngwd, provisioned "
              f"(path 7.4.1), then idle")
        time.sleep(1)
        m0 = self.gw_memory()
        swarm = Swarm(self.swarm_argv("--gateway", f"127.0.0.1:{self.port}", "--count",
                                      str(n), "--prefix", "idle", "--state-dir",
                                      os.path.join(self.work, "idle"), "--stay"))
        ready = swarm.wait_for({"all-ready", "summary"})
        summary = swarm.wait_for({"summary"}, timeout=30)
        if ready is None or ready["event"] != "all-ready":
            code, seen = swarm.stop()
            fails = [o for o in seen if o["event"] == "failed"][:3]
            print(f"  the swarm did not get ready (exit {code}): {fails}\n", flush=True)
            return
        # Idle: pngwd gives a burst's heap back after 3 quiet seconds.
        time.sleep(6)
        m1 = self.gw_memory()
        print(f"  {n} ready in {ready['seconds']:.1f} s ({summary['retries']} retries: "
              f"connections pngwd's listen queue dropped, relays that timed out)")
        print(f"  pngwd VmRSS {m0['VmRSS']} -> {m1['VmRSS']} KiB, RssAnon {m0['RssAnon']} -> "
              f"{m1['RssAnon']} KiB")
        per = (m1["RssAnon"] - m0["RssAnon"]) / n
        per_rss = (m1["VmRSS"] - m0["VmRSS"]) / n
        print(f"  per idle session: {per:.1f} KiB RssAnon, {per_rss:.1f} KiB VmRSS "
              f"(target <= {TARGET_KIB:g} KiB: {'met' if per <= TARGET_KIB else 'NOT met'}, "
              f"{per / TARGET_KIB:.1f}x the target)\n", flush=True)
        self.run_latency(f"with {n} idle sessions open")
        swarm.stop()
        time.sleep(6)
        m2 = self.gw_memory()
        print(f"  after the {n} idle PNEs left: RssAnon {m2['RssAnon']} KiB "
              f"({(m2['RssAnon'] - m0['RssAnon']) / n:.1f} KiB per PNE kept: known PNEs, "
              f"their keys, and heap not given back)\n", flush=True)


def main():
    p = argparse.ArgumentParser(usage="bench-pan.py [BUILDDIR] [options]",
                                description="PN GW benchmark (see the top of the file)")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--senders", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--size", type=int, default=64)
    argv = sys.argv[1:]
    builddir = "build-release"
    if argv and not argv[0].startswith("-"):
        builddir = argv.pop(0)
    # build-aux/run bench passes its arguments on: those of cpns-bench (and
    # their values) are not ours.
    args, _ = p.parse_known_args(argv)
    args.builddir = builddir
    bench = Bench(args)
    try:
        bench.start()
        print(f"pngwd {bench.gateway.entity_id} on 127.0.0.1:{bench.port}, cpns-server at "
              f"{bench.server.url}; pne-swarm PNEs over loopback TCP\n", flush=True)
        bench.run_memory()
        bench.run_latency("without other sessions")
        bench.run_saturation()
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
