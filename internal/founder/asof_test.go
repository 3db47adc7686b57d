package founder

import (
	"math"
	"testing"
	"time"
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
