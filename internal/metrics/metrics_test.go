package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/metrics"
	"github.com/insights-export/insights-export/internal/metrics/emftest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from the emitter's output")

var at = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func emitter(out *bytes.Buffer, log *bytes.Buffer) *metrics.Emitter {
	e := &metrics.Emitter{Namespace: "InsightsExport", Stack: "insights-export-prod", Out: out, Now: func() time.Time { return at }}
	if log != nil {
		e.Log = slog.New(slog.NewJSONHandler(log, nil))
	}
	return e
}

func TestEmitterGolden(t *testing.T) {
	tests := []struct {
		name string
		emit func(*metrics.Emitter)
	}{
		{"one_metric", func(e *metrics.Emitter) {
			e.Emit(context.Background(), metrics.Metric{Name: metrics.ReportsStored, Unit: metrics.Count, Value: 1})
		}},
		{"several_units", func(e *metrics.Emitter) {
			e.Emit(context.Background(),
				metrics.Metric{Name: metrics.JobSlotWaits, Unit: metrics.Count, Value: 1},
				metrics.Metric{Name: metrics.JobSlotWaitSeconds, Unit: metrics.Seconds, Value: 120},
				metrics.Metric{Name: metrics.ReportBytes, Unit: metrics.Bytes, Value: 1 << 40},
				metrics.Metric{Name: "Fraction", Unit: metrics.Percent, Value: 12.5})
		}},
		{"two_dimension_sets", func(e *metrics.Emitter) {
			e.EmitSets(context.Background(),
				[]metrics.Dimension{{Name: metrics.Status, Value: "FAILED"}, {Name: metrics.Error, Value: "JobFailedError"}},
				[][]string{{metrics.Status, metrics.Error}, {}},
				metrics.Metric{Name: metrics.ExportsEnded, Unit: metrics.Count, Value: 1})
		}},
		{"values_sanitized", func(e *metrics.Emitter) {
			e.EmitSets(context.Background(), []metrics.Dimension{
				{Name: "Empty", Value: ""}, {Name: "Blank", Value: "   "}, {Name: "Long", Value: strings.Repeat("x", 1025)},
				{Name: "Accented", Value: "Zürich"}, {Name: "Newline", Value: "a\nb"}, {Name: "Dash", Value: "-"},
			}, nil, metrics.Metric{Name: "Things", Unit: metrics.Count, Value: 0})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, log bytes.Buffer
			tt.emit(emitter(&out, &log))
			if log.Len() != 0 {
				t.Fatalf("warnings: %s", log.String())
			}
			if n := strings.Count(out.String(), "\n"); n != 1 || !strings.HasSuffix(out.String(), "\n") {
				t.Fatalf("%d lines, want one whole line: %q", n, out.String())
			}
			emftest.Lines(t, out.String()) // the spec's rules
			golden := filepath.Join("testdata", tt.name+".json")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("got\n%s\nwant (%s)\n%s", out.Bytes(), golden, want)
			}
		})
	}
}

