-- The period a snapshot query's last merge left every unchanged tenant's
-- latest answer in: when a run's period is the same, carrying answers
-- forward has nothing to do and is skipped (it scanned every tenant's
-- state and rows: a quarter of a rerun's merge at 100,000 tenants). NULL
-- when some tenant's answer may lag (a tenant missing in that run, or
-- state from before it was kept), so the next run carries. Statements
-- end with ';' at the end of a line.
ALTER TABLE rollups ADD COLUMN carried_bucket TEXT;
