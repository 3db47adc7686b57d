package rollup

import (
	"os"

	"github.com/attache/attache/internal/config"
	"github.com/attache/attache/internal/metrics"
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

// attachSQL attaches a tenant read-only as schema, with KEY for an
// encrypted replica; path and key are bound, never formatted into SQL.
func attachSQL(schema, key string) string {
	if key != "" {
		return "ATTACH ? AS " + schema + " KEY ?"
	}
	return "ATTACH ? AS " + schema
}

// attachArgs are attachSQL's path and key, for an engine worker: a plain
// file through the workers' VFS (sqlite.TenantURI), an encrypted replica
// through the default one, whose codec reads it.
func attachArgs(path, key string) []string {
	if key != "" {
		return []string{sqlite.ReadOnlyURI(path), key}
	}
	return []string{sqlite.TenantURI(path)}
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