func TestEmitterValues(t *testing.T) {
	var out bytes.Buffer
	e := emitter(&out, nil)
	e.EmitSets(context.Background(),
		[]metrics.Dimension{{Name: metrics.Status, Value: "ABORTED"}, {Name: metrics.Error, Value: metrics.NoError}},
		[][]string{{metrics.Status, metrics.Error}, {}},
		metrics.Metric{Name: metrics.ExportsEnded, Unit: metrics.Count, Value: 1})
	l := emftest.One(t, out.String(), metrics.ExportsEnded)
	if l.Namespace != "InsightsExport" || l.Timestamp != at.UnixMilli() || l.Values[metrics.ExportsEnded] != 1 || l.Units[metrics.ExportsEnded] != "Count" {
		t.Fatalf("line %+v", l)
	}
	if fmt.Sprint(l.Sets) != "[[Stack Status Error] [Stack]]" {
		t.Fatalf("sets %v", l.Sets)
	}
	if l.Dims[metrics.Stack] != "insights-export-prod" || l.Dims[metrics.Status] != "ABORTED" || l.Dims[metrics.Error] != "None" {
		t.Fatalf("dimensions %v", l.Dims)
	}
	sanitized := map[string]string{"Empty": "", "Blank": " \t", "Long": strings.Repeat("x", 1025), "Accented": "Zürich", "Control": "a\x00b"}
	var dims []metrics.Dimension
	for k, v := range sanitized {
		dims = append(dims, metrics.Dimension{Name: k, Value: v})
	}
	out.Reset()
	e.EmitSets(context.Background(), dims, nil, metrics.Metric{Name: "Things", Unit: metrics.Count, Value: 3})
	l = emftest.One(t, out.String(), "Things")
	for k := range sanitized {
		if l.Dims[k] != metrics.Other {
			t.Errorf("dimension %s = %q, want Other", k, l.Dims[k])
		}
	}
	out.Reset()
	longest := strings.Repeat("y", metrics.MaxDimensionValueLen)
	e.EmitSets(context.Background(), []metrics.Dimension{{Name: "Longest", Value: longest}}, nil, metrics.Metric{Name: "Things", Unit: metrics.Count, Value: 3})
	if l := emftest.One(t, out.String(), "Things"); l.Dims["Longest"] != longest {
		t.Errorf("a value of exactly %d characters was not kept", metrics.MaxDimensionValueLen)
	}
}

// Past 100 metrics an emission takes several lines, each within the
// specification's limit; a set of 30 dimensions is the most allowed.
func TestEmitterLimits(t *testing.T) {
	var out, log bytes.Buffer
	e := emitter(&out, &log)
	var ms []metrics.Metric
	for i := range 250 {
		ms = append(ms, metrics.Metric{Name: fmt.Sprintf("M%03d", i), Unit: metrics.Count, Value: float64(i)})
	}
	e.Emit(context.Background(), ms...)
	lines := emftest.Lines(t, out.String())
	if len(lines) != 3 || len(lines[0].Values) != 100 || len(lines[1].Values) != 100 || len(lines[2].Values) != 50 {
		t.Fatalf("%d lines", len(lines))
	}
	if lines[2].Values["M249"] != 249 {
		t.Fatalf("last line %v", lines[2].Values)
	}

	dims := func(n int) ([]metrics.Dimension, [][]string) {
		var ds []metrics.Dimension
		var set []string
		for i := range n {
			ds = append(ds, metrics.Dimension{Name: fmt.Sprintf("D%02d", i), Value: "v"})
			set = append(set, fmt.Sprintf("D%02d", i))
		}
		return ds, [][]string{set}
	}
	out.Reset()
	ds, sets := dims(metrics.MaxDimensionsPerSet - 1) // and Stack: 30
	e.EmitSets(context.Background(), ds, sets, metrics.Metric{Name: "X", Unit: metrics.Count, Value: 1})
	if l := emftest.One(t, out.String(), "X"); len(l.Sets[0]) != 30 {
		t.Fatalf("set %v", l.Sets[0])
	}
	if log.Len() != 0 {
		t.Fatalf("warnings %s", log.String())
	}
	out.Reset()
	ds, sets = dims(metrics.MaxDimensionsPerSet) // 31 with Stack
	e.EmitSets(context.Background(), ds, sets, metrics.Metric{Name: "X", Unit: metrics.Count, Value: 1})
	if out.Len() != 0 || !strings.Contains(log.String(), "more than 30") {
		t.Fatalf("31 dimensions: wrote %q, logged %s", out.String(), log.String())
	}
}

