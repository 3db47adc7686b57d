-- The period whose rows hold a tenant's latest answer to a snapshot query,
-- empty answers included: an unchanged tenant carries exactly those rows
-- (none, when its latest answer was no rows), never older ones. NULL for
-- state written before it was kept. Statements end with ';' at the end of
-- a line.
ALTER TABLE rollup_state ADD COLUMN bucket TEXT;
