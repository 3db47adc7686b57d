package rollup

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/query"
	"github.com/attache/attache/internal/sqlite"
	"github.com/attache/attache/internal/worker"
)

// Role is the worker role of the engine's child processes.
const Role = "rollup"

// request is what the coordinator sends a worker: Init once, then
// tenants, which the worker reads in batches of Init.BatchSize.
type request struct {
	Init  *initRequest
	Batch []batchTenant
}

type initRequest struct {
	Staging string // the worker's own staging database; "" with Check
	// BatchSize is how many tenants are attached at once (batch_size).
	BatchSize int
	Busy      time.Duration
	Queries   []workQuery
	// Check compiles the queries against each tenant (EXPLAIN) and writes
	// nothing: `attache check`.
	Check bool
}

type workQuery struct {
	Name string
	SQL  string
}

type batchTenant struct {
	ID   string
	Path string
	Size int64  // bytes, as listed; decides whether the file is mmap'd
	Key  string // an encrypted replica's key; "" for a plain file
}

type response struct {
	Err      string // the worker itself is unusable
	Failures []failure
	// Staged is how many rows this batch added to each query's staging
	// table, and OK how many (tenant, query) pairs it marked done: the merge
	// checks the staging file holds exactly what its worker reported.
	Staged map[string]int64
	OK     int64
	// Full names the file that found no space; the run stops at once.
	Full string
}

type failure struct {
	Tenant string
	Query  string
	Error  string
}

