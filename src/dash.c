/* dash: reader role, grants and view settings. */
#include "gevinst/dash.h"

#include "gevinst/log.h"

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
    const char *p1[1] = {cells};
    if (!run(st,
             "INSERT INTO gevinst.setting (key, value) VALUES ('min_cell_size', $1) "
             "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value "
             "WHERE setting.value IS DISTINCT FROM EXCLUDED.value",
             1, p1, retriable, errstr, errstr_size))
        return false;
    if (!*cfg->pg_reader_role)
        return true;

    /* A role name cannot be a bind parameter: format(%I) quotes it inside a
     * DO block, which takes no parameters either, hence the set_config. */
    const char *p2[1] = {cfg->pg_reader_role};
    if (!run(st, "SELECT set_config('gevinst.reader_role', $1, false)", 1, p2, retriable, errstr,
             errstr_size))
        return false;
    char why[512];
    bool r2 = false;
    if (!run(st,
             "DO $$ DECLARE r text := current_setting('gevinst.reader_role'); BEGIN "
             "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN "
             "  BEGIN EXECUTE format('CREATE ROLE %I NOLOGIN', r); "
             "  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END; "
             "END IF; END $$",
             0, NULL, &r2, why, sizeof(why))) {
        if (r2) {
            *retriable = true;
            snprintf(errstr, errstr_size, "%s", why);
            return false;
        }
        log_warn("dash: cannot create role %s (%s); create it as a superuser, or set "
                 "postgres.reader_role empty",
                 cfg->pg_reader_role, why);
        return true;
    }
    if (!run(st,
             "DO $$ DECLARE r text := current_setting('gevinst.reader_role'); BEGIN "
             "EXECUTE format('GRANT USAGE ON SCHEMA gevinst_dash TO %I', r); "
             "EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA gevinst_dash TO %I', r); "
             "EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA gevinst FROM %I', r); "
             "EXECUTE format('REVOKE ALL ON SCHEMA gevinst FROM %I', r); "
             "END $$",
             0, NULL, retriable, errstr, errstr_size))
        return false;
    return true;
}
