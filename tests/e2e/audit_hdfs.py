#!/usr/bin/python3
"""audit_hdfs.py: the router's HDFS audit log ([router] audit.hdfs).

    /usr/bin/python3 tests/e2e/audit_hdfs.py BUILD_DIR

Two minidfs subclusters (ns1, ns2) behind fedrouter: /data on ns1, /logs on
ns2, /ro read-only on ns1. Calls come from the Go `hdfs` command (as alice
and bob) and from the Python IPC client, then the log is read back:

  format     every line is `DATE TIME,ms INFO FSNamesystem.audit: ` and the
             NameNode's tab-separated fields in its order (allowed ugi ip cmd
             src dst perm proto), then ns
  calls      mkdir, ls (getfileinfo, listStatus), mv (rename with options),
             rename (src and dst), rm (delete), df (getFsStats on both
             nameservices: ns=ns1,ns2) give lines with the client's paths,
             user, address and nameservice
  denied     a mkdir the NameNode refuses (permission) and a write the
             router refuses (read-only mount) are allowed=false
  one line   the lines equal the router's count of answered HDFS calls
  logrotate  the file moved away and SIGHUP: the router writes a new file at
             the configured path, the moved one gets nothing more
  stuck      the log is a FIFO nobody reads: fedrouter-bench's getFileInfo
             calls are all answered, lines past the queue are dropped and
             counted, and once the FIFO is read every call is either written
             or counted as dropped
  off        a router without audit.hdfs writes no file and counts no line;
             audit.hdfs added by a reload starts the log, removed stops it

Prints `ok - NAME` or `not ok - NAME: why`, then `N passed, N failed`.
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402
from fed import Fed, Ops  # noqa: E402

expect = procs.expect
FIELDS = ["allowed", "ugi", "ip", "cmd", "src", "dst", "perm", "proto", "ns"]
QUEUE_LINES = 65536  # AUDIT_QUEUE_LINES in router/audit.h
PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO FSNamesystem\.audit: (.*)$")


def parse(path):
    """The lines of an audit file as dicts (the field order is checked)."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path, errors="replace") as f:
        for ln in f.read().splitlines():
            m = PREFIX.match(ln)
            expect(m, "not an audit line: %r" % ln)
            parts = m.group(1).split("\t")
            keys = [p.split("=", 1)[0] for p in parts]
            expect(keys == FIELDS, "fields %s, expected %s: %r" % (keys, FIELDS, ln))
            out.append(dict(p.split("=", 1) for p in parts))
    return out


def wait_for(path, pred, what, timeout=10):
    return procs.wait_parsed(parse, path, pred, what, timeout)


metric = procs.metric_sum


