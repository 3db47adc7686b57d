-- Share links: read-only links to one report for people without an account
-- (investors). Only a hash of each link's token is kept, so this table (which
-- report SQL can read) never holds a working link. Views are recorded in the
-- audit table (action share.use, actor share:<id>).
CREATE TABLE shares (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  token_hash    TEXT NOT NULL UNIQUE,   -- hex SHA-256 of the token in the link
  report        TEXT NOT NULL,
  shared_with   TEXT NOT NULL,          -- who the link is for, shown on its page
  audience      TEXT NOT NULL,          -- aggregate | full (see privacy: in the config)
  password_hash TEXT NOT NULL DEFAULT '', -- bcrypt; '' when the link has no password
  created_by    TEXT NOT NULL,
  created_at    TEXT NOT NULL,          -- UTC
  expires_at    TEXT NOT NULL,          -- UTC; refused from this instant on
  revoked_at    TEXT,                   -- UTC; refused from this instant on
  revoked_by    TEXT
);
CREATE INDEX shares_created ON shares(created_at);
