/* The migrations runner against a real PostgreSQL (scripts/with-pg). Every
 * test works in a database of its own, created fresh, so that tests are
 * independent whatever schemas the migrations create. */
#include "gevinst/migrate.h"

#include "test_util.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* The key migrate.c locks; a test holds it to prove the runner waits. */
#define MIGRATE_LOCK_KEY "7450580227585434724"

static PGconn *admin; /* to the server's own test database */
static char db_conninfo[1024];
static char db_name[64];

/* First column of the first row, as a malloc'd string; NULL for SQL NULL
 * or no row. */
static char *query_value(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(conn));
    char *v = PQntuples(res) && !PQgetisnull(res, 0, 0) ? strdup(PQgetvalue(res, 0, 0)) : NULL;
    PQclear(res);
    return v;
}

static long query_long(PGconn *conn, const char *sql)
{
    char *v = query_value(conn, sql);
    if (!v)
        fail_msg("%s: no value", sql);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* (Re)creates database db_name, empty. */
static void create_db(void)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
    test_pg_exec(admin, sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s TEMPLATE template0", db_name);
    test_pg_exec(admin, sql);
}

/* Creates database gevinst_mt_<pid>_<counter> and points db_conninfo at it. */
static int setup_db(void **state)
{
    static int counter;
    (void)state;
    snprintf(db_name, sizeof(db_name), "gevinst_mt_%d_%d", (int)getpid(), ++counter);
    create_db();
    /* A later keyword wins in a libpq connection string. */
    snprintf(db_conninfo, sizeof(db_conninfo), "%s dbname=%s", test_pg_conninfo(), db_name);
    return 0;
}

static int teardown_db(void **state)
{
    char sql[256];
    (void)state;
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
    test_pg_exec(admin, sql);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    admin = test_pg_connect();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(admin);
    return 0;
}

/* "version name;version name;..." of gevinst.schema_migration. */
static char *recorded(PGconn *conn)
{
    return query_value(conn, "SELECT coalesce(string_agg(version || ' ' || name, ';' ORDER BY "
                             "version), '') FROM gevinst.schema_migration");
}

static bool schema_exists(PGconn *conn, const char *schema)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_namespace WHERE nspname = '%s'", schema);
    return query_long(conn, sql) == 1;
}

static bool table_exists(PGconn *conn, const char *table)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT to_regclass('%s') IS NOT NULL", table);
    char *v = query_value(conn, sql);
    bool exists = v && strcmp(v, "t") == 0;
    free(v);
    return exists;
}

static long advisory_locks_of(PGconn *conn, int pid)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %d", pid);
    return query_long(conn, sql);
}

/* The compiled list is what the runner trusts: versions ascending, unique,
 * names NNN_*.sql matching the version. */
static void test_compiled_list_sane(void **state)
{
    (void)state;
    assert_true(migrations_count >= 1);
    for (size_t i = 0; i < migrations_count; i++) {
        assert_true(migrations[i].version > 0);
        if (i)
            assert_true(migrations[i].version > migrations[i - 1].version);
        assert_int_equal(atoi(migrations[i].name), migrations[i].version);
        assert_non_null(strstr(migrations[i].name, ".sql"));
        assert_true(strlen(migrations[i].sql) > 0);
    }
    assert_int_equal(migrate_latest_version(), migrations[migrations_count - 1].version);
}

