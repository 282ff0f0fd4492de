#!/usr/bin/python3
"""admin_cli.py: fedrouter-admin against real processes.

    /usr/bin/python3 tests/zk/admin_cli.py BUILD_DIR

Starts Debian's ZooKeeper (zkserver.sh), two minidfs subclusters (ns1, ns2)
and two fedrouters (r1, r2) with driver = zookeeper, then checks each command
of the admin CLI by what the routers, the subclusters and ZooKeeper (read
with python3-kazoo) hold afterwards:

  nameservice  -nameservice disable|enable and the old spellings
  validation   unknown nameservice, a destination the entry has, a relative
               source, an unknown order: exit 1, one line, nothing written
  mkdirs       -add creates the destinations on both subclusters with the
               entry's owner, group and mode, and a client writes into the
               mount point through a router; -noCreate creates nothing; a
               destination that is a file is refused
  ls -d        RBF's detailed listing
  refresh      every router re-reads (its snapshot moves on); a paused
               router is named and the exit status is 3
  export/import  the whole table round-trips; -dryRun prints and writes
               nothing; an import is one multi-op transaction (every znode
               it writes has the same mzxid); a bad file writes nothing; a
               table larger than one ZooKeeper request goes in several
  file driver  -ls, -ls -d, -resolve, -lsNameservices, -lsMetastores read a
               file-driven router's config; writes are refused; -refresh
               makes that router reload its file
At the end both routers stop on SIGTERM with exit 0 and no sanitizer report.

Prints `ok - NAME` / `not ok - NAME: why`, then `N passed, N failed`; exit
status 1 when a check failed. FR_KEEP=1 keeps the temp dir.
"""
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, os.path.join(REPO, "tests", "ops"))
import fed  # noqa: E402
import procs  # noqa: E402
from ops_lib import start_zookeeper  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402

ROOT = "/fradmin"
T = procs.Tally()
expect = procs.expect


class Env:
    pass


E = Env()


def zk_conf(path, rid, hosts):
    with open(path, "w") as f:
        f.write("[router]\nid = %s\nhdfs.listen = 127.0.0.1:0\nadmin.listen = 127.0.0.1:0\nhms.listen = off\n"
                "workers = 1\n\n[statestore]\ndriver = zookeeper\nzk.hosts = %s\nzk.root = %s\n"
                "zk.session_timeout_ms = 4000\n" % (rid, hosts, ROOT))


def start_router(rid):
    conf = os.path.join(E.fed.tmp, rid + ".conf")
    zk_conf(conf, rid, E.hosts)
    p = procs.start([os.path.join(E.build, "router", "fedrouter"), "-c", conf], E.fed.tmp, rid, E.fed.procs)
    m = procs.wait_lines(p, rid, {"ready": r"^ready hdfs=(\S+:\d+) admin=(\S+:\d+)"})["ready"]
    E.fed.logs.append(rid)
    return {"proc": p, "hdfs": m.group(1), "id": rid}


