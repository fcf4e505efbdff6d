-- journal_entry's keys become 16-byte uuids, as appt_state's did in 011: the
-- entry is the first 16 bytes of its pseudonym, the group the first 16 bytes
-- of its SHA-256. Every flush inserts thousands of random entry keys and
-- probes as many group windows; uuid comparisons in the B-trees are direct
-- where bytea ones go through a detoasting function, and both indexes shrink.
-- Ties in time are still broken by the entry's pseudonym: its first 16 bytes
-- order as the whole does unless two entries share them (1e-21 for two of a
-- billion). Rewrites the table and rebuilds its indexes.
ALTER TABLE gevinst.journal_entry DROP CONSTRAINT journal_entry_entry_check;
ALTER TABLE gevinst.journal_entry DROP CONSTRAINT journal_entry_grp_check;
ALTER TABLE gevinst.journal_entry
    ALTER COLUMN entry TYPE uuid USING encode(substring(entry FROM 1 FOR 16), 'hex')::uuid,
    ALTER COLUMN grp TYPE uuid USING encode(substring(grp FROM 1 FOR 16), 'hex')::uuid;
