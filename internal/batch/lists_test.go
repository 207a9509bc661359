package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/testing/badinput"
	"github.com/insights-export/insights-export/internal/userlist"
)

func putObject(t *testing.T, client *s3.Client, bucket, key, body string) {
	t.Helper()
	if _, err := client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func prepareWith(t *testing.T, st *storage.Objects, now string, in PrepareInput) (Prepared, error) {
	t.Helper()
	p := &Preparer{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Prefix: "reports", MaxConcurrency: 5, Log: quiet, Now: fixed(now)}
	in.Execution = Execution{ID: "arn:aws:states:us-east-1:123456789012:execution:batch:run-1", Name: "run-1", StartTime: now}
	return p.Handle(t.Context(), in)
}

// A usersFrom CSV in the report bucket: the work list follows the list's
// order, plan.json says where the users came from without copying them,
// and the manifest accounts for every user of the list in that order.
func TestPrepareReadsUsersFrom(t *testing.T) {
	st, client := newStore(t)
	putObject(t, client, st.Bucket, "lists/sales.csv", "\ufeffName;UPN;Dept\r\nAlex;Alex.Wilber@contoso.com;Sales\r\n\"Bowen; Megan\";megan.bowen@contoso.com;Sales\r\n;;\r\nLynne;lynne.robbins@contoso.com;\r\n")
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"usersFrom":"lists/sales.csv","startTime":"2026-11-01T00:00:00","finishTime":"2026-11-02T00:00:00"}`)
	if err != nil {
		t.Fatal(err)
	}
	users := []string{"alex.wilber@contoso.com", "megan.bowen@contoso.com", "lynne.robbins@contoso.com"}
	if out.Users != 3 || out.UpToDate != 0 {
		t.Fatalf("prepared %+v", out)
	}
	var emails []string
	for _, it := range getJSON[[]request.Item](t, st, out.ItemsKey) {
		emails = append(emails, it.Email)
		if it.StartTime != "2026-11-01T00:00:00" || it.FinishTime != "2026-11-02T00:00:00" || it.EventTypes == nil {
			t.Errorf("item %+v", it)
		}
	}
	if !slices.Equal(emails, users) {
		t.Fatalf("items %v", emails)
	}
	plan := getJSON[Plan](t, st, out.PlanKey)
	src := plan.Source
	if src == nil || src.Kind != SourceUsersFrom || src.Object != "s3://"+st.Bucket+"/lists/sales.csv" || src.Format != "csv" || src.Users != 3 || src.ETag == "" {
		t.Fatalf("source %+v", src)
	}
	if plan.Request.UsersFrom != "lists/sales.csv" || plan.Request.Emails != nil || plan.Users != 3 {
		t.Fatalf("plan request %+v", plan.Request)
	}
	raw := getObject(t, st, out.PlanKey)
	if leak := badinput.Leaks(string(raw), users...); leak != "" {
		t.Errorf("plan.json copies the list: %q", leak)
	}

	entries, _ := json.Marshal([]map[string]any{
		succeeded(report(users[2], "2026-11-01T00:00:00", "2026-11-02T00:00:00")),
		failed(t, users[0]),
	})
	w := &ManifestWriter{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Log: quiet, Now: fixed("2026-11-25T12:05:00Z")}
	got, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: entries})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range got.Results {
		order = append(order, r.Email+":"+r.Status+":"+r.Error)
	}
	if want := []string{users[0] + ":failed:AuthError", users[1] + ":failed:MissingResult", users[2] + ":succeeded:"}; !slices.Equal(order, want) {
		t.Fatalf("results %v\nwant %v", order, want)
	}
	man := getJSON[Manifest](t, st, out.ManifestKey)
	if man.Source == nil || !reflect.DeepEqual(man.Source, src) || len(man.Results) != 3 || man.Counts != got.Counts {
		t.Fatalf("manifest %+v", man)
	}
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	_ = json.Compact(&b, raw)
	return b.String()
}

func getObject(t *testing.T, st *storage.Objects, key string) []byte {
	t.Helper()
	obj, err := st.Open(t.Context(), "", key)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// s3://bucket/key reads another bucket; an incremental run reads each
// listed user's mark as it would an input's.
func TestPrepareReadsUsersFromAnotherBucket(t *testing.T) {
	st, client := newStore(t)
	other := st.Bucket + "-lists"
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(other)}); err != nil {
		t.Fatal(err)
	}
	putObject(t, client, other, "hr/all users.txt", "current@x.io\nnew@x.io\n")
	marks := &Watermarks{Store: st, Prefix: "state"}
	if _, err := marks.Advance(t.Context(), Mark{Email: "current@x.io", FinishTime: "2026-11-25T00:00:00"}); err != nil {
		t.Fatal(err)
	}
	out, err := prepare(t, st, "2026-11-25T12:00:00Z", `{"usersFrom":"s3://`+other+`/hr/all users.txt","window":{"period":"day","incremental":true,"at":"2026-11-25T00:10:00Z"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if out.Users != 1 || out.UpToDate != 1 {
		t.Fatalf("prepared %+v", out)
	}
	plan := getJSON[Plan](t, st, out.PlanKey)
	if plan.Source.Object != "s3://"+other+"/hr/all users.txt" || plan.Source.Format != "lines" {
		t.Fatalf("source %+v", plan.Source)
	}
	if got := getJSON[[]PlannedUser](t, st, plan.UsersKey); !reflect.DeepEqual(got, []PlannedUser{{Email: "current@x.io", Mark: "2026-11-25T00:00:00", UpToDate: true}, {Email: "new@x.io"}}) {
		t.Fatalf("users.json %+v", got)
	}
}

// allUsers reads the discovery step's list like usersFrom and records
// the discovery's summary in the plan and the manifest.
func TestPrepareReadsTheDiscoveredList(t *testing.T) {
	st, client := newStore(t)
	putObject(t, client, st.Bucket, "reports/runs/2026-11-25/run-1/discovered.json", `["a@x.io","B@x.io"]`)
	summary := json.RawMessage(`{"listed":5,"kept":2,"dropped":{"status":2,"guest":1}}`)
	out, err := prepareWith(t, st, "2026-11-25T12:00:00Z", PrepareInput{
		Input:      json.RawMessage(`{"allUsers":{"guests":false},"finishTime":"2026-11-24T00:00:00"}`),
		Discovered: &Discovered{UsersFrom: "reports/runs/2026-11-25/run-1/discovered.json", Summary: summary},
	})
	if err != nil {
		t.Fatal(err)
	}
	plan := getJSON[Plan](t, st, out.PlanKey)
	src := plan.Source
	if out.Users != 2 || src.Kind != SourceAllUsers || src.Format != "json" || src.Users != 2 || compact(src.Discovery) != string(summary) ||
		src.Object != "s3://"+st.Bucket+"/reports/runs/2026-11-25/run-1/discovered.json" || plan.Request.AllUsers == nil || plan.Request.AllUsers.Guests {
		t.Fatalf("prepared %+v, plan %+v, source %+v", out, plan, src)
	}
	w := &ManifestWriter{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Log: quiet, Now: fixed("2026-11-25T12:05:00Z")}
	if _, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: json.RawMessage(`[]`)}); err != nil {
		t.Fatal(err)
	}
	if man := getJSON[Manifest](t, st, out.ManifestKey); man.Source == nil || compact(man.Source.Discovery) != string(summary) || man.Counts.Users != 2 {
		t.Fatalf("manifest %+v", man)
	}
}

