// Package founder holds the tests of the founder metrics: the growth,
// retention, usage and fleet health reports in reports/ and the queries they
// read, checked number by number against small fleets whose right answers
// are known by construction.
package founder

import (
	"os"
	"testing"

	"github.com/attache/attache/internal/roles"
)

// TestMain lets the test binary serve as the engine's worker processes and
// the panel sandbox's children.
func TestMain(m *testing.M) {
	if code, ok := roles.Serve(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}
