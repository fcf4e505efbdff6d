/* judge: goal judgement and data alerts, written with their outbox rows in
 * one transaction. See include/gevinst/judge.h for the rules it decides.
 *
 * The run reads (clocks, the goals' daily sums, unit clocks, intake counts,
 * firing silences), computes everything in memory (spc for the arithmetic)
 * and writes it back in a handful of set-based statements with array
 * parameters: goal results, goal periods, withdrawals, alert upserts. Writes
 * skip rows that did not change, so an idle run leaves no dead tuples. */
#include "gevinst/judge.h"

#include "gevinst/kpi.h"
#include "gevinst/pgarray.h"
#include "gevinst/spc.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Shared by every instance: two instances judge in turn. */
#define JUDGE_LOCK_KEY "7450580228102729081"
/* data.silence: the unit must have had events this recently (goals.md). */
#define SILENCE_WINDOW_DAYS 28
#define MINUTE_SCALE 60e6 /* kpi_bucket keeps minutes as microseconds */

enum { ROLE_APPOINTMENTS, ROLE_JOURNAL, ROLE_AUDIT, ROLE_COUNT };
static const char *const role_names[ROLE_COUNT] = {"appointments", "journal", "audit"};

void judge_conf_defaults(judge_conf_t *jc)
{
    *jc = (judge_conf_t){
        .grace_days = 2,
        .silence_days = 3,
        .rejection_threshold = 0.01,
        .max_age_days = 14,
        .timezone = "Europe/Oslo",
        .tz = NULL,
        .data_team_owner = "",
        .dashboard_url = "",
        .smtp_url = "",
        .topic_alerts = "",
    };
}

void judge_conf_from_config(judge_conf_t *jc, const config_t *cfg)
{
    judge_conf_defaults(jc);
    jc->grace_days = (int)cfg->grace_days;
    jc->max_age_days = (int)cfg->alerts_max_age_days;
    jc->timezone = cfg->timezone;
    jc->data_team_owner = cfg->data_team_owner ? cfg->data_team_owner : "";
    jc->dashboard_url = cfg->dashboard_url ? cfg->dashboard_url : "";
    jc->smtp_url = cfg->smtp_url ? cfg->smtp_url : "";
    jc->topic_alerts = cfg->topic_alerts ? cfg->topic_alerts : "";
    jc->silence_days = (int)cfg->silence_days;
    jc->rejection_threshold = cfg->rejection_threshold;
}

/* ------------------------------------------------------------ wanted alerts */

/* An alert as the data says it should be now. */
typedef struct want {
    char *key;
    char *goal_id; /* NULL: data alert */
    char *unit_id;
    const char *kpi; /* NULL: data alert */
    const char *kind;
    int32_t start, end;
    const char *state;
    double actual, expected;
    char *detail;      /* JSON object text, without "revision" */
    const char *owner; /* NULL: none (Kafka only) */
    bool suppressed;
} want_t;

typedef struct judge {
    store_t *st;
    const goals_t *g;
    const judge_conf_t *conf;
    const timeutil_tz_t *tz;
    int32_t today;
    int64_t clock[ROLE_COUNT];
    bool has_clock[ROLE_COUNT];
    want_t *wants;
    size_t nwants, capwants;
    judge_stats_t *stats;
    bool *retriable;
    char err[1024];
    bool oom;
} judge_t;

static char *xstrdup(judge_t *j, const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        j->oom = true;
    return d;
}

static void want_push(judge_t *j, want_t w)
{
    if (j->nwants == j->capwants) {
        size_t cap = j->capwants ? j->capwants * 2 : 32;
        want_t *v = realloc(j->wants, cap * sizeof(*v));
        if (!v) {
            j->oom = true;
            free(w.key);
            free(w.goal_id);
            free(w.unit_id);
            free(w.detail);
            return;
        }
        j->wants = v;
        j->capwants = cap;
    }
    j->wants[j->nwants++] = w;
}

static void wants_free(judge_t *j)
{
    for (size_t i = 0; i < j->nwants; i++) {
        free(j->wants[i].key);
        free(j->wants[i].goal_id);
        free(j->wants[i].unit_id);
        free(j->wants[i].detail);
    }
    free(j->wants);
    j->wants = NULL;
    j->nwants = j->capwants = 0;
}

static bool want_has_key(const judge_t *j, const char *key)
{
    for (size_t i = 0; i < j->nwants; i++)
        if (strcmp(j->wants[i].key, key) == 0)
            return true;
    return false;
}

/* A revision about a period that ended more than max_age_days ago is
 * recorded, not sent. */
static bool too_old(const judge_t *j, int32_t as_of)
{
    return (int64_t)j->today - as_of > j->conf->max_age_days;
}

/* ------------------------------------------------------------------ helpers */

static void fmt_day(int32_t days, char out[16])
{
    int y, m, d;
    timeutil_civil_from_days(days, &y, &m, &d);
    snprintf(out, 16, "%04d-%02d-%02d", y, m, d);
}

static void jset(json_t *o, const char *k, json_t *v)
{
    json_object_set_new(o, k, v ? v : json_null());
}

static void jnum(json_t *o, const char *k, double v)
{
    jset(o, k, isfinite(v) ? json_real(v) : json_null());
}

static void jint(json_t *o, const char *k, int64_t v)
{
    jset(o, k, json_integer(v));
}

static void jstr(json_t *o, const char *k, const char *v)
{
    jset(o, k, v ? json_string(v) : json_null());
}

static void jday(json_t *o, const char *k, int32_t days)
{
    char d[16];
    fmt_day(days, d);
    jstr(o, k, d);
}

static void jtime(json_t *o, const char *k, int64_t us)
{
    char t[32];
    jstr(o, k, timeutil_format_utc(us, t) ? t : NULL);
}

/* Compact, keys sorted, doubles to 17 digits: the same alert always makes
 * the same text. Steals o. */
static char *jdump(judge_t *j, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(o);
    if (!s)
        j->oom = true;
    return s;
}

static void add_num_or_null(pgarray_t *a, double v)
{
    if (isfinite(v))
        pgarray_add_double(a, v);
    else
        pgarray_add_text(a, NULL);
}

static void add_bool(pgarray_t *a, bool v)
{
    pgarray_add_text(a, v ? "t" : "f");
}

static void add_day(pgarray_t *a, int32_t days)
{
    char d[16];
    fmt_day(days, d);
    pgarray_add_text(a, d);
}

static void arrays_init(pgarray_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pgarray_init(&a[i]);
}

static void arrays_free(pgarray_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pgarray_free(&a[i]);
}

/* Literals of n arrays into p[]; false when memory ran out. */
static bool arrays_params(pgarray_t *a, size_t n, const char **p)
{
    for (size_t i = 0; i < n; i++)
        if (!(p[i] = pgarray_str(&a[i])))
            return false;
    return true;
}