// Every list that cannot be a run's users is a ValidationError naming the
// field and the line, and nothing is written: no export starts.
func TestPrepareRefusesBadLists(t *testing.T) {
	st, client := newStore(t)
	put := func(key, body string) string { putObject(t, client, st.Bucket, key, body); return key }
	tests := []struct {
		name, input string
		disc        *Discovered
		field       string
		reason      string // a part of the reason
	}{
		{"missing object", `{"usersFrom":"lists/none.csv"}`, nil, "usersFrom", "cannot be read: there is no such object, or PrepareBatch may not read it"},
		{"missing bucket", `{"usersFrom":"s3://no-such-bucket-here/x.csv"}`, nil, "usersFrom", "cannot be read"},
		{"bad line", `{"usersFrom":"` + put("lists/bad.txt", "a@x.io\nmegan.bowen@contoso\n") + `"}`, nil, "usersFrom", "line 2: domain must have a dot"},
		{"duplicate line", `{"usersFrom":"` + put("lists/dup.txt", "megan.bowen@contoso.com\na@x.io\nMegan.Bowen@contoso.com\n") + `"}`, nil, "usersFrom", "line 3 repeats line 1"},
		{"empty", `{"usersFrom":"` + put("lists/empty.csv", "upn\n") + `"}`, nil, "usersFrom", "lists no users"},
		{"csv without a user column", `{"usersFrom":"` + put("lists/cols.csv", "name,mail\nMegan,megan.bowen@contoso.com\n") + `"}`, nil, "usersFrom", "none is named upn, email or loginName"},
		{"allUsers without the discovery", `{"allUsers":{}}`, nil, "discovered", "is required for allUsers"},
		{"discovered without allUsers", `{"emails":["a@x.io"]}`, &Discovered{UsersFrom: "x.json"}, "discovered", "only an allUsers input has"},
		{"discovered list malformed", `{"allUsers":{}}`, &Discovered{UsersFrom: put("lists/disc.json", `["a@x.io",`)}, "discovered.usersFrom", "is not a well-formed JSON array after entry [0]"},
		{"discovered reference bad", `{"allUsers":{}}`, &Discovered{UsersFrom: "s3://Bad_Bucket/x"}, "discovered.usersFrom", "is not an S3 bucket name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := bucketKeys(t, client, st.Bucket)
			_, err := prepareWith(t, st, "2026-11-25T12:00:00Z", PrepareInput{Input: json.RawMessage(tt.input), Discovered: tt.disc})
			if _, ok := err.(*failure.ValidationError); !ok {
				t.Fatalf("got %T %v, want *failure.ValidationError", err, err)
			}
			ve := err.(*failure.ValidationError)
			if ve.Field != tt.field || !strings.Contains(ve.Reason, tt.reason) {
				t.Fatalf("got %v, want %s: …%s…", err, tt.field, tt.reason)
			}
			if leak := badinput.Leaks(err.Error(), "megan.bowen@contoso.com", "megan.bowen"); leak != "" {
				t.Errorf("the error spells %q", leak)
			}
			if after := bucketKeys(t, client, st.Bucket); !slices.Equal(before, after) {
				t.Errorf("objects written: %v", after)
			}
		})
	}
}

