#!/usr/bin/python3
"""router_hms.py: fedrouter's metastore federation, driven by a Python thrift
client generated from our IDL (Debian's thrift compiler, at build time).

    router_hms.py BUILD_DIR

Two minihms backends: `primary` (no prefix) and `sales` (prefix sales_,
read-only), and one fedrouter with both as [metastore] routes. The checks
follow what Spark's Hive client and Trino do at startup and for a query
(set_ugi, database listing, get_database, tables, partitions) and compare
each answer with what the owning minihms holds. Prints `ok - NAME` /
`not ok - NAME: why`, then `N passed, N failed`; exit 1 on failures.
"""
import os
import signal
import socket
import sys
import tempfile

PROCS = []
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procs import Tally, cleanup, expect, stop, wait_lines  # noqa: E402  (shared with the Python tests)
from procs import start as _start  # noqa: E402

T = Tally()
ok, not_ok, check = T.ok, T.not_ok, T.check


def start(args, tmp, name):
    return _start(args, tmp, name, PROCS)


def wait_line(p, what, pattern):
    return wait_lines(p, what, pattern, START_TIMEOUT)


START_TIMEOUT = 30


def main(argv):
    if len(argv) != 2:
        print("usage: router_hms.py BUILD_DIR", file=sys.stderr)
        return 2
    build = os.path.abspath(argv[1])
    sys.path.insert(0, os.path.join(build, "hms-thrift", "gen-py"))
    from thrift.protocol import TBinaryProtocol, TCompactProtocol
    from thrift.transport import TSocket, TTransport
    from thrift.Thrift import TApplicationException
    from hive_metastore import ThriftHiveMetastore
    from hive_metastore.ttypes import (ColumnStatistics, ColumnStatisticsData, ColumnStatisticsDesc,
                                       ColumnStatisticsObj, Database, FieldSchema, Function, LongColumnStatsData,
                                       GetTableRequest, MetaException, NoSuchObjectException, Partition,
                                       SerDeInfo, StorageDescriptor, Table, TableStatsRequest)

    def client(addr, framed=False, compact=False):
        host, port = addr.rsplit(":", 1)
        sock = TSocket.TSocket(host, int(port))
        sock.setTimeout(20000)
        t = TTransport.TFramedTransport(sock) if framed else TTransport.TBufferedTransport(sock)
        proto = TCompactProtocol.TCompactProtocol(t) if compact else TBinaryProtocol.TBinaryProtocol(t)
        t.open()
        c = ThriftHiveMetastore.Client(proto)
        c._t = t
        return c

    def table(db, name, parts=True):
        sd = StorageDescriptor(cols=[FieldSchema("id", "int", ""), FieldSchema("v", "string", "")],
                               location="file:/warehouse/%s/%s" % (db, name),
                               inputFormat="org.apache.hadoop.mapred.TextInputFormat",
                               outputFormat="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                               serdeInfo=SerDeInfo("s", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", {}),
                               parameters={})
        return Table(tableName=name, dbName=db, owner="alice", createTime=0, lastAccessTime=0, retention=0, sd=sd,
                     partitionKeys=[FieldSchema("ds", "string", "")] if parts else [], parameters={},
                     tableType="MANAGED_TABLE")

    minihms = os.path.join(build, "tests", "minihms", "minihms")
    router = os.path.join(build, "router", "fedrouter")
    tmp = tempfile.mkdtemp(prefix="fedrouter-hms.")
    try:
        ms = {}
        for name in ("primary", "sales"):
            p = start([minihms, "--port", "0", "--name", name], tmp, name)
            ms[name] = "127.0.0.1:%s" % wait_line(p, name, {"r": r"^ready port=(\d+)$"})["r"].group(1)
            ms[name + "_proc"] = p
        conf = os.path.join(tmp, "fedrouter.conf")
        with open(conf, "w") as f:
            f.write("""[router]
id = hms-e2e
hdfs.listen = 127.0.0.1:0
hms.listen = 127.0.0.1:0
admin.listen = 127.0.0.1:0
workers = 2

[statestore]
driver = file

[metastore primary]
uris = thrift://%s
primary = true

[metastore sales]
uris = thrift://%s
prefix = sales_
writable = scratch*
""" % (ms["primary"], ms["sales"]))
        rp = start([router, "-c", conf], tmp, "router")
        lines = wait_line(rp, "fedrouter", {"hms": r"^serving hms=(\S+:\d+)$",
                                            "ready": r"^ready hdfs=(\S+:\d+) admin=(\S+:\d+)$"})
        R = lines["hms"].group(1)
        print("# fedrouter hms=%s; primary %s; sales %s" % (R, ms["primary"], ms["sales"]))

        P, S = client(ms["primary"]), client(ms["sales"])
        # Content made directly on each backend.
        P.create_database(Database("web", "", "file:/warehouse/web", {}))
        S.create_database(Database("orders", "", "file:/warehouse/orders", {}))
        S.create_table(table("orders", "daily"))
        S.add_partitions([Partition(values=["2026-11-%02d" % d], dbName="orders", tableName="daily",
                                    createTime=0, lastAccessTime=0, sd=table("orders", "daily").sd, parameters={})
                          for d in range(1, 4)])
        c = client(R)

        def startup():
            # Spark's Hive client: set_ugi, then get_all_databases / get_database("default").
            expect(c.set_ugi("alice", ["staff"]) == ["staff"], "set_ugi did not answer the groups")
            dbs = c.get_all_databases()
            expect(dbs == sorted(set(P.get_all_databases()) | {"sales_" + d for d in S.get_all_databases()}),
                   "get_all_databases: %s" % dbs)
            expect(c.get_database("default").name == "default", "get_database(default)")
        check("startup: set_ugi, the union of both metastores' databases with prefixes, get_database", startup)

        def patterns():
            expect(c.get_databases("sales_*") == ["sales_default", "sales_orders"], c.get_databases("sales_*"))
            expect(c.get_databases("web|sales_orders") == ["sales_orders", "web"], c.get_databases("web|sales_orders"))
        check("get_databases patterns span both metastores", patterns)

        def prefixed_reads():
            d = c.get_database("sales_orders")
            expect(d.name == "sales_orders", "get_database name %r" % d.name)
            expect(c.get_all_tables("sales_orders") == ["daily"], "tables %s" % c.get_all_tables("sales_orders"))
            t = c.get_table("sales_orders", "daily")
            expect(t.dbName == "sales_orders", "table dbName %r" % t.dbName)
            parts = c.get_partitions("sales_orders", "daily", -1)
            expect(sorted(p.values[0] for p in parts) == ["2026-11-01", "2026-11-02", "2026-11-03"],
                   "partitions %s" % [p.values for p in parts])
            expect(all(p.dbName == "sales_orders" for p in parts), "partition dbNames %s" % [p.dbName for p in parts])
            names = c.get_partition_names("sales_orders", "daily", -1)
            byn = c.get_partitions_by_names("sales_orders", "daily", names)
            expect(len(byn) == 3 and all(p.dbName == "sales_orders" for p in byn), "by names %s" % byn)
        check("a prefixed database: names stripped on the way in, put back on the way out", prefixed_reads)

        def views():
            v = table("orders", "recent", parts=False)
            v.tableType = "VIRTUAL_VIEW"
            # As Spark stores it (the text as typed): unquoted names, a comma join, FROM inside
            # EXTRACT, and a literal that looks like a table.
            v.viewOriginalText = ("select d.id, extract(day from d.ts) from orders.daily d, orders.daily d2 "
                                  "where d.v <> 'from orders.daily'")
            v.viewExpandedText = "SELECT `daily`.`id` FROM `orders`.`daily` JOIN `orders`.`daily` `d2` ON 1=1"
            S.create_table(v)
            t = c.get_table("sales_orders", "recent")
            want = "SELECT `daily`.`id` FROM `sales_orders`.`daily` JOIN `sales_orders`.`daily` `d2` ON 1=1"
            expect(t.viewExpandedText == want, "expanded view text through the router: %r" % t.viewExpandedText)
            want = ("select d.id, extract(day from d.ts) from sales_orders.daily d, sales_orders.daily d2 "
                    "where d.v <> 'from orders.daily'")
            expect(t.viewOriginalText == want, "original view text through the router: %r" % t.viewOriginalText)
        check("view texts: every table's database gets the prefix; columns, EXTRACT and literals do not", views)

        def describe_and_stats():
            # DESCRIBE: get_fields / get_schema on a prefixed table.
            cols = [f.name for f in c.get_fields("sales_orders", "daily")]
            expect(cols == ["id", "v"], "get_fields %s" % cols)
            expect([f.name for f in c.get_schema("sales_orders", "daily")] == ["id", "v", "ds"], "get_schema")
            # Statistics: written on a primary table, read back through the router; on sales via the
            # backend, read with the prefix.
            c.create_table(table("web", "st", parts=False))
            def stats(db, tbl):
                return ColumnStatistics(ColumnStatisticsDesc(True, db, tbl),
                                        [ColumnStatisticsObj("id", "int", ColumnStatisticsData(
                                            longStats=LongColumnStatsData(1, 9, 0, 9)))])
            expect(c.update_table_column_statistics(stats("web", "st")), "update stats answered false")
            got = c.get_table_statistics_req(TableStatsRequest("web", "st", ["id"])).tableStats
            expect(len(got) == 1 and got[0].statsData.longStats.highValue == 9, "stats back: %s" % got)
            S.update_table_column_statistics(stats("orders", "daily"))
            got = c.get_table_statistics_req(TableStatsRequest("sales_orders", "daily", ["id"])).tableStats
            expect(len(got) == 1, "sales stats through the router: %s" % got)
            try:
                c.update_table_column_statistics(stats("sales_orders", "daily"))
                raise AssertionError("a statistics write on the read-only sales was not refused")
            except MetaException:
                pass
            c.drop_table("web", "st", True)
        check("DESCRIBE and column statistics (Spark/Trino) on both metastores", describe_and_stats)

        def catalog_names():
            d = c.get_database("@hive#sales_orders")
            expect(d.name == "sales_orders", "catalog-qualified get_database gave %r" % d.name)
            got = c.get_databases("@hive#")
            expect("sales_orders" in got and "web" in got, "get_databases('@hive#') gave %s" % got)
            got = c.get_databases("@hive#sales_*")
            expect(got == ["sales_default", "sales_orders"], "get_databases('@hive#sales_*') gave %s" % got)
        check("catalog-qualified @hive#db names route by the db part", catalog_names)

        def trino_table_meta():
            # Trino 444+ lists tables with get_table_meta(db, "*", []).
            metas = c.get_table_meta("sales_orders", "*", [])
            pairs = sorted((m.dbName, m.tableName) for m in metas)
            want = sorted(("sales_orders", t) for t in S.get_all_tables("orders"))
            expect(pairs == want, "get_table_meta gave %s, want %s" % (pairs, want))
        check("get_table_meta for one database goes to its metastore (as Trino asks)", trino_table_meta)

        def trino_calls():
            t = c.get_table_req(GetTableRequest(dbName="sales_orders", tblName="daily")).table
            expect(t.dbName == "sales_orders" and t.tableName == "daily", "get_table_req gave %s.%s" % (t.dbName, t.tableName))
            names = c.get_tables_by_type("sales_orders", "*", "MANAGED_TABLE")
            expect("daily" in names, "get_tables_by_type gave %s" % names)
            expect(c.get_tables("sales_orders", "da*") == ["daily"], "get_tables gave %s" % c.get_tables("sales_orders", "da*"))
        check("Trino's get_table_req, get_tables_by_type and get_tables on a prefixed database", trino_calls)

        def table_meta_fanout():
            P.create_table(table("web", "visits", parts=False))
            want_all = sorted([(m.dbName, m.tableName) for m in P.get_table_meta("*", "*", [])] +
                              [("sales_" + m.dbName, m.tableName) for m in S.get_table_meta("*", "*", [])])
            got = [(m.dbName, m.tableName) for m in c.get_table_meta("*", "*", [])]
            expect(got == want_all, "get_table_meta('*') gave %s, want %s" % (got, want_all))
            got = [(m.dbName, m.tableName) for m in c.get_table_meta("sales_*", "*", [])]
            expect(got == [p for p in want_all if p[0].startswith("sales_")], "get_table_meta('sales_*') gave %s" % got)
            x = client(R, False, True)
            got = [(m.dbName, m.tableName) for m in x.get_table_meta("*", "*", [])]
            expect(got == want_all, "compact: get_table_meta('*') gave %s" % got)
            P.drop_table("web", "visits", True)
        check("get_table_meta with a wildcard: every metastore's tables, prefixed and sorted, in any protocol",
              table_meta_fanout)

        def all_functions():
            def fn(db, name):
                return Function(functionName=name, dbName=db, className="x.Y", ownerName="alice", ownerType=1,
                                createTime=0, functionType=1, resourceUris=[])
            P.create_function(fn("web", "f_web"))
            S.create_function(fn("orders", "f_orders"))
            for framed, compact in ((False, False), (False, True)):
                x = client(R, framed, compact)
                got = [(f.dbName, f.functionName) for f in x.get_all_functions().functions]
                expect(got == [("sales_orders", "f_orders"), ("web", "f_web")],
                       "compact=%s: get_all_functions gave %s" % (compact, got))
        check("get_all_functions: every metastore's functions, prefixed and sorted", all_functions)

        def primary_writes():
            c.create_table(table("web", "clicks"))
            expect("clicks" in P.get_all_tables("web"), "the table is not on the primary")
            c.add_partition(Partition(values=["2026-11-30"], dbName="web", tableName="clicks", createTime=0,
                                      lastAccessTime=0, sd=table("web", "clicks").sd, parameters={}))
            expect(P.get_partition_names("web", "clicks", -1) == ["ds=2026-11-30"], "partition not on the primary")
            t = c.get_table("web", "clicks")
            t.parameters["k"] = "v"
            c.alter_table("web", "clicks", t)
            expect(P.get_table("web", "clicks").parameters.get("k") == "v", "alter did not reach the primary")
            c.drop_table("web", "clicks", True)
            expect("clicks" not in P.get_all_tables("web"), "drop did not reach the primary")
        check("CREATE / INSERT partition / ALTER / DROP on a primary database", primary_writes)

        def readonly():
            try:
                c.create_table(table("sales_orders", "nope"))
            except MetaException as e:
                expect("read-only" in e.message and "sales" in e.message, "message %r" % e.message)
                expect("nope" not in S.get_all_tables("orders"), "the table was made anyway")
                return
            raise AssertionError("create_table in the read-only sales metastore was not refused")
        check("a write to the read-only prefixed metastore gets MetaException naming it", readonly)

        def writable_list():
            S.create_database(Database("scratch1", "", "file:/warehouse/scratch1", {}))
            c.create_table(table("sales_scratch1", "tmp", parts=False))
            expect(S.get_all_tables("scratch1") == ["tmp"], "the table is not on sales: %s" % S.get_all_tables("scratch1"))
            # A view made through the router: its text reaches sales without the prefix.
            v = table("sales_scratch1", "vw", parts=False)
            v.tableType = "VIRTUAL_VIEW"
            v.viewOriginalText = "SELECT t.id FROM sales_scratch1.tmp t JOIN `sales_orders`.`daily` d USING (id)"
            v.viewExpandedText = v.viewOriginalText
            c.create_table(v)
            got = S.get_table("scratch1", "vw").viewOriginalText
            expect(got == "SELECT t.id FROM scratch1.tmp t JOIN `orders`.`daily` d USING (id)",
                   "view text on sales: %r" % got)
        check("a database the read-only metastore's writable list names takes writes", writable_list)

        def not_found():
            try:
                c.get_table("sales_orders", "missing")
            except NoSuchObjectException as e:
                direct = ""
                try:
                    S.get_table("orders", "missing")
                except NoSuchObjectException as d:
                    direct = d.message
                print("# missing table: the router says %r, sales says %r" % (e.message, direct))
                expect("orders" not in direct or "sales_orders" in e.message,
                       "the message names the backend's database: %r (sales says %r)" % (e.message, direct))
                return
            raise AssertionError("no NoSuchObjectException for a missing table")
        check("a missing table gets the backend's NoSuchObjectException", not_found)

        def transports():
            for framed, compact in ((True, False), (False, True), (True, True)):
                x = client(R, framed, compact)
                expect(x.set_ugi("bob", ["g1"]) == ["g1"], "set_ugi over framed=%s compact=%s" % (framed, compact))
                got = x.get_all_databases()
                expect(x.get_database("sales_orders").name == "sales_orders", "a backend call as bob")
                expect("sales_orders" in got and "web" in got, "framed=%s compact=%s: %s" % (framed, compact, got))
                x.shutdown()
                x._t.close()
        check("framed and compact transports work through the router", transports)

        def bad_input():
            import struct as st
            host, port = R.rsplit(":", 1)
            cases = {
                "bad version": b"\x80\x02\x00\x01" + b"\x00" * 16,
                "huge string length": b"\x80\x01\x00\x01\x7f\xff\xff\xff",
                "deep nesting": b"\x80\x01\x00\x01" + st.pack(">i", 17) + b"get_all_databases" +
                                st.pack(">i", 1) + b"\x0c\x00\x01" * 200,
                "truncated then closed": b"\x80\x01\x00\x01" + st.pack(">i", 17) + b"get_all_da",
                "not thrift": b"GET / HTTP/1.1\r\n\r\n",
                "frame too large": st.pack(">i", 0x7ffffff0) + b"\x80\x01",
            }
            for what, data in cases.items():
                s = socket.create_connection((host, int(port)), timeout=10)
                s.sendall(data)
                if what.startswith("truncated"):
                    s.shutdown(socket.SHUT_WR)
                try:
                    got = s.recv(4096)
                    while got and s.recv(4096):
                        pass
                except socket.timeout:
                    raise AssertionError("%s: the router neither answered nor closed within 10 s" % what)
                except ConnectionResetError:
                    pass
                s.close()
            x = client(R)
            try:
                x.set_ugi("u" * 5000, [])
                raise AssertionError("a 5000-byte set_ugi user was taken")
            except TApplicationException:
                pass
            x = client(R)
            expect("web" in x.get_all_databases(), "the router does not serve after bad input")
        check("malformed Thrift (bad version, huge length, deep nesting, truncation) is closed; others still served",
              bad_input)

        def hive4_backend():
            # Spark's Hive 2.3 client sends get_table and get_table_objects_by_name, which a Hive 4
            # metastore no longer has: the router asks with the _req calls and answers in the old form.
            p4 = start([minihms, "--port", "0", "--name", "h4", "--hive4"], tmp, "h4")
            addr4 = "127.0.0.1:%s" % wait_line(p4, "h4", {"r": r"^ready port=(\d+)$"})["r"].group(1)
            d4 = client(addr4)
            d4.create_database(Database("lake", "", "file:/warehouse/lake", {}))
            d4.create_table(table("lake", "events", parts=False))
            try:
                d4.get_table("lake", "events")
                raise AssertionError("the --hive4 backend answers get_table itself")
            except TApplicationException:
                pass
            conf4 = os.path.join(tmp, "h4.conf")
            with open(conf4, "w") as f:
                f.write("[router]\nid = h4\nhdfs.listen = 127.0.0.1:0\nhms.listen = 127.0.0.1:0\n"
                        "admin.listen = 127.0.0.1:0\nworkers = 1\n[statestore]\ndriver = file\n"
                        "[metastore h4]\nuris = thrift://%s\nprimary = true\n" % addr4)
            r4 = start([router, "-c", conf4], tmp, "router4")
            a4 = wait_line(r4, "fedrouter h4", {"hms": r"^serving hms=(\S+:\d+)$"})["hms"].group(1)
            x = client(a4)
            for _ in range(2):  # the first learns, the second asks in the new form at once
                t = x.get_table("lake", "events")
                expect(t.tableName == "events" and t.dbName == "lake", "get_table gave %s.%s" % (t.dbName, t.tableName))
            ts = x.get_table_objects_by_name("lake", ["events"])
            expect([t.tableName for t in ts] == ["events"], "get_table_objects_by_name gave %s" % ts)
            try:
                x.get_table("lake", "missing")
                raise AssertionError("no NoSuchObjectException for a missing table")
            except NoSuchObjectException:
                pass
        check("a Hive 4 metastore: get_table and get_table_objects_by_name answered through the _req calls",
              hive4_backend)

        def global_temp():
            P.create_database(Database("global_temp", "", "file:/warehouse/gt", {}))
            try:
                c.get_database("global_temp")
                raise AssertionError("get_database(global_temp) answered: Spark would refuse to start")
            except NoSuchObjectException:
                pass
            expect("global_temp" not in c.get_all_databases(), "global_temp is listed")
            P.drop_database("global_temp", True, True)
        check("global_temp is never routed to a backend (Spark's startup check)", global_temp)

        def metrics():
            host, port = lines["ready"].group(2).rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            text = data.decode(errors="replace")
            for want in ('fedrouter_calls_total{proto="hms",method="get_all_databases",ns="*"}',
                         'fedrouter_calls_total{proto="hms_upstream",method="get_all_databases",ns="sales"}',
                         'fedrouter_calls_total{proto="hms",method="get_table",ns="sales"}',
                         'fedrouter_call_errors_total{proto="hms",method="create_table",ns="sales"}'):
                expect(want in text, "%s is not in /metrics" % want)
        check("/metrics counts metastore calls per method and metastore, client side and upstream", metrics)

        def manual_mode():
            # MANUAL: each metastore lists its databases, no prefixes. "shared" exists on both
            # backends (Waggle Dance refuses to start on such a clash); the mapping gives it to
            # sales, and a second mapping of it (twin) is logged, not fatal.
            P.create_database(Database("shared", "on primary", "file:/warehouse/p-shared", {}))
            S.create_database(Database("shared", "on sales", "file:/warehouse/s-shared", {}))
            confm = os.path.join(tmp, "manual.conf")
            with open(confm, "w") as f:
                f.write("[router]\nid = hms-manual\nhdfs.listen = 127.0.0.1:0\nhms.listen = 127.0.0.1:0\n"
                        "admin.listen = 127.0.0.1:0\nworkers = 1\nhms.mode = manual\n[statestore]\ndriver = file\n"
                        "[metastore primary]\nuris = thrift://%s\nprimary = true\n"
                        "[metastore sales]\nuris = thrift://%s\ndatabases = orders, shared\n"
                        "[metastore twin]\nuris = thrift://%s\ndatabases = shared\n"
                        % (ms["primary"], ms["sales"], ms["sales"]))
            rm = start([router, "-c", confm], tmp, "router-manual")
            am = wait_line(rm, "fedrouter manual", {"hms": r"^serving hms=(\S+:\d+)$"})["hms"].group(1)
            x = client(am)
            want = sorted((set(P.get_all_databases()) - {"shared"}) | {"orders", "shared"})
            got = x.get_all_databases()
            expect(got == want, "get_all_databases %s, want %s" % (got, want))
            expect(x.get_database("shared").description == "on sales", "shared did not come from sales")
            expect(x.get_database("orders").name == "orders", "orders")
            expect(x.get_database("web").name == "web", "web from the primary")
            expect([t.tableName for t in x.get_partitions("orders", "daily", -1)] == ["daily"] * 3, "partitions")
            try:
                x.create_table(table("orders", "nope2"))
                raise AssertionError("a write to the read-only sales was not refused")
            except MetaException:
                pass
            with open(os.path.join(tmp, "router-manual.err"), errors="replace") as f:
                log = f.read()
            expect("both map database shared" in log and "sales serves it" in log, "no clash line in the log")
            P.drop_database("shared", True, True)
        check("MANUAL mode: mapped databases, a name on two backends, a logged mapping clash", manual_mode)

        def one_down():
            stop(ms["sales_proc"])
            x = client(R)
            try:
                x.get_database("sales_orders")
                raise AssertionError("get_database on the stopped metastore answered")
            except TApplicationException as e:
                expect("sales" in str(e), "the error does not name the metastore: %s" % e)
            x2 = client(R)
            expect(x2.get_database("web").name == "web", "the primary's database failed too")
            dbs = x2.get_all_databases()
            expect("web" in dbs and not any(d.startswith("sales_") for d in dbs), "listing with sales down: %s" % dbs)
            # hms.down = fail: the same listing fails, naming the metastore.
            conff = os.path.join(tmp, "fail.conf")
            with open(conf) as f:
                text = f.read()
            with open(conff, "w") as f:
                f.write(text.replace("workers = 2\n", "workers = 1\nhms.down = fail\n").replace("id = hms-e2e", "id = hms-fail"))
            rf = start([router, "-c", conff], tmp, "router-fail")
            af = wait_line(rf, "fedrouter fail", {"hms": r"^serving hms=(\S+:\d+)$"})["hms"].group(1)
            try:
                client(af).get_all_databases()
                raise AssertionError("hms.down = fail: the listing answered with sales down")
            except TApplicationException as e:
                expect("sales" in str(e), "the error does not name sales: %s" % e)
        check("a stopped metastore fails only its databases; listings leave it out", one_down)

        if rp.poll() is None:
            ok("fedrouter still running at the end")
        else:
            not_ok("fedrouter still running at the end", "exit status %s" % rp.poll())
    except Exception as e:
        not_ok("the test stopped early", "%s: %s" % (type(e).__name__, e))
    finally:
        cleanup(PROCS, tmp, ("router", "primary", "sales"), T.failed, tail=20)
    return T.finish()

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(128 + s))
    sys.exit(main(sys.argv))
