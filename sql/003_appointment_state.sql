-- The winning snapshot of every appointment, keyed by its pseudonym (32 bytes
-- of HMAC-SHA256), so a newer snapshot can take back the old one's
-- contributions whichever instance sees it, and after any restart.
-- (t, o, i) is the snapshot's version: event time (UTC microseconds), Kafka
-- offset and batch index; writers update a row only at the version they read.
CREATE TABLE gevinst.appt_state (
    appt       bytea    PRIMARY KEY CHECK (length(appt) = 32),
    t          bigint   NOT NULL,
    o          bigint   NOT NULL,
    i          integer  NOT NULL,
    unit_id    text     NOT NULL,
    start_day  integer  NOT NULL,  -- local day of start, days since 1970-01-01
    booked_day integer  NOT NULL,  -- local day of booked_at
    channel    smallint NOT NULL,  -- 0 portal, 1 staff, 2 phone, 3 other
    status     smallint NOT NULL   -- 0 booked, 1 cancelled, 2 arrived, 3 fulfilled, 4 noshow, 5 entered-in-error
);
