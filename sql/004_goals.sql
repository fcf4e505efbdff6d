-- The goals file's owners and goal definitions (goals.md), beside the unit
-- registry of 001. The daemon replaces all three on every successful load of
-- the goals file (goals_sync: upsert what is in the file, delete what is not),
-- so they always mirror the file in force. The public views goal, goal_status,
-- benefit_realized and alert are built on these tables by a later migration.
--
-- Foreign keys are DEFERRABLE INITIALLY DEFERRED like unit.parent_id: a
-- reload checks them once, at commit, whatever order the rows are written in.
-- Tables that point at goal_def must expect goals to disappear when they are
-- removed from the file (ON DELETE CASCADE, or no foreign key).

COMMENT ON TABLE gevinst.unit IS
    'Internal: the unit registry, the "units" of the goals file, replaced on every load. Read unit_ancestor or the KPI views instead.';

CREATE TABLE gevinst.owner (
    owner_id text PRIMARY KEY,
    name     text NOT NULL,
    email    text,
    webhook  text
);
COMMENT ON TABLE gevinst.owner IS
    'Internal: benefit owners, the "owners" of the goals file, replaced on every load. email and webhook are null when the file gives none.';

CREATE TABLE gevinst.goal_def (
    goal_id          text             PRIMARY KEY,
    unit_id          text             NOT NULL
                     REFERENCES gevinst.unit (unit_id) DEFERRABLE INITIALLY DEFERRED,
    kpi              text             NOT NULL CHECK (kpi IN ('no_show_rate',
                         'no_show_rate_self_booked', 'no_show_rate_staff_booked',
                         'self_booking_share', 'double_documentation_share',
                         'double_documentation_minutes', 'ehr_active_minutes',
                         'documentation_minutes')),
    direction        text             NOT NULL CHECK (direction IN ('decrease', 'increase')),
    period           text             NOT NULL DEFAULT 'month' CHECK (period IN ('week', 'month')),
    -- Baseline from data over [baseline_from, baseline_to] (baseline_value
    -- null), or a known baseline_value referring to baseline_to (baseline_from null).
    baseline_from    date,
    baseline_to      date             NOT NULL,
    baseline_value   double precision,
    target_value     double precision NOT NULL,
    target_date      date             NOT NULL,
    tolerance        double precision CHECK (tolerance >= 0),  -- null: 10% of abs(target - center)
    consecutive      integer          NOT NULL DEFAULT 3 CHECK (consecutive >= 1),
    owner_id         text             NOT NULL
                     REFERENCES gevinst.owner (owner_id) DEFERRABLE INITIALLY DEFERRED,
    benefit_type     text             CHECK (benefit_type IN ('time_saved', 'avoided_cost', 'quality')),
    minutes_per_unit double precision CHECK (minutes_per_unit >= 0),
    nok_per_unit     double precision CHECK (nok_per_unit >= 0),
    nok_per_hour     double precision CHECK (nok_per_hour >= 0),
    updated_at       timestamptz      NOT NULL DEFAULT now(),
    CHECK ((baseline_from IS NULL) <> (baseline_value IS NULL)),
    CHECK (baseline_from IS NULL OR baseline_from <= baseline_to),
    CHECK (target_date > baseline_to)
);
CREATE INDEX goal_def_unit ON gevinst.goal_def (unit_id);
CREATE INDEX goal_def_owner ON gevinst.goal_def (owner_id);

COMMENT ON TABLE gevinst.goal_def IS
    'Internal: benefit goals as written in the goals file (no center: that comes from data), replaced on every load. updated_at changes only when a goal''s definition changes. Read the goal view instead.';
COMMENT ON COLUMN gevinst.goal_def.baseline_from IS 'First day of the baseline computed from data; null when baseline_value is given.';
COMMENT ON COLUMN gevinst.goal_def.baseline_value IS 'Known baseline value from the file; null when the baseline is computed from data.';
COMMENT ON COLUMN gevinst.goal_def.tolerance IS 'Tolerance in KPI units from the file; null: the default, 10% of abs(target_value - center).';
COMMENT ON COLUMN gevinst.goal_def.consecutive IS 'Points behind plan in a row before goal.off_track (default 3).';
COMMENT ON COLUMN gevinst.goal_def.updated_at IS 'When this definition was first written or last changed by a reload.';
