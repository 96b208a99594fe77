"""Prometheus metrics.

gnomond -x syncs to an upstream chronyd (local stratum 8), with LOCL as a
fallback and one name that never resolves, and serves a few clients (good
and malformed requests). A scrape of /metrics:
- passes `promtool check metrics` (Debian's prometheus package);
- has the system, per-source and server series with the expected values;
- agrees with `gnomonc tracking` taken around it;
and a client that opens a connection and never finishes its request blocks
neither other scrapes nor NTP.
"""

import math
import re
import shutil
import socket
import subprocess
import urllib.error

from harness import check, free_udp_port, ntp_query, run_test, send_raw, source_rows, wait_until
from ops_helpers import (gnomonc, gnomond_conf, http_get, metric, parse_metrics, parse_tracking, source_block,
                         upstream_chronyd)


def tracking_values(text):
    t = parse_tracking(text)

    def num(key):
        return float(t[key].split()[0])

    def signed(key, positive_word):
        v = num(key)
        return v if positive_word in t[key] else -v
    leap = {"Normal": 0, "Insert second": 1, "Delete second": 2, "Not synchronised": 3}[t["Leap status"]]
    return {
        "refid": t["Reference ID"].split()[0],
        "ref_time": t["Ref time (UTC)"],
        "gnomon_system_stratum": num("Stratum"),
        "gnomon_system_offset_seconds": signed("System time", "fast"),
        "gnomon_system_last_offset_seconds": num("Last offset"),
        "gnomon_system_rms_offset_seconds": num("RMS offset"),
        "gnomon_system_frequency_ppm": signed("Frequency", "fast"),
        "gnomon_system_residual_frequency_ppm": num("Residual freq"),
        "gnomon_system_skew_ppm": num("Skew"),
        "gnomon_system_root_delay_seconds": num("Root delay"),
        "gnomon_system_root_dispersion_seconds": num("Root dispersion"),
        "gnomon_system_update_interval_seconds": num("Update interval"),
        "gnomon_system_leap": leap,
    }


# How far a metric may be from chronyc's rounded text: half its last digit.
ROUNDING = {
    "gnomon_system_stratum": 0, "gnomon_system_leap": 0,
    "gnomon_system_frequency_ppm": 0.0005, "gnomon_system_residual_frequency_ppm": 0.0005,
    "gnomon_system_skew_ppm": 0.0005, "gnomon_system_update_interval_seconds": 0.05,
    "gnomon_system_offset_seconds": 5e-10, "gnomon_system_last_offset_seconds": 5e-10,
    "gnomon_system_rms_offset_seconds": 5e-10, "gnomon_system_root_delay_seconds": 5e-10,
}


