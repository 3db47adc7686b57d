package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/attache/attache/internal/human"

	"github.com/attache/attache/internal/metrics"
)

// runTenants is `attache tenants`: the fleet as the last runs saw it.
func runTenants(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "tenants", "[--config FILE] [--sort id|size|modified|last_ok|error] [--limit N] [--removed]")
	cfgPath := configFlag(fs)
	order := fs.String("sort", "id", "sort by id, size, modified, last_ok or error")
	limit := fs.Int("limit", 100000, "show at most N tenants")
	removed := fs.Bool("removed", false, "list the tenants the source no longer lists (their history stays)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if _, ok := metrics.TenantOrder[*order]; !ok {
		return badUsage("--sort %q: use id, size, modified, last_ok or error", *order)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	mdb, err := openMetrics(ctx, cfg)
	if err != nil {
		return err
	}
	defer mdb.Close()
	list := mdb.Tenants
	if *removed {
		list = mdb.RemovedTenants
	}
	ts, err := list(ctx, *order, *limit)
	if err != nil {
		return err
	}
	if *removed {
		if len(ts) == 0 {
			fmt.Fprintln(env.Stdout, "no removed tenants: the source lists every tenant a run has seen")
			return nil
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tLAST SEEN\tREMOVED")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", printable(t.ID), stamp(t.LastSeen), stamp(t.RemovedAt))
		}
		return tw.Flush()
	}
	if len(ts) == 0 {
		fmt.Fprintln(env.Stdout, "no tenants recorded yet; run `attache run` first")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	if anyRemote(ts) {
		return remoteTable(env, ts)
	}
	fmt.Fprintln(tw, "ID\tSIZE\tMODIFIED\tLAST OK\tLAST ERROR")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable(t.ID), human.Bytes(float64(t.SizeBytes)), stamp(t.ModifiedAt), stamp(t.LastOKAt), oneLine(t.LastError, 80))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// oneLine keeps a table row on one line of at most n runes.
func oneLine(s string, n int) string {
	r := []rune(printable(s))
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return string(r)
}

// printable escapes control characters so a tenant id cannot move the
// terminal's cursor or forge table rows.
func printable(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			out = append(out, []rune(fmt.Sprintf("\\x%02x", r))...)
			continue
		}
		out = append(out, r)
	}
	return string(out)
}

func anyRemote(ts []metrics.TenantRow) bool {
	for _, t := range ts {
		if t.Kind == "remote" {
			return true
		}
	}
	return false
}

// remoteTable is the listing of a fleet with remote tenants: where each
// lives, its replica's size, last sync and sync error beside the rest.
func remoteTable(env *Env, ts []metrics.TenantRow) error {
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSIZE\tREPLICA\tLAST SYNC\tLAST OK\tSYNC ERROR\tLAST ERROR")
	for _, t := range ts {
		replica, synced := "-", "-"
		if t.Kind == "remote" {
			replica, synced = human.Bytes(float64(t.ReplicaBytes)), stamp(t.LastSyncAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", printable(t.ID), t.Kind, human.Bytes(float64(t.SizeBytes)), replica, synced,
			stamp(t.LastOKAt), oneLine(orDash(t.SyncError), 60), oneLine(orDash(t.LastError), 60))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
