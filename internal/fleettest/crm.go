package fleettest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/attache/attache/internal/sqlite"
)

// The CRM fleet is the benchmark's second profile beside the demo: many
// small tenants (about 50 KB each) of a sales CRM, read by light queries,
// so the cost per tenant (attach, compile, detach) dominates, not the
// queries' own work. Its schema shares nothing with the demo's.

// CRMQueries are the CRM fleet's query files, by name: two snapshots and
// three replace-mode queries, one of them with a CTE and a join.
var CRMQueries = map[string]string{
	"crm_totals": `-- description: Accounts, contacts and open deals per tenant
-- mode: snapshot
-- grain: day
SELECT
  (SELECT count(*) FROM tenant.accounts) AS accounts,
  (SELECT count(*) FROM tenant.contacts) AS contacts,
  (SELECT count(*) FROM tenant.deals WHERE closed_at IS NULL) AS open_deals
`,
	"crm_pipeline": `-- description: Open pipeline by stage, in cents
-- mode: snapshot
-- grain: day
SELECT stage, count(*) AS deals, sum(amount_cents) AS amount_cents
FROM tenant.deals
WHERE closed_at IS NULL
GROUP BY stage
`,
	"crm_won": `-- description: Deals won per month, in cents
-- mode: replace
SELECT substr(closed_at, 1, 7) AS month, count(*) AS won, sum(amount_cents) AS won_cents
FROM tenant.deals
WHERE stage = 'won'
GROUP BY 1
`,
	"crm_activity": `-- description: Calls, emails and meetings per month
-- mode: replace
SELECT strftime('%Y-%m', at) AS month,
  sum(kind = 'call') AS calls, sum(kind = 'email') AS emails, sum(kind = 'meeting') AS meetings
FROM tenant.activities
GROUP BY 1
`,
	"crm_cohorts": `-- description: Contacts per signup month and how many of them were ever contacted
-- mode: replace
WITH first_touch AS (
  SELECT contact_id, min(at) AS first_at FROM tenant.activities GROUP BY contact_id
)
SELECT substr(c.created_at, 1, 7) AS cohort, count(*) AS contacts, count(f.contact_id) AS touched
FROM tenant.contacts c LEFT JOIN first_touch f ON f.contact_id = c.id
GROUP BY 1
`,
}

// crmSchema creates one CRM tenant in schema t. %[1]d is the tenant's seed:
// every value comes from it by integer hashing, so the same n always gives
// the same fleet, and tenants differ in size and content.
const crmSchema = `
CREATE TABLE t.accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, industry TEXT, created_at TEXT NOT NULL);
CREATE TABLE t.contacts (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id), email TEXT NOT NULL, lifecycle TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE t.deals (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id), owner TEXT, stage TEXT NOT NULL, amount_cents INTEGER NOT NULL, created_at TEXT NOT NULL, closed_at TEXT);
CREATE TABLE t.activities (id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL REFERENCES contacts(id), kind TEXT NOT NULL, at TEXT NOT NULL, note TEXT);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 4 + (%[1]d * 7 %% 13))
INSERT INTO t.accounts SELECT i, 'Account ' || i || ' of ' || %[1]d,
  CASE (i * 31 + %[1]d) %% 4 WHEN 0 THEN 'software' WHEN 1 THEN 'retail' WHEN 2 THEN 'health' ELSE 'finance' END,
  datetime('2026-11-22', '-' || ((i * 7919 + %[1]d * 104729) %% 540) || ' days') FROM s;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20 + (%[1]d * 11 %% 50))
INSERT INTO t.contacts SELECT i, 1 + (i * 17 + %[1]d) %% (SELECT count(*) FROM t.accounts),
  'person' || i || '@customer' || %[1]d || '.example',
  CASE (i + %[1]d) %% 3 WHEN 0 THEN 'lead' WHEN 1 THEN 'customer' ELSE 'churned' END,
  datetime('2026-11-22', '-' || ((i * 6151 + %[1]d * 7727) %% 540) || ' days', '+' || (i * 37 %% 86400) || ' seconds') FROM s;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 8 + (%[1]d * 5 %% 30))
INSERT INTO t.deals SELECT i, 1 + (i * 13 + %[1]d) %% (SELECT count(*) FROM t.accounts),
  'rep' || ((i + %[1]d) %% 5),
  CASE (i * 7 + %[1]d) %% 6 WHEN 0 THEN 'won' WHEN 1 THEN 'won' WHEN 2 THEN 'lost' WHEN 3 THEN 'qualified' WHEN 4 THEN 'proposal' ELSE 'negotiation' END,
  100 * (500 + (i * 48271 + %[1]d * 16807) %% 99500),
  datetime('2026-11-22', '-' || (30 + (i * 3571 + %[1]d * 1299) %% 510) || ' days'), NULL FROM s;
UPDATE t.deals SET closed_at = datetime(created_at, '+' || (id * 97 %% 90) || ' days') WHERE stage IN ('won', 'lost');
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 120 + (%[1]d * 29 %% 300))
INSERT INTO t.activities SELECT i, 1 + (i * 7 + %[1]d) %% (SELECT count(*) FROM t.contacts),
  CASE (i * 3 + %[1]d) %% 5 WHEN 0 THEN 'call' WHEN 1 THEN 'meeting' ELSE 'email' END,
  datetime('2026-11-22', '-' || ((i * 2713 + %[1]d * 811) %% 540) || ' days', '+' || (i * 53 %% 86400) || ' seconds'),
  CASE WHEN i %% 4 = 0 THEN 'follow up on proposal ' || i END FROM s;
CREATE INDEX t.activities_at ON activities(at);
CREATE INDEX t.deals_stage ON deals(stage);
`

