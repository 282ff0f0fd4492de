"""opslib: what the operations probes of tests/limits share (shutdown,
reload): the e2e helpers on the path, a NameNode that answers slowly, the
metastore client generated at build time, /healthz and the router's log.

    import opslib                      # first: puts tests/e2e on sys.path
    nn = opslib.SlowNameNode(C, delay=2.0)
    nn.addr, nn.calls, nn.answered
    hms = opslib.hms_client(build, "127.0.0.1:PORT")
"""
import os
import re
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "e2e"))

import hadoop_ipc  # noqa: E402


class SlowNameNode:
    """A NameNode that answers every call after `delay` seconds with an
    empty response message (getFileInfo: the path is absent). One thread per
    connection; each call is answered by a timer, so calls pipelined on one
    connection wait concurrently, as on a real NameNode."""

    def __init__(self, C, delay=2.0, host="127.0.0.1"):
        self.C = C
        self.delay = delay
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(1024)
        self.addr = "%s:%d" % (host, self.lsock.getsockname()[1])
        self.calls = 0
        self.answered = 0
        self._lock = threading.Lock()
        self._stop = False
        self._socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            self._socks.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, s):
        buf = bytearray()
        wlock = threading.Lock()
        while not self._stop:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                s.close()
                return
            buf += data
            while True:
                if buf[:4] == b"hrpc":
                    if len(buf) < 7:
                        break
                    del buf[:7]
                    continue
                if len(buf) < 4:
                    break
                n = struct.unpack(">I", bytes(buf[:4]))[0]
                if len(buf) < 4 + n:
                    break
                body = bytes(buf[4:4 + n])
                del buf[:4 + n]
                self._call(s, wlock, body)

    def _call(self, s, wlock, body):
        C = self.C
        hl, pos = hadoop_ipc.read_varint(body, 0)
        rh = C.RpcRequestHeaderProto()
        rh.ParseFromString(body[pos:pos + hl])
        if rh.callId < 0:  # the connection context, pings
            return
        with self._lock:
            self.calls += 1
        out = C.RpcResponseHeaderProto()
        out.callId = rh.callId
        out.status = C.RpcResponseHeaderProto.SUCCESS
        out.serverIpcVersionNum = 9
        out.clientId = rh.clientId
        h = out.SerializeToString()
        payload = b""
        frame_body = hadoop_ipc.varint(len(h)) + h + hadoop_ipc.varint(len(payload)) + payload
        frame = struct.pack(">I", len(frame_body)) + frame_body

        def answer():
            try:
                with wlock:
                    s.sendall(frame)
                with self._lock:
                    self.answered += 1
            except OSError:
                pass
        t = threading.Timer(self.delay, answer)
        t.daemon = True
        t.start()

    def close(self):
        self._stop = True
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        for c in self._socks:
            try:
                c.close()
            except OSError:
                pass


def hms_client(build, addr, timeout_ms=20000):
    """A ThriftHiveMetastore client (binary, buffered) on addr; its
    transport is c._t."""
    gen = os.path.join(build, "hms-thrift", "gen-py")
    if gen not in sys.path:
        sys.path.insert(0, gen)
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport
    from hive_metastore import ThriftHiveMetastore
    host, port = addr.rsplit(":", 1)
    sock = TSocket.TSocket(host, int(port))
    sock.setTimeout(timeout_ms)
    t = TTransport.TBufferedTransport(sock)
    t.open()
    c = ThriftHiveMetastore.Client(TBinaryProtocol.TBinaryProtocol(t))
    c._t = t
    return c


def healthz(rt):
    """The /healthz line (any status), or "" when it does not answer."""
    try:
        with urllib.request.urlopen("http://%s/healthz" % rt["admin"], timeout=5) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        return e.read().decode()
    except OSError:
        return ""


def snapshot_no(rt):
    m = re.search(r"snapshot=(\d+)", healthz(rt))
    return int(m.group(1)) if m else -1


def log_text(tmp, name):
    with open(os.path.join(tmp, name + ".err"), errors="replace") as f:
        return f.read()


def wait_for(cond, timeout, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def start_router(fed, text, name="fedrouter", hms=False):
    """Starts fedrouter on the config `text` (listeners on port 0) written to
    fed.tmp/NAME.conf; returns {proc, hdfs, admin, hms (or None), conf}."""
    import procs
    conf = os.path.join(fed.tmp, name + ".conf")
    with open(conf, "w") as f:
        f.write(text)
    p = procs.start([os.path.join(fed.build, "router", "fedrouter"), "-c", conf], fed.tmp, name, fed.procs)
    if name not in fed.logs:
        fed.logs.append(name)
    pats = {"ready": r"^ready hdfs=(\S+:\d+) admin=(\S+:\d+)"}
    if hms:
        pats["hms"] = r"^serving hms=(\S+:\d+)$"
    m = procs.wait_lines(p, name, pats)
    return {"proc": p, "hdfs": m["ready"].group(1), "admin": m["ready"].group(2),
            "hms": m["hms"].group(1) if hms else None, "conf": conf}


def minihms(fed, name, *extra):
    """Starts a minihms; returns {proc, addr}."""
    import procs
    p = procs.start([os.path.join(fed.build, "tests", "minihms", "minihms"), "--port", "0", "--name", name]
                    + list(extra), fed.tmp, name, fed.procs)
    m = procs.wait_lines(p, name, {"r": r"^ready port=(\d+)$"})
    fed.logs.append(name)
    return {"proc": p, "addr": "127.0.0.1:%s" % m["r"].group(1)}


def metric(rt, name):
    """The first sample of metric `name` on /metrics (labels ignored), or
    None."""
    try:
        with urllib.request.urlopen("http://%s/metrics" % rt["admin"], timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    for ln in text.splitlines():
        m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), ln)
        if m:
            return float(m.group(2))
    return None
