//go:build !unix

package tenant

import (
	"io"
	"os"
)

// readHeader reads the first len(b) bytes of the file at path.
func readHeader(path string, b []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.ReadFull(f, b); err != nil {
		return errShort
	}
	return nil
}
