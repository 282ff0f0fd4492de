"""k8s_manifests: deploy/k8s/*.yaml against the configuration they mount.

  parse      every manifest parses (python3-yaml); each object has a kind,
             an apiVersion and a name; all the objects asked for are there
  config     the ConfigMap's fedrouter.ini passes `fedrouter -t`, and so
             does the table ConfigMap's table.ini as records
  ports      the container ports are the config's hdfs/hms/admin ports; the
             Services send their ports to the right ones
  probes     readiness is GET /readyz and liveness GET /healthz, on the port
             of admin.listen
  selectors  Services, PodDisruptionBudget and anti-affinity select the
             router pods, and only them
  mounts     the paths the config and the Job name (config, ZooKeeper auth
             file, table) are inside the volumes mounted from the ConfigMaps
             and the Secret, under keys those objects have
  drain      terminationGracePeriodSeconds covers preStop plus the drain
  live       the router runs on the ConfigMap's config (addresses moved to
             loopback, a real ZooKeeper, the Secret's auth file): the probe
             paths answer 200 on its admin port, and the Job's command
             (fedrouter-admin -import) loads the table ConfigMap, after
             which /healthz?verbose names its nameservices and metastores
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import ops_lib  # noqa: E402
import procs  # noqa: E402
from ops_lib import http_get  # noqa: E402
from procs import expect  # noqa: E402

BUILD = sys.argv[1]
FEDROUTER = os.path.join(BUILD, "router", "fedrouter")
ADMIN = os.path.join(BUILD, "router", "cli", "fedrouter-admin")
K8S = os.path.join(HERE, "..", "..", "deploy", "k8s")
WANT = {("ConfigMap", "fedrouter-config"), ("ConfigMap", "fedrouter-table"), ("Secret", "fedrouter-secrets"),
        ("Deployment", "fedrouter"), ("PodDisruptionBudget", "fedrouter"), ("Service", "fedrouter-hdfs"),
        ("Service", "fedrouter-metastore"), ("Job", "fedrouter-import")}


def load_all():
    objs = {}
    for name in sorted(os.listdir(K8S)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(K8S, name)) as f:
            for doc in yaml.safe_load_all(f):
                if doc is None:
                    continue
                for k in ("apiVersion", "kind", "metadata"):
                    expect(k in doc, "%s: an object without %s" % (name, k))
                objs[(doc["kind"], doc["metadata"]["name"])] = doc
    return objs


def ini_value(text, key):
    m = re.search(r"^\s*%s\s*=\s*([^#\n]*?)\s*(#.*)?$" % re.escape(key), text, re.M)
    return m.group(1) if m else None


def port_of(text, key):
    return int(ini_value(text, key).rsplit(":", 1)[1])


def match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def container_port(container, ref):
    """The containerPort a Service's targetPort or a probe's port names."""
    for p in container["ports"]:
        if ref in (p.get("name"), p["containerPort"]):
            return p["containerPort"]
    return None


def mounted(pod_spec, container, path):
    """(volume, key) holding the file at path, or None."""
    best = None
    for vm in container.get("volumeMounts", []):
        mp = vm["mountPath"].rstrip("/") + "/"
        if path.startswith(mp) and (best is None or len(mp) > len(best[0])):
            best = (mp, vm["name"])
    if not best:
        return None
    vol = next(v for v in pod_spec["volumes"] if v["name"] == best[1])
    return vol, path[len(best[0]):]


def source_keys(objs, vol):
    if "configMap" in vol:
        return ("ConfigMap", vol["configMap"]["name"]), set(objs[("ConfigMap", vol["configMap"]["name"])]["data"])
    sec = objs[("Secret", vol["secret"]["secretName"])]
    return ("Secret", sec["metadata"]["name"]), set(sec.get("data", {})) | set(sec.get("stringData", {}))


def run(args, timeout=60):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


def main():
    tmp = tempfile.mkdtemp(prefix="fedrouter-k8s.")
    t = procs.Tally()
    ps = []
    zk = None
    st = {}

    def parse():
        st["objs"] = load_all()
        missing = WANT - set(st["objs"])
        expect(not missing, "missing: %s" % sorted(missing))
    t.check("parse: every manifest parses, every object is there", parse)
    if "objs" not in st:
        return t.finish()
    objs = st["objs"]
    ini = objs[("ConfigMap", "fedrouter-config")]["data"]["fedrouter.ini"]
    table = objs[("ConfigMap", "fedrouter-table")]["data"]["table.ini"]
    dep = objs[("Deployment", "fedrouter")]
    pod = dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    ctr = pod["containers"][0]
    job = objs[("Job", "fedrouter-import")]
    jpod = job["spec"]["template"]["spec"]
    jctr = jpod["containers"][0]

    def config():
        path = os.path.join(tmp, "fedrouter.ini")
        with open(path, "w") as f:
            f.write(ini)
        r = run([FEDROUTER, "-t", "-c", path])
        expect(r.returncode == 0, "fedrouter -t on the ConfigMap: %s" % r.stdout.strip())
        expect(ini_value(ini, "driver") == "zookeeper", "the routers' driver is not zookeeper")
        recs = os.path.join(tmp, "table-check.ini")
        with open(recs, "w") as f:
            f.write("[router]\nid = check\n\n[statestore]\ndriver = file\n\n" + table)
        r = run([FEDROUTER, "-t", "-c", recs])
        expect(r.returncode == 0, "the table's records do not load: %s" % r.stdout.strip())
    t.check("config: fedrouter -t passes on the config and the table", config)

    def ports():
        want = {"hdfs": port_of(ini, "hdfs.listen"), "hms": port_of(ini, "hms.listen"),
                "admin": port_of(ini, "admin.listen")}
        got = {p["name"]: p["containerPort"] for p in ctr["ports"]}
        expect(got == want, "container ports %r, the config says %r" % (got, want))
        for svc, to in (("fedrouter-hdfs", "hdfs"), ("fedrouter-metastore", "hms")):
            sp = objs[("Service", svc)]["spec"]["ports"]
            expect(len(sp) == 1 and container_port(ctr, sp[0]["targetPort"]) == want[to],
                   "%s sends to %r, not the %s port %d" % (svc, sp[0]["targetPort"], to, want[to]))
            expect(sp[0]["port"] == want[to], "%s listens on %d, clients expect %d" % (svc, sp[0]["port"], want[to]))
    t.check("ports: container and Service ports are the config's", ports)

    def probes():
        admin = port_of(ini, "admin.listen")
        for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            g = ctr[kind]["httpGet"]
            expect(g["path"] == path and container_port(ctr, g["port"]) == admin,
                   "%s is GET %s on %r, want GET %s on %d" % (kind, g["path"], g["port"], path, admin))
    t.check("probes: /readyz and /healthz on the admin port", probes)

    def selectors():
        sel = dep["spec"]["selector"]["matchLabels"]
        expect(match(sel, labels), "the Deployment does not select its own pods")
        jl = job["spec"]["template"]["metadata"]["labels"]
        others = [("Service", "fedrouter-hdfs"), ("Service", "fedrouter-metastore")]
        for key in others:
            s = objs[key]["spec"]["selector"]
            expect(match(s, labels) and not match(s, jl), "%s %s selects %r" % (key[0], key[1], s))
        pdb = objs[("PodDisruptionBudget", "fedrouter")]["spec"]
        expect(match(pdb["selector"]["matchLabels"], labels) and not match(pdb["selector"]["matchLabels"], jl),
               "the PodDisruptionBudget selects %r" % pdb["selector"])
        expect(pdb.get("maxUnavailable", 0) >= 1 and pdb.get("maxUnavailable", 0) < dep["spec"]["replicas"] or
               0 < pdb.get("minAvailable", 0) < dep["spec"]["replicas"], "the budget blocks or allows everything")
        aa = pod["affinity"]["podAntiAffinity"]
        terms = [w["podAffinityTerm"] for w in aa.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
        terms += aa.get("requiredDuringSchedulingIgnoredDuringExecution", [])
        expect(any(x["topologyKey"] == "kubernetes.io/hostname" and match(x["labelSelector"]["matchLabels"], labels)
                   for x in terms), "no anti-affinity across nodes for the router pods")
    t.check("selectors: Services, budget and anti-affinity pick the routers", selectors)

    def mounts():
        args = ctr["args"]
        conf = args[args.index("-c") + 1]
        auth = ini_value(ini, "zk.auth_file")
        jcmd = jctr["command"]
        expect(os.path.basename(jcmd[0]) == "fedrouter-admin" and "-import" in jcmd, "the Job runs %r" % jcmd)
        imp = jcmd[jcmd.index("-import") + 1]
        jconf = jcmd[jcmd.index("-c") + 1]
        checks = [(pod, ctr, conf, ("ConfigMap", "fedrouter-config")), (pod, ctr, auth, ("Secret", "fedrouter-secrets")),
                  (jpod, jctr, jconf, ("ConfigMap", "fedrouter-config")),
                  (jpod, jctr, auth, ("Secret", "fedrouter-secrets")),
                  (jpod, jctr, imp, ("ConfigMap", "fedrouter-table"))]
        for spec, c, path, want in checks:
            m = mounted(spec, c, path)
            expect(m, "%s: %s is on no volume" % (c["name"], path))
            src, keys = source_keys(objs, m[0])
            expect(src == want and m[1] in keys, "%s: %s comes from %s key %s (keys %s), want %s"
                   % (c["name"], path, src, m[1], sorted(keys), want))
    t.check("mounts: config, ZooKeeper auth and table are mounted where named", mounts)

    def drain():
        grace = int(ini_value(ini, "shutdown.grace_ms")) / 1000
        pre = ctr["lifecycle"]["preStop"]["exec"]["command"]
        sleep = float(pre[1]) if pre[0] == "sleep" else 0
        tg = pod["terminationGracePeriodSeconds"]
        expect(tg > grace + sleep, "terminationGracePeriodSeconds %s <= %s s drain + %s s preStop" % (tg, grace, sleep))
        ru = dep["spec"]["strategy"]["rollingUpdate"]
        expect(ru["maxUnavailable"] == 0 and ru["maxSurge"] >= 1, "a rolling update may leave fewer routers: %r" % ru)
    t.check("drain: the grace period covers preStop and the drain", drain)

    def live():
        nonlocal zk
        zk = ops_lib.ZooKeeper(tmp)
        zk.start()
        hp, mp, ap = procs.free_port(), procs.free_port(), procs.free_port()
        secret = objs[("Secret", "fedrouter-secrets")]
        authf = os.path.join(tmp, "zk-auth")
        with open(authf, "w") as f:
            f.write(secret["stringData"]["zk-auth"])
        text = ini
        for key, port in (("hdfs.listen", hp), ("hms.listen", mp), ("admin.listen", ap)):
            text = re.sub(r"^(\s*%s\s*=\s*)\S+" % re.escape(key), r"\g<1>127.0.0.1:%d" % port, text, flags=re.M)
        text = re.sub(r"^(\s*zk\.hosts\s*=\s*)[^#\n]*", r"\g<1>%s" % zk.hosts, text, flags=re.M)
        text = re.sub(r"^(\s*zk\.auth_file\s*=\s*)\S+", r"\g<1>%s" % authf, text, flags=re.M)
        conf = os.path.join(tmp, "live.ini")
        with open(conf, "w") as f:
            f.write(text)
        p = procs.start([FEDROUTER, "-c", conf], tmp, "router", ps)
        procs.wait_lines(p, "router", {"r": r"^ready hdfs="})
        admin = "127.0.0.1:%d" % ap
        for kind in ("readinessProbe", "livenessProbe"):
            path = ctr[kind]["httpGet"]["path"]
            deadline = time.monotonic() + 30
            while http_get(admin, path)[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            code, body = http_get(admin, path)
            expect(code == 200, "%s GET %s: %d %r" % (kind, path, code, body))
        r = run([ADMIN, "-h"])
        if "-import" not in r.stdout:
            print("# fedrouter-admin has no -import in this build: the Job's command is not run")
            return
        tablef = os.path.join(tmp, "table.ini")
        with open(tablef, "w") as f:
            f.write(table)
        cmd = list(jctr["command"])
        cmd[0] = ADMIN
        cmd[cmd.index("-c") + 1] = conf
        cmd[cmd.index("-import") + 1] = tablef
        r = run(cmd)
        expect(r.returncode == 0, "%s: %s" % (" ".join(shlex.quote(c) for c in jctr["command"]), r.stdout.strip()))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            j = json.loads(http_get(admin, "/healthz?verbose", timeout=10)[1])
            names = {n["name"] for n in j["nameservices"]} | {m["name"] for m in j["metastores"]}
            if names >= {"ns1", "ns2", "main", "sales"}:
                return
            time.sleep(0.2)
        raise AssertionError("after the import the router knows only %s" % sorted(names))
    t.check("live: the probes answer 200 on the config; the Job's import loads the table", live)
    rc = t.finish()
    if zk:
        zk.stop()
    procs.cleanup(ps, tmp, ["router"], show_logs=t.failed > 0)
    return rc


if __name__ == "__main__":
    sys.exit(main())
