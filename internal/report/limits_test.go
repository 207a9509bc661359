package report

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/storage/upload"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

// extremes are accepted inputs at every limit: the longest addresses
// (every character one that a key escapes, a guest's #EXT#), the most
// event types, each of the longest name.
func extremes(t *testing.T) []request.Query {
	t.Helper()
	emails := []string{
		"a@b.co",
		strings.Repeat("a", 200) + "@" + strings.Repeat("d", 51) + ".io",
		strings.Repeat("#", 252) + "@b.c",
		strings.Repeat("x", 120) + "_fabrikam.com#EXT#@" + strings.Repeat("t", 63) + "." + strings.Repeat("o", 40) + ".com",
	}
	lists := [][]string{nil, {"FileAccessed"}}
	for _, n := range []int{15, 16, 40, request.MaxEventTypes} {
		var l []string
		for i := range n {
			l = append(l, fmt.Sprintf("%s%02d", strings.Repeat("E", request.MaxEventType-2), i))
		}
		lists = append(lists, l)
	}
	var out []request.Query
	for _, e := range emails {
		for _, l := range lists {
			for _, start := range []string{"", "2026-01-01T00:00:00"} {
				q, err := request.Request{Email: e, StartTime: start, FinishTime: "2026-11-01T00:00:00", EventTypes: l}.Validate(testNow)
				if err != nil {
					t.Fatalf("%.30s… with %d event types is refused: %v", e, len(l), err)
				}
				out = append(out, q)
			}
		}
	}
	return out
}

// Every accepted input can be stored: its object metadata is within S3's
// 2 KB and its key within 1,024 bytes. moto enforces neither, so only this
// test does. Before, 50 event types of 64 characters made 3.3 KB.
func TestEveryAcceptedInputFitsS3(t *testing.T) {
	jobIDs := []string{"9", "2b0c4b0e-94c6-4f2e-9c69-1f5a8f3e7d21", strings.Repeat("7", 4096), "job\r\nX-Injected: 1"}
	for _, q := range extremes(t) {
		for _, id := range jobIDs {
			m := reportMetadata(q, id)
			if n := metadataBytes(m); n > maxMetadataBytes {
				t.Errorf("address %d bytes, %d event types, job id %d bytes: metadata %d bytes", len(q.Email), len(q.EventTypes), len(id), n)
			}
			for k, v := range m {
				if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
					t.Errorf("metadata %s = %q is not a header value", k, v)
				}
			}
		}
		for _, prefix := range []string{"reports", strings.Repeat("p", request.MaxPrefixBytes)} {
			if key := request.ObjectKey(prefix, q); len(key) > request.MaxKeyBytes {
				t.Errorf("prefix %d bytes, address %d bytes, %d event types: key %d bytes", len(prefix), len(q.Email), len(q.EventTypes), len(key))
			}
		}
	}
}

// Metadata that fits is written as before; a filter too long to write out
// becomes the digest a key uses for it.
func TestReportMetadata(t *testing.T) {
	q := request.Query{Email: "a@b.co", StartTime: "2026-01-01T00:00:00", FinishTime: "2026-02-01T00:00:00", EventTypes: []string{"FileAccessed", "ListViewed"}}
	want := map[string]string{"email": "a@b.co", "start-time": "2026-01-01T00:00:00", "finish-time": "2026-02-01T00:00:00", "event-types": "FileAccessed,ListViewed", "job-id": "9"}
	if got := reportMetadata(q, "9"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("metadata %v, want %v", got, want)
	}
	long := extremes(t)
	last := long[len(long)-1]
	if got := reportMetadata(last, "9")["event-types"]; got != request.EventsDigest(last.EventTypes) {
		t.Fatalf("a %d-type filter is written %q", len(last.EventTypes), got)
	}
}

// A prefix so long that a key might not fit is refused at cold start.
func TestLoadStorerRefusesAPrefixKeysCannotFit(t *testing.T) {
	env := map[string]string{"AVEPOINT_SECRET_ID": "s", "REPORT_BUCKET": "b", "REPORT_PREFIX": strings.Repeat("p", request.MaxPrefixBytes+1)}
	_, err := LoadStorer(func(k string) string { return env[k] })
	var ce *failure.ConfigError
	if !errors.As(err, &ce) || ce.Variable != "REPORT_PREFIX" {
		t.Fatalf("got %v", err)
	}
}

// The store step end to end with the real upload.Store, S3 unreachable:
// neither its log line nor the error it returns (the Step Functions
// cause) spells the address in any encoding.
func TestStorerKeepsTheAddressOutWhenS3IsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close()
	client := storage.NewS3Client(aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 1,
	}, true)
	store, err := upload.New(client, upload.Config{Bucket: "reports"})
	if err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"megan.bowen@contoso.com", "x_y.com#ext#@t.onmicrosoft.com"} {
		var logs bytes.Buffer
		body := reportZIP(t, 0)
		api := &fakeAPI{File: func(string) (*avepoint.Report, error) { return report(bytes.NewReader(body), int64(len(body))), nil }}
		s := &Storer{API: api, Store: store, Prefix: "reports", Log: slog.New(slog.NewJSONHandler(&logs, nil)), Now: fixedNow(testNow)}
		job := finishedJob()
		job.Request.Email = email
		_, err := s.Handle(t.Context(), job)
		if errorName(err) != "StorageError" {
			t.Fatalf("err = %v (%s)", err, errorName(err))
		}
		local, _, _ := strings.Cut(email, "@")
		if leak := badinput.Leaks(logs.String(), email, local); leak != "" {
			t.Errorf("the log spells the address as %q: %s", leak, logs.String())
		}
		if leak := badinput.Leaks(failure.ForLambda(err).Error(), email, local); leak != "" {
			t.Errorf("the cause spells the address as %q: %s", leak, err)
		}
		if !strings.Contains(err.Error(), "user="+request.UserRef(email)) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("the cause should name the user by reference and keep the SDK's reason: %s", err)
		}
	}
}
