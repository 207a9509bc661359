package avesim

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenSecretFlow(t *testing.T) {
	e := newEnv(t, Options{TokenTTL: 90 * time.Minute})
	withForm := func(mod func(url.Values)) url.Values {
		f := secretForm(testClientID, testSecret)
		mod(f)
		return f
	}
	tests := []struct {
		name        string
		form        url.Values
		contentType string
		basicUser   string
		basicPass   string
		wantStatus  int
		wantError   string
	}{
		{name: "ok", form: secretForm(testClientID, testSecret), wantStatus: 200},
		{name: "ok basic auth", form: withForm(func(f url.Values) { f.Del("client_id"); f.Del("client_secret") }),
			basicUser: testClientID, basicPass: testSecret, wantStatus: 200},
		{name: "bad secret", form: secretForm(testClientID, "nope"), wantStatus: 401, wantError: "invalid_client"},
		{name: "bad secret basic", form: withForm(func(f url.Values) { f.Del("client_id"); f.Del("client_secret") }),
			basicUser: testClientID, basicPass: "nope", wantStatus: 401, wantError: "invalid_client"},
		{name: "unknown client", form: secretForm("someone-else", testSecret), wantStatus: 401, wantError: "invalid_client"},
		{name: "no client auth", form: withForm(func(f url.Values) { f.Del("client_secret") }), wantStatus: 401, wantError: "invalid_client"},
		{name: "wrong grant", form: withForm(func(f url.Values) { f.Set("grant_type", "password") }), wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "wrong scope", form: withForm(func(f url.Values) { f.Set("scope", "insights.graph.read.all") }), wantStatus: 400, wantError: "invalid_scope"},
		{name: "missing scope", form: withForm(func(f url.Values) { f.Del("scope") }), wantStatus: 400, wantError: "invalid_scope"},
		{name: "json body", form: secretForm(testClientID, testSecret), contentType: "application/json", wantStatus: 400, wantError: "invalid_request"},
		{name: "two auth methods", form: secretForm(testClientID, testSecret), basicUser: testClientID, basicPass: testSecret, wantStatus: 400, wantError: "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.srv.TokensIssued()
			req, err := http.NewRequest(http.MethodPost, e.tokenURL(), strings.NewReader(tc.form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			ct := tc.contentType
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ct)
			if tc.basicUser != "" {
				req.SetBasicAuth(url.QueryEscape(tc.basicUser), url.QueryEscape(tc.basicPass))
			}
			r := do(t, req)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.wantStatus, r.body)
			}
			m := r.json(t)
			if tc.wantStatus != 200 {
				if m["error"] != tc.wantError {
					t.Errorf("error %v, want %s", m["error"], tc.wantError)
				}
				if got := e.srv.TokensIssued(); got != before {
					t.Errorf("TokensIssued moved from %d to %d on failure", before, got)
				}
				return
			}
			if m["token_type"] != "Bearer" || m["expires_in"] != float64(5400) {
				t.Errorf("token body %s", r.body)
			}
			if tok, _ := m["access_token"].(string); len(tok) < 20 {
				t.Errorf("access_token %q too short", tok)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
			if got := e.srv.TokensIssued(); got != before+1 {
				t.Errorf("TokensIssued %d, want %d", got, before+1)
			}
			if c := lastCall(t, e.srv); c.Endpoint != EndpointToken || c.Status != 200 {
				t.Errorf("call %+v", c)
			}
		})
	}
}

func TestTokenSecretDisabled(t *testing.T) {
	id := mustIdentity(t)
	srv, err := New(Options{ClientID: testClientID, Certificate: id.cert})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, base: newTestServer(t, srv).URL, id: id}
	r := e.postToken(t, secretForm(testClientID, ""), "", "")
	if r.status != 401 || r.json(t)["error"] != "invalid_client" {
		t.Fatalf("empty secret with secret auth disabled: %d %s", r.status, r.body)
	}
}

