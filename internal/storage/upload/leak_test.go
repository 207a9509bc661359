package upload

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/badinput"
	"github.com/insights-export/insights-export/internal/testing/fakes"
)

// spelledS3 fails every call with an error whose text holds the key in
// every spelling a leak check knows.
type spelledS3 struct{ S3API }

func (spelledS3) fail(key *string) error { return fakes.SpelledError(key) }

func (f spelledS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return nil, f.fail(in.Key)
}

func (f spelledS3) CreateMultipartUpload(_ context.Context, in *s3.CreateMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return nil, f.fail(in.Key)
}

// A failed upload's StorageError (its text is the log line and the Step
// Functions cause) holds no spelling of the user's address: not in the
// key it names, not in the SDK's text, however S3 failed.
func TestPutErrorsNeverSpellTheAddress(t *testing.T) {
	emails := []string{"megan.bowen@contoso.com", "x_y.com#ext#@t.onmicrosoft.com"}
	clients := []struct {
		name   string
		client func(t *testing.T) S3API
	}{
		{"S3 answers 500 echoing the path", func(t *testing.T) S3API { return fakes.S3At(fakes.EchoS3(t)) }},
		{"S3 unreachable", func(t *testing.T) S3API { return fakes.S3At(fakes.UnreachableS3(t)) }},
		{"SDK text with every spelling of the key", func(*testing.T) S3API { return spelledS3{} }},
	}
	sizes := []struct {
		name string
		n    int64
	}{{"single PutObject", 1 << 10}, {"multipart", MinPartSize + 1}}
	for _, c := range clients {
		for _, size := range sizes {
			for _, email := range emails {
				t.Run(c.name+"/"+size.name+"/"+email, func(t *testing.T) {
					st, err := New(c.client(t), Config{Bucket: "reports-bucket", PartSize: MinPartSize, Concurrency: 1})
					if err != nil {
						t.Fatal(err)
					}
					key := request.ObjectKey("reports", request.Query{Email: email, FinishTime: "2026-11-01T00:00:00", EventTypes: []string{"FileAccessed"}})
					_, err = st.Put(t.Context(), Object{Key: key, ContentType: "application/zip"}, payload(9, size.n))
					var se *failure.StorageError
					if !errors.As(err, &se) || se.Op != failure.OpPut {
						t.Fatalf("err = %v (%T), want a StorageError of op put", err, err)
					}
					local, _, _ := strings.Cut(email, "@")
					if leak := badinput.Leaks(err.Error(), email, local); leak != "" {
						t.Fatalf("the error spells the address as %q:\n%s", leak, err)
					}
					if se.Key != request.RedactKey(key) || !strings.Contains(err.Error(), "user="+request.UserRef(email)) {
						t.Fatalf("the error should name the key by reference: key %q\n%s", se.Key, err)
					}
					if !strings.Contains(se.Reason, "InternalError") && !strings.Contains(se.Reason, "connect") && !strings.Contains(se.Reason, "S3 said no") {
						t.Fatalf("the SDK's text is gone too: %s", err)
					}
				})
			}
		}
	}
}
