"""NTS (RFC 8915) interop with a real chronyd.

The test makes its own certificates with the openssl CLI (self-signed P-256,
CN/SAN localhost and 127.0.0.1), then checks:
 A. a real chronyd -x with `server 127.0.0.1 port P nts ntsport Q` and
    `ntstrustedcerts` syncs to gnomond's NTS server, and `chronyc authdata`
    (over chronyd's Unix socket) shows mode NTS with cookies; a second
    chronyd does the same with `server localhost ...` (name verification);
    a request with a bogus cookie gets an NTS NAK echoing its identifier;
    gnomond restarted with its key directory keeps accepting chronyd's
    cookies; restarted without it, it NAKs them, and chronyd runs NTS-KE
    again and resyncs;
 B. gnomond's NTS client syncs to a real chronyd NTS server, and every NTP
    packet chronyd received from it was authenticated; when chronyd comes
    back with new server keys, gnomond gets an NTS NAK, runs NTS-KE again
    and goes on syncing;
 C. a certificate gnomond does not trust, or one for another name, fails
    clearly in gnomond's log, and gnomond sends no NTP at all to those
    servers (no unauthenticated fallback); a bad [nts] certificate path stops
    gnomond with a clear message.
"""

import os
import re
import shutil
import socket
import struct
import subprocess
import time

from harness import (Failure, check, chronyc, free_udp_port, ntp_request, parse_reply, run_test,
                     source_rows, wait_udp_answer, wait_until)

KOD_NTSN = 0x4E54534E


def make_cert(env, name, cn, san):
    key, cert = env.path(f"{name}.key"), env.path(f"{name}.crt")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={cn}",
                        "-addext", f"subjectAltName={san}"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"openssl failed: {r.stderr}")
    return cert, key


def chronyc_sock(sock, args):
    r = subprocess.run(["chronyc", "-n", "-h", sock, *args], capture_output=True, text=True, timeout=10)
    return r.stdout + r.stderr


def authdata_rows(text):
    """`chronyc authdata` rows: name, mode, key id, type, klen, last, atmp, nak, cook, clen."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 10 and parts[1] in ("NTS", "SK", "-"):
            rows.append({"name": parts[0], "mode": parts[1], "nak": int(parts[7]), "cookies": int(parts[8]),
                         "cookie_len": int(parts[9]), "line": line})
    return rows


def serverstats(sock):
    text = chronyc_sock(sock, ["serverstats"])
    stats = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            try:
                stats[k.strip()] = int(v.strip())
            except ValueError:
                pass
    return stats, text


def gnomond_conf_server(ntp_port, ke_port, cert, key, keydir, cmd_port):
    return f"""
[local]
stratum = 10

[server]
listen = ["127.0.0.1:{ntp_port}"]
allow = ["127.0.0.0/8"]
threads = 1

[nts]
listen = ["127.0.0.1:{ke_port}"]
certificate = "{cert}"
key = "{key}"
keydir = "{keydir}"

[clock]
control = false
driftfile = ""

