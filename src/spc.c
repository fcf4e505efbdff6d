/* spc: goal judgement arithmetic, exactly as goals.md defines it. See
 * include/gevinst/spc.h. */
#include "gevinst/spc.h"

#include "gevinst/timeutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* d2 for moving ranges of two: sigma = mean moving range / 1.128. */
#define SPC_D2 1.128
/* XmR limits: 3 / d2, rounded as every SPC text has it. */
#define SPC_XMR_FACTOR 2.66

const char *spc_kind_name(spc_kind_t kind)
{
    switch (kind) {
    case SPC_OFF_TRACK:
        return "goal.off_track";
    case SPC_ACHIEVED:
        return "goal.achieved";
    case SPC_SPECIAL_CAUSE:
        return "kpi.special_cause";
    case SPC_IMPROVEMENT:
        return "kpi.improvement";
    }
    return "?";
}

const char *spc_state_name(spc_state_t state)
{
    switch (state) {
    case SPC_FIRING:
        return "firing";
    case SPC_RESOLVED:
        return "resolved";
    case SPC_NOTICE:
        return "notice";
    }
    return "?";
}

void spc_period_bounds(bool week, int32_t day, int32_t *start, int32_t *end)
{
    if (week) {
        *start = day - (timeutil_iso_weekday(day) - 1);
        *end = *start + 6;
        return;
    }
    int y, m, d;
    timeutil_civil_from_days(day, &y, &m, &d);
    *start = timeutil_days_from_civil(y, m, 1);
    *end =
        (m == 12 ? timeutil_days_from_civil(y + 1, 1, 1) : timeutil_days_from_civil(y, m + 1, 1)) -
        1;
}

int spc_run_limit(size_t n)
{
    if (n == 0)
        return 0;
    return (int)lround(log2((double)n)) + 3;
}

double spc_planned(double center, double target, int32_t baseline_to, int32_t target_date,
                   int32_t e)
{
    double f = (double)((int64_t)e - baseline_to) / (double)((int64_t)target_date - baseline_to);
    if (f < 0)
        f = 0;
    else if (f > 1)
        f = 1;
    return center + (target - center) * f;
}

double spc_laney_sigma_z(const double *z, size_t n)
{
    if (n < 2)
        return 1.0;
    double s = 0;
    for (size_t i = 1; i < n; i++)
        s += fabs(z[i] - z[i - 1]);
    return s / (double)(n - 1) / SPC_D2;
}

double spc_mean_moving_range(const double *x, size_t n)
{
    if (n < 2)
        return NAN;
    double s = 0;
    for (size_t i = 1; i < n; i++)
        s += fabs(x[i] - x[i - 1]);
    return s / (double)(n - 1);
}

size_t spc_runs(const int *v, size_t n, int value, size_t min_len, size_t *first, size_t *last,
                size_t cap)
{
    size_t count = 0;
    for (size_t i = 0; i < n;) {
        if (v[i] != value) {
            i++;
            continue;
        }
        size_t j = i;
        while (j + 1 < n && v[j + 1] == value)
            j++;
        if (j - i + 1 >= min_len) {
            if (count < cap) {
                first[count] = i;
                last[count] = j;
            }
            count++;
        }
        i = j + 1;
    }
    return count;
}

/* The KPI value of a period. Dividing the exact integer sums once (den *
 * scale is exact below 2^53) makes equal ratios equal doubles, so a point
 * "exactly on the center" is found whenever it is one. */
static double point_value(const spc_goal_t *goal, int64_t num, int64_t den)
{
    if (goal->measure == SPC_SUM)
        return (double)num / goal->scale;
    return (double)num / ((double)den * goal->scale);
}

typedef struct sig_list {
    spc_signal_t *v;
    size_t len, cap;
    bool oom;
} sig_list_t;

static void sig_push(sig_list_t *l, spc_signal_t s)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        spc_signal_t *v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            l->oom = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->len++] = s;
}

/* Runs of v == value over the post-baseline points (J order) with at least
 * min_len points, as signals; key = the min_len-th point of the run when
 * key_at_min, else the first. */
static bool runs_to_signals(sig_list_t *l, const int *v, const size_t *J, size_t nj, int value,
                            size_t min_len, bool key_at_min, spc_kind_t kind, int side)
{
    size_t count = spc_runs(v, nj, value, min_len, NULL, NULL, 0);
    if (count == 0)
        return true;
    size_t *f = malloc(count * sizeof(*f)), *t = malloc(count * sizeof(*t));
    if (!f || !t) {
        free(f);
        free(t);
        return false;
    }
    spc_runs(v, nj, value, min_len, f, t, count);
    for (size_t r = 0; r < count; r++) {
        bool lasts = t[r] == nj - 1;
        spc_signal_t s = {
            .kind = kind,
            .state = lasts ? SPC_FIRING : SPC_RESOLVED,
            .key = J[key_at_min ? f[r] + min_len - 1 : f[r]],
            .first = J[f[r]],
            .last = J[t[r]],
            .length = t[r] - f[r] + 1,
            .ended_by = lasts ? SPC_NONE : J[t[r] + 1],
            .side = side,
        };
        sig_push(l, s);
    }
    free(f);
    free(t);
    return true;
}

