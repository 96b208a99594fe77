"""Shared helpers for gnomon's interop tests.

Every daemon a test starts runs on loopback high ports with private files in a
temporary directory, and is stopped by its own PID. chronyd always runs with
-x, so this machine's clock is never touched.
"""

import argparse
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

NTP_UNIX_OFFSET = 2208988800


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--build-dir", required=True)
    p.add_argument("--source-dir", required=True)
    return p.parse_args()


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def free_udp_port(host="127.0.0.1"):
    """A UDP port that is free on host and also free for TCP (for NTS-KE)."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((host, 0))
        port = s.getsockname()[1]
        s.close()
        if port >= 10000:
            return port
    raise Failure("no free port")


class Env:
    """A temp dir plus the processes started in it; cleans up on exit."""

    def __init__(self, args, name):
        self.args = args
        self.build = os.path.abspath(args.build_dir)
        self.source = os.path.abspath(args.source_dir)
        self.dir = tempfile.mkdtemp(prefix=f"gnomon-{name}-")
        self.procs = []
        self.name = name

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def gnomond(self):
        return os.path.join(self.build, "daemon", "gnomond")

    @property
    def gnomonc(self):
        return os.path.join(self.build, "tools", "gnomonc")

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def start(self, argv, log_name):
        log = open(self.path(log_name), "w")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        proc.log_path = self.path(log_name)
        self.procs.append(proc)
        return proc

    def start_gnomond(self, conf_text, name="gnomond", extra=()):
        conf = self.write(f"{name}.toml", conf_text)
        return self.start([self.gnomond, "-x", "-d", "-f", conf, *extra], f"{name}.log")

    def start_chronyd(self, conf_lines, name="chronyd"):
        lines = list(conf_lines) + [
            f"pidfile {self.path(name + '.pid')}",
            f"driftfile {self.path(name + '.drift')}",
        ]
        conf = self.write(f"{name}.conf", "\n".join(lines) + "\n")
        # -x: never touch the clock. -u root: no privilege drop, so the temp
        # dir needs no special owner.
        return self.start(["chronyd", "-x", "-d", "-u", "root", "-f", conf], f"{name}.log")

    def stop(self, proc, sig=signal.SIGTERM, timeout=10):
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        return proc.returncode

    def log(self, proc):
        try:
            with open(proc.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self, keep=False):
        for p in self.procs:
            try:
                self.stop(p, timeout=5)
            except Exception:
                pass
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def run_test(name, body):
    """Runs body(env); prints PASS/FAIL and exits with the right code."""
    args = parse_args()
    env = Env(args, name)
    ok = False
    try:
        body(env)
        ok = True
    except Failure as e:
        print(f"FAIL: {name}: {e}")
        for p in env.procs:
            print(f"--- log of {' '.join(p.args[:1])} ({p.log_path}) ---")
            print(env.log(p)[-4000:])
    finally:
        env.cleanup(keep=not ok)
    if ok:
        print(f"PASS: {name}")
        sys.exit(0)
    sys.exit(1)


def wait_until(pred, timeout, interval=0.2, what="condition"):
    """Polls pred() until it returns a truthy value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise Failure(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def wait_udp_answer(port, host="127.0.0.1", timeout=10):
    wait_until(lambda: ntp_query(host, port, timeout=0.3) is not None, timeout, what=f"NTP answers on {host}:{port}")


# --- raw NTP client ---------------------------------------------------------

def ntp_request(version=4, mode=3, tx=None, length=48, poll=0, extra=b""):
    if tx is None:
        tx = os.urandom(8)
    first = (0 << 6) | (version << 3) | mode
    hdr = struct.pack("!BBbb", first, 0, poll, 0) + b"\0" * 36 + tx
    pkt = hdr + extra
    if len(pkt) < length:
        pkt += b"\0" * (length - len(pkt))
    return pkt


def parse_reply(data):
    if len(data) < 48:
        return None
    first, stratum, poll, precision = struct.unpack("!BBbb", data[:4])
    root_delay, root_disp, refid = struct.unpack("!III", data[4:16])
    ref, org, rec, xmt = struct.unpack("!QQQQ", data[16:48])
    return {
        "li": first >> 6, "version": (first >> 3) & 7, "mode": first & 7,
        "stratum": stratum, "poll": poll, "precision": precision,
        "root_delay": root_delay / 65536.0, "root_dispersion": root_disp / 65536.0,
        "refid": refid, "ref": ref, "org": org, "rec": rec, "xmt": xmt, "len": len(data),
    }


def send_raw(payload, port, host="127.0.0.1", bind=None, src_port=0, timeout=0.5):
    """Sends one datagram; returns the reply bytes or None."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        if bind or src_port:
            s.bind((bind or ("::" if fam == socket.AF_INET6 else "0.0.0.0"), src_port))
        s.settimeout(timeout)
        s.sendto(payload, (host, port))
        try:
            data, _ = s.recvfrom(4096)
            return data
        except socket.timeout:
            return None
    finally:
        s.close()


def ntp_query(host, port, bind=None, timeout=0.5, version=4):
    tx = os.urandom(8)
    data = send_raw(ntp_request(version=version, tx=tx), port, host=host, bind=bind, timeout=timeout)
    if data is None:
        return None
    r = parse_reply(data)
    if r is None:
        return None
    r["sent_tx"] = struct.unpack("!Q", tx)[0]
    return r


def chronyc(args, port=None, host="127.0.0.1", timeout=10):
    argv = ["chronyc", "-n"]
    if host:
        argv += ["-h", host]
    if port:
        argv += ["-p", str(port)]
    argv += list(args)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return r.stdout + r.stderr


def source_rows(sources_text):
    """Parses `chronyc sources` rows into dicts."""
    rows = []
    for line in sources_text.splitlines():
        if len(line) < 3 or line[0] not in "^=#" or line[1] not in "*+-x~? ":
            continue
        parts = line[3:].split()
        if len(parts) < 5:
            continue
        rows.append({"mode": line[0], "state": line[1], "name": parts[0], "stratum": int(parts[1]),
                     "poll": int(parts[2]), "reach": int(parts[3], 8), "line": line})
    return rows
