package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

// maxJSONObject bounds what GetJSON reads: a result file of 5000 users
// with their inputs and outputs is a few MiB.
const maxJSONObject = 64 << 20

// objectAPI is the part of the S3 client Objects uses.
type objectAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Objects reads and writes small JSON objects in one bucket (a run's plan,
// work list and manifest, the high-water marks). Reports go through
// storage/upload.
type Objects struct {
	Client   objectAPI
	Bucket   string
	KMSKeyID string // SSE-KMS key for what it writes; "" = the bucket default
}

// GetJSON decodes the object at key into into. found is false, with no
// error, when the object does not exist. It reads from bucket, or from
// the store's bucket when bucket is "".
func (s *Objects) GetJSON(ctx context.Context, bucket, key string, into any) (found bool, err error) {
	if bucket == "" {
		bucket = s.Bucket
	}
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, storageError(failure.OpGet, bucket, key, err)
	}
	defer out.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(out.Body, maxJSONObject+1))
	if err != nil {
		return false, storageError(failure.OpGet, bucket, key, err)
	}
	if len(raw) > maxJSONObject {
		return false, &failure.StorageError{Op: failure.OpGet, Bucket: bucket, Key: request.RedactKey(key), Reason: fmt.Sprintf("object is larger than %d bytes", maxJSONObject)}
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return false, &failure.StorageError{Op: failure.OpGet, Bucket: bucket, Key: request.RedactKey(key), Reason: request.ScrubKey("not the expected JSON: "+err.Error(), key)}
	}
	return true, nil
}

// PutJSON writes v as JSON to key in the store's bucket.
func (s *Objects) PutJSON(ctx context.Context, key string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("storage: encode %s: %w", request.RedactKey(key), err)
	}
	in := &s3.PutObjectInput{
		Bucket:            aws.String(s.Bucket),
		Key:               aws.String(key),
		Body:              bytes.NewReader(raw),
		ContentType:       aws.String("application/json"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	if s.KMSKeyID != "" {
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(s.KMSKeyID)
	}
	if _, err := s.Client.PutObject(ctx, in); err != nil {
		return storageError(failure.OpPut, s.Bucket, key, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")
}

// storageError keeps the SDK's text (operation, status, request id; never
// credentials), which is what an operator needs, but not the key's
// address: a mark's key holds it (user=<email>), and the SDK quotes the
// request URL, key percent-encoded, when S3 cannot be reached. The error
// becomes a log line and a Step Functions cause, so both the key and the
// text name the user by request.UserRef only. Err keeps the SDK's error
// for errors.Is and errors.As; nothing prints it.
func storageError(op, bucket, key string, err error) error {
	return &failure.StorageError{Op: op, Bucket: bucket, Key: request.RedactKey(key), Reason: request.ScrubKey(err.Error(), key), Err: err}
}

// NewS3Client builds an S3 client from cfg. forcePathStyle selects
// path-style addressing (S3_FORCE_PATH_STYLE=true), which local S3
// stand-ins need because bucket.127.0.0.1 does not resolve.
func NewS3Client(cfg aws.Config, forcePathStyle bool) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = forcePathStyle })
}
