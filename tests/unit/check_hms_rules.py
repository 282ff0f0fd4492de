#!/usr/bin/python3
"""Proves the metastore rule table (hms-thrift/hms_rules.c) against our IDL.

    check_hms_rules.py --thrift THRIFT --idl-dir DIR --work DIR --dump PROG [ARGS...]
    check_hms_rules.py --thrift THRIFT --idl-dir DIR --work DIR --rules DUMP_FILE

The IDL (hive_metastore.thrift, fb303.thrift) is compiled with
`thrift --gen json`; the table comes from `test_hms_rules dump` (one JSON
object per rule and line). Checks:

  1. every method of ThriftHiveMetastore and of the service it extends
     (FacebookService) has exactly one rule, and every rule names a method;
     the table is sorted by name (byte order);
  2. every argument path resolves through `<method>_args` (field ids, named
     structs, lists, sets, maps) to a `string`; every result path starts at
     field 0 (success) of `<method>_result` and resolves to a `string`;
     kinds are where they belong (HiveObjectRef.objectName, Table view texts);
  3. flags agree with the IDL: HMS_ONEWAY == oneway, HMS_FB303 == declared in
     FacebookService; HMS_NO_DB exactly when no argument path can select a
     backend and the call does not fan out; every fan-out has a merge whose
     shape fits the success type;
  4. the version note agrees with the comment above the method in the IDL;
  5. no database-name field is missed: every string reachable in the
     arguments or the success value through a field named like a database
     (dbName, db_name, ...) is one of the rule's database paths.

Then the checker checks itself: it breaks the table in several ways (a path
pointing at an i32, an unknown field, a missing rule, a flipped oneway flag, a
dropped database path) and expects each to be reported.
"""

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys

KINDS = ["DB", "PATTERN", "OBJNAME", "QUALIFIED", "SQL"]
ROUTING_KINDS = ["DB", "PATTERN", "OBJNAME", "QUALIFIED"]
ELEM, KEY, VAL = "*", "*k", "*v"

# Field names that always hold a database name (check 5), with the few
# (struct, field) pairs named otherwise or named so without being one.
DB_FIELDS = {"dbName", "db_name", "dbname", "db", "database", "databaseName",
             "table_db", "pktable_db", "fktable_db", "parent_db_name",
             "foreign_db_name", "oldDbName"}
DB_STRUCT_FIELDS = {("Database", "name"), ("GetDatabaseRequest", "name"),
                    ("DropDatabaseRequest", "name")}
NOT_DB = {("Database", "remote_dbname"), ("CreateDatabaseRequest", "remote_dbname")}
DB_ARGS = {"dbName", "db_name", "dbname", "source_db", "dest_db"}
# The walk of check 5 follows a struct at most this often along one path
# (Table -> creationMetadata -> sourceTables -> Table is followed once).
MAX_SAME_STRUCT = 2


