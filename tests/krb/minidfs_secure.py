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
import subprocess
import sys

import krb_world  # next to this script; puts tests/e2e on the path
import krb_ipc
import procs
from fed import Ops
from krb_ipc import ACE, AZE, FATAL_UNAUTHORIZED, expect_fatal, simple_client_reply

expect = procs.expect


class World(krb_world.KrbWorld):
    def __init__(self, build):
        super().__init__(build, "fedrouter-krbnn.", services=("nn", "router", "hue", "ops"),
                         logins=("router", "hue", "nn", "ops"))
        self.ns = self.minidfs("ns1", "--proxy-user", "router",
                               "--proxy-rule", "hadoop.proxyuser.hue.users=carol",
                               "--proxy-rule", "hadoop.proxyuser.hue.hosts=10.9.9.9",
                               "--proxy-rule", "hadoop.proxyuser.ops.groups=root",
                               "--proxy-rule", "hadoop.proxyuser.ops.hosts=127.0.0.0/8")
        self.conf = krb_world.write_hdfs_conf(os.path.join(self.tmp, "krb-conf"), self.ns["nn"])

    def hdfs(self, *args, stdin=None, binary=False):
        return self.hdfs_conf(self.conf, *args, stdin=stdin, binary=binary)

    def as_user(self, who, user):
        """A GSSAPI connection authenticated as who's ticket, context user."""
        return self.gss_conn(self.ns["nn"], who, user)


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
        rc, out, err = w.hdfs("cat", "/tmp/a/f", binary=True)
        expect(rc == 0 and out == data, "hdfs cat: %d, %d bytes back" % (rc, len(out)))
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
            krb_ipc.expect_refused_context(s)
        finally:
            s.close()
    t.check("alice may not act as bob",
            lambda: expect_fatal(lambda: alice_refused(), -3, AZE,
                                 "User: alice@EXAMPLE.TEST is not allowed to impersonate bob"))

    def hue(user):
        s, _ = w.as_user("hue", user)
        try:
            krb_ipc.expect_refused_context(s)
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
            krb_ipc.expect_refused_context(s)
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
                            (["--kerberos", "nn/_HOST@EXAMPLE.TEST", "--keytab", w.kt["router"]],
                             "holds no key for nn/localhost@EXAMPLE.TEST"),
                            (["--rpc-protection", "secret"], "bad --rpc-protection"),
                            (["--kerberos", "nn/_HOST@EXAMPLE.TEST", "--proxy-rule",
                              "hadoop.proxyuser.x.hosts=10.0.0.0/40"], "Invalid CIDR")):
            r = subprocess.run(base + extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
            expect(r.returncode == 2 and want in r.stderr, "%s: exit %d, %s" % (extra, r.returncode, r.stderr))
    t.check("bad security options are refused at start-up", bad_options)


def run(build, t):
    w = World(build)
    checks(w, t)
    krb_world.sanitizer_clean(w, t)


if __name__ == "__main__":
    sys.exit(krb_world.main(sys.argv, run))
