package founder

import (
	"context"
	"testing"
	"time"

	"github.com/attache/attache/internal/demo"
	"github.com/attache/attache/internal/report"
)

// Every report in reports/ loads, validates and runs without a failing
// panel on a metrics DB built from a small demo fleet, and tells the demo's
// story: growth, churn, a few tenants on the old schema.
func TestShippedReportsOnDemoFleet(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	sum, err := demo.Generate(context.Background(), demo.Options{Dir: e.dir, Tenants: 60, Days: 540, Seed: 1, Now: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.run(t, now.Add(2*time.Hour))

	for _, name := range []string{"growth", "retention", "usage", "fleet"} {
		if report.Find(e.reports, name) == nil {
			t.Errorf("reports/%s.yaml is missing", name)
		}
	}
	if err := report.Validate(e.runner, e.reports); err != nil {
		t.Fatal(err)
	}
	for _, rep := range e.reports {
		for _, d := range e.runner.RunAll(rep) {
			if d.Err != nil {
				t.Errorf("%v", d.Err)
			} else if len(d.Rows) == 0 && d.Panel.ID != "failed" {
				t.Errorf("%s/%s: no rows on the demo fleet", rep.Name, d.Panel.ID)
			}
		}
	}

	// The as-of day is the last day of the demo's history.
	if v := get(t, e.panel(t, "growth", "churned"), e.panel(t, "growth", "churned").Rows[0], "as_of"); v != "2026-11-21" {
		t.Errorf("as of %v, want 2026-11-21", v)
	}
	for _, id := range []string{"mom_growth", "wow_growth", "cmgr_3m", "cmgr_6m"} {
		if v, ok := e.panel(t, "growth", id).Value().(float64); !ok || v < -1 || v > 10 {
			t.Errorf("%s = %#v on the demo fleet", id, v)
		}
	}
	// Every tenant the demo churned, and perhaps a quiet one or two.
	if v := e.panel(t, "growth", "churned").Value().(int64); v < int64(sum.Churned) || v > int64(sum.Churned+3) {
		t.Errorf("churned = %d, the demo churned %d", v, sum.Churned)
	}
	if v := e.panel(t, "fleet", "lagging_count").Value().(int64); v == 0 || v != int64(sum.OldSchema) {
		t.Errorf("%d tenants on an older schema, the demo wrote %d", v, sum.OldSchema)
	}
	// 18 months of history: the cohorts of 2025-06..2026-10 (17 complete
	// months, the first may be partial and so empty).
	if d := e.panel(t, "retention", "cohorts"); len(d.Rows) < 15 {
		t.Errorf("%d cohorts", len(d.Rows))
	}
}

// Even a small demo fleet has a cohort on the old schema for the fleet
// health report to show, whatever the seed.
func TestDemoHasOldSchemaTenants(t *testing.T) {
	for _, seed := range []int64{1, 2, 5} {
		sum, err := demo.Generate(context.Background(), demo.Options{Dir: t.TempDir(), Tenants: 100, Seed: seed,
			Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sum.OldSchema < 3 {
			t.Errorf("seed %d: %d of 100 tenants on the old schema, want a few", seed, sum.OldSchema)
		}
	}
}
