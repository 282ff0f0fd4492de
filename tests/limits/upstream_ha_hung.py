#!/usr/bin/python3
"""upstream_ha_hung: an HA nameservice whose first NameNode hangs fails over.

    /usr/bin/python3 tests/limits/upstream_ha_hung.py BUILD_DIR

Nameservice `ha` = a fake NameNode that accepts and never answers, then a
minidfs. upstream.call_timeout_ms = 1500.

  failover  getFileInfo (@Idempotent) is answered by the second NameNode
       after one call timeout, and the calls after it go straight there
       (each well under the timeout), instead of every call failing after
       the full timeout.
  at-most-once  create with the client's id (@AtMostOnce: the NameNode
       retry cache recognises a retry) fails over too, and makes the file
       once.
  not retried  create without a client id is not protected by any retry
       cache: after the timeout it must not be sent to the second NameNode
       (the first may have applied it). The client gets the timeout, and the
       file does not exist.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "upstream_fakes"))
import uplib  # noqa: F401
import fake_nn
import procs
from fed import Fed, Ops, RemoteError

expect = procs.expect
TIMEOUT = 1.5


def check_failover(fed, rt, hung):
    ops = Ops(fed.C)
    c = fed.conn(rt["hdfs"], timeout=30)
    t0 = time.monotonic()
    try:
        fs = ops.fileinfo(c, "/h")
    except RemoteError as e:
        raise AssertionError("the first call failed after %.2f s instead of failing over: %s" %
                             (time.monotonic() - t0, e.msg))
    first = time.monotonic() - t0
    expect(fs is not None, "no status for /h from the second NameNode")
    expect(first < 2 * TIMEOUT + 0.5, "the first call took %.2f s" % first)
    times = []
    for _ in range(5):
        t0 = time.monotonic()
        expect(ops.fileinfo(c, "/h") is not None, "no status for /h")
        times.append(time.monotonic() - t0)
    print("# first call %.2f s (one timeout on %s), then %s s" %
          (first, hung.addr, ", ".join("%.3f" % x for x in times)))
    expect(max(times) < TIMEOUT / 2, "later calls still wait for the hung NameNode: %s" % times)


def check_amo(fed, rt_fresh, hung):
    ops = Ops(fed.C)
    c = fed.conn(rt_fresh["hdfs"], timeout=30)
    frames0 = hung.frames
    t0 = time.monotonic()
    try:
        ops.create(c, "/h/amo")
    except RemoteError as e:
        raise AssertionError("create with a client id failed after %.2f s: %s" % (time.monotonic() - t0, e.msg))
    dt = time.monotonic() - t0
    print("# create with a client id answered after %.2f s" % dt)
    expect(hung.frames > frames0, "the create did not go to the hung NameNode first")
    expect(ops.exists(fed.direct("ns1"), "/h/amo"), "the create did not reach the second NameNode")


def check_not_retried(fed, rt_fresh, hung):
    ops = Ops(fed.C)
    c = fed.conn(rt_fresh["hdfs"], timeout=30)
    c.client_id = b""  # no client id: no retry cache can recognise a retry
    frames0 = hung.frames
    t0 = time.monotonic()
    try:
        ops.create(c, "/h/once")
        raise AssertionError("create without a client id was answered (sent to the second NameNode)")
    except RemoteError as e:
        dt = time.monotonic() - t0
        print("# create without a client id: %s after %.2f s" % (e.msg[:160], dt))
        expect("timeout" in e.msg, "not the timeout: %s" % e.msg)
    expect(hung.frames > frames0, "the create never reached the hung NameNode")
    expect(not ops.exists(fed.direct("ns1"), "/h/once"), "the create was sent to the second NameNode as well")


def main(argv):
    if len(argv) != 2:
        print("usage: upstream_ha_hung.py BUILD_DIR", file=sys.stderr)
        return 2
    t = procs.Tally()
    fed = Fed(argv[1], prefix="fedrouter-limits-ha-hung.")
    hung = fake_nn.FakeNameNode("hang")
    try:
        ns1 = fed.minidfs("ns1")
        Ops(fed.C).mkdirs(fed.direct("ns1"), "/h")
        body = "[nameservice ha]\nnamenodes = %s, %s\n\n[mount /h]\ndestinations = ha:/h\n" % (hung.addr, ns1["nn"])
        keys = "upstream.call_timeout_ms = %d" % int(TIMEOUT * 1000)
        rt = fed.router(body, router_keys=keys, nameservices=[], refresh_ms=60000)
        t.check("failover: a hung first NameNode costs one timeout, then the second answers",
                lambda: check_failover(fed, rt, hung))
        rt2 = fed.router(body, router_keys=keys, nameservices=[], name="fedrouter-amo", refresh_ms=60000)
        t.check("at-most-once: create with a client id fails over after a timeout and lands once",
                lambda: check_amo(fed, rt2, hung))
        rt3 = fed.router(body, router_keys=keys, nameservices=[], name="fedrouter-noid", refresh_ms=60000)
        t.check("not retried: a create the retry cache cannot recognise is not sent elsewhere after a timeout",
                lambda: check_not_retried(fed, rt3, hung))
    except Exception as e:  # noqa: BLE001
        t.not_ok("set-up", repr(e))
    finally:
        fed.close(show_logs=t.failed > 0)
        hung.close()
    return t.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
