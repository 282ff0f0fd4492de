#!/usr/bin/python3
"""router_privacy.py: Kerberos clients of fedrouter at QOP integrity and
privacy (the SASL security layer), and at authentication for comparison.

    /usr/bin/python3 tests/krb/router_privacy.py BUILD_DIR

A loopback MIT KDC (kdc.py), one minidfs, and one fedrouter per
rpc.protection value (authentication; integrity; privacy; the lists
"authentication, integrity" and "integrity, privacy") with auth = kerberos.
For each:

- the NEGOTIATE answer: a TOKEN entry whose challenge names the QOPs
  (strongest first) when more than authentication is configured, then
  KERBEROS/GSSAPI; the GSSAPI layer offer (privacy alone when listed);
- the Go `hdfs` client kinit'd as alice: ls, mkdir, put of a 300 KB file and
  cat back byte-identical, mv, rm, du, df, and ls of a directory whose
  listing reply is over 64 KiB (one WRAP frame);
- Hadoop IPC from Python (python3-gssapi) choosing the layer: plain
  requests get WRAP replies only, which unwrap (sealed at privacy, signed
  only at integrity) to the right answers; wrapped requests work too; a
  WRAP frame with a broken token closes that connection while another
  connection of the same router goes on; a client asking for a layer the
  router does not offer is refused.

The Java client (JavaSaslClient.java, javax.security.sasl) is run by
router_privacy_java.py.
"""
import os
import struct
import sys

import krb_world  # next to this script; puts tests/e2e on the path
import hadoop_ipc
import krb_ipc
import procs
from fed import Ops
from krb_ipc import SASLE, expect_fatal

expect = procs.expect
BIG_DIR_ENTRIES = 700
NAME_PAD = "x" * 90


class World(krb_world.KrbWorld):
    """One minidfs (SIMPLE) behind the routers; router/localhost is a
    service whose key they do not have."""

    def __init__(self, build):
        super().__init__(build, "fedrouter-krbqop.", services=("nn", "router"))
        self.fed.minidfs("ns1")

    def hdfs(self, rt, *args, stdin=None, binary=False):
        return self.hdfs_conf(rt["krb_conf"], *args, stdin=stdin, binary=binary)


def router(w, name, protection):
    return w.router(name, security="rpc.protection = %s" % protection)


def prepare(w):
    C = w.fed.C
    d = w.fed.direct("ns1")
    ops = Ops(C)
    ops.mkdirs(d, "/p", 0o777)
    ops.set_permission(d, "/p", 0o777)
    ops.mkdirs(d, "/big", 0o755)
    for i in range(BIG_DIR_ENTRIES):
        ops.mkdirs(d, "/big/d%04d_%s" % (i, NAME_PAD), 0o755)


def call_frame(s, call_id, method, req):
    C = s.C
    rh = C.RequestHeaderProto(methodName=method, declaringClassProtocolName=hadoop_ipc.PROTOCOL,
                              clientProtocolVersion=1)
    return krb_ipc.frame(s.header(call_id), rh.SerializeToString(), req.SerializeToString())


def context_frame(s, user):
    C = s.C
    ctx = C.IpcConnectionContextProto()
    ctx.userInfo.effectiveUser = user
    ctx.protocol = hadoop_ipc.PROTOCOL
    return krb_ipc.frame(s.header(-3), ctx.SerializeToString())


def parse_packet(C, packet, want_id, resp_cls):
    """A reply packet (u32 length + header + body): the parsed response."""
    n = struct.unpack(">I", packet[:4])[0]
    expect(n == len(packet) - 4, "packet length %d, %d bytes follow" % (n, len(packet) - 4))
    body = packet[4:]
    hl, pos = hadoop_ipc.read_varint(body, 0)
    hdr = C.RpcResponseHeaderProto()
    hdr.ParseFromString(body[pos:pos + hl])
    pos += hl
    expect(hdr.callId == want_id, "reply for call %d, want %d" % (hdr.callId, want_id))
    expect(hdr.status == C.RpcResponseHeaderProto.SUCCESS, "%s: %s" % (hdr.exceptionClassName, hdr.errorMsg))
    pl, pos = hadoop_ipc.read_varint(body, pos)
    r = resp_cls()
    r.ParseFromString(body[pos:pos + pl])
    return r


