package schedule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/demo"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/roles"
	"github.com/attache/attache/internal/rollup"
)

// TestMain lets the test binary serve as the engine's worker processes.
func TestMain(m *testing.M) {
	if code, ok := roles.Serve(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := config.Default()
	root := t.TempDir()
	cfg.Metrics = filepath.Join(root, "metrics.db")
	cfg.Tenants.Dir = filepath.Join(root, "tenants")
	cfg.Location = time.UTC
	cfg.BusyTimeout = config.Duration(time.Second)
	return &cfg
}

func openDB(t *testing.T, cfg *config.Config) *metrics.DB {
	t.Helper()
	mdb, err := metrics.Open(context.Background(), cfg.Metrics, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdb.Close() })
	return mdb
}

// start builds and starts a scheduler, stopped at the end of the test.
func start(t *testing.T, cfg *config.Config, deps Deps) *Scheduler {
	t.Helper()
	s := New(cfg, deps)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func events(t *testing.T, mdb *metrics.DB, name string) []metrics.JobEvent {
	t.Helper()
	ev, err := mdb.JobEvents(context.Background(), "", name, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func countEvents(t *testing.T, mdb *metrics.DB, name, event string) int {
	n := 0
	for _, e := range events(t, mdb, name) {
		if e.Event == event {
			n++
		}
	}
	return n
}

func statusOf(t *testing.T, s *Scheduler, name string) JobStatus {
	t.Helper()
	for _, st := range s.Jobs() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no status for %s", name)
	return JobStatus{}
}

// A tick that finds its job still running is skipped and recorded, and
// RunNow refuses rather than queue a second copy.
func TestOverlapSkipped(t *testing.T) {
	cfg := testConfig(t)
	cfg.Jobs = []config.Job{{Name: "slow", Schedule: "0 0 1 1 *"}}
	mdb := openDB(t, cfg)
	release := make(chan struct{})
	var calls atomic.Int32
	run := func(ctx context.Context, cfg *config.Config, mdb *metrics.DB, opt rollup.Options) (*rollup.Summary, error) {
		calls.Add(1)
		<-release
		return &rollup.Summary{RunID: 7}, nil
	}
	s := start(t, cfg, Deps{Metrics: mdb, Run: run})
	if err := s.RunNow("slow"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first run", func() bool { return calls.Load() == 1 })
	if !statusOf(t, s, "slow").Running {
		t.Error("status does not say running")
	}
	if err := s.RunNow("slow"); !errors.Is(err, ErrRunning) {
		t.Errorf("second RunNow: %v, want ErrRunning", err)
	}
	s.tick(s.entries[0], ViaSchedule) // the cron's tick while the first still runs
	close(release)
	waitFor(t, "the ok event", func() bool { return countEvents(t, mdb, "slow", metrics.EventOK) == 1 })
	if calls.Load() != 1 {
		t.Errorf("run called %d times, want 1", calls.Load())
	}
	ev := events(t, mdb, "slow")
	var skip *metrics.JobEvent
	for i := range ev {
		if ev[i].Event == metrics.EventSkipped {
			skip = &ev[i]
		}
	}
	if skip == nil || !strings.Contains(skip.Detail, "still running") || skip.Via != ViaSchedule {
		t.Fatalf("skip not recorded: %+v", ev)
	}
	st := statusOf(t, s, "slow")
	if st.LastSkipped.IsZero() || !strings.Contains(st.LastSkipReason, "still running") {
		t.Errorf("status misses the skip: %+v", st)
	}
	if err := s.RunNow("nope"); err == nil || !strings.Contains(err.Error(), "slow") {
		t.Errorf("unknown name: %v (should list the configured ones)", err)
	}
}

// The real cron path: an @every 1s job that takes 2.5s gets its ticks in
// between skipped, and each skip lands in the metrics DB.
func TestOverlapSkippedOnSchedule(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for real ticks")
	}
	cfg := testConfig(t)
	cfg.Jobs = []config.Job{{Name: "slow", Schedule: "@every 1s"}}
	mdb := openDB(t, cfg)
	var calls atomic.Int32
	run := func(ctx context.Context, cfg *config.Config, mdb *metrics.DB, opt rollup.Options) (*rollup.Summary, error) {
		if calls.Add(1) == 1 {
			time.Sleep(2500 * time.Millisecond)
		}
		return &rollup.Summary{}, nil
	}
	start(t, cfg, Deps{Metrics: mdb, Run: run})
	waitFor(t, "two skipped ticks", func() bool { return countEvents(t, mdb, "slow", metrics.EventSkipped) >= 2 })
	waitFor(t, "the slow run to finish", func() bool { return countEvents(t, mdb, "slow", metrics.EventOK) >= 1 })
}

// A manual `attache run` holds the metrics DB's run lock: a tick is skipped
// and recorded, RunNow says busy, and nothing waits.
func TestLockHeldSkipped(t *testing.T) {
	cfg := testConfig(t)
	cfg.Jobs = []config.Job{{Name: "hourly", Schedule: "@hourly"}}
	mdb := openDB(t, cfg)
	unlock, err := metrics.Lock(cfg.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	s := start(t, cfg, Deps{Metrics: mdb}) // the real rollup.Run
	if err := s.RunNow("hourly"); !errors.Is(err, metrics.ErrRunInProgress) {
		t.Errorf("RunNow with the lock held: %v, want ErrRunInProgress", err)
	}
	s.tick(s.entries[0], ViaSchedule)
	ev := events(t, mdb, "hourly")
	if len(ev) != 1 || ev[0].Event != metrics.EventSkipped || !strings.Contains(ev[0].Detail, "another run is in progress") {
		t.Fatalf("events %+v, want one skip naming the run in progress", ev)
	}
	runs, err := mdb.Runs(context.Background(), "", 10)
	if err != nil || len(runs) != 0 {
		t.Errorf("runs %v %v, want none", runs, err)
	}
}

// A panicking job is recorded, logged, and the scheduler keeps ticking.
func TestPanicRecovered(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for real ticks")
	}
	cfg := testConfig(t)
	cfg.Jobs = []config.Job{{Name: "flaky", Schedule: "@every 1s"}, {Name: "manual", Schedule: "0 0 1 1 *"}}
	mdb := openDB(t, cfg)
	var calls atomic.Int32
	run := func(ctx context.Context, cfg *config.Config, mdb *metrics.DB, opt rollup.Options) (*rollup.Summary, error) {
		if opt.Job == "manual" || calls.Add(1) == 1 {
			panic("boom in " + opt.Job)
		}
		return &rollup.Summary{RunID: 1}, nil
	}
	s := start(t, cfg, Deps{Metrics: mdb, Run: run})
	// A manual start that panics must not end the process either.
	if err := s.RunNow("manual"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a run after the panic", func() bool { return countEvents(t, mdb, "flaky", metrics.EventOK) >= 1 })
	waitFor(t, "the manual panic", func() bool { return countEvents(t, mdb, "manual", metrics.EventPanic) == 1 })
	ev := events(t, mdb, "flaky")
	last := ev[len(ev)-1] // oldest first at the end
	if last.Event != metrics.EventPanic || !strings.Contains(last.Detail, "boom") {
		t.Errorf("first event %+v, want the panic", last)
	}
	if st := statusOf(t, s, "manual"); st.LastStatus != metrics.EventPanic || !strings.Contains(st.LastError, "boom") {
		t.Errorf("status after a panic: %+v", st)
	}
}

// The dead-man's switch, on a clock the test controls.
func TestStaleStatus(t *testing.T) {
	cfg := testConfig(t)
	cfg.Jobs = []config.Job{
		{Name: "hourly", Schedule: "@hourly"},
		{Name: "daily", Schedule: "0 6 * * *"},
		{Name: "never", Schedule: "@hourly"},
	}
	mdb := openDB(t, cfg)
	now := time.Date(2026, 11, 23, 12, 30, 0, 0, time.UTC)
	exec := func(q string, args ...any) {
		if _, err := mdb.W.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	// hourly last succeeded at 08:02; failed since. daily succeeded today.
	exec("INSERT INTO runs (job, started_at, finished_at, status) VALUES ('hourly', ?, ?, 'ok')", metrics.Format(now.Add(-270*time.Minute)), metrics.Format(now.Add(-268*time.Minute)))
	exec("INSERT INTO runs (job, started_at, finished_at, status, error) VALUES ('hourly', ?, ?, 'failed', 'disk full')", metrics.Format(now.Add(-30*time.Minute)), metrics.Format(now.Add(-29*time.Minute)))
	exec("INSERT INTO runs (job, started_at, finished_at, status) VALUES ('daily', ?, ?, 'ok')", metrics.Format(now.Add(-390*time.Minute)), metrics.Format(now.Add(-385*time.Minute)))
	// never: the scheduler first saw it five hours ago, and it has only skipped.
	exec("INSERT INTO job_events (name, kind, at, via, event, detail) VALUES ('never', 'job', ?, 'schedule', 'skipped', 'another run is in progress')", metrics.Format(now.Add(-5*time.Hour)))

	clock := func() time.Time { return now }
	s := New(cfg, Deps{Metrics: mdb, Now: clock})
	got := map[string]JobStatus{}
	for _, st := range s.Jobs() {
		got[st.Name] = st
	}
	if h := got["hourly"]; !h.Stale || h.LastStatus != "failed" || h.LastError != "disk full" || !h.LastSuccess.Equal(now.Add(-268*time.Minute)) {
		t.Errorf("hourly: %+v, want stale with the failed run and the 08:02 success", h)
	}
	if d := got["daily"]; d.Stale || d.LastStatus != "ok" {
		t.Errorf("daily: %+v, want ok and not stale", d)
	}
	if n := got["never"]; !n.Stale || n.LastSkipReason == "" {
		t.Errorf("never: %+v, want stale (five hourly ticks since first seen) with the skip", n)
	}
	// /metrics shows the switch.
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	staleGauge := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "attache_job_stale" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" {
					staleGauge[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	if staleGauge["hourly"] != 1 || staleGauge["daily"] != 0 || len(staleGauge) != 3 {
		t.Errorf("attache_job_stale %v", staleGauge)
	}
	// The same answers without a scheduler, for a process that runs none.
	for _, st := range Statuses(context.Background(), cfg, mdb, now) {
		if st.Stale != got[st.Name].Stale {
			t.Errorf("Statuses(%s).Stale = %v, Jobs says %v", st.Name, st.Stale, got[st.Name].Stale)
		}
		if st.Next.IsZero() {
			t.Errorf("Statuses(%s) has no next tick", st.Name)
		}
	}
}

// A spec that slipped past validation never panics the scheduler: the job
// is left out, its status says why, the rest run.
func TestBadSpecNotScheduled(t *testing.T) {
	cfg := testConfig(t)
	cfg.Jobs = []config.Job{{Name: "broken", Schedule: "CRON_TZ=Europe/Berlin"}, {Name: "fine", Schedule: "@every 1h"}}
	mdb := openDB(t, cfg)
	s := start(t, cfg, Deps{Metrics: mdb, Run: func(context.Context, *config.Config, *metrics.DB, rollup.Options) (*rollup.Summary, error) {
		return &rollup.Summary{}, nil
	}})
	b, f := statusOf(t, s, "broken"), statusOf(t, s, "fine")
	if !strings.Contains(b.Error, "not scheduled") || !b.Next.IsZero() {
		t.Errorf("broken: %+v", b)
	}
	if f.Error != "" || f.Next.IsZero() {
		t.Errorf("fine: %+v", f)
	}
}

type heldErr string

func (h heldErr) Error() string { return "held: " + string(h) }
func (h heldErr) Held() string  { return string(h) }

func TestDigestOutcomes(t *testing.T) {
	cfg := testConfig(t)
	cfg.Digests = []config.Digest{
		{Name: "ok", Schedule: "0 8 * * MON", Report: "growth", To: []string{"a@example.com"}},
		{Name: "held", Schedule: "0 8 * * MON", Report: "growth", To: []string{"a@example.com"}},
		{Name: "broken", Schedule: "0 8 * * MON", Report: "growth", To: []string{"a@example.com"}},
	}
	mdb := openDB(t, cfg)
	var mu sync.Mutex
	sent := map[string]int{}
	send := func(ctx context.Context, d config.Digest) error {
		mu.Lock()
		sent[d.Name]++
		mu.Unlock()
		switch d.Name {
		case "held":
			return fmt.Errorf("digest held: %w", heldErr("coverage 72% below 90%"))
		case "broken":
			return errors.New("smtp.example.com:587: connection refused")
		}
		return nil
	}
	s := start(t, cfg, Deps{Metrics: mdb, Send: send, DigestWait: -1})
	for _, e := range s.entries {
		s.tick(e, ViaSchedule)
	}
	want := map[string]string{"ok": metrics.EventOK, "held": metrics.EventHeld, "broken": metrics.EventFailed}
	for name, event := range want {
		ev := events(t, mdb, name)
		if len(ev) != 1 || ev[0].Event != event || ev[0].Kind != metrics.KindDigest {
			t.Errorf("%s: events %+v, want one %s", name, ev, event)
		}
	}
	if ev := events(t, mdb, "held"); len(ev) == 1 && ev[0].Detail != "coverage 72% below 90%" {
		t.Errorf("held detail %q", ev[0].Detail)
	}
	if st := statusOf(t, s, "ok"); st.Kind != metrics.KindDigest || st.Report != "growth" || st.Next.Weekday() != time.Monday {
		t.Errorf("digest status %+v", st)
	}
}

// Without a sender, digests are listed but never ticked.
func TestDigestsNeedASender(t *testing.T) {
	cfg := testConfig(t)
	cfg.Digests = []config.Digest{{Name: "weekly", Schedule: "0 8 * * MON", Report: "growth", To: []string{"a@example.com"}}}
	mdb := openDB(t, cfg)
	s := start(t, cfg, Deps{Metrics: mdb})
	if st := statusOf(t, s, "weekly"); !st.Next.IsZero() {
		t.Errorf("unsent digest scheduled: %+v", st)
	}
	if err := s.RunNow("weekly"); err == nil {
		t.Error("RunNow sent a digest without a sender")
	}
}

// A digest whose tick finds a rollup run in progress waits for it, so it
// carries the fresh numbers.
func TestDigestWaitsForRun(t *testing.T) {
	cfg := testConfig(t)
	cfg.Digests = []config.Digest{{Name: "weekly", Schedule: "0 8 * * MON", Report: "growth", To: []string{"a@example.com"}}}
	mdb := openDB(t, cfg)
	if _, err := mdb.W.Exec("INSERT INTO runs (job, started_at, status) VALUES ('hourly', ?, 'running')", metrics.Format(time.Now())); err != nil {
		t.Fatal(err)
	}
	var sentAt atomic.Int64
	send := func(ctx context.Context, d config.Digest) error {
		sentAt.Store(time.Now().UnixNano())
		return nil
	}
	s := start(t, cfg, Deps{Metrics: mdb, Send: send, DigestWait: 5 * time.Second})
	begin := time.Now()
	go func() {
		time.Sleep(300 * time.Millisecond)
		mdb.W.Exec("UPDATE runs SET status = 'ok', finished_at = ?", metrics.Format(time.Now()))
	}()
	s.tick(s.entries[0], ViaSchedule)
	waited := time.Unix(0, sentAt.Load()).Sub(begin)
	if waited < 300*time.Millisecond || waited > 4*time.Second {
		t.Errorf("digest sent after %s; want it to wait for the run (~300ms)", waited)
	}
}

// The whole path with the real engine: a tick runs rollup.Run on a small
// demo fleet, and the status shows the run.
func TestRealRun(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a fleet")
	}
	cfg := testConfig(t)
	ctx := context.Background()
	if _, err := demo.Generate(ctx, demo.Options{Dir: cfg.Tenants.Dir, Tenants: 12, Days: 30}, nil); err != nil {
		t.Fatal(err)
	}
	qdir, err := filepath.Abs("../../queries")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Queries, cfg.QueriesFS = qdir, os.DirFS(qdir)
	cfg.Jobs = []config.Job{{Name: "counts", Schedule: "@hourly", Queries: []string{"todo_counts"}}}
	mdb := openDB(t, cfg)
	s := start(t, cfg, Deps{Metrics: mdb})
	s.tick(s.entries[0], ViaSchedule)
	st := statusOf(t, s, "counts")
	if st.LastStatus != "ok" || st.LastRunID == 0 || st.LastSuccess.IsZero() || st.Stale {
		t.Fatalf("status after a real run: %+v (events %+v)", st, events(t, mdb, "counts"))
	}
	run, err := mdb.GetRun(ctx, st.LastRunID)
	if err != nil || run.Job != "counts" || run.TenantsOK != 12 {
		t.Errorf("run %+v %v", run, err)
	}
}
