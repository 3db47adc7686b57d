// Package rollup is the engine: it reads the fleet by ATTACHing tenant
// databases read-only in batches of at most 10, runs each query once per
// batch as one UNION ALL statement, and merges the results into the metrics
// DB in one transaction per run.
//
// Reading happens in worker processes (see internal/worker): each keeps one
// pinned connection whose main database is its own staging file, filled by
// INSERT … SELECT so no tenant value ever crosses into Go. The coordinator
// plans batches, isolates failures and merges the staging files.
package rollup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/attache/attache/internal/human"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/query"
	"github.com/attache/attache/internal/sqlite"
	"github.com/attache/attache/internal/tenant"
	"github.com/attache/attache/internal/worker"
)

// maxStarts bounds worker processes per run: each valid staging file is
// attached at merge time, and SQLite attaches at most 10 databases.
const maxStarts = 9

// Options select what one run does.
type Options struct {
	Job      string   // recorded in runs.job; "manual" when empty
	Queries  []string // names; nil means every query
	Full     bool     // read every tenant, changed or not
	Progress func(done, total int)
	Log      *slog.Logger
	Now      func() time.Time // the clock; time.Now when nil
	// progressEvery overrides how often the runs row gets the progress
	// (tests: every update).
	progressEvery time.Duration
	// feedPage caps the tenants handed to the dispatcher at once (tests).
	feedPage int
}

// Summary is what a run did.
type Summary struct {
	RunID     int64
	Total     int // tenants in the fleet
	Read      int // tenants read this run
	OK        int // read, every query fine
	Failed    int // read, at least one query failed
	Unchanged int // skipped: unchanged since their last good read
	Rows      int64
	Duration  time.Duration
	// Failures are the run's first failures by tenant id (at most 10,000:
	// the metrics DB's tenant_errors holds them all); FailureCount counts
	// them all.
	Failures     []metrics.TenantError
	FailureCount int
	// QueryErrors are the queries that did not run at all; the others did.
	QueryErrors []*QueryError
	// WorkerMaxRSS is the largest peak memory of any worker process, bytes.
	WorkerMaxRSS int64
	// Stale are remote tenants whose sync failed: their older replica was
	// read (or carried), so they count neither as fresh nor as failed.
	Stale int
}

// String is the one-line summary `attache run` prints.
func (s *Summary) String() string {
	line := fmt.Sprintf("run %d: %s: %s read, %s unchanged, %s failed; %s in %s",
		s.RunID, human.Plural(int64(s.Total), "tenant"), human.Count(int64(s.Read)), human.Count(int64(s.Unchanged)),
		human.Count(int64(s.Failed)), human.Plural(s.Rows, "row"), human.Duration(s.Duration))
	if s.Stale > 0 {
		line = strings.Replace(line, " failed;", fmt.Sprintf(" failed, %s stale;", human.Count(int64(s.Stale))), 1)
	}
	if n := len(s.QueryErrors); n > 0 {
		line += fmt.Sprintf("; %d quer%s did not run", n, map[bool]string{true: "y", false: "ies"}[n == 1])
	}
	return line
}

// SelectQueries is LoadQueries for callers that need every query: a file
// that does not parse is an error.
func SelectQueries(cfg *config.Config, names []string) ([]*query.Query, error) {
	qs, broken, err := LoadQueries(cfg, names)
	if err != nil {
		return nil, err
	}
	if len(broken) > 0 {
		errs := make([]error, len(broken))
		for i, b := range broken {
			errs[i] = b
		}
		return nil, errors.Join(errs...)
	}
	return qs, nil
}

