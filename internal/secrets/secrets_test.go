package secrets

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/testing/moto"
)

// secretMaterial appears in every secret value of these tests and must
// never appear in an error.
const secretMaterial = "hunter2-TOPSECRET"

var (
	secretSeq      atomic.Int64
	nonSecretChars = regexp.MustCompile(`[^A-Za-z0-9/_+=.@-]+`)
)

// newSecret creates a secret of the test's own on the shared moto server.
// Exactly one of str and bin is used.
func newSecret(t *testing.T, sm *secretsmanager.Client, str *string, bin []byte) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", nonSecretChars.ReplaceAllString(t.Name(), "-"), secretSeq.Add(1))
	_, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: str, SecretBinary: bin,
	})
	if err != nil {
		t.Fatalf("CreateSecret %s: %v", name, err)
	}
	return name
}

func putSecret(t *testing.T, sm *secretsmanager.Client, id, value string) {
	t.Helper()
	if _, err := sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(id), SecretString: aws.String(value),
	}); err != nil {
		t.Fatalf("PutSecretValue: %v", err)
	}
}

func secretJSON(clientID string) string {
	return fmt.Sprintf(`{"clientId":%q,"clientSecret":%q}`, clientID, secretMaterial)
}

// countingClient counts GetSecretValue calls. If hold is set, the call
// with that 1-based number waits, after reading the secret, until hold is
// closed; entered is closed when that call has read the secret.
type countingClient struct {
	SecretsAPI
	calls   atomic.Int32
	holdNo  int32
	hold    chan struct{}
	entered chan struct{}
}

func (c *countingClient) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	n := c.calls.Add(1)
	out, err := c.SecretsAPI.GetSecretValue(ctx, in, o...)
	if c.hold != nil && n == c.holdNo {
		close(c.entered)
		<-c.hold
	}
	return out, err
}

// fakeClock is a settable clock; the Provider reads it from its fetch
// goroutine too, hence the lock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustCreds(t *testing.T, p *Provider) avepoint.Credentials {
	t.Helper()
	c, err := p.Credentials(context.Background())
	if err != nil {
		t.Fatalf("Credentials: %v", err)
	}
	return c
}

