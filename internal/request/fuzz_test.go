package request_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/insights-export/insights-export/internal/avepoint"
	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

// FuzzParseRequest: no input panics; a refusal is always a ValidationError
// whose text is valid UTF-8, bounded and without control characters; an accepted input is normalized
// (lower-case address, pinned window in the one time format, event types
// sorted and unique) and idempotent (its Query, fed back as an input,
// parses to itself), and its object key and URL path are safe.
func FuzzParseRequest(f *testing.F) {
	for _, c := range badinput.Cases() {
		if c.Execution && len(c.Body) < 4<<10 {
			f.Add(c.Body)
		}
	}
	for _, ok := range []string{
		`{"email":"Alice@Contoso.com"}`,
		`{"email":"x_y.com#EXT#@tenant.onmicrosoft.com","startTime":"2026-01-01T00:00:00","finishTime":"2026-02-01T00:00:00","eventTypes":["ListViewed","FileAccessed","ListViewed"]}`,
		`{"email":"o'brien@contoso.co.uk","eventTypes":[]}`,
		`{"email":"a@b.co","finishTime":"2026-11-25T12:04:59"}`,
	} {
		f.Add([]byte(ok))
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw []byte) {
		q, err := request.ParseRequest(raw, now)
		if err != nil {
			var ve *failure.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("refused with %T %v, want *failure.ValidationError", err, err)
			}
			if strings.ContainsFunc(err.Error(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("error echoes control characters: %q", err.Error())
			}
			if msg := err.Error(); !utf8.ValidString(msg) || len(msg) > 400 {
				t.Fatalf("error is not valid UTF-8 or longer than 400 bytes (%d): %q", len(msg), msg)
			}
			return
		}
		if again, err := request.ValidateEmail(q.Email); err != nil || again != q.Email || strings.ToLower(q.Email) != q.Email {
			t.Fatalf("email %q not normalized (%q, %v)", q.Email, again, err)
		}
		finish, err := time.Parse(request.TimeLayout, q.FinishTime)
		if err != nil || finish.Format(request.TimeLayout) != q.FinishTime {
			t.Fatalf("finishTime %q", q.FinishTime)
		}
		if q.StartTime != "" {
			start, err := time.Parse(request.TimeLayout, q.StartTime)
			if err != nil || !start.Before(finish) {
				t.Fatalf("window %q..%q", q.StartTime, q.FinishTime)
			}
		}
		if !slices.IsSorted(q.EventTypes) || len(slices.Compact(slices.Clone(q.EventTypes))) != len(q.EventTypes) {
			t.Fatalf("event types %q not sorted and unique", q.EventTypes)
		}
		// Idempotent: the normalized query is itself an input meaning the same.
		b, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		q2, err := request.ParseRequest(b, now.Add(time.Hour))
		if err != nil || !reflect.DeepEqual(q, q2) {
			t.Fatalf("re-parsing %s gave %+v, %v; want %+v", b, q2, err, q)
		}
		// Safe to put in a URL path and an object key.
		seg := avepoint.EncodeEmailPath(q.Email)
		once, _ := url.PathUnescape(seg)
		if twice, _ := url.PathUnescape(once); twice != q.Email || strings.ContainsAny(seg, "/?#") {
			t.Fatalf("path segment %q for %q", seg, q.Email)
		}
		key := request.ObjectKey("reports", q)
		if !utf8.ValidString(key) || strings.Contains(key, "..") || strings.Contains(key, "//") || len(key) > 1024 {
			t.Fatalf("object key %q", key)
		}
	})
}
