#!/usr/bin/python3
"""router_classes.py: every routing class of the method table, end to end.

    /usr/bin/python3 tests/e2e/router_classes.py BUILD_DIR

Starts two minidfs subclusters (ns1, ns2) and one fedrouter in front of them,
all on free loopback ports with their data in a temp dir, with these mounts:

    /a  -> ns1:/a              /b  -> ns2:/b
    /h  -> ns1:/h, ns2:/h      (HASH_ALL)
    /ro -> ns1:/ro             (readonly)
    /m  -> ns2:/mdst           (destinations with another name, so that
    /s  -> ns2:/sdst            paths mapped back to the client can be seen)
    default.nameservice = ns1

and, for each routing class of hdfs-proto/methods.c (PATH, TWO_PATHS,
ALL_MERGE, DEFAULT, BLOCK_POOL, ROUTER, REFUSE, unknown methods, subtree
summaries and listings, response paths), calls the router and then asks each
subcluster directly what it holds. The Python protobuf modules are generated
at run time with protoc from hdfs-proto/proto; the Hadoop IPC client is the
small one below (SIMPLE auth, one call at a time).

Prints `ok - NAME` or `not ok - NAME: why` per check, then
`N passed, N failed`; exit status 1 when a check failed.
"""
import getpass
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PROTO_DIR = os.path.join(REPO, "hdfs-proto", "proto")
PROTOCOL = "org.apache.hadoop.hdfs.protocol.ClientProtocol"
START_TIMEOUT = 15          # s for a ready line
CALL_TIMEOUT = 5            # s for one RPC answer
TOTAL_BUDGET = 40           # s: checks after this are reported as failed, not run
CLIENT = "DFSClient_router_classes"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hadoop_ipc  # noqa: E402  (the shared Hadoop IPC test client)

PASSED = 0
FAILED = 0
T0 = time.monotonic()


def ok(name):
    global PASSED
    PASSED += 1
    print("ok - %s" % name, flush=True)


def not_ok(name, why):
    global FAILED
    FAILED += 1
    why = " | ".join(str(why).splitlines())
    if len(why) > 600:
        why = why[:600] + "..."
    print("not ok - %s: %s" % (name, why), flush=True)


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
    except RemoteError as e:
        not_ok(name, "unexpected remote error %s" % e)
        return False
    except Exception as e:  # a broken connection, a parse error...
        not_ok(name, "%s: %s" % (type(e).__name__, e))
        return False
    ok(name)
    return True


# ---- the Hadoop IPC client (shared with the other Python tests) ----

def gen_protos(tmp):
    """Makes the protobuf modules importable (hadoop_ipc generates them)."""
    hadoop_ipc.load_protos(tmp)


RemoteError = hadoop_ipc.RemoteError


def Conn(addr, user, source=None):
    return hadoop_ipc.Conn(C, addr, user, timeout=CALL_TIMEOUT, source=source)


def expect_remote(fn, cls, *in_msg):
    """fn() must fail with exception class cls and a message holding each of in_msg."""
    try:
        r = fn()
    except RemoteError as e:
        expect(e.cls == cls, "expected %s, got %s: %s" % (cls, e.cls, e.msg))
        for s in in_msg:
            expect(s in e.msg, "the message does not mention %r: %s" % (s, e.msg))
        return e
    raise CheckFailed("expected %s, the call succeeded: %s" % (cls, str(r).strip()[:200]))


# ---- processes ----

PROCS = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


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


def start_minidfs(binary, tmp, ns, extra=()):
    data = os.path.join(tmp, ns + ".data")
    os.mkdir(data)
    err = open(os.path.join(tmp, ns + ".err"), "wb")
    args = [binary, "--nn-port", "0", "--dn-port", "0", "--data-dir", data, "--nameservice", ns] + list(extra)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    err.close()
    PROCS.append(p)
    m = wait_ready(p, "minidfs " + ns, r"^ready nn=(\S+:\d+) dn=(\S+:\d+) bpid=(\S+)$")
    return {"proc": p, "nn": m.group(1), "dn": m.group(2), "bpid": m.group(3), "err": err.name}


def write_router_conf(path, ns1, ns2):
    hp, ap = free_port(), free_port()
    while ap == hp:
        ap = free_port()
    with open(path, "w") as f:
        f.write("""# router_classes.py: two subclusters behind one router
[router]
id = classes
hdfs.listen = 127.0.0.1:%d
admin.listen = 127.0.0.1:%d
workers = 2
default.nameservice = ns1
cluster.refresh_ms = 200

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

[mount /h]
destinations = ns1:/h, ns2:/h
order = HASH_ALL

[mount /ro]
destinations = ns1:/ro
readonly = true

[mount /m]
destinations = ns2:/mdst

[mount /s]
destinations = ns2:/sdst

# the orders that need cluster state or spread files: ns2 has more free
# space (minidfs --capacity) and its own address (127.0.0.2)
[mount /sp]
destinations = ns1:/sp, ns2:/sp
order = SPACE

[mount /r]
destinations = ns1:/r, ns2:/r
order = RANDOM

[mount /loc]
destinations = ns1:/loc, ns2:/loc
order = LOCAL

# a router quota over both destinations: 4 names in all
[mount /qt]
destinations = ns1:/qt, ns2:/qt
order = HASH_ALL
quota.ns = 4
""" % (hp, ap, ns1["nn"], ns2["nn"]))


