-- Intake: consumer positions, rejected events, per-day intake counts, units seen.
-- Internal tables live in schema gevinst beside the public views; dashboards
-- read gevinst_dash through the reader role and never see these tables.

-- Next offset to read per partition, advanced in the same transaction as the
-- results of the events before it: this is what makes processing exactly once.
CREATE TABLE gevinst.consumer_offset (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- Offsets Kafka deleted (retention) before they were consumed: lost data.
CREATE TABLE gevinst.offset_gap (
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    first_offset bigint      NOT NULL,
    last_offset  bigint      NOT NULL,
    detected_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, first_offset)
);

CREATE TABLE gevinst.rejected_event (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    batch_index integer     NOT NULL DEFAULT 0,  -- element of a batch message; 0 single; -1 whole message
    reason      text        NOT NULL CHECK (reason IN ('too_large', 'invalid_json',
                    'not_cloudevent', 'unsupported_type', 'missing_field', 'invalid_field',
                    'type_status_mismatch', 'late_event')),
    detail      text        NOT NULL,
    event_id    text,                            -- CloudEvents id when readable
    received_at timestamptz NOT NULL DEFAULT now(),
    day         date        NOT NULL,            -- local day of receipt
    payload     text,                            -- only with privacy.store_rejected_payload
    PRIMARY KEY (topic, partition, "offset", batch_index)
);
CREATE INDEX rejected_event_day ON gevinst.rejected_event (day, topic, reason);

-- Events received per local day of receipt, topic and outcome ('accepted' or
-- a rejection reason). Counts only grow, in the transaction that advances the
-- offsets, so they are exact.
CREATE TABLE gevinst.intake_daily (
    day     date   NOT NULL,
    topic   text   NOT NULL,
    outcome text   NOT NULL,
    events  bigint NOT NULL,
    PRIMARY KEY (day, topic, outcome)
);

-- Every unit id seen in an accepted event.
CREATE TABLE gevinst.unit_seen (
    unit_id    text        PRIMARY KEY,
    first_seen timestamptz NOT NULL,
    events     bigint      NOT NULL
);

-- The unit registry (the goals file's units), replaced on every load.
CREATE TABLE gevinst.unit (
    unit_id   text PRIMARY KEY,
    name      text NOT NULL,
    parent_id text REFERENCES gevinst.unit (unit_id) DEFERRABLE INITIALLY DEFERRED
);

CREATE VIEW gevinst.data_quality_daily AS
SELECT day, topic, outcome AS reason, events
FROM gevinst.intake_daily
WHERE outcome <> 'accepted';

CREATE VIEW gevinst.unknown_units AS
SELECT s.unit_id, s.first_seen, s.events
FROM gevinst.unit_seen s
WHERE NOT EXISTS (SELECT 1 FROM gevinst.unit u WHERE u.unit_id = s.unit_id);

COMMENT ON VIEW gevinst.data_quality_daily IS
    'Rejected and skipped events per local day of receipt, topic and reason (events.md reasons).';
COMMENT ON COLUMN gevinst.data_quality_daily.day IS 'Local calendar day (kpi.timezone) the daemon received the events.';
COMMENT ON COLUMN gevinst.data_quality_daily.topic IS 'Kafka topic the events came from.';
COMMENT ON COLUMN gevinst.data_quality_daily.reason IS 'Rejection reason: too_large, invalid_json, not_cloudevent, unsupported_type, missing_field, invalid_field, type_status_mismatch, late_event.';
COMMENT ON COLUMN gevinst.data_quality_daily.events IS 'Number of events (batch elements count one each).';
COMMENT ON VIEW gevinst.unknown_units IS
    'Unit ids seen in accepted events but absent from the unit registry (goals file units). The events are processed; fix the registry.';
COMMENT ON COLUMN gevinst.unknown_units.unit_id IS 'Unit id as sent by the source system.';
COMMENT ON COLUMN gevinst.unknown_units.first_seen IS 'When the daemon first accepted an event for this unit.';
COMMENT ON COLUMN gevinst.unknown_units.events IS 'Accepted events for this unit so far.';

CREATE VIEW gevinst.data_loss AS
SELECT topic, partition, first_offset, last_offset,
       last_offset - first_offset + 1 AS messages_lost, detected_at
FROM gevinst.offset_gap;

COMMENT ON VIEW gevinst.data_loss IS
    'Kafka messages deleted (retention) before the daemon consumed them: never counted in any KPI. Each row is one gap in one partition.';
COMMENT ON COLUMN gevinst.data_loss.topic IS 'Kafka topic.';
COMMENT ON COLUMN gevinst.data_loss.partition IS 'Kafka partition.';
COMMENT ON COLUMN gevinst.data_loss.first_offset IS 'First offset lost.';
COMMENT ON COLUMN gevinst.data_loss.last_offset IS 'Last offset lost.';
COMMENT ON COLUMN gevinst.data_loss.messages_lost IS 'Number of offsets in the gap (messages lost, at most).';
COMMENT ON COLUMN gevinst.data_loss.detected_at IS 'When the daemon found the gap.';
