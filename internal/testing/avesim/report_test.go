package avesim

import (
	"archive/zip"
	"bytes"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// readReport opens a served ZIP the way a consumer would and returns the
// workbook's rows (header first).
func readReport(t *testing.T, jobID string, body []byte) [][]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("archive/zip cannot open the body: %v", err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != ReportXLSXName(jobID) {
		names := []string{}
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		t.Fatalf("zip entries %v, want [%s]", names, ReportXLSXName(jobID))
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	xb, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(xb))
	if err != nil {
		t.Fatalf("excelize cannot open the workbook: %v", err)
	}
	defer f.Close()
	if sheets := f.GetSheetList(); !slices.Equal(sheets, []string{ReportSheet}) {
		t.Fatalf("sheets %v", sheets)
	}
	rows, err := f.GetRows(ReportSheet)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// finishedJob starts a job with query, polls it to completion and downloads it.
func finishedJob(t *testing.T, e *env, tok, segment, query string) (string, result) {
	t.Helper()
	id := e.startJob(t, tok, segment, query)
	for {
		code, _ := e.poll(t, tok, id)
		if code == JobSucceeded {
			break
		}
		if code != JobInProgress {
			t.Fatalf("jobStatus %d", code)
		}
	}
	r := e.get(t, "/insights/job/"+id+"/exportfile", tok)
	if r.status != 200 {
		t.Fatalf("exportfile: %d %s", r.status, r.body)
	}
	return id, r
}

func TestExportFile(t *testing.T) {
	from := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2023, 1, 8, 0, 0, 0, 0, time.UTC)
	window := "startTime=" + from.Format(TimeLayout) + "&finishTime=" + to.Format(TimeLayout)
	tests := []struct {
		name     string
		rows     int
		query    string
		wantRows int
		types    []string
		from, to time.Time
	}{
		{name: "filtered window", rows: 7, query: window + "&eventTypes=FileAccessed&eventTypes=SharingSet",
			wantRows: 7, types: []string{"FileAccessed", "SharingSet"}, from: from, to: to},
		{name: "default rows and types", query: window, wantRows: 50, types: DefaultEventTypes(), from: from, to: to},
		{name: "unlisted type honoured", rows: 5, query: window + "&eventTypes=ListViewed&eventTypes=Custom42",
			wantRows: 5, types: []string{"ListViewed", "Custom42"}, from: from, to: to},
		{name: "header only", rows: -1, query: window, wantRows: 0, from: from, to: to},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{ReportRows: tc.rows, PollsToFinish: 1})
			tok := e.token(t)
			id, r := finishedJob(t, e, tok, guestSegment, tc.query)

			if ct := r.header.Get("Content-Type"); ct != "application/zip" {
				t.Errorf("Content-Type %q", ct)
			}
			if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
				t.Errorf("Content-Length %q, body %d bytes", cl, len(r.body))
			}
			if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ReportZIPName(id)) {
				t.Errorf("Content-Disposition %q", cd)
			}
			rows := readReport(t, id, r.body)
			if !slices.Equal(rows[0], ReportHeader()) {
				t.Fatalf("header %v", rows[0])
			}
			data := rows[1:]
			if len(data) != tc.wantRows {
				t.Fatalf("%d data rows, want %d", len(data), tc.wantRows)
			}
			var prev time.Time
			for i, row := range data {
				if len(row) != len(ReportHeader()) {
					t.Fatalf("row %d has %d cells: %v", i, len(row), row)
				}
				ts, err := time.Parse(ReportTimeLayout, row[0])
				if err != nil {
					t.Fatalf("row %d time %q: %v", i, row[0], err)
				}
				if ts.Before(tc.from) || ts.After(tc.to) {
					t.Errorf("row %d time %v outside %v..%v", i, ts, tc.from, tc.to)
				}
				if ts.Before(prev) {
					t.Errorf("row %d not sorted by time", i)
				}
				prev = ts
				if row[1] != guestEmail {
					t.Errorf("row %d user %q", i, row[1])
				}
				if !slices.Contains(tc.types, row[2]) {
					t.Errorf("row %d event type %q not in %v", i, row[2], tc.types)
				}
				if !strings.HasPrefix(row[5], "https://t.sharepoint.com/sites/") || !strings.HasPrefix(row[4], row[5]+"/") {
					t.Errorf("row %d site %q url %q", i, row[5], row[4])
				}
			}

			// The ZIP is built once: a second download and ReportZIP give the same bytes.
			again := e.get(t, "/insights/job/"+id+"/exportfile", tok)
			cached, err := e.srv.ReportZIP(id)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.body, r.body) || !bytes.Equal(cached, r.body) {
				t.Errorf("report bytes differ between downloads")
			}
			if j := e.srv.Jobs()[0]; j.Downloads != 2 {
				t.Errorf("downloads %d", j.Downloads)
			}
			if c := lastCall(t, e.srv); c.Endpoint != EndpointFile || c.Status != 200 || c.JobID != id || c.Email != guestEmail {
				t.Errorf("call %+v", c)
			}
		})
	}
}

func TestReportDeterministicPerJob(t *testing.T) {
	query := "startTime=2024-03-01T00:00:00&finishTime=2024-03-02T00:00:00"
	download := func() (string, [][]string, []byte) {
		e := newEnv(t, Options{ReportRows: 20, PollsToFinish: -1})
		tok := e.token(t)
		id, r := finishedJob(t, e, tok, guestSegment, query)
		return id, readReport(t, id, r.body), r.body
	}
	id1, rows1, zip1 := download()
	id2, rows2, zip2 := download()
	if id1 != id2 {
		t.Fatalf("fresh servers gave job ids %s and %s", id1, id2)
	}
	if !slices.EqualFunc(rows1, rows2, slices.Equal) {
		t.Fatalf("same job id, different rows")
	}
	if !bytes.Equal(zip1, zip2) {
		t.Errorf("same job id, different ZIP bytes")
	}

	other := reportSpec{jobID: "67891", email: guestEmail, rows: 20,
		start: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), finish: time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)}
	var otherCells [][]string
	for _, r := range other.activityRows() {
		otherCells = append(otherCells, r.cells(ReportTimeLayout))
	}
	if slices.EqualFunc(rows1[1:], otherCells, slices.Equal) {
		t.Errorf("different job ids produced the same rows")
	}
}

func TestTenantOf(t *testing.T) {
	tests := map[string]string{
		guestEmail:          "t",
		"alice@Contoso.com": "contoso",
		"bob@":              "contoso",
	}
	for email, want := range tests {
		t.Run(email, func(t *testing.T) {
			if got := tenantOf(email); got != want {
				t.Fatalf("tenantOf(%q) = %q, want %q", email, got, want)
			}
		})
	}
}
