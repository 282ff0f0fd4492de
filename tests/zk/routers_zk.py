#!/usr/bin/python3
"""routers_zk.py: three fedrouters sharing one ZooKeeper.

    /usr/bin/python3 tests/zk/routers_zk.py BUILD_DIR

Starts Debian's ZooKeeper (zkserver.sh, free loopback port, data in a temp
dir), one minidfs subcluster (ns1, holding /a and /p) and three fedrouters
(r1, r2, r3) with driver = zookeeper and no records of their own, then:

  1. a mount added with fedrouter-admin is routed by all three routers;
  2. 100 mounts written one after another with python3-kazoo (a foreign
     client, same record text as fedrouter-admin writes): the time from each
     write (the znode's ctime) until the last of the three routers serves it
     is printed as p50/p99/max; each router's ephemeral registration znode
     names the snapshot and zxid it serves, and fedrouter-admin -routers
     lists the three;
  3. ZooKeeper stopped: routing goes on from the last table, /healthz says
     "stale since", fedrouter_statestore_connected is 0;
  4. ZooKeeper restarted on the same data and a change written at once,
     before the routers are back (they are paused with SIGSTOP meanwhile),
     reaches all three routers; health is no longer stale;
  5. ZooKeeper away for longer than the session timeout: the routers open
     new sessions (fedrouter_statestore_sessions_total goes up), register
     again and pick up a change made after the restart;
  6. malformed records written with kazoo are skipped and counted while the
     rest keeps routing and a following good change still arrives;
  7. two fedrouter-admin -update runs on one mount at the same time: one
     wins, the other exits 2 with a conflict message. Shown for sure by
     holding one admin's write in a small TCP relay until the other admin
     has written, and also tried as a plain race of two processes.
At the end the routers must still be running and routing, and must stop
cleanly on SIGTERM (exit 0, no sanitizer report in their stderr).

Prints `ok - NAME` or `not ok - NAME: why` per check, then
`N passed, N failed`; exit status 1 when a check failed. Lines starting
with `#` are information. FR_KEEP=1 keeps the temp dir.
"""
import ctypes
import getpass
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ZKSERVER = os.path.join(HERE, "zkserver.sh")
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import hadoop_ipc  # noqa: E402  (the shared Hadoop IPC test client)
ROOT = "/fedrouter"
ROUTER_IDS = ("r1", "r2", "r3")
SESSION_TIMEOUT_MS = 4000
START_TIMEOUT = 20          # s for a ready line
ZK_START_TIMEOUT = 30       # s for ruok -> imok
CALL_TIMEOUT = 5            # s for one RPC answer
TOTAL_BUDGET = 85           # s: checks after this are reported as failed, not run
HEADER = "# fedrouter-record v1"

PASSED = 0
FAILED = 0
T0 = time.monotonic()
C = None                    # the generated protobuf messages (see main)


def ok(name):
    global PASSED
    PASSED += 1
    print("ok - %s" % name, flush=True)


def not_ok(name, why):
    global FAILED
    FAILED += 1
    why = " | ".join(str(why).splitlines())
    if len(why) > 800:
        why = why[:800] + "..."
    print("not ok - %s: %s" % (name, why), flush=True)


def note(text):
    print("# " + text, flush=True)


