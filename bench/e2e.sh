#!/usr/bin/env bash
# End-to-end benchmark of gevinstd (issues 4 and 5): Kafka -> gevinstd -> PostgreSQL, against
# kcat reading the same topic as the ceiling. Results and method: bench/README.md, "End to end".
#
#   bench/e2e.sh [options]
#
#   --kind appointments|journal  event stream to measure (default appointments)
#   --events N            events to produce, bad ones included (default 1000000); the count
#                         gevinst-gen reports is the one used
#   --runs R              timed runs of gevinstd and of kcat, medians reported (default 3)
#   --durable             PostgreSQL with fsync, synchronous_commit and full_page_writes on
#                         (as in production); default: pg-lib.sh's fsync off
#   --partitions P        partitions of the topic (default 16)
#   --compression C       producer compression.codec: zstd (default), lz4, none, ...
#   --batch-events N      pipeline.batch_events for gevinstd (default: the daemon's default)
#   --batch-ms N          pipeline.batch_ms (default: the daemon's default)
#   --set SECTION.KEY=V   any other gevinstd setting, e.g. pipeline.state_cache_entries=1000000
#                         (repeatable; kafka.*, postgres.*, privacy.*, http.*, log.* are the
#                         benchmark's own)
#   --stream              instead of timing pre-produced events: produce at --rate while the
#                         daemon runs (no --exit-on-eof), poll its RSS, stop it with SIGTERM
#                         once every event is counted. Memory must stay flat.
#   --rate R              events/s of the generator with --stream (default 40000)
#   --pg-conf 'KEY = V'   a line for the throwaway server's postgresql.conf (repeatable), e.g.
#                         'huge_pages = on' (then reserve them first: sysctl vm.nr_hugepages)
#   --pg-env NAME=VALUE   an environment variable for the throwaway server (repeatable), e.g.
#                         GLIBC_TUNABLES=glibc.malloc.trim_threshold=1073741824
#   --env NAME=VALUE      an environment variable for gevinstd (repeatable), e.g.
#                         GLIBC_TUNABLES=glibc.malloc.hugetlb=1
#   --pg-stats            load pg_stat_statements and print the top statements of the last run
#   --perf                perf record -a -g around the last gevinstd run (perf.data in --out)
#   --quiet L             before each timed run wait (at most 10 min) until the 1-minute load
#                         average is below L (default 1.5; 0: do not wait); the machine is shared
#   --out DIR             keep logs and results there (default: a new dir under /tmp)
#   --build DIR           build directory (default build-bench, then build)
#   --compare DIR         another build directory (say, of an older commit): its gevinstd runs
#                         R times too, interleaved with the first (A B A B ...) on the same
#                         topic and server, and medians are reported for each; on a shared
#                         host only interleaved runs compare two builds fairly
#
# Needs: a built tree (gevinstd, tools/gevinst-gen, tools/gevinst-mock-kafka), PostgreSQL 15,
# kcat, /usr/bin/time. Run as root like the tests. Leaves nothing running; exit 0 when every
# produced event was counted and the KPI denominators match the generator's truth, else 1.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kind=appointments events=1000000 runs=3 durable=0 partitions=16 compression=zstd
sets=() pg_conf=() pg_env=() gd_env=() stream=0 rate=40000 pg_stats=0 perf=0 quiet=1.5 out= build= compare=

usage() {
    sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
    --kind) kind=${2:?}; shift 2 ;;
    --events) events=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --durable) durable=1; shift ;;
    --partitions) partitions=${2:?}; shift 2 ;;
    --compression) compression=${2:?}; shift 2 ;;
    --batch-events) sets+=("pipeline.batch_events=${2:?}"); shift 2 ;;
    --batch-ms) sets+=("pipeline.batch_ms=${2:?}"); shift 2 ;;
    --set) sets+=("${2:?}"); shift 2 ;;
    --stream) stream=1; shift ;;
    --rate) rate=${2:?}; shift 2 ;;
    --pg-conf) pg_conf+=("${2:?}"); shift 2 ;;
    --pg-env) pg_env+=("${2:?}"); shift 2 ;;
    --env) gd_env+=("${2:?}"); shift 2 ;;
    --pg-stats) pg_stats=1; shift ;;
    --perf) perf=1; shift ;;
    --quiet) quiet=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --build) build=${2:?}; shift 2 ;;
    --compare) compare=${2:?}; shift 2 ;;
    -h | --help) usage ;;
    *) echo "e2e: unknown option $1" >&2; usage ;;
    esac
