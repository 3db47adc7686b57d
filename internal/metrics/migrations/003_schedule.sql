-- The scheduler's and the digests' records, so nothing they do (or fail to
-- do) is only in a log. Statements end with ';' at the end of a line.

-- What each tick of a scheduled job or digest came to, including what the
-- runs table cannot say: ticks skipped because the job was still running or
-- another run held the lock, failures before a run started, panics, digests
-- held back.
CREATE TABLE job_events (
  id      INTEGER PRIMARY KEY,
  name    TEXT NOT NULL,               -- the job's or digest's name
  kind    TEXT NOT NULL,               -- job | digest
  at      TEXT NOT NULL,
  via     TEXT NOT NULL,               -- schedule | manual
  event   TEXT NOT NULL,               -- ok | failed | skipped | panic | held
  run_id  INTEGER,                     -- the run it made or carried, if any
  detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX job_events_name ON job_events(kind, name, id);

-- Every attempt to send a digest, and every digest held back instead of
-- sent, so an email never disappears silently.
CREATE TABLE digest_attempts (
  id         INTEGER PRIMARY KEY,
  delivery   TEXT NOT NULL,            -- groups the attempts of one send
  digest     TEXT NOT NULL,
  recipients TEXT NOT NULL,            -- comma-separated
  at         TEXT NOT NULL,
  attempt    INTEGER NOT NULL,         -- 1, 2, ...; 0 when held or not built
  outcome    TEXT NOT NULL,            -- sent | retry | failed | held
  error      TEXT NOT NULL DEFAULT '',
  run_id     INTEGER                   -- the run whose data the digest carried
);
CREATE INDEX digest_attempts_digest ON digest_attempts(digest, id);
CREATE INDEX digest_attempts_outcome ON digest_attempts(outcome, id);

-- The numbers a sent digest showed, so the next one can say how they changed.
CREATE TABLE digest_values (
  digest  TEXT NOT NULL,
  sent_at TEXT NOT NULL,
  panel   TEXT NOT NULL,
  value   REAL NOT NULL,
  PRIMARY KEY (digest, sent_at, panel)
);