static void test_fresh_database(void **state)
{
    (void)state;
    PGconn *conn = test_pg_connect_to(db_conninfo);
    assert_false(schema_exists(conn, "gevinst"));
    int applied = -1;
    bool retriable = true;
    char errstr[512] = "";
    bool ok = migrate_run(conn, &applied, &retriable, errstr, sizeof(errstr));
    if (!ok)
        fail_msg("migrate_run: %s", errstr);
    assert_int_equal(applied, migrations_count);
    assert_false(retriable);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);

    /* One row per compiled migration, same version and name, in order. */
    PGresult *res = PQexec(conn, "SELECT version, name, applied_at IS NOT NULL FROM "
                                 "gevinst.schema_migration ORDER BY version");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), migrations_count);
    for (size_t i = 0; i < migrations_count; i++) {
        assert_int_equal(atoi(PQgetvalue(res, (int)i, 0)), migrations[i].version);
        assert_string_equal(PQgetvalue(res, (int)i, 1), migrations[i].name);
        assert_string_equal(PQgetvalue(res, (int)i, 2), "t");
    }
    PQclear(res);
    /* The migrations did create something beyond the bookkeeping table. */
    assert_true(query_long(conn, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                 "c.relnamespace WHERE n.nspname = 'gevinst' AND c.relkind = 'r' "
                                 "AND c.relname <> 'schema_migration'") > 0);
    /* The lock is transaction-scoped: gone once the runner returns. */
    assert_int_equal(advisory_locks_of(conn, PQbackendPID(conn)), 0);
    PQfinish(conn);
}

static void test_rerun_applies_nothing(void **state)
{
    (void)state;
    PGconn *conn = test_pg_connect_to(db_conninfo);
    char errstr[512] = "";
    int applied = -1;
    assert_true(migrate_run(conn, &applied, NULL, errstr, sizeof(errstr)));
    assert_int_equal(applied, migrations_count);
    const char *snapshot_sql = "SELECT string_agg(version || ' ' || name || ' ' || applied_at, ';' "
                               "ORDER BY version) FROM gevinst.schema_migration";
    char *before = query_value(conn, snapshot_sql);
    assert_non_null(before);
    sleep_ms(20); /* a re-insert would show a later now() */

    bool retriable = true;
    applied = -1;
    assert_true(migrate_run(conn, &applied, &retriable, errstr, sizeof(errstr)));
    assert_int_equal(applied, 0);
    assert_false(retriable);
    char *after = query_value(conn, snapshot_sql);
    assert_string_equal(after, before);
    free(after);

    /* From another connection, too; and with NULL out-pointers. */
    PGconn *other = test_pg_connect_to(db_conninfo);
    assert_true(migrate_run(other, NULL, NULL, errstr, sizeof(errstr)));
    after = query_value(other, snapshot_sql);
    assert_string_equal(after, before);
    free(after);
    PQfinish(other);
    free(before);
    PQfinish(conn);
}

static void test_empty_list(void **state)
{
    (void)state;
    PGconn *conn = test_pg_connect_to(db_conninfo);
    char errstr[512] = "";
    int applied = -1;
    assert_true(migrate_run_list(conn, NULL, 0, &applied, NULL, errstr, sizeof(errstr)));
    assert_int_equal(applied, 0);
    /* The bookkeeping table exists, empty. */
    assert_true(table_exists(conn, "gevinst.schema_migration"));
    assert_int_equal(query_long(conn, "SELECT count(*) FROM gevinst.schema_migration"), 0);
    PQfinish(conn);
}

static const migration_t failing_list[] = {
    {1, "001_one.sql",
     "CREATE TABLE gevinst.mt_one (x int); INSERT INTO gevinst.mt_one VALUES (1)"},
    {2, "002_bad.sql", "CREATE TABLE gevinst.mt_two (x int); SELEC oops"},
    {3, "003_three.sql", "CREATE TABLE gevinst.mt_three (x int)"},
};

