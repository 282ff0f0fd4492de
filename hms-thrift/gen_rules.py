#!/usr/bin/env python3
"""Writes hms_rules.c, the metastore method rule table, from our IDL and the
method facts file.

    gen_rules.py FACTS_JSON [--thrift THRIFT] [-o OUT.c] [--report]

FACTS_JSON is the list of metastore methods with the database-name paths found
by an earlier, mechanical pass over Hive's own IDLs (fields `db_paths`,
`db_pattern_paths`, `resp_db_paths`, `db_cond_paths`, `db_embedded_paths`,
`in_hive_2_3`, `in_hive_3_1`, `in_hive_master`). It is not kept in the
repository; this script is run by hand and its output is committed.

Nothing from that file is taken on trust:

  * the IDL (hive_metastore.thrift and fb303.thrift next to this script) is
    compiled with `thrift --gen json` and every path is resolved through it;
  * the paths are derived a second time from the IDL alone, by field name
    (DB_FIELDS and friends below), and the two derivations are compared;
    a difference stops the script unless REVIEWED below says which side is
    right and why;
  * the versions are read from the IDL's comments ("since 3.0", "since 4.0",
    "Hive 2.3 only", "removed in 4.x") and compared with the file's flags.

The rule table keeps the IDL derivation (a superset of the facts file once the
reviewed differences are applied). --report prints the comparison.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ELEM, KEY, VAL = "*", "*k", "*v"

# ---------------------------------------------------------------------------
# What counts as a database name, judged from the IDL alone
# ---------------------------------------------------------------------------

# Struct fields holding a database name, by field name (any struct).
DB_FIELDS = {
    "dbName", "db_name", "dbname", "db", "database", "databaseName",
    "table_db", "pktable_db", "fktable_db", "parent_db_name",
    "foreign_db_name", "oldDbName",
}
# Struct fields named otherwise that hold a database name: (struct, field).
DB_STRUCT_FIELDS = {
    ("Database", "name"),
    ("GetDatabaseRequest", "name"),
    ("DropDatabaseRequest", "name"),
}
# Fields named like a database but holding something else.
NOT_DB_FIELDS = {
    # the database's name inside a remote data connector's system, not a
    # metastore database name
    ("Database", "remote_dbname"),
    ("CreateDatabaseRequest", "remote_dbname"),
}
# Top-level arguments holding a database name, by argument name, and the
# methods whose argument `name` is a database.
DB_ARGS = {"dbName", "db_name", "dbname", "source_db", "dest_db"}
DB_NAME_ARG_METHODS = {"get_database", "drop_database"}
# Top-level arguments holding a database-name pattern.
PATTERN_ARGS = {("get_databases", "pattern"), ("get_table_meta", "db_patterns")}
# HiveObjectRef.objectName: the database name when objectType == DATABASE.
OBJNAME_FIELDS = {("HiveObjectRef", "objectName")}
# Strings that start with "db.table" (qualified table names; a
# ValidWriteIdList string is "db.table:highWatermark:...").
QUALIFIED_FIELDS = {
    ("CreationMetadata", "tablesUsed"),
    ("GetValidWriteIdsRequest", "fullTableNames"),
    ("TableValidWriteIds", "fullTableName"),
    ("ReplTblWriteIdStateRequest", "validWriteIdlist"),
}
QUALIFIED_FIELD_NAMES = {"validWriteIdList"}
# Map arguments keyed by "db.table".
QUALIFIED_MAP_KEY_ARGS = {("add_write_ids_to_min_history", "writeIds")}
# View definitions: SQL text with `db`.`table` references.
SQL_FIELDS = {("Table", "viewOriginalText"), ("Table", "viewExpandedText")}

# A struct type may appear at most this many times on the way down a path
# (Table -> CreationMetadata -> SourceTable -> Table is followed once).
MAX_SAME_STRUCT = 2

KINDS = ["DB", "PATTERN", "OBJNAME", "QUALIFIED", "SQL"]

# ---------------------------------------------------------------------------
# Reviewed differences between the facts file and the IDL derivation.
# Key (method, direction, kind, path); value: why the IDL side is right.
# Anything not listed here and not equal on both sides stops the script.
# ---------------------------------------------------------------------------

REVIEWED_EXTRA_PATTERNS = [
    # The facts file has no view texts at all.
    (r"SQL \[.*", "view texts (Table.viewOriginalText/viewExpandedText) are SQL "
     "with db.table references"),
    (r"QUALIFIED \[2, 16, 4, \*\]", "Table.creationMetadata.tablesUsed of add_index's index table"),
    (r"QUALIFIED \[.*\b7, \*, 1, 16, 4, \*\]",
     "CreationMetadata.sourceTables[*].table.creationMetadata.tablesUsed"),
    # The facts file has no ValidWriteIdList strings.
    (r"QUALIFIED \[.*", "a ValidWriteIdList string starts with the qualified table name"),
    # Table.colStats (Hive 4) is a ColumnStatistics whose desc names the
    # database; the facts file has it for some methods only (it read older
    # IDLs for get_table, get_table_objects_by_name and add_index).
    (r"DB \[.*\b21, 1, 2\]", "Table.colStats.statsDesc.dbName"),
    # Table.creationMetadata.dbName of add_index's index table, as for
    # every other Table argument.
    (r"DB \[2, 16, 2\]", "Table.creationMetadata.dbName"),
    # A source table of a materialized view is a whole Table; the facts file
    # stops one level earlier than the generator (MAX_SAME_STRUCT).
    (r"DB \[.*\b7, \*, 1, 2\]", "CreationMetadata.sourceTables[*].table.dbName"),
    (r"DB \[.*\b7, \*, 1, 16, 2\]", "CreationMetadata.sourceTables[*].table.creationMetadata.dbName"),
]

# ---------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------
# A method writes when it changes state kept by the metastore (objects,
# statistics, privileges, transactions, locks, tokens, events, settings).
# Rule: the name starts with one of WRITE_PREFIXES or is in WRITE_NAMES; it
# reads when it starts with one of READ_PREFIXES or is in READ_NAMES. Every
# method must fall in exactly one class (the script stops otherwise).
WRITE_PREFIXES = (
    "create_", "drop_", "alter_", "add_", "update_", "delete_", "set_",
    "rename_", "truncate_", "exchange_", "mark_", "grant_", "revoke_",
    "commit_", "abort_", "append_", "put_", "clear_", "remove_", "seed_",
    "allocate_", "cancel_", "renew_", "compact", "lock", "unlock",
    "heartbeat", "open_txns", "fire_", "refresh_", "repl_", "cache_",
    "map_", "scheduled_query_", "write_", "cm_recycle", "flushCache",
    "setMetaConf", "setOption", "markPartitionForEvent", "reinitialize",
)
WRITE_NAMES = {
    # get_ names that change state
    "get_delegation_token",               # issues and stores a token
    "get_lock_materialization_rebuild",   # takes a lock
    "find_next_compact", "find_next_compact2",  # claims a compaction job
    "check_lock",                         # may acquire a waiting lock
    "submit_for_cleanup",                 # queues a cleaner job
}
READ_PREFIXES = (
    "get_", "list_", "show_", "partition_name_", "is", "validate_",
    "translate_table_dryrun", "find_", "fetch_", "getMetaConf",
)
READ_NAMES = {
    "getName", "getVersion", "getStatus", "getStatusDetails", "getCounters",
    "getCounter", "getOption", "getOptions", "getCpuProfile", "aliveSince",
    "set_ugi",     # binds a user to the connection; nothing is stored
    "shutdown",    # fb303: the metastore only drops its per-thread state
}
# (scheduled_query_poll claims the next due query: a write, by its prefix.)

# ---------------------------------------------------------------------------
# Fan-out: calls sent to every backend with the replies merged (as Waggle
# Dance's PanopticOperationHandler does), and how they merge.
# ---------------------------------------------------------------------------
FANOUT = {
    "get_all_databases": "STRINGS_SORTED",
    "get_databases": "STRINGS_SORTED",
    "get_table_meta": "LIST",
    "get_all_functions": "FUNCTIONS",
    "set_ugi": "SAME",
}


def die(msg):
    sys.stderr.write("gen_rules: " + msg + "\n")
    sys.exit(1)


# ---------------------------------------------------------------------------
# IDL
# ---------------------------------------------------------------------------

class Idl:
    def __init__(self, thrift):
        tmp = tempfile.mkdtemp(prefix="hms_rules.")
        try:
            docs = {}
            for name in ("hive_metastore", "fb303"):
                subprocess.run([thrift, "--gen", "json", "-out", tmp,
                                os.path.join(HERE, name + ".thrift")], check=True)
                with open(os.path.join(tmp, name + ".json")) as f:
                    docs[name] = json.load(f)
        finally:
            shutil.rmtree(tmp)
        self.structs = {}
        for prog, doc in docs.items():
            for s in doc["structs"]:
                self.structs[s["name"]] = s
                self.structs[prog + "." + s["name"]] = s
        self.methods = {}
        for prog, service in (("hive_metastore", "ThriftHiveMetastore"), ("fb303", "FacebookService")):
            svcs = [s for s in docs[prog]["services"] if s["name"] == service]
            if len(svcs) != 1:
                die("service %s not found" % service)
            for fn in svcs[0]["functions"]:
                if fn["name"] in self.methods:
                    die("method %s twice" % fn["name"])
                fn["service"] = service
                self.methods[fn["name"]] = fn
        self.versions = self._read_versions()

    def _read_versions(self):
        """Versions from the comment line(s) just above each method."""
        text = open(os.path.join(HERE, "hive_metastore.thrift")).read()
        body = text[text.index("service ThriftHiveMetastore"):]
        out = {}
        comment = []
        for line in body.splitlines()[1:]:
            s = line.strip()
            if s.startswith("#"):
                comment.append(s)
                continue
            m = re.match(r"(?:oneway\s+)?[\w<>, .]+?\s+(\w+)\s*\(", s)
            if m and m.group(1) in self.methods:
                c = " ".join(comment)
                if "Hive 2.3 only" in c:
                    v = {"2.3"}
                elif "removed in 4" in c:
                    v = {"2.3", "3.1"}
                elif "since 4.0" in c:
                    v = {"4"}
                elif "since 3.0" in c:
                    v = {"3.1", "4"}
                else:
                    v = {"2.3", "3.1", "4"}
                out[m.group(1)] = v
            if s and not s.startswith("throws"):
                comment = []
        for name, fn in self.methods.items():
            if fn["service"] == "FacebookService":
                out[name] = {"2.3", "3.1", "4"}
            elif name not in out:
                die("no version found for %s" % name)
        return out

    def struct(self, t):
        cls = t["class"]
        if cls not in self.structs:
            die("unknown struct %s" % cls)
        return self.structs[cls]

    def resolve(self, root_fields, path):
        """Type id that `path` reaches from a struct with `root_fields`."""
        fields, t = root_fields, None
        i = 0
        while i < len(path):
            step = path[i]
            if isinstance(step, int):
                if fields is None:
                    return None
                f = [x for x in fields if x["key"] == step]
                if not f:
                    return None
                t = {"typeId": f[0]["typeId"], **f[0].get("type", {})}
            else:
                if t is None:
                    return None
                if step == ELEM and t["typeId"] in ("list", "set"):
                    t = {"typeId": t["elemTypeId"], **t.get("elemType", {})}
                elif step == KEY and t["typeId"] == "map":
                    t = {"typeId": t["keyTypeId"], **t.get("keyType", {})}
                elif step == VAL and t["typeId"] == "map":
                    t = {"typeId": t["valueTypeId"], **t.get("valueType", {})}
                else:
                    return None
            fields = self.struct(t)["fields"] if t["typeId"] in ("struct", "union", "exception") else None
            i += 1
        return t["typeId"] if t else None


# ---------------------------------------------------------------------------
# Derivation from the IDL
# ---------------------------------------------------------------------------

def field_type(f):
    return {"typeId": f["typeId"], **f.get("type", {})}


def walk_strings(idl, t, path, owner, fname, stack, out):
    """Every string reachable from type t; out gets (path, owner struct, field)."""
    tid = t["typeId"]
    if tid in ("string", "binary"):
        out.append((tuple(path), owner, fname))
    elif tid in ("list", "set"):
        walk_strings(idl, {"typeId": t["elemTypeId"], **t.get("elemType", {})},
                     path + [ELEM], owner, fname, stack, out)
    elif tid == "map":
        walk_strings(idl, {"typeId": t["keyTypeId"], **t.get("keyType", {})},
                     path + [KEY], owner, fname, stack, out)
        walk_strings(idl, {"typeId": t["valueTypeId"], **t.get("valueType", {})},
                     path + [VAL], owner, fname, stack, out)
    elif tid in ("struct", "union", "exception"):
        s = idl.struct(t)
        if stack.count(s["name"]) >= MAX_SAME_STRUCT:
            return
        for f in s["fields"]:
            walk_strings(idl, field_type(f), path + [f["key"]], s["name"], f["name"],
                         stack + [s["name"]], out)


def classify(method, owner, fname, path):
    """Kind of the string at path, or None."""
    if owner is None:  # a top-level argument (or the success value itself)
        if (method, fname) in PATTERN_ARGS:
            return "PATTERN"
        if fname in DB_ARGS or (fname == "name" and method in DB_NAME_ARG_METHODS):
            return "DB"
        if (method, fname) in QUALIFIED_MAP_KEY_ARGS and path[-1] == KEY:
            return "QUALIFIED"
        return None
    if (owner, fname) in NOT_DB_FIELDS:
        return None
    if fname in DB_FIELDS or (owner, fname) in DB_STRUCT_FIELDS:
        return "DB"
    if (owner, fname) in OBJNAME_FIELDS:
        return "OBJNAME"
    if (owner, fname) in QUALIFIED_FIELDS or fname in QUALIFIED_FIELD_NAMES:
        return "QUALIFIED"
    if (owner, fname) in SQL_FIELDS:
        return "SQL"
    return None


def derive(idl, name):
    fn = idl.methods[name]
    args, res = {k: [] for k in KINDS}, {k: [] for k in KINDS}
    for a in fn["arguments"]:
        found = []
        walk_strings(idl, field_type(a), [a["key"]], None, a["name"], [], found)
        for path, owner, fname in found:
            k = classify(name, owner, fname, path)
            if k:
                args[k].append(path)
    if fn["returnTypeId"] != "void":
        found = []
        walk_strings(idl, {"typeId": fn["returnTypeId"], **fn.get("returnType", {})},
                     [0], None, "success", [], found)
        for path, owner, fname in found:
            # a bare list<string> of database names is known by method only
            k = classify(name, owner, fname, path) if owner else None
            if owner is None and name in ("get_all_databases", "get_databases"):
                k = "DB"
            if k:
                res[k].append(path)
    return args, res


# ---------------------------------------------------------------------------
# Facts file
# ---------------------------------------------------------------------------

def fact_path(p):
    return tuple(p)


def facts_paths(m):
    args, res = {k: [] for k in KINDS}, {k: [] for k in KINDS}
    for p in m.get("db_paths", []):
        args["DB"].append(fact_path(p))
    for p in m.get("db_pattern_paths", []):
        args["PATTERN"].append(fact_path(p))
    for p in m.get("resp_db_paths", []):
        res["DB"].append(fact_path(p))
    for c in m.get("db_cond_paths", []):
        (res if c.get("reply") else args)["OBJNAME"].append(fact_path(c["path"]))
    for e in m.get("db_embedded_paths", []):
        if e.get("form") != "db.table":
            die("%s: unknown embedded form %r" % (m["name"], e.get("form")))
        (res if e.get("reply") else args)["QUALIFIED"].append(fact_path(e["path"]))
    return args, res


def fmt_path(p):
    return ", ".join(str(x) for x in p)


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------

def write_class(name):
    w = name in WRITE_NAMES or (name.startswith(WRITE_PREFIXES) and name not in READ_NAMES)
    r = name in READ_NAMES or (name.startswith(READ_PREFIXES) and name not in WRITE_NAMES)
    if w == r:
        die("%s: cannot tell whether it writes (extend WRITE_*/READ_*)" % name)
    return w


def build(idl, facts, report):
    by_name = {}
    for m in facts:
        if m["name"] in by_name:
            die("facts: %s twice" % m["name"])
        by_name[m["name"]] = m
    missing = sorted(set(idl.methods) - set(by_name))
    extra = sorted(set(by_name) - set(idl.methods))
    if missing or extra:
        die("facts and IDL differ: only in IDL %s, only in facts %s" % (missing, extra))

    rules = []
    problems = []
    for name in sorted(idl.methods):
        fn, m = idl.methods[name], by_name[name]
        if m["service"] != fn["service"]:
            problems.append("%s: service %s in facts, %s in IDL" % (name, m["service"], fn["service"]))
        if bool(m["oneway"]) != bool(fn["oneway"]):
            problems.append("%s: oneway differs" % name)
        fv = set()
        if m.get("in_hive_2_3"):
            fv.add("2.3")
        if m.get("in_hive_3_1"):
            fv.add("3.1")
        if m.get("in_hive_master"):
            fv.add("4")
        if fv != idl.versions[name]:
            problems.append("%s: versions %s in facts, %s in IDL comments" %
                            (name, sorted(fv), sorted(idl.versions[name])))
        dargs, dres = derive(idl, name)
        fargs, fres = facts_paths(m)
        fields = {"args": fn["arguments"], "result": [{"key": 0, "typeId": fn["returnTypeId"],
                                                         "type": fn.get("returnType", {})}]}
        for direction, dd, ff in (("args", dargs, fargs), ("result", dres, fres)):
            for k in KINDS:
                for p in ff[k]:
                    t = idl.resolve(fields[direction], p)
                    if t not in ("string", "binary"):
                        problems.append("%s %s %s [%s]: facts path reaches %s" %
                                        (name, direction, k, fmt_path(p), t))
                ds, fs = set(dd[k]), set(ff[k])
                for p in sorted(fs - ds, key=str):
                    problems.append("%s %s %s [%s]: in facts, not derived from the IDL" %
                                    (name, direction, k, fmt_path(p)))
                for p in sorted(ds - fs, key=str):
                    key = "%s [%s]" % (k, fmt_path(p))
                    why = [w for pat, w in REVIEWED_EXTRA_PATTERNS if re.fullmatch(pat, key)]
                    if not why:
                        problems.append("%s %s %s: derived from the IDL, not in facts" %
                                        (name, direction, key))
                    elif report:
                        print("reviewed: %s %s %s -- %s" % (name, direction, key, why[0]))
        for p in [p for d in (dargs, dres) for v in d.values() for p in v]:
            if len(p) > 16:
                problems.append("%s: path [%s] longer than TW_MAX_STEPS" % (name, fmt_path(p)))
        nargs = sum(len(v) for v in dargs.values())
        nres = sum(len(v) for v in dres.values())
        if nargs > 32 or nres > 32:
            problems.append("%s: more than 32 paths (%d, %d)" % (name, nargs, nres))
        routes = dargs["DB"] or dargs["PATTERN"] or dargs["OBJNAME"] or dargs["QUALIFIED"]
        flags = []
        if write_class(name):
            flags.append("HMS_WRITE")
        if fn["oneway"]:
            flags.append("HMS_ONEWAY")
        if fn["service"] == "FacebookService":
            flags.append("HMS_FB303")
        merge = FANOUT.get(name)
        if merge:
            flags.append("HMS_FANOUT")
        elif not routes:
            flags.append("HMS_NO_DB")
        exc = {e["type"].get("class"): e["key"] for e in fn.get("exceptions", [])}
        rules.append({"name": name, "flags": flags, "merge": merge or "NONE",
                      "versions": idl.versions[name], "args": dargs, "result": dres,
                      "meta": exc.get("MetaException", -1), "nso": exc.get("NoSuchObjectException", -1)})
    if problems:
        die("unresolved differences:\n  " + "\n  ".join(problems))
    return rules


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

HEADER = """\
/*
 * hms_rules.c: the rule of every Hive Metastore method (hms_rules.h).
 *
 * Generated by hms-thrift/gen_rules.py from our IDL (hive_metastore.thrift,
 * fb303.thrift) and the metastore method facts file, then reviewed. Do not
 * edit by hand: change the generator and run it again. The ctest
 * hms_rules_idl proves this table against the IDL.
 *
 * Paths use thrift_walk.h's steps; each method's paths are grouped by kind
 * in enum hms_path_kind order, the counts in hms_paths.n[].
 */
