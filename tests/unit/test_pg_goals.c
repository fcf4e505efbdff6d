/* goals_sync (src/goals.c) and sql/004_goals.sql against a real PostgreSQL:
 * units, owners and goal definitions written as in the file; a later sync
 * deletes what left the file and touches only what changed; a parent listed
 * after its child (deferred FK); the caller's transaction; comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gevinst/goals.h"
#include "gevinst/store.h"
#include "test_util.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static store_t *st;

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

static void sync_ok(const goals_t *g)
{
    char errstr[512];
    bool retriable = true;
    if (!goals_sync(g, st, &retriable, errstr, sizeof(errstr)))
        fail_msg("goals_sync: %s", errstr);
    assert_false(retriable);
}

#define UNITS_SQL "SELECT unit_id, name, parent_id FROM gevinst.unit ORDER BY unit_id"
#define OWNERS_SQL "SELECT owner_id, name, email, webhook FROM gevinst.owner ORDER BY owner_id"
#define GOALS_SQL                                                                                  \
    "SELECT goal_id, unit_id, kpi, direction, period, baseline_from, baseline_to, "                \
    "baseline_value, target_value, target_date, tolerance, consecutive, owner_id, "                \
    "benefit_type, minutes_per_unit, nok_per_unit, nok_per_hour "                                  \
    "FROM gevinst.goal_def ORDER BY goal_id"

/* goals.md's example plus a goal with a known baseline and defaults. */
static const char *file1 =
    "{'units': ["
    "  {'id': 'helse-og-velferd', 'name': 'Helse og velferd'},"
    "  {'id': 'psykisk-helse-og-rus', 'name': 'Psykisk helse og rus', 'parent': "
    "'helse-og-velferd'},"
    "  {'id': 'phr-poliklinikk-ost', 'name': 'Poliklinikk \xc3\xb8st', 'parent': "
    "'psykisk-helse-og-rus'}],"
    " 'owners': ["
    "  {'id': 'leder-phr', 'name': 'Kari Nordmann', 'email': 'kari.nordmann@example.org',"
    "   'webhook': 'https://alerts.example.org/hooks/phr'},"
    "  {'id': 'data', 'name': 'Data team'}],"
    " 'goals': ["
    "  {'id': 'phr-noshow', 'unit': 'psykisk-helse-og-rus', 'kpi': 'no_show_rate',"
    "   'direction': 'decrease', 'period': 'month',"
    "   'baseline': {'from': '2019-01-01', 'to': '2019-12-31'},"
    "   'target': {'value': 0.05, 'date': '2025-12-31'},"
    "   'tolerance': 0.01, 'owner': 'leder-phr',"
    "   'benefit': {'type': 'time_saved', 'minutes_per_unit': 45, 'nok_per_unit': 900}},"
    "  {'id': 'ost-minutes', 'unit': 'phr-poliklinikk-ost', 'kpi': 'documentation_minutes',"
    "   'direction': 'decrease', 'period': 'week', 'consecutive': 4,"
    "   'baseline': {'value': 0.1, 'to': '2024-02-29'},"
    "   'target': {'value': 30.5, 'date': '2024-12-31'}, 'owner': 'data'}]}";

static const char *units1 = "helse-og-velferd|Helse og velferd|NULL\n"
                            "phr-poliklinikk-ost|Poliklinikk \xc3\xb8st|psykisk-helse-og-rus\n"
                            "psykisk-helse-og-rus|Psykisk helse og rus|helse-og-velferd\n";

static const char *goals1 =
    "ost-minutes|phr-poliklinikk-ost|documentation_minutes|decrease|week|NULL|2024-02-29|0.1|30.5|"
    "2024-12-31|NULL|4|data|NULL|NULL|NULL|NULL\n"
    "phr-noshow|psykisk-helse-og-rus|no_show_rate|decrease|month|2019-01-01|2019-12-31|NULL|0.05|"
    "2025-12-31|0.01|3|leder-phr|time_saved|45|900|NULL\n";

