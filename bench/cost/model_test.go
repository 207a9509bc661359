package cost

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/insights-export/insights-export/bench/polling"
	"github.com/insights-export/insights-export/internal/request"
)

func exportFile() string { return filepath.Join("..", "..", "statemachine", "export.asl.json") }

func testModel(t *testing.T) Model {
	t.Helper()
	mem, err := TemplateMemory(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	run := FunctionRun{Duration: 9 * time.Millisecond, LogBytes: 100}
	return Model{
		Memory: mem,
		Runs: map[string]FunctionRun{"startexport": run, "checkjob": run, "storereport": run, "convertreport": run, "wakejobslotwaiter": run,
			"preparebatch": {LogBytes: 50}, "writemanifest": {LogBytes: 50}},
		Allowance:        time.Millisecond,
		PlatformLogBytes: 500,
		ItemBytes:        map[string]float64{"avepoint-export-jobs": LedgerBytes(5, 130), "incremental-batch-run": 200},
		EventBytes:       3000, FailedEventLogBytes: 400, TracesPerExecution: 1,
		S3Tier1PerExport: 4, S3Tier2PerExport: 2,
	}
}

func TestTemplateMemory(t *testing.T) {
	mem, err := TemplateMemory(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	// The Globals default for the small functions; the sized ones their
	// own (template.yaml explains each).
	for dir, min := range map[string]int{"startexport": 128, "checkjob": 128, "storereport": 128, "convertreport": 1024, "preparebatch": 128, "writemanifest": 128} {
		if mem[dir] < min {
			t.Errorf("%s: %d MB", dir, mem[dir])
		}
	}
	if mem["checkjob"] != 128 {
		t.Errorf("checkjob %d MB: the Globals default is 128", mem["checkjob"])
	}
}

// The ASL walk priced: states, invocations, ledger writes and the event
// of a successful export after 4 reads.
func TestExportUsageFollowsTheWalk(t *testing.T) {
	e, err := polling.LoadExport(exportFile())
	if err != nil {
		t.Fatal(err)
	}
	r, err := polling.Simulate(e, polling.Fixed(10*time.Second), polling.Job{Duration: 40 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m := testModel(t)
	u, err := m.Export(r, false)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]float64{}
	for _, inv := range u.Lambda {
		calls[inv.Function] += inv.Count
		if inv.Duration != 10*time.Millisecond {
			t.Errorf("%s billed %s, want measured + allowance", inv.Function, inv.Duration)
		}
	}
	// 3 × 4 + 9 states; StartExport, 4 reads, the waiter's wake, store,
	// convert; three slot writes of a 5-holder ledger (2 KB units each);
	// one event; S3 from the measurement; one trace.
	if u.Transitions != 21 || calls["checkjob"] != 4 || calls["startexport"] != 1 || calls["wakejobslotwaiter"] != 1 || calls["storereport"] != 1 || calls["convertreport"] != 1 ||
		u.WRU != 3*2 || u.RRU != 0 || u.Events != 1 || u.S3Tier1 != 4 || u.S3Tier2 != 2 || u.Traces != 1 {
		t.Fatalf("usage %+v, calls %v", u, calls)
	}
	if want := 8 * (100 + 500.0); u.LogBytes != want {
		t.Fatalf("log bytes %.0f, want %.0f", u.LogBytes, want)
	}
}

// A check that reads in-process is billed for its sleep and its extra
// reads, spread over its invocations; its transitions are its cycles'.
func TestExportBillsInProcessReads(t *testing.T) {
	e, err := polling.LoadExport(exportFile())
	if err != nil {
		t.Fatal(err)
	}
	// A 1-minute job under the default policy: 12 reads, 5 s apart, in 3
	// invocations, 45 s asleep in them (bench/polling's test spells it out).
	r, err := polling.Simulate(e, request.DefaultWaitPolicy, polling.Job{Duration: time.Minute, InProcess: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Polls != 12 || r.Cycles != 3 || r.Inside != 45*time.Second {
		t.Fatalf("simulated %d reads in %d cycles, %s inside", r.Polls, r.Cycles, r.Inside)
	}
	m := testModel(t)
	u, err := m.Export(r, false)
	if err != nil {
		t.Fatal(err)
	}
	var checks float64
	var billed time.Duration
	for _, inv := range u.Lambda {
		if inv.Function == "checkjob" {
			checks += inv.Count
			billed += time.Duration(inv.Count) * inv.Duration
		}
	}
	// 3 invocations; 12 reads of 9 ms + 1 ms allowance, and 45 s asleep.
	if want := 12*10*time.Millisecond + 45*time.Second; checks != 3 || billed != want {
		t.Fatalf("%.0f check invocations billed %s, want 3 billed %s", checks, billed, want)
	}
	if u.Transitions != float64(3*3+9) {
		t.Fatalf("%.0f transitions, want 3 cycles × 3 + 9", u.Transitions)
	}
	// The log lines of all 12 reads, the platform's of 3 invocations;
	// the other four functions one invocation each.
	if want := 12*100 + 3*500.0 + 4*(100+500); u.LogBytes != want {
		t.Fatalf("log bytes %.0f, want %.0f", u.LogBytes, want)
	}
}

// Retries are transitions and invocations too; logged when they fail.
func TestStepsCountRetries(t *testing.T) {
	m := testModel(t)
	path := []polling.Step{{Name: "CheckJob", Type: "Task", Resource: "${CheckJobFunctionArn}"}, {Name: "Done", Type: "Succeed"}}
	u, err := m.Steps(path, map[string]int{"CheckJob": 9}, map[string]int{"CheckJob": 9})
	if err != nil {
		t.Fatal(err)
	}
	if u.Transitions != 11 || u.Invocations() != 10 || u.LogBytes != 10*600+9*400 {
		t.Fatalf("usage %+v", u)
	}
}

func TestStepsRefuseWhatTheyCannotPrice(t *testing.T) {
	m := testModel(t)
	tests := []struct {
		name string
		step polling.Step
	}{
		{"function without memory", polling.Step{Name: "X", Type: "Task", Resource: "${NopeFunctionArn}"}},
		{"function not measured", polling.Step{Name: "X", Type: "Task", Resource: "${DiscoverUsersFunctionArn}"}},
		{"unknown integration", polling.Step{Name: "X", Type: "Task", Resource: "arn:aws:states:::sqs:sendMessage"}},
		{"unknown item", polling.Step{Name: "X", Type: "Task", Resource: "arn:aws:states:::dynamodb:putItem", Parameters: []byte(`{"Item":{"ledger":{"S":"other"}}}`)}},
		{"putEvents without entries", polling.Step{Name: "X", Type: "Task", Resource: "arn:aws:states:::events:putEvents", Parameters: []byte(`{}`)}},
	}
	for _, tt := range tests {
		if _, err := m.Steps([]polling.Step{tt.step}, nil, nil); err == nil {
			t.Errorf("%s: priced", tt.name)
		}
	}
}

// A batch run: the batch machine's walk once, per user a map child (its
// start, a Choice, the export Task, a Pass) and the export, the batch
// functions' per-user time, the run lock's two writes.
func TestBatchUsage(t *testing.T) {
	def, err := polling.LoadDefinition(filepath.Join("..", "..", "statemachine", "batch.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := testModel(t)
	export := Usage{Transitions: 100, S3Tier1: 4}
	steps := []BatchStep{{Function: "preparebatch", PerUser: time.Millisecond, S3Tier2: 1}, {Function: "writemanifest", PerUser: 2 * time.Millisecond, S3Tier1: 1, S3Tier2: 1}}
	u, err := m.Batch(def, 20000, export, steps, 10000)
	if err != nil {
		t.Fatal(err)
	}
	path, err := def.Walk(polling.Walker{Vars: func(string, int) map[string]any {
		return map[string]any{"$.runLock": map[string]any{}, "$.users": 20000}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(len(path)) + 20000*(4+100); u.Transitions != want {
		t.Fatalf("%.0f transitions, want %.0f", u.Transitions, want)
	}
	var prep, manifest Invocation
	for _, inv := range u.Lambda {
		switch inv.Function {
		case "preparebatch":
			prep = inv
		case "writemanifest":
			manifest = inv
		}
	}
	if prep.Count != 1 || prep.Duration != 20*time.Second+m.Allowance || manifest.Duration != 40*time.Second+m.Allowance {
		t.Fatalf("batch functions %+v %+v", prep, manifest)
	}
	// Exports 4 each, WriteManifest 1 each, ResultWriter 2 files + manifest.
	if u.S3Tier1 != 20000*4+20000+3 || u.S3Tier2 != 20000*2+1 || u.WRU != 2 || u.Events != 1 {
		t.Fatalf("S3 %.0f/%.0f, WRU %.0f, events %.0f", u.S3Tier1, u.S3Tier2, u.WRU, u.Events)
	}
	if _, err := m.Batch(def, 0, export, steps, 10000); err == nil {
		t.Fatal("a run of no users priced")
	}
}

func TestLedgerBytes(t *testing.T) {
	one, five := LedgerBytes(1, 130), LedgerBytes(5, 130)
	if one >= 1024 || five <= 1024 || five >= 2048 {
		t.Fatalf("ledger of 1 holder %.0f B, of 5 %.0f B: want 1 and 2 write units", one, five)
	}
}
