package avepoint_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

const (
	clientID = "3f1c-app"
	secret   = "s3cr3t-value-never-logged"
)

// fastBackoff keeps the client's retries real but quick.
var fastBackoff = avepoint.Backoff{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 50 * time.Millisecond, DeadlineMargin: time.Millisecond}

func startSim(t *testing.T, opts avesim.Options) *avesim.Running {
	t.Helper()
	if opts.ClientID == "" {
		opts.ClientID = clientID
	}
	if opts.ClientSecret == "" && opts.Certificate == nil {
		opts.ClientSecret = secret
	}
	sim, err := avesim.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

func newClient(t *testing.T, sim *avesim.Running, creds avepoint.Credentials, mod ...func(*avepoint.Config)) *avepoint.Client {
	t.Helper()
	cfg := avepoint.Config{
		Endpoints:   avepoint.Endpoints{APIURL: sim.URL, TokenURL: sim.TokenURL},
		Credentials: avepoint.StaticCredentials(creds),
		Backoff:     fastBackoff,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := avepoint.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func errorName(err error) string {
	if err == nil {
		return "<nil>"
	}
	tp := reflect.TypeOf(err)
	if tp.Kind() == reflect.Pointer {
		tp = tp.Elem()
	}
	return tp.Name()
}

func callsTo(sim *avesim.Running, endpoint string) []avesim.Call {
	var out []avesim.Call
	for _, c := range sim.Server.Calls() {
		if c.Endpoint == endpoint {
			out = append(out, c)
		}
	}
	return out
}

// The export call's wire format must match AvePoint's own sample exactly.
func TestStartExportWireFormat(t *testing.T) {
	sim := startSim(t, avesim.Options{})
	c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: secret})
	guest := "a_b.com#EXT#@t.onmicrosoft.com"
	id, err := c.StartExport(t.Context(), avepoint.ExportRequest{
		Email:      guest,
		Start:      time.Date(2023, 1, 1, 1, 37, 57, 0, time.UTC),
		Finish:     time.Date(2023, 4, 1, 1, 37, 57, 0, time.FixedZone("CET", 3600)), // sent in UTC
		EventTypes: []string{"ListViewed", "ListItemViewed"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if id != "67890" {
		t.Fatalf("jobId = %q", id)
	}
	calls := callsTo(sim, avesim.EndpointExport)
	if len(calls) != 1 {
		t.Fatalf("export calls = %d", len(calls))
	}
	got := calls[0]
	if want := "/insights/users/a_b.com%2523EXT%2523%2540t.onmicrosoft.com/activities/export"; got.Path != want {
		t.Errorf("path = %s\nwant   %s", got.Path, want)
	}
	if want := "eventTypes=ListViewed&eventTypes=ListItemViewed&finishTime=2023-04-01T00%3A37%3A57&startTime=2023-01-01T01%3A37%3A57"; got.RawQuery != want {
		t.Errorf("query = %s\nwant    %s", got.RawQuery, want)
	}
	if got.Email != guest || got.Auth != avesim.AuthBearerOK {
		t.Errorf("sim saw email %q auth %q", got.Email, got.Auth)
	}
}

func TestEncodeEmailPathMatchesAvePointSample(t *testing.T) {
	// From AvePoint's request sample (masked characters aside).
	got := avepoint.EncodeEmailPath("insights001_jinsightstest.onmicrosoft.com#ext#@m.onmicrosoft.com")
	if want := "insights001_jinsightstest.onmicrosoft.com%2523ext%2523%2540m.onmicrosoft.com"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func runExport(t *testing.T, c *avepoint.Client, email string) ([]byte, string) {
	t.Helper()
	ctx := t.Context()
	id, err := c.StartExport(ctx, avepoint.ExportRequest{Email: email})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		st, err := c.JobStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == avepoint.JobFinished {
			break
		}
		if st.State != avepoint.JobRunning || i > 10 {
			t.Fatalf("status %+v after %d polls", st, i)
		}
	}
	rep, err := c.ExportFile(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Body.Close()
	b, err := io.ReadAll(rep.Body)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ContentLength != int64(len(b)) {
		t.Fatalf("content length %d, read %d", rep.ContentLength, len(b))
	}
	return b, id
}

func assertXLSXZip(t *testing.T, b []byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("report is not a ZIP: %v", err)
	}
	for _, f := range zr.File {
		if len(f.Name) > 5 && f.Name[len(f.Name)-5:] == ".xlsx" {
			return
		}
	}
	t.Fatalf("ZIP holds no .xlsx: %v", zr.File)
}

func TestFullExportWithBothCredentialKinds(t *testing.T) {
	bundle, cert, err := avesim.NewTestCertificateBundle()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		creds avepoint.Credentials
	}{
		{"client secret", avepoint.Credentials{ClientID: clientID, ClientSecret: secret}},
		{"certificate", avepoint.Credentials{ClientID: clientID, Certificate: bundle}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, avesim.Options{ClientSecret: secret, Certificate: cert})
			c := newClient(t, sim, tt.creds)
			b, _ := runExport(t, c, "alice@contoso.com")
			assertXLSXZip(t, b)
			// One token served the whole export: start, polls and download.
			if n := sim.Server.TokensIssued(); n != 1 {
				t.Fatalf("tokens issued = %d, want 1", n)
			}
		})
	}
}

func TestCertificateProblemsAreAuthErrors(t *testing.T) {
	_, cert, err := avesim.NewTestCertificateBundle()
	if err != nil {
		t.Fatal(err)
	}
	otherBundle, _, err := avesim.NewTestCertificateBundle()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, _, err := avesim.NewTestCertificate()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, bundle string }{
		{"not PEM", "not a certificate"},
		{"certificate without key", string(certPEM)},
		{"key of another certificate", string(certPEM) + otherBundle[bytes.Index([]byte(otherBundle), []byte("-----BEGIN PRIVATE KEY")):]},
		{"unregistered certificate", otherBundle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, avesim.Options{Certificate: cert})
			c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, Certificate: tt.bundle})
			_, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: "a@b.co"})
			if errorName(err) != "AuthError" {
				t.Fatalf("err = %v (%s)", err, errorName(err))
			}
			if bytes.Contains([]byte(err.Error()), []byte("-----BEGIN")) || len(tt.bundle) > 100 && bytes.Contains([]byte(err.Error()), []byte(tt.bundle[len(tt.bundle)/2:len(tt.bundle)/2+20])) {
				t.Fatalf("error quotes key material: %v", err)
			}
			if n := len(callsTo(sim, avesim.EndpointExport)); n != 0 {
				t.Fatalf("export reached AvePoint %d times without a token", n)
			}
		})
	}
}

