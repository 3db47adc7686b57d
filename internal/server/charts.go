package server

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"

	"github.com/attache/attache/internal/report"
)

// palette is the dashboard's series colours, matching style.css.
func palette() []string {
	return []string{"#3b5bdb", "#0ca678", "#f59f00", "#e03131", "#7048e8", "#1098ad", "#74b816", "#d6336c"}
}

// maxSlices keeps a pie readable: the rest is summed into "Other".
const maxSlices = 10

// chartOptions builds the ECharts options of a line, bar, area or pie panel
// with go-echarts. The result goes into the page as JSON through
// html/template, never through go-echarts' own rendering, which writes
// options into a <script> unescaped (a tenant label could close it).
func chartOptions(d *report.Data) (map[string]any, error) {
	p := d.Panel
	xi := d.Column(p.X)
	if xi < 0 {
		return nil, fmt.Errorf("x column %q is not in the result (columns: %v)", p.X, d.Columns)
	}
	ys := make([]int, len(p.Y))
	for i, y := range p.Y {
		if ys[i] = d.Column(y); ys[i] < 0 {
			return nil, fmt.Errorf("y column %q is not in the result (columns: %v)", y, d.Columns)
		}
	}
	init := charts.WithInitializationOpts(opts.Initialization{AssetsHost: "/static/"})
	tooltip := opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}
	legend := opts.Legend{Show: opts.Bool(len(ys) > 1), Top: "0", Type: "scroll"}
	// The side margins leave room for half a date label at either end.
	grid := opts.Grid{Left: "28", Right: "36", Top: "16", Bottom: "4", ContainLabel: opts.Bool(true)}
	if len(ys) > 1 {
		grid.Top = "36"
	}
	var obj map[string]any
	switch p.Chart {
	case report.ChartPie:
		pie := charts.NewPie()
		pie.SetGlobalOptions(init,
			charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "item"}),
			charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Type: "scroll", Orient: "vertical", Right: "0", Top: "middle"}))
		// Each slice says its share on the chart; the legend and tooltip
		// give name, value and share.
		pie.AddSeries(p.Label(p.Y[0]), pieData(d, xi, ys[0]),
			charts.WithPieChartOpts(opts.PieChart{Radius: []string{"38%", "66%"}, Center: []string{"36%", "50%"}}),
			charts.WithLabelOpts(opts.Label{Show: opts.Bool(true), Formatter: "{d}%", Position: "inside", Color: "#fff"}),
			charts.WithItemStyleOpts(opts.ItemStyle{BorderColor: "#fff", BorderWidth: 2}))
		obj = pie.JSON()
		// Shares to one decimal, as everywhere else (ECharts gives two).
		if series, err := jsonObjects(obj["series"]); err == nil {
			for _, sr := range series {
				sr["percentPrecision"] = 1
			}
			obj["series"] = series
		}
		if tt, ok := obj["tooltip"].(opts.Tooltip); ok {
			tt.Formatter = "{b}: {c} ({d}%)"
			obj["tooltip"] = tt
		}
	case report.ChartBar:
		bar := charts.NewBar()
		bar.SetGlobalOptions(init, charts.WithTooltipOpts(tooltip), charts.WithLegendOpts(legend), charts.WithGridOpts(grid),
			charts.WithXAxisOpts(opts.XAxis{Type: "category", AxisLabel: xLabels()}),
			charts.WithYAxisOpts(yAxis(p)))
		bar.SetXAxis(labels(d, xi))
		for i, yi := range ys {
			var so []charts.SeriesOpts
			if p.Stacked {
				so = append(so, charts.WithBarChartOpts(opts.BarChart{Stack: "total"}))
			}
			bar.AddSeries(p.Label(p.Y[i]), barData(d, yi), so...)
		}
		bar.Validate()
		obj = bar.JSON()
	default: // line, area
		line := charts.NewLine()
		line.SetGlobalOptions(init, charts.WithTooltipOpts(tooltip), charts.WithLegendOpts(legend), charts.WithGridOpts(grid),
			charts.WithXAxisOpts(opts.XAxis{Type: "category", AxisLabel: xLabels()}),
			charts.WithYAxisOpts(yAxis(p)))
		line.SetXAxis(labels(d, xi))
		// A daily series swings with the week (weekdays busy, weekends
		// quiet): a 7-day average beside it shows the trend. Both are in
		// the legend, so either can be hidden.
		smooth := daily(d, xi) && len(d.Rows) >= 2*week && !p.Stacked
		for i, yi := range ys {
			so := []charts.SeriesOpts{
				charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(len(d.Rows) <= 31)}),
				charts.WithLineStyleOpts(opts.LineStyle{Width: 2}),
			}
			if smooth {
				so[1] = charts.WithLineStyleOpts(opts.LineStyle{Width: 1, Opacity: opts.Float(0.45)})
			}
			if p.Chart == report.ChartArea {
				so = append(so, charts.WithAreaStyleOpts(opts.AreaStyle{Opacity: opts.Float(0.18)}))
				if p.Stacked {
					so = append(so, charts.WithLineChartOpts(opts.LineChart{Stack: "total"}))
				}
			}
			line.AddSeries(p.Label(p.Y[i]), lineData(d, yi), so...)
			if smooth {
				line.AddSeries(p.Label(p.Y[i])+", 7-day average", averageData(d, yi),
					charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(false)}),
					charts.WithLineStyleOpts(opts.LineStyle{Width: 2.5}))
			}
		}
		if smooth {
			legend.Show = opts.Bool(true)
			grid.Top = "36"
			line.SetGlobalOptions(charts.WithLegendOpts(legend), charts.WithGridOpts(grid))
		}
		line.Validate()
		obj = line.JSON()
		// A time series starts at the axis, not half a step in: go-echarts
		// has no boundaryGap for x axes, so it is added here.
		if xs, ok := obj["xAxis"].([]opts.XAxis); ok && len(xs) == 1 {
			obj["xAxis"] = []gapAxis{{XAxis: xs[0], BoundaryGap: false}}
		}
	}
	// Tooltips are drawn on the canvas, not as HTML: ECharts' HTML tooltips
	// carry inline styles, which the CSP refuses, and text on a canvas can
	// never become markup.
	if tt, ok := obj["tooltip"].(opts.Tooltip); ok {
		obj["tooltip"] = canvasTooltip{Tooltip: tt, RenderMode: "richText"}
	}
	obj["color"] = palette()
	obj["textStyle"] = map[string]any{"fontFamily": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"}
	delete(obj, "title") // the panel's title is on the page
	delete(obj, "toolbox")
	return obj, nil
}

