package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// count reads a DuckDB count (BIGINT comes back as text).
func count(t *testing.T, v any) int {
	t.Helper()
	switch n := v.(type) {
	case string:
		i, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("count %q: %v", n, err)
		}
		return i
	case float64:
		return int(n)
	}
	t.Fatalf("count of type %T", v)
	return 0
}

// sumOf adds up one count column of a result.
func sumOf(t *testing.T, rows []map[string]any, column string) int {
	t.Helper()
	sum := 0
	for _, r := range rows {
		sum += count(t, r[column])
	}
	return sum
}

func query(t *testing.T, dir string, statements ...string) [][]map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	res, err := QueryDataset(ctx, dir, statements...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The export's report becomes dataset rows that DuckDB reads with Hive
// partitioning, row for row; the template's named queries run on them as
// they are deployed (after the one documented rewrite); a rerun leaves the
// same files and rows.
func TestDatasetFromAnExport(t *testing.T) {
	const rows = 60
	const email = "adele.vance@contoso.com"
	st := startExportStack(t, avesim.Options{PollsToFinish: 1, ReportRows: rows}, nil)
	exec := run(t, st, map[string]any{"email": email, "startTime": "2026-11-20T00:00:00", "finishTime": "2026-11-27T00:00:00"})
	if exec.Status != StatusSucceeded {
		t.Fatalf("execution %s: %s %s\n%s", exec.Status, exec.Error, exec.Cause, st.Logs())
	}
	var out request.ExportOutput
	if err := json.Unmarshal(exec.Output, &out); err != nil || out.Dataset == nil {
		t.Fatalf("output %s: no dataset (%v)", exec.Output, err)
	}
	if out.Dataset.Rows != rows || len(out.Dataset.Objects) == 0 {
		t.Fatalf("dataset %+v, want %d rows", out.Dataset, rows)
	}
	dir := t.TempDir()
	keys, err := st.DownloadDataset(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, out.Dataset.Objects) {
		t.Errorf("bucket holds %v, the output names %v", keys, out.Dataset.Objects)
	}
	res := query(t, dir,
		"SELECT count(*) AS n, count(DISTINCT row_id) AS ids, count(activity_time) AS timed, min(upn) AS lo, max(upn) AS hi FROM activities",
		"SELECT count(*) AS n FROM activities WHERE activity_time < TIMESTAMP '2026-11-20 00:00:00' OR activity_time > TIMESTAMP '2026-11-27 00:00:00'",
		"SELECT count(*) AS n FROM activities WHERE dt <> strftime(activity_time, '%Y-%m-%d')",
		"SELECT count(*) AS n FROM activities WHERE columns['event_type'] IS DISTINCT FROM event_type OR columns['ip_address'] IS NULL",
		"SELECT count(*) AS n FROM activities WHERE strpos(lower(columns['object']), lower('Budget 2024.xlsx')) > 0",
		"SELECT count(*) AS n FROM activities WHERE columns['ip_address'] = '192.0.2.10'",
	)
	all := res[0][0]
	if count(t, all["n"]) != rows || count(t, all["ids"]) != rows || count(t, all["timed"]) != rows || all["lo"] != email || all["hi"] != email {
		t.Errorf("DuckDB reads %v; want %d rows of %s, each with a time and its own row_id", all, rows, email)
	}
	if n := count(t, res[1][0]["n"]); n != 0 {
		t.Errorf("%d rows outside the window", n)
	}
	if n := count(t, res[2][0]["n"]); n != 0 {
		t.Errorf("%d rows in a dt partition other than their UTC day", n)
	}
	if n := count(t, res[3][0]["n"]); n != 0 {
		t.Errorf("%d rows whose event_type or ip_address column does not match the report's", n)
	}
	wantItem, wantIP := count(t, res[4][0]["n"]), count(t, res[5][0]["n"])

	root, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	queries, err := NamedQueries(filepath.Dir(root))
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) < 5 {
		t.Fatalf("%d named queries in template.yaml, want at least 5", len(queries))
	}
	for _, q := range queries {
		t.Run(q.Resource, func(t *testing.T) {
			got := query(t, dir, ToDuckDB(q.SQL))[0]
			switch q.Resource {
			case "QueryUserActivity", "QueryDeduplicated":
				if len(got) != rows {
					t.Errorf("%d rows, want %d", len(got), rows)
				}
			case "QueryDailyEventCounts":
				if sum := sumOf(t, got, "activities"); sum != rows {
					t.Errorf("daily counts add up to %d, want %d", sum, rows)
				}
			case "QueryWhoTouchedItem":
				if sum := sumOf(t, got, "copies"); sum != wantItem {
					t.Errorf("%d activities mention the item, a direct count says %d", sum, wantItem)
				}
			case "QueryActivityByIP":
				if sum := sumOf(t, got, "activities"); sum != wantIP {
					t.Errorf("%d activities from the IP, a direct count says %d", sum, wantIP)
				}
			default:
				t.Errorf("no expectation for %s (%s)", q.Resource, q.Name)
			}
		})
	}

	t.Run("rerun replaces its files", func(t *testing.T) {
		again := run(t, st, map[string]any{"email": email, "startTime": "2026-11-20T00:00:00", "finishTime": "2026-11-27T00:00:00"})
		if again.Status != StatusSucceeded {
			t.Fatalf("rerun %s: %s %s", again.Status, again.Error, again.Cause)
		}
		dir2 := t.TempDir()
		keys2, err := st.DownloadDataset(t.Context(), dir2)
		if err != nil {
			t.Fatal(err)
		}
		var out2 request.ExportOutput
		_ = json.Unmarshal(again.Output, &out2)
		if !slices.Equal(keys2, out2.Dataset.Objects) {
			t.Errorf("after the rerun the bucket holds %v, the rerun wrote %v", keys2, out2.Dataset.Objects)
		}
		if n := count(t, query(t, dir2, "SELECT count(*) AS n FROM activities")[0][0]["n"]); n != int(out2.Dataset.Rows) {
			t.Errorf("after the rerun DuckDB counts %d rows, the rerun wrote %d: a rerun must replace, not add", n, out2.Dataset.Rows)
		}
	})
}

