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
  -- min and max over activity(at) are answered from its index.
  (SELECT min(at) FROM tenant.activity) AS first_activity_at,
  (SELECT max(at) FROM tenant.activity) AS last_activity_at
