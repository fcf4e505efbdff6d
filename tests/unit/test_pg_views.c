/* The KPI views of sql/002_kpi.sql (kpis.md) against a real PostgreSQL: exact
 * types, hidden empty buckets, minute conversion, registry rollup, ISO weeks,
 * months, rolling windows, small-cell suppression in gevinst_dash, the reader
 * role and the comments. Each test runs in a transaction that is rolled back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_util.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static PGconn *conn;

/* Notices (RAISE NOTICE of the leak test) collected here. */
static char notices[8192];

static void collect_notice(void *arg, const char *message)
{
    (void)arg;
    size_t used = strlen(notices);
    snprintf(notices + used, sizeof(notices) - used, "%s", message);
}

/* Runs sql expecting it to fail with sqlstate; the transaction stays usable. */
static void expect_error(const char *sql, const char *sqlstate)
{
    test_pg_exec(conn, "SAVEPOINT expect_error");
    PGresult *res = PQexec(conn, sql);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (PQresultStatus(res) != PGRES_FATAL_ERROR || !state || strcmp(state, sqlstate) != 0)
        fail_msg("%s: expected SQLSTATE %s, got status %s, SQLSTATE %s", sql, sqlstate,
                 PQresStatus(PQresultStatus(res)), state ? state : "none");
    PQclear(res);
    test_pg_exec(conn, "ROLLBACK TO SAVEPOINT expect_error");
}

static int group_setup(void **state)
{
    (void)state;
    conn = test_pg_connect();
    PQsetNoticeProcessor(conn, collect_notice, NULL);
    test_pg_migrate(conn);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(conn);
    return 0;
}

static int begin(void **state)
{
    (void)state;
    test_pg_exec(conn, "BEGIN");
    notices[0] = '\0';
    return 0;
}

static int rollback(void **state)
{
    (void)state;
    test_pg_exec(conn, "ROLLBACK");
    return 0;
}

/* Column names and types, in order, of one view. */
static char *columns_of(const char *schema, const char *view)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)"
             " FROM information_schema.columns WHERE table_schema = '%s' AND table_name = '%s'",
             schema, view);
    return test_pg_rows(conn, sql);
}

