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
authenticated one may not impersonate. Last, a third router whose krb5.conf
forgives only 2 s of clock skew meets a client presenting a ticket that
expired a moment ago, while another client's connection stays in use.

Prints `ok - NAME` or `not ok - NAME: why`, then `N passed, N failed`; exit
status 1 on a failure.
"""
import ctypes
import os
import subprocess
import sys
import time

import krb_world  # next to this script; puts tests/e2e on the path
import krb_ipc
import procs
from fed import Ops
from krb_ipc import ACE, AZE, SASLE, FATAL_UNAUTHORIZED, expect_fatal, simple_client_reply

expect = procs.expect


class World(krb_world.KrbWorld):
    def __init__(self, build):
        super().__init__(build, "fedrouter-krb.", users=("alice", "bob"), services=("nn", "router"))
        self.fed.minidfs("ns1")

    def router(self, name, auth):
        return super().router(name, auth, simple_conf=True)

    def hdfs(self, rt, kind, *args, stdin=None):
        """The Go client, with Kerberos (kind krb) or as the SIMPLE user
        alice (kind simple): (rc, stdout, stderr)."""
        return self.hdfs_conf(rt[kind + "_conf"], *args, stdin=stdin, user="alice" if kind == "simple" else None)


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
            g.write(f.read().replace(w.kt["nn"], w.kt["router"]))
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
        return w.gss_conn(rt["hdfs"], user=user)

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
            krb_ipc.expect_refused_context(s)
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
    return rt


# An expired ticket. MIT's initiator does not present one on its own: its
# ticket cache lookup wants a ticket that ends after now + the context
# lifetime asked for, and gss_init_sec_context refuses a ticket past its end
# time ("Ticket expired"). Two levers of the library itself get it sent:
# its debug switch krb5_gss_dbg_client_expcreds turns the end time check
# off, and a lifetime just under 2**32 s makes the lookup's wanted end time
# (32-bit arithmetic) wrap round to a day ago, so the expired ticket still
# matches. An MIT acceptor forgives clockskew seconds past a ticket's end
# (300 by default); the router that must refuse it gets a krb5.conf with
# EXPIRED_SKEW instead. CAROL_LIFE is carol's longest ticket (KDC policy).
EXPIRED_SKEW = 2
CAROL_LIFE = 6
WRAP_BACK = 2 ** 32 - 86400


def expcreds_switch():
    """MIT's debug switch, in the libgssapi_krb5 python3-gssapi uses."""
    return ctypes.c_int.in_dll(ctypes.CDLL("libgssapi_krb5.so.2"), "krb5_gss_dbg_client_expcreds")


def auth_metrics(rt):
    import urllib.request
    text = urllib.request.urlopen("http://%s/metrics" % rt["admin"], timeout=10).read().decode()
    pre = 'fedrouter_auth_handshakes_total{side="client",mechanism="GSSAPI",result="'
    got = {}
    for line in text.splitlines():
        if line.startswith(pre):
            name, value = line.rsplit(" ", 1)
            got[name[len(pre):].rstrip('"}')] = int(value)
    return got


