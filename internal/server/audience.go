package server

import (
	"sync"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/human"
	"github.com/attache/attache/internal/privacy"
	"github.com/attache/attache/internal/report"
)

// newPolicy is the aggregate audience of this server: the pseudonym key
// from its own file (never the metrics DB, which panel SQL reads) and the
// fleet's tenant ids, reread when a run lands.
func (s *Server) newPolicy() (*privacy.Policy, error) {
	key, err := privacy.LoadKey(s.cfg.Privacy.KeyPath(s.cfg.Metrics))
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var version string
	var ids map[string]bool
	return privacy.New(key, s.cfg.Privacy.MinGroup, func() (map[string]bool, error) {
		ctx := s.baseCtx
		v, err := s.dataVersion(ctx)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if ids != nil && v == version {
			return ids, nil
		}
		got, err := privacy.TenantIDs(ctx, s.mdb.R)
		if err != nil {
			return nil, err
		}
		ids, version = got, v
		return ids, nil
	}), nil
}

// audience is what u may see: nil (everything) for admins, the aggregate
// audience for viewers when privacy.viewers says so, and for nobody in
// particular the strictest.
func (s *Server) audience(u *user) report.Audience {
	switch {
	case u == nil:
		return s.policy
	case u.Admin():
		return nil
	case s.cfg.Privacy.Viewers == config.AudienceAggregate:
		return s.policy
	}
	return nil
}

// audienceNote is the line a page carries when its audience sees aggregates only.
func (s *Server) audienceNote(a report.Audience) string {
	if a == nil {
		return ""
	}
	return "Aggregate view: no individual customer is shown; per-customer panels are left out or pseudonymised and rows standing for fewer than " +
		human.Count(int64(s.cfg.Privacy.MinGroup)) + " customers are suppressed."
}
