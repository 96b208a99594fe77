#!/usr/bin/env python3
"""Serve the same NTP load from gnomond and from a real chronyd, and compare.

Both servers get the same settings: `local stratum 10`, allow 127.0.0.0/8,
the same client-log limit (and rate limit, if asked), one thread, pinned to
the same core (taskset -c SERVER_CPU). gnomon-load drives each in turn from
another core (taskset -c LOAD_CPU) with a closed window of requests from many
loopback source addresses. Printed per server: replies/s, the server's CPU
time per reply (utime + stime from /proc/PID/stat over the measured run),
RSS when idle and after the load, and the ratios gnomond / chronyd.

chronyd runs with -x (never touches the clock), -u root, a private config,
pidfile and driftfile in a temp dir, on a free high port, with no command
port. Both daemons are stopped by PID at the end.

    python3 scripts/compare_chronyd.py --build-dir build
    python3 scripts/compare_chronyd.py --build-dir build --flood 1000000
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port >= 10000:
            return port
    raise SystemExit("no free port")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    return int(fields[11]) + int(fields[12])


def rss_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(val.split()[0])
    return out


def ntp_answers(port, timeout=0.3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(bytes([0x23]) + bytes(39) + os.urandom(8), ("127.0.0.1", port))
        data, _ = s.recvfrom(512)
        return len(data) >= 48
    except OSError:
        return False
    finally:
        s.close()


def wait_answering(proc, port, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited early (status {proc.returncode})")
        if ntp_answers(port):
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} does not answer on port {port}")


class Servers:
    """The daemons of one comparison, pinned to the server CPU, with their logs
    in a private temporary directory."""

    def __init__(self, args, prefix="gnomon-compare-"):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.dir, 0o700)
        self.procs = []

    def start(self, argv, name):
        log = open(os.path.join(self.dir, name + ".log"), "w")
        p = subprocess.Popen(["taskset", "-c", str(self.args.server_cpu)] + argv, stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def gnomond(self, port):
        a = self.args
        rl = ""
        if a.ratelimit:
            iv, burst, leak = a.ratelimit
            rl = f"\n[server.ratelimit]\ninterval = {iv}\nburst = {burst}\nleak = {leak}\n"
        conf = os.path.join(self.dir, "gnomond.toml")
        with open(conf, "w") as f:
            f.write(f"""[local]
stratum = 10

[server]
listen = ["127.0.0.1:{port}"]
allow = ["127.0.0.0/8"]
threads = {a.threads}
clientloglimit = {a.clientloglimit}
{rl}
[clock]
control = false
driftfile = ""

