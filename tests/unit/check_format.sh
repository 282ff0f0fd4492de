#!/bin/sh
# Fails when a C file of the formatted folders differs from what
# clang-format makes of it with the repository's .clang-format. Folders join
# this list once they have been brought to the formatter's layout (the rest
# of the tree still aligns its field comments by hand, which clang-format
# cannot keep).
set -eu
cd "$(dirname "$0")/../.."
command -v clang-format >/dev/null 2>&1 || { echo "clang-format is not installed"; exit 1; }
bad=0
for f in lib/*.c lib/*.h auth/*.c auth/*.h tests/unit/test_conn.c; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (run: clang-format -i $f)"
        bad=1
    fi
done
exit $bad
