#!/usr/bin/env bash
# Golden streams: small hand-made appointment and journal streams (tests/fixtures/golden/)
# with hand-computed gevinst.kpi_daily rows, run through the daemon against the real
# PostgreSQL and the mock Kafka cluster. Covers out-of-order snapshots, corrections,
# rescheduling across a month boundary, entered-in-error, DST days, equal times, redelivery,
# batch messages, cancelled, channels; journal chains, late earlier entries, entered-in-error
# before and after, the 24 h edge, midnight and DST, re-recorded entries, durations, groups
# that must not interfere; and the bad messages in rejected_event and data_quality_daily.
#
# Scenarios, each with its own database and one-partition topics (offset = line order):
#   small   pipeline.batch_events = 3, so retractions and ties cross batches
#   default default batches; then the whole stream produced again and consumed: same rows
#   twice   the whole stream in Kafka twice before the first run (batch_events = 3)
# The model (tests/support/kpi_model.py) must agree with the hand-computed rows as well.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$GEVINST_SRC/tests/support/kpi_it.sh"

FIX=$GEVINST_SRC/tests/fixtures/golden
APPT=$FIX/appointments.stream
JOURNAL=$FIX/journal.stream

# The fixture key: the journal's same-time tie (j10) is decided by pseudonyms made with it.
IT_KEY_FILE=$IT_TMP/pseudonym.key
(umask 077 && cp "$FIX/pseudonym.key" "$IT_KEY_FILE")
export IT_KEY_FILE

# Expected rows of both streams in one file.
EXPECTED=$IT_TMP/expected.csv
{
    grep -v '^#' "$FIX/appointments.expected.csv"
    grep -v -e '^#' -e '^unit_id,' "$FIX/journal.expected.csv"
} >"$EXPECTED"

it_step "the model agrees with the hand-computed rows"
kpi_model expect --key "$IT_KEY_FILE" --raw "ehr.appointments=$APPT" --raw "ehr.journal=$JOURNAL" \
    --rejected-list "$IT_TMP/model-rejected.csv" >"$IT_TMP/model.csv"
kpi_model compare --label "model vs hand-computed rows" "$EXPECTED" "$IT_TMP/model.csv" ||
    it_fail "tests/support/kpi_model.py disagrees with the hand-computed golden rows"
# The model's rejections, in the fixture's form.
tail -n +2 "$IT_TMP/model-rejected.csv" |
    awk -F, -v OFS=, '{ sub(/^ehr\./, "", $1); print $1, $2, $4 }' | sort >"$IT_TMP/model-rej"
grep -v -e '^#' -e '^role,' "$FIX/rejections.expected.csv" | sort >"$IT_TMP/fixture-rej"
diff "$IT_TMP/fixture-rej" "$IT_TMP/model-rej" >&2 ||
    it_fail "the model's rejections differ from rejections.expected.csv (< fixture, > model)"

it_start_pg
it_start_kafka g1.appt:1 g1.journal:1 g2.appt:1 g2.journal:1 g3.appt:1 g3.journal:1

