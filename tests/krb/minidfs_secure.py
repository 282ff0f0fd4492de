#!/usr/bin/python3
"""minidfs_secure.py: minidfs as a secure NameNode (--kerberos).

    /usr/bin/python3 tests/krb/minidfs_secure.py BUILD_DIR

A loopback MIT KDC (kdc.py) with user alice and the services
nn/localhost (minidfs), router/localhost and hue/localhost. One minidfs runs

    --kerberos nn/_HOST@EXAMPLE.TEST --keytab nn.keytab
    --proxy-user router                       (anyone, from anywhere)
    --proxy-rule hadoop.proxyuser.hue.users=carol
    --proxy-rule hadoop.proxyuser.hue.hosts=10.9.9.9
    --proxy-rule hadoop.proxyuser.ops.groups=root  (the system's group database)
    --proxy-rule hadoop.proxyuser.ops.hosts=127.0.0.0/8

and the checks are what a secure NameNode does: nn/localhost is the
superuser (the principal's user, as a NameNode runs as it); the Go `hdfs` client
kinit'd as alice works and owns what it creates; a SIMPLE client is refused
with Hadoop's words; router/localhost (a GSSAPI client from Python) may act
as bob and bob then owns what it creates; alice may not act as bob; hue may
not act as bob (not in .users) nor as carol from 127.0.0.1 (not in .hosts).
ops may act as root (in group root) and not as alice. Bad option values are refused at start-up.

Prints `ok - NAME` or `not ok - NAME: why`, then `N passed, N failed`.
"""
import os
import re
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
from router_kerberos import CORE_KRB, HDFS_KRB, simple_client_reply, expect_fatal  # noqa: E402

expect = procs.expect
ACE = "org.apache.hadoop.security.AccessControlException"
AZE = "org.apache.hadoop.security.authorize.AuthorizationException"
FATAL_UNAUTHORIZED = 15


