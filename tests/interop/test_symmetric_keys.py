"""Symmetric keys against real chrony, both ways.

A. gnomond serves with a key file; one chronyd -x client per key (SHA1,
   SHA256, AES128, MD5) with `server ... key N` syncs to it (^*), and chronyd's
   ntpdata says the replies are authenticated. A chronyd with the same key ids
   but other secrets never syncs, and gnomond's drop counters (logged at exit)
   show auth_failed.
B. chronyd serves with the same key file; one gnomond client per key with
   `key = N` syncs to it, and a gnomond with the wrong secrets never does:
   its source stays unreachable while chronyd's serverstats count the drops.
C. Secrets never appear in any gnomond log, even for a malformed key line,
   at debug level.
"""

import os
import re
import secrets
import subprocess
import time

from harness import (Failure, check, chronyc, free_udp_port, run_test, source_rows,
                     wait_udp_answer, wait_until)

KEYS = [  # id, type, key material as written in the file, what to grep for
    (1, "SHA1", "HEX:" + secrets.token_hex(20).upper()),
    (2, "SHA256", "ASCII:" + secrets.token_hex(12)),
    (3, "AES128", "HEX:" + secrets.token_hex(16)),
    (4, "MD5", "ASCII:" + secrets.token_hex(10)),
]
WRONG = [(i, t, ("HEX:" + secrets.token_hex(16 if t == "AES128" else 20)) if v.startswith("HEX:")
          else "ASCII:" + secrets.token_hex(12)) for i, t, v in KEYS]
# A malformed line whose secret must not be echoed in the warning.
BAD_LINE_SECRET = secrets.token_hex(9)


def key_file(env, name, keys, extra=""):
    text = "# test keys\n" + "".join(f"{i} {t} {v}\n" for i, t, v in keys) + extra
    p = env.write(name, text)
    os.chmod(p, 0o600)
    return p


def secret_strings(keys):
    out = []
    for _, _, v in keys:
        body = v.split(":", 1)[1]
        out += [body, body.lower(), body.upper()]
    return out


def gnomond_client_conf(keyfile, ntp_port, cmd_port, key_id):
    return f"""
[[source]]
address = "127.0.0.1"
port = {ntp_port}
key = {key_id}
iburst = true
minpoll = 0
maxpoll = 0

[clock]
control = false
driftfile = ""

[auth]
keyfile = "{keyfile}"

[control]
socket = ""
listen = ["127.0.0.1:{cmd_port}"]
"""


def part_a(env, keyfile, wrongfile):
    ntp_port = free_udp_port()
    server = env.start_gnomond(f"""
[local]
stratum = 10

[server]
listen = ["127.0.0.1:{ntp_port}"]
allow = ["127.0.0.0/8"]
threads = 1

[clock]
control = false
driftfile = ""

[auth]
keyfile = "{keyfile}"

[control]
socket = ""
listen = []
""", name="gnomond-server")
    wait_udp_answer(ntp_port)

    clients = {}
    for key_id, ktype, _ in KEYS:
        cmd = free_udp_port()
        sock_dir = env.path(f"a{key_id}")
        os.mkdir(sock_dir, 0o700)
        env.start_chronyd([
            f"server 127.0.0.1 port {ntp_port} key {key_id} iburst minpoll 0 maxpoll 0",
            f"keyfile {keyfile}", "port 0", f"cmdport {cmd}", "bindcmdaddress 127.0.0.1",
            f"bindcmdaddress {sock_dir}/c.sock",
        ], name=f"chronyd-{ktype}")
        clients[ktype] = (cmd, f"{sock_dir}/c.sock")
    wrong_cmd = free_udp_port()
    env.start_chronyd([
        f"server 127.0.0.1 port {ntp_port} key 1 iburst minpoll 0 maxpoll 0",
        f"keyfile {wrongfile}", "port 0", f"cmdport {wrong_cmd}", "bindcmdaddress 127.0.0.1",
    ], name="chronyd-wrong")

    for ktype, (cmd, sock) in clients.items():
        def selected(cmd=cmd):
            rows = source_rows(chronyc(["sources"], port=cmd))
            return rows and rows[0]["state"] == "*" and rows[0]
        row = wait_until(selected, 40, interval=0.5, what=f"chronyd ({ktype} key) to select gnomond")
        check(row["stratum"] == 10, f"{ktype}: stratum {row['stratum']}")
        nd = chronyc(["ntpdata"], host=sock, port=None)
        print(f"{ktype}: {row['line']}")
        check(re.search(r"Authenticated\s*:\s*Yes", nd), f"{ktype}: ntpdata not authenticated:\n{nd}")
        m = re.search(r"Total valid RX\s*:\s*(\d+)", nd)
        check(m and int(m.group(1)) >= 3, f"{ktype}: too few valid replies:\n{nd}")
        if ktype == "SHA256":
            # chrony sends NTPv3 for digests longer than 20 bytes; we answer in kind.
            check(re.search(r"Version\s*:\s*3", nd), f"SHA256: expected an NTPv3 exchange:\n{nd}")

    rows = source_rows(chronyc(["sources"], port=wrong_cmd))
    check(rows and rows[0]["reach"] == 0 and rows[0]["state"] != "*",
          f"the wrong key must not sync: {rows}")
    rc = env.stop(server)
    check(rc == 0, f"gnomond server exit code {rc}")
    log = env.log(server)
    m = re.search(r"NTP server: received (\d+) answered (\d+) dropped (\d+) \(([^)]*)\)", log)
    check(m, f"no counter summary in the server log:\n{log[-2000:]}")
    drops = dict(kv.split("=") for kv in m.group(4).split() if "=" in kv)
    check(int(drops.get("auth_failed", 0)) >= 3, f"auth_failed not counted: {m.group(0)}")
    print(m.group(0))
    return [server]


