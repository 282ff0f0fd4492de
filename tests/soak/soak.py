#!/usr/bin/python3
"""soak: fedrouter under long mixed load with churn and a backend that keeps
dying. Run by hand (not part of ctest or tests/run.sh):

    SOAK_SECONDS=600 /usr/bin/python3 tests/soak/soak.py [BUILD_DIR]

A federation of two minidfs (ns1, ns2) and two minihms (`main`, the primary,
and `sales`, behind the prefix sales_) behind one fedrouter (2 workers).
64 client connections in all:
  24  fedrouter-bench getFileInfo on /a (ns1)                 healthy
  16  fedrouter-bench get_table web.t (main)                  healthy
   8  fedrouter-bench get_table sales_orders.t (sales)        healthy
   4  Python getFileInfo loops on /b (ns2), 20 ms apart       ns2 is killed
   4  connect / one call / disconnect loops, HDFS and metastore in turn
   4  non-readers: 200 pipelined getListing calls, replies never read,
      held 20 s, then a new connection
   4  slow senders (2 HDFS, 2 metastore): a call sent 1 byte every 0.5 s
Every 60 s (first at 30 s) ns2's minidfs gets SIGKILL and is started again
on the same ports 5 s later. The router's RSS, threads and open files are
sampled every 5 s to rss.csv.

At the end it prints RSS at the start of the load, at the end and the max,
and the calls made and failed per kind. Exit 0 when no call failed on a
healthy backend (ns1, main, sales; failures on ns2 while it is down are
expected and only counted) and RSS at the end is within 25% + 16 MB of its
value 20 s into the load; 1 otherwise.

    SOAK_SECONDS   length of the load (default 600)
    SOAK_DIR       where rss.csv and the logs are kept (default BUILD_DIR/soak)
"""
import csv
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "limits", "ops_fakes"))
import opslib  # noqa: E402  (puts the e2e helpers on the path)
import hadoop_ipc  # noqa: E402
import procs  # noqa: E402
from fed import Fed, Ops  # noqa: E402

KILL_EVERY, FIRST_KILL, DOWN_FOR, SAMPLE_EVERY = 60, 30, 5, 5


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = {}
        self.fails = {}
        self.first_fail = {}

    def add(self, kind, ok, why=""):
        with self.lock:
            self.calls[kind] = self.calls.get(kind, 0) + 1
            if not ok:
                self.fails[kind] = self.fails.get(kind, 0) + 1
                self.first_fail.setdefault(kind, why[:200])


def rss(pid):
    """(RSS kB, threads, open fds) of pid."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            k, _, v = ln.partition(":")
            out[k] = v.split()
    return int(out["VmRSS"][0]), int(out["Threads"][0]), len(os.listdir("/proc/%d/fd" % pid))


def ipc_frames(C, calls, user="soak"):
    """Preamble + context + each (method, request) as one byte string."""
    conn = hadoop_ipc.Conn.__new__(hadoop_ipc.Conn)
    conn.C, conn.client_id = C, os.urandom(16)
    ctx = C.IpcConnectionContextProto()
    ctx.userInfo.effectiveUser = user
    ctx.protocol = hadoop_ipc.PROTOCOL
    out = b"hrpc\x09\x00\x00" + conn._frame(conn._header(-3), ctx.SerializeToString())
    for i, (method, req) in enumerate(calls):
        rh = C.RequestHeaderProto(methodName=method, declaringClassProtocolName=hadoop_ipc.PROTOCOL,
                                  clientProtocolVersion=1)
        out += conn._frame(conn._header(i), rh.SerializeToString(), req.SerializeToString())
    return out


def hms_call_bytes():
    name = b"get_all_databases"
    return struct.pack(">I", 0x80010001) + struct.pack(">I", len(name)) + name + struct.pack(">i", 1) + b"\x00"


class Soak:
    def __init__(self, build, secs, outdir):
        self.build, self.secs, self.outdir = build, secs, outdir
        self.fed = Fed(build, prefix="fedrouter-soak.")
        self.fed.build = build
        self.C = self.fed.C
        self.ops = Ops(self.C)
        self.counts = Counts()
        self.stop = threading.Event()
        self.events = []
        self.t0 = None

    def log(self, msg):
        t = time.monotonic() - self.t0 if self.t0 else 0.0
        print("[%6.1f s] %s" % (t, msg), flush=True)
        self.events.append((round(t, 1), msg))

    # ---- set-up ----

    def start(self):
        fed = self.fed
        fed.minidfs("ns1")
        self.ns2 = fed.minidfs("ns2")
        self.main_ms = opslib.minihms(fed, "main")
        self.sales_ms = opslib.minihms(fed, "sales")
        gen = os.path.join(self.build, "hms-thrift", "gen-py")
        setup = os.path.join(HERE, "..", "bench", "hms_setup.py")
        for ms, db in ((self.main_ms, "web"), (self.sales_ms, "orders")):
            subprocess.run(["/usr/bin/python3", setup, gen, ms["addr"], db, "t", "10"], check=True,
                           stdout=subprocess.DEVNULL, timeout=60)
        d1 = fed.direct("ns1")
        for i in range(50):
            self.ops.make_file(d1, "/a/dir/f%02d" % i) if i else self.ops.mkdirs(d1, "/a/dir")
        self.ns2_dirs()
        self.rt = opslib.start_router(fed, """[router]