def admin(*args, conf=None):
    """Runs fedrouter-admin; returns (exit status, stdout, stderr)."""
    r = subprocess.run([E.admin, "-c", conf or E.conf] + list(args), capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def must(*args, conf=None):
    rc, out, err = admin(*args, conf=conf)
    expect(rc == 0, "%s: exit %d: %s" % (" ".join(args), rc, (err or out).strip()[-300:]))
    return out


def refused(args, status, first_line_re):
    rc, out, err = admin(*args)
    expect(rc == status, "%s: exit %d, want %d (%s)" % (" ".join(args), rc, status, (err or out).strip()[-200:]))
    first = err.splitlines()[0] if err else ""
    expect(re.search(first_line_re, first), "%s: first line %r does not match %r" % (" ".join(args), first,
                                                                                    first_line_re))


def wait_for(cond, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def routed(rt, path):
    """The router's view: does path exist through it (False while it has no mount for it)?"""
    try:
        return E.ops.exists(E.fed.conn(rt["hdfs"]), path)
    except fed.RemoteError:
        return False


# ---- the checks ----

def check_nameservice():
    must("-nameservice", "disable", "ns2")
    out = must("-lsNameservices")
    expect(re.search(r"^ns2\s+disabled", out, re.M), "ns2 not disabled: " + out)
    expect("ns2" in must("-getDisabledNameservices"), "ns2 not listed as disabled")
    must("-nameservice", "enable", "ns2")
    expect(re.search(r"^ns2\s+enabled", must("-lsNameservices"), re.M), "ns2 not enabled again")
    must("-disableNameservice", "ns1")
    expect(re.search(r"^ns1\s+disabled", must("-lsNameservices"), re.M), "old spelling did not disable")
    must("-enableNameservice", "ns1")
    expect(re.search(r"^ns1\s+enabled", must("-lsNameservices"), re.M), "old spelling did not enable")
    rc, _, err = admin("-nameservice", "pause", "ns1")
    expect(rc == 1 and "enable|disable" in err, "a bad word was not refused: %d %s" % (rc, err))


def check_validation():
    must("-add", "/v", "ns1", "/v")
    refused(["-add", "/w", "ns9", "/w"], 1, r"^fedrouter-admin: unknown nameservice ns9")
    refused(["-update", "/v", "ns1,ns9", "/v"], 1, r"^fedrouter-admin: unknown nameservice ns9")
    refused(["-add", "/v", "ns1", "/v"], 1, r"already has the destination ns1:/v")
    refused(["-add", "/w", "ns1,ns1", "/w"], 1, r"nameservice ns1 is named twice")
    refused(["-add", "w", "ns1", "/w"], 1, r"^fedrouter-admin: mount source must be an absolute path: w$")
    refused(["-add", "/w", "ns1", "/w/../x"], 1, r"^fedrouter-admin: .*\.\.")
    refused(["-add", "/w", "ns1", "/w", "-order", "SIDEWAYS"], 1, r"^fedrouter-admin: unknown order SIDEWAYS")
    refused(["-update", "/v", "-order", "SIDEWAYS"], 1, r"^fedrouter-admin: unknown order SIDEWAYS")
    out = must("-ls")
    expect("/w" not in out, "a refused -add wrote /w: " + out)
    expect(re.search(r"^/v\s+ns1->/v\s+HASH", out, re.M), "/v changed by a refused -update: " + out)


def check_mkdirs():
    nn1, nn2 = E.fed.direct("ns1"), E.fed.direct("ns2")
    E.ops.make_file(nn2, "/afile")
    out = must("-add", "/fresh", "ns1,ns2", "/data/fresh", "-owner", "alice", "-group", "staff", "-mode", "750",
               "-order", "HASH_ALL")
    expect("Created ns1:/data/fresh" in out and "Created ns2:/data/fresh" in out, "not said: " + out)
    for c in (nn1, nn2):
        st = E.ops.fileinfo(c, "/data/fresh")
        expect(st is not None and st.fileType == E.fed.C.HdfsFileStatusProto.IS_DIR, "no directory")
        expect((st.owner, st.group, st.permission.perm) == ("alice", "staff", 0o750),
               "owner/group/mode %s %s %o" % (st.owner, st.group, st.permission.perm))
    # a client writes into the new mount point through a router
    wait_for(lambda: routed(E.r1, "/fresh"), "r1 to serve /fresh")
    R = E.fed.conn(E.r1["hdfs"])
    E.ops.mkdirs(R, "/fresh/sub")
    E.ops.make_file(R, "/fresh/sub/f")
    expect(E.ops.exists(nn1, "/data/fresh/sub/f") or E.ops.exists(nn2, "/data/fresh/sub/f"), "write lost")
    # a destination that already exists is left as it is and not reported
    out = must("-add", "/fresh2", "ns1", "/data/fresh")
    expect("Created" not in out, "an existing directory reported as created: " + out)
    # -noCreate
    out = must("-add", "/nc", "ns1", "/nc", "-noCreate")
    expect("Created" not in out and not E.ops.exists(nn1, "/nc"), "-noCreate created /nc")
    # a file in the way: refused, nothing written
    refused(["-add", "/f", "ns2", "/afile"], 3, r"cannot create ns2:/afile for mount point /f: .*not a directory")
    expect("/f " not in must("-ls"), "the refused entry was written")


def check_ls_detail():
    must("-setQuota", "/fresh", "-nsQuota", "100", "-ssQuota", "1g")
    out = must("-ls", "-d")
    lines = out.splitlines()
    expect(lines[0] == "Mount Table Entries:", "first line %r" % lines[0])
    expect(lines[1].split() == ["Source", "Destinations", "Owner", "Group", "Mode", "Quota/Usage", "Order",
                                "ReadOnly", "FaultTolerant"], "header %r" % lines[1])
    row = [ln for ln in lines if ln.startswith("/fresh ")]
    expect(row, "no /fresh row: " + out)
    want = r"^/fresh\s+ns1->/data/fresh,ns2->/data/fresh\s+alice\s+staff\s+rwxr-x---\s+" \
           r"\[NsQuota: 100, SsQuota: 1073741824\]\s+HASH_ALL\s+false\s+false\s*$"
    expect(re.match(want, row[0]), "row %r" % row[0])
    out = must("-ls", "-d", "/v")
    expect("/v " in out and "/fresh" not in out, "-ls -d <path> did not filter: " + out)


def snapshots():
    out = must("-routers")
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(r\d)\s.*\s(\d+)$", out, re.M)}


def check_refresh():
    before = snapshots()
    expect(set(before) == {"r1", "r2"}, "routers: %s" % before)
    out = must("-refresh")
    expect(re.search(r"^r1\s+refreshed", out, re.M) and re.search(r"^r2\s+refreshed", out, re.M), out)
    expect("Successfully refreshed 2 routers" in out, out)
    after = snapshots()
    expect(all(after[r] > before[r] for r in before), "snapshots did not move: %s -> %s" % (before, after))
    # a router that cannot answer is named, and the command fails
    os.kill(E.r2["proc"].pid, signal.SIGSTOP)
    try:
        rc, out, err = admin("-refresh")
    finally:
        os.kill(E.r2["proc"].pid, signal.SIGCONT)
    expect(rc == 3, "exit %d with a paused router" % rc)
    expect(re.search(r"^r2\s+(did not answer|gone)", out, re.M) and re.search(r"^r1\s+refreshed", out, re.M), out)
    expect("1 of 2 routers did not refresh" in err, err)


def check_export_import():
    path = os.path.join(E.fed.tmp, "table.ini")
    must("-addMetastore", "sales", "thrift://127.0.0.1:9", "-prefix", "s_")
    out = must("-export", path)
    expect(re.search(r"Exported \d+ mount points, 2 nameservices, 1 metastores", out), out)
    text = open(path).read()
    for sect in ("[nameservice ns1]", "[nameservice ns2]", "[metastore sales]", "[mount /fresh]", "[mount /v]"):
        expect(sect in text, "export lacks " + sect)
    # the export is a config a file-driven router accepts as it is
    r = subprocess.run([os.path.join(E.build, "router", "fedrouter"), "-t", "-c", path], capture_output=True,
                       text=True)
    expect(r.returncode == 0, "fedrouter -t on the export: " + r.stderr)
    # the same table back: nothing to do
    out = must("-import", path)
    expect(re.search(r"0 added, 0 updated, 0 removed, \d+ unchanged \(0 transactions\)", out), out)
    # a changed table
    new = text.replace("[mount /v]\ndestinations = ns1:/v\norder = HASH", "[mount /v]\ndestinations = ns1:/v\n"
                       "order = RANDOM")
    new = re.sub(r"\[metastore sales\]\n(?:[^\[\n][^\n]*\n)*", "", new)
    new += "\n[mount /imported]\ndestinations = ns2:/imported\n"
    changed = os.path.join(E.fed.tmp, "changed.ini")
    with open(changed, "w") as f:
        f.write(new)
    before_ls = must("-ls")
    out = must("-import", changed, "-dryRun")
    for ln in ("update mount /v", "    order: HASH -> RANDOM", "add mount /imported", "remove metastore sales",
               "Dry run: 1 to add, 1 to update, 1 to remove"):
        expect(ln in out, "dry run lacks %r: %s" % (ln, out))
    expect(must("-ls") == before_ls and "sales" in must("-lsMetastores"), "-dryRun wrote")
    out = must("-import", changed)
    expect("1 added, 1 updated, 1 removed" in out and "(1 transaction)" in out, out)
    zk = KazooClient(hosts=E.hosts)
    zk.start()
    try:
        _, st_v = zk.get(ROOT + "/mounts/%2Fv")
        _, st_i = zk.get(ROOT + "/mounts/%2Fimported")
        expect(st_v.mzxid == st_i.mzxid, "two zxids for one import: %x %x" % (st_v.mzxid, st_i.mzxid))
        expect(not zk.exists(ROOT + "/metastores/sales"), "sales not removed")
    finally:
        zk.stop()
        zk.close()
    expect(re.search(r"^/v\s+ns1->/v\s+RANDOM", must("-ls"), re.M), "/v not updated")
    # a file that is not a valid table: exit 1, nothing written
    bad = os.path.join(E.fed.tmp, "bad.ini")
    with open(bad, "w") as f:
        f.write(new + "\n[mount /ghost]\ndestinations = ns9:/g\n")
    rc, out, err = admin("-import", bad)
    expect(rc == 1 and "not a valid table" in err.splitlines()[0] and "ns9" in err, "bad import: %d %s" % (rc, err))
    expect("/ghost" not in must("-ls"), "a refused import wrote")
    empty = os.path.join(E.fed.tmp, "empty.ini")
    open(empty, "w").close()
    rc, _, err = admin("-import", empty)
    expect(rc == 1 and "holds no records" in err, "an empty import was not refused: %s" % err)


def check_big_import():
    """More than one ZooKeeper request's worth: cut into transactions."""
    text = open(os.path.join(E.fed.tmp, "changed.ini")).read()
    extra = "".join("\n[mount /big/%04d/%s]\ndestinations = ns1:/big/%04d, ns2:/big/%04d\norder = HASH_ALL\n"
                    % (i, "x" * 200, i, i) for i in range(1800))
    big = os.path.join(E.fed.tmp, "big.ini")
    with open(big, "w") as f:
        f.write(text + extra)
    out = must("-import", big)
    m = re.search(r"1800 added, 0 updated, 0 removed, \d+ unchanged \((\d+) transactions\)", out)
    expect(m and int(m.group(1)) >= 2, "big import: " + out[-300:])
    expect(sum(ln.startswith("/big/") for ln in must("-ls").splitlines()) == 1800, "not every mount written")
    out = must("-import", os.path.join(E.fed.tmp, "changed.ini"))
    expect("1800 removed" in out, out[-300:])


def check_file_driver():
    nn1 = E.fed.nss["ns1"]["nn"]
    rt = E.fed.router("[mount /a]\ndestinations = ns1:/a\nowner = bob\nmode = 0700\n\n"
                      "[metastore m1]\nuris = thrift://127.0.0.1:9\nprimary = true\n",
                      default_ns="ns1", name="filert", nameservices=["ns1"])
    conf = rt["conf"]
    out = must("-ls", conf=conf)
    expect(re.search(r"^/a\s+ns1->/a", out, re.M), out)
    out = must("-ls", "-d", conf=conf)
    expect(re.search(r"^/a\s+ns1->/a\s+bob\s+-\s+rwx------", out, re.M), out)
    out = must("-resolve", "/a/b/c", conf=conf)
    expect("/a/b/c -> ns1:/a/b/c" in out, out)
    expect(nn1 in must("-lsNameservices", conf=conf), "no ns1")
    expect(re.search(r"^m1\s", must("-lsMetastores", conf=conf), re.M), "no m1")
    rc, _, err = admin("-add", "/b", "ns1", "/b", conf=conf)
    expect(rc == 1 and "driver = file" in err, "a write with driver = file: %d %s" % (rc, err))
    rc, _, err = admin("-import", conf, conf=conf)
    expect(rc == 1 and "driver = file" in err, "-import with driver = file: %d %s" % (rc, err))
    # -refresh: the router reloads its file (a new snapshot is logged)
    errpath = os.path.join(E.fed.tmp, "filert.err")
    n0 = open(errpath).read().count("reloaded ")
    out = must("-refresh", conf=conf)
    expect(out.startswith("Touched "), out)
    wait_for(lambda: open(errpath).read().count("reloaded ") > n0, "the file-driven router to reload")


def main():
    E.build = os.path.abspath(sys.argv[1])
    E.admin = os.path.join(E.build, "router", "cli", "fedrouter-admin")
    E.fed = fed.Fed(E.build, prefix="fedrouter-admin-cli.")
    E.ops = fed.Ops(E.fed.C, "DFSClient_admin_cli")
    failed = True
    try:
        zkp, E.hosts = start_zookeeper(E.fed.tmp)
        E.fed.procs.append(zkp)
        for ns in ("ns1", "ns2"):
            E.fed.minidfs(ns)
        E.conf = os.path.join(E.fed.tmp, "admin.conf")
        zk_conf(E.conf, "admin", E.hosts)
        must("-addNameservice", "ns1", E.fed.nss["ns1"]["nn"])
        must("-addNameservice", "ns2", E.fed.nss["ns2"]["nn"])
        E.r1 = start_router("r1")
        E.r2 = start_router("r2")
        for name, fn in (("nameservice enable|disable", check_nameservice),
                         ("validation refuses with one line", check_validation),
                         ("-add creates destination directories", check_mkdirs),
                         ("-ls -d", check_ls_detail),
                         ("-refresh", check_refresh),
                         ("-export / -import / -dryRun", check_export_import),
                         ("-import larger than one transaction", check_big_import),
                         ("driver = file read-only commands", check_file_driver)):
            T.check(name, fn)

        def routers_stop_cleanly():
            for rid in ("r1", "r2"):
                rc = procs.stop(E.r1["proc"] if rid == "r1" else E.r2["proc"], grace=40)
                with open(os.path.join(E.fed.tmp, rid + ".err"), errors="replace") as f:
                    err = f.read()
                expect(rc == 0 and "Sanitizer" not in err, "%s: exit %s %s" % (rid, rc, err[-300:]))
        T.check("routers stop cleanly after the admin commands", routers_stop_cleanly)
        failed = T.failed > 0
    finally:
        E.fed.close(show_logs=failed)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
