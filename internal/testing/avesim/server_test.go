package avesim

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestAPIRequiresBearer(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(t)
	exportPath := "/insights/users/" + guestSegment + "/activities/export"
	tests := []struct {
		name     string
		header   string
		path     string
		wantAuth string
	}{
		{name: "no header export", path: exportPath, wantAuth: AuthNone},
		{name: "no header status", path: "/insights/job/67890/exportstatus", wantAuth: AuthNone},
		{name: "no header file", path: "/insights/job/67890/exportfile", wantAuth: AuthNone},
		{name: "garbage token", header: "Bearer not-a-token", path: exportPath, wantAuth: AuthBearerBad},
		{name: "empty bearer", header: "Bearer ", path: exportPath, wantAuth: AuthBearerBad},
		{name: "token without scheme", header: tok, path: exportPath, wantAuth: AuthBearerBad},
		{name: "basic auth", header: "Basic Y2xpZW50OnNlY3JldA==", path: exportPath, wantAuth: AuthBasic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, e.base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			r := do(t, req)
			if r.status != 401 {
				t.Fatalf("status %d; body %s", r.status, r.body)
			}
			m := r.json(t)
			if m["status"] != float64(401) || m["message"] == "" {
				t.Fatalf("body %s", r.body)
			}
			if c := lastCall(t, e.srv); c.Auth != tc.wantAuth || c.Status != 401 {
				t.Fatalf("call %+v, want auth %s", c, tc.wantAuth)
			}
		})
	}
	if len(e.srv.Jobs()) != 0 {
		t.Fatal("an unauthorised export created a job")
	}
	t.Run("lower-case scheme accepted", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.base+exportPath, nil)
		req.Header.Set("Authorization", "bearer "+tok)
		if r := do(t, req); r.status != 200 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
	})
}

func TestRevokeTokens(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(t)
	id := e.startJob(t, tok, guestSegment, "")
	e.srv.RevokeTokens()
	r := e.get(t, "/insights/job/"+id+"/exportstatus", tok)
	if r.status != 401 || r.json(t)["status"] != float64(401) {
		t.Fatalf("revoked token: %d %s", r.status, r.body)
	}
	if c := lastCall(t, e.srv); c.Auth != AuthBearerBad {
		t.Fatalf("auth %q", c.Auth)
	}
	fresh := e.token(t)
	if code, _ := e.poll(t, fresh, id); code != 1 {
		t.Fatalf("job after re-auth: jobStatus %d", code)
	}
	if got := e.srv.TokensIssued(); got != 2 {
		t.Fatalf("TokensIssued %d", got)
	}
	// The 401 answer did not count as a poll.
	if j := e.srv.Jobs()[0]; j.Polls != 1 {
		t.Fatalf("polls %d", j.Polls)
	}
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(t)
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantAllow  string
		endpoint   string
	}{
		{name: "POST export", method: http.MethodPost, path: "/insights/users/" + guestSegment + "/activities/export", wantStatus: 405, wantAllow: "GET", endpoint: EndpointExport},
		{name: "DELETE status", method: http.MethodDelete, path: "/insights/job/1/exportstatus", wantStatus: 405, wantAllow: "GET", endpoint: EndpointStatus},
		{name: "GET token", method: http.MethodGet, path: tokenPath, wantStatus: 405, wantAllow: "POST", endpoint: EndpointToken},
		{name: "unknown path", method: http.MethodGet, path: "/insights/users", wantStatus: 404, endpoint: EndpointUnknown},
		{name: "trailing slash", method: http.MethodGet, path: "/insights/job/1/exportstatus/", wantStatus: 404, endpoint: EndpointUnknown},
		{name: "root", method: http.MethodGet, path: "/", wantStatus: 404, endpoint: EndpointUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, e.base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			r := do(t, req)
			if r.status != tc.wantStatus || r.header.Get("Allow") != tc.wantAllow {
				t.Fatalf("status %d allow %q; body %s", r.status, r.header.Get("Allow"), r.body)
			}
			if r.json(t)["status"] != float64(tc.wantStatus) {
				t.Fatalf("body %s", r.body)
			}
			if c := lastCall(t, e.srv); c.Endpoint != tc.endpoint {
				t.Fatalf("endpoint %q", c.Endpoint)
			}
		})
	}
}

