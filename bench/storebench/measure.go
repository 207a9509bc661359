package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// sample is one measured run.
type sample struct {
	Kind        string  `json:"kind"` // store, read, pipe, blast, moto
	Size        int64   `json:"size"`
	Run         int     `json:"run"`
	PartSize    int64   `json:"partSize,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`     // the work: child's own timer (pipe: wall)
	WallSeconds float64 `json:"wallSeconds"` // the whole process, start to exit
	MaxRSSKiB   int64   `json:"maxRssKiB"`   // peak RSS (pipe: largest of bash, curl, aws)
	CPUSeconds  float64 `json:"cpuSeconds"`  // user+system of the process (and its children)
	SinkCPU     float64 `json:"sinkCpuSeconds"`
	SelfCPU     float64 `json:"simCpuSeconds"` // this process: the simulator serving
	HeapSysMiB  float64 `json:"heapSysMiB,omitempty"`
	AllocMiB    float64 `json:"totalAllocMiB,omitempty"`
	NumGC       uint32  `json:"numGC,omitempty"`
	SHA256      string  `json:"sha256,omitempty"`
	Key         string  `json:"key,omitempty"`
}

func (s sample) mibps() float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return float64(s.Bytes) / (1 << 20) / s.Seconds
}

func (s sample) rssMiB() float64 { return float64(s.MaxRSSKiB) / 1024 }

// coresBusy is how many cores the measured process, the sink and the
// simulator kept busy together over the run.
func (s sample) coresBusy() float64 {
	return (s.CPUSeconds + s.SinkCPU + s.SelfCPU) / s.WallSeconds
}

// cpuPerGiB is the process's CPU seconds per GiB moved.
func (s sample) cpuPerGiB() float64 { return s.CPUSeconds / (float64(s.Bytes) / (1 << 30)) }

// childResult mirrors bench/cmd/storechild's Result.
type childResult struct {
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	SHA256        string  `json:"sha256"`
	Key           string  `json:"key"`
	HeapSysMiB    float64 `json:"heapSysMiB"`
	TotalAllocMiB float64 `json:"totalAllocMiB"`
	NumGC         uint32  `json:"numGC"`
}

func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// runMeasured runs cmd to completion and fills the process-level figures
// of a sample: wall time, peak RSS and CPU from wait4's rusage (which
// covers the process and every descendant it waited for), plus the CPU the
// sink and this process spent meanwhile.
func runMeasured(cmd *exec.Cmd, sink *sinkProc) (sample, []byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	sinkBefore, selfBefore := sink.cpuSeconds(), selfCPU()
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var s sample
	s.WallSeconds = wall.Seconds()
	s.SinkCPU = sink.cpuSeconds() - sinkBefore
	s.SelfCPU = selfCPU() - selfBefore
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			s.MaxRSSKiB = ru.Maxrss // KiB on Linux
			s.CPUSeconds = tv(ru.Utime) + tv(ru.Stime)
		}
	}
	if err != nil {
		return s, nil, fmt.Errorf("%s: %v\nstderr:\n%s", cmd.Args, err, tail(stderr.Bytes(), 4000))
	}
	return s, stdout.Bytes(), nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// childEnv is the store function's environment (see functions/storereport
// and internal/export.LoadConfig and internal/config.Env) pointed at the local endpoints. Nothing
// is inherited from this process, so the machine's AWS profile or Go
// settings cannot leak in. GOMEMLIMIT is StoreReportFunction's, as deployed
// (deployedMemLimit), unless a run asks for another; GOGC stays unset.
// deployedMemLimit is StoreReportFunction's GOMEMLIMIT, read from
// template.yaml at the start of the run (loadDeployed).
var deployedMemLimit string

func (b *bench) childEnv(s3URL string, partSize int64, conc int) []string {
	env := []string{
		"AVEPOINT_SECRET_ID=unused-credentials-come-from-BENCH_CLIENT_ID",
		"AVEPOINT_API_URL=" + b.sim.URL,
		"AVEPOINT_TOKEN_URL=" + b.sim.TokenURL,
		"REPORT_BUCKET=" + bucket,
		"REPORT_PREFIX=" + prefix,
		"S3_FORCE_PATH_STYLE=true",
		"LOG_LEVEL=warn",
		"AWS_ENDPOINT_URL_S3=" + s3URL,
		"AWS_ACCESS_KEY_ID=bench",
		"AWS_SECRET_ACCESS_KEY=bench",
		"AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + b.emptyFile,
		"AWS_SHARED_CREDENTIALS_FILE=" + b.emptyFile,
		"AWS_EC2_METADATA_DISABLED=true",
		"BENCH_CLIENT_ID=" + clientID,
		"BENCH_CLIENT_SECRET=" + clientSecret,
		"BENCH_PART_SIZE=" + strconv.FormatInt(partSize, 10),
		"BENCH_CONCURRENCY=" + strconv.Itoa(conc),
	}
	limit := deployedMemLimit
	if b.memLimit != "" {
		limit = b.memLimit
	}
	if limit != "" {
		env = append(env, "GOMEMLIMIT="+limit)
	}
	if dir := os.Getenv("STOREBENCH_CPUPROFILE_DIR"); dir != "" {
		b.profiles++
		env = append(env, fmt.Sprintf("STORECHILD_CPUPROFILE=%s/child-%03d.pprof", dir, b.profiles),
			fmt.Sprintf("STORECHILD_MEMPROFILE=%s/child-%03d.allocs.pprof", dir, b.profiles))
	}
	env = append(env, b.extraEnv...)
	if b.tls != nil {
		// Go's TLS stack (the avepoint client and the SDK alike) reads
		// its roots from here: no code path differs from production.
		env = append(env, "SSL_CERT_FILE="+b.tls.CA)
	}
	return env
}

