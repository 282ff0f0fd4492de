# shellcheck shell=bash
# lib.sh: helpers shared by the end-to-end tests. Source it from a bash
# script that runs under `set -euo pipefail`; every name starts with fr_.
#
#   fr_init NAME              temp dir $FR_TMP, EXIT/INT/TERM traps that stop
#                             every process started here and remove $FR_TMP
#                             (kept when FR_KEEP=1)
#   fr_free_port              prints a free TCP port on 127.0.0.1
#   fr_minidfs_start VAR BIN [ARGS...]
#                             starts minidfs BIN on free ports with data under
#                             $FR_TMP/VAR.data, waits for its ready line, sets
#                             VAR_PID VAR_NN (host:port) VAR_DN VAR_OUT VAR_ERR
#                             VAR_READY
#   fr_minidfs_stop VAR       SIGTERM; a check that it exits with status 0
#   fr_alive PID / fr_stop_pid PID   process helpers (no ps needed)
#   fr_bail NAME WHAT         one `not ok`, the summary, exit 1
#   fr_need_cmd CMD...        fr_bail unless every CMD is on PATH
#   fr_run CMD...             runs CMD (under timeout unless it is a shell
#                             function); sets FR_RC, FR_OUT, FR_ERR (text)
#   fr_run_to FILE CMD...     the same with stdout into FILE (binary safe)
#   fr_ok / fr_not_ok / fr_check_* / fr_expect_*   checks that print
#                             `ok - NAME` or `not ok - NAME: what differed`;
#                             they always return 0 (safe under set -e), and
#                             fr_passed tells whether the last one passed
#   fr_summary                prints `N passed, N failed`; status 1 on failures
#   fr_router_start VAR BIN CONF [WRITER]
#                             starts `BIN -c CONF`, waits for its ready line,
#                             sets VAR_PID VAR_HDFS VAR_ADMIN (host:port)
#                             VAR_OUT VAR_ERR VAR_READY; WRITER, a function,
#                             (re)writes CONF with fresh ports before each try
#   fr_run_until SECS PRED CMD...
#                             fr_run CMD until the function PRED succeeds
#                             (fr_rc_ok, fr_rc_fail or your own), SECS at most
#   fr_http_get HOST:PORT PATH  prints the HTTP status, then the body
#   fr_hdfs_rpc HOST:PORT METHOD ARG...
#                             one ClientProtocol call over Hadoop IPC; prints
#                             `OK ...`, or `ERROR <class>: <message>` (exit 1):
#                             the server's exception text, which the Go hdfs
#                             command does not show
#
# Environment: FR_START_TIMEOUT (s, default 30) to wait for a ready line,
# FR_CMD_TIMEOUT (s, default 60) for one command under fr_run (after three
# timeouts in a row the script gives up), FR_KEEP=1 keeps the temp dir.

FR_PASSED=0
FR_FAILED=0
FR_TMP=
FR_SUMMARY_DONE=0
FR_PIDS=()      # processes we started (stopped on exit)
FR_LOGS=()      # "label|path" stderr logs shown when something failed
FR_RC=0 FR_OUT='' FR_ERR=''
FR_LAST=0       # 1 when the last check passed
FR_TIMEOUTS=0   # commands in a row that timed out
: "${FR_START_TIMEOUT:=30}" "${FR_CMD_TIMEOUT:=60}"

# ---- setup and teardown ----

