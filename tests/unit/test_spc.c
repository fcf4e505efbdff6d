/* Tests for spc: the goal judgement arithmetic of goals.md against values
 * worked out by hand in the comments (Laney p' sigma_z and limits, XmR
 * limits, Anhoej's run limit and runs, episodes and their states, the plan
 * line and its clamping, goal.off_track, goal.achieved, benefit). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gevinst/spc.h"
#include "gevinst/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_US 60e6 /* minute KPIs keep microseconds */

static int32_t day(int y, int m, int d)
{
    return timeutil_days_from_civil(y, m, d);
}

static void near(double got, double want, const char *what)
{
    if (!(fabs(got - want) <= 1e-12 * fmax(1.0, fabs(want))))
        fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

/* Calendar month m of year y as a closed period with these sums. */
static spc_point_t month(int y, int m, int64_t num, int64_t den)
{
    spc_point_t p = {.num = num, .den = den, .closed = true};
    spc_period_bounds(false, day(y, m, 15), &p.start, &p.end);
    return p;
}

static spc_goal_t goal_base(spc_measure_t measure)
{
    spc_goal_t g = {
        .measure = measure,
        .scale = measure == SPC_PROPORTION ? 1.0 : MIN_US,
        .increase = false,
        .baseline_from_data = true,
        .baseline_from = day(2023, 1, 1),
        .baseline_to = day(2023, 6, 30),
        .baseline_value = NAN,
        .target_value = measure == SPC_PROPORTION ? 0.05 : 5,
        .target_date = day(2024, 12, 31),
        .tolerance = NAN,
        .consecutive = 3,
        .minutes_per_unit = NAN,
        .nok_per_unit = NAN,
        .nok_per_hour = NAN,
    };
    return g;
}

typedef struct judged {
    spc_summary_t sum;
    spc_signal_t *sig;
    size_t nsig;
} judged_t;

static judged_t judge(const spc_goal_t *g, spc_point_t *p, size_t n)
{
    judged_t j;
    assert_true(spc_judge(g, p, n, &j.sum, &j.sig, &j.nsig));
    return j;
}

/* The signals of one kind, in order. */
static size_t of_kind(const judged_t *j, spc_kind_t kind, spc_signal_t *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < j->nsig; i++)
        if (j->sig[i].kind == kind && k < cap)
            out[k++] = j->sig[i];
    return k;
}

/* ---------------------------------------------------------------- tables */

