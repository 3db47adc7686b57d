package server

import (
	"context"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/export"
	"github.com/attache/attache/internal/metrics"
)

const auditPage = 100

type auditView struct {
	Actor, Action string
	Entries       []audit.Entry
	NextURL       string
	CSVURL        string
	Retention     time.Duration
}

// auditFilter reads ?actor=&action=&before= (an entry id, for paging).
func auditFilter(c echo.Context) audit.Filter {
	f := audit.Filter{Actor: strings.TrimSpace(c.QueryParam("actor")), Action: strings.TrimSpace(c.QueryParam("action"))}
	f.Before, _ = strconv.ParseInt(c.QueryParam("before"), 10, 64)
	return f
}

// auditList is /audit: the audit trail newest first, a page at a time.
func (s *Server) auditList(c echo.Context) error {
	f := auditFilter(c)
	f.Limit = auditPage
	entries, err := audit.List(c.Request().Context(), s.mdb.R, f)
	if err != nil {
		return err
	}
	v := auditView{Actor: f.Actor, Action: f.Action, Entries: entries, Retention: s.cfg.Audit.Retention.D()}
	q := url.Values{}
	if f.Actor != "" {
		q.Set("actor", f.Actor)
	}
	if f.Action != "" {
		q.Set("action", f.Action)
	}
	v.CSVURL = "/audit.csv"
	if len(q) > 0 {
		v.CSVURL += "?" + q.Encode()
	}
	if len(entries) == auditPage {
		q.Set("before", strconv.FormatInt(entries[len(entries)-1].ID, 10))
		v.NextURL = "/audit?" + q.Encode()
	}
	return s.render(c, http.StatusOK, "audit", pageData{Title: "Audit log", Nav: "audit", Body: v})
}

// auditCSV is /audit.csv: every entry the filter selects, for a customer's
// security review. Downloading the trail is itself audited.
func (s *Server) auditCSV(c echo.Context) error {
	f := auditFilter(c)
	s.record(c, audit.Entry{Action: audit.AuditExport, Detail: "actor=" + f.Actor + " action=" + f.Action})
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": "attache-audit-" + s.now().UTC().Format("20060102-150405") + ".csv"}))
	c.Response().WriteHeader(http.StatusOK)
	w := export.NewCSVWriter(c.Response())
	line := func(fields ...string) {
		for i, v := range fields {
			fields[i] = export.Neutralise(v)
		}
		w.Record(fields...)
	}
	line("id", "at", "actor", "action", "target", "detail", "tenants", "rows", "remote", "ok")
	f.Limit = 5000
	for {
		entries, err := audit.List(c.Request().Context(), s.mdb.R, f)
		if err != nil {
			return s.exportFailed(c, "audit csv", err)
		}
		for _, e := range entries {
			ok := "1"
			if e.Failed {
				ok = "0"
			}
			line(strconv.FormatInt(e.ID, 10), metrics.Format(e.At), e.Actor, e.Action, e.Target, e.Detail, e.Tenants, strconv.FormatInt(e.Rows, 10), e.Remote, ok)
		}
		if len(entries) < f.Limit {
			return w.Flush()
		}
		f.Before = entries[len(entries)-1].ID
	}
}

// pruneAudit applies audit.retention now and then daily, until ctx ends.
func (s *Server) pruneAudit(ctx context.Context) {
	keep := s.cfg.Audit.Retention.D()
	if keep == 0 {
		return
	}
	for {
		n, err := audit.Prune(ctx, s.audit, keep, s.now())
		if err != nil {
			s.log.Error("audit retention", "err", err)
		} else if n > 0 {
			s.log.Info("audit entries past retention deleted", "entries", n, "retention", keep)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(24 * time.Hour):
		}
	}
}
