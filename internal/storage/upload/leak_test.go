package upload

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

// echoS3 answers every request with 500 and an S3 error whose message
// quotes the request path as sent, escaped and unescaped: the worst an S3
// stand-in (or a proxy) can do to the SDK's error text.
func echoS3(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>failed %s (%s) %s</Message><RequestId>echo</RequestId></Error>`,
			html.EscapeString(r.URL.EscapedPath()), html.EscapeString(r.URL.Path), html.EscapeString(r.RequestURI))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// unreachableS3 is an endpoint nothing listens on: the SDK's error is a
// *url.Error quoting the whole request URL.
func unreachableS3(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func s3At(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIALEAKTEST", "leak-test-secret", ""),
		RetryMaxAttempts: 1,
	})
}

// spelledS3 fails every call with an error whose text holds the key in
// every spelling a leak check knows.
type spelledS3 struct{ S3API }

func (spelledS3) fail(key *string) error {
	return fmt.Errorf("S3 said no to %s", strings.Join(badinput.Spellings(aws.ToString(key)), " and "))
}

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
		{"S3 answers 500 echoing the path", func(t *testing.T) S3API { return s3At(echoS3(t)) }},
		{"S3 unreachable", func(t *testing.T) S3API { return s3At(unreachableS3(t)) }},
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