static void test_run_limit(void **state)
{
    (void)state;
    /* issue 6: n = 10, 12, 20, 24, 36, 60 allow runs of 6, 7, 7, 8, 8, 9.
     * log2: 3.32, 3.58, 4.32, 4.58, 5.17, 5.91 -> 3, 4, 4, 5, 5, 6, + 3. */
    static const struct {
        size_t n;
        int longest;
    } t[] = {{10, 6},
             {12, 7},
             {20, 7},
             {24, 8},
             {36, 8},
             {60, 9},
             /* log2 1 = 0; 8 = 3; 11 = 3.46; 16 = 4; 23 = 4.52; 46 = 5.52; 91 = 6.51 */
             {1, 3},
             {8, 6},
             {11, 6},
             {16, 7},
             {23, 8},
             {46, 9},
             {91, 10}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (spc_run_limit(t[i].n) != t[i].longest)
            fail_msg("n = %zu: L = %d, want %d", t[i].n, spc_run_limit(t[i].n), t[i].longest);
    assert_int_equal(spc_run_limit(0), 0);
}

static void test_period_bounds(void **state)
{
    (void)state;
    int32_t s, e;
    spc_period_bounds(true, day(2024, 1, 3), &s, &e); /* a Wednesday */
    assert_int_equal(s, day(2024, 1, 1));
    assert_int_equal(e, day(2024, 1, 7));
    spc_period_bounds(true, day(2025, 1, 5), &s, &e); /* Sunday of ISO week 2025-W01 */
    assert_int_equal(s, day(2024, 12, 30));
    assert_int_equal(e, day(2025, 1, 5));
    spc_period_bounds(true, day(2024, 1, 1), &s, &e); /* a Monday */
    assert_int_equal(s, day(2024, 1, 1));
    spc_period_bounds(false, day(2024, 2, 15), &s, &e);
    assert_int_equal(s, day(2024, 2, 1));
    assert_int_equal(e, day(2024, 2, 29));
    spc_period_bounds(false, day(2023, 12, 31), &s, &e);
    assert_int_equal(s, day(2023, 12, 1));
    assert_int_equal(e, day(2023, 12, 31));
}

static void test_planned(void **state)
{
    (void)state;
    int32_t bt = day(2024, 1, 1), td = bt + 100;
    /* Before baseline_to: clamp 0, the center. */
    near(spc_planned(0.2, 0.1, bt, td, bt - 10), 0.2, "before");
    near(spc_planned(0.2, 0.1, bt, td, bt), 0.2, "at baseline_to");
    /* Half way: 0.2 + (0.1 - 0.2) * 50/100 = 0.15. */
    near(spc_planned(0.2, 0.1, bt, td, bt + 50), 0.15, "half");
    /* 0.2 - 0.1 * 25/100 = 0.175 */
    near(spc_planned(0.2, 0.1, bt, td, bt + 25), 0.175, "quarter");
    near(spc_planned(0.2, 0.1, bt, td, td), 0.1, "at target date");
    /* After the target date: clamp 1, the target. */
    near(spc_planned(0.2, 0.1, bt, td, td + 400), 0.1, "after");
    /* Increase goals the same way up. */
    near(spc_planned(30, 50, bt, td, bt + 10), 32, "increase");
}

static void test_helpers(void **state)
{
    (void)state;
    double z[] = {0, 1, -1, 2};
    /* |1-0| + |-1-1| + |2+1| = 6; /3 = 2; /1.128 */
    near(spc_laney_sigma_z(z, 4), 2 / 1.128, "sigma_z");
    near(spc_laney_sigma_z(z, 1), 1, "sigma_z of one point");
    near(spc_laney_sigma_z(z, 0), 1, "sigma_z of none");
    double x[] = {10, 12, 9, 15};
    near(spc_mean_moving_range(x, 4), (2 + 3 + 6) / 3.0, "mean moving range");
    assert_true(isnan(spc_mean_moving_range(x, 1)));

    int v[] = {1, 1, 0, 1, 1, 1, -1, 1};
    size_t f[4], l[4];
    assert_int_equal(spc_runs(v, 8, 1, 1, f, l, 4), 3);
    assert_int_equal(f[0], 0);
    assert_int_equal(l[0], 1);
    assert_int_equal(f[1], 3);
    assert_int_equal(l[1], 5);
    assert_int_equal(f[2], 7);
    assert_int_equal(l[2], 7);
    assert_int_equal(spc_runs(v, 8, 1, 3, f, l, 4), 1);
    assert_int_equal(f[0], 3);
    assert_int_equal(spc_runs(v, 8, 1, 1, NULL, NULL, 0), 3); /* counts beyond cap */
}

/* ------------------------------------------------------------- p' chart */

/* Six monthly baseline points, Jan..Jun 2023:
 *   (10,100) .10  (14,100) .14  (6,100) .06  (20,200) .10  (12,100) .12  (8,100) .08
 * center = 70/700 = 0.1; c(1-c) = 0.09; s = 0.3/sqrt(n): 0.03 for n = 100.
 * z = 0, 4/3, -4/3, 0, 2/3, -2/3; |dz| = 4/3, 8/3, 4/3, 2/3, 4/3, sum 22/3,
 * mean 22/15, sigma_z = 22/15 / 1.128 = 1.30023640...
 * n = 100: limits 0.1 -+ 3 * sigma_z * 0.03 = -0.0170213, 0.2170213 (not clipped);
 * n = 200: 0.1 -+ 3 * sigma_z * 0.3/sqrt(200). */
static void laney_points(spc_point_t *p)
{
    p[0] = month(2023, 1, 10, 100);
    p[1] = month(2023, 2, 14, 100);
    p[2] = month(2023, 3, 6, 100);
    p[3] = month(2023, 4, 20, 200);
    p[4] = month(2023, 5, 12, 100);
    p[5] = month(2023, 6, 8, 100);
}

static void test_laney(void **state)
{
    (void)state;
    spc_goal_t g = goal_base(SPC_PROPORTION);
    spc_point_t p[9];
    laney_points(p);
    p[6] = month(2023, 7, 30, 100); /* 0.3 > 0.217: outside, unfavourable */
    p[7] = month(2023, 8, 10, 100); /* back at the center */
    p[8] = month(2023, 9, 40, 100); /* open: shown, not judged */
    p[8].closed = false;
    judged_t j = judge(&g, p, 9);

    double sz = 22.0 / 15.0 / 1.128;
    near(j.sum.center, 0.1, "center");
    near(j.sum.sigma_z, sz, "sigma_z");
    near(sz, 1.3002364066193853, "sigma_z by hand");
    assert_int_equal(j.sum.baseline_points, 6);
    assert_int_equal(j.sum.post_points, 2);
    near(p[0].ucl, 0.1 + 3 * sz * 0.03, "ucl n=100");
    near(p[0].lcl, 0.1 - 3 * sz * 0.03, "lcl n=100");
    assert_true(p[0].lcl < 0); /* not clipped to [0, 1] */
    near(p[0].ucl, 0.21702127659574466, "ucl n=100 by hand");
    near(p[3].ucl, 0.1 + 3 * sz * 0.3 / sqrt(200), "ucl n=200");
    near(p[3].lcl, 0.1 - 3 * sz * 0.3 / sqrt(200), "lcl n=200");
    for (int i = 0; i < 6; i++)
        assert_int_equal(p[i].phase, SPC_PHASE_BASELINE);
    assert_int_equal(p[6].phase, SPC_PHASE_POST);

    assert_true(p[6].outside);
    assert_int_equal(p[6].side, 1);
    assert_int_equal(p[7].side, 0);
    assert_int_equal(p[8].side, 0); /* open */

    /* Planned for July: e = 2023-07-31, 31 of the 550 days to 2024-12-31. */
    near(p[6].planned, 0.1 + (0.05 - 0.1) * 31.0 / 550.0, "planned July");
    near(p[6].gap, 0.3 - p[6].planned, "gap (decrease)");
    near(j.sum.tolerance, 0.005, "default tolerance: 10% of |0.05 - 0.1|");
    assert_true(p[6].behind);

    spc_signal_t s[4];
    assert_int_equal(of_kind(&j, SPC_SPECIAL_CAUSE, s, 4), 1);
    assert_int_equal(s[0].key, 6);
    assert_int_equal(s[0].state, SPC_RESOLVED);
    assert_int_equal(s[0].ended_by, 7);
    assert_int_equal(s[0].length, 1);
    assert_int_equal(of_kind(&j, SPC_IMPROVEMENT, s, 4), 0);
    free(j.sig);

    /* A given baseline value: sigma_z = 1, limits c -+ 3 s_i. */
    g.baseline_from_data = false;
    g.baseline_value = 0.1;
    j = judge(&g, p, 9);
    near(j.sum.sigma_z, 1, "sigma_z with a baseline value");
    near(p[0].ucl, 0.1 + 3 * 0.03, "ucl with a baseline value");
    assert_int_equal(j.sum.baseline_points, 0);
    assert_int_equal(p[0].phase, SPC_PHASE_OTHER);
    free(j.sig);

    /* One baseline point: sigma_z = 1. */
    g = goal_base(SPC_PROPORTION);
    g.baseline_from = day(2023, 6, 1);
    j = judge(&g, p, 9);
    assert_int_equal(j.sum.baseline_points, 1);
    near(j.sum.center, 0.08, "center of one point");
    near(j.sum.sigma_z, 1, "sigma_z of one point");
    free(j.sig);

    /* A center of 0: no limits (s_i = 0), the run rule alone. */
    spc_point_t z[3] = {month(2023, 1, 0, 100), month(2023, 2, 0, 100), month(2023, 7, 1, 100)};
    g = goal_base(SPC_PROPORTION);
    j = judge(&g, z, 3);
    near(j.sum.center, 0, "zero center");
    assert_true(isnan(z[2].ucl));
    assert_false(z[2].outside);
    free(j.sig);
}

/* ------------------------------------------------------------- XmR chart */

static void test_xmr(void **state)
{
    (void)state;
    /* Sum KPI: baseline totals 10, 12, 9, 15, 11, 13 minutes.
     * center = mean = 70/6 = 11.6667; moving ranges 2, 3, 6, 4, 2: mean 17/5 = 3.4;
     * limits 70/6 -+ 2.66 * 3.4 = 70/6 -+ 9.044. */
    spc_goal_t g = goal_base(SPC_SUM);
    static const int mins[] = {10, 12, 9, 15, 11, 13};
    spc_point_t p[8];
    for (int i = 0; i < 6; i++)
        p[i] = month(2023, i + 1, (int64_t)(mins[i] * MIN_US), 3 + i);
    p[6] = month(2023, 7, (int64_t)(21 * MIN_US), 4); /* 21 > 20.71: outside */
    p[7] = month(2023, 8, (int64_t)(20 * MIN_US), 4); /* inside */
    judged_t j = judge(&g, p, 8);
    near(j.sum.center, 70.0 / 6, "center = mean of totals");
    near(j.sum.mean_mr, 3.4, "mean moving range");
    near(p[0].ucl, 70.0 / 6 + 2.66 * 3.4, "ucl");
    near(p[0].lcl, 70.0 / 6 - 2.66 * 3.4, "lcl");
    near(p[6].actual, 21, "sum actual = numerator");
    assert_true(p[6].outside);
    assert_false(p[7].outside);
    free(j.sig);

    /* Ratio KPI (minutes per user-day): center = sum/sum, not the mean.
     * (600 min, 10) 60, (1400, 20) 70, (500, 10) 50: center 2500/40 = 62.5
     * (the mean would be 60); moving ranges 10, 20: 15; limits 62.5 -+ 39.9. */
    g = goal_base(SPC_RATIO);
    spc_point_t r[4] = {
        month(2023, 1, (int64_t)(600 * MIN_US), 10), month(2023, 2, (int64_t)(1400 * MIN_US), 20),
        month(2023, 3, (int64_t)(500 * MIN_US), 10), month(2023, 7, (int64_t)(1200 * MIN_US), 20)};
    j = judge(&g, r, 4);
    near(j.sum.center, 62.5, "ratio center");
    near(j.sum.mean_mr, 15, "ratio mean moving range");
    near(r[3].ucl, 62.5 + 39.9, "ratio ucl");
    near(r[3].lcl, 62.5 - 39.9, "ratio lcl");
    near(r[3].actual, 60, "ratio actual");
    free(j.sig);

    /* Fewer than two baseline points: no limits. */
    j = judge(&g, r + 2, 2);
    assert_int_equal(j.sum.baseline_points, 1);
    assert_true(isnan(r[3].ucl) && isnan(r[3].lcl));
    assert_true(isnan(j.sum.mean_mr));
    free(j.sig);
}

/* -------------------------------------------------------- runs, episodes */

/* A sum-KPI goal with a given baseline value of 10 minutes: no baseline
 * points, so no limits, and the run rule alone decides. */
static judged_t runs_case(const double *minutes, size_t n, spc_point_t *p)
{
    spc_goal_t g = goal_base(SPC_SUM);
    g.baseline_from_data = false;
    g.baseline_value = 10;
    for (size_t i = 0; i < n; i++) /* from January 2024: after baseline_to */
        p[i] = month(2024 + (int)(i / 12), (int)(i % 12) + 1, (int64_t)(minutes[i] * MIN_US), 1);
    return judge(&g, p, n);
}

static void test_anhoej_runs(void **state)
{
    (void)state;
    spc_point_t p[16];
    spc_signal_t s[4];

    /* n = 10, L = 6: seven above, then three below. The 7th point signals
     * and makes an episode of one point, resolved by the next. */
    double a[] = {11, 11, 11, 11, 11, 11, 11, 9, 9, 9};
    judged_t j = runs_case(a, 10, p);
    assert_int_equal(j.sum.useful, 10);
    assert_int_equal(j.sum.run_limit, 6);
    for (int i = 0; i < 10; i++)
        assert_int_equal(p[i].run_signal, i == 6);
    assert_int_equal(p[6].side, 1);
    assert_int_equal(of_kind(&j, SPC_SPECIAL_CAUSE, s, 4), 1);
    assert_int_equal(s[0].key, 6);
    assert_int_equal(s[0].state, SPC_RESOLVED);
    assert_int_equal(s[0].ended_by, 7);
    assert_int_equal(of_kind(&j, SPC_IMPROVEMENT, s, 4), 0);
    free(j.sig);

    /* Six above: no signal (a run of L is allowed). */
    double b[] = {11, 11, 11, 11, 11, 11, 9, 9, 9, 9};
    j = runs_case(b, 10, p);
    assert_int_equal(of_kind(&j, SPC_SPECIAL_CAUSE, s, 4), 0);
    assert_int_equal(of_kind(&j, SPC_IMPROVEMENT, s, 4), 0);
    free(j.sig);

    /* A point exactly on the center is left out: n = 9, L = round(3.17) + 3 = 6,
     * and the run above goes on across it: its 7th point (index 7) signals. */
    double c[] = {11, 11, 11, 11, 10, 11, 11, 11, 9, 9};
    j = runs_case(c, 10, p);
    assert_int_equal(j.sum.useful, 9);
    assert_int_equal(j.sum.run_limit, 6);
    for (int i = 0; i < 10; i++)
        assert_int_equal(p[i].run_signal, i == 7);
    assert_int_equal(p[4].side, 0);
    free(j.sig);

    /* Eight above, to the end: n = 8, L = 6; points 7 and 8 signal, one
     * episode keyed by the first of them, firing (its last point is the
     * latest closed point). */
    double d[] = {11, 11, 11, 11, 11, 11, 11, 11};
    j = runs_case(d, 8, p);
    assert_int_equal(of_kind(&j, SPC_SPECIAL_CAUSE, s, 4), 1);
    assert_int_equal(s[0].key, 6);
    assert_int_equal(s[0].first, 6);
    assert_int_equal(s[0].last, 7);
    assert_int_equal(s[0].length, 2);
    assert_int_equal(s[0].state, SPC_FIRING);
    assert_int_equal(s[0].ended_by, SPC_NONE);
    free(j.sig);

    /* The same shift below the center of a decrease goal is an improvement. */
    double e[] = {9, 9, 9, 9, 9, 9, 9, 9};
    j = runs_case(e, 8, p);
    assert_int_equal(of_kind(&j, SPC_SPECIAL_CAUSE, s, 4), 0);
    assert_int_equal(of_kind(&j, SPC_IMPROVEMENT, s, 4), 1);
    assert_int_equal(s[0].side, -1);
    assert_int_equal(s[0].state, SPC_FIRING);
    free(j.sig);

    /* A later point still open does not end the episode. */
    double d2[] = {11, 11, 11, 11, 11, 11, 11, 11, 1};
    spc_goal_t g = goal_base(SPC_SUM);
    g.baseline_from_data = false;
    g.baseline_value = 10;
    for (int i = 0; i < 9; i++) {
        p[i] = month(2024, i + 1, (int64_t)(d2[i] * MIN_US), 1);
    }
    p[8].closed = false;
    j = judge(&g, p, 9);
    assert_int_equal(of_kind(&j, SPC_SPECIAL_CAUSE, s, 4), 1);
    assert_int_equal(s[0].state, SPC_FIRING);
    free(j.sig);
}

/* Limits and episodes together: XmR baseline as in test_xmr (limits 2.62..20.71). */
static void test_episodes(void **state)
{
    (void)state;
    spc_goal_t g = goal_base(SPC_SUM);
    static const int mins[] = {10, 12, 9, 15, 11, 13};
    static const double post[] = {12, 25, 26, 11, 1, 0.5, 12};
    spc_point_t p[13];
    for (int i = 0; i < 6; i++)
        p[i] = month(2023, i + 1, (int64_t)(mins[i] * MIN_US), 1);
    for (int i = 0; i < 7; i++) /* July 2023 .. January 2024 */
        p[6 + i] = month(2023 + (6 + i) / 12, (6 + i) % 12 + 1, (int64_t)(post[i] * MIN_US), 1);
    judged_t j = judge(&g, p, 13);
    spc_signal_t s[4];
    /* 25 and 26 above the upper limit: one episode keyed by 25, ended by 11. */
    assert_int_equal(of_kind(&j, SPC_SPECIAL_CAUSE, s, 4), 1);
    assert_int_equal(s[0].key, 7);
    assert_int_equal(s[0].last, 8);
    assert_int_equal(s[0].length, 2);
    assert_int_equal(s[0].state, SPC_RESOLVED);
    assert_int_equal(s[0].ended_by, 9);
    /* 1 and 0.5 below the lower limit: favourable for a decrease goal. */
    assert_int_equal(of_kind(&j, SPC_IMPROVEMENT, s, 4), 1);
    assert_int_equal(s[0].key, 10);
    assert_int_equal(s[0].last, 11);
    assert_int_equal(s[0].state, SPC_RESOLVED);
    assert_int_equal(s[0].ended_by, 12);
    free(j.sig);

    /* Common-cause noise inside the limits, no long run: nothing. */
    static const double noise[] = {12, 10, 13, 9, 14, 11, 12};
    for (int i = 0; i < 7; i++)
        p[6 + i].num = (int64_t)(noise[i] * MIN_US);
    j = judge(&g, p, 13);
    assert_int_equal(of_kind(&j, SPC_SPECIAL_CAUSE, s, 4), 0);
    assert_int_equal(of_kind(&j, SPC_IMPROVEMENT, s, 4), 0);
    free(j.sig);

    /* An increase goal: above is favourable. */
    for (int i = 0; i < 7; i++)
        p[6 + i].num = (int64_t)(post[i] * MIN_US);
    g.increase = true;
    g.target_value = 30;
    j = judge(&g, p, 13);
    assert_int_equal(of_kind(&j, SPC_IMPROVEMENT, s, 4), 1);
    assert_int_equal(s[0].key, 7);
    assert_int_equal(of_kind(&j, SPC_SPECIAL_CAUSE, s, 4), 1);
    assert_int_equal(s[0].key, 10);
    free(j.sig);
}

/* ----------------------------------------------------- goal.off_track */

static void off_track_points(spc_point_t *p, const int *num, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = month(2024 + (int)(i / 12), (int)(i % 12) + 1, num[i], 1000);
}

static void test_off_track(void **state)
{
    (void)state;
    /* Known baseline 0.2 at 2023-12-31, target 0.1 on 2030-12-31, tolerance
     * 0.01: planned stays near 0.2 (0.1985 after a year). 0.25 is behind
     * (gap ~0.05 > 0.01), 0.2 is not. */
    spc_goal_t g = goal_base(SPC_PROPORTION);
    g.baseline_from_data = false;
    g.baseline_value = 0.2;
    g.baseline_to = day(2023, 12, 31);
    g.target_value = 0.1;
    g.target_date = day(2030, 12, 31);
    g.tolerance = 0.01;
    g.consecutive = 3;
    spc_point_t p[12];
    spc_signal_t s[4];

    /* not, behind x4, not, behind x2: one run long enough, keyed at its 3rd
     * point (index 3), resolved by index 5; the run of 2 makes nothing. */
    int a[] = {200, 250, 250, 250, 250, 200, 250, 250};
    off_track_points(p, a, 8);
    judged_t j = judge(&g, p, 8);
    near(j.sum.tolerance, 0.01, "tolerance given");
    assert_int_equal(of_kind(&j, SPC_OFF_TRACK, s, 4), 1);
    assert_int_equal(s[0].key, 3);
    assert_int_equal(s[0].first, 1);
    assert_int_equal(s[0].last, 4);
    assert_int_equal(s[0].length, 4);
    assert_int_equal(s[0].state, SPC_RESOLVED);
    assert_int_equal(s[0].ended_by, 5);
    free(j.sig);

    /* The second run reaches 3 at the end: firing, keyed at index 8. */
    int b[] = {200, 250, 250, 250, 250, 200, 250, 250, 250};
    off_track_points(p, b, 9);
    j = judge(&g, p, 9);
    assert_int_equal(of_kind(&j, SPC_OFF_TRACK, s, 4), 2);
    assert_int_equal(s[1].key, 8);
    assert_int_equal(s[1].first, 6);
    assert_int_equal(s[1].state, SPC_FIRING);
    assert_int_equal(s[1].length, 3);
    free(j.sig);

    /* consecutive = 1: every behind point keys a run's alert at its first. */
    g.consecutive = 1;
    j = judge(&g, p, 9);
    assert_int_equal(of_kind(&j, SPC_OFF_TRACK, s, 4), 2);
    assert_int_equal(s[0].key, 1);
    assert_int_equal(s[1].key, 6);
    free(j.sig);

    /* Open periods are not points: two closed behind + one open is no run of 3. */
    g.consecutive = 3;
    int c[] = {250, 250, 250};
    off_track_points(p, c, 3);
    p[2].closed = false;
    j = judge(&g, p, 3);
    assert_int_equal(of_kind(&j, SPC_OFF_TRACK, s, 4), 0);
    assert_false(p[2].behind);
    free(j.sig);
}

/* ----------------------------------------------------- goal.achieved */

static void test_achieved(void **state)
{
    (void)state;
    spc_goal_t g = goal_base(SPC_PROPORTION);
    g.baseline_from_data = false;
    g.baseline_value = 0.2;
    g.baseline_to = day(2023, 12, 31);
    g.target_value = 0.1;
    g.target_date = day(2030, 12, 31);
    spc_point_t p[12];
    spc_signal_t s[4];
    /* 0.09 0.09 0.2 0.09 0.08 0.07 0.06 0.05: the first point meeting the
     * target with the two before it is index 5; once only. */
    int a[] = {90, 90, 200, 90, 80, 70, 60, 50};
    off_track_points(p, a, 8);
    judged_t j = judge(&g, p, 8);
    assert_int_equal(of_kind(&j, SPC_ACHIEVED, s, 4), 1);
    assert_int_equal(s[0].key, 5);
    assert_int_equal(s[0].first, 3);
    assert_int_equal(s[0].state, SPC_NOTICE);
    free(j.sig);

    /* Exactly the target counts (<=); increase goals use >=. */
    int b[] = {100, 100, 100};
    off_track_points(p, b, 3);
    j = judge(&g, p, 3);
    assert_int_equal(of_kind(&j, SPC_ACHIEVED, s, 4), 1);
    assert_int_equal(s[0].key, 2);
    free(j.sig);
    g.increase = true;
    g.target_value = 0.1;
    int c[] = {100, 150, 99, 100, 100};
    off_track_points(p, c, 5);
    j = judge(&g, p, 5);
    assert_int_equal(of_kind(&j, SPC_ACHIEVED, s, 4), 0);
    free(j.sig);

    /* Needs no center: a data baseline without closed baseline points. */
    g = goal_base(SPC_PROPORTION);
    g.target_value = 0.1;
    off_track_points(p, b, 3);
    j = judge(&g, p, 3);
    assert_true(isnan(j.sum.center));
    assert_int_equal(of_kind(&j, SPC_ACHIEVED, s, 4), 1);
    assert_int_equal(j.nsig, 1);
    free(j.sig);
}

/* ----------------------------------------------------- benefit, phases */

static void test_benefit(void **state)
{
    (void)state;
    /* Proportion, decrease: center 0.1 (baseline of test_laney), July (5,100):
     * avoided = (0.1 - 0.05) * 100 = 5, minutes = 45 * 5 = 225, NOK = 900 * 5. */
    spc_goal_t g = goal_base(SPC_PROPORTION);
    g.minutes_per_unit = 45;
    g.nok_per_unit = 900;
    spc_point_t p[7];
    laney_points(p);
    p[6] = month(2023, 7, 5, 100);
    judged_t j = judge(&g, p, 7);
    near(p[6].avoided_units, 5, "avoided");
    near(p[6].minutes_saved, 225, "minutes");
    near(p[6].nok_saved, 4500, "nok");
    assert_true(isnan(p[0].avoided_units)); /* baseline: no benefit */
    free(j.sig);

    /* Increase: (actual - center) * den = (0.05 - 0.1) * 100 = -5. */
    g.increase = true;
    g.minutes_per_unit = NAN;
    g.nok_per_unit = NAN;
    g.nok_per_hour = 600;
    j = judge(&g, p, 7);
    near(p[6].avoided_units, -5, "avoided, increase");
    assert_true(isnan(p[6].minutes_saved));
    assert_true(isnan(p[6].nok_saved));
    free(j.sig);

    /* Ratio minutes: center 62.5 (test_xmr), July (1200 min, 20) = 60:
     * minutes = (62.5 - 60) * 20 = 50; NOK = 600 * 50 / 60 = 500. */
    g = goal_base(SPC_RATIO);
    g.nok_per_hour = 600;
    spc_point_t r[4] = {
        month(2023, 1, (int64_t)(600 * MIN_US), 10), month(2023, 2, (int64_t)(1400 * MIN_US), 20),
        month(2023, 3, (int64_t)(500 * MIN_US), 10), month(2023, 7, (int64_t)(1200 * MIN_US), 20)};
    j = judge(&g, r, 4);
    assert_true(isnan(r[3].avoided_units));
    near(r[3].minutes_saved, 50, "ratio minutes");
    near(r[3].nok_saved, 500, "ratio nok");
    free(j.sig);

    /* Sum: center 70/6, July 10 minutes: minutes = 70/6 - 10. */
    g = goal_base(SPC_SUM);
    static const int mins[] = {10, 12, 9, 15, 11, 13};
    spc_point_t s[7];
    for (int i = 0; i < 6; i++)
        s[i] = month(2023, i + 1, (int64_t)(mins[i] * MIN_US), 2);
    s[6] = month(2023, 7, (int64_t)(10 * MIN_US), 2);
    j = judge(&g, s, 7);
    near(s[6].minutes_saved, 70.0 / 6 - 10, "sum minutes");
    assert_true(isnan(s[6].nok_saved));
    free(j.sig);
}

static void test_phases(void **state)
{
    (void)state;
    /* Weekly goal, baseline 2024-01-03 .. 2024-01-24 (Wed..Wed): only the
     * weeks of 01-08 and 01-15 lie wholly inside; 01-01 and 01-22 straddle;
     * 01-29 starts after baseline_to. */
    spc_goal_t g = goal_base(SPC_PROPORTION);
    g.baseline_from = day(2024, 1, 3);
    g.baseline_to = day(2024, 1, 24);
    spc_point_t p[5];
    for (int i = 0; i < 5; i++) {
        p[i] = (spc_point_t){.num = 10 + i, .den = 100, .closed = true};
        spc_period_bounds(true, day(2024, 1, 1) + 7 * i, &p[i].start, &p[i].end);
    }
    judged_t j = judge(&g, p, 5);
    assert_int_equal(p[0].phase, SPC_PHASE_OTHER);
    assert_int_equal(p[1].phase, SPC_PHASE_BASELINE);
    assert_int_equal(p[2].phase, SPC_PHASE_BASELINE);
    assert_int_equal(p[3].phase, SPC_PHASE_OTHER);
    assert_int_equal(p[4].phase, SPC_PHASE_POST);
    near(j.sum.center, 23.0 / 200, "center of the two inside weeks");
    free(j.sig);

    /* No data at all. */
    j = judge(&g, p, 0);
    assert_int_equal(j.nsig, 0);
    assert_true(isnan(j.sum.center));
    assert_int_equal(j.sum.latest, SPC_NONE);
    free(j.sig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_limit),   cmocka_unit_test(test_period_bounds),
        cmocka_unit_test(test_planned),     cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_laney),       cmocka_unit_test(test_xmr),
        cmocka_unit_test(test_anhoej_runs), cmocka_unit_test(test_episodes),
        cmocka_unit_test(test_off_track),   cmocka_unit_test(test_achieved),
        cmocka_unit_test(test_benefit),     cmocka_unit_test(test_phases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
