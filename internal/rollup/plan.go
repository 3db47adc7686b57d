package rollup

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"iter"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/query"
	"github.com/attache/attache/internal/replica"
	"github.com/attache/attache/internal/sqlite"
	"github.com/attache/attache/internal/tenant"
)

// A run keeps what it knows about the fleet in temp tables of its metrics
// connection, not in Go: the listing is written there a page at a time,
// the plan is a join against rollup_state, the dispatcher takes the
// tenants to read from there in pages, and failures go there as they
// arrive. The metrics DB keeps temp_store=FILE, so these tables live in a
// temp file behind SQLite's bounded page cache: the coordinator's memory
// follows the work in flight, not the size of the fleet.
//
// The names of these tables and of the staging files' tables and schemas
// are all here, the one place the engine spells them.
const (
	tmpTenants  = "temp.run_tenants"  // every listed tenant: state, plan, outcome
	tmpFailures = "temp.run_failures" // every (tenant, query) failure of the run
	tmpOK       = "temp.run_ok"       // every (query, tenant) read fine
	tmpQueries  = "temp.run_queries"  // the queries run, with their state hashes
	// stagingOK is the table of a staging file listing the (tenant, query)
	// pairs its worker read fine.
	stagingOK = "s__ok"
)

// listPage is how many tenants are listed, planned or handed out at once.
const listPage = 1000

// failuresKept bounds Summary.Failures; the metrics DB keeps them all.
const failuresKept = 10_000

// stagingSchema is the schema the merge attaches staging file i as.
func stagingSchema(i int) string { return fmt.Sprintf("s%d", i) }

// stagingTable is the table a worker stages query name's rows in.
func stagingTable(name string) string { return quoteIdent("s_" + name) }

// rollupTable is the metrics DB's table of query name's rows.
func rollupTable(name string) string { return quoteIdent("rollup_" + name) }

var tempTables = []string{
	`CREATE TEMP TABLE run_tenants (
		id TEXT PRIMARY KEY, path TEXT NOT NULL, location TEXT NOT NULL, size INTEGER NOT NULL, modified_at TEXT,
		fingerprint TEXT NOT NULL,
		missing TEXT,        -- why a listed tenant cannot be read; NULL when it can
		kind TEXT NOT NULL,  -- local | remote
		replica_bytes INTEGER, last_sync_at TEXT, sync_error TEXT NOT NULL DEFAULT '', stale INTEGER NOT NULL DEFAULT 0,
		plan TEXT NOT NULL DEFAULT 'unchanged', -- read | unchanged | missing (see planRun)
		taken INTEGER NOT NULL DEFAULT 0, -- handed to the dispatcher
		sess INTEGER,        -- the worker session that read it (0: a verdict that stands)
		status TEXT NOT NULL DEFAULT 'unchanged', error TEXT) WITHOUT ROWID`,
	// The listing lands here first, in the order the source gives it,
	// and moves into run_tenants sorted: inserting a hundred thousand ids in
	// directory order straight into a B-tree was most of a rerun's time.
	// (Even at 10,000 tenants, which fit in the page cache, inserting
	// straight into run_tenants made the listing 30% slower and the plan
	// 15-40%: a B-tree filled in random order leaves its pages part
	// empty.) A local tenant's location is NULL here: its path.
	"CREATE TEMP TABLE run_listing (id TEXT NOT NULL, path TEXT NOT NULL, location TEXT, size INTEGER NOT NULL, modified_at TEXT, fingerprint TEXT NOT NULL, missing TEXT, kind TEXT NOT NULL, replica_bytes INTEGER, last_sync_at TEXT, sync_error TEXT NOT NULL, stale INTEGER NOT NULL)",
	"CREATE TEMP TABLE run_failures (tenant_id TEXT NOT NULL, query TEXT NOT NULL, error TEXT NOT NULL, lasting INTEGER NOT NULL, sess INTEGER)",
	"CREATE INDEX temp.run_failures_tenant ON run_failures (tenant_id)",
	"CREATE INDEX temp.run_failures_query ON run_failures (query, tenant_id)",
	"CREATE INDEX temp.run_failures_sess ON run_failures (sess)",
	"CREATE TEMP TABLE run_ok (query TEXT, tenant_id TEXT, PRIMARY KEY (query, tenant_id)) WITHOUT ROWID",
	"CREATE TEMP TABLE run_queries (name TEXT PRIMARY KEY, hash TEXT NOT NULL, ord INTEGER NOT NULL)",
}