[control]
socket = ""
listen = ["127.0.0.1:{cmd_port}"]
"""


def chronyd_nts_client(env, name, server, ntp_port, ke_port, cert):
    sock = env.path(f"{name}.sock")
    os.makedirs(env.path(f"{name}-nts"), exist_ok=True)
    env.start_chronyd([
        f"server {server} port {ntp_port} nts ntsport {ke_port} iburst minpoll 0 maxpoll 0",
        f"ntstrustedcerts {cert}",
        f"ntsdumpdir {env.path(name + '-nts')}",
        "port 0", "cmdport 0", f"bindcmdaddress {sock}",
    ], name=name)
    return sock


def chronyd_nts_server(env, name, ntp_port, ke_port, cert, key):
    sock = env.path(f"{name}.sock")
    os.makedirs(env.path(f"{name}-nts"), exist_ok=True)
    env.start_chronyd([
        "local stratum 8", "allow 127.0.0.0/8", f"port {ntp_port}", "bindaddress 127.0.0.1",
        f"ntsserverkey {key}", f"ntsservercert {cert}", f"ntsport {ke_port}",
        f"ntsdumpdir {env.path(name + '-nts')}",
        "cmdport 0", f"bindcmdaddress {sock}",
    ], name=name)
    return sock


def wait_tcp(port, timeout=10):
    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.3):
                return True
        except OSError:
            return False
    wait_until(up, timeout, what=f"TCP port {port}")


def ef(ef_type, body):
    return struct.pack("!HH", ef_type, 4 + len(body)) + body


def part_a(env, cert, key):
    ntp_port, ke_port, cmd_port = free_udp_port(), free_udp_port(), free_udp_port()
    keydir = env.path("gnomond-keys")
    g = env.start_gnomond(gnomond_conf_server(ntp_port, ke_port, cert, key, keydir, cmd_port), name="gnomond-server")
    wait_udp_answer(ntp_port)
    wait_tcp(ke_port)
    check(os.path.exists(os.path.join(keydir, "nts-server-keys")), "no server key file in the key directory")
    check(os.stat(os.path.join(keydir, "nts-server-keys")).st_mode & 0o077 == 0, "server key file is readable by others")

    t0 = time.monotonic()
    sock_ip = chronyd_nts_client(env, "client-ip", "127.0.0.1", ntp_port, ke_port, cert)
    sock_name = chronyd_nts_client(env, "client-name", "localhost", ntp_port, ke_port, cert)

    for sock, label in ((sock_ip, "127.0.0.1"), (sock_name, "localhost")):
        def selected():
            rows = source_rows(chronyc_sock(sock, ["sources"]))
            return rows and rows[0]["state"] == "*" and rows[0]
        row = wait_until(selected, 40, interval=0.5, what=f"chronyd ({label}) to select gnomond over NTS")
        check(row["stratum"] == 10, f"stratum {row['stratum']}, want 10")
        auth = authdata_rows(chronyc_sock(sock, ["authdata"]))
        check(auth, f"no authdata rows:\n{chronyc_sock(sock, ['authdata'])}")
        check(auth[0]["mode"] == "NTS", f"authdata mode is {auth[0]['mode']}:\n{auth[0]['line']}")
        check(auth[0]["cookies"] >= 1, f"no cookies:\n{auth[0]['line']}")
        check(auth[0]["nak"] == 0, f"NAKs:\n{auth[0]['line']}")
        print(f"A: chronyd ({label}) selected gnomond after {time.monotonic() - t0:.1f}s\n   {row['line']}\n   "
              f"authdata: {auth[0]['line']}")

    # A request with a bogus cookie gets a NAK that echoes its identifier.
    uid = os.urandom(32)
    extra = ef(0x0104, uid) + ef(0x0204, os.urandom(100)) + ef(0x0404, struct.pack("!HH", 16, 16) + os.urandom(32))
    req = ntp_request(extra=extra)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.sendto(req, ("127.0.0.1", ntp_port))
    try:
        data, _ = s.recvfrom(2048)
    except socket.timeout:
        raise Failure("no NTS NAK for a bogus cookie")
    finally:
        s.close()
    r = parse_reply(data)
    check(r["stratum"] == 0 and r["refid"] == KOD_NTSN, f"not a NAK: stratum {r['stratum']} refid {r['refid']:#x}")
    check(len(data) <= len(req), f"NAK longer than the request ({len(data)} > {len(req)})")
    check(data[48:52] == struct.pack("!HH", 0x0104, 36) and data[52:84] == uid, "the NAK does not echo the UID")
    print(f"A: bogus cookie -> NTS NAK of {len(data)} bytes echoing the UID")
    env.stop(g)
    log = env.log(g)
    m = re.search(r"NTP server: received (\d+) answered (\d+)", log)
    check(m and int(m.group(2)) > 0, f"gnomond's counters missing:\n{log[-2000:]}")
    print(f"A: gnomond {m.group(0)}")

    def authdata(sock):
        rows = authdata_rows(chronyc_sock(sock, ["authdata"]))
        return rows[0] if rows else None

    def replies_to(sock):
        rows = source_rows(chronyc_sock(sock, ["sources"]))
        return rows[0]["reach"] if rows else 0

    # Restarted with the same key directory: chronyd's cookies stay valid.
    g = env.start_gnomond(gnomond_conf_server(ntp_port, ke_port, cert, key, keydir, cmd_port), name="gnomond-server2")
    wait_udp_answer(ntp_port)
    time.sleep(3)  # three polls at minpoll 0
    a = authdata(sock_ip)
    check(a and a["nak"] == 0, f"NAK after a restart with the same keys:\n{a}")
    check(replies_to(sock_ip) & 0b111 == 0b111, f"chronyd lost replies after the restart:\n"
          f"{chronyc_sock(sock_ip, ['sources'])}")
    check(re.search(r"Loaded \d+ NTS server key", env.log(g)), "gnomond did not load its saved keys")
    print(f"A: gnomond restarted with its key directory: no NAK, no lost reply\n   {a['line']}")
    env.stop(g)

    # Restarted without it: new keys; chronyd's cookies are NAKed and it runs NTS-KE again.
    shutil.rmtree(keydir)
    g = env.start_gnomond(gnomond_conf_server(ntp_port, ke_port, cert, key, keydir, cmd_port), name="gnomond-server3")
    wait_udp_answer(ntp_port)
    a = wait_until(lambda: (lambda r: r and r["nak"] >= 1 and r)(authdata(sock_ip)), 30, interval=0.5,
                   what="chronyd to get an NTS NAK from gnomond with new keys")
    wait_until(lambda: replies_to(sock_ip) & 0b11 == 0b11, 30, interval=0.5,
               what="chronyd to get authenticated replies again")
    a = authdata(sock_ip)
    check(a["mode"] == "NTS" and a["cookies"] >= 1, f"no new cookies after the NAK:\n{a['line']}")
    print(f"A: gnomond restarted with new keys: chronyd got a NAK, ran NTS-KE again, resynced\n   {a['line']}")
    env.stop(g)


def part_b(env, cert, key):
    ntp_port, ke_port, cmd_port = free_udp_port(), free_udp_port(), free_udp_port()
    sock = chronyd_nts_server(env, "server-good", ntp_port, ke_port, cert, key)
    wait_tcp(ke_port)
    t0 = time.monotonic()
    g = env.start_gnomond(f"""
