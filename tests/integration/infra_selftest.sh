#!/usr/bin/env bash
# Self-test of the test infrastructure: lib.sh, scripts/pg-lib.sh, scripts/kafka-lib.sh,
# scripts/with-pg, scripts/with-kafka and gevinst-mock-kafka.
#
# The checks against the servers run in a child process (this script with --inner): only
# after that process has ended can we see whether it left servers or directories behind.
# The parent runs it three ways (passing, failing, killed with SIGTERM) and checks each
# time that every directory it made is gone and every server it started has stopped; then
# it does the same for the two wrapper scripts.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOPIC=infra.selftest

inner() {
    local state=$1 mode=$2
    record() { echo "$1=$2" >>"$state"; }

    record it_tmp "$IT_TMP"
    it_start_pg
    record pg_dir "$GEVINST_TEST_PGDIR"
    record pg_pid "$(head -n 1 "$GEVINST_TEST_PGDATA/postmaster.pid")"
    it_start_kafka --brokers 3 "$TOPIC:3"
    record kafka_dir "$GEVINST_TEST_KAFKA_DIR"
    record kafka_pid "$GEVINST_TEST_KAFKA_PID"

    case "$mode" in
    fail) it_fail "deliberate failure (expected by the outer test)" ;;
    hang)
        sleep 300 &
        it_on_exit "kill $! 2>/dev/null"
        record sleep_pid "$!"
        record ready 1
        wait
        it_fail "hang mode: wait returned without a signal"
        ;;
    esac

    it_step "mock cluster: 3 brokers, $TOPIC with 3 partitions"
    kcat -b "$GEVINST_TEST_BROKERS" -L -t "$TOPIC" >"$IT_TMP/metadata"
    it_assert_grep "$IT_TMP/metadata" '^ 3 brokers:' "metadata lists 3 brokers"
    it_assert_grep "$IT_TMP/metadata" "topic \"$TOPIC\" with 3 partitions" \
        "$TOPIC has 3 partitions"

    it_step "produce 1000 keyed messages, read them back"
    for ((i = 1; i <= 1000; i++)); do
        echo "key-$i:message-$i"
    done >"$IT_TMP/sent"
    it_produce -K : "$TOPIC" "$IT_TMP/sent"
    it_consume "$TOPIC" -f '%p %k:%s\n' >"$IT_TMP/received"
    it_assert_eq 1000 "$(wc -l <"$IT_TMP/received")" "messages read back"
    cut -d' ' -f2- "$IT_TMP/received" | sort >"$IT_TMP/received.sorted"
    sort "$IT_TMP/sent" >"$IT_TMP/sent.sorted"
    cmp -s "$IT_TMP/sent.sorted" "$IT_TMP/received.sorted" ||
        it_fail "messages read back differ from those sent: $(diff "$IT_TMP/sent.sorted" \
            "$IT_TMP/received.sorted" | head -n 5 | tr '\n' ' ')"
    for p in 0 1 2; do
        n=$(grep -c "^$p " "$IT_TMP/received" || true)
        [ "$n" -gt 0 ] || it_fail "partition $p got no messages: keys are not spread"
    done

    it_step "a consumer group (what gevinstd uses) sees them all too"
    timeout 60 kcat -b "$GEVINST_TEST_BROKERS" -G infra-selftest -o beginning -e -q "$TOPIC" \
        >"$IT_TMP/group"
    it_assert_eq 1000 "$(wc -l <"$IT_TMP/group")" "messages read by a consumer group"

    it_step "PostgreSQL: a table survives restart, stop/start and an immediate stop"
    it_assert_eq gevinst_test "$(it_psql 'SELECT current_database()')" "database"
    it_assert_eq UTF8 "$(it_psql 'SHOW server_encoding')" "server encoding"
    it_assert_eq off "$(it_psql 'SHOW fsync')" "fsync"
    # "port=... password=x" must be harmless with trust auth: the daemon tests rely on it.
    it_assert_eq 1 "$(psql -XAtq -d "$GEVINST_TEST_CONNINFO password=whatever" -c 'SELECT 1')" \
        "connecting with GEVINST_TEST_CONNINFO plus a password"
    it_psql "CREATE TABLE selftest(id int PRIMARY KEY, note text);
             INSERT INTO selftest SELECT g, 'row ' || g FROM generate_series(1, 100) g"
    "$GEVINST_TEST_PGCTL" restart
    it_assert_eq 100 "$(it_psql 'SELECT count(*) FROM selftest')" "rows after restart"
    "$GEVINST_TEST_PGCTL" stop
    status=0
    "$GEVINST_TEST_PGCTL" status || status=$?
    it_assert_eq 3 "$status" "pgctl status of a stopped server"
    if psql -XAtq -c 'SELECT 1' >/dev/null 2>&1; then
        it_fail "psql still connects after pgctl stop"
    fi
    "$GEVINST_TEST_PGCTL" start
    it_assert_eq 100 "$(it_psql 'SELECT count(*) FROM selftest')" "rows after stop + start"
    it_psql "INSERT INTO selftest VALUES (101, 'committed before the crash')"
    "$GEVINST_TEST_PGCTL" kill
    "$GEVINST_TEST_PGCTL" start
    it_assert_eq 101 "$(it_psql 'SELECT count(*) FROM selftest')" "rows after kill + start"
    record pg_pid_final "$(head -n 1 "$GEVINST_TEST_PGDATA/postmaster.pid")"

    it_step "it_write_config writes what the daemon needs, overrides included"
    it_write_config "$IT_TMP/c.ini" '[kafka]' 'group_id = other' '[kpi]' 'timezone = UTC'
    it_assert_grep "$IT_TMP/c.ini" "^brokers = $GEVINST_TEST_BROKERS\$" "config: brokers"
    it_assert_grep "$IT_TMP/c.ini" '^group_id = other$' "config: overridden group_id"
    it_assert_eq 1 "$(grep -c '^group_id' "$IT_TMP/c.ini")" "config: group_id only once"
    it_assert_grep "$IT_TMP/c.ini" '^\[kpi\]$' "config: added section"
    it_assert_grep "$IT_TMP/c.ini" "^conninfo = $GEVINST_TEST_CONNINFO\$" "config: conninfo"
    it_assert_eq 64 "$(tr -d '\n' <"$IT_KEY_FILE" | wc -c)" "pseudonym key length"
    it_assert_eq 600 "$(stat -c %a "$IT_KEY_FILE")" "pseudonym key mode"

    it_pass
}