def body(env):
    promtool = shutil.which("promtool")
    check(promtool is not None, "promtool is missing (scripts/setup.sh installs Debian's prometheus)")
    up_ntp, up_cmd = free_udp_port(), free_udp_port()
    upstream_chronyd(env, up_ntp, up_cmd)
    ntp, cmd, mport = free_udp_port(), free_udp_port(), free_udp_port()
    sources = source_block(up_ntp) + '\n[[source]]\naddress = "127.127.1.0"\n' + \
        '\n[[source]]\naddress = "no-such-host.invalid"\n'
    d = env.start_gnomond(gnomond_conf(ntp, cmd, sources=sources, extra=f'[metrics]\nlisten = "127.0.0.1:{mport}"\n'),
                          name="metrics")
    url = f"http://127.0.0.1:{mport}/metrics"

    def synced():
        rows = source_rows(gnomonc(env, cmd, "sources"))
        return any(r["name"] == "127.0.0.1" and r["state"] == "*" for r in rows)
    wait_until(synced, 20, what="gnomond to select the upstream chronyd")

    answered = sum(1 for _ in range(5) if ntp_query("127.0.0.1", ntp, timeout=1.0) is not None)
    check(answered == 5, f"{answered}/5 NTP queries answered")
    for _ in range(3):
        send_raw(b"\x23" * 20, ntp, timeout=0.05)  # too short: dropped

    status, headers, text = http_get(url)
    check(status == 200, f"HTTP status {status}")
    check(headers["Content-Type"].startswith("text/plain; version=0.0.4"), f"content type {headers['Content-Type']}")
    lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    print(f"promtool check metrics: exit {lint.returncode} {lint.stdout.strip()} {lint.stderr.strip()}")
    check(lint.returncode == 0 and not lint.stdout.strip(), f"promtool: {lint.stdout}{lint.stderr}\n{text}")
    m = parse_metrics(text)
    names = {n for n, _ in m}
    for n in ["gnomon_build_info", "gnomon_system_synchronised", "gnomon_system_stratum",
              "gnomon_system_offset_seconds", "gnomon_system_frequency_ppm", "gnomon_system_skew_ppm",
              "gnomon_system_root_delay_seconds", "gnomon_system_root_dispersion_seconds", "gnomon_system_leap",
              "gnomon_system_last_update_age_seconds", "gnomon_source_state", "gnomon_source_reach",
              "gnomon_source_stratum", "gnomon_source_poll_interval_seconds", "gnomon_source_offset_seconds",
              "gnomon_source_delay_seconds", "gnomon_source_jitter_seconds", "gnomon_source_samples",
              "gnomon_server_received_packets_total", "gnomon_server_answered_packets_total",
              "gnomon_server_dropped_packets_total", "gnomon_server_rate_limited_packets_total",
              "gnomon_server_kod_sent_packets_total"]:
        check(n in names, f"series {n} missing")
    check(all(re.fullmatch(r"gnomon_[a-z0-9_]+", n) for n in names), "every name is gnomon_*")
    check(metric(m, "gnomon_system_synchronised") == 1, "synchronised")
    check(metric(m, "gnomon_system_stratum") == 9, "stratum 9")
    up = dict(name="127.0.0.1", address="127.0.0.1", mode="server")
    check(metric(m, "gnomon_source_state", **up) == 0, "the upstream is selected (state 0)")
    check(metric(m, "gnomon_source_stratum", **up) == 8, "upstream stratum 8")
    check(metric(m, "gnomon_source_reach", **up) > 0, "upstream reach")
    check(metric(m, "gnomon_source_samples", **up) >= 3, "upstream samples")
    check(metric(m, "gnomon_source_poll_interval_seconds", **up) == 1, "upstream poll 1 s")
    check(0 < metric(m, "gnomon_source_delay_seconds", **up) < 0.1, "loopback delay")
    check(abs(metric(m, "gnomon_source_offset_seconds", **up)) < 0.01, "loopback offset")
    check(metric(m, "gnomon_source_state", name="LOCL", mode="local") is not None, "LOCL row")
    check(metric(m, "gnomon_source_reach", name="no-such-host.invalid", address="") == 0, "unresolved row")
    check(metric(m, "gnomon_server_received_packets_total") >= 8, "received counts every request")
    check(metric(m, "gnomon_server_answered_packets_total") >= 5, "answered")
    check(metric(m, "gnomon_server_dropped_packets_total", reason="too_short") >= 3, "dropped{too_short}")

    # Agreement with gnomonc tracking: a scrape between two identical reports.
    for attempt in range(10):
        t1 = tracking_values(gnomonc(env, cmd, "tracking"))
        m = parse_metrics(http_get(url)[2])
        t2 = tracking_values(gnomonc(env, cmd, "tracking"))
        if t1["ref_time"] == t2["ref_time"]:
            break
    else:
        check(False, "the reference was updated during every attempt")
    print(f"tracking: {t1}")
    refid_label = [dict(ls)["refid"] for (n, ls) in m if n == "gnomon_system_reference_info"][0]
    check(refid_label == t1["refid"], f"refid {refid_label} vs tracking {t1['refid']}")
    for key, tol in ROUNDING.items():
        v = metric(m, key)
        lo, hi = min(t1[key], t2[key]) - tol, max(t1[key], t2[key]) + tol
        check(lo - 1e-12 <= v <= hi + 1e-12, f"{key} = {v!r}, gnomonc tracking says {t1[key]!r}/{t2[key]!r}")
    disp = metric(m, "gnomon_system_root_dispersion_seconds")
    check(t1["gnomon_system_root_dispersion_seconds"] - 5e-10 <= disp <=
          t2["gnomon_system_root_dispersion_seconds"] + 5e-10, "root dispersion between the two reports")
    age = metric(m, "gnomon_system_last_update_age_seconds")
    check(not math.isnan(age) and 0 <= age < 5, f"last update age {age}")

    # A stalled client blocks nothing.
    stall = socket.create_connection(("127.0.0.1", mport), timeout=5)
    stall.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    check(http_get(url)[0] == 200, "a scrape while another connection stalls")
    check(ntp_query("127.0.0.1", ntp, timeout=1.0) is not None, "NTP while a scrape stalls")
    stall.close()
    for path, code in [("/nothing", 404)]:
        try:
            http_get(f"http://127.0.0.1:{mport}{path}")
            check(False, f"{path} should fail")
        except urllib.error.HTTPError as e:
            check(e.code == code, f"{path}: {e.code}")
    check(env.stop(d) == 0, "clean exit")


run_test("ops_metrics", body)