[control]
socket = ""
listen = []
""")
        binary = os.path.join(os.path.abspath(a.build_dir), "daemon", "gnomond")
        return self.start([binary, "-x", "-d", "-f", conf], "gnomond")

    def chronyd(self, port):
        a = self.args
        lines = [
            f"port {port}",
            "bindaddress 127.0.0.1",
            "cmdport 0",
            "allow 127.0.0.0/8",
            "local stratum 10",
            f"pidfile {os.path.join(self.dir, 'chronyd.pid')}",
            f"driftfile {os.path.join(self.dir, 'chronyd.drift')}",
        ]
        if a.clientloglimit == 0:
            lines.append("noclientlog")
        else:
            lines.append(f"clientloglimit {a.clientloglimit}")
        if a.ratelimit:
            iv, burst, leak = a.ratelimit
            lines.append(f"ratelimit interval {iv} burst {burst} leak {leak}")
        conf = os.path.join(self.dir, "chronyd.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        return self.start(["chronyd", "-x", "-d", "-u", "root", "-f", conf], "chronyd")

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)

    def cleanup(self):
        for p in self.procs:
            self.stop(p)
        shutil.rmtree(self.dir, ignore_errors=True)


def drive(args, port, duration, sources, source_base="127.1.0.0", window=None):
    load = os.path.join(os.path.abspath(args.build_dir), "tools", "gnomon-load")
    argv = ["taskset", "-c", str(args.load_cpu), load, "--port", str(port), "--duration", str(duration),
            "--window", str(window or args.window), "--sources", str(sources), "--source-base", source_base,
            "--timeout", "0.5", "--json"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    if r.returncode != 0:
        raise SystemExit(f"gnomon-load failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def measure(args, which, servers):
    port = free_port()
    proc = servers.gnomond(port) if which == "gnomond" else servers.chronyd(port)
    wait_answering(proc, port, which)
    time.sleep(0.5)
    idle = rss_kb(proc.pid)
    drive(args, port, 1.0, args.sources)  # warm-up: fills the client log
    runs = []
    for _ in range(args.rounds):
        t0 = cpu_ticks(proc.pid)
        res = drive(args, port, args.duration, args.sources)
        t1 = cpu_ticks(proc.pid)
        cpu_s = (t1 - t0) / CLK_TCK
        runs.append({"rps": res["replies_per_s"], "cpu_us": cpu_s * 1e6 / max(1, res["replies"]),
                     "loss": res["loss"], "invalid": res["invalid"]})
    loaded = rss_kb(proc.pid)
    flood = None
    if args.flood:
        res = drive(args, port, args.flood_duration, args.flood, source_base="127.2.0.0", window=1024)
        flood = {"distinct": args.flood, "sent": res["sent"], "rss": rss_kb(proc.pid)}
    servers.stop(proc)
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "cpu_us": statistics.median(r["cpu_us"] for r in runs),
        "runs": runs,
        "idle": idle,
        "loaded": loaded,
        "flood": flood,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default="build")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (10)")
    p.add_argument("--rounds", type=int, default=3, help="measured runs per server; medians are shown (3)")
    p.add_argument("--window", type=int, default=256, help="requests in flight (256)")
    p.add_argument("--sources", type=int, default=1000, help="distinct client addresses (1000)")
    p.add_argument("--threads", type=int, default=1, help="gnomond worker threads (1)")
    p.add_argument("--clientloglimit", type=int, default=524288, help="bytes, both servers; 0 = noclientlog")
    p.add_argument("--ratelimit", type=int, nargs=3, metavar=("INTERVAL", "BURST", "LEAK"))
    p.add_argument("--flood", type=int, default=0, metavar="N",
                   help="after the runs, send from N distinct addresses and report RSS")
    p.add_argument("--flood-duration", type=float, default=20.0)
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--load-cpu", type=int, default=1)
    args = p.parse_args()
    if not shutil.which("chronyd") or not shutil.which("taskset"):
        raise SystemExit("needs chronyd and taskset")
    if args.rounds < 1 or not 0 < args.duration <= 600:
        raise SystemExit("rounds >= 1 and duration in (0, 600] please")

    servers = Servers(args)
    try:
        g = measure(args, "gnomond", servers)
        c = measure(args, "chronyd", servers)
    finally:
        servers.cleanup()

    print(f"load: window {args.window}, {args.sources} source addresses, {args.rounds} x {args.duration:g} s; "
          f"servers on CPU {args.server_cpu}, load on CPU {args.load_cpu}; clientloglimit {args.clientloglimit}"
          + (f"; ratelimit {' '.join(map(str, args.ratelimit))}" if args.ratelimit else "")
          + f"; gnomond threads {args.threads}")
    print(f"{'':10}{'replies/s':>12}{'CPU us/reply':>14}{'RSS idle kB':>13}{'anon kB':>9}{'RSS loaded kB':>15}")
    for name, r in (("gnomond", g), ("chronyd", c)):
        print(f"{name:10}{r['rps']:>12.0f}{r['cpu_us']:>14.3f}{r['idle'].get('VmRSS', 0):>13}"
              f"{r['idle'].get('RssAnon', 0):>9}{r['loaded'].get('VmRSS', 0):>15}")
    print(f"{'ratio':10}{g['rps'] / c['rps']:>12.3f}{g['cpu_us'] / c['cpu_us']:>14.3f}"
          f"{g['idle'].get('VmRSS', 0) / max(1, c['idle'].get('VmRSS', 1)):>13.3f}")
    for name, r in (("gnomond", g), ("chronyd", c)):
        runs = ", ".join(f"{x['rps']:.0f}/s {x['cpu_us']:.3f} us" for x in r["runs"])
        lost = max(x["loss"] for x in r["runs"])
        bad = sum(x["invalid"] for x in r["runs"])
        print(f"  {name} runs: {runs}; worst loss {lost * 100:.3f}%, invalid replies {bad}")
        if r["flood"]:
            f = r["flood"]
            print(f"  {name} after {f['sent']} requests from {f['distinct']} addresses: RSS {f['rss'].get('VmRSS')} kB "
                  f"(anon {f['rss'].get('RssAnon')} kB)")


if __name__ == "__main__":
    main()
