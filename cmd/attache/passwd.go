package main

import (
	"context"
	"errors"
)

// runPasswd is a placeholder until its issue lands.
func runPasswd(ctx context.Context, env *Env, args []string) error {
	return errors.New("not built yet")
}
