/* Unit tests for the goals file (src/goals.c): the example of goals.md with
 * every field, defaults, the sample file, and every error path with the exact
 * line it reports ("path: goal \"id\": field: reason"), all errors at once. */
#include "gevinst/goals.h"
#include "gevinst/timeutil.h"

#include "test_util.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define PATH "goals.json"

/* Test JSON is written with ' for " to stay readable. */
static char *dq(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    for (char *p = d; *p; p++)
        if (*p == '\'')
            *p = '"';
    return d;
}

static goals_t *parse(const char *json_sq, char **errors, int *count)
{
    char *text = dq(json_sq);
    goals_t *g = goals_parse(PATH, text, strlen(text), errors, count);
    free(text);
    return g;
}

static goals_t *parse_ok(const char *json_sq)
{
    char *errors = NULL;
    int count = -1;
    goals_t *g = parse(json_sq, &errors, &count);
    if (!g || count != 0)
        fail_msg("unexpected errors (%d):\n%s", count, errors ? errors : "");
    assert_null(errors);
    return g;
}

static int32_t day(int y, int m, int d)
{
    return timeutil_days_from_civil(y, m, d);
}

/* ------------------------------------------------------------ good files */

static const char *example =
    "{\n"
    "  'units': [\n"
    "    {'id': 'helse-og-velferd', 'name': 'Helse og velferd'},\n"
    "    {'id': 'psykisk-helse-og-rus', 'name': 'Psykisk helse og rus', 'parent': "
    "'helse-og-velferd'},\n"
    "    {'id': 'phr-poliklinikk-ost', 'name': 'Poliklinikk \xc3\xb8st', 'parent': "
    "'psykisk-helse-og-rus'}\n"
    "  ],\n"
    "  'owners': [\n"
    "    {'id': 'leder-phr', 'name': 'Kari Nordmann', 'email': 'kari.nordmann@example.org',\n"
    "     'webhook': 'https://alerts.example.org/hooks/phr'}\n"
    "  ],\n"
    "  'goals': [\n"
    "    {'id': 'phr-noshow', 'unit': 'psykisk-helse-og-rus', 'kpi': 'no_show_rate',\n"
    "     'direction': 'decrease', 'period': 'month',\n"
    "     'baseline': {'from': '2019-01-01', 'to': '2019-12-31'},\n"
    "     'target': {'value': 0.05, 'date': '2025-12-31'},\n"
    "     'tolerance': 0.01, 'owner': 'leder-phr',\n"
    "     'benefit': {'type': 'time_saved', 'minutes_per_unit': 45, 'nok_per_unit': 900}}\n"
    "  ]\n"
    "}\n";

static void test_example(void **state)
{
    (void)state;
    goals_t *g = parse_ok(example);
    assert_string_equal(g->path, PATH);

    assert_int_equal(g->unit_count, 3);
    assert_string_equal(g->units[0].id, "helse-og-velferd");
    assert_string_equal(g->units[0].name, "Helse og velferd");
    assert_null(g->units[0].parent_id);
    assert_int_equal(g->units[0].parent, -1);
    assert_string_equal(g->units[1].id, "psykisk-helse-og-rus");
    assert_string_equal(g->units[1].parent_id, "helse-og-velferd");
    assert_int_equal(g->units[1].parent, 0);
    assert_string_equal(g->units[2].name, "Poliklinikk \xc3\xb8st");
    assert_int_equal(g->units[2].parent, 1);

    assert_int_equal(g->owner_count, 1);
    assert_string_equal(g->owners[0].id, "leder-phr");
    assert_string_equal(g->owners[0].name, "Kari Nordmann");
    assert_string_equal(g->owners[0].email, "kari.nordmann@example.org");
    assert_string_equal(g->owners[0].webhook, "https://alerts.example.org/hooks/phr");

    assert_int_equal(g->goal_count, 1);
    const goals_goal_t *x = &g->goals[0];
    assert_string_equal(x->id, "phr-noshow");
    assert_string_equal(x->unit_id, "psykisk-helse-og-rus");
    assert_int_equal(x->unit, 1);
    assert_int_equal(x->kpi, KPI_NO_SHOW_RATE);
    assert_int_equal(x->direction, GOALS_DECREASE);
    assert_int_equal(x->period, GOALS_MONTH);
    assert_true(x->baseline_from_data);
    assert_int_equal(x->baseline_from, day(2019, 1, 1));
    assert_int_equal(x->baseline_to, day(2019, 12, 31));
    assert_true(isnan(x->baseline_value));
    assert_true(x->target_value == 0.05);
    assert_int_equal(x->target_date, day(2025, 12, 31));
    assert_true(x->tolerance == 0.01);
    assert_int_equal(x->consecutive, 3);
    assert_string_equal(x->owner_id, "leder-phr");
    assert_int_equal(x->owner, 0);
    assert_int_equal(x->benefit_type, GOALS_BENEFIT_TIME_SAVED);
    assert_true(x->minutes_per_unit == 45);
    assert_true(x->nok_per_unit == 900);
    assert_true(isnan(x->nok_per_hour));

    assert_true(goals_has_owner(g, "leder-phr"));
    assert_false(goals_has_owner(g, "leder"));
    assert_false(goals_has_owner(g, ""));
    assert_false(goals_has_owner(NULL, "leder-phr"));
    assert_int_equal(goals_unit_index(g, "phr-poliklinikk-ost"), 2);
    assert_int_equal(goals_unit_index(g, "nope"), -1);
    assert_int_equal(goals_owner_index(g, "leder-phr"), 0);
    assert_int_equal(goals_goal_index(g, "phr-noshow"), 0);
    assert_int_equal(goals_goal_index(g, "x"), -1);
    /* Given tolerance wins over the default. */
    assert_true(goals_tolerance(x, 0.2) == 0.01);
    goals_destroy(g);
}

