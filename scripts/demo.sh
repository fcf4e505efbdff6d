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

[http]
listen =
CONF

echo "== feeding sample events"
if [ -x "$build/tools/gevinst-gen" ]; then
    "$build/tools/gevinst-gen" --seed 7 --brokers "$GEVINST_TEST_BROKERS" --appointments 20000 \
        --journal 20000 --audit 20000
else
    # Before the generator existed: the contract's own examples.
    grep -v '^\[' ../shared/contract/examples/valid.jsonl 2>/dev/null |
        kcat -P -b "$GEVINST_TEST_BROKERS" -t ehr.appointments
fi

echo "== running gevinstd --exit-on-eof"
"$build/gevinstd" --config "$work/gevinstd.conf" --exit-on-eof 2>"$work/gevinstd.log" || {
    status=$?
    cat "$work/gevinstd.log" >&2
    echo "gevinstd exited with status $status" >&2
    exit "$status"
}
grep -E "store:|pipeline: (assigned|consuming|stopping|every)" "$work/gevinstd.log" | sed 's/^/   /'

q() { psql -X -q -P pager=off "$GEVINST_TEST_CONNINFO" -c "$1"; }
echo "== schema migrations applied"
q "SELECT version, name, applied_at FROM gevinst.schema_migration ORDER BY version"
echo "== events received per topic and outcome (gevinst.intake_daily)"
q "SELECT topic, outcome, sum(events) AS events FROM gevinst.intake_daily GROUP BY 1, 2 ORDER BY 1, 2"
echo "== rejections by reason (gevinst.data_quality_daily)"
q "SELECT topic, reason, sum(events) AS events FROM gevinst.data_quality_daily GROUP BY 1, 2 ORDER BY 1, 2"
echo "== stored consumer positions"
q "SELECT topic, partition, next_offset FROM gevinst.consumer_offset ORDER BY 1, 2"
echo "== done; everything started here has been stopped"
