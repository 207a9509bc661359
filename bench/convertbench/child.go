package convertbench

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/insights-export/insights-export/internal/convert"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/xlsx"
)

// The modes bench/cmd/convertchild runs, one per process, so that each
// has a peak RSS of its own.
const (
	ModeBaseline = "excelize"     // excelize's streaming Rows() over every sheet
	ModeRaw      = "excelize-raw" // the same with RawCellValue: no number formats applied
	ModeReader   = "reader"       // internal/xlsx over every sheet, no Parquet
	ModeConvert  = "convert"      // convert.Converter.Handle, S3 replaced by local files
	ModeSpool    = "spool"        // the part of Handle before the workbook: ZIP copied with SHA-256, workbook extracted
)

// Modes are the measured modes in the order the report lists them.
var Modes = []string{ModeBaseline, ModeRaw, ModeReader, ModeConvert, ModeSpool}

// ChildResult is what a child prints on stdout as JSON; the parent adds
// the process's rusage.
type ChildResult struct {
	Mode    string  `json:"mode"`
	Rows    int64   `json:"rows"`    // data rows delivered (headers not counted)
	Seconds float64 `json:"seconds"` // the work alone, without process start
	// Converter only: what Handle wrote.
	ParquetFiles int   `json:"parquetFiles,omitempty"`
	ParquetBytes int64 `json:"parquetBytes,omitempty"`
	// Reader only: xlsx.Open's time and the peak RSS right after it (the
	// shared-string table loaded, no row read yet).
	OpenSeconds    float64 `json:"openSeconds,omitempty"`
	VmHWMAtOpenKiB int64   `json:"vmHWMAtOpenKiB,omitempty"`
	// Go runtime and kernel figures at the end, to explain the RSS.
	VmHWMKiB      int64   `json:"vmHWMKiB"`
	HeapSysMiB    float64 `json:"heapSysMiB"`
	TotalAllocMiB float64 `json:"totalAllocMiB"`
	NumGC         uint32  `json:"numGC"`
	// Check is a digest of what was read (lengths of every value), so a
	// reader that skips work would show.
	Check int64 `json:"check"`
}

// Job is what a child is asked to do.
type Job struct {
	Mode      string `json:"mode"`
	XLSX      string `json:"xlsx"`      // the workbook (baseline, reader)
	ZIP       string `json:"zip"`       // the report ZIP (convert, spool)
	ZIPSHA256 string `json:"zipSha256"` // as the store step reports it (convert)
	Spool     string `json:"spool"`     // a folder the mode may write in
}

// RunChild runs one job.
func RunChild(ctx context.Context, job Job) (ChildResult, error) {
	var (
		res ChildResult
		err error
	)
	began := time.Now()
	switch job.Mode {
	case ModeBaseline:
		res, err = runExcelize(job.XLSX, excelize.Options{})
	case ModeRaw:
		res, err = runExcelize(job.XLSX, excelize.Options{RawCellValue: true})
	case ModeReader:
		res, err = runReader(ctx, job.XLSX)
	case ModeConvert:
		res, err = runConvert(ctx, job.ZIP, job.ZIPSHA256, job.Spool)
	case ModeSpool:
		res, err = runSpool(job.ZIP, job.Spool)
	default:
		err = fmt.Errorf("unknown mode %q", job.Mode)
	}
	res.Seconds = time.Since(began).Seconds()
	res.Mode = job.Mode
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapSysMiB = float64(ms.HeapSys) / (1 << 20)
	res.TotalAllocMiB = float64(ms.TotalAlloc) / (1 << 20)
	res.NumGC = ms.NumGC
	res.VmHWMKiB = vmHWM()
	return res, err
}

// runExcelize is the baseline: excelize opened as its docs advise for a
// large file (OpenFile, whose worksheets past UnzipXMLSizeLimit are
// extracted to temp files rather than held), then Rows() and Columns() over
// every row of every sheet: excelize's own streaming read.
func runExcelize(path string, opts excelize.Options) (ChildResult, error) {
	var res ChildResult
	f, err := excelize.OpenFile(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	for _, sheet := range f.GetSheetList() {
		rows, err := f.Rows(sheet)
		if err != nil {
			return res, err
		}
		first := true
		for rows.Next() {
			cols, err := rows.Columns(opts)
			if err != nil {
				rows.Close()
				return res, err
			}
			if first { // the header
				first = false
				continue
			}
			res.Rows++
			for _, c := range cols {
				res.Check += int64(len(c))
			}
		}
		if err := rows.Error(); err != nil {
			rows.Close()
			return res, err
		}
		if err := rows.Close(); err != nil {
			return res, err
		}
	}
	return res, nil
}

// runReader reads every sheet with internal/xlsx, as the converter's
// workbook adapter does (TableWith), and discards the rows.
func runReader(ctx context.Context, path string) (ChildResult, error) {
	var res ChildResult
	fh, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return res, err
	}
	began := time.Now()
	wb, err := xlsx.Open(fh, st.Size())
	if err != nil {
		return res, err
	}
	res.OpenSeconds, res.VmHWMAtOpenKiB = time.Since(began).Seconds(), vmHWM()
	for _, sheet := range wb.Sheets() {
		if _, err := wb.TableWith(ctx, sheet, xlsx.TableOptions{OnHeader: func(*xlsx.Table) error { return nil }}, func(r xlsx.Row) error {
			res.Rows++
			for _, v := range r.Values {
				res.Check += int64(len(v))
			}
			return nil
		}); err != nil {
			return res, err
		}
	}
	return res, nil
}

