"""deb_package: the Debian package CPack builds, installed into an empty root.

  build     `cpack -G DEB` makes fedrouter_*.deb (into a temporary dir)
  control   it ships both commands, both units, both man pages and
            /etc/fedrouter/fedrouter.ini as a conffile; every package it
            depends on exists in Debian 12 (each is installed here)
  install   `dpkg --root` installs it into an empty root (maintainer scripts
            run chrootless with DPKG_ROOT set, so they leave this machine's
            users and systemd alone), and dpkg lists it as installed
  runs      the installed fedrouter passes `-t` on the installed example
            configuration; the installed fedrouter-admin prints its usage
  man       both man pages render without a warning (groff -ww)
  unit      the installed unit verifies (systemd-analyze, with ExecStart
            pointed into the root) and runs the paths the package installs
  remove    `dpkg -r` keeps the edited conffile, `dpkg -P` removes it
"""
import glob
import gzip
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import procs  # noqa: E402
from procs import expect  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])


def run(args, timeout=300, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, **kw)


def main():
    tmp = tempfile.mkdtemp(prefix="fedrouter-deb.")
    root = os.path.join(tmp, "root")
    t = procs.Tally()
    st = {}

    def build():
        r = run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B",
                 os.path.join(tmp, "out")], cwd=BUILD)
        debs = glob.glob(os.path.join(tmp, "out", "fedrouter_*.deb"))
        expect(r.returncode == 0 and len(debs) == 1, "cpack: exit %d: %s" % (r.returncode, r.stdout[-800:]))
        st["deb"] = debs[0]
    t.check("build: cpack -G DEB makes the package", build)
    if "deb" not in st:
        return t.finish()
    deb = st["deb"]

    def control():
        r = run(["dpkg-deb", "--contents", deb])
        files = {ln.split()[-1].lstrip(".") for ln in r.stdout.splitlines()}
        for f in ("/usr/bin/fedrouter", "/usr/bin/fedrouter-admin", "/lib/systemd/system/fedrouter.service",
                  "/lib/systemd/system/fedrouter@.service", "/usr/share/man/man8/fedrouter.8.gz",
                  "/usr/share/man/man8/fedrouter-admin.8.gz", "/etc/fedrouter/fedrouter.ini"):
            expect(f in files, "the package lacks %s" % f)
        ctl = os.path.join(tmp, "ctl")
        os.mkdir(ctl)
        r = run(["dpkg-deb", "-e", deb, ctl])
        expect(r.returncode == 0, r.stdout)
        with open(os.path.join(ctl, "conffiles")) as f:
            expect("/etc/fedrouter/fedrouter.ini" in f.read().split(), "fedrouter.ini is not a conffile")
        r = run(["dpkg-deb", "-f", deb, "Depends"])
        deps = [d.strip().split()[0] for d in r.stdout.strip().split(",") if d.strip()]
        expect("libsystemd0" in deps and "libev4" in deps, "Depends: %s" % r.stdout.strip())
        missing = [d for d in deps if run(["dpkg-query", "-W", "-f=${Status}", d]).stdout != "install ok installed"]
        expect(not missing, "dependencies not installed here (not Debian 12 names?): %s" % missing)
    t.check("control: files, conffile and Debian 12 dependencies", control)

    def install():
        os.makedirs(os.path.join(root, "var", "lib", "dpkg", "info"))
        os.makedirs(os.path.join(root, "var", "lib", "dpkg", "updates"))
        open(os.path.join(root, "var", "lib", "dpkg", "status"), "w").close()
        r = run(["dpkg", "--root=" + root, "--force-depends", "--force-script-chrootless", "--log=/dev/null",
                 "-i", deb])
        expect(r.returncode == 0, "dpkg -i: %s" % r.stdout[-800:])
        r = run(["dpkg-query", "--root=" + root, "-W", "-f=${Status} ${Version}", "fedrouter"])
        expect(r.stdout.startswith("install ok installed"), "dpkg says: %s" % r.stdout)
        st["installed"] = True
    t.check("install: dpkg --root installs it into an empty root", install)
    if "installed" not in st:
        return t.finish()

    def runs():
        conf = os.path.join(root, "etc", "fedrouter", "fedrouter.ini")
        r = run([os.path.join(root, "usr", "bin", "fedrouter"), "-t", "-c", conf])
        expect(r.returncode == 0 and r.stdout.strip() == "%s: ok" % conf, "fedrouter -t: %s" % r.stdout.strip())
        r = run([os.path.join(root, "usr", "bin", "fedrouter-admin"), "--help"])
        expect(r.returncode == 0 and "usage: fedrouter-admin" in r.stdout, "fedrouter-admin --help: %s" % r.stdout)
    t.check("runs: the installed fedrouter -t passes on the installed example", runs)

    def man():
        for page in ("fedrouter", "fedrouter-admin"):
            path = os.path.join(root, "usr", "share", "man", "man8", page + ".8.gz")
            with gzip.open(path, "rb") as f:
                src = f.read()
            r = subprocess.run(["groff", "-man", "-ww", "-Tutf8"], input=src, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=30)
            expect(r.returncode == 0 and not r.stderr, "%s: %s" % (page, r.stderr.decode()[-400:]))
            text = re.sub(r".\x08", "", r.stdout.decode())
            expect("SYNOPSIS" in text and page in text, "%s renders as %r" % (page, text[:200]))
    t.check("man: both man pages render without warnings", man)

    def unit():
        src = os.path.join(root, "lib", "systemd", "system", "fedrouter.service")
        with open(src) as f:
            text = f.read()
        settings = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
        for path in re.findall(r"^Exec\w+=(\S+)", settings, re.M) + re.findall(r"\s(/etc/\S+)", settings):
            if path.startswith("/usr/bin/") or path.startswith("/etc/fedrouter/"):
                expect(os.path.exists(root + path), "the unit names %s, which the package does not install" % path)
        copy = os.path.join(tmp, "fedrouter.service")
        with open(copy, "w") as f:
            f.write(text.replace("/usr/bin/fedrouter ", root + "/usr/bin/fedrouter "))
        r = run(["systemd-analyze", "verify", "--man=no", copy])
        expect(r.returncode == 0 and not r.stdout.strip(), "systemd-analyze verify: %s" % r.stdout.strip())
    t.check("unit: the installed unit verifies and names installed files", unit)

    def remove():
        conf = os.path.join(root, "etc", "fedrouter", "fedrouter.ini")
        with open(conf, "a") as f:
            f.write("# edited by the operator\n")
        r = run(["dpkg", "--root=" + root, "--force-script-chrootless", "--log=/dev/null", "-r", "fedrouter"])
        expect(r.returncode == 0, "dpkg -r: %s" % r.stdout[-500:])
        expect(not os.path.exists(os.path.join(root, "usr", "bin", "fedrouter")), "dpkg -r left the binary")
        expect(os.path.exists(conf), "dpkg -r removed the edited conffile")
        r = run(["dpkg", "--root=" + root, "--force-script-chrootless", "--log=/dev/null", "-P", "fedrouter"])
        expect(r.returncode == 0, "dpkg -P: %s" % r.stdout[-500:])
        expect(not os.path.exists(conf), "dpkg -P left the conffile")
    t.check("remove: -r keeps the conffile, -P removes it", remove)
    rc = t.finish()
    procs.cleanup([], tmp, [], False)
    return rc


if __name__ == "__main__":
    sys.exit(main())
