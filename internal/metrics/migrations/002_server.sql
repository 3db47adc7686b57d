-- The dashboard's own state. Statements end with ';' at the end of a line.

-- Secrets the server generates once and keeps, so signed sessions survive a
-- restart and every `attache serve` on this metrics DB agrees on them.
CREATE TABLE server_keys (
  name       TEXT PRIMARY KEY,
  value      TEXT NOT NULL,   -- hex
  created_at TEXT NOT NULL
);
