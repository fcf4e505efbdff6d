#include "test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gevinst/migrate.h"
#include "gevinst/store.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "test_read_file: cannot open %s\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        abort();
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

const char *test_pg_conninfo(void)
{
    return getenv("GEVINST_TEST_CONNINFO");
}

const char *test_pg_require_conninfo(void)
{
    const char *conninfo = test_pg_conninfo();
    if (!conninfo)
        fail_msg("GEVINST_TEST_CONNINFO is not set: run under scripts/with-pg");
    return conninfo;
}

PGconn *test_pg_connect_to(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect '%s': %s", conninfo, PQerrorMessage(c));
    return c;
}

PGconn *test_pg_connect(void)
{
    return test_pg_connect_to(test_pg_require_conninfo());
}

void test_pg_migrate(PGconn *c)
{
    char errstr[512];
    bool retriable = false;
    if (!migrate_run(c, NULL, &retriable, errstr, sizeof(errstr)))
        fail_msg("migrate: %s", errstr);
}

store_t *test_pg_store(void)
{
    store_t *st = store_new(test_pg_require_conninfo());
    assert_non_null(st);
    char errstr[512];
    if (!store_connect(st, errstr, sizeof(errstr)))
        fail_msg("connect: %s", errstr);
    test_pg_migrate(store_conn(st));
    return st;
}

void test_pg_exec(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        fail_msg("%s\n-> %s", sql, PQerrorMessage(c));
    PQclear(res);
}

void test_pg_execf(PGconn *c, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    /* Truncated SQL could still run and mislead; refuse it. */
    if (n < 0 || (size_t)n >= sizeof(sql))
        fail_msg("test_pg_execf: SQL longer than %zu bytes: %.200s...", sizeof(sql) - 1, sql);
    test_pg_exec(c, sql);
}

/* Rows of a tuples result as text; newline after each row when terminate. */
static char *result_text(PGresult *res, bool terminate)
{
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    for (int r = 0; r < PQntuples(res); r++) {
        for (int c = 0; c < PQnfields(res); c++) {
            const char *v = PQgetisnull(res, r, c) ? "NULL" : PQgetvalue(res, r, c);
            size_t need = len + strlen(v) + 2; /* separator and NUL */
            while (need > cap) {
                cap *= 2;
                out = realloc(out, cap);
                assert_non_null(out);
            }
            const char *sep = c + 1 < PQnfields(res) ? "|" : terminate ? "\n" : "";
            len += (size_t)sprintf(out + len, "%s%s", v, sep);
        }
    }
    return out;
}

/* The rows of query sql as text; one_row: exactly one row, without its '\n'. */
static char *query_text(PGconn *c, const char *sql, bool one_row)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || (one_row && PQntuples(res) != 1))
        fail_msg("%s\n-> %s (%d rows)", sql, PQerrorMessage(c), PQntuples(res));
    char *out = result_text(res, !one_row);
    PQclear(res);
    return out;
}

static void expect_text(PGconn *c, const char *sql, bool one_row, const char *expected)
{
    char *got = query_text(c, sql, one_row);
    if (strcmp(got, expected) != 0)
        fail_msg("%s\nexpected:\n%s%sgot:\n%s%s", sql, expected, one_row ? "\n" : "", got,
                 one_row ? "\n" : "");
    free(got);
}

char *test_pg_rows(PGconn *c, const char *sql)
{
    return query_text(c, sql, false);
}

void test_pg_expect_rows(PGconn *c, const char *sql, const char *expected)
{
    expect_text(c, sql, false, expected);
}

char *test_pg_row(PGconn *c, const char *sql)
{
    return query_text(c, sql, true);
}

void test_pg_expect_row(PGconn *c, const char *sql, const char *expected)
{
    expect_text(c, sql, true, expected);
}