/* Defaults and the other forms: known baseline value, week, increase,
 * consecutive, nok_per_hour, null read as "not given". */
static void test_defaults_and_variants(void **state)
{
    (void)state;
    goals_t *g = parse_ok("{'units': [{'id': 'u', 'name': 'U', 'parent': null}],"
                          " 'owners': [{'id': 'o', 'name': 'O', 'email': null}],"
                          " 'goals': ["
                          "  {'id': 'g1', 'unit': 'u', 'kpi': 'documentation_minutes',"
                          "   'direction': 'increase',"
                          "   'baseline': {'value': 12.5, 'to': '2024-02-29'},"
                          "   'target': {'value': 20, 'date': '2024-03-01'}, 'owner': 'o'},"
                          "  {'id': 'g2', 'unit': 'u', 'kpi': 'self_booking_share',"
                          "   'direction': 'increase', 'period': 'week', 'consecutive': 1,"
                          "   'tolerance': 0, 'benefit': {'type': 'quality'},"
                          "   'baseline': {'from': '2024-01-01', 'to': '2024-01-01'},"
                          "   'target': {'value': 1, 'date': '2025-01-01'}, 'owner': 'o'},"
                          "  {'id': 'g3', 'unit': 'u', 'kpi': 'ehr_active_minutes',"
                          "   'direction': 'decrease', 'tolerance': null, 'benefit':"
                          "   {'type': 'avoided_cost', 'nok_per_hour': 650.5},"
                          "   'baseline': {'value': 0, 'to': '2024-01-01'},"
                          "   'target': {'value': 0, 'date': '2024-06-01'}, 'owner': 'o'}]}");
    assert_int_equal(g->units[0].parent, -1);
    assert_null(g->units[0].parent_id);
    assert_null(g->owners[0].email);
    assert_null(g->owners[0].webhook);
    assert_int_equal(g->goal_count, 3);

    const goals_goal_t *a = &g->goals[0];
    assert_int_equal(a->kpi, KPI_DOCUMENTATION_MINUTES);
    assert_int_equal(a->direction, GOALS_INCREASE);
    assert_int_equal(a->period, GOALS_MONTH);
    assert_false(a->baseline_from_data);
    assert_true(a->baseline_value == 12.5);
    assert_int_equal(a->baseline_to, day(2024, 2, 29));
    assert_int_equal(a->target_date, day(2024, 3, 1));
    assert_true(isnan(a->tolerance));
    assert_int_equal(a->consecutive, 3);
    assert_int_equal(a->benefit_type, GOALS_BENEFIT_NONE);
    assert_true(isnan(a->minutes_per_unit) && isnan(a->nok_per_unit) && isnan(a->nok_per_hour));
    /* Default tolerance: 10% of abs(target - center). */
    assert_float_equal(goals_tolerance(a, 10.0), 1.0, 1e-12);
    assert_float_equal(goals_tolerance(a, 30.0), 1.0, 1e-12);

    const goals_goal_t *b = &g->goals[1];
    assert_int_equal(b->period, GOALS_WEEK);
    assert_int_equal(b->consecutive, 1);
    assert_true(b->tolerance == 0);
    assert_int_equal(b->benefit_type, GOALS_BENEFIT_QUALITY);
    assert_int_equal(b->baseline_from, b->baseline_to);

    const goals_goal_t *c = &g->goals[2];
    assert_true(isnan(c->tolerance));
    assert_int_equal(c->benefit_type, GOALS_BENEFIT_AVOIDED_COST);
    assert_true(c->nok_per_hour == 650.5);
    goals_destroy(g);

    assert_true(goals_kpi_is_proportion(KPI_NO_SHOW_RATE));
    assert_true(goals_kpi_is_proportion(KPI_NO_SHOW_RATE_SELF_BOOKED));
    assert_true(goals_kpi_is_proportion(KPI_NO_SHOW_RATE_STAFF_BOOKED));
    assert_true(goals_kpi_is_proportion(KPI_SELF_BOOKING_SHARE));
    assert_true(goals_kpi_is_proportion(KPI_DOUBLE_DOCUMENTATION_SHARE));
    assert_false(goals_kpi_is_proportion(KPI_DOUBLE_DOCUMENTATION_MINUTES));
    assert_false(goals_kpi_is_proportion(KPI_EHR_ACTIVE_MINUTES));
    assert_false(goals_kpi_is_proportion(KPI_DOCUMENTATION_MINUTES));
}

