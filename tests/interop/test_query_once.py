"""gnomond -Q queries the configured sources once and prints their offsets
without touching the clock (the ntpdate replacement)."""

import re
import subprocess
import time

from harness import check, free_udp_port, ntp_query, run_test, wait_until


def body(env):
    up = free_udp_port()
    env.start_chronyd(["local stratum 8", "allow 127.0.0.0/8", f"port {up}", "cmdport 0"], name="upstream")
    wait_until(lambda: ntp_query("127.0.0.1", up, timeout=0.3), 10, what="upstream chronyd")
    conf = env.write("q.toml", f"""
[[source]]
address = "127.0.0.1"
port = {up}

[[source]]
address = "unresolvable.invalid"

[clock]
driftfile = ""

[control]
socket = ""
listen = []
""")
    t0 = time.monotonic()
    r = subprocess.run([env.gnomond, "-Q", "-f", conf], capture_output=True, text=True, timeout=30)
    took = time.monotonic() - t0
    print(r.stdout, f"(took {took:.1f}s, exit {r.returncode})")
    check(r.returncode == 0, f"-Q exit {r.returncode}:\n{r.stdout}{r.stderr}")
    check(re.search(r"^127\.0\.0\.1: stratum 8, offset [+-]\d+\.\d{6} s", r.stdout, re.M), "offset line")
    check(re.search(r"^unresolvable\.invalid: no answer", r.stdout, re.M), "unresolvable source line")
    check(took < 10, "-Q should finish well before its 10 s timeout")

    # Nothing answers: exit 1.
    conf = env.write("q2.toml", f'[[source]]\naddress = "127.0.0.1"\nport = {free_udp_port()}\n'
                                '[clock]\ndriftfile = ""\n[control]\nsocket = ""\nlisten = []\n')
    r = subprocess.run([env.gnomond, "-Q", "-f", conf], capture_output=True, text=True, timeout=30)
    check(r.returncode == 1, f"-Q with no answer should exit 1, got {r.returncode}")


run_test("query_once", body)
