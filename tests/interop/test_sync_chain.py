"""Synchronisation interop.

upstream chronyd -x (local stratum 8) -> gnomond -x -> downstream chronyd -x.
gnomond selects the upstream within 15 s; the downstream sees gnomond at
stratum 9 with the upstream's refid (127.0.0.1); the chain holds for 60 s with
reach 377 at both hops.
"""

import os
import re
import subprocess
import time

from harness import Failure, check, chronyc, free_udp_port, run_test, source_rows, wait_until


def gnomonc(env, args, port):
    r = subprocess.run([env.gnomonc, "-n", "-h", "127.0.0.1", "-p", str(port), *args],
                       capture_output=True, text=True, timeout=20)
    return r.stdout + r.stderr


def body(env):
    up_port, up_cmd = free_udp_port(), free_udp_port()
    g_port, g_cmd = free_udp_port(), free_udp_port()
    down_cmd = free_udp_port()

    env.start_chronyd([
        "local stratum 8", "allow 127.0.0.0/8", f"port {up_port}",
        f"cmdport {up_cmd}", "bindcmdaddress 127.0.0.1",
    ], name="upstream")

    t0 = time.monotonic()
    env.start_gnomond(f"""
[[source]]
address = "127.0.0.1"
port = {up_port}
iburst = true
minpoll = 0
maxpoll = 0

[server]
listen = ["127.0.0.1:{g_port}"]
allow = ["127.0.0.0/8"]
threads = 1

[clock]
control = false
driftfile = ""

[control]
socket = ""
listen = ["127.0.0.1:{g_cmd}"]
""")

    def g_selected():
        rows = source_rows(gnomonc(env, ["sources"], g_cmd))
        return rows and rows[0]["state"] == "*" and rows[0]
    row = wait_until(g_selected, 15, interval=0.25, what="gnomond to select the upstream chronyd")
    print(f"gnomond selected the upstream after {time.monotonic() - t0:.1f}s: {row['line']}")
    check(row["stratum"] == 8, f"upstream stratum shown as {row['stratum']}")

    sockdir = env.path("down")
    os.mkdir(sockdir, 0o700)
    sock = os.path.join(sockdir, "chronyd.sock")
    env.start_chronyd([
        f"server 127.0.0.1 port {g_port} iburst minpoll 0 maxpoll 0", "port 0",
        f"cmdport {down_cmd}", "bindcmdaddress 127.0.0.1", f"bindcmdaddress {sock}",
    ], name="downstream")

    def d_selected():
        rows = source_rows(chronyc(["sources"], port=down_cmd))
        return rows and rows[0]["state"] == "*" and rows[0]
    row = wait_until(d_selected, 30, interval=0.5, what="downstream chronyd to select gnomond")
    check(row["stratum"] == 9, f"downstream sees gnomond at stratum {row['stratum']}, want 9")

    nd = chronyc(["ntpdata", "127.0.0.1"], host=sock, port=None)
    print(nd)
    m = re.search(r"Reference ID\s*:\s*([0-9A-F]{8})", nd)
    check(m and m.group(1) == "7F000001", f"gnomond's refid should be 127.0.0.1's (7F000001):\n{nd}")
    m = re.search(r"Stratum\s*:\s*(\d+)", nd)
    check(m and int(m.group(1)) == 9, "ntpdata stratum should be 9")

    # The chain holds for 60 s with reach 377 at both hops.
    wait_until(lambda: source_rows(chronyc(["sources"], port=down_cmd))[0]["reach"] == 0o377, 20,
               what="downstream reach 377")
    wait_until(lambda: source_rows(gnomonc(env, ["sources"], g_cmd))[0]["reach"] == 0o377, 20,
               what="gnomond reach 377")
    end = time.monotonic() + 60
    checks = 0
    while time.monotonic() < end:
        g = source_rows(gnomonc(env, ["sources"], g_cmd))
        d = source_rows(chronyc(["sources"], port=down_cmd))
        check(g and g[0]["state"] == "*" and g[0]["reach"] == 0o377, f"gnomond hop broke: {g}")
        check(d and d[0]["state"] == "*" and d[0]["reach"] == 0o377 and d[0]["stratum"] == 9,
              f"downstream hop broke: {d}")
        checks += 1
        time.sleep(5)
    print(f"chain held for 60 s ({checks} checks)")
    print(gnomonc(env, ["sources"], g_cmd))
    print(chronyc(["sources"], port=down_cmd))


run_test("sync_chain", body)
