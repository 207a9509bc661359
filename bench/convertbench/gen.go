package convertbench

import (
	"archive/zip"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// The workbook the benchmark converts: an activity report like the AvePoint
// simulator's (internal/testing/avesim: the same eight columns, sheet name
// and time format), with a shared-string table as Excel writes one.
//
// Columns: Time (UTC) is a date cell (a serial number with the custom
// format yyyy-mm-dd hh:mm:ss); the other seven are shared strings. User is
// the report's one user; Event Type, Site, IP Address and Client come from
// small pools (10 event types, 24 sites, 762 addresses, 5 clients). Object
// and Object URL are a file's name and URL: a file event (8 of the 10
// event types) touches a file seen before with probability Repeat (0.3),
// else a new file with a name and URL of its own; a list event names one
// of 4 lists of its site. So the table holds about 2 × 0.8 × 0.7 = 1.12
// strings per row, nearly all of them names and URLs: the shape that makes
// the shared-string table grow with the report.
//
// Rows are sorted by time over a 30-day window, as AvePoint sorts them, so
// the converter writes one Parquet file per day. A sheet holds at most
// SheetRows data rows (Excel's limit is 1,048,575 below a header); a
// larger report continues on "User Activities (2)", … (as a 2M-row one
// must).

// DefaultRepeat is the share of file events that touch a file seen before.
const DefaultRepeat = 0.3

// Spec is what Generate writes.
type Spec struct {
	Rows      int
	SheetRows int     // data rows per sheet; 0 = 1,000,000
	Repeat    float64 // share of file events that touch a file seen before
	Seed      uint64
}

// Book is a generated workbook: the XLSX, the report ZIP holding it (as
// AvePoint delivers it) and what they hold.
type Book struct {
	Rows           int     `json:"rows"`
	Sheets         int     `json:"sheets"`
	XLSX           string  `json:"xlsx"`
	XLSXBytes      int64   `json:"xlsxBytes"`
	ZIP            string  `json:"zip"`
	ZIPBytes       int64   `json:"zipBytes"`
	ZIPSHA256      string  `json:"zipSha256"`
	SheetXMLBytes  int64   `json:"sheetXmlBytes"` // the worksheets' XML, uncompressed
	SSTXMLBytes    int64   `json:"sstXmlBytes"`   // sharedStrings.xml, uncompressed
	SSTTextBytes   int64   `json:"sstTextBytes"`  // the strings' own text
	SharedStrings  int64   `json:"sharedStrings"` // uniqueCount
	StringCells    int64   `json:"stringCells"`   // count: cells that refer to the table
	RepeatedShare  string  `json:"repeatedShare"` // of string cells, a repeat of an earlier one
	GenerateSecond float64 `json:"generateSeconds"`
}

// The report's fixed values.
const (
	SheetName   = "User Activities" // avesim.ReportSheet
	ReportUser  = "alex.wilber@contoso.example"
	ReportJobID = "bench-convert"
	timeFormat  = "yyyy-mm-dd hh:mm:ss"
	window      = 30 * 24 * time.Hour
)

// WindowEnd is the end of the rows' time window (a fixed instant: the
// bytes do not depend on the day of the run).
var WindowEnd = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

var (
	header     = []string{"Time (UTC)", "User", "Event Type", "Object", "Object URL", "Site", "IP Address", "Client"}
	eventTypes = []string{
		"FileAccessed", "FileDownloaded", "FileModified", "FileUploaded", "FileDeleted",
		"SharingSet", "SharingInvitationCreated", "PageViewed", "ListViewed", "ListItemViewed",
	}
	siteNames = []string{"Finance", "Marketing", "HR", "Projects", "Engineering", "Sales"}
	documents = []string{
		"Budget 2024.xlsx", "Q3 Forecast.xlsx", "Onboarding Guide.docx", "Roadmap.pptx",
		"Contract Draft.docx", "Team Photo.png", "Meeting Notes.docx", "Release Plan.pdf",
	}
	lists      = []string{"Shared Documents", "Tasks", "Issue Tracker", "Announcements"}
	clients    = []string{"Web browser", "OneDrive for Business sync", "Microsoft Teams", "Microsoft Office desktop", "SharePoint mobile app"}
	ipPrefixes = []string{"192.0.2.", "198.51.100.", "203.0.113."} // RFC 5737 documentation ranges
)

const sitesPerName = 4 // 6 names × 4 = 24 sites

// pool holds the shared strings every report has, by index.
type pool struct {
	strs                        []string
	header                      []int
	user                        int
	events, sites, ips, clients []int
	listNames                   []int
	listURLs                    [][]int // by site, by list
	siteURL                     []string
}

func newPool() *pool {
	p := &pool{}
	add := func(s string) int { p.strs = append(p.strs, s); return len(p.strs) - 1 }
	for _, h := range header {
		p.header = append(p.header, add(h))
	}
	p.user = add(ReportUser)
	for _, e := range eventTypes {
		p.events = append(p.events, add(e))
	}
	for _, l := range lists {
		p.listNames = append(p.listNames, add(l))
	}
	for i := 0; i < len(siteNames)*sitesPerName; i++ {
		name := siteNames[i%len(siteNames)]
		if n := i / len(siteNames); n > 0 {
			name += strconv.Itoa(n + 1)
		}
		u := "https://contoso.sharepoint.com/sites/" + name
		p.siteURL = append(p.siteURL, u)
		p.sites = append(p.sites, add(u))
		var urls []int
		for _, l := range lists {
			urls = append(urls, add(u+"/Lists/"+url.PathEscape(strings.ReplaceAll(l, " ", ""))))
		}
		p.listURLs = append(p.listURLs, urls)
	}
	for _, pre := range ipPrefixes {
		for h := 1; h <= 254; h++ {
			p.ips = append(p.ips, add(pre+strconv.Itoa(h)))
		}
	}
	for _, c := range clients {
		p.clients = append(p.clients, add(c))
	}
	return p
}

// file k's site, name and URL: a pure function of k, so a repeat needs no
// memory of what was generated.
func (p *pool) fileSite(k int) int { return int((uint64(k)*0x9e3779b97f4a7c15)>>40) % len(p.sites) }

func fileName(k int) string {
	d := documents[k%len(documents)]
	dot := strings.LastIndexByte(d, '.')
	return d[:dot] + " " + strconv.Itoa(k) + d[dot:]
}

func (p *pool) fileURL(k int) string {
	return p.siteURL[p.fileSite(k)] + "/Shared%20Documents/" + url.PathEscape(fileName(k))
}

// Generate writes dir/book.xlsx and dir/report.zip for spec.
func Generate(dir string, spec Spec) (Book, error) {
	began := time.Now()
	if spec.Rows <= 0 {
		return Book{}, errors.New("convertbench: no rows to generate")
	}
	if spec.SheetRows <= 0 {
		spec.SheetRows = 1_000_000
	}
	if spec.SheetRows > excelize.TotalRows-1 {
		return Book{}, fmt.Errorf("convertbench: a sheet holds at most %d data rows", excelize.TotalRows-1)
	}
	raw := filepath.Join(dir, "raw.xlsx")
	uniq := filepath.Join(dir, "unique-strings.xml")
	b := Book{Rows: spec.Rows, XLSX: filepath.Join(dir, "book.xlsx"), ZIP: filepath.Join(dir, "report.zip")}
	p := newPool()
	dateStyle, stats, err := writeRaw(raw, uniq, spec, p)
	if err != nil {
		return Book{}, err
	}
	b.Sheets = stats.sheets
	b.StringCells = stats.stringCells
	b.SharedStrings = int64(len(p.strs)) + stats.unique
	b.SSTTextBytes = stats.uniqueText
	for _, s := range p.strs {
		b.SSTTextBytes += int64(len(s))
	}
	if b.StringCells > 0 {
		b.RepeatedShare = strconv.FormatFloat(1-float64(b.SharedStrings)/float64(b.StringCells), 'f', 3, 64)
	}
	if err := finish(raw, uniq, b.XLSX, dateStyle, p, &b); err != nil {
		return Book{}, err
	}
	_ = os.Remove(raw)
	_ = os.Remove(uniq)
	if err := wrap(b.XLSX, b.ZIP, &b); err != nil {
		return Book{}, err
	}
	b.GenerateSecond = time.Since(began).Seconds()
	return b, nil
}

type rawStats struct {
	sheets             int
	stringCells        int64
	unique, uniqueText int64
}

// writeRaw writes the workbook with excelize's StreamWriter, shared-string
// indexes as integer cells, and the strings new files bring to uniq (as
// <si> elements, in index order after the pool's).
func writeRaw(raw, uniq string, spec Spec, p *pool) (dateStyle int, st rawStats, err error) {
	uf, err := os.Create(uniq)
	if err != nil {
		return 0, st, err
	}
	defer uf.Close()
	uw := bufio.NewWriterSize(uf, 1<<20)

	f := excelize.NewFile()
	defer f.Close()
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return 0, st, err
	}
	format := timeFormat
	if dateStyle, err = f.NewStyle(&excelize.Style{CustomNumFmt: &format}); err != nil {
		return 0, st, err
	}
	rng := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x5851f42d4c957f2d))
	start := WindowEnd.Add(-window)
	step := float64(window) / float64(spec.Rows)
	files := 0
	values := make([]any, len(header))
	si := func(s string) error {
		st.unique++
		st.uniqueText += int64(len(s))
		if _, err := uw.WriteString("<si><t>"); err != nil {
			return err
		}
		if err := xml.EscapeText(uw, []byte(s)); err != nil {
			return err
		}
		_, err := uw.WriteString("</t></si>")
		return err
	}
	for first := 0; first < spec.Rows; first += spec.SheetRows {
		st.sheets++
		name := SheetName
		if st.sheets > 1 {
			name += " (" + strconv.Itoa(st.sheets) + ")"
		}
		if st.sheets == 1 {
			err = f.SetSheetName("Sheet1", name)
		} else {
			_, err = f.NewSheet(name)
		}
		if err != nil {
			return 0, st, err
		}
		sw, err := f.NewStreamWriter(name)
		if err != nil {
			return 0, st, err
		}
		if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return 0, st, err
		}
		for col, width := range []float64{20, 36, 24, 26, 70, 45, 16, 26} {
			if err := sw.SetColWidth(col+1, col+1, width); err != nil {
				return 0, st, err
			}
		}
		for i, idx := range p.header {
			values[i] = excelize.Cell{StyleID: bold, Value: idx}
		}
		if err := sw.SetRow("A1", values); err != nil {
			return 0, st, err
		}
		st.stringCells += int64(len(header))
		last := min(first+spec.SheetRows, spec.Rows)
		for i := first; i < last; i++ {
			at := start.Add(time.Duration((float64(i) + rng.Float64()) * step)).Truncate(time.Second)
			ev := rng.IntN(len(eventTypes))
			var object, objectURL, site int
			if strings.HasPrefix(eventTypes[ev], "List") {
				s, l := rng.IntN(len(p.sites)), rng.IntN(len(lists))
				object, objectURL, site = p.listNames[l], p.listURLs[s][l], p.sites[s]
			} else {
				k := files
				if files > 0 && rng.Float64() < spec.Repeat {
					k = rng.IntN(files)
				} else {
					files++
					if err := si(fileName(k)); err != nil {
						return 0, st, err
					}
					if err := si(p.fileURL(k)); err != nil {
						return 0, st, err
					}
				}
				object, objectURL, site = len(p.strs)+2*k, len(p.strs)+2*k+1, p.sites[p.fileSite(k)]
			}
			values[0] = excelize.Cell{StyleID: dateStyle, Value: at}
			values[1] = p.user
			values[2] = p.events[ev]
			values[3] = object
			values[4] = objectURL
			values[5] = site
			values[6] = p.ips[rng.IntN(len(p.ips))]
			values[7] = p.clients[rng.IntN(len(p.clients))]
			cell, err := excelize.CoordinatesToCellName(1, i-first+2)
			if err != nil {
				return 0, st, err
			}
			if err := sw.SetRow(cell, values); err != nil {
				return 0, st, err
			}
			st.stringCells += int64(len(header) - 1)
		}
		if err := sw.Flush(); err != nil {
			return 0, st, err
		}
	}
	// A string cell set the ordinary way makes excelize write a
	// sharedStrings part with its relationship and content type; its
	// content is replaced in finish. The cell is on a scratch sheet that
	// is deleted again.
	if _, err := f.NewSheet("scratch"); err != nil {
		return 0, st, err
	}
	if err := f.SetCellStr("scratch", "A1", "placeholder"); err != nil {
		return 0, st, err
	}
	if err := f.DeleteSheet("scratch"); err != nil {
		return 0, st, err
	}
	if err := uw.Flush(); err != nil {
		return 0, st, err
	}
	if err := f.SaveAs(raw); err != nil {
		return 0, st, err
	}
	return dateStyle, st, uf.Close()
}

