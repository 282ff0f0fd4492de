#!/usr/bin/env bash
# router_hdfs_cli.sh: fedrouter's HDFS routing, driven by a client that others
# wrote, the Go `hdfs` command (Debian package hdfs-cli).
#
#   bash tests/e2e/router_hdfs_cli.sh [BUILD_DIR]   (else $FR_BUILD_DIR, else <repo>/build)
#
# Two subclusters of minidfs processes (1 MiB blocks) on free loopback ports:
#   ns1  one active NameNode
#   ns2  two NameNodes that share nothing, listed standby first, active second
# and one fedrouter with the `file` statestore and these mounts:
#   /data -> ns1:/data          /logs -> ns2:/logs
#   /ro   -> ns1:/ro (readonly) /spread -> ns1:/spread, ns2:/spread (HASH_ALL)
# The client finds the router as an operator configures it: HADOOP_CONF_DIR
# with core-site.xml fs.defaultFS = hdfs://<router>. Each subcluster is also
# read directly (HADOOP_NAMENODE) to see where the router put things.
# The Go client prints only the exception class of a remote error; the
# router's message is read with fr_hdfs_rpc (lib.sh) and printed as `#` lines.
# Checks are named by their number in the plan: 1-6, then 9 and 10 while
# every subcluster is up, then 7 (failover in ns2) and 8 (ns1 stopped).
# Prints `ok - NAME` / `not ok - NAME: what differed` per check, then
# `N passed, N failed`; exit status 0 when every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
: "${FR_CMD_TIMEOUT:=30}"           # per hdfs command; see lib.sh
# shellcheck source=lib.sh
. "$here/lib.sh"
# The minidfs and router variables (N1_NN, R_PID...) are set by lib.sh's
# start helpers through printf -v.
# shellcheck disable=SC2154

BUILD_DIR=${1:-${FR_BUILD_DIR:-$repo/build}}
MINIDFS=$BUILD_DIR/tests/minidfs/minidfs
ROUTER=$BUILD_DIR/router/fedrouter
BS=1048576                          # minidfs --block-size
SMALL_SIZE=1024
BIG_SIZE=$((2 * BS + BS / 2 + 100)) # 3 blocks
TRUNC_SIZE=1500000                  # inside the second block, mid-chunk
RELOAD_WAIT=5                       # s for a config change to take effect
NSPREAD=20
NL=$'\n'

fr_init router_hdfs_cli
fr_need_cmd hdfs cmp timeout head awk sort comm
case $(hdfs -v 2>&1 || true) in
*gohdfs*) ;;
*) fr_bail "find the Go hdfs client" "the hdfs on PATH ($(command -v hdfs)) is not gohdfs (Debian package hdfs-cli)" ;;
esac
[ -x /usr/bin/python3 ] || fr_bail "find /usr/bin/python3" "not installed"
[ -x "$MINIDFS" ] || fr_bail "find minidfs" "no executable at $MINIDFS (build first)"
[ -x "$ROUTER" ] || fr_bail "find fedrouter" "no executable at $ROUTER (build first)"
SU=$(id -un)                        # the minidfs superuser: whoever starts them
[ "$SU" != alice ] || fr_bail "user" "the test runs as alice, a name it gives to files"

# ---- local files ----
L=$FR_TMP/local
W=$FR_TMP/work
mkdir -p "$L/spread" "$W"
for i in $(seq 1 80); do printf 'line %03d of the small test file\n' "$i"; done >"$L/lines.txt"
head -c "$SMALL_SIZE" "$L/lines.txt" >"$L/small.txt"   # ends inside a line
head -c "$BIG_SIZE" /dev/urandom >"$L/big.bin"
head -c "$TRUNC_SIZE" "$L/big.bin" >"$L/trunc.exp"
SPREAD_NAMES=()
for i in $(seq -w 1 "$NSPREAD"); do
    SPREAD_NAMES+=("f$i")
    printf 'spread file %s\n' "$i" >"$L/spread/f$i"
