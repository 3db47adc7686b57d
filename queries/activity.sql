-- description: Events, active members and TODOs created and completed per day, over each tenant's whole history
-- mode: replace
SELECT
  date(at) AS day,
  count(*) AS events,
  count(DISTINCT member_id) AS active_members,
  sum(kind = 'todo_created') AS todos_created,
  sum(kind = 'todo_completed') AS todos_completed
FROM tenant.activity
GROUP BY date(at)
