#ifndef GEVINST_TEST_UTIL_H
#define GEVINST_TEST_UTIL_H

#include <stddef.h>

/* libpq is harmless here: every unit test links gevinst_core, which links it. */
#include <libpq-fe.h>

typedef struct store store_t;

/* Reads a whole file into a NUL-terminated malloc'd buffer; aborts the test on failure. */
char *test_read_file(const char *path, size_t *len);

/* Connection string of the throwaway server started by scripts/with-pg
 * (GEVINST_TEST_CONNINFO); NULL when not set. */
const char *test_pg_conninfo(void);

/* The helpers below fail the running test (or group setup) with a message
 * naming the SQL and the server's error; they never return on failure. */

/* test_pg_conninfo(), failing with "run under scripts/with-pg" when unset. */
const char *test_pg_require_conninfo(void);

/* A new connection to conninfo; the caller PQfinish()es it. */
PGconn *test_pg_connect_to(const char *conninfo);

/* A new connection to the test server (test_pg_require_conninfo()). */
PGconn *test_pg_connect(void);

/* A new store connected to the test server with every migration applied;
 * the caller store_destroy()s it. */
store_t *test_pg_store(void);

/* Applies every migration on c. */
void test_pg_migrate(PGconn *c);

/* Runs sql (a command or a query; the result is discarded). */
void test_pg_exec(PGconn *c, const char *sql);

/* test_pg_exec() of the formatted SQL (at most 4095 bytes). */
void test_pg_execf(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The result of query sql as malloc'd text: columns joined by '|', NULL as
 * "NULL", each row ended by '\n' ("" for no rows). The caller frees. */
char *test_pg_rows(PGconn *c, const char *sql);

/* Fails unless test_pg_rows(c, sql) is exactly expected. */
void test_pg_expect_rows(PGconn *c, const char *sql, const char *expected);

/* The only row of query sql as malloc'd text, columns joined by '|', NULL as
 * "NULL", no '\n'; fails unless there is exactly one row. The caller frees. */
char *test_pg_row(PGconn *c, const char *sql);

/* Fails unless query sql has exactly one row and test_pg_row() of it is expected. */
void test_pg_expect_row(PGconn *c, const char *sql, const char *expected);

#endif
