-- description: Recent engagement per tenant: events and active members over the last 7 and 30 days, days since the last event
-- mode: snapshot
-- grain: day
SELECT
  -- Instants are compared as instants (julianday), never as text: a time
  -- stored with an offset ('2026-06-17T01:00:00+02:00') is 16 June in UTC.
  -- The text bound a day wider uses the activity(at) index, so only recent
  -- rows are read; it keeps every row the exact test can keep, since an
  -- offset moves a local date by at most a day.
  (SELECT count(*) FROM tenant.activity WHERE at >= datetime('now', '-8 days') AND julianday(at) >= julianday('now', '-7 days')) AS events_7d,
  (SELECT count(DISTINCT member_id) FROM tenant.activity WHERE at >= datetime('now', '-8 days') AND julianday(at) >= julianday('now', '-7 days')) AS active_members_7d,
  (SELECT count(*) FROM tenant.activity WHERE at >= datetime('now', '-31 days') AND julianday(at) >= julianday('now', '-30 days')) AS events_30d,
  (SELECT count(DISTINCT member_id) FROM tenant.activity WHERE at >= datetime('now', '-31 days') AND julianday(at) >= julianday('now', '-30 days')) AS active_members_30d,
  -- The latest instant is within two local days of the latest text.
  CAST(julianday('now') - (SELECT max(julianday(at)) FROM tenant.activity
    WHERE at >= (SELECT date(substr(max(at), 1, 10), '-2 days') FROM tenant.activity)) AS INTEGER) AS days_since_last_event
