#!/usr/bin/python3
"""hms_federation.py: every database a metastore call names is routed and
checked (the findings of the metastore audit, named in each check as #N).

    /usr/bin/python3 tests/e2e/hms_federation.py BUILD_DIR

Four minihms backends, laid out as the audit's repros:
  primary  no prefix       databases default, web, sales_x (shadowed by sales)
  sales    prefix sales_   read-only, writable scratch*: orders, scratch1, x, x_db
  salesx   prefix sales_x_ read-only: db
  lake     prefix lake_    read-write: acid
and three routers: PREFIXED over all four; MANUAL with a read-only primary
that lists its databases; PREFIXED with a primary that carries a prefix.
Every check calls a router, then asks the backends what they hold.
Prints `ok - NAME` / `not ok - NAME: why`, then `N passed, N failed`.
"""
import os
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402

expect = procs.expect


def main(argv):
    if len(argv) != 2:
        print("usage: hms_federation.py BUILD_DIR", file=sys.stderr)
        return 2
    build = os.path.abspath(argv[1])
    sys.path.insert(0, os.path.join(build, "hms-thrift", "gen-py"))
    from thrift.Thrift import TApplicationException
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport
    from hive_metastore import ThriftHiveMetastore
    from hive_metastore.ttypes import (Database, FieldSchema, InvalidOperationException, MetaException,
                                       NoSuchObjectException, SerDeInfo, StorageDescriptor, Table)

    t = procs.Tally()
    tmp = tempfile.mkdtemp(prefix="fedrouter-hmsfed.")
    plist = []
    logs = []

    def client(addr):
        host, port = addr.rsplit(":", 1)
        sock = TSocket.TSocket(host, int(port))
        sock.setTimeout(20000)
        tr = TTransport.TBufferedTransport(sock)
        tr.open()
        return ThriftHiveMetastore.Client(TBinaryProtocol.TBinaryProtocol(tr))

    def table(db, name, view=None):
        sd = StorageDescriptor(cols=[FieldSchema("id", "int", "")], location="file:/warehouse/%s/%s" % (db, name),
                               inputFormat="org.apache.hadoop.mapred.TextInputFormat",
                               outputFormat="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                               serdeInfo=SerDeInfo("s", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", {}),
                               parameters={})
        tb = Table(tableName=name, dbName=db, owner="alice", createTime=0, lastAccessTime=0, retention=0, sd=sd,
                   partitionKeys=[], parameters={}, tableType="MANAGED_TABLE")
        return tb

    def refused(fn, *classes):
        try:
            fn()
        except classes as e:
            return e
        except TApplicationException as e:
            if TApplicationException in classes:
                return e
            raise AssertionError("refused with TApplicationException %s, expected %s" % (e, classes))
        raise AssertionError("the call was not refused")

    def router(name, body):
        conf = os.path.join(tmp, name + ".conf")
        with open(conf, "w") as f:
            f.write("[router]\nid = %s\nhdfs.listen = 127.0.0.1:0\nhms.listen = 127.0.0.1:0\n"
                    "admin.listen = 127.0.0.1:0\nworkers = 2\n%s\n[statestore]\ndriver = file\n" % (name, body))
        p = procs.start([os.path.join(build, "router", "fedrouter"), "-c", conf], tmp, name, plist)
        logs.append(name)
        return procs.wait_lines(p, name, {"hms": r"^serving hms=(\S+:\d+)$"})["hms"].group(1)

    try:
        ms = {}
        for name in ("primary", "sales", "salesx", "lake"):
            p = procs.start([os.path.join(build, "tests", "minihms", "minihms"), "--port", "0", "--name", name],
                            tmp, name, plist)
            logs.append(name)
            ms[name] = "127.0.0.1:%s" % procs.wait_lines(p, name, {"r": r"^ready port=(\d+)$"})["r"].group(1)
        P, S, SX, L = (client(ms[n]) for n in ("primary", "sales", "salesx", "lake"))
        for c, dbs in ((P, ("web", "sales_x")), (S, ("orders", "scratch1", "x", "x_db")), (SX, ("db",)),
                       (L, ("acid",))):
            for d in dbs:
                c.create_database(Database(d, "%s on %s" % (d, c), "file:/warehouse/%s" % d, {}))
        S.create_table(table("orders", "daily"))
        S.create_table(table("scratch1", "t2"))
        S.create_table(table("scratch1", "t3"))
        S.create_table(table("scratch1", "t4"))
        P.create_table(table("sales_x", "primary_secret"))
        S.create_table(table("x", "sales_x_table"))
        SX.create_table(table("db", "salesx_table"))
        L.create_table(table("acid", "t"))
        P.create_table(table("web", "t1"))

        uris = {n: "thrift://" + a for n, a in ms.items()}
        R = client(router("prefixed", "\n[metastore primary]\nuris = %s\nprimary = true\n"
                                      "[metastore sales]\nuris = %s\nprefix = sales_\nwritable = scratch*\n"
                                      "[metastore salesx]\nuris = %s\nprefix = sales_x_\n"
                                      "[metastore lake]\nuris = %s\nprefix = lake_\naccess = read-write\n"
                          % (uris["primary"], uris["sales"], uris["salesx"], uris["lake"])))
        M = client(router("manual", "hms.mode = manual\n\n[metastore primary]\nuris = %s\nprimary = true\n"
                                    "access = read-only\ndatabases = web, sales_x\n"
                                    "[metastore sales]\nuris = %s\ndatabases = orders, scratch1\nwritable = scratch1\n"
                          % (uris["primary"], uris["sales"])))
        PP = client(router("pprefix", "\n[metastore primary]\nuris = %s\nprimary = true\nprefix = pm_\n"
                                      "[metastore sales]\nuris = %s\nprefix = sales_\n"
                           % (uris["primary"], uris["sales"])))

        # ---- #1: the second database of a call is checked ----
        def f1_rename_into_readonly():
            nt = S.get_table("scratch1", "t2")
            nt.dbName, nt.tableName = "sales_orders", "t2"
            refused(lambda: R.alter_table("sales_scratch1", "t2", nt), MetaException, InvalidOperationException)
            expect(S.get_all_tables("orders") == ["daily"], "sales orders holds %s" % S.get_all_tables("orders"))
            expect("t2" in S.get_all_tables("scratch1"), "t2 left scratch1")
            nt = R.get_table("sales_scratch1", "t3")
            nt.tableName = "t3b"
            R.alter_table("sales_scratch1", "t3", nt)
            expect("t3b" in S.get_all_tables("scratch1"), "a rename inside the writable database did not happen")
        t.check("#1: alter_table renaming a table into a read-only database of the same metastore is refused",
                f1_rename_into_readonly)

        # ---- #2: two metastores in one call ----
        def f2_rename_across():
            nt = L.get_table("acid", "t")
            nt.dbName = "default"
            e = refused(lambda: R.alter_table("lake_acid", "t", nt), MetaException, InvalidOperationException)
            expect("lake" in str(e) and "primary" in str(e), "the refusal does not name both metastores: %s" % e)
            expect(L.get_all_tables("default") == [], "lake's default got %s" % L.get_all_tables("default"))
            expect("t" in L.get_all_tables("acid"), "the table left lake_acid")
            nt = S.get_table("scratch1", "t4")
            nt.dbName = "web"
            refused(lambda: R.alter_table("sales_scratch1", "t4", nt), MetaException, InvalidOperationException)
            expect(S.get_all_tables("web") == [] if "web" in S.get_all_databases() else True, "sales got a web table")
            expect("t4" in S.get_all_tables("scratch1"), "t4 left scratch1")
        t.check("#2: a rename from one metastore's database into another metastore's is refused, naming both",
                f2_rename_across)

        # ---- #3, #21: MANUAL lists hide what they do not name ----
        def f3_manual_hidden():
            S.create_database(Database("hidden", "", "file:/warehouse/hidden", {}))
            S.create_table(table("hidden", "secret"))
            refused(lambda: M.get_database("hidden"), NoSuchObjectException)
            nt = S.get_table("scratch1", "t2")
            nt.dbName = "hidden"
            refused(lambda: M.alter_table("scratch1", "t2", nt), MetaException, InvalidOperationException,
                    NoSuchObjectException)
            expect(S.get_all_tables("hidden") == ["secret"], "sales hidden holds %s" % S.get_all_tables("hidden"))
        t.check("#3: MANUAL: a database no list names can be neither read nor written as a call's second database",
                f3_manual_hidden)

        def f21_primary_list():
            got = M.get_all_databases()
            expect(got == ["orders", "sales_x", "scratch1", "web"], "get_all_databases %s" % got)
            refused(lambda: M.get_database("default"), NoSuchObjectException)
            expect(M.get_database("web").name == "web", "web is listed on the primary")
        t.check("#21: MANUAL: a databases list on the primary restricts the primary too", f21_primary_list)

        # ---- #4: a read-only primary ----
        def f4_readonly_primary():
            refused(lambda: M.create_table(table("web", "made_on_readonly_primary")), MetaException)
            expect("made_on_readonly_primary" not in P.get_all_tables("web"), "the table was made")
            refused(lambda: M.drop_table("web", "t1", True), MetaException)
            expect("t1" in P.get_all_tables("web"), "the table was dropped")
            M.create_table(table("scratch1", "w1"))  # the writable list of sales still applies
            expect("w1" in S.get_all_tables("scratch1"), "a write to a writable database did not happen")
        t.check("#4: access = read-only on the primary is enforced", f4_readonly_primary)

        # ---- #8, #18: patterns as Hive's ----
        def f8_patterns():
            got = sorted((m.dbName, m.tableName) for m in R.get_table_meta("sales.orders", "*", []))
            expect(got == [("sales_orders", "daily")], "get_table_meta('sales.orders') gave %s" % got)
            got = sorted({m.dbName for m in R.get_table_meta("@hive#", "*", [])})
            expect("lake_acid" in got and "web" in got and "sales_orders" in got,
                   "get_table_meta('@hive#') gave databases %s" % got)
        t.check("#8: get_table_meta with '.' (HiveServer2's JDBC schema) and '@hive#' spans the metastores", f8_patterns)

        def f18_trim():
            expect(R.get_databases(" web") == ["web"], "get_databases(' web') gave %s" % R.get_databases(" web"))
        t.check("#18: database patterns are trimmed as the metastore trims them", f18_trim)

        # ---- #10: shadowed names are neither listed nor mixed ----
        def f10_shadow():
            dbs = R.get_all_databases()
            expect(dbs.count("sales_x") == 1 and dbs.count("sales_x_db") == 1, "listing %s" % dbs)
            expect(R.get_database("sales_x").description.startswith("x on"), "sales_x is not sales's x")
            expect(R.get_all_tables("sales_x_db") == ["salesx_table"], "sales_x_db: %s" % R.get_all_tables("sales_x_db"))
            metas = sorted((m.dbName, m.tableName) for m in R.get_table_meta("sales_*", "*", []))
            expect(("sales_x", "primary_secret") not in metas, "the primary's shadowed table is listed: %s" % metas)
            expect(("sales_x", "sales_x_table") in metas, "sales's x table is missing: %s" % metas)
            for db in set(d for d, _ in metas):
                tabs = sorted(tn for d, tn in metas if d == db)
                expect(sorted(R.get_all_tables(db)) == tabs, "%s: listed %s, get_all_tables %s"
                       % (db, tabs, R.get_all_tables(db)))
        t.check("#10: with prefixes sales_ and sales_x_, every listed name routes to the metastore that listed it",
                f10_shadow)

        # ---- #17: a primary with a prefix ----
        def f17_primary_prefix():
            expect(PP.get_database("pm_web").name == "pm_web", "get_database(pm_web)")
            dbs = PP.get_all_databases()
            expect("pm_web" in dbs and "web" not in dbs and "sales_orders" in dbs, "listing %s" % dbs)
            refused(lambda: PP.get_database("web"), NoSuchObjectException)
            expect(PP.get_table("pm_web", "t1").dbName == "pm_web", "table dbName")
        t.check("#17: a primary with a prefix: its names carry it in and out", f17_primary_prefix)
    except Exception as e:
        t.not_ok("the test stopped early", "%s: %s" % (type(e).__name__, e))
    finally:
        procs.cleanup(plist, tmp, logs, t.failed > 0, tail=15)
    return t.finish()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(128 + s))
    sys.exit(main(sys.argv))