def part_b(env, keyfile, wrongfile):
    ntp_port = free_udp_port()
    cmd = free_udp_port()
    sock_dir = env.path("b")
    os.mkdir(sock_dir, 0o700)
    env.start_chronyd([
        "local stratum 8", "allow 127.0.0.0/8", f"port {ntp_port}", f"keyfile {keyfile}",
        f"cmdport {cmd}", "bindcmdaddress 127.0.0.1", f"bindcmdaddress {sock_dir}/c.sock",
    ], name="chronyd-server")
    wait_udp_answer(ntp_port)

    clients = {}
    for key_id, ktype, _ in KEYS:
        c = free_udp_port()
        proc = env.start_gnomond(gnomond_client_conf(keyfile, ntp_port, c, key_id), name=f"gnomond-{ktype}")
        clients[ktype] = (c, proc)
    wrong_c = free_udp_port()
    wrong = env.start_gnomond(gnomond_client_conf(wrongfile, ntp_port, wrong_c, 3), name="gnomond-wrong")

    for ktype, (c, _) in clients.items():
        def selected(c=c):
            rows = source_rows(chronyc(["sources"], port=c))
            return rows and rows[0]["state"] == "*" and rows[0]
        row = wait_until(selected, 40, interval=0.5, what=f"gnomond ({ktype} key) to select chronyd")
        check(row["stratum"] == 8, f"{ktype}: stratum {row['stratum']}")
        print(f"{ktype}: {row['line']}")

    rows = source_rows(chronyc(["sources"], port=wrong_c))
    check(rows and rows[0]["reach"] == 0 and rows[0]["state"] != "*", f"the wrong key must not sync: {rows}")
    stats = chronyc(["serverstats"], host=f"{sock_dir}/c.sock", port=None)
    print(stats.strip())
    m = re.search(r"Authenticated NTP packets\s*:\s*(\d+)", stats)
    check(m and int(m.group(1)) >= 3 * len(KEYS), f"chronyd saw too few authenticated requests:\n{stats}")
    # The wrong key's requests are received but never authenticated (chronyd
    # drops them without an answer).
    rx = re.search(r"NTP packets received\s*:\s*(\d+)", stats)
    check(rx and int(rx.group(1)) - int(m.group(1)) >= 3, f"the wrong key's requests are not visible:\n{stats}")
    procs = [p for _, p in clients.values()] + [wrong]
    for p in procs:
        check(env.stop(p) == 0, f"gnomond client exit code {p.returncode}")
    return procs


def body(env):
    keyfile = key_file(env, "keys", KEYS, extra=f"9 SHA1 ASCIII:{BAD_LINE_SECRET} junk\n")
    wrongfile = key_file(env, "wrong.keys", WRONG)
    procs = part_a(env, keyfile, wrongfile)
    procs += part_b(env, keyfile, wrongfile)

    # C: no secret in any gnomond log (all ran with -d, so at debug level).
    needles = secret_strings(KEYS) + secret_strings(WRONG) + [BAD_LINE_SECRET]
    for p in procs:
        log = env.log(p)
        check("Loaded" in log and "symmetric keys" in log, f"no key-load line in {p.log_path}")
        for n in needles:
            check(n not in log, f"key material found in {p.log_path}")
    server_log = env.log(procs[0])
    check(re.search(r"keys:\d+: ", server_log), "the malformed key line was not reported")


run_test("symmetric_keys", body)
