#!/usr/bin/env python3
"""Test vectors for test_thrift_walk, encoded by the Apache Thrift Python
library (TBinaryProtocol, TCompactProtocol), the independent encoder the C
walker is checked against.

Each message is built as a generic value tree, written with the library's
protocol calls, then the same string mapping the C test uses is applied to the
tree at the vector's paths and the tree is written again: that is the byte
string the C rewriter must produce. Output, one vector per line:

  vec NAME PROTO PATHS COUNT MESSAGE_HEX EXPECTED_HEX

PROTO is b or c; PATHS is paths separated by ';', steps by '.', with E, K, V
for list/set element, map key, map value; COUNT is how many strings the
paths reach; EXPECTED_HEX is '=' when the mapping changes nothing.
"""
import sys

from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.protocol.TCompactProtocol import TCompactProtocol
from thrift.protocol.TProtocol import TType
from thrift.Thrift import TApplicationException, TMessageType
from thrift.transport.TTransport import TMemoryBuffer

# ---- a generic value tree: (ttype, payload) ----


def S(s):
    return (TType.STRING, s.encode() if isinstance(s, str) else s)


def I32(n):
    return (TType.I32, n)


def I16(n):
    return (TType.I16, n)


def I64(n):
    return (TType.I64, n)


def BYTE(n):
    return (TType.BYTE, n)


def BOOL(b):
    return (TType.BOOL, b)


def DBL(d):
    return (TType.DOUBLE, d)


def ST(*fields):
    return (TType.STRUCT, list(fields))


def LIST(et, items):
    return (TType.LIST, (et, list(items)))


def SET(et, items):
    return (TType.SET, (et, list(items)))


def MAP(kt, vt, pairs):
    return (TType.MAP, (kt, vt, list(pairs)))


def write(p, v):
    t, x = v
    if t == TType.STRING:
        p.writeBinary(x)
    elif t == TType.I32:
        p.writeI32(x)
    elif t == TType.I16:
        p.writeI16(x)
    elif t == TType.I64:
        p.writeI64(x)
    elif t == TType.BYTE:
        p.writeByte(x)
    elif t == TType.BOOL:
        p.writeBool(x)
    elif t == TType.DOUBLE:
        p.writeDouble(x)
    elif t == TType.STRUCT:
        p.writeStructBegin("s")
        for fid, fv in x:
            p.writeFieldBegin("f", fv[0], fid)
            write(p, fv)
            p.writeFieldEnd()
        p.writeFieldStop()
        p.writeStructEnd()
    elif t in (TType.LIST, TType.SET):
        et, items = x
        (p.writeListBegin if t == TType.LIST else p.writeSetBegin)(et, len(items))
        for e in items:
            write(p, e)
        (p.writeListEnd if t == TType.LIST else p.writeSetEnd)()
    elif t == TType.MAP:
        kt, vt, pairs = x
        p.writeMapBegin(kt, vt, len(pairs))
        for k, val in pairs:
            write(p, k)
            write(p, val)
        p.writeMapEnd()
    else:
        raise ValueError(t)


def encode(proto, name, mtype, seqid, body, strict=True):
    t = TMemoryBuffer()
    if proto == "b":
        p = TBinaryProtocol(t, strictRead=False, strictWrite=strict)
    else:
        p = TCompactProtocol(t)
    p.writeMessageBegin(name, mtype, seqid)
    write(p, body)
    p.writeMessageEnd()
    return t.getvalue()


# ---- the mapping (the C test has the same one) ----


