#!/usr/bin/python3
"""rate_check.py: fedrouter-bench --rate keeps its schedule and times calls
from when they were due.

    /usr/bin/python3 tests/bench/rate_check.py BUILD_DIR

Against one minidfs:
  - --rate 200 over 4 connections completes about 200 calls a second, where
    the closed loop on the same target completes many more;
  - with one connection at 100 calls a second, a NameNode stopped (SIGSTOP)
    for 0.6 s holds back every call due in that time: each of those is timed
    from when it was due, so the slowest tenth of the calls take 100 ms or
    more. A generator that timed calls from when it sent them would report
    one slow call and ~60 fast ones (coordinated omission);
  - a rate of 0 is refused (exit 2).
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import procs  # noqa: E402
from fed import Fed  # noqa: E402

expect = procs.expect
LAST = re.compile(r"^ops/s=(\d+) p50_us=(\d+) p99_us=(\d+) p999_us=(\d+) errors=(\d+)$", re.M)
P90 = re.compile(r"^fedrouter-bench: p90_us=(\d+) ", re.M)


def bench(build, target, *args):
    out = subprocess.run([os.path.join(build, "tests", "bench", "fedrouter-bench"), "--target", target,
                          "--op", "getFileInfo", "--path", "/"] + list(args),
                         capture_output=True, text=True, timeout=60)
    return out


def figures(out):
    m = LAST.search(out.stdout)
    expect(out.returncode == 0 and m, "fedrouter-bench failed: exit %d: %s" % (out.returncode,
                                                                                (out.stderr or out.stdout)[-400:]))
    return {"ops": int(m.group(1)), "p50": int(m.group(2)), "p99": int(m.group(3)), "err": int(m.group(5)),
            "p90": int(P90.search(out.stdout).group(1))}


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    fed = Fed(build, prefix="fedrouter-rate.")
    failed = True
    try:
        nn = fed.minidfs("ns1")["nn"]

        closed = figures(bench(build, nn, "--conns", "4", "--duration", "1", "--warmup", "0.2"))
        paced = figures(bench(build, nn, "--conns", "4", "--duration", "2", "--warmup", "0.3", "--rate", "200"))
        print("closed loop: %d ops/s; --rate 200: %d ops/s, p50 %d us" % (closed["ops"], paced["ops"], paced["p50"]))
        expect(closed["ops"] > 1000, "the closed loop should far outrun 200 calls a second: %d" % closed["ops"])
        expect(150 <= paced["ops"] <= 210, "--rate 200 completed %d calls a second" % paced["ops"])
        expect(paced["err"] == 0 and closed["err"] == 0, "errors: %d, %d" % (closed["err"], paced["err"]))

        # The NameNode stops for 0.6 s inside the measured window.
        mp = fed.nss["ns1"]["proc"]

        def stall():
            os.kill(mp.pid, signal.SIGSTOP)
            time.sleep(0.6)
            os.kill(mp.pid, signal.SIGCONT)

        t = threading.Timer(1.0, stall)
        t.start()
        held = figures(bench(build, nn, "--conns", "1", "--duration", "2", "--warmup", "0.3", "--rate", "100"))
        t.join()
        print("--rate 100 with a 0.6 s stall: %d ops/s, p50 %d us, p90 %d us, p99 %d us"
              % (held["ops"], held["p50"], held["p90"], held["p99"]))
        expect(held["p90"] >= 100000, "calls due during the stall should be timed from when they were due:"
               " p90 %d us" % held["p90"])
        expect(held["p99"] >= 400000, "the first calls due in the stall waited about 0.6 s: p99 %d us" % held["p99"])
        expect(held["ops"] >= 80, "the backlog should be caught up: %d ops/s" % held["ops"])

        bad = bench(build, nn, "--conns", "1", "--duration", "1", "--rate", "0")
        expect(bad.returncode == 2 and "--rate" in bad.stderr, "--rate 0: exit %d: %s" % (bad.returncode,
                                                                                          bad.stderr[-200:]))
        failed = False
        print("rate_check: ok")
    finally:
        fed.close(show_logs=failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
