package convert

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/insights-export/insights-export/internal/dataset"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/metrics"
	"github.com/insights-export/insights-export/internal/request"
)

// Limits of what a conversion spools (the function's ephemeral storage
// holds the report, one workbook and the Parquet files at once).
const (
	DefaultMaxReportBytes   = 1 << 30
	DefaultMaxWorkbookBytes = 2 << 30
	// probeRows is how many data rows of each sheet decide whether it holds
	// activities (a time column that parses) or is a summary.
	probeRows = 50
	// parquetType is the Content-Type of the dataset's objects.
	parquetType = "application/vnd.apache.parquet"
)

// Interfaces the step needs, declared where they are used.
type (
	fileStore interface {
		Download(ctx context.Context, key string, w io.Writer, limit int64) (int64, string, error)
		PutFile(ctx context.Context, key, path, contentType string) error
		Delete(ctx context.Context, key string) error
	}
	recordStore interface {
		GetJSON(ctx context.Context, bucket, key string, into any) (bool, error)
		PutJSON(ctx context.Context, key string, v any) error
	}
)

// Converter is the ConvertReport function's handler.
type Converter struct {
	Files   fileStore
	Records recordStore
	Bucket  string // REPORT_BUCKET: the reports and the dataset
	Prefix  string // REPORT_PREFIX: where reports are
	Layout  dataset.Layout
	// Open reads a workbook spooled at path (xlsx.go: openWorkbook).
	Open func(path string) (workbook, error)
	// ParseTextTime reads text cells of a time column.
	ParseTextTime func(string) (time.Time, bool)
	// SpoolDir is where the report, workbook and Parquet files go
	// ("" = os.TempDir(), which is /tmp on Lambda).
	SpoolDir         string
	MaxReportBytes   int64
	MaxWorkbookBytes int64
	Log              *slog.Logger
	Now              func() time.Time
	// Metrics gets RowsConverted and DatasetObjects per converted report,
	// the backfill's included (nil: none).
	Metrics *metrics.Emitter
}

// Record is <dataset prefix>/conversions/<report id>.json: what the last
// conversion of a report wrote. A rerun reads it to delete the files of
// days it no longer has; it is written as "pending" with the union of old
// and new objects before any upload, so a conversion that dies midway
// leaves no file the next one cannot find.
type Record struct {
	ReportKey    string   `json:"reportKey"`
	ReportSHA256 string   `json:"reportSha256"`
	Status       string   `json:"status"` // "pending" or "done"
	Objects      []string `json:"objects"`
	Rows         int64    `json:"rows"`
	ConvertedAt  string   `json:"convertedAt"`
}

// Handle converts the report the store step stored: its input is the
// store step's output, and so is its output, with Dataset filled in.
func (c *Converter) Handle(ctx context.Context, in request.ExportOutput) (request.ExportOutput, error) {
	if err := c.check(in); err != nil {
		c.Log.WarnContext(ctx, "convert input refused", "error", err.Error())
		return request.ExportOutput{}, err
	}
	reportID := dataset.ReportID(in.Key)
	log := c.Log.With("user", request.UserRef(in.Email), "report", reportID)
	spool, err := os.MkdirTemp(c.SpoolDir, "convert-")
	if err != nil {
		return request.ExportOutput{}, fmt.Errorf("convert: spool: %w", err)
	}
	// /tmp outlives the invocation on a warm container: always clean up.
	defer os.RemoveAll(spool)

	ds, files, err := c.convert(ctx, in, reportID, spool)
	if err != nil {
		log.ErrorContext(ctx, "report not converted", "error", err.Error())
		return request.ExportOutput{}, err
	}
	if err := c.publish(ctx, in, reportID, files, ds); err != nil {
		log.ErrorContext(ctx, "dataset files not written", "error", err.Error())
		return request.ExportOutput{}, err
	}
	log.InfoContext(ctx, "report converted", "rows", ds.Rows, "objects", len(ds.Objects), "sheets", len(ds.Sheets))
	c.Metrics.Emit(ctx,
		metrics.Metric{Name: metrics.RowsConverted, Unit: metrics.Count, Value: float64(ds.Rows)},
		metrics.Metric{Name: metrics.DatasetObjects, Unit: metrics.Count, Value: float64(len(ds.Objects))})
	out := in
	out.Dataset = ds
	return out, nil
}

