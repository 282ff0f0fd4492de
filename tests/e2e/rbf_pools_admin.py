#!/usr/bin/python3
"""rbf_pools_admin.py: block pools and admin calls, as RBF routes them.

    /usr/bin/python3 tests/e2e/rbf_pools_admin.py BUILD_DIR

Subclusters: ns1, ns2 (one NameNode each) and ns3, an HA pair of two minidfs
(ns3a active, ns3b standby). Mounts /a -> ns1, /b -> ns2, /c -> ns3; the
default nameservice is ns1.

  R8   the router knows every subcluster's block pool from the NameNodes
       (NamenodeProtocol.versionRequest), so calls that name only a block
       (updateBlockForPipeline, updatePipeline, reportBadBlocks) reach the
       pool's subcluster even for blocks it never saw, after a restart, and
       for a nameservice added while it runs; reportBadBlocks is split per
       pool; a pool no subcluster has is refused, not sent to the default.
  R15  refreshNodes and unchecked setSafeMode reach every NameNode, the
       standby ones too.

The router that is checked never sees the blocks in a reply: they are made
through a router that is then stopped, or straight on a subcluster. minidfs logs each bad-block report with its pool and each
refreshNodes call; the checks read those logs. Prints `ok - NAME` or
`not ok - NAME: why`, then `N passed, N failed`; exit status 1 on a failure.
"""
import os
import re
import signal
import socket
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402
from fed import Fed, Ops, RemoteError, expect_remote  # noqa: E402

expect = procs.expect
CLIENT = "DFSClient_rbf_pools"


def log_lines(fed, name):
    path = os.path.join(fed.tmp, name + ".err")
    with open(path, errors="replace") as f:
        return f.read().splitlines()


def wait_log(fed, name, pattern, timeout=3.0):
    """True once a line of NAME's log matches pattern."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        if any(rx.search(ln) for ln in log_lines(fed, name)):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def metrics(admin):
    with urllib.request.urlopen("http://%s/metrics" % admin, timeout=5) as r:
        return r.read().decode()


def known_pools(admin):
    """{pool: nameservice} as the router's /metrics lists them."""
    return dict(re.findall(r'^fedrouter_block_pool\{pool="([^"]+)",nameservice="([^"]+)"\} 1$',
                           metrics(admin), re.M))


class Blocks:
    """The block calls of the checks, on any connection."""

    def __init__(self, fed, ops):
        self.fed = fed
        self.ops = ops
        self.C = fed.C

    def new_block(self, conn, path):
        """Creates path with one block under construction; returns the block."""
        C = self.C
        fs = self.ops.create(conn, path).fs
        q = C.AddBlockRequestProto(src=path, clientName=self.ops.client, fileId=fs.fileId)
        return conn.call("addBlock", q, C.AddBlockResponseProto).block

    def update_for_pipeline(self, conn, b):
        C = self.C
        q = C.UpdateBlockForPipelineRequestProto(clientName=self.ops.client)
        q.block.CopyFrom(b)
        return conn.call("updateBlockForPipeline", q, C.UpdateBlockForPipelineResponseProto).block

    def update_pipeline(self, conn, old, new, nodes):
        C = self.C
        q = C.UpdatePipelineRequestProto(clientName=self.ops.client)
        q.oldBlock.CopyFrom(old)
        q.newBlock.CopyFrom(new)
        for n in nodes:
            q.newNodes.add().CopyFrom(n.id)
        conn.call("updatePipeline", q, C.UpdatePipelineResponseProto)

    def report_bad(self, conn, blocks):
        """reportBadBlocks of (pool, block id) pairs."""
        C = self.C
        q = C.ReportBadBlocksRequestProto()
        for pool, bid in blocks:
            lb = q.blocks.add()
            lb.b.poolId = pool
            lb.b.blockId = bid
            lb.b.generationStamp = 1001
            lb.offset = 0
            lb.corrupt = True
            lb.blockToken.identifier = b""
            lb.blockToken.password = b""
            lb.blockToken.kind = ""
            lb.blockToken.service = ""
        conn.call("reportBadBlocks", q, C.ReportBadBlocksResponseProto)


def safe_mode(fed, conn, action, checked=False):
    C = fed.C
    q = C.SetSafeModeRequestProto(action=action, checked=checked)
    return conn.call("setSafeMode", q, C.SetSafeModeResponseProto).result


