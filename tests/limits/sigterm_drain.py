#!/usr/bin/python3
"""sigterm_drain: on SIGTERM the router stops taking connections at once,
closes idle clients, lets the calls in flight finish and exits 0.

    /usr/bin/python3 tests/limits/sigterm_drain.py BUILD_DIR

A NameNode that answers after 6 s (a Python fake) serves /s, and a minihms
that answers get_all_databases after 6 s is the primary metastore. 50 HDFS
calls and 3 metastore calls are put in flight, and idle HDFS and metastore
connections are held open. Then SIGTERM, and:
  - a new connection to either port is refused, or closed within 100 ms
    (a load balancer moves on instead of waiting for the process to exit);
  - the idle connections are closed within half a second;
  - every call in flight gets its answer;
  - the router exits with status 0 once they are answered.
"""
import errno
import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops_fakes"))
import opslib  # noqa: E402  (puts the e2e helpers on the path)
import hadoop_ipc  # noqa: E402
import procs  # noqa: E402
from fed import Fed, Ops  # noqa: E402

expect = procs.expect
N_HDFS, N_HMS, DELAY = 50, 3, 6.0


def hdfs_hello(C, user="drain"):
    """The preamble, the connection context and one getFileInfo, as bytes."""
    conn = hadoop_ipc.Conn.__new__(hadoop_ipc.Conn)
    conn.C, conn.client_id = C, b"0123456789abcdef"
    ctx = C.IpcConnectionContextProto()
    ctx.userInfo.effectiveUser = user
    ctx.protocol = hadoop_ipc.PROTOCOL
    rh = C.RequestHeaderProto(methodName="getFileInfo", declaringClassProtocolName=hadoop_ipc.PROTOCOL,
                              clientProtocolVersion=1)
    return (b"hrpc\x09\x00\x00" + conn._frame(conn._header(-3), ctx.SerializeToString())
            + conn._frame(conn._header(0), rh.SerializeToString(),
                          C.GetFileInfoRequestProto(src="/s/new").SerializeToString()))


def hms_hello():
    """A get_all_databases call, binary protocol, unframed."""
    name = b"get_all_databases"
    return struct.pack(">IiIi", 0x80010001, len(name), 0, 0)[:4] + struct.pack(">I", len(name)) + name \
        + struct.pack(">i", 1) + b"\x00"


def new_client(addr, hello):
    """What a client connecting now sees: 'refused', 'closed after N ms', or
    'open' when the router neither refuses nor closes it within 1 s."""
    host, port = addr.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(1.0)
    t0 = time.monotonic()
    try:
        s.connect((host, int(port)))
    except ConnectionRefusedError:
        return "refused", 0.0
    except OSError as e:
        return "connect error %s" % e, 0.0
    try:
        s.sendall(hello)
        while True:
            if not s.recv(65536):
                break
    except socket.timeout:
        return "open", time.monotonic() - t0
    except OSError as e:
        if e.errno not in (errno.ECONNRESET, errno.EPIPE):
            return "error %s" % e, time.monotonic() - t0
    finally:
        s.close()
    return "closed", time.monotonic() - t0


