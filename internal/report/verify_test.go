package report

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/storage/upload"
)

// countingS3 records which S3 calls an upload made.
type countingS3 struct {
	upload.S3API
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingS3) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[op]++
}

func (c *countingS3) get(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

func (c *countingS3) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	c.count("PutObject")
	return c.S3API.PutObject(ctx, in, o...)
}

func (c *countingS3) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, o ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	c.count("CreateMultipartUpload")
	return c.S3API.CreateMultipartUpload(ctx, in, o...)
}

func (c *countingS3) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	c.count("UploadPart")
	return c.S3API.UploadPart(ctx, in, o...)
}

func (c *countingS3) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, o ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	c.count("CompleteMultipartUpload")
	return c.S3API.CompleteMultipartUpload(ctx, in, o...)
}

func (c *countingS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, o ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	c.count("AbortMultipartUpload")
	return c.S3API.AbortMultipartUpload(ctx, in, o...)
}

// fakeBucket is an in-process S3 (gofakes3) behind the real SDK client.
func fakeBucket(t *testing.T) (*s3.Client, string) {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	client := storage.NewS3Client(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(srv.URL),
	}, true)
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("reports")}); err != nil {
		t.Fatal(err)
	}
	return client, "reports"
}

// reportZIP is a real report-shaped archive: a deflated workbook entry and
// a stored filler of padding bytes (several multipart parts when large).
func reportZIP(t *testing.T, padding int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("activities.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(bytes.Repeat([]byte("<row><c>FileAccessed</c></row>"), 200))
	if padding > 0 {
		block := make([]byte, padding)
		_, _ = rand.NewChaCha8([32]byte{1}).Read(block)
		w, err = zw.CreateRaw(&zip.FileHeader{Name: "padding.bin", Method: zip.Store, CRC32: crc32.ChecksumIEEE(block),
			CompressedSize64: uint64(padding), UncompressedSize64: uint64(padding)})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(block)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestStorerNeverStoresADamagedReport runs the store step against the real
// upload.Store and an S3 stand-in: a report that is corrupt, short or long
// is refused with a named error, and leaves neither an object nor an
// unfinished multipart upload, whether it fitted one PutObject or spanned
// several parts.
func TestStorerNeverStoresADamagedReport(t *testing.T) {
	small := reportZIP(t, 0)
	large := reportZIP(t, 12<<20) // three 5 MiB parts
	truncatedArchive := small[:len(small)-30]
	brokenTail := bytes.Clone(large)
	brokenTail[len(brokenTail)-10] ^= 0xff // the end record: noticed only after every part was sent
	flipped := bytes.Clone(large)
	flipped[len(flipped)/2] ^= 0x01 // inside the stored padding: the CRC-32 catches it
	tests := []struct {
		name          string
		body          []byte
		contentLength int64
		wantErr       string
		wantS3        map[string]int // calls made; others must be zero
	}{
		{name: "small report stored", body: small, contentLength: int64(len(small)), wantS3: map[string]int{"PutObject": 1}},
		{name: "multipart report stored", body: large, contentLength: int64(len(large)),
			wantS3: map[string]int{"CreateMultipartUpload": 1, "UploadPart": 3, "CompleteMultipartUpload": 1}},
		{name: "length unknown", body: small, contentLength: -1, wantS3: map[string]int{"PutObject": 1}},
		{name: "not a ZIP at all", body: []byte("<html><body>Service Unavailable</body></html>"), contentLength: 45, wantErr: "CorruptReportError",
			wantS3: map[string]int{}},
		{name: "truncated archive with a matching length", body: truncatedArchive, contentLength: int64(len(truncatedArchive)), wantErr: "CorruptReportError",
			wantS3: map[string]int{}},
		{name: "corrupt end record after all parts", body: brokenTail, contentLength: int64(len(brokenTail)), wantErr: "CorruptReportError",
			wantS3: map[string]int{"CreateMultipartUpload": 1, "UploadPart": 1, "AbortMultipartUpload": 1}},
		{name: "bad CRC in the middle", body: flipped, contentLength: int64(len(flipped)), wantErr: "CorruptReportError",
			wantS3: map[string]int{"CreateMultipartUpload": 1, "UploadPart": 1, "AbortMultipartUpload": 1}},
		{name: "shorter than Content-Length", body: small, contentLength: int64(len(small)) + 100, wantErr: "TransientError",
			wantS3: map[string]int{}},
		{name: "longer than Content-Length", body: small, contentLength: int64(len(small)) - 100, wantErr: "TransientError",
			wantS3: map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, bucket := fakeBucket(t)
			rec := &countingS3{S3API: client, calls: map[string]int{}}
			store, err := upload.New(rec, upload.Config{Bucket: bucket, PartSize: upload.MinPartSize, Concurrency: 1})
			if err != nil {
				t.Fatal(err)
			}
			api := &fakeAPI{File: func(string) (*avepoint.Report, error) {
				return report(bytes.NewReader(tt.body), tt.contentLength), nil
			}}
			s := &Storer{API: api, Store: store, Prefix: "reports", Log: quiet, Now: fixedNow(testNow)}
			out, err := s.Handle(t.Context(), finishedJob())
			switch {
			case err == nil && tt.wantErr != "":
				t.Fatalf("stored, want %s", tt.wantErr)
			case err != nil && errorName(err) != tt.wantErr:
				t.Fatalf("err = %v (%s), want %q", err, errorName(err), tt.wantErr)
			}
			for _, op := range []string{"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload"} {
				want := tt.wantS3[op]
				if op == "UploadPart" && tt.wantErr != "" && want > 0 {
					// Parts already sent when the damage shows depend on the
					// manager's read-ahead: at least want, never all.
					if got := rec.get(op); got < want || got > 3 {
						t.Errorf("%s called %d times, want %d to 3", op, got, want)
					}
					continue
				}
				if got := rec.get(op); got != want {
					t.Errorf("%s called %d times, want %d", op, got, want)
				}
			}
			objs, err := client.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
			if err != nil {
				t.Fatal(err)
			}
			uploads, err := client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
			var apiErr smithy.APIError
			switch {
			case errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchUpload":
				// gofakes3 answers an empty listing with NoSuchUpload.
			case err != nil:
				t.Fatal(err)
			case len(uploads.Uploads) != 0:
				t.Errorf("%d multipart uploads left open", len(uploads.Uploads))
			}
			if tt.wantErr != "" {
				if len(objs.Contents) != 0 {
					t.Fatalf("a damaged report was stored: %v", aws.ToString(objs.Contents[0].Key))
				}
				return
			}
			if len(objs.Contents) != 1 || aws.ToString(objs.Contents[0].Key) != out.Key || out.Bytes != int64(len(tt.body)) {
				t.Fatalf("objects %d, output %+v", len(objs.Contents), out)
			}
			obj, err := client.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(out.Key)})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			if !bytes.Equal(got, tt.body) {
				t.Fatalf("stored %d bytes differ from the %d served", len(got), len(tt.body))
			}
		})
	}
}

