package report

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/metrics"
	"github.com/insights-export/insights-export/internal/metrics/emftest"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage/upload"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

const metricsUser = "adele.vance+exports@contoso.com"

func metricsStorer(out io.Writer, body []byte, stored int64) *Storer {
	st := &fakeStore{put: func(o upload.Object, r io.Reader) (upload.Result, error) {
		if _, err := io.ReadAll(r); err != nil {
			return upload.Result{}, err
		}
		return upload.Result{Bucket: "b", Key: o.Key, Bytes: stored, SHA256: "abc"}, nil
	}}
	api := &fakeAPI{File: func(string) (*avepoint.Report, error) { return report(bytes.NewReader(body), int64(len(body))), nil }}
	return &Storer{API: api, Store: st, Prefix: "reports", Log: quiet, Now: fixedNow(testNow),
		Metrics: &metrics.Emitter{Stack: "test-stack", Out: out, Log: quiet, Now: fixedNow(testNow)}}
}

func metricsJob() request.Job {
	j := finishedJob()
	j.Request.Email = metricsUser
	return j
}

// validZIP is a real archive, which verifyReport lets through.
func validZIP(t *testing.T, entries ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte("rows of " + e))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestStorerEmitsReportMetrics(t *testing.T) {
	zipBytes := validZIP(t, "UserActivityReport.xlsx")
	tests := []struct {
		name   string
		body   []byte
		stored int64
		want   bool
	}{
		{"a stored report counts once with its size", zipBytes, 48213, true},
		{"an empty ZIP is a report too", validZIP(t), 22, true},
		{"a refused report counts nothing", []byte("<html>"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			s := metricsStorer(&out, tt.body, tt.stored)
			_, err := s.Handle(context.Background(), metricsJob())
			if !tt.want {
				if err == nil || out.Len() != 0 {
					t.Fatalf("err %v, metrics %q", err, out.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := emftest.One(t, out.String(), metrics.ReportsStored)
			if l.Values[metrics.ReportsStored] != 1 || l.Values[metrics.ReportBytes] != float64(tt.stored) ||
				l.Units[metrics.ReportBytes] != "Bytes" || l.Units[metrics.ReportsStored] != "Count" || l.Dims[metrics.Stack] != "test-stack" || len(l.Sets) != 1 || len(l.Sets[0]) != 1 {
				t.Fatalf("line %+v", l)
			}
			if leak := badinput.Leaks(out.String(), metricsUser); leak != "" {
				t.Fatalf("metric line holds the address as %q: %s", leak, out.String())
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("stdout gone") }

// A metric that cannot be written costs a warning, never the report.
func TestStorerSucceedsWhenMetricsCannotBeWritten(t *testing.T) {
	var log bytes.Buffer
	s := metricsStorer(failWriter{}, validZIP(t, "a.xlsx"), 9)
	s.Metrics.Log = slog.New(slog.NewJSONHandler(&log, nil))
	out, err := s.Handle(context.Background(), metricsJob())
	if err != nil || out.Bytes != 9 {
		t.Fatalf("out %+v err %v", out, err)
	}
	if !strings.Contains(log.String(), `"level":"WARN","msg":"metrics not written"`) {
		t.Fatalf("log %s", log.String())
	}
	s.Metrics = nil // and a storer without an emitter
	if _, err := s.Handle(context.Background(), metricsJob()); err != nil {
		t.Fatal(err)
	}
}

// LoadStorer reads METRICS_* and writes the lines to stdout.
func TestLoadStorerWiresMetrics(t *testing.T) {
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"} {
		t.Setenv(k, v)
	}
	env := map[string]string{"AVEPOINT_SECRET_ID": "s", "REPORT_BUCKET": "b", "METRICS_STACK": "insights-export-prod"}
	s, err := LoadStorer(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s.Metrics == nil || s.Metrics.Stack != "insights-export-prod" || s.Metrics.Namespace != metrics.DefaultNamespace || s.Metrics.Out != os.Stdout {
		t.Fatalf("emitter %+v", s.Metrics)
	}
	env["METRICS_NAMESPACE"] = "AWS/Lambda"
	_, err = LoadStorer(func(k string) string { return env[k] })
	var ce *failure.ConfigError
	if !errors.As(err, &ce) || ce.Variable != "METRICS_NAMESPACE" {
		t.Fatalf("got %v", err)
	}
}
