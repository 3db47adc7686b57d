//go:build !linux

package tenant

import "path/filepath"

func openDir(string) int { return -1 }

func closeDir(int) {}

// statDirFile is StatFile for name in dir.
func statDirFile(_ int, dir, name string) FileState {
	return StatFile(filepath.Join(dir, name))
}
