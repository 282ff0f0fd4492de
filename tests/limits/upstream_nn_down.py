#!/usr/bin/python3
"""upstream_nn_down: a NameNode that is down costs one connect attempt per
backoff interval, not one connect and one log line per call.

    /usr/bin/python3 tests/limits/upstream_nn_down.py BUILD_DIR

The nameservice `gone` has one NameNode: a port that refuses connections.
Four clients call getFileInfo under its mount for one second (hundreds of
calls). Every call must fail fast, while the router makes only a handful of
connects (fedrouter_upstream_connects_total) and writes only a handful of
log lines naming the address. Then a minidfs starts on that port, and a call
must be answered within the longest backoff (5 s) plus a margin: the
backoff is reset by the first answer.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "upstream_fakes"))
import uplib  # noqa: F401  (puts the e2e helpers on the path)
import fake_nn
import procs
from fed import Fed, Ops, RemoteError

expect = procs.expect


def hammer(fed, rt, secs, nthreads=4):
    """Calls made, failures, slowest call (s)."""
    ops = Ops(fed.C)
    out = {"calls": 0, "fail": 0, "slow": 0.0}
    lock = threading.Lock()

    def run():
        c = fed.conn(rt["hdfs"])
        end = time.monotonic() + secs
        while time.monotonic() < end:
            t0 = time.monotonic()
            try:
                ops.fileinfo(c, "/g/x")
                ok = True
            except RemoteError:
                ok = False
            dt = time.monotonic() - t0
            with lock:
                out["calls"] += 1
                out["fail"] += not ok
                out["slow"] = max(out["slow"], dt)

    ths = [threading.Thread(target=run) for _ in range(nthreads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return out


def check_down(fed, rt, addr):
    before = uplib.sample(rt, "fedrouter_upstream_connects_total", {"proto": "hdfs"})
    log0 = uplib.log_text(fed, "fedrouter").count(addr)
    r = hammer(fed, rt, 1.0)
    after = uplib.sample(rt, "fedrouter_upstream_connects_total", {"proto": "hdfs"})
    lines = uplib.log_text(fed, "fedrouter").count(addr) - log0
    connects = after - before
    print("# %d calls in 1 s, %d failed, slowest %.0f ms; %d connects, %d log lines naming %s" %
          (r["calls"], r["fail"], r["slow"] * 1000, connects, lines, addr))
    expect(r["calls"] >= 100, "only %d calls in a second" % r["calls"])
    expect(r["fail"] == r["calls"], "%d calls to a closed port succeeded" % (r["calls"] - r["fail"]))
    expect(r["slow"] < 0.5, "a call took %.0f ms" % (r["slow"] * 1000))
    # Two workers, each trying at 0, 0.1, 0.3, 0.7 s at most.
    expect(connects <= 12, "%d connects to a closed port for %d calls" % (connects, r["calls"]))
    expect(lines <= 8, "%d log lines about the closed port for %d calls" % (lines, r["calls"]))
    fast = uplib.sample(rt, "fedrouter_upstream_backoff_failures_total", {"proto": "hdfs"})
    expect(fast is not None and fast > 0, "no fedrouter_upstream_backoff_failures_total (%s)" % fast)


def check_back(fed, rt, sock, addr):
    port = addr.rsplit(":", 1)[1]
    sock.close()
    fed.minidfs("gone", "--nn-port", port)
    ops = Ops(fed.C)
    ops.mkdirs(fed.direct("gone"), "/g")
    c = fed.conn(rt["hdfs"])
    t0 = time.monotonic()
    while True:
        try:
            if ops.fileinfo(c, "/g") is not None:
                break
        except RemoteError:
            pass
        if time.monotonic() - t0 > 8:
            raise AssertionError("the NameNode is back but calls still fail after 8 s")
        time.sleep(0.05)
    print("# answered %.2f s after the NameNode came back" % (time.monotonic() - t0))


def main(argv):
    if len(argv) != 2:
        print("usage: upstream_nn_down.py BUILD_DIR", file=sys.stderr)
        return 2
    t = procs.Tally()
    fed = Fed(argv[1], prefix="fedrouter-limits-nn-down.")
    sock, addr = fake_nn.closed_port()
    try:
        fed.nss["gone"] = {"nn": addr}
        rt = fed.router("[mount /g]\ndestinations = gone:/g\n", nameservices=["gone"],
                        router_keys="upstream.connect_timeout_ms = 1000")
        del fed.nss["gone"]
        t.check("NameNode down: calls fail fast with a handful of connects and log lines",
                lambda: check_down(fed, rt, addr))
        t.check("NameNode back: calls are answered again within the backoff",
                lambda: check_back(fed, rt, sock, addr))
    except Exception as e:  # noqa: BLE001
        t.not_ok("set-up", repr(e))
    finally:
        sock.close()
        fed.close(show_logs=t.failed > 0)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
