#!/usr/bin/env bash
# run_bench.sh: fedrouter-bench against minidfs, direct and through HAProxy
# (a plain TCP passthrough: the floor any proxy adds), one table per run.
#
#   tests/bench/run_bench.sh [BUILD_DIR]        (default: <repo>/build)
#
# Environment (defaults in brackets):
#   BENCH_DURATION [5]   measured seconds per run     BENCH_WARMUP  [1]
#   BENCH_CONNS    [16]  connections                  BENCH_DEPTH   [1]
#   BENCH_THREADS  [1]   bench threads                BENCH_USER    [bench]
#   BENCH_OPS      [getFileInfo getListing mkdirs create]
#   BENCH_START_TIMEOUT [30] seconds to wait for minidfs / HAProxy
#   BENCH_KEEP=1         keep the work directory (logs, bench outputs)
#
# Steps: minidfs on free loopback ports (port 0, read back from its ready
# line); HAProxy in TCP mode in front of it; /bench made world-writable with
# ten entries to list; for each op one run direct and one through HAProxy;
# then, for getFileInfo, a "one core" run: minidfs pinned to CPU 0 and the
# bench to CPU 1. mkdirs/create write under a fresh directory per run
# (/bench/<op>-<direct|haproxy>), since their names repeat between runs.
# Exit status: 0 every run completed (errors are shown in the table), 1 a
# process failed to start or a run failed, 2 usage.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
case "${1:-}" in -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ $# -le 1 ] || { echo "usage: $0 [BUILD_DIR]" >&2; exit 2; }
build=${1:-$repo/build}

DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNS:-16}
DEPTH=${BENCH_DEPTH:-1}
THREADS=${BENCH_THREADS:-1}
USER_NAME=${BENCH_USER:-bench}
OPS=${BENCH_OPS:-getFileInfo getListing mkdirs create}
START_TIMEOUT=${BENCH_START_TIMEOUT:-30}

for v in CONNS DEPTH THREADS START_TIMEOUT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "run_bench: BENCH_$v must be a positive integer" >&2; exit 2; }
done
for v in DURATION WARMUP; do
    [[ ${!v} =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "run_bench: BENCH_$v must be a number of seconds" >&2; exit 2; }
done

MINIDFS=$build/tests/minidfs/minidfs
BENCH=$build/tests/bench/fedrouter-bench

die() { echo "run_bench: $*" >&2; exit 1; }
[ -x "$MINIDFS" ] || die "no minidfs at $MINIDFS (build first: cmake --build $build)"
[ -x "$BENCH" ] || die "no fedrouter-bench at $BENCH (build first: cmake --build $build)"
command -v hdfs >/dev/null || die "the hdfs command (hdfs-cli) is needed to create /bench"
HAPROXY=$(command -v haproxy || true)
[ -n "$HAPROXY" ] || echo "run_bench: haproxy not found: the passthrough columns stay empty" >&2

work=$(mktemp -d -t fedrouter-bench.XXXXXX) || die "mktemp failed"
mdfs_pid='' hap_pid='' rt_pid=''

# Stops a process we started: SIGTERM, up to 5 s, then SIGKILL.
# shellcheck disable=SC2317  # called from the EXIT trap
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do
        alive "$pid" || break
        sleep 0.1
    done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
# shellcheck disable=SC2317
cleanup() {
    stop_pid "$rt_pid"
    stop_pid "$hap_pid"
    stop_pid "$mdfs_pid"
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "run_bench: logs kept in $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Is pid running (a zombie does not count)?
alive() {
    local s
    s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $s != Z* ]]
}

# Prints the last lines of a failed process's stderr.
show_log() {
    echo "---- $1 (last 30 lines) ----" >&2
    tail -n 30 "$2" >&2 2>/dev/null
    echo "----" >&2
}

# Does something accept connections on 127.0.0.1:$1?
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free loopback TCP port (bind to port 0 and read it back).
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---- minidfs ----
mkdir -p "$work/dfs"
"$MINIDFS" --nn-port 0 --dn-port 0 --data-dir "$work/dfs" --nameservice bench \
    >"$work/minidfs.out" 2>"$work/minidfs.err" </dev/null &
