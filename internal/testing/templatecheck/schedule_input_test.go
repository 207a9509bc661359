package templatecheck_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/schedule"
)

// The schedule in template.yaml builds its execution input with Fn::Sub
// from the Schedule* parameters. Render it the way CloudFormation and
// EventBridge Scheduler would, for several parameter sets, and check that
// the batch state machine accepts it and understands it as meant.
func TestTemplateScheduleInputIsAValidBatchInput(t *testing.T) {
	raw, err := os.ReadFile("../../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+- '(\{"emails".*\})'$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("template.yaml: no Fn::Sub input of the schedule found")
	}
	format := string(m[1])
	render := func(p map[string]string, users, eventTypes []string) string {
		vars := map[string]string{"Users": strings.Join(users, `","`), "EventTypes": "", "Lookback": ""}
		if len(eventTypes) > 0 {
			vars["EventTypes"] = `"` + strings.Join(eventTypes, `","`) + `"`
		}
		if p["ScheduleIncremental"] == "true" {
			vars["Lookback"] = `,"lookbackPeriods":` + p["ScheduleLookbackPeriods"]
		}
		out := regexp.MustCompile(`\$\{([A-Za-z]+)\}`).ReplaceAllStringFunc(format, func(ref string) string {
			name := ref[2 : len(ref)-1]
			if v, ok := vars[name]; ok {
				return v
			}
			v, ok := p[name]
			if !ok {
				t.Fatalf("template input refers to ${%s}, which the test does not know", name)
			}
			return v
		})
		// EventBridge Scheduler fills in its context attribute.
		return strings.ReplaceAll(out, "<aws.scheduler.scheduled-time>", "2026-11-24T23:15:00Z")
	}
	defaults := map[string]string{"SchedulePeriod": "day", "ScheduleTimeZone": "UTC", "ScheduleOverlapMinutes": "0",
		"ScheduleIncremental": "true", "ScheduleLookbackPeriods": "1"}
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

	t.Run("defaults", func(t *testing.T) {
		b, err := request.ParseBatch([]byte(render(defaults, []string{"a@contoso.com", "b@contoso.com"}, nil)), now)
		if err != nil {
			t.Fatal(err)
		}
		want := request.Rolling{Period: schedule.Day, TimeZone: "UTC", Incremental: true, LookbackPeriods: 1, At: "2026-11-24T23:15:00Z"}
		if strings.Join(b.Emails, ",") != "a@contoso.com,b@contoso.com" || b.Window == nil || *b.Window != want || b.EventTypes != nil {
			t.Fatalf("understood %+v window %+v", b, b.Window)
		}
	})
	t.Run("rolling Berlin week with overlap and a filter", func(t *testing.T) {
		p := map[string]string{"SchedulePeriod": "week", "ScheduleTimeZone": "Europe/Berlin", "ScheduleOverlapMinutes": "30",
			"ScheduleIncremental": "false", "ScheduleLookbackPeriods": "1"}
		b, err := request.ParseBatch([]byte(render(p, []string{"a@contoso.com"}, []string{"FileAccessed", "ListViewed"})), now)
		if err != nil {
			t.Fatal(err)
		}
		start, finish := b.Fixed()
		// The scheduled time is Wednesday 00:15 Berlin: the week before,
		// Monday to Monday Berlin time, 30 minutes early.
		if b.Incremental() || start != "2026-11-15T22:30:00" || finish != "2026-11-22T23:00:00" || len(b.EventTypes) != 2 {
			t.Fatalf("understood %+v: %s--%s", b, start, finish)
		}
	})
	t.Run("every period the template allows", func(t *testing.T) {
		allowed := regexp.MustCompile(`(?s)SchedulePeriod:.*?AllowedValues: \[([^\]]*)\]`).FindSubmatch(raw)
		if allowed == nil {
			t.Fatal("SchedulePeriod has no AllowedValues")
		}
		for _, period := range strings.Split(string(allowed[1]), ",") {
			p := map[string]string{"SchedulePeriod": strings.TrimSpace(period), "ScheduleTimeZone": "America/New_York", "ScheduleOverlapMinutes": "10080",
				"ScheduleIncremental": "true", "ScheduleLookbackPeriods": "366"}
			if _, err := request.ParseBatch([]byte(render(p, []string{"a@contoso.com"}, nil)), now); err != nil {
				t.Errorf("period %s: %v", period, err)
			}
		}
	})
}

// events/*.json are meant to be pasted into the console as they are:
// every one must be accepted by the batch state machine, and those naming
// one user by the export state machine too.
func TestEventsAreValidInputs(t *testing.T) {
	files, err := filepath.Glob("../../../events/*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("events: %v %v", files, err)
	}
	kinds := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b, err := request.ParseBatch(raw, time.Now())
			if err != nil {
				t.Fatalf("batch state machine refuses it: %v", err)
			}
			if _, single := b.Single(); single {
				kinds["single"] = true
				if _, err := request.ParseRequest(raw, time.Now()); err != nil {
					t.Fatalf("export state machine refuses it: %v", err)
				}
			}
			switch {
			case b.Incremental():
				kinds["incremental"] = true
			case len(b.Users()) > 1:
				kinds["batch"] = true
			}
		})
	}
	for _, k := range []string{"single", "batch", "incremental"} {
		if !kinds[k] {
			t.Errorf("no %s example in events/", k)
		}
	}
}