done
case "$kind" in
appointments) topic=ehr.appointments ;;
journal) topic=ehr.journal ;;
*) echo "e2e: --kind appointments|journal" >&2; exit 2 ;;
esac

if [ -z "$build" ]; then
    build=$repo/build-bench
    [ -x "$build/gevinstd" ] || build=$repo/build
fi
gevinstd=$build/gevinstd gen=$build/tools/gevinst-gen
gevinstd_b=${compare:+$compare/gevinstd}
for f in "$gevinstd" "$gen" "$build/tools/gevinst-mock-kafka" ${gevinstd_b:+"$gevinstd_b"}; do
    [ -x "$f" ] || { echo "e2e: $f missing; build first (bench/README.md)" >&2; exit 1; }
done
for c in kcat /usr/bin/time psql; do
    command -v "$c" >/dev/null || { echo "e2e: $c not found" >&2; exit 1; }
done
# A stale binary measures old code: say so.
newest_src=$(find "$repo/src" "$repo/include" "$repo/sql" -newer "$gevinstd" -type f 2>/dev/null | head -1)
[ -z "$newest_src" ] || echo "e2e: warning: $gevinstd is older than $newest_src: rebuild" >&2
[ -n "$out" ] || out=$(mktemp -d /tmp/gevinst-e2e.XXXXXX)
mkdir -p "$out" && out=$(cd "$out" && pwd)

# shellcheck source=scripts/pg-lib.sh
source "$repo/scripts/pg-lib.sh"
# shellcheck source=scripts/kafka-lib.sh
# kafka_start reads GEVINST_BUILD when it runs, not when the file is sourced.
export GEVINST_BUILD=$build
source "$repo/scripts/kafka-lib.sh"

bg_pids=()
# shellcheck disable=SC2317  # called from the traps
cleanup() {
    local p
    for p in "${bg_pids[@]}"; do
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    kafka_stop
    # The server's log (slow statements with --pg-conf 'log_min_duration_statement = 50').
    [ -n "${GEVINST_TEST_PGLOG:-}" ] && [ -n "${out:-}" ] && cp "$GEVINST_TEST_PGLOG" "$out/postgres.log" 2>/dev/null
    pg_stop
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '%s\n' "$*" | tee -a "$out/summary.txt"; }
now() { echo "$EPOCHREALTIME"; }
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# CPU seconds (user + system) a process has used so far; empty once it is gone.
hz=$(getconf CLK_TCK)
cpu_s() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk -v hz="$hz" '{printf "%.2f", ($12 + $13) / hz}'; }
load1() { cut -d' ' -f1 /proc/loadavg; }
wait_quiet() {
    local i
    [ "$quiet" = 0 ] && return 0
    for ((i = 0; i < 600; i += 5)); do
        awk -v l="$(load1)" -v q="$quiet" 'BEGIN {exit !(l < q)}' && return 0
        sleep 5
    done
    say "warning: load average still $(load1) after 10 min; measuring anyway"
}
# The CPU of the whole cluster: postmaster with its reaped children, and each live child.
pg_cpu_snapshot() {
    local pm c v
    pm=$(head -1 "$GEVINST_TEST_PGDATA/postmaster.pid")
    sed 's/^.*) //' "/proc/$pm/stat" | awk -v hz="$hz" '{printf "pm %.2f\n", ($12 + $13 + $14 + $15) / hz}'
    for c in $(pgrep -P "$pm"); do
        v=$(cpu_s "$c") && [ -n "$v" ] && echo "$c $v"
    done
}
# CPU seconds the cluster used between two snapshots. A child gone by the second is in the
# postmaster's reaped time with all it ever used, so what it had at the first is taken off.
pg_cpu_between() { # snapshot1 snapshot2
    awk 'NR == FNR {a[$1] = $2; next} {b[$1] = $2}
         END {d = b["pm"] - a["pm"]; for (p in b) if (p != "pm") d += b[p] - (p in a ? a[p] : 0)
              for (p in a) if (p != "pm" && !(p in b)) d -= a[p]; printf "%.2f", d}' "$1" "$2"
}
# Follows the daemon's PostgreSQL backend (application_name gevinstd) and writes its CPU
# seconds to FILE until it ends: the server's share of the work. Bash builtins only, twice a
# second: a poller forking sed and awk every 0.2 s took ~10 % of the 2 CPUs (perf).
watch_backend() { # file
    local pid= i line fd f
    for ((i = 0; i < 300; i++)); do
        pid=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'gevinstd' LIMIT 1" 2>/dev/null)
        [ -n "$pid" ] && break
        sleep 0.05
    done
    [ -n "$pid" ] || return 0
    exec {fd}<> <(:) # read -t on it: a sleep without a fork
    local sched=(0 0)
    while read -r line 2>/dev/null <"/proc/$pid/stat"; do
        read -r -a f <<<"${line##*) }"
        # schedstat: ns on a CPU, ns runnable but waiting for one, timeslices.
        read -r -a sched 2>/dev/null <"/proc/$pid/schedstat" || true
        echo "$((f[11] + f[12])) ${f[11]} ${f[12]} ${f[7]} ${sched[1]:-0}" >"$1.ticks"
        read -r -t 0.5 -u "$fd" _
    done
    exec {fd}>&-
    # CPU seconds; then user and system seconds, minor page faults and seconds spent waiting
    # for a CPU on a second line.
    [ -s "$1.ticks" ] && awk -v hz="$hz" '{printf "%.2f\n%.2f %.2f %d %.2f\n", $1 / hz, $2 / hz, $3 / hz, $4, $5 / 1e9}' \
        "$1.ticks" >"$1"
}