// A metric this code got wrong is dropped with a warning; the rest of
// the line goes out. Wrong dimensions drop the line.
func TestEmitterDropsWhatCloudWatchWouldRefuse(t *testing.T) {
	good := metrics.Metric{Name: "Good", Unit: metrics.Count, Value: 2}
	tests := []struct {
		name    string
		dims    []metrics.Dimension
		sets    [][]string
		metrics []metrics.Metric
		keep    bool // Good is written
		warning string
	}{
		{name: "unknown unit", metrics: []metrics.Metric{good, {Name: "B", Unit: "Parsecs", Value: 1}}, keep: true, warning: "no CloudWatch unit"},
		{name: "no unit", metrics: []metrics.Metric{good, {Name: "B", Value: 1}}, keep: true, warning: "no CloudWatch unit"},
		{name: "NaN", metrics: []metrics.Metric{good, {Name: "B", Unit: metrics.Count, Value: math.NaN()}}, keep: true, warning: "not a number"},
		{name: "infinity", metrics: []metrics.Metric{good, {Name: "B", Unit: metrics.Count, Value: math.Inf(1)}}, keep: true, warning: "not a number"},
		{name: "too large", metrics: []metrics.Metric{good, {Name: "B", Unit: metrics.Count, Value: 1e200}}, keep: true, warning: "not a number"},
		{name: "repeated name", metrics: []metrics.Metric{good, good}, keep: true, warning: "repeated metric"},
		{name: "empty name", metrics: []metrics.Metric{good, {Unit: metrics.Count}}, keep: true, warning: "bad or repeated metric"},
		{name: "reserved name", metrics: []metrics.Metric{good, {Name: "_aws", Unit: metrics.Count}}, keep: true, warning: "bad or repeated metric"},
		{name: "name of a dimension", metrics: []metrics.Metric{good, {Name: "Stack", Unit: metrics.Count}}, keep: true, warning: "bad or repeated metric"},
		{name: "long name", metrics: []metrics.Metric{good, {Name: strings.Repeat("n", 256), Unit: metrics.Count}}, keep: true, warning: "(unprintable or long)"},
		{name: "set names an unknown dimension", sets: [][]string{{"Status"}}, metrics: []metrics.Metric{good}, warning: "unknown or repeated dimension"},
		{name: "set repeats Stack", sets: [][]string{{"Stack"}}, metrics: []metrics.Metric{good}, warning: "unknown or repeated dimension"},
		{name: "dimension named like a member", dims: []metrics.Dimension{{Name: "level", Value: "x"}}, metrics: []metrics.Metric{good}, warning: "bad or repeated dimension"},
		{name: "dimension named with a colon", dims: []metrics.Dimension{{Name: ":x", Value: "x"}}, metrics: []metrics.Metric{good}, warning: "bad or repeated dimension"},
		{name: "dimension repeated", dims: []metrics.Dimension{{Name: "A", Value: "x"}, {Name: "A", Value: "y"}}, metrics: []metrics.Metric{good}, warning: "bad or repeated dimension"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, log bytes.Buffer
			emitter(&out, &log).EmitSets(context.Background(), tt.dims, tt.sets, tt.metrics...)
			if !strings.Contains(log.String(), `"level":"WARN"`) || !strings.Contains(log.String(), tt.warning) {
				t.Errorf("log %s, want a WARN saying %q", log.String(), tt.warning)
			}
			lines := emftest.Lines(t, out.String())
			switch {
			case tt.keep && (len(lines) != 1 || len(lines[0].Values) != 1 || lines[0].Values["Good"] != 2):
				t.Fatalf("lines %+v, want only Good", lines)
			case !tt.keep && out.Len() != 0:
				t.Fatalf("wrote %s", out.String())
			}
		})
	}
}

type failingWriter struct{ calls int }

func (f *failingWriter) Write([]byte) (int, error) {
	f.calls++
	return 0, errors.New("stdout closed")
}

