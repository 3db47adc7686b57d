package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/sqlite"
)

// Share links give one report (its page and its workbook) to someone
// without an account, such as an investor: /s/TOKEN. The token is 192
// random bits; only its SHA-256 is stored. Every request looks the link up
// again, so an expired or revoked link is refused at once; a visitor gets
// no session, and nothing else of the dashboard.

const (
	shareTokenBytes = 24        // 192 bits
	shareGrantTTL   = time.Hour // how long an unlocked page's download link works
	shareMaxDays    = 366       // the longest a link may live
	shareMinPass    = 8         // shortest password a link may have
	shareGuesses    = 20        // failed tokens or passwords per minute per address
	sharePrefix     = "/s/"     // every share URL starts with this
	shareNoIndex    = "noindex, nofollow"
)

// shareState is the shares' own rate limit and the key signing download
// grants of password-protected links. The key is made per process: a grant
// lives an hour, and after a restart a visitor enters the password again.
type shareState struct {
	key     []byte
	limiter *limiter
}

func newShareState(now func() time.Time) (*shareState, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("server: share grant key: %w", err)
	}
	return &shareState{key: key, limiter: newLimiter(shareGuesses, time.Minute, now)}, nil
}

// share is one row of shares.
type share struct {
	ID           int64
	Report       string
	SharedWith   string
	Audience     string
	PasswordHash string
	CreatedBy    string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	RevokedAt    *time.Time
	RevokedBy    string

	Views    int64
	LastView *time.Time
	LastDay  string // the last day the link works, in the dashboard's time zone
}

func (sh *share) Protected() bool { return sh.PasswordHash != "" }

