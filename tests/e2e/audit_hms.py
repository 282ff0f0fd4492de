#!/usr/bin/python3
"""audit_hms.py: the router's metastore audit log ([router] audit.hms).

    /usr/bin/python3 tests/e2e/audit_hms.py BUILD_DIR

Two minihms backends, `primary` (no prefix) and `sales` (prefix sales_),
behind fedrouter with audit.hms set; a Python thrift client generated from
our IDL makes the calls Spark and Trino make, then the log is read back:

  format     `DATE TIME,ms INFO HiveMetaStore.audit: ` then HMSHandler's
             fields ugi, ip, cmd (METHOD : db=DB tbl=TABLE) and metastore
  calls      set_ugi (the router answers it: metastore=null), get_all_databases (both metastores), get_database,
             get_table and get_table_req (db and tbl), create_table (tbl from
             the Table struct), get_partitions, get_tables (db only), a
             failing get_table; the user of set_ugi, or null without it
  one line   the lines equal the router's count of answered metastore calls
  logrotate  the file moved away and SIGHUP: a new file at the same path

Prints `ok - NAME` or `not ok - NAME: why`, then `N passed, N failed`.
"""
import os
import re
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402

expect = procs.expect
PROCS = []
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO HiveMetaStore\.audit: "
                  r"ugi=([^\t]*)\tip=([^\t]*)\tcmd=([^\t]*)\tmetastore=([^\t]*)$")


def parse(path):
    if not os.path.exists(path):
        return []
    out = []
    with open(path, errors="replace") as f:
        for ln in f.read().splitlines():
            m = LINE.match(ln)
            expect(m, "not a metastore audit line: %r" % ln)
            out.append({"ugi": m.group(1), "ip": m.group(2), "cmd": m.group(3), "metastore": m.group(4)})
    return out


def wait_for(path, pred, what, timeout=10):
    return procs.wait_parsed(parse, path, pred, what, timeout)


metric = procs.metric_sum