static void test_failing_migration_applies_nothing(void **state)
{
    (void)state;
    PGconn *conn = test_pg_connect_to(db_conninfo);
    char errstr[512] = "";
    int applied = -1;
    bool retriable = true;
    assert_false(
        migrate_run_list(conn, failing_list, 3, &applied, &retriable, errstr, sizeof(errstr)));
    assert_int_equal(applied, 0);
    assert_false(retriable); /* the SQL is at fault: retrying will not help */
    if (!strstr(errstr, "002_bad.sql") || !strstr(errstr, "syntax error"))
        fail_msg("errstr '%s' should name 002_bad.sql and the syntax error", errstr);
    assert_null(strchr(errstr, '\n'));
    /* Nothing at all: not the 1st migration, not even the schema. */
    assert_false(table_exists(conn, "gevinst.mt_one"));
    assert_false(table_exists(conn, "gevinst.mt_two"));
    assert_false(schema_exists(conn, "gevinst"));
    /* The connection is left usable, outside any transaction. */
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
    assert_int_equal(advisory_locks_of(conn, PQbackendPID(conn)), 0);

    /* With version 1 already recorded: 2 fails, 1 stays as it was. */
    assert_true(
        migrate_run_list(conn, failing_list, 1, &applied, &retriable, errstr, sizeof(errstr)));
    assert_int_equal(applied, 1);
    assert_false(
        migrate_run_list(conn, failing_list, 3, &applied, &retriable, errstr, sizeof(errstr)));
    assert_int_equal(applied, 0);
    assert_false(retriable);
    assert_non_null(strstr(errstr, "002_bad.sql"));
    char *rec = recorded(conn);
    assert_string_equal(rec, "1 001_one.sql");
    free(rec);
    assert_int_equal(query_long(conn, "SELECT count(*) FROM gevinst.mt_one"), 1); /* not re-run */
    assert_false(table_exists(conn, "gevinst.mt_two"));
    assert_false(table_exists(conn, "gevinst.mt_three"));

    /* A run-time error (not syntax) is just as fatal. */
    static const migration_t div0[] = {
        {1, "001_one.sql", "unused: recorded"},
        {4, "004_div.sql", "CREATE TABLE gevinst.mt_four AS SELECT 1 / 0 AS x"},
    };
    assert_false(migrate_run_list(conn, div0, 2, &applied, &retriable, errstr, sizeof(errstr)));
    assert_false(retriable);
    if (!strstr(errstr, "004_div.sql") || !strstr(errstr, "division by zero"))
        fail_msg("errstr '%s'", errstr);
    assert_false(table_exists(conn, "gevinst.mt_four"));
    PQfinish(conn);
}

/* ---- concurrency ---- */

typedef struct starter {
    const char *conninfo;
    const migration_t *list; /* NULL: the compiled migrations */
    size_t count;
    pthread_barrier_t *barrier;
    bool connected, ok, retriable;
    int applied;
    int pid;
    volatile int done;
    char errstr[512];
    PGconn *conn; /* given: use this one, and do not close it */
} starter_t;

static void *starter_run(void *arg)
{
    starter_t *s = arg;
    PGconn *conn = s->conn ? s->conn : PQconnectdb(s->conninfo);
    s->connected = PQstatus(conn) == CONNECTION_OK;
    s->pid = PQbackendPID(conn);
    if (s->barrier)
        pthread_barrier_wait(s->barrier);
    if (s->connected) {
        if (s->list)
            s->ok = migrate_run_list(conn, s->list, s->count, &s->applied, &s->retriable, s->errstr,
                                     sizeof(s->errstr));
        else
            s->ok = migrate_run(conn, &s->applied, &s->retriable, s->errstr, sizeof(s->errstr));
    }
    if (!s->conn)
        PQfinish(conn);
    s->done = 1;
    return NULL;
}

/* n starters at once on db_conninfo; checks all succeeded and that exactly
 * one applied everything. */
static void run_concurrently(size_t n, const migration_t *list, size_t count)
{
    pthread_t threads[8];
    starter_t starters[8];
    pthread_barrier_t barrier;
    assert_true(n <= 8);
    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    for (size_t i = 0; i < n; i++) {
        memset(&starters[i], 0, sizeof(starters[i]));
        starters[i].conninfo = db_conninfo;
        starters[i].list = list;
        starters[i].count = count;
        starters[i].barrier = &barrier;
        starters[i].applied = -1;
        assert_int_equal(pthread_create(&threads[i], NULL, starter_run, &starters[i]), 0);
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&barrier);

    size_t expected = list ? count : migrations_count;
    int total = 0, appliers = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(starters[i].connected);
        if (!starters[i].ok)
            fail_msg("starter %zu failed: %s", i, starters[i].errstr);
        total += starters[i].applied;
        appliers += starters[i].applied > 0;
        assert_true(starters[i].applied == 0 || starters[i].applied == (int)expected);
    }
    assert_int_equal(total, expected);
    assert_int_equal(appliers, 1);
}

