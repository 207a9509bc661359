package request

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/insights-export/insights-export/internal/failure"
)

// Request is the execution input, as users write it. Only Email is required.
type Request struct {
	Email      string   `json:"email"`
	StartTime  string   `json:"startTime,omitempty"`
	FinishTime string   `json:"finishTime,omitempty"`
	EventTypes []string `json:"eventTypes,omitempty"`
	// StartedBy is the field Step Functions' console reads to link a child
	// execution to the parent that started it (the batch state machine
	// sets it). Accepted so the strict decoder does not refuse it; ignored.
	StartedBy string `json:"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID,omitempty"`
	// PinnedNow is set by the HTTP API on a keyed request's execution
	// input: true when finishTime (or the window's at) is the time of the
	// request because the client left it open. A retry with the same key
	// is compared with the request as sent; the steps ignore it.
	PinnedNow *bool `json:"pinnedNow,omitempty"`
}

// Query is a validated, normalized request: the email lower-cased (UPNs
// are case-insensitive), the window pinned (a missing finishTime becomes
// the time the export started) and the event types sorted without repeats.
// Equal queries export the same data and get the same object key.
type Query struct {
	Email      string   `json:"email"`
	StartTime  string   `json:"startTime,omitempty"`
	FinishTime string   `json:"finishTime"`
	EventTypes []string `json:"eventTypes,omitempty"`
}

// Limits on the input. AvePoint documents none; these keep keys, query
// strings and logs bounded and catch obvious mistakes early.
const (
	MaxInputBytes  = 64 << 10
	MaxEmailLen    = 256
	MaxEventTypes  = 50
	MaxEventType   = 64
	clockSkew      = 5 * time.Minute
	earliestWindow = "2000-01-01T00:00:00"
)

// ParseRequest decodes and validates an execution input strictly: unknown
// fields, trailing data, wrong JSON types and oversized bodies are refused
// with a ValidationError naming the field.
func ParseRequest(raw []byte, now time.Time) (Query, error) {
	if len(raw) > MaxInputBytes {
		return Query{}, &failure.ValidationError{Reason: fmt.Sprintf("input is %d bytes; at most %d", len(raw), MaxInputBytes)}
	}
	if err := checkDuplicateKeys(raw); err != nil {
		return Query{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		return Query{}, decodeError(err, "email, startTime, finishTime, eventTypes")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Query{}, &failure.ValidationError{Reason: "input must be one JSON object with nothing after it"}
	}
	return req.Validate(now)
}

// decodeError names the field at fault in a json decoding error; allowed
// lists the fields of the object being decoded, for unknown-field messages.
func decodeError(err error, allowed string) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return &failure.ValidationError{Reason: "input must be a JSON object"}
		}
		return &failure.ValidationError{Field: field, Reason: "must be a " + jsonKind(typeErr.Type.Kind().String())}
	case errors.As(err, &syntaxErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &failure.ValidationError{Reason: "input is not valid JSON"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json quotes the name with %q: escaped, but as long as
		// the input made it.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &failure.ValidationError{Field: boundField(name), Reason: "unknown field (allowed: " + allowed + ")"}
	}
	return &failure.ValidationError{Reason: "input is not a valid request"}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice":
		return "list of strings"
	case "struct", "map":
		return "JSON object"
	}
	return goKind
}

// Validate checks a request and returns its normalized Query.
func (r Request) Validate(now time.Time) (Query, error) {
	email, err := ValidateEmail(r.Email)
	if err != nil {
		return Query{}, err
	}
	q := Query{Email: email}
	var start, finish time.Time
	if r.StartTime != "" {
		if start, err = parseTime("startTime", r.StartTime); err != nil {
			return Query{}, err
		}
		q.StartTime = r.StartTime
	}
	if r.FinishTime != "" {
		if finish, err = parseTime("finishTime", r.FinishTime); err != nil {
			return Query{}, err
		}
	} else {
		finish = now.UTC().Truncate(time.Second)
	}
	if finish.After(now.Add(clockSkew)) {
		return Query{}, &failure.ValidationError{Field: "finishTime", Reason: "is in the future; activity after now cannot be exported"}
	}
	q.FinishTime = finish.Format(TimeLayout)
	if !start.IsZero() && !start.Before(finish) {
		return Query{}, &failure.ValidationError{Field: "startTime", Reason: "must be before finishTime (" + q.FinishTime + ")"}
	}
	if q.EventTypes, err = validateEventTypes(r.EventTypes); err != nil {
		return Query{}, err
	}
	return q, nil
}