mdfs_pid=$!
ready=
deadline=$((SECONDS + START_TIMEOUT))
while [ $SECONDS -lt $deadline ]; do
    ready=$(grep -m1 '^ready ' "$work/minidfs.out" 2>/dev/null || true)
    [ -n "$ready" ] && break
    if ! alive "$mdfs_pid"; then
        wait "$mdfs_pid"; rc=$?
        show_log "minidfs stderr" "$work/minidfs.err"
        die "minidfs exited with status $rc before it was ready"
    fi
    sleep 0.05
done
if [ -z "$ready" ]; then
    show_log "minidfs stderr" "$work/minidfs.err"
    die "minidfs printed no ready line in ${START_TIMEOUT}s"
fi
nn=$(sed -n 's/.* nn=\([^ ]*\).*/\1/p' <<<"$ready")
nn_port=${nn##*:}
[[ $nn_port =~ ^[1-9][0-9]*$ ]] || die "cannot read the NameNode address from: $ready"
nn_host=${nn%:*}
case $nn_host in 0.0.0.0|'') nn_host=127.0.0.1 ;; esac
direct=$nn_host:$nn_port
echo "minidfs: $ready (pid $mdfs_pid)"

# ---- HAProxy ----
front=
if [ -n "$HAPROXY" ]; then
    front_port=$(free_port) || die "cannot find a free port"
    cat >"$work/haproxy.cfg" <<EOF
global
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen p
  bind 127.0.0.1:$front_port
  server s $direct
EOF
    "$HAPROXY" -f "$work/haproxy.cfg" -db >"$work/haproxy.out" 2>"$work/haproxy.err" </dev/null &
    hap_pid=$!
    deadline=$((SECONDS + START_TIMEOUT))
    until port_open "$front_port"; do
        if ! alive "$hap_pid"; then
            wait "$hap_pid"; rc=$?
            show_log "haproxy stderr" "$work/haproxy.err"
            die "haproxy exited with status $rc"
        fi
        [ $SECONDS -lt $deadline ] || { show_log "haproxy stderr" "$work/haproxy.err"; die "haproxy not listening after ${START_TIMEOUT}s"; }
        sleep 0.05
    done
    front=127.0.0.1:$front_port
    echo "haproxy: $front -> $direct (pid $hap_pid)"
fi

# ---- fedrouter (one mount over /bench, the rest to the default) ----
ROUTER=$build/router/fedrouter
router=
if [ -x "$ROUTER" ]; then
    r_port=$(free_port) || die "cannot find a free port"
    a_port=$(free_port) || die "cannot find a free port"
    printf '%s\n' "[router]" "id = bench" "hdfs.listen = 127.0.0.1:$r_port" "admin.listen = 127.0.0.1:$a_port" \
        "default.nameservice = ns1" "[nameservice ns1]" "namenodes = $direct" "[mount /bench]" \
        "destinations = ns1:/bench" >"$work/router.ini"
    "$ROUTER" -c "$work/router.ini" >"$work/router.out" 2>"$work/router.err" </dev/null &
    rt_pid=$!
    deadline=$((SECONDS + START_TIMEOUT))
    until port_open "$r_port"; do
        alive "$rt_pid" || { show_log "fedrouter stderr" "$work/router.err"; die "fedrouter exited"; }
        [ $SECONDS -lt $deadline ] || { show_log "fedrouter stderr" "$work/router.err"; die "fedrouter not listening"; }
        sleep 0.05
    done
    router=127.0.0.1:$r_port
    echo "fedrouter: $router -> $direct (pid $rt_pid)"
fi

# ---- /bench ----
# The Go hdfs client, on minidfs directly, ignoring any Hadoop configuration.
hdfs_cmd() { env -u HADOOP_CONF_DIR -u HADOOP_HOME HADOOP_NAMENODE="$direct" hdfs "$@"; }
entries=()
for i in $(seq 0 9); do entries+=("/bench/entry-$i"); done
if ! hdfs_cmd mkdir -p /bench "${entries[@]}" >"$work/hdfs.out" 2>&1; then
    show_log "hdfs mkdir" "$work/hdfs.out"
    die "could not create /bench on $direct"
fi
if ! hdfs_cmd chmod 777 /bench >>"$work/hdfs.out" 2>&1; then
    echo "run_bench: hdfs chmod 777 /bench failed; running as the owner of /bench instead" >&2
    USER_NAME=$(id -un)
fi

