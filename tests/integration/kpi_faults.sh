#!/usr/bin/env bash
# Faults while the daemon runs, against the independent model (tests/support/kpi_model.py):
#   (a) PostgreSQL restarted, stopped for about 5 s then started, and killed (immediate stop,
#       crash recovery) then started, while gevinstd runs without --exit-on-eof on a stream
#       that is still being produced. The daemon must keep running; once it has consumed
#       the whole stream, SIGTERM must stop it with status 0 within 10 s, and kpi_daily and
#       data_quality_daily must equal the model's.
#   (b) SIGTERM mid-stream: status 0 within 10 s; then a --exit-on-eof run completes the
#       stream with exact results.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$GEVINST_SRC/tests/support/kpi_it.sh"

GEN=$GEVINST_BUILD/tools/gevinst-gen
[ -x "$GEN" ] || it_fail "$GEN is not built"

IT_KEY_FILE=$IT_TMP/pseudonym.key
(umask 077 && openssl rand -hex 32 >"$IT_KEY_FILE")
export IT_KEY_FILE

it_step "generate a stream and its model"
"$GEN" --seed 23 --appointments 4000 --journal 3000 --audit 0 --bad-ratio 0.01 \
    --batch-ratio 0.1 --out keyed --truth "$IT_TMP/truth" >"$IT_TMP/stream" \
    2>"$IT_TMP/gen.err" || it_fail "gevinst-gen failed: $(cat "$IT_TMP/gen.err")"
# Two partitions per topic: no two different versions of one appointment or entry may share
# a time, or the winner would depend on arrival order across partitions.
kpi_model expect --key "$IT_KEY_FILE" --keyed --ties error --rejections "$IT_TMP/model.rej" \
    "$IT_TMP/stream" >"$IT_TMP/model.csv" || it_fail "the model failed (see above)"
kpi_model truth --key "$IT_KEY_FILE" "$IT_TMP/truth" >"$IT_TMP/truth.csv"
kpi_model compare --label "model vs the generator's truth" "$IT_TMP/truth.csv" \
    "$IT_TMP/model.csv" || it_fail "the model differs from the generator's truth file"
kpi_split_keyed "$IT_TMP/stream" "$IT_TMP/k"

it_start_pg
it_start_kafka fa.appt:2 fa.journal:2 fb.appt:2 fb.journal:2

# check DB APPT_TOPIC JOURNAL_TOPIC WHAT
check() {
    local db=$1 at=$2 jt=$3 what=$4
    kpi_assert_rows "$IT_TMP/model.csv" "$db" "$what"
    tail -n +2 "$IT_TMP/model.rej" |
        sed -e "s/^ehr\.appointments,/$at,/" -e "s/^ehr\.journal,/$jt,/" | sort >"$IT_TMP/$db.dq-e"
    kpi_psql "$db" "SELECT topic, reason, sum(events) FROM gevinst.data_quality_daily
                    GROUP BY 1, 2" -F, | sort >"$IT_TMP/$db.dq-a"
    diff "$IT_TMP/$db.dq-e" "$IT_TMP/$db.dq-a" >&2 ||
        it_fail "$what: data_quality_daily differs from the model (< model, > actual)"
}

# stored DB: sum of the stored next offsets (messages committed).
stored() {
    kpi_psql "$1" "SELECT COALESCE(sum(next_offset), 0) FROM gevinst.consumer_offset" \
        2>/dev/null || echo -1
}

alive() {
    kafka__alive "$(it_pid "$1")" || it_fail "gevinstd ($1) is no longer running $2"
}

# stop_in_time NAME WHAT: SIGTERM; exit status 0 within 10 s.
stop_in_time() {
    local t0=$SECONDS
    it_stop "$1" 10
    [ "$IT_STATUS" != 124 ] || it_fail "$2: gevinstd still running 10 s after SIGTERM"
    [ "$IT_STATUS" = 0 ] || it_fail "$2: gevinstd exited with status $IT_STATUS after SIGTERM"
    it_log "$2: stopped with status 0 in about $((SECONDS - t0)) s"
}