def closed_within(s, secs):
    """True when s reads EOF or is reset within secs."""
    s.settimeout(secs)
    try:
        while True:
            if not s.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def main(argv):
    build = os.path.abspath(argv[1])
    fed = Fed(build, prefix="fedrouter-limits.")
    fed.build = build
    failed = True
    nn = None
    try:
        nn = opslib.SlowNameNode(fed.C, delay=DELAY)
        ms = opslib.minihms(fed, "main", "--delay-ms", str(int(DELAY * 1000)), "--delay-methods",
                            "get_all_databases")
        rt = opslib.start_router(fed, """[router]
id = drain
hdfs.listen = 127.0.0.1:0
hms.listen = 127.0.0.1:0
admin.listen = 127.0.0.1:0
workers = 2
shutdown.grace_ms = 20000
upstream.call_timeout_ms = 20000
cluster.refresh_ms = 3600000

[statestore]
driver = file

[nameservice slow]
namenodes = %s

[mount /s]
destinations = slow:/s

[metastore main]
uris = thrift://%s
primary = true
""" % (nn.addr, ms["addr"]), hms=True)
        ops = Ops(fed.C)
        # Idle clients: HDFS after the handshake, metastore connected only.
        idle_hdfs = [fed.conn(rt["hdfs"]) for _ in range(5)]
        for c in idle_hdfs:
            ops.fileinfo(c, "/")  # one call answered: the connection is past its handshake
        host, port = rt["hms"].rsplit(":", 1)
        idle_hms = [socket.create_connection((host, int(port)), timeout=5) for _ in range(3)]
        # The calls in flight.
        results = {"hdfs_ok": 0, "hdfs_err": [], "hms_ok": 0, "hms_err": []}
        lock = threading.Lock()

        def hdfs_call(i):
            try:
                c = fed.conn(rt["hdfs"], timeout=30)
                ops.fileinfo(c, "/s/f%d" % i)
                with lock:
                    results["hdfs_ok"] += 1
            except Exception as e:  # any failure is counted and shown
                with lock:
                    results["hdfs_err"].append("%s: %s" % (type(e).__name__, e))

        def hms_call():
            try:
                c = opslib.hms_client(build, rt["hms"], 30000)
                c.get_all_databases()
                with lock:
                    results["hms_ok"] += 1
            except Exception as e:
                with lock:
                    results["hms_err"].append("%s: %s" % (type(e).__name__, e))

        ths = [threading.Thread(target=hdfs_call, args=(i,)) for i in range(N_HDFS)]
        ths += [threading.Thread(target=hms_call) for _ in range(N_HMS)]
        for t in ths:
            t.start()
        got = opslib.wait_for(lambda: (opslib.metric(rt, "fedrouter_in_flight_calls") or 0) >= N_HDFS + N_HMS,
                              DELAY - 1.5)
        expect(got, "only %s calls in flight" % opslib.metric(rt, "fedrouter_in_flight_calls"))
        t_sig = time.monotonic()
        rt["proc"].send_signal(signal.SIGTERM)
        time.sleep(0.15)
        hdfs_new = new_client(rt["hdfs"], hdfs_hello(fed.C))
        hms_new = new_client(rt["hms"], hms_hello())
        print("# new clients 0.15 s after SIGTERM: hdfs %s (%.0f ms), metastore %s (%.0f ms)" %
              (hdfs_new[0], hdfs_new[1] * 1000, hms_new[0], hms_new[1] * 1000))
        idle_closed = [closed_within(c.sock, max(0.05, 0.5 - (time.monotonic() - t_sig))) for c in idle_hdfs]
        idle_closed += [closed_within(s, max(0.05, 0.5 - (time.monotonic() - t_sig))) for s in idle_hms]
        print("# idle connections closed within 0.5 s: %d of %d" % (sum(idle_closed), len(idle_closed)))
        for t in ths:
            t.join(30)
        try:
            rc = rt["proc"].wait(15)
        except Exception:
            rc = None
        t_exit = time.monotonic() - t_sig
        print("# in flight: hdfs %d/%d answered, metastore %d/%d; exit %s after %.2f s" %
              (results["hdfs_ok"], N_HDFS, results["hms_ok"], N_HMS, rc, t_exit))
        errs = results["hdfs_err"][:3] + results["hms_err"][:3]
        bad = []
        for what, (how, dt) in (("HDFS", hdfs_new), ("metastore", hms_new)):
            if not (how == "refused" or (how == "closed" and dt <= 0.1)):
                bad.append("a new %s client was %s after %.0f ms" % (what, how, dt * 1000))
        if not all(idle_closed):
            bad.append("%d idle connections still open 0.5 s after SIGTERM" % idle_closed.count(False))
        if results["hdfs_ok"] != N_HDFS or results["hms_ok"] != N_HMS:
            bad.append("calls in flight lost: %s" % errs)
        if rc != 0:
            bad.append("exit status %s" % rc)
        for b in bad:
            print("not ok - %s" % b)
        failed = bool(bad)
        print("%s - sigterm drain" % ("not ok" if failed else "ok"))
        return 1 if failed else 0
    finally:
        if nn:
            nn.close()
        fed.close(show_logs=failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
