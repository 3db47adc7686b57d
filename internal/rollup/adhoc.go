package rollup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/query"
	"github.com/attache/attache/internal/sandbox"
	"github.com/attache/attache/internal/tenant"
	"github.com/attache/attache/internal/worker"
)

// AdhocResult is an ad-hoc cross-tenant query's answer: tenant_id first,
// then the query's columns.
type AdhocResult struct {
	Columns   []string
	Rows      [][]any
	Truncated bool // the row limit or the time limit cut the result short
	Errors    []metrics.TenantError
	Tenants   int // tenants asked
	Partial   string

	bytes, maxBytes int64 // what the rows take, and the cap (sb.MaxBytes)
}

func mb(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

// Adhoc runs one read-only SELECT written for a single tenant over the fleet
// (or the tenants named), batch by batch in sandbox children, stopping at
// limit rows. The whole query shares the sandbox's time limit.
func Adhoc(ctx context.Context, cfg *config.Config, sb *sandbox.Runner, sqlText string, tenantIDs []string, limit int) (*AdhocResult, error) {
	if err := query.CheckReadOnly(sqlText); err != nil {
		return nil, err
	}
	single, err := query.Single(sqlText)
	if err != nil {
		return nil, err
	}
	var slots [config.MaxBatch]string
	for i := range slots {
		if slots[i], err = query.Rewrite(single, slotName(i)); err != nil {
			return nil, err
		}
	}
	fleet, err := tenant.List(ctx, cfg.Tenants)
	if err != nil {
		return nil, err
	}
	if len(tenantIDs) > 0 {
		byID := map[string]tenant.Tenant{}
		for _, t := range fleet {
			byID[t.ID] = t
		}
		var picked []tenant.Tenant
		for _, id := range tenantIDs {
			t, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("no tenant %q in the fleet (see `attache tenants`)", id)
			}
			picked = append(picked, t)
		}
		fleet = picked
	}
	// The same check as a run's: every table it reads is the tenant's own.
	_, refused, err := vet(ctx, []*query.Query{{Name: "adhoc", File: "query", SQL: single, Line: 1}}, fleet)
	if err != nil {
		return nil, err
	}
	if len(refused) > 0 {
		return nil, refused[0]
	}
	res := &AdhocResult{Tenants: len(fleet), maxBytes: sb.MaxBytes}
	fleet, res.Errors = withoutMissing(fleet)
	deadline := time.Now().Add(sb.Timeout)
	run := func(ts []tenant.Tenant, want int) (*sandboxAnswer, error) {
		attach := make([]sandbox.Attach, len(ts))
		args := make([]any, len(ts))
		for i, t := range ts {
			attach[i] = sandbox.Attach{Schema: slotName(i), Path: t.Path, Key: tenantKey(cfg, t)}
			args[i] = t.ID
		}
		// The engine's batch statement, each arm the query as a subquery
		// (the sandbox has no views of it).
		stmt := unionSQL(len(ts), func(i int) string { return "(\n" + slots[i] + "\n)" })
		r, err := sb.QueryBy(deadline, "", attach, stmt, want, args...)
		if err != nil {
			return nil, err
		}
		return &sandboxAnswer{cols: r.Columns, rows: r.Rows, truncated: r.Truncated, capped: r.Capped}, nil
	}
	for i := 0; i < len(fleet); i += cfg.BatchSize {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Now().After(deadline) {
			res.Truncated = true
			res.Partial = fmt.Sprintf("stopped after query_timeout (%s) with %d of %d tenants read", sb.Timeout, i, len(fleet))
			break
		}
		batch := fleet[i:min(i+cfg.BatchSize, len(fleet))]
		more := i+len(batch) < len(fleet) // tenants left after this batch
		want := limit - len(res.Rows)
		ans, err := run(batch, want)
		if errors.Is(err, worker.ErrTimeout) {
			// Out of time: no retries. Say so, with whatever came back.
			if len(res.Rows) == 0 && len(res.Errors) == 0 {
				return nil, err
			}
			res.Truncated = true
			res.Partial = fmt.Sprintf("stopped after query_timeout (%s) with %d of %d tenants read", sb.Timeout, i, len(fleet))
			return res, nil
		}
		if err != nil {
			// Isolate: run each tenant alone, keeping the good ones' rows,
			// but never past the deadline.
			for j, t := range batch {
				if time.Now().After(deadline) {
					res.Truncated = true
					res.Partial = fmt.Sprintf("stopped after query_timeout (%s) with %d of %d tenants read", sb.Timeout, i+j, len(fleet))
					return res, nil
				}
				want := limit - len(res.Rows)
				one, err := run([]tenant.Tenant{t}, want)
				if err != nil {
					msg := err.Error()
					msg = strings.ReplaceAll(msg, "t0.", "tenant.")
					msg = strings.TrimPrefix(msg, "attach t0: ")
					res.Errors = append(res.Errors, metrics.TenantError{TenantID: t.ID, Query: "adhoc", Error: msg})
					continue
				}
				if res.add(one, limit, more) {
					return res, nil
				}
			}
			continue
		}
		if res.add(ans, limit, more) {
			return res, nil
		}
	}
	if res.Columns == nil && len(res.Errors) > 0 && len(res.Errors) == len(fleet) {
		return res, errors.New("the query failed on every tenant: " + res.Errors[0].Error)
	}
	return res, nil
}

type sandboxAnswer struct {
	cols      []string
	rows      [][]any
	truncated bool
	capped    bool // the child cut it at sb.MaxBytes
}

// add appends a batch's rows and reports whether the limit is reached. The
// result is truncated only when rows were left out: more in this batch, or
// tenants not yet read.
func (r *AdhocResult) add(a *sandboxAnswer, limit int, more bool) bool {
	if r.Columns == nil && len(a.cols) > 0 {
		r.Columns = a.cols
	}
	// The byte cap (sandbox MaxBytes, result_max_mb) holds for the whole
	// result, not per batch: count what came, and stop where it is reached.
	capped := a.capped
	if r.maxBytes > 0 {
		for i, row := range a.rows {
			if r.bytes += sandbox.RowSize(row); r.bytes > r.maxBytes {
				a.rows, capped = a.rows[:i], true
				break
			}
		}
	}
	r.Rows = append(r.Rows, a.rows...)
	if capped {
		if len(r.Rows) > limit {
			r.Rows = r.Rows[:limit]
		}
		r.Truncated = true
		r.Partial = fmt.Sprintf("truncated at %s (result_max_mb): narrow the query down, or select fewer columns", mb(r.maxBytes))
		return true
	}
	if a.truncated || len(r.Rows) >= limit {
		if len(r.Rows) > limit {
			r.Rows = r.Rows[:limit]
		}
		r.Truncated = a.truncated || more
		return true
	}
	return false
}
