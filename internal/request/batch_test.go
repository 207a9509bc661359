package request

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	_ "time/tzdata"

	"github.com/insights-export/insights-export/internal/failure"
	"github.com/insights-export/insights-export/internal/schedule"
)

func TestParseBatchAccepts(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   Batch
		single bool
		start  string // Fixed()
		finish string
	}{
		{"one user as email is a single export", `{"email":"Alice@Contoso.com","startTime":"2026-11-01T00:00:00"}`,
			Batch{Email: "alice@contoso.com", StartTime: "2026-11-01T00:00:00", FinishTime: "2026-11-25T12:00:00"}, true,
			"2026-11-01T00:00:00", "2026-11-25T12:00:00"},
		{"emails lower-cased, order kept, times shared", `{"emails":["B@x.io","a@x.io"],"finishTime":"2026-11-20T00:00:00","eventTypes":["X","A","X"]}`,
			Batch{Emails: []string{"b@x.io", "a@x.io"}, FinishTime: "2026-11-20T00:00:00", EventTypes: []string{"A", "X"}}, false,
			"", "2026-11-20T00:00:00"},
		{"daily Berlin window resolves to the Berlin day in UTC", `{"emails":["a@x.io"],"window":{"period":"daily","timeZone":"Europe/Berlin","at":"2026-11-24T23:15:00Z"}}`,
			Batch{Emails: []string{"a@x.io"}, Window: &Rolling{Period: schedule.Day, TimeZone: "Europe/Berlin", At: "2026-11-24T23:15:00Z"}}, false,
			"2026-11-23T23:00:00", "2026-11-24T23:00:00"},
		{"window defaults: UTC, at = now", `{"email":"a@x.io","window":{"period":"hour"}}`,
			Batch{Email: "a@x.io", Window: &Rolling{Period: schedule.Hour, TimeZone: "UTC", At: "2026-11-25T12:00:00Z"}}, false,
			"2026-11-25T11:00:00", "2026-11-25T12:00:00"},
		{"incremental gets a default lookback", `{"emails":["a@x.io"],"window":{"period":"day","incremental":true,"overlapMinutes":30}}`,
			Batch{Emails: []string{"a@x.io"}, Window: &Rolling{Period: schedule.Day, TimeZone: "UTC", Incremental: true, LookbackPeriods: 1, OverlapMinutes: 30, At: "2026-11-25T12:00:00Z"}}, false,
			"2026-11-23T23:30:00", "2026-11-25T00:00:00"},
		{"the console's parent link is accepted", `{"emails":["a@x.io"],"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID":"arn:aws:states:us-east-1:1:execution:p:e"}`,
			Batch{Emails: []string{"a@x.io"}, FinishTime: "2026-11-25T12:00:00"}, false, "", "2026-11-25T12:00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBatch([]byte(tt.in), testNow)
			if err != nil {
				t.Fatalf("ParseBatch: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v (window %+v)\nwant %+v (window %+v)", got, got.Window, tt.want, tt.want.Window)
			}
			if _, single := got.Single(); single != tt.single {
				t.Errorf("Single() = %v, want %v", single, tt.single)
			}
			if !got.Incremental() {
				if s, f := got.Fixed(); s != tt.start || f != tt.finish {
					t.Errorf("Fixed() = %s, %s; want %s, %s", s, f, tt.start, tt.finish)
				}
			}
			// The normalized form is an input that means the same, later.
			raw, _ := json.Marshal(got)
			again, err := ParseBatch(raw, testNow.Add(48*3600e9))
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("re-parsing %s two days later: %+v, %v", raw, again, err)
			}
		})
	}
}

