// Package privacy keeps individual tenants from audiences that may only see
// the fleet in aggregate (config privacy:, panels' privacy: declarations):
// per-tenant panels are left out or pseudonymised, rows standing for fewer
// than min_group tenants are suppressed, totals pass unchanged. It is a
// report.Audience, so every way out (pages, JSON, Excel, CSV, digests, share
// links) goes through the same rules.
package privacy

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/report"
)

// Key is the secret pseudonyms are an HMAC under. It lives in its own file,
// never in the metrics DB, which report SQL and other tools read.
type Key []byte

// keyBytes is the key's length: 256 bits, HMAC-SHA256's block-safe size.
const keyBytes = 32

// LoadKey reads the key file at path, creating it (owner-only) with a new
// random key when it does not exist. Changing the key changes every pseudonym.
func LoadKey(path string) (Key, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("privacy key %s: %w", path, err)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) < keyBytes {
		return nil, fmt.Errorf("privacy key %s: not %d hex-encoded bytes; delete it to make a new one (pseudonyms will change) or restore the original", path, keyBytes)
	}
	return k, nil
}

func createKey(path string) (Key, error) {
	k := make([]byte, keyBytes)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("privacy key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("privacy key %s: %w", path, err)
	}
	// O_EXCL: two processes starting at once must not each write their own;
	// the loser reads the winner's.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("privacy key %s: %w", path, err)
	}
	_, err = f.WriteString(hex.EncodeToString(k) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("privacy key %s: %w", path, err)
	}
	return k, nil
}

// Pseudonym is the stable stand-in for a tenant id: "customer " and the
// first 8 hex digits of HMAC-SHA256(key, id). Without the key it cannot be
// turned back into the id, nor computed for a guessed id.
func (k Key) Pseudonym(id string) string { return k.pseudonyms()(id) }

// pseudonyms returns a function computing Pseudonym with one HMAC state,
// reset per id: a panel of 10,000 tenants pays the key setup once.
func (k Key) pseudonyms() func(id string) string {
	m := hmac.New(sha256.New, k)
	var sum [sha256.Size]byte
	return func(id string) string {
		m.Reset()
		m.Write([]byte("attache tenant pseudonym v1\x00"))
		m.Write([]byte(id))
		return "customer " + hex.EncodeToString(m.Sum(sum[:0])[:4])
	}
}

// Policy is the aggregate audience: it sees no individual tenant.
type Policy struct {
	key      Key
	minGroup int
	// ids returns every tenant id and location the metrics DB knows, so a
	// panel without a declaration that shows them is caught.
	ids func() (map[string]bool, error)
}

// New is the aggregate audience with the key, the smallest group shown, and
// where the known tenant ids come from (TenantIDs).
func New(key Key, minGroup int, ids func() (map[string]bool, error)) *Policy {
	if minGroup < 1 {
		minGroup = 1
	}
	return &Policy{key: key, minGroup: minGroup, ids: ids}
}

// MinGroup is the smallest group an aggregate audience sees.
func (pl *Policy) MinGroup() int { return pl.minGroup }

// TenantIDs reads every tenant id and location the metrics DB knows.
func TenantIDs(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, "SELECT id, coalesce(location, '') FROM tenants")
	if err != nil {
		return nil, fmt.Errorf("privacy: tenant ids: %w", err)
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id, loc string
		if err := rows.Scan(&id, &loc); err != nil {
			return nil, fmt.Errorf("privacy: tenant ids: %w", err)
		}
		ids[id] = true
		if loc != "" {
			ids[loc] = true
		}
	}
	return ids, rows.Err()
}

// Fewer is what a suppressed row shows in place of its count.
func Fewer(n int) string { return fmt.Sprintf("fewer than %d customers", n) }

