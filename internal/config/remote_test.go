package config

import (
	"strings"
	"testing"
)

func TestRemoteTenantKeys(t *testing.T) {
	t.Setenv("TURSO_AUTH_TOKEN", "x")
	t.Setenv("TURSO_DB_AUTH_TOKEN", "y")
	cfg, err := Parse([]byte(`
tenants:
  catalog:
    db: libsql://crm-acme.turso.io
    auth_token_env: TURSO_AUTH_TOKEN
    query: SELECT id, db_url FROM organizations
  auth_token_env: TURSO_DB_AUTH_TOKEN
  replicas: data/replicas
`), "/base")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tenants.Catalog.DB != "libsql://crm-acme.turso.io" || cfg.Tenants.Replicas != "/base/data/replicas" ||
		cfg.Tenants.SyncWorkers != 4 || cfg.Tenants.SyncTimeout.D().Minutes() != 2 {
		t.Fatalf("got %+v", cfg.Tenants)
	}
	for yaml, want := range map[string]string{
		"tenants:\n  catalog:\n    db: libsql://a.turso.io?authToken=sekrit\n    query: SELECT 1, 2": "carries a credential",
		"tenants:\n  sync_workers: 0":                             "tenants.sync_workers",
		"tenants:\n  sync_timeout: 0s":                            "tenants.sync_timeout",
		"tenants:\n  auth_token_env: NOT_SET_ANYWHERE":            "NOT_SET_ANYWHERE",
		"tenants:\n  replicas_encryption_key_env: NOT_SET_EITHER": "tenants.replicas_encryption_key_env",
		"tenants:\n  turso:\n    organization: acme":              "tenants.turso.api_token_env",
		"tenants:\n  replica: x":                                  "tenants.replica (line 2) is not a known key",
	} {
		_, err := Parse([]byte(yaml), "/base")
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "sekrit") {
			t.Errorf("%q: got %v, want %q", yaml, err, want)
		}
	}
}
