"""Reload on SIGHUP.

gnomond -x polls an upstream chronyd. Then, by editing the config and sending
SIGHUP:
- a source is added: it appears in `gnomonc sources`, while the upstream
  keeps its statistics (its NP in `gnomonc sourcestats` does not drop);
- the access rules change: a client subnet that was allowed is then denied;
- a broken config is reported in the log, and the running config (sources,
  access) stays in force;
- the added source is removed again and disappears.
"""

import re
import signal

from harness import check, free_udp_port, ntp_query, run_test, source_rows, wait_until
from ops_helpers import gnomonc, gnomond_conf, source_block, upstream_chronyd


def stats_np(env, cmd, name):
    for line in gnomonc(env, cmd, "sourcestats").splitlines():
        parts = line.split()
        if parts and parts[0] == name:
            return int(parts[1])
    return None


def body(env):
    up_ntp, up_cmd = free_udp_port(), free_udp_port()
    upstream_chronyd(env, up_ntp, up_cmd)
    ntp, cmd = free_udp_port(), free_udp_port()
    base = source_block(up_ntp)
    added = '\n[[source]]\naddress = "127.0.0.2"\nport = 9\n'  # nothing answers there
    d = env.start_gnomond(gnomond_conf(ntp, cmd, sources=base), name="reload")
    conf = d.args[d.args.index("-f") + 1]

    def write(text):
        with open(conf, "w") as f:
            f.write(text)

    def np_at_least(n):
        v = stats_np(env, cmd, "127.0.0.1")
        return v is not None and v >= n and v
    np_before = wait_until(lambda: np_at_least(4), 20, what="4 samples of the upstream")
    check(ntp_query("127.0.0.1", ntp, timeout=1.0) is not None, "127.0.0.1 is allowed at first")

    # Add a source, and narrow the access rules to a subnet we are not in.
    write(gnomond_conf(ntp, cmd, sources=base + added).replace('allow = ["127.0.0.0/8"]',
                                                                'allow = ["127.0.0.2/32"]'))
    d.send_signal(signal.SIGHUP)
    wait_until(lambda: "Reloaded sources and access rules" in env.log(d), 5, what="the reload to be logged")
    out = gnomonc(env, cmd, "sources")
    print(out)
    rows = {r["name"]: r for r in source_rows(out)}
    check("127.0.0.2" in rows, "the added source appears in gnomonc sources")
    check("127.0.0.1" in rows, "the kept source is still there")
    np_after = stats_np(env, cmd, "127.0.0.1")
    print(f"upstream NP before the reload {np_before}, after {np_after}")
    check(np_after is not None and np_after >= np_before, "the kept source keeps its samples")
    check(re.search(r"1 kept, 1 added, 0 removed", env.log(d)), "reload summary in the log")
    check(ntp_query("127.0.0.1", ntp, timeout=0.5) is None, "127.0.0.1 is denied after the reload")

    # A broken config: reported, and everything stays as it was.
    write(gnomond_conf(ntp, cmd, sources=base) + "\n[server\n")
    d.send_signal(signal.SIGHUP)
    wait_until(lambda: "keeping the running configuration" in env.log(d), 5, what="the broken reload to be reported")
    log = env.log(d)
    check(re.search(re.escape(conf) + r":\d+", log), "the error names the file and line")
    check(d.poll() is None, "gnomond still runs")
    rows = {r["name"]: r for r in source_rows(gnomonc(env, cmd, "sources"))}
    check("127.0.0.2" in rows and "127.0.0.1" in rows, "the running sources are kept")
    check(ntp_query("127.0.0.1", ntp, timeout=0.5) is None, "the running access rules are kept")
    np_now = stats_np(env, cmd, "127.0.0.1")
    check(np_now is not None and np_now >= np_after, "the kept source still keeps its samples")

    # Back to the first config: the added source goes, 127.0.0.1 is served again.
    write(gnomond_conf(ntp, cmd, sources=base))
    d.send_signal(signal.SIGHUP)
    wait_until(lambda: "0 added, 1 removed" in env.log(d), 5, what="the removal to be logged")
    rows = {r["name"]: r for r in source_rows(gnomonc(env, cmd, "sources"))}
    check("127.0.0.2" not in rows and "127.0.0.1" in rows, f"sources after removal: {list(rows)}")
    check(ntp_query("127.0.0.1", ntp, timeout=1.0) is not None, "127.0.0.1 is allowed again")
    check(env.stop(d) == 0, "clean exit")


run_test("ops_reload", body)
