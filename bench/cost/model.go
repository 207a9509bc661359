package cost

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/insights-export/insights-export/bench/polling"
	"github.com/insights-export/insights-export/internal/testing/templatecheck"
)

// Model turns walks of the ASL into usage: each state entered is a
// transition; a Lambda Task an invocation of its function at the
// template's memory for its measured duration plus Allowance, with its
// log lines; a DynamoDB Task its item's write units; an EventBridge Task
// its entries.
type Model struct {
	// Memory is each function's MemorySize in MB, by folder under
	// functions/ (TemplateMemory).
	Memory map[string]int
	// Runs are the measured invocations, by folder.
	Runs map[string]FunctionRun
	// Allowance is added to every measured duration: the network round
	// trips (AvePoint over the internet, S3 in the region) that the local
	// stack's loopback hides.
	Allowance time.Duration
	// PlatformLogBytes are Lambda's own records per invocation in the JSON
	// log format (platform.start, platform.report).
	PlatformLogBytes float64
	// ItemBytes is the size of the DynamoDB item a Task writes, by the
	// value of its "ledger" key (the job-slot ledger with every slot
	// held; the run lock).
	ItemBytes map[string]float64
	// EventBytes is the size of one EventBridge entry's payload.
	EventBytes float64
	// FailedEventLogBytes is one failed-attempt history event in the state
	// machine's log group (Logging Level ERROR logs LambdaFunctionFailed
	// and TaskFailed; success paths log nothing).
	FailedEventLogBytes float64
	// TracesPerExecution is the X-Ray traces an execution records (1: every
	// execution sampled, the upper bound at a few executions a second).
	TracesPerExecution float64
	// S3Tier1PerExport and S3Tier2PerExport are the functions' S3 requests
	// per export (MeasureExports: the store's upload, the converter's
	// reads and writes).
	S3Tier1PerExport, S3Tier2PerExport float64
}

// checkFunction is the check step's function folder.
const checkFunction = "checkjob"

// FunctionDir is the folder under functions/ of a Lambda step's function
// (${CheckJobFunctionArn} → checkjob), as devstack and the Makefile name
// them.
func FunctionDir(s polling.Step) string {
	return strings.ToLower(strings.TrimSuffix(s.Function(), "FunctionArn"))
}

// Steps is the usage of an execution through these states (one
// execution's path, polling.Result.Path), with retries[state] more
// attempts of a state: each one more transition, and for a Lambda Task
// one more invocation; failed[state] of those attempts failed (logged at
// ERROR). Nested executions (states:startExecution.sync) and Map items are
// the caller's: only their own state's transition is counted here.
func (m Model) Steps(path []polling.Step, retries, failed map[string]int) (Usage, error) {
	var u Usage
	for _, s := range path {
		attempts := 1 + retries[s.Name]
		u.Transitions += float64(attempts)
		u.LogBytes += float64(failed[s.Name]) * m.FailedEventLogBytes
		switch {
		case s.Lambda():
			dir := FunctionDir(s)
			mem, ok := m.Memory[dir]
			if !ok {
				return u, fmt.Errorf("cost: %s calls %s, which template.yaml gives no MemorySize", s.Name, dir)
			}
			run, ok := m.Runs[dir]
			if !ok {
				return u, fmt.Errorf("cost: %s calls %s, whose invocations were not measured", s.Name, dir)
			}
			u.Lambda = append(u.Lambda, Invocation{Function: dir, MemoryMB: mem, Count: float64(attempts), Duration: run.Duration + m.Allowance})
			u.LogBytes += float64(attempts) * (run.LogBytes + m.PlatformLogBytes)
		case s.Type == "Task":
			switch in := s.Integration(); {
			case strings.HasPrefix(in, "dynamodb:"):
				wru, rru, err := m.dynamo(s, in)
				if err != nil {
					return u, err
				}
				u.WRU += wru * float64(attempts)
				u.RRU += rru * float64(attempts)
			case in == "events:putEvents":
				n, err := entries(s)
				if err != nil {
					return u, err
				}
				u.Events += float64(n) * math.Ceil(max(m.EventBytes, 1)/(64*1024)) * float64(attempts)
			case strings.HasPrefix(in, "states:startExecution"):
				// The child execution is the caller's to add.
			default:
				return u, fmt.Errorf("cost: %s calls %s, which the model does not price", s.Name, in)
			}
		}
	}
	return u, nil
}

