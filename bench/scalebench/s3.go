package scalebench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/testing/moto"
)

// S3 is the benchmark's S3 endpoint: gofakes3 (memory backend) served
// over HTTP on 127.0.0.1 from this process, counting every request by S3
// operation. The functions under test run in child processes and reach it
// as they reach S3, through the SDK and HTTP; seeding goes to the backend
// directly, so it costs neither requests nor time in the counts.
type S3 struct {
	URL     string
	backend *s3mem.Backend
	srv     *http.Server

	mu     sync.Mutex
	counts map[string]int
}

// StartS3 starts the endpoint; Close it.
func StartS3() (*S3, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &S3{URL: "http://" + ln.Addr().String(), backend: s3mem.New(), counts: map[string]int{}}
	fake := gofakes3.New(s.backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	s.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &status{ResponseWriter: w, code: http.StatusOK}
		fake.ServeHTTP(rec, r)
		s.count(r, rec.code)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the endpoint.
func (s *S3) Close() { _ = s.srv.Close() }

type status struct {
	http.ResponseWriter
	code int
}

func (s *status) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Operation names a request as S3's API does.
func Operation(r *http.Request) string {
	q := r.URL.Query()
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)
	object := len(parts) == 2 && parts[1] != ""
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method == http.MethodPut && q.Has("partNumber"):
		return "UploadPart"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload"
	case r.Method == http.MethodPut && object:
		return "PutObject"
	case r.Method == http.MethodPut:
		return "CreateBucket"
	case r.Method == http.MethodGet && object:
		return "GetObject"
	case r.Method == http.MethodGet:
		return "ListObjects"
	case r.Method == http.MethodHead:
		return "HeadObject"
	case r.Method == http.MethodDelete:
		return "DeleteObject"
	}
	return r.Method
}

func (s *S3) count(r *http.Request, code int) {
	op := Operation(r)
	if code == http.StatusNotFound {
		op += " (404)"
	} else if code >= 400 {
		op += fmt.Sprintf(" (%d)", code)
	}
	s.mu.Lock()
	s.counts[op]++
	s.mu.Unlock()
}

// Counts returns the requests since the last call, by operation, and
// starts counting afresh.
func (s *S3) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := maps.Clone(s.counts)
	clear(s.counts)
	return out
}

// Client is an SDK client for the endpoint (for setup and checks).
func (s *S3) Client() *s3.Client {
	return storage.NewS3Client(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(s.URL),
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")}, true)
}

// CreateBucket makes bucket in the backend.
func (s *S3) CreateBucket(bucket string) error { return s.backend.CreateBucket(bucket) }

// DeleteBucket drops bucket and everything in it (a size's data, once
// measured, so the next size's run does not share the memory).
func (s *S3) DeleteBucket(bucket string) error {
	if err := s.backend.ForceDeleteBucket(bucket); err != nil {
		return err
	}
	return nil
}

// Put stores an object in the backend directly.
func (s *S3) Put(bucket, key string, body []byte) error {
	_, err := s.backend.PutObject(bucket, key, map[string]string{"Content-Type": "application/json"}, bytes.NewReader(body), int64(len(body)), nil)
	return err
}

// Get reads an object from the backend directly.
func (s *S3) Get(bucket, key string) ([]byte, error) {
	obj, err := s.backend.GetObject(bucket, key, nil)
	if err != nil {
		return nil, err
	}
	defer obj.Contents.Close()
	return io.ReadAll(obj.Contents)
}

// Probe times n GETs of one small object with conc in flight through the
// SDK: the endpoint's own request rate, to tell the functions' costs
// from the stand-in's.
func Probe(ctx context.Context, url, bucket string, n, conc int) (perSecond float64, err error) {
	c := storage.NewS3Client(storage.WithConnections(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")}, conc), true)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("probe.json"), Body: strings.NewReader(`{"finishTime":"2026-11-24T00:00:00"}`)}); err != nil {
		return 0, err
	}
	sem := make(chan struct{}, conc)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	start := time.Now()
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("probe.json")})
			if err == nil {
				_, err = io.Copy(io.Discard, out.Body)
				out.Body.Close()
			}
			if err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// opOrder lists operations as the report shows them.
func opOrder(counts map[string]int) []string {
	return slices.Sorted(maps.Keys(counts))
}

// probeMoto times moto_server as Probe times the fake.
func probeMoto(ctx context.Context) (float64, string) {
	m, err := moto.StartContext(ctx)
	if err != nil {
		return 0, "(" + err.Error() + ")"
	}
	defer m.Close()
	const bucket = "scalebench-probe"
	if _, err := (&S3{URL: m.URL}).Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return 0, "(" + err.Error() + ")"
	}
	rate, err := Probe(ctx, m.URL, bucket, 2000, 16)
	if err != nil {
		return 0, "(" + err.Error() + ")"
	}
	return rate, ""
}
