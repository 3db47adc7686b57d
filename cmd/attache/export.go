package main

import (
	"context"
	"errors"
)

// runExport is a placeholder until its issue lands.
func runExport(ctx context.Context, env *Env, args []string) error {
	return errors.New("not built yet")
}