type canvasTooltip struct {
	opts.Tooltip
	RenderMode string `json:"renderMode"`
}

type gapAxis struct {
	opts.XAxis
	BoundaryGap bool `json:"boundaryGap"`
}

// xLabels keeps category labels from overlapping.
func xLabels() *opts.AxisLabel {
	return &opts.AxisLabel{HideOverlap: opts.Bool(true)}
}

func yAxis(p *report.Panel) opts.YAxis {
	y := opts.YAxis{Type: "value", SplitLine: &opts.SplitLine{Show: opts.Bool(true), LineStyle: &opts.LineStyle{Color: "#eef0f4"}}}
	if len(p.Y) > 0 && p.Format[p.Y[0]] == report.FormatPercent {
		y.AxisLabel = &opts.AxisLabel{Formatter: "{value}%"}
	}
	return y
}

// labels are the x axis's categories as people read them: dates without
// their seconds and zone ("2026-12-02 15:37", UTC as stored), numbers with
// separators.
func labels(d *report.Data, xi int) []string {
	out := make([]string, len(d.Rows))
	for i, r := range d.Rows {
		out[i] = category(d, r[xi])
	}
	return out
}

func category(d *report.Data, v any) string {
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
				return t.Format("2006-01-02")
			}
			return t.Format("2006-01-02 15:04")
		}
		return s
	}
	return formatCell(v, d.Panel.Format[d.Panel.X])
}

