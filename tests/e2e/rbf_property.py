#!/usr/bin/python3
"""rbf_property.py: random operation sequences through fedrouter, each step
checked against what the subclusters really hold.

    /usr/bin/python3 tests/e2e/rbf_property.py BUILD_DIR [STEPS]

    FR_SEED=N    the seed (default: the time); printed first, so a failure
                 can be run again with the same choices
    FR_STEPS=N   number of steps (default 500, or the second argument)
    FR_OPS=a,b   only these operations (to narrow a failure down; the
                 default is every operation)

Three minidfs subclusters (ns1 at 127.0.0.1, ns2 at 127.0.0.2, ns3 at
127.0.0.3, each with its own capacity) sit behind one fedrouter whose mount
table has every order of several destinations (HASH, HASH_ALL, RANDOM,
SPACE, LOCAL), single-destination mounts, a mount nested inside a
multi-destination one and a default nameservice. Clients at the three
addresses make random calls through the router: create (with and without
overwrite), mkdirs, delete, rename and rename2 (files and directories,
inside a mount and across mounts), getListing, getContentSummary and
setPermission of mount points.

The test keeps a model of the federated namespace: every path and whether
it is a file or a directory, with the namespace semantics of a single
NameNode. After every step it walks each subcluster directly (recursive
getListing on the NameNodes), maps what it finds back to federated paths
with the mount table it wrote itself, and checks:

  * no file is held by two subclusters, no path is a file in one and a
    directory in another, nothing hides under a mount point or lies
    outside every destination, every destination root still exists with
    the mode last set on its mount point;
  * the union of the subclusters equals the model (nothing lost, nothing
    that the model does not have);
  * the router's answer is the one a single NameNode would give for the
    model; where it fails, neither the model nor any subcluster changed;
  * the router's listing of every directory the step touched equals the
    union (asked from each client address), getFileInfo agrees on the
    touched paths, and getContentSummary of the touched directories adds
    up to the sum of what each location holds (a directory kept in two
    locations counts twice, as the NameNodes' own summaries add up; the
    root's summary, which asks every location, when a step asks for it).

An error is accepted in place of success only for a rename that truly spans
subclusters: its source is a mount point or lies above one (which an
RBF-like router refuses), or no subcluster that holds the source can carry
the rename out on its own with the model's result (the destination mount
has no location there, or the destination's parent lives elsewhere). Any
other difference is reported: the seed, every step so far and the diff,
and the test fails.

The router places files of RANDOM mounts by its own dice, so a seed repeats
the test's choices exactly but the router's placements only roughly.
"""
import os
import random
import re
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fed as fedlib  # noqa: E402
import procs  # noqa: E402

RemoteError = fedlib.RemoteError
DEFAULT_STEPS = 500

# ---- the federation the test builds: its mount table, kept here too ----

NSS = ("ns1", "ns2", "ns3")
HOSTS = {"ns1": "127.0.0.1", "ns2": "127.0.0.2", "ns3": "127.0.0.3"}
# SPACE picks the subcluster with the most free space: ns3 of its two.
CAPACITY = {"ns1": 256 << 20, "ns2": 4 << 30, "ns3": 8 << 30}
DEFAULT_NS = "ns1"
CLIENTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")

# (mount point, order, [(nameservice, destination)]). Destinations in the
# default nameservice carry the mount point's own name, so that no path of
# ns1 is reachable under two federated names.
MOUNTS = [
    ("/a", "HASH", [("ns1", "/a")]),
    ("/b", "HASH", [("ns2", "/b")]),
    ("/c", "HASH", [("ns3", "/cdst")]),
    ("/hash", "HASH", [("ns1", "/hash"), ("ns2", "/hash"), ("ns3", "/hash")]),
    ("/hall", "HASH_ALL", [("ns1", "/hall"), ("ns2", "/hall")]),
    ("/hall/nest", "HASH", [("ns3", "/nest")]),
    ("/rnd", "RANDOM", [("ns2", "/rnd"), ("ns3", "/rnd")]),
    ("/spc", "SPACE", [("ns1", "/spc"), ("ns3", "/spc")]),
    ("/loc", "LOCAL", [("ns1", "/loc"), ("ns2", "/loc"), ("ns3", "/loc")]),
]
MOUNT_SRCS = {m[0] for m in MOUNTS}
# Where random paths are made: every mount point and a directory of the
# default nameservice.
AREAS = [m[0] for m in MOUNTS] + ["/top"]