done

# ---- the hdfs command ----
# rt ARGS...: through the router (HADOOP_CONF_DIR=$CONF).
# on HOST:PORT ARGS...: directly on that NameNode (HADOOP_NAMENODE).
# Nothing else from the caller's Hadoop environment leaks in.
CONF=$FR_TMP/conf
mkdir -p "$CONF"
hdfs_env() { env -u HADOOP_CONF_DIR -u HADOOP_HOME -u HADOOP_NAMENODE -u HADOOP_USER_NAME "$@"; }
rt() { hdfs_env "HADOOP_CONF_DIR=$CONF" timeout -k 5 "$FR_CMD_TIMEOUT" hdfs "$@"; }
on() {
    local nn=$1
    shift
    hdfs_env "HADOOP_NAMENODE=$nn" timeout -k 5 "$FR_CMD_TIMEOUT" hdfs "$@"
}

# lsrow NAME: "mode owner group size" of NAME's row in the last `ls -l` output.
lsrow() { awk -v n="$1" '$NF == n { print $1, $2, $3, $4; exit }' <<<"$FR_OUT"; }

# has_line WORD: the last output has WORD as a whole line.
has_line() { grep -qxF -- "$1" <<<"$FR_OUT"; }

# note TEXT: a `#` line in the log (what a server said, for a human to read).
note() { printf '%s\n' "$*" | sed 's/^/# /'; }

# df_sizes: "SIZE USED AVAILABLE" from the last `hdfs df` output (the Go
# client prints a header, then `<HADOOP_NAMENODE> SIZE USED AVAILABLE N%`;
# the first column is empty when the NameNode comes from HADOOP_CONF_DIR).
df_sizes() {
    awk 'NR == 2 && $(NF-3) ~ /^[0-9]+$/ && $(NF-2) ~ /^[0-9]+$/ && $(NF-1) ~ /^[0-9]+$/ {
        print $(NF-3), $(NF-2), $(NF-1) }' <<<"$FR_OUT"
}

# ---- subclusters ----
fr_minidfs_start N1 "$MINIDFS" --nameservice ns1 --block-size "$BS" ||
    fr_bail "minidfs ns1" "could not start (see its stderr below)"
fr_minidfs_start S2 "$MINIDFS" --nameservice ns2 --block-size "$BS" --standby ||
    fr_bail "minidfs ns2 (standby)" "could not start (see its stderr below)"
fr_minidfs_start A2 "$MINIDFS" --nameservice ns2 --block-size "$BS" ||
    fr_bail "minidfs ns2 (active)" "could not start (see its stderr below)"

# The destination directories, made directly on each subcluster.
fr_run on "$N1_NN" mkdir -p /data /ro /spread /ft
fr_expect_ok "setup: mkdir /data /ro /spread /ft on ns1"
fr_run on "$N1_NN" put "$L/small.txt" /ro/seed.txt
fr_expect_ok "setup: put /ro/seed.txt on ns1"
fr_run on "$A2_NN" mkdir -p /logs /spread /ft
fr_expect_ok "setup: mkdir /logs /spread /ft on ns2's active NameNode"
# The standby of ns2 has its own namespace: it gets /logs too, for the
# failover check. It is made active for that, then standby again.
kill -USR1 "$S2_PID" 2>/dev/null || true
fr_run_until 10 fr_rc_ok on "$S2_NN" ls /
fr_expect_ok "setup: ns2's first NameNode (standby) answers after SIGUSR1"
fr_run on "$S2_NN" mkdir -p /logs /ft
fr_expect_ok "setup: mkdir /logs on ns2's first NameNode (made active for this)"
kill -USR1 "$S2_PID" 2>/dev/null || true
fr_run_until 10 fr_rc_fail on "$S2_NN" ls /
fr_expect_fail_match "setup: ns2's first NameNode is standby again after another SIGUSR1" 'StandbyException'

