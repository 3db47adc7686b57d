package rollup

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/query"
	"github.com/attache/attache/internal/sqlite"
	"github.com/attache/attache/internal/tenant"
)

// Finding is one tenant that cannot run one query, and why.
type Finding struct {
	Query  string
	Tenant string
	Error  string
}

// CheckReport is what `attache check` found.
type CheckReport struct {
	Queries []*query.Query // the queries that can run
	Broken  []*QueryError  // the queries that cannot run at all
	// Findings are tenants that cannot run a query: the first keepFindings
	// found, sorted by query and tenant. Every finding is counted in Counts
	// and saved in the metrics DB's check_findings.
	Findings []Finding
	Counts   map[string]int // findings per query, all of them
	Total    int            // tenants in the fleet
}

// FindingCount is how many findings the check made, kept or not.
func (r *CheckReport) FindingCount() int {
	n := 0
	for _, c := range r.Counts {
		n += c
	}
	return n
}

// checkLimits bound what Check holds, whatever the fleet's size: the
// tenants handed to one round of worker processes, and the findings kept
// for the report.
type checkLimits struct{ chunk, keep int }

var defaultCheckLimits = checkLimits{chunk: 10000, keep: 10000}

// Check compiles every query against every tenant (EXPLAIN: nothing is
// computed or written) and returns the queries that cannot run at all
// (beside broken, those whose files did not parse) and the tenants that
// cannot run a query, for example because their schema lags. Findings
// replace the previous check's in the metrics DB, where the fleet health
// report reads them.
//
// The fleet is listed a page at a time and checked in chunks, so a million
// tenants cost no more memory than a chunk of them; the progress total is
// the tenants listed so far (the whole fleet, up to a chunk's size).
func Check(ctx context.Context, cfg *config.Config, mdb *metrics.DB, queries []*query.Query, broken []*QueryError, progress func(int, int), log *slog.Logger) (*CheckReport, error) {
	return check(ctx, cfg, mdb, queries, broken, progress, log, defaultCheckLimits)
}

func check(ctx context.Context, cfg *config.Config, mdb *metrics.DB, queries []*query.Query, broken []*QueryError, progress func(int, int), log *slog.Logger, lim checkLimits) (*CheckReport, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if progress == nil {
		progress = func(int, int) {}
	}
	// Vetting reads as few tenants as it needs (usually one).
	vetSrc := fleetSource(ctx, cfg)
	defer vetSrc.stop()
	queries, refused, err := vetSrc.vet(ctx, queries)
	if err != nil {
		return nil, err
	}
	rep := &CheckReport{Queries: queries, Broken: append(append([]*QueryError{}, broken...), refused...), Counts: map[string]int{}}
	sort.Slice(rep.Broken, func(i, j int) bool { return rep.Broken[i].Query < rep.Broken[j].Query })

	// Every finding goes to a temp table of the metrics connection, which
	// replaces check_findings at the end in one transaction.
	var conn *sql.Conn
	if mdb != nil {
		if conn, err = mdb.W.Conn(ctx); err != nil {
			return nil, fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
		}
		defer conn.Close()
		conn.ExecContext(ctx, "DROP TABLE IF EXISTS temp.check_found")
		if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE check_found (tenant_id TEXT NOT NULL, query TEXT NOT NULL, error TEXT NOT NULL)"); err != nil {
			return nil, fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS temp.check_found")
	}
	found := func(fs []Finding) error {
		for _, f := range fs {
			rep.Counts[f.Query]++
			if len(rep.Findings) < lim.keep {
				rep.Findings = append(rep.Findings, f)
			}
		}
		if conn == nil || len(fs) == 0 {
			return nil
		}
		rows := make([][]any, len(fs))
		for i, f := range fs {
			rows[i] = []any{f.Tenant, f.Query, f.Error}
		}
		if err := metrics.InsertMany(ctx, conn, "temp.check_found", []string{"tenant_id", "query", "error"}, rows); err != nil {
			return fmt.Errorf("save check findings: %w", err)
		}
		return nil
	}

	var chunk []batchTenant
	done := 0
	flush := func() error {
		if len(chunk) == 0 || len(queries) == 0 {
			done += len(chunk)
			chunk = chunk[:0]
			return nil
		}
		f := newMemFeed(chunk)
		before, total := done, rep.Total
		if _, err := dispatch(ctx, cfg, queries, f, len(chunk), "", true, func(d, _ int) { progress(before+d, total) }, log); err != nil {
			return err
		}
		fs := make([]Finding, len(f.final))
		for i, x := range f.final {
			fs[i] = Finding{Query: x.Query, Tenant: x.Tenant, Error: x.Error}
		}
		done += len(chunk)
		chunk = nil // the feed holds the old one
		return found(fs)
	}
	err = tenant.Each(ctx, cfg.Tenants, listPage, func(page []tenant.Tenant) error {
		rep.Total += len(page)
		var missing []Finding
		for _, t := range page {
			if t.Missing {
				done++
				for _, q := range queries {
					missing = append(missing, Finding{Query: q.Name, Tenant: t.ID, Error: t.MissingReason()})
				}
				continue
			}
			chunk = append(chunk, batchTenant{ID: t.ID, Path: t.Path, Size: t.Size, Key: tenantKey(cfg, t)})
		}
		if err := found(missing); err != nil {
			return err
		}
		if len(chunk) >= lim.chunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, err
	}
	progress(rep.Total, rep.Total)
	sort.Slice(rep.Findings, func(i, j int) bool {
		if rep.Findings[i].Query != rep.Findings[j].Query {
			return rep.Findings[i].Query < rep.Findings[j].Query
		}
		return rep.Findings[i].Tenant < rep.Findings[j].Tenant
	})
	if conn != nil {
		if err := saveFindings(ctx, conn); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// saveFindings replaces check_findings with what check_found holds.
func saveFindings(ctx context.Context, conn *sql.Conn) error {
	now := metrics.Format(time.Now())
	return metrics.InTx(ctx, conn, func() error {
		if _, err := conn.ExecContext(ctx, "DELETE FROM check_findings"); err != nil {
			return fmt.Errorf("save check findings: %w", sqlite.Wrap(err))
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO check_findings (checked_at, tenant_id, query, error) SELECT ?, tenant_id, query, error FROM temp.check_found ORDER BY query, tenant_id", now); err != nil {
			return fmt.Errorf("save check findings: %w", sqlite.Wrap(err))
		}
		return nil
	})
}
