// Command storechild is the process storebench measures. It is built like
// the Lambda bootstraps (CGO_ENABLED=0, -trimpath, -ldflags "-s -w",
// -tags lambda.norpc) so that its peak RSS stands for the function's.
//
//	storechild store  < job.json   # the store step: report.Storer.Handle
//	storechild read   < job.json   # the same report read and discarded
//	storechild blast               # raw concurrent PUTs to the S3 endpoint
//
// "store" wires the function's real path exactly as functions/storereport
// does — export.LoadConfig from the environment, config.AWSConfig
// for AWS (AWS_ENDPOINT_URL_S3, AWS_CA_BUNDLE …), the avepoint client,
// upload.Store, report.Storer — except that the AvePoint credentials come
// from BENCH_CLIENT_ID and BENCH_CLIENT_SECRET instead of Secrets Manager
// (one small call per container, irrelevant to streaming).
// BENCH_PART_SIZE and BENCH_CONCURRENCY override the storage defaults
// (0 or unset = defaults, as deployed).
//
// "blast" PUTs BLAST_SIZE bytes as objects of BLAST_PART bytes,
// BLAST_CONC at a time, to BLAST_URL/blast/…: the endpoint's ceiling.
//
// STORECHILD_CPUPROFILE=file writes a CPU profile of the run (storebench
// takes one profiled run for its breakdown), STORECHILD_MEMPROFILE=file
// an allocation profile; both are off in measured runs.
//
// Each mode prints one JSON Result on stdout; logs go to stderr.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insights-export/insights-export/internal/config"
	"github.com/insights-export/insights-export/internal/report"
	"github.com/insights-export/insights-export/internal/request"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/export"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/storage/upload"
)

// Result is what the child reports; the parent adds the process's rusage.
type Result struct {
	Mode    string  `json:"mode"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"` // the work alone, without process start and config
	SHA256  string  `json:"sha256,omitempty"`
	Key     string  `json:"key,omitempty"`
	// Go runtime figures at the end, to explain the RSS.
	HeapSysMiB    float64 `json:"heapSysMiB"`
	TotalAllocMiB float64 `json:"totalAllocMiB"`
	NumGC         uint32  `json:"numGC"`
}

func main() { os.Exit(realMain()) }

func realMain() int {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: storechild store|read|blast")
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	if os.Getenv("STORECHILD_MEMPROFILE") != "" {
		runtime.MemProfileRate = 64 << 10
	}
	if path := os.Getenv("STORECHILD_CPUPROFILE"); path != "" {
		// For finding where the CPU goes; off in measured runs.
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "storechild: cpu profile:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	var (
		res Result
		err error
	)
	switch os.Args[1] {
	case "store":
		res, err = store(ctx, log)
	case "read":
		res, err = read(ctx, log)
	case "blast":
		res, err = blast(ctx)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "storechild:", err)
		return 1
	}
	if path := os.Getenv("STORECHILD_MEMPROFILE"); path != "" {
		// Every allocation of the run, by call site (for finding what
		// grows with the report size).
		runtime.GC() // the profile covers allocations up to the last GC
		f, err := os.Create(path)
		if err == nil {
			err = pprof.Lookup("allocs").WriteTo(f, 0)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "storechild: memory profile:", err)
			return 1
		}
	}
	res.Mode = os.Args[1]
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapSysMiB = float64(ms.HeapSys) / (1 << 20)
	res.TotalAllocMiB = float64(ms.TotalAlloc) / (1 << 20)
	res.NumGC = ms.NumGC
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

func readJob() (request.Job, error) {
	var job request.Job
	err := json.NewDecoder(os.Stdin).Decode(&job)
	return job, err
}

func avepointClient(cfg export.Config, log *slog.Logger) (*avepoint.Client, error) {
	return avepoint.New(avepoint.Config{
		Endpoints:   cfg.Endpoints,
		Credentials: avepoint.StaticCredentials{ClientID: os.Getenv("BENCH_CLIENT_ID"), ClientSecret: os.Getenv("BENCH_CLIENT_SECRET")},
		Logger:      log,
	})
}