func TestTokenReuseAndRenewal(t *testing.T) {
	sim := startSim(t, avesim.Options{})
	clock := time.Now()
	c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: secret}, func(cfg *avepoint.Config) {
		cfg.Now = func() time.Time { return clock }
	})
	ctx := t.Context()
	id, err := c.StartExport(ctx, avepoint.ExportRequest{Email: "a@b.co"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // warm invocations a few minutes apart share the token
		clock = clock.Add(5 * time.Minute)
		if _, err := c.JobStatus(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if n := sim.Server.TokensIssued(); n != 1 {
		t.Fatalf("tokens issued = %d, want 1", n)
	}
	clock = clock.Add(44 * time.Minute) // 59 minutes in: within the renewal margin
	if _, err := c.JobStatus(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := sim.Server.TokensIssued(); n != 2 {
		t.Fatalf("tokens issued = %d, want 2 after nearing expiry", n)
	}
}

func TestRevokedTokenIsRefreshedOnce(t *testing.T) {
	sim := startSim(t, avesim.Options{})
	c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: secret})
	id, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: "a@b.co"})
	if err != nil {
		t.Fatal(err)
	}
	sim.Server.RevokeTokens()
	if _, err := c.JobStatus(t.Context(), id); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	status := callsTo(sim, avesim.EndpointStatus)
	if len(status) != 2 || status[0].Status != 401 || status[1].Status != 200 {
		t.Fatalf("status calls = %+v, want one 401 then one 200", status)
	}
	if n := sim.Server.TokensIssued(); n != 2 {
		t.Fatalf("tokens issued = %d", n)
	}
}