# ---- runs ----
# run_one NAME TARGET OP PATH [taskset prefix...]: runs the bench, sets
# R_OPS R_P50 R_P99 R_ERR (or "-" when the run failed).
failed=0
run_one() {
    local name=$1 target=$2 op=$3 path=$4; shift 4
    local out=$work/bench-$name.out err=$work/bench-$name.err rc last
    R_OPS=- R_P50=- R_P99=- R_ERR=-
    "$@" "$BENCH" --target "$target" --op "$op" --path "$path" --conns "$CONNS" --depth "$DEPTH" \
        --threads "$THREADS" --duration "$DURATION" --warmup "$WARMUP" --user "$USER_NAME" \
        >"$out" 2>"$err" </dev/null
    rc=$?
    last=$(tail -n 1 "$out")
    if [ $rc -ne 0 ] || ! [[ $last =~ ^ops/s=([0-9]+)\ p50_us=([0-9]+)\ p99_us=([0-9]+)\ p999_us=([0-9]+)\ errors=([0-9]+)$ ]]; then
        echo "run_bench: $name: fedrouter-bench exited with status $rc" >&2
        show_log "fedrouter-bench $name stderr" "$err"
        alive "$mdfs_pid" || { show_log "minidfs stderr" "$work/minidfs.err"; die "minidfs died"; }
        failed=1
        return
    fi
    R_OPS=${BASH_REMATCH[1]} R_P50=${BASH_REMATCH[2]} R_P99=${BASH_REMATCH[3]} R_ERR=${BASH_REMATCH[5]}
    grep -m1 'first error' "$out" | sed "s/^fedrouter-bench/  $name/" >&2
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/ && b > 0) printf "%.2f", a / b; else print "-" }'; }

echo "workload: conns=$CONNS depth=$DEPTH threads=$THREADS duration=${DURATION}s warmup=${WARMUP}s user=$USER_NAME"
rows=()
for op in $OPS; do
    case $op in
    getFileInfo|getListing) pd=/bench ph=/bench ;;
    mkdirs|create) pd=/bench/$op-direct ph=/bench/$op-haproxy ;;
    *) die "unknown op in BENCH_OPS: $op" ;;
    esac
    echo "running $op ..." >&2
    run_one "$op-direct" "$direct" "$op" "$pd"
    d_ops=$R_OPS d_lat=$R_P50/$R_P99 d_err=$R_ERR
    h_ops=- h_lat=-/- h_err=-
    if [ -n "$front" ]; then
        run_one "$op-haproxy" "$front" "$op" "$ph"
        h_ops=$R_OPS h_lat=$R_P50/$R_P99 h_err=$R_ERR
    fi
    f_ops=- f_lat=-/- f_err=-
    if [ -n "$router" ]; then
        case $op in mkdirs|create) pf=/bench/$op-router ;; *) pf=$pd ;; esac
        run_one "$op-router" "$router" "$op" "$pf"
        f_ops=$R_OPS f_lat=$R_P50/$R_P99 f_err=$R_ERR
    fi
    rows+=("$(printf '%-12s %12s %10s %12s %10s %12s %10s %7s %7s %8s' "$op" "$d_ops" "$d_lat" "$h_ops" "$h_lat" \
        "$f_ops" "$f_lat" "$(ratio "$h_ops" "$d_ops")" "$(ratio "$f_ops" "$d_ops")" "$d_err/$h_err/$f_err")")
done

one_core=
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    if taskset -a -p -c 0 "$mdfs_pid" >/dev/null 2>&1; then
        echo "running getFileInfo one core ..." >&2
        run_one getFileInfo-onecore "$direct" getFileInfo /bench taskset -c 1
        one_core="one core (minidfs on CPU 0, bench on CPU 1), getFileInfo direct: ops/s=$R_OPS p50/p99_us=$R_P50/$R_P99 errors=$R_ERR"
    else
        one_core="one core: taskset could not pin minidfs (skipped)"
    fi
else
    one_core="one core: needs taskset and 2 CPUs (skipped)"
fi

echo
printf '%-12s %12s %10s %12s %10s %12s %10s %7s %7s %8s\n' op "direct/s" "p50/p99" "haproxy/s" "p50/p99" \
    "router/s" "p50/p99" "hap/dir" "rtr/dir" "errors"
for r in "${rows[@]}"; do echo "$r"; done
echo "$one_core"
exit $failed
