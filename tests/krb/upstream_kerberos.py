#!/usr/bin/python3
"""upstream_kerberos.py: fedrouter in front of kerberized NameNodes.

    /usr/bin/python3 tests/krb/upstream_kerberos.py BUILD_DIR

A loopback MIT KDC (kdc.py): user alice; services nn/localhost (every
minidfs), router/localhost (the router), norights/localhost (a router the
NameNodes give no proxy rights), renew/localhost (a router whose tickets
last 40 s). Subclusters, all `minidfs --kerberos nn/_HOST@EXAMPLE.TEST
--proxy-user router --proxy-user renew`:

    ns1   one NameNode
    ns2   an HA pair: the first standby, the second active
    ns3   one NameNode with --rpc-protection privacy

The router has [security] auth = kerberos, principal router/_HOST@..., its
keytab, and `principal = nn/_HOST@EXAMPLE.TEST` in each [nameservice], so it
logs in from its keytab and runs SASL GSSAPI to every NameNode, naming the
client as the effective user. Mounts: /a -> ns1:/a, /b -> ns2:/b,
/p -> ns3:/p (privacy: the router unwraps ns3's replies).

The router's own clients are checked against [security] proxyuser.* rules
(hue may act as alice from 127.0.0.1; ops for members of group root from
10.0.0.0/8 only): hue as alice works and the NameNode sees alice, hue as
bob and ops from 127.0.0.1 are refused with Hadoop's words.

Checks: the Go `hdfs` client kinit'd as alice through the router: ls,
put/cat byte-identical, mv, rm, du, df, on both subclusters; the
NameNodes see alice (owner of what she creates, checked straight at the
NameNode as its superuser); the handshake is paid once per pooled
connection (few GSSAPI logins at the NameNode for many calls); a router
without proxy rights gets AuthorizationException "User:
norights/localhost@EXAMPLE.TEST is not allowed to impersonate alice", and
the client sees that exception; a router whose login can't be made (a
keytab without its principal) does not start; a router whose tickets last
40 s keeps working across more than one lifetime (MIT refreshes its login
from the keytab: two AS requests at the KDC).

Prints `ok - NAME` or `not ok - NAME: why`, then `N passed, N failed`.
"""
import os
import re
import subprocess
import sys
import time

import krb_world  # next to this script; puts tests/e2e on the path
import hadoop_ipc
import krb_ipc
import procs
from fed import Ops
from krb_ipc import AZE

expect = procs.expect
RENEW_LIFE = 40


class World(krb_world.KrbWorld):
    kdc_tail = 40

    def __init__(self, build):
        super().__init__(build, "fedrouter-krbup.", services=("nn", "router", "norights", "renew", "hue", "ops"),
                         logins=("nn", "hue", "ops"))
        self.kdc.set_max_life("renew/localhost", RENEW_LIFE)
        sec = ["--proxy-user", "router", "--proxy-user", "renew"]
        self.ns1 = self.minidfs("ns1", *sec)
        self.ns2a = self.minidfs("ns2a", "--standby", *sec)
        self.ns2b = self.minidfs("ns2b", *sec)
        self.ns3 = self.minidfs("ns3", "--rpc-protection", "privacy", *sec)
        # The Go client straight to ns3 (privacy), for its superuser nn.
        self.ns3_conf = krb_world.write_hdfs_conf(os.path.join(self.tmp, "conf-ns3"), self.ns3["nn"])
        self.fed.nss.clear()  # the router's [nameservice] sections are written below
        self.routers = {}

    def router(self, svc, extra="", security="", auth="kerberos", name=None):
        body = """
[nameservice ns1]
namenodes = {ns1}
principal = nn/_HOST@EXAMPLE.TEST

[nameservice ns2]
namenodes = {ns2a}, {ns2b}
principal = nn/_HOST@EXAMPLE.TEST

[nameservice ns3]
namenodes = {ns3}
principal = nn/_HOST@EXAMPLE.TEST

[mount /a]
destinations = ns1:/a

[mount /b]
destinations = ns2:/b

[mount /p]
destinations = ns3:/p
""".format(ns1=self.ns1["nn"], ns2a=self.ns2a["nn"], ns2b=self.ns2b["nn"], ns3=self.ns3["nn"])
        rt = super().router(name or "r-" + svc, auth, svc=svc, security=security, body=body, router_keys=extra)
        self.routers[name or svc] = rt
        return rt

    def hdfs(self, rt, *args, stdin=None, binary=False):
        return self.hdfs_conf(rt["krb_conf"], *args, stdin=stdin, binary=binary)

    def at_nn(self, ns):
        """A connection straight to a NameNode as its superuser nn."""
        return self.gss_conn(ns["nn"], "nn")