func TestParseBatchRefuses(t *testing.T) {
	many := make([]string, MaxBatchUsers+1)
	for i := range many {
		many[i] = fmt.Sprintf("u%d@x.io", i)
	}
	tooMany, _ := json.Marshal(map[string]any{"emails": many})
	tests := []struct {
		name, in, field, reason string
	}{
		{"not JSON", `emails`, "", "not valid JSON"},
		{"no users", `{}`, "emails", "required"},
		{"empty list", `{"emails":[]}`, "emails", "at least one"},
		{"email and emails", `{"email":"a@x.io","emails":["b@x.io"]}`, "emails", "give one of"},
		{"emails and usersFrom", `{"emails":["b@x.io"],"usersFrom":"lists/u.csv"}`, "emails", "give one of"},
		{"usersFrom and allUsers", `{"usersFrom":"lists/u.csv","allUsers":{}}`, "emails", "give one of"},
		{"usersFrom a folder", `{"usersFrom":"lists/"}`, "usersFrom", "naming an object"},
		{"usersFrom without key", `{"usersFrom":"s3://bucket"}`, "usersFrom", "naming an object"},
		{"usersFrom bad bucket", `{"usersFrom":"s3://Bad_Bucket/u.csv"}`, "usersFrom", "bucket name"},
		{"usersFrom absolute key", `{"usersFrom":"/lists/u.csv"}`, "usersFrom", "must not start with /"},
		{"usersFrom control character", "{\"usersFrom\":\"lists/u\\n.csv\"}", "usersFrom", "control character"},
		{"allUsers not an object", `{"allUsers":true}`, "allUsers", "JSON object"},
		{"allUsers unknown field", `{"allUsers":{"statuses":["Active"]}}`, "allUsers.statuses", "status, guests"},
		{"allUsers unknown status", `{"allUsers":{"status":["Disabled"]}}`, "allUsers.status[0]", "Disabled"},
		{"allUsers empty status", `{"allUsers":{"status":[]}}`, "allUsers.status", "at least one"},
		{"allUsers repeated status", `{"allUsers":{"status":["Active","active"]}}`, "allUsers.status[1]", "twice"},
		{"allUsers guests not a bool", `{"allUsers":{"guests":"no"}}`, "allUsers.guests", "bool"},
		{"allUsers bad domain", `{"allUsers":{"domains":["contoso"]}}`, "allUsers.domains[0]", "domain"},
		{"allUsers exclude only stars", `{"allUsers":{"exclude":["**"]}}`, "allUsers.exclude[0]", "more than *"},
		{"allUsers exclude with a space", `{"allUsers":{"exclude":["a *@x.io"]}}`, "allUsers.exclude[0]", "space"},
		{"allUsers exclude not an address", `{"allUsers":{"exclude":["alice"]}}`, "allUsers.exclude[0]", "exactly one @"},
		{"allUsers with a bad window", `{"allUsers":{},"window":{"period":"day","at":"1999-06-01T00:00:00Z"}}`, "window", "before"},
		{"emails not a list", `{"emails":"a@x.io"}`, "emails", "list"},
		{"bad address names its index", `{"emails":["a@x.io","b/c@x.io"]}`, "emails[1]", "not allowed"},
		{"case-insensitive duplicate names both indexes", `{"emails":["a@x.io","b@x.io","A@X.IO"]}`, "emails[2]", "repeats emails[0]"},
		{"too many users", string(tooMany), "emails", "at most 5000"},
		{"oversized input", `{"emails":["` + strings.Repeat("a", MaxBatchInputBytes) + `@x.io"]}`, "", "bytes"},
		{"unknown field lists the allowed ones", `{"emails":["a@x.io"],"users":[]}`, "users", "window"},
		{"window with fixed times", `{"emails":["a@x.io"],"startTime":"2026-01-01T00:00:00","window":{"period":"day"}}`, "window", "cannot be combined"},
		{"window not an object", `{"emails":["a@x.io"],"window":"daily"}`, "window", "JSON object"},
		{"window without period", `{"emails":["a@x.io"],"window":{}}`, "window.period", "required"},
		{"unknown period", `{"emails":["a@x.io"],"window":{"period":"fortnight"}}`, "window.period", "fortnight"},
		{"unknown time zone", `{"emails":["a@x.io"],"window":{"period":"day","timeZone":"Mars/Olympus"}}`, "window.timeZone", "IANA"},
		{"Local is not a zone", `{"emails":["a@x.io"],"window":{"period":"day","timeZone":"Local"}}`, "window.timeZone", "IANA"},
		{"negative overlap", `{"emails":["a@x.io"],"window":{"period":"day","overlapMinutes":-5}}`, "window.overlapMinutes", "0 to"},
		{"huge overlap", `{"emails":["a@x.io"],"window":{"period":"day","overlapMinutes":99999}}`, "window.overlapMinutes", "0 to"},
		{"lookback without incremental", `{"emails":["a@x.io"],"window":{"period":"day","lookbackPeriods":3}}`, "window.lookbackPeriods", "incremental"},
		{"lookback too long", `{"emails":["a@x.io"],"window":{"period":"day","incremental":true,"lookbackPeriods":400}}`, "window.lookbackPeriods", "1 to"},
		{"at without zone", `{"emails":["a@x.io"],"window":{"period":"day","at":"2026-11-25T00:00:00"}}`, "window.at", "RFC 3339"},
		{"at in the future", `{"emails":["a@x.io"],"window":{"period":"day","at":"2027-01-01T00:00:00Z"}}`, "window.at", "future"},
		{"window before the earliest export", `{"emails":["a@x.io"],"window":{"period":"day","at":"1999-06-01T00:00:00Z"}}`, "window", "before"},
		{"unknown window field", `{"emails":["a@x.io"],"window":{"period":"day","tz":"UTC"}}`, "window.tz", "timeZone"},
		{"wrong window field type", `{"emails":["a@x.io"],"window":{"period":"day","incremental":"yes"}}`, "window.incremental", "bool"},
		{"bad event type", `{"emails":["a@x.io"],"eventTypes":["a b"]}`, "eventTypes[0]", "letters and digits"},
		{"bad event type with a window", `{"emails":["a@x.io"],"eventTypes":["a b"],"window":{"period":"day"}}`, "eventTypes[0]", "letters and digits"},
		{"repeated key", `{"emails":["a@x.io"],"emails":["b@x.io"]}`, "emails", "more than once"},
		{"repeated window key", `{"emails":["a@x.io"],"window":{"period":"day","timeZone":"UTC","timezone":"Europe/Berlin"}}`, "window.timezone", "more than once"},
		{"repeated window", `{"emails":["a@x.io"],"window":{"period":"day"},"Window":{"period":"hour"}}`, "Window", "more than once"},
		{"event type all with a window", `{"emails":["a@x.io"],"eventTypes":["ALL"],"window":{"period":"day"}}`, "eventTypes[0]", "leave eventTypes out"},
		{"fixed window checked as for one user", `{"emails":["a@x.io"],"startTime":"2026-11-25T00:00:00","finishTime":"2026-11-24T00:00:00"}`, "startTime", "before finishTime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBatch([]byte(tt.in), testNow)
			var ve *failure.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v (%T), want *ValidationError", err, err)
			}
			if ve.Field != tt.field || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("got field %q: %v; want field %q mentioning %q", ve.Field, err, tt.field, tt.reason)
			}
		})
	}
}

func TestParseBatchAcceptsTheLimit(t *testing.T) {
	users := make([]string, MaxBatchUsers)
	for i := range users {
		users[i] = fmt.Sprintf("u%d@x.io", i)
	}
	raw, _ := json.Marshal(map[string]any{"emails": users})
	b, err := ParseBatch(raw, testNow)
	if err != nil || len(b.Users()) != MaxBatchUsers {
		t.Fatalf("%d users: %v", len(b.Users()), err)
	}
	many := append(users, "one.more@x.io")
	_, err = (BatchRequest{Emails: many}).Validate(testNow)
	var ve *failure.ValidationError
	if !errors.As(err, &ve) || ve.Field != "emails" || !strings.Contains(ve.Reason, "at most 5000") {
		t.Fatalf("5001 users: %v", err)
	}
}

func TestParseRequestAcceptsTheParentLink(t *testing.T) {
	q, err := ParseRequest([]byte(`{"email":"a@x.io","AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID":"arn:aws:states:us-east-1:1:execution:p:e"}`), testNow)
	if err != nil || q.Email != "a@x.io" {
		t.Fatalf("got %+v, %v", q, err)
	}
}
