-- Server-side sessions. A cookie holds a random token; only its SHA-256 is
-- kept here, so a copy of this file never signs anyone in. Sign-out, "sign
-- out everywhere", a password change and removing the user all end a
-- session; the server sets the expiry, whatever the cookie says.
CREATE TABLE sessions (
  id         TEXT PRIMARY KEY,          -- hex sha256 of the cookie's token
  user       TEXT NOT NULL,
  tag        TEXT NOT NULL,             -- ties the session to the password it was made with
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  remote     TEXT NOT NULL DEFAULT '',
  revoked_at TEXT
);
CREATE INDEX sessions_user ON sessions(user);
-- The HMAC key of the signed cookies this replaces: with it and a password
-- hash from config.yaml a cookie could be forged.
DELETE FROM server_keys WHERE name = 'session';
