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
	"sort"
	"strings"
	"sync"
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
	Failures  []metrics.TenantError
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

// plan is what a run will do with each tenant.
type plan struct {
	read      []tenant.Tenant
	unchanged []tenant.Tenant
	missing   []tenant.Tenant
	// carried are the lasting failures of unchanged tenants: the same file
	// would fail the same query again, so it is not read, only reported.
	carried []failure
}

func run(ctx context.Context, cfg *config.Config, mdb *metrics.DB, conn *sql.Conn, runID int64, queries []*query.Query, broken []*QueryError, startedAt time.Time, opt Options, log *slog.Logger) (*Summary, error) {
	fleet, err := tenant.List(ctx, cfg.Tenants)
	if err != nil {
		return nil, err
	}
	if err := syncReplicas(ctx, cfg, fleet, log); err != nil {
		return nil, err
	}
	queries, refused, err := vet(ctx, queries, fleet)
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
	p, err := makePlan(ctx, conn, fleet, queries, opt.Full, startedAt)
	if err != nil {
		return nil, err
	}
	log.Info("run planned", "tenants", len(fleet), "read", len(p.read), "unchanged", len(p.unchanged), "missing", len(p.missing))
	stagingDir, err := makeStaging(mdb.Path, runID)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stagingDir)

	fails := map[string][]failure{} // by tenant id
	for _, f := range p.carried {
		fails[f.Tenant] = append(fails[f.Tenant], f)
	}
	for _, t := range p.missing {
		for _, q := range queries {
			fails[t.ID] = append(fails[t.ID], failure{Tenant: t.ID, Query: q.Name, Error: t.MissingReason()})
		}
	}
	for _, f := range syncFailures(fleet) {
		fails[f.Tenant] = append(fails[f.Tenant], f)
	}
	var staging []stagingFile
	var maxRSS int64
	phase := time.Now()
	if len(p.read) > 0 {
		out, err := dispatch(ctx, cfg, queries, p.read, stagingDir, false, opt.Progress, log)
		if err != nil {
			return nil, err
		}
		staging, maxRSS = out.staging, out.maxRSS
		for _, f := range out.failures {
			fails[f.Tenant] = append(fails[f.Tenant], f)
		}
	}
	log.Debug("tenants read", "seconds", time.Since(phase).Seconds())
	m := &merge{log: log, conn: conn, runID: runID, queries: queries, broken: broken, plan: p, fails: fails, staging: staging, bucketAt: startedAt, finishedAt: time.Now()}
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
	sum.Total = len(fleet)
	sum.WorkerMaxRSS = maxRSS
	return sum, nil
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

// makePlan splits the fleet into tenants to read and tenants unchanged since
// their last good read of every selected query (same file, same query).
func makePlan(ctx context.Context, conn sqlite.Querier, fleet []tenant.Tenant, queries []*query.Query, full bool, at time.Time) (*plan, error) {
	p := &plan{}
	type seen struct{ fp, err string }
	state := map[string]map[string]seen{} // tenant -> query -> fingerprint|hash, lasting error
	if !full {
		// BLOBs, because go-libsql tries ten date layouts on every TEXT
		// value it returns: on a rerun of 10,000 unchanged tenants that was
		// most of the plan's time. A BLOB keeps the exact bytes.
		rows, err := conn.QueryContext(ctx, "SELECT CAST(tenant_id AS BLOB), CAST(query AS BLOB), CAST(fingerprint || '|' || sql_hash AS BLOB), CAST(coalesce(error, '') AS BLOB) FROM rollup_state")
		if err != nil {
			return nil, fmt.Errorf("read rollup state: %w", sqlite.Wrap(err))
		}
		for rows.Next() {
			var id, q, fp, msg string
			if err := rows.Scan(&id, &q, &fp, &msg); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read rollup state: %w", sqlite.Wrap(err))
			}
			if state[id] == nil {
				state[id] = map[string]seen{}
			}
			state[id][q] = seen{fp, msg}
		}
		rows.Close()
	}
	hashes := make([]string, len(queries))
	for i, q := range queries {
		hashes[i] = stateHash(q, at)
	}
	for _, t := range fleet {
		if t.Missing {
			p.missing = append(p.missing, t)
			continue
		}
		same := !full && state[t.ID] != nil
		for i, q := range queries {
			if !same {
				break
			}
			same = state[t.ID][q.Name].fp == t.Fingerprint+"|"+hashes[i]
		}
		if same {
			p.unchanged = append(p.unchanged, t)
			for _, q := range queries {
				if msg := state[t.ID][q.Name].err; msg != "" {
					p.carried = append(p.carried, failure{Tenant: t.ID, Query: q.Name, Error: msg})
				}
			}
		} else {
			p.read = append(p.read, t)
		}
	}
	return p, nil
}

