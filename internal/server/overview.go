package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/schedule"
	"github.com/attache/attache/internal/sqlite"
)

type overviewView struct {
	Reports   []*report.Report
	Freshness *report.Freshness
	Fresh     string
	Fleet     fleetHealth
	Recent    []metrics.Run
	// Jobs are the scheduled jobs and digests; Stale those that stopped
	// succeeding (the dead-man's switch), flagged at the top.
	Jobs  []schedule.JobStatus
	Stale []schedule.JobStatus
	// Problems are digests that failed or were held in the last week.
	Problems []metrics.DigestAttempt
}

// fleetHealth is the fleet at a glance, from the tenants table.
type fleetHealth struct {
	Tenants int
	Bytes   int64
	Failing int // tenants whose last read failed
}

func (s *Server) overview(c echo.Context) error {
	ctx := c.Request().Context()
	fresh, err := report.LoadFreshness(ctx, s.mdb, s.now())
	if err != nil {
		return err
	}
	fleet, err := s.fleetHealth(ctx)
	if err != nil {
		return err
	}
	v := overviewView{Reports: s.reports, Freshness: fresh, Fresh: fresh.String(), Fleet: fleet, Jobs: s.jobs()}
	v.Stale = stale(v.Jobs)
	if v.Problems, err = s.digestProblems(ctx); err != nil {
		return err
	}
	if u := currentUser(c); u.Admin() {
		if v.Recent, err = s.mdb.Runs(ctx, "", 5); err != nil {
			return err
		}
	}
	return s.render(c, http.StatusOK, "overview", pageData{Title: "Overview", Nav: "overview", Body: v})
}

func (s *Server) fleetHealth(ctx context.Context) (fleetHealth, error) {
	var f fleetHealth
	err := s.mdb.R.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(size_bytes), 0), coalesce(sum(last_error != ''), 0) FROM tenants").Scan(&f.Tenants, &f.Bytes, &f.Failing)
	if err != nil {
		return f, fmt.Errorf("fleet health: %s", sqlite.Message(err))
	}
	return f, nil
}
