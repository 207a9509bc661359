package avesim

import (
	"archive/zip"
	"bytes"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/insights-export/insights-export/internal/testing/crc32x"
)

func TestCRC32Combine(t *testing.T) {
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 5000)
	_, _ = rng.Read(buf)
	for _, lens := range [][2]int{{0, 0}, {0, 17}, {17, 0}, {1, 1}, {100, 3}, {3, 100}, {4096, 904}, {1234, 3766}} {
		a, b := buf[:lens[0]], buf[lens[0]:lens[0]+lens[1]]
		t.Run(strconv.Itoa(lens[0])+"+"+strconv.Itoa(lens[1]), func(t *testing.T) {
			got := crc32x.Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b)))
			if want := crc32.ChecksumIEEE(append(slices.Clone(a), b...)); got != want {
				t.Fatalf("combine = %08x, want %08x", got, want)
			}
		})
	}
	block := buf[:777]
	for n := range int64(9) {
		t.Run("repeat"+strconv.FormatInt(n, 10), func(t *testing.T) {
			got := crc32Repeat(crc32.ChecksumIEEE(block), int64(len(block)), n)
			if want := crc32.ChecksumIEEE(bytes.Repeat(block, int(n))); got != want {
				t.Fatalf("repeat = %08x, want %08x", got, want)
			}
		})
	}
}

// openLargeReport opens a sized report the way a consumer would, reads
// every byte of both entries (archive/zip checks each entry's CRC-32 at
// EOF) and returns the workbook's data rows and the padding length.
func openLargeReport(t *testing.T, jobID string, r io.ReaderAt, size int64) ([][]string, int64) {
	t.Helper()
	zr, err := zip.NewReader(r, size)
	if err != nil {
		t.Fatalf("archive/zip cannot open the report: %v", err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{ReportXLSXName(jobID), ReportPaddingName}) {
		t.Fatalf("entries %v", names)
	}
	read := func(f *zip.File, w io.Writer) int64 {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		n, err := io.Copy(w, rc)
		if err != nil {
			t.Fatalf("reading %s: %v", f.Name, err) // zip.ErrChecksum on a wrong CRC
		}
		return n
	}
	var xb bytes.Buffer
	read(zr.File[0], &xb)
	pad := zr.File[1]
	if pad.Method != zip.Store {
		t.Errorf("padding method %d, want stored", pad.Method)
	}
	if n := read(pad, io.Discard); n != int64(pad.UncompressedSize64) {
		t.Fatalf("padding read %d bytes, header says %d", n, pad.UncompressedSize64)
	}
	f, err := excelize.OpenReader(&xb)
	if err != nil {
		t.Fatalf("excelize cannot open the workbook: %v", err)
	}
	defer f.Close()
	rows, err := f.GetRows(ReportSheet)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], ReportHeader()) {
		t.Fatalf("workbook header %v", rows)
	}
	return rows[1:], int64(pad.UncompressedSize64)
}

func TestReportSizeServesExactStreamedZIP(t *testing.T) {
	const size = 20<<20 + 12345 // not a multiple of the padding block
	tests := []struct {
		name string
		opts Options
		want int64
	}{
		{"server-wide size", Options{ReportSize: size, ReportRows: 9, PollsToFinish: -1}, size},
		{"plan overrides server", Options{ReportSize: 1 << 30, ReportRows: 9, PollsToFinish: -1,
			Plans: map[string]JobPlan{strings.ToUpper(guestEmail): {ReportSize: size - 1}}}, size - 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			tok := e.token(t)
			id, r := finishedJob(t, e, tok, guestSegment, "startTime=2024-03-01T00:00:00&finishTime=2024-03-02T00:00:00")
			if int64(len(r.body)) != tc.want {
				t.Fatalf("body is %d bytes, want %d", len(r.body), tc.want)
			}
			if cl := r.header.Get("Content-Length"); cl != strconv.FormatInt(tc.want, 10) {
				t.Errorf("Content-Length %q, want %d", cl, tc.want)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/zip" {
				t.Errorf("Content-Type %q", ct)
			}
			rows, padLen := openLargeReport(t, id, bytes.NewReader(r.body), int64(len(r.body)))
			if len(rows) != 9 || rows[0][1] != guestEmail {
				t.Errorf("workbook has %d rows (want 9), first %v", len(rows), rows[0])
			}
			if padLen < tc.want-64<<10 {
				t.Errorf("padding is %d bytes of %d: the workbook should be a few KiB", padLen, tc.want)
			}

			// Every way of getting the report gives the same bytes.
			again := e.get(t, "/insights/job/"+id+"/exportfile", tok)
			cached, err := e.srv.ReportZIP(id)
			if err != nil {
				t.Fatal(err)
			}
			var streamed bytes.Buffer
			if n, err := e.srv.WriteReport(id, &streamed); err != nil || n != tc.want {
				t.Fatalf("WriteReport = %d, %v", n, err)
			}
			ra, raSize, err := e.srv.ReportReaderAt(id)
			if err != nil || raSize != tc.want {
				t.Fatalf("ReportReaderAt size %d, %v", raSize, err)
			}
			viaAt := make([]byte, raSize)
			if _, err := ra.ReadAt(viaAt, 0); err != nil {
				t.Fatal(err)
			}
			for name, b := range map[string][]byte{"second download": again.body, "ReportZIP": cached, "WriteReport": streamed.Bytes(), "ReportReaderAt": viaAt} {
				if !bytes.Equal(b, r.body) {
					t.Errorf("%s differs from the first download", name)
				}
			}
			if j := e.srv.Jobs()[0]; j.Downloads != 2 {
				t.Errorf("downloads %d, want 2", j.Downloads)
			}
		})
	}
}

