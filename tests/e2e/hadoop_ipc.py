"""hadoop_ipc: a small Hadoop IPC client for the Python tests (SIMPLE auth,
one call at a time), with protobuf modules generated at test time from our
own .proto files by Debian's protoc.

    C = hadoop_ipc.load_protos(tmpdir)      # one namespace of messages/enums
    conn = hadoop_ipc.Conn(C, "host:port", "alice")
    resp = conn.call("getFileInfo", C.GetFileInfoRequestProto(src="/"), C.GetFileInfoResponseProto)
"""
import os
import socket
import struct
import subprocess
import sys
import uuid

PROTOCOL = "org.apache.hadoop.hdfs.protocol.ClientProtocol"
PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hdfs-proto", "proto")


def load_protos(tmp):
    """Generates the Python modules of hdfs-proto/proto into tmp and returns
    one namespace holding every message and enum of the ones used here."""
    out = os.path.join(tmp, "py")
    os.makedirs(out, exist_ok=True)
    protos = sorted(os.path.join(PROTO_DIR, f) for f in os.listdir(PROTO_DIR) if f.endswith(".proto"))
    r = subprocess.run(["protoc", "--python_out=" + out, "-I", PROTO_DIR] + protos,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("protoc failed: %s" % r.stderr.strip())
    sys.path.insert(0, out)
    import ClientNamenodeProtocol_pb2 as cnp
    import IpcConnectionContext_pb2 as ipcctx
    import ProtobufRpcEngine_pb2 as engine
    import RpcHeader_pb2 as rpch
    import acl_pb2 as acl
    import hdfs_pb2 as hdfs
    import xattr_pb2 as xattr

    class NS:
        pass
    ns = NS()
    for mod in (acl, hdfs, xattr, cnp, rpch, engine, ipcctx):
        for k in dir(mod):
            if not k.startswith("_"):
                setattr(ns, k, getattr(mod, k))
    return ns


class RemoteError(Exception):
    def __init__(self, cls, msg):
        super().__init__("%s: %s" % (cls, msg))
        self.cls = cls
        self.msg = msg


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(buf, pos):
    shift = result = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint in a reply")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


class Conn:
    """One IPC connection; calls one after another."""

    def __init__(self, C, addr, user, timeout=20, source=None):
        host, port = addr.rsplit(":", 1)
        host = host.strip("[]")  # an IPv6 literal, as "[::1]:8020"
        self.C = C
        self.addr = addr
        self.sock = socket.create_connection((host, int(port)), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client_id = uuid.uuid4().bytes
        self.next_id = 0
        ctx = C.IpcConnectionContextProto()
        ctx.userInfo.effectiveUser = user
        ctx.protocol = PROTOCOL
        self.sock.sendall(b"hrpc\x09\x00\x00" + self._frame(self._header(-3), ctx.SerializeToString()))

    def _header(self, call_id):
        C = self.C
        h = C.RpcRequestHeaderProto()
        h.rpcKind = C.RPC_PROTOCOL_BUFFER
        h.rpcOp = C.RpcRequestHeaderProto.RPC_FINAL_PACKET
        h.callId = call_id
        h.clientId = self.client_id
        h.retryCount = 0
        return h.SerializeToString()

    @staticmethod
    def _frame(*parts):
        body = b"".join(varint(len(p)) + p for p in parts)
        return struct.pack(">I", len(body)) + body

    def _recv(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("%s closed the connection" % self.addr)
            buf += chunk
        return bytes(buf)

    def raw(self, method, req_bytes):
        """(response header, payload bytes or None). Raises on transport trouble."""
        C = self.C
        call_id = self.next_id
        self.next_id += 1
        rh = C.RequestHeaderProto()
        rh.methodName = method
        rh.declaringClassProtocolName = PROTOCOL
        rh.clientProtocolVersion = 1
        self.sock.sendall(self._frame(self._header(call_id), rh.SerializeToString(), req_bytes))
        n = struct.unpack(">I", self._recv(4))[0]
        if n > 64 << 20:
            raise ValueError("reply frame of %d bytes" % n)
        body = self._recv(n)
        hl, pos = read_varint(body, 0)
        hdr = C.RpcResponseHeaderProto()
        hdr.ParseFromString(body[pos:pos + hl])
        pos += hl
        got = hdr.callId if hdr.callId < 1 << 31 else hdr.callId - (1 << 32)
        if got != call_id:
            raise ValueError("reply for call %d, expected %d" % (got, call_id))
        payload = None
        if hdr.status == C.RpcResponseHeaderProto.SUCCESS:
            pl, pos = read_varint(body, pos)
            payload = body[pos:pos + pl]
            if len(payload) != pl:
                raise ValueError("reply payload cut short")
        return hdr, payload

    def call(self, method, req, resp_cls):
        """The parsed answer; RemoteError on an error reply."""
        hdr, payload = self.raw(method, req.SerializeToString())
        if payload is None:
            raise RemoteError(hdr.exceptionClassName, hdr.errorMsg)
        resp = resp_cls()
        resp.ParseFromString(payload)
        return resp

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