// CRM writes n CRM tenants, crm-00001.db … into dir (created if missing),
// skipping files that exist, through one connection that ATTACHes each new
// file in turn (go-libsql does not survive opening thousands of databases).
func CRM(ctx context.Context, dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("crm fleet: %w", err)
	}
	db, err := sqlite.Open(":memory:", sqlite.Options{})
	if err != nil {
		return fmt.Errorf("crm fleet: %w", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("crm fleet: %s", sqlite.Message(err))
	}
	defer conn.Close()
	for i := 1; i <= n; i++ {
		path := filepath.Join(dir, fmt.Sprintf("crm-%05d.db", i))
		if _, err := os.Stat(path); err == nil {
			continue
		}
		tmp := path + ".tmp"
		os.Remove(tmp)
		if _, err := conn.ExecContext(ctx, "ATTACH ? AS t", "file:"+tmp); err != nil {
			return fmt.Errorf("crm tenant %s: %s", path, sqlite.Message(err))
		}
		err := writeCRM(ctx, conn, i)
		if _, derr := conn.ExecContext(ctx, "DETACH t"); derr != nil && err == nil {
			err = derr
		}
		if err != nil {
			return fmt.Errorf("crm tenant %s: %s", path, sqlite.Message(err))
		}
		// Renamed when complete, so an interrupted run leaves no half tenant.
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("crm tenant: %w", err)
		}
	}
	return nil
}

func writeCRM(ctx context.Context, conn *sql.Conn, seed int) error {
	// A generated file needs no journal: it is renamed into place only
	// when complete.
	rows, err := conn.QueryContext(ctx, "PRAGMA t.journal_mode = OFF")
	if err != nil {
		return err
	}
	rows.Close()
	stmts := append([]string{"BEGIN"}, strings.Split(fmt.Sprintf(crmSchema, seed), ";\n")...)
	for _, s := range append(stmts, "COMMIT") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		if _, err := conn.ExecContext(ctx, s); err != nil {
			conn.ExecContext(ctx, "ROLLBACK")
			return fmt.Errorf("%.60s: %w", strings.TrimSpace(s), err)
		}
	}
	return nil
}

// CRMCopies fills dir with n tenants made by copying the n0 tenants of a
// generated CRM fleet in base (made first if missing) under new names,
// copy K of crm-00001.db being crm-00001-cK.db (copy 0 keeps its name).
// Generating costs about a millisecond of SQL per tenant; a copy costs a
// read and a write of 45 KB, so 100,000 tenants are ready in minutes and a
// million in well under an hour. Files that exist are kept; n must be a
// multiple of n0.
func CRMCopies(ctx context.Context, dir string, n int, base string, n0 int) error {
	if n0 <= 0 || n%n0 != 0 {
		return fmt.Errorf("crm copies: %d tenants is not a multiple of the base fleet's %d", n, n0)
	}
	if err := CRM(ctx, base, n0); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("crm copies: %w", err)
	}
	for k := 0; k < n/n0; k++ {
		for i := 1; i <= n0; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			name := fmt.Sprintf("crm-%05d", i)
			to := filepath.Join(dir, name+".db")
			if k > 0 {
				to = filepath.Join(dir, fmt.Sprintf("%s-c%d.db", name, k))
			}
			if _, err := os.Stat(to); err == nil {
				continue
			}
			if err := copyFile(filepath.Join(base, name+".db"), to); err != nil {
				return fmt.Errorf("crm copies: %w", err)
			}
		}
	}
	return nil
}

// copyFile copies a finished tenant file, renamed into place when whole.
func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.WriteFile(to+".tmp", b, 0o644); err != nil {
		return err
	}
	return os.Rename(to+".tmp", to)
}
