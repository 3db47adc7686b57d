package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/schedule"
)

// jobs is the status of every configured job and digest, in config order;
// nil when this process runs no scheduler.
func (s *Server) jobs() []schedule.JobStatus {
	if s.sched == nil {
		return nil
	}
	return s.sched.Jobs()
}

// stale picks the jobs and digests that stopped succeeding: the overview
// puts them at the top, because a schedule that silently stopped is the
// failure nobody notices.
func stale(jobs []schedule.JobStatus) []schedule.JobStatus {
	var out []schedule.JobStatus
	for _, j := range jobs {
		if j.Stale {
			out = append(out, j)
		}
	}
	return out
}

// jobKind is metrics.KindJob or metrics.KindDigest for a configured name,
// "" for any other: a name from a URL is only ever compared with the config.
func (s *Server) jobKind(name string) string {
	for _, j := range s.cfg.Jobs {
		if j.Name == name {
			return metrics.KindJob
		}
	}
	for _, d := range s.cfg.Digests {
		if d.Name == name {
			return metrics.KindDigest
		}
	}
	return ""
}

// jobRun is POST /jobs/NAME/run: an admin starts a configured job or digest
// now. It goes through the scheduler, so the job still never overlaps itself
// or another run, and the start is recorded like a tick.
func (s *Server) jobRun(c echo.Context) error { return s.runNow(c, c.Param("name")) }

// runNow starts the configured job or digest name through the scheduler
// and sends the admin back to /runs with a notice.
func (s *Server) runNow(c echo.Context, name string) error {
	kind := s.jobKind(name)
	if kind == "" {
		return notFound("There is no job or digest %q in the config.", name)
	}
	if s.sched == nil {
		return echo.NewHTTPError(http.StatusNotImplemented, "This dashboard runs no scheduler, so it cannot start "+name+"; use `attache run` or `attache digest`.")
	}
	log := s.log.With("kind", kind, "name", name, "by", currentUser(c).Name)
	notice := "started"
	if kind == metrics.KindDigest {
		notice = "sending"
	}
	switch err := s.sched.RunNow(name); {
	case errors.Is(err, schedule.ErrRunning), errors.Is(err, metrics.ErrRunInProgress):
		log.Info("not started from the dashboard: busy", "err", err)
		notice = "busy"
	case err != nil:
		// The scheduler stopped, or a digest has no sender: the admin can
		// act on the reason.
		return echo.NewHTTPError(http.StatusConflict, strings.TrimPrefix(err.Error(), "schedule: "))
	default:
		log.Info("started from the dashboard")
		action := audit.Run
		if kind == metrics.KindDigest {
			action = audit.DigestRequest
		}
		s.record(c, audit.Entry{Action: action, Target: name, Detail: "from the dashboard"})
	}
	return c.Redirect(http.StatusSeeOther, "/runs?notice="+notice)
}
