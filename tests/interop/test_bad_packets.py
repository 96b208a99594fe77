"""Bad packets against the running daemon.

Every row of the "NTP server port" table of the bad-input checklist that needs
neither keys nor NTS. Afterwards the daemon still answers, no reply is ever
longer than its request, and the drop counters (logged at exit) show the drops.
"""

import os
import random
import re
import socket
import struct

from harness import check, free_udp_port, ntp_query, ntp_request, parse_reply, run_test, send_raw, wait_until


def ef(ftype, length, body_len=None):
    """An extension field head with the given length field."""
    n = length - 4 if body_len is None else body_len
    return struct.pack("!HH", ftype, length) + b"\xab" * max(0, n)


def body(env):
    port = free_udp_port()
    d = env.start_gnomond(f"""
[local]
stratum = 10

[server]
listen = ["127.0.0.1:{port}"]
allow = ["127.0.0.0/8"]
deny = ["127.0.0.66"]
threads = 1

[clock]
control = false
driftfile = ""

[control]
socket = ""
listen = []
""")
    wait_until(lambda: ntp_query("127.0.0.1", port, timeout=0.3), 10, what="gnomond to answer")

    replies = []

    def send(payload, bind=None):
        r = send_raw(payload, port, bind=bind, timeout=0.25)
        if r is not None:
            check(len(r) <= len(payload), f"reply of {len(r)} bytes to a {len(payload)}-byte request")
            replies.append(r)
        return r

    pending = []

    def expect_drop(payload, what, bind=None):
        if bind:
            check(send(payload, bind=bind) is None, f"{what}: expected no answer")
        else:
            pending.append((payload, what))

    def flush_drops():
        """Sends the queued bad packets from one socket and checks that none
        is answered (replies are matched by their origin timestamp)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        for payload, _ in pending:
            s.sendto(payload, ("127.0.0.1", port))
        s.settimeout(0.5)
        got = []
        try:
            while True:
                data, _ = s.recvfrom(70000)
                got.append(data)
        except socket.timeout:
            pass
        s.close()
        for data in got:
            whats = [w for p, w in pending if len(p) >= 48 and p[40:48] == data[24:32]]
            check(False, f"{whats or 'a bad packet'}: expected no answer, got {len(data)} bytes")
        pending.clear()

    valid = ntp_request()
    # Lengths 0..47, 49..51, not a multiple of 4, huge.
    for n in list(range(0, 48)) + [49, 50, 51, 53, 62, 97]:
        expect_drop(valid[:n] if n <= 48 else valid + b"\0" * (n - 48), f"length {n}")
    expect_drop(valid + b"\0" * (1500 - 48), "1500 bytes")
    expect_drop(valid + b"\0" * (65000 - 48), "65000 bytes")

    # Versions 0 and 5..7.
    for v in [0, 5, 6, 7]:
        expect_drop(ntp_request(version=v), f"version {v}")
    # Modes 0 (v2-4), 2, 4, 5, 6, 7: never answered (no ping-pong).
    for v in [2, 3, 4]:
        expect_drop(ntp_request(version=v, mode=0), f"v{v} mode 0")
    for m in [2, 4, 5, 6, 7]:
        expect_drop(ntp_request(mode=m), f"mode {m}")
    flush_drops()
    # Mode 0 from NTPv1 (port != 123) is answered as a server would.
    r = send(ntp_request(version=1, mode=0))
    check(r is not None, "v1 mode 0 should be answered")
    # Mode 1 from a stranger: a stateless mode-2 answer at most.
    r = send(ntp_request(mode=1))
    if r is not None:
        check(parse_reply(r)["mode"] == 2, "mode 1 must get mode 2")

    # Denied address.
    expect_drop(valid, "denied 127.0.0.66", bind="127.0.0.66")

    # Valid mode 3 in every version: same version, mode 4, origin = our transmit.
    for v in [1, 2, 3, 4]:
        tx = os.urandom(8)
        r = send(ntp_request(version=v, tx=tx))
        check(r is not None, f"v{v} request unanswered")
        p = parse_reply(r)
        check(p["version"] == v and p["mode"] == 4, f"v{v}: got version {p['version']} mode {p['mode']}")
        check(p["org"] == struct.unpack("!Q", tx)[0], f"v{v}: origin is not our transmit timestamp")
        check(p["stratum"] == 10 and p["li"] == 0, f"v{v}: stratum {p['stratum']} li {p['li']}")

    # All-zero and random timestamps still get a correct answer.
    zero = bytes([0x23]) + b"\0" * 47
    r = send(zero)
    check(r is not None and parse_reply(r)["org"] == 0, "all-zero request")
    rnd = random.Random(7)
    for _ in range(20):
        pkt = bytes([0x23]) + bytes(rnd.getrandbits(8) for _ in range(47))
        r = send(pkt)
        check(r is not None, "random-timestamp request unanswered")
        check(r[24:32] == pkt[40:48], "origin must echo the request's transmit timestamp")

    # Hostile poll and precision: clamped in the reply.
    for poll in [127, -128]:
        r = send(ntp_request(poll=poll))
        check(r is not None, f"poll {poll} unanswered")
        check(-19 <= parse_reply(r)["poll"] <= 24, f"poll {poll} not clamped: {parse_reply(r)['poll']}")
    pkt = bytearray(ntp_request())
    pkt[3] = 0x80  # precision -128
    check(send(bytes(pkt)) is not None, "precision -128 unanswered")

    # Extension fields: length 0, < 16, not a multiple of 4, past the end, 20 chained.
    base = ntp_request()
    for bad in [ef(0x1234, 0, 12), ef(0x1234, 8, 12), ef(0x1234, 18, 14), ef(0x1234, 64, 12)]:
        expect_drop(base + bad, f"bad extension field {bad[:4].hex()}")
    twenty = base + b"".join(ef(0x2000 + i, 16) for i in range(20))
    expect_drop(twenty, "20 chained extension fields")
    flush_drops()
    # A well-formed unknown extension field is answered (and the reply is 48 bytes).
    r = send(base + ef(0x7777, 28))  # the last field without a MAC is >= 28 bytes (RFC 7822)
    check(r is not None and len(r) == 48, "a valid unknown extension field should be answered with 48 bytes")

    # Trailing 4/8/20/24/28 bytes: MAC rules. No keys here: a MAC cannot be
    # verified, so nothing is answered; other sizes are malformed.
    for n in [4, 8, 20, 24, 28]:
        expect_drop(base + struct.pack("!I", 1) + b"\x55" * (n - 4), f"trailing {n} bytes")
    flush_drops()

    # An NTS request while NTS is off: unique identifier + cookie + authenticator.
    nts = base + ef(0x0104, 36) + ef(0x0204, 104) + ef(0x0404, 40)
    r = send(nts)
    check(r is None or len(r) <= len(nts), "NTS request while NTS is off")

    # Random and mutated requests: never a reply longer than the request.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sent = {}
    for _ in range(300):
        n = rnd.choice([48, 52, 56, 64, 68, 72, 96, 120, 200])
        pkt = bytearray(rnd.getrandbits(8) for _ in range(n))
        pkt[0] = (pkt[0] & 0xC0) | (rnd.randint(0, 7) << 3) | rnd.randint(0, 7)
        sent[bytes(pkt[40:48])] = len(pkt)
        sock.sendto(bytes(pkt), ("127.0.0.1", port))
    sock.settimeout(0.5)
    try:
        while True:
            data, _ = sock.recvfrom(70000)
            req_len = sent.get(data[24:32])
            check(req_len is not None, "a reply whose origin matches no request")
            check(len(data) <= req_len, f"reply of {len(data)} bytes to a {req_len}-byte request")
            replies.append(data)
    except socket.timeout:
        pass
    sock.close()

    # The daemon still answers.
    r = ntp_query("127.0.0.1", port, timeout=1)
    check(r is not None and r["mode"] == 4, "daemon stopped answering after bad packets")

    rc = env.stop(d)
    check(rc == 0, f"exit code {rc} on SIGTERM")
    log = env.log(d)
    m = re.search(r"NTP server: received (\d+) answered (\d+) dropped (\d+) \(([^)]*)\)", log)
    check(m, f"no counter summary in the log:\n{log[-2000:]}")
    drops = dict(kv.split("=") for kv in m.group(4).split())
    print(m.group(0))
    for reason in ["too_short", "bad_length", "bad_version", "bad_mode", "bad_extension", "denied", "auth_failed"]:
        check(int(drops.get(reason, 0)) > 0, f"no drops counted as {reason}: {drops}")
    check(int(m.group(2)) >= len(replies), "answered counter below the replies we saw")
    # Hundreds of bad packets, and the log holds only start-up and exit lines.
    check(len(log.splitlines()) < 30, f"the daemon logged per packet ({len(log.splitlines())} lines)")


run_test("bad_packets", body)
