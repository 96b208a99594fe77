"""The drift file.

- SIGTERM writes the drift file in chrony's "%20.6f %20.6f" format, and a
  drift file written by one run is read back by the next.
- Every corrupt drift file of bad-inputs.md (empty, "abc", "nan nan",
  "1e308 0", truncated) gives a warning naming the file, and gnomond starts
  and serves anyway.
- A drift file whose directory cannot be written is logged at start and at
  exit, and gnomond keeps running and exits 0.
"""

import os
import re

from harness import check, free_udp_port, ntp_query, run_test, wait_until
from ops_helpers import gnomond_conf

DRIFT_LINE = re.compile(r"^ {0,19}-?\d+\.\d{6} {1,20}\d+\.\d{6}\n$")

CORRUPT = {
    "empty": "",
    "abc": "abc\n",
    "nan nan": "nan nan\n",
    "1e308 0": "1e308 0\n",
    "truncated": "           -12.34",
}


def start(env, drift, name):
    ntp, cmd = free_udp_port(), free_udp_port()
    d = env.start_gnomond(gnomond_conf(ntp, cmd, driftfile=drift, local=10), name=name)
    wait_until(lambda: ntp_query("127.0.0.1", ntp, timeout=0.3), 10, what=f"{name} to serve")
    return d


def body(env):
    drift = env.path("drift")
    d = start(env, drift, "first")
    check(env.stop(d) == 0, "SIGTERM exits 0")
    with open(drift) as f:
        text = f.read()
    print(f"drift file after SIGTERM: {text!r}")
    check(DRIFT_LINE.match(text), f"chrony's drift format: {text!r}")

    # A good file (e.g. chronyd's) is read back.
    with open(drift, "w") as f:
        f.write("%20.6f %20.6f\n" % (-12.345678, 0.123456))
    d = start(env, drift, "second")
    check(re.search(r"Frequency -12\.346 \+/- 0\.123 ppm read from " + re.escape(drift), env.log(d)),
          "the frequency is read from the drift file")
    check(env.stop(d) == 0, "exit 0")
    with open(drift) as f:
        freq, skew = (float(x) for x in f.read().split())
    check(abs(freq - -12.345678) < 1e-6 and abs(skew - 0.123456) < 1e-6,
          f"an unsynchronised run saves what it read back: {freq} {skew}")

    for label, content in CORRUPT.items():
        with open(drift, "w") as f:
            f.write(content)
        name = "corrupt-" + re.sub(r"\W+", "_", label)
        d = start(env, drift, name)
        log = env.log(d)
        check(re.search(r"warn.*drift file " + re.escape(drift), log, re.I),
              f"drift file {label!r}: no warning naming the file:\n{log}")
        check(env.stop(d) == 0, f"drift file {label!r}: exit 0")
        print(f"drift file {label!r}: warned, served, exit 0")

    # A directory that does not exist cannot be written, even by root.
    bad = env.path("no-such-dir", "drift")
    d = start(env, bad, "unwritable")
    check(re.search(r"error.*" + re.escape(os.path.dirname(bad)) + ".*not writable", env.log(d), re.I),
          "the unwritable directory is logged at start")
    check(d.poll() is None, "still running")
    check(env.stop(d) == 0, "exit 0 despite the unwritable drift directory")
    check(re.search(r"Could not write drift file " + re.escape(bad), env.log(d)), "the failed save is logged")


run_test("ops_drift", body)
