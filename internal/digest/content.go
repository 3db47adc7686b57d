package digest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/attache/attache/internal/human"

	"github.com/attache/attache/internal/report"
)

// How much of each panel an email shows; the workbook has the rest.
const (
	sparkPoints  = 30 // recent points in a sparkline
	tableRows    = 5  // top rows of a table panel
	tableColumns = 4  // columns of a table panel (a phone is narrow)
	pieSlices    = 5
)

// content is what the templates draw: the report's panels boiled down to
// what reads well in an inbox.
type content struct {
	Numbers []number
	Series  []seriesPanel
	Tables  []tablePanel
	Errors  []string // panels that failed (only ever shown in a preview: a digest with one is held)
}

// number is a number panel with its change since the previous digest.
type number struct {
	ID     string
	Title  string
	Period string // the period the panel says the value is for ("November 2026")
	Value  string
	Raw    float64
	HasRaw bool
	Change change
}

// change is a number's movement: "▲ 12%" and "week over week".
type change struct {
	Text  string // "▲ 12%", "▼ 3.4%", "▲ 2.0 pts", "no change", "n/a"
	Label string // "week over week", "since 9 Nov", "no earlier digest"
	Dir   int    // +1 up, -1 down, 0 flat or n/a
}

// seriesPanel is a line, bar or area panel: one sparkline per series.
type seriesPanel struct {
	Title  string
	Series []series
	Note   string
}

type series struct {
	Name   string
	Spark  string // ▁▂▃▄▅▆▇█, oldest to newest
	Last   string // the newest value
	LastAt string // the newest x ("2026-11-22")
	Low    string
	High   string
}

// tablePanel is a table's top rows, or a pie's largest slices.
type tablePanel struct {
	Title   string
	Columns []string
	Numeric []bool // right-align these columns
	Rows    [][]string
	More    string // "15 more rows and 3 more columns in the attached workbook"
}

// contentOf boils the report's panel data down. base holds the numbers of an
// earlier digest (by panel id) sent at baseAt; period is the digest's usual
// gap between sends, naming the comparison ("week over week").
func contentOf(data []*report.Data, base map[string]float64, baseAt time.Time, period time.Duration, now time.Time, loc *time.Location) content {
	var c content
	for _, d := range data {
		p := d.Panel
		if _, ok := report.Withheld(d.Err); ok {
			continue // not for this digest's audience (privacy.digests)
		}
		if d.Err != nil {
			c.Errors = append(c.Errors, d.Err.Error())
			continue
		}
		switch p.Chart {
		case report.ChartNumber:
			c.Numbers = append(c.Numbers, numberOf(d, base, baseAt, period, now, loc))
		case report.ChartLine, report.ChartBar, report.ChartArea:
			c.Series = append(c.Series, seriesOf(d))
		case report.ChartPie:
			c.Tables = append(c.Tables, pieOf(d))
		case report.ChartTable:
			c.Tables = append(c.Tables, tableOf(d))
		}
	}
	return c
}

// numberColumn is the column a number panel shows.
func numberColumn(d *report.Data) string {
	if d.Panel != nil && len(d.Panel.Y) > 0 {
		return d.Panel.Y[0]
	}
	if len(d.Columns) > 0 {
		return d.Columns[0]
	}
	return ""
}

func numberOf(d *report.Data, base map[string]float64, baseAt time.Time, period time.Duration, now time.Time, loc *time.Location) number {
	p := d.Panel
	format := p.Format[numberColumn(d)]
	v := d.Value()
	n := number{ID: p.ID, Title: p.Title, Value: report.Display(v, format)}
	if v == nil {
		n.Value = report.NoValue
	}
	n.Raw, n.HasRaw = toFloat(v)
	h := d.Headline()
	n.Period = h.Period
	if h.HasChange {
		// The panel states its own change against the previous period: the
		// email shows that, the same words as the page and the workbook.
		n.Change = change{Text: report.NoValue}
		if h.Change != nil {
			n.Change = change{Text: human.Change(*h.Change), Dir: sign(*h.Change)}
		}
		if h.Versus != "" {
			n.Change.Label = "vs " + h.Versus
		}
		return n
	}
	b, ok := base[p.ID]
	n.Change = changeOf(n.Raw, n.HasRaw, b, ok, format == report.FormatPercent)
	if ok && n.HasRaw {
		n.Change.Label = comparison(period, now.Sub(baseAt), baseAt, loc)
	}
	return n
}

