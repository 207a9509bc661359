package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
)

// filesAPI is the part of the S3 client Files uses.
type filesAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Files moves whole objects between S3 and local files: a stored report
// down to a spool, the dataset's Parquet files up. Errors are
// StorageErrors that never spell a user's address (request.RedactKey,
// request.ScrubKey), like every error of this package.
type Files struct {
	Client   filesAPI
	Bucket   string
	KMSKeyID string // SSE-KMS key for what it writes; "" = the bucket default
}

func (f *Files) name(key string) string { return request.RedactKey(key) }

func (f *Files) fail(op, key string, err error) error {
	return storageError(op, f.Bucket, key, err)
}

// Download writes the object at key to w, at most limit bytes, and
// returns its size and SHA-256. An object larger than limit is an error,
// not a truncated copy.
func (f *Files) Download(ctx context.Context, key string, w io.Writer, limit int64) (n int64, sum string, err error) {
	out, err := f.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.Bucket), Key: aws.String(key)})
	if err != nil {
		return 0, "", f.fail(failure.OpGet, key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err = io.Copy(io.MultiWriter(w, h), io.LimitReader(out.Body, limit+1))
	if err != nil {
		return n, "", f.fail(failure.OpGet, key, err)
	}
	if n > limit {
		return n, "", &failure.StorageError{Op: failure.OpGet, Bucket: f.Bucket, Key: f.name(key), Reason: fmt.Sprintf("object is larger than %d bytes", limit)}
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// PutFile uploads the local file at path as key.
func (f *Files) PutFile(ctx context.Context, key, path, contentType string) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	in := &s3.PutObjectInput{
		Bucket:            aws.String(f.Bucket),
		Key:               aws.String(key),
		Body:              fh,
		ContentLength:     aws.Int64(st.Size()),
		ContentType:       aws.String(contentType),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	if f.KMSKeyID != "" {
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(f.KMSKeyID)
	}
	if _, err := f.Client.PutObject(ctx, in); err != nil {
		return f.fail(failure.OpPut, key, err)
	}
	return nil
}

// Delete removes key; a key that does not exist is not an error (S3's
// own answer to that is success).
func (f *Files) Delete(ctx context.Context, key string) error {
	if _, err := f.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(f.Bucket), Key: aws.String(key)}); err != nil {
		return f.fail(failure.OpPut, key, err)
	}
	return nil
}

// listAPI is the listing part of the S3 client (backfills).
type listAPI interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// Listing is one page of keys under a prefix.
type Listing struct {
	Keys []string
	// More is true when keys after the last one remain.
	More bool
}

// List returns up to max keys under prefix that sort after startAfter.
func (f *Files) List(ctx context.Context, prefix, startAfter string, max int32) (Listing, error) {
	l, ok := f.Client.(listAPI)
	if !ok {
		return Listing{}, fmt.Errorf("storage: the S3 client cannot list")
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(f.Bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(max)}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	out, err := l.ListObjectsV2(ctx, in)
	if err != nil {
		return Listing{}, f.fail(failure.OpGet, prefix, err)
	}
	var res Listing
	for _, o := range out.Contents {
		res.Keys = append(res.Keys, aws.ToString(o.Key))
	}
	res.More = aws.ToBool(out.IsTruncated)
	return res, nil
}

// ObjectInfo is what a HEAD request tells of an object.
type ObjectInfo struct {
	Size         int64
	LastModified time.Time
	Metadata     map[string]string
}

// Head reads an object's size, time and user metadata.
func (f *Files) Head(ctx context.Context, key string) (ObjectInfo, error) {
	l, ok := f.Client.(listAPI)
	if !ok {
		return ObjectInfo{}, fmt.Errorf("storage: the S3 client cannot head objects")
	}
	out, err := l.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(f.Bucket), Key: aws.String(key)})
	if err != nil {
		return ObjectInfo{}, f.fail(failure.OpGet, key, err)
	}
	return ObjectInfo{Size: aws.ToInt64(out.ContentLength), LastModified: aws.ToTime(out.LastModified), Metadata: out.Metadata}, nil
}
