"""krb_world: the set-up the Kerberos end-to-end tests share.

    class World(krb_world.KrbWorld):
        def __init__(self, build):
            super().__init__(build, "fedrouter-krbx.", services=("nn", "router"), logins=("nn",))
            self.ns1 = self.minidfs("ns1", "--proxy-user", "router")  # --kerberos nn/_HOST@REALM, nn's keytab
            rt = self.router("r1", svc="router")   # [security] auth = kerberos; rt["krb_conf"]
            rc, out, err = self.hdfs_conf(rt["krb_conf"], "ls", "/")   # the Go client as alice
            s, conn = self.gss_conn(rt["hdfs"], who="nn", service="router", user="alice")

    def run(build, t):
        w = World(build)
        ...t.check(...)...

    if __name__ == "__main__":
        sys.exit(krb_world.main(sys.argv, run))

A KrbWorld is a Fed (tests/e2e/fed.py) in its own temp dir with a loopback
KDC beside it (kdc.py): users (password NAME + "pw"), service principals
NAME/localhost exported to keytabs (self.kt), ticket caches (self.cc; alice's
is also self.ccache) for alice and for the services in `logins`. The KRB5_*
variables of alice's realm go into os.environ, so that minidfs and fedrouter
started from here, and python3-gssapi in this process, use that realm and
nothing of the machine's own Kerberos set-up.

main() prints the usage line, counts `ok -` / `not ok -` lines (procs.Tally),
reports set-up trouble as `not ok - set-up`, and closes every world made
during the run, showing the logs when something failed (FR_KEEP=1 keeps the
temp dir).

The module-level pieces serve scripts without a Fed (tests/bench/privacy.py):
start_realm(), start_minidfs(), write_hdfs_conf(), hdfs_env(), run_hdfs().
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
E2E = os.path.join(os.path.dirname(HERE), "e2e")
if E2E not in sys.path:
    sys.path.insert(0, E2E)
import procs  # noqa: E402
from fed import Fed  # noqa: E402
from kdc import Kdc, REALM  # noqa: E402
import krb_ipc  # noqa: E402

NN_PRINCIPAL = "nn/_HOST@" + REALM
MINIDFS_READY = r"^ready nn=(\S+:\d+) dn=(\S+:\d+) bpid=(\S+)$"

# The Go hdfs client's configuration: the NameNode (or router) on localhost,
# so that _HOST in the principal becomes localhost.
CORE_SITE = """<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://localhost:{port}</value></property>
{auth}</configuration>
"""
CORE_AUTH = "  <property><name>hadoop.security.authentication</name><value>kerberos</value></property>\n"
HDFS_SITE = """<configuration>
  <property><name>dfs.namenode.kerberos.principal</name><value>{svc}/_HOST@{realm}</value></property>
</configuration>
"""


def start_realm(tmp, users=("alice",), services=("nn",), logins=()):
    """A KDC in tmp with users (password NAME + "pw"), the principals
    SVC/localhost of services in keytabs, and ticket caches tmp/NAME.cc for
    the first user (from the password) and for each of logins (from its
    keytab). Returns (kdc, {svc: keytab}, {name: ccache}); stops the KDC
    when a step fails."""
    kdc = Kdc(tmp)
    try:
        for u in users:
            kdc.add_user(u, u + "pw")
        kt = {svc: kdc.add_service(svc + "/localhost") for svc in services}
        cc = {}
        if users:
            cc[users[0]] = os.path.join(tmp, users[0] + ".cc")
            kdc.kinit(users[0], users[0] + "pw", cc[users[0]])
        for svc in logins:
            cc[svc] = os.path.join(tmp, svc + ".cc")
            kdc.kinit_keytab(svc + "/localhost", kt[svc], cc[svc])
        return kdc, kt, cc
    except BaseException:
        kdc.stop()
        raise


def minidfs_security(keytab, principal=NN_PRINCIPAL):
    """minidfs's options for a secure NameNode."""
    return ["--kerberos", principal, "--keytab", keytab]


def start_minidfs(build, tmp, ns, keytab, *extra, running, env=None, principal=NN_PRINCIPAL):
    """minidfs as a secure NameNode outside a Fed: stderr in tmp/NS.err, the
    process appended to running. Returns {proc, nn, dn, bpid, name} once its
    ready line came."""
    data = os.path.join(tmp, ns + ".data")
    os.makedirs(data, exist_ok=True)
    args = [os.path.join(build, "tests", "minidfs", "minidfs"), "--nn-port", "0", "--dn-port", "0",
            "--data-dir", data, "--nameservice", ns] + minidfs_security(keytab, principal) + list(extra)
    with open(os.path.join(tmp, ns + ".err"), "wb") as err:
        p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    running.append(p)
    m = procs.wait_lines(p, "minidfs " + ns, {"ready": MINIDFS_READY})["ready"]
    return {"proc": p, "nn": m.group(1), "dn": m.group(2), "bpid": m.group(3), "name": ns}


def write_hdfs_conf(d, addr, svc="nn", kerberos=True):
    """core-site.xml for the Go client to addr (HOST:PORT or a port), and
    with kerberos, hadoop.security.authentication and an hdfs-site.xml
    naming svc/_HOST as the NameNode's principal. Returns d."""
    port = str(addr).rsplit(":", 1)[-1]
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "core-site.xml"), "w") as f:
        f.write(CORE_SITE.format(port=port, auth=CORE_AUTH if kerberos else ""))
    if kerberos:
        with open(os.path.join(d, "hdfs-site.xml"), "w") as f:
            f.write(HDFS_SITE.format(svc=svc, realm=REALM))
    return d


