package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/testing/moto"
)

const mib = 1 << 20

// payload is a deterministic pseudo-random stream of n bytes; the same seed
// always yields the same bytes, so the expected SHA-256 can be computed
// from a second instance without holding the stream in memory.
func payload(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func sha256Of(t testing.TB, r io.Reader) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

var bucketSeq atomic.Int64

var nonBucketChars = regexp.MustCompile(`[^a-z0-9-]+`)

// newBucket creates a bucket of the test's own on the shared moto server.
func newBucket(t *testing.T, c *s3.Client) string {
	t.Helper()
	name := nonBucketChars.ReplaceAllString(strings.ToLower(t.Name()), "-")
	name = fmt.Sprintf("%.40s-%d", name, bucketSeq.Add(1))
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", name, err)
	}
	return name
}

// assertNothingLeft checks that a failed Put left neither the object nor an
// unfinished multipart upload.
func assertNothingLeft(t *testing.T, c *s3.Client, bucket, key string) {
	t.Helper()
	ctx := context.Background()
	_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		t.Errorf("HeadObject after failed Put: err = %v, want NotFound", err)
	}
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left behind, want 0", len(ups.Uploads))
	}
}

// countingS3 counts UploadPart calls and can fail one of them.
type countingS3 struct {
	S3API
	puts, parts, aborts atomic.Int32
	failPart            int32 // 1-based call number to fail; 0 = never
	failAbort           bool
}

func (c *countingS3) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	c.puts.Add(1)
	return c.S3API.PutObject(ctx, in, o...)
}

func (c *countingS3) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if n := c.parts.Add(1); n == c.failPart {
		return nil, errors.New("injected UploadPart failure")
	}
	return c.S3API.UploadPart(ctx, in, o...)
}

func (c *countingS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, o ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	c.aborts.Add(1)
	if c.failAbort {
		return nil, errors.New("injected AbortMultipartUpload failure")
	}
	return c.S3API.AbortMultipartUpload(ctx, in, o...)
}

func TestPutStoresObject(t *testing.T) {
	m := moto.Start(t)
	c := m.S3Client(t)
	bucket := newBucket(t, c)
	const kmsKey = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

	tests := []struct {
		name      string
		size      int64
		kmsKeyID  string
		wantParts int32 // UploadPart calls; 0 = single PutObject
	}{
		{name: "small/SSE-S3", size: 100 << 10},
		{name: "empty/SSE-S3", size: 0},
		{name: "multipart/SSE-S3", size: 20 * mib, wantParts: 4},
		{name: "multipart-uneven/SSE-S3", size: 12*mib + 7, wantParts: 3},
		{name: "small/SSE-KMS", size: 1 << 10, kmsKeyID: kmsKey},
		{name: "multipart/SSE-KMS", size: 11 * mib, kmsKeyID: kmsKey, wantParts: 3},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cs := &countingS3{S3API: c}
			st, err := New(cs, Config{Bucket: bucket, KMSKeyID: tc.kmsKeyID, PartSize: 5 * mib, Concurrency: 2})
			if err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf("reports/%d.xlsx", i)
			meta := map[string]string{"job-id": "job-42", "email": "a@example.com"}
			const ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

			res, err := st.Put(ctx, Object{Key: key, ContentType: ctype, Metadata: meta}, payload(uint64(i), tc.size))
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			wantSHA := sha256Of(t, payload(uint64(i), tc.size))
			if res.Bucket != bucket || res.Key != key || res.Bytes != tc.size || res.SHA256 != wantSHA || res.ETag == "" {
				t.Fatalf("Result = %+v, want bucket %s key %s bytes %d sha256 %s and an ETag", res, bucket, key, tc.size, wantSHA)
			}
			if got := cs.parts.Load(); got != tc.wantParts {
				t.Errorf("UploadPart calls = %d, want %d", got, tc.wantParts)
			}
			if tc.wantParts == 0 && cs.puts.Load() != 1 {
				t.Errorf("PutObject calls = %d, want 1", cs.puts.Load())
			}

			got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			defer got.Body.Close()
			if sum := sha256Of(t, got.Body); sum != wantSHA {
				t.Errorf("stored object sha256 = %s, want %s", sum, wantSHA)
			}
			if aws.ToString(got.ETag) != res.ETag {
				t.Errorf("stored ETag %s, Result.ETag %s", aws.ToString(got.ETag), res.ETag)
			}
			if aws.ToString(got.ContentType) != ctype {
				t.Errorf("ContentType = %q, want %q", aws.ToString(got.ContentType), ctype)
			}
			for k, v := range meta {
				if got.Metadata[k] != v {
					t.Errorf("metadata %s = %q, want %q (all: %v)", k, got.Metadata[k], v, got.Metadata)
				}
			}
			if tc.kmsKeyID == "" {
				if got.ServerSideEncryption != types.ServerSideEncryptionAes256 {
					t.Errorf("ServerSideEncryption = %q, want AES256", got.ServerSideEncryption)
				}
			} else {
				if got.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
					t.Errorf("ServerSideEncryption = %q, want aws:kms", got.ServerSideEncryption)
				}
				if aws.ToString(got.SSEKMSKeyId) != tc.kmsKeyID {
					t.Errorf("SSEKMSKeyId = %q, want %q", aws.ToString(got.SSEKMSKeyId), tc.kmsKeyID)
				}
			}
		})
	}
}

