/* pgbin binary arrays through a real PostgreSQL (scripts/with-pg): what goes in
 * as a binary $1::bytea[] / uuid[] / int8[] / int4[] / int2[] / text[] comes out of
 * unnest() unchanged, read back both as text and in binary. */
#include "gevinst/pgbin.h"

#include "test_util.h"

#include <inttypes.h>
#include <libpq-fe.h>
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

/* SELECT the elements of the binary array $1::TYPE[] in order; expr over u
 * picks the output, result_format 0 (text) or 1 (binary). The caller clears. */
static PGresult *unnest(PGconn *conn, pgbin_t *a, const char *type, const char *expr,
                        int result_format)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM unnest($1::%s[]) WITH ORDINALITY AS t(u, i) ORDER BY i", expr, type);
    int len;
    const char *v[1] = {pgbin_param(a, &len)};
    assert_non_null(v[0]);
    int lens[1] = {len}, fmts[1] = {1};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, v, lens, fmts, result_format);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", type, PQerrorMessage(conn));
    return res;
}

static void key_of(uint8_t key[32], unsigned seed)
{
    for (int b = 0; b < 32; b++)
        key[b] = (uint8_t)(seed * 131u + (unsigned)b * 7u + (seed >> 3));
    key[30] = (uint8_t)(seed >> 8); /* distinct keys for distinct seeds */
    key[31] = (uint8_t)seed;
}

static void test_bytea_keys(void **state)
{
    PGconn *conn = *state;
    enum { N = 3000 };
    pgbin_t a;
    pgbin_init(&a, PGBIN_BYTEA);
    uint8_t key[32];
    /* Zero bytes, 0xff and a backslash must pass untouched. */
    memset(key, 0, sizeof(key));
    pgbin_add_bytes(&a, key, 32);
    memset(key, 0xff, sizeof(key));
    pgbin_add_bytes(&a, key, 32);
    memset(key, '\\', sizeof(key));
    pgbin_add_bytes(&a, key, 32);
    for (unsigned i = 3; i < N; i++) {
        key_of(key, i);
        pgbin_add_bytes(&a, key, 32);
    }
    PGresult *res = unnest(conn, &a, "bytea", "u, length(u), encode(u, 'hex')", 1);
    assert_int_equal(PQntuples(res), N);
    for (int i = 0; i < N; i++) {
        if (i == 0)
            memset(key, 0, sizeof(key));
        else if (i == 1)
            memset(key, 0xff, sizeof(key));
        else if (i == 2)
            memset(key, '\\', sizeof(key));
        else
            key_of(key, (unsigned)i);
        assert_int_equal(PQgetlength(res, i, 0), 32);
        assert_memory_equal(PQgetvalue(res, i, 0), key, 32);
        assert_int_equal(pgbin_get_int4(PQgetvalue(res, i, 1)), 32);
        char hex[65];
        for (int b = 0; b < 32; b++)
            snprintf(hex + 2 * b, 3, "%02x", key[b]);
        assert_int_equal(PQgetlength(res, i, 2), 64);
        assert_memory_equal(PQgetvalue(res, i, 2), hex, 64);
    }
    PQclear(res);

    /* Reset keeps the type: a second batch replaces the first. */
    pgbin_reset(&a);
    key_of(key, 7);
    pgbin_add_bytes(&a, key, 32);
    pgbin_add_bytes(&a, "", 0);
    res = unnest(conn, &a, "bytea", "u", 1);
    assert_int_equal(PQntuples(res), 2);
    assert_int_equal(PQgetlength(res, 0, 0), 32);
    assert_memory_equal(PQgetvalue(res, 0, 0), key, 32);
    assert_int_equal(PQgetlength(res, 1, 0), 0);
    assert_false(PQgetisnull(res, 1, 0));
    PQclear(res);
    pgbin_free(&a);
}

/* uuid elements are 16 raw bytes each way; the text form is the same bytes in
 * hex (how the appointment keys of appt_state read in psql). */
