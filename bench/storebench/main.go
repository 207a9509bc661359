// Command storebench measures the store step (issue 5, "Store streaming"):
// the report streamed from the AvePoint simulator into a local S3 endpoint
// by the real code path in a child process built like the Lambda, against
// three baselines from the same run — the source-read ceiling (the same
// bytes read through the avepoint client and discarded), the
// `curl … | aws s3 cp - s3://…` pipe, and the S3 endpoint's own ceiling
// (raw concurrent PUTs) — plus a part size × concurrency sweep and a
// realism run against moto_server. It writes a Markdown fragment.
//
//	go run ./bench/storebench -out bench-store.md
//
// The defaults (100 MiB, 1 GiB, 4 GiB; 3 runs up to 1 GiB, 1 above; a
// 5/8/16 MiB × 1–4 sweep at 1 GiB, 3 runs per cell; GOMEMLIMIT and paced
// checks; moto) take about 5–8 minutes on 2 cores. For CI, e.g.:
//
//	go run ./bench/storebench -out bench-store.md -sizes 20MiB,100MiB -runs 3 \
//	    -sweep-size 100MiB -sweep-runs 1 -paced 100MiB@50MiB
//
// Nothing touches the disk but a few small files in a temp directory:
// reports are generated while sent (avesim's ReportSize) and the S3
// endpoint (bench/cmd/s3sink) checks and discards what it receives.
// Needs go, bash, curl and the aws CLI on PATH (and moto_server for the
// realism run, which is reported as missing rather than failing).
//
// STOREBENCH_CPUPROFILE_DIR=dir makes every store/read child write a CPU
// and an allocation profile there (for diagnosis; it perturbs the
// figures).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage/upload"
	"github.com/insights-export/insights-export/internal/testing/avesim"
	"github.com/insights-export/insights-export/internal/testing/moto"
)

type options struct {
	out, jsonOut    string
	sizes           []int64
	runs, bigRuns   int
	partSize        int64
	concurrency     int
	blastConc       int
	sweepSize       int64
	sweepParts      []int64
	sweepConc       []int
	sweepRuns       int
	moto, pipe, tls bool
	motoRuns        int
	timeout         time.Duration
	command         string
	bigRunThreshold int64
	defaultPart     int64
	defaultConc     int
	effectivePart   int64
	effectiveConc   int
	startedAt       time.Time
	generationMiBps map[int64]float64
	sinkStatsAtEnd  sinkStats
	motoUnavailable string
	notes           []string
	pacedSize       int64
	pacedRate       int64
	loadStart       string
	memLimitCheck   string
	profileSize     int64
}