def start_router(binary, tmp, ns1, ns2):
    conf = os.path.join(tmp, "fedrouter.conf")
    last = None
    for _ in range(3):  # a port taken in between: try others
        write_router_conf(conf, ns1, ns2)
        errpath = os.path.join(tmp, "router.err")
        err = open(errpath, "wb")
        p = subprocess.Popen([binary, "-c", conf], stdout=subprocess.PIPE, stderr=err,
                             stdin=subprocess.DEVNULL)
        err.close()
        PROCS.append(p)
        try:
            m = wait_ready(p, "fedrouter", r"^ready hdfs=(\S+:\d+) admin=(\S+:\d+)$")
            return {"proc": p, "hdfs": m.group(1), "admin": m.group(2), "err": errpath}
        except RuntimeError as e:
            last = e
            stop(p)
            with open(errpath, errors="replace") as f:
                text = f.read()
            if not re.search(r"in use|bind|listen", text, re.I):
                raise RuntimeError("%s: %s" % (e, text.strip()[-400:]))
    raise last


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p.stdout:
        p.stdout.close()


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []


# ---- request builders ----

def perm(mode):
    p = H.FsPermissionProto()
    p.perm = mode
    return p


def mkdirs_req(path):
    r = C.MkdirsRequestProto()
    r.src = path
    r.masked.CopyFrom(perm(0o755))
    r.createParent = True
    return r


def fileinfo(conn, path):
    r = C.GetFileInfoRequestProto()
    r.src = path
    resp = conn.call("getFileInfo", r, C.GetFileInfoResponseProto)
    return resp.fs if resp.HasField("fs") else None


def mkdirs(conn, path):
    return conn.call("mkdirs", mkdirs_req(path), C.MkdirsResponseProto).result


def listing(conn, path):
    """Every name of the directory (pages followed), in answer order."""
    names, start = [], b""
    for _ in range(100):
        r = C.GetListingRequestProto()
        r.src = path
        r.startAfter = start
        r.needLocation = False
        resp = conn.call("getListing", r, C.GetListingResponseProto)
        if not resp.HasField("dirList"):
            return None
        page = [e.path.decode() for e in resp.dirList.partialListing]
        names += page
        if not resp.dirList.remainingEntries or not page:
            return names
        start = page[-1].encode()
    raise CheckFailed("getListing %s: more than 100 pages" % path)


def create_file(conn, path):
    r = C.CreateRequestProto()
    r.src = path
    r.masked.CopyFrom(perm(0o644))
    r.clientName = CLIENT
    r.createFlag = C.CREATE
    r.createParent = True
    r.replication = 1
    r.blockSize = 1 << 20
    return conn.call("create", r, C.CreateResponseProto)


def complete(conn, path, last=None, file_id=0):
    r = C.CompleteRequestProto()
    r.src = path
    r.clientName = CLIENT
    if last is not None:
        r.last.CopyFrom(last)
    r.fileId = file_id
    return conn.call("complete", r, C.CompleteResponseProto).result


def summary(conn, path):
    r = C.GetContentSummaryRequestProto()
    r.path = path
    return conn.call("getContentSummary", r, C.GetContentSummaryResponseProto).summary


def quota_usage(conn, path):
    r = C.GetQuotaUsageRequestProto()
    r.path = path
    return conn.call("getQuotaUsage", r, C.GetQuotaUsageResponseProto).usage


def fs_stats(conn):
    s = conn.call("getFsStats", C.GetFsStatusRequestProto(), C.GetFsStatsResponseProto)
    return (s.capacity, s.used, s.remaining)


def snapdirs(conn):
    resp = conn.call("getSnapshottableDirListing", C.GetSnapshottableDirListingRequestProto(),
                     C.GetSnapshottableDirListingResponseProto)
    if not resp.HasField("snapshottableDirList"):
        return []
    return sorted((e.parent_fullpath.decode(), e.dirStatus.path.decode())
                  for e in resp.snapshottableDirList.snapshottableDirListing)


# ---- the checks ----

