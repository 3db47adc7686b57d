package main

import (
	"context"
	"errors"
)

// runDigest is a placeholder until its issue lands.
func runDigest(ctx context.Context, env *Env, args []string) error {
	return errors.New("not built yet")
}