# ---- servers --------------------------------------------------------------------------------

pg_start || exit 1
# The throwaway server is tuned as a small production server would be; --durable turns on
# what pg-lib.sh turns off for speed.
{
    echo "# bench/e2e.sh"
    echo "shared_buffers = 1GB"
    echo "max_wal_size = 4GB"
    echo "checkpoint_timeout = 15min"
    echo "max_connections = 20"
    [ "$pg_stats" = 1 ] && echo "shared_preload_libraries = 'pg_stat_statements'"
    [ "$pg_stats" = 1 ] && echo "pg_stat_statements.track = all"
    if [ "$durable" = 1 ]; then
        echo "fsync = on"
        echo "synchronous_commit = on"
        echo "full_page_writes = on"
    fi
    for c in "${pg_conf[@]}"; do echo "$c"; done
} | runuser -u postgres -- tee -a "$GEVINST_TEST_PGDATA/postgresql.conf" >/dev/null
env "${pg_env[@]}" "$GEVINST_TEST_PGCTL" restart || { cat "$GEVINST_TEST_PGLOG" >&2; exit 1; }

kafka_start --brokers 1 --topic "$topic:$partitions" || exit 1

openssl rand -hex 32 >"$out/pseudonym.key"
chmod 600 "$out/pseudonym.key"
write_config() { # group_id log_level
    {
        echo "[kafka]"
        echo "brokers = $GEVINST_TEST_BROKERS"
        echo "group_id = $1"
        if [ "$kind" = appointments ]; then
            echo "topic.journal ="
        else
            echo "topic.appointments ="
        fi
        echo "topic.audit ="
        echo "[postgres]"
        echo "conninfo = $GEVINST_TEST_CONNINFO"
        local kv
        for kv in "${sets[@]}"; do
            echo "[${kv%%.*}]"
            kv=${kv#*.}
            echo "${kv%%=*} = ${kv#*=}"
        done
        echo "[privacy]"
        echo "pseudonym_key_file = $out/pseudonym.key"
        echo "[http]"
        echo "listen ="
        echo "[log]"
        echo "level = $2"
    } >"$out/gevinstd.conf"
}

fresh_db() {
    psql -XAtq -d postgres -c 'DROP DATABASE IF EXISTS gevinst_test' \
        -c 'CREATE DATABASE gevinst_test' || exit 1
    [ "$pg_stats" = 1 ] && q 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
    psql -XAtq -d postgres -c 'CHECKPOINT' || exit 1
}

# ---- the generator -------------------------------------------------------------------------

# Events per appointment or journal entry, bad messages included (gevinst-gen, seed 1).
if [ "$kind" = appointments ]; then
    n_items=$(awk -v n="$events" 'BEGIN {printf "%d", n / 2.2633 + 0.5}')
    gen_args=(--appointments "$n_items" --journal 0 --audit 0)
else
    n_items=$(awk -v n="$events" 'BEGIN {printf "%d", n / 1.0538 + 0.5}')
    gen_args=(--appointments 0 --journal "$n_items" --audit 0)
fi
gen_args+=(--truth "$out/truth.jsonl")
kafka_args=(--brokers "$GEVINST_TEST_BROKERS" --kafka-prop linger.ms=20
    --kafka-prop compression.codec="$compression")

# Events and messages gevinst-gen reports for the topic; fails unless all were delivered
# (when it produced them itself).
gen_counts() { # stderr-file
    awk -v t="$topic" '$2 == t {
        for (i = 3; i < NF; i++) { if ($(i + 1) == "messages") m = $i; if ($(i + 1) == "events") e = $i
                                   if ($(i + 1) == "failed") f = $i }
    } END { if (e == "" || (f != "" && f != 0)) exit 1; print e, m }' "$1"
}

