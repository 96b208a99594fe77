"""chrony-style logs.

gnomond -x and a client chronyd -x both sync to the same upstream chronyd and
both write measurements.log, statistics.log and tracking.log. gnomon's files
must be laid out as chronyd 4.3 lays out its own: the same banner (between two
rules of '='), and data lines with the same columns at the same widths. After
logrotate-style renaming, gnomond starts a new file with a banner by itself.
"""

import os
import re

from harness import check, free_udp_port, run_test, wait_until
from ops_helpers import gnomond_conf, source_block, upstream_chronyd

LOGS = ["measurements", "statistics", "tracking"]
TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def read_lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def data_lines(lines):
    return [line for line in lines if re.match(TIME, line)]


def shape(line):
    """Where each column ends: what chrony's fixed widths determine."""
    return [m.end() for m in re.finditer(r"\S+", line)]


def body(env):
    up_ntp, up_cmd = free_udp_port(), free_udp_port()
    upstream_chronyd(env, up_ntp, up_cmd)

    cdir = env.path("chrony-logs")
    os.mkdir(cdir)
    env.start_chronyd([f"server 127.0.0.1 port {up_ntp} iburst minpoll 0 maxpoll 0", "port 0",
                       f"cmdport {free_udp_port()}", "bindcmdaddress 127.0.0.1", f"logdir {cdir}",
                       "log measurements statistics tracking"], name="client")

    gdir = env.path("gnomon-logs")  # created by gnomond
    ntp, cmd = free_udp_port(), free_udp_port()
    d = env.start_gnomond(gnomond_conf(ntp, cmd, sources=source_block(up_ntp),
                                       extra=f'[log]\ndir = "{gdir}"\nmeasurements = true\n'
                                             'statistics = true\ntracking = true\n'), name="logger")

    def enough():
        return all(len(data_lines(read_lines(os.path.join(dd, f"{n}.log")))) >= 3
                   for dd in (gdir, cdir) for n in LOGS)
    wait_until(enough, 25, interval=0.5, what="three lines in each of the six logs")

    for n in LOGS:
        g = read_lines(os.path.join(gdir, f"{n}.log"))
        c = read_lines(os.path.join(cdir, f"{n}.log"))
        print(f"--- {n}.log\nchronyd: {c[3]}\ngnomond: {data_lines(g)[0]}")
        check(g[:3] == c[:3], f"{n}.log banner differs:\n{g[:3]}\n{c[:3]}")
        check(set(g[0]) == {"="} and len(g[0]) == len(g[1]), f"{n}.log banner rules")
        cshape = shape(data_lines(c)[-1])
        for line in data_lines(g):
            check(shape(line) == cshape, f"{n}.log columns differ from chronyd's:\n{line}\n{data_lines(c)[-1]}")

    # gnomond's measurements are of the upstream and pass tests 1-7.
    m = data_lines(read_lines(os.path.join(gdir, "measurements.log")))[-1].split()
    check(m[2] == "127.0.0.1" and m[3] == "N" and m[4] == "8" and m[5] == "111" and m[6] == "111",
          f"measurement fields: {m}")
    check(m[-4] == "7F7F0101" and m[-3] == "4B", f"refid and mode: {m}")
    t = data_lines(read_lines(os.path.join(gdir, "tracking.log")))[-1].split()
    check(t[2] == "127.0.0.1" and t[3] == "9" and t[7] == "N", f"tracking fields: {t}")

    # logrotate renames the files; gnomond starts new ones with a banner.
    for n in LOGS:
        os.rename(os.path.join(gdir, f"{n}.log"), os.path.join(gdir, f"{n}.log.1"))
    sizes = {n: os.path.getsize(os.path.join(gdir, f"{n}.log.1")) for n in LOGS}
    wait_until(lambda: all(len(data_lines(read_lines(os.path.join(gdir, f"{n}.log")))) >= 1 for n in LOGS), 15,
               interval=0.5, what="new log files after the rename")
    for n in LOGS:
        new = read_lines(os.path.join(gdir, f"{n}.log"))
        check(set(new[0]) == {"="} and new[1].startswith("   Date (UTC) Time"), f"new {n}.log starts with a banner")
        check(os.path.getsize(os.path.join(gdir, f"{n}.log.1")) == sizes[n], f"nothing more went to {n}.log.1")
    check(env.stop(d) == 0, "clean exit")


run_test("ops_logs", body)
