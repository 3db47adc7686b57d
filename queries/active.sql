-- description: The UTC days, ISO weeks (Monday start) and months in which each tenant was active, with its events in each: the one definition of "active" behind the growth and retention reports
-- mode: replace
--
-- "Active" is decided here, per tenant, and nowhere else: every panel that
-- counts active tenants counts rows of rollup_active. To change the rule,
-- change the WHERE line below (for example add AND kind <> 'login' so that
-- only signing in does not count); the next `attache run` re-reads every
-- tenant, because the query changed.
--
-- Periods are UTC calendar periods: date() and strftime() turn a timestamp
-- stored with an offset ('2026-02-01T01:30:00+02:00') into its UTC day.
WITH days AS (
  SELECT date(at) AS day, count(*) AS events
  FROM tenant.activity
  WHERE date(at) IS NOT NULL  -- the rule: any event makes its day active
  GROUP BY date(at)
)
SELECT 'day' AS grain, day AS period, events, 1 AS active_days FROM days
UNION ALL
-- date(day, '-6 days', 'weekday 1') is the Monday on or before the day.
SELECT 'week', date(day, '-6 days', 'weekday 1'), sum(events), count(*) FROM days GROUP BY 2
UNION ALL
SELECT 'month', substr(day, 1, 7), sum(events), count(*) FROM days GROUP BY 2