fr_init() {
    local name=${1:-e2e}
    FR_TMP=$(mktemp -d -t "fedrouter-$name.XXXXXX")
    # The exit handler may run in the middle of a command whose output goes
    # to a file (a signal during fr_run): it writes to these copies instead.
    exec 7>&1 8>&2
    trap fr__on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Is PID running? (A zombie, exited but not yet reaped, does not count.)
fr_alive() {
    local st
    [ -n "$1" ] && read -r st 2>/dev/null <"/proc/$1/stat" || return 1
    st=${st##*) }      # the field after "(command name)" is the state
    [[ $st != Z* ]]
}

# Stops PID: SIGTERM, up to 5 s, then SIGKILL. Sets FR_STOP_RC to its exit
# status (when it is our child), 137 when it had to be killed.
fr_stop_pid() {
    local pid=$1 i
    FR_STOP_RC=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        fr_alive "$pid" || break
        sleep 0.1
    done
    if fr_alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || FR_STOP_RC=$?
    fr__forget_pid "$pid"
    return 0
}

fr__forget_pid() {
    local p keep=()
    for p in "${FR_PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    FR_PIDS=("${keep[@]}")
}

# Prints the last lines of every registered log, as comments.
fr_show_logs() {
    local entry label path
    for entry in "${FR_LOGS[@]}"; do
        label=${entry%%|*} path=${entry#*|}
        [ -s "$path" ] || continue
        echo "# ---- $label (last 40 lines of $path) ----"
        tail -n 40 "$path" | sed 's/^/# /'
    done
}

# shellcheck disable=SC2317  # reached through the EXIT trap
fr__on_exit() {
    local rc=$? p
    set +e
    exec 1>&7 2>&8
    for p in "${FR_PIDS[@]}"; do
        fr_stop_pid "$p"
    done
    if [ "$FR_SUMMARY_DONE" = 0 ]; then
        echo "not ok - the script stopped early (exit status $rc)"
        FR_FAILED=$((FR_FAILED + 1))
        echo "$FR_PASSED passed, $FR_FAILED failed"
        [ "$rc" = 0 ] && rc=1
    fi
    if [ "$rc" != 0 ] || [ "$FR_FAILED" != 0 ]; then
        fr_show_logs
    fi
    if [ -n "$FR_TMP" ]; then
        if [ "${FR_KEEP:-0}" = 1 ]; then
            echo "# temp dir kept: $FR_TMP"
        else
            rm -rf "$FR_TMP"
        fi
    fi
    exit "$rc"
}

# Prints "not ok" for a fatal problem, the summary, and exits 1.
fr_bail() {
    fr_not_ok "$1" "$2"
    fr_summary || true
    exit 1
}

fr_need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || fr_bail "need $c" "command not found: $c"
    done
}

# ---- ports and processes ----

fr_free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# fr_minidfs_start VAR BIN [ARGS...]: ARGS are the options other than
# --nn-port, --dn-port and --data-dir (e.g. --nameservice ns1 --standby).
# Retries with other ports (up to 3 times) when the chosen ports were taken
# in between. Returns 1, after a `not ok` line, when it cannot start.
fr_minidfs_start() {
    local var=$1 bin=$2 nn_port dn_port out err dir pid ready='' deadline nn dn
    shift 2
    dir=$FR_TMP/$var.data
    out=$FR_TMP/$var.out
    err=$FR_TMP/$var.err
    mkdir -p "$dir"
    FR_LOGS+=("minidfs $var stderr|$err")
    for _ in 1 2 3; do
        if ! nn_port=$(fr_free_port) || ! dn_port=$(fr_free_port); then
            fr_not_ok "start minidfs $var" "cannot pick free ports"
            return 1
        fi
        [ "$nn_port" != "$dn_port" ] || dn_port=$(fr_free_port)
        : >"$out"
        : >"$err"
        "$bin" --nn-port "$nn_port" --dn-port "$dn_port" --data-dir "$dir" "$@" \
            >"$out" 2>"$err" </dev/null 7>&- 8>&- &
        pid=$!
        FR_PIDS+=("$pid")
        deadline=$((SECONDS + FR_START_TIMEOUT))
        ready=''
        while :; do
            ready=$(grep -m1 '^ready ' "$out" 2>/dev/null || true)
            [ -n "$ready" ] && break
            if ! fr_alive "$pid"; then
                fr_stop_pid "$pid"
                break
            fi
            if [ "$SECONDS" -ge "$deadline" ]; then
                fr_stop_pid "$pid"
                fr_not_ok "start minidfs $var" "no ready line within ${FR_START_TIMEOUT}s"
                return 1
            fi
            sleep 0.05
        done
        [ -n "$ready" ] && break
        if ! grep -qiE 'in use|cannot listen|bind' "$err"; then
            break
        fi
    done
    if [ -z "$ready" ]; then
        fr_not_ok "start minidfs $var" "exited with status $FR_STOP_RC before its ready line: $(fr__oneline "$(tail -n 5 "$err")")"
        return 1
    fi
    local re='^ready nn=([^ ]+:[0-9]+) dn=([^ ]+:[0-9]+) bpid=[^ ]+$'
    if ! [[ $ready =~ $re ]]; then
        fr_not_ok "start minidfs $var" "ready line not as documented: $ready"
        return 1
    fi
    nn=${BASH_REMATCH[1]} dn=${BASH_REMATCH[2]}
    printf -v "${var}_PID" '%s' "$pid"
    printf -v "${var}_NN" '%s' "$nn"
    printf -v "${var}_DN" '%s' "$dn"
    printf -v "${var}_OUT" '%s' "$out"
    printf -v "${var}_ERR" '%s' "$err"
    printf -v "${var}_READY" '%s' "$ready"
    echo "# minidfs $var: $ready (pid $pid)"
    return 0
}

# fr_minidfs_stop VAR: SIGTERM; checks the clean exit (status 0).
fr_minidfs_stop() {
    local var=$1 pidvar=${1}_PID
    local pid=${!pidvar:-}
    [ -n "$pid" ] || return 0
    if ! fr_alive "$pid"; then
        fr_stop_pid "$pid"
        fr_not_ok "minidfs $var still running at the end" "it had exited with status $FR_STOP_RC"
        return 0
    fi
    fr_stop_pid "$pid"
    fr_check_eq "minidfs $var exits 0 on SIGTERM" 0 "$FR_STOP_RC"
    printf -v "$pidvar" '%s' ''
}

# ---- running commands ----

# fr_run CMD...: FR_RC exit status (124 = timed out), FR_OUT and FR_ERR the
# output text (trailing newlines dropped). Never fails under set -e.
fr_run() {
    fr_run_to "$FR_TMP/.run.out" "$@"
    FR_OUT=$(cat "$FR_TMP/.run.out")
}

fr_run_to() {
    local file=$1
    shift
    FR_RC=0
    if [ "$(type -t "$1")" = function ]; then
        # timeout cannot run a shell function: the function bounds itself.
        "$@" >"$file" 2>"$FR_TMP/.run.err" </dev/null || FR_RC=$?
    else
        timeout -k 5 "$FR_CMD_TIMEOUT" "$@" >"$file" 2>"$FR_TMP/.run.err" </dev/null || FR_RC=$?
    fi
    FR_ERR=$(cat "$FR_TMP/.run.err")
    FR_OUT=''
    if [ "$FR_RC" = 124 ]; then
        FR_TIMEOUTS=$((FR_TIMEOUTS + 1))
        if [ "$FR_TIMEOUTS" -ge 3 ]; then
            fr_bail "giving up" "three commands in a row timed out (${FR_CMD_TIMEOUT}s each), the last: $*"
        fi
    else
        FR_TIMEOUTS=0
    fi
}

# ---- checks ----

# Squeezes text onto one line (newlines as " | "), at most 400 characters.
fr__oneline() {
    local s=${1//$'\n'/ | }
    [ ${#s} -le 400 ] || s="${s:0:400}..."
    printf '%s' "$s"
}

fr_ok() {
    FR_PASSED=$((FR_PASSED + 1))
    FR_LAST=1
    echo "ok - $1"
}

fr_not_ok() {
    FR_FAILED=$((FR_FAILED + 1))
    FR_LAST=0
    echo "not ok - $1: $(fr__oneline "$2")"
}

# Did the last check pass? (`fr_expect_ok X; if fr_passed; then ...`)
fr_passed() { [ "$FR_LAST" = 1 ]; }

# The last fr_run as a short description.
fr__last() {
    local s="exit $FR_RC"
    [ "$FR_RC" = 124 ] && s="timed out after ${FR_CMD_TIMEOUT}s"
    [ -n "$FR_ERR" ] && s="$s, stderr: $FR_ERR"
    printf '%s' "$s"
}

# fr_check_eq NAME EXPECTED ACTUAL
fr_check_eq() {
    if [ "$2" == "$3" ]; then
        fr_ok "$1"
    else
        fr_not_ok "$1" "expected '$2', got '$3'"
    fi
}

# fr_check_match NAME REGEX ACTUAL (bash ERE)
fr_check_match() {
    if [[ $3 =~ $2 ]]; then
        fr_ok "$1"
    else
        fr_not_ok "$1" "expected a match for /$2/, got '$3'"
    fi
}

# fr_check_cmp NAME EXPECTED_FILE ACTUAL_FILE: byte-identical.
fr_check_cmp() {
    local d
    if d=$(cmp -- "$2" "$3" 2>&1); then
        fr_ok "$1"
    else
        fr_not_ok "$1" "${d:-differs} (sizes: expected $(stat -c %s "$2" 2>/dev/null || echo '?'), got $(stat -c %s "$3" 2>/dev/null || echo '?'))"
    fi
}

# fr_expect_ok NAME: the last fr_run exited 0.
fr_expect_ok() {
    if [ "$FR_RC" = 0 ]; then
        fr_ok "$1"
    else
        fr_not_ok "$1" "$(fr__last)"
    fi
}

# fr_expect_fail NAME [EXPECTED_STDERR]: the last fr_run exited non-zero (and
# not by timeout), with exactly that stderr when given.
fr_expect_fail() {
    if [ "$FR_RC" = 0 ]; then
        fr_not_ok "$1" "expected a failure, got exit 0 (stdout: $FR_OUT)"
    elif [ "$FR_RC" = 124 ]; then
        fr_not_ok "$1" "$(fr__last)"
    elif [ $# -ge 2 ] && [ "$FR_ERR" != "$2" ]; then
        fr_not_ok "$1" "expected stderr '$2', got '$FR_ERR' (exit $FR_RC)"
    else
        fr_ok "$1"
    fi
}

# fr_expect_out NAME EXPECTED: the last fr_run exited 0 and printed EXPECTED.
fr_expect_out() {
    if [ "$FR_RC" != 0 ]; then
        fr_not_ok "$1" "$(fr__last)"
    else
        fr_check_eq "$1" "$2" "$FR_OUT"
    fi
}

# fr_expect_match NAME REGEX [TEXT]: the last fr_run exited 0 and TEXT
# (default: its stdout) matches REGEX.
fr_expect_match() {
    if [ "$FR_RC" != 0 ]; then
        fr_not_ok "$1" "$(fr__last)"
    else
        fr_check_match "$1" "$2" "${3-$FR_OUT}"
    fi
}

# fr_expect_cmp NAME EXPECTED_FILE GOT_FILE: the last fr_run(_to) exited 0
# and GOT_FILE is byte-identical to EXPECTED_FILE.
fr_expect_cmp() {
    if [ "$FR_RC" != 0 ]; then
        fr_not_ok "$1" "$(fr__last)"
    else
        fr_check_cmp "$1" "$2" "$3"
    fi
}

# fr_expect_fail_match NAME REGEX: the last fr_run failed (not by timeout)
# and its stderr matches REGEX.
fr_expect_fail_match() {
    if [ "$FR_RC" = 0 ]; then
        fr_not_ok "$1" "expected a failure, got exit 0 (stdout: $FR_OUT)"
    elif [ "$FR_RC" = 124 ]; then
        fr_not_ok "$1" "$(fr__last)"
    elif ! [[ $FR_ERR =~ $2 ]]; then
        fr_not_ok "$1" "expected stderr matching /$2/, got '$FR_ERR' (exit $FR_RC)"
    else
        fr_ok "$1"
    fi
}

fr_summary() {
    FR_SUMMARY_DONE=1
    echo "$FR_PASSED passed, $FR_FAILED failed"
    [ "$FR_FAILED" = 0 ]
}

# ---- the router ----

# fr_router_start VAR BIN CONF [WRITER]: starts `BIN -c CONF` and waits for
# its one line `ready hdfs=HOST:PORT admin=HOST:PORT` on stdout. The config
# names the ports; when WRITER (a shell function, called as `WRITER CONF`) is
# given it runs before every try and should write CONF with fresh ports, and a
# start that fails with a bind error is retried (3 tries at most). Sets
# VAR_PID VAR_HDFS VAR_ADMIN VAR_OUT VAR_ERR VAR_READY. Returns 1, after a
# `not ok` line, when it cannot start.
fr_router_start() {
    local var=$1 bin=$2 conf=$3 writer=${4:-} out err pid='' ready='' deadline
    local tries=1 try why=''
    out=$FR_TMP/$var.out
    err=$FR_TMP/$var.err
    FR_LOGS+=("router $var stderr|$err")
    [ -z "$writer" ] || tries=3
    for ((try = 1; try <= tries; try++)); do
        if [ -n "$writer" ] && ! "$writer" "$conf"; then
            fr_not_ok "start router $var" "could not write $conf"
            return 1
        fi
        : >"$out"
        : >"$err"
        "$bin" -c "$conf" >"$out" 2>"$err" </dev/null 7>&- 8>&- &
        pid=$!
        FR_PIDS+=("$pid")
        deadline=$((SECONDS + FR_START_TIMEOUT))
        ready='' why=''
        while :; do
            ready=$(grep -m1 '^ready ' "$out" 2>/dev/null || true)
            [ -n "$ready" ] && break
            if ! fr_alive "$pid"; then
                fr_stop_pid "$pid"
                why="exited with status $FR_STOP_RC before its ready line: $(fr__oneline "$(tail -n 5 "$err")")"
                break
            fi
            if [ "$SECONDS" -ge "$deadline" ]; then
                fr_stop_pid "$pid"
                why="no ready line within ${FR_START_TIMEOUT}s"
                break
            fi
            sleep 0.05
        done
        [ -n "$ready" ] && break
        grep -qiE 'in use|cannot listen|bind' "$err" || break
    done
    if [ -z "$ready" ]; then
        fr_not_ok "start router $var" "$why"
        return 1
    fi
    local re='^ready hdfs=([^ ]+:[0-9]+) admin=([^ ]+:[0-9]+)$'
    if ! [[ $ready =~ $re ]]; then
        fr_not_ok "start router $var" "ready line not as documented: $ready"
        return 1
    fi
    printf -v "${var}_PID" '%s' "$pid"
    printf -v "${var}_HDFS" '%s' "${BASH_REMATCH[1]}"
    printf -v "${var}_ADMIN" '%s' "${BASH_REMATCH[2]}"
    printf -v "${var}_OUT" '%s' "$out"
    printf -v "${var}_ERR" '%s' "$err"
    printf -v "${var}_READY" '%s' "$ready"
    echo "# router $var: $ready (pid $pid)"
    return 0
}

# ---- waiting ----

# fr_run_until SECS PRED CMD...: fr_run CMD again (every 0.2 s) until the
# function PRED succeeds, for at least SECS seconds. Leaves FR_RC, FR_OUT,
# FR_ERR of the last run for an fr_expect_* check; always returns 0.
fr_run_until() {
    local secs=$1 pred=$2 deadline
    shift 2
    deadline=$((SECONDS + secs + 1))
    while :; do
        fr_run "$@"
        if "$pred"; then
            return 0
        fi
        [ "$SECONDS" -lt "$deadline" ] || return 0
        sleep 0.2
    done
}

# Predicates for fr_run_until: the last run succeeded / failed (not by timeout).
fr_rc_ok() { [ "$FR_RC" = 0 ]; }
fr_rc_fail() { [ "$FR_RC" != 0 ] && [ "$FR_RC" != 124 ]; }

# ---- HTTP and Hadoop IPC probes ----

# fr_http_get HOST:PORT PATH: prints the status code on a line, then the
# body. Exit 0 when an HTTP answer came, 2 when none did (10 s timeout).
fr_http_get() {
    timeout -k 2 20 /usr/bin/python3 - "$1" "$2" <<'PY'
import http.client
import sys

host, port = sys.argv[1].rsplit(":", 1)
try:
    c = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=10)
    c.request("GET", sys.argv[2])
    r = c.getresponse()
    body = r.read()
except (OSError, http.client.HTTPException, ValueError) as e:
    print("GET %s from %s: %s" % (sys.argv[2], sys.argv[1], e), file=sys.stderr)
    sys.exit(2)
sys.stdout.write("%d\n" % r.status)
sys.stdout.flush()
sys.stdout.buffer.write(body)
PY
}

# fr_hdfs_rpc HOST:PORT METHOD ARG...: one ClientProtocol call with SIMPLE
# authentication as $HADOOP_USER_NAME (else the OS user), to see exactly what
# a server answers. METHOD ARG: getFileInfo PATH | getListing PATH |
# mkdirs PATH | delete PATH | rename2 SRC DST | getFsStats. Prints
#   OK absent | OK dir | OK file LENGTH    (getFileInfo)
#   OK then one name a line                (getListing, the first batch)
#   OK true|false                          (mkdirs, delete)
#   OK                                     (rename2)
#   OK CAPACITY USED REMAINING             (getFsStats)
# and exits 0; or prints `ERROR <exception class>: <message>` and exits 1;
# or explains on stderr why no answer came and exits 2 (10 s timeout).
fr_hdfs_rpc() {
    timeout -k 2 20 /usr/bin/python3 - "$@" <<'PY'
import getpass
import os
import socket
import struct
import sys
import uuid

PROTOCOL = b"org.apache.hadoop.hdfs.protocol.ClientProtocol"


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(n):
    return (n << 1) ^ (n >> 63)


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def delimited(msg):
    return varint(len(msg)) + msg


def read_varint(buf, pos):
    shift = result = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def fields(buf):
    """(number, value) pairs: ints for varints, bytes for length-delimited."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = read_varint(buf, pos)
        elif wt == 2:
            n, pos = read_varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("field past the end")
            v, pos = buf[pos:pos + n], pos + n
        elif wt == 1:
            v, pos = buf[pos:pos + 8], pos + 8
        elif wt == 5:
            v, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, v))
    return out


def first(fs, num, default=None):
    for n, v in fs:
        if n == num:
            return v
    return default


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed by the server")
        buf += chunk
    return bytes(buf)


def main(argv):
    if len(argv) < 3:
        print("usage: HOST:PORT METHOD ARG...", file=sys.stderr)
        return 2
    host, port = argv[1].rsplit(":", 1)
    method, args = argv[2], argv[3:]
    need = {"getFileInfo": 1, "getListing": 1, "mkdirs": 1, "delete": 1,
            "rename2": 2, "getFsStats": 0, "getHAServiceState": 0}
    if need.get(method) != len(args):
        print("unknown method or wrong arguments: %s %s" % (method, args), file=sys.stderr)
        return 2
    if method == "getFileInfo":
        req = f_bytes(1, args[0])
    elif method == "getListing":
        req = f_bytes(1, args[0]) + f_bytes(2, b"") + f_varint(3, 0)
    elif method == "mkdirs":
        req = f_bytes(1, args[0]) + f_bytes(2, f_varint(1, 0o755)) + f_varint(3, 1)
    elif method == "delete":
        req = f_bytes(1, args[0]) + f_varint(2, 1)
    elif method == "rename2":
        req = f_bytes(1, args[0]) + f_bytes(2, args[1]) + f_varint(3, 0)
    elif method == "getHAServiceState":
        req = b""
    else:
        req = b""
        method = "getFsStats"
    user = os.environ.get("HADOOP_USER_NAME") or getpass.getuser()
    client_id = uuid.uuid4().bytes

    def rpc_header(call_id):
        return (f_varint(1, 2) + f_varint(2, 0) + f_varint(3, zigzag(call_id)) +
                f_bytes(4, client_id) + f_varint(5, 0))

    def frame(*parts):
        body = b"".join(delimited(p) for p in parts)
        return struct.pack(">I", len(body)) + body

    context = f_bytes(2, f_bytes(1, user)) + f_bytes(3, PROTOCOL)
    call = (f_bytes(1, method) + f_bytes(2, PROTOCOL) + f_varint(3, 1))
    try:
        s = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        s.sendall(b"hrpc\x09\x00\x00" + frame(rpc_header(-3), context) +
                  frame(rpc_header(0), call, req))
        n = struct.unpack(">I", recv_exact(s, 4))[0]
        if n > 64 << 20:
            raise ValueError("frame of %d bytes" % n)
        body = recv_exact(s, n)
        s.close()
        hlen, pos = read_varint(body, 0)
        header = fields(body[pos:pos + hlen])
        pos += hlen
    except (OSError, EOFError, ValueError, struct.error) as e:
        print("%s %s on %s: no answer: %s" % (method, " ".join(args), argv[1], e), file=sys.stderr)
        return 2
    if first(header, 2, 0) != 0:
        cls = first(header, 4, b"").decode(errors="replace")
        msg = first(header, 5, b"").decode(errors="replace")
        print("ERROR %s: %s" % (cls, msg))
        return 1
    try:
        rlen, pos = read_varint(body, pos)
        resp = fields(body[pos:pos + rlen])
    except ValueError as e:
        print("%s: bad response: %s" % (method, e), file=sys.stderr)
        return 2
    if method == "getFileInfo":
        fs = first(resp, 1)
        if fs is None:
            print("OK absent")
        else:
            st = fields(fs)
            print("OK dir" if first(st, 1) == 1 else "OK file %d" % first(st, 3, 0))
    elif method == "getListing":
        print("OK")
        dl = first(resp, 1)
        for n, v in fields(dl) if dl is not None else []:
            if n == 1:
                print(first(fields(v), 2, b"").decode(errors="replace"))
    elif method == "getHAServiceState":
        # HAServiceStateProto: INITIALIZING 0, ACTIVE 1, STANDBY 2, OBSERVER 3
        print("OK " + {0: "INITIALIZING", 1: "ACTIVE", 2: "STANDBY", 3: "OBSERVER"}.get(first(resp, 1, 0), "?"))
    elif method in ("mkdirs", "delete"):
        print("OK true" if first(resp, 1, 0) else "OK false")
    elif method == "getFsStats":
        print("OK %d %d %d" % (first(resp, 1, 0), first(resp, 2, 0), first(resp, 3, 0)))
    else:
        print("OK")
    return 0


sys.exit(main(sys.argv))
PY
}
