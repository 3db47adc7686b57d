package schedule

import (
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/attache/attache/internal/config"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustParse(t *testing.T, spec string, loc *time.Location) cron.Schedule {
	t.Helper()
	s, err := Parse(spec, loc)
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	return s
}

// activations lists n activations after from, as wall-clock strings.
func activations(s cron.Schedule, from time.Time, n int) []string {
	var out []string
	t := from
	for range n {
		t = s.Next(t)
		out = append(out, t.Format("2006-01-02 15:04 MST"))
	}
	return out
}

func TestSpringForward(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	ny := mustLoad(t, "America/New_York")
	cases := []struct {
		name string
		spec string
		loc  *time.Location
		from time.Time
		want []string
	}{
		{
			// 2027-03-28: clocks go from 02:00 CET to 03:00 CEST.
			name: "berlin daily inside the gap",
			spec: "30 2 * * *", loc: berlin,
			from: time.Date(2027, 3, 26, 12, 0, 0, 0, berlin),
			want: []string{"2027-03-27 02:30 CET", "2027-03-28 03:00 CEST", "2027-03-29 02:30 CEST"},
		},
		{
			name: "berlin at the start of the gap",
			spec: "0 2 * * *", loc: berlin,
			from: time.Date(2027, 3, 27, 12, 0, 0, 0, berlin),
			want: []string{"2027-03-28 03:00 CEST", "2027-03-29 02:00 CEST"},
		},
		{
			name: "berlin weekly on the changeover Sunday",
			spec: "45 2 * * SUN", loc: berlin,
			from: time.Date(2027, 3, 20, 0, 0, 0, 0, berlin),
			want: []string{"2027-03-21 02:45 CET", "2027-03-28 03:00 CEST", "2027-04-04 02:45 CEST"},
		},
		{
			// 2027-03-14: clocks go from 02:00 EST to 03:00 EDT.
			name: "new york daily inside the gap",
			spec: "30 2 * * *", loc: ny,
			from: time.Date(2027, 3, 13, 12, 0, 0, 0, ny),
			want: []string{"2027-03-14 03:00 EDT", "2027-03-15 02:30 EDT"},
		},
		{
			name: "outside the gap is untouched",
			spec: "30 3 * * *", loc: berlin,
			from: time.Date(2027, 3, 27, 12, 0, 0, 0, berlin),
			want: []string{"2027-03-28 03:30 CEST", "2027-03-29 03:30 CEST"},
		},
		{
			// A wildcard hour follows real time, as in Vixie cron: no
			// extra run at 03:00 between 01:30 and 03:30.
			name: "hourly at half past keeps real time",
			spec: "30 * * * *", loc: berlin,
			from: time.Date(2027, 3, 28, 1, 0, 0, 0, berlin),
			want: []string{"2027-03-28 01:30 CET", "2027-03-28 03:30 CEST", "2027-03-28 04:30 CEST"},
		},
		{
			name: "@hourly",
			spec: "@hourly", loc: berlin,
			from: time.Date(2027, 3, 28, 1, 30, 0, 0, berlin),
			want: []string{"2027-03-28 03:00 CEST", "2027-03-28 04:00 CEST"},
		},
		{
			name: "CRON_TZ in the spec wins over the config's zone",
			spec: "CRON_TZ=America/New_York 30 2 * * *", loc: berlin,
			from: time.Date(2027, 3, 13, 12, 0, 0, 0, ny),
			want: []string{"2027-03-14 03:00 EDT", "2027-03-15 02:30 EDT"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.spec, c.loc)
			got := activations(s, c.from, len(c.want))
			if strings.Join(got, " | ") != strings.Join(c.want, " | ") {
				t.Errorf("activations\n got %v\nwant %v", got, c.want)
			}
		})
	}
}

// The library as shipped skips the day entirely; this is the bug DST fixes.
func TestLibrarySkipsTheGapDay(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	raw, err := cron.ParseStandard("30 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	got := activations(raw, time.Date(2027, 3, 27, 12, 0, 0, 0, berlin), 1)
	if got[0] != "2027-03-29 02:30 CEST" {
		t.Skipf("robfig/cron no longer skips the gap day (got %s); DST may be unnecessary", got[0])
	}
}

func TestFallBackRunsOnce(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	// 2027-10-31: clocks go from 03:00 CEST back to 02:00 CET.
	s := mustParse(t, "30 2 * * *", berlin)
	got := activations(s, time.Date(2027, 10, 30, 12, 0, 0, 0, berlin), 2)
	want := []string{"2027-10-31 02:30 CEST", "2027-11-01 02:30 CET"}
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Errorf("got %v, want %v", got, want)
	}
	// Every 15 minutes follows real time through the repeated hour.
	q := mustParse(t, "*/15 * * * *", berlin)
	// From 02:50 CEST (00:50 UTC; time.Date may pick either 02:50):
	// ten minutes later it is 02:00 CET.
	got = activations(q, time.Date(2027, 10, 31, 0, 50, 0, 0, time.UTC), 3)
	want = []string{"2027-10-31 02:00 CET", "2027-10-31 02:15 CET", "2027-10-31 02:30 CET"}
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Errorf("*/15 got %v, want %v", got, want)
	}
}