// ServeWorker is the child's main.
func ServeWorker(r io.Reader, w io.Writer) error {
	// Every SQLite call of this process stays on this (the main) thread:
	// glibc then serves SQLite from its main heap instead of growing one
	// arena per thread the Go scheduler happened to use (mprotect calls
	// 247 -> 20 per 130 tenants), and the Go runtime hands the work
	// between threads less often (futex waits -20%, sleeps -47%).
	runtime.LockOSThread()
	if err := sqlite.ConfigureForBatchReads(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	wk := &batchWorker{}
	defer wk.close()
	return worker.Serve(r, w, wk.handle)
}

// batchWorker keeps one connection for its whole life: its main database
// is the staging file, tenants come and go as ATTACHed schemas. It drives
// SQLite through its C API (sqlite.Raw), one cgo call a statement: through
// database/sql and go-libsql a full run of 10,000 small tenants used 5%
// more CPU (6.52 against 6.18 CPU-s, mean of four runs each, alternated).
type batchWorker struct {
	db        *sqlite.Raw
	batchSize int
	check     bool
	staging   string
	queries   []preparedQuery
	created   map[string]bool // staging tables made so far
}

type preparedQuery struct {
	name string
}

// view is the temp view holding q's SQL rewritten for slot i. Views are
// bound by schema name when used, so one view per slot serves every tenant
// attached there, and a batch statement stays short: go-libsql parses each
// statement's text in Go before SQLite sees it, which for ten inlined
// copies of a long query cost more than running it.
func (q preparedQuery) view(i int) string {
	return quoteIdent(fmt.Sprintf("v_%s_%d", q.name, i))
}

func (w *batchWorker) handle(req *request) *response {
	if req.Init != nil {
		if err := w.init(req.Init); err != nil {
			resp := &response{Err: err.Error()}
			if sqlite.IsFull(err) {
				resp.Full = req.Init.Staging
			}
			return resp
		}
		return &response{}
	}
	if w.db == nil {
		return &response{Err: "worker not initialised"}
	}
	// A request holds a few batches: each request costs both processes a
	// round trip and their Go runtimes the threads' hand-offs around it.
	resp := &response{Staged: map[string]int64{}}
	for i := 0; i < len(req.Batch); i += w.batchSize {
		// A goroutine that runs 10 ms without a pass through the
		// scheduler is preempted by Go's sysmon, which for one inside a
		// cgo call means taking its P; each time, sysmon goes back to
		// waking every 20 µs. Passing through the scheduler between
		// batches keeps that from happening: a 10,000-tenant run made
		// 2,700 nanosleep and 10,000 context switches instead of 14,300
		// and 35,000, and used 9% less CPU.
		runtime.Gosched()
		r := w.batch(req.Batch[i:min(i+w.batchSize, len(req.Batch))])
		if r.Err != "" {
			return r
		}
		resp.Failures = append(resp.Failures, r.Failures...)
		for q, n := range r.Staged {
			resp.Staged[q] += n
		}
		resp.OK += r.OK
	}
	return resp
}

func (w *batchWorker) init(in *initRequest) error {
	path := in.Staging
	if path == "" {
		path = ":memory:"
	}
	// The staging file is scratch: if the process dies the coordinator
	// throws it away, so it needs no fsync, and its journal stays in
	// memory, only there so that a batch's transaction can be rolled
	// back (see batch). mmap_size applies to every tenant attached later:
	// none is mapped unless large (see mmapMin).
	db, err := sqlite.OpenRaw(path, in.Busy, []string{"journal_mode=MEMORY", "synchronous=OFF", "temp_store=MEMORY", "cache_size=-8000", "mmap_size=0"})
	if err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	w.db, w.check, w.staging = db, in.Check, in.Staging
	w.batchSize = min(max(in.BatchSize, 1), config.MaxBatch)
	w.created = map[string]bool{}
	if !in.Check {
		if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS s__ok (tenant_id TEXT NOT NULL, query TEXT NOT NULL)`); err != nil {
			return fmt.Errorf("staging: %w", err)
		}
	}
	for _, q := range in.Queries {
		pq := preparedQuery{name: q.Name}
		for i := 0; i < config.MaxBatch; i++ {
			s, err := query.Rewrite(q.SQL, slotName(i))
			if err != nil {
				return fmt.Errorf("query %s: %w", q.Name, err)
			}
			if _, err := db.Exec("CREATE TEMP VIEW " + pq.view(i) + " AS " + s); err != nil {
				return fmt.Errorf("query %s: %w", q.Name, err)
			}
		}
		w.queries = append(w.queries, pq)
	}
	return nil
}

func (w *batchWorker) close() {
	if w.db != nil {
		w.db.Close()
	}
}

// mmapMin is the size from which a tenant is read through mmap. Mapping
// pays per page read (no read call, no copy) and costs per file: the
// unmap at DETACH makes the kernel interrupt every other core this
// multithreaded process ran on (a TLB shootdown), which on a virtual
// machine costs more than reading a small file. Measured on 2 cores with
// mmap for every tenant against none: the CRM fleet (45 KB tenants) used
// 26% less CPU without, the demo fleet (32 KB median, 1.7 MB largest) 13%
// less; twenty 11 MB tenants showed no difference above the noise. A
// tenant truncated under the mapping raises SIGBUS, which costs this
// process, not the run: see dispatch.
const mmapMin = 8 << 20

func slotName(i int) string { return fmt.Sprintf("t%d", i) }

// arm is one attached tenant of a batch.
type arm struct {
	slot int
	t    batchTenant
}

func (w *batchWorker) batch(tenants []batchTenant) *response {
	resp := &response{}
	var arms []arm
	for i, t := range tenants {
		if _, err := w.db.Exec(attachSQL(slotName(i), t.Key), attachArgs(t.Path, t.Key)...); err != nil {
			msg := "cannot open the database: " + sqlite.Message(err)
			for _, q := range w.queries {
				resp.Failures = append(resp.Failures, failure{Tenant: t.ID, Query: q.name, Error: msg})
			}
			continue
		}
		arms = append(arms, arm{slot: i, t: t})
		if t.Size >= mmapMin {
			w.db.Exec("PRAGMA " + slotName(i) + ".mmap_size = 268435456")
		}
	}
	defer func() {
		for _, a := range arms {
			w.db.Exec("DETACH " + slotName(a.slot))
		}
	}()
	if len(arms) == 0 {
		return resp
	}
	// One transaction per batch: each tenant is locked and checked for a
	// hot journal once instead of once per query (a third of the system
	// calls per tenant), the staging file is written once per batch, and
	// every query of a batch sees the same state of each tenant.
	// ATTACH and DETACH cannot run inside a transaction, so it opens
	// after the attaches and closes before the detaches.
	if !w.check {
		created := maps.Clone(w.created)
		if _, err := w.db.Exec("BEGIN"); err == nil {
			if w.readQueries(arms, resp, true) {
				if resp.Err != "" {
					w.db.Exec("ROLLBACK")
				}
				return resp
			}
			w.created = created // staging tables made in the transaction are gone
			// An error that ends the transaction (an I/O error, say) undid
			// the batch's rows, though not those staged after it: clear
			// what the batch left and read it again, one statement at a time.
			w.db.Exec("ROLLBACK")
			for _, q := range w.queries {
				w.deleteStaged(q, arms)
			}
			w.db.Exec("DELETE FROM s__ok WHERE tenant_id IN ("+placeholders(len(arms))+")", tenantIDs(arms)...)
		}
	}
	w.readQueries(arms, resp, false)
	return resp
}

// readQueries runs every query over the attached arms and records which
// tenants ran which query fine. In a transaction (tx) it gives up, false,
// as soon as a failure has ended that transaction. A full staging disk
// ends the batch: resp says so.
func (w *batchWorker) readQueries(arms []arm, resp *response, tx bool) bool {
	fails0 := len(resp.Failures)
	resp.Staged = map[string]int64{}
	var okArgs []string
	for _, q := range w.queries {
		fails, n, err := w.runQuery(q, arms)
		if err != nil {
			*resp = response{Err: err.Error(), Full: w.staging}
			return true
		}
		if tx && len(fails) > 0 && !w.db.InTx() {
			resp.Failures = resp.Failures[:fails0]
			return false
		}
		resp.Failures = append(resp.Failures, fails...)
		resp.Staged[q.name] += n
		failed := map[string]bool{}
		for _, f := range fails {
			failed[f.Tenant] = true
		}
		for _, a := range arms {
			if !failed[a.t.ID] {
				okArgs = append(okArgs, a.t.ID, q.name)
			}
		}
	}
	resp.OK = 0
	if len(okArgs) > 0 && !w.check {
		// Which tenants ran which query fine, recorded inside SQLite for the
		// merge, in one statement per batch.
		stmt := "INSERT INTO s__ok (tenant_id, query) VALUES " + strings.TrimSuffix(strings.Repeat("(?,?),", len(okArgs)/2), ",")
		if _, err := w.db.Exec(stmt, okArgs...); err != nil {
			if sqlite.IsFull(err) {
				*resp = response{Err: "staging: " + sqlite.Message(err), Full: w.staging}
				return true
			}
			if tx {
				return false
			}
			*resp = response{Err: "staging: " + sqlite.Message(err)}
			return true
		}
		resp.OK = int64(len(okArgs) / 2)
	}
	if tx {
		if _, err := w.db.Exec("COMMIT"); err != nil {
			if sqlite.IsFull(err) {
				*resp = response{Err: "staging: " + sqlite.Message(err), Full: w.staging}
				return true
			}
			return false
		}
	}
	return true
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

func tenantIDs(arms []arm) []string {
	ids := make([]string, len(arms))
	for i, a := range arms {
		ids[i] = a.t.ID
	}
	return ids
}

// runQuery runs q over all arms in one UNION ALL statement; when that fails
// it isolates the culprits by running each tenant alone, so one broken
// tenant never costs the others their rows. It returns the failures and
// how many rows it staged; an error only when the staging file is full,
// which no tenant is to blame for.
func (w *batchWorker) runQuery(q preparedQuery, arms []arm) ([]failure, int64, error) {
	if !w.check && !w.created[q.name] {
		if err := w.createStaging(q, arms); err != nil {
			if sqlite.IsFull(err) {
				return nil, 0, err
			}
			var fails []failure
			for _, a := range arms {
				fails = append(fails, failure{Tenant: a.t.ID, Query: q.name, Error: err.Error()})
			}
			return fails, 0, nil
		}
	}
	n, err := w.exec(q, arms)
	if err == nil {
		return nil, n, nil
	}
	if sqlite.IsFull(err) {
		return nil, 0, err
	}
	if len(arms) > 1 && !w.check {
		// A statement that failed part-way may have left rows behind.
		w.deleteStaged(q, arms)
	}
	var fails []failure
	var staged int64
	for _, a := range arms {
		one := []arm{a}
		n, err := w.exec(q, one)
		if sqlite.IsFull(err) {
			return nil, 0, err
		}
		if err != nil {
			if !w.check {
				w.deleteStaged(q, one)
			}
			fails = append(fails, failure{Tenant: a.t.ID, Query: q.name, Error: tenantMessage(err, a.slot)})
			continue
		}
		staged += n
	}
	return fails, staged, nil
}

// createStaging makes the staging table of q with the query's own result
// columns and no declared types, so values keep the storage class the
// tenant holds. The columns come from the first tenant that compiles it.
func (w *batchWorker) createStaging(q preparedQuery, arms []arm) error {
	var cols []string
	var lastErr error
	for _, a := range arms {
		c, err := w.db.Columns("SELECT * FROM " + q.view(a.slot))
		if err != nil {
			lastErr = errors.New(tenantMessage(err, a.slot))
			continue
		}
		cols = c
		break
	}
	if cols == nil {
		return lastErr
	}
	seen := map[string]bool{}
	quoted := []string{`"tenant_id"`}
	for _, c := range cols {
		lc := strings.ToLower(c)
		if lc == "tenant_id" || lc == "bucket" {
			return fmt.Errorf("query %s: result column %q is reserved by attache; rename it with AS", q.name, c)
		}
		if seen[lc] {
			return fmt.Errorf("query %s: result column %q appears twice; give each column its own name with AS", q.name, c)
		}
		seen[lc] = true
		quoted = append(quoted, quoteIdent(c))
	}
	stmt := "CREATE TABLE " + stagingTable(q.name) + " (" + strings.Join(quoted, ", ") + ")"
	if _, err := w.db.Exec(stmt); err != nil {
		return fmt.Errorf("query %s: staging table: %w", q.name, err)
	}
	w.created[q.name] = true
	return nil
}

// exec runs q over arms as one statement: INSERT ... SELECT into staging, or
// EXPLAIN in check mode, and returns the rows staged. Tenant ids are bound,
// never formatted into SQL.
func (w *batchWorker) exec(q preparedQuery, arms []arm) (int64, error) {
	var b strings.Builder
	args := make([]string, 0, len(arms))
	if w.check {
		b.WriteString("EXPLAIN ")
	} else {
		b.WriteString("INSERT INTO " + stagingTable(q.name) + " ")
	}
	b.WriteString(unionSQL(len(arms), func(i int) string { return q.view(arms[i].slot) }))
	for _, a := range arms {
		args = append(args, a.t.ID)
	}
	n, err := w.db.Exec(b.String(), args...)
	if w.check {
		return 0, err
	}
	return n, err
}

func (w *batchWorker) deleteStaged(q preparedQuery, arms []arm) {
	if !w.created[q.name] {
		return
	}
	w.db.Exec("DELETE FROM "+stagingTable(q.name)+" WHERE tenant_id IN ("+placeholders(len(arms))+")", tenantIDs(arms)...)
}

// unionSQL is the statement of a batch of n tenants, the one builder of
// runs and ad-hoc queries alike: one arm per tenant, its id bound as ?N
// (never formatted into SQL) and first column, the rows of from(i) after
// it, joined by UNION ALL.
func unionSQL(n int, from func(i int) string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString("\nUNION ALL\n")
		}
		fmt.Fprintf(&b, "SELECT ?%d AS tenant_id, * FROM %s", i+1, from(i))
	}
	return b.String()
}

// tenantMessage is the database's own message, with the slot schema we
// chose (t3) named back as the user wrote it (tenant).
func tenantMessage(err error, slot int) string {
	msg := sqlite.Message(err)
	re := regexp.MustCompile(`\b` + slotName(slot) + `\.`)
	return re.ReplaceAllString(msg, "tenant.")
}

func quoteIdent(s string) string { return sqlite.QuoteIdent(s) }