func bucketKeys(t *testing.T, client *s3.Client, bucket string) []string {
	t.Helper()
	out, err := client.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// listS3 is an S3 client whose GetObject answers as each test says.
type listS3 struct {
	get func(key string) (*s3.GetObjectOutput, error)
}

func (f listS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return f.get(aws.ToString(in.Key))
}

func (listS3) PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return nil, errors.New("nothing may be written")
}

// failAfter serves head, then fails as a connection cut mid-object would.
type failAfter struct {
	head string
	err  error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.head == "" {
		return 0, f.err
	}
	n := copy(p, f.head)
	f.head = f.head[n:]
	return n, nil
}

func (*failAfter) Close() error { return nil }

// S3 refusing the list is the user's to fix (ValidationError); S3
// failing is retried (StorageError); an oversized list is refused by its
// length before a byte is read. A list's key that holds an address is
// never spelled.
func TestPrepareTellsABadListFromAnOutage(t *testing.T) {
	const key = "lists/megan.bowen@contoso.com/team.csv"
	tests := []struct {
		name   string
		get    func(string) (*s3.GetObjectOutput, error)
		want   string // ValidationError or StorageError
		reason string
	}{
		{"access denied", func(string) (*s3.GetObjectOutput, error) {
			return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied"}
		}, "ValidationError", "cannot be read"},
		{"KMS refuses", func(string) (*s3.GetObjectOutput, error) {
			return nil, &smithy.GenericAPIError{Code: "KMS.AccessDeniedException", Message: "no"}
		}, "ValidationError", "cannot be read"},
		{"too large", func(string) (*s3.GetObjectOutput, error) {
			return &s3.GetObjectOutput{ContentLength: aws.Int64(userlist.MaxBytes + 1), Body: io.NopCloser(strings.NewReader("a@x.io\n"))}, nil
		}, "ValidationError", fmt.Sprintf("is %d bytes; a list is at most 64 MiB", userlist.MaxBytes+1)},
		{"S3 fails", func(k string) (*s3.GetObjectOutput, error) {
			return nil, &smithy.GenericAPIError{Code: "InternalError", Message: "We encountered an internal error for " + k}
		}, "StorageError", "InternalError"},
		{"the read is cut", func(k string) (*s3.GetObjectOutput, error) {
			return &s3.GetObjectOutput{Body: &failAfter{head: "a@x.io\nb@x.io\n", err: errors.New("connection reset reading " + k)}}, nil
		}, "StorageError", "connection reset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &storage.Objects{Client: listS3{get: tt.get}, Bucket: "reports-bucket"}
			_, err := prepareWith(t, st, "2026-11-25T12:00:00Z", PrepareInput{Input: json.RawMessage(`{"usersFrom":"` + key + `"}`)})
			lambdaErr := failure.ForLambda(err)
			if name := strings.TrimPrefix(fmt.Sprintf("%T", lambdaErr), "*failure."); name != tt.want || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("got %T %v, want %s …%s…", lambdaErr, err, tt.want, tt.reason)
			}
			if leak := badinput.Leaks(lambdaErr.Error(), "megan.bowen@contoso.com", "megan.bowen"); leak != "" {
				t.Errorf("the error spells %q: %v", leak, lambdaErr)
			}
		})
	}
}