// check refuses input that is not a stored report of this stack.
func (c *Converter) check(in request.ExportOutput) error {
	bad := func(field, reason string) error { return &failure.ValidationError{Field: field, Reason: reason} }
	prefix := strings.Trim(c.Prefix, "/")
	switch {
	case in.Bucket == "" || in.Key == "" || in.Email == "":
		return bad("key", "the convert step needs the store step's output (bucket, key, email)")
	case in.Bucket != c.Bucket:
		return bad("bucket", "is not the report bucket of this stack")
	case !strings.HasPrefix(in.Key, path.Join(prefix, "user=")) || !strings.HasSuffix(in.Key, ".zip") || strings.Contains(in.Key, ".."):
		return bad("key", "is not a report key of this stack (<prefix>/user=…/activities.zip)")
	case in.SHA256 != "" && !isHex64(in.SHA256):
		return bad("sha256", "is not a hex SHA-256")
	}
	return nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// conversionError names the report without the user's address.
func (c *Converter) conversionError(in request.ExportOutput, format string, args ...any) error {
	return &failure.ConversionError{Report: dataset.ReportID(in.Key) + " (user " + request.UserRef(in.Email) + ")", Reason: fmt.Sprintf(format, args...)}
}

// convert spools the report and writes its rows into Parquet files in the
// spool folder.
func (c *Converter) convert(ctx context.Context, in request.ExportOutput, reportID, spool string) (*request.Dataset, []dataset.File, error) {
	zipPath := filepath.Join(spool, "report.zip")
	f, err := os.Create(zipPath)
	if err != nil {
		return nil, nil, fmt.Errorf("convert: spool: %w", err)
	}
	_, sum, err := c.Files.Download(ctx, in.Key, f, or(c.MaxReportBytes, DefaultMaxReportBytes))
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("convert: spool: %w", cerr)
	}
	if err != nil {
		return nil, nil, err
	}
	if in.SHA256 != "" && sum != in.SHA256 {
		// A rerun stored a newer report under the same key since; that one
		// gets its own conversion.
		return nil, nil, c.conversionError(in, "the stored object's SHA-256 is not the one the store step reported (the report was replaced since)")
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, nil, c.conversionError(in, "the report is not a readable ZIP archive: %v", err)
	}
	defer zr.Close()
	var books []*zip.File
	var names []string
	for _, e := range zr.File {
		names = append(names, e.Name)
		if !e.FileInfo().IsDir() && strings.EqualFold(path.Ext(e.Name), ".xlsx") && !strings.HasPrefix(e.Name, "__MACOSX/") {
			books = append(books, e)
		}
	}
	if len(books) == 0 {
		return nil, nil, c.conversionError(in, "the report holds no .xlsx workbook (%d entries: %s)", len(names), listNames(names))
	}
	src := dataset.Source{UPN: strings.ToLower(in.Email), JobID: in.JobID, ReportKey: in.Key, ReportSHA256: sum, ExportedAt: c.exportedAt(in)}
	parquetDir := filepath.Join(spool, "parquet")
	if err := os.Mkdir(parquetDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("convert: spool: %w", err)
	}
	w := dataset.NewWriter(parquetDir, src, dataset.Options{ParseTextTime: c.ParseTextTime})
	ds := &request.Dataset{Bucket: c.Bucket, Prefix: c.Layout.ActivitiesPrefix()}
	for i, e := range books {
		label := ""
		if len(books) > 1 {
			label = path.Base(e.Name) + "!"
		}
		bookPath := filepath.Join(spool, fmt.Sprintf("book-%d.xlsx", i))
		if err := c.extract(e, bookPath); err != nil {
			return nil, nil, c.conversionError(in, "workbook %s: %v", quoteName(e.Name), err)
		}
		wb, err := c.Open(bookPath)
		if err != nil {
			return nil, nil, c.conversionError(in, "workbook %s: %v", quoteName(e.Name), err)
		}
		err = c.convertBook(ctx, wb, label, w, ds)
		_ = wb.Close()
		if err != nil {
			var ce *failure.ConversionError
			if errors.As(err, &ce) || ctx.Err() != nil {
				return nil, nil, err
			}
			return nil, nil, c.conversionError(in, "workbook %s: %v", quoteName(e.Name), err)
		}
		_ = os.Remove(bookPath)
	}
	files, err := w.Close()
	if err != nil {
		return nil, nil, c.conversionError(in, "%v", err)
	}
	var written, expected int64
	for _, f := range files {
		written += f.Rows
	}
	for _, s := range ds.Sheets {
		if s.Converted {
			expected += s.Rows
		}
	}
	if written != expected || written != w.Rows() {
		return nil, nil, c.conversionError(in, "the sheets have %d data rows but %d were written", expected, written)
	}
	ds.Rows = written
	for _, f := range files {
		ds.Objects = append(ds.Objects, c.Layout.Key(f.Partition, reportID))
	}
	return ds, files, nil
}