// lasting reports whether a tenant's error will come back as long as its
// file and the query stay the same; a lock, a timeout or a crash may not.
func lasting(msg string) bool {
	for _, s := range []string{"locked", "busy", "batch_timeout", "crashed", "not read", "unable to open", "I/O error", "out of memory"} {
		if strings.Contains(msg, s) {
			return false
		}
	}
	return true
}

func unhex(h string) string { return sqlite.Unhex(h) }

// dispatched is what the workers produced.
type dispatched struct {
	staging  []stagingFile
	failures []failure
	maxRSS   int64
}

// stagingFile is one worker's staging database and what the worker said it
// wrote there, which the merge checks before it trusts the file.
type stagingFile struct {
	Path   string
	Staged map[string]int64 // rows per query
	OK     int64            // (tenant, query) pairs read fine
}

// dispatch feeds batches to worker processes. A worker that dies (a crash
// in native code, or killed at batch_timeout) loses its staging file: every
// batch it had done is queued again, and the batch it died on is split
// until the tenant that kills it stands alone and is recorded as failed.
func dispatch(ctx context.Context, cfg *config.Config, queries []*query.Query, tenants []tenant.Tenant, stagingDir string, check bool, progress func(int, int), log *slog.Logger) (*dispatched, error) {
	var batches [][]batchTenant
	for i := 0; i < len(tenants); i += cfg.BatchSize {
		end := min(i+cfg.BatchSize, len(tenants))
		b := make([]batchTenant, 0, end-i)
		for _, t := range tenants[i:end] {
			b = append(b, batchTenant{ID: t.ID, Path: t.Path, Size: t.Size, Key: tenantKey(cfg, t)})
		}
		batches = append(batches, b)
	}
	wq := make([]workQuery, len(queries))
	for i, q := range queries {
		wq[i] = workQuery{Name: q.Name, SQL: q.SQL}
	}
	d := &dispatcher{
		ctx: ctx, queue: batches, total: len(tenants), progress: progress, log: log,
		init: initRequest{Busy: cfg.BusyTimeout.D(), Queries: wq, Check: check},
		dir:  stagingDir, timeout: cfg.BatchTimeout.D(), out: &dispatched{},
	}
	d.cond = sync.NewCond(&d.mu)
	n := min(cfg.Workers, len(batches))
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
	// Batches nobody could take (every allowed worker start used up).
	for _, b := range d.queue {
		for _, t := range b {
			for _, q := range queries {
				d.out.failures = append(d.out.failures, failure{Tenant: t.ID, Query: q.Name, Error: "not read: worker processes kept crashing in this run; see the log"})
			}
		}
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

	mu       sync.Mutex
	cond     *sync.Cond
	queue    [][]batchTenant
	inflight int
	starts   int
	done     int
	fatal    error
	out      *dispatched
}

// take returns the next batch, or nil when all work is done.
func (d *dispatcher) take() []batchTenant {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.queue) == 0 && d.inflight > 0 && d.ctx.Err() == nil && d.fatal == nil {
		d.cond.Wait()
	}
	if len(d.queue) == 0 || d.ctx.Err() != nil || d.fatal != nil {
		return nil
	}
	b := d.queue[0]
	d.queue = d.queue[1:]
	d.inflight++
	return b
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
	proc     *worker.Proc
	staging  stagingFile
	done     [][]batchTenant
	failures []failure
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
	s := &session{staging: stagingFile{Staged: map[string]int64{}}}
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
		s.done = append(s.done, b)
		s.failures = append(s.failures, resp.Failures...)
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
		d.mu.Lock()
		if s.staging.Path != "" {
			d.out.staging = append(d.out.staging, s.staging)
		}
		d.out.failures = append(d.out.failures, s.failures...)
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
	requeue := append([][]batchTenant{}, s.done...)
	reason := "the worker process crashed while reading this tenant"
	if errors.Is(err, worker.ErrTimeout) {
		reason = fmt.Sprintf("reading this tenant took longer than batch_timeout (%s)", d.timeout)
	}
	if len(b) > 1 {
		log.Warn("worker lost a batch; splitting it to find the tenant at fault", "err", err)
		half := len(b) / 2
		requeue = append(requeue, b[:half], b[half:])
	} else {
		log.Warn("tenant stopped its worker", "tenant", b[0].ID, "err", err)
		// The verdict on this tenant survives the session it killed; the
		// session's other results are redone with its re-queued batches.
		d.mu.Lock()
		for _, q := range d.init.Queries {
			d.out.failures = append(d.out.failures, failure{Tenant: b[0].ID, Query: q.Name, Error: reason})
		}
		d.done += len(b)
		d.mu.Unlock()
	}
	d.mu.Lock()
	d.done -= s.tenantsDone()
	d.mu.Unlock()
	d.finish(requeue...)
}

func (s *session) tenantsDone() int {
	n := 0
	for _, b := range s.done {
		n += len(b)
	}
	return n
}

func ids(b []batchTenant) string {
	s := make([]string, len(b))
	for i, t := range b {
		s[i] = t.ID
	}
	return strings.Join(s, ",")
}
