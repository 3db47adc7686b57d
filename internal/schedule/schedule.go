// Package schedule runs the config's jobs (rollups) and digests (emails) on
// their cron schedules inside `attache serve`, with robfig/cron v3 made safe
// for unattended use: a panicking job never stops the scheduler, a job never
// overlaps itself or a manual `attache run`, a skipped tick is recorded, a
// daily job inside a spring-forward gap still runs, and a job that stopped
// succeeding is flagged (Stale).
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/rollup"
)

// How a tick was started (job_events.via).
const (
	ViaSchedule = "schedule"
	ViaManual   = "manual"
)

// Deps are what the scheduler uses from outside.
type Deps struct {
	// Metrics is the metrics DB; required.
	Metrics *metrics.DB
	// Journal records events on a connection of its own; when nil, Start
	// opens one on Metrics.Path and Stop closes it.
	Journal *metrics.Journal
	// Run runs a job's queries into rollups; rollup.Run when nil.
	Run func(ctx context.Context, cfg *config.Config, mdb *metrics.DB, opt rollup.Options) (*rollup.Summary, error)
	// Send sends a digest now (digest.Send bound to its deps). When nil,
	// digests are listed but not scheduled, and the log says why.
	Send func(ctx context.Context, d config.Digest) error
	// Log is the parent logger; the scheduler logs as component=schedule.
	Log *slog.Logger
	// Now is the clock for records, statuses and staleness; time.Now when
	// nil. (Ticks themselves follow the real clock, as robfig/cron does.)
	Now func() time.Time
	// DigestWait is how long a digest whose tick finds a rollup run in
	// progress waits for it, so a digest set at the same minute as its job
	// carries fresh numbers; 10 minutes when 0, none when negative.
	DigestWait time.Duration
}

// JobStatus is one job or digest as the overview and /runs show it.
type JobStatus struct {
	Name     string
	Kind     string // metrics.KindJob or metrics.KindDigest
	Schedule string
	// Queries (jobs; nil means all) and Report and To (digests).
	Queries []string
	Report  string
	To      []string
	// Next is the next scheduled tick; zero when not scheduled (stopped,
	// a bad spec, or digests without a sender).
	Next    time.Time
	Running bool
	// The last outcome: for a job its newest run (or a failure or panic
	// that left no run), for a digest its newest send, failure or hold.
	LastRunID    int64 // runs.id; for a digest the run whose data it carried
	LastStatus   string
	LastFinished time.Time
	LastError    string
	// LastSuccess is the last ok run, or the last digest sent.
	LastSuccess time.Time
	// LastSkipped is the last tick skipped, and why.
	LastSkipped    time.Time
	LastSkipReason string
	// Stale: three scheduled ticks have passed without a success.
	Stale bool
	// Error says why it is not scheduled (a bad spec) or why its status
	// could not be read.
	Error string
}

// entry is one scheduled job or digest.
type entry struct {
	name  string
	kind  string
	spec  string
	job   config.Job
	dig   config.Digest
	sched cron.Schedule
	err   error // the spec could not be used
	id    cron.EntryID

	mu      sync.Mutex
	running bool
}

// Scheduler runs jobs and digests on their schedules. Build it with New.
type Scheduler struct {
	cfg     *config.Config
	deps    Deps
	log     *slog.Logger
	now     func() time.Time
	entries []*entry

	mu       sync.Mutex
	cron     *cron.Cron
	ctx      context.Context
	cancel   context.CancelFunc
	journal  *metrics.Journal
	ownJrnl  bool
	started  time.Time
	inflight sync.WaitGroup
	// stopped closes when the first Stop has finished; every Stop waits
	// for it, so no caller closes the DB under a job still writing.
	stopped chan struct{}
}

// ErrRunning is returned by RunNow when the job or digest is already running.
var ErrRunning = errors.New("already running")

// errUnknown is wrapped by RunNow's error for a name that is not configured.
var errUnknown = errors.New("not configured")

