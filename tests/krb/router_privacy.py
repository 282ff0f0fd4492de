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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
sys.path.insert(0, HERE)
import hadoop_ipc  # noqa: E402
import krb_ipc  # noqa: E402
import procs  # noqa: E402
from fed import Ops  # noqa: E402
from router_kerberos import World, expect_fatal, SASLE  # noqa: E402

expect = procs.expect
BIG_DIR_ENTRIES = 700
NAME_PAD = "x" * 90


def router(w, name, protection):
    sec = ("\n[security]\nauth = kerberos\nprincipal = nn/_HOST@EXAMPLE.TEST\nkeytab = %s\nrpc.protection = %s\n"
           % (w.keytab, protection))
    rt = w.fed.router(sec, default_ns="ns1", name=name)
    port = rt["hdfs"].rsplit(":", 1)[1]
    from router_kerberos import CORE_KRB, HDFS_KRB
    d = os.path.join(w.tmp, "%s-krb-conf" % name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "core-site.xml"), "w") as f:
        f.write(CORE_KRB.format(port=port))
    with open(os.path.join(d, "hdfs-site.xml"), "w") as f:
        f.write(HDFS_KRB)
    rt["krb_conf"] = d
    return rt


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
        rc, out, err = w.hdfs(rt, "krb", *args, stdin=stdin)
        expect(rc == 0, "hdfs %s: %d %s" % (" ".join(args), rc, err.strip()))
    rc, out, err = w.hdfs_bytes(rt, "cat", base + "/dir/f")
    expect(rc == 0 and out == data, "hdfs cat: %d %s (%d bytes, want %d)" % (rc, err.strip(), len(out), len(data)))
    rc, out, err = w.hdfs(rt, "krb", "ls", "/")
    expect(rc == 0 and "p" in out.split(), "hdfs ls /: %d %r %s" % (rc, out, err.strip()))
    rc, out, err = w.hdfs(rt, "krb", "mv", base + "/dir/f", base + "/g")
    expect(rc == 0, "hdfs mv: %d %s" % (rc, err.strip()))
    rc, out, err = w.hdfs(rt, "krb", "ls", base)
    expect(rc == 0 and sorted(out.split()) == ["dir", "g"], "hdfs ls after mv: %d %r %s" % (rc, out, err.strip()))
    rc, out, err = w.hdfs(rt, "krb", "du", "-s", base)
    expect(rc == 0 and out.split()[:1] == [str(len(data))], "hdfs du -s: %d %r %s" % (rc, out, err.strip()))
    rc, out, err = w.hdfs(rt, "krb", "df")
    expect(rc == 0 and len(out.splitlines()) >= 2, "hdfs df: %d %r %s" % (rc, out, err.strip()))
    rc, out, err = w.hdfs(rt, "krb", "rm", "-r", base)
    expect(rc == 0, "hdfs rm: %d %s" % (rc, err.strip()))
    rc, out, err = w.hdfs(rt, "krb", "ls", "/p")
    expect(rc == 0 and tag not in out.split(), "after rm: %d %r %s" % (rc, out, err.strip()))
    rc, out, err = w.hdfs(rt, "krb", "ls", "/big")
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
    # (not "integrity" against a privacy-only offer: Cyrus then settles on
    # privacy, for clients that set both bits)
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


def main(argv):
    if len(argv) != 2:
        print("usage: router_privacy.py BUILD_DIR", file=sys.stderr)
        return 2
    t = procs.Tally()
    w = None
    try:
        w = World(argv[1])

        def hdfs_bytes(rt, *args):
            import subprocess
            env = w.kdc.env(w.ccache)
            env["HADOOP_CONF_DIR"] = rt["krb_conf"]
            env.pop("HADOOP_NAMENODE", None)
            env.pop("HADOOP_USER_NAME", None)
            r = subprocess.run(["hdfs"] + list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=60)
            return r.returncode, r.stdout, r.stderr.decode(errors="replace")
        w.hdfs_bytes = hdfs_bytes
        t.check("prepare /p and a directory of %d entries on the subcluster" % BIG_DIR_ENTRIES, lambda: prepare(w))
        only = os.environ.get("FR_PRIVACY_CASES")
        for case in CASES:
            if not only or case[0] in only.split(","):
                run_case(w, t, *case)
    except Exception as e:  # set-up trouble is a failure with its reason
        t.not_ok("set-up", "%s: %s" % (type(e).__name__, e))
    finally:
        if w:
            w.close(show_logs=t.failed > 0)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
