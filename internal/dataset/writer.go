package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Source is the stored report the rows come from.
type Source struct {
	UPN          string
	JobID        string
	ReportKey    string
	ReportSHA256 string
	ExportedAt   time.Time
}

// File is one Parquet file a Writer produced, spooled on local disk.
type File struct {
	Partition string
	Path      string
	Rows      int64
}

// Column is one report column of a sheet: its normalized name and the
// header text as the report has it.
type Column struct {
	Name   string `json:"name"`
	Header string `json:"header"`
}

// Metadata keys of every file (Parquet key-value metadata).
const (
	MetaReportKey = "insights-export.report_key"
	MetaSheets    = "insights-export.sheets" // JSON: [{sheet, headerRow, preamble, columns: [{name, header}]}]
)

// SheetInfo describes a converted sheet, for the metadata and the step's
// output.
type SheetInfo struct {
	Sheet     string   `json:"sheet"`
	HeaderRow int      `json:"headerRow"`
	Preamble  []string `json:"preamble,omitempty"`
	Columns   []Column `json:"columns"`
	Rows      int64    `json:"rows"`
}

// Writer turns a report's rows into one Parquet file per UTC day, spooled
// under a local folder. Memory stays bounded whatever the row count: rows
// are buffered per file up to a budget across all files, past which the
// fullest file's rows are flushed as a row group.
type Writer struct {
	dir    string
	src    Source
	parts  map[string]*partition
	sheets []*SheetInfo
	// buffered counts rows held in memory across all partitions.
	buffered   int
	maxBuffer  int
	rowGroup   int64
	rows       int64
	closed     bool
	timeParser func(string) (time.Time, bool)
}

type partition struct {
	file     *os.File
	w        *parquet.GenericWriter[Activity]
	rows     int64
	buffered int
}

// Options tune a Writer; zero values take the defaults.
type Options struct {
	// MaxBufferedRows bounds the rows held in memory across all files
	// (default 20,000).
	MaxBufferedRows int
	// RowGroupRows caps a row group (default 100,000).
	RowGroupRows int64
	// ParseTextTime reads a text cell as a time (for time columns whose
	// cells are text, not date cells); nil reads ISO-8601 only.
	ParseTextTime func(string) (time.Time, bool)
}

// NewWriter spools into dir (which must exist and is the caller's to
// remove).
func NewWriter(dir string, src Source, opts Options) *Writer {
	if opts.MaxBufferedRows <= 0 {
		opts.MaxBufferedRows = 20_000
	}
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = 100_000
	}
	if opts.ParseTextTime == nil {
		opts.ParseTextTime = parseISO
	}
	return &Writer{dir: dir, src: src, parts: map[string]*partition{}, maxBuffer: opts.MaxBufferedRows,
		rowGroup: opts.RowGroupRows, timeParser: opts.ParseTextTime}
}

// Rows is the number of rows written so far.
func (w *Writer) Rows() int64 { return w.rows }

// Sheets describes the sheets begun so far.
func (w *Writer) Sheets() []SheetInfo {
	out := make([]SheetInfo, len(w.sheets))
	for i, s := range w.sheets {
		out[i] = *s
	}
	return out
}

// SheetWriter writes the rows of one sheet.
type SheetWriter struct {
	w        *Writer
	info     *SheetInfo
	names    []string
	order    []int // column indexes sorted by name, for rowID
	eventCol int
	time     *TimeColumn
	buf      []byte // rowID's, reused
}

func (s *SheetWriter) sortColumns() {
	s.order = s.order[:0]
	for i := range s.names {
		s.order = append(s.order, i)
	}
	slices.SortFunc(s.order, func(a, b int) int { return strings.Compare(s.names[a], s.names[b]) })
}

// Sheet begins a sheet whose header gave columns. Columns found later
// (ragged rows) are passed to AddColumn.
func (w *Writer) Sheet(name string, headerRow int, preamble []string, columns []Column) *SheetWriter {
	return w.SheetWith(name, headerRow, preamble, columns, nil)
}

// SheetWith is Sheet with a text-time parser of its own for this sheet
// (nil: the writer's), for a sheet whose text dates are day-first.
func (w *Writer) SheetWith(name string, headerRow int, preamble []string, columns []Column, parseText func(string) (time.Time, bool)) *SheetWriter {
	if parseText == nil {
		parseText = w.timeParser
	}
	info := &SheetInfo{Sheet: name, HeaderRow: headerRow, Preamble: preamble, Columns: slices.Clone(columns)}
	w.sheets = append(w.sheets, info)
	s := &SheetWriter{w: w, info: info}
	for _, c := range columns {
		s.names = append(s.names, c.Name)
	}
	s.eventCol = eventTypeColumn(s.names)
	s.time = NewTimeColumn(s.names, parseText)
	s.sortColumns()
	return s
}

