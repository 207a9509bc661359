package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/badinput"
	"github.com/insights-export/insights-export/internal/testing/fakes"
)

// requests counts what reaches the fake S3, by method and query.
type requests struct {
	mu   sync.Mutex
	seen []string
}

func (r *requests) add(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := req.URL.Query()
	op := req.Method
	switch {
	case q.Has("uploads"):
		op = "CreateMultipartUpload"
	case q.Has("partNumber"):
		op = "UploadPart"
	case q.Has("uploadId") && req.Method == http.MethodPost:
		op = "CompleteMultipartUpload"
	case q.Has("uploadId") && req.Method == http.MethodDelete:
		op = "AbortMultipartUpload"
	}
	r.seen = append(r.seen, op)
}

func (r *requests) ops() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.seen, ",")
}

// fakeS3 is an in-process S3 (gofakes3) with one bucket, and the client
// that talks to it over HTTP.
func fakeS3(t *testing.T) (*s3.Client, *requests) {
	t.Helper()
	seen := &requests{}
	fake := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.add(r)
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	client := NewS3Client(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}, true)
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("runs")}); err != nil {
		t.Fatal(err)
	}
	seen.seen = nil
	return client, seen
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{7})
	_, _ = r.Read(b)
	return b
}

func readAll(t *testing.T, st *Objects, key string) []byte {
	t.Helper()
	obj, err := st.Open(t.Context(), "", key)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != int64(len(b)) {
		t.Fatalf("Size %d, read %d", obj.Size, len(b))
	}
	return b
}

// What is written in odd-sized writes comes back byte for byte: one
// PutObject up to a part, parts of PartSize past it.
func TestCreateWritesInParts(t *testing.T) {
	for _, tt := range []struct {
		name string
		size int
		ops  string
	}{
		{"empty", 0, "PUT"},
		{"small", 1234, "PUT"},
		{"exactly one part", PartSize, "PUT"},
		{"one byte more", PartSize + 1, "CreateMultipartUpload,UploadPart,UploadPart,CompleteMultipartUpload"},
		{"three parts", 2*PartSize + 4321, "CreateMultipartUpload,UploadPart,UploadPart,UploadPart,CompleteMultipartUpload"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client, seen := fakeS3(t)
			st := &Objects{Client: client, Bucket: "runs"}
			data := randomBytes(tt.size)
			w := st.Create(t.Context(), "runs/items.json", "application/json")
			for rest := data; len(rest) > 0; {
				n := min(len(rest), 1+len(rest)%777_777)
				if _, err := w.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if w.Size() != int64(tt.size) {
				t.Errorf("Size %d", w.Size())
			}
			if got := seen.ops(); got != tt.ops {
				t.Errorf("requests %s, want %s", got, tt.ops)
			}
			if got := readAll(t, st, "runs/items.json"); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, wrote %d", len(got), len(data))
			}
		})
	}
}

// failingParts passes everything to S3 but refuses the second part.
type failingParts struct {
	*s3.Client
	aborted int
}

func (f *failingParts) UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if aws.ToInt32(in.PartNumber) == 2 {
		return nil, errors.New("S3 said no to " + aws.ToString(in.Key))
	}
	return f.Client.UploadPart(ctx, in, opts...)
}

func (f *failingParts) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	f.aborted++
	return f.Client.AbortMultipartUpload(ctx, in, opts...)
}