id = soak
hdfs.listen = 127.0.0.1:0
hms.listen = 127.0.0.1:0
admin.listen = 127.0.0.1:0
workers = 2
upstream.connect_timeout_ms = 1000
upstream.call_timeout_ms = 10000
log.level = warn

[statestore]
driver = file

[nameservice ns1]
namenodes = %s

[nameservice ns2]
namenodes = %s

[mount /a]
destinations = ns1:/a

[mount /b]
destinations = ns2:/b

[metastore main]
uris = thrift://%s
primary = true

[metastore sales]
uris = thrift://%s
prefix = sales_
""" % (fed.nss["ns1"]["nn"], self.ns2["nn"], self.main_ms["addr"], self.sales_ms["addr"]), hms=True)
        self.pid = self.rt["proc"].pid

    def ns2_dirs(self):
        c = hadoop_ipc.Conn(self.C, self.ns2["nn"], self.fed.user, timeout=10)
        self.ops.mkdirs(c, "/b/dir")
        c.close()

    def restart_ns2(self):
        """SIGKILL ns2's minidfs, wait, start it again on the same ports."""
        p = self.ns2["proc"]
        p.kill()
        p.wait()
        self.log("ns2 killed")
        if self.stop.wait(DOWN_FOR):
            return
        n = sum(1 for e in self.events if e[1] == "ns2 killed")
        data = os.path.join(self.fed.tmp, "ns2.data.%d" % n)
        os.mkdir(data)
        args = [os.path.join(self.build, "tests", "minidfs", "minidfs"),
                "--nn-port", self.ns2["nn"].rsplit(":", 1)[1], "--dn-port", self.ns2["dn"].rsplit(":", 1)[1],
                "--data-dir", data, "--nameservice", "ns2"]
        for attempt in range(20):
            np = procs.start(args, self.fed.tmp, "ns2.%d" % n, self.fed.procs)
            try:
                procs.wait_lines(np, "minidfs ns2", {"ready": r"^ready nn="})
                break
            except RuntimeError:
                procs.stop(np)
                time.sleep(0.5)  # the port may linger a moment
        else:
            self.log("ns2 could not be restarted")
            return
        self.ns2["proc"] = np
        self.ns2_dirs()
        self.log("ns2 restarted")

    # ---- load ----

    def bench(self, name, conns, args):
        b = os.path.join(self.build, "tests", "bench", "fedrouter-bench")
        out = open(os.path.join(self.outdir, "bench-%s.out" % name), "w")
        p = subprocess.Popen([b, "--conns", str(conns), "--duration", str(self.secs), "--warmup", "0"] + args,
                             stdout=out, stderr=subprocess.STDOUT)
        return name, p, out

    def forever(self, fn, *args):
        t = threading.Thread(target=self._loop, args=(fn,) + args, daemon=True)
        t.start()
        return t

    def _loop(self, fn, *args):
        while not self.stop.is_set():
            try:
                fn(*args)
            except Exception as e:  # a loop body that broke: note it, go on
                self.counts.add("client-errors", False, "%s: %s" % (type(e).__name__, e))
                self.stop.wait(0.2)

    def ns2_client(self):
        try:
            c = hadoop_ipc.Conn(self.C, self.rt["hdfs"], "soak2", timeout=15)
        except OSError as e:
            self.counts.add("ns2 getFileInfo", False, str(e))
            self.stop.wait(0.5)
            return
        try:
            while not self.stop.is_set():
                try:
                    ok = self.ops.exists(c, "/b/dir")
                    self.counts.add("ns2 getFileInfo", ok, "absent")
                except hadoop_ipc.RemoteError as e:
                    self.counts.add("ns2 getFileInfo", False, e.msg)
                self.stop.wait(0.02)
        except (OSError, EOFError, ValueError) as e:
            self.counts.add("ns2 getFileInfo", False, "%s: %s" % (type(e).__name__, e))
        finally:
            c.close()

    def churn(self, i):
        """One connection, one call on a healthy backend, close."""
        if i % 2 == 0:
            try:
                c = hadoop_ipc.Conn(self.C, self.rt["hdfs"], "churn", timeout=15)
                try:
                    ok = self.ops.exists(c, "/a/dir")
                finally:
                    c.close()
                self.counts.add("churn hdfs", ok, "absent")
            except Exception as e:
                self.counts.add("churn hdfs", False, "%s: %s" % (type(e).__name__, e))
        else:
            try:
                h = opslib.hms_client(self.build, self.rt["hms"], 15000)
                try:
                    dbs = h.get_all_databases()
                finally:
                    h._t.close()
                ok = "web" in dbs and "sales_orders" in dbs
                self.counts.add("churn hms", ok, "databases %s" % dbs)
            except Exception as e:
                self.counts.add("churn hms", False, "%s: %s" % (type(e).__name__, e))
        self.stop.wait(0.02)

    def non_reader(self):
        C = self.C
        req = C.GetListingRequestProto(src="/a/dir", startAfter=b"", needLocation=False)
        data = ipc_frames(C, [("getListing", req)] * 200, "nonreader")
        host, port = self.rt["hdfs"].rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            s.sendall(data)
        except OSError:
            pass
        self.counts.add("non-reader sessions", True)
        self.stop.wait(20)
        s.close()

    def slow_sender(self, hms):
        if hms:
            data, addr = hms_call_bytes(), self.rt["hms"]
        else:
            data = ipc_frames(self.C, [("getFileInfo", self.C.GetFileInfoRequestProto(src="/a/dir"))], "slow")
            addr = self.rt["hdfs"]
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=5)
        try:
            for b in data:
                if self.stop.is_set():
                    break
                s.sendall(bytes([b]))
                self.stop.wait(0.5)
            else:
                s.settimeout(10)
                s.recv(65536)  # its answer, or the router closing a slow client
            self.counts.add("slow-sender sessions", True)
        except OSError:
            self.counts.add("slow-sender sessions", True)  # closed by the router: allowed
        finally:
            s.close()

    # ---- the run ----

    def run(self):
        self.start()
        fed, rt = self.fed, self.rt
        rows = []
        idle = rss(self.pid)
        self.t0 = time.monotonic()
        self.log("router pid %d, idle: RSS %d kB, %d threads, %d fds" % ((self.pid,) + idle))
        benches = [
            self.bench("ns1", 24, ["--target", rt["hdfs"], "--op", "getFileInfo", "--path", "/a/dir"]),
            self.bench("main", 16, ["--target", rt["hms"], "--op", "get_table", "--db", "web", "--table", "t"]),
            self.bench("sales", 8, ["--target", rt["hms"], "--op", "get_table", "--db", "sales_orders",
                                    "--table", "t"]),
        ]
        for _ in range(4):
            self.forever(self.ns2_client)
        for i in range(4):
            self.forever(self.churn, i)
        for _ in range(4):
            self.forever(self.non_reader)
        for i in range(4):
            self.forever(self.slow_sender, i % 2 == 1)
        next_kill, next_sample = FIRST_KILL, 0.0
        end = self.secs
        while True:
            t = time.monotonic() - self.t0
            if t >= end:
                break
            if t >= next_sample:
                r = rss(self.pid)
                inflight = opslib.metric(rt, "fedrouter_in_flight_calls")
                rows.append((round(t, 1),) + r + (inflight,))
                next_sample += SAMPLE_EVERY
            if t >= next_kill and t + DOWN_FOR + 5 < end:
                threading.Thread(target=self.restart_ns2, daemon=True).start()
                next_kill += KILL_EVERY
            if rt["proc"].poll() is not None:
                self.log("the router exited with status %s" % rt["proc"].returncode)
                break
            time.sleep(0.2)
        self.stop.set()
        results = {}
        for name, p, out in benches:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            out.close()
            with open(out.name) as f:
                text = f.read()
            m = re.search(r"ops/s=(\S+) .*errors=(\d+)", text)
            results[name] = (float(m.group(1)), int(m.group(2))) if m else (0.0, -1)
        r = rss(self.pid) if rt["proc"].poll() is None else (0, 0, 0)
        rows.append((round(time.monotonic() - self.t0, 1),) + r + (None,))
        with open(os.path.join(self.outdir, "rss.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["t_s", "rss_kb", "threads", "fds", "in_flight"])
            w.writerows(rows)
        with open(os.path.join(self.outdir, "events.txt"), "w") as f:
            for t, msg in self.events:
                f.write("%s %s\n" % (t, msg))
        return self.report(rows, results, rt["proc"].poll() is None)

    def report(self, rows, results, alive):
        base = [r for r in rows if r[0] >= 20] or rows
        start_kb, end_kb = base[0][1], rows[-1][1]
        max_kb = max(r[1] for r in rows)
        print("\nsoak: %d s, 64 connections, %d ns2 restarts" %
              (self.secs, sum(1 for e in self.events if e[1] == "ns2 restarted")))
        print("router RSS: start %.1f MB (t=%.0f s), end %.1f MB, max %.1f MB; threads %d, fds %d at the end "
              "(rss.csv in %s)" % (start_kb / 1024, base[0][0], end_kb / 1024, max_kb / 1024, rows[-1][2],
                                    rows[-1][3], self.outdir))
        failed = 0
        for name, (ops, errs) in results.items():
            print("  bench %-6s %9.0f ops/s  errors %d" % (name, ops, errs))
            failed += errs if errs >= 0 else 1
        c = self.counts
        for kind in sorted(c.calls):
            print("  %-22s calls %7d  failed %d%s" % (kind, c.calls[kind], c.fails.get(kind, 0),
                                                    ("  first: " + c.first_fail[kind]) if kind in c.first_fail
                                                    else ""))
        for kind in ("churn hdfs", "churn hms", "client-errors"):
            failed += c.fails.get(kind, 0)
        print("failed calls on healthy backends: %d" % failed)
        grew = end_kb > start_kb * 1.25 + 16 * 1024
        if grew:
            print("memory grew: %.1f MB -> %.1f MB" % (start_kb / 1024, end_kb / 1024))
        if not alive:
            print("the router died")
        ok = failed == 0 and not grew and alive
        print("soak %s" % ("passed" if ok else "FAILED"))
        return 0 if ok else 1

    def close(self):
        for name in ["fedrouter"] + [n for n in os.listdir(self.fed.tmp) if n.endswith(".err")]:
            src = os.path.join(self.fed.tmp, name if name.endswith(".err") else name + ".err")
            if os.path.exists(src):
                shutil.copy(src, self.outdir)
        self.fed.close()


def main(argv):
    build = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join(HERE, "..", "..", "build"))
    secs = int(os.environ.get("SOAK_SECONDS", "600"))
    outdir = os.path.abspath(os.environ.get("SOAK_DIR", os.path.join(build, "soak")))
    os.makedirs(outdir, exist_ok=True)
    s = Soak(build, secs, outdir)
    try:
        return s.run()
    finally:
        s.close()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(2))
    sys.exit(main(sys.argv))
