-- Free room on every appt_state page, so that a newer snapshot replacing an
-- appointment's row can be a HOT update: the new row version stays on its
-- page and the primary key (appt, never updated) gets no new entry. Pages
-- packed full by the inserts force every update onto another page instead.
-- Applies to pages written from now on; pages written before keep filling
-- as they are until the table is rewritten (VACUUM FULL, outside the daemon).
ALTER TABLE gevinst.appt_state SET (fillfactor = 85);
