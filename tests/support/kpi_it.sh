# shellcheck shell=bash
# Helpers shared by the KPI integration tests (tests/integration/kpi_*.sh); source it after
# tests/integration/lib.sh. Each scenario of a test gets its own database and topics in the
# one PostgreSQL and mock cluster the test starts, so scenarios cannot see each other.
#
#   kpi_config PATH DB APPT_TOPIC JOURNAL_TOPIC [INI_LINES...]   config for one scenario
#                                           (creates database DB unless it exists)
#   kpi_produce TOPIC FILE [KCAT_ARGS...]    one message per line; '#' and empty lines skipped
#   kpi_produce_keyed TOPIC FILE            lines KEY<TAB>VALUE
#   kpi_split_keyed STREAM DIR APPT_TOPIC JOURNAL_TOPIC   gevinst-gen --out keyed output ->
#                                           DIR/appointments.keyed, DIR/journal.keyed
#   kpi_dump DB OUT                         kpi_daily as CSV (header, ORDER BY 1,2,3)
#   kpi_assert_rows EXPECTED_CSV DB WHAT    kpi_daily of DB equals EXPECTED_CSV, else a diff
#   kpi_end_offsets TOPIC                   "PARTITION NEXT_OFFSET" lines of what is in TOPIC
#   kpi_wait_caught_up DB TIMEOUT TOPIC...  waits until DB's stored offsets reach the ends
#   kpi_model ARGS...                       tests/support/kpi_model.py

KPI_MODEL=$GEVINST_SRC/tests/support/kpi_model.py
KPI_DAILY_SQL='SELECT unit_id, kpi, day, numerator, denominator, value FROM gevinst.kpi_daily
               ORDER BY 1, 2, 3'

kpi_model() {
    python3 "$KPI_MODEL" "$@"
}

kpi_conninfo() {
    echo "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$1"
}

# kpi_psql DB SQL [PSQL_ARGS...]
kpi_psql() {
    local db=$1 sql=$2
    shift 2
    psql -XAtq -v ON_ERROR_STOP=1 -d "$(kpi_conninfo "$db")" "$@" -c "$sql"
}

# The mock cluster hands a group's partitions to a new member only when the old one's
# session has timed out (also after a clean leave; kcat behaves the same), so a restart of
# the same group would wait the default 45 s: a short session timeout keeps restarts quick.
kpi_config() {
    local path=$1 db=$2 appt=$3 journal=$4
    shift 4
    [ -n "$(it_psql "SELECT 1 FROM pg_database WHERE datname = '$db'")" ] ||
        it_psql "CREATE DATABASE $db" >/dev/null
    it_write_config "$path" \
        '[kafka]' "group_id = gevinst-$db" "topic.appointments = $appt" \
        "topic.journal = $journal" 'topic.audit =' \
        'rdkafka.session.timeout.ms = 6000' \
        '[postgres]' "conninfo = $(kpi_conninfo "$db")" "$@"
}

kpi_produce() {
    local topic=$1 file=$2
    shift 2
    LC_ALL=C grep -a -v -e '^#' -e '^$' "$file" |
        kcat -b "$GEVINST_TEST_BROKERS" -P -t "$topic" -X acks=all -X message.max.bytes=4000000 \
            "$@" || it_fail "producing $file to $topic failed"
}

kpi_produce_keyed() {
    kcat -b "$GEVINST_TEST_BROKERS" -P -t "$1" -K $'\t' -X acks=all \
        -X message.max.bytes=4000000 <"$2" || it_fail "producing $2 to $1 failed"
}

kpi_split_keyed() {
    local stream=$1 dir=$2
    mkdir -p "$dir"
    awk -F'\t' -v OFS='\t' -v a="$dir/appointments.keyed" -v j="$dir/journal.keyed" '
        $1 == "ehr.appointments" { print $2, $3 > a; next }
        $1 == "ehr.journal" { print $2, $3 > j; next }
        { print "kpi_split_keyed: unexpected topic " $1 > "/dev/stderr"; exit 1 }' "$stream"
}

kpi_dump() {
    psql -X -q -v ON_ERROR_STOP=1 --csv -d "$(kpi_conninfo "$1")" -c "$KPI_DAILY_SQL" >"$2"
}

kpi_assert_rows() {
    local expected=$1 db=$2 what=$3 actual
    actual=$IT_TMP/actual.$db.$RANDOM.csv
    kpi_dump "$db" "$actual"
    kpi_model compare --label "$what" "$expected" "$actual" ||
        it_fail "$what: gevinst.kpi_daily differs from the expected rows (diff above)"
}

kpi_end_offsets() {
    timeout 60 kcat -b "$GEVINST_TEST_BROKERS" -C -t "$1" -o beginning -e -q -f '%p %o\n' |
        awk '{ if (!($1 in n) || $2 + 1 > n[$1]) n[$1] = $2 + 1 } END { for (p in n) print p, n[p] }' |
        sort -n
}

# kpi_caught_up DB TOPIC...: true when the stored next offset of every partition holding
# messages equals the end of that partition.
kpi_caught_up() {
    local db=$1 topic p end stored
    shift
    for topic in "$@"; do
        while read -r p end; do
            stored=$(kpi_psql "$db" "SELECT next_offset FROM gevinst.consumer_offset
                                    WHERE topic = '$topic' AND partition = $p" 2>/dev/null) ||
                return 1
            [ "$stored" = "$end" ] || return 1
        done < <(kpi_end_offsets "$topic")
    done
}

kpi_wait_caught_up() {
    local db=$1 timeout=$2
    shift 2
    it_wait_for "kpi_caught_up $db $*" "$timeout"
}
