#!/usr/bin/env bash
# Generated streams against the independent model: gevinst-gen makes a few thousand
# appointments and journal entries (disorder, redelivery, batches, bad messages);
# tests/support/kpi_model.py computes kpi_daily from the events themselves, and is checked
# against the generator's truth file (the intended final state). Then every way of running
# the daemon must give exactly the model's rows and the model's rejection counts:
#   (a) one instance, --exit-on-eof, one-partition topics
#   (b) three instances of one group started together on 6-partition topics, --exit-on-eof
#   (c) one instance killed with SIGKILL 3-5 times mid-stream and restarted, then a final
#       --exit-on-eof run (a larger stream, small batches)
#   (d) the same events produced in shuffled order (one partition, so arrival order is the
#       shuffled order)
# (b) runs last, so that a failure there does not hide the others.
# Equal event times: the latest snapshot wins and ties go to the later arrival. Where events
# of one appointment or entry are spread over partitions there is no arrival order between
# them, so the test first checks (kpi_model.py --ties error) that the generated streams have no
# two different versions of one appointment or entry with the same time.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$GEVINST_SRC/tests/support/kpi_it.sh"

GEN=$GEVINST_BUILD/tools/gevinst-gen
[ -x "$GEN" ] || it_fail "$GEN is not built"
SEED=${KPI_MODEL_SEED:-11}
KILL_SEED=${KPI_MODEL_KILL_SEED:-$RANDOM}
it_log "generator seed $SEED, kill seed $KILL_SEED (KPI_MODEL_SEED, KPI_MODEL_KILL_SEED repeat a run)"
RANDOM=$KILL_SEED

IT_KEY_FILE=$IT_TMP/pseudonym.key
(umask 077 && openssl rand -hex 32 >"$IT_KEY_FILE")
export IT_KEY_FILE

# gen NAME ARGS...: a keyed stream, its truth file and the model's rows and rejections.
gen() {
    local name=$1
    shift
    "$GEN" --seed "$SEED" --audit 0 --out keyed --truth "$IT_TMP/$name.truth" "$@" \
        >"$IT_TMP/$name.stream" 2>"$IT_TMP/$name.gen.err" ||
        it_fail "gevinst-gen failed: $(cat "$IT_TMP/$name.gen.err")"
    it_log "$name: $(tail -n 2 "$IT_TMP/$name.gen.err" | tr '\n' ' ')"
    kpi_model expect --key "$IT_KEY_FILE" --keyed --ties error \
        --rejections "$IT_TMP/$name.rejections" "$IT_TMP/$name.stream" >"$IT_TMP/$name.model" ||
        it_fail "$name: the model failed or found equal-time conflicts (see above)"
    kpi_model truth --key "$IT_KEY_FILE" "$IT_TMP/$name.truth" >"$IT_TMP/$name.truthrows" ||
        it_fail "$name: the truth file's local days disagree with Europe/Oslo (see above)"
    kpi_model compare --label "$name: model from the events vs the generator's truth" \
        "$IT_TMP/$name.truthrows" "$IT_TMP/$name.model" ||
        it_fail "$name: the model's rows from the events differ from the truth file's"
    # The generator counts its bad messages per reason; each is one event.
    local bad
    bad=$(sed -n 's/^gevinst-gen: bad messages by reason: //p' "$IT_TMP/$name.gen.err" |
        tr ' ' '\n' | paste - - | awk '{ print $1 "," $2 }' | sort)
    [ "$bad" = "$(tail -n +2 "$IT_TMP/$name.rejections" | cut -d, -f2,3 |
        awk -F, '{ n[$1] += $2 } END { for (r in n) print r "," n[r] }' | sort)" ] ||
        it_fail "$name: the model's rejections ($(tail -n +2 "$IT_TMP/$name.rejections" |
            tr '\n' ' ')) differ from the generator's bad messages ($(echo "$bad" | tr '\n' ' '))"
    [ "$(wc -l <"$IT_TMP/$name.model")" -gt 1000 ] || it_fail "$name: the model has few rows"
}

