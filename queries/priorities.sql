-- description: Open TODOs by priority, snapshotted daily (needs schema_version 3: older tenants have no priority column)
-- mode: snapshot
-- grain: day
SELECT
  priority,
  CASE priority WHEN 3 THEN 'high' WHEN 2 THEN 'medium' WHEN 1 THEN 'low' ELSE 'none' END AS label,
  count(*) AS open_todos
FROM tenant.todos
WHERE done = 0
GROUP BY priority
