package export

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/attache/attache/internal/report"
)

// CSV writes every row of the panel as RFC 4180 CSV (UTF-8, CRLF after each
// record, a header row), streamed from the sandbox. Text that a spreadsheet
// would run as a formula is neutralised; numbers are written as they are, so
// -5 stays -5. NULL is an empty field. When the query fails after rows were
// written the output is incomplete and the error says so: callers must not
// present it as whole (an HTTP handler should abort the response).
func CSV(w io.Writer, runner *report.Runner, p *report.Panel) error {
	cw := NewCSVWriter(w)
	header := false
	var rows int64
	var rec []string
	err := runner.Each(p, 2000, func(cols []string, page [][]any) error {
		if !header {
			rec = make([]string, len(cols))
			for i, c := range cols {
				rec[i] = Neutralise(c)
			}
			cw.Record(rec...)
			header = true
		}
		for _, r := range page {
			for i, v := range r {
				rec[i] = CSVText(v)
			}
			cw.Record(rec...)
			rows++
		}
		return cw.Flush()
	})
	if err != nil {
		if rows > 0 {
			return fmt.Errorf("csv: stopped after %d rows, the output is incomplete: %w", rows, err)
		}
		return fmt.Errorf("csv: %w", err)
	}
	return cw.Flush()
}

// CSVWriter writes RFC 4180 records (CRLF after each), buffered: every CSV
// attache writes (panel exports, the query page, the audit trail, `attache
// query --format csv`) goes through it. It is not encoding/csv's Writer
// because that one, with CRLF line ends, drops a lone \r and turns \n into
// \r\n inside fields: values must leave exactly as the database holds them.
type CSVWriter struct {
	w *bufio.Writer
}

// NewCSVWriter writes to w; call Flush at the end.
func NewCSVWriter(w io.Writer) *CSVWriter {
	return &CSVWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

// Record writes one record. Fields are written as given: neutralise text
// first (Neutralise, CSVText) where a spreadsheet may open the file.
func (c *CSVWriter) Record(fields ...string) {
	for i, s := range fields {
		if i > 0 {
			c.w.WriteByte(',')
		}
		if s == "" || !strings.ContainsAny(s, ",\"\r\n") && s[0] != ' ' && s != `\.` {
			c.w.WriteString(s)
			continue
		}
		c.w.WriteByte('"')
		c.w.WriteString(strings.ReplaceAll(s, `"`, `""`))
		c.w.WriteByte('"')
	}
	c.w.WriteString("\r\n")
}

// Flush writes what is buffered and reports the first write error.
func (c *CSVWriter) Flush() error { return c.w.Flush() }

// CSVText is a value as an exported CSV field: text and blobs neutralised
// (see Neutralise), numbers exactly as stored, NULL empty.
func CSVText(v any) string {
	switch x := v.(type) {
	case string:
		return Neutralise(x)
	case []byte:
		return Neutralise(report.Text(x))
	}
	return report.Text(v)
}

// Neutralise keeps a text value from running as a formula when the CSV is
// opened in a spreadsheet, by OWASP's CSV injection rule: a value whose
// first character is =, +, -, @, a tab or a carriage return gets a leading
// '. Spreadsheets skip leading blanks and line breaks ("\n=1+1" becomes a
// CRLF and then a formula) and read the full-width ＝ ＋ － ＠ as their ASCII
// forms, so the rule looks past leading white space and control characters,
// and knows the full-width triggers.
func Neutralise(s string) string {
	for _, r := range s {
		switch {
		case r == '\t' || r == '\r':
			return "'" + s
		case unicode.IsSpace(r) || unicode.IsControl(r) || r == '\ufeff':
			continue
		case strings.ContainsRune("=+-@\uff1d\uff0b\uff0d\uff20", r):
			return "'" + s
		}
		return s
	}
	return s
}
