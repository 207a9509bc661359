package avepoint_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// tokenServer answers every token request with status and body; it counts
// the requests.
func tokenServer(t *testing.T, status int, header http.Header, body string) (*httptest.Server, *int) {
	t.Helper()
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		_, _ = io.Copy(io.Discard, r.Body)
		for k, vs := range header {
			w.Header()[k] = vs
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// A 200 answer the client cannot use is AvePoint breaking the contract,
// not a network fault: a ProtocolError saying what is wrong, not retried.
func TestUnusableTokenAnswerIsAProtocolError(t *testing.T) {
	for _, tt := range []struct {
		name, body, want string
	}{
		{"no access_token", `{"token_type":"Bearer","expires_in":3600}`, "token endpoint answer has no access_token"},
		{"empty access_token", `{"token_type":"Bearer","expires_in":3600,"access_token":""}`, "token endpoint answer has no access_token"},
		{"not JSON", `<html>maintenance</html>`, "token endpoint answer is not a token response"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := tokenServer(t, http.StatusOK, nil, tt.body)
			c := fakeClient(t, srv.URL, srv.URL+"/connect/token", nil)
			_, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: "a@contoso.com"})
			if errorName(err) != "ProtocolError" || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("err = %v (%s), want a ProtocolError saying %q", err, errorName(err), tt.want)
			}
			if *n != 1 {
				t.Fatalf("%d token requests, want 1: retrying will not make the answer usable", *n)
			}
		})
	}
}

// checkBounded fails unless msg is short, valid UTF-8 and free of control
// characters.
func checkBounded(t *testing.T, msg string, max int) {
	t.Helper()
	if len(msg) > max {
		t.Fatalf("message is %d bytes (want ≤ %d): %.120q…", len(msg), max, msg)
	}
	if !utf8.ValidString(msg) {
		t.Fatalf("message is not valid UTF-8: %q", msg)
	}
	if i := strings.IndexFunc(msg, unicode.IsControl); i >= 0 {
		t.Fatalf("message holds a control character at %d: %q", i, msg)
	}
}

// The identity service's error code is copied into the AuthError bounded,
// cut on a rune boundary, without control characters; its free-text
// error_description, which may echo what was submitted, is left out.
func TestTokenErrorFieldsAreBounded(t *testing.T) {
	for _, tt := range []struct {
		name, code, desc string
		want             []string // substrings the message keeps
		never            string   // a substring it must not hold
	}{
		{"100 KB error code", strings.Repeat("x", 100<<10), "", []string{"xxxxxxxxxx", "…"}, ""},
		{"100 KB multibyte error code", strings.Repeat("é", 50<<10), "", []string{"éééé", "…"}, ""},
		{"100 KB description", "invalid_client", strings.Repeat("d", 100<<10), []string{"invalid_client"}, "ddd"},
		{"control characters", "invalid_client\r\n\x1b[31mFAKE LOG LINE\u0085", "", []string{"invalid_client", "FAKE LOG LINE"}, ""},
		{"description echoing the secret", "invalid_client", "client secret " + secret + " is wrong", []string{"invalid_client"}, secret},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := jsonString(map[string]string{"error": tt.code, "error_description": tt.desc})
			srv, _ := tokenServer(t, http.StatusBadRequest, nil, body)
			c := fakeClient(t, srv.URL, srv.URL+"/connect/token", nil)
			_, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: "a@contoso.com"})
			var ae *failure.AuthError
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
				t.Fatalf("err = %v (%s), want an AuthError (HTTP 400)", err, errorName(err))
			}
			checkBounded(t, err.Error(), 600)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("message %.300q lacks %q", err.Error(), w)
				}
			}
			if tt.never != "" && strings.Contains(err.Error(), tt.never) {
				t.Fatalf("message %.300q holds %q", err.Error(), tt.never)
			}
		})
	}
}

// A far-future Retry-After is honoured only up to Backoff.MaxDelay, and the
// ThrottledError says the wait that was actually used, not the server's.
func TestThrottledErrorStatesTheCappedWait(t *testing.T) {
	const far = 640641 * time.Hour // about 73 years
	maxDelay := fastBackoff.MaxDelay
	check := func(t *testing.T, err error) {
		t.Helper()
		var te *failure.ThrottledError
		if !errors.As(err, &te) {
			t.Fatalf("err = %v (%s), want a ThrottledError", err, errorName(err))
		}
		if te.RetryAfter != maxDelay {
			t.Fatalf("RetryAfter = %s, want the capped %s", te.RetryAfter, maxDelay)
		}
		if want := "retry after " + maxDelay.String(); !strings.Contains(err.Error(), want) {
			t.Fatalf("message %q does not say %q", err.Error(), want)
		}
	}
	for _, date := range []bool{false, true} {
		t.Run(map[bool]string{false: "API seconds", true: "API date"}[date], func(t *testing.T) {
			email := "slow@contoso.com"
			sim := startSim(t, avesim.Options{Plans: map[string]avesim.JobPlan{email: {ErrorCalls: 100, ErrorStatus: 429, RetryAfter: far, RetryAfterDate: date}}})
			c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: secret})
			_, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: email})
			check(t, err)
			if n := len(callsTo(sim, avesim.EndpointExport)); n != fastBackoff.MaxAttempts {
				t.Fatalf("%d export calls, want %d", n, fastBackoff.MaxAttempts)
			}
		})
	}
	for _, v := range []string{"2306307600", time.Now().Add(far).UTC().Format(http.TimeFormat)} {
		t.Run("token endpoint "+v, func(t *testing.T) {
			srv, _ := tokenServer(t, http.StatusTooManyRequests, http.Header{"Retry-After": {v}}, `{"error":"slow_down"}`)
			c := fakeClient(t, srv.URL, srv.URL+"/connect/token", nil)
			_, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: "a@contoso.com"})
			check(t, err)
		})
	}
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
