"""Access control over real sockets.

Clients bind to different 127.x.y.z addresses: allowed ones get answers,
denied ones get nothing, and a server with no `allow` answers nobody.
"""

from harness import check, free_udp_port, ntp_query, run_test, wait_until


def gnomond_conf(port, allow, deny):
    def arr(xs):
        return "[" + ", ".join(f'"{x}"' for x in xs) + "]"
    return f"""
[local]
stratum = 10

[server]
listen = ["127.0.0.1:{port}", "[::1]:{port}"]
allow = {arr(allow)}
deny = {arr(deny)}
threads = 1

[clock]
control = false
driftfile = ""

[control]
socket = ""
listen = []
"""


def answered(port, bind, host="127.0.0.1"):
    # A few tries, so that a lost datagram is not mistaken for a denial.
    for _ in range(3):
        r = ntp_query(host, port, bind=bind, timeout=0.4)
        if r is not None:
            return r
    return None


def body(env):
    p1 = free_udp_port()
    d1 = env.start_gnomond(gnomond_conf(p1, ["127.0.0.0/8"], ["127.0.0.99", "127.5.0.0/16"]), name="acl")
    wait_until(lambda: answered(p1, "127.0.0.1"), 10, what="gnomond to answer 127.0.0.1")
    for ip in ["127.0.0.1", "127.0.0.2", "127.0.0.98", "127.0.0.100", "127.4.255.255", "127.6.0.1"]:
        r = answered(p1, ip)
        check(r is not None, f"{ip} is allowed but got no answer")
        check(r["mode"] == 4 and r["org"] == r["sent_tx"], f"{ip}: bad reply {r}")
    for ip in ["127.0.0.99", "127.5.0.1", "127.5.255.254"]:
        check(answered(p1, ip) is None, f"{ip} is denied but got an answer")
    # IPv6 loopback is not in 127.0.0.0/8: denied.
    check(answered(p1, "::1", host="::1") is None, "::1 is not allowed but got an answer")

    # The most specific rule wins: allow a host inside a denied subnet.
    p2 = free_udp_port()
    env.start_gnomond(gnomond_conf(p2, ["127.0.0.0/8", "127.5.0.7", "::1"], ["127.5.0.0/16"]), name="acl2")
    wait_until(lambda: answered(p2, "127.0.0.1"), 10, what="second gnomond")
    check(answered(p2, "127.5.0.7") is not None, "127.5.0.7 is allowed by a more specific rule")
    check(answered(p2, "127.5.0.8") is None, "127.5.0.8 is denied by 127.5.0.0/16")
    check(answered(p2, "::1", host="::1") is not None, "::1 is allowed")

    # No allow at all: nobody is answered.
    p3 = free_udp_port()
    d3 = env.start_gnomond(gnomond_conf(p3, [], []), name="noallow")
    wait_until(lambda: "Serving NTP" in env.log(d3), 10, what="third gnomond to start")
    for ip in ["127.0.0.1", "127.0.0.2"]:
        check(answered(p3, ip) is None, f"server with no allow answered {ip}")

    rc = env.stop(d3)
    check(rc == 0, f"SIGTERM exit code {rc}")
    log = env.log(d3)
    check("denied=" in log, f"drop counters should show the denials:\n{log}")
    rc = env.stop(d1)
    check(rc == 0, f"SIGTERM exit code {rc}")
    check("denied=" in env.log(d1), "drop counters should show the denials")


run_test("access_control", body)
