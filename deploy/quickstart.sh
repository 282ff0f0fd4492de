#!/usr/bin/env bash
# quickstart.sh: from a fresh Debian 12 checkout to a running federation demo.
# Installs the dependencies, builds (Release), and starts in the background
# on 127.0.0.1:
#   ns1, ns2    two HDFS subclusters, each a minidfs (a NameNode and a
#               DataNode in one process)
#   hms-primary two Hive metastores, each a minihms (in memory): the
#   hms-sales   primary one holds database `web`, the sales one `orders`
#   fedrouter   one namespace over both subclusters, on port 8020, with the
#               mount table of deploy/demo.ini: /data -> ns1, /logs -> ns2,
#               /shared spread over both, /archive read-only; and one
#               metastore over both metastores, on port 9083: the primary's
#               databases as they are, the sales ones as sales_<name>
#               (read-only through the router)
# Data, logs, pid files and the router's configuration (fedrouter.ini) go
# under <build>/demo/. Then it prints `hdfs` commands (the Go client, Debian
# package hdfs-cli) that show the federation at work, and a Python one-liner
# that lists the databases of the federated metastore.
#
#   deploy/quickstart.sh          (re)start the demo; a running one is stopped first
#   deploy/quickstart.sh --stop   stop the demo
#
# Environment (defaults in brackets):
#   FR_DEMO_PORT       [8020]  fedrouter, for clients  FR_DEMO_ADMIN_PORT [8021]  its /metrics, /healthz
#   FR_DEMO_HMS_PORT   [9083]  fedrouter, for metastore clients
#   FR_DEMO_NS1_PORT   [9000]  ns1 NameNode            FR_DEMO_NS1_DN_PORT [9866] ns1 DataNode
#   FR_DEMO_NS2_PORT   [9100]  ns2 NameNode            FR_DEMO_NS2_DN_PORT [9867] ns2 DataNode
#   FR_DEMO_HMS_PRIMARY_PORT [9183] primary metastore  FR_DEMO_HMS_SALES_PORT [9283] sales metastore
#   FR_BUILD_DIR       [build] build directory         FR_DEMO_TIMEOUT [30]  seconds to wait for each process
# (FR_DEMO_NN_PORT, the client port of earlier versions, still sets FR_DEMO_PORT.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

PORT=${FR_DEMO_PORT:-${FR_DEMO_NN_PORT:-8020}}
ADMIN_PORT=${FR_DEMO_ADMIN_PORT:-8021}
HMS_PORT=${FR_DEMO_HMS_PORT:-9083}
HMS_PRIMARY_PORT=${FR_DEMO_HMS_PRIMARY_PORT:-9183}
HMS_SALES_PORT=${FR_DEMO_HMS_SALES_PORT:-9283}
NS1_PORT=${FR_DEMO_NS1_PORT:-9000}
NS1_DN_PORT=${FR_DEMO_NS1_DN_PORT:-9866}
NS2_PORT=${FR_DEMO_NS2_PORT:-9100}
NS2_DN_PORT=${FR_DEMO_NS2_DN_PORT:-9867}
BUILD=${FR_BUILD_DIR:-build}
TIMEOUT=${FR_DEMO_TIMEOUT:-30}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
DEMO=$BUILD/demo
MINIDFS=$BUILD/tests/minidfs/minidfs
MINIHMS=$BUILD/tests/minihms/minihms
GEN_PY=$BUILD/hms-thrift/gen-py
ROUTER=$BUILD/router/fedrouter
TEMPLATE=$ROOT/deploy/demo.ini
CONF=$DEMO/fedrouter.ini

die() { echo "quickstart: $*" >&2; exit 1; }

# The word the command line of a demo process must contain (pid files are
# only trusted when it does).
proc_kind() { case $1 in fedrouter) echo fedrouter ;; hms-*) echo minihms ;; *) echo minidfs ;; esac; }

# Is PID a live (not zombie) process whose command line contains WORD?
is_proc() {
    local st cmd
    read -r st 2>/dev/null <"/proc/$1/stat" || return 1
    st=${st##*) }
    [[ $st != Z* ]] || return 1
    cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *"$2"* ]]
}

