-- Journal entries as the double documentation KPIs need them. Keys are
-- pseudonyms (entry) and a SHA-256 of (patient pseudonym, item_type,
-- fingerprint) (grp): no clinical content and no identifier in clear.
-- An erased row is a tombstone of an entry entered in error: it stays, so a
-- recording that arrives after its entered-in-error event is ignored too.
CREATE TABLE gevinst.journal_entry (
    entry   bytea   PRIMARY KEY CHECK (length(entry) = 32),
    grp     bytea   CHECK (length(grp) = 32),  -- null for a tombstone never recorded
    t       bigint  NOT NULL,                  -- entry time, UTC microseconds
    o       bigint  NOT NULL,                  -- version: Kafka offset ...
    i       integer NOT NULL,                  -- ... and batch index
    unit_id text,
    dur_us  bigint  NOT NULL DEFAULT 0,        -- minutes spent, in microseconds
    dup     boolean NOT NULL DEFAULT false,    -- counted as a duplicate now
    erased  boolean NOT NULL DEFAULT false
);
-- The windows a flush reads: alive entries of a group by time.
CREATE INDEX journal_entry_grp_t ON gevinst.journal_entry (grp, t) WHERE NOT erased;

COMMENT ON TABLE gevinst.journal_entry IS
    'Internal: state of every journal entry for double documentation (pseudonymised keys). Rows older than the window plus the lateness bound could be pruned; see bench/README.md.';