# ---- the router ----
RCONF=$FR_TMP/fedrouter.conf

# write_conf FILE: the whole deployment in one file, on fresh ports.
write_conf() {
    local hp ap
    hp=$(fr_free_port) && ap=$(fr_free_port) || return 1
    [ "$hp" != "$ap" ] || ap=$(fr_free_port) || return 1
    cat >"$1" <<EOF
# fedrouter end-to-end test: two subclusters behind one router
[router]
id = e2e
hdfs.listen = 127.0.0.1:$hp
admin.listen = 127.0.0.1:$ap
workers = 2
default.nameservice = ns1

[statestore]
driver = file

[nameservice ns1]
namenodes = $N1_NN

# standby first: the router must find the active one
[nameservice ns2]
namenodes = $S2_NN, $A2_NN

[mount /data]
destinations = ns1:/data

[mount /logs]
destinations = ns2:/logs
owner = alice
group = staff
mode = 0750

[mount /ro]
destinations = ns1:/ro
readonly = true

[mount /spread]
destinations = ns1:/spread, ns2:/spread
order = HASH_ALL

# fault-tolerant: with one subcluster down, its share goes to the other
[mount /ft]
destinations = ns1:/ft, ns2:/ft
order = HASH_ALL
faulttolerant = true
EOF
}

fr_router_start R "$ROUTER" "$RCONF" write_conf ||
    fr_bail "fedrouter" "could not start (see its stderr below)"
cat >"$CONF/core-site.xml" <<EOF
<?xml version="1.0"?>
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://$R_HDFS</value></property>
</configuration>
EOF

# ---- 1. the root lists the mount points ----
fr_run rt ls /
fr_expect_out "1 root: hdfs ls / lists the mount points data, ft, logs, ro, spread" $'data\nft\nlogs\nro\nspread'

# ---- 2. put/cat through the router, the bytes land in the right subcluster ----
# where MOUNT: "owner other" NameNodes of the subcluster that owns /MOUNT and of the other.
where() { if [ "$1" = data ]; then echo "$N1_NN $A2_NN"; else echo "$A2_NN $N1_NN"; fi; }
for m in data logs; do
    read -r owner other < <(where "$m")
    ns=ns1 ons=ns2
    [ "$m" = data ] || { ns=ns2 ons=ns1; }
    for f in small.txt big.bin; do
        fr_run rt put "$L/$f" "/$m/$f"
        fr_expect_ok "2 put /$m/$f through the router"
        fr_run_to "$W/$m-$f.rt" rt cat "/$m/$f"
        fr_expect_cmp "2 cat /$m/$f through the router is byte-identical" "$L/$f" "$W/$m-$f.rt"
        fr_run_to "$W/$m-$f.direct" on "$owner" cat "/$m/$f"
        fr_expect_cmp "2 /$m/$f is on $ns (cat directly)" "$L/$f" "$W/$m-$f.direct"
        fr_run on "$other" cat "/$m/$f"
        fr_expect_fail "2 /$m/$f is not on $ons" "open /$m/$f: file does not exist"
    done
done

# ---- 3. mkdir -p and mv inside a mount; mv across subclusters fails ----
fr_run rt mkdir -p /data/a/b/c
fr_expect_ok "3 mkdir -p /data/a/b/c"
fr_run on "$N1_NN" ls /data/a/b
fr_expect_out "3 /data/a/b/c is on ns1" c
fr_run rt put "$L/small.txt" /data/tomove.txt
fr_expect_ok "3 put /data/tomove.txt"
fr_run rt mv /data/tomove.txt /data/a/moved.txt
fr_expect_ok "3 mv /data/tomove.txt /data/a/moved.txt"
fr_run rt ls /data/a
fr_expect_out "3 ls /data/a after mv" $'b\nmoved.txt'
fr_run_to "$W/moved.direct" on "$N1_NN" cat /data/a/moved.txt
fr_expect_cmp "3 the moved file is on ns1 with its content" "$L/small.txt" "$W/moved.direct"
fr_run rt mv /data/big.bin /logs/moved.bin
note "hdfs mv /data/big.bin /logs/moved.bin said (exit $FR_RC): $FR_ERR"
fr_expect_fail "3 mv /data/big.bin /logs/moved.bin (ns1 -> ns2) fails"
fr_run fr_hdfs_rpc "$R_HDFS" rename2 /data/big.bin /logs/moved.bin
note "router's answer to rename2 /data/big.bin -> /logs/moved.bin: $FR_OUT$FR_ERR"
if [ "$FR_RC" = 1 ]; then
    fr_check_match "3 the rename error says across subclusters, or names ns1 and ns2" \
        '[Aa]cross|ns1.*ns2|ns2.*ns1' "$FR_OUT"
