package rollup

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/tenant"
)

// A page of the listing goes into temp.run_listing as one JSON array of
// rows, bound once: binding twelve values per tenant cost a call into
// go-libsql each. The array is written by hand, because encoding/json's
// reflection, twelve JSON lookups per row and hex-encoding every text
// were 0.12 s of a 0.4 s rerun of 10,000 tenants. Text goes in as a
// JSON string when each of its bytes can (valid UTF-8 with no quote,
// backslash or control character: nearly every id and path); otherwise
// the whole page goes with its text as hex, so an id or path that is not
// valid UTF-8 (a file name can be any bytes) keeps every byte.

// listingCols are run_listing's columns in the order of a row; text says
// which hold text, and local is the value of a column a local tenant's
// row leaves out, as SQL (a local tenant's row is half as long, and each
// value taken out of it costs; its location is its path, filled in when
// the listing moves into run_tenants).
var listingCols = []struct {
	name  string
	text  bool
	local string
}{
	{"id", true, ""}, {"path", true, ""}, {"location", true, "NULL"}, {"size", false, ""},
	{"modified_at", true, ""}, {"fingerprint", true, ""}, {"missing", true, ""}, {"kind", true, "'local'"},
	{"replica_bytes", false, "NULL"}, {"last_sync_at", true, "NULL"}, {"sync_error", true, "''"}, {"stale", false, "0"},
}

// listingInsert is the statement for a page of local or of remote
// tenants, encoded with asHex as given.
func listingInsert(remote, asHex bool) string {
	names := make([]string, len(listingCols))
	vals := make([]string, len(listingCols))
	n := 0
	for i, c := range listingCols {
		names[i] = c.name
		if c.local != "" && !remote {
			vals[i] = c.local
			continue
		}
		vals[i] = "value->>" + strconv.Itoa(n)
		n++
		if c.text && asHex {
			vals[i] = "CAST(unhex(" + vals[i] + ") AS TEXT)"
		}
	}
	return "INSERT INTO temp.run_listing (" + strings.Join(names, ", ") + ") SELECT " + strings.Join(vals, ", ") + " FROM json_each(jsonb(?))"
}

// listingPage encodes pages of the listing, reusing its buffer.
type listingPage struct {
	b     []byte
	asHex bool
	plain bool // every text so far could go as a JSON string
}

// encode returns the local (remote false) or the remote tenants of page
// as JSON text for listingInsert(remote, asHex), and asHex: false unless
// some text of theirs cannot be a plain JSON string. The text is "" when
// the page has no such tenants.
func (p *listingPage) encode(page []tenant.Tenant, remote bool) (string, bool) {
	p.asHex, p.plain = false, true
	if !p.rows(page, remote) {
		return "", false
	}
	if !p.plain {
		p.asHex = true
		p.rows(page, remote)
	}
	return string(p.b), p.asHex
}

// rows encodes the page's local or remote tenants, and reports whether
// there were any.
func (p *listingPage) rows(page []tenant.Tenant, remote bool) bool {
	p.b = append(p.b[:0], '[')
	some := false
	for i := range page {
		t := &page[i]
		if (t.Remote != nil) != remote {
			continue
		}
		if some {
			p.b = append(p.b, ',')
		}
		some = true
		p.b = append(p.b, '[')
		p.text(t.ID)
		p.text(t.Path)
		if remote {
			p.text(t.Location())
		}
		p.int(t.Size)
		p.time(t.ModTime)
		p.text(t.Fingerprint)
		if t.Missing {
			p.text(t.MissingReason())
		} else {
			p.null()
		}
		if r := t.Remote; r != nil {
			p.text("remote")
			if t.Missing {
				p.null()
			} else {
				p.int(t.Size)
			}
			p.time(r.SyncedAt)
			p.text(r.SyncErr)
			p.bool(r.Stale)
		}
		p.b = append(p.b, ']')
	}
	p.b = append(p.b, ']')
	return some
}

// sep starts the row's next value.
func (p *listingPage) sep() {
	if p.b[len(p.b)-1] != '[' {
		p.b = append(p.b, ',')
	}
}

func (p *listingPage) null() { p.sep(); p.b = append(p.b, "null"...) }

func (p *listingPage) int(n int64) { p.sep(); p.b = strconv.AppendInt(p.b, n, 10) }

func (p *listingPage) bool(v bool) { p.sep(); p.b = strconv.AppendBool(p.b, v) }

// time appends t as the metrics DB writes times; null when it is zero.
func (p *listingPage) time(t time.Time) {
	if t.IsZero() {
		p.null()
		return
	}
	p.text(metrics.Format(t))
}

// text appends s as a JSON string, or as hex when the page goes as hex.
func (p *listingPage) text(s string) {
	p.sep()
	p.b = append(p.b, '"')
	if p.asHex {
		p.b = hex.AppendEncode(p.b, []byte(s))
	} else {
		if !plainJSON(s) {
			p.plain = false
		}
		p.b = append(p.b, s...)
	}
	p.b = append(p.b, '"')
}

// plainJSON reports whether s can stand between the quotes of a JSON
// string as it is. (The bytes of a multi-byte UTF-8 character are all
// 0x80 or more, so checking bytes is enough.)
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.ValidString(s)
}
