package demo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// catalogRow is one organizations row: a tenant and where its file is.
type catalogRow struct {
	id, name, path, plan string
	created              int64
}

// checkCatalog refuses a catalog file that holds tables but was not
// written by the demo, since writeCatalog replaces its organizations table.
func checkCatalog(ctx context.Context, conn *sql.Conn, path string) (err error) {
	// Attaching would create a missing file, and leave it behind if the
	// tenant dir is refused next.
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "ATTACH ? AS c", path); err != nil {
		return fmt.Errorf("demo catalog %s: attach: %w", path, sqlErr(err))
	}
	defer func() {
		if _, derr := conn.ExecContext(context.WithoutCancel(ctx), "DETACH c"); derr != nil && err == nil {
			err = fmt.Errorf("demo catalog %s: detach: %w", path, sqlErr(derr))
		}
	}()
	var tables int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM c.sqlite_schema").Scan(&tables); err != nil {
		return fmt.Errorf("demo catalog %s: %w", path, sqlErr(err))
	}
	var appID int64
	if err := conn.QueryRowContext(ctx, "PRAGMA c.application_id").Scan(&appID); err != nil {
		return fmt.Errorf("demo catalog %s: %w", path, sqlErr(err))
	}
	if tables > 0 && appID != catalogAppID {
		return fmt.Errorf("demo catalog %s is an existing database that attache demo did not write; give a new path for the catalog, or remove that file", path)
	}
	return nil
}

// writeCatalog (re)writes the organizations table of the catalog at path.
func writeCatalog(ctx context.Context, conn *sql.Conn, path string, rows []catalogRow) (err error) {
	if _, err := conn.ExecContext(ctx, "ATTACH ? AS c", path); err != nil {
		return fmt.Errorf("demo catalog %s: attach: %w", path, sqlErr(err))
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
		if _, derr := conn.ExecContext(context.WithoutCancel(ctx), "DETACH c"); derr != nil && err == nil {
			err = fmt.Errorf("demo catalog %s: detach: %w", path, sqlErr(derr))
		}
	}()
	for _, q := range []string{
		"BEGIN",
		"DROP TABLE IF EXISTS c.organizations",
		"CREATE TABLE c.organizations(id TEXT PRIMARY KEY, name TEXT, path TEXT, plan TEXT, created_at TEXT)",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("demo catalog %s: %s: %w", path, statementName(q), sqlErr(err))
		}
	}
	// Paths and ids are bound, never spliced into SQL; a hundred rows per
	// statement keeps the parameter count far below SQLite's limit.
	const perInsert = 100
	for chunk := range slices.Chunk(rows, perInsert) {
		q := "INSERT INTO c.organizations(id, name, path, plan, created_at) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?),", len(chunk)), ",")
		args := make([]any, 0, 5*len(chunk))
		for _, r := range chunk {
			args = append(args, r.id, r.name, r.path, r.plan, formatTime(r.created))
		}
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("demo catalog %s: insert organizations: %w", path, sqlErr(err))
		}
	}
	for _, q := range []string{"PRAGMA c.application_id = " + strconv.Itoa(catalogAppID), "COMMIT"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("demo catalog %s: %s: %w", path, q, sqlErr(err))
		}
	}
	return nil
}
