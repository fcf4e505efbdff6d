-- Goal judgement (goals.md): what judge_run (src/judge.c) computes for every
-- goal and period, and the public views goal, goal_status and
-- benefit_realized on top, with small-cell-suppressed copies in gevinst_dash.
--
-- judge_run recomputes everything from the data as it is now and replaces
-- these rows in the transaction that also writes the alerts (007), so the
-- views and the alerts always agree. Rows are keyed by goal_id without a
-- foreign key to goal_def: a goal that leaves the goals file loses its rows at
-- the next judgement, and the goal view only shows goals of goal_def.

-- One row per judged goal: the figures that hold for all its periods.
CREATE TABLE gevinst.goal_result (
    goal_id           text             PRIMARY KEY,
    center            double precision, -- null: no baseline point and no baseline value
    tolerance         double precision, -- in force: the file's or 10% of abs(target - center)
    chart             text             NOT NULL CHECK (chart IN ('laney_p_prime', 'xmr')),
    baseline_points   integer          NOT NULL,
    post_points       integer          NOT NULL, -- closed post-baseline points
    sigma_z           double precision, -- Laney p' only
    mean_moving_range double precision, -- XmR only; null: fewer than two baseline points
    useful_points     integer          NOT NULL, -- post-baseline points off the center (Anhoej n)
    run_limit         integer          NOT NULL, -- L = round(log2(n)) + 3; 0 when n = 0
    clock             timestamptz,      -- event-time clock of the KPI's source role
    closed_through    date              -- last day of the latest closed period with data
);
COMMENT ON TABLE gevinst.goal_result IS
    'Internal: per goal, the center, tolerance and chart figures of the latest judgement. Read the goal view.';

-- One row per goal and period with data (denominator > 0), closed or not.
CREATE TABLE gevinst.goal_period (
    goal_id       text             NOT NULL,
    period_start  date             NOT NULL,
    period_end    date             NOT NULL,
    closed        boolean          NOT NULL,
    phase         text             NOT NULL CHECK (phase IN ('baseline', 'post', 'other')),
    numerator     double precision NOT NULL,
    denominator   bigint           NOT NULL,
    actual        double precision NOT NULL,
    planned       double precision,
    gap           double precision,
    behind_plan   boolean,          -- null for open periods and without a center
    lcl           double precision,
    ucl           double precision,
    outside       boolean,          -- closed post-baseline points: strictly outside a limit
    run_signal    boolean,          -- ... at or after the (L+1)-th point of a signal run
    signal_side   smallint,         -- ... +1 above, -1 below the center, 0 none
    avoided_units double precision, -- closed post-baseline points (benefit_realized)
    minutes_saved double precision,
    nok_saved     double precision,
    PRIMARY KEY (goal_id, period_start)
);
COMMENT ON TABLE gevinst.goal_period IS
    'Internal: per goal and period with data, the judgement of the latest run (plan, gap, limits, signals, benefit). Read goal_status and benefit_realized.';

-- The latest judgement as a whole, for health checks and the stats line.
CREATE TABLE gevinst.judge_state (
    id               boolean     PRIMARY KEY DEFAULT true CHECK (id),
    judged_at        timestamptz NOT NULL,
    goals            integer     NOT NULL,
    periods          integer     NOT NULL,
    alerts_open      integer     NOT NULL, -- firing now
    duration_ms      double precision NOT NULL
);
COMMENT ON TABLE gevinst.judge_state IS
    'Internal: when goals and data alerts were last judged, and how much was judged.';

CREATE VIEW gevinst.goal AS
SELECT d.goal_id, d.unit_id, d.kpi, d.direction, d.period, d.baseline_from, d.baseline_to,
       COALESCE(d.baseline_value, r.center) AS center,
       d.target_value, d.target_date,
       COALESCE(d.tolerance,
                0.1 * abs(d.target_value - COALESCE(d.baseline_value, r.center))) AS tolerance,
       d.owner_id, d.benefit_type
FROM gevinst.goal_def d
LEFT JOIN gevinst.goal_result r ON r.goal_id = d.goal_id;

CREATE VIEW gevinst.goal_status AS
SELECT goal_id, period_start, period_end, closed, numerator, denominator, actual, planned, gap,
       behind_plan, lcl, ucl
FROM gevinst.goal_period;

CREATE VIEW gevinst.benefit_realized AS
SELECT goal_id, period_start, avoided_units, minutes_saved, nok_saved,
       sum(nok_saved) OVER (PARTITION BY goal_id ORDER BY period_start) AS nok_saved_cumulative
FROM gevinst.goal_period
WHERE closed AND phase = 'post';

COMMENT ON VIEW gevinst.goal IS
    'Benefit goals of the goals file (goals.md), with the baseline center computed from data and the tolerance in force.';
