package avesim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ReportShape is the layout of a report's workbook. AvePoint publishes
// nothing about the workbook (no sheet name, header or cell types), so a
// reader must find its way through whatever arrives; the shapes vary the
// simulator's guess the ways a real export plausibly varies. Every shape
// holds the same activity rows for the same job (see ActivityRows).
type ReportShape string

// The shapes. Options.ReportShape and JobPlan.ReportShape take them; ""
// means ShapePlain.
const (
	// ShapePlain is the simulator's original workbook: one sheet
	// ReportSheet, ReportHeader in row 1, times as text in
	// ReportTimeLayout, every string an inline string (t="inlineStr", which
	// is what excelize's StreamWriter writes), no shared-string table.
	ShapePlain ReportShape = "plain"
	// ShapeTitled puts two title rows (the user, the export time, the
	// first merged across the columns) and a blank row above the header.
	ShapeTitled ReportShape = "titled"
	// ShapeDateCells writes the times as Excel date cells: numeric serials
	// (1900 date system) with the number format ReportDateNumFmt.
	ShapeDateCells ReportShape = "date-cells"
	// ShapeDates1904 is ShapeDateCells in a workbook that uses the 1904
	// date system (workbookPr date1904), so the serials are 1462 days
	// smaller than ShapeDateCells'.
	ShapeDates1904 ReportShape = "dates-1904"
	// ShapeSharedStrings stores every string in the shared-string table
	// (xl/sharedStrings.xml, cells t="s"), as Excel itself does.
	ShapeSharedStrings ReportShape = "shared-strings"
	// ShapeSummaryFirst puts a sheet SummarySheet ("Event Type", "Count",
	// one row per event type present) before the activity sheet.
	ShapeSummaryFirst ReportShape = "summary-first"
	// ShapeLocalized is a French export: French sheet name and header,
	// times as day-first text (LocalizedTimeLayout).
	ShapeLocalized ReportShape = "localized"
	// ShapeMixed combines ShapeSummaryFirst, ShapeTitled, ShapeDateCells
	// and ShapeSharedStrings, for one end-to-end run that meets them all.
	ShapeMixed ReportShape = "mixed"
)

// SummarySheet is the name of the summary sheet of ShapeSummaryFirst and
// ShapeMixed.
const SummarySheet = "Summary"

// ReportDateNumFmt is the number format of the date cells of the date shapes.
const ReportDateNumFmt = "yyyy-mm-dd hh:mm:ss"

// LocalizedTimeLayout is the format of ShapeLocalized's time column.
const LocalizedTimeLayout = "02/01/2006 15:04:05"

// localizedSheet is ShapeLocalized's activity sheet.
const localizedSheet = "Activités des utilisateurs"

var (
	summaryHeader   = []string{"Event Type", "Count"}
	localizedHeader = []string{"Date/heure (UTC)", "Utilisateur", "Type d'événement", "Objet", "URL de l'objet", "Site", "Adresse IP", "Client"}
)

// shapeSpec is what a shape changes; the zero value is ShapePlain.
type shapeSpec struct {
	desc          string
	titled        bool
	dateCells     bool
	date1904      bool
	sharedStrings bool
	summary       bool
	localized     bool
}

var shapeSpecs = map[ReportShape]shapeSpec{
	ShapePlain:         {desc: "one sheet, header in row 1, times as text, inline strings (the default)"},
	ShapeTitled:        {desc: "two title rows and a blank row above the header", titled: true},
	ShapeDateCells:     {desc: "times as Excel date cells (1900 date system)", dateCells: true},
	ShapeDates1904:     {desc: "times as Excel date cells, 1904 date system", dateCells: true, date1904: true},
	ShapeSharedStrings: {desc: "strings in the shared-string table, as Excel writes them", sharedStrings: true},
	ShapeSummaryFirst:  {desc: "a Summary sheet (event type counts) before the activity sheet", summary: true},
	ShapeLocalized:     {desc: "French sheet name and header, day-first text times", localized: true},
	ShapeMixed:         {desc: "summary sheet first, title rows, date cells, shared strings", titled: true, dateCells: true, sharedStrings: true, summary: true},
}

// ReportShapes lists every shape, ShapePlain first.
func ReportShapes() []ReportShape {
	return []ReportShape{ShapePlain, ShapeTitled, ShapeDateCells, ShapeDates1904, ShapeSharedStrings, ShapeSummaryFirst, ShapeLocalized, ShapeMixed}
}