// WriteManifest still finishes a run that an earlier version prepared:
// its plan lists the up-to-date users and the marks, and no users.json.
func TestManifestReadsAPlanWithoutUsersJSON(t *testing.T) {
	st, _ := newStore(t)
	out := Prepared{Execution: Execution{ID: "arn:x:run-0", Name: "run-0", StartTime: "2026-11-25T12:00:00Z"}, Bucket: st.Bucket,
		RunPrefix: "reports/runs/2026-11-25/run-0", PlanKey: "reports/runs/2026-11-25/run-0/plan.json", ManifestKey: "reports/runs/2026-11-25/run-0/manifest.json", Users: 2, UpToDate: 1}
	plan := map[string]any{
		"execution": out.Execution, "preparedAt": "2026-11-25T12:00:00Z", "users": 3,
		"request":  map[string]any{"emails": []string{"a@x.io", "b@x.io", "c@x.io"}, "window": map[string]any{"period": "day", "timeZone": "UTC", "incremental": true, "lookbackPeriods": 1, "at": "2026-11-25T00:10:00Z"}},
		"upToDate": []UpToDate{{Email: "b@x.io", Watermark: "2026-11-25T00:00:00"}},
		"marks":    map[string]string{"c@x.io": "2026-11-20T00:00:00"},
	}
	if err := st.PutJSON(t.Context(), out.PlanKey, plan); err != nil {
		t.Fatal(err)
	}
	entries, _ := json.Marshal([]map[string]any{failed(t, "c@x.io"), succeeded(report("a@x.io", "2026-11-24T00:00:00", "2026-11-25T00:00:00"))})
	w := &ManifestWriter{Store: st, Marks: &Watermarks{Store: st, Prefix: "state"}, Log: quiet, Now: fixed("2026-11-25T12:05:00Z")}
	got, err := w.Handle(t.Context(), ManifestInput{Prepared: out, Map: entries})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range got.Results {
		order = append(order, r.Email+":"+r.Status+":"+r.Watermark)
	}
	if want := []string{"a@x.io:succeeded:2026-11-25T00:00:00", "b@x.io:up-to-date:2026-11-25T00:00:00", "c@x.io:failed:"}; !slices.Equal(order, want) {
		t.Fatalf("results %v\nwant %v", order, want)
	}
}
