package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

// A batch run of 100,000 users reads and writes objects too large to hold
// as one []byte comfortably (the work list, the manifest, the Map's result
// files): Open reads one as a stream, Create writes one in parts. Neither
// needs the transfer manager (storage/upload), which the batch functions
// do not link.

// Object is an object being read: Body streams it; close it.
type Object struct {
	Body      io.ReadCloser
	Size      int64 // Content-Length; -1 when S3 did not say
	ETag      string
	VersionID string
}

// Open starts reading bucket/key (the store's bucket when bucket is "").
// Its errors are StorageErrors of op get; IsNotFound and Unreadable
// tell an object the caller cannot read from an outage.
func (s *Objects) Open(ctx context.Context, bucket, key string) (*Object, error) {
	if bucket == "" {
		bucket = s.Bucket
	}
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, storageError(failure.OpGet, bucket, key, err)
	}
	size := int64(-1)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	return &Object{Body: &readErrors{r: out.Body, bucket: bucket, key: key}, Size: size, ETag: aws.ToString(out.ETag), VersionID: aws.ToString(out.VersionId)}, nil
}

// readErrors turns a failed read of a body (S3 went away mid-object) into
// the same StorageError a failed GET is.
type readErrors struct {
	r           io.ReadCloser
	bucket, key string
}

func (e *readErrors) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		err = storageError(failure.OpGet, e.bucket, e.key, err)
	}
	return n, err
}

func (e *readErrors) Close() error { return e.r.Close() }

// IsNotFound reports an error of a missing object (NoSuchKey, 404).
func IsNotFound(err error) bool { return isNotFound(err) }

// Unreadable reports an error that says the caller cannot read the
// object, as opposed to S3 failing: no such key or bucket, access denied
// (also S3's answer for a missing key without s3:ListBucket on its
// bucket), the KMS key refusing to decrypt it, or an archived object.
// Retrying does not help; the caller explains what to fix.
func Unreadable(err error) bool {
	if isNotFound(err) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "AccessDenied", "AllAccessDisabled", "NoSuchBucket", "InvalidObjectState", "KMS.AccessDeniedException", "KMS.DisabledException", "KMS.NotFoundException":
			return true
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden
}

// multipartAPI is the part of the S3 client Create needs beyond PutObject
// for an object of more than one part. *s3.Client has it; test fakes of
// small objects need not.
type multipartAPI interface {
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

// PartSize is Create's part size: S3's minimum for every part but the
// last, so a Writer holds at most 5 MiB (10,000 parts: 48 GiB an object).
const PartSize = 5 << 20

// abortTimeout bounds the AbortMultipartUpload of a failed write on a
// context of its own (the caller's is often why the write failed).
const abortTimeout = 30 * time.Second

// Writer writes one object in the store's bucket in parts (see Create).
type Writer struct {
	s           *Objects
	ctx         context.Context
	key         string
	contentType string
	buf         []byte // the part being filled: at most PartSize, grown to it by doubling
	uploadID    string
	parts       []types.CompletedPart
	n           int64
	err         error // sticky: the first failure; the upload is aborted by then
	closed      bool
}

// Create starts writing key in the store's bucket. Written bytes are
// buffered up to PartSize; an object that stays within one part is one
// PutObject at Close, a larger one a multipart upload whose parts go up
// as they fill. Each request carries a CRC32 checksum (an Object Lock
// bucket refuses writes without one) and the store's KMS key. Close
// completes the object; nothing of it is visible before. Abort, or any
// failed Write or Close, leaves no object and no unfinished upload.
func (s *Objects) Create(ctx context.Context, key, contentType string) *Writer {
	return &Writer{s: s, ctx: ctx, key: key, contentType: contentType}
}

// Write buffers p and uploads every part it fills.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("storage: write after close")
	}
	written := 0
	for len(p) > 0 {
		// A full part goes up once more follows, so that an object of
		// exactly one part is still one PutObject.
		if len(w.buf) == PartSize {
			if err := w.flushPart(); err != nil {
				return written, err
			}
		}
		chunk := p[:min(PartSize-len(w.buf), len(p))]
		if need := len(w.buf) + len(chunk); need > cap(w.buf) {
			// Doubling, but never past a part: append's growth would
			// take an 8 MiB array for a 5 MiB part.
			grown := make([]byte, len(w.buf), min(PartSize, max(2*cap(w.buf), need, 64<<10)))
			copy(grown, w.buf)
			w.buf = grown
		}
		w.buf = append(w.buf, chunk...)
		p = p[len(chunk):]
		written += len(chunk)
	}
	return written, nil
}

