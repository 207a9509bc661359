package storage

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

// spelledS3 fails with every spelling of the key in its text.
type spelledS3 struct{}

func (spelledS3) fail(key *string) error { return fakes.SpelledError(key) }

func (f spelledS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return nil, f.fail(in.Key)
}

func (f spelledS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return nil, f.fail(in.Key)
}

// A high-water mark's key holds the address (…/watermarks/user=<email>/…):
// a failed read or write of it names the user by reference only, and a
// failed read says "reading", not "storing".
func TestObjectErrorsNeverSpellTheAddress(t *testing.T) {
	clients := []struct {
		name   string
		client func(t *testing.T) objectAPI
	}{
		{"S3 answers 500 echoing the path", func(t *testing.T) objectAPI { return fakes.S3At(fakes.EchoS3(t)) }},
		{"S3 unreachable", func(t *testing.T) objectAPI { return fakes.S3At(fakes.UnreachableS3(t)) }},
		{"SDK text with every spelling of the key", func(*testing.T) objectAPI { return spelledS3{} }},
	}
	for _, c := range clients {
		for _, email := range []string{"megan.bowen@contoso.com", "x_y.com#ext#@t.onmicrosoft.com"} {
			key := "state/watermarks/user=" + request.UserKeyPart(email) + "/events=all.json"
			st := &Objects{Client: c.client(t), Bucket: "marks"}
			check := func(t *testing.T, err error, op, verb string) {
				t.Helper()
				var se *failure.StorageError
				if !errors.As(err, &se) || se.Op != op || !strings.HasPrefix(err.Error(), verb+" s3://marks/") {
					t.Fatalf("err = %v, want a StorageError of op %s saying %q", err, op, verb)
				}
				local, _, _ := strings.Cut(email, "@")
				if leak := badinput.Leaks(err.Error(), email, local); leak != "" {
					t.Fatalf("the error spells the address as %q:\n%s", leak, err)
				}
				if se.Key != request.RedactKey(key) || !strings.Contains(err.Error(), "user="+request.UserRef(email)) {
					t.Fatalf("the error should name the key by reference: key %q\n%s", se.Key, err)
				}
			}
			t.Run(c.name+"/get/"+email, func(t *testing.T) {
				var m map[string]any
				_, err := st.GetJSON(t.Context(), "", key, &m)
				check(t, err, failure.OpGet, "reading")
			})
			t.Run(c.name+"/put/"+email, func(t *testing.T) {
				check(t, st.PutJSON(t.Context(), key, map[string]string{"finishTime": "2026-11-01T00:00:00"}), failure.OpPut, "storing")
			})
		}
	}
}
