#ifndef GEVINST_STORE_H
#define GEVINST_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* store: the PostgreSQL connection, reconnected with backoff when it drops.
 * One store per thread; libpq connections are not shared. */
typedef struct store store_t;

/* Copies conninfo. Does not connect. */
store_t *store_new(const char *conninfo);
void store_destroy(store_t *st);

/* Connects if not connected (or the connection went bad). Sets the session up
 * (application_name, UTC time zone, statement timeout). False + errstr when
 * the server cannot be reached; the caller retries after store_backoff_ms(). */
bool store_connect(store_t *st, char *errstr, size_t errstr_size);

/* True while the connection is usable. */
bool store_connected(const store_t *st);

/* Drops the connection (after an error left it in an unknown state). */
void store_disconnect(store_t *st);

/* Milliseconds to wait before the next connect attempt: grows 0.25 s, 0.5 s,
 * ... up to 10 s with each failure, back to the start after a success. */
int store_backoff_ms(const store_t *st);

/* The live connection, or NULL. Owned by the store. */
PGconn *store_conn(store_t *st);

/* Runs sql (no parameters, results discarded). On failure, errstr is set and
 * *retriable (may be NULL) says whether the connection was the cause. */
bool store_exec(store_t *st, const char *sql, bool *retriable, char *errstr, size_t errstr_size);

/* For functions that run in the caller's transaction when one is open and in
 * their own otherwise: *own is true when the connection is idle (the callee
 * opens and ends the transaction). False with errstr (prefixed by who) when
 * not connected, busy or inside a failed transaction (*retriable set for the
 * first two); *retriable is left alone on success. */
bool store_txn_own(store_t *st, const char *who, bool *own, bool *retriable, char *errstr,
                   size_t errstr_size);

/* Fills errstr from res or the connection and tells whether the failure was
 * the connection's (retry) rather than the statement's. Clears nothing. */
bool store_error(store_t *st, PGresult *res, char *errstr, size_t errstr_size);

/* Planner settings held off for one statement of the caller's transaction,
 * where batch-sized arrays make the planner choose a scan of a whole state
 * table over an index probe per key. store_plan_off sets the boolean settings
 * in names (an array literal, "{enable_hashjoin,enable_mergejoin}") to off
 * with set_config(..., true), one round trip, and keeps what they were;
 * store_plan_restore sets them back. Only inside a transaction block: outside
 * one, set_config(..., true) lasts for its own statement alone. */
typedef struct store_plan {
    char names[128];
    char prev[64];
} store_plan_t;

/* Hash and merge joins: a join of a batch's keys with a state table. */
#define STORE_PLAN_NO_HASH "{enable_hashjoin,enable_mergejoin}"

bool store_plan_off(store_t *st, const char *names, store_plan_t *saved, char *errstr,
                    size_t errstr_size);
bool store_plan_restore(store_t *st, const store_plan_t *saved, char *errstr, size_t errstr_size);

#endif
