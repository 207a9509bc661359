package polling

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const toyASL = `{
  "StartAt": "Start",
  "States": {
    "Start": {"Type": "Pass", "Next": "Route"},
    "Route": {"Type": "Choice", "Choices": [
      {"Variable": "$.kind", "StringEquals": "a", "Next": "A"},
      {"Variable": "$.extra", "IsPresent": true, "Next": "B"},
      {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}
    ], "Default": "Small"},
    "A": {"Type": "Task", "Resource": "${AFunctionArn}", "Next": "Done",
      "Catch": [{"ErrorEquals": ["Boom"], "Next": "Oops"}, {"ErrorEquals": ["States.ALL"], "Next": "Other"}]},
    "B": {"Type": "Task", "Resource": "arn:${Partition}:states:::dynamodb:updateItem", "End": true},
    "Big": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
    "Small": {"Type": "Succeed"},
    "Oops": {"Type": "Fail"},
    "Other": {"Type": "Fail"},
    "Done": {"Type": "Succeed"}
  }
}`

func names(steps []Step) string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Name)
	}
	return strings.Join(out, " ")
}

func TestWalkFollowsChoicesAndCatchers(t *testing.T) {
	def, err := ParseDefinition([]byte(toyASL))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		vars map[string]any
		fail string // the error A fails with
		want string
	}{
		{"string rule", map[string]any{"kind": "a", "$.kind": "a"}, "", "Start Route A Done"},
		{"first matching rule wins", map[string]any{"$.kind": "a", "$.extra": 1}, "", "Start Route A Done"},
		{"is present", map[string]any{"$.kind": "b", "$.extra": nil}, "", "Start Route B"},
		{"numeric", map[string]any{"$.n": 11}, "", "Start Route Big Done"},
		{"numeric not greater", map[string]any{"$.n": 10.0}, "", "Start Route Small"},
		{"a string is no number", map[string]any{"$.n": "11"}, "", "Start Route Small"},
		{"default", nil, "", "Start Route Small"},
		{"named catcher", map[string]any{"$.kind": "a"}, "Boom", "Start Route A Oops"},
		{"States.ALL catcher", map[string]any{"$.kind": "a"}, "Else", "Start Route A Other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, err := def.Walk(Walker{
				Vars: func(string, int) map[string]any { return tt.vars },
				Fail: func(state string, _ int) string {
					if state == "A" {
						return tt.fail
					}
					return ""
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(steps); got != tt.want {
				t.Fatalf("walk %q, want %q", got, tt.want)
			}
			if tt.fail != "" && !steps[2].Failed {
				t.Fatal("the failed Task is not marked")
			}
		})
	}
}

func TestWalkRefusesWhatItCannotPrice(t *testing.T) {
	tests := []struct{ name, asl string }{
		{"And rule", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"And":[],"Next":"D"}],"Default":"D"},"D":{"Type":"Succeed"}}}`},
		{"unknown operator", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.x","StringMatches":"a*","Next":"D"}],"Default":"D"},"D":{"Type":"Succeed"}}}`},
		{"no default", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.x","IsPresent":true,"Next":"D"}]},"D":{"Type":"Succeed"}}}`},
		{"parallel", `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[],"End":true}}}`},
		{"dangling next", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nowhere"}}}`},
		{"no next", `{"StartAt":"A","States":{"A":{"Type":"Pass"}}}`},
		{"uncaught failure", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"x","End":true}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def, err := ParseDefinition([]byte(tt.asl))
			if err != nil {
				t.Fatal(err)
			}
			_, err = def.Walk(Walker{Fail: func(string, int) string { return "Boom" }})
			if err == nil {
				t.Fatal("walked")
			}
		})
	}
	if _, err := ParseDefinition([]byte(`{"StartAt":"X","States":{}}`)); err == nil {
		t.Fatal("a StartAt without its state was accepted")
	}
}

