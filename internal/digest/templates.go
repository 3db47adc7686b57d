package digest

import (
	"fmt"
	"html/template"
	"strings"
	"unicode/utf8"
)

// view is the data of both parts of the email.
type view struct {
	Subject   string
	Preheader string // the line inboxes show after the subject
	Digest    string
	Title     string
	About     string // the report's description
	Date      string // "Monday 23 November 2026"
	Content   content
	Freshness string
	Link      string // the report on base_url; "" when base_url is not set
	Workbook  string // the attachment's file name; "" in a preview without one
}

// The HTML part: tables and inline styles only, because mail clients drop
// <style> blocks and most CSS; nothing is loaded from anywhere. html/template
// escapes every value, so tenant data (a tenant called <script>) stays text.
func htmlTemplate() *template.Template {
	return template.Must(template.New("digest").Funcs(template.FuncMap{
		// Direction, not judgement: attache cannot know whether a number going
		// up is good (tenants) or bad (churn), so no green and red.
		"dirColor": func(dir int) string {
			switch dir {
			case 1:
				return "#1d4ed8"
			case -1:
				return "#c2410c"
			}
			return "#6b7280"
		},
		"align": func(numeric []bool, i int) string {
			if i < len(numeric) && numeric[i] {
				return "right"
			}
			return "left"
		},
	}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light only">
<title>{{.Subject}}</title>
</head>
<body style="margin:0;padding:0;background:#f3f4f6;-webkit-text-size-adjust:100%;">
<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;">{{.Preheader}}</div>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f4f6;">
<tr><td align="center" style="padding:16px 8px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="max-width:600px;background:#ffffff;border-radius:10px;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#111827;">
<tr><td style="padding:22px 20px 6px 20px;">
<div style="font-size:12px;letter-spacing:.06em;text-transform:uppercase;color:#6b7280;">attache · {{.Digest}}</div>
<h1 style="margin:6px 0 2px 0;font-size:24px;line-height:1.25;font-weight:700;">{{.Title}}</h1>
<div style="font-size:14px;color:#6b7280;">{{.Date}}</div>
{{- if .About}}
<p style="margin:10px 0 0 0;font-size:14px;line-height:1.45;color:#374151;">{{.About}}</p>
{{- end}}
</td></tr>
{{- with .Content.Numbers}}
<tr><td style="padding:10px 14px 4px 14px;font-size:0;">
{{- range .}}
<div style="display:inline-block;vertical-align:top;width:50%;min-width:150px;max-width:286px;box-sizing:border-box;padding:6px;font-size:14px;">
<div style="border:1px solid #e5e7eb;border-radius:8px;padding:12px 14px;">
<div style="font-size:13px;color:#6b7280;">{{.Title}}{{with .Period}} · {{.}}{{end}}</div>
<div style="font-size:28px;line-height:1.2;font-weight:700;margin-top:2px;">{{.Value}}</div>
{{- if .Change.Text}}
<div style="font-size:13px;margin-top:4px;"><span style="font-weight:600;color:{{dirColor .Change.Dir}};">{{.Change.Text}}</span>{{if .Change.Label}} <span style="color:#6b7280;">{{.Change.Label}}</span>{{end}}</div>
{{- end}}
</div>
</div>
{{- end}}
</td></tr>
{{- end}}
{{- range .Content.Series}}
<tr><td style="padding:14px 20px 2px 20px;">
<h2 style="margin:0 0 6px 0;font-size:16px;font-weight:600;">{{.Title}}</h2>
{{- $named := gt (len .Series) 1}}
{{- range .Series}}
<div style="margin:0 0 10px 0;">
{{- if $named}}
<div style="font-size:13px;color:#6b7280;">{{.Name}}</div>
{{- end}}
<div style="font-family:Menlo,Consolas,'DejaVu Sans Mono','Liberation Mono',monospace;font-size:16px;line-height:1.15;color:#2563eb;white-space:nowrap;overflow:hidden;">{{.Spark}}</div>
<div style="font-size:13px;color:#374151;">latest <b>{{.Last}}</b>{{if .LastAt}} on {{.LastAt}}{{end}}{{if .Low}} <span style="color:#6b7280;">· low {{.Low}} · high {{.High}}</span>{{end}}</div>
</div>
{{- end}}
{{- if .Note}}
<div style="font-size:12px;color:#6b7280;">{{.Note}}</div>
{{- end}}
</td></tr>
{{- end}}
{{- range .Content.Tables}}
<tr><td style="padding:14px 20px 2px 20px;">
<h2 style="margin:0 0 6px 0;font-size:16px;font-weight:600;">{{.Title}}</h2>
{{- if .Rows}}
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;font-size:13px;">
<tr>{{$n := .Numeric}}{{range $i, $c := .Columns}}<th align="{{align $n $i}}" style="padding:6px 6px;border-bottom:1px solid #e5e7eb;color:#6b7280;font-weight:600;text-align:{{align $n $i}};">{{$c}}</th>{{end}}</tr>
{{- range .Rows}}
<tr>{{range $i, $v := .}}<td align="{{align $n $i}}" style="padding:6px 6px;border-bottom:1px solid #f3f4f6;text-align:{{align $n $i}};overflow-wrap:break-word;{{if index $n $i}}white-space:nowrap;{{end}}">{{$v}}</td>{{end}}</tr>
{{- end}}
</table>
{{- end}}
{{- if .More}}
<div style="font-size:12px;color:#6b7280;margin-top:4px;">{{.More}}</div>
{{- end}}
</td></tr>
{{- end}}
{{- range .Content.Errors}}
<tr><td style="padding:10px 20px 0 20px;"><div style="font-size:13px;color:#b91c1c;border:1px solid #fecaca;background:#fef2f2;border-radius:6px;padding:8px 10px;">{{.}}</div></td></tr>
{{- end}}
<tr><td style="padding:18px 20px 22px 20px;">
{{- if .Link}}
<table role="presentation" cellpadding="0" cellspacing="0" border="0"><tr><td style="border-radius:6px;background:#2563eb;">
<a href="{{.Link}}" style="display:inline-block;padding:10px 18px;font-size:15px;font-weight:600;color:#ffffff;text-decoration:none;border-radius:6px;">Open the report</a>
</td></tr></table>
{{- end}}
<p style="margin:14px 0 0 0;font-size:12px;line-height:1.5;color:#6b7280;">Data {{.Freshness}}.{{if .Workbook}} The whole report is attached as an Excel workbook ({{.Workbook}}).{{end}}</p>
</td></tr>
</table>
<div style="font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:11px;color:#9ca3af;padding:10px;">Sent by attache, digest {{.Digest}}.</div>
</td></tr>
</table>
</body>
</html>
`))
}

// renderHTML writes the HTML part.
func renderHTML(v view) (string, error) {
	var b strings.Builder
	if err := htmlTemplate().Execute(&b, v); err != nil {
		return "", fmt.Errorf("digest %s: HTML: %w", v.Digest, err)
	}
	return b.String(), nil
}

// renderText writes the plain-text part: the same content, aligned for a
// monospace reader.
func renderText(v view) string {
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	line("%s", v.Title)
	line("%s", v.Date)
	if v.About != "" {
		line("")
		line("%s", wrap(v.About, 72))
	}
	if len(v.Content.Numbers) > 0 {
		line("")
		w := 0
		for _, n := range v.Content.Numbers {
			w = max(w, utf8.RuneCountInString(n.Title))
		}
		for _, n := range v.Content.Numbers {
			ch := n.Change.Text
			switch {
			case n.Change.Label != "" && n.Change.Dir == 0:
				ch += ", " + n.Change.Label
			case n.Change.Label != "":
				ch += " " + n.Change.Label
			}
			val := n.Value
			if n.Period != "" {
				val = n.Period + ": " + val
			}
			if ch == "" {
				line("%s  %s", pad(n.Title, w), val)
				continue
			}
			line("%s  %s  (%s)", pad(n.Title, w), val, ch)
		}
	}
	for _, s := range v.Content.Series {
		line("")
		line("%s", s.Title)
		for _, x := range s.Series {
			at := ""
			if x.LastAt != "" {
				at = " on " + x.LastAt
			}
			if len(s.Series) == 1 {
				line("  %s  latest %s%s", x.Spark, x.Last, at)
				continue
			}
			line("  %s  %s  latest %s%s", x.Name, x.Spark, x.Last, at)
		}
		if s.Note != "" {
			line("  %s", s.Note)
		}
	}
	for _, t := range v.Content.Tables {
		line("")
		line("%s", t.Title)
		widths := make([]int, len(t.Columns))
		for i, c := range t.Columns {
			widths[i] = utf8.RuneCountInString(c)
		}
		for _, r := range t.Rows {
			for i, c := range r {
				widths[i] = min(max(widths[i], utf8.RuneCountInString(c)), 32)
			}
		}
		cells := func(row []string) string {
			out := make([]string, len(row))
			for i, c := range row {
				c = clip(c, 32)
				if i < len(t.Numeric) && t.Numeric[i] {
					out[i] = strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)) + c
				} else {
					out[i] = pad(c, widths[i])
				}
			}
			return strings.TrimRight("  "+strings.Join(out, "  "), " ")
		}
		if len(t.Rows) > 0 {
			line("%s", cells(t.Columns))
		}
		for _, r := range t.Rows {
			line("%s", cells(r))
		}
		if t.More != "" {
			line("  %s", t.More)
		}
	}
	for _, e := range v.Content.Errors {
		line("")
		line("! %s", e)
	}
	line("")
	line("Data %s.", v.Freshness)
	if v.Link != "" {
		line("Open the report: %s", v.Link)
	}
	if v.Workbook != "" {
		line("The whole report is attached as an Excel workbook (%s).", v.Workbook)
	}
	line("")
	line("-- ")
	line("Sent by attache, digest %s.", v.Digest)
	return b.String()
}

func pad(s string, w int) string {
	if n := utf8.RuneCountInString(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// wrap breaks text into lines of at most width runes at spaces.
func wrap(s string, width int) string {
	var lines []string
	var cur string
	for _, w := range strings.Fields(s) {
		if cur != "" && utf8.RuneCountInString(cur)+1+utf8.RuneCountInString(w) > width {
			lines = append(lines, cur)
			cur = w
			continue
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return strings.Join(lines, "\n")
}
