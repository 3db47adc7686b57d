package founder

import (
	"os"
	"testing"
	"time"

	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/sandbox"
)

// TestPanelTimings times every panel of the shipped reports on a metrics DB
// you name, one panel at a time, e.g. one built from the 10,000-tenant
// benchmark fleet:
//
//	ATTACHE_TIMING_METRICS=/path/to/metrics.db go test ./internal/founder -run PanelTimings -v
//
// It is skipped without the variable: it measures, it does not check.
func TestPanelTimings(t *testing.T) {
	path := os.Getenv("ATTACHE_TIMING_METRICS")
	if path == "" {
		t.Skip("set ATTACHE_TIMING_METRICS to a metrics DB to time the panels on it")
	}
	reps := loadReports(t)
	sb := sandbox.NewRunner(1, 5*time.Minute, time.Second)
	defer sb.Close()
	r := report.NewRunner(sb, path, 10000)
	// Start the sandbox child before timing anything.
	if d := r.Run(&report.Panel{ID: "warm", Chart: report.ChartNumber, SQL: "SELECT 1"}); d.Err != nil {
		t.Fatal(d.Err)
	}
	var total time.Duration
	for _, rep := range reps {
		for _, p := range rep.Panels {
			d := r.Run(p)
			if d.Err != nil {
				t.Errorf("%s/%s: %v", rep.Name, p.ID, d.Err)
				continue
			}
			total += d.Elapsed
			t.Logf("%-10s %-18s %7.0f ms  %5d rows", rep.Name, p.ID, float64(d.Elapsed.Microseconds())/1000, len(d.Rows))
		}
	}
	t.Logf("all panels: %.2f s", total.Seconds())
}