class Idl:
    def __init__(self, thrift, idl_dir, work):
        if os.path.isdir(work):
            shutil.rmtree(work)
        os.makedirs(work)
        docs = {}
        for name in ("hive_metastore", "fb303"):
            subprocess.run([thrift, "--gen", "json", "-out", work,
                            os.path.join(idl_dir, name + ".thrift")], check=True)
            with open(os.path.join(work, name + ".json")) as f:
                docs[name] = json.load(f)
        self.structs = {}
        for prog, doc in docs.items():
            for s in doc["structs"]:
                self.structs[s["name"]] = s
                self.structs[prog + "." + s["name"]] = s
        main = [s for s in docs["hive_metastore"]["services"] if s["name"] == "ThriftHiveMetastore"]
        if len(main) != 1:
            raise SystemExit("ThriftHiveMetastore not found in the IDL")
        base = main[0].get("extends", "")
        base_prog, _, base_name = base.rpartition(".")
        bases = [s for s in docs.get(base_prog, {}).get("services", []) if s["name"] == base_name]
        if len(bases) != 1:
            raise SystemExit("base service %r not found" % base)
        self.methods = {}
        self.dupes = []
        for svc in (main[0], bases[0]):
            for fn in svc["functions"]:
                if fn["name"] in self.methods:
                    self.dupes.append(fn["name"])
                fn["service"] = svc["name"]
                self.methods[fn["name"]] = fn
        self.versions = self._versions(os.path.join(idl_dir, "hive_metastore.thrift"))

    def _versions(self, path):
        text = open(path).read()
        body = text[text.index("service ThriftHiveMetastore"):]
        out, comment = {}, []
        for line in body.splitlines()[1:]:
            s = line.strip()
            if s.startswith("#"):
                comment.append(s)
                continue
            m = re.match(r"(?:oneway\s+)?[\w<>, .]+?\s+(\w+)\s*\(", s)
            if m and m.group(1) in self.methods:
                c = " ".join(comment)
                if "Hive 2.3 only" in c:
                    out[m.group(1)] = ["2.3"]
                elif "removed in 4" in c:
                    out[m.group(1)] = ["2.3", "3.1"]
                elif "since 4.0" in c:
                    out[m.group(1)] = ["4"]
                elif "since 3.0" in c:
                    out[m.group(1)] = ["3.1", "4"]
                else:
                    out[m.group(1)] = ["2.3", "3.1", "4"]
            if s and not s.startswith("throws"):
                comment = []
        return out

    def struct_of(self, t):
        return self.structs.get(t.get("class"))


def ftype(f):
    return {"typeId": f["typeId"], **f.get("type", {})}


def elem(t, step):
    if step == ELEM and t["typeId"] in ("list", "set"):
        return {"typeId": t["elemTypeId"], **t.get("elemType", {})}
    if step == KEY and t["typeId"] == "map":
        return {"typeId": t["keyTypeId"], **t.get("keyType", {})}
    if step == VAL and t["typeId"] == "map":
        return {"typeId": t["valueTypeId"], **t.get("valueType", {})}
    return None


def resolve(idl, root, path):
    """Follows path from a struct whose fields are `root`. Returns (type,
    struct declaring the last field id, that field's name), or an error text."""
    fields, t, owner = root, None, "<top>"
    last_owner, fname = None, None
    for i, step in enumerate(path):
        if isinstance(step, int):
            if fields is None:
                return "step %d (%s): a %s is not a struct" % (i, step, t and t["typeId"])
            f = [x for x in fields if x["key"] == step]
            if not f:
                return "step %d: %s has no field %d" % (i, owner, step)
            t, last_owner, fname = ftype(f[0]), owner, f[0]["name"]
        else:
            if t is None:
                return "step %d: %s before any field" % (i, step)
            nt = elem(t, step)
            if nt is None:
                return "step %d: %s on a %s" % (i, step, t["typeId"])
            t = nt
        fields = None
        if t["typeId"] in ("struct", "union", "exception"):
            s = idl.struct_of(t)
            if s is None:
                return "step %d: unknown struct %s" % (i, t.get("class"))
            fields, owner = s["fields"], s["name"]
    return t, last_owner, fname


def db_strings(idl, t, path, owner, fname, stack, out):
    """Paths of every string reached through a database-named field."""
    tid = t["typeId"]
    if tid == "string":
        if owner == "<top>":
            hit = fname in DB_ARGS
        else:
            hit = (owner, fname) not in NOT_DB and (fname in DB_FIELDS or (owner, fname) in DB_STRUCT_FIELDS)
        if hit:
            out.add(tuple(path))
    elif tid in ("list", "set"):
        db_strings(idl, elem(t, ELEM), path + [ELEM], owner, fname, stack, out)
    elif tid == "map":
        db_strings(idl, elem(t, KEY), path + [KEY], owner, fname, stack, out)
        db_strings(idl, elem(t, VAL), path + [VAL], owner, fname, stack, out)
    elif tid in ("struct", "union", "exception"):
        s = idl.struct_of(t)
        if stack.count(s["name"]) >= MAX_SAME_STRUCT:
            return
        for f in s["fields"]:
            db_strings(idl, ftype(f), path + [f["key"]], s["name"], f["name"], stack + [s["name"]], out)


