// Package export writes reports as Excel workbooks and panels as CSV. Both
// stream rows from the query sandbox, so memory stays bounded however long a
// panel is, and both keep anything a tenant or a user wrote from becoming a
// formula.
package export

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/attache/attache/internal/human"

	"github.com/xuri/excelize/v2"

	"github.com/attache/attache/internal/report"
)

// Excel lays out a workbook. The zero value uses Excel's own limits.
type Excel struct {
	// SheetRows is the number of data rows per sheet before a table
	// continues on "<name> (2)"; 0 means Excel's limit (1,048,575 below the
	// header). Tests set it small.
	SheetRows int
	// Page is how many rows each round trip to the sandbox carries; 0 means 2,000.
	Page int
}

// Summary is what a workbook holds, for the command line and logs.
type Summary struct {
	Sheets []string // in order, About last
	Rows   int64    // data rows over all panels
	Failed []error  // panels whose SQL failed; their sheets show the error
}

// XLSX writes rep as an Excel workbook: a Summary sheet with the report's
// numbers (value, period, change) first, then one sheet per panel with a
// native chart beside the data of every line, bar, area and pie panel, and
// an About sheet with the report, each panel's SQL, when it was made and
// what data it covers. A failing panel gets a sheet with its error; the rest
// still export. Times are written in UTC and in now's location (the
// configured timezone), never as "ago": a file is read later.
func XLSX(w io.Writer, rep *report.Report, runner *report.Runner, fresh *report.Freshness, now time.Time) error {
	_, err := Excel{}.Write(w, rep, runner, fresh, now)
	return err
}

// Write is XLSX with this layout, returning what the workbook holds.
func (e Excel) Write(w io.Writer, rep *report.Report, runner *report.Runner, fresh *report.Freshness, now time.Time) (*Summary, error) {
	if e.SheetRows <= 0 || e.SheetRows > ExcelRows-1 {
		e.SheetRows = ExcelRows - 1
	}
	if e.Page <= 0 {
		e.Page = 2000
	}
	f := excelize.NewFile()
	defer f.Close() // removes the stream writers' temporary files
	f.SetZipWriter(func(w io.Writer) excelize.ZipWriter { return newBookZip(w) })
	st, err := newStyles(f)
	if err != nil {
		return nil, fmt.Errorf("xlsx %s: styles: %w", rep.Name, err)
	}
	b := &book{f: f, e: e, st: st, sum: &Summary{}, used: map[string]bool{}}
	// "History" is reserved by Excel; "Summary" and "About" are ours.
	b.reserve("History")
	b.reserve("Summary")
	b.reserve("About")
	// Every panel's sheet is named up front, so names do not depend on
	// which panels happen to split.
	names := make([]string, len(rep.Panels))
	for i, p := range rep.Panels {
		names[i] = b.unique(sheetName(p.Title, p.ID))
	}
	if err := b.summary(runner, rep, names, fresh, now); err != nil {
		return nil, fmt.Errorf("xlsx %s: Summary sheet: %w", rep.Name, err)
	}
	infos := make([]*panelInfo, len(rep.Panels))
	for i, p := range rep.Panels {
		info, err := b.panel(runner, p, names[i])
		if err != nil {
			return nil, fmt.Errorf("xlsx %s, panel %s: %w", rep.Name, p.ID, err)
		}
		infos[i] = info
	}
	if err := b.about(rep, infos, fresh, now); err != nil {
		return nil, fmt.Errorf("xlsx %s: About sheet: %w", rep.Name, err)
	}
	created := now.UTC().Format(time.RFC3339)
	if err := f.SetDocProps(&excelize.DocProperties{Title: rep.Title, Description: rep.Description, Creator: "attache", Created: created, Modified: created}); err != nil {
		return nil, fmt.Errorf("xlsx %s: %w", rep.Name, err)
	}
	if err := f.Write(w); err != nil {
		return nil, fmt.Errorf("xlsx %s: write: %w", rep.Name, err)
	}
	return b.sum, nil
}

type book struct {
	f       *excelize.File
	e       Excel
	st      *styles
	sum     *Summary
	used    map[string]bool // sheet names taken, lower-cased: Excel compares them without case
	renamed bool            // the default Sheet1 became our first sheet
}

// panelInfo is what the About sheet says of one panel.
type panelInfo struct {
	p      *report.Panel
	sheets []string
	rows   int64
	status string
	err    error
}

func (b *book) reserve(name string) { b.used[strings.ToLower(name)] = true }

