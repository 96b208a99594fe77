#!/usr/bin/env python3
"""Golden test: gnomonc against a real chronyd, compared with chronyc.

Three private `chronyd -x` instances run on loopback high ports:
  A  local stratum 8, serves NTP on 127.0.0.1
  C  local stratum 9, serves NTP on 127.0.0.2
  B  a client of A and C, plus a dead server (127.0.0.3), no clock control
For every command gnomonc shares with chronyc, both are run against the same
daemon at (nearly) the same moment: over UDP and over the Unix socket, in
text and CSV. Outputs must be identical once the few numbers that change
second by second are masked. To ride out a poll landing between two calls,
chronyc runs before and after gnomonc and gnomonc must match either run.
gnomonc -j is parsed with json and checked field by field against chronyc's
text, formatted with chronyc's own rules.

Usage: test_gnomonc_vs_chronyc.py --build-dir B --source-dir S
Exit 0 on success (or SKIP when chronyd is not installed), 1 on failure.
"""

import argparse
import datetime
import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CMD_TIMEOUT_S = 30
SYNC_TIMEOUT_S = 60
ATTEMPTS = 3


def log(msg):
    print(msg, flush=True)


def free_udp_port(taken):
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in taken and port > 1024:
            taken.add(port)
            return port
    raise RuntimeError("no free UDP port")


def run(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=CMD_TIMEOUT_S)
    return p.returncode, p.stdout, p.stderr


# ---------------------------------------------------------------------------
# chronyc's number formatting (client.c), for checking JSON against text.