// changeOf says how v moved from base: a percentage, or percentage points
// for a value that is itself a share. Without a base (or a zero one) it is
// "n/a": a change from nothing is not a number.
func changeOf(v float64, hasV bool, base float64, hasBase, share bool) change {
	switch {
	case !hasV:
		return change{} // no value, nothing to compare
	case !hasBase:
		return change{Text: "n/a", Label: "no earlier digest to compare with"}
	case v == base:
		return change{Text: "no change"}
	case share:
		pts := (v - base) * 100
		return change{Text: arrow(pts) + " " + strconv.FormatFloat(math.Abs(pts), 'f', 1, 64) + " pts", Dir: sign(pts)}
	case base == 0:
		return change{Text: "n/a", Label: "the earlier value was 0"}
	}
	pct := (v - base) / math.Abs(base) * 100
	digits := 1
	if math.Abs(pct) >= 10 {
		digits = 0
	}
	s := strconv.FormatFloat(math.Abs(pct), 'f', digits, 64)
	if s == "0" || s == "0.0" {
		return change{Text: arrow(pct) + " <0.1%", Dir: sign(pct)}
	}
	return change{Text: arrow(pct) + " " + s + "%", Dir: sign(pct)}
}

func arrow(x float64) string {
	if x > 0 {
		return "▲"
	}
	return "▼"
}

func sign(x float64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// comparison names the span between two digests: "week over week" when it
// is the digest's usual period, "since 9 Nov" when a send was missed or the
// digest ran off schedule.
func comparison(period, gap time.Duration, baseAt time.Time, loc *time.Location) string {
	if period > 0 && gap >= period/2 && gap <= period*3/2 {
		if name := periodName(period); name != "" {
			return name + " over " + name
		}
		return "since the previous digest"
	}
	return "since " + baseAt.In(loc).Format("2 Jan 15:04")
}

func periodName(p time.Duration) string {
	day := 24 * time.Hour
	near := func(want time.Duration) bool { return p >= want*9/10 && p <= want*11/10 }
	switch {
	case near(time.Hour):
		return "hour"
	case near(day):
		return "day"
	case near(7 * day):
		return "week"
	case p >= 28*day && p <= 31*day:
		return "month"
	case p >= 89*day && p <= 92*day:
		return "quarter"
	case p >= 365*day && p <= 366*day:
		return "year"
	}
	return ""
}

func seriesOf(d *report.Data) seriesPanel {
	p := d.Panel
	sp := seriesPanel{Title: p.Title}
	xi := d.Column(p.X)
	rows := d.Rows
	if len(rows) > sparkPoints {
		rows = rows[len(rows)-sparkPoints:]
	}
	if d.Truncated {
		sp.Note = "The data was cut at the row limit, so these may not be the newest points; the workbook has them all."
	}
	for _, y := range p.Y {
		yi := d.Column(y)
		if yi < 0 {
			continue
		}
		vals := make([]float64, len(rows))
		for i, r := range rows {
			f, ok := toFloat(r[yi])
			if !ok {
				f = math.NaN()
			}
			vals[i] = f
		}
		s := series{Name: p.Label(y), Spark: Sparkline(vals)}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range vals {
			if !math.IsNaN(v) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		if !math.IsInf(lo, 0) {
			s.Low, s.High = report.Display(num(lo), p.Format[y]), report.Display(num(hi), p.Format[y])
		}
		if len(rows) > 0 {
			last := rows[len(rows)-1]
			s.Last = report.Display(last[yi], p.Format[y])
			if xi >= 0 {
				s.LastAt = report.Display(last[xi], p.Format[p.X])
			}
		}
		sp.Series = append(sp.Series, s)
	}
	return sp
}

// num gives a float back as the int64 SQLite would hold when it is whole,
// so Display writes "1,234" and not "1234".
func num(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return int64(f)
	}
	return f
}

func pieOf(d *report.Data) tablePanel {
	p := d.Panel
	t := tablePanel{Title: p.Title, Columns: []string{p.Label(p.X), "", "Share"}, Numeric: []bool{false, true, true}}
	xi, yi := d.Column(p.X), -1
	if len(p.Y) > 0 {
		yi = d.Column(p.Y[0])
		t.Columns[1] = p.Label(p.Y[0])
	}
	if xi < 0 || yi < 0 {
		return t
	}
	total := 0.0
	for _, r := range d.Rows {
		if f, ok := toFloat(r[yi]); ok {
			total += f
		}
	}
	// Largest slices first, whatever order the SQL gave.
	rows := append([][]any(nil), d.Rows...)
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0; j-- {
			a, _ := toFloat(rows[j-1][yi])
			b, _ := toFloat(rows[j][yi])
			if b <= a {
				break
			}
			rows[j-1], rows[j] = rows[j], rows[j-1]
		}
	}
	for i, r := range rows {
		if i == pieSlices {
			t.More = fmt.Sprintf("%d more in the attached workbook", len(rows)-pieSlices)
			break
		}
		f, _ := toFloat(r[yi])
		share := "–"
		if total > 0 {
			share = strconv.FormatFloat(f/total*100, 'f', 1, 64) + "%"
		}
		t.Rows = append(t.Rows, []string{report.Display(r[xi], p.Format[p.X]), report.Display(r[yi], p.Format[p.Y[0]]), share})
	}
	return t
}