// tenantIndexes are made once run_tenants is filled and planned: one
// sort each, instead of upkeep row by row. readIndexes serve the reading
// (the dispatcher and lost workers), so a run with nothing to read makes
// none: each was a scan of every tenant.
var (
	tenantIndexes = []string{"CREATE INDEX temp.run_tenants_plan ON run_tenants (plan, id)"}
	readIndexes   = []string{
		"CREATE INDEX temp.run_tenants_todo ON run_tenants (id) WHERE plan = 'read' AND taken = 0",
		"CREATE INDEX temp.run_tenants_sess ON run_tenants (sess) WHERE sess IS NOT NULL",
	}
)

var tempNames = []string{"run_tenants", "run_listing", "run_failures", "run_ok", "run_queries", "run_remote"}

// runCache is the page cache, in KiB, of the run's connection for the
// metrics DB and for its temp tables, each. A run's statements walk
// run_tenants in id order (it is clustered on id: WITHOUT ROWID) and look
// tenants up in rollup_state and tenants, clustered or indexed on the same
// id, so their pages are read in order; the cache is for the B-trees'
// upper levels and the pages in hand. It is a constant: memory does not
// follow the fleet. Measured on reruns of 100,000 tenants: 8, 16 and 32 MB
// took the same time within the noise, at 71-80, 95-99 and 124-127 MB of
// peak RSS.
const runCache = 8 << 10

// makeTemp makes the run's temp tables afresh (a pooled connection may
// hold an earlier run's) and sizes the connection's caches for the run;
// dropTemp frees the tables' space and gives the connection its default
// caches back.
func makeTemp(ctx context.Context, conn *sql.Conn) error {
	dropTemp(ctx, conn)
	for _, s := range append(tempTables, fmt.Sprintf("PRAGMA main.cache_size = -%d", runCache), fmt.Sprintf("PRAGMA temp.cache_size = -%d", runCache)) {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
		}
	}
	return nil
}

func dropTemp(ctx context.Context, conn *sql.Conn) {
	ctx = context.WithoutCancel(ctx)
	for _, t := range tempNames {
		conn.ExecContext(ctx, "DROP TABLE IF EXISTS temp."+t)
	}
	conn.ExecContext(ctx, "PRAGMA main.cache_size = -2000")
	conn.ExecContext(ctx, "PRAGMA temp.cache_size = -2000")
}

// lastingSQL is lasting as an SQL expression over the column col.
func lastingSQL(col string) string {
	var b strings.Builder
	b.WriteString("(1")
	for _, s := range passing {
		fmt.Fprintf(&b, " AND instr(%s, '%s') = 0", col, s)
	}
	b.WriteString(")")
	return b.String()
}

// guarded is the run's metrics connection, shared by the dispatcher's
// goroutines and the progress recorder one call at a time.
type guarded struct {
	mu   sync.Mutex
	conn *sql.Conn
}

func (g *guarded) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	res, err := g.conn.ExecContext(ctx, q, args...)
	return res, sqlite.Wrap(err)
}

