#!/usr/bin/python3
"""max_conns.py: client.max_conns bounds the client connections of both
protocols together; one more is closed at once, counted and logged, and the
others keep being served.

    /usr/bin/python3 tests/limits/max_conns.py BUILD_DIR

minidfs ns1 and one minihms behind a fedrouter with client.max_conns = 40
(two workers: the count is the router's, not a worker's). 25 HDFS and 15
metastore connections are opened and used; then one more of each must be
closed by the router within a second, while the 40 still answer. The
refusals show in fedrouter_client_refused_total{reason="max_conns"} and in
the log. Once ten of the 40 leave, new clients of both kinds are served.
Prints `ok - NAME` / `not ok - NAME: why`, then a count.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import climits  # noqa: E402
from climits import expect  # noqa: E402

LIMIT, NHDFS = 40, 25


def run(fed, t, build):
    fed.minidfs("ns1")
    ms = climits.minihms(fed, "primary")
    rt = climits.router(fed, metastores=[ms],
                        router_keys="default.nameservice = ns1\nclient.max_conns = %d" % LIMIT)
    ops = climits.Ops(fed.C)
    get_dbs = climits.thrift_call("get_all_databases")
    hdfs, hms = [], []

    def hms_call(s):
        s.sendall(get_dbs)
        s.settimeout(5)
        data = s.recv(65536)
        expect(len(data) > 12, "no metastore answer")

    for _ in range(NHDFS):
        c = climits.hadoop_ipc.Conn(fed.C, rt["hdfs"], fed.user, timeout=5)
        ops.fileinfo(c, "/")
        hdfs.append(c)
    for _ in range(LIMIT - NHDFS):
        s = climits.connect(rt["hms"])
        hms_call(s)
        hms.append(s)

    def refused():
        t0 = time.monotonic()
        extra = climits.connect(rt["hdfs"])
        extra.sendall(climits.hdfs_handshake(fed.C, fed.user))
        expect(climits.closed_by_peer(extra, 1.0), "HDFS connection %d was not closed within 1 s" % (LIMIT + 1))
        extra_ms = climits.connect(rt["hms"])
        extra_ms.sendall(get_dbs)
        expect(climits.closed_by_peer(extra_ms, 1.0), "metastore connection %d was not closed within 1 s" %
               (LIMIT + 2))
        print("# both refused in %.0f ms" % ((time.monotonic() - t0) * 1000))
        extra.close()
        extra_ms.close()
    t.check("over client.max_conns a client of either protocol is closed at once", refused)

    def still_served():
        for c in hdfs:
            ops.fileinfo(c, "/")
        for s in hms:
            hms_call(s)
    t.check("the connections under the limit are still served", still_served)

    def counted():
        h = climits.metric(rt["admin"], "fedrouter_client_refused_total", {"proto": "hdfs", "reason": "max_conns"})
        m = climits.metric(rt["admin"], "fedrouter_client_refused_total", {"proto": "hms", "reason": "max_conns"})
        expect(h >= 1 and m >= 1, "refusals counted: hdfs %s, hms %s" % (h, m))
        expect("client.max_conns" in climits.log_text(fed), "no log line names client.max_conns")
    t.check("refusals are counted in /metrics and logged", counted)

    def recovers():
        for c in hdfs[:5]:
            c.close()
        for s in hms[:5]:
            s.close()
        time.sleep(0.3)
        climits.fileinfo_ok(fed.C, rt["hdfs"], fed.user)
        climits.hms_call_ok(rt["hms"])
    t.check("below the limit again, new clients of both protocols are served", recovers)
    for c in hdfs[5:]:
        c.close()
    for s in hms[5:]:
        s.close()


if __name__ == "__main__":
    sys.exit(climits.main(run, sys.argv, "fedrouter-limits-maxconns."))
