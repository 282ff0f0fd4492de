#!/usr/bin/env bash
# run.sh: fedrouter-bench against minidfs three ways (direct, through HAProxy
# in TCP mode, through fedrouter) and one table comparing them.
#
#   tests/bench/run.sh [BUILD_DIR]        (default: <repo>/build)
#
# HAProxy in TCP mode is the floor for one extra hop: it copies bytes and
# parses nothing. The table has one row per op and connection count, the
# ops/s, p50 and p99 (microseconds) of each column, and two ratios:
#   thr fr/hap   fedrouter ops/s / HAProxy ops/s
#   add fr/hap   (fedrouter p50 - direct p50) / (HAProxy p50 - direct p50),
#                the latency fedrouter adds relative to HAProxy (1 conn only)
# The goals checked under the table: at 64 connections thr fr/hap >= 0.9, at
# 1 connection add fr/hap <= 1.5. They are reported, not enforced.
#
# Environment (defaults in brackets):
#   BENCH_DURATION [5]    measured seconds per cell   BENCH_WARMUP [1]
#   BENCH_CONNS    [1 64] connection counts (rows)    BENCH_DEPTH  [1]
#   BENCH_THREADS  [1]    bench threads (at most the connection count)
#   BENCH_REPEAT   [1]    runs per cell, interleaved over the columns; the
#                         table shows each column's run with the most ops/s
#   BENCH_OPS      [getFileInfo getListing create+complete+delete]
#                  (mkdirs and create work too)
#   BENCH_LIST     [100]  entries in the directory getListing reads
#   BENCH_WORKERS  [2]    fedrouter worker threads
#   BENCH_PIN      [1]    with 2+ CPUs and taskset: minidfs on CPU 0, the
#                         bench on CPU 1, the proxy under test unpinned
#   BENCH_USER     [bench]  effective user of the bench connections
#   BENCH_START_TIMEOUT [30]  seconds to wait for a process to be ready
#   BENCH_KEEP=1   keep the work directory (configs, logs, bench outputs)
#
# Exit status: 0 every run completed (errors are counted in the table), 1 a
# process failed to start or a run failed, 2 usage.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
case "${1:-}" in -h|--help) sed -n '2,33p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ $# -le 1 ] || { echo "usage: $0 [BUILD_DIR]" >&2; exit 2; }
build=${1:-$repo/build}

DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
CONNS_LIST=${BENCH_CONNS:-1 64}
DEPTH=${BENCH_DEPTH:-1}
THREADS=${BENCH_THREADS:-1}
REPEAT=${BENCH_REPEAT:-1}
OPS=${BENCH_OPS:-getFileInfo getListing create+complete+delete}
LIST_N=${BENCH_LIST:-100}
WORKERS=${BENCH_WORKERS:-2}
PIN=${BENCH_PIN:-1}
USER_NAME=${BENCH_USER:-bench}
START_TIMEOUT=${BENCH_START_TIMEOUT:-30}

usage_err() { echo "run.sh: $*" >&2; exit 2; }
for v in DEPTH THREADS REPEAT LIST_N WORKERS START_TIMEOUT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || usage_err "$v must be a positive integer, got '${!v}'"
done
for v in DURATION WARMUP; do
    [[ ${!v} =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage_err "BENCH_$v must be a number of seconds, got '${!v}'"
done
for n in $CONNS_LIST; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || usage_err "BENCH_CONNS must list positive integers, got '$n'"
done
[ -n "${CONNS_LIST// /}" ] || usage_err "BENCH_CONNS is empty"
for op in $OPS; do
    case $op in getFileInfo|getListing|mkdirs|create|create+complete+delete|ccd) ;;
    *) usage_err "unknown op in BENCH_OPS: $op" ;;
    esac
done

MINIDFS=$build/tests/minidfs/minidfs
BENCH=$build/tests/bench/fedrouter-bench
ROUTER=$build/router/fedrouter

die() { echo "run.sh: $*" >&2; exit 1; }
[ -x "$MINIDFS" ] || die "no minidfs at $MINIDFS (build first: cmake --build $build)"
[ -x "$BENCH" ] || die "no fedrouter-bench at $BENCH (build first: cmake --build $build)"
[ -x "$ROUTER" ] || echo "run.sh: no fedrouter at $ROUTER: its columns stay empty" >&2
command -v hdfs >/dev/null || die "the hdfs command (Debian package hdfs-cli) is needed to set up /bench"
HAPROXY=$(command -v haproxy || true)
[ -n "$HAPROXY" ] || echo "run.sh: haproxy not found: its columns stay empty" >&2