COMMENT ON COLUMN gevinst.goal.goal_id IS 'Goal id from the goals file.';
COMMENT ON COLUMN gevinst.goal.unit_id IS 'The unit the goal follows; its figures are summed over the unit and every unit below it (kpi_daily_rollup).';
COMMENT ON COLUMN gevinst.goal.kpi IS 'The KPI followed (kpis.md).';
COMMENT ON COLUMN gevinst.goal.direction IS 'decrease or increase: which way is better.';
COMMENT ON COLUMN gevinst.goal.period IS 'month (calendar month) or week (ISO week, Monday to Sunday), local days.';
COMMENT ON COLUMN gevinst.goal.baseline_from IS 'First day of the baseline measured from data; null when the file gives a baseline value.';
COMMENT ON COLUMN gevinst.goal.baseline_to IS 'Last day of the baseline, or the day a given baseline value refers to.';
COMMENT ON COLUMN gevinst.goal.center IS 'Baseline center: sum of numerators / sum of denominators over the closed baseline periods (for double_documentation_minutes the mean of their totals), or the baseline value of the file. Null until a baseline period is closed.';
COMMENT ON COLUMN gevinst.goal.target_value IS 'Target value, in KPI units.';
COMMENT ON COLUMN gevinst.goal.target_date IS 'Date the target should be reached.';
COMMENT ON COLUMN gevinst.goal.tolerance IS 'How far behind plan a period may be before it counts as behind plan, in KPI units: the file''s value, or 10% of abs(target_value - center).';
COMMENT ON COLUMN gevinst.goal.owner_id IS 'The benefit owner who answers for the goal and gets its alerts.';
COMMENT ON COLUMN gevinst.goal.benefit_type IS 'time_saved, avoided_cost or quality; null when the file gives no benefit.';

COMMENT ON VIEW gevinst.goal_status IS
    'Each goal period by period (one row per period with data, baseline periods included): actual against the straight-line plan from center to target, and the control limits. closed = false rows are provisional: the period is not judged until the event-time clock of the KPI''s source role has reached local midnight goals.grace_days days after the period''s last day.';
COMMENT ON COLUMN gevinst.goal_status.goal_id IS 'The goal.';
COMMENT ON COLUMN gevinst.goal_status.period_start IS 'First day of the period (the 1st of the month, or the Monday of the ISO week).';
COMMENT ON COLUMN gevinst.goal_status.period_end IS 'Last day of the period.';
COMMENT ON COLUMN gevinst.goal_status.closed IS 'True when the period is closed: the latest accepted event time of the KPI''s source role (appointments, journal or audit) is at or after local midnight (kpi.timezone) starting day period_end + 1 + goals.grace_days. Only closed periods are judged; late data can still change them.';
COMMENT ON COLUMN gevinst.goal_status.numerator IS 'Sum of the KPI numerator over the period (minutes for the minute KPIs).';
COMMENT ON COLUMN gevinst.goal_status.denominator IS 'Sum of the KPI denominator over the period (always above 0).';
COMMENT ON COLUMN gevinst.goal_status.actual IS 'numerator / denominator; for double_documentation_minutes the numerator (total minutes).';
COMMENT ON COLUMN gevinst.goal_status.planned IS 'Planned value for the period: center + (target - center) * clamp((period_end - baseline_to) / (target_date - baseline_to), 0, 1), in days. Null without a center.';
COMMENT ON COLUMN gevinst.goal_status.gap IS 'actual - planned for decrease goals, planned - actual for increase goals: above 0 is worse than plan.';
COMMENT ON COLUMN gevinst.goal_status.behind_plan IS 'gap > tolerance. Null for periods not closed and without a center.';
COMMENT ON COLUMN gevinst.goal_status.lcl IS 'Lower control limit: Laney p'' chart for proportion KPIs (center - 3 sigma_z s_i, not clipped at 0), individuals (XmR) chart for minute KPIs (center - 2.66 x mean moving range of the baseline). Null when there are no limits (XmR with fewer than two baseline periods; a center of exactly 0 or 1).';
COMMENT ON COLUMN gevinst.goal_status.ucl IS 'Upper control limit, as lcl (not clipped at 1).';

COMMENT ON VIEW gevinst.benefit_realized IS
    'Benefit realised per goal and closed post-baseline period (periods starting after baseline_to), against the baseline center.';
COMMENT ON COLUMN gevinst.benefit_realized.goal_id IS 'The goal.';
COMMENT ON COLUMN gevinst.benefit_realized.period_start IS 'First day of the period.';
COMMENT ON COLUMN gevinst.benefit_realized.avoided_units IS 'Proportion KPIs: events avoided against the baseline, (center - actual) x denominator for decrease goals, (actual - center) x denominator for increase goals (e.g. no-shows avoided, portal bookings gained). Null for minute KPIs.';
COMMENT ON COLUMN gevinst.benefit_realized.minutes_saved IS 'Minute KPIs: (center - actual) x denominator (minutes per user-day KPIs), or center - actual (double_documentation_minutes), whatever the direction. Proportion KPIs: benefit minutes_per_unit x avoided_units, null without minutes_per_unit.';
COMMENT ON COLUMN gevinst.benefit_realized.nok_saved IS 'Value in NOK: benefit nok_per_unit x avoided_units for proportion KPIs; otherwise nok_per_hour x minutes_saved / 60; null when the goal gives neither.';
COMMENT ON COLUMN gevinst.benefit_realized.nok_saved_cumulative IS 'Sum of nok_saved over this and the earlier closed post-baseline periods of the goal.';

