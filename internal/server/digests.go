package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/digest"
	"github.com/attache/attache/internal/metrics"
)

// problemsSince is how far back the overview looks for digests that did
// not reach their list.
const problemsSince = 7 * 24 * time.Hour

// digestProblems are the digests that failed or were held lately, newest
// first, so an email never disappears without the dashboard saying so.
func (s *Server) digestProblems(ctx context.Context) ([]metrics.DigestAttempt, error) {
	if len(s.cfg.Digests) == 0 {
		return nil, nil
	}
	return s.mdb.DigestProblems(ctx, s.now().Add(-problemsSince), 10)
}

type digestView struct {
	Digest  config.Digest
	Message *digest.Message
	// HTML is the email as a plain string: html/template escapes it into
	// the iframe's srcdoc, so nothing in it runs as part of this page.
	HTML string
}

// findDigest looks a URL's digest name up in the config.
func (s *Server) findDigest(name string) (config.Digest, error) {
	for _, d := range s.cfg.Digests {
		if d.Name == name {
			return d, nil
		}
	}
	return config.Digest{}, notFound("There is no digest %q in the config.", name)
}

// digestPreview is /digests/NAME/preview: the digest as it would go out now
// (subject, both parts, whether it would be held and why), sending nothing.
func (s *Server) digestPreview(c echo.Context) error {
	d, err := s.findDigest(c.Param("name"))
	if err != nil {
		return err
	}
	if s.preview == nil {
		return echo.NewHTTPError(http.StatusNotImplemented, "This dashboard cannot preview digests; use `attache digest "+d.Name+" --dry-run`.")
	}
	m, err := s.preview(c.Request().Context(), d.Name)
	if err != nil {
		return fmt.Errorf("digest %s preview: %w", d.Name, err)
	}
	// A srcdoc frame takes this page's policy, and an email is styled
	// inline; the frame's sandbox still keeps any script from running.
	c.Response().Header().Set(echo.HeaderContentSecurityPolicy, previewCSP)
	return s.render(c, http.StatusOK, "digest", pageData{Title: "Digest " + d.Name, Nav: "runs", Body: digestView{Digest: d, Message: m, HTML: m.HTML}})
}