else
    fr_not_ok "3 the rename error says across subclusters, or names ns1 and ns2" \
        "expected an RPC error, got exit $FR_RC: $FR_OUT$FR_ERR"
fi
fr_run_to "$W/notmoved" rt cat /data/big.bin
fr_expect_cmp "3 after the refused mv, /data/big.bin is intact" "$L/big.bin" "$W/notmoved"
fr_run on "$A2_NN" ls /logs
fr_expect_out "3 after the refused mv, ns2:/logs has no moved.bin" $'big.bin\nsmall.txt'

# ---- 4. rm -r, chmod, chown, touch, du, df, truncate, checksum ----
fr_run rt mkdir -p /data/rmme/sub
fr_expect_ok "4 mkdir -p /data/rmme/sub"
fr_run rt put "$L/small.txt" /data/rmme/sub/f
fr_expect_ok "4 put /data/rmme/sub/f"
fr_run rt rm -r /data/rmme
fr_expect_ok "4 rm -r /data/rmme"
fr_run rt ls /data/rmme
fr_expect_fail "4 /data/rmme is gone through the router" "stat /data/rmme: file does not exist"
fr_run on "$N1_NN" ls /data/rmme
fr_expect_fail "4 /data/rmme is gone from ns1" "stat /data/rmme: file does not exist"

fr_run rt chmod 600 /data/small.txt
fr_expect_ok "4 chmod 600 /data/small.txt"
fr_run on "$N1_NN" ls -l /data
fr_expect_match "4 ns1 shows -rw------- on /data/small.txt" '^-rw------- ' "$(lsrow small.txt)"
fr_run rt chmod 640 /logs/small.txt
fr_expect_ok "4 chmod 640 /logs/small.txt"
fr_run on "$A2_NN" ls -l /logs
fr_expect_match "4 ns2 shows -rw-r----- on /logs/small.txt" '^-rw-r----- ' "$(lsrow small.txt)"
fr_run rt chown alice:staff /data/small.txt
fr_expect_ok "4 chown alice:staff /data/small.txt"
fr_run on "$N1_NN" ls -l /data
fr_expect_match "4 ns1 shows owner alice, group staff" "^-rw------- alice staff $SMALL_SIZE\$" "$(lsrow small.txt)"
fr_run rt ls -l /data
fr_expect_match "4 ls -l through the router shows the same" "^-rw------- alice staff $SMALL_SIZE\$" "$(lsrow small.txt)"

fr_run rt touch /data/touched
fr_expect_ok "4 touch /data/touched"
fr_run on "$N1_NN" ls -l /data
fr_expect_match "4 ns1 has the empty /data/touched" "^-[-rwx]{9} $SU [^ ]+ 0\$" "$(lsrow touched)"
fr_run rt touch /logs/touched
fr_expect_ok "4 touch /logs/touched"
fr_run on "$A2_NN" ls -l /logs
fr_expect_match "4 ns2 has the empty /logs/touched" "^-[-rwx]{9} $SU [^ ]+ 0\$" "$(lsrow touched)"

