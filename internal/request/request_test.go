package request

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/insights-export/insights-export/internal/failure"
)

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestParseRequestAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Query
	}{
		{"email only pins finish to now", `{"email":"Alice@Contoso.com"}`,
			Query{Email: "alice@contoso.com", FinishTime: "2026-11-25T12:00:00"}},
		{"full window, event types sorted and deduped", `{"email":"bob@contoso.com","startTime":"2023-01-01T01:37:57","finishTime":"2023-04-01T01:37:57","eventTypes":["ListViewed","FileAccessed","ListViewed"]}`,
			Query{Email: "bob@contoso.com", StartTime: "2023-01-01T01:37:57", FinishTime: "2023-04-01T01:37:57", EventTypes: []string{"FileAccessed", "ListViewed"}}},
		{"guest UPN", `{"email":"a_b.com#EXT#@t.onmicrosoft.com"}`,
			Query{Email: "a_b.com#ext#@t.onmicrosoft.com", FinishTime: "2026-11-25T12:00:00"}},
		{"finish within clock skew", `{"email":"c@d.io","finishTime":"2026-11-25T12:04:00"}`,
			Query{Email: "c@d.io", FinishTime: "2026-11-25T12:04:00"}},
		{"empty event list", `{"email":"c@d.io","eventTypes":[]}`,
			Query{Email: "c@d.io", FinishTime: "2026-11-25T12:00:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tt.in), testNow)
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if got.Email != tt.want.Email || got.StartTime != tt.want.StartTime || got.FinishTime != tt.want.FinishTime ||
				strings.Join(got.EventTypes, ",") != strings.Join(tt.want.EventTypes, ",") {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseRequestRefuses(t *testing.T) {
	tests := []struct {
		name, in, field string
	}{
		{"not JSON", `email=a@b.c`, ""},
		{"array", `[{"email":"a@b.co"}]`, ""},
		{"trailing data", `{"email":"a@b.co"} {}`, ""},
		{"missing email", `{}`, "email"},
		{"email wrong type", `{"email":42}`, "email"},
		{"unknown field", `{"email":"a@b.co","user":"x"}`, "user"},
		{"no at", `{"email":"alice.contoso.com"}`, "email"},
		{"two ats", `{"email":"a@b@c.com"}`, "email"},
		{"slash", `{"email":"a/../b@c.com"}`, "email"},
		{"question mark", `{"email":"a?x=1@c.com"}`, "email"},
		{"percent", `{"email":"a%40@c.com"}`, "email"},
		{"CRLF", `{"email":"a\r\nb@c.com"}`, "email"},
		{"space", `{"email":" a@c.com"}`, "email"},
		{"double dot", `{"email":"a..b@c.com"}`, "email"},
		{"domain without dot", `{"email":"a@localhost"}`, "email"},
		{"domain path", `{"email":"a@c.com/x"}`, "email"},
		{"overlong", `{"email":"` + strings.Repeat("a", 260) + `@c.com"}`, "email"},
		{"zone suffix", `{"email":"a@c.com","startTime":"2023-01-01T00:00:00Z"}`, "startTime"},
		{"fraction", `{"email":"a@c.com","startTime":"2023-01-01T00:00:00.5"}`, "startTime"},
		{"date only", `{"email":"a@c.com","finishTime":"2023-01-01"}`, "finishTime"},
		{"invalid date", `{"email":"a@c.com","startTime":"2023-02-30T00:00:00"}`, "startTime"},
		{"start after finish", `{"email":"a@c.com","startTime":"2023-05-01T00:00:00","finishTime":"2023-04-01T00:00:00"}`, "startTime"},
		{"start equals finish", `{"email":"a@c.com","startTime":"2023-05-01T00:00:00","finishTime":"2023-05-01T00:00:00"}`, "startTime"},
		{"finish in the future", `{"email":"a@c.com","finishTime":"2027-01-01T00:00:00"}`, "finishTime"},
		{"absurd start", `{"email":"a@c.com","startTime":"1970-01-01T00:00:00"}`, "startTime"},
		{"empty event type", `{"email":"a@c.com","eventTypes":[""]}`, "eventTypes[0]"},
		{"event type with space", `{"email":"a@c.com","eventTypes":["File Accessed"]}`, "eventTypes[0]"},
		{"event types not a list", `{"email":"a@c.com","eventTypes":"FileAccessed"}`, "eventTypes"},
		{"event type not a string", `{"email":"a@c.com","eventTypes":[1]}`, "eventTypes"},
		{"too many event types", `{"email":"a@c.com","eventTypes":[` + strings.TrimSuffix(strings.Repeat(`"A",`, 51), ",") + `]}`, "eventTypes"},
		{"oversized", `{"email":"a@c.com","startTime":"` + strings.Repeat("x", MaxInputBytes) + `"}`, ""},
		{"event type all", `{"email":"a@c.com","eventTypes":["all"]}`, "eventTypes[0]"},
		{"event type All among others", `{"email":"a@c.com","eventTypes":["FileAccessed","All"]}`, "eventTypes[1]"},
		{"repeated key, last wins otherwise", `{"email":"a@c.com","email":"b@c.com"}`, "email"},
		{"repeated key in another case", `{"email":"a@c.com","EMAIL":"b@c.com"}`, "EMAIL"},
		{"repeated list", `{"email":"a@c.com","eventTypes":[],"eventTypes":["A"]}`, "eventTypes"},
		{"repeated parent link", `{"email":"a@c.com","AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID":"x","AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID":"y"}`, "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"},
		{"nested too deep", `{"email":"a@c.com","eventTypes":` + strings.Repeat("[", 33) + strings.Repeat("]", 33) + `}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tt.in), testNow)
			var ve *failure.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v (%T), want *ValidationError", err, err)
			}
			if ve.Field != tt.field {
				t.Fatalf("field = %q, want %q (%v)", ve.Field, tt.field, err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error echoes control characters: %q", err.Error())
			}
		})
	}
}

func TestValidationErrorsDoNotEchoTheEmail(t *testing.T) {
	_, err := ValidateEmail("secret.person/x@contoso.com")
	if err == nil || strings.Contains(err.Error(), "secret.person") {
		t.Fatalf("error %v should not repeat the address", err)
	}
}

func TestWaitPolicyGrowsWithAgeAndIsCapped(t *testing.T) {
	p := WaitPolicy{Min: 5 * time.Second, Max: 5 * time.Minute, AgeFactor: 0.2, Deadline: 6 * time.Hour}
	tests := []struct {
		age, want time.Duration
	}{
		{0, 5 * time.Second},
		{10 * time.Second, 5 * time.Second},
		{time.Minute, 12 * time.Second},
		{10 * time.Minute, 2 * time.Minute},
		{time.Hour, 5 * time.Minute},
		{6*time.Hour - 30*time.Second, 30 * time.Second}, // never past the deadline
	}
	for _, tt := range tests {
		t.Run(tt.age.String(), func(t *testing.T) {
			if got := p.Next(tt.age); got != tt.want {
				t.Fatalf("Next(%s) = %s, want %s", tt.age, got, tt.want)
			}
		})
	}
}

// The proportional wait is rounded down, never up: a wait of more than
// AgeFactor×age would break the detection-delay bound.
func TestWaitPolicyRoundsDown(t *testing.T) {
	p := WaitPolicy{Min: time.Second, Max: time.Hour, AgeFactor: 0.1, Deadline: 24 * time.Hour}
	tests := []struct {
		age, want time.Duration
	}{
		{55 * time.Second, 5 * time.Second},
		{59*time.Second + 900*time.Millisecond, 5 * time.Second},
		{60 * time.Second, 6 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.age.String(), func(t *testing.T) {
			if got := p.Next(tt.age); got != tt.want {
				t.Fatalf("Next(%s) = %s, want %s", tt.age, got, tt.want)
			}
		})
	}
	// 600 s × 0.09 is 53.999… in floating point; it must still be 54 s.
	if got := (WaitPolicy{Min: time.Second, Max: time.Hour, AgeFactor: 0.09, Deadline: 24 * time.Hour}).Next(10 * time.Minute); got != 54*time.Second {
		t.Fatalf("Next(10m) at 0.09 = %s, want 54s", got)
	}
}

// The default policy's promises (BENCHMARKS.md "Polling cost"): a job
// that ends between two polls is noticed within 10 % of its age, with a
// tenth of that left for the poll's own latency, for every age from
// 1 minute to 24 hours; and a 24-hour job stays under 2,500 history
// events (9 per poll: Wait 2, Task 5, Choice 2; 14 for the rest).
func TestDefaultWaitPolicyBounds(t *testing.T) {
	p := DefaultWaitPolicy
	p.Deadline = 25 * time.Hour
	if p.AgeFactor > 0.09 {
		t.Fatalf("AgeFactor %.2f leaves no room under 10 %% for the poll's own latency", p.AgeFactor)
	}
	for age := time.Minute; age <= 24*time.Hour; age += time.Second {
		w := p.Next(age)
		if w > p.Min && float64(w) > p.AgeFactor*float64(age) {
			t.Fatalf("Next(%s) = %s: more than AgeFactor (%.2f) of the age", age, w, p.AgeFactor)
		}
		if float64(w) > 0.1*float64(age) {
			t.Fatalf("Next(%s) = %s: more than 10 %% of the age", age, w)
		}
	}
	polls, age := 0, time.Duration(0)
	for age < 24*time.Hour {
		age += p.Next(age)
		polls++
	}
	if events := 14 + 9*polls; events > 2500 {
		t.Fatalf("a 24-hour job takes %d polls, %d history events; want ≤ 2,500", polls, events)
	}
	t.Logf("24-hour job: %d polls", polls)
}

func TestObjectKey(t *testing.T) {
	tests := []struct {
		name string
		q    Query
		want string
	}{
		{"open start, all events", Query{Email: "alice@contoso.com", FinishTime: "2023-04-01T01:37:57"},
			"reports/user=alice@contoso.com/window=earliest--20230401T013757Z/events=all/activities.zip"},
		{"guest UPN escaped", Query{Email: "a_b.com#ext#@t.onmicrosoft.com", StartTime: "2023-01-01T00:00:00", FinishTime: "2023-01-02T00:00:00", EventTypes: []string{"FileAccessed", "ListViewed"}},
			"reports/user=a_b.com%23ext%23@t.onmicrosoft.com/window=20230101T000000Z--20230102T000000Z/events=FileAccessed+ListViewed/activities.zip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ObjectKey("/reports/", tt.q); got != tt.want {
				t.Fatalf("ObjectKey = %s\nwant       %s", got, tt.want)
			}
		})
	}
	t.Run("long event lists are hashed", func(t *testing.T) {
		var types []string
		for i := 0; i < 40; i++ {
			types = append(types, "EventTypeNumber"+strings.Repeat("X", i%5)+string(rune('A'+i%26)))
		}
		k := ObjectKey("p", Query{Email: "a@b.co", FinishTime: "2023-01-02T00:00:00", EventTypes: types})
		if !strings.Contains(k, "/events=sha256-") || len(k) > 200 {
			t.Fatalf("key %q should hash a long event list", k)
		}
	})
}

// The duplicate-key pass refuses repeats only: the same name in different
// objects, and names that differ, are fine; and it reads only the first
// value, leaving trailing data to the decoder's own message.
func TestDuplicateKeysAllowsWhatIsNotARepeat(t *testing.T) {
	for _, in := range []string{
		`{"emails":["a@x.io","b@x.io"],"eventTypes":["A"],"window":{"period":"day","incremental":true}}`,
		`{"email":"a@x.io","startTime":"2026-01-01T00:00:00","finishTime":"2026-01-02T00:00:00"}`,
		`[{"a":1},{"a":1}]`,
		`{"a":{"b":1},"c":{"b":1}}`,
		`{"a":1} {"a":1}`,
		`{"a":`,
	} {
		if err := checkDuplicateKeys([]byte(in)); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
	// The Kelvin sign K folds to k, as encoding/json matches names.
	err := checkDuplicateKeys([]byte(`{"kind":1,"\u212aind":2}`))
	var ve *failure.ValidationError
	if !errors.As(err, &ve) || ve.Field != "\u212aind" {
		t.Fatalf("Kelvin sign: %v", err)
	}
	// Paths name elements of arrays too.
	err = checkDuplicateKeys([]byte(`{"a":[{"x":1},{"x":1,"x":2}]}`))
	if !errors.As(err, &ve) || ve.Field != "a[1].x" {
		t.Fatalf("array element: %v", err)
	}
}
