-- description: What each tenant pays: its MRR history in integer cents, one row per change (from instant at on, the tenant pays mrr a month; 0 is free, a trial or cancelled): the one definition of revenue behind the revenue report
-- mode: replace
--
-- Revenue is decided here, per tenant, and nowhere else: every revenue
-- panel reads rollup_mrr. Adapt this file to where your product keeps its
-- billing (a subscriptions table, Stripe webhooks copied into the tenant);
-- keep the three columns.
--   at     the instant the new amount starts, in UTC (datetime() turns
--          2026-02-01T01:00:00+01:00 into 2026-02-01 00 h UTC, so every
--          report compares instants)
--   mrr    integer cents per month; an annual plan's yearly amount / 12,
--          rounded to the cent; 0 while free, trialing, cancelled or lapsed
--   trial  1 when a free trial starts at this instant, else 0
-- A tenant without rows has never paid and never tried: it is not a
-- customer, and it counts nowhere in the revenue report.
--
-- The demo's subscription_events holds one row per change (status
-- trialing, active, canceled, expired; amount_cents billed per
-- billing_interval, month or year, for all seats). Of two rows at the same
-- instant the later one (higher id) wins.
WITH changes AS (
  SELECT datetime(at) AS at, status, billing_interval, amount_cents,
         row_number() OVER (PARTITION BY datetime(at) ORDER BY id DESC) AS nth
  FROM tenant.subscription_events
  WHERE datetime(at) IS NOT NULL
)
SELECT
  at,
  CASE
    WHEN status <> 'active' THEN 0
    WHEN billing_interval = 'year' THEN CAST(round(amount_cents / 12.0) AS INTEGER)
    ELSE amount_cents
  END AS mrr,
  (status = 'trialing') AS trial
FROM changes
WHERE nth = 1
