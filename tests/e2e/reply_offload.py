#!/usr/bin/python3
"""reply_offload.py: large answers mapped on the crypto threads stay right.

    /usr/bin/python3 tests/e2e/reply_offload.py BUILD_DIR

With crypto_threads = 2, a getListing answer of 32 KiB or more whose paths
must be mapped back through a mount (destination /mdst, mount point /m) is
walked on a crypto thread while other calls wait on the worker. Checked
here, with one minidfs behind the router:

  - many clients list a directory of 1,200 entries (symlinks among them:
    targets under the destination, outside it, and relative) through the
    mount, next to clients making small calls; every page is whole and in
    order, targets under /mdst read /m, the others as stored, and the
    small calls answer right;
  - the crypto threads ran jobs (no client here asks for a SASL layer, so
    each job was an answer's mapping: with none, the test fails);
  - clients that send a listing and go away at once leave the router
    serving, with nothing answered to anyone else by mistake.

Prints `ok - NAME` / `not ok - NAME: why`, then `N passed, N failed`.
"""
import os
import re
import socket
import struct
import sys
import threading
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hadoop_ipc  # noqa: E402
import procs  # noqa: E402
from fed import Fed, Ops  # noqa: E402

expect = procs.expect

FILES = 1200
# name -> (target as stored, as the client must read it through /m). The
# names sort first, so the links are in the first page (1,000 entries, well
# above the size that goes to a thread), not in the short last one.
LINKS = {
    "a_in": ("/mdst/big/f0007", "/m/big/f0007"),
    "a_root": ("/mdst", "/m"),
    "a_out": ("/elsewhere/x", "/elsewhere/x"),
    "a_rel": ("f0008", "f0008"),
    "a_like": ("/mdstx/y", "/mdstx/y"),
}
CLIENTS = 8
ROUNDS = 12


def metric(admin, name):
    with urllib.request.urlopen("http://%s/metrics" % admin, timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def main():
    build = sys.argv[1]
    t = procs.Tally()
    fed = Fed(build, prefix="fedrouter-offload.")
    ok = False
    try:
        fed.minidfs("ns1")
        rt = fed.router("[mount /m]\ndestinations = ns1:/mdst\n", router_keys="crypto_threads = 2")
        ops = Ops(fed.C)
        C = fed.C
        d = fed.direct("ns1")
        ops.mkdirs(d, "/mdst/big")
        for i in range(FILES):
            ops.make_file(d, "/mdst/big/f%04d" % i)
        for name, (target, _) in LINKS.items():
            r = C.CreateSymlinkRequestProto(target=target, link="/mdst/big/" + name, createParent=False)
            r.dirPerm.CopyFrom(ops.perm(0o755))
            d.call("createSymlink", r, C.CreateSymlinkResponseProto)
        want_names = sorted(["f%04d" % i for i in range(FILES)] + list(LINKS))
        want_links = {name: seen for name, (_, seen) in LINKS.items()}
        jobs_before = metric(rt["admin"], "fedrouter_crypto_jobs_total") or 0

        def one_listing(conn):
            names, links, start = [], {}, b""
            while True:
                dl = ops.listing_page(conn, "/m/big", start)
                expect(dl is not None, "no listing")
                for e in dl.partialListing:
                    n = e.path.decode()
                    names.append(n)
                    if e.HasField("symlink") and e.symlink:
                        links[n] = e.symlink.decode()
                if not dl.remainingEntries:
                    return names, links
                start = dl.partialListing[-1].path

        def concurrent_listings():
            errors = []

            def lister(k):
                try:
                    c = fed.conn(rt["hdfs"], timeout=30)
                    for _ in range(ROUNDS):
                        names, links = one_listing(c)
                        expect(names == want_names, "client %d: %d names, first differences %s" % (
                            k, len(names), [x for x in names if x not in want_names][:3]))
                        expect(links == want_links, "client %d: targets %s, want %s" % (k, links, want_links))
                except Exception as e:  # noqa: BLE001 - reported by the check
                    errors.append("lister %d: %s: %s" % (k, type(e).__name__, e))

            def small(k):
                try:
                    c = fed.conn(rt["hdfs"], timeout=30)
                    for i in range(ROUNDS * 20):
                        path = "/m/big/f%04d" % ((k * 37 + i) % FILES)
                        st = ops.fileinfo(c, path)
                        expect(st is not None and st.fileType == C.HdfsFileStatusProto.IS_FILE,
                               "client %d: getFileInfo %s: %s" % (k, path, st))
                except Exception as e:  # noqa: BLE001 - reported by the check
                    errors.append("small %d: %s: %s" % (k, type(e).__name__, e))

            threads = [threading.Thread(target=lister, args=(k,)) for k in range(CLIENTS)]
            threads += [threading.Thread(target=small, args=(k,)) for k in range(CLIENTS)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            expect(not errors, "; ".join(errors[:4]))

        t.check("%d clients list %d entries through the mount next to small calls: whole, in order, "
                "symlink targets mapped" % (CLIENTS, FILES + len(LINKS)), concurrent_listings)

        def jobs_ran():
            after = metric(rt["admin"], "fedrouter_crypto_jobs_total")
            expect(after is not None, "no fedrouter_crypto_jobs_total")
            expect(after > jobs_before, "the crypto threads ran no job (%s before, %s after)" % (jobs_before, after))

        t.check("the listings' mapping ran on the crypto threads", jobs_ran)

        def leave_early():
            # Clients that ask for the listing and close at once, next to a
            # client that keeps listing: every one of its answers is its own.
            stop = threading.Event()
            errors = []

            def steady():
                try:
                    c = fed.conn(rt["hdfs"], timeout=30)
                    while not stop.is_set():
                        names, links = one_listing(c)
                        expect(names == want_names and links == want_links, "a listing changed")
                except Exception as e:  # noqa: BLE001 - reported by the check
                    errors.append("%s: %s" % (type(e).__name__, e))

            th = threading.Thread(target=steady)
            th.start()
            req = C.GetListingRequestProto(src="/m/big", startAfter=b"", needLocation=False).SerializeToString()
            for _ in range(40):
                c = hadoop_ipc.Conn(C, rt["hdfs"], fed.user, timeout=10)
                rh = C.RequestHeaderProto(methodName="getListing", declaringClassProtocolName=hadoop_ipc.PROTOCOL,
                                          clientProtocolVersion=1)
                frame = c._frame(c._header(0), rh.SerializeToString(), req)
                c.sock.sendall(frame * 3)
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
            stop.set()
            th.join()
            expect(not errors, "; ".join(errors))
            names, links = one_listing(fed.conn(rt["hdfs"]))
            expect(names == want_names and links == want_links, "the router answers wrong after the clients left")

        t.check("clients that leave while their listing is mapped harm no other", leave_early)
        ok = t.failed == 0
    except Exception as e:  # noqa: BLE001 - the set-up failed
        t.not_ok("set-up", "%s: %s" % (type(e).__name__, e))
    finally:
        fed.close(show_logs=not ok)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