static void push_achieved(sig_list_t *l, const size_t *J, size_t q)
{
    sig_push(l, (spc_signal_t){.kind = SPC_ACHIEVED,
                               .state = SPC_NOTICE,
                               .key = J[q],
                               .first = J[q - 2],
                               .last = J[q],
                               .length = 3,
                               .ended_by = SPC_NONE,
                               .side = 0});
}

static bool meets_target(const spc_goal_t *goal, double actual)
{
    return goal->increase ? actual >= goal->target_value : actual <= goal->target_value;
}

bool spc_judge(const spc_goal_t *goal, spc_point_t *pts, size_t n, spc_summary_t *sum,
               spc_signal_t **signals, size_t *nsignals)
{
    *signals = NULL;
    *nsignals = 0;
    memset(sum, 0, sizeof(*sum));
    sum->center = sum->tolerance = sum->sigma_z = sum->mean_mr = NAN;
    sum->latest = SPC_NONE;

    /* Scratch: baseline values (z or actuals), J = closed post-baseline
     * points in order, and per J point an int flag. */
    double *bx = malloc((n ? n : 1) * sizeof(*bx));
    size_t *J = malloc((n ? n : 1) * sizeof(*J));
    int *flag = malloc((n ? n : 1) * sizeof(*flag));
    sig_list_t l = {0};
    if (!bx || !J || !flag)
        goto oom;

    /* Phases, values, the center. */
    int64_t bnum = 0, bden = 0;
    size_t nb = 0, nj = 0;
    for (size_t i = 0; i < n; i++) {
        spc_point_t *p = &pts[i];
        p->actual = point_value(goal, p->num, p->den);
        p->planned = p->gap = p->lcl = p->ucl = NAN;
        p->avoided_units = p->minutes_saved = p->nok_saved = NAN;
        p->behind = p->outside = p->run_signal = false;
        p->side = 0;
        if (goal->baseline_from_data && p->start >= goal->baseline_from &&
            p->end <= goal->baseline_to)
            p->phase = SPC_PHASE_BASELINE;
        else if (p->start > goal->baseline_to)
            p->phase = SPC_PHASE_POST;
        else
            p->phase = SPC_PHASE_OTHER;
        if (!p->closed)
            continue;
        if (p->phase == SPC_PHASE_BASELINE) {
            bnum += p->num;
            bden += p->den;
            nb++;
        } else if (p->phase == SPC_PHASE_POST) {
            J[nj++] = i;
        }
    }
    sum->baseline_points = nb;
    sum->post_points = nj;
    sum->latest = nj ? J[nj - 1] : SPC_NONE;
    double c = NAN;
    if (!goal->baseline_from_data)
        c = goal->baseline_value;
    else if (nb > 0)
        c = goal->measure == SPC_SUM ? (double)bnum / ((double)nb * goal->scale)
                                     : (double)bnum / ((double)bden * goal->scale);
    sum->center = c;

    /* Achieved needs no center: three post-baseline points in a row at or
     * beyond the target; the first such point, once. */
    size_t achieved_q = SPC_NONE;
    for (size_t q = 2; q < nj && achieved_q == SPC_NONE; q++)
        if (meets_target(goal, pts[J[q]].actual) && meets_target(goal, pts[J[q - 1]].actual) &&
            meets_target(goal, pts[J[q - 2]].actual))
            achieved_q = q;

    if (isnan(c)) {
        if (achieved_q != SPC_NONE)
            push_achieved(&l, J, achieved_q);
        goto done;
    }
    double tol = isnan(goal->tolerance) ? 0.1 * fabs(goal->target_value - c) : goal->tolerance;
    sum->tolerance = tol;

    /* Plan and gap for every period; behind plan for closed ones. */
    for (size_t i = 0; i < n; i++) {
        spc_point_t *p = &pts[i];
        p->planned =
            spc_planned(c, goal->target_value, goal->baseline_to, goal->target_date, p->end);
        p->gap = goal->increase ? p->planned - p->actual : p->actual - p->planned;
        p->behind = p->closed && p->gap > tol;
    }

    /* Control limits. */
    if (goal->measure == SPC_PROPORTION) {
        double v = c * (1 - c);
        if (v > 0) {
            /* sigma_z from consecutive baseline points; 1 with a given
             * baseline value (there are no baseline points then). */
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if (pts[i].closed && pts[i].phase == SPC_PHASE_BASELINE)
                    bx[k++] = (pts[i].actual - c) / sqrt(v / (double)pts[i].den);
            double sz = goal->baseline_from_data ? spc_laney_sigma_z(bx, k) : 1.0;
            sum->sigma_z = sz;
            for (size_t i = 0; i < n; i++) {
                double s = sqrt(v / (double)pts[i].den);
                pts[i].lcl = c - 3 * sz * s;
                pts[i].ucl = c + 3 * sz * s;
            }
        }
        /* center 0 or 1: s_i = 0, z undefined; no limits, the run rule alone. */
    } else {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (pts[i].closed && pts[i].phase == SPC_PHASE_BASELINE)
                bx[k++] = pts[i].actual;
        double mr = spc_mean_moving_range(bx, k);
        sum->mean_mr = mr;
        if (!isnan(mr))
            for (size_t i = 0; i < n; i++) {
                pts[i].lcl = c - SPC_XMR_FACTOR * mr;
                pts[i].ucl = c + SPC_XMR_FACTOR * mr;
            }
    }

    /* Anhoej's shift rule over the post-baseline points off the center. */
    size_t useful = 0;
    for (size_t q = 0; q < nj; q++) {
        double a = pts[J[q]].actual;
        flag[q] = a > c ? 1 : a < c ? -1 : 0;
        useful += flag[q] != 0;
    }
    int L = spc_run_limit(useful);
    sum->useful = useful;
    sum->run_limit = L;
    for (size_t q = 0; q < nj;) {
        if (flag[q] == 0) {
            q++;
            continue;
        }
        /* A run continues across points on the center: they are left out. */
        size_t len = 0, r = q;
        int s = flag[q];
        for (; r < nj && (flag[r] == s || flag[r] == 0); r++) {
            if (flag[r] == 0)
                continue;
            len++;
            if (len > (size_t)L)
                pts[J[r]].run_signal = true;
        }
        q = r;
    }

    /* Side each point signals on. */
    for (size_t q = 0; q < nj; q++) {
        spc_point_t *p = &pts[J[q]];
        if (!isnan(p->ucl) && p->actual > p->ucl) {
            p->outside = true;
            p->side = 1;
        } else if (!isnan(p->lcl) && p->actual < p->lcl) {
            p->outside = true;
            p->side = -1;
        } else if (p->run_signal) {
            p->side = flag[q];
        }
    }

    /* Benefit of every closed post-baseline point. */
    for (size_t q = 0; q < nj; q++) {
        spc_point_t *p = &pts[J[q]];
        double d = c - p->actual; /* > 0: the KPI went down */
        if (goal->measure == SPC_PROPORTION) {
            p->avoided_units = (goal->increase ? -d : d) * (double)p->den;
            if (!isnan(goal->minutes_per_unit))
                p->minutes_saved = goal->minutes_per_unit * p->avoided_units;
            if (!isnan(goal->nok_per_unit))
                p->nok_saved = goal->nok_per_unit * p->avoided_units;
        } else {
            p->minutes_saved = goal->measure == SPC_SUM ? d : d * (double)p->den;
        }
        if (isnan(p->nok_saved) && !isnan(goal->nok_per_hour) && !isnan(p->minutes_saved))
            p->nok_saved = goal->nok_per_hour * p->minutes_saved / 60.0;
    }

    /* goal.off_track: runs of behind-plan points, keyed where the run
     * reached `consecutive`. */
    for (size_t q = 0; q < nj; q++)
        flag[q] = pts[J[q]].behind;
    size_t cons = goal->consecutive >= 1 ? (size_t)goal->consecutive : 1;
    if (!runs_to_signals(&l, flag, J, nj, 1, cons, true, SPC_OFF_TRACK, 0))
        goto oom;

    if (achieved_q != SPC_NONE)
        push_achieved(&l, J, achieved_q);

    /* Episodes: maximal sequences of points signalling on one side. */
    int unfavourable = goal->increase ? -1 : 1;
    for (size_t q = 0; q < nj; q++)
        flag[q] = pts[J[q]].side;
    if (!runs_to_signals(&l, flag, J, nj, unfavourable, 1, false, SPC_SPECIAL_CAUSE,
                         unfavourable) ||
        !runs_to_signals(&l, flag, J, nj, -unfavourable, 1, false, SPC_IMPROVEMENT, -unfavourable))
        goto oom;

done:
    if (l.oom)
        goto oom;
    free(bx);
    free(J);
    free(flag);
    *signals = l.v;
    *nsignals = l.len;
    return true;
oom:
    free(bx);
    free(J);
    free(flag);
    free(l.v);
    return false;
}