def ok(r, what):
    rc, out, err = r
    expect(rc == 0, "%s: exit %d: %s" % (what, rc, err.strip()[-300:]))
    return out


def prepare(w, t):
    C = w.fed.C
    ops = Ops(C)

    def dirs():
        for ns, d in ((w.ns1, "/a"), (w.ns2b, "/b")):
            s, conn = w.at_nn(ns)
            try:
                ops.mkdirs(conn, d, 0o777)
                ops.set_permission(conn, d, 0o777)
            finally:
                s.close()
    t.check("the NameNodes' superuser nn makes /a (ns1) and /b (ns2) writable", dirs)


PROXY_RULES = """proxyuser.hue.users = alice
proxyuser.hue.hosts = 127.0.0.1
proxyuser.ops.groups = root
proxyuser.ops.hosts = 10.0.0.0/8
"""


def through_router(w, t):
    rt = w.router("router", "upstream.max_conns_per_user = 2", security=PROXY_RULES)
    C = w.fed.C
    ops = Ops(C)
    data = os.urandom(300000)

    def go():
        out = ok(w.hdfs(rt, "ls", "/"), "hdfs ls /")
        expect({"a", "b"} <= set(out.split()), "ls / shows %r" % out)
        for d in ("/a", "/b"):
            ok(w.hdfs(rt, "mkdir", "-p", d + "/x"), "mkdir " + d)
            ok(w.hdfs(rt, "put", "-", d + "/x/f", stdin=data), "put " + d)
            back = ok(w.hdfs(rt, "cat", d + "/x/f", binary=True), "cat " + d)
            expect(back == data, "%s/x/f: %d bytes back, not the %d written" % (d, len(back), len(data)))
            ok(w.hdfs(rt, "mv", d + "/x/f", d + "/x/g"), "mv " + d)
            out = ok(w.hdfs(rt, "ls", d + "/x"), "ls " + d)
            expect(out.split() == ["g"], "ls %s/x after mv: %r" % (d, out))
            out = ok(w.hdfs(rt, "du", "-s", d), "du " + d)
            expect(str(len(data)) in out.split(), "du -s %s: %r" % (d, out))
            out = ok(w.hdfs(rt, "ls", "-l", d + "/x/g"), "ls -l " + d)
            expect(out.split()[1:2] == ["alice"], "owner through the router: %r" % out)
        out = ok(w.hdfs(rt, "df"), "df")
        expect(len(out.splitlines()) >= 2, "df: %r" % out)
        ok(w.hdfs(rt, "rm", "/a/x/g"), "rm /a/x/g")
        rc, out, err = w.hdfs(rt, "ls", "/a/x/g")
        expect(rc != 0, "/a/x/g still there after rm")
    t.check("Go client kinit'd as alice through the router: ls, put/cat byte-identical, mv, rm, du, df", go)

    def owner_at_nn():
        s, conn = w.at_nn(w.ns2b)
        try:
            st = ops.fileinfo(conn, "/b/x/g")
            expect(st is not None, "/b/x/g is not on the active NameNode of ns2")
            expect(st.owner == "alice", "owner at the NameNode: %r, want alice (not the router)" % st.owner)
        finally:
            s.close()
    t.check("the NameNode itself sees alice as the owner (the router is only the real user)", owner_at_nn)

    def once_per_conn():
        # Every GSSAPI handshake with a proxy user makes minidfs log one
        # "acts as" line; many calls came, a handful of connections served.
        n = len(re.findall(r"router/localhost@EXAMPLE.TEST \(router\) acts as alice", w.log("ns1")))
        expect(1 <= n <= 4, "ns1 logged %d impersonating handshakes for about 20 calls" % n)
        rl = w.log("r-router")
        expect("logged in as router/localhost@EXAMPLE.TEST" in rl, "no login line in the router's log")
        # The router's own calls (the refresher's versionRequest, ...) run
        # as its login, not as the OS user it runs as by impersonation.
        expect("acts as root" not in w.log("ns1"), "the router impersonated its OS user root at ns1")
    t.check("the handshake is paid once per pooled connection, not per call", once_per_conn)


