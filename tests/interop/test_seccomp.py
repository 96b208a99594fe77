"""gnomond -x -F (seccomp allow-list) does all of its normal work and exits 0.

Under the filter it resolves a hostname source, syncs to a real chronyd,
serves NTP (plain and with a symmetric key), answers chronyc on the Unix
socket and UDP, reloads on SIGHUP, and on SIGTERM writes its drift file and
exits 0. A forbidden system call would have killed it with SIGSYS (the
unit test tests/daemon/test_seccomp.cpp shows that it does).
"""

import os
import re
import signal
import time

from harness import (check, chronyc, free_udp_port, ntp_query, run_test, send_raw, source_rows,
                     wait_udp_answer, wait_until)


def body(env):
    up, up_cmd = free_udp_port(), free_udp_port()
    env.start_chronyd(["local stratum 8", "allow 127.0.0.0/8", f"port {up}", f"cmdport {up_cmd}",
                       "bindcmdaddress 127.0.0.1"], name="upstream")
    wait_udp_answer(up)

    ntp, cmd = free_udp_port(), free_udp_port()
    keys = env.write("keys", "1 SHA1 HEX:" + "5A" * 20 + "\n")
    os.chmod(keys, 0o600)
    sock = env.path("run", "gnomond.sock")
    os.mkdir(env.path("run"), 0o750)
    drift = env.path("drift")
    # An ASan build's LeakSanitizer stops the world with ptrace at exit, which
    # the filter forbids: leak checking is for the other tests.
    os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    d = env.start_gnomond(f"""
[[source]]
address = "localhost"
port = {up}
iburst = true
minpoll = 0
maxpoll = 0

[server]
listen = ["127.0.0.1:{ntp}"]
allow = ["127.0.0.0/8"]
threads = 2

[clock]
control = false
driftfile = "{drift}"

[auth]
keyfile = "{keys}"

[control]
socket = "{sock}"
listen = ["127.0.0.1:{cmd}"]
""", name="gnomond", extra=["-F"])
    wait_udp_answer(ntp)
    check("System call filter enabled" in env.log(d), "no 'System call filter enabled' in the log")

    def selected():
        rows = source_rows(chronyc(["sources"], port=cmd))
        return rows and rows[0]["state"] == "*" and rows[0]
    row = wait_until(selected, 40, interval=0.5, what="gnomond -F to select chronyd (resolved from 'localhost')")
    print(row["line"])
    r = wait_until(lambda: (q := ntp_query("127.0.0.1", ntp)) and q["stratum"] == 9 and q, 20,
                   what="gnomond -F to serve stratum 9")
    check(r["mode"] == 4, "NTP reply mode")

    # A request signed with key 1 gets a signed reply (hashing under the filter).
    import hashlib
    import struct
    req = struct.pack("!BBbb", 0x23, 0, 6, 0) + b"\0" * 36 + os.urandom(8)
    mac = struct.pack("!I", 1) + hashlib.sha1(bytes.fromhex("5A" * 20) + req).digest()
    reply = send_raw(req + mac, ntp)
    check(reply is not None and len(reply) == 72, f"signed request: reply {reply and len(reply)}")
    check(reply[48:52] == struct.pack("!I", 1) and
          reply[52:] == hashlib.sha1(bytes.fromhex("5A" * 20) + reply[:48]).digest(), "reply MAC")

    out = chronyc(["tracking"], host=sock, port=None)
    check("Reference ID" in out, f"Unix socket under the filter:\n{out}")
    out = chronyc(["serverstats"], host=sock, port=None)
    check("NTP packets received" in out, f"serverstats under the filter:\n{out}")

    d.send_signal(signal.SIGHUP)
    wait_until(lambda: "Reloaded" in env.log(d), 10, what="the reload under the filter")
    time.sleep(1)
    check(d.poll() is None, f"gnomond died after SIGHUP: {d.returncode}")

    rc = env.stop(d)
    check(rc == 0, f"gnomond -F exit code {rc} (-31 = killed by SIGSYS)")
    check(os.path.exists(drift), "no drift file written at exit under the filter")
    log = env.log(d)
    check(not re.search(r"Bad system call|SIGSYS", log), "SIGSYS in the log")


run_test("seccomp", body)
