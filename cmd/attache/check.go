package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/attache/attache/internal/human"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/digest"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/privacy"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/rollup"
)

// runCheck is `attache check`: config, queries and reports are valid, and
// which tenants cannot run which query, and why.
func runCheck(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "check", "[--config FILE] [--query NAME]...")
	cfgPath := configFlag(fs)
	var names strList
	fs.Var(&names, "query", "check only this query (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "config: ok")
	queries, broken, err := rollup.LoadQueries(cfg, names)
	if err != nil {
		return fmt.Errorf("queries: %w", err)
	}
	mdb, err := openMetrics(ctx, cfg)
	if err != nil {
		return err
	}
	defer mdb.Close()
	bar := newProgress(env, "tenants")
	rep, err := rollup.Check(ctx, cfg, mdb, queries, broken, bar.update, env.Log())
	bar.done()
	if err != nil {
		return err
	}
	if len(rep.Broken) == 0 {
		fmt.Fprintf(env.Stdout, "queries: %d ok\n", len(rep.Queries))
	} else {
		fmt.Fprintf(env.Stdout, "queries: %d ok, %d broken (runs skip them and record why; the others run):\n", len(rep.Queries), len(rep.Broken))
		for _, b := range rep.Broken {
			fmt.Fprintf(env.Stdout, "  %s\n", oneLine(b.Error(), 400))
		}
	}
	if err := checkReports(ctx, env, cfg, mdb); err != nil {
		return err
	}
	byQuery := map[string][]rollup.Finding{}
	for _, f := range rep.Findings {
		byQuery[f.Query] = append(byQuery[f.Query], f)
	}
	for _, q := range rep.Queries {
		fs, n := byQuery[q.Name], rep.Counts[q.Name]
		if n == 0 {
			fmt.Fprintf(env.Stdout, "%s: all %s can run it\n", q.Name, human.Plural(int64(rep.Total), "tenant"))
			continue
		}
		fmt.Fprintf(env.Stdout, "%s: %s of %s cannot run it:\n", q.Name, human.Count(int64(n)), human.Plural(int64(rep.Total), "tenant"))
		if len(fs) < n {
			fmt.Fprintf(env.Stdout, "  (grouped below from the %s kept for this report; all are in the check_findings table)\n", human.Count(int64(len(fs))))
		}
		for _, line := range errorGroups(fs, 10) {
			fmt.Fprintln(env.Stdout, "  "+line)
		}
	}
	// Which queries are recomputed every period even for unchanged tenants,
	// and why: their answer depends on time, not only on data.
	for _, q := range rep.Queries {
		var why []string
		if q.Clock {
			why = append(why, "its header says clock: yes")
		}
		why = append(why, q.ReadsClock...)
		if len(why) > 0 {
			fmt.Fprintf(env.Stdout, "%s reads the clock (%s), so every tenant is read once per %s: %s\n", q.Name, q.File, q.Grain, strings.Join(why, "; "))
		}
	}
	if rep.FindingCount() > 0 {
		fmt.Fprintln(env.Stdout, "These tenants are recorded as failed for those queries on every run until their schema or the query changes.")
	}
	if n := len(rep.Broken); n > 0 {
		return fmt.Errorf("%d of %d queries are broken (listed above)", n, n+len(rep.Queries))
	}
	return nil
}

// checkReports loads the reports and runs every panel against the metrics
// DB, so a typo in a report fails here instead of on the dashboard.
func checkReports(ctx context.Context, env *Env, cfg *config.Config, mdb *metrics.DB) error {
	reps, err := report.Load(cfg.ReportsFS, cfg.Currency)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if err := digest.Check(cfg, reps); err != nil {
		return fmt.Errorf("digests: %w", err)
	}
	pl := newPools(cfg, false)
	defer pl.Close()
	if _, err := mdb.LastRun(ctx); errors.Is(err, metrics.ErrNotFound) {
		fmt.Fprintf(env.Stdout, "reports: %d loaded; panels not run yet because no run has finished (run `attache run` first)\n", len(reps))
		return nil
	}
	if err := report.Validate(pl.Panels, reps); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	fmt.Fprintf(env.Stdout, "reports: %d ok\n", len(reps))
	return checkPrivacy(ctx, env, pl.Panels, reps, mdb)
}

// checkPrivacy lists the panels that would show individual tenants to an
// aggregate audience (privacy: in the config) and declare no rule.
func checkPrivacy(ctx context.Context, env *Env, runner *report.Runner, reps []*report.Report, mdb *metrics.DB) error {
	ids, err := privacy.TenantIDs(ctx, mdb.R)
	if err != nil {
		return err
	}
	found := privacy.Unruled(runner, reps, ids)
	if len(found) == 0 {
		fmt.Fprintln(env.Stdout, "privacy: every panel showing individual tenants has a rule")
		return nil
	}
	fmt.Fprintf(env.Stdout, "privacy: %d panels show individual tenants and have no rule; an aggregate audience does not see them:\n", len(found))
	for _, f := range found {
		fmt.Fprintf(env.Stdout, "  %s\n", f)
	}
	return nil
}

// errorGroups groups one query's findings by error, largest first, at most
// n groups: "no such column: priority: 19 tenants (a, b, c and 16 more)".
func errorGroups(fs []rollup.Finding, n int) []string {
	type group struct {
		err     string
		tenants []string
	}
	byErr := map[string]*group{}
	var groups []*group
	for _, f := range fs {
		e := oneLine(f.Error, 200)
		g := byErr[e]
		if g == nil {
			g = &group{err: e}
			byErr[e] = g
			groups = append(groups, g)
		}
		g.tenants = append(g.tenants, printable(f.Tenant))
	}
	sort.SliceStable(groups, func(i, j int) bool { return len(groups[i].tenants) > len(groups[j].tenants) })
	var out []string
	for i, g := range groups {
		if i == n {
			out = append(out, fmt.Sprintf("… and %s more (all are in the check_findings table)", human.Plural(int64(len(groups)-n), "other error")))
			break
		}
		out = append(out, fmt.Sprintf("%s: %s (%s)", g.err, human.Plural(int64(len(g.tenants)), "tenant"), listSome(g.tenants, 3)))
	}
	return out
}