func TestBadSpecs(t *testing.T) {
	for _, spec := range []string{
		"", "   ", "CRON_TZ=", "TZ=", "CRON_TZ=Europe/Berlin", "CRON_TZ= 0 8 * * *", "CRON_TZ=\t0 8 * * *",
		"CRON_TZ=Nowhere/City 0 8 * * *", "CRON_TZ=Europe/Berlin\t", "TZ=UTC",
		"0 8 * *", "0 8 * * * * *", "61 8 * * *", "0 24 * * *", "*/0 * * * *", "0 8 * * MON-", "0 8 * * FUNDAY",
		"@every", "@every -5m", "@every 0s", "@every 500ms", "@every soon", "@fortnightly",
		"0 0 30 2 *", "0 0 31 4,6,9,11 *",
	} {
		if _, err := Parse(spec, time.UTC); err == nil {
			t.Errorf("Parse(%q) = nil error, want one", spec)
		}
	}
	for _, spec := range []string{"@hourly", "@daily", "@every 15m", "0 8 * * MON", "0 0 29 2 *", "CRON_TZ=Asia/Tokyo 0 9 * * *"} {
		if _, err := Parse(spec, time.UTC); err != nil {
			t.Errorf("Parse(%q): %v", spec, err)
		}
	}
}

// config.Validate turns every spec the parser would panic on into an error
// that names the job, so `attache serve` never starts with one.
func TestConfigNamesTheJob(t *testing.T) {
	for _, spec := range []string{"CRON_TZ=", "CRON_TZ=Europe/Berlin", "TZ=", "CRON_TZ= 0 8 * * *", "0 8 * *", "*/0 * * * *"} {
		y := "tenants: {dir: x}\njobs:\n  - name: nightly-rollup\n    schedule: \"" + spec + "\"\n"
		_, err := config.Parse([]byte(y), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "nightly-rollup") || !strings.Contains(err.Error(), "jobs[0].schedule") {
			t.Errorf("schedule %q: config error %v, want one naming the job", spec, err)
		}
	}
}

// FuzzParse checks that no spec panics the parser or a first Next.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"CRON_TZ=", "TZ=UTC 0 8 * * *", "@every 1h", "0 0 30 2 *", "*/5 1-3 * * MON-FRI"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec, time.UTC)
		if err == nil {
			s.Next(time.Date(2027, 3, 28, 0, 0, 0, 0, time.UTC))
		}
	})
}

func TestStale(t *testing.T) {
	utc := time.UTC
	daily := mustParse(t, "0 8 * * *", utc)
	last := time.Date(2026, 11, 2, 8, 5, 0, 0, utc) // Monday's run finished
	cases := []struct {
		now  time.Time
		want bool
	}{
		{time.Date(2026, 11, 4, 9, 0, 0, 0, utc), false},  // two ticks missed
		{time.Date(2026, 11, 5, 8, 10, 0, 0, utc), false}, // third tick may still be running
		{time.Date(2026, 11, 5, 9, 1, 0, 0, utc), true},   // third tick plus an hour
	}
	for _, c := range cases {
		if got := Stale(daily, last, c.now); got != c.want {
			t.Errorf("daily, last ok %s, now %s: stale %v, want %v", last, c.now, got, c.want)
		}
	}
	// Weekdays only: Friday's success is not stale on Monday evening.
	weekdays := mustParse(t, "0 8 * * MON-FRI", utc)
	fri := time.Date(2026, 11, 6, 8, 5, 0, 0, utc)
	if Stale(weekdays, fri, time.Date(2026, 11, 9, 20, 0, 0, 0, utc)) {
		t.Error("weekday job stale on Monday after a good Friday")
	}
	if !Stale(weekdays, fri, time.Date(2026, 11, 11, 10, 0, 0, 0, utc)) {
		t.Error("weekday job not stale after Mon, Tue, Wed missed")
	}
	every := mustParse(t, "@every 10s", utc)
	if Stale(every, last, last.Add(30*time.Second)) || !Stale(every, last, last.Add(36*time.Second)) {
		t.Error("@every 10s: stale only after 3 intervals and a grace")
	}
	if Stale(every, time.Time{}, last) {
		t.Error("no base time is never stale")
	}
}

func TestPeriod(t *testing.T) {
	at := time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)
	for spec, want := range map[string]time.Duration{
		"@hourly": time.Hour, "0 8 * * *": 24 * time.Hour, "0 8 * * MON": 7 * 24 * time.Hour,
		"0 8 * * MON-FRI": 24 * time.Hour, "@every 15m": 15 * time.Minute,
	} {
		if got := Period(mustParse(t, spec, time.UTC), at); got != want {
			t.Errorf("Period(%q) = %s, want %s", spec, got, want)
		}
	}
	if got := Period(mustParse(t, "0 8 1 * *", time.UTC), at); got < 28*24*time.Hour || got > 31*24*time.Hour {
		t.Errorf("monthly period %s", got)
	}
}