static void test_sync_writes(void **state)
{
    (void)state;
    goals_t *g = parse_sq(file1);
    sync_ok(g);
    test_pg_expect_rows(store_conn(st), UNITS_SQL, units1);
    test_pg_expect_rows(store_conn(st), OWNERS_SQL,
                        "data|Data team|NULL|NULL\n"
                        "leder-phr|Kari Nordmann|kari.nordmann@example.org|"
                        "https://alerts.example.org/hooks/phr\n");
    test_pg_expect_rows(store_conn(st), GOALS_SQL, goals1);
    /* Again: same rows, nothing rewritten. */
    test_pg_expect_rows(store_conn(st),
                        "SELECT count(*) FROM gevinst.goal_def WHERE updated_at = "
                        "(SELECT max(updated_at) FROM gevinst.goal_def)",
                        "2\n");
    test_pg_exec(store_conn(st),
                 "CREATE TEMP TABLE before AS SELECT goal_id, updated_at FROM gevinst.goal_def");
    sync_ok(g);
    test_pg_expect_rows(store_conn(st), UNITS_SQL, units1);
    test_pg_expect_rows(store_conn(st), GOALS_SQL, goals1);
    test_pg_expect_rows(store_conn(st),
                        "SELECT count(*) FROM gevinst.goal_def d JOIN before b USING (goal_id) "
                        "WHERE d.updated_at = b.updated_at",
                        "2\n");
    test_pg_exec(store_conn(st), "DROP TABLE before");
    goals_destroy(g);
}

/* A second file without a unit, an owner and a goal: they go; a changed goal
 * is rewritten (updated_at moves), an unchanged one is not. */
static void test_sync_replaces(void **state)
{
    (void)state;
    goals_t *g = parse_sq(file1);
    sync_ok(g);
    goals_destroy(g);
    test_pg_exec(store_conn(st),
                 "CREATE TEMP TABLE before AS SELECT goal_id, updated_at FROM gevinst.goal_def");

    g = parse_sq("{'units': ["
                 "  {'id': 'helse-og-velferd', 'name': 'Helse og velferd (ny)'},"
                 "  {'id': 'psykisk-helse-og-rus', 'name': 'Psykisk helse og rus', 'parent': "
                 "'helse-og-velferd'}],"
                 " 'owners': ["
                 "  {'id': 'leder-phr', 'name': 'Kari Nordmann', 'email': "
                 "'kari.nordmann@example.org'}],"
                 " 'goals': ["
                 "  {'id': 'phr-noshow', 'unit': 'psykisk-helse-og-rus', 'kpi': 'no_show_rate',"
                 "   'direction': 'decrease', 'period': 'month',"
                 "   'baseline': {'from': '2019-01-01', 'to': '2019-12-31'},"
                 "   'target': {'value': 0.04, 'date': '2025-12-31'},"
                 "   'tolerance': 0.01, 'owner': 'leder-phr',"
                 "   'benefit': {'type': 'time_saved', 'minutes_per_unit': 45, "
                 "'nok_per_unit': 900}}]}");
    sync_ok(g);
    test_pg_expect_rows(store_conn(st), UNITS_SQL,
                        "helse-og-velferd|Helse og velferd (ny)|NULL\n"
                        "psykisk-helse-og-rus|Psykisk helse og rus|helse-og-velferd\n");
    test_pg_expect_rows(store_conn(st), OWNERS_SQL,
                        "leder-phr|Kari Nordmann|kari.nordmann@example.org|NULL\n");
    test_pg_expect_rows(store_conn(st), "SELECT goal_id, target_value FROM gevinst.goal_def",
                        "phr-noshow|0.04\n");
    test_pg_expect_rows(store_conn(st),
                        "SELECT d.updated_at > b.updated_at FROM gevinst.goal_def d JOIN before b "
                        "USING (goal_id)",
                        "t\n");
    test_pg_exec(store_conn(st), "DROP TABLE before");
    goals_destroy(g);

    /* A file with no units, owners or goals empties the registry. */
    g = parse_sq("{}");
    sync_ok(g);
    test_pg_expect_rows(store_conn(st),
                        "SELECT (SELECT count(*) FROM gevinst.unit), (SELECT count(*) FROM "
                        "gevinst.owner), (SELECT count(*) FROM gevinst.goal_def)",
                        "0|0|0\n");
    goals_destroy(g);
}

/* A child before its parent, and a parent that changes to a unit that is
 * new in the same sync: the deferred FK checks them at commit. */
