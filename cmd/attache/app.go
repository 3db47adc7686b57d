package main

import (
	"context"
	"log/slog"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/digest"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/privacy"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/sandbox"
)

// pools are the query children every command draws on. They are built here
// and nowhere else, so one kind of work has one timeout whichever command
// does it: what someone watches on a page (panels, the query page, a digest
// preview) gets query_timeout; whole tables (exports, workbooks, the digest
// that attaches one) get export_timeout.
type pools struct {
	// Panels runs report panels for a page or a check: query_timeout.
	Panels *report.Runner
	// Exports runs whole tables, workbooks and digests: export_timeout.
	Exports *report.Runner
	// Adhoc runs ad-hoc cross-tenant queries: query_timeout and
	// result_max_mb, in children of its own so a slow one never holds up
	// a chart.
	Adhoc *sandbox.Runner

	all []*sandbox.Runner
}

// newPools builds the pools; serving sizes them for a dashboard's
// concurrent pages, otherwise for one command at a terminal. Children start
// only when first used.
func newPools(cfg *config.Config, serving bool) *pools {
	panels, adhoc, exports := 2, 1, 2
	if serving {
		panels, adhoc = 4, 2
	}
	p := &pools{}
	sb := func(size int, timeout config.Duration, key string) *sandbox.Runner {
		r := sandbox.NewRunner(size, timeout.D(), cfg.BusyTimeout.D())
		r.Memory, r.TimeoutKey = int64(cfg.SandboxMemMB)<<20, key
		p.all = append(p.all, r)
		return r
	}
	p.Panels = report.NewRunner(sb(panels, cfg.QueryTimeout, "query_timeout"), cfg.Metrics, cfg.RowLimit)
	p.Exports = report.NewRunner(sb(exports, cfg.ExportTimeout, "export_timeout"), cfg.Metrics, cfg.RowLimit)
	p.Adhoc = sb(adhoc, cfg.QueryTimeout, "query_timeout")
	p.Adhoc.MaxBytes = int64(cfg.ResultMaxMB) << 20
	return p
}

// children is the most query children the pools can run at once: each
// pool's size, and as many export streams.
func (p *pools) children() int {
	n := 0
	for _, r := range p.all {
		n += 2 * r.Size
	}
	return n
}

// Close ends every idle child.
func (p *pools) Close() {
	for _, r := range p.all {
		r.Close()
	}
}

// digestDeps is what building and sending a digest needs, the same for the
// scheduler and `attache digest`: the workbook it attaches is built under
// export_timeout, and a digest to an aggregate audience goes out without
// individual tenants.
func digestDeps(cfg *config.Config, mdb *metrics.DB, p *pools, log *slog.Logger) (digest.Deps, error) {
	audience, err := privacy.Digests(cfg, mdb.R)
	if err != nil {
		return digest.Deps{}, err
	}
	return digest.Deps{Metrics: mdb, Panels: p.Exports, Aggregate: audience, Log: log}, nil
}

// openMetrics opens the metrics DB with the config's busy timeout.
func openMetrics(ctx context.Context, cfg *config.Config) (*metrics.DB, error) {
	return metrics.Open(ctx, cfg.Metrics, cfg.BusyTimeout.D())
}
