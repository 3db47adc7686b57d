package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/attache/attache/internal/audit"
	"github.com/attache/attache/internal/export"
	"github.com/attache/attache/internal/metrics"
	"github.com/attache/attache/internal/report"
	"github.com/attache/attache/internal/rollup"
)

// runQuery is `attache query "SQL"`: one read-only SELECT written for a
// single tenant (tables as tenant.TABLE), run over the fleet.
func runQuery(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "query", `[--config FILE] [--tenant ID]... [--format table|csv|json] [--limit N] "SQL"`)
	cfgPath := configFlag(fs)
	var tenants strList
	fs.Var(&tenants, "tenant", "query only this tenant (repeatable)")
	format := fs.String("format", "table", "output format: table, csv or json")
	limit := fs.Int("limit", 0, "at most N rows (default: row_limit from the config)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return badUsage(`give exactly one SQL statement in quotes, e.g. attache query "SELECT count(*) AS todos FROM tenant.todos"`)
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return badUsage("--format %q: use table, csv or json", *format)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *limit <= 0 {
		*limit = cfg.RowLimit
	}
	pl := newPools(cfg, false)
	defer pl.Close()
	res, err := rollup.Adhoc(ctx, cfg, pl.Adhoc, fs.Arg(0), tenants, *limit)
	// Who read customer data from the shell is audited like the query page.
	e := audit.Entry{Action: audit.Query, Target: "attache query", Detail: fs.Arg(0), Tenants: audit.TenantList(tenants)}
	if err != nil {
		e.Failed, e.Detail = true, e.Detail+"\n-- not answered: "+err.Error()
	} else {
		e.Rows = int64(len(res.Rows))
	}
	if mdb, merr := metrics.Open(ctx, cfg.Metrics, max(cfg.BusyTimeout.D(), 30*time.Second)); merr != nil {
		fmt.Fprintf(env.Stderr, "warning: not recorded in the audit log: %v\n", merr)
	} else {
		recordCLI(ctx, env, mdb.W, e)
		mdb.Close()
	}
	if err != nil {
		return err
	}
	if err := writeRows(env.Stdout, *format, res.Columns, res.Rows); err != nil {
		return err
	}
	for _, e := range res.Errors {
		fmt.Fprintf(env.Stderr, "tenant %s: %s\n", printable(e.TenantID), e.Error)
	}
	if res.Truncated {
		msg := fmt.Sprintf("stopped at %d rows (--limit / row_limit)", len(res.Rows))
		if res.Partial != "" {
			msg = res.Partial
		}
		fmt.Fprintln(env.Stderr, "note: "+msg)
	}
	return nil
}

func writeRows(w io.Writer, format string, cols []string, rows [][]any) error {
	switch format {
	case "json":
		return writeJSON(w, cols, rows)
	case "csv":
		// The one CSV writer, values as stored: this output feeds other
		// programs, so text is not neutralised for spreadsheets.
		cw := export.NewCSVWriter(w)
		cw.Record(cols...)
		rec := make([]string, len(cols))
		for _, r := range rows {
			for i, v := range r {
				rec[i] = report.Text(v)
			}
			cw.Record(rec...)
		}
		return cw.Flush()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, c := range cols {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprint(tw, printable(c))
	}
	fmt.Fprintln(tw)
	for _, r := range rows {
		for i, v := range r {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, oneLine(report.Text(v), 60))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// writeJSON writes rows as a JSON array of objects whose keys keep the
// query's column order (a Go map would sort them), one object a line.
func writeJSON(w io.Writer, cols []string, rows [][]any) error {
	keys := make([][]byte, len(cols))
	for i, c := range cols {
		k, err := json.Marshal(c)
		if err != nil {
			return err
		}
		keys[i] = k
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	for i, r := range rows {
		if i > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n  {")
		for j := range cols {
			if j > 0 {
				bw.WriteString(", ")
			}
			v, err := json.Marshal(jsonValue(r[j]))
			if err != nil {
				return fmt.Errorf("row %d, column %s: %w", i+1, cols[j], err)
			}
			bw.Write(keys[j])
			bw.WriteString(": ")
			bw.Write(v)
		}
		bw.WriteString("}")
	}
	if len(rows) > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// jsonValue keeps numbers and text as they are; blobs and the floats JSON
// cannot hold (infinities, NaN) become their exact text.
func jsonValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return report.Text(x)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return report.Text(x)
		}
	}
	return v
}
