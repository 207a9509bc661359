package coldstart

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/request"
)

func TestSummarise(t *testing.T) {
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	var samples []Sample
	for _, v := range []int{50, 10, 40, 20, 30} {
		samples = append(samples, Sample{First: ms(v), Warm: ms(v / 10)})
	}
	st := Summarise(samples)
	if st.N != 5 || st.Median != ms(30) || st.Min != ms(10) || st.Max != ms(50) || st.P25 != ms(20) || st.P75 != ms(40) || st.MedianWarm != ms(3) {
		t.Fatalf("got %+v", st)
	}
	// The samples keep their measurement order.
	if st.Samples[0] != ms(50) {
		t.Fatalf("samples reordered: %v", st.Samples)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0, ms(10)}, {0.5, ms(15)}, {1, ms(20)}}
	for _, tt := range tests {
		if got := Quantile([]time.Duration{ms(10), ms(20)}, tt.q); got != tt.want {
			t.Errorf("Quantile(%v) = %s, want %s", tt.q, got, tt.want)
		}
	}
	if st := Summarise(nil); st.N != 0 || st.Median != 0 || st.Samples != nil {
		t.Fatalf("empty input gave %+v", st)
	}
}

func TestRecorderSeesConnections(t *testing.T) {
	rec, err := NewRecorder()
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	if len(rec.Connections()) != 0 {
		t.Fatal("connections before any client")
	}
	client := &http.Client{Timeout: 3 * time.Second}
	if _, err := client.Get(rec.URL() + "/probe"); err == nil {
		t.Fatal("the recorder answered; it must only record")
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(rec.Connections()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := rec.Connections()
	if len(got) == 0 || !strings.HasPrefix(got[0], "GET /probe ") {
		t.Fatalf("recorded %q", got)
	}
	if _, _, err := net.SplitHostPort(strings.TrimPrefix(rec.URL(), "http://")); err != nil || !strings.HasPrefix(rec.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %s is not on 127.0.0.1", rec.URL())
	}
}

// TestNoNetworkAtInit runs every function's real bootstrap that has a
// request that connects under the RIE with every endpoint and proxy
// pointing at a connection recorder: starting up and refusing a bad
// request (with the expected refusal) must open no connection, and a real
// request must (else the recorder proves nothing).
func TestNoNetworkAtInit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every bootstrap and runs each under the Lambda RIE: skipped with -short (make unit); make test runs it")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	bins, err := BuildFunctions(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	job := request.Job{Request: request.Query{Email: "a@contoso.com", FinishTime: "2026-11-25T12:00:00"}, JobID: "1", StartedAt: time.Now().UTC(), Status: "running"}
	finished := job
	finished.Status = "finished"
	e := &Env{
		FunctionEnv: map[string]string{
			"AVEPOINT_SECRET_ID": "insights-export/avepoint", "REPORT_BUCKET": "reports", "REPORT_PREFIX": "reports", "JOB_SLOTS_TABLE": "slots",
			"JOB_SLOT_WAITERS_QUEUE_URL": "http://127.0.0.1:1/123456789012/waiters.fifo",
			"AWS_REGION":                 "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "test",
		},
		Running: job, Finished: finished,
	}
	targets, err := e.Targets("unused-hello", bins)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if tg.Name == "hello" || tg.Connects == nil {
			continue
		}
		t.Run(tg.Name, func(t *testing.T) {
			res, err := InitConnections(ctx, tg)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.AtInit) != 0 {
				t.Fatalf("%s connected during init: %q", tg.Name, res.AtInit)
			}
			if len(res.AfterCall) == 0 {
				t.Fatalf("%s made no connection even for a real request: the endpoints did not reach it", tg.Name)
			}
			// The method only: a request line's path can hold the user's
			// (fixture) address, which no log line shows.
			method, _, _ := strings.Cut(res.AfterCall[0], " ")
			t.Logf("%s: 0 connections at init, %d after a real request (first: %s)", tg.Name, len(res.AfterCall), method)
		})
	}
}

func TestParseReport(t *testing.T) {
	logs := "START RequestId: 1 Version: $LATEST\n{\"level\":\"INFO\"}\nEND RequestId: 1\n" +
		"REPORT RequestId: 1\tInit Duration: 12.34 ms\tDuration: 5.50 ms\tBilled Duration: 6 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t\n" +
		"REPORT RequestId: 2\tDuration: 1.00 ms\tBilled Duration: 1 ms\t\n"
	initDur, invoke := ParseReport(logs)
	if initDur != 12340*time.Microsecond || invoke != 5500*time.Microsecond {
		t.Fatalf("init %s, invoke %s", initDur, invoke)
	}
	if i, d := ParseReport("no report"); i != 0 || d != 0 {
		t.Fatalf("got %s %s from nothing", i, d)
	}
}

// TestOwnPackagesInitCheaply: the project's own packages build nothing at
// package init (no regexp compiled, no table filled) in any function; what
// they need is built on first use. Nor does any function initialise the
// SDK's config package and the credential chain it imports (SSO, SSO-OIDC,
// STS, sign-in: their endpoint tables and schemas), which no function
// uses. GODEBUG=inittrace=1 lists every init that ran, with its heap
// bytes.
// credentialChain are the packages the SDK's config package imports for
// the default credential chain.
var credentialChain = []string{
	"github.com/aws/aws-sdk-go-v2/config", "github.com/aws/aws-sdk-go-v2/service/sso", "github.com/aws/aws-sdk-go-v2/service/ssooidc",
	"github.com/aws/aws-sdk-go-v2/service/sts", "github.com/aws/aws-sdk-go-v2/service/signin",
}

func TestOwnPackagesInitCheaply(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every bootstrap: skipped with -short (make unit); make test runs it")
	}
	const own, limit = "github.com/insights-export/", 1024
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	bins, err := BuildFunctions(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range Functions {
		c, err := MeasureInit(ctx, bins[fn], 1, func(pkg string) bool { return strings.HasPrefix(pkg, own) })
		if err != nil {
			t.Fatal(err)
		}
		if c.GroupBytes > limit {
			t.Errorf("%s: the project's packages allocate %d bytes at init (at most %d)", fn, c.GroupBytes, limit)
		}
		chain, err := MeasureInit(ctx, bins[fn], 1, func(pkg string) bool {
			for _, p := range credentialChain {
				if pkg == p || strings.HasPrefix(pkg, p+"/") {
					return true
				}
			}
			return false
		})
		if err != nil {
			t.Fatal(err)
		}
		if chain.GroupBytes > 0 || chain.GroupClock > 0 {
			t.Errorf("%s: the SDK's config package and credential chain initialise at every cold start (%d bytes)", fn, chain.GroupBytes)
		}
	}
}
