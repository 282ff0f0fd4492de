"""climits: what the client-limit probes of tests/limits share (slow senders,
idle memory, max_conns, metastore message size, descriptor exhaustion).

It lives in a package of its own so that the folder's CMakeLists.txt, which
turns every tests/limits/*.py into a test, leaves it alone. It starts minidfs,
minihms and fedrouter through the e2e fixtures (tests/e2e/procs.py, fed.py,
hadoop_ipc.py) and adds the raw sockets, /proc readings and /metrics lookups
the probes make.
"""
import os
import re
import resource
import socket
import struct
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "e2e"))
import hadoop_ipc  # noqa: E402
import procs  # noqa: E402
from fed import Fed, Ops  # noqa: E402

expect = procs.expect
PREAMBLE = b"hrpc\x09\x00\x00"


def raise_nofile(want=12000):
    """Lifts this process's descriptor limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def sanitized(build):
    """True when the build is instrumented (FEDROUTER_SANITIZE): its memory
    figures say nothing about the release build's."""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            return re.search(r"^FEDROUTER_SANITIZE:BOOL=(ON|TRUE|1|YES)$", f.read(), re.M | re.I) is not None
    except OSError:
        return False


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def cpu_ticks(pid):
    """utime + stime of the whole process, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_share(pid, seconds=2.0):
    """The process's CPU use over `seconds`, 1.0 = one core."""
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    time.sleep(seconds)
    return (cpu_ticks(pid) - c0) / hz / (time.monotonic() - t0)


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def http_get(admin, path, timeout=3):
    """(status, body); raises on a timeout or a refused connection."""
    try:
        with urllib.request.urlopen("http://%s%s" % (admin, path), timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(admin, name, labels=None):
    """The sum of every sample of `name` whose labels include `labels`."""
    _, text = http_get(admin, "/metrics", timeout=10)
    total, found = 0, False
    for m in re.finditer(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M):
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(got.get(k) == v for k, v in (labels or {}).items()):
            total += float(m.group(2))
            found = True
    expect(found, "/metrics has no %s%s" % (name, labels or ""))
    return total


def log_text(fed, name="fedrouter"):
    with open(os.path.join(fed.tmp, name + ".err"), errors="replace") as f:
        return f.read()


def wait_for(cond, timeout, what, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("after %.1f s: %s" % (timeout, what))
        time.sleep(step)


def closed_by_peer(sock, timeout):
    """True when the peer closes (EOF or reset) within timeout seconds; any
    bytes it sends first (a FATAL answer) are read and dropped."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if sock.recv(65536) == b"":
                return True
        except socket.timeout:
            return False
        except OSError:
            return True


def connect(addr, timeout=10):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


# ---- Hadoop IPC bytes ----

def hdfs_handshake(C, user):
    """Preamble and connection context, as hadoop_ipc.Conn sends them."""
    ctx = C.IpcConnectionContextProto()
    ctx.userInfo.effectiveUser = user
    ctx.protocol = hadoop_ipc.PROTOCOL
    h = C.RpcRequestHeaderProto()
    h.rpcKind = C.RPC_PROTOCOL_BUFFER
    h.rpcOp = C.RpcRequestHeaderProto.RPC_FINAL_PACKET
    h.callId = -3
    h.clientId = b"0123456789abcdef"
    h.retryCount = 0
    return PREAMBLE + hadoop_ipc.Conn._frame(h.SerializeToString(), ctx.SerializeToString())


def fileinfo_ok(C, addr, user, path="/"):
    """One getFileInfo on a new connection; raises when it is not answered."""
    c = hadoop_ipc.Conn(C, addr, user, timeout=5)
    try:
        Ops(C).fileinfo(c, path)
    finally:
        c.close()


# ---- metastore (Thrift binary, unframed) bytes ----

def thrift_call(name, args=b"", seqid=1):
    """A strict binary CALL with the given encoded argument fields."""
    nb = name.encode()
    return struct.pack(">II", 0x80010001, len(nb)) + nb + struct.pack(">i", seqid) + args + b"\x00"


def thrift_string_field(fid, value):
    return struct.pack(">bhI", 11, fid, len(value)) + value


def hms_call_ok(addr, timeout=5):
    """get_all_databases on a new connection; returns the reply bytes."""
    s = connect(addr, timeout)
    try:
        s.sendall(thrift_call("get_all_databases"))
        data = s.recv(65536)
        expect(len(data) > 12 and data[:4] == b"\x80\x01\x00\x02", "no Thrift reply: %r" % data[:40])
        return data
    finally:
        s.close()


# ---- processes ----

def minihms(fed, name):
    """Starts a minihms; returns its host:port."""
    p = procs.start([os.path.join(fed.build, "tests", "minihms", "minihms"), "--port", "0", "--name", name],
                    fed.tmp, name, fed.procs)
    port = procs.wait_lines(p, name, {"r": r"^ready port=(\d+)$"})["r"].group(1)
    fed.logs.append(name)
    return "127.0.0.1:%s" % port


def hms_client(build, addr):
    """A generated Thrift metastore client (buffered, binary)."""
    gen = os.path.join(build, "hms-thrift", "gen-py")
    if gen not in sys.path:
        sys.path.insert(0, gen)
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport
    from hive_metastore import ThriftHiveMetastore
    host, port = addr.rsplit(":", 1)
    sock = TSocket.TSocket(host, int(port))
    sock.setTimeout(20000)
    t = TTransport.TBufferedTransport(sock)
    t.open()
    c = ThriftHiveMetastore.Client(TBinaryProtocol.TBinaryProtocol(t))
    c._t = t
    return c


def router(fed, body="", router_keys="", metastores=(), name="fedrouter", nofile=None, workers=2):
    """Starts fedrouter with every minidfs of fed as a nameservice, a metastore
    listener in front of `metastores` (host:port; the first is the primary),
    and `router_keys` in [router]. nofile: its RLIMIT_NOFILE.
    Returns {proc, hdfs, hms, admin, conf}."""
    conf = os.path.join(fed.tmp, name + ".conf")
    text = ["[router]", "id = %s" % name, "hdfs.listen = 127.0.0.1:0",
            "hms.listen = %s" % ("127.0.0.1:0" if metastores else "off"), "admin.listen = 127.0.0.1:0",
            "workers = %d" % workers, "cluster.refresh_ms = 1000", router_keys.strip(),
            "", "[statestore]", "driver = file", ""]
    for ns, info in fed.nss.items():
        text += ["[nameservice %s]" % ns, "namenodes = %s" % info["nn"], ""]
    for i, ms in enumerate(metastores):
        text += ["[metastore ms%d]" % i, "uris = thrift://%s" % ms]
        text += ["primary = true"] if i == 0 else ["prefix = ms%d_" % i]
        text.append("")
    text.append(body)
    with open(conf, "w") as f:
        f.write("\n".join(text) + "\n")

    def limit():
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    import subprocess
    with open(os.path.join(fed.tmp, name + ".err"), "wb") as err:
        p = subprocess.Popen([os.path.join(fed.build, "router", "fedrouter"), "-c", conf], stdout=subprocess.PIPE,
                             stderr=err, stdin=subprocess.DEVNULL, preexec_fn=limit)
    fed.procs.append(p)
    if name not in fed.logs:
        fed.logs.append(name)
    pats = {"ready": r"^ready hdfs=(\S+:\d+) admin=(\S+:\d+)"}
    if metastores:
        pats["hms"] = r"^serving hms=(\S+:\d+)$"
    try:
        m = procs.wait_lines(p, name, pats)
    except RuntimeError as e:
        raise RuntimeError("%s: %s" % (e, log_text(fed, name).strip()[-400:]))
    return {"proc": p, "hdfs": m["ready"].group(1), "admin": m["ready"].group(2),
            "hms": m["hms"].group(1) if metastores else None, "conf": conf}


def stop_router(fed, rt):
    procs.stop(rt["proc"])
    if rt["proc"].stdout:
        rt["proc"].stdout.close()
    fed.procs.remove(rt["proc"])


def main(run, argv, prefix):
    """Runs run(fed, tally, build) with the usual ok/not ok output."""
    import signal

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if len(argv) != 2:
        print("usage: %s BUILD_DIR" % os.path.basename(argv[0]), file=sys.stderr)
        return 2
    build = os.path.abspath(argv[1])
    t = procs.Tally()
    fed = Fed(build, prefix=prefix)
    try:
        run(fed, t, build)
    except Exception as e:
        t.not_ok("the probe stopped early", "%s: %s" % (type(e).__name__, e))
    finally:
        fed.close(show_logs=t.failed > 0)
    return t.finish()