# check_gone STATE WHAT: fails if a directory recorded in STATE still exists or a process
# recorded there still runs.
check_gone() {
    local state=$1 what=$2 key value pg_dir
    [ -s "$state" ] || it_fail "$what: nothing was recorded in $state"
    while IFS='=' read -r key value; do
        case "$key" in
        *_dir | it_tmp)
            [ ! -e "$value" ] || it_fail "$what: $key $value was left behind"
            ;;
        *_pid)
            # Give a process that got its signal a moment to finish exiting.
            it_wait_for "! it_alive $value" 10 ||
                it_fail "$what: $key $value ($(tr '\0' ' ' <"/proc/$value/cmdline")) still runs"
            ;;
        esac
    done <"$state"
    pg_dir=$(sed -n 's/^pg_dir=//p' "$state")
    [ -n "$pg_dir" ] || it_fail "$what: no PostgreSQL dir was recorded"
    if pgrep -f -- "$pg_dir" >/dev/null; then
        it_fail "$what: a process still refers to $pg_dir: $(pgrep -af -- "$pg_dir")"
    fi
}

if [ "${1:-}" = --inner ]; then
    inner "$2" "$3"
fi

[ -x "$GEVINST_BUILD/tools/gevinst-mock-kafka" ] ||
    it_fail "$GEVINST_BUILD/tools/gevinst-mock-kafka is not built"

it_step "a passing test leaves nothing behind"
it_run inner_pass bash "${BASH_SOURCE[0]}" --inner "$IT_TMP/state.pass" pass
it_assert_status 0 inner_pass "inner test (pass mode)"
check_gone "$IT_TMP/state.pass" "after a passing test"

it_step "a failing test reports the failure and leaves nothing behind"
it_run inner_fail bash "${BASH_SOURCE[0]}" --inner "$IT_TMP/state.fail" fail
it_assert_status 1 inner_fail "inner test (fail mode)"
it_assert_grep "$IT_TMP/inner_fail.err" '^FAIL: infra_selftest: deliberate failure' \
    "it_fail message on stderr"
check_gone "$IT_TMP/state.fail" "after a failing test"