// convertBook decides which sheets hold activities, then streams them.
func (c *Converter) convertBook(ctx context.Context, wb workbook, label string, w *dataset.Writer, ds *request.Dataset) error {
	type plan struct {
		sheet    string
		hasTable bool
		timed    bool
		order    *dateOrder
	}
	var plans []plan
	for _, sheet := range wb.Sheets() {
		p := plan{sheet: sheet}
		var tc *dataset.TimeColumn
		seen := 0
		_, err := wb.Read(ctx, sheet, func(h header) error {
			p.hasTable = true
			names := make([]string, len(h.Columns))
			for i, col := range h.Columns {
				names[i] = col.Name
			}
			tc = dataset.NewTimeColumn(names, c.ParseTextTime)
			p.order = newDateOrder(names)
			return nil
		}, func(r row) error {
			if !p.timed && tc.Observe(r.Values, r.Dates) != nil {
				p.timed = true
			}
			p.order.observe(r.Values, r.Dates)
			seen++
			switch {
			case p.order.seen && !p.order.decided():
				return nil // n/n/yyyy dates not yet ordered: read on, to the end if need be
			case p.timed || seen >= probeRows:
				return errProbeDone
			}
			return nil
		})
		if err != nil && !errors.Is(err, errProbeDone) {
			return fmt.Errorf("sheet %s: %w", quoteName(sheet), err)
		}
		if p.order == nil {
			p.order = newDateOrder(nil)
		}
		if !p.timed && p.order.dayFirst {
			p.timed = true // its dates failed month-first only
		}
		plans = append(plans, p)
	}
	anyTimed := slices.ContainsFunc(plans, func(p plan) bool { return p.timed })
	for _, p := range plans {
		info := request.DatasetSheet{Sheet: label + p.sheet}
		switch {
		case !p.hasTable:
			info.Reason = "no header row (an empty sheet)"
			ds.Sheets = append(ds.Sheets, info)
			continue
		case anyTimed && !p.timed:
			// Counted, not converted: its rows are totals, not activities.
			n, err := wb.Read(ctx, p.sheet, func(header) error { return nil }, func(row) error { return nil })
			if err != nil {
				return fmt.Errorf("sheet %s: %w", quoteName(p.sheet), err)
			}
			info.Rows, info.Reason = n, "no time column: a summary beside the activity sheets"
			ds.Sheets = append(ds.Sheets, info)
			continue
		}
		var sw *dataset.SheetWriter
		info.DateOrder = p.order.describe()
		n, err := wb.Read(ctx, p.sheet, func(h header) error {
			sw = w.SheetWith(info.Sheet, h.Row, h.Preamble, h.Columns, p.order.parser(c.ParseTextTime))
			for _, col := range h.Columns {
				if !slices.Contains(ds.Columns, col.Name) {
					ds.Columns = append(ds.Columns, col.Name)
				}
			}
			return nil
		}, func(r row) error {
			for _, col := range r.Added {
				sw.AddColumn(col)
				if !slices.Contains(ds.Columns, col.Name) {
					ds.Columns = append(ds.Columns, col.Name)
				}
			}
			return sw.Write(r.Number, r.Values, r.Dates)
		})
		if err != nil {
			return fmt.Errorf("sheet %s: %w", quoteName(p.sheet), err)
		}
		written := int64(0)
		for _, s := range w.Sheets() {
			if s.Sheet == info.Sheet {
				written = s.Rows
			}
		}
		if written != n {
			return &failure.ConversionError{Report: label + p.sheet, Reason: fmt.Sprintf("sheet has %d data rows but %d were written", n, written)}
		}
		info.Rows, info.Converted, info.TimeColumn = n, true, sw.TimeColumn()
		if info.TimeColumn == "" {
			info.Reason = "no time column: rows are in dt=" + dataset.NoTimePartition
		}
		ds.Sheets = append(ds.Sheets, info)
	}
	return nil
}

