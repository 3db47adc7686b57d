package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/schedule"
	"github.com/attache/attache/internal/sqlite"
)

type overviewView struct {
	Reports   []reportCard
	Freshness *report.Freshness
	Fresh     string
	Fleet     fleetHealth
	Recent    []metrics.Run
	// Running is the run in progress, if any, and Progress how far it is.
	Running  *metrics.Run
	Progress string
	// Jobs are the scheduled jobs and digests; Stale those that stopped
	// succeeding (the dead-man's switch), flagged at the top.
	Jobs  []schedule.JobStatus
	Stale []schedule.JobStatus
	// Problems are digests that failed or were held in the last week.
	Problems []metrics.DigestAttempt
}

// reportCard is a report on the overview: what it is about and its
// headline numbers, with their periods and changes.
type reportCard struct {
	Report  *report.Report
	Numbers []numberTile
	More    int // number panels not shown on the card
}

type numberTile struct {
	Title    string
	Headline report.Headline
	Err      bool
}

// cardNumbers is how many of a report's numbers its card shows.
const cardNumbers = 4

// reportCards runs the reports' number panels (from the panel cache, so
// the report pages reuse them) for the overview's cards.
// a is who looks (nil: everything): its tiles are shaped by the same privacy rules as its pages.
func (s *Server) reportCards(ctx context.Context, a report.Audience) ([]reportCard, error) {
	version, err := s.dataVersion(ctx)
	if err != nil {
		return nil, err
	}
	cards := make([]reportCard, len(s.reports))
	type job struct {
		tile *numberTile
		rep  *report.Report
		p    *report.Panel
	}
	var jobs []job
	for i, rep := range s.reports {
		c := &cards[i]
		c.Report = rep
		var shown []*report.Panel
		for _, p := range rep.Panels {
			switch {
			case p.Chart != report.ChartNumber:
			case len(shown) == cardNumbers:
				c.More++
			default:
				shown = append(shown, p)
			}
		}
		// The tiles are all made before any is filled in, so no append
		// moves one under a goroutine writing to it.
		c.Numbers = make([]numberTile, len(shown))
		for k, p := range shown {
			c.Numbers[k].Title = p.Title
			jobs = append(jobs, job{&c.Numbers[k], rep, p})
		}
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := report.Apply(a, s.cache.panel(j.rep, j.p, version))
			j.tile.Headline = d.Headline()
			_, withheld := report.Withheld(d.Err)
			j.tile.Err = d.Err != nil && !withheld
		}()
	}
	wg.Wait()
	return cards, nil
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
	cards, err := s.reportCards(ctx, s.audience(currentUser(c)))
	if err != nil {
		return err
	}
	v := overviewView{Reports: cards, Freshness: fresh, Fresh: fresh.String(), Fleet: fleet, Jobs: s.jobs()}
	v.Stale = stale(v.Jobs)
	if last, err := s.mdb.Runs(ctx, "", 1); err != nil {
		return err
	} else if len(last) == 1 && last[0].Status == "running" {
		v.Running, v.Progress = &last[0], progressText(&last[0], s.now())
	}
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
		return f, fmt.Errorf("fleet health: %w", sqlite.Wrap(err))
	}
	return f, nil
}