func tableOf(d *report.Data) tablePanel {
	p := d.Panel
	t := tablePanel{Title: p.Title}
	ncol := min(len(d.Columns), tableColumns)
	for _, c := range d.Columns[:ncol] {
		t.Columns = append(t.Columns, p.Label(c))
	}
	t.Numeric = make([]bool, ncol)
	for c := 0; c < ncol; c++ {
		t.Numeric[c] = len(d.Rows) > 0
		for _, r := range d.Rows[:min(len(d.Rows), tableRows)] {
			if _, ok := toFloat(r[c]); !ok && r[c] != nil {
				t.Numeric[c] = false
			}
		}
		if f := p.Format[d.Columns[c]]; f == report.FormatText || f == report.FormatDate {
			t.Numeric[c] = false
		}
	}
	for i, r := range d.Rows {
		if i == tableRows {
			break
		}
		row := make([]string, ncol)
		for c := 0; c < ncol; c++ {
			// A long value would widen the table past a phone's screen.
			row[c] = clip(report.Display(r[c], p.Format[d.Columns[c]]), 40)
		}
		t.Rows = append(t.Rows, row)
	}
	var more []string
	if n := len(d.Rows) - tableRows; n > 0 || d.Truncated {
		if d.Truncated {
			more = append(more, "more rows")
		} else {
			more = append(more, plural(n, "more row"))
		}
	}
	if n := len(d.Columns) - ncol; n > 0 {
		more = append(more, plural(n, "more column"))
	}
	if len(more) > 0 {
		t.More = strings.Join(more, " and ") + " in the attached workbook"
	}
	if len(d.Rows) == 0 {
		t.More = "No rows."
	}
	return t
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// toFloat reads a SQLite value as a number; text and blobs are not.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, false
		}
		return x, true
	}
	return 0, false
}

// Sparkline draws values as ▁▂▃▄▅▆▇█ from their minimum to their maximum;
// NaN (a missing point) is a space. A flat series sits in the middle.
func Sparkline(values []float64) string {
	blocks := []rune("▁▂▃▄▅▆▇█")
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		if !math.IsNaN(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	var b strings.Builder
	for _, v := range values {
		switch {
		case math.IsNaN(v):
			b.WriteRune(' ')
		case hi == lo:
			b.WriteRune(blocks[3])
		default:
			i := int(math.Round((v - lo) / (hi - lo) * float64(len(blocks)-1)))
			b.WriteRune(blocks[i])
		}
	}
	return b.String()
}
