package rollup

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/query"
	"github.com/attache/attache/internal/sqlite"
)

// merge moves one run's staging files into the metrics DB. Everything
// between BEGIN and COMMIT is one transaction: readers see the previous run
// until the whole new one is there.
type merge struct {
	runID      int64
	queries    []*query.Query
	broken     []*QueryError // queries that did not run
	counts     counts
	staging    []stagingFile
	bucketAt   time.Time
	finishedAt time.Time
	full       bool // a --full run
	conn       *sql.Conn
	log        *slog.Logger
}

func (m *merge) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return execStep(ctx, m.conn, m.log, "merge step", q, args...)
}

// execStep runs one statement of a run's plan or merge and returns the
// rows it changed; the debug log times each (ATTACHE_LOG=debug).
func execStep(ctx context.Context, conn *sql.Conn, log *slog.Logger, step, q string, args ...any) (int64, error) {
	start := time.Now()
	res, err := conn.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, sqlite.Wrap(err)
	}
	n, _ := res.RowsAffected()
	if log.Enabled(ctx, slog.LevelDebug) {
		log.Debug(step, "ms", time.Since(start).Milliseconds(), "rows", n, "sql", shorten(q, 90))
	}
	return n, nil
}

// shorten is sql on one line, at most n bytes.
func shorten(sql string, n int) string {
	s := strings.Join(strings.Fields(sql), " ")
	if len(s) > n {
		s = s[:n]
	}
	return s
}

