"""Interleaved mode used by gnomond as a client (`xleave = true`).

A gnomond client polls three servers on loopback:
- a real `chronyd -x` server, with xleave;
- a gnomond server, with xleave;
- the same chronyd through a second address, without xleave.

Checked:
- `gnomonc ntpdata` shows interleaved replies from both xleave sources and
  basic replies from the third, with good samples accumulating from all;
- chronyd's own `serverstats` counts the interleaved replies it sent, so the
  mode was really negotiated on the wire;
- the client reads its requests' transmit times back from the kernel
  ("TX timestamping : Kernel"), except in the portable build;
- every offset is small: all daemons read the same system clock.
"""

from harness import check, free_udp_port, run_test, wait_until
from scale_helpers import chronyc_sock, gnomond_server_conf, gnomonc_json, portable_build, private_dir

# All three daemons read this machine's clock: an offset beyond this is wrong.
MAX_OFFSET_S = 0.002


def client_conf(chronyd_port, gnomond_port, sock):
    def source(address, port, xleave):
        return (f'[[source]]\naddress = "{address}"\nport = {port}\nmode = "server"\n'
                f"minpoll = -2\nmaxpoll = -2\nxleave = {str(xleave).lower()}\n\n")

    return (source("127.0.0.1", chronyd_port, True) + source("127.0.0.3", gnomond_port, True) +
            source("127.0.0.2", chronyd_port, False) +
            f'[clock]\ncontrol = false\ndriftfile = ""\n\n[control]\nsocket = "{sock}"\nlisten = []\n')


def body(env):
    chronyd_port = free_udp_port()
    gnomond_port = free_udp_port("127.0.0.3")
    cdir = private_dir(env, "chronyd-server")
    chronyd_sock = f"{cdir}/chronyd.sock"
    env.start_chronyd([f"port {chronyd_port}", "cmdport 0", f"bindcmdaddress {chronyd_sock}",
                       "local stratum 8", "allow 127.0.0.0/8"], name="chronyd-server")
    upstream_sock = env.path("upstream.sock")
    env.start_gnomond(gnomond_server_conf(gnomond_port, upstream_sock, listen=[f"127.0.0.3:{gnomond_port}"]),
                      name="gnomond-server")
    client_sock = env.path("client.sock")
    env.start_gnomond(client_conf(chronyd_port, gnomond_port, client_sock), name="gnomond-client")

    def rows():
        try:
            return {r["remote_address"]: r for r in gnomonc_json(env, client_sock, "ntpdata")["ntpdata"]}
        except Exception:  # not up yet
            return None

    def settled():
        r = rows()
        if not r or len(r) != 3:
            return None
        xl = [r.get("127.0.0.1"), r.get("127.0.0.3")]
        basic = r.get("127.0.0.2")
        if any(x is None or not x["interleaved"] or x["total_good_rx"] < 6 for x in xl):
            return None
        if basic is None or basic["total_good_rx"] < 6:
            return None
        return r

    r = wait_until(settled, 60, interval=0.5, what="interleaved samples from both xleave sources")

    for address, who in (("127.0.0.1", "chronyd"), ("127.0.0.3", "gnomond")):
        row = r[address]
        check(row["tests"] == "111 111 1111", f"{who}: tests {row['tests']}")
        check(abs(row["offset_s"]) < MAX_OFFSET_S, f"{who}: offset {row['offset_s']} s")
        check(row["rx_timestamping"] == "kernel", f"{who}: RX timestamping {row['rx_timestamping']}")
        if not portable_build(env):
            check(row["tx_timestamping"] == "kernel", f"{who}: TX timestamping {row['tx_timestamping']}")
            check(row["total_kernel_tx_timestamps"] >= 6, f"{who}: kernel TX count {row}")
        print(f"{who} xleave: interleaved, offset {row['offset_s'] * 1e6:+.1f} us, delay "
              f"{row['peer_delay_s'] * 1e6:.1f} us, good {row['total_good_rx']}/{row['total_tx']}, "
              f"TX {row['tx_timestamping']}")
    basic = r["127.0.0.2"]
    check(not basic["interleaved"], "the source without xleave got interleaved replies")
    check(abs(basic["offset_s"]) < MAX_OFFSET_S, f"basic: offset {basic['offset_s']} s")
    print(f"chronyd basic: offset {basic['offset_s'] * 1e6:+.1f} us, delay {basic['peer_delay_s'] * 1e6:.1f} us")

    # The interleaved replies as chronyd counted them.
    stats = chronyc_sock(chronyd_sock, "serverstats")
    counted = None
    for line in stats.splitlines():
        if line.startswith("Interleaved NTP packets"):
            counted = int(line.split(":", 1)[1])
    check(counted is not None and counted >= 6, f"chronyd served no interleaved replies:\n{stats}")
    print(f"chronyd serverstats: {counted} interleaved NTP packets")

    # The sources report: all three selectable, reach growing.
    sources = gnomonc_json(env, client_sock, "sources")
    states = {s["address"]: s for s in sources["sources"]}
    for address in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        check(address in states and states[address]["reach"] > 0, f"{address} not reached: {sources}")


if __name__ == "__main__":
    run_test("client_interleaved", body)
