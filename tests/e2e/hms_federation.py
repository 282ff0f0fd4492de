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
    from hive_metastore.ttypes import (AddForeignKeyRequest, AllocateTableWriteIdsRequest, CheckLockRequest,
                                       CommitTxnRequest, Database, DataOperationType, FieldSchema,
                                       GetValidWriteIdsRequest, HeartbeatRequest, InvalidOperationException,
                                       LockComponent, LockLevel, LockRequest, LockState, LockType, MetaException,
                                       NoSuchLockException, NoSuchObjectException, NotificationEventRequest,
                                       HiveObjectPrivilege, HiveObjectRef, HiveObjectType, PrincipalType,
                                       PrivilegeBag, PrivilegeGrantInfo,
                                       OpenTxnRequest, Partition, SerDeInfo, ShowLocksRequest, SQLForeignKey,
                                       StorageDescriptor, Table, UnlockRequest)

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
        if view is not None:
            tb.tableType = "VIRTUAL_VIEW"
            tb.viewOriginalText = tb.viewExpandedText = view
        return tb

    def ptable(db, name):
        tb = table(db, name)
        tb.partitionKeys = [FieldSchema("ds", "string", "")]
        return tb

    def lock_req(comps, txnid=None):
        return LockRequest(component=[LockComponent(typ, LockLevel.TABLE, db, tablename=tbl,
                                                    operationType=DataOperationType.SELECT)
                                      for typ, db, tbl in comps],
                           txnid=txnid, user="alice", hostname="alice-host")

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
            # Disjoint id spaces, so an id tells which metastore made it.
            base = {"primary": 1000, "sales": 3000, "salesx": 5000, "lake": 7000}[name]
            p = procs.start([os.path.join(build, "tests", "minihms", "minihms"), "--port", "0", "--name", name,
                             "--txn-base", str(base), "--lock-base", str(base), "--event-base", str(base)],
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

        def f1_other_calls():
            S.create_table(ptable("scratch1", "xs"))
            S.create_table(ptable("orders", "xd"))
            S.add_partition(Partition(values=["1"], dbName="scratch1", tableName="xs", createTime=0,
                                      lastAccessTime=0, sd=table("scratch1", "xs").sd, parameters={}))
            refused(lambda: R.exchange_partition({"ds": "1"}, "sales_scratch1", "xs", "sales_orders", "xd"),
                    MetaException)
            expect(S.get_partition_names("orders", "xd", -1) == [], "a partition reached the read-only database")
            refused(lambda: R.exchange_partition({"ds": "1"}, "sales_scratch1", "xs", "web", "t1"), MetaException)
            expect(S.get_partition_names("scratch1", "xs", -1) == ["ds=1"], "the partition left its table")
            fk = SQLForeignKey(pktable_db="sales_orders", pktable_name="daily", pkcolumn_name="id",
                               fktable_db="sales_scratch1", fktable_name="xs", fkcolumn_name="id", key_seq=1,
                               update_rule=0, delete_rule=0, fk_name="fk1", pk_name="pk1", enable_cstr=False,
                               validate_cstr=False, rely_cstr=False)
            refused(lambda: R.add_foreign_key(AddForeignKeyRequest([fk])), MetaException,
                    NoSuchObjectException, TApplicationException)
            refused(lambda: R.lock(lock_req([(LockType.SHARED_WRITE, "sales_scratch1", "xs"),
                                              (LockType.EXCLUSIVE, "sales_orders", "daily")])),
                    MetaException, TApplicationException)
            expect(P.show_locks(ShowLocksRequest()).locks == [], "a lock was taken")
        t.check("#1: exchange_partition, add_foreign_key and lock components are each checked", f1_other_calls)

        # ---- #5, #14: ACID in one id space ----
        def f5_acid():
            txn = R.open_txns(OpenTxnRequest(num_txns=1, user="alice", hostname="alice-host")).txn_ids[0]
            expect(1000 < txn < 3000, "txn %d is not from the primary's id space" % txn)
            lk = R.lock(lock_req([(LockType.SHARED_WRITE, "lake_acid", "t"), (LockType.SHARED_READ, "web", "t1")],
                                 txn))
            expect(lk.state == LockState.ACQUIRED and 1000 < lk.lockid < 3000, "lock %s" % lk)
            expect(R.check_lock(CheckLockRequest(lockid=lk.lockid)).state == LockState.ACQUIRED, "check_lock")
            R.heartbeat(HeartbeatRequest(lockid=lk.lockid, txnid=txn))
            held = [(l.dbname, l.tablename) for l in P.show_locks(ShowLocksRequest()).locks]
            expect(("lake_acid", "t") in held, "the primary holds %s" % held)
            expect(L.show_locks(ShowLocksRequest()).locks == [], "lake holds a lock")
            e = refused(lambda: R.allocate_table_write_ids(AllocateTableWriteIdsRequest(
                dbName="lake_acid", tableName="t", txnIds=[txn])), MetaException, TApplicationException)
            expect("primary" in str(e), "the refusal does not say why: %s" % e)
            got = R.allocate_table_write_ids(AllocateTableWriteIdsRequest(dbName="web", tableName="t1", txnIds=[txn]))
            expect([x.txnId for x in got.txnToWriteIds] == [txn], "write ids %s" % got)
            R.get_valid_write_ids(GetValidWriteIdsRequest(fullTableNames=["web.t1"], validTxnList=""))
            refused(lambda: R.get_valid_write_ids(GetValidWriteIdsRequest(
                fullTableNames=["web.t1", "lake_acid.t"], validTxnList="")), MetaException, TApplicationException)
            R.commit_txn(CommitTxnRequest(txnid=txn))
            refused(lambda: R.check_lock(CheckLockRequest(lockid=lk.lockid)), NoSuchLockException)
        t.check("#5: transactions, locks and write ids stay in the primary's id space, in the client's names", f5_acid)

        def f14_read_locks():
            lk = R.lock(lock_req([(LockType.SHARED_READ, "sales_orders", "daily")]))
            expect(lk.state == LockState.ACQUIRED, "SHARED_READ on a read-only database: %s" % lk)
            R.unlock(UnlockRequest(lockid=lk.lockid))
            refused(lambda: R.lock(lock_req([(LockType.EXCLUSIVE, "sales_orders", "daily")])), MetaException,
                    TApplicationException)
            lk = R.lock(lock_req([(LockType.EXCLUSIVE, "sales_scratch1", "t2")]))
            expect(lk.state == LockState.ACQUIRED, "EXCLUSIVE on a writable database: %s" % lk)
            R.unlock(UnlockRequest(lockid=lk.lockid))
        t.check("#14: a SHARED_READ lock on a read-only database is granted; a write lock is not", f14_read_locks)

        def f15_notifications():
            L.create_table(table("acid", "ev"))
            cur = R.get_current_notificationEventId().eventId
            expect(cur == P.get_current_notificationEventId().eventId, "current id %d is not the primary's" % cur)
            evs = R.get_next_notification(NotificationEventRequest(lastEvent=0, maxEvents=1000)).events
            expect(evs and all(1000 < e.eventId < 3000 for e in evs), "event ids %s" % [e.eventId for e in evs][:5])
            evs = R.get_next_notification(NotificationEventRequest(lastEvent=0, dbName="lake_acid")).events
            expect(all(1000 < e.eventId < 3000 for e in evs), "a lake event id came through the db filter: %s"
                   % [e.eventId for e in evs])
        t.check("#15: notifications come from the primary's sequence alone, also with a database filter",
                f15_notifications)

        # ---- #7, #9: view texts ----
        def f7_views():
            S.create_table(table("orders", "v_spark", view="SELECT id FROM orders.daily d, scratch1.t2"))
            got = R.get_table("sales_orders", "v_spark").viewOriginalText
            expect(got == "SELECT id FROM sales_orders.daily d, sales_scratch1.t2", "view text %r" % got)
            refused(lambda: R.create_table(table("lake_acid", "v_bad", view="SELECT * FROM web.t1")), MetaException,
                    InvalidOperationException, TApplicationException)
            expect("v_bad" not in L.get_all_tables("acid"), "the view that reads another metastore was made")
            R.create_table(table("lake_acid", "v_ok", view="SELECT extract(day FROM x.ts) FROM lake_acid.t x"))
            got = L.get_table("acid", "v_ok").viewOriginalText
            expect(got == "SELECT extract(day FROM x.ts) FROM acid.t x", "stored view text %r" % got)
        t.check("#7: view texts: unquoted and comma-joined names mapped; a view reading another metastore refused",
                f7_views)

        # ---- #16: privileges named by object ----
        def f16_privileges():
            def bag(db):
                ref = HiveObjectRef(objectType=HiveObjectType.DATABASE, objectName=db)
                return PrivilegeBag([HiveObjectPrivilege(hiveObject=ref, principalName="bob",
                                                         principalType=PrincipalType.USER,
                                                         grantInfo=PrivilegeGrantInfo("SELECT", 0, "alice",
                                                                                      PrincipalType.USER, False))])
            expect(R.grant_privileges(bag("sales_scratch1")) is True, "grant on a writable database")
            got = [p.hiveObject.dbName for p in S.list_privileges("bob", PrincipalType.USER,
                                                                  HiveObjectRef(HiveObjectType.DATABASE, "scratch1"))]
            expect(got == ["scratch1"], "sales holds grants %s" % got)
            ref = HiveObjectRef(objectType=HiveObjectType.DATABASE, objectName="sales_scratch1")
            got = R.list_privileges("bob", PrincipalType.USER, ref)
            expect(len(got) == 1 and got[0].hiveObject.dbName == "sales_scratch1",
                   "list_privileges through the router: %s" % got)
            refused(lambda: R.grant_privileges(bag("sales_orders")), MetaException)
            expect(P.list_privileges("bob", PrincipalType.USER,
                                     HiveObjectRef(HiveObjectType.DATABASE, "sales_orders")) == [],
                   "the grant reached the primary")
        t.check("#16: a grant naming its database by objectName is routed, mapped and write-checked", f16_privileges)

        def f22_constraints():
            fk = SQLForeignKey(pktable_db="web", pktable_name="t1", pkcolumn_name="id", fktable_db="lake_acid",
                               fktable_name="tc", fkcolumn_name="id", key_seq=1, update_rule=0, delete_rule=0,
                               fk_name="fk_web", pk_name="pk_web", enable_cstr=False, validate_cstr=False,
                               rely_cstr=False)
            refused(lambda: R.create_table_with_constraints(table("lake_acid", "tc"), [], [fk], [], [], [], []),
                    MetaException, InvalidOperationException, TApplicationException)
            expect("tc" not in L.get_all_tables("acid"), "the table was made with a key into another metastore")
        t.check("#22: create_table_with_constraints with a foreign key into another metastore is refused",
                f22_constraints)

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
            want = sorted(("sales_orders", tn) for tn in S.get_all_tables("orders"))
            expect(got == want and want, "get_table_meta('sales.orders') gave %s, sales holds %s" % (got, want))
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
