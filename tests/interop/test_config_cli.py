"""gnomond's command line and config errors.

--check-config accepts the shipped configs; each bad-config row of
the bad-input checklist exits 78 naming the file and line; --version works;
SIGTERM and SIGINT exit 0.
"""

import os
import re
import signal
import subprocess

from harness import check, free_udp_port, ntp_query, run_test, wait_until


def run(env, args, timeout=20):
    r = subprocess.run([env.gnomond, *args], capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


BAD_TOML = {
    "subnet /33": '[server]\nallow = ["10.0.0.0/33"]\n',
    "subnet ::/129": '[server]\nallow = ["::/129"]\n',
    "subnet /-1": '[server]\nallow = ["10.0.0.0/-1"]\n',
    "subnet trailing slash": '[server]\nallow = ["10.0.0.0/"]\n',
    "subnet /8x": '[server]\nallow = ["10.0.0.0/8x"]\n',
    "bad address 300.1.1.1": '[server]\nallow = ["300.1.1.1"]\n',
    "port 70000": '[[source]]\naddress = "192.0.2.1"\nport = 70000\n',
    "minpoll > maxpoll": '[[source]]\naddress = "192.0.2.1"\nminpoll = 10\nmaxpoll = 6\n',
    "poll out of range": '[[source]]\naddress = "192.0.2.1"\nminpoll = -8\n',
    "ratelimit interval": '[server]\nallow = []\n[server.ratelimit]\ninterval = 13\n',
    "ratelimit burst": '[server]\nallow = []\n[server.ratelimit]\nburst = 0\n',
    "ratelimit leak": '[server]\nallow = []\n[server.ratelimit]\nleak = 5\n',
    "nan": '[clock]\nmaxslewrate-ppm = nan\n',
    "inf": '[clock]\nmaxslewrate-ppm = inf\n',
    "1e400": '[clock]\nmaxslewrate-ppm = 1e400\n',
    "wrong type": '[[source]]\naddress = 5\n',
    "unknown key": '[server]\nlisten = []\nbogus = 1\n',
    "unknown section": '[bogus]\nx = 1\n',
    "bad log level": '[log]\nlevel = "loud"\n',
    "syntax error": '[server\n',
}

BAD_CHRONY = {
    "subnet /33": "allow 10.0.0.0/33\n",
    "bad address": "allow 300.1.1.1\n",
    "port 70000": "port 70000\n",
    "minpoll > maxpoll": "server 192.0.2.1 minpoll 10 maxpoll 6\n",
    "trailing junk": "makestep 1.0x 3\n",
    "nan": "maxupdateskew nan\n",
    "missing argument": "server\n",
    "extra argument": "driftfile /a /b\n",
    "ratelimit leak": "ratelimit interval 3 burst 8 leak 9\n",
    "over-long line": "server " + "a" * 5000 + "\n",
}


def body(env):
    rc, out = run(env, ["--version"])
    check(rc == 0 and re.search(r"gnomond .*\d+\.\d+\.\d+", out), f"--version: {rc} {out}")

    for name in ["controller.toml", "compute.toml", "controller-chrony.conf"]:
        path = os.path.join(env.source, "conf", name)
        rc, out = run(env, ["--check-config", "-f", path])
        check(rc == 0, f"--check-config {name} exited {rc}:\n{out}")
        print(f"--- {name}: exit {rc}\n{out}")

    rc, out = run(env, ["--check-config", "-f", env.path("missing.toml")])
    check(rc == 78, f"a missing config file should exit 78, got {rc}")

    for label, text in BAD_TOML.items():
        path = env.write("bad.toml", text)
        rc, out = run(env, ["--check-config", "-f", path])
        check(rc == 78, f"TOML {label}: exit {rc}, want 78:\n{out}")
        check(re.search(re.escape(path) + r":\d+", out), f"TOML {label}: no file:line in:\n{out}")
    for label, text in BAD_CHRONY.items():
        path = env.write("bad.conf", text)
        rc, out = run(env, ["--check-config", "-f", path])
        check(rc == 78, f"chrony.conf {label}: exit {rc}, want 78:\n{out}")
        check(re.search(re.escape(path) + r":1", out), f"chrony.conf {label}: no file:line in:\n{out}")

    # Host bits set: masked with a warning, not an error.
    path = env.write("hostbits.toml", '[server]\nallow = ["10.0.0.1/8"]\n')
    rc, out = run(env, ["--check-config", "-f", path])
    check(rc == 0 and "10.0.0.0/8" in out and re.search("warning", out, re.I), f"host bits: {rc}\n{out}")

    # A bad command-line flag is a usage error.
    rc, out = run(env, ["--no-such-flag"])
    check(rc != 0, "an unknown flag must fail")

    # SIGTERM and SIGINT both exit 0.
    for sig in [signal.SIGTERM, signal.SIGINT]:
        port = free_udp_port()
        d = env.start_gnomond(f'[local]\n[server]\nlisten = ["127.0.0.1:{port}"]\nallow = ["127.0.0.1"]\n'
                              f'[clock]\ncontrol = false\ndriftfile = ""\n[control]\nsocket = ""\nlisten = []\n',
                              name=f"sig{int(sig)}")
        wait_until(lambda: ntp_query("127.0.0.1", port, timeout=0.3), 10, what="gnomond to answer")
        rc = env.stop(d, sig=sig)
        check(rc == 0, f"signal {sig.name}: exit code {rc}")

    # A port that cannot be bound is a runtime failure: exit 1.
    port = free_udp_port()
    blocker = env.start_gnomond(f'[server]\nlisten = ["127.0.0.1:{port}"]\nallow = []\nthreads = 1\n'
                                f'[clock]\ncontrol = false\ndriftfile = ""\n[control]\nsocket = ""\nlisten = []\n',
                                name="blocker")
    wait_until(lambda: "Serving NTP" in env.log(blocker), 10, what="blocker to start")
    path = env.write("dup.toml", f'[server]\nlisten = ["127.0.0.1:{port}"]\nallow = []\nthreads = 1\n'
                                 f'[clock]\ncontrol = false\ndriftfile = ""\n[control]\nsocket = ""\nlisten = []\n')
    rc, out = run(env, ["-x", "-f", path])
    check(rc == 1, f"a port in use should exit 1, got {rc}:\n{out}")


run_test("config_cli", body)