func TestStepKinds(t *testing.T) {
	tests := []struct {
		step             Step
		lambda           bool
		integration, fun string
	}{
		{Step{Type: "Task", Resource: "${CheckJobFunctionArn}"}, true, "", "CheckJobFunctionArn"},
		{Step{Type: "Task", Resource: "arn:aws:lambda:us-east-1:1:function:f"}, true, "", "arn:aws:lambda:us-east-1:1:function:f"},
		{Step{Type: "Task", Resource: "arn:${Partition}:states:::dynamodb:updateItem"}, false, "dynamodb:updateItem", ""},
		{Step{Type: "Task", Resource: "arn:${Partition}:states:::states:startExecution.sync:2"}, false, "states:startExecution.sync:2", ""},
		{Step{Type: "Wait"}, false, "", ""},
	}
	for _, tt := range tests {
		if tt.step.Lambda() != tt.lambda || tt.step.Integration() != tt.integration || tt.step.Function() != tt.fun {
			t.Errorf("%+v: Lambda %v, Integration %q, Function %q", tt.step, tt.step.Lambda(), tt.step.Integration(), tt.step.Function())
		}
	}
}

// The walk of the deployed export machine: whatever states it gains, an
// export starts at StartAt, reads the job once per poll and ends in a
// Succeed state after storing and converting.
func TestExportWalkFollowsTheASL(t *testing.T) {
	e := loadExport(t)
	if e.RetryPolls {
		t.Fatal("the deployed export polls through a Choice loop")
	}
	for _, reads := range []int{1, 2, 7} {
		steps, err := e.Success(reads)
		if err != nil {
			t.Fatal(err)
		}
		at := func(name string) int { return slices.IndexFunc(steps, func(s Step) bool { return s.Name == name }) }
		checks := 0
		for _, s := range steps {
			if s.Name == CheckState {
				checks++
			}
		}
		if steps[0].Name != e.Def.StartAt || steps[len(steps)-1].Type != "Succeed" || checks != reads ||
			at("StartExport") < 0 || at("StoreReport") < at(CheckState) || at("ConvertReport") < at("StoreReport") {
			t.Fatalf("%d reads: %s", reads, names(steps))
		}
	}
	tr, ev := e.PerRead()
	if tr != 3 || ev != 9 {
		t.Fatalf("a read costs %d transitions and %d events, want 3 (Wait, Task, Choice) and 9", tr, ev)
	}
}

// The batch: an incremental run over a list takes the run lock, maps the
// users and announces the run; each map item is a Choice, the export and
// a Pass.
func TestBatchWalk(t *testing.T) {
	def, err := LoadDefinition(filepath.Join("..", "..", "statemachine", "batch.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := def.Walk(Walker{Vars: func(string, int) map[string]any {
		return map[string]any{"$.runLock": map[string]any{}, "$.users": 10}
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := names(steps)
	for _, want := range []string{"PrepareBatch", "AcquireRunLock", "ExportUsers", "WriteManifest", "AnnounceBatch"} {
		if !strings.Contains(got, want) {
			t.Fatalf("batch walk %q lacks %s", got, want)
		}
	}
	if strings.Contains(got, "DiscoverUsers") || steps[len(steps)-1].Type != "Succeed" {
		t.Fatalf("batch walk %q", got)
	}
	m := def.States["ExportUsers"]
	if m.ItemProcessor == nil {
		t.Fatal("ExportUsers has no ItemProcessor")
	}
	item, err := m.ItemProcessor.Walk(Walker{})
	if err != nil {
		t.Fatal(err)
	}
	if names(item) != "HowManyWindows ExportUser UserSucceeded" {
		t.Fatalf("item walk %q", names(item))
	}
	if item[1].Integration() != "states:startExecution.sync:2" {
		t.Fatalf("ExportUser integration %q", item[1].Integration())
	}
}

// The baseline design: the export machine without its job-slot states,
// whatever led to them leading past them.
func TestWithout(t *testing.T) {
	e := loadExport(t)
	def, err := e.Def.Without("AcquireJobSlot", "RecordJobOnSlot", "ReleaseJobSlot", "WakeJobSlotWaiter")
	if err != nil {
		t.Fatal(err)
	}
	base, err := NewExport(def, CheckState)
	if err != nil {
		t.Fatal(err)
	}
	got, err := base.Success(2)
	if err != nil {
		t.Fatal(err)
	}
	if names(got) != "StartExport WaitForJob CheckJob IsJobFinished WaitForJob CheckJob IsJobFinished StoreReport ConvertReport AnnounceReport Done" {
		t.Fatalf("walk without slots: %s", names(got))
	}
	if _, ok := e.Def.States["AcquireJobSlot"]; !ok || e.Def.StartAt != "AcquireJobSlot" {
		t.Fatal("Without changed the original")
	}
	if _, err := e.Def.Without("Done"); err == nil {
		t.Fatal("a state without Next was taken out")
	}
}
