#!/usr/bin/env bash
# routers_ha.sh: two fedrouters on one ZooKeeper statestore, seen by the Go
# `hdfs` command as one HA nameservice (dfs.nameservices = fed, one
# rpc-address per router), the way an operator puts several routers behind
# one name. The client must keep working when one router enters safe mode
# (it answers StandbyException, so the client moves on) and when one router
# is killed.
#
#   bash tests/zk/routers_ha.sh BUILD_DIR
#
# Prints `ok - NAME` / `not ok - NAME: why` per check, then the summary.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
: "${FR_CMD_TIMEOUT:=30}"
# shellcheck source=../e2e/lib.sh
. "$repo/tests/e2e/lib.sh"
# shellcheck disable=SC2154

BUILD_DIR=${1:?usage: routers_ha.sh BUILD_DIR}
MINIDFS=$BUILD_DIR/tests/minidfs/minidfs
ROUTER=$BUILD_DIR/router/fedrouter
ADMIN=$BUILD_DIR/router/cli/fedrouter-admin

fr_init routers_ha
fr_need_cmd hdfs java
for b in "$MINIDFS" "$ROUTER" "$ADMIN"; do
    [ -x "$b" ] || fr_bail "find $(basename "$b")" "no executable at $b (build first)"
done

# ---- ZooKeeper ----
ZK_PORT=$(fr_free_port)
sh "$here/zkserver.sh" "$FR_TMP/zk" "$ZK_PORT" >/dev/null 2>&1 &
ZK_PID=$!
# A server still starting may take the connection and never answer: each
# probe is bounded, or the test would wait for ctest's timeout.
zk_ok() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf ruok >&3 && cat <&3' _ "$ZK_PORT" 2>/dev/null |
        grep -q imok
}
for _ in $(seq 100); do zk_ok && break; sleep 0.1; done
zk_ok || fr_bail "ZooKeeper" "no imok on port $ZK_PORT"
FR_PIDS+=("$ZK_PID")   # stopped with the others by lib.sh on exit
fr_ok "ZooKeeper answers on $ZK_PORT"

# ---- one subcluster ----
fr_minidfs_start N1 "$MINIDFS" --nameservice ns1 || fr_bail "minidfs ns1" "could not start"

# ---- two routers ----
# conf ID FILE: a router on the zookeeper statestore, fresh ports.
conf() {
    local hp ap
    hp=$(fr_free_port) && ap=$(fr_free_port) || return 1
    cat >"$2" <<EOF
[router]
id = $1
hdfs.listen = 127.0.0.1:$hp
admin.listen = 127.0.0.1:$ap
workers = 2

[statestore]
driver = zookeeper
zk.hosts = 127.0.0.1:$ZK_PORT
zk.root = /fedrouter
zk.session_timeout_ms = 4000
EOF
}
conf_r1() { conf r1 "$1"; }
conf_r2() { conf r2 "$1"; }
conf_r1 "$FR_TMP/admin.conf"
fr_run "$ADMIN" -c "$FR_TMP/admin.conf" -addNameservice ns1 "$N1_NN"
fr_expect_ok "fedrouter-admin -addNameservice ns1"
fr_run "$ADMIN" -c "$FR_TMP/admin.conf" -add /data ns1 /data
fr_expect_ok "fedrouter-admin -add /data ns1 /data"
hdfs_env() { env -u HADOOP_CONF_DIR -u HADOOP_HOME -u HADOOP_NAMENODE -u HADOOP_USER_NAME "$@"; }
hdfs_env HADOOP_NAMENODE="$N1_NN" hdfs mkdir -p /data >/dev/null 2>&1 || true

fr_router_start R1 "$ROUTER" "$FR_TMP/r1.conf" conf_r1 || fr_bail "fedrouter r1" "could not start"
fr_router_start R2 "$ROUTER" "$FR_TMP/r2.conf" conf_r2 || fr_bail "fedrouter r2" "could not start"