// parseTime accepts exactly AvePoint's yyyy-MM-ddTHH:mm:ss, read as UTC:
// no zone suffix, no fraction, no date-only shorthand.
func parseTime(field, v string) (time.Time, error) {
	if len(v) != len(TimeLayout) {
		return time.Time{}, &failure.ValidationError{Field: field, Reason: fmt.Sprintf("%s is not yyyy-MM-ddTHH:mm:ss (UTC, no zone or fraction)", quote(v))}
	}
	t, err := time.Parse(TimeLayout, v)
	if err != nil {
		return time.Time{}, &failure.ValidationError{Field: field, Reason: fmt.Sprintf("%s is not a valid yyyy-MM-ddTHH:mm:ss time", quote(v))}
	}
	if v < earliestWindow {
		return time.Time{}, &failure.ValidationError{Field: field, Reason: "is before " + earliestWindow}
	}
	return t, nil
}

func validateEventTypes(in []string) ([]string, error) {
	if len(in) > MaxEventTypes {
		return nil, &failure.ValidationError{Field: "eventTypes", Reason: fmt.Sprintf("has %d entries; at most %d", len(in), MaxEventTypes)}
	}
	out := make([]string, 0, len(in))
	for i, et := range in {
		field := fmt.Sprintf("eventTypes[%d]", i)
		if et == "" || len(et) > MaxEventType {
			return nil, &failure.ValidationError{Field: field, Reason: fmt.Sprintf("must be 1 to %d letters or digits", MaxEventType)}
		}
		if !utf8.ValidString(et) {
			return nil, &failure.ValidationError{Field: field, Reason: "is not valid UTF-8; event type names are letters and digits only"}
		}
		for _, r := range et {
			if r > unicode.MaxASCII || !isAlnum(byte(r)) {
				return nil, &failure.ValidationError{Field: field, Reason: fmt.Sprintf("%s: character %s is not allowed; event type names are letters and digits only", quote(et), quoteRune(r))}
			}
		}
		// "all" is how a key and a high-water mark spell "no filter"
		// (events=all): a filter of that name would share both with the
		// unfiltered export. Refused in any case, since some tools fold
		// keys.
		if strings.EqualFold(et, "all") {
			return nil, &failure.ValidationError{Field: field, Reason: `"all" is not an event type name; leave eventTypes out to export every event type`}
		}
		out = append(out, et)
	}
	if len(out) == 0 {
		return nil, nil
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ValidateEmail checks a user principal name and returns it lower-cased.
// Entra ID allows A-Z a-z 0-9 ' . - _ ! # ^ ~ in a UPN's local part; a
// guest's is "x_y.com#EXT#". Anything else — spaces, control characters,
// '/', '?', '%', ".." — is refused here rather than sent down a URL path.
// Reasons never repeat the address: they end up in logs and execution
// history.
func ValidateEmail(v string) (string, error) {
	bad := func(reason string) error { return &failure.ValidationError{Field: "email", Reason: reason} }
	switch {
	case v == "":
		return "", bad("is required")
	case len(v) > MaxEmailLen:
		return "", bad(fmt.Sprintf("is %d characters; at most %d", len(v), MaxEmailLen))
	case !utf8.ValidString(v):
		return "", bad("is not valid UTF-8")
	}
	at := strings.IndexByte(v, '@')
	if at < 0 || at != strings.LastIndexByte(v, '@') {
		return "", bad("must contain exactly one @")
	}
	local, domain := v[:at], v[at+1:]
	if local == "" || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "", bad("has an empty local part or misplaced dots")
	}
	for _, r := range local {
		if r > unicode.MaxASCII || !isAlnum(byte(r)) && !strings.ContainsRune("'.-_!#^~", r) {
			return "", bad(fmt.Sprintf("character %s is not allowed in a user principal name", quoteRune(r)))
		}
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "", bad("domain must have a dot")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", bad("has an empty or malformed domain label")
		}
		for _, r := range l {
			if r > unicode.MaxASCII || !isAlnum(byte(r)) && r != '-' {
				return "", bad(fmt.Sprintf("character %s is not allowed in a domain", quoteRune(r)))
			}
		}
	}
	return strings.ToLower(v), nil
}

func isAlnum(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}

// quote renders user input safely inside an error: escaped (control and
// format characters, invalid UTF-8 as \x.. escapes), and cut short at a
// character boundary, so the message stays valid UTF-8 and bounded.
func quote(s string) string {
	return strconv.Quote(cut(s, 80))
}

// quoteRune renders one character of user input: 'é', '😀', '\u202e'.
func quoteRune(r rune) string { return strconv.QuoteRune(r) }

// cut shortens s to at most n bytes, at a character boundary, marking the
// cut with an ellipsis.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// boundField bounds a field name taken from the input (an unknown or
// repeated key) and makes it valid UTF-8.
func boundField(name string) string {
	return cut(strings.ToValidUTF8(name, "\uFFFD"), 64)
}

// Window returns the query's bounds as times (zero start: open).
func (q Query) Window() (start, finish time.Time) {
	if q.StartTime != "" {
		start, _ = time.Parse(TimeLayout, q.StartTime)
	}
	finish, _ = time.Parse(TimeLayout, q.FinishTime)
	return start, finish
}
