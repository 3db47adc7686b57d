package export

import (
	"errors"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/attache/attache/internal/human"
	"github.com/attache/attache/internal/report"
)

// summary writes the Summary sheet, first in the workbook: what the report
// is, when its data is from, and each number panel with its value, period
// and change, in the words of the page and the digest ("November 2026: 225
// ▲ 6.6% vs October"), then the sheets that follow, linked. names are the
// panels' sheet names.
func (b *book) summary(runner *report.Runner, rep *report.Report, names []string, fresh *report.Freshness, now time.Time) error {
	const name = "Summary"
	if err := b.addSheet(name); err != nil {
		return err
	}
	f, st := b.f, b.st
	loc := now.Location()
	var errs []error
	row := 1
	put := func(col int, v any, style int) {
		cell, _ := excelize.CoordinatesToCellName(col, row)
		var err error
		if c, ok := v.(excelize.Cell); ok {
			v = c.Value
			if style == 0 {
				style = c.StyleID
			}
		}
		switch x := v.(type) {
		case nil:
		case string:
			err = f.SetCellStr(name, cell, cellText(x))
		default:
			err = f.SetCellValue(name, cell, x)
		}
		if err == nil && style != 0 {
			err = f.SetCellStyle(name, cell, cell, style)
		}
		errs = append(errs, err)
	}
	link := func(col int, sheet string) {
		cell, _ := excelize.CoordinatesToCellName(col, row)
		put(col, sheet, 0)
		errs = append(errs, f.SetCellHyperLink(name, cell, quoteSheet(sheet)+"!A1", "Location"))
	}
	put(1, rep.Title, st.title)
	row++
	if rep.Description != "" {
		put(1, firstSentence(rep.Description), st.muted)
		row++
	}
	put(1, "Data "+fresh.Stamp(loc), st.muted)
	row++
	put(1, "Made "+human.When(now, loc), st.muted)
	row += 2

	var numbers []int
	for i, p := range rep.Panels {
		if p.Chart == report.ChartNumber {
			numbers = append(numbers, i)
		}
	}
	if len(numbers) > 0 {
		for i, h := range []string{"Number", "Value", "Period", "Change", "Against", "In words", "Sheet"} {
			put(i+1, h, st.header)
		}
		row++
		for _, i := range numbers {
			p := rep.Panels[i]
			d := runner.Run(p)
			put(1, p.Title, st.label)
			switch why, withheld := report.Withheld(d.Err); {
			case withheld:
				put(2, "left out: "+why, st.muted)
			case d.Err != nil:
				put(2, "failed: "+d.Err.Error(), st.errText)
			default:
				h := d.Headline()
				col := ""
				if len(p.Y) > 0 {
					col = p.Y[0]
				} else if len(d.Columns) > 0 {
					col = d.Columns[0]
				}
				if cur, ok := report.MoneyCurrency(p.Format[col]); ok {
					errs = append(errs, st.useMoney(cur))
				}
				if h.Value == nil {
					put(2, report.NoValue, st.big)
				} else {
					put(2, st.cell(kindOf(p.Format[col]), h.Value), 0)
				}
				put(3, h.Period, 0)
				switch {
				case h.HasChange && h.Change != nil:
					put(4, *h.Change, st.change)
				case h.HasChange:
					put(4, report.NoValue, 0)
				}
				put(5, h.Versus, 0)
				put(6, h.String(), st.wrap)
			}
			link(7, names[i])
			row++
		}
		row++
	}
	put(1, "Sheets", st.label)
	row++
	for i, p := range rep.Panels {
		put(1, p.Title, 0)
		link(2, names[i])
		row++
	}
	put(1, "About", 0)
	link(2, "About")
	for col, w := range map[string]float64{"A": 38, "B": 16, "C": 18, "D": 13, "E": 16, "F": 46, "G": 28} {
		errs = append(errs, f.SetColWidth(name, col, col, w))
	}
	errs = append(errs, printOnePageWide(f, name))
	return errors.Join(errs...)
}

// printOnePageWide sets a sheet to print landscape and one page wide, so a
// table and the chart beside it land on the same pages of a PDF. A stream
// writer writes a sheet's properties when it starts: fitToPage first, then
// the page layout, which is written at the end.
func printOnePageWide(f *excelize.File, sheet string) error {
	if err := fitToPage(f, sheet); err != nil {
		return err
	}
	return pageLayout(f, sheet)
}

func fitToPage(f *excelize.File, sheet string) error {
	fit := true
	return f.SetSheetProps(sheet, &excelize.SheetPropsOptions{FitToPage: &fit})
}

func pageLayout(f *excelize.File, sheet string) error {
	wide, tall, land := 1, 0, "landscape"
	return f.SetPageLayout(sheet, &excelize.PageLayoutOptions{FitToWidth: &wide, FitToHeight: &tall, Orientation: &land})
}

// firstSentence is a description's opening sentence.
func firstSentence(s string) string {
	for i := 0; i+1 < len(s); i++ {
		if (s[i] == '.' || s[i] == '?' || s[i] == '!') && s[i+1] == ' ' {
			return s[:i+1]
		}
	}
	return s
}
