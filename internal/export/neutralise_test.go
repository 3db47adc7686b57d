package export

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/attache/attache/internal/report"
)

// edgeCases start a formula only after what spreadsheets skip or fold:
// line breaks, blanks, control characters, full-width signs.
func edgeCases() []string {
	return []string{
		"\n=1+1", "\r\n=1+1", "  =1+1", " \t=1+1", "\u3000=1+1", "\u00a0+1", "\x00=1+1", "\ufeff=1+1",
		"＝1+1", "＋1+1", "－1+1", "＠SUM(1)", " ＝1+1", "\n@SUM(1)",
	}
}

func TestNeutraliseEdgeCases(t *testing.T) {
	for _, s := range append(edgeCases(), hostile()...) {
		if got := Neutralise(s); got != "'"+s {
			t.Errorf("Neutralise(%q) = %q, want it prefixed with '", s, got)
		}
	}
	for _, s := range []string{"", "plain", "a=b", " plain", "\nline", "日本語", "1+1", "（＝）"} {
		if got := Neutralise(s); got != s {
			t.Errorf("Neutralise(%q) = %q, want it unchanged", s, got)
		}
	}
}

// TestCSVInertInLibreOffice opens a real export in LibreOffice, headless,
// with formula evaluation on, and checks that no cell became a formula.
func TestCSVInertInLibreOffice(t *testing.T) {
	soffice, err := exec.LookPath("soffice")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("LibreOffice (soffice) is not installed; apt-get install libreoffice-calc-nogui")
		}
		t.Fatal("CI needs LibreOffice: apt-get install libreoffice-calc-nogui")
	}
	var rows []string
	for i, s := range append(edgeCases(), hostile()...) {
		rows = append(rows, fmt.Sprintf("(%d, CAST(x'%x' AS TEXT))", i, s)) // hex: a NUL survives
	}
	_, _, r := fixture(t, "CREATE TABLE rollup_edge(i INTEGER, v TEXT)", "INSERT INTO rollup_edge VALUES "+strings.Join(rows, ", "))
	var buf bytes.Buffer
	if err := CSV(&buf, r, &report.Panel{ID: "edge", Chart: report.ChartTable, SQL: "SELECT i, v, '=1+1' AS plain FROM rollup_edge ORDER BY i"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "edge.csv")
	if err := os.WriteFile(in, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	// A control file proves the check can fail: the same cells without
	// neutralising must come out as formulas.
	recs, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	raw.WriteString("raw\r\n=1+1\r\n")
	if err := os.WriteFile(filepath.Join(dir, "raw.csv"), raw.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// CSV import options: comma, double quote, UTF-8, from line 1, ...,
	// token 13 = evaluate formulas (what a user opening the file gets).
	cmd := exec.CommandContext(ctx, soffice, "--headless", "--norestore",
		"-env:UserInstallation=file://"+filepath.Join(dir, "profile"),
		"--infilter=CSV:44,34,76,1,,0,false,true,false,false,false,-1,true",
		"--convert-to", "xlsx", "--outdir", filepath.Join(dir, "out"), in, filepath.Join(dir, "raw.csv"))
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("soffice: %v\n%s", err, out)
	}
	formulas := func(name string) (map[string]string, [][]string) {
		f, err := excelize.OpenFile(filepath.Join(dir, "out", name))
		if err != nil {
			t.Fatalf("LibreOffice wrote no %s: %v", name, err)
		}
		defer f.Close()
		sheet := f.GetSheetName(0)
		got, _ := f.GetRows(sheet)
		found := map[string]string{}
		for ri, row := range got {
			for ci := range row {
				cell, _ := excelize.CoordinatesToCellName(ci+1, ri+1)
				if fx, _ := f.GetCellFormula(sheet, cell); fx != "" {
					found[cell] = fx
				}
			}
		}
		return found, got
	}
	if found, _ := formulas("raw.xlsx"); len(found) == 0 {
		t.Fatal("the control cell =1+1 did not evaluate: the LibreOffice check would not see a formula")
	}
	found, got := formulas("edge.xlsx")
	if len(found) > 0 {
		t.Errorf("cells evaluated as formulas in LibreOffice: %v", found)
	}
	if len(got) != len(recs) {
		t.Errorf("LibreOffice read %d rows, the CSV has %d", len(got), len(recs))
	}
}