# gevinst-gen at --rate into kcat -P: gevinst-gen's own producer does not hold its --rate
# (rd_kafka_poll() returns as soon as a delivery report is served, so the throttle never
# sleeps: 31,800 events/s were produced at --rate 15000), its stdout does.
produce_at_rate() {
    "$gen" "${gen_args[@]}" --out keyed --rate "$rate" 2>"$out/gen.log" | cut -f2- |
        kcat -P -b "$GEVINST_TEST_BROKERS" -t "$topic" -K $'\t' -X linger.ms=20 \
            -X compression.codec="$compression" -X message.max.bytes=4000000 2>"$out/kcat-produce.log"
    echo "${PIPESTATUS[*]}" >"$out/produce.status"
}

# ---- checks --------------------------------------------------------------------------------

# Every produced event counted once; KPI denominators as the generator intended.
check_counts() { # expected_events
    local counted ok=0 exp got k
    counted=$(q "SELECT coalesce(sum(events), 0) FROM gevinst.intake_daily WHERE topic = '$topic'")
    if [ "$counted" != "$1" ]; then
        say "FAIL: intake_daily counts $counted events, the generator produced $1"
        ok=1
    fi
    if [ "$(q 'SELECT count(*) FROM gevinst.offset_gap')" != 0 ]; then
        say "FAIL: gevinst.data_loss is not empty: retention deleted events"
        ok=1
    fi
    # Truth: final state of each appointment / entry. self_booking_share counts every
    # appointment not entered in error, no_show_rate those that took place or were missed;
    # double_documentation_share every journal entry not entered in error.
    if [ "$kind" = appointments ]; then
        exp="self_booking_share $(grep '"kind":"appointment"' "$out/truth.jsonl" |
            grep -vc '"status":"entered-in-error"')
no_show_rate $(grep '"kind":"appointment"' "$out/truth.jsonl" |
            grep -Ec '"status":"(arrived|fulfilled|noshow)"')"
    else
        exp="double_documentation_share $(grep '"kind":"journal"' "$out/truth.jsonl" |
            grep -c '"entered_in_error":false')"
    fi
    while read -r k want; do
        got=$(q "SELECT coalesce(sum(denominator), 0) FROM gevinst.kpi_daily WHERE kpi = '$k'")
        if [ "$got" != "$want" ]; then
            say "FAIL: kpi_daily $k denominators sum to $got, the generator's truth says $want"
            ok=1
        fi
    done <<<"$exp"
    return $ok
}

# Seconds between the first and the last commit, the messages committed after the first, and
# the seconds spent in those commits (batch_commit: flushing to PostgreSQL and COMMIT)
# (debug log: "... DEBUG pipeline: committed N events ...": N counts Kafka messages, a batch
# message being one; UTC timestamps in ms).
# Seconds from the consumer group's assignment to the daemon's last log line
# (its exit): the run without the group join, which is the broker's fixed
# initial rebalance delay (3 s in the mock, group.initial.rebalance.delay.ms on
# a real broker) and paid by any group member, kcat -G included.
assigned_span() { # log
    awk 'function sec(ts,  hms) { split(substr(ts, 12, 12), hms, ":")
                                  return hms[1] * 3600 + hms[2] * 60 + hms[3] }
        /pipeline: assigned/ && a == "" { a = sec($1) }
        { last = sec($1) }
        END { if (a == "") print 0; else { if (last < a) last += 86400; printf "%.3f", last - a } }' "$1"
}

