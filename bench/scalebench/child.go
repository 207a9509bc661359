package scalebench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/insights-export/insights-export/internal/batch"
	"github.com/insights-export/insights-export/internal/request"
)

// The phases bench/cmd/scalechild runs, one per process, so that each
// has a peak RSS of its own.
const (
	PhasePrepare  = "prepare"  // batch.Preparer.Handle, built by batch.LoadPreparer from the environment
	PhaseManifest = "manifest" // batch.ManifestWriter.Handle, built by batch.LoadManifestWriter
)

// Job is what a child runs.
type Job struct {
	Phase    string               `json:"phase"`
	Prepare  *batch.PrepareInput  `json:"prepare,omitempty"`
	Manifest *batch.ManifestInput `json:"manifest,omitempty"`
}

// ChildResult is what a child writes; the parent adds the rusage.
type ChildResult struct {
	Phase string `json:"phase"`
	// Seconds is the handler's own time, without process start and
	// configuration.
	Seconds  float64         `json:"seconds"`
	Prepared *batch.Prepared `json:"prepared,omitempty"`
	// Manifest phase: the execution output's counts and size.
	Counts      request.Counts `json:"counts"`
	OutputBytes int            `json:"outputBytes,omitempty"`
	Omitted     int            `json:"resultsOmitted,omitempty"`
	// Go runtime and kernel figures, to explain the RSS.
	VmHWMKiB    int64   `json:"vmHWMKiB"`
	HeapPeakMiB float64 `json:"heapPeakMiB"` // heap objects, sampled every 10 ms
	// MappedPeakMiB is the Go runtime's memory not returned to the OS
	// (all classes less released), sampled with HeapPeakMiB; StackPeakMiB
	// its goroutine stacks.
	MappedPeakMiB float64 `json:"mappedPeakMiB"`
	StackPeakMiB  float64 `json:"stackPeakMiB"`
	TotalAllocMiB float64 `json:"totalAllocMiB"`
	NumGC         uint32  `json:"numGC"`
	Error         string  `json:"error,omitempty"`
}

// RunChild runs job with the handler the function's main builds, from
// this process's environment (REPORT_BUCKET, AWS_ENDPOINT_URL, …). The
// metric line WriteManifest emits on stdout goes to stderr here: the
// parent reads the result from a file.
func RunChild(ctx context.Context, job Job) ChildResult {
	res := ChildResult{Phase: job.Phase}
	stop := sampleMemory(&res)
	var err error
	switch job.Phase {
	case PhasePrepare:
		var p *batch.Preparer
		if p, err = batch.LoadPreparer(os.Getenv); err == nil && job.Prepare != nil {
			began := time.Now()
			var out batch.Prepared
			out, err = p.Handle(ctx, *job.Prepare)
			res.Seconds = time.Since(began).Seconds()
			res.Prepared = &out
		}
	case PhaseManifest:
		var w *batch.ManifestWriter
		if w, err = batch.LoadManifestWriter(os.Getenv); err == nil && job.Manifest != nil {
			if w.Metrics != nil {
				w.Metrics.Out = os.Stderr
			}
			began := time.Now()
			var out request.BatchOutput
			out, err = w.Handle(ctx, *job.Manifest)
			res.Seconds = time.Since(began).Seconds()
			b, _ := json.Marshal(out)
			res.Counts, res.OutputBytes, res.Omitted = out.Counts, len(b), out.ResultsOmitted
		}
	default:
		err = errors.New("unknown phase " + strconv.Quote(job.Phase))
	}
	if err == nil && job.Prepare == nil && job.Manifest == nil {
		err = errors.New("the job has no input")
	}
	stop()
	if err != nil {
		res.Error = err.Error()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.TotalAllocMiB = float64(ms.TotalAlloc) / (1 << 20)
	res.NumGC = ms.NumGC
	res.VmHWMKiB = vmHWM()
	return res
}

// sampleMemory records the largest heap, mapped memory and stacks seen
// into res until stop is called.
func sampleMemory(res *ChildResult) (stop func()) {
	var done atomic.Bool
	finished := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	mib := func(i int) float64 { return float64(sample[i].Value.Uint64()) / (1 << 20) }
	go func() {
		defer close(finished)
		for !done.Load() {
			metrics.Read(sample)
			res.HeapPeakMiB = max(res.HeapPeakMiB, mib(0))
			res.MappedPeakMiB = max(res.MappedPeakMiB, mib(1)-mib(2))
			res.StackPeakMiB = max(res.StackPeakMiB, mib(3))
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() { done.Store(true); <-finished }
}

func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		if f := strings.Fields(rest); len(f) == 2 && f[1] == "kB" {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n
		}
	}
	return 0
}

// readJob reads a child's job.
func readJob(r io.Reader) (Job, error) {
	var j Job
	err := json.NewDecoder(r).Decode(&j)
	return j, err
}

// ChildMain is bench/cmd/scalechild: scalechild JOB.json RESULT.json.
func ChildMain(args []string) int {
	if len(args) != 2 {
		os.Stderr.WriteString("usage: scalechild JOB.json RESULT.json\n")
		return 2
	}
	f, err := os.Open(args[0])
	if err != nil {
		os.Stderr.WriteString("scalechild: " + err.Error() + "\n")
		return 2
	}
	job, err := readJob(f)
	f.Close()
	if err != nil {
		os.Stderr.WriteString("scalechild: job: " + err.Error() + "\n")
		return 2
	}
	if path := os.Getenv("SCALECHILD_CPUPROFILE"); path != "" { // for diagnosis; off in measured runs
		f, err := os.Create(path + "." + job.Phase)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			os.Stderr.WriteString("scalechild: cpu profile: " + err.Error() + "\n")
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	res := RunChild(context.Background(), job)
	b, _ := json.Marshal(res)
	if err := os.WriteFile(args[1], b, 0o644); err != nil {
		os.Stderr.WriteString("scalechild: " + err.Error() + "\n")
		return 1
	}
	if res.Error != "" {
		return 1
	}
	return 0
}
