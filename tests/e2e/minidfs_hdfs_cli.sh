#!/usr/bin/env bash
# minidfs_hdfs_cli.sh: minidfs driven by a client that others wrote, the Go
# `hdfs` command (Debian package hdfs-cli).
#
#   bash tests/e2e/minidfs_hdfs_cli.sh [BUILD_DIR]   (else $FR_BUILD_DIR, else <repo>/build)
#
# One minidfs with 1 MiB blocks on free loopback ports. The suite runs twice,
# under its own directory each time: the client finds the NameNode through
# HADOOP_NAMENODE, then through HADOOP_CONF_DIR (core-site.xml fs.defaultFS).
# Then a second minidfs started with --standby: refused, answering after
# SIGUSR1, refusing again after another; and an HA hdfs-site.xml that lists
# the standby first and the active second. Expected checksums come from a
# small Python helper written below (CRC32 as the Go client writes, or CRC32C).
# Prints `ok - NAME` / `not ok - NAME: what differed` per check, then
# `N passed, N failed`; exit status 0 when every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
: "${FR_CMD_TIMEOUT:=30}"           # per hdfs command; see lib.sh
# shellcheck source=lib.sh
. "$here/lib.sh"

BUILD_DIR=${1:-${FR_BUILD_DIR:-$repo/build}}
MINIDFS=$BUILD_DIR/tests/minidfs/minidfs
BS=1048576                          # minidfs --block-size, and the helper's
SMALL_SIZE=1024
BIG_SIZE=$((3 * BS + BS / 2 + 100)) # 4 blocks; the last 512-byte chunk is partial
TRUNC_SIZES=(2097152 1500000)       # on a block boundary, then inside a chunk

fr_init minidfs_hdfs_cli
fr_need_cmd hdfs cmp timeout head tail awk
case $(hdfs -v 2>&1 || true) in
*gohdfs*) ;;
*) fr_bail "find the Go hdfs client" "the hdfs on PATH ($(command -v hdfs)) is not gohdfs (Debian package hdfs-cli)" ;;
esac
[ -x /usr/bin/python3 ] || fr_bail "find /usr/bin/python3" "not installed"
[ -x "$MINIDFS" ] || fr_bail "find minidfs" "no executable at $MINIDFS (build first)"
SU=$(id -un)                        # minidfs's superuser: whoever starts it

# ---- local files and their expected checksums ----
# The Go client creates files with the block size that getServerDefaults
# returns, so the expected checksums assume minidfs answers --block-size there.
L=$FR_TMP/local
mkdir -p "$L"
for i in $(seq 1 80); do printf 'line %03d of the small test file\n' "$i"; done >"$L/lines.txt"
head -c "$SMALL_SIZE" "$L/lines.txt" >"$L/small.txt"   # ends inside a line
head -c "$BIG_SIZE" /dev/urandom >"$L/big.bin"
: >"$L/empty"

cat >"$FR_TMP/md5crc.py" <<'PY'
# Prints what `hdfs checksum` should print for a file stored with a given
# block size: per block, the MD5 of the big-endian CRC (CRC32 unless MD5CRC_TYPE=CRC32C) of each 512-byte
# chunk (the last one may be short); then the MD5 of the block MD5s followed
# by zero bytes up to a power of two, at least 32 (as the Go client does).
#   md5crc.py FILE BLOCK_SIZE LENGTH...   one line per LENGTH: the checksum
#                                         of the first LENGTH bytes of FILE
#   md5crc.py --self-test                 CRC32C test vectors (RFC 3720)
import hashlib
import os
import struct
import sys
import zlib

CHUNK = 512


def make_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = make_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    t = TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def self_test():
    vectors = [
        (b"", 0),
        (b"123456789", 0xE3069283),
        (bytes(32), 0x8A9136AA),
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
    ]
    for data, want in vectors:
        got = crc32c(data)
        if got != want:
            print("crc32c(%r) = %08x, want %08x" % (data[:12], got, want))
            return 1
    print("ok")
    return 0


# A DataNode keeps the checksums the writer sent, and the Go client writes
# CRC32 (not CRC32C): so its files checksum as MD5-of-MD5-of-CRC32.
CRC_TYPE = os.environ.get("MD5CRC_TYPE", "CRC32")