// dynamo is a DynamoDB Task's request units: a write of its item
// (ItemBytes by its ledger key, in 1 KB units) or a read (4 KB units).
func (m Model) dynamo(s polling.Step, in string) (wru, rru float64, err error) {
	var p struct {
		Key, Item struct {
			Ledger struct {
				S string `json:"S"`
			} `json:"ledger"`
		}
	}
	if err := json.Unmarshal(s.Parameters, &p); err != nil {
		return 0, 0, fmt.Errorf("cost: %s Parameters: %w", s.Name, err)
	}
	ledger := p.Key.Ledger.S
	if ledger == "" {
		ledger = p.Item.Ledger.S
	}
	size, ok := m.ItemBytes[ledger]
	if !ok {
		return 0, 0, fmt.Errorf("cost: %s writes DynamoDB item %q, whose size the model does not know", s.Name, ledger)
	}
	switch in {
	case "dynamodb:getItem":
		return 0, math.Ceil(size / 4096), nil
	case "dynamodb:putItem", "dynamodb:updateItem", "dynamodb:deleteItem":
		return math.Ceil(size / 1024), 0, nil
	}
	return 0, 0, fmt.Errorf("cost: %s calls %s, which the model does not price", s.Name, in)
}

func entries(s polling.Step) (int, error) {
	var p struct {
		Entries []json.RawMessage `json:"Entries"`
	}
	if err := json.Unmarshal(s.Parameters, &p); err != nil || len(p.Entries) == 0 {
		return 0, fmt.Errorf("cost: %s: putEvents without Entries", s.Name)
	}
	return len(p.Entries), nil
}

// Export is the usage of one export execution as the polling model
// priced it (its path and retries of the check), with the functions' S3
// requests and the execution's trace.
//
// A check that read several times (r.Polls reads in r.Cycles invocations,
// sleeping r.Inside between them) is billed for its sleep and its extra
// reads: each invocation runs longer by its share of both, and logs its
// share of the extra reads' lines.
func (m Model) Export(r polling.Result, runningErrorsLogged bool) (Usage, error) {
	if r.Cycles > 0 && r.Polls > r.Cycles {
		runs := maps.Clone(m.Runs)
		chk, ok := runs[checkFunction]
		if !ok {
			return Usage{}, fmt.Errorf("cost: the check's invocations were not measured")
		}
		extra := r.Polls - r.Cycles
		chk.Duration += (r.Inside + time.Duration(extra)*(chk.Duration+m.Allowance)) / time.Duration(r.Cycles)
		chk.LogBytes += float64(extra) * chk.LogBytes / float64(r.Cycles)
		runs[checkFunction] = chk
		m.Runs = runs
	}
	failed := map[string]int{}
	if runningErrorsLogged {
		failed[polling.CheckState] = r.Retries
	}
	u, err := m.Steps(r.Path, map[string]int{polling.CheckState: r.Retries}, failed)
	if err != nil {
		return u, err
	}
	u.S3Tier1 += m.S3Tier1PerExport
	u.S3Tier2 += m.S3Tier2PerExport
	u.Traces += m.TracesPerExecution
	return u, nil
}

// BatchStep is a batch function's measured work per user (BENCHMARKS.md
// §6): its handler time at its template memory and its S3 requests.
type BatchStep struct {
	Function         string
	PerUser          time.Duration
	S3Tier1, S3Tier2 float64
}