func TestTokenJWTFlow(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, Options{Now: clock.Now})
	other, err := newIdentity()
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": testClientID,
			"sub": testClientID,
			"aud": e.tokenURL(),
			"jti": "jti-" + t.Name() + "-" + time.Now().Format(time.RFC3339Nano),
			"iat": now.Unix(),
			"nbf": now.Unix(),
			"exp": now.Add(5 * time.Minute).Unix(),
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	tests := []struct {
		name       string
		assertion  func(t *testing.T) string
		form       func(url.Values)
		wantStatus int
		wantError  string
	}{
		{name: "ok", assertion: func(t *testing.T) string { return sign(t, e.id.key, claims(nil)) }, wantStatus: 200},
		{name: "ok aud list and client_id", assertion: func(t *testing.T) string {
			return sign(t, e.id.key, claims(func(c jwt.MapClaims) { c["aud"] = []string{"other", e.tokenURL()} }))
		}, form: func(f url.Values) { f.Set("client_id", testClientID) }, wantStatus: 200},
		{name: "wrong aud", assertion: func(t *testing.T) string {
			return sign(t, e.id.key, claims(func(c jwt.MapClaims) {
				c["aud"] = "https://identity.avepointonlineservices.com/connect/token"
			}))
		}, wantStatus: 401, wantError: "invalid_client"},
		{name: "expired", assertion: func(t *testing.T) string {
			return sign(t, e.id.key, claims(func(c jwt.MapClaims) {
				c["iat"] = now.Add(-10 * time.Minute).Unix()
				c["nbf"] = now.Add(-10 * time.Minute).Unix()
				c["exp"] = now.Add(-time.Minute).Unix()
			}))
		}, wantStatus: 401, wantError: "invalid_client"},
		{name: "no exp", assertion: func(t *testing.T) string {
			return sign(t, e.id.key, claims(func(c jwt.MapClaims) { delete(c, "exp") }))
		}, wantStatus: 401, wantError: "invalid_client"},
		{name: "lifetime too long", assertion: func(t *testing.T) string {
			return sign(t, e.id.key, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(11 * time.Minute).Unix() }))
		}, wantStatus: 401, wantError: "invalid_client"},
		{name: "wrong key", assertion: func(t *testing.T) string { return sign(t, other.key, claims(nil)) }, wantStatus: 401, wantError: "invalid_client"},
		{name: "wrong issuer", assertion: func(t *testing.T) string {
			return sign(t, e.id.key, claims(func(c jwt.MapClaims) { c["iss"] = "someone-else" }))
		}, wantStatus: 401, wantError: "invalid_client"},
		{name: "sub differs", assertion: func(t *testing.T) string {
			return sign(t, e.id.key, claims(func(c jwt.MapClaims) { c["sub"] = "someone-else" }))
		}, wantStatus: 401, wantError: "invalid_client"},
		{name: "no jti", assertion: func(t *testing.T) string {
			return sign(t, e.id.key, claims(func(c jwt.MapClaims) { delete(c, "jti") }))
		}, wantStatus: 401, wantError: "invalid_client"},
		{name: "HS256 with public key bytes", assertion: func(t *testing.T) string {
			s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil)).SignedString(e.id.cert.RawSubjectPublicKeyInfo)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, wantStatus: 401, wantError: "invalid_client"},
		{name: "wrong assertion type", assertion: func(t *testing.T) string { return sign(t, e.id.key, claims(nil)) },
			form: func(f url.Values) {
				f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
			},
			wantStatus: 401, wantError: "invalid_client"},
		{name: "wrong scope", assertion: func(t *testing.T) string { return sign(t, e.id.key, claims(nil)) },
			form: func(f url.Values) { f.Set("scope", "openid") }, wantStatus: 400, wantError: "invalid_scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := assertionForm(tc.assertion(t))
			if tc.form != nil {
				tc.form(f)
			}
			r := e.postToken(t, f, "", "")
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.wantStatus, r.body)
			}
			m := r.json(t)
			if tc.wantStatus != 200 {
				if m["error"] != tc.wantError {
					t.Fatalf("error %v, want %s (%s)", m["error"], tc.wantError, r.body)
				}
				return
			}
			if m["token_type"] != "Bearer" || m["access_token"] == "" {
				t.Fatalf("token body %s", r.body)
			}
			// The token must work on the API.
			if got := e.get(t, "/insights/job/1/exportstatus", m["access_token"].(string)); got.status != 404 {
				t.Fatalf("API with JWT-issued token: %d %s", got.status, got.body)
			}
		})
	}

	t.Run("replayed jti", func(t *testing.T) {
		a := sign(t, e.id.key, claims(func(c jwt.MapClaims) { c["jti"] = "replay-me" }))
		if r := e.postToken(t, assertionForm(a), "", ""); r.status != 200 {
			t.Fatalf("first use: %d %s", r.status, r.body)
		}
		// Same jti in a freshly signed assertion is still a replay.
		a2 := sign(t, e.id.key, claims(func(c jwt.MapClaims) { c["jti"] = "replay-me"; c["exp"] = now.Add(4 * time.Minute).Unix() }))
		for _, as := range []string{a, a2} {
			r := e.postToken(t, assertionForm(as), "", "")
			if r.status != 401 || r.json(t)["error"] != "invalid_grant" {
				t.Fatalf("replay: %d %s", r.status, r.body)
			}
		}
	})

	t.Run("expires with clock", func(t *testing.T) {
		a := sign(t, e.id.key, claims(func(c jwt.MapClaims) { c["jti"] = "late" }))
		clock.Advance(6 * time.Minute)
		defer clock.Advance(-6 * time.Minute)
		if r := e.postToken(t, assertionForm(a), "", ""); r.status != 401 {
			t.Fatalf("assertion used after exp: %d %s", r.status, r.body)
		}
	})
}

func TestAPITokenExpiry(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, Options{Now: clock.Now, TokenTTL: time.Minute})
	tok := e.token(t)
	path := "/insights/job/1/exportstatus"
	if r := e.get(t, path, tok); r.status != 404 {
		t.Fatalf("fresh token: %d %s", r.status, r.body)
	}
	clock.Advance(time.Minute)
	r := e.get(t, path, tok)
	if r.status != 401 || r.json(t)["status"] != float64(401) {
		t.Fatalf("expired token: %d %s", r.status, r.body)
	}
	if c := lastCall(t, e.srv); c.Auth != AuthBearerBad {
		t.Fatalf("Auth %q, want %q", c.Auth, AuthBearerBad)
	}
}
