package request

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/insights-export/insights-export/internal/failure"
)

// maxMessage bounds a validation message: it becomes a Step Functions
// cause, a log line and an HTTP answer.
const maxMessage = 300

// Every validation message is valid UTF-8, bounded, and names the
// character at fault as the user wrote it: not one byte of it read as
// Latin-1 ("Ã" for é), not a half-cut sequence.
func TestValidationMessagesAreValidUTF8AndBounded(t *testing.T) {
	tests := []struct {
		name, in, field string
		mention         string // the message names this character
	}{
		{"é in the local part", `{"email":"josé@contoso.com"}`, "email", "'é'"},
		{"emoji in the local part", `{"email":"a😀b@contoso.com"}`, "email", "'😀'"},
		{"é in the domain", `{"email":"a@contosé.com"}`, "email", "'é'"},
		{"emoji in the domain", `{"email":"a@😀.com"}`, "email", "'😀'"},
		{"right-to-left override", `{"email":"a\u202eb@contoso.com"}`, "email", `'\u202e'`},
		{"invalid UTF-8 address", "{\"email\":\"a\xc3b@contoso.com\"}", "email", ""},
		{"é in an event type", `{"email":"a@contoso.com","eventTypes":["FileAccessé"]}`, "eventTypes[0]", "'é'"},
		{"emoji in an event type", `{"email":"a@contoso.com","eventTypes":["😀"]}`, "eventTypes[0]", "'😀'"},
		{"invalid UTF-8 event type", "{\"email\":\"a@contoso.com\",\"eventTypes\":[\"A\xffB\"]}", "eventTypes[0]", ""},
		{"long event type of emoji", `{"email":"a@contoso.com","eventTypes":["` + strings.Repeat("😀", 16) + `"]}`, "eventTypes[0]", "'😀'"},
		{"start time of é", `{"email":"a@contoso.com","startTime":"` + strings.Repeat("é", 200) + `"}`, "startTime", ""},
		{"start time of é cut mid-character", `{"email":"a@contoso.com","startTime":"` + strings.Repeat("x", 79) + strings.Repeat("é", 100) + `"}`, "startTime", ""},
		{"long unknown field", `{"email":"a@contoso.com","` + strings.Repeat("é", 5000) + `":1}`, strings.Repeat("é", 32) + "…", ""},
		{"long repeated field", `{"email":"a@contoso.com","` + strings.Repeat("x", 5000) + `":1,"` + strings.Repeat("X", 5000) + `":2}`, strings.Repeat("X", 64) + "…", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tt.in), testNow)
			var ve *failure.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v (%T), want *ValidationError", err, err)
			}
			msg := err.Error()
			if ve.Field != tt.field {
				t.Errorf("field %q, want %q", ve.Field, tt.field)
			}
			if !utf8.ValidString(msg) || len(msg) > maxMessage {
				t.Fatalf("message (%d bytes, valid UTF-8 %v): %q", len(msg), utf8.ValidString(msg), msg)
			}
			if tt.mention != "" && !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q does not name %s", msg, tt.mention)
			}
			if strings.ContainsAny(msg, "ÃÂ") {
				t.Errorf("message %q shows a byte of a character as Latin-1", msg)
			}
		})
	}
	// The other validators, called directly (the HTTP API and the batch
	// step do), hold to the same.
	for _, v := range []string{"\xffa@b.co", "a@b\xff.co", "é@b.co", strings.Repeat("é", 200) + "@b.co"} {
		_, err := ValidateEmail(v)
		if err == nil || !utf8.ValidString(err.Error()) || len(err.Error()) > maxMessage {
			t.Errorf("ValidateEmail(%q): %v", v, err)
		}
	}
	for _, p := range []string{strings.Repeat("é", 100), "\xff\xfe", "😀"} {
		_, err := (WindowRequest{Period: p}).Validate(testNow)
		if err == nil || !utf8.ValidString(err.Error()) || len(err.Error()) > maxMessage {
			t.Errorf("window period %q: %v", p, err)
		}
	}
}
