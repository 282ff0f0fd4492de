#!/usr/bin/python3
"""router_hms_cglib.py: fedrouter's metastore federation driven by the c_glib
client generated from our IDL (hms_cglib_client.c).

    router_hms_cglib.py BUILD_DIR CLIENT

Starts two minihms (`primary`, and `sales` behind the prefix sales_,
read-only) and one fedrouter with both as [metastore] routes, seeds them
directly with the generated Python client (primary: database web; sales:
database orders, table daily partitioned by ds, three partitions), then runs
CLIENT ROUTER PRIMARY SALES and passes its `ok` / `not ok` lines through.
Adds its own lines for setup and for fedrouter surviving the client and
stopping cleanly on SIGTERM. Ends with `N passed, N failed`; exit 1 on
failures.

The client runs with G_SLICE=always-malloc (GLib's slice allocator hides
allocations from AddressSanitizer) and, when the build uses the sanitizers,
LeakSanitizer suppressions for GLib/GObject type registration
(hms_cglib.lsan.supp next to this file).
"""
import os
import re
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
START_TIMEOUT = 30
CLIENT_TIMEOUT = 120
PROCS = []
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procs import Tally, cleanup, stop  # noqa: E402  (shared with the other Python tests)
from procs import start as _start  # noqa: E402
from procs import wait_lines as _wait_lines  # noqa: E402

T = Tally()
ok, not_ok = T.ok, T.not_ok


def start(args, tmp, name):
    return _start(args, tmp, name, PROCS)


def wait_lines(p, what, patterns):
    return _wait_lines(p, what, patterns, START_TIMEOUT)


def sanitized(build):
    """True when the build directory was configured with the sanitizers."""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            return re.search(r"^FEDROUTER_SANITIZE:BOOL=(ON|TRUE|1|YES)$", f.read(), re.M | re.I) is not None
    except OSError:
        return False


def client_env(build):
    env = dict(os.environ)
    env["G_SLICE"] = "always-malloc"
    env["G_DEBUG"] = "gc-friendly"
    if sanitized(build):
        def add(var, opt):
            env[var] = (env[var] + ":" + opt) if env.get(var) else opt
        add("LSAN_OPTIONS", "suppressions=" + os.path.join(HERE, "hms_cglib.lsan.supp"))
        # GLib has no frame pointers: the fast unwinder stops at g_malloc,
        # and the suppressions need the frames above it.
        add("ASAN_OPTIONS", "fast_unwind_on_malloc=0")
    return env


def seed(ms):
    """Content made directly on each backend, with the generated Python client."""
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport
    from hive_metastore import ThriftHiveMetastore
    from hive_metastore.ttypes import (Database, FieldSchema, Partition, SerDeInfo, StorageDescriptor,
                                       Table)

    def client(addr):
        host, port = addr.rsplit(":", 1)
        sock = TSocket.TSocket(host, int(port))
        sock.setTimeout(20000)
        t = TTransport.TBufferedTransport(sock)
        t.open()
        return ThriftHiveMetastore.Client(TBinaryProtocol.TBinaryProtocol(t)), t

    def sd(db, name):
        return StorageDescriptor(cols=[FieldSchema("id", "int", ""), FieldSchema("v", "string", "")],
                                 location="file:/warehouse/%s/%s" % (db, name),
                                 inputFormat="org.apache.hadoop.mapred.TextInputFormat",
                                 outputFormat="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                                 serdeInfo=SerDeInfo("s", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                                                     {}),
                                 parameters={})

    P, pt = client(ms["primary"])
    S, st = client(ms["sales"])
    try:
        P.create_database(Database("web", "", "file:/warehouse/web", {}))
        S.create_database(Database("orders", "", "file:/warehouse/orders", {}))
        S.create_table(Table(tableName="daily", dbName="orders", owner="alice", createTime=0, lastAccessTime=0,
                             retention=0, sd=sd("orders", "daily"), partitionKeys=[FieldSchema("ds", "string", "")],
                             parameters={}, tableType="MANAGED_TABLE"))
        S.add_partitions([Partition(values=["2026-11-%02d" % d], dbName="orders", tableName="daily", createTime=0,
                                    lastAccessTime=0, sd=sd("orders", "daily"), parameters={})
                          for d in range(1, 4)])
    finally:
        pt.close()
        st.close()


