package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/attache/attache/internal/human"

	"github.com/attache/attache"
	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/demo"
	"github.com/attache/attache/internal/digest"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/schedule"
	"github.com/attache/attache/internal/server"
)

// runServe is `attache serve`: the dashboard on the config's listen address.
func runServe(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "serve", "[--config FILE] [--listen ADDR] [--demo]")
	cfgPath := configFlag(fset)
	listen := fset.String("listen", "", "address to listen on, host:port (default: listen in the config)")
	withDemo := fset.Bool("demo", false, "generate the demo fleet when it is missing and run rollups once before serving")
	if err := parse(fset, args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fset.Arg(0))
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *listen != "" {
		if _, _, err := net.SplitHostPort(*listen); err != nil {
			return badUsage("--listen %q is not host:port, e.g. 127.0.0.1:8080", *listen)
		}
		cfg.Listen = *listen
	}
	// Refuse before any slow work: without users the dashboard is open.
	if len(cfg.Auth.Users) == 0 && !config.Loopback(cfg.Listen) {
		return fmt.Errorf("refusing to listen on %s without sign-in: add auth.users to the config (make hashes with `attache passwd`), or listen on 127.0.0.1", cfg.Listen)
	}
	log := env.Log()
	if *withDemo {
		if err := ensureDemoFleet(ctx, env, cfg); err != nil {
			return err
		}
	}
	mdb, err := openMetrics(ctx, cfg)
	if err != nil {
		return err
	}
	defer mdb.Close()
	if *withDemo {
		if err := ensureFirstRun(ctx, env, cfg, mdb); err != nil {
			return err
		}
	}

	// Bind first: a second `attache serve` on a taken port must fail before
	// its scheduler could run a job or send a digest.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return listenError(cfg.Listen, err)
	}
	defer ln.Close()
	// The scheduler's and the digests' records go through a connection of
	// their own: a run holds mdb's only writer for its whole length.
	journal, err := metrics.OpenJournal(cfg.Metrics, max(cfg.BusyTimeout.D(), 30*time.Second))
	if err != nil {
		return err
	}
	defer journal.Close()
	auditDB, err := audit.Open(cfg.Metrics, max(cfg.BusyTimeout.D(), 30*time.Second))
	if err != nil {
		return err
	}
	defer auditDB.Close()

	reps, err := report.Load(cfg.ReportsFS, cfg.Currency)
	if err != nil {
		logProblems(log, "reports could not all be loaded; the others are served", err)
	}
	if err := digest.Check(cfg, reps); err != nil {
		logProblems(log, "digests have problems; each one fails and is recorded when it is due", err)
	}
	// Panels, ad-hoc queries and exports run in separate pools, so a slow
	// ad-hoc query never holds up a chart. Every child has a memory limit
	// and the pools bound how many run.
	pl := newPools(cfg, true)
	defer pl.Close()
	log.Info("query children bounded", "children", pl.children(), "memory_mb_each", cfg.SandboxMemMB, "memory_mb_total", pl.children()*cfg.SandboxMemMB)
	web, err := fs.Sub(attache.Files, "web")
	if err != nil {
		return err
	}

	digestDeps, err := digestDeps(cfg, mdb, pl, log)
	if err != nil {
		return err
	}
	digestDeps.Journal, digestDeps.Reports = journal, reps
	sched := schedule.New(cfg, schedule.Deps{
		Metrics: mdb, Journal: journal, Log: log,
		Run: func(ctx context.Context, cfg *config.Config, mdb *metrics.DB, opt rollup.Options) (*rollup.Summary, error) {
			if err := audit.Record(ctx, auditDB, audit.Entry{Actor: audit.ActorSchedule, Action: audit.Run, Target: opt.Job,
				Detail: fmt.Sprintf("full=%v queries=%v", opt.Full, opt.Queries)}); err != nil {
				log.Error("audit entry not recorded", "action", audit.Run, "err", err)
			}
			return rollup.Run(ctx, cfg, mdb, opt)
		},
		Send: func(ctx context.Context, d config.Digest) error {
			_, err := digest.Send(ctx, cfg, d, digestDeps)
			if aerr := audit.Record(ctx, auditDB, audit.Entry{Actor: audit.ActorSchedule, Action: audit.Digest, Target: d.Name,
				Detail: "to " + strings.Join(d.To, ", "), Failed: err != nil}); aerr != nil {
				log.Error("audit entry not recorded", "action", audit.Digest, "err", aerr)
			}
			return err
		},
	})
	// A preview is a page someone waits for and attaches no workbook:
	// query_timeout, like a report.
	previewDeps := digestDeps
	previewDeps.Panels = pl.Panels
	srv, err := server.New(cfg, server.Deps{
		Metrics: mdb, Reports: reps, Panels: pl.Panels, Exports: pl.Exports, Sandbox: pl.Adhoc, Web: web, Log: log, Audit: auditDB,
		StartRun: func(ctx context.Context, opt rollup.Options) (*rollup.Summary, error) {
			return rollup.Run(ctx, cfg, mdb, opt)
		},
		Schedule: sched,
		PreviewDigest: func(ctx context.Context, name string) (*digest.Message, error) {
			d, err := digest.Find(cfg, name)
			if err != nil {
				return nil, err
			}
			return digest.Render(ctx, cfg, d, previewDeps)
		},
	})
	if err != nil {
		return err
	}
	// Only the deferred Stop ends the scheduler, after the dashboard has
	// shut down and before the journal, the sandboxes and mdb close: Stop
	// interrupts a running job and waits for it, which a second, concurrent
	// Stop (from ctx ending) would not.
	if err := sched.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	defer sched.Stop()
	// Panel SQL over a large metrics DB takes seconds: check the reports and
	// then fill the panel cache in the background, with the dashboard up.
	go func() {
		if err := report.Validate(pl.Panels, reps); err != nil {
			logProblems(log, "report panels have problems; each broken panel shows its error in place", err)
		} else {
			log.Info("reports checked", "reports", len(reps))
		}
		srv.Warm(ctx)
	}()
	if len(cfg.Auth.Users) == 0 {
		fmt.Fprintf(env.Stderr, "attache: no auth.users in the config, so sign-in is off and everyone on this machine is an admin\n")
	}
	if n := len(cfg.Jobs) + len(cfg.Digests); n > 0 {
		fmt.Fprintf(env.Stderr, "attache: %s and %s scheduled (timezone %s); see /runs\n", human.Plural(int64(len(cfg.Jobs)), "job"), human.Plural(int64(len(cfg.Digests)), "digest"), cfg.Location)
	}
	fmt.Fprintf(env.Stderr, "attache: dashboard on http://%s (Ctrl-C stops it)\n", displayAddr(ln.Addr().String()))
	return srv.Serve(ctx, ln)
}

