-- KPI storage and the public KPI views of kpis.md (schema gevinst), and their
-- small-cell-suppressed copies for dashboards (schema gevinst_dash).
--
-- Layering: kpi_bucket (exact integer counts per leaf unit, KPI, local day)
--   -> unit_ancestor (registry closure) -> kpi_rollup_sum (exact integer sums
--   per unit incl. ancestors) -> kpi_daily_rollup, kpi_weekly, kpi_monthly,
--   kpi_rolling. Periods always sum num and den first and divide last: values
--   are ratios of sums, never averages of ratios.
--
-- The KPI name list appears twice: in the CHECK on kpi_bucket.kpi and, for the
-- three minute KPIs, in the numerator CASE of each public view. The sum KPI
-- (double_documentation_minutes) has value = numerator. Keep them in step
-- with kpis.md and the daemon's KPI table.

CREATE TABLE gevinst.kpi_bucket (
    unit_id text   NOT NULL,
    kpi     text   NOT NULL CHECK (kpi IN ('no_show_rate', 'no_show_rate_self_booked',
                'no_show_rate_staff_booked', 'self_booking_share', 'double_documentation_share',
                'double_documentation_minutes', 'ehr_active_minutes', 'documentation_minutes')),
    day     date   NOT NULL,
    -- Counts; for the minute KPIs microseconds, so that adding and retracting
    -- durations is exact integer arithmetic.
    num     bigint NOT NULL DEFAULT 0,
    den     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (unit_id, kpi, day)
);
COMMENT ON TABLE gevinst.kpi_bucket IS
    'Internal: additive KPI counts per unit named by the events, KPI and local day, kept by the daemon (deltas, retractions included). Minute KPIs count microseconds in num. Read the kpi_* views instead.';

-- Runtime settings the daemon writes at start and on reload, for views that
-- need them (the views cannot see the config file).
CREATE TABLE gevinst.setting (
    key   text PRIMARY KEY,
    value text NOT NULL
);
COMMENT ON TABLE gevinst.setting IS
    'Internal: settings the daemon copies from its config for the views (min_cell_size = privacy.min_cell_size).';
INSERT INTO gevinst.setting (key, value) VALUES ('min_cell_size', '5')
ON CONFLICT (key) DO NOTHING;

-- Registry closure: every unit with itself (depth 0) and each ancestor. The
-- daemon rejects a registry with a cycle, but a cycle must not make every
-- rollup query loop: the path stops the recursion at a unit already visited.
CREATE VIEW gevinst.unit_ancestor AS
WITH RECURSIVE up (unit_id, ancestor_id, depth, path) AS (
    SELECT u.unit_id, u.unit_id, 0, ARRAY[u.unit_id]
    FROM gevinst.unit u
    UNION ALL
    SELECT up.unit_id, p.parent_id, up.depth + 1, up.path || p.parent_id
    FROM up
    JOIN gevinst.unit p ON p.unit_id = up.ancestor_id
    WHERE p.parent_id IS NOT NULL AND p.parent_id <> ALL (up.path)
)
SELECT unit_id, ancestor_id, depth FROM up;

COMMENT ON VIEW gevinst.unit_ancestor IS
    'Unit registry closure: each registry unit paired with itself (depth 0) and with every unit above it.';
COMMENT ON COLUMN gevinst.unit_ancestor.unit_id IS 'A unit of the registry.';
COMMENT ON COLUMN gevinst.unit_ancestor.ancestor_id IS 'The unit itself or a unit above it (parent, grandparent, ...).';
COMMENT ON COLUMN gevinst.unit_ancestor.depth IS '0 for the unit itself, 1 for its parent, 2 for the grandparent, and so on.';

-- Exact integer sums per unit (a leaf as itself, every registry ancestor over
-- its descendants and itself), KPI and day. Only rows with den > 0 take part,
-- so an ancestor is exactly the sum of the kpi_daily rows below it. A unit
-- absent from the registry has no closure rows and stays itself.
CREATE VIEW gevinst.kpi_rollup_sum AS
SELECT COALESCE(a.ancestor_id, b.unit_id) AS unit_id, b.kpi, b.day,
       sum(b.num)::bigint AS num, sum(b.den)::bigint AS den
FROM gevinst.kpi_bucket b
LEFT JOIN gevinst.unit_ancestor a ON a.unit_id = b.unit_id
WHERE b.den > 0
GROUP BY 1, 2, 3;