# Stops the process named by PIDFILE (if it still runs) and removes the file.
stop_pidfile() {
    local pidfile=$1 kind=$2 pid i
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && is_proc "$pid" "$kind"; then
        echo "quickstart: stopping $(basename "$pidfile" .pid) (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            is_proc "$pid" "$kind" || break
            sleep 0.1
        done
        if is_proc "$pid" "$kind"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

# Stops the whole demo: the router first, then the metastores and the
# subclusters (and the single minidfs of earlier versions of this script).
stop_demo() {
    stop_pidfile "$DEMO/fedrouter.pid" fedrouter
    stop_pidfile "$DEMO/hms-sales.pid" minihms
    stop_pidfile "$DEMO/hms-primary.pid" minihms
    stop_pidfile "$DEMO/ns2.pid" minidfs
    stop_pidfile "$DEMO/ns1.pid" minidfs
    stop_pidfile "$DEMO/minidfs.pid" minidfs
}

case ${1:-} in
--stop)
    stop_demo
    echo "quickstart: the demo is stopped"
    exit 0
    ;;
-h | --help)
    sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
'') ;;
*) die "unknown argument '$1' (try --help)" ;;
esac

for v in PORT ADMIN_PORT HMS_PORT NS1_PORT NS1_DN_PORT NS2_PORT NS2_DN_PORT HMS_PRIMARY_PORT HMS_SALES_PORT; do
    if ! [[ ${!v} =~ ^[1-9][0-9]{0,4}$ ]] || [ "${!v}" -gt 65535 ]; then
        die "FR_DEMO_$v must be a port number, got '${!v}'"
    fi
done
ports="$PORT $ADMIN_PORT $HMS_PORT $NS1_PORT $NS1_DN_PORT $NS2_PORT $NS2_DN_PORT $HMS_PRIMARY_PORT $HMS_SALES_PORT"
if [ "$(tr ' ' '\n' <<<"$ports" | sort -u | wc -l)" -ne 9 ]; then
    die "the nine demo ports must differ: $ports"
fi
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "FR_DEMO_TIMEOUT must be a number of seconds"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- dependencies and build ----
bash deploy/install-deps.sh
# The configuration tests/run.sh builds and tests (optimized, with debug
# info), so a passing test run also proves that the demo compiles.
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEDROUTER_SANITIZE=OFF
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)"
[ -x "$MINIDFS" ] || die "the build did not produce $MINIDFS"
[ -x "$ROUTER" ] || die "the build did not produce $ROUTER"
[ -x "$MINIHMS" ] || die "the build did not produce $MINIHMS"
[ -d "$GEN_PY/hive_metastore" ] || die "the build did not produce the metastore client in $GEN_PY"

# ---- start over ----
stop_demo
for p in $ports; do
    if port_open "$p"; then
        die "something already listens on 127.0.0.1:$p; pick other ports with the FR_DEMO_*_PORT variables (--help)"
    fi
done
mkdir -p "$DEMO"
# The namespaces are not kept across restarts: neither are the blocks.
rm -rf "$DEMO/ns1" "$DEMO/ns2" "$DEMO/data" "$DEMO/minidfs.log"

# start NAME LOG CMD...: runs CMD in the background, ignoring SIGHUP (closing
# this terminal leaves it running), writes NAME.pid and waits for the
# `ready ` line in LOG. The subshell execs CMD, so $! is the process itself.
start() {
    local name=$1 log=$2 pid deadline
    shift 2
    : >"$log"
    (
        trap '' HUP
        exec "$@"
    ) >>"$log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$DEMO/$name.pid"
    deadline=$((SECONDS + TIMEOUT))
    until grep -q '^ready ' "$log" 2>/dev/null; do
        if ! is_proc "$pid" "$(proc_kind "$name")"; then
            rm -f "$DEMO/$name.pid"
            echo "---- $log ----" >&2
            tail -n 20 "$log" >&2
            stop_demo
            die "$name exited before it was ready"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            stop_demo
            die "$name printed no ready line within ${TIMEOUT}s (see $log)"
        fi
        sleep 0.1
    done
}

