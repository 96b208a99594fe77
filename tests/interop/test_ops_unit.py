"""The systemd unit and the packaging files.

- `systemd-analyze verify` (Debian's systemd) passes on packaging/gnomond.service,
  with ExecStart= pointed at this build's gnomond (the unit names
  /usr/sbin/gnomond, which exists once the package is installed) and the man
  pages of packaging/man on MANPATH (so the Documentation= links are checked);
- the unit has what the issue asks for: Type=notify, User=_gnomon, exactly
  CAP_SYS_TIME and CAP_NET_BIND_SERVICE, the sandboxing directives, the three
  directories, Conflicts= with chrony/ntp/timesyncd, RestartPreventExitStatus=
  with 78 and the panic code 65 (and not 1);
- the sysusers.d, tmpfiles.d and logrotate files name the same user and paths;
- `cmake --install` honours DESTDIR.
"""

import os
import re
import shutil
import subprocess

from harness import check, run_test


def unit_settings(text):
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        k, v = line.split("=", 1)
        settings.setdefault(k.strip(), []).append(v.strip())
    return settings


def body(env):
    pkg = os.path.join(env.source, "packaging")
    with open(os.path.join(pkg, "gnomond.service")) as f:
        unit = f.read()

    analyze = shutil.which("systemd-analyze")
    check(analyze is not None, "systemd-analyze is missing (Debian's systemd package)")
    copy = env.write("gnomond.service", unit.replace("/usr/sbin/gnomond", env.gnomond))
    man = env.path("man")
    for page in os.listdir(os.path.join(pkg, "man")):
        section = os.path.join(man, "man" + page.rsplit(".", 1)[1])
        os.makedirs(section, exist_ok=True)
        shutil.copy(os.path.join(pkg, "man", page), section)
    r = subprocess.run([analyze, "verify", copy], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MANPATH=man))
    print(f"systemd-analyze verify: exit {r.returncode} {r.stdout.strip()} {r.stderr.strip()}")
    check(r.returncode == 0 and not r.stderr.strip(), f"systemd-analyze verify:\n{r.stdout}{r.stderr}")
    sec = subprocess.run([analyze, "security", "--offline=yes", copy], capture_output=True, text=True, timeout=60)
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", sec.stdout)
    print(f"systemd-analyze security: {score.group(1) if score else '?'}")
    check(score and float(score.group(1)) <= 3.0, f"exposure {score.group(1) if score else '?'} > 3.0")

    s = unit_settings(unit)
    one = {k: v[-1] for k, v in s.items()}
    check(one["Type"] == "notify", "Type=notify")
    check(one["User"] == "_gnomon" and one["Group"] == "_gnomon", "User/Group=_gnomon")
    for k in ["AmbientCapabilities", "CapabilityBoundingSet"]:
        check(sorted(one[k].split()) == ["CAP_NET_BIND_SERVICE", "CAP_SYS_TIME"], f"{k}={one[k]}")
    for k, v in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                 ("PrivateTmp", "yes"), ("StateDirectory", "gnomon"), ("RuntimeDirectory", "gnomon"),
                 ("ConfigurationDirectory", "gnomon"), ("LogsDirectory", "gnomon"), ("RuntimeDirectoryMode", "0750")]:
        check(one.get(k) == v, f"{k}={one.get(k)}, want {v}")
    check("ProtectClock" not in one, "ProtectClock would forbid setting the clock")
    check(set(one["RestrictAddressFamilies"].split()) <= {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"},
          "RestrictAddressFamilies")
    check("@clock" in s["SystemCallFilter"][0] and "@system-service" in s["SystemCallFilter"][0], "SystemCallFilter")
    conflicts = one["Conflicts"].split()
    for u in ["chrony.service", "ntp.service", "systemd-timesyncd.service"]:
        check(u in conflicts, f"Conflicts= lacks {u}")
    prevent = one["RestartPreventExitStatus"].split()
    check("78" in prevent and "65" in prevent and "1" not in prevent, f"RestartPreventExitStatus={prevent}")
    check(one["Restart"] == "on-failure", "Restart=on-failure (exit 1 is restarted)")
    check(re.search(r"ExecReload=.*kill -HUP \$MAINPID", unit), "reload is SIGHUP")
    check(one.get("WatchdogSec"), "WatchdogSec")
    # The panic code in the unit is the daemon's.
    with open(os.path.join(env.source, "daemon", "daemon.hpp")) as f:
        check(re.search(r"kExitPanic = 65;", f.read()), "daemon.hpp's kExitPanic is 65")

    with open(os.path.join(pkg, "sysusers.d", "gnomon.conf")) as f:
        check(re.search(r"^u _gnomon - .* /var/lib/gnomon ", f.read(), re.M), "sysusers.d: user _gnomon")
    with open(os.path.join(pkg, "tmpfiles.d", "gnomon.conf")) as f:
        t = f.read()
        check(re.search(r"^d /var/lib/gnomon 0750 _gnomon _gnomon", t, re.M), "tmpfiles.d: /var/lib/gnomon")
    with open(os.path.join(pkg, "logrotate.d", "gnomon")) as f:
        t = "".join(line for line in f if not line.lstrip().startswith("#"))
        check("/var/log/gnomon/*.log" in t and "create" in t and "postrotate" not in t,
              "logrotate: creates new files, needs no postrotate")

    dest = env.path("destdir")
    # The compressed man pages are part of `all`; a partial build may lack them.
    subprocess.run(["cmake", "--build", env.build, "--target", "gnomon_man_pages"], capture_output=True, timeout=120)
    r = subprocess.run(["cmake", "--install", env.build], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, DESTDIR=dest))
    check(r.returncode == 0, f"cmake --install:\n{r.stdout}{r.stderr}")
    installed = {os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs}
    for suffix in ["sbin/gnomond", "bin/gnomonc", "lib/systemd/system/gnomond.service", "lib/sysusers.d/gnomon.conf",
                   "lib/tmpfiles.d/gnomon.conf", "etc/gnomon/gnomon.toml", "etc/logrotate.d/gnomon",
                   "man8/gnomond.8.gz", "man1/gnomonc.1.gz", "man5/gnomon.toml.5.gz"]:
        check(any(p.endswith(suffix) for p in installed), f"{suffix} not installed under DESTDIR: {sorted(installed)}")
    print(f"cmake --install with DESTDIR: {len(installed)} files, all under {dest}")


run_test("ops_unit", body)
