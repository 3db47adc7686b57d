package main

import (
	"context"
	"fmt"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/human"

	"github.com/attache/attache/internal/rollup"
)

// runRun is `attache run`: every (or the named) query over every tenant, once.
func runRun(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "run", "[--config FILE] [--query NAME]... [--full]")
	cfgPath := configFlag(fs)
	var names strList
	fs.Var(&names, "query", "run only this query (repeatable, or comma-separated)")
	full := fs.Bool("full", false, "read every tenant, even those unchanged since their last good read")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return badUsage("unexpected argument %q (queries are chosen with --query NAME)", fs.Arg(0))
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	mdb, err := openMetrics(ctx, cfg)
	if err != nil {
		return err
	}
	defer mdb.Close()
	recordCLI(ctx, env, mdb.W, audit.Entry{Action: audit.Run, Target: "cli", Detail: fmt.Sprintf("full=%v queries=%v", *full, names)})
	bar := newProgress(env, "tenants")
	sum, err := rollup.Run(ctx, cfg, mdb, rollup.Options{Queries: names, Full: *full, Progress: bar.update, Log: env.Log()})
	bar.done()
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, sum)
	for _, q := range sum.QueryErrors {
		fmt.Fprintf(env.Stdout, "query not run: %s\n", oneLine(q.Error(), 400))
	}
	if sum.Failed > 0 {
		fmt.Fprintf(env.Stdout, "%s failed; `attache check` groups them by error, `attache tenants --sort error` lists them:\n", human.Plural(int64(sum.Failed), "tenant"))
		for _, line := range failureGroups(sum.Failures, 5) {
			fmt.Fprintln(env.Stdout, "  "+line)
		}
		if sum.FailureCount > len(sum.Failures) {
			fmt.Fprintf(env.Stdout, "  (these groups count the first %s of %s failures, by tenant id; the dashboard's run page has them all)\n",
				human.Count(int64(len(sum.Failures))), human.Count(int64(sum.FailureCount)))
		}
	}
	if n := len(sum.QueryErrors); n > 0 {
		return fmt.Errorf("run %d finished, but %d quer%s did not run (listed above; the others did)", sum.RunID, n, map[bool]string{true: "y", false: "ies"}[n == 1])
	}
	return nil
}