// LoadQueries loads the query folder and keeps the named ones (all when
// names is empty), with an error that lists what exists. A file that does
// not parse is returned as a *QueryError beside the queries that do: it
// costs only itself.
func LoadQueries(cfg *config.Config, names []string) ([]*query.Query, []*QueryError, error) {
	all, err := query.LoadDir(cfg.QueriesFS)
	var broken []*QueryError
	if err != nil {
		var errs []error
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		} else {
			errs = []error{err}
		}
		for _, e := range errs {
			var fe *query.FileError
			if !errors.As(e, &fe) {
				return nil, nil, e // the folder itself
			}
			broken = append(broken, &QueryError{Query: fe.Name, File: fe.File, Err: fe})
		}
	}
	if len(all) == 0 && len(broken) == 0 {
		return nil, nil, fmt.Errorf("no queries in %s; add NAME.sql files there", cfg.Queries)
	}
	if len(names) == 0 {
		return all, broken, nil
	}
	byName := map[string]*query.Query{}
	badByName := map[string]*QueryError{}
	var have []string
	for _, q := range all {
		byName[q.Name] = q
		have = append(have, q.Name)
	}
	for _, b := range broken {
		badByName[b.Query] = b
		have = append(have, b.Query)
	}
	sort.Strings(have)
	var out []*query.Query
	var bad []*QueryError
	for _, n := range names {
		if b, ok := badByName[n]; ok {
			bad = append(bad, b)
			continue
		}
		q, ok := byName[n]
		if !ok {
			return nil, nil, fmt.Errorf("no query %q in %s (have: %s)", n, cfg.Queries, strings.Join(have, ", "))
		}
		out = append(out, q)
	}
	return out, bad, nil
}

func hashQuery(q *query.Query) string {
	h := sha256.Sum256([]byte(q.Mode + "\x00" + q.Grain + "\x00" + q.SQL))
	return hex.EncodeToString(h[:8])
}

// stateHash is what must match for an unchanged tenant to be skipped: the
// query, and for a query whose answer depends on time (vet found it reads
// the clock, or its header says clock: yes) also the period, so such a
// query is read once per bucket instead of carried forward forever.
func stateHash(q *query.Query, at time.Time) string {
	h := hashQuery(q)
	if q.DependsOnTime() {
		h += "@" + query.Bucket(q.Grain, at)
	}
	return h
}

// Run reads the fleet once into rollups. It holds the metrics DB's run lock
// for its whole length; a second run gets an error wrapping
// metrics.ErrRunInProgress. Tenant failures do not fail the run: they are
// recorded in tenant_errors and counted in the summary.
//
// A panic anywhere in the run (its goroutines included) is a recorded
// failed run and an error, never a crash of the server or scheduler that
// started it.
func Run(ctx context.Context, cfg *config.Config, mdb *metrics.DB, opt Options) (sum *Summary, err error) {
	defer func() {
		if r := recover(); r != nil {
			sum, err = nil, panicError(r, opt.Log)
		}
	}()
	start := time.Now()
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.Job == "" {
		opt.Job = "manual"
	}
	unlock, err := metrics.Lock(mdb.Path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	queries, broken, err := LoadQueries(cfg, opt.Queries)
	if err != nil {
		return nil, err
	}
	conn, err := mdb.W.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
	}
	defer conn.Close()
	// Any run still marked running died without finishing: we hold the lock.
	if _, err := conn.ExecContext(ctx, "UPDATE runs SET status = 'interrupted', finished_at = coalesce(finished_at, started_at) WHERE status = 'running'"); err != nil {
		return nil, fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
	}
	var names []string
	for _, q := range queries {
		names = append(names, q.Name)
	}
	for _, b := range broken {
		names = append(names, b.Query)
	}
	sort.Strings(names)
	startedAt := now()
	res, err := conn.ExecContext(ctx, "INSERT INTO runs (job, started_at, status, queries, full, pid) VALUES (?, ?, 'running', ?, ?, ?)",
		opt.Job, metrics.Format(startedAt), strings.Join(names, ","), opt.Full, os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
	}
	runID, _ := res.LastInsertId()
	log = log.With("run", runID)
	sum, err = func() (sum *Summary, err error) {
		defer func() {
			if r := recover(); r != nil {
				sum, err = nil, panicError(r, log)
			}
		}()
		return run(ctx, cfg, mdb, conn, runID, queries, broken, startedAt, opt, log)
	}()
	if err != nil {
		status := "failed"
		if ctx.Err() != nil {
			status = "interrupted"
		}
		// The failure is recorded even when the clock is what broke.
		finished := func() (t time.Time) {
			defer func() {
				if recover() != nil {
					t = time.Now()
				}
			}()
			return now()
		}()
		conn.ExecContext(context.WithoutCancel(ctx), "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ?", status, metrics.Format(finished), err.Error(), runID)
		return nil, fmt.Errorf("run %d: %w", runID, err)
	}
	sum.RunID = runID
	sum.Duration = time.Since(start)
	// The stamps keep whole seconds; the pages show this figure, the same
	// one the CLI prints.
	if _, err := conn.ExecContext(ctx, "UPDATE runs SET elapsed_ms = ? WHERE id = ?", sum.Duration.Milliseconds(), runID); err != nil {
		log.Warn("could not record the run's length", "err", sqlite.Message(err))
	}
	log.Info("run finished", "tenants", sum.Total, "read", sum.Read, "unchanged", sum.Unchanged, "failed", sum.Failed, "rows", sum.Rows, "seconds", sum.Duration.Seconds())
	return sum, nil
}

