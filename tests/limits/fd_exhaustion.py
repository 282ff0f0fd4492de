#!/usr/bin/python3
"""fd_exhaustion.py: a router out of file descriptors does not spin, keeps
/healthz answering, closes new clients at once instead of leaving them
hanging, keeps serving the clients it has, and recovers by itself.

    /usr/bin/python3 tests/limits/fd_exhaustion.py BUILD_DIR

fedrouter (minidfs ns1 and one minihms behind it) runs with RLIMIT_NOFILE =
200. A client connects and makes a call first. Then 400 HDFS connections
send their handshake: the router runs out of descriptors part way. While it
is out:

  cpu       the router uses under 30 % of a core over 2 s (a worker spinning
            on a failing accept burns 100 %)
  healthz   GET /healthz answers 200 within 3 s, three times in a row
  prompt    a new HDFS client and a new metastore client are closed within
            2 s (or served), never left hanging in the listen backlog
  served    the client connected before keeps being answered
  logged    the log says accepting ran out of descriptors

Then the 400 close, and a new client of each protocol is served within a
few seconds. Prints `ok - NAME` / `not ok - NAME: why`, then a count.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import climits  # noqa: E402
from climits import expect  # noqa: E402

NOFILE, FLOOD = 200, 400


def run(fed, t, build):
    climits.raise_nofile(2000)
    fed.minidfs("ns1")
    ms = climits.minihms(fed, "primary")
    rt = climits.router(fed, metastores=[ms], router_keys="default.nameservice = ns1", nofile=NOFILE)
    pid = rt["proc"].pid
    ops = climits.Ops(fed.C)
    early = climits.hadoop_ipc.Conn(fed.C, rt["hdfs"], fed.user, timeout=5)
    ops.fileinfo(early, "/")
    climits.hms_call_ok(rt["hms"])
    hs = climits.hdfs_handshake(fed.C, fed.user)
    flood = []
    for _ in range(FLOOD):
        s = climits.connect(rt["hdfs"])
        s.sendall(hs)
        flood.append(s)
    climits.wait_for(lambda: climits.nfds(pid) >= NOFILE - 8, 10,
                     "the router never ran out of descriptors (%d open)" % climits.nfds(pid))
    time.sleep(0.5)
    print("# router: %d descriptors open of %d" % (climits.nfds(pid), NOFILE))

    def cpu():
        share = climits.cpu_share(pid, 2.0)
        print("# router CPU while out of descriptors: %.0f %% of a core" % (share * 100))
        expect(share < 0.3, "the router used %.0f %% of a core" % (share * 100))
    t.check("cpu: out of descriptors, the router does not spin", cpu)

    def healthz():
        for i in range(3):
            t0 = time.monotonic()
            code, body = climits.http_get(rt["admin"], "/healthz", timeout=3)
            expect(code == 200, "/healthz answered %d: %s" % (code, body))
            print("# /healthz %d in %.0f ms: %s" % (code, (time.monotonic() - t0) * 1000, body.strip()))
    t.check("healthz: /healthz keeps answering", healthz)

    def prompt():
        for key, payload in (("hdfs", hs), ("hms", climits.thrift_call("get_all_databases"))):
            t0 = time.monotonic()
            s = climits.connect(rt[key])
            s.sendall(payload)
            s.settimeout(2)
            try:
                data = s.recv(65536)
                what = "served" if data else "closed"
            except OSError as e:
                what = "closed" if not isinstance(e, TimeoutError) and "timed out" not in str(e) else None
            s.close()
            expect(what, "a new %s client hung for 2 s" % key)
            print("# new %s client %s in %.0f ms" % (key, what, (time.monotonic() - t0) * 1000))
    t.check("prompt: new clients are closed at once, not left hanging", prompt)

    def served():
        for _ in range(5):
            ops.fileinfo(early, "/")
    t.check("served: a client connected before is still answered", served)

    def logged():
        log = climits.log_text(fed)
        expect("out of file descriptors" in log or "cannot accept" in log, "no log line about accepting")
    t.check("logged: the log says accepting ran out of descriptors", logged)

    for s in flood:
        s.close()

    def recovers():
        def ok():
            try:
                climits.fileinfo_ok(fed.C, rt["hdfs"], fed.user)
                climits.hms_call_ok(rt["hms"])
                return True
            except Exception:
                return False
        climits.wait_for(ok, 5, "no new client served after the flood closed", step=0.2)
        share = climits.cpu_share(pid, 1.0)
        expect(share < 0.3, "the router uses %.0f %% of a core after the flood" % (share * 100))
    t.check("recovery: with descriptors free again, new clients are served", recovers)
    early.close()


if __name__ == "__main__":
    sys.exit(climits.main(run, sys.argv, "fedrouter-limits-fds."))