DIR_NAMES = ("d0", "d1", "d2")
FILE_NAMES = ("f0", "f1", "f2", "f3")
MODES = (0o755, 0o750, 0o775, 0o711)
MAX_DEPTH = 3        # levels below an area root
MAX_ENTRIES = 70     # above this, deletes are more likely


# ---- paths ----

def parent(p):
    if p == "/":
        return None
    i = p.rfind("/")
    return "/" if i == 0 else p[:i]


def base(p):
    return p[p.rfind("/") + 1:]


def join(d, name):
    return "/" + name if d == "/" else d + "/" + name


def at_or_under(p, d):
    """p is d or lies below it."""
    if d == "/":
        return True
    return p == d or p.startswith(d + "/")


def strictly_under(p, d):
    return p != d and at_or_under(p, d)


def ancestors(p):
    out = []
    q = parent(p)
    while q is not None:
        out.append(q)
        q = parent(q)
    return out


# ---- the mount table ----

def resolve(fed):
    """The mount whose point is the longest prefix of fed, or None (the
    default nameservice)."""
    best = None
    for m in MOUNTS:
        if at_or_under(fed, m[0]) and (best is None or len(m[0]) > len(best[0])):
            best = m
    return best


def nat(ns, fed):
    """fed's path inside subcluster ns, or None when no location of fed is
    in ns."""
    m = resolve(fed)
    if m is None:
        return fed if ns == DEFAULT_NS else None
    rest = fed[len(m[0]):]
    for dns, dpath in m[2]:
        if dns == ns:
            return dpath + rest if dpath != "/" else (rest or "/")
    return None


def fed_of(ns, native):
    """What a path of subcluster ns is in the federated namespace:
    ("visible", fed), ("hidden", fed) when a deeper mount point shadows it,
    or ("outside", None) when no destination holds it."""
    best = None
    for m in MOUNTS:
        for dns, dpath in m[2]:
            if dns == ns and at_or_under(native, dpath) and (best is None or len(dpath) > len(best[1])):
                best = (m, dpath)
    if best:
        m, dpath = best
        cand = m[0] + native[len(dpath):]
        return ("visible" if resolve(cand) is m else "hidden", cand)
    if ns == DEFAULT_NS:
        return ("visible" if resolve(native) is None else "hidden", native)
    return ("outside", None)


def mount_locked(p):
    """A mount point, or a directory with mount points below it: RBF
    refuses to delete or rename it."""
    return any(at_or_under(m, p) for m in MOUNT_SRCS)


def synthesized():
    """The directories the mount table itself makes: every mount point and
    its ancestors."""
    out = {"/": "d"}
    for m in MOUNT_SRCS:
        out[m] = "d"
        for a in ancestors(m):
            out[a] = "d"
    return out


SYNTH = synthesized()


def check_table():
    """Every native path maps to one federated path at most."""
    for ns in NSS:
        dests = [d for m in MOUNTS for dns, d in m[2] if dns == ns]
        for m in MOUNTS:
            for dns, d in m[2]:
                if dns == ns and ns == DEFAULT_NS and d != m[0]:
                    raise RuntimeError("mount table: %s:%s would also be seen as %s" % (ns, d, d))
        for i, x in enumerate(dests):
            for y in dests[i + 1:]:
                if at_or_under(x, y) or at_or_under(y, x):
                    raise RuntimeError("mount table: %s:%s and %s:%s overlap" % (ns, x, ns, y))


# ---- namespaces as {path: "f" | "d"} and one NameNode's semantics ----

def children(view, d):
    return sorted(base(p) for p in view if p != "/" and parent(p) == d)


def anc_file(view, p):
    return any(view.get(a) == "f" for a in ancestors(p))


def move(view, s, d):
    out = {}
    for q, t in view.items():
        if at_or_under(q, s):
            out[d + q[len(s):]] = t
        else:
            out[q] = t
    return out


def remove(view, p):
    return {q: t for q, t in view.items() if not at_or_under(q, p)}


def sem_rename_old(view, s, d):
    """The old rename of one NameNode: (True | False | "err", new view)."""
    if anc_file(view, s) or anc_file(view, d):
        return "err", view
    if s in view and s != "/" and view.get(d) == "d":
        d = join(d, base(s))  # moves into an existing directory
        if anc_file(view, d):
            return "err", view
    if s not in view or s == "/":
        return False, view
    if s == d:
        return True, view
    if strictly_under(d, s) or d in view or view.get(parent(d)) != "d":
        return False, view
    return True, move(view, s, d)


