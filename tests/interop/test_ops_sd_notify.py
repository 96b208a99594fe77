"""sd_notify.

The test plays systemd: NOTIFY_SOCKET names a datagram socket of its own
(an abstract '@' name, then a file system path) and WATCHDOG_USEC asks for
pings. gnomond must send READY=1 once it answers NTP, a STATUS= update when it
synchronises to an upstream chronyd, WATCHDOG=1 about every half of
WATCHDOG_USEC, RELOADING=1 then READY=1 around SIGHUP, and STOPPING=1 at exit.
"""

import os
import re
import signal
import socket
import time

from harness import check, free_udp_port, ntp_query, run_test, wait_until
from ops_helpers import environment, gnomond_conf, source_block, upstream_chronyd

WATCHDOG_USEC = 400000


class Listener:
    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)
        self.messages = []  # (monotonic time, text)

    def drain(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except (socket.timeout, BlockingIOError):
                return
            self.messages.append((time.monotonic(), data.decode()))

    def find(self, key):
        self.drain()
        return [(t, m) for t, m in self.messages if any(line.startswith(key) for line in m.split("\n"))]


def body(env):
    up_ntp, up_cmd = free_udp_port(), free_udp_port()
    upstream_chronyd(env, up_ntp, up_cmd)

    name = f"@gnomon-notify-{os.getpid()}-{time.monotonic_ns()}"
    lst = Listener("\0" + name[1:])
    ntp, cmd = free_udp_port(), free_udp_port()
    with environment(NOTIFY_SOCKET=name, WATCHDOG_USEC=WATCHDOG_USEC):
        d = env.start_gnomond(gnomond_conf(ntp, cmd, sources=source_block(up_ntp)), name="notified")

    ready = wait_until(lambda: lst.find("READY=1"), 10, what="READY=1 on the abstract socket")
    check(ntp_query("127.0.0.1", ntp, timeout=0.5) is not None, "READY=1 came before gnomond answers NTP")
    first = ready[0][1]
    print(f"first notification: {first!r}")
    check("STATUS=" in first, "READY=1 carries a STATUS= line")

    def synced_status():
        return [m for _, m in lst.find("STATUS=") if "STATUS=Synchronised to 127.0.0.1" in m]
    statuses = wait_until(synced_status, 20, what="STATUS=Synchronised to 127.0.0.1")
    print(f"status update: {statuses[0]!r}")
    check("offset " in statuses[0] and "stratum 9" in statuses[0], f"status text: {statuses[0]!r}")

    t0 = time.monotonic()
    time.sleep(2.0)
    pings = [t for t, _ in lst.find("WATCHDOG=1") if t >= t0]
    print(f"{len(pings)} watchdog pings in 2 s (WATCHDOG_USEC={WATCHDOG_USEC})")
    # Every half timeout (0.2 s) gives about 10; pinging only once per
    # timeout would give 5.
    check(len(pings) >= 6, f"only {len(pings)} WATCHDOG=1 in 2 s: not every half timeout")

    d.send_signal(signal.SIGHUP)
    wait_until(lambda: lst.find("RELOADING=1"), 5, what="RELOADING=1 on SIGHUP")
    rel_t = lst.find("RELOADING=1")[0][0]
    wait_until(lambda: [t for t, _ in lst.find("READY=1") if t >= rel_t], 5, what="READY=1 after the reload")

    rc = env.stop(d)
    check(rc == 0, f"exit code {rc}")
    wait_until(lambda: lst.find("STOPPING=1"), 2, what="STOPPING=1 at exit")

    # A file system socket path works too; without WATCHDOG_USEC there are no
    # pings. Its stderr plays the journal's stream ($JOURNAL_STREAM names its
    # device and inode): each line then starts with its syslog priority.
    path = env.path("notify.sock")
    lst2 = Listener(path)
    ntp2, cmd2 = free_udp_port(), free_udp_port()
    log_path = env.write("pathsocket.log", "")
    st = os.stat(log_path)
    with environment(NOTIFY_SOCKET=path, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}"):
        d2 = env.start_gnomond(gnomond_conf(ntp2, cmd2, local=10), name="pathsocket")
    msgs = wait_until(lambda: lst2.find("READY=1"), 10, what="READY=1 on the path socket")
    check("STATUS=Serving local clock at stratum 10" in msgs[0][1], f"local status: {msgs[0][1]!r}")
    time.sleep(0.6)
    check(not lst2.find("WATCHDOG=1"), "no WATCHDOG=1 without WATCHDOG_USEC")
    check(env.stop(d2) == 0, "clean exit")
    lines = env.log(d2).splitlines()
    check(lines and all(re.match(r"<[2-7]>", line) for line in lines), f"journal priorities: {lines[:3]}")
    check("<6>gnomond " in lines[0] and any(line.startswith("<7>") for line in lines),
          f"info is <6>, debug is <7>: {lines[:3]}")


run_test("ops_sd_notify", body)
