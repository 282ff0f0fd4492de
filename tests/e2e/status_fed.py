"""status_fed: the federation the status page tests look at.

    env = status_fed.start(build_dir)    # everything below, running
    env.r1["admin"]                       # host:port of r1's admin endpoint
    status_fed.get_json(env.r1, "/status.json")
    env.close(failed)

ZooKeeper (tests/zk/zkserver.sh) and, with driver = zookeeper:
  ns1     two NameNodes: minidfs ns1 (active) and minidfs ns1b (--standby)
  ns2     minidfs ns2
  ns3     one NameNode address where nothing listens (unreachable)
  primary the primary metastore: first a URI where nothing listens, then a
          minihms (the router fails over to it and keeps using it)
  sales   a metastore URI where nothing listens
  mounts  /data -> ns1:/data; /logs -> ns2:/logs; /shared -> ns1:/shared,
          ns2:/shared (HASH_ALL); /archive -> ns2:/archive (read-only)
  r1, r2  two routers (both registered in ZooKeeper); r1 refreshes its
          cluster state every 200 ms and serves metastore clients too
A few calls go through r1 first (HDFS calls, and get_all_databases from the
generated thrift client), so its per-method table has rows and it has
used the primary metastore.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "ops"))
import fed  # noqa: E402
import procs  # noqa: E402
from ops_lib import start_zookeeper  # noqa: E402

ROOT = "/frstatus"


class Env:
    pass


def conf_text(rid, hosts, refresh_ms, hms="off"):
    return ("[router]\nid = %s\nhdfs.listen = 127.0.0.1:0\nadmin.listen = 127.0.0.1:0\nhms.listen = %s\n"
            "workers = 2\ncluster.refresh_ms = %d\n\n[statestore]\ndriver = zookeeper\nzk.hosts = %s\n"
            "zk.root = %s\nzk.session_timeout_ms = 4000\n" % (rid, hms, refresh_ms, hosts, ROOT))


def get(addr, path, timeout=10):
    """(status, content type, body bytes) of GET path on addr."""
    try:
        with urllib.request.urlopen("http://%s%s" % (addr, path), timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def get_json(router, path):
    st, ctype, body = get(router["admin"], path)
    procs.expect(ctype.startswith("application/json"), "%s: content type %r" % (path, ctype))
    return st, json.loads(body)


def wait_for(cond, what, timeout=20):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except (OSError, ValueError, KeyError) as e:
            last = e
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s%s" % (what, " (%s)" % last if last else ""))


def start(build):
    E = Env()
    E.build = os.path.abspath(build)
    E.fed = fed.Fed(E.build, prefix="fedrouter-status.")
    E.admin = os.path.join(E.build, "router", "cli", "fedrouter-admin")
    ok = False
    try:
        zkp, E.hosts = start_zookeeper(E.fed.tmp)
        E.fed.procs.append(zkp)
        E.ns1 = E.fed.minidfs("ns1")
        E.ns1b = E.fed.minidfs("ns1b", "--standby")
        E.ns2 = E.fed.minidfs("ns2")
        E.dead_nn = "127.0.0.1:%d" % procs.free_port()
        hms = os.path.join(E.build, "tests", "minihms", "minihms")
        p = procs.start([hms, "--port", "0", "--name", "primary"], E.fed.tmp, "primary", E.fed.procs)
        E.fed.logs.append("primary")
        E.hms = "127.0.0.1:%s" % procs.wait_lines(p, "minihms", {"r": r"^ready port=(\d+)$"})["r"].group(1)
        E.dead_hms = "127.0.0.1:%d" % procs.free_port()
        E.dead_hms2 = "127.0.0.1:%d" % procs.free_port()

        E.conf = os.path.join(E.fed.tmp, "admin.conf")
        with open(E.conf, "w") as f:
            f.write(conf_text("admin", E.hosts, 200))
        E.nn1 = [E.ns1["nn"], E.ns1b["nn"]]
        for args in (["-addNameservice", "ns1", ",".join(E.nn1)],
                     ["-addNameservice", "ns2", E.ns2["nn"]],
                     ["-addNameservice", "ns3", E.dead_nn],
                     ["-add", "/data", "ns1", "/data"],
                     ["-add", "/logs", "ns2", "/logs"],
                     ["-add", "/shared", "ns1,ns2", "/shared", "-order", "HASH_ALL"],
                     ["-add", "/archive", "ns2", "/archive", "-readonly"],
                     ["-addMetastore", "primary", "thrift://%s,thrift://%s" % (E.dead_hms2, E.hms), "-primary"],
                     ["-addMetastore", "sales", "thrift://" + E.dead_hms, "-prefix", "sales_"]):
            r = subprocess.run([E.admin, "-c", E.conf] + args, capture_output=True, text=True, timeout=60)
            procs.expect(r.returncode == 0, "fedrouter-admin %s: %s" % (" ".join(args), (r.stderr or r.stdout)[-300:]))

        E.r1 = start_router(E, "r1", 200, hms="127.0.0.1:0")
        E.r2 = start_router(E, "r2", 1000)
        # Calls through r1, so that its per-method table has rows.
        ops = fed.Ops(E.fed.C, "DFSClient_status")
        c = E.fed.conn(E.r1["hdfs"])
        ops.mkdirs(c, "/data/status")
        for _ in range(5):
            ops.fileinfo(c, "/data/status")
        ops.fileinfo(c, "/logs/none")
        # A metastore call through r1 (the dead one is left out of it).
        sys.path.insert(0, os.path.join(E.build, "hms-thrift", "gen-py"))
        from thrift.protocol import TBinaryProtocol
        from thrift.transport import TSocket, TTransport
        from hive_metastore import ThriftHiveMetastore
        host, port = E.r1["hms"].rsplit(":", 1)
        sock = TSocket.TSocket(host, int(port))
        sock.setTimeout(20000)
        t = TTransport.TBufferedTransport(sock)
        t.open()
        E.hms_dbs = ThriftHiveMetastore.Client(TBinaryProtocol.TBinaryProtocol(t)).get_all_databases()
        t.close()
        ok = True
        return E
    finally:
        if not ok:
            E.fed.close(show_logs=True)


def start_router(E, rid, refresh_ms, hms="off"):
    conf = os.path.join(E.fed.tmp, rid + ".conf")
    with open(conf, "w") as f:
        f.write(conf_text(rid, E.hosts, refresh_ms, hms))
    p = procs.start([os.path.join(E.build, "router", "fedrouter"), "-c", conf], E.fed.tmp, rid, E.fed.procs)
    want = {"ready": r"^ready hdfs=(\S+:\d+) admin=(\S+:\d+)"}
    if hms != "off":
        want["hms"] = r"^serving hms=(\S+:\d+)$"
    m = procs.wait_lines(p, rid, want)
    E.fed.logs.append(rid)
    r = {"proc": p, "hdfs": m["ready"].group(1), "admin": m["ready"].group(2), "id": rid}
    if hms != "off":
        r["hms"] = m["hms"].group(1)
    return r


def wait_settled(E, router):
    """Until router's status shows the table and every NameNode probed."""
    def settled():
        _, j = get_json(router, "/status.json")
        nns = [nn for ns in j["nameservices"] for nn in ns["namenodes"]]
        return len(j["mounts"]) == 4 and len(nns) == 4 and all(nn["role"] != "unknown" for nn in nns)
    wait_for(settled, "the table and a probe of every NameNode in %s's /status.json" % router["id"])
