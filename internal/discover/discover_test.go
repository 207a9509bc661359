package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/storage"
	"github.com/insights-export/insights-export/internal/testing/avesim"
	"github.com/insights-export/insights-export/internal/testing/badinput"
	"github.com/insights-export/insights-export/internal/testing/moto"
)

const (
	clientID = "discover-app"
	secret   = "discover-secret-never-logged"
	now      = "2026-11-25T12:00:00Z"
)

var execution = request.Execution{ID: "arn:aws:states:us-east-1:123456789012:execution:batch:run-1", Name: "run-1", StartTime: "2026-11-25T11:59:00Z"}

type rig struct {
	sim   *avesim.Running
	store *storage.Objects
	s3    *s3.Client
	d     *Discoverer
	logs  *bytes.Buffer
}

// newRig serves a simulated tenant and gives the test a bucket of its own
// in the shared moto_server.
func newRig(t *testing.T, users avesim.UsersOptions) *rig {
	t.Helper()
	client := moto.Start(t).S3Client(t)
	bucket := strings.Trim(strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")), "-")
	if len(bucket) > 50 {
		bucket = bucket[len(bucket)-50:]
	}
	bucket = "discover-" + strings.Trim(bucket, "-")
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	sim, err := avesim.Start(t.Context(), avesim.Options{ClientID: clientID, ClientSecret: secret, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	api, err := avepoint.New(avepoint.Config{
		Endpoints:   avepoint.Endpoints{APIURL: sim.URL, TokenURL: sim.TokenURL},
		Credentials: avepoint.StaticCredentials(avepoint.Credentials{ClientID: clientID, ClientSecret: secret}),
		Logger:      log,
		Backoff:     avepoint.Backoff{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond, DeadlineMargin: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	store := &storage.Objects{Client: client, Bucket: bucket}
	at, _ := time.Parse(time.RFC3339, now)
	d := &Discoverer{API: api, Store: store, Prefix: "reports", Log: log, Now: func() time.Time { return at }}
	return &rig{sim: sim, store: store, s3: client, d: d, logs: &logs}
}

func (r *rig) discover(t *testing.T, input string) (Output, error) {
	t.Helper()
	return r.d.Handle(t.Context(), Input{Input: json.RawMessage(input), Execution: execution})
}

func (r *rig) objects(t *testing.T) []string {
	t.Helper()
	list, err := r.s3.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(r.store.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// expect filters the simulator's own listing with the same filter: the
// list and the summary the step must produce.
func expect(t *testing.T, sim *avesim.Running, allUsers string) ([]string, Summary) {
	t.Helper()
	var fr request.UserFilterRequest
	if err := json.Unmarshal([]byte(allUsers), &fr); err != nil {
		t.Fatal(err)
	}
	f, err := fr.Validate()
	if err != nil {
		t.Fatal(err)
	}
	var (
		kept []string
		sum  Summary
		seen = map[string]bool{}
	)
	for _, u := range sim.Server.TenantUsers() {
		upn := strings.ToLower(u.LoginName)
		if seen[upn] {
			sum.Duplicates++
			continue
		}
		seen[upn] = true
		sum.Listed++
		if ok, why := f.Keep(upn, u.UserStatus); ok {
			kept = append(kept, upn)
		} else if !sum.Dropped.count(why) {
			t.Fatalf("Keep gave the unknown reason %q", why)
		}
	}
	sum.Kept = len(kept)
	return kept, sum
}

// tenantSecrets are every address the simulated tenant holds, which no
// log line or error may name.
func tenantSecrets(sim *avesim.Running) []string {
	var out []string
	for _, u := range sim.Server.TenantUsers() {
		out = append(out, u.LoginName, strings.ToLower(u.LoginName))
		if u.Email != "" {
			out = append(out, u.Email)
		}
	}
	return out
}

func TestDiscoverWritesTheSelectedUsers(t *testing.T) {
	for _, c := range []struct {
		name     string
		allUsers string
		users    avesim.UsersOptions
		paging   string
	}{
		{"every active user", `{}`, avesim.UsersOptions{}, "startPage-from-0"},
		{"active and blocked members", `{"status":["active","Blocked"],"guests":false}`, avesim.UsersOptions{Paging: avesim.UsersFrom1Serves0}, "startPage-from-1"},
		{"one domain, a pattern excluded", `{"domains":["Contoso.com"],"exclude":["user0001*@contoso.com"]}`, avesim.UsersOptions{Paging: avesim.UsersNextLinkToken, Duplicates: 5}, "nextLink-token"},
		{"not in Azure AD", `{"status":["Not in Azure AD"]}`, avesim.UsersOptions{Paging: avesim.UsersNextLinkURL}, "nextLink-url"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, c.users)
			out, err := r.discover(t, `{"allUsers":`+c.allUsers+`,"finishTime":"2026-11-24T00:00:00"}`)
			if err != nil {
				t.Fatal(err)
			}
			wantList, wantSum := expect(t, r.sim, c.allUsers)
			key := "reports/runs/2026-11-25/run-1/users.json"
			if out.UsersFrom != "s3://"+r.store.Bucket+"/"+key {
				t.Fatalf("usersFrom %s", out.UsersFrom)
			}
			var list []string
			if found, err := r.store.GetJSON(t.Context(), "", key, &list); err != nil || !found {
				t.Fatalf("users.json: found=%v %v", found, err)
			}
			if !slices.Equal(list, wantList) {
				t.Fatalf("users.json holds %d users, the simulator's list filtered holds %d", len(list), len(wantList))
			}
			wantSum.Pages, wantSum.Paging = out.Summary.Pages, c.paging
			if out.Summary != wantSum {
				t.Fatalf("summary %+v\nwant    %+v", out.Summary, wantSum)
			}
			if d := out.Summary.Dropped; out.Summary.Kept+d.Status+d.Guest+d.Domain+d.Excluded != out.Summary.Listed || out.Summary.Pages < 25 {
				t.Fatalf("counts do not add up: %+v", out.Summary)
			}
			// Every entry is a lower-case UPN the export call takes.
			for _, u := range list {
				if v, err := request.ValidateEmail(u); err != nil || v != u {
					t.Fatalf("entry %d is not a lower-case UPN", len(u))
				}
			}
			// The output is small whatever the tenant.
			raw, _ := json.Marshal(out)
			if len(raw) > 512 {
				t.Fatalf("output of %d bytes", len(raw))
			}
			if leak := badinput.Leaks(r.logs.String(), tenantSecrets(r.sim)...); leak != "" {
				t.Fatalf("a log line names %q", leak)
			}
		})
	}
}

// PrepareBatch reads these names: the output's shape is a contract.
func TestDiscoverOutputShape(t *testing.T) {
	raw, err := json.Marshal(Output{UsersFrom: "s3://b/k", Summary: Summary{Paging: "startPage-from-0"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"usersFrom":"s3://b/k","summary":{"listed":0,"kept":0,"dropped":{"status":0,"guest":0,"domain":0,"excluded":0},"duplicates":0,"pages":0,"paging":"startPage-from-0"}}`
	if string(raw) != want {
		t.Fatalf("got  %s\nwant %s", raw, want)
	}
	got := []avepoint.Paging{avepoint.PagingFrom0, avepoint.PagingFrom1, avepoint.PagingNextLinkURL, avepoint.PagingNextLinkToken}
	if want := []avepoint.Paging{"startPage-from-0", "startPage-from-1", "nextLink-url", "nextLink-token"}; !slices.Equal(got, want) {
		t.Fatalf("paging names %v, want %v", got, want)
	}
}

func TestDiscoverRefusesBadInputBeforeCallingAvePoint(t *testing.T) {
	r := newRig(t, avesim.UsersOptions{})
	var inputs []string
	for _, c := range badinput.Cases() {
		if c.Batch && c.JSON() {
			inputs = append(inputs, string(c.Body))
		}
	}
	inputs = append(inputs,
		`{"emails":["a@contoso.com"]}`,
		`{"usersFrom":"lists/users.json"}`,
		`{"allUsers":{"status":["Gone"]}}`,
		`{"allUsers":{"status":[]}}`,
		`{"allUsers":{"domains":["not a domain"]}}`,
		`{"allUsers":{"exclude":["*"]}}`,
		`{"allUsers":{"unknown":true}}`,
		`{"allUsers":{},"emails":["a@contoso.com"]}`,
		`{"allUsers":"everyone"}`,
		`{"allUsers":{},"startTime":"2026-11-24T00:00:00Z"}`,
	)
	for _, in := range inputs {
		_, err := r.discover(t, in)
		var ve *failure.ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%.80s: got %v, want a ValidationError", in, err)
		}
	}
	// No input at all.
	if _, err := r.d.Handle(t.Context(), Input{Execution: execution}); !errors.As(err, new(*failure.ValidationError)) {
		t.Errorf("no input: %v", err)
	}
	// An execution name that cannot be a run folder.
	_, err := r.d.Handle(t.Context(), Input{Input: json.RawMessage(`{"allUsers":{}}`), Execution: request.Execution{Name: ".."}})
	var ve *failure.ValidationError
	if !errors.As(err, &ve) || ve.Field != "execution.name" {
		t.Errorf("name ..: %v", err)
	}
	if n := r.sim.Server.UsersCalls(); n != 0 || r.sim.Server.TokensIssued() != 0 {
		t.Fatalf("%d users calls, %d tokens for bad input", n, r.sim.Server.TokensIssued())
	}
	if keys := r.objects(t); len(keys) != 0 {
		t.Fatalf("objects written: %v", keys)
	}
}

func TestDiscoverSelectingNobodyIsAValidationError(t *testing.T) {
	r := newRig(t, avesim.UsersOptions{Count: 300})
	_, err := r.discover(t, `{"allUsers":{"domains":["nowhere.example"]}}`)
	var ve *failure.ValidationError
	if !errors.As(err, &ve) || ve.Field != "allUsers" || !strings.HasPrefix(ve.Reason, "allUsers selects no user: AvePoint listed 300") {
		t.Fatalf("got %v", err)
	}
	_, sum := expect(t, r.sim, `{"domains":["nowhere.example"]}`)
	if !strings.Contains(ve.Reason, fmt.Sprintf("dropped %d by status, %d guests, %d by domain, 0 excluded", sum.Dropped.Status, sum.Dropped.Guest, sum.Dropped.Domain)) {
		t.Fatalf("reason %q does not give the counts", ve.Reason)
	}
	if keys := r.objects(t); len(keys) != 0 {
		t.Fatalf("objects written: %v", keys)
	}
	// An empty tenant too.
	r = newRig(t, avesim.UsersOptions{Count: -1})
	if _, err := r.discover(t, `{"allUsers":{}}`); !errors.As(err, &ve) || !strings.Contains(ve.Reason, "listed 0") {
		t.Fatalf("empty tenant: %v", err)
	}
}

// At the Lambda boundary the listing's failures keep their names and say
// nothing of the users.
func TestDiscoverErrorsAtTheLambdaBoundary(t *testing.T) {
	for _, c := range []struct {
		name  string
		users avesim.UsersOptions
		max   int
		want  string
	}{
		{"missing loginName", avesim.UsersOptions{Count: 300, DropLoginNameAt: 201}, 0, "ProtocolError"},
		{"endless", avesim.UsersOptions{Count: 300, Endless: true, Paging: avesim.UsersNextLinkToken}, 12, "ProtocolError"},
		{"throttled for good", avesim.UsersOptions{Count: 300, ErrorAfter: 1, ErrorStatuses: []int{429, 429, 429, 429}}, 0, "ThrottledError"},
		{"selects nobody", avesim.UsersOptions{Count: 300}, 0, "ValidationError"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, c.users)
			r.d.MaxPages = c.max
			input := `{"allUsers":{}}`
			if c.want == "ValidationError" {
				input = `{"allUsers":{"exclude":["*@*"]}}`
			}
			payload, _ := json.Marshal(Input{Input: json.RawMessage(input), Execution: execution})
			_, err := failure.Handler(r.d.Handle).Invoke(context.Background(), payload)
			if err == nil || fmt.Sprintf("%T", err) != "*failure."+c.want {
				t.Fatalf("got %T %v, want %s", err, err, c.want)
			}
			if len(err.Error()) > 400 {
				t.Fatalf("message of %d bytes", len(err.Error()))
			}
			if leak := badinput.Leaks(err.Error()+r.logs.String(), tenantSecrets(r.sim)...); leak != "" {
				t.Fatalf("error or log names %q: %v", leak, err)
			}
			if keys := r.objects(t); len(keys) != 0 {
				t.Fatalf("objects written: %v", keys)
			}
		})
	}
}

// A listing that runs into the invocation's deadline ends, with time left
// to say so, as a TransientError the state machine may retry.
func TestDiscoverStopsBeforeTheDeadline(t *testing.T) {
	r := newRig(t, avesim.UsersOptions{Count: 300})
	ctx, cancel := context.WithTimeout(t.Context(), CallMargin-time.Second)
	defer cancel()
	_, err := r.d.Handle(ctx, Input{Input: json.RawMessage(`{"allUsers":{}}`), Execution: execution})
	var te *failure.TransientError
	if !errors.As(err, &te) || !strings.Contains(te.Reason, "did not end before the function's deadline") {
		t.Fatalf("got %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the handler used the whole invocation")
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{"AVEPOINT_SECRET_ID": "avepoint/app", "REPORT_BUCKET": "reports-bucket", "REPORT_PREFIX": "exports"}
	getenv := func(k string) string { return env[k] }
	cfg, err := LoadConfig(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxPages != avepoint.DefaultMaxUserPages || cfg.Storage.Prefix != "exports" || cfg.AvePoint.Endpoints.APIURL == "" {
		t.Fatalf("%+v", cfg)
	}
	env["USERS_MAX_PAGES"] = "50"
	if cfg, err = LoadConfig(getenv); err != nil || cfg.MaxPages != 50 {
		t.Fatalf("%+v %v", cfg, err)
	}
	for _, bad := range []string{"0", "-3", "many", "100001"} {
		env["USERS_MAX_PAGES"] = bad
		var ce *failure.ConfigError
		if _, err := LoadConfig(getenv); !errors.As(err, &ce) || ce.Variable != "USERS_MAX_PAGES" {
			t.Errorf("USERS_MAX_PAGES=%s: %v", bad, err)
		}
	}
	delete(env, "USERS_MAX_PAGES")
	delete(env, "REPORT_BUCKET")
	var ce *failure.ConfigError
	if _, err := LoadConfig(getenv); !errors.As(err, &ce) || ce.Variable != "REPORT_BUCKET" {
		t.Errorf("no bucket: %v", err)
	}
}
