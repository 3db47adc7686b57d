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
	cw := &csvWriter{w: bufio.NewWriterSize(w, 64<<10)}
	header := false
	var rows int64
	err := runner.Each(p, 2000, func(cols []string, page [][]any) error {
		if !header {
			for i, c := range cols {
				cw.field(i, Neutralise(c))
			}
			cw.end()
			header = true
		}
		for _, r := range page {
			for i, v := range r {
				cw.field(i, field(v))
			}
			cw.end()
			rows++
		}
		return cw.w.Flush()
	})
	if err != nil {
		if rows > 0 {
			return fmt.Errorf("csv: stopped after %d rows, the output is incomplete: %w", rows, err)
		}
		return fmt.Errorf("csv: %w", err)
	}
	return cw.w.Flush()
}

// csvWriter writes RFC 4180 records. It is not encoding/csv's Writer because
// that one, with CRLF line ends, drops a lone \r and turns \n into \r\n
// inside fields: values must leave exactly as the database holds them.
type csvWriter struct {
	w *bufio.Writer
}

func (c *csvWriter) field(i int, s string) {
	if i > 0 {
		c.w.WriteByte(',')
	}
	if s == "" || !strings.ContainsAny(s, ",\"\r\n") && s[0] != ' ' && s != `\.` {
		c.w.WriteString(s)
		return
	}
	c.w.WriteByte('"')
	c.w.WriteString(strings.ReplaceAll(s, `"`, `""`))
	c.w.WriteByte('"')
}

func (c *csvWriter) end() { c.w.WriteString("\r\n") }

func field(v any) string {
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