def check(idl, rules):
    errs = []
    names = [r["name"] for r in rules]
    if idl.dupes:
        errs.append("methods declared twice in the IDL: %s" % idl.dupes)
    seen = set()
    for n in names:
        if n in seen:
            errs.append("%s: more than one rule" % n)
        seen.add(n)
    if names != sorted(names, key=lambda s: s.encode()):
        errs.append("the table is not sorted by name")
    for n in sorted(set(idl.methods) - seen):
        errs.append("%s: IDL method without a rule" % n)
    for n in sorted(seen - set(idl.methods)):
        errs.append("%s: rule for a method the IDL does not have" % n)

    for r in rules:
        name = r["name"]
        fn = idl.methods.get(name)
        if fn is None:
            continue
        flags = set(r["flags"])
        roots = {"args": fn["arguments"]}
        if fn["returnTypeId"] != "void":
            roots["result"] = [{"key": 0, "name": "success", "typeId": fn["returnTypeId"],
                                "type": fn.get("returnType", {})}]
        else:
            roots["result"] = []
        # 2. paths
        for direction in ("args", "result"):
            for kind in KINDS:
                for p in r[direction].get(kind, []):
                    where = "%s %s %s %s" % (name, direction, kind, p)
                    if not p:
                        errs.append("%s: empty path" % where)
                        continue
                    if direction == "result" and p[0] != 0:
                        errs.append("%s: result paths start at field 0 (success)" % where)
                        continue
                    res = resolve(idl, roots[direction], p)
                    if isinstance(res, str):
                        errs.append("%s: %s" % (where, res))
                        continue
                    t = res[0]
                    if t["typeId"] != "string":
                        errs.append("%s: reaches %s, not string" % (where, t["typeId"]))
                        continue
                    last, fname = res[1], res[2]
                    if kind == "OBJNAME" and (last, fname) != ("HiveObjectRef", "objectName"):
                        errs.append("%s: OBJNAME path reaches %s.%s" % (where, last, fname))
                    if kind == "SQL" and (last, fname) not in (("Table", "viewOriginalText"),
                                                                ("Table", "viewExpandedText")):
                        errs.append("%s: SQL path reaches %s.%s" % (where, last, fname))
        # 3. flags
        if ("HMS_ONEWAY" in flags) != bool(fn["oneway"]):
            errs.append("%s: HMS_ONEWAY %s, IDL oneway %s" % (name, "HMS_ONEWAY" in flags, fn["oneway"]))
        if ("HMS_FB303" in flags) != (fn["service"] == "FacebookService"):
            errs.append("%s: HMS_FB303 does not match the service (%s)" % (name, fn["service"]))
        routes = any(r["args"].get(k) for k in ROUTING_KINDS)
        fan = "HMS_FANOUT" in flags
        if ("HMS_NO_DB" in flags) != (not routes and not fan):
            errs.append("%s: HMS_NO_DB is %s but the argument paths %s a backend%s" %
                        (name, "HMS_NO_DB" in flags, "select" if routes else "do not select",
                         " (fan-out)" if fan else ""))
        merge = r["merge"]
        if fan != (merge != "NONE"):
            errs.append("%s: fan-out %s with merge %s" % (name, fan, merge))
        ret = {"typeId": fn["returnTypeId"], **fn.get("returnType", {})}
        if merge == "STRINGS_SORTED":
            if not (ret["typeId"] == "list" and ret["elemTypeId"] == "string"
                    and [0, ELEM] in r["result"].get("DB", [])):
                errs.append("%s: STRINGS_SORTED needs a list<string> of database names" % name)
        elif merge == "LIST":
            if not (ret["typeId"] == "list" and ret["elemTypeId"] == "struct"
                    and any(p[:2] == [0, ELEM] for p in r["result"].get("DB", []))):
                errs.append("%s: LIST needs a list of structs with a database name" % name)
        elif merge == "FUNCTIONS":
            s = idl.struct_of(ret) if ret["typeId"] == "struct" else None
            f1 = [f for f in (s or {}).get("fields", []) if f["key"] == 1]
            if not (f1 and f1[0]["typeId"] == "list" and
                    f1[0]["type"].get("elemType", {}).get("class") == "Function"):
                errs.append("%s: FUNCTIONS needs a struct whose field 1 is list<Function>" % name)
        # 4. versions
        want = idl.versions.get(name, ["2.3", "3.1", "4"]) if fn["service"] != "FacebookService" \
            else ["2.3", "3.1", "4"]
        if sorted(r["versions"]) != sorted(want):
            errs.append("%s: versions %s, IDL says %s" % (name, r["versions"], want))
        # 5. coverage
        for direction in ("args", "result"):
            found = set()
            for f in roots[direction]:
                db_strings(idl, ftype(f), [f["key"]], "<top>" if direction == "args" else "<success>",
                           f["name"], [], found)
            have = {tuple(p) for p in r[direction].get("DB", [])}
            for p in sorted(found - have, key=str):
                errs.append("%s %s: database field at %s has no DB path" % (name, direction, list(p)))
    return errs


