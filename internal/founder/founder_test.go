package founder

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/attache/attache/internal/export"
	"github.com/attache/attache/internal/report"
)

// The engine runs on Monday 2026-03-16 at 09:00 UTC, so the as-of day is
// Sunday 2026-03-15, the last complete ISO week is 2026-03-09..15, the last
// complete month 2026-02 and the last 30 days are 2026-02-14..03-15.
var runAt = time.Date(2026, 3, 16, 9, 0, 0, 0, time.UTC)

// fleet is twelve tenants whose numbers are known by construction:
//
//	cohort 2025-11: j (back in January and February)
//	cohort 2025-12: a (active every month), b (last event Jan 31 23:59:59),
//	                c (signs up and churns in December; old schema)
//	cohort 2026-01: d, e (no survivor in February; e signed up and was last
//	                active at 01:00 on Feb 1 in UTC+2, which is Jan 31 in UTC)
//	cohort 2026-02: f (signed up at 00:00:00 on Feb 1), g, i (never active),
//	                k (last active 2026-02-13: 30 days before the as-of day,
//	                churned), l (last active 2026-02-14: 29 days, not churned)
//	cohort 2026-03: h (month not complete; an event after the as-of day)
//
// plus zz-broken, a file that is not a database.
var fleet = []spec{
	{id: "a", plan: "business", signup: "2025-12-05 10:00:00", schema: 3, events: []event{
		{"2025-12-05 10:00:00", "login"}, {"2025-12-05 10:05:00", "todo_created"},
		{"2026-01-10 12:00:00", "todo_completed"}, {"2026-02-20 12:00:00", "login"},
		{"2026-03-10 12:00:00", "todo_created"}, {"2026-03-10 12:30:00", "todo_created"},
		{"2026-03-15 23:00:00", "login"},
	}},
	{id: "b", plan: "team", signup: "2025-12-20 09:00:00", schema: 3, events: logins("2025-12-20 09:00:00", "2026-01-31 23:59:59")},
	{id: "c", plan: "free", signup: "2025-12-28 09:00:00", schema: 1, events: logins("2025-12-28 09:00:00", "2025-12-30 09:00:00")},
	{id: "d", plan: "free", signup: "2026-01-03 09:00:00", schema: 3, events: logins("2026-01-03 09:00:00", "2026-01-20 09:00:00")},
	{id: "e", plan: "free", signup: "2026-02-01T01:00:00+02:00", schema: 3, events: logins("2026-02-01T01:00:00+02:00")},
	{id: "f", plan: "team", signup: "2026-02-01 00:00:00", schema: 3, events: []event{
		{"2026-02-01 00:00:00", "login"}, {"2026-03-02 12:00:00", "todo_created"}, {"2026-03-14 12:00:00", "login"},
	}},
	{id: "g", plan: "free", signup: "2026-02-10 09:00:00", schema: 3, events: logins("2026-02-10 09:00:00", "2026-02-12 09:00:00", "2026-03-09 09:00:00")},
	{id: "h", plan: "free", signup: "2026-03-11 09:00:00", schema: 3, events: logins("2026-03-11 09:00:00", "2026-03-16 08:00:00")},
	{id: "i", plan: "free", signup: "2026-02-20 09:00:00", schema: 3},
	{id: "j", plan: "team", signup: "2025-11-15 09:00:00", schema: 3, events: logins("2025-11-15 09:00:00", "2026-01-05 09:00:00", "2026-02-27 09:00:00")},
	{id: "k", plan: "free", signup: "2026-02-13 09:00:00", schema: 3, events: logins("2026-02-13 09:00:00")},
	{id: "l", plan: "free", signup: "2026-02-14 09:00:00", schema: 3, events: logins("2026-02-14 09:00:00")},
}

const (
	asOf      = "2026-03-15"
	lastWeek  = "2026-03-09"
	lastMonth = "2026-02"
	start30d  = "2026-02-14"
)