def layer_conn(w, rt, layer):
    s = krb_ipc.SaslConn(w.fed.C, rt["hdfs"])
    s.negotiate()
    s.gssapi("nn", "localhost", layer=layer)
    return s


def go_client(w, rt, tag):
    data = os.urandom(300 * 1024)
    base = "/p/" + tag
    steps = [
        (("mkdir", "-p", base + "/dir"), None),
        (("put", "-", base + "/dir/f"), data),
    ]
    for args, stdin in steps:
        rc, out, err = w.hdfs(rt, *args, stdin=stdin)
        expect(rc == 0, "hdfs %s: %d %s" % (" ".join(args), rc, err.strip()))
    rc, out, err = w.hdfs(rt, "cat", base + "/dir/f", binary=True)
    expect(rc == 0 and out == data, "hdfs cat: %d %s (%d bytes, want %d)" % (rc, err.strip(), len(out), len(data)))
    rc, out, err = w.hdfs(rt, "ls", "/")
    expect(rc == 0 and "p" in out.split(), "hdfs ls /: %d %r %s" % (rc, out, err.strip()))
    rc, out, err = w.hdfs(rt, "mv", base + "/dir/f", base + "/g")
    expect(rc == 0, "hdfs mv: %d %s" % (rc, err.strip()))
    rc, out, err = w.hdfs(rt, "ls", base)
    expect(rc == 0 and sorted(out.split()) == ["dir", "g"], "hdfs ls after mv: %d %r %s" % (rc, out, err.strip()))
    rc, out, err = w.hdfs(rt, "du", "-s", base)
    expect(rc == 0 and out.split()[:1] == [str(len(data))], "hdfs du -s: %d %r %s" % (rc, out, err.strip()))
    rc, out, err = w.hdfs(rt, "df")
    expect(rc == 0 and len(out.splitlines()) >= 2, "hdfs df: %d %r %s" % (rc, out, err.strip()))
    rc, out, err = w.hdfs(rt, "rm", "-r", base)
    expect(rc == 0, "hdfs rm: %d %s" % (rc, err.strip()))
    rc, out, err = w.hdfs(rt, "ls", "/p")
    expect(rc == 0 and tag not in out.split(), "after rm: %d %r %s" % (rc, out, err.strip()))
    rc, out, err = w.hdfs(rt, "ls", "/big")
    names = out.split()
    expect(rc == 0 and len(names) == BIG_DIR_ENTRIES, "hdfs ls /big: %d, %d names %s" % (rc, len(names),
                                                                                        err.strip()[-300:]))


def check_offer(w, rt, protection):
    C = w.fed.C
    s = krb_ipc.SaslConn(C, rt["hdfs"])
    try:
        m = s.negotiate()
    finally:
        s.close()
    got = [(a.method, a.mechanism) for a in m.auths]
    qops = [q for q, n in (("auth-conf", "privacy"), ("auth-int", "integrity"), ("auth", "authentication"))
            if n in protection]
    if qops == ["auth"]:
        expect(got == [("KERBEROS", "GSSAPI")], "offer %r" % got)
        return
    expect(got == [("TOKEN", "DIGEST-MD5"), ("KERBEROS", "GSSAPI")], "offer %r" % got)
    tok = m.auths[0]
    expect(tok.serverId == "default" and tok.protocol == "", "TOKEN entry %r/%r" % (tok.protocol, tok.serverId))
    ch = tok.challenge.decode()
    want = 'qop="%s"' % ",".join(qops)
    expect(want in ch and 'realm="default"' in ch and "nonce=" in ch, "challenge %r lacks %s" % (ch, want))