func (m *merge) apply(ctx context.Context) (*Summary, error) {
	conn := m.conn
	exec := func(q string, args ...any) (int64, error) { return m.exec(ctx, q, args...) }
	// ATTACH cannot run inside a transaction: attach first, detach last.
	var schemas []string
	defer func() {
		for _, s := range schemas {
			conn.ExecContext(context.WithoutCancel(ctx), "DETACH "+s)
		}
	}()
	for i, f := range m.staging {
		s := stagingSchema(i)
		if _, err := exec("ATTACH ? AS "+s, sqlite.ReadOnlyURI(f.Path)); err != nil {
			return nil, fmt.Errorf("attach staging %s: %w", f.Path, err)
		}
		schemas = append(schemas, s)
		if err := m.verifyStaging(ctx, s, f); err != nil {
			return nil, err
		}
	}
	sum := &Summary{Read: m.counts.read}
	if err := m.outcomes(ctx, sum); err != nil {
		return nil, err
	}
	for _, s := range schemas {
		if _, err := exec("INSERT OR IGNORE INTO " + tmpOK + " SELECT query, tenant_id FROM " + s + "." + stagingOK); err != nil {
			return nil, err
		}
	}
	now := metrics.Format(m.finishedAt)
	ran := make([]string, len(m.queries))
	for i, q := range m.queries {
		ran[i] = q.Name
	}
	sum.QueryErrors = m.broken
	err := metrics.InTx(ctx, conn, func() error {
		if err := m.recordRead(ctx); err != nil {
			return err
		}
		for _, q := range m.queries {
			n, err := m.mergeQuery(ctx, q, schemas)
			if err != nil {
				return fmt.Errorf("query %s: %w", q.Name, err)
			}
			sum.Rows += n
		}
		// The tenants table: one row per tenant ever seen, with how it is
		// reached (a remote tenant's replica and its last sync) in the same
		// pass: a second pass over every tenant for those was a tenth of a
		// rerun's merge. A row is rewritten only when something in it
		// changes: a listed tenant's last_seen is the latest good run's end
		// (metrics.LastSeenSQL), written into the row when it changes or
		// stops being listed.
		if _, err := exec(`INSERT INTO tenants (id, location, size_bytes, modified_at, first_seen, last_seen, last_ok_at, last_error,
			    kind, replica_bytes, last_sync_at, sync_error)
			  SELECT id, location, size, modified_at, ?1, ?1, CASE WHEN status = 'ok' THEN ?1 END, coalesce(error, ''),
			    kind, replica_bytes, last_sync_at, sync_error FROM `+tmpTenants+` WHERE true
			  ON CONFLICT (id) DO UPDATE SET location = excluded.location, size_bytes = excluded.size_bytes,
			    modified_at = excluded.modified_at, last_seen = excluded.last_seen,
			    last_ok_at = coalesce(excluded.last_ok_at, tenants.last_ok_at),
			    last_error = excluded.last_error, removed_at = NULL,
			    kind = excluded.kind, replica_bytes = excluded.replica_bytes,
			    last_sync_at = coalesce(excluded.last_sync_at, tenants.last_sync_at), sync_error = excluded.sync_error
			  WHERE tenants.removed_at IS NOT NULL OR excluded.last_ok_at IS NOT NULL OR tenants.location IS NOT excluded.location
			    OR tenants.size_bytes IS NOT excluded.size_bytes OR tenants.modified_at IS NOT excluded.modified_at
			    OR tenants.last_error IS NOT excluded.last_error OR tenants.kind IS NOT excluded.kind
			    OR tenants.replica_bytes IS NOT excluded.replica_bytes OR tenants.sync_error IS NOT excluded.sync_error
			    OR (excluded.last_sync_at IS NOT NULL AND tenants.last_sync_at IS NOT excluded.last_sync_at)`, now); err != nil {
			return err
		}
		// A tenant the source no longer lists leaves every "now" figure
		// (listed_tenants); its rows stay as history. Its state goes, so
		// if it is listed again it is read afresh, not carried.
		removed, err := exec(`UPDATE tenants SET removed_at = ?, last_seen = `+metrics.LastSeenSQL+` WHERE removed_at IS NULL AND id NOT IN (SELECT id FROM `+tmpTenants+`)`, now)
		if err != nil {
			return err
		}
		// Only a tenant this run marked removed can have state to delete:
		// state is written only for listed tenants, and a removed tenant's
		// goes in the run that marks it. Scanning every tenant's state to
		// delete none was a fifth of a rerun's merge. A full run looks
		// anyway.
		if removed > 0 || m.full {
			if _, err := exec(`DELETE FROM rollup_state WHERE tenant_id NOT IN (SELECT id FROM ` + tmpTenants + `)`); err != nil {
				return err
			}
		}
		steps := []struct {
			sql  string
			args []any
		}{
			{"INSERT INTO tenant_errors (run_id, tenant_id, query, error) SELECT ?, tenant_id, query, error FROM " + tmpFailures + " ORDER BY tenant_id, rowid", []any{m.runID}},
			// runs.queries names the queries whose rollups this run refreshed.
			{`UPDATE runs SET finished_at = ?, status = 'ok', tenants_total = ?, tenants_ok = ?, tenants_failed = ?, tenants_unchanged = ?, rows_written = ?, queries = ?, tenants_stale = ? WHERE id = ?`,
				[]any{now, sum.OK + sum.Failed + sum.Unchanged + sum.Stale, sum.OK, sum.Failed, sum.Unchanged, sum.Rows, strings.Join(ran, ","), sum.Stale, m.runID}},
		}
		for _, b := range m.broken {
			steps = append(steps, struct {
				sql  string
				args []any
			}{"INSERT INTO run_query_errors (run_id, query, file, error) VALUES (?, ?, ?, ?)", []any{m.runID, b.Query, b.File, b.Error()}})
		}
		for _, st := range steps {
			if _, err := exec(st.sql, st.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sum, nil
}

// verifyStaging checks that a staging file holds exactly the rows its
// worker reported writing, so a file another process touched, or one cut
// short, fails the run instead of landing as a partial run marked ok.
func (m *merge) verifyStaging(ctx context.Context, schema string, f stagingFile) error {
	count := func(table string) (int64, error) {
		cols, err := tableColumns(ctx, m.conn, schema, strings.Trim(table, `"`))
		if err != nil || cols == nil {
			return 0, err
		}
		var n int64
		if err := m.conn.QueryRowContext(ctx, "SELECT count(*) FROM "+schema+"."+table).Scan(&n); err != nil {
			return 0, fmt.Errorf("staging %s: %w", f.Path, sqlite.Wrap(err))
		}
		return n, nil
	}
	n, err := count(stagingOK)
	if err != nil {
		return err
	}
	if n != f.OK {
		return fmt.Errorf("staging file %s holds %d tenant results where its worker wrote %d; was it written by another process? The run is not committed; the previous run stays", f.Path, n, f.OK)
	}
	for _, q := range m.queries {
		n, err := count(stagingTable(q.Name))
		if err != nil {
			return err
		}
		if want := f.Staged[q.Name]; n != want {
			return fmt.Errorf("staging file %s holds %d rows of query %s where its worker wrote %d; was it written by another process? The run is not committed; the previous run stays", f.Path, n, q.Name, want)
		}
	}
	return nil
}

// outcomes decides each listed tenant's status and error from the run's
// failures, inside SQLite, counts them, and keeps the first failures for
// the summary. A tenant whose only failure is a failed sync read its older
// replica: stale, not failed.
func (m *merge) outcomes(ctx context.Context, sum *Summary) error {
	// Every tenant planned for reading was read by a session that ended
	// well, or has a failure that says why not: one that is neither would
	// count as ok with no rows, a number silently wrong.
	var lost int
	var first []byte
	err := m.conn.QueryRowContext(ctx, `SELECT count(*), CAST(min(id) AS BLOB) FROM `+tmpTenants+` t WHERE plan = 'read' AND sess IS NULL
		AND NOT EXISTS (SELECT 1 FROM `+tmpFailures+` f WHERE f.tenant_id = t.id)`).Scan(&lost, &first)
	if err != nil {
		return sqlite.Wrap(err)
	}
	if lost > 0 {
		return fmt.Errorf("internal error (a bug in attache, please report it with the log): %d tenants (first %q) were neither read nor recorded as failed; the run is not committed, the previous run stays", lost, first)
	}
	if _, err := m.exec(ctx, `UPDATE `+tmpTenants+` SET
		error = (SELECT group_concat(query || ': ' || error, '; ') FROM
			(SELECT query, error FROM `+tmpFailures+` f WHERE f.tenant_id = run_tenants.id ORDER BY rowid)),
		status = CASE
			WHEN EXISTS (SELECT 1 FROM `+tmpFailures+` f WHERE f.tenant_id = run_tenants.id AND f.query <> '`+syncQuery+`') THEN 'failed'
			WHEN EXISTS (SELECT 1 FROM `+tmpFailures+` f WHERE f.tenant_id = run_tenants.id) THEN 'stale'
			ELSE status END
		WHERE id IN (SELECT tenant_id FROM `+tmpFailures+`)`); err != nil {
		return err
	}
	rows, err := m.conn.QueryContext(ctx, "SELECT CAST(status AS BLOB), count(*) FROM "+tmpTenants+" GROUP BY status")
	if err != nil {
		return sqlite.Wrap(err)
	}
	for rows.Next() {
		var st []byte
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return sqlite.Wrap(err)
		}
		switch string(st) {
		case "ok":
			sum.OK = n
		case "unchanged":
			sum.Unchanged = n
		case "failed":
			sum.Failed = n
		case "stale":
			sum.Stale = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sqlite.Wrap(err)
	}
	if err := m.conn.QueryRowContext(ctx, "SELECT count(*) FROM "+tmpFailures).Scan(&sum.FailureCount); err != nil {
		return sqlite.Wrap(err)
	}
	rows, err = m.conn.QueryContext(ctx, "SELECT CAST(tenant_id AS BLOB), CAST(query AS BLOB), CAST(error AS BLOB) FROM "+tmpFailures+" ORDER BY tenant_id, rowid LIMIT ?", failuresKept)
	if err != nil {
		return sqlite.Wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, q, msg []byte
		if err := rows.Scan(&id, &q, &msg); err != nil {
			return sqlite.Wrap(err)
		}
		sum.Failures = append(sum.Failures, metrics.TenantError{RunID: m.runID, TenantID: string(id), Query: string(q), Error: string(msg)})
	}
	return sqlite.Wrap(rows.Err())
}

// mergeQuery lands one query's staged rows in rollup_NAME and returns how
// many rows it wrote: the table is made or widened to the query's columns,
// the rows of the tenants read fine are replaced, unchanged tenants'
// latest answers are carried into this period, and the state that decides
// the next run's plan is recorded.
func (m *merge) mergeQuery(ctx context.Context, q *query.Query, schemas []string) (written int64, err error) {
	cols, from, err := m.stagedColumns(ctx, q, schemas)
	if err != nil {
		return 0, err
	}
	existing, indexes, err := m.ensureTable(ctx, q, cols)
	if err != nil || existing == nil {
		return 0, err // nothing read and nothing to carry forward
	}
	bucket := query.Bucket(q.Grain, m.bucketAt)
	if cols != nil {
		if written, err = m.replaceRows(ctx, q, cols, from, bucket); err != nil {
			return 0, err
		}
	}
	// rollups.carried_bucket (013_carried_bucket.sql) is the period and the
	// run that left it there, "2026-12-03@41": a merge by anything that
	// does not keep the mark (an older attache) changes last_run_id and
	// so voids it.
	var carried any
	if q.Mode == query.ModeSnapshot {
		var last []byte // a BLOB: go-libsql turns a TEXT that looks like a date into a time
		var lastRun sql.NullInt64
		if err := m.conn.QueryRowContext(ctx, "SELECT CAST(carried_bucket AS BLOB), last_run_id FROM rollups WHERE name = ?", q.Name).Scan(&last, &lastRun); err != nil && err != sql.ErrNoRows {
			return 0, sqlite.Wrap(err)
		}
		// The last merge left every unchanged tenant's answer in this
		// period already: there is nothing to carry.
		if m.counts.unchanged > 0 && string(last) != carryMark(bucket, lastRun.Int64) {
			n, err := m.carryUnchanged(ctx, q, existing, bucket)
			if err != nil {
				return 0, err
			}
			written += n
		}
		// A missing tenant's answer stays in its older period: when it
		// comes back unchanged, the carry must run.
		if m.counts.missing == 0 {
			carried = carryMark(bucket, m.runID)
		}
	}
	if err := m.recordState(ctx, q, existing, carried); err != nil {
		return 0, err
	}
	// A new table's indexes are built after its first rows land: one sort
	// is cheaper than keeping them up to date row by row.
	for _, s := range indexes {
		if _, err := m.exec(ctx, s); err != nil {
			return 0, err
		}
	}
	return written, nil
}

// stagedColumns returns the columns of q's staging table (tenant_id first;
// nil when no worker staged any) and the staging schemas that hold one.
func (m *merge) stagedColumns(ctx context.Context, q *query.Query, schemas []string) (cols, from []string, err error) {
	staged := strings.Trim(stagingTable(q.Name), `"`) // unquoted, for pragma_table_info
	for _, s := range schemas {
		c, err := tableColumns(ctx, m.conn, s, staged)
		if err != nil {
			return nil, nil, err
		}
		if len(c) == 0 {
			continue
		}
		if cols == nil {
			cols = c
		}
		from = append(from, s)
	}
	return cols, from, nil
}

// ensureTable makes rollup_NAME for the staged columns cols when it does
// not exist, or adds the columns a query gained (old rows read NULL
// there), and returns the table's columns: nil when there is no table and
// nothing staged. A new table's index statements are returned to run
// after its rows land.
func (m *merge) ensureTable(ctx context.Context, q *query.Query, cols []string) (existing, indexes []string, err error) {
	table := rollupTable(q.Name)
	existing, err = tableColumns(ctx, m.conn, "main", "rollup_"+q.Name)
	if err != nil || (cols == nil && existing == nil) {
		return nil, nil, err
	}
	snapshot := q.Mode == query.ModeSnapshot
	if existing == nil {
		defs := []string{`"tenant_id" TEXT NOT NULL`}
		if snapshot {
			defs = append(defs, `"bucket" TEXT NOT NULL`)
		}
		for _, c := range cols[1:] {
			defs = append(defs, quoteIdent(c)) // no type: values keep their storage class
		}
		if _, err := m.exec(ctx, "CREATE TABLE "+table+" ("+strings.Join(defs, ", ")+")"); err != nil {
			return nil, nil, err
		}
		if snapshot {
			indexes = append(indexes,
				"CREATE INDEX "+quoteIdent("rollup_"+q.Name+"_tenant_bucket")+" ON "+table+" (tenant_id, bucket)",
				"CREATE INDEX "+quoteIdent("rollup_"+q.Name+"_bucket")+" ON "+table+" (bucket)")
		} else {
			indexes = append(indexes, "CREATE INDEX "+quoteIdent("rollup_"+q.Name+"_tenant")+" ON "+table+" (tenant_id)")
		}
		existing = append([]string{"tenant_id"}, cols[1:]...)
		if snapshot {
			existing = append(existing, "bucket")
		}
		return existing, indexes, nil
	}
	if cols == nil {
		return existing, nil, nil
	}
	have := map[string]bool{}
	for _, c := range existing {
		have[strings.ToLower(c)] = true
	}
	for _, c := range cols[1:] {
		if !have[strings.ToLower(c)] {
			if _, err := m.exec(ctx, "ALTER TABLE "+table+" ADD COLUMN "+quoteIdent(c)); err != nil {
				return nil, nil, err
			}
			existing = append(existing, c)
		}
	}
	if snapshot && !have["bucket"] {
		return nil, nil, fmt.Errorf("rollup_%s was made by a replace-mode query and has no bucket column; drop the table (it is rebuilt on the next run) or change the mode back", q.Name)
	}
	return existing, nil, nil
}

// replaceRows deletes the rows this run replaces, those of the tenants
// read fine (in this bucket, for a snapshot query), and inserts the staged
// rows from every staging schema in from.
func (m *merge) replaceRows(ctx context.Context, q *query.Query, cols, from []string, bucket string) (int64, error) {
	table := rollupTable(q.Name)
	okSet := "(SELECT tenant_id FROM " + tmpOK + " WHERE query = ?)"
	snapshot := q.Mode == query.ModeSnapshot
	if snapshot {
		if _, err := m.exec(ctx, "DELETE FROM "+table+" WHERE bucket = ? AND tenant_id IN "+okSet, bucket, q.Name); err != nil {
			return 0, err
		}
	} else {
		// When this run read every tenant the table holds rows for (a full
		// run), emptying it whole is far cheaper than deleting tenant by
		// tenant. rollup_state has a row for every tenant ever read fine
		// for q, so every tenant that can have rows here.
		var all bool
		err := m.conn.QueryRowContext(ctx, `SELECT NOT EXISTS (SELECT 1 FROM rollup_state s WHERE s.query = ?1
			AND NOT EXISTS (SELECT 1 FROM `+tmpOK+` o WHERE o.query = ?1 AND o.tenant_id = s.tenant_id))`, q.Name).Scan(&all)
		if err != nil {
			return 0, sqlite.Wrap(err)
		}
		del, args := "DELETE FROM "+table+" WHERE tenant_id IN "+okSet, []any{q.Name}
		if all {
			del, args = "DELETE FROM "+table, nil
		}
		if _, err := m.exec(ctx, del, args...); err != nil {
			return 0, err
		}
	}
	quoted := make([]string, len(cols)-1)
	for i, c := range cols[1:] {
		quoted[i] = quoteIdent(c)
	}
	list := strings.Join(quoted, ", ")
	var written int64
	for _, s := range from {
		src := s + "." + stagingTable(q.Name)
		var n int64
		var err error
		if snapshot {
			n, err = m.exec(ctx, "INSERT INTO "+table+" (tenant_id, bucket, "+list+") SELECT tenant_id, ?, "+list+" FROM "+src, bucket)
		} else {
			n, err = m.exec(ctx, "INSERT INTO "+table+" (tenant_id, "+list+") SELECT tenant_id, "+list+" FROM "+src)
		}
		if err != nil {
			return 0, err
		}
		written += n
	}
	return written, nil
}

// carryUnchanged carries the latest answer of the tenants that were not
// read (unchanged) into this bucket, so the series stays continuous. The
// latest answer is the rows of the bucket rollup_state names, which holds
// none when the answer was no rows: an older bucket's rows would be a
// number a fresh read no longer gives.
func (m *merge) carryUnchanged(ctx context.Context, q *query.Query, existing []string, bucket string) (int64, error) {
	table := rollupTable(q.Name)
	var names, from []string
	for _, c := range existing {
		if c != "tenant_id" && c != "bucket" {
			names = append(names, quoteIdent(c))
			from = append(from, "r."+quoteIdent(c))
		}
	}
	n, err := m.exec(ctx, `INSERT INTO `+table+` (tenant_id, bucket, `+strings.Join(names, ", ")+`)
		SELECT r.tenant_id, ?1, `+strings.Join(from, ", ")+` FROM `+table+` r
		JOIN `+tmpTenants+` u ON u.id = r.tenant_id AND u.plan = 'unchanged'
		LEFT JOIN rollup_state s ON s.tenant_id = r.tenant_id AND s.query = ?2
		WHERE r.tenant_id NOT IN (SELECT tenant_id FROM `+tmpFailures+` WHERE query = ?2)
		  AND r.bucket = coalesce(s.bucket, (SELECT max(bucket) FROM `+table+` x WHERE x.tenant_id = r.tenant_id AND x.bucket < ?1))
		  AND r.bucket < ?1
		  AND NOT EXISTS (SELECT 1 FROM `+table+` y WHERE y.tenant_id = r.tenant_id AND y.bucket = ?1)`, bucket, q.Name)
	if err != nil {
		return 0, err
	}
	// Their latest answer is now this bucket's, rows or none.
	if _, err := m.exec(ctx, `UPDATE rollup_state SET bucket = ?1 WHERE query = ?2 AND error IS NULL AND bucket IS NOT ?1
		AND tenant_id IN (SELECT id FROM `+tmpTenants+` WHERE plan = 'unchanged')
		AND tenant_id NOT IN (SELECT tenant_id FROM `+tmpFailures+` WHERE query = ?2)`, bucket, q.Name); err != nil {
		return 0, err
	}
	return n, nil
}

// carryMark is rollups.carried_bucket for a period and the run that
// carried every unchanged answer into it.
func carryMark(bucket string, runID int64) string { return fmt.Sprintf("%s@%d", bucket, runID) }

// recordRead writes what the next run's plan compares against for each
// (tenant, query) read fine: the file state, the query's hash, and for a
// snapshot query the period of the answer. It is one statement for every
// query, in the state table's own order (tenant, then query): a statement
// per query spread each query's rows over the whole table, so every page
// was rewritten once per query (90-107 of a 580 ms merge at 10,000
// tenants). It runs before the queries' failures are recorded, which
// override it.
func (m *merge) recordRead(ctx context.Context) error {
	// The queries in name order: with the tenants read walked in id order
	// (run_tenants_plan is on plan, id), rows come in the table's order
	// without a sort, and a rerun that read few tenants walks only those.
	qs := slices.SortedFunc(slices.Values(m.queries), func(a, b *query.Query) int { return strings.Compare(a.Name, b.Name) })
	var vals []string
	var args []any
	for _, q := range qs {
		var bucket any // the period of a snapshot tenant's latest answer
		if q.Mode == query.ModeSnapshot {
			bucket = query.Bucket(q.Grain, m.bucketAt)
		}
		vals = append(vals, "(?, ?, ?)")
		args = append(args, q.Name, stateHash(q, m.bucketAt), bucket)
	}
	_, err := m.exec(ctx, `WITH q (name, hash, bucket) AS (VALUES `+strings.Join(vals, ", ")+`)
		INSERT INTO rollup_state (tenant_id, query, fingerprint, sql_hash, run_id, error, bucket)
		SELECT t.id, q.name, t.fingerprint, q.hash, ?, NULL, q.bucket
		FROM `+tmpTenants+` t INDEXED BY run_tenants_plan CROSS JOIN q CROSS JOIN `+tmpOK+` o ON o.query = q.name AND o.tenant_id = t.id
		WHERE t.plan = 'read' ORDER BY t.id
		ON CONFLICT (tenant_id, query) DO UPDATE SET fingerprint = excluded.fingerprint, sql_hash = excluded.sql_hash,
		  run_id = excluded.run_id, error = NULL, bucket = excluded.bucket`, append(args, m.runID)...)
	return err
}

// recordState writes what the next run's plan compares against for each
// lasting failure (see recordRead for tenants read fine), and the query's
// entry in the rollups registry.
func (m *merge) recordState(ctx context.Context, q *query.Query, existing []string, carried any) error {
	colJSON, _ := json.Marshal(existing[1:])
	steps := []struct {
		sql  string
		args []any
	}{
		// A lasting failure is remembered with the file state that caused
		// it, so the unchanged file is not read again just to fail again;
		// any other failure is forgotten, so the tenant is read next time.
		{`INSERT INTO rollup_state (tenant_id, query, fingerprint, sql_hash, run_id, error)
		  SELECT f.tenant_id, f.query, t.fingerprint, ?, ?, f.error FROM ` + tmpFailures + ` f JOIN ` + tmpTenants + ` t ON t.id = f.tenant_id
		  WHERE f.query = ? AND t.plan = 'read' AND f.lasting
		  ON CONFLICT (tenant_id, query) DO UPDATE SET fingerprint = excluded.fingerprint, sql_hash = excluded.sql_hash, run_id = excluded.run_id, error = excluded.error`,
			[]any{stateHash(q, m.bucketAt), m.runID, q.Name}},
		// The state row stays (it says the table may hold the tenant's rows),
		// with a fingerprint no file has.
		{`UPDATE rollup_state SET fingerprint = '' WHERE query = ? AND tenant_id IN (SELECT tenant_id FROM ` + tmpFailures + ` WHERE query = ? AND NOT lasting)`, []any{q.Name, q.Name}},
		{`INSERT INTO rollups (name, description, mode, grain, columns, sql_hash, last_run_id, carried_bucket) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		  ON CONFLICT (name) DO UPDATE SET description = excluded.description, mode = excluded.mode, grain = excluded.grain,
		    columns = excluded.columns, sql_hash = excluded.sql_hash, last_run_id = excluded.last_run_id, carried_bucket = excluded.carried_bucket`,
			[]any{q.Name, q.Description, q.Mode, q.Grain, string(colJSON), hashQuery(q), m.runID, carried}},
	}
	for _, st := range steps {
		if _, err := m.exec(ctx, st.sql, st.args...); err != nil {
			return err
		}
	}
	return nil
}

// tableColumns lists a table's columns in schema, nil when it does not exist.
func tableColumns(ctx context.Context, conn *sql.Conn, schema, table string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, "SELECT name FROM pragma_table_info(?, ?) ORDER BY cid", table, schema)
	if err != nil {
		return nil, fmt.Errorf("columns of %s.%s: %w", schema, table, sqlite.Wrap(err))
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("columns of %s.%s: %w", schema, table, sqlite.Wrap(err))
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}
