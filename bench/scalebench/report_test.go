package scalebench

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOperation(t *testing.T) {
	for _, tt := range []struct{ method, target, want string }{
		{"GET", "/b/state/watermarks/user=a@x.io/events=all.json", "GetObject"},
		{"GET", "/b?list-type=2&prefix=x", "ListObjects"},
		{"PUT", "/b/k", "PutObject"},
		{"PUT", "/b", "CreateBucket"},
		{"POST", "/b/k?uploads", "CreateMultipartUpload"},
		{"PUT", "/b/k?partNumber=2&uploadId=u", "UploadPart"},
		{"POST", "/b/k?uploadId=u", "CompleteMultipartUpload"},
		{"DELETE", "/b/k?uploadId=u", "AbortMultipartUpload"},
		{"HEAD", "/b/k", "HeadObject"},
	} {
		if got := Operation(httptest.NewRequest(tt.method, tt.target, nil)); got != tt.want {
			t.Errorf("%s %s = %s, want %s", tt.method, tt.target, got, tt.want)
		}
	}
}

// The summary judges the largest size against the targets and the
// baseline: within the targets and linear is met; a slow or superlinear
// step is not.
func TestSummaryJudges(t *testing.T) {
	sample := func(users int, phase string, seconds float64, rssMiB int64, requests int) Sample {
		return Sample{Users: users, Phase: phase, Child: ChildResult{Seconds: seconds, VmHWMKiB: rssMiB << 10}, Requests: map[string]int{"GetObject": requests}}
	}
	r := &Result{Opts: Options{Sizes: []int{5000, 100000}}, Samples: []Sample{
		sample(5000, PhasePrepare, 0.5, 25, 5000), sample(100000, PhasePrepare, 9, 70, 100000),
		sample(5000, PhaseManifest, 1, 30, 9300), sample(100000, PhaseManifest, 130, 600, 250000),
	}}
	met := map[string]string{}
	for _, row := range r.Summary() {
		met[row.Figure] = row.Met
	}
	for fig, want := range map[string]string{
		"PrepareBatch wall time, 100,000 users":    "yes",
		"PrepareBatch peak RSS, 100,000 users":     "yes",
		"PrepareBatch S3 requests, 100,000 users":  "yes",
		"WriteManifest wall time, 100,000 users":   "**no**", // 130 s > 120 s, ratio 130
		"WriteManifest peak RSS, 100,000 users":    "**no**", // 600 MiB
		"WriteManifest S3 requests, 100,000 users": "**no**", // 26.9× for 20× the users
	} {
		if met[fig] != want {
			t.Errorf("%s: met %q, want %q", fig, met[fig], want)
		}
	}
	if md := r.Markdown(); !strings.Contains(md, "| 100,000 | WriteManifest | 130.00 |") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567", -5000: "-5,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %s", n, got)
		}
	}
}
