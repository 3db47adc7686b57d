package metrics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/attache/attache/internal/sqlite"
)

// Kinds of scheduled work.
const (
	KindJob    = "job"
	KindDigest = "digest"
)

// Events a tick of a job or digest can come to (job_events.event).
const (
	EventOK      = "ok"
	EventFailed  = "failed"
	EventSkipped = "skipped"
	EventPanic   = "panic"
	EventHeld    = "held"
)

// Outcomes of a digest attempt (digest_attempts.outcome).
const (
	OutcomeSent   = "sent"
	OutcomeRetry  = "retry"  // this attempt failed; another follows
	OutcomeFailed = "failed" // the last attempt failed, or the digest could not be built
	OutcomeHeld   = "held"   // not sent on purpose: no data, or too little of the fleet
)

// JobEvent is one row of job_events.
type JobEvent struct {
	ID     int64
	Name   string // the job's or digest's name
	Kind   string // KindJob or KindDigest
	At     time.Time
	Via    string // "schedule" or "manual"
	Event  string // EventOK, EventFailed, ...
	RunID  int64  // 0 when none
	Detail string // why it was skipped, the error, the panic
}

// DigestAttempt is one row of digest_attempts.
type DigestAttempt struct {
	ID         int64
	Delivery   string // groups the attempts of one send
	Digest     string
	Recipients []string
	At         time.Time
	Attempt    int // 1, 2, ...; 0 for a hold
	Outcome    string
	Error      string
	RunID      int64 // the run whose data it carried; 0 when none
}

// Journal writes the scheduler's and the digests' records on a connection of
// its own: a run holds DB.W's only connection for its whole length, and a
// skipped tick or a digest attempt must not wait for it to end.
type Journal struct {
	db *sql.DB
}