static void test_uuid_keys(void **state)
{
    PGconn *conn = *state;
    enum { N = 1000 };
    pgbin_t a;
    pgbin_init(&a, PGBIN_UUID);
    uint8_t key[32];
    for (unsigned i = 0; i < N; i++) {
        key_of(key, i);
        pgbin_add_bytes(&a, key + 16, 16); /* the seed is in the last bytes */
    }
    PGresult *res = unnest(conn, &a, "uuid", "u, replace(u::text, '-', '')", 1);
    assert_int_equal(PQntuples(res), N);
    for (int i = 0; i < N; i++) {
        key_of(key, (unsigned)i);
        assert_int_equal(PQgetlength(res, i, 0), 16);
        assert_memory_equal(PQgetvalue(res, i, 0), key + 16, 16);
        char hex[33];
        for (int b = 0; b < 16; b++)
            snprintf(hex + 2 * b, 3, "%02x", key[16 + b]);
        assert_int_equal(PQgetlength(res, i, 1), 32);
        assert_memory_equal(PQgetvalue(res, i, 1), hex, 32);
    }
    PQclear(res);
    pgbin_free(&a);
}

static void test_ints(void **state)
{
    PGconn *conn = *state;
    static const int64_t v8[] = {0, 1, -1, 255, 256, -256, INT64_MIN, INT64_MAX, 1700000000000123};
    static const int32_t v4[] = {0, 1, -1, 255, 256, -256, INT32_MIN, INT32_MAX, 20000};
    static const int16_t v2[] = {0, 1, -1, 255, 256, -256, INT16_MIN, INT16_MAX, 5};
    enum { N = sizeof(v8) / sizeof(v8[0]) };
    pgbin_t a8, a4, a2;
    pgbin_init(&a8, PGBIN_INT8);
    pgbin_init(&a4, PGBIN_INT4);
    pgbin_init(&a2, PGBIN_INT2);
    for (int i = 0; i < N; i++) {
        pgbin_add_int8(&a8, v8[i]);
        pgbin_add_int4(&a4, v4[i]);
        pgbin_add_int2(&a2, v2[i]);
    }
    /* As text: the server read the same numbers. */
    PGresult *r8 = unnest(conn, &a8, "int8", "u::text", 0);
    PGresult *r4 = unnest(conn, &a4, "int4", "u::text", 0);
    PGresult *r2 = unnest(conn, &a2, "int2", "u::text", 0);
    assert_int_equal(PQntuples(r8), N);
    assert_int_equal(PQntuples(r4), N);
    assert_int_equal(PQntuples(r2), N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(strtoll(PQgetvalue(r8, i, 0), NULL, 10), v8[i]);
        assert_int_equal(strtoll(PQgetvalue(r4, i, 0), NULL, 10), v4[i]);
        assert_int_equal(strtoll(PQgetvalue(r2, i, 0), NULL, 10), v2[i]);
    }
    PQclear(r8);
    PQclear(r4);
    PQclear(r2);
    /* In binary: the readers decode what the server sends. */
    r8 = unnest(conn, &a8, "int8", "u", 1);
    r4 = unnest(conn, &a4, "int4", "u", 1);
    r2 = unnest(conn, &a2, "int2", "u", 1);
    for (int i = 0; i < N; i++) {
        assert_int_equal(PQgetlength(r8, i, 0), 8);
        assert_int_equal(PQgetlength(r4, i, 0), 4);
        assert_int_equal(PQgetlength(r2, i, 0), 2);
        assert_int_equal(pgbin_get_int8(PQgetvalue(r8, i, 0)), v8[i]);
        assert_int_equal(pgbin_get_int4(PQgetvalue(r4, i, 0)), v4[i]);
        assert_int_equal(pgbin_get_int2(PQgetvalue(r2, i, 0)), v2[i]);
    }
    PQclear(r8);
    PQclear(r4);
    PQclear(r2);
    pgbin_free(&a8);
    pgbin_free(&a4);
    pgbin_free(&a2);
}

