package server

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/attache/attache/internal/human"
	"github.com/attache/attache/internal/report"

	"github.com/labstack/echo/v4"
)

// pageNames are the templates under web/templates, each rendered inside layout.html.
func pageNames() []string {
	return []string{"overview", "report", "tenants", "tenant", "runs", "run", "digest", "query", "login", "error", "shares", "share", "share_login", "audit"}
}

// views holds one parsed template set per page.
type views struct {
	pages  map[string]*template.Template
	panel  *template.Template // one report panel, see panel.html
	static *staticFiles
	loc    *time.Location
	now    func() time.Time
}

// pageData is what every page template gets; Body is the page's own data.
type pageData struct {
	Title string
	Nav   string
	Body  any

	// Filled in by render.
	User *user
	CSRF string
	Now  time.Time
}

func loadViews(web fs.FS, loc *time.Location, now func() time.Time) (*views, error) {
	if loc == nil {
		loc = time.UTC
	}
	v := &views{pages: map[string]*template.Template{}, loc: loc, now: now}
	for _, name := range pageNames() {
		t, err := template.New(name).Funcs(v.funcs()).ParseFS(web, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("server: templates: %w", err)
		}
		v.pages[name] = t
	}
	t, err := template.New("panel").Funcs(v.funcs()).ParseFS(web, "templates/panel.html")
	if err != nil {
		return nil, fmt.Errorf("server: templates: %w", err)
	}
	v.panel = t
	return v, nil
}

func (v *views) funcs() template.FuncMap {
	return template.FuncMap{
		"static":      func(name string) string { return v.static.url(name) },
		"num":         formatNumber,
		"bytes":       formatBytes,
		"ago":         func(t time.Time) string { return formatAgo(t, v.now()) },
		"when":        func(t time.Time) string { return formatWhen(t, v.loc) },
		"iso":         func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"dur":         formatDuration,
		"took":        formatTook,
		"cell":        formatCell,
		"numeric":     isNumeric,
		"path":        url.PathEscape,
		"query":       url.QueryEscape,
		"pct":         formatShare,
		"lower":       strings.ToLower,
		"lead":        splitLead,
		"summary":     summary,
		"plural":      func(n int, noun string) string { return human.Plural(int64(n), noun) },
		"changeClass": changeClass,
		"commas":      func(s string) string { return strings.ReplaceAll(s, ",", ", ") },
	}
}

// splitLead splits a long description after its first sentence, so a page
// opens with one line and keeps the rest one click away.
func splitLead(s string) []string {
	if len(s) <= 160 {
		return []string{s}
	}
	for i := 0; i+1 < len(s); i++ {
		if strings.IndexByte(".?!", s[i]) >= 0 && s[i+1] == ' ' {
			return []string{s[:i+1], strings.TrimSpace(s[i+1:])}
		}
	}
	return []string{s}
}

// renderPanel renders one report panel to HTML for the panel cache.
func (v *views) renderPanel(p panelView) (template.HTML, error) {
	var buf bytes.Buffer
	if err := v.panel.ExecuteTemplate(&buf, "panel", p); err != nil {
		return "", fmt.Errorf("render panel %s: %w", p.ID, err)
	}
	return template.HTML(buf.String()), nil // made by html/template: escaped
}

// summary is a description's first sentence, for a report's card; a long
// one is cut at a word, never inside one.
func summary(s string) string {
	for i := 12; i+1 < len(s); i++ {
		if (s[i] == '.' || s[i] == '?' || s[i] == '!') && s[i+1] == ' ' {
			s = s[:i+1]
			break
		}
	}
	const most = 140
	if r := []rune(s); len(r) > most {
		cut := string(r[:most])
		if i := strings.LastIndexAny(cut, " ,;:"); i > most/2 {
			cut = cut[:i]
		}
		return strings.TrimRight(cut, " ,;:") + "…"
	}
	return s
}

// changeClass colours a change: up, down, or neither (none or n/a).
func changeClass(h report.Headline) string {
	switch {
	case h.Change == nil:
		return "flat"
	case human.Change(*h.Change) == "no change":
		return "flat"
	case *h.Change > 0:
		return "up"
	}
	return "down"
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 instead of half a page.
func (s *Server) render(c echo.Context, code int, name string, d pageData) error {
	t, ok := s.views.pages[name]
	if !ok {
		return fmt.Errorf("render: no page %q", name)
	}
	d.User = currentUser(c)
	if tok, ok := c.Get(csrfKey).(string); ok {
		d.CSRF = tok
	}
	d.Now = s.now()
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	return c.HTMLBlob(code, buf.Bytes())
}