def hdfs(addr, user, *args, ok=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOOP_")}
    env.update(HADOOP_NAMENODE=addr, HADOOP_USER_NAME=user)
    r = subprocess.run(["timeout", "-k", "5", "60", "hdfs"] + list(args), env=env, capture_output=True, text=True)
    if ok:
        expect(r.returncode == 0, "hdfs %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    else:
        expect(r.returncode != 0, "hdfs %s succeeded" % " ".join(args))
    return r


def find(lines, **want):
    return [ln for ln in lines if all(ln.get(k) == v for k, v in want.items())]


def main(argv):
    if len(argv) != 2:
        print("usage: audit_hdfs.py BUILD_DIR", file=sys.stderr)
        return 2
    T = procs.Tally()
    fed = Fed(os.path.abspath(argv[1]), prefix="fedrouter-audit.")
    failed = True
    try:
        fed.minidfs("ns1")
        fed.minidfs("ns2")
        log = os.path.join(fed.tmp, "hdfs-audit.log")
        mounts = """
[mount /data]
destinations = ns1:/data

[mount /logs]
destinations = ns2:/logs

[mount /ro]
destinations = ns1:/ro
readonly = true
"""
        rt = fed.router(mounts, router_keys="audit.hdfs = %s" % log)
        R = rt["hdfs"]
        ops = Ops(fed.C)
        for ns, d in (("ns1", "/data"), ("ns1", "/ro"), ("ns2", "/logs")):
            ops.mkdirs(fed.direct(ns), d, 0o777)
        ops.mkdirs(fed.direct("ns1"), "/data/locked", 0o755)

        def calls():
            hdfs(R, "alice", "mkdir", "/data/a")
            hdfs(R, "alice", "ls", "/data")
            hdfs(R, "alice", "mv", "/data/a", "/data/b")
            hdfs(R, "alice", "rm", "-r", "/data/b")
            hdfs(R, "alice", "df")
            hdfs(R, "bob", "mkdir", "/data/locked/x", ok=False)
            hdfs(R, "alice", "mkdir", "/ro/x", ok=False)
            c = fed.conn(R, user="carol")
            ops.mkdirs(c, "/logs/p")
            expect(ops.rename(c, "/logs/p", "/logs/q"), "rename /logs/p failed")

        T.check("calls through the router", calls)
        lines = []

        def lines_in():
            nonlocal lines
            want = metric(rt["admin"], "fedrouter_calls_total", proto="hdfs")
            lines = wait_for(log, lambda ls: len(ls) >= want and want > 0, "%d lines" % want)
            expect(len(lines) == want, "%d lines for %d answered calls" % (len(lines), want))
            expect(metric(rt["admin"], "fedrouter_audit_lines_total", log="hdfs") == want,
                   "fedrouter_audit_lines_total is not %d" % want)
            expect(metric(rt["admin"], "fedrouter_audit_dropped_total", log="hdfs") == 0, "lines dropped")

        T.check("one line per answered call (format checked on each)", lines_in)

        def one(what, **want):
            got = find(lines, **want)
            expect(got, "no line with %s; lines: %s" % (want, lines))
            return got[0]

        alice = {"ugi": "alice (auth:SIMPLE)", "ip": "/127.0.0.1", "perm": "null", "proto": "rpc"}
        T.check("mkdir: cmd=mkdirs", lambda: one("mkdir", allowed="true", cmd="mkdirs", src="/data/a", dst="null",
                                                  ns="ns1", **alice))
        T.check("ls: cmd=getfileinfo and cmd=listStatus", lambda: (
            one("ls", allowed="true", cmd="getfileinfo", src="/data", ns="ns1", **alice),
            one("ls", allowed="true", cmd="listStatus", src="/data", dst="null", ns="ns1", **alice)))
        T.check("mv: rename2 as the NameNode names it, with src and dst",
                lambda: one("mv", allowed="true", cmd="rename (options=[OVERWRITE])", src="/data/a", dst="/data/b",
                            ns="ns1", **alice))
        T.check("rename: src and dst", lambda: one("rename", allowed="true", cmd="rename", src="/logs/p",
                                                   dst="/logs/q", ns="ns2", ugi="carol (auth:SIMPLE)"))
        T.check("rm: cmd=delete", lambda: one("rm", allowed="true", cmd="delete", src="/data/b", ns="ns1", **alice))
        T.check("df: a fan-out names both nameservices",
                lambda: one("df", allowed="true", cmd="getFsStats", src="null", ns="ns1,ns2", **alice))
        T.check("denied by the NameNode: allowed=false", lambda: one(
            "denied", allowed="false", cmd="mkdirs", src="/data/locked/x", ugi="bob (auth:SIMPLE)", ns="ns1"))
        T.check("denied by the router (read-only mount): allowed=false",
                lambda: one("ro", allowed="false", cmd="mkdirs", src="/ro/x", **alice))
        T.check("successful calls are allowed=true", lambda: expect(
            all(ln["allowed"] == "true" for ln in lines if ln["src"] not in ("/data/locked/x", "/ro/x")),
            "allowed=false on a call that was not refused"))

        def rotate():
            os.rename(log, log + ".1")
            before = len(parse(log + ".1"))
            rt["proc"].send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while not os.path.exists(log):
                expect(time.monotonic() < deadline, "no new %s after SIGHUP" % log)
                time.sleep(0.05)
            hdfs(R, "alice", "ls", "/logs")
            wait_for(log, lambda ls: find(ls, cmd="listStatus", src="/logs"), "the call after SIGHUP")
            expect(len(parse(log + ".1")) == before, "the moved file got lines after the reopen")

        T.check("logrotate: SIGHUP reopens the file at its path", rotate)

        # A log file that takes nothing (a FIFO held open and never read):
        # the writer blocks in write(), the workers must not.
        fifo = os.path.join(fed.tmp, "stuck.fifo")
        os.mkfifo(fifo)
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        stuck = fed.router(mounts, name="stuck", router_keys="audit.hdfs = %s" % fifo)

        def never_blocks():
            bench = os.path.join(fed.build, "tests", "bench", "fedrouter-bench")
            deadline = time.monotonic() + 90
            calls = 0
            while calls < QUEUE_LINES + 5000:  # past the queue and what the pipe holds
                expect(time.monotonic() < deadline, "only %d calls in 90 s" % calls)
                r = subprocess.run([bench, "--target", stuck["hdfs"], "--op", "getFileInfo", "--path", "/data",
                                    "--conns", "16", "--depth", "4", "--duration", "3", "--warmup", "0"],
                                   capture_output=True, text=True, timeout=60)
                m = re.search(r"ops/s=(\d+) .*errors=(\d+)", r.stdout)
                expect(m and m.group(2) == "0", "bench with a stuck log: %s %s" % (r.stdout[-300:], r.stderr[-300:]))
                print("# getFileInfo with the audit writer stuck: %s ops/s" % m.group(1), flush=True)
                calls = metric(stuck["admin"], "fedrouter_calls_total", proto="hdfs")
            dropped = metric(stuck["admin"], "fedrouter_audit_dropped_total", reason="queue_full")
            expect(dropped > 0, "no line dropped with the queue full")
            # Read the pipe: the writer goes on; every call is written or dropped.
            got = 0
            deadline = time.monotonic() + 60
            while True:
                try:
                    chunk = os.read(rfd, 1 << 20)
                    got += chunk.count(b"\n")
                except BlockingIOError:
                    time.sleep(0.02)
                lines = metric(stuck["admin"], "fedrouter_audit_lines_total", log="hdfs")
                if lines + dropped == calls and got == lines:
                    break
                expect(time.monotonic() < deadline, "calls %d, lines %d (read %d), dropped %d" %
                       (calls, lines, got, dropped))

        try:
            T.check("a stuck log file: calls go on, lines are dropped and counted", never_blocks)
        finally:
            os.close(rfd)

        # A router without audit.hdfs, then with it added and removed by reloads.
        quiet = fed.router(mounts, name="quiet")
        off_dir = sorted(os.listdir(fed.tmp))
        log2 = os.path.join(fed.tmp, "quiet-audit.log")

        def off():
            hdfs(quiet["hdfs"], "alice", "ls", "/data")
            hdfs(quiet["hdfs"], "alice", "mkdir", "/data/q")
            expect(metric(quiet["admin"], "fedrouter_calls_total", proto="hdfs") > 0, "no calls counted")
            expect(metric(quiet["admin"], "fedrouter_audit_lines_total") == 0, "lines counted with the log off")
            new = set(os.listdir(fed.tmp)) - set(off_dir)
            expect(not new, "files appeared with the log off: %s" % sorted(new))

        T.check("off by default: nothing written", off)

        def rewrite(keys):
            with open(quiet["conf"]) as f:
                text = f.read()
            text = re.sub(r"(?m)^audit\.hdfs = .*\n", "", text)
            text = text.replace("[router]\n", "[router]\n" + keys, 1)
            tmpconf = quiet["conf"] + ".new"
            with open(tmpconf, "w") as f:
                f.write(text)
            os.rename(tmpconf, quiet["conf"])

        def wait_err(pattern, timeout=10):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with open(os.path.join(fed.tmp, "quiet.err"), errors="replace") as f:
                    if re.search(pattern, f.read()):
                        return
                time.sleep(0.1)
            raise AssertionError("no log line %r" % pattern)

        def reload_on_off():
            rewrite("audit.hdfs = %s\n" % log2)
            wait_err(r"audit\.hdfs: calls are logged to " + re.escape(log2))
            hdfs(quiet["hdfs"], "alice", "ls", "/logs")
            wait_for(log2, lambda ls: find(ls, cmd="listStatus", src="/logs"), "a line after the reload")
            rewrite("")
            wait_err(r"audit\.hdfs: off")
            time.sleep(0.5)  # lines of calls answered before it still go out
            n = len(parse(log2))
            hdfs(quiet["hdfs"], "alice", "ls", "/data")
            time.sleep(0.5)
            expect(len(parse(log2)) == n, "lines written after audit.hdfs was removed")

        T.check("reload: audit.hdfs added starts the log, removed stops it", reload_on_off)
        failed = T.failed > 0
    finally:
        fed.close(show_logs=failed)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
