#!/usr/bin/python3
"""router_kerberos.py: HDFS clients authenticate to fedrouter with Kerberos.

    /usr/bin/python3 tests/krb/router_kerberos.py BUILD_DIR

A loopback MIT KDC (realm EXAMPLE.TEST, kdc.py) with users alice and bob and
the service principal nn/localhost in a keytab; one minidfs (SIMPLE, as
upstreams are in this slice); fedrouter in front of it with

    [security]
    auth = kerberos
    principal = nn/_HOST@EXAMPLE.TEST     (_HOST: 127.0.0.1 -> localhost)
    keytab = .../nn.keytab

and then a second router with auth = simple, kerberos. Clients: the Go
`hdfs` client (hdfs-cli) kinit'd as alice, the same client without
Kerberos, and Hadoop IPC from Python (raw SIMPLE, and GSSAPI through
python3-gssapi) to check the exact answers: what the NEGOTIATE offer holds,
the FATAL replies with Hadoop's exception classes and messages for a SIMPLE
client, a broken token, a method not offered, and an effective user the
authenticated one may not impersonate.

Prints `ok - NAME` or `not ok - NAME: why`, then `N passed, N failed`; exit
status 1 on a failure.
"""
import os
import socket
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
sys.path.insert(0, HERE)
import hadoop_ipc  # noqa: E402
import krb_ipc  # noqa: E402
import procs  # noqa: E402
from fed import Fed, Ops  # noqa: E402
from kdc import Kdc  # noqa: E402

expect = procs.expect
ACE = "org.apache.hadoop.security.AccessControlException"
AZE = "org.apache.hadoop.security.authorize.AuthorizationException"
SASLE = "javax.security.sasl.SaslException"
FATAL_UNAUTHORIZED = 15

CORE_KRB = """<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://localhost:{port}</value></property>
  <property><name>hadoop.security.authentication</name><value>kerberos</value></property>
</configuration>
"""
HDFS_KRB = """<configuration>
  <property><name>dfs.namenode.kerberos.principal</name><value>nn/_HOST@EXAMPLE.TEST</value></property>
</configuration>
"""
CORE_SIMPLE = """<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://localhost:{port}</value></property>
</configuration>
"""


