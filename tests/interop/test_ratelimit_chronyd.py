"""A real chronyd client behind gnomond's rate limit.

chrony's test/simulation/135-ratelimit: server `ratelimit interval 6 burst 2
leak 4`, client polling every 8 s (a ratio of 8), 10000 s simulated:
1200-1300 requests and 180-220 replies (about 1 in 6). With `kod 2`, the
client backs off after each KoD RATE: 700-850 requests, 350-450 replies,
100-140 KoD RATE.

Here time is scaled down by 64: `interval 0` (1 s) against a chronyd -x
client with minpoll = maxpoll = -3 (0.125 s), for 30 s, two server/client
pairs side by side: one without KoD, one with (gnomon's `kod = true` sends
KoD RATE for 2^-2 of the limited requests, chrony's `kod 2`). The counts come
from gnomond's client log (`clients`) and metrics. The bounds are chrony's
ratios, widened for the smaller sample (about 240 requests instead of 1250).
"""

import os
import time

from harness import check, free_udp_port, run_test, wait_until
from scale_helpers import check_between, chronyd_client, clients, gnomond_server_conf, metrics

RUN_S = 30


def client_row(env, sock):
    rows = [r for r in clients(env, sock) if r["address"] == "127.0.0.1"]
    return rows[0] if rows else None


def body(env):
    servers = {}
    for name, kod in (("plain", False), ("kod", True)):
        port = free_udp_port()
        mport = free_udp_port()
        sock = env.path(f"{name}.sock")
        env.start_gnomond(gnomond_server_conf(port, sock, metrics_port=mport,
                                              ratelimit={"interval": 0, "burst": 2, "leak": 4, "kod": kod}),
                          name=f"gnomond-{name}")
        servers[name] = (port, mport, sock)
    for name, (port, _, sock) in servers.items():
        wait_until(lambda: os.path.exists(sock), 10, what="gnomond's control socket")
        chronyd_client(env, f"chronyd-{name}", [f"server 127.0.0.1 port {port} minpoll -3 maxpoll -3"])
    start = time.monotonic()
    wait_until(lambda: all(client_row(env, s[2]) for s in servers.values()), 15, what="first requests")
    time.sleep(max(0.0, RUN_S - (time.monotonic() - start)))

    plain = client_row(env, servers["plain"][2])
    kod = client_row(env, servers["kod"][2])
    kod_sent = metrics(servers["kod"][1]).get("gnomon_server_kod_sent_packets_total", 0)
    plain_kod = metrics(servers["plain"][1]).get("gnomon_server_kod_sent_packets_total", 0)

    n = plain["ntp_packets"]
    replies = n - plain["ntp_drops"]
    print(f"no KoD: {n} requests, {replies} replies ({replies / n:.3f}); chrony: 1200-1300, 180-220 (0.144-0.176)")
    check(n >= 150, f"only {n} requests from the chronyd client in {RUN_S} s")
    check(plain_kod == 0, "KoD sent with kod off")
    check_between(round(replies / n, 3), 0.08, 0.26, "share of requests answered")

    nk = kod["ntp_packets"]
    replies_k = nk - kod["ntp_drops"]
    print(f"kod: {nk} requests, {replies_k} replies ({replies_k / nk:.3f}) of which {kod_sent:.0f} KoD RATE "
          f"({kod_sent / nk:.3f}); chrony: 700-850 requests (0.56-0.68 of the plain run), 350-450 replies, "
          f"100-140 KoD")
    check_between(round(nk / n, 3), 0.45, 0.80, "requests with KoD relative to without (the client backs off)")
    check_between(round(replies_k / nk, 3), 0.33, 0.70, "share of requests answered with KoD on")
    check_between(round(kod_sent / nk, 3), 0.04, 0.28, "share of requests answered with KoD RATE")


if __name__ == "__main__":
    run_test("ratelimit_chronyd", body)
