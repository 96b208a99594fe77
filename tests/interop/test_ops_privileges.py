"""Privilege drop (-u USER).

Started as root with -u nobody, gnomond runs as nobody and keeps only the
capabilities it needs, read from /proc/PID/status:
- with -x and high ports: none at all (effective, permitted, bounding);
- with a control port below 1024: CAP_NET_BIND_SERVICE only.
(CAP_SYS_TIME is kept only when gnomond controls the clock, which tests never
let it do; tests/daemon/test_privileges.cpp covers that choice.)
It still serves NTP and the control channel, creates the control socket's
missing directory for the user, and reports that it cannot save the drift
file in a directory that only root may write.
"""

import os
import pwd
import re
import socket
import stat

from harness import check, free_udp_port, ntp_query, run_test, wait_until
from ops_helpers import gnomonc, gnomond_conf

CAP_NET_BIND_SERVICE = 1 << 10


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = v.split()
    return out


def low_free_port():
    """A free UDP port below 1024 on 127.0.0.1 (loopback only; never 123 or 323)."""
    for port in range(1011, 600, -1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    return None


def body(env):
    if os.geteuid() != 0:
        print("SKIP: needs root to test -u")
        return
    nobody = pwd.getpwnam("nobody")
    os.chmod(env.dir, 0o755)  # nobody may look in, but not write
    ntp, cmd = free_udp_port(), free_udp_port()
    sock = env.path("run", "gnomond.sock")
    conf = gnomond_conf(ntp, cmd, local=10, driftfile=env.path("drift")).replace('socket = ""', f'socket = "{sock}"')
    d = env.start_gnomond(conf, name="dropped", extra=["-u", "nobody"])
    wait_until(lambda: ntp_query("127.0.0.1", ntp, timeout=0.3), 10, what="gnomond as nobody to serve")
    st = proc_status(d.pid)
    print({k: st[k] for k in ["Uid", "Gid", "Groups", "CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb", "NoNewPrivs"]
           if k in st})
    check(all(int(x) == nobody.pw_uid for x in st["Uid"]), f"uid {st['Uid']}")
    check(all(int(x) == nobody.pw_gid for x in st["Gid"]), f"gid {st['Gid']}")
    check(st.get("Groups", []) == [], f"supplementary groups {st.get('Groups')}")
    for k in ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"]:
        check(int(st[k][0], 16) == 0, f"{k} = {st[k][0]}, want none")
    check(st["NoNewPrivs"] == ["1"], "no new privileges")
    check("Local reference" in env.log(d) and "LOCL" in gnomonc(env, cmd, "sources"), "the control channel works")
    sdir = os.path.dirname(sock)
    s = os.stat(sdir)
    check(s.st_uid == nobody.pw_uid and stat.S_IMODE(s.st_mode) == 0o750, "socket directory: nobody's, 0750")
    check(os.stat(sock).st_uid == nobody.pw_uid, "the control socket belongs to nobody")
    check(re.search(r"error.*" + re.escape(env.dir) + ".*not writable", env.log(d), re.I),
          "the drift directory that nobody cannot write is reported")
    check(env.stop(d) == 0, "exit 0")

    low = low_free_port()
    if low is None:
        print("SKIP: no free port below 1024")
        return
    ntp, cmd = free_udp_port(), low
    d = env.start_gnomond(gnomond_conf(ntp, cmd, local=10), name="lowport", extra=["-u", "nobody"])
    wait_until(lambda: ntp_query("127.0.0.1", ntp, timeout=0.3), 10, what="gnomond with a low control port")
    st = proc_status(d.pid)
    print(f"control port {low}: CapEff {st['CapEff'][0]} CapPrm {st['CapPrm'][0]} CapBnd {st['CapBnd'][0]}")
    for k in ["CapEff", "CapPrm", "CapBnd"]:
        check(int(st[k][0], 16) == CAP_NET_BIND_SERVICE, f"{k} = {st[k][0]}, want CAP_NET_BIND_SERVICE only")
    check("LOCL" in gnomonc(env, cmd, "sources"), "the control channel on the low port works")
    check(env.stop(d) == 0, "exit 0")


run_test("ops_privileges", body)
