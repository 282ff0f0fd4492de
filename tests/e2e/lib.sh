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
