package upload

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// cycleReader serves n bytes by cycling over a fixed random block, so the
// benchmark measures the upload rather than a data generator.
type cycleReader struct {
	block []byte
	off   int
	left  int64
}

func (r *cycleReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := copy(p, r.block[r.off:])
	r.off = (r.off + n) % len(r.block)
	r.left -= int64(n)
	return n, nil
}

// BenchmarkStorePut streams a 64 MiB report through the real SDK client
// into an in-process fake S3 (gofakes3, memory backend) on 127.0.0.1.
// MB/s and allocs include the SDK's request signing and CRC32 and the fake
// server's own work (it stores every byte in memory), so they bound what
// Store adds rather than isolate it. No timing is asserted.
func BenchmarkStorePut(b *testing.B) {
	const size = 64 * mib
	srv := httptest.NewServer(gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	b.Cleanup(srv.Close)
	client := storage.NewS3Client(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		BaseEndpoint: aws.String(srv.URL),
	}, true)
	const bucket = "bench"
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		b.Fatal(err)
	}
	block := make([]byte, 1<<20)
	rng := rand.NewChaCha8([32]byte{42})
	_, _ = rng.Read(block)

	for _, bc := range []struct {
		name   string
		client S3API
		cfg    Config
	}{
		{"gofakes3/default-8MiBx3", client, Config{Bucket: bucket}},
		{"gofakes3/8MiBx1", client, Config{Bucket: bucket, Concurrency: 1}},
		// Without HTTP or SDK: what Store and the upload manager cost alone
		// (SHA-256, buffering).
		{"discard/default-8MiBx3", &discardS3{}, Config{Bucket: bucket}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st, err := New(bc.client, bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				// Same key every time: the fake replaces the object, so
				// its memory does not grow with b.N.
				res, err := st.Put(context.Background(), Object{Key: "report.xlsx"}, &cycleReader{block: block, left: size})
				if err != nil {
					b.Fatal(err)
				}
				if res.Bytes != size {
					b.Fatalf("stored %d bytes, want %d", res.Bytes, size)
				}
			}
		})
	}
}