# ---- CPU placement ----
pin_dfs=() pin_bench=() placement="unpinned"
if [ "$PIN" = 1 ]; then
    if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
        pin_dfs=(taskset -c 0) pin_bench=(taskset -c 1)
        placement="minidfs on CPU 0, fedrouter-bench on CPU 1, HAProxy/fedrouter unpinned (all $(nproc) CPUs)"
    else
        placement="unpinned (pinning needs taskset and 2 CPUs)"
    fi
fi

work=$(mktemp -d -t fedrouter-bench.XXXXXX) || die "mktemp failed"
mdfs_pid='' hap_pid='' rt_pid=''

alive() {
    local st
    [ -n "$1" ] && read -r st 2>/dev/null <"/proc/$1/stat" || return 1
    st=${st##*) }
    [[ $st != Z* ]]
}

# Stops a process we started: SIGTERM, up to 5 s, then SIGKILL.
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
# shellcheck disable=SC2317  # reached through the EXIT trap
cleanup() {
    stop_pid "$rt_pid"
    stop_pid "$hap_pid"
    stop_pid "$mdfs_pid"
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "run.sh: work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_log() {
    echo "---- $1 (last 30 lines) ----" >&2
    tail -n 30 "$2" >&2 2>/dev/null
    echo "----" >&2
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_ready NAME PID OUT ERR: waits for a `ready ` line in OUT; prints it.
wait_ready() {
    local name=$1 pid=$2 out=$3 err=$4 line deadline=$((SECONDS + START_TIMEOUT))
    while :; do
        line=$(grep -m1 '^ready ' "$out" 2>/dev/null || true)
        [ -n "$line" ] && { printf '%s\n' "$line"; return 0; }
        if ! alive "$pid"; then
            show_log "$name stderr" "$err"
            echo "run.sh: $name exited before it was ready" >&2
            return 1
        fi
        if [ $SECONDS -ge $deadline ]; then
            show_log "$name stderr" "$err"
            echo "run.sh: $name printed no ready line in ${START_TIMEOUT}s" >&2
            return 1
        fi
        sleep 0.05
    done
}

# ---- minidfs ----
mkdir -p "$work/dfs"
"${pin_dfs[@]}" "$MINIDFS" --nn-port 0 --dn-port 0 --data-dir "$work/dfs" --nameservice ns1 \
    >"$work/minidfs.out" 2>"$work/minidfs.err" </dev/null &
mdfs_pid=$!
ready=$(wait_ready minidfs "$mdfs_pid" "$work/minidfs.out" "$work/minidfs.err") || exit 1
nn=$(sed -n 's/.* nn=\([^ ]*\).*/\1/p' <<<"$ready")
[[ ${nn##*:} =~ ^[1-9][0-9]*$ ]] || die "cannot read the NameNode address from: $ready"
case ${nn%:*} in 0.0.0.0|'') nn=127.0.0.1:${nn##*:} ;; esac
direct=$nn
echo "minidfs:   $direct (pid $mdfs_pid)"

# ---- HAProxy (TCP mode) ----
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
        alive "$hap_pid" || { show_log "haproxy stderr" "$work/haproxy.err"; die "haproxy exited"; }
        [ $SECONDS -lt $deadline ] || { show_log "haproxy stderr" "$work/haproxy.err"; die "haproxy not listening after ${START_TIMEOUT}s"; }
        sleep 0.05
    done
    front=127.0.0.1:$front_port
    echo "haproxy:   $front -> $direct (pid $hap_pid, TCP mode)"
fi

# ---- fedrouter: the mount /bench -> ns1:/bench covers every bench path ----
router=
if [ -x "$ROUTER" ]; then
    for _ in 1 2 3; do
        r_port=$(free_port) || die "cannot find a free port"
        a_port=$(free_port) || die "cannot find a free port"
        cat >"$work/router.ini" <<EOF
[router]
id = bench
hdfs.listen = 127.0.0.1:$r_port
admin.listen = 127.0.0.1:$a_port
hms.listen = off
workers = $WORKERS

[statestore]
driver = file

[nameservice ns1]
namenodes = $direct

[mount /bench]
destinations = ns1:/bench
EOF
        "$ROUTER" -c "$work/router.ini" >"$work/router.out" 2>"$work/router.err" </dev/null &
        rt_pid=$!
        if ready=$(wait_ready fedrouter "$rt_pid" "$work/router.out" "$work/router.err"); then
            router=$(sed -n 's/.* hdfs=\([^ ]*\).*/\1/p' <<<"$ready")
            break
        fi
        stop_pid "$rt_pid"
        rt_pid=''
        grep -qiE 'in use|bind' "$work/router.err" || die "fedrouter did not start"
    done
    [ -n "$router" ] || die "fedrouter did not start (ports in use)"
    echo "fedrouter: $router -> $direct (pid $rt_pid, workers=$WORKERS, mount /bench -> ns1:/bench)"
fi

# ---- /bench: world-writable, with a $LIST_N-entry directory to list ----
hdfs_cmd() { env -u HADOOP_CONF_DIR -u HADOOP_HOME HADOOP_NAMENODE="$direct" hdfs "$@"; }
entries=()
for ((i = 0; i < LIST_N; i++)); do entries+=("$(printf '/bench/list/entry-%03d' "$i")"); done
if ! hdfs_cmd mkdir -p /bench/list "${entries[@]}" >"$work/hdfs.out" 2>&1; then
    show_log "hdfs mkdir" "$work/hdfs.out"
    die "could not create /bench/list on $direct"
fi
got=$(hdfs_cmd ls /bench/list 2>>"$work/hdfs.out" | grep -c .)
[ "$got" = "$LIST_N" ] || die "/bench/list has $got entries, not $LIST_N"
if ! hdfs_cmd chmod 777 /bench >>"$work/hdfs.out" 2>&1; then
    echo "run.sh: hdfs chmod 777 /bench failed; running as the owner of /bench instead" >&2
    USER_NAME=$(id -un)
fi

# ---- runs ----
# run_one NAME TARGET OP PATH CONNS: sets R_OPS R_P50 R_P99 R_ERR ("-" when
# the run failed).
failed=0
run_one() {
    local name=$1 target=$2 op=$3 path=$4 conns=$5 out err rc last threads=$THREADS
    [ "$threads" -le "$conns" ] || threads=$conns
    out=$work/bench-$name.out err=$work/bench-$name.err
    R_OPS=- R_P50=- R_P99=- R_ERR=-
    "${pin_bench[@]}" "$BENCH" --target "$target" --op "$op" --path "$path" --conns "$conns" \
        --depth "$DEPTH" --threads "$threads" --duration "$DURATION" --warmup "$WARMUP" --user "$USER_NAME" \
        >"$out" 2>"$err" </dev/null
    rc=$?
    last=$(tail -n 1 "$out")
    if [ $rc -ne 0 ] || ! [[ $last =~ ^ops/s=([0-9]+)\ p50_us=([0-9]+)\ p99_us=([0-9]+)\ p999_us=([0-9]+)\ errors=([0-9]+)$ ]]; then
        echo "run.sh: $name: fedrouter-bench exited with status $rc" >&2
        show_log "fedrouter-bench $name stderr" "$err"
        alive "$mdfs_pid" || { show_log "minidfs stderr" "$work/minidfs.err"; die "minidfs died"; }
        failed=1
        return
    fi
    R_OPS=${BASH_REMATCH[1]} R_P50=${BASH_REMATCH[2]} R_P99=${BASH_REMATCH[3]} R_ERR=${BASH_REMATCH[5]}
    grep -m1 'first error' "$out" | sed "s/^fedrouter-bench/  $name/" >&2
}

num() { [[ $1 =~ ^[0-9]+$ ]]; }
# thr_ratio FR HAP / add_ratio FR HAP DIRECT: two decimals, or "-".
thr_ratio() { num "$1" && num "$2" && [ "$2" -gt 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo -; }
add_ratio() {
    if num "$1" && num "$2" && num "$3" && [ "$2" -gt "$3" ]; then
        awk -v f="$1" -v h="$2" -v d="$3" 'BEGIN { printf "%.2f", (f - d) / (h - d) }'
    else
        echo -
    fi
}

short() { case $1 in create+complete+delete|ccd) echo ccd ;; *) echo "$1" ;; esac; }
label() { case $1 in ccd) echo create+complete+delete ;; getListing) echo "getListing($LIST_N)" ;; *) echo "$1" ;; esac; }

fmt='%-25s %5s | %8s %6s %7s | %8s %6s %7s | %8s %6s %7s | %6s %6s %s\n'
echo "workload: duration=${DURATION}s warmup=${WARMUP}s per cell, depth=$DEPTH, bench threads=$THREADS, user=$USER_NAME"
echo "placement: $placement"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rows=() goals=()
for op in $OPS; do
    s=$(short "$op")
    for conns in $CONNS_LIST; do
        declare -A O=() P50=() P99=() E=()
        for t in direct haproxy fedrouter; do O[$t]=- P50[$t]=- P99[$t]=- E[$t]=-; done
        for ((rep = 1; rep <= REPEAT; rep++)); do
            for t in direct haproxy fedrouter; do
                case $t in
                direct) addr=$direct ;;
                haproxy) addr=$front ;;
                fedrouter) addr=$router ;;
                esac
                [ -n "$addr" ] || continue
                case $s in
                getFileInfo | getListing) path=/bench/list ;;
                *) path=/bench/$s-$t-c$conns-r$rep ;;    # fresh per run: names repeat between runs
                esac
                echo "running $(label "$s") conns=$conns $t (run $rep of $REPEAT) ..." >&2
                run_one "$s-c$conns-$t-r$rep" "$addr" "$op" "$path" "$conns"
                # keep the run with the most ops/s (the least disturbed one)
                if num "$R_OPS" && { ! num "${O[$t]}" || [ "$R_OPS" -gt "${O[$t]}" ]; }; then
                    O[$t]=$R_OPS P50[$t]=$R_P50 P99[$t]=$R_P99 E[$t]=$R_ERR
                fi
            done
        done
        thr=$(thr_ratio "${O[fedrouter]}" "${O[haproxy]}")
        add=-
        [ "$conns" = 1 ] && add=$(add_ratio "${P50[fedrouter]}" "${P50[haproxy]}" "${P50[direct]}")
        errs=
        [ "${E[direct]}${E[haproxy]}${E[fedrouter]}" = 000 ] || errs="errors ${E[direct]}/${E[haproxy]}/${E[fedrouter]}"
        # shellcheck disable=SC2059
        rows+=("$(printf "$fmt" "$(label "$s")" "$conns" "${O[direct]}" "${P50[direct]}" "${P99[direct]}" \
            "${O[haproxy]}" "${P50[haproxy]}" "${P99[haproxy]}" "${O[fedrouter]}" "${P50[fedrouter]}" \
            "${P99[fedrouter]}" "$thr" "$add" "$errs")")
        if [ "$conns" = 64 ] && [ "$thr" != - ]; then
            v=$(awk -v r="$thr" 'BEGIN { print (r >= 0.9) ? "met" : "MISSED" }')
            goals+=("$(printf '  %-25s 64 conns: throughput fr/hap %s (goal >= 0.90): %s' "$(label "$s")" "$thr" "$v")")
        fi
        if [ "$conns" = 1 ] && [ "$add" != - ]; then
            v=$(awk -v r="$add" 'BEGIN { print (r <= 1.5) ? "met" : "MISSED" }')
            goals+=("$(printf '  %-25s  1 conn:  added p50 fr/hap %s (goal <= 1.50; added us: haproxy %d, fedrouter %d): %s' \
                "$(label "$s")" "$add" $((P50[haproxy] - P50[direct])) $((P50[fedrouter] - P50[direct])) "$v")")
        fi
        unset O P50 P99 E
    done
done

echo
printf '%-31s | %-23s | %-23s | %-23s | %6s %6s\n' "" "direct" "haproxy (TCP mode)" "fedrouter" thr add
# shellcheck disable=SC2059
printf "$fmt" op conns ops/s p50us p99us ops/s p50us p99us ops/s p50us p99us fr/hap fr/hap ""
printf '%s\n' "${rows[@]}" | sed 's/ *$//'
echo "thr fr/hap = fedrouter ops/s / haproxy ops/s;" \
    "add fr/hap = (fedrouter p50 - direct p50) / (haproxy p50 - direct p50), at 1 conn"
echo "placement: $placement; best of $REPEAT run(s) of ${DURATION}s per cell"
echo "load average (1/5/15 min) before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)" \
    "(other work on the machine skews the figures)"
if [ ${#goals[@]} -gt 0 ]; then
    echo "goals:"
    printf '%s\n' "${goals[@]}"
fi
exit $failed