/* No goals: units and owners only, or nothing at all. Units may come in any
 * order (a parent after its child). */
static void test_no_goals(void **state)
{
    (void)state;
    static const char *files[] = {
        "{'units': [{'id': 'c', 'name': 'C', 'parent': 'p'}, {'id': 'p', 'name': 'P'}],"
        " 'owners': [{'id': 'o', 'name': 'O'}]}",
        "{'units': [{'id': 'a', 'name': 'A'}], 'owners': [], 'goals': []}",
        "{}",
        "{'goals': null}",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        goals_t *g = parse_ok(files[i]);
        assert_int_equal(g->goal_count, 0);
        if (i == 0) {
            assert_int_equal(g->unit_count, 2);
            assert_int_equal(g->units[0].parent, 1);
            assert_true(goals_has_owner(g, "o"));
        }
        goals_destroy(g);
    }
}

static void check_file_ok(const char *path, size_t min_goals)
{
    char *errors = NULL;
    int count = -1;
    goals_t *g = goals_load(path, &errors, &count);
    if (!g)
        fail_msg("%s: %d errors:\n%s", path, count, errors ? errors : "");
    assert_int_equal(count, 0);
    assert_true(g->goal_count >= min_goals);
    for (size_t i = 0; i < g->goal_count; i++) {
        assert_true(g->goals[i].unit >= 0);
        assert_true(g->goals[i].owner >= 0);
    }
    goals_destroy(g);
}

/* config/sample-goals.json, written for the demo, must stay valid. */
static void test_sample_file(void **state)
{
    (void)state;
    const char *path = GEVINST_SOURCE_DIR "/config/sample-goals.json";
    if (access(path, R_OK) != 0)
        skip();
    check_file_ok(path, 1);
}

static void test_load(void **state)
{
    (void)state;
    char path[] = "/tmp/test_goals_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char *text = dq(example);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    free(text);
    check_file_ok(path, 1);

    /* A file that cannot be read: one error naming it. */
    unlink(path);
    char *errors = NULL;
    int count = -1;
    assert_null(goals_load(path, &errors, &count));
    assert_int_equal(count, 1);
    char want[128];
    snprintf(want, sizeof(want), "%s: cannot read: No such file or directory\n", path);
    assert_string_equal(errors, want);
    free(errors);
    goals_destroy(NULL);
}

/* ------------------------------------------------------------ bad files */

/* The base for goal cases: units a > b, owner o, and one goal "g" built from
 * these fields, each replaceable or removable by a case. */
static const char *const base_goal[][2] = {
    {"id", "'g'"},
    {"unit", "'b'"},
    {"kpi", "'no_show_rate'"},
    {"direction", "'decrease'"},
    {"baseline", "{'from': '2023-01-01', 'to': '2023-12-31'}"},
    {"target", "{'value': 0.05, 'date': '2025-12-31'}"},
    {"owner", "'o'"},
};
#define BASE_GOAL_FIELDS (sizeof(base_goal) / sizeof(base_goal[0]))

typedef struct bad_case {
    const char *name;
    const char *file;   /* a whole file, or NULL: the base with set[] applied */
    const char *set[4]; /* "field=json" replaces or adds a goal field; "field=" removes it */
    int count;
    /* Expected lines, exact; one ending in '*' matches as a prefix. */
    const char *lines[6];
} bad_case_t;

#define G "goals.json: goal \"g\": "

