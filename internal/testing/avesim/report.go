package avesim

import (
	"archive/zip"
	"bytes"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/url"
	"slices"
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
}

// activityRows generates the rows, sorted by time. The generator is seeded
// from the job id, so one job always yields the same rows.
func (sp reportSpec) activityRows() [][]string {
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

	rows := make([][]string, 0, sp.rows)
	for _, sec := range secs {
		et := types[rng.IntN(len(types))]
		site := "https://" + tenant + ".sharepoint.com/sites/" + sites[rng.IntN(len(sites))]
		object := documents[rng.IntN(len(documents))]
		objectURL := site + "/Shared%20Documents/" + url.PathEscape(object)
		if strings.HasPrefix(et, "List") {
			object = lists[rng.IntN(len(lists))]
			objectURL = site + "/Lists/" + url.PathEscape(strings.ReplaceAll(object, " ", ""))
		}
		rows = append(rows, []string{
			time.Unix(sec, 0).UTC().Format(ReportTimeLayout),
			sp.email,
			et,
			object,
			objectURL,
			site,
			fmt.Sprintf("%s%d", ipPrefixes[rng.IntN(len(ipPrefixes))], 1+rng.IntN(254)),
			clients[rng.IntN(len(clients))],
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

// buildXLSX writes the workbook with excelize's StreamWriter, which keeps
// memory flat for large ReportRows.
func buildXLSX(sp reportSpec) (_ []byte, err error) {
	f := excelize.NewFile()
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if err := f.SetSheetName("Sheet1", ReportSheet); err != nil {
		return nil, err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return nil, err
	}
	sw, err := f.NewStreamWriter(ReportSheet)
	if err != nil {
		return nil, err
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return nil, err
	}
	for col, width := range []float64{20, 36, 24, 26, 70, 45, 16, 26} {
		if err := sw.SetColWidth(col+1, col+1, width); err != nil {
			return nil, err
		}
	}
	header := make([]any, len(reportHeader))
	for i, title := range reportHeader {
		header[i] = excelize.Cell{StyleID: bold, Value: title}
	}
	if err := sw.SetRow("A1", header); err != nil {
		return nil, err
	}
	for i, row := range sp.activityRows() {
		cell, err := excelize.CoordinatesToCellName(1, i+2)
		if err != nil {
			return nil, err
		}
		values := make([]any, len(row))
		for j, v := range row {
			values[j] = v
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
	return buf.Bytes(), nil
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
