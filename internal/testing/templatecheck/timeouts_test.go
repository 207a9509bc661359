package templatecheck

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/request"
)

// The timeouts are a chain (see export.CallMargin): an AvePoint call ends
// CallMargin before its function's deadline, and each Lambda Task of the
// state machines waits at least TaskTimeoutMargin longer than its
// function's Timeout. Then a hung call ends as a typed error the ASL
// retries, and States.Timeout only ever means the Lambda service itself
// did not answer.
func TestTaskTimeoutsOutlastTheirFunctions(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	src, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	globalTimeout := 3 // SAM's default
	if fn, ok := tpl.Globals["Function"].(map[string]any); ok {
		if v, ok := fn["Timeout"].(string); ok {
			globalTimeout, _ = strconv.Atoi(v)
		}
	}
	functionTimeout := func(name string) (int, bool) {
		r, ok := tpl.Resources[name]
		if !ok || r.Type != "AWS::Serverless::Function" {
			return 0, false
		}
		if v, ok := r.Properties["Timeout"].(string); ok {
			n, err := strconv.Atoi(v)
			return n, err == nil
		}
		return globalTimeout, true
	}
	checked := 0
	for name, r := range tpl.Resources {
		if r.Type != "AWS::Serverless::StateMachine" {
			continue
		}
		subs, _ := r.Properties["DefinitionSubstitutions"].(map[string]any)
		uri, _ := r.Properties["DefinitionUri"].(string)
		if uri == "" {
			t.Fatalf("%s: no DefinitionUri", name)
		}
		raw, err := os.ReadFile(filepath.Join(root, uri))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
		forEachTask(doc, func(state string, task map[string]any) {
			res, _ := task["Resource"].(string)
			if !strings.HasPrefix(res, "${") {
				return // a service integration, not one of our functions
			}
			fn := getAttTarget(subs[strings.Trim(res, "${}")])
			timeout, ok := functionTimeout(fn)
			if !ok {
				t.Errorf("%s %s: resource %s is not a function of the template", uri, state, res)
				return
			}
			checked++
			secs, _ := task["TimeoutSeconds"].(float64)
			if want := timeout + int(export.TaskTimeoutMargin/time.Second); int(secs) < want {
				t.Errorf("%s %s: TimeoutSeconds %v; its function %s times out after %d s, so the Task must wait at least %d s", uri, state, secs, fn, timeout, want)
			}
			if fn == "StartExportFunction" || fn == "CheckJobFunction" {
				if time.Duration(timeout)*time.Second < 2*export.CallMargin {
					t.Errorf("%s: Timeout %d s leaves an AvePoint call less than CallMargin (%s)", fn, timeout, export.CallMargin)
				}
			}
		})
	}
	if checked < 5 {
		t.Fatalf("checked %d Lambda Tasks; the state machines have at least 5", checked)
	}
}

func forEachTask(states any, f func(string, map[string]any)) {
	m, _ := states.(map[string]any)
	for name, s := range m["States"].(map[string]any) {
		st, _ := s.(map[string]any)
		if st["Type"] == "Task" {
			f(name, st)
		}
		for _, k := range []string{"ItemProcessor", "Iterator"} {
			if sub, ok := st[k]; ok {
				forEachTask(sub, f)
			}
		}
	}
}

// getAttTarget is the resource of a !GetAtt Name.Arn substitution.
func getAttTarget(v any) string {
	m, _ := v.(map[string]any)
	switch g := m["Fn::GetAtt"].(type) {
	case string:
		return strings.SplitN(g, ".", 2)[0]
	case []any:
		if len(g) > 0 {
			s, _ := g[0].(string)
			return s
		}
	}
	return ""
}

