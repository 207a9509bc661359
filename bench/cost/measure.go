package cost

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/insights-export/insights-export/devstack"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// Measured is what exports cost in the functions' own terms, measured on
// the local stack: the real ASL under the interpreter, the real
// bootstraps under the RIE, S3 (moto) behind a recording proxy, AvePoint
// simulated. The durations are the RIE's REPORT figures on this machine
// (loopback: no network latency; Model.Allowance adds it).
type Measured struct {
	Exports int
	// Reads is the status reads each export made.
	Reads int
	// Functions by folder under functions/.
	Functions map[string]FunctionRun
	// S3 requests per export by price tier (PUT/COPY/POST/LIST; GET and
	// the rest), and by operation over every export.
	S3Tier1, S3Tier2 float64
	S3Ops            map[string]int
	// ReportBytes and Rows are the median export's report and dataset
	// rows (the simulator's default workbook); EventBytes the largest
	// Report Stored event detail (the AnnounceReport state's input).
	ReportBytes int64
	Rows        int
	EventBytes  int
	Wall        time.Duration
}

// FunctionRun is one function's invocations during the exports.
type FunctionRun struct {
	Invocations int
	// Duration is the median RIE REPORT Duration (the first invocation of
	// an instance includes its init in this RIE version).
	Duration time.Duration
	// LogBytes is the function's own log output per invocation (its JSON
	// lines), without the emulator's lines.
	LogBytes float64
}

const (
	simClientID = "bench-cost"
	simSecret   = "bench-cost-secret"
)

// MeasureExports runs exports one after the other on one local stack, each
// job finishing at its reads-th status read (Wait states shortened to
// 1 ms: the durations measured are the functions', not the waits).
func MeasureExports(ctx context.Context, bootstraps map[string]string, exports, reads int) (Measured, error) {
	m := Measured{Exports: exports, Reads: reads, Functions: map[string]FunctionRun{}, S3Ops: map[string]int{}}
	if exports < 1 || reads < 1 {
		return m, fmt.Errorf("cost: %d exports of %d reads", exports, reads)
	}
	proxy, err := devstack.StartS3FaultProxy(ctx)
	if err != nil {
		return m, err
	}
	defer proxy.Close()
	st, err := devstack.StartStack(ctx, devstack.StackOptions{
		Simulator: &avesim.Options{ClientID: simClientID, ClientSecret: simSecret, PollsToFinish: reads - 1},
		// One read a check invocation, so that its duration is a read's:
		// the model adds the deployed in-process waiting and reads itself
		// (Model.Export), from the polling model's counts.
		Env:        map[string]string{"AWS_ENDPOINT_URL_S3": proxy.URL, "POLL_INPROCESS_SECONDS": "0"},
		Bootstraps: bootstraps,
	})
	if err != nil {
		return m, fmt.Errorf("cost: %w", err)
	}
	defer st.Close()
	if err := proxy.SetTarget(st.Moto.URL); err != nil {
		return m, err
	}
	began := time.Now()
	// A daily run's window: the previous UTC day (one dataset file).
	day := began.UTC().Truncate(24 * time.Hour)
	var bytes []int64
	var rows []int
	for i := range exports {
		exe, err := st.Run(ctx, devstack.RunOptions{
			Input: map[string]any{"email": fmt.Sprintf("cost.bench.%d@contoso.com", i),
				"startTime": day.Add(-24 * time.Hour).Format(request.TimeLayout), "finishTime": day.Format(request.TimeLayout)},
			WaitOverride: time.Millisecond,
		})
		if err != nil {
			return m, fmt.Errorf("cost: export %d: %w", i, err)
		}
		if exe.Status != devstack.StatusSucceeded {
			return m, fmt.Errorf("cost: export %d: %s %s %s", i, exe.Status, exe.Error, exe.Cause)
		}
		var out struct {
			Bytes   int64 `json:"bytes"`
			Dataset struct {
				Rows int `json:"rows"`
			} `json:"dataset"`
		}
		if err := json.Unmarshal(exe.Output, &out); err != nil {
			return m, fmt.Errorf("cost: export %d output: %w", i, err)
		}
		bytes, rows = append(bytes, out.Bytes), append(rows, out.Dataset.Rows)
		got := 0
		for _, ev := range exe.Events {
			switch {
			case ev.Type == "StateEntered" && ev.State == "CheckJob":
				got++
			case ev.Type == "StateEntered" && ev.State == "AnnounceReport":
				m.EventBytes = max(m.EventBytes, len(ev.Input))
			}
		}
		if got != reads {
			return m, fmt.Errorf("cost: export %d read the job %d times, want %d", i, got, reads)
		}
	}
	m.Wall = time.Since(began)
	slices.Sort(bytes)
	slices.Sort(rows)
	m.ReportBytes, m.Rows = bytes[len(bytes)/2], rows[len(rows)/2]
	for dir, f := range st.Functions {
		durs, logBytes := ParseRIELog(f.Logs())
		if len(durs) == 0 {
			continue
		}
		slices.Sort(durs)
		m.Functions[dir] = FunctionRun{Invocations: len(durs), Duration: durs[len(durs)/2], LogBytes: float64(logBytes) / float64(len(durs))}
	}
	for _, op := range proxy.Ops("") {
		m.S3Ops[op.Op]++
		switch S3Tier(op.Op) {
		case 1:
			m.S3Tier1++
		case 2:
			m.S3Tier2++
		}
	}
	m.S3Tier1 /= float64(exports)
	m.S3Tier2 /= float64(exports)
	return m, nil
}

// S3Tier is the price tier of an S3 operation as the recording proxy
// names it: 1 for PUT, COPY, POST and LIST requests, 2 for GET and every
// other request, 0 for DELETE and aborts (free).
func S3Tier(op string) int {
	switch op {
	case "PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "ListMultipartUploads", "POST", "PUT":
		return 1
	case "AbortMultipartUpload", "DELETE":
		return 0
	}
	if strings.HasPrefix(op, "List") {
		return 1
	}
	return 2
}

var reportDuration = regexp.MustCompile(`\tDuration: ([0-9.]+) ms`)

// ParseRIELog reads an RIE instance's output: the Duration of every
// REPORT line, and the bytes of the function's own JSON log lines (slog's
// lines; the emulator's START/END/REPORT and its own log lines are not the
// function's).
func ParseRIELog(logs string) (durations []time.Duration, appBytes int) {
	for _, line := range strings.Split(logs, "\n") {
		switch {
		case strings.Contains(line, "REPORT RequestId:"):
			if m := reportDuration.FindStringSubmatch(line); m != nil {
				f, err := strconv.ParseFloat(m[1], 64)
				if err == nil {
					durations = append(durations, time.Duration(f*float64(time.Millisecond)))
				}
			}
		case strings.HasPrefix(line, "{") && json.Valid([]byte(line)):
			appBytes += len(line) + 1
		}
	}
	return durations, appBytes
}