class CheckFailed(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise CheckFailed(why)


def check(name, fn):
    """Runs fn(); ok unless it raises. Any exception is the reason."""
    if time.monotonic() - T0 > TOTAL_BUDGET:
        not_ok(name, "skipped: the run is over its %d s budget" % TOTAL_BUDGET)
        return False
    try:
        fn()
    except CheckFailed as e:
        not_ok(name, e)
        return False
    except Exception as e:  # a broken connection, a parse error...
        not_ok(name, "%s: %s" % (type(e).__name__, e))
        return False
    ok(name)
    return True


def poll(fn, timeout, interval=0.02):
    """Calls fn() until it returns a true value or timeout seconds pass;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# ---- protobuf modules, generated now ----

def load_protos(tmp):
    return hadoop_ipc.load_protos(tmp)


RemoteError = hadoop_ipc.RemoteError


def Conn(addr, user):
    return hadoop_ipc.Conn(C, addr, user, timeout=CALL_TIMEOUT)


def fileinfo(conn, path):
    r = C.GetFileInfoRequestProto()
    r.src = path
    resp = conn.call("getFileInfo", r, C.GetFileInfoResponseProto)
    return resp.fs if resp.HasField("fs") else None


def mkdirs(conn, path):
    r = C.MkdirsRequestProto()
    r.src = path
    r.masked.perm = 0o755
    r.createParent = True
    return conn.call("mkdirs", r, C.MkdirsResponseProto).result


def is_dir(conn, path):
    """True when path answers as a directory through conn; False when it is
    missing, not a directory or refused (no mount yet)."""
    try:
        fs = fileinfo(conn, path)
    except RemoteError:
        return False
    return fs is not None and fs.fileType == C.HdfsFileStatusProto.IS_DIR


def describe(conn, path):
    try:
        fs = fileinfo(conn, path)
    except RemoteError as e:
        return "error %s" % e
    except Exception as e:
        return "%s: %s" % (type(e).__name__, e)
    if fs is None:
        return "not found"
    return "fileType %d" % fs.fileType


# ---- processes ----

PROCS = []
LIBC = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    """In the child: SIGTERM when this test dies, even by SIGKILL."""
    LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(signal.SIGCONT)  # in case it was left paused
        p.send_signal(sig)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p.stdout:
        p.stdout.close()
    if p in PROCS:
        PROCS.remove(p)


def wait_ready(p, what, pattern):
    deadline = time.monotonic() + START_TIMEOUT
    buf = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            for line in buf.decode(errors="replace").splitlines():
                m = re.match(pattern, line)
                if m:
                    return m
        elif p.poll() is not None:
            break
    raise RuntimeError("%s gave no ready line (exit status %s, stdout %r)" % (what, p.poll(), buf[-300:]))


def tail(path, n=25):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []


class ZooKeeper:
    """zkserver.sh on one port and data dir; start/stop keep the znodes."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "zk")
        self.port = free_port()
        self.hosts = "127.0.0.1:%d" % self.port
        self.proc = None

    def ruok(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"ruok")
                return s.recv(4) == b"imok"
        except OSError:
            return False

    def start_first(self):
        """The first start: another port when this one was taken meanwhile."""
        for attempt in range(3):
            try:
                return self.start()
            except RuntimeError:
                log = "\n".join(tail(os.path.join(self.dir, "zk.log"), 200))
                if attempt == 2 or "Address already in use" not in log:
                    raise
                self.port = free_port()
                self.hosts = "127.0.0.1:%d" % self.port

    def start(self):
        self.proc = subprocess.Popen(["/bin/sh", ZKSERVER, self.dir, str(self.port)],
                                     stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        PROCS.append(self.proc)
        deadline = time.monotonic() + ZK_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.ruok():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        status = self.proc.poll()
        self.stop()
        raise RuntimeError("ZooKeeper did not answer ruok (exit status %s): %s"
                           % (status, " | ".join(tail(os.path.join(self.dir, "zk.log"), 8))))

    def stop(self):
        if self.proc:
            stop(self.proc)
            self.proc = None


def start_minidfs(binary, tmp, ns):
    data = os.path.join(tmp, ns + ".data")
    os.mkdir(data)
    errpath = os.path.join(tmp, ns + ".err")
    with open(errpath, "wb") as err:
        p = subprocess.Popen([binary, "--nn-port", "0", "--dn-port", "0", "--data-dir", data, "--nameservice", ns],
                             stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                             preexec_fn=die_with_parent)
    PROCS.append(p)
    m = wait_ready(p, "minidfs " + ns, r"^ready nn=(\S+:\d+) dn=(\S+:\d+) bpid=(\S+)$")
    return {"proc": p, "nn": m.group(1), "err": errpath}


def write_conf(path, rid, hosts):
    with open(path, "w") as f:
        f.write("""# routers_zk.py: router %s, records in ZooKeeper
[router]
id = %s
hdfs.listen = 127.0.0.1:0
hms.listen = off
admin.listen = 127.0.0.1:0
workers = 2

[statestore]
driver = zookeeper
zk.hosts = %s
zk.root = %s
zk.session_timeout_ms = %d
""" % (rid, rid, hosts, ROOT, SESSION_TIMEOUT_MS))


def start_router(binary, tmp, rid, hosts):
    conf = os.path.join(tmp, rid + ".conf")
    write_conf(conf, rid, hosts)
    errpath = os.path.join(tmp, rid + ".err")
    with open(errpath, "wb") as err:
        p = subprocess.Popen([binary, "-c", conf], stdout=subprocess.PIPE, stderr=err,
                             stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    PROCS.append(p)
    try:
        m = wait_ready(p, "fedrouter " + rid, r"^ready hdfs=(\S+:\d+) admin=(\S+:\d+)$")
    except RuntimeError as e:
        raise RuntimeError("%s: %s" % (e, " | ".join(tail(errpath, 8))))
    return {"id": rid, "proc": p, "hdfs": m.group(1), "admin": m.group(2), "err": errpath}


def http_get(addr, path):
    with urllib.request.urlopen("http://%s%s" % (addr, path), timeout=5) as r:
        return r.read().decode(errors="replace")


def health(rt):
    try:
        return http_get(rt["admin"], "/healthz").strip()
    except Exception as e:
        return "(no answer: %s)" % e


def metric(rt, name):
    text = http_get(rt["admin"], "/metrics")
    m = re.search(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M)
    if not m:
        raise CheckFailed("%s: /metrics has no %s" % (rt["id"], name))
    return float(m.group(1))


# ---- records in ZooKeeper ----

def encode_name(src):
    """A mount source path as one znode name (zkstore.h: %XX for '%', '/',
    control bytes, space and bytes >= 0x80)."""
    out = []
    for b in src.encode():
        if b in (0x25, 0x2F, 0x20) or b < 0x20 or b == 0x7F or b >= 0x80:
            out.append("%%%02X" % b)
        else:
            out.append(chr(b))
    return "".join(out)


def mount_znode(src):
    return "%s/mounts/%s" % (ROOT, encode_name(src))


class Admin:
    def __init__(self, binary, conf):
        self.binary = binary
        self.conf = conf

    def argv(self, *args, conf=None):
        return [self.binary, "-c", conf or self.conf] + list(args)

    def run(self, *args, conf=None, timeout=20):
        r = subprocess.run(self.argv(*args, conf=conf), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout, r.stderr

    def must(self, *args):
        rc, out, err = self.run(*args)
        expect(rc == 0, "fedrouter-admin %s: exit %d: %s %s" % (" ".join(args), rc, out.strip(), err.strip()))
        return out


def kazoo_client(hosts):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(timeout=15)
    return zk


def kazoo_close(zk):
    if zk is not None:
        try:
            zk.stop()
            zk.close()
        except Exception:
            pass


class Template:
    """The record text fedrouter-admin wrote for `/a -> ns1:/a`, to make
    others from: same header, same keys, same order."""

    def __init__(self, text):
        self.text = text
        expect(text.startswith(HEADER + "\n"), "the record does not start with %r: %r" % (HEADER, text[:80]))
        expect("[mount /a]\n" in text, "no [mount /a] line in %r" % text)
        expect(re.search(r"^destinations = ns1:/a$", text, re.M), "no `destinations = ns1:/a` in %r" % text)

    def mount(self, src, dest_ns, dest):
        t = self.text.replace("[mount /a]\n", "[mount %s]\n" % src)
        return re.sub(r"^destinations = .*$", "destinations = %s:%s" % (dest_ns, dest), t, flags=re.M)


def wait_all_serve(conns, path, timeout):
    """Polls getFileInfo(path) through every open router connection in a
    tight loop. Returns {router id: monotonic time it first answered a
    directory}; routers missing from it never did within timeout."""
    seen = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(conns) and time.monotonic() < deadline:
        for rid, conn in conns.items():
            if rid not in seen and is_dir(conn, path):
                seen[rid] = time.monotonic()
    return seen


def percentile(sorted_vals, p):
    """Nearest rank."""
    k = max(0, min(len(sorted_vals) - 1, -(-len(sorted_vals) * p // 100) - 1))
    return sorted_vals[int(k)]


# ---- a TCP relay that holds one client's first write ----

ZK_WRITE_OPS = {1: "create", 2: "delete", 5: "setData", 14: "multi", 15: "create2", 19: "createContainer",
                20: "deleteContainer", 21: "createTTL"}


class HoldingRelay:
    """Listens on a loopback port; relays one client to ZooKeeper. Frames the
    client sends are read (4-byte length prefix; after the connect request
    each starts with xid and op type); the first write request is held until
    release() is called, so that another writer can get in between this
    client's read and its compare-and-set write."""

    def __init__(self, zk_port):
        self.zk_port = zk_port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.held = threading.Event()
        self.released = threading.Event()
        self.held_op = None
        self.error = None
        self.socks = [self.lsock]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            client, _ = self.lsock.accept()
            server = socket.create_connection(("127.0.0.1", self.zk_port), timeout=10)
            self.socks += [client, server]
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()
            self._client_to_server(client, server)
        except Exception as e:
            self.error = "%s: %s" % (type(e).__name__, e)

    @staticmethod
    def _read_exact(s, n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _client_to_server(self, client, server):
        first = True
        while True:
            head = self._read_exact(client, 4)
            if head is None:
                break
            body = self._read_exact(client, struct.unpack(">i", head)[0])
            if body is None:
                break
            if not first and len(body) >= 8 and not self.held.is_set():
                op = struct.unpack(">i", body[4:8])[0]
                if op in ZK_WRITE_OPS:
                    self.held_op = ZK_WRITE_OPS[op]
                    self.held.set()
                    self.released.wait(15)
            first = False
            server.sendall(head + body)
        server.shutdown(socket.SHUT_WR)

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def release(self):
        self.released.set()

    def close(self):
        self.released.set()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


# ---- the checks ----

def run_checks(env):
    admin, zkd, routers, conns = env["admin"], env["zk"], env["routers"], env["conns"]
    state = {"zk": None, "template": None}

    def zk_client():
        if state["zk"] is None:
            state["zk"] = kazoo_client(zkd.hosts)
        return state["zk"]

    def drop_zk_client():
        kazoo_close(state["zk"])
        state["zk"] = None

    def all_serve(path, timeout, what):
        seen = wait_all_serve(conns, path, timeout)
        missing = [r for r in ROUTER_IDS if r not in seen]
        expect(not missing, "%s: %s not served within %.0f s by %s (%s)"
               % (what, path, timeout, ", ".join(missing),
                  "; ".join("%s: %s" % (r, describe(conns[r], path)) for r in missing)))
        return seen

    # 1 ----
    def c1():
        admin.must("-addNameservice", "ns1", env["nn"])
        admin.must("-add", "/a", "ns1", "/a")
        all_serve("/a", 10, "a mount added with fedrouter-admin")
        data, _ = zk_client().get(mount_znode("/a"))
        state["template"] = Template(data.decode())
        note("record written by fedrouter-admin: %r" % data.decode())
    check("a mount added with fedrouter-admin is routed by r1, r2 and r3", c1)

    # 2 ----
    def c2():
        expect(state["template"] is not None, "no record text to copy (check 1 failed)")
        zk = zk_client()
        lat_ctime, lat_return, slow = [], [], []
        for i in range(100):
            src = "/p/i%03d" % i
            text = state["template"].mount(src, "ns1", "/p")
            _, stat = zk.create(mount_znode(src), text.encode(), include_data=True)
            t_ret_wall, t_ret = time.time(), time.monotonic()
            seen = wait_all_serve(conns, src, 5)
            missing = [r for r in ROUTER_IDS if r not in seen]
            expect(not missing, "change %d (%s): never served by %s within 5 s (%s)"
                   % (i, src, ", ".join(missing),
                      "; ".join("%s: %s" % (r, describe(conns[r], src)) for r in missing)))
            last = max(seen.values())
            # the znode's ctime is the server's wall clock when it took the
            # write; the same host's wall clock "now" minus the monotonic
            # time since then gives the wall time the last router served it
            last_wall = t_ret_wall + (last - t_ret)
            lat_ctime.append(last_wall * 1000.0 - stat.ctime)
            lat_return.append((last - t_ret) * 1000.0)
            if lat_ctime[-1] > 100:
                slow.append("%s %.0f ms (%s)" % (src, lat_ctime[-1], " ".join(
                    "%s+%.0f" % (r, (seen[r] - t_ret) * 1000) for r in ROUTER_IDS)))
        lat = sorted(lat_ctime)
        print("propagation over 100 changes: p50 %d ms, p99 %d ms, max %d ms"
              % (round(percentile(lat, 50)), round(percentile(lat, 99)), round(lat[-1])), flush=True)
        lr = sorted(lat_return)
        note("measured from each znode's ctime (server clock, same host) to the last of the three routers "
             "answering getFileInfo with a directory; from the return of kazoo's create instead: "
             "p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (percentile(lr, 50), percentile(lr, 99), lr[-1]))
        note("goal p99 <= 100 ms: %s%s" % ("met" if percentile(lat, 99) <= 100 else "NOT met",
                                           "" if not slow else "; over 100 ms: " + ", ".join(slow[:10])))
        env["last_zxid"] = stat.czxid
    check("100 changes written with kazoo reach all three routers", c2)

    def c2b():
        zk = zk_client()
        rows = {}

        def consistent():
            rows.clear()
            for rt in routers:
                data, st = zk.get("%s/routers/%s" % (ROOT, rt["id"]))
                kv = dict(re.findall(r"^(\w+) = (.*)$", data.decode(), re.M))
                rows[rt["id"]] = (kv, st, metric(rt, "fedrouter_snapshot_version"),
                                  metric(rt, "fedrouter_statestore_zxid"))
            return all(st.ephemeralOwner != 0 and kv.get("id") == rid and kv.get("hdfs") == rt["hdfs"]
                       and kv.get("admin") == rt["admin"]
                       and int(kv.get("snapshot", -1)) == int(snap) and int(kv.get("zxid", -1)) == int(zx)
                       and int(zx) >= env.get("last_zxid", 0)
                       for rt in routers for rid in [rt["id"]]
                       for kv, st, snap, zx in [rows[rid]])
        good = poll(consistent, 3, 0.05)
        expect(good, "registration znodes vs /metrics: %s" % "; ".join(
            "%s: ephemeralOwner=%#x znode snapshot=%s zxid=%s, metrics snapshot=%d zxid=%d (last write zxid %d)"
            % (rid, st.ephemeralOwner, kv.get("snapshot"), kv.get("zxid"), snap, zx, env.get("last_zxid", 0))
            for rid, (kv, st, snap, zx) in rows.items()))
        out = admin.must("-routers")
        for rt in routers:
            kv = rows[rt["id"]][0]
            line = [ln for ln in out.splitlines() if ln.split()[:1] == [rt["id"]]]
            expect(line, "fedrouter-admin -routers does not list %s: %r" % (rt["id"], out))
            f = line[0].split()
            expect(rt["hdfs"] in f and rt["admin"] in f and f[-1] == kv["snapshot"],
                   "fedrouter-admin -routers line for %s is %r; expected hdfs %s, admin %s, snapshot %s"
                   % (rt["id"], line[0], rt["hdfs"], rt["admin"], kv["snapshot"]))
        note("snapshots served: %s" % ", ".join("%s=%s" % (r, rows[r][0]["snapshot"]) for r in ROUTER_IDS))
    check("each router's ephemeral registration znode names the snapshot it serves; -routers lists all three", c2b)

    # 3 ----
    def c3():
        drop_zk_client()
        zkd.stop()
        bad = []
        for rt in routers:
            h = poll(lambda: "stale since" in health(rt) and health(rt), 5, 0.05)
            if not h:
                bad.append("%s /healthz: %r" % (rt["id"], health(rt)))
                continue
            conn_gauge = poll(lambda: metric(rt, "fedrouter_statestore_connected") == 0, 2, 0.05)
            if not conn_gauge:
                bad.append("%s fedrouter_statestore_connected is %g" % (rt["id"], metric(rt, "fedrouter_statestore_connected")))
            for path in ("/a", "/p/i000", "/p/i099"):
                if not is_dir(conns[rt["id"]], path):
                    bad.append("%s %s: %s" % (rt["id"], path, describe(conns[rt["id"]], path)))
            note("%s: %s" % (rt["id"], h))
        expect(not bad, "; ".join(bad))
    check("ZooKeeper stopped: routing goes on from the last table, health says stale, connected 0", c3)

    # 4 ----
    def c4():
        # The routers are paused (SIGSTOP) while ZooKeeper comes back and the
        # change is written, so that the write surely comes before they
        # reconnect: they must find it by reading everything again.
        for rt in routers:
            rt["proc"].send_signal(signal.SIGSTOP)
        try:
            zkd.start()
            zk = zk_client()
            zk.create(mount_znode("/q"), state["template"].mount("/q", "ns1", "/p").encode())
        finally:
            for rt in routers:
                rt["proc"].send_signal(signal.SIGCONT)
        t = time.monotonic()
        all_serve("/q", 10, "a change made just after the restart")
        note("/q (written while the routers were away) served by all three %.0f ms after they resumed"
             % ((time.monotonic() - t) * 1000))
        bad = []
        for rt in routers:
            h = poll(lambda: "stale" not in health(rt) and "zxid=" in health(rt) and health(rt), 3, 0.05)
            if not h:
                bad.append("%s /healthz still %r" % (rt["id"], health(rt)))
            elif metric(rt, "fedrouter_statestore_connected") != 1:
                bad.append("%s fedrouter_statestore_connected is not 1" % rt["id"])
        expect(not bad, "; ".join(bad))
    check("ZooKeeper restarted: a change written at once reaches all three; health no longer stale", c4)

    # 5 ----
    def c5():
        before = {rt["id"]: metric(rt, "fedrouter_statestore_sessions_total") for rt in routers}
        drop_zk_client()
        zkd.stop()
        time.sleep(SESSION_TIMEOUT_MS / 1000.0 + 2)
        zkd.start()
        zk = zk_client()
        t = time.monotonic()
        zk.create(mount_znode("/s"), state["template"].mount("/s", "ns1", "/p").encode())
        all_serve("/s", 15, "a change after session expiry")
        note("/s served by all three %.0f ms after kazoo wrote it" % ((time.monotonic() - t) * 1000))
        after = {}
        for rt in routers:
            after[rt["id"]] = poll(lambda: (metric(rt, "fedrouter_statestore_sessions_total") > before[rt["id"]]
                                            and metric(rt, "fedrouter_statestore_sessions_total")), 3, 0.05)
        expect(all(after.values()), "fedrouter_statestore_sessions_total did not go up: %s" % ", ".join(
            "%s %d -> %s" % (r, before[r], after[r] or metric(rt, "fedrouter_statestore_sessions_total"))
            for r, rt in zip(ROUTER_IDS, routers)))
        note("sessions_total: %s" % ", ".join("%s %d -> %d" % (r, before[r], after[r]) for r in ROUTER_IDS))

        # registered again in the new session, and the znode is this session's
        def registered():
            for rt in routers:
                st = zk.exists("%s/routers/%s" % (ROOT, rt["id"]))
                if st is None or st.ephemeralOwner == 0:
                    return False
            rc, out, _ = admin.run("-routers")
            return rc == 0 and all(any(ln.split()[:1] == [r] for ln in out.splitlines()) for r in ROUTER_IDS)
        expect(poll(registered, 10, 0.2), "the three routers are not all registered again: %r"
               % (zk.get_children(ROOT + "/routers"),))
    check("session expired: new sessions (sessions_total up), registered again, a new change arrives", c5)

    # 6 ----
    def c6():
        zk = zk_client()
        good = state["template"].mount("/bad1", "ns1", "/p")
        unknown_key = good.replace("destinations = ", "colour = blue\ndestinations = ", 1)
        wrong_header = good.replace(HEADER, "# fedrouter-record v9", 1).replace("/bad1", "/bad2")
        zk.create(mount_znode("/bad1"), unknown_key.encode())
        zk.create(mount_znode("/bad2"), wrong_header.encode())
        bad = []
        for rt in routers:
            n = poll(lambda: metric(rt, "fedrouter_statestore_skipped_records") >= 2
                     and metric(rt, "fedrouter_statestore_skipped_records"), 5, 0.05)
            if not n:
                bad.append("%s fedrouter_statestore_skipped_records = %g, skipped_total = %g"
                           % (rt["id"], metric(rt, "fedrouter_statestore_skipped_records"),
                              metric(rt, "fedrouter_statestore_skipped_total")))
            elif metric(rt, "fedrouter_statestore_skipped_total") < 2:
                bad.append("%s fedrouter_statestore_skipped_total = %g"
                           % (rt["id"], metric(rt, "fedrouter_statestore_skipped_total")))
            for path in ("/a", "/p/i042", "/q", "/s"):
                if not is_dir(conns[rt["id"]], path):
                    bad.append("%s %s: %s" % (rt["id"], path, describe(conns[rt["id"]], path)))
            for path in ("/bad1", "/bad2"):
                if is_dir(conns[rt["id"]], path):
                    bad.append("%s routes the skipped record %s" % (rt["id"], path))
            if rt["proc"].poll() is not None:
                bad.append("%s exited (status %s)" % (rt["id"], rt["proc"].poll()))
        expect(not bad, "; ".join(bad))
        zk.create(mount_znode("/g"), state["template"].mount("/g", "ns1", "/p").encode())
        all_serve("/g", 5, "a good change after the bad ones")
        zk.delete(mount_znode("/bad1"))
        zk.delete(mount_znode("/bad2"))
        left = [rt["id"] for rt in routers
                if not poll(lambda: metric(rt, "fedrouter_statestore_skipped_records") == 0, 5, 0.05)]
        expect(not left, "skipped_records did not go back to 0 after the bad znodes were deleted on %s" % left)
    check("malformed records are skipped and counted; the rest routes; a good change still arrives", c6)

    # 7 ----
    def owner_of(src):
        data, _ = zk_client().get(mount_znode(src))
        m = re.search(r"^owner = (.*)$", data.decode(), re.M)
        return m.group(1) if m else None

    def c7a():
        relay = HoldingRelay(zkd.port)
        conf = os.path.join(env["tmp"], "relay.conf")
        write_conf(conf, "relay", "127.0.0.1:%d" % relay.port)
        try:
            pa = subprocess.Popen(admin.argv("-update", "/a", "-owner", "held", conf=conf),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
            PROCS.append(pa)
            held = relay.held.wait(10)
            if not held:
                relay.release()
                out, err = pa.communicate(timeout=15)
                raise CheckFailed("the relay saw no write from the first admin (exit %s, relay %s): %s %s"
                                  % (pa.returncode, relay.error, out.strip(), err.strip()))
            rc, out, err = admin.run("-update", "/a", "-owner", "between")
            relay.release()
            out_a, err_a = pa.communicate(timeout=15)
            PROCS.remove(pa)
            expect(rc == 0, "the admin that wrote in between: exit %d: %s %s" % (rc, out.strip(), err.strip()))
            expect(pa.returncode == 2 and "conflict" in err_a,
                   "the held admin (its %s held until the other wrote): exit %d, stderr %r; expected exit 2 and "
                   "a conflict message" % (relay.held_op, pa.returncode, err_a.strip()))
            note("held admin (its %s request held): %s" % (relay.held_op, err_a.strip()))
            expect(owner_of("/a") == "between", "owner of /a is %r, expected 'between'" % owner_of("/a"))
        finally:
            relay.close()
    check("an admin whose read is outdated when it writes exits 2 with a conflict message (held write)", c7a)

    def c7b():
        collided = None
        tries = 0
        for k in range(30):
            tries += 1
            owners = ("x%da" % k, "x%db" % k)
            ps = [subprocess.Popen(admin.argv("-update", "/a", "-owner", o), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                                   preexec_fn=die_with_parent) for o in owners]
            res = []
            for p in ps:
                out, err = p.communicate(timeout=20)
                res.append((p.returncode, out, err))
            codes = [r[0] for r in res]
            expect(all(c in (0, 2) for c in codes), "try %d: exit codes %s: %s" % (
                k, codes, " | ".join(r[2].strip() for r in res)))
            expect(0 in codes, "try %d: neither admin won: %s" % (k, " | ".join(r[2].strip() for r in res)))
            for c, _, err in res:
                expect(c != 2 or "conflict" in err, "try %d: exit 2 without a conflict message: %r" % (k, err))
            final = owner_of("/a")
            if codes.count(2) == 1:
                winner = owners[codes.index(0)]
                expect(final == winner, "try %d: %s won but the record's owner is %r" % (k, winner, final))
                collided = (k, res[codes.index(2)][2].strip())
                break
            expect(final in owners, "try %d: both succeeded, owner is %r" % (k, final))
        if collided:
            note("two concurrent admins collided on try %d of 30; loser: %s" % (collided[0] + 1, collided[1]))
        else:
            note("NOT PROVEN by the plain race: two concurrent admins never collided in %d tries "
                 "(each one's read and write fell apart from the other's)" % tries)
    check("two admins updating /a at the same time: never both lost, a loser exits 2 with a conflict message", c7b)

    # the end ----
    def c_end():
        dead = ["%s exited with status %s" % (n, p.poll()) for n, p in env["watch"] if p.poll() is not None]
        expect(not dead, "; ".join(dead))
        for rt in routers:
            expect(is_dir(conns[rt["id"]], "/a"), "%s no longer routes /a" % rt["id"])
    check("minidfs and the three routers are still running and routing at the end", c_end)
    drop_zk_client()

    def c_stop():
        for c in conns.values():
            c.close()
        bad = []
        for rt in routers:
            stop(rt["proc"])
            text = "\n".join(tail(rt["err"], 400))
            if rt["proc"].returncode != 0:
                bad.append("%s exit status %s" % (rt["id"], rt["proc"].returncode))
            m = re.search(r"^.*(AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error).*$", text, re.M)
            if m:
                bad.append("%s: %s" % (rt["id"], m.group(0)))
        expect(not bad, "; ".join(bad))
    check("the three routers stop cleanly on SIGTERM (exit 0, no sanitizer report)", c_stop)


def main(argv):
    global C
    if len(argv) != 2:
        print("usage: routers_zk.py BUILD_DIR", file=sys.stderr)
        return 2
    build = os.path.abspath(argv[1])
    bins = {"minidfs": os.path.join(build, "tests", "minidfs", "minidfs"),
            "router": os.path.join(build, "router", "fedrouter"),
            "admin": os.path.join(build, "router", "cli", "fedrouter-admin")}
    missing = [b for b in bins.values() if not os.access(b, os.X_OK)]
    for tool, why in (("protoc", "protobuf-compiler"), ("java", "the zookeeper package's JRE")):
        if shutil.which(tool) is None:
            missing.append("%s (%s)" % (tool, why))
    try:
        import kazoo.client  # noqa: F401
    except ImportError:
        missing.append("python3-kazoo")
    if missing:
        not_ok("find the programs", "missing: %s" % ", ".join(missing))
        print("%d passed, %d failed" % (PASSED, FAILED))
        return 1

    import logging
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # connection-loss chatter while ZooKeeper is down

    def on_signal(sig, frame):
        raise SystemExit(128 + sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    user = os.environ.get("HADOOP_USER_NAME") or getpass.getuser()
    tmp = tempfile.mkdtemp(prefix="fedrouter-routers-zk.")
    logs = [("zookeeper", os.path.join(tmp, "zk", "zk.log"))]
    conns = {}
    zkd = None
    try:
        C = load_protos(tmp)
        zkd = ZooKeeper(tmp)
        zkd.start_first()
        note("zookeeper %s up after %.1f s" % (zkd.hosts, time.monotonic() - T0))
        ns1 = start_minidfs(bins["minidfs"], tmp, "ns1")
        logs.append(("minidfs ns1", ns1["err"]))
        nn = Conn(ns1["nn"], user)
        conns["nn"] = nn
        for d in ("/a", "/p"):
            if not mkdirs(nn, d):
                raise RuntimeError("mkdirs %s on ns1 failed" % d)
        routers = []
        for rid in ROUTER_IDS:
            rt = start_router(bins["router"], tmp, rid, zkd.hosts)
            logs.append(("fedrouter " + rid, rt["err"]))
            routers.append(rt)
        note("ns1 nn=%s; routers %s" % (ns1["nn"], ", ".join("%s hdfs=%s admin=%s" % (r["id"], r["hdfs"], r["admin"])
                                                              for r in routers)))
        router_conns = {rt["id"]: Conn(rt["hdfs"], user) for rt in routers}
        conns.update(router_conns)
        env = {"admin": Admin(bins["admin"], os.path.join(tmp, "r1.conf")), "zk": zkd, "routers": routers,
               "conns": router_conns, "nn": ns1["nn"], "tmp": tmp,
               "watch": [("minidfs ns1", ns1["proc"])] + [("fedrouter " + r["id"], r["proc"]) for r in routers]}
        run_checks(env)
    except BaseException as e:
        if isinstance(e, SystemExit):
            not_ok("the test was stopped", "signal, exit %s" % e.code)
        else:
            not_ok("the test stopped early", "%s: %s" % (type(e).__name__, e))
    finally:
        for c in conns.values():
            c.close()
        for p in list(PROCS):
            stop(p)
        if FAILED:
            for label, path in logs:
                lines = tail(path)
                if lines:
                    print("# ---- %s (last %d lines) ----" % (label, len(lines)))
                    for ln in lines:
                        print("# " + ln)
        if os.environ.get("FR_KEEP") == "1":
            print("# temp dir kept: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    note("run took %.1f s" % (time.monotonic() - T0))
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
