#!/usr/bin/python3
"""client_limits.py: the [router] limits on clients and upstream calls take effect.

    /usr/bin/python3 tests/e2e/client_limits.py BUILD_DIR

One minidfs (ns1) behind fedrouter, mount /d -> ns1:/d holding 1,000
directories with long names, so that one getListing answer is about 80 kB.

  max_inflight/max_output  a raw client pipelines 2,000 getListing calls and
       reads nothing. With client.max_inflight = 8 and client.max_output = 64k
       the router stops reading it, so its resident memory stays within a few
       MB of where it was (without the bounds it buffers every answer: some
       150 MB). Then the client reads, and every call is answered: requests
       the router had read but not started must start when room frees, even
       though the client sends nothing more.
  client states  fedrouter_hdfs_client_conn_state follows a served client,
       one stuck in the handshake and one refused with a FATAL answer, and
       is back where it was once they leave.
  max_attempts  a nameservice whose first NameNode is a closed port: with
       upstream.max_attempts = 1 a call is refused after that one try, with
       the default (3) the second NameNode answers it.

Prints `ok - NAME` or `not ok - NAME: why`, then `N passed, N failed`; exit
status 1 on a failure.
"""
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hadoop_ipc  # noqa: E402
import procs  # noqa: E402
from fed import Fed, Ops, RemoteError  # noqa: E402

expect = procs.expect
CALLS = 2000
ENTRIES = 1000


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def listing_frame(conn, call_id, path):
    C = conn.C
    rh = C.RequestHeaderProto(methodName="getListing", declaringClassProtocolName=hadoop_ipc.PROTOCOL,
                              clientProtocolVersion=1)
    req = C.GetListingRequestProto(src=path, startAfter=b"", needLocation=False)
    return conn._frame(conn._header(call_id), rh.SerializeToString(), req.SerializeToString())


def read_reply(conn):
    """(call id, success) of the next reply frame."""
    n = struct.unpack(">I", conn._recv(4))[0]
    body = conn._recv(n)
    hl, pos = hadoop_ipc.read_varint(body, 0)
    hdr = conn.C.RpcResponseHeaderProto()
    hdr.ParseFromString(body[pos:pos + hl])
    return hdr.callId, hdr.status == conn.C.RpcResponseHeaderProto.SUCCESS


def check_pipelining(fed, rt):
    pid = rt["proc"].pid
    ops = Ops(fed.C)
    warm = fed.conn(rt["hdfs"])
    expect(len(ops.listing_page(warm, "/d").partialListing) == ENTRIES, "the warm-up listing is short")
    base = rss_kb(pid)

    c = fed.conn(rt["hdfs"], timeout=30)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    frames = b"".join(listing_frame(c, i, "/d") for i in range(CALLS))
    failure = []

    def send():
        try:
            c.sock.sendall(frames)
        except OSError as e:
            failure.append(e)

    th = threading.Thread(target=send, daemon=True)
    th.start()
    peak = base
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        peak = max(peak, rss_kb(pid))
        time.sleep(0.05)
    grown_mb = (peak - base) / 1024.0
    print("# router RSS %d kB before, %d kB at most while the client did not read (+%.1f MB)" %
          (base, peak, grown_mb))
    expect(grown_mb < 24, "the router grew by %.1f MB for one client that does not read" % grown_mb)

    seen, bad = set(), 0
    for _ in range(CALLS):
        cid, ok = read_reply(c)  # a timeout here: calls left unstarted
        seen.add(cid)
        bad += not ok
    th.join(10)
    expect(not failure, "sending failed: %s" % (failure[0] if failure else ""))
    expect(seen == set(range(CALLS)), "%d distinct calls answered of %d" % (len(seen), CALLS))
    expect(bad == 0, "%d answers were errors" % bad)


def client_states(rt):
    """{state: count} of fedrouter_hdfs_client_conn_state from /metrics."""
    with urllib.request.urlopen("http://%s/metrics" % rt["admin"], timeout=10) as r:
        text = r.read().decode()
    out = {}
    for m in re.finditer(r'^fedrouter_hdfs_client_conn_state\{state="(\w+)"\} (\d+)$', text, re.M):
        out[m.group(1)] = int(m.group(2))
    return out


