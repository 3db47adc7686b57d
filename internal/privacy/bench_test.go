package privacy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/attache/attache/internal/report"
)

// BenchmarkShape10k is what an aggregate audience adds to a panel of
// 10,000 tenants: a pseudonym (one HMAC) per row, dropped columns, and the
// scan of every text value against the fleet's ids; and, for comparison,
// the same rows as a group breakdown (suppression only).
func BenchmarkShape10k(b *testing.B) {
	ids := map[string]bool{}
	rows := make([][]any, 10_000)
	for i := range rows {
		id := fmt.Sprintf("tenant-%05d", i)
		ids[id], ids["/fleet/"+id+".db"] = true, true
		rows[i] = []any{id, "Name " + id, "team", int64(i % 40)}
	}
	pl := New(Key(strings.Repeat("k", 32)), 5, func() (map[string]bool, error) { return ids, nil })
	cols := []string{"tenant_id", "name", "plan", "events"}
	for _, c := range []struct {
		name string
		pv   *report.Privacy
	}{
		{"pseudonym", &report.Privacy{Shows: report.ShowsTenants, Tenant: "tenant_id", Identifying: []string{"name"}, Aggregate: report.AggregatePseudonym}},
		{"totals", &report.Privacy{Shows: report.ShowsTotals}},
	} {
		p := &report.Panel{ID: "p", Chart: report.ChartTable, Privacy: c.pv}
		d := &report.Data{Panel: p, Columns: cols, Rows: rows}
		if c.name == "totals" {
			// Totals hold no ids: the guard scans and passes.
			d = &report.Data{Panel: p, Columns: []string{"plan", "events"}, Rows: make([][]any, len(rows))}
			for i, r := range rows {
				d.Rows[i] = []any{r[2], r[3]}
			}
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if out := report.Apply(pl, d); out.Err != nil {
					b.Fatal(out.Err)
				}
			}
		})
	}
}
