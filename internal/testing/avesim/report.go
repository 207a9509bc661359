package avesim

import (
	"archive/zip"
	"bytes"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// ReportSheet is the worksheet holding the activity rows.
const ReportSheet = "User Activities"

// ReportTimeLayout is the format of the "Time (UTC)" column.
const ReportTimeLayout = "2006-01-02 15:04:05"

var reportHeader = []string{"Time (UTC)", "User", "Event Type", "Object", "Object URL", "Site", "IP Address", "Client"}

// ReportHeader returns the column titles of the generated workbook.
func ReportHeader() []string { return slices.Clone(reportHeader) }

// defaultEventTypes are Microsoft 365 audit operation names, which is what
// AvePoint's filter labels point at; used when the export has no filter.
var defaultEventTypes = []string{
	"FileAccessed", "FileDownloaded", "FileModified", "FileUploaded", "FileDeleted",
	"SharingSet", "SharingInvitationCreated", "PageViewed", "ListViewed", "ListItemViewed",
}

// DefaultEventTypes returns the event types used when no filter is given.
func DefaultEventTypes() []string { return slices.Clone(defaultEventTypes) }

// ReportZIPName is the attachment file name of a job's ZIP.
func ReportZIPName(jobID string) string { return "UserActivityReport_" + jobID + ".zip" }

// ReportXLSXName is the name of the workbook inside a job's ZIP.
func ReportXLSXName(jobID string) string { return "UserActivityReport_" + jobID + ".xlsx" }

var (
	sites     = []string{"Finance", "Marketing", "HR", "Projects", "Engineering", "Sales"}
	documents = []string{
		"Budget 2024.xlsx", "Q3 Forecast.xlsx", "Onboarding Guide.docx", "Roadmap.pptx",
		"Contract Draft.docx", "Team Photo.png", "Meeting Notes.docx", "Release Plan.pdf",
	}
	lists   = []string{"Shared Documents", "Tasks", "Issue Tracker", "Announcements"}
	clients = []string{
		"Web browser", "OneDrive for Business sync", "Microsoft Teams",
		"Microsoft Office desktop", "SharePoint mobile app",
	}
	ipPrefixes = []string{"192.0.2.", "198.51.100.", "203.0.113."} // RFC 5737 documentation ranges
)

type reportSpec struct {
	jobID      string
	email      string
	start      time.Time // inclusive
	finish     time.Time // inclusive
	eventTypes []string  // empty = defaultEventTypes
	rows       int
	// stream > 0: the rows are the user's activity stream over the window
	// (see streamRows), one per stream interval, and rows is ignored.
	stream time.Duration
	shape  ReportShape // "" = ShapePlain
}

// activityRows generates the rows, sorted by time. The generator is seeded
// from the job id, so one job always yields the same rows; the shape does
// not take part, so every shape of a job holds the same rows.
func (sp reportSpec) activityRows() []ReportRow {
	if sp.stream > 0 {
		return sp.streamRows()
	}
	return sp.drawnRows()
}

// streamRows is the window's part of the user's activity stream
// (Options.StreamInterval): one activity per interval slot, at an offset
// within it and with attributes drawn from a generator seeded by the user
// and the slot alone. Two exports whose windows overlap therefore hold the
// same activities where they overlap, as a real tenant's would.
func (sp reportSpec) streamRows() []ReportRow {
	types := defaultEventTypes
	if len(sp.eventTypes) > 0 {
		types = slices.Compact(slices.Sorted(slices.Values(sp.eventTypes)))
	}
	tenant := tenantOf(sp.email)
	step := int64(sp.stream / time.Second)
	from, to := sp.start.UTC().Unix(), sp.finish.UTC().Unix()
	var rows []ReportRow
	for k := from / step; k*step <= to; k++ {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s\x00%d", strings.ToLower(sp.email), k)
		seed := h.Sum64()
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		sec := k*step + rng.Int64N(step)
		// The type is drawn from every type the simulator knows, then
		// filtered, so a filtered export holds a subset of the unfiltered.
		et := defaultEventTypes[rng.IntN(len(defaultEventTypes))]
		site := "https://" + tenant + ".sharepoint.com/sites/" + sites[rng.IntN(len(sites))]
		object := documents[rng.IntN(len(documents))]
		objectURL := site + "/Shared%20Documents/" + url.PathEscape(object)
		if strings.HasPrefix(et, "List") {
			object = lists[rng.IntN(len(lists))]
			objectURL = site + "/Lists/" + url.PathEscape(strings.ReplaceAll(object, " ", ""))
		}
		ip := fmt.Sprintf("%s%d", ipPrefixes[rng.IntN(len(ipPrefixes))], 1+rng.IntN(254))
		client := clients[rng.IntN(len(clients))]
		if sec < from || sec > to || !slices.Contains(types, et) {
			continue
		}
		rows = append(rows, ReportRow{Time: time.Unix(sec, 0).UTC(), User: sp.email, EventType: et, Object: object,
			ObjectURL: objectURL, Site: site, IP: ip, Client: client})
	}
	return rows
}

// drawnRows draws the report's rows at random from a generator seeded by
// the job id: a fixed count, each job its own.
func (sp reportSpec) drawnRows() []ReportRow {
	h := fnv.New64a()
	h.Write([]byte(sp.jobID))
	seed := h.Sum64()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	types := defaultEventTypes
	if len(sp.eventTypes) > 0 {
		types = slices.Compact(slices.Sorted(slices.Values(sp.eventTypes)))
	}
	tenant := tenantOf(sp.email)
	from, to := sp.start.UTC().Unix(), sp.finish.UTC().Unix()
	span := max(to-from, 0) + 1

	secs := make([]int64, sp.rows)
	for i := range secs {
		secs[i] = from + rng.Int64N(span)
	}
	slices.Sort(secs)

	// The draws below keep their order: the rows (and ShapePlain's bytes)
	// of a job must not change.
	rows := make([]ReportRow, 0, sp.rows)
	for _, sec := range secs {
		et := types[rng.IntN(len(types))]
		site := "https://" + tenant + ".sharepoint.com/sites/" + sites[rng.IntN(len(sites))]
		object := documents[rng.IntN(len(documents))]
		objectURL := site + "/Shared%20Documents/" + url.PathEscape(object)
		if strings.HasPrefix(et, "List") {
			object = lists[rng.IntN(len(lists))]
			objectURL = site + "/Lists/" + url.PathEscape(strings.ReplaceAll(object, " ", ""))
		}
		ip := fmt.Sprintf("%s%d", ipPrefixes[rng.IntN(len(ipPrefixes))], 1+rng.IntN(254))
		rows = append(rows, ReportRow{
			Time:      time.Unix(sec, 0).UTC(),
			User:      sp.email,
			EventType: et,
			Object:    object,
			ObjectURL: objectURL,
			Site:      site,
			IP:        ip,
			Client:    clients[rng.IntN(len(clients))],
		})
	}
	return rows
}

// tenantOf guesses the SharePoint tenant name from the user's domain, so
// that URLs in the report look like the user's own tenant.
func tenantOf(email string) string {
	_, domain, _ := strings.Cut(strings.ToLower(email), "@")
	label, _, _ := strings.Cut(domain, ".")
	if label == "" {
		return "contoso"
	}
	return label
}

// buildXLSX writes the workbook in sp's shape with excelize's
// StreamWriter, which keeps memory flat for large ReportRows. ShapePlain
// makes exactly the calls the simulator always made, so its bytes stay the
// same for the same job.
func buildXLSX(sp reportSpec) (_ []byte, err error) {
	shape, err := ParseReportShape(string(sp.shape))
	if err != nil {
		return nil, err
	}
	spec := shapeSpecs[shape]
	lay := spec.layout()
	rows := sp.activityRows()

	f := excelize.NewFile()
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if spec.date1904 {
		// Before any date cell: the StreamWriter converts times with the
		// workbook's date system as it stands when the cell is written.
		if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &spec.date1904}); err != nil {
			return nil, err
		}
	}
	if err := f.SetSheetName("Sheet1", lay.Sheets[0]); err != nil {
		return nil, err
	}
	for _, name := range lay.Sheets[1:] {
		if _, err := f.NewSheet(name); err != nil {
			return nil, err
		}
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return nil, err
	}
	if spec.summary {
		if err := writeSummary(f, lay.SummarySheet, bold, rows); err != nil {
			return nil, err
		}
	}
	sw, err := f.NewStreamWriter(lay.ActivitySheet)
	if err != nil {
		return nil, err
	}
	hdr := lay.HeaderRow
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: hdr, TopLeftCell: "A" + strconv.Itoa(hdr+1), ActivePane: "bottomLeft"}); err != nil {
		return nil, err
	}
	for col, width := range []float64{20, 36, 24, 26, 70, 45, 16, 26} {
		if err := sw.SetColWidth(col+1, col+1, width); err != nil {
			return nil, err
		}
	}
	if spec.titled {
		if err := writeTitle(f, sw, sp, len(lay.Header)); err != nil {
			return nil, err
		}
	}
	dateStyle := 0
	if spec.dateCells {
		numFmt := ReportDateNumFmt
		if dateStyle, err = f.NewStyle(&excelize.Style{CustomNumFmt: &numFmt}); err != nil {
			return nil, err
		}
	}
	header := make([]any, len(lay.Header))
	for i, title := range lay.Header {
		header[i] = excelize.Cell{StyleID: bold, Value: title}
	}
	if err := sw.SetRow("A"+strconv.Itoa(hdr), header); err != nil {
		return nil, err
	}
	for i, row := range rows {
		cell, err := excelize.CoordinatesToCellName(1, hdr+1+i)
		if err != nil {
			return nil, err
		}
		texts := row.cells(lay.TimeLayout)
		values := make([]any, len(texts))
		for j, v := range texts {
			values[j] = v
		}
		if spec.dateCells {
			values[0] = excelize.Cell{StyleID: dateStyle, Value: row.Time.UTC()}
		}
		if err := sw.SetRow(cell, values); err != nil {
			return nil, err
		}
	}
	if err := sw.Flush(); err != nil {
		return nil, err
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	if spec.sharedStrings {
		return toSharedStrings(buf.Bytes())
	}
	return buf.Bytes(), nil
}

