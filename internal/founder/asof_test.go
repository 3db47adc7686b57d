package founder

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attache/attache/internal/report"
)

// A fleet whose data ends on Sunday 2026-05-31, read a week later. b's last
// event is stored at 01:00 on 31 May at UTC+2, which is 23:00 on 30 May in
// UTC and sorts above a's '2026-05-31 12:00:00' as text. Compared as text
// the as-of day would be 30 May, the last complete month April (MoM 2 vs 1:
// 100%) and May's cohort would be gone; as instants it is 31 May, May is
// complete (3 vs 2: 50%) and c's cohort counts.
func TestAsOfComparesInstants(t *testing.T) {
	e := newEnv(t)
	for _, s := range []spec{
		{id: "a", plan: "team", signup: "2026-03-05 09:00:00", schema: 3,
			events: logins("2026-03-05 09:00:00", "2026-04-07 09:00:00", "2026-05-31 12:00:00")},
		{id: "b", plan: "team", signup: "2026-04-10 09:00:00", schema: 3,
			events: logins("2026-04-10 09:00:00", "2026-05-31T01:00:00+02:00")},
		{id: "c", plan: "free", signup: "2026-05-03 09:00:00", schema: 3,
			events: logins("2026-05-03 09:00:00")},
	} {
		writeTenant(t, e.dir, s)
	}
	e.run(t, time.Date(2026, 6, 8, 9, 0, 0, 0, time.UTC))

	d := e.panel(t, "growth", "churned")
	if v := get(t, d, d.Rows[0], "as_of"); v != "2026-05-31" {
		t.Errorf("as of %v, want 2026-05-31", v)
	}
	d = e.panel(t, "growth", "mom_growth")
	if v, ok := d.Value().(float64); !ok || math.Abs(v-0.5) > 1e-12 || get(t, d, d.Rows[0], "month") != "2026-05" {
		t.Errorf("month over month = %#v for %v, want 50%% for 2026-05", d.Value(), get(t, d, d.Rows[0], "month"))
	}
	d = e.panel(t, "retention", "cohorts")
	var cohorts []string
	for _, r := range d.Rows {
		cohorts = append(cohorts, get(t, d, r, "cohort").(string))
	}
	if len(cohorts) != 3 || cohorts[2] != "2026-05" {
		t.Errorf("cohorts %v, want 2026-03, 2026-04 and 2026-05", cohorts)
	}
}

// A tenant the source no longer lists leaves every "now" figure and keeps
// its history: c's file is deleted after the first run.
func TestRemovedTenantLeavesNowFigures(t *testing.T) {
	e := newEnv(t)
	for _, s := range []spec{
		{id: "a", plan: "team", signup: "2026-03-05 09:00:00", schema: 3,
			events: logins("2026-03-05 09:00:00", "2026-04-07 09:00:00", "2026-05-31 12:00:00")},
		{id: "b", plan: "team", signup: "2026-04-10 09:00:00", schema: 3,
			events: logins("2026-04-10 09:00:00", "2026-05-20 09:00:00")},
		{id: "c", plan: "free", signup: "2026-04-03 09:00:00", schema: 3,
			events: logins("2026-04-03 09:00:00", "2026-05-03 09:00:00")},
	} {
		writeTenant(t, e.dir, s)
	}
	e.run(t, time.Date(2026, 6, 8, 9, 0, 0, 0, time.UTC))
	if v := e.panel(t, "growth", "tenants").Value(); v != int64(3) {
		t.Fatalf("tenants before the removal = %#v", v)
	}
	if err := os.Remove(filepath.Join(e.dir, "c.db")); err != nil {
		t.Fatal(err)
	}
	e.run(t, time.Date(2026, 6, 8, 10, 0, 0, 0, time.UTC))

	for _, c := range []struct {
		rep, panel string
		want       any
	}{
		{"growth", "tenants", int64(2)},
		{"growth", "active_month", int64(2)}, // May: a, b (c is gone)
		{"growth", "mom_growth", 0.0},        // 2 in May against a and b in April
		{"fleet", "tenants", int64(2)},
	} {
		if v := e.panel(t, c.rep, c.panel).Value(); v != c.want {
			t.Errorf("%s/%s = %#v, want %v", c.rep, c.panel, v, c.want)
		}
	}
	// History stays: May had three active tenants.
	_, vals := series(t, e.panel(t, "growth", "active_monthly"), "month", "active_tenants")
	if vals["2026-05"] != int64(3) {
		t.Errorf("active in May (history) = %v, want 3", vals["2026-05"])
	}
	_, vals = series(t, e.panel(t, "growth", "plans"), "plan", "tenants")
	if vals["free"] != nil {
		t.Errorf("plans still count the removed tenant: %v", vals)
	}
}

