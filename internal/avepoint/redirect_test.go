package avepoint_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/testing/avesim"
)

// routedClient reaches the given dialled addresses ("name:port") on local
// listeners, so that a redirect to a name off loopback can be followed, or
// shown not to be, without a network. Any other address that is not
// loopback fails at once rather than asking DNS.
func routedClient(routes map[string]string, roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := routes[addr]; ok {
			return d.DialContext(ctx, network, to)
		}
		if host, _, _ := net.SplitHostPort(addr); net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
			return nil, fmt.Errorf("test: no route to %s", addr)
		}
		return d.DialContext(ctx, network, addr)
	}
	if roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}
}

func hostPort(rawURL string) string {
	return strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://")
}

// seenRequest is one request a fakeAPI received.
type seenRequest struct {
	Host, Path string
	Auth       bool // an Authorization header arrived
}

// fakeAPI stands in for the token endpoint (any POST /connect/token gets a
// token) and the API, whose answers route gives; it records every request.
type fakeAPI struct {
	route func(w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	seen []seenRequest
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen = append(f.seen, seenRequest{Host: r.Host, Path: r.URL.Path, Auth: r.Header.Get("Authorization") != ""})
	f.mu.Unlock()
	_, _ = io.Copy(io.Discard, r.Body)
	if r.Method == http.MethodPost && r.URL.Path == "/connect/token" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"token_type":"Bearer","expires_in":3600,"access_token":"tok"}`)
		return
	}
	f.route(w, r)
}

func (f *fakeAPI) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

// requestsTo counts the requests for paths starting with prefix.
func (f *fakeAPI) requestsTo(prefix string) []seenRequest {
	var out []seenRequest
	for _, s := range f.requests() {
		if strings.HasPrefix(s.Path, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func finishedStatus(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"jobStatus":2,"status":200,"message":""}`)
}

func redirect(w http.ResponseWriter, status int, to string) {
	w.Header().Set("Location", to)
	w.WriteHeader(status)
}

func fakeClient(t *testing.T, apiURL, tokenURL string, hc *http.Client) *avepoint.Client {
	t.Helper()
	c, err := avepoint.New(avepoint.Config{
		Endpoints:   avepoint.Endpoints{APIURL: apiURL, TokenURL: tokenURL},
		Credentials: avepoint.StaticCredentials{ClientID: clientID, ClientSecret: secret},
		HTTPClient:  hc,
		Backoff:     fastBackoff,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A token URL that redirects must not take the credentials (client secret
// or signed assertion) anywhere: not to another loopback server, not to
// plain http elsewhere. The call fails with an AuthError naming the status.
func TestTokenRequestNeverFollowsARedirect(t *testing.T) {
	bundle, cert, err := avesim.NewTestCertificateBundle()
	if err != nil {
		t.Fatal(err)
	}
	for _, cred := range []struct {
		name  string
		creds avepoint.Credentials
	}{
		{"secret", avepoint.Credentials{ClientID: clientID, ClientSecret: secret}},
		{"certificate", avepoint.Credentials{ClientID: clientID, Certificate: bundle}},
	} {
		for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			for _, target := range []string{"another loopback server", "plain http off loopback"} {
				t.Run(fmt.Sprintf("%s/%d/%s", cred.name, status, target), func(t *testing.T) {
					// The simulator is the redirect target: a working token
					// endpoint that would hand out a token.
					sim := startSim(t, avesim.Options{ClientSecret: secret, Certificate: cert})
					to := sim.TokenURL
					routes := map[string]string{}
					if target == "plain http off loopback" {
						to = "http://identity.example.test/connect/token"
						routes["identity.example.test:80"] = hostPort(sim.URL)
					}
					var mu sync.Mutex
					hits := 0
					redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						mu.Lock()
						hits++
						mu.Unlock()
						redirect(w, status, to)
					}))
					t.Cleanup(redirector.Close)
					c := newClient(t, sim, cred.creds, func(cfg *avepoint.Config) {
						cfg.Endpoints.TokenURL = redirector.URL + "/connect/token"
						cfg.HTTPClient = routedClient(routes, nil)
					})
					_, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: "a@contoso.com"})
					want := fmt.Sprintf("token endpoint answered HTTP %d (redirects are not followed)", status)
					if errorName(err) != "AuthError" || !strings.Contains(err.Error(), want) {
						t.Fatalf("err = %v (%s), want an AuthError saying %q", err, errorName(err), want)
					}
					if n := len(callsTo(sim, avesim.EndpointToken)); n != 0 {
						t.Fatalf("the redirect target received %d token requests", n)
					}
					if n := len(callsTo(sim, avesim.EndpointExport)); n != 0 {
						t.Fatalf("%d export calls", n)
					}
					mu.Lock()
					defer mu.Unlock()
					if hits != 1 {
						t.Fatalf("the configured token URL was asked %d times, want 1 (a redirect is no credential problem to re-read for)", hits)
					}
				})
			}
		}
	}
}

