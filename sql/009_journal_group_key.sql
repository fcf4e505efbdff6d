-- The windows of journal_entry by a 64-bit group key instead of the 32-byte
-- grp: gk is the first 8 bytes of grp (big-endian, signed), so the index
-- compares integers instead of bytea and is less than half the size. Two
-- groups that share a gk stay apart because the windows compare grp too.
-- PostgreSQL computes gk, so whatever writes grp gets it right. (<< and |
-- share one precedence, left to right: hence the parentheses.)
ALTER TABLE gevinst.journal_entry ADD COLUMN gk bigint GENERATED ALWAYS AS (
    (get_byte(grp, 0)::bigint << 56) | (get_byte(grp, 1)::bigint << 48) |
    (get_byte(grp, 2)::bigint << 40) | (get_byte(grp, 3)::bigint << 32) |
    (get_byte(grp, 4)::bigint << 24) | (get_byte(grp, 5)::bigint << 16) |
    (get_byte(grp, 6)::bigint << 8) | get_byte(grp, 7)::bigint) STORED;
-- The windows a flush reads: alive entries of a group by time.
CREATE INDEX journal_entry_gk_t ON gevinst.journal_entry (gk, t) WHERE NOT erased;
DROP INDEX gevinst.journal_entry_grp_t;

COMMENT ON COLUMN gevinst.journal_entry.gk IS
    'Internal: the first 8 bytes of grp as a bigint, for the window index journal_entry_gk_t.';