def wait_states(rt, want, what):
    deadline = time.monotonic() + 5
    while True:
        got = client_states(rt)
        if all(got.get(k) == v for k, v in want.items()):
            return got
        if time.monotonic() > deadline:
            raise AssertionError("%s: wanted %s, /metrics says %s" % (what, want, got))
        time.sleep(0.05)


def check_states(fed, rt):
    ops = Ops(fed.C)
    before = wait_states(rt, {"closed": 0}, "at rest")
    for k in ("handshake", "calls", "draining", "closing", "closed"):
        expect(k in before, "no %s sample in %s" % (k, before))
    calls, hs = before["calls"], before["handshake"]
    served = fed.conn(rt["hdfs"])
    expect(ops.fileinfo(served, "/d") is not None, "no answer for /d")
    host, port = rt["hdfs"].rsplit(":", 1)
    half = socket.create_connection((host, int(port)), timeout=10)
    half.sendall(b"hrp")  # a preamble cut short: still in the handshake
    wait_states(rt, {"calls": calls + 1, "handshake": hs + 1, "closed": 0}, "one served, one half-open")
    bad = socket.create_connection((host, int(port)), timeout=10)
    bad.sendall(b"hrpc\x01\x00\x00")  # an IPC version the router refuses: FATAL, then closed
    expect(bad.recv(4096) != b"", "no FATAL answer to a wrong version")
    half.close()
    served.close()
    fed.conns.remove(served)
    bad.close()
    wait_states(rt, {"calls": calls, "handshake": hs, "closing": 0, "closed": 0}, "after the clients left")


def check_attempts(fed):
    ns1 = fed.nss["ns1"]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    body = ("[nameservice ha]\nnamenodes = 127.0.0.1:%d, %s\n\n[mount /h]\ndestinations = ha:/d\n" %
            (closed.getsockname()[1], ns1["nn"]))
    ops = Ops(fed.C)
    try:
        one = fed.router(body, router_keys="upstream.max_attempts = 1", name="fedrouter-one", nameservices=[])
        try:
            ops.fileinfo(fed.conn(one["hdfs"]), "/h")
            raise AssertionError("answered with upstream.max_attempts = 1 and the first NameNode down")
        except RemoteError as e:
            expect("127.0.0.1:%d" % closed.getsockname()[1] in e.msg, "the error does not name the try: %s" % e.msg)
            expect(ns1["nn"] not in e.msg, "the second NameNode was tried too: %s" % e.msg)
        three = fed.router(body, name="fedrouter-three", nameservices=[])
        fs = ops.fileinfo(fed.conn(three["hdfs"]), "/h")
        expect(fs is not None, "no answer from the second NameNode with the default attempts")
    finally:
        closed.close()


def run(fed, t):
    fed.minidfs("ns1")
    d = fed.direct("ns1")
    ops = Ops(fed.C)
    ops.mkdirs(d, "/d")
    for i in range(ENTRIES):
        ops.mkdirs(d, "/d/a-directory-name-long-enough-to-make-big-listings-%04d" % i)
    rt = fed.router("[mount /d]\ndestinations = ns1:/d\n",
                    router_keys="client.max_inflight = 8\nclient.max_output = 64k")
    t.check("max_inflight/max_output: a client that does not read holds little memory, then gets every answer",
            lambda: check_pipelining(fed, rt))
    t.check("client states: /metrics counts HDFS clients by protocol state, and none stays closed",
            lambda: check_states(fed, rt))
    t.check("max_attempts: one try, or failover to the next NameNode", lambda: check_attempts(fed))


def main(argv):
    if len(argv) != 2:
        print("usage: client_limits.py BUILD_DIR", file=sys.stderr)
        return 2
    t = procs.Tally()
    fed = Fed(argv[1], prefix="fedrouter-client-limits.")
    try:
        run(fed, t)
    except Exception as e:
        t.not_ok("the test stopped early", "%s: %s" % (type(e).__name__, e))
    finally:
        fed.close(show_logs=t.failed > 0)
    return t.finish()


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.exit(main(sys.argv))