// New prepares the scheduler for cfg's jobs and digests; nothing runs until
// Start. A spec that cannot be used (config.Validate rejects these first)
// leaves its job unscheduled with the reason in its status, never a crash.
func New(cfg *config.Config, deps Deps) *Scheduler {
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "schedule")
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	if deps.Run == nil {
		deps.Run = rollup.Run
	}
	if deps.DigestWait == 0 {
		deps.DigestWait = 10 * time.Minute
	}
	loc := cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	s := &Scheduler{cfg: cfg, deps: deps, log: log, now: now}
	for _, j := range cfg.Jobs {
		e := &entry{name: j.Name, kind: metrics.KindJob, spec: j.Schedule, job: j}
		e.sched, e.err = Parse(j.Schedule, loc)
		s.entries = append(s.entries, e)
	}
	for _, d := range cfg.Digests {
		e := &entry{name: d.Name, kind: metrics.KindDigest, spec: d.Schedule, dig: d}
		e.sched, e.err = Parse(d.Schedule, loc)
		s.entries = append(s.entries, e)
	}
	return s
}

// Start schedules every job and digest and returns; ticks run until Stop
// or until ctx ends. It fails only when the journal cannot be opened.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cron != nil {
		return errors.New("schedule: already started")
	}
	if s.deps.Metrics == nil {
		return errors.New("schedule: no metrics DB given")
	}
	s.journal = s.deps.Journal
	if s.journal == nil {
		j, err := metrics.OpenJournal(s.deps.Metrics.Path, max(s.cfg.BusyTimeout.D(), 30*time.Second))
		if err != nil {
			return fmt.Errorf("schedule: %w", err)
		}
		s.journal, s.ownJrnl = j, true
	}
	loc := s.cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	adapter := cronLogger{log: s.log}
	s.cron = cron.New(cron.WithLocation(loc), cron.WithLogger(adapter), cron.WithChain(cron.Recover(adapter)))
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.stopped = make(chan struct{})
	s.started = s.now()
	for _, e := range s.entries {
		switch {
		case e.err != nil:
			s.log.Error("not scheduled: bad schedule", "kind", e.kind, "name", e.name, "err", e.err)
			continue
		case e.kind == metrics.KindDigest && s.deps.Send == nil:
			s.log.Warn("digest not scheduled: this process has no mail sender", "name", e.name)
			continue
		}
		e.id = s.cron.Schedule(e.sched, cron.FuncJob(func() { s.tick(e, ViaSchedule) }))
		s.log.Info("scheduled", "kind", e.kind, "name", e.name, "schedule", e.spec, "next", e.sched.Next(s.now()))
	}
	s.cron.Start()
	go func() {
		<-s.ctx.Done()
		s.Stop()
	}()
	return nil
}

// Stop stops ticking, interrupts what is running (a rollup run is marked
// interrupted) and waits for it to end. It is safe to call more than once.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	c, stopped := s.cron, s.stopped
	s.cron = nil
	if c != nil {
		s.cancel()
	}
	s.mu.Unlock()
	if c == nil {
		if stopped != nil {
			<-stopped // another Stop is at work: wait for it
		}
		return
	}
	<-c.Stop().Done()
	s.inflight.Wait()
	if s.ownJrnl {
		s.journal.Close()
	}
	close(stopped)
}

// RunNow starts a job or digest now, in the background, as an admin asked
// from the dashboard. It refuses (with ErrRunning, or an error wrapping
// metrics.ErrRunInProgress for a job while another run holds the lock) when
// it could only be skipped; otherwise the outcome lands in the runs table,
// the digest attempts and the job's status.
func (s *Scheduler) RunNow(name string) error {
	var e *entry
	var names []string
	for _, x := range s.entries {
		names = append(names, x.name)
		if x.name == name {
			e = x
		}
	}
	if e == nil {
		return fmt.Errorf("schedule: %q is %w (jobs and digests: %s)", name, errUnknown, orNone(names))
	}
	if e.kind == metrics.KindDigest && s.deps.Send == nil {
		return fmt.Errorf("schedule: digest %s cannot be sent from here: this process has no mail sender", name)
	}
	if e.isRunning() {
		return fmt.Errorf("schedule: %s %s is %w; wait for it to finish", e.kind, name, ErrRunning)
	}
	if e.kind == metrics.KindJob {
		// Probe the run lock so the admin hears "busy" now rather than
		// finding a skipped tick later. The tick checks again.
		unlock, err := metrics.Lock(s.deps.Metrics.Path)
		if err != nil {
			return fmt.Errorf("schedule: job %s: %w", name, err)
		}
		unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cron == nil {
		return fmt.Errorf("schedule: the scheduler is not running, so %s cannot start; start `attache serve` again", name)
	}
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		// tick has logged and recorded a panic already; here there is no
		// cron.Recover to hand it to, and it must not end the process.
		defer func() { recover() }()
		s.tick(e, ViaManual)
	}()
	return nil
}

