"""Several server workers.

gnomond with `threads = 2` (one in the portable build) under closed-loop load
from 300 loopback addresses: every reply is valid (mode 4, our origin, from
the server's address), none is lost, and the per-client NTP counts in
`clients` add up to the requests sent, with one row per address. Each
address sticks to one worker whatever its source port, so requests from one
address over 20 ports make one row with 20 hits, and rate limiting sees them
all.
"""

import re
import subprocess

from harness import Failure, check, free_udp_port, ntp_request, parse_reply, run_test, send_raw, wait_until
from scale_helpers import clients, gnomon_load, gnomond_server_conf, portable_build, serverstats

SOURCES = 300
COUNT = 30000
PORTS = 20


def body(env):
    port = free_udp_port()
    sock = env.path("gnomond.sock")
    d = env.start_gnomond(gnomond_server_conf(port, sock, threads=2))
    wait_until(lambda: send_raw(ntp_request(), port, bind="127.0.0.2", timeout=0.3), 10, what="gnomond to answer")
    sent = 1
    m = re.search(r"Serving NTP on \S+ \((\d+) workers?\)", env.log(d))
    workers = int(m.group(1)) if m else 0
    check(workers == (1 if portable_build(env) else 2), f"{workers} workers")

    res = gnomon_load(env, port, sources=SOURCES, source_base="127.3.0.1", window=64, sockets=8, timeout=3.0,
                      count=COUNT, duration=120)
    check(res["sent"] == COUNT, f"sent {res['sent']}")
    check(res["invalid"] == 0, f"{res['invalid']} invalid replies")
    check(res["lost"] == 0 and res["replies"] == COUNT, f"lost replies: {res}")
    sent += COUNT

    # One address, many source ports: one record.
    for i in range(PORTS):
        data = send_raw(ntp_request(), port, bind="127.0.0.77", src_port=0, timeout=2.0)
        r = parse_reply(data) if data else None
        check(r is not None and r["mode"] == 4, f"request {i} from 127.0.0.77 unanswered")
    sent += PORTS

    rows = clients(env, sock)
    by_addr = {}
    for r in rows:
        check(r["address"] not in by_addr, f"{r['address']} has two client records")
        by_addr[r["address"]] = r
    loaded = [r for a, r in by_addr.items() if a.startswith("127.3.")]
    check(len(loaded) == SOURCES, f"{len(loaded)} records for {SOURCES} load addresses")
    total = sum(r["ntp_packets"] for r in loaded)
    check(total == COUNT, f"client records sum to {total} requests, {COUNT} were sent")
    check(by_addr.get("127.0.0.77", {}).get("ntp_packets") == PORTS, f"127.0.0.77: {by_addr.get('127.0.0.77')}")
    all_hits = sum(r["ntp_packets"] for r in rows)
    check(all_hits == sent, f"all records sum to {all_hits}, {sent} sent")
    stats = serverstats(env, sock)
    check(stats["ntp_packets_received"] == sent and stats["ntp_packets_dropped"] == 0, f"serverstats {stats}")

    # noclientlog: still serving, `clients` says the log is off.
    env.stop(d)
    port2 = free_udp_port()
    sock2 = env.path("nolog.sock")
    d2 = env.start_gnomond(gnomond_server_conf(port2, sock2, threads=2, clientloglimit=0), name="gnomond-nolog")
    wait_until(lambda: send_raw(ntp_request(), port2, timeout=0.3), 10, what="gnomond without a client log")
    out = subprocess.run([env.gnomonc, "-n", "-h", sock2, "clients"], capture_output=True, text=True, timeout=20)
    check("519" in out.stdout + out.stderr, f"clients with noclientlog: {out.stdout} {out.stderr}")
    env.stop(d2)
    # ... and a rate limit needs the log: refused at start.
    d3 = env.start_gnomond(gnomond_server_conf(free_udp_port(), env.path("bad.sock"), clientloglimit=0,
                                               ratelimit={"interval": 3}), name="gnomond-bad")
    try:
        d3.wait(timeout=20)
    except subprocess.TimeoutExpired:
        raise Failure("gnomond runs with a rate limit and noclientlog")
    check(d3.returncode != 0, "gnomond accepted a rate limit with noclientlog")
    check("noclientlog" in env.log(d3), "no reason given for refusing a rate limit without a client log")

    print(f"{workers} workers: {res['replies']} replies at {res['replies_per_s']:.0f}/s, {len(rows)} client records")


if __name__ == "__main__":
    run_test("workers", body)
