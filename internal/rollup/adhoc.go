package rollup

import (
	"context"
	"errors"
	"fmt"
	"iter"
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
	// The fleet is listed a page at a time as the batches need it (a query
	// over every tenant usually stops at its row limit after a few
	// batches), or searched once for the tenants named.
	adhoc := []*query.Query{{Name: "adhoc", File: "query", SQL: single, Line: 1}}
	var src *tenantSource
	if len(tenantIDs) > 0 {
		picked, err := pickTenants(ctx, cfg, tenantIDs)
		if err != nil {
			return nil, err
		}
		src = sliceSource(picked)
	} else {
		src = fleetSource(ctx, cfg)
	}
	defer src.stop()
	// The same check as a run's: every table it reads is the tenant's own.
	_, refused, err := src.vet(ctx, adhoc)
	if err != nil {
		return nil, err
	}
	if len(refused) > 0 {
		return nil, refused[0]
	}
	res := &AdhocResult{maxBytes: sb.MaxBytes}
	deadline := time.Now().Add(sb.Timeout)
	// read is the present tenants asked so far; with the missing ones they
	// are the tenants asked.
	read := 0
	asked := func() int { return len(src.missing) + read }
	partial := func() string {
		return fmt.Sprintf("stopped after query_timeout (%s) with %d tenants read", sb.Timeout, asked())
	}
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
	finish := func() (*AdhocResult, error) {
		res.Tenants = asked()
		res.Errors = append(src.missing, res.Errors...)
		if res.Columns == nil && len(res.Errors) > 0 && len(res.Errors) == res.Tenants {
			return res, errors.New("the query failed on every tenant: " + res.Errors[0].Error)
		}
		return res, nil
	}
	for {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		batch, more := src.batch(cfg.BatchSize)
		if src.err != nil {
			return nil, src.err
		}
		if len(batch) == 0 {
			break
		}
		if time.Now().After(deadline) {
			res.Truncated = true
			res.Partial = partial()
			break
		}
		want := limit - len(res.Rows)
		ans, err := run(batch, want)
		if errors.Is(err, worker.ErrTimeout) {
			// Out of time: no retries. Say so, with whatever came back.
			if len(res.Rows) == 0 && len(res.Errors) == 0 && len(src.missing) == 0 {
				return nil, err
			}
			res.Truncated = true
			res.Partial = partial()
			return finish()
		}
		if err != nil {
			// Isolate: run each tenant alone, keeping the good ones' rows,
			// but never past the deadline.
			for _, t := range batch {
				if time.Now().After(deadline) {
					res.Truncated = true
					res.Partial = partial()
					return finish()
				}
				want := limit - len(res.Rows)
				one, err := run([]tenant.Tenant{t}, want)
				read++
				if err != nil {
					msg := err.Error()
					msg = strings.ReplaceAll(msg, "t0.", "tenant.")
					msg = strings.TrimPrefix(msg, "attach t0: ")
					res.Errors = append(res.Errors, metrics.TenantError{TenantID: t.ID, Query: "adhoc", Error: msg})
					continue
				}
				if res.add(one, limit, more) {
					return finish()
				}
			}
			continue
		}
		read += len(batch)
		if res.add(ans, limit, more) {
			return finish()
		}
	}
	return finish()
}

// tenantSource hands out tenants a batch at a time, from pages of the
// fleet's listing pulled as they are needed, or from a slice (the tenants
// named); the missing ones become errors as they come. Adhoc vets its
// query and reads through one; Check vets through one.
type tenantSource struct {
	next    func() ([]tenant.Tenant, bool)
	stop    func()
	err     error // the listing's, once it failed
	buf     []tenant.Tenant
	done    bool
	missing []metrics.TenantError
}

// errEnoughTenants ends a listing its reader has had enough of.
var errEnoughTenants = errors.New("enough tenants")

func fleetSource(ctx context.Context, cfg *config.Config) *tenantSource {
	s := &tenantSource{}
	next, stop := iter.Pull(func(yield func([]tenant.Tenant) bool) {
		err := tenant.Each(ctx, cfg.Tenants, listPage, func(page []tenant.Tenant) error {
			if !yield(page) {
				return errEnoughTenants
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnoughTenants) {
			s.err = err
		}
	})
	s.next, s.stop = next, stop
	return s
}

func sliceSource(ts []tenant.Tenant) *tenantSource {
	s := &tenantSource{stop: func() {}}
	s.next = func() ([]tenant.Tenant, bool) {
		if ts == nil {
			return nil, false
		}
		page := ts
		ts = nil
		return page, true
	}
	return s
}

// fill pulls pages until n present tenants are in hand or the fleet ends.
func (s *tenantSource) fill(n int) {
	for len(s.buf) < n && !s.done {
		page, ok := s.next()
		if !ok {
			s.done = true
			return
		}
		present, missing := withoutMissing(page)
		s.buf = append(s.buf, present...)
		s.missing = append(s.missing, missing...)
	}
}

// batch returns the next n present tenants or fewer, and whether any are
// left after them.
func (s *tenantSource) batch(n int) ([]tenant.Tenant, bool) {
	s.fill(n + 1)
	k := min(n, len(s.buf))
	b := s.buf[:k:k]
	s.buf = s.buf[k:]
	return b, len(s.buf) > 0
}

// vet is vetPaths over the source's present tenants. It reads them
// without handing them out, so the batches that follow still get them:
// the fleet is listed once.
func (s *tenantSource) vet(ctx context.Context, queries []*query.Query) ([]*query.Query, []*QueryError, error) {
	qs, refused, err := vetPaths(ctx, queries, func(yield func(string) bool) {
		for i := 0; ; i++ {
			s.fill(i + 1)
			if i >= len(s.buf) || !yield(s.buf[i].Path) {
				return
			}
		}
	})
	if err == nil {
		err = s.err
	}
	return qs, refused, err
}

// pickTenants lists the fleet once for the tenants named, in the order
// named; a name the fleet does not have is an error.
func pickTenants(ctx context.Context, cfg *config.Config, ids []string) ([]tenant.Tenant, error) {
	want := map[string][]int{}
	for i, id := range ids {
		want[id] = append(want[id], i)
	}
	picked := make([]tenant.Tenant, len(ids))
	found := make([]bool, len(ids))
	err := tenant.Each(ctx, cfg.Tenants, listPage, func(page []tenant.Tenant) error {
		for _, t := range page {
			for _, i := range want[t.ID] {
				picked[i], found[i] = t, true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, ok := range found {
		if !ok {
			return nil, fmt.Errorf("no tenant %q in the fleet (see `attache tenants`)", ids[i])
		}
	}
	return picked, nil
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
