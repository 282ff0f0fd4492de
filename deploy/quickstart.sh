#!/usr/bin/env bash
# quickstart.sh: from a fresh Debian 12 checkout to a running demo HDFS.
# Installs the dependencies, builds (Release), and starts minidfs (a NameNode
# and a DataNode in one process) in the background on 127.0.0.1, with its
# blocks, log and pid file under <build>/demo/. Then prints commands to try
# with the Go `hdfs` client.
#
#   deploy/quickstart.sh          (re)start the demo; a running one is stopped first
#   deploy/quickstart.sh --stop   stop the demo
#
# Environment (defaults in brackets):
#   FR_DEMO_NN_PORT [8020]   NameNode port      FR_DEMO_DN_PORT [9866]  DataNode port
#   FR_BUILD_DIR    [build]  build directory    FR_DEMO_TIMEOUT [30]    seconds to wait for minidfs
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

NN_PORT=${FR_DEMO_NN_PORT:-8020}
DN_PORT=${FR_DEMO_DN_PORT:-9866}
BUILD=${FR_BUILD_DIR:-build}
TIMEOUT=${FR_DEMO_TIMEOUT:-30}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
DEMO=$BUILD/demo
PIDFILE=$DEMO/minidfs.pid
LOG=$DEMO/minidfs.log
MINIDFS=$BUILD/tests/minidfs/minidfs

die() { echo "quickstart: $*" >&2; exit 1; }
for v in NN_PORT DN_PORT; do
    if ! [[ ${!v} =~ ^[1-9][0-9]{0,4}$ ]] || [ "${!v}" -gt 65535 ]; then
        die "FR_DEMO_$v must be a port number, got '${!v}'"
    fi
done
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "FR_DEMO_TIMEOUT must be a number of seconds"

# Is PID a live (not zombie) minidfs process?
is_minidfs() {
    local st cmd
    read -r st 2>/dev/null <"/proc/$1/stat" || return 1
    st=${st##*) }
    [[ $st != Z* ]] || return 1
    cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *minidfs* ]]
}

# Stops the demo named by the pid file, if it still runs.
stop_demo() {
    local pid i
    [ -f "$PIDFILE" ] || return 0
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && is_minidfs "$pid"; then
        echo "quickstart: stopping the previous demo (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            is_minidfs "$pid" || break
            sleep 0.1
        done
        if is_minidfs "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$PIDFILE"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case ${1:-} in
--stop)
    stop_demo
    echo "quickstart: the demo is stopped"
    exit 0
    ;;
-h | --help)
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
'') ;;
*) die "unknown argument '$1' (try --help)" ;;
esac

# ---- dependencies and build ----
bash deploy/install-deps.sh
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)"
[ -x "$MINIDFS" ] || die "the build did not produce $MINIDFS"

# ---- minidfs ----
stop_demo
for p in "$NN_PORT" "$DN_PORT"; do
    if port_open "$p"; then
        die "something already listens on 127.0.0.1:$p; pick other ports with FR_DEMO_NN_PORT / FR_DEMO_DN_PORT"
    fi
done
mkdir -p "$DEMO"
rm -rf "$DEMO/data"          # the namespace is not kept across restarts: neither are blocks
mkdir -p "$DEMO/data"
: >"$LOG"
# In the background, ignoring SIGHUP (closing this terminal leaves it running);
# the subshell execs minidfs, so $! is minidfs itself.
(
    trap '' HUP
    exec "$MINIDFS" --host 127.0.0.1 --nn-port "$NN_PORT" --dn-port "$DN_PORT" \
        --data-dir "$DEMO/data" --nameservice demo
) >>"$LOG" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$PIDFILE"

deadline=$((SECONDS + TIMEOUT))
until grep -q '^ready ' "$LOG" 2>/dev/null; do
    if ! is_minidfs "$pid"; then
        rm -f "$PIDFILE"
        echo "---- $LOG ----" >&2
        tail -n 20 "$LOG" >&2
        die "minidfs exited before it was ready"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        rm -f "$PIDFILE"
        die "minidfs printed no ready line within ${TIMEOUT}s (see $LOG)"
    fi
    sleep 0.1
done

stopcmd="deploy/quickstart.sh --stop"
[ -z "${FR_BUILD_DIR:-}" ] || stopcmd="FR_BUILD_DIR=$FR_BUILD_DIR $stopcmd"
rel() { case $1 in "$ROOT"/*) printf '%s' "${1#"$ROOT"/}" ;; *) printf '%s' "$1" ;; esac; }
cat <<EOF

minidfs is running (pid $pid): NameNode 127.0.0.1:$NN_PORT, DataNode 127.0.0.1:$DN_PORT
  $(grep -m1 '^ready ' "$LOG")
  log: $(rel "$LOG")   pid file: $(rel "$PIDFILE")
  superuser: $(id -un) (the user who started it); the filesystem starts empty

Try it with the Go hdfs client (Debian package hdfs-cli):
  export HADOOP_NAMENODE=127.0.0.1:$NN_PORT
  hdfs ls /
  echo hi > /tmp/x
  hdfs put /tmp/x /x
  hdfs cat /x
  hdfs ls -l /
  hdfs mkdir -p /a/b && hdfs mv /x /a/b/ && hdfs ls -l /a/b

Stop it:
  $stopcmd        (or: kill \$(cat $(rel "$PIDFILE")))
EOF
