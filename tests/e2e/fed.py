"""fed: a federation for a Python end-to-end test: minidfs subclusters, one
fedrouter in front of them with a mount table the test writes, Hadoop IPC
connections to the router and straight to each subcluster, and the
ClientProtocol calls the tests make.

    fed = Fed(build_dir)
    ns1 = fed.minidfs("ns1")
    ns2 = fed.minidfs("ns2", "--host", "127.0.0.2")
    rt = fed.router('''
    [mount /h]
    destinations = ns1:/h, ns2:/h
    order = HASH_ALL
    ''', default_ns="ns1")
    R = fed.conn(rt["hdfs"])
    ops = Ops(fed.C, "DFSClient_x")
    ops.mkdirs(R, "/h/x")
    ...
    fed.close(show_logs=failed)
"""
import getpass
import os
import re
import tempfile

import hadoop_ipc
import procs

RemoteError = hadoop_ipc.RemoteError


class Fed:
    def __init__(self, build, prefix="fedrouter-e2e."):
        self.build = build
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.procs = []
        self.conns = []
        self.logs = []
        self.nss = {}
        self.user = os.environ.get("HADOOP_USER_NAME") or getpass.getuser()
        self.C = hadoop_ipc.load_protos(self.tmp)

    # ---- processes ----

    def minidfs(self, ns, *extra):
        """Starts subcluster ns; returns {proc, nn, dn, bpid, name}."""
        data = os.path.join(self.tmp, ns + ".data")
        os.mkdir(data)
        args = [os.path.join(self.build, "tests", "minidfs", "minidfs"), "--nn-port", "0", "--dn-port", "0",
                "--data-dir", data, "--nameservice", ns] + list(extra)
        p = procs.start(args, self.tmp, ns, self.procs)
        m = procs.wait_lines(p, "minidfs " + ns,
                             {"ready": r"^ready nn=(\S+:\d+) dn=(\S+:\d+) bpid=(\S+)$"})["ready"]
        info = {"proc": p, "nn": m.group(1), "dn": m.group(2), "bpid": m.group(3), "name": ns}
        self.nss[ns] = info
        self.logs.append(ns)
        return info

    def router(self, body, default_ns=None, router_keys="", name="fedrouter", nameservices=None, refresh_ms=200):
        """Starts fedrouter with every subcluster started so far (or the names
        given) as a nameservice, plus `body` (mount sections and so on); its
        refresher asks the subclusters every refresh_ms.
        Returns {proc, hdfs, admin, conf}."""
        last = None
        for _ in range(3):  # a port taken in between: try others
            hp, ap = procs.free_port(), procs.free_port()
            conf = os.path.join(self.tmp, name + ".conf")
            text = ["[router]", "id = %s" % name, "hdfs.listen = 127.0.0.1:%d" % hp,
                    "admin.listen = 127.0.0.1:%d" % ap, "hms.listen = off", "workers = 2",
                    "cluster.refresh_ms = %d" % refresh_ms]
            if default_ns:
                text.append("default.nameservice = %s" % default_ns)
            text.append(router_keys.strip())
            text += ["", "[statestore]", "driver = file", ""]
            for ns in nameservices or self.nss:
                text += ["[nameservice %s]" % ns, "namenodes = %s" % self.nss[ns]["nn"], ""]
            text.append(body)
            with open(conf, "w") as f:
                f.write("\n".join(text) + "\n")
            p = procs.start([os.path.join(self.build, "router", "fedrouter"), "-c", conf], self.tmp, name,
                            self.procs)
            try:
                m = procs.wait_lines(p, name, {"ready": r"^ready hdfs=(\S+:\d+) admin=(\S+:\d+)"})["ready"]
                if name not in self.logs:
                    self.logs.append(name)
                return {"proc": p, "hdfs": m.group(1), "admin": m.group(2), "conf": conf}
            except RuntimeError as e:
                last = e
                procs.stop(p)
                with open(os.path.join(self.tmp, name + ".err"), errors="replace") as f:
                    err = f.read()
                if not re.search(r"in use|bind|listen", err, re.I):
                    raise RuntimeError("%s: %s" % (e, err.strip()[-400:]))
        raise last

    def conn(self, addr, source=None, user=None, timeout=10):
        c = hadoop_ipc.Conn(self.C, addr, user or self.user, timeout=timeout, source=source)
        self.conns.append(c)
        return c

    def direct(self, ns, source=None):
        """A connection straight to subcluster ns's NameNode."""
        return self.conn(self.nss[ns]["nn"], source=source)

    def close(self, show_logs=False):
        for c in self.conns:
            c.close()
        if os.environ.get("FR_KEEP") == "1":
            print("# temp dir kept: %s" % self.tmp)
            for p in self.procs:
                procs.stop(p)
            return
        procs.cleanup(self.procs, self.tmp, self.logs, show_logs)