/* Database errors: the connection, a serialisation failure, a deadlock, a
 * timeout or a lock wait cancelled are worth a retry; the rest is ours. */
static bool db_fail(judge_t *j, PGresult *res, const char *what)
{
    char e[768];
    bool retry = store_error(j->st, res, e, sizeof(e));
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && (strncmp(state, "40", 2) == 0 || strcmp(state, "57014") == 0 ||
                  strcmp(state, "55P03") == 0 || strncmp(state, "08", 2) == 0))
        retry = true;
    *j->retriable = retry;
    snprintf(j->err, sizeof(j->err), "%s: %s", what, e);
    return false;
}

static PGresult *query(judge_t *j, const char *what, const char *sql, int n,
                       const char *const *params)
{
    PGresult *res = PQexecParams(store_conn(j->st), sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
        db_fail(j, res, what);
        PQclear(res);
        return NULL;
    }
    return res;
}

static bool exec_params(judge_t *j, const char *what, const char *sql, int n,
                        const char *const *params)
{
    PGresult *res = query(j, what, sql, n, params);
    PQclear(res);
    return res != NULL;
}

static int64_t get_i64(const PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? 0 : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

static int role_of(kpi_id_t kpi)
{
    switch (kpi) {
    case KPI_NO_SHOW_RATE:
    case KPI_NO_SHOW_RATE_SELF_BOOKED:
    case KPI_NO_SHOW_RATE_STAFF_BOOKED:
    case KPI_SELF_BOOKING_SHARE:
        return ROLE_APPOINTMENTS;
    case KPI_DOUBLE_DOCUMENTATION_SHARE:
    case KPI_DOUBLE_DOCUMENTATION_MINUTES:
        return ROLE_JOURNAL;
    default:
        return ROLE_AUDIT;
    }
}

/* ------------------------------------------------------------------ reading */

static bool read_clocks(judge_t *j)
{
    PGresult *res = query(j, "reading event clocks",
                          "SELECT role, (extract(epoch FROM max_time) * 1000000)::bigint "
                          "FROM gevinst.event_clock",
                          0, NULL);
    if (!res)
        return false;
    for (int r = 0; r < PQntuples(res); r++)
        for (int k = 0; k < ROLE_COUNT; k++)
            if (strcmp(PQgetvalue(res, r, 0), role_names[k]) == 0) {
                j->clock[k] = get_i64(res, r, 1);
                j->has_clock[k] = true;
            }
    PQclear(res);
    return true;
}

/* A period is closed when the role's clock is at or after local midnight
 * starting day end + 1 + grace_days. */
static bool period_closed(const judge_t *j, int role, int32_t end)
{
    return j->has_clock[role] &&
           j->clock[role] >=
               timeutil_local_day_start(j->tz, end + 1 + (int32_t)j->conf->grace_days);
}

/* ------------------------------------------------------------- goal alerts */

typedef struct goal_rows {
    pgarray_t r[12]; /* goal_result columns */
    pgarray_t p[19]; /* goal_period columns */
    pgarray_t scope[2];
} goal_rows_t;

static spc_goal_t spc_goal_of(const goals_goal_t *goal)
{
    spc_goal_t s = {
        .measure = goals_kpi_is_proportion(goal->kpi)              ? SPC_PROPORTION
                   : goal->kpi == KPI_DOUBLE_DOCUMENTATION_MINUTES ? SPC_SUM
                                                                   : SPC_RATIO,
        .scale = goals_kpi_is_proportion(goal->kpi) ? 1.0 : MINUTE_SCALE,
        .increase = goal->direction == GOALS_INCREASE,
        .baseline_from_data = goal->baseline_from_data,
        .baseline_from = goal->baseline_from,
        .baseline_to = goal->baseline_to,
        .baseline_value = goal->baseline_value,
        .target_value = goal->target_value,
        .target_date = goal->target_date,
        .tolerance = goal->tolerance,
        .consecutive = goal->consecutive,
        .minutes_per_unit = goal->minutes_per_unit,
        .nok_per_unit = goal->nok_per_unit,
        .nok_per_hour = goal->nok_per_hour,
    };
    return s;
}

static const char *benefit_type_name(goals_benefit_type_t t)
{
    switch (t) {
    case GOALS_BENEFIT_TIME_SAVED:
        return "time_saved";
    case GOALS_BENEFIT_AVOIDED_COST:
        return "avoided_cost";
    case GOALS_BENEFIT_QUALITY:
        return "quality";
    default:
        return NULL;
    }
}

/* The rule of a signal, in words. */
static void rule_text(const goals_goal_t *goal, const spc_summary_t *sum, const spc_signal_t *s,
                      bool proportion, char *out, size_t size)
{
    switch (s->kind) {
    case SPC_OFF_TRACK:
        snprintf(out, size, "%d consecutive periods behind plan by more than the tolerance %.6g",
                 goal->consecutive, sum->tolerance);
        break;
    case SPC_ACHIEVED:
        snprintf(out, size, "3 consecutive periods after the baseline at or %s the target %.6g",
                 goal->direction == GOALS_INCREASE ? "above" : "below", goal->target_value);
        break;
    default:
        snprintf(out, size,
                 "periods outside the control limits (%s) or more than %d periods in a row %s "
                 "the baseline center %.6g (Anhoej shift rule, %zu periods off the center)",
                 proportion ? "Laney p' chart" : "XmR chart", sum->run_limit,
                 s->side > 0 ? "above" : "below", sum->center, sum->useful);
        break;
    }
}

static void goal_alert(judge_t *j, const goals_goal_t *goal, const spc_point_t *pts,
                       const spc_summary_t *sum, const spc_signal_t *s)
{
    const goals_t *g = j->g;
    const spc_point_t *key = &pts[s->key], *last = &pts[s->last];
    const spc_point_t *end = s->ended_by != SPC_NONE ? &pts[s->ended_by] : NULL;
    const char *kind = spc_kind_name(s->kind);
    const char *state = spc_state_name(s->state);
    bool spc_kind = s->kind == SPC_SPECIAL_CAUSE || s->kind == SPC_IMPROVEMENT;
    bool proportion = goals_kpi_is_proportion(goal->kpi);
    const goals_owner_t *owner = &g->owners[goal->owner];

    json_t *o = json_object();
    if (!o) {
        j->oom = true;
        return;
    }
    jstr(o, "kind", kind);
    jstr(o, "state", state);
    jstr(o, "goal_id", goal->id);
    jstr(o, "unit_id", goal->unit_id);
    jstr(o, "unit_name", g->units[goal->unit].name);
    jstr(o, "kpi", kpi_name(goal->kpi));
    jstr(o, "direction", goal->direction == GOALS_INCREASE ? "increase" : "decrease");
    jstr(o, "period", goal->period == GOALS_WEEK ? "week" : "month");
    jday(o, "period_start", key->start);
    jday(o, "period_end", key->end);
    jnum(o, "actual", key->actual);
    jnum(o, "planned", key->planned);
    jnum(o, "gap", key->gap);
    jnum(o, "center", sum->center);
    jnum(o, "lcl", key->lcl);
    jnum(o, "ucl", key->ucl);
    jnum(o, "tolerance", sum->tolerance);
    jint(o, "consecutive", goal->consecutive);
    jstr(o, "chart", proportion ? "laney_p_prime" : "xmr");
    if (proportion)
        jnum(o, "sigma_z", sum->sigma_z);
    else
        jnum(o, "mean_moving_range", sum->mean_mr);
    char rule[320];
    rule_text(goal, sum, s, proportion, rule, sizeof(rule));
    jstr(o, "rule", rule);
    jint(o, "run_length", (int64_t)s->length);
    if (spc_kind) {
        jint(o, "run_limit", sum->run_limit);
        jint(o, "useful_points", (int64_t)sum->useful);
    }
    jday(o, "first_period_start", pts[s->first].start);
    jday(o, "last_period_start", last->start);
    jday(o, "last_period_end", last->end);
    jnum(o, "last_actual", last->actual);
    jnum(o, "last_planned", last->planned);
    if (end) {
        jday(o, "resolved_by_period_start", end->start);
        jday(o, "resolved_by_period_end", end->end);
        jnum(o, "resolved_by_actual", end->actual);
    }
    jnum(o, "target_value", goal->target_value);
    jday(o, "target_date", goal->target_date);
    if (goal->baseline_from_data)
        jday(o, "baseline_from", goal->baseline_from);
    jday(o, "baseline_to", goal->baseline_to);
    if (!goal->baseline_from_data)
        jnum(o, "baseline_value", goal->baseline_value);

    /* Benefit realised through the point this revision is about. */
    const spc_point_t *through = end ? end : last;
    double units = 0, minutes = 0, nok = 0;
    bool hu = false, hm = false, hn = false;
    for (const spc_point_t *p = pts; p <= through; p++) {
        if (!p->closed || p->phase != SPC_PHASE_POST)
            continue;
        if (isfinite(p->avoided_units))
            units += p->avoided_units, hu = true;
        if (isfinite(p->minutes_saved))
            minutes += p->minutes_saved, hm = true;
        if (isfinite(p->nok_saved))
            nok += p->nok_saved, hn = true;
    }
    json_t *b = json_object();
    if (b) {
        jstr(b, "type", benefit_type_name(goal->benefit_type));
        jnum(b, "avoided_units_cumulative", hu ? units : NAN);
        jnum(b, "minutes_saved_cumulative", hm ? minutes : NAN);
        jnum(b, "nok_saved_cumulative", hn ? nok : NAN);
        jday(b, "through_period_end", through->end);
    }
    jset(o, "benefit", b);
    jstr(o, "owner_id", owner->id);
    jstr(o, "owner_name", owner->name);
    jstr(o, "dashboard_url", *j->conf->dashboard_url ? j->conf->dashboard_url : NULL);

    char ks[16], key_str[1024];
    fmt_day(key->start, ks);
    snprintf(key_str, sizeof(key_str), "%s|%s|%s|%s|%s", goal->id, goal->unit_id,
             kpi_name(goal->kpi), kind, ks);
    int32_t as_of = s->state == SPC_RESOLVED && end ? end->end
                    : s->state == SPC_NOTICE        ? key->end
                                                    : last->end;
    want_t w = {
        .key = xstrdup(j, key_str),
        .goal_id = xstrdup(j, goal->id),
        .unit_id = xstrdup(j, goal->unit_id),
        .kpi = kpi_name(goal->kpi),
        .kind = kind,
        .start = key->start,
        .end = key->end,
        .state = state,
        .actual = key->actual,
        .expected = spc_kind ? sum->center : key->planned,
        .detail = jdump(j, o),
        .owner = owner->id,
        .suppressed = too_old(j, as_of),
    };
    want_push(j, w);
}

/* One goal: its periods from the daily rows [lo, hi) of res, judged. */
static bool judge_goal(judge_t *j, const goals_goal_t *goal, const PGresult *res, int lo, int hi,
                       goal_rows_t *rows)
{
    size_t cap = (size_t)(hi - lo) + 1, n = 0;
    spc_point_t *pts = calloc(cap, sizeof(*pts));
    if (!pts) {
        j->oom = true;
        return false;
    }
    int role = role_of(goal->kpi);
    bool week = goal->period == GOALS_WEEK;
    for (int r = lo; r < hi; r++) {
        int32_t day = (int32_t)get_i64(res, r, 2), ps, pe;
        spc_period_bounds(week, day, &ps, &pe);
        if (n == 0 || pts[n - 1].start != ps) {
            pts[n] = (spc_point_t){.start = ps, .end = pe};
            pts[n].closed = period_closed(j, role, pe);
            n++;
        }
        pts[n - 1].num += get_i64(res, r, 3);
        pts[n - 1].den += get_i64(res, r, 4);
    }

    spc_goal_t sg = spc_goal_of(goal);
    spc_summary_t sum;
    spc_signal_t *sig = NULL;
    size_t nsig = 0;
    if (!spc_judge(&sg, pts, n, &sum, &sig, &nsig)) {
        free(pts);
        j->oom = true;
        return false;
    }

    int32_t closed_through = INT32_MIN;
    for (size_t i = 0; i < n; i++) {
        const spc_point_t *p = &pts[i];
        pgarray_t *a = rows->p;
        bool judged = p->closed && p->phase == SPC_PHASE_POST;
        pgarray_add_text(&a[0], goal->id);
        add_day(&a[1], p->start);
        add_day(&a[2], p->end);
        add_bool(&a[3], p->closed);
        pgarray_add_text(&a[4], p->phase == SPC_PHASE_BASELINE ? "baseline"
                                : p->phase == SPC_PHASE_POST   ? "post"
                                                               : "other");
        pgarray_add_double(&a[5], (double)p->num / sg.scale);
        pgarray_add_int(&a[6], p->den);
        add_num_or_null(&a[7], p->actual);
        add_num_or_null(&a[8], p->planned);
        add_num_or_null(&a[9], p->gap);
        if (p->closed && isfinite(p->planned))
            add_bool(&a[10], p->behind);
        else
            pgarray_add_text(&a[10], NULL);
        add_num_or_null(&a[11], p->lcl);
        add_num_or_null(&a[12], p->ucl);
        if (judged && isfinite(sum.center)) {
            add_bool(&a[13], p->outside);
            add_bool(&a[14], p->run_signal);
            pgarray_add_int(&a[15], p->side);
        } else {
            pgarray_add_text(&a[13], NULL);
            pgarray_add_text(&a[14], NULL);
            pgarray_add_text(&a[15], NULL);
        }
        add_num_or_null(&a[16], p->avoided_units);
        add_num_or_null(&a[17], p->minutes_saved);
        add_num_or_null(&a[18], p->nok_saved);
        if (p->closed && p->end > closed_through)
            closed_through = p->end;
    }

    pgarray_t *a = rows->r;
    pgarray_add_text(&a[0], goal->id);
    add_num_or_null(&a[1], sum.center);
    add_num_or_null(&a[2], sum.tolerance);
    pgarray_add_text(&a[3], sg.measure == SPC_PROPORTION ? "laney_p_prime" : "xmr");
    pgarray_add_int(&a[4], (int64_t)sum.baseline_points);
    pgarray_add_int(&a[5], (int64_t)sum.post_points);
    add_num_or_null(&a[6], sum.sigma_z);
    add_num_or_null(&a[7], sum.mean_mr);
    pgarray_add_int(&a[8], (int64_t)sum.useful);
    pgarray_add_int(&a[9], sum.run_limit);
    if (j->has_clock[role])
        pgarray_add_int(&a[10], j->clock[role]);
    else
        pgarray_add_text(&a[10], NULL);
    if (closed_through != INT32_MIN)
        add_day(&a[11], closed_through);
    else
        pgarray_add_text(&a[11], NULL);

    for (size_t k = 0; k < nsig; k++)
        goal_alert(j, goal, pts, &sum, &sig[k]);

    if (j->stats) {
        j->stats->goals++;
        j->stats->periods += n;
        for (size_t i = 0; i < n; i++)
            j->stats->points += pts[i].closed;
    }
    free(sig);
    free(pts);
    return !j->oom;
}

/* Compares (unit, kpi) of row r with the pair; the rows are in byte order. */
static int row_cmp(const PGresult *res, int r, const char *unit, const char *kpi)
{
    int c = strcmp(PQgetvalue(res, r, 0), unit);
    return c ? c : strcmp(PQgetvalue(res, r, 1), kpi);
}

static int lower_bound(const PGresult *res, const char *unit, const char *kpi)
{
    int lo = 0, hi = PQntuples(res);
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (row_cmp(res, mid, unit, kpi) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool judge_goals(judge_t *j, goal_rows_t *rows)
{
    const goals_t *g = j->g;
    pgarray_t q[2];
    arrays_init(q, 2);
    for (size_t i = 0; i < g->goal_count; i++) {
        pgarray_add_text(&q[0], g->goals[i].unit_id);
        pgarray_add_text(&q[1], kpi_name(g->goals[i].kpi));
    }
    const char *p[2];
    PGresult *res = NULL;
    if (!arrays_params(q, 2, p))
        j->oom = true;
    else
        /* The goal's unit and every unit below it, as kpi_rollup_sum sums
         * them (a unit outside the registry stands for itself), but reading
         * only the buckets needed. */
        res = query(
            j, "reading goal data",
            "WITH g AS (SELECT DISTINCT u, k FROM unnest($1::text[], $2::text[]) AS g(u, k)), "
            "m AS (SELECT DISTINCT g.u, g.k, COALESCE(a.unit_id, g.u) AS leaf "
            "      FROM g LEFT JOIN gevinst.unit_ancestor a ON a.ancestor_id = g.u) "
            "SELECT m.u, m.k, b.day - DATE '1970-01-01', sum(b.num)::bigint, "
            "       sum(b.den)::bigint "
            "FROM m JOIN gevinst.kpi_bucket b ON b.unit_id = m.leaf AND b.kpi = m.k "
            "WHERE b.den > 0 "
            "GROUP BY m.u, m.k, b.day "
            "ORDER BY m.u COLLATE \"C\", m.k COLLATE \"C\", 3",
            2, p);
    arrays_free(q, 2);
    if (!res)
        return false;
    bool ok = true;
    for (size_t i = 0; ok && i < g->goal_count; i++) {
        const goals_goal_t *goal = &g->goals[i];
        const char *kpi = kpi_name(goal->kpi);
        int lo = lower_bound(res, goal->unit_id, kpi), hi = lo;
        while (hi < PQntuples(res) && row_cmp(res, hi, goal->unit_id, kpi) == 0)
            hi++;
        ok = judge_goal(j, goal, res, lo, hi, rows);
        pgarray_add_text(&rows->scope[0], goal->id);
        pgarray_add_text(&rows->scope[1], goal->owner_id);
    }
    PQclear(res);
    return ok;
}

/* ------------------------------------------------------------- data alerts */

static const char *data_owner(const judge_t *j)
{
    return *j->conf->data_team_owner ? j->conf->data_team_owner : NULL;
}

static json_t *silence_detail(const judge_t *j, const char *unit, const char *unit_name,
                              const char *role, int64_t last_us)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    char rule[256];
    snprintf(rule, sizeof(rule),
             "no %s events for %d days of the %s event-time clock, after events during the "
             "previous %d days",
             role, j->conf->silence_days, role, SILENCE_WINDOW_DAYS);
    jstr(o, "kind", "data.silence");
    jstr(o, "state", "firing");
    jstr(o, "unit_id", unit);
    jstr(o, "unit_name", unit_name);
    jstr(o, "role", role);
    jday(o, "last_event", timeutil_local_day(j->tz, last_us));
    jtime(o, "last_event_time", last_us);
    jint(o, "last_event_us", last_us);
    jint(o, "silence_days", j->conf->silence_days);
    jint(o, "window_days", SILENCE_WINDOW_DAYS);
    jstr(o, "rule", rule);
    jstr(o, "owner_id", data_owner(j));
    jstr(o, "dashboard_url", *j->conf->dashboard_url ? j->conf->dashboard_url : NULL);
    return o;
}

static void silence_key(char *out, size_t size, const char *unit, const char *role, int64_t last_us)
{
    snprintf(out, size, "|%s||data.silence|%s|%" PRId64, unit, role, last_us);
}

static void push_silence(judge_t *j, const char *unit, const char *unit_name, int role,
                         int64_t last_us, bool resolved, int64_t again_us)
{
    char key[1024];
    silence_key(key, sizeof(key), unit, role_names[role], last_us);
    if (want_has_key(j, key))
        return;
    json_t *o = silence_detail(j, unit, unit_name, role_names[role], last_us);
    if (!o) {
        j->oom = true;
        return;
    }
    int32_t start = timeutil_local_day(j->tz, last_us);
    int32_t end =
        timeutil_local_day(j->tz, last_us + (int64_t)j->conf->silence_days * TIMEUTIL_US_PER_DAY);
    int32_t as_of = end;
    if (resolved) {
        jstr(o, "state", "resolved");
        jtime(o, "events_again_time", again_us);
        as_of = timeutil_local_day(j->tz, again_us);
    }
    want_t w = {
        .key = xstrdup(j, key),
        .unit_id = xstrdup(j, unit),
        .kind = "data.silence",
        .start = start,
        .end = end,
        .state = resolved ? "resolved" : "firing",
        .actual = NAN,
        .expected = NAN,
        .detail = jdump(j, o),
        .owner = data_owner(j),
        .suppressed = too_old(j, as_of),
    };
    want_push(j, w);
}

static int role_index(const char *name)
{
    for (int k = 0; k < ROLE_COUNT; k++)
        if (strcmp(name, role_names[k]) == 0)
            return k;
    return -1;
}

/* data.silence: firing ones first (resolved or kept), then new ones. */
static bool judge_silence(judge_t *j)
{
    PGresult *units = query(j, "reading unit clocks",
                            "SELECT c.unit_id, c.role, "
                            "(extract(epoch FROM c.last_time) * 1000000)::bigint, u.name "
                            "FROM gevinst.unit_role_clock c "
                            "LEFT JOIN gevinst.unit u ON u.unit_id = c.unit_id "
                            "ORDER BY c.unit_id COLLATE \"C\", c.role",
                            0, NULL);
    if (!units)
        return false;
    PGresult *firing = query(j, "reading firing silences",
                             "SELECT unit_id, detail->>'role', (detail->>'last_event_us')::bigint "
                             "FROM gevinst.alert_state "
                             "WHERE kind = 'data.silence' AND state = 'firing' "
                             "ORDER BY alert_id",
                             0, NULL);
    if (!firing) {
        PQclear(units);
        return false;
    }
    int64_t need = (int64_t)j->conf->silence_days * TIMEUTIL_US_PER_DAY;
    for (int r = 0; r < PQntuples(firing); r++) {
        const char *unit = PQgetvalue(firing, r, 0);
        int role = PQgetisnull(firing, r, 1) ? -1 : role_index(PQgetvalue(firing, r, 1));
        if (role < 0 || PQgetisnull(firing, r, 2))
            continue; /* not ours to judge: withdrawn below */
        int64_t last = get_i64(firing, r, 2);
        for (int u = 0; u < PQntuples(units); u++) {
            if (strcmp(PQgetvalue(units, u, 0), unit) != 0 ||
                strcmp(PQgetvalue(units, u, 1), role_names[role]) != 0)
                continue;
            int64_t now_last = get_i64(units, u, 2);
            const char *name = PQgetisnull(units, u, 3) ? NULL : PQgetvalue(units, u, 3);
            if (now_last > last)
                push_silence(j, unit, name, role, last, true, now_last);
            else if (now_last == last && j->has_clock[role] && j->clock[role] - last >= need)
                push_silence(j, unit, name, role, last, false, 0);
        }
    }
    for (int u = 0; u < PQntuples(units); u++) {
        int role = role_index(PQgetvalue(units, u, 1));
        if (role < 0 || !j->has_clock[role])
            continue;
        int64_t last = get_i64(units, u, 2), quiet = j->clock[role] - last;
        if (quiet >= need && quiet <= (int64_t)SILENCE_WINDOW_DAYS * TIMEUTIL_US_PER_DAY)
            push_silence(j, PQgetvalue(units, u, 0),
                         PQgetisnull(units, u, 3) ? NULL : PQgetvalue(units, u, 3), role, last,
                         false, 0);
    }
    PQclear(firing);
    PQclear(units);
    return !j->oom;
}

typedef struct rej_day {
    int32_t day;
    int64_t accepted, rejected, skipped;
    int row;
} rej_day_t;

static void push_rejections(judge_t *j, const PGresult *res, const char *topic, const rej_day_t *d,
                            size_t nd, size_t first, size_t last)
{
    const rej_day_t *k = &d[first], *l = &d[last];
    const rej_day_t *end = last + 1 < nd ? &d[last + 1] : NULL;
    double thr = j->conf->rejection_threshold;
    json_t *o = json_object();
    if (!o) {
        j->oom = true;
        return;
    }
    int64_t total = k->accepted + k->rejected;
    double share = (double)k->rejected / (double)total;
    char rule[256];
    snprintf(rule, sizeof(rule),
             "more than %.6g%% of the events of topic %s received on a local day were rejected "
             "(events of unsupported types are skipped, not counted)",
             thr * 100, topic);
    jstr(o, "kind", "data.rejections");
    jstr(o, "state", end ? "resolved" : "firing");
    jstr(o, "topic", topic);
    jday(o, "day", k->day);
    jint(o, "rejected", k->rejected);
    jint(o, "accepted", k->accepted);
    jint(o, "total", total);
    jint(o, "skipped", k->skipped);
    jnum(o, "share", share);
    jnum(o, "threshold", thr);
    json_t *reasons = json_loads(PQgetvalue(res, k->row, 5), 0, NULL);
    jset(o, "reasons", reasons);
    jint(o, "days", (int64_t)(last - first + 1));
    jday(o, "last_day", l->day);
    jnum(o, "last_share", (double)l->rejected / (double)(l->accepted + l->rejected));
    if (end) {
        jday(o, "resolved_by_day", end->day);
        jnum(o, "resolved_by_share",
             (double)end->rejected / (double)(end->accepted + end->rejected));
    }
    jstr(o, "rule", rule);
    jstr(o, "owner_id", data_owner(j));
    jstr(o, "dashboard_url", *j->conf->dashboard_url ? j->conf->dashboard_url : NULL);

    char ks[16], key[1024];
    fmt_day(k->day, ks);
    snprintf(key, sizeof(key), "|%s||data.rejections|%s", topic, ks);
    want_t w = {
        .key = xstrdup(j, key),
        .unit_id = xstrdup(j, topic),
        .kind = "data.rejections",
        .start = k->day,
        .end = k->day,
        .state = end ? "resolved" : "firing",
        .actual = share,
        .expected = thr,
        .detail = jdump(j, o),
        .owner = data_owner(j),
        .suppressed = too_old(j, end ? end->day : l->day),
    };
    want_push(j, w);
}

/* data.rejections: per topic, episodes of days over the threshold. */
static bool judge_rejections(judge_t *j)
{
    PGresult *res = query(
        j, "reading intake counts",
        "SELECT topic, day - DATE '1970-01-01', "
        "COALESCE(sum(events) FILTER (WHERE outcome = 'accepted'), 0)::bigint, "
        "COALESCE(sum(events) FILTER (WHERE outcome NOT IN ('accepted', 'unsupported_type')), "
        "0)::bigint, "
        "COALESCE(sum(events) FILTER (WHERE outcome = 'unsupported_type'), 0)::bigint, "
        "COALESCE(jsonb_object_agg(outcome, events) "
        "FILTER (WHERE outcome NOT IN ('accepted', 'unsupported_type')), '{}')::text "
        "FROM gevinst.intake_daily GROUP BY topic, day ORDER BY topic COLLATE \"C\", day",
        0, NULL);
    if (!res)
        return false;
    int nrows = PQntuples(res);
    rej_day_t *d = malloc(((size_t)nrows + 1) * sizeof(*d));
    int *bad = malloc(((size_t)nrows + 1) * sizeof(*bad));
    size_t *f = malloc(((size_t)nrows + 1) * sizeof(*f)),
           *t = malloc(((size_t)nrows + 1) * sizeof(*t));
    if (!d || !bad || !f || !t)
        j->oom = true;
    for (int r = 0; !j->oom && r < nrows;) {
        const char *topic = PQgetvalue(res, r, 0);
        size_t nd = 0;
        for (; r < nrows && strcmp(PQgetvalue(res, r, 0), topic) == 0; r++) {
            rej_day_t x = {(int32_t)get_i64(res, r, 1), get_i64(res, r, 2), get_i64(res, r, 3),
                           get_i64(res, r, 4), r};
            if (x.accepted + x.rejected <= 0)
                continue; /* only skipped events: nothing to judge */
            bad[nd] = (double)x.rejected / (double)(x.accepted + x.rejected) >
                      j->conf->rejection_threshold;
            d[nd++] = x;
        }
        size_t runs = spc_runs(bad, nd, 1, 1, f, t, nd);
        for (size_t k = 0; k < runs; k++)
            push_rejections(j, res, topic, d, nd, f[k], t[k]);
    }
    free(d);
    free(bad);
    free(f);
    free(t);
    PQclear(res);
    return !j->oom;
}

/* ------------------------------------------------------------------ writing */

static bool write_goal_rows(judge_t *j, goal_rows_t *rows)
{
    const char *p[19];
    if (!arrays_params(rows->r, 12, p)) {
        j->oom = true;
        return false;
    }
    if (!exec_params(
            j, "writing goal results",
            "WITH x AS (SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[], $4::text[], "
            "  $5::int[], $6::int[], $7::float8[], $8::float8[], $9::int[], $10::int[], "
            "  $11::bigint[], $12::date[]) AS x(goal_id, center, tolerance, chart, bp, pp, sz, "
            "  mmr, useful, rl, clock_us, ct)), "
            "del AS (DELETE FROM gevinst.goal_result r "
            "  WHERE NOT EXISTS (SELECT 1 FROM x WHERE x.goal_id = r.goal_id)) "
            "INSERT INTO gevinst.goal_result AS r (goal_id, center, tolerance, chart, "
            "  baseline_points, post_points, sigma_z, mean_moving_range, useful_points, "
            "  run_limit, clock, closed_through) "
            "SELECT goal_id, center, tolerance, chart, bp, pp, sz, mmr, useful, rl, "
            "  timestamptz 'epoch' + clock_us * interval '1 microsecond', ct FROM x "
            "ON CONFLICT (goal_id) DO UPDATE SET center = EXCLUDED.center, "
            "  tolerance = EXCLUDED.tolerance, chart = EXCLUDED.chart, "
            "  baseline_points = EXCLUDED.baseline_points, post_points = EXCLUDED.post_points, "
            "  sigma_z = EXCLUDED.sigma_z, mean_moving_range = EXCLUDED.mean_moving_range, "
            "  useful_points = EXCLUDED.useful_points, run_limit = EXCLUDED.run_limit, "
            "  clock = EXCLUDED.clock, closed_through = EXCLUDED.closed_through "
            "WHERE ROW(r.*) IS DISTINCT FROM ROW(EXCLUDED.*)",
            12, p))
        return false;
    if (!arrays_params(rows->p, 19, p)) {
        j->oom = true;
        return false;
    }
    return exec_params(
        j, "writing goal periods",
        "WITH x AS (SELECT * FROM unnest($1::text[], $2::date[], $3::date[], $4::bool[], "
        "  $5::text[], $6::float8[], $7::bigint[], $8::float8[], $9::float8[], $10::float8[], "
        "  $11::bool[], $12::float8[], $13::float8[], $14::bool[], $15::bool[], $16::int[], "
        "  $17::float8[], $18::float8[], $19::float8[]) AS x(goal_id, ps, pe, closed, phase, "
        "  num, den, actual, planned, gap, behind, lcl, ucl, outside, run_signal, side, avoided, "
        "  minutes, nok)), "
        "del AS (DELETE FROM gevinst.goal_period p WHERE NOT EXISTS "
        "  (SELECT 1 FROM x WHERE x.goal_id = p.goal_id AND x.ps = p.period_start)) "
        "INSERT INTO gevinst.goal_period AS p (goal_id, period_start, period_end, closed, phase, "
        "  numerator, denominator, actual, planned, gap, behind_plan, lcl, ucl, outside, "
        "  run_signal, signal_side, avoided_units, minutes_saved, nok_saved) "
        "SELECT goal_id, ps, pe, closed, phase, num, den, actual, planned, gap, behind, lcl, ucl, "
        "  outside, run_signal, side, avoided, minutes, nok FROM x "
        "ON CONFLICT (goal_id, period_start) DO UPDATE SET period_end = EXCLUDED.period_end, "
        "  closed = EXCLUDED.closed, phase = EXCLUDED.phase, numerator = EXCLUDED.numerator, "
        "  denominator = EXCLUDED.denominator, actual = EXCLUDED.actual, "
        "  planned = EXCLUDED.planned, gap = EXCLUDED.gap, behind_plan = EXCLUDED.behind_plan, "
        "  lcl = EXCLUDED.lcl, ucl = EXCLUDED.ucl, outside = EXCLUDED.outside, "
        "  run_signal = EXCLUDED.run_signal, signal_side = EXCLUDED.signal_side, "
        "  avoided_units = EXCLUDED.avoided_units, minutes_saved = EXCLUDED.minutes_saved, "
        "  nok_saved = EXCLUDED.nok_saved "
        "WHERE ROW(p.*) IS DISTINCT FROM ROW(EXCLUDED.*)",
        19, p);
}

/* Channels per owner: ("owner", channel, target); owner "*" for every alert. */
static bool channels(judge_t *j, pgarray_t ch[3])
{
    const judge_conf_t *conf = j->conf;
    bool smtp = conf->smtp_url && *conf->smtp_url;
    if (j->g) {
        for (size_t i = 0; i < j->g->owner_count; i++) {
            const goals_owner_t *o = &j->g->owners[i];
            if (o->email && *o->email && smtp) {
                pgarray_add_text(&ch[0], o->id);
                pgarray_add_text(&ch[1], "email");
                pgarray_add_text(&ch[2], o->email);
            }
            if (o->webhook && *o->webhook) {
                pgarray_add_text(&ch[0], o->id);
                pgarray_add_text(&ch[1], "webhook");
                pgarray_add_text(&ch[2], o->webhook);
            }
        }
    } else if (data_owner(j)) {
        /* No goals file in hand: the registry as last synced. */
        const char *p[1] = {data_owner(j)};
        PGresult *res = query(j, "reading the data team owner",
                              "SELECT email, webhook FROM gevinst.owner WHERE owner_id = $1", 1, p);
        if (!res)
            return false;
        if (PQntuples(res) == 1) {
            if (!PQgetisnull(res, 0, 0) && *PQgetvalue(res, 0, 0) && smtp) {
                pgarray_add_text(&ch[0], p[0]);
                pgarray_add_text(&ch[1], "email");
                pgarray_add_text(&ch[2], PQgetvalue(res, 0, 0));
            }
            if (!PQgetisnull(res, 0, 1) && *PQgetvalue(res, 0, 1)) {
                pgarray_add_text(&ch[0], p[0]);
                pgarray_add_text(&ch[1], "webhook");
                pgarray_add_text(&ch[2], PQgetvalue(res, 0, 1));
            }
        }
        PQclear(res);
    }
    if (conf->topic_alerts && *conf->topic_alerts) {
        pgarray_add_text(&ch[0], "*");
        pgarray_add_text(&ch[1], "kafka");
        pgarray_add_text(&ch[2], conf->topic_alerts);
    }
    return true;
}

/* Withdraws the alerts in scope whose grounds are gone and tells the owners
 * of those already delivered. Undelivered rows of earlier revisions are left
 * to the deliverer, which drops a revision superseded before it was sent
 * (changing them here would race with a send in progress). */
static bool write_withdrawals(judge_t *j, goal_rows_t *rows, pgarray_t ch[3])
{
    pgarray_t k[1];
    arrays_init(k, 1);
    for (size_t i = 0; i < j->nwants; i++)
        pgarray_add_text(&k[0], j->wants[i].key);
    const char *p[7];
    bool ok = arrays_params(rows->scope, 2, p) && arrays_params(k, 1, p + 2) &&
              arrays_params(ch, 3, p + 4);
    p[3] = data_owner(j);
    if (!ok) {
        arrays_free(k, 1);
        j->oom = true;
        return false;
    }
    PGresult *res = query(
        j, "withdrawing alerts",
        "WITH sc AS (SELECT * FROM unnest($1::text[], $2::text[]) AS sc(goal_id, owner_id)), "
        "keep AS (SELECT k FROM unnest($3::text[]) AS k), "
        "w AS (UPDATE gevinst.alert_state s SET state = 'withdrawn', revision = s.revision + 1, "
        "    updated_at = now(), detail = (s.detail - 'revision') || jsonb_build_object("
        "    'revision', s.revision + 1, 'state', 'withdrawn', 'withdrawn_from', s.state) "
        "  WHERE s.state <> 'withdrawn' "
        "    AND (s.goal_id IN (SELECT goal_id FROM sc) "
        "         OR (s.goal_id IS NULL AND NOT (s.kind = 'data.silence' AND s.state = "
        "'resolved'))) "
        "    AND NOT EXISTS (SELECT 1 FROM keep WHERE keep.k = s.alert_key) "
        "  RETURNING s.alert_id, s.revision, s.goal_id), "
        "ch AS (SELECT * FROM unnest($5::text[], $6::text[], $7::text[]) AS ch(owner_id, "
        "  channel, target)), "
        "ob AS (INSERT INTO gevinst.alert_outbox (alert_id, revision, channel, target, status) "
        "  SELECT w.alert_id, w.revision, ch.channel, ch.target, 'pending' "
        "  FROM w LEFT JOIN sc ON sc.goal_id = w.goal_id "
        "  JOIN ch ON ch.owner_id = '*' "
        "    OR ch.owner_id = CASE WHEN w.goal_id IS NULL THEN $4 ELSE sc.owner_id END "
        "  WHERE EXISTS (SELECT 1 FROM gevinst.alert_outbox o "
        "                WHERE o.alert_id = w.alert_id AND o.status = 'delivered') "
        "  RETURNING 1) "
        "SELECT (SELECT count(*) FROM w), (SELECT count(*) FROM ob)",
        7, p);
    arrays_free(k, 1);
    if (!res)
        return false;
    if (j->stats) {
        j->stats->alerts_withdrawn += (size_t)get_i64(res, 0, 0);
        j->stats->alerts_changed += (size_t)get_i64(res, 0, 0);
        j->stats->outbox_pending += (size_t)get_i64(res, 0, 1);
    }
    PQclear(res);
    return true;
}

/* Upserts the wanted alerts; outbox rows for new ones and changes of state. */
static bool write_alerts(judge_t *j, pgarray_t ch[3])
{
    pgarray_t a[13];
    arrays_init(a, 13);
    for (size_t i = 0; i < j->nwants; i++) {
        const want_t *w = &j->wants[i];
        pgarray_add_text(&a[0], w->key);
        pgarray_add_text(&a[1], w->goal_id);
        pgarray_add_text(&a[2], w->unit_id);
        pgarray_add_text(&a[3], w->kpi);
        pgarray_add_text(&a[4], w->kind);
        add_day(&a[5], w->start);
        add_day(&a[6], w->end);
        pgarray_add_text(&a[7], w->state);
        add_num_or_null(&a[8], w->actual);
        add_num_or_null(&a[9], w->expected);
        pgarray_add_text(&a[10], w->detail);
        pgarray_add_text(&a[11], w->owner);
        add_bool(&a[12], w->suppressed);
    }
    const char *p[16];
    if (!arrays_params(a, 13, p) || !arrays_params(ch, 3, p + 13)) {
        arrays_free(a, 13);
        j->oom = true;
        return false;
    }
    PGresult *res = query(
        j, "writing alerts",
        "WITH d AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
        "  $5::text[], $6::date[], $7::date[], $8::text[], $9::float8[], $10::float8[], "
        "  $11::jsonb[], $12::text[], $13::bool[]) AS d(alert_key, goal_id, unit_id, kpi, kind, "
        "  period_start, period_end, state, actual, expected, detail, owner_id, suppressed)), "
        "old AS (SELECT s.alert_key, s.state FROM gevinst.alert_state s "
        "  JOIN d ON d.alert_key = s.alert_key), "
        "up AS (INSERT INTO gevinst.alert_state AS s (goal_id, unit_id, kpi, kind, period_start, "
        "    period_end, state, actual, expected, detail, revision, alert_key) "
        "  SELECT goal_id, unit_id, kpi, kind, period_start, period_end, state, actual, "
        "    expected, detail || '{\"revision\": 1}'::jsonb, 1, alert_key FROM d "
        "  ON CONFLICT (alert_key) DO UPDATE SET goal_id = EXCLUDED.goal_id, "
        "    unit_id = EXCLUDED.unit_id, kpi = EXCLUDED.kpi, kind = EXCLUDED.kind, "
        "    period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end, "
        "    state = EXCLUDED.state, actual = EXCLUDED.actual, expected = EXCLUDED.expected, "
        "    detail = (EXCLUDED.detail - 'revision') "
        "      || jsonb_build_object('revision', s.revision + 1), "
        "    revision = s.revision + 1, updated_at = now() "
        "  WHERE (s.goal_id, s.unit_id, s.kpi, s.kind, s.period_start, s.period_end, s.state, "
        "         s.actual, s.expected, s.detail - 'revision') "
        "    IS DISTINCT FROM (EXCLUDED.goal_id, EXCLUDED.unit_id, EXCLUDED.kpi, EXCLUDED.kind, "
        "         EXCLUDED.period_start, EXCLUDED.period_end, EXCLUDED.state, EXCLUDED.actual, "
        "         EXCLUDED.expected, EXCLUDED.detail - 'revision') "
        "  RETURNING s.alert_id, s.alert_key, s.revision, s.state), "
        "ch AS (SELECT * FROM unnest($14::text[], $15::text[], $16::text[]) AS ch(owner_id, "
        "  channel, target)), "
        "ob AS (INSERT INTO gevinst.alert_outbox (alert_id, revision, channel, target, status) "
        "  SELECT up.alert_id, up.revision, ch.channel, ch.target, "
        "    CASE WHEN d.suppressed THEN 'suppressed' ELSE 'pending' END "
        "  FROM up JOIN d ON d.alert_key = up.alert_key "
        "  LEFT JOIN old ON old.alert_key = up.alert_key "
        "  JOIN ch ON ch.owner_id = '*' OR ch.owner_id = d.owner_id "
        "  WHERE up.state IN ('firing', 'notice', 'resolved') "
        "    AND (old.state IS NULL OR old.state <> up.state) "
        "  RETURNING status) "
        "SELECT (SELECT count(*) FROM up WHERE revision = 1), "
        "  (SELECT count(*) FROM up WHERE revision > 1), "
        "  (SELECT count(*) FROM ob WHERE status = 'pending'), "
        "  (SELECT count(*) FROM ob WHERE status = 'suppressed')",
        16, p);
    arrays_free(a, 13);
    if (!res)
        return false;
    if (j->stats) {
        j->stats->alerts_new += (size_t)get_i64(res, 0, 0);
        j->stats->alerts_changed += (size_t)get_i64(res, 0, 1);
        j->stats->outbox_pending += (size_t)get_i64(res, 0, 2);
        j->stats->outbox_suppressed += (size_t)get_i64(res, 0, 3);
    }
    PQclear(res);
    return true;
}

static bool write_state(judge_t *j, double ms)
{
    char goals[24], periods[24], dur[32];
    snprintf(goals, sizeof(goals), "%zu", j->stats->goals);
    snprintf(periods, sizeof(periods), "%zu", j->stats->periods);
    snprintf(dur, sizeof(dur), "%.3f", ms);
    const char *p[3] = {goals, periods, dur};
    PGresult *res = query(
        j, "writing the judge state",
        "WITH f AS (SELECT count(*)::int AS n FROM gevinst.alert_state WHERE state = 'firing') "
        "INSERT INTO gevinst.judge_state AS s (id, judged_at, goals, periods, alerts_open, "
        "  duration_ms) "
        "SELECT true, now(), $1, $2, f.n, $3 FROM f "
        "ON CONFLICT (id) DO UPDATE SET judged_at = EXCLUDED.judged_at, goals = EXCLUDED.goals, "
        "  periods = EXCLUDED.periods, alerts_open = EXCLUDED.alerts_open, "
        "  duration_ms = EXCLUDED.duration_ms "
        "RETURNING alerts_open",
        3, p);
    if (!res)
        return false;
    j->stats->alerts_firing = (size_t)get_i64(res, 0, 0);
    PQclear(res);
    return true;
}

/* --------------------------------------------------------------------- run */

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool judge_body(judge_t *j)
{
    double t0 = mono_ms();
    goal_rows_t rows;
    arrays_init(rows.r, 12);
    arrays_init(rows.p, 19);
    arrays_init(rows.scope, 2);
    pgarray_t ch[3];
    arrays_init(ch, 3);

    bool ok = exec_params(j, "taking the judge lock",
                          "SELECT pg_advisory_xact_lock(" JUDGE_LOCK_KEY ")", 0, NULL) &&
              read_clocks(j) && (!j->g || judge_goals(j, &rows)) && judge_silence(j) &&
              judge_rejections(j) && !j->oom && (!j->g || write_goal_rows(j, &rows)) &&
              channels(j, ch) && write_withdrawals(j, &rows, ch) && write_alerts(j, ch) &&
              write_state(j, mono_ms() - t0);
    if (!ok && j->oom && !*j->err)
        snprintf(j->err, sizeof(j->err), "out of memory");
    j->stats->duration_ms = mono_ms() - t0;
    arrays_free(rows.r, 12);
    arrays_free(rows.p, 19);
    arrays_free(rows.scope, 2);
    arrays_free(ch, 3);
    wants_free(j);
    return ok;
}

bool judge_run(store_t *st, const goals_t *g, const judge_conf_t *conf, int64_t now_us,
               judge_stats_t *stats, bool *retriable, char *errstr, size_t errstr_size)
{
    bool dummy_retry;
    judge_stats_t dummy_stats;
    if (!retriable)
        retriable = &dummy_retry;
    if (!stats)
        stats = &dummy_stats;
    memset(stats, 0, sizeof(*stats));
    *retriable = false;

    bool own;
    if (!store_txn_own(st, "judge", &own, retriable, errstr, errstr_size))
        return false;

    timeutil_tz_t *own_tz = NULL;
    const timeutil_tz_t *tz = conf->tz;
    if (!tz) {
        char e[256];
        own_tz = timeutil_tz_new(conf->timezone ? conf->timezone : "Europe/Oslo", e, sizeof(e));
        if (!own_tz) {
            snprintf(errstr, errstr_size, "judge: %s", e);
            return false;
        }
        tz = own_tz;
    }

    judge_t j = {
        .st = st,
        .g = g,
        .conf = conf,
        .tz = tz,
        .today = timeutil_local_day(tz, now_us),
        .stats = stats,
        .retriable = retriable,
    };
    bool ok = (!own || exec_params(&j, "BEGIN", "BEGIN", 0, NULL)) && judge_body(&j) &&
              (!own || exec_params(&j, "COMMIT", "COMMIT", 0, NULL));
    if (!ok) {
        snprintf(errstr, errstr_size, "judge: %s", j.err);
        if (own && store_connected(st)) {
            char e[256];
            store_exec(st, "ROLLBACK", NULL, e, sizeof(e));
        }
        memset(stats, 0, sizeof(*stats));
    }
    timeutil_tz_destroy(own_tz);
    return ok;
}