func main() {
	o := options{startedAt: time.Now().UTC(), bigRunThreshold: 1 << 30, generationMiBps: map[int64]float64{}, loadStart: loadAvg()}
	var sizes, parts, concs string
	flag.StringVar(&o.out, "out", "bench-store.md", "write the Markdown fragment here")
	flag.StringVar(&o.jsonOut, "json", "", "also write every sample as JSON here")
	flag.StringVar(&sizes, "sizes", "100MiB,1GiB,4GiB", "report sizes")
	flag.IntVar(&o.runs, "runs", 3, "runs per size up to 1 GiB")
	flag.IntVar(&o.bigRuns, "big-runs", 1, "runs per size above 1 GiB")
	flag.Int64Var(&o.partSize, "part-size", 0, "store part size in bytes (0 = storage default, as deployed)")
	flag.IntVar(&o.concurrency, "concurrency", 0, "store concurrency (0 = storage default, as deployed)")
	flag.IntVar(&o.blastConc, "blast-concurrency", 0, "concurrent PUTs of the endpoint-ceiling blast (0 = the store's concurrency)")
	var sweepSize string
	flag.StringVar(&sweepSize, "sweep-size", "1GiB", "report size of the part size × concurrency sweep (0 = no sweep)")
	flag.StringVar(&parts, "sweep-parts", "5MiB,8MiB,16MiB", "sweep part sizes")
	flag.StringVar(&concs, "sweep-concurrency", "1,2,3,4", "sweep concurrencies")
	flag.IntVar(&o.sweepRuns, "sweep-runs", 3, "runs per sweep cell")
	flag.StringVar(&o.memLimitCheck, "memlimit", "", "also store each size once with this GOMEMLIMIT instead of the deployed one (empty = skip)")
	var profileSize string
	flag.StringVar(&profileSize, "profile-size", "1GiB", "report size of one more store and read with a CPU profile, for the breakdown (0 = none)")
	var paced string
	flag.StringVar(&paced, "paced", "512MiB@100MiB", "report size @ download rate per second for the paced-source check (empty = none)")
	flag.BoolVar(&o.moto, "moto", true, "also store the smallest size into moto_server")
	flag.IntVar(&o.motoRuns, "moto-runs", 1, "runs against moto_server")
	flag.BoolVar(&o.pipe, "pipe", true, "measure the curl | aws s3 cp - baseline")
	flag.BoolVar(&o.tls, "tls", true, "serve the simulator and the S3 endpoint over TLS, as in production")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	flag.Parse()
	o.command = "go run ./bench/storebench " + strings.Join(os.Args[1:], " ")

	var err error
	if o.sizes, err = parseSizes(sizes); err == nil {
		o.sweepParts, err = parseSizes(parts)
	}
	if err == nil {
		o.sweepConc, err = parseInts(concs)
	}
	if err == nil {
		var ss []int64
		if ss, err = parseSizes(sweepSize); err == nil && len(ss) == 1 {
			o.sweepSize = ss[0]
		}
	}
	if err == nil {
		var ps []int64
		if ps, err = parseSizes(profileSize); err == nil && len(ps) == 1 {
			o.profileSize = ps[0]
		}
	}
	if err == nil && paced != "" {
		sz, rate, ok := strings.Cut(paced, "@")
		var v []int64
		if v, err = parseSizes(sz + "," + rate); err == nil && (!ok || len(v) != 2 || v[0] <= 0 || v[1] <= 0) {
			err = fmt.Errorf("bad -paced %q: want SIZE@RATE, e.g. 512MiB@100MiB", paced)
		}
		if err == nil {
			o.pacedSize, o.pacedRate = v[0], v[1]
		}
	}
	if err == nil {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "storebench:", err)
		os.Exit(1)
	}
}

// bench holds the running pieces.
type bench struct {
	opts          *options
	childBin      string
	sink          *sinkProc
	sim           *simulator
	tls           *tlsFiles
	httpClient    *http.Client // trusts the bench CA
	api           *avepoint.Client
	emptyFile     string
	awsConfigFile string
	jobs          map[int64]benchJob
	paced         benchJob
	samples       []sample
	profiles      int // CPU profiles requested (STOREBENCH_CPUPROFILE_DIR)
	extraEnv      []string
	storeProfile  *cpuProfile // the profiled store run (-profile-size)
	readProfile   *cpuProfile // and the profiled read of the same report
	memLimit      string      // GOMEMLIMIT for the store child ("" = deployedMemLimit)
}

