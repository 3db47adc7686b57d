package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/attache/attache/internal/human"

	"github.com/attache/attache/internal/demo"
)

// runDemo is `attache demo`: a deterministic fleet for a TODO-list SaaS.
func runDemo(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "demo", "[--config FILE] [--tenants N] [--days D] [--dir DIR] [--seed S] [--catalog FILE]")
	cfgPath := configFlag(fs)
	tenants := fs.Int("tenants", 300, "number of tenant databases")
	days := fs.Int("days", 540, "days of history (540 is 18 months)")
	dir := fs.String("dir", "", "folder to write tenants into (default: tenants.dir of the config)")
	seed := fs.Int64("seed", 1, "random seed; the same seed gives the same fleet")
	catalog := fs.String("catalog", "", "also write a catalog database listing the tenants (organizations table)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *tenants < 1 || *days < 1 {
		return badUsage("--tenants and --days must be at least 1")
	}
	if *dir == "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		if cfg.Tenants.Dir == "" {
			return fmt.Errorf("the config reads tenants from a catalog; pass --dir to say where the demo fleet goes")
		}
		*dir = cfg.Tenants.Dir
	}
	abs, _ := filepath.Abs(*dir)
	start := time.Now()
	bar := newProgress(env, "tenants")
	sum, err := demo.Generate(ctx, demo.Options{Dir: abs, Tenants: *tenants, Days: *days, Seed: *seed, Catalog: *catalog}, bar.update)
	bar.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "demo: %d tenants (%d on the old schema, %d churned), %s in %s, in %.1fs\n",
		sum.Tenants, sum.OldSchema, sum.Churned, human.Bytes(float64(sum.Bytes)), abs, time.Since(start).Seconds())
	fmt.Fprintln(env.Stdout, "next: attache run   (then attache serve)")
	return nil
}
