/* judge_run (src/judge.c) and sql/008_judgement.sql against a real
 * PostgreSQL: goal_status, goal, benefit_realized from kpi_bucket rows; an
 * injected shift raises kpi.special_cause with its outbox rows; common-cause
 * noise raises nothing; a second run changes nothing; late data resolves or
 * withdraws (a withdrawal row only when the firing was delivered); old
 * periods are suppressed; data.silence and data.rejections; the lock and
 * the caller's transaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gevinst/goals.h"
#include "gevinst/judge.h"
#include "gevinst/store.h"
#include "gevinst/timeutil.h"
#include "test_util.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static store_t *st;
static goals_t *goals;

static double value(const char *sql)
{
    PGresult *res = PQexec(store_conn(st), sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fail_msg("%s\n-> %s (%d rows)", sql, PQerrorMessage(store_conn(st)), PQntuples(res));
    double v = PQgetisnull(res, 0, 0) ? NAN : strtod(PQgetvalue(res, 0, 0), NULL);
    PQclear(res);
    return v;
}

static void expect_near(const char *sql, double want)
{
    double got = value(sql);
    if (!(fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want))))
        fail_msg("%s\ngot %.17g, want %.17g", sql, got, want);
}

static int64_t ts(const char *s)
{
    int64_t us = 0;
    if (!timeutil_parse_rfc3339(s, strlen(s), &us))
        fail_msg("bad time %s", s);
    return us;
}

/* ------------------------------------------------------------- fixtures */

static const char *goals_json =
    "{'units': ["
    "  {'id': 'hov', 'name': 'Helse og velferd'},"
    "  {'id': 'klinikk-a', 'name': 'Klinikk A', 'parent': 'hov'},"
    "  {'id': 'klinikk-b', 'name': 'Klinikk B', 'parent': 'hov'}],"
    " 'owners': ["
    "  {'id': 'leder', 'name': 'Kari Nordmann', 'email': 'kari@example.org',"
    "   'webhook': 'https://hooks.example.org/kari'},"
    "  {'id': 'data', 'name': 'Data team', 'email': 'data@example.org'}],"
    " 'goals': ["
    "  {'id': 'a-noshow', 'unit': 'klinikk-a', 'kpi': 'no_show_rate', 'direction': 'decrease',"
    "   'baseline': {'from': '2023-01-01', 'to': '2023-06-30'},"
    "   'target': {'value': 0.05, 'date': '2024-12-31'}, 'tolerance': 0.01, 'owner': 'leder',"
    "   'benefit': {'type': 'avoided_cost', 'nok_per_unit': 900}},"
    "  {'id': 'b-noshow', 'unit': 'klinikk-b', 'kpi': 'no_show_rate', 'direction': 'decrease',"
    "   'baseline': {'from': '2023-01-01', 'to': '2023-06-30'},"
    "   'target': {'value': 0.05, 'date': '2024-12-31'}, 'owner': 'leder'},"
    "  {'id': 'hov-noshow', 'unit': 'hov', 'kpi': 'no_show_rate', 'direction': 'decrease',"
    "   'baseline': {'from': '2023-01-01', 'to': '2023-06-30'},"
    "   'target': {'value': 0.05, 'date': '2024-12-31'}, 'owner': 'leder'}]}";

static goals_t *parse_sq(const char *json_sq)
{
    char *text = strdup(json_sq);
    assert_non_null(text);
    for (char *p = text; *p; p++)
        if (*p == '\'')
            *p = '"';
    char *errors = NULL;
    int count = -1;
    goals_t *g = goals_parse("goals.json", text, strlen(text), &errors, &count);
    if (!g)
        fail_msg("goals file refused (%d):\n%s", count, errors ? errors : "");
    free(text);
    return g;
}

static judge_conf_t conf(void)
{
    judge_conf_t c;
    judge_conf_defaults(&c);
    c.timezone = "Europe/Oslo";
    c.data_team_owner = "data";
    c.dashboard_url = "https://dash.example.org/gevinst";
    c.smtp_url = "smtp://127.0.0.1:2525";
    c.topic_alerts = "gevinst.alerts";
    return c;
}

static judge_stats_t judge_at(const goals_t *g, const char *now)
{
    judge_conf_t c = conf();
    judge_stats_t stats;
    char errstr[1024];
    bool retriable = true;
    if (!judge_run(st, g, &c, ts(now), &stats, &retriable, errstr, sizeof(errstr)))
        fail_msg("judge_run: %s", errstr);
    assert_false(retriable);
    return stats;
}

