// Package digest builds and sends a report as an email: its numbers with
// the change since the last digest, a sparkline of each series, the top rows
// of its tables, how fresh and complete the data is, a link to the report
// and the report's Excel workbook attached. A digest fails closed: with no
// data, a failed panel or too little of the fleet behind the numbers, it
// sends nothing, records why and says so.
package digest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/attache/attache/internal/human"

	"github.com/wneessen/go-mail"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/export"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/schedule"
)

// DefaultSubject is the subject of a digest that sets none.
const DefaultSubject = "{{.Report}} — {{.Date}}"

// Deps are what building and sending a digest use from outside.
type Deps struct {
	// Metrics is the metrics DB the numbers, freshness and records use; required.
	Metrics *metrics.DB
	// Journal records attempts; when nil, Send opens one for its length.
	Journal *metrics.Journal
	// Panels runs the report's panels (and its workbook); required.
	Panels *report.Runner
	// Aggregate is the audience of digests whose audience is aggregate
	// (digests[].audience, privacy.digests): internal/privacy's. Such a
	// digest is refused without it, never sent with tenants in it.
	Aggregate report.Audience
	// Reports are the loaded reports; when nil they are loaded from cfg.ReportsFS.
	Reports []*report.Report
	Log     *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Attempts is how many times Send tries the mail server; 4 when 0.
	Attempts int
	// Backoff is the wait after the first failed attempt, doubling after
	// each; 30s when 0 (so 30s, 1m, 2m between four attempts).
	Backoff time.Duration
	// Timeout bounds one conversation with the mail server; 30s when 0.
	Timeout time.Duration
	// TLS overrides the TLS settings for the mail server (a private CA);
	// nil means the system's roots, checked against smtp.host.
	TLS *tls.Config
}

func (d *Deps) defaults() {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Attempts <= 0 {
		d.Attempts = 4
	}
	if d.Backoff <= 0 {
		d.Backoff = 30 * time.Second
	}
	if d.Timeout <= 0 {
		d.Timeout = 30 * time.Second
	}
}

// Message is one digest email, ready to send or write as .eml.
type Message struct {
	Digest   string
	Report   string // the report's name
	Subject  string
	From     string
	To       []string
	Date     time.Time
	HTML     string
	Text     string
	Workbook []byte // the report as .xlsx; nil from Render
	// WorkbookName is the attachment's file name, e.g. growth-2026-11-23.xlsx.
	WorkbookName string
	// RunID is the run whose data the digest carries (0 when none).
	RunID int64
	// Values are the number panels' values by panel id, kept after a send
	// so the next digest can show the change.
	Values map[string]float64
	// Held says why this digest would not be sent ("" when it would). Only
	// Render returns a held message; Build returns a *HeldError instead.
	Held string
}

// HeldError is the error of a digest held back on purpose: no data yet, a
// panel failing, or too little of the fleet behind the numbers.
type HeldError struct {
	Digest string
	Reason string // "coverage 72% below 90% (run 12: ...)"
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("digest %s held, nothing was sent: %s", e.Digest, e.Reason)
}

// Held returns the reason; the scheduler records it.
func (e *HeldError) Held() string { return e.Reason }

// Find returns the configured digest called name, or an error listing the
// configured ones.
func Find(cfg *config.Config, name string) (config.Digest, error) {
	var names []string
	for _, d := range cfg.Digests {
		if d.Name == name {
			return d, nil
		}
		names = append(names, d.Name)
	}
	have := "none are configured; add one under digests: in the config"
	if len(names) > 0 {
		have = "configured: " + strings.Join(names, ", ")
	}
	return config.Digest{}, fmt.Errorf("no digest %q (%s)", name, have)
}

