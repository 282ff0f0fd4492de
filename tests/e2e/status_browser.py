#!/usr/bin/python3
"""status_browser.py: the status page in a real browser. Headless Chromium
(Debian's `chromium`) loads GET / from a router of a running federation
(status_fed.py), runs its JavaScript (which fetches /status.json and
/resolve), and the test reads the rendered DOM: the router id, every
nameservice with its NameNode addresses and roles, the metastores, the
mount table, the other router, per-method rows, and the answer of the
resolve box (filled from ?resolve= in the page's address).

    /usr/bin/python3 tests/e2e/status_browser.py BUILD_DIR [--screenshot FILE]

Exit 77 (ctest: skipped) when chromium is not installed; install-deps.sh
installs it. --screenshot also saves a picture of the rendered page.
"""
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402
import status_fed  # noqa: E402

T = procs.Tally()
expect = procs.expect
SKIP = 77


def chromium(profile, *args, timeout=90):
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--disable-extensions", "--user-data-dir=" + profile] + list(args)
    r = subprocess.run(cmd, capture_output=True, timeout=timeout, env=dict(os.environ, HOME=profile))
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def rows(dom, tbody_id):
    """The text of each cell of each row of <tbody id=tbody_id>, tags stripped."""
    m = re.search(r'<tbody id="%s">(.*?)</tbody>' % tbody_id, dom, re.S)
    expect(m, "no tbody %s in the rendered page" % tbody_id)
    out = []
    for tr in re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S):
        out.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                    for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)])
    return out


def main():
    args = sys.argv[1:]
    shot = None
    if "--screenshot" in args:
        i = args.index("--screenshot")
        shot = os.path.abspath(args[i + 1])
        del args[i:i + 2]
    if not shutil.which("chromium"):
        print("# SKIP: chromium is not installed (deploy/install-deps.sh installs it)")
        return SKIP
    E = status_fed.start(args[0])
    profile = tempfile.mkdtemp(prefix="fedrouter-chromium.")
    failed = True
    try:
        status_fed.wait_settled(E, E.r1)
        status_fed.wait_for(lambda: len(status_fed.get_json(E.r1, "/status.json")[1]["routers"]) == 2,
                            "both routers registered")
        url = "http://%s/?resolve=%%2Fshared%%2Fx%%2Fy" % E.r1["admin"]
        rc, dom, err = chromium(profile, "--virtual-time-budget=8000", "--dump-dom", url)
        expect(rc == 0 and "<html" in dom, "chromium --dump-dom: exit %d: %s" % (rc, err[-400:]))

        def header():
            expect(re.search(r'<span id="router-id">r1</span>', dom), "router id r1 not rendered")
            expect(re.search(r'<b id="version">\d+\.\d+', dom), "version not rendered")
            expect(not re.search(r'<p id="error">[^<]', dom), "the page shows an error: %s" %
                   re.search(r'<p id="error">([^<]*)', dom).group(1))
        T.check("header: router id and version, no error", header)

        def nameservices():
            r = rows(dom, "nameservices")
            by_addr = {c[1]: c for c in r if len(c) > 2}
            expect(r and r[0][0] == "ns1", "first row %r" % (r[:1],))
            expect(by_addr[E.nn1[0]][2] == "active", "ns1 first NameNode: %r" % by_addr.get(E.nn1[0]))
            expect(by_addr[E.nn1[1]][2] == "standby", "ns1 second NameNode: %r" % by_addr.get(E.nn1[1]))
            expect(by_addr[E.ns2["nn"]][2] == "active", "ns2: %r" % by_addr.get(E.ns2["nn"]))
            expect(by_addr[E.dead_nn][2] == "unreachable", "ns3: %r" % by_addr.get(E.dead_nn))
            expect(re.match(r"^[\d.]+ ms$", by_addr[E.nn1[0]][3]), "latency cell %r" % by_addr[E.nn1[0]][3])
            expect({c[0] for c in r} >= {"ns1", "ns2", "ns3"}, "nameservice names %r" % [c[0] for c in r])
        T.check("nameservices: names, NameNode addresses, roles, latency", nameservices)

        def metastores():
            r = rows(dom, "metastores")
            by_uri = {c[3]: c for c in r}
            first = by_uri["thrift://" + E.dead_hms2]
            expect(first[0] == "primary (primary)" and first[4] == "" and first[5].startswith("no"),
                   "primary's first URI %r" % first)
            live = by_uri["thrift://" + E.hms]
            expect(live[0] == "" and live[4] == "yes" and live[5] == "yes", "primary's second URI %r" % live)
            dead = by_uri["thrift://" + E.dead_hms]
            expect(dead[0] == "sales" and dead[1] == "sales_" and dead[5].startswith("no"), "sales %r" % dead)

        T.check("metastores: URIs, prefixes, reachability", metastores)

        def mounts():
            r = {c[0]: c for c in rows(dom, "mounts")}
            expect(sorted(r) == ["/archive", "/data", "/logs", "/shared"], "mount points %r" % sorted(r))
            expect(r["/shared"][1] == "ns1:/shared, ns2:/shared" and r["/shared"][2] == "HASH_ALL",
                   "/shared %r" % r["/shared"])
            expect("read-only" in r["/archive"][3], "/archive %r" % r["/archive"])
        T.check("mount table: every entry with destinations, order, flags", mounts)

        def resolve_box():
            m = re.search(r'<div id="resolve-answer"[^>]*>([^<]*)</div>', dom)
            expect(m, "no resolve answer rendered")
            text = html.unescape(m.group(1))
            _, j = status_fed.get_json(E.r1, "/resolve?path=%2Fshared%2Fx%2Fy")
            want = "/shared/x/y → %s:%s" % (j["nameservice"], j["dest_path"])
            expect(text.startswith(want) and "mount /shared, HASH_ALL" in text, "%r, want %r" % (text, want))
        T.check("resolve box: the router's answer for ?resolve=/shared/x/y", resolve_box)

        def routers_and_calls():
            r = rows(dom, "routers")
            ids = sorted(c[0] for c in r)
            expect(ids == ["r1 (this one)", "r2"], "routers %r" % ids)
            expect([c for c in r if c[0] == "r2"][0][1] == E.r2["hdfs"], "r2's HDFS address")
            calls = rows(dom, "methods")
            fi = [c for c in calls if c[:3] == ["hdfs", "getFileInfo", "ns1"]]
            expect(fi and int(fi[0][3]) >= 5, "getFileInfo row %r" % fi)
            st = {c[0]: c[1] for c in rows(dom, "statestore")}
            expect(st.get("driver") == "zookeeper" and re.match(r"^0x[0-9a-f]+$", st.get("ZooKeeper zxid", "")),
                   "statestore %r" % st)
        T.check("routers, statestore and per-method rows rendered", routers_and_calls)

        if shot:
            rc, _, err = chromium(profile, "--virtual-time-budget=8000", "--hide-scrollbars",
                                  "--window-size=1500,1150", "--screenshot=" + shot, url)
            T.check("screenshot saved", lambda: expect(rc == 0 and os.path.getsize(shot) > 10000,
                                                      "chromium --screenshot: exit %d %s" % (rc, err[-300:])))
        failed = T.failed > 0
    finally:
        shutil.rmtree(profile, ignore_errors=True)
        E.fed.close(show_logs=failed)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