// A tenant without a signup date is counted and shown, never silently
// dropped: Tenants counts it, the retention report names it.
func TestNoSignupDateIsShown(t *testing.T) {
	e := newEnv(t)
	writeTenant(t, e.dir, spec{id: "a", plan: "team", signup: "2026-03-05 09:00:00", schema: 3,
		events: logins("2026-03-05 09:00:00", "2026-05-31 12:00:00")})
	writeTenant(t, e.dir, spec{id: "nodate", plan: "free", signup: "", schema: 3,
		events: logins("2026-04-05 09:00:00")})
	e.run(t, time.Date(2026, 6, 8, 9, 0, 0, 0, time.UTC))

	if v := e.panel(t, "growth", "tenants").Value(); v != int64(2) {
		t.Errorf("tenants = %#v, want 2", v)
	}
	if v := e.panel(t, "retention", "no_signup").Value(); v != int64(1) {
		t.Errorf("without a signup date = %#v, want 1", v)
	}
	d := e.panel(t, "retention", "cohorts")
	last := d.Rows[len(d.Rows)-1]
	if get(t, d, last, "cohort") != "no signup date" || get(t, d, last, "tenants") != int64(1) || get(t, d, last, "m0") != nil {
		t.Errorf("cohort rows %v", d.Rows)
	}
	// The curve names how many tenants each point rests on.
	d = e.panel(t, "retention", "curve")
	if get(t, d, d.Rows[0], "point") != "m0 · 1 tenants" || get(t, d, d.Rows[0], "month") != "m0" {
		t.Errorf("curve %v", d.Rows)
	}
}

// A fleet whose data stopped says so wherever the freshness line shows:
// page, workbook, email. Data ending 8 days before the run is stale; data
// ending the day before the run is not.
func TestStaleDataBanner(t *testing.T) {
	e := newEnv(t)
	writeTenant(t, e.dir, spec{id: "a", plan: "team", signup: "2026-03-05 09:00:00", schema: 3,
		events: logins("2026-03-05 09:00:00", "2026-05-31T01:00:00+02:00")})
	e.run(t, time.Date(2026, 6, 8, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	for _, name := range []string{"growth", "retention", "usage", "fleet", "revenue"} {
		f, err := report.LoadReportFreshness(ctx, e.mdb, time.Date(2026, 6, 8, 9, 5, 0, 0, time.UTC), report.Find(e.reports, name))
		if err != nil {
			t.Fatal(err)
		}
		// 01:00 at UTC+2 on 31 May is 30 May in UTC.
		if !f.DataStale() || !strings.HasPrefix(f.String(), "data ends 2026-05-30, 9 days before run 1 · as of run 1") {
			t.Errorf("%s: %q", name, f.String())
		}
	}

	e = newEnv(t)
	writeTenant(t, e.dir, spec{id: "a", plan: "team", signup: "2026-03-05 09:00:00", schema: 3,
		events: logins("2026-03-05 09:00:00", "2026-06-07 12:00:00")})
	e.run(t, time.Date(2026, 6, 8, 9, 0, 0, 0, time.UTC))
	f, err := report.LoadReportFreshness(ctx, e.mdb, time.Date(2026, 6, 8, 9, 5, 0, 0, time.UTC), report.Find(e.reports, "growth"))
	if err != nil {
		t.Fatal(err)
	}
	if f.DataStale() || strings.Contains(f.String(), "data ends") || f.DataEnds != "2026-06-07" {
		t.Errorf("fresh data: %q (data ends %q)", f.String(), f.DataEnds)
	}
}
