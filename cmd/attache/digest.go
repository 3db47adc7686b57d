package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/human"

	"github.com/attache/attache/internal/digest"
)

// runDigest is `attache digest NAME`: build one digest now and send it (to
// its list, or --to someone), or with --dry-run write the whole message as
// .eml to stdout. It fails closed like a scheduled one: a digest whose data
// is missing or too partial is held, not sent.
func runDigest(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "digest", "NAME [--config FILE] [--to ADDR]... [--dry-run]")
	cfgPath := configFlag(fs)
	var to strList
	fs.Var(&to, "to", "send to this address instead of the digest's list (repeatable, or comma-separated)")
	dry := fs.Bool("dry-run", false, "write the complete message (.eml) to stdout instead of sending it")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		if _, err := digest.Find(cfg, ""); err != nil && fs.NArg() == 0 {
			fmt.Fprintf(env.Stderr, "\nGive the name of a digest: %s\n", strings.TrimPrefix(err.Error(), `no digest "" `))
		}
		return errUsage
	}
	d, err := digest.Find(cfg, fs.Arg(0))
	if err != nil {
		return err
	}
	if len(to) > 0 {
		for _, a := range to {
			if !strings.Contains(a, "@") {
				return badUsage("--to %q is not an email address", a)
			}
		}
		d.To = to
	}
	// metrics.Open would create an empty database; a digest of nothing is
	// a mistake worth naming.
	if _, err := os.Stat(cfg.Metrics); err != nil {
		return fmt.Errorf("metrics DB %s does not exist yet; run `attache run` first", cfg.Metrics)
	}
	mdb, err := openMetrics(ctx, cfg)
	if err != nil {
		return err
	}
	defer mdb.Close()
	pl := newPools(cfg, false)
	defer pl.Close()
	deps, err := digestDeps(cfg, mdb, pl, env.Log())
	if err != nil {
		return err
	}
	// Someone is waiting at the terminal: fewer, shorter retries than the
	// scheduler's.
	deps.Attempts, deps.Backoff = 3, time.Second

	if *dry {
		m, err := digest.Build(ctx, cfg, d, deps)
		var held *digest.HeldError
		if errors.As(err, &held) {
			return fmt.Errorf("digest %s would be held, so a real send would send nothing: %s", d.Name, held.Reason)
		}
		if err != nil {
			return err
		}
		eml, err := m.EML()
		if err != nil {
			return err
		}
		if _, err := env.Stdout.Write(eml); err != nil {
			return fmt.Errorf("digest %s: write to stdout: %w", d.Name, err)
		}
		fmt.Fprintf(env.Stderr, "dry run, nothing sent: %q to %s, %s with %s attached (run %d)\n",
			m.Subject, strings.Join(m.To, ", "), human.Bytes(float64(len(eml))), m.WorkbookName, m.RunID)
		return nil
	}

	res, err := digest.Send(ctx, cfg, d, deps)
	recordCLI(ctx, env, mdb.W, audit.Entry{Action: audit.Digest, Target: d.Name, Detail: "to " + strings.Join(d.To, ", "), Failed: err != nil})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "digest %s sent to %s: %q with %s attached (data of run %d; attempts: %d)\n",
		d.Name, strings.Join(d.To, ", "), res.Message.Subject, res.Message.WorkbookName, res.RunID, res.Attempts)
	return nil
}
