#ifndef GEVINST_SPC_H
#define GEVINST_SPC_H

/* spc: the arithmetic of goal judgement (goals.md "Periods", "Signals"):
 * periods, center, the planned line, gap and behind plan, control limits
 * (Laney p' for proportions, XmR for minute and sum KPIs), Anhoej's shift
 * rule, episodes and the alerts they make, and the realised benefit. Pure
 * functions on arrays: no I/O, no clock, no allocation but the signal list.
 *
 * Conventions: days are days since 1970-01-01 (local calendar); numbers that
 * do not apply are NAN (test with isnan()); indices that do not apply are
 * SPC_NONE. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPC_NONE ((size_t)-1)

/* How a KPI is measured and charted. */
typedef enum spc_measure {
    SPC_PROPORTION, /* num / den in [0, 1]; Laney p' chart */
    SPC_RATIO,      /* num / den, minutes per user-day; XmR chart */
    SPC_SUM,        /* num alone, total minutes; XmR chart, center = mean */
} spc_measure_t;

/* One goal as spc needs it (a copy of the goals file's fields). */
typedef struct spc_goal {
    spc_measure_t measure;
    /* Units of num per KPI unit: 1 for counts, 60e6 when num counts
     * microseconds and the KPI minutes (kpi_bucket keeps minutes so). */
    double scale;
    bool increase; /* direction: true = higher is better */
    bool baseline_from_data;
    int32_t baseline_from; /* only when baseline_from_data */
    int32_t baseline_to;
    double baseline_value; /* used when !baseline_from_data */
    double target_value;
    int32_t target_date;                                 /* > baseline_to */
    double tolerance;                                    /* NAN: 10% of abs(target - center) */
    int consecutive;                                     /* >= 1 */
    double minutes_per_unit, nok_per_unit, nok_per_hour; /* NAN: not given */
} spc_goal_t;

typedef enum spc_phase {
    SPC_PHASE_OTHER,    /* before or across a baseline bound: shown, not judged */
    SPC_PHASE_BASELINE, /* wholly inside [baseline_from, baseline_to] */
    SPC_PHASE_POST,     /* starts after baseline_to */
} spc_phase_t;

/* One period with data. The caller fills the inputs, in period order;
 * spc_judge() fills the rest. A closed period is a point. */
typedef struct spc_point {
    /* Inputs */
    int32_t start, end; /* first and last day of the period */
    int64_t num, den;   /* sums over the period's days; den > 0 */
    bool closed;        /* the source role's clock has passed end + grace */

    /* Outputs (for every period, open ones too, unless said otherwise) */
    spc_phase_t phase;
    double actual;  /* num / den / scale, or num / scale for SPC_SUM */
    double planned; /* NAN without a center */
    double gap;     /* actual - planned (decrease) or planned - actual */
    bool behind;    /* gap > tolerance */
    double lcl, ucl;
    /* Closed post-baseline points only: */
    bool outside;    /* strictly outside a control limit */
    bool run_signal; /* at or after the (L+1)-th point of a signal run */
    int side;        /* the side it signals on: +1 above the center, -1 below, 0 none */
    double avoided_units, minutes_saved, nok_saved; /* realised benefit */
} spc_point_t;

/* What spc_judge() found for the goal as a whole. */
typedef struct spc_summary {
    double center;          /* NAN: no baseline point and no baseline value */
    double tolerance;       /* in force: the goal's or the default; NAN without center */
    size_t baseline_points; /* closed points in the baseline */
    size_t post_points;     /* closed post-baseline points */
    double sigma_z;         /* p' chart: the z scale; NAN otherwise */
    double mean_mr;         /* XmR: mean moving range of the baseline; NAN: no limits */
    size_t useful;          /* post-baseline points off the center (Anhoej's n) */
    int run_limit;          /* L: longest run allowed; 0 when useful == 0 */
    size_t latest;          /* index of the latest closed post-baseline point, or SPC_NONE */
} spc_summary_t;

typedef enum spc_kind {
    SPC_OFF_TRACK,     /* goal.off_track */
    SPC_ACHIEVED,      /* goal.achieved */
    SPC_SPECIAL_CAUSE, /* kpi.special_cause: unfavourable side */
    SPC_IMPROVEMENT,   /* kpi.improvement: favourable side */
} spc_kind_t;

typedef enum spc_state {
    SPC_FIRING,
    SPC_RESOLVED,
    SPC_NOTICE,
} spc_state_t;

/* One alert's grounds; indices are into the points array. */
typedef struct spc_signal {
    spc_kind_t kind;
    spc_state_t state;
    size_t key;      /* the point the alert is keyed by */
    size_t first;    /* first point of the run / episode (achieved: the first of the three) */
    size_t last;     /* last point of it (the latest while firing) */
    size_t length;   /* points from first to last, counting only closed post-baseline points */
    size_t ended_by; /* resolved: the first later point that ended it; else SPC_NONE */
    int side;        /* special cause / improvement: +1 above, -1 below; else 0 */
} spc_signal_t;

/* Judges one goal. pts[0..n) are its periods with data in order (inputs
 * filled); fills their outputs and *sum, and returns the alerts' grounds in
 * *signals (malloc'd, caller frees; NULL when there is none) and *nsignals,
 * in the order off_track, achieved, special cause and improvement, each by
 * point. False only when memory runs out. */
bool spc_judge(const spc_goal_t *goal, spc_point_t *pts, size_t n, spc_summary_t *sum,
               spc_signal_t **signals, size_t *nsignals);

/* Names as in goals.md: "goal.off_track", ...; "firing", "resolved", "notice". */
const char *spc_kind_name(spc_kind_t kind);
const char *spc_state_name(spc_state_t state);

/* The period (ISO week Monday..Sunday when week, else calendar month) that
 * day lies in. */
void spc_period_bounds(bool week, int32_t day, int32_t *start, int32_t *end);

/* L = round(log2(n)) + 3, the longest run Anhoej's shift rule allows among n
 * useful points (qicharts2). log2(n) is never exactly k + 0.5 for a whole n,
 * so how round() breaks ties does not matter. 0 for n == 0. */
int spc_run_limit(size_t n);

/* center + (target - center) * clamp((e - baseline_to) / (target_date -
 * baseline_to), 0, 1), in days. */
double spc_planned(double center, double target, int32_t baseline_to, int32_t target_date,
                   int32_t e);

/* sigma_z of the Laney p' chart from the z values of the baseline points in
 * order: mean |z_j - z_(j-1)| / 1.128; 1 with fewer than two. */
double spc_laney_sigma_z(const double *z, size_t n);

/* Mean moving range |x_j - x_(j-1)| of n values; NAN with fewer than two. */
double spc_mean_moving_range(const double *x, size_t n);

/* Maximal runs of v[i] == value of at least min_len elements: writes up to
 * cap of them as (first, last) pairs into first[]/last[] and returns how
 * many there are (which may exceed cap). */
size_t spc_runs(const int *v, size_t n, int value, size_t min_len, size_t *first, size_t *last,
                size_t cap);

#endif