# check NAME DB APPT_TOPIC JOURNAL_TOPIC WHAT: kpi_daily and data_quality_daily of DB equal the
# model of stream NAME.
check() {
    local name=$1 db=$2 at=$3 jt=$4 what=$5
    kpi_assert_rows "$IT_TMP/$name.model" "$db" "$what"
    tail -n +2 "$IT_TMP/$name.rejections" |
        sed -e "s/^ehr\.appointments,/$at,/" -e "s/^ehr\.journal,/$jt,/" |
        sort >"$IT_TMP/$db.dq-expected"
    kpi_psql "$db" "SELECT topic, reason, sum(events) FROM gevinst.data_quality_daily
                    GROUP BY 1, 2" -F, | sort >"$IT_TMP/$db.dq-actual"
    diff "$IT_TMP/$db.dq-expected" "$IT_TMP/$db.dq-actual" >&2 ||
        it_fail "$what: data_quality_daily differs from the model (< model, > actual)"
    it_log "$what: $(wc -l <"$IT_TMP/$db.dq-actual") rejection rows, kpi_daily exact" \
        "(${SECONDS} s into the test)"
}

it_step "generate streams; the model against the truth file"
gen small --appointments 3000 --journal 3000 --bad-ratio 0.02 --batch-ratio 0.1
kpi_split_keyed "$IT_TMP/small.stream" "$IT_TMP/small"
gen large --appointments 7000 --journal 5000 --bad-ratio 0.01 --batch-ratio 0.1 \
    --from 2024-01-01 --to 2025-06-30
kpi_split_keyed "$IT_TMP/large.stream" "$IT_TMP/large"

it_start_pg
it_start_kafka ma.appt:1 ma.journal:1 mb.appt:6 mb.journal:6 mc.appt:3 mc.journal:3 \
    md.appt:1 md.journal:1

it_step "(a) one instance, one-partition topics"
kpi_config "$IT_TMP/ma.ini" ma ma.appt ma.journal '[pipeline]' 'batch_events = 50'
kpi_produce_keyed ma.appt "$IT_TMP/small/appointments.keyed"
kpi_produce_keyed ma.journal "$IT_TMP/small/journal.keyed"
it_log_file ma "$IT_TMP/ma.err"
it_run ma "$GEVINSTD" --config "$IT_TMP/ma.ini" --exit-on-eof
it_assert_status 0 ma "gevinstd --exit-on-eof (a)"
check small ma ma.appt ma.journal "(a) one instance"

it_step "(c) SIGKILL mid-stream, restart, SIGKILL ... then a final run"
kpi_config "$IT_TMP/mc.ini" mc mc.appt mc.journal '[pipeline]' 'batch_events = 10'
kpi_produce_keyed mc.appt "$IT_TMP/large/appointments.keyed"
kpi_produce_keyed mc.journal "$IT_TMP/large/journal.keyed"
total=$(kpi_end_offsets mc.appt | awk '{ n += $2 } END { print n }')
total=$((total + $(kpi_end_offsets mc.journal | awk '{ n += $2 } END { print n }')))
stored() {
    kpi_psql mc "SELECT COALESCE(sum(next_offset), 0) FROM gevinst.consumer_offset" 2>/dev/null ||
        echo 0
}
kills=$((3 + RANDOM % 3))
killed=0
for ((k = 1; k <= kills; k++)); do
    before=$(stored)
    it_bg "mc$k" "$GEVINSTD" --config "$IT_TMP/mc.ini"
    # Mid-stream: wait until this instance has committed something, then a little more.
    it_wait_for "[ \$(stored) -gt $before ]" 60 ||
        it_fail "(c) instance $k committed nothing within 60 s"
    sleep "0.$((RANDOM % 5))$((RANDOM % 10))"
    pid=$(it_pid "mc$k")
    kafka__alive "$pid" || it_fail "(c) instance $k died by itself"
    kill -KILL "$pid"
    it_wait "mc$k" 10
    at=$(stored)
    it_log "(c) kill $k of $kills: $at of $total messages committed"
    [ "$at" -lt "$total" ] || it_fail "(c) the stream was consumed before kill $k: make it larger"
    killed=$((killed + 1))