static const bad_case_t bad_cases[] = {
    /* The file as a whole. */
    {"bad JSON", "{'units': [}", {0}, 1, {"goals.json: bad JSON at line 1, column 12: *"}},
    {"bad JSON line",
     "{\n'units': [],\n'goals': [,]}",
     {0},
     1,
     {"goals.json: bad JSON at line 3, column 11: *"}},
    {"duplicate key",
     "{'units': [], 'units': []}",
     {0},
     1,
     {"goals.json: bad JSON at line 1, column *duplicate object key*"}},
    {"empty file", "", {0}, 1, {"goals.json: bad JSON at line 1, column 0: *"}},
    {"root array",
     "[]",
     {0},
     1,
     {"goals.json: must be a JSON object with \"units\", \"owners\" and \"goals\""}},
    {"unknown top field",
     "{'unit': [], 'foo bar': 1}",
     {0},
     2,
     {"goals.json: unit: unknown field (did you mean \"units\"?)",
      "goals.json: \"foo bar\": unknown field"}},
    {"arrays",
     "{'units': {}, 'owners': 'x', 'goals': 1}",
     {0},
     3,
     {"goals.json: units: must be an array", "goals.json: owners: must be an array",
      "goals.json: goals: must be an array"}},

    /* Units. */
    {"unit not object", "{'units': [1]}", {0}, 1, {"goals.json: units[0]: must be an object"}},
    {"unit no id", "{'units': [{'name': 'A'}]}", {0}, 1, {"goals.json: units[0]: id: required"}},
    {"unit empty id",
     "{'units': [{'id': '', 'name': 'A'}]}",
     {0},
     1,
     {"goals.json: units[0]: id: must be a non-empty string"}},
    {"unit id number",
     "{'units': [{'id': 7, 'name': 'A'}]}",
     {0},
     1,
     {"goals.json: units[0]: id: must be a non-empty string"}},
    {"unit id control",
     "{'units': [{'id': 'a\\nb', 'name': 'A'}]}",
     {0},
     1,
     {"goals.json: unit \"a\\x0ab\": id: must not contain control characters"}},
    {"unit duplicate",
     "{'units': [{'id': 'a', 'name': 'A'}, {'id': 'a', 'name': 'B'}]}",
     {0},
     1,
     {"goals.json: unit \"a\": id: duplicate (an earlier unit has the same id)"}},
    {"unit no name",
     "{'units': [{'id': 'a'}]}",
     {0},
     1,
     {"goals.json: unit \"a\": name: required"}},
    {"unit name type",
     "{'units': [{'id': 'a', 'name': 1}]}",
     {0},
     1,
     {"goals.json: unit \"a\": name: must be a non-empty string"}},
    {"unit unknown parent",
     "{'units': [{'id': 'a', 'name': 'A', 'parent': 'x'}]}",
     {0},
     1,
     {"goals.json: unit \"a\": parent: unknown unit \"x\""}},
    {"unit parent type",
     "{'units': [{'id': 'a', 'name': 'A', 'parent': ['x']}]}",
     {0},
     1,
     {"goals.json: unit \"a\": parent: must be a non-empty string"}},
    {"unit typo",
     "{'units': [{'id': 'a', 'name': 'A', 'parnt': 'x'}]}",
     {0},
     1,
     {"goals.json: unit \"a\": parnt: unknown field (did you mean \"parent\"?)"}},
    {"cycle of two",
     "{'units': [{'id': 'a', 'name': 'A', 'parent': 'b'}, {'id': 'b', 'name': 'B', 'parent': "
     "'a'}]}",
     {0},
     1,
     {"goals.json: units: cycle through \"a\" -> \"b\" -> \"a\""}},
    {"cycle of one",
     "{'units': [{'id': 'a', 'name': 'A', 'parent': 'a'}]}",
     {0},
     1,
     {"goals.json: units: cycle through \"a\" -> \"a\""}},
    {"cycle with a tail, and another",
     "{'units': [{'id': 't', 'name': 'T', 'parent': 'x'}, {'id': 'x', 'name': 'X', 'parent': "
     "'y'}, {'id': 'y', 'name': 'Y', 'parent': 'z'}, {'id': 'z', 'name': 'Z', 'parent': 'x'}, "
     "{'id': 'p', 'name': 'P', 'parent': 'q'}, {'id': 'q', 'name': 'Q', 'parent': 'p'}]}",
     {0},
     2,
     {"goals.json: units: cycle through \"x\" -> \"y\" -> \"z\" -> \"x\"",
      "goals.json: units: cycle through \"p\" -> \"q\" -> \"p\""}},

    /* Owners. */
    {"owner not object",
     "{'owners': [null]}",
     {0},
     1,
     {"goals.json: owners[0]: must be an object"}},
    {"owner no id", "{'owners': [{'name': 'O'}]}", {0}, 1, {"goals.json: owners[0]: id: required"}},
    {"owner duplicate",
     "{'owners': [{'id': 'o', 'name': 'O'}, {'id': 'o', 'name': 'P'}]}",
     {0},
     1,
     {"goals.json: owner \"o\": id: duplicate (an earlier owner has the same id)"}},
    {"owner no name",
     "{'owners': [{'id': 'o'}]}",
     {0},
     1,
     {"goals.json: owner \"o\": name: required"}},
    {"owner email",
     "{'owners': [{'id': 'o', 'name': 'O', 'email': 'kari.example.org'}]}",
     {0},
     1,
     {"goals.json: owner \"o\": email: \"kari.example.org\" is not an e-mail address "
      "(name@domain)"}},
    {"owner email two @",
     "{'owners': [{'id': 'o', 'name': 'O', 'email': 'a@b@c'}]}",
     {0},
     1,
     {"goals.json: owner \"o\": email: \"a@b@c\" is not an e-mail address (name@domain)"}},
    {"owner email type",
     "{'owners': [{'id': 'o', 'name': 'O', 'email': 5}]}",
     {0},
     1,
     {"goals.json: owner \"o\": email: must be a non-empty string"}},
    {"owner webhook",
     "{'owners': [{'id': 'o', 'name': 'O', 'webhook': 'ftp://x/y'}]}",
     {0},
     1,
     {"goals.json: owner \"o\": webhook: \"ftp://x/y\" is not an http:// or https:// URL"}},
    {"owner webhook bare",
     "{'owners': [{'id': 'o', 'name': 'O', 'webhook': 'https://'}]}",
     {0},
     1,
     {"goals.json: owner \"o\": webhook: \"https://\" is not an http:// or https:// URL"}},
    {"owner typo",
     "{'owners': [{'id': 'o', 'name': 'O', 'mail': 'a@b'}]}",
     {0},
     1,
     {"goals.json: owner \"o\": mail: unknown field (did you mean \"email\"?)"}},

    /* Goals. */
    {"goal not object", "{'goals': ['g']}", {0}, 1, {"goals.json: goals[0]: must be an object"}},
    {"goal no id", NULL, {"id="}, 1, {"goals.json: goals[0]: id: required"}},
    {"goal typo",
     NULL,
     {"tolerence=0.1"},
     1,
     {G "tolerence: unknown field (did you mean \"tolerance\"?)"}},
    {"goal unknown field", NULL, {"colour='red'"}, 1, {G "colour: unknown field"}},
    {"goal no unit", NULL, {"unit="}, 1, {G "unit: required"}},
    {"goal unknown unit", NULL, {"unit='x'"}, 1, {G "unit: unknown unit \"x\""}},
    {"goal no kpi", NULL, {"kpi="}, 1, {G "kpi: required"}},
    {"goal unknown kpi", NULL, {"kpi='no_show'"}, 1, {G "kpi: unknown KPI \"no_show\""}},
    {"goal kpi type", NULL, {"kpi=1"}, 1, {G "kpi: must be a KPI name (kpis.md)"}},
    {"goal no direction", NULL, {"direction="}, 1, {G "direction: required"}},
    {"goal direction",
     NULL,
     {"direction='down'"},
     1,
     {G "direction: \"down\" is not \"decrease\" or \"increase\""}},
    {"goal period",
     NULL,
     {"period='year'"},
     1,
     {G "period: \"year\" is not \"month\" or \"week\""}},
    {"goal period type", NULL, {"period=7"}, 1, {G "period: must be \"month\" or \"week\""}},
    {"goal no baseline", NULL, {"baseline="}, 1, {G "baseline: required"}},
    {"goal baseline type",
     NULL,
     {"baseline='2023'"},
     1,
     {G "baseline: must be an object, {\"from\", \"to\"} dates or {\"value\", \"to\"}"}},
    {"goal baseline both",
     NULL,
     {"baseline={'from': '2023-01-01', 'value': 0.1, 'to': '2023-12-31'}"},
     1,
     {G "baseline: give \"from\" (baseline from data) or \"value\" (a known baseline), not both"}},
    {"goal baseline neither",
     NULL,
     {"baseline={'to': '2023-12-31'}"},
     1,
     {G "baseline: needs \"from\" (a date: baseline from data) or \"value\" (a known baseline)"}},
    {"goal baseline no to",
     NULL,
     {"baseline={'from': '2023-01-01'}"},
     1,
     {G "baseline.to: required"}},
    {"goal baseline bad date",
     NULL,
     {"baseline={'from': '2023-02-29', 'to': '2023-13-01'}"},
     2,
     {G "baseline.from: \"2023-02-29\" is not a date (YYYY-MM-DD)",
      G "baseline.to: \"2023-13-01\" is not a date (YYYY-MM-DD)"}},
    {"goal baseline date forms",
     NULL,
     {"baseline={'from': '2023-1-01', 'to': 20231231}"},
     2,
     {G "baseline.from: \"2023-1-01\" is not a date (YYYY-MM-DD)",
      G "baseline.to: must be a date string \"YYYY-MM-DD\""}},
    {"goal baseline from after to",
     NULL,
     {"baseline={'from': '2024-01-02', 'to': '2024-01-01'}"},
     1,
     {G "baseline.from: 2024-01-02 is after baseline.to 2024-01-01"}},
    {"goal baseline value type",
     NULL,
     {"baseline={'value': '0.1', 'to': '2023-12-31'}"},
     1,
     {G "baseline.value: must be a number"}},
    {"goal baseline value proportion",
     NULL,
     {"baseline={'value': 1.5, 'to': '2023-12-31'}"},
     1,
     {G "baseline.value: 1.5 is outside [0, 1] for the proportion KPI \"no_show_rate\""}},
    {"goal baseline typo",
     NULL,
     {"baseline={'fro': '2023-01-01', 'to': '2023-12-31'}"},
     2,
     {G "baseline.fro: unknown field (did you mean \"baseline.from\"?)",
      G "baseline: needs \"from\" (a date: baseline from data) or \"value\" (a known baseline)"}},
    {"goal no target", NULL, {"target="}, 1, {G "target: required"}},
    {"goal target type",
     NULL,
     {"target=0.05"},
     1,
     {G "target: must be an object {\"value\", \"date\"}"}},
    {"goal target empty",
     NULL,
     {"target={}"},
     2,
     {G "target.value: required", G "target.date: required"}},
    {"goal target proportion",
     NULL,
     {"target={'value': 5, 'date': '2025-12-31'}"},
     1,
     {G "target.value: 5 is outside [0, 1] for the proportion KPI \"no_show_rate\""}},
    {"goal target negative proportion",
     NULL,
     {"kpi='double_documentation_share'", "target={'value': -0.1, 'date': '2025-12-31'}"},
     1,
     {G "target.value: -0.1 is outside [0, 1] for the proportion KPI "
        "\"double_documentation_share\""}},
    {"goal target negative minutes",
     NULL,
     {"kpi='ehr_active_minutes'", "target={'value': -1, 'date': '2025-12-31'}"},
     1,
     {G "target.value: -1 is negative; \"ehr_active_minutes\" counts minutes"}},
    {"goal target date equal",
     NULL,
     {"target={'value': 0.05, 'date': '2023-12-31'}"},
     1,
     {G "target.date: 2023-12-31 is not after baseline.to 2023-12-31"}},
    {"goal target date before",
     NULL,
     {"target={'value': 0.05, 'date': '2020-06-30'}"},
     1,
     {G "target.date: 2020-06-30 is not after baseline.to 2023-12-31"}},
    {"goal target date bad",
     NULL,
     {"target={'value': 0.05, 'date': '2025-02-29'}"},
     1,
     {G "target.date: \"2025-02-29\" is not a date (YYYY-MM-DD)"}},
    {"goal target typo",
     NULL,
     {"target={'value': 0.05, 'date': '2025-12-31', 'vaule': 1}"},
     1,
     {G "target.vaule: unknown field (did you mean \"target.value\"?)"}},
    {"goal tolerance negative",
     NULL,
     {"tolerance=-0.01"},
     1,
     {G "tolerance: must be a number >= 0"}},
    {"goal tolerance type", NULL, {"tolerance='0.01'"}, 1, {G "tolerance: must be a number >= 0"}},
    {"goal consecutive zero",
     NULL,
     {"consecutive=0"},
     1,
     {G "consecutive: must be an integer from 1 to 1000"}},
    {"goal consecutive real",
     NULL,
     {"consecutive=2.5"},
     1,
     {G "consecutive: must be an integer from 1 to 1000"}},
    {"goal consecutive string",
     NULL,
     {"consecutive='3'"},
     1,
     {G "consecutive: must be an integer from 1 to 1000"}},
    {"goal no owner", NULL, {"owner="}, 1, {G "owner: required"}},
    {"goal unknown owner", NULL, {"owner='leder'"}, 1, {G "owner: unknown owner \"leder\""}},
    {"goal benefit type",
     NULL,
     {"benefit=[]"},
     1,
     {G "benefit: must be an object {\"type\", \"minutes_per_unit\", \"nok_per_unit\", "
        "\"nok_per_hour\"}"}},
    {"goal benefit no type",
     NULL,
     {"benefit={'nok_per_unit': 1}"},
     1,
     {G "benefit.type: required"}},
    {"goal benefit bad type",
     NULL,
     {"benefit={'type': 'money'}"},
     1,
     {G "benefit.type: \"money\" is not \"time_saved\", \"avoided_cost\" or \"quality\""}},
    {"goal benefit negative",
     NULL,
     {"benefit={'type': 'time_saved', 'minutes_per_unit': -1, 'nok_per_unit': 'x', "
      "'nok_per_hour': -0.5}"},
     3,
     {G "benefit.minutes_per_unit: must be a number >= 0",
      G "benefit.nok_per_unit: must be a number >= 0",
      G "benefit.nok_per_hour: must be a number >= 0"}},
    {"goal benefit typo",
     NULL,
     {"benefit={'type': 'quality', 'nok_per_units': 1}"},
     1,
     {G "benefit.nok_per_units: unknown field (did you mean \"benefit.nok_per_unit\"?)"}},

    /* Many errors in one file: every one reported, in file order. */
    {"many errors",
     "{'units': [{'id': 'a', 'name': 'A', 'parent': 'b'}, {'id': 'b', 'name': 'B', 'parent': "
     "'a'}, {'id': 'c'}],"
     " 'owners': [{'id': 'o', 'name': 'O', 'webhook': 'mailto:x'}],"
     " 'goals': [{'id': 'g', 'unit': 'x', 'kpi': 'no_show', 'direction': 'decrease',"
     "  'baseline': {'from': '2023-01-01', 'to': '2023-12-31'},"
     "  'target': {'value': 0.05, 'date': '2022-12-31'}, 'tolerence': 1, 'owner': 'p'},"
     " {'id': 'g', 'unit': 'a', 'kpi': 'no_show_rate', 'direction': 'decrease',"
     "  'baseline': {'value': 0.1, 'to': '2023-12-31'},"
     "  'target': {'value': 0.05, 'date': '2024-12-31'}, 'owner': 'o'}]}",
     {0},
     0, /* counted below: more than 6 lines */
     {0}},
};