func (e *entry) isRunning() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running
}

// claim marks the entry running; false when it already was.
func (e *entry) claim() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running {
		return false
	}
	e.running = true
	return true
}

func (e *entry) release() {
	e.mu.Lock()
	e.running = false
	e.mu.Unlock()
}

// tick runs one activation of e, recording how it went. A panic is recorded
// and then handed on to cron.Recover, which logs it with its stack; the
// scheduler carries on either way.
func (s *Scheduler) tick(e *entry, via string) {
	log := s.log.With("kind", e.kind, "name", e.name, "via", via)
	if !e.claim() {
		log.Warn("tick skipped: still running from an earlier tick")
		s.record(e, via, metrics.EventSkipped, 0, "still running from an earlier tick")
		return
	}
	defer e.release()
	defer func() {
		if r := recover(); r != nil {
			log.Error("panic", "panic", r, "stack", string(debug.Stack()))
			s.record(e, via, metrics.EventPanic, 0, fmt.Sprint(r))
			panic(r)
		}
	}()
	s.mu.Lock()
	ctx := s.ctx
	s.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return
	}
	if e.kind == metrics.KindJob {
		s.runJob(ctx, e, via, log)
		return
	}
	s.sendDigest(ctx, e, via, log)
}

func (s *Scheduler) runJob(ctx context.Context, e *entry, via string, log *slog.Logger) {
	sum, err := s.deps.Run(ctx, s.cfg, s.deps.Metrics, rollup.Options{Job: e.name, Queries: e.job.Queries, Log: log})
	switch {
	case errors.Is(err, metrics.ErrRunInProgress):
		log.Warn("tick skipped: another run holds the metrics DB", "err", err)
		s.record(e, via, metrics.EventSkipped, 0, "another run is in progress: "+err.Error())
	case err != nil:
		log.Error("job failed", "err", err)
		s.record(e, via, metrics.EventFailed, 0, err.Error())
	default:
		log.Info("job finished", "summary", sum.String())
		s.record(e, via, metrics.EventOK, sum.RunID, sum.String())
	}
}

func (s *Scheduler) sendDigest(ctx context.Context, e *entry, via string, log *slog.Logger) {
	s.waitForRun(ctx, log)
	err := s.deps.Send(ctx, e.dig)
	var held interface{ Held() string }
	switch {
	case errors.As(err, &held):
		log.Warn("digest held", "reason", held.Held())
		s.record(e, via, metrics.EventHeld, 0, held.Held())
	case err != nil:
		log.Error("digest failed", "err", err)
		s.record(e, via, metrics.EventFailed, 0, err.Error())
	default:
		log.Info("digest sent")
		s.record(e, via, metrics.EventOK, 0, "sent to "+strings.Join(e.dig.To, ", "))
	}
}

// waitForRun gives a rollup run in progress up to DigestWait to finish.
func (s *Scheduler) waitForRun(ctx context.Context, log *slog.Logger) {
	if s.deps.DigestWait < 0 {
		return
	}
	deadline := time.Now().Add(s.deps.DigestWait)
	poll := min(5*time.Second, max(s.deps.DigestWait/20, 10*time.Millisecond))
	logged := false
	for time.Now().Before(deadline) {
		busy, err := s.deps.Metrics.RunInProgress(ctx)
		if err != nil || !busy {
			return
		}
		if !logged {
			log.Info("digest waits for the run in progress", "up_to", s.deps.DigestWait)
			logged = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(poll):
		}
	}
}

