"""Floods against gnomond's rate limiter and client log.

- A flood from one address: once the burst is spent, only the leak fraction
  (2^-leak) gets normal replies, and with `kod = true` a share of the rest
  gets KoD RATE (stratum 0, refid RATE, LI 3, our origin).
- Meanwhile clients at normal rates from other addresses get every answer.
- A flood from 200000 addresses: every one of them is answered (each has a
  fresh bucket), the client table stays within clientloglimit (records are
  evicted and counted), and the daemon's RSS grows by less than the limit
  plus a fixed allowance.
- serverstats (gnomonc over the Unix socket) and the metrics count it all.
"""

import socket
import struct
import threading
import time

from harness import check, free_udp_port, ntp_request, parse_reply, run_test, send_raw, wait_until
from scale_helpers import (check_between, clients, gnomon_load, gnomond_server_conf, metrics, rss_kb,
                           serverstats)

KOD_RATE = 0x52415445
LIMIT = 262144          # clientloglimit, bytes
RECORD_BYTES = 40       # lib/client_log.hpp kRecordBytes
FLOOD_COUNT = 20000
MANY = 200000


def polite_client(port, addr, n, interval, results):
    """n requests from addr, `interval` s apart; records (answered, kod)."""
    for _ in range(n):
        data = send_raw(ntp_request(), port, bind=addr, timeout=2.0)
        r = parse_reply(data) if data else None
        results.append((r is not None and r["mode"] == 4, r is not None and r["refid"] == KOD_RATE))
        time.sleep(interval)


def body(env):
    port = free_udp_port()
    mport = free_udp_port()
    sock = env.path("gnomond.sock")
    d = env.start_gnomond(gnomond_server_conf(port, sock, threads=1, clientloglimit=LIMIT, metrics_port=mport,
                                              ratelimit={"interval": 3, "burst": 8, "leak": 2, "kod": True}))
    wait_until(lambda: send_raw(ntp_request(), port, bind="127.0.0.2", timeout=0.3), 10, what="gnomond to answer")
    sent_outside = 1  # the readiness probe above

    # KoD RATE as seen by a plain client: burst, then ask until a KoD comes.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.3", 0))
    s.settimeout(0.3)
    kod = None
    for _ in range(200):
        tx = struct.pack("!Q", 0x1122334455667700 + sent_outside)
        s.sendto(ntp_request(tx=tx), ("127.0.0.1", port))
        sent_outside += 1
        try:
            data, _ = s.recvfrom(512)
        except socket.timeout:
            continue
        r = parse_reply(data)
        if r and r["stratum"] == 0 and r["refid"] == KOD_RATE:
            check(r["org"] == struct.unpack("!Q", tx)[0], "KoD with the wrong origin")
            check(r["li"] == 3 and r["mode"] == 4 and r["version"] == 4, f"KoD header {r}")
            check(r["len"] == 48, "KoD longer than the request")
            kod = r
            break
    s.close()
    check(kod is not None, "no KoD RATE after 200 requests from one address")

    # Polite clients run during the flood.
    polite = {}
    threads = []
    for i, addr in enumerate(("127.0.0.9", "127.0.0.10", "127.0.0.11")):
        polite[addr] = []
        t = threading.Thread(target=polite_client, args=(port, addr, 4, 0.5, polite[addr]))
        threads.append(t)
        t.start()
    kod_before = metrics(mport).get("gnomon_server_kod_sent_packets_total", 0)
    flood = gnomon_load(env, port, sources=1, source_base="127.0.0.5", window=128, timeout=0.05,
                        count=FLOOD_COUNT, duration=60)
    for t in threads:
        t.join(timeout=30)
    for addr, res in polite.items():
        check(len(res) == 4 and all(ok and not k for ok, k in res), f"polite client {addr} got {res}")
    sent_outside += sum(len(r) for r in polite.values())
    check(flood["sent"] == FLOOD_COUNT, f"flood: {flood}")

    # The server's view (gnomon-load counts replies later than its timeout as
    # invalid, so its own counts are only a lower bound): every request a
    # hit, every unanswered one a drop.
    flooder = [r for r in clients(env, sock) if r["address"] == "127.0.0.5"]
    check(len(flooder) == 1, "the flooding address is not in the client log")
    f = flooder[0]
    check(f["ntp_packets"] == FLOOD_COUNT, f"flooder hits {f['ntp_packets']}")
    check(f["ntp_interval_log2"] is not None and f["ntp_interval_log2"] < 0, f"flooder interval {f}")
    answered = FLOOD_COUNT - f["ntp_drops"]
    kod_flood = metrics(mport).get("gnomon_server_kod_sent_packets_total", 0) - kod_before
    check(flood["replies"] <= answered <= flood["replies"] + flood["invalid"],
          f"gnomon-load saw {flood['replies']} (+{flood['invalid']} late) replies, the server sent {answered}")
    check(flood["kod"] <= kod_flood, f"gnomon-load saw {flood['kod']} KoD, the server sent {kod_flood}")
    normal = (answered - kod_flood) / FLOOD_COUNT
    kods = kod_flood / FLOOD_COUNT
    # leak 2: 1/4 answered; kod on (1/4 of the rest): 3/16 get KoD RATE.
    check_between(round(normal, 4), 0.22, 0.28, "share of normal replies in the flood")
    check_between(round(kods, 4), 0.15, 0.23, "share of KoD RATE replies in the flood")
    idle_rss = rss_kb(d.pid)

    # Many addresses: all fresh buckets, so all answered; the table stays bounded.
    many = gnomon_load(env, port, sources=MANY, source_base="127.2.0.0", window=128, timeout=3.0, count=MANY,
                       duration=120)
    check(many["invalid"] == 0 and many["lost"] == 0 and many["replies"] == MANY and many["kod"] == 0,
          f"many-address flood: {many}")
    grown = rss_kb(d.pid) - idle_rss
    check(grown <= LIMIT // 1024 + 1024, f"RSS grew by {grown} kB under a flood from {MANY} addresses")

    total = sent_outside + flood["sent"] + many["sent"]
    stats = serverstats(env, sock)
    rows = clients(env, sock)
    check(len(rows) <= LIMIT // RECORD_BYTES, f"{len(rows)} client records, more than the limit allows")
    check(len(rows) > LIMIT // RECORD_BYTES * 8 // 10, f"only {len(rows)} client records")
    check(stats["client_log_records_dropped"] >= MANY - LIMIT // RECORD_BYTES,
          f"evictions not counted: {stats}")
    check(stats["ntp_packets_received"] == total, f"serverstats received {stats['ntp_packets_received']}, sent {total}")

    m = metrics(mport)
    answered = m.get("gnomon_server_answered_packets_total")
    check(m.get("gnomon_server_received_packets_total") == total, f"metrics received {m}")
    limited = m.get('gnomon_server_dropped_packets_total{reason="rate_limited"}')
    check(limited == stats["ntp_packets_dropped"], f"rate-limited drops {limited} vs serverstats {stats}")
    check(answered == total - stats["ntp_packets_dropped"], f"metrics answered {answered}")
    check(m.get("gnomon_server_kod_sent_packets_total", 0) >= flood["kod"] + 1, "KoD replies not counted")
    print(f"one-address flood: {flood['sent']} sent, {normal:.3f} answered, {kods:.3f} KoD RATE; "
          f"{MANY} addresses: RSS +{grown} kB (limit {LIMIT // 1024} kB), {len(rows)} records, "
          f"{stats['client_log_records_dropped']} evicted")
    env.stop(d)


if __name__ == "__main__":
    run_test("ratelimit_flood", body)
