-- Audit (access log) state: per user (pseudonym) the version, the latest event
-- time and the events of the last (allowed lateness + idle timeout), as
-- "t tie doc len:unit" lines; and the (user, unit, day) triples already
-- counted in the denominator of the minute KPIs.
CREATE TABLE gevinst.audit_user (
    usr    bytea  PRIMARY KEY CHECK (length(usr) = 32),
    ver    bigint NOT NULL,
    max_t  bigint NOT NULL,
    recent text   NOT NULL
);

CREATE TABLE gevinst.audit_user_day (
    usr     bytea   NOT NULL,
    unit_id text    NOT NULL,
    day     integer NOT NULL,  -- local day, days since 1970-01-01
    PRIMARY KEY (usr, unit_id, day)
);

COMMENT ON TABLE gevinst.audit_user IS
    'Internal: per pseudonymised user, the recent audit events needed to place late arrivals.';
COMMENT ON TABLE gevinst.audit_user_day IS
    'Internal: users already counted per unit and local day (denominator of ehr_active_minutes and documentation_minutes). Days older than the allowed lateness can be pruned.';
