package sandbox

import (
	"fmt"
	"syscall"
)

// limitMemory caps this child's data segment (heap, and on Linux since 4.7
// every private writable mapping: Go's heap and SQLite's alike). A query
// that needs more gets "out of memory" and only this child is affected.
func limitMemory(n int64) error {
	lim := &syscall.Rlimit{Cur: uint64(n), Max: uint64(n)}
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, lim); err != nil {
		return fmt.Errorf("sandbox memory limit: %w", err)
	}
	return nil
}
