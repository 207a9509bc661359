package s3sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/insights-export/insights-export/internal/testing/crc32x"
)

func payload(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{9}).Read(b)
	return b
}

func newClient(ts *httptest.Server) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("k", "s", ""),
		BaseEndpoint: aws.String(ts.URL),
		UsePathStyle: true,
		HTTPClient:   ts.Client(),
	})
}

// TestSDKUploads drives the sink with the real SDK, over TLS (aws-chunked
// bodies with trailing CRC-32, as against S3) and over plain HTTP (CRC-32
// in a header, signed payload).
func TestSDKUploads(t *testing.T) {
	for _, tc := range []struct {
		name        string
		tls         bool
		wantChunked bool
	}{
		{"https", true, true},
		{"http", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := New(nil)
			var ts *httptest.Server
			if tc.tls {
				ts = httptest.NewTLSServer(sink)
			} else {
				ts = httptest.NewServer(sink)
			}
			defer ts.Close()
			c := newClient(ts)
			ctx := context.Background()
			data := payload(12<<20 + 3)

			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("single"),
				Body: bytes.NewReader(data[:1000]), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}); err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			if o, ok := sink.Lookup("b", "single"); !ok || o.Size != 1000 || o.CRC32 != crc32.ChecksumIEEE(data[:1000]) || o.Multipart {
				t.Fatalf("single object %+v, %v", o, ok)
			}

			up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("multi/part"),
				ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
			if err != nil {
				t.Fatal(err)
			}
			var parts []types.CompletedPart
			for i, off := int32(1), 0; off < len(data); i, off = i+1, off+MinPartSize {
				chunk := data[off:min(off+MinPartSize, len(data))]
				out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("b"), Key: aws.String("multi/part"),
					UploadId: up.UploadId, PartNumber: aws.Int32(i), Body: bytes.NewReader(chunk), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
				if err != nil {
					t.Fatalf("UploadPart %d: %v", i, err)
				}
				parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(i), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
			}
			if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("multi/part"),
				UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
				t.Fatalf("Complete: %v", err)
			}
			o, ok := sink.Lookup("b", "multi/part")
			if !ok || o.Size != int64(len(data)) || o.CRC32 != crc32.ChecksumIEEE(data) || o.Parts != 3 || o.PartSize != MinPartSize {
				t.Fatalf("multipart object %+v, %v; want %d bytes crc %08x", o, ok, len(data), crc32.ChecksumIEEE(data))
			}
			st := sink.Stats()
			if st.CRCVerified != 4 || st.CRCMissing != 0 || st.OpenUploads != 0 || st.Rejected != 0 || st.BodyBytes != int64(len(data)+1000) {
				t.Errorf("stats %+v", st)
			}
			if (st.AWSChunked == 4) != tc.wantChunked {
				t.Errorf("aws-chunked bodies: %d", st.AWSChunked)
			}
		})
	}
}

