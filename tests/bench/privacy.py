#!/usr/bin/python3
"""privacy.py: Hadoop IPC at privacy (SASL GSSAPI auth-conf), four ways.

    /usr/bin/python3 tests/bench/privacy.py [BUILD_DIR]

A loopback MIT KDC; one minidfs that requires Kerberos and privacy
(service principal nn/localhost, the router's principal allowed to act for
others); fedrouter-bench authenticated as alice (kinit) against:

    direct      minidfs itself
    haproxy     HAProxy in TCP mode in front of minidfs: it decrypts nothing
    fr ct=0     fedrouter at privacy, wrap and unwrap on its worker loops
    fr ct=2     fedrouter at privacy with crypto_threads = 2 (the defaults:
                crypto_sched = idle)
    ct=2 nice   the same with crypto_sched = nice

fedrouter unwraps what minidfs sends and wraps again for its client, so it
does twice the cryptography HAProxy does (none). Rows: getFileInfo and
getListing of a directory of BENCH_LIST (1,000) entries, at each count of
BENCH_CONNS; then the mixed load, BENCH_MIXED (16) connections of
getListing next to as many of getFileInfo, through each router, with
getFileInfo's p99; then two rows that separate the router's isolation
from the machine's load: the small calls through the threaded router
alone, and with the listings through the other router process. The mixed
load's listings read a second minidfs (ns2, mounted at /plain) and its
getFileInfo calls a third (ns3, at /small), both
requiring Kerberos at authentication only: minidfs answers on one loop and
wraps inline, so at privacy, or with the small calls queued behind the
listings in the same minidfs, its own queue would hide what the router's
threads change. The clients still talk to the router at privacy. The same
load straight at ns2 and ns3 ("direct") gives the floor.

The mixed load runs twice. As closed loops (each connection sends its next
call when the last one is answered) it keeps both cores full, so its tail is
mostly how the scheduler shares them. At fixed rates (BENCH_MIXED_RATES,
listings and getFileInfo calls a second, below what the machine serves;
fedrouter-bench --rate times each call from when it was due) the tail shows
how long the listings' work holds a small call up in the router: where
"fr ct=2" is as fast as "ct=2 alone", the listings cost the small calls
nothing.

Last, the listings through each router while BENCH_HOGS processes spin
at nice 0, as another tenant of the host would: how much each way of
scheduling the crypto threads gives up when the cores are not the
router's alone.

Goals, reported and not enforced: with crypto threads, getFileInfo's p99
under the mixed load at most half of what it is inline; throughput at
privacy at least 0.8 x HAProxy's.

Environment: BENCH_DURATION [5], BENCH_WARMUP [1], BENCH_CONNS [1 16],
BENCH_LIST [1000], BENCH_MIXED [16], BENCH_MIXED_RATES ["1000 8000"; pairs
separated by commas; empty: closed loops only], BENCH_WORKERS [2],
BENCH_ROUTER_KEYS (more [router] keys for every router, `;`-separated, e.g.
"upstream.max_calls_per_conn = 4"), BENCH_HOGS [number of CPUs; 0 skips
the last table], BENCH_ROUNDS [3: the throughput table and the mixed load
run that many rounds, the targets in turn in each, and show medians],
BENCH_KEEP=1 keeps the work directory. Exit status 0 when
every run completed, 1 otherwise.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, os.path.join(REPO, "tests", "krb"))
import krb_world  # noqa: E402
import procs  # noqa: E402

DURATION = os.environ.get("BENCH_DURATION", "5")
WARMUP = os.environ.get("BENCH_WARMUP", "1")
CONNS = [int(x) for x in os.environ.get("BENCH_CONNS", "1 16").split()]
LIST_N = int(os.environ.get("BENCH_LIST", "1000"))
MIXED = int(os.environ.get("BENCH_MIXED", "16"))
WORKERS = os.environ.get("BENCH_WORKERS", "2")
ROUTER_KEYS = os.environ.get("BENCH_ROUTER_KEYS", "").replace(";", "\n")
HOGS = int(os.environ.get("BENCH_HOGS", str(os.cpu_count() or 2)))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
RATES = [[int(x) for x in pair.split()] for pair in os.environ.get("BENCH_MIXED_RATES", "1000 8000").split(",")
         if pair.strip()]
if any(len(r) != 2 or min(r) <= 0 for r in RATES):
    sys.exit("privacy.py: BENCH_MIXED_RATES is 'LISTINGS_PER_S GETFILEINFO_PER_S[, ...]' (or empty)")


def median(xs):
    """The middle value (the lower of the two middle ones for an even count)."""
    xs = sorted(xs)
    return xs[(len(xs) - 1) // 2]


LAST = re.compile(r"^ops/s=(\d+) p50_us=(\d+) p99_us=(\d+) p999_us=(\d+) errors=(\d+)$")


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build"))
    bench = os.path.join(build, "tests", "bench", "fedrouter-bench")
    router = os.path.join(build, "router", "fedrouter")
    haproxy = shutil.which("haproxy")
    tmp = tempfile.mkdtemp(prefix="fedrouter-privacy.")
    running = []
    kdc = None
    ok = True
    try:
        kdc, kt, cc = krb_world.start_realm(tmp, services=("nn", "router"))
        nn_keytab, rt_keytab, ccache = kt["nn"], kt["router"], cc["alice"]
        env = kdc.env(ccache)

        def start_minidfs(ns, protection):
            """A minidfs requiring Kerberos at `protection` (router/localhost
            may act for others) with /bench/list of LIST_N entries, owned
            by alice; its NameNode port."""
            nn = krb_world.start_minidfs(build, tmp, ns, nn_keytab, "--rpc-protection", protection,
                                         "--proxy-user", "router", running=running, env=kdc.env(),
                                         principal="nn/localhost@EXAMPLE.TEST")
            port = int(nn["nn"].rsplit(":", 1)[1])
            conf = krb_world.write_hdfs_conf(os.path.join(tmp, "conf-" + ns), port)
            henv = krb_world.hdfs_env(kdc, ccache, conf)
            # minidfs's superuser is its principal's user (nn): it makes /bench alice's.
            nn_cc = os.path.join(tmp, "nn.cc")
            kdc.kinit_keytab("nn/localhost", nn_keytab, nn_cc)
            senv = krb_world.hdfs_env(kdc, nn_cc, conf)
            subprocess.run(["hdfs", "mkdir", "-p", "/bench"], env=senv, check=True, timeout=60)
            subprocess.run(["hdfs", "chown", "alice", "/bench"], env=senv, check=True, timeout=60)
            entries = ["/bench/list/e-%04d" % i for i in range(LIST_N)]
            for i in range(0, len(entries), 200):
                r = subprocess.run(["hdfs", "mkdir", "-p"] + entries[i:i + 200], env=henv, capture_output=True,
                                   text=True, timeout=120)
                if r.returncode != 0:
                    raise RuntimeError("hdfs mkdir under /bench/list failed: %s" % r.stderr[-300:])
            got = subprocess.run(["hdfs", "ls", "/bench/list"], env=henv, check=True, capture_output=True,
                                 text=True, timeout=120).stdout.split()
            if len(got) != LIST_N:
                raise RuntimeError("/bench/list has %d entries, not %d" % (len(got), LIST_N))
            return port

        nn_port = start_minidfs("ns1", "privacy")
        direct = "127.0.0.1:%d" % nn_port
        # For the mixed load: a NameNode at authentication, so that what is
        # measured is the router's own wrapping, not the backend's queue.
        nn2_port = start_minidfs("ns2", "authentication")
        # ... and the small calls on a NameNode of their own, so that they
        # do not queue behind the listings in ns2's single loop: they share
        # only the router's workers with them.
        nn3_port = start_minidfs("ns3", "authentication")

        targets = [("direct", direct, "nn/localhost")]
        if haproxy:
            hp = procs.free_port()
            cfg = os.path.join(tmp, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write("global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 5s\n"
                        "  timeout client 60s\n  timeout server 60s\n"
                        "listen dfs\n  bind 127.0.0.1:%d\n  server s %s\n" % (hp, direct))
            running.append(procs.start([haproxy, "-f", cfg, "-db"], tmp, "haproxy", []))
            wait_port(hp)
            # The client asks for the principal of the host it dialled: still nn/localhost.
            targets.append(("haproxy", "127.0.0.1:%d" % hp, "nn/localhost"))
        else:
            print("privacy.py: haproxy not found: its column stays empty", file=sys.stderr)
        # A third router runs its crypto threads under crypto_sched = nice.
        for ct, sched in ((0, "idle"), (2, "idle"), ("2-nice", "nice")):
            port, admin = procs.free_port(), procs.free_port()
            ini = os.path.join(tmp, "router-ct%s.ini" % ct)
            with open(ini, "w") as f:
                f.write("[router]\nid = privacy%s\nhdfs.listen = 127.0.0.1:%d\nadmin.listen = 127.0.0.1:%d\n"
                        "hms.listen = off\nworkers = %s\ncrypto_threads = %d\ncrypto_sched = %s\n%s\n\n"
                        "[security]\nauth = kerberos\nprincipal = router/_HOST@EXAMPLE.TEST\nkeytab = %s\n"
                        "rpc.protection = privacy\n\n[statestore]\ndriver = file\n\n"
                        "[nameservice ns1]\nnamenodes = %s\nprincipal = nn/_HOST@EXAMPLE.TEST\n\n"
                        "[mount /bench]\ndestinations = ns1:/bench\n\n"
                        "[nameservice ns2]\nnamenodes = localhost:%d\nprincipal = nn/_HOST@EXAMPLE.TEST\n\n"
                        "[mount /plain]\ndestinations = ns2:/bench\n\n"
                        "[nameservice ns3]\nnamenodes = localhost:%d\nprincipal = nn/_HOST@EXAMPLE.TEST\n\n"
                        "[mount /small]\ndestinations = ns3:/bench\n"
                        % (ct, port, admin, WORKERS, 0 if ct == 0 else 2, sched, ROUTER_KEYS, rt_keytab,
                           "localhost:%d" % nn_port, nn2_port, nn3_port))
            rp = subprocess.Popen([router, "-c", ini], env=kdc.env(), stdout=subprocess.PIPE,
                                  stderr=open(os.path.join(tmp, "router-ct%s.err" % ct), "wb"),
                                  stdin=subprocess.DEVNULL)
            running.append(rp)
            procs.wait_lines(rp, "fedrouter", {"r": r"^ready "})
            targets.append(("ct=2 nice" if sched == "nice" else "fr ct=%d" % ct, "127.0.0.1:%d" % port,
                            "router/localhost"))

        def bench_args(target, svc, op, path, conns, more=()):
            return [bench, "--target", target, "--op", op, "--path", path, "--conns", str(conns), "--user", "alice",
                    "--kerberos", svc, "--duration", DURATION, "--warmup", WARMUP] + list(more)

        def run(target, svc, op, path, conns, more=()):
            out = subprocess.run(bench_args(target, svc, op, path, conns, more),
                                 env=env, capture_output=True, text=True, timeout=float(DURATION) * 4 + 120)
            lines = out.stdout.strip().splitlines()
            mm = LAST.match(lines[-1]) if lines else None
            if out.returncode != 0 or not mm:
                raise RuntimeError("fedrouter-bench %s %s: exit %d: %s" % (target, op, out.returncode,
                                                                           (out.stderr or out.stdout)[-400:]))
            errs = [ln for ln in lines if "first error" in ln]
            return {"ops": int(mm.group(1)), "p50": int(mm.group(2)), "p99": int(mm.group(3)),
                    "err": int(mm.group(5)), "first": errs[0] if errs else ""}

        def broken(what, r):
            """A run that did no work, or whose calls failed, is a broken
            setup, not a figure: said, and the exit status fails."""
            nonlocal ok
            if r["err"] or not r["ops"]:
                print("privacy.py: %s: %d ops, %d errors" % (what, r["ops"], r["err"]), file=sys.stderr)
                if r["first"]:
                    print("  " + r["first"], file=sys.stderr)
                ok = False

        print("\nprivacy (SASL GSSAPI auth-conf, aes256-cts), %s s per cell, getListing of %d entries"
              % (DURATION, LIST_N))
        cols = [name for name, _, _ in targets]
        print("%-12s %5s | " % ("op", "conns") + " | ".join("%-22s" % c for c in cols) + " | fr/hap ct0 ct2 nice")
        print("%-12s %5s | " % ("", "") + " | ".join("%-22s" % "ops/s p50 p99 (us)" for _ in cols))
        for op, path in (("getFileInfo", "/bench/list"), ("getListing", "/bench/list")):
            for conns in CONNS:
                # ROUNDS rounds over the targets in turn, so that a slow
                # spell of the machine lands on all of them; each figure is
                # the median of its rounds.
                runs = {name: [] for name in cols}
                for _ in range(ROUNDS):
                    for name, target, svc in targets:
                        try:
                            r = run(target, svc, op, path, conns)
                        except RuntimeError as e:
                            print("privacy.py: %s" % e, file=sys.stderr)
                            ok = False
                            continue
                        broken("%s %s x%d" % (name, op, conns), r)
                        runs[name].append(r)
                res = {name: {k: median([r[k] for r in rs]) for k in ("ops", "p50", "p99", "err")}
                       for name, rs in runs.items() if rs}
                cells = []
                for c in cols:
                    r = res.get(c)
                    cells.append("%-22s" % ("%d %d %d%s" % (r["ops"], r["p50"], r["p99"], " err=%d" % r["err"] if r["err"] else "")
                                            if r else "-"))
                ratio = ""
                if "haproxy" in res and res["haproxy"]["ops"]:
                    ratio = " ".join("%.2f" % (res[c]["ops"] / res["haproxy"]["ops"]) if c in res else "-"
                                     for c in ("fr ct=0", "fr ct=2", "ct=2 nice"))
                    if ROUNDS > 1 and len(runs["haproxy"]) == len(runs["fr ct=2"]):
                        each = sorted(f["ops"] / h["ops"] for f, h in zip(runs["fr ct=2"], runs["haproxy"]) if h["ops"])
                        ratio += " (ct2 rounds %s)" % " ".join("%.2f" % x for x in each)
                print("%-12s %5d | " % (op, conns) + " | ".join(cells) + " | " + ratio)
        if ROUNDS > 1:
            print("(each figure the median of %d rounds, the targets taken in turn in each)" % ROUNDS)

        # Mixed load: big listings beside small calls on the same router.
        # The same load straight at the NameNodes first (listings at ns2,
        # small calls at ns3): the floor without a router.
        mixed = [("direct", "127.0.0.1:%d" % nn2_port, "127.0.0.1:%d" % nn3_port, "nn/localhost", "/bench/list",
                  "/bench/list")]
        mixed += [(name, target, target, svc, "/plain/list", "/small/list") for name, target, svc in targets[-3:]]
        # Two rows that tell the router's isolation from the machine's: the
        # small calls through the threaded router with no listings at all,
        # and with the listings served by the other router process (none of
        # their work in this one). Where the second is as slow as "fr ct=2",
        # what remains of the tail is the cores being full, not the router.
        (_, t_inline, svc_r), (_, t_threads, _), _ = targets[-3:]
        mixed += [("ct=2 alone", None, t_threads, svc_r, None, "/small/list"),
                  ("ct=2 apart", t_inline, t_threads, svc_r, "/plain/list", "/small/list")]

        def mixed_once(name, target, small_target, svc, mpath, spath, rates):
            """One run of a row: (getFileInfo figures, getListing figures or None)."""
            nonlocal ok
            big_rate = ["--rate", str(rates[0])] if rates else []
            small_rate = ["--rate", str(rates[1])] if rates else []
            if target is None:
                small = run(small_target, svc, "getFileInfo", spath, MIXED, small_rate)
                broken("%s getFileInfo" % name, small)
                return small, None
            big = subprocess.Popen(bench_args(target, svc, "getListing", mpath, MIXED, big_rate),
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            small = run(small_target, svc, "getFileInfo", spath, MIXED, small_rate)
            bout, _ = big.communicate(timeout=float(DURATION) * 4 + 120)
            bl = bout.strip().splitlines()
            bm = LAST.match(bl[-1]) if bl else None
            if small["err"] or not small["ops"] or not bm or int(bm.group(5)):
                print("privacy.py: mixed load through %s: getFileInfo %d ops, %d errors; getListing %s"
                      % (name, small["ops"], small["err"], "ran" if bm else "gave no figures"), file=sys.stderr)
                ok = False
            return small, ({"ops": int(bm.group(1)), "p99": int(bm.group(3))} if bm else None)

        def mixed_load(title, rows, rates):
            """The mixed load through each row's targets, ROUNDS times with
            the rows in turn; rates: None for closed loops, else
            (listings/s, getFileInfo/s) on a schedule."""
            print(title)
            got = {row[0]: [] for row in rows}
            rowmap = {row[0]: row for row in rows}
            for _ in range(ROUNDS):
                for row in rows:
                    got[row[0]].append(mixed_once(*row, rates))
            p99 = {}
            for name, rs in got.items():
                small = {k: median([s[k] for s, _ in rs]) for k in ("ops", "p50", "p99")}
                p99[name] = [s["p99"] for s, _ in rs]
                bigs = [b for _, b in rs if b]
                if rowmap[name][1] is None:
                    tail = "no listings"
                elif bigs:
                    tail = "getListing ops/s=%d p99=%d us" % (median([b["ops"] for b in bigs]),
                                                             median([b["p99"] for b in bigs]))
                else:
                    tail = "getListing gave no figures"
                print("  %-10s getFileInfo ops/s=%d p50=%d p99=%d us | %s"
                      % (name, small["ops"], small["p50"], small["p99"], tail))
            if all(p99.get(k) for k in ("fr ct=0", "fr ct=2", "ct=2 nice")):
                def ratio(k):
                    return [x / y for x, y in zip(p99[k], p99["fr ct=0"]) if y]
                print("  getFileInfo p99 with crypto threads / inline: %.2f%s; crypto_sched = nice: %.2f"
                      % (median(p99["fr ct=2"]) / median(p99["fr ct=0"]), "" if rates else " (goal <= 0.5)",
                         median(p99["ct=2 nice"]) / median(p99["fr ct=0"])))
                if ROUNDS > 1:
                    print("  the same ratio round by round: %s; crypto_sched = nice: %s"
                          % (" ".join("%.2f" % x for x in ratio("fr ct=2")),
                             " ".join("%.2f" % x for x in ratio("ct=2 nice"))))

        what = ("%d conns getListing(%d) of ns2 + %d conns getFileInfo of ns3"
                % (MIXED, LIST_N, MIXED))
        mixed_load("\nmixed load through fedrouter, closed loops (client side at privacy; NameNodes ns2 and ns3 at"
                   " authentication): " + what, mixed, None)
        print("  (ct=2 nice: a third router, crypto_threads = 2 with crypto_sched = nice; ct=2 alone: the threaded"
              " router without the listings; ct=2 apart: the listings through the inline router, the small calls"
              " through the threaded one)")
        for rates in RATES:
            # Closed loops keep both cores full whatever the router does, so
            # their tail is mostly the scheduler's. On a schedule below what
            # the machine can serve, getFileInfo's p99 shows how long the
            # listings' work holds a small call up in the router.
            mixed_load("\nmixed load at fixed rates: %s, %d getListing/s and %d getFileInfo/s (open loop, latency"
                       " from when each call was due)" % (what, rates[0], rates[1]), mixed, rates)
        if HOGS:
            # Another tenant keeps every core busy at the same priority as
            # the router: what the crypto threads' scheduling costs the
            # listings when the cores are not the router's alone.
            print("\nbeside %d CPU-bound processes (another tenant at nice 0): %d conns getListing(%d) of ns2"
                  % (HOGS, MIXED, LIST_N))
            for name, target, svc in targets[-3:]:
                hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
                        for _ in range(HOGS)]
                try:
                    r = run(target, svc, "getListing", "/plain/list", MIXED)
                finally:
                    for h in hogs:
                        h.kill()
                        h.wait()
                broken("%s beside the hogs" % name, r)
                print("  %-10s getListing ops/s=%d p50=%d p99=%d us" % (name, r["ops"], r["p50"], r["p99"]))
    except Exception as e:  # noqa: BLE001 - report and fail
        print("privacy.py: %s" % e, file=sys.stderr)
        ok = False
    finally:
        for p in running:
            procs.stop(p)
        if kdc:
            kdc.stop()
        if os.environ.get("BENCH_KEEP") == "1" or not ok:
            print("privacy.py: work directory kept: %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


def wait_port(port, timeout=10):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %d" % port)


if __name__ == "__main__":
    sys.exit(main())
