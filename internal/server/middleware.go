package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// csp allows nothing from another host and no inline script: chart options
// travel as JSON data blocks read by /static/charts.js.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// previewCSP is csp for the digest preview, whose email in a sandboxed
// srcdoc frame inherits the page's policy and is styled inline, as mail
// clients require. Scripts stay as strict as everywhere.
const previewCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// newEcho wires the middleware and the route table.
func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(discard{})
	// The client is the peer address: a spoofed X-Forwarded-For must not
	// give a client a fresh sign-in allowance. Only a peer in
	// trusted_proxies is believed about who it forwards for.
	e.IPExtractor = echo.ExtractIPDirect()
	if nets := s.cfg.TrustedNets(); len(nets) > 0 {
		opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range nets {
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	}
	e.HTTPErrorHandler = s.handleError
	// Before anything reads a body: refuse multipart, cap the rest.
	e.Pre(s.limitBody)

	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURI: true, LogMethod: true, LogLatency: true, LogRoutePath: true,
		LogRemoteIP: true, LogError: true, HandleError: true,
		LogValuesFunc: s.logRequest,
	}))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err, "stack", string(stack))
			return err
		},
	}))
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		ContentSecurityPolicy: csp,
		ReferrerPolicy:        "same-origin",
		HSTSMaxAge:            hstsAge(s.cfg.BaseURL),
	}))
	if s.open {
		e.Use(s.loopbackHost)
	}
	e.Use(middleware.GzipWithConfig(middleware.GzipConfig{
		Level:     5,
		MinLength: 1400,
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return strings.HasPrefix(p, "/static/") || strings.HasSuffix(p, ".xlsx")
		},
	}))
	e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{
		// Exports stream for as long as their query_timeout allows.
		Skipper: func(c echo.Context) bool { return isExport(c.Request().URL.Path) },
		Timeout: s.cfg.QueryTimeout.D() + 5*time.Second,
	}))
	e.Use(middleware.CSRFWithConfig(middleware.CSRFConfig{
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return strings.HasPrefix(p, "/static/") || p == "/healthz" || p == "/metrics"
		},
		TokenLookup:    "form:" + csrfField + ",header:X-CSRF-Token",
		ContextKey:     csrfKey,
		CookieName:     "attache_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteLaxMode,
		CookieSecure:   s.sessions.secure,
		ErrorHandler: func(err error, c echo.Context) error {
			return echo.NewHTTPError(http.StatusForbidden, "This form has expired or did not come from this dashboard. Reload the page and try again.")
		},
	}))

	for _, r := range s.routes() {
		e.Add(r.method, r.path, r.handle, s.require(r.perm))
	}
	return e
}

const (
	csrfField = "_csrf"
	csrfKey   = "csrf"
)

func hstsAge(baseURL string) int {
	if strings.HasPrefix(baseURL, "https://") {
		return 180 * 24 * 3600
	}
	return 0
}

func isExport(path string) bool {
	return strings.HasSuffix(path, ".xlsx") || strings.HasSuffix(path, ".csv")
}

// logRequest logs each request and counts it for /metrics.
func (s *Server) logRequest(c echo.Context, v middleware.RequestLoggerValues) error {
	route := v.RoutePath
	if v.Status == http.StatusNotFound || route == "" {
		route = "unmatched" // keeps label values bounded whatever URLs arrive
	}
	s.prom.observe(v.Method, route, v.Status, v.Latency)
	attrs := []any{"method", v.Method, "uri", v.URI, "status", v.Status, "ms", v.Latency.Milliseconds(), "ip", v.RemoteIP}
	if u := currentUser(c); u != nil {
		attrs = append(attrs, "user", u.Name)
	}
	switch {
	case v.Status >= 500:
		s.log.Error("request", append(attrs, "err", v.Error)...)
	case strings.HasPrefix(v.URI, "/static/") || v.URI == "/healthz" || v.URI == "/metrics":
		s.log.Debug("request", attrs...)
	default:
		s.log.Info("request", attrs...)
	}
	return nil
}

// loopbackHost guards the sign-in-free mode against DNS rebinding: a web
// page elsewhere that points its own host name at 127.0.0.1 must not be
// able to read the dashboard, so only loopback Host headers are served.
func (s *Server) loopbackHost(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		host := c.Request().Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("Without auth.users attache answers only to localhost, not %q.", c.Request().Host))
		}
		return next(c)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// reqLog is a child logger for one request's handler.
func (s *Server) reqLog(c echo.Context) *slog.Logger {
	return s.log.With("method", c.Request().Method, "path", c.Request().URL.Path)
}

// maxBody is the largest request body attache reads: a sign-in or a query
// form is a few kilobytes.
const maxBody = 1 << 20

// limitBody refuses multipart bodies, which nothing in attache accepts, and
// caps every other body before any middleware parses it. Go keeps a
// multipart upload over 32 MB in temp files and removes only those of the
// request the server made; a middleware that parsed a copy of the request
// (a context timeout does) left them on disk, even for a refused POST.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Body == nil || r.Body == http.NoBody {
			return next(c)
		}
		// By substring: a malformed header must not slip past as "not multipart".
		if strings.Contains(strings.ToLower(r.Header.Get(echo.HeaderContentType)), "multipart") {
			r.Close = true // do not read the rest of the upload
			return echo.NewHTTPError(http.StatusUnsupportedMediaType, "attache takes no file uploads; send forms as application/x-www-form-urlencoded.")
		}
		if r.ContentLength > maxBody {
			r.Close = true
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("The request is larger than %d KB; attache's forms are far smaller.", maxBody>>10))
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, maxBody)
		return next(c)
	}
}
