package export

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"io"
	"io/fs"
	"strings"
)

// bookZip writes the workbook's zip at deflate's fastest level (a third of
// the time of the default for files about a fifth larger) and makes every
// chart's category axis a text axis.
//
// excelize always marks a category axis "auto", which makes Excel and
// LibreOffice treat a column of dates as a date axis; LibreOffice then
// ignores the label interval and prints every day of a year on top of each
// other, an unreadable band. As a text axis the dates still show in their
// cells' format, a dozen labels apart.
type bookZip struct {
	zw    *zip.Writer
	chart *bytes.Buffer // the chart part being written, fixed on the next Create or Close
	dst   io.Writer
}

func newBookZip(w io.Writer) *bookZip {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	return &bookZip{zw: zw}
}

func (z *bookZip) Create(name string) (io.Writer, error) {
	if err := z.flushChart(); err != nil {
		return nil, err
	}
	w, err := z.zw.Create(name)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(name, "xl/charts/chart") && strings.HasSuffix(name, ".xml") {
		z.chart, z.dst = &bytes.Buffer{}, w
		return z.chart, nil
	}
	return w, nil
}

func (z *bookZip) flushChart() error {
	if z.chart == nil {
		return nil
	}
	fixed := bytes.ReplaceAll(z.chart.Bytes(), []byte(`<auto val="1"></auto>`), []byte(`<auto val="0"></auto>`))
	// Category labels on one line each: wrapped, a date stacks up as a
	// column of single characters under each bar.
	if i := bytes.Index(fixed, []byte("<catAx>")); i >= 0 {
		if j := bytes.Index(fixed[i:], []byte("</catAx>")); j >= 0 {
			ax := bytes.ReplaceAll(fixed[i:i+j], []byte(`rot="0" spcFirstLastPara="true" vert="horz" vertOverflow="ellipsis" wrap="square"`), []byte(`rot="-2700000" spcFirstLastPara="true" vert="horz" vertOverflow="ellipsis" wrap="none"`))
			fixed = append(append(append([]byte{}, fixed[:i]...), ax...), fixed[i+j:]...)
		}
	}
	_, err := z.dst.Write(fixed)
	z.chart, z.dst = nil, nil
	return err
}

func (z *bookZip) AddFS(fsys fs.FS) error {
	if err := z.flushChart(); err != nil {
		return err
	}
	return z.zw.AddFS(fsys)
}

func (z *bookZip) Close() error {
	if err := z.flushChart(); err != nil {
		return err
	}
	return z.zw.Close()
}
