package avepoint_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/insights-export/insights-export/internal/avepoint"
)

// statusServer answers the token endpoint and a running job's status, the
// minimum a JobStatus call needs, so the benchmark measures the client.
func statusServer(b *testing.B) *httptest.Server {
	b.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /connect/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"bench-token","token_type":"Bearer","expires_in":3600}`)
	})
	mux.HandleFunc("GET /insights/job/{id}/exportstatus", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":200,"message":"","jobStatus":1}`)
	})
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkJobStatus is one status poll as the check function makes it:
// URL building, bearer token (cached after the first call), HTTP round
// trip on 127.0.0.1, decoding and mapping.
func BenchmarkJobStatus(b *testing.B) {
	srv := statusServer(b)
	c, err := avepoint.New(avepoint.Config{
		Endpoints:   avepoint.Endpoints{APIURL: srv.URL, TokenURL: srv.URL + "/connect/token"},
		Credentials: avepoint.StaticCredentials(avepoint.Credentials{ClientID: "bench", ClientSecret: "bench"}),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		st, err := c.JobStatus(ctx, "67890")
		if err != nil || st.State != avepoint.JobRunning {
			b.Fatalf("status %+v, %v", st, err)
		}
	}
}

// BenchmarkJobStatusBaseline is the bare HTTP round trip to the same
// endpoint with net/http's default client: what the client's own work is
// measured against.
func BenchmarkJobStatusBaseline(b *testing.B) {
	srv := statusServer(b)
	url := srv.URL + "/insights/job/67890/exportstatus"
	client := &http.Client{}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}
