-- The audit trail: who signed in, who read customer data and how, what was
-- sent where. Append-only: rows are never updated; they are deleted only by
-- retention pruning (audit.retention), never younger than a day.
CREATE TABLE audit (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  at      TEXT NOT NULL,             -- UTC, metrics.TimeFormat
  actor   TEXT NOT NULL,             -- user name, "cli", "scheduler", "share:<id>"
  action  TEXT NOT NULL,             -- signin, signin.failed, query, export, run, digest, share.create, share.use, ...
  target  TEXT NOT NULL DEFAULT '',  -- report, job, digest, link, or what the action was about
  detail  TEXT NOT NULL DEFAULT '',  -- SQL of a query, recipients of a digest, a reason
  tenants TEXT NOT NULL DEFAULT '',  -- which tenants were read ("all", or ids)
  nrows   INTEGER,                   -- rows returned, when the action returns rows
  remote  TEXT NOT NULL DEFAULT '',  -- client address for web actions
  ok      INTEGER NOT NULL DEFAULT 1 -- 0: the action was refused or failed
);
CREATE INDEX audit_at ON audit(at);
CREATE INDEX audit_actor ON audit(actor, at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_young_rows BEFORE DELETE ON audit WHEN julianday(old.at) > julianday('now', '-1 day') BEGIN SELECT RAISE(ABORT, 'audit entries younger than a day are kept'); END;
