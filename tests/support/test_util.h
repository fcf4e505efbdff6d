#ifndef GEVINST_TEST_UTIL_H
#define GEVINST_TEST_UTIL_H

#include <stddef.h>

/* Reads a whole file into a NUL-terminated malloc'd buffer; aborts the test on failure. */
char *test_read_file(const char *path, size_t *len);

/* Connection string of the throwaway server started by scripts/with-pg
 * (GEVINST_TEST_CONNINFO); NULL when not set. */
const char *test_pg_conninfo(void);

#endif