func TestRejections(t *testing.T) {
	sink := New(nil)
	ts := httptest.NewServer(sink)
	defer ts.Close()
	c := newClient(ts)
	ctx := context.Background()
	data := payload(6 << 20)

	start := func(t *testing.T, key string) *string {
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		return up.UploadId
	}
	put := func(t *testing.T, key string, id *string, n int32, body []byte) *string {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("b"), Key: aws.String(key), UploadId: id, PartNumber: aws.Int32(n), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return out.ETag
	}
	complete := func(key string, id *string, parts ...types.CompletedPart) error {
		_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String(key),
			UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		return err
	}
	part := func(n int32, etag *string) types.CompletedPart {
		return types.CompletedPart{PartNumber: aws.Int32(n), ETag: etag}
	}

	tests := []struct {
		name string
		run  func(t *testing.T) error
		code string
	}{
		{"small part before the last", func(t *testing.T) error {
			id := start(t, "small")
			e1 := put(t, "small", id, 1, data[:1<<20])
			e2 := put(t, "small", id, 2, data[:1<<20])
			return complete("small", id, part(1, e1), part(2, e2))
		}, "EntityTooSmall"},
		{"wrong etag", func(t *testing.T) error {
			id := start(t, "etag")
			put(t, "etag", id, 1, data)
			return complete("etag", id, part(1, aws.String(`"nope"`)))
		}, "InvalidPart"},
		{"descending order", func(t *testing.T) error {
			id := start(t, "order")
			e1 := put(t, "order", id, 1, data)
			e2 := put(t, "order", id, 2, data)
			return complete("order", id, part(2, e2), part(1, e1))
		}, "InvalidPartOrder"},
		{"missing part", func(t *testing.T) error {
			id := start(t, "missing")
			e1 := put(t, "missing", id, 1, data)
			return complete("missing", id, part(1, e1), part(2, e1))
		}, "InvalidPart"},
		{"aborted upload", func(t *testing.T) error {
			id := start(t, "aborted")
			e1 := put(t, "aborted", id, 1, data)
			if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("aborted"), UploadId: id}); err != nil {
				t.Fatal(err)
			}
			return complete("aborted", id, part(1, e1))
		}, "NoSuchUpload"},
		{"crc mismatch", func(t *testing.T) error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("crc"), Body: bytes.NewReader(data[:10]),
				ChecksumCRC32: aws.String(crcHeader(12345))})
			return err
		}, "BadDigest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(t)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Fatalf("error %v, want code %s", err, tc.code)
			}
		})
	}
	if st := sink.Stats(); st.Rejected != int64(len(tests)) || st.Aborted != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestAWSChunkedFraming feeds hand-made aws-chunked bodies, signed and
// unsigned, well-formed and not.
func TestAWSChunkedFraming(t *testing.T) {
	data := []byte("hello, chunked world")
	crc := crcHeader(crc32.ChecksumIEEE(data))
	sig := ";chunk-signature=" + strings.Repeat("a", 64)
	tests := []struct {
		name, body, decodedLen string
		wantStatus             int
	}{
		{"unsigned with trailer", fmt.Sprintf("5\r\nhello\r\nf\r\n, chunked world\r\n0\r\nx-amz-checksum-crc32:%s\r\n\r\n", crc), "20", 200},
		{"signed, no trailer", fmt.Sprintf("14%s\r\n%s\r\n0%s\r\n\r\n", sig, data, sig), "20", 200},
		{"trailer crc wrong", "14\r\nhello, chunked world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", "20", 400},
		{"decoded length wrong", "14\r\nhello, chunked world\r\n0\r\n\r\n", "21", 400},
		{"chunk shorter than header", "15\r\nhello, chunked world\r\n0\r\n\r\n", "20", 400},
		{"no final chunk", "14\r\nhello, chunked world\r\n", "20", 400},
		{"bad size", "zz\r\nhello\r\n0\r\n\r\n", "20", 400},
	}
	sink := New(nil)
	ts := httptest.NewServer(sink)
	defer ts.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPut, ts.URL+"/b/"+strings.ReplaceAll(tc.name, " ", "-"), strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Encoding", "aws-chunked")
			req.Header.Set("X-Amz-Decoded-Content-Length", tc.decodedLen)
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, msg, tc.wantStatus)
			}
			if tc.wantStatus == 200 {
				o, ok := sink.Lookup("b", strings.ReplaceAll(tc.name, " ", "-"))
				if !ok || o.Size != int64(len(data)) || o.CRC32 != crc32.ChecksumIEEE(data) {
					t.Fatalf("object %+v, %v", o, ok)
				}
			}
		})
	}
}

func TestCRC32Combine(t *testing.T) {
	data := payload(3000)
	for _, split := range []int{0, 1, 1500, 2999, 3000} {
		a, b := data[:split], data[split:]
		if got, want := crc32x.Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b))), crc32.ChecksumIEEE(data); got != want {
			t.Errorf("split %d: %08x, want %08x", split, got, want)
		}
	}
}
