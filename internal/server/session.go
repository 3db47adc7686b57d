package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/sqlite"
)

const (
	sessionCookie = "attache_session"
	sessionTTL    = 12 * time.Hour
)

// sessions are server-side: the cookie is a random token and the sessions
// table keeps only its SHA-256, so sign-out ends a session for good and a
// stolen metrics DB holds nothing a cookie could be made from. The expiry is
// the server's; a cookie kept past it is refused.
type sessions struct {
	read   *sql.DB // lookups (the metrics DB's read pool)
	write  *sql.DB // a writer of its own: a run holds the metrics DB's
	now    func() time.Time
	secure bool // base_url is https: cookies only over https
}

func newSessions(read, write *sql.DB, now func() time.Time, secure bool) *sessions {
	return &sessions{read: read, write: write, now: now, secure: secure}
}

// session is one signed-in browser.
type session struct {
	User string
	Tag  string
}

// passwordTag ties a session to the password hash it was made with.
func passwordTag(hash string) string {
	h := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(h[:8])
}

func tokenID(token string) string {
	h := sha256.Sum256([]byte("attache session\x00" + token))
	return hex.EncodeToString(h[:])
}

// create starts a session for user and returns the cookie value.
func (s *sessions) create(ctx context.Context, user, hash, remote string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	// Expired rows are dropped as new ones come, so the table stays small.
	s.write.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at < ?", metrics.Format(now.Add(-24*time.Hour)))
	if _, err := s.write.ExecContext(ctx, "INSERT INTO sessions (id, user, tag, created_at, expires_at, remote) VALUES (?, ?, ?, ?, ?, ?)",
		tokenID(token), user, passwordTag(hash), metrics.Format(now), metrics.Format(now.Add(sessionTTL)), remote); err != nil {
		return "", fmt.Errorf("session: %w", sqlite.Wrap(err))
	}
	return token, nil
}

// lookup returns the live session of a cookie value.
func (s *sessions) lookup(ctx context.Context, token string) (*session, bool) {
	if len(token) != 43 { // 32 bytes, base64url without padding
		return nil, false
	}
	var ss session
	var exp any
	err := s.read.QueryRowContext(ctx, "SELECT user, tag, expires_at FROM sessions WHERE id = ? AND revoked_at IS NULL", tokenID(token)).Scan(&ss.User, &ss.Tag, &exp)
	if err != nil {
		return nil, false
	}
	if !s.now().Before(metrics.ParseTime(exp)) {
		return nil, false
	}
	return &ss, true
}

// revoke ends the session of a cookie value.
func (s *sessions) revoke(ctx context.Context, token string) error {
	_, err := s.write.ExecContext(ctx, "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", metrics.Format(s.now()), tokenID(token))
	if err != nil {
		return fmt.Errorf("sign out: %w", sqlite.Wrap(err))
	}
	return nil
}

// revokeUser ends every session of user and says how many there were.
func (s *sessions) revokeUser(ctx context.Context, user string) (int64, error) {
	res, err := s.write.ExecContext(ctx, "UPDATE sessions SET revoked_at = ? WHERE user = ? AND revoked_at IS NULL AND expires_at > ?",
		metrics.Format(s.now()), user, metrics.Format(s.now()))
	if err != nil {
		return 0, fmt.Errorf("sign out everywhere: %w", sqlite.Wrap(err))
	}
	return res.RowsAffected()
}

// set writes the session cookie; an empty value signs out.
func (s *sessions) set(c echo.Context, value string) {
	ck := &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.secure || c.IsTLS(),
	}
	if value == "" {
		ck.MaxAge = -1
	} else {
		ck.MaxAge = int(sessionTTL / time.Second)
	}
	c.SetCookie(ck)
}