def sem_rename2(view, s, d, overwrite):
    """rename2 of one NameNode: ("ok" | "err", new view)."""
    if anc_file(view, s) or anc_file(view, d) or s not in view or s == "/" or s == d or d == "/":
        return "err", view
    if strictly_under(d, s):
        return "err", view
    v = view
    if d in view:
        if view[d] != view[s] or not overwrite or (view[d] == "d" and children(view, d)):
            return "err", view
        v = remove(view, d)
    if v.get(parent(d)) != "d":
        return "err", view
    return "ok", move(v, s, d)


def sem_create(view, p, overwrite):
    if anc_file(view, p) or view.get(p) == "d" or (view.get(p) == "f" and not overwrite):
        return "err", view
    v = dict(view)
    for a in ancestors(p):
        v[a] = "d"
    v[p] = "f"
    return "ok", v


def sem_mkdirs(view, p):
    if anc_file(view, p) or view.get(p) == "f":
        return "err", view
    v = dict(view)
    for a in ancestors(p) + [p]:
        v[a] = "d"
    return True, v


def sem_delete(view, p):
    if anc_file(view, p):
        return "err", view
    if p not in view:
        return False, view
    return True, remove(view, p)


# ---- what the subclusters hold ----

class Snapshot:
    """Each subcluster walked: native {path: (type, mode)}, and from that
    the federated union."""

    def __init__(self, walks):
        self.walks = walks
        self.holders = {}     # fed -> [(ns, type)]
        self.problems = []
        for ns in NSS:
            for npath, (t, _) in sorted(walks[ns].items()):
                kind, f = fed_of(ns, npath)
                if kind == "visible":
                    self.holders.setdefault(f, []).append((ns, t))
                elif kind == "hidden":
                    self.problems.append("%s:%s is hidden behind a mount point (its federated name %s belongs "
                                         "to mount %s)" % (ns, npath, f, resolve(f)[0]))
                elif npath != "/":
                    self.problems.append("%s:%s lies outside every destination" % (ns, npath))
        self.view = dict(SYNTH)
        for f, hs in self.holders.items():
            types = {t for _, t in hs}
            if len(types) > 1 or (f in SYNTH and "f" in types):
                self.problems.append("%s is a file and a directory: %s" % (f, where(hs)))
            files = [ns for ns, t in hs if t == "f"]
            if len(files) > 1:
                self.problems.append("duplicate: file %s is held by %s" % (f, ", ".join(files)))
            self.view[f] = "f" if "f" in types and f not in SYNTH else "d"

    def native_types(self):
        return {ns: {p: t for p, (t, _) in w.items()} for ns, w in self.walks.items()}

    def summary(self, p):
        """(files, directories) at or below p, added up over every location."""
        nf = nd = 0
        for f, hs in self.holders.items():
            if at_or_under(f, p):
                for _, t in hs:
                    if t == "f":
                        nf += 1
                    else:
                        nd += 1
        return nf, nd


def where(hs):
    return ", ".join("%s(%s)" % (ns, "file" if t == "f" else "dir") for ns, t in hs) or "nowhere"


