"""Interleaved mode served by gnomond.

- A real chronyd -x client with `xleave` gets interleaved replies: its
  `chronyc ntpdata` shows "Interleaved : Yes", while a second source without
  xleave (to a second listen address) shows "No".
- The protocol by hand: a request whose origin is our previous receive
  timestamp gets, from the third exchange on, the transmit time of our
  previous reply (the kernel's, where the build reads it back), and each
  saved timestamp is handed out once only. A request whose origin is not one
  of ours gets a basic reply.
- serverstats counts interleaved replies and held timestamps, and (4.4+
  layout) the kernel transmit timestamps.
"""

import socket
import struct
import time

from harness import NTP_UNIX_OFFSET, check, free_udp_port, parse_reply, run_test, wait_until
from scale_helpers import chronyc_sock, chronyd_client, gnomond_server_conf, portable_build, serverstats


def ntp_now():
    t = time.time() + NTP_UNIX_OFFSET
    return (int(t) << 32) | (int((t % 1) * 2**32) & 0xFFFFFFFF)


def request(origin, receive, transmit):
    return struct.pack("!BBbb", (4 << 3) | 3, 0, 0, 0) + bytes(12) + struct.pack("!QQQQ", 0, origin, receive,
                                                                                  transmit)


def exchange(s, port, origin, receive, transmit):
    s.sendto(request(origin, receive, transmit), ("127.0.0.1", port))
    data, _ = s.recvfrom(512)
    r = parse_reply(data)
    check(r is not None and r["mode"] == 4, f"bad reply {data!r}")
    return r


def ntpdata_field(text, remote, field):
    block = None
    for chunk in text.split("\n\n"):
        if f"Remote address  : {remote} " in chunk:
            block = chunk
    if block is None:
        return None
    for line in block.splitlines():
        if line.startswith(field):
            return line.split(":", 1)[1].strip()
    return None


def body(env):
    port = free_udp_port()
    sock = env.path("gnomond.sock")
    env.start_gnomond(gnomond_server_conf(port, sock, listen=[f"127.0.0.1:{port}", f"127.0.0.2:{port}"]))
    wait_until(lambda: exchange_ok(port), 10, what="gnomond to answer")

    # By hand, from one socket.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.7", 0))
    s.settimeout(2.0)
    t1 = ntp_now() & ~1
    r1 = exchange(s, port, 0, 0, t1)
    check(r1["org"] == t1 and r1["rec"] & 1 == 1, f"basic reply 1: {r1}")
    # Interleaved form: origin = server's receive timestamp, receive = our receive time.
    r2 = exchange(s, port, r1["rec"], ntp_now(), ntp_now() + 1000)
    check(r2["org"] != r1["rec"], "second reply already interleaved: nothing was saved for it")
    local_rx2 = ntp_now()
    r3 = exchange(s, port, r2["rec"], local_rx2, ntp_now() + 2000)
    check(r3["org"] == local_rx2, f"interleaved reply's origin {r3['org']:x} is not our receive {local_rx2:x}")
    # r3's transmit is the kernel's (or daemon's) transmit time of reply 2:
    # after reply 2's receive timestamp, within a millisecond of its stamp.
    check(r3["xmt"] > r2["rec"], "interleaved transmit before the receive it answers")
    diff_s = abs(r3["xmt"] - r2["xmt"]) / 2**32
    check(diff_s < 1e-3, f"interleaved transmit is {diff_s * 1e6:.1f} us from the basic one")
    # The same origin again: handed out once only, so a basic reply.
    tx4 = ntp_now() + 3000
    r4 = exchange(s, port, r2["rec"], ntp_now(), tx4)
    check(r4["org"] == tx4, "a saved transmit timestamp was handed out twice")
    # An origin with the low bit set that is not ours: basic.
    tx5 = ntp_now() + 4000
    r5 = exchange(s, port, 0x0123456789ABCDEF, ntp_now(), tx5)
    check(r5["org"] == tx5, "a foreign origin got an interleaved reply")
    s.close()

    # A real chronyd client: xleave to 127.0.0.1, basic to 127.0.0.2.
    _, csock = chronyd_client(env, "chronyd-client", [
        f"server 127.0.0.1 port {port} minpoll -2 maxpoll -2 xleave",
        f"server 127.0.0.2 port {port} minpoll -2 maxpoll -2",
    ])

    def interleaved_yes():
        text = chronyc_sock(csock, "ntpdata")
        good = int(ntpdata_field(text, "127.0.0.1", "Total good RX") or 0)
        return ntpdata_field(text, "127.0.0.1", "Interleaved") == "Yes" and good >= 4 and text

    text = wait_until(interleaved_yes, 20, interval=0.5, what="chronyd's ntpdata to show Interleaved : Yes")
    check(ntpdata_field(text, "127.0.0.2", "Interleaved") == "No", "the basic source shows interleaved replies")

    stats = serverstats(env, sock)
    check(stats["interleaved_ntp_packets"] >= 2, f"interleaved replies not counted: {stats}")
    check(stats["ntp_timestamps_held"] >= 1, f"no timestamps held: {stats}")
    if "ntp_kernel_tx_timestamps" in stats and not portable_build(env):
        check(stats["ntp_kernel_tx_timestamps"] >= 1, f"no kernel transmit timestamps served: {stats}")
    print(f"chronyd: {ntpdata_field(text, '127.0.0.1', 'Interleaved')}, delay "
          f"{ntpdata_field(text, '127.0.0.1', 'Peer delay')}; gnomond: {stats['interleaved_ntp_packets']} "
          f"interleaved, kernel TX {stats.get('ntp_kernel_tx_timestamps', 'n/a')}")


def exchange_ok(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.3)
    try:
        s.sendto(request(0, 0, ntp_now()), ("127.0.0.1", port))
        s.recvfrom(512)
        return True
    except OSError:
        return False
    finally:
        s.close()


if __name__ == "__main__":
    run_test("interleaved", body)
