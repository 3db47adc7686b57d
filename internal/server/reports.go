package server

import (
	"html/template"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/attache/attache/internal/report"
)

// maxTableRows is how many rows a table shows on the page; the CSV has all.
const maxTableRows = 200

// findReport looks a URL's report name up in the loaded list: a name never
// reaches the file system.
func (s *Server) findReport(name string) (*report.Report, error) {
	if r := report.Find(s.reports, name); r != nil {
		return r, nil
	}
	return nil, notFound("There is no report called %q.", name)
}

// reportOrWorkbook serves /reports/NAME and /reports/NAME.xlsx, which echo
// routes alike.
func (s *Server) reportOrWorkbook(c echo.Context) error {
	name := c.Param("name")
	if base, ok := strings.CutSuffix(name, ".xlsx"); ok {
		return s.workbook(c, base)
	}
	return s.reportPage(c, name)
}

type reportView struct {
	Report    *report.Report
	Freshness string
	Stale     bool            // no finished run, the data ends days before the run, or a newer run failed
	Panels    []template.HTML // rendered once per data version, see panel.html
	Privacy   string          // what an aggregate audience is not shown; "" for everything
}

type panelView struct {
	ID, Title, Description, Chart string
	Err                           string
	Options                       map[string]any // ECharts options, for the page's JSON data block
	Number                        string
	Headline                      report.Headline // a number panel's value, period and change
	Heat                          bool            // a matrix of shares, coloured by value
	Columns                       []column
	Rows                          [][]cell
	Shown, Total                  int
	Truncated                     bool
	CSV                           string
	Elapsed                       time.Duration
	Span                          int    // columns of the 12-column grid
	Withheld                      string // why this audience does not see the panel
	Note                          string // how the audience's rules changed it
}

// reportState is what a report's page and JSON both start from: the report,
// the data version its cached panels belong to, and its freshness, whose
// coverage counts only tenants that failed a query this report reads.
func (s *Server) reportState(c echo.Context, name string) (*report.Report, string, *report.Freshness, error) {
	rep, err := s.findReport(name)
	if err != nil {
		return nil, "", nil, err
	}
	ctx := c.Request().Context()
	version, err := s.dataVersion(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	fresh, err := report.LoadReportFreshness(ctx, s.mdb, s.now(), rep)
	if err != nil {
		return nil, "", nil, err
	}
	return rep, version, fresh, nil
}

func (s *Server) reportPage(c echo.Context, name string) error {
	rep, version, fresh, err := s.reportState(c, name)
	if err != nil {
		return err
	}
	v, err := s.reportView(rep, version, fresh, s.audience(currentUser(c)), true)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "report", pageData{Title: rep.Title, Nav: "reports", Body: v})
}

// reportView renders a report's panels for audience a (nil: everything).
// Panels as they are are rendered once per data version and kept; shaped
// ones are rendered per view, from the same cached data.
func (s *Server) reportView(rep *report.Report, version string, fresh *report.Freshness, a report.Audience, csv bool) (reportView, error) {
	entries := s.cache.report(rep, version)
	v := reportView{Report: rep, Freshness: fresh.String(), Stale: fresh.Run == nil || fresh.DataStale() || (fresh.Latest != nil && fresh.Latest.ID > fresh.Run.ID && fresh.Latest.Status != "running"),
		Privacy: s.audienceNote(a)}
	spans := layout(rep.Panels)
	for i, e := range entries {
		render := func(d *report.Data) (template.HTML, error) {
			pv := s.panelView(rep, d)
			pv.Span = spans[i]
			if !csv {
				pv.CSV = ""
			}
			return s.views.renderPanel(pv)
		}
		var html template.HTML
		var err error
		if a == nil && csv {
			html, err = e.fragment(render)
		} else {
			html, err = render(report.Apply(a, e.data))
		}
		if err != nil {
			return v, err
		}
		v.Panels = append(v.Panels, html)
	}
	return v, nil
}

// layout sizes panels on a 12-column grid so rows fill: consecutive numbers
// share rows of up to four, balanced (seven make rows of four and three),
// consecutive charts go two by two with a lone one full width, tables are
// full width.
// The layout depends on the panels' kinds only, never their data, so a
// rendered panel can be kept.
func layout(panels []*report.Panel) []int {
	kind := func(i int) string {
		switch c := panels[i].Chart; c {
		case report.ChartNumber, report.ChartTable:
			return c
		}
		return "chart"
	}
	spans := make([]int, len(panels))
	for i := 0; i < len(panels); {
		j := i
		for j < len(panels) && kind(j) == kind(i) {
			j++
		}
		switch n := j - i; kind(i) {
		case report.ChartNumber:
			k := i
			for rows := (n + 3) / 4; rows > 0; rows-- {
				per := (j - k + rows - 1) / rows
				for end := k + per; k < end; k++ {
					spans[k] = 12 / per
				}
			}
		case report.ChartTable:
			for k := i; k < j; k++ {
				spans[k] = 12
			}
		default:
			for k := i; k < j; k++ {
				spans[k] = 6
			}
			if n%2 == 1 {
				spans[j-1] = 12
			}
		}
		i = j
	}
	return spans
}

// panelView turns a panel's data into what the page shows. A broken panel
// shows its error in place; the rest of the page is unaffected.
func (s *Server) panelView(rep *report.Report, d *report.Data) panelView {
	p := d.Panel
	v := panelView{
		ID: p.ID, Title: p.Title, Description: p.Description, Chart: p.Chart,
		CSV: "/reports/" + rep.Name + "/" + p.ID + ".csv", Elapsed: d.Elapsed, Truncated: d.Truncated,
	}
	if why, ok := report.Withheld(d.Err); ok {
		v.Withheld = why
		return v
	}
	if d.Err != nil {
		v.Err = d.Err.Error()
		return v
	}
	v.Note = d.Note
	switch p.Chart {
	case report.ChartNumber:
		v.Headline = d.Headline()
		v.Number = v.Headline.Text
		return v
	case report.ChartTable:
	default:
		opt, err := chartOptions(d)
		if err != nil {
			v.Err = p.Title + ": " + err.Error()
			return v
		}
		v.Options = opt
	}
	v.Columns, v.Rows, v.Heat = tableCells(d, maxTableRows)
	v.Total = len(d.Rows)
	v.Shown = len(v.Rows)
	return v
}

