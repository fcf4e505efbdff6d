/* store: one libpq connection with reconnect and backoff. */
#include "gevinst/store.h"

#include "gevinst/config.h"
#include "gevinst/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
    char *conninfo;
    PGconn *conn;
    int failures;
};

store_t *store_new(const char *conninfo)
{
    store_t *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->conninfo = strdup(conninfo);
    if (!st->conninfo) {
        free(st);
        return NULL;
    }
    return st;
}

void store_destroy(store_t *st)
{
    if (!st)
        return;
    if (st->conn)
        PQfinish(st->conn);
    free(st->conninfo);
    free(st);
}

static void copy_pg_error(const char *msg, char *errstr, size_t errstr_size)
{
    snprintf(errstr, errstr_size, "%s", msg && *msg ? msg : "unknown PostgreSQL error");
    /* libpq messages end in newlines and may span lines; the log wants one. */
    for (char *p = errstr; *p; p++)
        if (*p == '\n')
            *p = p[1] ? ' ' : '\0';
}

/* Server notices ("schema already exists, skipping") go to the log at debug,
 * not raw to stderr as libpq's default does. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("postgres: %.*s", (int)strcspn(message, "\n"), message);
}

bool store_connect(store_t *st, char *errstr, size_t errstr_size)
{
    if (st->conn && PQstatus(st->conn) == CONNECTION_OK)
        return true;
    if (st->conn) {
        PQfinish(st->conn);
        st->conn = NULL;
    }
    /* Defaults first: later keywords win, so the user's conninfo (expanded
     * from dbname) can still override them. */
    const char *keys[] = {"application_name", "connect_timeout", "client_encoding", "dbname", NULL};
    const char *vals[] = {"gevinstd", "10", "UTF8", st->conninfo, NULL};
    st->conn = PQconnectdbParams(keys, vals, 1);
    if (!st->conn || PQstatus(st->conn) != CONNECTION_OK) {
        copy_pg_error(st->conn ? PQerrorMessage(st->conn) : "out of memory", errstr, errstr_size);
        if (st->conn)
            PQfinish(st->conn);
        st->conn = NULL;
        st->failures++;
        return false;
    }
    PQsetNoticeProcessor(st->conn, on_notice, NULL);
    PGresult *res = PQexec(st->conn, "SET TIME ZONE 'UTC'; SET statement_timeout = '300s'; "
                                     "SET lock_timeout = '60s'");
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        copy_pg_error(PQerrorMessage(st->conn), errstr, errstr_size);
    PQclear(res);
    if (!ok) {
        PQfinish(st->conn);
        st->conn = NULL;
        st->failures++;
        return false;
    }
    st->failures = 0;
    return true;
}

bool store_connected(const store_t *st)
{
    return st->conn && PQstatus(st->conn) == CONNECTION_OK;
}

void store_disconnect(store_t *st)
{
    if (st->conn)
        PQfinish(st->conn);
    st->conn = NULL;
}

int store_backoff_ms(const store_t *st)
{
    int ms = 250;
    for (int i = 1; i < st->failures && ms < 10000; i++)
        ms *= 2;
    return ms > 10000 ? 10000 : ms;
}

PGconn *store_conn(store_t *st)
{
    return store_connected(st) ? st->conn : NULL;
}

bool store_error(store_t *st, PGresult *res, char *errstr, size_t errstr_size)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg)
        msg = st->conn ? PQerrorMessage(st->conn) : "not connected";
    copy_pg_error(msg, errstr, errstr_size);
    return !store_connected(st);
}

bool store_plan_off(store_t *st, const char *names, store_plan_t *saved, char *errstr,
                    size_t errstr_size)
{
    if (!store_connected(st)) {
        snprintf(errstr, errstr_size, "not connected to PostgreSQL");
        return false;
    }
    if (strlen(names) >= sizeof(saved->names)) {
        snprintf(errstr, errstr_size, "planner settings %s: list too long", names);
        return false;
    }
    const char *p[1] = {names};
    PGresult *res = PQexecParams(st->conn,
                                 "SELECT current_setting(n), set_config(n, 'off', true) "
                                 "FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i) ORDER BY i",
                                 1, NULL, p, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok) {
        store_error(st, res, errstr, errstr_size);
    } else {
        /* The previous values as an array literal for the restore: on or off. */
        size_t used = 0;
        saved->prev[used++] = '{';
        for (int r = 0; r < PQntuples(res) && ok; r++) {
            const char *v = PQgetvalue(res, r, 0);
            size_t len = strlen(v);
            /* Room for the comma, the value, the brace and the NUL. */
            ok = (strcmp(v, "on") == 0 || strcmp(v, "off") == 0) &&
                 used + 1 + len + 2 <= sizeof(saved->prev);
            if (ok) {
                if (r)
                    saved->prev[used++] = ',';
                memcpy(saved->prev + used, v, len);
                used += len;
            }
        }
        if (!ok) {
            snprintf(errstr, errstr_size, "planner settings %s: unexpected values", names);
        } else {
            memcpy(saved->prev + used, "}", 2);
            snprintf(saved->names, sizeof(saved->names), "%s", names);
        }
    }
    PQclear(res);
    return ok;
}

bool store_plan_restore(store_t *st, const store_plan_t *saved, char *errstr, size_t errstr_size)
{
    if (!store_connected(st)) {
        snprintf(errstr, errstr_size, "not connected to PostgreSQL");
        return false;
    }
    const char *p[2] = {saved->names, saved->prev};
    PGresult *res = PQexecParams(st->conn,
                                 "SELECT set_config(n, v, true) "
                                 "FROM unnest($1::text[], $2::text[]) AS x(n, v)",
                                 2, NULL, p, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        store_error(st, res, errstr, errstr_size);
    PQclear(res);
    return ok;
}

bool store_exec(store_t *st, const char *sql, bool *retriable, char *errstr, size_t errstr_size)
{
    bool dummy;
    if (!retriable)
        retriable = &dummy;
    if (!store_connected(st)) {
        snprintf(errstr, errstr_size, "not connected to PostgreSQL");
        *retriable = true;
        return false;
    }
    PGresult *res = PQexec(st->conn, sql);
    ExecStatusType s = PQresultStatus(res);
    bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    if (!ok)
        *retriable = store_error(st, res, errstr, errstr_size);
    PQclear(res);
    return ok;
}

bool store_txn_own(store_t *st, const char *who, bool *own, bool *retriable, char *errstr,
                   size_t errstr_size)
{
    PGconn *conn = store_conn(st);
    if (!conn) {
        snprintf(errstr, errstr_size, "%s: not connected to PostgreSQL", who);
        *retriable = true;
        return false;
    }
    switch (PQtransactionStatus(conn)) {
    case PQTRANS_IDLE:
        *own = true;
        return true;
    case PQTRANS_INTRANS:
        *own = false;
        return true;
    case PQTRANS_INERROR:
        snprintf(errstr, errstr_size, "%s: the caller's transaction has failed", who);
        return false;
    default:
        snprintf(errstr, errstr_size, "%s: connection busy or broken", who);
        *retriable = true;
        return false;
    }
}