COMMENT ON VIEW gevinst.kpi_rollup_sum IS
    'Internal: exact integer sums of kpi_bucket per unit (with every registry ancestor), KPI and local day; minute KPIs in microseconds. Read kpi_daily_rollup instead.';
COMMENT ON COLUMN gevinst.kpi_rollup_sum.unit_id IS 'Unit: the unit named by the events, or a registry unit above it.';
COMMENT ON COLUMN gevinst.kpi_rollup_sum.kpi IS 'KPI name (kpis.md).';
COMMENT ON COLUMN gevinst.kpi_rollup_sum.day IS 'Local calendar day (kpi.timezone).';
COMMENT ON COLUMN gevinst.kpi_rollup_sum.num IS 'Sum of kpi_bucket.num: a count, or microseconds for minute KPIs.';
COMMENT ON COLUMN gevinst.kpi_rollup_sum.den IS 'Sum of kpi_bucket.den (always > 0).';

-- Public views. Each computes numerator once (minutes for the minute KPIs)
-- and value from it; denominators are > 0 in every row, NULLIF only guards.

CREATE VIEW gevinst.kpi_daily AS
SELECT b.unit_id::text AS unit_id, b.kpi::text AS kpi, b.day::date AS day,
       n.numerator, b.den::bigint AS denominator,
       CASE WHEN b.kpi = 'double_documentation_minutes' THEN n.numerator
            ELSE n.numerator / NULLIF(b.den, 0)::double precision END AS value
FROM gevinst.kpi_bucket b
CROSS JOIN LATERAL (
    SELECT CASE WHEN b.kpi IN ('double_documentation_minutes', 'ehr_active_minutes',
                               'documentation_minutes')
                THEN b.num::double precision / 60e6::double precision
                ELSE b.num::double precision END AS numerator) n
WHERE b.den > 0;

CREATE VIEW gevinst.kpi_daily_rollup AS
SELECT r.unit_id::text AS unit_id, r.kpi::text AS kpi, r.day::date AS day,
       n.numerator, r.den::bigint AS denominator,
       CASE WHEN r.kpi = 'double_documentation_minutes' THEN n.numerator
            ELSE n.numerator / NULLIF(r.den, 0)::double precision END AS value
FROM gevinst.kpi_rollup_sum r
CROSS JOIN LATERAL (
    SELECT CASE WHEN r.kpi IN ('double_documentation_minutes', 'ehr_active_minutes',
                               'documentation_minutes')
                THEN r.num::double precision / 60e6::double precision
                ELSE r.num::double precision END AS numerator) n;

-- date_trunc on a timestamp (not the implicit timestamptz) so that the result
-- does not depend on the session's TimeZone.
CREATE VIEW gevinst.kpi_weekly AS
SELECT s.unit_id::text AS unit_id, s.kpi::text AS kpi, s.week_start::date AS week_start,
       n.numerator, s.den::bigint AS denominator,
       CASE WHEN s.kpi = 'double_documentation_minutes' THEN n.numerator
            ELSE n.numerator / NULLIF(s.den, 0)::double precision END AS value
FROM (SELECT unit_id, kpi, date_trunc('week', day::timestamp)::date AS week_start,
             sum(num) AS num, sum(den) AS den
      FROM gevinst.kpi_rollup_sum
      GROUP BY 1, 2, 3) s
CROSS JOIN LATERAL (
    SELECT CASE WHEN s.kpi IN ('double_documentation_minutes', 'ehr_active_minutes',
                               'documentation_minutes')
                THEN s.num::double precision / 60e6::double precision
                ELSE s.num::double precision END AS numerator) n;

CREATE VIEW gevinst.kpi_monthly AS
SELECT s.unit_id::text AS unit_id, s.kpi::text AS kpi, s.month_start::date AS month_start,
       n.numerator, s.den::bigint AS denominator,
       CASE WHEN s.kpi = 'double_documentation_minutes' THEN n.numerator
            ELSE n.numerator / NULLIF(s.den, 0)::double precision END AS value
FROM (SELECT unit_id, kpi, date_trunc('month', day::timestamp)::date AS month_start,
             sum(num) AS num, sum(den) AS den
      FROM gevinst.kpi_rollup_sum
      GROUP BY 1, 2, 3) s
CROSS JOIN LATERAL (
    SELECT CASE WHEN s.kpi IN ('double_documentation_minutes', 'ehr_active_minutes',
                               'documentation_minutes')
                THEN s.num::double precision / 60e6::double precision
                ELSE s.num::double precision END AS numerator) n;

