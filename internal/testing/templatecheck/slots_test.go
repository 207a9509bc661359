package templatecheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/slots"
)

// matches applies an EventBridge pattern of exact values (every pattern
// key must be in the event; a list matches any of its values; objects
// nest) to an event. {"Ref": X} in a pattern stands for "ref:X".
func matches(pattern map[string]any, event map[string]any) bool {
	for k, want := range pattern {
		got, ok := event[k]
		if !ok {
			return false
		}
		switch w := want.(type) {
		case map[string]any:
			if ref, ok := w["Ref"].(string); ok {
				if got != "ref:"+ref {
					return false
				}
				continue
			}
			sub, ok := got.(map[string]any)
			if !ok || !matches(w, sub) {
				return false
			}
		case []any:
			hit := false
			for _, v := range w {
				if m, ok := v.(map[string]any); ok {
					if ref, ok := m["Ref"].(string); ok && got == "ref:"+ref {
						hit = true
					}
					continue
				}
				hit = hit || fmt.Sprint(v) == fmt.Sprint(got)
			}
			if !hit {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// The rule that frees the slots of executions ending outside the ASL's
// Catch paths matches exactly the export state machine's ABORTED,
// TIMED_OUT and FAILED status changes, as Step Functions sends them, and
// the batch state machine's (whose ended runs give back the run lock),
// and targets the releaser, which is told the batch machine's ARN.
func TestJobSlotRuleMatchesEndedExportExecutions(t *testing.T) {
	tpl := loadTemplate(t)
	var pattern map[string]any
	var owner string
	for name, r := range tpl.Resources {
		events, _ := r.Properties["Events"].(map[string]any)
		for _, e := range events {
			em, _ := e.(map[string]any)
			props, _ := em["Properties"].(map[string]any)
			p, _ := props["Pattern"].(map[string]any)
			if em["Type"] == "EventBridgeRule" && slices.Contains(strs(p["source"]), slots.EventSource) {
				if pattern != nil {
					t.Fatalf("two rules on %s events (%s and %s)", slots.EventSource, owner, name)
				}
				pattern, owner = p, name
			}
		}
	}
	if pattern == nil {
		t.Fatal("no EventBridgeRule on Step Functions events")
	}
	// The target is the function built from functions/releasejobslot.
	if dir := strings.ToLower(strings.TrimSuffix(owner, "Function")); dir != "releasejobslot" {
		t.Errorf("the rule targets %s (functions/%s), want ReleaseJobSlotFunction", owner, dir)
	}
	if _, err := os.Stat(filepath.Join("..", "..", "..", "functions", "releasejobslot", "main.go")); err != nil {
		t.Error(err)
	}
	// The statuses are the ones the releaser accepts.
	detail, _ := pattern["detail"].(map[string]any)
	got := strs(detail["status"])
	sort.Strings(got)
	want := slices.Clone(slots.EndedStatuses)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("the rule matches statuses %v, the releaser handles %v", got, want)
	}

	env, _ := tpl.Resources[owner].Properties["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	if !isRef(vars["BATCH_STATE_MACHINE_ARN"], "BatchExportStateMachine") {
		t.Errorf("%s: BATCH_STATE_MACHINE_ARN %v, want !Ref BatchExportStateMachine", owner, vars["BATCH_STATE_MACHINE_ARN"])
	}
	export, batch := "ref:ExportStateMachine", "ref:BatchExportStateMachine"
	started := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		stateMachine, status string
		want                 bool
	}{
		{export, "ABORTED", true},
		{export, "TIMED_OUT", true},
		{export, "FAILED", true},
		{export, "SUCCEEDED", false},
		{export, "RUNNING", false},
		{batch, "ABORTED", true},
		{batch, "TIMED_OUT", true},
		{batch, "FAILED", true},
		{batch, "SUCCEEDED", false},
		{"ref:BackfillStateMachine", "FAILED", false},
	}
	for _, tc := range tests {
		t.Run(tc.stateMachine+" "+tc.status, func(t *testing.T) {
			raw := slots.StatusChangeEvent("arn:aws:states:eu-central-1:123456789012:execution:insights-export-Export:6f1c", tc.stateMachine, tc.status, started, started.Add(time.Minute))
			var ev map[string]any
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			if got := matches(pattern, ev); got != tc.want {
				t.Fatalf("pattern %v matches %v: %v, want %v", pattern, ev["detail"], got, tc.want)
			}
		})
	}
}

// From the moment an execution holds a slot (AcquireJobSlot or
// AcquireJobSlotAfterWait succeeded) every path to the end of the
// execution passes a state that gives it back or deliberately keeps it:
// no Catch, Choice or Next leads past them.
func TestEveryPathGivesTheJobSlotBack(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "statemachine", "export.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		StartAt string
		States  map[string]map[string]any
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	handsBack := map[string]bool{"ReleaseJobSlot": true, "ReleaseJobSlotAfterFailure": true, "HoldJobSlotForLostJob": true}
	next := func(st map[string]any) []string {
		var out []string
		if n, ok := st["Next"].(string); ok {
			out = append(out, n)
		}
		if d, ok := st["Default"].(string); ok {
			out = append(out, d)
		}
		for _, key := range []string{"Catch", "Choices"} {
			list, _ := st[key].([]any)
			for _, c := range list {
				if n, ok := c.(map[string]any)["Next"].(string); ok {
					out = append(out, n)
				}
			}
		}
		return out
	}
	for name := range handsBack {
		if doc.States[name] == nil {
			t.Fatalf("no state %s", name)
		}
	}
	// The acquiring states' success leads (Next) on with the slot held;
	// their Catch leads to the wait, holding nothing.
	var holding []string
	for _, acquire := range []string{"AcquireJobSlot", "AcquireJobSlotAfterWait"} {
		st := doc.States[acquire]
		if st == nil {
			t.Fatalf("no state %s", acquire)
		}
		holding = append(holding, st["Next"].(string))
	}
	seen := map[string]bool{}
	checked := 0
	for len(holding) > 0 {
		name := holding[0]
		holding = holding[1:]
		if seen[name] || handsBack[name] {
			continue
		}
		seen[name] = true
		st := doc.States[name]
		if st == nil {
			t.Fatalf("transition to unknown state %s", name)
		}
		checked++
		switch st["Type"] {
		case "Succeed", "Fail":
			t.Errorf("%s ends the execution while it holds a job slot", name)
		}
		if st["End"] == true {
			t.Errorf("%s ends the execution while it holds a job slot", name)
		}
		holding = append(holding, next(st)...)
	}
	if checked < 4 || !seen["StartExport"] || !seen["CheckJob"] {
		t.Fatalf("walked %v: the holding part of the machine was not found", seen)
	}
	// And the job id is written on the slot right after the job starts.
	if n := doc.States["StartExport"]["Next"]; n != "RecordJobOnSlot" {
		t.Errorf("StartExport goes on to %v, want RecordJobOnSlot", n)
	}
}
