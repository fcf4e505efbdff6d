#ifndef GEVINST_MIGRATE_H
#define GEVINST_MIGRATE_H

#include "gevinst/migrate_data.h"

#include <libpq-fe.h>
#include <stdbool.h>

/* Applies the migrations compiled into the binary (sql/NNN_*.sql) that the
 * database has not recorded in gevinst.schema_migration. Everything runs in
 * one transaction under a transaction-scoped advisory lock, so instances
 * starting together serialise and each migration is applied exactly once.
 * *applied (may be NULL) gets how many were applied now. On failure nothing is
 * applied; *retriable says whether a connection problem (worth a retry) or
 * the SQL itself (fatal) was the cause. */
bool migrate_run(PGconn *conn, int *applied, bool *retriable, char *errstr, size_t errstr_size);

/* Same, with an explicit list (sorted by version): for tests. */
bool migrate_run_list(PGconn *conn, const migration_t *list, size_t count, int *applied,
                      bool *retriable, char *errstr, size_t errstr_size);

/* The advisory lock migrations run under ("gevi" "nstd"); other schema-wide
 * set-up (grants) takes it too. */
#define MIGRATE_LOCK_KEY "7450580227585434724"

/* Highest version compiled in. */
int migrate_latest_version(void);

#endif