class Ops:
    """The ClientProtocol calls of the tests, on any connection."""

    def __init__(self, C, client="DFSClient_fed_e2e"):
        self.C = C
        self.client = client

    def perm(self, mode):
        p = self.C.FsPermissionProto()
        p.perm = mode
        return p

    def fileinfo(self, conn, path):
        C = self.C
        resp = conn.call("getFileInfo", C.GetFileInfoRequestProto(src=path), C.GetFileInfoResponseProto)
        return resp.fs if resp.HasField("fs") else None

    def exists(self, conn, path):
        return self.fileinfo(conn, path) is not None

    def is_dir(self, conn, path):
        st = self.fileinfo(conn, path)
        return st is not None and st.fileType == self.C.HdfsFileStatusProto.IS_DIR

    def mkdirs(self, conn, path, mode=0o755):
        C = self.C
        r = C.MkdirsRequestProto(src=path, createParent=True)
        r.masked.CopyFrom(self.perm(mode))
        return conn.call("mkdirs", r, C.MkdirsResponseProto).result

    def create(self, conn, path, overwrite=False, parent=True):
        """The CreateResponseProto (its fs is the new file's status)."""
        C = self.C
        r = C.CreateRequestProto(src=path, clientName=self.client, createParent=parent, replication=1,
                                 blockSize=1 << 20)
        r.masked.CopyFrom(self.perm(0o644))
        r.createFlag = C.CREATE | (C.OVERWRITE if overwrite else 0)
        return conn.call("create", r, C.CreateResponseProto)

    def complete(self, conn, path, file_id=0):
        C = self.C
        r = C.CompleteRequestProto(src=path, clientName=self.client, fileId=file_id)
        return conn.call("complete", r, C.CompleteResponseProto).result

    def make_file(self, conn, path, overwrite=False):
        """An empty closed file; returns its file id."""
        fs = self.create(conn, path, overwrite=overwrite).fs
        self.complete(conn, path, fs.fileId)
        return fs.fileId

    def delete(self, conn, path, recursive=True):
        C = self.C
        return conn.call("delete", C.DeleteRequestProto(src=path, recursive=recursive), C.DeleteResponseProto).result

    def rename(self, conn, src, dst):
        C = self.C
        return conn.call("rename", C.RenameRequestProto(src=src, dst=dst), C.RenameResponseProto).result

    def rename2(self, conn, src, dst, overwrite=False):
        C = self.C
        conn.call("rename2", C.Rename2RequestProto(src=src, dst=dst, overwriteDest=overwrite),
                  C.Rename2ResponseProto)

    def concat(self, conn, trg, srcs):
        C = self.C
        r = C.ConcatRequestProto(trg=trg)
        r.srcs.extend(srcs)
        conn.call("concat", r, C.ConcatResponseProto)

    def set_replication(self, conn, path, n):
        C = self.C
        return conn.call("setReplication", C.SetReplicationRequestProto(src=path, replication=n),
                         C.SetReplicationResponseProto).result

    def set_permission(self, conn, path, mode):
        C = self.C
        r = C.SetPermissionRequestProto(src=path)
        r.permission.CopyFrom(self.perm(mode))
        conn.call("setPermission", r, C.SetPermissionResponseProto)

    def set_owner(self, conn, path, owner, group):
        C = self.C
        conn.call("setOwner", C.SetOwnerRequestProto(src=path, username=owner, groupname=group),
                  C.SetOwnerResponseProto)

    def listing_page(self, conn, path, start=b""):
        C = self.C
        r = C.GetListingRequestProto(src=path, startAfter=start, needLocation=False)
        resp = conn.call("getListing", r, C.GetListingResponseProto)
        return resp.dirList if resp.HasField("dirList") else None

    def listing(self, conn, path, max_pages=10000):
        """Every name of the directory (pages followed), or None when the
        answer has no listing."""
        names, start = [], b""
        for _ in range(max_pages):
            dl = self.listing_page(conn, path, start)
            if dl is None:
                return None if not names else names
            page = [e.path.decode() for e in dl.partialListing]
            names += page
            if not dl.remainingEntries or not page:
                return names
            start = page[-1].encode()
        raise AssertionError("getListing %s: more than %d pages" % (path, max_pages))

    def summary(self, conn, path):
        C = self.C
        return conn.call("getContentSummary", C.GetContentSummaryRequestProto(path=path),
                         C.GetContentSummaryResponseProto).summary

    def quota_usage(self, conn, path):
        C = self.C
        return conn.call("getQuotaUsage", C.GetQuotaUsageRequestProto(path=path),
                         C.GetQuotaUsageResponseProto).usage


def expect_remote(fn, cls, *in_msg):
    """fn() must fail with exception class cls and a message holding each of
    in_msg; returns the RemoteError."""
    try:
        r = fn()
    except RemoteError as e:
        procs.expect(e.cls == cls, "expected %s, got %s: %s" % (cls, e.cls, e.msg))
        for s in in_msg:
            procs.expect(s in e.msg, "the message does not mention %r: %s" % (s, e.msg))
        return e
    raise AssertionError("expected %s, the call succeeded: %s" % (cls, str(r).strip()[:200]))