static void bucket(const char *unit, const char *day, int num, int den)
{
    test_pg_execf(
        store_conn(st),
        "INSERT INTO gevinst.kpi_bucket (unit_id, kpi, day, num, den) "
        "VALUES ('%s', 'no_show_rate', '%s', %d, %d) "
        "ON CONFLICT (unit_id, kpi, day) DO UPDATE SET num = EXCLUDED.num, den = EXCLUDED.den",
        unit, day, num, den);
}

static void clock(const char *role, const char *time)
{
    test_pg_execf(store_conn(st),
                  "INSERT INTO gevinst.event_clock (role, max_time) VALUES ('%s', '%s') "
                  "ON CONFLICT (role) DO UPDATE SET max_time = EXCLUDED.max_time",
                  role, time);
}

/* Baseline Jan..Jun 2023 as in test_spc's p' case: center 0.1, sigma_z
 * 22/15/1.128, limits 0.1 -+ 0.117 at n = 100. Each month's count sits on
 * two days so the monthly sums are tested too. */
static void baseline(const char *unit)
{
    static const int num[] = {10, 14, 6, 10, 12, 8};
    char d1[16], d2[16];
    for (int m = 0; m < 6; m++) {
        snprintf(d1, sizeof(d1), "2023-%02d-03", m + 1);
        snprintf(d2, sizeof(d2), "2023-%02d-20", m + 1);
        bucket(unit, d1, num[m] / 2, 50);
        bucket(unit, d2, num[m] - num[m] / 2, 50);
    }
}

static int reset(void **state)
{
    (void)state;
    test_pg_exec(
        store_conn(st),
        "TRUNCATE gevinst.kpi_bucket, gevinst.event_clock, gevinst.unit_role_clock, "
        "gevinst.intake_daily, gevinst.alert_state, gevinst.alert_outbox, gevinst.goal_period, "
        "gevinst.goal_result, gevinst.judge_state CASCADE");
    return 0;
}

/* The shift: klinikk-a at 0.3 in July and August (above the upper limit
 * 0.217), klinikk-b at common-cause noise 0.11 and 0.09. The clock at local
 * midnight of September 3 (Aug 31 + 1 + grace 2) closes August. */
static void shift_data(void)
{
    baseline("klinikk-a");
    baseline("klinikk-b");
    bucket("klinikk-a", "2023-07-10", 30, 100);
    bucket("klinikk-a", "2023-08-10", 30, 100);
    bucket("klinikk-a", "2023-09-01", 40, 100); /* open */
    bucket("klinikk-b", "2023-07-10", 11, 100);
    bucket("klinikk-b", "2023-08-10", 9, 100);
    clock("appointments", "2023-09-03T00:00:00+02:00");
}

#define SC_ALERT                                                                                   \
    "SELECT state, period_start, period_end, round(actual::numeric, 6), "                          \
    "round(expected::numeric, 6), detail->>'revision', detail->>'run_length', "                    \
    "detail->>'last_period_start' FROM gevinst.alert "                                             \
    "WHERE goal_id = 'a-noshow' AND kind = 'kpi.special_cause'"
#define SC_OUTBOX                                                                                  \
    "SELECT o.revision, o.channel, o.target, o.status FROM gevinst.alert_outbox o "                \
    "JOIN gevinst.alert_state s USING (alert_id) "                                                 \
    "WHERE s.goal_id = 'a-noshow' AND s.kind = 'kpi.special_cause' "                               \
    "ORDER BY o.revision, o.channel"

/* ------------------------------------------------------------------ tests */