// unique returns name, or name with " (2)", " (3)"... (shortened to fit)
// when taken, and reserves it.
func (b *book) unique(name string) string {
	cand := name
	for n := 2; b.used[strings.ToLower(cand)]; n++ {
		suffix := fmt.Sprintf(" (%d)", n)
		cand = wordsWithin(name, maxSheetName-len(suffix)) + suffix
	}
	b.reserve(cand)
	return cand
}

func (b *book) addSheet(name string) error {
	b.sum.Sheets = append(b.sum.Sheets, name)
	if !b.renamed {
		b.renamed = true
		return b.f.SetSheetName("Sheet1", name)
	}
	_, err := b.f.NewSheet(name)
	return err
}

// sheetName makes an Excel sheet name of a panel title: characters Excel
// forbids (: \ / ? * [ ]) and control characters made spaces, apostrophes made
// typographic (a straight one breaks sheet references), at most 31 long and
// cut between words, never inside one.
func sheetName(title, id string) string {
	var sb strings.Builder
	for _, r := range title {
		switch {
		case strings.ContainsRune(`:\/?*[]`, r), unicode.IsControl(r), unicode.IsSpace(r), r == unicode.ReplacementChar:
			sb.WriteRune(' ') // spaces collapse below
		case r == '\'':
			sb.WriteRune('’')
		default:
			sb.WriteRune(r)
		}
	}
	name := strings.Join(strings.Fields(sb.String()), " ")
	if name == "" {
		name = id
	}
	return wordsWithin(name, maxSheetName)
}

// wordsWithin shortens name to at most n UTF-16 units at a word boundary:
// "Active tenants, last complete month" becomes "Active tenants, last
// complete". Words that cannot end a name (of, by, per, a comma) are
// dropped from the end. A single word too long is cut as a last resort.
func wordsWithin(name string, n int) string {
	if truncUTF16(name, n) == name {
		return name
	}
	words := strings.Fields(name)
	out := ""
	for _, w := range words {
		cand := strings.TrimSpace(out + " " + w)
		if truncUTF16(cand, n) != cand {
			break
		}
		out = cand
	}
	for {
		trimmed := strings.TrimRight(out, ",;-–—&+ ")
		fields := strings.Fields(trimmed)
		if len(fields) > 1 && danglingWord(fields[len(fields)-1]) {
			trimmed = strings.Join(fields[:len(fields)-1], " ")
		}
		if trimmed == out {
			break
		}
		out = trimmed
	}
	if out == "" {
		return strings.TrimSpace(truncUTF16(name, n))
	}
	return out
}

// danglingWord is a word a name should not end on.
func danglingWord(w string) bool {
	switch strings.ToLower(w) {
	case "a", "an", "the", "of", "by", "per", "in", "on", "to", "for", "and", "or", "with", "vs", "at", "from", "last", "since":
		return true
	}
	return false
}

// truncUTF16 cuts s to at most n UTF-16 units (how Excel counts) on a rune
// boundary.
func truncUTF16(s string, n int) string {
	units := 0
	for i, r := range s {
		u := 1
		if r > 0xFFFF {
			u = 2
		}
		if units+u > n {
			return s[:i]
		}
		units += u
	}
	return s
}

// quoteSheet quotes a sheet name for a cell reference.
func quoteSheet(name string) string {
	return "'" + strings.ReplaceAll(name, "'", "''") + "'"
}

// panel writes one panel's sheet(s), streaming its rows.
func (b *book) panel(runner *report.Runner, p *report.Panel, name string) (*panelInfo, error) {
	info := &panelInfo{p: p}
	pw := &panelWriter{b: b, p: p, info: info, base: name}
	var writeErr error
	err := runner.Each(p, b.e.Page, func(cols []string, rows [][]any) error {
		writeErr = pw.page(cols, rows)
		return writeErr
	})
	if writeErr != nil {
		return nil, writeErr
	}
	if why, ok := report.Withheld(err); ok && pw.sw == nil {
		// Not for this audience (internal/privacy): no sheet, and the
		// About sheet says why.
		info.status = "left out: " + why
		return info, nil
	}
	info.err = err
	if err != nil {
		b.sum.Failed = append(b.sum.Failed, err)
	}
	if pw.sw == nil {
		// The query failed before its first row: a sheet that says why.
		if err == nil {
			err = errors.New("the query returned no columns")
			info.err = err
		}
		info.status = "failed: " + err.Error()
		info.sheets = []string{name}
		return info, b.errorSheet(name, p, err)
	}
	if err != nil {
		info.status = fmt.Sprintf("incomplete: the query stopped after %d rows: %v", info.rows, err)
		if werr := pw.stopped(err); werr != nil {
			return nil, werr
		}
	}
	if err := pw.finish(); err != nil {
		return nil, err
	}
	if info.status == "" {
		info.status = "ok"
		if len(info.sheets) > 1 {
			info.status = fmt.Sprintf("ok; the rows continue over %d sheets (an Excel sheet holds at most %s rows)", len(info.sheets), human.Count(ExcelRows))
			if report.Charted(p.Chart) && pw.chartNote == "" {
				pw.chartNote = "the chart shows the first sheet's rows"
			}
		}
	}
	if pw.chartNote != "" {
		info.status += "; " + pw.chartNote
	}
	return info, nil
}