static void test_text_and_nulls(void **state)
{
    PGconn *conn = *state;
    static const char *values[] = {
        "plain", "", "with \"quotes\", {braces} and \\", "NULL", NULL, "Ærøskøbing ✓ 😀",
    };
    enum { N = sizeof(values) / sizeof(values[0]) };
    pgbin_t a;
    pgbin_init(&a, PGBIN_TEXT);
    for (int i = 0; i < N; i++)
        pgbin_add_text(&a, values[i]);
    PGresult *res = unnest(conn, &a, "text", "u", 0);
    assert_int_equal(PQntuples(res), N);
    for (int i = 0; i < N; i++) {
        if (!values[i]) {
            assert_true(PQgetisnull(res, i, 0));
            continue;
        }
        assert_false(PQgetisnull(res, i, 0));
        assert_string_equal(PQgetvalue(res, i, 0), values[i]);
    }
    PQclear(res);

    /* NULLs in a numeric array too. */
    pgbin_t n;
    pgbin_init(&n, PGBIN_INT8);
    pgbin_add_int8(&n, 5);
    pgbin_add_null(&n);
    res = unnest(conn, &n, "int8", "u", 1);
    assert_int_equal(PQntuples(res), 2);
    assert_int_equal(pgbin_get_int8(PQgetvalue(res, 0, 0)), 5);
    assert_true(PQgetisnull(res, 1, 0));
    PQclear(res);
    pgbin_free(&n);
    pgbin_free(&a);
}

static void test_empty(void **state)
{
    PGconn *conn = *state;
    static const uint32_t types[] = {PGBIN_BYTEA, PGBIN_INT8, PGBIN_INT4, PGBIN_INT2, PGBIN_TEXT};
    static const char *names[] = {"bytea", "int8", "int4", "int2", "text"};
    for (int t = 0; t < 5; t++) {
        pgbin_t a;
        pgbin_init(&a, types[t]);
        PGresult *res = unnest(conn, &a, names[t], "u", 0);
        assert_int_equal(PQntuples(res), 0);
        PQclear(res);
        /* Emptied after use: still an empty array, not a stale one. */
        pgbin_add_int8(&a, 1);
        pgbin_reset(&a);
        int len;
        const char *v[1] = {pgbin_param(&a, &len)};
        int lens[1] = {len}, fmts[1] = {1};
        char sql[64];
        snprintf(sql, sizeof(sql), "SELECT cardinality($1::%s[])", names[t]);
        res = PQexecParams(conn, sql, 1, NULL, v, lens, fmts, 0);
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_string_equal(PQgetvalue(res, 0, 0), "0");
        PQclear(res);
        pgbin_free(&a);
    }
}

/* Several binary arrays unnested side by side, as the state writers use them,
 * and a wrong element type refused by the server rather than misread. */
static void test_columns(void **state)
{
    PGconn *conn = *state;
    enum { N = 1000 };
    pgbin_t k, t, d;
    pgbin_init(&k, PGBIN_BYTEA);
    pgbin_init(&t, PGBIN_INT8);
    pgbin_init(&d, PGBIN_INT4);
    uint8_t key[32];
    for (int i = 0; i < N; i++) {
        key_of(key, (unsigned)i);
        pgbin_add_bytes(&k, key, 32);
        pgbin_add_int8(&t, (int64_t)i * 1000003 - 7);
        pgbin_add_int4(&d, -i);
    }
    int lens[3];
    const char *v[3] = {pgbin_param(&k, &lens[0]), pgbin_param(&t, &lens[1]),
                        pgbin_param(&d, &lens[2])};
    int fmts[3] = {1, 1, 1};
    PGresult *res = PQexecParams(conn,
                                 "SELECT count(*), sum(t), sum(d), count(DISTINCT k) "
                                 "FROM unnest($1::bytea[], $2::int8[], $3::int4[]) AS x(k, t, d)",
                                 3, NULL, v, lens, fmts, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    char want[64];
    assert_string_equal(PQgetvalue(res, 0, 0), "1000");
    snprintf(want, sizeof(want), "%" PRId64, (int64_t)N * (N - 1) / 2 * 1000003 - 7 * N);
    assert_string_equal(PQgetvalue(res, 0, 1), want);
    snprintf(want, sizeof(want), "%d", -N * (N - 1) / 2);
    assert_string_equal(PQgetvalue(res, 0, 2), want);
    assert_string_equal(PQgetvalue(res, 0, 3), "1000");
    PQclear(res);

    res = PQexecParams(conn, "SELECT cardinality($1::int8[])", 1, NULL, &v[2], &lens[2], fmts, 0);
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    assert_non_null(strstr(PQresultErrorMessage(res), "instead of expected 20"));
    PQclear(res);
    pgbin_free(&k);
    pgbin_free(&t);
    pgbin_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytea_keys), cmocka_unit_test(test_uuid_keys),
        cmocka_unit_test(test_ints),       cmocka_unit_test(test_text_and_nulls),
        cmocka_unit_test(test_empty),      cmocka_unit_test(test_columns),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
