package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/sandbox"
)

// errSignIn means the route needs a signed-in user and there is none.
func errSignIn() error {
	return echo.NewHTTPError(http.StatusUnauthorized, "Sign in to see this page.")
}

// notFound is a 404 with a message for people.
func notFound(format string, a ...any) error {
	return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf(format, a...))
}

// badRequest is a 400 with a message for people.
func badRequest(format string, a ...any) error {
	return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf(format, a...))
}

// status maps an error to its HTTP status and the message a user may see.
// Anything unexpected is a 500 whose details stay in the log.
func status(err error) (int, string) {
	var he *echo.HTTPError
	var timeout *sandbox.TimeoutError
	switch {
	case errors.As(err, &he):
		msg := fmt.Sprint(he.Message)
		if he.Code == http.StatusNotFound && he.Message == echo.ErrNotFound.Message {
			msg = "There is no such page."
		}
		if he.Code == http.StatusMethodNotAllowed {
			msg = "This page does not take that kind of request."
		}
		return he.Code, msg
	case errors.As(err, &timeout):
		// The sandbox says which limit stopped the query and what to do.
		return http.StatusServiceUnavailable, timeout.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "This took too long and was stopped. Try again, or narrow the query down."
	case errors.Is(err, metrics.ErrNotFound):
		return http.StatusNotFound, "There is no such page."
	case errors.Is(err, metrics.ErrRunInProgress):
		return http.StatusConflict, "Another run is in progress; try again when it has finished."
	}
	return http.StatusInternalServerError, "Something went wrong on our side; the details are in the server log."
}

// errText is an error as a log or audit line: an HTTP error's message
// without echo's "code=400, message=" wrapping.
func errText(err error) string {
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Internal == nil {
		return fmt.Sprint(he.Message)
	}
	return err.Error()
}

// handleError is the one place errors become responses.
func (s *Server) handleError(err error, c echo.Context) {
	code, msg := status(err)
	req := c.Request()
	if code >= 500 {
		s.log.Error("request failed", "method", req.Method, "path", req.URL.Path, "status", code, "err", err)
	}
	if c.Response().Committed {
		return
	}
	if code == http.StatusUnauthorized {
		if wantsHTML(req) && req.Header.Get(echo.HeaderAuthorization) == "" {
			next := req.URL.RequestURI()
			if err := c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next)); err != nil {
				s.log.Warn("redirect to sign-in", "err", err)
			}
			return
		}
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="attache", charset="UTF-8"`)
	}
	if code == http.StatusTooManyRequests {
		c.Response().Header().Set("Retry-After", "60")
	}
	var werr error
	switch {
	case req.Method == http.MethodHead:
		werr = c.NoContent(code)
	case strings.HasPrefix(req.URL.Path, "/api/") || strings.Contains(req.Header.Get(echo.HeaderAccept), "application/json"):
		werr = c.JSON(code, map[string]string{"error": msg})
	case wantsHTML(req):
		werr = s.render(c, code, "error", pageData{Title: http.StatusText(code), Body: errorPage{Code: code, Message: msg}})
	default:
		werr = c.String(code, msg+"\n")
	}
	if werr != nil {
		s.log.Warn("writing error response", "err", werr)
	}
}

type errorPage struct {
	Code    int
	Message string
}

// wantsHTML reports whether the client is a browser asking for a page.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get(echo.HeaderAccept), "text/html")
}
