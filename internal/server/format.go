package server

import (
	"time"

	"github.com/attache/attache/internal/human"

	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/report"
)

// formatNumber writes integers with thousands separators: 10,000.
func formatNumber(v any) string {
	switch x := v.(type) {
	case int:
		return human.Count(int64(x))
	case int64:
		return human.Count(x)
	}
	return report.Display(v, "")
}

func formatBytes(n int64) string { return human.Bytes(float64(n)) }

// formatShare renders a fraction as a percentage: 0.253 → 25.3%.
func formatShare(v float64) string { return report.Display(v, report.FormatPercent) }

// asFloat reads a numeric cell.
func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}

func isNumeric(v any) bool {
	_, ok := asFloat(v)
	return ok
}

// formatCell renders one value for a page by its column's format, the same
// way exports and digests do.
func formatCell(v any, format string) string { return report.Display(v, format) }

func formatAgo(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return human.Ago(max(0, now.Sub(t)))
}

func formatWhen(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(loc).Format("2006-01-02 15:04 MST")
}

// formatTook is how long a run took: running, under a second, or its length.
func formatTook(r metrics.Run) string {
	switch {
	case r.Status == "running":
		return "running…"
	case r.FinishedAt.IsZero():
		return "—"
	case r.Duration() < time.Second:
		return "< 1 s"
	}
	return formatDuration(r.Duration())
}

func formatDuration(d time.Duration) string { return human.Duration(d) }
