#!/usr/bin/python3
"""Self-test of minihms: starts three instances (Hive 3-like, --hive4, and
one that answers slowly) and drives them with a Python thrift client
generated from hms-thrift's IDL over unframed binary, framed binary,
unframed compact and framed compact.

    test_minihms.py --minihms BUILD/tests/minihms/minihms --gen-py BUILD/hms-thrift/gen-py
"""

import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest

ARGS = None
SERVERS = {}


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minihms", required=True)
    ap.add_argument("--gen-py", required=True)
    a, rest = ap.parse_known_args()
    return a, rest


ARGS, REST = parse_args()
sys.path.insert(0, ARGS.gen_py)

from thrift import TSerialization  # noqa: E402
from thrift.Thrift import TApplicationException, TMessageType, TType  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol, TJSONProtocol  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402

from hive_metastore import ThriftHiveMetastore  # noqa: E402
from hive_metastore.ttypes import (  # noqa: E402
    AbortTxnRequest, AbortTxnsRequest, AddForeignKeyRequest,
    AddPartitionsRequest, AddPrimaryKeyRequest, DropConstraintRequest,
    ForeignKeysRequest, InvalidObjectException, PrimaryKeysRequest,
    SQLForeignKey, SQLPrimaryKey,
    AllocateTableWriteIdsRequest, AlreadyExistsException, CheckLockRequest,
    ColumnStatistics, ColumnStatisticsData, ColumnStatisticsDesc,
    ColumnStatisticsObj, CommitTxnRequest, ConfigValSecurityException,
    DataOperationType, Database, EnvironmentContext, FieldSchema, Function,
    FunctionType, GetOpenTxnsRequest, GetTableRequest, GetTablesRequest,
    GetPartitionsByNamesRequest, GetValidWriteIdsRequest, HeartbeatRequest,
    InvalidOperationException, LockComponent, LockLevel, LockRequest,
    LockState, LockType, LongColumnStatsData, MetaException,
    NoSuchLockException, NoSuchObjectException, NoSuchTxnException,
    NotificationEventRequest, NotificationEventsCountRequest, OpenTxnRequest,
    Partition, PartitionsStatsRequest, PrincipalType, SerDeInfo,
    ShowLocksRequest, StorageDescriptor, StringColumnStatsData, Table,
    TableStatsRequest, TxnAbortedException, TxnOpenException, TxnState,
    TxnType, UnknownTableException, UnlockRequest)
from fb303.ttypes import fb_status  # noqa: E402


