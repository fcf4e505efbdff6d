#!/usr/bin/env bash
# The local run: installs what is missing, builds, starts a throwaway
# PostgreSQL and the local (mock) Kafka, feeds a sample stream through the
# daemon and prints what it computed. Leaves nothing running.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
scripts/install-deps.sh
build=${GEVINST_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
export GEVINST_BUILD=$repo/$build

source scripts/pg-lib.sh
source scripts/kafka-lib.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/gevinst-demo.XXXXXX")
cleanup() {
    kafka_stop || true
    pg_stop || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== starting PostgreSQL 15 and the local Kafka (librdkafka mock cluster)"
pg_start
kafka_start --brokers 3 --topic ehr.appointments:3 --topic ehr.journal:3 --topic ehr.audit:3 \
    --topic gevinst.alerts:1

openssl rand -hex 32 >"$work/pseudonym.key"
cat >"$work/gevinstd.conf" <<CONF
[kafka]
brokers = $GEVINST_TEST_BROKERS

[postgres]
conninfo = $GEVINST_TEST_CONNINFO

[privacy]
pseudonym_key_file = $work/pseudonym.key

[goals]
file = $repo/config/sample-goals.json

[http]
listen =
CONF

echo "== feeding a sample stream: a municipality, 2023-01 to 2025-06 (tools/gen.c)"
"$build/tools/gevinst-gen" --seed 7 --brokers "$GEVINST_TEST_BROKERS" --appointments 30000 \
    --journal 15000 --audit 60000 2>&1 | sed 's/^/   /'

echo "== running gevinstd --exit-on-eof"
"$build/gevinstd" --config "$work/gevinstd.conf" --exit-on-eof 2>"$work/gevinstd.log" || {
    status=$?
    cat "$work/gevinstd.log" >&2
    echo "gevinstd exited with status $status" >&2
    exit "$status"
}
grep -E "store:|pipeline: (assigned|consuming|stopping|every)" "$work/gevinstd.log" | sed 's/^/   /'

q() { psql -X -q -P pager=off -P footer=off "$GEVINST_TEST_CONNINFO" -c "$1"; }
echo
echo "== no-show rate and self-booking share per service area, April-June 2025 (gevinst.kpi_monthly)"
q "SELECT unit_id, to_char(month_start, 'YYYY-MM') AS month,
          round(max(value) FILTER (WHERE kpi = 'no_show_rate')::numeric, 3) AS no_show_rate,
          round(max(value) FILTER (WHERE kpi = 'no_show_rate_self_booked')::numeric, 3) AS self_booked,
          round(max(value) FILTER (WHERE kpi = 'no_show_rate_staff_booked')::numeric, 3) AS staff_booked,
          round(max(value) FILTER (WHERE kpi = 'self_booking_share')::numeric, 3) AS self_booking_share
   FROM gevinst.kpi_monthly
   WHERE month_start >= date '2025-04-01'
     AND unit_id IN (SELECT unit_id FROM gevinst.unit
                     WHERE parent_id IN (SELECT unit_id FROM gevinst.unit WHERE parent_id IS NULL))
   GROUP BY 1, 2 ORDER BY 1, 2"
echo "== double documentation and time in the record per unit, first half of 2025"
q "SELECT unit_id,
          round((sum(numerator) FILTER (WHERE kpi = 'double_documentation_share')
                 / nullif(sum(denominator) FILTER (WHERE kpi = 'double_documentation_share'), 0))::numeric, 3) AS double_doc_share,
          round(sum(numerator) FILTER (WHERE kpi = 'double_documentation_minutes')::numeric, 0) AS double_doc_minutes,
          round((sum(numerator) FILTER (WHERE kpi = 'ehr_active_minutes')
                 / nullif(sum(denominator) FILTER (WHERE kpi = 'ehr_active_minutes'), 0))::numeric, 1) AS active_min_per_user_day
   FROM gevinst.kpi_monthly WHERE month_start >= date '2025-01-01'
   GROUP BY 1 HAVING sum(denominator) > 0 ORDER BY 1"
echo "== events received and rejected per topic (gevinst.intake_daily, gevinst.data_quality_daily)"
q "SELECT topic, outcome, sum(events) AS events FROM gevinst.intake_daily GROUP BY 1, 2 ORDER BY 1, 2"
echo "== units in events but not in the registry (gevinst.unknown_units)"
q "SELECT unit_id, events FROM gevinst.unknown_units ORDER BY 1"
echo "== benefit goals (config/sample-goals.json): center, target, latest closed period (gevinst.goal, goal_status)"
q "SELECT g.goal_id, g.kpi, g.direction AS dir, round(g.center::numeric, 3) AS center,
          round(g.target_value::numeric, 3) AS target, g.target_date,
          to_char(s.period_start, 'YYYY-MM') AS latest, round(s.actual::numeric, 3) AS actual,
          round(s.planned::numeric, 3) AS planned, s.behind_plan
   FROM gevinst.goal g
   LEFT JOIN LATERAL (SELECT * FROM gevinst.goal_status s WHERE s.goal_id = g.goal_id AND s.closed
                      ORDER BY period_start DESC LIMIT 1) s ON true
   ORDER BY 1"
echo "== realised benefit so far (gevinst.benefit_realized)"
q "SELECT goal_id, round(sum(avoided_units)::numeric, 1) AS avoided_units,
          round(sum(minutes_saved)::numeric, 0) AS minutes_saved, round(sum(nok_saved)::numeric, 0) AS nok_saved
   FROM gevinst.benefit_realized GROUP BY 1 ORDER BY 1"
echo "== goal alerts (gevinst.alert; a backfill of old periods is recorded as suppressed, not sent)"
q "SELECT a.goal_id, a.kind, a.state, to_char(a.period_start, 'YYYY-MM') AS period,
          round(a.actual::numeric, 3) AS actual, round(a.expected::numeric, 3) AS expected,
          coalesce(string_agg(DISTINCT d.channel || ':' || d.status, ', '), '-') AS delivery
   FROM gevinst.alert a LEFT JOIN gevinst.alert_delivery d USING (alert_id)
   WHERE a.goal_id IS NOT NULL
   GROUP BY a.alert_id, a.goal_id, a.kind, a.state, a.period_start, a.actual, a.expected
   ORDER BY a.goal_id, a.period_start"
echo "== data alerts to the data team, per unit (data.silence, data.rejections)"
q "SELECT unit_id, kind, count(*) FILTER (WHERE state = 'firing') AS firing,
          count(*) FILTER (WHERE state = 'resolved') AS resolved, max(period_start) AS latest
   FROM gevinst.alert WHERE goal_id IS NULL GROUP BY 1, 2 ORDER BY 1, 2"
echo "== done; everything started here has been stopped"