// runChild runs the store or read mode for job; s3URL is the S3 endpoint.
func (b *bench) runChild(ctx context.Context, mode string, j benchJob, s3URL string, partSize int64, conc int) (sample, error) {
	in, err := json.Marshal(j.job)
	if err != nil {
		return sample{}, err
	}
	cmd := exec.CommandContext(ctx, b.childBin, mode)
	cmd.Env = b.childEnv(s3URL, partSize, conc)
	cmd.Stdin = bytes.NewReader(in)
	s, out, err := runMeasured(cmd, b.sink)
	if err != nil {
		return s, err
	}
	var r childResult
	if err := json.Unmarshal(out, &r); err != nil {
		return s, fmt.Errorf("child output %q: %v", out, err)
	}
	s.Kind, s.Size, s.Bytes, s.Seconds = mode, j.size, r.Bytes, r.Seconds
	s.HeapSysMiB, s.AllocMiB, s.NumGC, s.SHA256, s.Key = r.HeapSysMiB, r.TotalAllocMiB, r.NumGC, r.SHA256, r.Key
	s.PartSize, s.Concurrency = partSize, conc
	if r.Bytes != j.size {
		return s, fmt.Errorf("%s moved %d bytes, report is %d", mode, r.Bytes, j.size)
	}
	return s, nil
}

// runBlast measures the sink's own ceiling: concurrent raw PUTs of the
// same volume, no SDK, no source.
func (b *bench) runBlast(ctx context.Context, size, part int64, conc int) (sample, error) {
	cmd := exec.CommandContext(ctx, b.childBin, "blast")
	cmd.Env = []string{
		"BLAST_URL=" + b.sink.URL, "BLAST_SIZE=" + strconv.FormatInt(size, 10),
		"BLAST_PART=" + strconv.FormatInt(part, 10), "BLAST_CONC=" + strconv.Itoa(conc),
	}
	if b.tls != nil {
		cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+b.tls.CA)
	}
	s, out, err := runMeasured(cmd, b.sink)
	if err != nil {
		return s, err
	}
	var r childResult
	if err := json.Unmarshal(out, &r); err != nil {
		return s, fmt.Errorf("blast output %q: %v", out, err)
	}
	s.Kind, s.Size, s.Bytes, s.Seconds, s.PartSize, s.Concurrency = "blast", size, r.Bytes, r.Seconds, part, conc
	return s, nil
}

// pipeScript is the baseline a user would reach for: download with curl,
// upload from stdin with the AWS CLI.
const pipeScript = `set -euo pipefail
curl -sS --fail ${BENCH_CA:+--cacert "$BENCH_CA"} -H "Authorization: Bearer $BENCH_TOKEN" "$BENCH_URL" |
  aws --endpoint-url "$BENCH_S3" s3 cp - "s3://$BENCH_BUCKET/$BENCH_KEY"`

func (b *bench) runPipe(ctx context.Context, j benchJob, key string) (sample, error) {
	tok, err := fetchToken(ctx, b.httpClient, b.sim.TokenURL)
	if err != nil {
		return sample{}, err
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", pipeScript)
	env := []string{}
	for _, kv := range os.Environ() {
		// Keep PATH, HOME, pyenv and the like; drop anything AWS.
		if len(kv) < 4 || kv[:4] != "AWS_" {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"BENCH_TOKEN="+tok, "BENCH_URL="+b.sim.URL+"/insights/job/"+j.job.JobID+"/exportfile",
		"BENCH_S3="+b.sink.URL, "BENCH_BUCKET="+bucket, "BENCH_KEY="+key,
		"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE="+b.awsConfigFile, "AWS_SHARED_CREDENTIALS_FILE="+b.emptyFile,
	)
	if b.tls != nil {
		cmd.Env = append(cmd.Env, "BENCH_CA="+b.tls.CA, "AWS_CA_BUNDLE="+b.tls.CA)
	}
	s, _, err := runMeasured(cmd, b.sink)
	if err != nil {
		return s, err
	}
	s.Kind, s.Size, s.Bytes, s.Seconds, s.Key = "pipe", j.size, j.size, s.WallSeconds, key
	return s, nil
}
