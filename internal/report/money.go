package report

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"

	"golang.org/x/text/currency"

	"github.com/attache/attache/internal/human"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Currency is how money columns show: an ISO 4217 code, its symbol and how
// many digits its minor unit has (2 for USD cents, 0 for JPY).
type Currency struct {
	Code   string
	Symbol string
	Digits int
}

// DefaultCurrency is what money shows in when the config names none.
const DefaultCurrency = "USD"

// ParseCurrency checks an ISO 4217 code (the `currency` config key) and
// finds its symbol and minor unit in CLDR's tables (golang.org/x/text).
func ParseCurrency(code string) (Currency, error) {
	if code == "" {
		code = DefaultCurrency
	}
	u, err := currency.ParseISO(code)
	if err != nil {
		return Currency{}, fmt.Errorf("%q is not an ISO 4217 currency code (such as USD, EUR, GBP, JPY)", code)
	}
	digits, _ := currency.Standard.Rounding(u)
	sym := message.NewPrinter(language.English).Sprint(currency.Symbol(u))
	return Currency{Code: u.String(), Symbol: sym, Digits: digits}, nil
}

// moneyPrefix starts the internal format of a money column once
// UseCurrency has named its currency: "money:EUR".
const moneyPrefix = FormatMoney + ":"

// UseCurrency makes every money column of the reports show in cur: its
// format becomes "money:CODE", which Display, the exports and the charts
// read through MoneyCurrency.
func UseCurrency(reps []*Report, cur Currency) {
	for _, r := range reps {
		for _, p := range r.Panels {
			for col, f := range p.Format {
				if f == FormatMoney || strings.HasPrefix(f, moneyPrefix) {
					p.Format[col] = moneyPrefix + cur.Code
				}
			}
		}
	}
}

// MoneyCurrency says whether a column format is money, and in which
// currency (USD for a plain "money" no config has named yet).
func MoneyCurrency(format string) (Currency, bool) {
	if format != FormatMoney && !strings.HasPrefix(format, moneyPrefix) {
		return Currency{}, false
	}
	cur, err := ParseCurrency(strings.TrimPrefix(strings.TrimPrefix(format, FormatMoney), ":"))
	if err != nil {
		cur, _ = ParseCurrency(DefaultCurrency)
	}
	return cur, true
}

// Major is an amount in minor units (cents) in major units (dollars), for
// charts and spreadsheet cells.
func (c Currency) Major(minor float64) float64 {
	return minor / math.Pow10(c.Digits)
}

// Format writes an amount in minor units exactly: 123456 cents is
// "$1,234.56". A fraction of a minor unit (an average) is rounded to the
// nearest one.
func (c Currency) Format(minor float64) string {
	return human.Money(int64(math.Round(minor)), c.Symbol, c.Digits)
}

// Load is LoadDir with money shown in the configured currency (the
// `currency` config key, an ISO 4217 code; "" is USD).
func Load(fsys fs.FS, currencyCode string) ([]*Report, error) {
	reps, err := LoadDir(fsys)
	cur, cerr := ParseCurrency(currencyCode)
	if cerr != nil {
		return reps, errors.Join(err, fmt.Errorf("currency: %w", cerr))
	}
	UseCurrency(reps, cur)
	return reps, err
}
