/* dash: reader role, grants and view settings. */
#include "gevinst/dash.h"

#include "gevinst/log.h"
#include "gevinst/migrate.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static bool run(store_t *st, const char *sql, int n, const char *const *params, bool *retriable,
                char *errstr, size_t errstr_size)
{
    PGresult *res = PQexecParams(store_conn(st), sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(res);
    bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    if (!ok)
        *retriable = store_error(st, res, errstr, errstr_size);
    PQclear(res);
    return ok;
}

bool dash_setup(store_t *st, const config_t *cfg, bool *retriable, char *errstr, size_t errstr_size)
{
    char cells[24];
    *retriable = false;
    snprintf(cells, sizeof(cells), "%" PRId64, cfg->min_cell_size);
    const char *p[2] = {cells, cfg->pg_reader_role};
    /* One transaction under the migration lock: instances starting together
     * would otherwise GRANT at once ("tuple concurrently updated"). A role
     * name cannot be a bind parameter, hence set_config and format(%I) in a
     * DO block. Without CREATEROLE the block notes it instead of failing. */
    bool ok = run(st, "BEGIN", 0, NULL, retriable, errstr, errstr_size) &&
              run(st,
                  "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY "), "
                  "set_config('gevinst.reader_role', $1, true), "
                  "set_config('gevinst.reader_role_missing', '', true)",
                  1, &p[1], retriable, errstr, errstr_size) &&
              run(st,
                  "INSERT INTO gevinst.setting (key, value) VALUES ('min_cell_size', $1) "
                  "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value "
                  "WHERE setting.value IS DISTINCT FROM EXCLUDED.value",
                  1, p, retriable, errstr, errstr_size);
    if (ok && *cfg->pg_reader_role)
        ok = run(st,
                 "DO $$ DECLARE r text := current_setting('gevinst.reader_role'); BEGIN "
                 "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN "
                 "  BEGIN EXECUTE format('CREATE ROLE %I NOLOGIN', r); "
                 "  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; "
                 "  WHEN insufficient_privilege THEN "
                 "    PERFORM set_config('gevinst.reader_role_missing', SQLERRM, true); "
                 "    RETURN; "
                 "  END; "
                 "END IF; "
                 "EXECUTE format('GRANT USAGE ON SCHEMA gevinst_dash TO %I', r); "
                 "EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA gevinst_dash TO %I', r); "
                 "EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA gevinst FROM %I', r); "
                 "EXECUTE format('REVOKE ALL ON SCHEMA gevinst FROM %I', r); "
                 "END $$",
                 0, NULL, retriable, errstr, errstr_size);
    if (ok && *cfg->pg_reader_role) {
        PGresult *res =
            PQexec(store_conn(st), "SELECT current_setting('gevinst.reader_role_missing')");
        if (PQresultStatus(res) == PGRES_TUPLES_OK && *PQgetvalue(res, 0, 0))
            log_warn("dash: cannot create role %s (%s); create it as a superuser, or set "
                     "postgres.reader_role empty",
                     cfg->pg_reader_role, PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    if (ok)
        ok = run(st, "COMMIT", 0, NULL, retriable, errstr, errstr_size);
    if (!ok && store_conn(st))
        PQclear(PQexec(store_conn(st), "ROLLBACK"));
    return ok;
}
