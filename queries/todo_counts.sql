-- description: Lists, TODOs (done and open) and members per tenant, snapshotted daily
-- mode: snapshot
-- grain: day
SELECT
  (SELECT count(*) FROM tenant.lists) AS lists,
  (SELECT count(*) FROM tenant.lists WHERE archived = 0) AS active_lists,
  count(*) AS todos,
  coalesce(sum(done <> 0), 0) AS done,
  coalesce(sum(done = 0), 0) AS open,
  (SELECT count(*) FROM tenant.members) AS members
FROM tenant.todos
