package slots

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/metrics"
	"github.com/insights-export/insights-export/internal/metrics/emftest"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

func testEmitter(out *bytes.Buffer, now func() time.Time) *metrics.Emitter {
	return &metrics.Emitter{Stack: "test-stack", Out: out, Log: discard(), Now: now}
}

func TestWaiterEmitsTheWaitItDecides(t *testing.T) {
	tests := []struct {
		name                  string
		fresh, expired        int // holders
		after                 time.Duration
		wantWait, wantHolders float64
		wantNoLine            bool
	}{
		{name: "every slot held: the policy's wait", fresh: 5, after: 10 * time.Minute, wantWait: 120, wantHolders: 5},
		{name: "holders past their lease evicted: counted after eviction", fresh: 3, expired: 2, after: time.Minute, wantWait: 1, wantHolders: 3},
		{name: "the deadline decides no wait", fresh: 5, after: 6 * time.Hour, wantNoLine: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newWaitEnv(t)
			if tt.expired > 0 {
				e.fill(t, tt.expired, e.start.Add(-e.l.Lease-time.Minute))
			}
			e.fill(t, tt.fresh, e.start)
			e.clock.Set(e.start.Add(tt.after))
			var out bytes.Buffer
			e.w.Metrics = testEmitter(&out, e.clock.Now)
			in := e.input(busy)
			_, err := e.w.Handle(t.Context(), in)
			if tt.wantNoLine {
				if err == nil || out.Len() != 0 {
					t.Fatalf("err %v, metrics %q", err, out.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := emftest.One(t, out.String(), metrics.JobSlotWaits)
			if l.Values[metrics.JobSlotWaits] != 1 || l.Values[metrics.JobSlotWaitSeconds] != tt.wantWait || l.Values[metrics.JobSlotHolders] != tt.wantHolders ||
				l.Units[metrics.JobSlotWaitSeconds] != "Seconds" || l.Dims[metrics.Stack] != "test-stack" || fmt.Sprint(l.Sets) != "[[Stack]]" {
				t.Fatalf("line %+v", l)
			}
			if l.Timestamp != e.clock.Now().UnixMilli() {
				t.Errorf("timestamp %d", l.Timestamp)
			}
			if leak := badinput.Leaks(out.String(), "a@contoso.com"); leak != "" {
				t.Fatalf("the execution input's address is in the metric line as %q", leak)
			}
		})
	}
}

// statusEvent is StatusChangeEvent with the detail's error (and cause)
// set as Step Functions sets them for a failed execution.
func statusEvent(t *testing.T, execution, status string, errName, cause any, at time.Time) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(StatusChangeEvent(execution, exportMachine, status, at.Add(-time.Hour), at), &ev); err != nil {
		t.Fatal(err)
	}
	d := ev["detail"].(map[string]any)
	d["error"], d["cause"] = errName, cause
	d["input"] = `{"email":"adele.vance@contoso.com"}`
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReleaserCountsEndedExports(t *testing.T) {
	l := newLedger(t)
	if err := l.Create(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	c := &clock{t: now}
	tests := []struct {
		name, status string
		errName      any
		wantError    string
		invalid      bool
	}{
		{name: "failed with our error", status: "FAILED", errName: "JobFailedError", wantError: "JobFailedError"},
		{name: "failed with a Step Functions error", status: "FAILED", errName: "States.Runtime", wantError: "States.Runtime"},
		{name: "timed out", status: "TIMED_OUT", errName: "States.Timeout", wantError: "States.Timeout"},
		{name: "stopped: no error", status: "ABORTED", errName: nil, wantError: "None"},
		{name: "empty error", status: "ABORTED", errName: "", wantError: "None"},
		{name: "an error that is not a name", status: "FAILED", errName: "adele.vance@contoso.com failed", wantError: "Other"},
		{name: "an error too long", status: "FAILED", errName: strings.Repeat("E", 300), wantError: "Other"},
		{name: "succeeded is not this rule's", status: "SUCCEEDED", invalid: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			r := &Releaser{Ledger: l, Log: discard(), Now: c.Now, Metrics: testEmitter(&out, c.Now)}
			raw := statusEvent(t, executionARN(fmt.Sprintf("ended-%d", i)), tt.status, tt.errName, "the cause: adele.vance@contoso.com's mailbox", now)
			_, err := failure.Handler(r.Handle).Invoke(t.Context(), raw)
			if tt.invalid {
				if err == nil || out.Len() != 0 {
					t.Fatalf("err %v, metrics %q", err, out.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			line := emftest.One(t, out.String(), metrics.ExportsEnded)
			if line.Values[metrics.ExportsEnded] != 1 || line.Units[metrics.ExportsEnded] != "Count" {
				t.Fatalf("line %+v", line)
			}
			// By status and error, and in total (one line, two sets).
			if fmt.Sprint(line.Sets) != "[[Stack Status Error] [Stack]]" {
				t.Fatalf("dimension sets %v", line.Sets)
			}
			if line.Dims[metrics.Status] != tt.status || line.Dims[metrics.Error] != tt.wantError || line.Dims[metrics.Stack] != "test-stack" {
				t.Fatalf("dimensions %v, want %s/%s", line.Dims, tt.status, tt.wantError)
			}
			if leak := badinput.Leaks(out.String(), "adele.vance@contoso.com"); leak != "" || strings.Contains(out.String(), "mailbox") {
				t.Fatalf("the event's address or cause reached the metric line (%q): %s", leak, out.String())
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("stdout gone") }

// Metrics that cannot be written never stop a release or a wait.
func TestSlotHandlersSucceedWhenMetricsCannotBeWritten(t *testing.T) {
	var log bytes.Buffer
	broken := &metrics.Emitter{Out: failWriter{}, Log: slog.New(slog.NewJSONHandler(&log, nil))}
	e := newWaitEnv(t)
	e.fill(t, 5, e.start)
	e.w.Metrics = broken
	if out, err := e.w.Handle(t.Context(), e.input(busy)); err != nil || out.SlotWait.WaitSeconds != 5 {
		t.Fatalf("wait %+v %v", out, err)
	}
	r := &Releaser{Ledger: e.l, Log: discard(), Now: e.clock.Now, Metrics: broken}
	holder := executionARN(fmt.Sprintf("holder0-%d", e.start.Unix()))
	if _, err := e.l.DB.UpdateItem(t.Context(), updateFromASL(t, aslTask(t, "RecordJobOnSlot", 5, e.l.Table), map[string]string{
		"$$.Execution.Id": holder, "$.jobId": "67890", "$.startedAt": e.start.Format(time.RFC3339),
	})); err != nil {
		t.Fatal(err)
	}
	ro, err := failure.Handler(r.Handle).Invoke(t.Context(), statusEvent(t, holder, "FAILED", "JobFailedError", nil, e.start))
	if err != nil || !strings.Contains(string(ro), `"released":true`) {
		t.Fatalf("release %s %v", ro, err)
	}
	if n := strings.Count(log.String(), `"msg":"metrics not written"`); n != 2 {
		t.Fatalf("%d warnings, want 2: %s", n, log.String())
	}
}

func TestLoadWiresMetrics(t *testing.T) {
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"} {
		t.Setenv(k, v)
	}
	env := map[string]string{"JOB_SLOTS_TABLE": "slots", "METRICS_STACK": "insights-export-prod"}
	getenv := func(k string) string { return env[k] }
	w, err := LoadWaiter(getenv)
	if err != nil {
		t.Fatal(err)
	}
	r, err := LoadReleaser(getenv)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*metrics.Emitter{w.Metrics, r.Metrics} {
		if e == nil || e.Stack != "insights-export-prod" || e.Namespace != metrics.DefaultNamespace || e.Out != os.Stdout {
			t.Fatalf("emitter %+v", e)
		}
	}
	env["METRICS_NAMESPACE"] = "has space"
	_, err = LoadReleaser(getenv)
	var ce *failure.ConfigError
	if !errors.As(err, &ce) || ce.Variable != "METRICS_NAMESPACE" {
		t.Fatalf("got %v", err)
	}
}
