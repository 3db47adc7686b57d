package server

import (
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/export"
	"github.com/attache/attache/internal/report"
)

// workbook is /reports/NAME.xlsx. The workbook is assembled before the
// first byte goes out, so a failure is still a clean error response.
func (s *Server) workbook(c echo.Context, name string) error {
	rep, err := s.findReport(name)
	if err != nil {
		return err
	}
	err = s.sendWorkbook(c, rep, s.audience(currentUser(c)))
	s.record(c, audit.Entry{Action: audit.Export, Target: rep.Name + ".xlsx", Failed: err != nil})
	return err
}

// sendWorkbook writes rep's workbook as audience a sees it.
func (s *Server) sendWorkbook(c echo.Context, rep *report.Report, a report.Audience) error {
	// Coverage counts only the tenants that failed a query this report reads.
	fresh, err := report.LoadReportFreshness(c.Request().Context(), s.mdb, s.now(), rep)
	if err != nil {
		return err
	}
	release, err := s.exportSlot(c)
	if err != nil {
		return err
	}
	defer release()
	now := s.now()
	filename := fmt.Sprintf("%s-%s.xlsx", rep.Name, now.In(s.views.loc).Format("2006-01-02"))
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	if err := export.XLSX(c.Response(), rep, s.exports.For(a), fresh, now.In(s.views.loc)); err != nil {
		return s.exportFailed(c, "xlsx", err)
	}
	return nil
}

// panelCSV is /reports/NAME/PANEL.csv, streamed from the sandbox.
func (s *Server) panelCSV(c echo.Context) error {
	rep, err := s.findReport(c.Param("name"))
	if err != nil {
		return err
	}
	id, ok := strings.CutSuffix(c.Param("panel"), ".csv")
	p := rep.Panel(id)
	if !ok || p == nil {
		return notFound("Report %q has no panel %q.", rep.Name, c.Param("panel"))
	}
	release, err := s.exportSlot(c)
	if err != nil {
		return err
	}
	defer release()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": rep.Name + "-" + p.ID + ".csv"}))
	err = export.CSV(c.Response(), s.exports.For(s.audience(currentUser(c))), p)
	s.record(c, audit.Entry{Action: audit.Export, Target: rep.Name + "/" + p.ID + ".csv", Failed: err != nil})
	if err != nil {
		if why, ok := report.Withheld(err); ok && !c.Response().Committed {
			c.Response().Header().Del(echo.HeaderContentDisposition)
			return echo.NewHTTPError(http.StatusForbidden, "This panel is not shown to you: "+why+".")
		}
		return s.exportFailed(c, "csv", err)
	}
	return nil
}

// exportSlot waits for one of the few export slots: a workbook holds a
// panel's rows while it is built, so only a couple are made at once.
func (s *Server) exportSlot(c echo.Context) (func(), error) {
	select {
	case s.making <- struct{}{}:
		return func() { <-s.making }, nil
	case <-c.Request().Context().Done():
		return nil, c.Request().Context().Err()
	}
}

// exportFailed reports an export error: as a response when nothing was
// sent yet, otherwise by cutting the connection, so a half file is never
// taken for a whole one.
func (s *Server) exportFailed(c echo.Context, kind string, err error) error {
	if !c.Response().Committed {
		c.Response().Header().Del(echo.HeaderContentDisposition)
		return fmt.Errorf("export %s: %w", kind, err)
	}
	s.reqLog(c).Error("export failed after its first bytes; connection cut", "kind", kind, "err", err)
	panic(http.ErrAbortHandler)
}