// AddColumn records a column a ragged row brought: it has no header.
func (s *SheetWriter) AddColumn(c Column) {
	s.info.Columns = append(s.info.Columns, c)
	s.names = append(s.names, c.Name)
	s.sortColumns()
}

// Write adds one data row: values in the sheet's column order (shorter
// than the columns is fine: the rest are empty), dates[i] true where
// values[i] came from a date cell (ISO-8601 text).
func (s *SheetWriter) Write(sourceRow int, values []string, dates []bool) error {
	if len(values) > len(s.names) {
		return fmt.Errorf("dataset: row %d of sheet %q has %d values for %d columns", sourceRow, s.info.Sheet, len(values), len(s.names))
	}
	cols := make(map[string]string, len(values))
	for i, v := range values {
		if v != "" {
			cols[s.names[i]] = v
		}
	}
	a := Activity{
		UPN: s.w.src.UPN, JobID: s.w.src.JobID, ReportKey: s.w.src.ReportKey, ReportSHA256: s.w.src.ReportSHA256,
		Sheet: s.info.Sheet, SourceRow: int64(sourceRow), ExportedAt: s.w.src.ExportedAt.UTC(), Columns: cols,
	}
	a.RowID = rowID(s.buf, a.UPN, a.Sheet, s.names, values, s.order)
	if s.eventCol >= 0 && s.eventCol < len(values) && values[s.eventCol] != "" {
		et := values[s.eventCol]
		a.EventType = &et
	}
	a.ActivityTime = s.time.Observe(values, dates)
	s.info.Rows++
	return s.w.add(a)
}

// TimeColumn is the name of the column activity_time comes from, "" when
// none was found (yet).
func (s *SheetWriter) TimeColumn() string { return s.time.Name() }

func (w *Writer) add(a Activity) error {
	if w.closed {
		return errors.New("dataset: writer is closed")
	}
	dt := Partition(a.ActivityTime)
	p, err := w.partition(dt)
	if err != nil {
		return err
	}
	if _, err := p.w.Write([]Activity{a}); err != nil {
		return fmt.Errorf("dataset: write %s: %w", dt, err)
	}
	p.rows++
	p.buffered++
	w.rows++
	w.buffered++
	if p.buffered >= int(w.rowGroup) {
		return w.flush(p)
	}
	if w.buffered > w.maxBuffer {
		var fullest *partition
		for _, q := range w.parts {
			if fullest == nil || q.buffered > fullest.buffered {
				fullest = q
			}
		}
		return w.flush(fullest)
	}
	return nil
}

func (w *Writer) flush(p *partition) error {
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("dataset: flush: %w", err)
	}
	w.buffered -= p.buffered
	p.buffered = 0
	return nil
}

func (w *Writer) partition(dt string) (*partition, error) {
	if p := w.parts[dt]; p != nil {
		return p, nil
	}
	f, err := os.Create(filepath.Join(w.dir, "dt="+dt+".parquet"))
	if err != nil {
		return nil, fmt.Errorf("dataset: spool: %w", err)
	}
	p := &partition{file: f, w: parquet.NewGenericWriter[Activity](f,
		parquet.Compression(&parquet.Zstd),
		parquet.DataPageStatistics(true),
		parquet.MaxRowsPerRowGroup(w.rowGroup),
		parquet.CreatedBy("insights-export", "", ""),
	)}
	w.parts[dt] = p
	return p, nil
}

// Close finishes every file, with the metadata of all sheets, and returns
// them sorted by partition. The files stay in the spool folder.
func (w *Writer) Close() ([]File, error) {
	if w.closed {
		return nil, errors.New("dataset: writer is closed")
	}
	w.closed = true
	sheets, err := json.Marshal(w.Sheets())
	if err != nil {
		return nil, err
	}
	var files []File
	var firstErr error
	for dt, p := range w.parts {
		p.w.SetKeyValueMetadata(MetaReportKey, w.src.ReportKey)
		p.w.SetKeyValueMetadata(MetaSheets, string(sheets))
		if err := p.w.Close(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("dataset: close %s: %w", dt, err)
		}
		if err := p.file.Close(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("dataset: close %s: %w", dt, err)
		}
		files = append(files, File{Partition: dt, Path: p.file.Name(), Rows: p.rows})
	}
	if firstErr != nil {
		return nil, firstErr
	}
	slices.SortFunc(files, func(a, b File) int {
		switch {
		case a.Partition < b.Partition:
			return -1
		case a.Partition > b.Partition:
			return 1
		}
		return 0
	})
	return files, nil
}

// parseISO reads the ISO-8601 text the workbook reader gives date cells
// (2026-11-24T13:05:00), and the same with a zone or fraction.
func parseISO(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02T15:04:05", time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