// writeTitle writes the title rows of ShapeTitled: the report's subject
// merged across the columns, the export time, then (by leaving row 3
// out) a blank row.
func writeTitle(f *excelize.File, sw *excelize.StreamWriter, sp reportSpec, cols int) error {
	big, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	if err != nil {
		return err
	}
	if err := sw.SetRow("A1", []any{excelize.Cell{StyleID: big, Value: "User activity report for " + sp.email}}); err != nil {
		return err
	}
	last, err := excelize.CoordinatesToCellName(cols, 1)
	if err != nil {
		return err
	}
	if err := sw.MergeCell("A1", last); err != nil {
		return err
	}
	return sw.SetRow("A2", []any{"Exported on " + sp.finish.UTC().Format(ReportTimeLayout) + " UTC"})
}

// writeSummary writes the summary sheet: one row per event type present,
// by name, with its number of rows.
func writeSummary(f *excelize.File, sheet string, bold int, rows []ReportRow) error {
	counts := map[string]int{}
	for _, r := range rows {
		counts[r.EventType]++
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	if err := sw.SetColWidth(1, 1, 28); err != nil {
		return err
	}
	header := make([]any, len(summaryHeader))
	for i, title := range summaryHeader {
		header[i] = excelize.Cell{StyleID: bold, Value: title}
	}
	if err := sw.SetRow("A1", header); err != nil {
		return err
	}
	for i, et := range slices.Sorted(maps.Keys(counts)) {
		if err := sw.SetRow("A"+strconv.Itoa(i+2), []any{et, counts[et]}); err != nil {
			return err
		}
	}
	return sw.Flush()
}

// buildReportZIP wraps the workbook in a ZIP, as AvePoint delivers it.
func buildReportZIP(sp reportSpec) ([]byte, error) {
	xlsx, err := buildXLSX(sp)
	if err != nil {
		return nil, fmt.Errorf("workbook: %w", err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{
		Name:     ReportXLSXName(sp.jobID),
		Method:   zip.Deflate,
		Modified: sp.finish.UTC(), // not the wall clock: keeps the bytes reproducible
	})
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(xlsx); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
