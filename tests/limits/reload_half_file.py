#!/usr/bin/python3
"""reload_half_file: the file driver never routes by a half-written config.

    /usr/bin/python3 tests/limits/reload_half_file.py BUILD_DIR

Two minidfs, ns1 (the default nameservice) and ns2; /a -> ns1, /b -> ns2,
and /b/only-on-ns2 exists on ns2 only. The config is rewritten in place
(truncate, write part, pause, write the rest), as editors and config tools
that do not rename do, while a client stats /b/only-on-ns2 in a loop:
  1. cut just before [mount /b], pause 100 ms: the first part is a valid
     file without /b, which would send /b to ns1 ("absent");
  2. the same with a 250 ms pause (the review's probe paused 300 ms;
     the default settle time is 500 ms, this keeps a margin for a busy
     machine);
  3. cut in the middle of ns2's NameNode address, pause 700 ms: the first
     part is valid, with a wrong port;
  4. the file replaced by rename: loaded promptly.
Each rewrite adds a mount, so each must end as exactly one new snapshot,
that mount must answer, and /b/only-on-ns2 must never be absent or fail.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops_fakes"))
import opslib  # noqa: E402  (puts the e2e helpers on the path)
import procs  # noqa: E402
from fed import Fed, Ops, RemoteError  # noqa: E402

expect = procs.expect


class Watch:
    """Stats a path through the router in a loop and notes every answer
    that is not 'exists', and every snapshot number /healthz shows."""

    def __init__(self, fed, rt, path):
        self.bad = []
        self.calls = 0
        self.snaps = set()
        self._stop = False
        self._conn = fed.conn(rt["hdfs"])
        self._ops = Ops(fed.C)
        self._rt = rt
        self._path = path
        self._th = [threading.Thread(target=self._stat), threading.Thread(target=self._health)]
        for t in self._th:
            t.start()

    def _stat(self):
        while not self._stop:
            t = time.monotonic()
            try:
                ok = self._ops.exists(self._conn, self._path)
                why = "absent"
            except RemoteError as e:
                ok, why = False, "%s: %s" % (e.cls, e.msg[:120])
            self.calls += 1
            if not ok:
                self.bad.append((t, why))
            time.sleep(0.005)

    def _health(self):
        while not self._stop:
            n = opslib.snapshot_no(self._rt)
            if n >= 0:
                self.snaps.add(n)
            time.sleep(0.02)

    def stop(self):
        self._stop = True
        for t in self._th:
            t.join()


def write_in_place(path, text, cut, pause):
    with open(path, "r+") as f:
        f.truncate(0)
        f.write(text[:cut])
        f.flush()
        os.fsync(f.fileno())
        time.sleep(pause)
        f.write(text[cut:])
        f.flush()
        os.fsync(f.fileno())


def write_by_rename(path, text):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main(argv):
    build = os.path.abspath(argv[1])
    fed = Fed(build, prefix="fedrouter-limits.")
    failed = True
    T = procs.Tally()
    try:
        fed.minidfs("ns1")
        ns2 = fed.minidfs("ns2")
        ops = Ops(fed.C)
        D2 = fed.direct("ns2")
        for d in ("/b/only-on-ns2", "/m1", "/m2", "/m3", "/m4"):
            ops.mkdirs(D2, d)
        rt = fed.router("[mount /a]\ndestinations = ns1:/a\n\n[mount /b]\ndestinations = ns2:/b\n",
                        default_ns="ns1")
        R = fed.conn(rt["hdfs"])
        expect(ops.exists(R, "/b/only-on-ns2"), "/b/only-on-ns2 not found through the router at start")
        with open(rt["conf"]) as f:
            base = f.read()
        port2 = ns2["nn"].rsplit(":", 1)[1]
        rounds = [
            ("in place, cut before [mount /b], 100 ms pause", "before-b", 0.1),
            ("in place, cut before [mount /b], 250 ms pause", "before-b", 0.25),
            ("in place, cut inside ns2's address, 700 ms pause", "in-addr", 0.7),
            ("by rename", "rename", 0.0),
        ]
        text = base
        for i, (name, how, pause) in enumerate(rounds, 1):
            text = text + "\n[mount /m%d]\ndestinations = ns2:/m%d\n" % (i, i)
            snap0 = opslib.snapshot_no(rt)
            w = Watch(fed, rt, "/b/only-on-ns2")
            time.sleep(0.2)
            t0 = time.monotonic()
            if how == "rename":
                write_by_rename(rt["conf"], text)
            elif how == "before-b":
                write_in_place(rt["conf"], text, text.index("[mount /b]"), pause)
            else:
                write_in_place(rt["conf"], text, text.index(ns2["nn"]) + len(ns2["nn"]) - len(port2) // 2, pause)
            t_done = time.monotonic()
            seen = opslib.wait_for(lambda: ops.exists(R, "/m%d" % i), 5, 0.05)
            t_seen = time.monotonic()
            time.sleep(0.3)
            w.stop()
            snaps = sorted(s for s in w.snaps if s > snap0)
            print("# %s: %d stats, %d bad; /m%d answered %.2f s after the write; snapshots seen %s -> %s" %
                  (name, w.calls, len(w.bad), i, t_seen - t_done, snap0, snaps))

            def check(w=w, seen=seen, snaps=snaps, t0=t0, i=i):
                expect(not w.bad, "%d answers for /b/only-on-ns2 were wrong, first %.0f ms after the write "
                       "began: %s" % (len(w.bad), (w.bad[0][0] - t0) * 1000 if w.bad else 0,
                                      w.bad[0][1] if w.bad else ""))
                expect(seen, "/m%d was never routed: the whole file was not loaded" % i)
                expect(snaps == [snap0 + 1], "snapshots %s after %d: the file was loaded more than once "
                       "(a partial file was published)" % (snaps, snap0))
            T.check(name, check)
        rc = T.finish()
        failed = rc != 0
        return rc
    finally:
        fed.close(show_logs=failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