/* The goal file of a case: the base with its set[] applied. */
static char *build_goal_file(const bad_case_t *c)
{
    static char buf[8192];
    size_t o = 0;
    o += (size_t)snprintf(buf + o, sizeof(buf) - o,
                          "{'units': [{'id': 'a', 'name': 'A'}, {'id': 'b', 'name': 'B', "
                          "'parent': 'a'}], 'owners': [{'id': 'o', 'name': 'O'}], 'goals': [{");
    bool first = true;
    bool used[4] = {false};
    for (size_t f = 0; f < BASE_GOAL_FIELDS; f++) {
        const char *value = base_goal[f][1];
        size_t klen = strlen(base_goal[f][0]);
        for (int s = 0; s < 4 && c->set[s]; s++) {
            if (strncmp(c->set[s], base_goal[f][0], klen) == 0 && c->set[s][klen] == '=') {
                value = c->set[s] + klen + 1;
                used[s] = true;
            }
        }
        if (!*value)
            continue;
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s'%s': %s", first ? "" : ", ",
                              base_goal[f][0], value);
        first = false;
    }
    for (int s = 0; s < 4 && c->set[s]; s++) {
        if (used[s])
            continue;
        const char *eq = strchr(c->set[s], '=');
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s'%.*s': %s", first ? "" : ", ",
                              (int)(eq - c->set[s]), c->set[s], eq + 1);
        first = false;
    }
    snprintf(buf + o, sizeof(buf) - o, "}]}");
    return buf;
}