// panelWriter streams one panel into one or more sheets.
type panelWriter struct {
	b         *book
	p         *report.Panel
	info      *panelInfo
	base      string
	name      string // the sheet being written
	sw        *excelize.StreamWriter
	cols      []string
	kinds     []kind
	widths    []float64
	row       int   // last row written on this sheet; 1 is the header
	sheetRows int   // data rows on this sheet
	first     []any // the first data row as written, for the chart's axis formats
	chartNote string
}

func (pw *panelWriter) page(cols []string, rows [][]any) error {
	if pw.sw == nil {
		if len(cols) == 0 {
			return nil
		}
		pw.cols = cols
		pw.kinds = make([]kind, len(cols))
		for i, c := range cols {
			pw.kinds[i] = kindOf(pw.p.Format[c])
			if cur, ok := report.MoneyCurrency(pw.p.Format[c]); ok {
				if err := pw.b.st.useMoney(cur); err != nil {
					return err
				}
			}
		}
		// Widths have to be set before the first row is streamed, so they
		// fit the header and the first page.
		pw.widths = make([]float64, len(cols))
		for i, c := range cols {
			w := width(kindText, pw.p.Label(c)) + 3 // room for the filter button
			for _, r := range rows {
				w = max(w, width(pw.kinds[i], r[i]))
			}
			pw.widths[i] = float64(min(max(w, 8), 60)) + 1.5
		}
		if err := pw.start(pw.base); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if pw.sheetRows >= pw.b.e.SheetRows {
			if err := pw.finish(); err != nil {
				return err
			}
			if err := pw.start(pw.b.unique(pw.base)); err != nil {
				return err
			}
		}
		vals := make([]any, len(r))
		for i, v := range r {
			vals[i] = pw.b.st.cell(pw.kinds[i], v)
		}
		if pw.first == nil {
			pw.first = vals
		}
		pw.row++
		cell, _ := excelize.CoordinatesToCellName(1, pw.row)
		if err := pw.sw.SetRow(cell, vals); err != nil {
			return err
		}
		pw.sheetRows++
		pw.info.rows++
		pw.b.sum.Rows++
	}
	return nil
}

// start opens a sheet: widths, frozen header, header row.
func (pw *panelWriter) start(name string) error {
	if err := pw.b.addSheet(name); err != nil {
		return err
	}
	if err := fitToPage(pw.b.f, name); err != nil {
		return err
	}
	sw, err := pw.b.f.NewStreamWriter(name)
	if err != nil {
		return err
	}
	pw.sw, pw.name, pw.row, pw.sheetRows = sw, name, 1, 0
	pw.info.sheets = append(pw.info.sheets, name)
	for i, w := range pw.widths {
		if err := sw.SetColWidth(i+1, i+1, w); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}}}); err != nil {
		return err
	}
	header := make([]any, len(pw.cols))
	for i, c := range pw.cols {
		header[i] = excelize.Cell{StyleID: pw.b.st.header, Value: cellText(pw.p.Label(c))}
	}
	return sw.SetRow("A1", header, excelize.RowOpts{Height: 20})
}

// stopped notes, below the rows written, that the query failed mid-way, so
// a partial table is never mistaken for a whole one.
func (pw *panelWriter) stopped(err error) error {
	pw.row += 2
	cell, _ := excelize.CoordinatesToCellName(1, pw.row)
	msg := fmt.Sprintf("The query stopped here; the rows above are incomplete: %v", err)
	return pw.sw.SetRow(cell, []any{excelize.Cell{StyleID: pw.b.st.errText, Value: cellText(msg)}})
}

