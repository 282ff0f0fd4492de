#!/usr/bin/python3
"""config_consumers.py: every key of the config table has a consumer.

    /usr/bin/python3 tests/unit/config_consumers.py SOURCE_DIR

Reads the [router] / [statestore] / [security] key table in router/config.c
and, for each key, the struct field it fills (R(field) / S(field) /
X(field)). The key counts as used when `router.FIELD` (or `store.FIELD`,
`security.FIELD`) appears in a C file outside
router/config.[ch], as it does where main.c or a module reads the struct
config it was given. A key that
`fedrouter --help` documents but nothing reads fails this test: wire it, or
leave it out of the table until its feature exists.

PENDING lists keys being wired elsewhere; they are reported, not failed.
"""
import os
import re
import sys

PENDING = {}  # keys whose consumer lands in another change: none now
DIRS = ("router", "statestore", "lib", "hdfs-proto", "hms-thrift")


def table_keys(config_c):
    """[(key name, 'router'|'store'|'security', field)] in table order."""
    text = open(config_c).read()
    body = text[text.index("static const struct cfg_key table[]"):]
    body = body[:body.index("};")]
    keys = re.findall(r'\{SEC_(ROUTER|STORE|SECURITY),\s*"([^"]+)".*?\b([RSX])\((\w+)\)', body, re.S)
    sec = {"R": "router", "S": "store", "X": "security"}
    return [(name, sec[m], field) for _, name, m, field in keys]


def sources(root):
    for d in DIRS:
        for dirpath, _, files in os.walk(os.path.join(root, d)):
            for f in files:
                if f.endswith((".c", ".h")):
                    p = os.path.join(dirpath, f)
                    if os.path.relpath(p, root) not in ("router/config.c", "router/config.h"):
                        yield p


def main(argv):
    if len(argv) != 2:
        print("usage: config_consumers.py SOURCE_DIR", file=sys.stderr)
        return 2
    root = argv[1]
    keys = table_keys(os.path.join(root, "router", "config.c"))
    if len(keys) < 10:
        print("not ok - read the key table: only %d keys found" % len(keys))
        return 1
    text = "\n".join(open(p, errors="replace").read() for p in sources(root))
    failed = 0
    for name, sec, field in keys:
        used = re.search(r"\b%s\.%s\b" % (sec, field), text)
        if used:
            print("ok - %s (%s.%s)" % (name, sec, field))
        elif field in PENDING:
            print("ok - %s # pending: %s" % (name, PENDING[field]))
        else:
            failed += 1
            print("not ok - %s: nothing outside router/config.c reads %s.%s" % (name, sec, field))
    for field in PENDING:
        if any(f == field for _, _, f in keys) and re.search(r"\.%s\b" % field, text):
            print("# %s now has a consumer: drop it from PENDING" % field)
    print("%d keys, %d without a consumer" % (len(keys), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
