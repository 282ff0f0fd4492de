#!/usr/bin/python3
"""upstream_many_users: per-user state is bounded. Any client can name any
user; distinct users must not multiply NameNode connections, and what the
router keeps per user must go when the user goes idle.

    /usr/bin/python3 tests/limits/upstream_many_users.py BUILD_DIR

One minidfs behind a router with workers = 2 (as tests/e2e/fed.py sets),
upstream.max_conns_per_namenode = 4 (per worker) and
upstream.idle_timeout_ms = 1000. 32 client threads make 2,000 connections,
each as a distinct effective user, each with one getFileInfo.

  bound  every call is answered, and the router never holds more than
       2 x 4 connections to the NameNode (fedrouter_upstream_connections,
       sampled throughout, and the router's sockets to the NameNode port).
  idle  after the idle timeout the router holds no NameNode connection and
       no per-user set (fedrouter_upstream_user_sets = 0), and a second round
       of 2,000 new users leaves its resident memory where the first left it.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "upstream_fakes"))
import uplib
import climits  # noqa: E402
import procs
from fed import Fed, Ops, RemoteError

expect = procs.expect
USERS = 2000
THREADS = 32
BOUND = 4
WORKERS = 2


def sockets_to(pid, port):
    """The router's TCP connections to 127.0.0.1:port (from /proc/net/tcp)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    # /proc/net/tcp is read in pieces while sockets come and go, so a socket
    # may be listed twice: count distinct ones.
    found = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for ln in f:
            p = ln.split()
            if p[9] in inodes and int(p[2].split(":")[1], 16) == port:
                found.add(p[9])
    return len(found)


def run_users(fed, rt, nn_port, first):
    ops = Ops(fed.C)
    pid = rt["proc"].pid
    state = {"next": first, "ok": 0, "bad": [], "peak": 0, "peak_socks": 0}
    lock = threading.Lock()
    done = threading.Event()

    def worker():
        while True:
            with lock:
                i = state["next"]
                if i >= first + USERS:
                    return
                state["next"] += 1
            try:
                c = fed.conn(rt["hdfs"], user="probe-user-%05d" % i, timeout=30)
                fed.conns.remove(c)
                try:
                    ok = ops.fileinfo(c, "/u") is not None
                finally:
                    c.close()
                with lock:
                    state["ok"] += ok
            except (RemoteError, OSError, EOFError) as e:
                with lock:
                    state["bad"].append(repr(e)[:200])

    def watch():
        while not done.is_set():
            try:
                n = uplib.sample(rt, "fedrouter_upstream_connections", {"proto": "hdfs"})
                s = sockets_to(pid, nn_port)
            except Exception:  # noqa: BLE001
                continue
            with lock:
                state["peak"] = max(state["peak"], n or 0)
                state["peak_socks"] = max(state["peak_socks"], s)
            time.sleep(0.02)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    ths = [threading.Thread(target=worker) for _ in range(THREADS)]
    t0 = time.monotonic()
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    done.set()
    w.join(5)
    state["secs"] = time.monotonic() - t0
    return state


def check_bound(fed, rt, nn_port, box):
    ops = Ops(fed.C)
    expect(ops.fileinfo(fed.conn(rt["hdfs"]), "/u") is not None, "warm-up call failed")
    time.sleep(1.5)  # the warm-up connection goes idle and closes
    box["base"] = uplib.rss_kb(rt["proc"].pid)
    st = run_users(fed, rt, nn_port, 0)
    text = uplib.metrics(rt)
    queued = uplib.sample(rt, "fedrouter_upstream_queued_total", {"proto": "hdfs"}, text)
    reaped = uplib.sample(rt, "fedrouter_upstream_reaped_total", {"proto": "hdfs"}, text)
    print("# %d users in %.1f s: %d answered, %d failed; NameNode connections at most %d (sockets %d); "
          "queued %s, reaped %s" % (USERS, st["secs"], st["ok"], len(st["bad"]), st["peak"], st["peak_socks"],
                                    queued, reaped))
    expect(not st["bad"], "%d calls failed, e.g. %s" % (len(st["bad"]), st["bad"][:2]))
    expect(st["ok"] == USERS, "%d of %d answered" % (st["ok"], USERS))
    expect(st["peak"] <= BOUND * WORKERS, "%d NameNode connections, bound %d" % (st["peak"], BOUND * WORKERS))
    # The cluster refresher has a connection of its own, outside the pools.
    expect(st["peak_socks"] <= BOUND * WORKERS + 1, "%d sockets to the NameNode" % st["peak_socks"])
    expect(reaped is not None and reaped > 0, "no idle connection of another user was reaped (%s)" % reaped)


def check_idle(fed, rt, nn_port, box):
    deadline = time.monotonic() + 6
    while True:
        text = uplib.metrics(rt)
        conns = uplib.sample(rt, "fedrouter_upstream_connections", {"proto": "hdfs"}, text)
        sets = uplib.sample(rt, "fedrouter_upstream_user_sets", {"proto": "hdfs"}, text)
        if conns == 0 and sets == 0:
            break
        if time.monotonic() > deadline:
            raise AssertionError("after the idle timeout: %s NameNode connections, %s per-user sets" % (conns, sets))
        time.sleep(0.1)
    time.sleep(0.5)
    after1 = uplib.rss_kb(rt["proc"].pid)
    # A second round of as many new users must leave nothing more behind:
    # what they cost is reused, not added to (a set kept per user would be
    # some 1.7 kB each, 3.4 MB a round).
    run_users(fed, rt, nn_port, USERS)
    deadline = time.monotonic() + 6
    while uplib.sample(rt, "fedrouter_upstream_user_sets", {"proto": "hdfs"}) != 0:
        if time.monotonic() > deadline:
            raise AssertionError("per-user sets left after the second round")
        time.sleep(0.1)
    time.sleep(0.5)
    after2 = uplib.rss_kb(rt["proc"].pid)
    print("# RSS %d kB before the users, %d kB after one round went idle, %d kB after a second (%+.1f MB)" %
          (box["base"], after1, after2, (after2 - after1) / 1024.0))
    if climits.sanitized(fed.build):
        print("# sanitizer build: its allocator holds freed memory back, so the figure is not checked")
        return
    expect(after2 - after1 < 1536, "a second round of %d users left %.1f MB behind" %
           (USERS, (after2 - after1) / 1024.0))


def main(argv):
    if len(argv) != 2:
        print("usage: upstream_many_users.py BUILD_DIR", file=sys.stderr)
        return 2
    t = procs.Tally()
    fed = Fed(argv[1], prefix="fedrouter-limits-users.")
    box = {}
    try:
        ns1 = fed.minidfs("ns1")
        Ops(fed.C).mkdirs(fed.direct("ns1"), "/u", mode=0o777)
        nn_port = int(ns1["nn"].rsplit(":", 1)[1])
        keys = "upstream.max_conns_per_namenode = %d\nupstream.idle_timeout_ms = 1000" % BOUND
        rt = fed.router("[mount /u]\ndestinations = ns1:/u\n", router_keys=keys, refresh_ms=60000)
        t.check("bound: %d distinct users, NameNode connections stay within the bound" % USERS,
                lambda: check_bound(fed, rt, nn_port, box))
        t.check("idle: per-user state and memory go once the users are idle",
                lambda: check_idle(fed, rt, nn_port, box))
    except Exception as e:  # noqa: BLE001
        t.not_ok("set-up", repr(e))
    finally:
        fed.close(show_logs=t.failed > 0)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