def chunk_crc(data):
    return zlib.crc32(data) & 0xFFFFFFFF if CRC_TYPE == "CRC32" else crc32c(data)


def file_checksum(data, length, block_size, full_chunks):
    block_md5s = []
    for start in range(0, length, block_size):
        end = min(start + block_size, length)
        h = hashlib.md5()
        for off in range(start, end, CHUNK):
            n = min(CHUNK, end - off)
            if n == CHUNK:
                crc = full_chunks.get(off)
                if crc is None:
                    crc = full_chunks[off] = chunk_crc(data[off:off + n])
            else:
                crc = chunk_crc(data[off:off + n])
            h.update(struct.pack(">I", crc))
        block_md5s.append(h.digest())
    padded, total = 32, 0
    final = hashlib.md5()
    for m in block_md5s:
        final.update(m)
        total += len(m)
        if padded < total:
            padded *= 2
    final.update(bytes(padded - total))
    return final.hexdigest()


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) < 4:
        print("usage: md5crc.py FILE BLOCK_SIZE LENGTH...", file=sys.stderr)
        return 2
    with open(argv[1], "rb") as f:
        data = f.read()
    block_size = int(argv[2])
    if block_size <= 0 or block_size % CHUNK:
        print("block size must be a positive multiple of 512", file=sys.stderr)
        return 2
    cache = {}
    for arg in argv[3:]:
        length = int(arg)
        if not 0 <= length <= len(data):
            print("length %d outside the file" % length, file=sys.stderr)
            return 2
        print(file_checksum(data, length, block_size, cache))
    return 0


sys.exit(main(sys.argv))
PY

fr_run /usr/bin/python3 "$FR_TMP/md5crc.py" --self-test
fr_expect_out "checksum helper: CRC32C test vectors" ok
declare -A CK
fr_run /usr/bin/python3 "$FR_TMP/md5crc.py" "$L/small.txt" "$BS" "$SMALL_SIZE"
CK[small.txt]=$FR_OUT
fr_run /usr/bin/python3 "$FR_TMP/md5crc.py" "$L/empty" "$BS" 0
CK[empty]=$FR_OUT
fr_run /usr/bin/python3 "$FR_TMP/md5crc.py" "$L/big.bin" "$BS" "$BIG_SIZE" "${TRUNC_SIZES[@]}"
{
    read -r 'CK[big.bin]' || true
    read -r "CK[trunc-${TRUNC_SIZES[0]}]" || true
    read -r "CK[trunc-${TRUNC_SIZES[1]}]" || true
} <<<"$FR_OUT"
for k in "${!CK[@]}"; do
    [[ ${CK[$k]} =~ ^[0-9a-f]{32}$ ]] || fr_bail "checksum helper" "no checksum for $k: $FR_ERR"
done

# ---- the hdfs command ----
# hc ARGS...: the Go client, finding the NameNode the way MODE says
# (env: HADOOP_NAMENODE=$HC_NN; conf: HADOOP_CONF_DIR=$HC_CONF), as $HC_USER
# when set, else as the OS user. Nothing else from the caller's Hadoop
# environment leaks in.
MODE=env HC_NN='' HC_CONF='' HC_USER=''
hc() {
    local -a e=(env -u HADOOP_CONF_DIR -u HADOOP_HOME -u HADOOP_NAMENODE -u HADOOP_USER_NAME)
    case $MODE in
    env) e+=("HADOOP_NAMENODE=$HC_NN") ;;
    conf) e+=("HADOOP_CONF_DIR=$HC_CONF") ;;
    esac
    if [ -n "$HC_USER" ]; then
        e+=("HADOOP_USER_NAME=$HC_USER")
    fi
    "${e[@]}" timeout -k 5 "$FR_CMD_TIMEOUT" hdfs "$@"
}
as_alice() { HC_USER=alice hc "$@"; }

# lsrow NAME: "mode owner group size" of NAME's row in the last `ls -l` output.
lsrow() { awk -v n="$1" '$NF == n { print $1, $2, $3, $4; exit }' <<<"$FR_OUT"; }

