package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/attache/attache/internal/metrics"
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
		return fmt.Errorf("unexpected argument %q (queries are chosen with --query NAME)", fs.Arg(0))
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	mdb, err := metrics.Open(ctx, cfg.Metrics, cfg.BusyTimeout.D())
	if err != nil {
		return err
	}
	defer mdb.Close()
	bar := newProgress(env.Stderr, "tenants")
	sum, err := rollup.Run(ctx, cfg, mdb, rollup.Options{Queries: names, Full: *full, Progress: bar.update, Log: env.Log()})
	bar.done()
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, sum)
	if sum.Failed > 0 {
		fmt.Fprintf(env.Stdout, "%d tenant(s) failed; see `attache tenants` or tenant_errors of run %d, e.g.:\n", sum.Failed, sum.RunID)
		for i, f := range sum.Failures {
			if i == 5 {
				fmt.Fprintf(env.Stdout, "  … and %d more\n", len(sum.Failures)-5)
				break
			}
			fmt.Fprintf(env.Stdout, "  %s  %s: %s\n", f.TenantID, f.Query, f.Error)
		}
	}
	return nil
}

// progress draws a bar on a terminal and stays silent elsewhere (logs, CI).
type progress struct {
	w     io.Writer
	unit  string
	tty   bool
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, unit string) *progress {
	p := &progress{w: w, unit: unit}
	if f, ok := w.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	return p
}

func (p *progress) update(done, total int) {
	if !p.tty || total == 0 || (time.Since(p.last) < 100*time.Millisecond && done < total) {
		return
	}
	p.last = time.Now()
	const width = 30
	n := width * done / total
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d %s %3d%%", strings.Repeat("#", n), strings.Repeat(".", width-n), done, total, p.unit, 100*done/total)
	p.drawn = true
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