func envInt(name string) (int64, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

func store(ctx context.Context, log *slog.Logger) (Result, error) {
	job, err := readJob()
	if err != nil {
		return Result{}, err
	}
	env := config.NewEnv(os.Getenv)
	cfg := export.LoadConfig(env)
	sc := env.Storage()
	if err := env.Err(); err != nil {
		return Result{}, err
	}
	awsCfg, err := config.AWSConfig()
	if err != nil {
		return Result{}, err
	}
	api, err := avepointClient(cfg, log)
	if err != nil {
		return Result{}, err
	}
	part, err := envInt("BENCH_PART_SIZE")
	if err != nil {
		return Result{}, err
	}
	conc, err := envInt("BENCH_CONCURRENCY")
	if err != nil {
		return Result{}, err
	}
	st, err := upload.New(storage.NewS3Client(awsCfg, sc.ForcePathStyle), upload.Config{
		Bucket: sc.Bucket, KMSKeyID: sc.KMSKeyID, PartSize: part, Concurrency: int(conc),
	})
	if err != nil {
		return Result{}, err
	}
	h := &report.Storer{API: api, Store: st, Prefix: sc.Prefix, Log: log, Now: time.Now}
	start := time.Now()
	out, err := h.Handle(ctx, job)
	elapsed := time.Since(start)
	if err != nil {
		return Result{}, err
	}
	return Result{Bytes: out.Bytes, Seconds: elapsed.Seconds(), SHA256: out.SHA256, Key: out.Key}, nil
}

func read(ctx context.Context, log *slog.Logger) (Result, error) {
	job, err := readJob()
	if err != nil {
		return Result{}, err
	}
	env := config.NewEnv(os.Getenv)
	cfg := export.LoadConfig(env)
	if err := env.Err(); err != nil {
		return Result{}, err
	}
	api, err := avepointClient(cfg, log)
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	rep, err := api.ExportFile(ctx, job.JobID)
	if err != nil {
		return Result{}, err
	}
	defer rep.Body.Close()
	n, err := io.Copy(io.Discard, rep.Body)
	elapsed := time.Since(start)
	if err != nil {
		return Result{}, err
	}
	if rep.ContentLength >= 0 && n != rep.ContentLength {
		return Result{}, fmt.Errorf("read %d bytes of %d", n, rep.ContentLength)
	}
	return Result{Bytes: n, Seconds: elapsed.Seconds()}, nil
}

func blast(ctx context.Context) (Result, error) {
	base := os.Getenv("BLAST_URL")
	size, err1 := envInt("BLAST_SIZE")
	part, err2 := envInt("BLAST_PART")
	conc, err3 := envInt("BLAST_CONC")
	if err := errors.Join(err1, err2, err3); err != nil || base == "" || size <= 0 || part <= 0 || conc <= 0 {
		return Result{}, fmt.Errorf("blast needs BLAST_URL, BLAST_SIZE, BLAST_PART, BLAST_CONC (%v)", err)
	}
	buf := make([]byte, part)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(buf)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = int(conc)
	client := &http.Client{Transport: t}

	var (
		next  atomic.Int64 // offset of the next part to send
		sent  atomic.Int64
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				off := next.Add(part) - part
				if off >= size {
					return
				}
				n := min(part, size-off)
				err := put(ctx, client, fmt.Sprintf("%s/blast/w%d-%d", base, w, off/part), buf[:n])
				if err != nil {
					errMu.Lock()
					first = firstErr(first, err)
					errMu.Unlock()
					return
				}
				sent.Add(n)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return Result{}, first
	}
	return Result{Bytes: sent.Load(), Seconds: elapsed.Seconds()}, nil
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func put(ctx context.Context, c *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: %s", url, resp.Status)
	}
	return nil
}