// listFleet writes the fleet into run_tenants a page at a time, syncing
// the remote tenants' replicas page by page, and returns how many of the
// tenants it listed are remote. Replicas of tenants no longer listed are
// deleted after.
func listFleet(ctx context.Context, cfg *config.Config, conn *sql.Conn, headers tenant.Headers, onPage func(n int), log *slog.Logger) (int, error) {
	syncOpt := replica.Options{
		Dir: cfg.Tenants.Replicas, Workers: cfg.Tenants.SyncWorkers, Timeout: cfg.Tenants.SyncTimeout.D(),
		Key: replica.Secret(replicaKey(cfg)), Log: log,
	}
	n, remote := 0, 0
	var enc listingPage
	// One Syncer for every page: its sync processes and HTTP client are
	// made once, when the first remote tenant shows.
	var syncer *replica.Syncer
	defer func() {
		if syncer != nil {
			syncer.Close()
		}
	}()
	getSyncer := func() (*replica.Syncer, error) {
		if syncer == nil {
			s, err := replica.NewSyncer(syncOpt)
			if err != nil {
				return nil, err
			}
			syncer = s
		}
		return syncer, nil
	}
	insert := func(page []tenant.Tenant) error {
		for _, t := range page {
			if t.Remote != nil {
				remote++
			}
		}
		for _, r := range []bool{false, true} {
			text, asHex := enc.encode(page, r)
			if text == "" {
				continue
			}
			if _, err := conn.ExecContext(ctx, listingInsert(r, asHex), text); err != nil {
				if err := sqlite.Wrap(err); sqlite.IsFull(err) {
					return diskFull("the temp folder", err)
				}
				return fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
			}
		}
		n += len(page)
		if onPage != nil {
			onPage(n)
		}
		return nil
	}
	// The next page is listed (its files stat'd, its replicas synced)
	// while this one goes into SQLite: one waits on system calls and the
	// network, the other on the CPU, so on two cores they overlap. At most
	// two pages are in hand.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan []tenant.Tenant)
	listed := make(chan error, 1)
	go func() {
		defer close(pages)
		listed <- tenant.EachWith(lctx, cfg.Tenants, listPage, headers, func(page []tenant.Tenant) error {
			if err := tenant.SyncWith(lctx, page, getSyncer); err != nil {
				return err
			}
			select {
			case pages <- page:
				return nil
			case <-lctx.Done():
				return lctx.Err()
			}
		})
	}()
	var err error
	for page := range pages {
		if err == nil {
			if err = insert(page); err != nil {
				cancel() // the listing stops at its next page
			}
		}
	}
	if lerr := <-listed; err == nil {
		err = lerr
	}
	if err != nil {
		return 0, err
	}
	if err := copyListing(ctx, conn, log); err != nil {
		return 0, err
	}
	conn.ExecContext(ctx, "DROP TABLE temp.run_listing")
	// The replicas to keep are those of the tenants listed now; the set
	// is only as large as the remote part of the fleet.
	keep := map[string]bool{}
	if remote > 0 {
		for p, err := range stringsOf(ctx, conn, "SELECT CAST(path AS BLOB) FROM "+tmpTenants+" WHERE kind = 'remote'") {
			if err != nil {
				return 0, err
			}
			keep[p] = true
		}
	}
	removed, err := replica.Clean(cfg.Tenants.Replicas, keep)
	for _, p := range removed {
		log.Info("replica deleted: the source no longer lists its tenant", "path", p)
	}
	if err != nil {
		// Disk space, not numbers: the run goes on.
		log.Warn("could not delete a replica of an unlisted tenant", "err", err)
	}
	return remote, nil
}

// copyListing moves the listing from temp.run_listing into run_tenants,
// sorted by id.
func copyListing(ctx context.Context, conn *sql.Conn, log *slog.Logger) error {
	cols := make([]string, len(listingCols))
	for i, c := range listingCols {
		cols[i] = c.name
	}
	list := strings.Join(cols, ", ")
	from := strings.Replace(list, "location", "coalesce(location, path)", 1)
	if _, err := execStep(ctx, conn, log, "listing step", "INSERT INTO "+tmpTenants+" ("+list+") SELECT "+from+" FROM temp.run_listing ORDER BY id"); err != nil {
		var dup []byte
		if conn.QueryRowContext(ctx, "SELECT CAST(id AS BLOB) FROM temp.run_listing GROUP BY id HAVING count(*) > 1 LIMIT 1").Scan(&dup) == nil {
			return tenant.DuplicateError(string(dup))
		}
		if sqlite.IsFull(err) {
			return diskFull("the temp folder", err)
		}
		return fmt.Errorf("metrics DB: %w", err)
	}
	return nil
}

// stringsOf yields the first column of a query's rows, read as BLOBs:
// go-libsql tries ten date layouts on every TEXT value it returns.
func stringsOf(ctx context.Context, conn *sql.Conn, q string, args ...any) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		rows, err := conn.QueryContext(ctx, q, args...)
		if err != nil {
			yield("", fmt.Errorf("metrics DB: %w", sqlite.Wrap(err)))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var s []byte
			if err := rows.Scan(&s); err != nil {
				yield("", fmt.Errorf("metrics DB: %w", sqlite.Wrap(err)))
				return
			}
			if !yield(string(s), nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield("", fmt.Errorf("metrics DB: %w", sqlite.Wrap(err)))
		}
	}
}