def privacy(w, t):
    """ns3 runs minidfs --rpc-protection privacy: every reply wrapped."""
    rt = w.routers["router"]

    def direct():
        for args in (["mkdir", "-p", "/p"], ["chmod", "777", "/p"], ["ls", "-l", "/"]):
            rc, _, err = w.hdfs_conf(w.ns3_conf, *args, ccache=w.cc["nn"])
            expect(rc == 0, "hdfs %s straight to ns3: %s" % (" ".join(args), err.strip()))
        expect("SASL layer on (ssf 256)" in w.log("ns3"), "minidfs ns3 did not turn privacy on")
    t.check("the Go client kinit'd as nn straight to minidfs --rpc-protection privacy (replies wrapped)", direct)

    def through():
        data = os.urandom(400000)
        ok(w.hdfs(rt, "put", "-", "/p/f", stdin=data), "put /p/f")
        back = ok(w.hdfs(rt, "cat", "/p/f", binary=True), "cat /p/f")
        expect(back == data, "/p/f: %d bytes back, not the %d written" % (len(back), len(data)))
        out = ok(w.hdfs(rt, "ls", "-l", "/p/f"), "ls -l /p/f")
        expect(out.split()[1:2] == ["alice"], "owner: %r" % out)
        n = len(re.findall(r"router/localhost@EXAMPLE.TEST \(router\) acts as alice", w.log("ns3")))
        expect(n >= 1, "ns3 saw no privacy connection from the router acting as alice")
    t.check("through the router to the privacy subcluster: put/cat byte-identical, owner alice", through)

    def both_legs():
        rp = w.router("router", security="rpc.protection = privacy", name="r-privacy")
        data = os.urandom(300000)
        for d in ("/p", "/a"):
            ok(w.hdfs(rp, "put", "-", d + "/both", stdin=data), "put %s/both" % d)
            back = ok(w.hdfs(rp, "cat", d + "/both", binary=True), "cat %s/both" % d)
            expect(back == data, "%s/both: %d bytes back, not the %d written" % (d, len(back), len(data)))
        ok(w.hdfs(rp, "ls", "/p"), "ls /p")
    t.check("privacy on both legs (router rpc.protection = privacy, ns3 privacy): put/cat byte-identical",
            both_legs)