def hdfs_env(kdc, ccache, conf, user=None):
    """The Go client's environment: the realm, the ticket cache, the
    configuration in conf; HADOOP_USER_NAME=user (a SIMPLE client) or none."""
    env = kdc.env(ccache)
    env["HADOOP_CONF_DIR"] = conf
    env.pop("HADOOP_NAMENODE", None)
    if user:
        env["HADOOP_USER_NAME"] = user
    else:
        env.pop("HADOOP_USER_NAME", None)
    return env


def run_hdfs(env, *args, stdin=None, binary=False, timeout=60):
    """The Go client: (exit status, stdout, stderr); stdout as bytes when binary."""
    r = subprocess.run(["hdfs"] + list(args), env=env, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    out = r.stdout if binary else r.stdout.decode(errors="replace")
    return r.returncode, out, r.stderr.decode(errors="replace")


_worlds = []  # made during main(), closed at its end even when set-up failed half way


class KrbWorld:
    kdc_tail = 20  # lines of kdc.log shown after a failure

    def __init__(self, build, prefix, users=("alice",), services=("nn",), logins=()):
        self.build = build
        self.fed = Fed(build, prefix=prefix)
        self.tmp = self.fed.tmp
        self.kdc = None
        _worlds.append(self)
        self.kdc, self.kt, self.cc = start_realm(self.tmp, users, services, logins)
        self.ccache = self.cc.get("alice")
        # fedrouter, minidfs and python3-gssapi in this process read these.
        os.environ.update({k: v for k, v in self.kdc.env(self.ccache).items() if k.startswith("KRB5")})

    def minidfs(self, ns, *extra):
        """A secure NameNode (--kerberos nn/_HOST@REALM with nn's keytab) in the Fed."""
        return self.fed.minidfs(ns, *(minidfs_security(self.kt["nn"]) + list(extra)))

    def router(self, name, auth="kerberos", svc="nn", security="", body="", router_keys="", simple_conf=False):
        """fedrouter with [security] auth, principal svc/_HOST@REALM, svc's
        keytab and the lines `security`, then body; default nameservice ns1.
        The Go client's configuration for it is in rt["krb_conf"] (and a
        SIMPLE one in rt["simple_conf"] when asked for)."""
        sec = "\n[security]\nauth = %s\nprincipal = %s/_HOST@%s\nkeytab = %s\n%s\n" % (
            auth, svc, REALM, self.kt[svc], security.strip())
        rt = self.fed.router(sec + body, default_ns="ns1", name=name, router_keys=router_keys)
        rt["krb_conf"] = write_hdfs_conf(os.path.join(self.tmp, name + "-krb-conf"), rt["hdfs"], svc)
        if simple_conf:
            rt["simple_conf"] = write_hdfs_conf(os.path.join(self.tmp, name + "-simple-conf"), rt["hdfs"],
                                                kerberos=False)
        return rt

    def hdfs_conf(self, conf, *args, stdin=None, binary=False, ccache=None, user=None):
        """The Go client with the configuration in conf, kinit'd as alice
        (or with ccache): (exit status, stdout, stderr)."""
        return run_hdfs(hdfs_env(self.kdc, ccache or self.ccache, conf, user), *args, stdin=stdin, binary=binary)

    def gss_conn(self, addr, who=None, user=None, service="nn"):
        """A SASL GSSAPI connection to addr (service@localhost) with the
        tickets of who (a name of self.cc; alice by default) and context
        user `user`: (SaslConn, Conn for calls)."""
        saved = os.environ.get("KRB5CCNAME")
        os.environ["KRB5CCNAME"] = "FILE:" + self.cc[who or "alice"]
        s = None
        try:
            s = krb_ipc.SaslConn(self.fed.C, addr)
            s.negotiate()
            s.gssapi(service, "localhost")
            return s, s.context(user)
        except BaseException:
            if s:
                s.close()
            raise
        finally:
            if saved is None:
                os.environ.pop("KRB5CCNAME", None)
            else:
                os.environ["KRB5CCNAME"] = saved

    def log(self, name):
        """The stderr of process name (tmp/NAME.err)."""
        with open(os.path.join(self.tmp, name + ".err"), errors="replace") as f:
            return f.read()

    def close(self, show_logs):
        if self.kdc:
            self.kdc.stop()
            if show_logs:
                print("# kdc.log:\n# " + self.kdc.log_tail(self.kdc_tail).replace("\n", "\n# "))
        self.fed.close(show_logs=show_logs)


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
                with open(path, errors="replace") as f:
                    text = f.read()
                if re.search(r"ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:", text):
                    bad.append(name)
        procs.expect(not bad, "sanitizer reports in the logs of %s" % ", ".join(bad))
    t.check("no process logged a sanitizer report, and all stopped", check)


def main(argv, run):
    """SCRIPT BUILD_DIR: run(build, tally), then `N passed, N failed`;
    exit status 1 on a failure."""
    if len(argv) != 2:
        print("usage: %s BUILD_DIR" % os.path.basename(argv[0]), file=sys.stderr)
        return 2
    t = procs.Tally()
    try:
        run(argv[1], t)
    except Exception as e:  # set-up trouble is a failure with its reason
        t.not_ok("set-up", "%s: %s" % (type(e).__name__, e))
    finally:
        while _worlds:
            _worlds.pop().close(show_logs=t.failed > 0)
    return t.finish()