static void test_concurrent_starters(void **state)
{
    (void)state;
    /* Several rounds, each on a fresh database: races are about timing. */
    for (int round = 0; round < 3; round++) {
        if (round)
            create_db();
        run_concurrently(4, NULL, 0);
        PGconn *conn = test_pg_connect_to(db_conninfo);
        assert_int_equal(query_long(conn, "SELECT count(*) FROM gevinst.schema_migration"),
                         migrations_count);
        assert_int_equal(
            query_long(conn, "SELECT count(DISTINCT version) FROM gevinst.schema_migration"),
            migrations_count);
        PQfinish(conn);
    }
    /* A slow first migration makes the starters certainly overlap; the
     * second one, not idempotent, must run once. */
    static const migration_t slow[] = {
        {1, "001_slow.sql", "CREATE TABLE gevinst.mt_slow (x int); SELECT pg_sleep(0.5)"},
        {2, "002_insert.sql", "INSERT INTO gevinst.mt_slow VALUES (2)"},
    };
    create_db();
    run_concurrently(4, slow, 2);
    PGconn *conn = test_pg_connect_to(db_conninfo);
    assert_int_equal(query_long(conn, "SELECT count(*) FROM gevinst.mt_slow"), 1);
    char *rec = recorded(conn);
    assert_string_equal(rec, "1 001_slow.sql;2 002_insert.sql");
    free(rec);
    PQfinish(conn);
}

/* Waits until backend pid is in state (e.g. waiting on a lock); fails after 10 s. */
static void wait_for_backend(PGconn *conn, int pid, const char *condition)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND (%s)", pid,
             condition);
    for (int i = 0; i < 1000; i++) {
        if (query_long(conn, sql) == 1)
            return;
        sleep_ms(10);
    }
    fail_msg("backend %d never matched: %s", pid, condition);
}

/* Someone holding the lock makes the runner wait, not proceed. */
static void test_waits_for_lock(void **state)
{
    (void)state;
    PGconn *holder = test_pg_connect_to(db_conninfo);
    test_pg_exec(holder, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")");

    starter_t s = {.conninfo = db_conninfo, .applied = -1};
    s.conn = test_pg_connect_to(db_conninfo);
    s.pid = PQbackendPID(s.conn);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, starter_run, &s), 0);
    wait_for_backend(holder, s.pid, "wait_event_type = 'Lock' AND wait_event = 'advisory'");
    sleep_ms(200);
    assert_int_equal(s.done, 0);
    assert_false(schema_exists(holder, "gevinst"));

    test_pg_exec(holder, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")");
    pthread_join(t, NULL);
    if (!s.ok)
        fail_msg("%s", s.errstr);
    assert_int_equal(s.applied, migrations_count);
    PQfinish(s.conn);
    PQfinish(holder);
}

/* ---- connection failures are worth a retry ---- */

static void test_killed_mid_run_retriable(void **state)
{
    (void)state;
    static const migration_t list[] = {
        {1, "001_k1.sql", "CREATE TABLE gevinst.mt_k1 (x int)"},
        {2, "002_sleep.sql", "SELECT pg_sleep(60)"},
    };
    PGconn *killer = test_pg_connect_to(db_conninfo);
    starter_t s = {.list = list, .count = 2, .applied = -1};
    s.conn = test_pg_connect_to(db_conninfo);
    int pid = PQbackendPID(s.conn);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, starter_run, &s), 0);

    /* Mid-run: the runner holds the lock and sits in the 2nd migration. */
    wait_for_backend(killer, pid, "state = 'active' AND query LIKE '%pg_sleep(60)%'");
    assert_int_equal(advisory_locks_of(killer, pid), 1);
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", pid);
    char *v = query_value(killer, sql);
    assert_string_equal(v, "t");
    free(v);
    pthread_join(t, NULL);

    assert_false(s.ok);
    assert_true(s.retriable);
    assert_int_equal(s.applied, 0);
    if (!strstr(s.errstr, "002_sleep.sql"))
        fail_msg("errstr '%s' should name the migration", s.errstr);
    assert_int_equal(PQstatus(s.conn), CONNECTION_BAD);
    PQfinish(s.conn);

    /* Nothing stayed behind, and the lock went with the backend. */
    assert_false(schema_exists(killer, "gevinst"));
    PGconn *conn = test_pg_connect_to(db_conninfo);
    int applied = -1;
    char errstr[512] = "";
    if (!migrate_run(conn, &applied, NULL, errstr, sizeof(errstr)))
        fail_msg("%s", errstr);
    assert_int_equal(applied, migrations_count);
    PQfinish(conn);
    PQfinish(killer);
}

