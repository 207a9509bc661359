// Package scalebench measures one batch run of many users (issue 12,
// "100,000 users in one run"): PrepareBatch and WriteManifest, the real
// handlers as their functions build them (batch.LoadPreparer,
// batch.LoadManifestWriter), each in a child process of its own
// (bench/cmd/scalechild, built like the Lambda bootstraps) so that its
// peak RSS and CPU are its own, against an S3 endpoint on 127.0.0.1 that
// counts every request. The run is incremental over a usersFrom CSV, the
// costly case: every user's mark is read, and every stored report's mark
// advanced; between the two, the benchmark writes the result files a
// Distributed Map would have left for the work list PrepareBatch wrote.
//
// bench/cmd/bench runs it as its "scale" section (Run, then Markdown and
// Summary).
package scalebench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/insights-export/insights-export/bench/gobuild"
	"github.com/insights-export/insights-export/internal/batch"
	"github.com/insights-export/insights-export/internal/request"
)

// Options tune Run; zero values take the defaults.
type Options struct {
	Sizes []int // users of each run (default 5,000 and 100,000; the first is the baseline)
	// Moto also times moto_server's request rate, to say why the
	// endpoint is not moto (default on in bench/cmd/bench).
	Moto bool
	Root string // the module's root, for go build
	Log  func(format string, args ...any)
}

func (o *Options) defaults() {
	if len(o.Sizes) == 0 {
		o.Sizes = []int{5_000, 100_000}
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
}

// Sample is one child run.
type Sample struct {
	Users       int            `json:"users"`
	Phase       string         `json:"phase"`
	Child       ChildResult    `json:"child"`
	CPUSeconds  float64        `json:"cpuSeconds"` // user+sys of the child (rusage)
	MaxRSSKiB   int64          `json:"maxRssKiB"`  // rusage ru_maxrss: the parent's too, see rssMiB
	WallSeconds float64        `json:"wallSeconds"`
	Requests    map[string]int `json:"requests"` // by S3 operation, during the child's run
	// Seeding: what the phase's input took to write (not measured
	// against any target).
	SeedSeconds float64 `json:"seedSeconds"`
}

// Result is a whole run.
type Result struct {
	Opts    Options
	Samples []Sample
	// Endpoint request rates (GETs/s of one small object, 16 in flight).
	FakeRate, MotoRate float64
	MotoErr            string
	Took               time.Duration
}

// Run builds the child, starts the endpoint and measures every size.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	began := time.Now()
	res := &Result{Opts: o}
	tmp, err := os.MkdirTemp("", "bench-scale-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	child := filepath.Join(tmp, "scalechild")
	if err := gobuild.Host(ctx, o.Root, "./bench/cmd/scalechild", child); err != nil {
		return nil, err
	}
	s3, err := StartS3()
	if err != nil {
		return nil, err
	}
	defer s3.Close()
	if err := s3.CreateBucket("probe"); err != nil {
		return nil, err
	}
	if res.FakeRate, err = Probe(ctx, s3.URL, "probe", 2000, 16); err != nil {
		return nil, fmt.Errorf("probing the endpoint: %w", err)
	}
	if o.Moto {
		res.MotoRate, res.MotoErr = probeMoto(ctx)
	}
	o.Log("scale: endpoint gofakes3 %.0f GET/s, moto_server %.0f GET/s %s", res.FakeRate, res.MotoRate, res.MotoErr)
	_ = s3.Counts()

	// The run's reference time: today's run of a daily schedule.
	at := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour).Add(15 * time.Minute)
	for _, n := range o.Sizes {
		samples, err := runSize(ctx, o, s3, child, tmp, n, at)
		res.Samples = append(res.Samples, samples...)
		if err != nil {
			return res, fmt.Errorf("%d users: %w", n, err)
		}
	}
	res.Took = time.Since(began)
	return res, nil
}

