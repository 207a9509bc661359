package polling

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/templatecheck"
)

// historyBudget is what the template's polling bounds must keep an export
// under: Step Functions' quota less room for the store and convert steps,
// their retries and the batch's own events.
const historyBudget = 20000

// Every combination of the template's polling parameters that
// CloudFormation accepts keeps a job that runs until the deadline under
// historyBudget events (issue: a PollMaxSeconds of 1 once allowed a
// 6-hour deadline past the 25,000-event quota).
func TestTemplateBoundsKeepTheHistoryQuota(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := templatecheck.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	bound := func(param, key string) float64 {
		t.Helper()
		p, _ := tpl.Parameters[param].(map[string]any)
		v, ok := p[key].(string)
		if !ok {
			t.Fatalf("parameter %s has no %s: every allowed value must be bounded", param, key)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("%s %s = %q", param, key, v)
		}
		return f
	}
	secs := func(f float64) time.Duration { return time.Duration(f) * time.Second }
	mins := []float64{bound("PollMinSeconds", "MinValue"), bound("PollMinSeconds", "MaxValue")}
	maxs := []float64{bound("PollMaxSeconds", "MinValue"), bound("PollMaxSeconds", "MaxValue")}
	factors := []float64{bound("PollAgeFactor", "MinValue"), bound("PollAgeFactor", "MaxValue")}
	deadline := secs(bound("JobDeadlineSeconds", "MaxValue"))
	export := loadExport(t)
	worst := 0
	for _, lo := range mins {
		for _, hi := range maxs {
			if lo > hi {
				continue // refused at cold start (POLL_MIN_SECONDS > POLL_MAX_SECONDS)
			}
			for _, f := range factors {
				p := request.WaitPolicy{Min: secs(lo), Max: secs(hi), AgeFactor: f, Deadline: deadline}
				// A job that never finishes: polled until the deadline.
				res, err := Simulate(export, p, Job{Duration: deadline + time.Hour, Latency: time.Second, Deadline: deadline})
				if err != nil {
					t.Fatal(err)
				}
				worst = max(worst, res.HistoryEvents)
				if res.HistoryEvents > historyBudget || res.Outcome == HistoryLimit {
					t.Errorf("min %gs, max %gs, factor %g, deadline %s: %d history events (%s), budget %d",
						lo, hi, f, deadline, res.HistoryEvents, res.Outcome, historyBudget)
				}
			}
		}
	}
	t.Logf("worst corner: %d history events of %d", worst, historyBudget)
	if worst == 0 {
		t.Fatal("no corner simulated")
	}
}
