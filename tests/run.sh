#!/usr/bin/env bash
# The one test command: installs missing dependencies, builds, and runs every
# test with ctest: first the whole suite built with AddressSanitizer and
# UBSan, then the concurrent tests built with ThreadSanitizer, then the
# normal build (whose ctest summary is the last line), with the libFuzzer
# targets run for a bounded time when clang is present.
#
#   FR_SANITIZE=0        skip the sanitizer pass
#   FR_TSAN=0            skip the ThreadSanitizer pass of the concurrent tests
#   FR_FUZZ_SECONDS=N    how long each libFuzzer target runs (default 60; 0 = skip)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bash deploy/install-deps.sh

JOBS=$(nproc 2>/dev/null || echo 2)
BUILD=${FR_BUILD_DIR:-$ROOT/build}
ASAN_BUILD=$ROOT/build-asan

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEDROUTER_SANITIZE=OFF >/dev/null
cmake --build "$BUILD" -j"$JOBS"

if [ "${FR_SANITIZE:-1}" != 0 ]; then
  cmake -S "$ROOT" -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=Debug -DFEDROUTER_SANITIZE=ON >/dev/null
  cmake --build "$ASAN_BUILD" -j"$JOBS"
  echo "== the suite under AddressSanitizer + UBSan =="
  # Every process a test starts writes its sanitizer reports into
  # build-asan/sanitizer-reports; the last test, sanitizer_reports, fails
  # listing them (tests/sanitizers.cmake).
  (cd "$ASAN_BUILD" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
     ctest --output-on-failure -j"${FR_TEST_JOBS:-2}" --timeout 900 -E libfuzzer)
fi

# ThreadSanitizer over the tests whose code runs on several threads: the
# worker inbox, the log, the resolver, the crypto threads, the upstream
# pools, and routers (worker, admin, statestore, resolver and crypto
# threads) under end-to-end load.
TSAN_TESTS='^(krb_upstream_kerberos|unit_inbox|unit_log|unit_resolve|unit_conn|unit_conn_crypto|integ_upstream|integ_ha|integ_hms_up|e2e_router_hdfs_cli|e2e_rbf_pools_admin|limits_fd_exhaustion|limits_max_conns|limits_sigterm_drain|limits_upstream_many_users|e2e_router_classes|e2e_rbf_paths|e2e_router_hms|e2e_hms_federation|zk_routers|zk_routers_ha|krb_router_privacy|krb_router_privacy_java|e2e_audit_hdfs|e2e_audit_hms|e2e_reply_offload)$'
if [ "${FR_TSAN:-1}" != 0 ]; then
  TSAN_BUILD=$ROOT/build-tsan
  cmake -S "$ROOT" -B "$TSAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEDROUTER_TSAN=ON >/dev/null
  cmake --build "$TSAN_BUILD" -j"$JOBS"
  echo "== the concurrent tests under ThreadSanitizer =="
  (cd "$TSAN_BUILD" && TSAN_OPTIONS=halt_on_error=1 \
     ctest --output-on-failure -j"${FR_TEST_JOBS:-2}" --timeout 900 -R "$TSAN_TESTS")
fi

# Coverage-guided fuzzing, bounded in time, when clang is here.
FUZZ_SECONDS=${FR_FUZZ_SECONDS:-60}
if command -v clang >/dev/null 2>&1 && [ "$FUZZ_SECONDS" != 0 ]; then
  FB=$ROOT/build-fuzz
  CC=clang cmake -S "$ROOT" -B "$FB" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEDROUTER_FUZZ=ON >/dev/null
  export FR_FUZZ_BUILD_DIR=$FB FR_FUZZ_SECONDS=$FUZZ_SECONDS
  cmake --build "$FB" -j"$JOBS" --target fuzz_targets
fi

echo "== the suite =="
cd "$BUILD"
ctest --output-on-failure -j"${FR_TEST_JOBS:-2}" --timeout 900
