#!/usr/bin/env bash
# Alert delivery across processes: deliverers as processes of their own
# (build/tests/test_pg_deliver --serve) against a throwaway PostgreSQL, the mock Kafka
# cluster as a process (gevinst-mock-kafka), and loopback SMTP and HTTP receivers
# (tests/support/*.py).
#
#  1. One alert to all three channels: e-mail (first attempt refused 451), webhook (first
#     attempt 503), Kafka; all delivered, the failures recorded; the Kafka topic read back
#     with kcat holds a CloudEvent of type gevinst.alert with the alert as data.
#  2. SIGTERM stops a deliverer promptly (exit 0) in the middle of a slow webhook; the row
#     is released, not lost, and a new deliverer sends it.
#  3. SIGKILL in the middle of a send: the row comes back when the lease ends and is sent
#     again (at least once); nothing is lost.
#  4. Three deliverers on one outbox of 60 rows: each row delivered exactly once.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNNER=$GEVINST_BUILD/tests/test_pg_deliver
[ -x "$RUNNER" ] || it_fail "$RUNNER not built (target test_pg_deliver)"
PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
SUPPORT=$GEVINST_SRC/tests/support

it_start_pg
it_start_kafka gevinst.alerts:1

# sink NAME SCRIPT ARGS...: starts a receiver, waits for its port; sets SINK_PORT.
sink() {
    local name=$1 script=$2
    shift 2
    rm -f "$IT_TMP/$name.port"
    it_bg "$name" "$PYTHON" "$SUPPORT/$script" --port-file "$IT_TMP/$name.port" \
        --out "$IT_TMP/$name.jsonl" "$@"
    it_wait_for "[ -s '$IT_TMP/$name.port' ]" 10 || it_fail "$script did not start"
    SINK_PORT=$(cat "$IT_TMP/$name.port")
}

# deliverer NAME [ENV=VALUE...]: starts test_pg_deliver --serve in the background.
deliverer() {
    local name=$1
    shift
    it_bg "$name" env DELIVER_BROKERS="$GEVINST_TEST_BROKERS" \
        DELIVER_SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" DELIVER_BASE_MS=300 "$@" "$RUNNER" --serve
}

q() {
    it_psql "$1"
}

# Waits until the outbox holds only delivered rows ($1 of them).
wait_delivered() {
    it_wait_for "[ \"\$(q \"SELECT count(*) FILTER (WHERE status = 'delivered') || '/' ||
        count(*) FROM gevinst.alert_outbox\")\" = '$1/$1' ]" "${2:-30}" ||
        it_fail "outbox not delivered: $(q "SELECT alert_id, channel, status, attempts,
            last_error FROM gevinst.alert_outbox ORDER BY 1" | tr '\n' ';')"
}

it_step "schema and fixtures"
sink smtp smtp_sink.py --fail-first 1
SMTP_PORT=$SINK_PORT
sink http http_sink.py --fail-first 1
HTTP_PORT=$SINK_PORT
# The first deliverer migrates; the fixtures go in once the schema exists.
deliverer d1
it_wait_for "[ \"\$(q \"SELECT to_regclass('gevinst.alert_outbox') IS NOT NULL\")\" = t ]" 30 ||
    it_fail "schema not migrated"
q "INSERT INTO gevinst.unit (unit_id, name) VALUES ('phr-poliklinikk-ost', 'Poliklinikk øst');
   INSERT INTO gevinst.owner (owner_id, name, email) VALUES ('leder', 'Kari Nordmann',
     'kari.nordmann@example.org');
   INSERT INTO gevinst.goal_def (goal_id, unit_id, kpi, direction, baseline_from, baseline_to,
     target_value, target_date, owner_id) VALUES ('ost-noshow', 'phr-poliklinikk-ost',
     'no_show_rate', 'decrease', '2019-01-01', '2019-12-31', 0.05, '2025-12-31', 'leder');"

it_step "1. one alert, three channels, first attempts refused"
ID=$(q "INSERT INTO gevinst.alert_state (goal_id, unit_id, kpi, kind, period_start, period_end,
          state, actual, expected, alert_key)
        SELECT 'ost-noshow', 'phr-poliklinikk-ost', 'no_show_rate', 'goal.off_track',
          date_trunc('month', current_date - 3)::date, current_date - 3, 'firing', 0.124, 0.08,
          'it-1' RETURNING alert_id")
q "INSERT INTO gevinst.alert_outbox (alert_id, revision, channel, target, status) VALUES
     ($ID, 1, 'email', 'kari.nordmann@example.org', 'pending'),
     ($ID, 1, 'webhook', 'http://127.0.0.1:$HTTP_PORT/hook', 'pending'),
     ($ID, 1, 'kafka', 'gevinst.alerts', 'pending')"