func buildFleet(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	for _, s := range fleet {
		writeTenant(t, e.dir, s)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "zz-broken.db"), []byte(strings.Repeat("not a database ", 300)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.run(t, runAt)
	return e
}

// active is which tenants were active in which periods, computed in Go from
// the specs: the rule "at least one event in the UTC period".
type active struct {
	days, weeks, months map[string]map[string]bool // period -> tenant set
	last                map[string]string          // tenant -> last active day
}

func model(t *testing.T, specs []spec) active {
	a := active{days: map[string]map[string]bool{}, weeks: map[string]map[string]bool{}, months: map[string]map[string]bool{}, last: map[string]string{}}
	add := func(m map[string]map[string]bool, k, id string) {
		if m[k] == nil {
			m[k] = map[string]bool{}
		}
		m[k][id] = true
	}
	for _, s := range specs {
		for _, ev := range s.events {
			v := utc(t, ev.at)
			add(a.days, dayOf(v), s.id)
			add(a.weeks, weekOf(v), s.id)
			add(a.months, monthOf(v), s.id)
			if d := dayOf(v); d > a.last[s.id] {
				a.last[s.id] = d
			}
		}
	}
	return a
}

// calendar lists every period from first to last (inclusive), stepping with next.
func calendar(first, last string, next func(string) string) []string {
	var out []string
	for p := first; p <= last; p = next(p) {
		out = append(out, p)
	}
	return out
}

func nextDay(d string) string {
	v, _ := time.Parse("2006-01-02", d)
	return dayOf(v.AddDate(0, 0, 1))
}
func nextWeek(d string) string {
	v, _ := time.Parse("2006-01-02", d)
	return dayOf(v.AddDate(0, 0, 7))
}
func prevMonth(m string) string {
	v, _ := time.Parse("2006-01", m)
	return monthOf(v.AddDate(0, -1, 0))
}
func nextMonth(m string) string {
	v, _ := time.Parse("2006-01", m)
	return monthOf(v.AddDate(0, 1, 0))
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkSeries compares a period series panel with the model: every period
// from the first active one to last, with the count of active tenants (0
// for a period with none), and nothing after last.
func checkSeries(t *testing.T, keys []string, vals map[string]any, periods map[string]map[string]bool, first, last string, next func(string) string) {
	t.Helper()
	want := calendar(first, last, next)
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("periods\n got %v\nwant %v", keys, want)
	}
	for _, p := range want {
		if got, want := vals[p], int64(len(periods[p])); got != want {
			t.Errorf("%s: %v active tenants, want %d", p, got, want)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestGrowth(t *testing.T) {
	e := buildFleet(t)
	m := model(t, fleet)

	// The model agrees with the hand count of the boundary cases.
	for _, c := range []struct{ day, ids string }{
		{"2026-01-31", "b,e"}, // 23:59:59 UTC, and 01:00 on Feb 1 at UTC+2
		{"2026-02-01", "f"},   // 00:00:00 UTC
		{"2026-03-16", "h"},   // after the as-of day: never shown
	} {
		if got := strings.Join(sortedKeys(m.days[c.day]), ","); got != c.ids {
			t.Fatalf("model: active on %s: %s, want %s", c.day, got, c.ids)
		}
	}

	t.Run("numbers", func(t *testing.T) {
		if v := e.panel(t, "growth", "tenants").Value(); v != int64(12) {
			t.Errorf("tenants = %#v, want 12 (the broken file has no profile)", v)
		}
		d := e.panel(t, "growth", "active_month")
		// February: a, f, g, j, k, l (not e: Feb 1 01:00 at UTC+2 is January).
		if v := d.Value(); v != int64(6) || get(t, d, d.Rows[0], "month") != lastMonth {
			t.Errorf("active last month = %#v in %v, want 6 in %s", v, get(t, d, d.Rows[0], "month"), lastMonth)
		}
		if h := d.Headline().String(); h != "February 2026: 6 ▲ 20.0% vs January" {
			t.Errorf("active last month tile reads %q", h)
		}
		// January: a, b, d, e, j = 5; February 6: (6 - 5) / 5.
		d = e.panel(t, "growth", "mom_growth")
		if v, ok := d.Value().(float64); !ok || !near(v, 0.2) ||
			get(t, d, d.Rows[0], "active") != int64(6) || get(t, d, d.Rows[0], "active_before") != int64(5) ||
			get(t, d, d.Rows[0], "month") != "2026-02" || get(t, d, d.Rows[0], "month_before") != "2026-01" {
			t.Errorf("month over month: %v %v", d.Columns, d.Rows)
		}
		// Week of 03-09: a, f, g, h; week of 03-02: f. (4 - 1) / 1.
		d = e.panel(t, "growth", "wow_growth")
		if v, ok := d.Value().(float64); !ok || !near(v, 3) ||
			get(t, d, d.Rows[0], "week") != lastWeek || get(t, d, d.Rows[0], "week_before") != "2026-03-02" {
			t.Errorf("week over week: %v %v", d.Columns, d.Rows)
		}
		// November 2025: j alone; February 6: (6/1)^(1/3) - 1.
		d = e.panel(t, "growth", "cmgr_3m")
		if v, ok := d.Value().(float64); !ok || !near(v, math.Cbrt(6)-1) ||
			get(t, d, d.Rows[0], "base_month") != "2025-11" || get(t, d, d.Rows[0], "active_base") != int64(1) {
			t.Errorf("CMGR 3 months: %v %v", d.Columns, d.Rows)
		}
		// August 2025: nobody yet. No base, no rate: NULL, shown as n/a.
		d = e.panel(t, "growth", "cmgr_6m")
		if v := d.Value(); v != nil || get(t, d, d.Rows[0], "active_base") != int64(0) {
			t.Errorf("CMGR 6 months with no base = %#v (%v), want NULL", v, d.Rows)
		}
		// b, c, d, e and k: last active 30 or more days before 03-15. l was
		// active 29 days before, i never, h after the as-of day.
		d = e.panel(t, "growth", "churned")
		if v := d.Value(); v != int64(5) || get(t, d, d.Rows[0], "as_of") != asOf {
			t.Errorf("churned = %#v as of %v, want 5 as of %s", v, get(t, d, d.Rows[0], "as_of"), asOf)
		}
		want := 0
		for id, last := range m.last {
			if last < start30d {
				want++
				if !strings.Contains("bcdek", id) {
					t.Errorf("model churned %s", id)
				}
			}
		}
		if want != 5 {
			t.Errorf("model: %d churned", want)
		}
	})

	t.Run("series", func(t *testing.T) {
		d := e.panel(t, "growth", "active_tenants")
		keys, vals := series(t, d, "day", "active_tenants")
		checkSeries(t, keys, vals, m.days, "2025-11-15", asOf, nextDay)
		if vals["2026-01-31"] != int64(2) || vals["2026-02-01"] != int64(1) || vals["2026-01-01"] != int64(0) {
			t.Errorf("month boundary days: %v %v %v", vals["2026-01-31"], vals["2026-02-01"], vals["2026-01-01"])
		}

		d = e.panel(t, "growth", "active_weekly")
		keys, vals = series(t, d, "week", "active_tenants")
		checkSeries(t, keys, vals, m.weeks, "2025-11-10", lastWeek, nextWeek)
		if vals[lastWeek] != int64(4) || vals["2026-01-26"] != int64(3) {
			t.Errorf("weeks: %v", vals)
		}

		d = e.panel(t, "growth", "active_monthly")
		keys, vals = series(t, d, "month", "active_tenants")
		checkSeries(t, keys, vals, m.months, "2025-11", lastMonth, nextMonth)
		if want := map[string]any{"2025-11": int64(1), "2025-12": int64(3), "2026-01": int64(5), "2026-02": int64(6)}; !reflect.DeepEqual(vals, want) {
			t.Errorf("months %v, want %v", vals, want)
		}

		// Signups by UTC week: e's Feb 1 01:00 at UTC+2 is Saturday Jan 31;
		// h signed up in the last complete week, so all 12 are counted.
		d = e.panel(t, "growth", "new_tenants")
		keys, vals = series(t, d, "week", "new_tenants")
		signups := map[string]map[string]bool{}
		total := int64(0)
		for _, s := range fleet {
			w := weekOf(utc(t, s.signup))
			if signups[w] == nil {
				signups[w] = map[string]bool{}
			}
			signups[w][s.id] = true
		}
		checkSeries(t, keys, vals, signups, "2025-11-10", lastWeek, nextWeek)
		for _, v := range vals {
			total += v.(int64)
		}
		if total != 12 || vals["2026-01-26"] != int64(2) {
			t.Errorf("signups: total %d, week of 01-26 %v (want e and f)", total, vals["2026-01-26"])
		}

		// Engagement churn rate: of the tenants active in the month before,
		// the share not active in the month, from the model. December: j
		// (1 of 1); January: c (1 of a, b, c); February: b, d, e (3 of 5).
		d = e.panel(t, "growth", "churn_rate_monthly")
		keys, vals = series(t, d, "month", "churn_rate")
		if want := calendar("2025-12", lastMonth, nextMonth); !reflect.DeepEqual(keys, want) {
			t.Errorf("churn rate months %v, want %v", keys, want)
		}
		for _, month := range keys {
			before := m.months[prevMonth(month)]
			lost := 0
			for id := range before {
				if !m.months[month][id] {
					lost++
				}
			}
			if v, ok := vals[month].(float64); !ok || !near(v, float64(lost)/float64(len(before))) {
				t.Errorf("churn rate %s = %#v, want %d/%d", month, vals[month], lost, len(before))
			}
		}
		if v := vals["2026-02"]; v != 0.6 {
			t.Errorf("February churn rate %v, want 3/5", v)
		}
		d = e.panel(t, "growth", "churn_rate")
		if v, ok := d.Value().(float64); !ok || !near(v, 0.6) || get(t, d, d.Rows[0], "lost") != int64(3) || get(t, d, d.Rows[0], "month") != lastMonth {
			t.Errorf("churn rate tile %v %v", d.Columns, d.Rows)
		}
		if h := d.Headline().String(); h != "February 2026: 60.0%" {
			t.Errorf("churn rate tile reads %q", h)
		}

		d = e.panel(t, "growth", "plans")
		_, vals = series(t, d, "plan", "tenants")
		if want := map[string]any{"free": int64(8), "team": int64(3), "business": int64(1)}; !reflect.DeepEqual(vals, want) {
			t.Errorf("plans %v, want %v", vals, want)
		}
	})
}

func TestRetention(t *testing.T) {
	e := buildFleet(t)
	d := e.panel(t, "retention", "cohorts")
	// One row per complete signup month; m0 is the signup month. nil: the
	// month is not complete yet. The March cohort (h) is left out.
	want := map[string][]any{
		"2025-11": {int64(1), 1.0, 0.0, 1.0, 1.0},    // j: back in January and February
		"2025-12": {int64(3), 1.0, 2 / 3.0, 1 / 3.0}, // a, b, c; c churns in its signup month
		"2026-01": {int64(2), 1.0, 0.0},              // d, e: no survivors
		"2026-02": {int64(5), 0.8},                   // f, g, k, l active; i never
	}
	if len(d.Rows) != len(want) {
		t.Fatalf("%d cohorts: %v", len(d.Rows), d.Rows)
	}
	for _, r := range d.Rows {
		cohort := get(t, d, r, "cohort").(string)
		w, ok := want[cohort]
		if !ok {
			t.Errorf("unexpected cohort %s", cohort)
			continue
		}
		if got := get(t, d, r, "tenants"); got != w[0] {
			t.Errorf("cohort %s: %v tenants, want %v", cohort, got, w[0])
		}
		for k := 0; k <= 17; k++ {
			got := get(t, d, r, "m"+strconv.Itoa(k))
			if k+1 < len(w) {
				if f, ok := got.(float64); !ok || !near(f, w[k+1].(float64)) {
					t.Errorf("cohort %s m%d = %#v, want %v", cohort, k, got, w[k+1])
				}
			} else if got != nil {
				t.Errorf("cohort %s m%d = %#v, want NULL (month not complete)", cohort, k, got)
			}
		}
	}
	checkRetentionWorkbook(t, e)

	// Tenants active k months after signup over the tenants of the cohorts
	// that have month k complete.
	d = e.panel(t, "retention", "curve")
	wantCurve := []struct {
		month            string
		retained         float64
		cohorts, tenants int64
	}{
		{"m0", 10 / 11.0, 4, 11},
		{"m1", 2 / 6.0, 3, 6},
		{"m2", 2 / 4.0, 2, 4},
		{"m3", 1.0, 1, 1},
	}
	if len(d.Rows) != len(wantCurve) {
		t.Fatalf("curve: %v", d.Rows)
	}
	for i, w := range wantCurve {
		r := d.Rows[i]
		if get(t, d, r, "month") != w.month || !near(get(t, d, r, "retained").(float64), w.retained) ||
			get(t, d, r, "cohorts") != w.cohorts || get(t, d, r, "tenants") != w.tenants {
			t.Errorf("curve row %d = %v, want %+v", i, r, w)
		}
	}
}

func TestUsage(t *testing.T) {
	e := buildFleet(t)

	// Per UTC day, from the specs: events, TODOs created and completed.
	type counts struct{ events, created, completed int64 }
	byDay := map[string]*counts{}
	perTenant := map[string]*counts{} // in the last 30 days
	activeDays := map[string]map[string]bool{}
	for _, s := range fleet {
		for _, ev := range s.events {
			day := dayOf(utc(t, ev.at))
			c := byDay[day]
			if c == nil {
				c = &counts{}
				byDay[day] = c
			}
			c.events++
			c.created += b2i(ev.kind == "todo_created")
			c.completed += b2i(ev.kind == "todo_completed")
			if day >= start30d && day <= asOf {
				if perTenant[s.id] == nil {
					perTenant[s.id] = &counts{}
					activeDays[s.id] = map[string]bool{}
				}
				perTenant[s.id].events++
				perTenant[s.id].created += b2i(ev.kind == "todo_created")
				activeDays[s.id][day] = true
			}
		}
	}

	d := e.panel(t, "usage", "activity")
	want := calendar("2025-11-15", asOf, nextDay)
	if len(d.Rows) != len(want) {
		t.Fatalf("activity: %d days, want %d", len(d.Rows), len(want))
	}
	var sum30 int64
	for i, r := range d.Rows {
		c := byDay[want[i]]
		if c == nil {
			c = &counts{}
		}
		got := counts{get(t, d, r, "events").(int64), get(t, d, r, "todos_created").(int64), get(t, d, r, "todos_completed").(int64)}
		if get(t, d, r, "day") != want[i] || got != *c {
			t.Errorf("activity row %v, want %s %+v", r, want[i], *c)
		}
		if want[i] >= start30d {
			sum30 += c.events
		}
	}
	if sum30 != 10 {
		t.Fatalf("model: %d events in the last 30 days, want 10", sum30)
	}
	if v := e.panel(t, "usage", "events_30d").Value(); v != int64(10) {
		t.Errorf("events in the last 30 days = %#v, want 10", v)
	}

	// a: 4 events on 3 days; f: 2; then one each, by tenant id.
	d = e.panel(t, "usage", "top_tenants")
	var ids []string
	for _, r := range d.Rows {
		id := get(t, d, r, "tenant_id").(string)
		ids = append(ids, id)
		c := perTenant[id]
		if get(t, d, r, "events_30d") != c.events || get(t, d, r, "todos_created_30d") != c.created ||
			get(t, d, r, "active_days_30d") != int64(len(activeDays[id])) || get(t, d, r, "name") != "Tenant "+strings.ToUpper(id) {
			t.Errorf("top tenant %v, want %+v on %d days", r, *c, len(activeDays[id]))
		}
	}
	if got := strings.Join(ids, ","); got != "a,f,g,h,j,l" {
		t.Errorf("top tenants %s, want a,f,g,h,j,l", got)
	}

	// Every file is small: one band holds all 13, the broken one included.
	var bytes int64
	files, _ := filepath.Glob(filepath.Join(e.dir, "*.db"))
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		bytes += fi.Size()
	}
	d = e.panel(t, "usage", "sizes")
	if len(d.Rows) != 1 || get(t, d, d.Rows[0], "band") != "< 64 kB" || get(t, d, d.Rows[0], "tenants") != int64(13) ||
		get(t, d, d.Rows[0], "bytes") != bytes {
		t.Errorf("sizes %v, want 13 tenants of %d bytes below 64 kB", d.Rows, bytes)
	}
	if v := e.panel(t, "usage", "fleet_bytes").Value(); v != bytes {
		t.Errorf("data on disk %#v, want %d", v, bytes)
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestFleetHealth(t *testing.T) {
	e := buildFleet(t)
	broken := filepath.Join(e.dir, "zz-broken.db")

	for id, want := range map[string]int64{"tenants": 13, "failed_count": 2, "lagging_count": 1} {
		if v := e.panel(t, "fleet", id).Value(); v != want {
			t.Errorf("%s = %#v, want %d", id, v, want)
		}
	}

	// c cannot run the two queries that need schema 3; the broken file
	// fails every query.
	d := e.panel(t, "fleet", "failed")
	queries := map[string][]string{}
	for _, r := range d.Rows {
		id, q, msg := get(t, d, r, "tenant_id").(string), get(t, d, r, "query").(string), get(t, d, r, "error").(string)
		queries[id] = append(queries[id], q)
		switch id {
		case "c":
			if !strings.Contains(msg, "no such column") {
				t.Errorf("c: %s: %s", q, msg)
			}
		case "zz-broken":
			if !strings.Contains(msg, "not a database") || get(t, d, r, "location") != broken {
				t.Errorf("zz-broken: %v", r)
			}
		}
	}
	all, err := filepath.Glob("../../queries/*.sql")
	if err != nil || len(all) == 0 {
		t.Fatal(all, err)
	}
	if got := strings.Join(queries["c"], ","); got != "completion_time,priorities" || len(queries["zz-broken"]) != len(all) || len(queries) != 2 {
		t.Errorf("failed: %v", queries)
	}

	d = e.panel(t, "fleet", "schema_lag")
	if len(d.Rows) != 1 {
		t.Fatalf("schema lag: %v", d.Rows)
	}
	r := d.Rows[0]
	if get(t, d, r, "tenant_id") != "c" || get(t, d, r, "schema_version") != int64(1) || get(t, d, r, "newest_version") != int64(3) ||
		get(t, d, r, "cannot_run") != "completion_time, priorities" || !strings.Contains(get(t, d, r, "error").(string), "no such column") ||
		get(t, d, r, "location") != filepath.Join(e.dir, "c.db") {
		t.Errorf("schema lag: %v %v", d.Columns, r)
	}

	_, vals := series(t, e.panel(t, "fleet", "schema_versions"), "schema_version", "tenants")
	if want := map[string]any{"1": int64(1), "3": int64(11)}; !reflect.DeepEqual(vals, want) {
		t.Errorf("schema versions %v, want %v", vals, want)
	}

	d = e.panel(t, "fleet", "largest")
	if len(d.Rows) != 13 {
		t.Fatalf("largest: %d rows", len(d.Rows))
	}
	for _, r := range d.Rows {
		if get(t, d, r, "tenant_id") == "a" {
			if get(t, d, r, "todos") != int64(3) || get(t, d, r, "events") != int64(7) || get(t, d, r, "members") != int64(1) ||
				get(t, d, r, "location") != filepath.Join(e.dir, "a.db") {
				t.Errorf("largest, a: %v %v", d.Columns, r)
			}
		}
	}

	// Never active first, then by last event in UTC: e (Jan 31 23:00 UTC)
	// before b (23:59:59). Days silent count to the as-of day, 0 at least.
	d = e.panel(t, "fleet", "silent")
	var got []string
	for _, r := range d.Rows {
		days := "-"
		if v := get(t, d, r, "days_silent"); v != nil {
			days = strconv.FormatInt(v.(int64), 10)
		}
		got = append(got, get(t, d, r, "tenant_id").(string)+":"+days)
	}
	if s := strings.Join(got, " "); s != "i:- c:75 d:54 e:43 b:43 k:30 l:29 j:16 g:6 f:1 a:0 h:0" {
		t.Errorf("silent: %s", s)
	}

	d = e.panel(t, "fleet", "runs")
	if len(d.Rows) != 1 || get(t, d, d.Rows[0], "tenants_ok") != int64(11) || get(t, d, d.Rows[0], "tenants_failed") != int64(2) {
		t.Errorf("runs: %v", d.Rows)
	}
}

// A product in its first weeks: one tenant, signed up in the last complete
// week. Every rate lacks a base and is NULL (n/a), never an error or an
// infinity; the tables and charts are empty or short, not broken.
func TestNoBase(t *testing.T) {
	e := newEnv(t)
	writeTenant(t, e.dir, spec{id: "new", plan: "free", signup: "2026-03-10 09:00:00", schema: 3,
		events: logins("2026-03-10 09:00:00", "2026-03-12 09:00:00", "2026-03-15 10:00:00")})
	e.run(t, runAt)

	for _, id := range []string{"mom_growth", "wow_growth", "cmgr_3m", "cmgr_6m"} {
		d := e.panel(t, "growth", id)
		if len(d.Rows) != 1 || d.Value() != nil {
			t.Errorf("%s: %v %v, want one row with NULL", id, d.Columns, d.Rows)
		}
	}
	d := e.panel(t, "growth", "wow_growth")
	if get(t, d, d.Rows[0], "active") != int64(1) || get(t, d, d.Rows[0], "active_before") != int64(0) {
		t.Errorf("week over week: %v", d.Rows)
	}
	for id, want := range map[string]any{"tenants": int64(1), "active_month": int64(0), "churned": int64(0)} {
		if v := e.panel(t, "growth", id).Value(); v != want {
			t.Errorf("%s = %#v, want %v", id, v, want)
		}
	}
	_, vals := series(t, e.panel(t, "growth", "active_weekly"), "week", "active_tenants")
	if !reflect.DeepEqual(vals, map[string]any{lastWeek: int64(1)}) {
		t.Errorf("weekly: %v", vals)
	}
	// March is not complete: no month, no cohort yet.
	for _, p := range [][2]string{{"growth", "active_monthly"}, {"growth", "churn_rate_monthly"}, {"retention", "cohorts"}, {"retention", "curve"}} {
		if d := e.panel(t, p[0], p[1]); len(d.Rows) != 0 {
			t.Errorf("%s/%s: %v, want no rows", p[0], p[1], d.Rows)
		}
	}
}

// The retention triangle's Excel sheet is what an analyst pastes into a
// deck: shares are numbers formatted as percentages, months not complete yet
// are empty cells.
func checkRetentionWorkbook(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	fresh, err := report.LoadFreshness(ctx, e.mdb, runAt)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := export.XLSX(&buf, report.Find(e.reports, "retention"), e.runner, fresh, runAt); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const sheet = "Engagement retention by cohort"
	rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || strings.Join(rows[0][:4], ",") != "Signed up,Tenants,m0,m1" {
		t.Fatalf("sheet rows %v", rows)
	}
	// Row 3 is cohort 2025-12: m1 (D3) is 2/3; m3 (F3) is not complete.
	if v, err := strconv.ParseFloat(rows[2][3], 64); err != nil || !near(v, 2/3.0) {
		t.Errorf("D3 = %q, want 0.666…", rows[2][3])
	}
	if len(rows[2]) > 5 && rows[2][5] != "" {
		t.Errorf("F3 = %q, want empty", rows[2][5])
	}
	id, err := f.GetCellStyle(sheet, "D3")
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.GetStyle(id)
	if err != nil || st.CustomNumFmt == nil || *st.CustomNumFmt != "0.0%" {
		t.Errorf("D3 style %+v, want the 0.0%% number format", st)
	}
}
