// Package server is attache's dashboard: reports drawn from the metrics DB,
// their Excel and CSV exports, the fleet's tenants and runs, and an ad-hoc
// query page, behind sign-in. Every page reads the metrics DB (or a sandbox
// child reading it), never a tenant file, so it stays fast whatever the
// fleet's size.
package server

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/digest"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/privacy"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/sandbox"
	"github.com/attache/attache/internal/schedule"
)

// Deps are everything the server uses from outside; nothing is global.
type Deps struct {
	Metrics *metrics.DB
	Reports []*report.Report
	// Panels runs report panels in sandbox children (query_timeout).
	Panels *report.Runner
	// Exports runs whole-table exports (export_timeout); Panels when nil.
	Exports *report.Runner
	// Sandbox runs ad-hoc queries of the query page. Give it its own
	// children, apart from Panels', so slow ad-hoc queries never hold up the
	// charts.
	Sandbox *sandbox.Runner
	// Web holds templates/ and static/ (attache.Files' web/ folder).
	Web fs.FS
	Log *slog.Logger
	// StartRun runs rollups once (rollup.Run bound to the config and DB);
	// the dashboard calls it in the background when an admin starts a run.
	StartRun func(ctx context.Context, opt rollup.Options) (*rollup.Summary, error)
	// Schedule runs the config's jobs and digests; the overview and /runs
	// show their status and admins start them through it. nil when this
	// process schedules nothing: the pages then leave the jobs out.
	Schedule *schedule.Scheduler
	// PreviewDigest renders the configured digest called name as it would
	// go out now, without sending it (digest.Find and digest.Render bound
	// to the config). nil: no previews.
	PreviewDigest func(ctx context.Context, name string) (*digest.Message, error)
	// Audit is the writer of audit entries and sessions (audit.Open on the
	// metrics DB: a connection of its own, as a run holds Metrics.W for its
	// whole length); New opens one when nil.
	Audit *sql.DB
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Server is the dashboard. Build it with New.
type Server struct {
	cfg      *config.Config
	mdb      *metrics.DB
	reports  []*report.Report
	panels   *report.Runner
	exports  *report.Runner
	sandbox  *sandbox.Runner
	startRun func(ctx context.Context, opt rollup.Options) (*rollup.Summary, error)
	sched    *schedule.Scheduler
	preview  func(ctx context.Context, name string) (*digest.Message, error)
	now      func() time.Time
	log      *slog.Logger
	audit    *sql.DB // writer of audit entries and sessions: its own connection, never mdb.W

	echo     *echo.Echo
	views    *views
	static   *staticFiles
	sessions *sessions
	basic    *basicCache
	users    map[string]config.User
	open     bool // no users configured: loopback only, everyone is admin
	limiter  *limiter
	cache    *panelCache
	prom     *promMetrics
	policy   *privacy.Policy // the aggregate audience (privacy: in the config)
	shares   *shareState
	adhoc    chan struct{} // slots for ad-hoc queries running at once
	making   chan struct{} // slots for exports being made at once

	// runs started from the dashboard, so shutdown can wait for them.
	runs    sync.WaitGroup
	baseCtx context.Context
}

// New checks the configuration for serving and builds the server. Without
// auth.users it serves only a loopback address, and says so otherwise.
func New(cfg *config.Config, d Deps) (*Server, error) {
	if d.Metrics == nil || d.Panels == nil || d.Sandbox == nil || d.Web == nil {
		return nil, errors.New("server: Metrics, Panels, Sandbox and Web are required")
	}
	open := len(cfg.Auth.Users) == 0
	if open && !config.Loopback(cfg.Listen) {
		return nil, fmt.Errorf("server: refusing to listen on %s without sign-in: add auth.users to the config (hashes from `attache passwd`), or listen on 127.0.0.1", cfg.Listen)
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "server")
	now := d.Now
	if now == nil {
		now = time.Now
	}
	v, err := loadViews(d.Web, cfg.Location, now)
	if err != nil {
		return nil, err
	}
	st, err := loadStatic(d.Web)
	if err != nil {
		return nil, err
	}
	v.static = st
	auditDB := d.Audit
	if auditDB == nil {
		if auditDB, err = audit.Open(d.Metrics.Path, max(cfg.BusyTimeout.D(), 30*time.Second)); err != nil {
			return nil, err
		}
	}
	s := &Server{
		cfg: cfg, mdb: d.Metrics, reports: d.Reports, panels: d.Panels, exports: d.Exports, sandbox: d.Sandbox,
		startRun: d.StartRun, sched: d.Schedule, preview: d.PreviewDigest, now: now, log: log, audit: auditDB,
		views: v, static: st, open: open,
		sessions: newSessions(d.Metrics.R, auditDB, now, strings.HasPrefix(cfg.BaseURL, "https://")),
		basic:    &basicCache{seen: map[[32]byte]time.Time{}},
		users:    map[string]config.User{},
		limiter:  newLimiter(10, time.Minute, now),
		cache:    newPanelCache(d.Panels),
		adhoc:    make(chan struct{}, 2),
		making:   make(chan struct{}, 2),
		baseCtx:  context.Background(),
	}
	if s.exports == nil {
		s.exports = d.Panels
	}
	if s.sandbox.MaxBytes == 0 {
		s.sandbox.MaxBytes = int64(cfg.ResultMaxMB) << 20 // result_max_mb
	}
	rand.Read(s.basic.salt[:])
	if s.policy, err = s.newPolicy(); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if s.shares, err = newShareState(now); err != nil {
		return nil, err
	}
	for _, u := range cfg.Auth.Users {
		s.users[u.Name] = u
	}
	var extra []prometheus.Collector
	if s.sched != nil {
		extra = append(extra, s.sched.Collector())
	}
	s.prom = newPromMetrics(s.mdb, log, extra...)
	s.echo = s.newEcho()
	return s, nil
}

// Handler is the whole dashboard as an http.Handler (for httptest).
func (s *Server) Handler() http.Handler { return s.echo }

// ListenAndServe serves on cfg.Listen until ctx ends, then shuts down
// gracefully: requests in flight finish, runs started here are interrupted.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends (see ListenAndServe).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.baseCtx = ctx
	hs := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: large exports stream for longer than any page.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go s.pruneAudit(ctx)
	s.log.Info("dashboard listening", "url", "http://"+ln.Addr().String(), "sign_in", !s.open)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	s.runs.Wait()
	if err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

// Warm computes every report's panels in the background now and again
// whenever the metrics DB's data changes (a run finished, from here or from
// `attache run`), until ctx ends, so viewers rarely wait for a panel.
func (s *Server) Warm(ctx context.Context) {
	go func() {
		tick := time.NewTicker(warmEvery)
		defer tick.Stop()
		warmed := ""
		for {
			if v, err := s.dataVersion(ctx); err == nil && v != warmed {
				for _, r := range s.reports {
					if ctx.Err() != nil {
						return
					}
					s.cache.report(r, v)
				}
				warmed = v
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// warmEvery is how often Warm looks for new data.
const warmEvery = 5 * time.Second
