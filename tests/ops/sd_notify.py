"""sd_notify: fedrouter tells a Type=notify service manager what it does.

A datagram socket made here stands in for systemd's (NOTIFY_SOCKET):
  ready       READY=1 (with MAINPID) comes once the HDFS, metastore and
              admin ports accept connections
  sighup      SIGHUP: RELOADING=1 then READY=1, and the new table serves
              (file.settle_ms is a minute, so the file watcher is not what
              loaded it)
  bad-sighup  SIGHUP on a file that does not parse: READY=1 again, a status
              that says so, and the table stays
  stopping    SIGTERM: STOPPING=1, then a clean exit
  zk-ready    with ZooKeeper down the ports accept but READY=1 waits; it
              comes once ZooKeeper is up and the first records are read
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import ops_lib
from ops_lib import http_get, accepts
import procs
from procs import expect

BUILD = sys.argv[1]
FEDROUTER = os.path.join(BUILD, "router", "fedrouter")


def snapshot_of(admin):
    code, body = http_get(admin, "/healthz")
    m = re.search(r"snapshot=(\d+)", body)
    return int(m.group(1)) if m else -1


def conf_text(hp, mp, ap, extra=""):
    return """[router]
id = n1
hdfs.listen = 127.0.0.1:%d
hms.listen = 127.0.0.1:%d
admin.listen = 127.0.0.1:%d
workers = 2
cluster.refresh_ms = 60000

[statestore]
driver = file
file.settle_ms = 60000

[nameservice ns1]
namenodes = 127.0.0.1:9

[mount /data]
destinations = ns1:/data

[metastore main]
uris = thrift://127.0.0.1:9
primary = true
%s""" % (hp, mp, ap, extra)


def main():
    tmp = tempfile.mkdtemp(prefix="fedrouter-ops.")
    t = procs.Tally()
    ps = []
    zk = None
    try:
        note = ops_lib.NotifySocket(tmp)
        env = dict(os.environ, NOTIFY_SOCKET=note.path)
        conf = os.path.join(tmp, "r.ini")
        hp, mp, ap = procs.free_port(), procs.free_port(), procs.free_port()
        with open(conf, "w") as f:
            f.write(conf_text(hp, mp, ap))
        with open(os.path.join(tmp, "r.err"), "wb") as err:
            p = subprocess.Popen([FEDROUTER, "-c", conf], stdout=subprocess.DEVNULL, stderr=err,
                                 stdin=subprocess.DEVNULL, env=env)
        ps.append(p)
        addrs = ["127.0.0.1:%d" % x for x in (hp, mp, ap)]
        admin = addrs[2]

        def ready():
            m = note.wait_for("READY", 30)
            expect(m is not None, "no READY=1 within 30 s")
            # Checked at once: whatever READY=1 promises must hold now.
            closed = [a for a in addrs if not accepts(a)]
            expect(not closed, "READY=1 came before %s accepted" % ", ".join(closed))
            expect(m.get("READY") == "1", "READY=%s" % m.get("READY"))
            expect(m.get("MAINPID") == str(p.pid), "MAINPID=%s, the router is %d" % (m.get("MAINPID"), p.pid))
        t.check("ready: READY=1 once every port accepts", ready)

        def sighup():
            before = snapshot_of(admin)
            with open(conf, "w") as f:
                f.write(conf_text(hp, mp, ap, "\n[mount /logs]\ndestinations = ns1:/logs\n"))
            p.send_signal(signal.SIGHUP)
            seen = []
            m = note.wait_for("RELOADING", 10, seen)
            expect(m is not None, "no RELOADING=1 after SIGHUP (got %r)" % seen)
            expect(m.get("MONOTONIC_USEC", "").isdigit(), "RELOADING=1 without MONOTONIC_USEC: %r" % m)
            m = note.wait_for("READY", 10, seen)
            expect(m is not None, "no READY=1 after RELOADING=1 (got %r)" % seen)
            after = snapshot_of(admin)
            expect(after > before, "snapshot %d before SIGHUP, %d after" % (before, after))
        t.check("sighup: RELOADING=1, READY=1, and the new table serves", sighup)

        def bad_sighup():
            before = snapshot_of(admin)
            with open(conf, "w") as f:
                f.write(conf_text(hp, mp, ap, "\n[mount /logs]\nnot a line of this format\n"))
            p.send_signal(signal.SIGHUP)
            seen = []
            expect(note.wait_for("RELOADING", 10, seen) is not None, "no RELOADING=1 (got %r)" % seen)
            m = note.wait_for("READY", 10, seen)
            expect(m is not None, "no READY=1 after a failed reload (got %r)" % seen)
            expect("failed" in m.get("STATUS", ""), "STATUS does not say the reload failed: %r" % m)
            time.sleep(0.2)
            expect(snapshot_of(admin) == before, "the table changed on a bad file")
            expect(p.poll() is None, "the router exited on a bad file")
        t.check("bad-sighup: a bad file leaves the table and READY=1", bad_sighup)

        def stopping():
            p.send_signal(signal.SIGTERM)
            m = note.wait_for("STOPPING", 10)
            expect(m is not None and m["STOPPING"] == "1", "no STOPPING=1 after SIGTERM")
            expect(p.wait(30) == 0, "exit status %s" % p.returncode)
        t.check("stopping: STOPPING=1 at SIGTERM, then exit 0", stopping)

        def zk_ready():
            nonlocal zk
            zk = ops_lib.ZooKeeper(tmp)
            zconf = os.path.join(tmp, "z.ini")
            with open(zconf, "w") as f:
                f.write("[router]\nid = z1\nhdfs.listen = 127.0.0.1:0\nhms.listen = off\n"
                        "admin.listen = 127.0.0.1:0\nworkers = 1\n\n[statestore]\ndriver = zookeeper\n"
                        "zk.hosts = %s\nzk.root = /fedrouter-ops\n" % zk.hosts)
            z = procs.start([FEDROUTER, "-c", zconf], tmp, "z", ps)
            # procs.start has no env argument: the variable is this process's.
            m = procs.wait_lines(z, "router z1", {"r": r"^ready hdfs=(\S+:\d+) admin=(\S+:\d+)"})["r"]
            expect(accepts(m.group(1)), "the HDFS port does not accept")
            expect(note.wait_for("READY", 3) is None, "READY=1 while ZooKeeper was down")
            zk.start()
            got = note.wait_for("READY", 30)
            expect(got is not None, "no READY=1 within 30 s of ZooKeeper starting")
            expect(got.get("MAINPID") == str(z.pid), "READY=1 from another process: %r" % got)
        os.environ["NOTIFY_SOCKET"] = note.path
        t.check("zk-ready: READY=1 waits for ZooKeeper's first records", zk_ready)
        del os.environ["NOTIFY_SOCKET"]
        rc = t.finish()
    finally:
        if zk:
            zk.stop()
        procs.cleanup(ps, tmp, ["r", "z"], show_logs=t.failed > 0)
    return rc


if __name__ == "__main__":
    sys.exit(main())