static bool line_matches(const char *line, size_t len, const char *want)
{
    size_t wl = strlen(want);
    const char *star = strchr(want, '*');
    if (!star)
        return len == wl && memcmp(line, want, len) == 0;
    /* Segments between '*' must appear in order; the first one anchored. */
    size_t seg = (size_t)(star - want);
    if (len < seg || memcmp(line, want, seg) != 0)
        return false;
    const char *p = line + seg, *end = line + len;
    const char *w = star + 1;
    while (*w) {
        const char *next = strchr(w, '*');
        size_t n = next ? (size_t)(next - w) : strlen(w);
        const char *hit = NULL;
        for (const char *q = p; q + n <= end; q++)
            if (memcmp(q, w, n) == 0) {
                hit = q;
                break;
            }
        if (!hit)
            return false;
        p = hit + n;
        w += n + (next ? 1 : 0);
    }
    return true;
}

/* True when errors has a line matching want. */
static bool has_line(const char *errors, const char *want)
{
    for (const char *p = errors; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (line_matches(p, len, want))
            return true;
        p += len + (nl ? 1 : 0);
    }
    return false;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

static void check_bad(const bad_case_t *c, const char *text)
{
    char *errors = NULL;
    int count = -1;
    goals_t *g = parse(text, &errors, &count);
    if (g)
        fail_msg("case \"%s\": accepted", c->name);
    if (count != c->count || count_lines(errors) != c->count)
        fail_msg("case \"%s\": %d errors (%d lines), expected %d:\n%s", c->name, count,
                 count_lines(errors), c->count, errors ? errors : "");
    for (int i = 0; i < 6 && c->lines[i]; i++)
        if (!has_line(errors, c->lines[i]))
            fail_msg("case \"%s\": no line\n  %s\nin:\n%s", c->name, c->lines[i], errors);
    free(errors);
}

static void test_bad_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case_t *c = &bad_cases[i];
        if (c->count == 0)
            continue;
        check_bad(c, c->file ? c->file : build_goal_file(c));
    }
}