# htcheck WHAT LOCAL REMOTE head|tail [FLAGS...]: the Go head/tail against coreutils.
htcheck() {
    local what=$1 lf=$2 rf=$3 cmd=$4
    shift 4
    "$cmd" "$@" "$lf" >"$W/ht.exp"
    fr_run_to "$W/ht.got" hc "$cmd" "$@" "$rf"
    fr_expect_cmp "$T: $cmd${*:+ $*} $what" "$W/ht.exp" "$W/ht.got"
}

# cat_until NAME EXPECTED_FILE REMOTE: cat, retried for up to 10 s until it
# equals EXPECTED_FILE (a truncate may finish after the call returns).
cat_until() {
    local deadline=$((SECONDS + 10))
    while :; do
        fr_run_to "$W/until.got" hc cat "$3"
        if [ "$FR_RC" = 0 ] && cmp -s "$2" "$W/until.got"; then
            break
        fi
        [ "$SECONDS" -lt "$deadline" ] || break
        sleep 0.2
    done
    fr_expect_cmp "$1" "$2" "$W/until.got"
}

# ---- the suite, run once per way of finding the NameNode ----
# suite LABEL BASE: every check under the HDFS directory BASE.
suite() {
    T=$1
    local B=$2 f n sum
    W=$FR_TMP/work-$T
    mkdir -p "$W"

    fr_run hc ls /
    fr_expect_ok "$T: the NameNode answers (hdfs ls /)"
    if ! fr_passed; then
        echo "# $T: skipping the rest of this suite"
        return 0
    fi

    # mkdir
    fr_run hc mkdir -p "$B/d1/d2/d3"
    fr_expect_ok "$T: mkdir -p (nested)"
    fr_run hc ls "$B/d1/d2"
    fr_expect_out "$T: ls shows the nested dir" d3
    fr_run hc mkdir -p "$B/d1/d2"
    fr_expect_ok "$T: mkdir -p of an existing dir"
    fr_run hc mkdir "$B/d1"
    fr_expect_fail "$T: mkdir of an existing dir without -p fails" "mkdir $B/d1: file already exists"
    fr_run hc mkdir "$B/nodir/sub"
    fr_expect_fail "$T: mkdir without -p under a missing parent fails" "mkdir $B/nodir/sub: file does not exist"
    fr_run hc mkdir "$B/dir"
    fr_expect_ok "$T: mkdir"

    # put, cat, get
    for f in small.txt big.bin; do
        fr_run hc put "$L/$f" "$B/dir/$f"
        fr_expect_ok "$T: put $f"
        fr_run_to "$W/$f.cat" hc cat "$B/dir/$f"
        fr_expect_cmp "$T: cat $f is byte-identical" "$L/$f" "$W/$f.cat"
        rm -f "$W/$f.get"
        fr_run hc get "$B/dir/$f" "$W/$f.get"
        fr_expect_cmp "$T: get $f is byte-identical" "$L/$f" "$W/$f.get"
    done

    # ls
    fr_run hc ls "$B/dir"
    fr_expect_out "$T: ls lists the files in name order" $'big.bin\nsmall.txt'
    fr_run hc ls -l "$B/dir"
    fr_expect_match "$T: ls -l shows small.txt (mode, owner $SU, size)" \
        "^-[-rwx]{9} $SU [^ ]+ $SMALL_SIZE\$" "$(lsrow small.txt)"
    fr_expect_match "$T: ls -l shows big.bin (mode, owner $SU, size)" \
        "^-[-rwx]{9} $SU [^ ]+ $BIG_SIZE\$" "$(lsrow big.bin)"
    fr_run hc ls -l "$B/d1"
    fr_expect_match "$T: ls -l shows a dir" "^d[-rwx]{9} $SU [^ ]+ 0\$" "$(lsrow d2)"

    # head, tail (the Go client's default is 10 lines, like coreutils)
    htcheck small.txt "$L/small.txt" "$B/dir/small.txt" head
    htcheck small.txt "$L/small.txt" "$B/dir/small.txt" head -n 3
    htcheck small.txt "$L/small.txt" "$B/dir/small.txt" head -c 100
    htcheck small.txt "$L/small.txt" "$B/dir/small.txt" tail
    htcheck small.txt "$L/small.txt" "$B/dir/small.txt" tail -n 3
    htcheck small.txt "$L/small.txt" "$B/dir/small.txt" tail -c 100
    htcheck "big.bin (across a block boundary)" "$L/big.bin" "$B/dir/big.bin" head -c $((BS + 4242))
    htcheck "big.bin (across block boundaries)" "$L/big.bin" "$B/dir/big.bin" tail -c $((2 * BS + 1000))
    htcheck big.bin "$L/big.bin" "$B/dir/big.bin" head
    htcheck big.bin "$L/big.bin" "$B/dir/big.bin" tail -n 5

    # checksum: "<32 hex digits> <path>"
    for f in small.txt big.bin; do
        fr_run hc checksum "$B/dir/$f"
        fr_expect_out "$T: checksum $f" "${CK[$f]} $B/dir/$f"
    done

    # touch
    fr_run hc touch "$B/dir/empty"
    fr_expect_ok "$T: touch creates a file"
    fr_run hc ls -l "$B/dir"
    fr_expect_match "$T: ls -l shows the new file empty" "^-[-rwx]{9} $SU [^ ]+ 0\$" "$(lsrow empty)"
    fr_run_to "$W/empty.cat" hc cat "$B/dir/empty"
    fr_expect_cmp "$T: cat of the empty file" "$L/empty" "$W/empty.cat"
    fr_run hc checksum "$B/dir/empty"
    fr_expect_out "$T: checksum of the empty file" "${CK[empty]} $B/dir/empty"
    fr_run hc touch "$B/dir/small.txt"
    fr_expect_ok "$T: touch of an existing file"
    fr_run_to "$W/touched.cat" hc cat "$B/dir/small.txt"
    fr_expect_cmp "$T: touch keeps the content" "$L/small.txt" "$W/touched.cat"
    fr_run hc touch -c "$B/dir/none"
    fr_expect_fail "$T: touch -c of a missing file fails" "stat $B/dir/none: file does not exist"

    # du, df
    sum=$((SMALL_SIZE + BIG_SIZE))
    fr_run hc du -s "$B/dir"
    fr_expect_match "$T: du -s sums the sizes" "^$sum +$B/dir\$"
    fr_run hc du "$B/dir"
    fr_expect_match "$T: du lists each file, then the total" \
        "^$BIG_SIZE +$B/dir/big.bin"$'\n'"0 +$B/dir/empty"$'\n'"$SMALL_SIZE +$B/dir/small.txt"$'\n'"$sum +$B/dir\$"
    fr_run hc df
    fr_expect_match "$T: df prints a header and one line" $'^ *Filesystem +Size +Used +Available +Use%\n[^\n]+$'
    if fr_passed; then
        local cap used rem pct
        read -r cap used rem pct < <(awk 'NR == 2 { print $(NF-3), $(NF-2), $(NF-1), $NF }' <<<"$FR_OUT") || true
        if [[ $cap =~ ^[0-9]+$ && $used =~ ^[0-9]+$ && $rem =~ ^[0-9]+$ && $pct =~ ^[0-9]+%$ ]] &&
            [ "$cap" -gt 0 ] && [ "$rem" -le "$cap" ]; then
            fr_ok "$T: df sizes (capacity $cap, used $used, available $rem)"
        else
            fr_not_ok "$T: df sizes" "want capacity > 0 >= available, got '$(sed -n 2p <<<"$FR_OUT")'"
        fi
    fi

    # chmod, chown (as the superuser)
    fr_run hc chmod 600 "$B/dir/small.txt"
    fr_expect_ok "$T: chmod 600 a file"
    if fr_passed; then
        fr_run hc ls -l "$B/dir"
        fr_expect_match "$T: ls -l shows -rw-------" "^-rw------- " "$(lsrow small.txt)"
    fi
    fr_run hc chmod 750 "$B/d1"
    fr_expect_ok "$T: chmod 750 a dir"
    if fr_passed; then
        fr_run hc ls -l "$B"
        fr_expect_match "$T: ls -l shows drwxr-x---" "^drwxr-x--- " "$(lsrow d1)"
    fi
    fr_run hc chown alice:staff "$B/dir/small.txt"
    fr_expect_ok "$T: chown alice:staff as the superuser"
    if fr_passed; then
        fr_run hc ls -l "$B/dir"
        fr_expect_match "$T: ls -l shows owner alice, group staff" "^-rw------- alice staff $SMALL_SIZE\$" "$(lsrow small.txt)"
    fi
    fr_run hc chown bob "$B/dir/big.bin"
    fr_expect_ok "$T: chown bob (the group follows)"
    if fr_passed; then
        fr_run hc ls -l "$B/dir"
        fr_expect_match "$T: ls -l shows owner bob, group bob" "^-[-rwx]{9} bob bob $BIG_SIZE\$" "$(lsrow big.bin)"
    fi

    # truncate (a copy of big.bin): on a block boundary, then mid-chunk
    fr_run hc put "$L/big.bin" "$B/dir/trunc.bin"
    fr_expect_ok "$T: put a copy to truncate"
    for n in "${TRUNC_SIZES[@]}"; do
        head -c "$n" "$L/big.bin" >"$W/trunc.exp"
        fr_run hc truncate "$n" "$B/dir/trunc.bin"
        fr_expect_ok "$T: truncate to $n"
        if fr_passed; then
            cat_until "$T: after truncate to $n, cat shows the prefix" "$W/trunc.exp" "$B/dir/trunc.bin"
            fr_run hc checksum "$B/dir/trunc.bin"
            fr_expect_out "$T: checksum after truncate to $n" "${CK[trunc-$n]} $B/dir/trunc.bin"
        fi
    done

    # mv: a file, a file into a dir, a dir
    fr_run hc mv "$B/dir/small.txt" "$B/dir/renamed.txt"
    fr_expect_ok "$T: mv a file"
    if fr_passed; then
        fr_run hc ls "$B/dir"
        fr_expect_out "$T: ls after mv" $'big.bin\nempty\nrenamed.txt\ntrunc.bin'
        fr_run_to "$W/renamed.cat" hc cat "$B/dir/renamed.txt"
        fr_expect_cmp "$T: the moved file keeps its content" "$L/small.txt" "$W/renamed.cat"
    fi
    fr_run hc mv "$B/dir/renamed.txt" "$B/d1"
    fr_expect_ok "$T: mv a file into a dir"
    if fr_passed; then
        fr_run hc ls "$B/d1"
        fr_expect_out "$T: ls of the target dir" $'d2\nrenamed.txt'
    fi
    fr_run hc mv "$B/dir" "$B/moved"
    fr_expect_ok "$T: mv a dir"
    if fr_passed; then
        fr_run hc ls "$B"
        fr_expect_out "$T: ls after mv of a dir" $'d1\nmoved'
        fr_run_to "$W/moved.cat" hc cat "$B/moved/big.bin"
        fr_expect_cmp "$T: a file in the moved dir keeps its content" "$L/big.bin" "$W/moved.cat"
    fi

    # rm
    fr_run hc rm "$B/moved"
    fr_expect_fail "$T: rm of a dir without -r fails" "remove $B/moved: file is a directory"
    fr_run hc rm "$B/d1/renamed.txt"
    fr_expect_ok "$T: rm a file"
    if fr_passed; then
        fr_run hc ls "$B/d1"
        fr_expect_out "$T: ls after rm" d2
    fi
    fr_run hc rm -r "$B/moved"
    fr_expect_ok "$T: rm -r a dir"
    if fr_passed; then
        fr_run hc ls "$B/moved"
        fr_expect_fail "$T: the removed dir is gone" "stat $B/moved: file does not exist"
    fi

    # errors
    fr_run hc cat /nope
    fr_expect_fail "$T: cat of a missing file" "open /nope: file does not exist"

    # permissions: alice may not write into a 0755 dir of the superuser
    if [ "$SU" = alice ]; then
        fr_not_ok "$T: permissions" "the test runs as alice, the user it needs as the non-superuser"
        return 0
    fi
    fr_run hc mkdir "$B/ro"
    fr_expect_ok "$T: mkdir a dir for the permission checks"
    fr_run hc chmod 755 "$B/ro"
    fr_expect_ok "$T: chmod 755 it"
    fr_run as_alice put "$L/small.txt" "$B/ro/alice.txt"
    fr_expect_fail "$T: alice cannot put into $SU's 0755 dir" "create $B/ro/alice.txt: permission denied"
    fr_run as_alice mkdir "$B/ro/sub"
    fr_expect_fail "$T: alice cannot mkdir in $SU's 0755 dir" "mkdir $B/ro/sub: permission denied"
    fr_run as_alice ls "$B/ro"
    fr_expect_out "$T: alice can list it (empty)" ""
    fr_run hc chmod 777 "$B/ro"
    fr_expect_ok "$T: chmod 777 it"
    fr_run as_alice put "$L/small.txt" "$B/ro/alice.txt"
    fr_expect_ok "$T: then alice can put into it"
    fr_run hc ls -l "$B/ro"
    fr_expect_match "$T: alice owns her file" "^-[-rwx]{9} alice [^ ]+ $SMALL_SIZE\$" "$(lsrow alice.txt)"
}

