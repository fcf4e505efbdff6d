#!/usr/bin/env bash
# The daemon's HTTP endpoint against a known stream: /metrics passes Prometheus' own parser
# (`promtool check metrics`, Debian's prometheus package) and its counters match the stream
# (25 messages: 20 accepted, 3 invalid_json, 2 missing_field); consumer lag per partition is
# there and reaches 0; no identifier from the events reaches a label; /healthz is 200 while
# consuming, 503 "postgres unreachable" while PostgreSQL is stopped, 200 again once it is
# back, with the events produced during the outage counted once.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -x "$GEVINSTD" ] || it_fail "$GEVINSTD is not built"
command -v promtool >/dev/null ||
    it_fail "promtool is not installed (apt-get install prometheus; scripts/install-deps.sh)"
command -v curl >/dev/null || it_fail "curl is not installed"

TOPIC=ehr.appointments
BASE=$(head -n 1 "$GEVINST_SRC/tests/fixtures/events/valid.jsonl")
case "$BASE" in
*'"type":"appointment.booked"'*'"appointment_id":"A-100234","unit_id":"phr-poliklinikk-ost"'*) ;;
*) it_fail "the first event of tests/fixtures/events/valid.jsonl is not the booking expected" ;;
esac

# booking N: the fixture's booking with event id and appointment id of its own.
booking() {
    printf '%s\n' "$BASE" | sed -e "s/\"id\":\"[^\"]*\"/\"id\":\"svc-metrics-$1\"/" \
        -e "s/\"appointment_id\":\"A-100234\"/\"appointment_id\":\"A-SVC-$1\"/"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

URL=
metrics() {
    curl -sf --max-time 5 "$URL/metrics"
}

# metric SERIES: the value of one series ("name" or 'name{labels}') in a fresh scrape.
metric() {
    metrics | awk -v s="$1" '$1 == s { print $2; found = 1 } END { exit !found }'
}

# wait_metric SERIES VALUE TIMEOUT
wait_metric() {
    it_wait_for "[ \"\$(metric '$1')\" = '$2' ]" "$3" ||
        it_fail "$1 did not reach $2 within $3 s (it is '$(metric "$1" || true)')"
}

# health: "STATUS BODY" of /healthz.
health() {
    local body status
    body=$(curl -s --max-time 5 -o - -w '\n%{http_code}' "$URL/healthz") || return 1
    status=${body##*$'\n'}
    body=${body%$'\n'*}
    echo "$status $body"
}

wait_health() {
    it_wait_for "[ \"\$(health)\" = '$1' ]" "$2" ||
        it_fail "/healthz did not become '$1' within $2 s (it is '$(health || true)')"
}

it_start_pg
it_start_kafka "$TOPIC:2" ehr.journal:1 ehr.audit:1
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
it_write_config "$IT_TMP/gevinstd.ini" '[http]' "listen = 127.0.0.1:$PORT"

it_step "the stream: 20 bookings, 3 messages that are not JSON, 2 bookings without unit_id"
{
    for i in $(seq 1 10); do booking "$i"; done
    echo 'this is not JSON'
    booking 21 | sed 's/"unit_id":"phr-poliklinikk-ost",//'
} >"$IT_TMP/p0"
{
    for i in $(seq 11 20); do booking "$i"; done
    echo '{"specversion":"1.0",'
    echo '[1, 2'
    booking 22 | sed 's/"unit_id":"phr-poliklinikk-ost",//'
} >"$IT_TMP/p1"
it_produce -p 0 "$TOPIC" "$IT_TMP/p0"
it_produce -p 1 "$TOPIC" "$IT_TMP/p1"

it_step "start gevinstd with http.listen = 127.0.0.1:$PORT"
it_bg daemon "$GEVINSTD" --config "$IT_TMP/gevinstd.ini"
it_wait_for "curl -s --max-time 2 -o /dev/null $URL/healthz" 30 ||
    it_fail "nothing listens on $URL within 30 s (is http.listen wired into the daemon?)"
wait_health "200 ok" 60

it_step "counters after the stream"
wait_metric gevinst_messages_consumed_total 25 60
metrics >"$IT_TMP/metrics.txt"
it_log_file metrics "$IT_TMP/metrics.txt"
for series in \
    "gevinst_events_accepted_total 20" \
    'gevinst_events_rejected_total{reason="invalid_json"} 3' \
    'gevinst_events_rejected_total{reason="missing_field"} 2' \
    'gevinst_events_rejected_total{reason="not_cloudevent"} 0' \
    'gevinst_events_rejected_total{reason="late_event"} 0' \
    "gevinst_postgres_up 1" "gevinst_kafka_up 1" "gevinst_consuming 1" \
    "gevinst_goals_loaded 1" "gevinst_batches_failed_total 0" \
    "gevinst_build_info{version=\"$("$GEVINSTD" --version | awk '{print $2}')\"} 1"; do
    grep -qxF -- "$series" "$IT_TMP/metrics.txt" || it_fail "no line '$series' in /metrics"
done
committed=$(metric gevinst_batches_committed_total)
[ "$committed" -ge 1 ] || it_fail "gevinst_batches_committed_total is $committed"
it_assert_eq "$committed" "$(metric gevinst_commit_duration_seconds_count)" \
    "one commit latency observation per committed batch"
for p in 0 1; do
    wait_metric "gevinst_consumer_lag{topic=\"$TOPIC\",partition=\"$p\"}" 0 30
done

it_step "promtool check metrics"
metrics >"$IT_TMP/metrics.txt"
promtool check metrics <"$IT_TMP/metrics.txt" >"$IT_TMP/promtool.out" 2>&1 || {
    sed 's/^/    /' "$IT_TMP/promtool.out" >&2
    it_fail "promtool check metrics rejects /metrics"
}
it_assert_grep "$IT_TMP/metrics.txt" '^# TYPE gevinst_commit_duration_seconds histogram$' \
    "commit latency is a histogram"

it_step "no identifier from the events in /metrics"
for id in A-SVC- svc-metrics- P-77812 phr-poliklinikk-ost helseplattformen; do
    it_assert_no_string "$IT_TMP/metrics.txt" "$id" "/metrics shows an identifier from the events"
done

it_step "other paths and methods"
it_assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")" "GET /nope"
it_assert_eq 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/metrics")" \
    "POST /metrics"
ctype=$(curl -s -o /dev/null -w '%{content_type}' "$URL/metrics")
case "$ctype" in
"text/plain; version=0.0.4"*) ;;
*) it_fail "Content-Type of /metrics is '$ctype'" ;;
esac

