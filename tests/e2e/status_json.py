#!/usr/bin/python3
"""status_json.py: the status page's data, GET /status.json and GET /resolve,
against a running federation (status_fed.py: ZooKeeper, three minidfs, a
minihms, two routers).

    /usr/bin/python3 tests/e2e/status_json.py BUILD_DIR

Checks the router block (id, version, uptime), the statestore (zookeeper,
its zxid, not stale), each NameNode's role as the refresher's probes see it
(active, standby, unreachable) with a latency for those that answered, the
metastores (the minihms reachable, the dead URI not), the mount table as
written, both routers' registrations, per-method counts that follow calls
made through the router, /resolve answers that match fedrouter-admin
-resolve, that GET / is the HTML page with no external asset, and, last,
with ZooKeeper stopped, that the statestore is shown stale.

Prints `ok - NAME` / `not ok - NAME: why`, then `N passed, N failed`.
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fed  # noqa: E402
import procs  # noqa: E402
import status_fed  # noqa: E402

T = procs.Tally()
expect = procs.expect


def main():
    E = status_fed.start(sys.argv[1])
    failed = True
    try:
        status_fed.wait_settled(E, E.r1)
        _, j = status_fed.get_json(E.r1, "/status.json")

        def router():
            r = j["router"]
            expect(r["id"] == "r1", "id %r" % r["id"])
            expect(re.match(r"^\d+\.\d+", r["version"]), "version %r" % r["version"])
            expect(0 <= r["uptime_s"] < 600, "uptime %r" % r["uptime_s"])
            expect(r["workers"] == 2 and r["draining"] is False and r["safemode"] is False, "router block %r" % r)
        T.check("router: id, version, uptime, workers", router)

        def statestore():
            s = j["statestore"]
            expect(s["driver"] == "zookeeper", "driver %r" % s["driver"])
            expect(s["snapshot"] >= 1, "snapshot %r" % s["snapshot"])
            expect(re.match(r"^0x[0-9a-f]+$", s["zxid"]) and int(s["zxid"], 16) > 0, "zxid %r" % s["zxid"])
            expect(s["connected"] is True and s["stale"] is False and s["stale_s"] == 0, "statestore %r" % s)
        T.check("statestore: zookeeper, snapshot, zxid, not stale", statestore)

        def nameservices():
            ns = {n["name"]: n for n in j["nameservices"]}
            expect(sorted(ns) == ["ns1", "ns2", "ns3"], "nameservices %r" % sorted(ns))
            roles = {nn["address"]: nn for nn in ns["ns1"]["namenodes"]}
            expect([nn["address"] for nn in ns["ns1"]["namenodes"]] == E.nn1, "ns1 NameNodes %r" % list(roles))
            expect(roles[E.nn1[0]]["role"] == "active" and roles[E.nn1[0]]["reachable"] is True,
                   "ns1's first NameNode: %r" % roles[E.nn1[0]])
            expect(roles[E.nn1[1]]["role"] == "standby" and "StandbyException" in roles[E.nn1[1]]["error"],
                   "ns1's second NameNode: %r" % roles[E.nn1[1]])
            expect(ns["ns1"]["active"] == E.nn1[0], "ns1 active %r" % ns["ns1"].get("active"))
            for nn in (roles[E.nn1[0]], roles[E.nn1[1]], ns["ns2"]["namenodes"][0]):
                expect(0 < nn["latency_ms"] < 5000, "latency %r" % nn)
            dead = ns["ns3"]["namenodes"][0]
            expect(dead["address"] == E.dead_nn and dead["role"] == "unreachable" and dead["reachable"] is False,
                   "ns3: %r" % dead)
            expect("active" not in ns["ns3"], "ns3 has no active NameNode")
        T.check("nameservices: every NameNode, active / standby / unreachable, latency", nameservices)

        def metastores():
            ms = {m["name"]: m for m in j["metastores"]}
            expect(sorted(ms) == ["primary", "sales"], "metastores %r" % sorted(ms))
            p, s = ms["primary"], ms["sales"]
            expect(p["primary"] is True and p["prefix"] == "" and p["access"] == "read-write", "primary %r" % p)
            expect(p["uris"][0]["uri"] == "thrift://" + E.dead_hms2 and p["uris"][0]["reachable"] is False,
                   "primary's first uri %r" % p)
            expect(p["uris"][1]["uri"] == "thrift://" + E.hms and p["uris"][1]["reachable"] is True
                   and p["uris"][1]["latency_ms"] >= 0 and p["reachable"] is True, "primary's second uri %r" % p)
            expect(s["prefix"] == "sales_" and s["access"] == "read-only", "sales %r" % s)
            expect(s["uris"][0]["reachable"] is False and s["uris"][0]["error"] and s["reachable"] is False,
                   "sales uris %r" % s)
            expect(p.get("in_use") == "thrift://" + E.hms, "primary in use after the failover: %r" % p.get("in_use"))
        T.check("metastores: prefixes, access, the live one reachable and the dead one not", metastores)

        def mounts():
            m = {e["src"]: e for e in j["mounts"]}
            expect(sorted(m) == ["/archive", "/data", "/logs", "/shared"], "mounts %r" % sorted(m))
            expect(m["/shared"]["order"] == "HASH_ALL" and
                   [(d["ns"], d["path"]) for d in m["/shared"]["destinations"]] == [("ns1", "/shared"),
                                                                                     ("ns2", "/shared")],
                   "/shared %r" % m["/shared"])
            expect(m["/archive"]["readonly"] is True and m["/data"]["readonly"] is False, "read-only flags")
        T.check("mounts: the table as fedrouter-admin wrote it", mounts)

        def routers():
            def both():
                _, k = status_fed.get_json(E.r1, "/status.json")
                return sorted(r["id"] for r in k["routers"]) == ["r1", "r2"]
            status_fed.wait_for(both, "r1 and r2 registered")
            _, k = status_fed.get_json(E.r1, "/status.json")
            rs = {r["id"]: r for r in k["routers"]}
            expect(rs["r1"]["self"] is True and rs["r2"]["self"] is False, "self flags %r" % rs)
            expect(rs["r2"]["hdfs"] == E.r2["hdfs"] and rs["r2"]["admin"] == E.r2["admin"], "r2 %r" % rs["r2"])
        T.check("routers: both registrations, this one marked", routers)

        def methods():
            def row(k, name):
                return [m for m in k["methods"] if m["proto"] == "hdfs" and m["method"] == name]
            before = sum(m["calls"] for m in row(j, "getFileInfo"))
            expect(before >= 6, "getFileInfo calls before: %d" % before)
            ops = fed.Ops(E.fed.C, "DFSClient_status2")
            c = E.fed.conn(E.r1["hdfs"])
            for _ in range(20):
                ops.fileinfo(c, "/data/status")
            time.sleep(1.1)  # a rate window
            _, k = status_fed.get_json(E.r1, "/status.json")
            rows = row(k, "getFileInfo")
            expect(sum(m["calls"] for m in rows) == before + 20, "getFileInfo calls after: %r" % rows)
            ns1 = [m for m in rows if m["ns"] == "ns1"][0]
            expect(0 < ns1["p50_ms"] <= ns1["p90_ms"] <= ns1["p99_ms"], "percentiles %r" % ns1)
            expect(ns1["mean_ms"] > 0 and ns1["rate"] > 0, "mean and rate %r" % ns1)
            up = [m for m in k["methods"] if m["proto"] == "hdfs_upstream" and m["ns"] == "ns1"]
            expect(up, "no upstream rows for ns1")
        T.check("methods: counts follow the calls, percentiles ordered, a rate", methods)

        def resolve():
            for path in ("/data/a/b", "/shared/x/y", "/archive/z", "/nowhere/q"):
                st, r = status_fed.get_json(E.r1, "/resolve?path=" + path.replace("/", "%2F"))
                out = subprocess.run([E.admin, "-c", E.conf, "-resolve", path], capture_output=True, text=True,
                                     timeout=30)
                if path == "/nowhere/q":
                    expect(st == 200 and r["ok"] is False and r["error"], "%s: %r" % (path, r))
                    expect(out.returncode != 0, "fedrouter-admin -resolve %s: %r" % (path, out.stdout))
                    continue
                expect(st == 200 and r["ok"] is True and r["path"] == path, "%s: %r" % (path, r))
                want = "%s:%s" % (r["nameservice"], r["dest_path"])
                expect(want in out.stdout, "%s: router says %s, fedrouter-admin says %r" % (path, want, out.stdout))
            _, r = status_fed.get_json(E.r1, "/resolve?path=%2Fdata%2Fa%2Fb")
            expect(r["nameservice"] == "ns1" and r["dest_path"] == "/data/a/b" and r["mount"] == "/data", "%r" % r)
            _, r = status_fed.get_json(E.r1, "/resolve?path=/archive/z")
            expect(r["readonly"] is True and r["mount"] == "/archive", "/archive %r" % r)
            _, r = status_fed.get_json(E.r1, "/resolve?path=/shared/x/y")
            expect(sorted(l["ns"] for l in r["locations"]) == ["ns1", "ns2"], "/shared locations %r" % r)
            st, r = status_fed.get_json(E.r1, "/resolve")
            expect(st == 400 and r["ok"] is False, "no path: %s %r" % (st, r))
        T.check("resolve: the router's resolver, as fedrouter-admin -resolve answers", resolve)

        def page():
            st, ctype, body = status_fed.get(E.r1["admin"], "/")
            text = body.decode()
            expect(st == 200 and ctype.startswith("text/html"), "GET /: %s %s" % (st, ctype))
            expect("/status.json" in text and "/resolve?path=" in text, "the page does not call its endpoints")
            ext = re.findall(r'(?:src|href)\s*=\s*"(?!#)[^"]*"|https?://', text)
            expect(not ext, "external assets: %r" % ext)
            st, _, _ = status_fed.get(E.r1["admin"], "/no-such-page")
            expect(st == 404, "unknown page: %s" % st)
            st, _, body = status_fed.get(E.r1["admin"], "/metrics")
            expect(st == 200 and b"fedrouter_calls_total" in body, "/metrics still served")
        T.check("GET /: the page, self-contained; /metrics and 404 unchanged", page)

        def stale():
            zk = E.fed.procs[0]  # the first process status_fed started
            procs.stop(zk)
            time.sleep(1.2)

            def says_stale():
                _, k = status_fed.get_json(E.r1, "/status.json")
                s = k["statestore"]
                return s["connected"] is False and s["stale"] is True and s["stale_s"] >= 1 and "routers_error" in k
            status_fed.wait_for(says_stale, "the statestore shown stale with ZooKeeper stopped")
            _, k = status_fed.get_json(E.r1, "/status.json")
            expect(len(k["mounts"]) == 4, "the stale table is still shown: %r" % k["mounts"])
        T.check("statestore: ZooKeeper stopped, the table shown stale and still served", stale)
        failed = T.failed > 0
    finally:
        E.fed.close(show_logs=failed)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