for m in data logs; do
    read -r owner _ < <(where "$m")
    fr_run on "$owner" du -s "/$m"
    direct=$FR_OUT
    fr_run rt du -s "/$m"
    fr_expect_match "4 du -s /$m through the router" "^[0-9]+ +/$m\$"
    if fr_passed; then
        fr_check_eq "4 du -s /$m equals du -s on its subcluster" "$direct" "$FR_OUT"
    fi
done

# df: the router's sizes are the sums over the subclusters (the active
# NameNode of each). Size and Used must be exact; Available moves with the
# disk, so it may differ by 1% of the size. Retried while a subcluster's Used
# changes between two reads (block deletion may lag).
df_ok=0 df_why=''
for _ in 1 2 3 4 5; do
    fr_run on "$N1_NN" df
    read -r c1 u1 a1 < <(df_sizes) || true
    fr_run on "$A2_NN" df
    read -r c2 u2 a2 < <(df_sizes) || true
    fr_run rt df
    note "router df: $FR_OUT"
    read -r cr ur ar < <(df_sizes) || true
    fr_run on "$N1_NN" df
    read -r _ u1b _ < <(df_sizes) || true
    fr_run on "$A2_NN" df
    read -r _ u2b _ < <(df_sizes) || true
    if [ -z "${c1:-}" ] || [ -z "${c2:-}" ] || [ -z "${cr:-}" ]; then
        df_why="unreadable df output (ns1 '${c1:-}', ns2 '${c2:-}', router '${cr:-}'); last: $FR_OUT $FR_ERR"
        break
    fi
    if [ "$u1" != "${u1b:-}" ] || [ "$u2" != "${u2b:-}" ]; then
        sleep 0.5
        continue
    fi
    tol=$(((c1 + c2) / 100))
    d=$((ar - a1 - a2))
    if [ "$cr" != $((c1 + c2)) ] || [ "$ur" != $((u1 + u2)) ] || [ "${d#-}" -gt "$tol" ]; then
        df_why="router size $cr used $ur available $ar; ns1 $c1 $u1 $a1 + ns2 $c2 $u2 $a2"
    else
        df_ok=1
        df_why="size $cr = $c1 + $c2, used $ur = $u1 + $u2, available $ar ~ $a1 + $a2"
    fi
    break
done
if [ "$df_ok" = 1 ]; then
    fr_ok "4 df through the router is the sum of the subclusters ($df_why)"
else
    fr_not_ok "4 df through the router is the sum of the subclusters" "${df_why:-the Used of a subcluster never settled}"
fi

fr_run rt put "$L/big.bin" /data/trunc.bin
fr_expect_ok "4 put /data/trunc.bin"
fr_run rt truncate "$TRUNC_SIZE" /data/trunc.bin
fr_expect_ok "4 truncate $TRUNC_SIZE /data/trunc.bin"
# A truncate may finish after the call returns: cat until it shows the prefix.
deadline=$((SECONDS + 10))
while :; do
    fr_run_to "$W/trunc.got" rt cat /data/trunc.bin
    if [ "$FR_RC" = 0 ] && cmp -s "$L/trunc.exp" "$W/trunc.got"; then break; fi
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.2
done
fr_expect_cmp "4 after truncate, cat through the router shows the prefix" "$L/trunc.exp" "$W/trunc.got"
fr_run_to "$W/trunc.direct" on "$N1_NN" cat /data/trunc.bin
fr_expect_cmp "4 after truncate, ns1 has the prefix" "$L/trunc.exp" "$W/trunc.direct"

