package convert

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/metrics"
	"github.com/insights-export/insights-export/internal/metrics/emftest"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

func withMetrics(r *rig, out *bytes.Buffer) {
	r.c.Metrics = &metrics.Emitter{Stack: "test-stack", Out: out, Log: r.c.Log, Now: r.c.Now}
}

func TestConverterEmitsRowsAndObjects(t *testing.T) {
	tests := []struct {
		name             string
		entries          []string
		rows, objects    float64
		wantNoMetricLine bool
	}{
		// detailsAndSummary: 3 activity rows over 2 UTC days; the summary
		// sheet's rows are counted, not converted.
		{name: "a converted report", entries: []string{"UserActivityReport_67890.xlsx"}, rows: 3, objects: 2},
		{name: "a report that fails to convert counts nothing", entries: []string{"readme.txt"}, wantNoMetricLine: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, detailsAndSummary())
			var out bytes.Buffer
			withMetrics(r, &out)
			in := r.storeZIP(t, tt.entries...)
			_, err := r.c.Handle(t.Context(), in)
			if tt.wantNoMetricLine {
				if err == nil || out.Len() != 0 {
					t.Fatalf("err %v, metrics %q", err, out.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := emftest.One(t, out.String(), metrics.RowsConverted)
			if l.Values[metrics.RowsConverted] != tt.rows || l.Values[metrics.DatasetObjects] != tt.objects || l.Units[metrics.DatasetObjects] != "Count" || l.Dims[metrics.Stack] != "test-stack" {
				t.Fatalf("line %+v", l)
			}
			if leak := badinput.Leaks(out.String(), in.Email); leak != "" {
				t.Fatalf("metric line holds the address as %q", leak)
			}
		})
	}
}

// The backfill converts through the same Converter: one line per report.
func TestBackfillEmitsPerConvertedReport(t *testing.T) {
	r := newRig(t, detailsAndSummary())
	var out bytes.Buffer
	withMetrics(r, &out)
	r.storeZIP(t, "UserActivityReport_67890.xlsx")
	b := &Backfiller{Converter: r.c, Reports: r.c.Files.(*storage.Files)}
	st, err := b.Handle(t.Context(), Backfill{})
	if err != nil || st.Converted != 1 {
		t.Fatalf("%+v %v", st, err)
	}
	if l := emftest.One(t, out.String(), metrics.RowsConverted); l.Values[metrics.RowsConverted] != 3 {
		t.Fatalf("line %+v", l)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("stdout gone") }

func TestConverterSucceedsWhenMetricsCannotBeWritten(t *testing.T) {
	r := newRig(t, detailsAndSummary())
	var log bytes.Buffer
	r.c.Metrics = &metrics.Emitter{Out: failWriter{}, Log: slog.New(slog.NewJSONHandler(&log, nil))}
	out, err := r.c.Handle(t.Context(), r.storeZIP(t, "a.xlsx"))
	if err != nil || out.Dataset == nil || out.Dataset.Rows != 3 {
		t.Fatalf("%+v %v", out, err)
	}
	if !strings.Contains(log.String(), `"level":"WARN","msg":"metrics not written"`) {
		t.Fatalf("log %s", log.String())
	}
}

func TestLoadWiresMetrics(t *testing.T) {
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"} {
		t.Setenv(k, v)
	}
	env := map[string]string{"REPORT_BUCKET": "b", "METRICS_STACK": "insights-export-prod", "METRICS_NAMESPACE": "Contoso/Insights"}
	getenv := func(k string) string { return env[k] }
	c, err := LoadConverter(getenv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadBackfiller(getenv)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*metrics.Emitter{c.Metrics, b.Converter.Metrics} {
		if e == nil || e.Stack != "insights-export-prod" || e.Namespace != "Contoso/Insights" || e.Out != os.Stdout {
			t.Fatalf("emitter %+v", e)
		}
	}
	env["METRICS_STACK"] = "pile\tof\tstacks"
	_, err = LoadConverter(getenv)
	var ce *failure.ConfigError
	if !errors.As(err, &ce) || ce.Variable != "METRICS_STACK" {
		t.Fatalf("got %v", err)
	}
}