// A report download redirected to plain http off loopback is refused with
// a ProtocolError: the report would travel in the clear.
func TestReportRedirectToPlainHTTPIsRefused(t *testing.T) {
	email := "a@contoso.com"
	sim := startSim(t, avesim.Options{PollsToFinish: -1, Plans: map[string]avesim.JobPlan{email: {FileRedirectBase: "http://reports.example.test"}}})
	c := newClient(t, sim, avepoint.Credentials{ClientID: clientID, ClientSecret: secret}, func(cfg *avepoint.Config) {
		cfg.HTTPClient = routedClient(map[string]string{"reports.example.test:80": hostPort(sim.URL)}, nil)
	})
	id, err := c.StartExport(t.Context(), avepoint.ExportRequest{Email: email})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.JobStatus(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	rep, err := c.ExportFile(t.Context(), id)
	if err == nil {
		rep.Body.Close()
	}
	if errorName(err) != "ProtocolError" || !strings.Contains(err.Error(), "redirect to a non-https URL refused") {
		t.Fatalf("err = %v (%s), want a ProtocolError refusing the redirect", err, errorName(err))
	}
	if n := len(callsTo(sim, avesim.EndpointBlob)); n != 0 {
		t.Fatalf("the plain http host received %d downloads", n)
	}
	if n := len(callsTo(sim, avesim.EndpointFile)); n != 1 {
		t.Fatalf("exportfile asked %d times, want 1 (not retried)", n)
	}
}

// Status and report answers redirected (301, 302, 307, 308) to plain http
// off loopback are refused, and the other host sees nothing.
func TestAPIRedirectToPlainHTTPIsRefused(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, call := range []string{"exportstatus", "exportfile"} {
			t.Run(fmt.Sprintf("%s/%d", call, status), func(t *testing.T) {
				f := &fakeAPI{}
				srv := httptest.NewServer(f)
				t.Cleanup(srv.Close)
				f.route = func(w http.ResponseWriter, r *http.Request) {
					switch {
					case strings.HasPrefix(r.URL.Path, "/insights/"):
						redirect(w, status, "http://mirror.example.test/moved/"+call)
					case r.URL.Path == "/moved/exportstatus":
						finishedStatus(w)
					case r.URL.Path == "/moved/exportfile":
						w.Header().Set("Content-Type", "application/zip")
						_, _ = io.WriteString(w, "PK\x03\x04")
					}
				}
				c := fakeClient(t, srv.URL, srv.URL+"/connect/token", routedClient(map[string]string{"mirror.example.test:80": hostPort(srv.URL)}, nil))
				var err error
				if call == "exportstatus" {
					_, err = c.JobStatus(t.Context(), "67890")
				} else {
					var rep *avepoint.Report
					if rep, err = c.ExportFile(t.Context(), "67890"); err == nil {
						rep.Body.Close()
					}
				}
				if errorName(err) != "ProtocolError" || !strings.Contains(err.Error(), "redirect to a non-https URL refused") {
					t.Fatalf("err = %v (%s), want a ProtocolError refusing the redirect", err, errorName(err))
				}
				if n := len(f.requestsTo("/moved/")); n != 0 {
					t.Fatalf("the plain http host received %d requests", n)
				}
				if n := len(f.requestsTo("/insights/")); n != 1 {
					t.Fatalf("%d API requests, want 1 (a refused redirect is not retried)", n)
				}
			})
		}
	}
}

