"""OpenSSL is mapped only when the configuration needs it (idle RSS).

gnomond links no OpenSSL library: lib/openssl/on_demand.cpp loads libssl and
libcrypto with dlopen() on first use. Checked on running daemons through
/proc/PID/maps:
- a plain server (local clock, no keys, no NTS) never maps them, also after
  answering requests, including one that carries a MAC it cannot check;
- a server with a key file maps them at start, and authenticates a request
  signed with one of its keys (the reply carries a MAC of the same length).
"""

import hashlib
import os
import secrets
import struct

from harness import check, free_udp_port, ntp_request, run_test, send_raw, wait_udp_answer
from scale_helpers import gnomond_server_conf

KEY_ID = 7
KEY_HEX = secrets.token_hex(20).upper()


def server_conf(port, keyfile=None):
    text = gnomond_server_conf(port, "")
    if keyfile:
        text += f'\n[auth]\nkeyfile = "{keyfile}"\n'
    return text


def mapped_openssl(pid):
    with open(f"/proc/{pid}/maps") as f:
        return sorted({line.split()[-1] for line in f if "libssl" in line or "libcrypto" in line})


def signed_request():
    """A client request with an NTPv4 SHA1 MAC (RFC 5905 / chrony key types)."""
    req = ntp_request()
    digest = hashlib.sha1(bytes.fromhex(KEY_HEX) + req).digest()
    return req + struct.pack("!I", KEY_ID) + digest


def body(env):
    # No keys, no NTS: OpenSSL stays out, whatever arrives.
    port = free_udp_port()
    plain = env.start_gnomond(server_conf(port), name="plain")
    wait_udp_answer(port)
    for _ in range(5):
        check(send_raw(ntp_request(), port) is not None, "plain server did not answer")
    check(send_raw(signed_request(), port) is None, "a MAC the plain server cannot check was answered")
    check(send_raw(ntp_request(), port) is not None, "plain server stopped answering")
    check(plain.poll() is None, "plain server exited")
    maps = mapped_openssl(plain.pid)
    check(maps == [], f"a server without keys or NTS mapped OpenSSL: {maps}")
    print("without keys or NTS: no libssl or libcrypto mapped")

    # A key file: OpenSSL is loaded at start, and used.
    keyfile = env.write("keys", f"{KEY_ID} SHA1 HEX:{KEY_HEX}\n")
    os.chmod(keyfile, 0o600)
    port2 = free_udp_port()
    keyed = env.start_gnomond(server_conf(port2, keyfile), name="keyed")
    wait_udp_answer(port2)
    maps = mapped_openssl(keyed.pid)
    check(any("libcrypto" in m for m in maps) and any("libssl" in m for m in maps),
          f"a server with keys did not load OpenSSL: {maps}")
    reply = send_raw(signed_request(), port2)
    check(reply is not None and len(reply) == 48 + 4 + 20, f"signed request not answered with a MAC: {reply!r}")
    key_id = struct.unpack("!I", reply[48:52])[0]
    check(key_id == KEY_ID, f"reply MAC under key {key_id}")
    check(hashlib.sha1(bytes.fromhex(KEY_HEX) + reply[:48]).digest() == reply[52:], "reply MAC does not verify")
    print(f"with a key file: {', '.join(os.path.basename(m) for m in maps)} mapped; signed reply verifies")


if __name__ == "__main__":
    run_test("openssl_on_demand", body)
