-- description: Hours from creating a TODO to completing it, for TODOs completed in the last 30 days, snapshotted weekly (needs schema_version 3: older tenants have no completed_at column)
-- mode: snapshot
-- grain: week
-- Instants are compared as instants (julianday), never as text: a time stored
-- with an offset ('2026-06-17T01:00:00+02:00') is 16 June in UTC.
SELECT
  count(*) AS completed,
  round(avg(hours), 1) AS avg_hours,
  -- The lower median, the middle value once sorted.
  round((
    SELECT (julianday(completed_at) - julianday(created_at)) * 24
    FROM tenant.todos
    WHERE julianday(completed_at) >= julianday('now', '-30 days')
    ORDER BY 1
    LIMIT 1 OFFSET (
      SELECT (count(*) - 1) / 2 FROM tenant.todos
      WHERE julianday(completed_at) >= julianday('now', '-30 days')
    )
  ), 1) AS median_hours,
  round(max(hours), 1) AS max_hours
FROM (
  SELECT (julianday(completed_at) - julianday(created_at)) * 24 AS hours
  FROM tenant.todos
  WHERE julianday(completed_at) >= julianday('now', '-30 days')
)