// Shape implements report.Audience.
func (pl *Policy) Shape(p *report.Panel, cols []string) (*report.Shape, error) {
	withheld := func(format string, a ...any) (*report.Shape, error) {
		return nil, &report.WithheldError{Panel: p.ID, Reason: fmt.Sprintf(format, a...)}
	}
	ids, err := pl.ids()
	if err != nil {
		// Without the ids nothing can be vouched for: fail closed.
		return withheld("tenant ids could not be read to check it (%v)", err)
	}
	col := func(name string) int {
		for i, c := range cols {
			if c == name {
				return i
			}
		}
		return -1
	}
	pv := p.Privacy
	if pv == nil {
		// No declaration: shown only while it holds no tenant id.
		if i := col("tenant_id"); i >= 0 {
			return withheld("it lists tenant ids and its report declares no privacy rule (an admin adds privacy: to the panel; `attache check` lists such panels)")
		}
		return &report.Shape{Columns: cols, Rows: guard(p, ids, nil, "it shows tenant ids and its report declares no privacy rule (an admin adds privacy: to the panel; `attache check` lists such panels)")}, nil
	}
	switch pv.Shows {
	case report.ShowsTotals:
		return &report.Shape{Columns: cols, Rows: guard(p, ids, nil, "it is declared as totals but shows a tenant id")}, nil
	case report.ShowsGroups:
		ci := col(pv.Count)
		if ci < 0 {
			return withheld("its privacy count column %q is not in the result", pv.Count)
		}
		label := col(p.X)
		if label < 0 || label == ci {
			label = -1
			for i := range cols {
				if i != ci {
					label = i
					break
				}
			}
		}
		check := guard(p, ids, nil, "it shows a tenant id in a row that should stand for a group")
		fewer := Fewer(pl.minGroup)
		return &report.Shape{
			Columns: cols,
			Note:    fmt.Sprintf("Rows standing for fewer than %d customers are suppressed.", pl.minGroup),
			Rows: func(rows [][]any) ([][]any, error) {
				out := make([][]any, len(rows))
				for i, r := range rows {
					if n, ok := number(r[ci]); ok && n >= float64(pl.minGroup) {
						out[i] = r
						continue
					}
					s := make([]any, len(r))
					if label >= 0 {
						s[label] = r[label]
					}
					s[ci] = fewer
					out[i] = s
				}
				return check(out)
			},
		}, nil
	case report.ShowsTenants:
		if pv.Aggregate != report.AggregatePseudonym {
			return withheld("it shows individual customers, and this view shows the fleet only in aggregate")
		}
		ti := col(pv.Tenant)
		if ti < 0 {
			return withheld("its privacy tenant column %q is not in the result", pv.Tenant)
		}
		// Identifying columns are dropped, except the chart's x, which
		// takes the pseudonym so the chart still has its labels.
		drop := map[int]bool{}
		pseud := map[int]bool{ti: true}
		for _, c := range pv.Identifying {
			if i := col(c); i >= 0 {
				if c == p.X {
					pseud[i] = true
				} else {
					drop[i] = true
				}
			}
		}
		var keep []int
		var out []string
		for i, c := range cols {
			if !drop[i] {
				keep = append(keep, i)
				out = append(out, c)
			}
		}
		check := guard(p, ids, pseud, "it shows a tenant id outside its declared columns")
		return &report.Shape{
			Columns: out,
			Note:    "Customers are shown as pseudonyms; names and locations are left out.",
			Rows: func(rows [][]any) ([][]any, error) {
				pseudonym := pl.key.pseudonyms()
				res := make([][]any, len(rows))
				for i, r := range rows {
					nr := make([]any, len(keep))
					for j, k := range keep {
						if pseud[k] {
							// No tenant (NULL) stays no tenant.
							if r[ti] != nil {
								nr[j] = pseudonym(report.Text(r[ti]))
							}
						} else {
							nr[j] = r[k]
						}
					}
					res[i] = nr
				}
				return check(res)
			},
		}, nil
	}
	return withheld("its privacy declaration is not understood")
}

// guard passes rows through unless a text value (outside the columns in
// skip, which hold pseudonyms) is a known tenant id or location: then the
// panel is withheld, since something undeclared would leak.
func guard(p *report.Panel, ids map[string]bool, skip map[int]bool, reason string) func([][]any) ([][]any, error) {
	return func(rows [][]any) ([][]any, error) {
		for _, r := range rows {
			for i, v := range r {
				if skip[i] {
					continue
				}
				var s string
				switch x := v.(type) {
				case string:
					s = x
				case []byte:
					s = string(x)
				default:
					continue
				}
				if ids[s] {
					return nil, &report.WithheldError{Panel: p.ID, Reason: reason}
				}
			}
		}
		return rows, nil
	}
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x)
	}
	return 0, false
}

// Digests is the aggregate audience for digests (digest.Deps.Aggregate),
// reading tenant ids from db; nil when no digest goes to an aggregate
// audience (privacy.digests, digests[].audience), so no key is made for nothing.
func Digests(cfg *config.Config, db *sql.DB) (report.Audience, error) {
	any := false
	for _, d := range cfg.Digests {
		any = any || cfg.DigestAudience(d) == config.AudienceAggregate
	}
	if !any {
		return nil, nil
	}
	key, err := LoadKey(cfg.Privacy.KeyPath(cfg.Metrics))
	if err != nil {
		return nil, err
	}
	return New(key, cfg.Privacy.MinGroup, func() (map[string]bool, error) {
		return TenantIDs(context.Background(), db)
	}), nil
}