// Size is how many bytes were written so far.
func (w *Writer) Size() int64 { return w.n + int64(len(w.buf)) }

func (w *Writer) flushPart() error {
	mp, ok := w.s.Client.(multipartAPI)
	if !ok {
		return w.fail(errors.New("storage: the S3 client cannot upload in parts"))
	}
	if w.uploadID == "" {
		in := &s3.CreateMultipartUploadInput{Bucket: aws.String(w.s.Bucket), Key: aws.String(w.key), ContentType: aws.String(w.contentType),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}
		if w.s.KMSKeyID != "" {
			in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
			in.SSEKMSKeyId = aws.String(w.s.KMSKeyID)
		}
		out, err := mp.CreateMultipartUpload(w.ctx, in)
		if err != nil {
			return w.fail(err)
		}
		w.uploadID = aws.ToString(out.UploadId)
	}
	num := int32(len(w.parts) + 1)
	body := w.buf
	out, err := mp.UploadPart(w.ctx, &s3.UploadPartInput{Bucket: aws.String(w.s.Bucket), Key: aws.String(w.key), UploadId: aws.String(w.uploadID),
		PartNumber: aws.Int32(num), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		return w.fail(err)
	}
	w.parts = append(w.parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	w.n += int64(len(body))
	w.buf = w.buf[:0]
	return nil
}

// Close writes what is buffered and completes the object.
func (w *Writer) Close() error {
	if w.err != nil || w.closed {
		return w.err
	}
	w.closed = true
	if w.uploadID == "" {
		// One part or less: a plain PutObject, as PutJSON does.
		in := &s3.PutObjectInput{Bucket: aws.String(w.s.Bucket), Key: aws.String(w.key), Body: bytes.NewReader(w.buf),
			ContentLength: aws.Int64(int64(len(w.buf))), ContentType: aws.String(w.contentType), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}
		if w.s.KMSKeyID != "" {
			in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
			in.SSEKMSKeyId = aws.String(w.s.KMSKeyID)
		}
		if _, err := w.s.Client.PutObject(w.ctx, in); err != nil {
			return w.fail(err)
		}
		w.n += int64(len(w.buf))
		w.buf = nil
		return nil
	}
	if len(w.buf) > 0 {
		if err := w.flushPart(); err != nil {
			return err
		}
	}
	mp := w.s.Client.(multipartAPI)
	if _, err := mp.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(w.s.Bucket), Key: aws.String(w.key),
		UploadId: aws.String(w.uploadID), MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts}}); err != nil {
		return w.fail(err)
	}
	w.buf = nil
	return nil
}

// Abort drops the object: nothing is written, an upload under way is
// aborted. Abort after a successful Close does nothing.
func (w *Writer) Abort() {
	if w.err == nil && !w.closed {
		_ = w.fail(errors.New("storage: write aborted"))
	}
}

// fail records the first failure as a StorageError of op put and aborts
// the multipart upload, if one was started.
func (w *Writer) fail(err error) error {
	if w.err != nil {
		return w.err
	}
	w.closed = true
	w.buf = nil
	se := storageError(failure.OpPut, w.s.Bucket, w.key, err).(*failure.StorageError)
	if w.uploadID != "" {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), abortTimeout)
		defer cancel()
		mp := w.s.Client.(multipartAPI)
		if _, aerr := mp.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(w.s.Bucket), Key: aws.String(w.key), UploadId: aws.String(w.uploadID)}); aerr != nil {
			// Worth saying: the parts stay billed until a lifecycle rule
			// removes them.
			se.Reason += request.ScrubKey(fmt.Sprintf("; aborting multipart upload %s failed too: %v", w.uploadID, aerr), w.key)
		}
	}
	w.err = se
	return se
}

// WithConnections returns cfg with an HTTP client that keeps up to n idle
// connections to one host. The SDK's default keeps 10, so a function that
// has more requests to S3 in flight than that (the batch functions read
// and write thousands of marks) would open and close a connection, with
// its TLS handshake, for most of them.
func WithConnections(cfg aws.Config, n int) aws.Config {
	more := func(t *http.Transport) {
		t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, n)
		t.MaxIdleConns = max(t.MaxIdleConns, n)
	}
	switch c := cfg.HTTPClient.(type) {
	case nil:
		cfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(more)
	case *awshttp.BuildableClient:
		cfg.HTTPClient = c.WithTransportOptions(more)
	}
	return cfg
}