const week = 7

// daily reports whether the x column holds consecutive days (YYYY-MM-DD).
func daily(d *report.Data, xi int) bool {
	var prev time.Time
	for i, r := range d.Rows {
		s, ok := r[xi].(string)
		if !ok {
			return false
		}
		t, err := time.Parse("2006-01-02", s)
		if err != nil || (i > 0 && t.Sub(prev) != 24*time.Hour) {
			return false
		}
		prev = t
	}
	return len(d.Rows) > 0
}

// averageData is the trailing 7-day mean of column yi, from the 7th day on
// (before that there is no full week to average); a gap counts as missing,
// so a week with one makes no average.
func averageData(d *report.Data, yi int) []opts.LineData {
	out := make([]opts.LineData, len(d.Rows))
	for i := range d.Rows {
		out[i] = opts.LineData{Value: "-"}
		if i < week-1 {
			continue
		}
		sum, n := 0.0, 0
		for _, r := range d.Rows[i-week+1 : i+1] {
			if f, ok := asFloat(r[yi]); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
				sum += f
				n++
			}
		}
		if n == week {
			v := sum / week
			if d.Panel.Format[d.Columns[yi]] == report.FormatPercent {
				v *= 100
			}
			out[i] = opts.LineData{Value: math.Round(v*100) / 100}
		}
	}
	return out
}

// point is a chart value: percentages scaled to 0–100, anything not a
// number a gap ("-" to ECharts).
func point(d *report.Data, row []any, yi int) any {
	f, ok := asFloat(row[yi])
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	if d.Panel.Format[d.Columns[yi]] == report.FormatPercent {
		return math.Round(f*10000) / 100
	}
	if cur, ok := report.MoneyCurrency(d.Panel.Format[d.Columns[yi]]); ok {
		return cur.Major(f) // cents on the axis would read as dollars
	}
	return f
}

func lineData(d *report.Data, yi int) []opts.LineData {
	out := make([]opts.LineData, len(d.Rows))
	for i, r := range d.Rows {
		out[i] = opts.LineData{Value: point(d, r, yi)}
	}
	return out
}

func barData(d *report.Data, yi int) []opts.BarData {
	out := make([]opts.BarData, len(d.Rows))
	for i, r := range d.Rows {
		out[i] = opts.BarData{Value: point(d, r, yi)}
	}
	return out
}

// pieData keeps the largest slices and sums the rest into "Other".
func pieData(d *report.Data, xi, yi int) []opts.PieData {
	type slice struct {
		name string
		v    float64
	}
	var all []slice
	for _, r := range d.Rows {
		f, ok := asFloat(r[yi])
		if !ok || f <= 0 {
			continue
		}
		all = append(all, slice{sliceName(d, r[xi]), f})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].v > all[j].v })
	if len(all) > maxSlices {
		var rest float64
		for _, s := range all[maxSlices-1:] {
			rest += s.v
		}
		all = append(all[:maxSlices-1], slice{"Other", rest})
	}
	out := make([]opts.PieData, len(all))
	for i, s := range all {
		out[i] = opts.PieData{Name: s.name, Value: s.v}
	}
	return out
}

// sliceName names a pie slice: its category, or for a bare number (a schema
// version, a plan tier) the x column's label with it, "Schema version 3",
// so the legend says what the number is.
func sliceName(d *report.Data, v any) string {
	switch x := v.(type) {
	case int64, float64:
		return d.Panel.Label(d.Panel.X) + " " + formatCell(v, d.Panel.Format[d.Panel.X])
	case string:
		if _, err := strconv.ParseInt(x, 10, 64); err == nil {
			return d.Panel.Label(d.Panel.X) + " " + x
		}
	case nil:
		return "none"
	}
	return category(d, v)
}

// jsonObjects turns go-echarts' typed series into plain JSON objects, for
// options it has no field for.
func jsonObjects(v any) ([]map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	return out, json.Unmarshal(b, &out)
}