def run_checks(R, N1, N2, ns1, ns2, user):
    def is_dir(conn, path):
        st = fileinfo(conn, path)
        return st is not None and st.fileType == H.HdfsFileStatusProto.IS_DIR

    # -- PATH --
    def path_a():
        expect(mkdirs(R, "/a/p1") is True, "mkdirs answered false")
        expect(is_dir(N1, "/a/p1"), "ns1 has no directory /a/p1")
        expect(fileinfo(N2, "/a/p1") is None, "ns2 has /a/p1 too")
    check("PATH: mkdirs /a/p1 lands in ns1 only", path_a)

    def path_b():
        expect(mkdirs(R, "/b/p2") is True, "mkdirs answered false")
        expect(is_dir(N2, "/b/p2"), "ns2 has no directory /b/p2")
        expect(fileinfo(N1, "/b/p2") is None, "ns1 has /b/p2 too")
    check("PATH: mkdirs /b/p2 lands in ns2 only", path_b)

    def path_info():
        for path, direct in (("/a/p1", N1), ("/b/p2", N2)):
            got, want = fileinfo(R, path), fileinfo(direct, path)
            expect(got is not None, "getFileInfo %s: absent through the router" % path)
            expect(want is not None, "getFileInfo %s: absent on the subcluster" % path)
            expect(got.fileId == want.fileId, "getFileInfo %s: fileId %d through the router, %d on its "
                   "subcluster" % (path, got.fileId, want.fileId))
        expect(fileinfo(R, "/a/p2") is None, "getFileInfo /a/p2 found something (it is only in ns2:/b)")
    check("PATH: getFileInfo /a/p1 and /b/p2 answer their subcluster's file ids", path_info)

    def path_norm():
        expect(mkdirs(R, "//a///n1/") is True, "mkdirs //a///n1/ answered false")
        want = fileinfo(N1, "/a/n1")
        expect(want is not None, "ns1 has no /a/n1 after mkdirs //a///n1/")
        got = fileinfo(R, "//a///n1/")
        expect(got is not None and got.fileId == want.fileId,
               "getFileInfo //a///n1/ does not answer ns1's /a/n1 (%s)" % (got and got.fileId))
        expect(fileinfo(N2, "/a/n1") is None, "ns2 has /a/n1")
    check("PATH: //a///n1/ works like /a/n1", path_norm)

    def path_relative():
        expect_remote(lambda: fileinfo(R, "a/p1"), "org.apache.hadoop.fs.InvalidPathException")
        expect_remote(lambda: mkdirs(R, "a/rel"), "org.apache.hadoop.fs.InvalidPathException")
        expect(fileinfo(N1, "/a/rel") is None and fileinfo(N1, "/a/a/rel") is None,
               "a directory was made for the relative path a/rel")
    check("PATH: a relative path is refused (InvalidPathException)", path_relative)

    def path_dotdot():
        expect_remote(lambda: fileinfo(R, "/a/../b/p2"), "org.apache.hadoop.fs.InvalidPathException")
        expect_remote(lambda: mkdirs(R, "/a/../b/dd"), "org.apache.hadoop.fs.InvalidPathException")
        expect(fileinfo(N2, "/b/dd") is None and fileinfo(N1, "/b/dd") is None,
               "a directory /b/dd was made from /a/../b/dd")
        expect_remote(lambda: fileinfo(R, "/a/p1/.."), "org.apache.hadoop.fs.InvalidPathException")
    check("PATH: a path with .. is refused (InvalidPathException)", path_dotdot)

    # A HASH_ALL mount spreads paths by the hash of the whole path: a
    # directory that mkdirs made as the parent of another path lies where
    # that path hashed to, yet it must still be found by its own path.
    def hash_all_parents():
        missing = []
        for k in range(8):
            d = "/h/d%d" % k
            expect(mkdirs(R, d + "/leaf") is True, "mkdirs %s/leaf answered false" % d)
            expect(is_dir(R, d + "/leaf"), "getFileInfo %s/leaf: absent right after mkdirs" % d)
            if not is_dir(R, d):
                where = [n for c, n in ((N1, "ns1"), (N2, "ns2")) if is_dir(c, d)]
                missing.append("%s (held by %s)" % (d, ",".join(where) or "nobody"))
        expect(not missing, "getFileInfo answers absent for %s; their children exist" % ", ".join(missing))
    check("PATH on HASH_ALL: after mkdirs /h/dK/leaf, getFileInfo /h/dK finds the directory", hash_all_parents)

    # -- TWO_PATHS --
    def rename_inside():
        expect(mkdirs(R, "/a/r1") is True, "mkdirs /a/r1 answered false")
        r = C.Rename2RequestProto()
        r.src, r.dst, r.overwriteDest = "/a/r1", "/a/r2", False
        R.call("rename2", r, C.Rename2ResponseProto)
        expect(fileinfo(N1, "/a/r1") is None, "ns1 still has /a/r1")
        expect(is_dir(N1, "/a/r2"), "ns1 has no /a/r2")
    check("TWO_PATHS: rename2 /a/r1 -> /a/r2 inside ns1", rename_inside)

    def rename_across():
        r = C.Rename2RequestProto()
        r.src, r.dst, r.overwriteDest = "/a/r2", "/b/r3", False
        expect_remote(lambda: R.call("rename2", r, C.Rename2ResponseProto), "java.io.IOException",
                      "/a/r2", "/b/r3")
        expect(is_dir(N1, "/a/r2"), "ns1 lost /a/r2")
        expect(fileinfo(N2, "/b/r3") is None and fileinfo(N1, "/b/r3") is None, "/b/r3 appeared")
    check("TWO_PATHS: rename2 /a -> /b fails with IOException naming both paths", rename_across)

    # -- read-only mount --
    def ro_write():
        expect_remote(lambda: mkdirs(R, "/ro/x"), "org.apache.hadoop.security.AccessControlException")
        expect(fileinfo(N1, "/ro/x") is None, "ns1 has /ro/x")
    check("read-only: mkdirs /ro/x is refused with AccessControlException", ro_write)

    def ro_read():
        got, want = fileinfo(R, "/ro/seed"), fileinfo(N1, "/ro/seed")
        expect(want is not None, "setup: ns1 has no /ro/seed")
        expect(got is not None and got.fileId == want.fileId, "getFileInfo /ro/seed: %s" % got)
    check("read-only: getFileInfo /ro/seed works", ro_read)

    # -- mount point protection --
    def mp_delete():
        r = C.DeleteRequestProto()
        r.src, r.recursive = "/a", False
        expect_remote(lambda: R.call("delete", r, C.DeleteResponseProto),
                      "org.apache.hadoop.security.AccessControlException")
        expect(is_dir(N1, "/a"), "ns1 lost /a")
    check("mount point: delete /a is refused with AccessControlException", mp_delete)

    # -- ALL_MERGE --
    def stats():
        # Capacity and remaining come from the data directory's file system,
        # which other processes may change: a few tries for a quiet moment.
        tries = []
        for _ in range(5):
            before = [fs_stats(N1), fs_stats(N2)]
            got = fs_stats(R)
            after = [fs_stats(N1), fs_stats(N2)]
            want = tuple(a + b for a, b in zip(*before))
            if want == tuple(a + b for a, b in zip(*after)):
                if got == want:
                    return
                tries.append("router %s, ns1+ns2 %s" % (got, want))
            time.sleep(0.05)
        expect(tries, "the subclusters' numbers changed on every try")
        raise CheckFailed("(capacity, used, remaining): " + "; ".join(tries[:2]))
    check("ALL_MERGE: getFsStats is the sum of both subclusters", stats)

    def dn_report():
        r = C.GetDatanodeReportRequestProto()
        r.type = H.ALL
        got = R.call("getDatanodeReport", r, C.GetDatanodeReportResponseProto).di
        d1 = N1.call("getDatanodeReport", r, C.GetDatanodeReportResponseProto).di
        d2 = N2.call("getDatanodeReport", r, C.GetDatanodeReportResponseProto).di
        expect(len(got) == len(d1) + len(d2), "%d datanodes through the router, %d + %d directly"
               % (len(got), len(d1), len(d2)))
        key = lambda d: "%s:%d" % (d.id.ipAddr, d.id.xferPort)
        expect(sorted(map(key, got)) == sorted(map(key, list(d1) + list(d2))),
               "datanodes %s, expected %s" % (sorted(map(key, got)), sorted(map(key, list(d1) + list(d2)))))
        expect(ns1["dn"] in map(key, got) and ns2["dn"] in map(key, got), "a subcluster's datanode is missing")
    check("ALL_MERGE: getDatanodeReport(ALL) lists the datanodes of both", dn_report)

    def txid():
        q = C.GetCurrentEditLogTxidRequestProto()
        t = [c.call("getCurrentEditLogTxid", q, C.GetCurrentEditLogTxidResponseProto).txid for c in (R, N1, N2)]
        expect(t[0] == max(t[1], t[2]), "router %d, ns1 %d, ns2 %d" % tuple(t))
    check("ALL_MERGE: getCurrentEditLogTxid is the largest of both", txid)

    def safemode():
        q = C.SetSafeModeRequestProto()
        q.action = C.SAFEMODE_GET
        got = R.call("setSafeMode", q, C.SetSafeModeResponseProto).result
        d = [c.call("setSafeMode", q, C.SetSafeModeResponseProto).result for c in (N1, N2)]
        expect(got == (d[0] and d[1]), "router %s, ns1 %s, ns2 %s" % (got, d[0], d[1]))
    check("ALL_MERGE: setSafeMode GET answers (in safe mode only if both are)", safemode)

    # -- summaries over mount points --
    ns2_dests = ["/b", "/h", "/mdst", "/sdst", "/sp", "/r", "/loc", "/qt"]   # the parts of ns2 inside the federated namespace

    def cs_root():
        got = summary(R, "/")
        parts = [summary(N1, "/")] + [summary(N2, d) for d in ns2_dests]
        for f in ("length", "fileCount", "directoryCount", "spaceConsumed"):
            want = sum(getattr(p, f) for p in parts)
            expect(getattr(got, f) == want, "%s: %d through the router, ns1:/ %s + ns2 %s = %d"
                   % (f, getattr(got, f), getattr(parts[0], f), [getattr(p, f) for p in parts[1:]], want))
        for f in ("quota", "spaceQuota"):
            expect(getattr(got, f) == getattr(parts[0], f), "%s: %d, ns1:/ has %d"
                   % (f, getattr(got, f), getattr(parts[0], f)))
    check("getContentSummary / adds up ns1:/ and ns2's /b, /h, /mdst, /sdst, /sp, /r, /loc, /qt", cs_root)

    def qu_root():
        got = quota_usage(R, "/")
        parts = [quota_usage(N1, "/")] + [quota_usage(N2, d) for d in ns2_dests]
        for f in ("fileAndDirectoryCount", "spaceConsumed"):
            want = sum(getattr(p, f) for p in parts)
            expect(getattr(got, f) == want, "%s: %d through the router, %d directly"
                   % (f, getattr(got, f), want))
        expect(got.quota == parts[0].quota, "quota %d, ns1:/ has %d" % (got.quota, parts[0].quota))
    check("getQuotaUsage / adds up ns1:/ and ns2's /b, /h, /mdst, /sdst, /sp, /r, /loc, /qt", qu_root)

    def cs_mount():
        got, want = summary(R, "/b"), summary(N2, "/b")
        for f in ("length", "fileCount", "directoryCount", "spaceConsumed"):
            expect(getattr(got, f) == getattr(want, f), "%s: %d through the router, ns2:/b %d"
                   % (f, getattr(got, f), getattr(want, f)))
        expect(want.fileCount >= 1 and want.directoryCount >= 2, "setup: ns2:/b holds too little to tell")
    check("getContentSummary /b (a mount point) is ns2's /b", cs_mount)

    # -- listings --
    def ls_root():
        got = listing(R, "/")
        own = listing(N1, "/")
        want = sorted(set(own) | {"a", "b", "h", "m", "ro", "s"}, key=lambda s: s.encode())
        expect(got == want, "got %s, expected %s" % (got, want))
    check("getListing / shows the mount points and ns1's root, sorted", ls_root)

    def ls_hash():
        got = listing(R, "/h")
        d1, d2 = listing(N1, "/h"), listing(N2, "/h")
        want = sorted(set(d1) | set(d2), key=lambda s: s.encode())
        expect(set(d1) != set(d2), "setup: ns1:/h and ns2:/h hold the same names")
        expect(got == want, "got %s, expected %s (ns1 %s, ns2 %s)" % (got, want, d1, d2))
    check("getListing /h merges both destinations of the HASH_ALL mount", ls_hash)

    # -- DEFAULT --
    def defaults():
        got = R.call("getServerDefaults", C.GetServerDefaultsRequestProto(), C.GetServerDefaultsResponseProto)
        want = N1.call("getServerDefaults", C.GetServerDefaultsRequestProto(), C.GetServerDefaultsResponseProto)
        expect(got.serverDefaults.blockSize == want.serverDefaults.blockSize,
               "blockSize %d, ns1 says %d" % (got.serverDefaults.blockSize, want.serverDefaults.blockSize))
    check("DEFAULT: getServerDefaults answers ns1's defaults", defaults)

    def policies():
        q = C.GetStoragePoliciesRequestProto()
        got = R.call("getStoragePolicies", q, C.GetStoragePoliciesResponseProto)
        want = N1.call("getStoragePolicies", q, C.GetStoragePoliciesResponseProto)
        expect(len(got.policies) > 0, "no policies")
        expect(got == want, "differs from ns1's answer")
    check("DEFAULT: getStoragePolicies answers", policies)

    # -- BLOCK_POOL --
    blk = {}

    def add_block():
        st = create_file(R, "/b/blk.bin")
        expect(st.HasField("fs"), "create answered no status")
        expect(fileinfo(N2, "/b/blk.bin") is not None, "ns2 has no /b/blk.bin")
        q = C.AddBlockRequestProto()
        q.src = "/b/blk.bin"
        q.clientName = CLIENT
        q.fileId = st.fs.fileId
        b = R.call("addBlock", q, C.AddBlockResponseProto).block.b
        expect(b.poolId == ns2["bpid"], "addBlock answered pool %s, ns2's is %s" % (b.poolId, ns2["bpid"]))
        blk["b"] = b
        blk["fileId"] = st.fs.fileId
    have_block = check("BLOCK_POOL: create /b/blk.bin and addBlock (a block of ns2's pool)", add_block)

    def update_block():
        expect(have_block, "no block (addBlock failed)")
        q = C.UpdateBlockForPipelineRequestProto()
        q.block.CopyFrom(blk["b"])
        q.clientName = CLIENT
        # Only ns2 knows the block: the default subcluster (ns1) would refuse it.
        try:
            N1.call("updateBlockForPipeline", q, C.UpdateBlockForPipelineResponseProto)
            raise CheckFailed("setup: ns1 accepted ns2's block, so the check could not tell")
        except RemoteError:
            pass
        nb = R.call("updateBlockForPipeline", q, C.UpdateBlockForPipelineResponseProto).block.b
        expect(nb.poolId == ns2["bpid"] and nb.blockId == blk["b"].blockId,
               "answered block %s/%d" % (nb.poolId, nb.blockId))
        expect(nb.generationStamp > blk["b"].generationStamp,
               "generation stamp %d, was %d" % (nb.generationStamp, blk["b"].generationStamp))
    check("BLOCK_POOL: updateBlockForPipeline with ns2's block goes to ns2", update_block)

    def bad_blocks():
        expect(have_block, "no block (addBlock failed)")
        q = C.ReportBadBlocksRequestProto()
        lb = q.blocks.add()
        lb.b.CopyFrom(blk["b"])
        lb.offset = 0
        lb.corrupt = True
        lb.blockToken.identifier = b""
        lb.blockToken.password = b""
        lb.blockToken.kind = ""
        lb.blockToken.service = ""
        R.call("reportBadBlocks", q, C.ReportBadBlocksResponseProto)
        word = "bad replica of blk_%d" % blk["b"].blockId
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and not any(word in ln for ln in tail(ns2["err"], 200)):
            time.sleep(0.05)
        expect(any(word in ln for ln in tail(ns2["err"], 200)), "ns2 did not log the report")
        expect(not any(word in ln for ln in tail(ns1["err"], 200)), "ns1 got the report")
    check("BLOCK_POOL: reportBadBlocks with ns2's block reaches ns2", bad_blocks)

    # -- ROUTER --
    def ha_state():
        got = R.call("getHAServiceState", C.HAServiceStateRequestProto(), C.HAServiceStateResponseProto)
        expect(got.state == HA.ACTIVE, "state %s" % HA.HAServiceStateProto.Name(got.state))
    check("ROUTER: getHAServiceState answers ACTIVE", ha_state)

    def msync():
        R.call("msync", C.MsyncRequestProto(), C.MsyncResponseProto)
    check("ROUTER: msync answers", msync)

    def dtoken():
        q = S.GetDelegationTokenRequestProto()
        q.renewer = user
        got = R.call("getDelegationToken", q, S.GetDelegationTokenResponseProto)
        expect(not got.HasField("token"), "a token came back: %s" % got.token)
    check("ROUTER: getDelegationToken answers with no token", dtoken)

    # -- REFUSE --
    refused = [
        ("getDataEncryptionKey", C.GetDataEncryptionKeyRequestProto(), C.GetDataEncryptionKeyResponseProto),
        ("getEditsFromTxid", C.GetEditsFromTxidRequestProto(txid=0), C.GetEditsFromTxidResponseProto),
        ("listEncryptionZones", E.ListEncryptionZonesRequestProto(id=0), E.ListEncryptionZonesResponseProto),
    ]
    for method, q, rcls in refused:
        check("REFUSE: %s -> UnsupportedOperationException about the router" % method,
              lambda method=method, q=q, rcls=rcls: expect_remote(
                  lambda: R.call(method, q, rcls), "java.lang.UnsupportedOperationException", "router"))

    # -- unknown method --
    def unknown():
        hdr, payload = R.raw("noSuchMethod", b"")
        expect(payload is None, "a success reply")
        expect(hdr.status == C.RpcResponseHeaderProto.ERROR, "status %s (expected ERROR: the connection "
               "stays usable)" % hdr.status)
        expect(hdr.exceptionClassName, "no exception class")
        d_hdr, _ = N1.raw("noSuchMethod", b"")
        expect(hdr.exceptionClassName == d_hdr.exceptionClassName,
               "%s, ns1 itself answers %s" % (hdr.exceptionClassName, d_hdr.exceptionClassName))
        expect(is_dir(R, "/a/p1"), "the next call on the connection did not see /a/p1")
    check("unknown method noSuchMethod: an error reply, the connection still works", unknown)

    # -- response paths mapped back --
    def snap_a():
        R.call("allowSnapshot", C.AllowSnapshotRequestProto(snapshotRoot="/a/sd"), C.AllowSnapshotResponseProto)
        got = R.call("createSnapshot", C.CreateSnapshotRequestProto(snapshotRoot="/a/sd", snapshotName="s1"),
                     C.CreateSnapshotResponseProto).snapshotPath
        expect(got.startswith("/a/sd/.snapshot/"), "snapshot path %r" % got)
    check("createSnapshot /a/sd: the snapshot path starts with /a/sd/.snapshot/", snap_a)

    def snap_m():
        R.call("allowSnapshot", C.AllowSnapshotRequestProto(snapshotRoot="/m/d"), C.AllowSnapshotResponseProto)
        got = R.call("createSnapshot", C.CreateSnapshotRequestProto(snapshotRoot="/m/d", snapshotName="s1"),
                     C.CreateSnapshotResponseProto).snapshotPath
        expect(got == "/m/d/.snapshot/s1", "snapshot path %r (ns2 holds it as /mdst/d/.snapshot/s1)" % got)
    check("createSnapshot /m/d: the snapshot path is /m/d/.snapshot/s1, not ns2's /mdst/...", snap_m)

    def snap_list():
        d1, d2 = snapdirs(N1), snapdirs(N2)
        expect(d1 == [("/a", "sd")], "setup: ns1 lists %s, expected [('/a', 'sd')]" % d1)
        expect(d2 == [("/mdst", "d")], "setup: ns2 lists %s, expected [('/mdst', 'd')]" % d2)
        got = snapdirs(R)
        want = [("/a", "sd"), ("/m", "d")]
        expect(got == want, "(parent, name) %s, expected %s" % (got, want))
    check("getSnapshottableDirListing: parent paths mapped back (/a for /a/sd, /m for /m/d)", snap_list)

    # A snapshottable directory that is a mount point whose destination has
    # another name: the client joins parent and name into the directory's
    # path, which must be /s (ns2's /sdst), not /sdst (ns1's, by default).
    # The router refuses snapshots on a mount point (RBF), so ns2 makes it
    # snapshottable itself.
    def snap_mount_root():
        N2.call("allowSnapshot", C.AllowSnapshotRequestProto(snapshotRoot="/sdst"), C.AllowSnapshotResponseProto)
        d2 = snapdirs(N2)
        expect(("/", "sdst") in d2, "setup: ns2 lists %s, expected ('/', 'sdst') among them" % d2)
        got = [e for e in snapdirs(R) if e not in (("/a", "sd"), ("/m", "d"))]
        expect(got == [("/", "s")], "(parent, name) %s for the directory /s, expected [('/', 's')]; a client "
               "would read %s" % (got, ["%s/%s" % (p.rstrip("/"), n) for p, n in got]))
    check("getSnapshottableDirListing: the mount point /s (ns2:/sdst) is listed as / + s", snap_mount_root)

    if have_block:
        try:
            complete(R, "/b/blk.bin", blk["b"], blk["fileId"])
        except (RemoteError, OSError, ValueError, EOFError):
            pass


