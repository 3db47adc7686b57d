package report

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/attache/attache/internal/human"

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
	// Scoped is set when Failed counts only the tenants that failed the
	// queries one report reads (see LoadReportFreshness).
	Scoped bool
	Failed int
	// Stale counts remote tenants whose sync failed: their older replica's
	// rows are shown, so they are neither fresh nor failed.
	Stale int
	// DataEnds is the data's newest day (YYYY-MM-DD) by the report's
	// data_ends SQL; "" when the report has none. DataEndsErr says why it
	// could not be read.
	DataEnds    string
	DataEndsErr string
}

// StaleDataDays is how many days the data's newest day may lag the day of
// the last run before every report says so: a fleet whose data stopped
// shows an old "last month" under a fresh run, and must not look current.
const StaleDataDays = 3

// DataStale reports whether the data's newest day is more than
// StaleDataDays before the day the last run started (UTC).
func (f *Freshness) DataStale() bool {
	return f.dataLagDays() > StaleDataDays
}

// dataLagDays is the days from the data's newest day to the last run's
// day, 0 when either is unknown.
func (f *Freshness) dataLagDays() int {
	if f == nil || f.Run == nil || len(f.DataEnds) < 10 {
		return 0
	}
	end, err := time.Parse("2006-01-02", f.DataEnds[:10])
	if err != nil {
		return 0
	}
	run := f.Run.StartedAt.UTC().Truncate(24 * time.Hour)
	return int(run.Sub(end) / (24 * time.Hour))
}

// rollupRef finds the rollup tables a panel's SQL reads.
var rollupRef = regexp.MustCompile(`(?i)\brollup_([A-Za-z0-9_]+)`)