def router_proxyusers(w, t):
    """[security] proxyuser.* on the router's own clients."""
    C = w.fed.C
    ops = Ops(C)
    rt = w.routers["router"]

    def allowed():
        s, conn = w.gss_conn(rt["hdfs"], "hue", "alice", service="router")
        try:
            ops.make_file(conn, "/a/by-hue")
        finally:
            s.close()
        s, conn = w.at_nn(w.ns1)
        try:
            st = ops.fileinfo(conn, "/a/by-hue")
            expect(st is not None and st.owner == "alice", "owner at the NameNode: %r" % (st and st.owner))
        finally:
            s.close()
    t.check("router: hue (proxyuser.hue.users = alice) acts as alice; the NameNode sees alice", allowed)

    def refused(who, user, msg):
        def run():
            s, conn = w.gss_conn(rt["hdfs"], who, user, service="router")
            try:
                # A refused context: a FATAL on the context's call id.
                cid, hdr = krb_ipc.answer_after_context(s)
                expect(hdr.status == C.RpcResponseHeaderProto.FATAL, "accepted (call %d status %d)" % (cid, hdr.status))
                expect(hdr.exceptionClassName == AZE, "class %s" % hdr.exceptionClassName)
                expect(hdr.errorMsg == msg, "message %r, want %r" % (hdr.errorMsg, msg))
                expect(hdr.errorDetail == 15, "error detail %d, want FATAL_UNAUTHORIZED" % hdr.errorDetail)
            finally:
                s.close()
        return run
    t.check("router: hue may not act as bob (not in proxyuser.hue.users)",
            refused("hue", "bob", "User: hue/localhost@EXAMPLE.TEST is not allowed to impersonate bob"))
    t.check("router: ops (groups = root) acting as root from 127.0.0.1 fails the hosts rule",
            refused("ops", "root", "Unauthorized connection for super-user: ops/localhost@EXAMPLE.TEST "
                                   "from IP 127.0.0.1"))

    def bad_rule():
        conf = rt["conf"]
        bad = conf + ".badrule"
        with open(conf) as f, open(bad, "w") as g:
            g.write(f.read().replace("proxyuser.ops.hosts = 10.0.0.0/8", "proxyuser.ops.hosts = 10.0.0.0/33"))
        r = subprocess.run([os.path.join(w.build, "router", "fedrouter"), "-t", "-c", bad], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        expect(r.returncode != 0 and "proxyuser.ops.hosts" in r.stderr and "Invalid CIDR" in r.stderr,
               "fedrouter -t: exit %d: %s" % (r.returncode, r.stderr.strip()[-300:]))
        r = subprocess.run([os.path.join(w.build, "router", "fedrouter"), "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        expect("proxyuser.USER.hosts" in r.stdout + r.stderr, "--help does not document proxyuser.USER.hosts")
    t.check("a bad proxyuser value is a config error naming the key; --help documents the family", bad_rule)


def simple_clients(w, t):
    def simple():
        rt = w.router("router", auth="simple", name="r-simple")
        env = dict(os.environ, HADOOP_NAMENODE=rt["hdfs"], HADOOP_USER_NAME="alice", HADOOP_CONF_DIR="/nonexistent")
        r = subprocess.run(["hdfs", "put", "-", "/a/simple-client"], env=env, input=b"x" * 1000,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        expect(r.returncode == 0, "put through a SIMPLE router: %s" % r.stderr.decode().strip())
        s, conn = w.at_nn(w.ns1)
        try:
            st = Ops(w.fed.C).fileinfo(conn, "/a/simple-client")
            expect(st is not None and st.owner == "alice", "owner at the NameNode: %r" % (st and st.owner))
        finally:
            s.close()
    t.check("auth = simple for clients, Kerberos upstream: the NameNode sees the SIMPLE user alice", simple)

    def no_login_configured():
        conf = os.path.join(w.tmp, "nologin.conf")
        with open(conf, "w") as f:
            f.write("[router]\nhdfs.listen = 127.0.0.1:0\n[statestore]\ndriver = file\n"
                    "[nameservice ns1]\nnamenodes = %s\nprincipal = nn/_HOST@EXAMPLE.TEST\n" % w.ns1["nn"])
        r = subprocess.run([os.path.join(w.build, "router", "fedrouter"), "-t", "-c", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        expect(r.returncode != 0 and "[nameservice ns1] principal" in r.stderr, "fedrouter -t: %d %s" %
               (r.returncode, r.stderr.strip()))
    t.check("a kerberized nameservice without [security] principal is a config error", no_login_configured)


def refusals(w, t):
    C = w.fed.C

    def no_rights():
        rt = w.router("norights")
        rc, out, err = w.hdfs(rt, "ls", "/a")
        expect(rc != 0, "ls /a through a router without proxy rights worked: %r" % out)
        want = "User: norights/localhost@EXAMPLE.TEST is not allowed to impersonate alice"
        expect(AZE in err, "the Go client said: %r" % err.strip())
        # The exception class, as a Hadoop client would see it.
        s = krb_ipc.SaslConn(C, rt["hdfs"])
        try:
            s.negotiate()
            s.gssapi("norights", "localhost")
            conn = s.context(None)
            try:
                conn.call("getFileInfo", C.GetFileInfoRequestProto(src="/a"), C.GetFileInfoResponseProto)
                raise AssertionError("getFileInfo worked")
            except hadoop_ipc.RemoteError as e:
                expect(e.cls == AZE and want in str(e), "RemoteError %s: %s" % (e.cls, e))
        finally:
            s.close()
        # And the other router was not harmed.
        ok(w.hdfs(w.routers["router"], "ls", "/a"), "ls /a through the router with rights")
    t.check("a router without proxy rights: AuthorizationException reaches the client", no_rights)

    def bad_login():
        conf = w.routers["router"]["conf"]
        bad = conf + ".badlogin"
        with open(conf) as f, open(bad, "w") as g:
            g.write(f.read().replace(w.kt["router"], w.kt["norights"]))
        r = subprocess.run([os.path.join(w.build, "router", "fedrouter"), "-c", bad], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        expect(r.returncode == 1, "fedrouter with a keytab lacking its principal: exit %d" % r.returncode)
        expect("login as router/localhost@EXAMPLE.TEST" in r.stderr, "it said: %s" % r.stderr.strip()[-300:])
    t.check("no login (keytab without the router's principal): the router does not start", bad_login)


def renewal(w, t):
    def renew():
        rt = w.router("renew", "upstream.idle_timeout_ms = 1000")
        t0 = time.monotonic()
        ok(w.hdfs(rt, "ls", "/a"), "ls /a at the start")
        n = 0
        while time.monotonic() - t0 < RENEW_LIFE + 15:
            time.sleep(4)
            ok(w.hdfs(rt, "ls", "/b"), "ls /b after %.0f s" % (time.monotonic() - t0))
            n += 1
        kdc_log = open(os.path.join(w.kdc.dir, "kdc.log"), errors="replace").read()
        logins = len(re.findall(r"AS_REQ .* renew/localhost@EXAMPLE.TEST for krbtgt", kdc_log))
        expect(logins >= 2, "%d AS requests for renew/localhost over %.0f s of %d s tickets" %
               (logins, time.monotonic() - t0, RENEW_LIFE))
        expect("renewed from its keytab" in w.log("r-renew"), "the router did not log a renewal")
    t.check("tickets of %d s: the router keeps working across more than one lifetime" % RENEW_LIFE, renew)


def run(build, t):
    w = World(build)
    prepare(w, t)
    through_router(w, t)
    privacy(w, t)
    router_proxyusers(w, t)
    simple_clients(w, t)
    refusals(w, t)
    renewal(w, t)
    krb_world.sanitizer_clean(w, t)


if __name__ == "__main__":
    sys.exit(krb_world.main(sys.argv, run))