done
# The rest in default batches: quicker, and positions do not depend on the batch size.
kpi_config "$IT_TMP/mc-final.ini" mc mc.appt mc.journal
it_log_file mc-final "$IT_TMP/mc-final.err"
IT_RUN_TIMEOUT=150 it_run mc-final "$GEVINSTD" --config "$IT_TMP/mc-final.ini" --exit-on-eof
it_assert_status 0 mc-final "final gevinstd --exit-on-eof after $killed kills (c)"
check large mc mc.appt mc.journal "(c) after $killed SIGKILLs"

it_step "(d) the same events in shuffled order"
python3 - "$IT_TMP/small.stream" "$IT_TMP/shuffled.stream" "$SEED" <<'EOF'
import random, sys
lines = open(sys.argv[1], "rb").read().splitlines(keepends=True)
random.Random(int(sys.argv[3])).shuffle(lines)
open(sys.argv[2], "wb").writelines(lines)
EOF
kpi_model expect --key "$IT_KEY_FILE" --keyed "$IT_TMP/shuffled.stream" >"$IT_TMP/shuffled.model"
kpi_model compare --label "model: shuffled vs original order" \
    "$IT_TMP/small.model" "$IT_TMP/shuffled.model" ||
    it_fail "(d) the model's rows depend on arrival order"
cp "$IT_TMP/small.rejections" "$IT_TMP/shuffled.rejections"
kpi_split_keyed "$IT_TMP/shuffled.stream" "$IT_TMP/shuffled"
kpi_config "$IT_TMP/md.ini" md md.appt md.journal '[pipeline]' 'batch_events = 50'
kpi_produce_keyed md.appt "$IT_TMP/shuffled/appointments.keyed"
kpi_produce_keyed md.journal "$IT_TMP/shuffled/journal.keyed"
it_log_file md "$IT_TMP/md.err"
it_run md "$GEVINSTD" --config "$IT_TMP/md.ini" --exit-on-eof
it_assert_status 0 md "gevinstd --exit-on-eof (d)"
check shuffled md md.appt md.journal "(d) shuffled order"

it_step "(b) three instances of one group, 6-partition topics, keyed"
kpi_config "$IT_TMP/mb.ini" mb mb.appt mb.journal '[pipeline]' 'batch_events = 50'
kpi_produce_keyed mb.appt "$IT_TMP/small/appointments.keyed"
kpi_produce_keyed mb.journal "$IT_TMP/small/journal.keyed"
[ "$(kpi_end_offsets mb.appt | wc -l)" -ge 4 ] || it_fail "(b) keys did not spread over partitions"
for i in 1 2 3; do
    it_bg "mb$i" "$GEVINSTD" --config "$IT_TMP/mb.ini" --exit-on-eof
done
problems=()
for i in 1 2 3; do
    it_wait "mb$i" 150
    [ "$IT_STATUS" = 0 ] || problems+=("instance $i exited with status $IT_STATUS ($({ grep -m 1 \
        -E 'Z ERROR |Assertion' "$IT_TMP/mb$i.log" || true; } | cut -c 1-220))")
done
it_log "(b) instances that got partitions: $(grep -l 'pipeline: assigned [1-9]' \
    "$IT_TMP"/mb?.log | wc -l) of 3"
# Every partition must have been consumed to its end by some instance.
for t in mb.appt mb.journal; do
    while read -r p end; do
        at=$(kpi_psql mb "SELECT next_offset FROM gevinst.consumer_offset
                          WHERE topic = '$t' AND partition = $p")
        [ "$at" = "$end" ] || problems+=("$t [$p] consumed to ${at:-nothing} of $end")
    done < <(kpi_end_offsets "$t")
done
[ ${#problems[@]} -eq 0 ] || it_fail "(b) three instances with --exit-on-eof: $(printf '%s; ' \
    "${problems[@]}")see the logs of mb1..mb3 below"
check small mb mb.appt mb.journal "(b) three instances"

it_pass
