#!/usr/bin/env bash
# The one test command: installs missing dependencies, builds (a normal build
# and, when clang is present, the libFuzzer targets), runs every test with
# ctest and ends with ctest's summary line.
#
#   tests/run.sh              everything
#   FR_SANITIZE=1 tests/run.sh   the same suite built with ASan + UBSan
#   FR_FUZZ_SECONDS=N         how long each libFuzzer target runs (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bash deploy/install-deps.sh

JOBS=$(nproc 2>/dev/null || echo 2)
BUILD=${FR_BUILD_DIR:-$ROOT/build}
SAN=OFF
if [ "${FR_SANITIZE:-0}" = 1 ]; then
  SAN=ON
  BUILD=${FR_BUILD_DIR:-$ROOT/build-asan}
fi

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEDROUTER_SANITIZE=$SAN >/dev/null
cmake --build "$BUILD" -j"$JOBS"

# Coverage-guided fuzzing, bounded in time, when clang is here.
FUZZ_SECONDS=${FR_FUZZ_SECONDS:-60}
if command -v clang >/dev/null 2>&1 && [ "$FUZZ_SECONDS" != 0 ]; then
  FB=$ROOT/build-fuzz
  CC=clang cmake -S "$ROOT" -B "$FB" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEDROUTER_FUZZ=ON >/dev/null
  export FR_FUZZ_BUILD_DIR=$FB FR_FUZZ_SECONDS=$FUZZ_SECONDS
  cmake --build "$FB" -j"$JOBS" --target fuzz_targets
fi

cd "$BUILD"
ctest --output-on-failure -j"${FR_TEST_JOBS:-2}" --timeout 900