static void test_views_and_shift(void **state)
{
    (void)state;
    shift_data();
    judge_stats_t s = judge_at(goals, "2023-09-05T12:00:00Z");
    assert_int_equal(s.goals, 3);

    /* goal_status: one row per period with data, closed or not. */
    test_pg_expect_rows(store_conn(st),
                        "SELECT period_start, period_end, closed, numerator, denominator, actual, "
                        "behind_plan FROM gevinst.goal_status WHERE goal_id = 'a-noshow' "
                        "ORDER BY period_start",
                        "2023-01-01|2023-01-31|t|10|100|0.1|f\n"
                        "2023-02-01|2023-02-28|t|14|100|0.14|t\n"
                        "2023-03-01|2023-03-31|t|6|100|0.06|f\n"
                        "2023-04-01|2023-04-30|t|10|100|0.1|f\n"
                        "2023-05-01|2023-05-31|t|12|100|0.12|t\n"
                        "2023-06-01|2023-06-30|t|8|100|0.08|f\n"
                        "2023-07-01|2023-07-31|t|30|100|0.3|t\n"
                        "2023-08-01|2023-08-31|t|30|100|0.3|t\n"
                        "2023-09-01|2023-09-30|f|40|100|0.4|NULL\n");
    double sz = 22.0 / 15.0 / 1.128;
    expect_near("SELECT ucl FROM gevinst.goal_status WHERE goal_id = 'a-noshow' "
                "AND period_start = '2023-07-01'",
                0.1 + 3 * sz * 0.03);
    expect_near("SELECT lcl FROM gevinst.goal_status WHERE goal_id = 'a-noshow' "
                "AND period_start = '2023-07-01'",
                0.1 - 3 * sz * 0.03);
    /* planned: 31 of 550 days from 2023-06-30 to 2024-12-31. */
    expect_near("SELECT planned FROM gevinst.goal_status WHERE goal_id = 'a-noshow' "
                "AND period_start = '2023-07-01'",
                0.1 - 0.05 * 31 / 550);
    expect_near("SELECT gap FROM gevinst.goal_status WHERE goal_id = 'a-noshow' "
                "AND period_start = '2023-07-01'",
                0.3 - (0.1 - 0.05 * 31 / 550));
    /* The rollup: hov sums both clinics. */
    test_pg_expect_rows(store_conn(st),
                        "SELECT numerator, denominator FROM gevinst.goal_status "
                        "WHERE goal_id = 'hov-noshow' AND period_start = '2023-07-01'",
                        "41|200\n");

    /* goal: center from data, tolerance given or 10% of |target - center|. */
    test_pg_expect_rows(
        store_conn(st),
        "SELECT goal_id, unit_id, kpi, direction, period, baseline_from, baseline_to, "
        "round(center::numeric, 9), target_value, target_date, "
        "round(tolerance::numeric, 9), owner_id, benefit_type "
        "FROM gevinst.goal ORDER BY goal_id",
        "a-noshow|klinikk-a|no_show_rate|decrease|month|2023-01-01|2023-06-30|"
        "0.100000000|0.05|2024-12-31|0.010000000|leder|avoided_cost\n"
        "b-noshow|klinikk-b|no_show_rate|decrease|month|2023-01-01|2023-06-30|"
        "0.100000000|0.05|2024-12-31|0.005000000|leder|NULL\n"
        "hov-noshow|hov|no_show_rate|decrease|month|2023-01-01|2023-06-30|"
        "0.100000000|0.05|2024-12-31|0.005000000|leder|NULL\n");

    /* benefit_realized: (0.1 - 0.3) x 100 = -20 no-shows, x 900 NOK. */
    test_pg_expect_rows(store_conn(st),
                        "SELECT period_start, round(avoided_units::numeric, 6), minutes_saved, "
                        "round(nok_saved::numeric, 3), round(nok_saved_cumulative::numeric, 3) "
                        "FROM gevinst.benefit_realized WHERE goal_id = 'a-noshow' ORDER BY 1",
                        "2023-07-01|-20.000000|NULL|-18000.000|-18000.000\n"
                        "2023-08-01|-20.000000|NULL|-18000.000|-36000.000\n");

    /* The shift: one special-cause episode keyed by July, firing (August is
     * the latest closed point); expected = center. */
    test_pg_expect_rows(store_conn(st), SC_ALERT,
                        "firing|2023-07-01|2023-07-31|0.300000|0.100000|1|2|2023-08-01\n");
    test_pg_expect_rows(store_conn(st), SC_OUTBOX,
                        "1|email|kari@example.org|pending\n"
                        "1|kafka|gevinst.alerts|pending\n"
                        "1|webhook|https://hooks.example.org/kari|pending\n");
    test_pg_expect_rows(
        store_conn(st),
        "SELECT detail->>'unit_name', detail->>'kpi', detail->>'dashboard_url', "
        "detail->>'target_date', detail->>'chart', "
        "(detail->'benefit'->>'nok_saved_cumulative')::float8 "
        "FROM gevinst.alert WHERE goal_id = 'a-noshow' AND kind = 'kpi.special_cause'",
        "Klinikk A|no_show_rate|https://dash.example.org/gevinst|2024-12-31|"
        "laney_p_prime|-36000\n");
    /* Common-cause noise: nothing for klinikk-b. The hov rollup (0.205 in
     * July at n = 200) is inside its limits too. */
    test_pg_expect_rows(store_conn(st),
                        "SELECT count(*) FROM gevinst.alert WHERE goal_id = 'b-noshow'", "0\n");
    assert_int_equal(s.outbox_pending, 3);
    assert_int_equal(s.alerts_firing, 1);

    /* A second run with nothing new changes nothing. */
    s = judge_at(goals, "2023-09-05T12:05:00Z");
    assert_int_equal(s.alerts_new, 0);
    assert_int_equal(s.alerts_changed, 0);
    assert_int_equal(s.outbox_pending, 0);
    test_pg_expect_rows(store_conn(st), SC_ALERT,
                        "firing|2023-07-01|2023-07-31|0.300000|0.100000|1|2|2023-08-01\n");
    test_pg_expect_rows(store_conn(st), "SELECT count(*) FROM gevinst.alert_outbox", "3\n");

    /* September closes at 0.1: the episode is resolved (revision 2), and the
     * resolution is sent. Three behind-plan points would be off track; two
     * with a third on plan are not. */
    bucket("klinikk-a", "2023-09-01", 10, 100);
    clock("appointments", "2023-10-03T00:00:00+02:00");
    judge_at(goals, "2023-10-04T08:00:00Z");
    test_pg_expect_rows(store_conn(st), SC_ALERT,
                        "resolved|2023-07-01|2023-07-31|0.300000|0.100000|2|2|2023-08-01\n");
    test_pg_expect_rows(store_conn(st), SC_OUTBOX,
                        "1|email|kari@example.org|pending\n"
                        "1|kafka|gevinst.alerts|pending\n"
                        "1|webhook|https://hooks.example.org/kari|pending\n"
                        "2|email|kari@example.org|pending\n"
                        "2|kafka|gevinst.alerts|pending\n"
                        "2|webhook|https://hooks.example.org/kari|pending\n");
    test_pg_expect_rows(store_conn(st),
                        "SELECT detail->>'resolved_by_period_start' FROM gevinst.alert "
                        "WHERE goal_id = 'a-noshow' AND kind = 'kpi.special_cause'",
                        "2023-09-01\n");
    test_pg_expect_rows(store_conn(st),
                        "SELECT count(*) FROM gevinst.alert WHERE kind = 'goal.off_track' "
                        "AND goal_id = 'a-noshow'",
                        "0\n");
}

