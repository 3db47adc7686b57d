package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/human"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/schedule"
)

type runsView struct {
	Runs []metrics.Run
	// Scheduled are the configured jobs and digests with their status;
	// Jobs their names for the manual run form.
	Scheduled  []schedule.JobStatus
	Jobs       []string
	CanRun     bool
	CanPreview bool
	Notice     string
	Warning    string
}

// runNotice turns the notice a redirect after starting a run carries into
// a message, and whether it is a warning.
func runNotice(key string) (msg string, warn bool) {
	switch key {
	case "started":
		return "Run started; it shows here as running until it finishes.", false
	case "sending":
		return "Digest started: it is built and sent in the background, and its outcome shows under Schedules.", false
	case "finished":
		return "Run finished.", false
	case "busy":
		return "Another run is in progress, or that job is still busy from before, so nothing new was started. Try again when it has finished.", true
	case "failed":
		return "The run could not start or failed; the details are in the server log.", true
	}
	return "", false
}

func (s *Server) runList(c echo.Context) error {
	runs, err := s.mdb.Runs(c.Request().Context(), "", 100)
	if err != nil {
		return err
	}
	v := runsView{Runs: runs, Scheduled: s.jobs(), CanRun: s.startRun != nil, CanPreview: s.preview != nil}
	if msg, warn := runNotice(c.QueryParam("notice")); warn {
		v.Warning = msg
	} else {
		v.Notice = msg
	}
	// With a scheduler, configured jobs start through it (Run now); the
	// form is left for ad-hoc runs.
	if s.sched == nil {
		for _, j := range s.cfg.Jobs {
			v.Jobs = append(v.Jobs, j.Name)
		}
	}
	return s.render(c, http.StatusOK, "runs", pageData{Title: "Runs", Nav: "runs", Body: v})
}

type runView struct {
	Run    *metrics.Run
	Errors []metrics.TenantError
	Shown  int
	// Progress says how far the run is while it runs; "" once it ended.
	Progress string
}

func (s *Server) runPage(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return notFound("There is no run %q.", c.Param("id"))
	}
	ctx := c.Request().Context()
	r, err := s.mdb.GetRun(ctx, id)
	if errors.Is(err, metrics.ErrNotFound) {
		return notFound("There is no run %d.", id)
	}
	if err != nil {
		return err
	}
	errs, err := s.mdb.RunErrors(ctx, id, 1000)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "run", pageData{Title: "Run " + strconv.FormatInt(id, 10), Nav: "runs", Body: runView{Run: r, Errors: errs, Shown: len(errs), Progress: progressText(r, s.now())}})
}

// runStart starts a run in the background and sends the admin back to
// /runs. A run that ends (or cannot start) within a moment says so at once.
func (s *Server) runStart(c echo.Context) error {
	if s.startRun == nil {
		return echo.NewHTTPError(http.StatusNotImplemented, "This dashboard cannot start runs; use `attache run`.")
	}
	opt := rollup.Options{Job: "dashboard", Full: c.FormValue("full") != "", Log: s.log.With("component", "run")}
	if name := c.FormValue("job"); name != "" && s.sched != nil {
		// A configured job keeps its overlap checks and records.
		return s.runNow(c, name)
	} else if name != "" {
		found := false
		for _, j := range s.cfg.Jobs {
			if j.Name == name {
				opt.Job, opt.Queries, found = j.Name, j.Queries, true
			}
		}
		if !found {
			return badRequest("There is no job %q in the config.", name)
		}
	}
	by := currentUser(c).Name
	log := s.log.With("job", opt.Job, "by", by)
	done := make(chan error, 1)
	s.runs.Add(1)
	go func() {
		defer s.runs.Done()
		sum, err := s.startRun(s.baseCtx, opt)
		if err != nil {
			log.Error("run from the dashboard", "err", err)
		} else {
			log.Info("run from the dashboard finished", "summary", sum.String())
		}
		done <- err
	}()
	log.Info("run started from the dashboard")
	s.record(c, audit.Entry{Action: audit.Run, Target: opt.Job, Detail: fmt.Sprintf("full=%v queries=%v", opt.Full, opt.Queries)})
	notice := "started"
	select {
	case err := <-done:
		switch {
		case errors.Is(err, metrics.ErrRunInProgress):
			notice = "busy"
		case err != nil:
			notice = "failed"
		default:
			notice = "finished"
		}
	case <-time.After(time.Second):
	}
	return c.Redirect(http.StatusSeeOther, "/runs?notice="+notice)
}

// progressText says how far a running run is, from what its coordinator
// last wrote in its runs row, and how fresh that word is.
func progressText(r *metrics.Run, now time.Time) string {
	if r == nil || r.Status != "running" {
		return ""
	}
	p := r.Progress
	var s string
	switch p.Phase {
	case "":
		return "Running since " + formatAgo(r.StartedAt, now) + "; no progress recorded yet."
	case "listing":
		s = fmt.Sprintf("Listing the fleet: %s so far", human.Plural(int64(p.Done), "tenant"))
	case "merging":
		s = fmt.Sprintf("Merging the results of %s into the metrics DB", human.Plural(int64(p.Total), "tenant"))
	default:
		s = fmt.Sprintf("Reading %s of %s tenants", human.Count(int64(p.Done)), human.Count(int64(p.Total)))
		if p.Rate > 0 {
			s += fmt.Sprintf(" · %s/s", human.Count(int64(p.Rate+0.5)))
		}
		if p.Left > 0 {
			s += " · about " + human.Duration(max(p.Left, time.Second).Round(time.Second)) + " left"
		}
	}
	s += " (as of " + formatAgo(p.At, now) + ")"
	if now.Sub(p.At) > 30*time.Second {
		s += "; no word from the run since, so its process may have stopped"
	}
	return s + "."
}
