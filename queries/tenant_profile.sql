-- description: One row per tenant: name, plan, signup, schema version, members, first and last activity
-- mode: replace
SELECT
  (SELECT value FROM tenant.meta WHERE key = 'name') AS name,
  (SELECT value FROM tenant.meta WHERE key = 'plan') AS plan,
  (SELECT value FROM tenant.meta WHERE key = 'created_at') AS signup_at,
  -- The UTC month, also for a timestamp stored with an offset.
  (SELECT strftime('%Y-%m', value) FROM tenant.meta WHERE key = 'created_at') AS signup_month,
  (SELECT CAST(value AS INTEGER) FROM tenant.meta WHERE key = 'schema_version') AS schema_version,
  (SELECT count(*) FROM tenant.members) AS members,
  -- The earliest and latest instants (julianday), as the tenant stored them:
  -- as text, '2026-06-17T01:00:00+02:00' would sort after '2026-06-16 23:30:00'.
  -- They lie within two local days of the text min and max, which the
  -- activity(at) index answers, so only those days are read.
  (SELECT at FROM tenant.activity
    WHERE at < (SELECT date(substr(min(at), 1, 10), '+3 days') FROM tenant.activity)
    ORDER BY julianday(at) LIMIT 1) AS first_activity_at,
  (SELECT at FROM tenant.activity
    WHERE at >= (SELECT date(substr(max(at), 1, 10), '-2 days') FROM tenant.activity)
    ORDER BY julianday(at) DESC LIMIT 1) AS last_activity_at