static void test_clock_boundary(void **state)
{
    (void)state;
    shift_data();
    /* One microsecond before local midnight of September 3: August is open. */
    clock("appointments", "2023-09-02T23:59:59.999999+02:00");
    judge_at(goals, "2023-09-05T12:00:00Z");
    test_pg_expect_rows(store_conn(st),
                        "SELECT closed FROM gevinst.goal_status WHERE goal_id = 'a-noshow' "
                        "AND period_start = '2023-08-01'",
                        "f\n");
    test_pg_expect_rows(store_conn(st), SC_ALERT,
                        "firing|2023-07-01|2023-07-31|0.300000|0.100000|1|1|2023-07-01\n");
    /* No clock for the role at all: nothing is closed, nothing judged. */
    test_pg_exec(store_conn(st), "DELETE FROM gevinst.event_clock");
    judge_at(goals, "2023-09-05T12:00:00Z");
    test_pg_expect_rows(store_conn(st), "SELECT count(*) FROM gevinst.goal_status WHERE closed",
                        "0\n");
    test_pg_expect_rows(
        store_conn(st),
        "SELECT round(center::numeric, 3) FROM gevinst.goal WHERE goal_id = 'a-noshow'", "NULL\n");
    /* The alert's grounds are gone: withdrawn, not deleted; never delivered,
     * so no withdrawal is sent. (The firing, about July, which ended more
     * than 14 days before, was recorded as suppressed.) */
    test_pg_expect_rows(
        store_conn(st),
        "SELECT state, revision FROM gevinst.alert_state WHERE goal_id = 'a-noshow'",
        "withdrawn|2\n");
    test_pg_expect_rows(store_conn(st), SC_OUTBOX,
                        "1|email|kari@example.org|suppressed\n"
                        "1|kafka|gevinst.alerts|suppressed\n"
                        "1|webhook|https://hooks.example.org/kari|suppressed\n");
}

/* Late data removes the grounds of an alert that was delivered. */
static void test_withdrawn_after_delivery(void **state)
{
    (void)state;
    shift_data();
    judge_at(goals, "2023-09-05T12:00:00Z");
    test_pg_exec(store_conn(st),
                 "UPDATE gevinst.alert_outbox SET status = 'delivered', attempts = 1, "
                 "delivered_at = now()");
    /* Late data: July and August were ordinary after all. */
    bucket("klinikk-a", "2023-07-10", 10, 100);
    bucket("klinikk-a", "2023-08-10", 11, 100);
    judge_stats_t s = judge_at(goals, "2023-09-05T13:00:00Z");
    assert_int_equal(s.alerts_withdrawn, 1);
    test_pg_expect_rows(store_conn(st),
                        "SELECT state, revision, detail->>'state', detail->>'revision', "
                        "detail->>'withdrawn_from' FROM gevinst.alert_state "
                        "WHERE goal_id = 'a-noshow' AND kind = 'kpi.special_cause'",
                        "withdrawn|2|withdrawn|2|firing\n");
    test_pg_expect_rows(store_conn(st), SC_OUTBOX,
                        "1|email|kari@example.org|delivered\n"
                        "1|kafka|gevinst.alerts|delivered\n"
                        "1|webhook|https://hooks.example.org/kari|delivered\n"
                        "2|email|kari@example.org|pending\n"
                        "2|kafka|gevinst.alerts|pending\n"
                        "2|webhook|https://hooks.example.org/kari|pending\n");
    /* Again: nothing more. */
    s = judge_at(goals, "2023-09-05T13:05:00Z");
    assert_int_equal(s.alerts_changed, 0);
    test_pg_expect_rows(store_conn(st), "SELECT count(*) FROM gevinst.alert_outbox", "6\n");

    /* The shift comes back with later data: firing again, revision 3, sent. */
    bucket("klinikk-a", "2023-07-10", 30, 100);
    bucket("klinikk-a", "2023-08-10", 30, 100);
    judge_at(goals, "2023-09-05T14:00:00Z");
    test_pg_expect_rows(store_conn(st),
                        "SELECT state, revision FROM gevinst.alert_state "
                        "WHERE goal_id = 'a-noshow' AND kind = 'kpi.special_cause'",
                        "firing|3\n");
    test_pg_expect_rows(store_conn(st),
                        "SELECT count(*) FROM gevinst.alert_outbox WHERE revision = 3", "3\n");
}

