package privacy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attache/attache/internal/report"
)

func TestPseudonymsStablePerKeyAndSecretOutsideTheMetricsDB(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "privacy.key")
	k1, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600: only attache's user may read it", st.Mode().Perm())
	}
	again, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	p := k1.Pseudonym("acme")
	if !strings.HasPrefix(p, "customer ") || len(p) != len("customer ")+8 {
		t.Errorf("pseudonym %q, want customer + 8 hex digits", p)
	}
	if again.Pseudonym("acme") != p {
		t.Error("the same key file gives a different pseudonym: pseudonyms must be stable across restarts and runs")
	}
	if k1.Pseudonym("acme2") == p {
		t.Error("two tenants share a pseudonym")
	}
	k2, err := LoadKey(filepath.Join(dir, "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	if k2.Pseudonym("acme") == p {
		t.Error("a different key gives the same pseudonym: it would not be keyed")
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a broken key file: %v, want an error naming it", err)
	}
}

func TestShape(t *testing.T) {
	ids := map[string]bool{"t-acme": true, "t-beta": true, "/fleet/t-acme.db": true}
	pl := New(Key(strings.Repeat("k", 32)), 5, func() (map[string]bool, error) { return ids, nil })
	shape := func(p *report.Panel, cols []string, rows [][]any) ([]string, [][]any, error) {
		t.Helper()
		d := report.Apply(pl, &report.Data{Panel: p, Columns: cols, Rows: rows})
		return d.Columns, d.Rows, d.Err
	}

	groups := &report.Panel{ID: "plans", Chart: report.ChartBar, X: "plan", Y: []string{"tenants"},
		Privacy: &report.Privacy{Shows: report.ShowsGroups, Count: "tenants"}}
	rows := [][]any{{"enterprise", int64(3), int64(900)}, {"team", int64(12), int64(120)}}
	_, got, err := shape(groups, []string{"plan", "tenants", "events"}, rows)
	if err != nil {
		t.Fatal(err)
	}
	if got[0][0] != "enterprise" || got[0][1] != "fewer than 5 customers" || got[0][2] != nil {
		t.Errorf("group of 3: %v, want its label, \"fewer than 5 customers\" and no events", got[0])
	}
	if got[1][1] != int64(12) || got[1][2] != int64(120) {
		t.Errorf("group of 12 changed: %v", got[1])
	}
	if rows[0][1] != int64(3) {
		t.Error("Shape changed its input rows, which the cache shares with admins")
	}

	tenants := &report.Panel{ID: "top", Chart: report.ChartTable,
		Privacy: &report.Privacy{Shows: report.ShowsTenants, Tenant: "tenant_id", Identifying: []string{"location"}, Aggregate: report.AggregatePseudonym}}
	cols, got, err := shape(tenants, []string{"tenant_id", "location", "events"}, [][]any{{"t-acme", "/fleet/t-acme.db", int64(5)}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cols, ",") != "tenant_id,events" || got[0][0] != pl.key.Pseudonym("t-acme") || got[0][1] != int64(5) {
		t.Errorf("pseudonymised: %v %v", cols, got)
	}

	if _, got, _ := shape(tenants, []string{"tenant_id", "location", "events"}, [][]any{{nil, nil, int64(1)}}); got[0][0] != nil {
		t.Errorf("a NULL tenant became %v, want NULL", got[0][0])
	}

	omit := &report.Panel{ID: "list", Chart: report.ChartTable, Privacy: &report.Privacy{Shows: report.ShowsTenants, Tenant: "tenant_id", Aggregate: report.AggregateOmit}}
	if _, _, err := shape(omit, []string{"tenant_id"}, [][]any{{"t-acme"}}); !isWithheld(err) {
		t.Errorf("shows: tenants, aggregate: omit: %v, want withheld", err)
	}
	// A panel without a rule, or one whose rule is wrong, never leaks.
	undeclared := &report.Panel{ID: "who", Chart: report.ChartTable}
	if _, _, err := shape(undeclared, []string{"who"}, [][]any{{"2026-01"}, {"t-beta"}}); !isWithheld(err) {
		t.Errorf("undeclared panel holding a tenant id: %v, want withheld", err)
	}
	totals := &report.Panel{ID: "n", Chart: report.ChartNumber, Privacy: &report.Privacy{Shows: report.ShowsTotals}}
	if _, got, err := shape(totals, []string{"n"}, [][]any{{int64(15)}}); err != nil || got[0][0] != int64(15) {
		t.Errorf("totals: %v %v, want 15 unchanged", got, err)
	}
	if _, _, err := shape(totals, []string{"n"}, [][]any{{"/fleet/t-acme.db"}}); !isWithheld(err) {
		t.Errorf("totals showing a location: %v, want withheld", err)
	}
	failing := New(Key(strings.Repeat("k", 32)), 5, func() (map[string]bool, error) { return nil, errors.New("locked") })
	if d := report.Apply(failing, &report.Data{Panel: totals, Columns: []string{"n"}, Rows: [][]any{{int64(1)}}}); !isWithheld(d.Err) {
		t.Errorf("tenant ids unreadable: %v, want withheld (fail closed)", d.Err)
	}
}

func isWithheld(err error) bool {
	_, ok := report.Withheld(err)
	return ok
}
