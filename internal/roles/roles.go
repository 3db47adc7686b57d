// Package roles makes this process one of attache's worker processes when it
// was started as one (see internal/worker): the attache binary and every
// test binary that runs the engine or the sandbox call Serve first thing.
package roles

import (
	"fmt"
	"os"

	"github.com/attache/attache/internal/replica"
	"github.com/attache/attache/internal/rollup"
	"github.com/attache/attache/internal/sandbox"
	"github.com/attache/attache/internal/worker"
)

// Serve runs the worker role this process was started in, until its parent
// closes stdin, and returns the exit code; ok is false for the main program.
func Serve() (code int, ok bool) {
	var err error
	switch worker.Role() {
	case "":
		return 0, false
	case rollup.Role:
		err = rollup.ServeWorker(os.Stdin, os.Stdout)
	case sandbox.Role:
		err = sandbox.Serve(os.Stdin, os.Stdout)
	case replica.Role:
		err = replica.Serve(os.Stdin, os.Stdout)
	default:
		err = fmt.Errorf("unknown worker role %q", worker.Role())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "attache worker:", err)
		return 1, true
	}
	return 0, true
}