type benchJob struct {
	size int64
	job  request.Job
	crc  uint32 // CRC-32 of the whole report, to check what the sink got
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := loadDeployed(); err != nil {
		return err
	}
	o.defaultPart, o.defaultConc = upload.DefaultPartSize, upload.DefaultConcurrency
	o.effectivePart, o.effectiveConc = orDefault(o.partSize, o.defaultPart), int(orDefault(int64(o.concurrency), int64(o.defaultConc)))
	if o.blastConc == 0 {
		o.blastConc = o.effectiveConc
	}

	dir, err := os.MkdirTemp("", "storebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{opts: &o, jobs: map[int64]benchJob{}, emptyFile: filepath.Join(dir, "empty"), awsConfigFile: filepath.Join(dir, "aws-config")}
	if err := os.WriteFile(b.emptyFile, nil, 0o600); err != nil {
		return err
	}
	// Path-style addressing: bucket.127.0.0.1 does not resolve.
	if err := os.WriteFile(b.awsConfigFile, []byte("[default]\ns3 =\n    addressing_style = path\n"), 0o600); err != nil {
		return err
	}

	logf("building the child and the sink (CGO_ENABLED=0 -trimpath -ldflags '-s -w' -tags lambda.norpc)")
	childBin, sinkBin, err := buildBinaries(ctx, dir)
	if err != nil {
		return err
	}
	b.childBin = childBin
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if o.tls {
		if b.tls, err = makeTLS(dir); err != nil {
			return err
		}
		transport.TLSClientConfig.RootCAs = b.tls.pool
	}
	b.httpClient = &http.Client{Transport: transport}
	if b.sink, err = startSink(ctx, sinkBin, b.tls); err != nil {
		return err
	}
	defer b.sink.stop()

	all := slices.Clone(o.sizes)
	if o.sweepSize > 0 {
		all = append(all, o.sweepSize)
	}
	if o.profileSize > 0 {
		all = append(all, o.profileSize)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	plans := map[string]avesim.JobPlan{}
	for _, size := range all {
		plans[emailFor(size, 0)] = avesim.JobPlan{ReportSize: size}
	}
	if o.pacedSize > 0 {
		plans[emailFor(o.pacedSize, o.pacedRate)] = avesim.JobPlan{ReportSize: o.pacedSize, ReportRate: o.pacedRate}
	}
	if b.sim, err = startSimulator(plans, b.tls); err != nil {
		return err
	}
	defer b.sim.hs.Close()
	if b.api, err = avepoint.New(avepoint.Config{
		Endpoints:   avepoint.Endpoints{APIURL: b.sim.URL, TokenURL: b.sim.TokenURL},
		Credentials: avepoint.StaticCredentials{ClientID: clientID, ClientSecret: clientSecret},
		HTTPClient:  b.httpClient,
	}); err != nil {
		return err
	}
	for _, size := range all {
		if b.jobs[size], err = b.prepareJob(ctx, size, 0); err != nil {
			return err
		}
	}
	if o.pacedSize > 0 {
		if b.paced, err = b.prepareJob(ctx, o.pacedSize, o.pacedRate); err != nil {
			return err
		}
	}

	for _, size := range o.sizes {
		if err := b.measureSize(ctx, size); err != nil {
			return err
		}
	}
	if o.profileSize > 0 {
		if err := b.profile(ctx); err != nil {
			return err
		}
	}
	if o.memLimitCheck != "" {
		if err := b.measureMemLimit(ctx); err != nil {
			return err
		}
	}
	if o.pacedSize > 0 {
		if err := b.measurePaced(ctx); err != nil {
			return err
		}
	}
	if o.sweepSize > 0 {
		if err := b.sweep(ctx); err != nil {
			return err
		}
	}
	if o.moto {
		if err := b.motoRun(ctx, o.sizes[0]); err != nil {
			// moto is a realism extra; its absence is reported, not fatal.
			o.motoUnavailable = err.Error()
			logf("moto run failed: %v", err)
		}
	}
	if err := getJSON(ctx, b.httpClient, b.sink.URL+"/_sink/stats", &o.sinkStatsAtEnd); err != nil {
		return err
	}
	if st := o.sinkStatsAtEnd; st.OpenUploads != 0 || st.Rejected != 0 {
		return fmt.Errorf("sink ended with %d open uploads and %d rejected requests", st.OpenUploads, st.Rejected)
	}

	md := b.markdown()
	if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
		return err
	}
	logf("wrote %s", o.out)
	if o.jsonOut != "" {
		js, err := json.MarshalIndent(b.samples, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonOut, js, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// prepareJob starts and finishes a job of the given report size and
// download rate and computes the report's CRC-32 in process, which also
// shows how fast the simulator generates (in process it never paces).
func (b *bench) prepareJob(ctx context.Context, size, rate int64) (benchJob, error) {
	job, err := newJob(ctx, b.api, emailFor(size, rate))
	if err != nil {
		return benchJob{}, fmt.Errorf("preparing the %s job: %w", human(size), err)
	}
	h := crc32.NewIEEE()
	start := time.Now()
	n, err := b.sim.srv.WriteReport(job.JobID, h)
	if err != nil {
		return benchJob{}, err
	}
	if n != size {
		return benchJob{}, fmt.Errorf("simulator generated %d bytes for a %d-byte report", n, size)
	}
	if rate == 0 {
		b.opts.generationMiBps[size] = float64(size) / (1 << 20) / time.Since(start).Seconds()
	}
	return benchJob{size: size, job: job, crc: h.Sum32()}, nil
}

// profile takes the profiled store and read runs of the breakdown.
func (b *bench) profile(ctx context.Context) error {
	j := b.jobs[b.opts.profileSize]
	logf("%s: store and read with a CPU profile", human(j.size))
	st, err := b.profileChild(ctx, "store", j)
	if err != nil {
		return err
	}
	rd, err := b.profileChild(ctx, "read", j)
	if err != nil {
		return err
	}
	b.storeProfile, b.readProfile = &st, &rd
	return nil
}

// measureMemLimit stores each size once more with GOMEMLIMIT set: what
// setting it in the function's environment would do to the peak RSS.
func (b *bench) measureMemLimit(ctx context.Context) error {
	b.memLimit = b.opts.memLimitCheck
	defer func() { b.memLimit = "" }()
	for _, size := range b.opts.sizes {
		logf("%s with GOMEMLIMIT=%s: store", human(size), b.memLimit)
		s, err := b.runChild(ctx, "store", b.jobs[size], b.sink.URL, b.opts.partSize, b.opts.concurrency)
		if err != nil {
			return err
		}
		if err := b.verify(ctx, b.jobs[size], s.Key); err != nil {
			return err
		}
		s.Kind = "store-memlimit"
		b.add(s, 1)
	}
	return nil
}

// measurePaced repeats the ceiling and the store with the download paced
// like a WAN link: whether the store keeps up with its source once the
// source, not this machine's CPU, is the bottleneck.
func (b *bench) measurePaced(ctx context.Context) error {
	j := b.paced
	for run := 1; run <= b.opts.runs; run++ {
		logf("%s at %s/s run %d: source read", human(j.size), human(b.opts.pacedRate), run)
		s, err := b.runChild(ctx, "read", j, b.sink.URL, 0, 0)
		if err != nil {
			return err
		}
		s.Kind = "read-paced"
		b.add(s, run)
		logf("%s at %s/s run %d: store", human(j.size), human(b.opts.pacedRate), run)
		if s, err = b.runChild(ctx, "store", j, b.sink.URL, b.opts.partSize, b.opts.concurrency); err != nil {
			return err
		}
		if err := b.verify(ctx, j, s.Key); err != nil {
			return err
		}
		s.Kind = "store-paced"
		b.add(s, run)
	}
	return nil
}

func (b *bench) runsFor(size int64) int {
	if size > b.opts.bigRunThreshold {
		return b.opts.bigRuns
	}
	return b.opts.runs
}

func (b *bench) measureSize(ctx context.Context, size int64) error {
	j := b.jobs[size]
	o := b.opts
	for run := 1; run <= b.runsFor(size); run++ {
		logf("%s run %d: source read", human(size), run)
		s, err := b.runChild(ctx, "read", j, b.sink.URL, 0, 0)
		if err != nil {
			return err
		}
		b.add(s, run)

		logf("%s run %d: store", human(size), run)
		if s, err = b.runChild(ctx, "store", j, b.sink.URL, o.partSize, o.concurrency); err != nil {
			return err
		}
		if err := b.verify(ctx, j, s.Key); err != nil {
			return err
		}
		b.add(s, run)

		if o.pipe {
			logf("%s run %d: curl | aws s3 cp -", human(size), run)
			key := fmt.Sprintf("pipe/%d.zip", size)
			if s, err = b.runPipe(ctx, j, key); err != nil {
				return err
			}
			if err := b.verify(ctx, j, key); err != nil {
				return fmt.Errorf("pipe: %w", err)
			}
			b.add(s, run)
		}

		logf("%s run %d: endpoint ceiling (raw PUTs)", human(size), run)
		if s, err = b.runBlast(ctx, size, o.effectivePart, o.blastConc); err != nil {
			return err
		}
		b.add(s, run)
	}
	return nil
}

func (b *bench) add(s sample, run int) {
	s.Run = run
	b.samples = append(b.samples, s)
	logf("  %-5s %8.1f MiB/s  %6.1f MiB peak RSS  %5.2f CPU s", s.Kind, s.mibps(), s.rssMiB(), s.CPUSeconds)
}

// verify checks that the sink holds exactly the report under key.
func (b *bench) verify(ctx context.Context, j benchJob, key string) error {
	obj, err := sinkObject(ctx, b.httpClient, b.sink.URL, key)
	if err != nil {
		return fmt.Errorf("sink object %s: %w", key, err)
	}
	if obj.Size != j.size || obj.CRC32 != j.crc {
		return fmt.Errorf("sink holds %d bytes (crc %08x) under %s, want %d (crc %08x)", obj.Size, obj.CRC32, key, j.size, j.crc)
	}
	return nil
}

func (b *bench) sweep(ctx context.Context) error {
	j := b.jobs[b.opts.sweepSize]
	// Runs outermost: each round visits every cell, so drifting load on a
	// shared machine spreads over all cells instead of favouring the first.
	for run := 1; run <= b.opts.sweepRuns; run++ {
		for _, part := range b.opts.sweepParts {
			for _, conc := range b.opts.sweepConc {
				logf("sweep %s: part %s × %d, run %d", human(j.size), human(part), conc, run)
				s, err := b.runChild(ctx, "store", j, b.sink.URL, part, conc)
				if err != nil {
					return err
				}
				if err := b.verify(ctx, j, s.Key); err != nil {
					return err
				}
				s.Kind = "sweep"
				b.add(s, run)
			}
		}
	}
	return nil
}

// motoRun stores the report into moto_server (plain HTTP, in-memory
// Python): slow, but the same S3 stand-in the integration tests trust.
func (b *bench) motoRun(ctx context.Context, size int64) error {
	m, err := moto.StartContext(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	client := s3.NewFromConfig(m.Config(), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return err
	}
	j := b.jobs[size]
	for run := 1; run <= b.opts.motoRuns; run++ {
		logf("%s run %d: store into moto_server", human(size), run)
		s, err := b.runChild(ctx, "store", j, m.URL, b.opts.partSize, b.opts.concurrency)
		if err != nil {
			return err
		}
		head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(s.Key)})
		if err != nil {
			return err
		}
		if aws.ToInt64(head.ContentLength) != size {
			return fmt.Errorf("moto holds %d bytes, want %d", aws.ToInt64(head.ContentLength), size)
		}
		s.Kind = "moto"
		s.SinkCPU = 0 // measured on the sink, which moto replaces here
		b.add(s, run)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func orDefault(v, d int64) int64 {
	if v == 0 {
		return d
	}
	return v
}

// parseSizes reads "100MiB,1GiB,5242880".
func parseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		mult := int64(1)
		for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
			if strings.HasSuffix(f, suffix) {
				f, mult = strings.TrimSuffix(f, suffix), m
				break
			}
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("bad size %q", f)
		}
		out = append(out, int64(v*float64(mult)))
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d B", n)
}