/* Late data removes the grounds before anything was delivered. */
static void test_withdrawn_undelivered(void **state)
{
    (void)state;
    shift_data();
    judge_at(goals, "2023-09-05T12:00:00Z");
    bucket("klinikk-a", "2023-07-10", 10, 100);
    bucket("klinikk-a", "2023-08-10", 11, 100);
    judge_at(goals, "2023-09-05T13:00:00Z");
    test_pg_expect_rows(store_conn(st),
                        "SELECT state, revision FROM gevinst.alert_state "
                        "WHERE goal_id = 'a-noshow' AND kind = 'kpi.special_cause'",
                        "withdrawn|2\n");
    test_pg_expect_rows(store_conn(st), SC_OUTBOX,
                        "1|email|kari@example.org|pending\n"
                        "1|kafka|gevinst.alerts|pending\n"
                        "1|webhook|https://hooks.example.org/kari|pending\n");
}

/* A backfill: the same history judged long after is recorded, not sent. */
static void test_suppressed_when_old(void **state)
{
    (void)state;
    shift_data();
    judge_stats_t s = judge_at(goals, "2024-06-01T12:00:00Z");
    test_pg_expect_rows(store_conn(st), SC_ALERT,
                        "firing|2023-07-01|2023-07-31|0.300000|0.100000|1|2|2023-08-01\n");
    test_pg_expect_rows(store_conn(st), SC_OUTBOX,
                        "1|email|kari@example.org|suppressed\n"
                        "1|kafka|gevinst.alerts|suppressed\n"
                        "1|webhook|https://hooks.example.org/kari|suppressed\n");
    assert_int_equal(s.outbox_pending, 0);
    assert_int_equal(s.outbox_suppressed, 3);
    /* The edge: 14 days after August 31 is still sent, 15 is not. */
    reset(NULL);
    shift_data();
    judge_at(goals, "2023-09-14T12:00:00+02:00");
    test_pg_expect_rows(store_conn(st), "SELECT DISTINCT status FROM gevinst.alert_outbox",
                        "pending\n");
    reset(NULL);
    shift_data();
    judge_at(goals, "2023-09-15T12:00:00+02:00");
    test_pg_expect_rows(store_conn(st), "SELECT DISTINCT status FROM gevinst.alert_outbox",
                        "suppressed\n");
}