// Emitting never fails or panics: nil and zero emitters do nothing, a
// failing writer costs a warning.
func TestEmitterNeverFails(t *testing.T) {
	m := metrics.Metric{Name: "X", Unit: metrics.Count, Value: 1}
	var nilEmitter *metrics.Emitter
	nilEmitter.Emit(context.Background(), m)
	nilEmitter.EmitSets(context.Background(), []metrics.Dimension{{Name: "A", Value: "b"}}, nil, m)
	(&metrics.Emitter{}).Emit(context.Background(), m)

	var log bytes.Buffer
	w := &failingWriter{}
	e := &metrics.Emitter{Out: w, Log: slog.New(slog.NewJSONHandler(&log, nil))}
	e.Emit(context.Background(), m)
	if w.calls != 1 || !strings.Contains(log.String(), `"level":"WARN","msg":"metrics not written","error":"stdout closed"`) {
		t.Fatalf("calls %d, log %s", w.calls, log.String())
	}
}

// Lines written at once from many goroutines stay whole.
func TestEmitterLinesDoNotInterleave(t *testing.T) {
	var out bytes.Buffer
	e := emitter(&out, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			e.Emit(context.Background(), metrics.Metric{Name: fmt.Sprintf("G%d", i), Unit: metrics.Count, Value: float64(i)})
		})
	}
	wg.Wait()
	if lines := emftest.Lines(t, out.String()); len(lines) != 20 {
		t.Fatalf("%d lines", len(lines))
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    metrics.Config
		wantErr string
	}{
		{name: "defaults", want: metrics.Config{Namespace: "InsightsExport", Stack: "insights-export"}},
		{name: "the template's", env: map[string]string{"METRICS_NAMESPACE": "Contoso/InsightsExport", "METRICS_STACK": " insights-export-prod "},
			want: metrics.Config{Namespace: "Contoso/InsightsExport", Stack: "insights-export-prod"}},
		{name: "AWS namespace", env: map[string]string{"METRICS_NAMESPACE": "AWS/Lambda"}, wantErr: "METRICS_NAMESPACE"},
		{name: "namespace with a space", env: map[string]string{"METRICS_NAMESPACE": "Insights Export"}, wantErr: "METRICS_NAMESPACE"},
		{name: "long namespace", env: map[string]string{"METRICS_NAMESPACE": strings.Repeat("n", 256)}, wantErr: "METRICS_NAMESPACE"},
		{name: "stack not ASCII", env: map[string]string{"METRICS_STACK": "exportación"}, wantErr: "METRICS_STACK"},
		{name: "long stack", env: map[string]string{"METRICS_STACK": strings.Repeat("s", 1025)}, wantErr: "METRICS_STACK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := config.NewEnv(func(k string) string { return tt.env[k] })
			got := metrics.LoadConfig(env)
			err := env.Err()
			if tt.wantErr != "" {
				var ce *failure.ConfigError
				if !errors.As(err, &ce) || ce.Variable != tt.wantErr {
					t.Fatalf("error %v, want a ConfigError for %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v %v, want %+v", got, err, tt.want)
			}
		})
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"JobFailedError": "JobFailedError",
		"States.Timeout": "States.Timeout",
		"DynamoDB.ConditionalCheckFailedException": "DynamoDB.ConditionalCheckFailedException",
		"":                        "Other",
		"adele.vance@contoso.com": "Other",
		"job failed: mailbox":     "Other",
		strings.Repeat("E", 257):  "Other",
	} {
		if got := metrics.Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

// doc.go's table lists every metric name, so the README and the
// template's alarms have one reference.
func TestDocListsEveryMetric(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{metrics.ReportsStored, metrics.ReportBytes, metrics.RowsConverted, metrics.DatasetObjects,
		metrics.JobSlotWaits, metrics.JobSlotWaitSeconds, metrics.JobSlotHolders, metrics.ExportsEnded,
		metrics.BatchRuns, metrics.UsersSucceeded, metrics.UsersWithException, metrics.UsersFailed, metrics.UsersUpToDate,
		metrics.BatchBytesStored, metrics.BatchRowsConverted, metrics.MarkStalenessSeconds} {
		if !strings.Contains(string(doc), "//\t"+name+" ") {
			t.Errorf("doc.go's table lacks %s", name)
		}
	}
}
