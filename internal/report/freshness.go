package report

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/sqlite"
)

// Freshness says how old the data behind a report is and how much of the
// fleet it covers, so a number is never silently low because tenants were
// missing. Pages, exports and digests all show it.
type Freshness struct {
	Run          *metrics.Run  // the last finished run (the data is as of it); nil when none
	Age          time.Duration // since Run finished
	Latest       *metrics.Run  // the newest run of any status: running, failed or interrupted ones show here
	TenantsKnown int           // rows of the tenants table: every tenant ever seen
}

// LoadFreshness reads the last runs and the fleet size from the metrics DB.
func LoadFreshness(ctx context.Context, mdb *metrics.DB, now time.Time) (*Freshness, error) {
	f := &Freshness{}
	run, err := mdb.LastRun(ctx)
	if err != nil {
		return nil, fmt.Errorf("freshness: %w", err)
	}
	f.Run = run
	if run != nil {
		end := run.FinishedAt
		if end.IsZero() {
			end = run.StartedAt
		}
		if f.Age = now.Sub(end); f.Age < 0 {
			f.Age = 0
		}
	}
	latest, err := mdb.Runs(ctx, "", 1)
	if err != nil {
		return nil, fmt.Errorf("freshness: %w", err)
	}
	if len(latest) > 0 {
		f.Latest = &latest[0]
	}
	if err := mdb.R.QueryRowContext(ctx, "SELECT count(*) FROM tenants").Scan(&f.TenantsKnown); err != nil {
		return nil, fmt.Errorf("freshness: tenants: %s", sqlite.Message(err))
	}
	return f, nil
}

// Read is how many tenants the last run has data for: read ok now, or
// unchanged since a good read.
func (f *Freshness) Read() int {
	if f == nil || f.Run == nil {
		return 0
	}
	return f.Run.TenantsOK + f.Run.TenantsUnchanged
}

// Coverage is Read as a share of the fleet the last run saw (0 with no run,
// 1 for an empty fleet).
func (f *Freshness) Coverage() float64 {
	if f == nil || f.Run == nil {
		return 0
	}
	if f.Run.TenantsTotal == 0 {
		return 1
	}
	return float64(f.Read()) / float64(f.Run.TenantsTotal)
}

// String is the one line shown beside every report:
// "as of run 42, 14 minutes ago · 9,970 of 10,000 tenants · 30 failed".
func (f *Freshness) String() string {
	if f == nil || f.Run == nil {
		s := "no run yet; run `attache run` to fill the metrics DB"
		if f != nil && f.Latest != nil {
			s = fmt.Sprintf("no finished run yet (run %d %s)", f.Latest.ID, f.Latest.Status)
		}
		return s
	}
	r := f.Run
	parts := []string{
		fmt.Sprintf("as of run %d, %s", r.ID, Ago(f.Age)),
		fmt.Sprintf("%s of %s tenants", Thousands(int64(f.Read())), Thousands(int64(r.TenantsTotal))),
	}
	if r.TenantsFailed > 0 {
		parts = append(parts, fmt.Sprintf("%s failed", Thousands(int64(r.TenantsFailed))))
	}
	if l := f.Latest; l != nil && l.ID > r.ID {
		switch l.Status {
		case "running":
			parts = append(parts, fmt.Sprintf("run %d in progress", l.ID))
		default:
			parts = append(parts, fmt.Sprintf("newer run %d %s", l.ID, l.Status))
		}
	}
	return strings.Join(parts, " · ")
}

// Ago says how long ago in words: "just now", "14 minutes ago", "3 days ago".
func Ago(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, one)
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return unit(int64(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return unit(int64(d/time.Hour), "hour")
	}
	return unit(int64(d/(24*time.Hour)), "day")
}
