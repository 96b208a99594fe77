"""Helpers for the server-at-scale tests (rate limiting, client log,
interleaved mode, workers). Not a test itself: ctest registers only test_*.py.
"""

import json
import os
import subprocess
import urllib.request

from harness import Failure, check


def portable_build(env):
    """True if the build directory was configured with GNOMON_PORTABLE_IO=ON."""
    try:
        with open(os.path.join(env.build, "CMakeCache.txt")) as f:
            return any(line.strip().upper() in ("GNOMON_PORTABLE_IO:BOOL=ON", "GNOMON_PORTABLE_IO:BOOL=1")
                       for line in f)
    except OSError:
        return False


def gnomon_load(env, port, timeout_s=120, **opts):
    """Runs tools/gnomon-load with --key value options; returns its JSON result."""
    argv = [os.path.join(env.build, "tools", "gnomon-load"), "--port", str(port), "--json"]
    for k, v in opts.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    if r.returncode != 0:
        raise Failure(f"gnomon-load failed ({r.returncode}): {r.stderr.strip()}")
    return json.loads(r.stdout)


def gnomonc_json(env, socket_path, *args, timeout=60):
    r = subprocess.run([env.gnomonc, "-n", "-j", "-h", socket_path, *args], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise Failure(f"gnomonc {' '.join(args)} failed: {r.stdout} {r.stderr}")
    return json.loads(r.stdout)


def clients(env, socket_path):
    """Rows of `gnomonc clients` as dicts."""
    return gnomonc_json(env, socket_path, "clients")["clients"]


def serverstats(env, socket_path):
    return gnomonc_json(env, socket_path, "serverstats")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Failure(f"no VmRSS for {pid}")


def metrics(port):
    """The gnomond metrics page as {name: value} for unlabelled samples and
    {name{labels}: value} for labelled ones."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def private_dir(env, name):
    """A directory for a chronyd Unix command socket (chronyd -u root wants it
    owned by root and closed to others)."""
    d = env.path(name)
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o750)
    return d


def chronyd_client(env, name, server_lines, extra=()):
    """A client-only chronyd (-x, -u root) with a Unix command socket;
    returns (process, socket path)."""
    d = private_dir(env, name)
    sock = os.path.join(d, "chronyd.sock")
    lines = ["port 0", "cmdport 0", f"bindcmdaddress {sock}"] + list(server_lines) + list(extra)
    return env.start_chronyd(lines, name=name), sock


def chronyc_sock(sock, *args, timeout=10):
    r = subprocess.run(["chronyc", "-n", "-h", sock, *args], capture_output=True, text=True, timeout=timeout)
    return r.stdout + r.stderr


def gnomond_server_conf(port, sock, threads=1, clientloglimit=None, ratelimit=None, listen=None, metrics_port=None,
                        local=True):
    listen = listen or [f"127.0.0.1:{port}"]
    text = ""
    if local:
        text += "[local]\nstratum = 10\n\n"
    text += "[server]\n"
    text += "listen = [" + ", ".join(f'"{a}"' for a in listen) + "]\n"
    text += 'allow = ["127.0.0.0/8"]\n'
    text += f"threads = {threads}\n"
    if clientloglimit is not None:
        text += f"clientloglimit = {clientloglimit}\n"
    if ratelimit:
        text += "\n[server.ratelimit]\n"
        for k, v in ratelimit.items():
            text += f"{k} = {str(v).lower() if isinstance(v, bool) else v}\n"
    text += f'\n[clock]\ncontrol = false\ndriftfile = ""\n\n[control]\nsocket = "{sock}"\nlisten = []\n'
    if metrics_port:
        text += f'\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
    return text


def check_between(value, lo, hi, what):
    check(lo <= value <= hi, f"{what}: {value} not within [{lo}, {hi}]")
