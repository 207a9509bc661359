package report_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/report"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage/upload"
)

// benchReport is a valid ZIP of about 32 MiB: one stored entry of random
// bytes (incompressible, like the XLSX inside a real report), built once.
var benchReport = sync.OnceValues(func() ([]byte, error) {
	data := make([]byte, 32<<20)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(data)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "activities.xlsx", Method: zip.Store})
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
})

func benchZIP(b *testing.B) []byte {
	b.Helper()
	body, err := benchReport()
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// reportServer serves the token endpoint and one job's report from memory.
func reportServer(b *testing.B) *httptest.Server {
	b.Helper()
	body := benchZIP(b)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /connect/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"bench-token","token_type":"Bearer","expires_in":3600}`)
	})
	mux.HandleFunc("GET /insights/job/{id}/exportfile", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/zip")
		http.ServeContent(w, r, "report.zip", time.Time{}, bytesReader(body))
	})
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	return srv
}

type bytesReaderAt struct{ b []byte }

func bytesReader(b []byte) io.ReadSeeker {
	return io.NewSectionReader(&bytesReaderAt{b}, 0, int64(len(b)))
}

func (r *bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// discardS3 accepts uploads and drops the bytes: the benchmark measures
// the store path up to the S3 client, not an S3 server.
type discardS3 struct{}

func (discardS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	_, err := io.Copy(io.Discard, in.Body)
	return &s3.PutObjectOutput{ETag: aws.String(`"single"`)}, err
}

func (discardS3) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String("bench")}, nil
}

func (discardS3) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	_, err := io.Copy(io.Discard, in.Body)
	return &s3.UploadPartOutput{ETag: aws.String(`"part"`)}, err
}

func (discardS3) CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return &s3.CompleteMultipartUploadOutput{ETag: aws.String(`"multi"`)}, nil
}

func (discardS3) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	return &s3.AbortMultipartUploadOutput{}, nil
}

// BenchmarkStorerHandle is the store function's handler on a 32 MiB report:
// the download through the avepoint client (127.0.0.1), the ZIP signature
// check and streaming ZIP verification, and storage.Put (SHA-256, multipart buffering with the default
// part size and concurrency) into an S3 client that discards the parts.
// No timing is asserted; `make bench` compares it with the baseline below.
func BenchmarkStorerHandle(b *testing.B) {
	srv := reportServer(b)
	client, err := avepoint.New(avepoint.Config{
		Endpoints:   avepoint.Endpoints{APIURL: srv.URL, TokenURL: srv.URL + "/connect/token"},
		Credentials: avepoint.StaticCredentials(avepoint.Credentials{ClientID: "bench", ClientSecret: "bench"}),
	})
	if err != nil {
		b.Fatal(err)
	}
	store, err := upload.New(discardS3{}, upload.Config{Bucket: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	h := &report.Storer{API: client, Store: store, Prefix: "reports", Log: slog.New(slog.DiscardHandler), Now: time.Now}
	job := request.Job{
		Request: request.Query{Email: "megan.bowen@contoso.com", FinishTime: "2026-11-25T12:00:00"},
		JobID:   "67890", StartedAt: time.Now(), Status: "finished", JobStatus: 2,
	}
	ctx := context.Background()
	size := int64(len(benchZIP(b)))
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		out, err := h.Handle(ctx, job)
		if err != nil || out.Bytes != size {
			b.Fatalf("stored %d bytes, %v", out.Bytes, err)
		}
	}
}

// BenchmarkStorerHandleBaseline downloads the same report with net/http
// and discards it: the source-read ceiling of the handler above.
func BenchmarkStorerHandleBaseline(b *testing.B) {
	srv := reportServer(b)
	url := srv.URL + "/insights/job/67890/exportfile"
	client := &http.Client{}
	size := int64(len(benchZIP(b)))
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			b.Fatalf("read %d bytes, %v", n, err)
		}
	}
}