def main(argv):
    if len(argv) != 2:
        print("usage: audit_hms.py BUILD_DIR", file=sys.stderr)
        return 2
    build = os.path.abspath(argv[1])
    sys.path.insert(0, os.path.join(build, "hms-thrift", "gen-py"))
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport
    from hive_metastore import ThriftHiveMetastore
    from hive_metastore.ttypes import (Database, FieldSchema, GetTableRequest, NoSuchObjectException, Partition,
                                       SerDeInfo, StorageDescriptor, Table)

    def client(addr):
        host, port = addr.rsplit(":", 1)
        sock = TSocket.TSocket(host, int(port))
        sock.setTimeout(20000)
        t = TTransport.TBufferedTransport(sock)
        t.open()
        return ThriftHiveMetastore.Client(TBinaryProtocol.TBinaryProtocol(t))

    def table(db, name):
        sd = StorageDescriptor(cols=[FieldSchema("id", "int", "")], location="file:/warehouse/%s/%s" % (db, name),
                               inputFormat="org.apache.hadoop.mapred.TextInputFormat",
                               outputFormat="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                               serdeInfo=SerDeInfo("s", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", {}),
                               parameters={})
        return Table(tableName=name, dbName=db, owner="alice", createTime=0, lastAccessTime=0, retention=0, sd=sd,
                     partitionKeys=[FieldSchema("ds", "string", "")], parameters={}, tableType="MANAGED_TABLE")

    T = procs.Tally()
    tmp = tempfile.mkdtemp(prefix="fedrouter-audit-hms.")
    failed = True
    try:
        ms = {}
        for name in ("primary", "sales"):
            p = procs.start([os.path.join(build, "tests", "minihms", "minihms"), "--port", "0", "--name", name],
                            tmp, name, PROCS)
            ms[name] = "127.0.0.1:%s" % procs.wait_lines(p, name, {"r": r"^ready port=(\d+)$"})["r"].group(1)
        log = os.path.join(tmp, "hms-audit.log")
        conf = os.path.join(tmp, "fedrouter.conf")
        with open(conf, "w") as f:
            f.write("""[router]
id = audit-hms
hdfs.listen = 127.0.0.1:0
hms.listen = 127.0.0.1:0
admin.listen = 127.0.0.1:0
workers = 2
audit.hms = %s

[statestore]
driver = file

[metastore primary]
uris = thrift://%s
primary = true

[metastore sales]
uris = thrift://%s
prefix = sales_
""" % (log, ms["primary"], ms["sales"]))
        rp = procs.start([os.path.join(build, "router", "fedrouter"), "-c", conf], tmp, "router", PROCS)
        got = procs.wait_lines(rp, "fedrouter", {"hms": r"^serving hms=(\S+:\d+)$",
                                                 "ready": r"^ready hdfs=(\S+:\d+) admin=(\S+:\d+)$"})
        R, admin = got["hms"].group(1), got["ready"].group(2)
        P, S = client(ms["primary"]), client(ms["sales"])
        P.create_database(Database("web", "", "file:/warehouse/web", {}))
        S.create_database(Database("orders", "", "file:/warehouse/orders", {}))
        S.create_table(table("orders", "daily"))
        S.add_partitions([Partition(values=["2026-11-01"], dbName="orders", tableName="daily", createTime=0,
                                    lastAccessTime=0, sd=table("orders", "daily").sd, parameters={})])

        def calls():
            c = client(R)
            expect(c.set_ugi("alice", ["staff"]) == ["staff"], "set_ugi")
            expect("sales_orders" in c.get_all_databases(), "get_all_databases")
            expect(c.get_database("sales_orders").name == "sales_orders", "get_database")
            expect(c.get_table("sales_orders", "daily").tableName == "daily", "get_table")
            expect(c.get_table_req(GetTableRequest(dbName="sales_orders", tblName="daily")).table.tableName == "daily",
                   "get_table_req")
            c.create_table(table("web", "t1"))
            expect(len(c.get_partitions("sales_orders", "daily", -1)) == 1, "get_partitions")
            expect(c.get_tables("web", "*") == ["t1"], "get_tables")
            try:
                c.get_table("web", "nope")
                raise AssertionError("get_table of a missing table succeeded")
            except NoSuchObjectException:
                pass
            anon = client(R)  # no set_ugi
            expect(anon.get_database("web").name == "web", "get_database without set_ugi")

        T.check("calls through the router", calls)
        lines = []

        def lines_in():
            nonlocal lines
            want = metric(admin, "fedrouter_calls_total", proto="hms")
            lines = wait_for(log, lambda ls: len(ls) >= want and want > 0, "%d lines" % want)
            expect(len(lines) == want, "%d lines for %d answered calls" % (len(lines), want))
            expect(metric(admin, "fedrouter_audit_lines_total", log="hms") == want, "lines_total")
            expect(metric(admin, "fedrouter_audit_lines_total", log="hdfs") == 0, "HDFS lines with audit.hdfs off")

        T.check("one line per answered call (format checked on each)", lines_in)

        def one(cmd, metastore, ugi="alice"):
            got = [ln for ln in lines if ln["cmd"] == cmd]
            expect(got, "no line with cmd=%r; lines: %s" % (cmd, lines))
            ln = got[0]
            expect(ln["ugi"] == ugi and ln["ip"] == "127.0.0.1" and ln["metastore"] == metastore,
                   "line %s: expected ugi=%s ip=127.0.0.1 metastore=%s" % (ln, ugi, metastore))

        # The router answers set_ugi itself (it replays it on each backend connection later).
        T.check("set_ugi: answered by the router, metastore=null", lambda: one("set_ugi", "null"))
        T.check("get_all_databases: both metastores", lambda: one("get_all_databases", "primary,sales"))
        T.check("get_database: db as the client wrote it",
                lambda: one("get_database : db=sales_orders", "sales"))
        T.check("get_table: db and tbl", lambda: one("get_table : db=sales_orders tbl=daily", "sales"))
        T.check("get_table_req: db and tbl from the request struct",
                lambda: one("get_table_req : db=sales_orders tbl=daily", "sales"))
        T.check("create_table: tbl from the Table struct", lambda: one("create_table : db=web tbl=t1", "primary"))
        T.check("get_partitions: db and tbl", lambda: one("get_partitions : db=sales_orders tbl=daily", "sales"))
        T.check("get_tables: db, no table (a pattern is not one)", lambda: one("get_tables : db=web", "primary"))
        T.check("a call that fails has its line too", lambda: one("get_table : db=web tbl=nope", "primary"))
        T.check("without set_ugi: ugi=null", lambda: one("get_database : db=web", "primary", ugi="null"))

        def rotate():
            os.rename(log, log + ".1")
            before = len(parse(log + ".1"))
            rp.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while not os.path.exists(log):
                expect(time.monotonic() < deadline, "no new %s after SIGHUP" % log)
                time.sleep(0.05)
            c = client(R)
            c.get_all_databases()
            wait_for(log, lambda ls: any(ln["cmd"] == "get_all_databases" for ln in ls), "the call after SIGHUP")
            expect(len(parse(log + ".1")) == before, "the moved file got lines after the reopen")

        T.check("logrotate: SIGHUP reopens the file at its path", rotate)
        failed = T.failed > 0
    finally:
        if os.environ.get("FR_KEEP") == "1":
            print("# temp dir kept: %s" % tmp)
            for p in PROCS:
                procs.stop(p)
        else:
            procs.cleanup(PROCS, tmp, ["router", "primary", "sales"], failed)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
