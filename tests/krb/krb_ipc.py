"""krb_ipc: Hadoop IPC handshakes for the Kerberos tests, from Python.

    r = first_reply(sock)                  # (callId, status, class, message, sasl msg or None)
    s = SaslConn(C, "127.0.0.1:PORT")      # preamble with auth SASL, NEGOTIATE sent
    offer = s.negotiate()                  # the server's RpcSaslProto
    s.gssapi("nn", "localhost")            # a whole GSSAPI exchange (python3-gssapi)
    conn = s.context("alice")              # a hadoop_ipc.Conn-like object for calls

The GSSAPI side is MIT's, through python3-gssapi, with the ticket cache of
KRB5CCNAME. gssapi(layer=...) picks the security layer: 1 none (QOP
authentication, the default), 2 integrity, 4 privacy; with a layer,
s.wrap_frame(packet) makes a WRAP frame of a whole packet and
s.read_wrapped() reads one WRAP reply and returns the packet inside.

    cid, hdr = simple_client_reply(C, addr)    # what a SIMPLE client is told
    expect_refused_context(s)              # after s.context(user): its FATAL, raised
    expect_fatal(fn, -3, AZE, "User: ...") # fn must end in that FATAL
"""
import socket
import struct
import uuid

import hadoop_ipc

PROTOCOL = hadoop_ipc.PROTOCOL
ACE = "org.apache.hadoop.security.AccessControlException"
AZE = "org.apache.hadoop.security.authorize.AuthorizationException"
SASLE = "javax.security.sasl.SaslException"
FATAL_UNAUTHORIZED = 15  # RpcErrorCodeProto


def frame(*parts):
    body = b"".join(hadoop_ipc.varint(len(p)) + p for p in parts)
    return struct.pack(">I", len(body)) + body


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed by the server")
        buf += chunk
    return bytes(buf)


def read_reply(C, sock):
    """(call id, response header, body bytes after the header)."""
    n = struct.unpack(">I", recv_exact(sock, 4))[0]
    body = recv_exact(sock, n)
    hl, pos = hadoop_ipc.read_varint(body, 0)
    hdr = C.RpcResponseHeaderProto()
    hdr.ParseFromString(body[pos:pos + hl])
    pos += hl
    cid = hdr.callId if hdr.callId < 1 << 31 else hdr.callId - (1 << 32)
    return cid, hdr, body[pos:]


def sasl_message(C, rest):
    ml, pos = hadoop_ipc.read_varint(rest, 0)
    m = C.RpcSaslProto()
    m.ParseFromString(rest[pos:pos + ml])
    return m


class Fatal(Exception):
    def __init__(self, call_id, hdr):
        super().__init__("FATAL on call %d: %s: %s" % (call_id, hdr.exceptionClassName, hdr.errorMsg))
        self.call_id = call_id
        self.cls = hdr.exceptionClassName
        self.msg = hdr.errorMsg
        self.detail = hdr.errorDetail
        self.status = hdr.status