def layer_offer(w, rt):
    """The layer byte of the server's GSSAPI offer."""
    s = krb_ipc.SaslConn(w.fed.C, rt["hdfs"])
    try:
        s.negotiate()
        s.gssapi("nn", "localhost", layer=0)
        return s.offer
    finally:
        s.close()


def python_layer(w, rt, layer):
    """Plain and wrapped requests on a connection with a layer; every reply
    must be a WRAP frame."""
    C = w.fed.C
    s = layer_conn(w, rt, layer)
    try:
        # Plain context and call, as the Go client sends them.
        s.sock.sendall(context_frame(s, "alice@EXAMPLE.TEST") +
                       call_frame(s, 0, "getFileInfo", C.GetFileInfoRequestProto(src="/big")))
        pkt, sealed = s.read_wrapped()
        expect(sealed == (layer == 4), "encrypted=%s at layer %d" % (sealed, layer))
        r = parse_packet(C, pkt, 0, C.GetFileInfoResponseProto)
        expect(r.HasField("fs") and r.fs.fileType == r.fs.IS_DIR, "getFileInfo /big: %r" % r)
        # A listing whose reply is over 64 KiB: one WRAP frame.
        s.sock.sendall(call_frame(s, 1, "getListing",
                                  C.GetListingRequestProto(src="/big", startAfter=b"", needLocation=False)))
        pkt, _ = s.read_wrapped()
        expect(len(pkt) > 64 * 1024, "listing reply of %d bytes" % len(pkt))
        r = parse_packet(C, pkt, 1, C.GetListingResponseProto)
        expect(len(r.dirList.partialListing) == BIG_DIR_ENTRIES, "%d entries" % len(r.dirList.partialListing))
        # Wrapped requests, as Java sends them: two packets, two WRAP frames.
        s.offer_conf = layer == 4
        s.sock.sendall(s.wrap_frame(call_frame(s, 2, "getFileInfo", C.GetFileInfoRequestProto(src="/p"))) +
                       s.wrap_frame(call_frame(s, 3, "getFileInfo", C.GetFileInfoRequestProto(src="/nope"))))
        pkt, _ = s.read_wrapped()
        r = parse_packet(C, pkt, 2, C.GetFileInfoResponseProto)
        expect(r.HasField("fs"), "getFileInfo /p found nothing")
        pkt, _ = s.read_wrapped()
        r = parse_packet(C, pkt, 3, C.GetFileInfoResponseProto)
        expect(not r.HasField("fs"), "getFileInfo /nope found something")
        return s
    except Exception:
        s.close()
        raise


def garbage_wrap(w, rt, layer):
    C = w.fed.C
    other = python_layer(w, rt, layer)  # open, authenticated, served
    bad = layer_conn(w, rt, layer)
    try:
        bad.sock.sendall(context_frame(bad, "alice"))
        m = C.RpcSaslProto(state=C.RpcSaslProto.WRAP, token=b"\x05\x04" + os.urandom(60))
        h = C.RpcRequestHeaderProto(rpcKind=C.RPC_PROTOCOL_BUFFER, rpcOp=C.RpcRequestHeaderProto.RPC_FINAL_PACKET,
                                    callId=-33, clientId=b"", retryCount=-1)
        bad.sock.sendall(krb_ipc.frame(h.SerializeToString(), m.SerializeToString()))
        try:
            got = bad.sock.recv(4096)
        except ConnectionResetError:
            got = b""
        expect(got == b"", "the connection with a broken WRAP frame got %d bytes instead of a close" % len(got))
        other.sock.sendall(call_frame(other, 9, "getFileInfo", C.GetFileInfoRequestProto(src="/p")))
        pkt, _ = other.read_wrapped()
        r = parse_packet(C, pkt, 9, C.GetFileInfoResponseProto)
        expect(r.HasField("fs"), "the other connection: getFileInfo /p found nothing")
    finally:
        bad.close()
        other.close()


