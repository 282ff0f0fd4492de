"""handover: a restart without downtime. Router A serves a steady load of
getFileInfo calls; router B starts on the same ports (SO_REUSEPORT) with
the same file; once B is ready A gets SIGTERM and drains; then C replaces
B the same way. The load runs through both handovers.

Two kinds of clients, as Hadoop's:
  kept    one connection for many calls. A router that drains closes an
          idle connection and answers a call that reaches it afterwards
          with StandbyException; the client then reconnects and sends the
          call again, as Hadoop's failover proxy does for an idempotent
          call (getFileInfo is one) and counts it as a retry.
  fresh   a new connection for every call (connect, call, close), retried
          the same way when the connection ends before the answer.
A failed call: a connect refused (the ports must never be closed), an
answer that is neither the file status nor StandbyException, or a call
still failing after 5 attempts. The test wants none, calls served by each
router, and A and B exiting 0.
"""
import os
import signal
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import fed as fedlib  # noqa: E402
import hadoop_ipc  # noqa: E402
import procs  # noqa: E402
from ops_lib import http_get  # noqa: E402
from procs import expect  # noqa: E402

BUILD = sys.argv[1]
FEDROUTER = os.path.join(BUILD, "router", "fedrouter")
KEPT, FRESH = 4, 4
ATTEMPTS = 5


class Load:
    """Client threads calling getFileInfo until stopped, with their tallies."""

    def __init__(self, f, addr):
        self.f, self.addr = f, addr
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.retries = {"standby": 0, "closed": 0, "fresh": 0}
        self.failed = []
        self.ok_at = []              # monotonic time of each good answer
        self.threads = [threading.Thread(target=self.run, args=(i < KEPT,)) for i in range(KEPT + FRESH)]

    def connect(self):
        return hadoop_ipc.Conn(self.f.C, self.addr, self.f.user, timeout=20)

    def one(self, conn, keep):
        """One call with its retries; returns the connection to use next."""
        C = self.f.C
        for attempt in range(ATTEMPTS):
            try:
                if conn is None:
                    conn = self.connect()
                resp = conn.call("getFileInfo", C.GetFileInfoRequestProto(src="/data"), C.GetFileInfoResponseProto)
                if not resp.HasField("fs"):
                    raise AssertionError("getFileInfo /data: no such file")
                with self.lock:
                    self.ok += 1
                    self.ok_at.append(time.monotonic())
                if not keep:
                    conn.close()
                    conn = None
                return conn
            except ConnectionRefusedError as e:
                self.fail("connect refused: %s" % e)
                return None
            except hadoop_ipc.RemoteError as e:
                if e.cls != "org.apache.hadoop.ipc.StandbyException":
                    self.fail("%s" % e)
                    return conn
                cause = "standby"
            except (EOFError, ConnectionResetError, BrokenPipeError) as e:
                cause = "closed"
            except Exception as e:  # anything else is a failed call
                self.fail("%s: %s" % (type(e).__name__, e))
                return None
            with self.lock:
                self.retries[cause] += 1
                self.retries["fresh"] += not keep
            if conn:
                conn.close()
            conn = None
        self.fail("still failing after %d attempts" % ATTEMPTS)
        return None

    def fail(self, why):
        with self.lock:
            self.failed.append(why)

    def run(self, keep):
        conn = None
        while not self.stop.is_set():
            conn = self.one(conn, keep)
        if conn:
            conn.close()

    def served_between(self, t0, t1):
        with self.lock:
            return sum(1 for t in self.ok_at if t0 <= t < t1)


def main():
    f = fedlib.Fed(BUILD, prefix="fedrouter-handover.")
    t = procs.Tally()
    load = None
    try:
        f.minidfs("ns1")
        hp, mp, ap = procs.free_port(), procs.free_port(), procs.free_port()
        conf = os.path.join(f.tmp, "r.ini")
        with open(conf, "w") as fh:
            fh.write("""[router]
id = handover
hdfs.listen = 127.0.0.1:%d
hms.listen = 127.0.0.1:%d
admin.listen = 127.0.0.1:%d
workers = 2
shutdown.grace_ms = 10000

[statestore]
driver = file

[nameservice ns1]
namenodes = %s

[mount /data]
destinations = ns1:/data
""" % (hp, mp, ap, f.nss["ns1"]["nn"]))
        hdfs, admin = "127.0.0.1:%d" % hp, "127.0.0.1:%d" % ap

        def start(name):
            p = procs.start([FEDROUTER, "-c", conf], f.tmp, name, f.procs)
            f.logs.append(name)
            procs.wait_lines(p, name, {"r": r"^ready hdfs=127\.0\.0\.1:%d admin=127\.0\.0\.1:%d$" % (hp, ap)})
            return p

        a = start("A")
        c = f.direct("ns1")
        fedlib.Ops(f.C).mkdirs(c, "/data")
        load = Load(f, hdfs)
        for th in load.threads:
            th.start()
        marks = [time.monotonic()]
        time.sleep(1.5)
        exits = []
        old = a
        for name in ("B", "C"):
            new = start(name)  # binds the ports A holds
            time.sleep(0.5)    # both serve for a while
            marks.append(time.monotonic())
            old.send_signal(signal.SIGTERM)
            exits.append((name, old.wait(30)))
            marks.append(time.monotonic())
            time.sleep(1.5)    # the new one alone
            old = new
        marks.append(time.monotonic())
        load.stop.set()
        for th in load.threads:
            th.join(30)
        print("# %d calls answered; retries: %d after StandbyException, %d after a closed connection "
              "(%d of them by fresh-connection clients); %d failed"
              % (load.ok, load.retries["standby"], load.retries["closed"], load.retries["fresh"], len(load.failed)))

        def no_failed():
            expect(not load.failed, "%d failed calls, first: %s" % (len(load.failed), load.failed[:3]))
        t.check("no-failed: no call failed through two handovers", no_failed)

        def each_served():
            spans = [("A alone", marks[0], marks[1] - 0.5), ("B alone", marks[2], marks[3] - 0.5),
                     ("C alone", marks[4], marks[5])]
            for what, t0, t1 in spans:
                n = load.served_between(t0, t1)
                print("# %s: %d calls in %.1f s" % (what, n, t1 - t0))
                expect(n > 50, "%s answered only %d calls" % (what, n))
        t.check("each-served: every router answered while it was alone", each_served)

        def clean_exits():
            expect(all(rc == 0 for _, rc in exits), "exit statuses: %r" % exits)
        t.check("clean-exits: the old routers drained and exited 0", clean_exits)

        def admin_follows():
            code, body = http_get(admin, "/readyz")
            expect(code == 200, "/readyz on the shared admin port after the handovers: %d %r" % (code, body))
        t.check("admin-follows: the admin port is the new router's", admin_follows)
        rc = t.finish()
    finally:
        if load:
            load.stop.set()
        f.close(show_logs=t.failed > 0)
    return rc


if __name__ == "__main__":
    sys.exit(main())
