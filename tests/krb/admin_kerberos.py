#!/usr/bin/python3
"""admin_kerberos.py: fedrouter-admin -add against a kerberized NameNode.

    /usr/bin/python3 tests/krb/admin_kerberos.py BUILD_DIR

A loopback KDC, Debian's ZooKeeper, and one minidfs as a secure NameNode
that requires privacy (nn/_HOST@EXAMPLE.TEST; its superuser is nn). The
nameservice record names the NameNodes' principal, so `-add` authenticates
with GSSAPI on the operator's ticket cache, as `hdfs dfs` would after
kinit, and creates the destination with the entry's owner, group and mode
over a connection whose replies come wrapped:

  - kinit'd as nn/localhost (the superuser): the directory is created with
    owner, group and mode, read back with the Go client;
  - no ticket cache: exit 3, a first line that says to kinit, nothing
    written to the mount table;
  - kinit'd as alice (not the superuser) with -owner bob: the NameNode's
    AccessControlException is shown, nothing written to the mount table.

Prints `ok - NAME` / `not ok - NAME: why`, then `N passed, N failed`.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "zk"))
sys.path.insert(0, os.path.join(REPO, "tests", "ops"))
sys.path.insert(0, HERE)
import admin_cli  # noqa: E402
import krb_world  # noqa: E402
import procs  # noqa: E402
from ops_lib import start_zookeeper  # noqa: E402

expect = procs.expect


def run(build, t):
    w = krb_world.KrbWorld(build, "fedrouter-admin-krb.", logins=("nn",))
    nn = w.minidfs("ns1", "--rpc-protection", "privacy")
    port = nn["nn"].rsplit(":", 1)[1]
    zk, hosts = start_zookeeper(w.tmp)
    w.fed.procs.append(zk)
    conf = os.path.join(w.tmp, "admin.conf")
    admin_cli.zk_conf(conf, "adm", hosts)
    admin = os.path.join(build, "router", "cli", "fedrouter-admin")

    def run_admin(ccache, *args):
        env = dict(os.environ, KRB5CCNAME="FILE:" + ccache)
        env.pop("HADOOP_USER_NAME", None)
        r = subprocess.run([admin, "-c", conf] + list(args), env=env, capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr

    def mounts():
        rc, out, err = run_admin(w.cc["nn"], "-ls")
        expect(rc == 0, "-ls: exit %d: %s" % (rc, err.strip()[-200:]))
        return out

    def setup():
        table = os.path.join(w.tmp, "table.ini")
        with open(table, "w") as f:
            f.write("[nameservice ns1]\nnamenodes = localhost:%s\nprincipal = %s\n" % (port, krb_world.NN_PRINCIPAL))
        rc, out, err = run_admin(w.cc["nn"], "-import", table)
        expect(rc == 0, "-import: exit %d: %s" % (rc, (err or out).strip()[-300:]))
    t.check("a nameservice with the NameNodes' principal is imported", setup)

    def created():
        rc, out, err = run_admin(w.cc["nn"], "-add", "/k", "ns1", "/data/k", "-owner", "alice", "-group", "staff",
                                 "-mode", "750")
        expect(rc == 0, "-add: exit %d: %s" % (rc, (err or out).strip()[-300:]))
        expect("Created ns1:/data/k" in out, "-add does not say it created ns1:/data/k: %r" % out)
        gconf = krb_world.write_hdfs_conf(os.path.join(w.tmp, "nn-conf"), nn["nn"])
        rc, out, err = w.hdfs_conf(gconf, "ls", "-l", "/data", ccache=w.cc["nn"])
        expect(rc == 0, "hdfs ls -l /data: exit %d: %s" % (rc, err.strip()[-200:]))
        line = [ln for ln in out.splitlines() if ln.split()[-1:] == ["k"]]
        f = line[0].split() if line else []
        expect(f[:1] == ["drwxr-x---"] and "alice" in f and "staff" in f,
               "/data/k on the NameNode: %r (want drwxr-x--- alice staff)" % out.strip())
        expect("/k" in mounts(), "the mount /k is not in the table")
    t.check("kinit'd as the superuser, -add creates the destination over Kerberos at privacy", created)

    def no_ticket():
        rc, out, err = run_admin(os.path.join(w.tmp, "none.cc"), "-add", "/nt", "ns1", "/data/nt")
        first = err.splitlines()[0] if err else ""
        expect(rc == 3 and "kinit" in first and "ns1:/data/nt" in first,
               "exit %d, first line %r (want 3 and a line naming the destination and kinit)" % (rc, first))
        expect("/nt" not in mounts(), "the mount /nt was written although its directory was not made")
    t.check("with no ticket cache -add fails saying to kinit, and writes nothing", no_ticket)

    def not_superuser():
        rc, out, err = run_admin(w.cc["alice"], "-add", "/na", "ns1", "/data/na", "-owner", "bob")
        first = err.splitlines()[0] if err else ""
        expect(rc == 3 and "cannot create ns1:/data/na" in first and "ermission" in first,
               "exit %d, first line %r (want 3, the destination and the NameNode's refusal)" % (rc, first))
        print("# %s" % first, flush=True)
        expect("/na" not in mounts(), "the mount /na was written although its directory was refused")
    t.check("kinit'd as alice (not the superuser), the NameNode refuses alice and nothing is written", not_superuser)

    krb_world.sanitizer_clean(w, t)


if __name__ == "__main__":
    sys.exit(krb_world.main(sys.argv, run))
