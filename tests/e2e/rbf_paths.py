#!/usr/bin/python3
"""rbf_paths.py: path calls in mounts of several destinations behave as in
Hadoop's Router-Based Federation (the findings of the method audit named in
each check: R1 rename pairing, R2 creates that never duplicate, R3 the
namespace of create/append, R4 sequential calls past `false`, R5 attribute
changes on mount points, R12 partial answers in an outage, R14 unknown
methods, plus renewLease names, error messages in the client's paths and
router quotas on the destination of a rename).

    /usr/bin/python3 tests/e2e/rbf_paths.py BUILD_DIR

Two minidfs subclusters (ns2 on 127.0.0.2, so LOCAL mounts can tell the
clients apart) behind two routers (the second with hdfs.down = fail). Every
check calls a router, then asks each subcluster directly what it holds.
Prints `ok - NAME` / `not ok - NAME: why`, then `N passed, N failed`.
"""
import os
import signal
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402
from fed import Fed, Ops, RemoteError, expect_remote  # noqa: E402

expect = procs.expect

MOUNTS = """
[mount /a]
destinations = ns1:/a

[mount /b]
destinations = ns2:/b

[mount /m]
destinations = ns2:/mdst

[mount /h]
destinations = ns1:/h, ns2:/h
order = HASH_ALL

[mount /r]
destinations = ns1:/r, ns2:/r
order = RANDOM

[mount /hs]
destinations = ns1:/hs, ns2:/hs
order = HASH

[mount /sp]
destinations = ns1:/sp, ns2:/sp
order = SPACE

[mount /loc]
destinations = ns1:/loc, ns2:/loc
order = LOCAL

[mount /qt]
destinations = ns2:/qt
quota.ns = 3
"""

MULTI = ("/h", "/r", "/hs", "/sp", "/loc")


