package avepoint

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
)

// FuzzEncodeEmailPath: whatever the address, its path segment is made of
// unreserved characters and '%' only (nothing that ends or escapes the
// segment: '/', '?', '#', '@', '..' as a whole segment), and decoding it
// twice gives the address back, as AvePoint does.
func FuzzEncodeEmailPath(f *testing.F) {
	for _, s := range []string{
		"alice@contoso.com", "x_y.com#EXT#@tenant.onmicrosoft.com", "../admin@contoso.com",
		"a%40b@c.com", "a/b?c#d@e.f", "ünïcødé@exämple.com", "a\r\nb@c.com", "", "%", "%%2525",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, email string) {
		seg := EncodeEmailPath(email)
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~%", c) >= 0) {
				t.Fatalf("segment %q holds %q", seg, c)
			}
		}
		// Only addresses are ever encoded (ValidateEmail runs first); an
		// address's segment holds %2540 and so is never a dot segment.
		// (A bare "." or ".." would stay one; no caller passes those.)
		if strings.Contains(email, "@") && (seg == "." || seg == "..") {
			t.Fatalf("segment %q is a dot segment", seg)
		}
		once, err := url.PathUnescape(seg)
		if err != nil {
			t.Fatalf("first decode of %q: %v", seg, err)
		}
		twice, err := url.PathUnescape(once)
		if err != nil {
			t.Fatalf("second decode of %q: %v", once, err)
		}
		if twice != email {
			t.Fatalf("decoded twice to %q, want %q", twice, email)
		}
		if strings.ContainsAny(once, "/?#@") && strings.ContainsAny(seg, "/?#@") {
			t.Fatalf("a single decode already exposes a delimiter in the raw segment %q", seg)
		}
	})
}

// FuzzRetryAfter: any header value gives a wait in [0, the hint]: whole
// seconds and HTTP dates in the future are honoured up to a day, anything
// else (negative, past, garbage, overflow) is no hint at all.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{
		"", "0", "1", "120", " 7 ", "-3", "99999999999999999999", "9999999999", "1.5", "0x10", "+5",
		now.Add(30 * time.Second).Format(http.TimeFormat), now.Add(-time.Minute).Format(http.TimeFormat),
		"Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994", "Fri, 31 Dec 9999 23:59:59 GMT", "soon",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := retryAfter(v, now)
		if got < 0 {
			t.Fatalf("retryAfter(%q) = %s < 0", v, got)
		}
		trimmed := strings.TrimSpace(v)
		if secs, err := strconv.ParseInt(trimmed, 10, 64); err == nil {
			want := time.Duration(0)
			if secs > 0 {
				want = time.Duration(min(secs, 24*3600)) * time.Second
			}
			if got != want {
				t.Fatalf("retryAfter(%q) = %s, want %s", v, got, want)
			}
			return
		}
		if at, err := http.ParseTime(trimmed); err == nil {
			if want := at.Sub(now); want > 0 && got != min(want, 24*time.Hour) || want <= 0 && got != 0 {
				t.Fatalf("retryAfter(%q) = %s, date is %s away", v, got, want)
			}
			return
		}
		if got != 0 {
			t.Fatalf("retryAfter(%q) = %s for a value that is neither seconds nor a date", v, got)
		}
	})
}

// FuzzMapJobStatus: the contract's table, and a failure.ProtocolError naming any
// other value.
func FuzzMapJobStatus(f *testing.F) {
	for _, c := range []int{-1, 0, 1, 2, 3, 4, 5, 6, 7, 99, 1 << 31, -1 << 31} {
		f.Add(c)
	}
	want := map[int]JobState{0: JobRunning, 1: JobRunning, 2: JobFinished, 4: JobFinished, 3: JobFailed, 5: JobFailed, 6: JobFailed}
	f.Fuzz(func(t *testing.T, code int) {
		got, err := MapJobStatus(code)
		if w, ok := want[code]; ok {
			if err != nil || got != w {
				t.Fatalf("MapJobStatus(%d) = %q, %v; want %q", code, got, err, w)
			}
			return
		}
		var pe *failure.ProtocolError
		if !errors.As(err, &pe) || got != "" || !strings.Contains(pe.Reason, strconv.Itoa(code)) {
			t.Fatalf("MapJobStatus(%d) = %q, %v; want a failure.ProtocolError naming %d", code, got, err, code)
		}
	})
}

// roundTripFunc answers requests in-process: no sockets per fuzz input.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzJobStatusAnswer feeds arbitrary status answers (body and HTTP
// status) to JobStatus: it never panics, and either returns a status whose
// state is the contract's mapping of its code, or an error of the
// vocabulary (which the state machine can route), never anything else.
func FuzzJobStatusAnswer(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, `{"jobStatus":2,"status":200,"message":""}`},
		{200, `{"jobStatus":1,"status":200}`},
		{200, `{"jobStatus":4,"status":200,"message":"2 sites skipped"}`},
		{200, `{"jobStatus":3,"status":200,"message":"failed"}`},
		{200, `{"jobStatus":99,"status":200}`},
		{200, `{"status":500,"message":"boom"}`},
		{200, `{"jobStatus":"2","status":200}`},
		{200, `{"jobStatus":2.5,"status":200}`},
		{200, `{"jobStatus":null}`},
		{200, `<html>oops</html>`},
		{200, ``},
		{429, `{"status":429,"message":"slow down"}`},
		{503, `Service Unavailable`},
		{401, `{"status":401}`},
		{302, ``},
	} {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			status = 200
		}
		transport := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{"Content-Type": {"application/json"}}
			if strings.HasSuffix(r.URL.Path, "/connect/token") {
				return &http.Response{StatusCode: 200, Header: h, Request: r,
					Body: io.NopCloser(strings.NewReader(`{"token_type":"Bearer","expires_in":3600,"access_token":"t"}`))}, nil
			}
			return &http.Response{StatusCode: status, Header: h, Request: r, Body: io.NopCloser(bytes.NewReader(body))}, nil
		})
		c, err := New(Config{
			Endpoints:   Endpoints{APIURL: "https://graph-us.avepointonlineservices.com", TokenURL: "https://identity.avepointonlineservices.com/connect/token"},
			Credentials: StaticCredentials{ClientID: "id", ClientSecret: "secret"},
			HTTPClient:  &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
			Backoff:     Backoff{MaxAttempts: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := c.JobStatus(ctx, "67890")
		if err != nil {
			if failure.Upstream(err) == nil {
				t.Fatalf("error outside the vocabulary: %T %v", err, err)
			}
			return
		}
		state, merr := MapJobStatus(st.Code)
		if merr != nil || state != st.State || st.WithException != (st.Code == 4) {
			t.Fatalf("status %+v for code %d", st, st.Code)
		}
		if strings.ContainsFunc(st.Message, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("message keeps control characters: %q", st.Message)
		}
	})
}