func TestInjectedErrors(t *testing.T) {
	tests := []struct {
		name       string
		plan       JobPlan
		wantStatus int
		wantRetry  string
	}{
		{name: "throttled", plan: JobPlan{ErrorCalls: 2, RetryAfter: 1500 * time.Millisecond}, wantStatus: 429, wantRetry: "2"},
		{name: "default retry", plan: JobPlan{ErrorCalls: 2}, wantStatus: 429, wantRetry: "1"},
		{name: "no retry header", plan: JobPlan{ErrorCalls: 2, RetryAfter: -1}, wantStatus: 429},
		{name: "server error", plan: JobPlan{ErrorCalls: 2, ErrorStatus: 500}, wantStatus: 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{Plans: map[string]JobPlan{guestEmail: tc.plan}, PollsToFinish: -1})
			tok := e.token(t)
			path := "/insights/users/" + guestSegment + "/activities/export"
			for i := range 2 {
				r := e.get(t, path, tok)
				if r.status != tc.wantStatus || r.header.Get("Retry-After") != tc.wantRetry {
					t.Fatalf("call %d: status %d Retry-After %q", i, r.status, r.header.Get("Retry-After"))
				}
				if r.json(t)["status"] != float64(tc.wantStatus) {
					t.Fatalf("body %s", r.body)
				}
			}
			if len(e.srv.Jobs()) != 0 {
				t.Fatal("an injected error created a job")
			}
			id := e.startJob(t, tok, guestSegment, "")
			if code, _ := e.poll(t, tok, id); code != 2 {
				t.Fatalf("after errors: jobStatus %d", code)
			}
			// Other users are not affected.
			e.startJob(t, tok, doubleEncode("carol@contoso.com"), "")
		})
	}
}

func TestRejectExportInsideHTTP200(t *testing.T) {
	e := newEnv(t, Options{Plans: map[string]JobPlan{guestEmail: {Outcome: RejectExport, FinalStatus: 403, Message: "license expired"}}})
	tok := e.token(t)
	r := e.get(t, "/insights/users/"+guestSegment+"/activities/export", tok)
	if r.status != 200 {
		t.Fatalf("HTTP %d", r.status)
	}
	m := r.json(t)
	if m["status"] != float64(403) || m["message"] != "license expired" || m["jobId"] != "" {
		t.Fatalf("body %s", r.body)
	}
	if len(e.srv.Jobs()) != 0 {
		t.Fatal("rejected export created a job")
	}
}