def fmt_interval(s):
    if s is None:
        return "   -"
    if s < 1200:
        return "%4d" % s
    if s < 36000:
        return "%3dm" % (s // 60)
    if s < 345600:
        return "%3dh" % (s // 3600)
    d = s // 86400
    if d > 999:
        return "%3dy" % (d // 365)
    return "%3dd" % d


def fmt_ns(s):
    x = abs(s)
    if x < 9999.5e-9:
        return "%4.0fns" % (x * 1e9)
    if x < 9999.5e-6:
        return "%4.0fus" % (x * 1e6)
    if x < 9999.5e-3:
        return "%4.0fms" % (x * 1e3)
    if x < 999.5:
        return "%5.1fs" % x
    if x < 99999.5:
        return "%5.0fs" % x
    if x < 99999.5 * 60:
        return "%5.0fm" % (x / 60)
    if x < 99999.5 * 3600:
        return "%5.0fh" % (x / 3600)
    if x < 99999.5 * 86400:
        return "%5.0fd" % (x / 86400)
    return "%5.0fy" % (x / (86400 * 365))


def fmt_signed_ns(s):
    x = abs(s)
    if x < 9999.5e-9:
        return "%+5.0fns" % (s * 1e9)
    if x < 9999.5e-6:
        return "%+5.0fus" % (s * 1e6)
    if x < 9999.5e-3:
        return "%+5.0fms" % (s * 1e3)
    if x < 999.5:
        return "%+6.1fs" % s
    if x < 99999.5:
        return "%+6.0fs" % s
    if x < 99999.5 * 60:
        return "%+6.0fm" % (s / 60)
    if x < 99999.5 * 3600:
        return "%+6.0fh" % (s / 3600)
    if x < 99999.5 * 86400:
        return "%+6.0fd" % (s / 86400)
    return "%+6.0fy" % (s / (86400 * 365))


def fmt_freq(f, signed=False):
    if abs(f) < 99999.5:
        return ("%+10.3f" if signed else "%10.3f") % f
    return ("%+10.0f" if signed else "%10.0f") % f


def fmt_clientlog_interval(v):
    return " -" if v is None else "%2d" % v


LEAP_TEXT = {"normal": "Normal", "insert_second": "Insert second", "delete_second": "Delete second",
             "not_synchronised": "Not synchronised", "invalid": "Invalid"}
LEAP_LETTER = {"normal": "N", "insert_second": "+", "delete_second": "-", "not_synchronised": "?", "invalid": "?"}


def utc_text(unix_s):
    return datetime.datetime.fromtimestamp(int(unix_s), datetime.timezone.utc).strftime("%a %b %d %H:%M:%S %Y")


# ---------------------------------------------------------------------------
# Masks for numbers that change from one second to the next.

def mask_text(command, out):
    lines = out.split("\n")
    res = []
    for line in lines:
        if command == "sources" and re.match(r"^[\^=#][*+\-x~? ] ", line) and len(line) >= 50:
            line = line[:46] + "####" + line[50:]  # LastRx
        elif command == "sourcestats" and len(line) >= 78 and not line.startswith(("Name/IP", "=", " ", "|")):
            line = line[:63] + "#######" + line[70:]  # Offset: estimated for "now", moves with time
        elif command == "selectdata" and re.match(r"^[^ ] .{25} [YN] ", line) and len(line) >= 47:
            line = line[:42] + "####" + line[46:]  # Last
        elif command == "clients" and len(line) >= 79 and not line.startswith(("Hostname", "=")):
            line = line[:50] + "####" + line[54:75] + "####" + line[79:]  # both Last columns
        elif command == "tracking" and line.startswith(("System time", "Root dispersion")):
            line = line[:18] + "#"
        elif command == "serverstats" and line.startswith("Command packets received"):
            line = line[:29] + "#"
        res.append(line)
    return "\n".join(res)


def mask_csv(command, out):
    positions = {"sources": [6], "sourcestats": [6], "selectdata": [13], "clients": [5, 9], "tracking": [4, 11],
                 "serverstats": [2]}.get(command, [])
    res = []
    for line in out.split("\n"):
        fields = line.split(",")
        for p in positions:
            if len(fields) > p:
                fields[p] = "#"
        res.append(",".join(fields))
    return "\n".join(res)


class Checker:
    def __init__(self, gnomonc):
        self.gnomonc = gnomonc
        self.failures = []
        self.checks = 0

    def fail(self, msg):
        self.failures.append(msg)
        log("FAIL: " + msg)

    def compare(self, target_args, words, csv=False):
        """chronyc, gnomonc, chronyc with the same arguments; gnomonc must match one chronyc run."""
        command = words[0]
        flags = ["-n"] + (["-c"] if csv else [])
        mask = mask_csv if csv else mask_text
        label = " ".join(flags + target_args + words)
        self.checks += 1
        last = None
        for _ in range(ATTEMPTS):
            before = run(["chronyc"] + flags + target_args + words)
            mine = run([self.gnomonc] + flags + target_args + words)
            after = run(["chronyc"] + flags + target_args + words)
            m = (mine[0], mask(command, mine[1]), mine[2].strip())
            b = (before[0], mask(command, before[1]), before[2].strip())
            a = (after[0], mask(command, after[1]), after[2].strip())
            if m == b or m == a:
                log("ok   %s (exit %d, %d lines)" % (label, mine[0], mine[1].count("\n")))
                return mine
            last = (b, m)
            time.sleep(0.2)
        b, m = last
        self.fail("%s differs from chronyc\n--- chronyc (exit %d)\n%s%s\n--- gnomonc (exit %d)\n%s%s" %
                  (label, b[0], b[1], b[2], m[0], m[1], m[2]))
        return None

    def json_vs_text(self, target_args, words, check):
        """gnomonc -j between two chronyc text runs; `check` compares one pair and returns a mismatch or None."""
        label = "-j " + " ".join(target_args + words)
        self.checks += 1
        problem = None
        for _ in range(ATTEMPTS):
            before = run(["chronyc", "-n"] + target_args + words)
            mine = run([self.gnomonc, "-n", "-j"] + target_args + words)
            after = run(["chronyc", "-n"] + target_args + words)
            if mine[0] != 0:
                problem = "exit %d: %s %s" % (mine[0], mine[1], mine[2])
                continue
            try:
                doc = json.loads(mine[1])
            except ValueError as e:
                problem = "not JSON (%s): %r" % (e, mine[1])
                continue
            problem = check(doc, before[1])
            if problem is None:
                log("ok   %s (JSON matches the text field by field)" % label)
                return
            if check(doc, after[1]) is None:
                log("ok   %s (JSON matches the text field by field)" % label)
                return
            time.sleep(0.2)
        self.fail("%s: %s" % (label, problem))


# ---------------------------------------------------------------------------
# Field-by-field JSON checks against chronyc's text.

def table_rows(text, header_prefix):
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(header_prefix):
            return [l for l in lines[i + 2:] if l]
    return None


def expect(pairs):
    for name, want, got in pairs:
        if want != got:
            return "%s: text %r, json gives %r" % (name, want, got)
    return None


def check_sources(doc, text):
    rows = table_rows(text, "MS Name/IP address")
    items = doc.get("sources")
    if rows is None or items is None or len(rows) != len(items):
        return "row count: text %s, json %s" % (rows and len(rows), items and len(items))
    for row, s in zip(rows, items):
        p = expect([
            ("mode", row[0], s["mode_symbol"]), ("state", row[1], s["state_symbol"]),
            ("name", row[3:30].rstrip(), s["name"]), ("stratum", row[32:34], "%2d" % s["stratum"]),
            ("poll", row[36:38], "%2d" % s["poll_log2"]), ("reach", row[41:44], "%3o" % s["reach"]),
            ("last_rx", row[46:50], fmt_interval(s["last_rx_s"])),
            ("sample", row[52:], "%s[%s] +/- %s" % (fmt_signed_ns(s["offset_s"]), fmt_signed_ns(s["measured_offset_s"]),
                                                    fmt_ns(s["error_s"]))),
            ("symbols", (row[0], row[1]), ({"server": "^", "peer": "=", "local": "#"}[s["mode"]],
                                           {"selected": "*", "combined": "+", "not_combined": "-", "falseticker": "x",
                                            "jittery": "~", "unusable": "?"}[s["state"]])),
        ])
        if p:
            return p
    return None


UNIT_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0,
          "y": 86400.0 * 365}


def parse_scaled(text):
    m = re.match(r"^\s*([+-]?[0-9.]+)(ns|us|ms|s|m|h|d|y)$", text)
    return float(m.group(1)) * UNIT_S[m.group(2)], UNIT_S[m.group(2)]


def check_sourcestats(doc, text):
    rows = table_rows(text, "Name/IP Address            NP")
    items = doc.get("sourcestats")
    if rows is None or items is None or len(rows) != len(items):
        return "row count differs"
    for row, s in zip(rows, items):
        want = "%-25s %3d %3d  %s %s %s  %s  %s" % (s["name"], s["samples"], s["runs"], fmt_interval(s["span_s"]),
                                                   fmt_freq(s["frequency_ppm"], True), fmt_freq(s["skew_ppm"]),
                                                   fmt_signed_ns(s["offset_s"]), fmt_ns(s["std_dev_s"]))
        # The offset is estimated for the moment of the request: compare it
        # within two display units (plus 1 us of drift), the rest exactly.
        if row[:63] + row[70:] != want[:63] + want[70:]:
            return "row: text %r, json gives %r" % (row, want)
        value, unit = parse_scaled(row[63:70])
        if abs(value - s["offset_s"]) > 2 * unit + 1e-6:
            return "offset: text %r, json %r" % (row[63:70], s["offset_s"])
    return None


def check_selectdata(doc, text):
    rows = table_rows(text, "S Name/IP Address")
    items = doc.get("selectdata")
    if rows is None or items is None or len(rows) != len(items):
        return "row count differs"

    def opts(o):
        return ("N" if o["noselect"] else "-") + ("P" if o["prefer"] else "-") + ("T" if o["trust"] else "-") + \
            ("R" if o["require"] else "-") + "-"
    for row, s in zip(rows, items):
        want = "%s %-25s %s %s %s %s %5.1f %s %s  %s" % (
            s["state"], s["name"], "Y" if s["authenticated"] else "N", opts(s["configured_options"]),
            opts(s["effective_options"]), fmt_interval(s["last_sample_ago_s"]), s["score"],
            fmt_signed_ns(s["interval_low_s"]), fmt_signed_ns(s["interval_high_s"]), LEAP_LETTER[s["leap"]])
        if row != want:
            return "row: text %r, json gives %r" % (row, want)
    return None


def text_fields(text):
    out = {}
    for line in text.split("\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def close(name, text_value, json_value, tol):
    if abs(text_value - json_value) > tol:
        return "%s: text %r, json %r" % (name, text_value, json_value)
    return None


def check_tracking(doc, text):
    f = text_fields(text)
    m = re.match(r"([0-9A-F]{8}) \((.*)\)$", f.get("Reference ID", ""))
    if not m:
        return "no Reference ID in text"
    st = re.match(r"([0-9.]+) seconds (fast|slow) of NTP time", f["System time"])
    fr = re.match(r"([0-9.]+) ppm (fast|slow)", f["Frequency"])
    sys_text = float(st.group(1)) * (1 if st.group(2) == "fast" else -1)
    freq_text = float(fr.group(1)) * (1 if fr.group(2) == "fast" else -1)
    p = expect([
        ("reference id", m.group(1), doc["reference_id"]), ("reference name", m.group(2), doc["reference_name"]),
        ("stratum", f["Stratum"], str(doc["stratum"])),
        ("ref time", f["Ref time (UTC)"], utc_text(doc["ref_time_unix_s"])),
        ("last offset", f["Last offset"], "%+.9f seconds" % doc["last_offset_s"]),
        ("rms offset", f["RMS offset"], "%.9f seconds" % doc["rms_offset_s"]),
        ("frequency", "%.3f" % freq_text, "%.3f" % doc["frequency_ppm"]),
        ("residual", f["Residual freq"], "%+.3f ppm" % doc["residual_frequency_ppm"]),
        ("skew", f["Skew"], "%.3f ppm" % doc["skew_ppm"]),
        ("root delay", f["Root delay"], "%.9f seconds" % doc["root_delay_s"]),
        ("update interval", f["Update interval"], "%.1f seconds" % doc["update_interval_s"]),
        ("leap", f["Leap status"], LEAP_TEXT[doc["leap"]]),
    ])
    return p or close("system time", sys_text, doc["system_time_offset_s"], 1e-4) or \
        close("root dispersion", float(f["Root dispersion"].split()[0]), doc["root_dispersion_s"], 1e-3)


def check_activity(doc, text):
    nums = [int(l.split()[0]) for l in text.split("\n") if l and l[0].isdigit() and "sources" in l]
    return expect([("counts", nums, [doc["online"], doc["offline"], doc["burst_online"], doc["burst_offline"],
                                     doc["unresolved"]])])


def check_clients(doc, text):
    rows = table_rows(text, "Hostname")
    items = doc.get("clients")
    if rows is None or items is None or len(rows) != len(items):
        return "row count differs"
    for row, c in zip(rows, items):
        want = "%-25s  %6d  %5d  %s  %s  %s  %6d  %5d  %s  %s" % (
            c["name"], c["ntp_packets"], c["ntp_drops"], fmt_clientlog_interval(c["ntp_interval_log2"]),
            fmt_clientlog_interval(c["ntp_timeout_interval_log2"]), fmt_interval(c["ntp_last_s"]), c["cmd_packets"],
            c["cmd_drops"], fmt_clientlog_interval(c["cmd_interval_log2"]), fmt_interval(c["cmd_last_s"]))
        if row != want:
            return "row: text %r, json gives %r" % (row, want)
    return None


def check_serverstats(doc, text):
    f = text_fields(text)
    p = expect([
        ("ntp received", f["NTP packets received"], str(doc["ntp_packets_received"])),
        ("ntp dropped", f["NTP packets dropped"], str(doc["ntp_packets_dropped"])),
        ("cmd dropped", f["Command packets dropped"], str(doc["command_packets_dropped"])),
        ("log dropped", f["Client log records dropped"], str(doc["client_log_records_dropped"])),
        ("nts accepted", f["NTS-KE connections accepted"], str(doc["nts_ke_connections_accepted"])),
        ("auth", f["Authenticated NTP packets"], str(doc["authenticated_ntp_packets"])),
        ("interleaved", f["Interleaved NTP packets"], str(doc["interleaved_ntp_packets"])),
        ("timestamps", f["NTP timestamps held"], str(doc["ntp_timestamps_held"])),
        ("span", f["NTP timestamp span"], str(doc["ntp_timestamp_span_s"])),
    ])
    return p or close("cmd received", int(f["Command packets received"]), doc["command_packets_received"], 3)


def check_ntpdata(doc, text):
    blocks = [b for b in text.split("\n\n") if b.strip()]
    items = doc.get("ntpdata")
    if items is None or len(blocks) != len(items):
        return "record count: text %d, json %s" % (len(blocks), items and len(items))
    modes = {"server": "Server", "symmetric_active": "Symmetric active", "symmetric_passive": "Symmetric passive",
             "invalid": "Invalid"}
    for block, n in zip(blocks, items):
        f = text_fields(block)
        p = expect([
            ("remote", f["Remote address"].split()[0], n["remote_address"]),
            ("port", f["Remote port"], str(n["remote_port"])),
            ("local", f["Local address"].split()[0], n["local_address"]),
            ("leap", f["Leap status"], LEAP_TEXT[n["leap"]]), ("version", f["Version"], str(n["version"])),
            ("mode", f["Mode"], modes[n["mode"]]), ("stratum", f["Stratum"], str(n["stratum"])),
            ("poll", f["Poll interval"].split()[0], str(n["poll_log2"])),
            ("precision", f["Precision"].split()[0], str(n["precision_log2"])),
            ("root delay", f["Root delay"], "%.6f seconds" % n["root_delay_s"]),
            ("root dispersion", f["Root dispersion"], "%.6f seconds" % n["root_dispersion_s"]),
            ("refid", f["Reference ID"].split()[0], n["reference_id"]),
            ("offset", f["Offset"], "%+.9f seconds" % n["offset_s"]),
            ("peer delay", f["Peer delay"], "%.9f seconds" % n["peer_delay_s"]),
            ("peer dispersion", f["Peer dispersion"], "%.9f seconds" % n["peer_dispersion_s"]),
            ("response", f["Response time"], "%.9f seconds" % n["response_time_s"]),
            ("asymmetry", f["Jitter asymmetry"], "%+.2f" % n["jitter_asymmetry"]),
            ("tests", f["NTP tests"], n["tests"]),
            ("interleaved", f["Interleaved"], "Yes" if n["interleaved"] else "No"),
            ("authenticated", f["Authenticated"], "Yes" if n["authenticated"] else "No"),
            ("tx ts", f["TX timestamping"].lower(), n["tx_timestamping"]),
            ("rx ts", f["RX timestamping"].lower(), n["rx_timestamping"]),
            ("tx", f["Total TX"], str(n["total_tx"])), ("rx", f["Total RX"], str(n["total_rx"])),
            ("valid", f["Total valid RX"], str(n["total_valid_rx"])),
            ("good", f["Total good RX"], str(n["total_good_rx"])),
        ])
        if p:
            return p
        if n["reference_time_unix_s"] and f["Reference time"] != utc_text(n["reference_time_unix_s"]):
            return "reference time: text %r, json %r" % (f["Reference time"], n["reference_time_unix_s"])
    return None


# ---------------------------------------------------------------------------

def write_conf(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()

    chronyd = shutil.which("chronyd") or ("/usr/sbin/chronyd" if os.path.exists("/usr/sbin/chronyd") else None)
    if chronyd is None:
        print("SKIP: chronyd is not installed")
        return 0
    if shutil.which("chronyc") is None:
        log("FAIL: chronyd is installed but chronyc is not")
        return 1
    gnomonc = os.path.join(args.build_dir, "tools", "gnomonc")
    if not os.access(gnomonc, os.X_OK):
        log("FAIL: %s not built" % gnomonc)
        return 1

    # Unix command sockets need a directory owned by chronyd's user, closed to others.
    socket_ok = os.geteuid() == 0
    try:
        chrony_uid = pwd.getpwnam("_chrony").pw_uid
        chrony_gid = grp.getgrnam("_chrony").gr_gid
    except KeyError:
        socket_ok = False
    if not socket_ok:
        log("note: not root or no _chrony user: the Unix socket part cannot run")

    tmp = tempfile.mkdtemp(prefix="gnomonc-interop-")
    os.chmod(tmp, 0o755)
    procs = []
    taken = set()
    try:
        ports = {k: free_udp_port(taken) for k in ("a_ntp", "a_cmd", "c_ntp", "c_cmd", "b_cmd")}
        dirs = {}
        for name in ("a", "b", "c"):
            d = os.path.join(tmp, name)
            os.mkdir(d)
            os.chmod(d, 0o750)
            if socket_ok:
                os.chown(d, chrony_uid, chrony_gid)
            dirs[name] = d

        def common(name, cmdport):
            d = dirs[name]
            lines = ["cmdport %d" % cmdport, "bindcmdaddress 127.0.0.1", "pidfile %s/chronyd.pid" % d,
                     "driftfile %s/drift" % d]
            if socket_ok:
                lines.append("bindcmdaddress %s/chronyd.sock" % d)
            else:
                lines.append("bindcmdaddress /")  # no Unix socket
            return lines

        write_conf(os.path.join(tmp, "a.conf"), common("a", ports["a_cmd"]) + [
            "port %d" % ports["a_ntp"], "bindaddress 127.0.0.1", "local stratum 8", "allow 127.0.0.0/8"])
        write_conf(os.path.join(tmp, "c.conf"), common("c", ports["c_cmd"]) + [
            "port %d" % ports["c_ntp"], "bindaddress 127.0.0.2", "local stratum 9", "allow 127.0.0.0/8"])
        write_conf(os.path.join(tmp, "b.conf"), common("b", ports["b_cmd"]) + [
            "port 0",
            "server 127.0.0.1 port %d iburst minpoll 4 maxpoll 4" % ports["a_ntp"],
            "server 127.0.0.2 port %d iburst minpoll 4 maxpoll 4" % ports["c_ntp"],
            "server 127.0.0.3 port %d minpoll 4 maxpoll 4" % ports["a_ntp"]])

        for name in ("a", "c", "b"):
            logf = open(os.path.join(tmp, name + ".log"), "w")
            p = subprocess.Popen([chronyd, "-x", "-d", "-f", os.path.join(tmp, name + ".conf")],
                                 stdout=logf, stderr=subprocess.STDOUT, cwd=tmp)
            procs.append((name, p, logf))

        udp_b = ["-h", "127.0.0.1", "-p", str(ports["b_cmd"])]
        udp_a = ["-h", "127.0.0.1", "-p", str(ports["a_cmd"])]
        sock_a = ["-h", os.path.join(dirs["a"], "chronyd.sock")]
        sock_b = ["-h", os.path.join(dirs["b"], "chronyd.sock")]

        # Wait (bounded) until B has selected A and both servers have answered.
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        synced = False
        while time.monotonic() < deadline:
            for name, p, _ in procs:
                if p.poll() is not None:
                    raise RuntimeError("chronyd %s exited early with %d; see %s" %
                                       (name, p.returncode, open(os.path.join(tmp, name + ".log")).read()))
            rc, out, _ = run(["chronyc", "-n"] + udp_b + ["sources"])
            if rc == 0 and re.search(r"^\^\* 127\.0\.0\.1 ", out, re.M) and \
                    re.search(r"^\^[+\-] 127\.0\.0\.2 ", out, re.M):
                synced = True
                break
            time.sleep(0.5)
        if not synced:
            raise RuntimeError("chronyd B did not synchronise within %d s:\n%s" % (SYNC_TIMEOUT_S, out))
        log("chronyd B synchronised to A")

        ck = Checker(gnomonc)

        # Over UDP: the monitoring commands work, everything else is 501.
        for words in (["sources"], ["sources", "-v"], ["sources", "-a"], ["sourcestats"], ["sourcestats", "-v"],
                      ["tracking"], ["activity"]):
            ck.compare(udp_b, words)
            ck.compare(udp_b, words, csv=True)
        for words in (["clients"], ["serverstats"], ["ntpdata"], ["ntpdata", "127.0.0.1"], ["selectdata"],
                      ["makestep"], ["burst", "1/2"], ["online"], ["offline", "127.0.0.3"], ["reload", "sources"]):
            result = ck.compare(udp_b, words)
            if result is not None and "501 Not authorised" not in result[1]:
                ck.fail("%s over UDP did not give 501 Not authorised: %r" % (" ".join(words), result[1]))
        ck.compare(udp_a, ["tracking"])
        ck.compare(udp_a, ["sources"])

        # Bad command lines and an unreachable daemon.
        ck.compare(udp_b, ["nosuchcommand"])
        ck.compare(udp_b, ["reload", "nothing"])
        ck.compare(["-h", "127.0.0.1", "-p", str(free_udp_port(taken))], ["tracking"])

        if socket_ok:
            # Over the Unix socket every command is served.
            for words in (["sources"], ["sources", "-v"], ["sourcestats"], ["tracking"], ["activity"],
                          ["ntpdata"], ["ntpdata", "127.0.0.1"], ["ntpdata", "127.0.0.2"], ["selectdata"],
                          ["selectdata", "-v"], ["clients"], ["serverstats"]):
                ck.compare(sock_b, words)
                ck.compare(sock_b, words, csv=True)
            for words in (["clients"], ["serverstats"], ["tracking"], ["sources"], ["ntpdata", "127.0.0.9"]):
                ck.compare(sock_a, words)
            ck.compare(sock_a, ["clients"], csv=True)
            ck.compare(sock_a, ["serverstats"], csv=True)
            # Control commands, aimed at the dead source so that the others keep running.
            for words in (["offline", "127.0.0.3"], ["online", "127.0.0.3"], ["burst", "1/2", "127.0.0.3"],
                          ["burst", "1/2", "127.0.0.99"], ["online", "255.255.255.255/127.0.0.3"],
                          ["makestep"], ["reload", "sources"], ["online"]):
                ck.compare(sock_b, words)
            # gnomonc -j, field by field against chronyc's text.
            ck.json_vs_text(sock_b, ["sources"], check_sources)
            ck.json_vs_text(sock_b, ["sourcestats"], check_sourcestats)
            ck.json_vs_text(sock_b, ["selectdata"], check_selectdata)
            ck.json_vs_text(sock_b, ["tracking"], check_tracking)
            ck.json_vs_text(sock_b, ["activity"], check_activity)
            ck.json_vs_text(sock_b, ["ntpdata"], check_ntpdata)
            ck.json_vs_text(sock_a, ["clients"], check_clients)
            ck.json_vs_text(sock_a, ["serverstats"], check_serverstats)
            # A failure in JSON mode is a JSON error document.
            rc, out, _ = run([gnomonc, "-n", "-j"] + udp_b + ["selectdata"])
            ck.checks += 1
            try:
                err = json.loads(out)["error"]
                if rc != 1 or err != {"code": 501, "message": "Not authorised"}:
                    ck.fail("-j selectdata over UDP: exit %d, %r" % (rc, out))
            except (ValueError, KeyError):
                ck.fail("-j selectdata over UDP: not a JSON error: %r" % out)
        else:
            ck.json_vs_text(udp_b, ["sources"], check_sources)
            ck.json_vs_text(udp_b, ["tracking"], check_tracking)

        if ck.failures:
            log("FAILED: %d of %d checks" % (len(ck.failures), ck.checks))
            return 1
        log("PASSED: %d checks" % ck.checks)
        return 0
    except Exception as e:  # report, then clean up
        log("FAIL: %s" % e)
        return 1
    finally:
        for name, p, logf in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
            logf.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
