package main

import (
	"context"
	"errors"
)

// runServe is a placeholder until its issue lands.
func runServe(ctx context.Context, env *Env, args []string) error {
	return errors.New("not built yet")
}