// ReportKey is where the benchmark's report "is stored": a key of the
// form the store step writes (request.ObjectKey).
func ReportKey() string {
	return request.ObjectKey("reports", request.Query{Email: ReportUser, StartTime: WindowEnd.Add(-window).Format(request.TimeLayout), FinishTime: WindowEnd.Format(request.TimeLayout)})
}

// ConverterEnv is the function's environment for convert.LoadConverter:
// the template's variables, and placeholder AWS settings that
// config.AWSConfig needs to build a client that is never called (the
// benchmark replaces the S3 side).
func ConverterEnv() map[string]string {
	return map[string]string{
		"REPORT_BUCKET":         "bench-reports",
		"REPORT_PREFIX":         "reports",
		"DATASET_PREFIX":        "dataset",
		"LOG_LEVEL":             "warn",
		"AWS_REGION":            "us-east-1",
		"AWS_ACCESS_KEY_ID":     "bench-placeholder",
		"AWS_SECRET_ACCESS_KEY": "bench-placeholder",
	}
}

// runConvert runs the function's handler as functions/convertreport
// builds it (convert.LoadConverter: the real workbook opener, text-time
// parser, layout and limits), with its two S3 dependencies replaced by
// local ones: the report "downloads" from zipPath through the same
// copy-and-hash as storage.Files.Download, and the Parquet files are
// stat'ed instead of uploaded. Everything between — spooling, extraction,
// the probe pass, xlsx → dataset → Parquet, the row checks — is Handle's
// own code.
func runConvert(ctx context.Context, zipPath, sum, spool string) (ChildResult, error) {
	var res ChildResult
	env := ConverterEnv()
	for k, v := range env {
		// config.AWSConfig reads the process environment; this process is
		// the benchmark's own, so nothing the machine has set leaks in.
		if err := os.Setenv(k, v); err != nil {
			return res, err
		}
	}
	c, err := convert.LoadConverter(func(k string) string { return env[k] })
	if err != nil {
		return res, err
	}
	files := &localFiles{report: zipPath}
	c.Files, c.Records, c.SpoolDir = files, discardRecords{}, spool
	// The function logs to stdout; here stdout carries the result.
	c.Log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	in := request.ExportOutput{
		Bucket: env["REPORT_BUCKET"], Key: ReportKey(), JobID: ReportJobID, SHA256: sum, Email: ReportUser,
		FinishTime: WindowEnd.Format(request.TimeLayout), ContentType: "application/zip", StoredAt: WindowEnd.Format(time.RFC3339),
	}
	out, err := c.Handle(ctx, in)
	if err != nil {
		return res, err
	}
	if out.Dataset == nil {
		return res, errors.New("the handler returned no dataset")
	}
	res.Rows = out.Dataset.Rows
	res.ParquetFiles, res.ParquetBytes = files.puts, files.putBytes
	res.Check = out.Dataset.Rows
	return res, nil
}

// localFiles stands in for storage.Files.
type localFiles struct {
	report   string
	puts     int
	putBytes int64
}

// Download is storage.Files.Download with the object read from a local
// file instead of a GetObject body.
func (l *localFiles) Download(_ context.Context, _ string, w io.Writer, limit int64) (int64, string, error) {
	f, err := os.Open(l.report)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(f, limit+1))
	if err != nil {
		return n, "", err
	}
	if n > limit {
		return n, "", fmt.Errorf("object is larger than %d bytes", limit)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// PutFile records the file's size: the upload is the network's cost, not
// the conversion's.
func (l *localFiles) PutFile(_ context.Context, _, path, _ string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	l.puts++
	l.putBytes += st.Size()
	return nil
}

func (l *localFiles) Delete(context.Context, string) error { return nil }

// discardRecords stands in for storage.Objects: no earlier conversion.
type discardRecords struct{}

func (discardRecords) GetJSON(context.Context, string, string, any) (bool, error) { return false, nil }

func (discardRecords) PutJSON(_ context.Context, _ string, v any) error {
	_, err := json.Marshal(v)
	return err
}

// runSpool does what Handle does before it opens the workbook: the report
// copied into the spool with its SHA-256 (localFiles.Download), the ZIP
// opened and its workbook extracted. Subtracted from the converter's time
// it gives the conversion proper.
func runSpool(zipPath, spool string) (ChildResult, error) {
	var res ChildResult
	dir, err := os.MkdirTemp(spool, "spool-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, "report.zip")
	f, err := os.Create(dst)
	if err != nil {
		return res, err
	}
	_, _, err = (&localFiles{report: zipPath}).Download(context.Background(), "", f, convert.DefaultMaxReportBytes)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	zr, err := zip.OpenReader(dst)
	if err != nil {
		return res, err
	}
	defer zr.Close()
	for i, e := range zr.File {
		if !strings.HasSuffix(strings.ToLower(e.Name), ".xlsx") {
			continue
		}
		rc, err := e.Open()
		if err != nil {
			return res, err
		}
		out, err := os.Create(filepath.Join(dir, "book-"+strconv.Itoa(i)+".xlsx"))
		if err != nil {
			rc.Close()
			return res, err
		}
		n, err := io.Copy(out, io.LimitReader(rc, convert.DefaultMaxWorkbookBytes+1))
		rc.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return res, err
		}
		res.Check += n
	}
	return res, nil
}

// vmHWM is the process's peak resident set (VmHWM in /proc/self/status),
// in KiB; 0 where there is no /proc.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return parseVmHWM(b)
}

// parseVmHWM reads the "VmHWM:  123456 kB" line of a /proc status file.
func parseVmHWM(status []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 2 && f[1] == "kB" {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return n
			}
		}
	}
	return 0
}
