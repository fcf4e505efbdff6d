# shellcheck shell=bash
# Helpers for the integration tests (tests/integration/*.sh). Source it first:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   it_start_pg
#   it_start_kafka ehr.audit:2                  # or: it_start_kafka --brokers 3 t:3 ...
#   it_write_config "$IT_TMP/gevinstd.ini" '[kpi]' 'timezone = UTC'
#   it_run first "$GEVINSTD" --config "$IT_TMP/gevinstd.ini" --exit-on-eof
#   it_assert_status 0 first "first run"
#   it_pass
#
# ctest sets GEVINST_SRC and GEVINST_BUILD (tests/CMakeLists.txt); run by hand, they default
# to this checkout and its build/. Sourcing sets -Eeuo pipefail: any failing command ends the
# test, and says where and what failed. PostgreSQL and the mock cluster run in the test's own
# process tree and are stopped, and every temporary file removed, when the test exits, also
# on failure or SIGINT/SIGTERM. IT_KEEP_TMP=1 keeps $IT_TMP (logs, configs) for a post-mortem.

set -Eeuo pipefail

IT_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
GEVINST_SRC=${GEVINST_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
GEVINST_BUILD=${GEVINST_BUILD:-$GEVINST_SRC/build}
GEVINSTD=$GEVINST_BUILD/gevinstd
export GEVINST_SRC GEVINST_BUILD GEVINSTD

# shellcheck source=scripts/pg-lib.sh
source "$GEVINST_SRC/scripts/pg-lib.sh"
# shellcheck source=scripts/kafka-lib.sh
source "$GEVINST_SRC/scripts/kafka-lib.sh"

it__cleanups=()   # commands, run last-registered first at exit
it__logs=()       # "label=path" pairs shown when the test fails
it__reported=0
declare -A it__bg_pid=()

# --- reporting -----------------------------------------------------------------------------

it_log() {
    printf '%s: %s\n' "$IT_NAME" "$*" >&2
}

it_step() {
    printf '%s: --- %s\n' "$IT_NAME" "$*" >&2
}

# it_log_file LABEL PATH: show the tail of PATH if the test fails (daemon logs and the like).
it_log_file() {
    it__logs+=("$1=$2")
}

it__show_logs() {
    local entry label path
    for entry in "${it__logs[@]}"; do
        label=${entry%%=*}
        path=${entry#*=}
        [ -s "$path" ] || continue
        printf '%s: ----- last 40 lines of %s (%s) -----\n' "$IT_NAME" "$label" "$path" >&2
        tail -n 40 "$path" >&2
    done
}

it_fail() {
    trap - ERR
    printf 'FAIL: %s: %s\n' "$IT_NAME" "$*" >&2
    it__show_logs
    it__reported=1
    exit 1
}

it_pass() {
    printf 'PASS: %s\n' "$IT_NAME" >&2
    exit 0
}

it__on_err() {
    local status=$1 line=$2 cmd=$3 src=${4:-$IT_NAME}
    trap - ERR
    printf 'FAIL: %s: %s:%s: command exited with status %s: %s\n' "$IT_NAME" "${src##*/}" \
        "$line" "$status" "$cmd" >&2
    it__show_logs
    it__reported=1
    exit "$status"
}

# --- cleanup -------------------------------------------------------------------------------

# it_on_exit CMD...: run CMD (eval'd) when the test exits, after those registered later.
it_on_exit() {
    it__cleanups+=("$*")
}

it__exit() {
    local status=$? i
    trap - ERR EXIT INT TERM
    set +e
    if [ "$status" -ne 0 ] && [ "$it__reported" -eq 0 ]; then
        printf 'FAIL: %s: exited with status %s\n' "$IT_NAME" "$status" >&2
        it__show_logs
    fi
    for ((i = ${#it__cleanups[@]} - 1; i >= 0; i--)); do
        eval "${it__cleanups[i]}"
    done
    exit "$status"
}

trap it__exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'it__on_err $? $LINENO "$BASH_COMMAND" "${BASH_SOURCE[0]}"' ERR

IT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/gevinst-it.XXXXXX")
export IT_TMP
it__rm_tmp() {
    if [ "${IT_KEEP_TMP:-0}" = 1 ]; then
        echo "$IT_NAME: kept $IT_TMP" >&2
    else
        rm -rf "$IT_TMP"
    fi
}
it_on_exit it__rm_tmp

# --- servers -------------------------------------------------------------------------------

# Starts a throwaway PostgreSQL (scripts/pg-lib.sh): exports GEVINST_TEST_CONNINFO, PG*,
# GEVINST_TEST_PGCTL ("$GEVINST_TEST_PGCTL" stop|start|restart|kill|status) and friends.
it_start_pg() {
    pg_start || it_fail "could not start PostgreSQL (see above)"
    it_on_exit pg_stop
    it_log_file postgres "$GEVINST_TEST_PGLOG"
}

# it_start_kafka [--brokers N] TOPIC:PARTITIONS...: starts the mock cluster with those
# topics; exports GEVINST_TEST_BROKERS.
it_start_kafka() {
    local args=()
    while [ $# -gt 0 ]; do
        case "$1" in
        --brokers)
            args+=(--brokers "$2")
            shift 2
            ;;
        *)
            args+=(--topic "$1")
            shift
            ;;
        esac
    done
    kafka_start "${args[@]}" || it_fail "could not start the mock Kafka cluster (see above)"
    it_on_exit kafka_stop
    it_log_file mock-kafka "$GEVINST_TEST_KAFKA_LOG"
}

# --- PostgreSQL and Kafka ------------------------------------------------------------------

# it_psql SQL [PSQL_ARGS...]: runs SQL (stops at the first error), prints the result
# unaligned, tuples only, '|' between columns. E.g. n=$(it_psql "SELECT count(*) FROM t").
it_psql() {
    local sql=$1
    shift
    psql -XAtq -v ON_ERROR_STOP=1 "$@" -c "$sql"
}

# it_produce [-K DELIM] [-p PARTITION] TOPIC FILE: one message per line of FILE ("-": stdin);
# with -K, each line is KEY<DELIM>VALUE. Fails unless every message was delivered.
it_produce() {
    local opt extra=() OPTIND=1
    while getopts K:p: opt; do
        case "$opt" in
        K) extra+=(-K "$OPTARG") ;;
        p) extra+=(-p "$OPTARG") ;;
        *) it_fail "it_produce: usage: it_produce [-K DELIM] [-p PARTITION] TOPIC FILE" ;;
        esac
    done
    shift $((OPTIND - 1))
    [ $# -eq 2 ] || it_fail "it_produce: usage: it_produce [-K DELIM] [-p PARTITION] TOPIC FILE"
    if [ "$2" = - ]; then
        kcat -b "$GEVINST_TEST_BROKERS" -P -t "$1" "${extra[@]}" -X acks=all
    else
        kcat -b "$GEVINST_TEST_BROKERS" -P -t "$1" "${extra[@]}" -X acks=all <"$2"
    fi
}

# it_consume TOPIC [KCAT_ARGS...]: prints every message now in TOPIC, one per line, then
# returns (kcat -e). E.g. it_consume t -f '%p %k %s\n'.
it_consume() {
    local topic=$1
    shift
    timeout 60 kcat -b "$GEVINST_TEST_BROKERS" -C -t "$topic" -o beginning -e -q "$@"
}

# --- gevinstd ------------------------------------------------------------------------------

# it_write_config PATH [INI_LINES...]: writes a valid gevinstd config for the servers started
# above. INI_LINES ('[section]', 'key = value') add keys or override the defaults below.
# Creates the pseudonym key ($IT_KEY_FILE, 32 random bytes as 64 hex chars) if need be.
it_write_config() {
    local path=$1 line section='' key value sec name
    shift
    if [ -z "${IT_KEY_FILE:-}" ]; then
        IT_KEY_FILE=$IT_TMP/pseudonym.key
        (umask 077 && openssl rand -hex 32 >"$IT_KEY_FILE")
        export IT_KEY_FILE
    fi
    local -A val=()
    local order=() sections=()
    it__cfg_set() {
        if [ -z "${val[$1]+set}" ]; then
            order+=("$1")
            case " ${sections[*]} " in
            *" ${1%%.*} "*) ;;
            *) sections+=("${1%%.*}") ;;
            esac
        fi
        val[$1]=$2
    }
    it__cfg_set kafka.brokers "${GEVINST_TEST_BROKERS:-127.0.0.1:9}"
    it__cfg_set kafka.group_id gevinst-it
    it__cfg_set kafka.topic.appointments ehr.appointments
    it__cfg_set kafka.topic.journal ehr.journal
    it__cfg_set kafka.topic.audit ehr.audit
    # The mock cluster (librdkafka 2.0.2) keeps a consumer that left the group until its
    # session times out, so the next member of that group waits that long for partitions:
    # 45 s at the default session.timeout.ms, ~6 s with this.
    it__cfg_set kafka.rdkafka.session.timeout.ms 6000
    it__cfg_set kafka.rdkafka.heartbeat.interval.ms 1000
    it__cfg_set postgres.conninfo "${GEVINST_TEST_CONNINFO:-dbname=gevinst_test}"
    it__cfg_set privacy.pseudonym_key_file "$IT_KEY_FILE"
    # Off: parallel tests would fight over the default port.
    it__cfg_set http.listen ''
    for line in "$@"; do
        if [[ $line =~ ^[[:space:]]*\[([^]]+)\][[:space:]]*$ ]]; then
            section=${BASH_REMATCH[1]}
        elif [[ $line =~ ^[[:space:]]*([^=#;[:space:]]+)[[:space:]]*=[[:space:]]*(.*)$ ]]; then
            [ -n "$section" ] || it_fail "it_write_config: '$line' before any [section]"
            key=${BASH_REMATCH[1]}
            value=${BASH_REMATCH[2]}
            it__cfg_set "$section.$key" "$value"
        elif [[ ! $line =~ ^[[:space:]]*([#;].*)?$ ]]; then
            it_fail "it_write_config: cannot use line '$line'"
        fi
    done
    {
        echo "# written by tests/integration/lib.sh for $IT_NAME"
        for sec in "${sections[@]}"; do
            echo "[$sec]"
            for name in "${order[@]}"; do
                [ "${name%%.*}" = "$sec" ] || continue
                if [ -n "${val[$name]}" ]; then
                    echo "${name#*.} = ${val[$name]}"
                else
                    echo "${name#*.} ="
                fi
            done
            echo
        done
    } >"$path"
    unset -f it__cfg_set
}

# --- processes -----------------------------------------------------------------------------

# it_alive PID: true while PID runs; an exited process not yet reaped (zombie) counts as gone.
it_alive() {
    kafka__alive "$1"
}

# it_run NAME CMD...: runs CMD with stdout in $IT_TMP/NAME.out and stderr in $IT_TMP/NAME.err
# and sets IT_STATUS to its exit status (the test goes on whatever it is). Killed after
# IT_RUN_TIMEOUT seconds (default 120; status 124 then).
it_run() {
    local name=$1
    shift
    IT_STATUS=0
    timeout -k 5 "${IT_RUN_TIMEOUT:-120}" "$@" >"$IT_TMP/$name.out" 2>"$IT_TMP/$name.err" ||
        IT_STATUS=$?
}

# it_bg NAME CMD...: starts CMD in the background, output in $IT_TMP/NAME.log; stopped at
# exit if still running. See it_wait and it_stop.
it_bg() {
    local name=$1
    shift
    "$@" </dev/null >"$IT_TMP/$name.log" 2>&1 &
    it__bg_pid[$name]=$!
    it_log_file "$name" "$IT_TMP/$name.log"
    it_on_exit "it__kill_bg $name"
}

it__kill_bg() {
    local pid=${it__bg_pid[$1]:-}
    [ -n "$pid" ] || return 0
    if it_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        it_wait_for "! it_alive $pid" 10 || kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    unset "it__bg_pid[$1]"
    return 0
}

# it_pid NAME: the pid of a process started with it_bg.
it_pid() {
    echo "${it__bg_pid[$1]}"
}

# it_wait NAME [TIMEOUT]: waits for NAME (it_bg) to exit by itself; sets IT_STATUS to its exit
# status, or to 124 after killing it when it is still running after TIMEOUT s (default 60).
it_wait() {
    local name=$1 timeout=${2:-60} pid
    pid=${it__bg_pid[$name]:-}
    [ -n "$pid" ] || it_fail "it_wait: no background process named $name"
    if ! it_wait_for "! it_alive $pid" "$timeout"; then
        it_log "$name ($pid) still running after ${timeout}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        unset "it__bg_pid[$name]"
        IT_STATUS=124
        return 0
    fi
    IT_STATUS=0
    wait "$pid" || IT_STATUS=$?
    unset "it__bg_pid[$name]"
}

# it_stop NAME [TIMEOUT]: SIGTERM, then it_wait NAME TIMEOUT (default 10).
it_stop() {
    local pid=${it__bg_pid[$1]:-}
    [ -n "$pid" ] || it_fail "it_stop: no background process named $1"
    kill -TERM "$pid" 2>/dev/null || true
    it_wait "$1" "${2:-10}"
}

# it_wait_for CMD TIMEOUT: polls CMD (eval'd, output discarded) every 0.1 s until it
# succeeds (returns 0) or TIMEOUT seconds pass (returns 1).
it_wait_for() {
    local cmd=$1 deadline
    deadline=$(($(date +%s%N) / 1000000 + ${2:?it_wait_for CMD TIMEOUT} * 1000))
    until eval "$cmd" >/dev/null 2>&1; do
        [ $(($(date +%s%N) / 1000000)) -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# --- assertions ----------------------------------------------------------------------------

# it_assert_eq EXPECTED ACTUAL WHAT
it_assert_eq() {
    [ "$1" = "$2" ] || it_fail "$3: expected '$1', got '$2'"
}

# it_assert_status EXPECTED NAME WHAT: checks IT_STATUS after it_run NAME; shows its stderr.
it_assert_status() {
    if [ "$IT_STATUS" != "$1" ]; then
        printf '%s: stderr of %s:\n' "$IT_NAME" "$2" >&2
        sed 's/^/    /' "$IT_TMP/$2.err" >&2 || true
        it_fail "$3: expected exit status $1, got $IT_STATUS"
    fi
}

# it_assert_grep FILE ERE WHAT: FILE has a line matching the extended regex.
it_assert_grep() {
    grep -Eq -- "$2" "$1" || {
        printf '%s: %s does not match /%s/; it holds:\n' "$IT_NAME" "$1" "$2" >&2
        sed 's/^/    /' "$1" >&2
        it_fail "$3"
    }
}

# it_assert_no_string FILE STRING WHAT: FILE does not contain STRING (fixed string). The
# string itself is not printed: it may be a secret.
it_assert_no_string() {
    if grep -Fq -- "$2" "$1"; then
        it_fail "$3 ($1, line $(grep -Fn -- "$2" "$1" | head -n 1 | cut -d: -f1))"
    fi
}