-- Both windows in one sort: RANGE with an interval offset over a date column
-- (PostgreSQL 11+) counts calendar days, so days without data need no filling.
-- Measured faster than a self-join on the rollup (see the commit message).
CREATE VIEW gevinst.kpi_rolling AS
SELECT w.unit_id::text AS unit_id, w.kpi::text AS kpi, w.day::date AS day,
       x.window_days::integer AS window_days,
       n.numerator, x.den::bigint AS denominator,
       CASE WHEN w.kpi = 'double_documentation_minutes' THEN n.numerator
            ELSE n.numerator / NULLIF(x.den, 0)::double precision END AS value
FROM (SELECT unit_id, kpi, day,
             sum(num) OVER w7 AS num7, sum(den) OVER w7 AS den7,
             sum(num) OVER w28 AS num28, sum(den) OVER w28 AS den28
      FROM gevinst.kpi_rollup_sum
      WINDOW w7 AS (PARTITION BY unit_id, kpi ORDER BY day
                    RANGE BETWEEN '6 days' PRECEDING AND CURRENT ROW),
             w28 AS (PARTITION BY unit_id, kpi ORDER BY day
                     RANGE BETWEEN '27 days' PRECEDING AND CURRENT ROW)) w
CROSS JOIN LATERAL (VALUES (7, w.num7, w.den7), (28, w.num28, w.den28)) x (window_days, num, den)
CROSS JOIN LATERAL (
    SELECT CASE WHEN w.kpi IN ('double_documentation_minutes', 'ehr_active_minutes',
                               'documentation_minutes')
                THEN x.num::double precision / 60e6::double precision
                ELSE x.num::double precision END AS numerator) n;

COMMENT ON VIEW gevinst.kpi_daily IS
    'KPIs per unit, KPI and local day, for the unit the events named (a unit with children in the registry can also appear here with its own events). One row where the denominator is above 0. Exact figures; dashboards read gevinst_dash.kpi_daily.';
COMMENT ON VIEW gevinst.kpi_daily_rollup IS
    'As kpi_daily, plus every unit above it in the unit registry, summed over all units below it and itself: numerator and denominator are summed first, value is the ratio of the sums. A unit not in the registry appears only as itself.';
COMMENT ON VIEW gevinst.kpi_weekly IS
    'KPIs per unit (with registry rollup) and ISO week (Monday to Sunday, local days): sums of kpi_daily_rollup over the week; value is the ratio of the sums, not an average of daily values.';
COMMENT ON VIEW gevinst.kpi_monthly IS
    'KPIs per unit (with registry rollup) and calendar month (local days): sums of kpi_daily_rollup over the month; value is the ratio of the sums, not an average of daily values.';
COMMENT ON VIEW gevinst.kpi_rolling IS
    'Trailing 7- and 28-day KPIs per unit (with registry rollup), for every day that has a kpi_daily_rollup row: sums over the days day-6..day (or day-27..day); value is the ratio of the sums.';

-- Column comments shared by the five KPI views; the period column is apart.
DO $$
DECLARE
    v text;
    c record;
BEGIN
    FOREACH v IN ARRAY ARRAY['kpi_daily', 'kpi_daily_rollup', 'kpi_weekly', 'kpi_monthly',
                             'kpi_rolling'] LOOP
        FOR c IN SELECT * FROM (VALUES
            ('unit_id', CASE WHEN v = 'kpi_daily'
                THEN 'Unit id as sent by the source system (the unit of the appointment, journal entry or audit event).'
                ELSE 'Unit id: the unit the events named, or a unit above it in the unit registry (then figures are summed over all units below it and itself).' END),
            ('kpi', 'KPI name: no_show_rate, no_show_rate_self_booked, no_show_rate_staff_booked (share of attended or missed appointments that were missed; self-booked = booked through the portal), self_booking_share (share of appointments booked through the portal), double_documentation_share (share of journal entries that duplicate an entry of the same patient, type and content within the window), double_documentation_minutes (minutes spent on duplicate entries), ehr_active_minutes (active EHR minutes per user), documentation_minutes (active documentation minutes per user).'),
            ('numerator', 'Counted events over the period (e.g. no-shows, portal bookings, duplicate entries). For the minute KPIs (ehr_active_minutes, documentation_minutes, double_documentation_minutes): minutes, with fractions.'),
            ('denominator', 'What the numerator is counted against over the period: appointments, journal entries, duplicate entries (double_documentation_minutes) or user-days (minute-per-user KPIs: distinct users per day, summed over the days). Always above 0.'),
            ('value', 'The KPI: numerator / denominator, a ratio of sums over the whole period (never an average of daily ratios); for ehr_active_minutes and documentation_minutes minutes per user-day. For double_documentation_minutes, a sum KPI: value = numerator (total minutes).')
        ) AS t (col, txt) LOOP
            EXECUTE format('COMMENT ON COLUMN gevinst.%I.%I IS %L', v, c.col, c.txt);
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON COLUMN gevinst.kpi_daily.day IS
    'Local calendar day (time zone kpi.timezone, default Europe/Oslo) of the event that counts: appointment start, booking time (self_booking_share), journal entry time, or the earlier audit event of an active gap.';
