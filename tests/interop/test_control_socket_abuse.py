"""The control channel under abuse.

1. A control socket path that exists and is not a socket: gnomond refuses to
   unlink it (the file keeps its content, even after exit), says so in the
   log, and still serves NTP.
2. 2000 clients at once on the Unix socket and on UDP: gnomond's open file
   descriptors stay bounded (datagram sockets: no descriptor per client, so no
   EMFILE), every datagram is a request it handles or drops, and afterwards
   chronyc still gets its answers on both channels.
"""

import os
import re
import resource
import socket
import struct

from harness import check, chronyc, free_udp_port, ntp_query, run_test, wait_udp_answer, wait_until


def tracking_request(seq):
    # chrony's command header (version 6, request, TRACKING = 33), padded to
    # the reply's length (104 bytes), as chronyc sends it.
    hdr = struct.pack("!BBBBHHI", 6, 1, 0, 0, 33, 0, seq) + b"\0" * 8
    return hdr + b"\0" * (104 - len(hdr))


def conf(ntp, cmd, sock):
    return f"""
[local]
stratum = 10

[server]
listen = ["127.0.0.1:{ntp}"]
allow = ["127.0.0.0/8"]
threads = 1

[clock]
control = false
driftfile = ""

[control]
socket = "{sock}"
listen = ["127.0.0.1:{cmd}"]
"""


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def body(env):
    # 1. Not a socket.
    ntp, cmd = free_udp_port(), free_udp_port()
    sock_dir = env.path("run")
    os.mkdir(sock_dir, 0o750)
    trap = os.path.join(sock_dir, "gnomond.sock")
    with open(trap, "w") as f:
        f.write("precious\n")
    d = env.start_gnomond(conf(ntp, cmd, trap), name="notsock")
    wait_udp_answer(ntp)
    check(open(trap).read() == "precious\n", "the file at the socket path was changed")
    log = wait_until(lambda: "not a socket" in env.log(d) and env.log(d), 10, what="the refusal in the log")
    check(re.search(r"refusing to remove", log), f"no refusal in the log:\n{log}")
    check(ntp_query("127.0.0.1", ntp) is not None, "NTP should still be served")
    check(env.stop(d) == 0, "exit code after refusing the socket path")
    check(os.path.exists(trap) and open(trap).read() == "precious\n", "the file was removed at exit")

    # 2. 2000 clients at once.
    ntp, cmd = free_udp_port(), free_udp_port()
    sock = os.path.join(sock_dir, "g2.sock")
    d = env.start_gnomond(conf(ntp, cmd, sock), name="flood")
    wait_udp_answer(ntp)
    wait_until(lambda: os.path.exists(sock), 10, what="the control socket")
    base_fds = fd_count(d.pid)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4400)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    n = 2000 if want >= 4200 else (want - 100) // 2
    clients = []
    try:
        for i in range(n):
            u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            u.bind(env.path(f"c{i}.sock"))
            u.setblocking(False)
            v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            v.setblocking(False)
            clients.append((u, v))
        sent = 0
        for i, (u, v) in enumerate(clients):
            for s, addr in ((u, sock), (v, ("127.0.0.1", cmd))):
                try:
                    s.sendto(tracking_request(i), addr)
                    sent += 1
                except (BlockingIOError, OSError):
                    pass  # the daemon's queue is full: that is the bound
        peak = fd_count(d.pid)
        answers = 0
        for u, v in clients:
            for s in (u, v):
                try:
                    while s.recv(1024):
                        answers += 1
                except (BlockingIOError, OSError):
                    pass
        print(f"{n} unix + {n} UDP clients: {sent} requests sent, {answers} answers so far; "
              f"daemon fds {base_fds} -> {peak}")
        check(peak <= base_fds + 5, f"descriptors grew with clients: {base_fds} -> {peak}")
    finally:
        for u, v in clients:
            u.close()
            v.close()
    # Still answering on both channels, and NTP too.
    out = chronyc(["tracking"], host=sock, port=None)
    check("Reference ID" in out, f"Unix socket after the flood:\n{out}")
    out = chronyc(["tracking"], port=cmd)
    check("Reference ID" in out, f"UDP after the flood:\n{out}")
    wait_udp_answer(ntp)
    check(fd_count(d.pid) <= base_fds + 5, "descriptors leaked after the flood")
    check(env.stop(d) == 0, "exit code after the flood")
    check(not os.path.exists(sock), "the control socket was not removed at exit")


run_test("control_socket_abuse", body)