class SaslConn:
    def __init__(self, C, addr, timeout=20):
        host, port = addr.rsplit(":", 1)
        self.C = C
        self.addr = addr
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.client_id = uuid.uuid4().bytes
        self.next_id = 0
        self.sock.sendall(b"hrpc\x09\x00\xdf")

    def header(self, call_id):
        C = self.C
        h = C.RpcRequestHeaderProto()
        h.rpcKind = C.RPC_PROTOCOL_BUFFER
        h.rpcOp = C.RpcRequestHeaderProto.RPC_FINAL_PACKET
        h.callId = call_id
        h.clientId = self.client_id
        h.retryCount = -1 if call_id < 0 else 0
        return h.SerializeToString()

    def send_sasl(self, m):
        self.sock.sendall(frame(self.header(-33), m.SerializeToString()))

    def read_sasl(self):
        cid, hdr, rest = read_reply(self.C, self.sock)
        if hdr.status != self.C.RpcResponseHeaderProto.SUCCESS:
            raise Fatal(cid, hdr)
        if cid != -33:
            raise AssertionError("SASL answer on call id %d" % cid)
        return sasl_message(self.C, rest)

    def negotiate(self):
        C = self.C
        self.send_sasl(C.RpcSaslProto(state=C.RpcSaslProto.NEGOTIATE))
        return self.read_sasl()

    def initiate(self, method, mechanism, token, protocol=None, server_id=None):
        C = self.C
        m = C.RpcSaslProto(state=C.RpcSaslProto.INITIATE, token=token)
        a = m.auths.add()
        a.method = method
        a.mechanism = mechanism
        if protocol is not None:
            a.protocol = protocol
        if server_id is not None:
            a.serverId = server_id
        self.send_sasl(m)

    def gssapi(self, service, host, layer=1, check=True, creds=None, lifetime=None):
        """A GSSAPI exchange to SUCCESS for service@host, answering the
        server's layer offer with `layer` (0: the offer itself); returns the number of messages
        the server sent. self.offer is the server's layer byte. creds: a
        gssapi.Credentials to initiate with (default: KRB5CCNAME's);
        lifetime: the context lifetime asked of gss_init_sec_context."""
        import gssapi
        C = self.C
        name = gssapi.Name("%s@%s" % (service, host), gssapi.NameType.hostbased_service)
        ctx = gssapi.SecurityContext(name=name, usage="initiate", creds=creds, lifetime=lifetime)
        self.gss = ctx
        self.initiate("KERBEROS", "GSSAPI", ctx.step(), service, host)
        n = 0
        while True:
            m = self.read_sasl()
            n += 1
            if m.state == C.RpcSaslProto.SUCCESS:
                return n
            if m.state != C.RpcSaslProto.CHALLENGE:
                raise AssertionError("unexpected SASL state %d" % m.state)
            if not ctx.complete:
                out = ctx.step(m.token) or b""
            else:
                # RFC 4752: the server offers layers in a wrapped 4-byte
                # message; answer with the layer wanted and a max buffer.
                offer = ctx.unwrap(m.token).message
                self.offer = offer[0]
                if check and layer and not offer[0] & layer:
                    raise AssertionError("the server does not offer layer %d: %r" % (layer, offer[:1]))
                # layer 0: echo the offer back, as the Go client does
                out = ctx.wrap(bytes([layer or offer[0]]) + b"\xff\xff\xff", False).message
            self.send_sasl(C.RpcSaslProto(state=C.RpcSaslProto.RESPONSE, token=out))

    def wrap_frame(self, packet, call_id=-33):
        """A WRAP frame (as Java clients send) holding one whole packet."""
        C = self.C
        tok = self.gss.wrap(packet, self.offer_conf).message
        m = C.RpcSaslProto(state=C.RpcSaslProto.WRAP, token=tok)
        h = C.RpcRequestHeaderProto(rpcKind=C.RPC_PROTOCOL_BUFFER, rpcOp=C.RpcRequestHeaderProto.RPC_FINAL_PACKET,
                                    callId=call_id, clientId=b"", retryCount=-1)
        return frame(h.SerializeToString(), m.SerializeToString())

    offer_conf = True

    def read_wrapped(self):
        """One reply frame that must be a WRAP: (packet inside, encrypted?)."""
        C = self.C
        cid, hdr, rest = read_reply(C, self.sock)
        if hdr.status != C.RpcResponseHeaderProto.SUCCESS or cid != -33:
            raise AssertionError("a plain reply (call %d, status %d) where a WRAP frame was due" % (cid, hdr.status))
        m = sasl_message(C, rest)
        if m.state != C.RpcSaslProto.WRAP:
            raise AssertionError("SASL state %d, want WRAP" % m.state)
        r = self.gss.unwrap(m.token)
        return r.message, r.encrypted

    def context(self, user):
        """Sends the connection context; returns a Conn for calls."""
        C = self.C
        ctx = C.IpcConnectionContextProto()
        if user is not None:
            ctx.userInfo.effectiveUser = user
        ctx.protocol = PROTOCOL
        self.sock.sendall(frame(self.header(-3), ctx.SerializeToString()))
        conn = hadoop_ipc.Conn.__new__(hadoop_ipc.Conn)
        conn.C = C
        conn.addr = self.addr
        conn.sock = self.sock
        conn.client_id = self.client_id
        conn.next_id = 0
        return conn

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def first_reply(C, sock):
    """The first frame a server sends: (call id, header, SASL message or None)."""
    cid, hdr, rest = read_reply(C, sock)
    m = sasl_message(C, rest) if hdr.status == C.RpcResponseHeaderProto.SUCCESS and rest else None
    return cid, hdr, m


def simple_client_reply(C, addr):
    """What a SIMPLE client (auth byte 0, then its context) is told:
    (call id, header)."""
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    try:
        ctx = C.IpcConnectionContextProto()
        ctx.userInfo.effectiveUser = "alice"
        ctx.protocol = PROTOCOL
        h = C.RpcRequestHeaderProto(rpcKind=C.RPC_PROTOCOL_BUFFER, rpcOp=C.RpcRequestHeaderProto.RPC_FINAL_PACKET,
                                    callId=-3, clientId=b"", retryCount=-1)
        s.sendall(b"hrpc\x09\x00\x00" + frame(h.SerializeToString(), ctx.SerializeToString()))
        cid, hdr, _ = first_reply(C, s)
        return cid, hdr
    finally:
        s.close()


def answer_after_context(s):
    """A getFileInfo / after the connection context of s: (call id, header)
    of the first answer. An accepted context gets no answer of its own, a
    refused one a FATAL on its call id (-3): the call shows which."""
    C = s.C
    rh = C.RequestHeaderProto(methodName="getFileInfo", declaringClassProtocolName=PROTOCOL,
                              clientProtocolVersion=1)
    s.sock.sendall(frame(s.header(0), rh.SerializeToString(), C.GetFileInfoRequestProto(src="/").SerializeToString()))
    cid, hdr, _ = read_reply(C, s.sock)
    return cid, hdr


def expect_refused_context(s):
    """Raises the FATAL a refused context got as Fatal; AssertionError when
    the context was accepted."""
    cid, hdr = answer_after_context(s)
    if hdr.status == s.C.RpcResponseHeaderProto.FATAL:
        raise Fatal(cid, hdr)
    raise AssertionError("the context was accepted (call %d status %d)" % (cid, hdr.status))


def expect_fatal(fn, call_id, cls, msg):
    """fn() must raise Fatal on call_id with class cls, message msg and
    FATAL_UNAUTHORIZED."""
    try:
        fn()
    except Fatal as e:
        _expect(e.cls == cls, "class %s, want %s (%s)" % (e.cls, cls, e.msg))
        _expect(e.msg == msg, "message %r, want %r" % (e.msg, msg))
        _expect(e.call_id == call_id, "call id %d, want %d" % (e.call_id, call_id))
        _expect(e.detail == FATAL_UNAUTHORIZED, "error detail %d, want FATAL_UNAUTHORIZED" % e.detail)
        return
    raise AssertionError("no FATAL answer")


def _expect(cond, why):
    if not cond:
        raise AssertionError(why)