class Run:
    def __init__(self, fed, rt, seed, nsteps, ops_only):
        self.fed = fed
        self.rt = rt
        self.rng = random.Random(seed)
        self.seed = seed
        self.nsteps = nsteps
        self.ops_only = ops_only
        C = fed.C
        self.C = C
        self.ops = [fedlib.Ops(C, "DFSClient_rbfprop_%d" % i) for i in range(len(CLIENTS))]
        self.R = [fed.conn(rt["hdfs"], source=src) for src in CLIENTS]
        self.N = {ns: fed.direct(ns) for ns in NSS}
        self.model = dict(SYNTH)
        self.model["/top"] = "d"
        self.modes = {m: 0o755 for m in MOUNT_SRCS}
        self.steps = []
        self.counts = {}   # (op, done | failed | refused | read) -> steps

    # ---- calls ----

    def walk(self, ns):
        conn, C = self.N[ns], self.C
        out = {}
        st = self.ops[0].fileinfo(conn, "/")
        out["/"] = ("d", st.permission.perm)
        todo = ["/"]
        while todo:
            d = todo.pop()
            start = b""
            while True:
                r = conn.call("getListing", C.GetListingRequestProto(src=d, startAfter=start, needLocation=False),
                              C.GetListingResponseProto)
                if not r.HasField("dirList"):
                    break  # gone between two pages: the test makes one call at a time, so never
                ents = r.dirList.partialListing
                for e in ents:
                    p = join(d, e.path.decode())
                    isdir = e.fileType == C.HdfsFileStatusProto.IS_DIR
                    out[p] = ("d" if isdir else "f", e.permission.perm)
                    if isdir:
                        todo.append(p)
                if not r.dirList.remainingEntries or not ents:
                    break
                start = ents[-1].path
        return out

    def snapshot(self):
        return Snapshot({ns: self.walk(ns) for ns in NSS})

    def call(self, fn):
        """("ok", value) or ("err", class, message)."""
        try:
            return ("ok", fn())
        except RemoteError as e:
            return ("err", e.cls, e.msg)

    # ---- choosing ----

    def entries_under(self, area, kinds="fd"):
        return sorted(p for p, t in self.model.items()
                      if strictly_under(p, area) and t in kinds and p not in MOUNT_SRCS
                      and resolve(p) is resolve(area))

    def pick_area(self):
        return self.rng.choice(AREAS)

    def pick_dir(self, area=None):
        r = self.rng
        area = area or self.pick_area()
        if area not in self.model:
            return parent(area)
        cur, depth = area, 0
        while depth < MAX_DEPTH:
            kids = [join(cur, n) for n in children(self.model, cur)]
            kids = [k for k in kids if self.model[k] == "d" and k not in MOUNT_SRCS]
            if not kids or r.random() < 0.4:
                break
            cur = r.choice(kids)
            depth += 1
        return cur

    def pick_existing(self, area=None, kinds="fd"):
        for _ in range(4):
            a = area or self.pick_area()
            es = self.entries_under(a, kinds)
            if es:
                return self.rng.choice(es)
        return None

    def new_name(self, isdir):
        r = self.rng
        if r.random() < 0.03:
            return "nest"  # the nested mount's name, in other places
        return r.choice(DIR_NAMES if isdir else FILE_NAMES)

    def free_name(self, d, isdir):
        """A name not yet taken in d, when one of the pool is left."""
        taken = set(children(self.model, d))
        free = [n for n in (DIR_NAMES if isdir else FILE_NAMES) if n not in taken]
        return self.rng.choice(free) if free else self.new_name(isdir)

    def any_file(self):
        fs = sorted(p for p, t in self.model.items() if t == "f")
        return self.rng.choice(fs) if fs else None

    def choose(self):
        """The next step: a dict with op, client and paths."""
        r = self.rng
        weights = [("create", 22), ("mkdirs", 10), ("rename", 15), ("rename2", 15), ("delete", 14),
                   ("listing", 9), ("summary", 9), ("chmod", 4)]
        if len(self.model) > MAX_ENTRIES:
            weights = [(o, w * 3 if o == "delete" else w) for o, w in weights]
        if self.ops_only:
            weights = [(o, w) for o, w in weights if o in self.ops_only]
        op = r.choices([o for o, _ in weights], [w for _, w in weights])[0]
        c = r.choices(range(len(CLIENTS)), [45, 35, 20])[0]
        s = {"op": op, "client": c}
        if op == "create":
            f = self.any_file() if r.random() < 0.06 else None
            d = f or self.pick_dir()
            if r.random() < 0.08:
                s["path"] = join(d, r.choice(DIR_NAMES))
            else:
                s["path"] = join(d, self.new_name(False))
            s["overwrite"] = r.random() < 0.5
        elif op == "mkdirs":
            f = self.any_file() if r.random() < 0.06 else None
            d = f or self.pick_dir()
            p = join(d, self.new_name(True))
            if r.random() < 0.2:
                p = join(p, r.choice(DIR_NAMES))
            s["path"] = p
        elif op == "delete":
            x = r.random()
            if x < 0.04:
                s["path"] = r.choice(sorted(MOUNT_SRCS))
            elif x < 0.12:
                s["path"] = join(self.pick_dir(), self.new_name(r.random() < 0.5))
            else:
                s["path"] = self.pick_existing() or join(self.pick_dir(), self.new_name(False))
        elif op in ("rename", "rename2"):
            x = r.random()
            if x < 0.04:
                src = r.choice(sorted(MOUNT_SRCS))
            elif x < 0.09:
                src = join(self.pick_dir(), self.new_name(r.random() < 0.5))
            else:
                src = self.pick_existing() or join(self.pick_dir(), self.new_name(False))
            src_area = next(a for a in sorted(AREAS, key=len, reverse=True) if at_or_under(src, a)) \
                if any(at_or_under(src, a) for a in AREAS) else self.pick_area()
            area = src_area if r.random() < 0.5 else self.pick_area()
            isdir = self.model.get(src) == "d"
            y = r.random()
            if op == "rename" and y < 0.25:
                dst = self.pick_dir(area)  # moves into it
            elif y < 0.45:
                dst = self.pick_existing(area)
                if dst is None or (dst == src and r.random() < 0.8):
                    dst = join(self.pick_dir(area), self.new_name(isdir))
            else:
                d = self.pick_dir(area)
                dst = join(d, self.free_name(d, isdir) if r.random() < 0.7 else self.new_name(isdir))
            s["src"], s["dst"] = src, dst
            if op == "rename2":
                s["overwrite"] = r.random() < 0.35 and dst not in MOUNT_SRCS
        elif op == "listing":
            s["path"] = "/" if r.random() < 0.05 else self.pick_dir()
        elif op == "summary":
            s["path"] = "/" if r.random() < 0.06 else self.pick_dir()
        elif op == "chmod":
            s["path"] = r.choice(sorted(MOUNT_SRCS))
            s["mode"] = r.choice(MODES)
        return s

    # ---- one step ----

    def describe(self, s):
        c = CLIENTS[s["client"]]
        if s["op"] in ("rename", "rename2"):
            t = "%s %s %s -> %s" % (c, s["op"], s["src"], s["dst"])
        else:
            t = "%s %s %s" % (c, s["op"], s["path"])
        if "overwrite" in s:
            t += " overwrite=%s" % s["overwrite"]
        if "mode" in s:
            t += " mode=%o" % s["mode"]
        return t

    def expect(self, s, before):
        """(expected outcome, expected model after, refusal allowed).
        Outcomes: True/False (a boolean answer), "ok" (success), "err"."""
        op, M = s["op"], self.model
        if op == "create":
            e, m2 = sem_create(M, s["path"], s["overwrite"])
            return e, m2, False
        if op == "mkdirs":
            e, m2 = sem_mkdirs(M, s["path"])
            return e, m2, False
        if op == "delete":
            if mount_locked(s["path"]):
                return "err", M, False
            e, m2 = sem_delete(M, s["path"])
            return e, m2, False
        if op in ("rename", "rename2"):
            src, dst = s["src"], s["dst"]
            if mount_locked(src):
                return "err", M, False
            if op == "rename":
                e, m2 = sem_rename_old(M, src, dst)
            else:
                e, m2 = sem_rename2(M, src, dst, s["overwrite"])
            if e in (True, "ok"):
                return e, m2, not self.feasible(s, before, m2)
            return e, m2, False
        if op == "chmod":
            return "ok", M, False
        return None, M, False  # reads: checked by the view checks

    def feasible(self, s, before, m2):
        """Can the subclusters that hold the source carry the rename out
        each on its own, with the model's result? False: the rename truly
        spans subclusters and may be refused."""
        src, dst = s["src"], s["dst"]
        native = before.native_types()
        holders = [ns for ns in NSS if nat(ns, src) is not None and nat(ns, src) in native[ns]]
        if not holders:
            return False
        new = dict(before.walks)
        for ns in holders:
            nd = nat(ns, dst)
            if nd is None:
                return False
            if s["op"] == "rename":
                e, v = sem_rename_old(native[ns], nat(ns, src), nd)
            else:
                e, v = sem_rename2(native[ns], nat(ns, src), nd, s["overwrite"])
            if e not in (True, "ok"):
                return False
            new[ns] = {p: (t, 0) for p, t in v.items()}
        after = Snapshot(new)
        return not after.problems and after.view == m2

    def execute(self, s):
        R, ops = self.R[s["client"]], self.ops[s["client"]]
        op = s["op"]
        if op == "create":
            got = self.call(lambda: ops.create(R, s["path"], overwrite=s["overwrite"]).fs)
            if got[0] != "ok":
                return got
            # the file is closed as a client would; a refused close is a
            # problem of its own, the create's answer stays "ok"
            done = self.call(lambda: ops.complete(R, s["path"], got[1].fileId))
            if done != ("ok", True):
                s["extra"] = ["complete %s after the create answered %s" % (s["path"], fmt_outcome(done))]
            return ("ok", "ok")
        if op == "mkdirs":
            return self.call(lambda: ops.mkdirs(R, s["path"]))
        if op == "delete":
            return self.call(lambda: ops.delete(R, s["path"]))
        if op == "rename":
            return self.call(lambda: ops.rename(R, s["src"], s["dst"]))
        if op == "rename2":
            return self.call(lambda: ops.rename2(R, s["src"], s["dst"], s["overwrite"]) or "ok")
        if op == "chmod":
            return self.call(lambda: ops.set_permission(R, s["path"], s["mode"]) or "ok")
        return ("ok", None)

    def touched(self, s):
        ps = set()
        for k in ("path", "src", "dst"):
            if k in s:
                p = s[k]
                ps.add(p)
                ps.update(ancestors(p)[:2])
                m = resolve(p)
                if m:
                    ps.add(m[0])
        if s["op"] == "rename" and s["dst"] in self.model:
            ps.add(join(s["dst"], base(s["src"])))
        ps.add("/")
        return sorted(ps)

    def check_state(self, snap):
        probs = list(snap.problems)
        for m, _, dests in MOUNTS:
            for ns, d in dests:
                e = snap.walks[ns].get(d)
                if e is None or e[0] != "d":
                    probs.append("destination %s:%s of mount %s is gone" % (ns, d, m))
                elif e[1] != self.modes[m]:
                    probs.append("destination %s:%s of mount %s has mode %o, the mount point was set to %o"
                                 % (ns, d, m, e[1], self.modes[m]))
        return probs

    def model_diff(self, snap, model):
        probs = []
        for p in sorted(set(model) | set(snap.view)):
            a, b = model.get(p), snap.view.get(p)
            if a == b:
                continue
            if b is None:
                probs.append("lost: %s (%s in the model) is in no subcluster" % (p, kind(a)))
            elif a is None:
                probs.append("appeared: %s (%s) is in %s, the model does not have it"
                             % (p, kind(b), where(snap.holders.get(p, []))))
            else:
                probs.append("%s is a %s in the model, a %s in %s" % (p, kind(a), kind(b),
                                                                       where(snap.holders.get(p, []))))
        return probs

    def check_views(self, snap, paths, s):
        """The router's own answers about the touched paths against the union."""
        probs = []
        C = self.C
        ops = self.ops[0]
        for p in paths:
            if anc_file(snap.view, p):
                continue  # below a file: the NameNode's error is its business
            want = snap.view.get(p)
            for c in sorted({0, s["client"]}):
                try:
                    st = ops.fileinfo(self.R[c], p)
                    got = None if st is None else ("d" if st.fileType == C.HdfsFileStatusProto.IS_DIR else "f")
                except RemoteError as e:
                    got = "error %s: %s" % (e.cls, e.msg)
                if got != want:
                    probs.append("getFileInfo %s from %s: %s, the union has %s (%s)"
                                 % (p, CLIENTS[c], kind(got), kind(want), where(snap.holders.get(p, []))))
            if want != "d":
                continue
            exp = [(n, snap.view[join(p, n)]) for n in children(snap.view, p)]
            for c in range(len(CLIENTS)):
                try:
                    got = self.listing(self.R[c], p)
                except RemoteError as e:
                    got = "error %s: %s" % (e.cls, e.msg)
                if got != exp:
                    probs.append("getListing %s from %s: %s; the union: %s"
                                 % (p, CLIENTS[c], fmt_listing(got), fmt_listing(exp)))
            if p == "/" and not (s["op"] == "summary" and s["path"] == "/"):
                continue  # the root's summary asks every location: only when the step asks for it
            nf, nd = snap.summary(p)
            try:
                cs = ops.summary(self.R[s["client"]], p)
                got = (cs.fileCount, cs.directoryCount)
            except RemoteError as e:
                got = "error %s: %s" % (e.cls, e.msg)
            if got != (nf, nd):
                probs.append("getContentSummary %s: (files, directories) %s, the subclusters hold (%d, %d)"
                             % (p, got, nf, nd))
        return probs

    def listing(self, conn, p):
        C = self.C
        out, start = [], b""
        for _ in range(100):
            r = conn.call("getListing", C.GetListingRequestProto(src=p, startAfter=start, needLocation=False),
                          C.GetListingResponseProto)
            if not r.HasField("dirList"):
                return out or None
            ents = r.dirList.partialListing
            out += [(e.path.decode(), "d" if e.fileType == C.HdfsFileStatusProto.IS_DIR else "f") for e in ents]
            if not r.dirList.remainingEntries or not ents:
                return out
            start = ents[-1].path
        return out

    def step(self, i, s, before):
        exp, m2, refusal_ok = self.expect(s, before)
        got = self.execute(s)
        after = self.snapshot()
        probs = list(s.get("extra", []))
        failed = got[0] == "err" or got[1] is False
        line = "%3d %s => %s" % (i, self.describe(s), fmt_outcome(got))
        if exp is not None:
            line += "   (model: %s%s)" % (fmt_exp(exp), ", may be refused" if refusal_ok else "")
        self.steps.append(line)
        self.tally_outcome(s, got, exp, refusal_ok)
        if exp is None:
            pass
        elif exp in (True, "ok"):
            if failed:
                if refusal_ok:
                    m2 = self.model  # an accepted refusal
                else:
                    probs.append("the call failed (%s) where a single namespace succeeds"
                                 % fmt_outcome(got))
                    m2 = self.model
            elif got[1] not in (True, "ok"):
                probs.append("answered %r, the model expects %s" % (got[1], fmt_exp(exp)))
        else:
            if not failed:
                probs.append("the call succeeded (%s); a single namespace answers %s" % (fmt_outcome(got),
                                                                                        fmt_exp(exp)))
            m2 = self.model
        if failed or (exp is not None and exp not in (True, "ok")):
            # nothing may change where the call failed
            b, a = before.native_types(), after.native_types()
            for ns in NSS:
                gone = sorted(set(b[ns]) - set(a[ns]))
                new = sorted(set(a[ns]) - set(b[ns]))
                retyped = sorted(p for p in set(a[ns]) & set(b[ns]) if a[ns][p] != b[ns][p])
                if gone or new or retyped:
                    probs.append("%s changed although the call %s: removed %s, added %s, retyped %s"
                                 % (ns, "failed" if failed else "should have failed", gone or "-", new or "-",
                                    retyped or "-"))
        if s["op"] == "chmod" and not failed:
            self.modes[s["path"]] = s["mode"]
        probs += self.check_state(after)
        probs += self.model_diff(after, m2)
        if not probs:
            probs += self.check_views(after, self.touched(s), s)
        self.model = m2
        return probs, after

    def tally_outcome(self, s, got, exp, refusal_ok):
        if exp is None:
            k = "read"
        elif got[0] == "err" or got[1] is False:
            k = "refused" if refusal_ok and exp in (True, "ok") else "failed"
        else:
            k = "done"
        key = (s["op"], k)
        self.counts[key] = self.counts.get(key, 0) + 1

    def count_line(self):
        ops = sorted({o for o, _ in self.counts})
        return ", ".join("%s %s" % (o, "/".join("%d %s" % (self.counts[(o, k)], k)
                                                for k in ("done", "failed", "refused", "read")
                                                if (o, k) in self.counts)) for o in ops)

    def report(self, i, probs, before, after, s):
        print("# VIOLATION at step %d (seed %d; run again with FR_SEED=%d)" % (i, self.seed, self.seed))
        print("# steps so far (client op paths => router answer (model's answer)):")
        for ln in self.steps:
            print("#   " + ln)
        print("# what is wrong:")
        for p in probs:
            print("#   - " + p)
        paths = set()
        for k in ("path", "src", "dst"):
            if k in s:
                paths.add(s[k])
                if s["op"] == "rename" and k == "dst":
                    paths.add(join(s[k], base(s["src"])))
        for p in sorted(paths):
            print("#   %s: before %s, after %s" % (p, where(before.holders.get(p, [])),
                                                 where(after.holders.get(p, []))))
        print("# union of the subclusters after the step (path: holders):")
        for f in sorted(after.holders):
            if f not in SYNTH:
                print("#   %s: %s" % (f, where(after.holders[f])))

    def run(self):
        before = self.snapshot()
        probs = self.check_state(before) + self.model_diff(before, self.model)
        if probs:
            raise AssertionError("the federation does not start empty: %s" % probs)
        for i in range(1, self.nsteps + 1):
            s = self.choose()
            probs, after = self.step(i, s, before)
            if probs:
                self.report(i, probs, before, after, s)
                print("# steps by answer: " + self.count_line())
                return "%d problem(s) at step %d of seed %d: %s" % (len(probs), i, self.seed, probs[0])
            before = after
        print("# steps by answer: " + self.count_line())
        return None


