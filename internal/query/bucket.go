package query

import "time"

// Bucket is the start of the period of the given grain that t falls in, in
// UTC, as stored in a snapshot rollup's bucket column: hour "2026-11-22T14",
// day "2026-11-22", week (ISO, starting Monday) "2026-11-16", month "2026-11".
// An unknown or empty grain counts as day, the default; Parse rejects bad ones.
func Bucket(grain string, t time.Time) string {
	t = t.UTC()
	switch grain {
	case GrainHour:
		return t.Format("2006-01-02T15")
	case GrainWeek:
		sinceMonday := (int(t.Weekday()) + 6) % 7
		return t.AddDate(0, 0, -sinceMonday).Format(time.DateOnly)
	case GrainMonth:
		return t.Format("2006-01")
	default:
		return t.Format(time.DateOnly)
	}
}