// Check validates what the config cannot: each digest's report exists and
// its subject template works. For `attache check` and start-up.
func Check(cfg *config.Config, reps []*report.Report) error {
	var errs []error
	for i, d := range cfg.Digests {
		if report.Find(reps, d.Report) == nil {
			errs = append(errs, fmt.Errorf("digests[%d].report: digest %s: no report %q (reports: %s)", i, d.Name, d.Report, strings.Join(report.Names(reps), ", ")))
		}
		if _, err := subject(d, "Report", time.Now(), time.UTC); err != nil {
			errs = append(errs, fmt.Errorf("digests[%d].subject: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// subjectData is what a subject template may use: {{.Date}}, {{.Report}}, ...
type subjectData struct {
	Date    string // "23 Nov 2026", in the config's timezone
	Time    string // "08:00"
	Weekday string // "Monday"
	Report  string // the report's title
	Digest  string // the digest's name
}

func subject(d config.Digest, reportTitle string, now time.Time, loc *time.Location) (string, error) {
	src := d.Subject
	if strings.TrimSpace(src) == "" {
		src = DefaultSubject
	}
	t, err := template.New("subject").Option("missingkey=error").Parse(src)
	if err != nil {
		return "", fmt.Errorf("digest %s: subject %q: %v; it may use {{.Date}}, {{.Time}}, {{.Weekday}}, {{.Report}}, {{.Digest}}", d.Name, src, err)
	}
	local := now.In(loc)
	var b strings.Builder
	err = t.Execute(&b, subjectData{Date: local.Format("2 Jan 2006"), Time: local.Format("15:04"), Weekday: local.Format("Monday"), Report: reportTitle, Digest: d.Name})
	if err != nil {
		return "", fmt.Errorf("digest %s: subject %q: %v; it may use {{.Date}}, {{.Time}}, {{.Weekday}}, {{.Report}}, {{.Digest}}", d.Name, src, err)
	}
	// A subject is one line: a newline in it would start a new header.
	return strings.Join(strings.Fields(b.String()), " "), nil
}

// Build makes the digest email, workbook attached. A digest that must not
// go out returns a *HeldError saying why (and no message).
func Build(ctx context.Context, cfg *config.Config, d config.Digest, deps Deps) (*Message, error) {
	deps.defaults()
	m, err := build(ctx, cfg, d, deps, true)
	if err != nil {
		return nil, err
	}
	if m.Held != "" {
		return nil, &HeldError{Digest: d.Name, Reason: m.Held}
	}
	return m, nil
}

// Render makes the digest as it would go out now, without the workbook,
// for the dashboard's preview: HTML, Text and Subject are set, and Held
// says why it would be held back ("" when it would be sent). A panel that
// fails shows its error in place.
func Render(ctx context.Context, cfg *config.Config, d config.Digest, deps Deps) (*Message, error) {
	deps.defaults()
	return build(ctx, cfg, d, deps, false)
}

func build(ctx context.Context, cfg *config.Config, d config.Digest, deps Deps, workbook bool) (*Message, error) {
	if deps.Metrics == nil || deps.Panels == nil {
		return nil, fmt.Errorf("digest %s: Metrics and Panels are required", d.Name)
	}
	loc := cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	now := deps.Now()
	reps := deps.Reports
	if reps == nil {
		var err error
		if reps, err = report.Load(cfg.ReportsFS, cfg.Currency); err != nil && report.Find(reps, d.Report) == nil {
			return nil, fmt.Errorf("digest %s: %w", d.Name, err)
		}
	}
	rep := report.Find(reps, d.Report)
	if rep == nil {
		return nil, fmt.Errorf("digest %s: no report %q (reports: %s); fix digests[].report", d.Name, d.Report, strings.Join(report.Names(reps), ", "))
	}
	subj, err := subject(d, rep.Title, now, loc)
	if err != nil {
		return nil, err
	}
	fresh, err := report.LoadReportFreshness(ctx, deps.Metrics, now, rep)
	if err != nil {
		return nil, fmt.Errorf("digest %s: %w", d.Name, err)
	}
	m := &Message{Digest: d.Name, Report: rep.Name, Subject: subj, From: cfg.SMTP.From, To: d.To, Date: now.In(loc)}
	if fresh.Run != nil {
		m.RunID = fresh.Run.ID
	}
	m.Held = hold(d, fresh)

	panels := deps.Panels
	if cfg.DigestAudience(d) == config.AudienceAggregate {
		if deps.Aggregate == nil {
			return nil, fmt.Errorf("digest %s: its audience is aggregate, but no privacy rules were given to apply", d.Name)
		}
		panels = panels.For(deps.Aggregate)
	}
	data := panels.RunAll(rep)
	if m.Held == "" {
		m.Held = holdData(data)
	}

	// The numbers of an earlier digest, at least half a period old, so a
	// test send on Thursday does not become next Monday's "week over week".
	var period time.Duration
	if s, err := schedule.Parse(d.Schedule, loc); err == nil {
		period = schedule.Period(s, now)
	}
	base, baseAt, err := deps.Metrics.DigestValues(ctx, d.Name, now.Add(-period/2))
	if err != nil {
		return nil, fmt.Errorf("digest %s: %w", d.Name, err)
	}
	c := contentOf(data, base, baseAt, period, now, loc)
	m.Values = map[string]float64{}
	for _, n := range c.Numbers {
		if n.HasRaw {
			m.Values[n.ID] = n.Raw
		}
	}
	if workbook {
		m.WorkbookName = fmt.Sprintf("%s-%s.xlsx", rep.Name, now.In(loc).Format("2006-01-02"))
	}
	v := view{
		Subject: subj, Digest: d.Name, Title: rep.Title, About: summary(rep.Description),
		Date: now.In(loc).Format("Monday 2 January 2006"), Content: c,
		Freshness: fresh.Stamp(loc), Link: reportLink(cfg.BaseURL, rep.Name), Workbook: m.WorkbookName,
	}
	v.Preheader = preheader(c, fresh)
	if m.HTML, err = renderHTML(v); err != nil {
		return nil, err
	}
	m.Text = renderText(v)
	if workbook && m.Held == "" {
		var buf bytes.Buffer
		if err := export.XLSX(&buf, rep, panels, fresh, now.In(loc)); err != nil {
			return nil, fmt.Errorf("digest %s: workbook of report %s: %w", d.Name, rep.Name, err)
		}
		m.Workbook = buf.Bytes()
	}
	return m, nil
}

// hold says why the data behind the report must not go out, or "".
func hold(d config.Digest, fresh *report.Freshness) string {
	r := fresh.Run
	switch {
	case r == nil:
		return "no finished run yet, so the report has no data; wait for the first job or run `attache run`"
	case r.TenantsTotal == 0:
		return fmt.Sprintf("the last run (run %d) found no tenants; check tenants: in the config", r.ID)
	}
	cov := fresh.Coverage()
	if cov < d.Coverage() {
		// Round down, so 89.6% never reads as "90% below 90%".
		return fmt.Sprintf("coverage %s below %s (run %d read %s of %s tenants, %s failed); fix the failing tenants (see /runs/%d) or lower min_coverage",
			pct(cov, true), pct(d.Coverage(), false), r.ID,
			human.Count(int64(fresh.Read())), human.Count(int64(r.TenantsTotal)), human.Count(int64(fresh.FailedTenants())), r.ID)
	}
	return ""
}

func pct(f float64, floor bool) string {
	p := f * 100
	if floor {
		p = math.Floor(p)
	}
	return fmt.Sprintf("%g%%", math.Round(p*10)/10)
}

// holdData says why the panels' data must not go out: a panel failed (its
// numbers would be missing), or every panel is empty (no data yet).
func holdData(data []*report.Data) string {
	var failed []string
	empty := true
	for _, d := range data {
		if _, ok := report.Withheld(d.Err); ok {
			continue // left out for this audience on purpose (privacy.digests)
		}
		if d.Err != nil {
			failed = append(failed, d.Err.Error())
			continue
		}
		if len(d.Rows) > 0 {
			empty = false
		}
	}
	switch {
	case len(failed) == 1:
		return "a panel failed: " + failed[0] + "; fix the report (see `attache check`)"
	case len(failed) > 1:
		return fmt.Sprintf("%d panels failed: %s; fix the report (see `attache check`)", len(failed), strings.Join(failed, "; "))
	case empty:
		return "the report has no data yet (every panel is empty)"
	}
	return ""
}

// summary keeps a report's description short enough for an inbox: its
// first sentence or two, up to about 200 characters; the report page has it all.
func summary(desc string) string {
	desc = strings.Join(strings.Fields(desc), " ")
	const limit = 200
	if len([]rune(desc)) <= limit {
		return desc
	}
	cut := ""
	for _, sentence := range strings.SplitAfter(desc, ". ") {
		if cut != "" && len([]rune(cut+sentence)) > limit {
			break
		}
		cut += sentence
	}
	if len([]rune(cut)) > limit {
		cut = string([]rune(cut)[:limit-1]) + "…"
	}
	return strings.TrimSpace(cut)
}

func reportLink(base, name string) string {
	if base == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/reports/" + url.PathEscape(name)
}

// preheader is the summary inboxes show beside the subject.
func preheader(c content, fresh *report.Freshness) string {
	var parts []string
	for _, n := range c.Numbers {
		s := n.Title + " " + n.Value
		if n.Change.Dir != 0 {
			s += " " + n.Change.Text
		}
		parts = append(parts, s)
		if len(parts) == 3 {
			break
		}
	}
	if len(parts) == 0 {
		return "Data " + fresh.Stamp(nil)
	}
	return strings.Join(parts, " · ")
}

// mail turns m into a go-mail message: text part, HTML alternative,
// workbook attached.
func (m *Message) mail() (*mail.Msg, error) {
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("digest %s: smtp.from %q: %v", m.Digest, m.From, err)
	}
	if err := msg.To(m.To...); err != nil {
		return nil, fmt.Errorf("digest %s: recipients %s: %v; check digests[].to", m.Digest, strings.Join(m.To, ", "), err)
	}
	msg.Subject(m.Subject)
	msg.SetDateWithValue(m.Date)
	msg.SetMessageID()
	msg.SetUserAgent("attache")
	msg.SetGenHeader("X-Attache-Digest", m.Digest)
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	if m.Workbook != nil {
		err := msg.AttachReader(m.WorkbookName, bytes.NewReader(m.Workbook),
			mail.WithFileContentType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
		if err != nil {
			return nil, fmt.Errorf("digest %s: attach workbook: %w", m.Digest, err)
		}
	}
	return msg, nil
}

// EML is the complete message as RFC 5322 bytes (`attache digest --dry-run`).
func (m *Message) EML() ([]byte, error) {
	msg, err := m.mail()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := msg.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("digest %s: write message: %w", m.Digest, err)
	}
	return b.Bytes(), nil
}
