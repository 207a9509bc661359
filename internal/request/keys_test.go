package request_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/request"
	"github.com/insights-export/insights-export/internal/testing/badinput"
)

var keysNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// genRequest draws a request from small pools, so that near-misses are
// common: the same user in another case, "all" and its cases next to no
// filter, long lists that take the hash fallback, repeats and orderings.
func genRequest(r *rand.Rand) request.Request {
	emails := []string{"a@x.io", "A@X.io", "b@x.io", "all@x.io", "a_b.com#EXT#@t.onmicrosoft.com",
		"a_b.com%23EXT%23@t.onmicrosoft.com", "sha256-0011223344556677@x.io", "a+b@x.io",
		strings.Repeat("#", 252) + "@x.i", strings.Repeat("q", 240) + "#EXT#@x.io"}
	types := []string{"all", "All", "ALL", "A", "B", "AB", "FileAccessed", "sha256", "events", "a"}
	times := []string{"", "2026-01-01T00:00:00", "2026-01-02T00:00:00", "2026-02-01T00:00:00"}
	req := request.Request{Email: emails[r.IntN(len(emails))], StartTime: times[r.IntN(len(times))], FinishTime: times[1+r.IntN(len(times)-1)]}
	switch r.IntN(4) {
	case 0: // no filter
	case 1:
		req.EventTypes = []string{}
	case 2:
		for range 1 + r.IntN(4) {
			req.EventTypes = append(req.EventTypes, types[r.IntN(len(types))])
		}
	case 3: // long: the hash fallback, and the key-length fallback
		for range 1 + r.IntN(request.MaxEventTypes) {
			req.EventTypes = append(req.EventTypes, strings.Repeat(string(rune('A'+r.IntN(3))), 1+r.IntN(request.MaxEventType)))
		}
	}
	return req
}

// No two different normalized requests share an object key: one report
// never overwrites another's. Before "all" was refused, {} and
// {"eventTypes":["all"]} both became events=all.
func TestObjectKeysAreDistinct(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 1))
	byKey := map[string]request.Query{}
	var refused, hashed, unfiltered int
	for range 50000 {
		q, err := genRequest(r).Validate(keysNow)
		if err != nil {
			refused++
			continue
		}
		key := request.ObjectKey("reports", q)
		if prev, ok := byKey[key]; ok && !reflect.DeepEqual(prev, q) {
			t.Fatalf("%+v and %+v share the key %s", prev, q, key)
		}
		byKey[key] = q
		if strings.Contains(key, "/events=sha256-") {
			hashed++
		}
		if strings.Contains(key, "/events=all/") {
			unfiltered++
		}
	}
	// The generator reached the cases that matter.
	if refused == 0 || hashed == 0 || unfiltered == 0 || len(byKey) < 1000 {
		t.Fatalf("%d keys, %d refused, %d hashed, %d unfiltered", len(byKey), refused, hashed, unfiltered)
	}
}

// extremeRequests are the accepted inputs that make the longest keys and
// metadata: the longest addresses (every escaped character, guests), the
// most and longest event types.
func extremeRequests() []request.Request {
	emails := []string{
		"a@b.co",
		strings.Repeat("#", 252) + "@b.c", // 756 bytes escaped
		strings.Repeat("!", 120) + "#EXT#" + strings.Repeat("^", 100) + "@b.c", // guest, escaped
		strings.Repeat("x", 64) + "_" + strings.Repeat("d", 40) + ".com#EXT#@" + strings.Repeat("t", 63) + ".onmicrosoft.com",
		strings.Repeat("a", 200) + "@" + strings.Repeat("d", 51) + ".io",
	}
	var lists [][]string
	lists = append(lists, nil, []string{"A"})
	for _, n := range []int{3, 4, 40, request.MaxEventTypes} {
		var l []string
		for i := range n {
			l = append(l, fmt.Sprintf("%s%02d", strings.Repeat("E", request.MaxEventType-2), i))
		}
		lists = append(lists, l)
	}
	var out []request.Request
	for _, e := range emails {
		for _, l := range lists {
			out = append(out, request.Request{Email: e, StartTime: "2026-01-01T00:00:00", FinishTime: "2026-02-01T00:00:00", EventTypes: l},
				request.Request{Email: e, FinishTime: "2026-02-01T00:00:00", EventTypes: l})
		}
	}
	return out
}

// Every accepted input can be stored: its key is within S3's 1,024 bytes
// for every prefix up to MaxPrefixBytes. moto does not enforce the limit,
// so only this test does. Before FitKey, 252 escaped characters and three
// 64-character types made a 1,032-byte key under "reports".
func TestObjectKeysFitS3(t *testing.T) {
	for _, prefix := range []string{"", "reports", strings.Repeat("p", 100), strings.Repeat("p/", request.MaxPrefixBytes/2)[:request.MaxPrefixBytes]} {
		for _, req := range extremeRequests() {
			q, err := req.Validate(keysNow)
			if err != nil {
				t.Fatalf("%.40s…: %v", req.Email, err)
			}
			if key := request.ObjectKey(prefix, q); len(key) > request.MaxKeyBytes {
				t.Errorf("prefix %d bytes, address %d, %d event types: key is %d bytes", len(prefix), len(q.Email), len(q.EventTypes), len(key))
			}
		}
	}
}

