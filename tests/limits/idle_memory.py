#!/usr/bin/python3
"""idle_memory.py: an idle client connection holds at most 16 KiB of the
router's memory, for both protocols.

    /usr/bin/python3 tests/limits/idle_memory.py BUILD_DIR

Each case starts a fresh fedrouter (minidfs ns1 and one minihms behind it),
makes one warm-up connection of the kind measured, reads the router's RSS,
opens N = 2,000 such connections, waits for the router to settle and reads
it again: (after - before) / N is the figure printed and checked against
16 KiB. The cases are the states a real client leaves a connection in:

  hdfs after a call  preamble, connection context and one getListing whose
       answer is some 26 kB (the output buffer must not stay that big)
  hms after a call   one get_database whose answer is some 24 kB
  hdfs mid-frame     after the handshake, the first two bytes of a frame
       header, sent as two separate reads (a slow sender)
  hms mid-message    the first two bytes of a call, also in two reads

Prints `ok - NAME` or `not ok - NAME: why`, then `N passed, N failed`.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import climits  # noqa: E402
from climits import expect  # noqa: E402

N = 2000
LIMIT_KB = 16
ENTRIES = 300


def measure(fed, rt, what, open_one, n=N):
    """Opens n connections with open_one(i) after a warm-up one; returns the
    RSS growth per connection in bytes."""
    pid = rt["proc"].pid
    keep = [open_one(-1)]
    time.sleep(0.5)
    before = climits.rss_kb(pid)
    t0 = time.monotonic()
    for i in range(n):
        keep.append(open_one(i))
    time.sleep(1.0)
    after = climits.rss_kb(pid)
    per = (after - before) * 1024.0 / n
    print("# %s: RSS %d -> %d kB over %d connections (%.1f s): %.0f B per connection" %
          (what, before, after, n, time.monotonic() - t0, per), flush=True)
    for s in keep:
        s.close()
    return per


def run(fed, t, build):
    climits.raise_nofile(3 * N + 500)
    fed.minidfs("ns1")
    d = fed.direct("ns1")
    ops = climits.Ops(fed.C)
    ops.mkdirs(d, "/big")
    for i in range(ENTRIES):
        ops.mkdirs(d, "/big/a-directory-name-long-enough-to-make-a-large-listing-%04d" % i)
    ms = climits.minihms(fed, "primary")
    m = climits.hms_client(build, ms)  # puts the generated modules on the path
    from hive_metastore.ttypes import Database as Db  # noqa: E402
    m.create_database(Db("web", "x" * 24000, "file:/warehouse/web", {}))
    m._t.close()
    body = "[mount /big]\ndestinations = ns1:/big\n"
    user = fed.user

    def hdfs_after_call(rt):
        def one(i):
            c = climits.hadoop_ipc.Conn(fed.C, rt["hdfs"], user, timeout=10)
            page = ops.listing_page(c, "/big")
            expect(len(page.partialListing) > 0, "empty listing")
            return c.sock
        return one

    get_db = climits.thrift_call("get_database", climits.thrift_string_field(1, b"web"))

    def hms_after_call(rt):
        size = []

        def one(i):
            s = climits.connect(rt["hms"])
            s.sendall(get_db)
            got = b""
            if not size:  # learn the answer's length once
                s.settimeout(1.0)
                try:
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += chunk
                except OSError:
                    pass
                s.settimeout(10)
                expect(len(got) > 20000, "get_database answered %d bytes" % len(got))
                size.append(len(got))
            while len(got) < size[0]:
                chunk = s.recv(size[0] - len(got))
                expect(chunk, "the router closed a metastore client")
                got += chunk
            return s
        return one

    handshake = climits.hdfs_handshake(fed.C, user)

    def two_reads(rt, key, first, b1, b2):
        socks = []

        def one(i):
            s = climits.connect(rt[key])
            s.sendall(first + b1)
            socks.append(s)
            if i == N - 1:  # the second byte of each goes out as a read of its own
                time.sleep(0.5)
                for x in socks:
                    x.sendall(b2)
            return s
        return one

    def case(name, key, maker, fix=None):
        def check():
            rt = climits.router(fed, body, metastores=[ms], name="fedrouter-" + name.replace(" ", "-"))
            try:
                per = measure(fed, rt, name, maker(rt))
                if climits.sanitized(build):  # redzones and a quarantine of freed memory: no fair figure
                    print("# sanitizer build: the figure is not checked")
                    return
                expect(per <= LIMIT_KB * 1024, "%.0f B per idle connection (limit %d KiB)" % (per, LIMIT_KB))
            finally:
                climits.stop_router(fed, rt)
        t.check("%s: an idle connection holds at most %d KiB" % (name, LIMIT_KB), check)

    case("hdfs after a call", "hdfs", hdfs_after_call)
    case("hms after a call", "hms", hms_after_call)
    case("hdfs mid-frame", "hdfs", lambda rt: two_reads(rt, "hdfs", handshake, b"\x00", b"\x00"))
    case("hms mid-message", "hms", lambda rt: two_reads(rt, "hms", b"", b"\x80", b"\x01"))


if __name__ == "__main__":
    sys.exit(climits.main(run, sys.argv, "fedrouter-limits-idle."))
