-- Queries a run could not run at all (a file that does not parse, SQL that
-- SQLite rejects, a table outside the tenant's schema); the run's other
-- queries ran. Statements end with ';' at the end of a line.
CREATE TABLE run_query_errors (
  run_id INTEGER NOT NULL,
  query  TEXT NOT NULL,
  file   TEXT NOT NULL,
  error  TEXT NOT NULL
);
CREATE INDEX run_query_errors_run ON run_query_errors(run_id);
