package convert

import (
	"context"

	"github.com/insights-export/insights-export/internal/dataset"
)

// The workbook side as the converter sees it. xlsx.go adapts package xlsx
// to it; tests can feed tables without building workbooks.
type (
	workbook interface {
		Sheets() []string
		// Close releases the spooled file.
		Close() error
		// Read streams one sheet: onHeader once the header row is known
		// (not at all for a sheet without one), then onRow for every data
		// row in order. It returns the number of data rows it read.
		Read(ctx context.Context, sheet string, onHeader func(header) error, onRow func(row) error) (int64, error)
	}
	header struct {
		Row      int
		Preamble []string
		Columns  []dataset.Column
	}
	row struct {
		Number int
		Values []string
		Dates  []bool
		// Added are columns this row brought beyond the header (a ragged
		// row); they are part of the sheet from this row on.
		Added []dataset.Column
	}
)