it_step "a test killed with SIGTERM leaves nothing behind"
it_bg inner_term bash "${BASH_SOURCE[0]}" --inner "$IT_TMP/state.term" hang
it_wait_for "grep -q '^ready=' '$IT_TMP/state.term'" 60 || it_fail "hang mode never got ready"
it_stop inner_term 30
it_assert_eq 143 "$IT_STATUS" "exit status of a test stopped with SIGTERM"
check_gone "$IT_TMP/state.term" "after SIGTERM"

it_step "an error in a test names the line and the command"
cat >"$IT_TMP/err_test.sh" <<EOF
source "$GEVINST_SRC/tests/integration/lib.sh"
true
false
it_pass
EOF
it_run err_test bash "$IT_TMP/err_test.sh"
it_assert_status 1 err_test "a test whose command fails"
it_assert_grep "$IT_TMP/err_test.err" '^FAIL: err_test: err_test.sh:3: .*status 1: false$' \
    "report of a failing command"

it_step "scripts/with-pg: status of CMD, server gone afterwards"
# shellcheck disable=SC2016  # expanded by the inner shell
it_run with_pg "$GEVINST_SRC/scripts/with-pg" bash -c '
    set -e
    echo "pg_dir=$GEVINST_TEST_PGDIR" >"$0"
    echo "pg_pid=$(head -n 1 "$GEVINST_TEST_PGDATA/postmaster.pid")" >>"$0"
    [ "$(psql -XAtq -c "SELECT current_database()")" = gevinst_test ]
    [ "$(psql -XAtq -d "$GEVINST_TEST_CONNINFO" -c "SELECT 42")" = 42 ]
    "$GEVINST_TEST_PGCTL" restart
    [ "$(psql -XAtq -c "SELECT 1")" = 1 ]
    exit 3' "$IT_TMP/state.with_pg"
it_assert_status 3 with_pg "scripts/with-pg passes on the status of CMD"
it_assert_eq 0 "$(wc -c <"$IT_TMP/with_pg.out")" "scripts/with-pg is quiet (stdout)"
it_assert_eq 0 "$(wc -c <"$IT_TMP/with_pg.err")" "scripts/with-pg is quiet (stderr)"
check_gone "$IT_TMP/state.with_pg" "after scripts/with-pg"

it_step "scripts/with-pg and with-kafka in parallel, nested"
# shellcheck disable=SC2016  # expanded by the inner shell
"$GEVINST_SRC/scripts/with-kafka" --brokers 2 --topic nested:2 \
    "$GEVINST_SRC/scripts/with-pg" bash -c '
    set -e
    echo "pg_dir=$GEVINST_TEST_PGDIR" >"$0"
    echo "kafka_dir=$GEVINST_TEST_KAFKA_DIR" >>"$0"
    echo "kafka_pid=$GEVINST_TEST_KAFKA_PID" >>"$0"
    echo "pg_pid=$(head -n 1 "$GEVINST_TEST_PGDATA/postmaster.pid")" >>"$0"
    kcat -b "$GEVINST_TEST_BROKERS" -L -t nested | grep -q "with 2 partitions"
    psql -XAtq -c "SELECT 1" >/dev/null' "$IT_TMP/state.nested" \
    >"$IT_TMP/nested.out" 2>"$IT_TMP/nested.err" &
nested_pid=$!
it_run parallel "$GEVINST_SRC/scripts/with-pg" psql -XAtq -c 'SELECT 7'
it_assert_status 0 parallel "with-pg run in parallel"
IT_STATUS=0
wait "$nested_pid" || IT_STATUS=$?
it_assert_status 0 nested "nested with-kafka/with-pg run"
it_assert_eq 7 "$(cat "$IT_TMP/parallel.out")" "output of a command run by with-pg"
check_gone "$IT_TMP/state.nested" "after nested with-kafka/with-pg"

it_step "wrapper usage errors"
it_run usage_pg "$GEVINST_SRC/scripts/with-pg"
it_assert_status 2 usage_pg "scripts/with-pg without CMD"
it_run usage_kafka "$GEVINST_SRC/scripts/with-kafka" --topic nopartitions true
it_assert_status 2 usage_kafka "scripts/with-kafka --topic without partitions"
it_run usage_mock "$GEVINST_BUILD/tools/gevinst-mock-kafka" --brokers x
it_assert_status 2 usage_mock "gevinst-mock-kafka --brokers x"
it_assert_grep "$IT_TMP/usage_mock.err" '^usage: gevinst-mock-kafka' "mock usage text"

it_pass