def mapping(s):
    if s.startswith(b"db"):
        return b"hive_" + s
    if s.startswith(b"+"):
        return s + s
    if s.startswith(b"-"):
        return s[: (len(s) + 1) // 2]
    return s


def apply(v, path, count):
    """Maps the strings at path inside v; returns the new value."""
    t, x = v
    if not path:
        if t == TType.STRING:
            count[0] += 1
            return (t, mapping(x))
        return v
    step, rest = path[0], path[1:]
    if t == TType.STRUCT and isinstance(step, int):
        return (t, [(fid, apply(fv, rest, count) if fid == step else fv) for fid, fv in x])
    if t in (TType.LIST, TType.SET) and step == "E":
        et, items = x
        return (t, (et, [apply(e, rest, count) for e in items]))
    if t == TType.MAP and step in ("K", "V"):
        kt, vt, pairs = x
        out = []
        for k, val in pairs:
            if step == "K":
                k = apply(k, rest, count)
            else:
                val = apply(val, rest, count)
            out.append((k, val))
        return (t, (kt, vt, out))
    return v


def parse_paths(text):
    paths = []
    for p in text.split(";"):
        paths.append([s if s in ("E", "K", "V") else int(s) for s in p.split(".")])
    return paths


# ---- HMS-like shapes ----


def field_schema(name, typ):
    return ST((1, S(name)), (2, S(typ)), (3, S("comment " + name)))


def storage_descriptor(loc, ncols=4):
    return ST(
        (1, LIST(TType.STRUCT, [field_schema("c%d" % i, "string") for i in range(ncols)])),
        (2, S(loc)),
        (3, S("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat")),
        (4, S("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat")),
        (5, BOOL(False)),
        (6, I32(-1)),
        (7, ST((1, S("ser")), (2, S("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")),
               (3, MAP(TType.STRING, TType.STRING, [(S("serialization.format"), S("1"))])))),
        (8, LIST(TType.STRING, [])),
        (9, LIST(TType.STRUCT, [])),
        (10, MAP(TType.STRING, TType.STRING, [])),
        (12, BOOL(True)),
    )


def table(db, name):
    return ST(
        (1, S(name)),
        (2, S(db)),
        (3, S("alice")),
        (4, I32(1700000000)),
        (5, I32(0)),
        (6, I32(0)),
        (7, storage_descriptor("hdfs://ns1/warehouse/%s.db/%s" % (db, name))),
        (8, LIST(TType.STRUCT, [field_schema("ds", "string")])),
        (9, MAP(TType.STRING, TType.STRING, [(S("transient_lastDdlTime"), S("1700000000")),
                                             (S("numFiles"), S("3"))])),
        (12, S("MANAGED_TABLE")),
        (14, BOOL(False)),
        (17, S("hive")),
        (18, I16(7)),
    )


def partition(db, tbl, i):
    return ST(
        (1, LIST(TType.STRING, [S("2024-01-%02d" % (i % 28 + 1)), S("h%d" % (i % 24))])),
        (2, S(db)),
        (3, S(tbl)),
        (4, I32(1700000000 + i)),
        (5, I32(0)),
        (6, storage_descriptor("hdfs://ns1/warehouse/%s.db/%s/ds=%d" % (db, tbl, i), 3)),
        (7, MAP(TType.STRING, TType.STRING, [(S("numRows"), S(str(i * 10))), (S("totalSize"), S("4096"))])),
        (9, S("hive")),
    )


def nested(depth, leaf):
    v = ST((1, S(leaf)))
    for _ in range(depth - 1):
        v = ST((1, v), (2, I32(depth)))
    return v


CALL, REPLY, EXC, ONEWAY = TMessageType.CALL, TMessageType.REPLY, TMessageType.EXCEPTION, TMessageType.ONEWAY

VECTORS = [
    # name, method, type, seqid, body, paths
    ("get_database", "get_database", CALL, 1, ST((1, S("db_sales"))), "1"),
    ("get_database_plain", "get_database", CALL, 2, ST((1, S("sales"))), "1"),
    ("get_database_neg_seqid", "get_database", CALL, -5, ST((1, S("db_x"))), "1"),
    ("get_database_max_seqid", "get_database", CALL, 2147483647, ST((1, S("-shrunk"))), "1"),
    ("get_table", "get_table", CALL, 3, ST((1, S("db_sales")), (2, S("orders"))), "1"),
    ("get_table_reply", "get_table", REPLY, 3, ST((0, table("db_sales", "orders"))), "0.2"),
    ("get_table_objects_by_name", "get_table_objects_by_name", REPLY, 4,
     ST((0, LIST(TType.STRUCT, [table("db_a", "t1"), table("other", "t2"), table("db_b", "t3")]))), "0.E.2"),
    ("gtobn_call", "get_table_objects_by_name", CALL, 4,
     ST((1, S("db_a")), (2, LIST(TType.STRING, [S("t1"), S("t2")]))), "1"),
    ("get_partitions_by_names", "get_partitions_by_names", REPLY, 9,
     ST((0, LIST(TType.STRUCT, [partition("db_web", "clicks", i) for i in range(30)]))), "0.E.2"),
    ("partitions_two_paths", "get_partitions_by_names", REPLY, 9,
     ST((0, LIST(TType.STRUCT, [partition("db_web", "+clicks", i) for i in range(5)]))), "0.E.2;0.E.3"),
    ("set_ugi", "set_ugi", CALL, 1,
     ST((1, S("alice")), (2, LIST(TType.STRING, [S("+grp%d" % i) for i in range(20)]))), "2.E"),
    ("set_ugi_reply", "set_ugi", REPLY, 1, ST((0, LIST(TType.STRING, [S("db1"), S("x"), S("db2")]))), "0.E"),
    ("set_of_strings", "m", CALL, 7, ST((1, SET(TType.STRING, [S("db_%d" % i) for i in range(16)]))), "1.E"),
    ("map_keys_values", "m", CALL, 8,
     ST((1, MAP(TType.STRING, TType.LIST,
                [(S("db_k%d" % i), LIST(TType.STRUCT, [ST((1, S("+v%d" % j)), (2, I64(-j))) for j in range(3)]))
                 for i in range(4)]))), "1.K;1.V.E.1"),
    ("map_struct_values", "m", REPLY, 8,
     ST((0, MAP(TType.I32, TType.STRUCT, [(I32(i), table("db_m", "t%d" % i)) for i in range(3)]))), "0.V.2"),
    ("list_of_lists", "m", CALL, 9,
     ST((1, LIST(TType.LIST, [LIST(TType.STRING, [S("db_%d_%d" % (i, j)) for j in range(i)]) for i in range(5)]))),
     "1.E.E"),
    # Varint lengths across 127/128 (compact): 64 -> 128, 127 -> 254, 200 -> 100, 255 -> 128.
    ("grow_shrink", "m", CALL, 10,
     ST((1, S("+" + "a" * 63)), (2, S("+" + "b" * 126)), (3, S("-" + "c" * 199)), (4, S("-" + "d" * 254)),
        (5, S("+")), (6, S("")), (7, S("db" + "e" * 125))), "1;2;3;4;5;6;7"),
    ("big_string", "m", CALL, 11, ST((1, S("+" + "z" * 70000))), "1"),
    # Unknown fields of every type around the strings, copied unchanged.
    ("unknown_fields", "m", CALL, 12,
     ST((-3, I32(-1)), (1, ST((9, S("db_not_me")), (2, S("db_me")), (3, BOOL(True)), (4, BOOL(False)))),
        (5, ST((2, S("db_not_me_either")))), (6, DBL(-2.5)), (7, BYTE(-7)), (8, I16(-32768)),
        (9, I64(-(2 ** 63))), (10, LIST(TType.BOOL, [BOOL(True), BOOL(False), BOOL(True)])),
        (11, MAP(TType.I32, TType.BOOL, [(I32(1), BOOL(False)), (I32(-2), BOOL(True))])),
        (12, SET(TType.DOUBLE, [DBL(1.0)])), (13, LIST(TType.STRUCT, [ST()])),
        (14, MAP(TType.STRING, TType.STRING, [])), (200, S("db_far")), (20, BOOL(True)), (-1, S("db_neg")),
        (32767, I16(1))), "1.2;200;-1"),
    ("out_of_order", "m", CALL, 13, ST((3, S("db_3")), (1, S("db_1")), (2, BOOL(True)), (1, S("db_again"))), "1;3"),
    ("type_mismatch", "m", CALL, 14, ST((1, S("db_str")), (2, ST((1, S("db_inner")))), (3, I32(5))), "1.E;2;3;2.1.1;2.1"),
    ("empty_body", "ping", CALL, 15, ST(), "1"),
    ("empty_containers", "m", REPLY, 16,
     ST((0, LIST(TType.STRUCT, [])), (1, MAP(TType.STRING, TType.STRING, [])), (2, SET(TType.STRING, []))),
     "0.E.2;1.K;1.V;2.E"),
    ("long_list", "m", REPLY, 17, ST((0, LIST(TType.STRING, [S("db%d" % i) for i in range(300)]))), "0.E"),
    # 64 levels, the most the default limit allows (the C test checks 65).
    ("deep_64", "m", CALL, 18, nested(64, "db_deep"), ".".join(["1"] * 16)),
    ("oneway_shutdown", "shutdown", ONEWAY, 19, ST(), "1"),
    ("version_reply", "getVersion", REPLY, 20, ST((0, S("+3.1.2"))), "0"),
    ("no_such_object", "get_database", REPLY, 21, ST((1, ST((1, S("db_gone not found"))))), "1.1"),
    ("binary_bytes", "m", CALL, 22, ST((1, S(bytes(range(256)))), (2, S(b"db\x00\xff"))), "1;2"),
]


def main():
    out = sys.stdout
    for name, method, mtype, seqid, body, ptext in VECTORS:
        for proto in ("b", "c"):
            msg = encode(proto, method, mtype, seqid, body)
            count = [0]
            new = body
            for p in parse_paths(ptext):
                new = apply(new, p, count)
            exp = encode(proto, method, mtype, seqid, new)
            out.write("vec %s %s %s %d %s %s\n" % (name, proto, ptext, count[0], msg.hex(),
                                                   "=" if exp == msg else exp.hex()))
    # An old-style (non-strict) binary header.
    body = ST((1, S("db_old")))
    msg = encode("b", "get_database", CALL, 23, body, strict=False)
    exp = encode("b", "get_database", CALL, 23, apply(body, [1], [0]), strict=False)
    out.write("vec old_header b 1 1 %s %s\n" % (msg.hex(), exp.hex()))
    # TApplicationException as the Python library writes it.
    for proto in ("b", "c"):
        t = TMemoryBuffer()
        p = TBinaryProtocol(t) if proto == "b" else TCompactProtocol(t)
        p.writeMessageBegin("get_table", EXC, 24)
        TApplicationException(TApplicationException.UNKNOWN_METHOD, "db Invalid method name: 'get_table'").write(p)
        p.writeMessageEnd()
        msg = t.getvalue()
        t2 = TMemoryBuffer()
        p2 = TBinaryProtocol(t2) if proto == "b" else TCompactProtocol(t2)
        p2.writeMessageBegin("get_table", EXC, 24)
        TApplicationException(TApplicationException.UNKNOWN_METHOD,
                              "hive_db Invalid method name: 'get_table'").write(p2)
        p2.writeMessageEnd()
        out.write("vec app_exception %s 1 1 %s %s\n" % (proto, msg.hex(), t2.getvalue().hex()))


if __name__ == "__main__":
    main()