def kind(t):
    return {"f": "file", "d": "directory", None: "absent"}.get(t, t)


def fmt_outcome(got):
    if got[0] == "ok":
        return "ok" if got[1] in ("ok", None) else repr(got[1])
    msg = got[2].splitlines()[0] if got[2] else ""
    return "%s: %s" % (got[1].rsplit(".", 1)[-1], msg[:160])


def fmt_exp(e):
    return {True: "True", False: "False", "ok": "ok", "err": "an error"}[e]


def fmt_listing(x):
    if x is None:
        return "no listing"
    if isinstance(x, str):
        return x
    return "[" + ", ".join(n + ("/" if t == "d" else "") for n, t in x) + "]"


# ---- the federation ----

def router_conf():
    out = []
    for src, order, dests in MOUNTS:
        out += ["[mount %s]" % src, "destinations = " + ", ".join("%s:%s" % d for d in dests)]
        if len(dests) > 1:
            out.append("order = %s" % order)
        out.append("")
    return "\n".join(out)


def http_get(addr, path):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(("GET %s HTTP/1.0\r\nHost: x\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace")


def wait_refresh(rt, rounds):
    """Until the router knows every subcluster's free space and host."""
    deadline = time.monotonic() + 15
    n = -1
    while time.monotonic() < deadline:
        m = re.search(r"^fedrouter_cluster_refresh_rounds_total (\d+)$", http_get(rt["admin"], "/metrics"), re.M)
        n = int(m.group(1)) if m else -1
        if n >= rounds:
            return
        time.sleep(0.05)
    raise RuntimeError("the router made %d cluster state rounds in 15 s, wanted %d" % (n, rounds))


def setup(fed, ops):
    """Destination roots made directly on each subcluster, mode 755."""
    for src, _, dests in MOUNTS:
        for ns, d in dests:
            conn = fed.direct(ns)
            procs.expect(ops.mkdirs(conn, d, 0o755), "mkdirs %s:%s answered false" % (ns, d))
            conn.close()
            fed.conns.remove(conn)
    conn = fed.direct(DEFAULT_NS)
    procs.expect(ops.mkdirs(conn, "/top", 0o755), "mkdirs ns1:/top answered false")


def main(argv):
    if len(argv) not in (2, 3):
        print("usage: rbf_property.py BUILD_DIR [STEPS]", file=sys.stderr)
        return 2
    build = os.path.abspath(argv[1])
    seed = int(os.environ.get("FR_SEED") or time.time_ns() % 1000000007)
    nsteps = int(argv[2] if len(argv) == 3 else os.environ.get("FR_STEPS") or DEFAULT_STEPS)
    ops_only = set(filter(None, os.environ.get("FR_OPS", "").split(",")))
    print("# seed %d, %d steps (FR_SEED=%d repeats the choices)" % (seed, nsteps, seed), flush=True)
    tally = procs.Tally()
    check_table()
    fed = fedlib.Fed(build, prefix="fedrouter-rbfprop.")
    broken = True  # the processes' logs are shown when the run itself broke
    try:
        for ns in NSS:
            fed.minidfs(ns, "--host", HOSTS[ns], "--capacity", str(CAPACITY[ns]))
        rt = fed.router(router_conf(), default_ns=DEFAULT_NS)
        setup(fed, fedlib.Ops(fed.C))
        wait_refresh(rt, 2)
        tally.ok("three subclusters and a router with HASH, HASH_ALL, RANDOM, SPACE, LOCAL, nested, "
                 "single-destination and default mounts")
        t0 = time.monotonic()
        run = Run(fed, rt, seed, nsteps, ops_only)
        why = run.run()
        name = "%d random steps keep the federated namespace equal to a single namespace" % nsteps
        if why:
            tally.not_ok(name, why)
        else:
            tally.ok(name + " (%.1f s)" % (time.monotonic() - t0))
        broken = rt["proc"].poll() is not None
        if broken:
            tally.not_ok("the router is still running", "it exited with status %s" % rt["proc"].returncode)
    except Exception as e:  # a setup failure or a broken connection
        tally.not_ok("the property run", "%s: %s" % (type(e).__name__, e))
    finally:
        fed.close(show_logs=broken)
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