[[source]]
address = "127.0.0.1"
port = {ntp_port}
nts = true
nts-port = {ke_port}
iburst = true
minpoll = 0
maxpoll = 0

[nts]
enabled = false
trusted-certs = "{cert}"

[clock]
control = false
driftfile = ""

[control]
socket = ""
listen = ["127.0.0.1:{cmd_port}"]
""", name="gnomond-client")

    def selected():
        rows = source_rows(chronyc(["sources"], port=cmd_port))
        return rows and rows[0]["state"] == "*" and rows[0]
    row = wait_until(selected, 40, interval=0.5, what="gnomond to select chronyd over NTS")
    check(row["stratum"] == 8, f"stratum {row['stratum']}, want 8")
    stats, text = serverstats(sock)
    check(stats.get("NTS-KE connections accepted", 0) >= 1, f"no NTS-KE connection at chronyd:\n{text}")
    check(stats.get("Authenticated NTP packets", 0) >= 1, f"no authenticated NTP packets at chronyd:\n{text}")
    check(stats.get("Authenticated NTP packets") == stats.get("NTP packets received"),
          f"chronyd received unauthenticated NTP from gnomond:\n{text}")
    print(f"B: gnomond selected chronyd over NTS after {time.monotonic() - t0:.1f}s\n   {row['line']}\n   "
          f"chronyd: {stats['NTP packets received']} NTP packets, all authenticated; "
          f"{stats['NTS-KE connections accepted']} NTS-KE connection(s)")
    check("NTS-KE with 127.0.0.1" in env.log(g), "gnomond logged no NTS-KE")

    # chronyd restarts with new server keys: gnomond's cookies are NAKed.
    server = next(p for p in env.procs if p.args[-1].endswith("server-good.conf"))
    env.stop(server)
    shutil.rmtree(env.path("server-good-nts"))
    sock = chronyd_nts_server(env, "server-good", ntp_port, ke_port, cert, key)
    wait_tcp(ke_port)
    kes_before = env.log(g).count("cookies, NTP server")
    wait_until(lambda: "NTS NAK from 127.0.0.1" in env.log(g), 30, interval=0.5, what="gnomond to get an NTS NAK")
    wait_until(lambda: env.log(g).count("cookies, NTP server") > kes_before, 30, interval=0.5,
               what="gnomond to run NTS-KE again after the NAK")

    def answered_again():
        stats, _ = serverstats(sock)
        return stats.get("Authenticated NTP packets", 0) >= 2 and stats
    stats = wait_until(answered_again, 30, interval=0.5, what="authenticated NTP to the restarted chronyd")
    print(f"B: chronyd restarted with new keys -> NTS NAK -> new NTS-KE -> {stats['Authenticated NTP packets']} "
          f"authenticated NTP packets of {stats['NTP packets received']}")
    env.stop(g)


def part_c(env, cert, key):
    other_cert, _ = make_cert(env, "other", "localhost", "DNS:localhost,IP:127.0.0.1")
    wrong_cert, wrong_key = make_cert(env, "wrong", "wrong.example", "DNS:wrong.example")
    p1, k1 = free_udp_port(), free_udp_port()
    p2, k2 = free_udp_port(), free_udp_port()
    sock1 = chronyd_nts_server(env, "server-untrusted", p1, k1, cert, key)
    sock2 = chronyd_nts_server(env, "server-wrongname", p2, k2, wrong_cert, wrong_key)
    wait_tcp(k1)
    wait_tcp(k2)
    trust = env.path("trust.pem")
    with open(trust, "w") as f:
        f.write(open(other_cert).read() + open(wrong_cert).read())
    cmd_port = free_udp_port()
    g = env.start_gnomond(f"""