it_step "PostgreSQL stopped: /healthz 503 'postgres unreachable'"
"$GEVINST_TEST_PGCTL" stop
{ for i in $(seq 23 27); do booking "$i"; done; } >"$IT_TMP/p0-outage"
it_produce -p 0 "$TOPIC" "$IT_TMP/p0-outage"
wait_health "503 postgres unreachable" 60
it_assert_eq 0 "$(metric gevinst_postgres_up)" "gevinst_postgres_up during the outage"

it_step "PostgreSQL back: /healthz 200, the 5 new events counted once"
"$GEVINST_TEST_PGCTL" start
wait_health "200 ok" 90
wait_metric gevinst_events_accepted_total 25 60
wait_metric gevinst_messages_consumed_total 30 30
it_assert_eq "3 2" "$(metric 'gevinst_events_rejected_total{reason="invalid_json"}') $(
    metric 'gevinst_events_rejected_total{reason="missing_field"}')" \
    "invalid_json and missing_field rejections after the outage (none counted twice)"
metrics >"$IT_TMP/metrics.txt"
promtool check metrics <"$IT_TMP/metrics.txt" >"$IT_TMP/promtool.out" 2>&1 ||
    it_fail "promtool check metrics rejects /metrics after the outage: $(cat "$IT_TMP/promtool.out")"

it_step "SIGTERM: exit 0"
it_stop daemon 15
it_assert_eq 0 "$IT_STATUS" "exit status after SIGTERM"
! curl -s --max-time 2 -o /dev/null "$URL/healthz" || it_fail "$URL still answers after exit"

it_pass
