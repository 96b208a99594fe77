"""Exit codes and the pid file.

0  clean exit: SIGTERM and SIGINT, also with a pid file, which is removed;
78 configuration error: a broken or missing config, an unknown option, an
   unknown -u user;
1  runtime failure: the NTP port is taken, another gnomond holds the pid
   file. A stale pid file (its process is gone) is replaced.
(65, the maxchange panic, needs a clock that is off by more than maxchange;
the daemon maps the engine's panic to it, see daemon/daemon.hpp.)
"""

import os
import signal
import socket
import subprocess

from harness import check, free_udp_port, ntp_query, run_test, wait_until
from ops_helpers import gnomond_conf


def run(env, args, timeout=20):
    r = subprocess.run([env.gnomond, *args], capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def body(env):
    pid_file = env.path("gnomond.pid")
    for sig in [signal.SIGTERM, signal.SIGINT]:
        ntp, cmd = free_udp_port(), free_udp_port()
        d = env.start_gnomond(gnomond_conf(ntp, cmd, local=10), name=f"sig{int(sig)}", extra=["-P", pid_file])
        wait_until(lambda: ntp_query("127.0.0.1", ntp, timeout=0.3), 10, what="gnomond to serve")
        with open(pid_file) as f:
            check(int(f.read()) == d.pid, "the pid file holds gnomond's pid")

        # While it runs, a second gnomond with the same pid file exits 1.
        ntp2, cmd2 = free_udp_port(), free_udp_port()
        path2 = env.write("second.toml", gnomond_conf(ntp2, cmd2, local=10))
        rc, out = run(env, ["-x", "-f", path2, "-P", pid_file])
        check(rc == 1 and "another gnomond" in out, f"a held pid file: exit {rc}, want 1:\n{out}")

        rc = env.stop(d, sig=sig)
        check(rc == 0, f"{sig.name}: exit code {rc}, want 0")
        check(not os.path.exists(pid_file), f"{sig.name}: the pid file is removed at exit")
        print(f"{sig.name}: exit 0, pid file removed")

    # A stale pid file (no such process) is replaced.
    with open(pid_file, "w") as f:
        f.write("999999999\n")
    ntp, cmd = free_udp_port(), free_udp_port()
    d = env.start_gnomond(gnomond_conf(ntp, cmd, local=10), name="stale", extra=["-P", pid_file])
    wait_until(lambda: ntp_query("127.0.0.1", ntp, timeout=0.3), 10, what="gnomond to replace a stale pid file")
    check(env.stop(d) == 0, "exit 0")

    # 78: configuration errors.
    bad = env.write("bad.toml", "[server\n")
    for label, args in [("broken config", ["-x", "-f", bad]),
                        ("missing config", ["-x", "-f", env.path("missing.toml")]),
                        ("unknown option", ["--no-such-option"]),
                        ("unknown user", ["-x", "-u", "no-such-user-gnomon", "-f",
                                          env.write("ok.toml", gnomond_conf(free_udp_port(), free_udp_port()))])]:
        rc, out = run(env, args)
        check(rc == 78, f"{label}: exit {rc}, want 78:\n{out}")
        print(f"{label}: exit 78")

    # 1: the NTP port is taken (a plain socket, no SO_REUSEPORT).
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 0))
    port = blocker.getsockname()[1]
    path = env.write("taken.toml", gnomond_conf(port, free_udp_port()))
    rc, out = run(env, ["-x", "-f", path])
    blocker.close()
    check(rc == 1, f"a port in use: exit {rc}, want 1:\n{out}")
    print("port in use: exit 1")


run_test("ops_exit_codes", body)