# ---- one active minidfs, two ways to find it ----
fr_minidfs_start A "$MINIDFS" --nameservice ns1 --block-size "$BS" ||
    fr_bail "minidfs" "could not start (see its stderr below)"

MODE=env HC_NN=$A_NN
suite nn-env /e2e-env

CONF=$FR_TMP/conf
mkdir -p "$CONF"
cat >"$CONF/core-site.xml" <<EOF
<?xml version="1.0"?>
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://$A_NN</value></property>
</configuration>
EOF
MODE=conf HC_CONF=$CONF
suite conf-dir /e2e-conf

# ---- standby ----
T=standby
W=$FR_TMP/work-$T
mkdir -p "$W"
if fr_minidfs_start S "$MINIDFS" --nameservice ns2 --block-size "$BS" --standby; then
    # The Go client names the exception class: "stat /: no available namenodes:
    # getFileInfo call failed with ERROR_APPLICATION (org.apache.hadoop.ipc.StandbyException)".
    MODE=env HC_NN=$S_NN
    fr_run hc ls /
    fr_expect_fail_match "standby: hdfs ls / is refused" 'StandbyException'

    # ls_until WANT: hdfs ls / until it succeeds (WANT=0) or fails (WANT=1), 10 s at most.
    ls_until() {
        local deadline=$((SECONDS + 10)) ok
        while :; do
            fr_run hc ls /
            ok=1
            [ "$FR_RC" = 0 ] && ok=0
            [ "$ok" = "$1" ] && break
            [ "$SECONDS" -lt "$deadline" ] || break
            sleep 0.1
        done
    }
    kill -USR1 "$S_PID" 2>/dev/null || true
    ls_until 0
    fr_expect_ok "standby: after SIGUSR1 hdfs ls / answers"
    kill -USR1 "$S_PID" 2>/dev/null || true
    ls_until 1
    fr_expect_fail_match "standby: after a second SIGUSR1 it refuses again" 'StandbyException'

    # HA: the Go client sorts the addresses and moves on after StandbyException.
    # Naming the active one "localhost" puts the standby (127.0.0.1) first.
    active=$A_NN
    if [[ $A_NN == 127.0.0.1:* ]] && getent ahostsv4 localhost 2>/dev/null | grep -q '^127\.0\.0\.1 '; then
        active=localhost:${A_NN##*:}
    fi
    HA=$FR_TMP/conf-ha
    mkdir -p "$HA"
    cat >"$HA/core-site.xml" <<EOF
<?xml version="1.0"?>
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://ns</value></property>
</configuration>
EOF
    cat >"$HA/hdfs-site.xml" <<EOF
<?xml version="1.0"?>
<configuration>
  <property><name>dfs.nameservices</name><value>ns</value></property>
  <property><name>dfs.ha.namenodes.ns</name><value>nn1,nn2</value></property>
  <property><name>dfs.namenode.rpc-address.ns.nn1</name><value>$S_NN</value></property>
  <property><name>dfs.namenode.rpc-address.ns.nn2</name><value>$active</value></property>
</configuration>
EOF
    MODE=env HC_NN=$A_NN
    fr_run hc put "$L/small.txt" /ha.txt
    fr_expect_ok "standby: put /ha.txt on the active"
    MODE=conf HC_CONF=$HA
    fr_run hc ls /
    fr_expect_match "standby: HA conf (standby $S_NN, active $active) lists the active's /" $'(^|\n)ha\\.txt($|\n)'
    fr_run_to "$W/ha.cat" hc cat /ha.txt
    fr_expect_cmp "standby: HA conf reads a file from the active" "$L/small.txt" "$W/ha.cat"
    fr_minidfs_stop S
fi

fr_minidfs_stop A
fr_summary
