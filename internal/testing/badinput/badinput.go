// Package badinput is the shared table of malformed requests: execution
// inputs of the export state machine, and the batch input / HTTP API body
// (which adds "emails"). Every case must be refused with an
// *failure.ValidationError naming the field, before anything reaches
// AvePoint.
//
// EXTENSION POINT for the HTTP API (functions/api, internal/api): import
// this package in the API's tests and send every case with Batch set as a
// request body; add API-only cases (headers, methods, content types) to
// the API's own tests, or here with Execution and Batch false and a note.
// Spellings and Leaks serve the leak checks of every package that puts a
// key or an address near an error, and devstack's log scan.
// It is a test fixture: import it from _test.go files only.
package badinput

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/insights-export/insights-export/internal/request"
)

// Case is one malformed request.
type Case struct {
	Name string
	// Body is the raw request: an execution input, or an HTTP API body.
	Body []byte
	// Execution: request.ParseRequest (the single-user execution input)
	// must refuse Body with a ValidationError whose Field is Field
	// ("" = the input as a whole: not JSON, not an object, too large).
	Execution bool
	Field     string
	// Batch: the batch input / HTTP API body (request.ParseBatch) must
	// refuse Body too, naming BatchField.
	Batch      bool
	BatchField string
	// E2E marks the representative subset run through the whole deployed
	// shape (devstack); those bodies are JSON, as Step Functions requires.
	E2E bool
}

// JSON reports whether Body is valid JSON (Step Functions only accepts
// JSON execution inputs; the HTTP API can receive anything).
func (c Case) JSON() bool { return json.Valid(c.Body) }

// both is a case refused alike by the execution input and the batch body.
func both(name, body, field string) Case {
	return Case{Name: name, Body: []byte(body), Execution: true, Field: field, Batch: true, BatchField: field}
}

// single is a case of the single-user execution input only.
func single(name, body, field string) Case {
	return Case{Name: name, Body: []byte(body), Execution: true, Field: field}
}

func withEmail(email string) string {
	b, _ := json.Marshal(map[string]string{"email": email})
	return string(b)
}

func e2e(c Case) Case { c.E2E = true; return c }