static void test_column_types(void **state)
{
    (void)state;
    static const struct {
        const char *view, *columns;
    } want[] = {
        {"kpi_daily", "unit_id text, kpi text, day date, numerator double precision, "
                      "denominator bigint, value double precision\n"},
        {"kpi_daily_rollup", "unit_id text, kpi text, day date, numerator double precision, "
                             "denominator bigint, value double precision\n"},
        {"kpi_weekly", "unit_id text, kpi text, week_start date, numerator double precision, "
                       "denominator bigint, value double precision\n"},
        {"kpi_monthly", "unit_id text, kpi text, month_start date, numerator double precision, "
                        "denominator bigint, value double precision\n"},
        {"kpi_rolling", "unit_id text, kpi text, day date, window_days integer, "
                        "numerator double precision, denominator bigint, value double precision\n"},
        {"data_quality_daily", "day date, topic text, reason text, events bigint\n"},
        {"unknown_units", "unit_id text, first_seen timestamp with time zone, events bigint\n"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        for (int dash = 0; dash < 2; dash++) {
            char *got = columns_of(dash ? "gevinst_dash" : "gevinst", want[i].view);
            if (strcmp(got, want[i].columns) != 0)
                fail_msg("%s.%s: expected %sgot %s", dash ? "gevinst_dash" : "gevinst",
                         want[i].view, want[i].columns, got);
            free(got);
        }
    }
    /* The dash schema holds exactly these views, nothing else. */
    test_pg_expect_rows(
        conn,
        "SELECT string_agg(relname || ':' || relkind::text, ',' ORDER BY relname) FROM pg_class"
        " WHERE relnamespace = 'gevinst_dash'::regnamespace",
        "benefit_realized:v,data_quality_daily:v,goal:v,goal_status:v,kpi_daily:v,"
        "kpi_daily_rollup:v,kpi_monthly:v,kpi_rolling:v,kpi_weekly:v,unknown_units:v\n");
    /* pg_typeof on real rows agrees with the catalog. */
    test_pg_exec(conn,
                 "INSERT INTO gevinst.kpi_bucket VALUES ('u', 'no_show_rate', '2024-03-04', 1, 4)");
    test_pg_expect_rows(
        conn,
        "SELECT pg_typeof(unit_id), pg_typeof(kpi), pg_typeof(day), pg_typeof(numerator),"
        " pg_typeof(denominator), pg_typeof(value) FROM gevinst.kpi_daily",
        "text|text|date|double precision|bigint|double precision\n");
    test_pg_expect_rows(
        conn, "SELECT DISTINCT pg_typeof(window_days) FROM gevinst_dash.kpi_rolling", "integer\n");
}

static void test_daily(void **state)
{
    (void)state;
    test_pg_exec(
        conn,
        "INSERT INTO gevinst.kpi_bucket (unit_id, kpi, day, num, den) VALUES"
        " ('phr-ost', 'no_show_rate', '2024-03-04', 1, 4),"
        " ('phr-ost', 'no_show_rate', '2024-03-05', 0, 0),"              /* retracted */
        " ('phr-ost', 'ehr_active_minutes', '2024-03-04', 90000000, 2)," /* 1.5 min, 2 users */
        " ('phr-ost', 'double_documentation_minutes', '2024-03-04', 90000000, 3),"
        " ('phr-ost', 'double_documentation_minutes', '2024-03-06', 0, 2)," /* 0 min, 2 dups */
        " ('phr-ost', 'documentation_minutes', '2024-03-04', 30000000, 1),"
        " ('phr-ost', 'no_show_rate_self_booked', '2024-03-04', 1, 2),"
        " ('phr-ost', 'no_show_rate_staff_booked', '2024-03-04', 0, 2),"
        " ('phr-ost', 'double_documentation_share', '2024-03-04', 3, 8),"
        " ('phr', 'self_booking_share', '2024-03-04', 3, 4)");
    test_pg_exec(conn,
                 "INSERT INTO gevinst.unit VALUES ('phr', 'PHR', NULL), ('phr-ost', 'Øst', 'phr')");
    test_pg_expect_rows(conn, "SELECT * FROM gevinst.kpi_daily ORDER BY unit_id, kpi, day",
                        "phr|self_booking_share|2024-03-04|3|4|0.75\n"
                        "phr-ost|documentation_minutes|2024-03-04|0.5|1|0.5\n"
                        "phr-ost|double_documentation_minutes|2024-03-04|1.5|3|1.5\n"
                        "phr-ost|double_documentation_minutes|2024-03-06|0|2|0\n"
                        "phr-ost|double_documentation_share|2024-03-04|3|8|0.375\n"
                        "phr-ost|ehr_active_minutes|2024-03-04|1.5|2|0.75\n"
                        "phr-ost|no_show_rate|2024-03-04|1|4|0.25\n"
                        "phr-ost|no_show_rate_self_booked|2024-03-04|1|2|0.5\n"
                        "phr-ost|no_show_rate_staff_booked|2024-03-04|0|2|0\n");
    /* A minute KPI keeps microsecond precision. */
    test_pg_exec(conn, "UPDATE gevinst.kpi_bucket SET num = num + 1"
                       " WHERE unit_id = 'phr-ost' AND kpi = 'ehr_active_minutes'");
    test_pg_expect_rows(conn,
                        "SELECT numerator = 90000001 / 60e6::float8 FROM gevinst.kpi_daily"
                        " WHERE kpi = 'ehr_active_minutes'",
                        "t\n");
    /* Only the KPIs of kpis.md are accepted. */
    expect_error("INSERT INTO gevinst.kpi_bucket VALUES ('u', 'no_show', '2024-03-04', 1, 1)",
                 "23514");
}

static void test_rollup(void **state)
{
    (void)state;
    test_pg_exec(conn, "INSERT INTO gevinst.unit VALUES"
                       " ('hv', 'Helse og velferd', NULL),"
                       " ('phr', 'Psykisk helse og rus', 'hv'),"
                       " ('phr-ost', 'Poliklinikk øst', 'phr'),"
                       " ('phr-vest', 'Poliklinikk vest', 'phr'),"
                       " ('som', 'Somatikk', 'hv'),"
                       " ('som-a', 'Sengepost A', 'som'),"
                       " ('tom', 'No events', 'hv')");
    test_pg_exec(conn, "INSERT INTO gevinst.kpi_bucket (unit_id, kpi, day, num, den) VALUES"
                       " ('phr-ost', 'no_show_rate', '2024-03-04', 1, 4),"
                       " ('phr-vest', 'no_show_rate', '2024-03-04', 2, 8),"
                       " ('phr', 'no_show_rate', '2024-03-04', 1, 4)," /* events on an inner unit */
                       " ('som-a', 'no_show_rate', '2024-03-04', 3, 16),"
                       " ('ghost', 'no_show_rate', '2024-03-04', 5, 10)," /* not in the registry */
                       " ('phr-vest', 'no_show_rate', '2024-03-05', 0, 0),"
                       " ('phr-vest', 'ehr_active_minutes', '2024-03-05', 60000000, 1),"
                       " ('phr-ost', 'ehr_active_minutes', '2024-03-05', 30000000, 1)");
    /* hv: (1+2+1+3)/(4+8+4+16) = 0.21875, a ratio of sums; the mean of the
     * children's ratios would be 0.234375. */
    test_pg_expect_rows(conn, "SELECT * FROM gevinst.kpi_daily_rollup ORDER BY kpi, day, unit_id",
                        "hv|ehr_active_minutes|2024-03-05|1.5|2|0.75\n"
                        "phr|ehr_active_minutes|2024-03-05|1.5|2|0.75\n"
                        "phr-ost|ehr_active_minutes|2024-03-05|0.5|1|0.5\n"
                        "phr-vest|ehr_active_minutes|2024-03-05|1|1|1\n"
                        "ghost|no_show_rate|2024-03-04|5|10|0.5\n"
                        "hv|no_show_rate|2024-03-04|7|32|0.21875\n"
                        "phr|no_show_rate|2024-03-04|4|16|0.25\n"
                        "phr-ost|no_show_rate|2024-03-04|1|4|0.25\n"
                        "phr-vest|no_show_rate|2024-03-04|2|8|0.25\n"
                        "som|no_show_rate|2024-03-04|3|16|0.1875\n"
                        "som-a|no_show_rate|2024-03-04|3|16|0.1875\n");
    /* kpi_daily has the units the events named only. */
    test_pg_expect_rows(
        conn, "SELECT string_agg(DISTINCT unit_id, ',' ORDER BY unit_id) FROM gevinst.kpi_daily",
        "ghost,phr,phr-ost,phr-vest,som-a\n");
}

static void test_rollup_cycle(void **state)
{
    (void)state;
    /* The daemon rejects such a registry; the view must still end. */
    test_pg_exec(conn, "SET LOCAL statement_timeout = '10s'");
    test_pg_exec(conn, "INSERT INTO gevinst.unit VALUES ('c1', 'C1', 'c2'), ('c2', 'C2', 'c1'),"
                       " ('self', 'Self', 'self')");
    test_pg_exec(conn,
                 "INSERT INTO gevinst.kpi_bucket VALUES ('c1', 'no_show_rate', '2024-03-04', 1, 4),"
                 " ('self', 'no_show_rate', '2024-03-04', 1, 2)");
    test_pg_expect_rows(conn, "SELECT * FROM gevinst.kpi_daily_rollup ORDER BY unit_id",
                        "c1|no_show_rate|2024-03-04|1|4|0.25\n"
                        "c2|no_show_rate|2024-03-04|1|4|0.25\n"
                        "self|no_show_rate|2024-03-04|1|2|0.5\n");
}

static void test_weekly_monthly(void **state)
{
    (void)state;
    test_pg_exec(
        conn, "INSERT INTO gevinst.kpi_bucket (unit_id, kpi, day, num, den) VALUES"
              " ('u', 'no_show_rate', '2024-02-29', 1, 2)," /* Thursday, leap day */
              " ('u', 'no_show_rate', '2024-03-03', 1, 2)," /* Sunday: week of 2024-02-26 */
              " ('u', 'no_show_rate', '2024-03-04', 1, 4)," /* Monday */
              " ('u', 'no_show_rate', '2024-03-10', 1, 4)," /* Sunday, same week */
              " ('u', 'no_show_rate', '2024-12-30', 1, 4)," /* Monday of a week across New Year */
              " ('u', 'no_show_rate', '2025-01-05', 3, 4)," /* its Sunday */
              " ('u', 'no_show_rate', '2025-01-06', 1, 8)," /* next Monday */
              " ('u', 'no_show_rate', '2025-01-07', 0, 0)," /* retracted: no week of its own */
              " ('u', 'double_documentation_minutes', '2024-03-04', 30000000, 1),"
              " ('u', 'double_documentation_minutes', '2024-03-10', 60000000, 2),"
              " ('u', 'ehr_active_minutes', '2024-03-04', 120000000, 2),"
              " ('u', 'ehr_active_minutes', '2024-03-05', 60000000, 2)");
    test_pg_expect_rows(conn, "SELECT * FROM gevinst.kpi_weekly ORDER BY kpi, week_start",
                        "u|double_documentation_minutes|2024-03-04|1.5|3|1.5\n"
                        "u|ehr_active_minutes|2024-03-04|3|4|0.75\n"
                        "u|no_show_rate|2024-02-26|2|4|0.5\n"
                        "u|no_show_rate|2024-03-04|2|8|0.25\n"
                        "u|no_show_rate|2024-12-30|4|8|0.5\n"
                        "u|no_show_rate|2025-01-06|1|8|0.125\n");
    test_pg_expect_rows(conn, "SELECT * FROM gevinst.kpi_monthly ORDER BY kpi, month_start",
                        "u|double_documentation_minutes|2024-03-01|1.5|3|1.5\n"
                        "u|ehr_active_minutes|2024-03-01|3|4|0.75\n"
                        "u|no_show_rate|2024-02-01|1|2|0.5\n"
                        "u|no_show_rate|2024-03-01|3|10|0.3\n"
                        "u|no_show_rate|2024-12-01|1|4|0.25\n"
                        "u|no_show_rate|2025-01-01|4|12|0.3333333333333333\n");
    /* Week starts are Mondays whatever the session time zone. */
    test_pg_exec(conn, "SET LOCAL TimeZone = 'Pacific/Kiritimati'");
    test_pg_expect_rows(
        conn, "SELECT DISTINCT extract(isodow FROM week_start) FROM gevinst.kpi_weekly", "1\n");

    /* Weeks and months come from the rollup. */
    test_pg_exec(
        conn,
        "INSERT INTO gevinst.unit VALUES ('p', 'P', NULL), ('c1', 'C1', 'p'), ('c2', 'C2', 'p')");
    test_pg_exec(
        conn,
        "INSERT INTO gevinst.kpi_bucket VALUES ('c1', 'no_show_rate', '2024-03-04', 1, 4),"
        " ('c2', 'no_show_rate', '2024-03-08', 3, 4), ('c2', 'no_show_rate', '2024-04-01', 1, 2)");
    test_pg_expect_rows(conn,
                        "SELECT * FROM gevinst.kpi_weekly WHERE unit_id = 'p' ORDER BY week_start",
                        "p|no_show_rate|2024-03-04|4|8|0.5\n"
                        "p|no_show_rate|2024-04-01|1|2|0.5\n");
    test_pg_expect_rows(
        conn, "SELECT * FROM gevinst.kpi_monthly WHERE unit_id = 'p' ORDER BY month_start",
        "p|no_show_rate|2024-03-01|4|8|0.5\n"
        "p|no_show_rate|2024-04-01|1|2|0.5\n");
}

static void test_rolling(void **state)
{
    (void)state;
    /* Powers of two as denominators: each sum says which days it took. */
    test_pg_exec(conn, "INSERT INTO gevinst.kpi_bucket (unit_id, kpi, day, num, den) VALUES"
                       " ('u', 'no_show_rate', '2024-02-29', 1, 1)," /* day-28 of 03-28 */
                       " ('u', 'no_show_rate', '2024-03-01', 1, 2)," /* day-27 */
                       " ('u', 'no_show_rate', '2024-03-21', 1, 4)," /* day-7 */
                       " ('u', 'no_show_rate', '2024-03-22', 1, 8)," /* day-6 */
                       " ('u', 'no_show_rate', '2024-03-28', 1, 16),"
                       " ('u', 'no_show_rate', '2024-03-27', 0, 0)," /* retracted: no row */
                       " ('u', 'double_documentation_minutes', '2024-03-22', 60000000, 1),"
                       " ('u', 'double_documentation_minutes', '2024-03-28', 30000000, 1)");
    test_pg_expect_rows(conn,
                        "SELECT unit_id, kpi, day, window_days, numerator, denominator"
                        " FROM gevinst.kpi_rolling ORDER BY kpi, day, window_days",
                        "u|double_documentation_minutes|2024-03-22|7|1|1\n"
                        "u|double_documentation_minutes|2024-03-22|28|1|1\n"
                        "u|double_documentation_minutes|2024-03-28|7|1.5|2\n"
                        "u|double_documentation_minutes|2024-03-28|28|1.5|2\n"
                        "u|no_show_rate|2024-02-29|7|1|1\n"
                        "u|no_show_rate|2024-02-29|28|1|1\n"
                        "u|no_show_rate|2024-03-01|7|2|3\n"
                        "u|no_show_rate|2024-03-01|28|2|3\n"
                        "u|no_show_rate|2024-03-21|7|1|4\n"
                        "u|no_show_rate|2024-03-21|28|3|7\n"
                        "u|no_show_rate|2024-03-22|7|2|12\n"
                        "u|no_show_rate|2024-03-22|28|4|15\n"
                        "u|no_show_rate|2024-03-28|7|2|24\n"
                        "u|no_show_rate|2024-03-28|28|4|30\n");
    /* value: ratio of the window's sums; the sum KPI's value is its numerator. */
    test_pg_expect_rows(conn,
                        "SELECT count(*) FILTER (WHERE value IS DISTINCT FROM CASE kpi"
                        " WHEN 'double_documentation_minutes' THEN numerator"
                        " ELSE numerator / denominator END), count(*) FROM gevinst.kpi_rolling",
                        "0|14\n");
    test_pg_expect_rows(conn,
                        "SELECT value FROM gevinst.kpi_rolling"
                        " WHERE kpi = 'no_show_rate' AND day = '2024-03-28' AND window_days = 7",
                        "0.08333333333333333\n");

    /* Windows roll up the registry too. */
    test_pg_exec(conn, "INSERT INTO gevinst.unit VALUES ('p', 'P', NULL), ('c', 'C', 'p')");
    test_pg_exec(
        conn,
        "INSERT INTO gevinst.kpi_bucket VALUES ('c', 'no_show_rate', '2024-03-01', 1, 2),"
        " ('c', 'no_show_rate', '2024-03-07', 1, 2), ('c', 'no_show_rate', '2024-03-08', 1, 4)");
    test_pg_expect_rows(
        conn,
        "SELECT day, window_days, numerator, denominator, value FROM gevinst.kpi_rolling"
        " WHERE unit_id = 'p' ORDER BY day, window_days",
        "2024-03-01|7|1|2|0.5\n"
        "2024-03-01|28|1|2|0.5\n"
        "2024-03-07|7|2|4|0.5\n"
        "2024-03-07|28|2|4|0.5\n"
        "2024-03-08|7|2|6|0.3333333333333333\n"
        "2024-03-08|28|3|8|0.375\n");
}

static void test_dash_suppression(void **state)
{
    (void)state;
    test_pg_exec(
        conn,
        "INSERT INTO gevinst.unit VALUES ('p', 'P', NULL), ('u1', 'U1', 'p'), ('u2', 'U2', 'p')");
    test_pg_exec(conn, "INSERT INTO gevinst.kpi_bucket (unit_id, kpi, day, num, den) VALUES"
                       " ('u1', 'no_show_rate', '2024-03-04', 1, 4),"
                       " ('u2', 'no_show_rate', '2024-03-04', 2, 5),"
                       " ('u1', 'double_documentation_minutes', '2024-03-04', 60000000, 4)");
    /* The migration's default: 5. */
    test_pg_expect_rows(conn, "SELECT value FROM gevinst.setting WHERE key = 'min_cell_size'",
                        "5\n");
    test_pg_expect_rows(conn, "SELECT * FROM gevinst_dash.kpi_daily ORDER BY unit_id, kpi",
                        "u1|double_documentation_minutes|2024-03-04|NULL|4|NULL\n"
                        "u1|no_show_rate|2024-03-04|NULL|4|NULL\n"
                        "u2|no_show_rate|2024-03-04|2|5|0.4\n");
    test_pg_expect_rows(conn, "SELECT * FROM gevinst_dash.kpi_daily_rollup ORDER BY unit_id, kpi",
                        "p|double_documentation_minutes|2024-03-04|NULL|4|NULL\n"
                        "p|no_show_rate|2024-03-04|3|9|0.3333333333333333\n"
                        "u1|double_documentation_minutes|2024-03-04|NULL|4|NULL\n"
                        "u1|no_show_rate|2024-03-04|NULL|4|NULL\n"
                        "u2|no_show_rate|2024-03-04|2|5|0.4\n");
    test_pg_expect_rows(conn,
                        "SELECT * FROM gevinst_dash.kpi_weekly WHERE kpi = 'no_show_rate'"
                        " ORDER BY unit_id",
                        "p|no_show_rate|2024-03-04|3|9|0.3333333333333333\n"
                        "u1|no_show_rate|2024-03-04|NULL|4|NULL\n"
                        "u2|no_show_rate|2024-03-04|2|5|0.4\n");
    test_pg_expect_rows(conn,
                        "SELECT * FROM gevinst_dash.kpi_monthly WHERE kpi = 'no_show_rate'"
                        " ORDER BY unit_id",
                        "p|no_show_rate|2024-03-01|3|9|0.3333333333333333\n"
                        "u1|no_show_rate|2024-03-01|NULL|4|NULL\n"
                        "u2|no_show_rate|2024-03-01|2|5|0.4\n");
    test_pg_expect_rows(conn,
                        "SELECT * FROM gevinst_dash.kpi_rolling WHERE unit_id = 'u1'"
                        " AND kpi = 'no_show_rate' ORDER BY window_days",
                        "u1|no_show_rate|2024-03-04|7|NULL|4|NULL\n"
                        "u1|no_show_rate|2024-03-04|28|NULL|4|NULL\n");
    /* The exact figures stay in gevinst. */
    test_pg_expect_rows(conn,
                        "SELECT numerator, value FROM gevinst.kpi_daily"
                        " WHERE unit_id = 'u1' AND kpi = 'no_show_rate'",
                        "1|0.25\n");

    /* The daemon's setting drives it. */
    test_pg_exec(conn, "UPDATE gevinst.setting SET value = '4' WHERE key = 'min_cell_size'");
    test_pg_expect_rows(conn,
                        "SELECT unit_id, numerator, denominator, value FROM gevinst_dash.kpi_daily"
                        " WHERE kpi = 'no_show_rate' ORDER BY unit_id",
                        "u1|1|4|0.25\n"
                        "u2|2|5|0.4\n");
    test_pg_exec(conn, "UPDATE gevinst.setting SET value = '6' WHERE key = 'min_cell_size'");
    test_pg_expect_rows(conn,
                        "SELECT unit_id, numerator, denominator, value FROM gevinst_dash.kpi_daily"
                        " WHERE kpi = 'no_show_rate' ORDER BY unit_id",
                        "u1|NULL|4|NULL\n"
                        "u2|NULL|5|NULL\n");
    test_pg_expect_rows(conn,
                        "SELECT unit_id, numerator, denominator FROM gevinst_dash.kpi_daily_rollup"
                        " WHERE kpi = 'no_show_rate' AND unit_id = 'p'",
                        "p|3|9\n");
    /* Not a whole number, or missing: the default 5, never "show everything". */
    test_pg_exec(conn, "UPDATE gevinst.setting SET value = 'five' WHERE key = 'min_cell_size'");
    test_pg_expect_rows(conn,
                        "SELECT unit_id, numerator FROM gevinst_dash.kpi_daily"
                        " WHERE kpi = 'no_show_rate' ORDER BY unit_id",
                        "u1|NULL\n"
                        "u2|2\n");
    test_pg_exec(conn, "DELETE FROM gevinst.setting WHERE key = 'min_cell_size'");
    test_pg_expect_rows(conn,
                        "SELECT unit_id, numerator FROM gevinst_dash.kpi_daily"
                        " WHERE kpi = 'no_show_rate' ORDER BY unit_id",
                        "u1|NULL\n"
                        "u2|2\n");
}

static void test_dash_copies(void **state)
{
    (void)state;
    test_pg_exec(
        conn,
        "INSERT INTO gevinst.intake_daily VALUES ('2024-03-04', 'ehr.appointments', 'accepted',"
        " 100), ('2024-03-04', 'ehr.appointments', 'invalid_json', 2),"
        " ('2024-03-05', 'ehr.journal', 'late_event', 1)");
    test_pg_exec(conn, "INSERT INTO gevinst.unit VALUES ('known', 'Known', NULL)");
    test_pg_exec(conn, "INSERT INTO gevinst.unit_seen VALUES ('known', '2024-03-04 08:00+00', 5),"
                       " ('ghost', '2024-03-04 09:00+00', 3)");
    test_pg_expect_rows(conn, "SELECT * FROM gevinst_dash.data_quality_daily ORDER BY day",
                        "2024-03-04|ehr.appointments|invalid_json|2\n"
                        "2024-03-05|ehr.journal|late_event|1\n");
    test_pg_expect_rows(conn, "SELECT unit_id, events FROM gevinst_dash.unknown_units",
                        "ghost|3\n");
    test_pg_expect_rows(
        conn,
        "SELECT (SELECT count(*) FROM (SELECT * FROM gevinst.data_quality_daily EXCEPT ALL"
        " SELECT * FROM gevinst_dash.data_quality_daily) a),"
        " (SELECT count(*) FROM (SELECT * FROM gevinst.unknown_units EXCEPT ALL"
        " SELECT * FROM gevinst_dash.unknown_units) b)",
        "0|0\n");
}

/* The statements proposed to the lead for the reader role, for a role name
 * escaped with PQescapeIdentifier. */
static void create_reader_role(const char *name)
{
    char *ident = PQescapeIdentifier(conn, name, strlen(name));
    assert_non_null(ident);
    const char *params[1] = {name};
    PGresult *res = PQexecParams(conn, "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", 1,
                                 NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    bool exists = PQntuples(res) > 0;
    PQclear(res);
    static const struct {
        const char *before, *after;
    } stmts[] = {
        {"CREATE ROLE ", " NOLOGIN"},
        {"REVOKE ALL ON SCHEMA gevinst FROM ", ""},
        {"REVOKE ALL ON ALL TABLES IN SCHEMA gevinst FROM ", ""},
        {"REVOKE ALL ON ALL SEQUENCES IN SCHEMA gevinst FROM ", ""},
        {"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA gevinst FROM ", ""},
        {"GRANT USAGE ON SCHEMA gevinst_dash TO ", ""},
        {"GRANT SELECT ON ALL TABLES IN SCHEMA gevinst_dash TO ", ""},
    };
    for (size_t i = exists ? 1 : 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
        char sql[256];
        snprintf(sql, sizeof(sql), "%s%s%s", stmts[i].before, ident, stmts[i].after);
        test_pg_exec(conn, sql);
    }
    PQfreemem(ident);
}

static void test_reader_role(void **state)
{
    (void)state;
    test_pg_exec(conn,
                 "INSERT INTO gevinst.kpi_bucket VALUES ('u', 'no_show_rate', '2024-03-04', 2, 5),"
                 " ('secret-unit', 'no_show_rate', '2024-03-04', 0, 0)");
    test_pg_exec(conn,
                 "INSERT INTO gevinst.intake_daily VALUES ('2024-03-04', 't', 'accepted', 12345),"
                 " ('2024-03-04', 't', 'invalid_json', 7)");
    create_reader_role("gevinst_reader_test");
    create_reader_role("gevinst_reader_test"); /* idempotent: a restart runs it again */
    test_pg_expect_rows(
        conn, "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'gevinst_reader_test'", "f\n");

    test_pg_exec(conn, "SET ROLE gevinst_reader_test");
    static const char *const dash[] = {"kpi_daily",    "kpi_daily_rollup", "kpi_weekly",
                                       "kpi_monthly",  "kpi_rolling",      "data_quality_daily",
                                       "unknown_units"};
    for (size_t i = 0; i < sizeof(dash) / sizeof(dash[0]); i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT count(*) > 0 FROM gevinst_dash.%s", dash[i]);
        test_pg_expect_rows(conn, sql, strcmp(dash[i], "unknown_units") == 0 ? "f\n" : "t\n");
    }
    test_pg_expect_rows(conn, "SELECT * FROM gevinst_dash.kpi_daily",
                        "u|no_show_rate|2024-03-04|2|5|0.4\n");
    expect_error("SELECT * FROM gevinst.kpi_bucket", "42501");
    expect_error("SELECT * FROM gevinst.kpi_daily", "42501");
    expect_error("SELECT * FROM gevinst.setting", "42501");
    expect_error("UPDATE gevinst.setting SET value = '0'", "42501");
    expect_error("DELETE FROM gevinst_dash.data_quality_daily", "42501");

    /* A cheap leaky function in the reader's own temp schema must not see the
     * rows the views filter out (security_barrier). */
    test_pg_exec(conn,
                 "CREATE FUNCTION pg_temp.leak_text(text) RETURNS boolean LANGUAGE plpgsql"
                 " COST 0.0000001 AS $$ BEGIN RAISE NOTICE 'leak:%', $1; RETURN true; END $$");
    test_pg_exec(conn,
                 "CREATE FUNCTION pg_temp.leak_int(bigint) RETURNS boolean LANGUAGE plpgsql"
                 " COST 0.0000001 AS $$ BEGIN RAISE NOTICE 'leak:%', $1; RETURN true; END $$");
    notices[0] = '\0';
    test_pg_expect_rows(
        conn, "SELECT count(*) FROM gevinst_dash.kpi_daily WHERE pg_temp.leak_text(unit_id)",
        "1\n");
    test_pg_expect_rows(conn,
                        "SELECT count(*) FROM gevinst_dash.data_quality_daily"
                        " WHERE pg_temp.leak_int(events)",
                        "1\n");
    assert_non_null(strstr(notices, "leak:u\n"));
    assert_non_null(strstr(notices, "leak:7\n"));
    if (strstr(notices, "secret-unit") || strstr(notices, "12345"))
        fail_msg("a leaky function saw filtered rows:\n%s", notices);
    test_pg_exec(conn, "RESET ROLE");
}

static void test_comments(void **state)
{
    (void)state;
    /* Every view and every column of every view, in both schemas. */
    test_pg_expect_rows(conn,
                        "SELECT coalesce(string_agg(what, ', ' ORDER BY what), 'none') FROM ("
                        " SELECT c.oid::regclass::text AS what FROM pg_class c"
                        " WHERE c.relkind = 'v' AND c.relnamespace IN"
                        "  ('gevinst'::regnamespace, 'gevinst_dash'::regnamespace)"
                        "  AND coalesce(obj_description(c.oid, 'pg_class'), '') = ''"
                        " UNION ALL"
                        " SELECT c.oid::regclass::text || '.' || a.attname FROM pg_class c"
                        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
                        "  AND NOT a.attisdropped"
                        " WHERE c.relkind = 'v' AND c.relnamespace IN"
                        "  ('gevinst'::regnamespace, 'gevinst_dash'::regnamespace)"
                        "  AND coalesce(col_description(c.oid, a.attnum), '') = '') m",
                        "none\n");
    /* There is something to check: the 10 public views in each schema (the 7 of
     * kpis.md and the goal, goal_status and benefit_realized of goals.md). */
    test_pg_expect_rows(conn,
                        "SELECT count(*) FROM pg_class WHERE relkind = 'v' AND relnamespace ="
                        " 'gevinst_dash'::regnamespace AND relname IN (SELECT relname FROM pg_class"
                        " WHERE relnamespace = 'gevinst'::regnamespace)",
                        "10\n");
    /* The dash comments state the suppression rule. */
    test_pg_expect_rows(conn,
                        "SELECT count(*) FROM pg_attribute a WHERE a.attrelid IN (SELECT oid FROM"
                        " pg_class WHERE relnamespace = 'gevinst_dash'::regnamespace)"
                        " AND a.attname IN ('numerator', 'value')"
                        " AND col_description(a.attrelid, a.attnum) LIKE '%minimum cell size%'",
                        "11\n");
    /* Every dash view is a security barrier. */
    test_pg_expect_rows(
        conn,
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'gevinst_dash'::regnamespace"
        " AND 'security_barrier=true' = ANY (reloptions)",
        "10\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_column_types, begin, rollback),
        cmocka_unit_test_setup_teardown(test_daily, begin, rollback),
        cmocka_unit_test_setup_teardown(test_rollup, begin, rollback),
        cmocka_unit_test_setup_teardown(test_rollup_cycle, begin, rollback),
        cmocka_unit_test_setup_teardown(test_weekly_monthly, begin, rollback),
        cmocka_unit_test_setup_teardown(test_rolling, begin, rollback),
        cmocka_unit_test_setup_teardown(test_dash_suppression, begin, rollback),
        cmocka_unit_test_setup_teardown(test_dash_copies, begin, rollback),
        cmocka_unit_test_setup_teardown(test_reader_role, begin, rollback),
        cmocka_unit_test_setup_teardown(test_comments, begin, rollback),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
