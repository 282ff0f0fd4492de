"""systemd_unit: deploy/systemd/fedrouter.service and fedrouter@.service.

  verify     `systemd-analyze verify` has nothing to say about either unit
             (the units name /usr/bin/fedrouter, where the package puts it;
             here they are checked as copies naming the binary just built)
  security   `systemd-analyze security --offline` rates both at 2.0 or less
  same       the template's [Service] section is the plain unit's
  settings   Type=notify, a reload by SIGHUP, the hardening asked for, file
             descriptors for 100,000 clients, a stop timeout longer than the
             router's default drain
  example    the unit's ExecStartPre (fedrouter -t) passes on the example
             configuration the package installs
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import procs  # noqa: E402
from procs import expect  # noqa: E402

BUILD = sys.argv[1]
FEDROUTER = os.path.abspath(os.path.join(BUILD, "router", "fedrouter"))
UNITS = os.path.join(HERE, "..", "..", "deploy", "systemd")
EXAMPLE = os.path.join(HERE, "..", "..", "deploy", "fedrouter.example.ini")
NAMES = ["fedrouter.service", "fedrouter@.service"]


def service_lines(name):
    """The [Service] section's lines, comments and blank lines left out."""
    out, inside = [], False
    with open(os.path.join(UNITS, name)) as f:
        for ln in f:
            ln = ln.strip()
            if ln.startswith("["):
                inside = ln == "[Service]"
            elif inside and ln and not ln.startswith("#"):
                out.append(ln)
    return out


def settings(name):
    """{key: [values]} of the [Service] section."""
    d = {}
    for ln in service_lines(name):
        k, v = ln.split("=", 1)
        d.setdefault(k, []).append(v)
    return d


def run(args):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)


def main():
    tmp = tempfile.mkdtemp(prefix="fedrouter-unit.")
    t = procs.Tally()
    copies = []
    for name in NAMES:
        with open(os.path.join(UNITS, name)) as f:
            text = f.read()
        expect("/usr/bin/fedrouter " in text, "%s does not run /usr/bin/fedrouter" % name)
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text.replace("/usr/bin/fedrouter ", os.path.abspath(FEDROUTER) + " "))
        copies.append(path)

    def verify():
        for path in copies:
            unit = path.replace("@.service", "@a.service")
            r = run(["systemd-analyze", "verify", "--man=no", path if unit == path else unit])
            expect(r.returncode == 0 and not r.stdout.strip(),
                   "%s: exit %d: %s" % (os.path.basename(path), r.returncode, r.stdout.strip()))
    os.chdir(tmp)  # verify finds an instance of the template beside it
    t.check("verify: systemd-analyze verify passes both units", verify)

    def security():
        for path in copies:
            r = run(["systemd-analyze", "security", "--offline=yes", "--no-pager", "--threshold=20", path])
            m = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout)
            expect(m, "no exposure level: %s" % r.stdout[-300:])
            print("# %s exposure %s" % (os.path.basename(path), m.group(1)))
            expect(r.returncode == 0 and float(m.group(1)) <= 2.0,
                   "%s: exposure %s (exit %d)" % (os.path.basename(path), m.group(1), r.returncode))
    t.check("security: exposure 2.0 or less", security)

    def same():
        a, b = service_lines(NAMES[0]), service_lines(NAMES[1])
        expect(a == b, "the [Service] sections differ: %r" % sorted(set(a) ^ set(b)))
    t.check("same: the template serves as the plain unit does", same)

    def check_settings():
        s = settings(NAMES[0])
        want = {"Type": "notify", "ExecReload": "/bin/kill -HUP $MAINPID", "NoNewPrivileges": "yes",
                "ProtectSystem": "strict", "PrivateTmp": "yes", "ProtectHome": "yes", "KillSignal": "SIGTERM"}
        for k, v in want.items():
            expect(s.get(k) == [v], "%s=%s, want %s" % (k, s.get(k), v))
        rw = " ".join(s.get("ReadWritePaths", [])).split()
        for d in ("/var/lib/fedrouter", "/var/log/fedrouter"):
            expect(d in rw, "ReadWritePaths lacks %s" % d)
        expect(int(s["LimitNOFILE"][0]) >= 100000 + 4096, "LimitNOFILE=%s" % s["LimitNOFILE"])
        r = run([FEDROUTER, "--help"])
        m = re.search(r"shutdown\.grace_ms\D+(\d+)", r.stdout)
        expect(m, "no shutdown.grace_ms in fedrouter --help")
        expect(int(s["TimeoutStopSec"][0]) * 1000 > int(m.group(1)),
               "TimeoutStopSec=%s is not longer than the %s ms drain" % (s["TimeoutStopSec"], m.group(1)))
    t.check("settings: notify, reload, hardening, limits", check_settings)

    def example():
        pre = settings(NAMES[0])["ExecStartPre"][0].split()
        expect(pre[1:3] == ["-t", "-c"], "ExecStartPre is not fedrouter -t -c: %r" % pre)
        r = run([FEDROUTER, "-t", "-c", EXAMPLE])
        expect(r.returncode == 0, "fedrouter -t on the example: %s" % r.stdout.strip())
    t.check("example: fedrouter -t passes on the example configuration", example)
    rc = t.finish()
    procs.cleanup([], tmp, [], False)
    return rc


if __name__ == "__main__":
    sys.exit(main())