def run_client(client, args, env):
    """Run the C client, pass its check lines through; its exit status."""
    p = subprocess.Popen([client] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=env)
    try:
        out, err = p.communicate(timeout=CLIENT_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        not_ok("the c_glib client finishes", "no exit within %d s" % CLIENT_TIMEOUT)
    summary = None
    for line in out.decode(errors="replace").splitlines():
        m = re.match(r"^(\d+) passed, (\d+) failed$", line)
        if m:
            summary = int(m.group(1)), int(m.group(2))
        else:
            print(line, flush=True)
    for line in err.decode(errors="replace").splitlines()[-80:]:
        print("# client: %s" % line, flush=True)
    if summary is None:
        not_ok("the c_glib client reports a summary", "exit status %s, no `N passed, N failed` line" % p.returncode)
        return p.returncode
    T.passed += summary[0]
    T.failed += summary[1]
    # Exit 1 goes with failed checks; a non-zero exit after all checks
    # passed is a sanitizer report (ASan exits 1 too) or a crash at exit.
    if p.returncode != (1 if summary[1] else 0):
        not_ok("the c_glib client exits cleanly", "exit status %s after %d passed, %d failed (see # client lines)"
               % (p.returncode, summary[0], summary[1]))
    return p.returncode


def main(argv):
    if len(argv) != 3:
        print("usage: router_hms_cglib.py BUILD_DIR CLIENT", file=sys.stderr)
        return 2
    build = os.path.abspath(argv[1])
    client = os.path.abspath(argv[2])
    sys.path.insert(0, os.path.join(build, "hms-thrift", "gen-py"))
    minihms = os.path.join(build, "tests", "minihms", "minihms")
    router = os.path.join(build, "router", "fedrouter")
    tmp = tempfile.mkdtemp(prefix="fedrouter-hms-cglib.")
    rp = None
    try:
        ms = {}
        for name in ("primary", "sales"):
            p = start([minihms, "--port", "0", "--name", name], tmp, name)
            ms[name] = "127.0.0.1:%s" % wait_lines(p, name, {"r": r"^ready port=(\d+)$"})["r"].group(1)
        conf = os.path.join(tmp, "fedrouter.conf")
        with open(conf, "w") as f:
            f.write("""[router]
id = hms-cglib-e2e
hdfs.listen = 127.0.0.1:0
hms.listen = 127.0.0.1:0
admin.listen = 127.0.0.1:0
workers = 2

[statestore]
driver = file

[metastore primary]
uris = thrift://%s
primary = true

[metastore sales]
uris = thrift://%s
prefix = sales_
""" % (ms["primary"], ms["sales"]))
        rp = start([router, "-c", conf], tmp, "router")
        R = wait_lines(rp, "fedrouter", {"hms": r"^serving hms=(\S+:\d+)$",
                                         "ready": r"^ready hdfs=(\S+:\d+) admin=(\S+:\d+)$"})["hms"].group(1)
        print("# fedrouter hms=%s; primary %s; sales %s" % (R, ms["primary"], ms["sales"]), flush=True)
        seed(ms)
        ok("setup: two minihms and fedrouter started, sales seeded directly")

        run_client(client, [R, ms["primary"], ms["sales"]], client_env(build))

        if rp.poll() is None:
            ok("fedrouter still running after the c_glib client")
        else:
            not_ok("fedrouter still running after the c_glib client", "exit status %s" % rp.poll())
        status = stop(rp, grace=15)
        if status == 0:
            ok("fedrouter stops cleanly on SIGTERM")
        else:
            not_ok("fedrouter stops cleanly on SIGTERM", "exit status %s" % status)
    except Exception as e:
        not_ok("the test stopped early", "%s: %s" % (type(e).__name__, e))
    finally:
        cleanup(PROCS, tmp, ("router", "primary", "sales"), T.failed)
    return T.finish()

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(128 + s))
    sys.exit(main(sys.argv))
