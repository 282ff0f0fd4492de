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
    AddPartitionsRequest, AlreadyExistsException, ColumnStatistics,
    ColumnStatisticsData, ColumnStatisticsDesc, ColumnStatisticsObj,
    ConfigValSecurityException, Database, EnvironmentContext, FieldSchema,
    Function, FunctionType, GetTableRequest, GetTablesRequest,
    GetPartitionsByNamesRequest, InvalidOperationException,
    LongColumnStatsData, MetaException, NoSuchObjectException,
    NotificationEventRequest, NotificationEventsCountRequest, Partition,
    PartitionsStatsRequest, PrincipalType, SerDeInfo, StorageDescriptor,
    StringColumnStatsData, Table, TableStatsRequest, UnknownTableException)
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
    SERVERS["h3"] = MiniHms("h3", "--event-base", "7000")
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
