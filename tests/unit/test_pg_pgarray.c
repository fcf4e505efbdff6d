/* pgarray literals through a real PostgreSQL (scripts/with-pg): what goes in
 * as $1::text[] / int8[] / float8[] comes out of unnest() unchanged. */
#include "gevinst/pgarray.h"

#include "test_util.h"

#include <float.h>
#include <libpq-fe.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int setup(void **state)
{
    *state = test_pg_connect();
    return 0;
}

static int teardown(void **state)
{
    PQfinish(*state);
    return 0;
}

/* SELECT unnest($1::TYPE[]) in order, as text; the caller clears. */
static PGresult *unnest(PGconn *conn, const char *type, const char *literal)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT u::text FROM unnest($1::%s[]) WITH ORDINALITY AS t(u, i) ORDER BY i", type);
    const char *params[1] = {literal};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s with %.200s: %s", type, literal, PQerrorMessage(conn));
    return res;
}

static void test_text_round_trip(void **state)
{
    PGconn *conn = *state;
    static const char *values[] = {
        "plain",
        "",
        "with \"double\" quotes",
        "back\\slash",
        "\\",
        "\"",
        "\\\"",
        "{braces}",
        "}",
        "{",
        "a,b,c",
        ",",
        "  leading and trailing spaces  ",
        " ",
        "tab\there",
        "new\nline\r\n",
        "'single'",
        "NULL",
        "null",
        NULL,
        "Ærøskøbing ✓ 😀 日本語",
        "{\"nested\",\"array\"}",
        "$1 -- not sql; DROP TABLE x",
    };
    size_t n = sizeof(values) / sizeof(values[0]);
    pgarray_t a;
    pgarray_init(&a);
    for (size_t i = 0; i < n; i++)
        pgarray_add_text(&a, values[i]);
    PGresult *res = unnest(conn, "text", pgarray_str(&a));
    assert_int_equal(PQntuples(res), n);
    for (size_t i = 0; i < n; i++) {
        if (!values[i]) {
            if (!PQgetisnull(res, (int)i, 0))
                fail_msg("element %zu: '%s', expected SQL NULL", i, PQgetvalue(res, (int)i, 0));
            continue;
        }
        if (PQgetisnull(res, (int)i, 0))
            fail_msg("element %zu: SQL NULL, expected '%s'", i, values[i]);
        if (strcmp(PQgetvalue(res, (int)i, 0), values[i]) != 0)
            fail_msg("element %zu: '%s', expected '%s'", i, PQgetvalue(res, (int)i, 0), values[i]);
    }
    PQclear(res);

    /* The text NULL and SQL NULL, told apart by the server too. */
    const char *params[1] = {NULL};
    pgarray_reset(&a);
    pgarray_add_text(&a, "NULL");
    pgarray_add_text(&a, NULL);
    params[0] = pgarray_str(&a);
    res = PQexecParams(conn,
                       "SELECT count(*) FILTER (WHERE u IS NULL), count(*) FILTER (WHERE u = "
                       "'NULL') FROM unnest($1::text[]) AS u",
                       1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "1");
    assert_string_equal(PQgetvalue(res, 0, 1), "1");
    PQclear(res);

    /* Empty array: no rows. */
    pgarray_reset(&a);
    res = unnest(conn, "text", pgarray_str(&a));
    assert_int_equal(PQntuples(res), 0);
    PQclear(res);
    pgarray_free(&a);
}

/* A large batch, as the store sends it: every element back, in order. */
static void test_text_large_batch(void **state)
{
    PGconn *conn = *state;
    enum { N = 5000 };
    pgarray_t a;
    pgarray_init(&a);
    char buf[64];
    for (int i = 0; i < N; i++) {
        snprintf(buf, sizeof(buf), "%d:\"\\{,}\" %s", i, i % 2 ? "x" : "");
        pgarray_add_text(&a, buf);
    }
    PGresult *res = unnest(conn, "text", pgarray_str(&a));
    assert_int_equal(PQntuples(res), N);
    for (int i = 0; i < N; i++) {
        snprintf(buf, sizeof(buf), "%d:\"\\{,}\" %s", i, i % 2 ? "x" : "");
        assert_string_equal(PQgetvalue(res, i, 0), buf);
    }
    PQclear(res);
    pgarray_free(&a);
}

static void test_int_round_trip(void **state)
{
    PGconn *conn = *state;
    static const int64_t values[] = {0, 1, -1, 42, INT64_MIN, INT64_MAX, 1700000000000};
    size_t n = sizeof(values) / sizeof(values[0]);
    pgarray_t a;
    pgarray_init(&a);
    for (size_t i = 0; i < n; i++)
        pgarray_add_int(&a, values[i]);
    PGresult *res = unnest(conn, "int8", pgarray_str(&a));
    assert_int_equal(PQntuples(res), n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(strtoll(PQgetvalue(res, (int)i, 0), NULL, 10), values[i]);
    PQclear(res);
    pgarray_free(&a);
}

static void test_double_round_trip(void **state)
{
    PGconn *conn = *state;
    static const double values[] = {0.0,     -0.0,     0.1,     1.0 / 3.0, -2.5,
                                    DBL_MAX, -DBL_MAX, DBL_MIN, 5e-324,    1e300,
                                    1e-300,  1439.991, M_PI,    123456.75, 1e15};
    size_t n = sizeof(values) / sizeof(values[0]);
    pgarray_t a;
    pgarray_init(&a);
    for (size_t i = 0; i < n; i++)
        pgarray_add_double(&a, values[i]);
    /* float8 output is shortest-exact since PostgreSQL 12 (extra_float_digits 1). */
    PGresult *res = unnest(conn, "float8", pgarray_str(&a));
    assert_int_equal(PQntuples(res), n);
    for (size_t i = 0; i < n; i++) {
        double v = strtod(PQgetvalue(res, (int)i, 0), NULL);
        if (memcmp(&v, &values[i], sizeof(v)) != 0)
            fail_msg("element %zu: server says '%s', expected %.17g", i, PQgetvalue(res, (int)i, 0),
                     values[i]);
    }
    PQclear(res);

    /* Non-finite values are valid float8 too. */
    pgarray_reset(&a);
    pgarray_add_double(&a, INFINITY);
    pgarray_add_double(&a, -INFINITY);
    pgarray_add_double(&a, NAN);
    pgarray_add_double(&a, -NAN);
    res = unnest(conn, "float8", pgarray_str(&a));
    assert_int_equal(PQntuples(res), 4);
    assert_string_equal(PQgetvalue(res, 0, 0), "Infinity");
    assert_string_equal(PQgetvalue(res, 1, 0), "-Infinity");
    assert_string_equal(PQgetvalue(res, 2, 0), "NaN");
    assert_string_equal(PQgetvalue(res, 3, 0), "NaN");
    PQclear(res);
    pgarray_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_round_trip),
        cmocka_unit_test(test_text_large_batch),
        cmocka_unit_test(test_int_round_trip),
        cmocka_unit_test(test_double_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