// Reports stored before the convert step existed (here: their dataset
// files and records deleted) are converted by the backfill state machine,
// with the rows DuckDB then counts.
func TestDatasetBackfill(t *testing.T) {
	const rows = 25
	st := startExportStack(t, avesim.Options{PollsToFinish: 1, ReportRows: rows}, nil)
	for _, email := range []string{"adele.vance@contoso.com", "alex.wilber@contoso.com"} {
		if exec := run(t, st, map[string]any{"email": email, "startTime": "2026-11-20T00:00:00", "finishTime": "2026-11-27T00:00:00"}); exec.Status != StatusSucceeded {
			t.Fatalf("export of %s: %s %s", email, exec.Error, exec.Cause)
		}
	}
	for _, k := range bucketKeys(t, st) {
		if strings.HasPrefix(k, DefaultDatasetPrefix+"/") {
			if _, err := st.S3.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(k)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	exec, err := st.RunBackfill(ctx, RunOptions{Input: map[string]any{}, RetryOverride: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if exec.Status != StatusSucceeded {
		t.Fatalf("backfill %s: %s %s\n%s", exec.Status, exec.Error, exec.Cause, st.Logs())
	}
	var out struct {
		Converted, Failed, Skipped, Rows int64
		Done                             bool
	}
	if err := json.Unmarshal(exec.Output, &out); err != nil {
		t.Fatal(err)
	}
	if !out.Done || out.Converted != 2 || out.Failed != 0 || out.Rows != 2*rows {
		t.Fatalf("backfill output %s, want 2 reports, %d rows", exec.Output, 2*rows)
	}
	dir := t.TempDir()
	if _, err := st.DownloadDataset(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	res := query(t, dir, "SELECT count(*) AS n, count(DISTINCT upn) AS users FROM activities")
	if count(t, res[0][0]["n"]) != 2*rows || count(t, res[0][0]["users"]) != 2 {
		t.Errorf("after the backfill DuckDB reads %v, want %d rows of 2 users", res[0][0], 2*rows)
	}
}

// Every report shape the simulator can serve (title rows, date cells in
// both date systems, shared strings, a summary sheet first, a French
// report with day-first text dates, all of them at once) converts to
// exactly the report's activity rows: the same count, instants and event
// types as the simulator generated, read back with DuckDB.
func TestDatasetEveryReportShape(t *testing.T) {
	const rows = 40
	plans := map[string]avesim.JobPlan{}
	emails := map[avesim.ReportShape]string{}
	for _, sh := range avesim.ReportShapes() {
		email := "shape." + strings.ReplaceAll(string(sh), "-", ".") + "@contoso.com"
		emails[sh] = email
		plans[email] = avesim.JobPlan{ReportShape: sh}
	}
	st := startExportStack(t, avesim.Options{PollsToFinish: 1, ReportRows: rows, Plans: plans}, nil)
	for _, sh := range avesim.ReportShapes() {
		email := emails[sh]
		t.Run(string(sh), func(t *testing.T) {
			exec := run(t, st, map[string]any{"email": email, "startTime": "2026-11-01T00:00:00", "finishTime": "2026-11-30T00:00:00"})
			if exec.Status != StatusSucceeded {
				t.Fatalf("execution %s: %s %s", exec.Status, exec.Error, exec.Cause)
			}
			var out request.ExportOutput
			if err := json.Unmarshal(exec.Output, &out); err != nil || out.Dataset == nil {
				t.Fatalf("output %s", exec.Output)
			}
			want, err := st.Sim.Server.ReportRows(out.JobID)
			if err != nil {
				t.Fatal(err)
			}
			if out.Dataset.Rows != int64(len(want)) {
				t.Fatalf("converted %d rows, the report holds %d (sheets %+v)", out.Dataset.Rows, len(want), out.Dataset.Sheets)
			}
			if layout := sh.Layout(); layout.SummarySheet != "" {
				for _, s := range out.Dataset.Sheets {
					if s.Sheet == layout.SummarySheet && s.Converted {
						t.Errorf("the summary sheet was converted as activities: %+v", s)
					}
				}
			}
			dir := t.TempDir()
			if _, err := st.DownloadDataset(t.Context(), dir); err != nil {
				t.Fatal(err)
			}
			got := query(t, dir, "SELECT strftime(activity_time, '%Y-%m-%dT%H:%M:%S') AS ts, event_type FROM activities WHERE upn = '"+email+"' ORDER BY ts, event_type")[0]
			var wantRows []string
			for _, r := range want {
				wantRows = append(wantRows, r.Time.UTC().Format("2006-01-02T15:04:05")+" "+r.EventType)
			}
			slices.Sort(wantRows)
			var gotRows []string
			for _, r := range got {
				gotRows = append(gotRows, fmt.Sprint(r["ts"])+" "+fmt.Sprint(r["event_type"]))
			}
			if !slices.Equal(gotRows, wantRows) {
				t.Errorf("DuckDB rows differ from the report's:\n got %v\nwant %v", head(gotRows), head(wantRows))
			}
		})
	}
}

func head(s []string) []string {
	if len(s) > 5 {
		return append(s[:5:5], fmt.Sprintf("… (%d in all)", len(s)))
	}
	return s
}

// Two exports whose windows overlap store the overlap's activities twice;
// the rows share their row_id, and the de-duplicating named query (as
// deployed) collapses them to the activities of the union of the windows.
func TestDatasetOverlappingWindowsDeduplicate(t *testing.T) {
	const email = "adele.vance@contoso.com"
	st := startExportStack(t, avesim.Options{PollsToFinish: 1, StreamInterval: time.Hour}, nil)
	var jobs []string
	for _, w := range [][2]string{{"2026-11-01T00:00:00", "2026-11-05T00:00:00"}, {"2026-11-03T00:00:00", "2026-11-08T00:00:00"}} {
		exec := run(t, st, map[string]any{"email": email, "startTime": w[0], "finishTime": w[1]})
		if exec.Status != StatusSucceeded {
			t.Fatalf("export %v: %s %s", w, exec.Error, exec.Cause)
		}
		var out request.ExportOutput
		_ = json.Unmarshal(exec.Output, &out)
		jobs = append(jobs, out.JobID)
	}
	union := map[time.Time]bool{}
	total := 0
	for _, id := range jobs {
		rows, err := st.Sim.Server.ReportRows(id)
		if err != nil {
			t.Fatal(err)
		}
		total += len(rows)
		for _, r := range rows {
			union[r.Time] = true
		}
	}
	if total == len(union) {
		t.Fatal("the two reports share no activity: the test proves nothing")
	}
	dir := t.TempDir()
	if _, err := st.DownloadDataset(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	res := query(t, dir, "SELECT count(*) AS n, count(DISTINCT row_id) AS ids, count(DISTINCT report_key) AS reports FROM activities")[0][0]
	if count(t, res["n"]) != total || count(t, res["ids"]) != len(union) || count(t, res["reports"]) != 2 {
		t.Fatalf("DuckDB reads %v; want %d rows from 2 reports, %d distinct activities", res, total, len(union))
	}
	root, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	queries, err := NamedQueries(filepath.Dir(root))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		if q.Resource != "QueryDeduplicated" {
			continue
		}
		rows := query(t, dir, ToDuckDB(q.SQL))[0]
		if len(rows) != len(union) {
			t.Errorf("the de-duplicated query returns %d rows, want %d (one per activity)", len(rows), len(union))
		}
		return
	}
	t.Fatal("template.yaml has no QueryDeduplicated")
}