// ParseReportShape accepts a shape's name ("" is ShapePlain).
func ParseReportShape(name string) (ReportShape, error) {
	s := ReportShape(name)
	if s == "" {
		return ShapePlain, nil
	}
	if _, ok := shapeSpecs[s]; !ok {
		names := make([]string, 0, len(shapeSpecs))
		for _, sh := range ReportShapes() {
			names = append(names, string(sh))
		}
		return "", fmt.Errorf("unknown report shape %q (want one of %s)", truncate(name, 40), strings.Join(names, ", "))
	}
	return s, nil
}

// truncate bounds a caller's string quoted in an error message and keeps
// it valid UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return strings.ToValidUTF8(s, "")
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// ShapeLayout says where a shape puts things, so that tests can check a
// reader's findings without parsing the workbook themselves.
type ShapeLayout struct {
	Description   string
	Sheets        []string // in workbook order
	ActivitySheet string
	SummarySheet  string   // "" when the shape has none
	HeaderRow     int      // 1-based row of the activity sheet's header; data follows it
	Header        []string // the activity sheet's header; the time is always column A
	// TimeLayout is the Go layout of the text times; "" when the times are
	// date cells (DateCells), whose number format is ReportDateNumFmt.
	TimeLayout    string
	DateCells     bool
	Date1904      bool
	SharedStrings bool // strings in xl/sharedStrings.xml; otherwise inline strings
}

// Layout describes the shape; an unknown shape yields the zero ShapeLayout.
func (s ReportShape) Layout() ShapeLayout {
	if s == "" {
		s = ShapePlain
	}
	sp, ok := shapeSpecs[s]
	if !ok {
		return ShapeLayout{}
	}
	return sp.layout()
}

func (sp shapeSpec) layout() ShapeLayout {
	l := ShapeLayout{
		Description:   sp.desc,
		ActivitySheet: ReportSheet,
		HeaderRow:     1,
		Header:        ReportHeader(),
		TimeLayout:    ReportTimeLayout,
		DateCells:     sp.dateCells,
		Date1904:      sp.date1904,
		SharedStrings: sp.sharedStrings,
	}
	if sp.localized {
		l.ActivitySheet, l.Header, l.TimeLayout = localizedSheet, slices.Clone(localizedHeader), LocalizedTimeLayout
	}
	if sp.dateCells {
		l.TimeLayout = ""
	}
	if sp.titled {
		l.HeaderRow = 4 // two title rows, a blank row
	}
	if sp.summary {
		l.SummarySheet = SummarySheet
		l.Sheets = append(l.Sheets, SummarySheet)
	}
	l.Sheets = append(l.Sheets, l.ActivitySheet)
	return l
}

// ReportRow is one activity row of a report, as every shape holds it.
type ReportRow struct {
	Time      time.Time // UTC, whole seconds
	User      string
	EventType string
	Object    string
	ObjectURL string
	Site      string
	IP        string
	Client    string
}

// ActivityRows returns the rows of the report of job jobID for email over
// [start, finish] (both inclusive) with the given event type filter (empty =
// DefaultEventTypes) and row count, sorted by time: exactly what the
// workbook of that job holds, in every shape. Server.ReportRows gives them
// for a job the server knows.
func ActivityRows(jobID, email string, start, finish time.Time, eventTypes []string, rows int) []ReportRow {
	return reportSpec{jobID: jobID, email: email, start: start, finish: finish, eventTypes: eventTypes, rows: max(rows, 0)}.activityRows()
}

// ReportRows returns the activity rows of jobID's report (see ActivityRows).
func (s *Server) ReportRows(jobID string) ([]ReportRow, error) {
	s.mu.Lock()
	j := s.jobs[jobID]
	s.mu.Unlock()
	if j == nil {
		return nil, fmt.Errorf("avesim: no job %q", truncate(jobID, 40))
	}
	return s.specOf(j).activityRows(), nil
}

// cells renders a row as the text cells of a text-time shape; the time
// cell is replaced by a date cell in the date shapes.
func (r ReportRow) cells(timeLayout string) []string {
	return []string{r.Time.UTC().Format(timeLayout), r.User, r.EventType, r.Object, r.ObjectURL, r.Site, r.IP, r.Client}
}
