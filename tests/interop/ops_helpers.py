"""Helpers shared by the operations tests (tests/interop/test_ops_*.py).

Not a test itself: ctest registers only test_*.py.
"""

import contextlib
import os
import subprocess
import urllib.request

from harness import check


def gnomond_conf(ntp_port, cmd_port, sources="", extra="", driftfile="", local=None, threads=1):
    """A loopback gnomond config: NTP server on ntp_port, UDP control on
    cmd_port, no Unix socket, clock control off."""
    local_text = "" if local is None else f"[local]\nstratum = {local}\n"
    return f"""{sources}
{local_text}
[server]
listen = ["127.0.0.1:{ntp_port}"]
allow = ["127.0.0.0/8"]
threads = {threads}

[clock]
control = false
driftfile = "{driftfile}"

[control]
socket = ""
listen = ["127.0.0.1:{cmd_port}"]
{extra}
"""


def source_block(port, address="127.0.0.1", minpoll=0, maxpoll=0, iburst=True):
    return f"""
[[source]]
address = "{address}"
port = {port}
iburst = {"true" if iburst else "false"}
minpoll = {minpoll}
maxpoll = {maxpoll}
"""


def upstream_chronyd(env, ntp_port, cmd_port, name="upstream", stratum=8):
    return env.start_chronyd([f"local stratum {stratum}", "allow 127.0.0.0/8", f"port {ntp_port}",
                              f"cmdport {cmd_port}", "bindcmdaddress 127.0.0.1"], name=name)


def gnomonc(env, port, *args, timeout=20):
    r = subprocess.run([env.gnomonc, "-n", "-h", "127.0.0.1", "-p", str(port), *args],
                       capture_output=True, text=True, timeout=timeout)
    return r.stdout + r.stderr


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers, r.read().decode()


def parse_tracking(text):
    """`gnomonc tracking` as a dict of field name -> value text."""
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def parse_metrics(text):
    """Prometheus text -> {(name, frozenset(labels.items())): float}."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        labels = {}
        if "{" in head:
            name, rest = head.split("{", 1)
            rest = rest.rstrip("}")
            for part in split_labels(rest):
                k, v = part.split("=", 1)
                labels[k] = v.strip('"').replace('\\"', '"').replace("\\\\", "\\")
        else:
            name = head
        samples[(name, frozenset(labels.items()))] = float(value)
    return samples


def split_labels(text):
    parts, cur, quoted, esc = [], "", False, False
    for c in text:
        if esc:
            cur += c
            esc = False
        elif c == "\\":
            cur += c
            esc = True
        elif c == '"':
            cur += c
            quoted = not quoted
        elif c == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    if cur:
        parts.append(cur)
    return parts


def metric(samples, metric_name, **labels):
    want = frozenset(labels.items())
    for (n, ls), v in samples.items():
        if n == metric_name and want <= ls:
            return v
    return None


@contextlib.contextmanager
def environment(**values):
    """Sets environment variables for processes started inside the block."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_exit(env, proc, want, what):
    rc = env.stop(proc)
    check(rc == want, f"{what}: exit code {rc}, want {want}")
    return rc