func TestCredentialsFromSecretStringAndBinary(t *testing.T) {
	m := moto.Start(t)
	sm := m.SecretsClient(t)
	const cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
	certJSON := fmt.Sprintf(`{"clientId":"app-cert","certificate":%q}`, cert)

	tests := []struct {
		name string
		str  *string
		bin  []byte
		want avepoint.Credentials
	}{
		{"SecretString client secret", aws.String(secretJSON("app-1")), nil,
			avepoint.Credentials{ClientID: "app-1", ClientSecret: secretMaterial}},
		{"SecretBinary client secret", nil, []byte(secretJSON("app-2")),
			avepoint.Credentials{ClientID: "app-2", ClientSecret: secretMaterial}},
		{"SecretString certificate", aws.String(certJSON), nil,
			avepoint.Credentials{ClientID: "app-cert", Certificate: cert}},
		{"extra fields are ignored", aws.String(`{"clientId":"app-3","clientSecret":"s","note":"rotated 2026"}`), nil,
			avepoint.Credentials{ClientID: "app-3", ClientSecret: "s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := newSecret(t, sm, tc.str, tc.bin)
			p, err := New(sm, id, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := mustCreds(t, p); got != tc.want {
				t.Fatalf("Credentials = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestCredentialsCacheTTLAndInvalidate(t *testing.T) {
	m := moto.Start(t)
	sm := m.SecretsClient(t)
	id := newSecret(t, sm, aws.String(secretJSON("v1")), nil)
	cc := &countingClient{SecretsAPI: sm}
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	const ttl = 10 * time.Minute
	p, err := New(cc, id, ttl, clock.Now)
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name      string
		do        func()
		wantID    string
		wantCalls int32
	}{
		{"first call fetches", func() {}, "v1", 1},
		{"second call is a cache hit", func() {}, "v1", 1},
		{"rotation is not seen while cached", func() { putSecret(t, sm, id, secretJSON("v2")) }, "v1", 1},
		{"just before TTL still cached", func() { clock.Add(ttl - time.Nanosecond) }, "v1", 1},
		{"at TTL refetches and sees rotation", func() { clock.Add(time.Nanosecond) }, "v2", 2},
		{"cached again after refetch", func() { clock.Add(ttl / 2) }, "v2", 2},
		{"Invalidate refetches and sees rotation", func() { putSecret(t, sm, id, secretJSON("v3")); p.Invalidate() }, "v3", 3},
		{"cached after Invalidate refetch", func() {}, "v3", 3},
	}
	for _, s := range steps {
		s.do()
		got := mustCreds(t, p)
		if got.ClientID != s.wantID || cc.calls.Load() != s.wantCalls {
			t.Fatalf("%s: clientId %q after %d GetSecretValue calls, want %q after %d",
				s.name, got.ClientID, cc.calls.Load(), s.wantID, s.wantCalls)
		}
	}
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	m := moto.Start(t)
	sm := m.SecretsClient(t)
	id := newSecret(t, sm, aws.String(secretJSON("shared")), nil)
	cc := &countingClient{SecretsAPI: sm, holdNo: 1, hold: make(chan struct{}), entered: make(chan struct{})}
	p, err := New(cc, id, 0, nil)
	if err != nil {
		t.Fatal(err)
	}

	const callers = 20
	var wg sync.WaitGroup
	results := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			c, err := p.Credentials(context.Background())
			if err == nil && c.ClientID != "shared" {
				err = fmt.Errorf("got clientId %q", c.ClientID)
			}
			results <- err
		})
	}
	<-cc.entered
	// Let the other callers pile up behind the held fetch. The assertion
	// below holds whatever the scheduling; the pause only makes sure the
	// sharing path is the one exercised.
	time.Sleep(100 * time.Millisecond)
	close(cc.hold)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := cc.calls.Load(); n != 1 {
		t.Fatalf("%d GetSecretValue calls for %d concurrent callers, want 1", n, callers)
	}
}

func TestCallerStopsWaitingWhenItsContextEnds(t *testing.T) {
	m := moto.Start(t)
	sm := m.SecretsClient(t)
	id := newSecret(t, sm, aws.String(secretJSON("slow")), nil)
	cc := &countingClient{SecretsAPI: sm, holdNo: 1, hold: make(chan struct{}), entered: make(chan struct{})}
	p, err := New(cc, id, 0, nil)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := p.Credentials(ctx)
		first <- err
	}()
	<-cc.entered
	cancel()
	var te *failure.TransientError
	if err := <-first; !errors.As(err, &te) {
		t.Fatalf("cancelled caller got %v, want *failure.TransientError", err)
	}

	// The fetch it started carries on for everyone else.
	second := make(chan error, 1)
	go func() {
		c, err := p.Credentials(context.Background())
		if err == nil && c.ClientID != "slow" {
			err = fmt.Errorf("got clientId %q", c.ClientID)
		}
		second <- err
	}()
	close(cc.hold)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if n := cc.calls.Load(); n != 1 {
		t.Fatalf("%d GetSecretValue calls, want the first caller's fetch to be reused", n)
	}
}

// A fetch that began before Invalidate may return the value that just
// failed; it must not overwrite the fresher value fetched after.
func TestInvalidateDisownsFetchInFlight(t *testing.T) {
	m := moto.Start(t)
	sm := m.SecretsClient(t)
	id := newSecret(t, sm, aws.String(secretJSON("old")), nil)
	cc := &countingClient{SecretsAPI: sm, holdNo: 1, hold: make(chan struct{}), entered: make(chan struct{})}
	p, err := New(cc, id, 0, nil)
	if err != nil {
		t.Fatal(err)
	}

	stale := make(chan avepoint.Credentials, 1)
	go func() {
		c, _ := p.Credentials(context.Background())
		stale <- c
	}()
	<-cc.entered // the first fetch has read "old" and is held
	putSecret(t, sm, id, secretJSON("new"))
	p.Invalidate()
	if got := mustCreds(t, p); got.ClientID != "new" {
		t.Fatalf("after Invalidate: clientId %q, want new", got.ClientID)
	}
	close(cc.hold)
	if c := <-stale; c.ClientID != "old" {
		t.Fatalf("held caller got %q, want the old value it fetched", c.ClientID)
	}
	if got := mustCreds(t, p); got.ClientID != "new" || cc.calls.Load() != 2 {
		t.Fatalf("cache holds %q after %d calls, want new after 2: the stale fetch overwrote it", got.ClientID, cc.calls.Load())
	}
}

func TestBadSecretIsAuthErrorWithoutSecretMaterial(t *testing.T) {
	m := moto.Start(t)
	sm := m.SecretsClient(t)
	tests := []struct {
		name       string
		str        *string
		bin        []byte
		wantReason string
	}{
		{"not JSON", aws.String("clientSecret=" + secretMaterial), nil, "not valid JSON"},
		{"truncated JSON", aws.String(`{"clientId":"a","clientSecret":"` + secretMaterial), nil, "not valid JSON"},
		{"binary not JSON", nil, []byte{0xff, 'h', 'u', 'n', 't', 'e', 'r', '2'}, "not valid JSON"},
		{"wrong type", aws.String(`{"clientId":42,"clientSecret":"` + secretMaterial + `"}`), nil, `"clientId" is a JSON number`},
		{"array", aws.String(`["` + secretMaterial + `"]`), nil, "not a JSON object"},
		{"JSON string", aws.String(`"` + secretMaterial + `"`), nil, "not a JSON object"},
		{"missing clientId", aws.String(`{"clientSecret":"` + secretMaterial + `"}`), nil, "clientId is empty"},
		{"neither secret nor certificate", aws.String(`{"clientId":"a"}`), nil, "need clientSecret or certificate"},
		{"both secret and certificate", aws.String(`{"clientId":"a","clientSecret":"` + secretMaterial + `","certificate":"` + secretMaterial + `"}`), nil, "not both"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := newSecret(t, sm, tc.str, tc.bin)
			cc := &countingClient{SecretsAPI: sm}
			p, err := New(cc, id, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			c, err := p.Credentials(context.Background())
			var ae *failure.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *failure.AuthError", err, err)
			}
			if c != (avepoint.Credentials{}) {
				t.Errorf("returned credentials %v alongside the error", c)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantReason) || !strings.Contains(msg, id) {
				t.Errorf("error %q should name the secret %s and say %q", msg, id, tc.wantReason)
			}
			for _, leak := range []string{secretMaterial, "hunter", "clientSecret=", "TOPSECRET"} {
				if strings.Contains(msg, leak) {
					t.Errorf("error leaks secret material %q: %s", leak, msg)
				}
			}
			// Failures are not cached.
			_, _ = p.Credentials(context.Background())
			if n := cc.calls.Load(); n != 2 {
				t.Errorf("%d GetSecretValue calls after two failing calls, want 2", n)
			}
		})
	}
}