// Queries lists the queries whose rollups the report's panels read.
func (r *Report) Queries() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range r.Panels {
		for _, m := range rollupRef.FindAllStringSubmatch(p.SQL, -1) {
			if name := strings.ToLower(m[1]); !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// LoadReportFreshness is LoadFreshness with coverage scoped to rep: a tenant
// that failed only a query rep does not read (an old schema without the
// column one other report needs) still counts as covered, so one lagging
// query does not make every report, and every digest, look incomplete.
// A report that reads no rollup keeps the whole run's figures.
func LoadReportFreshness(ctx context.Context, mdb *metrics.DB, now time.Time, rep *Report) (*Freshness, error) {
	f, err := LoadFreshness(ctx, mdb, now)
	if err != nil || f.Run == nil || rep == nil {
		return f, err
	}
	if rep.DataEnds != "" {
		// The report's own one-value query on the read-only pool
		// (query_only), like the freshness figures themselves.
		var v any
		if err := mdb.R.QueryRowContext(ctx, rep.DataEnds).Scan(&v); err != nil {
			f.DataEndsErr = sqlite.Message(err)
		} else if s := Text(v); len(s) >= 10 {
			if _, err := time.Parse("2006-01-02", s[:10]); err == nil {
				f.DataEnds = s[:10]
			} else {
				f.DataEndsErr = fmt.Sprintf("data_ends gave %q, not a day (YYYY-MM-DD)", s)
			}
		}
	}
	qs := rep.Queries()
	if len(qs) == 0 {
		return f, nil
	}
	args := []any{f.Run.ID}
	for _, q := range qs {
		args = append(args, q)
	}
	stmt := "SELECT count(DISTINCT tenant_id) FROM tenant_errors WHERE run_id = ? AND lower(query) IN (" + strings.TrimSuffix(strings.Repeat("?,", len(qs)), ",") + ")"
	if err := mdb.R.QueryRowContext(ctx, stmt, args...).Scan(&f.Failed); err != nil {
		return nil, fmt.Errorf("freshness: %w", sqlite.Wrap(err))
	}
	// Stale for this report: a failed sync, and no failure of its queries.
	stale := "SELECT count(DISTINCT tenant_id) FROM tenant_errors WHERE run_id = ?1 AND query = '(sync)' AND tenant_id NOT IN (SELECT tenant_id FROM tenant_errors WHERE run_id = ?1 AND lower(query) IN (" + strings.TrimSuffix(strings.Repeat("?,", len(qs)), ",") + "))"
	if err := mdb.R.QueryRowContext(ctx, stale, args...).Scan(&f.Stale); err != nil {
		return nil, fmt.Errorf("freshness: %w", sqlite.Wrap(err))
	}
	f.Scoped = true
	return f, nil
}

// FailedTenants is how many tenants lack data: for the report when scoped,
// else for the whole run.
func (f *Freshness) FailedTenants() int {
	if f.Scoped {
		return f.Failed
	}
	return f.Run.TenantsFailed
}

// LoadFreshness reads the last runs and the fleet size from the metrics DB.
func LoadFreshness(ctx context.Context, mdb *metrics.DB, now time.Time) (*Freshness, error) {
	f := &Freshness{}
	run, err := mdb.LastRun(ctx)
	if errors.Is(err, metrics.ErrNotFound) {
		run, err = nil, nil // no run yet: the freshness says so
	}
	if err != nil {
		return nil, fmt.Errorf("freshness: %w", err)
	}
	f.Run = run
	if run != nil {
		f.Stale = run.TenantsStale
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
		return nil, fmt.Errorf("freshness: tenants: %w", sqlite.Wrap(err))
	}
	return f, nil
}

// Read is how many tenants the last run has data for: read ok now, or
// unchanged since a good read.
func (f *Freshness) Read() int {
	if f == nil || f.Run == nil {
		return 0
	}
	return f.Run.TenantsTotal - f.FailedTenants() - f.Stale
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

// String is the one line shown beside every report on a live page:
// "as of run 42, 14 minutes ago · 9,970 of 10,000 tenants · 30 failed".
func (f *Freshness) String() string {
	if f == nil || f.Run == nil {
		return f.line("")
	}
	return f.line(fmt.Sprintf("as of run %d, %s", f.Run.ID, human.Ago(f.Age)))
}

// Stamp is the line for a file or an email, read later, when "ago" would be
// wrong: "as of run 42, finished 2026-12-02 15:37 UTC (16:37 CET) · 9,970
// of 10,000 tenants · 30 failed".
func (f *Freshness) Stamp(loc *time.Location) string {
	if f == nil || f.Run == nil {
		return f.line("")
	}
	end := f.Run.FinishedAt
	if end.IsZero() {
		end = f.Run.StartedAt
	}
	return f.line(fmt.Sprintf("as of run %d, finished %s", f.Run.ID, human.When(end, loc)))
}

func (f *Freshness) line(when string) string {
	if f == nil || f.Run == nil {
		s := "no run yet; run `attache run` to fill the metrics DB"
		if f != nil && f.Latest != nil {
			s = fmt.Sprintf("no finished run yet (run %d %s)", f.Latest.ID, f.Latest.Status)
		}
		return s
	}
	r := f.Run
	var parts []string
	if f.DataStale() {
		// First, as a banner: the numbers stop at this day.
		parts = append(parts, fmt.Sprintf("data ends %s, %d days before run %d", f.DataEnds, f.dataLagDays(), r.ID))
	} else if f.DataEndsErr != "" {
		parts = append(parts, "newest data day unknown: "+f.DataEndsErr)
	}
	parts = append(parts,
		when,
		fmt.Sprintf("%s of %s tenants", human.Count(int64(f.Read())), human.Count(int64(r.TenantsTotal))))
	if n := f.FailedTenants(); n > 0 {
		parts = append(parts, fmt.Sprintf("%s failed", human.Count(int64(n))))
	}
	if f.Stale > 0 {
		parts = append(parts, fmt.Sprintf("%s stale", human.Count(int64(f.Stale))))
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
