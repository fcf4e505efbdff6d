#!/usr/bin/env bash
# Data that Kafka deleted before it was consumed is never skipped silently (issue 4): the
# daemon logs it as an error, counts it, records the partition and the offsets lost in
# gevinst.data_loss, and goes on with what is still there. The mock cluster keeps only the
# most recent ~5 MB of a partition, which is how the loss is made here.
source "$GEVINST_SRC/tests/integration/lib.sh"
source "$GEVINST_SRC/tests/support/kpi_it.sh"

GEVINSTD=$GEVINST_BUILD/gevinstd
it_start_pg
it_start_kafka loss.appt:1 loss.journal:1

it_step "first run: 100 messages consumed and committed"
kpi_config "$IT_TMP/loss.ini" loss loss.appt loss.journal
seq 1 100 | sed 's/^/not json /' >"$IT_TMP/first.txt"
kpi_produce loss.appt "$IT_TMP/first.txt"
it_run first timeout 120 "$GEVINSTD" --config "$IT_TMP/loss.ini" --exit-on-eof
it_assert_status 0 first "first run"
it_assert_eq 100 "$(kpi_psql loss "SELECT next_offset FROM gevinst.consumer_offset
                                    WHERE topic = 'loss.appt' AND partition = 0")" "stored offset"

it_step "while the daemon is away, 12 MB more: retention deletes the unread start"
python3 -c 'import sys
pad = "x" * 1000
for i in range(12000):
    sys.stdout.write("not json %d %s\n" % (i, pad))' >"$IT_TMP/flood.txt"
kpi_produce loss.appt "$IT_TMP/flood.txt"
low=$(timeout 60 kcat -b "$GEVINST_TEST_BROKERS" -C -t loss.appt -p 0 -o beginning -c 1 -q -f '%o\n')
[ "$low" -gt 100 ] || it_fail "the mock cluster kept offset $low: nothing was deleted to test with"
end=$((100 + 12000))

it_step "second run: the gap is recorded, the rest is consumed"
it_run second timeout 120 "$GEVINSTD" --config "$IT_TMP/loss.ini" --exit-on-eof
it_assert_status 0 second "second run"
it_assert_grep "$IT_TMP/second.err" "data lost: loss.appt \\[0\\] offsets 100\\.\\.$((low - 1))" \
    "the loss is logged as an error with the offsets"
it_assert_eq "loss.appt|0|100|$((low - 1))|$((low - 100))" \
    "$(kpi_psql loss "SELECT topic, partition, first_offset, last_offset, messages_lost
                      FROM gevinst.data_loss")" "gevinst.data_loss"
it_assert_eq "$end" "$(kpi_psql loss "SELECT next_offset FROM gevinst.consumer_offset
                                       WHERE topic = 'loss.appt' AND partition = 0")" \
    "stored offset at the end of the partition"
it_assert_eq "$((100 + end - low))" "$(kpi_psql loss "SELECT sum(events) FROM gevinst.intake_daily
                                                     WHERE topic = 'loss.appt'")" \
    "every message still in Kafka was counted, once"
it_pass
