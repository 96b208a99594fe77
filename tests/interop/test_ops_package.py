"""The .deb: install, run, purge.

This test changes the machine (dpkg -i creates the _gnomon user, /etc/gnomon,
/var/lib/gnomon, ...), so it runs only when asked:

    scripts/package.sh                                   # builds build-deb/gnomon_*.deb
    GNOMON_TEST_DEB=build-deb/gnomon_0.1.0_amd64.deb ctest --test-dir build -R ops_package

Otherwise it prints SKIP and passes. It refuses to run if gnomon is already
installed. It checks: dpkg -i succeeds; `gnomond --version`; `gnomond
--check-config` on the installed /etc/gnomon/gnomon.toml (the controller
example); the conffiles; the unit passes `systemd-analyze verify` with the
installed binary and man pages; the installed gnomond drops to _gnomon with
-u; `dpkg --purge` leaves none of the package's files or directories behind.
(The _gnomon system user stays, as Debian's chrony leaves _chrony; the test
removes it if it created it.)
"""

import os
import subprocess

from harness import check, free_udp_port, ntp_query, run_test, wait_until

LEFTOVERS = ["/etc/gnomon", "/var/lib/gnomon", "/var/log/gnomon", "/usr/sbin/gnomond", "/usr/bin/gnomonc",
             "/usr/lib/systemd/system/gnomond.service", "/etc/logrotate.d/gnomon",
             "/etc/systemd/system/multi-user.target.wants/gnomond.service", "/usr/share/man/man8/gnomond.8.gz"]


def sh(argv, timeout=120):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    print(f"$ {' '.join(argv)}  -> exit {r.returncode}\n{(r.stdout + r.stderr).strip()}")
    return r.returncode, r.stdout + r.stderr


def installed():
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "gnomon"], capture_output=True, text=True)
    return "install ok installed" in r.stdout


def body(env):
    deb = os.environ.get("GNOMON_TEST_DEB", "")
    if not deb:
        print("SKIP: set GNOMON_TEST_DEB to a .deb built by scripts/package.sh")
        return
    if os.geteuid() != 0:
        print("SKIP: dpkg -i needs root")
        return
    check(os.path.isfile(deb), f"no such file {deb}")
    check(not installed(), "gnomon is already installed; not touching it")
    user_existed = subprocess.run(["getent", "passwd", "_gnomon"], capture_output=True).returncode == 0
    try:
        rc, _ = sh(["dpkg", "-i", deb])
        check(rc == 0, "dpkg -i")
        rc, out = sh(["/usr/sbin/gnomond", "--version"])
        check(rc == 0 and "gnomond" in out, "gnomond --version")
        rc, out = sh(["/usr/sbin/gnomond", "--check-config"])
        check(rc == 0 and "/etc/gnomon/gnomon.toml: configuration OK" in out and "allow 10.0.0.0/24" in out,
              "gnomond --check-config on the installed config")
        rc, out = sh(["dpkg-query", "-W", "-f=${Conffiles}", "gnomon"])
        check("/etc/gnomon/gnomon.toml" in out and "/etc/logrotate.d/gnomon" in out, "conffiles")
        rc, out = sh(["systemd-analyze", "verify", os.path.join(env.source, "packaging", "gnomond.service")])
        check(rc == 0 and not out.strip(), "systemd-analyze verify with the installed binary and man pages")
        check(subprocess.run(["getent", "passwd", "_gnomon"], capture_output=True).returncode == 0, "_gnomon exists")

        ntp = free_udp_port()
        conf = env.write("installed.toml", f'[local]\nstratum = 10\n[server]\nlisten = ["127.0.0.1:{ntp}"]\n'
                         'allow = ["127.0.0.0/8"]\nthreads = 1\n[clock]\ncontrol = false\n'
                         'driftfile = "/var/lib/gnomon/drift"\n[control]\nsocket = "/run/gnomon/gnomond.sock"\n'
                         'listen = []\n')
        os.chmod(env.dir, 0o755)
        d = env.start(["/usr/sbin/gnomond", "-f", conf, "-u", "_gnomon"], "installed.log")
        wait_until(lambda: ntp_query("127.0.0.1", ntp, timeout=0.3), 10, what="the installed gnomond to serve")
        rc, out = sh(["/usr/bin/gnomonc", "-n", "sources"])
        check(rc == 0 and "#* LOCL" in out, "the installed gnomonc over /run/gnomon/gnomond.sock")
        check(env.stop(d) == 0, "exit 0")
        with open("/var/lib/gnomon/drift") as f:
            check(len(f.read().split()) == 2, "the drift file written by _gnomon")
    finally:
        if installed():
            sh(["dpkg", "--purge", "gnomon"])
        if not user_existed:
            subprocess.run(["userdel", "_gnomon"], capture_output=True)
    left = [p for p in LEFTOVERS if os.path.lexists(p)]
    check(not left, f"left behind after dpkg --purge: {left}")


run_test("ops_package", body)