class World:
    def __init__(self, build):
        self.build = build
        self.fed = Fed(build, prefix="fedrouter-krb.")
        self.tmp = self.fed.tmp
        self.kdc = Kdc(self.tmp)
        self.kdc.add_user("alice", "alicepw")
        self.kdc.add_user("bob", "bobpw")
        self.keytab = self.kdc.add_service("nn/localhost")
        self.other_keytab = self.kdc.add_service("router/localhost")
        self.ccache = os.path.join(self.tmp, "alice.cc")
        self.kdc.kinit("alice", "alicepw", self.ccache)
        # The router and python3-gssapi in this process read these, as MIT
        # Kerberos does: nothing of the machine's own set-up is used.
        os.environ.update({k: v for k, v in self.kdc.env(self.ccache).items()
                           if k.startswith("KRB5")})
        self.fed.minidfs("ns1")

    def router(self, name, auth):
        sec = "\n[security]\nauth = %s\nprincipal = nn/_HOST@EXAMPLE.TEST\nkeytab = %s\n" % (auth, self.keytab)
        rt = self.fed.router(sec, default_ns="ns1", name=name)
        port = rt["hdfs"].rsplit(":", 1)[1]
        for kind, core, site in (("krb", CORE_KRB, HDFS_KRB), ("simple", CORE_SIMPLE, None)):
            d = os.path.join(self.tmp, "%s-%s-conf" % (name, kind))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "core-site.xml"), "w") as f:
                f.write(core.format(port=port))
            if site:
                with open(os.path.join(d, "hdfs-site.xml"), "w") as f:
                    f.write(site)
            rt[kind + "_conf"] = d
        return rt

    def hdfs(self, rt, kind, *args, stdin=None):
        """The Go client: (rc, stdout, stderr)."""
        env = self.kdc.env(self.ccache)
        env["HADOOP_CONF_DIR"] = rt[kind + "_conf"]
        env.pop("HADOOP_NAMENODE", None)
        if kind == "simple":
            env["HADOOP_USER_NAME"] = "alice"
        else:
            env.pop("HADOOP_USER_NAME", None)
        r = subprocess.run(["hdfs"] + list(args), env=env, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def close(self, show_logs):
        self.kdc.stop()
        if show_logs:
            print("# kdc.log:\n# " + self.kdc.log_tail().replace("\n", "\n# "))
        self.fed.close(show_logs=show_logs)


def simple_client_reply(C, addr):
    """What a SIMPLE client (auth byte 0, then its context) is told."""
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    try:
        ctx = C.IpcConnectionContextProto()
        ctx.userInfo.effectiveUser = "alice"
        ctx.protocol = hadoop_ipc.PROTOCOL
        h = C.RpcRequestHeaderProto(rpcKind=C.RPC_PROTOCOL_BUFFER, rpcOp=C.RpcRequestHeaderProto.RPC_FINAL_PACKET,
                                    callId=-3, clientId=b"", retryCount=-1)
        s.sendall(b"hrpc\x09\x00\x00" + krb_ipc.frame(h.SerializeToString(), ctx.SerializeToString()))
        cid, hdr, _ = krb_ipc.first_reply(C, s)
        return cid, hdr
    finally:
        s.close()


def expect_fatal(fn, call_id, cls, msg):
    try:
        fn()
    except krb_ipc.Fatal as e:
        expect(e.cls == cls, "class %s, want %s (%s)" % (e.cls, cls, e.msg))
        expect(e.msg == msg, "message %r, want %r" % (e.msg, msg))
        expect(e.call_id == call_id, "call id %d, want %d" % (e.call_id, call_id))
        expect(e.detail == FATAL_UNAUTHORIZED, "error detail %d, want FATAL_UNAUTHORIZED" % e.detail)
        return
    raise AssertionError("no FATAL answer")


def fileinfo_root(w, conn):
    C = w.fed.C
    resp = conn.call("getFileInfo", C.GetFileInfoRequestProto(src="/"), C.GetFileInfoResponseProto)
    expect(resp.HasField("fs"), "getFileInfo / found nothing")


def kerberos_only(w, t):
    rt = w.router("r-krb", "kerberos")
    C = w.fed.C
    conf = rt["conf"]
    fr = os.path.join(w.build, "router", "fedrouter")

    def check_t():
        r = subprocess.run([fr, "-t", "-c", conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30)
        expect(r.returncode == 0, "fedrouter -t: %d %s" % (r.returncode, r.stderr))
        bad = conf + ".wrongkeytab"
        with open(conf) as f, open(bad, "w") as g:
            g.write(f.read().replace(w.keytab, w.other_keytab))
        r = subprocess.run([fr, "-t", "-c", bad], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30)
        expect(r.returncode == 1, "-t with a keytab without the principal: exit %d" % r.returncode)
        expect("holds no key for nn/localhost@EXAMPLE.TEST" in r.stderr, "-t says: %s" % r.stderr.strip())
    t.check("fedrouter -t checks the keytab holds the principal", check_t)

    def prepare():
        d = w.fed.direct("ns1")
        ops = Ops(C)
        ops.mkdirs(d, "/k", 0o777)
        ops.set_permission(d, "/k", 0o777)
    t.check("prepare /k on the subcluster", prepare)

    def go_kerberos():
        rc, out, err = w.hdfs(rt, "krb", "ls", "/")
        expect(rc == 0, "hdfs ls /: %d %s" % (rc, err.strip()))
        expect("k" in out.split(), "hdfs ls / does not show k: %r" % out)
        rc, out, err = w.hdfs(rt, "krb", "mkdir", "-p", "/k/a/b")
        expect(rc == 0, "hdfs mkdir: %d %s" % (rc, err.strip()))
        data = b"written through the router with Kerberos\n" * 100
        rc, out, err = w.hdfs(rt, "krb", "put", "-", "/k/a/b/f", stdin=data)
        expect(rc == 0, "hdfs put: %d %s" % (rc, err.strip()))
        rc, out, err = w.hdfs(rt, "krb", "cat", "/k/a/b/f")
        expect(rc == 0 and out.encode() == data, "hdfs cat: %d %s (%d bytes)" % (rc, err.strip(), len(out)))
        rc, out, err = w.hdfs(rt, "krb", "ls", "/k/a/b")
        expect(rc == 0 and out.split() == ["f"], "hdfs ls /k/a/b: %d %r %s" % (rc, out, err.strip()))
        d = w.fed.direct("ns1")
        expect(Ops(C).exists(d, "/k/a/b/f"), "the file is not on the subcluster")
        # The subcluster sees the short name auth_to_local gives (DEFAULT:
        # alice@EXAMPLE.TEST -> alice), as a secure NameNode's permission
        # checks would.
        rc, out, err = w.hdfs(rt, "krb", "ls", "-l", "/k/a/b/f")
        expect(rc == 0 and out.split()[1:2] == ["alice"], "owner of /k/a/b/f: %r %s" % (out, err.strip()))
    t.check("Go client with Kerberos lists, writes and reads through the router", go_kerberos)

    def simple_refused():
        cid, hdr = simple_client_reply(C, rt["hdfs"])
        expect(hdr.status == C.RpcResponseHeaderProto.FATAL, "status %d, want FATAL" % hdr.status)
        expect(cid == -1, "call id %d, want -1" % cid)
        expect(hdr.errorDetail == FATAL_UNAUTHORIZED, "error detail %d" % hdr.errorDetail)
        expect(hdr.exceptionClassName == ACE, "class %s" % hdr.exceptionClassName)
        want = "SIMPLE authentication is not enabled.  Available:[KERBEROS]"
        expect(hdr.errorMsg == want, "message %r, want %r" % (hdr.errorMsg, want))
    t.check("a SIMPLE client gets AccessControlException: SIMPLE authentication is not enabled", simple_refused)

    def go_simple_refused():
        rc, out, err = w.hdfs(rt, "simple", "ls", "/")
        expect(rc != 0, "hdfs ls / without Kerberos succeeded: %r" % out)
    t.check("the Go client without Kerberos is refused", go_simple_refused)

    def offer():
        s = krb_ipc.SaslConn(C, rt["hdfs"])
        try:
            m = s.negotiate()
        finally:
            s.close()
        expect(m.state == C.RpcSaslProto.NEGOTIATE, "state %d, want NEGOTIATE" % m.state)
        got = [(a.method, a.mechanism, a.protocol, a.serverId) for a in m.auths]
        expect(got == [("KERBEROS", "GSSAPI", "nn", "localhost")], "offer %r" % got)
    t.check("NEGOTIATE offers KERBEROS/GSSAPI nn@localhost only", offer)

    def as_user(user):
        s = krb_ipc.SaslConn(C, rt["hdfs"])
        s.negotiate()
        s.gssapi("nn", "localhost")
        return s, s.context(user)

    def python_gssapi():
        for user in ("alice", "alice@EXAMPLE.TEST", None):
            s, conn = as_user(user)
            try:
                fileinfo_root(w, conn)
            finally:
                s.close()
    t.check("a GSSAPI client (python3-gssapi) authenticates; context user alice, alice@EXAMPLE.TEST or none",
            python_gssapi)

    def impersonation_refused_read():
        s, conn = as_user("bob")
        try:
            # An accepted context gets no answer; a refused one a FATAL on
            # call id -3. A call after it shows which.
            rh = C.RequestHeaderProto(methodName="getFileInfo", declaringClassProtocolName=hadoop_ipc.PROTOCOL,
                                      clientProtocolVersion=1)
            s.sock.sendall(krb_ipc.frame(s.header(0), rh.SerializeToString(),
                                         C.GetFileInfoRequestProto(src="/").SerializeToString()))
            cid, hdr, _ = krb_ipc.read_reply(C, s.sock)
            if hdr.status == C.RpcResponseHeaderProto.FATAL:
                raise krb_ipc.Fatal(cid, hdr)
            raise AssertionError("the context was accepted (call %d status %d)" % (cid, hdr.status))
        finally:
            s.close()
    t.check("another effective user is refused as Hadoop refuses a proxy user",
            lambda: expect_fatal(impersonation_refused_read, -3, AZE,
                                 "User: alice@EXAMPLE.TEST is not allowed to impersonate bob"))

    def bad_token():
        s = krb_ipc.SaslConn(C, rt["hdfs"])
        try:
            s.negotiate()
            s.initiate("KERBEROS", "GSSAPI", b"this is no Kerberos token", "nn", "localhost")
            s.read_sasl()
        finally:
            s.close()
    t.check("a broken GSSAPI token gets SaslException: GSS initiate failed",
            lambda: expect_fatal(bad_token, -33, SASLE, "GSS initiate failed"))

    def token_method():
        s = krb_ipc.SaslConn(C, rt["hdfs"])
        try:
            s.negotiate()
            s.initiate("TOKEN", "DIGEST-MD5", b"", "", "default")
            s.read_sasl()
        finally:
            s.close()
    t.check("a method not offered gets AccessControlException",
            lambda: expect_fatal(token_method, -33, ACE, "TOKEN authentication is not enabled.  Available:[KERBEROS]"))

    def metrics():
        import urllib.request
        text = urllib.request.urlopen("http://%s/metrics" % rt["admin"], timeout=10).read().decode()
        got = {}
        for line in text.splitlines():
            if line.startswith("fedrouter_auth_"):
                name, value = line.rsplit(" ", 1)
                got[name] = int(value)
        ok = got.get('fedrouter_auth_handshakes_total{side="client",mechanism="GSSAPI",result="ok"}', 0)
        bad = got.get('fedrouter_auth_handshakes_total{side="client",mechanism="GSSAPI",result="failed"}', 0)
        imp = got.get('fedrouter_auth_refusals_total{reason="impersonation"}', 0)
        expect(ok >= 2 and bad >= 1 and imp >= 1, "auth metrics %r" % got)
    t.check("/metrics counts handshakes (ok, failed) and refused impersonations", metrics)


def simple_and_kerberos(w, t):
    rt = w.router("r-both", "simple, kerberos")
    C = w.fed.C

    def offer():
        s = krb_ipc.SaslConn(C, rt["hdfs"])
        try:
            m = s.negotiate()
        finally:
            s.close()
        got = [(a.method, a.mechanism) for a in m.auths]
        expect(got == [("KERBEROS", "GSSAPI"), ("SIMPLE", "")], "offer %r" % got)
    t.check("auth = simple, kerberos: NEGOTIATE offers KERBEROS then SIMPLE", offer)

    def both():
        rc, out, err = w.hdfs(rt, "krb", "ls", "/k/a/b")
        expect(rc == 0 and out.split() == ["f"], "Kerberos: %d %r %s" % (rc, out, err.strip()))
        rc, out, err = w.hdfs(rt, "simple", "ls", "/k/a/b")
        expect(rc == 0 and out.split() == ["f"], "SIMPLE: %d %r %s" % (rc, out, err.strip()))
        conn = w.fed.conn(rt["hdfs"], user="alice")
        fileinfo_root(w, conn)
    t.check("auth = simple, kerberos: Kerberos and SIMPLE clients both work", both)


def main(argv):
    if len(argv) != 2:
        print("usage: router_kerberos.py BUILD_DIR", file=sys.stderr)
        return 2
    t = procs.Tally()
    w = None
    try:
        w = World(argv[1])
        kerberos_only(w, t)
        simple_and_kerberos(w, t)
    except Exception as e:  # set-up trouble is a failure with its reason
        t.not_ok("set-up", "%s: %s" % (type(e).__name__, e))
    finally:
        if w:
            w.close(show_logs=t.failed > 0)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