class World:
    def __init__(self, build):
        self.build = build
        self.fed = Fed(build, prefix="fedrouter-krbnn.")
        self.tmp = self.fed.tmp
        self.kdc = Kdc(self.tmp)
        self.kdc.add_user("alice", "alicepw")
        self.nn_keytab = self.kdc.add_service("nn/localhost")
        self.router_keytab = self.kdc.add_service("router/localhost")
        self.hue_keytab = self.kdc.add_service("hue/localhost")
        self.ops_keytab = self.kdc.add_service("ops/localhost")
        self.cc = {}
        self.cc["alice"] = os.path.join(self.tmp, "alice.cc")
        self.kdc.kinit("alice", "alicepw", self.cc["alice"])
        for who, kt in (("router", self.router_keytab), ("hue", self.hue_keytab), ("nn", self.nn_keytab),
                        ("ops", self.ops_keytab)):
            self.cc[who] = os.path.join(self.tmp, who + ".cc")
            self.kdc.kinit_keytab(who + "/localhost", kt, self.cc[who])
        os.environ.update({k: v for k, v in self.kdc.env(self.cc["alice"]).items() if k.startswith("KRB5")})
        self.ns = self.fed.minidfs("ns1", "--kerberos", "nn/_HOST@EXAMPLE.TEST", "--keytab", self.nn_keytab,
                                   "--proxy-user", "router",
                                   "--proxy-rule", "hadoop.proxyuser.hue.users=carol",
                                   "--proxy-rule", "hadoop.proxyuser.hue.hosts=10.9.9.9",
                                   "--proxy-rule", "hadoop.proxyuser.ops.groups=root",
                                   "--proxy-rule", "hadoop.proxyuser.ops.hosts=127.0.0.0/8")
        port = self.ns["nn"].rsplit(":", 1)[1]
        self.conf = os.path.join(self.tmp, "krb-conf")
        os.makedirs(self.conf)
        with open(os.path.join(self.conf, "core-site.xml"), "w") as f:
            f.write(CORE_KRB.format(port=port))
        with open(os.path.join(self.conf, "hdfs-site.xml"), "w") as f:
            f.write(HDFS_KRB)

    def hdfs(self, *args, stdin=None):
        env = self.kdc.env(self.cc["alice"])
        env["HADOOP_CONF_DIR"] = self.conf
        env.pop("HADOOP_NAMENODE", None)
        env.pop("HADOOP_USER_NAME", None)
        r = subprocess.run(["hdfs"] + list(args), env=env, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def as_user(self, who, user):
        """A GSSAPI connection authenticated as who's ticket, context user."""
        os.environ["KRB5CCNAME"] = "FILE:" + self.cc[who]
        s = krb_ipc.SaslConn(self.fed.C, self.ns["nn"])
        s.negotiate()
        s.gssapi("nn", "localhost")
        return s, s.context(user)

    def close(self, show_logs):
        self.kdc.stop()
        if show_logs:
            print("# kdc.log:\n# " + self.kdc.log_tail().replace("\n", "\n# "))
        self.fed.close(show_logs=show_logs)


def refused_call(w, s):
    """A call after a context: the FATAL a refused context got, raised."""
    C = w.fed.C
    rh = C.RequestHeaderProto(methodName="getFileInfo", declaringClassProtocolName=hadoop_ipc.PROTOCOL,
                              clientProtocolVersion=1)
    s.sock.sendall(krb_ipc.frame(s.header(0), rh.SerializeToString(),
                                 C.GetFileInfoRequestProto(src="/").SerializeToString()))
    cid, hdr, _ = krb_ipc.read_reply(C, s.sock)
    if hdr.status == C.RpcResponseHeaderProto.FATAL:
        raise krb_ipc.Fatal(cid, hdr)
    raise AssertionError("the context was accepted (call %d status %d)" % (cid, hdr.status))


def checks(w, t):
    C = w.fed.C
    ops = Ops(C)

    def superuser():
        s, conn = w.as_user("nn", None)
        try:
            ops.mkdirs(conn, "/tmp", 0o777)
            ops.set_permission(conn, "/tmp", 0o777)
            expect(ops.fileinfo(conn, "/tmp").owner == "nn", "/tmp is not nn's")
        finally:
            s.close()
    t.check("nn/localhost is the superuser of --kerberos nn/_HOST@REALM: makes /tmp 777", superuser)

    def go_client():
        rc, out, err = w.hdfs("mkdir", "-p", "/tmp/a")
        expect(rc == 0, "hdfs mkdir: %d %s" % (rc, err.strip()))
        data = os.urandom(200000)
        rc, out, err = w.hdfs("put", "-", "/tmp/a/f", stdin=data)
        expect(rc == 0, "hdfs put: %d %s" % (rc, err.strip()))
        r = subprocess.run(["hdfs", "cat", "/tmp/a/f"], env=dict(w.kdc.env(w.cc["alice"]), HADOOP_CONF_DIR=w.conf),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        expect(r.returncode == 0 and r.stdout == data, "hdfs cat: %d, %d bytes back" % (r.returncode, len(r.stdout)))
        rc, out, err = w.hdfs("ls", "-l", "/tmp/a/f")
        expect(rc == 0 and out.split()[1:2] == ["alice"], "owner: %r %s" % (out, err.strip()))
    t.check("Go client kinit'd as alice: mkdir, put/cat byte-identical, owner alice", go_client)

    def simple_refused():
        cid, hdr = simple_client_reply(C, w.ns["nn"])
        expect(hdr.status == C.RpcResponseHeaderProto.FATAL, "status %d, want FATAL" % hdr.status)
        expect(hdr.errorDetail == FATAL_UNAUTHORIZED, "error detail %d" % hdr.errorDetail)
        expect(hdr.exceptionClassName == ACE, "class %s" % hdr.exceptionClassName)
        want = "SIMPLE authentication is not enabled.  Available:[KERBEROS]"
        expect(hdr.errorMsg == want, "message %r, want %r" % (hdr.errorMsg, want))
        r = subprocess.run(["hdfs", "ls", "/"], env=dict(os.environ, HADOOP_NAMENODE=w.ns["nn"],
                                                       HADOOP_USER_NAME="alice", HADOOP_CONF_DIR="/nonexistent"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        expect(r.returncode != 0, "the Go client without Kerberos listed /")
    t.check("a SIMPLE client is refused: SIMPLE authentication is not enabled", simple_refused)

    def router_impersonates():
        s, conn = w.as_user("router", "bob")
        try:
            ops.make_file(conn, "/tmp/bobs")
            st = ops.fileinfo(conn, "/tmp/bobs")
            expect(st.owner == "bob", "owner %r, want bob" % st.owner)
        finally:
            s.close()
        s, conn = w.as_user("router", None)
        try:
            ops.make_file(conn, "/tmp/routers")
            expect(ops.fileinfo(conn, "/tmp/routers").owner == "router", "own context: not router")
        finally:
            s.close()
    t.check("router/localhost (--proxy-user router) acts as bob; bob owns the file", router_impersonates)

    def alice_refused():
        s, _ = w.as_user("alice", "bob")
        try:
            refused_call(w, s)
        finally:
            s.close()
    t.check("alice may not act as bob",
            lambda: expect_fatal(lambda: alice_refused(), -3, AZE,
                                 "User: alice@EXAMPLE.TEST is not allowed to impersonate bob"))

    def hue(user):
        s, _ = w.as_user("hue", user)
        try:
            refused_call(w, s)
        finally:
            s.close()
    t.check("hue may not act as bob (not in hadoop.proxyuser.hue.users)",
            lambda: expect_fatal(lambda: hue("bob"), -3, AZE,
                                 "User: hue/localhost@EXAMPLE.TEST is not allowed to impersonate bob"))
    t.check("hue may not act as carol from 127.0.0.1 (hadoop.proxyuser.hue.hosts)",
            lambda: expect_fatal(lambda: hue("carol"), -3, AZE,
                                 "Unauthorized connection for super-user: hue/localhost@EXAMPLE.TEST "
                                 "from IP 127.0.0.1"))

    def ops_groups():
        s, conn = w.as_user("ops", "root")
        try:
            expect(ops.fileinfo(conn, "/tmp") is not None, "no /tmp")
        finally:
            s.close()
        s, _ = w.as_user("ops", "alice")
        try:
            refused_call(w, s)
        finally:
            s.close()
    t.check("ops (groups = root) may act as root, a member, and not as alice",
            lambda: expect_fatal(ops_groups, -3, AZE, "User: ops/localhost@EXAMPLE.TEST is not allowed to impersonate alice"))

    def still_serving():
        rc, out, err = w.hdfs("ls", "/tmp")
        expect(rc == 0 and set(out.split()) >= {"a", "bobs", "routers"}, "hdfs ls /tmp: %d %r %s" % (rc, out, err))
    t.check("the refusals harmed no one: the Go client still lists /tmp", still_serving)

    def bad_options():
        mini = os.path.join(w.build, "tests", "minidfs", "minidfs")
        base = [mini, "--nn-port", "0", "--dn-port", "0", "--data-dir", os.path.join(w.tmp, "bad"),
                "--nameservice", "nsx"]
        for extra, want in ((["--proxy-user", "router"], "need --kerberos"),
                            (["--kerberos", "nn/_HOST@EXAMPLE.TEST", "--keytab", w.router_keytab],
                             "holds no key for nn/localhost@EXAMPLE.TEST"),
                            (["--rpc-protection", "secret"], "bad --rpc-protection"),
                            (["--kerberos", "nn/_HOST@EXAMPLE.TEST", "--proxy-rule",
                              "hadoop.proxyuser.x.hosts=10.0.0.0/40"], "Invalid CIDR")):
            r = subprocess.run(base + extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
            expect(r.returncode == 2 and want in r.stderr, "%s: exit %d, %s" % (extra, r.returncode, r.stderr))
    t.check("bad security options are refused at start-up", bad_options)


def sanitizer_clean(w, t):
    """Stops the processes and checks that none of them logged a sanitizer
    report (ASan, LeakSanitizer, UBSan, TSan builds)."""
    def check():
        for p in w.fed.procs:
            procs.stop(p)
        bad = []
        for name in w.fed.logs:
            path = os.path.join(w.tmp, name + ".err")
            if os.path.exists(path):
                text = open(path, errors="replace").read()
                if re.search(r"ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:", text):
                    bad.append(name)
        expect(not bad, "sanitizer reports in the logs of %s" % ", ".join(bad))
    t.check("no process logged a sanitizer report, and all stopped", check)


def main(argv):
    if len(argv) != 2:
        print("usage: minidfs_secure.py BUILD_DIR", file=sys.stderr)
        return 2
    t = procs.Tally()
    w = None
    try:
        w = World(argv[1])
        checks(w, t)
        sanitizer_clean(w, t)
    except Exception as e:
        t.not_ok("set-up", "%s: %s" % (type(e).__name__, e))
    finally:
        if w:
            w.close(show_logs=t.failed > 0)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