commit_span() { # log
    awk '/DEBUG pipeline: committed [0-9]+ events/ {
        split(substr($1, 12, 12), hms, ":"); t = hms[1] * 3600 + hms[2] * 60 + hms[3]
        if (n && t < last) t += 86400
        for (i = 1; i < NF; i++) { if ($i == "committed") e = $(i + 1); if ($i == "in") ms = $(i + 1) }
        if (!n++) first = t; else { after += e; in_commit += ms }
        last = t
    } END { if (n > 1) printf "%.3f %d %.3f\n", last - first, after, in_commit / 1000; else print "0 0 0" }' "$1"
}

# KPI totals (sum of num/den per KPI): identical for identical input, whatever the batching,
# so two builds can be compared on them.
kpi_totals() {
    q "SELECT string_agg(kpi || '=' || n || '/' || d, ' ' ORDER BY kpi)
       FROM (SELECT kpi, sum(num) n, sum(den) d FROM gevinst.kpi_bucket GROUP BY kpi) x"
}

state_sizes() {
    local tab=appt_state
    [ "$kind" = journal ] && tab=journal_entry
    q "VACUUM ANALYZE gevinst.$tab" >/dev/null
    q "SELECT '$tab', count(*), pg_total_relation_size('gevinst.$tab'),
              pg_relation_size('gevinst.$tab'),
              round(pg_total_relation_size('gevinst.$tab')::numeric / greatest(count(*), 1), 1)
       FROM gevinst.$tab" | tr '|' ' '
}

# ---- produce -------------------------------------------------------------------------------

say "e2e: kind=$kind events~$events runs=$runs durable=$durable partitions=$partitions" \
    "compression=$compression settings=${sets[*]:-defaults} pg_conf=[${pg_conf[*]:-}] pg_env=[${pg_env[*]:-}] env=[${gd_env[*]:-}]" \
    "stream=$stream out=$out"
say "e2e: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo)," \
    "$(uname -r), gevinstd $("$gevinstd" --version 2>&1 | head -1) built $(date -u -r "$gevinstd" \
    +%FT%TZ), git $(git -C "$repo" rev-parse --short HEAD)"
if [ -n "$compare" ]; then
    src_b=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$compare/CMakeCache.txt" 2>/dev/null)
    say "e2e: A = $gevinstd, B = $gevinstd_b built $(date -u -r "$gevinstd_b" +%FT%TZ) from" \
        "${src_b:-?} (git $(git -C "${src_b:-/nonexistent}" rev-parse --short HEAD 2>/dev/null ||
            echo ?)); runs alternate A B A B ..."
fi

if [ "$stream" = 1 ]; then
    # ---- memory while the stream grows ---------------------------------------------------
    write_config bench-stream debug
    fresh_db
    env "${gd_env[@]}" "$gevinstd" --config "$out/gevinstd.conf" 2>"$out/gevinstd-stream.log" &
    dpid=$!
    bg_pids+=("$dpid")
    produce_at_rate &
    gpid=$!
    bg_pids+=("$gpid")
    t0=$(now)
    : >"$out/rss.tsv"
    produced= last_counted=-1 stalled=0
    while kafka__alive "$dpid"; do
        sleep 1
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$dpid/status" 2>/dev/null)
        hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$dpid/status" 2>/dev/null)
        counted=$(q "SELECT coalesce(sum(events), 0) FROM gevinst.intake_daily" 2>/dev/null || echo 0)
        printf '%.1f\t%s\t%s\t%s\n' "$(awk -v a="$t0" -v b="$(now)" 'BEGIN {print b - a}')" \
            "$counted" "$rss" "$hwm" >>"$out/rss.tsv"
        if [ -z "$produced" ] && ! kafka__alive "$gpid"; then
            wait "$gpid"
            if [ "$(cat "$out/produce.status")" != "0 0 0" ] ||
                ! read -r produced messages < <(gen_counts "$out/gen.log"); then
                say "FAIL: producing failed: $(cat "$out/produce.status")"
                cat "$out/gen.log" "$out/kcat-produce.log" >&2
                exit 1
            fi
        fi
        [ -n "$produced" ] && [ "$counted" -ge "$produced" ] && break
        if [ "$counted" = "$last_counted" ]; then
            stalled=$((stalled + 1))
            [ $stalled -ge 60 ] && { say "FAIL: no progress for 60 s"; break; }
        else
            stalled=0
        fi
        last_counted=$counted
    done
    kill -TERM "$dpid"
    wait "$dpid"
    status=$?
    say "e2e: stream: $produced events produced at --rate $rate, gevinstd exit status $status"
    # RSS (kB) when the count first passed each million, and the peak.
    awk -F'\t' 'BEGIN {m = 1000000} $2 >= m {while ($2 >= m) {printf "rss_at_events %d %s %s\n", m, $3, $4; m += 1000000}}
        $4 > hwm {hwm = $4} $3 != "" {rss = $3; n = $2}
        END {printf "rss_final_kb %s at %s events\nrss_peak_kb %s\n", rss, n, hwm}' "$out/rss.tsv" |
        tee -a "$out/summary.txt"
    say "kpis $(kpi_totals)"
    read -r tab rows total heap per_row < <(state_sizes)
    say "state: $tab rows=$rows total_bytes=$total heap_bytes=$heap bytes_per_row=$per_row" \
        "MB_per_million_rows=$(awk -v t="$total" -v r="$rows" 'BEGIN {printf "%.1f", t / r}')" \
        "MB_per_million_events=$(awk -v t="$total" -v e="$produced" 'BEGIN {printf "%.1f", t / e}')"
    if check_counts "$produced"; then
        say "check: ok ($produced events counted; KPI denominators match the truth)"
        exit 0
    fi
    exit 1