def handshake_garbage(w, rt):
    """Garbage in the SASL exchange, and a ticket for another service: each
    refused with SaslException, while an open privacy connection goes on."""
    C = w.fed.C
    other = python_layer(w, rt, 4)
    try:
        def garbage():
            s = krb_ipc.SaslConn(C, rt["hdfs"])
            try:
                s.negotiate()
                s.initiate("KERBEROS", "GSSAPI", os.urandom(300), "nn", "localhost")
                s.read_sasl()
            finally:
                s.close()
        expect_fatal(garbage, -33, SASLE, "GSS initiate failed")

        def other_service():
            s = krb_ipc.SaslConn(C, rt["hdfs"])
            try:
                s.negotiate()
                s.gssapi("router", "localhost", layer=4)  # a ticket for router/localhost
            finally:
                s.close()
        expect_fatal(other_service, -33, SASLE, "GSS initiate failed")
        other.sock.sendall(call_frame(other, 9, "getFileInfo", C.GetFileInfoRequestProto(src="/p")))
        pkt, _ = other.read_wrapped()
        expect(parse_packet(C, pkt, 9, C.GetFileInfoResponseProto).HasField("fs"), "the other connection failed")
    finally:
        other.close()


def wrong_layer(w, rt, layer):
    s = krb_ipc.SaslConn(w.fed.C, rt["hdfs"])
    try:
        s.negotiate()
        s.gssapi("nn", "localhost", layer=layer, check=False)
    finally:
        s.close()


CASES = [
    # name, rpc.protection, layer offer, layers python uses, a layer refused
    # (not "integrity" against a privacy-only offer: the router takes the
    # strongest offered layer of a choice with several bits)
    ("auth", "authentication", 0x01, [1], 2),
    ("int", "integrity", 0x02, [2], 1),
    ("conf", "privacy", 0x04, [4], 1),
    ("authint", "authentication, integrity", 0x03, [1, 2], 4),
    ("intconf", "integrity, privacy", 0x04, [4], 1),
]


def run_case(w, t, name, protection, offer, layers, refused):
    rt = router(w, "r-" + name, protection)
    t.check("%s: NEGOTIATE names the QOPs in a TOKEN entry" % protection, lambda: check_offer(w, rt, protection))
    t.check("%s: GSSAPI offers layers 0x%02x" % (protection, offer),
            lambda: expect(layer_offer(w, rt) == offer, "offer 0x%02x" % layer_offer(w, rt)))
    t.check("%s: Go client ls, put/cat 300 KB, mv, rm, du, df, ls of a 100 KB listing" % protection,
            lambda: go_client(w, rt, name))
    for layer in layers:
        if layer == 1:
            continue

        def py(layer=layer):
            python_layer(w, rt, layer).close()
        t.check("%s: python3-gssapi layer %d: plain and wrapped requests, WRAP replies only" % (protection, layer), py)
        t.check("%s: a broken WRAP frame closes that connection only" % protection,
                lambda layer=layer: garbage_wrap(w, rt, layer))
    if protection == "privacy":
        t.check("privacy: garbage GSSAPI and a ticket for another service are refused; others go on",
                lambda: handshake_garbage(w, rt))
    t.check("%s: a client choosing layer %d is refused" % (protection, refused),
            lambda: expect_fatal(lambda: wrong_layer(w, rt, refused), -33, SASLE, "GSS initiate failed"))


def run(build, t):
    w = World(build)
    t.check("prepare /p and a directory of %d entries on the subcluster" % BIG_DIR_ENTRIES, lambda: prepare(w))
    only = os.environ.get("FR_PRIVACY_CASES")
    for case in CASES:
        if not only or case[0] in only.split(","):
            run_case(w, t, *case)


if __name__ == "__main__":
    sys.exit(krb_world.main(sys.argv, run))
