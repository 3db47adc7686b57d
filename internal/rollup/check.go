package rollup

import (
	"context"
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
	Queries  []*query.Query // the queries that can run
	Broken   []*QueryError  // the queries that cannot run at all
	Findings []Finding      // tenants that cannot run a query
	Total    int            // tenants in the fleet
}

// Check compiles every query against every tenant (EXPLAIN: nothing is
// computed or written) and returns the queries that cannot run at all
// (beside broken, those whose files did not parse) and the tenants that
// cannot run a query, for example because their schema lags. Findings
// replace the previous check's in the metrics DB, where the fleet health
// report reads them.
func Check(ctx context.Context, cfg *config.Config, mdb *metrics.DB, queries []*query.Query, broken []*QueryError, progress func(int, int), log *slog.Logger) (*CheckReport, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fleet, err := tenant.List(ctx, cfg.Tenants)
	if err != nil {
		return nil, err
	}
	queries, refused, err := vet(ctx, queries, fleet)
	if err != nil {
		return nil, err
	}
	rep := &CheckReport{Queries: queries, Broken: append(append([]*QueryError{}, broken...), refused...), Total: len(fleet)}
	sort.Slice(rep.Broken, func(i, j int) bool { return rep.Broken[i].Query < rep.Broken[j].Query })
	var present []batchTenant
	var findings []Finding
	for _, t := range fleet {
		if t.Missing {
			for _, q := range queries {
				findings = append(findings, Finding{Query: q.Name, Tenant: t.ID, Error: t.MissingReason()})
			}
			continue
		}
		present = append(present, batchTenant{ID: t.ID, Path: t.Path, Size: t.Size, Key: tenantKey(cfg, t)})
	}
	if len(present) > 0 && len(queries) > 0 {
		f := newMemFeed(present)
		if _, err := dispatch(ctx, cfg, queries, f, len(present), "", true, progress, log); err != nil {
			return nil, err
		}
		for _, f := range f.final {
			findings = append(findings, Finding{Query: f.Query, Tenant: f.Tenant, Error: f.Error})
		}
	}
	sort.Slice(findings, func(i, j int) bool {
		if findings[i].Query != findings[j].Query {
			return findings[i].Query < findings[j].Query
		}
		return findings[i].Tenant < findings[j].Tenant
	})
	rep.Findings = findings
	if mdb != nil {
		if err := saveFindings(ctx, mdb, findings); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func saveFindings(ctx context.Context, mdb *metrics.DB, findings []Finding) error {
	conn, err := mdb.W.Conn(ctx)
	if err != nil {
		return fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
	}
	defer conn.Close()
	now := metrics.Format(time.Now())
	return metrics.InTx(ctx, conn, func() error {
		if _, err := conn.ExecContext(ctx, "DELETE FROM check_findings"); err != nil {
			return fmt.Errorf("save check findings: %w", sqlite.Wrap(err))
		}
		rows := make([][]any, len(findings))
		for i, f := range findings {
			rows[i] = []any{now, f.Tenant, f.Query, f.Error}
		}
		return metrics.InsertMany(ctx, conn, "check_findings", []string{"checked_at", "tenant_id", "query", "error"}, rows)
	})
}
