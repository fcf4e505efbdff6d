-- Event-time clocks, and the alert outbox (goals.md).

-- The latest accepted event time per source role: the clock that closes
-- periods (goals.md "Periods and the clock") and times data.silence.
CREATE TABLE gevinst.event_clock (
    role     text        PRIMARY KEY CHECK (role IN ('appointments', 'journal', 'audit')),
    max_time timestamptz NOT NULL
);
COMMENT ON TABLE gevinst.event_clock IS
    'Internal: the latest accepted event time (CloudEvents time) per source role.';

-- The latest accepted event time per unit and role, for data.silence.
CREATE TABLE gevinst.unit_role_clock (
    unit_id    text        NOT NULL,
    role       text        NOT NULL CHECK (role IN ('appointments', 'journal', 'audit')),
    first_time timestamptz NOT NULL,
    last_time  timestamptz NOT NULL,
    PRIMARY KEY (unit_id, role)
);
COMMENT ON TABLE gevinst.unit_role_clock IS
    'Internal: the first and latest accepted event time per unit and source role.';

-- One row per alert, keyed by (goal, kind, period) for goal alerts and by
-- (unit, kind, period) for data alerts. Rows are never deleted: an alert whose
-- grounds disappear becomes withdrawn. Each change of state bumps revision, so
-- receivers can drop duplicates with (alert_id, revision).
CREATE TABLE gevinst.alert_state (
    alert_id     bigserial        PRIMARY KEY,
    goal_id      text,            -- null for data alerts
    unit_id      text             NOT NULL,
    kpi          text,            -- null for data alerts
    kind         text             NOT NULL CHECK (kind IN ('goal.off_track', 'goal.achieved',
                     'kpi.special_cause', 'kpi.improvement', 'data.silence', 'data.rejections')),
    period_start date             NOT NULL,
    period_end   date             NOT NULL,
    state        text             NOT NULL CHECK (state IN ('firing', 'resolved', 'notice', 'withdrawn')),
    actual       double precision,
    expected     double precision, -- planned value (off_track, achieved) or center (SPC kinds)
    detail       jsonb            NOT NULL DEFAULT '{}',
    revision     integer          NOT NULL DEFAULT 1,
    created_at   timestamptz      NOT NULL DEFAULT now(),
    updated_at   timestamptz      NOT NULL DEFAULT now(),
    -- A key for upserts; for data alerts goal_id is '' in the key.
    alert_key    text             NOT NULL UNIQUE
);
CREATE INDEX alert_state_goal ON gevinst.alert_state (goal_id, kind);

-- Delivery attempts per alert revision, channel and target. Written in the
-- same transaction as the alert change (the outbox); the deliverer works
-- through the pending rows. Status: pending, delivered, failed (gave up),
-- suppressed (the period ended longer ago than alerts.max_age_days).
CREATE TABLE gevinst.alert_outbox (
    alert_id        bigint      NOT NULL REFERENCES gevinst.alert_state (alert_id),
    revision        integer     NOT NULL,
    channel         text        NOT NULL CHECK (channel IN ('email', 'webhook', 'kafka')),
    target          text        NOT NULL, -- e-mail address, URL or topic
    status          text        NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'suppressed')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, revision, channel, target)
);
CREATE INDEX alert_outbox_pending ON gevinst.alert_outbox (next_attempt_at)
    WHERE status = 'pending';

COMMENT ON TABLE gevinst.alert_state IS
    'Internal: every alert with its revision and upsert key; read the alert view.';
COMMENT ON TABLE gevinst.alert_outbox IS
    'Internal: deliveries per alert revision, channel and target, with the next attempt time; read the alert_delivery view.';

CREATE VIEW gevinst.alert AS
SELECT alert_id, goal_id, unit_id, kpi, kind, period_start, period_end, state, actual,
       expected, detail, created_at, updated_at
FROM gevinst.alert_state;

CREATE VIEW gevinst.alert_delivery AS
SELECT alert_id, channel, target, status, attempts, last_error, delivered_at
FROM gevinst.alert_outbox;

COMMENT ON VIEW gevinst.alert IS
    'Alerts to benefit owners and the data team (goals.md). One row per (goal or unit, kind, period); never deleted: state withdrawn when later data removed its grounds. revision grows with every change of state.';
COMMENT ON COLUMN gevinst.alert.alert_id IS 'Stable id of the alert; with revision it lets receivers drop duplicates.';
COMMENT ON COLUMN gevinst.alert.goal_id IS 'The goal (null for data alerts).';
COMMENT ON COLUMN gevinst.alert.unit_id IS 'The unit of the goal, or the unit concerned by a data alert.';
COMMENT ON COLUMN gevinst.alert.kpi IS 'The KPI of the goal (null for data alerts).';
COMMENT ON COLUMN gevinst.alert.kind IS 'goal.off_track, goal.achieved, kpi.special_cause, kpi.improvement, data.silence or data.rejections.';
COMMENT ON COLUMN gevinst.alert.period_start IS 'First day of the period the alert is keyed by (local calendar).';
COMMENT ON COLUMN gevinst.alert.period_end IS 'Last day of that period.';
COMMENT ON COLUMN gevinst.alert.state IS 'firing, resolved, notice (goal.achieved) or withdrawn.';
COMMENT ON COLUMN gevinst.alert.actual IS 'The KPI value of the period that keyed the alert.';
COMMENT ON COLUMN gevinst.alert.expected IS 'What it was judged against: the planned value (goal.*) or the baseline center (kpi.*).';
COMMENT ON COLUMN gevinst.alert.detail IS 'Rule, limits, run length, benefit so far and other context, as JSON.';
COMMENT ON COLUMN gevinst.alert.created_at IS 'When the alert was first raised.';
COMMENT ON COLUMN gevinst.alert.updated_at IS 'When it last changed.';
COMMENT ON VIEW gevinst.alert_delivery IS
    'Delivery of each alert revision per channel and target: pending, delivered, failed or suppressed, with attempts and the last error.';
COMMENT ON COLUMN gevinst.alert_delivery.alert_id IS 'The alert delivered (one row per revision sent: firing, resolution, withdrawal).';
COMMENT ON COLUMN gevinst.alert_delivery.channel IS 'email, webhook or kafka.';
COMMENT ON COLUMN gevinst.alert_delivery.target IS 'E-mail address, webhook URL or Kafka topic.';
COMMENT ON COLUMN gevinst.alert_delivery.status IS 'pending, delivered, failed (gave up after retries) or suppressed (period too old: recorded, not sent).';
COMMENT ON COLUMN gevinst.alert_delivery.attempts IS 'Attempts made so far.';
COMMENT ON COLUMN gevinst.alert_delivery.last_error IS 'Error of the last failed attempt, if any.';
COMMENT ON COLUMN gevinst.alert_delivery.delivered_at IS 'When it was delivered.';
