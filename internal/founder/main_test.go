// Package founder holds the tests of the founder metrics: the growth,
// retention, usage and fleet health reports in reports/ and the queries they
// read, checked number by number against small fleets whose right answers
// are known by construction.
package founder

import (
	"fmt"
	"os"
	"testing"

	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/sandbox"
	"github.com/attache/attache/internal/worker"
)

// TestMain lets the test binary serve as the engine's worker processes and
// the panel sandbox's children.
func TestMain(m *testing.M) {
	switch worker.Role() {
	case rollup.Role:
		if err := rollup.ServeWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case sandbox.Role:
		if err := sandbox.Serve(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