static void test_dead_connection_retriable(void **state)
{
    (void)state;
    /* Terminated while idle: the runner's first statement finds it gone. */
    PGconn *killer = test_pg_connect_to(db_conninfo);
    PGconn *conn = test_pg_connect_to(db_conninfo);
    int pid = PQbackendPID(conn);
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", pid);
    test_pg_exec(killer, sql);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid);
    for (int i = 0; i < 1000 && query_long(killer, sql) != 0; i++)
        sleep_ms(10);
    int applied = -1;
    bool retriable = false;
    char errstr[512] = "";
    assert_false(migrate_run(conn, &applied, &retriable, errstr, sizeof(errstr)));
    assert_true(retriable);
    assert_int_equal(applied, 0);
    assert_true(strlen(errstr) > 0);
    assert_null(strchr(errstr, '\n'));
    PQfinish(conn);

    /* The socket closed under libpq's feet. */
    conn = test_pg_connect_to(db_conninfo);
    assert_int_equal(shutdown(PQsocket(conn), SHUT_RDWR), 0);
    retriable = false;
    assert_false(migrate_run(conn, &applied, &retriable, errstr, sizeof(errstr)));
    assert_true(retriable);
    assert_true(strlen(errstr) > 0);
    PQfinish(conn);

    assert_false(schema_exists(killer, "gevinst"));
    PQfinish(killer);
}

/* Applies the compiled migrations older than version, as a database last
 * upgraded before it would have them; returns how many. Fails the test unless
 * they apply and the version itself is compiled in. */
static size_t migrate_below(PGconn *conn, int version)
{
    size_t before = 0;
    while (before < migrations_count && migrations[before].version < version)
        before++;
    assert_true(before < migrations_count);
    assert_int_equal(migrations[before].version, version);
    char errstr[512] = "";
    int applied = -1;
    if (!migrate_run_list(conn, migrations, before, &applied, NULL, errstr, sizeof(errstr)))
        fail_msg("migrations before %d: %s", version, errstr);
    return before;
}

/* An upgrade keeps the data: appt_state rows written under 010 (32-byte bytea
 * keys) come out of 011 keyed by their first 16 bytes as a uuid, every other
 * column and the table's fillfactor as they were. */
static void test_upgrade_keeps_appointment_state(void **state)
{
    (void)state;
    PGconn *conn = test_pg_connect_to(db_conninfo);
    size_t before = migrate_below(conn, 11);
    char errstr[512] = "";
    int applied = -1;
    PGresult *res = PQexec(conn, "INSERT INTO gevinst.appt_state SELECT "
                                 "decode(repeat(lpad(to_hex(g), 8, '0'), 8), 'hex'), 1000 + g, g, "
                                 "g % 3, 'u' || g, 20000 + g, 19990 + g, g % 4, g % 6 "
                                 "FROM generate_series(1, 500) g");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("insert: %s", PQerrorMessage(conn));
    PQclear(res);
    if (!migrate_run(conn, &applied, NULL, errstr, sizeof(errstr)))
        fail_msg("upgrade: %s", errstr);
    assert_int_equal(applied, (int)(migrations_count - before));
    char *v = query_value(conn, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                                "WHERE attrelid = 'gevinst.appt_state'::regclass "
                                "AND attname = 'appt'");
    assert_string_equal(v, "uuid");
    free(v);
    assert_int_equal(query_long(conn, "SELECT count(*) FROM gevinst.appt_state s, "
                                      "generate_series(1, 500) g WHERE "
                                      "s.appt = repeat(lpad(to_hex(g), 8, '0'), 4)::uuid AND "
                                      "s.t = 1000 + g AND s.o = g AND s.i = g % 3 AND "
                                      "s.unit_id = 'u' || g AND s.start_day = 20000 + g AND "
                                      "s.booked_day = 19990 + g AND s.channel = g % 4 AND "
                                      "s.status = g % 6"),
                     500);
    v = query_value(conn, "SELECT array_to_string(reloptions, ',') FROM pg_class "
                          "WHERE oid = 'gevinst.appt_state'::regclass");
    assert_string_equal(v, "fillfactor=85");
    free(v);
    PQfinish(conn);
}

