#ifndef GEVINST_GOALS_H
#define GEVINST_GOALS_H

/* goals: the goals file of goals.md (units, owners, benefit goals), read and
 * validated as a whole, and copied into the database registry
 * (gevinst.unit, gevinst.owner, gevinst.goal_def).
 *
 * A goals_t is immutable once loaded: everything in it is owned by it and
 * read-only for other modules, so the SPC code may keep pointers into it for
 * as long as it holds the goals_t. On SIGHUP load a new one, and only when
 * that succeeds swap it in and destroy the old one. */

#include "gevinst/kpi.h"
#include "gevinst/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum goals_direction {
    GOALS_DECREASE, /* lower is better */
    GOALS_INCREASE, /* higher is better */
} goals_direction_t;

typedef enum goals_period {
    GOALS_MONTH, /* calendar month (the default) */
    GOALS_WEEK,  /* ISO week, Monday to Sunday */
} goals_period_t;

typedef enum goals_benefit_type {
    GOALS_BENEFIT_NONE, /* no "benefit" in the file */
    GOALS_BENEFIT_TIME_SAVED,
    GOALS_BENEFIT_AVOIDED_COST,
    GOALS_BENEFIT_QUALITY,
} goals_benefit_type_t;

typedef struct goals_unit {
    char *id;
    char *name;
    char *parent_id; /* NULL: a root */
    int parent;      /* index into goals_t.units, -1 for a root */
} goals_unit_t;

typedef struct goals_owner {
    char *id;
    char *name;
    char *email;   /* NULL: none */
    char *webhook; /* NULL: none */
} goals_owner_t;

/* Dates are days since 1970-01-01 (timeutil_days_from_civil). Optional
 * numbers the file leaves out are NAN: test with isnan(). */
typedef struct goals_goal {
    char *id;
    char *unit_id;
    int unit; /* index into goals_t.units */
    kpi_id_t kpi;
    goals_direction_t direction;
    goals_period_t period;
    /* Baseline: from data over [baseline_from, baseline_to], or a known value
     * referring to baseline_to. */
    bool baseline_from_data;
    int32_t baseline_from; /* only when baseline_from_data */
    int32_t baseline_to;
    double baseline_value; /* NAN when baseline_from_data */
    double target_value;
    int32_t target_date; /* > baseline_to */
    double tolerance;    /* >= 0; NAN: default, see goals_tolerance() */
    int consecutive;     /* >= 1, default 3 */
    char *owner_id;
    int owner; /* index into goals_t.owners */
    goals_benefit_type_t benefit_type;
    double minutes_per_unit; /* >= 0 or NAN */
    double nok_per_unit;     /* >= 0 or NAN */
    double nok_per_hour;     /* >= 0 or NAN */
} goals_goal_t;

/* A loaded goals file. Read-only; free with goals_destroy(). Arrays are in
 * file order. */
typedef struct goals {
    char *path; /* as given to goals_load/goals_parse */
    goals_unit_t *units;
    size_t unit_count;
    goals_owner_t *owners;
    size_t owner_count;
    goals_goal_t *goals;
    size_t goal_count;
} goals_t;

/* Reads and validates the goals file at path. Every problem is appended to
 * *errors, one line each ("path: goal \"id\": field: reason\n"; the caller
 * frees *errors, which is NULL when there is none) and counted in
 * *error_count. Returns NULL when there was any error: a goals file is used
 * whole or not at all. Touches nothing outside memory. */
goals_t *goals_load(const char *path, char **errors, int *error_count);

/* Same for text already in memory (len bytes, need not be NUL-terminated);
 * path is only used in messages and copied into goals_t.path. */
goals_t *goals_parse(const char *path, const char *text, size_t len, char **errors,
                     int *error_count);

/* Accepts NULL. */
void goals_destroy(goals_t *g);

/* True when id is an owner of the file (for alerts.data_team_owner, which
 * the caller checks and reports). g may be NULL (no goals file): false. */
bool goals_has_owner(const goals_t *g, const char *id);

/* Index of the unit / owner / goal with this id, or -1. */
int goals_unit_index(const goals_t *g, const char *id);
int goals_owner_index(const goals_t *g, const char *id);
int goals_goal_index(const goals_t *g, const char *id);

/* Proportion KPIs (no_show_rate*, *_share): judged with a p' chart, targets
 * in [0, 1]. The others are minute KPIs (ehr_active_minutes,
 * documentation_minutes, double_documentation_minutes). */
bool goals_kpi_is_proportion(kpi_id_t kpi);

/* The tolerance in force for goal given the baseline center: the file's
 * value, or by default 10% of abs(target - center). */
double goals_tolerance(const goals_goal_t *goal, double center);

/* Replaces the registry in PostgreSQL with g: upserts gevinst.unit,
 * gevinst.owner and gevinst.goal_def rows and deletes those not in g (FKs
 * between them are deferred, so file order does not matter). Serialised
 * between instances by a transaction-scoped advisory lock.
 *
 * Runs inside the caller's transaction when one is open on the store's
 * connection (the caller then commits or rolls back); otherwise in its own
 * transaction, committed on success and rolled back on failure. Connects
 * nothing: the store must be connected. On failure, errstr is set and
 * *retriable (may be NULL) says whether the connection was the cause (retry)
 * or the statement (fatal: a schema mismatch). */
bool goals_sync(const goals_t *g, store_t *st, bool *retriable, char *errstr, size_t errstr_size);

#endif