// finish rewrites the raw workbook: its worksheets with shared-string
// cells, its sharedStrings part with the pool and the unique strings.
// Other parts are copied without recompressing.
func finish(raw, uniq, out string, dateStyle int, p *pool, b *Book) error {
	zr, err := zip.OpenReader(raw)
	if err != nil {
		return err
	}
	defer zr.Close()
	of, err := os.Create(out)
	if err != nil {
		return err
	}
	defer of.Close()
	zw := zip.NewWriter(of)
	sawSST := false
	var turned int64
	for _, e := range zr.File {
		switch {
		case e.Name == "xl/sharedStrings.xml":
			sawSST = true
			w, err := zw.CreateHeader(&zip.FileHeader{Name: e.Name, Method: zip.Deflate, Modified: WindowEnd})
			if err != nil {
				return err
			}
			n, err := writeSST(w, uniq, p, b.StringCells, b.SharedStrings)
			if err != nil {
				return err
			}
			b.SSTXMLBytes = n
		case strings.HasPrefix(e.Name, "xl/worksheets/sheet") && strings.HasSuffix(e.Name, ".xml"):
			w, err := zw.CreateHeader(&zip.FileHeader{Name: e.Name, Method: zip.Deflate, Modified: WindowEnd})
			if err != nil {
				return err
			}
			rc, err := e.Open()
			if err != nil {
				return err
			}
			cw := &countWriter{w: w}
			n, err := shareCells(cw, rc, dateStyle)
			rc.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", e.Name, err)
			}
			turned += n
			b.SheetXMLBytes += cw.n
		default:
			if err := zw.Copy(e); err != nil {
				return err
			}
		}
	}
	if !sawSST {
		return errors.New("convertbench: excelize wrote no sharedStrings part")
	}
	if turned != b.StringCells {
		return fmt.Errorf("convertbench: %d cells turned into shared strings, want %d", turned, b.StringCells)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := of.Close(); err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	b.XLSXBytes = st.Size()
	return nil
}

