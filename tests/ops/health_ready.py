"""health_ready: /healthz, /healthz?verbose and /readyz of a running router.

  plain          /healthz answers 200 "ok ..." in one line of text
  verbose        /healthz?verbose is JSON: each nameservice and metastore
                 with its addresses, reachable or not (a NameNode port and a
                 metastore port with nothing behind them are not), and still
                 200: a backend that is down is not the router's own failure
  verbose-down   a metastore stopped (minihms killed) turns unreachable
  ready          /readyz 200 "ready" on a router serving a file table
  draining       SIGTERM with a call held in a frozen NameNode (minidfs
                 under SIGSTOP): /readyz 503 "draining" while /healthz stays
                 200; the call is answered once the NameNode runs again
  zk-not-loaded  zookeeper driver, ZooKeeper down: /readyz 503 until the
                 first records are read, then 200
  safemode       fedrouter-admin -safemode enter: 503 "safe mode"; leave: 200
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import fed as fedlib  # noqa: E402
import ops_lib  # noqa: E402
import procs  # noqa: E402
from ops_lib import http_get  # noqa: E402
from procs import expect  # noqa: E402

BUILD = sys.argv[1]


def poll(fn, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    return fn()


def main():
    f = fedlib.Fed(BUILD, prefix="fedrouter-health.")
    t = procs.Tally()
    zk = None
    try:
        ns1 = f.minidfs("ns1")
        hms = procs.start([os.path.join(BUILD, "tests", "minihms", "minihms"), "--port", "0", "--name", "main"],
                          f.tmp, "main", f.procs)
        hport = procs.wait_lines(hms, "minihms", {"r": r"^ready port=(\d+)$"})["r"].group(1)
        dead_nn, dead_ms = procs.free_port(), procs.free_port()
        rt = f.router("""
[nameservice ns2]
namenodes = 127.0.0.1:%d

[mount /data]
destinations = ns1:/data

[metastore main]
uris = thrift://127.0.0.1:%s
primary = true

