// Package upload streams one object (a report) into S3 with bounded
// memory, computing its size and SHA-256 on the way through, and aborts the
// multipart upload on any failure: there is never a partial object.
package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

const (
	// DefaultPartSize is the multipart part size. With DefaultConcurrency
	// an upload holds about PartSize×(Concurrency+2) = 40 MiB of part
	// buffers (see Config), which fits the smallest sensible Lambda memory
	// size with room for the HTTP client and the report download, and still
	// allows 10,000 parts × 8 MiB ≈ 78 GiB per object.
	DefaultPartSize int64 = 8 << 20
	// DefaultConcurrency is the number of parts in flight. The report
	// arrives as one sequential download from AvePoint, which is slower
	// than S3 ingest from inside AWS; three parts in flight keep S3 from
	// being the bottleneck without buying memory for idle buffers.
	DefaultConcurrency = 3
	// MinPartSize is S3's lower limit for every part but the last.
	MinPartSize int64 = 5 << 20

	// abortTimeout bounds AbortMultipartUpload on a context of its own: the
	// caller's context is often the reason the upload failed (cancelled or
	// past its deadline), and aborting on it would leave the upload
	// orphaned.
	abortTimeout = 30 * time.Second
)

// S3API is the part of the S3 client an upload uses.
type S3API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

// Config says where and how reports are stored.
type Config struct {
	Bucket string
	// KMSKeyID selects the encryption: "" means SSE-S3 (AES256), anything
	// else SSE-KMS (aws:kms) with this key id, ARN or alias.
	KMSKeyID string
	// PartSize is the multipart part size in bytes; 0 means
	// DefaultPartSize, otherwise at least MinPartSize. Objects smaller than
	// one part are sent with a single PutObject.
	PartSize int64
	// Concurrency is the number of parts uploaded at once; 0 means
	// DefaultConcurrency.
	//
	// Peak part-buffer memory per upload ≈ PartSize×(Concurrency+2): the
	// upload manager allocates Concurrency+1 part buffers for the stream
	// plus the separately read first part.
	Concurrency int
}

// Store uploads objects to one bucket.
type Store struct {
	bucket   string
	kmsKeyID string
	client   S3API
	tm       *tm.Client
}

// New returns a Store writing to cfg.Bucket through client.
func New(client S3API, cfg Config) (*Store, error) {
	if client == nil {
		return nil, errors.New("storage: nil S3 client")
	}
	if cfg.Bucket == "" {
		return nil, errors.New("storage: bucket is required")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("storage: part size %d is below the S3 minimum of %d bytes", cfg.PartSize, MinPartSize)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Concurrency < 0 {
		return nil, fmt.Errorf("storage: concurrency %d is negative", cfg.Concurrency)
	}
	c := tm.New(&uploadOnly{S3API: client}, func(o *tm.Options) {
		o.PartSizeBytes = cfg.PartSize
		o.Concurrency = cfg.Concurrency
		// The manager buffers the first MultipartUploadThreshold bytes to
		// decide between PutObject and multipart (default 16 MiB). Making
		// it one part keeps that buffer inside the budget above.
		o.MultipartUploadThreshold = cfg.PartSize
		// Abort on a fresh context, see abortTimeout.
		o.FailTimeout = abortTimeout
		// CRC32 is S3's additional checksum per request: S3 rejects a part
		// corrupted in transit. It is nearly free next to the SHA-256 we
		// compute anyway; a SHA-256 additional checksum would hash every
		// byte a second time and, for multipart, still not equal the
		// whole-object SHA-256 we report.
		o.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmCrc32
	})
	return &Store{bucket: cfg.Bucket, kmsKeyID: cfg.KMSKeyID, client: client, tm: c}, nil
}

// Object describes the object to write.
type Object struct {
	Key         string
	ContentType string
	Metadata    map[string]string
}

// Result describes a stored object.
type Result struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Bytes     int64  `json:"bytes"`
	SHA256    string `json:"sha256"` // hex of the whole object
	ETag      string `json:"etag,omitempty"`
	VersionID string `json:"versionId,omitempty"`
}