// failAfter yields n bytes of payload, then fails with err.
type failAfter struct {
	r   io.Reader
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// cancelAfter cancels the upload's context once n bytes have been read and
// keeps supplying data, like a download that does not notice.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= int64(n); c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestPutFailureLeavesNothing(t *testing.T) {
	m := moto.Start(t)
	c := m.S3Client(t)
	bucket := newBucket(t, c)
	// The body error a report download returns when AvePoint cuts it short.
	cut := &failure.TransientError{Reason: "report stream ended early"}

	tests := []struct {
		name      string
		body      func(cancel context.CancelFunc) io.Reader
		failPart  int32
		wantOp    string
		wantCause func(error) bool
	}{
		{
			name:   "body error in first part",
			body:   func(context.CancelFunc) io.Reader { return &failAfter{r: payload(1, 2*mib), err: cut} },
			wantOp: failure.OpRead,
			wantCause: func(err error) bool {
				var te *failure.TransientError
				return errors.As(err, &te)
			},
		},
		{
			name:   "body error half-way through multipart",
			body:   func(context.CancelFunc) io.Reader { return &failAfter{r: payload(2, 12*mib), err: cut} },
			wantOp: failure.OpRead,
			wantCause: func(err error) bool {
				var te *failure.TransientError
				return errors.As(err, &te)
			},
		},
		{
			name: "context cancelled half-way through multipart",
			body: func(cancel context.CancelFunc) io.Reader {
				return &cancelAfter{r: payload(3, 30*mib), n: 12 * mib, cancel: cancel}
			},
			wantOp:    failure.OpPut,
			wantCause: func(err error) bool { return errors.Is(err, context.Canceled) },
		},
		{
			name:      "S3 error on third part",
			body:      func(context.CancelFunc) io.Reader { return payload(4, 20*mib) },
			failPart:  3,
			wantOp:    failure.OpPut,
			wantCause: func(err error) bool { return strings.Contains(err.Error(), "injected UploadPart failure") },
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cs := &countingS3{S3API: c, failPart: tc.failPart}
			st, err := New(cs, Config{Bucket: bucket, PartSize: 5 * mib, Concurrency: 2})
			if err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf("failed/%d", i)

			_, err = st.Put(ctx, Object{Key: key}, tc.body(cancel))
			var se *failure.StorageError
			if !errors.As(err, &se) {
				t.Fatalf("Put error = %v (%T), want *failure.StorageError", err, err)
			}
			if se.Op != tc.wantOp || se.Bucket != bucket || se.Key != key || se.Reason == "" {
				t.Errorf("failure.StorageError = %+v, want op %s bucket %s key %s and a reason", se, tc.wantOp, bucket, key)
			}
			if !tc.wantCause(err) {
				t.Errorf("error %v does not carry the expected cause", err)
			}
			assertNothingLeft(t, c, bucket, key)
		})
	}
}