func writeSST(w io.Writer, uniq string, p *pool, count, unique int64) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	fmt.Fprintf(bw, `%s<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, xml.Header, count, unique)
	for _, s := range p.strs {
		bw.WriteString("<si><t>")
		if err := xml.EscapeText(bw, []byte(s)); err != nil {
			return 0, err
		}
		bw.WriteString("</t></si>")
	}
	uf, err := os.Open(uniq)
	if err != nil {
		return 0, err
	}
	defer uf.Close()
	if _, err := io.Copy(bw, uf); err != nil {
		return 0, err
	}
	bw.WriteString("</sst>")
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

// wrap puts the workbook in a ZIP, deflated, as AvePoint delivers it (and
// as avesim's buildReportZIP does).
func wrap(xlsx, out string, b *Book) error {
	in, err := os.Open(xlsx)
	if err != nil {
		return err
	}
	defer in.Close()
	of, err := os.Create(out)
	if err != nil {
		return err
	}
	defer of.Close()
	h := sha256.New()
	zw := zip.NewWriter(io.MultiWriter(of, h))
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "UserActivityReport_" + ReportJobID + ".xlsx", Method: zip.Deflate, Modified: WindowEnd})
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, in); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := of.Close(); err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	b.ZIPBytes, b.ZIPSHA256 = st.Size(), hex.EncodeToString(h.Sum(nil))
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