func TestStartAndRedirectedFiles(t *testing.T) {
	id := mustIdentity(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rn, err := Start(ctx, Options{ClientID: testClientID, ClientSecret: testSecret, Certificate: id.cert,
		PollsToFinish: -1, ReportRows: 2, RedirectFiles: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rn.Close()
	if !strings.HasPrefix(rn.URL, "http://127.0.0.1:") || rn.TokenURL != rn.URL+"/connect/token" ||
		!strings.HasPrefix(rn.BlobURL, "http://localhost:") || rn.Server.TokenPath() != "/connect/token" {
		t.Fatalf("running %+v", rn)
	}
	get := func(path, tok string, client *http.Client) result {
		req, err := http.NewRequest(http.MethodGet, rn.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return result{status: resp.StatusCode, header: resp.Header, body: b}
	}
	// JWT flow against the real listener: aud is the URL the client used.
	now := time.Now()
	assertion := sign(t, id.key, jwt.MapClaims{"iss": testClientID, "sub": testClientID, "aud": rn.TokenURL,
		"jti": "start-test", "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix()})
	resp, err := http.PostForm(rn.TokenURL, assertionForm(assertion))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("JWT token at %s: %d", rn.TokenURL, resp.StatusCode)
	}
	tok := (&env{srv: rn.Server, base: rn.URL}).token(t)
	r := get("/insights/users/"+guestSegment+"/activities/export", tok, http.DefaultClient)
	jobID, _ := r.json(t)["jobId"].(string)
	get("/insights/job/"+jobID+"/exportstatus", tok, http.DefaultClient)

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r = get("/insights/job/"+jobID+"/exportfile", tok, noFollow)
	loc := r.header.Get("Location")
	if r.status != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, rn.BlobURL+"/blob/"+jobID+"?sig=") {
		t.Fatalf("exportfile: %d Location %q", r.status, loc)
	}

	t.Run("stdlib client drops the token on the other host", func(t *testing.T) {
		r := get("/insights/job/"+jobID+"/exportfile", tok, http.DefaultClient)
		if r.status != 200 || r.header.Get("Content-Type") != "application/zip" {
			t.Fatalf("followed download: %d", r.status)
		}
		rows := readReport(t, jobID, r.body)
		if len(rows) != 3 {
			t.Fatalf("rows %d", len(rows))
		}
		if c := lastCall(t, rn.Server); c.Endpoint != EndpointBlob || c.Auth != AuthNone || c.JobID != jobID {
			t.Fatalf("blob call %+v", c)
		}
	})
	t.Run("leaking client is recorded", func(t *testing.T) {
		leaky := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			req.Header.Set("Authorization", "Bearer "+tok)
			return nil
		}}
		if r := get("/insights/job/"+jobID+"/exportfile", tok, leaky); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		if c := lastCall(t, rn.Server); c.Endpoint != EndpointBlob || c.Auth != AuthBearerOK {
			t.Fatalf("blob call %+v", c)
		}
	})
	t.Run("bad signature", func(t *testing.T) {
		resp, err := http.Get(rn.BlobURL + "/blob/" + jobID + "?sig=00")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})

	cancel() // ending the context stops the listeners
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(rn.URL + "/")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still answering after its context ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rn.Close() // second close is harmless
}

func TestNewValidation(t *testing.T) {
	id := mustIdentity(t)
	noSig := *id.cert
	noSig.KeyUsage = x509.KeyUsageKeyEncipherment
	tests := []struct {
		name string
		opts Options
	}{
		{name: "no client id", opts: Options{ClientSecret: "x"}},
		{name: "no credential", opts: Options{ClientID: "c"}},
		{name: "cert without digital signature", opts: Options{ClientID: "c", Certificate: &noSig}},
		{name: "negative ttl", opts: Options{ClientID: "c", ClientSecret: "x", TokenTTL: -time.Second}},
		{name: "negative plan polls", opts: Options{ClientID: "c", ClientSecret: "x", Plans: map[string]JobPlan{"a@b.c": {PollsToFinish: intp(-1)}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil {
				t.Fatal("New accepted invalid options")
			}
		})
	}
}

func TestNewTestCertificate(t *testing.T) {
	certPEM, keyPEM, cert, err := NewTestCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		t.Fatal("no digital signature key usage")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 2048 {
		t.Fatalf("public key %T", cert.PublicKey)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" || !bytes.Equal(cb.Bytes, cert.Raw) {
		t.Fatal("certPEM does not hold cert")
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(keyPEM)
	if err != nil || !key.PublicKey.Equal(pub) {
		t.Fatalf("keyPEM does not match the certificate: %v", err)
	}
	pkcs1, err := PKCS1KeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(pkcs1); b == nil || b.Type != "RSA PRIVATE KEY" {
		t.Fatal("PKCS1KeyPEM block type")
	}
	if k1, err := jwt.ParseRSAPrivateKeyFromPEM(pkcs1); err != nil || !k1.Equal(key) {
		t.Fatalf("PKCS#1 key differs: %v", err)
	}
	if _, err := PKCS1KeyPEM(certPEM); err == nil {
		t.Fatal("PKCS1KeyPEM accepted a certificate")
	}

	bundle, bcert, err := NewTestCertificateBundle()
	if err != nil {
		t.Fatal(err)
	}
	first, rest := pem.Decode([]byte(bundle))
	second, _ := pem.Decode(rest)
	if first == nil || second == nil || first.Type != "CERTIFICATE" || second.Type != "PRIVATE KEY" || !bytes.Equal(first.Bytes, bcert.Raw) {
		t.Fatal("bundle is not CERTIFICATE + PRIVATE KEY")
	}
	// A certificate from the helper is accepted by New and works for the JWT flow.
	srv, err := New(Options{ClientID: testClientID, Certificate: cert})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, srv)
	now := time.Now()
	a := sign(t, key, jwt.MapClaims{"iss": testClientID, "sub": testClientID, "aud": ts.URL + tokenPath,
		"jti": "x", "exp": now.Add(time.Minute).Unix()})
	resp, err := http.PostForm(ts.URL+tokenPath, assertionForm(a))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token with helper certificate: %d", resp.StatusCode)
	}
}

func TestCallsAreCopies(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(t)
	e.get(t, "/insights/users/"+guestSegment+"/activities/export?eventTypes=A1", tok)
	c := lastCall(t, e.srv)
	if c.RawQuery != "eventTypes=A1" || c.Query.Get("eventTypes") != "A1" {
		t.Fatalf("call %+v", c)
	}
	c.Query.Set("eventTypes", "changed")
	if lastCall(t, e.srv).Query.Get("eventTypes") != "A1" {
		t.Fatal("Calls() exposes internal state")
	}
}