// When even the abort fails, the error must say so and name the upload, so
// that an operator can find the parts left behind.
func TestPutReportsFailedAbort(t *testing.T) {
	m := moto.Start(t)
	c := m.S3Client(t)
	bucket := newBucket(t, c)
	cs := &countingS3{S3API: c, failPart: 2, failAbort: true}
	st, err := New(cs, Config{Bucket: bucket, PartSize: 5 * mib, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Put(context.Background(), Object{Key: "k"}, payload(6, 11*mib))
	var se *failure.StorageError
	if !errors.As(err, &se) || se.Op != failure.OpPut {
		t.Fatalf("err = %v, want *failure.StorageError op %s", err, failure.OpPut)
	}
	ups, lerr := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if lerr != nil || len(ups.Uploads) != 1 {
		t.Fatalf("ListMultipartUploads = %v, %v; want the one upload the failed abort left", ups, lerr)
	}
	id := aws.ToString(ups.Uploads[0].UploadId)
	if !strings.Contains(se.Reason, "aborting multipart upload "+id+" failed too") || !strings.Contains(se.Reason, "injected UploadPart failure") {
		t.Errorf("Reason = %q, want the part failure and the failed abort of upload %s", se.Reason, id)
	}
}

func TestPutReplacesExistingObject(t *testing.T) {
	m := moto.Start(t)
	c := m.S3Client(t)
	bucket := newBucket(t, c)
	st, err := New(c, Config{Bucket: bucket, PartSize: 5 * mib})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const key = "reports/same.xlsx"
	if _, err := st.Put(ctx, Object{Key: key}, payload(10, 6*mib)); err != nil {
		t.Fatalf("first Put: %v", err)
	}
	second, err := st.Put(ctx, Object{Key: key}, strings.NewReader("second run"))
	if err != nil {
		t.Fatalf("second Put: %v", err)
	}

	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != key || aws.ToInt64(list.Contents[0].Size) != second.Bytes {
		t.Fatalf("bucket holds %+v, want only %s of %d bytes", list.Contents, key, second.Bytes)
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	body, _ := io.ReadAll(got.Body)
	if string(body) != "second run" {
		t.Fatalf("object body = %q, want the second run's", body)
	}
}

func TestPutErrorsNeverCarryCredentials(t *testing.T) {
	m := moto.Start(t)
	const secretKey = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET"
	cfg := m.AWSConfig(t)
	cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIASTORAGETEST", secretKey, "session-token-SECRET")
	c := storage.NewS3Client(cfg, true)
	// No such bucket: S3 answers NoSuchBucket.
	st, err := New(c, Config{Bucket: "no-such-bucket-storage-test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{10, 9 * mib} {
		_, err = st.Put(context.Background(), Object{Key: "k"}, payload(5, size))
		var se *failure.StorageError
		if !errors.As(err, &se) || se.Op != failure.OpPut {
			t.Fatalf("size %d: err = %v, want *failure.StorageError op %s", size, err, failure.OpPut)
		}
		if !strings.Contains(err.Error(), "NoSuchBucket") {
			t.Errorf("size %d: error %q does not say what S3 answered", size, err)
		}
		for _, s := range []string{secretKey, "session-token-SECRET"} {
			if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v", se), s) {
				t.Errorf("size %d: error leaks credential %q: %v", size, s, err)
			}
		}
	}
}

func TestNewValidatesConfig(t *testing.T) {
	c := &countingS3{}
	tests := []struct {
		name    string
		client  S3API
		cfg     Config
		wantErr string
	}{
		{"no client", nil, Config{Bucket: "b"}, "nil S3 client"},
		{"no bucket", c, Config{}, "bucket is required"},
		{"part too small", c, Config{Bucket: "b", PartSize: MinPartSize - 1}, "below the S3 minimum"},
		{"negative concurrency", c, Config{Bucket: "b", Concurrency: -1}, "negative"},
		{"defaults", c, Config{Bucket: "b"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := New(tc.client, tc.cfg)
			if tc.wantErr == "" {
				if err != nil || st == nil {
					t.Fatalf("New = %v, %v; want a Store", st, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestPutRejectsEmptyKeyAndNilBody(t *testing.T) {
	cs := &countingS3{}
	st, err := New(cs, Config{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		obj  Object
		body io.Reader
	}{{Object{}, bytes.NewReader(nil)}, {Object{Key: "k"}, nil}} {
		_, err := st.Put(context.Background(), tc.obj, tc.body)
		var se *failure.StorageError
		if !errors.As(err, &se) {
			t.Errorf("Put(%+v) err = %v, want *failure.StorageError", tc.obj, err)
		}
	}
}