fi

# ---- throughput: pre-produced topic ------------------------------------------------------
"$gen" "${gen_args[@]}" "${kafka_args[@]}" >/dev/null 2>"$out/gen.log"
read -r produced messages < <(gen_counts "$out/gen.log") ||
    { say "FAIL: gevinst-gen did not deliver everything"; cat "$out/gen.log" >&2; exit 1; }
say "e2e: produced $produced events in $messages messages"

# Retention: every message still there, from offset 0 of each partition.
kcat -C -b "$GEVINST_TEST_BROKERS" -t "$topic" -e -o beginning -q -f '%p %o\n' >"$out/offsets.txt"
read -r have low < <(awk '{n++; if (!($1 in lo) || $2 < lo[$1]) lo[$1] = $2}
    END {m = 0; for (p in lo) if (lo[p] > m) m = lo[p]; print n, m}' "$out/offsets.txt")
if [ "$have" != "$messages" ] || [ "$low" != 0 ]; then
    say "FAIL: the topic holds $have of $messages messages (highest low offset $low):" \
        "more partitions or compression needed"
    exit 1
fi
say "e2e: retention ok: all $messages messages in the topic, every partition from offset 0"

: >"$out/runs.tsv"
fail=0
iterations=$runs
[ -n "$compare" ] && iterations=$((2 * runs))
for ((r = 1; r <= iterations; r++)); do
    bin=$gevinstd label=A
    if [ -n "$compare" ] && [ $((r % 2)) = 0 ]; then
        bin=$gevinstd_b label=B
    fi
    # The ceiling: kcat reading the same topic from the start, payloads to /dev/null.
    wait_quiet
    t0=$(now)
    /usr/bin/time -f '%U %S' -o "$out/kcat-time-$r.txt" \
        kcat -C -b "$GEVINST_TEST_BROKERS" -t "$topic" -e -o beginning -q >/dev/null
    t1=$(now)
    kcat_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
    kcat_cpu=$(awk '{printf "%.2f", $1 + $2}' "$out/kcat-time-$r.txt")
    # The same as a member of a new consumer group, as gevinstd consumes: it
    # pays the same group join, so its start to exit compares with gevinstd's.
    wait_quiet
    t0=$(now)
    kcat -G "kcat-$r-$$" -b "$GEVINST_TEST_BROKERS" -X auto.offset.reset=earliest -e -q \
        "$topic" >/dev/null
    t1=$(now)
    kcatg_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')

    fresh_db
    write_config "bench-$r" debug
    if [ "$perf" = 1 ] && [ "$r" = "$iterations" ]; then
        perf record -q -a -g -F 499 -o "$out/perf.data" 2>"$out/perf.log" &
        ppid=$!
        bg_pids+=("$ppid")
        sleep 0.5
    fi
    [ "$pg_stats" = 1 ] && q 'SELECT pg_stat_statements_reset()' >/dev/null
    q "SELECT pg_stat_reset_shared('wal')" >/dev/null
    wait_quiet
    load_before=$(load1)
    mock_cpu0=$(cpu_s "$GEVINST_TEST_KAFKA_PID")
    echo 0 >"$out/pgcpu-$r.txt"
    pg_cpu_snapshot >"$out/pgcpu0-$r.txt"
    watch_backend "$out/pgcpu-$r.txt" &
    wpid=$!
    t0=$(now)
    env "${gd_env[@]}" /usr/bin/time -f '%e %M %U %S %R' -o "$out/time-$r.txt" \
        "$bin" --config "$out/gevinstd.conf" --exit-on-eof 2>"$out/gevinstd-$r.log"
    status=$?
    t1=$(now)
    wait "$wpid"
    sleep 0.3 # the postmaster reaps the backend
    pg_cpu_snapshot >"$out/pgcpu1-$r.txt"
    pg_all=$(pg_cpu_between "$out/pgcpu0-$r.txt" "$out/pgcpu1-$r.txt")
    mock_cpu=$(awk -v a="$mock_cpu0" -v b="$(cpu_s "$GEVINST_TEST_KAFKA_PID")" 'BEGIN {printf "%.2f", b - a}')
    pg_cpu=$(head -1 "$out/pgcpu-$r.txt")
    read -r pg_user pg_sys pg_minflt pg_runq < <(sed -n 2p "$out/pgcpu-$r.txt")
    load_after=$(load1)
    if [ "$perf" = 1 ] && [ "$r" = "$iterations" ]; then
        kill -INT "$ppid"
        wait "$ppid"
    fi
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
    read -r _ rss_kb user_s sys_s minflt <"$out/time-$r.txt"
    read -r span after in_commit < <(commit_span "$out/gevinstd-$r.log")
    from_assign=$(assigned_span "$out/gevinstd-$r.log")
    assigned=$(grep -m1 'pipeline: assigned' "$out/gevinstd-$r.log" | cut -c12-23)
    started=$(head -1 "$out/gevinstd-$r.log" | cut -c12-23)
    if [ "$status" != 0 ]; then
        say "FAIL: run $r: gevinstd exit status $status (log $out/gevinstd-$r.log)"
        fail=1
    fi
    check_counts "$produced" || fail=1
    say "run $r: kpis $(kpi_totals)"
    say "run $r: WAL $(q "SELECT round(wal_bytes / $produced) || ' bytes/event, ' ||
        round(wal_fpi::numeric / $produced, 3) || ' full-page images/event'  FROM pg_stat_wal")"
    rate_wall=$(awk -v e="$produced" -v s="$wall" 'BEGIN {printf "%.0f", e / s}')
    # Events per message as produced: the log counts messages.
    rate_commit=$(awk -v m="$after" -v s="$span" -v e="$produced" -v n="$messages" \
        'BEGIN {printf "%.0f", (s > 0) ? m * e / n / s : 0}')
    rate_kcat=$(awk -v e="$produced" -v s="$kcat_s" 'BEGIN {printf "%.0f", e / s}')
    rate_kcatg=$(awk -v e="$produced" -v s="$kcatg_s" 'BEGIN {printf "%.0f", e / s}')
    rate_assign=$(awk -v e="$produced" -v s="$from_assign" 'BEGIN {printf "%.0f", (s > 0) ? e / s : 0}')
    batches=$(grep -c 'DEBUG pipeline: committed' "$out/gevinstd-$r.log")
    d_cpu=$(awk -v u="$user_s" -v s="$sys_s" 'BEGIN {printf "%.2f", u + s}')
    # CPU microseconds per event: what 2 cores can sustain does not depend on the load.
    us_ev() { awk -v c="$1" -v e="$produced" 'BEGIN {printf "%.1f", c * 1e6 / e}'; }
    f_d=$(awk -v f="${minflt:-0}" -v e="$produced" 'BEGIN {printf "%.1f", f * 1000 / e}')
    f_pg=$(awk -v f="${pg_minflt:-0}" -v e="$produced" 'BEGIN {printf "%.1f", f * 1000 / e}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$wall" \
        "$rate_wall" "$span" "$rate_commit" "$kcat_s" "$rate_kcat" "$rss_kb" "$(us_ev "$d_cpu")" \
        "$(us_ev "$pg_cpu")" "$(us_ev "$mock_cpu")" "$(us_ev "$kcat_cpu")" "$load_before" \
        "$(us_ev "$pg_all")" "$rate_assign" "$rate_kcatg" "$label" "$f_d" "$f_pg" >>"$out/runs.tsv"
    say "run $r${compare:+ ($label)}: gevinstd ${wall} s wall = $rate_wall ev/s (log start $started, assigned" \
        "$assigned); assigned->exit ${from_assign} s = $rate_assign ev/s;" \
        "first->last commit ${span} s = $rate_commit ev/s ($batches batches, $(awk \
        -v c="$in_commit" -v s="$span" 'BEGIN {printf "%.0f", (s > 0) ? 100 * c / s : 0}') % of it" \
        "committing);" \
        "peak RSS $((rss_kb / 1024)) MB; CPU us/event: gevinstd $(us_ev "$d_cpu")," \
        "PostgreSQL backend $(us_ev "$pg_cpu") (whole server $(us_ev "$pg_all")), mock broker" \
        "$(us_ev "$mock_cpu") | kcat ${kcat_s} s" \
        "= $rate_kcat ev/s, CPU $(us_ev "$kcat_cpu") us/event; kcat -G ${kcatg_s} s =" \
        "$rate_kcatg ev/s | load $load_before -> $load_after"
    # Page faults cost far more in some VMs than on bare metal: worth seeing beside the CPU.
    say "run $r${compare:+ ($label)}: user + system s: gevinstd $user_s + $sys_s, PostgreSQL backend" \
        "${pg_user:-?} + ${pg_sys:-?} (and ${pg_runq:-?} s runnable, waiting for a CPU);" \
        "minor page faults per 1000 events: gevinstd $f_d, backend $f_pg"
done

# Medians of the runs of one build (label A or B), or of all.
summary() { # label ("" for all)
    local lab=$1
    col() { awk -F'\t' -v c="$1" -v l="$lab" 'l == "" || $17 == l {print $c}' "$out/runs.tsv" | median; }
    local m_wall m_commit m_kcat m_rss m_assign m_kcatg name=${lab:+ $lab}
    m_wall=$(col 3) m_commit=$(col 5) m_kcat=$(col 7) m_rss=$(col 8) m_assign=$(col 15)
    m_kcatg=$(col 16)
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
    say "median$name: gevinstd $m_wall ev/s (process start to exit), $m_assign ev/s (assignment" \
        "to exit), $m_commit ev/s (first to last commit); kcat $m_kcat ev/s, as a group member" \
        "(kcat -G, start to exit) $m_kcatg ev/s; ratios: start to exit vs kcat -G" \
        "$(ratio "$m_wall" "$m_kcatg"), assignment to exit vs kcat $(ratio "$m_assign" "$m_kcat")," \
        "start to exit vs kcat $(ratio "$m_wall" "$m_kcat"); peak RSS" \
        "$(awk -v k="$m_rss" 'BEGIN {printf "%.0f", k / 1024}') MB"
    say "median$name CPU us/event: gevinstd $(col 9), PostgreSQL backend $(col 10) (whole" \
        "server $(col 14)), mock broker $(col 11) (during gevinstd); kcat $(col 12); minor" \
        "page faults per 1000 events: gevinstd $(col 18), backend $(col 19)"
}
if [ -n "$compare" ]; then
    summary A
    summary B
else
    summary ""
fi
read -r tab rows total heap per_row < <(state_sizes)
say "state: $tab rows=$rows total_bytes=$total heap_bytes=$heap bytes_per_row=$per_row" \
    "MB_per_million_rows=$(awk -v t="$total" -v r="$rows" 'BEGIN {printf "%.1f", t / r}')" \
    "MB_per_million_events=$(awk -v t="$total" -v e="$produced" 'BEGIN {printf "%.1f", t / e}')"

if [ "$pg_stats" = 1 ]; then
    q "SELECT calls, round(total_exec_time::numeric, 0) AS ms,
              round((100 * total_exec_time / sum(total_exec_time) OVER ())::numeric, 1) AS pct,
              regexp_replace(left(query, 110), '\s+', ' ', 'g')
       FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15" |
        tee "$out/pg_stat_statements.txt"
fi
if [ "$fail" = 0 ]; then
    say "check: ok ($produced events counted in each run; KPI denominators match the truth)"
fi
exit $fail