// Batch is the usage of a daily batch run of users, each exported once
// (one window): the walk of the batch machine (an incremental run over a
// user list: run lock, map, manifest, announcement), one Distributed Map
// child per user (a transition to start it, its own states, its export
// execution), the batch functions' per-user work, and the map's own S3
// requests (the ItemReader's read of the work list; the ResultWriter's
// result files, one per resultsPerFile users, and its manifest).
func (m Model) Batch(def *polling.Definition, users int, export Usage, steps []BatchStep, resultsPerFile int) (Usage, error) {
	if users < 1 || resultsPerFile < 1 {
		return Usage{}, fmt.Errorf("cost: %d users, %d results a file", users, resultsPerFile)
	}
	path, err := def.Walk(polling.Walker{Vars: func(string, int) map[string]any {
		return map[string]any{"$.runLock": map[string]any{}, "$.users": users}
	}})
	if err != nil {
		return Usage{}, err
	}
	mm := m
	mm.Runs = map[string]FunctionRun{}
	for k, v := range m.Runs {
		mm.Runs[k] = v
	}
	perUserS3 := Usage{}
	for _, b := range steps {
		run := mm.Runs[b.Function]
		run.Duration = time.Duration(users) * b.PerUser
		mm.Runs[b.Function] = run
		perUserS3.S3Tier1 += b.S3Tier1
		perUserS3.S3Tier2 += b.S3Tier2
	}
	u, err := mm.Steps(path, nil, nil)
	if err != nil {
		return u, err
	}
	u.Traces += m.TracesPerExecution
	for _, s := range path {
		st := def.States[s.Name]
		if s.Type != "Map" || st.ItemProcessor == nil {
			continue
		}
		item, err := st.ItemProcessor.Walk(polling.Walker{})
		if err != nil {
			return u, err
		}
		child, err := mm.Steps(item, nil, nil)
		if err != nil {
			return u, err
		}
		child.Transitions++ // the child execution's start
		nested := 0
		for _, is := range item {
			if strings.HasPrefix(is.Integration(), "states:startExecution") {
				nested++
			}
		}
		if nested != 1 {
			return u, fmt.Errorf("cost: a map item of %s starts %d executions, want 1", s.Name, nested)
		}
		u = u.Plus(child.Plus(export).Times(float64(users)))
		u.S3Tier2++                                                        // ItemReader: the work list
		u.S3Tier1 += math.Ceil(float64(users)/float64(resultsPerFile)) + 1 // ResultWriter
	}
	return u.Plus(perUserS3.Times(float64(users))), nil
}

// TemplateMemory reads each function's MemorySize (MB) from template.yaml
// (the Globals default where a function sets none), by folder under
// functions/ (logical id StartExportFunction → startexport).
func TemplateMemory(root string) (map[string]int, error) {
	src, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	tpl, err := templatecheck.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("cost: template.yaml: %w", err)
	}
	global := 128 // SAM's default
	if fn, ok := tpl.Globals["Function"].(map[string]any); ok {
		if v, ok := fn["MemorySize"].(string); ok {
			if global, err = strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("cost: Globals MemorySize %q: %w", v, err)
			}
		}
	}
	out := map[string]int{}
	for name, r := range tpl.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		mem := global
		if v, ok := r.Properties["MemorySize"].(string); ok {
			if mem, err = strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("cost: %s MemorySize %q: %w", name, v, err)
			}
		}
		out[strings.ToLower(strings.TrimSuffix(name, "Function"))] = mem
	}
	return out, nil
}

// LedgerBytes is the size DynamoDB bills for the job-slot ledger item
// (internal/slots) holding holders slots: its key, and per holder the
// execution ARN as the map key, acquiredAt, jobId and jobStartedAt (names
// and values, RFC 3339 times, a UUID job id). DynamoDB sizes an item by
// its attribute names and values, plus a few bytes per map and element.
func LedgerBytes(holders, arnBytes int) float64 {
	const (
		key    = len("ledger") + len("avepoint-export-jobs")
		mapHdr = len("holders") + 3
		holder = len("acquiredAt") + 24 + len("jobId") + 36 + len("jobStartedAt") + 20 + 3 + 3
	)
	return float64(key + mapHdr + holders*(arnBytes+holder+1))
}