static void test_off_track_and_achieved(void **state)
{
    (void)state;
    /* klinikk-a behind plan for three months: goal.off_track keyed by the
     * third (September), firing, expected = planned. */
    baseline("klinikk-a");
    bucket("klinikk-a", "2023-07-10", 13, 100);
    bucket("klinikk-a", "2023-08-10", 13, 100);
    bucket("klinikk-a", "2023-09-10", 13, 100);
    clock("appointments", "2023-10-05T00:00:00+02:00");
    judge_at(goals, "2023-10-05T12:00:00Z");
    test_pg_expect_rows(store_conn(st),
                        "SELECT state, period_start, detail->>'run_length', detail->>'rule' "
                        "FROM gevinst.alert WHERE goal_id = 'a-noshow' AND kind = 'goal.off_track'",
                        "firing|2023-09-01|3|3 consecutive periods behind plan by more than the "
                        "tolerance 0.01\n");
    /* planned for September: 0.1 - 0.05 x 92/550 */
    expect_near("SELECT expected FROM gevinst.alert WHERE goal_id = 'a-noshow' "
                "AND kind = 'goal.off_track'",
                0.1 - 0.05 * 92 / 550);
    /* Three months at 0.04: the goal is achieved (notice, once) and the
     * off-track run is resolved by October. */
    bucket("klinikk-a", "2023-10-10", 4, 100);
    bucket("klinikk-a", "2023-11-10", 4, 100);
    bucket("klinikk-a", "2023-12-10", 4, 100);
    bucket("klinikk-a", "2024-01-10", 4, 100);
    clock("appointments", "2024-02-05T00:00:00+01:00");
    judge_at(goals, "2024-02-05T12:00:00Z");
    test_pg_expect_rows(
        store_conn(st),
        "SELECT kind, state, period_start FROM gevinst.alert WHERE goal_id = 'a-noshow' "
        "AND kind LIKE 'goal.%' ORDER BY kind",
        "goal.achieved|notice|2023-12-01\n"
        "goal.off_track|resolved|2023-09-01\n");
    test_pg_expect_rows(
        store_conn(st),
        "SELECT o.status, count(*) FROM gevinst.alert_outbox o "
        "JOIN gevinst.alert_state s USING (alert_id) WHERE s.kind = 'goal.achieved' "
        "AND s.goal_id = 'a-noshow' "
        "GROUP BY 1",
        "suppressed|3\n"); /* December ended 36 days before */
}

static void test_data_silence(void **state)
{
    (void)state;
    clock("appointments", "2023-09-03T00:00:00+02:00");
    /* klinikk-a: quiet 3.6 days (> 3): silent. klinikk-b: 12 hours: fine.
     * gammel: quiet 60 days: not active in the previous 28, no alert. */
    test_pg_exec(
        store_conn(st),
        "INSERT INTO gevinst.unit_role_clock (unit_id, role, first_time, last_time) VALUES "
        "('klinikk-a', 'appointments', '2023-01-01T08:00:00Z', '2023-08-30T08:00:00Z'),"
        "('klinikk-b', 'appointments', '2023-01-01T08:00:00Z', '2023-09-02T10:00:00Z'),"
        "('gammel', 'appointments', '2023-01-01T08:00:00Z', '2023-07-05T10:00:00Z')");
    judge_at(goals, "2023-09-03T12:00:00Z");
    test_pg_expect_rows(store_conn(st),
                        "SELECT goal_id, unit_id, kind, state, period_start, period_end, "
                        "detail->>'role', detail->>'last_event', detail->>'unit_name', "
                        "detail->>'silence_days' FROM gevinst.alert",
                        "NULL|klinikk-a|data.silence|firing|2023-08-30|2023-09-02|appointments|"
                        "2023-08-30|Klinikk A|3\n");
    test_pg_expect_rows(store_conn(st),
                        "SELECT o.channel, o.target, o.status FROM gevinst.alert_outbox o "
                        "ORDER BY channel",
                        "email|data@example.org|pending\n"
                        "kafka|gevinst.alerts|pending\n");
    /* Still silent later: unchanged. */
    clock("appointments", "2023-09-04T00:00:00+02:00");
    judge_stats_t s = judge_at(goals, "2023-09-04T12:00:00Z");
    assert_int_equal(s.alerts_changed, 0);
    /* Events again: resolved, sent. */
    test_pg_exec(store_conn(st),
                 "UPDATE gevinst.unit_role_clock SET last_time = '2023-09-04T07:00:00Z' "
                 "WHERE unit_id = 'klinikk-a'");
    judge_at(goals, "2023-09-04T12:00:00Z");
    test_pg_expect_rows(
        store_conn(st),
        "SELECT state, revision, detail->>'events_again_time' FROM gevinst.alert_state",
        "resolved|2|2023-09-04T07:00:00.000000Z\n");
    test_pg_expect_rows(store_conn(st),
                        "SELECT revision, channel, status FROM gevinst.alert_outbox ORDER BY 1, 2",
                        "1|email|pending\n1|kafka|pending\n2|email|pending\n2|kafka|pending\n");
    /* Resolved stays resolved; a new silence later is a new alert (and
     * klinikk-b is silent by now too). */
    clock("appointments", "2023-09-09T00:00:00+02:00");
    judge_at(goals, "2023-09-09T12:00:00Z");
    test_pg_expect_rows(
        store_conn(st),
        "SELECT unit_id, state, period_start FROM gevinst.alert_state ORDER BY alert_id",
        "klinikk-a|resolved|2023-08-30\nklinikk-a|firing|2023-09-04\n"
        "klinikk-b|firing|2023-09-02\n");
    /* Without a goals file: data alerts alone, the owner from the registry. */
    judge_conf_t c = conf();
    char errstr[512];
    bool retriable;
    assert_true(judge_run(st, NULL, &c, ts("2023-09-09T12:00:00Z"), NULL, &retriable, errstr,
                          sizeof(errstr)));
    test_pg_expect_rows(store_conn(st), "SELECT state FROM gevinst.alert_state ORDER BY alert_id",
                        "resolved\nfiring\nfiring\n");
}

