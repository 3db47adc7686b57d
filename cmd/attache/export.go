package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/human"

	"github.com/attache/attache/internal/export"
	"github.com/attache/attache/internal/report"
)

// runExport writes a report as an Excel workbook (REPORT) or one panel as
// CSV (REPORT/PANEL), from the metrics DB through the query sandbox.
func runExport(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "export", "[--config F] [--out FILE] REPORT | REPORT/PANEL")
	cfgPath := configFlag(fs)
	out := fs.String("out", "", "file to write (default: REPORT.xlsx or REPORT-PANEL.csv in the current folder; - for stdout)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	name, panelID, isPanel := strings.Cut(fs.Arg(0), "/")
	// Accept what a user copies from a download link: growth.xlsx, growth/top.csv.
	name = strings.TrimSuffix(name, ".xlsx")
	panelID = strings.TrimSuffix(panelID, ".csv")

	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	reps, loadErr := report.Load(cfg.ReportsFS, cfg.Currency)
	// Names are looked up in the loaded list only: what the user typed never
	// becomes a path.
	rep := report.Find(reps, name)
	if rep == nil {
		msg := fmt.Sprintf("unknown report %q; available: %s", name, orNone(report.Names(reps)))
		if loadErr != nil {
			return fmt.Errorf("%s\nsome reports did not load:\n%w", msg, loadErr)
		}
		return errors.New(msg)
	}
	var panel *report.Panel
	if isPanel {
		if panel = rep.Panel(panelID); panel == nil {
			return fmt.Errorf("report %s has no panel %q; its panels: %s", rep.Name, panelID, orNone(rep.PanelIDs()))
		}
	}

	// metrics.Open would create an empty database; an export of nothing is
	// a mistake worth naming.
	if _, err := os.Stat(cfg.Metrics); err != nil {
		return fmt.Errorf("metrics DB %s does not exist yet; run `attache run` first", cfg.Metrics)
	}
	mdb, err := openMetrics(ctx, cfg)
	if err != nil {
		return err
	}
	defer mdb.Close()
	// An export streams whole tables: export_timeout, not the
	// query_timeout meant for one panel on screen.
	pl := newPools(cfg, false)
	defer pl.Close()
	runner := pl.Exports
	now := time.Now()
	fresh, err := report.LoadReportFreshness(ctx, mdb, now, rep)
	if err != nil {
		return err
	}

	file := *out
	if file == "" {
		// Built from the loaded names (letters, digits, _ and -), never from
		// the argument as typed.
		file = rep.Name + ".xlsx"
		if panel != nil {
			file = rep.Name + "-" + panel.ID + ".csv"
		}
	}
	var sum *export.Summary
	write := func(w io.Writer) error {
		if panel != nil {
			return export.CSV(w, runner, panel)
		}
		var err error
		sum, err = export.Excel{}.Write(w, rep, runner, fresh, now.In(cfg.Location))
		return err
	}
	if file == "-" {
		err = write(env.Stdout)
	} else {
		err = writeFileAtomic(file, write)
	}
	target := rep.Name + ".xlsx"
	if panel != nil {
		target = rep.Name + "/" + panel.ID + ".csv"
	}
	recordCLI(ctx, env, mdb.W, audit.Entry{Action: audit.Export, Target: target, Detail: "to " + file, Failed: err != nil})
	if err != nil {
		return err
	}

	where := file
	if file == "-" {
		where = "stdout"
	}
	if panel != nil {
		fmt.Fprintf(env.Stderr, "wrote %s (report %s, panel %s) · data %s\n", where, rep.Name, panel.ID, fresh)
		return nil
	}
	fmt.Fprintf(env.Stderr, "wrote %s: %d sheets, %s rows · data %s\n", where, len(sum.Sheets), human.Count(sum.Rows), fresh)
	if len(sum.Failed) > 0 {
		return fmt.Errorf("%s was written, but %d panel(s) failed and their sheets show the error instead of data; fix the report or see `attache check`:\n%w",
			where, len(sum.Failed), errors.Join(sum.Failed...))
	}
	return nil
}

// writeFileAtomic writes through a temporary file beside path and renames it
// into place, so a failed export never leaves half a file or clobbers the
// last good one.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("export %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	return nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
