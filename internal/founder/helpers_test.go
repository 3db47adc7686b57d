package founder

import (
	"io/fs"
	"os"
	"testing"

	"github.com/attache/attache/internal/report"
)

// loadReports reads the shipped reports from the repository's reports/.
func loadReports(t testing.TB) []*report.Report {
	t.Helper()
	reps, err := report.LoadDir(os.DirFS("../../reports"))
	if err != nil {
		t.Fatal(err)
	}
	return reps
}

// reportsFS is the repository's reports/ folder.
func (e *env) reportsFS() fs.FS { return os.DirFS("../../reports") }