static void test_data_rejections(void **state)
{
    (void)state;
    /* 09-01: 1 rejected of 100 judged (99 accepted; 50 of unsupported types
     * are skipped, not counted): exactly 1%, not more. 09-02: 20 of 1020.
     * 09-03: 20 of 1020 again. 09-04: 0. */
    test_pg_exec(store_conn(st),
                 "INSERT INTO gevinst.intake_daily (day, topic, outcome, events) VALUES "
                 "('2023-09-01', 'ehr.appointments', 'accepted', 99),"
                 "('2023-09-01', 'ehr.appointments', 'unsupported_type', 50),"
                 "('2023-09-01', 'ehr.appointments', 'missing_field', 1),"
                 "('2023-09-02', 'ehr.appointments', 'accepted', 1000),"
                 "('2023-09-02', 'ehr.appointments', 'invalid_json', 15),"
                 "('2023-09-02', 'ehr.appointments', 'late_event', 5),"
                 "('2023-09-03', 'ehr.appointments', 'accepted', 1000),"
                 "('2023-09-03', 'ehr.appointments', 'invalid_json', 20),"
                 "('2023-09-02', 'ehr.journal', 'accepted', 10)");
    judge_at(goals, "2023-09-03T12:00:00Z");
    test_pg_expect_rows(
        store_conn(st),
        "SELECT unit_id, kind, state, period_start, period_end, "
        "round(actual::numeric, 6), expected, detail->>'topic', detail->>'rejected', "
        "detail->>'total', detail->>'days', detail->'reasons'->>'late_event' "
        "FROM gevinst.alert",
        "ehr.appointments|data.rejections|firing|2023-09-02|2023-09-02|0.019608|0.01|"
        "ehr.appointments|20|1020|2|5\n");
    test_pg_expect_rows(store_conn(st),
                        "SELECT channel, status FROM gevinst.alert_outbox ORDER BY 1",
                        "email|pending\nkafka|pending\n");
    /* A good day ends the episode. */
    test_pg_exec(store_conn(st),
                 "INSERT INTO gevinst.intake_daily VALUES ('2023-09-04', 'ehr.appointments', "
                 "'accepted', 500)");
    judge_at(goals, "2023-09-04T12:00:00Z");
    test_pg_expect_rows(
        store_conn(st),
        "SELECT state, revision, detail->>'resolved_by_day' FROM gevinst.alert_state",
        "resolved|2|2023-09-04\n");
    test_pg_expect_rows(store_conn(st),
                        "SELECT count(*) FROM gevinst.alert_outbox WHERE revision = 2", "2\n");
}

/* The views' columns are those of goals.md, each commented. */
static void test_view_columns(void **state)
{
    (void)state;
    test_pg_expect_rows(
        store_conn(st),
        "SELECT table_name, string_agg(column_name, ',' ORDER BY ordinal_position) "
        "FROM information_schema.columns WHERE table_schema = 'gevinst' "
        "AND table_name IN ('goal', 'goal_status', 'benefit_realized') "
        "GROUP BY 1 ORDER BY 1",
        "benefit_realized|goal_id,period_start,avoided_units,minutes_saved,nok_saved,"
        "nok_saved_cumulative\n"
        "goal|goal_id,unit_id,kpi,direction,period,baseline_from,baseline_to,center,"
        "target_value,target_date,tolerance,owner_id,benefit_type\n"
        "goal_status|goal_id,period_start,period_end,closed,numerator,denominator,actual,"
        "planned,gap,behind_plan,lcl,ucl\n");
    test_pg_expect_rows(store_conn(st),
                        "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname IN ('gevinst', 'gevinst_dash') "
                        "AND c.relname IN ('goal', 'goal_status', 'benefit_realized') "
                        "AND a.attnum > 0 AND col_description(c.oid, a.attnum) IS NULL",
                        "0\n");
    test_pg_expect_rows(
        store_conn(st),
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname IN ('gevinst', 'gevinst_dash') "
        "AND c.relname IN ('goal', 'goal_status', 'benefit_realized') "
        "AND obj_description(c.oid, 'pg_class') IS NOT NULL",
        "6\n");
}