// Put streams body into the object obj.Key, replacing any object of that
// key. Memory stays bounded whatever the body's length (see Config).
//
// On any failure — body read error, S3 error, ctx done — Put returns a
// *failure.StorageError and leaves neither the object nor an unfinished multipart
// upload behind (a multipart upload is aborted). Put only reads body; it
// does not close it. Body reads are not interrupted by ctx, so a body that
// can block should honour ctx itself (an HTTP response body does).
func (s *Store) Put(ctx context.Context, obj Object, body io.Reader) (Result, error) {
	if obj.Key == "" {
		return Result{}, &failure.StorageError{Op: failure.OpPut, Bucket: s.bucket, Reason: "object key is empty"}
	}
	if body == nil {
		return Result{}, &failure.StorageError{Op: failure.OpPut, Bucket: s.bucket, Key: request.RedactKey(obj.Key), Reason: "body is nil"}
	}
	hr := &hashingReader{r: body, h: sha256.New()}
	in := &tm.UploadObjectInput{
		Bucket:   aws.String(s.bucket),
		Key:      aws.String(obj.Key),
		Body:     hr,
		Metadata: obj.Metadata,
	}
	if obj.ContentType != "" {
		in.ContentType = aws.String(obj.ContentType)
	}
	if s.kmsKeyID == "" {
		in.ServerSideEncryption = tmtypes.ServerSideEncryptionAes256
	} else {
		in.ServerSideEncryption = tmtypes.ServerSideEncryptionAwsKms
		in.SSEKMSKeyID = aws.String(s.kmsKeyID)
	}

	// A client of this call's own records whether an abort failed.
	rec := &uploadOnly{S3API: s.client}
	out, err := s.tm.UploadObject(ctx, in, func(o *tm.Options) { o.S3 = rec })
	if err != nil {
		return Result{}, s.uploadError(ctx, obj.Key, hr, rec, err)
	}
	return Result{
		Bucket:    s.bucket,
		Key:       obj.Key,
		Bytes:     hr.n,
		SHA256:    hex.EncodeToString(hr.h.Sum(nil)),
		ETag:      aws.ToString(out.ETag),
		VersionID: aws.ToString(out.VersionID),
	}, nil
}

// uploadError classifies err by its root cause: the body, the caller's
// context, or S3.
//
// The report's key holds the user's address (user=<email>), and the SDK's
// text quotes the request URL with the key percent-encoded when S3 cannot
// be reached (user%3Dmegan.bowen%40…). The error becomes a log line, a
// Step Functions cause and an HTTP API answer, so it names the key with
// the address replaced by its request.UserRef, and its text is scrubbed
// of the key in every encoding. Err keeps the cause for errors.Is and
// errors.As; nothing prints it.
func (s *Store) uploadError(ctx context.Context, key string, hr *hashingReader, rec *uploadOnly, err error) *failure.StorageError {
	e := &failure.StorageError{Bucket: s.bucket, Key: request.RedactKey(key), Err: err}
	switch {
	case hr.err != nil:
		// The body's own error, not the manager's wrapping, so that callers
		// can still find e.g. an *failure.TransientError with errors.As.
		e.Op, e.Err = failure.OpRead, hr.err
		e.Reason = fmt.Sprintf("reading the body after %d bytes: %v", hr.n, hr.err)
	case ctx.Err() != nil:
		e.Op, e.Err = failure.OpPut, ctx.Err()
		e.Reason = fmt.Sprintf("upload stopped after %d bytes: %v", hr.n, context.Cause(ctx))
	default:
		e.Op = failure.OpPut
		e.Reason = err.Error()
	}
	if rec.abortErr != nil {
		// Worth shouting about: the upload's parts stay billed until a
		// bucket lifecycle rule removes them.
		e.Reason += fmt.Sprintf("; aborting multipart upload %s failed too: %v", rec.abortedID, rec.abortErr)
	}
	e.Reason = request.ScrubKey(e.Reason, key)
	return e
}

// hashingReader counts and hashes the body as the upload manager reads it.
// The manager reads the body sequentially from one goroutine, so no
// locking is needed, and Put reads the fields only after the upload has
// returned.
type hashingReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	err error // first non-EOF error of r
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.h.Write(p[:n])
		r.n += int64(n)
	}
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// uploadOnly adapts S3API to the transfer manager's client interface, which
// also lists the download calls. Uploads never make them. It also records
// a failed abort, which the manager only reports as text.
type uploadOnly struct {
	S3API
	abortedID string
	abortErr  error
}

func (u *uploadOnly) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	out, err := u.S3API.AbortMultipartUpload(ctx, in, opts...)
	if err != nil {
		// Called once per upload, after all parts have finished.
		u.abortedID, u.abortErr = aws.ToString(in.UploadId), err
	}
	return out, err
}

var errNotForUpload = errors.New("storage: operation not used by uploads")

func (*uploadOnly) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return nil, errNotForUpload
}

func (*uploadOnly) HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return nil, errNotForUpload
}

func (*uploadOnly) ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return nil, errNotForUpload
}
