#!/usr/bin/python3
"""Bad input against a running minidfs NameNode and DataNode.

Starts minidfs, then sends, each on its own connection: a bad magic, a wrong
IPC version, an unknown auth byte, an HTTP request, a frame length over the
limit, a truncated varint, a header without a call id, a call before the
connection context, an unknown method, an unknown protocol, and a request
message that is garbage protobuf. Each must get the FATAL/ERROR reply that
Hadoop gives (or a clean close), and after all of them a well-formed client
must still be served. The DataNode gets a bad version and garbage too.

usage: test_badinput.py MINIDFS_BINARY
       test_badinput.py --router FEDROUTER_BINARY MINIDFS_BINARY
With --router the same IPC checks run against a fedrouter in front of the
minidfs (the DataNode checks are left out: data does not pass the router).
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid

PROTO = b"org.apache.hadoop.hdfs.protocol.ClientProtocol"
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + name)
    else:
        failed += 1
        print("not ok - %s %s" % (name, detail))


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def zz(n):
    return (n << 1) ^ (n >> 31)


def field_bytes(num, b):
    return varint(num << 3 | 2) + varint(len(b)) + b


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def delim(b):
    return varint(len(b)) + b


def rpc_header(call_id, cid):
    return field_varint(1, 2) + field_varint(2, 0) + field_varint(3, zz(call_id) & 0xFFFFFFFF) + field_bytes(4, cid) + field_varint(5, 0)


def frame(body):
    return struct.pack(">I", len(body)) + body


def context(cid, user=b"alice"):
    ctx = field_bytes(2, field_bytes(1, user)) + field_bytes(3, PROTO)
    return frame(delim(rpc_header(-3, cid)) + delim(ctx))


def call(cid, call_id, method, param, protocol=PROTO):
    rh = field_bytes(1, method) + field_bytes(2, protocol) + field_varint(3, 1)
    return frame(delim(rpc_header(call_id, cid)) + delim(rh) + delim(param))


def read_varint(b, i):
    shift = v = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def parse_fields(b):
    i, out = 0, {}
    while i < len(b):
        tag, i = read_varint(b, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = read_varint(b, i)
        elif wt == 2:
            n, i = read_varint(b, i)
            v = b[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % wt)
        out[num] = v
    return out


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_reply(s):
    """Returns (header fields, payload bytes) or None when the server closed."""
    hdr = recv_exact(s, 4)
    if hdr is None:
        return None
    (n,) = struct.unpack(">I", hdr)
    body = recv_exact(s, n)
    hlen, i = read_varint(body, 0)
    fields = parse_fields(body[i:i + hlen])
    return fields, body[i + hlen:]


def closed(s):
    try:
        s.settimeout(5)
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def exc_class(fields):
    return fields.get(4, b"").decode()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_router(router_bin, nn_addr, d):
    """Starts fedrouter with nn_addr as its default nameservice; returns (proc, port)."""
    port, admin = free_port(), free_port()
    with open(d + "/router.ini", "w") as f:
        f.write("[router]\nid = bad\nhdfs.listen = 127.0.0.1:%d\nadmin.listen = 127.0.0.1:%d\n"
                "hms.listen = off\nworkers = 1\ndefault.nameservice = ns1\n"
                "[nameservice ns1]\nnamenodes = %s\n" % (port, admin, nn_addr))
    rp = subprocess.Popen([router_bin, "-c", d + "/router.ini"], stdout=subprocess.PIPE,
                          stderr=open(d + "/router.err", "w"), text=True)
    line = rp.stdout.readline()
    assert line.startswith("ready "), line
    return rp, port


def main():
    router_bin = None
    if sys.argv[1] == "--router":
        router_bin = sys.argv[2]
        binary = sys.argv[3]
    else:
        binary = sys.argv[1]
    d = tempfile.mkdtemp()
    p = subprocess.Popen([binary, "--nn-port", "0", "--dn-port", "0", "--data-dir", d + "/data",
                          "--nameservice", "bad"], stdout=subprocess.PIPE, stderr=open(d + "/err", "w"), text=True)
    rp = None
    try:
        line = p.stdout.readline()
        assert line.startswith("ready "), line
        parts = dict(kv.split("=", 1) for kv in line.split()[1:])
        nn = int(parts["nn"].rsplit(":", 1)[1])
        dn = int(parts["dn"].rsplit(":", 1)[1])
        if router_bin:
            rp, nn = start_router(router_bin, parts["nn"], d)
        cid = uuid.uuid4().bytes

        s = connect(nn)
        s.sendall(b"hxpc\x09\x00\x00")
        check("bad magic closes", closed(s))

        s = connect(nn)
        s.sendall(b"hrpc\x08\x00\x00")
        r = read_reply(s)
        check("wrong version gets VersionMismatch", r is not None and exc_class(r[0]) == "org.apache.hadoop.ipc.RPC$VersionMismatch"
              and r[0].get(2) == 2 and r[0].get(6) == 14, repr(r))
        check("wrong version then closes", closed(s))

        s = connect(nn)
        s.sendall(b"hrpc\x09\x00\x07")
        r = read_reply(s)
        check("unknown auth byte is FATAL", r is not None and r[0].get(2) == 2, repr(r))

        s = connect(nn)
        s.sendall(b"GET / HTTP/1.1\r\n\r\n")
        data = s.recv(4096)
        check("HTTP request gets a plain-text answer", b"Hadoop IPC port" in data, repr(data[:80]))

        s = connect(nn)
        s.sendall(b"hrpc\x09\x00\x00" + struct.pack(">I", 0x7FFFFFF0))
        r = read_reply(s)
        check("huge frame length is FATAL and closes", r is not None and r[0].get(2) == 2 and closed(s), repr(r))

        s = connect(nn)
        s.sendall(b"hrpc\x09\x00\x00" + frame(b"\xff\xff\xff"))
        r = read_reply(s)
        check("truncated varint is FATAL_INVALID_RPC_HEADER", r is not None and r[0].get(6) == 12 and closed(s), repr(r))

        s = connect(nn)
        s.sendall(b"hrpc\x09\x00\x00" + frame(delim(field_varint(1, 2))))
        r = read_reply(s)
        check("header without call id is FATAL", r is not None and r[0].get(2) == 2, repr(r))

        s = connect(nn)
        s.sendall(b"hrpc\x09\x00\x00" + call(cid, 0, b"getFileInfo", field_bytes(1, b"/")))
        r = read_reply(s)
        check("call before context is FATAL", r is not None and r[0].get(2) == 2, repr(r))

        s = connect(nn)
        s.sendall(b"hrpc\x09\x00\x00" + context(cid) + call(cid, 0, b"noSuchMethod", b""))
        r = read_reply(s)
        check("unknown method gets RpcNoSuchMethodException", r is not None and exc_class(r[0]) ==
              "org.apache.hadoop.ipc.RpcNoSuchMethodException" and r[0].get(6) == 2 and r[0].get(1) == 0, repr(r))
        # The connection stays usable after an ERROR reply.
        s.sendall(call(cid, 1, b"getFileInfo", field_bytes(1, b"/")))
        r = read_reply(s)
        check("connection usable after an ERROR", r is not None and r[0].get(2) == 0 and r[0].get(1) == 1, repr(r))

        s = connect(nn)
        s.sendall(b"hrpc\x09\x00\x00" + context(cid) + call(cid, 5, b"getFileInfo", b"", protocol=b"x.Nope"))
        r = read_reply(s)
        check("unknown protocol gets RpcNoSuchProtocolException", r is not None and exc_class(r[0]) ==
              "org.apache.hadoop.ipc.RpcNoSuchProtocolException", repr(r))

        s = connect(nn)
        s.sendall(b"hrpc\x09\x00\x00" + context(cid) + call(cid, 7, b"getFileInfo", b"\x0a\xff\xff\xff\x0f"))
        r = read_reply(s)
        check("garbage protobuf gets a clean error", r is not None and r[0].get(2) in (1, 2) and r[0].get(1) in (7, 0xFFFFFFFF), repr(r))

        s = connect(nn)
        s.sendall(b"hrpc\x09\x00\x00" + context(cid) + call(cid, 8, b"getFileInfo", b""))
        r = read_reply(s)
        check("missing required field gets a clean error", r is not None and r[0].get(2) == 1, repr(r))

        s = connect(nn)
        s.sendall(b"hrpc\x09\x00\x00" + context(cid) + context(cid))
        r = read_reply(s)
        check("second context is FATAL", r is not None and r[0].get(2) == 2, repr(r))

        # Half a frame, then the peer goes away: nothing to answer, nothing leaks.
        s = connect(nn)
        s.sendall(b"hrpc\x09\x00\x00" + context(cid)[:5])
        s.close()

        if not router_bin:
            # DataNode: wrong transfer version, then garbage.
            s = connect(dn)
            s.sendall(b"\x00\x01\x51" + b"\x00" * 8)
            data = b""
            s.settimeout(5)
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except (ConnectionResetError, socket.timeout):
                pass
            # A DataNode answers a version mismatch with an ERROR status, then closes.
            check("datanode: wrong version gets an error, then a close", b"Version Mismatch" in data, repr(data))
            s = connect(dn)
            s.sendall(b"\x00\x1c\x51\xff\xff\xff\xff\xff")
            check("datanode: garbage op closes", closed(s))

        # After all that, a good client is served.
        s = connect(nn)
        s.sendall(b"hrpc\x09\x00\x00" + context(cid) + call(cid, 0, b"getFileInfo", field_bytes(1, b"/")))
        r = read_reply(s)
        ok = r is not None and r[0].get(2) == 0 and r[0].get(1) == 0
        if ok:
            resp = parse_fields(r[1][read_varint(r[1], 0)[1]:])
            ok = 1 in resp  # fs present: / exists
        check("a good client is still served", ok, repr(r))
        check("server still running", p.poll() is None)
        if rp:
            check("router still running", rp.poll() is None)
    finally:
        if rp:
            rp.terminate()
            try:
                rrc = rp.wait(10)
            except subprocess.TimeoutExpired:
                rp.kill()
                rrc = -9
            check("router: clean exit on SIGTERM", rrc == 0, "rc=%s" % rrc)
            if failed:
                sys.stderr.write(open(d + "/router.err").read()[-4000:])
        p.terminate()
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = -9
        check("clean exit on SIGTERM", rc == 0, "rc=%s" % rc)
        if failed:
            sys.stderr.write(open(d + "/err").read()[-4000:])
        subprocess.call(["rm", "-rf", d])
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
