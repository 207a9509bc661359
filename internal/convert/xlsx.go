package convert

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/insights-export/insights-export/internal/dataset"
	"github.com/insights-export/insights-export/internal/xlsx"
)

// openWorkbook opens a spooled XLSX with package xlsx; Close closes the
// file (a deleted file still open would hold its space in /tmp across warm
// invocations).
func openWorkbook(path string) (workbook, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	wb, err := xlsx.Open(f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	// Memory for this workbook: a fixed allowance for the reader, the
	// writer and the Parquet buffers, plus its shared strings. As a soft
	// limit it makes the garbage collector work harder rather than let the
	// heap run to twice the live strings (GOGC's default); never above a
	// limit the environment set (GOMEMLIMIT).
	limit := memoryAllowance + wb.SharedStringBytes()
	prev := debug.SetMemoryLimit(-1)
	debug.SetMemoryLimit(min(limit, prev))
	return &xlsxBook{wb: wb, f: f, prevLimit: prev}, nil
}

// memoryAllowance is what converting a workbook needs besides its shared
// strings (BENCHMARKS.md, "Convert").
const memoryAllowance = 256 << 20

type xlsxBook struct {
	wb        *xlsx.Workbook
	f         *os.File
	prevLimit int64
}

func (b *xlsxBook) Close() error {
	debug.SetMemoryLimit(b.prevLimit)
	return b.f.Close()
}

func (b *xlsxBook) Sheets() []string { return b.wb.Sheets() }

func (b *xlsxBook) Read(ctx context.Context, sheet string, onHeader func(header) error, onRow func(row) error) (int64, error) {
	var live *xlsx.Table
	known := 0
	// No Reserved names: report columns live in the columns map, a name
	// space of their own, so a header "Event Type" stays event_type there
	// beside the fixed event_type column.
	opts := xlsx.TableOptions{
		OnHeader: func(t *xlsx.Table) error {
			live = t
			known = len(t.Columns)
			return onHeader(header{Row: t.HeaderRow, Preamble: t.Preamble, Columns: columns(t.Columns)})
		},
	}
	tbl, err := b.wb.TableWith(ctx, sheet, opts, func(r xlsx.Row) error {
		var added []dataset.Column
		if len(r.Values) > known {
			if live == nil || len(live.Columns) < len(r.Values) {
				return fmt.Errorf("row %d has %d values for %d columns", r.Number, len(r.Values), known)
			}
			added = columns(live.Columns[known:len(r.Values)])
			known = len(r.Values)
		}
		return onRow(row{Number: r.Number, Values: r.Values, Dates: r.Dates, Added: added})
	})
	if err != nil {
		return 0, err
	}
	return int64(tbl.Rows), nil
}

func columns(cs []xlsx.Column) []dataset.Column {
	out := make([]dataset.Column, len(cs))
	for i, c := range cs {
		out[i] = dataset.Column{Name: c.Name, Header: c.Header}
	}
	return out
}
