#!/usr/bin/env bash
# Runs one libFuzzer target for FR_FUZZ_SECONDS from the build in
# FR_FUZZ_BUILD_DIR; exit 77 (skipped) when there is no such build.
set -euo pipefail
t=$1
bin=${FR_FUZZ_BUILD_DIR:-}/tests/fuzz/$t
if [ -z "${FR_FUZZ_BUILD_DIR:-}" ] || [ ! -x "$bin" ]; then
  echo "no libFuzzer build of $t (needs clang; tests/run.sh makes one)"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
# A target may bring a dictionary of tokens (tests/fuzz/<target>.dict).
dict=()
here=$(cd "$(dirname "$0")" && pwd)
if [ -f "$here/$t.dict" ]; then dict=(-dict="$here/$t.dict"); fi
# And a checked-in seed corpus (tests/fuzz/corpus/<target>/), read only.
seeds=()
if [ -d "$here/corpus/$t" ]; then seeds=("$here/corpus/$t"); fi
"$bin" -max_total_time="${FR_FUZZ_SECONDS:-60}" -max_len=4096 -rss_limit_mb=1024 "${dict[@]}" \
  -print_final_stats=1 "$work/corpus" "${seeds[@]}" 2>"$work/log" || { tail -50 "$work/log"; exit 1; }
grep -E 'stat::number_of_executed_units|Done' "$work/log" | tail -2
