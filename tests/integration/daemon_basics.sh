#!/usr/bin/env bash
# The daemon skeleton against /work/shared/contract/daemon.md: command line and exit statuses,
# config errors with path:line, the pseudonym key checks, schema migrations at start (once,
# under a lock, also with two instances starting together), --exit-on-eof on empty topics,
# and no secret (key, conninfo password) in the log.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -x "$GEVINSTD" ] || it_fail "$GEVINSTD is not built"
# The migrations are compiled in: a file added to sql/ after the build is not in the binary.
for f in "$GEVINST_SRC"/sql/*.sql; do
    [ ! "$f" -nt "$GEVINSTD" ] || it_fail "$f is newer than $GEVINSTD: rebuild first"
done

TOPICS=(ehr.appointments:2 ehr.journal:2 ehr.audit:2)
PASSWORD=s3cretpw # trust auth ignores it; it must still never reach the log
DAEMON_LOGS=()     # stderr of every gevinstd run, checked for secrets at the end

# Versions and file names of the migrations the build embeds (sql/NNN_name.sql).
expected_versions() {
    local f b
    for f in "$GEVINST_SRC"/sql/*.sql; do
        b=${f##*/}
        echo $((10#${b%%_*}))
    done | sort -n
}

# check_migrations DBARGS WHAT: one row per sql/ file, each version once, names matching.
check_migrations() {
    local what=$2 f b v name
    local -a db=()
    [ -z "$1" ] || db=(-d "$1")
    it_assert_eq 1 "$(it_psql "SELECT count(*) FROM pg_namespace WHERE nspname = 'gevinst'" \
        "${db[@]}")" "$what: schema gevinst exists"
    it_psql "SELECT column_name || ' ' || data_type FROM information_schema.columns
             WHERE table_schema = 'gevinst' AND table_name = 'schema_migration'" "${db[@]}" \
        >"$IT_TMP/columns"
    for col in 'version integer' 'name text' 'applied_at timestamp with time zone'; do
        grep -qx "$col" "$IT_TMP/columns" ||
            it_fail "$what: gevinst.schema_migration has no column '$col' (has: $(paste -sd, \
                "$IT_TMP/columns"))"
    done
    it_assert_eq "$(expected_versions | paste -sd,)" \
        "$(it_psql 'SELECT version FROM gevinst.schema_migration ORDER BY version' "${db[@]}" |
            paste -sd,)" "$what: versions recorded in gevinst.schema_migration"
    it_assert_eq 0 "$(it_psql 'SELECT count(*) - count(DISTINCT version)
                               FROM gevinst.schema_migration' "${db[@]}")" \
        "$what: migrations recorded more than once"
    for f in "$GEVINST_SRC"/sql/*.sql; do
        b=${f##*/}
        v=$((10#${b%%_*}))
        name=$(it_psql "SELECT name FROM gevinst.schema_migration WHERE version = $v" "${db[@]}")
        case "$name" in
        "$b" | "${b%.sql}" | "${b#*_}" | "$(basename "${b#*_}" .sql)") ;;
        *) it_fail "$what: migration $v is recorded as '$name', the file is $b" ;;
        esac
    done
}

it_step "--version, usage errors"
it_run version "$GEVINSTD" --version
it_assert_status 0 version "gevinstd --version"
it_assert_grep "$IT_TMP/version.out" '[0-9]+\.[0-9]+' "gevinstd --version prints a version"
it_run noargs "$GEVINSTD"
it_assert_status 2 noargs "gevinstd without arguments"
it_assert_grep "$IT_TMP/noargs.err" '[Uu]sage' "usage on stderr without arguments"
it_run badopt "$GEVINSTD" --no-such-option
it_assert_status 2 badopt "gevinstd --no-such-option"
it_assert_grep "$IT_TMP/badopt.err" '[Uu]sage' "usage on stderr for an unknown option"

# No server runs yet: --check must not need one.
it_step "--check on a valid config"
it_write_config "$IT_TMP/valid.ini"
it_run check_ok "$GEVINSTD" --config "$IT_TMP/valid.ini" --check
it_assert_status 0 check_ok "--check on a valid config"
DAEMON_LOGS+=(check_ok)

it_step "--check reports an unknown key, a bad integer and a missing required key at once"
cat >"$IT_TMP/bad.ini" <<EOF
# three mistakes; each must be reported with its line
[kafka]
brokers = 127.0.0.1:9
no_such_key = 1

[privacy]
pseudonym_key_file = $IT_KEY_FILE
min_cell_size = five

[postgres]
# conninfo is required and missing
EOF
it_run check_bad "$GEVINSTD" --config "$IT_TMP/bad.ini" --check
it_assert_status 2 check_bad "--check on a config with three errors"
bad=$(printf '%s' "$IT_TMP/bad.ini" | sed 's/[].[*^$\/]/\\&/g')
it_assert_grep "$IT_TMP/check_bad.err" "^$bad:4: .*no_such_key" "unknown key reported at line 4"
it_assert_grep "$IT_TMP/check_bad.err" "^$bad:8: .*min_cell_size" \
    "bad integer reported at line 8"
it_assert_grep "$IT_TMP/check_bad.err" "^$bad:[0-9]+: .*conninfo" \
    "missing postgres.conninfo reported with path:line"

it_step "--check on a config with errors still checks the goals file and the key file it names"
cat >"$IT_TMP/all.ini" <<EOF
[kafka]
brokers = 127.0.0.1:9
no_such_key = 1

[postgres]
conninfo = dbname=x

[privacy]
pseudonym_key_file = $IT_TMP/no-such.key

[goals]
file = $IT_TMP/no-such-goals.json
EOF
it_run check_all "$GEVINSTD" --config "$IT_TMP/all.ini" --check
it_assert_status 2 check_all "--check on a config, a goals file and a key file in error"
all=$(printf '%s' "$IT_TMP/all.ini" | sed 's/[].[*^$\/]/\\&/g')
it_assert_grep "$IT_TMP/check_all.err" "^$all:3: .*no_such_key" "the config error"
it_assert_grep "$IT_TMP/check_all.err" "no-such-goals\.json" "the goals file error"
it_assert_grep "$IT_TMP/check_all.err" "no-such\.key" "the key file error"

it_step "servers: PostgreSQL, mock Kafka with ${TOPICS[*]}"
it_start_pg
it_start_kafka "${TOPICS[@]}"
no_schema() {
    it_assert_eq 0 "$(it_psql "SELECT count(*) FROM pg_namespace WHERE nspname = 'gevinst'")" \
        "$1: the schema was created although the daemon refused to start"
}

it_step "refuses to start without a usable pseudonym key"
it_write_config "$IT_TMP/nokey.ini" '[privacy]' "pseudonym_key_file = $IT_TMP/missing.key"
IT_RUN_TIMEOUT=30 it_run nokey "$GEVINSTD" --config "$IT_TMP/nokey.ini" --exit-on-eof
it_assert_status 2 nokey "start with a missing key file"
it_assert_grep "$IT_TMP/nokey.err" "$IT_TMP/missing.key" "the error names the missing key file"
DAEMON_LOGS+=(nokey)
no_schema "missing key file"

# 31 bytes, no newline: one short of the minimum.
openssl rand -hex 16 | head -c 31 >"$IT_TMP/short.key"
chmod 600 "$IT_TMP/short.key"
it_assert_eq 31 "$(wc -c <"$IT_TMP/short.key")" "short key length"
it_write_config "$IT_TMP/shortkey.ini" '[privacy]' "pseudonym_key_file = $IT_TMP/short.key"
IT_RUN_TIMEOUT=30 it_run shortkey "$GEVINSTD" --config "$IT_TMP/shortkey.ini" --exit-on-eof
it_assert_status 2 shortkey "start with a 31-byte key"
it_assert_grep "$IT_TMP/shortkey.err" "$IT_TMP/short.key" "the error names the short key file"
it_assert_no_string "$IT_TMP/shortkey.err" "$(cat "$IT_TMP/short.key")" \
    "the error message shows the short key"
DAEMON_LOGS+=(shortkey)
no_schema "short key"

it_step "--exit-on-eof on empty topics: exits 0, applies every migration"
it_write_config "$IT_TMP/run.ini" '[postgres]' \
    "conninfo = $GEVINST_TEST_CONNINFO password=$PASSWORD"
IT_RUN_TIMEOUT=60 it_run run1 "$GEVINSTD" --config "$IT_TMP/run.ini" --exit-on-eof
[ "$IT_STATUS" != 124 ] || it_fail "gevinstd --exit-on-eof did not exit within 60 s"
it_assert_status 0 run1 "first run with --exit-on-eof"
DAEMON_LOGS+=(run1)
check_migrations "" "after the first run"
it_psql 'SELECT version, name, applied_at FROM gevinst.schema_migration ORDER BY version' \
    >"$IT_TMP/migrations.1"

it_step "a second run applies nothing new"
IT_RUN_TIMEOUT=60 it_run run2 "$GEVINSTD" --config "$IT_TMP/run.ini" --exit-on-eof
[ "$IT_STATUS" != 124 ] || it_fail "second gevinstd --exit-on-eof did not exit within 60 s"
it_assert_status 0 run2 "second run with --exit-on-eof"
DAEMON_LOGS+=(run2)
it_psql 'SELECT version, name, applied_at FROM gevinst.schema_migration ORDER BY version' \
    >"$IT_TMP/migrations.2"
cmp -s "$IT_TMP/migrations.1" "$IT_TMP/migrations.2" ||
    it_fail "gevinst.schema_migration changed on the second run: $(diff "$IT_TMP/migrations.1" \
        "$IT_TMP/migrations.2" | head -n 6 | tr '\n' ' ')"

it_step "two daemons starting together on a fresh database"
it_psql 'CREATE DATABASE gevinst_twin'
twin_conninfo="${GEVINST_TEST_CONNINFO/dbname=gevinst_test/dbname=gevinst_twin}"
it_write_config "$IT_TMP/twin.ini" '[postgres]' "conninfo = $twin_conninfo password=$PASSWORD" \
    '[kafka]' 'group_id = gevinst-twin'
it_bg twin_a "$GEVINSTD" --config "$IT_TMP/twin.ini" --exit-on-eof
it_bg twin_b "$GEVINSTD" --config "$IT_TMP/twin.ini" --exit-on-eof
it_wait twin_a 60
[ "$IT_STATUS" != 124 ] || it_fail "first of two daemons did not exit within 60 s"
[ "$IT_STATUS" = 0 ] || it_fail "first of two daemons exited with $IT_STATUS"
it_wait twin_b 60
[ "$IT_STATUS" != 124 ] || it_fail "second of two daemons did not exit within 60 s"
[ "$IT_STATUS" = 0 ] || it_fail "second of two daemons exited with $IT_STATUS"
check_migrations gevinst_twin "two daemons at once"

it_step "a database it cannot migrate: exits 1 at once, though it has joined the group"
# The daemon joins the group as soon as PostgreSQL answers, before migrating (the join takes
# seconds, the migrations run meanwhile); a migration that fails for good must still end
# the start with status 1, closing the consumer, not wait for partitions' positions.
it_psql 'CREATE DATABASE gevinst_broken'
it_psql 'CREATE SCHEMA gevinst; CREATE TABLE gevinst.consumer_offset (unrelated int)' \
    -d gevinst_broken
broken_conninfo="${GEVINST_TEST_CONNINFO/dbname=gevinst_test/dbname=gevinst_broken}"
it_write_config "$IT_TMP/broken.ini" '[postgres]' "conninfo = $broken_conninfo password=$PASSWORD" \
    '[kafka]' 'group_id = gevinst-broken'
t0=$(date +%s)
IT_RUN_TIMEOUT=60 it_run broken "$GEVINSTD" --config "$IT_TMP/broken.ini" --exit-on-eof
[ "$IT_STATUS" != 124 ] || it_fail "gevinstd on a database it cannot migrate did not exit in 60 s"
it_assert_status 1 broken "start on a database it cannot migrate"
[ $(($(date +%s) - t0)) -le 20 ] || it_fail "the failed start took $(($(date +%s) - t0)) s"
it_assert_grep "$IT_TMP/broken.err" "consumer_offset" "the error names the table in the way"
DAEMON_LOGS+=(broken)

it_step "no secret in any daemon log"
cp "$IT_TMP/twin_a.log" "$IT_TMP/twin_a.err"
cp "$IT_TMP/twin_b.log" "$IT_TMP/twin_b.err"
DAEMON_LOGS+=(twin_a twin_b)
[ -s "$IT_TMP/run1.err" ] || it_fail "the first run logged nothing: nothing to check for secrets"
key=$(tr -d '\n' <"$IT_KEY_FILE")
for log in "${DAEMON_LOGS[@]}"; do
    it_assert_no_string "$IT_TMP/$log.err" "$PASSWORD" "the conninfo password is in the log of $log"
    it_assert_no_string "$IT_TMP/$log.err" "$key" "the pseudonym key is in the log of $log"
    it_assert_no_string "$IT_TMP/$log.err" "${key:0:16}" \
        "the start of the pseudonym key is in the log of $log"
done

it_pass
