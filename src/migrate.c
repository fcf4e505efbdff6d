/* migrate: append-only schema migrations, applied once under a lock. */
#include "gevinst/migrate.h"

#include "gevinst/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool exec_ok(PGconn *conn, const char *sql, bool *retriable, char *errstr,
                    size_t errstr_size)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        snprintf(errstr, errstr_size, "%s", PQerrorMessage(conn));
        errstr[strcspn(errstr, "\n")] = '\0';
        *retriable = PQstatus(conn) != CONNECTION_OK;
    }
    PQclear(res);
    return ok;
}

static void rollback(PGconn *conn)
{
    if (PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, "ROLLBACK"));
}

bool migrate_run_list(PGconn *conn, const migration_t *list, size_t count, int *applied,
                      bool *retriable, char *errstr, size_t errstr_size)
{
    bool retry_dummy;
    int done = 0;
    if (!retriable)
        retriable = &retry_dummy;
    *retriable = false;
    if (applied)
        *applied = 0;

    if (!exec_ok(conn, "BEGIN", retriable, errstr, errstr_size))
        return false;
    /* The lock comes first: CREATE ... IF NOT EXISTS is not safe against a
     * concurrent creator, the lock makes the second starter wait instead. */
    if (!exec_ok(conn,
                 "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ");"
                 "CREATE SCHEMA IF NOT EXISTS gevinst;"
                 "CREATE TABLE IF NOT EXISTS gevinst.schema_migration ("
                 " version integer PRIMARY KEY, name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 retriable, errstr, errstr_size)) {
        rollback(conn);
        return false;
    }

    PGresult *res = PQexec(conn, "SELECT version FROM gevinst.schema_migration");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(errstr, errstr_size, "reading gevinst.schema_migration: %s", PQerrorMessage(conn));
        *retriable = PQstatus(conn) != CONNECTION_OK;
        PQclear(res);
        rollback(conn);
        return false;
    }

    for (size_t i = 0; i < count; i++) {
        const migration_t *m = &list[i];
        bool recorded = false;
        for (int r = 0; r < PQntuples(res) && !recorded; r++)
            recorded = atoi(PQgetvalue(res, r, 0)) == m->version;
        if (recorded)
            continue;
        char why[512];
        if (!exec_ok(conn, m->sql, retriable, why, sizeof(why))) {
            snprintf(errstr, errstr_size, "migration %s failed: %s", m->name, why);
            PQclear(res);
            rollback(conn);
            return false;
        }
        char ver[16];
        const char *params[2] = {ver, m->name};
        snprintf(ver, sizeof(ver), "%d", m->version);
        PGresult *ins = PQexecParams(
            conn, "INSERT INTO gevinst.schema_migration (version, name) VALUES ($1, $2)", 2, NULL,
            params, NULL, NULL, 0);
        bool ins_ok = PQresultStatus(ins) == PGRES_COMMAND_OK;
        PQclear(ins);
        if (!ins_ok) {
            snprintf(errstr, errstr_size, "recording migration %s: %s", m->name,
                     PQerrorMessage(conn));
            *retriable = PQstatus(conn) != CONNECTION_OK;
            PQclear(res);
            rollback(conn);
            return false;
        }
        log_info("migrate: applied %s", m->name);
        done++;
    }
    PQclear(res);

    if (!exec_ok(conn, "COMMIT", retriable, errstr, errstr_size)) {
        rollback(conn);
        return false;
    }
    if (applied)
        *applied = done;
    return true;
}

bool migrate_run(PGconn *conn, int *applied, bool *retriable, char *errstr, size_t errstr_size)
{
    return migrate_run_list(conn, migrations, migrations_count, applied, retriable, errstr,
                            errstr_size);
}

int migrate_latest_version(void)
{
    return migrations_count ? migrations[migrations_count - 1].version : 0;
}