[metastore gone]
uris = thrift://127.0.0.1:%d
prefix = gone_
""" % (dead_nn, hport, dead_ms), default_ns="ns1", nameservices=["ns1"])
        admin = rt["admin"]

        def plain():
            code, body = http_get(admin, "/healthz")
            expect(code == 200 and body.startswith("ok router=fedrouter"), "%d %r" % (code, body))
            expect(body.count("\n") == 1, "more than one line: %r" % body)
        t.check("plain: /healthz is one line of text", plain)

        def verbose_json():
            code, body = http_get(admin, "/healthz?verbose")
            expect(code == 200, "%d %s" % (code, body))
            return json.loads(body)

        def verbose():
            j = verbose_json()
            expect(j["status"] == "ok" and j["ready"] is True and j["router"] == "fedrouter", "header: %r" % j)
            ns = {n["name"]: n for n in j["nameservices"]}
            expect(ns["ns1"]["reachable"] is True, "ns1: %r" % ns["ns1"])
            expect(ns["ns1"]["addresses"][0]["address"] == ns1["nn"], "ns1 address: %r" % ns["ns1"])
            expect(ns["ns2"]["reachable"] is False, "ns2 (nothing listens): %r" % ns["ns2"])
            expect("refused" in ns["ns2"]["addresses"][0]["error"], "ns2 error: %r" % ns["ns2"])
            ms = {m["name"]: m for m in j["metastores"]}
            expect(ms["main"]["reachable"] is True, "main: %r" % ms["main"])
            expect(ms["gone"]["reachable"] is False, "gone: %r" % ms["gone"])
            expect(j["backends_reachable"] is False, "backends_reachable with two down")
        t.check("verbose: JSON per nameservice and metastore, 200 with backends down", verbose)

        def verbose_down():
            procs.stop(hms)
            j = verbose_json()
            ms = {m["name"]: m for m in j["metastores"]}
            expect(ms["main"]["reachable"] is False, "main after minihms stopped: %r" % ms["main"])
        t.check("verbose-down: a stopped metastore is unreachable", verbose_down)

        def ready():
            code, body = http_get(admin, "/readyz")
            expect(code == 200 and body == "ready\n", "%d %r" % (code, body))
        t.check("ready: /readyz 200 on a loaded file table", ready)

        def draining():
            C = f.C
            c = f.conn(rt["hdfs"])
            ops = fedlib.Ops(C)
            ops.mkdirs(c, "/data")
            answer = {}

            def call():
                try:
                    answer["st"] = ops.fileinfo(c, "/data")
                except Exception as e:  # reported below
                    answer["err"] = e
            os.kill(ns1["proc"].pid, signal.SIGSTOP)
            try:
                th = threading.Thread(target=call)
                th.start()
                time.sleep(0.3)  # the call reaches the frozen NameNode
                rt["proc"].send_signal(signal.SIGTERM)
                got = poll(lambda: http_get(admin, "/readyz")[0] == 503, 5)
                code, body = http_get(admin, "/readyz")
                expect(got and body == "not ready: draining\n", "/readyz while draining: %d %r" % (code, body))
                code, body = http_get(admin, "/healthz")
                expect(code == 200, "/healthz while draining: %d %r" % (code, body))
            finally:
                os.kill(ns1["proc"].pid, signal.SIGCONT)
            th.join(20)
            expect("st" in answer and answer["st"] is not None, "the held call: %r" % answer)
            expect(rt["proc"].wait(20) == 0, "exit status %s" % rt["proc"].returncode)
        t.check("draining: /readyz 503 while calls drain, /healthz 200", draining)

        zk = ops_lib.ZooKeeper(f.tmp)
        zconf = os.path.join(f.tmp, "z.ini")
        with open(zconf, "w") as fh:
            fh.write("[router]\nid = z1\nhdfs.listen = 127.0.0.1:0\nhms.listen = off\n"
                     "admin.listen = 127.0.0.1:0\nworkers = 1\n\n[statestore]\ndriver = zookeeper\n"
                     "zk.hosts = %s\nzk.root = /fedrouter-health\n" % zk.hosts)
        zr = procs.start([os.path.join(BUILD, "router", "fedrouter"), "-c", zconf], f.tmp, "z1", f.procs)
        f.logs.append("z1")
        zadmin = procs.wait_lines(zr, "z1", {"r": r"^ready hdfs=\S+ admin=(\S+:\d+)"})["r"].group(1)

        def zk_not_loaded():
            code, body = http_get(zadmin, "/readyz")
            expect(code == 503 and "statestore has not loaded" in body, "before ZooKeeper: %d %r" % (code, body))
            zk.start()
            expect(poll(lambda: http_get(zadmin, "/readyz")[0] == 200, 30), "not ready 30 s after ZooKeeper started")
        t.check("zk-not-loaded: /readyz 503 until the first records, then 200", zk_not_loaded)

        def safemode():
            admin_cli = os.path.join(BUILD, "router", "cli", "fedrouter-admin")
            r = subprocess.run([admin_cli, "-c", zconf, "-safemode", "enter"], capture_output=True, text=True,
                               timeout=30)
            expect(r.returncode == 0, "-safemode enter: %s" % r.stderr)
            expect(poll(lambda: http_get(zadmin, "/readyz") == (503, "not ready: safe mode\n"), 10),
                   "in safe mode: %r" % (http_get(zadmin, "/readyz"),))
            r = subprocess.run([admin_cli, "-c", zconf, "-safemode", "leave"], capture_output=True, text=True,
                               timeout=30)
            expect(r.returncode == 0, "-safemode leave: %s" % r.stderr)
            expect(poll(lambda: http_get(zadmin, "/readyz")[0] == 200, 10), "still not ready after leaving")
        t.check("safemode: /readyz 503 in safe mode, 200 after", safemode)
        rc = t.finish()
    finally:
        if zk:
            zk.stop()
        f.close(show_logs=t.failed > 0)
    return rc


if __name__ == "__main__":
    sys.exit(main())