// A failed part, or an Abort, leaves no object and no upload; the error
// is a StorageError that names a key with an address by reference.
func TestCreateLeavesNothingBehind(t *testing.T) {
	const key = "state/user=megan.bowen@contoso.com/x.json"
	t.Run("a part fails", func(t *testing.T) {
		client, _ := fakeS3(t)
		fp := &failingParts{Client: client}
		st := &Objects{Client: fp, Bucket: "runs"}
		w := st.Create(t.Context(), key, "application/json")
		_, err := w.Write(randomBytes(3 * PartSize))
		var se *failure.StorageError
		if !errors.As(err, &se) || se.Op != failure.OpPut || se.Key != request.RedactKey(key) || fp.aborted != 1 {
			t.Fatalf("err %v, %d aborts", err, fp.aborted)
		}
		if leak := badinput.Leaks(err.Error(), "megan.bowen@contoso.com"); leak != "" {
			t.Errorf("the error spells %q", leak)
		}
		if _, err2 := w.Write([]byte("x")); err2 != err || w.Close() != err {
			t.Errorf("the failure is not sticky: %v", err2)
		}
		assertNoObject(t, client, key)
	})
	t.Run("abort after parts went up", func(t *testing.T) {
		client, seen := fakeS3(t)
		st := &Objects{Client: client, Bucket: "runs"}
		w := st.Create(t.Context(), key, "application/json")
		if _, err := w.Write(randomBytes(PartSize + 10)); err != nil {
			t.Fatal(err)
		}
		w.Abort()
		if err := w.Close(); err == nil {
			t.Fatal("Close after Abort succeeded")
		}
		if !strings.HasSuffix(seen.ops(), "AbortMultipartUpload") {
			t.Errorf("requests %s", seen.ops())
		}
		assertNoObject(t, client, key)
	})
	t.Run("abort of a small object", func(t *testing.T) {
		client, seen := fakeS3(t)
		st := &Objects{Client: client, Bucket: "runs"}
		w := st.Create(t.Context(), key, "application/json")
		_, _ = w.Write([]byte("[]"))
		w.Abort()
		if seen.ops() != "" {
			t.Errorf("requests %s", seen.ops())
		}
	})
	t.Run("a client without multipart, past one part", func(t *testing.T) {
		st := &Objects{Client: spelledS3{}, Bucket: "runs"}
		w := st.Create(t.Context(), key, "application/json")
		if _, err := w.Write(randomBytes(PartSize + 1)); err == nil || !strings.Contains(err.Error(), "cannot upload in parts") {
			t.Fatalf("got %v", err)
		}
	})
}

func assertNoObject(t *testing.T, client *s3.Client, key string) {
	t.Helper()
	if _, err := client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("runs"), Key: aws.String(key)}); err == nil {
		t.Error("the object exists")
	}
	ups, err := client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String("runs")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d unfinished uploads", len(ups.Uploads))
	}
}

// forbidden answers every request 403, as S3 does to a role without
// s3:GetObject on the object (or without s3:ListBucket for a missing one).
func forbidden(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Open tells an object the caller cannot read (missing, forbidden) from
// S3 failing; each is a StorageError of op get.
func TestOpenTellsUnreadableFromOutages(t *testing.T) {
	client, _ := fakeS3(t)
	for _, tt := range []struct {
		name       string
		st         *Objects
		bucket     string
		unreadable bool
	}{
		{"no such key", &Objects{Client: client, Bucket: "runs"}, "", true},
		{"no such bucket", &Objects{Client: client, Bucket: "runs"}, "elsewhere", true},
		{"access denied", &Objects{Client: fakes.S3At(forbidden(t)), Bucket: "runs"}, "", true},
		{"S3 answers 500", &Objects{Client: fakes.S3At(fakes.EchoS3(t)), Bucket: "runs"}, "", false},
		{"S3 unreachable", &Objects{Client: fakes.S3At(fakes.UnreachableS3(t)), Bucket: "runs"}, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.st.Open(t.Context(), tt.bucket, "lists/hr.csv")
			var se *failure.StorageError
			if !errors.As(err, &se) || se.Op != failure.OpGet || Unreadable(err) != tt.unreadable {
				t.Fatalf("err %v: unreadable %v, want %v", err, Unreadable(err), tt.unreadable)
			}
		})
	}
}

func TestWithConnections(t *testing.T) {
	for _, c := range []aws.HTTPClient{nil, awshttp.NewBuildableClient()} {
		cfg := WithConnections(aws.Config{HTTPClient: c}, 64)
		tr := cfg.HTTPClient.(*awshttp.BuildableClient).GetTransport()
		if tr.MaxIdleConnsPerHost != 64 || tr.MaxIdleConns < 64 {
			t.Errorf("transport keeps %d per host, %d in all", tr.MaxIdleConnsPerHost, tr.MaxIdleConns)
		}
	}
}