def run(fed, t):
    C = fed.C
    ops = Ops(C, CLIENT)
    blocks = Blocks(fed, ops)
    ns1 = fed.minidfs("ns1")
    ns2 = fed.minidfs("ns2")
    ns3a = fed.minidfs("ns3a")
    ns3b = fed.minidfs("ns3b", "--standby")
    body = """
[nameservice ns3]
namenodes = %s, %s

[mount /a]
destinations = ns1:/a

[mount /b]
destinations = ns2:/b

[mount /c]
destinations = ns3:/c
""" % (ns3a["nn"], ns3b["nn"])
    # A write starts through a first router, which then goes away: the
    # pipeline is recovered through a router that never saw the block.
    first = fed.router(body, default_ns="ns1", nameservices=["ns1", "ns2"], name="router-first")
    R = fed.conn(first["hdfs"])
    ops.mkdirs(R, "/b")
    ops.mkdirs(R, "/c")
    ns2_block = blocks.new_block(R, "/b/pipeline.bin")
    expect(ns2_block.b.poolId == ns2["bpid"], "setup: addBlock of /b gave pool %s" % ns2_block.b.poolId)
    procs.stop(first["proc"])
    R.close()
    N1, N2, N3 = fed.direct("ns1"), fed.direct("ns2"), fed.direct("ns3a")

    # The router that stays: refreshes rarely, so what it learns later than
    # its first round comes from asking when a call needs it.
    rt = fed.router(body, default_ns="ns1", nameservices=["ns1", "ns2"], name="fedrouter", refresh_ms=3600000)
    R = fed.conn(rt["hdfs"])

    def pools_known():
        want = {ns1["bpid"]: "ns1", ns2["bpid"]: "ns2", ns3a["bpid"]: "ns3"}
        deadline = time.monotonic() + 5
        got = {}
        while time.monotonic() < deadline:
            got = known_pools(rt["admin"])
            if all(got.get(p) == ns for p, ns in want.items()):
                return
            time.sleep(0.1)
        raise AssertionError("the router knows %s, wants %s" % (got, want))
    t.check("R8: the router learns every subcluster's block pool (versionRequest) as it starts, before "
            "any call names one", pools_known)

    def pipeline_after_restart():
        # ns1, the default, does not know the block: sent there it fails.
        expect_remote(lambda: blocks.update_for_pipeline(N1, ns2_block.b), "java.io.IOException",
                      "Unexpected BlockPoolId")
        nb = blocks.update_for_pipeline(R, ns2_block.b).b
        expect(nb.poolId == ns2["bpid"] and nb.blockId == ns2_block.b.blockId,
               "answered block %s/%d" % (nb.poolId, nb.blockId))
        expect(nb.generationStamp > ns2_block.b.generationStamp,
               "generation stamp %d, was %d" % (nb.generationStamp, ns2_block.b.generationStamp))
    t.check("R8: updateBlockForPipeline of a block the router never saw routes to its pool's subcluster "
            "after a router restart", pipeline_after_restart)

    def update_pipeline():
        new = C.ExtendedBlockProto()
        new.CopyFrom(blocks.update_for_pipeline(N2, ns2_block.b).b)
        new.numBytes = 0
        blocks.update_pipeline(R, ns2_block.b, new, ns2_block.locs)
        q = C.GetBlockLocationsRequestProto(src="/b/pipeline.bin", offset=0, length=1 << 30)
        got = N2.call("getBlockLocations", q, C.GetBlockLocationsResponseProto).locations
        gss = {lb.b.generationStamp for lb in got.blocks}
        if got.HasField("lastBlock"):
            gss.add(got.lastBlock.b.generationStamp)
        expect(gss == {new.generationStamp}, "ns2's block has generation stamps %s, want %d"
               % (sorted(gss), new.generationStamp))
    t.check("R8: updatePipeline of a block the router never saw reaches its pool's subcluster", update_pipeline)

    def unknown_pool():
        bogus = C.ExtendedBlockProto(poolId="BP-424242-10.9.9.9-1", blockId=1073741825, generationStamp=1001)
        expect_remote(lambda: blocks.update_for_pipeline(R, bogus), "java.io.IOException",
                      "Cannot locate a nameservice for block pool BP-424242-10.9.9.9-1")
    t.check("R8: updateBlockForPipeline naming a pool no subcluster has is refused with IOException naming "
            "it, not sent to the default subcluster", unknown_pool)

    def bad_blocks_split():
        blocks.report_bad(R, [(ns1["bpid"], 7001), (ns2["bpid"], 7002), (ns3a["bpid"], 7003)])
        for name, mine, pool in (("ns1", 7001, ns1["bpid"]), ("ns2", 7002, ns2["bpid"]),
                                 ("ns3a", 7003, ns3a["bpid"])):
            expect(wait_log(fed, name, r"bad replica of blk_%d of pool %s$" % (mine, re.escape(pool))),
                   "%s did not get blk_%d" % (name, mine))
        time.sleep(0.2)
        for name, others in (("ns1", (7002, 7003)), ("ns2", (7001, 7003)), ("ns3a", (7001, 7002))):
            for o in others:
                expect(not wait_log(fed, name, r"bad replica of blk_%d " % o, 0),
                       "%s got blk_%d of another pool" % (name, o))
    t.check("R8: reportBadBlocks of blocks of three pools reaches each subcluster with its own blocks only",
            bad_blocks_split)

    def bad_blocks_unknown():
        expect_remote(lambda: blocks.report_bad(R, [(ns1["bpid"], 7101), ("BP-77-10.9.9.9-7", 7102)]),
                      "java.io.IOException", "Cannot locate a nameservice for block pool BP-77-10.9.9.9-7")
        time.sleep(0.3)
        for name in ("ns1", "ns2", "ns3a"):
            expect(not wait_log(fed, name, r"bad replica of blk_71\d\d ", 0), "%s got a report" % name)
    t.check("R8: reportBadBlocks naming an unknown pool is refused with IOException naming it, and no "
            "subcluster gets any of its blocks", bad_blocks_unknown)

    def snapshot_version():
        m = re.search(r"^fedrouter_snapshot_version (\d+)$", metrics(rt["admin"]), re.M)
        return int(m.group(1)) if m else -1

    def write_conf(text):
        """Rewrites the router's file and waits until it took it in."""
        v = snapshot_version()
        with open(rt["conf"], "w") as f:
            f.write(text)
        deadline = time.monotonic() + 5
        while snapshot_version() == v:
            expect(time.monotonic() < deadline, "the router did not reload its file")
            time.sleep(0.05)

    def added_nameservice():
        ns4 = fed.minidfs("ns4")
        N4 = fed.direct("ns4")
        ops.mkdirs(N4, "/d")
        b4 = blocks.new_block(N4, "/d/new.bin")
        # Also a nameservice whose NameNode takes calls and never answers:
        # the call must not wait for it once ns4 has named its pool.
        hung = socket.socket()
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        base = open(rt["conf"]).read()
        try:
            write_conf(base + "\n[nameservice ns4]\nnamenodes = %s\n\n[mount /d]\ndestinations = ns4:/d\n"
                       "\n[nameservice nshung]\nnamenodes = 127.0.0.1:%d\n" % (ns4["nn"], hung.getsockname()[1]))
            expect(ops.exists(R, "/d/new.bin"), "the router does not route /d to ns4")
            R4 = fed.conn(rt["hdfs"], timeout=6)  # its own: a call that times out leaves a reply behind
            t0 = time.monotonic()
            nb = blocks.update_for_pipeline(R4, b4.b).b
            took = time.monotonic() - t0
            expect(nb.poolId == ns4["bpid"] and nb.generationStamp > b4.b.generationStamp,
                   "answered block %s gs %d" % (nb.poolId, nb.generationStamp))
            expect(took < 3, "it took %.1f s (waited for the NameNode that does not answer)" % took)
        finally:
            write_conf(base + "\n[nameservice ns4]\nnamenodes = %s\n\n[mount /d]\ndestinations = ns4:/d\n"
                       % ns4["nn"])
            hung.close()
    t.check("R8: a nameservice added while the router runs: its pool is asked for when a pipeline call "
            "names it, between two refreshes, without waiting for NameNodes that do not answer",
            added_nameservice)

    # ---- R15 ----
    def refresh_nodes():
        R.call("refreshNodes", C.RefreshNodesRequestProto(), C.RefreshNodesResponseProto)
        for name in ("ns1", "ns2", "ns3a", "ns3b"):
            expect(wait_log(fed, name, r"refreshNodes by "), "%s did not get refreshNodes" % name)
        expect(wait_log(fed, "ns3b", r"refreshNodes by .*\(standby\)"), "ns3b was not standby")
    t.check("R15: refreshNodes through the router reaches every NameNode, the standby of ns3 too",
            refresh_nodes)

    N3b = fed.direct("ns3b")

    def safe_mode_standby():
        try:
            got = safe_mode(fed, R, C.SAFEMODE_ENTER)
            expect(got, "ENTER answered %s" % got)
            for name, conn in (("ns1", N1), ("ns2", N2), ("ns3a", N3), ("ns3b", N3b)):
                expect(safe_mode(fed, conn, C.SAFEMODE_GET), "%s is not in safe mode" % name)
        finally:
            safe_mode(fed, R, C.SAFEMODE_LEAVE)
        for name, conn in (("ns1", N1), ("ns2", N2), ("ns3a", N3), ("ns3b", N3b)):
            expect(not safe_mode(fed, conn, C.SAFEMODE_GET), "%s is still in safe mode" % name)
    t.check("R15: setSafeMode ENTER and LEAVE (unchecked) through the router reach the standby NameNode too",
            safe_mode_standby)

    def safe_mode_get_all():
        try:
            safe_mode(fed, R, C.SAFEMODE_ENTER)
            safe_mode(fed, N3b, C.SAFEMODE_LEAVE)
            got = safe_mode(fed, R, C.SAFEMODE_GET)
            expect(got is False, "GET answered %s while ns3's standby is out of safe mode" % got)
        finally:
            safe_mode(fed, R, C.SAFEMODE_LEAVE)
    t.check("R15: setSafeMode GET (unchecked) through the router is true only when every NameNode, "
            "standbys included, is in safe mode", safe_mode_get_all)

    def safe_mode_checked():
        try:
            expect(safe_mode(fed, R, C.SAFEMODE_ENTER, checked=True), "checked ENTER answered false")
            expect(safe_mode(fed, N3, C.SAFEMODE_GET), "ns3a (active) is not in safe mode")
            expect(not safe_mode(fed, N3b, C.SAFEMODE_GET), "ns3b (standby) got a checked ENTER")
        finally:
            safe_mode(fed, R, C.SAFEMODE_LEAVE)
    t.check("R15: setSafeMode with checked=true stays with the active NameNodes", safe_mode_checked)

    def refresh_dead_namenode():
        dead = "127.0.0.1:%d" % procs.free_port()
        text = open(rt["conf"]).read()
        line = "namenodes = %s, %s" % (ns3a["nn"], ns3b["nn"])
        expect(line in text, "setup: ns3's line is not in the configuration")
        with open(rt["conf"], "w") as f:
            f.write(text.replace(line, line + ", " + dead))
        deadline = time.monotonic() + 5
        while True:
            try:
                R.call("refreshNodes", C.RefreshNodesRequestProto(), C.RefreshNodesResponseProto)
            except RemoteError as e:
                expect(e.cls == "java.io.IOException" and dead in e.msg, "%s: %s" % (e.cls, e.msg))
                return
            expect(time.monotonic() < deadline, "refreshNodes kept succeeding with %s in ns3" % dead)
            time.sleep(0.1)
    t.check("R15: refreshNodes fails, naming it, when a NameNode of a nameservice cannot be reached",
            refresh_dead_namenode)

    for name in ("ns1", "ns2", "ns3a", "ns3b", "fedrouter"):
        p = fed.nss[name]["proc"] if name in fed.nss else rt["proc"]
        if p.poll() is None:
            t.ok("%s still running at the end" % name)
        else:
            t.not_ok("%s still running at the end" % name, "exit status %s" % p.poll())


def main(argv):
    if len(argv) != 2:
        print("usage: rbf_pools_admin.py BUILD_DIR", file=sys.stderr)
        return 2
    t = procs.Tally()
    fed = Fed(argv[1], prefix="fedrouter-rbf-pools.")
    try:
        run(fed, t)
    except Exception as e:
        t.not_ok("the test stopped early", "%s: %s" % (type(e).__name__, e))
    finally:
        fed.close(show_logs=t.failed > 0)
    return t.finish()


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.exit(main(sys.argv))
