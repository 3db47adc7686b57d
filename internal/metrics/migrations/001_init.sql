-- The metrics DB contract: the dashboard, exports, digests and other tools
-- read these tables. Statements end with ';' at the end of a line.

CREATE TABLE runs (
  id                INTEGER PRIMARY KEY,
  job               TEXT NOT NULL,
  started_at        TEXT NOT NULL,
  finished_at       TEXT,
  status            TEXT NOT NULL,             -- running | ok | failed | interrupted
  tenants_total     INTEGER NOT NULL DEFAULT 0,
  tenants_ok        INTEGER NOT NULL DEFAULT 0,
  tenants_failed    INTEGER NOT NULL DEFAULT 0,
  tenants_unchanged INTEGER NOT NULL DEFAULT 0,
  rows_written      INTEGER NOT NULL DEFAULT 0,
  queries           TEXT NOT NULL DEFAULT '',  -- comma-separated query names
  full              INTEGER NOT NULL DEFAULT 0,
  error             TEXT NOT NULL DEFAULT '',
  pid               INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_job ON runs(job, id);

CREATE TABLE tenant_errors (
  run_id    INTEGER NOT NULL,
  tenant_id TEXT NOT NULL,
  query     TEXT NOT NULL,
  error     TEXT NOT NULL
);
CREATE INDEX tenant_errors_run ON tenant_errors(run_id);
CREATE INDEX tenant_errors_tenant ON tenant_errors(tenant_id, run_id);

CREATE TABLE tenants (
  id          TEXT PRIMARY KEY,
  location    TEXT NOT NULL,
  size_bytes  INTEGER NOT NULL DEFAULT 0,
  modified_at TEXT,
  first_seen  TEXT NOT NULL,
  last_seen   TEXT NOT NULL,
  last_ok_at  TEXT,
  last_error  TEXT NOT NULL DEFAULT ''
);

-- What each rollup table holds, so readers need not guess.
CREATE TABLE rollups (
  name        TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  mode        TEXT NOT NULL,
  grain       TEXT NOT NULL,
  columns     TEXT NOT NULL,   -- JSON array of the query's result columns
  sql_hash    TEXT NOT NULL,
  last_run_id INTEGER
);

-- Incremental bookkeeping: the tenant file state at its last read of each
-- query, and the error if that read failed for a reason that will not go
-- away by itself (a schema that lags, a corrupt file). A tenant is read
-- again when its file or the query changes.
CREATE TABLE rollup_state (
  tenant_id   TEXT NOT NULL,
  query       TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  sql_hash    TEXT NOT NULL,
  run_id      INTEGER NOT NULL,
  error       TEXT,
  PRIMARY KEY (tenant_id, query)
) WITHOUT ROWID;

-- Findings of the last `attache check`: which tenants cannot run which query.
CREATE TABLE check_findings (
  checked_at TEXT NOT NULL,
  tenant_id  TEXT NOT NULL,
  query      TEXT NOT NULL,
  error      TEXT NOT NULL
);