func TestWrongSecretIsAnAuthError(t *testing.T) {
	sim := startSim(t, avesim.Options{})
	c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: "wrong"})
	_, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: "a@b.co"})
	var ae *failure.AuthError
	if !errors.As(err, &ae) || errorName(err) != "AuthError" {
		t.Fatalf("err = %v (%s)", err, errorName(err))
	}
	if bytes.Contains([]byte(err.Error()), []byte("wrong")) {
		t.Fatalf("error echoes the secret: %v", err)
	}
	// One retry after re-reading the credentials, then give up.
	if n := len(callsTo(sim, avesim.EndpointToken)); n != 2 {
		t.Fatalf("token calls = %d, want 2", n)
	}
	if n := len(callsTo(sim, avesim.EndpointExport)); n != 0 {
		t.Fatalf("export calls = %d, want 0", n)
	}
}

func intp(n int) *int { return &n }

func TestJobStatusMapping(t *testing.T) {
	tests := []struct {
		code    int
		state   avepoint.JobState
		wantErr string
	}{
		{2, avepoint.JobFinished, ""},
		{4, avepoint.JobFinished, ""},
		{3, avepoint.JobFailed, ""},
		{5, avepoint.JobFailed, ""},
		{6, avepoint.JobFailed, ""},
		{99, "", "ProtocolError"},
	}
	for _, tt := range tests {
		t.Run(string(rune('0'+tt.code%10))+"-"+string(tt.state), func(t *testing.T) {
			email := "user@contoso.com"
			sim := startSim(t, avesim.Options{Plans: map[string]avesim.JobPlan{
				email: {Outcome: avesim.Finish, FinalStatus: tt.code, Message: "job message", PollsToFinish: intp(1)},
			}})
			c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: secret})
			id, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: email})
			if err != nil {
				t.Fatal(err)
			}
			first, err := c.JobStatus(t.Context(), id)
			if err != nil || first.State != avepoint.JobRunning || first.Code != 1 {
				t.Fatalf("first poll = %+v, %v", first, err)
			}
			st, err := c.JobStatus(t.Context(), id)
			if tt.wantErr != "" {
				if errorName(err) != tt.wantErr || !bytes.Contains([]byte(err.Error()), []byte("99")) {
					t.Fatalf("err = %v (%s), want %s naming the value", err, errorName(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.State != tt.state || st.Code != tt.code || st.WithException != (tt.code == 4) {
				t.Fatalf("status = %+v", st)
			}
		})
	}
	t.Run("all codes", func(t *testing.T) {
		want := map[int]avepoint.JobState{0: avepoint.JobRunning, 1: avepoint.JobRunning, 2: avepoint.JobFinished, 3: avepoint.JobFailed, 4: avepoint.JobFinished, 5: avepoint.JobFailed, 6: avepoint.JobFailed}
		for code := -1; code <= 7; code++ {
			got, err := avepoint.MapJobStatus(code)
			if w, ok := want[code]; ok {
				if err != nil || got != w {
					t.Errorf("MapJobStatus(%d) = %q, %v; want %q", code, got, err, w)
				}
			} else if errorName(err) != "ProtocolError" {
				t.Errorf("MapJobStatus(%d) err = %v", code, err)
			}
		}
	})
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name      string
		email     string
		plan      avesim.JobPlan
		wantErr   string
		wantCalls int // export calls that reached the simulator
	}{
		{"429 retried with Retry-After, then success", "a@contoso.com", avesim.JobPlan{ErrorCalls: 2, ErrorStatus: 429, RetryAfter: time.Millisecond}, "", 3},
		{"503 burst retried, then success", "b@contoso.com", avesim.JobPlan{ErrorCalls: 3, ErrorStatus: 503}, "", 4},
		{"persistent 500 is transient after bounded retries", "c@contoso.com", avesim.JobPlan{ErrorCalls: 100, ErrorStatus: 500}, "TransientError", 4},
		{"persistent 429 is throttled", "d@contoso.com", avesim.JobPlan{ErrorCalls: 100, ErrorStatus: 429, RetryAfter: time.Millisecond}, "ThrottledError", 4},
		{"403 is an auth error, not retried", "e@contoso.com", avesim.JobPlan{ErrorCalls: 100, ErrorStatus: 403}, "AuthError", 1},
		{"400 is a validation error, not retried", "f@contoso.com", avesim.JobPlan{ErrorCalls: 100, ErrorStatus: 400}, "ValidationError", 1},
		{"unknown user is not found", "unknown.person@contoso.com", avesim.JobPlan{}, "NotFoundError", 1},
		{"error status inside HTTP 200 is an error", "g@contoso.com", avesim.JobPlan{Outcome: avesim.RejectExport, FinalStatus: 400, Message: "bad filter"}, "ValidationError", 1},
		{"5xx inside HTTP 200 is retried", "h@contoso.com", avesim.JobPlan{Outcome: avesim.RejectExport, FinalStatus: 500}, "TransientError", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, avesim.Options{Plans: map[string]avesim.JobPlan{tt.email: tt.plan}})
			c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: secret})
			_, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: tt.email})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && errorName(err) != tt.wantErr {
				t.Fatalf("err = %v (%s), want %q", err, errorName(err), tt.wantErr)
			}
			if n := len(callsTo(sim, avesim.EndpointExport)); n != tt.wantCalls {
				t.Fatalf("export calls = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestRetriesStopBeforeTheDeadline(t *testing.T) {
	email := "slow@contoso.com"
	sim := startSim(t, avesim.Options{Plans: map[string]avesim.JobPlan{email: {ErrorCalls: 100, ErrorStatus: 429, RetryAfter: 30 * time.Second}}})
	c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: secret}, func(cfg *avepoint.Config) {
		cfg.Backoff = avepoint.Backoff{MaxAttempts: 4, MaxDelay: time.Minute, DeadlineMargin: time.Second}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := c.StartExport(ctx, avepoint.ExportRequest{Email: email})
	var te *failure.ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != 30*time.Second {
		t.Fatalf("err = %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the client slept into the deadline instead of handing back")
	}
	if n := len(callsTo(sim, avesim.EndpointExport)); n != 1 {
		t.Fatalf("export calls = %d, want 1", n)
	}
}

func TestRedirectedReportNeverGetsTheToken(t *testing.T) {
	sim := startSim(t, avesim.Options{RedirectFiles: true, PollsToFinish: -1})
	c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: secret})
	b, _ := runExport(t, c, "a@contoso.com")
	assertXLSXZip(t, b)
	blobs := callsTo(sim, avesim.EndpointBlob)
	if len(blobs) != 1 {
		t.Fatalf("blob calls = %d", len(blobs))
	}
	if blobs[0].Auth != avesim.AuthNone {
		t.Fatalf("redirect target received Authorization (%s)", blobs[0].Auth)
	}
}

func TestReportIsStreamedNotBuffered(t *testing.T) {
	sim := startSim(t, avesim.Options{PollsToFinish: -1, ReportRows: 2000})
	c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: secret})
	id, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: "a@contoso.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.JobStatus(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	rep, err := c.ExportFile(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Body.Close()
	// Reading a few bytes must not require the whole body: the first read
	// returns at most what was asked for, the rest is still on the wire.
	head := make([]byte, 4)
	if _, err := io.ReadFull(rep.Body, head); err != nil || string(head) != "PK\x03\x04" {
		t.Fatalf("head %q, %v", head, err)
	}
	rest, err := io.ReadAll(rep.Body)
	if err != nil || int64(len(rest)+4) != rep.ContentLength {
		t.Fatalf("rest %d bytes of %d: %v", len(rest)+4, rep.ContentLength, err)
	}
}