def self_test(idl, rules):
    """Breaks the table in several ways; each must be reported."""
    by = {r["name"]: i for i, r in enumerate(rules)}
    cases = []

    def case(label, fn):
        t = copy.deepcopy(rules)
        fn(t)
        cases.append((label, t))

    case("a pattern path to a list<string>",
         lambda t: t[by["get_table_meta"]]["args"]["PATTERN"].__setitem__(0, [3]))
    case("a database path to a bool",
         lambda t: t[by["drop_database"]]["args"]["DB"].__setitem__(0, [2]))
    case("a path into a struct field of a string",
         lambda t: t[by["get_table_req"]]["args"]["DB"].__setitem__(0, [1, 1, 2]))
    case("a path through an unknown field id",
         lambda t: t[by["create_table"]]["args"]["DB"].append([1, 99, 2]))
    case("a result path not starting at success",
         lambda t: t[by["get_all_databases"]]["result"]["DB"].append([1, ELEM]))
    case("a missing rule", lambda t: t.pop(by["get_database"]))
    case("a rule for no method",
         lambda t: t.insert(by["get_database"] + 1, dict(copy.deepcopy(t[by["get_database"]]),
                                                          name="get_databasez")))
    case("a flipped oneway flag", lambda t: t[by["shutdown"]]["flags"].remove("HMS_ONEWAY"))
    case("a dropped database path", lambda t: t[by["get_table_req"]]["args"]["DB"].pop(0))
    case("a wrong version note", lambda t: t[by["get_table"]]["versions"].append("4"))
    case("NO_DB on a routed method", lambda t: t[by["get_all_tables"]]["flags"].append("HMS_NO_DB"))
    failed = []
    for label, t in cases:
        if not check(idl, t):
            failed.append(label)
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--thrift", default="thrift")
    ap.add_argument("--dump", nargs="+", help="command printing the table (test_hms_rules dump)")
    ap.add_argument("--idl-dir", required=True)
    ap.add_argument("--work", required=True, help="scratch directory for the generated JSON")
    ap.add_argument("--rules", help="read the dump from this file instead of running --dump")
    a = ap.parse_args()
    idl = Idl(a.thrift, a.idl_dir, a.work)
    if a.rules:
        text = open(a.rules).read()
    else:
        if not a.dump:
            ap.error("--dump or --rules is needed")
        text = subprocess.run(a.dump, check=True, stdout=subprocess.PIPE, text=True).stdout
    rules = [json.loads(line) for line in text.splitlines() if line.strip()]
    errs = check(idl, rules)
    for e in errs:
        print("FAIL " + e)
    npaths = sum(len(p) for r in rules for d in ("args", "result") for p in r[d].values())
    print("%d IDL methods, %d rules, %d paths checked, %d problems" %
          (len(idl.methods), len(rules), npaths, len(errs)))
    if errs:
        return 1
    missed = self_test(idl, rules)
    for m in missed:
        print("FAIL self-test: the checker did not notice %s" % m)
    if missed:
        return 1
    print("self-test: every deliberate break was reported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
