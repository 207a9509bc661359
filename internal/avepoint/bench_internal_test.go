package avepoint

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"
)

// Benchmarks of the client's hot paths, each next to a stdlib baseline so
// the report can state a ratio measured in the same run. They time nothing
// against a threshold; `make bench` reads them.

var emailCases = []struct{ name, email string }{
	{"member", "megan.bowen@contoso.onmicrosoft.com"},
	{"guest", "alex_fabrikam.com#EXT#@contoso.onmicrosoft.com"},
}

var sinkString string

// BenchmarkEncodeEmailPath is the export path's double percent-encoding.
func BenchmarkEncodeEmailPath(b *testing.B) {
	for _, c := range emailCases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkString = EncodeEmailPath(c.email)
			}
		})
	}
}

// BenchmarkEncodeEmailPathBaseline is one url.PathEscape of the same
// address: the stdlib's single encoding (which leaves '@' alone, hence not
// usable as is).
func BenchmarkEncodeEmailPathBaseline(b *testing.B) {
	for _, c := range emailCases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkString = url.PathEscape(c.email)
			}
		})
	}
}

// statusBody is the exportstatus answer of a running job, as AvePoint
// sends it.
var statusBody = []byte(`{"status":200,"message":"","jobStatus":1}`)

var sinkState JobState

// BenchmarkStatusParse decodes a status body the way JobStatus does — the
// size-limited decoder, the envelope check, MapJobStatus — without HTTP.
func BenchmarkStatusParse(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(statusBody)))
	for b.Loop() {
		var out struct {
			envelope
			JobStatus *int `json:"jobStatus"`
		}
		if err := decodeJSON(bytes.NewReader(statusBody), &out); err != nil {
			b.Fatal(err)
		}
		if env := out.envelopeStatus(); env.Status != 0 && !isSuccess(env.Status) {
			b.Fatal("envelope error")
		}
		state, err := MapJobStatus(*out.JobStatus)
		if err != nil {
			b.Fatal(err)
		}
		sinkState = state
	}
}

// BenchmarkStatusParseBaseline is a bare json.Unmarshal of the same body.
func BenchmarkStatusParseBaseline(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(statusBody)))
	for b.Loop() {
		var out struct {
			Status    int    `json:"status"`
			Message   string `json:"message"`
			JobStatus int    `json:"jobStatus"`
		}
		if err := json.Unmarshal(statusBody, &out); err != nil {
			b.Fatal(err)
		}
		sinkState = JobState(rune('0' + out.JobStatus))
	}
}
