package avesim

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testClientID = "client-123"
	testSecret   = "s3cret with spaces&symbols"
	guestEmail   = "a_b.com#EXT#@t.onmicrosoft.com"
	// guestSegment is guestEmail encoded twice, as in AvePoint's sample URL.
	guestSegment = "a_b.com%2523EXT%2523%2540t.onmicrosoft.com"
)

// testIdentity is generated once: RSA key generation is slow on the shared CPUs.
var testIdentity = sync.OnceValues(func() (*identity, error) { return newIdentity() })

type identity struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

func newIdentity() (*identity, error) {
	_, keyPEM, cert, err := NewTestCertificate()
	if err != nil {
		return nil, err
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	return &identity{cert: cert, key: key}, nil
}

func mustIdentity(t *testing.T) *identity {
	t.Helper()
	id, err := testIdentity()
	if err != nil {
		t.Fatalf("test identity: %v", err)
	}
	return id
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	srv  *Server
	base string // API base URL, e.g. http://127.0.0.1:port
	id   *identity
}

// newEnv serves a Server (secret and certificate auth enabled unless opts
// says otherwise) on an httptest server bound to 127.0.0.1.
func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	id := mustIdentity(t)
	if opts.ClientID == "" {
		opts.ClientID = testClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = testSecret
	}
	if opts.Certificate == nil {
		opts.Certificate = id.cert
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &env{srv: srv, base: newTestServer(t, srv).URL, id: id}
}

// newTestServer serves h on 127.0.0.1 (httptest's default) until the test ends.
func newTestServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

func (e *env) tokenURL() string { return e.base + tokenPath }

type result struct {
	status int
	header http.Header
	body   []byte
}

func (r result) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return m
}

func do(t *testing.T, req *http.Request) result {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) postToken(t *testing.T, form url.Values, basicUser, basicPass string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.tokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	return do(t, req)
}

// token obtains an access token with the secret flow.
func (e *env) token(t *testing.T) string {
	t.Helper()
	r := e.postToken(t, secretForm(testClientID, testSecret), "", "")
	if r.status != http.StatusOK {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	tok, _ := r.json(t)["access_token"].(string)
	if tok == "" {
		t.Fatalf("token: no access_token in %s", r.body)
	}
	return tok
}

// get sends GET base+path (path already escaped as it should travel).
func (e *env) get(t *testing.T, pathAndQuery, token string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+pathAndQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

// startJob exports for the double-encoded segment and returns the job id.
func (e *env) startJob(t *testing.T, token, segment, query string) string {
	t.Helper()
	p := "/insights/users/" + segment + "/activities/export"
	if query != "" {
		p += "?" + query
	}
	r := e.get(t, p, token)
	if r.status != http.StatusOK {
		t.Fatalf("export: %d %s", r.status, r.body)
	}
	id, _ := r.json(t)["jobId"].(string)
	if id == "" {
		t.Fatalf("export: no jobId in %s", r.body)
	}
	return id
}

// poll returns jobStatus and message of one status call.
func (e *env) poll(t *testing.T, token, jobID string) (int, string) {
	t.Helper()
	r := e.get(t, "/insights/job/"+jobID+"/exportstatus", token)
	if r.status != http.StatusOK {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["status"] != float64(200) {
		t.Fatalf("status body: %s", r.body)
	}
	msg, _ := m["message"].(string)
	return int(m["jobStatus"].(float64)), msg
}

// doubleEncode encodes an email the way AvePoint expects it in the path.
func doubleEncode(email string) string {
	once := strings.ReplaceAll(url.PathEscape(email), "@", "%40")
	return strings.ReplaceAll(url.PathEscape(once), "@", "%40")
}

func secretForm(id, secret string) url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {id},
		"client_secret": {secret},
		"scope":         {Scope},
	}
}

func assertionForm(assertion string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {JWTBearerAssertionType},
		"client_assertion":      {assertion},
		"scope":                 {Scope},
	}
}

func sign(t *testing.T, key *rsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func lastCall(t *testing.T, s *Server) Call {
	t.Helper()
	calls := s.Calls()
	if len(calls) == 0 {
		t.Fatal("no calls recorded")
	}
	return calls[len(calls)-1]
}
