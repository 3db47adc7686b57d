package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/user"

	"github.com/attache/attache/internal/audit"
)

// cliActor names who ran a command in the audit trail: "cli:LOGIN".
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return audit.ActorCLI + ":" + u.Username
	}
	if name := os.Getenv("USER"); name != "" {
		return audit.ActorCLI + ":" + name
	}
	return audit.ActorCLI
}

// recordCLI appends a command's action to the audit trail on the metrics
// DB's writer db. Not being able to record is a warning: the command ran.
func recordCLI(ctx context.Context, env *Env, db *sql.DB, e audit.Entry) {
	e.Actor = cliActor()
	if err := audit.Record(ctx, db, e); err != nil {
		fmt.Fprintf(env.Stderr, "warning: not recorded in the audit log: %v\n", err)
	}
}
