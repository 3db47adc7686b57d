package export

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/attache/attache/internal/human"

	"github.com/xuri/excelize/v2"

	"github.com/attache/attache/internal/report"
)

// Excel's own limits.
const (
	ExcelRows      = 1048576 // rows per sheet, header included
	maxSheetName   = 31      // UTF-16 units
	maxCellChars   = 32767
	truncateMarker = "… [cut at Excel's 32,767-character cell limit; the CSV export has it all]"
)

// kind is how a column's values become cells.
type kind int

const (
	kindAuto kind = iota
	kindPercent
	kindDate
	kindInteger
	kindNumber
	kindText
	kindBytes
	kindMoney // minor units (cents) in the sheet as major units with the currency's format
)

func kindOf(format string) kind {
	if _, ok := report.MoneyCurrency(format); ok {
		return kindMoney
	}
	switch format {
	case report.FormatPercent:
		return kindPercent
	case report.FormatDate:
		return kindDate
	case report.FormatInteger:
		return kindInteger
	case report.FormatNumber:
		return kindNumber
	case report.FormatText:
		return kindText
	case report.FormatBytes:
		return kindBytes
	}
	return kindAuto
}

// dateKind is which date number format a parsed value gets, so a month
// bucket shows as 2026-11, not as the 1st of the month.
type dateKind int

const (
	dateDay dateKind = iota
	dateTime
	dateMonth
	dateHour
)

// styles are the workbook's cell styles, made once.
type styles struct {
	header, title, label, wrap, errText int
	percent, integer, number, text      int
	change, big, muted                  int
	dates                               [4]int         // by dateKind
	codes                               map[int]string // number format of each style, for chart axes
	// money is the style of money cells, made by useMoney for the one
	// currency a workbook shows.
	money    int
	currency report.Currency
	f        *excelize.File
}

// useMoney makes the money style for cur, once per workbook.
func (s *styles) useMoney(cur report.Currency) error {
	if s.money != 0 && s.currency == cur {
		return nil
	}
	code := "#,##0"
	if cur.Digits > 0 {
		code += "." + strings.Repeat("0", cur.Digits)
	}
	sym := strings.ReplaceAll(cur.Symbol, `"`, "")
	code = `"` + sym + `"` + code
	id, err := s.f.NewStyle(&excelize.Style{CustomNumFmt: &code})
	if err != nil {
		return err
	}
	s.money, s.currency, s.codes[id] = id, cur, code
	return nil
}

func newStyles(f *excelize.File) (*styles, error) {
	s := &styles{codes: map[int]string{}, f: f}
	var err error
	mk := func(st *excelize.Style) int {
		if err != nil {
			return 0
		}
		var id int
		id, err = f.NewStyle(st)
		return id
	}
	numFmt := func(code string) *excelize.Style { return &excelize.Style{CustomNumFmt: &code} }
	coded := func(code string) int {
		id := mk(numFmt(code))
		s.codes[id] = code
		return id
	}
	s.header = mk(&excelize.Style{
		Font:      &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"EDEFF2"}},
		Border:    []excelize.Border{{Type: "bottom", Color: "9AA3AF", Style: 1}},
		Alignment: &excelize.Alignment{Vertical: "center"},
	})
	s.title = mk(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	s.label = mk(&excelize.Style{Font: &excelize.Font{Bold: true}, Alignment: &excelize.Alignment{Vertical: "top"}})
	s.wrap = mk(&excelize.Style{Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}})
	s.errText = mk(&excelize.Style{Font: &excelize.Font{Color: "B91C1C"}, Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}})
	s.percent = coded("0.0%")
	s.integer = coded("#,##0")
	s.number = coded("#,##0.00")
	s.text = coded("@")
	s.dates[dateDay] = coded("yyyy-mm-dd")
	s.dates[dateTime] = coded("yyyy-mm-dd hh:mm:ss")
	s.dates[dateMonth] = coded("yyyy-mm")
	s.dates[dateHour] = coded("yyyy-mm-dd hh:mm")
	// A change against the previous period, with its direction.
	s.change = coded(`"▲ "0.0%;"▼ "0.0%;"no change"`)
	s.big = mk(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 13}, Alignment: &excelize.Alignment{Horizontal: "right", Vertical: "top"}})
	s.muted = mk(&excelize.Style{Font: &excelize.Font{Color: "6B7280"}})
	return s, err
}

// cell turns one SQLite value into what the stream writer writes. Strings
// always become string cells (excelize only writes a formula from
// Cell.Formula, which is never set), so nothing from a tenant or a report
// author becomes a formula.
func (s *styles) cell(k kind, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case int64:
		return s.number64(k, float64(x), x, true)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			// Excel has no infinity; a number cell holding "+Inf" breaks the file.
			return excelize.Cell{Value: report.Text(x)}
		}
		return s.number64(k, x, 0, false)
	case []byte:
		return excelize.Cell{Value: cellText(report.Text(x))}
	case string:
		switch k {
		case kindText:
			return excelize.Cell{StyleID: s.text, Value: cellText(x)}
		case kindDate:
			if t, dk, ok := parseDate(x, true); ok {
				return excelize.Cell{StyleID: s.dates[dk], Value: serial(t)}
			}
		case kindAuto:
			if t, dk, ok := parseDate(x, false); ok {
				return excelize.Cell{StyleID: s.dates[dk], Value: serial(t)}
			}
		default:
			// The author said this column is a number; text that holds one
			// (a tenant stored '12') becomes that number.
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return s.number64(k, f, 0, false)
			}
		}
		return excelize.Cell{Value: cellText(x)}
	}
	return excelize.Cell{Value: cellText(report.Text(v))}
}

