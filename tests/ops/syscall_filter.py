"""syscall_filter: the router's system calls pass fedrouter.service's
SystemCallFilter. systemd is not PID 1 here, so the unit cannot run; instead
the router runs under strace through what it does in service (start, HDFS
calls routed to a minidfs, the admin endpoint with /healthz?verbose and
/readyz, a SIGHUP reload, a SIGTERM drain), and every system call it made
must be one the unit's filter allows, as `systemd-analyze syscall-filter`
expands its groups. A call outside the filter would kill the service
(SIGSYS) under systemd.
"""
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import fed as fedlib  # noqa: E402
import procs  # noqa: E402
from ops_lib import http_get  # noqa: E402
from procs import expect  # noqa: E402

BUILD = sys.argv[1]
UNIT = os.path.join(HERE, "..", "..", "deploy", "systemd", "fedrouter.service")


def groups():
    """{@group: set of syscalls and @subgroups} from systemd-analyze."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, timeout=30).stdout
    g, cur = {}, None
    for ln in out.splitlines():
        s = ln.strip()
        if ln.startswith("@"):
            cur = g.setdefault(s, set())
        elif cur is not None and s and not s.startswith("#"):
            cur.add(s)
    return g


def expand(name, g, seen=None):
    seen = set() if seen is None else seen
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    out = set()
    for x in g.get(name, ()):
        out |= expand(x, g, seen)
    return out


def allowed_by_unit(g):
    """The set the unit's SystemCallFilter= lines allow, read as systemd
    reads them: the first line (an allow list here) sets the default, and
    each later line adds (allow) or takes away (~deny) in its order."""
    allowed, first = None, True
    with open(UNIT) as f:
        for ln in f:
            m = re.match(r"\s*SystemCallFilter=(~?)(.*)", ln)
            if not m:
                continue
            names = set()
            for n in m.group(2).split():
                names |= expand(n, g)
            if first:
                expect(not m.group(1), "the unit's first SystemCallFilter= is a deny list")
                allowed, first = names, False
            elif m.group(1):
                allowed -= names
            else:
                allowed |= names
    expect(allowed, "the unit has no SystemCallFilter allow list")
    return allowed


def syscalls(trace):
    names = set()
    with open(trace, errors="replace") as f:
        for ln in f:
            m = re.match(r"^\d+\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()", ln)
            if m:
                names.add(m.group(1) or m.group(2))
    return names


def serve_traced(f, trace, extra, conns):
    """Runs the router under strace through what it does in service, with
    `extra` [router] keys; the set of system calls it made."""
    hp, ap = procs.free_port(), procs.free_port()
    conf = os.path.join(f.tmp, "r-%d.ini" % len(conns))
    text = ("[router]\nid = sc\nhdfs.listen = 127.0.0.1:%d\nhms.listen = off\nadmin.listen = 127.0.0.1:%d\n"
            "workers = 2\ncluster.refresh_ms = 200\n%s\n[statestore]\ndriver = file\n\n"
            "[nameservice ns1]\nnamenodes = %s\n\n[mount /data]\ndestinations = ns1:/data\n"
            % (hp, ap, extra, f.nss["ns1"]["nn"]))
    with open(conf, "w") as fh:
        fh.write(text)
    name = "router-%d" % len(conns)
    p = procs.start(["strace", "-f", "-qq", "-o", trace, os.path.join(BUILD, "router", "fedrouter"), "-c", conf],
                    f.tmp, name, f.procs)
    f.logs.append(name)
    procs.wait_lines(p, name, {"r": r"^ready hdfs="})
    # Signals go to the router itself, strace's child.
    with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as fh:
        router_pid = int(fh.read().split()[0])
    hdfs, admin = "127.0.0.1:%d" % hp, "127.0.0.1:%d" % ap
    ops = fedlib.Ops(f.C)
    c = f.conn(hdfs)
    conns.append(c)
    ops.mkdirs(c, "/data/x")
    for _ in range(20):
        expect(ops.is_dir(c, "/data/x"), "/data/x through the router")
    time.sleep(0.5)  # a few refresher rounds
    for path in ("/healthz", "/healthz?verbose", "/readyz", "/metrics"):
        expect(http_get(admin, path)[0] == 200, "GET %s" % path)
    with open(conf, "a") as fh:
        fh.write("\n[mount /logs]\ndestinations = ns1:/logs\n")
    os.kill(router_pid, signal.SIGHUP)
    time.sleep(0.5)
    c.close()
    os.kill(router_pid, signal.SIGTERM)
    expect(p.wait(30) == 0, "the router under strace exited %s" % p.returncode)
    return syscalls(trace)


def main():
    f = fedlib.Fed(BUILD, prefix="fedrouter-seccomp.")
    t = procs.Tally()
    try:
        f.minidfs("ns1")
        # LeakSanitizer (in a sanitizer build) cannot stop the world under
        # strace; leaks are the other tests' business.
        os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        g = groups()
        conns = []
        # The defaults (crypto threads under SCHED_IDLE), then the crypto
        # threads at a niceness: each sets its own scheduling.
        for label, extra in (("defaults", ""), ("crypto_sched = nice", "crypto_sched = nice\n")):
            made = serve_traced(f, os.path.join(f.tmp, "strace-%d.txt" % len(conns)), extra, conns)

            def filtered(made=made, label=label):
                expect(len(made) > 20, "only %d system calls traced: %s" % (len(made), sorted(made)))
                outside = sorted(made - allowed_by_unit(g) - {"execve"})  # execve is strace starting it
                print("# %s: %d distinct system calls" % (label, len(made)))
                expect(not outside, "outside the unit's SystemCallFilter: %s" % outside)
            t.check("filtered (%s): every system call the router made is allowed by the unit" % label, filtered)
        rc = t.finish()
    finally:
        f.close(show_logs=t.failed > 0)
    return rc


if __name__ == "__main__":
    sys.exit(main())