class MiniHms:
    def __init__(self, name, *extra):
        self.name = name
        self.proc = subprocess.Popen([ARGS.minihms, "--port", "0", "--name", name] + list(extra),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.port = None

    def wait_ready(self):
        line = self.proc.stdout.readline()
        if not line.startswith("ready port="):
            self.proc.kill()
            raise RuntimeError("minihms did not start: %r %s" % (line, self.proc.stderr.read()))
        self.port = int(line.split("=")[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


MODES = {
    "binary": (False, False),
    "framed": (True, False),
    "compact": (False, True),
    "framed_compact": (True, True),
}


def connect(port, mode="binary"):
    framed, compact = MODES[mode]
    sock = TSocket.TSocket("127.0.0.1", port)
    sock.setTimeout(10000)
    trans = TTransport.TFramedTransport(sock) if framed else TTransport.TBufferedTransport(sock)
    prot = (TCompactProtocol.TCompactProtocol(trans) if compact
            else TBinaryProtocol.TBinaryProtocol(trans))
    trans.open()
    client = ThriftHiveMetastore.Client(prot)
    client._trans = trans
    return client


def raw_call(client, name, seqid=77):
    """Send a call with an empty argument struct; return (mtype, reply obj)."""
    p = client._oprot
    p.writeMessageBegin(name, TMessageType.CALL, seqid)
    p.writeStructBegin("args")
    p.writeFieldStop()
    p.writeStructEnd()
    p.writeMessageEnd()
    p.trans.flush()
    ip = client._iprot
    rname, mtype, rseq = ip.readMessageBegin()
    assert rname == name and rseq == seqid, (rname, rseq)
    if mtype == TMessageType.EXCEPTION:
        x = TApplicationException()
        x.read(ip)
        ip.readMessageEnd()
        return mtype, x
    ip.skip(TType.STRUCT)
    ip.readMessageEnd()
    return mtype, None


def sd(location=None, cols=None):
    return StorageDescriptor(
        cols=cols or [FieldSchema("id", "bigint", "key"), FieldSchema("name", "string", None)],
        location=location,
        inputFormat="org.apache.hadoop.mapred.TextInputFormat",
        outputFormat="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        compressed=False, numBuckets=-1,
        serdeInfo=SerDeInfo(None, "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", {}),
        bucketCols=[], sortCols=[], parameters={})


def table(db, name, part_keys=None, params=None):
    return Table(tableName=name, dbName=db, owner="alice", createTime=0, lastAccessTime=0,
                 retention=0, sd=sd(), partitionKeys=part_keys or [], parameters=params or {},
                 tableType="MANAGED_TABLE")


def partition(db, tbl, values):
    return Partition(values=values, dbName=db, tableName=tbl, createTime=0, lastAccessTime=0,
                     sd=None, parameters={})


LONG_MAX = 2 ** 63 - 1


def txn_list(r, current=0):
    """The snapshot string a Hive client builds from get_open_txns
    (TxnCommonUtils.createValidReadTxnList, ValidReadTxnList.writeToString):
    hwm:minOpen:open,...:aborted,..."""
    hwm = min(current, r.txn_high_water_mark) if current else r.txn_high_water_mark
    bits = int.from_bytes(r.abortedBits or b"", "little")
    opened, aborted = [], []
    for i, t in enumerate(r.open_txns):
        if current and t >= current:
            break
        (aborted if bits >> i & 1 else opened).append(str(t))
    return "%d:%s:%s:%s" % (hwm, opened[0] if opened else LONG_MAX, ",".join(opened),
                            ",".join(aborted))


def write_id_list(t):
    """The ValidWriteIdList string a Hive client makes of a TableValidWriteIds
    (ValidReaderWriteIdList.writeToString): table:hwm:minOpen:open:aborted."""
    bits = int.from_bytes(t.abortedBits or b"", "little")
    opened = [str(w) for i, w in enumerate(t.invalidWriteIds) if not bits >> i & 1]
    aborted = [str(w) for i, w in enumerate(t.invalidWriteIds) if bits >> i & 1]
    return "%s:%d:%d:%s:%s" % (t.fullTableName, t.writeIdHighWaterMark,
                               LONG_MAX if t.minOpenWriteId is None else t.minOpenWriteId,
                               ",".join(opened), ",".join(aborted))


def lock_req(comps, txnid=None, user="alice", **kw):
    """comps: (type, db, table or None, partition or None, operation or None)"""
    out = []
    for typ, db, tbl, part, op in comps:
        level = (LockLevel.DB if tbl is None else LockLevel.TABLE if part is None
                 else LockLevel.PARTITION)
        out.append(LockComponent(typ, level, db, tablename=tbl, partitionname=part,
                                 operationType=op or DataOperationType.SELECT,
                                 isTransactional=op is not None))
    return LockRequest(component=out, txnid=txnid, user=user, hostname=user + "-host", **kw)


def from_tjson(obj, text):
    """Decode a metastore object that a notification message embeds."""
    return TSerialization.deserialize(obj, text.encode("utf-8"),
                                      TJSONProtocol.TJSONProtocolFactory())


def long_stats(col, lo, hi):
    return ColumnStatisticsObj(col, "bigint", ColumnStatisticsData(
        longStats=LongColumnStatsData(lowValue=lo, highValue=hi, numNulls=0, numDVs=hi - lo + 1)))


class Scenario:
    """The full walk through databases, tables, partitions, statistics and
    functions, run once per transport against the Hive 3-like instance."""

    def run(self, t, mode):
        c = connect(SERVERS["h3"].port, mode)
        try:
            self.walk(t, c, mode)
        finally:
            c._trans.close()

    def walk(self, t, c, mode):
        db = "Sales_" + mode              # mixed case on purpose
        dbl = db.lower()
        t.assertEqual(c.set_ugi("alice", ["staff", "eng"]), ["staff", "eng"])

        # --- databases
        t.assertIn("default", c.get_all_databases())
        with t.assertRaises(NoSuchObjectException):
            c.get_database("global_temp")
        c.create_database(Database(db, "sales data", None, {"k": "v"}, ownerName="alice",
                                   ownerType=PrincipalType.USER))
        with t.assertRaises(AlreadyExistsException):
            c.create_database(Database(dbl, "again", None, {}))
        d = c.get_database(db.upper())
        t.assertEqual(d.name, dbl)
        t.assertEqual(d.parameters, {"k": "v"})
        t.assertTrue(d.locationUri.endswith("/%s.db" % dbl), d.locationUri)
        t.assertEqual(c.get_database("@hive#" + dbl).name, dbl)
        t.assertIn(dbl, c.get_databases("sales_" + mode[:3] + "*"))
        t.assertIn(dbl, c.get_databases("@hive#SALES_*"))
        t.assertIn(dbl, c.get_databases("@hive#"))
        t.assertNotIn("default", c.get_databases("sales*"))
        t.assertIn(dbl, c.get_databases("nomatch|" + dbl))
        d.description = "changed"
        c.alter_database(dbl, d)
        t.assertEqual(c.get_database(dbl).description, "changed")
        with t.assertRaises(NoSuchObjectException):
            c.alter_database("nope_" + mode, d)

        # --- tables
        keys = [FieldSchema("ds", "string", None), FieldSchema("hr", "int", None)]
        c.create_table_with_environment_context(table(db, "Events", keys, {"comment": "ev"}),
                                                EnvironmentContext({}))
        c.create_table(table(dbl, "plain"))
        with t.assertRaises(AlreadyExistsException):
            c.create_table(table(dbl, "events"))
        with t.assertRaises(NoSuchObjectException):
            c.create_table(table("no_such_db", "x"))
        tb = c.get_table(dbl, "EVENTS")
        t.assertEqual((tb.dbName, tb.tableName), (dbl, "events"))
        t.assertTrue(tb.sd.location.endswith("/%s.db/events" % dbl), tb.sd.location)
        t.assertIn("transient_lastDdlTime", tb.parameters)
        t.assertEqual(c.get_table_req(GetTableRequest(dbName=dbl, tblName="events")).table.tableName,
                      "events")
        with t.assertRaises(NoSuchObjectException):
            c.get_table(dbl, "missing")
        with t.assertRaises(NoSuchObjectException):
            c.get_table_req(GetTableRequest(dbName=dbl, tblName="missing"))
        t.assertEqual(c.get_all_tables(dbl), ["events", "plain"])
        t.assertEqual(c.get_all_tables("@hive#" + dbl), ["events", "plain"])
        t.assertEqual(c.get_tables(dbl, "ev*"), ["events"])
        t.assertEqual(c.get_tables(dbl, ".*"), ["events", "plain"])
        t.assertEqual(c.get_tables_by_type(dbl, "*", "MANAGED_TABLE"), ["events", "plain"])
        objs = c.get_table_objects_by_name(dbl, ["plain", "missing", "events"])
        t.assertEqual(sorted(o.tableName for o in objs), ["events", "plain"])
        res = c.get_table_objects_by_name_req(GetTablesRequest(dbName=dbl, tblNames=["plain"]))
        t.assertEqual([o.tableName for o in res.tables], ["plain"])
        metas = c.get_table_meta("@hive#" + dbl, "*", [])
        t.assertEqual([(m.dbName, m.tableName) for m in metas], [(dbl, "events"), (dbl, "plain")])
        t.assertEqual(metas[0].comments, "ev")
        t.assertEqual([f.name for f in c.get_fields(dbl, "events")], ["id", "name"])
        t.assertEqual([f.name for f in c.get_schema(dbl, "events")], ["id", "name", "ds", "hr"])
        with t.assertRaises(UnknownTableException):
            c.get_fields(dbl, "missing")

        # --- partitions
        p1 = c.add_partition(partition(dbl, "events", ["2024-01-01", "1"]))
        t.assertTrue(p1.sd.location.endswith("/events/ds=2024-01-01/hr=1"), p1.sd.location)
        with t.assertRaises(AlreadyExistsException):
            c.add_partition(partition(dbl, "events", ["2024-01-01", "1"]))
        t.assertEqual(c.add_partitions([partition(dbl, "events", ["2024-01-01", "2"]),
                                        partition(dbl, "events", ["2024-01-02", "1"])]), 2)
        r = c.add_partitions_req(AddPartitionsRequest(
            dbl, "events", [partition(dbl, "events", ["2024-01-02", "1"]),
                            partition(dbl, "events", ["2024-01-02", "3"])],
            ifNotExists=True, needResult=True))
        t.assertEqual([p.values for p in r.partitions], [["2024-01-02", "3"]])
        names = c.get_partition_names(dbl, "events", -1)
        t.assertEqual(names, ["ds=2024-01-01/hr=1", "ds=2024-01-01/hr=2",
                              "ds=2024-01-02/hr=1", "ds=2024-01-02/hr=3"])
        t.assertEqual(len(c.get_partitions(dbl, "events", -1)), 4)
        t.assertEqual(len(c.get_partitions(dbl, "events", 2)), 2)
        t.assertEqual(c.get_partition(dbl, "events", ["2024-01-01", "2"]).values,
                      ["2024-01-01", "2"])
        t.assertEqual(c.get_partition_by_name(dbl, "events", "ds=2024-01-02/hr=3").values,
                      ["2024-01-02", "3"])
        with t.assertRaises(NoSuchObjectException):
            c.get_partition(dbl, "events", ["2099-01-01", "1"])
        t.assertEqual([p.values[1] for p in c.get_partitions_ps(dbl, "events", ["2024-01-02"], -1)],
                      ["1", "3"])
        t.assertEqual(c.get_partition_names_ps(dbl, "events", ["", "1"], -1),
                      ["ds=2024-01-01/hr=1", "ds=2024-01-02/hr=1"])
        got = c.get_partitions_by_names(dbl, "events", ["ds=2024-01-01/hr=1", "ds=1999-01-01/hr=1"])
        t.assertEqual([p.values for p in got], [["2024-01-01", "1"]])
        got = c.get_partitions_by_names_req(GetPartitionsByNamesRequest(
            dbl, "events", ["ds=2024-01-02/hr=3"]))
        t.assertEqual([p.values for p in got.partitions], [["2024-01-02", "3"]])
        got = c.get_partitions_by_filter(dbl, "events", 'ds = "2024-01-02" and hr > 1', -1)
        t.assertEqual([p.values for p in got], [["2024-01-02", "3"]])
        got = c.get_partitions_by_filter(dbl, "events", '(hr = 2 or hr = 3) and not ds = "x"', -1)
        t.assertEqual(len(got), 2)
        p = c.get_partition_with_auth(dbl, "events", ["2024-01-01", "1"], "alice", [])
        p.parameters["numRows"] = "10"
        c.alter_partition(dbl, "events", p)
        t.assertEqual(c.get_partition(dbl, "events", p.values).parameters["numRows"], "10")
        ps = c.get_partitions_ps_with_auth(dbl, "events", ["2024-01-01"], -1, "alice", [])
        for q in ps:
            q.parameters["touched"] = "yes"
        c.alter_partitions_with_environment_context(dbl, "events", ps, EnvironmentContext({}))
        t.assertEqual([q.parameters.get("touched") for q in c.get_partitions(dbl, "events", -1)],
                      ["yes", "yes", None, None])
        with t.assertRaises(InvalidOperationException):
            c.alter_partition(dbl, "events", partition(dbl, "events", ["2099-01-01", "9"]))

        # --- column statistics
        desc = ColumnStatisticsDesc(True, dbl, "events", lastAnalyzed=1700000000)
        t.assertTrue(c.update_table_column_statistics(
            ColumnStatistics(desc, [long_stats("id", 1, 100)], engine="hive")))
        st = c.get_table_column_statistics(dbl, "events", "id")
        t.assertEqual(st.statsObj[0].statsData.longStats.highValue, 100)
        res = c.get_table_statistics_req(TableStatsRequest(dbl, "events", ["id", "name"]))
        t.assertEqual([o.colName for o in res.tableStats], ["id"])
        pdesc = ColumnStatisticsDesc(False, dbl, "events", partName="ds=2024-01-01/hr=1")
        name_stats = ColumnStatisticsObj("name", "string", ColumnStatisticsData(
            stringStats=StringColumnStatsData(maxColLen=9, avgColLen=4.5, numNulls=1, numDVs=7)))
        t.assertTrue(c.update_partition_column_statistics(ColumnStatistics(pdesc, [name_stats])))
        res = c.get_partitions_statistics_req(PartitionsStatsRequest(
            dbl, "events", ["name"], ["ds=2024-01-01/hr=1", "ds=2024-01-01/hr=2"]))
        t.assertEqual(list(res.partStats), ["ds=2024-01-01/hr=1"])
        t.assertEqual(res.partStats["ds=2024-01-01/hr=1"][0].statsData.stringStats.numDVs, 7)
        with t.assertRaises(NoSuchObjectException):
            c.update_table_column_statistics(ColumnStatistics(
                ColumnStatisticsDesc(True, dbl, "missing"), [long_stats("id", 1, 2)]))
        with t.assertRaises(MetaException):
            c.update_table_column_statistics(ColumnStatistics(desc, [long_stats("nocol", 1, 2)]))
        t.assertTrue(c.delete_table_column_statistics(dbl, "events", "id", "hive"))
        with t.assertRaises(NoSuchObjectException):
            c.delete_table_column_statistics(dbl, "events", "id", "hive")
        with t.assertRaises(TApplicationException) as cm:   # Hive: no stats -> no result
            c.get_table_column_statistics(dbl, "events", "id")
        t.assertEqual(cm.exception.type, TApplicationException.MISSING_RESULT)

        # --- drop partitions
        t.assertTrue(c.drop_partition(dbl, "events", ["2024-01-01", "2"], False))
        t.assertTrue(c.drop_partition_by_name(dbl, "events", "ds=2024-01-02/hr=3", False))
        with t.assertRaises(NoSuchObjectException):
            c.drop_partition(dbl, "events", ["2024-01-01", "2"], False)
        t.assertEqual(len(c.get_partition_names(dbl, "events", -1)), 2)

        # --- alter / rename table
        tb = c.get_table(dbl, "plain")
        tb.parameters["owner_note"] = "x"
        c.alter_table_with_environment_context(dbl, "plain", tb, EnvironmentContext({}))
        t.assertEqual(c.get_table(dbl, "plain").parameters["owner_note"], "x")
        tb.tableName = "renamed"
        c.alter_table(dbl, "plain", tb)
        with t.assertRaises(NoSuchObjectException):
            c.get_table(dbl, "plain")
        t.assertTrue(c.get_table(dbl, "renamed").sd.location.endswith("/renamed"))
        with t.assertRaises(InvalidOperationException):
            c.alter_table(dbl, "plain", tb)
        ev = c.get_table(dbl, "events")
        ev.partitionKeys = ev.partitionKeys[:1]
        with t.assertRaises(InvalidOperationException):
            c.alter_table(dbl, "events", ev)

        # --- functions
        fn = Function("MyUpper", dbl, "com.example.Upper", "alice", PrincipalType.USER, 0,
                      FunctionType.JAVA, [])
        c.create_function(fn)
        with t.assertRaises(AlreadyExistsException):
            c.create_function(fn)
        t.assertEqual(c.get_function(dbl, "myupper").className, "com.example.Upper")
        t.assertEqual(c.get_functions(dbl, "my*"), ["myupper"])
        t.assertIn((dbl, "myupper"),
                   [(f.dbName, f.functionName) for f in c.get_all_functions().functions])
        with t.assertRaises(NoSuchObjectException):
            c.get_function(dbl, "nope")
        c.drop_function(dbl, "myupper")
        with t.assertRaises(NoSuchObjectException):
            c.drop_function(dbl, "myupper")

        # --- configuration, fb303
        t.assertTrue(c.get_config_value("hive.metastore.warehouse.dir", "").startswith("file:"))
        t.assertEqual(c.get_config_value("hive.some.unset.key", "dflt"), "dflt")
        with t.assertRaises(ConfigValSecurityException):
            c.get_config_value("javax.jdo.option.ConnectionPassword", "")
        t.assertEqual(c.getMetaConf("hive.metastore.try.direct.sql"), "true")
        c.setMetaConf("hive.metastore.try.direct.sql", "false")
        t.assertEqual(c.getMetaConf("hive.metastore.try.direct.sql"), "false")
        with t.assertRaises(MetaException):
            c.getMetaConf("no.such.key")
        t.assertEqual(c.getName(), "h3")
        t.assertEqual(c.getStatus(), fb_status.ALIVE)
        t.assertGreater(c.aliveSince(), 1600000000)

        # --- unknown and unimplemented methods
        mtype, x = raw_call(c, "no_such_method")
        t.assertEqual(mtype, TMessageType.EXCEPTION)
        t.assertEqual(x.type, TApplicationException.UNKNOWN_METHOD)
        t.assertEqual(x.message, "Invalid method name: 'no_such_method'")
        with t.assertRaises(MetaException) as cm:
            c.get_catalogs()
        t.assertIn("does not implement get_catalogs", cm.exception.message)

        # --- drop table and database
        with t.assertRaises(InvalidOperationException):
            c.drop_database(dbl, True, False)
        c.drop_table_with_environment_context(dbl, "renamed", True, EnvironmentContext({}))
        with t.assertRaises(NoSuchObjectException):
            c.drop_table(dbl, "renamed", True)
        c.shutdown()                      # oneway: HMS only cleans up; the connection lives
        c.drop_database(dbl, True, True)
        with t.assertRaises(NoSuchObjectException):
            c.drop_database(dbl, True, True)
        with t.assertRaises(NoSuchObjectException):
            c.get_table(dbl, "events")
        with t.assertRaises(MetaException):
            c.drop_database("default", False, False)


class MiniHmsTest(unittest.TestCase):

    def test_binary(self):
        Scenario().run(self, "binary")

    def test_framed(self):
        Scenario().run(self, "framed")

    def test_compact(self):
        Scenario().run(self, "compact")

    def test_framed_compact(self):
        Scenario().run(self, "framed_compact")

    def test_wire_bytes(self):
        """A hand-made strict binary call gets a strict binary REPLY."""
        s = socket.create_connection(("127.0.0.1", SERVERS["h3"].port), timeout=10)
        name = b"getName"
        s.sendall(b"\x80\x01\x00\x01" + struct.pack(">i", len(name)) + name
                  + struct.pack(">i", 5) + b"\x00")
        want = b"\x80\x01\x00\x02" + struct.pack(">i", len(name)) + name + struct.pack(">i", 5)
        got = b""
        while len(got) < len(want) + 3 + 4 + 2:
            chunk = s.recv(4096)
            self.assertTrue(chunk, "connection closed early")
            got += chunk
        s.close()
        self.assertEqual(got[:len(want)], want)
        # field 0 (success), type STRING, then the name "h3"
        self.assertEqual(got[len(want):len(want) + 9], b"\x0b\x00\x00" + struct.pack(">i", 2) + b"h3")

    def test_set_ugi_twice_closes(self):
        c = connect(SERVERS["h3"].port)
        self.assertEqual(c.set_ugi("bob", []), [])
        self.assertIn("default", c.get_all_databases())
        with self.assertRaises(TTransport.TTransportException):
            c.set_ugi("carol", [])
        c._trans.close()
        c = connect(SERVERS["h3"].port)         # the server is still fine
        self.assertEqual(c.set_ugi("carol", ["x"]), ["x"])
        c._trans.close()

    def test_garbage_is_dropped(self):
        s = socket.create_connection(("127.0.0.1", SERVERS["h3"].port), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            self.assertEqual(s.recv(100), b"")      # closed without an answer
        except ConnectionResetError:
            pass
        s.close()
        c = connect(SERVERS["h3"].port)
        self.assertEqual(c.getName(), "h3")
        c._trans.close()

    def test_concurrent_connections(self):
        a = connect(SERVERS["h3"].port, "binary")
        b = connect(SERVERS["h3"].port, "compact")
        a.create_database(Database("conc", "", None, {}))
        self.assertEqual(b.get_database("CONC").name, "conc")
        b.drop_database("conc", False, False)
        with self.assertRaises(NoSuchObjectException):
            a.get_database("conc")
        a._trans.close()
        b._trans.close()

    def test_hive4(self):
        c = connect(SERVERS["h4"].port, "binary")
        self.assertEqual(c.getName(), "h4")
        c.create_table(table("default", "t4"))
        for call in (lambda: c.get_table("default", "t4"),
                     lambda: c.get_table_objects_by_name("default", ["t4"])):
            with self.assertRaises(TApplicationException) as cm:
                call()
            self.assertEqual(cm.exception.type, TApplicationException.UNKNOWN_METHOD)
            self.assertRegex(cm.exception.message,
                             r"^Invalid method name: 'get_table(_objects_by_name)?'$")
        # the connection stays usable and the _req forms answer
        r = c.get_table_req(GetTableRequest(dbName="default", tblName="t4"))
        self.assertEqual(r.table.tableName, "t4")
        r = c.get_table_objects_by_name_req(GetTablesRequest(dbName="default", tblNames=["t4"]))
        self.assertEqual([x.tableName for x in r.tables], ["t4"])
        c._trans.close()
        # the Hive 3-like instance serves get_table
        c = connect(SERVERS["h3"].port, "framed")
        with self.assertRaises(NoSuchObjectException):
            c.get_table("default", "t4")
        c._trans.close()

    def test_notifications(self):
        """The event log: ids after --event-base, one event per change with
        the message fields Hive's JSON encoder writes, and the filters of
        get_next_notification and get_notification_events_count."""
        c = connect(SERVERS["h3"].port)
        c.create_database(Database("notif", "", None, {}))
        first = c.get_next_notification(NotificationEventRequest(lastEvent=0, maxEvents=1))
        self.assertEqual([e.eventId for e in first.events], [7001])
        start = c.get_current_notificationEventId().eventId
        self.assertGreater(start, 7000)
        self.assertEqual(c.get_next_notification(NotificationEventRequest(lastEvent=start)).events,
                         [])

        c.create_table(table("NOTIF", "Ev", [FieldSchema("ds", "string", None)]))
        c.add_partitions([partition("notif", "ev", ["a"]), partition("notif", "ev", ["b"])])
        p = c.get_partition("notif", "ev", ["a"])
        p.parameters["x"] = "1"
        c.alter_partition("notif", "ev", p)
        c.drop_partition("notif", "ev", ["b"], False)
        c.create_table(table("default", "notif_side"))      # another database
        t = c.get_table("notif", "ev")
        t.parameters["y"] = "2"
        c.alter_table("notif", "ev", t)
        d = c.get_database("notif")
        d.description = "changed"
        c.alter_database("notif", d)
        c.drop_table("default", "notif_side", True)
        c.drop_table("notif", "ev", True)
        c.drop_database("notif", True, True)

        evs = c.get_next_notification(NotificationEventRequest(lastEvent=start)).events
        self.assertEqual([e.eventType for e in evs],
                         ["CREATE_TABLE", "ADD_PARTITION", "ALTER_PARTITION", "DROP_PARTITION",
                          "CREATE_TABLE", "ALTER_TABLE", "ALTER_DATABASE", "DROP_TABLE",
                          "DROP_TABLE", "DROP_DATABASE"])
        self.assertEqual([e.eventId for e in evs], list(range(start + 1, start + 11)))
        self.assertEqual(c.get_current_notificationEventId().eventId, start + 10)
        self.assertEqual([(e.dbName, e.tableName) for e in evs],
                         [("notif", "ev")] * 4 + [("default", "notif_side"), ("notif", "ev"),
                                                  ("notif", None), ("default", "notif_side"),
                                                  ("notif", "ev"), ("notif", None)])
        for e in evs:
            self.assertEqual((e.messageFormat, e.catName), ("json-0.2", "hive"))
            self.assertLess(abs(e.eventTime - time.time()), 60)
        msgs = [json.loads(e.message) for e in evs]
        self.assertEqual(list(msgs[0]), ["server", "servicePrincipal", "db", "table", "tableType",
                                         "tableObjJson", "timestamp", "files"])
        self.assertEqual((msgs[0]["db"], msgs[0]["table"], msgs[0]["tableType"]),
                         ("notif", "ev", "MANAGED_TABLE"))
        self.assertEqual(from_tjson(Table(), msgs[0]["tableObjJson"]).tableName, "ev")
        self.assertEqual(msgs[1]["partitions"], [{"ds": "a"}, {"ds": "b"}])
        self.assertEqual([from_tjson(Partition(), x).values for x in msgs[1]["partitionListJson"]],
                         [["a"], ["b"]])
        self.assertEqual(msgs[2]["keyValues"], {"ds": "a"})
        after = from_tjson(Partition(), msgs[2]["partitionObjAfterJson"])
        self.assertEqual(after.parameters["x"], "1")
        self.assertEqual(msgs[3]["partitions"], [{"ds": "b"}])
        before = from_tjson(Table(), msgs[5]["tableObjBeforeJson"])
        after = from_tjson(Table(), msgs[5]["tableObjAfterJson"])
        self.assertEqual((before.parameters.get("y"), after.parameters["y"]), (None, "2"))
        self.assertEqual(msgs[5]["isTruncateOp"], "false")
        self.assertEqual(from_tjson(Database(), msgs[6]["dbObjAfterJson"]).description, "changed")
        self.assertEqual((msgs[9]["db"], msgs[9]["cat"]), ("notif", "hive"))
        self.assertEqual(from_tjson(Database(), msgs[9]["dbJson"]).name, "notif")

        def nxt(**kw):
            r = c.get_next_notification(NotificationEventRequest(lastEvent=start, **kw))
            return [e.eventId - start for e in r.events]
        self.assertEqual(nxt(maxEvents=2), [1, 2])
        self.assertEqual(nxt(eventTypeSkipList=["ALTER_PARTITION", "ALTER_TABLE", "DROP_TABLE"]),
                         [1, 2, 4, 5, 7, 10])
        self.assertEqual(nxt(dbName="NOTIF"), [1, 2, 3, 4, 6, 7, 9, 10])
        self.assertEqual(nxt(dbName="notif", tableNames=["EV"]), [1, 2, 3, 4, 6, 9])
        self.assertEqual(nxt(catName="other"), [])

        def count(db, **kw):
            return c.get_notification_events_count(
                NotificationEventsCountRequest(fromEventId=start, dbName=db, **kw)).eventsCount
        self.assertEqual(count("notif"), 8)
        self.assertEqual(count("*"), 10)
        self.assertEqual(count("default"), 2)
        self.assertEqual(count("*", toEventId=start + 3), 3)
        self.assertEqual(count("*", limit=4), 4)
        self.assertEqual(count("notif", tableNames=["ev"]), 6)
        c._trans.close()

    def test_txns_and_locks(self):
        """DbTxnManager's calls on the Hive 3-like instance: ids after
        --txn-base / --lock-base, txn states and their errors, write ids and
        the ValidWriteIdList a client builds from them, Hive 3's lock queue,
        unlock with --strict-unlock, first-committer-wins on updates."""
        c = connect(SERVERS["h3"].port)
        d = connect(SERVERS["h3"].port, "compact")       # a second session
        begin = c.get_current_notificationEventId().eventId

        def open_txns(n=1, **kw):
            return c.open_txns(OpenTxnRequest(num_txns=n, user="alice", hostname="alice-host",
                                              **kw)).txn_ids
        def write_ids(txns, table="acid"):
            r = c.allocate_table_write_ids(AllocateTableWriteIdsRequest(
                dbName="default", tableName=table, txnIds=txns))
            return [(x.txnId, x.writeId) for x in r.txnToWriteIds]
        def valid(names, txns=None):
            r = c.get_valid_write_ids(GetValidWriteIdsRequest(fullTableNames=names,
                                                              validTxnList=txns))
            return [write_id_list(t) for t in r.tblValidWriteIds]

        t1, t2 = open_txns(2)
        self.assertEqual((t1, t2), (1001, 1002))
        info = c.get_open_txns_info()
        self.assertEqual(info.txn_high_water_mark, 1002)
        self.assertEqual([(x.id, x.state, x.user, x.hostname) for x in info.open_txns],
                         [(1001, TxnState.OPEN, "alice", "alice-host"),
                          (1002, TxnState.OPEN, "alice", "alice-host")])
        c.abort_txn(AbortTxnRequest(txnid=t2))
        c.abort_txn(AbortTxnRequest(txnid=t2))               # again: no error
        r = c.get_open_txns()
        self.assertEqual((r.txn_high_water_mark, r.open_txns, r.min_open_txn, r.abortedBits),
                         (1002, [1001, 1002], 1001, b"\x02"))
        self.assertEqual(txn_list(r), "1002:1001:1001:1002")
        for call, exc, msg in (
                (lambda: c.commit_txn(CommitTxnRequest(txnid=t2)), TxnAbortedException,
                 "Transaction txnid:1002 already aborted"),
                (lambda: c.commit_txn(CommitTxnRequest(txnid=999)), NoSuchTxnException,
                 "No such transaction txnid:999"),
                (lambda: c.abort_txn(AbortTxnRequest(txnid=999)), NoSuchTxnException,
                 "No such transaction txnid:999"),
                (lambda: c.heartbeat(HeartbeatRequest(txnid=t2)), TxnAbortedException,
                 "Transaction txnid:1002 already aborted"),
                (lambda: c.heartbeat(HeartbeatRequest(txnid=999)), NoSuchTxnException,
                 "No such transaction txnid:999"),
                (lambda: c.heartbeat(HeartbeatRequest(lockid=9999)), NoSuchLockException,
                 "No such lock: lockid:9999"),
                (lambda: c.check_lock(CheckLockRequest(lockid=9999)), NoSuchLockException,
                 "No such lock lockid:9999"),
                (lambda: c.unlock(UnlockRequest(lockid=9999)), NoSuchLockException,
                 "No such lock lockid:9999"),
                (lambda: c.lock(lock_req([(LockType.SHARED_READ, "default", "acid", None, None)],
                                         txnid=t2)), TxnAbortedException,
                 "Transaction txnid:1002 already aborted"),
                (lambda: c.lock(lock_req([(LockType.SHARED_READ, "default", "acid", None, None)],
                                         txnid=999)), NoSuchTxnException,
                 "No such transaction txnid:999")):
            with self.assertRaises(exc) as cm:
                call()
            self.assertEqual(cm.exception.message, msg)
        c.heartbeat(HeartbeatRequest(txnid=t1))

        # write ids: one sequence per table, kept per txn
        self.assertEqual(write_ids([t1]), [(1001, 1)])
        self.assertEqual(write_ids([t1]), [(1001, 1)])       # asked again: the same
        self.assertEqual(write_ids([t1], "other"), [(1001, 1)])
        for bad in ([999], [t2]):                            # unknown, aborted
            with self.assertRaises(TApplicationException) as cm:
                write_ids(bad)
            self.assertEqual(cm.exception.type, TApplicationException.INTERNAL_ERROR)
        t3, t4 = open_txns(2)
        self.assertEqual(write_ids([t4, t3]), [(1003, 2), (1004, 3)])

        # locks: Hive 3 lets a read share with a write, queues an exclusive
        # behind both and a second shared write behind the first
        upd = DataOperationType.UPDATE
        l1 = c.lock(lock_req([(LockType.SHARED_WRITE, "default", "ACID", None, upd)], txnid=t1))
        self.assertEqual((l1.lockid, l1.state), (501, LockState.ACQUIRED))
        l2 = d.lock(lock_req([(LockType.SHARED_READ, "default", "acid", None, None)], user="bob"))
        self.assertEqual((l2.lockid, l2.state), (502, LockState.ACQUIRED))
        l3 = d.lock(lock_req([(LockType.EXCLUSIVE, "default", None, None, None)], user="bob"))
        self.assertEqual(l3.state, LockState.WAITING)
        self.assertEqual(d.check_lock(CheckLockRequest(lockid=l3.lockid)).state,
                         LockState.WAITING)
        l4 = d.lock(lock_req([(LockType.SHARED_WRITE, "default", "acid", None,
                               DataOperationType.INSERT)], txnid=t3, user="bob"))
        self.assertEqual(l4.state, LockState.WAITING)
        locks = c.show_locks(ShowLocksRequest()).locks
        self.assertEqual([(x.lockid, x.state, x.type) for x in locks],
                         [(502, LockState.ACQUIRED, LockType.SHARED_READ),
                          (501, LockState.ACQUIRED, LockType.SHARED_WRITE),
                          (504, LockState.WAITING, LockType.SHARED_WRITE),
                          (503, LockState.WAITING, LockType.EXCLUSIVE)])
        self.assertEqual([(x.txnid, x.user, x.dbname, x.tablename) for x in locks],
                         [(0, "bob", "default", "acid"), (1001, "alice", "default", "acid"),
                          (1003, "bob", "default", "acid"), (0, "bob", "default", None)])
        self.assertEqual(locks[1].lastheartbeat, 0)          # a txn's lock lives by the txn
        self.assertGreater(locks[0].lastheartbeat, 0)
        self.assertIsNone(locks[3].acquiredat)
        self.assertIn(locks[3].blockedByExtId, (501, 502))
        self.assertEqual([x.lockid for x in c.show_locks(ShowLocksRequest(
            dbname="default", tablename="acid")).locks], [502, 501, 504])
        with self.assertRaises(TxnOpenException) as cm:
            c.unlock(UnlockRequest(lockid=501))
        self.assertTrue(cm.exception.message.startswith(
            "Unlocking locks associated with transaction not permitted.  lockid:501 "
            "intLockId:1 txnid:1001 db:default table:acid partition:null state:ACQUIRED "
            "type:SHARED_WRITE"), cm.exception.message)
        d.unlock(UnlockRequest(lockid=504))                  # a txn may withdraw a waiting lock
        with self.assertRaises(NoSuchLockException):
            d.check_lock(CheckLockRequest(lockid=504))
        d.heartbeat(HeartbeatRequest(lockid=502))
        d.unlock(UnlockRequest(lockid=502))
        self.assertEqual(d.check_lock(CheckLockRequest(lockid=503)).state, LockState.WAITING)

        # commit releases the txn's locks; the waiting exclusive gets its turn
        c.commit_txn(CommitTxnRequest(txnid=t1))
        c.commit_txn(CommitTxnRequest(txnid=t1))             # it wrote: a repeat is a no-op
        self.assertEqual(d.check_lock(CheckLockRequest(lockid=503)).state, LockState.ACQUIRED)
        d.unlock(UnlockRequest(lockid=503))
        self.assertEqual(c.show_locks(ShowLocksRequest()).locks, [])

        # ValidWriteIdLists: 1001 committed (write id 1), 1003 open (2),
        # 1004 aborted (3)
        c.abort_txn(AbortTxnRequest(txnid=t4))
        self.assertEqual(valid(["default.acid", "default.other", "default.none"]),
                         ["default.acid:3:2:2:3", "default.other:1:%d::" % LONG_MAX,
                          "default.none:0:%d::" % LONG_MAX])
        # as txn 1003 sees it: its own write is valid, later ones are not there
        snap = txn_list(c.get_open_txns(), current=t3)
        self.assertEqual(snap, "1003:%d::1002" % LONG_MAX)
        self.assertEqual(valid(["default.acid"], snap), ["default.acid:2:%d::" % LONG_MAX])
        c.commit_txn(CommitTxnRequest(txnid=t3))
        self.assertEqual(valid(["default.acid"]), ["default.acid:3:%d::3" % LONG_MAX])

        # a txn that wrote nothing is forgotten once committed
        t5, = open_txns()
        c.commit_txn(CommitTxnRequest(txnid=t5))
        with self.assertRaises(NoSuchTxnException) as cm:
            c.commit_txn(CommitTxnRequest(txnid=t5))
        self.assertEqual(cm.exception.message, "No such transaction txnid:1005")

        # two txns update the same partition: the second to commit aborts
        t6, t7 = open_txns(2)
        comp = [(LockType.SHARED_WRITE, "default", "acid", "ds=1", upd)]
        self.assertEqual(c.lock(lock_req(comp, txnid=t6)).state, LockState.ACQUIRED)
        l7 = d.lock(lock_req(comp, txnid=t7, user="bob"))
        self.assertEqual(l7.state, LockState.WAITING)
        c.commit_txn(CommitTxnRequest(txnid=t6))
        self.assertEqual(d.check_lock(CheckLockRequest(lockid=l7.lockid)).state,
                         LockState.ACQUIRED)
        with self.assertRaises(TxnAbortedException) as cm:
            d.commit_txn(CommitTxnRequest(txnid=t7))
        self.assertEqual(cm.exception.message,
                         "Aborting [txnid:1007,1007] due to a write conflict on default/acid/ds=1 "
                         "committed by [txnid:1006,1007] u/u")
        self.assertEqual(c.show_locks(ShowLocksRequest()).locks, [])
        with self.assertRaises(NoSuchTxnException):
            c.commit_txn(CommitTxnRequest(txnid=t6 + 100))

        # abort_txns passes over ids it cannot abort
        t8, = open_txns()
        c.abort_txns(AbortTxnsRequest(txn_ids=[t8, 99999, t6]))
        r = c.get_open_txns()
        self.assertEqual(r.open_txns, [1002, 1004, 1007, 1008])
        self.assertIsNone(r.min_open_txn)
        self.assertEqual(r.abortedBits, b"\x0f")

        # txn events carry no database; write id allocation names the table
        evs = c.get_next_notification(NotificationEventRequest(lastEvent=begin)).events
        opens = [e for e in evs if e.eventType == "OPEN_TXN"]
        self.assertEqual([(json.loads(e.message)["fromTxnId"], json.loads(e.message)["toTxnId"])
                          for e in opens], [(1001, 1002), (1003, 1004), (1005, 1005),
                                            (1006, 1007), (1008, 1008)])
        self.assertEqual({(e.dbName, e.tableName) for e in opens}, {(None, None)})
        alloc = [e for e in evs if e.eventType == "ALLOC_WRITE_ID_EVENT"]
        self.assertEqual([(e.dbName, e.tableName) for e in alloc],
                         [("default", "acid"), ("default", "other"), ("default", "acid")])
        self.assertEqual(json.loads(alloc[2].message)["writeIdList"], [2, 3])
        self.assertEqual([json.loads(e.message)["txnid"] for e in evs
                          if e.eventType == "ABORT_TXN"], [1002, 1004, 1008])
        self.assertEqual([json.loads(e.message)["txnid"] for e in evs
                          if e.eventType == "COMMIT_TXN"], [1001, 1003, 1005, 1006])
        c._trans.close()
        d._trans.close()

    def test_locks_hive4(self):
        """Hive 4's lock rules, zero-wait reads, read-only txns, unlock of an
        unknown lock, and ids starting at 1 without the base options."""
        c = connect(SERVERS["h4"].port)
        t1, t2, t3 = c.open_txns(OpenTxnRequest(num_txns=3, user="u", hostname="h")).txn_ids
        self.assertEqual((t1, t2, t3), (1, 2, 3))
        upd = DataOperationType.UPDATE

        def lock(comps, txnid=None, **kw):
            r = c.lock(lock_req(comps, txnid=txnid, **kw))
            return r.lockid, r.state
        self.assertEqual(lock([(LockType.SHARED_READ, "default", "x", None, None)]),
                         (1, LockState.ACQUIRED))
        # shared writes of two txns share a table in Hive 4
        self.assertEqual(lock([(LockType.SHARED_WRITE, "default", "x", None, upd)], t1),
                         (2, LockState.ACQUIRED))
        self.assertEqual(lock([(LockType.SHARED_WRITE, "default", "x", None, upd)], t2),
                         (3, LockState.ACQUIRED))
        self.assertEqual(lock([(LockType.EXCL_WRITE, "default", "x", None, upd)], t3),
                         (4, LockState.WAITING))
        self.assertEqual(lock([(LockType.EXCLUSIVE, "default", None, None, None)]),
                         (5, LockState.WAITING))
        blocked = {x.lockid: x.blockedByExtId for x in c.show_locks(ShowLocksRequest()).locks}
        self.assertEqual((blocked[4], blocked[5]), (2, 1))
        # a db-level read is not held up by an exclusive on one of its tables
        self.assertEqual(lock([(LockType.EXCLUSIVE, "zw", "y", None, None)]),
                         (6, LockState.ACQUIRED))
        self.assertEqual(lock([(LockType.SHARED_READ, "zw", None, None, None)]),
                         (7, LockState.ACQUIRED))
        t4, = c.open_txns(OpenTxnRequest(num_txns=1, user="u", hostname="h")).txn_ids
        r = c.lock(lock_req([(LockType.SHARED_READ, "zw", "y", None, None)], txnid=t4,
                            zeroWaitReadEnabled=True))
        self.assertEqual(r.state, LockState.NOT_ACQUIRED)
        self.assertTrue(r.errorMessage.startswith(
            "Unable to acquire read lock due to an existing exclusive lock {lockid:6 "),
            r.errorMessage)
        self.assertNotIn(8, [x.lockid for x in c.show_locks(ShowLocksRequest()).locks])
        c.unlock(UnlockRequest(lockid=12345))                # unknown: passes
        with self.assertRaises(TxnOpenException):
            c.unlock(UnlockRequest(lockid=2))
        # read-only txns stay out of the snapshot and get no write ids
        ro, = c.open_txns(OpenTxnRequest(num_txns=1, user="u", hostname="h",
                                         txn_type=TxnType.READ_ONLY)).txn_ids
        self.assertNotIn(ro, c.get_open_txns().open_txns)
        self.assertIn(ro, c.get_open_txns_req(GetOpenTxnsRequest(excludeTxnTypes=[])).open_txns)
        with self.assertRaises(TApplicationException):
            c.allocate_table_write_ids(AllocateTableWriteIdsRequest(
                dbName="default", tableName="x", txnIds=[ro]))
        for t in (t1, t2, t3, t4, ro):
            c.abort_txn(AbortTxnRequest(txnid=t))
        for lid in (1, 5, 6, 7):
            c.unlock(UnlockRequest(lockid=lid))
        self.assertEqual(c.show_locks(ShowLocksRequest()).locks, [])
        c._trans.close()

    def test_exchange_partitions(self):
        """exchange_partition(s) moves the matching partitions, also to another
        database, and refuses with HMSHandler's MetaExceptions."""
        c = connect(SERVERS["h3"].port)
        keys = [FieldSchema("ds", "string", None), FieldSchema("hr", "string", None)]
        for db in ("xch", "xch2"):
            c.create_database(Database(db, "", None, {}))
        c.create_table(table("xch", "src", keys))
        c.create_table(table("xch", "dst", keys))
        c.create_table(table("xch2", "far", keys))
        diff = table("xch", "diff", keys)
        diff.sd.cols = diff.sd.cols[:1]
        c.create_table(diff)
        c.add_partitions([partition("xch", "src", v) for v in (["1", "a"], ["1", "b"], ["2", "a"])])
        c.add_partition(partition("xch", "dst", ["2", "a"]))
        start = c.get_current_notificationEventId().eventId

        def names(db, tbl):
            return c.get_partition_names(db, tbl, -1)
        p = c.exchange_partition({"ds": "1"}, "xch", "src", "XCH", "Dst")
        self.assertEqual((p.values, p.dbName, p.tableName), (None, None, None))
        self.assertEqual(names("xch", "src"), ["ds=2/hr=a"])
        self.assertEqual(names("xch", "dst"), ["ds=1/hr=a", "ds=1/hr=b", "ds=2/hr=a"])
        q = c.get_partition("xch", "dst", ["1", "b"])
        self.assertEqual((q.dbName, q.tableName), ("xch", "dst"))
        self.assertTrue(q.sd.location.endswith("/xch.db/dst/ds=1/hr=b"), q.sd.location)
        evs = c.get_next_notification(NotificationEventRequest(lastEvent=start)).events
        self.assertEqual([(e.eventType, e.tableName) for e in evs],
                         [("ADD_PARTITION", "dst"), ("DROP_PARTITION", "src"),
                          ("DROP_PARTITION", "src")])
        self.assertEqual(json.loads(evs[0].message)["partitions"],
                         [{"ds": "1", "hr": "a"}, {"ds": "1", "hr": "b"}])

        moved = c.exchange_partitions({"ds": "1", "hr": "b"}, "xch", "dst", "xch2", "far")
        self.assertEqual([(x.values, x.dbName, x.tableName) for x in moved],
                         [(["1", "b"], "xch2", "far")])
        self.assertEqual(names("xch2", "far"), ["ds=1/hr=b"])

        for args, msg in (
                (({"ds": "2"}, "xch", "src", "xch", "dst"),
                 "The partition ds=2/hr=a already exists in the table dst"),
                (({"ds": "2"}, "xch", "src", "xch", "nope"),
                 "The destination table hive.xch.nope not found"),
                (({"ds": "2"}, "xch", "nope", "xch", "dst"),
                 "The source table hive.xch.nope not found"),
                (({"ds": "9"}, "xch", "src", "xch", "dst"),
                 "No partition is found with the values {ds=9} for the table src"),
                (({"ds": "2"}, "xch", "src", "xch", "diff"),
                 "The tables have different schemas. Their partitions cannot be exchanged.")):
            with self.assertRaises(MetaException) as cm:
                c.exchange_partitions(*args)
            self.assertEqual(cm.exception.message, msg)
        self.assertEqual(names("xch", "src"), ["ds=2/hr=a"])
        for db in ("xch", "xch2"):
            c.drop_database(db, True, True)
        c._trans.close()

    def test_keys(self):
        """Primary and foreign keys: create_table_with_constraints,
        add_primary_key, add_foreign_key (also across databases), the
        lookups by referenced and referring table, drop_constraint, and the
        checks and errors of ObjectStore."""
        c = connect(SERVERS["h3"].port)
        c.create_database(Database("keys", "", None, {}))
        start = c.get_current_notificationEventId().eventId

        def pk(tbl, col, seq, name=None, db="keys"):
            return SQLPrimaryKey(db, tbl, col, seq, name, True, False, True)

        def fk(col, seq, name="fk_dim", pcol=None, ptbl="dim"):
            return SQLForeignKey("keys", ptbl, pcol or col, "default", "fact_keys", col, seq, 0, 0,
                                 name, None, False, False, True)

        def pks(db, tbl):
            return c.get_primary_keys(PrimaryKeysRequest(db, tbl)).primaryKeys

        def fks(*names):
            return c.get_foreign_keys(ForeignKeysRequest(*names)).foreignKeys

        c.create_table_with_constraints(table("KEYS", "Dim"),
                                        [pk("Dim", "ID", 1), pk("dim", "name", 2)],
                                        [], [], [], [], [])
        got = pks("keys", "DIM")
        self.assertEqual([(x.table_db, x.table_name, x.column_name, x.key_seq) for x in got],
                         [("keys", "dim", "id", 1), ("keys", "dim", "name", 2)])
        pk_name = got[0].pk_name
        self.assertTrue(pk_name.startswith("pk_"), pk_name)
        self.assertEqual(got[1].pk_name, pk_name)
        self.assertEqual((got[0].enable_cstr, got[0].validate_cstr, got[0].rely_cstr,
                          got[0].catName), (True, False, True, "hive"))
        with self.assertRaises(MetaException) as cm:
            c.add_primary_key(AddPrimaryKeyRequest([pk("dim", "id", 1, "other")]))
        self.assertEqual(cm.exception.message, " Primary key already exists for: hive.keys.dim")

        # a table in another database refers to it
        c.create_table(table("default", "fact_keys"))
        c.add_foreign_key(AddForeignKeyRequest([fk("id", 1), fk("name", 2)]))
        want = [("keys", "dim", "id", "default", "fact_keys", "id", 1, "fk_dim", pk_name),
                ("keys", "dim", "name", "default", "fact_keys", "name", 2, "fk_dim", pk_name)]

        def rows(keys):
            return [(k.pktable_db, k.pktable_name, k.pkcolumn_name, k.fktable_db, k.fktable_name,
                     k.fkcolumn_name, k.key_seq, k.fk_name, k.pk_name) for k in keys]
        self.assertEqual(rows(fks("keys", "dim", None, None)), want)
        self.assertEqual(rows(fks(None, None, "DEFAULT", "fact_keys")), want)
        self.assertEqual(rows(fks("keys", "dim", "default", "fact_keys")), want)
        self.assertEqual(fks("keys", "dim", "keys", "fact_keys"), [])
        self.assertEqual(fks("default", "fact_keys", None, None), [])

        # what ObjectStore refuses
        c.create_table(table("keys", "nopk"))
        for req, msg in (
                ([fk("id", 1, "fk_x", ptbl="nopk")],
                 "Trying to define foreign key but there are no primary keys or unique keys "
                 "for referenced table"),
                ([fk("id", 1, "fk_x")],
                 "Foreign key references id:bigint; but no corresponding primary key or unique "
                 "key exists. Possible keys: [id:bigint;name:string;]")):
            with self.assertRaises(MetaException) as cm:
                c.add_foreign_key(AddForeignKeyRequest(req))
            self.assertEqual(cm.exception.message, msg)
        # InvalidObjectException is not declared by add_*: an internal error
        for call, method in (
                (lambda: c.add_foreign_key(AddForeignKeyRequest([fk("id", 1), fk("name", 2)])),
                 "add_foreign_key"),                                   # name taken
                (lambda: c.add_primary_key(AddPrimaryKeyRequest([pk("none", "id", 1)])),
                 "add_primary_key")):                                  # no table
            with self.assertRaises(TApplicationException) as cm:
                call()
            self.assertEqual((cm.exception.type, cm.exception.message),
                             (TApplicationException.INTERNAL_ERROR,
                              "Internal error processing " + method))
        # ... but create_table_with_constraints declares it; the table is not made
        with self.assertRaises(InvalidObjectException) as cm:
            c.create_table_with_constraints(table("keys", "bad"), [pk("bad", "nocol", 1)],
                                            [], [], [], [], [])
        self.assertEqual(cm.exception.message, "Parent column not found: nocol")
        with self.assertRaises(NoSuchObjectException):
            c.get_table("keys", "bad")

        c.drop_constraint(DropConstraintRequest("default", "fact_keys", "FK_DIM"))
        self.assertEqual(fks("keys", "dim", None, None), [])
        with self.assertRaises(NoSuchObjectException) as cm:
            c.drop_constraint(DropConstraintRequest("default", "fact_keys", "fk_dim"))
        self.assertEqual(cm.exception.message, "The constraint: fk_dim does not exist for the "
                                               "associated table: default.fact_keys")
        # keys follow a rename and go with the table
        c.add_foreign_key(AddForeignKeyRequest([fk("id", 1, None), fk("name", 2, None)]))
        gen = fks("keys", "dim", None, None)[0].fk_name
        self.assertTrue(gen.startswith("fk_"), gen)
        t = c.get_table("keys", "dim")
        t.tableName = "dim2"
        c.alter_table("keys", "dim", t)
        self.assertEqual(pks("keys", "dim"), [])
        self.assertEqual([x.table_name for x in pks("keys", "dim2")], ["dim2", "dim2"])
        self.assertEqual([k.pktable_name for k in fks(None, None, "default", "fact_keys")],
                         ["dim2", "dim2"])
        c.drop_table("keys", "dim2", True)
        self.assertEqual(fks(None, None, "default", "fact_keys"), [])

        evs = c.get_next_notification(NotificationEventRequest(lastEvent=start)).events
        self.assertEqual([(e.eventType, e.dbName, e.tableName) for e in evs][:5],
                         [("CREATE_TABLE", "keys", "dim"), ("ADD_PRIMARYKEY", "keys", "dim"),
                          ("CREATE_TABLE", "default", "fact_keys"),
                          ("ADD_FOREIGNKEY", "keys", "dim"), ("CREATE_TABLE", "keys", "nopk")])
        msg = json.loads(evs[1].message)
        self.assertEqual(list(msg), ["server", "servicePrincipal", "timestamp",
                                     "primaryKeyListJson"])
        self.assertEqual([from_tjson(SQLPrimaryKey(), x).column_name
                          for x in msg["primaryKeyListJson"]], ["id", "name"])
        self.assertIn(("DROP_CONSTRAINT", "default", "fact_keys"),
                      [(e.eventType, e.dbName, e.tableName) for e in evs])
        c.drop_table("default", "fact_keys", True)
        c.drop_database("keys", True, True)
        c._trans.close()

    def test_metaconf_per_connection(self):
        """setMetaConf changes the conf of the calling connection only, as
        HMSHandler keeps it per connection thread; a new connection starts
        from the server's values."""
        key = "hive.metastore.partition.name.whitelist.pattern"
        a = connect(SERVERS["h3"].port)
        b = connect(SERVERS["h3"].port, "framed")
        a.setMetaConf(key, "[a-z]*")
        self.assertEqual(a.getMetaConf(key), "[a-z]*")
        self.assertEqual(b.getMetaConf(key), "")
        with self.assertRaises(MetaException) as cm:
            b.setMetaConf("no.such.key", "x")
        self.assertEqual(cm.exception.message, "Invalid configuration key no.such.key")
        a._trans.close()
        a = connect(SERVERS["h3"].port)
        self.assertEqual(a.getMetaConf(key), "")
        a._trans.close()
        b._trans.close()

    def test_delay(self):
        """--delay-ms holds answers back, here only those of the methods
        named with --delay-methods."""
        def timed(call):
            t0 = time.monotonic()
            r = call()
            return r, time.monotonic() - t0
        c = connect(SERVERS["slow"].port)
        r, took = timed(c.getName)
        self.assertEqual(r, "slow")
        self.assertGreaterEqual(took, 0.25)
        r, took = timed(lambda: c.get_database("default"))
        self.assertEqual(r.name, "default")
        self.assertGreaterEqual(took, 0.25)
        r, took = timed(c.getStatus)
        self.assertEqual(r, fb_status.ALIVE)
        self.assertLess(took, 0.25)
        c._trans.close()
        # a client with a shorter read timeout gives up; the server lives on
        c = connect(SERVERS["slow"].port)
        c._trans._TBufferedTransport__trans.setTimeout(100)
        with self.assertRaises(TTransport.TTransportException):
            c.getName()
        c._trans.close()
        c = connect(SERVERS["slow"].port)
        self.assertEqual(c.getName(), "slow")
        c._trans.close()


def main():
    t0 = time.time()
    SERVERS["h3"] = MiniHms("h3", "--event-base", "7000", "--txn-base", "1000",
                            "--lock-base", "500", "--strict-unlock")
    SERVERS["h4"] = MiniHms("h4", "--hive4")
    SERVERS["slow"] = MiniHms("slow", "--delay-ms", "250",
                              "--delay-methods", "getName,get_database")
    try:
        for srv in SERVERS.values():
            srv.wait_ready()
        prog = unittest.main(argv=[sys.argv[0]] + REST, exit=False, verbosity=2)
        ok = prog.result.wasSuccessful()
    finally:
        for name, srv in SERVERS.items():
            t1 = time.time()
            rc = srv.stop()
            err = srv.proc.stderr.read()
            if os.environ.get("MINIHMS_TEST_VERBOSE"):
                print("--- minihms %s stderr:\n%s" % (name, err), file=sys.stderr)
            srv.proc.stdout.close()
            srv.proc.stderr.close()
            if rc != 0 or time.time() - t1 > 5:
                print("minihms %s: exit %s after SIGTERM (%.1fs)\n%s"
                      % (name, rc, time.time() - t1, err), file=sys.stderr)
                ok = False
    print("minihms self-test %s in %.1fs" % ("passed" if ok else "FAILED", time.time() - t0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