static void test_parent_after_child(void **state)
{
    (void)state;
    goals_t *g = parse_sq("{'units': [{'id': 'c', 'name': 'C', 'parent': 'p'},"
                          " {'id': 'p', 'name': 'P', 'parent': 'root'},"
                          " {'id': 'root', 'name': 'Root'}]}");
    sync_ok(g);
    test_pg_expect_rows(store_conn(st), UNITS_SQL, "c|C|p\np|P|root\nroot|Root|NULL\n");
    goals_destroy(g);

    /* Turn the tree around: root under a new unit, c directly under it, p gone. */
    g = parse_sq("{'units': [{'id': 'root', 'name': 'Root', 'parent': 'top'},"
                 " {'id': 'c', 'name': 'C', 'parent': 'top'}, {'id': 'top', 'name': 'Top'}]}");
    sync_ok(g);
    test_pg_expect_rows(store_conn(st), UNITS_SQL, "c|C|top\nroot|Root|top\ntop|Top|NULL\n");
    goals_destroy(g);
}

/* In the caller's transaction: nothing shows before commit, a rollback undoes
 * the sync, a failed transaction is refused. */
static void test_caller_transaction(void **state)
{
    (void)state;
    goals_t *one = parse_sq("{'units': [{'id': 'x', 'name': 'X'}]}");
    goals_t *two = parse_sq("{'units': [{'id': 'y', 'name': 'Y'}]}");
    sync_ok(one);

    test_pg_exec(store_conn(st), "BEGIN");
    sync_ok(two);
    assert_int_equal(PQtransactionStatus(store_conn(st)), PQTRANS_INTRANS);
    test_pg_expect_rows(store_conn(st), UNITS_SQL, "y|Y|NULL\n");
    test_pg_exec(store_conn(st), "ROLLBACK");
    test_pg_expect_rows(store_conn(st), UNITS_SQL, "x|X|NULL\n");

    test_pg_exec(store_conn(st), "BEGIN");
    sync_ok(two);
    test_pg_exec(store_conn(st), "COMMIT");
    test_pg_expect_rows(store_conn(st), UNITS_SQL, "y|Y|NULL\n");

    char errstr[512];
    bool retriable = true;
    test_pg_exec(store_conn(st), "BEGIN");
    PQclear(PQexec(store_conn(st), "SELECT 1/0"));
    assert_false(goals_sync(one, st, &retriable, errstr, sizeof(errstr)));
    assert_false(retriable);
    test_pg_exec(store_conn(st), "ROLLBACK");
    test_pg_expect_rows(store_conn(st), UNITS_SQL, "y|Y|NULL\n");
    goals_destroy(one);
    goals_destroy(two);
}

/* Not connected: a retriable failure. */
static void test_not_connected(void **state)
{
    (void)state;
    goals_t *g = parse_sq("{}");
    store_t *off = store_new("dbname=none");
    char errstr[512];
    bool retriable = false;
    assert_false(goals_sync(g, off, &retriable, errstr, sizeof(errstr)));
    assert_true(retriable);
    store_destroy(off);
    goals_destroy(g);
}

/* config/sample-goals.json goes in whole. */
static void test_sample_file(void **state)
{
    (void)state;
    char *errors = NULL;
    int count = -1;
    goals_t *g = goals_load(GEVINST_SOURCE_DIR "/config/sample-goals.json", &errors, &count);
    if (!g)
        skip();
    sync_ok(g);
    char want[64];
    snprintf(want, sizeof(want), "%zu|%zu|%zu\n", g->unit_count, g->owner_count, g->goal_count);
    test_pg_expect_rows(store_conn(st),
                        "SELECT (SELECT count(*) FROM gevinst.unit), (SELECT count(*) FROM "
                        "gevinst.owner), (SELECT count(*) FROM gevinst.goal_def)",
                        want);
    goals_destroy(g);
}

static void test_comments(void **state)
{
    (void)state;
    test_pg_expect_rows(
        store_conn(st),
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'gevinst' AND c.relname IN ('unit', 'owner', 'goal_def') "
        "AND obj_description(c.oid, 'pg_class') IS NULL",
        "");
}

static int setup(void **state)
{
    (void)state;
    st = test_pg_store();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_destroy(st);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_writes),        cmocka_unit_test(test_sync_replaces),
        cmocka_unit_test(test_parent_after_child), cmocka_unit_test(test_caller_transaction),
        cmocka_unit_test(test_not_connected),      cmocka_unit_test(test_sample_file),
        cmocka_unit_test(test_comments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