// The object key holds the user's address: a failed upload's log line must
// not carry it (StorageError's text names the key).
func TestStorerKeepsTheKeyOutOfItsLogs(t *testing.T) {
	var logs bytes.Buffer
	st := &fakeStore{put: func(o upload.Object, r io.Reader) (upload.Result, error) {
		_, _ = io.Copy(io.Discard, r)
		return upload.Result{}, &failure.StorageError{Op: failure.OpPut, Bucket: "b", Key: o.Key, Reason: "S3 said no"}
	}}
	body := reportZIP(t, 0)
	api := &fakeAPI{File: func(string) (*avepoint.Report, error) { return report(bytes.NewReader(body), int64(len(body))), nil }}
	s := &Storer{API: api, Store: st, Prefix: "reports", Log: slog.New(slog.NewJSONHandler(&logs, nil)), Now: fixedNow(testNow)}
	_, err := s.Handle(t.Context(), finishedJob())
	if errorName(err) != "StorageError" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(logs.String(), "report not stored") || strings.Contains(logs.String(), "a@b.co") {
		t.Fatalf("log: %s", logs.String())
	}
	// The returned error (Cause, and the runtime's log line) too.
	if strings.Contains(err.Error(), "a@b.co") || !strings.Contains(err.Error(), "user="+request.UserRef("a@b.co")) {
		t.Fatalf("error %q", err)
	}
}