wait_delivered 3
it_assert_eq "email|2|t
kafka|1|f
webhook|2|t" "$(q "SELECT channel, attempts, last_error IS NOT NULL FROM gevinst.alert_delivery
    ORDER BY channel")" "attempts and recorded errors per channel"
it_consume gevinst.alerts -c 1 -f '%k\t%s\n' >"$IT_TMP/kafka.out"
"$PYTHON" - "$IT_TMP/kafka.out" "$ID" <<'EOF' || it_fail "Kafka message is not the expected CloudEvent"
import json, sys
key, value = open(sys.argv[1], encoding="utf-8").read().rstrip("\n").split("\t", 1)
ev = json.loads(value)
alert_id = sys.argv[2]
assert key == alert_id, key
assert ev["specversion"] == "1.0" and ev["type"] == "gevinst.alert", ev
assert ev["source"] == "gevinstd" and ev["id"] == alert_id + "-1", ev
assert ev["subject"] == "ost-noshow" and ev["datacontenttype"] == "application/json", ev
d = ev["data"]
assert d["schema"] == "gevinst.alert/1" and d["alert_id"] == int(alert_id), d
assert d["unit_name"] == "Poliklinikk øst" and d["state"] == "firing", d
assert "Poliklinikk øst" in d["message"] and "etter planen" in d["message"], d["message"]
EOF
"$PYTHON" - "$IT_TMP/smtp.jsonl" "$IT_TMP/http.jsonl" <<'EOF' || it_fail "receivers saw the wrong thing"
import json, sys
smtp = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
http = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
assert [m["status"] for m in smtp] == [451, 250], smtp
assert smtp[1]["rcpt"] == ["kari.nordmann@example.org"], smtp[1]
assert "Content-Transfer-Encoding: quoted-printable" in smtp[1]["data"]
assert [r["status"] for r in http] == [503, 200], http
assert json.loads(http[1]["body"])["kind"] == "goal.off_track"
EOF

it_step "2. SIGTERM during a slow webhook: prompt exit, row released, sent later"
sink slow http_sink.py --hang-first 1 --hang-seconds 5
SLOW_PORT=$SINK_PORT
q "INSERT INTO gevinst.alert_outbox (alert_id, revision, channel, target, status) VALUES
     ($ID, 1, 'webhook', 'http://127.0.0.1:$SLOW_PORT/slow', 'pending')"
it_wait_for "[ \"\$(q \"SELECT count(*) FROM gevinst.alert_outbox WHERE status = 'pending'
    AND next_attempt_at > now()\")\" = 1 ]" 10 || it_fail "the slow row was not claimed"
sleep 0.5
start=$(date +%s%N)
it_stop d1 10
took=$((($(date +%s%N) - start) / 1000000))
it_assert_eq 0 "$IT_STATUS" "deliverer exit status on SIGTERM"
[ "$took" -lt 3000 ] || it_fail "SIGTERM took ${took} ms (limit 3000)"
it_assert_eq "pending|0|t" "$(q "SELECT status, attempts, next_attempt_at <= now()
    FROM gevinst.alert_outbox WHERE target LIKE '%/slow'")" "released row"
deliverer d2
wait_delivered 4

it_step "3. SIGKILL during a send: resent after the lease, nothing lost"
sink hang http_sink.py --hang-first 1 --hang-seconds 3
HANG_PORT=$SINK_PORT
q "INSERT INTO gevinst.alert_outbox (alert_id, revision, channel, target, status) VALUES
     ($ID, 1, 'webhook', 'http://127.0.0.1:$HANG_PORT/hang', 'pending')"
it_wait_for "[ \"\$(q \"SELECT count(*) FROM gevinst.alert_outbox WHERE status = 'pending'
    AND next_attempt_at > now()\")\" = 1 ]" 10 || it_fail "the row was not claimed"
kill -KILL "$(it_pid d2)"
it_wait d2 5
it_assert_eq "pending|0" "$(q "SELECT status, attempts FROM gevinst.alert_outbox
    WHERE target LIKE '%/hang'")" "row after the kill"
deliverer d3 DELIVER_LEASE_MS=3000
wait_delivered 5 20
it_wait_for "[ \$(wc -l <'$IT_TMP/hang.jsonl') -eq 2 ]" 10 ||
    it_fail "the receiver should have seen the alert twice (at least once)"
it_stop d3

it_step "4. three deliverers, 60 rows: each delivered exactly once"
sink many http_sink.py
MANY_PORT=$SINK_PORT
q "INSERT INTO gevinst.alert_state (goal_id, unit_id, kpi, kind, period_start, period_end,
     state, actual, expected, alert_key)
   SELECT 'ost-noshow', 'phr-poliklinikk-ost', 'no_show_rate', 'goal.off_track',
     current_date - 3, current_date - 3, 'firing', 0.1, 0.08, 'many-' || i
   FROM generate_series(1, 60) i;
   INSERT INTO gevinst.alert_outbox (alert_id, revision, channel, target, status)
   SELECT alert_id, 1, 'webhook', 'http://127.0.0.1:$MANY_PORT/', 'pending'
   FROM gevinst.alert_state WHERE alert_key LIKE 'many-%'"
deliverer e1
deliverer e2
deliverer e3
wait_delivered 65 30
it_assert_eq "60 60" "$("$PYTHON" -c '
import json, sys
ids = [json.loads(json.loads(l)["body"])["alert_id"] for l in open(sys.argv[1])]
print(len(ids), len(set(ids)))' "$IT_TMP/many.jsonl")" "requests and distinct alerts received"
for n in e1 e2 e3; do
    it_stop "$n"
    it_assert_eq 0 "$IT_STATUS" "$n exit status"
done
it_pass
