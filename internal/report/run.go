package report

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/attache/attache/internal/sandbox"
)

// Data is one panel's result. A panel whose SQL failed has Err set and no
// rows: callers show the error in its place and carry on with the rest.
type Data struct {
	Panel     *Panel
	Columns   []string
	Rows      [][]any // int64, float64, string, []byte or nil, as SQLite holds them
	Truncated bool    // more rows existed than the runner's row limit
	Err       error
	Elapsed   time.Duration
	// Note says how the audience's rules changed the rows (pseudonyms,
	// suppressed small groups); "" when they did not.
	Note string
}

// Column returns the index of the named column, or -1.
func (d *Data) Column(name string) int {
	for i, c := range d.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// Value is what a number panel shows: the first row's first y column (or
// its first column); nil when there is no row.
func (d *Data) Value() any {
	if len(d.Rows) == 0 || len(d.Columns) == 0 {
		return nil
	}
	i := 0
	if d.Panel != nil && len(d.Panel.Y) > 0 {
		if i = d.Column(d.Panel.Y[0]); i < 0 {
			return nil
		}
	}
	return d.Rows[0][i]
}

// Runner runs panel SQL read-only on the metrics DB in the sandbox's child
// processes: go-libsql ignores cancellation, so a runaway panel can only be
// stopped by killing its process, and it must never hold up the page.
type Runner struct {
	sb       *sandbox.Runner
	path     string
	rowLimit int
	// Parallel bounds how many panels of one report run at once.
	Parallel int
	// audience shapes every result (see For); nil shows it as it is.
	audience Audience
}

// NewRunner runs panels on the metrics DB at metricsPath, returning at most
// rowLimit rows each (0: no limit) from Run and RunAll.
func NewRunner(sb *sandbox.Runner, metricsPath string, rowLimit int) *Runner {
	return &Runner{sb: sb, path: metricsPath, rowLimit: rowLimit, Parallel: 4}
}

// RowLimit is the most rows Run returns per panel.
func (r *Runner) RowLimit() int { return r.rowLimit }

// Run runs the panel's SQL and keeps any error in Data.Err.
func (r *Runner) Run(p *Panel) *Data {
	return r.run(p, r.rowLimit)
}

func (r *Runner) run(p *Panel, limit int) *Data {
	start := time.Now()
	d := &Data{Panel: p}
	if err := r.ready(); err != nil {
		d.Err = fmt.Errorf("%s: %w", p.where(), err)
		return d
	}
	res, err := r.sb.Query(r.path, nil, p.SQL, limit)
	d.Elapsed = time.Since(start)
	if err != nil {
		d.Err = fmt.Errorf("%s: %s", p.where(), hint(err.Error()))
		return d
	}
	d.Columns, d.Rows, d.Truncated = res.Columns, res.Rows, res.Truncated
	return Apply(r.audience, d)
}

// ready checks the metrics DB exists: opening a missing file would create an
// empty one, and "no such table" would hide the real problem.
func (r *Runner) ready() error {
	if _, err := os.Stat(r.path); err != nil {
		return fmt.Errorf("metrics DB %s does not exist yet; run `attache run` first", r.path)
	}
	return nil
}

// hint adds what to do to the errors report authors meet most.
func hint(msg string) string {
	switch {
	case strings.Contains(msg, "no such table: rollup_"):
		return msg + " (is there a queries/NAME.sql for it, and has `attache run` run since it was added?)"
	case strings.Contains(msg, "no such table"), strings.Contains(msg, "no such column"):
		return msg + " (check the panel's sql against the metrics DB: rollup_NAME tables, runs, tenants, tenant_errors)"
	}
	return msg
}

// RunAll runs every panel of rep, at most Parallel at once, in panel order.
func (r *Runner) RunAll(rep *Report) []*Data {
	out := make([]*Data, len(rep.Panels))
	r.each(len(rep.Panels), func(i int) { out[i] = r.Run(rep.Panels[i]) })
	return out
}

// each calls fn(0..n-1) with at most Parallel calls at once.
func (r *Runner) each(n int, fn func(i int)) {
	par := r.Parallel
	if par < 1 {
		par = 1
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

// Each streams every row of the panel (no row limit) to fn, page rows at a
// time, in a sandbox child of its own, so a big export holds a few pages at
// a time. fn is called at least once when the query starts, so the columns
// are known even for an empty result. The child reads the next page while fn
// handles this one, so reading and writing use both cores. The whole stream
// shares the sandbox's time limit.
func (r *Runner) Each(p *Panel, page int, fn func(cols []string, rows [][]any) error) error {
	if err := r.ready(); err != nil {
		return fmt.Errorf("%s: %w", p.where(), err)
	}
	type batch struct {
		cols []string
		rows [][]any
	}
	if r.audience != nil {
		fn = shaped(r.audience, p, fn)
	}
	pages := make(chan batch, 1)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		defer close(pages)
		done <- r.sb.Each(r.path, p.SQL, page, func(cols []string, rows [][]any) error {
			select {
			case pages <- batch{cols, rows}:
				return nil
			case <-stop:
				return errStopped
			}
		})
	}()
	var fnErr error
	for b := range pages {
		if fnErr != nil {
			continue // drain, so the reader can see stop and end
		}
		if fnErr = fn(b.cols, b.rows); fnErr != nil {
			close(stop)
		}
	}
	err := <-done
	if fnErr != nil {
		// The caller's own error (a closed connection, a full disk): no
		// panel context needed, and errors.Is must still see it.
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("%s: %s", p.where(), hint(err.Error()))
	}
	return nil
}

// shaped applies a to each page of a stream before fn sees it.
func shaped(a Audience, p *Panel, fn func(cols []string, rows [][]any) error) func(cols []string, rows [][]any) error {
	var sh *Shape
	return func(cols []string, rows [][]any) error {
		if sh == nil {
			var err error
			if sh, err = a.Shape(p, cols); err != nil {
				return err
			}
		}
		out, err := sh.Rows(rows)
		if err != nil {
			return err
		}
		return fn(sh.Columns, out)
	}
}

// errStopped ends a stream whose consumer gave up.
const errStopped = stoppedError("stopped by the caller")

type stoppedError string

func (e stoppedError) Error() string { return string(e) }

// Validate runs every panel of reps (one row each) and checks what a running
// query can tell: the SQL works, x and y name columns of its result, y holds
// numbers, format names real columns. Every problem is reported, naming the
// file and panel.
func Validate(r *Runner, reps []*Report) error {
	var panels []*Panel
	for _, rep := range reps {
		panels = append(panels, rep.Panels...)
	}
	errs := make([]error, len(panels))
	r.each(len(panels), func(i int) { errs[i] = r.validate(panels[i]) })
	return errors.Join(errs...)
}

func (r *Runner) validate(p *Panel) error {
	if err := p.check(); err != nil {
		return err
	}
	d := r.run(p, 1)
	if d.Err != nil {
		return d.Err
	}
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", p.where(), fmt.Sprintf(format, a...)))
	}
	have := strings.Join(d.Columns, ", ")
	if p.X != "" && d.Column(p.X) < 0 {
		bad("x column %q is not in the result (columns: %s); fix x or the column alias in the sql", p.X, have)
	}
	for _, y := range p.Y {
		i := d.Column(y)
		if i < 0 {
			bad("y column %q is not in the result (columns: %s); fix y or the column alias in the sql", y, have)
			continue
		}
		if Charted(p.Chart) && len(d.Rows) > 0 {
			if s, ok := d.Rows[0][i].(string); ok {
				bad("y column %q holds text (%q in the first row) but a chart needs numbers; CAST it in the sql", y, clip(s, 40))
			}
		}
	}
	for _, c := range sortedKeys(p.Format) {
		if d.Column(c) < 0 {
			bad("format names column %q, which is not in the result (columns: %s)", c, have)
		}
	}
	for _, c := range sortedKeys(p.Labels) {
		if d.Column(c) < 0 {
			bad("labels names column %q, which is not in the result (columns: %s)", c, have)
		}
	}
	for _, k := range p.headlineKeys() {
		if k.col != "" && d.Column(k.col) < 0 {
			bad("%s column %q is not in the result (columns: %s); fix %s or the column alias in the sql", k.key, k.col, have, k.key)
		}
	}
	if i := d.Column(p.Change); p.Change != "" && i >= 0 && len(d.Rows) > 0 {
		if s, ok := d.Rows[0][i].(string); ok {
			bad("change column %q holds text (%q in the first row) but must be a ratio such as 0.066; CAST it in the sql", p.Change, clip(s, 40))
		}
	}
	if p.Privacy != nil {
		for _, c := range p.Privacy.columns() {
			if d.Column(c) < 0 {
				bad("privacy names column %q, which is not in the result (columns: %s)", c, have)
			}
		}
	}
	if p.Chart == ChartNumber && len(d.Columns) == 0 {
		bad("a number panel needs one column")
	}
	return errors.Join(errs...)
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
