#!/usr/bin/python3
"""rbf_mounts.py: where the mount table meets the calls that see many mount
points at once, checked against Hadoop RBF's behaviour (findings R6, R7, R9,
R10, R11, R16 and R17 of the RBF method audit).

    /usr/bin/python3 tests/e2e/rbf_mounts.py BUILD_DIR

Two minidfs subclusters (ns2 with an encryption zone at /edst/zone) behind
one fedrouter whose config file holds, besides a few single mounts, 5000
mount points /u/u00000 .. /u/u04999 (destinations ns2:/ud/uNNNNN, one in 50
of which exists) and 44 mounts /s/mNN holding files in both subclusters.
ns1, the default subcluster, has its own /u with real children that sort
between the mount points, one of them named like a mount point.

Prints `ok - NAME` or `not ok - NAME: why` per check, then
`N passed, N failed`; exit status 1 when a check failed.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fed import Fed, Ops, expect_remote  # noqa: E402
from procs import Tally, expect  # noqa: E402

NMOUNTS = 5000              # mount points under /u
NSUM = 44                   # mounts under /s
PAGE_MAX = 1000             # entries a listing page may hold (RBF and the NameNode: dfs.ls.limit)
ACE = "org.apache.hadoop.security.AccessControlException"
UOE = "java.lang.UnsupportedOperationException"
NO_METHOD = "org.apache.hadoop.ipc.RpcNoSuchMethodException"   # minidfs has no such rpc: it was forwarded


def mount_conf():
    out = []
    for i in range(NMOUNTS):
        out += ["[mount /u/u%05d]" % i, "destinations = ns2:/ud/u%05d" % i, ""]
    for i in range(NSUM):
        ns, root = ("ns2", "/sd") if i % 2 == 0 else ("ns1", "/s1d")
        out += ["[mount /s/m%02d]" % i, "destinations = %s:%s/m%02d" % (ns, root, i), ""]
    out += """
[mount /a]
destinations = ns1:/a

[mount /st]
destinations = ns2:/stdst

[mount /nodest]
destinations = ns2:/nothere
mode = 0750

[mount /multi]
destinations = ns1:/md, ns2:/md
order = HASH_ALL

[mount /qt]
destinations = ns1:/qt, ns2:/qt
order = HASH_ALL
quota.ns = 40
quota.ss = 1048576

[mount /qb]
destinations = ns2:/qb
quota.ns = 7

