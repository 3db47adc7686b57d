// Package report loads reports/NAME.yaml (a title and panels of SQL over the
// metrics DB) and runs their panels through the query sandbox, so the
// dashboard, exports and digests all read the same definitions the same way.
package report

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"sort"
	"strings"

	"github.com/attache/attache/internal/yamlfile"

	"github.com/attache/attache/internal/names"

	"gopkg.in/yaml.v3"
)

// Chart types a panel can have.
const (
	ChartLine   = "line"
	ChartBar    = "bar"
	ChartArea   = "area"
	ChartPie    = "pie"
	ChartNumber = "number"
	ChartTable  = "table"
)

// Column formats a panel can give its columns, so a share stays a percentage
// and a day stays a date wherever the data goes (Excel above all).
const (
	FormatPercent = "percent" // a fraction: 0.25 shows as 25.0%
	FormatDate    = "date"    // YYYY-MM-DD, YYYY-MM-DD HH:MM:SS, ISO 8601 with Z, YYYY-MM, YYYY-MM-DDTHH
	FormatInteger = "integer"
	FormatNumber  = "number"
	FormatText    = "text" // never converted: an id that looks like a date stays text
	FormatBytes   = "bytes"
	FormatMoney   = "money" // integer minor units (cents): 123456 shows as $1,234.56 in the configured currency
)

const (
	chartList  = "line, bar, area, pie, number, table"
	formatList = "percent, date, integer, number, text, bytes, money"
)

// Report is one reports/NAME.yaml.
type Report struct {
	Name        string // the file name without .yaml; the only way a URL names it
	Title       string
	Description string
	File        string // the file's path inside the folder LoadDir read
	// Order places the report in lists (the overview, the digest's
	// choices): lower first, then by name. 100 when not set.
	Order int
	// DataEnds is SQL answering the data's newest day; when that is more
	// than StaleDataDays before the last run, the freshness line says
	// "data ends DAY" (see Freshness.DataStale).
	DataEnds string
	Panels   []*Panel
}

// Panel is one chart, number or table of a report.
type Panel struct {
	ID          string
	Title       string
	Description string
	Chart       string
	SQL         string
	X           string
	Y           []string
	Format      map[string]string
	// Labels names columns for people (pages, legends, Excel headers, email);
	// CSV and JSON keep the raw column names for machines. See Label.
	Labels map[string]string
	// Period, Change and Versus name columns of a number panel's first row:
	// the period the value is for ("November 2026", or 2026-11), the change
	// against the previous period as a ratio (0.066), and that previous
	// period ("October"). See Data.Headline.
	Period string
	Change string
	Versus string
	// Privacy says whether the panel shows individual tenants; nil when the
	// report does not say (see internal/privacy and `attache check`).
	Privacy *Privacy
	// Stacked: bar and area charts stack their series (an MRR bridge).
	Stacked bool

	file string // for messages; "" when built in code
}

// Label is how people read column col: the panel's label for it, or else the
// name with its underscores as spaces and a capital first letter
// (todos_created: "Todos created").
func (p *Panel) Label(col string) string {
	if p != nil {
		if l := p.Labels[col]; l != "" {
			return l
		}
	}
	return Humanize(col)
}

// Humanize turns a column name into words: active_tenants → "Active tenants".
func Humanize(col string) string {
	s := strings.TrimSpace(strings.ReplaceAll(col, "_", " "))
	if s == "" {
		return col
	}
	r := []rune(s)
	return strings.ToUpper(string(r[0])) + string(r[1:])
}