// Status is active, expired or revoked at now.
func (sh *share) Status(now time.Time) string {
	switch {
	case sh.RevokedAt != nil:
		return "revoked"
	case !now.Before(sh.ExpiresAt):
		return "expired"
	}
	return "active"
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func newToken() (string, error) {
	b := make([]byte, shareTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("share token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// validToken is the shape of a token, checked before any lookup.
func validToken(tok string) bool {
	if len(tok) != base64.RawURLEncoding.EncodedLen(shareTokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(tok)
	return err == nil
}

const shareCols = "id, report, shared_with, audience, password_hash, created_by, created_at, expires_at, revoked_at, coalesce(revoked_by, '')"

func scanShare(sc interface{ Scan(...any) error }) (*share, error) {
	var sh share
	var created, expires string
	var revoked sql.NullString
	if err := sc.Scan(&sh.ID, &sh.Report, &sh.SharedWith, &sh.Audience, &sh.PasswordHash, &sh.CreatedBy, &created, &expires, &revoked, &sh.RevokedBy); err != nil {
		return nil, err
	}
	var err error
	if sh.CreatedAt, err = time.Parse(metrics.TimeFormat, created); err != nil {
		return nil, fmt.Errorf("share %d: created_at: %w", sh.ID, err)
	}
	if sh.ExpiresAt, err = time.Parse(metrics.TimeFormat, expires); err != nil {
		return nil, fmt.Errorf("share %d: expires_at: %w", sh.ID, err)
	}
	if revoked.Valid {
		t, err := time.Parse(metrics.TimeFormat, revoked.String)
		if err != nil {
			return nil, fmt.Errorf("share %d: revoked_at: %w", sh.ID, err)
		}
		sh.RevokedAt = &t
	}
	return &sh, nil
}

// shareByToken finds the link a token opens; metrics.ErrNotFound when
// there is none.
func (s *Server) shareByToken(ctx context.Context, tok string) (*share, error) {
	// The writer connection: a link revoked a moment ago must be seen revoked.
	row := s.mdb.W.QueryRowContext(ctx, "SELECT "+shareCols+" FROM shares WHERE token_hash = ?", hashToken(tok))
	sh, err := scanShare(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("share link: %w", metrics.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("share: %w", sqlite.Wrap(err))
	}
	return sh, nil
}

// ---- admin: /shares ----

type sharesView struct {
	Shares   []*share
	Reports  []*report.Report
	Now      time.Time
	Created  string // the new link, shown once
	Form     shareForm
	Error    string
	Default  string // the audience new links get unless the admin says otherwise
	MinGroup int
}

type shareForm struct {
	Report, SharedWith, Expires, Audience string
}

func (s *Server) shareList(c echo.Context) error {
	return s.renderShares(c, http.StatusOK, sharesView{})
}

func (s *Server) renderShares(c echo.Context, code int, v sharesView) error {
	ctx := c.Request().Context()
	rows, err := s.mdb.R.QueryContext(ctx, "SELECT "+shareCols+` FROM shares ORDER BY revoked_at IS NOT NULL, expires_at <= ?, created_at DESC, id DESC`, metrics.Format(s.now()))
	if err != nil {
		return fmt.Errorf("shares: %w", sqlite.Wrap(err))
	}
	defer rows.Close()
	for rows.Next() {
		sh, err := scanShare(rows)
		if err != nil {
			return err
		}
		v.Shares = append(v.Shares, sh)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("shares: %w", sqlite.Wrap(err))
	}
	rows.Close()
	for _, sh := range v.Shares {
		sh.LastDay = s.expiry(sh)
		var last sql.NullString
		if err := s.mdb.R.QueryRowContext(ctx, "SELECT count(*), max(at) FROM audit WHERE actor = ? AND action = ? AND ok = 1",
			shareActor(sh.ID), audit.ShareUse).Scan(&sh.Views, &last); err != nil {
			return fmt.Errorf("shares: views: %w", sqlite.Wrap(err))
		}
		if t, err := time.Parse(metrics.TimeFormat, last.String); err == nil && last.Valid {
			sh.LastView = &t
		}
	}
	v.Reports, v.Now, v.Default, v.MinGroup = s.reports, s.now(), s.cfg.Privacy.Shared, s.cfg.Privacy.MinGroup
	if v.Form.Audience == "" {
		v.Form.Audience = v.Default
	}
	if v.Form.Expires == "" {
		v.Form.Expires = s.now().In(s.views.loc).AddDate(0, 0, 30).Format(time.DateOnly)
	}
	return s.render(c, code, "shares", pageData{Title: "Share links", Nav: "shares", Body: v})
}

func shareActor(id int64) string { return "share:" + strconv.FormatInt(id, 10) }

// shareCreate makes a link from the admin's form and shows it once.
func (s *Server) shareCreate(c echo.Context) error {
	f := shareForm{
		Report: c.FormValue("report"), SharedWith: strings.TrimSpace(c.FormValue("shared_with")),
		Expires: strings.TrimSpace(c.FormValue("expires")), Audience: c.FormValue("audience"),
	}
	password := c.FormValue("password")
	fail := func(msg string) error {
		return s.renderShares(c, http.StatusBadRequest, sharesView{Form: f, Error: msg})
	}
	rep := report.Find(s.reports, f.Report)
	if rep == nil {
		return fail(fmt.Sprintf("There is no report called %q; pick one from the list.", f.Report))
	}
	if f.SharedWith == "" || len(f.SharedWith) > 200 {
		return fail("Say who the link is for (up to 200 characters): it is shown on the shared page.")
	}
	now := s.now()
	day, err := time.ParseInLocation(time.DateOnly, f.Expires, s.views.loc)
	if err != nil {
		return fail(fmt.Sprintf("The expiry %q is not a date (YYYY-MM-DD).", f.Expires))
	}
	// The link works through the whole of its last day.
	expires := day.AddDate(0, 0, 1)
	if !expires.After(now) {
		return fail("The expiry is in the past; pick today or a later day.")
	}
	if expires.Sub(now) > shareMaxDays*24*time.Hour {
		return fail(fmt.Sprintf("A link may live at most %d days; pick an earlier expiry.", shareMaxDays))
	}
	if f.Audience != config.AudienceAggregate && f.Audience != config.AudienceFull {
		return fail("Choose what the link shows: aggregates only, or individual customers.")
	}
	pwHash := ""
	if password != "" {
		if len(password) < shareMinPass {
			return fail(fmt.Sprintf("A link's password needs at least %d characters (or leave it empty).", shareMinPass))
		}
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		if err != nil {
			return fail("That password cannot be used (" + err.Error() + ").")
		}
		pwHash = string(h)
	}
	tok, err := newToken()
	if err != nil {
		return err
	}
	u := currentUser(c)
	res, err := s.mdb.W.ExecContext(c.Request().Context(),
		`INSERT INTO shares (token_hash, report, shared_with, audience, password_hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		hashToken(tok), rep.Name, f.SharedWith, f.Audience, pwHash, u.Name, metrics.Format(now), metrics.Format(expires))
	if err != nil {
		return fmt.Errorf("share: %w", sqlite.Wrap(err))
	}
	id, _ := res.LastInsertId()
	s.record(c, audit.Entry{Actor: u.Name, Action: audit.ShareCreate, Target: rep.Name,
		Detail: fmt.Sprintf("link %d for %s, %s view, expires %s, password %v", id, f.SharedWith, f.Audience, metrics.Format(expires), pwHash != "")})
	s.reqLog(c).Info("share link created", "id", id, "report", rep.Name, "audience", f.Audience)
	link := strings.TrimSuffix(s.cfg.BaseURL, "/") + sharePrefix + tok
	return s.renderShares(c, http.StatusOK, sharesView{Created: link})
}

func (s *Server) shareRevoke(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return notFound("There is no share link %q.", c.Param("id"))
	}
	u := currentUser(c)
	res, err := s.mdb.W.ExecContext(c.Request().Context(), "UPDATE shares SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
		metrics.Format(s.now()), u.Name, id)
	if err != nil {
		return fmt.Errorf("share: %w", sqlite.Wrap(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("There is no active share link %d.", id)
	}
	s.record(c, audit.Entry{Actor: u.Name, Action: audit.ShareRevoke, Target: strconv.FormatInt(id, 10)})
	return c.Redirect(http.StatusSeeOther, "/shares")
}

// ---- visitors: /s/TOKEN ----

type shareView struct {
	Share    *share
	Token    string
	Expires  string
	Report   reportView
	Workbook string // the download link
	Full     bool
	Error    string
}

// shareOpen finds the link of the request and refuses it if it is unknown,
// expired or revoked. Unknown tokens spend the address's guesses.
func (s *Server) shareOpen(c echo.Context, tok string) (*share, error) {
	h := c.Response().Header()
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Robots-Tag", shareNoIndex)
	// Whoever else is signed in in this browser, the link shows only what
	// the link allows, and no dashboard navigation.
	c.Set(userKey, (*user)(nil))
	// Every lookup takes one of the address's tries; only a real link
	// gives it back, so guessing tokens soon stops.
	ip := c.RealIP()
	if !s.shares.limiter.take(ip) {
		return nil, tooManyShareTries(c)
	}
	var sh *share
	var err error
	if validToken(tok) {
		// An unknown token keeps its try taken; only a failure of ours
		// gives it back.
		if sh, err = s.shareByToken(c.Request().Context(), tok); err != nil && !errors.Is(err, metrics.ErrNotFound) {
			s.shares.limiter.refund(ip)
			return nil, err
		}
	}
	if sh == nil {
		return nil, notFound("This link does not exist. Check it was copied whole, or ask whoever sent it for a new one.")
	}
	s.shares.limiter.refund(ip)
	switch sh.Status(s.now()) {
	case "revoked":
		s.record(c, audit.Entry{Actor: shareActor(sh.ID), Action: audit.ShareUse, Target: sh.Report, Detail: "refused: revoked", Failed: true})
		return nil, echo.NewHTTPError(http.StatusGone, "This link has been revoked. Ask whoever sent it for a new one.")
	case "expired":
		s.record(c, audit.Entry{Actor: shareActor(sh.ID), Action: audit.ShareUse, Target: sh.Report, Detail: "refused: expired", Failed: true})
		return nil, echo.NewHTTPError(http.StatusGone, "This link expired on "+sh.ExpiresAt.In(s.views.loc).Format("2 January 2006 15:04 MST")+". Ask whoever sent it for a new one.")
	}
	return sh, nil
}

// shareAudience is who the link's visitors are: aggregate unless the admin
// chose otherwise when making it.
func (s *Server) shareAudience(sh *share) report.Audience {
	if sh.Audience == config.AudienceFull {
		return nil
	}
	return s.policy
}

// shareGet is GET /s/TOKEN (the page, or its password form) and
// GET /s/TOKEN.xlsx (the workbook), which echo routes alike.
func (s *Server) shareGet(c echo.Context) error {
	tok := c.Param("token")
	if base, ok := strings.CutSuffix(tok, ".xlsx"); ok {
		return s.shareWorkbook(c, base)
	}
	sh, err := s.shareOpen(c, tok)
	if err != nil {
		return err
	}
	if sh.Protected() {
		return s.render(c, http.StatusOK, "share_login", pageData{Title: "Shared report", Body: shareView{Share: sh, Token: tok, Expires: s.expiry(sh)}})
	}
	return s.sharePage(c, sh, tok, "")
}

// shareUnlock is POST /s/TOKEN: the password of a protected link.
func (s *Server) shareUnlock(c echo.Context) error {
	tok := c.Param("token")
	sh, err := s.shareOpen(c, tok)
	if err != nil {
		return err
	}
	if !sh.Protected() {
		return c.Redirect(http.StatusSeeOther, sharePrefix+tok)
	}
	// A try is taken before bcrypt runs, so parallel guesses cannot all pass.
	ip := c.RealIP()
	if !s.shares.limiter.take(ip) {
		return tooManyShareTries(c)
	}
	if bcrypt.CompareHashAndPassword([]byte(sh.PasswordHash), []byte(c.FormValue("password"))) != nil {
		s.record(c, audit.Entry{Actor: shareActor(sh.ID), Action: audit.ShareUse, Target: sh.Report, Detail: "refused: wrong password", Failed: true})
		return s.render(c, http.StatusUnauthorized, "share_login", pageData{Title: "Shared report",
			Body: shareView{Share: sh, Token: tok, Expires: s.expiry(sh), Error: "Wrong password."}})
	}
	s.shares.limiter.refund(ip)
	return s.sharePage(c, sh, tok, s.grant(sh, s.now().Add(shareGrantTTL)))
}

func tooManyShareTries(c echo.Context) error {
	c.Response().Header().Set("Retry-After", "60")
	return echo.NewHTTPError(http.StatusTooManyRequests, "Too many wrong links or passwords from your address; wait a minute and try again.")
}

func (s *Server) expiry(sh *share) string {
	// The last day the link works, as the admin chose it.
	return sh.ExpiresAt.Add(-time.Second).In(s.views.loc).Format("2 January 2006")
}

func (s *Server) sharePage(c echo.Context, sh *share, tok, grant string) error {
	rep := report.Find(s.reports, sh.Report)
	if rep == nil {
		return notFound("The report this link shares is no longer on this dashboard.")
	}
	ctx := c.Request().Context()
	version, err := s.dataVersion(ctx)
	if err != nil {
		return err
	}
	fresh, err := report.LoadReportFreshness(ctx, s.mdb, s.now(), rep)
	if err != nil {
		return err
	}
	a := s.shareAudience(sh)
	rv, err := s.reportView(rep, version, fresh, a, false)
	if err != nil {
		return err
	}
	wb := sharePrefix + tok + ".xlsx"
	if grant != "" {
		wb += "?grant=" + grant
	}
	s.record(c, audit.Entry{Actor: shareActor(sh.ID), Action: audit.ShareUse, Target: rep.Name, Detail: "page", Tenants: shareTenants(a)})
	return s.render(c, http.StatusOK, "share", pageData{Title: rep.Title, Body: shareView{
		Share: sh, Token: tok, Expires: s.expiry(sh), Report: rv, Workbook: wb, Full: a == nil}})
}

func shareTenants(a report.Audience) string {
	if a == nil {
		return "all"
	}
	return "aggregate"
}

func (s *Server) shareWorkbook(c echo.Context, tok string) error {
	sh, err := s.shareOpen(c, tok)
	if err != nil {
		return err
	}
	if sh.Protected() && !s.grantOK(sh, c.QueryParam("grant")) {
		s.shares.limiter.take(c.RealIP())
		return echo.NewHTTPError(http.StatusUnauthorized, "This download needs the link's password: open the link again and enter it.")
	}
	rep := report.Find(s.reports, sh.Report)
	if rep == nil {
		return notFound("The report this link shares is no longer on this dashboard.")
	}
	a := s.shareAudience(sh)
	s.record(c, audit.Entry{Actor: shareActor(sh.ID), Action: audit.ShareUse, Target: rep.Name, Detail: "xlsx", Tenants: shareTenants(a)})
	return s.sendWorkbook(c, rep, a)
}

// grant signs "this link's password was given, until exp": the download
// link of an unlocked page. It is not a session: it opens one workbook of
// one link, and dies with the link, its password or the hour.
func (s *Server) grant(sh *share, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + base64.RawURLEncoding.EncodeToString(s.grantMAC(sh, e))
}

func (s *Server) grantMAC(sh *share, exp string) []byte {
	m := hmac.New(sha256.New, s.shares.key)
	fmt.Fprintf(m, "attache share grant v1\x00%d\x00%s\x00%s", sh.ID, passwordTag(sh.PasswordHash), exp)
	return m.Sum(nil)
}

func (s *Server) grantOK(sh *share, g string) bool {
	e, sig, ok := strings.Cut(g, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || s.now().Unix() >= exp {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	return err == nil && hmac.Equal(got, s.grantMAC(sh, e))
}