[mount /e]
destinations = ns2:/edst
""".splitlines()
    return "\n".join(out)


def real_u_children():
    """The names ns1's own /u holds: between the mount points, before,
    after, and one named like a mount point (which must hide it)."""
    return ["u%05dr" % i for i in range(0, NMOUNTS, 3)] + ["a_real", "zz_real", "u00010"]


def setup(fed, ops, N1, N2):
    for name in real_u_children():
        ops.mkdirs(N1, "/u/" + name)
    for i in range(0, NMOUNTS, 50):
        d = "/ud/u%05d" % i
        ops.mkdirs(N2, d + "/inside")
        ops.set_permission(N2, d, 0o700 + (i // 50) % 8)
    for i in range(NSUM):
        conn, root = (N2, "/sd") if i % 2 == 0 else (N1, "/s1d")
        for k in range(i % 3 + 1):
            ops.make_file(conn, "%s/m%02d/f%d" % (root, i, k))
    ops.make_file(N1, "/s/own")
    for path in ("/a/sd", "/a/x", "/zlocal", "/md/on1", "/qt"):
        ops.mkdirs(N1, path)
    for path in ("/stdst/c1", "/stdst/c2", "/md/on2", "/qt", "/qb", "/edst/zone/f", "/edst/other"):
        ops.mkdirs(N2, path)
    ops.set_permission(N2, "/stdst", 0o711)
    C = ops.C
    N2.call("allowSnapshot", C.AllowSnapshotRequestProto(snapshotRoot="/stdst"), C.AllowSnapshotResponseProto)
    for i in range(3):
        ops.make_file(N1, "/qt/f%d" % i)
    ops.make_file(N2, "/qb/f")


def status_fields(st):
    """A status without its name, as comparable text."""
    c = type(st)()
    c.CopyFrom(st)
    c.path = b""
    return c


def run(fed, t):
    ops = Ops(fed.C, "DFSClient_rbf_mounts")
    C = ops.C
    fed.minidfs("ns1")
    fed.minidfs("ns2", "--host", "127.0.0.2", "--ez", "/edst/zone")
    N1, N2 = fed.direct("ns1"), fed.direct("ns2")
    setup(fed, ops, N1, N2)
    t0 = time.monotonic()
    rt = fed.router(mount_conf(), default_ns="ns1")
    print("# router with %d mount points ready in %.2f s" % (NMOUNTS + NSUM + 7, time.monotonic() - t0))
    R = fed.conn(rt["hdfs"], timeout=60)

    # ---- R6: listings of a directory with many mount points ----
    want_u = sorted(set(["u%05d" % i for i in range(NMOUNTS)] + real_u_children()), key=lambda s: s.encode())
    pages = []

    def r6_pages():
        start, names = b"", []
        t1 = time.monotonic()
        for _ in range(100):
            dl = ops.listing_page(R, "/u", start)
            expect(dl is not None, "page after %r: no listing" % start)
            page = [e.path.decode() for e in dl.partialListing]
            pages.append((start, page, dl.remainingEntries, dl))
            names += page
            if not dl.remainingEntries or not page:
                break
            start = page[-1].encode()
        took = time.monotonic() - t1
        print("# getListing /u: %d names in %d pages, %.3f s (%.1f ms a page)"
              % (len(names), len(pages), took, 1000 * took / max(1, len(pages))))
        dups = sorted({n for n in names if names.count(n) > 1}) if len(names) != len(set(names)) else []
        expect(not dups, "names listed twice: %s" % dups[:10])
        missing = sorted(set(want_u) - set(names), key=lambda s: s.encode())
        extra = sorted(set(names) - set(want_u))
        expect(not missing and not extra, "%d names missing (%s...), %d unexpected (%s)"
               % (len(missing), missing[:5], len(extra), extra[:5]))
        expect(names == want_u, "the names are not in byte order")
        # A real child named like a mount point shows once, as the mount point.
        entry = [e for _, _, _, dl in pages for e in dl.partialListing if e.path == b"u00010"]
        real = ops.fileinfo(N1, "/u/u00010")
        expect(entry[0].fileId != real.fileId, "u00010 shows ns1's real /u/u00010 (fileId %d), not the mount point"
               % real.fileId)
    t.check("R6: getListing /u with %d mount points pages every name once, in order" % NMOUNTS, r6_pages)

    def r6_page_size():
        expect(pages, "no pages (the listing failed)")
        sizes = [len(p) for _, p, _, _ in pages]
        expect(max(sizes) <= PAGE_MAX, "a page of %d entries (pages: %s)" % (max(sizes), sizes))
        expect(len(pages) >= len(want_u) // PAGE_MAX, "%d pages for %d names" % (len(pages), len(want_u)))
    t.check("R6: each page of /u holds at most %d entries" % PAGE_MAX, r6_page_size)

    def r6_remaining():
        expect(pages, "no pages (the listing failed)")
        seen = 0
        for start, page, rem, _ in pages:
            seen += len(page)
            expect(rem == len(want_u) - seen, "after %r (%d names so far) remainingEntries is %d, %d names are left"
                   % (start, seen, rem, len(want_u) - seen))
    t.check("R6: remainingEntries of each page of /u counts the names still to come", r6_remaining)

    def r6_start_after():
        k = want_u.index("u02500")
        dl = ops.listing_page(R, "/u", b"u02500")
        page = [e.path.decode() for e in dl.partialListing]
        expect(page and page[0] == want_u[k + 1], "the page after u02500 starts with %s, expected %s"
               % (page[:1], want_u[k + 1]))
        expect(page == want_u[k + 1:k + 1 + len(page)], "the page after u02500 is not the names that follow it")
        expect(dl.remainingEntries == len(want_u) - (k + 1) - len(page), "remainingEntries %d after u02500, "
               "expected %d" % (dl.remainingEntries, len(want_u) - (k + 1) - len(page)))
        last = ops.listing_page(R, "/u", b"zz_real")
        expect(last is not None and len(last.partialListing) == 0 and last.remainingEntries == 0,
               "after the last name: %s" % last)
    t.check("R6: startAfter=u02500 starts right after it and stays in order", r6_start_after)

    # ---- R16: mount points in listings carry their destination's status ----
    def entry_of(listing_dir, name):
        for e in ops_listing_entries(ops, R, listing_dir):
            if e.path.decode() == name:
                return e
        raise AssertionError("%s has no entry %s" % (listing_dir, name))

    def r16_st():
        e = entry_of("/", "st")
        info = ops.fileinfo(R, "/st")
        direct = ops.fileinfo(N2, "/stdst")
        expect(e.permission.perm == 0o711, "the entry of /st has mode %o, its destination %o"
               % (e.permission.perm, direct.permission.perm))
        expect(e.childrenNum == 2 and e.flags == direct.flags and e.modification_time == direct.modification_time,
               "childrenNum %d flags %d mtime %d; the destination has %d, %d, %d" % (
                   e.childrenNum, e.flags, e.modification_time, direct.childrenNum, direct.flags,
                   direct.modification_time))
        expect(status_fields(e) == status_fields(info), "listing entry %s | getFileInfo %s"
               % (status_fields(e), status_fields(info)))
    t.check("R16: the entry of mount point /st in / is getFileInfo /st (ns2:/stdst: mode, owner, times, "
            "childrenNum, snapshot flag)", r16_st)

    def r16_multi():
        e = entry_of("/", "multi")
        info = ops.fileinfo(R, "/multi")
        expect(status_fields(e) == status_fields(info), "listing entry %s | getFileInfo %s"
               % (status_fields(e), status_fields(info)))
    t.check("R16: the entry of HASH_ALL mount point /multi is getFileInfo /multi", r16_multi)

    def r16_stable():
        e1 = entry_of("/", "nodest")
        i1 = ops.fileinfo(R, "/nodest")
        time.sleep(1.1)
        e2 = entry_of("/", "nodest")
        i2 = ops.fileinfo(R, "/nodest")
        expect(e1.modification_time == e2.modification_time, "mtime %d, then %d a second later"
               % (e1.modification_time, e2.modification_time))
        expect(i1.modification_time == i2.modification_time, "getFileInfo mtime %d, then %d a second later"
               % (i1.modification_time, i2.modification_time))
        expect(e1.permission.perm == 0o750, "mode %o, the entry says 0750" % e1.permission.perm)
        expect(status_fields(e2) == status_fields(i2), "listing entry %s | getFileInfo %s"
               % (status_fields(e2), status_fields(i2)))
    t.check("R16: mount point /nodest without destination: the entry's mode, an mtime that stays put, "
            "as getFileInfo answers", r16_stable)

    def r16_u():
        expect(pages, "no pages (the listing failed)")
        entries = {e.path.decode(): e for _, _, _, dl in pages for e in dl.partialListing}
        bad = []
        for i in range(0, NMOUNTS, 50)[::5]:
            name = "u%05d" % i
            want = ops.fileinfo(R, "/u/" + name)
            got = entries.get(name)
            if got is None or status_fields(got) != status_fields(want):
                bad.append(name)
            elif got.permission.perm != 0o700 + (i // 50) % 8:
                bad.append("%s mode %o" % (name, got.permission.perm))
        expect(not bad, "entries of /u that differ from getFileInfo or their destination: %s" % bad)
    t.check("R16: mount points of /u with a destination show its status (20 sampled)", r16_u)

    # ---- R7: summaries over many locations ----
    def direct_sum(fn, field):
        parts = [fn(N1, "/s")]
        for i in range(NSUM):
            conn, root = (N2, "/sd") if i % 2 == 0 else (N1, "/s1d")
            parts.append(fn(conn, "%s/m%02d" % (root, i)))
        return sum(getattr(p, field) for p in parts)

    def r7_summary():
        got = ops.summary(R, "/s")
        for f in ("length", "fileCount", "directoryCount", "spaceConsumed"):
            want = direct_sum(ops.summary, f)
            expect(getattr(got, f) == want, "%s: %d through the router, %d in the subclusters" % (f, getattr(got, f),
                                                                                                 want))
    t.check("R7: getContentSummary /s adds up /s and its %d mounts" % NSUM, r7_summary)

    def r7_quota():
        got = ops.quota_usage(R, "/s")
        for f in ("fileAndDirectoryCount", "spaceConsumed"):
            want = direct_sum(ops.quota_usage, f)
            expect(getattr(got, f) == want, "%s: %d through the router, %d in the subclusters" % (f, getattr(got, f),
                                                                                                 want))
    t.check("R7: getQuotaUsage /s adds up /s and its %d mounts" % NSUM, r7_quota)

    def r7_u():
        t1 = time.monotonic()
        got = ops.summary(R, "/u")
        took = time.monotonic() - t1
        parts = [ops.summary(N1, "/u")] + [ops.summary(N2, "/ud/u%05d" % i) for i in range(0, NMOUNTS, 50)]
        print("# getContentSummary /u over %d locations: %.3f s" % (NMOUNTS + 1, took))
        for f in ("fileCount", "directoryCount"):
            want = sum(getattr(p, f) for p in parts)
            expect(getattr(got, f) == want, "%s: %d through the router, %d in the subclusters" % (f, getattr(got, f),
                                                                                                 want))
    t.check("R7: getContentSummary /u adds up ns1:/u and the %d mount points below it" % NMOUNTS, r7_u)

    # ---- R9: listOpenFiles ----
    def list_open(path):
        r = C.ListOpenFilesRequestProto(id=0, path=path)
        r.types.append(C.ALL_OPEN_FILES)
        return R.call("listOpenFiles", r, C.ListOpenFilesResponseProto)

    def r9():
        expect_remote(lambda: list_open("/"), UOE)
        expect_remote(lambda: list_open("/a"), UOE)
        expect_remote(lambda: list_open("/u"), UOE)
        expect_remote(lambda: list_open("/a/sd"), NO_METHOD)  # inside one mount: still served there
    t.check("R9: listOpenFiles / (what the Java client sends), /u and mount point /a are refused with "
            "UnsupportedOperationException", r9)

    # ---- R10: snapshots and satisfyStoragePolicy on and above mount points ----
    snap_calls = [
        ("allowSnapshot", lambda p: (C.AllowSnapshotRequestProto(snapshotRoot=p), C.AllowSnapshotResponseProto)),
        ("disallowSnapshot", lambda p: (C.DisallowSnapshotRequestProto(snapshotRoot=p),
                                        C.DisallowSnapshotResponseProto)),
        ("createSnapshot", lambda p: (C.CreateSnapshotRequestProto(snapshotRoot=p, snapshotName="s1"),
                                      C.CreateSnapshotResponseProto)),
        ("deleteSnapshot", lambda p: (C.DeleteSnapshotRequestProto(snapshotRoot=p, snapshotName="s1"),
                                      C.DeleteSnapshotResponseProto)),
        ("renameSnapshot", lambda p: (C.RenameSnapshotRequestProto(snapshotRoot=p, snapshotOldName="s1",
                                                                   snapshotNewName="s2"),
                                      C.RenameSnapshotResponseProto)),
        ("getSnapshotListing", lambda p: (C.GetSnapshotListingRequestProto(snapshotRoot=p),
                                          C.GetSnapshotListingResponseProto)),
        ("getSnapshotDiffReport", lambda p: (C.GetSnapshotDiffReportRequestProto(
            snapshotRoot=p, fromSnapshot="s1", toSnapshot="s2"), C.GetSnapshotDiffReportResponseProto)),
        ("getSnapshotDiffReportListing", lambda p: (C.GetSnapshotDiffReportListingRequestProto(
            snapshotRoot=p, fromSnapshot="s1", toSnapshot="s2", cursor=C.SnapshotDiffReportCursorProto(
                startPath=b"", index=-1)), C.GetSnapshotDiffReportListingResponseProto)),
        ("satisfyStoragePolicy", lambda p: (C.SatisfyStoragePolicyRequestProto(src=p),
                                            C.SatisfyStoragePolicyResponseProto)),
    ]

    def snapdirs(conn):
        resp = conn.call("getSnapshottableDirListing", C.GetSnapshottableDirListingRequestProto(),
                         C.GetSnapshottableDirListingResponseProto)
        if not resp.HasField("snapshottableDirList"):
            return []
        return sorted((e.parent_fullpath.decode(), e.dirStatus.path.decode())
                      for e in resp.snapshottableDirList.snapshottableDirListing)

    for method, build in snap_calls:
        def r10(method=method, build=build):
            for path, words in (("/a", ("/a", "mount point")), ("/", ("/", "mount point"))):
                q, rcls = build(path)
                expect_remote(lambda: R.call(method, q, rcls), ACE, *words)
            if method == "allowSnapshot":
                expect(("/", "") not in snapdirs(N1) and ("/", "a") not in snapdirs(N1),
                       "ns1 made / or /a snapshottable: %s" % snapdirs(N1))
                R.call(method, C.AllowSnapshotRequestProto(snapshotRoot="/a/sd"), C.AllowSnapshotResponseProto)
                expect(("/a", "sd") in snapdirs(N1), "allowSnapshot /a/sd (inside the mount) did not reach ns1: %s"
                       % snapdirs(N1))
        t.check("R10: %s on mount point /a and on / (mount points below) is refused with "
                "AccessControlException naming the path" % method, r10)

    # ---- R11: router quotas of mount entries ----
    def set_quota(path):
        r = C.SetQuotaRequestProto(path=path, namespaceQuota=100, storagespaceQuota=(1 << 64) - 1)
        return R.call("setQuota", r, C.SetQuotaResponseProto)

    def r11_set():
        expect_remote(lambda: set_quota("/qt"), ACE, "/qt")
        expect_remote(lambda: set_quota("/qb"), ACE, "/qb")
        expect_remote(lambda: set_quota("/a/sd"), NO_METHOD)  # not a mount entry: forwarded
    t.check("R11: setQuota on mount entries /qt and /qb is refused with AccessControlException", r11_set)

    def r11_usage():
        got = ops.quota_usage(R, "/qt")
        want = ops.quota_usage(N1, "/qt").fileAndDirectoryCount + ops.quota_usage(N2, "/qt").fileAndDirectoryCount
        expect(got.quota == 40 and got.spaceQuota == 1048576, "quota %d spaceQuota %d, the router's are 40 and "
               "1048576" % (got.quota, got.spaceQuota))
        expect(got.fileAndDirectoryCount == want, "fileAndDirectoryCount %d, the subclusters hold %d"
               % (got.fileAndDirectoryCount, want))
        one = ops.quota_usage(R, "/qb")
        expect(one.quota == 7, "/qb (one destination): quota %d, the router's is 7" % one.quota)
        expect(one.fileAndDirectoryCount == ops.quota_usage(N2, "/qb").fileAndDirectoryCount,
               "/qb: fileAndDirectoryCount %d" % one.fileAndDirectoryCount)
    t.check("R11: getQuotaUsage of mount entries /qt and /qb reports the router's quota.ns / quota.ss", r11_usage)

    # ---- R17: getEnclosingRoot from the mount table ----
    def enclosing(path):
        return R.call("getEnclosingRoot", C.GetEnclosingRootRequestProto(filename=path),
                      C.GetEnclosingRootResponseProto).enclosingRootPath

    def r17():
        for path, want in (("/a/sd", "/a"), ("/a", "/a"), ("/zlocal", "/"), ("/u", "/"),
                           ("/u/u00001/x", "/u/u00001"), ("/e/other", "/e"), ("/e/zone/f", "/e/zone"),
                           ("/e/zone", "/e/zone")):
            got = enclosing(path)
            expect(got == want, "getEnclosingRoot %s: %r, expected %r" % (path, got, want))
    t.check("R17: getEnclosingRoot answers the mount point, or the deeper encryption zone (ns2:/edst/zone "
            "seen as /e/zone)", r17)

    for name, p in (("minidfs ns1", fed.nss["ns1"]["proc"]), ("minidfs ns2", fed.nss["ns2"]["proc"]),
                    ("fedrouter", rt["proc"])):
        if p.poll() is None:
            t.ok("%s still running at the end" % name)
        else:
            t.not_ok("%s still running at the end" % name, "it exited with status %s" % p.poll())


def ops_listing_entries(ops, conn, path):
    out, start = [], b""
    for _ in range(1000):
        dl = ops.listing_page(conn, path, start)
        if dl is None:
            return out
        out += list(dl.partialListing)
        if not dl.remainingEntries or not dl.partialListing:
            return out
        start = dl.partialListing[-1].path
    raise AssertionError("getListing %s: too many pages" % path)


def main(argv):
    if len(argv) != 2:
        print("usage: rbf_mounts.py BUILD_DIR", file=sys.stderr)
        return 2
    t = Tally()
    fed = Fed(os.path.abspath(argv[1]), prefix="fedrouter-rbf-mounts.")
    try:
        run(fed, t)
    except Exception as e:  # setup failed: say so, as a failed check
        t.not_ok("the test stopped early", "%s: %s" % (type(e).__name__, e))
    finally:
        fed.close(show_logs=t.failed > 0)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