# ---- the two subclusters ----
for ns in ns1 ns2; do
    case $ns in
    ns1) nn=$NS1_PORT dn=$NS1_DN_PORT ;;
    ns2) nn=$NS2_PORT dn=$NS2_DN_PORT ;;
    esac
    mkdir -p "$DEMO/$ns/data"
    start "$ns" "$DEMO/$ns.log" "$MINIDFS" --host 127.0.0.1 --nn-port "$nn" --dn-port "$dn" \
        --data-dir "$DEMO/$ns/data" --nameservice "$ns"
done

# The mount destinations, made directly on each subcluster (the Go client,
# ignoring any Hadoop configuration of this shell), and one file to read in
# the read-only /archive.
on() {
    local port=$1
    shift
    env -u HADOOP_CONF_DIR -u HADOOP_HOME HADOOP_NAMENODE="127.0.0.1:$port" hdfs "$@"
}
setup_log=$DEMO/setup.log
{
    on "$NS1_PORT" mkdir -p /data /shared /archive &&
        on "$NS2_PORT" mkdir -p /logs /shared &&
        printf 'written before the archive became read-only\n' >"$DEMO/archive-note.txt" &&
        on "$NS1_PORT" put "$DEMO/archive-note.txt" /archive/note.txt
} >"$setup_log" 2>&1 || {
    cat "$setup_log" >&2
    stop_demo
    die "could not create the mount destinations on the subclusters"
}
rm -f "$DEMO/archive-note.txt"

# ---- the two metastores, each with a database made directly on it ----
start hms-primary "$DEMO/hms-primary.log" "$MINIHMS" --host 127.0.0.1 --port "$HMS_PRIMARY_PORT" --name primary
start hms-sales "$DEMO/hms-sales.log" "$MINIHMS" --host 127.0.0.1 --port "$HMS_SALES_PORT" --name sales
/usr/bin/python3 - "$GEN_PY" "$HMS_PRIMARY_PORT" "$HMS_SALES_PORT" >>"$setup_log" 2>&1 <<'PY' || {
import sys
sys.path.insert(0, sys.argv[1])
from thrift.protocol.TBinaryProtocol import TBinaryProtocol
from thrift.transport.TSocket import TSocket
from thrift.transport.TTransport import TBufferedTransport
from hive_metastore.ThriftHiveMetastore import Client
from hive_metastore.ttypes import Database

for port, db in ((sys.argv[2], "web"), (sys.argv[3], "orders")):
    t = TBufferedTransport(TSocket("127.0.0.1", int(port)))
    t.open()
    Client(TBinaryProtocol(t)).create_database(Database(db, "quickstart demo", "file:/warehouse/%s.db" % db, {}))
    t.close()
    print("created database %s on 127.0.0.1:%s" % (db, port))
PY
    cat "$setup_log" >&2
    stop_demo
    die "could not create the demo databases in the metastores"
}

