#!/usr/bin/env bash
# Reload under load (issue 7): SIGHUP many times while a stream is being produced and
# consumed, with reloadable keys changing between signals and one unreloadable key changed
# too; the final KPIs, rejections and intake counts must equal those of a quiet run of the
# same stream, and the daemon must report the unreloadable key and keep running.
source "$GEVINST_SRC/tests/integration/lib.sh"
source "$GEVINST_SRC/tests/support/kpi_it.sh"

GEVINSTD=$GEVINST_BUILD/gevinstd
GEN=$GEVINST_BUILD/tools/gevinst-gen

it_start_pg
it_start_kafka --brokers 2 quiet.appt:3 quiet.journal:2 quiet.audit:2 \
    load.appt:3 load.journal:2 load.audit:2

it_step "generate a stream (appointments, journal, audit, some bad messages)"
# Keyed as events.md advises: audit results depend on each user's events sharing a partition.
"$GEN" --seed 11 --appointments 3000 --journal 1500 --audit 6000 --out keyed \
    >"$IT_TMP/stream.tsv" 2>"$IT_TMP/gen.err" || it_fail "gevinst-gen failed"
for role in appointments journal audit; do
    awk -F'\t' -v OFS='\t' -v t="ehr.$role" '$1 == t { print $2, $3 }' "$IT_TMP/stream.tsv" \
        >"$IT_TMP/$role.jsonl"
done
# Ten slices by lines (split -n splits by bytes, and one message is over 1 MB).
slice() { split -d -l $((($(wc -l <"$1") + 9) / 10)) "$1" "$2"; }
slice "$IT_TMP/appointments.jsonl" "$IT_TMP/appt.part."
slice "$IT_TMP/journal.jsonl" "$IT_TMP/journal.part."
slice "$IT_TMP/audit.jsonl" "$IT_TMP/audit.part."
produce_slice() { # TOPIC FILE: a slice may not exist when a file has few lines
    if [ -s "$2" ]; then kpi_produce_keyed "$1" "$2"; fi
}

config() { # PATH DB PREFIX [INI_LINES...]
    local path=$1 db=$2 prefix=$3
    shift 3
    [ -n "$(it_psql "SELECT 1 FROM pg_database WHERE datname = '$db'")" ] ||
        it_psql "CREATE DATABASE $db" >/dev/null
    it_write_config "$path" '[kafka]' "group_id = gevinst-$db" "topic.appointments = $prefix.appt" \
        "topic.journal = $prefix.journal" "topic.audit = $prefix.audit" \
        '[postgres]' "conninfo = $(kpi_conninfo "$db")" "$@"
}

it_step "quiet run: the whole stream, then --exit-on-eof"
config "$IT_TMP/quiet.ini" quiet quiet
kpi_produce_keyed quiet.appt "$IT_TMP/appointments.jsonl"
kpi_produce_keyed quiet.journal "$IT_TMP/journal.jsonl"
kpi_produce_keyed quiet.audit "$IT_TMP/audit.jsonl"
it_run quiet timeout 300 "$GEVINSTD" --config "$IT_TMP/quiet.ini" --exit-on-eof
it_assert_status 0 quiet "quiet run"

it_step "loaded run: produce in ten slices while sending SIGHUP every 100 ms"
config "$IT_TMP/load.ini" load load '[pipeline]' 'batch_events = 200' 'batch_ms = 100'
it_bg load "$GEVINSTD" --config "$IT_TMP/load.ini"
it_log_file load "$IT_TMP/load.log"
pid=$(it_pid load)
hups=0
for i in 0 1 2 3 4 5 6 7 8 9; do
    produce_slice load.appt "$IT_TMP/appt.part.0$i"
    produce_slice load.journal "$IT_TMP/journal.part.0$i"
    produce_slice load.audit "$IT_TMP/audit.part.0$i"
    # Reloadable keys change between signals: batch sizes and the log level.
    config "$IT_TMP/load.ini" load load '[pipeline]' "batch_events = $((100 + i * 97))" \
        "batch_ms = $((50 + i * 20))" '[log]' "level = $([ $((i % 2)) = 0 ] && echo debug || echo info)"
    for _ in 1 2 3; do
        kill -HUP "$pid"
        hups=$((hups + 1))
        sleep 0.1
    done
done
# An unreloadable key changed: reported, kept, no effect on the results.
config "$IT_TMP/load.ini" load load '[kpi]' 'double_documentation_window_hours = 48'
kill -HUP "$pid"
hups=$((hups + 1))
it_alive "$pid" || it_fail "gevinstd died under SIGHUP"
kpi_wait_caught_up load 180 load.appt load.journal load.audit ||
    it_fail "the loaded run did not catch up within 180 s"
it_stop load 10
it_assert_eq 0 "$IT_STATUS" "exit status after SIGTERM"
it_assert_grep "$IT_TMP/load.log" 'kpi.double_documentation_window_hours cannot change while running' \
    "the unreloadable key is reported"
reloads=$(grep -c 'reload: configuration .* in force' "$IT_TMP/load.log" || true)
[ "$reloads" -ge 20 ] || it_fail "only $reloads of $hups SIGHUPs reloaded the configuration"
it_log "$hups SIGHUPs sent, $reloads reloads logged"

it_step "the loaded run's results equal the quiet run's"
kpi_dump quiet "$IT_TMP/quiet.csv"
kpi_dump load "$IT_TMP/load.csv"
[ "$(wc -l <"$IT_TMP/quiet.csv")" -gt 100 ] || it_fail "the quiet run produced too few KPI rows"
kpi_model compare --label "reload under load" "$IT_TMP/quiet.csv" "$IT_TMP/load.csv" ||
    it_fail "kpi_daily after reloads differs from the quiet run"
counts='SELECT regexp_replace(topic, $$^[a-z]+\.$$, $$$$) AS role, outcome, sum(events)
        FROM gevinst.intake_daily GROUP BY 1, 2 ORDER BY 1, 2'
it_assert_eq "$(kpi_psql quiet "$counts")" "$(kpi_psql load "$counts")" \
    "intake counts (accepted and each rejection reason) per role"
it_pass