func TestMissingSecretIsAuthError(t *testing.T) {
	m := moto.Start(t)
	p, err := New(m.SecretsClient(t), "no-such-secret-"+t.Name(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Credentials(context.Background())
	var ae *failure.AuthError
	if !errors.As(err, &ae) || !strings.Contains(ae.Reason, "ResourceNotFoundException") {
		t.Fatalf("err = %v, want *failure.AuthError naming ResourceNotFoundException", err)
	}
}

func TestUnreachableSecretsManagerIsTransient(t *testing.T) {
	m := moto.Start(t)
	cfg := m.AWSConfig(t)
	cfg.BaseEndpoint = aws.String("http://127.0.0.1:1") // nothing listens on port 1
	cfg.RetryMaxAttempts = 1
	p, err := New(secretsmanager.NewFromConfig(cfg), "any", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Credentials(context.Background())
	var te *failure.TransientError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v (%T), want *failure.TransientError", err, err)
	}
}

func TestNewValidatesArguments(t *testing.T) {
	c := &countingClient{}
	tests := []struct {
		name    string
		client  SecretsAPI
		id      string
		ttl     time.Duration
		wantErr string
	}{
		{"nil client", nil, "id", 0, "nil Secrets Manager client"},
		{"empty id", c, "", 0, "secret id is required"},
		{"negative ttl", c, "id", -time.Second, "negative ttl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.client, tc.id, tc.ttl, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	p, err := New(c, "id", 0, nil)
	if err != nil || p.ttl != DefaultTTL {
		t.Fatalf("New with ttl 0: %v, ttl %v; want DefaultTTL", err, p.ttl)
	}
}