// Redirects are followed a bounded number of times: five hops are fine,
// six are a ProtocolError, and never more than six requests go out.
func TestAPIRedirectsAreBounded(t *testing.T) {
	for _, tt := range []struct {
		hops    int // redirects before the answer; -1 = forever
		wantErr string
	}{
		{5, ""},
		{6, "too many redirects"},
		{-1, "too many redirects"},
	} {
		t.Run(fmt.Sprint(tt.hops), func(t *testing.T) {
			f := &fakeAPI{}
			srv := httptest.NewServer(f)
			t.Cleanup(srv.Close)
			f.route = func(w http.ResponseWriter, r *http.Request) {
				var n int
				if r.URL.Path != "/insights/job/67890/exportstatus" {
					_, _ = fmt.Sscanf(r.URL.Path, "/hop/%d", &n)
				}
				if tt.hops < 0 || n < tt.hops {
					// Loopback http to loopback http (a test stack) is allowed.
					redirect(w, http.StatusFound, fmt.Sprintf("%s/hop/%d", srv.URL, n+1))
					return
				}
				finishedStatus(w)
			}
			c := fakeClient(t, srv.URL, srv.URL+"/connect/token", nil)
			st, err := c.JobStatus(t.Context(), "67890")
			if tt.wantErr == "" {
				if err != nil || st.State != avepoint.JobFinished {
					t.Fatalf("after %d hops: %+v, %v", tt.hops, st, err)
				}
				return
			}
			if errorName(err) != "ProtocolError" || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v (%s), want a ProtocolError saying %q", err, errorName(err), tt.wantErr)
			}
			if n := len(f.requestsTo("/insights/")) + len(f.requestsTo("/hop/")); n != 6 {
				t.Fatalf("%d requests, want 6 (the call and 5 redirects)", n)
			}
		})
	}
}

// From an https API, redirects to other https hosts are followed (without
// the token), but plain http is refused even to loopback: only a test
// stack, whose API is itself loopback http, may redirect to loopback http.
// (On Lambda, loopback http is the runtime API.)
func TestHTTPSAPIRedirects(t *testing.T) {
	plain := &fakeAPI{route: func(w http.ResponseWriter, _ *http.Request) { finishedStatus(w) }}
	plainSrv := httptest.NewServer(plain)
	t.Cleanup(plainSrv.Close)
	for _, tt := range []struct {
		name, to string
		wantErr  string
	}{
		{"to another https host", "https://example.com/moved/exportstatus", ""},
		{"to loopback http", plainSrv.URL + "/moved/exportstatus", "redirect to a non-https URL refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{}
			f.route = func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/insights/") {
					redirect(w, http.StatusTemporaryRedirect, tt.to)
					return
				}
				finishedStatus(w)
			}
			srv := httptest.NewTLSServer(f)
			t.Cleanup(srv.Close)
			roots := x509.NewCertPool()
			roots.AddCert(srv.Certificate())
			c := fakeClient(t, srv.URL, plainSrv.URL+"/connect/token", routedClient(map[string]string{"example.com:443": hostPort(srv.URL)}, roots))
			st, err := c.JobStatus(t.Context(), "67890")
			if tt.wantErr == "" {
				if err != nil || st.State != avepoint.JobFinished {
					t.Fatalf("%+v, %v", st, err)
				}
				moved := f.requestsTo("/moved/")
				if len(moved) != 1 || moved[0].Auth || moved[0].Host != "example.com" {
					t.Fatalf("redirect target saw %+v, want one request without Authorization", moved)
				}
				return
			}
			if errorName(err) != "ProtocolError" || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v (%s), want a ProtocolError saying %q", err, errorName(err), tt.wantErr)
			}
			if n := len(plain.requestsTo("/moved/")); n != 0 {
				t.Fatalf("loopback http received %d requests", n)
			}
		})
	}
}