// record writes an event, logging (never failing) when it cannot.
func (s *Scheduler) record(e *entry, via, event string, runID int64, detail string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.mu.Lock()
	j := s.journal
	s.mu.Unlock()
	if j == nil {
		return
	}
	err := j.AddJobEvent(ctx, metrics.JobEvent{Name: e.name, Kind: e.kind, At: s.now(), Via: via, Event: event, RunID: runID, Detail: detail})
	if err != nil {
		s.log.Error("could not record a job event", "name", e.name, "event", event, "err", err)
	}
}

// Jobs returns the status of every job and digest, in config order.
func (s *Scheduler) Jobs() []JobStatus {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.mu.Lock()
	c, started := s.cron, s.started
	ids := make([]cron.EntryID, len(s.entries)) // Start sets them under mu
	for i, e := range s.entries {
		ids[i] = e.id
	}
	s.mu.Unlock()
	next := map[cron.EntryID]time.Time{}
	if c != nil {
		for _, ce := range c.Entries() {
			next[ce.ID] = ce.Next
		}
	}
	now := s.now()
	out := make([]JobStatus, 0, len(s.entries))
	for i, e := range s.entries {
		st := status(ctx, s.deps.Metrics, e, now, started)
		if ids[i] != 0 && c != nil {
			st.Next = next[ids[i]]
		}
		st.Running = e.isRunning()
		out = append(out, st)
	}
	return out
}

// Statuses reads the status of cfg's jobs and digests from the metrics DB
// alone, for a process that runs no scheduler (a second dashboard, a
// /metrics scrape): Next is the schedule's next tick, Running what the runs
// table says.
func Statuses(ctx context.Context, cfg *config.Config, mdb *metrics.DB, now time.Time) []JobStatus {
	s := New(cfg, Deps{Metrics: mdb})
	var out []JobStatus
	for _, e := range s.entries {
		st := status(ctx, mdb, e, now, time.Time{})
		if e.sched != nil {
			st.Next = e.sched.Next(now)
		}
		st.Running = st.LastStatus == "running"
		out = append(out, st)
	}
	return out
}

// status builds e's status from the metrics DB. since stands in for the
// first tick of a job the DB has never seen (the scheduler's start).
func status(ctx context.Context, mdb *metrics.DB, e *entry, now, since time.Time) JobStatus {
	st := JobStatus{Name: e.name, Kind: e.kind, Schedule: e.spec}
	if e.kind == metrics.KindJob {
		st.Queries = e.job.Queries
	} else {
		st.Report, st.To = e.dig.Report, slices.Clone(e.dig.To)
	}
	if e.err != nil {
		st.Error = "not scheduled: " + e.err.Error()
	}
	if mdb == nil {
		return st
	}
	h, err := mdb.History(ctx, e.kind, e.name)
	if err != nil {
		if st.Error == "" {
			st.Error = err.Error()
		}
		return st
	}
	st.LastSuccess = h.LastSuccess
	if h.LastSkip != nil {
		st.LastSkipped, st.LastSkipReason = h.LastSkip.At, h.LastSkip.Detail
	}
	lastAt := time.Time{}
	if r := h.LastRun; r != nil {
		st.LastRunID, st.LastStatus, st.LastError = r.ID, r.Status, r.Error
		st.LastFinished, lastAt = r.FinishedAt, r.StartedAt
	}
	if a := h.LastAttempt; a != nil {
		st.LastRunID, st.LastStatus, st.LastError, st.LastFinished, lastAt = a.RunID, a.Outcome, a.Error, a.At, a.At
	}
	// A failure or panic that left no run (a query missing, a crash before
	// the run row) is newer news than the last run.
	if ev := h.LastEvent; ev != nil && ev.RunID == 0 && (ev.Event == metrics.EventFailed || ev.Event == metrics.EventPanic) && ev.At.After(lastAt) {
		st.LastRunID, st.LastStatus, st.LastError, st.LastFinished = 0, ev.Event, ev.Detail, ev.At
	}
	base := h.LastSuccess
	if base.IsZero() {
		base = h.FirstSeen
	}
	if base.IsZero() {
		base = since
	}
	st.Stale = e.sched != nil && Stale(e.sched, base, now)
	return st
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none configured"
	}
	return strings.Join(names, ", ")
}

// cronLogger hands robfig/cron's logging to slog. Its Info lines come at
// every tick, so they go to Debug.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append([]any{"err", err}, kv...)...)
}
