-- description: Recent engagement per tenant: events and active members over the last 7 and 30 days, days since the last event
-- mode: snapshot
-- grain: day
SELECT
  -- The WHERE on at uses the activity(at) index, so only recent rows are read.
  (SELECT count(*) FROM tenant.activity WHERE at >= datetime('now', '-7 days')) AS events_7d,
  (SELECT count(DISTINCT member_id) FROM tenant.activity WHERE at >= datetime('now', '-7 days')) AS active_members_7d,
  (SELECT count(*) FROM tenant.activity WHERE at >= datetime('now', '-30 days')) AS events_30d,
  (SELECT count(DISTINCT member_id) FROM tenant.activity WHERE at >= datetime('now', '-30 days')) AS active_members_30d,
  CAST(julianday('now') - julianday((SELECT max(at) FROM tenant.activity)) AS INTEGER) AS days_since_last_event