// presentPaths yields the files of the tenants that can be read, by id, a
// page at a time; the first error ends it and is kept in *errp.
func presentPaths(ctx context.Context, conn *sql.Conn, errp *error) iter.Seq[string] {
	return func(yield func(string) bool) {
		after := []byte{}
		for {
			rows, err := conn.QueryContext(ctx, "SELECT CAST(id AS BLOB), CAST(path AS BLOB) FROM "+tmpTenants+" WHERE missing IS NULL AND id > CAST(? AS TEXT) ORDER BY id LIMIT 100", after)
			if err != nil {
				*errp = fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
				return
			}
			var paths []string
			for rows.Next() {
				var id, p []byte
				if err := rows.Scan(&id, &p); err != nil {
					rows.Close()
					*errp = fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
					return
				}
				after = id
				paths = append(paths, string(p))
			}
			rows.Close()
			if len(paths) == 0 {
				return
			}
			for _, p := range paths {
				if !yield(p) {
					return
				}
			}
		}
	}
}

// counts is how many tenants a run's plan put where.
type counts struct {
	total, read, unchanged, missing int
	headers                         int // deferred headers read while planning
}

// planRun decides, inside SQLite, which listed tenants to read: a tenant
// is unchanged when, for every selected query, rollup_state holds its
// current fingerprint and the query's current state hash (see stateHash).
// A fingerprint the listing deferred (tenant.Deferred: a settled file
// whose header was not read) matches the settled fingerprint it begins;
// a tenant to read whose fingerprint was deferred gets its header read
// now, before any worker reads its data, so the state recorded for it is
// whole. It then records the failures known before anything is read: the
// lasting errors of unchanged tenants (carried), the tenants that cannot
// be read (missing) and the failed syncs of stale replicas.
func planRun(ctx context.Context, conn *sql.Conn, queries []*query.Query, full bool, at time.Time, remote int, log *slog.Logger) (counts, error) {
	var c counts
	exec := func(q string, args ...any) error {
		if _, err := execStep(ctx, conn, log, "plan step", q, args...); err != nil {
			return fmt.Errorf("plan: %w", err)
		}
		return nil
	}
	hashes := map[string]string{}
	for i, q := range queries {
		hashes[q.Name] = stateHash(q, at)
		if err := exec("INSERT INTO "+tmpQueries+" (name, hash, ord) VALUES (?, ?, ?)", q.Name, hashes[q.Name], i); err != nil {
			return c, err
		}
	}
	unchanged := unchangedSQL(hashes)
	// Every listed tenant starts planned unchanged (status too: a tenant's
	// status unless a failure says otherwise, see outcomes); one pass
	// plans the others, and rewrites only their rows. 'header' is a tenant
	// whose header is still to be read.
	if err := exec(`UPDATE `+tmpTenants+` SET (plan, status) = (SELECT CASE
		WHEN missing IS NOT NULL THEN 'missing'
		WHEN substr(fingerprint, -1) = '|' THEN 'header'
		ELSE 'read' END, 'ok')
		WHERE missing IS NOT NULL OR ?1 OR NOT (`+unchanged+`)`, full, len(queries)); err != nil {
		return c, err
	}
	for _, s := range tenantIndexes {
		if err := exec(s); err != nil {
			return c, err
		}
	}
	n, err := readDeferredHeaders(ctx, conn, unchanged, full, len(queries))
	if err != nil {
		return c, fmt.Errorf("plan: %w", err)
	}
	c.headers = n
	// The order of the inserts is the order a tenant's messages are joined in.
	steps := []string{
		// Carried: the same file would fail the same query again.
		// From the few state rows with an error, not from every tenant.
		`INSERT INTO ` + tmpFailures + ` (tenant_id, query, error, lasting, sess)
		 SELECT t.id, q.name, s.error, ` + lastingSQL("s.error") + `, 0 FROM rollup_state s INDEXED BY rollup_state_errors
		 JOIN ` + tmpTenants + ` t ON t.id = s.tenant_id JOIN ` + tmpQueries + ` q ON q.name = s.query
		 WHERE t.plan = 'unchanged' AND s.error IS NOT NULL AND s.error <> '' ORDER BY t.id, q.ord`,
		`INSERT INTO ` + tmpFailures + ` (tenant_id, query, error, lasting, sess)
		 SELECT t.id, q.name, t.missing, ` + lastingSQL("t.missing") + `, 0 FROM ` + tmpTenants + ` t JOIN ` + tmpQueries + ` q
		 WHERE t.plan = 'missing' ORDER BY t.id, q.ord`,
	}
	if remote > 0 {
		steps = append(steps, `INSERT INTO `+tmpFailures+` (tenant_id, query, error, lasting, sess)
		 SELECT id, '`+syncQuery+`', sync_error, `+lastingSQL("sync_error")+`, 0 FROM `+tmpTenants+` WHERE stale ORDER BY id`)
	}
	for _, s := range steps {
		if err := exec(s); err != nil {
			return c, err
		}
	}
	rows, err := conn.QueryContext(ctx, "SELECT CAST(plan AS BLOB), count(*) FROM "+tmpTenants+" GROUP BY plan")
	if err != nil {
		return c, fmt.Errorf("plan: %w", sqlite.Wrap(err))
	}
	defer rows.Close()
	for rows.Next() {
		var p []byte
		var n int
		if err := rows.Scan(&p, &n); err != nil {
			return c, fmt.Errorf("plan: %w", sqlite.Wrap(err))
		}
		c.total += n
		switch string(p) {
		case "read":
			c.read = n
		case "unchanged":
			c.unchanged = n
		case "missing":
			c.missing = n
		default:
			// A tenant whose header was never read would be recorded with
			// a fingerprint that proves nothing.
			return c, fmt.Errorf("plan: %d tenants planned %q; this is a bug in attache, please report it", n, p)
		}
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("plan: %w", sqlite.Wrap(err))
	}
	rows.Close()
	if c.read > 0 {
		for _, s := range readIndexes {
			if err := exec(s); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

// unchangedSQL is true for a run_tenants row when rollup_state holds, for
// each of the run's ?2 queries, its current state hash (hashes: by query
// name) and a fingerprint the row's matches. A deferred fingerprint D
// (tenant.Deferred: it ends in "|") matches the settled one it begins,
// the strings between D and D||'~' (a marker holds no '~'); a whole one
// matches its equal, but for the first letter: a file read while
// unsettled ("u:") is not read again for having settled since ("s:"). The
// hashes are written into the statement as a CASE: a lookup in a table
// of them for each state row was a fifth of the plan.
func unchangedSQL(hashes map[string]string) string {
	names := make([]string, 0, len(hashes))
	for n := range hashes {
		names = append(names, n)
	}
	sort.Strings(names)
	var c strings.Builder
	c.WriteString("CASE s.query")
	for _, n := range names {
		fmt.Fprintf(&c, " WHEN %s THEN s.sql_hash = %s", textLiteral(n), textLiteral(hashes[n]))
	}
	c.WriteString(" ELSE 0 END")
	return `(SELECT count(*) FROM rollup_state s WHERE s.tenant_id = run_tenants.id AND ` + c.String() + `
	  AND CASE WHEN substr(run_tenants.fingerprint, -1) = '|'
	    THEN s.fingerprint > run_tenants.fingerprint AND s.fingerprint < run_tenants.fingerprint || '~'
	    ELSE substr(s.fingerprint, 2) = substr(run_tenants.fingerprint, 2) END) = ?2`
}

// textLiteral writes s into SQL as a hex literal, which no byte of s can
// break out of (for text attache made itself: query names and hashes).
func textLiteral(s string) string { return "CAST(X'" + hex.EncodeToString([]byte(s)) + "' AS TEXT)" }

// readDeferredHeaders reads the headers of the tenants planned 'header'
// (their fingerprint deferred, their state not settled with the same
// stat), a page at a time, and plans them again with their whole
// fingerprint: read, or unchanged after all (a file read while unsettled
// and left alone since).
func readDeferredHeaders(ctx context.Context, conn *sql.Conn, unchanged string, full bool, queries int) (read int, err error) {
	for {
		rows, err := conn.QueryContext(ctx, "SELECT CAST(id AS BLOB), CAST(path AS BLOB), CAST(fingerprint AS BLOB) FROM "+tmpTenants+" INDEXED BY run_tenants_plan WHERE plan = 'header' ORDER BY id LIMIT ?", listPage)
		if err != nil {
			return read, sqlite.Wrap(err)
		}
		var page []tenant.Tenant
		for rows.Next() {
			var id, path, fp []byte
			if err := rows.Scan(&id, &path, &fp); err != nil {
				rows.Close()
				return read, sqlite.Wrap(err)
			}
			page = append(page, tenant.Tenant{ID: string(id), Path: string(path), Fingerprint: string(fp)})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return read, sqlite.Wrap(err)
		}
		if len(page) == 0 {
			return read, nil
		}
		tenant.CompleteAll(page)
		// The page's fingerprints go in as one JSON array of hex pairs
		// (an id can be any bytes), then the page is planned again in one
		// statement: two statements a tenant cost 45 µs each.
		b := []byte{'['}
		for k, t := range page {
			if k > 0 {
				b = append(b, ',')
			}
			b = append(b, `["`...)
			b = hex.AppendEncode(b, []byte(t.ID))
			b = append(b, `","`...)
			b = hex.AppendEncode(b, []byte(t.Fingerprint))
			b = append(b, `"]`...)
		}
		b = append(b, ']')
		last := []byte(page[len(page)-1].ID)
		steps := []struct {
			sql  string
			args []any
		}{
			{`UPDATE ` + tmpTenants + ` SET fingerprint = j.fp FROM (SELECT CAST(unhex(value->>0) AS TEXT) AS id, CAST(unhex(value->>1) AS TEXT) AS fp
			  FROM json_each(?)) j WHERE run_tenants.id = j.id`, []any{string(b)}},
			{`UPDATE ` + tmpTenants + ` INDEXED BY run_tenants_plan SET (plan, status) = (SELECT p, CASE p WHEN 'unchanged' THEN 'unchanged' ELSE 'ok' END
			  FROM (SELECT CASE WHEN NOT ?1 AND ` + unchanged + ` THEN 'unchanged' ELSE 'read' END AS p))
			  WHERE plan = 'header' AND id <= CAST(?3 AS TEXT)`, []any{full, queries, last}},
		}
		for i, st := range steps {
			res, err := conn.ExecContext(ctx, st.sql, st.args...)
			if err != nil {
				return read, sqlite.Wrap(err)
			}
			// Every tenant of the page leaves with its whole fingerprint and
			// a plan: a deferred one recorded as read would prove nothing.
			if n, _ := res.RowsAffected(); n != int64(len(page)) {
				return read, fmt.Errorf("step %d of a page of %d deferred headers changed %d tenants; this is a bug in attache, please report it", i+1, len(page), n)
			}
		}
		read += len(page)
	}
}

// feed is where the dispatcher takes the tenants to read from and where it
// puts what became of them. A worker session's results are provisional
// until its process has exited cleanly with its staging file: a session
// that dies loses them, and its tenants are handed out again.
type feed interface {
	// next returns up to n tenants not handed out yet, none when there
	// are none left (for now: lost can return some).
	next(n int) ([]batchTenant, error)
	// read records that session sess read b, with these failures.
	read(sess int, b []batchTenant, fs []failure) error
	// verdict records failures that stand whatever becomes of any session
	// (a tenant that stopped its worker); their tenants count as read.
	verdict(fs []failure) error
	// lost forgets session sess's results and hands its tenants out again.
	lost(sess int) error
	// kept makes session sess's results final.
	kept(sess int) error
	// unread records a failure for every tenant that was never read:
	// those still queued in left and those never handed out.
	unread(left [][]batchTenant, queries []workQuery, reason string) error
}

// sqlFeed is a run's feed: run_tenants and run_failures.
type sqlFeed struct {
	ctx   context.Context
	g     *guarded
	cfg   *config.Config
	held  []readBatch // read, not yet written (see read)
	heldN int         // tenants in held
	page  int         // at most this many tenants handed out at once, when > 0 (tests)
}

func (f *sqlFeed) next(n int) ([]batchTenant, error) {
	if f.page > 0 {
		n = min(n, f.page)
	}
	f.g.mu.Lock()
	defer f.g.mu.Unlock()
	conn := f.g.conn
	// INDEXED BY: the partial index holds only the tenants not handed out
	// yet, so each page reads just its own rows; the planner would rather
	// walk (plan, id) past every tenant already handed out, each time.
	rows, err := conn.QueryContext(f.ctx, "SELECT CAST(id AS BLOB), CAST(path AS BLOB), size, kind = 'remote' FROM "+tmpTenants+" INDEXED BY run_tenants_todo WHERE plan = 'read' AND taken = 0 ORDER BY id LIMIT ?", n)
	if err != nil {
		return nil, fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
	}
	var out []batchTenant
	for rows.Next() {
		var id, path []byte
		var t batchTenant
		var remote bool
		if err := rows.Scan(&id, &path, &t.Size, &remote); err != nil {
			rows.Close()
			return nil, fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
		}
		t.ID, t.Path = string(id), string(path)
		if remote {
			t.Key = replicaKey(f.cfg)
		}
		out = append(out, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
	}
	if len(out) > 0 {
		_, err := conn.ExecContext(f.ctx, "UPDATE "+tmpTenants+" INDEXED BY run_tenants_todo SET taken = 1 WHERE plan = 'read' AND taken = 0 AND id <= ?", out[len(out)-1].ID)
		if err != nil {
			return nil, fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
		}
	}
	return out, nil
}

// record writes that session sess read ts, with failures fs, in one
// transaction of the temp tables.
func (f *sqlFeed) record(sess int, ts []batchTenant, fs []failure) error {
	f.g.mu.Lock()
	defer f.g.mu.Unlock()
	return f.write([]readBatch{{sess, ts, fs}})
}

// readBatch is a batch a session read, not yet written to the temp tables.
type readBatch struct {
	sess int
	ts   []batchTenant
	fs   []failure
}

// flushAt is how many read tenants sqlFeed holds before writing them: each
// write is a commit of the temp database, whose cost grows with its dirty
// pages, so one per batch made a 100,000-tenant run's coordinator spend a
// sixth of its time committing.
const flushAt = 500

// write writes batches in one transaction; the caller holds f.g.mu.
func (f *sqlFeed) write(batches []readBatch) error {
	if len(batches) == 0 {
		return nil
	}
	conn := f.g.conn
	if _, err := conn.ExecContext(f.ctx, "BEGIN"); err != nil {
		return fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
	}
	err := func() error {
		for _, b := range batches {
			if len(b.ts) > 0 {
				args := []any{b.sess}
				for _, t := range b.ts {
					args = append(args, t.ID)
				}
				if _, err := conn.ExecContext(f.ctx, "UPDATE "+tmpTenants+" SET sess = ? WHERE id IN ("+placeholders(len(b.ts))+")", args...); err != nil {
					return fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
				}
			}
			if len(b.fs) > 0 {
				rows := make([][]any, len(b.fs))
				for i, x := range b.fs {
					rows[i] = []any{x.Tenant, x.Query, x.Error, lasting(x.Error), b.sess}
				}
				if err := metrics.InsertMany(f.ctx, conn, tmpFailures, []string{"tenant_id", "query", "error", "lasting", "sess"}, rows); err != nil {
					return fmt.Errorf("metrics DB: %w", err)
				}
			}
		}
		return nil
	}()
	if err != nil {
		conn.ExecContext(context.WithoutCancel(f.ctx), "ROLLBACK")
		return err
	}
	if _, err := conn.ExecContext(f.ctx, "COMMIT"); err != nil {
		conn.ExecContext(context.WithoutCancel(f.ctx), "ROLLBACK")
		return fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
	}
	return nil
}

// flush writes what read holds; the caller holds f.g.mu.
func (f *sqlFeed) flush() error {
	err := f.write(f.held)
	f.held, f.heldN = nil, 0
	return err
}

// read holds the batch until flushAt tenants are held (or a session ends,
// is lost, or the dispatch ends): a session's results are provisional
// until it ends, wherever they are kept.
func (f *sqlFeed) read(sess int, b []batchTenant, fs []failure) error {
	f.g.mu.Lock()
	defer f.g.mu.Unlock()
	f.held = append(f.held, readBatch{sess, b, fs})
	f.heldN += len(b)
	if f.heldN < flushAt {
		return nil
	}
	return f.flush()
}

func (f *sqlFeed) verdict(fs []failure) error {
	seen := map[string]bool{}
	var ts []batchTenant
	for _, x := range fs {
		if !seen[x.Tenant] {
			seen[x.Tenant] = true
			ts = append(ts, batchTenant{ID: x.Tenant})
		}
	}
	return f.record(0, ts, fs)
}

func (f *sqlFeed) lost(sess int) error {
	f.g.mu.Lock()
	defer f.g.mu.Unlock()
	// Held batches of the session are dropped, and their tenants handed
	// out again like those already written.
	kept := f.held[:0]
	var back []any
	f.heldN = 0
	for _, b := range f.held {
		if b.sess != sess {
			kept = append(kept, b)
			f.heldN += len(b.ts)
			continue
		}
		for _, t := range b.ts {
			back = append(back, t.ID)
		}
	}
	f.held = kept
	for i := 0; i < len(back); i += 500 {
		part := back[i:min(i+500, len(back))]
		if _, err := f.g.conn.ExecContext(f.ctx, "UPDATE "+tmpTenants+" SET taken = 0, sess = NULL WHERE id IN ("+placeholders(len(part))+")", part...); err != nil {
			return fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
		}
	}
	for _, q := range []string{
		"DELETE FROM " + tmpFailures + " WHERE sess = ?",
		"UPDATE " + tmpTenants + " SET sess = NULL, taken = 0 WHERE sess = ?",
	} {
		if _, err := f.g.conn.ExecContext(f.ctx, q, sess); err != nil {
			return fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
		}
	}
	return nil
}

// kept writes what is held: a session's number is never reused, and only
// a live session is ever lost, so its rows in the tables are final.
func (f *sqlFeed) kept(int) error {
	f.g.mu.Lock()
	defer f.g.mu.Unlock()
	return f.flush()
}

func (f *sqlFeed) unread(left [][]batchTenant, queries []workQuery, reason string) error {
	f.g.mu.Lock()
	err := f.flush()
	f.g.mu.Unlock()
	if err != nil {
		return err
	}
	for _, b := range left {
		var fs []failure
		for _, t := range b {
			for _, q := range queries {
				fs = append(fs, failure{Tenant: t.ID, Query: q.Name, Error: reason})
			}
		}
		if err := f.record(0, b, fs); err != nil {
			return err
		}
	}
	f.g.mu.Lock()
	defer f.g.mu.Unlock()
	_, err = f.g.conn.ExecContext(f.ctx, `INSERT INTO `+tmpFailures+` (tenant_id, query, error, lasting, sess)
		SELECT t.id, q.name, ?1, `+lastingSQL("?1")+`, 0 FROM `+tmpTenants+` t JOIN `+tmpQueries+` q
		WHERE t.plan = 'read' AND t.taken = 0 ORDER BY t.id, q.ord`, reason)
	if err != nil {
		return fmt.Errorf("metrics DB: %w", sqlite.Wrap(err))
	}
	return nil
}

// memFeed is `attache check`'s feed: the fleet it was given, in memory.
type memFeed struct {
	mu       sync.Mutex
	pending  []batchTenant
	sessions map[int][]batchTenant
	sessFail map[int][]failure
	final    []failure
}

func newMemFeed(ts []batchTenant) *memFeed {
	return &memFeed{pending: ts, sessions: map[int][]batchTenant{}, sessFail: map[int][]failure{}}
}

func (f *memFeed) next(n int) ([]batchTenant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n = min(n, len(f.pending))
	out := f.pending[:n:n]
	f.pending = f.pending[n:]
	return out, nil
}

func (f *memFeed) read(sess int, b []batchTenant, fs []failure) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions[sess] = append(f.sessions[sess], b...)
	f.sessFail[sess] = append(f.sessFail[sess], fs...)
	return nil
}

func (f *memFeed) verdict(fs []failure) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.final = append(f.final, fs...)
	return nil
}

func (f *memFeed) lost(sess int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, f.sessions[sess]...)
	delete(f.sessions, sess)
	delete(f.sessFail, sess)
	return nil
}

func (f *memFeed) kept(sess int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.final = append(f.final, f.sessFail[sess]...)
	delete(f.sessions, sess)
	delete(f.sessFail, sess)
	return nil
}

func (f *memFeed) unread(left [][]batchTenant, queries []workQuery, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range append(left, f.pending) {
		for _, t := range b {
			for _, q := range queries {
				f.final = append(f.final, failure{Tenant: t.ID, Query: q.Name, Error: reason})
			}
		}
	}
	f.pending = nil
	return nil
}