// Panel returns the panel with that id, or nil.
func (r *Report) Panel(id string) *Panel {
	for _, p := range r.Panels {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// PanelIDs lists the report's panel ids in order, for "did you mean" messages.
func (r *Report) PanelIDs() []string {
	ids := make([]string, len(r.Panels))
	for i, p := range r.Panels {
		ids[i] = p.ID
	}
	return ids
}

// Find returns the loaded report called name, or nil. Names from URLs and
// flags are only ever compared with the loaded list, never joined to a path.
func Find(reps []*Report, name string) *Report {
	for _, r := range reps {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Names lists the reports' names, for "available: ..." messages.
func Names(reps []*Report) []string {
	out := make([]string, len(reps))
	for i, r := range reps {
		out[i] = r.Name
	}
	return out
}

// Charted reports whether the chart type draws series (and so gets a native
// chart in Excel).
func Charted(chart string) bool {
	switch chart {
	case ChartLine, ChartBar, ChartArea, ChartPie:
		return true
	}
	return false
}

func knownChart(chart string) bool {
	return Charted(chart) || chart == ChartNumber || chart == ChartTable
}

func knownFormat(f string) bool {
	switch f {
	case FormatPercent, FormatDate, FormatInteger, FormatNumber, FormatText, FormatBytes, FormatMoney:
		return true
	}
	_, money := MoneyCurrency(f) // money:EUR, once UseCurrency has run
	return money
}

// where names the panel for messages: its file and id.
func (p *Panel) where() string {
	if p.file == "" {
		return fmt.Sprintf("panel %s", p.ID)
	}
	return fmt.Sprintf("%s, panel %s", p.file, p.ID)
}

// The YAML keys a report and a panel may have; anything else is a mistake
// worth stopping for (a typo like "chrat" would silently draw nothing).
func reportKeys() []string { return []string{"title", "description", "order", "data_ends", "panels"} }
func panelKeys() []string {
	return []string{"id", "title", "description", "chart", "sql", "x", "y", "format", "labels", "period", "change", "versus", "privacy", "stacked"}
}

type fileReport struct {
	Title       string      `yaml:"title"`
	Description string      `yaml:"description"`
	Order       *int        `yaml:"order"`
	DataEnds    string      `yaml:"data_ends"`
	Panels      []filePanel `yaml:"panels"`
}

type filePanel struct {
	ID          string            `yaml:"id"`
	Title       string            `yaml:"title"`
	Description string            `yaml:"description"`
	Chart       string            `yaml:"chart"`
	SQL         string            `yaml:"sql"`
	X           string            `yaml:"x"`
	Y           stringList        `yaml:"y"`
	Format      map[string]string `yaml:"format"`
	Labels      map[string]string `yaml:"labels"`
	Period      string            `yaml:"period"`
	Change      string            `yaml:"change"`
	Versus      string            `yaml:"versus"`
	Privacy     *filePrivacy      `yaml:"privacy"`
	Stacked     bool              `yaml:"stacked"`
}

// stringList accepts `y: tenants` as well as `y: [tenants, active]`.
type stringList []string

func (s *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value != "" {
			*s = []string{n.Value}
		}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

// LoadDir reads every *.yaml directly inside fsys, sorted by name. Every
// problem is reported (joined), each naming its file and panel; the reports
// that loaded cleanly are returned even then, so one broken file need not
// take the others down.
func LoadDir(fsys fs.FS) ([]*Report, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	var reps []*Report
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		if strings.HasSuffix(name, ".yml") {
			errs = append(errs, fmt.Errorf("%s: reports must end in .yaml; rename it to %s.yaml", name, strings.TrimSuffix(name, ".yml")))
			continue
		}
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		r, err := Parse(name, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		reps = append(reps, r)
	}
	sort.Slice(reps, func(i, j int) bool {
		if reps[i].Order != reps[j].Order {
			return reps[i].Order < reps[j].Order
		}
		return reps[i].Name < reps[j].Name
	})
	return reps, errors.Join(errs...)
}

// Parse reads one report file; file is its name (NAME.yaml), which gives the
// report its name.
func Parse(file string, data []byte) (*Report, error) {
	name := strings.TrimSuffix(path.Base(file), ".yaml")
	if err := names.Report(name); err != nil {
		return nil, fmt.Errorf("%s: rename the file: its name %w", file, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: the file is empty; give it a title and panels", file)
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: line %d: expected keys (title, description, panels), found a %s", file, doc.Line, kindName(doc))
	}
	var errs []error
	if pn := value(doc, "panels"); pn != nil && pn.Kind == yaml.SequenceNode {
		for _, item := range pn.Content {
			if item.Kind != yaml.MappingNode {
				errs = append(errs, fmt.Errorf("%s: line %d: each panel must be a set of keys (%s)", file, item.Line, strings.Join(panelKeys(), ", ")))
			}
		}
	}
	for _, msg := range yamlfile.UnknownKeys(doc, reflect.TypeOf(fileReport{})) {
		errs = append(errs, fmt.Errorf("%s: %s", file, msg))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var fr fileReport
	if err := doc.Decode(&fr); err != nil {
		return nil, fmt.Errorf("%s: %s", file, yamlfile.Explain(err, &root))
	}
	r := &Report{Name: name, Title: strings.TrimSpace(fr.Title), Description: strings.TrimSpace(fr.Description), File: file, Order: 100,
		DataEnds: cleanSQL(fr.DataEnds)}
	if fr.Order != nil {
		r.Order = *fr.Order
	}
	if r.Title == "" {
		r.Title = name
	}
	if len(fr.Panels) == 0 {
		errs = append(errs, fmt.Errorf("%s: no panels; add at least one under panels:", file))
	}
	seen := map[string]bool{}
	for i, fp := range fr.Panels {
		p := &Panel{
			ID: strings.TrimSpace(fp.ID), Title: strings.TrimSpace(fp.Title), Description: strings.TrimSpace(fp.Description),
			Chart: strings.TrimSpace(fp.Chart), SQL: cleanSQL(fp.SQL), X: strings.TrimSpace(fp.X), Format: fp.Format, file: file,
			Labels: fp.Labels, Period: strings.TrimSpace(fp.Period), Change: strings.TrimSpace(fp.Change), Versus: strings.TrimSpace(fp.Versus),
			Privacy: fp.Privacy.privacy(),
			Stacked: fp.Stacked,
		}
		for _, y := range fp.Y {
			p.Y = append(p.Y, strings.TrimSpace(y))
		}
		switch {
		case p.ID == "":
			errs = append(errs, fmt.Errorf("%s: panel %d has no id; give it one (letters, digits, _ and -), it names the panel in URLs and exports", file, i+1))
			continue
		case names.Report(p.ID) != nil:
			errs = append(errs, fmt.Errorf("%s, panel id %w", file, names.Report(p.ID)))
			continue
		case seen[p.ID]:
			errs = append(errs, fmt.Errorf("%s, panel %s: the id appears twice; give each panel its own", file, p.ID))
			continue
		}
		seen[p.ID] = true
		if p.Title == "" {
			p.Title = p.ID
		}
		if err := p.check(); err != nil {
			errs = append(errs, err)
			continue
		}
		r.Panels = append(r.Panels, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// check finds what can be known wrong without running the SQL.
func (p *Panel) check() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", p.where(), fmt.Sprintf(format, a...)))
	}
	switch {
	case p.Chart == "":
		bad("chart is missing; use one of %s", chartList)
	case !knownChart(p.Chart):
		bad("chart %q is not a chart type; use one of %s", p.Chart, chartList)
	}
	if p.SQL == "" {
		bad("sql is missing; give one SELECT over the metrics DB (rollup_NAME tables, runs, tenants, tenant_errors)")
	}
	if Charted(p.Chart) {
		if p.X == "" {
			bad("a %s chart needs x: the column with the categories (days, names)", p.Chart)
		}
		if len(p.Y) == 0 {
			bad("a %s chart needs y: the column(s) with the numbers, e.g. y: [tenants]", p.Chart)
		}
	}
	if p.Stacked && p.Chart != ChartBar && p.Chart != ChartArea {
		bad("stacked applies to bar and area charts, not %s; remove it or change the chart", p.Chart)
	}
	if p.Chart == ChartPie && len(p.Y) > 1 {
		bad("a pie shows one series but y lists %d columns; keep one, or use a bar chart", len(p.Y))
	}
	for _, y := range p.Y {
		if y == "" {
			bad("y holds an empty column name")
		}
	}
	for _, c := range sortedKeys(p.Format) {
		if !knownFormat(p.Format[c]) {
			bad("format of column %q is %q; use one of %s", c, p.Format[c], formatList)
		}
	}
	for _, c := range sortedKeys(p.Labels) {
		if strings.TrimSpace(p.Labels[c]) == "" {
			bad("labels gives column %q an empty label; give it words or leave it out", c)
		}
	}
	for _, k := range p.headlineKeys() {
		if k.col != "" && p.Chart != ChartNumber {
			bad("%s: applies to number panels only (this one is a %s chart); remove it", k.key, p.Chart)
		}
	}
	if p.Versus != "" && p.Change == "" {
		bad("versus: names the previous period of a change; add change: COLUMN (the ratio against it) or remove versus")
	}
	if p.Privacy != nil {
		p.Privacy.check(bad)
	}
	return errors.Join(errs...)
}

type headlineKey struct{ key, col string }

// headlineKeys lists a number panel's period, change and versus columns.
func (p *Panel) headlineKeys() []headlineKey {
	return []headlineKey{{"period", p.Period}, {"change", p.Change}, {"versus", p.Versus}}
}

// cleanSQL trims the statement and a trailing ';', which the sandbox cannot
// take (it wraps the SQL to read exact types).
func cleanSQL(s string) string {
	s = strings.TrimSpace(s)
	for strings.HasSuffix(s, ";") {
		s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	}
	return s
}

func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	}
	return "different kind of value"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
