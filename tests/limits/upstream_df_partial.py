#!/usr/bin/python3
"""upstream_df_partial: `hdfs df` (getFsStats, sent to every subcluster)
answers without a subcluster that is down, as listings do.

    /usr/bin/python3 tests/limits/upstream_df_partial.py BUILD_DIR

ns1 is a minidfs; ns2's only NameNode is a port that refuses connections.

  partial  with hdfs.down = partial (the default) getFsStats answers with
       ns1's figures, counts the answer in
       fedrouter_hdfs_partial_answers_total, and the other read-only
       fan-outs (getDatanodeReport) answer too.
  fail  with hdfs.down = fail the call fails, naming ns2.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "upstream_fakes"))
import uplib
import fake_nn
import procs
from fed import Fed, RemoteError

expect = procs.expect


def fs_stats(fed, conn):
    C = fed.C
    return conn.call("getFsStats", C.GetFsStatusRequestProto(), C.GetFsStatsResponseProto)


def check_partial(fed, rt):
    direct = fs_stats(fed, fed.direct("ns1"))
    before = uplib.sample(rt, "fedrouter_hdfs_partial_answers_total") or 0
    c = fed.conn(rt["hdfs"])
    try:
        got = fs_stats(fed, c)
    except RemoteError as e:
        raise AssertionError("getFsStats failed with one subcluster down: %s" % e.msg)
    expect(got.capacity == direct.capacity, "capacity %d, ns1 alone has %d" % (got.capacity, direct.capacity))
    C = fed.C
    rep = c.call("getDatanodeReport", C.GetDatanodeReportRequestProto(type=C.ALL), C.GetDatanodeReportResponseProto)
    expect(len(rep.di) >= 1, "no datanode in a partial getDatanodeReport")
    after = uplib.sample(rt, "fedrouter_hdfs_partial_answers_total")
    expect(after is not None and after >= before + 2, "partial answers counted: %s -> %s" % (before, after))
    print("# getFsStats: capacity %d (ns1's); partial answers %d -> %d" % (got.capacity, before, after))


def check_fail(fed, rt):
    try:
        fs_stats(fed, fed.conn(rt["hdfs"]))
        raise AssertionError("getFsStats answered with hdfs.down = fail and ns2 down")
    except RemoteError as e:
        expect("ns2" in e.msg, "the error does not name ns2: %s" % e.msg)


def main(argv):
    if len(argv) != 2:
        print("usage: upstream_df_partial.py BUILD_DIR", file=sys.stderr)
        return 2
    t = procs.Tally()
    fed = Fed(argv[1], prefix="fedrouter-limits-df.")
    sock, addr = fake_nn.closed_port()
    try:
        fed.minidfs("ns1")
        fed.nss["ns2"] = {"nn": addr}
        body = "[mount /a]\ndestinations = ns1:/a\n\n[mount /b]\ndestinations = ns2:/b\n"
        rt = fed.router(body)
        t.check("partial: getFsStats and getDatanodeReport answer without the subcluster that is down",
                lambda: check_partial(fed, rt))
        rf = fed.router(body, router_keys="hdfs.down = fail", name="fedrouter-fail")
        t.check("fail: with hdfs.down = fail getFsStats fails naming the subcluster", lambda: check_fail(fed, rf))
    except Exception as e:  # noqa: BLE001
        t.not_ok("set-up", repr(e))
    finally:
        sock.close()
        fed.close(show_logs=t.failed > 0)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
