package human

import (
	"fmt"
	"time"
)

// Ago says how long ago in words: "just now", "14 minutes ago", "3 days ago".
// Only live pages say "ago" (with the absolute time on hover): a file or an
// email is read later, when "ago" is wrong, so those carry When.
func Ago(d time.Duration) string {
	unit := func(n int64, one string) string {
		return Plural(n, one) + " ago"
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return unit(int64(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return unit(int64(d/time.Hour), "hour")
	}
	return unit(int64(d/(24*time.Hour)), "day")
}

// When writes an absolute time in UTC and, when it differs, in loc:
// "2026-12-02 15:37 UTC (16:37 CET)", or with another date
// "2026-12-02 23:30 UTC (2026-12-03 00:30 CET)". Zero is "never".
func When(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "never"
	}
	u := t.UTC()
	s := u.Format("2006-01-02 15:04 UTC")
	if loc == nil || loc.String() == "UTC" {
		return s
	}
	l := t.In(loc)
	layout := "15:04 MST"
	if l.Format("2006-01-02") != u.Format("2006-01-02") {
		layout = "2006-01-02 15:04 MST"
	}
	return fmt.Sprintf("%s (%s)", s, l.Format(layout))
}