COMMENT ON COLUMN gevinst.kpi_daily_rollup.day IS
    'Local calendar day (time zone kpi.timezone, default Europe/Oslo) of the event that counts: appointment start, booking time (self_booking_share), journal entry time, or the earlier audit event of an active gap.';
COMMENT ON COLUMN gevinst.kpi_weekly.week_start IS
    'Monday that starts the ISO week (Monday to Sunday, local days in kpi.timezone). A week across New Year belongs to the year of its Monday here (2024-12-30 for 2024-12-30..2025-01-05).';
COMMENT ON COLUMN gevinst.kpi_monthly.month_start IS
    'First day of the calendar month (local days in kpi.timezone).';
COMMENT ON COLUMN gevinst.kpi_rolling.day IS
    'Last local day (kpi.timezone) of the window; only days with data for this unit and KPI have a row.';
COMMENT ON COLUMN gevinst.kpi_rolling.window_days IS
    'Window length in days: 7 (day-6 to day) or 28 (day-27 to day), both ends included; days without data count nothing.';

-- Dashboards: the same views with small cells suppressed. The reader role has
-- rights on this schema only; these views run with their owner's rights.
--
-- security_barrier: the suppression masks columns, but the views below filter
-- rows (den > 0, outcome <> 'accepted', units not in the registry). Without a
-- barrier the planner may push a reader's WHERE clause into them, and a cheap
-- leaky function of the reader's (CREATE FUNCTION in pg_temp needs no grant)
-- would then see hidden rows, e.g. accepted-event counts or exact figures of
-- retracted buckets. With it only leakproof operators (=, < on text, dates)
-- are pushed down, which keeps unit/KPI/day filters fast.
CREATE SCHEMA gevinst_dash;
COMMENT ON SCHEMA gevinst_dash IS
    'Dashboard views: the public views of schema gevinst with small cells suppressed (numerator and value null where the denominator is below privacy.min_cell_size, default 5).';

-- The minimum cell size as the views apply it: the daemon's setting, or the
-- contract default 5 when it is absent or not a whole number (suppress rather
-- than fail or show everything).
CREATE VIEW gevinst.dash_min_cell_size AS
SELECT COALESCE((SELECT CASE WHEN s.value ~ '^[0-9]{1,18}$' THEN s.value::bigint END
                 FROM gevinst.setting s WHERE s.key = 'min_cell_size'), 5) AS min_cell_size;
COMMENT ON VIEW gevinst.dash_min_cell_size IS
    'Internal: the minimum denominator gevinst_dash shows figures for (setting min_cell_size; 5 when absent or invalid).';
COMMENT ON COLUMN gevinst.dash_min_cell_size.min_cell_size IS
    'Rows with a smaller denominator show null numerator and value in gevinst_dash.';

CREATE VIEW gevinst_dash.kpi_daily WITH (security_barrier) AS
SELECT d.unit_id, d.kpi, d.day,
       CASE WHEN d.denominator >= m.min_cell_size THEN d.numerator END AS numerator,
       d.denominator,
       CASE WHEN d.denominator >= m.min_cell_size THEN d.value END AS value
FROM gevinst.kpi_daily d CROSS JOIN gevinst.dash_min_cell_size m;

CREATE VIEW gevinst_dash.kpi_daily_rollup WITH (security_barrier) AS
SELECT d.unit_id, d.kpi, d.day,
       CASE WHEN d.denominator >= m.min_cell_size THEN d.numerator END AS numerator,
       d.denominator,
       CASE WHEN d.denominator >= m.min_cell_size THEN d.value END AS value