// panicError turns a recovered panic into the run's error, logging where
// it happened.
func panicError(r any, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Error("run panicked", "panic", r, "stack", string(debug.Stack()))
	return fmt.Errorf("internal error (a bug in attache, please report it with the log): %v", r)
}

// diskFull is the error that stops a run when a write found no space.
func diskFull(path string, err error) error {
	return fmt.Errorf("disk full: %s (free space there and run again; the previous run's results are intact): %w", path, err)
}

func run(ctx context.Context, cfg *config.Config, mdb *metrics.DB, conn *sql.Conn, runID int64, queries []*query.Query, broken []*QueryError, startedAt time.Time, opt Options, log *slog.Logger) (*Summary, error) {
	if err := makeTemp(ctx, conn); err != nil {
		return nil, err
	}
	defer dropTemp(ctx, conn)
	g := &guarded{conn: conn}
	rec := &recorder{ctx: ctx, g: g, runID: runID, every: progressEvery, log: log}
	if opt.progressEvery != 0 {
		rec.every = max(opt.progressEvery, 0)
	}
	rec.update("listing", 0, 0)
	phase := startPhase()
	// A settled file's header read is left out while listing when there is
	// state to judge it by (see tenant.Headers), unless the last
	// incremental run read most of the fleet: each tenant to read then
	// costs a second pass for its header. A full run reads every tenant,
	// so it reads every header as it lists.
	headers := tenant.Headers{Now: startedAt}
	if !opt.Full {
		if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM rollup_state)
			AND coalesce((SELECT tenants_unchanged * 2 >= tenants_total FROM runs WHERE status = 'ok' AND NOT full ORDER BY id DESC LIMIT 1), 1)`).Scan(&headers.Defer); err != nil {
			return nil, fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
		}
	}
	remote, err := listFleet(ctx, cfg, conn, headers, func(n int) { rec.update("listing", n, 0) }, log)
	if err != nil {
		return nil, err
	}
	phase.done(log, "fleet listed")
	var pathErr error
	queries, refused, err := vetPaths(ctx, queries, presentPaths(ctx, conn, &pathErr))
	if err == nil {
		err = pathErr
	}
	if err != nil {
		return nil, err
	}
	broken = append(broken, refused...)
	for _, b := range broken {
		log.Warn("query not run", "query", b.Query, "err", b.Err)
	}
	if len(queries) == 0 {
		msgs := make([]string, len(broken))
		for i, b := range broken {
			msgs[i] = b.Error()
		}
		return nil, fmt.Errorf("no query can run: %s", strings.Join(msgs, "; "))
	}
	phase.done(log, "queries vetted")
	c, err := planRun(ctx, conn, queries, opt.Full, startedAt, remote, log)
	if err != nil {
		return nil, err
	}
	phase.done(log, "run planned")
	log.Info("run planned", "tenants", c.total, "read", c.read, "unchanged", c.unchanged, "missing", c.missing, "headers_read", c.headers)
	stagingDir, err := makeStaging(mdb.Path, runID)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stagingDir)

	var staging []stagingFile
	var maxRSS int64
	phase = startPhase()
	if c.read > 0 {
		rec.update("reading", 0, c.read)
		progress := func(done, total int) {
			rec.update("reading", done, total)
			if opt.Progress != nil {
				opt.Progress(done, total)
			}
		}
		f := &sqlFeed{ctx: ctx, g: g, cfg: cfg, page: opt.feedPage}
		out, err := dispatch(ctx, cfg, queries, f, c.read, stagingDir, false, progress, log)
		if err != nil {
			return nil, err
		}
		staging, maxRSS = out.staging, out.maxRSS
	}
	phase.done(log, "tenants read")
	rec.update("merging", c.read, c.read)
	m := &merge{log: log, conn: conn, runID: runID, queries: queries, broken: broken, counts: c, staging: staging, bucketAt: startedAt, finishedAt: time.Now(), full: opt.Full}
	if opt.Now != nil {
		m.finishedAt = opt.Now()
	}
	sum, err := m.apply(ctx)
	if err != nil {
		if sqlite.IsFull(err) {
			return nil, diskFull(mdb.Path, err)
		}
		return nil, fmt.Errorf("merge into metrics DB: %w", err)
	}
	phase.done(log, "merged")
	sum.Total = c.total
	sum.WorkerMaxRSS = maxRSS
	return sum, nil
}

// phase times a step of a run for the debug log: wall time, and the CPU
// time of this process alone (the coordinator's; the workers' is theirs).
type phase struct {
	wall time.Time
	cpu  time.Duration
}

func startPhase() phase { return phase{time.Now(), selfCPU()} }

// done logs the phase as msg and starts the next one.
func (p *phase) done(log *slog.Logger, msg string) {
	next := startPhase()
	log.Debug(msg, "seconds", next.wall.Sub(p.wall).Seconds(), "cpu_seconds", (next.cpu - p.cpu).Seconds())
	*p = next
}

// selfCPU is the user and system time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stagingPrefix starts the name of a run's private staging folder beside
// its metrics DB: .attache-staging.METRICSFILE.PID.RUNID. Two metrics DBs in
// one folder, or two runs, never share one.
func stagingPrefix(metricsPath string) string {
	return filepath.Join(filepath.Dir(metricsPath), ".attache-staging."+filepath.Base(metricsPath)+".")
}

// makeStaging makes this run's staging folder, after removing those of runs
// of the same metrics DB that died: the caller holds its run lock, so no
// other run of it is alive.
func makeStaging(metricsPath string, runID int64) (string, error) {
	prefix := stagingPrefix(metricsPath)
	if old, err := filepath.Glob(globEscape(prefix) + "*"); err == nil {
		for _, d := range old {
			os.RemoveAll(d)
		}
	}
	dir := fmt.Sprintf("%s%d.%d", prefix, os.Getpid(), runID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if sqlite.IsFull(err) {
			return "", diskFull(filepath.Dir(dir), err)
		}
		return "", fmt.Errorf("staging folder: %w", err)
	}
	return dir, nil
}

// globEscape quotes the characters filepath.Match treats as patterns.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteRune('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// passing are the words of errors that may not come back (see lasting).
var passing = []string{"locked", "busy", "batch_timeout", "crashed", "not read", "unable to open", "I/O error", "out of memory"}

// lasting reports whether a tenant's error will come back as long as its
// file and the query stay the same; a lock, a timeout or a crash may not.
func lasting(msg string) bool {
	for _, s := range passing {
		if strings.Contains(msg, s) {
			return false
		}
	}
	return true
}

func unhex(h string) string { return sqlite.Unhex(h) }

// callBatches is how many batches a worker is sent at most at once.
const callBatches = 8

// dispatched is what the workers produced; the failures are in the feed.
type dispatched struct {
	staging []stagingFile
	maxRSS  int64
}

// stagingFile is one worker's staging database and what the worker said it
// wrote there, which the merge checks before it trusts the file.
type stagingFile struct {
	Path   string
	Staged map[string]int64 // rows per query
	OK     int64            // (tenant, query) pairs read fine
}

// dispatch feeds the total tenants of f to worker processes in batches,
// taking a few batches per worker from f at a time, so what it holds is
// the work in flight, not the fleet. A worker that dies (a crash in native
// code, or killed at batch_timeout) loses its staging file: every tenant it
// had read is handed out again, and the batch it died on is split until
// the tenant that kills it stands alone and is recorded as failed.
func dispatch(ctx context.Context, cfg *config.Config, queries []*query.Query, f feed, total int, stagingDir string, check bool, progress func(int, int), log *slog.Logger) (*dispatched, error) {
	wq := make([]workQuery, len(queries))
	for i, q := range queries {
		wq[i] = workQuery{Name: q.Name, SQL: q.SQL}
	}
	// A worker is sent a few batches at a time (a call): each call costs a
	// round trip between the processes and their Go runtimes' threads
	// waking each other. Eight batches a call instead of one took the
	// coordinator's CPU while 10,000 tenants are read from 0.31-0.36 to
	// 0.18 s. Calls stay small enough that every worker gets about eight,
	// so the last ones do not leave a worker idle; see also grow.
	workers := max(cfg.Workers, 1)
	maxCall := max(1, min(callBatches, total/(workers*8)/cfg.BatchSize))
	d := &dispatcher{
		ctx: ctx, feed: f, batch: cfg.BatchSize, maxCall: maxCall, callNow: 1, ahead: max(listPage, maxCall*cfg.BatchSize*workers*4),
		total: total, progress: progress, log: log,
		init: initRequest{BatchSize: cfg.BatchSize, Busy: cfg.BusyTimeout.D(), Queries: wq, Check: check},
		dir:  stagingDir, timeout: cfg.BatchTimeout.D(), out: &dispatched{},
	}
	d.cond = sync.NewCond(&d.mu)
	n := min(cfg.Workers, (total+cfg.BatchSize-1)/cfg.BatchSize)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.work()
		}()
	}
	// Wake waiting workers when the run is cancelled.
	stop := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		d.cond.Broadcast()
		d.mu.Unlock()
	})
	wg.Wait()
	stop()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d.fatal != nil {
		return nil, d.fatal
	}
	// Tenants nobody could read (every allowed worker start used up).
	if err := f.unread(d.queue, wq, "not read: worker processes kept crashing in this run; see the log"); err != nil {
		return nil, err
	}
	sort.Slice(d.out.staging, func(i, j int) bool { return d.out.staging[i].Path < d.out.staging[j].Path })
	return d.out, nil
}

type dispatcher struct {
	ctx      context.Context
	init     initRequest
	dir      string
	timeout  time.Duration
	progress func(int, int)
	log      *slog.Logger
	total    int
	feed     feed
	batch    int // tenants per batch
	maxCall  int // batches a call holds at most
	ahead    int // tenants taken from the feed at once

	mu       sync.Mutex
	cond     *sync.Cond
	queue    [][]batchTenant // batches
	callNow  int             // batches a call holds now (see grow)
	slowest  time.Duration   // the longest a batch took, on average over its call
	careful  bool            // a worker was lost: one batch a call from then on
	drained  bool            // the feed had nothing left when last asked
	inflight int
	starts   int
	done     int
	fatal    error
	out      *dispatched
}

// take returns the next call (one batch, or a few), or nil when all work
// is done.
func (d *dispatcher) take() []batchTenant {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if d.ctx.Err() != nil || d.fatal != nil {
			return nil
		}
		if len(d.queue) == 0 && !d.drained {
			ts, err := d.feed.next(d.ahead)
			if err != nil {
				d.fatal = err
				d.cond.Broadcast()
				return nil
			}
			d.drained = len(ts) == 0
			for i := 0; i < len(ts); i += d.batch {
				d.queue = append(d.queue, ts[i:min(i+d.batch, len(ts))])
			}
		}
		if len(d.queue) > 0 {
			n := min(d.callNow, len(d.queue))
			b := d.queue[0]
			if n > 1 {
				b = slices.Concat(d.queue[:n]...)
			}
			d.queue = d.queue[n:]
			d.inflight++
			return b
		}
		if d.inflight == 0 {
			return nil
		}
		d.cond.Wait()
	}
}

// grow sizes the calls after one of n tenants took took: a run starts
// with one batch a call and sends more once its batches prove quick, so
// that a call takes at most a sixteenth of batch_timeout at the pace of
// the slowest call so far. batch_timeout then still stops a runaway
// tenant about when it stopped its batch alone; a run that lost a worker
// goes back to one batch a call (see lost).
func (d *dispatcher) grow(n int, took time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	batches := (n + d.batch - 1) / d.batch
	d.slowest = max(d.slowest, took/time.Duration(max(batches, 1)))
	if d.careful {
		return
	}
	d.callNow = max(1, min(d.maxCall, int(d.timeout/(16*max(d.slowest, 1)))))
}

func (d *dispatcher) finish(requeue ...[]batchTenant) {
	d.mu.Lock()
	d.inflight--
	d.queue = append(d.queue, requeue...)
	d.cond.Broadcast()
	d.mu.Unlock()
}

// session is one worker process and what it has done so far; its results
// count only once the process has exited cleanly with its staging file.
type session struct {
	n       int // its number in the run, never reused
	proc    *worker.Proc
	staging stagingFile
	read    int // tenants it read
}

func (d *dispatcher) start() (*session, error) {
	d.mu.Lock()
	if d.starts >= maxStarts {
		d.mu.Unlock()
		return nil, nil
	}
	d.starts++
	n := d.starts
	d.mu.Unlock()
	s := &session{n: n, staging: stagingFile{Staged: map[string]int64{}}}
	if !d.init.Check {
		s.staging.Path = filepath.Join(d.dir, fmt.Sprintf("worker-%d.db", n))
	}
	proc, err := worker.Start(Role)
	if err != nil {
		return nil, err
	}
	in := d.init
	in.Staging = s.staging.Path
	var resp response
	if err := proc.Call(&request{Init: &in}, &resp, time.Minute); err != nil {
		return nil, err
	}
	if resp.Full != "" {
		proc.Kill()
		return nil, diskFull(resp.Full, errors.New(resp.Err))
	}
	if resp.Err != "" {
		proc.Kill()
		return nil, fmt.Errorf("worker: %s", resp.Err)
	}
	s.proc = proc
	return s, nil
}

func (d *dispatcher) work() {
	var s *session
	defer func() {
		if r := recover(); r != nil {
			if s != nil {
				s.proc.Kill()
			}
			d.stop(panicError(r, d.log))
		}
	}()
	for {
		b := d.take()
		if b == nil {
			break
		}
		if s == nil {
			var err error
			s, err = d.start()
			if err != nil || s == nil {
				d.mu.Lock()
				if err != nil && d.fatal == nil {
					d.fatal = err
				}
				d.inflight--
				d.queue = append(d.queue, b)
				d.cond.Broadcast()
				d.mu.Unlock()
				return
			}
		}
		var resp response
		// batch_timeout holds for the call: grow keeps a call well inside it.
		started := time.Now()
		err := s.proc.Call(&request{Batch: b}, &resp, d.timeout)
		if err == nil && resp.Full != "" {
			// No space: every retry would fail the same way, and slower.
			s.proc.Kill()
			d.stop(diskFull(resp.Full, errors.New(resp.Err)))
			return
		}
		if err == nil && resp.Err != "" {
			err = errors.New(resp.Err)
			s.proc.Kill()
		}
		if err != nil {
			d.lost(s, b, err)
			s = nil
			continue
		}
		if err := d.feed.read(s.n, b, resp.Failures); err != nil {
			s.proc.Kill()
			d.stop(err)
			return
		}
		d.grow(len(b), time.Since(started))
		s.read += len(b)
		for q, n := range resp.Staged {
			s.staging.Staged[q] += n
		}
		s.staging.OK += resp.OK
		d.mu.Lock()
		d.done += len(b)
		done := min(d.done, d.total)
		d.mu.Unlock()
		if d.progress != nil {
			d.progress(done, d.total)
		}
		d.finish()
	}
	if s != nil {
		// Closing stdin lets the worker close its staging file cleanly.
		s.proc.Close()
		if err := d.feed.kept(s.n); err != nil {
			d.mu.Lock()
			if d.fatal == nil {
				d.fatal = err
			}
			d.mu.Unlock()
			return
		}
		d.mu.Lock()
		if s.staging.Path != "" {
			d.out.staging = append(d.out.staging, s.staging)
		}
		d.out.maxRSS = max(d.out.maxRSS, s.proc.MaxRSS())
		d.mu.Unlock()
	}
}

// stop ends the dispatch at once with err; batches in flight are dropped.
func (d *dispatcher) stop(err error) {
	d.mu.Lock()
	if d.fatal == nil {
		d.fatal = err
	}
	d.inflight--
	d.cond.Broadcast()
	d.mu.Unlock()
}

// lost handles a worker that died on batch b.
func (d *dispatcher) lost(s *session, b []batchTenant, err error) {
	log := d.log.With("batch", ids(b))
	if s.staging.Path != "" {
		os.Remove(s.staging.Path)
	}
	if ferr := d.feed.lost(s.n); ferr != nil {
		d.stop(ferr)
		return
	}
	var requeue [][]batchTenant
	reason := "the worker process crashed while reading this tenant"
	if errors.Is(err, worker.ErrTimeout) {
		reason = fmt.Sprintf("reading this tenant took longer than batch_timeout (%s)", d.timeout)
	}
	d.mu.Lock()
	d.careful, d.callNow = true, 1
	d.mu.Unlock()
	if len(b) > d.batch {
		// A call of several batches: each goes back alone, and the one
		// at fault is then split like any batch.
		log.Warn("worker lost a call of several batches; reading them one at a time to find the tenant at fault", "err", err)
		for i := 0; i < len(b); i += d.batch {
			requeue = append(requeue, b[i:min(i+d.batch, len(b))])
		}
	} else if len(b) > 1 {
		log.Warn("worker lost a batch; splitting it to find the tenant at fault", "err", err)
		half := len(b) / 2
		requeue = append(requeue, b[:half], b[half:])
	} else {
		log.Warn("tenant stopped its worker", "tenant", b[0].ID, "err", err)
		// The verdict on this tenant survives the session it killed; the
		// session's other results are redone by the tenants handed out again.
		var fs []failure
		for _, q := range d.init.Queries {
			fs = append(fs, failure{Tenant: b[0].ID, Query: q.Name, Error: reason})
		}
		if ferr := d.feed.verdict(fs); ferr != nil {
			d.stop(ferr)
			return
		}
		d.mu.Lock()
		d.done += len(b)
		d.mu.Unlock()
	}
	d.mu.Lock()
	d.done -= s.read
	d.drained = false // the session's tenants are the feed's again
	d.mu.Unlock()
	d.finish(requeue...)
}

func ids(b []batchTenant) string {
	s := make([]string, len(b))
	for i, t := range b {
		s[i] = t.ID
	}
	return strings.Join(s, ",")
}
