#!/usr/bin/env bash
# run_bench.sh: the former name of the benchmark runner; it runs run.sh
# (same arguments and BENCH_* environment; see `run.sh --help`).
exec bash "$(dirname "${BASH_SOURCE[0]}")/run.sh" "$@"