/* gevinst_dash hides small cells in goal_status and benefit_realized. */
static void test_dash(void **state)
{
    (void)state;
    shift_data();
    bucket("klinikk-a", "2023-08-10", 1, 3); /* August: 3 appointments */
    judge_at(goals, "2023-09-05T12:00:00Z");
    test_pg_expect_rows(
        store_conn(st),
        "SELECT numerator, denominator, actual, gap IS NULL FROM gevinst_dash.goal_status "
        "WHERE goal_id = 'a-noshow' AND period_start >= '2023-07-01' ORDER BY period_start",
        "30|100|0.3|f\nNULL|3|NULL|t\n40|100|0.4|f\n");
    test_pg_expect_rows(store_conn(st),
                        "SELECT period_start, round(nok_saved::numeric), "
                        "round(nok_saved_cumulative::numeric) FROM gevinst_dash.benefit_realized "
                        "WHERE goal_id = 'a-noshow' ORDER BY 1",
                        "2023-07-01|-18000|-18000\n2023-08-01|NULL|-18000\n");
}

/* Another instance judging holds the lock: we wait (here: time out, retriable). */
static void test_lock(void **state)
{
    (void)state;
    PGconn *other = test_pg_connect();
    PQclear(PQexec(other, "BEGIN"));
    PGresult *r = PQexec(other, "SELECT pg_advisory_xact_lock(7450580228102729081)");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    test_pg_exec(store_conn(st), "SET lock_timeout = '200ms'");
    judge_conf_t c = conf();
    char errstr[512];
    bool retriable = false;
    assert_false(judge_run(st, goals, &c, ts("2023-09-05T12:00:00Z"), NULL, &retriable, errstr,
                           sizeof(errstr)));
    assert_true(retriable);
    assert_int_equal(PQtransactionStatus(store_conn(st)), PQTRANS_IDLE); /* rolled back */
    test_pg_exec(store_conn(st), "RESET lock_timeout");
    PQclear(PQexec(other, "ROLLBACK"));
    PQfinish(other);

    /* In the caller's transaction: nothing is visible until it commits. */
    shift_data();
    test_pg_exec(store_conn(st), "BEGIN");
    judge_at(goals, "2023-09-05T12:00:00Z");
    test_pg_exec(store_conn(st), "ROLLBACK");
    test_pg_expect_rows(store_conn(st), "SELECT count(*) FROM gevinst.alert_state", "0\n");
    test_pg_expect_rows(store_conn(st), "SELECT count(*) FROM gevinst.goal_period", "0\n");
}

/* A goal that leaves the file loses its periods; its alerts stay. */
static void test_goal_removed(void **state)
{
    (void)state;
    shift_data();
    judge_at(goals, "2023-09-05T12:00:00Z");
    goals_t *fewer = parse_sq(
        "{'units': [{'id': 'hov', 'name': 'H'}, {'id': 'klinikk-b', 'name': 'B', 'parent': "
        "'hov'}], 'owners': [{'id': 'leder', 'name': 'K'}, {'id': 'data', 'name': 'D'}],"
        " 'goals': [{'id': 'b-noshow', 'unit': 'klinikk-b', 'kpi': 'no_show_rate', "
        "'direction': 'decrease', 'baseline': {'from': '2023-01-01', 'to': '2023-06-30'}, "
        "'target': {'value': 0.05, 'date': '2024-12-31'}, 'owner': 'leder'}]}");
    judge_at(fewer, "2023-09-05T12:05:00Z");
    test_pg_expect_rows(store_conn(st), "SELECT DISTINCT goal_id FROM gevinst.goal_period",
                        "b-noshow\n");
    test_pg_expect_rows(store_conn(st), "SELECT goal_id FROM gevinst.goal_result", "b-noshow\n");
    test_pg_expect_rows(store_conn(st),
                        "SELECT state FROM gevinst.alert_state WHERE goal_id = 'a-noshow'",
                        "firing\n");
    goals_destroy(fewer);
}

static int setup(void **state)
{
    (void)state;
    st = test_pg_store();
    char errstr[512];
    bool retriable;
    goals = parse_sq(goals_json);
    if (!goals_sync(goals, st, &retriable, errstr, sizeof(errstr))) {
        fprintf(stderr, "goals_sync: %s\n", errstr);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    goals_destroy(goals);
    store_destroy(st);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_views_and_shift, reset),
        cmocka_unit_test_setup(test_clock_boundary, reset),
        cmocka_unit_test_setup(test_withdrawn_after_delivery, reset),
        cmocka_unit_test_setup(test_withdrawn_undelivered, reset),
        cmocka_unit_test_setup(test_suppressed_when_old, reset),
        cmocka_unit_test_setup(test_off_track_and_achieved, reset),
        cmocka_unit_test_setup(test_data_silence, reset),
        cmocka_unit_test_setup(test_data_rejections, reset),
        cmocka_unit_test_setup(test_view_columns, reset),
        cmocka_unit_test_setup(test_dash, reset),
        cmocka_unit_test_setup(test_lock, reset),
        cmocka_unit_test_setup(test_goal_removed, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
