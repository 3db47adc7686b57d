-- Statements end with ';' at the end of a line.
-- The period a snapshot query's last merge left every unchanged tenant's
-- latest answer in, with that merge's run ("2026-12-03@41": a merge that
-- does not keep it moves rollups.last_run_id on, which voids it): when a
-- run's period is the same, carrying answers forward has nothing to do
-- and is skipped (it scanned every tenant's state and rows: a quarter of
-- a rerun's merge at 100,000 tenants). NULL when some tenant's answer may
-- lag (a tenant missing in that run, or state from before it was kept),
-- so the next run carries.
ALTER TABLE rollups ADD COLUMN carried_bucket TEXT;
-- The state rows that hold an error, few in a healthy fleet: a rerun
-- carries the lasting errors of its unchanged tenants from these instead
-- of looking at every tenant's state (0.1 s of a 100,000-tenant rerun).
CREATE INDEX rollup_state_errors ON rollup_state (tenant_id, query) WHERE error IS NOT NULL AND error <> '';
