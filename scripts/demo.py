"""The controller demo: start gnomond with conf/demo/controller.toml and show
that real NTP clients get time from it. Only loopback is used, and only the
processes started here are stopped."""

import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import time

CONF = "conf/demo/controller.toml"
NODE_CONF = "conf/demo/compute.toml"
NODE_CTL_PORT = 11324
NTP_PORT = 11123
CTL_PORT = 11323
NTP_UNIX = 2208988800


def query(port):
    tx = os.urandom(8)
    pkt = bytes([0x23]) + b"\0" * 39 + tx
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    try:
        t1 = time.time()
        s.sendto(pkt, ("127.0.0.1", port))
        data, _ = s.recvfrom(512)
        t4 = time.time()
    except OSError:
        return None
    finally:
        s.close()
    li_vn_mode, stratum = data[0], data[1]
    refid = data[12:16]
    rec, xmt = struct.unpack("!QQ", data[32:48])
    t2 = rec / 2**32 - NTP_UNIX
    t3 = xmt / 2**32 - NTP_UNIX
    return {"li": li_vn_mode >> 6, "mode": li_vn_mode & 7, "stratum": stratum,
            "refid": ".".join(str(b) for b in refid), "org_ok": data[24:32] == tx,
            "offset": ((t2 - t1) + (t3 - t4)) / 2, "delay": (t4 - t1) - (t3 - t2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--seconds", type=int, default=60)
    a = ap.parse_args()
    os.makedirs("/tmp/gnomon-demo", mode=0o750, exist_ok=True)
    gnomond = os.path.join(a.build_dir, "daemon", "gnomond")
    print(f"== {gnomond} --check-config -f {CONF}")
    subprocess.run([gnomond, "--check-config", "-f", CONF], check=True)
    print(f"\n== starting the controller: {gnomond} -x -f {CONF}")
    ctl = subprocess.Popen([gnomond, "-x", "-f", CONF])
    procs = [ctl]
    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        deadline = time.monotonic() + 10
        r = None
        while r is None and time.monotonic() < deadline and ctl.poll() is None:
            time.sleep(0.2)
            r = query(NTP_PORT)
        if r is None:
            print("the controller did not answer", file=sys.stderr)
            return 1
        print(f"\n== an NTP client asks 127.0.0.1:{NTP_PORT}")
        print(f"   mode {r['mode']} (server), stratum {r['stratum']}, refid {r['refid']} (LOCL), "
              f"leap {r['li']}, offset {r['offset']*1e6:+.1f} us, delay {r['delay']*1e6:.1f} us, origin echoed: {r['org_ok']}")
        print("\n== chronyd -Q (Debian's chrony, as a one-shot client) asks the controller")
        conf = "/tmp/gnomon-demo/chronyd-q.conf"
        with open(conf, "w") as f:
            f.write(f"server 127.0.0.1 port {NTP_PORT} iburst\nport 0\ncmdport 0\n")
        q = subprocess.run(["chronyd", "-Q", "-u", "root", "-t", "15", "-f", conf],
                           capture_output=True, text=True, timeout=30)
        print("   " + (q.stdout + q.stderr).strip().replace("\n", "\n   "))
        gnomonc = os.path.join(a.build_dir, "tools", "gnomonc")
        for cmd in (["sources"], ["tracking"]):
            print(f"\n== gnomonc -n -h 127.0.0.1 -p {CTL_PORT} {' '.join(cmd)}    (the controller)")
            subprocess.run([gnomonc, "-n", "-h", "127.0.0.1", "-p", str(CTL_PORT), *cmd], timeout=20)
        print(f"\n== starting a compute node: {gnomond} -x -f {NODE_CONF}")
        node = subprocess.Popen([gnomond, "-x", "-f", NODE_CONF])
        procs.append(node)
        t0 = time.monotonic()
        synced = False
        while time.monotonic() - t0 < 20 and node.poll() is None:
            out = subprocess.run([gnomonc, "-n", "-h", "127.0.0.1", "-p", str(NODE_CTL_PORT), "sources"],
                                 capture_output=True, text=True, timeout=20).stdout
            if "^* 127.0.0.1" in out:
                synced = True
                break
            time.sleep(0.5)
        print(f"\n== gnomonc -n -h 127.0.0.1 -p {NODE_CTL_PORT} sources    (the compute node, "
              f"{'synced' if synced else 'NOT synced'} after {time.monotonic() - t0:.1f} s)")
        subprocess.run([gnomonc, "-n", "-h", "127.0.0.1", "-p", str(NODE_CTL_PORT), "sources"], timeout=20)
        subprocess.run([gnomonc, "-n", "-h", "127.0.0.1", "-p", str(NODE_CTL_PORT), "tracking"], timeout=20)
        print(f"\n== serving; querying the controller every 5 s for {a.seconds} s (Ctrl-C to stop)")
        end = time.monotonic() + a.seconds
        while time.monotonic() < end and not stop["now"] and ctl.poll() is None:
            r = query(NTP_PORT)
            if r:
                print(f"   stratum {r['stratum']} refid {r['refid']} offset {r['offset']*1e6:+8.1f} us "
                      f"delay {r['delay']*1e6:6.1f} us")
            for _ in range(25):
                if stop["now"]:
                    break
                time.sleep(0.2)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=10)
    print(f"== controller exited with code {ctl.returncode}")
    return 0 if ctl.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