// finish adds the autofilter and (on a panel's first sheet) the chart, then
// flushes. Both must come before Flush: they live in the worksheet the
// stream writer writes out at Flush.
func (pw *panelWriter) finish() error {
	last := pw.sheetRows + 1 // the header and this sheet's data, not an error note
	lastCol, _ := excelize.ColumnNumberToName(len(pw.cols))
	if err := pw.b.f.AutoFilter(pw.name, fmt.Sprintf("A1:%s%d", lastCol, max(last, 1)), nil); err != nil {
		return err
	}
	if len(pw.info.sheets) == 1 && report.Charted(pw.p.Chart) {
		if err := pw.chart(last); err != nil {
			return err
		}
	}
	if err := pageLayout(pw.b.f, pw.name); err != nil {
		return err
	}
	err := pw.sw.Flush()
	pw.sw = nil
	return err
}

// chart adds a native chart beside the data: categories from x, one series
// per y column (a pie takes the first).
func (pw *panelWriter) chart(last int) error {
	index := func(name string) int {
		for i, c := range pw.cols {
			if c == name {
				return i
			}
		}
		return -1
	}
	col := func(name string) string {
		if i := index(name); i >= 0 {
			n, _ := excelize.ColumnNumberToName(i + 1)
			return n
		}
		return ""
	}
	// Axes show values as their cells do: a day as a date, a share as a
	// percentage, not as Excel's serial numbers or fractions.
	axisFmt := func(name string) excelize.ChartNumFmt {
		code := "General"
		if i := index(name); i >= 0 && pw.first != nil {
			code = pw.b.st.code(pw.first[i])
		}
		return excelize.ChartNumFmt{CustomNumFmt: code, SourceLinked: true}
	}
	if last < 2 {
		pw.chartNote = "no chart: no rows"
		return nil
	}
	x := col(pw.p.X)
	if x == "" {
		pw.chartNote = fmt.Sprintf("no chart: x column %q is not in the result", pw.p.X)
		return nil
	}
	sheet := quoteSheet(pw.name)
	var series []excelize.ChartSeries
	for _, y := range pw.p.Y {
		c := col(y)
		if c == "" {
			pw.chartNote = fmt.Sprintf("no chart: y column %q is not in the result", y)
			return nil
		}
		s := excelize.ChartSeries{
			Name:       fmt.Sprintf("%s!$%s$1", sheet, c),
			Categories: fmt.Sprintf("%s!$%s$2:$%s$%d", sheet, x, x, last),
			Values:     fmt.Sprintf("%s!$%s$2:$%s$%d", sheet, c, c, last),
		}
		if last > 60 {
			s.Marker.Symbol = "none" // markers on every day of a year blur the line
		}
		series = append(series, s)
		if pw.p.Chart == report.ChartPie {
			break
		}
	}
	// One colour per series (Excel's default for a single series is a
	// colour per bar), and a legend only when there is more than one series
	// to tell apart.
	vary := false
	ch := &excelize.Chart{
		Series:     series,
		Title:      excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: pw.p.Title}}},
		Legend:     excelize.ChartLegend{Position: "bottom"},
		VaryColors: &vary,
		Dimension:  excelize.ChartDimension{Width: 720, Height: 400},
		Format:     excelize.GraphicOptions{OffsetX: 10, OffsetY: 10},
		XAxis:      excelize.ChartAxis{NumFmt: axisFmt(pw.p.X), TickLabelSkip: labelSkip(last - 1), Font: axisFont()},
		YAxis:      excelize.ChartAxis{NumFmt: axisFmt(pw.p.Y[0]), MajorGridLines: true, Font: axisFont()},
	}
	if len(series) == 1 {
		ch.Legend.Position = "none"
	}
	switch pw.p.Chart {
	case report.ChartLine:
		ch.Type = excelize.Line
	case report.ChartBar:
		ch.Type = excelize.Col // vertical bars, as the dashboard draws them
		if pw.p.Stacked {
			ch.Type = excelize.ColStacked
		}
	case report.ChartArea:
		ch.Type = excelize.Area
		if pw.p.Stacked {
			ch.Type = excelize.AreaStacked
		}
	case report.ChartPie:
		ch.Type = excelize.Pie
		ch.Legend.Position = "right"
		ch.PlotArea = excelize.ChartPlotArea{ShowPercent: true}
		ch.XAxis.TickLabelSkip = 0
		vary = true // a pie's slices need colours of their own
	}
	anchor, _ := excelize.CoordinatesToCellName(len(pw.cols)+2, 2)
	return pw.b.f.AddChart(pw.name, anchor, ch)
}

