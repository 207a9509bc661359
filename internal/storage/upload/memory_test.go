package upload

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// discardS3 accepts every request and throws the bytes away, so that the
// memory a Put allocates is the Store's and the upload manager's alone.
type discardS3 struct {
	received atomic.Int64
	uploads  atomic.Int64
}

func (d *discardS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	n, err := io.Copy(io.Discard, in.Body)
	d.received.Add(n)
	return &s3.PutObjectOutput{ETag: aws.String(`"single"`)}, err
}

func (d *discardS3) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String(strconv.FormatInt(d.uploads.Add(1), 10))}, nil
}

func (d *discardS3) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	n, err := io.Copy(io.Discard, in.Body)
	d.received.Add(n)
	return &s3.UploadPartOutput{ETag: aws.String(`"part"`)}, err
}

func (d *discardS3) CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return &s3.CompleteMultipartUploadOutput{ETag: aws.String(`"multi"`)}, nil
}

func (d *discardS3) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	return &s3.AbortMultipartUploadOutput{}, nil
}

// TestPutMemoryIsBoundedByParts checks that what Put allocates does not
// grow with the object, and that it stays within the documented part
// budget. Total allocation is measured: it is deterministic, unlike the
// peak, and bounds it from above.
func TestPutMemoryIsBoundedByParts(t *testing.T) {
	const small, large = 32 * mib, 256 * mib
	for _, cfg := range []Config{
		{Bucket: "b"}, // defaults: 8 MiB × 3
		{Bucket: "b", PartSize: 5 * mib, Concurrency: 1},
	} {
		part, conc := DefaultPartSize, DefaultConcurrency
		if cfg.PartSize != 0 {
			part, conc = cfg.PartSize, cfg.Concurrency
		}
		t.Run(fmt.Sprintf("%dMiBx%d", part/mib, conc), func(t *testing.T) {
			allocSmall := allocatedByPut(t, cfg, small)
			allocLarge := allocatedByPut(t, cfg, large)
			t.Logf("allocated %.1f MiB for %d MiB, %.1f MiB for %d MiB",
				float64(allocSmall)/mib, small/mib, float64(allocLarge)/mib, large/mib)

			if growth := int64(allocLarge) - int64(allocSmall); growth > part/2 {
				t.Errorf("allocation grew by %d KiB from a %d MiB to a %d MiB object; want it independent of size",
					growth>>10, small/mib, large/mib)
			}
			// Concurrency+1 pooled part buffers, the first part, which
			// io.ReadAll grows in steps (about two parts allocated in
			// total), and one part of slack. Measured: Concurrency+3 parts
			// plus a few KiB.
			budget := uint64(part) * uint64(conc+4)
			if raceEnabled {
				budget += 2 * uint64(part)
			}
			if allocLarge > budget {
				t.Errorf("Put allocated %d MiB, budget %d MiB", allocLarge/mib, budget/mib)
			}
		})
	}
}

func allocatedByPut(t *testing.T, cfg Config, size int64) uint64 {
	t.Helper()
	d := &discardS3{}
	st, err := New(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := st.Put(context.Background(), Object{Key: "k"}, payload(7, size))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != size || d.received.Load() != size {
		t.Fatalf("Bytes = %d, S3 received %d, want %d", res.Bytes, d.received.Load(), size)
	}
	return after.TotalAlloc - before.TotalAlloc
}
