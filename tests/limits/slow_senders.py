#!/usr/bin/python3
"""slow_senders.py: slow and silent clients of both protocols are closed by
client.handshake_timeout_ms and client.idle_timeout_ms; real clients are not.

    /usr/bin/python3 tests/limits/slow_senders.py BUILD_DIR

minidfs ns1 and one minihms behind a fedrouter with a handshake timeout of
1 s and an idle timeout of 2 s. Connections, opened together:

  hdfs silent        connects and sends nothing: handshake timeout
  hdfs slow preamble sends the preamble one byte every 200 ms: handshake timeout
  hdfs trickle       handshake done, then a frame one byte every 200 ms: idle
                     timeout (bytes that never make a message are no progress)
  hdfs idle          handshake done, then nothing: idle timeout
  hms silent         connects and sends nothing: handshake timeout (the first
                     whole call is the metastore's handshake)
  hms trickle        one call answered, then the next one a byte every 200 ms:
                     idle timeout
  hdfs / hms busy    a call every 300 ms for 5 s: never closed

Each must be closed by the router within its timeout plus 1.5 s, and
/metrics (fedrouter_client_timeouts_total) and the log must say which timer
closed them. Prints `ok - NAME` / `not ok - NAME: why`, then a count.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import climits  # noqa: E402
from climits import expect  # noqa: E402

HANDSHAKE_S, IDLE_S = 1.0, 2.0
SLACK = 1.5


def run(fed, t, build):
    fed.minidfs("ns1")
    ms = climits.minihms(fed, "primary")
    rt = climits.router(fed, metastores=[ms], router_keys="default.nameservice = ns1\nclient.handshake_timeout_ms = %d\n"
                        "client.idle_timeout_ms = %d" % (HANDSHAKE_S * 1000, IDLE_S * 1000))
    handshake = climits.hdfs_handshake(fed.C, fed.user)
    get_dbs = climits.thrift_call("get_all_databases")
    results = {}

    def watch(name, limit, made, trickle=b""):
        """Sends `trickle` a byte every 200 ms and notes when the router
        closes the socket, in seconds since it was made (None: not within
        limit + SLACK)."""
        t0, sock = made
        closed_at = None
        for i in range(int((limit + SLACK) / 0.2) + 1):
            if trickle:
                try:
                    sock.sendall(trickle[i % len(trickle):i % len(trickle) + 1])
                except OSError:
                    closed_at = time.monotonic() - t0
                    break
            if climits.closed_by_peer(sock, 0.2):
                closed_at = time.monotonic() - t0
                break
        results[name] = closed_at
        sock.close()

    def hdfs(pre=b""):
        s = climits.connect(rt["hdfs"])
        t0 = time.monotonic()
        if pre:
            s.sendall(pre)
        return t0, s

    def hms_silent():
        s = climits.connect(rt["hms"])
        return time.monotonic(), s

    def hms_after_call():
        s = climits.connect(rt["hms"])
        s.sendall(get_dbs)
        expect(len(s.recv(65536)) > 12, "no answer to get_all_databases")
        return time.monotonic(), s

    def busy(name, call):
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < 5.0:
                call()
                time.sleep(0.3)
            results[name] = "served"
        except Exception as e:
            results[name] = "failed after %.1f s: %s" % (time.monotonic() - t0, e)

    hconn = climits.hadoop_ipc.Conn(fed.C, rt["hdfs"], fed.user, timeout=5)
    ops = climits.Ops(fed.C)
    mconn = climits.connect(rt["hms"])

    def hms_call():
        mconn.sendall(get_dbs)
        expect(len(mconn.recv(65536)) > 12, "no answer")

    frame = b"\x00\x00\x00\x40" + b"\x01" * 64
    cases = [
        ("hdfs silent", HANDSHAKE_S, hdfs(), b""),
        ("hdfs slow preamble", HANDSHAKE_S, hdfs(), handshake),
        ("hdfs trickle", IDLE_S, hdfs(handshake), frame),
        ("hdfs idle", IDLE_S, hdfs(handshake), b""),
        ("hms silent", HANDSHAKE_S, hms_silent(), b""),
        ("hms trickle", IDLE_S, hms_after_call(), get_dbs),
    ]
    ths = [threading.Thread(target=watch, args=c, daemon=True) for c in cases]
    ths.append(threading.Thread(target=busy, args=("hdfs busy", lambda: ops.fileinfo(hconn, "/")), daemon=True))
    ths.append(threading.Thread(target=busy, args=("hms busy", hms_call), daemon=True))
    for th in ths:
        th.start()
    for th in ths:
        th.join(15)

    for name, limit, _, _ in cases:
        def check(name=name, limit=limit):
            got = results.get(name)
            expect(got is not None, "still open after %.1f s" % (limit + SLACK))
            expect(got >= limit - 0.1, "closed after %.2f s, before its %.1f s timeout" % (got, limit))
            print("# %s: closed after %.2f s" % (name, got))
        t.check("%s: closed after %.0f ms" % (name, limit * 1000), check)
    for name in ("hdfs busy", "hms busy"):
        t.check("%s: a client calling every 300 ms is never closed" % name,
                lambda name=name: expect(results.get(name) == "served", results.get(name)))
    hconn.close()
    mconn.close()

    def counted():
        m = {(p, k): climits.metric(rt["admin"], "fedrouter_client_timeouts_total", {"proto": p, "timer": k})
             for p in ("hdfs", "hms") for k in ("idle", "handshake")}
        print("# fedrouter_client_timeouts_total: %s" % m)
        expect(m[("hdfs", "handshake")] >= 2 and m[("hdfs", "idle")] >= 2, "HDFS closes not counted: %s" % m)
        expect(m[("hms", "handshake")] >= 1 and m[("hms", "idle")] >= 1, "metastore closes not counted: %s" % m)
        log = climits.log_text(fed)
        for what in ("handshake timeout", "idle timeout"):
            expect(what in log, "the log never says %r" % what)
    t.check("the closes are counted in /metrics by protocol and timer, and logged", counted)


if __name__ == "__main__":
    sys.exit(climits.main(run, sys.argv, "fedrouter-limits-slow."))