# produce_slowly APPT_TOPIC JOURNAL_TOPIC CHUNKS PAUSE: the stream in CHUNKS pieces, PAUSE s
# apart (run in the background, by it_bg).
# shellcheck disable=SC2317
produce_slowly() {
    local at=$1 jt=$2 chunks=$3 pause=$4 i na nj
    na=$(( ($(wc -l <"$IT_TMP/k/appointments.keyed") + chunks - 1) / chunks ))
    nj=$(( ($(wc -l <"$IT_TMP/k/journal.keyed") + chunks - 1) / chunks ))
    for ((i = 0; i < chunks; i++)); do
        sed -n "$((i * na + 1)),$(((i + 1) * na))p" "$IT_TMP/k/appointments.keyed" >"$IT_TMP/chunk.a"
        sed -n "$((i * nj + 1)),$(((i + 1) * nj))p" "$IT_TMP/k/journal.keyed" >"$IT_TMP/chunk.j"
        kpi_produce_keyed "$at" "$IT_TMP/chunk.a"
        kpi_produce_keyed "$jt" "$IT_TMP/chunk.j"
        echo "chunk $((i + 1)) of $chunks produced"
        sleep "$pause"
    done
    echo "done"
}

it_step "(a) PostgreSQL restarted, stopped, killed while the daemon runs and events arrive"
kpi_config "$IT_TMP/fa.ini" fa fa.appt fa.journal '[pipeline]' 'batch_events = 50'
it_bg fa "$GEVINSTD" --config "$IT_TMP/fa.ini"
it_bg producer produce_slowly fa.appt fa.journal 30 0.5
it_wait_for "[ \$(stored fa) -gt 0 ]" 60 || it_fail "(a) nothing committed within 60 s"

at=$(stored fa)
"$GEVINST_TEST_PGCTL" restart
it_log "(a) PostgreSQL restarted at $at committed messages"
sleep 1
alive fa "after the PostgreSQL restart"
it_wait_for "[ \$(stored fa) -gt $at ]" 60 ||
    it_fail "(a) no progress within 60 s after the PostgreSQL restart"

at=$(stored fa)
"$GEVINST_TEST_PGCTL" stop
it_log "(a) PostgreSQL stopped at $at committed messages"
sleep 5
alive fa "while PostgreSQL is stopped"
"$GEVINST_TEST_PGCTL" start
it_log "(a) PostgreSQL started again"
it_wait_for "[ \$(stored fa) -gt $at ]" 60 ||
    it_fail "(a) no progress within 60 s after PostgreSQL came back"

at=$(stored fa)
"$GEVINST_TEST_PGCTL" kill
it_log "(a) PostgreSQL killed (immediate stop) at $at committed messages"
sleep 2
alive fa "while PostgreSQL is down after a crash"
"$GEVINST_TEST_PGCTL" start
it_log "(a) PostgreSQL started after the crash"

grep -q '^done$' "$IT_TMP/producer.log" && it_log "(a) note: the producer had finished already"
it_wait producer 120
[ "$IT_STATUS" = 0 ] || it_fail "(a) the producer failed (status $IT_STATUS)"
kpi_wait_caught_up fa 120 fa.appt fa.journal ||
    it_fail "(a) the daemon did not consume the whole stream within 120 s after it was produced"
alive fa "after consuming the whole stream"
stop_in_time fa "(a)"
check fa fa.appt fa.journal "(a) PostgreSQL restarted, stopped and killed"

it_step "(b) SIGTERM mid-stream, then a --exit-on-eof run"
# A commit per message, so that even a fast machine is still consuming when the
# signal comes (with 20 per batch it once read the whole stream within 0.5 s).
kpi_config "$IT_TMP/fb.ini" fb fb.appt fb.journal '[pipeline]' 'batch_events = 1'
kpi_produce_keyed fb.appt "$IT_TMP/k/appointments.keyed"
kpi_produce_keyed fb.journal "$IT_TMP/k/journal.keyed"
it_bg fb "$GEVINSTD" --config "$IT_TMP/fb.ini"
it_wait_for "[ \$(stored fb) -gt 0 ]" 60 || it_fail "(b) nothing committed within 60 s"
alive fb "before SIGTERM"
kpi_caught_up fb fb.appt fb.journal && it_fail "(b) the stream was consumed before SIGTERM"
stop_in_time fb "(b) SIGTERM mid-stream"
it_log "(b) $(stored fb) messages committed at SIGTERM"
kpi_caught_up fb fb.appt fb.journal && it_fail "(b) the stream was consumed before SIGTERM"
it_log_file fb-final "$IT_TMP/fb-final.err"
it_run fb-final "$GEVINSTD" --config "$IT_TMP/fb.ini" --exit-on-eof
it_assert_status 0 fb-final "gevinstd --exit-on-eof after SIGTERM (b)"
check fb fb.appt fb.journal "(b) SIGTERM mid-stream, then --exit-on-eof"

it_pass