# ---- fedrouter, with deploy/demo.ini and this run's ports ----
awk -v port="$PORT" -v admin="$ADMIN_PORT" -v hms="$HMS_PORT" -v ns1="$NS1_PORT" -v ns2="$NS2_PORT" \
    -v hms1="$HMS_PRIMARY_PORT" -v hms2="$HMS_SALES_PORT" '
    /^\[/ { sec = $0 }
    /^hdfs\.listen[ \t]*=/  { print "hdfs.listen = 127.0.0.1:" port; next }
    /^admin\.listen[ \t]*=/ { print "admin.listen = 127.0.0.1:" admin; next }
    /^hms\.listen[ \t]*=/   { print "hms.listen = 127.0.0.1:" hms; next }
    /^namenodes[ \t]*=/ && sec == "[nameservice ns1]" { print "namenodes = 127.0.0.1:" ns1; next }
    /^namenodes[ \t]*=/ && sec == "[nameservice ns2]" { print "namenodes = 127.0.0.1:" ns2; next }
    /^uris[ \t]*=/ && sec == "[metastore primary]" { print "uris = thrift://127.0.0.1:" hms1; next }
    /^uris[ \t]*=/ && sec == "[metastore sales]"   { print "uris = thrift://127.0.0.1:" hms2; next }
    { print }
' "$TEMPLATE" >"$CONF"
"$ROUTER" -t -c "$CONF" >/dev/null || { stop_demo; die "fedrouter rejects $CONF"; }
start fedrouter "$DEMO/fedrouter.log" "$ROUTER" -c "$CONF"

stopcmd="deploy/quickstart.sh --stop"
[ -z "${FR_BUILD_DIR:-}" ] || stopcmd="FR_BUILD_DIR=$FR_BUILD_DIR $stopcmd"
rel() { case $1 in "$ROOT"/*) printf '%s' "${1#"$ROOT"/}" ;; *) printf '%s' "$1" ;; esac; }
cat <<EOF

The federation demo is running on 127.0.0.1:
  ns1        minidfs, NameNode :$NS1_PORT, DataNode :$NS1_DN_PORT (pid $(cat "$DEMO/ns1.pid"))
  ns2        minidfs, NameNode :$NS2_PORT, DataNode :$NS2_DN_PORT (pid $(cat "$DEMO/ns2.pid"))
  primary    minihms :$HMS_PRIMARY_PORT, database web (pid $(cat "$DEMO/hms-primary.pid"))
  sales      minihms :$HMS_SALES_PORT, database orders (pid $(cat "$DEMO/hms-sales.pid"))
  fedrouter  HDFS clients :$PORT, metastore clients :$HMS_PORT, admin :$ADMIN_PORT (pid $(cat "$DEMO/fedrouter.pid"))
  mount table ($(rel "$CONF")):
    /data    -> ns1:/data
    /logs    -> ns2:/logs
    /shared  -> ns1:/shared, ns2:/shared (HASH_ALL: each file on one of them)
    /archive -> ns1:/archive (read-only)
  logs and pid files: $(rel "$DEMO")/
  superuser: $(id -un) (the user who started it); nothing is kept across restarts

Try it with the Go hdfs client (Debian package hdfs-cli). Through the router:
  export HADOOP_NAMENODE=127.0.0.1:$PORT
  hdfs ls /                                   # the mount points
  echo hello > hello.txt
  hdfs put hello.txt /data/hello.txt
  hdfs put hello.txt /logs/app.log
  for i in 1 2 3 4 5 6; do hdfs put hello.txt /shared/part-\$i; done
  hdfs cat /data/hello.txt
  hdfs ls -l /data /logs /shared /archive

Where the files landed, asking each subcluster directly:
  HADOOP_NAMENODE=127.0.0.1:$NS1_PORT hdfs ls / /data /shared    # ns1
  HADOOP_NAMENODE=127.0.0.1:$NS2_PORT hdfs ls / /logs /shared    # ns2

Space, summed by the router:
  hdfs du -s /
  hdfs df

What the router refuses:
  hdfs mv /data/hello.txt /logs/hello.txt     # fails: /data and /logs are on different subclusters
  hdfs put hello.txt /archive/new.txt         # fails: /archive is read-only
  hdfs mv /data/hello.txt /data/renamed.txt   # works: same subcluster

The federated metastore (hive.metastore.uris = thrift://127.0.0.1:$HMS_PORT): the
primary's databases as they are, the sales metastore's with the prefix sales_.
Listed with the Python client the build generated:
  /usr/bin/python3 -c 'import sys; sys.path.insert(0, "$GEN_PY"); from thrift.transport.TSocket import TSocket; from thrift.transport.TTransport import TBufferedTransport; from thrift.protocol.TBinaryProtocol import TBinaryProtocol; from hive_metastore.ThriftHiveMetastore import Client; t = TBufferedTransport(TSocket("127.0.0.1", $HMS_PORT)); t.open(); print(Client(TBinaryProtocol(t)).get_all_databases())'
  # prints ['default', 'sales_default', 'sales_orders', 'web']

The router's metrics: curl -s http://127.0.0.1:$ADMIN_PORT/metrics | head

Stop it:
  $stopcmd
EOF
