"""Debian's unmodified chronyc against gnomond.

Over UDP on a high port: sources, sourcestats, tracking and activity work.
Over the Unix socket: every command gnomond serves works. The output is
checked for correctness: gnomond's selected source is the `*` row, and
tracking's Reference ID and Stratum are what gnomond serves.
"""

import os
import re

from harness import check, chronyc, free_udp_port, ntp_query, run_test, source_rows, wait_until


def body(env):
    up_port = free_udp_port()
    g_port, g_cmd = free_udp_port(), free_udp_port()
    env.start_chronyd(["local stratum 8", "allow 127.0.0.0/8", f"port {up_port}", "cmdport 0"], name="upstream")
    sockdir = env.path("run")
    os.mkdir(sockdir, 0o750)
    sock = os.path.join(sockdir, "gnomond.sock")
    env.start_gnomond(f"""
[[source]]
address = "127.0.0.1"
port = {up_port}
iburst = true
minpoll = 0
maxpoll = 1

[[source]]
address = "unresolvable.invalid"

[local]
stratum = 10

[server]
listen = ["127.0.0.1:{g_port}"]
allow = ["127.0.0.0/8"]
threads = 1

[clock]
control = false
driftfile = ""

[control]
socket = "{sock}"
listen = ["127.0.0.1:{g_cmd}"]
""")

    def selected():
        rows = source_rows(chronyc(["sources"], port=g_cmd))
        return any(r["state"] == "*" and r["name"] == "127.0.0.1" for r in rows) and rows
    rows = wait_until(selected, 20, what="chronyc to show gnomond's selected source as *")
    check(sum(r["state"] == "*" for r in rows) == 1, "exactly one * row")
    star = [r for r in rows if r["state"] == "*"][0]
    check(star["stratum"] == 8 and star["mode"] == "^", f"selected row: {star['line']}")
    check(any(r["name"] == "LOCL" and r["mode"] == "#" for r in rows), "the LOCL row")

    served = ntp_query("127.0.0.1", g_port, timeout=1)
    check(served is not None, "gnomond answers NTP")

    # UDP: the monitoring commands.
    out = chronyc(["sourcestats"], port=g_cmd)
    print(out)
    check(re.search(r"^127\.0\.0\.1\s+\d+\s+\d+\s+\d+", out, re.M), "sourcestats row for the upstream")
    tracking = chronyc(["tracking"], port=g_cmd)
    print(tracking)
    m = re.search(r"Reference ID\s*:\s*([0-9A-F]{8})", tracking)
    check(m and int(m.group(1), 16) == served["refid"],
          f"tracking Reference ID {m and m.group(1)} != served refid {served['refid']:08X}")
    m = re.search(r"Stratum\s*:\s*(\d+)", tracking)
    check(m and int(m.group(1)) == served["stratum"], f"tracking stratum != served {served['stratum']}")
    act = chronyc(["activity"], port=g_cmd)
    check("200 OK" in act and "1 sources with unknown address" in act, f"activity:\n{act}")
    # Control commands over UDP are refused, as chronyd refuses them.
    for cmd in (["makestep"], ["serverstats"], ["ntpdata"]):
        out = chronyc(cmd, port=g_cmd)
        check("501 Not authorised" in out, f"{cmd} over UDP: {out}")

    # The Unix socket: every command.
    def unix(*args):
        return chronyc(list(args), host=sock, port=None)
    check("^*" in unix("sources"), "sources over the socket")
    check("127.0.0.1" in unix("sourcestats"), "sourcestats over the socket")
    check("Reference ID" in unix("tracking"), "tracking over the socket")
    check("200 OK" in unix("activity"), "activity over the socket")
    nd = unix("ntpdata", "127.0.0.1")
    check(re.search(r"Remote address\s*:\s*127\.0\.0\.1", nd) and re.search(r"Stratum\s*:\s*8", nd),
          f"ntpdata:\n{nd}")
    check(re.search(r"NTP tests\s*:\s*111 111 1111", nd), "ntpdata test bits")
    sel = unix("selectdata")
    check(re.search(r"^\* 127\.0\.0\.1", sel, re.M), f"selectdata:\n{sel}")
    ss = unix("serverstats")
    check(re.search(r"NTP packets received\s*:\s*[1-9]", ss), f"serverstats counts our query:\n{ss}")
    cl = unix("clients")
    check("Hostname" in cl and "127.0.0.1" in cl, f"clients:\n{cl}")
    for cmd in (["makestep"], ["burst", "4/4"], ["offline"], ["online"], ["reload", "sources"]):
        out = unix(*cmd)
        check("200 OK" in out, f"{' '.join(cmd)} over the socket: {out}")
    act = unix("activity")
    print(act)
    wait_until(lambda: source_rows(unix("sources")), 10, what="sources after the control commands")


run_test("chronyc_vs_gnomond", body)
