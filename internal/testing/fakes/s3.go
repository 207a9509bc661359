package fakes

import (
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

	"github.com/insights-export/insights-export/internal/testing/badinput"
)

// S3At is an S3 client for endpoint that tries each call once, with
// static test credentials.
func S3At(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIALEAKTEST", "leak-test-secret", ""),
		RetryMaxAttempts: 1,
	})
}

// EchoS3 answers every request with 500 and an S3 error whose message
// quotes the request path as sent, escaped and unescaped: the worst an S3
// stand-in (or a proxy) can do to the SDK's error text.
func EchoS3(t *testing.T) string {
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

// UnreachableS3 is an endpoint nothing listens on: the SDK's error is a
// *url.Error quoting the whole request URL.
func UnreachableS3(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// SpelledError is an SDK-like error whose text holds key in every
// spelling a leak check knows.
func SpelledError(key *string) error {
	return fmt.Errorf("S3 said no to %s", strings.Join(badinput.Spellings(aws.ToString(key)), " and "))
}