[[source]]
address = "127.0.0.1"
port = {p1}
nts = true
nts-port = {k1}
iburst = true
minpoll = 0
maxpoll = 0

[[source]]
address = "127.0.0.1"
port = {p2}
nts = true
nts-port = {k2}
iburst = true
minpoll = 0
maxpoll = 0

[nts]
enabled = false
trusted-certs = "{trust}"

[clock]
control = false
driftfile = ""

[control]
socket = ""
listen = ["127.0.0.1:{cmd_port}"]
""", name="gnomond-badcert")

    def both_failed():
        log = env.log(g)
        return (re.search(rf"NTS-KE with 127\.0\.0\.1 \(127\.0\.0\.1:{k1}\) failed: certificate verification failed", log)
                and re.search(rf"NTS-KE with 127\.0\.0\.1 \(127\.0\.0\.1:{k2}\) failed: certificate verification "
                              r"failed: IP address mismatch", log))
    wait_until(both_failed, 20, interval=0.5, what="gnomond to log both certificate failures")
    time.sleep(5)  # several polls (minpoll 0) in which a fallback would have sent NTP
    for line in env.log(g).splitlines():
        if "NTS-KE" in line and "failed" in line:
            print(f"C: {line.split(' ', 2)[2]}")
    rows = source_rows(chronyc(["sources"], port=cmd_port))
    check(len(rows) == 2 and all(r["reach"] == 0 and r["state"] != "*" for r in rows),
          f"a source was reached despite the failed key exchange:\n{rows}")
    for sock in (sock1, sock2):
        stats, text = serverstats(sock)
        check(stats.get("NTP packets received", -1) == 0,
              f"gnomond fell back to unauthenticated NTP:\n{text}")
    print("C: no NTP packet reached either server (no unauthenticated fallback)")
    env.stop(g)

    # A missing certificate stops the NTS server with a clear message.
    bad = env.start_gnomond(gnomond_conf_server(free_udp_port(), free_udp_port(), env.path("missing.crt"), key,
                                                env.path("k2"), free_udp_port()), name="gnomond-nocert")
    try:
        bad.wait(timeout=15)
    except subprocess.TimeoutExpired:
        raise Failure("gnomond kept running without its NTS certificate")
    check(bad.returncode != 0, "gnomond exited 0 without its NTS certificate")
    check("NTS server certificate" in env.log(bad) and "missing.crt" in env.log(bad),
          f"no clear message about the certificate:\n{env.log(bad)[-1500:]}")
    print("C: a missing NTS certificate stops gnomond: " +
          next(l for l in env.log(bad).splitlines() if "missing.crt" in l).split(" ", 2)[2])


def body(env):
    os.chmod(env.dir, 0o700)  # chronyd's command sockets need a private directory
    cert, key = make_cert(env, "server", "localhost", "DNS:localhost,IP:127.0.0.1")
    part_a(env, cert, key)
    part_b(env, cert, key)
    part_c(env, cert, key)


run_test("nts", body)
