"""A real chronyd -x syncs to gnomond serving its local clock at stratum 10.

Checks: chronyc shows gnomond as ^* at stratum 10,
reach reaches 377, and a second real client (chronyd -Q) gets valid answers.
"""

import re
import subprocess
import time

from harness import Failure, check, chronyc, free_udp_port, run_test, source_rows, wait_udp_answer, wait_until


def body(env):
    ntp_port = free_udp_port()
    cmd_port = free_udp_port()
    env.start_gnomond(f"""
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
listen = []
""")
    wait_udp_answer(ntp_port)

    t0 = time.monotonic()
    env.start_chronyd([
        f"server 127.0.0.1 port {ntp_port} iburst minpoll 0 maxpoll 0",
        "port 0",
        f"cmdport {cmd_port}",
        "bindcmdaddress 127.0.0.1",
    ])

    def selected():
        rows = source_rows(chronyc(["sources"], port=cmd_port))
        return rows and rows[0]["state"] == "*" and rows[0]
    row = wait_until(selected, 30, interval=0.5, what="chronyd to select gnomond (^*)")
    t_sel = time.monotonic() - t0
    check(row["mode"] == "^", f"mode is {row['mode']}")
    check(row["stratum"] == 10, f"stratum is {row['stratum']}, want 10")

    def reach_full():
        rows = source_rows(chronyc(["sources"], port=cmd_port))
        return rows and rows[0]["reach"] == 0o377 and rows[0]
    row = wait_until(reach_full, 30, interval=0.5, what="reach 377")
    t_reach = time.monotonic() - t0
    print(f"selected after {t_sel:.1f}s, reach 377 after {t_reach:.1f}s")
    print(row["line"])

    tracking = chronyc(["tracking"], port=cmd_port)
    m = re.search(r"Stratum\s*:\s*(\d+)", tracking)
    check(m and int(m.group(1)) == 11, f"chronyd's own stratum should be 11:\n{tracking}")
    check("7F000001" in tracking, f"chronyd's reference should be 127.0.0.1:\n{tracking}")

    # A second real client: chronyd -Q queries once and prints the offset.
    conf = env.write("q.conf", f"server 127.0.0.1 port {ntp_port} iburst\nport 0\ncmdport 0\n")
    q = subprocess.run(["chronyd", "-Q", "-u", "root", "-t", "20", "-f", conf],
                       capture_output=True, text=True, timeout=30)
    out = q.stdout + q.stderr
    print(out.strip())
    check(re.search(r"System clock wrong by -?\d+\.\d+ seconds", out), f"chronyd -Q got no answer:\n{out}")


run_test("chronyd_client", body)