for p in /data/big.bin /data/trunc.bin /logs/big.bin; do
    owner=$N1_NN
    [[ $p != /logs/* ]] || owner=$A2_NN
    fr_run on "$owner" checksum "$p"
    direct=$FR_OUT
    fr_run rt checksum "$p"
    fr_expect_match "4 checksum $p through the router" "^[0-9a-f]{32} $p\$"
    if fr_passed; then
        fr_check_eq "4 checksum $p equals the one on its subcluster" "$direct" "$FR_OUT"
    fi
done

# ---- 5. HASH_ALL: /spread spreads files over both subclusters ----
bad=()
for f in "${SPREAD_NAMES[@]}"; do
    fr_run rt put "$L/spread/$f" "/spread/$f"
    [ "$FR_RC" = 0 ] || bad+=("$f: $(fr__last)")
done
if [ ${#bad[@]} = 0 ]; then
    fr_ok "5 put $NSPREAD files into /spread"
else
    fr_not_ok "5 put $NSPREAD files into /spread" "${#bad[@]} failed: ${bad[*]}"
fi
printf '%s\n' "${SPREAD_NAMES[@]}" >"$W/spread.exp"
fr_run rt ls /spread
printf '%s\n' "$FR_OUT" | sort >"$W/spread.rt"
fr_expect_cmp "5 ls /spread through the router lists all $NSPREAD" "$W/spread.exp" "$W/spread.rt"
fr_expect_out "5 ls /spread through the router is in name order" "$(cat "$W/spread.exp")"
fr_run on "$N1_NN" ls /spread
n1=$FR_OUT
fr_run on "$A2_NN" ls /spread
n2=$FR_OUT
c1=0 c2=0
[ -z "$n1" ] || c1=$(wc -l <<<"$n1")
[ -z "$n2" ] || c2=$(wc -l <<<"$n2")
note "ns1:/spread holds $c1 files, ns2:/spread holds $c2"
fr_check_match "5 ns1:/spread holds some of them" '^[1-9]' "$c1"
fr_check_match "5 ns2:/spread holds some of them" '^[1-9]' "$c2"
printf '%s\n%s\n' "$n1" "$n2" | sed '/^$/d' | sort >"$W/spread.both"
fr_check_cmp "5 ns1:/spread and ns2:/spread hold exactly the $NSPREAD, once each" "$W/spread.exp" "$W/spread.both"
bad=()
for f in "${SPREAD_NAMES[@]}"; do
    fr_run_to "$W/spread.got" rt cat "/spread/$f"
    { [ "$FR_RC" = 0 ] && cmp -s "$L/spread/$f" "$W/spread.got"; } || bad+=("$f")
done
if [ ${#bad[@]} = 0 ]; then
    fr_ok "5 cat of each /spread file through the router"
else
    fr_not_ok "5 cat of each /spread file through the router" "wrong or failed: ${bad[*]}"
fi

# du -s / adds up the whole federated namespace: the default subcluster's
# root (which holds ns1's mounts) and the mounts of ns2 (/logs, /spread).
fr_run on "$N1_NN" du -s /
d1=$(awk '{ print $1 }' <<<"$FR_OUT")
fr_run on "$A2_NN" du -s /logs
d2=$(awk '{ print $1 }' <<<"$FR_OUT")
fr_run on "$A2_NN" du -s /spread
d3=$(awk '{ print $1 }' <<<"$FR_OUT")
fr_run rt du -s /
note "du -s /: router $FR_OUT; ns1:/ $d1, ns2:/logs $d2, ns2:/spread $d3"
if [[ $d1 =~ ^[0-9]+$ && $d2 =~ ^[0-9]+$ && $d3 =~ ^[0-9]+$ ]] && [ "$d2" -gt 0 ] && [ "$d3" -gt 0 ]; then
    fr_expect_match "5 du -s / through the router is the sum over both subclusters" "^$((d1 + d2 + d3)) +/\$"
else
    fr_not_ok "5 du -s / through the router is the sum over both subclusters" "direct du failed: '$d1' '$d2' '$d3'"
fi
fr_run rt du -s /spread
fr_expect_match "5 du -s /spread adds up both destinations" "^$((d3 + $(on "$N1_NN" du -s /spread | awk '{ print $1 }'))) +/spread\$"

# A mount point in a listing carries its destination's status, as getFileInfo
# of it answers (RBF): ns2:/logs's owner, group and mode. The entry's own
# (alice, staff, 0750) stand in only while no destination holds it.
fr_run on "$A2_NN" ls -l /
want=$(lsrow logs)
fr_run rt ls -l /
if [ -n "$want" ]; then
    fr_expect_match "5 ls -l / shows /logs with its destination's owner, group and mode" "^${want% *} " "$(lsrow logs)"
else
    fr_not_ok "5 ls -l / shows /logs with its destination's owner, group and mode" "ns2 does not list /logs"
fi

# ---- 6. a readonly mount ----
fr_run rt put "$L/small.txt" /ro/new.txt
note "hdfs put into /ro said (exit $FR_RC): $FR_ERR"
fr_expect_fail_match "6 put into the readonly /ro fails with permission denied" 'permission denied'
fr_run rt mkdir /ro/sub
fr_expect_fail_match "6 mkdir in /ro fails with permission denied" 'permission denied'
fr_run rt rm /ro/seed.txt
fr_expect_fail_match "6 rm in /ro fails with permission denied" 'permission denied'
fr_run fr_hdfs_rpc "$R_HDFS" mkdirs /ro/sub
note "router's answer to mkdirs /ro/sub: $FR_OUT$FR_ERR"
fr_run rt ls /ro
fr_expect_out "6 ls /ro works" seed.txt
fr_run_to "$W/seed.rt" rt cat /ro/seed.txt
fr_expect_cmp "6 cat /ro/seed.txt works" "$L/small.txt" "$W/seed.rt"
fr_run on "$N1_NN" ls /ro
fr_expect_out "6 ns1:/ro is unchanged" seed.txt

# ---- 9. metrics and health (before anything is stopped) ----
fr_run fr_http_get "$R_ADMIN" /metrics
fr_expect_match "9 GET /metrics answers 200" "^200$NL"
if fr_passed; then
    samples=$(sed 1d <<<"$FR_OUT" | awk '$1 ~ /^fedrouter_calls_total(\{.*\})?$/ { n++; s += $NF } END { if (n) print n, s }')
    fr_check_match "9 /metrics has fedrouter_calls_total samples, summing to > 0 (got: ${samples:-none})" \
        '^[0-9]+ [0-9.e+]*[1-9]' "$samples"
    fr_check_match "9 /metrics shows the upstream pools" 'fedrouter_upstream_connections\{proto="hdfs"\} [1-9]' "$FR_OUT"
    fr_check_match "9 /metrics counts upstream connections by state" \
        'fedrouter_upstream_conn_state\{proto="hdfs",state="ready"\} [1-9]' "$FR_OUT"
    fr_check_match "9 /metrics shows no upstream connection stuck connecting" \
        'fedrouter_upstream_conn_state\{proto="hdfs",state="connecting"\} 0' "$FR_OUT"
    # df fanned out: one client series (ns "*") and one upstream series per nameservice.
    for ns in '*' ns1 ns2; do
        proto=hdfs_upstream re=$ns
        [ "$ns" != '*' ] || { proto=hdfs re='\*'; }
        fr_check_match "9 /metrics counts getFsStats with proto=$proto ns=$ns" \
            "fedrouter_calls_total\\{proto=\"$proto\",method=\"getFsStats\",ns=\"$re\"\\} [1-9]" "$FR_OUT"
    done
fi
fr_run fr_http_get "$R_ADMIN" /healthz
fr_expect_match "9 GET /healthz answers 200" "^200(\$|$NL)"

# ---- 10. reload: a mount added to the file ----
fr_run on "$A2_NN" mkdir /new
fr_expect_ok "10 mkdir /new on ns2 (before the mount exists)"
fr_run rt ls /
fr_expect_out "10 before the change, hdfs ls / does not show new" $'data\nft\nlogs\nro\nspread'
printf '\n[mount /new]\ndestinations = ns2:/new\n' >>"$RCONF"
root_has_new() { fr_rc_ok && has_line new; }
fr_run_until "$RELOAD_WAIT" root_has_new rt ls /
fr_expect_match "10 within ${RELOAD_WAIT}s of adding [mount /new] to the file, hdfs ls / shows new" "(^|$NL)new(\$|$NL)"
fr_run rt put "$L/small.txt" /new/x.txt
fr_expect_ok "10 put /new/x.txt"
fr_run_to "$W/new.direct" on "$A2_NN" cat /new/x.txt
fr_expect_cmp "10 /new/x.txt is on ns2" "$L/small.txt" "$W/new.direct"
fr_run rt ls /data/a
fr_expect_out "10 the other mounts still work after the reload" $'b\nmoved.txt'

# ---- 7. NameNode failover in ns2 ----
fr_run rt ls /logs
fr_expect_out "7 with ns2's standby listed first, ls /logs works" $'big.bin\nsmall.txt\ntouched'
kill -USR1 "$S2_PID" 2>/dev/null || true
fr_run_until 10 fr_rc_ok on "$S2_NN" ls /
fr_expect_ok "7 ns2's first NameNode becomes active on SIGUSR1"
fr_minidfs_stop A2
# No retry: the client must not notice the switch.
fr_run rt mkdir /logs/after-failover
fr_expect_ok "7 after ns2's active NameNode stopped, mkdir /logs/after-failover works at once"
fr_run rt ls /logs
fr_expect_out "7 ls /logs lists the new active's /logs" after-failover
fr_run on "$S2_NN" ls /logs
fr_expect_out "7 the dir is on the new active NameNode" after-failover

# ---- 8. one subcluster down ----
fr_minidfs_stop N1
fr_run rt ls /data
note "hdfs ls /data with ns1 down said (exit $FR_RC): $FR_ERR"
fr_expect_fail "8 with ns1 down, ls /data fails (and does not hang)"
fr_run fr_hdfs_rpc "$R_HDFS" getFileInfo /data
note "router's answer to getFileInfo /data with ns1 down: $FR_OUT$FR_ERR"
if [ "$FR_RC" = 1 ]; then
    fr_check_match "8 the error names ns1" 'ns1' "$FR_OUT"
else
    fr_not_ok "8 the error names ns1" "expected an RPC error, got exit $FR_RC: $FR_OUT$FR_ERR"
fi
fr_run rt ls /logs
fr_expect_out "8 with ns1 down, ls /logs still works" after-failover
if fr_alive "$R_PID"; then
    fr_ok "8 the router is still running"
else
    fr_not_ok "8 the router is still running" "it has exited"
fi
fr_run fr_http_get "$R_ADMIN" /healthz
note "GET /healthz with ns1 down: $(fr__oneline "$FR_OUT$FR_ERR")"
# The fault-tolerant mount takes every file while ns1 is down: the files
# that hash to ns1 go to ns2 instead, and read back through the router.
bad=()
for i in 1 2 3 4 5 6; do
    fr_run rt put "$L/small.txt" "/ft/f$i"
    [ "$FR_RC" = 0 ] || bad+=("put f$i: $FR_ERR")
    fr_run_to "$W/ft.got" rt cat "/ft/f$i"
    { [ "$FR_RC" = 0 ] && cmp -s "$L/small.txt" "$W/ft.got"; } || bad+=("cat f$i")
done
if [ ${#bad[@]} = 0 ]; then
    fr_ok "8 with ns1 down, put and cat of 6 files in the fault-tolerant /ft work"
else
    fr_not_ok "8 with ns1 down, put and cat of 6 files in the fault-tolerant /ft work" "${bad[*]}"
fi
fr_run on "$S2_NN" ls /ft
fr_expect_out "8 all 6 /ft files are on ns2" $'f1\nf2\nf3\nf4\nf5\nf6'

# ---- the end ----
if fr_alive "$R_PID"; then
    fr_stop_pid "$R_PID"
    fr_check_eq "fedrouter exits 0 on SIGTERM" 0 "$FR_STOP_RC"
fi
fr_minidfs_stop S2
fr_summary