def expired_ticket(w, t, rt_default_skew):
    import gssapi
    C = w.fed.C
    skew_conf = os.path.join(w.kdc.dir, "krb5-skew.conf")
    with open(w.kdc.krb5_conf) as f:
        text = f.read()
    with open(skew_conf, "w") as f:
        f.write(text.replace("[libdefaults]\n", "[libdefaults]\n  clockskew = %d\n" % EXPIRED_SKEW, 1))
    saved = os.environ["KRB5_CONFIG"]
    os.environ["KRB5_CONFIG"] = skew_conf  # the router started now reads this one
    try:
        rt = w.router("r-exp", "kerberos")
    finally:
        os.environ["KRB5_CONFIG"] = saved
    w.kdc.add_user("carol", "carolpw")
    w.kdc.set_max_life("carol", CAROL_LIFE)
    carol_cc = os.path.join(w.tmp, "carol.cc")
    w.kdc.kinit("carol", "carolpw", carol_cc)
    switch = expcreds_switch()
    st = {}

    def carol_creds():
        return gssapi.Credentials(usage="initiate", store={"ccache": "FILE:" + carol_cc})

    def carol_valid():
        # Also puts carol's nn/localhost ticket into her cache while her TGT is good.
        s = krb_ipc.SaslConn(C, rt["hdfs"])
        try:
            s.negotiate()
            s.gssapi("nn", "localhost", creds=carol_creds())
            life = s.gss.lifetime
            expect(0 < life <= CAROL_LIFE, "carol's context lasts %r s, want at most %d" % (life, CAROL_LIFE))
            st["carol_end"] = time.time() + life
        finally:
            s.close()
    t.check("a %d s ticket (carol) is accepted while it is valid" % CAROL_LIFE, carol_valid)

    def alice_open():
        st["alice"], st["alice_conn"] = w.gss_conn(rt["hdfs"], user="alice")
        fileinfo_root(w, st["alice_conn"])
    t.check("a valid client (alice) connects and calls before the expired one comes", alice_open)

    # Past the end of carol's ticket and the router's skew.
    time.sleep(max(0.0, st.get("carol_end", time.time()) + EXPIRED_SKEW + 1.5 - time.time()))

    def client_refuses():
        ctx = gssapi.SecurityContext(name=gssapi.Name("nn@localhost", gssapi.NameType.hostbased_service),
                                     usage="initiate", creds=carol_creds(), lifetime=WRAP_BACK)
        try:
            ctx.step()
        except gssapi.exceptions.GSSError as e:
            expect("expired" in str(e).lower(), "the client library refuses with: %s" % e)
            return
        raise AssertionError("the client library sent an expired ticket without the debug switch")
    t.check("without the debug switch MIT's client itself refuses carol's expired ticket", client_refuses)

    def expired_gssapi(addr):
        """carol's expired ticket to addr; the socket, after the handshake."""
        s = krb_ipc.SaslConn(C, addr)
        st["expired_port"] = s.sock.getsockname()[1]
        try:
            s.negotiate()
            switch.value = 1
            try:
                s.gssapi("nn", "localhost", creds=carol_creds(), lifetime=WRAP_BACK)
            finally:
                switch.value = 0
            return s
        except krb_ipc.Fatal:
            st["refused"] = True
            try:
                st["closed"] = s.sock.recv(1) == b""  # Hadoop closes after a FATAL reply
            except OSError:
                st["closed"] = True
            s.close()
            raise
        except BaseException:
            s.close()
            raise

    def expired_refused():
        expect_fatal(lambda: expired_gssapi(rt["hdfs"]).close(), -33, SASLE, "GSS initiate failed")
        expect(st.get("closed"), "the refused connection stays open")
    t.check("an expired ticket gets SaslException: GSS initiate failed, and the connection closes",
            expired_refused)

    def logged():
        expect(st.get("refused"), "no refusal to look at")
        with open(os.path.join(w.tmp, "r-exp.err"), errors="replace") as f:
            lines = [ln for ln in f if "SASL GSSAPI failed" in ln]
        expect(len(lines) == 1, "r-exp logs %d failed handshakes: %r" % (len(lines), lines))
        expect("127.0.0.1:%d: client: SASL GSSAPI failed" % st["expired_port"] in lines[0],
               "the failed handshake logged is not the expired client's: %r" % lines[0])
        # the GSS-API reason (the minor status) is in the line
        expect("expired" in lines[0].lower(), "the log line does not say the ticket expired: %r" % lines[0])
        print("# logged: %s" % lines[0].strip(), flush=True)
    t.check("the router logs the expired client's failed handshake, with the reason", logged)

    def default_skew_accepts():
        # The control: the very token the router refused passes an acceptor
        # that forgives the default 300 s, so the refusal above was the
        # ticket's end time and nothing else.
        expired_gssapi(rt_default_skew["hdfs"]).close()
    t.check("the same expired ticket passes a router with the default 300 s skew", default_skew_accepts)

    def alice_still():
        conn = st["alice_conn"]
        fileinfo_root(w, conn)
        fileinfo_root(w, conn)
        st["alice"].close()
        s, conn = w.gss_conn(rt["hdfs"], user="alice")
        try:
            fileinfo_root(w, conn)
        finally:
            s.close()
    t.check("alice's connection, open all along, still answers; a new one authenticates", alice_still)

    def metrics():
        got = auth_metrics(rt)
        expect(got == {"ok": 3, "failed": 1}, "r-exp GSSAPI handshakes %r, want ok 3 failed 1" % got)
    t.check("/metrics of the router counts the expired client's handshake as failed", metrics)


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


def run(build, t):
    w = World(build)
    rt = kerberos_only(w, t)
    simple_and_kerberos(w, t)
    expired_ticket(w, t, rt)


if __name__ == "__main__":
    sys.exit(krb_world.main(sys.argv, run))