var errProbeDone = errors.New("probe done")

// extract copies one ZIP entry to path, bounded.
func (c *Converter) extract(e *zip.File, dst string) error {
	limit := or(c.MaxWorkbookBytes, DefaultMaxWorkbookBytes)
	if e.UncompressedSize64 > uint64(limit) {
		return fmt.Errorf("is %d bytes uncompressed; at most %d", e.UncompressedSize64, limit)
	}
	rc, err := e.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, io.LimitReader(rc, limit+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > limit {
		err = fmt.Errorf("is larger than %d bytes", limit)
	}
	return err
}

// publish writes the record, the files, then deletes what an earlier
// conversion wrote and this one did not.
func (c *Converter) publish(ctx context.Context, in request.ExportOutput, reportID string, files []dataset.File, ds *request.Dataset) error {
	recordKey := c.Layout.RecordKey(reportID)
	var prev Record
	if _, err := c.Records.GetJSON(ctx, "", recordKey, &prev); err != nil {
		return err
	}
	now := c.Now().UTC().Format(time.RFC3339)
	rec := Record{ReportKey: in.Key, ReportSHA256: in.SHA256, Status: "pending", Rows: ds.Rows, ConvertedAt: now}
	rec.Objects = union(prev.Objects, ds.Objects)
	if err := c.Records.PutJSON(ctx, recordKey, rec); err != nil {
		return err
	}
	for i, f := range files {
		if err := c.Files.PutFile(ctx, ds.Objects[i], f.Path, parquetType); err != nil {
			return err
		}
	}
	for _, old := range prev.Objects {
		if !slices.Contains(ds.Objects, old) && strings.HasPrefix(old, c.Layout.ActivitiesPrefix()) {
			if err := c.Files.Delete(ctx, old); err != nil {
				return err
			}
		}
	}
	rec.Status, rec.Objects = "done", slices.Clone(ds.Objects)
	return c.Records.PutJSON(ctx, recordKey, rec)
}

func (c *Converter) exportedAt(in request.ExportOutput) time.Time {
	if t, err := time.Parse(time.RFC3339, in.StoredAt); err == nil {
		return t.UTC()
	}
	return c.Now().UTC()
}

func union(a, b []string) []string {
	out := slices.Clone(b)
	for _, s := range a {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func or(v, d int64) int64 {
	if v > 0 {
		return v
	}
	return d
}

// listNames renders entry names for a message: quoted, at most 5, each cut.
func listNames(names []string) string {
	var parts []string
	for i, n := range names {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(names)-5))
			break
		}
		parts = append(parts, quoteName(n))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func quoteName(s string) string {
	r := []rune(s)
	if len(r) > 60 {
		s = string(r[:60]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