// A batch's child execution (the export state machine) must outlast the
// longest export the parameters allow: a wait for a job slot, which
// JobDeadlineSeconds ends (internal/slots), a job polled up to the largest
// JobDeadlineSeconds, then every later Task timing out on each attempt
// its Retry allows. Every Task that starts it must wait that long:
// ExportUser, and ExportWindow, which exports each window of a long
// catch-up as a child of its own (so the bound per export is the same
// however many windows a user has).
//
// What windows change is the user's item: up to request.MaxWindowsPerRun
// exports one after another, each followed by AdvanceMark, all inside
// the Distributed Map's child, a Standard execution that Step Functions
// ends after a year. The longest item, every window's export running to
// its Task timeout and every AdvanceMark attempt to its own, must fit.
func TestBatchChildTimeoutOutlastsTheLongestExport(t *testing.T) {
	tpl := loadTemplate(t)
	num := func(param, key string) int {
		p, _ := tpl.Parameters[param].(map[string]any)
		v, _ := p[key].(string)
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("parameter %s has no numeric %s", param, key)
		}
		return n
	}
	slotWait := num("JobDeadlineSeconds", "MaxValue")
	longest := slotWait + num("JobDeadlineSeconds", "MaxValue") + num("PollMaxSeconds", "MaxValue")
	read := func(name string) map[string]any {
		raw, err := os.ReadFile(filepath.Join("..", "..", "..", "statemachine", name))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	// retries are a Task's Retry: every attempt it allows, and the
	// longest the waits between them can add up to.
	retries := func(st map[string]any) (attempts, delays int, errs []string) {
		for _, r := range asList(st["Retry"]) {
			rm := r.(map[string]any)
			n := int(rm["MaxAttempts"].(float64))
			attempts += n
			delays += n * int(rm["MaxDelaySeconds"].(float64))
			for _, e := range asList(rm["ErrorEquals"]) {
				errs = append(errs, e.(string))
			}
		}
		return attempts, delays, errs
	}
	export := read("export.asl.json")["States"].(map[string]any)
	for _, state := range []string{"StoreReport", "ConvertReport"} {
		st := export[state].(map[string]any)
		attempts := 1
		for _, r := range st["Retry"].([]any) {
			if n := int(r.(map[string]any)["MaxAttempts"].(float64)); n+1 > attempts {
				attempts = n + 1
			}
		}
		longest += int(st["TimeoutSeconds"].(float64)) * attempts
	}
	starters := map[string]map[string]any{}
	var advance map[string]any
	forEachTask(read("batch.asl.json"), func(name string, task map[string]any) {
		res, _ := task["Resource"].(string)
		params, _ := task["Parameters"].(map[string]any)
		if strings.Contains(res, ":states:startExecution") && params["StateMachineArn"] == "${ExportStateMachineArn}" {
			starters[name] = task
		}
		if res == "${AdvanceMarkFunctionArn}" {
			advance = task
		}
	})
	for _, name := range []string{"ExportUser", "ExportWindow"} {
		if starters[name] == nil {
			t.Fatalf("batch.asl.json has no %s Task starting the export state machine (found %v)", name, slices.Collect(maps.Keys(starters)))
		}
	}
	for name, task := range starters {
		if child, _ := task["TimeoutSeconds"].(float64); int(child) < longest {
			t.Errorf("%s times out after %v s; the longest export the parameters allow takes %d s", name, child, longest)
		}
	}
	if advance == nil {
		t.Fatal("batch.asl.json has no AdvanceMark Task")
	}
	window := int(starters["ExportWindow"]["TimeoutSeconds"].(float64))
	_, delays, errs := retries(starters["ExportWindow"])
	for _, e := range errs {
		// Those come back at the start of the child, not after its
		// timeout: the bound below counts one timeout per window.
		if !strings.HasPrefix(e, "StepFunctions.") {
			t.Errorf("ExportWindow retries %s: a window could then take more than one Task timeout", e)
		}
	}
	window += delays
	attempts, delays, _ := retries(advance)
	window += (1+attempts)*int(advance["TimeoutSeconds"].(float64)) + delays
	const standardYear = 365 * 24 * 3600
	if item := request.MaxWindowsPerRun * window; item >= standardYear {
		t.Errorf("a user of %d windows may run %d s (%d s a window); the Distributed Map's child ends after %d s",
			request.MaxWindowsPerRun, item, window, standardYear)
	}
}