CONF=$FR_TMP/conf
mkdir -p "$CONF"
cat >"$CONF/core-site.xml" <<EOF
<?xml version="1.0"?>
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://fed</value></property>
</configuration>
EOF
cat >"$CONF/hdfs-site.xml" <<EOF
<?xml version="1.0"?>
<configuration>
  <property><name>dfs.nameservices</name><value>fed</value></property>
  <property><name>dfs.ha.namenodes.fed</name><value>r1,r2</value></property>
  <property><name>dfs.namenode.rpc-address.fed.r1</name><value>$R1_HDFS</value></property>
  <property><name>dfs.namenode.rpc-address.fed.r2</name><value>$R2_HDFS</value></property>
</configuration>
EOF
rt() { hdfs_env "HADOOP_CONF_DIR=$CONF" timeout -k 5 "$FR_CMD_TIMEOUT" hdfs "$@"; }

printf 'through two routers\n' >"$FR_TMP/f.txt"
fr_run rt put "$FR_TMP/f.txt" /data/one.txt
fr_expect_ok "put /data/one.txt through the HA pair"
fr_run rt cat /data/one.txt
fr_expect_out "cat /data/one.txt through the HA pair" "through two routers"

# ---- r1 in safe mode: the client moves to r2 ----
fr_run "$ADMIN" -c "$FR_TMP/admin.conf" -safemode enter -router r1
fr_expect_ok "fedrouter-admin -safemode enter -router r1"
in_safemode() { fr_rc_fail && grep -q StandbyException <<<"$FR_OUT$FR_ERR"; }
fr_run_until 10 in_safemode fr_hdfs_rpc "$R1_HDFS" mkdirs /data/sm
fr_check_match "r1 answers a write (mkdirs) with StandbyException in safe mode" 'StandbyException' "$FR_OUT$FR_ERR"
# As in RBF, reads go on in safe mode: a client with this router alone keeps reading.
fr_run fr_hdfs_rpc "$R1_HDFS" getFileInfo /data/one.txt
fr_expect_ok "R13: r1 still answers a read (getFileInfo) in safe mode"
fr_run fr_hdfs_rpc "$R1_HDFS" getHAServiceState
fr_expect_out "R13: r1 answers getHAServiceState with STANDBY in safe mode" "OK STANDBY"
fr_run "$ADMIN" -c "$FR_TMP/admin.conf" -safemode get -router r1
fr_expect_out "fedrouter-admin -safemode get -router r1 says ON" "Safe Mode: ON"
fr_run fr_http_get "$R1_ADMIN" /healthz
fr_check_match "r1's health says safemode" 'safemode' "$FR_OUT"
fr_run rt cat /data/one.txt
fr_expect_out "with r1 in safe mode, cat works (the client moved to r2)" "through two routers"
fr_run rt put "$FR_TMP/f.txt" /data/two.txt
fr_expect_ok "with r1 in safe mode, put works"
fr_run "$ADMIN" -c "$FR_TMP/admin.conf" -safemode leave -router r1
fr_expect_ok "fedrouter-admin -safemode leave -router r1"
fr_run_until 10 fr_rc_ok fr_hdfs_rpc "$R1_HDFS" getFileInfo /data/one.txt
fr_expect_ok "r1 serves again after leaving safe mode"

# ---- r1 killed: the client, which lists r1 first, moves to r2 ----
kill -9 "$R1_PID" 2>/dev/null || true
wait "$R1_PID" 2>/dev/null || true
fr_run rt cat /data/two.txt
fr_expect_out "with r1 killed, cat works (the client moved to r2)" "through two routers"
fr_run rt ls /data
fr_expect_out "with r1 killed, ls /data lists both files" $'one.txt\ntwo.txt'
routers_gone() { fr_rc_ok && ! grep -q '^r1 ' <<<"$FR_OUT"; }
fr_run_until 10 routers_gone "$ADMIN" -c "$FR_TMP/admin.conf" -routers
if grep -q '^r2 ' <<<"$FR_OUT" && ! grep -q '^r1 ' <<<"$FR_OUT"; then
    fr_ok "-routers lists r2 and no longer r1 (its ephemeral znode expired)"
else
    fr_not_ok "-routers lists r2 and no longer r1 (its ephemeral znode expired)" "$FR_OUT"
fi

fr_summary
