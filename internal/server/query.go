package server

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/export"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/query"
	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/sandbox"
)

// maxQueryRowsShown bounds the HTML table; the CSV has up to row_limit.
const maxQueryRowsShown = 1000

const exampleQuery = "SELECT count(*) AS todos FROM tenant.todos"

type queryView struct {
	SQL       string
	Tenants   string
	Example   string
	RowLimit  int
	Timeout   time.Duration
	Ran       bool
	Err       string
	Columns   []string
	Numeric   []bool
	Rows      [][]string
	Total     int
	Truncated bool
	Partial   string
	Asked     int
	Errors    []metrics.TenantError
	Elapsed   time.Duration
}

func (s *Server) queryPage(c echo.Context) error {
	v := s.newQueryView(c)
	if v.SQL == "" {
		v.SQL = exampleQuery
	}
	return s.render(c, http.StatusOK, "query", pageData{Title: "Query", Nav: "query", Body: v})
}

func (s *Server) newQueryView(c echo.Context) queryView {
	return queryView{
		SQL: strings.TrimSpace(c.FormValue("sql")), Tenants: strings.TrimSpace(c.FormValue("tenants")),
		Example: exampleQuery, RowLimit: s.cfg.RowLimit, Timeout: s.cfg.QueryTimeout.D(),
	}
}

// queryRun runs the form's query over the fleet and shows the result.
func (s *Server) queryRun(c echo.Context) error {
	v := s.newQueryView(c)
	v.Ran = true
	res, err := s.adhocQuery(c, v.SQL, v.Tenants)
	if err != nil {
		// The user's own mistakes show on the form, beside the SQL to fix.
		code, msg := status(err)
		if code >= 500 {
			return err
		}
		v.Err = msg
		return s.render(c, code, "query", pageData{Title: "Query", Nav: "query", Body: v})
	}
	v.Elapsed, _ = c.Get("adhoc.elapsed").(time.Duration)
	v.Columns, v.Truncated, v.Partial, v.Asked, v.Errors = res.Columns, res.Truncated, res.Partial, res.Tenants, res.Errors
	v.Total = len(res.Rows)
	v.Numeric = make([]bool, len(res.Columns))
	for _, r := range res.Rows[:min(len(res.Rows), maxQueryRowsShown)] {
		cells := make([]string, len(r))
		for i, x := range r {
			cells[i] = formatCell(x, "")
			if x != nil {
				v.Numeric[i] = isNumeric(x)
			}
		}
		v.Rows = append(v.Rows, cells)
	}
	return s.render(c, http.StatusOK, "query", pageData{Title: "Query", Nav: "query", Body: v})
}

// queryCSV runs the form's query and sends the rows as CSV, with text that
// a spreadsheet would run as a formula neutralised like every export.
func (s *Server) queryCSV(c echo.Context) error {
	res, err := s.adhocQuery(c, strings.TrimSpace(c.FormValue("sql")), c.FormValue("tenants"))
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": "attache-query-" + s.now().UTC().Format("20060102-150405") + ".csv"}))
	c.Response().WriteHeader(http.StatusOK)
	// Values leave byte for byte, text neutralised like every export.
	w := export.NewCSVWriter(c.Response())
	rec := make([]string, len(res.Columns))
	for i, col := range res.Columns {
		rec[i] = export.Neutralise(col)
	}
	w.Record(rec...)
	for _, r := range res.Rows {
		for i, x := range r {
			rec[i] = export.CSVText(x)
		}
		w.Record(rec...)
	}
	return w.Flush()
}

// adhocQuery checks and runs an ad-hoc query. The errors that are the
// user's to read (bad SQL, a tenant that is not in the fleet, busy, too
// slow) are HTTP errors with their status; status() maps them like every
// other error.
func (s *Server) adhocQuery(c echo.Context, sqlText, tenants string) (res *rollup.AdhocResult, err error) {
	// Every query asked for is audited, refused ones too: who, the SQL,
	// which tenants, how many rows came back.
	defer func() {
		e := audit.Entry{Action: audit.Query, Target: c.Path(), Detail: sqlText, Tenants: audit.TenantList(splitIDs(tenants))}
		if err != nil {
			e.Failed, e.Detail = true, sqlText+"\n-- not answered: "+errText(err)
		} else {
			e.Rows = int64(len(res.Rows))
		}
		s.record(c, e)
	}()
	if sqlText == "" {
		return nil, badRequest("Write a query first.")
	}
	if err := query.CheckReadOnly(sqlText); err != nil {
		return nil, badRequest("%s", err)
	}
	// Ad-hoc queries get slots of their own: a slow one waits for nothing
	// and holds up nothing but the page that asked.
	select {
	case s.adhoc <- struct{}{}:
	default:
		return nil, echo.NewHTTPError(http.StatusTooManyRequests, "Other ad-hoc queries are running; try again when they have finished.")
	}
	// The engine checks its deadline between batches; the page does not
	// wait past query_timeout for it, and the slot stays taken until the
	// engine has really stopped.
	limit := s.cfg.QueryTimeout.D()
	ctx, cancel := context.WithTimeout(c.Request().Context(), limit+2*time.Second)
	type answer struct {
		res *rollup.AdhocResult
		err error
	}
	ch := make(chan answer, 1)
	start := time.Now()
	go func() {
		defer func() { <-s.adhoc }()
		defer cancel()
		res, err := rollup.Adhoc(ctx, s.cfg, s.sandbox, sqlText, splitIDs(tenants), s.cfg.RowLimit)
		ch <- answer{res, err}
	}()
	var a answer
	select {
	case a = <-ch:
	case <-ctx.Done():
		return nil, echo.NewHTTPError(http.StatusServiceUnavailable, fmt.Sprintf("The query ran past query_timeout (%s) and was stopped; narrow it down (fewer tenants, a LIMIT) or raise query_timeout.", limit))
	}
	c.Set("adhoc.elapsed", time.Since(start))
	if a.err != nil {
		// Bad SQL, an unknown tenant, a refused table: the query's own
		// problems, for the user to fix.
		s.reqLog(c).Info("ad-hoc query failed", "err", a.err)
		var timeout *sandbox.TimeoutError
		if errors.As(a.err, &timeout) {
			return nil, a.err // 503, like every query stopped at its limit
		}
		return nil, badRequest("%s", a.err)
	}
	return a.res, nil
}

// splitIDs reads a list of tenant ids separated by commas or new lines.
func splitIDs(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