# check_rejections DB APPT_TOPIC JOURNAL_TOPIC COPIES: rejected_event holds exactly the
# fixture's rejections (COPIES times over, the n-th copy at offsets + (n-1) * stream length),
# and data_quality_daily counts them per topic and reason.
check_rejections() {
    local db=$1 at=$2 jt=$3 copies=$4 n_appt n_journal c
    n_appt=$(LC_ALL=C grep -a -c -v -e '^#' -e '^$' "$APPT")
    n_journal=$(LC_ALL=C grep -a -c -v -e '^#' -e '^$' "$JOURNAL")
    for ((c = 0; c < copies; c++)); do
        grep -v -e '^#' -e '^role,' "$FIX/rejections.expected.csv" |
            awk -F, -v OFS=, -v at="$at" -v jt="$jt" -v c="$c" -v na="$n_appt" -v nj="$n_journal" '
                $1 == "appointments" { print at, $2 + c * na, $3 }
                $1 == "journal" { print jt, $2 + c * nj, $3 }'
    done | sort >"$IT_TMP/rej-expected.$db"
    kpi_psql "$db" "SELECT topic, \"offset\", reason FROM gevinst.rejected_event" -F, |
        sort >"$IT_TMP/rej-actual.$db"
    diff "$IT_TMP/rej-expected.$db" "$IT_TMP/rej-actual.$db" >&2 ||
        it_fail "$db: gevinst.rejected_event differs from the expected rejections" \
            "(< expected, > actual: topic,offset,reason)"
    kpi_psql "$db" "SELECT count(*) FROM gevinst.rejected_event
                    WHERE partition <> 0 OR detail = '' OR day IS NULL" |
        { read -r n && [ "$n" = 0 ]; } ||
        it_fail "$db: rejected_event rows with a wrong partition, no detail or no day"
    cut -d, -f1,3 "$IT_TMP/rej-expected.$db" | sort | uniq -c |
        awk '{ split($2, a, ","); print a[1] "," a[2] "," $1 }' | sort >"$IT_TMP/dq-expected.$db"
    kpi_psql "$db" "SELECT topic, reason, sum(events) FROM gevinst.data_quality_daily
                    GROUP BY 1, 2" -F, | sort >"$IT_TMP/dq-actual.$db"
    diff "$IT_TMP/dq-expected.$db" "$IT_TMP/dq-actual.$db" >&2 ||
        it_fail "$db: data_quality_daily differs (< expected, > actual: topic,reason,events)"
}

# run_daemon NAME CONFIG: one --exit-on-eof run that must exit 0.
run_daemon() {
    it_log_file "$1" "$IT_TMP/$1.err"
    it_run "$1" "$GEVINSTD" --config "$2" --exit-on-eof
    it_assert_status 0 "$1" "gevinstd --exit-on-eof ($1)"
}

it_step "small batches (pipeline.batch_events = 3)"
kpi_config "$IT_TMP/g1.ini" g1 g1.appt g1.journal '[pipeline]' 'batch_events = 3'
kpi_produce g1.appt "$APPT"
kpi_produce g1.journal "$JOURNAL"
run_daemon g1 "$IT_TMP/g1.ini"
kpi_assert_rows "$EXPECTED" g1 "golden, batch_events = 3"
check_rejections g1 g1.appt g1.journal 1

it_step "default batches"
kpi_config "$IT_TMP/g2.ini" g2 g2.appt g2.journal
kpi_produce g2.appt "$APPT"
kpi_produce g2.journal "$JOURNAL"
run_daemon g2 "$IT_TMP/g2.ini"
kpi_assert_rows "$EXPECTED" g2 "golden, default batches"
check_rejections g2 g2.appt g2.journal 1
kpi_dump g2 "$IT_TMP/g2-first.csv"

it_step "the whole stream redelivered after it was consumed: identical rows"
kpi_produce g2.appt "$APPT"
kpi_produce g2.journal "$JOURNAL"
run_daemon g2-again "$IT_TMP/g2.ini"
kpi_dump g2 "$IT_TMP/g2-again.csv"
cmp -s "$IT_TMP/g2-first.csv" "$IT_TMP/g2-again.csv" || {
    diff "$IT_TMP/g2-first.csv" "$IT_TMP/g2-again.csv" >&2
    it_fail "redelivering the whole stream changed kpi_daily (< before, > after)"
}
kpi_assert_rows "$EXPECTED" g2 "golden, redelivered"
check_rejections g2 g2.appt g2.journal 2

it_step "the whole stream twice in Kafka before the first run (batch_events = 3)"
kpi_config "$IT_TMP/g3.ini" g3 g3.appt g3.journal '[pipeline]' 'batch_events = 3'
for i in 1 2; do
    kpi_produce g3.appt "$APPT"
    kpi_produce g3.journal "$JOURNAL"
done
run_daemon g3 "$IT_TMP/g3.ini"
kpi_assert_rows "$EXPECTED" g3 "golden, stream twice"
check_rejections g3 g3.appt g3.journal 2

it_pass
