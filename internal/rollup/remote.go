package rollup

import (
	"context"
	"database/sql"
	"log/slog"
	"os"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/replica"
	"github.com/attache/attache/internal/sqlite"
	"github.com/attache/attache/internal/tenant"
)

// syncQuery names a failed sync in tenant_errors: not a query name (query
// names cannot hold parentheses), so it never clashes with one and never
// touches a query's rollup state.
const syncQuery = "(sync)"

// replicaKey is the replicas' encryption key from the environment.
func replicaKey(cfg *config.Config) string {
	if cfg.Tenants.ReplicasEncryptionKeyEnv == "" {
		return ""
	}
	return os.Getenv(cfg.Tenants.ReplicasEncryptionKeyEnv)
}

// tenantKey is the key a tenant is attached with: the replicas' key for a
// remote tenant, none for a local file.
func tenantKey(cfg *config.Config, t tenant.Tenant) string {
	if t.Remote == nil {
		return ""
	}
	return replicaKey(cfg)
}

// syncReplicas brings remote tenants' replicas up to date before the plan,
// in sync worker processes, and deletes replicas of tenants the source no
// longer lists. Local tenants are untouched.
func syncReplicas(ctx context.Context, cfg *config.Config, fleet []tenant.Tenant, log *slog.Logger) error {
	err := tenant.Sync(ctx, fleet, replica.Options{
		Dir: cfg.Tenants.Replicas, Workers: cfg.Tenants.SyncWorkers, Timeout: cfg.Tenants.SyncTimeout.D(),
		Key: replica.Secret(replicaKey(cfg)), Log: log,
	})
	if err != nil {
		return err
	}
	removed, err := tenant.CleanReplicas(fleet, cfg.Tenants.Replicas)
	for _, p := range removed {
		log.Info("replica deleted: the source no longer lists its tenant", "path", p)
	}
	if err != nil {
		// Disk space, not numbers: the run goes on.
		log.Warn("could not delete a replica of an unlisted tenant", "err", err)
	}
	return nil
}

// syncFailures records each stale tenant's failed sync; a remote tenant
// with no replica at all fails every query through its MissingReason.
func syncFailures(fleet []tenant.Tenant) []failure {
	var out []failure
	for _, t := range fleet {
		if t.Remote != nil && t.Remote.Stale {
			out = append(out, failure{Tenant: t.ID, Query: syncQuery, Error: t.Remote.SyncErr})
		}
	}
	return out
}

// onlySync reports failures that are all a failed sync: the tenant's older
// replica was read, so it is stale, not failed.
func onlySync(fs []failure) bool {
	for _, f := range fs {
		if f.Query != syncQuery {
			return false
		}
	}
	return len(fs) > 0
}

// loadRemote writes where each tenant of the run lives, and its replica's
// state, for the tenants table.
func loadRemote(ctx context.Context, conn *sql.Conn, ts ...[]tenant.Tenant) error {
	for _, stmt := range []string{
		"CREATE TEMP TABLE IF NOT EXISTS run_remote (id TEXT PRIMARY KEY, kind TEXT, replica_bytes INTEGER, last_sync_at TEXT, sync_error TEXT)",
		"DELETE FROM temp.run_remote",
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	var rows [][]any
	for _, list := range ts {
		for _, t := range list {
			if t.Remote == nil {
				rows = append(rows, []any{t.ID, "local", nil, nil, ""})
				continue
			}
			var synced any
			if !t.Remote.SyncedAt.IsZero() {
				synced = metrics.Format(t.Remote.SyncedAt)
			}
			var size any
			if !t.Missing {
				size = t.Size
			}
			rows = append(rows, []any{t.ID, "remote", size, synced, t.Remote.SyncErr})
		}
	}
	return metrics.InsertMany(ctx, conn, "temp.run_remote", []string{"id", "kind", "replica_bytes", "last_sync_at", "sync_error"}, rows)
}

// remoteStep updates the tenants table from run_remote, inside the run's
// transaction.
const remoteStep = `UPDATE tenants SET kind = r.kind, replica_bytes = r.replica_bytes,
	last_sync_at = coalesce(r.last_sync_at, tenants.last_sync_at), sync_error = r.sync_error
	FROM temp.run_remote r WHERE r.id = tenants.id`

// attachSQL attaches a tenant read-only as schema, with KEY for an
// encrypted replica; path and key are bound, never formatted into SQL.
func attachSQL(schema, key string) string {
	if key != "" {
		return "ATTACH ? AS " + schema + " KEY ?"
	}
	return "ATTACH ? AS " + schema
}

func attachArgs(path, key string) []any {
	if key != "" {
		return []any{sqlite.ReadOnlyURI(path), key}
	}
	return []any{sqlite.ReadOnlyURI(path)}
}

// withoutMissing drops the tenants there is nothing to read for (a remote
// tenant never synced, a file gone) and says why, for ad-hoc queries.
func withoutMissing(fleet []tenant.Tenant) ([]tenant.Tenant, []metrics.TenantError) {
	var kept []tenant.Tenant
	var errs []metrics.TenantError
	for _, t := range fleet {
		if t.Missing {
			errs = append(errs, metrics.TenantError{TenantID: t.ID, Query: "adhoc", Error: t.MissingReason()})
			continue
		}
		kept = append(kept, t)
	}
	return kept, errs
}
