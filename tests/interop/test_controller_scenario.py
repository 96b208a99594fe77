"""The controller scenario: a controller syncing upstream and serving a compute node.

The seed's sources never resolve here and 127.127.1.0 is in the list:
- the controller serves stratum 10 from LOCL, and gnomonc shows the unresolved
  names and the `#* LOCL` row in chronyc's layout;
- a compute-node gnomond with iburst syncs to it within 10 s;
- when a real upstream (chronyd, local stratum 8) is added by SIGHUP and is
  reachable, the controller switches to it and serves stratum 9.
"""

import re
import signal
import subprocess
import time

from harness import check, free_udp_port, ntp_query, run_test, source_rows, wait_until

SEED_SOURCES = """
[[source]]
address = "0.centos.pool.ntp.org"
iburst = true

[[source]]
address = "1.centos.pool.ntp.org"
iburst = true

[[source]]
address = "2.kr.pool.ntp.org"
iburst = true

[[source]]
address = "127.127.1.0"
"""


def gnomonc(env, port, *args):
    r = subprocess.run([env.gnomonc, "-n", "-h", "127.0.0.1", "-p", str(port), *args],
                       capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


def controller_conf(ntp_port, cmd_port, extra=""):
    return SEED_SOURCES + extra + f"""
[local]
stratum = 10

[server]
listen = ["127.0.0.1:{ntp_port}"]
allow = ["127.0.0.0/8"]
threads = 1

[clock]
control = false
driftfile = ""

[control]
socket = ""
listen = ["127.0.0.1:{cmd_port}"]
"""


def body(env):
    c_ntp, c_cmd = free_udp_port(), free_udp_port()
    n_ntp, n_cmd = free_udp_port(), free_udp_port()
    up_ntp, up_cmd = free_udp_port(), free_udp_port()

    ctl = env.start_gnomond(controller_conf(c_ntp, c_cmd), name="controller")
    r = wait_until(lambda: ntp_query("127.0.0.1", c_ntp, timeout=0.3), 10, what="controller answers")
    check(r["stratum"] == 10 and r["li"] == 0, f"controller serves stratum {r['stratum']} li {r['li']}")
    check(r["refid"] == 0x7F7F0101, f"controller refid {r['refid']:08X}, want 7F7F0101 (LOCL)")

    def locl_selected():
        out = gnomonc(env, c_cmd, "sources")
        return "#* LOCL" in out and out
    out = wait_until(locl_selected, 15, what="#* LOCL in gnomonc sources")
    print(out)
    for name in ["0.centos.pool.ntp.org", "1.centos.pool.ntp.org", "2.kr.pool.ntp.org"]:
        check(re.search(r"^\^\? " + re.escape(name) + r"\s+0\s+\d+\s+0\s+-\s", out, re.M),
              f"unresolved {name} should show as ^? with reach 0:\n{out}")
    check(out.startswith("MS Name/IP address         Stratum Poll Reach LastRx Last sample"),
          "chronyc's header")
    act = gnomonc(env, c_cmd, "activity")
    check("3 sources with unknown address" in act, f"activity:\n{act}")

    # A compute node syncs to the controller with iburst.
    t0 = time.monotonic()
    env.start_gnomond(f"""
[[source]]
address = "127.0.0.1"
port = {c_ntp}
iburst = true

[server]
listen = ["127.0.0.1:{n_ntp}"]
allow = ["127.0.0.0/8"]
threads = 1

[clock]
control = false
driftfile = ""

[control]
socket = ""
listen = ["127.0.0.1:{n_cmd}"]
""", name="compute")

    def node_synced():
        rows = source_rows(gnomonc(env, n_cmd, "sources"))
        return rows and rows[0]["state"] == "*" and rows[0]
    row = wait_until(node_synced, 10, interval=0.2, what="the compute node to sync within 10 s")
    t_sync = time.monotonic() - t0
    print(f"compute node synced in {t_sync:.1f}s: {row['line']}")
    check(row["stratum"] == 10, "the compute node sees the controller at stratum 10")
    r = wait_until(lambda: ntp_query("127.0.0.1", n_ntp, timeout=0.3), 5, what="compute node serves")
    check(r["stratum"] == 11, f"compute node serves stratum {r['stratum']}, want 11")

    # A real upstream appears: chronyd with local stratum 8, added by SIGHUP.
    env.start_chronyd(["local stratum 8", "allow 127.0.0.0/8", f"port {up_ntp}",
                       f"cmdport {up_cmd}", "bindcmdaddress 127.0.0.1"], name="upstream")
    env.write("controller.toml", controller_conf(c_ntp, c_cmd, f"""
[[source]]
address = "127.0.0.1"
port = {up_ntp}
iburst = true
minpoll = 0
maxpoll = 2
"""))
    ctl.send_signal(signal.SIGHUP)

    def switched():
        q = ntp_query("127.0.0.1", c_ntp, timeout=0.3)
        return q and q["stratum"] == 9 and q
    q = wait_until(switched, 20, what="the controller to switch to the upstream (stratum 9)")
    check(q["refid"] == 0x7F000001, f"controller refid {q['refid']:08X}, want 7F000001")
    out = gnomonc(env, c_cmd, "sources")
    print(out)
    rows = source_rows(out)
    check(any(r["state"] == "*" and r["name"] == "127.0.0.1" and r["stratum"] == 8 for r in rows),
          "the upstream should be the selected source")
    check(any(r["name"] == "LOCL" and r["state"] != "*" for r in rows), "LOCL should no longer be selected")
    log = env.log(ctl)
    check("Selected source 127.0.0.1" in log, "selection change logged in chrony's words")


run_test("controller_scenario", body)
