-- A running run's progress, written by its coordinator about once a
-- second, so the dashboard can say how far a long run is: its phase
-- (listing, reading, merging), tenants done of total, the rate so far in
-- tenants per second, the seconds left at that rate, and when these were
-- written (a stale stamp on a running run means its process died).
-- NULL for runs before it was kept. Statements end with ';' at the end of
-- a line.
ALTER TABLE runs ADD COLUMN progress_phase TEXT;
ALTER TABLE runs ADD COLUMN progress_done INTEGER;
ALTER TABLE runs ADD COLUMN progress_total INTEGER;
ALTER TABLE runs ADD COLUMN progress_rate REAL;
ALTER TABLE runs ADD COLUMN progress_left_s INTEGER;
ALTER TABLE runs ADD COLUMN progress_at TEXT;
