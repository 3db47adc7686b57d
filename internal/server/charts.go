package server

import (
	"fmt"
	"math"
	"sort"

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
		pie.AddSeries(p.Y[0], pieData(d, xi, ys[0]),
			charts.WithPieChartOpts(opts.PieChart{Radius: []string{"42%", "72%"}, Center: []string{"38%", "50%"}}),
			charts.WithLabelOpts(opts.Label{Show: opts.Bool(false)}),
			charts.WithItemStyleOpts(opts.ItemStyle{BorderColor: "#fff", BorderWidth: 2}))
		obj = pie.JSON()
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
			bar.AddSeries(p.Y[i], barData(d, yi), so...)
		}
		bar.Validate()
		obj = bar.JSON()
	default: // line, area
		line := charts.NewLine()
		line.SetGlobalOptions(init, charts.WithTooltipOpts(tooltip), charts.WithLegendOpts(legend), charts.WithGridOpts(grid),
			charts.WithXAxisOpts(opts.XAxis{Type: "category", AxisLabel: xLabels()}),
			charts.WithYAxisOpts(yAxis(p)))
		line.SetXAxis(labels(d, xi))
		for i, yi := range ys {
			so := []charts.SeriesOpts{
				charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(len(d.Rows) <= 31)}),
				charts.WithLineStyleOpts(opts.LineStyle{Width: 2}),
			}
			if p.Chart == report.ChartArea {
				so = append(so, charts.WithAreaStyleOpts(opts.AreaStyle{Opacity: opts.Float(0.18)}))
				if p.Stacked {
					so = append(so, charts.WithLineChartOpts(opts.LineChart{Stack: "total"}))
				}
			}
			line.AddSeries(p.Y[i], lineData(d, yi), so...)
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

func labels(d *report.Data, xi int) []string {
	out := make([]string, len(d.Rows))
	for i, r := range d.Rows {
		out[i] = report.Text(r[xi])
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
		all = append(all, slice{report.Text(r[xi]), f})
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