// Cases returns the table, built fresh on each call (callers may modify it).
func Cases() []Case {
	long := strings.Repeat("a", request.MaxEmailLen) + "@contoso.com"
	manyTypes := `["` + strings.TrimSuffix(strings.Repeat(`A","`, request.MaxEventTypes+1), `","`) + `"]`
	tooMany := make([]string, request.MaxBatchUsers+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("user%d@contoso.com", i)
	}
	// About 110 KiB: under the byte limit, so the count is what is refused.
	tooManyBody, _ := json.Marshal(map[string]any{"emails": tooMany})
	c := []Case{
		// --- email: missing, malformed, control characters, path tricks
		{Name: "email missing", Body: []byte(`{}`), Execution: true, Field: "email", Batch: true, BatchField: "emails"},
		{Name: "email empty", Body: []byte(`{"email":""}`), Execution: true, Field: "email", Batch: true, BatchField: "emails"},
		{Name: "email null", Body: []byte(`{"email":null}`), Execution: true, Field: "email", Batch: true, BatchField: "emails"},
		both("email without @", withEmail("alice.contoso.com"), "email"),
		both("email with two @", withEmail("a@b@contoso.com"), "email"),
		both("email local part empty", withEmail("@contoso.com"), "email"),
		both("email domain empty", withEmail("alice@"), "email"),
		both("email domain without dot", withEmail("alice@localhost"), "email"),
		both("email leading dot", withEmail(".alice@contoso.com"), "email"),
		both("email double dot", withEmail("al..ice@contoso.com"), "email"),
		both("email inner space", withEmail("alice smith@contoso.com"), "email"),
		both("email leading space", withEmail(" alice@contoso.com"), "email"),
		e2e(both("email CR LF", withEmail("alice\r\n@contoso.com"), "email")),
		both("email header injection", withEmail("alice@contoso.com\nX-Injected: 1"), "email"),
		both("email NUL byte", withEmail("ali\x00ce@contoso.com"), "email"),
		both("email tab", withEmail("ali\tce@contoso.com"), "email"),
		both("email ANSI escape", withEmail("\x1b[31malice@contoso.com"), "email"),
		both("email slash", withEmail("alice/bob@contoso.com"), "email"),
		e2e(both("email dot-dot path", withEmail("../admin@contoso.com"), "email")),
		both("email backslash", withEmail(`alice\bob@contoso.com`), "email"),
		both("email question mark", withEmail("alice?x=1@contoso.com"), "email"),
		both("email percent-encoding", withEmail("%2e%2e%2fadmin@contoso.com"), "email"),
		both("email fragment in domain", withEmail("alice@contoso.com#frag"), "email"),
		both("email path after domain", withEmail("alice@contoso.com/../x"), "email"),
		both("email query after domain", withEmail("alice@contoso.com?x=1"), "email"),
		both("email Cyrillic homoglyph", withEmail("аlice@contoso.com"), "email"),
		both("email invalid UTF-8", "{\"email\":\"\xffalice@contoso.com\"}", "email"),
		both("email overlong", withEmail(long), "email"),
		both("email domain label over 63", withEmail("alice@"+strings.Repeat("d", 64)+".com"), "email"),
		both("email domain label hyphen", withEmail("alice@-contoso.com"), "email"),
		e2e(both("email wrong type number", `{"email":42}`, "email")),
		both("email wrong type list", `{"email":["alice@contoso.com"]}`, "email"),
		both("email wrong type object", `{"email":{"address":"alice@contoso.com"}}`, "email"),
		both("email duplicate key, last bad", `{"email":"alice@contoso.com","email":"../x@contoso.com"}`, "email"),
		// A repeated key would otherwise be last-one-wins: the export
		// would be of b while whoever reads the input sees a. None is E2E:
		// Step Functions (and the devstack interpreter) parse the input
		// and hand the function the last value only; the HTTP API and a
		// direct invocation see the raw body.
		both("email duplicate key, both good", `{"email":"alice@contoso.com","email":"bob@contoso.com"}`, "email"),
		both("email duplicate key in another case", `{"email":"alice@contoso.com","Email":"bob@contoso.com"}`, "Email"),
		both("duplicate key, same value", `{"email":"alice@contoso.com","email":"alice@contoso.com"}`, "email"),
		both("eventTypes duplicate key", `{"email":"a@contoso.com","eventTypes":["FileAccessed"],"eventTypes":[]}`, "eventTypes"),
		both("nested too deep", `{"email":"a@contoso.com","eventTypes":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`, ""),

		// --- times: zone suffix, fractions, date only, order, absurd windows
		e2e(both("startTime zone suffix", `{"email":"a@contoso.com","startTime":"2026-01-01T00:00:00Z"}`, "startTime")),
		both("startTime offset", `{"email":"a@contoso.com","startTime":"2026-01-01T00:00:00+02:00"}`, "startTime"),
		both("startTime fraction", `{"email":"a@contoso.com","startTime":"2026-01-01T00:00:00.5"}`, "startTime"),
		both("finishTime date only", `{"email":"a@contoso.com","finishTime":"2026-01-01"}`, "finishTime"),
		both("startTime space separator", `{"email":"a@contoso.com","startTime":"2026-01-01 00:00:00"}`, "startTime"),
		both("startTime February 30", `{"email":"a@contoso.com","startTime":"2026-02-30T00:00:00"}`, "startTime"),
		both("startTime hour 24", `{"email":"a@contoso.com","startTime":"2026-01-01T24:00:00"}`, "startTime"),
		both("startTime with CR LF", `{"email":"a@contoso.com","startTime":"2026-01-01T00:00:00\r\n"}`, "startTime"),
		e2e(both("start after finish", `{"email":"a@contoso.com","startTime":"2026-05-01T00:00:00","finishTime":"2026-04-01T00:00:00"}`, "startTime")),
		both("start equals finish", `{"email":"a@contoso.com","startTime":"2026-05-01T00:00:00","finishTime":"2026-05-01T00:00:00"}`, "startTime"),
		both("start in the future, no finish", `{"email":"a@contoso.com","startTime":"2099-01-01T00:00:00"}`, "startTime"),
		both("finish far in the future", `{"email":"a@contoso.com","finishTime":"2999-01-01T00:00:00"}`, "finishTime"),
		both("absurd window from 1970", `{"email":"a@contoso.com","startTime":"1970-01-01T00:00:00"}`, "startTime"),
		both("absurd window from year 1", `{"email":"a@contoso.com","startTime":"0001-01-01T00:00:00"}`, "startTime"),
		both("startTime wrong type", `{"email":"a@contoso.com","startTime":1767225600}`, "startTime"),

		// --- event types: empty, invalid names, too many, wrong types
		both("event type empty", `{"email":"a@contoso.com","eventTypes":[""]}`, "eventTypes[0]"),
		both("event type with space", `{"email":"a@contoso.com","eventTypes":["File Accessed"]}`, "eventTypes[0]"),
		both("event type with hyphen", `{"email":"a@contoso.com","eventTypes":["File-Accessed"]}`, "eventTypes[0]"),
		e2e(both("event type path trick", `{"email":"a@contoso.com","eventTypes":["../x"]}`, "eventTypes[0]")),
		both("event type query injection", `{"email":"a@contoso.com","eventTypes":["A&eventTypes=B"]}`, "eventTypes[0]"),
		both("second event type invalid", `{"email":"a@contoso.com","eventTypes":["FileAccessed","bad name"]}`, "eventTypes[1]"),
		both("event type overlong", `{"email":"a@contoso.com","eventTypes":["`+strings.Repeat("A", request.MaxEventType+1)+`"]}`, "eventTypes[0]"),
		both("too many event types", `{"email":"a@contoso.com","eventTypes":`+manyTypes+`}`, "eventTypes"),
		both("event types not a list", `{"email":"a@contoso.com","eventTypes":"FileAccessed"}`, "eventTypes"),
		both("event type not a string", `{"email":"a@contoso.com","eventTypes":[1]}`, "eventTypes"),
		both("event types an object", `{"email":"a@contoso.com","eventTypes":{"FileAccessed":true}}`, "eventTypes"),
		// "all" spells "no filter" in keys and marks (events=all).
		e2e(both("event type all", `{"email":"a@contoso.com","eventTypes":["all"]}`, "eventTypes[0]")),
		both("event type ALL", `{"email":"a@contoso.com","eventTypes":["FileAccessed","ALL"]}`, "eventTypes[1]"),
		both("event type non-ASCII letter", `{"email":"a@contoso.com","eventTypes":["FileAccessé"]}`, "eventTypes[0]"),
		both("event type emoji", `{"email":"a@contoso.com","eventTypes":["File😀"]}`, "eventTypes[0]"),

		// --- structure: unknown fields, wrong JSON types, not JSON, oversized
		e2e(both("unknown field", `{"email":"a@contoso.com","bucket":"elsewhere"}`, "bucket")),
		single("batch field in a single input", `{"emails":["a@contoso.com"]}`, "emails"),
		e2e(both("not an object: string", `"a@contoso.com"`, "")),
		both("not an object: array", `[{"email":"a@contoso.com"}]`, ""),
		both("not an object: number", `42`, ""),
		both("trailing data", `{"email":"a@contoso.com"} {}`, ""),
		both("not JSON: form encoding", `email=a%40contoso.com`, ""),
		both("not JSON: empty body", ``, ""),
		both("not JSON: truncated", `{"email":"a@contoso.com"`, ""),
		both("not JSON: byte order mark", "\xef\xbb\xbf{\"email\":\"a@contoso.com\"}", ""),
		both("not JSON: comment", `{"email":"a@contoso.com" /* me */}`, ""),
		e2e(single("oversized execution input", `{"email":"a@contoso.com","startTime":"`+strings.Repeat("x", request.MaxInputBytes)+`"}`, "")),

		// --- batch input / HTTP API body only
		{Name: "oversized batch body", Body: []byte(`{"email":"a@contoso.com","startTime":"` + strings.Repeat("x", request.MaxBatchInputBytes) + `"}`),
			Batch: true, BatchField: ""},
		{Name: "too many users", Body: tooManyBody, Batch: true, BatchField: "emails"},
		{Name: "duplicate users", Body: []byte(`{"emails":["a@contoso.com","b@contoso.com","A@Contoso.com"]}`), Batch: true, BatchField: "emails[2]"},
		{Name: "empty user list", Body: []byte(`{"emails":[]}`), Batch: true, BatchField: "emails"},
		{Name: "bad email in list", Body: []byte(`{"emails":["a@contoso.com","../b@contoso.com"]}`), Batch: true, BatchField: "emails[1]"},
		{Name: "email and emails", Body: []byte(`{"email":"a@contoso.com","emails":["b@contoso.com"]}`), Batch: true, BatchField: "emails"},
		{Name: "emails duplicate key", Body: []byte(`{"emails":["a@contoso.com"],"emails":["b@contoso.com"]}`), Batch: true, BatchField: "emails"},
		{Name: "window duplicate key", Body: []byte(`{"emails":["a@contoso.com"],"window":{"period":"day","period":"hour"}}`), Batch: true, BatchField: "window.period"},
		{Name: "window duplicate key in another case", Body: []byte(`{"emails":["a@contoso.com"],"window":{"period":"day","incremental":true,"INCREMENTAL":false}}`), Batch: true, BatchField: "window.INCREMENTAL"},
		{Name: "event type all with a window", Body: []byte(`{"emails":["a@contoso.com"],"eventTypes":["All"],"window":{"period":"day","incremental":true}}`), Batch: true, BatchField: "eventTypes[0]"},
	}
	return c
}