-- Dashboards: goal holds no counts; goal_status and benefit_realized hide a
-- period's figures where its denominator is below the minimum cell size.
-- Every column a figure could be worked back from goes (actual = planned +-
-- gap, avoided_units = (center - actual) x denominator); the cumulative sum
-- runs over the periods shown only, so differences of cumulative values do
-- not reveal a hidden period either.
CREATE VIEW gevinst_dash.goal WITH (security_barrier) AS
SELECT goal_id, unit_id, kpi, direction, period, baseline_from, baseline_to, center,
       target_value, target_date, tolerance, owner_id, benefit_type
FROM gevinst.goal;

CREATE VIEW gevinst_dash.goal_status WITH (security_barrier) AS
SELECT s.goal_id, s.period_start, s.period_end, s.closed,
       CASE WHEN s.denominator >= m.min_cell_size THEN s.numerator END AS numerator,
       s.denominator,
       CASE WHEN s.denominator >= m.min_cell_size THEN s.actual END AS actual,
       s.planned,
       CASE WHEN s.denominator >= m.min_cell_size THEN s.gap END AS gap,
       s.behind_plan, s.lcl, s.ucl
FROM gevinst.goal_status s CROSS JOIN gevinst.dash_min_cell_size m;

CREATE VIEW gevinst_dash.benefit_realized WITH (security_barrier) AS
SELECT x.goal_id, x.period_start, x.avoided_units, x.minutes_saved, x.nok_saved,
       sum(x.nok_saved) OVER (PARTITION BY x.goal_id ORDER BY x.period_start)
           AS nok_saved_cumulative
FROM (SELECT p.goal_id, p.period_start,
             CASE WHEN p.denominator >= m.min_cell_size THEN p.avoided_units END AS avoided_units,
             CASE WHEN p.denominator >= m.min_cell_size THEN p.minutes_saved END AS minutes_saved,
             CASE WHEN p.denominator >= m.min_cell_size THEN p.nok_saved END AS nok_saved
      FROM gevinst.goal_period p CROSS JOIN gevinst.dash_min_cell_size m
      WHERE p.closed AND p.phase = 'post') x;

COMMENT ON VIEW gevinst_dash.goal IS
    'Same as gevinst.goal (benefit goals with center and tolerance). Not suppressed: it holds no counts.';
COMMENT ON VIEW gevinst_dash.goal_status IS
    'gevinst.goal_status with small cells suppressed: where a period''s denominator is below the minimum cell size (privacy.min_cell_size, default 5), numerator, actual and gap are null.';
COMMENT ON VIEW gevinst_dash.benefit_realized IS
    'gevinst.benefit_realized with small cells suppressed: where a period''s denominator is below the minimum cell size (privacy.min_cell_size, default 5), avoided_units, minutes_saved and nok_saved are null, and nok_saved_cumulative sums only the periods shown.';

DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT a.attrelid::regclass AS dash_view, a.attname,
               col_description(g.oid, ga.attnum) AS txt
        FROM pg_attribute a
        JOIN pg_class d ON d.oid = a.attrelid
        JOIN pg_namespace dn ON dn.oid = d.relnamespace AND dn.nspname = 'gevinst_dash'
        JOIN pg_class g ON g.relname = d.relname
             AND g.relnamespace = 'gevinst'::regnamespace
        JOIN pg_attribute ga ON ga.attrelid = g.oid AND ga.attname = a.attname
        WHERE a.attnum > 0 AND NOT a.attisdropped
          AND d.relname IN ('goal', 'goal_status', 'benefit_realized')
    LOOP
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', c.dash_view, c.attname,
                       c.txt || CASE
                           WHEN c.dash_view::text = 'gevinst_dash.goal_status'
                                AND c.attname IN ('numerator', 'actual', 'gap')
                           THEN ' Null where the denominator is below the minimum cell size (privacy.min_cell_size, default 5).'
                           WHEN c.dash_view::text = 'gevinst_dash.benefit_realized'
                                AND c.attname IN ('avoided_units', 'minutes_saved', 'nok_saved')
                           THEN ' Null where the period''s denominator is below the minimum cell size (privacy.min_cell_size, default 5).'
                           WHEN c.dash_view::text = 'gevinst_dash.benefit_realized'
                                AND c.attname = 'nok_saved_cumulative'
                           THEN ' Here: over the periods shown only (suppressed periods count nothing).'
                           ELSE '' END);
    END LOOP;
END
$$;

-- What judge_run writes into the alert tables of 007, where 007 leaves it open.
COMMENT ON COLUMN gevinst.alert.unit_id IS
    'The unit of the goal, or the unit concerned by a data alert; for data.rejections, which concern a stream and no unit, the Kafka topic.';
COMMENT ON COLUMN gevinst.alert_delivery.status IS
    'pending, delivered, failed (gave up after retries) or suppressed: recorded, not sent, because the period the revision is about ended more than alerts.max_age_days before the judgement (a backfill), or because a later revision superseded it before it was sent.';