/* The base file of the goal cases is itself valid. */
static void test_base_goal_ok(void **state)
{
    (void)state;
    bad_case_t none = {"base", NULL, {0}, 0, {0}};
    goals_t *g = parse_ok(build_goal_file(&none));
    assert_int_equal(g->goal_count, 1);
    goals_destroy(g);
}

static void test_many_errors(void **state)
{
    (void)state;
    const bad_case_t *c = &bad_cases[sizeof(bad_cases) / sizeof(bad_cases[0]) - 1];
    assert_string_equal(c->name, "many errors");
    static const char *const want[] = {
        "goals.json: unit \"c\": name: required",
        "goals.json: units: cycle through \"a\" -> \"b\" -> \"a\"",
        "goals.json: owner \"o\": webhook: \"mailto:x\" is not an http:// or https:// URL",
        G "tolerence: unknown field (did you mean \"tolerance\"?)",
        G "unit: unknown unit \"x\"",
        G "kpi: unknown KPI \"no_show\"",
        G "target.date: 2022-12-31 is not after baseline.to 2023-12-31",
        G "owner: unknown owner \"p\"",
        G "id: duplicate (an earlier goal has the same id)",
    };
    const size_t n = sizeof(want) / sizeof(want[0]);
    char *errors = NULL;
    int count = -1;
    assert_null(parse(c->file, &errors, &count));
    if (count != (int)n || count_lines(errors) != (int)n)
        fail_msg("%d errors, expected %zu:\n%s", count, n, errors);
    /* In file order, line by line. */
    const char *p = errors;
    for (size_t i = 0; i < n; i++) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        if (!line_matches(p, (size_t)(nl - p), want[i]))
            fail_msg("line %zu: expected\n  %s\ngot\n  %.*s", i + 1, want[i], (int)(nl - p), p);
        p = nl + 1;
    }
    free(errors);
}

/* A goal whose unit entry has its own errors is not also "unknown unit". */
static void test_no_cascade(void **state)
{
    (void)state;
    bad_case_t c = {
        "no cascade",
        "{'units': [{'id': 'a', 'name': 'A', 'parent': 'zz'}], 'owners': [{'id': 'o'}],"
        " 'goals': [{'id': 'g', 'unit': 'a', 'kpi': 'no_show_rate', 'direction': 'decrease',"
        "  'baseline': {'from': '2023-01-01', 'to': '2023-12-31'},"
        "  'target': {'value': 0.05, 'date': '2025-12-31'}, 'owner': 'o'}]}",
        {0},
        2,
        {"goals.json: unit \"a\": parent: unknown unit \"zz\"",
         "goals.json: owner \"o\": name: required"},
    };
    check_bad(&c, c.file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example),    cmocka_unit_test(test_defaults_and_variants),
        cmocka_unit_test(test_no_goals),   cmocka_unit_test(test_sample_file),
        cmocka_unit_test(test_load),       cmocka_unit_test(test_base_goal_ok),
        cmocka_unit_test(test_bad_cases),  cmocka_unit_test(test_many_errors),
        cmocka_unit_test(test_no_cascade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