// axisFont is dark enough to read on paper (excelize's default is a pale
// grey).
func axisFont() excelize.Font { return excelize.Font{Color: "4B5563", Size: 9} }

// labelSkip shows about a dozen category labels on an axis of n points:
// every day of a year would print as one unreadable band.
func labelSkip(n int) int {
	if n <= 16 {
		return 0
	}
	return (n + 11) / 12
}

// errorSheet is the sheet of a panel whose query failed.
func (b *book) errorSheet(name string, p *report.Panel, err error) error {
	if e := b.addSheet(name); e != nil {
		return e
	}
	f, st := b.f, b.st
	set := func(cell, v string, style int) error {
		if e := f.SetCellStr(name, cell, cellText(v)); e != nil {
			return e
		}
		return f.SetCellStyle(name, cell, cell, style)
	}
	return errors.Join(
		set("A1", p.Title+": this panel's query failed, so it has no data", st.title),
		set("A2", err.Error(), st.errText),
		set("A4", "SQL", st.label),
		set("A5", p.SQL, st.wrap),
		f.SetColWidth(name, "A", "A", 100),
	)
}

// about writes the About sheet: what the workbook is, how fresh, and how
// each panel was computed.
func (b *book) about(rep *report.Report, infos []*panelInfo, fresh *report.Freshness, now time.Time) error {
	const name = "About"
	if err := b.addSheet(name); err != nil {
		return err
	}
	f, st := b.f, b.st
	var errs []error
	row := 1
	put := func(col int, v any, style int) {
		cell, _ := excelize.CoordinatesToCellName(col, row)
		var err error
		switch x := v.(type) {
		case string:
			err = f.SetCellStr(name, cell, cellText(x))
		case time.Time:
			err = f.SetCellFloat(name, cell, serial(x), -1, 64)
			if style == 0 {
				style = st.dates[dateTime]
			}
		default:
			err = f.SetCellValue(name, cell, x)
		}
		if err == nil && style != 0 {
			err = f.SetCellStyle(name, cell, cell, style)
		}
		errs = append(errs, err)
	}
	line := func(label string, v any, style int) {
		put(1, label, st.label)
		put(2, v, style)
		row++
	}
	put(1, rep.Title, st.title)
	row += 2
	line("Report", rep.Name, 0)
	if rep.Description != "" {
		line("Description", rep.Description, st.wrap)
	}
	if rep.File != "" {
		line("Report file", rep.File, 0)
	}
	line("Generated", human.When(now, now.Location()), 0)
	line("Data", fresh.Stamp(now.Location()), st.wrap)
	if fresh != nil && fresh.Run != nil {
		r := fresh.Run
		line("Last run", r.ID, 0)
		if !r.FinishedAt.IsZero() {
			line("Last run finished (UTC)", r.FinishedAt.UTC(), 0)
		}
		line("Tenants in the run", int64(r.TenantsTotal), st.integer)
		line("Tenants read ok", int64(r.TenantsOK), st.integer)
		line("Tenants unchanged", int64(r.TenantsUnchanged), st.integer)
		line("Tenants failed (in the queries this report reads)", int64(fresh.FailedTenants()), st.integer)
		line("Coverage", fresh.Coverage(), st.percent)
		if fresh.FailedTenants() > 0 {
			line("Note", "Tenants that failed are missing from the numbers; the runs page of the dashboard says why.", st.wrap)
		}
	} else {
		line("Last run", "none yet: the numbers are empty until `attache run` has run", st.wrap)
	}
	row++
	for i, h := range []string{"Sheet", "Panel", "Chart", "Rows", "Status", "Description", "SQL"} {
		put(i+1, h, st.header)
	}
	row++
	for _, in := range infos {
		put(1, strings.Join(in.sheets, ", "), st.wrap)
		put(2, in.p.Title+" ("+in.p.ID+")", st.wrap)
		put(3, in.p.Chart, 0)
		put(4, in.rows, st.integer)
		style := st.wrap
		if in.err != nil {
			style = st.errText
		}
		put(5, in.status, style)
		put(6, in.p.Description, st.wrap)
		put(7, in.p.SQL, st.wrap)
		row++
	}
	for col, w := range map[string]float64{"A": 26, "B": 48, "C": 9, "D": 10, "E": 40, "F": 40, "G": 90} {
		errs = append(errs, f.SetColWidth(name, col, col, w))
	}
	errs = append(errs, printOnePageWide(f, name))
	return errors.Join(errs...)
}