// runSize seeds n users, runs PrepareBatch, writes the Map's results for
// its work list, runs WriteManifest and checks the manifest counts every
// user as seeded.
func runSize(ctx context.Context, o Options, s3 *S3, child, tmp string, n int, at time.Time) ([]Sample, error) {
	bucket := fmt.Sprintf("bench-%d", n)
	seedStart := time.Now()
	if err := seed(s3, bucket, n, at); err != nil {
		return nil, fmt.Errorf("seeding: %w", err)
	}
	defer func() { _ = s3.DeleteBucket(bucket) }()
	seedPrep := time.Since(seedStart).Seconds()
	name := fmt.Sprintf("scale-%d", n)
	exec := batch.Execution{ID: "arn:aws:states:us-east-1:123456789012:execution:insights-export-BatchExport:" + name, Name: name, StartTime: at.Format(time.RFC3339)}
	_ = s3.Counts()
	prep, err := runChild(ctx, child, tmp, s3, bucket, Job{Phase: PhasePrepare, Prepare: &batch.PrepareInput{Input: input(at), Execution: exec}})
	prep.Users, prep.SeedSeconds = n, seedPrep
	if err != nil {
		return []Sample{prep}, fmt.Errorf("prepare: %w", err)
	}
	out := prep.Child.Prepared
	o.Log("scale: %7d users prepare:  %6.2fs, %5.1f CPU-s, %4.0f MiB peak RSS (heap %.0f, mapped %.0f, stacks %.0f); %s", n, prep.Child.Seconds, prep.CPUSeconds, rssMiB(prep), prep.Child.HeapPeakMiB, prep.Child.MappedPeakMiB, prep.Child.StackPeakMiB, requestsLine(prep.Requests))
	wantUpToDate := 0
	for i := range n {
		if userKind(i) == "current" {
			wantUpToDate++
		}
	}
	if out == nil || out.Users+out.UpToDate != n || out.UpToDate != wantUpToDate {
		return []Sample{prep}, fmt.Errorf("prepare: output %+v; want %d users, %d of them up to date", out, n, wantUpToDate)
	}

	seedStart = time.Now()
	raw, err := s3.Get(bucket, out.ItemsKey)
	if err != nil {
		return []Sample{prep}, fmt.Errorf("reading the work list: %w", err)
	}
	var items []request.Item
	if err := json.Unmarshal(raw, &items); err != nil || len(items) != out.Users {
		return []Sample{prep}, fmt.Errorf("the work list has %d items (%v); want %d", len(items), err, out.Users)
	}
	mapOut, want, err := mapResults(s3, bucket, *out, items, out.UpToDate)
	items = nil
	if err != nil {
		return []Sample{prep}, fmt.Errorf("writing the map results: %w", err)
	}
	_ = s3.Counts()
	man, err := runChild(ctx, child, tmp, s3, bucket, Job{Phase: PhaseManifest, Manifest: &batch.ManifestInput{Prepared: *out, Map: mapOut}})
	man.Users, man.SeedSeconds = n, time.Since(seedStart).Seconds()-man.WallSeconds
	if err != nil {
		return []Sample{prep, man}, fmt.Errorf("manifest: %w", err)
	}
	o.Log("scale: %7d users manifest: %6.2fs, %5.1f CPU-s, %4.0f MiB peak RSS (heap %.0f, mapped %.0f, stacks %.0f); %s", n, man.Child.Seconds, man.CPUSeconds, rssMiB(man), man.Child.HeapPeakMiB, man.Child.MappedPeakMiB, man.Child.StackPeakMiB, requestsLine(man.Requests))
	if man.Child.Counts != want {
		return []Sample{prep, man}, fmt.Errorf("manifest: counts %+v, want %+v", man.Child.Counts, want)
	}
	// The manifest itself, and a mark that advanced.
	raw, err = s3.Get(bucket, out.ManifestKey)
	if err != nil {
		return []Sample{prep, man}, fmt.Errorf("reading the manifest: %w", err)
	}
	var m batch.Manifest
	if err := json.Unmarshal(raw, &m); err != nil || m.Counts != want || len(m.Results) != n || m.Source == nil || m.Source.Users != n {
		return []Sample{prep, man}, fmt.Errorf("manifest.json: %d results, counts %+v (%v)", len(m.Results), m.Counts, err)
	}
	for i, r := range m.Results {
		if r.Email != userName(i) {
			return []Sample{prep, man}, fmt.Errorf("manifest result %d is %s: not the list's order", i, r.Email)
		}
	}
	var mark batch.Mark
	raw, err = s3.Get(bucket, (&batch.Watermarks{Prefix: state}).Key(userName(2), nil))
	if err != nil || json.Unmarshal(raw, &mark) != nil || mark.FinishTime != request.FormatTime(at.Truncate(24*time.Hour)) {
		return []Sample{prep, man}, fmt.Errorf("the mark of user 2 is %+v (%v), want it advanced", mark, err)
	}
	return []Sample{prep, man}, nil
}

// runChild runs one job in a child and takes its rusage and the requests
// it made.
func runChild(ctx context.Context, child, tmp string, s3 *S3, bucket string, job Job) (Sample, error) {
	jobFile, resFile := filepath.Join(tmp, "job.json"), filepath.Join(tmp, "result.json")
	b, err := json.Marshal(job)
	if err != nil {
		return Sample{}, err
	}
	if err := os.WriteFile(jobFile, b, 0o644); err != nil {
		return Sample{}, err
	}
	_ = os.Remove(resFile)
	cmd := exec.CommandContext(ctx, child, jobFile, resFile)
	cmd.Env = childEnv(os.Environ(), s3.URL, bucket)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	err = cmd.Run()
	s := Sample{Phase: job.Phase, WallSeconds: time.Since(start).Seconds(), Requests: s3.Counts()}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			s.MaxRSSKiB = ru.Maxrss // KiB on Linux
			s.CPUSeconds = tv(ru.Utime) + tv(ru.Stime)
		}
	}
	out, rerr := os.ReadFile(resFile)
	if rerr == nil {
		rerr = json.Unmarshal(out, &s.Child)
	}
	switch {
	case err != nil && s.Child.Error != "":
		return s, fmt.Errorf("%s", s.Child.Error)
	case err != nil:
		return s, fmt.Errorf("%v: %s", err, tail(stderr.Bytes()))
	case rerr != nil:
		return s, fmt.Errorf("child result: %w", rerr)
	}
	return s, nil
}

// childEnv is the functions' environment as template.yaml sets it, with
// S3 at url, and without the Go runtime's tuning variables (the functions
// run with the defaults) or any AWS profile of this machine.
func childEnv(env []string, url, bucket string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || k == "GOGC" || k == "GOMEMLIMIT" || k == "GODEBUG" || k == "GOMAXPROCS" {
			continue
		}
		out = append(out, kv)
	}
	return append(out,
		"AWS_ENDPOINT_URL="+url, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench",
		"S3_FORCE_PATH_STYLE=true", "REPORT_BUCKET="+bucket, "REPORT_PREFIX="+prefix, "STATE_PREFIX="+state,
		"MAX_CONCURRENCY=5", "LOG_LEVEL=warn")
}

func requestsLine(counts map[string]int) string {
	var parts []string
	for _, op := range opOrder(counts) {
		parts = append(parts, fmt.Sprintf("%s %d", op, counts[op]))
	}
	return strings.Join(parts, ", ")
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func tail(b []byte) string {
	const n = 2000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}