FROM gevinst.kpi_daily_rollup d CROSS JOIN gevinst.dash_min_cell_size m;

CREATE VIEW gevinst_dash.kpi_weekly WITH (security_barrier) AS
SELECT d.unit_id, d.kpi, d.week_start,
       CASE WHEN d.denominator >= m.min_cell_size THEN d.numerator END AS numerator,
       d.denominator,
       CASE WHEN d.denominator >= m.min_cell_size THEN d.value END AS value
FROM gevinst.kpi_weekly d CROSS JOIN gevinst.dash_min_cell_size m;

CREATE VIEW gevinst_dash.kpi_monthly WITH (security_barrier) AS
SELECT d.unit_id, d.kpi, d.month_start,
       CASE WHEN d.denominator >= m.min_cell_size THEN d.numerator END AS numerator,
       d.denominator,
       CASE WHEN d.denominator >= m.min_cell_size THEN d.value END AS value
FROM gevinst.kpi_monthly d CROSS JOIN gevinst.dash_min_cell_size m;

CREATE VIEW gevinst_dash.kpi_rolling WITH (security_barrier) AS
SELECT d.unit_id, d.kpi, d.day, d.window_days,
       CASE WHEN d.denominator >= m.min_cell_size THEN d.numerator END AS numerator,
       d.denominator,
       CASE WHEN d.denominator >= m.min_cell_size THEN d.value END AS value
FROM gevinst.kpi_rolling d CROSS JOIN gevinst.dash_min_cell_size m;

-- No denominator, nothing to suppress: event counts per day and reason, and
-- unit ids with event counts, hold no patient-level figures.
CREATE VIEW gevinst_dash.data_quality_daily WITH (security_barrier) AS
SELECT day, topic, reason, events FROM gevinst.data_quality_daily;

CREATE VIEW gevinst_dash.unknown_units WITH (security_barrier) AS
SELECT unit_id, first_seen, events FROM gevinst.unknown_units;

COMMENT ON VIEW gevinst_dash.kpi_daily IS
    'gevinst.kpi_daily with small cells suppressed: KPIs per unit named by the events, KPI and local day. Where the denominator is below the minimum cell size (privacy.min_cell_size, default 5), numerator and value are null; the denominator is always shown.';
COMMENT ON VIEW gevinst_dash.kpi_daily_rollup IS
    'gevinst.kpi_daily_rollup with small cells suppressed: kpi_daily plus every unit above it in the unit registry, summed (value = ratio of the sums). Where the denominator is below the minimum cell size (privacy.min_cell_size, default 5), numerator and value are null; the denominator is always shown.';
COMMENT ON VIEW gevinst_dash.kpi_weekly IS
    'gevinst.kpi_weekly with small cells suppressed: KPIs per unit (with registry rollup) and ISO week starting Monday. Where the week''s denominator is below the minimum cell size (privacy.min_cell_size, default 5), numerator and value are null; the denominator is always shown.';
COMMENT ON VIEW gevinst_dash.kpi_monthly IS
    'gevinst.kpi_monthly with small cells suppressed: KPIs per unit (with registry rollup) and calendar month. Where the month''s denominator is below the minimum cell size (privacy.min_cell_size, default 5), numerator and value are null; the denominator is always shown.';
COMMENT ON VIEW gevinst_dash.kpi_rolling IS
    'gevinst.kpi_rolling with small cells suppressed: trailing 7- and 28-day KPIs per unit (with registry rollup). Where the window''s denominator is below the minimum cell size (privacy.min_cell_size, default 5), numerator and value are null; the denominator is always shown.';
COMMENT ON VIEW gevinst_dash.data_quality_daily IS
    'Same as gevinst.data_quality_daily (rejected and skipped events per local day of receipt, topic and reason). Not suppressed: it has no denominator and counts events, not patients.';
COMMENT ON VIEW gevinst_dash.unknown_units IS
    'Same as gevinst.unknown_units (unit ids seen in events but absent from the unit registry). Not suppressed: it has no denominator and counts events, not patients.';

-- Column comments: those of the gevinst view, plus the suppression rule on
-- numerator and value.
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
    LOOP
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', c.dash_view, c.attname,
                       c.txt || CASE WHEN c.attname IN ('numerator', 'value')
                                     THEN ' Null where the denominator is below the minimum cell size (privacy.min_cell_size, default 5).'
                                     ELSE '' END);
    END LOOP;
END
$$;