// tableCells renders up to limit rows of d for a page table: headers by the
// panel's labels (the raw name kept for a tooltip), values by their
// column's format. A table of three or more share columns is a matrix (a
// retention triangle): its share cells are coloured by value, in ten steps
// of the largest share.
func tableCells(d *report.Data, limit int) ([]column, [][]cell, bool) {
	p := d.Panel
	numeric := make([]bool, len(d.Columns))
	for _, r := range d.Rows {
		for i, x := range r {
			if x != nil {
				numeric[i] = isNumeric(x)
			}
		}
	}
	cols := make([]column, len(d.Columns))
	shares := 0
	for i, name := range d.Columns {
		f := p.Format[name]
		if f == report.FormatText || f == report.FormatDate {
			numeric[i] = false
		}
		cols[i] = column{Name: name, Label: p.Label(name), Num: numeric[i]}
		if f == report.FormatPercent {
			shares++
		}
	}
	heat := shares >= 3
	top := 0.0
	if heat {
		for _, r := range d.Rows {
			for i, x := range r {
				if f, ok := asFloat(x); ok && p.Format[d.Columns[i]] == report.FormatPercent {
					top = max(top, f)
				}
			}
		}
	}
	n := min(len(d.Rows), limit)
	rows := make([][]cell, n)
	for i, r := range d.Rows[:n] {
		cells := make([]cell, len(r))
		for j, x := range r {
			text := formatCell(x, p.Format[d.Columns[j]])
			c := cell{Text: text, Num: numeric[j], Long: len(text) > 40, Heat: -1}
			if f, ok := asFloat(x); ok && heat && top > 0 && p.Format[d.Columns[j]] == report.FormatPercent {
				c.Heat = min(9, max(0, int(f/top*9.999)))
			}
			if x == nil {
				c.Text = ""
			}
			cells[j] = c
		}
		rows[i] = cells
	}
	return cols, rows, heat
}

// column and cell are a table's header and values as the page shows them.
type column struct {
	Name  string // as in the CSV
	Label string // as people read it (the panel's labels)
	Num   bool   // right-aligned
}

type cell struct {
	Text string
	Num  bool
	Long bool // shown cut; the full text is its title
	Heat int  // 0..9: a matrix cell's colour step; -1 none
}

// reportJSON is /api/reports/NAME: every panel's columns and rows with the
// types SQLite holds (blobs as their text), and the freshness line.
func (s *Server) reportJSON(c echo.Context) error {
	rep, version, fresh, err := s.reportState(c, c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.reportData(rep, version, fresh, s.audience(currentUser(c))))
}

// reportData is a report's JSON as audience a sees it.
func (s *Server) reportData(rep *report.Report, version string, fresh *report.Freshness, a report.Audience) any {
	type apiPanel struct {
		ID        string   `json:"id"`
		Title     string   `json:"title"`
		Chart     string   `json:"chart"`
		X         string   `json:"x,omitempty"`
		Y         []string `json:"y,omitempty"`
		Columns   []string `json:"columns"`
		Rows      [][]any  `json:"rows"`
		Truncated bool     `json:"truncated"`
		Error     string   `json:"error,omitempty"`
		Withheld  string   `json:"withheld,omitempty"`
		Note      string   `json:"note,omitempty"`
	}
	out := struct {
		Name        string     `json:"name"`
		Title       string     `json:"title"`
		Description string     `json:"description,omitempty"`
		Freshness   string     `json:"freshness"`
		RunID       int64      `json:"run_id,omitempty"`
		Coverage    float64    `json:"coverage"`
		Privacy     string     `json:"privacy,omitempty"`
		Panels      []apiPanel `json:"panels"`
	}{Name: rep.Name, Title: rep.Title, Description: rep.Description, Freshness: fresh.String(), Coverage: fresh.Coverage(), Privacy: s.audienceNote(a)}
	if fresh.Run != nil {
		out.RunID = fresh.Run.ID
	}
	for _, e := range s.cache.report(rep, version) {
		d := report.Apply(a, e.data)
		p := d.Panel
		ap := apiPanel{ID: p.ID, Title: p.Title, Chart: p.Chart, X: p.X, Y: p.Y, Columns: d.Columns, Rows: jsonRows(d.Rows), Truncated: d.Truncated, Note: d.Note}
		if ap.Columns == nil {
			ap.Columns = []string{}
		}
		if why, ok := report.Withheld(d.Err); ok {
			ap.Withheld = why
		} else if d.Err != nil {
			ap.Error = d.Err.Error()
		}
		out.Panels = append(out.Panels, ap)
	}
	return out
}

// jsonRows keeps numbers and text as they are and renders blobs as text.
func jsonRows(rows [][]any) [][]any {
	out := make([][]any, len(rows))
	for i, r := range rows {
		row := make([]any, len(r))
		for j, v := range r {
			switch x := v.(type) {
			case []byte:
				row[j] = report.Text(x)
			case float64:
				if math.IsInf(x, 0) || math.IsNaN(x) {
					row[j] = report.Text(x) // JSON has no infinities
				} else {
					row[j] = x
				}
			default:
				row[j] = v
			}
		}
		out[i] = row
	}
	return out
}