/* The same for journal_entry under 012: entry and group keys become uuids of
 * their first 16 bytes, a tombstone's null group stays null, the partial
 * index of the windows is there again. */
static void test_upgrade_keeps_journal_state(void **state)
{
    (void)state;
    PGconn *conn = test_pg_connect_to(db_conninfo);
    migrate_below(conn, 12);
    char errstr[512] = "";
    int applied = -1;
    PGresult *res = PQexec(conn, "INSERT INTO gevinst.journal_entry SELECT "
                                 "decode(repeat(lpad(to_hex(g), 8, '0'), 8), 'hex'), "
                                 "CASE WHEN g % 10 = 0 THEN NULL ELSE "
                                 "decode(repeat(lpad(to_hex(g % 7), 8, '0'), 8), 'hex') END, "
                                 "1000 + g, g, g % 3, 'u' || g, 60000000::bigint * g, g % 2 = 0, "
                                 "g % 10 = 0 FROM generate_series(1, 500) g");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("insert: %s", PQerrorMessage(conn));
    PQclear(res);
    if (!migrate_run(conn, &applied, NULL, errstr, sizeof(errstr)))
        fail_msg("upgrade: %s", errstr);
    char *v = query_value(conn, "SELECT string_agg(attname || ' ' || format_type(atttypid, "
                                "atttypmod), ',' ORDER BY attname) FROM pg_attribute WHERE "
                                "attrelid = 'gevinst.journal_entry'::regclass AND attname IN "
                                "('entry', 'grp')");
    assert_string_equal(v, "entry uuid,grp uuid");
    free(v);
    assert_int_equal(query_long(conn,
                                "SELECT count(*) FROM gevinst.journal_entry e, "
                                "generate_series(1, 500) g WHERE "
                                "e.entry = repeat(lpad(to_hex(g), 8, '0'), 4)::uuid AND "
                                "e.grp IS NOT DISTINCT FROM CASE WHEN g % 10 = 0 THEN NULL "
                                "ELSE repeat(lpad(to_hex(g % 7), 8, '0'), 4)::uuid END AND "
                                "e.t = 1000 + g AND e.o = g AND e.i = g % 3 AND "
                                "e.unit_id = 'u' || g AND e.dur_us = 60000000::bigint * g AND "
                                "e.dup = (g % 2 = 0) AND e.erased = (g % 10 = 0)"),
                     500);
    v = query_value(conn, "SELECT indexdef FROM pg_indexes WHERE schemaname = 'gevinst' AND "
                          "indexname = 'journal_entry_grp_t'");
    assert_non_null(strstr(v, "(grp, t) WHERE (NOT erased)"));
    free(v);
    PQfinish(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compiled_list_sane),
        cmocka_unit_test_setup_teardown(test_fresh_database, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(test_rerun_applies_nothing, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(test_empty_list, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(test_failing_migration_applies_nothing, setup_db,
                                        teardown_db),
        cmocka_unit_test_setup_teardown(test_concurrent_starters, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(test_waits_for_lock, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(test_killed_mid_run_retriable, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(test_dead_connection_retriable, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(test_upgrade_keeps_appointment_state, setup_db,
                                        teardown_db),
        cmocka_unit_test_setup_teardown(test_upgrade_keeps_journal_state, setup_db, teardown_db),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