def http_get(addr, path):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=CALL_TIMEOUT) as s:
        s.sendall(("GET %s HTTP/1.0\r\nHost: x\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace")


def wait_refresh(rt, rounds):
    """Waits until the router has asked the subclusters for space and hosts."""
    deadline = time.monotonic() + 10
    n = -1
    while time.monotonic() < deadline:
        m = re.search(r"^fedrouter_cluster_refresh_rounds_total (\d+)$", http_get(rt["admin"], "/metrics"), re.M)
        n = int(m.group(1)) if m else -1
        if n >= rounds:
            return n
        time.sleep(0.05)
    raise CheckFailed("the router made %d cluster state rounds in 10 s, wanted %d" % (n, rounds))


def exists(conn, path):
    return fileinfo(conn, path) is not None


def make_file(conn, path):
    st = create_file(conn, path)
    expect(complete(conn, path, None, st.fs.fileId), "complete %s answered false" % path)


def run_order_checks(R, R2, N1, N2, rt, user):
    """Mount orders that spread paths over destinations: where new files go,
    and that every call finds a path in whichever destination holds it."""

    def space():
        wait_refresh(rt, 2)
        for i in range(4):
            make_file(R, "/sp/f%d" % i)
        on2 = [i for i in range(4) if exists(N2, "/sp/f%d" % i)]
        on1 = [i for i in range(4) if exists(N1, "/sp/f%d" % i)]
        expect(on2 == [0, 1, 2, 3] and not on1,
               "SPACE put files on ns2 %s and ns1 %s; ns2 has 8 GiB free, ns1 256 MiB" % (on2, on1))
    check("SPACE: new files go to the subcluster with the most free space", space)

    def random_spread():
        for i in range(16):
            make_file(R, "/r/f%02d" % i)
        on1 = [i for i in range(16) if exists(N1, "/r/f%02d" % i)]
        on2 = [i for i in range(16) if exists(N2, "/r/f%02d" % i)]
        expect(sorted(on1 + on2) == list(range(16)), "files on ns1 %s and ns2 %s" % (on1, on2))
        expect(on1 and on2, "RANDOM put all 16 files in one subcluster: ns1 %s ns2 %s" % (on1, on2))
        missing = [i for i in range(16) if not exists(R, "/r/f%02d" % i)]
        expect(not missing, "getFileInfo through the router misses %s" % missing)
        names = listing(R, "/r")
        expect(names == ["f%02d" % i for i in range(16)], "listing of /r: %s" % names)
    check("RANDOM: files spread over both, each found through the router, one listing", random_spread)

    def folder_all_writes():
        expect(mkdirs(R, "/h/newdir/sub"), "mkdirs answered false")
        for conn, ns in ((N1, "ns1"), (N2, "ns2")):
            expect(exists(conn, "/h/newdir/sub"), "/h/newdir/sub is not on %s" % ns)
        names = listing(R, "/h/newdir")
        expect(names == ["sub"], "listing of /h/newdir: %s" % names)
        req = C.SetPermissionRequestProto(src="/h/newdir", permission=perm(0o700))
        R.call("setPermission", req, C.SetPermissionResponseProto)
        for conn, ns in ((N1, "ns1"), (N2, "ns2")):
            mode = fileinfo(conn, "/h/newdir").permission.perm
            expect(mode == 0o700, "/h/newdir on %s has mode %o" % (ns, mode))
        r = R.call("delete", C.DeleteRequestProto(src="/h/newdir", recursive=True), C.DeleteResponseProto)
        expect(r.result, "delete answered false")
        for conn, ns in ((N1, "ns1"), (N2, "ns2")):
            expect(not exists(conn, "/h/newdir"), "/h/newdir is still on %s" % ns)
    check("HASH_ALL: mkdirs, setPermission and delete reach every destination", folder_all_writes)

    def local():
        wait_refresh(rt, 2)
        make_file(R2, "/loc/from2")
        make_file(R, "/loc/from1")
        expect(exists(N2, "/loc/from2") and not exists(N1, "/loc/from2"),
               "a file made by a client at 127.0.0.2 (ns2's host) is not on ns2 alone")
        expect(exists(N1, "/loc/from1") and not exists(N2, "/loc/from1"),
               "a file made by a client at 127.0.0.1 (ns1's host) is not on ns1 alone")
        expect(exists(R, "/loc/from2") and exists(R2, "/loc/from1"),
               "a client does not find the file the other one made")
    check("LOCAL: a new file goes to the client's own subcluster; both find both", local)

    def quota():
        # /qt exists in both destinations: 2 names before any file.
        made = []
        for i in range(6):
            wait_refresh(rt, wait_refresh(rt, 0) + 2)  # usage added up after the last create
            try:
                make_file(R, "/qt/f%d" % i)
                made.append(i)
            except RemoteError as e:
                expect(e.cls == "org.apache.hadoop.hdfs.protocol.NSQuotaExceededException",
                       "create /qt/f%d failed with %s: %s" % (i, e.cls, e.msg))
                expect("/qt" in e.msg and "quota=4" in e.msg, "the message does not name /qt and its quota: %s" % e.msg)
                break
        expect(made == [0, 1], "creates that went through before the quota stopped them: %s (want f0, f1)" % made)
        r = R.call("getListing", C.GetListingRequestProto(src="/qt", startAfter=b"", needLocation=False),
                   C.GetListingResponseProto)
        expect(len(r.dirList.partialListing) == 2, "listing of /qt has %d entries" % len(r.dirList.partialListing))
    check("router quota: quota.ns = 4 over two destinations stops the third file", quota)


def setup(N1, N2):
    """The destinations and some content, made directly on each subcluster."""
    for path in ("/a/sd", "/ro/seed", "/h/h1", "/h/hx", "/0first", "/zlocal"):
        if not mkdirs(N1, path):
            raise RuntimeError("mkdirs %s on ns1 answered false" % path)
    for path in ("/sp", "/r", "/loc", "/qt"):
        for conn in (N1, N2):
            if not mkdirs(conn, path):
                raise RuntimeError("mkdirs %s answered false" % path)
    for path in ("/b/sub", "/h/h2", "/h/hx", "/mdst/d", "/sdst/x"):
        if not mkdirs(N2, path):
            raise RuntimeError("mkdirs %s on ns2 answered false" % path)
    for conn, path in ((N1, "/zlocal/f1"), (N1, "/a/f"), (N2, "/b/sub/f2"), (N2, "/b/f3"),
                       (N2, "/h/h2/f4"), (N2, "/mdst/d/f5")):
        st = create_file(conn, path)
        if not complete(conn, path, None, st.fs.fileId):
            raise RuntimeError("complete %s answered false" % path)


def main(argv):
    global C, H, HA, S, E
    if len(argv) != 2:
        print("usage: router_classes.py BUILD_DIR", file=sys.stderr)
        return 2
    build = os.path.abspath(argv[1])
    minidfs = os.path.join(build, "tests", "minidfs", "minidfs")
    router = os.path.join(build, "router", "fedrouter")
    for b in (minidfs, router):
        if not os.access(b, os.X_OK):
            not_ok("find the binaries", "no executable %s (build first)" % b)
            print("%d passed, %d failed" % (PASSED, FAILED))
            return 1
    if shutil.which("protoc") is None:
        not_ok("find protoc", "protoc is not installed (Debian package protobuf-compiler)")
        print("%d passed, %d failed" % (PASSED, FAILED))
        return 1
    user = os.environ.get("HADOOP_USER_NAME") or getpass.getuser()
    tmp = tempfile.mkdtemp(prefix="fedrouter-classes.")
    logs = []
    conns = []
    try:
        gen_protos(tmp)
        import ClientNamenodeProtocol_pb2 as cnp
        import HAServiceProtocol_pb2 as ha
        import IpcConnectionContext_pb2 as ipcctx
        import ProtobufRpcEngine_pb2 as engine
        import RpcHeader_pb2 as rpch
        import Security_pb2 as sec
        import acl_pb2 as acl
        import encryption_pb2 as enc
        import hdfs_pb2 as hdfs

        class NS:  # one namespace for the messages and enums used here
            pass
        C = NS()
        for mod in (acl, hdfs, cnp, rpch, engine, ipcctx):
            for k in dir(mod):
                if not k.startswith("_"):
                    setattr(C, k, getattr(mod, k))
        H, HA, S, E = C, ha, sec, enc

        ns1 = start_minidfs(minidfs, tmp, "ns1", ("--capacity", str(256 << 20)))
        logs.append(("minidfs ns1", ns1["err"]))
        ns2 = start_minidfs(minidfs, tmp, "ns2", ("--capacity", str(8 << 30), "--host", "127.0.0.2"))
        logs.append(("minidfs ns2", ns2["err"]))
        print("# ns1 nn=%s bpid=%s; ns2 nn=%s bpid=%s" % (ns1["nn"], ns1["bpid"], ns2["nn"], ns2["bpid"]))
        N1, N2 = Conn(ns1["nn"], user), Conn(ns2["nn"], user)
        conns += [N1, N2]
        setup(N1, N2)
        rt = start_router(router, tmp, ns1, ns2)
        logs.append(("fedrouter", rt["err"]))
        print("# fedrouter hdfs=%s" % rt["hdfs"])
        R = Conn(rt["hdfs"], user)
        conns.append(R)
        run_checks(R, N1, N2, ns1, ns2, user)
        R2 = Conn(rt["hdfs"], user, source="127.0.0.2")
        conns.append(R2)
        run_order_checks(R, R2, N1, N2, rt, user)
        for name, p in (("minidfs ns1", ns1["proc"]), ("minidfs ns2", ns2["proc"]), ("fedrouter", rt["proc"])):
            if p.poll() is None:
                ok("%s still running at the end" % name)
            else:
                not_ok("%s still running at the end" % name, "it exited with status %s" % p.poll())
    except Exception as e:
        not_ok("the test stopped early", "%s: %s" % (type(e).__name__, e))
    finally:
        for c in conns:
            c.close()
        for p in PROCS:
            stop(p)
        if FAILED:
            for label, path in logs:
                lines = tail(path)
                if lines:
                    print("# ---- %s stderr (last %d lines) ----" % (label, len(lines)))
                    for ln in lines:
                        print("# " + ln)
        if os.environ.get("FR_KEEP") == "1":
            print("# temp dir kept: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.exit(main(sys.argv))
