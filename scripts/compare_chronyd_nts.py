#!/usr/bin/env python3
"""Serve the same NTS (RFC 8915) load from gnomond and from a real chronyd.

Both servers get the same certificate (self-signed P-256, made here with the
openssl CLI), `local stratum 10`, allow 127.0.0.0/8, one thread, and are
pinned to the same core (taskset -c SERVER_CPU). gnomon-nts-load drives each
in turn from another core (taskset -c LOAD_CPU): one NTS-KE exchange per
session, then a closed window of signed steady-state requests (one cookie, no
placeholder) spread over the sessions' keys; every reply is checked and the
first ones are authenticated. Rounds alternate between the two servers, so a
busy machine penalises both alike. Printed per server: replies/s and the
server's CPU time per reply (utime + stime from /proc/PID/stat), medians of
the rounds, and the ratios gnomond / chronyd.

chronyd runs with -x (never touches the clock), -u root, a private config,
pidfile, driftfile and ntsdumpdir in a temp dir, on free high ports, with no
command port. Both daemons are stopped by PID at the end.

    python3 scripts/compare_chronyd_nts.py --build-dir build
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

# The port and CPU-accounting helpers are the plain comparison's.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_chronyd  # noqa: E402
from compare_chronyd import CLK_TCK, cpu_ticks, free_port  # noqa: E402


def wait_tcp(proc, port, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited early (status {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.3):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} does not accept NTS-KE on port {port}")


class Servers(compare_chronyd.Servers):
    """compare_chronyd's servers with NTS: a fresh self-signed certificate."""

    def __init__(self, args):
        super().__init__(args, prefix="gnomon-compare-nts-")
        self.cert = os.path.join(self.dir, "server.crt")
        self.key = os.path.join(self.dir, "server.key")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"openssl failed: {r.stderr}")

    def gnomond(self, port, ke_port):
        conf = os.path.join(self.dir, "gnomond.toml")
        with open(conf, "w") as f:
            f.write(f"""[local]
stratum = 10

[server]
listen = ["127.0.0.1:{port}"]
allow = ["127.0.0.0/8"]
threads = {self.args.threads}

[nts]
listen = ["127.0.0.1:{ke_port}"]
certificate = "{self.cert}"
key = "{self.key}"
keydir = "{os.path.join(self.dir, 'gnomond-nts')}"

[clock]
control = false
driftfile = ""

[control]
socket = ""
listen = []
""")
        binary = os.path.join(os.path.abspath(self.args.build_dir), "daemon", "gnomond")
        return self.start([binary, "-x", "-f", conf], "gnomond")

    def chronyd(self, port, ke_port):
        dump = os.path.join(self.dir, "chronyd-nts")
        os.makedirs(dump, exist_ok=True)
        lines = [
            f"port {port}", "bindaddress 127.0.0.1", "cmdport 0", "allow 127.0.0.0/8", "local stratum 10",
            f"ntsserverkey {self.key}", f"ntsservercert {self.cert}", f"ntsport {ke_port}", f"ntsdumpdir {dump}",
            f"pidfile {os.path.join(self.dir, 'chronyd.pid')}",
            f"driftfile {os.path.join(self.dir, 'chronyd.drift')}",
        ]
        conf = os.path.join(self.dir, "chronyd.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        return self.start(["chronyd", "-x", "-d", "-u", "root", "-f", conf], "chronyd")


def drive(args, servers, port, ke_port, duration):
    load = os.path.join(os.path.abspath(args.build_dir), "tools", "gnomon-nts-load")
    argv = ["taskset", "-c", str(args.load_cpu), load, "--server", "127.0.0.1", "--port", str(port),
            "--ke-port", str(ke_port), "--trusted", servers.cert, "--duration", str(duration),
            "--window", str(args.window), "--sessions", str(args.sessions), "--timeout", "0.5", "--json"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if r.returncode != 0:
        raise SystemExit(f"gnomon-nts-load failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default="build")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measured run (5)")
    p.add_argument("--rounds", type=int, default=3, help="measured runs per server; medians are shown (3)")
    p.add_argument("--window", type=int, default=128, help="requests in flight (128)")
    p.add_argument("--sessions", type=int, default=16, help="NTS-KE sessions (client keys) in the load (16)")
    p.add_argument("--threads", type=int, default=1, help="gnomond worker threads (1)")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--load-cpu", type=int, default=1)
    args = p.parse_args()
    if not shutil.which("chronyd") or not shutil.which("taskset"):
        raise SystemExit("needs chronyd and taskset")
    if args.rounds < 1 or not 0 < args.duration <= 600:
        raise SystemExit("rounds >= 1 and duration in (0, 600] please")

    servers = Servers(args)
    results = {"gnomond": [], "chronyd": []}
    try:
        procs = {}
        for name in ("gnomond", "chronyd"):
            port, ke_port = free_port(), free_port()
            proc = servers.gnomond(port, ke_port) if name == "gnomond" else servers.chronyd(port, ke_port)
            wait_tcp(proc, ke_port, name)
            procs[name] = (proc, port, ke_port)
            drive(args, servers, port, ke_port, 1.0)  # warm-up
        for _ in range(args.rounds):
            for name, (proc, port, ke_port) in procs.items():
                t0 = cpu_ticks(proc.pid)
                res = drive(args, servers, port, ke_port, args.duration)
                t1 = cpu_ticks(proc.pid)
                res["cpu_us"] = (t1 - t0) / CLK_TCK * 1e6 / max(1, res["replies"])
                results[name].append(res)
    finally:
        servers.cleanup()

    print(f"NTS load: window {args.window}, {args.sessions} NTS-KE sessions, {args.rounds} x {args.duration:g} s "
          f"(alternating); servers on CPU {args.server_cpu}, load on CPU {args.load_cpu}; "
          f"gnomond threads {args.threads}; request {results['gnomond'][0]['request_bytes']} bytes")
    print(f"{'':10}{'replies/s':>12}{'CPU us/reply':>14}")
    med = {}
    for name, runs in results.items():
        med[name] = (statistics.median(r["replies_per_s"] for r in runs), statistics.median(r["cpu_us"] for r in runs))
        print(f"{name:10}{med[name][0]:>12.0f}{med[name][1]:>14.2f}")
    g, c = med["gnomond"], med["chronyd"]
    print(f"{'ratio':10}{g[0] / c[0]:>12.3f}{g[1] / c[1]:>14.3f}")
    for name, runs in results.items():
        detail = ", ".join(f"{r['replies_per_s']:.0f}/s {r['cpu_us']:.2f} us" for r in runs)
        naks = sum(r["naks"] for r in runs)
        bad = sum(r["invalid"] + r["verify_failed"] for r in runs)
        lost = sum(r["lost"] for r in runs)
        ok = sum(r["verified"] for r in runs)
        print(f"  {name} runs: {detail}; NAKs {naks}, invalid or unauthentic {bad}, lost {lost}, "
              f"authenticated {ok}")


if __name__ == "__main__":
    main()
