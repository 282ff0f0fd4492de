#!/usr/bin/python3
"""hms_setup.py: the metastore content the benchmark reads.

    hms_setup.py GEN_PY_DIR HOST:PORT DB TABLE NPARTS

Connects to a metastore (unframed binary Thrift, as the bench does) and
creates database DB, a table DB.TABLE partitioned by `ds` (string) and NPARTS
partitions ds=2026-01-01, ds=2026-01-02, ... in one add_partitions call.
GEN_PY_DIR is the Python client generated at build time (<build>/hms-thrift/
gen-py). Prints `created DB.TABLE partitions=N` (N as get_partition_names
counts them); exit 1 on any failure.
"""
import datetime
import sys


def main(argv):
    if len(argv) != 6:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    gen_py, addr, db, name, nparts = argv[1], argv[2], argv[3], argv[4], int(argv[5])
    sys.path.insert(0, gen_py)
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport
    from hive_metastore import ThriftHiveMetastore
    from hive_metastore.ttypes import Database, FieldSchema, Partition, SerDeInfo, StorageDescriptor, Table

    host, port = addr.rsplit(":", 1)
    sock = TSocket.TSocket(host, int(port))
    sock.setTimeout(30000)
    trans = TTransport.TBufferedTransport(sock)
    trans.open()
    c = ThriftHiveMetastore.Client(TBinaryProtocol.TBinaryProtocol(trans))

    location = "file:/warehouse/%s.db/%s" % (db, name)

    def sd(loc):
        return StorageDescriptor(
            cols=[FieldSchema("id", "bigint", ""), FieldSchema("amount", "decimal(12,2)", ""),
                  FieldSchema("note", "string", "")],
            location=loc,
            inputFormat="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            outputFormat="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            serdeInfo=SerDeInfo("p", "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe", {}),
            parameters={})

    c.create_database(Database(db, "benchmark data", "file:/warehouse/%s.db" % db, {}))
    c.create_table(Table(tableName=name, dbName=db, owner="bench", createTime=0, lastAccessTime=0, retention=0,
                         sd=sd(location), partitionKeys=[FieldSchema("ds", "string", "")],
                         parameters={"EXTERNAL": "FALSE"}, tableType="MANAGED_TABLE"))
    first = datetime.date(2026, 1, 1)
    days = [(first + datetime.timedelta(days=i)).isoformat() for i in range(nparts)]
    c.add_partitions([Partition(values=[d], dbName=db, tableName=name, createTime=0, lastAccessTime=0,
                                sd=sd("%s/ds=%s" % (location, d)), parameters={"numRows": "1000"})
                      for d in days])
    got = len(c.get_partition_names(db, name, -1))
    trans.close()
    if got != nparts:
        print("hms_setup: %s.%s has %d partitions, not %d" % (db, name, got, nparts), file=sys.stderr)
        return 1
    print("created %s.%s partitions=%d" % (db, name, got))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as e:  # any failed call: say which, exit 1
        print("hms_setup: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