// OpenJournal opens a writer for the records on the metrics DB at path,
// which metrics.Open must already have created and migrated. busy is how
// long a write waits for a run's merge; records are small, so give it time.
func OpenJournal(path string, busy time.Duration) (*Journal, error) {
	db, err := sqlite.Open(path, sqlite.Options{BusyTimeout: busy})
	if err != nil {
		return nil, fmt.Errorf("metrics DB journal: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	return &Journal{db: db}, nil
}

// Close closes the journal's connection.
func (j *Journal) Close() error { return j.db.Close() }

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// AddJobEvent records one event.
func (j *Journal) AddJobEvent(ctx context.Context, e JobEvent) error {
	_, err := j.db.ExecContext(ctx, "INSERT INTO job_events (name, kind, at, via, event, run_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
		e.Name, e.Kind, Format(e.At), e.Via, e.Event, nullID(e.RunID), e.Detail)
	if err != nil {
		return fmt.Errorf("record %s %s event: %w", e.Kind, e.Name, sqlite.Wrap(err))
	}
	return nil
}

// AddDigestAttempt records one attempt (or hold) of a digest.
func (j *Journal) AddDigestAttempt(ctx context.Context, a DigestAttempt) error {
	_, err := j.db.ExecContext(ctx, "INSERT INTO digest_attempts (delivery, digest, recipients, at, attempt, outcome, error, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		a.Delivery, a.Digest, strings.Join(a.Recipients, ","), Format(a.At), a.Attempt, a.Outcome, a.Error, nullID(a.RunID))
	if err != nil {
		return fmt.Errorf("record digest %s attempt: %w", a.Digest, sqlite.Wrap(err))
	}
	return nil
}

// SaveDigestValues keeps the numbers a sent digest showed, by panel id.
func (j *Journal) SaveDigestValues(ctx context.Context, digest string, at time.Time, values map[string]float64) error {
	conn, err := j.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("digest %s values: %w", digest, sqlite.Wrap(err))
	}
	defer conn.Close()
	return inTx(ctx, conn, func() error {
		for panel, v := range values {
			if _, err := conn.ExecContext(ctx, "INSERT OR REPLACE INTO digest_values (digest, sent_at, panel, value) VALUES (?, ?, ?, ?)", digest, Format(at), panel, v); err != nil {
				return fmt.Errorf("digest %s values: %w", digest, sqlite.Wrap(err))
			}
		}
		return nil
	})
}

const jobEventCols = "id, name, kind, at, via, event, coalesce(run_id, 0), detail"

func scanJobEvent(s interface{ Scan(...any) error }) (JobEvent, error) {
	var e JobEvent
	var name, at, detail any
	err := s.Scan(&e.ID, &name, &e.Kind, &at, &e.Via, &e.Event, &e.RunID, &detail)
	e.Name, e.At, e.Detail = text(name), ParseTime(at), text(detail)
	return e, err
}

// JobEvents lists events newest first, at most limit; kind and name narrow
// them down when not "".
func (db *DB) JobEvents(ctx context.Context, kind, name string, limit int) ([]JobEvent, error) {
	where, args := filter(map[string]string{"kind": kind, "name": name})
	rows, err := db.R.QueryContext(ctx, "SELECT "+jobEventCols+" FROM job_events"+where+" ORDER BY id DESC LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("job events: %w", sqlite.Wrap(err))
	}
	defer rows.Close()
	var out []JobEvent
	for rows.Next() {
		e, err := scanJobEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("job events: %w", sqlite.Wrap(err))
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// filter builds a WHERE clause from column = value pairs, skipping empty
// values. Columns are ours, values are bound.
func filter(eq map[string]string) (string, []any) {
	var conds []string
	var args []any
	for _, col := range []string{"kind", "name", "digest"} {
		if v, ok := eq[col]; ok && v != "" {
			conds = append(conds, col+" = ?")
			args = append(args, v)
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// JobHistory is what the metrics DB knows about one job or digest, for its
// status line: the last outcome, the last success, the last skipped tick.
type JobHistory struct {
	// LastRun is the job's newest run of any status (nil for digests, or
	// when it never ran).
	LastRun *Run
	// LastEvent is the newest event other than a skip.
	LastEvent *JobEvent
	// LastSkip is the newest skipped tick.
	LastSkip *JobEvent
	// LastAttempt is a digest's newest final attempt: sent, failed or held.
	LastAttempt *DigestAttempt
	// LastSuccess is when the job last finished an ok run, or the digest
	// was last sent; zero when never.
	LastSuccess time.Time
	// FirstSeen is the scheduler's first record of it; zero when none.
	FirstSeen time.Time
}

// History reads a job's (kind KindJob) or digest's (KindDigest) history.
func (db *DB) History(ctx context.Context, kind, name string) (*JobHistory, error) {
	h := &JobHistory{}
	wrap := func(err error) error { return fmt.Errorf("%s %s history: %w", kind, name, sqlite.Wrap(err)) }
	// newest sets *dst to the newest matching event, when there is one.
	newest := func(dst **JobEvent, q string, args ...any) error {
		e, err := scanJobEvent(db.R.QueryRowContext(ctx, "SELECT "+jobEventCols+" FROM job_events WHERE kind = ? AND name = ? "+q+" ORDER BY id DESC LIMIT 1", append([]any{kind, name}, args...)...))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return wrap(err)
		default:
			*dst = &e
		}
		return nil
	}
	if err := newest(&h.LastEvent, "AND event != ?", EventSkipped); err != nil {
		return nil, err
	}
	if err := newest(&h.LastSkip, "AND event = ?", EventSkipped); err != nil {
		return nil, err
	}
	var first any
	if err := db.R.QueryRowContext(ctx, "SELECT min(at) FROM job_events WHERE kind = ? AND name = ?", kind, name).Scan(&first); err != nil {
		return nil, wrap(err)
	}
	h.FirstSeen = ParseTime(first)
	if kind == KindDigest {
		a, err := scanAttempt(db.R.QueryRowContext(ctx, "SELECT "+attemptCols+" FROM digest_attempts WHERE digest = ? AND outcome != ? ORDER BY id DESC LIMIT 1", name, OutcomeRetry))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, wrap(err)
		default:
			h.LastAttempt = &a
		}
		var sent any
		if err := db.R.QueryRowContext(ctx, "SELECT max(at) FROM digest_attempts WHERE digest = ? AND outcome = ?", name, OutcomeSent).Scan(&sent); err != nil {
			return nil, wrap(err)
		}
		h.LastSuccess = ParseTime(sent)
		return h, nil
	}
	runs, err := db.Runs(ctx, name, 1)
	if err != nil {
		return nil, err
	}
	if len(runs) > 0 {
		h.LastRun = &runs[0]
	}
	var ok any
	if err := db.R.QueryRowContext(ctx, "SELECT max(finished_at) FROM runs WHERE job = ? AND status = 'ok'", name).Scan(&ok); err != nil {
		return nil, wrap(err)
	}
	h.LastSuccess = ParseTime(ok)
	return h, nil
}

const attemptCols = "id, delivery, digest, recipients, at, attempt, outcome, error, coalesce(run_id, 0)"

func scanAttempt(s interface{ Scan(...any) error }) (DigestAttempt, error) {
	var a DigestAttempt
	var delivery, digest, rcpt, at, msg any
	err := s.Scan(&a.ID, &delivery, &digest, &rcpt, &at, &a.Attempt, &a.Outcome, &msg, &a.RunID)
	a.Delivery, a.Digest, a.At, a.Error = text(delivery), text(digest), ParseTime(at), text(msg)
	if r := text(rcpt); r != "" {
		a.Recipients = strings.Split(r, ",")
	}
	return a, err
}

func (db *DB) attempts(ctx context.Context, where string, args ...any) ([]DigestAttempt, error) {
	rows, err := db.R.QueryContext(ctx, "SELECT "+attemptCols+" FROM digest_attempts "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("digest attempts: %w", sqlite.Wrap(err))
	}
	defer rows.Close()
	var out []DigestAttempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, fmt.Errorf("digest attempts: %w", sqlite.Wrap(err))
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DigestAttempts lists attempts newest first, at most limit, of one digest
// or (digest "") of all.
func (db *DB) DigestAttempts(ctx context.Context, digest string, limit int) ([]DigestAttempt, error) {
	where, args := filter(map[string]string{"digest": digest})
	return db.attempts(ctx, where+" ORDER BY id DESC LIMIT ?", append(args, limit)...)
}

// DigestProblems lists digests that did not reach their list since a time,
// newest first: final failures (every attempt failed) and holds. Attempts
// that failed but were retried are left out; their delivery's last attempt
// says how it ended.
func (db *DB) DigestProblems(ctx context.Context, since time.Time, limit int) ([]DigestAttempt, error) {
	return db.attempts(ctx, "WHERE outcome IN (?, ?) AND at >= ? ORDER BY id DESC LIMIT ?", OutcomeFailed, OutcomeHeld, Format(since), limit)
}

// DigestValues returns the numbers of the newest send of digest at or
// before notAfter, by panel id, and when it was sent; nil when none.
func (db *DB) DigestValues(ctx context.Context, digest string, notAfter time.Time) (map[string]float64, time.Time, error) {
	var at any
	if err := db.R.QueryRowContext(ctx, "SELECT max(sent_at) FROM digest_values WHERE digest = ? AND sent_at <= ?", digest, Format(notAfter)).Scan(&at); err != nil {
		return nil, time.Time{}, fmt.Errorf("digest %s values: %w", digest, sqlite.Wrap(err))
	}
	sentAt := ParseTime(at)
	if sentAt.IsZero() {
		return nil, time.Time{}, nil
	}
	rows, err := db.R.QueryContext(ctx, "SELECT panel, value FROM digest_values WHERE digest = ? AND sent_at = ?", digest, Format(sentAt))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("digest %s values: %w", digest, sqlite.Wrap(err))
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var panel any
		var v float64
		if err := rows.Scan(&panel, &v); err != nil {
			return nil, time.Time{}, fmt.Errorf("digest %s values: %w", digest, sqlite.Wrap(err))
		}
		out[text(panel)] = v
	}
	return out, sentAt, rows.Err()
}

// RunInProgress reports whether the runs table shows a run still running.
// (A run that died leaves a row marked running until the next run starts;
// callers wait for it only so long.)
func (db *DB) RunInProgress(ctx context.Context) (bool, error) {
	var n int
	if err := db.R.QueryRowContext(ctx, "SELECT count(*) FROM runs WHERE status = 'running'").Scan(&n); err != nil {
		return false, fmt.Errorf("runs: %w", sqlite.Wrap(err))
	}
	return n > 0, nil
}

// ScheduleCounts counts job events by (kind, name, event) and digest
// attempts by (digest, outcome), for /metrics.
func (db *DB) ScheduleCounts(ctx context.Context) (events map[[3]string]int, attempts map[[2]string]int, err error) {
	events, attempts = map[[3]string]int{}, map[[2]string]int{}
	rows, err := db.R.QueryContext(ctx, "SELECT kind, name, event, count(*) FROM job_events GROUP BY 1, 2, 3")
	if err != nil {
		return nil, nil, fmt.Errorf("job events: %w", sqlite.Wrap(err))
	}
	for rows.Next() {
		var kind, event string
		var name any
		var n int
		if err := rows.Scan(&kind, &name, &event, &n); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("job events: %w", sqlite.Wrap(err))
		}
		events[[3]string{kind, text(name), event}] = n
	}
	rows.Close()
	rows, err = db.R.QueryContext(ctx, "SELECT digest, outcome, count(*) FROM digest_attempts GROUP BY 1, 2")
	if err != nil {
		return nil, nil, fmt.Errorf("digest attempts: %w", sqlite.Wrap(err))
	}
	defer rows.Close()
	for rows.Next() {
		var digest any
		var outcome string
		var n int
		if err := rows.Scan(&digest, &outcome, &n); err != nil {
			return nil, nil, fmt.Errorf("digest attempts: %w", sqlite.Wrap(err))
		}
		attempts[[2]string{text(digest), outcome}] = n
	}
	return events, attempts, rows.Err()
}