func (s *styles) number64(k kind, f float64, i int64, isInt bool) any {
	var v any = f
	if isInt {
		v = i
	}
	switch k {
	case kindPercent:
		return excelize.Cell{StyleID: s.percent, Value: v}
	case kindInteger, kindBytes:
		return excelize.Cell{StyleID: s.integer, Value: v}
	case kindNumber:
		return excelize.Cell{StyleID: s.number, Value: v}
	case kindMoney:
		return excelize.Cell{StyleID: s.money, Value: s.currency.Major(f)}
	case kindText:
		return excelize.Cell{StyleID: s.text, Value: report.Text(v)}
	}
	return v
}

// cellText keeps a string within Excel's cell limit, saying so when cut.
func cellText(s string) string {
	if len(s) <= maxCellChars || utf16Len(s) <= maxCellChars {
		return s
	}
	keep := maxCellChars - utf16Len(truncateMarker)
	n := 0
	for i, r := range s {
		n += utf16.RuneLen(r)
		if n > keep {
			return s[:i] + truncateMarker
		}
	}
	return s
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// parseDate reads the date and time forms rollups hold. Auto-detection
// (loose false) takes only the exact forms YYYY-MM-DD, YYYY-MM-DD HH:MM:SS
// and YYYY-MM-DDTHH:MM:SSZ; a column formatted as date also takes bucket
// forms (2026-11, 2026-11-22T14), fractions of seconds and offsets.
func parseDate(s string, loose bool) (time.Time, dateKind, bool) {
	if len(s) < 7 || len(s) > 35 || s[4] != '-' || s[0] < '0' || s[0] > '9' {
		return time.Time{}, 0, false
	}
	try := func(layout string, dk dateKind) (time.Time, dateKind, bool) {
		t, err := time.Parse(layout, s)
		if err != nil || t.Before(time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC)) {
			// Excel's serial dates are wrong before March 1900 (its 1900
			// leap-year bug); such values stay text.
			return time.Time{}, 0, false
		}
		return t.UTC(), dk, true
	}
	switch len(s) {
	case 10:
		return try("2006-01-02", dateDay)
	case 19:
		if s[10] == ' ' {
			return try("2006-01-02 15:04:05", dateTime)
		}
		if loose && s[10] == 'T' {
			return try("2006-01-02T15:04:05", dateTime)
		}
	case 20:
		if s[10] == 'T' && s[19] == 'Z' {
			return try("2006-01-02T15:04:05Z", dateTime)
		}
	}
	if !loose {
		return time.Time{}, 0, false
	}
	switch len(s) {
	case 7:
		return try("2006-01", dateMonth)
	case 13:
		return try("2006-01-02T15", dateHour)
	case 16:
		if s[10] == ' ' {
			return try("2006-01-02 15:04", dateHour)
		}
		return try("2006-01-02T15:04", dateHour)
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
		if t, dk, ok := try(layout, dateTime); ok {
			return t, dk, ok
		}
	}
	return time.Time{}, 0, false
}

// serial is t as an Excel date: days since 1899-12-30, time as the fraction.
func serial(t time.Time) float64 {
	epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	d := t.Sub(epoch)
	days := d / (24 * time.Hour)
	rest := d % (24 * time.Hour)
	return float64(days) + float64(rest)/float64(24*time.Hour)
}

// width estimates how many characters a value takes on screen.
func width(k kind, v any) int {
	switch x := v.(type) {
	case nil:
		return 0
	case int64:
		switch k {
		case kindPercent:
			return len(strconv.FormatFloat(float64(x)*100, 'f', 1, 64)) + 1
		case kindInteger, kindBytes, kindNumber, kindMoney:
			return len(human.Count(x)) + 3
		}
		return len(strconv.FormatInt(x, 10))
	case float64:
		switch k {
		case kindPercent:
			return len(strconv.FormatFloat(x*100, 'f', 1, 64)) + 1
		case kindInteger, kindBytes:
			return len(report.Display(x, report.FormatInteger))
		case kindNumber, kindMoney:
			return len(report.Display(x, report.FormatNumber))
		}
		return min(len(report.Text(x)), 12) // General shows about 11 digits
	case string:
		if k != kindText {
			if _, dk, ok := parseDate(x, k == kindDate); ok {
				return dateWidth(dk)
			}
		}
		if i := strings.IndexByte(x, '\n'); i >= 0 {
			x = x[:i]
		}
		return utf8.RuneCountInString(x)
	case []byte:
		return len(x)
	}
	return 10
}

func dateWidth(dk dateKind) int {
	switch dk {
	case dateTime:
		return 19
	case dateMonth:
		return 7
	case dateHour:
		return 16
	}
	return 10
}

// code is the number format a converted cell shows with ("General" when
// it has none of ours).
func (s *styles) code(v any) string {
	if c, ok := v.(excelize.Cell); ok {
		if code, ok := s.codes[c.StyleID]; ok {
			return code
		}
	}
	return "General"
}