def metric(admin, name, labels):
    """The value of one series of the router's /metrics (0 when absent)."""
    with urllib.request.urlopen("http://%s/metrics" % admin, timeout=5) as f:
        text = f.read().decode()
    for line in text.splitlines():
        if line.startswith(name) and all(l in line for l in labels):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def run(fed, t):
    ns1 = fed.minidfs("ns1", "--capacity", str(256 << 20))
    ns2 = fed.minidfs("ns2", "--capacity", str(8 << 30), "--host", "127.0.0.2")
    ops = Ops(fed.C, "DFSClient_rbf_paths")
    N1, N2 = fed.direct("ns1"), fed.direct("ns2")
    N = {"ns1": N1, "ns2": N2}
    for d in ("/a", "/h", "/r", "/hs", "/sp", "/loc"):
        assert ops.mkdirs(N1, d)
    for d in ("/b", "/mdst", "/h", "/r", "/hs", "/sp", "/loc", "/qt"):
        assert ops.mkdirs(N2, d)
    rt = fed.router(MOUNTS, default_ns="ns1")
    rt_fail = fed.router(MOUNTS, default_ns="ns1", router_keys="hdfs.down = fail", name="fedrouter-fail")
    R = fed.conn(rt["hdfs"])
    R2 = fed.conn(rt["hdfs"], source="127.0.0.2")   # LOCAL: ns2's client
    RF = fed.conn(rt_fail["hdfs"])
    time.sleep(0.5)  # one refresh of the cluster state (SPACE, LOCAL)

    def holders(path_in_ns):
        """The subclusters holding a path (same destination path in both)."""
        return [ns for ns, c in sorted(N.items()) if ops.exists(c, path_in_ns)]

    # ---- R1: rename and concat in multi-destination mounts ----
    def r1_rename_files():
        for mnt in MULTI:
            for k in range(6):
                src, dst = "%s/osrc%d" % (mnt, k), "%s/odst%d" % (mnt, k)
                ops.make_file(R, src)
                where = holders(src)
                expect(len(where) == 1, "%s is in %s after create" % (src, where))
                expect(ops.rename(R, src, dst) is True, "rename %s -> %s answered false" % (src, dst))
                expect(holders(src) == [], "%s still exists in %s" % (src, holders(src)))
                expect(holders(dst) == where, "%s is in %s, the source was in %s" % (dst, holders(dst), where))
    t.check("R1: rename of a file in HASH_ALL, RANDOM, HASH, SPACE and LOCAL mounts is done where it lives", r1_rename_files)

    def r1_rename2_files():
        for mnt in MULTI:
            for k in range(6):
                src, dst = "%s/nsrc%d" % (mnt, k), "%s/ndst%d" % (mnt, k)
                ops.make_file(R, src)
                where = holders(src)
                ops.rename2(R, src, dst)
                expect(holders(src) == [] and holders(dst) == where,
                       "rename2 %s -> %s: source in %s, destination in %s (was %s)"
                       % (src, dst, holders(src), holders(dst), where))
    t.check("R1: rename2 of a file in every multi-destination order is done where it lives", r1_rename2_files)

    def r1_rename_dirs():
        for mnt in ("/h", "/r", "/sp"):
            src, dst = mnt + "/dsrc", mnt + "/ddst"
            expect(ops.mkdirs(R, src + "/inner"), "mkdirs %s/inner" % src)
            expect(holders(src) == ["ns1", "ns2"], "%s is in %s (folder-all: expected both)" % (src, holders(src)))
            ops.rename2(R, src, dst)
            expect(holders(src) == [], "%s is left in %s" % (src, holders(src)))
            expect(holders(dst) == ["ns1", "ns2"], "%s is in %s: every location must be renamed" % (dst, holders(dst)))
    t.check("R1: a directory of a folder-all mount is renamed in every location", r1_rename_dirs)

    def r1_pair_other_mount():
        # /h has a destination in ns2, as /b: a file of /h in ns2 moves to /b.
        for k in range(8):
            src = "/h/tob%d" % k
            ops.make_file(R, src)
            if holders(src) == ["ns2"]:
                ops.rename2(R, src, "/b/fromh")
                expect(holders(src) == [], "the source is still there")
                expect(ops.exists(N2, "/b/fromh"), "ns2:/b/fromh is missing")
                return
        raise AssertionError("setup: no /h/tobK landed in ns2")
    t.check("R1: rename from a HASH_ALL mount to a single-destination mount in a shared subcluster", r1_pair_other_mount)

    def r1_across():
        ops.make_file(R, "/a/across")
        expect_remote(lambda: ops.rename2(R, "/a/across", "/b/across"), "java.io.IOException", "/a/across",
                      "/b/across")
        expect(ops.exists(N1, "/a/across") and not ops.exists(N2, "/b/across"), "the file moved")
    t.check("R1: a rename that truly spans subclusters is refused, naming both paths", r1_across)

    def r1_concat():
        for mnt in ("/r", "/loc"):
            for k in range(4):
                trg, s1 = "%s/ctrg%d" % (mnt, k), "%s/csrc%d" % (mnt, k)
                ops.make_file(R, trg)
                where = holders(trg)
                # the source made directly next to the target
                ops.make_file(N[where[0]], s1)
                try:
                    ops.concat(R, trg, [s1])
                except RemoteError as e:
                    # minidfs refuses concat of empty files; the router must
                    # have sent it to the one subcluster holding both.
                    expect("across" not in e.msg, "concat refused as a cross-subcluster call: %s" % e.msg)
    t.check("R1: concat of two files of one location of a multi-destination mount reaches that location",
            r1_concat)

    # ---- R2: create never duplicates ----
    def r2_no_second_copy():
        for mnt in MULTI:
            p = mnt + "/dup"
            ops.make_file(R, p)
            for _ in range(8):
                expect_remote(lambda: ops.create(R, p), "org.apache.hadoop.fs.FileAlreadyExistsException")
            expect(len(holders(p)) == 1, "%s exists in %s" % (p, holders(p)))
            fid = ops.make_file(R, p, overwrite=True)
            expect(len(holders(p)) == 1, "after an overwrite %s exists in %s" % (p, holders(p)))
            expect(ops.fileinfo(R, p).fileId == fid, "the router reads another copy than the one written")
    t.check("R2: create in a multi-destination mount finds the existing copy (no second copy, overwrite replaces it)",
            r2_no_second_copy)

    def r2_local_other_side():
        ops.make_file(R2, "/loc/bynear2")
        expect(holders("/loc/bynear2") == ["ns2"], "LOCAL put ns2's client's file in %s" % holders("/loc/bynear2"))
        expect_remote(lambda: ops.create(R, "/loc/bynear2"), "org.apache.hadoop.fs.FileAlreadyExistsException")
        expect(holders("/loc/bynear2") == ["ns2"], "a second copy appeared: %s" % holders("/loc/bynear2"))
    t.check("R2: LOCAL: a create by ns1's client of ns2's file fails with FileAlreadyExistsException", r2_local_other_side)

    def r4_mkdirs_exists():
        expect(ops.mkdirs(R2, "/loc/d2/x"), "mkdirs by ns2's client")
        expect(holders("/loc/d2/x") == ["ns2"], "LOCAL put the directory in %s" % holders("/loc/d2/x"))
        expect(ops.mkdirs(R, "/loc/d2/x") is True, "mkdirs of the existing directory answered false")
        expect(holders("/loc/d2/x") == ["ns2"], "mkdirs made a duplicate: %s" % holders("/loc/d2/x"))
    t.check("R4: mkdirs of a directory that exists in another location answers true and makes no duplicate",
            r4_mkdirs_exists)

    # ---- R3: the namespace of create and append ----
    def r3_namespace():
        for path, ns in (("/a/nsf", "ns1"), ("/b/nsf", "ns2")):
            fs = ops.create(R, path).fs
            expect(fs.namespace == ns, "create %s: namespace %r, expected %r" % (path, fs.namespace, ns))
            ops.complete(R, path, fs.fileId)
            C = fed.C
            q = C.AppendRequestProto(src=path, clientName=ops.client)
            q.flag = C.APPEND
            r = R.call("append", q, C.AppendResponseProto)
            expect(r.HasField("stat") and r.stat.namespace == ns,
                   "append %s: namespace %r" % (path, r.stat.namespace if r.HasField("stat") else None))
            ops.complete(R, path, fs.fileId)
    t.check("R3: create and append name the subcluster in HdfsFileStatusProto.namespace", r3_namespace)

    def lease_names():
        C = fed.C
        key = ('method="renewLease"',)
        before = {ns: metric(rt["admin"], "fedrouter_calls_total", key + ('ns="%s"' % ns, 'proto="hdfs_upstream"'))
                  for ns in ("ns1", "ns2")}
        R.call("renewLease", C.RenewLeaseRequestProto(clientName=ops.client, namespaces=["ns2"]),
               C.RenewLeaseResponseProto)
        mid = {ns: metric(rt["admin"], "fedrouter_calls_total", key + ('ns="%s"' % ns, 'proto="hdfs_upstream"'))
               for ns in ("ns1", "ns2")}
        expect(mid["ns2"] == before["ns2"] + 1 and mid["ns1"] == before["ns1"],
               "namespaces=[ns2]: upstream calls %s -> %s" % (before, mid))
        R.call("renewLease", C.RenewLeaseRequestProto(clientName=ops.client, namespaces=["elsewhere"]),
               C.RenewLeaseResponseProto)
        after = {ns: metric(rt["admin"], "fedrouter_calls_total", key + ('ns="%s"' % ns, 'proto="hdfs_upstream"'))
                 for ns in ("ns1", "ns2")}
        expect(after["ns1"] == mid["ns1"] + 1 and after["ns2"] == mid["ns2"] + 1,
               "unknown names: upstream calls %s -> %s (expected every subcluster)" % (mid, after))
    t.check("renewLease renews the named subclusters only, and every one when no name is known", lease_names)

    # ---- R4: sequential calls go on past false ----
    def r4_local():
        ops.make_file(R2, "/loc/f2")
        ops.make_file(R2, "/loc/f3")
        expect(ops.mkdirs(R2, "/loc/d3/y"), "mkdirs by ns2's client")
        expect(holders("/loc/f2") == ["ns2"], "setup: /loc/f2 in %s" % holders("/loc/f2"))
        expect(ops.set_replication(R, "/loc/f2", 2) is True, "setReplication answered false")
        expect(ops.listing(R, "/loc/d3") == ["y"], "getListing /loc/d3: %s" % ops.listing(R, "/loc/d3"))
        expect(ops.rename(R, "/loc/f3", "/loc/f3b") is True, "old rename answered false")
        expect(holders("/loc/f3b") == ["ns2"], "/loc/f3b in %s" % holders("/loc/f3b"))
        expect(ops.delete(R, "/loc/f2") is True, "delete answered false")
        expect(holders("/loc/f2") == [], "/loc/f2 is still in %s" % holders("/loc/f2"))
        expect(ops.delete(R, "/loc/never") is False, "delete of a path nowhere answered true")
    t.check("R4: LOCAL: delete, rename, setReplication and getListing by ns1's client reach ns2's files", r4_local)

    def r4_hash_listing():
        for k in range(6):
            d = "/hs/top%d" % k
            ops.make_file(R, d + "/f", )
            here = holders(d + "/f")
            other = [ns for ns in N if ns not in here][0]
            # a directory the other location holds (made there by a client
            # of another router, or before the mount had two destinations)
            expect(ops.mkdirs(N[other], d + "/elsewhere"), "setup: mkdirs on %s" % other)
            got = ops.listing(R, d)
            expect(got == ["elsewhere", "f"], "getListing %s: %s (f in %s, elsewhere in %s)" % (d, got, here, other))
        got = ops.listing(R, "/hs")
        want = sorted(set(ops.listing(N1, "/hs")) | set(ops.listing(N2, "/hs")), key=lambda s: s.encode())
        expect(got == want, "getListing /hs: %s, the union is %s" % (got, want))
    t.check("R4: HASH: listings below the mount merge every location", r4_hash_listing)

    # ---- R5: attribute changes on a mount point reach every destination ----
    def r5_mount_point_attrs():
        for mnt in ("/loc", "/hs", "/h"):
            ops.set_permission(R, mnt, 0o700)
            for ns, c in sorted(N.items()):
                got = ops.fileinfo(c, mnt).permission.perm
                expect(got == 0o700, "%s:%s has mode %o after setPermission 700" % (ns, mnt, got))
            ops.set_permission(R, mnt, 0o755)
            ops.set_owner(R, mnt, "someone", "somegroup")
            for ns, c in sorted(N.items()):
                st = ops.fileinfo(c, mnt)
                expect(st.owner == "someone" and st.group == "somegroup",
                       "%s:%s is owned by %s:%s" % (ns, mnt, st.owner, st.group))
    t.check("R5: setPermission and setOwner on a HASH, LOCAL or HASH_ALL mount point change every destination",
            r5_mount_point_attrs)

    def r5_xattr():
        C = fed.C
        q = C.SetXAttrRequestProto(src="/loc", flag=1)
        q.xAttr.namespace = C.XAttrProto.USER
        q.xAttr.name = "k"
        q.xAttr.value = b"v"
        R.call("setXAttr", q, C.SetXAttrResponseProto)
        for ns, c in sorted(N.items()):
            g = C.GetXAttrsRequestProto(src="/loc")
            x = c.call("getXAttrs", g, C.GetXAttrsResponseProto)
            expect(any(a.name == "k" for a in x.xAttrs), "%s:/loc has no xattr k" % ns)
        q.src = "/hs"
        R.call("setXAttr", q, C.SetXAttrResponseProto)
        rq = C.RemoveXAttrRequestProto(src="/hs")
        rq.xAttr.CopyFrom(q.xAttr)
        rq.xAttr.ClearField("value")
        R.call("removeXAttr", rq, C.RemoveXAttrResponseProto)
        for ns, c in sorted(N.items()):
            x = c.call("getXAttrs", C.GetXAttrsRequestProto(src="/hs"), C.GetXAttrsResponseProto)
            expect(not any(a.name == "k" for a in x.xAttrs), "%s:/hs still has xattr k" % ns)
    t.check("R5: setXAttr and removeXAttr on a LOCAL or HASH mount point reach every destination", r5_xattr)

    # ---- error messages in the client's paths ----
    def messages():
        e = expect_remote(lambda: ops.rename2(R, "/m/nope", "/m/other"), "java.io.FileNotFoundException", "/m/nope")
        expect("/mdst" not in e.msg, "the message names the destination path: %s" % e.msg)
        e = expect_remote(lambda: ops.create(R, "/m/no/such/dir/f", parent=False), "java.io.FileNotFoundException")
        expect("/mdst" not in e.msg, "the message names the destination path: %s" % e.msg)
    t.check("NameNode error messages name the client's paths, not the destination's", messages)

    # ---- router quota on the destination of a rename ----
    def quota_rename():
        for k in range(4):
            ops.make_file(R, "/b/q%d" % k)
        for k in range(2):
            ops.make_file(R, "/qt/f%d" % k)
        time.sleep(0.8)  # the refresher adds up the usage of /qt
        expect_remote(lambda: ops.make_file(R, "/qt/one-more"), "org.apache.hadoop.hdfs.protocol.NSQuotaExceededException")
        expect_remote(lambda: ops.rename2(R, "/b/q0", "/qt/q0"), "org.apache.hadoop.hdfs.protocol.NSQuotaExceededException")
        expect(ops.exists(N2, "/b/q0") and not ops.exists(N2, "/qt/q0"), "the file moved into the full mount")
        ops.rename2(R, "/qt/f0", "/qt/f0b")  # inside the mount: no new name
    t.check("router quota: a rename into a full mount is refused; a rename inside it is not", quota_rename)

    # ---- R14: unknown methods ----
    def unknown():
        hdr, payload = R.raw("fooPath", fed.C.GetFileInfoRequestProto(src="/a").SerializeToString())
        expect(payload is None, "a success answer")
        expect(hdr.exceptionClassName == "org.apache.hadoop.ipc.RpcNoSuchMethodException",
               "class %s: %s" % (hdr.exceptionClassName, hdr.errorMsg))
        expect(hdr.errorDetail == fed.C.RpcResponseHeaderProto.ERROR_NO_SUCH_METHOD, "detail %s" % hdr.errorDetail)
        expect(ops.exists(R, "/a/across"), "the connection does not work after it")
        sent = metric(rt["admin"], "fedrouter_calls_total", ('proto="hdfs_upstream"', 'method="fooPath"'))
        expect(sent == 0, "fooPath reached a subcluster %s times" % sent)
    t.check("R14: an unknown method gets RpcNoSuchMethodException, not the default subcluster", unknown)

    # ---- R12: partial answers while a subcluster is down ----
    procs.stop(ns2["proc"])
    time.sleep(0.3)

    def r12_partial():
        got = ops.listing(R, "/h")
        want = ops.listing(N1, "/h")
        expect(got == want, "getListing /h with ns2 down: %s, ns1 holds %s" % (got, want))
        root = ops.listing(R, "/")
        expect(all(n in root for n in ("a", "b", "h", "loc")), "getListing / lacks mount points: %s" % root)
        cs = ops.summary(R, "/h")
        want_cs = ops.summary(N1, "/h")
        expect(cs.fileCount == want_cs.fileCount, "getContentSummary /h: %d files, ns1 has %d"
               % (cs.fileCount, want_cs.fileCount))
        n = metric(rt["admin"], "fedrouter_hdfs_partial_answers_total", ())
        expect(n >= 2, "fedrouter_hdfs_partial_answers_total is %s" % n)
    t.check("R12: with ns2 down, listings and summaries answer with ns1 and are counted", r12_partial)

    def r12_fail():
        expect_remote(lambda: ops.listing(RF, "/h"), "java.io.IOException", "ns2")
        expect_remote(lambda: ops.summary(RF, "/h"), "java.io.IOException", "ns2")
    t.check("R12: with hdfs.down = fail the listing fails naming the subcluster", r12_fail)


def main(argv):
    if len(argv) != 2:
        print("usage: rbf_paths.py BUILD_DIR", file=sys.stderr)
        return 2
    t = procs.Tally()
    fed = Fed(os.path.abspath(argv[1]), prefix="fedrouter-rbf-paths.")
    try:
        run(fed, t)
    except Exception as e:
        t.not_ok("the test stopped early", "%s: %s" % (type(e).__name__, e))
    finally:
        fed.close(show_logs=t.failed > 0)
    return t.finish()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(128 + s))
    sys.exit(main(sys.argv))
