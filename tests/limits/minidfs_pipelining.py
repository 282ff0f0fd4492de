#!/usr/bin/python3
"""minidfs_pipelining.py: minidfs, the backend of every benchmark, answers
every call of a client that pipelines far more than its output mark (16 MiB)
before it reads, so that benchmarks with more than one call in flight
measure something.

    /usr/bin/python3 tests/limits/minidfs_pipelining.py BUILD_DIR

A directory of 1,000 long names makes each getListing answer about 80 kB; a
client sends 2,000 of them at once straight to minidfs (160 MB of answers),
reads nothing for 2 s, then reads: every call must be answered.
"""
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import client_limits  # noqa: E402
import procs  # noqa: E402
from fed import Fed, Ops  # noqa: E402

expect = procs.expect
CALLS = 2000


def run(fed, t):
    fed.minidfs("ns1")
    d = fed.direct("ns1")
    ops = Ops(fed.C)
    ops.mkdirs(d, "/d")
    for i in range(client_limits.ENTRIES):
        ops.mkdirs(d, "/d/a-directory-name-long-enough-to-make-big-listings-%04d" % i)

    def pipelined():
        c = fed.direct("ns1")
        c.sock.settimeout(60)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        frames = b"".join(client_limits.listing_frame(c, i, "/d") for i in range(CALLS))
        th = threading.Thread(target=lambda: c.sock.sendall(frames), daemon=True)
        th.start()
        time.sleep(2)
        seen = set()
        for _ in range(CALLS):
            cid, ok = client_limits.read_reply(c)  # a timeout here: calls minidfs never started
            expect(ok, "call %d failed" % cid)
            seen.add(cid)
        expect(seen == set(range(CALLS)), "%d distinct calls answered of %d" % (len(seen), CALLS))
    t.check("minidfs answers 2,000 pipelined calls (160 MB) once the client reads", pipelined)


def main(argv):
    if len(argv) != 2:
        print("usage: minidfs_pipelining.py BUILD_DIR", file=sys.stderr)
        return 2
    t = procs.Tally()
    fed = Fed(argv[1], prefix="limits-mdpipe.")
    try:
        run(fed, t)
    except Exception as e:
        t.not_ok("the probe stopped early", "%s: %s" % (type(e).__name__, e))
    finally:
        fed.close(show_logs=t.failed > 0)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