// A key that fits is spelled as it always was, so deployed users keep
// their objects and marks; only one that could never be stored changes.
func TestObjectKeyShortensOnlyWhatDoesNotFit(t *testing.T) {
	long := strings.Repeat("#", 252) + "@b.c"
	three := []string{strings.Repeat("A", 64), strings.Repeat("B", 64), strings.Repeat("C", 64)}
	tests := []struct {
		name, email string
		types       []string
		want        string // substring
	}{
		{"short: spelled out", "a@b.co", three, "/user=a@b.co/window=20260101T000000Z--20260201T000000Z/events=" + strings.Join(three, "+") + "/activities.zip"},
		{"no filter: events=all", "a@b.co", nil, "/events=all/activities.zip"},
		{"long address: events hashed", long, three, "/user=" + request.KeyEscape(long) + "/window=20260101T000000Z--20260201T000000Z/events=sha256-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := request.ObjectKey("reports", request.Query{Email: tt.email, StartTime: "2026-01-01T00:00:00", FinishTime: "2026-02-01T00:00:00", EventTypes: tt.types})
			if !strings.Contains(key, tt.want) || len(key) > request.MaxKeyBytes {
				t.Fatalf("key %s (%d bytes)\nwant it to contain %s", key, len(key), tt.want)
			}
		})
	}
	// With a prefix that leaves no room for the address, the user is hashed.
	key := request.ObjectKey(strings.Repeat("p", request.MaxPrefixBytes), request.Query{Email: long, FinishTime: "2026-02-01T00:00:00"})
	if !strings.Contains(key, "/user=sha256-") || len(key) > request.MaxKeyBytes || badinput.Leaks(key, long) != "" {
		t.Fatalf("key %s (%d bytes)", key, len(key))
	}
}

// RedactKey and ScrubKey leave no spelling of the address: the key is
// named by reference, and error text quoting the key (or the address) in
// any encoding is cleaned.
func TestScrubKeyRemovesEverySpelling(t *testing.T) {
	for _, email := range []string{"megan.bowen@contoso.com", "x_y.com#ext#@t.onmicrosoft.com", "o'brien!^~@contoso.co.uk"} {
		key := request.ObjectKey("reports", request.Query{Email: email, FinishTime: "2026-02-01T00:00:00", EventTypes: []string{"FileAccessed"}})
		ref := request.UserRef(email)
		if got := request.RedactKey(key); badinput.Leaks(got, email) != "" || !strings.Contains(got, "user="+ref+"/") {
			t.Fatalf("RedactKey(%s) = %s", key, got)
		}
		var text strings.Builder
		for _, sp := range badinput.Spellings(key) {
			fmt.Fprintf(&text, "key %s; ", sp)
		}
		for _, sp := range badinput.Spellings(email) {
			fmt.Fprintf(&text, "address %s; ", sp)
		}
		text.WriteString(`json "` + strings.ReplaceAll(email, "@", `\u0040`) + `"; upper ` + strings.ToUpper(email))
		got := request.ScrubKey(text.String(), key)
		if leak := badinput.Leaks(got, email, strings.ToUpper(email), strings.ReplaceAll(email, "@", `\u0040`)); leak != "" {
			t.Errorf("%s: %q survives in\n%s", email, leak, got)
		}
		local, _, _ := strings.Cut(email, "@")
		if leak := badinput.Leaks(got, local); leak != "" {
			t.Errorf("%s: the local part survives as %q in\n%s", email, leak, got)
		}
		if !strings.Contains(got, request.RedactKey(key)) || !strings.Contains(got, ref) {
			t.Errorf("%s: no reference left in\n%s", email, got)
		}
	}
	// A key without a user (a run's files) is not touched, nor is text
	// that does not quote the key.
	if got := request.RedactKey("reports/runs/2026-11-25/run-1/plan.json"); got != "reports/runs/2026-11-25/run-1/plan.json" {
		t.Fatalf("RedactKey changed a run file's key: %s", got)
	}
	if got := request.ScrubKey("connection refused", "reports/user=a@b.co/x"); got != "connection refused" {
		t.Fatalf("ScrubKey changed unrelated text: %s", got)
	}
	// Nor is text about a key without an address, even where it matches
	// the key but for case (an upload id holding "K", a key "k").
	if got := request.ScrubKey("upload K1 of k failed", "k"); got != "upload K1 of k failed" {
		t.Fatalf("ScrubKey changed text about a key without an address: %s", got)
	}
}