func TestReportSizeTooSmall(t *testing.T) {
	e := newEnv(t, Options{ReportSize: 100, PollsToFinish: -1})
	tok := e.token(t)
	id := e.startJob(t, tok, guestSegment, "")
	e.poll(t, tok, id)
	r := e.get(t, "/insights/job/"+id+"/exportfile", tok)
	if r.status != http.StatusInternalServerError || !strings.Contains(string(r.body), "below") {
		t.Fatalf("exportfile: %d %s", r.status, r.body)
	}
}

func TestReportSizeValidation(t *testing.T) {
	for name, opts := range map[string]Options{
		"negative size":      {ClientID: "c", ClientSecret: "s", ReportSize: -1},
		"negative rate":      {ClientID: "c", ClientSecret: "s", ReportRate: -1},
		"negative plan size": {ClientID: "c", ClientSecret: "s", Plans: map[string]JobPlan{"a@b.c": {ReportSize: -1}}},
		"negative plan rate": {ClientID: "c", ClientSecret: "s", Plans: map[string]JobPlan{"a@b.c": {ReportRate: -1}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(opts); err == nil || !strings.Contains(err.Error(), "ReportSize and ReportRate") {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

// TestReportRatePacesDownload checks the pacing from below only: a paced
// download cannot finish before its bytes are due, however slow the
// machine, so the check cannot flake. The plan's rate wins over the
// server's (which would take no time at all).
func TestReportRatePacesDownload(t *testing.T) {
	const size, rate = 6 << 20, 30 << 20 // ≥ 200 ms
	e := newEnv(t, Options{ReportSize: size, ReportRate: 1 << 40, PollsToFinish: -1,
		Plans: map[string]JobPlan{guestEmail: {ReportRate: rate}}})
	tok := e.token(t)
	id := e.startJob(t, tok, guestSegment, "")
	e.poll(t, tok, id)
	start := time.Now()
	r := e.get(t, "/insights/job/"+id+"/exportfile", tok)
	elapsed := time.Since(start)
	if r.status != http.StatusOK || len(r.body) != size {
		t.Fatalf("exportfile: %d, %d bytes", r.status, len(r.body))
	}
	if want := time.Duration(size-padBlockSize) * time.Second / rate; elapsed < want {
		t.Fatalf("%d bytes at %d B/s arrived in %v, before the %v they are due", size, rate, elapsed, want)
	}
}

// TestLargeReportLayoutExact checks exact sizes around the zip64
// thresholds (the central directory's offset, then the padding's own
// length, passing 4 GiB - 1), where the archive's overhead jumps. Only
// the layout is built: the padding is counted, not generated.
func TestLargeReportLayoutExact(t *testing.T) {
	sp := reportSpec{jobID: "67890", email: guestEmail, rows: 3,
		start: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), finish: time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)}
	small, err := buildLargeReport(sp, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	const u32 = 1<<32 - 1
	prefix := int64(len(small.prefix))
	var sizes []int64
	for _, edge := range []int64{u32, u32 + prefix, u32 + prefix + 200} {
		for d := int64(-300); d <= 300; d += 7 {
			sizes = append(sizes, edge+d)
		}
	}
	withComment := 0
	for _, size := range sizes {
		l, err := buildLargeReport(sp, size)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if l.size() != size {
			t.Fatalf("size %d: layout is %d bytes", size, l.size())
		}
		if bytes.HasSuffix(l.suffix, bytes.Repeat([]byte(" "), 256)) {
			withComment++
		}
		zr, err := zip.NewReader(l, size)
		if err != nil {
			t.Fatalf("size %d: archive/zip: %v", size, err)
		}
		pad := zr.File[1]
		if end, err := pad.DataOffset(); err != nil || end+int64(pad.CompressedSize64) != size-int64(len(l.suffix)) {
			t.Fatalf("size %d: padding at %d+%d, suffix %d: %v", size, end, pad.CompressedSize64, len(l.suffix), err)
		}
	}
	// The sweep must cross the gaps where only the comment makes the size
	// reachable, and most sizes must not need it.
	if withComment == 0 || withComment > len(sizes)/4 {
		t.Errorf("%d of %d sizes needed the ZIP comment", withComment, len(sizes))
	}
}

// TestLargeReportBeyond4GiB reads a zip64 report of more than 4 GiB
// end to end through archive/zip, which verifies the padding's CRC-32
// (computed arithmetically, never by hashing the padding) over every byte.
func TestLargeReportBeyond4GiB(t *testing.T) {
	const size = 4<<30 + 3<<20 + 5
	e := newEnv(t, Options{ReportSize: size, ReportRows: 2, PollsToFinish: -1})
	tok := e.token(t)
	id := e.startJob(t, tok, guestSegment, "")
	e.poll(t, tok, id)
	ra, n, err := e.srv.ReportReaderAt(id)
	if err != nil || n != size {
		t.Fatalf("ReportReaderAt: %d, %v", n, err)
	}
	rows, padLen := openLargeReport(t, id, ra, n)
	if len(rows) != 2 || padLen <= 1<<32 {
		t.Fatalf("%d rows, padding %d bytes", len(rows), padLen)
	}
}