#include "hms_rules.h"

#include <string.h>

#define E TW_ELEM
#define K TW_KEY
#define V TW_VAL
"""

FOOTER = """
#undef E
#undef K
#undef V

#define NRULES (sizeof(rules) / sizeof(rules[0]))

size_t hms_rule_count(void)
{
    return NRULES;
}

const struct hms_rule *hms_rule_at(size_t i)
{
    return i < NRULES ? &rules[i] : NULL;
}

const struct hms_rule *hms_rule_find(const char *name, size_t len)
{
    size_t lo = 0, hi = NRULES;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *r = rules[mid].name;
        size_t rlen = strlen(r);
        int c = memcmp(name, r, len < rlen ? len : rlen);
        if (c == 0)
            c = (len > rlen) - (len < rlen);
        if (c == 0)
            return &rules[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct hms_rule *hms_rule_lookup(const char *name)
{
    return hms_rule_find(name, strlen(name));
}
"""


def c_step(x):
    return {ELEM: "E", KEY: "K", VAL: "V"}.get(x, str(x))


def c_paths(paths, indent):
    """One direction's initializer; long path lists are wrapped."""
    allp = [p for k in KINDS for p in paths[k]]
    counts = "{ %s }" % ", ".join(str(len(paths[k])) for k in KINDS)
    if not allp:
        return "{ { NULL, 0 }, %s }" % counts
    items = ["TW_P(%s)" % ", ".join(c_step(x) for x in p) for p in allp]
    one = "{ TW_PS(%s), %s }" % (", ".join(items), counts)
    if len(one) + indent <= 100:
        return one
    pad = " " * (indent + 8)
    lines, cur = [], ""
    for it in items:
        if cur and len(pad) + len(cur) + len(it) + 2 > 100:
            lines.append(cur + ",")
            cur = ""
        cur = cur + ", " + it if cur else it
    lines.append(cur)
    return "{ TW_PS(\n%s%s),\n%s  %s }" % (pad, ("\n" + pad).join(lines), " " * indent, counts)


def emit(rules, out):
    # memcmp order == strcmp order on the bytes; Python sorts str by code
    # point, the same for ASCII names.
    names = [r["name"] for r in rules]
    if names != sorted(names, key=lambda s: s.encode()):
        die("rules not sorted")
    lines = [HEADER, "static const struct hms_rule rules[] = {"]
    for r in rules:
        v = [{"2.3": "HMS_V2_3", "3.1": "HMS_V3_1", "4": "HMS_V4"}[x]
             for x in ("2.3", "3.1", "4") if x in r["versions"]]
        lines.append("    { \"%s\", %s, HMS_MERGE_%s, %s, %d, %d," % (
            r["name"], " | ".join(r["flags"]) or "0", r["merge"], " | ".join(v), r["meta"], r["nso"]))
        lines.append("      %s," % c_paths(r["args"], 6))
        lines.append("      %s }," % c_paths(r["result"], 6))
    lines.append("};")
    lines.append(FOOTER)
    text = "\n".join(lines)
    with open(out, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("facts")
    ap.add_argument("--thrift", default=shutil.which("thrift") or "thrift")
    ap.add_argument("-o", "--out", default=os.path.join(HERE, "hms_rules.c"))
    ap.add_argument("--report", action="store_true", help="list the reviewed differences")
    a = ap.parse_args()
    with open(a.facts) as f:
        facts = json.load(f)
    idl = Idl(a.thrift)
    rules = build(idl, facts, a.report)
    emit(rules, a.out)
    print("gen_rules: %d rules written to %s" % (len(rules), os.path.basename(a.out)))


if __name__ == "__main__":
    main()