// logProblems logs each line of a joined error, so every broken report and
// panel is named on a line of its own.
func logProblems(log *slog.Logger, msg string, err error) {
	log.Error(msg)
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			log.Error("  " + line)
		}
	}
}

// ensureDemoFleet generates the demo fleet when tenants.dir holds no tenant.
func ensureDemoFleet(ctx context.Context, env *Env, cfg *config.Config) error {
	dir := cfg.Tenants.Dir
	if cfg.Tenants.Catalog != nil || dir == "" {
		return errors.New("--demo needs tenants.dir in the config (the demo fleet is a folder of databases)")
	}
	if dbs, _ := filepath.Glob(filepath.Join(dir, "*.db")); len(dbs) > 0 {
		return nil
	}
	fmt.Fprintf(env.Stderr, "attache: no tenants in %s; generating the demo fleet\n", dir)
	bar := newProgress(env, "tenants")
	sum, err := demo.Generate(ctx, demo.Options{Dir: dir}, bar.update)
	bar.done()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(env.Stderr, "attache: demo fleet of %d tenants (%s) in %s\n", sum.Tenants, human.Bytes(float64(sum.Bytes)), dir)
	return nil
}

// ensureFirstRun runs rollups once when the metrics DB has no finished run,
// so the demo's reports have data the moment the dashboard opens.
func ensureFirstRun(ctx context.Context, env *Env, cfg *config.Config, mdb *metrics.DB) error {
	if _, err := mdb.LastRun(ctx); !errors.Is(err, metrics.ErrNotFound) {
		return err // a run has finished (nil), or the DB cannot say
	}
	fmt.Fprintln(env.Stderr, "attache: no run yet; reading the fleet once")
	bar := newProgress(env, "tenants")
	sum, err := rollup.Run(ctx, cfg, mdb, rollup.Options{Job: "demo", Progress: bar.update, Log: env.Log()})
	bar.done()
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stderr, "attache:", sum)
	return nil
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}

// listenError says why the address cannot be had and what to do.
func listenError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%s is already in use (another attache serve, or another program, is listening there); stop it, or pick another port: attache serve --listen %s", addr, nextPort(addr))
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("not allowed to listen on %s (ports below 1024 need privileges); pick a port above 1024: attache serve --listen %s", addr, nextPort(addr))
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("%s is not an address of this machine; use one it has, e.g. attache serve --listen 127.0.0.1:8080", addr)
	}
	return fmt.Errorf("listen on %s: %w", addr, err)
}

// nextPort suggests the same host one port up (8080 → 8081).
func nextPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "127.0.0.1:8081"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1024 || n >= 65535 {
		n = 8080
	}
	return net.JoinHostPort(host, strconv.Itoa(n+1))
}
