-- Remote tenants (Turso fleets) are read through embedded replicas. A run
-- counts a tenant whose sync failed but whose older replica was read as
-- stale: never fresh, never failed. Statements end with ';' at the end of a line.
ALTER TABLE runs ADD COLUMN tenants_stale INTEGER NOT NULL DEFAULT 0;

-- Where each tenant lives (local file or remote database) and, for a
-- remote one, its replica: bytes on disk, the last successful sync and the
-- last sync's error ('' when it worked). Tokens are never stored.
ALTER TABLE tenants ADD COLUMN kind TEXT NOT NULL DEFAULT 'local';
ALTER TABLE tenants ADD COLUMN replica_bytes INTEGER;
ALTER TABLE tenants ADD COLUMN last_sync_at TEXT;
ALTER TABLE tenants ADD COLUMN sync_error TEXT NOT NULL DEFAULT '';
